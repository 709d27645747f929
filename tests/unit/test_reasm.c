/*
 * test_reasm.c -- v2 fragment reassembly (src/lib/reasm.c): in order, out of
 * order, duplicates, inconsistent fragments, missing -> timeout, the memory
 * and message-count bounds (oldest evicted, counted), a full 1 MiB event,
 * and two senders interleaved. Fragments are cut exactly as a sender does
 * (evc__v2_frag_plan / evc__v2_frag_span). Randomised order prints its seed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>
#include <stdio.h>
#include <time.h>
#include "v2.h"

typedef struct msg {
	evc__v2_hdr_t h[EVC_V2_MAX_FRAGS];
	uint8_t *data;
	uint32_t len;
	uint16_t count;
} msg_t;

static msg_t *cut(uint8_t node, uint64_t epoch, uint64_t first_seq, uint32_t len, uint32_t chunk)
{
	msg_t *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	m->data = malloc(len);
	assert_non_null(m->data);
	for (uint32_t i = 0; i < len; i++)
		m->data[i] = (uint8_t)(i * 131 + node);
	m->len = len;
	assert_int_equal(evc__v2_frag_plan(len, chunk, &m->count), 0);
	for (uint16_t i = 0; i < m->count; i++) {
		evc__v2_hdr_t *h = &m->h[i];
		uint32_t off, flen;
		h->type = EVC_V2_DATA;
		h->node_id[0] = node;
		h->epoch = epoch;
		h->seq = first_seq + i;
		h->frag_index = i;
		h->frag_count = m->count;
		h->msg_len = len;
		assert_int_equal(evc__v2_frag_span(len, m->count, i, &off, &flen), 0);
		h->payload_len = flen;
	}
	return m;
}

static const uint8_t *frag(const msg_t *m, uint16_t i)
{
	uint32_t off, flen;
	evc__v2_frag_span(m->len, m->count, i, &off, &flen);
	return m->data + off;
}

static int add(evc__v2_reasm_t *r, const msg_t *m, uint16_t i, uint64_t now, uint8_t **out, size_t *olen)
{
	return evc__v2_reasm_add(r, &m->h[i], frag(m, i), m->h[i].payload_len, now, out, olen);
}

static void free_msg(msg_t *m)
{
	free(m->data);
	free(m);
}

static void test_in_order_and_single(void **state)
{
	(void)state;
	evc__v2_reasm_t *r;
	uint8_t *out = NULL;
	size_t olen = 0;
	assert_int_equal(evc__v2_reasm_new(1 << 20, 8, 3000, &r), 0);
	msg_t *m = cut(1, 10, 100, 10000, 1320);
	assert_int_equal(m->count, 8);
	for (uint16_t i = 0; i + 1 < m->count; i++)
		assert_int_equal(add(r, m, i, 5, &out, &olen), 0);
	evc__v2_reasm_stats_t st;
	evc__v2_reasm_stats(r, &st);
	assert_int_equal(st.messages, 1);
	assert_int_equal(st.bytes, 10000);
	assert_int_equal(add(r, m, (uint16_t)(m->count - 1), 6, &out, &olen), 1);
	assert_int_equal(olen, 10000);
	assert_memory_equal(out, m->data, 10000);
	evc__free(out);
	evc__v2_reasm_stats(r, &st);
	assert_int_equal(st.messages, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.completed, 1);
	free_msg(m);
	/* a one-fragment message comes back at once, as a copy */
	m = cut(1, 10, 200, 300, 1320);
	assert_int_equal(add(r, m, 0, 7, &out, &olen), 1);
	assert_int_equal(olen, 300);
	assert_memory_equal(out, m->data, 300);
	evc__free(out);
	free_msg(m);
	evc__v2_reasm_free(r);
}

