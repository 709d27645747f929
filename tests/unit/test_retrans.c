/*
 * test_retrans.c -- v2 loss recovery (src/lib/retrans.c). Sender ring:
 * eviction by slots, bytes and age (each counted), retransmit holdoff, seqs
 * no longer held. Receiver gaps: NAK ranges for gaps, recovery by
 * retransmission, splitting a gap, NAK backoff and give-up -> loss report,
 * the start of an epoch (history requested only when the first seq is small
 * and the sender started after the receiver, judged from uptimes so that a
 * skewed clock neither causes needless NAKs nor hides loss),
 * tail loss noticed through the last-seq ANNOUNCE, oldest_seq giving up at
 * once, epoch change, the gap bounds. Time is passed in.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "v2.h"

/* ---------------------------------------------------------------- sender ring */

static void put(evc__v2_txring_t *t, uint64_t seq, size_t len, uint64_t now)
{
	uint8_t buf[2000];
	memset(buf, (int)(seq & 0xFF), sizeof(buf));
	assert_int_equal(evc__v2_txring_put(t, seq, buf, len, now), 0);
}

static void test_ring_evicts_by_bytes(void **state)
{
	(void)state;
	evc__v2_txring_t t;
	assert_int_equal(evc__v2_txring_init(&t, 10000, 3000, 64), 0);
	for (uint64_t s = 1; s <= 10; s++)
		put(&t, s, 1000, 0);
	assert_int_equal(t.bytes, 10000);
	assert_int_equal(t.evicted_bytes, 0);
	put(&t, 11, 1500, 0); /* needs 1500: the two oldest go */
	assert_int_equal(t.evicted_bytes, 2);
	assert_true(t.bytes <= 10000);
	uint64_t lo, hi;
	evc__v2_txring_span(&t, &lo, &hi);
	assert_int_equal(lo, 3);
	assert_int_equal(hi, 11);
	const uint8_t *d;
	size_t len;
	assert_int_equal(evc__v2_txring_rtx(&t, 2, 0, 10, &d, &len), EVCAST_ENOENT);
	assert_int_equal(evc__v2_txring_rtx(&t, 12, 0, 10, &d, &len), EVCAST_ENOENT);
	assert_int_equal(t.rtx_missing, 2);
	assert_int_equal(evc__v2_txring_rtx(&t, 11, 0, 10, &d, &len), 1);
	assert_int_equal(len, 1500);
	assert_int_equal(d[0], 11);
	uint8_t big[20000] = {0};
	assert_int_equal(evc__v2_txring_put(&t, 12, big, sizeof(big), 0), EVCAST_E2BIG);
	evc__v2_txring_free(&t);
}

static void test_ring_evicts_by_slots_and_age(void **state)
{
	(void)state;
	evc__v2_txring_t t;
	assert_int_equal(evc__v2_txring_init(&t, 1 << 20, 3000, 5), 0); /* rounded up to 8 slots */
	assert_int_equal(t.cap, 8);
	for (uint64_t s = 100; s < 110; s++)
		put(&t, s, 100, 1000 + s);
	assert_int_equal(t.evicted_slots, 2);
	assert_int_equal(t.n, 8);
	uint64_t lo, hi;
	evc__v2_txring_span(&t, &lo, &hi);
	assert_int_equal(lo, 102);
	assert_int_equal(hi, 109);
	/* age: datagrams sent at 1102..1109 expire after 3000 ms */
	evc__v2_txring_expire(&t, 4105);
	assert_int_equal(t.evicted_age, 3); /* 1102, 1103, 1104: older than 3000 ms */
	evc__v2_txring_span(&t, &lo, &hi);
	assert_int_equal(lo, 105);
	const uint8_t *d;
	size_t len;
	assert_int_equal(evc__v2_txring_rtx(&t, 104, 4105, 10, &d, &len), EVCAST_ENOENT);
	assert_int_equal(evc__v2_txring_rtx(&t, 105, 4105, 10, &d, &len), 1);
	assert_int_equal(d[0], 105);
	evc__v2_txring_expire(&t, 100000);
	assert_int_equal(t.n, 0);
	assert_int_equal(t.bytes, 0);
	evc__v2_txring_span(&t, &lo, &hi);
	assert_true(lo == 0 && hi == 0);
	/* a non-consecutive seq (new epoch) empties the ring instead of mixing */
	put(&t, 1, 100, 200000);
	put(&t, 2, 100, 200000);
	put(&t, 50, 100, 200000);
	evc__v2_txring_span(&t, &lo, &hi);
	assert_true(lo == 50 && hi == 50);
	evc__v2_txring_free(&t);
}

