/*
 * test_node.c -- two real nodes on a private loop, talking unicast over
 * 127.0.0.1 (loopback only): peerup from heartbeats, an event crossing with
 * its Orig- headers, loop prevention (also with ALL bound), peerdown within
 * the timeout, wrong-PSK drops, reload (unchanged, applied, re-bound,
 * rejected), the HEARTBEAT's headers against a real FreeSWITCH's, the same
 * exchange over IPv6 (::1), clean close with uv_loop_close() == 0. Every wait
 * is bounded by a deadline.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "evcast/evcast.h"
#include "test_ports.h"

typedef struct seen {
	int peerups, peerdowns, received, heartbeats_local;
	char last_orig_subclass[64], last_orig_sender[64], last_orig_user[64], last_multicast[8];
	char last_body[64];
} seen_t;

static void on_event(void *ud, const evcast_event_t *ev)
{
	seen_t *s = ud;
	const char *sub = evcast_event_subclass(ev);
	const char *name = evcast_event_name(ev);
	if (name && strcmp(name, "HEARTBEAT") == 0)
		s->heartbeats_local++;
	if (!sub)
		return;
	if (strcmp(sub, "multicast::peerup") == 0)
		s->peerups++;
	else if (strcmp(sub, "multicast::peerdown") == 0)
		s->peerdowns++;
	else if (strcmp(sub, "multicast::event") == 0) {
		const char *osub = evcast_event_get_header(ev, "Orig-Event-Subclass");
		const char *oname = evcast_event_get_header(ev, "Orig-Event-Name");
		if (oname && strcmp(oname, "HEARTBEAT") == 0)
			return;
		s->received++;
		snprintf(s->last_orig_subclass, sizeof(s->last_orig_subclass), "%s", osub ? osub : "");
		const char *v = evcast_event_get_header(ev, "Orig-Multicast-Sender");
		snprintf(s->last_orig_sender, sizeof(s->last_orig_sender), "%s", v ? v : "");
		v = evcast_event_get_header(ev, "Orig-from-user");
		snprintf(s->last_orig_user, sizeof(s->last_orig_user), "%s", v ? v : "");
		v = evcast_event_get_header(ev, "Multicast");
		snprintf(s->last_multicast, sizeof(s->last_multicast), "%s", v ? v : "");
		size_t bl;
		v = evcast_event_get_body(ev, &bl);
		snprintf(s->last_body, sizeof(s->last_body), "%.*s", v ? (int)bl : 0, v ? v : "");
	}
}

static int base_port(void) { return test_port_pair(); }

/* the address both nodes use: 127.0.0.1, or ::1 in test_ipv6_unicast_pair */
static const char *g_host = "127.0.0.1";

static evcast_config_t *make_cfg(const char *name, int port, int peer_port, const char *psk, const char *bindings,
				 const char *extra)
{
	char xml[2048], err[512];
	evcast_config_t *cfg = NULL;
	snprintf(xml, sizeof(xml),
		 "<!-- peer port %d -->\n<configuration name=\"event_multicast.conf\">\n<settings>\n"
		 "<param name=\"address\" value=\"%s\"/>\n"
		 "<param name=\"port\" value=\"%d\"/>\n"
		 "<param name=\"bindings\" value=\"%s\"/>\n"
		 "<param name=\"node-name\" value=\"%s\"/>\n"
		 "<param name=\"heartbeat-interval\" value=\"1\"/>\n"
		 "<param name=\"peer-timeout\" value=\"1\"/>\n"
		 "<param name=\"log-level\" value=\"err\"/>\n"
		 "%s%s%s%s\n"
		 "</settings>\n</configuration>\n",
		 peer_port, g_host, port, bindings, name, psk ? "<param name=\"psk\" value=\"" : "", psk ? psk : "", psk ? "\"/>" : "",
		 extra ? extra : "");
	int r = evcast_config_parse(xml, strlen(xml), "test.xml", NULL, NULL, &cfg, err, sizeof(err));
	if (r != 0)
		fail_msg("config: %s", err);
	/* the node sends to the peer's port: point the destinations there */
	for (size_t i = 0; i < cfg->ndests; i++)
		evcast_dest_parse(g_host, (uint16_t)peer_port, &cfg->dests[i]);
	return cfg;
}

