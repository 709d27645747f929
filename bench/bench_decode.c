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
#include "bench_node.h"
#include "bench_util.h"
#include "evcast/evcast.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Every datagram is the file's, as it is. */
static ssize_t same_dgram(void *ud, unsigned long seq, uint8_t *buf, size_t cap)
{
	(void)ud;
	(void)seq;
	if (g_len > cap)
		return -1;
	memcpy(buf, g_dgram, g_len);
	return (ssize_t)g_len;
}

static int run_node(const char *psk, unsigned long n, int port)
{
	char settings[512] = "";
	if (psk)
		snprintf(settings, sizeof(settings), "<param name=\"psk\" value=\"%s\"/>", psk);
	bench_node_run_t r = {.name = "benchdec", .settings = settings, .port = port, .n = n, .want = n,
			      .make = same_dgram};
	int rc = bench_node_run(&r);
	printf("mode=node calls=%llu sent=%lu delivered=%lu drops=%llu loop_closed=%s\n",
	       (unsigned long long)r.st.rx_datagrams, r.sent, r.delivered,
	       (unsigned long long)(r.st.drop_parse + r.st.drop_psk + r.st.drop_plain + r.st.drop_nomagic),
	       r.loop_closed ? "yes" : "no");
	return rc;
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
