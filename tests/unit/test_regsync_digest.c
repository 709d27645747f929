/*
 * test_regsync_digest.c -- the anti-entropy digest tree (src/daemon/regsync_digest.c):
 * equal tables give equal digests whatever the insertion order; one changed
 * entry makes exactly its bucket and its leaf differ; keys shaped like the
 * integration test's (numbers in user and call-id) spread over every bucket
 * (by the table's own FNV-1a, 97 % of them fell in 16 buckets); the text forms
 * round-trip and malformed text is refused, never trusted; the time of one
 * digest of 100 000 entries (printed only).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../../src/daemon/regsync_digest.c"

#define T0 1700000000000LL /* ms */

static evc__reg_t *mk(void)
{
	evc__reg_opts_t o = {.tombstone_ttl_ms = 3600000};
	evc__reg_t *r;
	assert_int_equal(evc__reg_new(&o, NULL, &r), 0);
	return r;
}

/* Registers user u (call-id c-u) at time T0 + ts_ms by node, or tombstones it. */
static void put(evc__reg_t *r, int u, int ts_ms, const char *node, bool tomb)
{
	char user[16], cid[16];
	snprintf(user, sizeof(user), "%d", u);
	snprintf(cid, sizeof(cid), "c-%d", u);
	evc__reg_update_t x = {.profile = "internal", .user = user, .realm = "example.test", .call_id = cid,
			       .contact = "sip:x@10.0.0.1", .node = node, .node_ip = "10.0.0.9",
			       .ts_us = (uint64_t)(T0 + ts_ms) * 1000, .expires_ms = T0 + ts_ms + 600000, .tomb = tomb};
	assert_true(evc__reg_apply(r, &x, T0 + ts_ms) >= 0);
}

static void key_of(int u, char *out, size_t cap)
{
	snprintf(out, cap, "internal\x1f%d\x1f" "example.test\x1f" "c-%d", u, u);
}

static evcd_rs_digest_t da, db;

static void test_equal_tables_any_order(void **state)
{
	(void)state;
	evc__reg_t *a = mk(), *b = mk();
	uint64_t mask, diff[RS_BUCKETS];
	char text[RS_BUCKETS_TEXT + 1];
	static char leaves[RS_LEAVES_TEXT_MAX + 1];
	for (int u = 0; u < 2000; u++)
		put(a, 100000 + u, u, u % 2 ? "A" : "B", u % 4 == 0);
	for (int u = 1999; u >= 0; u--)
		put(b, 100000 + u, u, u % 2 ? "A" : "B", u % 4 == 0);
	evcd_rs_digest(a, &da);
	evcd_rs_digest(b, &db);
	assert_int_equal(da.entries, 2000);
	assert_memory_equal(&da, &db, sizeof(da));
	assert_true(evcd_rs_digest_sum(&da) == evcd_rs_digest_sum(&db));
	evcd_rs_buckets_text(&da, text);
	assert_int_equal(strlen(text), RS_BUCKETS_TEXT);
	assert_int_equal(evcd_rs_buckets_diff(&db, text, &mask), 0);
	assert_true(mask == 0);
	assert_int_equal(evcd_rs_leaves_text(&da, UINT64_MAX, leaves), RS_LEAVES_TEXT_MAX);
	assert_int_equal(evcd_rs_leaves_diff(&db, UINT64_MAX, leaves, RS_LEAVES_TEXT_MAX, diff), 0);
	evc__reg_free(a);
	evc__reg_free(b);
}

static void test_one_difference_one_leaf(void **state)
{
	(void)state;
	evc__reg_t *a = mk(), *b = mk();
	uint64_t mask, diff[RS_BUCKETS];
	char text[RS_BUCKETS_TEXT + 1], key[96];
	static char leaves[RS_LEAVES_TEXT_MAX + 1];
	unsigned slot;
	size_t n;
	for (int u = 0; u < 3000; u++) {
		put(a, 100000 + u, u, "A", false);
		put(b, 100000 + u, u, "A", false);
	}
	put(b, 100777, 5000, "B", false); /* a newer version on b only */
	key_of(100777, key, sizeof(key));
	slot = evcd_rs_slot(key);
	evcd_rs_digest(a, &da);
	evcd_rs_digest(b, &db);
	evcd_rs_buckets_text(&db, text);
	assert_int_equal(evcd_rs_buckets_diff(&da, text, &mask), 0);
	assert_true(mask == 1ULL << (slot / RS_LEAVES));
	n = evcd_rs_leaves_text(&da, mask, leaves);
	assert_int_equal(n, RS_LEAVES_TEXT);
	assert_int_equal(evcd_rs_leaves_diff(&db, mask, leaves, n, diff), 1);
	for (int i = 0; i < RS_BUCKETS; i++)
		assert_true(diff[i] == (i == (int)(slot / RS_LEAVES) ? 1ULL << (slot % RS_LEAVES) : 0));
	/* a tombstone of the same version is another state */
	put(a, 100777, 5000, "B", true);
	evcd_rs_digest(a, &da);
	assert_true(evcd_rs_digest_sum(&da) != evcd_rs_digest_sum(&db));
	evc__reg_free(a);
	evc__reg_free(b);
}

