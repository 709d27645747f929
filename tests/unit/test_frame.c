/*
 * test_frame.c -- v2 header, fragment arithmetic, batch, ANNOUNCE and NAK
 * payloads (src/lib/frame.c). Every reject reason of the header decoder is
 * provoked by flipping one field of a valid datagram; no legacy datagram (the
 * vectors) is ever taken for v2.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <stdio.h>
#include <dirent.h>
#include "v2.h"

static void base_hdr(evc__v2_hdr_t *h, uint32_t plain)
{
	memset(h, 0, sizeof(*h));
	h->type = EVC_V2_DATA;
	for (int i = 0; i < 16; i++)
		h->node_id[i] = (uint8_t)(i + 1);
	h->epoch = 1700000000000000ull;
	h->seq = 7;
	h->ts_us = h->epoch + 5;
	h->frag_count = 1;
	h->msg_len = plain;
	h->payload_len = plain;
}

static size_t make(uint8_t *buf, evc__v2_hdr_t *h, uint32_t plain)
{
	evc__v2_hdr_encode(h, buf);
	memset(buf + EVC_V2_HDR_LEN, 'x', plain);
	return EVC_V2_HDR_LEN + plain;
}

static void test_round_trip(void **state)
{
	(void)state;
	uint8_t buf[256];
	evc__v2_hdr_t h, d;
	base_hdr(&h, 20);
	h.flags = EVC_V2_F_SEALED;
	h.key_id = 0xA1B2C3D4;
	h.payload_len = 20 + EVC_V2_TAG_LEN;
	h.seq = 0x0102030405060708ull;
	size_t len = make(buf, &h, 36);
	assert_int_equal(evc__v2_hdr_decode(buf, len, &d), 0);
	assert_memory_equal(buf, "\xEC\xA5v2\x02\x01\x01\x00\xA1\xB2\xC3\xD4", 12);
	assert_int_equal(d.key_id, 0xA1B2C3D4);
	assert_memory_equal(d.node_id, h.node_id, 16);
	assert_true(d.epoch == h.epoch && d.seq == h.seq && d.ts_us == h.ts_us);
	assert_int_equal(d.msg_len, 20);
	assert_int_equal(evc__v2_plain_len(&d), 20);
	/* byte layout: seq at 36, BE */
	assert_int_equal(buf[36], 0x01);
	assert_int_equal(buf[43], 0x08);
	assert_int_equal(buf[63], 36);
}

static void expect_reject(uint8_t *buf, size_t len, int reason)
{
	evc__v2_hdr_t d;
	int rc = evc__v2_hdr_decode(buf, len, &d);
	if (rc != -reason)
		fail_msg("expected %s got %s", evc__v2_reason_name(reason), evc__v2_reason_name(rc));
}