static void test_ring_holdoff(void **state)
{
	(void)state;
	evc__v2_txring_t t;
	const uint8_t *d;
	size_t len;
	assert_int_equal(evc__v2_txring_init(&t, 1 << 20, 3000, 64), 0);
	put(&t, 1, 100, 0);
	assert_int_equal(evc__v2_txring_rtx(&t, 1, 0, 10, &d, &len), 1);
	assert_int_equal(evc__v2_txring_rtx(&t, 1, 9, 10, &d, &len), 0); /* a second receiver's NAK */
	assert_int_equal(evc__v2_txring_rtx(&t, 1, 10, 10, &d, &len), 1);
	assert_int_equal(t.rtx_sent, 2);
	assert_int_equal(t.rtx_suppressed, 1);
	evc__v2_txring_free(&t);
}

/* ---------------------------------------------------------------- receiver gaps */

typedef struct losses {
	uint64_t epoch[16], first[16], last[16];
	int n;
} losses_t;

static void on_loss(void *ud, uint64_t epoch, uint64_t first, uint64_t last)
{
	losses_t *l = ud;
	assert_true(l->n < 16);
	l->epoch[l->n] = epoch;
	l->first[l->n] = first;
	l->last[l->n++] = last;
}

static void test_nak_for_gaps_and_recovery(void **state)
{
	(void)state;
	evc__v2_gaps_t g;
	losses_t l = {0};
	evc__v2_nak_t nak;
	evc__v2_gaps_init(&g, 5, 3000, 8, on_loss, &l);
	assert_int_equal(evc__v2_gaps_seen(&g, 7, 5010, 0), 0); /* first sighting: no history requested */
	assert_int_equal(evc__v2_gaps_poll(&g, 100, &nak), 0);
	assert_int_equal(evc__v2_gaps_seen(&g, 7, 5011, 0), 0);
	assert_int_equal(evc__v2_gaps_seen(&g, 7, 5015, 0), 0); /* 5012..5014 missing */
	assert_int_equal(evc__v2_gaps_seen(&g, 7, 5020, 1), 0); /* 5016..5019 missing */
	assert_int_equal(g.missing, 7);
	assert_int_equal(evc__v2_gaps_next_ms(&g), 5);
	assert_int_equal(evc__v2_gaps_poll(&g, 4, &nak), 0); /* reordering grace */
	assert_int_equal(evc__v2_gaps_poll(&g, 5, &nak), 1);
	assert_true(nak.ranges[0].first == 5012 && nak.ranges[0].count == 3);
	assert_int_equal(evc__v2_gaps_poll(&g, 6, &nak), 1); /* the first gap waits for its backoff */
	assert_true(nak.ranges[0].first == 5016 && nak.ranges[0].count == 4);
	/* retransmissions arrive: 13 splits the first gap, 12 and 14 close it */
	assert_int_equal(evc__v2_gaps_seen(&g, 7, 5013, 10), 1);
	assert_int_equal(g.ngaps, 3);
	assert_int_equal(evc__v2_gaps_seen(&g, 7, 5012, 10), 1);
	assert_int_equal(evc__v2_gaps_seen(&g, 7, 5014, 10), 1);
	assert_int_equal(evc__v2_gaps_seen(&g, 7, 5014, 10), -EVC_V2_R_LATE); /* not missing any more */
	assert_false(evc__v2_gaps_contains(&g, 7, 5014));
	assert_true(evc__v2_gaps_contains(&g, 7, 5017));
	assert_false(evc__v2_gaps_contains(&g, 6, 5017));
	assert_int_equal(g.ngaps, 1);
	assert_int_equal(g.recovered, 3);
	/* the second gap: NAKed again with backoff 20, 40, ... then lost */
	uint64_t now = 6;
	int naks = 1;
	while (g.ngaps) {
		now = evc__v2_gaps_next_ms(&g);
		if (evc__v2_gaps_poll(&g, now, &nak) > 0) {
			naks++;
			assert_true(nak.ranges[0].first == 5016 && nak.ranges[0].count == 4);
		}
	}
	assert_int_equal(naks, 8);
	assert_int_equal(l.n, 1);
	assert_true(l.epoch[0] == 7 && l.first[0] == 5016 && l.last[0] == 5019);
	assert_int_equal(g.lost, 4);
	assert_int_equal(g.missing, 0);
	/* NAKs at 6, 26, 66, 146, 306, 506, 706, 906; lost at the next due time */
	assert_int_equal(now, 1106);
	assert_int_equal(evc__v2_gaps_next_ms(&g), UINT64_MAX);
}

