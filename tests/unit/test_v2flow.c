/*
 * test_v2flow.c -- v2 receiver-driven flow control (src/lib/v2flow.c and its
 * use in src/lib/v2proto.c, docs/PROTOCOL.md 14), in virtual time over a
 * simulated network with per-direction delays and drop rules (no sockets):
 * the set's arithmetic (join, bound, stale reports, silence, max-lag and
 * rejoin); a sender that blocks when a held receiver's window is used up
 * and opens on its STATUS; the retransmit ring keeping what a member has not
 * confirmed past its age; a silent member leaving; max-lag dropping a
 * member; receivers without the feature ignored; hold/release delivering in
 * order with a STATUS at once; the params flow-control, max-lag, fc-window.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "v2.h"
#include "v2conf.h"

/* ---------------------------------------------------------------- network */

#define NODES 3
#define QMAX 200000
typedef struct pkt {
	uint64_t at;
	int src, dst;
	size_t len;
	uint8_t *data;
} pkt_t;

static pkt_t q[QMAX];
static size_t nq;
static uint64_t now_us;
static uint64_t delay_us[NODES][NODES]; /* src -> dst; 0 = 50 us */
static bool cut[NODES];                 /* everything from this node is lost */
static uint64_t drop_data_seq[NODES];   /* first transmission of this DATA seq to dst is lost */
static bool dropped_once[NODES];

static void transmit(int src, int dst, const uint8_t *buf, size_t len)
{
	if (cut[src])
		return;
	if (buf[5] == EVC_V2_DATA && drop_data_seq[dst] && !dropped_once[dst]) {
		uint64_t seq = 0;
		for (int i = 0; i < 8; i++)
			seq = seq << 8 | buf[36 + i];
		if (seq == drop_data_seq[dst]) {
			dropped_once[dst] = true;
			return;
		}
	}
	assert_true(nq < QMAX);
	pkt_t p = {.at = now_us + (delay_us[src][dst] ? delay_us[src][dst] : 50), .src = src, .dst = dst, .len = len};
	p.data = malloc(len);
	assert_non_null(p.data);
	memcpy(p.data, buf, len);
	size_t i = nq++; /* sorted by time, FIFO among equals */
	while (i > 0 && q[i - 1].at > p.at) {
		q[i] = q[i - 1];
		i--;
	}
	q[i] = p;
}

typedef struct node {
	int idx;
	evc__v2_ep_t *ep;
	struct sockaddr_in addr;
	uint64_t delivered, disorder, last, losses;
	unsigned writable_cbs, dropped_cbs;
	uint8_t dropped_id[16];
} node_t;

static node_t nodes[NODES];
static int nnodes;

static void send_group(void *ud, const uint8_t *buf, size_t len)
{
	node_t *self = ud;
	for (int i = 0; i < nnodes; i++)
		if (i != self->idx)
			transmit(self->idx, i, buf, len);
}

static void send_to(void *ud, const uint8_t *buf, size_t len, const struct sockaddr *to)
{
	node_t *self = ud;
	transmit(self->idx, (int)ntohs(((const struct sockaddr_in *)to)->sin_port) - 4000, buf, len);
}

static void deliver(void *ud, const uint8_t node_id[16], uint64_t epoch, bool auth, const uint8_t *text, size_t len)
{
	node_t *self = ud;
	unsigned long n = 0;
	char head[64];
	size_t hl = len < sizeof(head) - 1 ? len : sizeof(head) - 1;
	memcpy(head, text, hl);
	head[hl] = '\0';
	assert_int_equal(sscanf(head, "Seq: %lu\n", &n), 1);
	if (self->delivered && n != self->last + 1)
		self->disorder++;
	self->last = n;
	self->delivered++;
}

static void on_loss(void *ud, const uint8_t node_id[16], uint64_t epoch, uint64_t first, uint64_t last)
{
	((node_t *)ud)->losses += last - first + 1;
}

static void on_writable(void *ud) { ((node_t *)ud)->writable_cbs++; }

static void on_dropped(void *ud, const uint8_t id[16], uint64_t delivered, uint64_t sent, uint64_t lag_ms)
{
	node_t *self = ud;
	self->dropped_cbs++;
	memcpy(self->dropped_id, id, 16);
	assert_true(delivered < sent);
}

static evc__v2_keyring_t *keys; /* NULL: plaintext v2 */