static void test_every_header_reject(void **state)
{
	(void)state;
	uint8_t buf[256];
	evc__v2_hdr_t h;
	size_t len;
	base_hdr(&h, 10);
	len = make(buf, &h, 10);
	expect_reject(buf, 63, EVC_V2_R_SHORT);
	expect_reject(buf, 3, EVC_V2_R_MAGIC);
	expect_reject(buf, 0, EVC_V2_R_MAGIC);
	buf[0] ^= 1;
	expect_reject(buf, len, EVC_V2_R_MAGIC);
	buf[0] ^= 1;
	buf[4] = 3;
	expect_reject(buf, len, EVC_V2_R_VERSION);
	buf[4] = 2;
	buf[5] = 5; /* 4 is STATUS (PROTOCOL.md 14) */
	expect_reject(buf, len, EVC_V2_R_TYPE);
	buf[5] = 0;
	expect_reject(buf, len, EVC_V2_R_TYPE);
	buf[5] = 1;
	buf[6] = 0x04; /* bit 1 is ZSTD (PROTOCOL.md 6.1); bits 2..7 are unknown */
	expect_reject(buf, len, EVC_V2_R_FLAGS);
	buf[6] = 0x80;
	expect_reject(buf, len, EVC_V2_R_FLAGS);
	buf[6] = 0;
	buf[7] = 1;
	expect_reject(buf, len, EVC_V2_R_RESERVED);
	buf[7] = 0;
	buf[11] = 1; /* key id without SEALED */
	expect_reject(buf, len, EVC_V2_R_KEYID);
	buf[11] = 0;
	buf[6] = EVC_V2_F_SEALED; /* SEALED without key id */
	expect_reject(buf, len, EVC_V2_R_KEYID);
	buf[6] = 0;
	assert_int_equal(evc__v2_hdr_decode(buf, len, &h), 0);

	evc__v2_hdr_t z;
	base_hdr(&z, 10);
	memset(z.node_id, 0, 16);
	len = make(buf, &z, 10);
	expect_reject(buf, len, EVC_V2_R_NODEID);
	base_hdr(&z, 10);
	z.epoch = 0;
	len = make(buf, &z, 10);
	expect_reject(buf, len, EVC_V2_R_EPOCH);
	base_hdr(&z, 10);
	z.ts_us = z.epoch - 1; /* sent before its sender booted */
	len = make(buf, &z, 10);
	expect_reject(buf, len, EVC_V2_R_EPOCH);
	base_hdr(&z, 10);
	z.seq = 0;
	len = make(buf, &z, 10);
	expect_reject(buf, len, EVC_V2_R_SEQ);
	base_hdr(&z, 10);
	z.seq = EVC_V2_CTL_BIT | 5; /* DATA in the control range */
	len = make(buf, &z, 10);
	expect_reject(buf, len, EVC_V2_R_SEQ);
	base_hdr(&z, 16);
	z.type = EVC_V2_ANNOUNCE; /* control without bit 63 */
	len = make(buf, &z, 16);
	expect_reject(buf, len, EVC_V2_R_SEQ);
	z.seq = EVC_V2_CTL_BIT | 1;
	len = make(buf, &z, 16);
	assert_int_equal(evc__v2_hdr_decode(buf, len, &h), 0);
	z.frag_count = 2;
	z.msg_len = 32;
	len = make(buf, &z, 16);
	expect_reject(buf, len, EVC_V2_R_FRAG); /* control cannot be fragmented */

	base_hdr(&z, 10);
	len = make(buf, &z, 10);
	expect_reject(buf, len - 1, EVC_V2_R_LENGTH);
	expect_reject(buf, len + 1, EVC_V2_R_LENGTH);
	z.flags = EVC_V2_F_SEALED;
	z.key_id = 1;
	z.payload_len = 10; /* shorter than a tag */
	len = make(buf, &z, 10);
	expect_reject(buf, len, EVC_V2_R_LENGTH);
	z.payload_len = 26; /* tag + 10 */
	len = make(buf, &z, 26);
	assert_int_equal(evc__v2_hdr_decode(buf, len, &h), 0);
	z.msg_len = 11;
	len = make(buf, &z, 26);
	expect_reject(buf, len, EVC_V2_R_FRAG);
}

