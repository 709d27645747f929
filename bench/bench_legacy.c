/*
 * bench_legacy.c -- the raw-UDP traffic shape carried by libevcast nodes.
 *
 * One sender node (evcast_node_fire of CUSTOM bench::load events whose plain
 * text is --size bytes, default 1024) and --receivers forked receiver nodes,
 * each counting the multicast::event deliveries to a local consumer
 * (evcast_node_subscribe). Legacy format, plaintext, on --group:--port via
 * --ifaddr (loop on, TTL 1): run it inside a private network namespace
 * (scripts/bench.sh does). Throughput mode fires 64 events per loop turn;
 * paced mode (--rate R --duration S) fires on a 1 ms timer and measures the
 * one-way latency from a monotonic timestamp header. --v2 plain|ID:SECRET runs
 * the same traffic over evcast wire protocol v2 (batching; sealed with the
 * key); --payload sets its payload-size, --compress its v2-compress, --body
 * random makes the body random alphanumerics instead of one repeated byte
 * (compression's worst case among text bodies). One RESULT line.
 */
#include "bench_util.h"
#include "evcast/evcast.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 64

static const char *USAGE =
	"usage: bench_legacy [--count N] [--receivers R] [--size TEXT_BYTES] [--group ADDR] [--port P]\n"
	"                    [--ifaddr ADDR] [--rate EV_PER_S --duration S] [--v2 plain|ID:SECRET] [--label NAME]\n"
	"                    [--payload BYTES] [--compress no|yes|LEVEL] [--body fill|random]";

static void quiet_log(void *ud, int level, const char *msg)
{
	(void)ud;
	if (level <= EVCAST_LOG_WARNING)
		fprintf(stderr, "evcast: %s\n", msg);
}

static int make_node(uv_loop_t *loop, const bench_opts_t *o, const char *name, const char *bindings,
		     evcast_node_t **out)
{
	char xml[2048], v2[512] = "", err[256] = "";
	evcast_config_t *cfg = NULL;
	int rc;
	if (o->v2) {
		int n = snprintf(v2, sizeof(v2), "<param name=\"protocol\" value=\"v2\"/>");
		if (strcmp(o->v2, "plain") != 0)
			n += snprintf(v2 + n, sizeof(v2) - (size_t)n, "<param name=\"v2-keys\" value=\"%s\"/>", o->v2);
		if (o->payload)
			n += snprintf(v2 + n, sizeof(v2) - (size_t)n, "<param name=\"payload-size\" value=\"%u\"/>",
				      o->payload);
		if (o->compress)
			snprintf(v2 + n, sizeof(v2) - (size_t)n, "<param name=\"v2-compress\" value=\"%s\"/>", o->compress);
	}
	snprintf(xml, sizeof(xml),
		 "<configuration name=\"event_multicast.conf\"><settings>"
		 "<param name=\"address\" value=\"%s\"/><param name=\"port\" value=\"%d\"/>"
		 "<param name=\"bindings\" value=\"%s\"/><param name=\"ttl\" value=\"1\"/>"
		 "<param name=\"loopback\" value=\"yes\"/><param name=\"node-name\" value=\"%s\"/>"
		 "<param name=\"multicast-interface\" value=\"%s\"/><param name=\"log-level\" value=\"warning\"/>"
		 "%s</settings></configuration>",
		 o->group, o->port, bindings, name, o->ifaddr, v2);
	if ((rc = evcast_config_parse(xml, strlen(xml), NULL, quiet_log, NULL, &cfg, err, sizeof(err))) < 0) {
		fprintf(stderr, "bench_legacy: config: %s\n", err);
		return rc;
	}
	rc = evcast_node_new(loop, cfg, quiet_log, NULL, out);
	evcast_config_free(cfg);
	if (rc == 0 && (rc = evcast_node_start(*out)) < 0)
		fprintf(stderr, "bench_legacy: node start: %s\n", evcast_strerror(rc));
	return rc;
}

/* ------------------------------------------------------------- receiver */

typedef struct rx {
	const bench_opts_t *o;
	bench_result_t *res;
	bench_lat_t lat;
	evcast_node_t *node;
	uv_timer_t check;
	uint64_t start_ns;
} rx_t;

static void on_rx_event(void *ud, const evcast_event_t *ev)
{
	rx_t *r = ud;
	const char *sub = evcast_event_get_header(ev, "Orig-Event-Subclass");
	if (!sub || strcmp(sub, "bench::load") != 0)
		return;
	uint64_t now = bench_now_ns();
	if (!r->res->received)
		r->res->first_ns = now;
	r->res->received++;
	r->res->last_ns = now;
	const char *ts = evcast_event_get_header(ev, "Orig-Bench-Ts");
	const char *paced = evcast_event_get_header(ev, "Orig-Bench-Paced");
	if (ts && paced)
		bench_lat_add(&r->lat, now - strtoull(ts, NULL, 10));
}

