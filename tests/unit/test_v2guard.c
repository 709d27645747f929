/*
 * test_v2guard.c -- the hostile-input bounds of wire protocol v2
 * (src/lib/v2guard.c, and how src/lib/v2proto.c applies them): token
 * buckets; NAK admission by trust and address (HEARTBEAT, legacy HEARTBEAT,
 * authenticated); retransmit budgets (4x own bytes for an unauthenticated
 * requester, per requester and total for authenticated ones); the NAK rate
 * per destination and no NAK to a sender that showed nothing but a gap; the
 * memory account and shedding order. Then whole endpoints in virtual time:
 * the receive-memory bound under forged senders (known state kept), the cap
 * on unknown senders, NAKs withheld from gap-only senders, a spoofed NAK
 * burst drawing at most 4x its bytes. Every test ends with no block leaked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <netinet/in.h>
#include "v2.h"
#include "v2conf.h"
#include "test_alloc.h"

static struct sockaddr_in addr_of(uint32_t ip, uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(ip)};
	return a;
}
#define SA(a) ((const struct sockaddr *)&(a))

/* ---------------------------------------------------------------- pure */

static void test_bucket(void **state)
{
	(void)state;
	evc__v2_bucket_t b;
	evc__v2_bucket_init(&b, 10, 100, 1000000);
	assert_true(evc__v2_bucket_take(&b, 10, 1000000)); /* starts full */
	assert_false(evc__v2_bucket_take(&b, 1, 1000000));
	assert_true(evc__v2_bucket_take(&b, 1, 1010000)); /* 10 ms at 100/s: one */
	assert_false(evc__v2_bucket_take(&b, 1, 1010000));
	assert_true(evc__v2_bucket_take(&b, 10, 9000000)); /* capped at 10 however long */
	assert_false(evc__v2_bucket_take(&b, 1, 9000000));
	assert_false(evc__v2_bucket_take(&b, 1, 5000000)); /* time going back adds nothing */
}

static void test_nak_admission(void **state)
{
	(void)state;
	evc__v2_guard_cfg_t c;
	evc__v2_guard_cfg_default(&c);
	evc__v2_guard_t g;
	evc__v2_guard_init(&g, &c, 0);
	evc__v2_pguard_t pg;
	evc__v2_pguard_init(&g, &pg, 0);
	struct sockaddr_in a = addr_of(0x0a000001, 4242), a2 = addr_of(0x0a000001, 5000), b = addr_of(0x0a000002, 4242);
	assert_false(evc__v2_guard_nak_admit(&g, NULL, SA(a)));
	assert_false(evc__v2_guard_nak_admit(&g, &pg, SA(a))); /* heard, never in a HEARTBEAT */
	evc__v2_guard_heard(&pg, SA(a), 1000, false);
	assert_false(evc__v2_guard_nak_admit(&g, &pg, SA(a))); /* unauthenticated traffic is not enough */
	assert_int_equal(g.st.nak_refused, 3);
	evc__v2_guard_known(&pg, SA(a));
	assert_int_equal(pg.trust, EVC_V2_TRUST_KNOWN);
	assert_true(pg.progress);
	assert_true(evc__v2_guard_nak_admit(&g, &pg, SA(a)));
	assert_true(evc__v2_guard_nak_admit(&g, &pg, SA(a2))); /* same host, other port */
	assert_false(evc__v2_guard_nak_admit(&g, &pg, SA(b)));  /* another host naming it */
	assert_false(evc__v2_guard_nak_admit(&g, &pg, NULL));
	assert_int_equal(g.st.nak_refused, 5);
	/* authenticated traffic moves the known address; a HEARTBEAT then does not */
	evc__v2_guard_heard(&pg, SA(b), 100, true);
	assert_int_equal(pg.trust, EVC_V2_TRUST_AUTH);
	evc__v2_guard_known(&pg, SA(a));
	assert_int_equal(pg.trust, EVC_V2_TRUST_AUTH);
	assert_true(evc__v2_guard_nak_admit(&g, &pg, SA(b)));
	assert_false(evc__v2_guard_nak_admit(&g, &pg, SA(a)));
	/* a host heard in a legacy HEARTBEAT: its first v2 requester is KNOWN, with that credit */
	evc__v2_pguard_t q;
	evc__v2_pguard_init(&g, &q, 0);
	struct sockaddr_in l = addr_of(0x0a000009, 4242);
	evc__v2_guard_host_heard(&g, SA(l), 500, 1);
	assert_false(evc__v2_guard_nak_admit(&g, &q, SA(a)));
	assert_true(evc__v2_guard_nak_admit(&g, &q, SA(l)));
	assert_int_equal(q.trust, EVC_V2_TRUST_KNOWN);
	assert_int_equal(q.credit, 4 * 500);
}

