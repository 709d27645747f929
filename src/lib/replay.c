/*
 * replay.c -- evcast wire protocol v2: replay protection (docs/PROTOCOL.md 8).
 *
 * Owns: per-sender state (epoch, highest data seq, the EVC_V2_WINDOW = 8192
 * seq sliding window kept as WireGuard does in a ring of 129 words, one word
 * more than the window so that advancing clears whole words; last control
 * seq) in a table sorted by node id (binary search), bounded by max_senders
 * (1032-byte bitmap each); idle senders (not heard for longer than the skew
 * bound) are forgotten to make room.
 * check() never changes state (runs before crypto); commit() runs after the
 * datagram authenticated. Must not: do crypto, allocate per datagram.
 */
#include "v2.h"
#include <string.h>

int evc__v2_replay_init(evc__v2_replay_t *r, size_t max_senders, uint64_t max_skew_us)
{
	memset(r, 0, sizeof(*r));
	if (max_senders == 0)
		return EVCAST_EINVAL;
	r->v = evc__calloc(max_senders, sizeof(*r->v));
	if (!r->v)
		return EVCAST_ENOMEM;
	r->cap = max_senders;
	r->max_skew_us = max_skew_us;
	return 0;
}

void evc__v2_replay_free(evc__v2_replay_t *r)
{
	evc__free(r->v);
	r->v = NULL;
	r->n = r->cap = 0;
}

/* Index of node in the sorted table, or -(insertion point) - 1. */
static long find(const evc__v2_replay_t *r, const uint8_t *node)
{
	size_t lo = 0, hi = r->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(r->v[mid].node_id, node, EVC_V2_NODE_ID_LEN);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

/* An idle entry (not heard within the skew bound), or -1. */
static long find_idle(const evc__v2_replay_t *r, uint64_t now_us)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].last_heard_us + r->max_skew_us < now_us)
			return (long)i;
	return -1;
}

static bool bit_get(const evc__v2_sender_t *s, uint64_t seq)
{
	return (s->bits[(seq >> 6) % EVC_V2_WINDOW_WORDS] >> (seq & 63)) & 1u;
}

/* The check shared by check() and commit(); s may be NULL (unknown sender). */
static int verdict(const evc__v2_replay_t *r, const evc__v2_sender_t *s, const evc__v2_hdr_t *h, uint64_t now_us)
{
	uint64_t d = h->ts_us > now_us ? h->ts_us - now_us : now_us - h->ts_us;
	if (d > r->max_skew_us)
		return -EVC_V2_R_SKEW;
	if (!s || h->epoch > s->epoch)
		return 0; /* new sender or restart: anything goes in a fresh window */
	if (h->epoch < s->epoch)
		return -EVC_V2_R_OLD_EPOCH;
	if (h->seq & EVC_V2_CTL_BIT)
		return h->seq > s->ctl_seq ? 0 : -EVC_V2_R_REPLAY;
	if (h->seq > s->max_seq)
		return 0;
	if (s->max_seq - h->seq >= EVC_V2_WINDOW)
		return -EVC_V2_R_TOO_OLD;
	return bit_get(s, h->seq) ? -EVC_V2_R_DUPLICATE : 0;
}

int evc__v2_replay_check(evc__v2_replay_t *r, const evc__v2_hdr_t *h, uint64_t now_us)
{
	long i = find(r, h->node_id);
	if (i < 0 && r->n >= r->cap && find_idle(r, now_us) < 0) {
		int v = verdict(r, NULL, h, now_us);
		return v < 0 ? v : -EVC_V2_R_SENDERS_FULL;
	}
	return verdict(r, i >= 0 ? &r->v[i] : NULL, h, now_us);
}

static void reset(evc__v2_sender_t *s, uint64_t epoch)
{
	s->epoch = epoch;
	s->max_seq = 0;
	s->ctl_seq = 0;
	memset(s->bits, 0, sizeof(s->bits));
}

int evc__v2_replay_commit(evc__v2_replay_t *r, const evc__v2_hdr_t *h, uint64_t now_us, bool *restart)
{
	if (restart)
		*restart = false;
	long i = find(r, h->node_id);
	int v = verdict(r, i >= 0 ? &r->v[i] : NULL, h, now_us);
	if (v < 0)
		return v;
	if (i < 0) {
		size_t at = (size_t)(-i - 1);
		if (r->n >= r->cap) {
			long idle = find_idle(r, now_us);
			if (idle < 0) {
				r->refused++;
				return -EVC_V2_R_SENDERS_FULL;
			}
			memmove(&r->v[idle], &r->v[idle + 1], (r->n - (size_t)idle - 1) * sizeof(r->v[0]));
			r->n--;
			r->forgotten++;
			if ((size_t)idle < at)
				at--;
		}
		memmove(&r->v[at + 1], &r->v[at], (r->n - at) * sizeof(r->v[0]));
		r->n++;
		i = (long)at;
		memset(&r->v[i], 0, sizeof(r->v[0]));
		memcpy(r->v[i].node_id, h->node_id, EVC_V2_NODE_ID_LEN);
		r->v[i].used = true;
		reset(&r->v[i], h->epoch);
	}
	evc__v2_sender_t *s = &r->v[i];
	if (h->epoch > s->epoch) {
		reset(s, h->epoch);
		r->epoch_restarts++;
		if (restart)
			*restart = true;
	}
	s->last_heard_us = now_us > s->last_heard_us ? now_us : s->last_heard_us;
	if (h->seq & EVC_V2_CTL_BIT) {
		s->ctl_seq = h->seq;
		return 0;
	}
	if (h->seq > s->max_seq) {
		uint64_t cur = s->max_seq >> 6, nw = h->seq >> 6;
		uint64_t diff = nw - cur;
		if (s->max_seq && h->seq - s->max_seq > EVC_V2_WINDOW)
			r->jumps++;
		if (diff > EVC_V2_WINDOW_WORDS)
			diff = EVC_V2_WINDOW_WORDS;
		for (uint64_t k = 1; k <= diff; k++)
			s->bits[(cur + k) % EVC_V2_WINDOW_WORDS] = 0;
		s->max_seq = h->seq;
	}
	s->bits[(h->seq >> 6) % EVC_V2_WINDOW_WORDS] |= UINT64_C(1) << (h->seq & 63);
	return 0;
}