/* cfgs: per node (NULL: defaults) */
static void setup(int count, const evc__v2_ep_cfg_t *cfgs)
{
	memset(nodes, 0, sizeof(nodes));
	memset(delay_us, 0, sizeof(delay_us));
	memset(cut, 0, sizeof(cut));
	memset(drop_data_seq, 0, sizeof(drop_data_seq));
	memset(dropped_once, 0, sizeof(dropped_once));
	nq = 0;
	nnodes = count;
	now_us = 2000000;
	for (int i = 0; i < count; i++) {
		evc__v2_ep_cfg_t c;
		if (cfgs)
			c = cfgs[i];
		else
			evc__v2_ep_cfg_default(&c);
		memset(c.node_id, 0x70, 16);
		c.node_id[0] = (uint8_t)(i + 1);
		c.epoch = 1000000;
		evc__v2_ep_cbs_t cbs = {send_group, send_to, deliver, on_loss, &nodes[i]};
		evc__v2_ep_fc_cbs_t fcb = {on_writable, on_dropped, &nodes[i]};
		nodes[i].idx = i;
		nodes[i].addr.sin_family = AF_INET;
		nodes[i].addr.sin_port = htons((uint16_t)(4000 + i));
		assert_int_equal(evc__v2_ep_new(&c, keys, &cbs, &nodes[i].ep), 0);
		evc__v2_ep_set_fc_cbs(nodes[i].ep, &fcb);
	}
}

static void teardown(void)
{
	for (int i = 0; i < nnodes; i++)
		evc__v2_ep_free(nodes[i].ep);
	for (size_t i = 0; i < nq; i++)
		free(q[i].data);
	nq = 0;
}

static void run_until(uint64_t until)
{
	while (now_us < until) {
		uint64_t step = now_us + 250;
		while (nq && q[0].at <= step) {
			pkt_t p = q[0];
			memmove(q, q + 1, (nq - 1) * sizeof(*q));
			nq--;
			if (p.at > now_us)
				now_us = p.at;
			evc__v2_ep_recv(nodes[p.dst].ep, p.data, p.len, (const struct sockaddr *)&nodes[p.src].addr,
					now_us);
			free(p.data);
		}
		now_us = step;
		for (int i = 0; i < nnodes; i++)
			evc__v2_ep_poll(nodes[i].ep, now_us);
	}
}

/* One event per datagram (pad ~1200 bytes), flushed at once. */
static void send_one(int from, unsigned long n)
{
	char ev[1400];
	int h = snprintf(ev, sizeof(ev), "Seq: %lu\nPad: ", n);
	size_t len = (size_t)h;
	while (len < 1200)
		ev[len++] = 'x';
	ev[len++] = '\n';
	ev[len++] = '\n';
	assert_int_equal(evc__v2_ep_send(nodes[from].ep, ev, len, now_us), 0);
	evc__v2_ep_flush(nodes[from].ep, now_us);
}

static evc__v2_ep_stats_t stats(int i)
{
	evc__v2_ep_stats_t s;
	evc__v2_ep_stats(nodes[i].ep, &s);
	return s;
}

/* Node 1 (and 2) learn that node 0 takes STATUS (its HEARTBEAT would say so). */
static void warm_up(int receivers)
{
	send_one(0, 0);
	run_until(now_us + 2000);
	uint8_t id0[16];
	memset(id0, 0x70, sizeof(id0));
	id0[0] = 1; /* node 0's id (setup) */
	for (int r = 1; r <= receivers; r++)
		evc__v2_ep_peer_fc(nodes[r].ep, id0);
	run_until(now_us + 200000); /* a periodic STATUS makes them members */
	/* the sender has heard each receiver's HEARTBEAT at its address, so it
	 * answers their NAKs (v2guard.c: plaintext NAKs only from known peers) */
	for (int r = 1; r <= receivers; r++) {
		uint8_t idr[16];
		memset(idr, 0x70, sizeof(idr));
		idr[0] = (uint8_t)(r + 1);
		evc__v2_ep_heard_heartbeat(nodes[0].ep, idr, (const struct sockaddr *)&nodes[r].addr);
	}
}

/* ---------------------------------------------------------------- the set */