/* A sender's first datagram of an epoch with a small seq: it has just started,
 * so the seqs before it are requested (reordering or loss at start-up). */
static void test_start_of_epoch_history(void **state)
{
	(void)state;
	evc__v2_gaps_t g;
	evc__v2_nak_t nak;
	evc__v2_gaps_init(&g, 5, 3000, 8, NULL, NULL);
	assert_int_equal(evc__v2_gaps_seen(&g, 9, 3, 0), 0);
	assert_int_equal(g.missing, 2);
	assert_int_equal(evc__v2_gaps_seen(&g, 9, 1, 1), 1); /* reordered, still delivered */
	assert_int_equal(evc__v2_gaps_poll(&g, 10, &nak), 1);
	assert_true(nak.ranges[0].first == 2 && nak.ranges[0].count == 1);
	/* a late joiner (first seq beyond the start range) requests nothing */
	evc__v2_gaps_init(&g, 5, 3000, 8, NULL, NULL);
	assert_int_equal(evc__v2_gaps_seen(&g, 9, EVC_V2_START_GAP + 1, 0), 0);
	assert_int_equal(g.missing, 0);
	assert_int_equal(evc__v2_gaps_seen(&g, 9, EVC_V2_START_GAP, 0), -EVC_V2_R_LATE);
	/* the same through an ANNOUNCE */
	evc__v2_gaps_init(&g, 5, 3000, 8, NULL, NULL);
	evc__v2_announce_t a = {.last_seq = 4, .oldest_seq = 1};
	evc__v2_gaps_announce(&g, 9, &a, 0);
	assert_int_equal(g.missing, 4);
}

#define S_US 1000000ull
#define T0 (1800000000ull * S_US) /* a sender boots at T0 (real time) */

/* A late joiner whose clock is 5 s behind: it booted 2 s after the sender,
 * so by its own clock it booted 3 s before the sender's epoch. Comparing the
 * two boot epochs (two clocks) takes the sender for a newcomer and NAKs its
 * history; the uptimes (each on one clock) show it was up first. */
static void test_late_joiner_clock_behind(void **state)
{
	(void)state;
	evc__v2_gaps_t g;
	evc__v2_nak_t nak;
	const uint64_t skew = 5 * S_US, rx_boot = T0 + 2 * S_US;
	/* without the clock test: the needless gap (the behaviour fixed) */
	evc__v2_gaps_init(&g, 5, 3000, 8, NULL, NULL);
	g.own_epoch = rx_boot - skew;
	assert_int_equal(evc__v2_gaps_seen(&g, T0, 50, 0), 0);
	assert_int_equal(g.missing, 49);
	/* with it: seq 50 sent at T0 + 10 s (sender up 10 s), received here at
	 * T0 + 10 s - 5 s by our clock (we are up 8 s): no gap, no NAK */
	evc__v2_gaps_init(&g, 5, 3000, 8, NULL, NULL);
	g.own_epoch = rx_boot - skew;
	evc__v2_gaps_clock(&g, T0, T0 + 10 * S_US, T0 + 10 * S_US - skew + 300);
	assert_int_equal(evc__v2_gaps_seen(&g, T0, 50, 0), 0);
	assert_int_equal(g.missing, 0);
	assert_int_equal(evc__v2_gaps_poll(&g, 1000, &nak), 0);
	assert_int_equal(evc__v2_gaps_seen(&g, T0, 51, 1), 0);
	assert_int_equal(evc__v2_gaps_seen(&g, T0, 49, 1), -EVC_V2_R_LATE); /* before we listened */
	/* the same when an idle sender's ANNOUNCE is the first thing heard */
	evc__v2_gaps_init(&g, 5, 3000, 8, NULL, NULL);
	g.own_epoch = rx_boot - skew;
	evc__v2_gaps_clock(&g, T0, T0 + 10 * S_US, T0 + 10 * S_US - skew);
	evc__v2_announce_t a = {.last_seq = 50, .oldest_seq = 1};
	evc__v2_gaps_announce(&g, T0, &a, 0);
	assert_int_equal(g.missing, 0);
	assert_int_equal(evc__v2_gaps_poll(&g, 1000, &nak), 0);
	/* judged once per epoch: later datagrams do not change the verdict */
	evc__v2_gaps_clock(&g, T0, T0 + 11 * S_US, T0 + 20 * S_US);
	assert_true(g.clock_early);
}