static void test_rtx_budgets(void **state)
{
	(void)state;
	evc__v2_guard_cfg_t c;
	evc__v2_guard_cfg_default(&c);
	c.rtx_rate = 100000;
	c.rtx_peer_rate = 70000;
	evc__v2_guard_t g;
	evc__v2_guard_init(&g, &c, 0);
	/* KNOWN, not authenticated: at most 4x its bytes, in all, whatever the time */
	evc__v2_pguard_t k;
	evc__v2_pguard_init(&g, &k, 0);
	struct sockaddr_in a = addr_of(0x0a000001, 1);
	evc__v2_guard_known(&k, SA(a));
	evc__v2_guard_heard(&k, SA(a), 1000, false);
	assert_true(evc__v2_guard_rtx(&g, &k, 3000, 0));
	assert_false(evc__v2_guard_rtx(&g, &k, 1001, 60000000));
	assert_true(evc__v2_guard_rtx(&g, &k, 1000, 60000000));
	assert_false(evc__v2_guard_rtx(&g, &k, 1, 120000000));
	assert_int_equal(g.st.rtx_bytes, 4000);
	assert_int_equal(g.st.rtx_limited, 2);
	/* its credit never passes the cap */
	for (int i = 0; i < 100; i++)
		evc__v2_guard_heard(&k, SA(a), 65507, false);
	assert_int_equal(k.credit, EVC_V2_PLAIN_RTX_CREDIT_MAX);
	/* AUTH: its own bucket (70 kB/s) inside the total (100 kB/s) */
	evc__v2_guard_init(&g, &c, 0);
	evc__v2_pguard_t x, y;
	evc__v2_pguard_init(&g, &x, 0);
	evc__v2_pguard_init(&g, &y, 0);
	evc__v2_guard_heard(&x, SA(a), 10, true);
	evc__v2_guard_heard(&y, SA(a), 10, true);
	assert_true(evc__v2_guard_rtx(&g, &x, 70000, 0));
	assert_false(evc__v2_guard_rtx(&g, &x, 1000, 0));   /* x's bucket */
	assert_true(evc__v2_guard_rtx(&g, &y, 30000, 0));
	assert_false(evc__v2_guard_rtx(&g, &y, 1000, 0));   /* the total */
	assert_true(evc__v2_guard_rtx(&g, &y, 1000, 10000)); /* 10 ms later: 1000 bytes of the total */
	assert_int_equal(g.st.rtx_bytes, 101000);
}

static void test_nak_rate_and_progress(void **state)
{
	(void)state;
	evc__v2_guard_cfg_t c;
	evc__v2_guard_cfg_default(&c);
	c.nak_rate = 40; /* burst 11 */
	evc__v2_guard_t g;
	evc__v2_guard_init(&g, &c, 0);
	evc__v2_pguard_t p;
	evc__v2_pguard_init(&g, &p, 0);
	struct sockaddr_in a = addr_of(0x0a000001, 1), b = addr_of(0x0a000002, 1);
	assert_false(evc__v2_guard_nak_send(&g, &p, SA(a), 1000));
	assert_int_equal(g.st.nak_unproven, 1);
	p.progress = true;
	int sent = 0;
	for (int i = 0; i < 100; i++)
		sent += evc__v2_guard_nak_send(&g, &p, SA(a), 1000);
	assert_int_equal(sent, 11);
	assert_int_equal(g.st.nak_limited, 89);
	assert_true(evc__v2_guard_nak_send(&g, &p, SA(b), 1000)); /* another destination: its own rate */
	assert_true(evc__v2_guard_nak_send(&g, &p, SA(a), 1000 + 25000)); /* 25 ms at 40/s */
	assert_false(evc__v2_guard_nak_send(&g, &p, SA(a), 1000 + 25000));
	assert_false(evc__v2_guard_nak_send(&g, &p, NULL, 1000));
	/* an authenticated sender's address is not rate-limited (honest repair at full speed) */
	evc__v2_pguard_t s;
	evc__v2_pguard_init(&g, &s, 0);
	evc__v2_guard_heard(&s, SA(a), 100, true);
	for (int i = 0; i < 100; i++)
		assert_true(evc__v2_guard_nak_send(&g, &s, SA(a), 1000 + 25000));
	/* more destinations than the table: the least recently used is replaced */
	for (uint32_t i = 0; i < 2 * EVC_V2_GUARD_DESTS; i++) {
		struct sockaddr_in d = addr_of(0x0b000000 + i, 1);
		assert_true(evc__v2_guard_nak_send(&g, &p, SA(d), 2000000 + i));
	}
}