static void test_spread(void **state)
{
	(void)state;
	static unsigned per_bucket[RS_BUCKETS], per_slot[RS_SLOTS];
	char key[96];
	unsigned lo = ~0u, hi = 0, empty = 0;
	for (int u = 100000; u < 120000; u++) { /* 20 000 keys as it_reg_netem.sh makes them */
		unsigned s;
		key_of(u, key, sizeof(key));
		s = evcd_rs_slot(key);
		assert_true(s < RS_SLOTS);
		per_bucket[s / RS_LEAVES]++;
		per_slot[s]++;
	}
	for (int b = 0; b < RS_BUCKETS; b++) {
		lo = per_bucket[b] < lo ? per_bucket[b] : lo;
		hi = per_bucket[b] > hi ? per_bucket[b] : hi;
	}
	for (int s = 0; s < RS_SLOTS; s++)
		empty += !per_slot[s];
	print_message("20000 keys: %u..%u per bucket (mean 312), %u of %u leaves empty\n", lo, hi, empty, RS_SLOTS);
	assert_true(lo > 230 && hi < 400);
	assert_true(empty < 100); /* Poisson(4.9): ~30 expected */
}

/* The cost of one digest (every periodic digest, received digest and repair request computes one). */
static void test_100k_timing(void **state)
{
	(void)state;
	evc__reg_t *a = mk();
	struct timespec t0, t1;
	for (int u = 0; u < 100000; u++)
		put(a, 100000 + u, u, "A", u % 4 == 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	evcd_rs_digest(a, &da);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(da.entries, 100000);
	print_message("digest of 100000 entries: %.1f ms\n",
		      (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	evc__reg_free(a);
}

static void test_malformed_text(void **state)
{
	(void)state;
	evc__reg_t *a = mk();
	uint64_t mask = 7, diff[RS_BUCKETS];
	char text[RS_BUCKETS_TEXT + 1];
	static char leaves[RS_LEAVES_TEXT_MAX + 1];
	put(a, 1, 1, "A", false);
	evcd_rs_digest(a, &da);
	evcd_rs_buckets_text(&da, text);
	assert_int_equal(evcd_rs_buckets_diff(&da, NULL, &mask), -1);
	assert_int_equal(evcd_rs_buckets_diff(&da, "00ff", &mask), -1); /* short */
	text[17] = 'g';
	assert_int_equal(evcd_rs_buckets_diff(&da, text, &mask), -1); /* not hex */
	evcd_rs_buckets_text(&da, text);
	text[5] = text[5] == 'A' ? 'B' : 'A'; /* upper case hex is hex */
	assert_int_equal(evcd_rs_buckets_diff(&da, text, &mask), 0);
	assert_true(mask == 1);
	evcd_rs_leaves_text(&da, 3, leaves);
	assert_int_equal(evcd_rs_leaves_diff(&da, 3, leaves, 2 * RS_LEAVES_TEXT - 1, diff), -1); /* length */
	assert_int_equal(evcd_rs_leaves_diff(&da, 1, leaves, 2 * RS_LEAVES_TEXT, diff), -1);     /* mask */
	leaves[9] = '-';
	assert_int_equal(evcd_rs_leaves_diff(&da, 3, leaves, 2 * RS_LEAVES_TEXT, diff), -1);
	evc__reg_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equal_tables_any_order),
		cmocka_unit_test(test_one_difference_one_leaf),
		cmocka_unit_test(test_spread),
		cmocka_unit_test(test_100k_timing),
		cmocka_unit_test(test_malformed_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
