/*
 * bench_node.c -- the node driver the receive-path benches share (see
 * bench_node.h). Plain sockets and the public API; its callbacks are not what
 * callgrind counts (the benches toggle collection on the node's own
 * functions), so its cost never enters a figure.
 */
#include "bench_node.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

typedef struct ctx {
	bench_node_run_t *r;
	evcast_node_t *node;
	uv_timer_t check;
	uv_idle_t idle;
	int fd;
	struct sockaddr_in to;
	uint64_t t0;
	uint8_t dgram[65536];
} ctx_t;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The consumer: runs inside the node's dispatch, so inside what callgrind
 * counts; kept to one header lookup and one increment. */
static void on_event(void *ud, const evcast_event_t *ev)
{
	unsigned long *delivered = ud;
	if (evcast_event_get_header(ev, "Orig-Event-Name"))
		++*delivered;
}

/* The same, printing the first two delivered events (to compare builds). */
static void on_event_dump(void *ud, const evcast_event_t *ev)
{
	unsigned long *delivered = ud;
	on_event(ud, ev);
	if (*delivered <= 2) {
		char *t = evcast_event_to_plain(ev, NULL);
		fprintf(stderr, "%s----\n", t ? t : "(none)");
		evcast_free(t);
	}
}

static void on_idle(uv_idle_t *h)
{
	ctx_t *c = h->data;
	bench_node_run_t *r = c->r;
	for (int i = 0; i < 16 && r->sent < r->n; i++) {
		ssize_t len = r->make(r->ud, r->sent + 1, c->dgram, sizeof(c->dgram));
		if (len > 0 && sendto(c->fd, c->dgram, (size_t)len, 0, (struct sockaddr *)&c->to, sizeof(c->to)) == len)
			r->sent++;
	}
	if (r->sent >= r->n)
		uv_idle_stop(h);
}

static void on_check(uv_timer_t *h)
{
	ctx_t *c = h->data;
	bench_node_run_t *r = c->r;
	evcast_node_stats(c->node, &r->st);
	if (r->delivered < r->want && r->st.rx_datagrams < r->n && mono_ns() - c->t0 < 300000000000ull)
		return;
	uv_close((uv_handle_t *)&c->idle, NULL);
	uv_close((uv_handle_t *)h, NULL);
	evcast_node_close(c->node, NULL, NULL);
}

static void log_cb(void *ud, int level, const char *msg)
{
	(void)ud;
	if (level <= EVCAST_LOG_WARNING)
		fprintf(stderr, "evcast: %s\n", msg);
}

int bench_node_run(bench_node_run_t *r)
{
	char xml[2048], err[256] = "";
	evcast_config_t *cfg = NULL;
	uv_loop_t loop;
	static ctx_t c;
	memset(&c, 0, sizeof(c));
	c.r = r;
	snprintf(xml, sizeof(xml),
		 "<configuration name=\"event_multicast.conf\"><settings>"
		 "<param name=\"address\" value=\"127.0.0.1\"/><param name=\"port\" value=\"%d\"/>"
		 "<param name=\"bindings\" value=\"\"/><param name=\"node-name\" value=\"%s\"/>"
		 "%s</settings></configuration>",
		 r->port, r->name, r->settings ? r->settings : "");
	if (evcast_config_parse(xml, strlen(xml), NULL, log_cb, NULL, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: config: %s\n", r->name, err);
		return 1;
	}
	uv_loop_init(&loop);
	if (evcast_node_new(&loop, cfg, log_cb, NULL, &c.node) < 0 || evcast_node_start(c.node) < 0) {
		fprintf(stderr, "%s: cannot start the node\n", r->name);
		return 1;
	}
	evcast_config_free(cfg);
	evcast_node_subscribe(c.node, r->dump ? on_event_dump : on_event, &r->delivered);
	c.fd = socket(AF_INET, SOCK_DGRAM, 0);
	c.to.sin_family = AF_INET;
	c.to.sin_port = htons((uint16_t)r->port);
	c.to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c.t0 = mono_ns();
	uv_idle_init(&loop, &c.idle);
	c.idle.data = &c;
	uv_idle_start(&c.idle, on_idle);
	uv_timer_init(&loop, &c.check);
	c.check.data = &c;
	uv_timer_start(&c.check, on_check, 20, 20);
	uv_run(&loop, UV_RUN_DEFAULT);
	close(c.fd);
	r->loop_closed = uv_loop_close(&loop) == 0;
	return r->delivered == r->want ? 0 : 1;
}
