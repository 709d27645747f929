/*
 * bench_v2.c -- the per-event CPU cost of the v2 receive steps, for callgrind.
 *
 *   bench_v2 sealed|plain FILE [-n N] [--fill] [--node [--port P]]
 * FILE is a legacy datagram (e.g. register_plain.bin); its event text, without
 * Multicast-Sender, becomes a one-record v2 DATA batch (--fill: as many
 * records, copies of it, as one default 1400-byte datagram carries, as the
 * sender batches events), sealed with XChaCha20-Poly1305 (key id 1) or
 * plaintext. Then N times (function
 * v2_receive_once): header decode + replay check + open + batch check + event
 * parse + free, i.e. docs/PROTOCOL.md section 12 up to delivery (no I/O, no
 * node dispatch). Run under `valgrind --tool=callgrind
 * --toggle-collect=v2_receive_once` and divide by "calls=N" (per datagram)
 * or by calls * "events=K" (per event). With --node the datagrams (sequence
 * 1..N, sealed as they are sent) go over 127.0.0.1 to a running v2 node with
 * one consumer: the node's whole receive path (endpoint, per-event wrapper,
 * Multicast-* headers, dispatch), for `--toggle-collect=on_datagram`
 * (instructions / calls / events; run it in a private network namespace, as
 * bench.sh does; env BENCH_V2_DUMP=1 prints the first delivered events, to
 * compare builds). Uses the library's internal v2 API (src/lib/v2.h) against
 * the static libevcast.
 */
#include "evcast/evcast.h"
#include "v2.h"
#include "bench_node.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint8_t g_dgram[EVC_V2_MAX_DGRAM];
static size_t g_len;
static uint8_t g_pt[EVC_V2_MAX_DGRAM];

__attribute__((noinline)) int v2_receive_once(const evc__v2_keyring_t *kr, evc__v2_replay_t *rp, uint64_t now_us);
__attribute__((noinline)) int v2_receive_once(const evc__v2_keyring_t *kr, evc__v2_replay_t *rp, uint64_t now_us)
{
	evc__v2_hdr_t h;
	size_t ptlen = 0, pos = 0, rlen;
	const uint8_t *rec;
	evcast_event_t *ev = NULL;
	int rc;
	if ((rc = evc__v2_hdr_decode(g_dgram, g_len, &h)) < 0 || (rc = evc__v2_replay_check(rp, &h, now_us)) < 0 ||
	    (rc = evc__v2_open(kr, false, &h, g_dgram, g_len, g_pt, sizeof(g_pt), &ptlen)) < 0 ||
	    (rc = evc__v2_batch_check(g_pt, ptlen)) < 0)
		return rc;
	while (evc__v2_batch_next(g_pt, ptlen, &pos, &rec, &rlen) == 1) {
		if ((rc = evcast_event_from_plain((const char *)rec, rlen, &ev)) < 0)
			return rc;
		evcast_event_free(ev);
	}
	return 0;
}

/* ------------------------------------------------------------ node mode */

typedef struct sealer {
	const evc__v2_keyring_t *kr;
	evc__v2_hdr_t h;
	const uint8_t *batch;
	size_t blen;
	int len; /* the last datagram's */
} sealer_t;

static uint64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Seals datagram seq (timestamp now: within the receiver's skew bound
 * however slow valgrind is). */
static ssize_t seal_next(void *ud, unsigned long seq, uint8_t *buf, size_t cap)
{
	sealer_t *z = ud;
	z->h.seq = seq;
	z->h.ts_us = wall_us();
	z->len = evc__v2_seal(z->kr, &z->h, z->batch, z->blen, buf, cap);
	return z->len;
}

static int run_node(bool sealed, const evc__v2_keyring_t *kr, const uint8_t *batch, size_t blen, unsigned events,
		    unsigned long n, int port, size_t tlen)
{
	sealer_t z = {.kr = kr, .batch = batch, .blen = blen};
	z.h = (evc__v2_hdr_t){.type = EVC_V2_DATA, .epoch = wall_us(), .frag_index = 0, .frag_count = 1,
			      .msg_len = (uint32_t)blen};
	for (int i = 0; i < EVC_V2_NODE_ID_LEN; i++)
		z.h.node_id[i] = (uint8_t)(0xa0 + i);
	bench_node_run_t r = {
		.name = "benchv2",
		.settings = sealed ? "<param name=\"protocol\" value=\"v2\"/>"
				     "<param name=\"v2-keys\" value=\"1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"/>"
				   : "<param name=\"protocol\" value=\"v2\"/>",
		.port = port, .n = n, .want = n * events, .make = seal_next, .ud = &z,
		.dump = getenv("BENCH_V2_DUMP") != NULL};
	int rc = bench_node_run(&r);
	printf("mode=v2-node-%s calls=%llu events=%u datagram=%d event_text=%zu sent=%lu delivered=%lu "
	       "loop_closed=%s\n",
	       sealed ? "sealed" : "plain", (unsigned long long)r.st.rx_datagrams, events, z.len, tlen, r.sent,
	       r.delivered, r.loop_closed ? "yes" : "no");
	return rc;
}