static void test_out_of_order_and_duplicates(void **state)
{
	(void)state;
	unsigned seed = (unsigned)time(NULL);
	const char *env = getenv("EVCAST_SEED");
	if (env)
		seed = (unsigned)strtoul(env, NULL, 10);
	printf("seed %u (EVCAST_SEED to repeat)\n", seed);
	srand(seed);
	evc__v2_reasm_t *r;
	uint8_t *out = NULL;
	size_t olen = 0;
	assert_int_equal(evc__v2_reasm_new(4 << 20, 8, 3000, &r), 0);
	for (int round = 0; round < 20; round++) {
		uint32_t len = 2000 + (uint32_t)(rand() % 200000);
		msg_t *m = cut(2, 10, 1000 + (uint64_t)round * 1000, len, 1320);
		uint16_t order[EVC_V2_MAX_FRAGS];
		for (uint16_t i = 0; i < m->count; i++)
			order[i] = i;
		for (uint16_t i = m->count - 1; i > 0; i--) {
			uint16_t j = (uint16_t)(rand() % (i + 1));
			uint16_t t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		int done = 0;
		for (uint16_t k = 0; k < m->count; k++) {
			if (k > 0 && rand() % 3 == 0) /* a duplicate of an earlier fragment */
				assert_int_equal(add(r, m, order[rand() % k], 1, &out, &olen), 0);
			int rc = add(r, m, order[k], 1, &out, &olen);
			assert_int_equal(rc, k + 1 == m->count ? 1 : 0);
			done += rc;
		}
		assert_int_equal(done, 1);
		assert_int_equal(olen, len);
		assert_memory_equal(out, m->data, len);
		evc__free(out);
		free_msg(m);
	}
	evc__v2_reasm_stats_t st;
	evc__v2_reasm_stats(r, &st);
	assert_true(st.dups > 0);
	assert_int_equal(st.completed, 20);
	evc__v2_reasm_free(r);
}

static void test_missing_times_out(void **state)
{
	(void)state;
	evc__v2_reasm_t *r;
	uint8_t *out = NULL;
	size_t olen = 0;
	assert_int_equal(evc__v2_reasm_new(1 << 20, 8, 3000, &r), 0);
	msg_t *m = cut(3, 10, 50, 5000, 1320);
	assert_int_equal(add(r, m, 0, 1000, &out, &olen), 0);
	assert_int_equal(add(r, m, 2, 1500, &out, &olen), 0);
	assert_int_equal(evc__v2_reasm_expire(r, 3999), 0); /* not yet */
	assert_int_equal(evc__v2_reasm_expire(r, 4000), 1);
	evc__v2_reasm_stats_t st;
	evc__v2_reasm_stats(r, &st);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.messages, 0);
	/* the late fragment starts over and does not complete a message */
	assert_int_equal(add(r, m, 1, 4001, &out, &olen), 0);
	evc__v2_reasm_free(r); /* frees the partial message (ASan would report a leak) */
	free_msg(m);
}

static void test_inconsistent(void **state)
{
	(void)state;
	evc__v2_reasm_t *r;
	uint8_t *out = NULL;
	size_t olen = 0;
	assert_int_equal(evc__v2_reasm_new(1 << 20, 8, 3000, &r), 0);
	msg_t *m = cut(4, 10, 50, 5000, 1320);
	assert_int_equal(add(r, m, 0, 1, &out, &olen), 0);
	evc__v2_hdr_t h = m->h[1];
	h.msg_len = 5001; /* same message key, other length */
	uint8_t junk[2000] = {0};
	uint32_t off, flen;
	assert_int_equal(evc__v2_frag_span(5001, 4, 1, &off, &flen), 0);
	assert_int_equal(evc__v2_reasm_add(r, &h, junk, flen, 1, &out, &olen), -EVC_V2_R_FRAG);
	evc__v2_reasm_stats_t st;
	evc__v2_reasm_stats(r, &st);
	assert_int_equal(st.messages, 0); /* the partial message was discarded */
	/* a fragment whose length disagrees with its span */
	assert_int_equal(evc__v2_reasm_add(r, &m->h[0], frag(m, 0), m->h[0].payload_len - 1, 1, &out, &olen),
			 -EVC_V2_R_FRAG);
	h = m->h[0];
	h.frag_index = 4; /* past the count */
	assert_int_equal(evc__v2_reasm_add(r, &h, junk, 10, 1, &out, &olen), -EVC_V2_R_FRAG);
	evc__v2_reasm_stats(r, &st);
	assert_int_equal(st.inconsistent, 3);
	evc__v2_reasm_free(r);
	free_msg(m);
}