typedef struct pair {
	uv_loop_t loop;
	evcast_node_t *a, *b;
	seen_t sa, sb;
	int pa, pb;
} pair_t;

static void pair_start_ex(pair_t *p, const char *psk_a, const char *psk_b, const char *bind_a, const char *extra_a,
			  const char *extra_b);

static void pair_start(pair_t *p, const char *psk_a, const char *psk_b, const char *bind_a)
{
	pair_start_ex(p, psk_a, psk_b, bind_a, NULL, NULL);
}

static void pair_start_ex(pair_t *p, const char *psk_a, const char *psk_b, const char *bind_a, const char *extra_a,
			  const char *extra_b)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(uv_loop_init(&p->loop), 0);
	p->pa = base_port();
	p->pb = p->pa + 1;
	evcast_config_t *ca = make_cfg("node-a", p->pa, p->pb, psk_a, bind_a, extra_a);
	evcast_config_t *cb = make_cfg("node-b", p->pb, p->pa, psk_b, "HEARTBEAT CUSTOM test::x", extra_b);
	assert_int_equal(evcast_node_new(&p->loop, ca, NULL, NULL, &p->a), 0);
	assert_int_equal(evcast_node_new(&p->loop, cb, NULL, NULL, &p->b), 0);
	evcast_config_free(ca);
	evcast_config_free(cb);
	assert_true(evcast_node_subscribe(p->a, on_event, &p->sa) > 0);
	assert_true(evcast_node_subscribe(p->b, on_event, &p->sb) > 0);
	assert_int_equal(evcast_node_start(p->a), 0);
	assert_int_equal(evcast_node_start(p->b), 0);
}

/* Runs the loop until *flag >= want or ms elapse. Returns true when reached. */
static bool run_until(uv_loop_t *loop, const int *flag, int want, int ms)
{
	uint64_t end = uv_now(loop) + (uint64_t)ms;
	while (*flag < want && uv_now(loop) < end)
		uv_run(loop, UV_RUN_ONCE);
	return *flag >= want;
}

static void on_closed(void *ud) { (*(int *)ud)++; }

static void pair_close(pair_t *p)
{
	int closed = 0;
	if (p->a)
		evcast_node_close(p->a, on_closed, &closed);
	else
		closed++;
	if (p->b)
		evcast_node_close(p->b, on_closed, &closed);
	else
		closed++;
	assert_true(run_until(&p->loop, &closed, 2, 2000));
	uv_run(&p->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&p->loop), 0);
}

static void test_peerup_event_and_peerdown(void **state)
{
	(void)state;
	pair_t p;
	pair_start(&p, NULL, NULL, "HEARTBEAT CUSTOM test::x");
	assert_true(run_until(&p.loop, &p.sb.peerups, 1, 3000));
	assert_true(run_until(&p.loop, &p.sa.peerups, 1, 3000));

	evcast_event_t *ev = evcast_event_new_named("CUSTOM", "test::x");
	evcast_event_add_header(ev, "from-user", "1000");
	evcast_event_set_body(ev, "hello: body", 11);
	assert_int_equal(evcast_node_fire(p.a, ev), 0);
	assert_true(run_until(&p.loop, &p.sb.received, 1, 3000));
	assert_string_equal(p.sb.last_orig_subclass, "test::x");
	assert_string_equal(p.sb.last_orig_sender, "node-a");
	assert_string_equal(p.sb.last_orig_user, "1000");
	assert_string_equal(p.sb.last_multicast, "yes");
	assert_string_equal(p.sb.last_body, "hello: body");

	/* not selected by the bindings: stays local */
	evcast_stats_t st0, st1;
	evcast_node_stats(p.a, &st0);
	assert_int_equal(evcast_node_fire(p.a, evcast_event_new_named("CUSTOM", "test::other")), 0);
	/* loop prevention: multicast::* never goes out */
	assert_int_equal(evcast_node_fire(p.a, evcast_event_new_named("CUSTOM", "multicast::event")), 0);
	evcast_node_stats(p.a, &st1);
	assert_int_equal(st1.tx_events, st0.tx_events);
	assert_int_equal(st1.filtered, st0.filtered + 1);
	assert_int_equal(st1.loop_prevented, st0.loop_prevented + 1);

	/* A goes away: B declares it down within timeout (1 s) + sweep period */
	int closed = 0;
	evcast_node_close(p.a, on_closed, &closed);
	p.a = NULL;
	uint64_t t0 = uv_now(&p.loop);
	assert_true(run_until(&p.loop, &p.sb.peerdowns, 1, 4000));
	uint64_t took = uv_now(&p.loop) - t0;
	assert_true(took <= 2500);
	char *text = evcast_node_peers_text(p.b);
	assert_non_null(strstr(text, "Peer node-a DOWN; last seen"));
	evcast_free(text);
	pair_close(&p);
}