static void test_frag_fields(void **state)
{
	(void)state;
	uint8_t buf[256];
	evc__v2_hdr_t z, d;
	size_t len;
	/* msg 100 in 3 fragments: chunk 34 -> 34, 34, 32 */
	uint32_t off, flen;
	assert_int_equal(evc__v2_frag_span(100, 3, 0, &off, &flen), 0);
	assert_int_equal(flen, 34);
	assert_int_equal(evc__v2_frag_span(100, 3, 2, &off, &flen), 0);
	assert_int_equal(off, 68);
	assert_int_equal(flen, 32);
	assert_int_equal(evc__v2_frag_span(10, 6, 5, &off, &flen), -EVC_V2_R_FRAG); /* empty last */
	assert_int_equal(evc__v2_frag_span(10, 3, 3, &off, &flen), -EVC_V2_R_FRAG);
	assert_int_equal(evc__v2_frag_span(10, 0, 0, &off, &flen), -EVC_V2_R_FRAG);
	assert_int_equal(evc__v2_frag_span(EVC_V2_MAX_MSG + 1, 1024, 0, &off, &flen), -EVC_V2_R_FRAG);
	assert_int_equal(evc__v2_frag_span(5000, 1025, 0, &off, &flen), -EVC_V2_R_FRAG);

	base_hdr(&z, 32);
	z.frag_count = 3;
	z.frag_index = 2;
	z.msg_len = 100;
	z.seq = 12;
	len = make(buf, &z, 32);
	assert_int_equal(evc__v2_hdr_decode(buf, len, &d), 0);
	len = make(buf, &z, 33);
	z.payload_len = 33;
	len = make(buf, &z, 33);
	expect_reject(buf, len, EVC_V2_R_FRAG); /* span length mismatch */
	base_hdr(&z, 34);
	z.frag_count = 3;
	z.frag_index = 1;
	z.msg_len = 100;
	z.seq = 1; /* first_seq would be 0 */
	len = make(buf, &z, 34);
	expect_reject(buf, len, EVC_V2_R_FRAG);

	uint16_t count;
	assert_int_equal(evc__v2_frag_plan(EVC_V2_MAX_MSG, EVC_V2_DEFAULT_PAYLOAD - 80, &count), 0);
	assert_int_equal(count, 795);
	assert_int_equal(evc__v2_frag_plan(EVC_V2_MAX_MSG, EVC_V2_MIN_PAYLOAD - 80, &count), 0);
	assert_true(count <= 1024);
	assert_int_equal(evc__v2_frag_plan(EVC_V2_MAX_MSG, EVC_V2_MIN_PAYLOAD - 81, &count), EVCAST_E2BIG);
	assert_int_equal(evc__v2_frag_plan(EVC_V2_MAX_MSG + 1, 60000, &count), EVCAST_E2BIG);
	assert_int_equal(evc__v2_frag_plan(0, 100, &count), EVCAST_EINVAL);
	/* every fragment of a plan has a valid, non-empty span covering the message */
	for (uint32_t m = 1; m < 5000; m += 37) {
		assert_int_equal(evc__v2_frag_plan(m, 100, &count), 0);
		uint32_t covered = 0;
		for (uint16_t i = 0; i < count; i++) {
			assert_int_equal(evc__v2_frag_span(m, count, i, &off, &flen), 0);
			assert_int_equal(off, covered);
			assert_true(flen > 0 && flen <= 100);
			covered += flen;
		}
		assert_int_equal(covered, m);
	}
}

static void test_batch(void **state)
{
	(void)state;
	uint8_t buf[64];
	evc__v2_batch_t b;
	evc__v2_batch_init(&b, buf, sizeof(buf));
	assert_int_equal(evc__v2_batch_add(&b, "Event-Name: A\n\n", 15), 0);
	assert_int_equal(evc__v2_batch_add(&b, "Event-Name: BB\n\n", 16), 0);
	assert_int_equal(evc__v2_batch_add(&b, "", 0), EVCAST_EINVAL);
	assert_int_equal(b.len, 39);
	assert_int_equal(evc__v2_batch_add(&b, "0123456789012345678901234", 25), EVCAST_E2BIG); /* 29 > 25 left */
	assert_int_equal(b.len, 39);
	assert_int_equal(evc__v2_batch_add(&b, "012345678901234567890", 21), 0); /* exactly fills */
	assert_int_equal(b.len, 64);
	assert_int_equal(evc__v2_batch_check(buf, b.len), 3);
	size_t pos = 0, rl;
	const uint8_t *rec;
	assert_int_equal(evc__v2_batch_next(buf, b.len, &pos, &rec, &rl), 1);
	assert_int_equal(rl, 15);
	assert_memory_equal(rec, "Event-Name: A\n\n", 15);
	assert_int_equal(evc__v2_batch_next(buf, b.len, &pos, &rec, &rl), 1);
	assert_int_equal(rl, 16);
	assert_int_equal(evc__v2_batch_next(buf, b.len, &pos, &rec, &rl), 1);
	assert_int_equal(evc__v2_batch_next(buf, b.len, &pos, &rec, &rl), 0);
	/* malformed: trailing bytes, overrun, zero length, empty */
	assert_int_equal(evc__v2_batch_check(buf, b.len - 1), -EVC_V2_R_BATCH);
	assert_int_equal(evc__v2_batch_check(buf, 3), -EVC_V2_R_BATCH);
	assert_int_equal(evc__v2_batch_check(buf, 0), -EVC_V2_R_BATCH);
	uint8_t zero[8] = {0};
	assert_int_equal(evc__v2_batch_check(zero, 8), -EVC_V2_R_BATCH);
	uint8_t huge[8] = {0x00, 0x10, 0x00, 0x01, 'a', 'b', 'c', 'd'}; /* 1 MiB + 1 */
	assert_int_equal(evc__v2_batch_check(huge, 8), -EVC_V2_R_BATCH);
	uint8_t over[8] = {0, 0, 0, 5, 'a', 'b', 'c', 'd'};
	assert_int_equal(evc__v2_batch_check(over, 8), -EVC_V2_R_BATCH);
}