static void test_set_arithmetic(void **state)
{
	(void)state;
	evc__v2_fc_t fc;
	uint8_t a[16] = {1}, b[16] = {2}, c[16] = {3};
	assert_int_equal(evc__v2_fc_init(&fc, 2, 1000, 500), 0);
	assert_true(evc__v2_fc_limit(&fc) == UINT64_MAX && evc__v2_fc_confirmed(&fc) == UINT64_MAX);
	assert_int_equal(evc__v2_fc_status(&fc, a, 7, 10, 100, 50, 0), 1);
	assert_int_equal(evc__v2_fc_status(&fc, b, 7, 20, 30, 50, 0), 1); /* its window stops the sender */
	assert_int_equal(evc__v2_fc_status(&fc, c, 7, 20, 100, 50, 0), EVCAST_E2BIG); /* bound */
	assert_int_equal(fc.full, 1);
	assert_true(evc__v2_fc_limit(&fc) == 50 && evc__v2_fc_confirmed(&fc) == 10);
	assert_int_equal(evc__v2_fc_status(&fc, a, 7, 5, 100, 50, 10), 0); /* older report: ignored */
	assert_true(evc__v2_fc_confirmed(&fc) == 10);
	assert_int_equal(evc__v2_fc_status(&fc, a, 7, 900, 100, 50, 10), 0); /* beyond sent: clamped */
	assert_true(evc__v2_fc_confirmed(&fc) == 20 && evc__v2_fc_limit(&fc) == 50);
	/* b holds the window (limit 50, 50 sent): dropped after 500 ms, rejoins past 50 */
	assert_int_equal(evc__v2_fc_sweep(&fc, 50, 400, NULL, NULL), 0);
	assert_true(evc__v2_fc_next_ms(&fc, 50) == 501);
	assert_int_equal(evc__v2_fc_status(&fc, a, 7, 50, 100, 50, 450), 0); /* a caught up */
	assert_int_equal(evc__v2_fc_sweep(&fc, 50, 501, NULL, NULL), 1);
	assert_int_equal(fc.dropped, 1);
	assert_int_equal(evc__v2_fc_count(&fc), 1);
	assert_true(evc__v2_fc_confirmed(&fc) == 50);
	assert_int_equal(evc__v2_fc_status(&fc, b, 7, 40, 100, 60, 600), 0);
	assert_int_equal(evc__v2_fc_count(&fc), 1); /* still out: 40 < 50 */
	assert_int_equal(evc__v2_fc_status(&fc, b, 7, 55, 100, 60, 650), 0);
	assert_int_equal(evc__v2_fc_count(&fc), 2);
	/* a receiver restart (another epoch of it) starts its report again */
	assert_int_equal(evc__v2_fc_status(&fc, a, 8, 30, 100, 60, 700), 0);
	assert_true(evc__v2_fc_confirmed(&fc) == 30);
	/* silence: both leave after 1000 ms */
	assert_int_equal(evc__v2_fc_sweep(&fc, 60, 1701, NULL, NULL), 2);
	assert_int_equal(fc.left, 2);
	assert_int_equal(fc.n, 0);
	assert_true(evc__v2_fc_next_ms(&fc, 60) == UINT64_MAX);
	evc__v2_fc_free(&fc);
	/* the receiver's side: due first, then by time or by a quarter */
	evc__v2_fcrx_t r = {.capable = true};
	assert_true(evc__v2_fcrx_due(&r, 10, 100, 100, 0));
	r.data_ms = 0;
	evc__v2_fcrx_sent(&r, 10, 100, 100, 0);
	assert_false(evc__v2_fcrx_due(&r, 34, 100, 100, 50));
	assert_true(evc__v2_fcrx_due(&r, 35, 100, 100, 50));
	assert_true(evc__v2_fcrx_due(&r, 10, 100, 100, 100));
	evc__v2_fcrx_sent(&r, 10, 50, 100, 100);
	assert_true(evc__v2_fcrx_due(&r, 10, 75, 100, 101)); /* opened by a quarter */
	r.capable = false;
	assert_false(evc__v2_fcrx_due(&r, 1000, 100, 100, 5000));
}

/* ---------------------------------------------------------------- endpoint */

