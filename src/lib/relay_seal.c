/*
 * relay_seal.c -- the NATS payload codec (relay_seal.h, docs/PROTOCOL.md
 * section 13): "EVN1" + text, or "EVS1" + 68 more header bytes + the text
 * sealed with the keyring's primary key (XChaCha20-Poly1305-IETF, random
 * 192-bit nonce; associated data = the 72 header bytes + the subject, so a
 * payload moved to another subject, or any changed header byte, fails).
 * Pure: no clock, no state, no I/O; seal.c holds the keys.
 */
#include "relay_seal.h"
#include <sodium.h>
#include <string.h>

static const char *const reason_names[EVC_RELAY_R_COUNT] = {
	"truncated", "bad_magic", "nats_plain_while_encrypt", "nats_sealed_while_plain", "unknown_key_id",
	"bad_tag",   "replayed",  "skew",                     "subject_too_long",
};

const char *evc__relay_reason_name(int code)
{
	int r = code < 0 ? -code : code;
	if (r >= EVC_RELAY_R_FIRST && r < EVC_RELAY_R_END)
		return reason_names[r - EVC_RELAY_R_FIRST];
	return evcast_strerror(code);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

static void hdr_encode(const evc__relay_hdr_t *h, uint8_t *out)
{
	memcpy(out, EVC_RELAY_SEALED_MAGIC, 4);
	put32(out + 4, h->key_id);
	memcpy(out + 8, h->node_id, EVC_V2_NODE_ID_LEN);
	put64(out + 24, h->epoch);
	put64(out + 32, h->seq);
	put64(out + 40, h->ts_us);
	memcpy(out + 48, h->nonce, 24);
}

static void hdr_decode(const uint8_t *in, evc__relay_hdr_t *h)
{
	h->key_id = get32(in + 4);
	memcpy(h->node_id, in + 8, EVC_V2_NODE_ID_LEN);
	h->epoch = get64(in + 24);
	h->seq = get64(in + 32);
	h->ts_us = get64(in + 40);
	memcpy(h->nonce, in + 48, 24);
}

/* The associated data: header bytes then subject, in ad (bounded). */
static size_t build_ad(const uint8_t *hdr, const char *subject, size_t slen,
		       uint8_t ad[EVC_RELAY_HDR_LEN + EVC_RELAY_MAX_SUBJECT])
{
	memcpy(ad, hdr, EVC_RELAY_HDR_LEN);
	memcpy(ad + EVC_RELAY_HDR_LEN, subject, slen);
	return EVC_RELAY_HDR_LEN + slen;
}

int evc__relay_seal(const evc__v2_keyring_t *kr, const char *subject, evc__relay_hdr_t *h, const uint8_t *pt,
		    size_t ptlen, uint8_t *out, size_t cap)
{
	uint8_t ad[EVC_RELAY_HDR_LEN + EVC_RELAY_MAX_SUBJECT];
	size_t slen = subject ? strlen(subject) : 0;
	if (!subject || slen > EVC_RELAY_MAX_SUBJECT)
		return -EVC_RELAY_R_SUBJECT;
	if (ptlen > EVC_RELAY_MAX_TEXT || cap < ptlen + EVC_RELAY_OVERHEAD)
		return EVCAST_E2BIG;
	if ((h->key_id = evc__v2_keyring_primary(kr)) == 0)
		return -EVC_RELAY_R_NOKEY;
	randombytes_buf(h->nonce, sizeof(h->nonce));
	hdr_encode(h, out);
	size_t adlen = build_ad(out, subject, slen, ad);
	if (evc__v2_aead_seal(kr, ad, adlen, h->nonce, pt, ptlen, out + EVC_RELAY_HDR_LEN) != 0)
		return -EVC_RELAY_R_NOKEY;
	return (int)(ptlen + EVC_RELAY_OVERHEAD);
}

int evc__relay_open(const evc__v2_keyring_t *kr, bool encrypt, const char *subject, const uint8_t *buf, size_t len,
		    evc__relay_hdr_t *h, uint8_t *pt, size_t cap, const uint8_t **text, size_t *tlen, bool *sealed)
{
	uint8_t ad[EVC_RELAY_HDR_LEN + EVC_RELAY_MAX_SUBJECT];
	size_t slen = subject ? strlen(subject) : 0;
	*sealed = false;
	if (!buf || len < 4)
		return -EVC_RELAY_R_TRUNCATED;
	if (memcmp(buf, EVC_RELAY_PLAIN_MAGIC, 4) == 0) {
		if (encrypt)
			return -EVC_RELAY_R_PLAIN;
		if (len - 4 > EVC_RELAY_MAX_TEXT)
			return -EVC_RELAY_R_TRUNCATED;
		*text = buf + 4;
		*tlen = len - 4;
		return 0;
	}
	if (memcmp(buf, EVC_RELAY_SEALED_MAGIC, 4) != 0)
		return -EVC_RELAY_R_MAGIC;
	if (!encrypt)
		return -EVC_RELAY_R_SEALED;
	if (len < EVC_RELAY_OVERHEAD || len - EVC_RELAY_OVERHEAD > EVC_RELAY_MAX_TEXT)
		return -EVC_RELAY_R_TRUNCATED;
	if (!subject || slen > EVC_RELAY_MAX_SUBJECT)
		return -EVC_RELAY_R_SUBJECT;
	if (cap < len - EVC_RELAY_OVERHEAD)
		return EVCAST_E2BIG;
	hdr_decode(buf, h);
	size_t adlen = build_ad(buf, subject, slen, ad);
	int r = evc__v2_aead_open(kr, h->key_id, ad, adlen, h->nonce, buf + EVC_RELAY_HDR_LEN,
				  len - EVC_RELAY_HDR_LEN, pt);
	if (r == -EVC_V2_R_NOKEY)
		return -EVC_RELAY_R_NOKEY;
	if (r != 0)
		return -EVC_RELAY_R_AUTH;
	*text = pt;
	*tlen = len - EVC_RELAY_OVERHEAD;
	*sealed = true;
	return 0;
}
