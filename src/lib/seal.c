/*
 * seal.c -- evcast wire protocol v2: keys and AEAD (docs/PROTOCOL.md 3).
 *
 * Owns: the keyring (up to 16 keys by id, one primary; key bytes only in
 * sodium_malloc memory, wiped by sodium_free), key derivation with crypto_kdf,
 * the nonce construction, sealing and opening a datagram with
 * XChaCha20-Poly1305-IETF (the 64 header bytes as associated data), keygen.
 * Must not: keep per-sender state (replay.c), parse headers (frame.c).
 */
#include "v2.h"
#include <sodium.h>
#include <stdio.h>
#include <string.h>

typedef struct v2_key {
	uint32_t id;
	uint8_t *key; /* EVC_V2_KEY_LEN bytes of sodium_malloc memory */
} v2_key_t;

struct evc__v2_keyring {
	v2_key_t keys[EVC_V2_MAX_KEYS];
	size_t n;
	size_t primary; /* index into keys; meaningful when n > 0 */
};

static const char kdf_ctx[crypto_kdf_CONTEXTBYTES] = {'e', 'v', 'c', 'a', 's', 't', 'v', '2'};
static const char secret_prefix[] = "evcast-v2-secret";

int evc__v2_keyring_new(evc__v2_keyring_t **out)
{
	if (sodium_init() < 0)
		return EVCAST_EIO;
	evc__v2_keyring_t *kr = evc__calloc(1, sizeof(*kr));
	if (!kr)
		return EVCAST_ENOMEM;
	*out = kr;
	return 0;
}

void evc__v2_keyring_free(evc__v2_keyring_t *kr)
{
	if (!kr)
		return;
	for (size_t i = 0; i < kr->n; i++)
		sodium_free(kr->keys[i].key); /* wipes before unmapping */
	evc__free(kr);
}

static v2_key_t *find_key(const evc__v2_keyring_t *kr, uint32_t id)
{
	for (size_t i = 0; i < kr->n; i++)
		if (kr->keys[i].id == id)
			return (v2_key_t *)&kr->keys[i];
	return NULL;
}

int evc__v2_keyring_add_master(evc__v2_keyring_t *kr, uint32_t id, const uint8_t master[EVC_V2_KEY_LEN])
{
	if (id == 0 || find_key(kr, id))
		return EVCAST_EINVAL;
	if (kr->n >= EVC_V2_MAX_KEYS)
		return EVCAST_E2BIG;
	uint8_t *k = sodium_malloc(EVC_V2_KEY_LEN);
	if (!k)
		return EVCAST_ENOMEM;
	if (crypto_kdf_derive_from_key(k, EVC_V2_KEY_LEN, id, kdf_ctx, master) != 0) {
		sodium_free(k);
		return EVCAST_EINVAL;
	}
	kr->keys[kr->n].id = id;
	kr->keys[kr->n].key = k;
	if (kr->n == 0)
		kr->primary = 0;
	kr->n++;
	return 0;
}

static int fail(char *err, size_t errlen, int code, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
	return code;
}

int evc__v2_keyring_add(evc__v2_keyring_t *kr, const char *spec, char *err, size_t errlen)
{
	const char *colon = spec ? strchr(spec, ':') : NULL;
	if (!colon || colon == spec || colon - spec > 10)
		return fail(err, errlen, EVCAST_EINVAL, "key must be ID:SECRET with a decimal id 1..4294967295");
	uint64_t id = 0;
	for (const char *p = spec; p < colon; p++) {
		if (*p < '0' || *p > '9')
			return fail(err, errlen, EVCAST_EINVAL, "key id is not a decimal number");
		id = id * 10 + (uint64_t)(*p - '0');
	}
	if (id == 0 || id > UINT32_MAX)
		return fail(err, errlen, EVCAST_EINVAL, "key id must be 1..4294967295");
	if (find_key(kr, (uint32_t)id))
		return fail(err, errlen, EVCAST_EINVAL, "duplicate key id");
	if (kr->n >= EVC_V2_MAX_KEYS)
		return fail(err, errlen, EVCAST_E2BIG, "more than 16 keys");
	const char *secret = colon + 1;
	size_t slen = strlen(secret);
	uint8_t *master = sodium_malloc(EVC_V2_KEY_LEN);
	if (!master)
		return fail(err, errlen, EVCAST_ENOMEM, "out of memory");
	size_t bin_len = 0;
	int rc;
	if (slen == 44 && sodium_base642bin(master, EVC_V2_KEY_LEN, secret, slen, NULL, &bin_len, NULL,
					    sodium_base64_VARIANT_ORIGINAL) == 0 &&
	    bin_len == EVC_V2_KEY_LEN) {
		rc = 0; /* keygen form: the master key itself */
	} else if (slen >= 16) {
		crypto_generichash_state st;
		crypto_generichash_init(&st, NULL, 0, EVC_V2_KEY_LEN);
		crypto_generichash_update(&st, (const uint8_t *)secret_prefix, sizeof(secret_prefix) - 1);
		crypto_generichash_update(&st, (const uint8_t *)secret, slen);
		crypto_generichash_final(&st, master, EVC_V2_KEY_LEN);
		sodium_memzero(&st, sizeof(st));
		rc = 0;
	} else {
		rc = fail(err, errlen, EVCAST_EINVAL, "secret must be base64 of 32 bytes (evcast keygen) or >= 16 characters");
	}
	if (rc == 0) {
		rc = evc__v2_keyring_add_master(kr, (uint32_t)id, master);
		if (rc < 0)
			fail(err, errlen, rc, evcast_strerror(rc));
	}
	sodium_free(master);
	return rc;
}