static void test_memory_account(void **state)
{
	(void)state;
	evc__v2_guard_cfg_t c;
	evc__v2_guard_cfg_default(&c);
	c.rx_mem = 1000;
	evc__v2_guard_t g;
	evc__v2_guard_init(&g, &c, 0);
	evc__v2_pguard_t p, q;
	evc__v2_pguard_init(&g, &p, 0);
	evc__v2_pguard_init(&g, &q, 0);
	evc__v2_guard_charge(&g, &p, 600);
	evc__v2_guard_charge(&g, &q, 300);
	assert_false(evc__v2_guard_over(&g, 100, 0));
	assert_true(evc__v2_guard_over(&g, 100, 1));
	evc__v2_guard_charge(&g, &p, -600);
	assert_int_equal(g.st.mem, 300);
	assert_int_equal(g.st.mem_peak, 900);
	assert_int_equal(p.mem, 0);
	/* shedding order: less trusted first, then heard longer ago */
	q.trust = EVC_V2_TRUST_KNOWN;
	assert_true(evc__v2_guard_sheds_first(&p, 50, &q, 10));
	assert_false(evc__v2_guard_sheds_first(&q, 10, &p, 50));
	p.trust = EVC_V2_TRUST_KNOWN;
	assert_true(evc__v2_guard_sheds_first(&q, 10, &p, 50));
	q.trust = EVC_V2_TRUST_AUTH;
	assert_true(evc__v2_guard_sheds_first(&p, 50, &q, 10));
}

/* The params of event_multicast.conf that set these bounds: defaults, values,
 * and a clear error naming the param for each bad value. */
static void test_params(void **state)
{
	(void)state;
	evc__v2_settings_t *o = calloc(1, sizeof(*o));
	char err[512];
	assert_int_equal(evc__v2_settings_parse(NULL, 4242, "t.xml", o, err, sizeof(err)), 0);
	assert_int_equal(o->ep.guard.rx_mem, 32u << 20);
	assert_int_equal(o->ep.guard.max_unknown, 64);
	assert_int_equal(o->ep.guard.rtx_rate, 16u << 20);
	assert_int_equal(o->ep.guard.rtx_peer_rate, 4u << 20);
	assert_int_equal(o->ep.guard.nak_rate, 100);
	evcast_param_t ok[] = {{"receive-memory", "1048576", 3},   {"max-unknown-senders", "8", 4},
			       {"retransmit-rate", "1000000", 5},  {"retransmit-peer-rate", "65536", 6},
			       {"nak-rate", "5", 7}};
	evcast_section_t sec = {"event_multicast.conf", 1, ok, 5};
	assert_int_equal(evc__v2_settings_parse(&sec, 4242, "t.xml", o, err, sizeof(err)), 0);
	assert_int_equal(o->ep.guard.rx_mem, 1u << 20);
	assert_int_equal(o->ep.guard.max_unknown, 8);
	assert_int_equal(o->ep.guard.rtx_rate, 1000000);
	assert_int_equal(o->ep.guard.rtx_peer_rate, 65536);
	assert_int_equal(o->ep.guard.nak_rate, 5);
	for (size_t i = 0; i < 5; i++)
		assert_true(evc__v2_is_param(ok[i].name));
	evcast_param_t bad[] = {{"receive-memory", "1000", 9},      {"max-unknown-senders", "0", 9},
				{"max-unknown-senders", "2000", 9}, {"retransmit-rate", "fast", 9},
				{"retransmit-peer-rate", "100", 9}, {"nak-rate", "0", 9},
				{"nak-rate", "100001", 9}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		evcast_section_t b = {"event_multicast.conf", 1, &bad[i], 1};
		assert_int_equal(evc__v2_settings_parse(&b, 4242, "t.xml", o, err, sizeof(err)), EVCAST_EINVAL);
		assert_non_null(strstr(err, "t.xml:9: param"));
		assert_non_null(strstr(err, bad[i].name));
	}
	free(o);
}

