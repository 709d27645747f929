/*
 * fuzz_nats_payload.c -- libFuzzer target for the NATS payload decoder
 * (src/lib/relay_seal.c) and the event text parser behind it.
 *
 * Input: 1 op byte, then per op. Op & 3 = 0: the rest is a payload opened by a
 * plain node; 1: by a sealed node (encrypt=yes); 2: 1 byte subject length,
 * the subject, 2 bytes of a position, then a text that is sealed, opened
 * (must give the text back), then tampered at the position (must be refused);
 * 3: as 2, opened under another subject (must be refused). Every accepted
 * text goes through evcast_event_from_plain as the node does. Invariants that
 * abort: a known reason for every refusal, text length consistent.
 */
#include <stdlib.h>
#include <string.h>
#include "relay_seal.h"

static evc__v2_keyring_t *kr;
static uint8_t out[EVC_RELAY_MAX_TEXT + EVC_RELAY_OVERHEAD], pt[EVC_RELAY_MAX_TEXT];

static void check_reject(int r)
{
	if (r == 0)
		return;
	if (r > -EVC_RELAY_R_FIRST || r <= -EVC_RELAY_R_END)
		abort(); /* only relay rejects are expected here */
}

static void parse(const uint8_t *text, size_t len)
{
	evcast_event_t *ev = NULL;
	if (evcast_event_from_plain((const char *)text, len, &ev) == 0)
		evcast_event_free(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	evc__relay_hdr_t h;
	const uint8_t *text;
	size_t tlen;
	bool sealed;
	if (!kr) {
		uint8_t master[32];
		memset(master, 0x5C, sizeof(master));
		if (evc__v2_keyring_new(&kr) || evc__v2_keyring_add_master(kr, 1, master))
			abort();
	}
	if (size < 1)
		return 0;
	int op = data[0] & 3;
	data++, size--;
	if (op < 2) {
		int r = evc__relay_open(kr, op == 1, "evcast.f.CUSTOM", data, size, &h, pt, sizeof(pt), &text, &tlen,
					&sealed);
		check_reject(r);
		if (r == 0) {
			if (tlen > size)
				abort();
			parse(text, tlen);
		}
		return 0;
	}
	if (size < 3)
		return 0;
	char subj[256];
	size_t slen = data[0];
	if (slen > size - 3)
		slen = size - 3;
	memcpy(subj, data + 1, slen);
	subj[slen] = '\0';
	slen = strlen(subj); /* an embedded NUL ends it */
	size_t pos = (size_t)data[1 + slen] << 8 | data[2 + slen];
	const uint8_t *msg = data + 3 + slen;
	size_t mlen = size - 3 - slen;
	memset(&h, 0, sizeof(h));
	h.seq = mlen;
	int n = evc__relay_seal(kr, subj, &h, msg, mlen, out, sizeof(out));
	if (n < 0 || (size_t)n != mlen + EVC_RELAY_OVERHEAD)
		abort();
	int r = evc__relay_open(kr, true, op == 3 ? "evcast.other" : subj, out, (size_t)n, &h, pt, sizeof(pt), &text,
				&tlen, &sealed);
	if (op == 3) {
		if (strcmp(subj, "evcast.other") != 0 && r != -EVC_RELAY_R_AUTH)
			abort();
		return 0;
	}
	if (r != 0 || !sealed || tlen != mlen || memcmp(text, msg, mlen) != 0 || h.seq != mlen)
		abort();
	parse(text, tlen);
	out[pos % (size_t)n] ^= 0x20;
	r = evc__relay_open(kr, true, subj, out, (size_t)n, &h, pt, sizeof(pt), &text, &tlen, &sealed);
	if (r == 0)
		abort(); /* a tampered payload opened */
	check_reject(r);
	return 0;
}