static void test_blocks_when_exhausted_opens_on_status(void **state)
{
	(void)state;
	evc__v2_ep_cfg_t c[2];
	for (int i = 0; i < 2; i++) {
		evc__v2_ep_cfg_default(&c[i]);
		c[i].fc_window = 64;
	}
	setup(2, c);
	warm_up(1);
	assert_int_equal(stats(0).fc_receivers, 1);
	assert_true(stats(1).status_tx >= 1);
	assert_true(evc__v2_ep_writable(nodes[0].ep));
	/* the receiver's consumer holds: its window stays where it was reported */
	evc__v2_ep_rx_hold(nodes[1].ep, true, now_us);
	unsigned long n = 1;
	while (evc__v2_ep_writable(nodes[0].ep) && n < 1000) {
		send_one(0, n++);
		run_until(now_us + 100);
	}
	assert_true(n <= 66); /* about the window: 1 + 64 */
	assert_int_equal(stats(0).fc_blocked, 1);
	assert_int_equal(stats(0).fc_overdraft, 0);
	run_until(now_us + 300000);
	assert_false(evc__v2_ep_writable(nodes[0].ep)); /* the periodic STATUS does not open it */
	assert_int_equal(nodes[1].delivered, 1);
	/* release: delivered in order, STATUS at once, the sender writable again */
	uint64_t tx = stats(1).status_tx;
	evc__v2_ep_rx_hold(nodes[1].ep, false, now_us);
	assert_int_equal(stats(1).status_tx, tx + 1);
	assert_int_equal(nodes[1].delivered, n);
	assert_int_equal(nodes[1].disorder, 0);
	run_until(now_us + 1000);
	assert_true(evc__v2_ep_writable(nodes[0].ep));
	assert_int_equal(nodes[0].writable_cbs, 1);
	/* firing past the window anyway is counted as overdraft, and still delivered */
	evc__v2_ep_rx_hold(nodes[1].ep, true, now_us);
	unsigned long first = n;
	for (; n < first + 100; n++)
		send_one(0, n);
	assert_true(stats(0).fc_overdraft >= 30);
	evc__v2_ep_rx_hold(nodes[1].ep, false, now_us);
	run_until(now_us + 50000);
	assert_int_equal(nodes[1].delivered, n);
	assert_int_equal(nodes[1].disorder, 0);
	assert_int_equal(stats(1).lost, 0);
	teardown();
}

/* The sender's ring keeps past its age what a member has not confirmed:
 * a NAK arriving late (300 ms, age 100 ms) is still answered. Without flow
 * control the same datagram is gone. */
static void ring_keeps_unconfirmed(bool fc)
{
	evc__v2_ep_cfg_t c[2];
	for (int i = 0; i < 2; i++) {
		evc__v2_ep_cfg_default(&c[i]);
		c[i].fc = fc;
	}
	c[0].rtx_age_ms = 100;  /* the sender's ring age */
	c[1].rtx_age_ms = 3000; /* the receiver's patience */
	setup(2, c);
	warm_up(1);
	assert_int_equal(stats(0).fc_receivers, fc ? 1 : 0);
	delay_us[1][0] = 300000; /* the receiver's NAKs (and STATUS) arrive late */
	drop_data_seq[1] = 4;
	for (unsigned long n = 1; n < 10; n++)
		send_one(0, n);
	run_until(now_us + 4000000);
	assert_true(dropped_once[1]);
	if (fc) {
		assert_int_equal(nodes[1].delivered, 10);
		assert_int_equal(stats(1).lost, 0);
		assert_int_equal(nodes[1].disorder, 0);
		assert_true(stats(0).tx_rtx >= 1);
	} else {
		assert_true(stats(1).lost >= 1); /* evicted by age before the NAK came */
		assert_int_equal(nodes[1].delivered, 9);
	}
	teardown();
}

static void test_never_evicts_unconfirmed(void **state)
{
	(void)state;
	ring_keeps_unconfirmed(true);
	ring_keeps_unconfirmed(false);
}

static void test_silent_member_leaves(void **state)
{
	(void)state;
	evc__v2_ep_cfg_t c[3];
	for (int i = 0; i < 3; i++) {
		evc__v2_ep_cfg_default(&c[i]);
		c[i].fc_window = 32;
		c[i].fc_timeout_ms = 2000;
		c[i].max_lag_ms = 60000;
	}
	setup(3, c);
	warm_up(2);
	assert_int_equal(stats(0).fc_receivers, 2);
	cut[2] = true; /* node 2 dies (kill -9): no STATUS, no NAK */
	unsigned long n = 1;
	for (int k = 0; k < 200; k++) {
		while (evc__v2_ep_writable(nodes[0].ep))
			send_one(0, n++);
		run_until(now_us + 50000);
	}
	/* blocked by the dead one until it left, then at node 1's pace */
	assert_int_equal(stats(0).fc_left, 1);
	assert_int_equal(stats(0).fc_receivers, 1);
	assert_true(nodes[0].writable_cbs >= 1);
	assert_true(n > 1000);
	assert_int_equal(nodes[1].delivered, n);
	assert_int_equal(nodes[1].disorder, 0);
	assert_int_equal(stats(1).lost, 0);
	assert_int_equal(stats(0).fc_dropped, 0);
	teardown();
}