/* ---------------------------------------------------------------- endpoints */

typedef struct sink {
	uint64_t delivered, group_bytes, group_dgrams, naks_to, lost_known;
	uint8_t known_id[EVC_V2_NODE_ID_LEN];
} sink_t;

static void s_group(void *ud, const uint8_t *buf, size_t len)
{
	sink_t *s = ud;
	(void)buf;
	s->group_bytes += len;
	s->group_dgrams++;
}
static void s_to(void *ud, const uint8_t *buf, size_t len, const struct sockaddr *to)
{
	sink_t *s = ud;
	(void)buf, (void)len, (void)to;
	s->naks_to++;
}
static void s_deliver(void *ud, const uint8_t id[16], uint64_t epoch, bool auth, const uint8_t *t, size_t len)
{
	sink_t *s = ud;
	(void)id, (void)epoch, (void)auth, (void)t, (void)len;
	s->delivered++;
}
static void s_loss(void *ud, const uint8_t id[16], uint64_t epoch, uint64_t first, uint64_t last)
{
	sink_t *s = ud;
	(void)epoch;
	if (!memcmp(id, s->known_id, 16))
		s->lost_known += last - first + 1;
}

static evc__v2_ep_t *endpoint(sink_t *s, const evc__v2_guard_cfg_t *g)
{
	evc__v2_ep_cfg_t cfg;
	evc__v2_ep_cfg_default(&cfg);
	memset(cfg.node_id, 0xEE, 16);
	cfg.epoch = 1000000;
	if (g)
		cfg.guard = *g;
	evc__v2_ep_cbs_t cbs = {s_group, s_to, s_deliver, s_loss, s};
	evc__v2_ep_t *ep = NULL;
	assert_int_equal(evc__v2_ep_new(&cfg, NULL, &cbs, &ep), 0);
	return ep;
}

static uint8_t big[EVC_V2_MAX_DGRAM], dg[EVC_V2_MAX_DGRAM];

/* A plaintext DATA datagram of one event of about size bytes from sender id. */
static size_t data_dgram(uint8_t id0, uint64_t epoch, uint64_t seq, uint64_t now, size_t size)
{
	static char text[EVC_V2_MAX_DGRAM];
	int n = snprintf(text, 200, "Event-Name: CUSTOM\nContent-Length: %zu\n\n", size);
	memset(text + n, 'x', size);
	evc__v2_batch_t b;
	evc__v2_batch_init(&b, big, sizeof(big));
	assert_int_equal(evc__v2_batch_add(&b, text, (size_t)n + size), 0);
	evc__v2_hdr_t h = {.type = EVC_V2_DATA, .epoch = epoch, .seq = seq, .ts_us = now, .frag_count = 1,
			   .msg_len = (uint32_t)b.len};
	memset(h.node_id, 0x30, 16);
	h.node_id[0] = id0;
	int len = evc__v2_seal(NULL, &h, big, b.len, dg, sizeof(dg));
	assert_true(len > 0);
	return (size_t)len;
}

/* Forged senders each open a gap and send datagrams to be held: the charged
 * state never passes receive-memory; a sender known by a HEARTBEAT keeps its
 * held datagrams while unknown ones are shed. */