static void test_wrong_psk_is_dropped_and_counted(void **state)
{
	(void)state;
	pair_t p;
	pair_start(&p, "right-key", "wrong-key", "HEARTBEAT CUSTOM test::x");
	evcast_stats_t st;
	uint64_t end = uv_now(&p.loop) + 2500;
	do {
		uv_run(&p.loop, UV_RUN_ONCE);
		evcast_node_stats(p.b, &st);
	} while (st.drop_psk < 2 && uv_now(&p.loop) < end);
	assert_true(st.drop_psk >= 2);
	assert_int_equal(p.sb.peerups, 0);
	assert_int_equal(st.rx_events, 0);
	pair_close(&p);
}

static void test_plaintext_dropped_by_psk_node(void **state)
{
	(void)state;
	pair_t p;
	pair_start(&p, NULL, "key", "HEARTBEAT");
	evcast_stats_t st;
	uint64_t end = uv_now(&p.loop) + 2500;
	do {
		uv_run(&p.loop, UV_RUN_ONCE);
		evcast_node_stats(p.b, &st);
	} while (st.drop_plain < 1 && uv_now(&p.loop) < end);
	assert_true(st.drop_plain >= 1);
	assert_int_equal(p.sb.peerups, 0);
	pair_close(&p);
}

static void test_psk_pair_works(void **state)
{
	(void)state;
	pair_t p;
	pair_start(&p, "shared", "shared", "HEARTBEAT CUSTOM test::x");
	assert_true(run_until(&p.loop, &p.sb.peerups, 1, 3000));
	pair_close(&p);
}

static void test_reload(void **state)
{
	(void)state;
	pair_t p;
	pair_start(&p, NULL, NULL, "HEARTBEAT");
	assert_true(run_until(&p.loop, &p.sb.peerups, 1, 3000));

	/* same text -> unchanged */
	evcast_config_t *same = make_cfg("node-a", p.pa, p.pb, NULL, "HEARTBEAT", NULL);
	assert_int_equal(evcast_node_reload(p.a, same), 1);
	evcast_config_free(same);

	/* test::x not bound yet: not sent */
	evcast_node_fire(p.a, evcast_event_new_named("CUSTOM", "test::x"));
	run_until(&p.loop, &p.sb.received, 1, 300);
	assert_int_equal(p.sb.received, 0);

	/* changed bindings -> applied, peers kept */
	evcast_config_t *c2 = make_cfg("node-a", p.pa, p.pb, NULL, "HEARTBEAT CUSTOM test::x", NULL);
	assert_int_equal(evcast_node_reload(p.a, c2), 0);
	evcast_config_free(c2);
	assert_string_equal(evcast_node_config(p.a)->bindings, "HEARTBEAT CUSTOM test::x");
	evcast_node_fire(p.a, evcast_event_new_named("CUSTOM", "test::x"));
	assert_true(run_until(&p.loop, &p.sb.received, 1, 3000));

	/* changed port on B -> sockets re-bound; A must now send to the new port */
	evcast_config_t *c3 = make_cfg("node-b", p.pb + 2, p.pa, NULL, "HEARTBEAT CUSTOM test::x", NULL);
	assert_int_equal(evcast_node_reload(p.b, c3), 0);
	evcast_config_free(c3);
	evcast_config_t *c4 = make_cfg("node-a", p.pa, p.pb + 2, NULL, "HEARTBEAT CUSTOM test::x", NULL);
	assert_int_equal(evcast_node_reload(p.a, c4), 0);
	evcast_config_free(c4);
	evcast_node_fire(p.a, evcast_event_new_named("CUSTOM", "test::x"));
	assert_true(run_until(&p.loop, &p.sb.received, 2, 3000));

	/* a configuration that cannot be applied (no such interface) -> rejected, old in force */
	evcast_config_t *bad = make_cfg("node-b", p.pb + 4, p.pa, NULL, "HEARTBEAT",
					"<param name=\"multicast-interface\" value=\"nosuchif0\"/>");
	assert_true(evcast_node_reload(p.b, bad) < 0);
	evcast_config_free(bad);
	assert_int_equal(evcast_node_config(p.b)->port, p.pb + 2);
	evcast_stats_t st;
	evcast_node_stats(p.b, &st);
	assert_int_equal(st.reload_failures, 1);
	evcast_node_fire(p.a, evcast_event_new_named("CUSTOM", "test::x"));
	assert_true(run_until(&p.loop, &p.sb.received, 3, 3000));
	/* the peer table survived every reload */
	char *json = evcast_node_peers_json(p.b);
	assert_non_null(strstr(json, "\"name\":\"node-a\""));
	evcast_free(json);
	pair_close(&p);
}