static void test_control_payloads(void **state)
{
	(void)state;
	uint8_t buf[1024];
	evc__v2_announce_t a = {.last_seq = 900, .oldest_seq = 100}, a2;
	evc__v2_announce_encode(&a, buf);
	assert_int_equal(evc__v2_announce_decode(buf, 16, &a2), 0);
	assert_true(a2.last_seq == 900 && a2.oldest_seq == 100);
	assert_int_equal(evc__v2_announce_decode(buf, 15, &a2), -EVC_V2_R_ANNOUNCE);
	a.oldest_seq = 901;
	evc__v2_announce_encode(&a, buf);
	assert_int_equal(evc__v2_announce_decode(buf, 16, &a2), -EVC_V2_R_ANNOUNCE);

	evc__v2_nak_t n, m;
	memset(&n, 0, sizeof(n));
	memset(n.target_node, 0x42, 16);
	n.target_epoch = 99;
	n.nranges = 3;
	n.ranges[0] = (evc__v2_range_t){5, 2};
	n.ranges[1] = (evc__v2_range_t){10, 1};
	n.ranges[2] = (evc__v2_range_t){1000, 65536};
	int len = evc__v2_nak_encode(&n, buf, sizeof(buf));
	assert_int_equal(len, 28 + 36);
	assert_int_equal(evc__v2_nak_decode(buf, (size_t)len, &m), 0);
	assert_int_equal(m.nranges, 3);
	assert_true(m.ranges[2].first == 1000 && m.ranges[2].count == 65536);
	assert_memory_equal(m.target_node, n.target_node, 16);
	assert_int_equal(evc__v2_nak_decode(buf, (size_t)len - 1, &m), -EVC_V2_R_NAK);
	assert_int_equal(evc__v2_nak_encode(&n, buf, 50), EVCAST_E2BIG);
	n.ranges[1] = (evc__v2_range_t){6, 1}; /* overlaps the first */
	len = evc__v2_nak_encode(&n, buf, sizeof(buf));
	assert_int_equal(evc__v2_nak_decode(buf, (size_t)len, &m), -EVC_V2_R_NAK);
	n.ranges[1] = (evc__v2_range_t){10, 0}; /* empty */
	len = evc__v2_nak_encode(&n, buf, sizeof(buf));
	assert_int_equal(evc__v2_nak_decode(buf, (size_t)len, &m), -EVC_V2_R_NAK);
	n.nranges = 0;
	assert_int_equal(evc__v2_nak_encode(&n, buf, sizeof(buf)), EVCAST_EINVAL);
	/* STATUS (PROTOCOL.md 14.2): 40 bytes, round trip, each field checked */
	evc__v2_status_t st = {.target_epoch = 77, .delivered = 12345, .window = 1024, .flags = 1}, st2;
	memset(st.target_node, 0xab, sizeof(st.target_node));
	evc__v2_status_encode(&st, buf);
	assert_int_equal(evc__v2_status_decode(buf, EVC_V2_STATUS_LEN, &st2), 0);
	assert_memory_equal(st2.target_node, st.target_node, 16);
	assert_true(st2.target_epoch == 77 && st2.delivered == 12345 && st2.window == 1024 && st2.flags == 1);
	assert_int_equal(evc__v2_status_decode(buf, EVC_V2_STATUS_LEN - 1, &st2), -EVC_V2_R_STATUS);
	assert_int_equal(evc__v2_status_decode(buf, EVC_V2_STATUS_LEN + 1, &st2), -EVC_V2_R_STATUS);
	buf[39] = 1; /* reserved */
	assert_int_equal(evc__v2_status_decode(buf, EVC_V2_STATUS_LEN, &st2), -EVC_V2_R_STATUS);
	buf[39] = 0;
	buf[36] = 0x80; /* unknown flag bits are ignored */
	assert_int_equal(evc__v2_status_decode(buf, EVC_V2_STATUS_LEN, &st2), 0);
	st.window = EVC_V2_FC_MAX_WINDOW + 1;
	evc__v2_status_encode(&st, buf);
	assert_int_equal(evc__v2_status_decode(buf, EVC_V2_STATUS_LEN, &st2), -EVC_V2_R_STATUS);
	st.window = 1;
	st.delivered = EVC_V2_CTL_BIT;
	evc__v2_status_encode(&st, buf);
	assert_int_equal(evc__v2_status_decode(buf, EVC_V2_STATUS_LEN, &st2), -EVC_V2_R_STATUS);
	st.delivered = 1;
	st.target_epoch = 0;
	evc__v2_status_encode(&st, buf);
	assert_int_equal(evc__v2_status_decode(buf, EVC_V2_STATUS_LEN, &st2), -EVC_V2_R_STATUS);
	st.target_epoch = 1;
	memset(st.target_node, 0, sizeof(st.target_node));
	evc__v2_status_encode(&st, buf);
	assert_int_equal(evc__v2_status_decode(buf, EVC_V2_STATUS_LEN, &st2), -EVC_V2_R_STATUS);
	assert_string_equal(evc__v2_reason_name(EVC_V2_R_STATUS), "status");
}

