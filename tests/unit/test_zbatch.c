/*
 * test_zbatch.c -- zstd-compressed v2 batches (src/lib/zbatch.c and its use in
 * v2proto.c; docs/PROTOCOL.md 6.1): deflate/inflate round trip, the 1/8 gain
 * rule, rejects (not zstd, two frames, no content size, too large, trailing
 * bytes, fragmented or control datagrams with the flag), and two endpoints
 * end to end: a sealed, compressed stream of 5000 events delivered whole and in
 * order, datagrams smaller than the batch, a compressed datagram accepted by a
 * receiver that does not compress itself, tampering still rejected `auth`;
 * with payload-size 1400, batches larger than a datagram's plaintext that
 * still fit one datagram compressed, and incompressible stretches delivered
 * through the uncompressed (fragmented) fallback.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "v2.h"

static size_t make_batch(uint8_t *buf, size_t cap, int nev, int first)
{
	evc__v2_batch_t b;
	char text[1100];
	evc__v2_batch_init(&b, buf, cap);
	for (int i = 0; i < nev; i++) {
		int n = snprintf(text, sizeof(text),
				 "Event-Name: CUSTOM\nEvent-Subclass: test%%3A%%3Az\nSeq: %d\nCore-UUID: "
				 "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9\nContent-Length: 40\n\nbody of event %08d ............\n",
				 first + i, first + i);
		assert_int_equal(evc__v2_batch_add(&b, text, (size_t)n), 0);
	}
	return b.len;
}

static evc__v2_hdr_t data_hdr(void)
{
	evc__v2_hdr_t h;
	memset(&h, 0, sizeof(h));
	h.type = EVC_V2_DATA;
	h.flags = EVC_V2_F_ZSTD;
	h.frag_count = 1;
	return h;
}

static void test_roundtrip(void **state)
{
	(void)state;
	static uint8_t batch[EVC_V2_ZMAX];
	evc__zbatch_t *tx = NULL, *rx = NULL;
	assert_int_equal(evc__zbatch_new(-1, &tx), 0);
	assert_int_equal(evc__zbatch_new(0, &rx), 0);
	size_t len = make_batch(batch, sizeof(batch), 40, 1);
	const uint8_t *z = NULL, *out = NULL;
	size_t zl = evc__zbatch_deflate(tx, batch, len, &z);
	assert_true(zl > 0 && zl <= len - len / 8);
	evc__v2_hdr_t h = data_hdr();
	size_t ol = 0;
	assert_int_equal(evc__zbatch_inflate(rx, &h, z, zl, &out, &ol), 0);
	assert_int_equal(ol, len);
	assert_memory_equal(out, batch, len);
	assert_int_equal(evc__v2_batch_check(out, ol), 40); /* the 40 records */
	/* below EVC_V2_ZMIN: never compressed */
	size_t small = make_batch(batch, sizeof(batch), 1, 1);
	assert_true(small < EVC_V2_ZMIN);
	assert_int_equal(evc__zbatch_deflate(tx, batch, small, &z), 0);
	/* random bytes do not shrink by 1/8: sent as they are */
	for (size_t i = 0; i < 8192; i++)
		batch[i] = (uint8_t)(rand() >> 7);
	assert_int_equal(evc__zbatch_deflate(tx, batch, 8192, &z), 0);
	/* levels outside the range are refused */
	evc__zbatch_t *bad = NULL;
	assert_int_equal(evc__zbatch_new(EVC_V2_ZLEVEL_MAX + 1, &bad), EVCAST_EINVAL);
	assert_int_equal(evc__zbatch_new(EVC_V2_ZLEVEL_MIN - 1, &bad), EVCAST_EINVAL);
	evc__zbatch_free(tx);
	evc__zbatch_free(rx);
}