static void test_bad_datagrams_counted(void **state)
{
	(void)state;
	pair_t p;
	pair_start(&p, NULL, NULL, "HEARTBEAT");
	uv_udp_t s;
	struct sockaddr_in to;
	uv_ip4_addr("127.0.0.1", (uint16_t)p.pb, &to);
	assert_int_equal(uv_udp_init(&p.loop, &s), 0);
	static const char colon_magic[] = ":\xe2\x84\xb1\xc5\x98\xc6\x8e\xd3\xac\xc5\x9e\xd0\xa9\xd0\x87\xc5\xa6\xcf\x9a\xc4\xa6";
	uv_buf_t bufs[] = {uv_buf_init((char *)"", 0), uv_buf_init((char *)colon_magic, sizeof(colon_magic) - 1),
			   uv_buf_init((char *)"garbage without magic", 21)};
	for (size_t i = 0; i < 3; i++)
		assert_true(uv_udp_try_send(&s, &bufs[i], 1, (struct sockaddr *)&to) >= 0);
	evcast_stats_t st;
	uint64_t end = uv_now(&p.loop) + 2000;
	do {
		uv_run(&p.loop, UV_RUN_NOWAIT);
		evcast_node_stats(p.b, &st);
	} while (st.drop_empty + st.drop_parse + st.drop_nomagic < 3 && uv_now(&p.loop) < end);
	assert_int_equal(st.drop_empty, 1);
	assert_int_equal(st.drop_nomagic, 1);
	assert_int_equal(st.drop_parse, 1);
	/* and the receive loop is alive: heartbeats still arrive */
	int before = p.sb.peerups;
	(void)before;
	uint64_t hb0 = st.heartbeats_rx;
	end = uv_now(&p.loop) + 3000;
	do {
		uv_run(&p.loop, UV_RUN_ONCE);
		evcast_node_stats(p.b, &st);
	} while (st.heartbeats_rx <= hb0 && uv_now(&p.loop) < end);
	assert_true(st.heartbeats_rx > hb0);
	uv_close((uv_handle_t *)&s, NULL);
	pair_close(&p);
}


#define V2 "<param name=\"protocol\" value=\"v2\"/>"
#define KEY1 "1:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYg=="
#define KEY2 "2:another passphrase long enough"

static void test_v2_plaintext_and_fragmentation(void **state)
{
	(void)state;
	pair_t p;
	pair_start_ex(&p, NULL, NULL, "HEARTBEAT CUSTOM test::x", V2, V2);
	assert_true(run_until(&p.loop, &p.sb.peerups, 1, 3000));
	evcast_event_t *ev = evcast_event_new_named("CUSTOM", "test::x");
	evcast_event_add_header(ev, "from-user", "2000");
	size_t big = 300 * 1024;
	char *body = malloc(big);
	memset(body, 'x', big);
	memcpy(body, "start", 5);
	evcast_event_set_body(ev, body, big);
	free(body);
	assert_int_equal(evcast_node_fire(p.a, ev), 0);
	assert_true(run_until(&p.loop, &p.sb.received, 1, 3000));
	assert_string_equal(p.sb.last_orig_user, "2000");
	assert_string_equal(p.sb.last_orig_sender, "node-a");
	assert_int_equal(strncmp(p.sb.last_body, "startxxx", 8), 0);
	evcast_stats_t st;
	evcast_node_stats(p.a, &st);
	assert_true(st.v2_tx_fragments >= 200); /* 300 KiB in ~1.3 KiB datagrams */
	assert_int_equal(st.tx_events, 0);     /* nothing in the legacy format */
	pair_close(&p);
}