static void test_max_lag_drops_member(void **state)
{
	(void)state;
	evc__v2_ep_cfg_t c[3];
	for (int i = 0; i < 3; i++) {
		evc__v2_ep_cfg_default(&c[i]);
		c[i].fc_window = 32;
		c[i].max_lag_ms = 500;
	}
	c[2].max_lag_ms = 9000; /* node 2's own hold lasts (its max-lag bounds it) */
	setup(3, c);
	warm_up(2);
	assert_int_equal(stats(0).fc_receivers, 2);
	evc__v2_ep_rx_hold(nodes[2].ep, true, now_us); /* alive (STATUS goes on), but stuck */
	unsigned long n = 1;
	uint64_t t0 = now_us;
	while (now_us < t0 + 1500000) { /* less than the hold-back holds (else forced deliveries move it) */
		while (evc__v2_ep_writable(nodes[0].ep))
			send_one(0, n++);
		run_until(now_us + 10000);
	}
	assert_int_equal(nodes[0].dropped_cbs, 1);
	assert_int_equal(nodes[0].dropped_id[0], 3); /* node 2's id */
	assert_int_equal(stats(0).fc_dropped, 1);
	assert_int_equal(stats(0).fc_receivers, 1);
	assert_true(nodes[0].writable_cbs >= 1);
	assert_true(n > 500);
	assert_int_equal(nodes[1].delivered, n);
	assert_int_equal(stats(1).lost, 0);
	teardown();
}

static void test_without_feature_ignored(void **state)
{
	(void)state;
	/* receiver not told that the sender takes STATUS: sends none, not a member */
	setup(2, NULL);
	send_one(0, 0);
	run_until(now_us + 500000);
	assert_int_equal(stats(1).status_tx, 0);
	assert_int_equal(stats(0).fc_receivers, 0);
	for (unsigned long n = 1; n < 3000; n++) {
		assert_true(evc__v2_ep_writable(nodes[0].ep));
		send_one(0, n);
		if (n % 100 == 0)
			run_until(now_us + 1000);
	}
	run_until(now_us + 100000);
	assert_int_equal(nodes[1].delivered, 3000);
	teardown();
	/* a sender with flow control off: counts STATUS, keeps no set */
	evc__v2_ep_cfg_t c[2];
	evc__v2_ep_cfg_default(&c[0]);
	evc__v2_ep_cfg_default(&c[1]);
	c[0].fc = false;
	setup(2, c);
	warm_up(1);
	assert_true(stats(0).status_rx >= 1);
	assert_int_equal(stats(0).fc_receivers, 0);
	assert_true(evc__v2_ep_writable(nodes[0].ep));
	teardown();
	/* flow control off at the receiver: no STATUS even when told */
	c[0].fc = true;
	c[1].fc = false;
	setup(2, c);
	warm_up(1);
	assert_int_equal(stats(1).status_tx, 0);
	teardown();
}