static void test_rejects(void **state)
{
	(void)state;
	static uint8_t batch[EVC_V2_ZMAX], big[EVC_V2_ZMAX + 4096], z[2 * EVC_V2_ZMAX];
	evc__zbatch_t *rx = NULL;
	assert_int_equal(evc__zbatch_new(0, &rx), 0);
	const uint8_t *out;
	size_t ol;
	size_t len = make_batch(batch, sizeof(batch), 30, 1);
	size_t zl = ZSTD_compress(z, sizeof(z), batch, len, 1);
	assert_false(ZSTD_isError(zl));
	evc__v2_hdr_t h = data_hdr();
	assert_int_equal(evc__zbatch_inflate(rx, &h, z, zl, &out, &ol), 0);
	/* the flag on a fragment or a control datagram */
	h.frag_count = 2;
	assert_int_equal(evc__zbatch_inflate(rx, &h, z, zl, &out, &ol), -EVC_V2_R_FLAGS);
	h = data_hdr();
	h.type = EVC_V2_ANNOUNCE;
	assert_int_equal(evc__zbatch_inflate(rx, &h, z, zl, &out, &ol), -EVC_V2_R_FLAGS);
	h = data_hdr();
	/* not zstd; truncated; trailing bytes; two frames */
	assert_int_equal(evc__zbatch_inflate(rx, &h, batch, len, &out, &ol), -EVC_V2_R_BATCH);
	assert_int_equal(evc__zbatch_inflate(rx, &h, z, zl - 3, &out, &ol), -EVC_V2_R_BATCH);
	z[zl] = 0;
	assert_int_equal(evc__zbatch_inflate(rx, &h, z, zl + 1, &out, &ol), -EVC_V2_R_BATCH);
	memcpy(z + zl, z, zl);
	assert_int_equal(evc__zbatch_inflate(rx, &h, z, 2 * zl, &out, &ol), -EVC_V2_R_BATCH);
	assert_int_equal(evc__zbatch_inflate(rx, &h, z, 0, &out, &ol), -EVC_V2_R_BATCH);
	/* content larger than the bound: refused before decompressing */
	memset(big, 'x', sizeof(big));
	size_t bl = ZSTD_compress(z, sizeof(z), big, sizeof(big), 1);
	assert_false(ZSTD_isError(bl));
	assert_true(bl < 2000);
	assert_int_equal(evc__zbatch_inflate(rx, &h, z, bl, &out, &ol), -EVC_V2_R_BATCH);
	/* no declared content size (streaming frame): refused */
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_outBuffer ob = {z, sizeof(z), 0};
	ZSTD_inBuffer ib = {batch, len, 0};
	ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
	assert_int_equal(ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_end), 0);
	ZSTD_freeCCtx(c);
	assert_int_equal(evc__zbatch_inflate(rx, &h, z, ob.pos, &out, &ol), -EVC_V2_R_BATCH);
	/* a frame that declares a small content size but asks for a huge window
	 * (magic, FHD 0x40: 2-byte FCS, not single-segment; Window_Descriptor
	 * 2^25 = 32 MiB; FCS = 300 - 256; one last raw block of 300 bytes) is
	 * harmless: one-pass decompression writes into the bounded scratch buffer
	 * and allocates no window (ZSTD_d_windowLogMax only matters to streaming). */
	static uint8_t f[4 + 1 + 1 + 2 + 3 + 300];
	const uint8_t head[] = {0x28, 0xb5, 0x2f, 0xfd, 0x40, (25 - 10) << 3, 44, 0, 0x61, 0x09, 0x00};
	memcpy(f, head, sizeof(head));
	memset(f + sizeof(head), 'r', 300);
	assert_int_equal(evc__zbatch_inflate(rx, &h, f, sizeof(f), &out, &ol), 0);
	assert_int_equal(ol, 300);
	assert_int_equal(out[299], 'r');
	/* the same frame declaring more than the bound: refused before decompressing */
	f[6] = 0xff;
	f[7] = 0xff; /* 65535 + 256 */
	assert_int_equal(evc__zbatch_inflate(rx, &h, f, sizeof(f), &out, &ol), -EVC_V2_R_BATCH);
	evc__zbatch_free(rx);
}

/* ------------------------------------------------------- two endpoints */

#define MAXQ 4096
static uint8_t *q[MAXQ];
static size_t qlen[MAXQ], nq;
static int ndelivered, nexpected_next;
static size_t max_dgram;
static bool plain_ok; /* the endpoints run unsealed */

static void cb_send(void *ud, const uint8_t *buf, size_t len)
{
	(void)ud;
	assert_true(nq < MAXQ);
	q[nq] = malloc(len);
	memcpy(q[nq], buf, len);
	qlen[nq++] = len;
	if (len > max_dgram)
		max_dgram = len;
}

static void cb_deliver(void *ud, const uint8_t node_id[EVC_V2_NODE_ID_LEN], uint64_t epoch, bool authenticated,
		       const uint8_t *text, size_t len)
{
	(void)ud, (void)node_id, (void)epoch;
	assert_true(authenticated || plain_ok);
	char want[32];
	int n = snprintf(want, sizeof(want), "\nSeq: %d\n", nexpected_next);
	assert_non_null(memmem(text, len, want, (size_t)n));
	nexpected_next++;
	ndelivered++;
}

static evc__v2_ep_t *make_ep(const evc__v2_keyring_t *kr, uint8_t id, bool compress, size_t payload)
{
	evc__v2_ep_cfg_t c;
	evc__v2_ep_cfg_default(&c);
	memset(c.node_id, id, sizeof(c.node_id));
	c.epoch = 1000000;
	c.payload_size = payload;
	c.compress = compress;
	evc__v2_ep_cbs_t cbs = {cb_send, NULL, cb_deliver, NULL, NULL};
	evc__v2_ep_t *ep = NULL;
	assert_int_equal(evc__v2_ep_new(&c, kr, &cbs, &ep), 0);
	return ep;
}

