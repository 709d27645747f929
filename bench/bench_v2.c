/*
 * bench_v2.c -- the per-event CPU cost of the v2 receive steps, for callgrind.
 *
 *   bench_v2 sealed|plain FILE [-n N] [--fill]
 * FILE is a legacy datagram (e.g. register_plain.bin); its event text, without
 * Multicast-Sender, becomes a one-record v2 DATA batch (--fill: as many
 * records, copies of it, as one default 1400-byte datagram carries, as the
 * sender batches events), sealed with XChaCha20-Poly1305 (key id 1) or
 * plaintext. Then N times (function
 * v2_receive_once): header decode + replay check + open + batch check + event
 * parse + free, i.e. docs/PROTOCOL.md section 12 up to delivery (no I/O, no
 * node dispatch). Run under `valgrind --tool=callgrind
 * --toggle-collect=v2_receive_once` and divide by "calls=N" (per datagram)
 * or by calls * "events=K" (per event). Uses the
 * library's internal v2 API (src/lib/v2.h) against the static libevcast.
 */
#include "evcast/evcast.h"
#include "v2.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(int argc, char **argv)
{
	static uint8_t raw[EVCAST_LEGACY_MAX_DGRAM];
	unsigned long n = 10000;
	if (argc < 3 || (strcmp(argv[1], "sealed") && strcmp(argv[1], "plain"))) {
		fprintf(stderr, "usage: bench_v2 sealed|plain FILE [-n N]\n");
		return 2;
	}
	bool sealed = strcmp(argv[1], "sealed") == 0, fill = false;
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			n = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--fill") == 0)
			fill = true;
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