int evc__v2_keyring_set_primary(evc__v2_keyring_t *kr, uint32_t id)
{
	v2_key_t *k = find_key(kr, id);
	if (!k)
		return EVCAST_ENOENT;
	kr->primary = (size_t)(k - kr->keys);
	return 0;
}

int evc__v2_keyring_remove(evc__v2_keyring_t *kr, uint32_t id)
{
	v2_key_t *k = find_key(kr, id);
	if (!k)
		return EVCAST_ENOENT;
	size_t i = (size_t)(k - kr->keys);
	uint32_t primary_id = kr->keys[kr->primary].id;
	sodium_free(k->key);
	memmove(&kr->keys[i], &kr->keys[i + 1], (kr->n - i - 1) * sizeof(kr->keys[0]));
	kr->n--;
	kr->primary = 0;
	if (primary_id != id)
		for (size_t j = 0; j < kr->n; j++)
			if (kr->keys[j].id == primary_id)
				kr->primary = j;
	return 0;
}

uint32_t evc__v2_keyring_primary(const evc__v2_keyring_t *kr)
{
	return kr && kr->n ? kr->keys[kr->primary].id : 0;
}

size_t evc__v2_keyring_count(const evc__v2_keyring_t *kr) { return kr ? kr->n : 0; }

/* ---------------------------------------------------------------- AEAD */

void evc__v2_nonce(const evc__v2_hdr_t *h, uint8_t nonce[24])
{
	memcpy(nonce, h->node_id, 8);
	for (int i = 0; i < 8; i++) {
		nonce[8 + i] = (uint8_t)(h->epoch >> (56 - 8 * i));
		nonce[16 + i] = (uint8_t)(h->seq >> (56 - 8 * i));
	}
}

int evc__v2_seal(const evc__v2_keyring_t *kr, evc__v2_hdr_t *h, const uint8_t *pt, size_t ptlen, uint8_t *out,
		 size_t cap)
{
	return evc__v2_seal_flags(kr, h, 0, pt, ptlen, out, cap);
}

int evc__v2_seal_flags(const evc__v2_keyring_t *kr, evc__v2_hdr_t *h, uint8_t flags, const uint8_t *pt,
		       size_t ptlen, uint8_t *out, size_t cap)
{
	bool sealed = kr && kr->n > 0;
	size_t total = EVC_V2_HDR_LEN + ptlen + (sealed ? EVC_V2_TAG_LEN : 0);
	if (total > cap || total > EVC_V2_MAX_DGRAM)
		return EVCAST_E2BIG;
	h->flags = (uint8_t)((flags & EVC_V2_F_ZSTD) | (sealed ? EVC_V2_F_SEALED : 0));
	h->key_id = sealed ? kr->keys[kr->primary].id : 0;
	h->payload_len = (uint32_t)(total - EVC_V2_HDR_LEN);
	evc__v2_hdr_encode(h, out);
	if (!sealed) {
		memcpy(out + EVC_V2_HDR_LEN, pt, ptlen);
		return (int)total;
	}
	uint8_t nonce[24];
	unsigned long long clen = 0;
	evc__v2_nonce(h, nonce);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + EVC_V2_HDR_LEN, &clen, pt, ptlen, out, EVC_V2_HDR_LEN, NULL,
						   nonce, kr->keys[kr->primary].key);
	return (int)total;
}