static void test_v2_sealed_and_wrong_key(void **state)
{
	(void)state;
	pair_t p;
	pair_start_ex(&p, NULL, NULL, "HEARTBEAT CUSTOM test::x",
		      V2 "<param name=\"v2-keys\" value=\"" KEY1 "\"/>",
		      V2 "<param name=\"v2-keys\" value=\"" KEY2 ", " KEY1 "\"/>"
			 "<param name=\"v2-primary-key\" value=\"2\"/>");
	/* B seals with key 2, which A does not have: A rejects B; B accepts A's key 1 */
	assert_true(run_until(&p.loop, &p.sb.peerups, 1, 3000));
	evcast_stats_t st;
	uint64_t end = uv_now(&p.loop) + 2500;
	do {
		uv_run(&p.loop, UV_RUN_ONCE);
		evcast_node_stats(p.a, &st);
	} while (st.v2_drops_total == 0 && uv_now(&p.loop) < end);
	assert_true(st.v2_drops_total > 0);
	assert_int_equal(p.sa.peerups, 0);
	char *json = evcast_stats_to_json(&st);
	assert_non_null(strstr(json, "\"keyid\"") ? json : strstr(json, "\"nokey\""));
	evcast_free(json);
	/* authenticated header on what B got */
	evcast_node_fire(p.a, evcast_event_new_named("CUSTOM", "test::x"));
	assert_true(run_until(&p.loop, &p.sb.received, 1, 3000));
	pair_close(&p);
}

static void test_v2_with_legacy_shadow(void **state)
{
	(void)state;
	pair_t p;
	/* A sends both formats to B (a migrating node); B keeps the v2 copy only */
	char extra[256];
	snprintf(extra, sizeof(extra), V2 "<param name=\"legacy-address\" value=\"127.0.0.1:%d\"/>", base_port() + 1);
	pair_start_ex(&p, NULL, NULL, "HEARTBEAT CUSTOM test::x", extra, NULL);
	assert_true(run_until(&p.loop, &p.sb.peerups, 1, 3000));
	/* B knows A as a v2 peer once a heartbeat came by v2 (then its legacy
	 * copy is a shadow): A's first one may be lost (B was not bound yet)
	 * while its legacy copy, sent at the end of the loop turn, arrives */
	evcast_stats_t st;
	uint64_t end = uv_now(&p.loop) + 3000;
	do {
		uv_run(&p.loop, UV_RUN_ONCE);
		evcast_node_stats(p.b, &st);
	} while (st.rx_legacy_shadow < 1 && uv_now(&p.loop) < end);
	assert_true(st.rx_legacy_shadow >= 1);
	uint64_t shadows = st.rx_legacy_shadow, hb = st.heartbeats_rx;
	evcast_node_fire(p.a, evcast_event_new_named("CUSTOM", "test::x"));
	assert_true(run_until(&p.loop, &p.sb.received, 1, 3000));
	end = uv_now(&p.loop) + 1500;
	do {
		uv_run(&p.loop, UV_RUN_ONCE);
		evcast_node_stats(p.b, &st);
	} while (st.rx_legacy_shadow < shadows + 1 + (st.heartbeats_rx - hb) && uv_now(&p.loop) < end);
	/* the event's legacy copy is counted as a shadow, not delivered */
	assert_true(st.rx_legacy_shadow >= shadows + 1 + (st.heartbeats_rx - hb));
	assert_int_equal(p.sb.received, 1);
	pair_close(&p);
}

/* A dual-sending node B has no peer entry for yet (it sends no HEARTBEAT here,
 * as after B's restart before A's next one): the v2 copy of its event is
 * delivered, the legacy copy is recognised as its shadow. */
