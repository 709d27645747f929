/*
 * fuzz_frame.c -- libFuzzer target for the v2 receive path up to dispatch:
 * header decode, replay check, open with a fixed key (and in plaintext mode),
 * then by type: batch check + iteration, ANNOUNCE, NAK or STATUS decode.
 *
 * Each input is used twice: as a datagram as received, and as the plaintext
 * of a datagram sealed around it with the fixed key (so the fuzzer reaches the
 * batch parser behind the AEAD). Properties that abort: a sealed datagram must
 * open to exactly its plaintext, and must be rejected once any byte is flipped;
 * a decoded header re-encodes to the same 64 bytes; every error is a known
 * reason; batch iteration agrees with batch check.
 */
#include <stdlib.h>
#include <string.h>
#include "v2.h"

static evc__v2_keyring_t *kr, *empty;
static uint8_t pt[EVC_V2_MAX_DGRAM], dg[EVC_V2_MAX_DGRAM + 64];

static void known(int rc)
{
	if (rc == 0)
		return;
	if (-rc >= EVC_V2_R_FIRST && -rc < EVC_V2_R_END)
		return;
	abort();
}

static void dispatch(const evc__v2_hdr_t *h, const uint8_t *p, size_t n)
{
	if (h->type == EVC_V2_DATA) {
		if (h->frag_count != 1)
			return; /* fragments go to the reassembler (fuzz_reasm) */
		int count = evc__v2_batch_check(p, n);
		known(count < 0 ? count : 0);
		if (count <= 0)
			return;
		size_t pos = 0, rl, total = 0;
		const uint8_t *rec;
		int seen = 0;
		while (evc__v2_batch_next(p, n, &pos, &rec, &rl) == 1) {
			if (rec < p || rec + rl > p + n || rl == 0)
				abort();
			total += rl + 4;
			seen++;
		}
		if (seen != count || total != n)
			abort();
	} else if (h->type == EVC_V2_ANNOUNCE) {
		evc__v2_announce_t a;
		known(evc__v2_announce_decode(p, n, &a));
	} else if (h->type == EVC_V2_STATUS) {
		evc__v2_status_t st;
		int rc = evc__v2_status_decode(p, n, &st);
		known(rc);
		if (rc == 0) { /* a valid STATUS re-encodes to the same bytes, within bounds */
			uint8_t again[EVC_V2_STATUS_LEN];
			evc__v2_status_encode(&st, again);
			if (n != EVC_V2_STATUS_LEN || memcmp(again, p, n) || st.window > EVC_V2_FC_MAX_WINDOW ||
			    (st.delivered & EVC_V2_CTL_BIT) || st.target_epoch == 0)
				abort();
		}
	} else {
		evc__v2_nak_t nak;
		int rc = evc__v2_nak_decode(p, n, &nak);
		known(rc);
		if (rc == 0) {
			uint8_t again[EVC_V2_NAK_LEN(EVC_V2_NAK_MAX_RANGES)];
			int m = evc__v2_nak_encode(&nak, again, sizeof(again));
			if (m != (int)n || memcmp(again, p, n))
				abort();
		}
	}
}

static void receive(const uint8_t *buf, size_t len, const evc__v2_keyring_t *keys, bool accept_plain)
{
	evc__v2_hdr_t h;
	int rc = evc__v2_hdr_decode(buf, len, &h);
	known(rc);
	if (rc < 0)
		return;
	uint8_t enc[EVC_V2_HDR_LEN];
	evc__v2_hdr_encode(&h, enc);
	if (memcmp(enc, buf, EVC_V2_HDR_LEN))
		abort();
	evc__v2_replay_t r;
	if (evc__v2_replay_init(&r, 4, 10000000) < 0)
		abort();
	rc = evc__v2_replay_check(&r, &h, h.ts_us);
	known(rc);
	size_t n = 0;
	rc = evc__v2_open(keys, accept_plain, &h, buf, len, pt, sizeof(pt), &n);
	known(rc);
	if (rc == 0) {
		if (n != evc__v2_plain_len(&h))
			abort();
		if (evc__v2_replay_commit(&r, &h, h.ts_us, NULL) != 0)
			abort();
		if (evc__v2_replay_check(&r, &h, h.ts_us) != -EVC_V2_R_DUPLICATE &&
		    evc__v2_replay_check(&r, &h, h.ts_us) != -EVC_V2_R_REPLAY)
			abort(); /* the same datagram twice is always refused */
		dispatch(&h, pt, n);
	}
	evc__v2_replay_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!kr) {
		uint8_t master[32];
		memset(master, 0x5C, sizeof(master));
		if (evc__v2_keyring_new(&kr) || evc__v2_keyring_add_master(kr, 1, master) ||
		    evc__v2_keyring_new(&empty))
			abort();
	}
	/* 1. the input as a received datagram */
	receive(data, size, kr, false);
	receive(data, size, empty, false);
	receive(data, size, kr, true);

	/* 2. the input as plaintext of a sealed single-fragment DATA datagram */
	if (size == 0 || size > EVC_V2_MAX_DGRAM - EVC_V2_HDR_LEN - EVC_V2_TAG_LEN)
		return 0;
	evc__v2_hdr_t h;
	memset(&h, 0, sizeof(h));
	h.type = EVC_V2_DATA;
	memset(h.node_id, 0xAB, sizeof(h.node_id));
	h.epoch = 1700000000000000ull;
	h.seq = 1 + (size & 0xFFF);
	h.ts_us = h.epoch + 1;
	h.frag_count = 1;
	h.msg_len = (uint32_t)size;
	int len = evc__v2_seal(kr, &h, data, size, dg, sizeof(dg));
	if (len != (int)(size + EVC_V2_HDR_LEN + EVC_V2_TAG_LEN))
		abort();
	evc__v2_hdr_t d;
	size_t n = 0;
	if (evc__v2_hdr_decode(dg, (size_t)len, &d) != 0 ||
	    evc__v2_open(kr, false, &d, dg, (size_t)len, pt, sizeof(pt), &n) != 0 || n != size || memcmp(pt, data, size))
		abort();
	dispatch(&d, pt, n);
	/* one flipped byte, chosen by the input, is always rejected */
	size_t at = (data[0] * 257u + size) % (size_t)len;
	dg[at] ^= 0x01;
	if (evc__v2_hdr_decode(dg, (size_t)len, &d) == 0 && evc__v2_open(kr, false, &d, dg, (size_t)len, pt, sizeof(pt), &n) == 0)
		abort();
	return 0;
}