static void drain(evc__v2_ep_t *rx, uint64_t now)
{
	for (size_t i = 0; i < nq; i++) {
		assert_int_equal(evc__v2_ep_recv(rx, q[i], qlen[i], NULL, now), 0);
		free(q[i]);
	}
	nq = 0;
}

static void test_endpoints(void **state)
{
	(void)state;
	evc__v2_keyring_t *kr = NULL;
	char err[128];
	assert_int_equal(evc__v2_keyring_new(&kr), 0);
	assert_int_equal(evc__v2_keyring_add(kr, "7:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", err, sizeof(err)), 0);
	evc__v2_ep_t *tx = make_ep(kr, 1, true, 32768), *rx = make_ep(kr, 2, false, 1400);
	static uint8_t text[EVC_V2_ZMAX];
	uint64_t now = 2000000;
	int seq = 0;
	for (int round = 0; round < 100; round++) {
		for (int i = 0; i < 50; i++, seq++) {
			size_t l = make_batch(text, sizeof(text), 1, seq);
			/* the record's text without its 4-byte length prefix */
			assert_int_equal(evc__v2_ep_send(tx, (const char *)text + 4, l - 4, now), 0);
		}
		evc__v2_ep_flush(tx, now);
		drain(rx, now);
		now += 2000;
	}
	assert_int_equal(ndelivered, 5000);
	evc__v2_ep_stats_t st;
	evc__v2_ep_stats(tx, &st);
	assert_true(st.tx_zbatches > 0);
	assert_true(max_dgram < 4096); /* 50 events of ~190 bytes in well under 4 KiB */
	evc__v2_ep_stats(rx, &st);
	assert_int_equal(st.rx_events, 5000);
	/* a tampered compressed datagram is still rejected by the AEAD */
	size_t l = make_batch(text, sizeof(text), 1, seq);
	for (int i = 0; i < 50; i++)
		evc__v2_ep_send(tx, (const char *)text + 4, l - 4, now);
	evc__v2_ep_flush(tx, now);
	assert_int_equal(nq, 1);
	q[0][qlen[0] - 20] ^= 1;
	assert_int_equal(evc__v2_ep_recv(rx, q[0], qlen[0], NULL, now), -EVC_V2_R_AUTH);
	free(q[0]);
	nq = 0;
	evc__v2_ep_free(tx);
	evc__v2_ep_free(rx);
	evc__v2_keyring_free(kr);
}

/* payload-size 1400: compressible batches grow past a datagram's worth of
 * plaintext and still leave in datagrams <= 1400 bytes; incompressible events
 * mixed in (over-large batches then go fragmented) all arrive, in order. */
static void test_small_payload(void **state)
{
	(void)state;
	evc__v2_ep_t *tx = make_ep(NULL, 3, true, 1400), *rx = make_ep(NULL, 4, false, 1400);
	static char text[2048];
	uint64_t now = 3000000;
	int seq = 0;
	unsigned r = 12345;
	ndelivered = 0;
	nexpected_next = 0;
	max_dgram = 0;
	nq = 0;
	plain_ok = true;
	uint64_t zb_before_end = 0;
	evc__v2_ep_stats_t st;
	for (int round = 0; round < 400; round++) {
		bool noisy = round >= 100 && round < 150; /* incompressible bodies for a while */
		if (round == 150) {
			evc__v2_ep_stats(tx, &st);
			zb_before_end = st.tx_zbatches;
		}
		for (int i = 0; i < 60; i++, seq++) {
			int n = snprintf(text, sizeof(text), "Event-Name: CUSTOM\nSeq: %d\nContent-Length: 600\n\n", seq);
			for (int k = 0; k < 600; k++) {
				r = r * 1103515245u + 12345u;
				text[n++] = noisy ? (char)('a' + (r >> 16) % 26) : 'q';
			}
			assert_int_equal(evc__v2_ep_send(tx, text, (size_t)n, now), 0);
		}
		evc__v2_ep_flush(tx, now);
		drain(rx, now);
		now += 2000;
	}
	assert_int_equal(ndelivered, 24000);
	evc__v2_ep_stats(tx, &st);
	/* compressible again after the noisy stretch: compression resumes */
	assert_true(st.tx_zbatches > zb_before_end + 100);
	assert_true(max_dgram <= 1400);
	assert_true(st.tx_zbatches > 0);
	assert_true(st.tx_zbytes_in / st.tx_zbatches > 4 * 1320); /* batches beyond one datagram's plaintext */
	assert_true(st.tx_datagrams < 24000 / 4);
	evc__v2_ep_free(tx);
	evc__v2_ep_free(rx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_small_payload),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