static void test_v2_shadow_before_any_heartbeat(void **state)
{
	(void)state;
	pair_t p;
	char extra[256];
	snprintf(extra, sizeof(extra), V2 "<param name=\"legacy-address\" value=\"127.0.0.1:%d\"/>", base_port() + 1);
	pair_start_ex(&p, NULL, NULL, "CUSTOM test::x", extra, NULL); /* A: no HEARTBEAT bound */
	for (int i = 0; i < 20; i++)
		uv_run(&p.loop, UV_RUN_NOWAIT); /* both started, nothing in flight */
	evcast_node_fire(p.a, evcast_event_new_named("CUSTOM", "test::x"));
	assert_true(run_until(&p.loop, &p.sb.received, 1, 3000));
	evcast_stats_t st;
	uint64_t end = uv_now(&p.loop) + 1500;
	do {
		uv_run(&p.loop, UV_RUN_ONCE);
		evcast_node_stats(p.b, &st);
	} while (st.rx_legacy_shadow < 1 && uv_now(&p.loop) < end);
	assert_int_equal(st.rx_legacy_shadow, 1);
	assert_int_equal(st.heartbeats_rx, 0);
	assert_int_equal(p.sb.received, 1);
	pair_close(&p);
}

/* Loop prevention with "ALL" bound: what A receives from B (as
 * multicast::event) and its own multicast::peerup never go back out; A sends
 * only its own heartbeats and its own events. */
static void test_all_bindings_never_resend(void **state)
{
	(void)state;
	pair_t p;
	pair_start(&p, NULL, NULL, "ALL");
	assert_true(run_until(&p.loop, &p.sa.peerups, 1, 3000));
	evcast_event_t *ev = evcast_event_new_named("CUSTOM", "test::x");
	evcast_event_add_header(ev, "from-user", "1007");
	assert_int_equal(evcast_node_fire(p.b, ev), 0);
	assert_true(run_until(&p.loop, &p.sa.received, 1, 3000));
	assert_string_equal(p.sa.last_orig_user, "1007");
	evcast_stats_t a;
	evcast_node_stats(p.a, &a);
	assert_true(a.loop_prevented >= 2); /* the peerup and the received event at least */
	assert_int_equal(a.tx_events, a.heartbeats_tx);
	assert_int_equal(p.sb.received, 0); /* nothing came back to B */
	pair_close(&p);
}

/* Records the header names of the first HEARTBEAT received from the peer
 * (as its multicast::event, so with the Orig- prefix), comma-joined. */
typedef struct hbseen {
	int n;
	char names[2048], switchname[64], sender[64], info[64], uptime_ms[32];
} hbseen_t;

static void copy_hdr(const evcast_event_t *ev, const char *name, char *out, size_t cap)
{
	const char *v = evcast_event_get_header(ev, name);
	snprintf(out, cap, "%s", v ? v : "");
}

static void on_heartbeat_seen(void *ud, const evcast_event_t *ev)
{
	hbseen_t *h = ud;
	const char *sub = evcast_event_subclass(ev), *oname = evcast_event_get_header(ev, "Orig-Event-Name");
	if (h->n || !sub || strcmp(sub, "multicast::event") != 0 || !oname || strcmp(oname, "HEARTBEAT") != 0)
		return;
	size_t len = 0;
	for (size_t i = 0; i < evcast_event_header_count(ev); i++) {
		const char *name, *value;
		assert_int_equal(evcast_event_header_at(ev, i, &name, &value), 0);
		if (strncmp(name, "Orig-", 5) != 0)
			continue;
		len += (size_t)snprintf(h->names + len, sizeof(h->names) - len, "%s%s", len ? "," : "", name + 5);
		assert_true(len < sizeof(h->names));
	}
	copy_hdr(ev, "Orig-FreeSWITCH-Switchname", h->switchname, sizeof(h->switchname));
	copy_hdr(ev, "Orig-Multicast-Sender", h->sender, sizeof(h->sender));
	copy_hdr(ev, "Orig-Event-Info", h->info, sizeof(h->info));
	copy_hdr(ev, "Orig-Uptime-msec", h->uptime_ms, sizeof(h->uptime_ms));
	h->n++;
}

/* Our HEARTBEAT, as a peer receives it, has exactly the headers of a real
 * FreeSWITCH 1.11 HEARTBEAT, in its order (the capture's decoded_headers),
 * so legacy peers see evcast as one of theirs. */
