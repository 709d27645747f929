/*
 * reasm.c -- evcast wire protocol v2: fragment reassembly (docs/PROTOCOL.md 7).
 *
 * Owns: partial messages keyed by (node id, epoch, first seq), each with its
 * buffer (msg_len bytes, allocated at the first fragment) and a bitmap of the
 * fragments received. Bounds: the sum of msg_len over partial messages, their
 * number, a per-message size of 1 MiB + 4, and an age (timeout). The oldest
 * partial message is evicted when a new one does not fit. Everything counted.
 * Must not: trust a fragment (spans are recomputed and checked), do I/O.
 */
#include "v2.h"
#include <string.h>

typedef struct part {
	uint8_t node_id[EVC_V2_NODE_ID_LEN];
	uint64_t epoch, first_seq;
	uint64_t created_ms;
	uint32_t msg_len;
	uint16_t frag_count, received;
	uint8_t *buf;
	uint64_t bm[EVC_V2_MAX_FRAGS / 64];
} part_t;

struct evc__v2_reasm {
	part_t *v; /* v[0..n) live, unordered */
	size_t n, max_msgs;
	size_t bytes, max_bytes;
	uint64_t timeout_ms;
	evc__v2_reasm_stats_t st;
};

int evc__v2_reasm_new(size_t max_bytes, size_t max_msgs, uint64_t timeout_ms, evc__v2_reasm_t **out)
{
	if (max_msgs == 0 || max_bytes == 0)
		return EVCAST_EINVAL;
	evc__v2_reasm_t *r = evc__calloc(1, sizeof(*r));
	if (!r)
		return EVCAST_ENOMEM;
	r->v = evc__calloc(max_msgs, sizeof(*r->v));
	if (!r->v) {
		evc__free(r);
		return EVCAST_ENOMEM;
	}
	r->max_msgs = max_msgs;
	r->max_bytes = max_bytes;
	r->timeout_ms = timeout_ms;
	*out = r;
	return 0;
}

static void drop(evc__v2_reasm_t *r, size_t i)
{
	evc__free(r->v[i].buf);
	r->bytes -= r->v[i].msg_len;
	r->v[i] = r->v[--r->n];
}

void evc__v2_reasm_free(evc__v2_reasm_t *r)
{
	if (!r)
		return;
	while (r->n)
		drop(r, r->n - 1);
	evc__free(r->v);
	evc__free(r);
}

size_t evc__v2_reasm_expire(evc__v2_reasm_t *r, uint64_t now_ms)
{
	size_t dropped = 0;
	for (size_t i = 0; i < r->n;) {
		if (now_ms >= r->v[i].created_ms && now_ms - r->v[i].created_ms >= r->timeout_ms) {
			drop(r, i);
			r->st.timeouts++;
			dropped++;
		} else {
			i++;
		}
	}
	return dropped;
}

static void evict_oldest(evc__v2_reasm_t *r)
{
	size_t oldest = 0;
	for (size_t i = 1; i < r->n; i++)
		if (r->v[i].created_ms < r->v[oldest].created_ms)
			oldest = i;
	drop(r, oldest);
	r->st.evicted++;
}

int evc__v2_reasm_add(evc__v2_reasm_t *r, const evc__v2_hdr_t *h, const uint8_t *data, size_t len, uint64_t now_ms,
		      uint8_t **msg, size_t *msg_len)
{
	uint32_t off, flen;
	if (evc__v2_frag_span(h->msg_len, h->frag_count, h->frag_index, &off, &flen) < 0 || flen != len ||
	    h->frag_index >= h->seq) {
		r->st.inconsistent++;
		return -EVC_V2_R_FRAG;
	}
	if (h->frag_count == 1) {
		uint8_t *m = evc__malloc(len);
		if (!m)
			return EVCAST_ENOMEM;
		memcpy(m, data, len);
		*msg = m;
		*msg_len = len;
		r->st.completed++;
		return 1;
	}
	if (h->msg_len > r->max_bytes) {
		r->st.too_big++;
		return EVCAST_E2BIG;
	}
	uint64_t first = h->seq - h->frag_index;
	part_t *p = NULL;
	for (size_t i = 0; i < r->n; i++) {
		part_t *q = &r->v[i];
		if (q->first_seq == first && q->epoch == h->epoch && !memcmp(q->node_id, h->node_id, EVC_V2_NODE_ID_LEN)) {
			if (q->msg_len != h->msg_len || q->frag_count != h->frag_count) {
				drop(r, i);
				r->st.inconsistent++;
				return -EVC_V2_R_FRAG;
			}
			p = q;
			break;
		}
	}
	if (!p) {
		evc__v2_reasm_expire(r, now_ms);
		while (r->n && (r->n >= r->max_msgs || r->bytes + h->msg_len > r->max_bytes))
			evict_oldest(r);
		uint8_t *buf = evc__malloc(h->msg_len);
		if (!buf)
			return EVCAST_ENOMEM;
		p = &r->v[r->n++];
		memset(p, 0, sizeof(*p));
		memcpy(p->node_id, h->node_id, EVC_V2_NODE_ID_LEN);
		p->epoch = h->epoch;
		p->first_seq = first;
		p->created_ms = now_ms;
		p->msg_len = h->msg_len;
		p->frag_count = h->frag_count;
		p->buf = buf;
		r->bytes += h->msg_len;
	}
	uint64_t bit = UINT64_C(1) << (h->frag_index & 63);
	if (p->bm[h->frag_index >> 6] & bit) {
		r->st.dups++;
		return 0;
	}
	p->bm[h->frag_index >> 6] |= bit;
	memcpy(p->buf + off, data, len);
	if (++p->received < p->frag_count)
		return 0;
	*msg = p->buf;
	*msg_len = p->msg_len;
	p->buf = NULL;
	drop(r, (size_t)(p - r->v));
	r->st.completed++;
	return 1;
}

void evc__v2_reasm_stats(const evc__v2_reasm_t *r, evc__v2_reasm_stats_t *out)
{
	*out = r->st;
	out->bytes = r->bytes;
	out->messages = r->n;
}
