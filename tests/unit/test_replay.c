/*
 * test_replay.c -- v2 replay window (src/lib/replay.c): window edges (8191
 * behind accepted, 8192 behind too old), duplicates, out-of-order inside the
 * window, a retransmission 5000 seqs late accepted once, far-ahead jumps and
 * ring turns, epoch restart and old epochs, control sequence,
 * timestamp skew, check() never mutates, the sender table bound and the
 * forgetting of idle senders. Time is passed in.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "v2.h"

#define NOW 1800000000000000ull
#define SKEW 10000000ull /* 10 s */
#define W ((uint64_t)EVC_V2_WINDOW)
#define RING ((uint64_t)EVC_V2_WINDOW_WORDS * 64) /* bits in the ring */

static evc__v2_hdr_t H(uint8_t node, uint64_t epoch, uint64_t seq)
{
	evc__v2_hdr_t h;
	memset(&h, 0, sizeof(h));
	h.type = (seq & EVC_V2_CTL_BIT) ? EVC_V2_ANNOUNCE : EVC_V2_DATA;
	h.node_id[0] = node;
	h.node_id[15] = 0xEE;
	h.epoch = epoch;
	h.seq = seq;
	h.ts_us = NOW;
	return h;
}

/* check then commit, as the receive path does; returns the check's verdict */
static int rx(evc__v2_replay_t *r, uint8_t node, uint64_t epoch, uint64_t seq)
{
	evc__v2_hdr_t h = H(node, epoch, seq);
	int rc = evc__v2_replay_check(r, &h, NOW);
	if (rc == 0)
		assert_int_equal(evc__v2_replay_commit(r, &h, NOW, NULL), 0);
	return rc;
}

static void test_window_edges(void **state)
{
	(void)state;
	evc__v2_replay_t r;
	const uint64_t top = W + 2000;
	assert_int_equal(W, 8192);
	assert_int_equal(evc__v2_replay_init(&r, 16, SKEW), 0);
	assert_int_equal(rx(&r, 1, 5, top), 0);
	assert_int_equal(rx(&r, 1, 5, top - (W - 1)), 0);          /* last slot of the window */
	assert_int_equal(rx(&r, 1, 5, top - W), -EVC_V2_R_TOO_OLD); /* just outside */
	assert_int_equal(rx(&r, 1, 5, 1), -EVC_V2_R_TOO_OLD);
	assert_int_equal(rx(&r, 1, 5, top), -EVC_V2_R_DUPLICATE);
	assert_int_equal(rx(&r, 1, 5, top - (W - 1)), -EVC_V2_R_DUPLICATE);
	/* every seq in the window not yet seen is accepted once, in any order */
	for (uint64_t s = top - 1; s > top - (W - 1); s -= 3)
		assert_int_equal(rx(&r, 1, 5, s), 0);
	for (uint64_t s = top - 1; s > top - (W - 1); s -= 3)
		assert_int_equal(rx(&r, 1, 5, s), -EVC_V2_R_DUPLICATE);
	/* slide by one: top - (W - 1) falls out */
	assert_int_equal(rx(&r, 1, 5, top + 1), 0);
	assert_int_equal(rx(&r, 1, 5, top - (W - 1)), -EVC_V2_R_TOO_OLD);
	assert_int_equal(rx(&r, 1, 5, top + 1 - (W - 1)), 0);
	/* slides across word and ring boundaries keep exact answers */
	for (uint64_t s = top + 2; s < top + 2 + 3 * RING; s++) {
		assert_int_equal(rx(&r, 1, 5, s), 0);
		if (s % 7 == 0 && s - 1000 >= top + 2)
			assert_int_equal(rx(&r, 1, 5, s - 1000), -EVC_V2_R_DUPLICATE);
		if (s % 11 == 0)
			assert_int_equal(rx(&r, 1, 5, s - W), -EVC_V2_R_TOO_OLD);
	}
	evc__v2_replay_free(&r);
}

/* Overload: a datagram lost, NAKed and retransmitted while the sender moved
 * on by 5000 seqs. The repair is accepted exactly once; a replay of it (or a
 * second retransmission) is a duplicate, also after the window slid further
 * as long as it is inside, and too old after. */
