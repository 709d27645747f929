/*
 * test_peers.c -- the peer table: up on first heartbeat, Lastseen of the
 * previous sighting, down after the timeout (and only once), up again, the
 * bound on the table, name order; a full table evicts its DOWN peers, the one
 * seen longest ago first, and refuses a newcomer only while every peer is UP.
 * Time is passed in, so timing is exact.
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

/* Full table: the DOWN peer seen longest ago leaves first, whatever its
 * place in name order; UP peers stay; evicted and refused are counted. */
static void test_full_table_evicts_oldest_down_first(void **state)
{
	(void)state;
	evc__peers_t t;
	downs_t d = {0};
	uint64_t prev = 99;
	evc__peers_init(&t, 4);
	assert_int_equal(evc__peers_heartbeat(&t, "m", NULL, 3000, NULL), 1);
	assert_int_equal(evc__peers_heartbeat(&t, "z", NULL, 1000, NULL), 1);
	assert_int_equal(evc__peers_heartbeat(&t, "a", NULL, 2000, NULL), 1);
	assert_int_equal(evc__peers_heartbeat(&t, "up", NULL, 9000, NULL), 1);
	/* at 10 s with a 5 s timeout: z (1 s), a (2 s), m (3 s) go DOWN, "up" stays */
	evc__peers_sweep(&t, 10000, 5000, on_down, &d);
	assert_int_equal(d.n, 3);
	assert_int_equal(t.ndown, 3);
	assert_int_equal(evc__peers_heartbeat(&t, "new1", NULL, 10001, &prev), 1);
	assert_int_equal(prev, 0); /* a new peer: Never */
	assert_null(evc__peers_find(&t, "z"));  /* last seen at 1 s: the oldest */
	assert_non_null(evc__peers_find(&t, "a"));
	assert_int_equal(evc__peers_heartbeat(&t, "new2", NULL, 10002, NULL), 1);
	assert_null(evc__peers_find(&t, "a"));  /* then 2 s */
	assert_non_null(evc__peers_find(&t, "m"));
	assert_int_equal(t.evicted, 2);
	assert_int_equal(t.ndown, 1);
	assert_int_equal(t.n, 4);
	/* still sorted by name after the evictions */
	assert_string_equal(t.v[0].name, "m");
	assert_string_equal(t.v[1].name, "new1");
	assert_string_equal(t.v[2].name, "new2");
	assert_string_equal(t.v[3].name, "up");
	assert_int_equal(t.refused, 0);
	evc__peers_free(&t);
}

/* A newcomer is refused only when every entry is UP; once one goes DOWN it
 * makes room. The UP ones are never evicted. */
static void test_refused_only_when_full_of_up_peers(void **state)
{
	(void)state;
	evc__peers_t t;
	downs_t d = {0};
	evc__peers_init(&t, 3);
	assert_int_equal(evc__peers_heartbeat(&t, "a", NULL, 1000, NULL), 1);
	assert_int_equal(evc__peers_heartbeat(&t, "b", NULL, 2000, NULL), 1);
	assert_int_equal(evc__peers_heartbeat(&t, "c", NULL, 3000, NULL), 1);
	assert_int_equal(evc__peers_heartbeat(&t, "late", NULL, 3500, NULL), EVCAST_E2BIG);
	assert_int_equal(evc__peers_heartbeat(&t, "late", NULL, 3600, NULL), EVCAST_E2BIG);
	assert_int_equal(t.refused, 2);
	assert_int_equal(t.evicted, 0);
	assert_null(evc__peers_find(&t, "late"));
	/* b and c keep beating; a falls silent and goes DOWN */
	evc__peers_heartbeat(&t, "b", NULL, 6500, NULL);
	evc__peers_heartbeat(&t, "c", NULL, 6500, NULL);
	evc__peers_sweep(&t, 7000, 5000, on_down, &d);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.names[0], "a");
	assert_int_equal(evc__peers_heartbeat(&t, "late", NULL, 7100, NULL), 1);
	assert_non_null(evc__peers_find(&t, "late"));
	assert_null(evc__peers_find(&t, "a"));
	assert_non_null(evc__peers_find(&t, "b"));
	assert_non_null(evc__peers_find(&t, "c"));
	assert_int_equal(t.evicted, 1);
	assert_int_equal(t.refused, 2);
	/* full of UP peers again: the next newcomer is refused, nobody evicted */
	assert_int_equal(evc__peers_heartbeat(&t, "another", NULL, 7200, NULL), EVCAST_E2BIG);
	assert_int_equal(t.refused, 3);
	assert_int_equal(t.evicted, 1);
	evc__peers_free(&t);
}