static void test_hold_release_in_order(void **state)
{
	(void)state;
	/* sealed: STATUS is sealed like the other control messages */
	assert_int_equal(evc__v2_keyring_new(&keys), 0);
	assert_int_equal(evc__v2_keyring_add(keys, "1:a shared secret for the flow test", NULL, 0), 0);
	setup(2, NULL);
	warm_up(1);
	evc__v2_ep_rx_hold(nodes[1].ep, true, now_us);
	drop_data_seq[1] = 50; /* a gap inside the held run too */
	for (unsigned long n = 1; n <= 300; n++)
		send_one(0, n);
	run_until(now_us + 200000);
	assert_int_equal(nodes[1].delivered, 1); /* the warm-up only */
	assert_true(stats(1).rx_held >= 299);
	uint64_t tx = stats(1).status_tx;
	evc__v2_ep_rx_hold(nodes[1].ep, false, now_us);
	assert_int_equal(nodes[1].delivered, 301);
	assert_int_equal(nodes[1].disorder, 0);
	assert_true(stats(1).status_tx > tx);
	assert_int_equal(stats(1).lost, 0);
	assert_int_equal(stats(1).rx_hold_forced, 0);
	/* a hold lasts at most max-lag (5 s): then what waits goes out anyway, in order */
	evc__v2_ep_rx_hold(nodes[1].ep, true, now_us);
	for (unsigned long n = 301; n <= 310; n++)
		send_one(0, n);
	run_until(now_us + 4000000);
	assert_int_equal(nodes[1].delivered, 301);
	run_until(now_us + 1500000);
	assert_int_equal(nodes[1].delivered, 311);
	assert_int_equal(nodes[1].disorder, 0);
	assert_int_equal(stats(1).rx_hold_forced, 10);
	evc__v2_ep_rx_hold(nodes[1].ep, false, now_us);
	tx = stats(1).status_tx;
	run_until(now_us + 2000);
	assert_true(stats(0).status_rx >= tx); /* every one opened with the shared key */
	assert_int_equal(stats(0).drops[EVC_V2_R_AUTH - EVC_V2_R_FIRST], 0);
	teardown();
	evc__v2_keyring_free(keys);
	keys = NULL;
}

/* flow-control, max-lag, fc-window: defaults, values, refusals naming the param. */
static int parse(const char *name, const char *value, evc__v2_settings_t *out, char *err)
{
	evcast_param_t p = {(char *)name, (char *)value, 7};
	evcast_section_t sec = {(char *)"event_multicast.conf", 1, &p, 1};
	return evc__v2_settings_parse(&sec, 4242, "t.xml", out, err, 512);
}

static void test_params(void **state)
{
	(void)state;
	evc__v2_settings_t st;
	char err[512];
	assert_int_equal(evc__v2_settings_parse(NULL, 4242, "t.xml", &st, err, sizeof(err)), 0);
	assert_true(st.ep.fc && st.ep.fc_window == 1024 && st.ep.max_lag_ms == 5000 && st.ep.fc_members == 256);
	assert_true(evc__v2_is_param("flow-control") && evc__v2_is_param("max-lag") && evc__v2_is_param("fc-window"));
	assert_int_equal(parse("flow-control", "no", &st, err), 0);
	assert_false(st.ep.fc);
	assert_int_equal(parse("max-lag", "2500", &st, err), 0);
	assert_true(st.ep.max_lag_ms == 2500);
	assert_int_equal(parse("fc-window", "256", &st, err), 0);
	assert_true(st.ep.fc_window == 256);
	assert_int_equal(parse("flow-control", "maybe", &st, err), EVCAST_EINVAL);
	assert_non_null(strstr(err, "t.xml:7: param \"flow-control\""));
	assert_int_equal(parse("max-lag", "99", &st, err), EVCAST_EINVAL);
	assert_int_equal(parse("max-lag", "10000", &st, err), EVCAST_EINVAL); /* not below max-skew 10 s */
	assert_non_null(strstr(err, "max-lag"));
	{ /* a max-skew of 5 s: the default max-lag fits under it; a given one must */
		evcast_param_t ps[2] = {{(char *)"max-skew", (char *)"5", 7}, {(char *)"max-lag", (char *)"5000", 8}};
		evcast_section_t sec = {(char *)"event_multicast.conf", 1, ps, 1};
		assert_int_equal(evc__v2_settings_parse(&sec, 4242, "t.xml", &st, err, sizeof(err)), 0);
		assert_true(st.ep.max_lag_ms == 2500);
		sec.nparams = 2;
		assert_int_equal(evc__v2_settings_parse(&sec, 4242, "t.xml", &st, err, sizeof(err)), EVCAST_EINVAL);
		assert_non_null(strstr(err, "max-lag (5000 ms) must be shorter than max-skew (5 s)"));
	}
	assert_int_equal(parse("fc-window", "8193", &st, err), EVCAST_EINVAL);
	assert_int_equal(parse("fc-window", "15", &st, err), EVCAST_EINVAL);
	assert_non_null(strstr(err, "fc-window"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_arithmetic),
		cmocka_unit_test(test_blocks_when_exhausted_opens_on_status),
		cmocka_unit_test(test_never_evicts_unconfirmed),
		cmocka_unit_test(test_silent_member_leaves),
		cmocka_unit_test(test_max_lag_drops_member),
		cmocka_unit_test(test_without_feature_ignored),
		cmocka_unit_test(test_hold_release_in_order),
		cmocka_unit_test(test_params),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
