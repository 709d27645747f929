/*
 * regsync_digest.c -- the two-level anti-entropy digest of the registration
 * table (contract in regsync_digest.h; design in docs/REGISTRATIONS.md,
 * "Anti-entropy"). The slot of a key comes from a finalised 64-bit hash: the
 * table's own 32-bit FNV-1a is not used for it, as its low bits are skewed on
 * keys that differ only in digits (97 % of the test keys fell in 16 buckets).
 * Sections: hashing, digest, text.
 */
#include "regsync_digest.h"
#include <string.h>

/* ---------------------------------------------------------------- hashing */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	return h;
}

static unsigned slot_of(uint64_t key_hash)
{
	return (unsigned)(mix64(key_hash + 0x9e3779b97f4a7c15ULL) % RS_SLOTS);
}

unsigned evcd_rs_slot(const char *key) { return slot_of(str_hash(key)); }

/* ----------------------------------------------------------------- digest */

static void digest_one(void *ud, const evc__reg_entry_t *e)
{
	evcd_rs_digest_t *d = ud;
	uint64_t k = str_hash(e->key);
	d->leaf[slot_of(k)] ^= mix64(k ^ mix64(e->ts_us) ^ str_hash(e->node) ^ (uint64_t)e->tomb);
	d->entries++;
}

void evcd_rs_digest(evc__reg_t *reg, evcd_rs_digest_t *out)
{
	memset(out, 0, sizeof(*out));
	evc__reg_foreach(reg, true, digest_one, out);
	for (unsigned i = 0; i < RS_SLOTS; i++)
		out->bucket[i / RS_LEAVES] ^= mix64(out->leaf[i] ^ i);
}

uint64_t evcd_rs_digest_sum(const evcd_rs_digest_t *d)
{
	uint64_t h = 0;
	for (int b = 0; b < RS_BUCKETS; b++)
		h = mix64(h ^ d->bucket[b]);
	return h;
}

/* ------------------------------------------------------------------- text */

static const char hexd[] = "0123456789abcdef";

static void put_hex(char *out, uint64_t v, int digits)
{
	for (int i = digits - 1; i >= 0; i--, v >>= 4)
		out[i] = hexd[v & 15];
}

/* -1 on a character that is not a lower- or upper-case hex digit. */
static int get_hex(const char *in, int digits, uint64_t *v)
{
	*v = 0;
	for (int i = 0; i < digits; i++) {
		char c = in[i];
		int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (x < 0)
			return -1;
		*v = *v << 4 | (uint64_t)x;
	}
	return 0;
}

void evcd_rs_buckets_text(const evcd_rs_digest_t *d, char out[RS_BUCKETS_TEXT + 1])
{
	for (int b = 0; b < RS_BUCKETS; b++)
		put_hex(out + b * 16, d->bucket[b], 16);
	out[RS_BUCKETS_TEXT] = '\0';
}

int evcd_rs_buckets_diff(const evcd_rs_digest_t *d, const char *text, uint64_t *mask)
{
	uint64_t v;
	*mask = 0;
	if (!text || strlen(text) != RS_BUCKETS_TEXT)
		return -1;
	for (int b = 0; b < RS_BUCKETS; b++) {
		if (get_hex(text + b * 16, 16, &v))
			return -1;
		if (v != d->bucket[b])
			*mask |= 1ULL << b;
	}
	return 0;
}

size_t evcd_rs_leaves_text(const evcd_rs_digest_t *d, uint64_t mask, char *out)
{
	size_t n = 0;
	for (int b = 0; b < RS_BUCKETS; b++) {
		if (!(mask >> b & 1))
			continue;
		for (int l = 0; l < RS_LEAVES; l++, n += 8)
			put_hex(out + n, d->leaf[b * RS_LEAVES + l] & 0xffffffffULL, 8);
	}
	out[n] = '\0';
	return n;
}

int evcd_rs_leaves_diff(const evcd_rs_digest_t *d, uint64_t mask, const char *text, size_t len,
			uint64_t diff[RS_BUCKETS])
{
	size_t n = 0;
	int count = 0;
	uint64_t v;
	memset(diff, 0, RS_BUCKETS * sizeof(*diff));
	if (!text || len != (size_t)__builtin_popcountll(mask) * RS_LEAVES_TEXT)
		return -1;
	for (int b = 0; b < RS_BUCKETS; b++) {
		if (!(mask >> b & 1))
			continue;
		for (int l = 0; l < RS_LEAVES; l++, n += 8) {
			if (get_hex(text + n, 8, &v))
				return -1;
			if (v != (d->leaf[b * RS_LEAVES + l] & 0xffffffffULL)) {
				diff[b] |= 1ULL << l;
				count++;
			}
		}
	}
	return count;
}