/* A DOWN peer that comes back is UP again, not a new entry, and leaves the
 * DOWN count; the count never goes wrong across the three transitions. */
static void test_down_count_follows_transitions(void **state)
{
	(void)state;
	evc__peers_t t;
	uint64_t prev = 0;
	evc__peers_init(&t, 2);
	evc__peers_heartbeat(&t, "a", NULL, 1000, NULL);
	evc__peers_heartbeat(&t, "b", NULL, 1000, NULL);
	evc__peers_sweep(&t, 10000, 5000, NULL, NULL);
	assert_int_equal(t.ndown, 2);
	assert_int_equal(evc__peers_heartbeat(&t, "a", NULL, 11000, &prev), 1);
	assert_int_equal(prev, 1000); /* known: its previous sighting, not Never */
	assert_int_equal(t.ndown, 1);
	assert_int_equal(t.evicted, 0);
	assert_int_equal(evc__peers_heartbeat(&t, "c", NULL, 12000, NULL), 1); /* evicts b */
	assert_int_equal(t.ndown, 0);
	assert_null(evc__peers_find(&t, "b"));
	assert_int_equal(evc__peers_heartbeat(&t, "d", NULL, 12000, NULL), EVCAST_E2BIG);
	evc__peers_free(&t);
}

/* The attack, scaled: a table of 4096 filled by forged names that
 * then go DOWN, 6000 names in all; a real node still gets in, and the table
 * never grows past its bound. */
static void test_forged_flood_then_real_node(void **state)
{
	(void)state;
	evc__peers_t t;
	char name[32];
	evc__peers_init(&t, 4096);
	for (int i = 0; i < 6000; i++) {
		snprintf(name, sizeof(name), "forged-%05d", i);
		int r = evc__peers_heartbeat(&t, name, NULL, 1000 + (uint64_t)i / 1000, NULL);
		assert_int_equal(r, i < 4096 ? 1 : EVCAST_E2BIG);
	}
	assert_int_equal(t.n, 4096);
	assert_int_equal(t.refused, 6000 - 4096);
	assert_int_equal(evc__peers_heartbeat(&t, "real", NULL, 2000, NULL), EVCAST_E2BIG);
	evc__peers_sweep(&t, 20000, 5000, NULL, NULL); /* the forged ones time out */
	assert_int_equal(t.ndown, 4096);
	assert_int_equal(evc__peers_heartbeat(&t, "real", NULL, 20000, NULL), 1);
	assert_non_null(evc__peers_find(&t, "real"));
	assert_true(evc__peers_find(&t, "real")->up);
	assert_int_equal(t.n, 4096);
	assert_int_equal(t.evicted, 1);
	assert_null(evc__peers_find(&t, "forged-00000")); /* the oldest sighting went first */
	evc__peers_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_up_then_down_after_timeout),
		cmocka_unit_test(test_one_second_timeout),
		cmocka_unit_test(test_sorted_and_bounded),
		cmocka_unit_test(test_clock_going_backwards_is_not_a_timeout),
		cmocka_unit_test(test_full_table_evicts_oldest_down_first),
		cmocka_unit_test(test_refused_only_when_full_of_up_peers),
		cmocka_unit_test(test_down_count_follows_transitions),
		cmocka_unit_test(test_forged_flood_then_real_node),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
