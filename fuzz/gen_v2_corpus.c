/*
 * gen_v2_corpus.c -- writes the seed corpora of fuzz_frame and fuzz_reasm
 * (fuzz/corpus/frame, fuzz/corpus/reasm). Not a fuzz target (no fuzz_ prefix,
 * so CMake does not build it); run by hand after a change of the format:
 *   gcc -std=c11 -D_GNU_SOURCE -Iinclude -Isrc/lib fuzz/gen_v2_corpus.c \
 *       build-x/libevcast.a -lsodium -lnettle -luv -lexpat -lcjson -o /tmp/gen && /tmp/gen fuzz/corpus
 * The fixed key is fuzz_frame's: master 32 x 0x5C, key id 1.
 */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include "v2.h"

static const char *dir;

static void save(const char *sub, const char *name, const uint8_t *p, size_t n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n) {
		perror(path);
		exit(1);
	}
	fclose(f);
}

static void hdr(evc__v2_hdr_t *h, uint8_t type, uint64_t seq, uint32_t msg_len)
{
	memset(h, 0, sizeof(*h));
	h->type = type;
	memset(h->node_id, 0x21, 16);
	h->epoch = 1700000000000000ull;
	h->seq = seq;
	h->ts_us = h->epoch + 1000;
	h->frag_count = 1;
	h->msg_len = msg_len;
}