static void on_rx_check(uv_timer_t *t)
{
	rx_t *r = t->data;
	uint64_t now = bench_now_ns();
	bool done = r->res->received >= r->o->count ||
		    now - r->start_ns > (uint64_t)BENCH_DEADLINE_MS * 1000000u ||
		    (r->res->received && now - r->res->last_ns > (uint64_t)BENCH_IDLE_MS * 1000000u);
	if (!done)
		return;
	uv_close((uv_handle_t *)t, NULL);
	if (r->o->v2) {
		/* v2 loss recovery as this receiver saw it (stderr: diagnostics) */
		evcast_stats_t st;
		evcast_node_stats(r->node, &st);
		fprintf(stderr, "V2RX received=%llu lost=%llu recovered=%llu naks_tx=%llu hold_overflow=%llu",
			(unsigned long long)r->res->received, (unsigned long long)st.v2_lost,
			(unsigned long long)st.v2_recovered, (unsigned long long)st.v2_naks_tx,
			(unsigned long long)st.v2_hold_overflow);
		for (int i = 0; i < EVCAST_V2_REASONS && evcast_v2_reason_name(i); i++)
			if (st.v2_drops[i])
				fprintf(stderr, " %s=%llu", evcast_v2_reason_name(i), (unsigned long long)st.v2_drops[i]);
		fprintf(stderr, "\n");
	}
	evcast_node_close(r->node, NULL, NULL);
	r->node = NULL;
}

static void receiver(int idx, const bench_opts_t *o, bench_result_t *res, void *ud)
{
	char name[32];
	uv_loop_t loop;
	rx_t r = {.o = o, .res = res};
	(void)ud;
	uv_loop_init(&loop);
	snprintf(name, sizeof(name), "benchrx%d", idx);
	if (make_node(&loop, o, name, "", &r.node) < 0) {
		res->error = 1;
		return;
	}
	bench_lat_init(&r.lat);
	evcast_node_subscribe(r.node, on_rx_event, &r);
	uv_timer_init(&loop, &r.check);
	r.check.data = &r;
	r.start_ns = bench_now_ns();
	uv_timer_start(&r.check, on_rx_check, 50, 50);
	bench_ready();
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		fprintf(stderr, "bench_legacy: receiver %d: loop not closed cleanly\n", idx);
	bench_lat_finish(&r.lat, res);
}

/* --------------------------------------------------------------- sender */

typedef struct tx {
	const bench_opts_t *o;
	uv_loop_t *loop;
	evcast_node_t *node;
	uv_idle_t idle;
	uv_timer_t tick, linger;
	char *body;
	size_t body_len;
	char *pool; /* --body random: bodies are taken from here */
	size_t pool_len;
	uint32_t rnd;
	size_t probe_text; /* plain-text size of the probe as delivered locally */
	uint64_t sent, t0, t_end;
	bool paced;
	evcast_stats_t st; /* the sender's counters just before it closed */
} tx_t;

static void on_probe(void *ud, const evcast_event_t *ev)
{
	tx_t *t = ud;
	const char *sub = evcast_event_subclass(ev);
	size_t len = 0;
	if (!sub || strcmp(sub, "bench::probe") != 0)
		return;
	char *s = evcast_event_to_plain(ev, &len);
	evcast_free(s);
	t->probe_text = len;
}

static int fire_one(tx_t *t, const char *subclass, size_t body_len)
{
	char v[32];
	evcast_event_t *ev = evcast_event_new_named("CUSTOM", subclass);
	if (!ev)
		return EVCAST_ENOMEM;
	snprintf(v, sizeof(v), "%" PRIu64, t->sent);
	evcast_event_add_header(ev, "Bench-Seq", v);
	snprintf(v, sizeof(v), "%020" PRIu64, bench_now_ns());
	evcast_event_add_header(ev, "Bench-Ts", v);
	if (t->paced)
		evcast_event_add_header(ev, "Bench-Paced", "1");
	if (t->pool) {
		t->rnd ^= t->rnd << 13, t->rnd ^= t->rnd >> 17, t->rnd ^= t->rnd << 5;
		evcast_event_set_body(ev, t->pool + t->rnd % t->pool_len, body_len);
	} else {
		evcast_event_set_body(ev, t->body, body_len);
	}
	return evcast_node_fire(t->node, ev);
}

static void on_linger(uv_timer_t *h)
{
	tx_t *t = h->data;
	uv_close((uv_handle_t *)h, NULL);
	evcast_node_stats(t->node, &t->st);
	evcast_node_close(t->node, NULL, NULL);
}

static void finish_sending(tx_t *t)
{
	t->t_end = bench_now_ns();
	uv_timer_init(t->loop, &t->linger);
	t->linger.data = t;
	uv_timer_start(&t->linger, on_linger, 300, 0); /* lets queued datagrams drain */
}

static bool out_of_time(tx_t *t) { return bench_now_ns() - t->t0 > (uint64_t)BENCH_DEADLINE_MS * 1000000u; }