static void test_late_retransmission(void **state)
{
	(void)state;
	evc__v2_replay_t r;
	assert_int_equal(evc__v2_replay_init(&r, 16, SKEW), 0);
	for (uint64_t s = 1; s <= 10000; s++)
		if (s != 4000)
			assert_int_equal(rx(&r, 6, 3, s), 0);
	/* 10000 - 4000 = 6000 behind the top: inside the 8192 window */
	assert_int_equal(rx(&r, 6, 3, 4000), 0);
	assert_int_equal(rx(&r, 6, 3, 4000), -EVC_V2_R_DUPLICATE);
	/* the window slides on: still a duplicate while inside, then too old */
	for (uint64_t s = 10001; s <= 4000 + W - 1; s++)
		assert_int_equal(rx(&r, 6, 3, s), 0);
	assert_int_equal(rx(&r, 6, 3, 4000), -EVC_V2_R_DUPLICATE);
	assert_int_equal(rx(&r, 6, 3, 4000 + W), 0);
	assert_int_equal(rx(&r, 6, 3, 4000), -EVC_V2_R_TOO_OLD);
	/* 5000 late exactly: a seq skipped, the sender 5000 ahead, then the repair */
	for (uint64_t s = 4000 + W + 1; s <= 4000 + W + 5000; s++)
		if (s != 4000 + W + 1)
			assert_int_equal(rx(&r, 6, 3, s), 0);
	assert_int_equal(rx(&r, 6, 3, 4000 + W + 5001), 0);
	assert_int_equal(rx(&r, 6, 3, 4000 + W + 1), 0);
	assert_int_equal(rx(&r, 6, 3, 4000 + W + 1), -EVC_V2_R_DUPLICATE);
	evc__v2_replay_free(&r);
}

static void test_out_of_order_and_far_ahead(void **state)
{
	(void)state;
	evc__v2_replay_t r;
	assert_int_equal(evc__v2_replay_init(&r, 16, SKEW), 0);
	assert_int_equal(rx(&r, 2, 9, 10), 0);
	assert_int_equal(rx(&r, 2, 9, 12), 0);
	assert_int_equal(rx(&r, 2, 9, 11), 0); /* late, still in the window */
	assert_int_equal(rx(&r, 2, 9, 11), -EVC_V2_R_DUPLICATE);
	/* far ahead: accepted, the window jumps and everything before it is old */
	assert_int_equal(rx(&r, 2, 9, 1000000), 0);
	assert_int_equal(r.jumps, 1);
	assert_int_equal(rx(&r, 2, 9, 12), -EVC_V2_R_TOO_OLD);
	assert_int_equal(rx(&r, 2, 9, 1000000 - 1), 0);  /* stale bits of the ring were cleared */
	assert_int_equal(rx(&r, 2, 9, 1000000 - RING), -EVC_V2_R_TOO_OLD);
	assert_int_equal(rx(&r, 2, 9, 1000000 - 64), 0);
	assert_int_equal(rx(&r, 2, 9, 1000000 - (W - 1)), 0);
	/* a jump of exactly one ring turn does not resurrect old bits */
	assert_int_equal(rx(&r, 2, 9, 1000000 + RING), 0);
	assert_int_equal(rx(&r, 2, 9, 1000000 + RING - 64), 0);
	assert_int_equal(rx(&r, 2, 9, 1000000 + RING - 1), 0);
	assert_int_equal(rx(&r, 2, 9, 1000000 + RING - (W - 1)), 0);
	evc__v2_replay_free(&r);
}

static void test_epochs(void **state)
{
	(void)state;
	evc__v2_replay_t r;
	bool restart = true;
	assert_int_equal(evc__v2_replay_init(&r, 16, SKEW), 0);
	evc__v2_hdr_t h = H(3, 100, 50);
	assert_int_equal(evc__v2_replay_commit(&r, &h, NOW, &restart), 0);
	assert_false(restart); /* first sighting is not a restart */
	/* the sender reboots: new epoch, sequence starts again at 1 */
	h = H(3, 200, 1);
	assert_int_equal(evc__v2_replay_check(&r, &h, NOW), 0);
	assert_int_equal(evc__v2_replay_commit(&r, &h, NOW, &restart), 0);
	assert_true(restart);
	assert_int_equal(r.epoch_restarts, 1);
	assert_int_equal(rx(&r, 3, 200, 1), -EVC_V2_R_DUPLICATE);
	assert_int_equal(rx(&r, 3, 200, 2), 0);
	/* the old boot's datagrams are now refused, even unseen sequence numbers */
	assert_int_equal(rx(&r, 3, 100, 50), -EVC_V2_R_OLD_EPOCH);
	assert_int_equal(rx(&r, 3, 100, 51), -EVC_V2_R_OLD_EPOCH);
	/* senders are independent */
	assert_int_equal(rx(&r, 4, 100, 50), 0);
	assert_int_equal(rx(&r, 4, 100, 50), -EVC_V2_R_DUPLICATE);
	evc__v2_replay_free(&r);
}

