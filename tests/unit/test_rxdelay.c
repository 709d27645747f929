/*
 * test_rxdelay.c -- unit tests of the receive-delay histogram
 * (src/daemon/rxdelay.c, included here: the daemon's files are not in the
 * library).
 *
 * Covers: every delay lands in a bucket whose upper edge is at least the
 * delay and at most 1/16 above it (exhaustively below 2^20 us, then at
 * powers of two); quantiles of known samples; events stamped in the future
 * counted apart; the JSON form (percentiles, non-empty buckets only) and a
 * buffer too small for it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/daemon/rxdelay.c"

static void test_buckets_bound_the_delay(void **state)
{
	(void)state;
	size_t prev = 0;
	for (uint64_t us = 0; us < (1u << 20); us++) {
		size_t b = evcd_rxdelay_bucket(us);
		uint64_t up = evcd_rxdelay_upper(b);
		assert_true(b < EVCD_RXDELAY_BUCKETS);
		assert_true(b >= prev); /* monotonic */
		assert_true(up >= us);
		assert_true(up - us <= us / 16); /* at most 1/16 above */
		if (b > 0)
			assert_true(evcd_rxdelay_upper(b - 1) < us || b == prev);
		prev = b;
	}
	for (unsigned e = 20; e < 40; e++) {
		uint64_t us = (uint64_t)1 << e;
		assert_true(evcd_rxdelay_upper(evcd_rxdelay_bucket(us)) >= us);
		assert_true(evcd_rxdelay_upper(evcd_rxdelay_bucket(us - 1)) == us - 1);
	}
	assert_int_equal(evcd_rxdelay_bucket(UINT64_MAX / 2), EVCD_RXDELAY_BUCKETS - 1);
}

static void test_quantiles(void **state)
{
	evcd_rxdelay_t h;
	(void)state;
	memset(&h, 0, sizeof(h));
	assert_int_equal(evcd_rxdelay_quantile(&h, 0.5), 0);
	/* 1..100 us once each, sent at t = 1000000 */
	for (uint64_t d = 1; d <= 100; d++)
		evcd_rxdelay_add(&h, 1000000, 1000000 + d);
	assert_int_equal(h.samples, 100);
	assert_int_equal(h.max_us, 100);
	assert_int_equal(evcd_rxdelay_quantile(&h, 0.10), 10); /* exact below 32 */
	uint64_t p50 = evcd_rxdelay_quantile(&h, 0.50), p99 = evcd_rxdelay_quantile(&h, 0.99);
	assert_true(p50 >= 50 && p50 <= 50 + 50 / 16 + 1);
	assert_true(p99 >= 99 && p99 <= 100);                   /* clipped to the maximum */
	assert_int_equal(evcd_rxdelay_quantile(&h, 1.0), 100);
	/* stamped in the future: counted, not in the buckets */
	evcd_rxdelay_add(&h, 2000000, 1000000);
	assert_int_equal(h.negative, 1);
	assert_int_equal(h.samples, 101);
	assert_int_equal(evcd_rxdelay_quantile(&h, 1.0), 100);
}

static void test_json(void **state)
{
	evcd_rxdelay_t h;
	char buf[4096], small[40];
	(void)state;
	memset(&h, 0, sizeof(h));
	evcd_rxdelay_add(&h, 100, 105);
	evcd_rxdelay_add(&h, 100, 105);
	evcd_rxdelay_add(&h, 100, 100 + 1000);
	assert_true(evcd_rxdelay_json(&h, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"samples\":3,\"negative\":0,\"p50_us\":5,"));
	assert_non_null(strstr(buf, "\"max_us\":1000,"));
	assert_non_null(strstr(buf, "\"buckets\":[[5,2],[1023,1]]}")); /* 1000 is in [992, 1023] */
	assert_int_equal(evcd_rxdelay_json(&h, small, sizeof(small)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets_bound_the_delay),
		cmocka_unit_test(test_quantiles),
		cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
