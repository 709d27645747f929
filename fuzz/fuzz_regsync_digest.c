/*
 * fuzz_regsync_digest.c -- libFuzzer target for the anti-entropy digest texts
 * (src/daemon/regsync_digest.c) a peer sends: the bucket digest of a `digest`
 * event and the leaves in the body of a repair `request`.
 *
 * The input's first 8 bytes are the bucket mask, the rest the text, offered to
 * both parsers against the digest of a small fixed table. The invariants: a
 * bucket text is accepted only at its exact length and all hex; a leaf text
 * only at popcount(mask) x 512 hex digits; differing leaves lie inside the mask
 * and their count is what the call returns; the table's own texts compare
 * equal. Violations abort.
 */
#include <stdlib.h>
#include <string.h>
#include "../src/daemon/regsync_digest.c"

static evcd_rs_digest_t dg;
static char own_buckets[RS_BUCKETS_TEXT + 1], own_leaves[RS_LEAVES_TEXT_MAX + 1];

static void setup(void)
{
	evc__reg_opts_t o = {.tombstone_ttl_ms = 3600000};
	evc__reg_t *r;
	char user[16], cid[16];
	if (evc__reg_new(&o, NULL, &r) != 0)
		abort();
	for (int u = 0; u < 300; u++) {
		snprintf(user, sizeof(user), "%d", 1000 + u);
		snprintf(cid, sizeof(cid), "c-%d", u);
		evc__reg_update_t x = {.profile = "internal", .user = user, .realm = "example.test", .call_id = cid,
				       .contact = "sip:x@10.0.0.1", .node = u % 2 ? "A" : "B",
				       .ts_us = 1700000000000000ULL + (uint64_t)u, .expires_ms = 1700000600000LL,
				       .tomb = u % 4 == 0};
		evc__reg_apply(r, &x, 1700000000000LL);
	}
	evcd_rs_digest(r, &dg);
	evc__reg_free(r);
	evcd_rs_buckets_text(&dg, own_buckets);
	evcd_rs_leaves_text(&dg, UINT64_MAX, own_leaves);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	uint64_t mask = 0, bmask, diff[RS_BUCKETS], in_mask = 0;
	char *text;
	size_t len;
	int n, bits = 0;
	if (!ready) {
		setup();
		ready = 1;
		if (evcd_rs_buckets_diff(&dg, own_buckets, &bmask) != 0 || bmask ||
		    evcd_rs_leaves_diff(&dg, UINT64_MAX, own_leaves, RS_LEAVES_TEXT_MAX, diff) != 0)
			abort();
	}
	if (size < 8)
		return 0;
	memcpy(&mask, data, 8);
	len = size - 8;
	if (!(text = malloc(len + 1)))
		return 0;
	memcpy(text, data + 8, len);
	text[len] = '\0';
	if (evcd_rs_buckets_diff(&dg, text, &bmask) == 0 && strlen(text) != RS_BUCKETS_TEXT)
		abort();
	n = evcd_rs_leaves_diff(&dg, mask, text, len, diff);
	if (n >= 0) {
		if (len != (size_t)__builtin_popcountll(mask) * RS_LEAVES_TEXT)
			abort();
		for (int b = 0; b < RS_BUCKETS; b++) {
			bits += __builtin_popcountll(diff[b]);
			in_mask |= diff[b] ? 1ULL << b : 0;
		}
		if (bits != n || (in_mask & ~mask))
			abort();
	}
	free(text);
	return 0;
}