static void on_idle(uv_idle_t *h)
{
	tx_t *t = h->data;
	for (int i = 0; i < BATCH && t->sent < t->o->count; i++, t->sent++)
		fire_one(t, "bench::load", t->body_len);
	if (t->sent >= t->o->count || out_of_time(t)) {
		uv_idle_stop(h);
		uv_close((uv_handle_t *)h, NULL);
		finish_sending(t);
	}
}

static void on_tick(uv_timer_t *h)
{
	tx_t *t = h->data;
	uint64_t due = (bench_now_ns() - t->t0) * t->o->rate / 1000000000u + 1;
	for (int i = 0; i < BATCH && t->sent < due && t->sent < t->o->count; i++, t->sent++)
		fire_one(t, "bench::load", t->body_len);
	if (t->sent >= t->o->count || out_of_time(t)) {
		uv_timer_stop(h);
		uv_close((uv_handle_t *)h, NULL);
		finish_sending(t);
	}
}

int main(int argc, char **argv)
{
	bench_opts_t o = {.count = 300000, .receivers = 1, .size = 1024, .group = "239.255.77.2",
			  .ifaddr = "127.0.0.1", .port = 47002, .label = "legacy"};
	bench_result_t res[BENCH_MAX_RECEIVERS];
	uv_loop_t loop;
	tx_t t = {.o = &o, .rnd = 88675123u};
	evcast_stats_t st;
	bench_parse_opts(argc, argv, &o, USAGE);
	if (bench_spawn(&o, receiver, NULL) < 0)
		return 1;

	uv_loop_init(&loop);
	t.loop = &loop;
	if (make_node(&loop, &o, "benchtx", "CUSTOM bench::load", &t.node) < 0)
		return 1;
	t.paced = o.rate > 0;
	t.body = malloc(o.size + 1);
	memset(t.body, 'b', o.size);
	if (o.body && strcmp(o.body, "random") == 0) {
		/* incompressible-ish text (36 symbols, fixed seed): each event takes its
		 * body at a random offset of a 1 MiB pool, so events differ */
		static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
		uint32_t x = 2463534242u;
		t.pool_len = (size_t)1 << 20;
		t.pool = malloc(t.pool_len + o.size);
		for (size_t i = 0; i < t.pool_len + o.size; i++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			t.pool[i] = al[x % 36];
		}
	}
	/* size the body so that the event's plain text (as sent, with
	 * Multicast-Sender) is about --size bytes */
	int probe_id = evcast_node_subscribe(t.node, on_probe, &t);
	fire_one(&t, "bench::probe", 100);
	evcast_node_unsubscribe(t.node, probe_id);
	size_t fixed = t.probe_text - 100 + strlen("Multicast-Sender: benchtx\n");
	t.body_len = o.size > fixed ? o.size - fixed : 1;
	evcast_node_stats(t.node, &st);
	uint64_t tx0 = st.tx_events + st.v2_tx_events, txb0 = st.tx_bytes, dg0 = st.v2_tx_datagrams;

	t.t0 = bench_now_ns();
	if (t.paced) {
		uv_timer_init(&loop, &t.tick);
		t.tick.data = &t;
		uv_timer_start(&t.tick, on_tick, 1, 1);
	} else {
		uv_idle_init(&loop, &t.idle);
		t.idle.data = &t;
		uv_idle_start(&t.idle, on_idle);
	}
	/* the loop runs until the sender node is closed after the linger timer */
	uv_run(&loop, UV_RUN_DEFAULT);
	double send_s = (double)(t.t_end - t.t0) / 1e9;
	int rc = bench_collect(&o, res);
	if (uv_loop_close(&loop) != 0)
		fprintf(stderr, "bench_legacy: sender loop not closed cleanly\n");
	uint64_t nev = t.st.tx_events + t.st.v2_tx_events - tx0;
	size_t dgram = nev && !o.v2 ? (size_t)((t.st.tx_bytes - txb0) / nev) : 0; /* v2: see the batch figure */
	uint64_t ndg = t.st.v2_tx_datagrams - dg0;
	printf("  sender: event text ~%zu bytes (body %zu), datagram %zu bytes; %llu sent, %llu send errors, "
	       "%llu own datagrams looped back and decoded",
	       o.size, t.body_len, dgram, (unsigned long long)nev, (unsigned long long)t.st.tx_errors,
	       (unsigned long long)t.st.rx_self);
	if (o.v2)
		printf("; v2: %llu datagrams, %.2f events per datagram", (unsigned long long)ndg,
		       ndg ? (double)nev / (double)ndg : 0.0);
	printf("\n");
	bench_report(&o, nev, send_s, dgram ? dgram : o.size, res);
	if (o.v2)
		printf("V2 events_per_datagram=%.2f datagrams=%llu\n", ndg ? (double)nev / (double)ndg : 0.0,
		       (unsigned long long)ndg);
	free(t.body);
	free(t.pool);
	return rc < 0 ? 1 : 0;
}
