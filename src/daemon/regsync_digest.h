/*
 * regsync_digest.h -- the anti-entropy digest of the registration table
 * (regsync_digest.c), a two-level hash tree used by regsync.c only.
 *
 * Every entry (live or tombstone) falls in one of RS_SLOTS = 64 buckets x 64
 * leaves by a well-mixed hash of its key; a leaf is the XOR of a 64-bit hash
 * of (key, version, owner node, tombstone) of its entries, a bucket the XOR of
 * its leaves. The bucket level travels in periodic digests (64 x 16 hex); the
 * leaf level of the differing buckets travels in a repair request (64 x 8 hex
 * per bucket), so the donor sends only the entries of differing leaves.
 * Pure: no I/O, no allocation; text parsing never trusts its input.
 */
#ifndef EVCAST_REGSYNC_DIGEST_H
#define EVCAST_REGSYNC_DIGEST_H

#include "registry.h"

#define RS_BUCKETS 64
#define RS_LEAVES 64 /* per bucket */
#define RS_SLOTS (RS_BUCKETS * RS_LEAVES)
#define RS_BUCKETS_TEXT (RS_BUCKETS * 16)   /* bucket digest text length */
#define RS_LEAVES_TEXT (RS_LEAVES * 8)      /* leaf text length per bucket */
#define RS_LEAVES_TEXT_MAX (RS_BUCKETS * RS_LEAVES_TEXT)

typedef struct evcd_rs_digest {
	uint64_t leaf[RS_SLOTS];
	uint64_t bucket[RS_BUCKETS];
	size_t entries;
} evcd_rs_digest_t;

/* slot = bucket * RS_LEAVES + leaf of the entry with this key. */
unsigned evcd_rs_slot(const char *key);
/* Computes the digest of the whole table (live entries and tombstones). */
void evcd_rs_digest(evc__reg_t *reg, evcd_rs_digest_t *out);
/* One 64-bit value for the whole tree (equal tables, equal values): for tests and stats. */
uint64_t evcd_rs_digest_sum(const evcd_rs_digest_t *d);
/* The bucket level as text (RS_BUCKETS_TEXT hex digits + NUL). */
void evcd_rs_buckets_text(const evcd_rs_digest_t *d, char out[RS_BUCKETS_TEXT + 1]);
/* Compares a peer's bucket text with d: *mask gets the differing buckets. -1 when text is malformed. */
int evcd_rs_buckets_diff(const evcd_rs_digest_t *d, const char *text, uint64_t *mask);
/* The leaves of the buckets in mask, in bucket order, as text (popcount(mask) x RS_LEAVES_TEXT
 * + NUL; out must hold RS_LEAVES_TEXT_MAX + 1). Returns the length. */
size_t evcd_rs_leaves_text(const evcd_rs_digest_t *d, uint64_t mask, char *out);
/* Compares a peer's leaf text for mask with d: diff[b] gets the differing leaves of bucket b
 * (0 for buckets not in mask). Returns the number of differing leaves, -1 when malformed. */
int evcd_rs_leaves_diff(const evcd_rs_digest_t *d, uint64_t mask, const char *text, size_t len,
			uint64_t diff[RS_BUCKETS]);

#endif