static void test_ep_memory_bound(void **state)
{
	(void)state;
	sink_t s = {0};
	evc__v2_guard_cfg_t g;
	evc__v2_guard_cfg_default(&g);
	g.rx_mem = 2u << 20;
	g.max_unknown = 1024;
	evc__v2_ep_t *ep = endpoint(&s, &g);
	uint64_t now = 2000000;
	struct sockaddr_in from = addr_of(0x0a000005, 4242);
	/* the known sender (id 0x01): in order, HEARTBEAT, then a gap and 8 held datagrams */
	memset(s.known_id, 0x30, 16);
	s.known_id[0] = 0x01;
	assert_int_equal(evc__v2_ep_recv(ep, dg, data_dgram(0x01, now - 1000, 1, now, 100), SA(from), now), 0);
	evc__v2_ep_heard_heartbeat(ep, s.known_id, SA(from));
	for (uint64_t q = 3; q < 11; q++)
		assert_int_equal(evc__v2_ep_recv(ep, dg, data_dgram(0x01, now - 1000, q, now, 60000), SA(from), now), 0);
	/* 40 unknown senders x 16 datagrams of 60 kB (38 MB) */
	for (unsigned k = 0; k < 16; k++)
		for (uint8_t i = 0; i < 40; i++) {
			now += 10;
			size_t n = data_dgram((uint8_t)(0x40 + i), now - 1000 - k * 10, 2 + k, now, 60000);
			evc__v2_ep_recv(ep, dg, n, SA(from), now);
			assert_true(evc__v2_ep_guard_stats(ep)->mem <= g.rx_mem);
		}
	const evc__v2_guard_stats_t *gs = evc__v2_ep_guard_stats(ep);
	assert_true(gs->mem_peak <= g.rx_mem);
	assert_true(gs->mem_peak > g.rx_mem - 128 * 1024);
	assert_true(gs->mem_shed > 0);
	assert_int_equal(s.lost_known, 0); /* the known sender's gap and held datagrams untouched */
	evc__v2_ep_free(ep);
}

/* At most max_unknown senders that are neither authenticated nor known have
 * any state; a known one is never evicted for them. */
static void test_ep_unknown_cap(void **state)
{
	(void)state;
	sink_t s = {0};
	evc__v2_guard_cfg_t g;
	evc__v2_guard_cfg_default(&g);
	g.max_unknown = 4;
	evc__v2_ep_t *ep = endpoint(&s, &g);
	uint64_t now = 2000000;
	struct sockaddr_in from = addr_of(0x0a000005, 4242);
	memset(s.known_id, 0x30, 16);
	s.known_id[0] = 0x01;
	assert_int_equal(evc__v2_ep_recv(ep, dg, data_dgram(0x01, now - 1000, 1, now, 10), SA(from), now), 0);
	evc__v2_ep_heard_heartbeat(ep, s.known_id, SA(from));
	for (uint8_t i = 0; i < 10; i++) {
		now += 1000;
		assert_int_equal(evc__v2_ep_recv(ep, dg, data_dgram((uint8_t)(0x40 + i), now - 1000, 1, now, 10), SA(from), now), 0);
	}
	assert_int_equal(evc__v2_ep_guard_stats(ep)->unknown_evicted, 6);
	assert_int_equal(s.delivered, 11);
	/* the known sender still has its state: its next datagram is in order */
	now += 1000;
	assert_int_equal(evc__v2_ep_recv(ep, dg, data_dgram(0x01, 2000000 - 1000, 2, now, 10), SA(from), now), 0);
	assert_int_equal(s.delivered, 12);
	evc__v2_ep_free(ep);
}

/* A sender that showed nothing but a gap is never NAKed; after in-order
 * progress it is, within the destination's rate. */
static void test_ep_no_nak_to_gap_only(void **state)
{
	(void)state;
	sink_t s = {0};
	evc__v2_ep_t *ep = endpoint(&s, NULL);
	uint64_t now = 2000000;
	struct sockaddr_in from = addr_of(0x0a000005, 4242);
	for (uint8_t i = 0; i < 50; i++) {
		evc__v2_ep_recv(ep, dg, data_dgram((uint8_t)(0x40 + i), now - 1000, 5, now, 10), SA(from), now);
		evc__v2_ep_recv(ep, dg, data_dgram((uint8_t)(0x40 + i), now - 1000, 7, now, 10), SA(from), now);
	}
	for (int t = 0; t < 500; t++, now += 10000)
		evc__v2_ep_poll(ep, now);
	assert_int_equal(s.naks_to, 0);
	assert_true(evc__v2_ep_guard_stats(ep)->nak_unproven > 0);
	/* 50 senders with in-order progress after a gap, all from one address */
	for (uint8_t i = 0; i < 50; i++) {
		evc__v2_ep_recv(ep, dg, data_dgram((uint8_t)(0x80 + i), now - 1000, 5, now, 10), SA(from), now);
		evc__v2_ep_recv(ep, dg, data_dgram((uint8_t)(0x80 + i), now - 1000, 6, now, 10), SA(from), now);
	}
	uint64_t t0 = now;
	for (int t = 0; t < 500; t++, now += 10000)
		evc__v2_ep_poll(ep, now);
	assert_true(s.naks_to > 0);
	assert_true(s.naks_to <= 26 + 100 * (now - t0) / 1000000); /* burst + nak-rate 100/s */
	evc__v2_ep_free(ep);
}

