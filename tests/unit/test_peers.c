/*
 * test_peers.c -- the peer table: up on first heartbeat, Lastseen of the
 * previous sighting, down after the timeout (and only once), up again, the
 * bound on the table, name order. Time is passed in, so timing is exact.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "internal.h"

typedef struct downs {
	char names[8][32];
	uint64_t last[8];
	int n;
} downs_t;

static void on_down(void *ud, const evc__peer_t *p)
{
	downs_t *d = ud;
	assert_true(d->n < 8);
	snprintf(d->names[d->n], sizeof(d->names[0]), "%s", p->name);
	d->last[d->n++] = p->last_seen_ms;
}

static void test_up_then_down_after_timeout(void **state)
{
	(void)state;
	evc__peers_t t;
	uint64_t prev = 99;
	downs_t d = {0};
	evc__peers_init(&t, 16);
	assert_int_equal(evc__peers_heartbeat(&t, "fs-a", "10.0.0.1:4242", 1000, &prev), 1);
	assert_int_equal(prev, 0); /* Never */
	assert_int_equal(evc__peers_heartbeat(&t, "fs-a", NULL, 21000, &prev), 0);
	assert_int_equal(prev, 1000);
	evc__peers_sweep(&t, 81000, 60000, on_down, &d); /* exactly 60 s: not yet */
	assert_int_equal(d.n, 0);
	evc__peers_sweep(&t, 81001, 60000, on_down, &d);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.names[0], "fs-a");
	assert_int_equal(d.last[0], 21000);
	evc__peers_sweep(&t, 200000, 60000, on_down, &d); /* down only once */
	assert_int_equal(d.n, 1);
	assert_int_equal(evc__peers_heartbeat(&t, "fs-a", NULL, 300000, &prev), 1); /* back up */
	assert_int_equal(prev, 21000);
	assert_string_equal(evc__peers_find(&t, "fs-a")->addr, "10.0.0.1:4242");
	evc__peers_free(&t);
}

static void test_one_second_timeout(void **state)
{
	(void)state;
	evc__peers_t t;
	downs_t d = {0};
	evc__peers_init(&t, 16);
	assert_int_equal(evc__peers_heartbeat(&t, "x", NULL, 5000, NULL), 1);
	evc__peers_sweep(&t, 5900, 1000, on_down, &d);
	assert_int_equal(d.n, 0);
	evc__peers_sweep(&t, 6001, 1000, on_down, &d);
	assert_int_equal(d.n, 1);
	evc__peers_free(&t);
}

static void test_sorted_and_bounded(void **state)
{
	(void)state;
	evc__peers_t t;
	evc__peers_init(&t, 3);
	assert_int_equal(evc__peers_heartbeat(&t, "c", NULL, 1, NULL), 1);
	assert_int_equal(evc__peers_heartbeat(&t, "a", NULL, 1, NULL), 1);
	assert_int_equal(evc__peers_heartbeat(&t, "b", NULL, 1, NULL), 1);
	assert_int_equal(evc__peers_heartbeat(&t, "d", NULL, 1, NULL), EVCAST_E2BIG);
	assert_int_equal(t.refused, 1);
	assert_int_equal(t.n, 3);
	assert_string_equal(t.v[0].name, "a");
	assert_string_equal(t.v[1].name, "b");
	assert_string_equal(t.v[2].name, "c");
	assert_null(evc__peers_find(&t, "d"));
	/* a known peer is still updated when the table is full */
	assert_int_equal(evc__peers_heartbeat(&t, "b", NULL, 2, NULL), 0);
	evc__peers_free(&t);
}

static void test_clock_going_backwards_is_not_a_timeout(void **state)
{
	(void)state;
	evc__peers_t t;
	downs_t d = {0};
	evc__peers_init(&t, 4);
	evc__peers_heartbeat(&t, "a", NULL, 100000, NULL);
	evc__peers_sweep(&t, 50000, 1000, on_down, &d);
	assert_int_equal(d.n, 0);
	evc__peers_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_up_then_down_after_timeout),
		cmocka_unit_test(test_one_second_timeout),
		cmocka_unit_test(test_sorted_and_bounded),
		cmocka_unit_test(test_clock_going_backwards_is_not_a_timeout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
