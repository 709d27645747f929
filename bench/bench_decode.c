/*
 * bench_decode.c -- the per-event CPU cost of the receive path, for callgrind.
 *
 *   bench_decode decode FILE [--psk KEY] [-n N]   evcast_legacy_decode + evcast_event_free
 *                                                 of one datagram, N times (function decode_once)
 *   bench_decode node FILE [--psk KEY] [-n N] [--port P]
 *                                                 N copies of the datagram sent over
 *                                                 127.0.0.1 to a running node with one
 *                                                 consumer: decode + wrap + dispatch (on_datagram)
 * Run under `valgrind --tool=callgrind --toggle-collect=decode_once` (or
 * =on_datagram) and divide the collected instructions by the count printed
 * ("calls=N"). Node mode must run in a private network namespace (bench.sh).
 */
#include "bench_util.h"
#include "evcast/evcast.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint8_t g_dgram[EVCAST_LEGACY_MAX_DGRAM];
static size_t g_len;

__attribute__((noinline)) int decode_once(const evcast_legacy_key_t *key);
__attribute__((noinline)) int decode_once(const evcast_legacy_key_t *key)
{
	evcast_event_t *ev = NULL;
	int rc = evcast_legacy_decode(g_dgram, g_len, key, &ev);
	evcast_event_free(ev);
	return rc;
}

/* ------------------------------------------------------------ node mode */

typedef struct nctx {
	evcast_node_t *node;
	uv_timer_t check;
	uv_idle_t idle;
	int fd;
	struct sockaddr_in to;
	unsigned long n, sent, delivered;
	uint64_t t0;
	evcast_stats_t st;
} nctx_t;

static void on_event(void *ud, const evcast_event_t *ev)
{
	nctx_t *c = ud;
	if (evcast_event_get_header(ev, "Orig-Event-Name"))
		c->delivered++;
}

static void on_idle(uv_idle_t *h)
{
	nctx_t *c = h->data;
	for (int i = 0; i < 16 && c->sent < c->n; i++)
		if (sendto(c->fd, g_dgram, g_len, 0, (struct sockaddr *)&c->to, sizeof(c->to)) == (ssize_t)g_len)
			c->sent++;
	if (c->sent >= c->n)
		uv_idle_stop(h);
}

static void on_check(uv_timer_t *h)
{
	nctx_t *c = h->data;
	evcast_node_stats(c->node, &c->st);
	if (c->st.rx_datagrams < c->n && bench_now_ns() - c->t0 < 300000000000ull)
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

static int run_node(const char *psk, unsigned long n, int port)
{
	char xml[1024], err[256] = "";
	evcast_config_t *cfg = NULL;
	uv_loop_t loop;
	nctx_t c = {.n = n};
	snprintf(xml, sizeof(xml),
		 "<configuration name=\"event_multicast.conf\"><settings>"
		 "<param name=\"address\" value=\"127.0.0.1\"/><param name=\"port\" value=\"%d\"/>"
		 "<param name=\"bindings\" value=\"\"/><param name=\"node-name\" value=\"benchdec\"/>"
		 "%s%s%s</settings></configuration>",
		 port, psk ? "<param name=\"psk\" value=\"" : "", psk ? psk : "", psk ? "\"/>" : "");
	if (evcast_config_parse(xml, strlen(xml), NULL, log_cb, NULL, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_decode: config: %s\n", err);
		return 1;
	}
	uv_loop_init(&loop);
	if (evcast_node_new(&loop, cfg, log_cb, NULL, &c.node) < 0 || evcast_node_start(c.node) < 0) {
		fprintf(stderr, "bench_decode: cannot start the node\n");
		return 1;
	}
	evcast_config_free(cfg);
	evcast_node_subscribe(c.node, on_event, &c);
	c.fd = socket(AF_INET, SOCK_DGRAM, 0);
	c.to.sin_family = AF_INET;
	c.to.sin_port = htons((uint16_t)port);
	c.to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c.t0 = bench_now_ns();
	uv_idle_init(&loop, &c.idle);
	c.idle.data = &c;
	uv_idle_start(&c.idle, on_idle);
	uv_timer_init(&loop, &c.check);
	c.check.data = &c;
	uv_timer_start(&c.check, on_check, 20, 20);
	uv_run(&loop, UV_RUN_DEFAULT);
	close(c.fd);
	int rc = uv_loop_close(&loop);
	printf("mode=node calls=%llu sent=%lu delivered=%lu drops=%llu loop_closed=%s\n",
	       (unsigned long long)c.st.rx_datagrams, c.sent, c.delivered,
	       (unsigned long long)(c.st.drop_parse + c.st.drop_psk + c.st.drop_plain + c.st.drop_nomagic),
	       rc == 0 ? "yes" : "no");
	return c.delivered == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *mode, *file, *psk = NULL;
	unsigned long n = 10000;
	int port = 47010;
	if (argc < 3) {
		fprintf(stderr, "usage: bench_decode decode|node FILE [--psk KEY] [-n N] [--port P]\n");
		return 2;
	}
	mode = argv[1];
	file = argv[2];
	for (int i = 3; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--psk") == 0)
			psk = argv[i + 1];
		else if (strcmp(argv[i], "-n") == 0)
			n = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
	}
	if (n < 1 || n > 10000000) {
		fprintf(stderr, "bench_decode: -n must be 1..10000000\n");
		return 2;
	}
	FILE *f = fopen(file, "rb");
	if (!f) {
		perror(file);
		return 1;
	}
	g_len = fread(g_dgram, 1, sizeof(g_dgram), f);
	fclose(f);
	if (strcmp(mode, "node") == 0)
		return run_node(psk, n, port);
	evcast_legacy_key_t *key = NULL;
	if (psk && evcast_legacy_key_new(psk, strlen(psk), &key) < 0)
		return 1;
	int rc = decode_once(key); /* warm-up, outside any count */
	if (rc != 0) {
		fprintf(stderr, "bench_decode: %s does not decode: %s\n", file, evcast_strerror(rc));
		return 1;
	}
	for (unsigned long i = 0; i < n; i++)
		decode_once(key);
	printf("mode=decode calls=%lu bytes=%zu\n", n + 1, g_len);
	evcast_legacy_key_free(key);
	return 0;
}