/* The converse: our clock 5 s ahead, the sender booted 2 s after us. By the
 * epochs it booted 3 s before us (its first seqs would be silently missed);
 * by the uptimes it is the newcomer and its first seqs are requested. */
static void test_new_sender_clock_ahead(void **state)
{
	(void)state;
	evc__v2_gaps_t g;
	evc__v2_nak_t nak;
	const uint64_t skew = 5 * S_US, sender_boot = T0 + 2 * S_US;
	evc__v2_gaps_init(&g, 5, 3000, 8, NULL, NULL);
	g.own_epoch = T0 + skew;
	evc__v2_gaps_clock(&g, sender_boot, sender_boot + S_US / 2, sender_boot + S_US / 2 + skew + 200);
	assert_false(g.clock_early);
	assert_int_equal(evc__v2_gaps_seen(&g, sender_boot, 3, 0), 0);
	assert_int_equal(g.missing, 2);
	assert_int_equal(evc__v2_gaps_poll(&g, 5, &nak), 1);
	assert_true(nak.ranges[0].first == 1 && nak.ranges[0].count == 2);
	/* it restarts (new epoch, booted 1 s ago by its clock): judged again */
	evc__v2_gaps_clock(&g, sender_boot + 60 * S_US, sender_boot + 61 * S_US, sender_boot + 61 * S_US + skew);
	assert_false(g.clock_early);
	assert_int_equal(evc__v2_gaps_seen(&g, sender_boot + 60 * S_US, 2, 10), 0);
	assert_int_equal(g.missing, 1);
	/* an unknown own boot (0) keeps the old rule: history requested */
	evc__v2_gaps_init(&g, 5, 3000, 8, NULL, NULL);
	evc__v2_gaps_clock(&g, T0, T0 + 10 * S_US, T0);
	assert_false(g.clock_early);
	assert_int_equal(evc__v2_gaps_seen(&g, T0, 4, 0), 0);
	assert_int_equal(g.missing, 3);
}

static void test_give_up_by_age(void **state)
{
	(void)state;
	evc__v2_gaps_t g;
	losses_t l = {0};
	evc__v2_nak_t nak;
	evc__v2_gaps_init(&g, 5, 300, 100, on_loss, &l);
	evc__v2_gaps_seen(&g, 1, 1, 0);
	evc__v2_gaps_seen(&g, 1, 3, 0);
	assert_int_equal(evc__v2_gaps_poll(&g, 299, &nak), 1);
	assert_int_equal(evc__v2_gaps_poll(&g, 300, &nak), 0);
	assert_int_equal(l.n, 1);
	assert_true(l.first[0] == 2 && l.last[0] == 2);
}

static void test_tail_loss_via_announce(void **state)
{
	(void)state;
	evc__v2_gaps_t g;
	losses_t l = {0};
	evc__v2_nak_t nak;
	evc__v2_gaps_init(&g, 5, 3000, 8, on_loss, &l);
	evc__v2_gaps_seen(&g, 3, 1, 0);
	evc__v2_gaps_seen(&g, 3, 2, 0);
	/* 3..5 were sent and all lost: no later DATA shows the gap, the ANNOUNCE does */
	evc__v2_announce_t a = {.last_seq = 5, .oldest_seq = 1};
	evc__v2_gaps_announce(&g, 3, &a, 20);
	assert_int_equal(g.highest, 5);
	assert_int_equal(evc__v2_gaps_poll(&g, 25, &nak), 1);
	assert_true(nak.ranges[0].first == 3 && nak.ranges[0].count == 3);
	/* a repeated or reordered ANNOUNCE changes nothing */
	evc__v2_gaps_announce(&g, 3, &a, 30);
	a.last_seq = 4;
	evc__v2_gaps_announce(&g, 3, &a, 30);
	assert_int_equal(g.ngaps, 1);
	assert_int_equal(g.missing, 3);
	/* the sender's ring moved past 3 and 4: they are lost at once, 5 still wanted */
	a.last_seq = 5;
	a.oldest_seq = 5;
	evc__v2_gaps_announce(&g, 3, &a, 40);
	assert_int_equal(l.n, 1);
	assert_true(l.first[0] == 3 && l.last[0] == 4);
	assert_int_equal(g.missing, 1);
	assert_int_equal(evc__v2_gaps_seen(&g, 3, 5, 41), 1);
	assert_int_equal(g.ngaps, 0);
	/* an empty ring (oldest 0) with a new tail: all of it lost without a NAK */
	a.last_seq = 8;
	a.oldest_seq = 0;
	evc__v2_gaps_announce(&g, 3, &a, 50);
	assert_int_equal(l.n, 2);
	assert_true(l.first[1] == 6 && l.last[1] == 8);
	assert_int_equal(evc__v2_gaps_poll(&g, 1000, &nak), 0);
	/* an ANNOUNCE from a sender never heard sets the start, requests nothing */
	evc__v2_gaps_t g2;
	evc__v2_gaps_init(&g2, 5, 3000, 8, NULL, NULL);
	a.last_seq = 100000;
	a.oldest_seq = 90000;
	evc__v2_gaps_announce(&g2, 3, &a, 0);
	assert_int_equal(g2.highest, 100000);
	assert_int_equal(g2.ngaps, 0);
	evc__v2_gaps_seen(&g2, 3, 100002, 1);
	assert_int_equal(g2.missing, 1);
}