static void test_heartbeat_headers_as_freeswitch(void **state)
{
	(void)state;
	char path[512], want[2048] = "";
	snprintf(path, sizeof(path), "%s/freeswitch/fs_heartbeat_plain.json", EVCAST_VECTORS);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	static char text[65536];
	size_t tl = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[tl] = '\0';
	cJSON *root = cJSON_Parse(text);
	assert_non_null(root);
	const cJSON *hs = cJSON_GetObjectItemCaseSensitive(root, "decoded_headers"), *h;
	assert_true(cJSON_IsArray(hs));
	size_t len = 0;
	cJSON_ArrayForEach(h, hs) {
		const cJSON *name = cJSON_GetArrayItem(h, 0);
		assert_true(cJSON_IsString(name));
		len += (size_t)snprintf(want + len, sizeof(want) - len, "%s%s", len ? "," : "", name->valuestring);
		assert_true(len < sizeof(want));
	}
	cJSON_Delete(root);
	assert_non_null(strstr(want, "Event-Name,Core-UUID,FreeSWITCH-Hostname,FreeSWITCH-Switchname"));

	pair_t p;
	hbseen_t hb = {0};
	pair_start(&p, NULL, NULL, "HEARTBEAT");
	assert_true(evcast_node_subscribe(p.b, on_heartbeat_seen, &hb) > 0);
	assert_true(run_until(&p.loop, &hb.n, 1, 3000));
	assert_string_equal(hb.names, want);
	assert_string_equal(hb.switchname, "node-a");
	assert_string_equal(hb.sender, "node-a");
	assert_string_equal(hb.info, "System Ready");
	assert_true(hb.uptime_ms[0] >= '0' && hb.uptime_ms[0] <= '9');
	pair_close(&p);
}

/* The same exchange over IPv6 (unicast ::1): heartbeats give a peerup, an
 * event crosses with its Orig- headers. Skipped when the host has no ::1. */
static void test_ipv6_unicast_pair(void **state)
{
	(void)state;
	uv_loop_t probe_loop;
	uv_udp_t probe;
	struct sockaddr_in6 a6;
	assert_int_equal(uv_loop_init(&probe_loop), 0);
	assert_int_equal(uv_ip6_addr("::1", 0, &a6), 0);
	assert_int_equal(uv_udp_init(&probe_loop, &probe), 0);
	int r = uv_udp_bind(&probe, (const struct sockaddr *)&a6, 0);
	uv_close((uv_handle_t *)&probe, NULL);
	uv_run(&probe_loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&probe_loop), 0);
	if (r != 0)
		skip();

	g_host = "::1";
	pair_t p;
	pair_start(&p, NULL, NULL, "HEARTBEAT CUSTOM test::x");
	g_host = "127.0.0.1";
	assert_int_equal(evcast_node_config(p.a)->dests[0].addr.ss_family, AF_INET6);
	assert_true(run_until(&p.loop, &p.sb.peerups, 1, 3000));
	evcast_event_t *ev = evcast_event_new_named("CUSTOM", "test::x");
	evcast_event_add_header(ev, "from-user", "1006");
	assert_int_equal(evcast_node_fire(p.a, ev), 0);
	assert_true(run_until(&p.loop, &p.sb.received, 1, 3000));
	assert_string_equal(p.sb.last_orig_sender, "node-a");
	assert_string_equal(p.sb.last_orig_user, "1006");
	char *json = evcast_node_peers_json(p.b);
	assert_non_null(strstr(json, "\"address\":\"[::1]"));
	evcast_free(json);
	pair_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peerup_event_and_peerdown),
		cmocka_unit_test(test_wrong_psk_is_dropped_and_counted),
		cmocka_unit_test(test_plaintext_dropped_by_psk_node),
		cmocka_unit_test(test_psk_pair_works),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_bad_datagrams_counted),
		cmocka_unit_test(test_v2_plaintext_and_fragmentation),
		cmocka_unit_test(test_v2_sealed_and_wrong_key),
		cmocka_unit_test(test_v2_with_legacy_shadow),
		cmocka_unit_test(test_v2_shadow_before_any_heartbeat),
		cmocka_unit_test(test_all_bindings_never_resend),
		cmocka_unit_test(test_heartbeat_headers_as_freeswitch),
		cmocka_unit_test(test_ipv6_unicast_pair),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