static void test_memory_bound(void **state)
{
	(void)state;
	evc__v2_reasm_t *r;
	uint8_t *out = NULL;
	size_t olen = 0;
	/* room for 3 partial messages of 40 000 bytes, 5 messages by count */
	assert_int_equal(evc__v2_reasm_new(120000, 5, 3000, &r), 0);
	msg_t *m[5];
	for (int i = 0; i < 5; i++) {
		m[i] = cut(5, 10, 100 + (uint64_t)i * 100, 40000, 1320);
		assert_int_equal(add(r, m[i], 0, 10 + (uint64_t)i, &out, &olen), 0);
		evc__v2_reasm_stats_t st;
		evc__v2_reasm_stats(r, &st);
		assert_true(st.bytes <= 120000);
	}
	evc__v2_reasm_stats_t st;
	evc__v2_reasm_stats(r, &st);
	assert_int_equal(st.evicted, 2);
	assert_int_equal(st.messages, 3);
	/* the newest three survive and complete; the evicted ones do not */
	for (int i = 2; i < 5; i++) {
		int rc = 0;
		for (uint16_t f = 1; f < m[i]->count; f++)
			rc = add(r, m[i], f, 20, &out, &olen);
		assert_int_equal(rc, 1);
		assert_memory_equal(out, m[i]->data, 40000);
		evc__free(out);
	}
	/* a message larger than the whole bound is refused up front */
	msg_t *big = cut(5, 10, 5000, 200000, 1320);
	assert_int_equal(add(r, big, 0, 30, &out, &olen), EVCAST_E2BIG);
	evc__v2_reasm_stats(r, &st);
	assert_int_equal(st.too_big, 1);
	free_msg(big);
	/* the count bound: 6 small partial messages into 5 slots */
	for (int i = 0; i < 6; i++) {
		msg_t *s = cut(6, 10, 9000 + (uint64_t)i * 10, 3000, 1320);
		assert_int_equal(add(r, s, 0, 40 + (uint64_t)i, &out, &olen), 0);
		free_msg(s);
	}
	evc__v2_reasm_stats(r, &st);
	assert_int_equal(st.messages, 5);
	for (int i = 0; i < 5; i++)
		free_msg(m[i]);
	evc__v2_reasm_free(r);
}

static void test_one_mebibyte_and_interleaved(void **state)
{
	(void)state;
	evc__v2_reasm_t *r;
	uint8_t *out = NULL;
	size_t olen = 0;
	assert_int_equal(evc__v2_reasm_new(8 << 20, 64, 3000, &r), 0);
	msg_t *a = cut(7, 10, 1, EVC_V2_MAX_MSG, EVC_V2_DEFAULT_PAYLOAD - 80);
	msg_t *b = cut(8, 10, 1, EVC_V2_MAX_MSG, EVC_V2_DEFAULT_PAYLOAD - 80); /* same seqs, other node */
	assert_int_equal(a->count, 795);
	int done = 0;
	for (uint16_t i = 0; i < a->count; i++) {
		uint16_t j = (uint16_t)(a->count - 1 - i);
		int ra = add(r, a, i, 1, &out, &olen);
		if (ra == 1) {
			assert_int_equal(olen, EVC_V2_MAX_MSG);
			assert_memory_equal(out, a->data, EVC_V2_MAX_MSG);
			evc__free(out);
			done++;
		}
		int rb = add(r, b, j, 1, &out, &olen);
		if (rb == 1) {
			assert_memory_equal(out, b->data, EVC_V2_MAX_MSG);
			evc__free(out);
			done++;
		}
	}
	assert_int_equal(done, 2);
	free_msg(a);
	free_msg(b);
	evc__v2_reasm_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order_and_single), cmocka_unit_test(test_out_of_order_and_duplicates),
		cmocka_unit_test(test_missing_times_out),   cmocka_unit_test(test_inconsistent),
		cmocka_unit_test(test_memory_bound),	    cmocka_unit_test(test_one_mebibyte_and_interleaved),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