/* No legacy datagram of the vectors may be taken for v2: the magic tells them apart. */
static void test_legacy_vectors_are_not_v2(void **state)
{
	(void)state;
	const char *dirs[] = {EVCAST_VECTORS "/legacy", EVCAST_VECTORS "/freeswitch"};
	int seen = 0;
	for (size_t k = 0; k < 2; k++) {
		DIR *d = opendir(dirs[k]);
		if (!d)
			continue;
		struct dirent *e;
		while ((e = readdir(d))) {
			size_t nl = strlen(e->d_name);
			if (nl < 4 || strcmp(e->d_name + nl - 4, ".bin"))
				continue;
			char path[1024];
			snprintf(path, sizeof(path), "%s/%s", dirs[k], e->d_name);
			FILE *f = fopen(path, "rb");
			assert_non_null(f);
			uint8_t buf[8] = {0};
			size_t n = fread(buf, 1, sizeof(buf), f);
			fclose(f);
			assert_false(evc__v2_is_v2(buf, n));
			seen++;
		}
		closedir(d);
	}
	if (seen == 0)
		skip(); /* vectors not found: say so instead of passing silently */
	/* and the rule itself: printable ASCII and UUID characters never start the magic */
	for (int c = 0x20; c < 0x7F; c++)
		assert_true(c != EVC_V2_MAGIC0);
	assert_string_equal(evc__v2_reason_name(-EVC_V2_R_AUTH), "auth");
	for (int r = EVC_V2_R_FIRST; r < EVC_V2_R_END; r++) /* every reason named, names distinct */
		for (int q = EVC_V2_R_FIRST; q < r; q++)
			assert_string_not_equal(evc__v2_reason_name(r), evc__v2_reason_name(q));
	assert_string_equal(evc__v2_reason_name(EVC_V2_R_LATE), "late");
	assert_string_equal(evc__v2_reason_name(EVC_V2_R_EVENT), "event");
	assert_non_null(evc__v2_reason_name(EVCAST_ENOMEM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),	 cmocka_unit_test(test_every_header_reject),
		cmocka_unit_test(test_frag_fields),	 cmocka_unit_test(test_batch),
		cmocka_unit_test(test_control_payloads), cmocka_unit_test(test_legacy_vectors_are_not_v2),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