/* A requester known by one forged HEARTBEAT sends 20 NAKs of 64 ranges over
 * the last 8192 seqs: the retransmitted bytes stay <= 4x what it sent. */
static void test_ep_nak_amplification(void **state)
{
	(void)state;
	sink_t s = {0};
	evc__v2_ep_t *ep = endpoint(&s, NULL);
	uint64_t now = 2000000;
	char ev[1200];
	memset(ev, 'y', sizeof(ev));
	memcpy(ev, "Event-Name: CUSTOM\n\n", 20);
	for (int i = 0; i < 3000; i++) {
		now += 100;
		assert_int_equal(evc__v2_ep_send(ep, ev, sizeof(ev), now), 0);
		evc__v2_ep_flush(ep, now);
	}
	uint64_t sent_group = s.group_bytes;
	struct sockaddr_in x = addr_of(0x0a000063, 4242);
	uint64_t xbytes = 0;
	size_t n = data_dgram(0x07, now - 1000, 1, now, 200); /* its HEARTBEAT */
	xbytes += n;
	assert_int_equal(evc__v2_ep_recv(ep, dg, n, SA(x), now), 0);
	uint8_t xid[16];
	memset(xid, 0x30, 16);
	xid[0] = 0x07;
	evc__v2_ep_heard_heartbeat(ep, xid, SA(x));
	evc__v2_nak_t nak;
	memset(&nak, 0, sizeof(nak));
	memset(nak.target_node, 0xEE, 16);
	nak.target_epoch = 1000000;
	nak.nranges = 64;
	for (unsigned i = 0; i < 64; i++)
		nak.ranges[i] = (evc__v2_range_t){1 + 128 * (uint64_t)i, 128}; /* 1..8192: the 3000 sent and more */
	uint8_t pl[EVC_V2_NAK_LEN(64)];
	int pn = evc__v2_nak_encode(&nak, pl, sizeof(pl));
	assert_true(pn > 0);
	for (unsigned k = 0; k < 20; k++) {
		evc__v2_hdr_t h = {.type = EVC_V2_NAK, .epoch = now - 1000, .seq = EVC_V2_CTL_BIT | (k + 1), .ts_us = now,
				   .frag_count = 1, .msg_len = (uint32_t)pn};
		memcpy(h.node_id, xid, 16);
		int len = evc__v2_seal(NULL, &h, pl, (size_t)pn, dg, sizeof(dg));
		xbytes += (uint64_t)len;
		now += 1000;
		assert_int_equal(evc__v2_ep_recv(ep, dg, (size_t)len, SA(x), now), 0);
	}
	uint64_t rtx = s.group_bytes - sent_group;
	assert_true(rtx > 0);
	assert_true(rtx <= 4 * xbytes);
	assert_int_equal(evc__v2_ep_guard_stats(ep)->rtx_bytes, rtx);
	printf("NAK burst: %llu bytes sent, %llu retransmitted (x%.2f)\n", (unsigned long long)xbytes,
	       (unsigned long long)rtx, (double)rtx / (double)xbytes);
	evc__v2_ep_free(ep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bucket, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_nak_admission, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_rtx_budgets, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_nak_rate_and_progress, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_memory_account, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_params, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_ep_memory_bound, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_ep_unknown_cap, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_ep_no_nak_to_gap_only, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_ep_nak_amplification, t_alloc_setup, t_alloc_teardown),
	};
	evcast_replace_allocator(t_malloc, t_realloc, t_calloc, t_free);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