int main(int argc, char **argv)
{
	static uint8_t raw[EVCAST_LEGACY_MAX_DGRAM];
	unsigned long n = 10000;
	if (argc < 3 || (strcmp(argv[1], "sealed") && strcmp(argv[1], "plain"))) {
		fprintf(stderr, "usage: bench_v2 sealed|plain FILE [-n N] [--fill] [--node [--port P]]\n");
		return 2;
	}
	bool sealed = strcmp(argv[1], "sealed") == 0, fill = false, node = false;
	int port = 47020;
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			n = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--fill") == 0)
			fill = true;
		else if (strcmp(argv[i], "--node") == 0)
			node = true;
		else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port = atoi(argv[++i]);
	}
	if (n < 1 || n > 10000000) {
		fprintf(stderr, "bench_v2: -n must be 1..10000000\n");
		return 2;
	}
	FILE *f = fopen(argv[2], "rb");
	if (!f) {
		perror(argv[2]);
		return 1;
	}
	size_t rawlen = fread(raw, 1, sizeof(raw), f);
	fclose(f);
	evcast_event_t *ev = NULL;
	if (evcast_legacy_decode(raw, rawlen, NULL, &ev) != 0) {
		fprintf(stderr, "bench_v2: %s is not a plaintext legacy datagram\n", argv[2]);
		return 1;
	}
	evcast_event_del_header(ev, "Multicast-Sender"); /* v2 derives it from the node id */
	size_t tlen = 0;
	char *text = evcast_event_to_plain(ev, &tlen);
	evcast_event_free(ev);

	evc__v2_keyring_t *kr = NULL;
	uint8_t master[EVC_V2_KEY_LEN];
	for (size_t i = 0; i < sizeof(master); i++)
		master[i] = (uint8_t)i;
	if (evc__v2_keyring_new(&kr) < 0 || (sealed && evc__v2_keyring_add_master(kr, 1, master) < 0))
		return 1;
	uint8_t batch[EVC_V2_MAX_DGRAM];
	evc__v2_batch_t b;
	evc__v2_batch_init(&b, batch, fill ? EVC_V2_DEFAULT_PAYLOAD - EVC_V2_HDR_LEN - EVC_V2_TAG_LEN : sizeof(batch));
	if (!text || evc__v2_batch_add(&b, text, tlen) < 0)
		return 1;
	unsigned events = 1;
	while (fill && evc__v2_batch_add(&b, text, tlen) >= 0)
		events++;
	if (node) {
		int rc = run_node(sealed, kr, batch, b.len, events, n, port, tlen);
		evc__v2_keyring_free(kr);
		evcast_free(text);
		return rc;
	}
	uint64_t epoch = UINT64_C(1767225600000000);
	evc__v2_hdr_t h = {.type = EVC_V2_DATA, .epoch = epoch, .seq = 1, .ts_us = epoch + 1000,
			   .frag_index = 0, .frag_count = 1, .msg_len = (uint32_t)b.len};
	for (int i = 0; i < EVC_V2_NODE_ID_LEN; i++)
		h.node_id[i] = (uint8_t)(0xa0 + i);
	int len = evc__v2_seal(kr, &h, batch, b.len, g_dgram, sizeof(g_dgram));
	if (len < 0) {
		fprintf(stderr, "bench_v2: seal: %s\n", evc__v2_reason_name(len));
		return 1;
	}
	g_len = (size_t)len;
	evc__v2_replay_t rp;
	evc__v2_replay_init(&rp, 16, 10000000u);
	/* check only, never committed: every round sees the same fresh datagram */
	int rc = v2_receive_once(kr, &rp, epoch + 2000);
	if (rc != 0) {
		fprintf(stderr, "bench_v2: the datagram does not pass: %s\n", evc__v2_reason_name(rc));
		return 1;
	}
	for (unsigned long i = 0; i < n; i++)
		v2_receive_once(kr, &rp, epoch + 2000);
	printf("mode=v2-%s calls=%lu events=%u datagram=%zu event_text=%zu\n", argv[1], n + 1, events, g_len, tlen);
	evc__v2_replay_free(&rp);
	evc__v2_keyring_free(kr);
	evcast_free(text);
	return 0;
}