static void test_check_does_not_mutate(void **state)
{
	(void)state;
	evc__v2_replay_t r;
	assert_int_equal(evc__v2_replay_init(&r, 16, SKEW), 0);
	evc__v2_hdr_t h = H(5, 10, 7);
	assert_int_equal(evc__v2_replay_check(&r, &h, NOW), 0);
	assert_int_equal(evc__v2_replay_check(&r, &h, NOW), 0); /* not recorded: a forgery cannot move it */
	assert_int_equal(r.n, 0);
	assert_int_equal(evc__v2_replay_commit(&r, &h, NOW, NULL), 0);
	/* a forged higher epoch that fails authentication never resets the window */
	evc__v2_hdr_t f = H(5, 11, 1);
	assert_int_equal(evc__v2_replay_check(&r, &f, NOW), 0);
	assert_int_equal(evc__v2_replay_check(&r, &h, NOW), -EVC_V2_R_DUPLICATE);
	/* commit on its own re-checks */
	assert_int_equal(evc__v2_replay_commit(&r, &h, NOW, NULL), -EVC_V2_R_DUPLICATE);
	evc__v2_replay_free(&r);
}

static void test_control_and_skew(void **state)
{
	(void)state;
	evc__v2_replay_t r;
	assert_int_equal(evc__v2_replay_init(&r, 16, SKEW), 0);
	assert_int_equal(rx(&r, 6, 10, EVC_V2_CTL_BIT | 5), 0);
	assert_int_equal(rx(&r, 6, 10, EVC_V2_CTL_BIT | 5), -EVC_V2_R_REPLAY);
	assert_int_equal(rx(&r, 6, 10, EVC_V2_CTL_BIT | 4), -EVC_V2_R_REPLAY);
	assert_int_equal(rx(&r, 6, 10, EVC_V2_CTL_BIT | 9), 0);
	assert_int_equal(rx(&r, 6, 10, 5), 0); /* data space is separate */
	evc__v2_hdr_t h = H(6, 10, 6);
	h.ts_us = NOW - SKEW;
	assert_int_equal(evc__v2_replay_check(&r, &h, NOW), 0); /* exactly at the bound */
	h.ts_us = NOW - SKEW - 1;
	assert_int_equal(evc__v2_replay_check(&r, &h, NOW), -EVC_V2_R_SKEW);
	h.ts_us = NOW + SKEW + 1;
	assert_int_equal(evc__v2_replay_check(&r, &h, NOW), -EVC_V2_R_SKEW);
	h = H(99, 10, 1); /* unknown sender too */
	h.ts_us = NOW + SKEW + 1;
	assert_int_equal(evc__v2_replay_check(&r, &h, NOW), -EVC_V2_R_SKEW);
	evc__v2_replay_free(&r);
}

static void test_sender_bound(void **state)
{
	(void)state;
	evc__v2_replay_t r;
	assert_int_equal(evc__v2_replay_init(&r, 4, SKEW), 0);
	for (uint8_t n = 10; n < 14; n++)
		assert_int_equal(rx(&r, n, 1, 1), 0);
	/* full of senders heard just now: a fifth is refused and counted */
	evc__v2_hdr_t h = H(20, 1, 1);
	assert_int_equal(evc__v2_replay_check(&r, &h, NOW), -EVC_V2_R_SENDERS_FULL);
	assert_int_equal(evc__v2_replay_commit(&r, &h, NOW, NULL), -EVC_V2_R_SENDERS_FULL);
	assert_int_equal(r.refused, 1);
	/* known senders keep working */
	assert_int_equal(rx(&r, 11, 1, 2), 0);
	/* later than the skew bound, an idle sender may be forgotten */
	uint64_t later = NOW + SKEW + 1;
	h.ts_us = later;
	assert_int_equal(evc__v2_replay_check(&r, &h, later), 0);
	assert_int_equal(evc__v2_replay_commit(&r, &h, later, NULL), 0);
	assert_int_equal(r.forgotten, 1);
	assert_int_equal(r.n, 4);
	/* the table stays sorted and searchable */
	h = H(20, 1, 1);
	h.ts_us = later;
	assert_int_equal(evc__v2_replay_check(&r, &h, later), -EVC_V2_R_DUPLICATE);
	evc__v2_replay_free(&r);
	assert_int_equal(evc__v2_replay_init(&r, 0, SKEW), EVCAST_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_edges),	     cmocka_unit_test(test_late_retransmission),
		cmocka_unit_test(test_out_of_order_and_far_ahead),
		cmocka_unit_test(test_epochs),		     cmocka_unit_test(test_check_does_not_mutate),
		cmocka_unit_test(test_control_and_skew), cmocka_unit_test(test_sender_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