static void test_epoch_change_and_bounds(void **state)
{
	(void)state;
	evc__v2_gaps_t g;
	losses_t l = {0};
	evc__v2_gaps_init(&g, 5, 3000, 8, on_loss, &l);
	evc__v2_gaps_seen(&g, 1, 1, 0);
	evc__v2_gaps_seen(&g, 1, 10, 0);
	/* the sender restarts: the old epoch's gap is reported lost */
	evc__v2_gaps_seen(&g, 2, 1, 5);
	assert_int_equal(l.n, 1);
	assert_true(l.epoch[0] == 1 && l.first[0] == 2 && l.last[0] == 9);
	assert_int_equal(g.epoch, 2);
	assert_int_equal(g.ngaps, 0);
	/* an old-epoch straggler is ignored */
	assert_int_equal(evc__v2_gaps_seen(&g, 1, 11, 5), 0);
	assert_int_equal(g.highest, 1);
	/* 64 gaps at most: the 65th pushes the oldest out as lost */
	uint64_t s = 1;
	for (int i = 0; i < EVC_V2_MAX_GAPS + 1; i++) {
		s += 2;
		evc__v2_gaps_seen(&g, 2, s, 6);
	}
	assert_int_equal(g.ngaps, EVC_V2_MAX_GAPS);
	assert_int_equal(g.overflow, 1);
	assert_int_equal(l.n, 2);
	assert_true(l.first[1] == 2 && l.last[1] == 2);
	/* splitting a gap while full also keeps the bound */
	evc__v2_gaps_seen(&g, 2, s + 10, 7); /* gap of 9: full again, one more lost */
	evc__v2_gaps_seen(&g, 2, s + 5, 7);  /* splits it */
	assert_int_equal(g.ngaps, EVC_V2_MAX_GAPS);
	/* a huge jump: only the newest 65536 are tracked, the rest lost at once */
	evc__v2_gaps_t h;
	losses_t l2 = {0};
	evc__v2_gaps_init(&h, 5, 3000, 8, on_loss, &l2);
	evc__v2_gaps_seen(&h, 1, 1, 0);
	evc__v2_gaps_seen(&h, 1, 100000, 0);
	assert_int_equal(h.missing, EVC_V2_MAX_MISSING);
	assert_int_equal(l2.n, 1);
	assert_true(l2.first[0] == 2 && l2.last[0] == 99998 - EVC_V2_MAX_MISSING + 1);
	assert_int_equal(h.lost + h.missing, 99998);
	evc__v2_nak_t nak;
	assert_int_equal(evc__v2_gaps_poll(&h, 5, &nak), 1);
	assert_int_equal(nak.ranges[0].count, EVC_V2_MAX_MISSING);
	/* the NAK it produced encodes and decodes */
	uint8_t buf[1024];
	memset(nak.target_node, 1, 16);
	nak.target_epoch = 1;
	int len = evc__v2_nak_encode(&nak, buf, sizeof(buf));
	evc__v2_nak_t back;
	assert_int_equal(evc__v2_nak_decode(buf, (size_t)len, &back), 0);
	assert_int_equal(back.ranges[0].first, nak.ranges[0].first);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_evicts_by_bytes),
		cmocka_unit_test(test_ring_evicts_by_slots_and_age),
		cmocka_unit_test(test_ring_holdoff),
		cmocka_unit_test(test_nak_for_gaps_and_recovery),
		cmocka_unit_test(test_start_of_epoch_history),
		cmocka_unit_test(test_late_joiner_clock_behind),
		cmocka_unit_test(test_new_sender_clock_ahead),
		cmocka_unit_test(test_give_up_by_age),
		cmocka_unit_test(test_tail_loss_via_announce),
		cmocka_unit_test(test_epoch_change_and_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