int evc__v2_open(const evc__v2_keyring_t *kr, bool accept_plain, const evc__v2_hdr_t *h, const uint8_t *buf,
		 size_t len, uint8_t *pt, size_t cap, size_t *ptlen)
{
	bool have_keys = kr && kr->n > 0;
	if (len != EVC_V2_HDR_LEN + (size_t)h->payload_len)
		return -EVC_V2_R_LENGTH;
	if (!(h->flags & EVC_V2_F_SEALED)) {
		if (have_keys && !accept_plain)
			return -EVC_V2_R_PLAIN;
		if (cap < h->payload_len)
			return EVCAST_E2BIG;
		memcpy(pt, buf + EVC_V2_HDR_LEN, h->payload_len);
		*ptlen = h->payload_len;
		return 0;
	}
	if (!have_keys)
		return -EVC_V2_R_NOKEY;
	const v2_key_t *k = find_key(kr, h->key_id);
	if (!k)
		return -EVC_V2_R_NOKEY;
	if (h->payload_len < EVC_V2_TAG_LEN)
		return -EVC_V2_R_LENGTH;
	if (cap < h->payload_len - EVC_V2_TAG_LEN)
		return EVCAST_E2BIG;
	uint8_t nonce[24];
	unsigned long long mlen = 0;
	evc__v2_nonce(h, nonce);
	/* the header bytes as received are the associated data: h was decoded from them */
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &mlen, NULL, buf + EVC_V2_HDR_LEN, h->payload_len, buf,
						       EVC_V2_HDR_LEN, nonce, k->key) != 0)
		return -EVC_V2_R_AUTH;
	*ptlen = (size_t)mlen;
	return 0;
}

int evc__v2_keygen(uint32_t id, char *out, size_t cap)
{
	if (id == 0)
		return EVCAST_EINVAL;
	if (sodium_init() < 0)
		return EVCAST_EIO;
	char b64[sodium_base64_ENCODED_LEN(EVC_V2_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)];
	uint8_t *raw = sodium_malloc(EVC_V2_KEY_LEN);
	if (!raw)
		return EVCAST_ENOMEM;
	randombytes_buf(raw, EVC_V2_KEY_LEN);
	sodium_bin2base64(b64, sizeof(b64), raw, EVC_V2_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
	sodium_free(raw);
	int n = snprintf(out, cap, "%u:%s", (unsigned)id, b64);
	sodium_memzero(b64, sizeof(b64));
	if (n < 0 || (size_t)n >= cap) {
		if (cap)
			sodium_memzero(out, cap);
		return EVCAST_E2BIG;
	}
	return n;
}

int evcast_v2_keygen(uint32_t key_id, char *out, size_t cap) { return evc__v2_keygen(key_id, out, cap); }

/* ------------------------------------------------ AEAD for other framings */
/* Additive (relay_seal.c, the NATS payload): the keyring's AEAD with a
 * caller-built nonce and associated data; no v2 header involved. */

int evc__v2_aead_seal(const evc__v2_keyring_t *kr, const uint8_t *ad, size_t adlen, const uint8_t nonce[24],
		      const uint8_t *pt, size_t ptlen, uint8_t *out)
{
	unsigned long long clen = 0;
	if (!kr || kr->n == 0)
		return -EVC_V2_R_NOKEY;
	crypto_aead_xchacha20poly1305_ietf_encrypt(out, &clen, pt, ptlen, ad, adlen, NULL, nonce,
						   kr->keys[kr->primary].key);
	return 0;
}

int evc__v2_aead_open(const evc__v2_keyring_t *kr, uint32_t key_id, const uint8_t *ad, size_t adlen,
		      const uint8_t nonce[24], const uint8_t *ct, size_t ctlen, uint8_t *pt)
{
	const v2_key_t *k = kr ? find_key(kr, key_id) : NULL;
	unsigned long long mlen = 0;
	if (!k)
		return -EVC_V2_R_NOKEY;
	if (ctlen < EVC_V2_TAG_LEN)
		return -EVC_V2_R_LENGTH;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &mlen, NULL, ct, ctlen, ad, adlen, nonce, k->key) != 0)
		return -EVC_V2_R_AUTH;
	return 0;
}