int main(int argc, char **argv)
{
	dir = argc > 1 ? argv[1] : "fuzz/corpus";
	evc__v2_keyring_t *kr, *none;
	uint8_t master[32], dg[4096], batch[2048];
	memset(master, 0x5C, sizeof(master));
	if (evc__v2_keyring_new(&kr) || evc__v2_keyring_add_master(kr, 1, master) || evc__v2_keyring_new(&none))
		return 1;
	evc__v2_batch_t b;
	evc__v2_batch_init(&b, batch, sizeof(batch));
	const char *e1 = "Event-Name: HEARTBEAT\nCore-UUID: 1b2c\nEvent-Info: System%20Ready\n\n";
	const char *e2 = "Event-Name: CUSTOM\nEvent-Subclass: sofia%3A%3Aregister\nContent-Length: 5\n\nhello";
	evc__v2_batch_add(&b, e1, strlen(e1));
	evc__v2_batch_add(&b, e2, strlen(e2));
	evc__v2_hdr_t h;
	int n;
	hdr(&h, EVC_V2_DATA, 1, (uint32_t)b.len);
	n = evc__v2_seal(none, &h, batch, b.len, dg, sizeof(dg));
	save("frame", "data_plain", dg, (size_t)n);
	hdr(&h, EVC_V2_DATA, 2, (uint32_t)b.len);
	n = evc__v2_seal(kr, &h, batch, b.len, dg, sizeof(dg));
	save("frame", "data_sealed", dg, (size_t)n);
	save("frame", "batch_plaintext", batch, b.len);
	/* fragment 1 of 3 of a 3000-byte message */
	uint8_t big[3000];
	memset(big, 'f', sizeof(big));
	hdr(&h, EVC_V2_DATA, 11, 3000);
	h.frag_count = 3;
	h.frag_index = 1;
	n = evc__v2_seal(kr, &h, big, 1000, dg, sizeof(dg));
	save("frame", "frag_sealed", dg, (size_t)n);
	evc__v2_announce_t a = {.last_seq = 40, .oldest_seq = 3};
	uint8_t ap[16];
	evc__v2_announce_encode(&a, ap);
	hdr(&h, EVC_V2_ANNOUNCE, EVC_V2_CTL_BIT | 1, 16);
	n = evc__v2_seal(kr, &h, ap, 16, dg, sizeof(dg));
	save("frame", "announce_sealed", dg, (size_t)n);
	hdr(&h, EVC_V2_ANNOUNCE, EVC_V2_CTL_BIT | 2, 16);
	n = evc__v2_seal(none, &h, ap, 16, dg, sizeof(dg));
	save("frame", "announce_plain", dg, (size_t)n);
	evc__v2_nak_t nk;
	memset(&nk, 0, sizeof(nk));
	memset(nk.target_node, 0x33, 16);
	nk.target_epoch = 1700000000000001ull;
	nk.nranges = 2;
	nk.ranges[0] = (evc__v2_range_t){5, 3};
	nk.ranges[1] = (evc__v2_range_t){20, 1};
	uint8_t np[256];
	int nl = evc__v2_nak_encode(&nk, np, sizeof(np));
	hdr(&h, EVC_V2_NAK, EVC_V2_CTL_BIT | 3, (uint32_t)nl);
	n = evc__v2_seal(none, &h, np, (size_t)nl, dg, sizeof(dg));
	save("frame", "nak_plain", dg, (size_t)n);
	hdr(&h, EVC_V2_NAK, EVC_V2_CTL_BIT | 4, (uint32_t)nl);
	n = evc__v2_seal(kr, &h, np, (size_t)nl, dg, sizeof(dg));
	save("frame", "nak_sealed", dg, (size_t)n);
	/* STATUS (flow control, PROTOCOL.md 14.2) */
	evc__v2_status_t st = {.target_epoch = 1700000000000001ull, .delivered = 40, .window = 1024, .flags = 1};
	memset(st.target_node, 0x33, 16);
	uint8_t sp[EVC_V2_STATUS_LEN];
	evc__v2_status_encode(&st, sp);
	hdr(&h, EVC_V2_STATUS, EVC_V2_CTL_BIT | 5, EVC_V2_STATUS_LEN);
	n = evc__v2_seal(kr, &h, sp, sizeof(sp), dg, sizeof(dg));
	save("frame", "status_sealed", dg, (size_t)n);
	hdr(&h, EVC_V2_STATUS, EVC_V2_CTL_BIT | 6, EVC_V2_STATUS_LEN);
	n = evc__v2_seal(none, &h, sp, sizeof(sp), dg, sizeof(dg));
	save("frame", "status_plain", dg, (size_t)n);
	save("frame", "magic_only", (const uint8_t *)"\xEC\xA5v2", 4);
	save("frame", "empty", (const uint8_t *)"", 0);
	const char *legacy = "Event-Name: HEARTBEAT\n\n";
	save("frame", "legacy_start", (const uint8_t *)legacy, strlen(legacy));

	/* reasm programs: 12-byte ops (see fuzz_reasm.c) */
	uint8_t prog[12 * 16];
	memset(prog, 0, sizeof(prog));
	/* 3 fragments of a 3000-byte message, out of order, then a gap-tracker run */
	uint8_t ops[][12] = {
		{0, 0, 0, 2, 0, 2, 10, 0, 0, 0x0B, 0xB8, 0},  /* frag 2 of 3, msg 3000 */
		{0, 0, 0, 2, 0, 0, 10, 0, 0, 0x0B, 0xB8, 0},  /* frag 0 */
		{1, 0, 0, 2, 0, 1, 10, 0, 0, 0x0B, 0xB8, 0},  /* frag 1: completes */
		{0, 1, 1, 4, 0, 3, 20, 0, 0, 0x13, 0x88, 0},  /* another node, partial */
		{2, 0, 0, 0x0F, 0xA0, 0, 0, 0, 0, 0, 0, 0},   /* 4000 ms pass: timeout */
		{3, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0},          /* gaps: seq 2 */
		{3, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0},          /* seq 10: gap 3..9 */
		{5, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},         /* poll */
		{3, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0},          /* seq 6: split */
		{4, 0, 0, 0, 0, 20, 0, 0, 0, 3, 0, 0},         /* announce last 20 */
		{5, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},        /* poll */
		{3, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0},          /* new epoch */
	};
	memcpy(prog, ops, sizeof(ops));
	save("reasm", "program_basic", prog, sizeof(ops));
	save("reasm", "frag_in_order", ops[1], 12);
	evc__v2_keyring_free(kr);
	evc__v2_keyring_free(none);
	return 0;
}
