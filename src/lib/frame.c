/*
 * frame.c -- evcast wire protocol v2: the bytes (docs/PROTOCOL.md 2, 6, 7, 9).
 *
 * Owns: the 64-byte header (encode, strict decode against the datagram
 * length), fragment arithmetic, the batch payload (writer, validator,
 * iterator), the ANNOUNCE, NAK and STATUS payloads, and reject reason names.
 * Must not: allocate, do crypto (seal.c), keep state. Every read is bounds
 * checked against the length it was given; nothing here trusts the input.
 */
#include "v2.h"
#include <string.h>

/* ---------------------------------------------------------------- helpers */

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static inline uint16_t get16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

static inline uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t get64(const uint8_t *p) { return ((uint64_t)get32(p) << 32) | get32(p + 4); }

static const char *const reason_names[] = {
	"short", "magic", "version", "type", "flags", "reserved", "keyid", "nodeid", "epoch",
	"seq", "length", "frag", "nokey", "plain", "auth", "self", "skew", "old-epoch",
	"too-old", "duplicate", "replay", "senders-full", "batch", "announce", "nak", "event", "late",
	"status",
};

_Static_assert(EVC_ARRAY_SIZE(reason_names) == EVC_V2_R_COUNT, "one name per reject reason");

const char *evc__v2_reason_name(int code)
{
	if (code < 0)
		code = -code;
	if (code >= EVC_V2_R_FIRST && code < EVC_V2_R_END)
		return reason_names[code - EVC_V2_R_FIRST];
	return evcast_strerror(-code);
}

/* ---------------------------------------------------------------- header */

bool evc__v2_is_v2(const uint8_t *buf, size_t len)
{
	return len >= 4 && buf[0] == EVC_V2_MAGIC0 && buf[1] == EVC_V2_MAGIC1 && buf[2] == EVC_V2_MAGIC2 &&
	       buf[3] == EVC_V2_MAGIC3;
}

void evc__v2_hdr_encode(const evc__v2_hdr_t *h, uint8_t out[EVC_V2_HDR_LEN])
{
	out[0] = EVC_V2_MAGIC0;
	out[1] = EVC_V2_MAGIC1;
	out[2] = EVC_V2_MAGIC2;
	out[3] = EVC_V2_MAGIC3;
	out[4] = EVC_V2_VERSION;
	out[5] = h->type;
	out[6] = h->flags;
	out[7] = 0;
	put32(out + 8, h->key_id);
	memcpy(out + 12, h->node_id, EVC_V2_NODE_ID_LEN);
	put64(out + 28, h->epoch);
	put64(out + 36, h->seq);
	put64(out + 44, h->ts_us);
	put16(out + 52, h->frag_index);
	put16(out + 54, h->frag_count);
	put32(out + 56, h->msg_len);
	put32(out + 60, h->payload_len);
}

int evc__v2_frag_span(uint32_t msg_len, uint16_t count, uint16_t index, uint32_t *off, uint32_t *len)
{
	if (count == 0 || count > EVC_V2_MAX_FRAGS || index >= count || msg_len == 0 || msg_len > EVC_V2_MAX_MSG)
		return -EVC_V2_R_FRAG;
	uint32_t chunk = (msg_len + count - 1u) / count;
	if ((uint64_t)(count - 1u) * chunk >= msg_len) /* last fragment would be empty */
		return -EVC_V2_R_FRAG;
	uint32_t o = (uint32_t)index * chunk;
	uint32_t end = o + chunk < msg_len ? o + chunk : msg_len;
	*off = o;
	*len = end - o;
	return 0;
}

int evc__v2_frag_plan(uint32_t msg_len, uint32_t max_chunk, uint16_t *count)
{
	if (msg_len == 0 || max_chunk == 0)
		return EVCAST_EINVAL;
	if (msg_len > EVC_V2_MAX_MSG)
		return EVCAST_E2BIG;
	uint32_t c = (msg_len + max_chunk - 1u) / max_chunk;
	if (c > EVC_V2_MAX_FRAGS)
		return EVCAST_E2BIG;
	*count = (uint16_t)c;
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

int evc__v2_hdr_decode(const uint8_t *buf, size_t len, evc__v2_hdr_t *h)
{
	if (len < EVC_V2_HDR_LEN)
		return evc__v2_is_v2(buf, len) ? -EVC_V2_R_SHORT : -EVC_V2_R_MAGIC;
	if (!evc__v2_is_v2(buf, len))
		return -EVC_V2_R_MAGIC;
	if (buf[4] != EVC_V2_VERSION)
		return -EVC_V2_R_VERSION;
	h->type = buf[5];
	h->flags = buf[6];
	if (h->type < EVC_V2_DATA || h->type > EVC_V2_STATUS)
		return -EVC_V2_R_TYPE;
	if (h->flags & ~(EVC_V2_F_SEALED | EVC_V2_F_ZSTD))
		return -EVC_V2_R_FLAGS;
	if (buf[7] != 0)
		return -EVC_V2_R_RESERVED;
	h->key_id = get32(buf + 8);
	bool sealed = (h->flags & EVC_V2_F_SEALED) != 0;
	if ((h->key_id == 0) == sealed)
		return -EVC_V2_R_KEYID;
	memcpy(h->node_id, buf + 12, EVC_V2_NODE_ID_LEN);
	if (all_zero(h->node_id, EVC_V2_NODE_ID_LEN))
		return -EVC_V2_R_NODEID;
	h->epoch = get64(buf + 28);
	h->seq = get64(buf + 36);
	h->ts_us = get64(buf + 44);
	if (h->epoch == 0)
		return -EVC_V2_R_EPOCH;
	if (h->seq == 0 || h->seq == EVC_V2_CTL_BIT || ((h->seq & EVC_V2_CTL_BIT) != 0) != (h->type != EVC_V2_DATA))
		return -EVC_V2_R_SEQ;
	h->frag_index = get16(buf + 52);
	h->frag_count = get16(buf + 54);
	h->msg_len = get32(buf + 56);
	h->payload_len = get32(buf + 60);
	if ((uint64_t)h->payload_len != len - EVC_V2_HDR_LEN || len > EVC_V2_MAX_DGRAM)
		return -EVC_V2_R_LENGTH;
	if (sealed && h->payload_len < EVC_V2_TAG_LEN)
		return -EVC_V2_R_LENGTH;
	uint32_t plain = evc__v2_plain_len(h);
	if (h->type != EVC_V2_DATA && h->frag_count != 1)
		return -EVC_V2_R_FRAG;
	uint32_t off, flen;
	if (evc__v2_frag_span(h->msg_len, h->frag_count, h->frag_index, &off, &flen) < 0 || flen != plain)
		return -EVC_V2_R_FRAG;
	if (h->frag_index >= h->seq) /* first_seq = seq - index must be >= 1 */
		return -EVC_V2_R_FRAG;
	if (h->ts_us < h->epoch)
		return -EVC_V2_R_EPOCH;
	return 0;
}

/* ---------------------------------------------------------------- batch */

void evc__v2_batch_init(evc__v2_batch_t *b, uint8_t *buf, size_t cap)
{
	b->buf = buf;
	b->cap = cap;
	b->len = 0;
	b->count = 0;
}

int evc__v2_batch_add(evc__v2_batch_t *b, const char *text, size_t len)
{
	if (len == 0 || len > EVC_V2_MAX_EVENT)
		return EVCAST_EINVAL;
	if (b->cap - b->len < 4 || b->cap - b->len - 4 < len)
		return EVCAST_E2BIG;
	put32(b->buf + b->len, (uint32_t)len);
	memcpy(b->buf + b->len + 4, text, len);
	b->len += 4 + len;
	b->count++;
	return 0;
}

int evc__v2_batch_check(const uint8_t *buf, size_t len)
{
	size_t pos = 0;
	int n = 0;
	if (len == 0)
		return -EVC_V2_R_BATCH;
	while (pos < len) {
		if (len - pos < 4)
			return -EVC_V2_R_BATCH;
		uint32_t r = get32(buf + pos);
		pos += 4;
		if (r == 0 || r > EVC_V2_MAX_EVENT || r > len - pos)
			return -EVC_V2_R_BATCH;
		pos += r;
		n++;
	}
	return n;
}

int evc__v2_batch_next(const uint8_t *buf, size_t len, size_t *pos, const uint8_t **rec, size_t *rlen)
{
	if (*pos >= len || len - *pos < 4)
		return 0;
	uint32_t r = get32(buf + *pos);
	if (r == 0 || r > len - *pos - 4)
		return 0; /* cannot happen after batch_check; survive anyway */
	*rec = buf + *pos + 4;
	*rlen = r;
	*pos += 4 + r;
	return 1;
}

/* ---------------------------------------------------------------- control payloads */

void evc__v2_announce_encode(const evc__v2_announce_t *a, uint8_t out[EVC_V2_ANNOUNCE_LEN])
{
	put64(out, a->last_seq);
	put64(out + 8, a->oldest_seq);
}

int evc__v2_announce_decode(const uint8_t *buf, size_t len, evc__v2_announce_t *a)
{
	if (len != EVC_V2_ANNOUNCE_LEN)
		return -EVC_V2_R_ANNOUNCE;
	a->last_seq = get64(buf);
	a->oldest_seq = get64(buf + 8);
	if ((a->last_seq & EVC_V2_CTL_BIT) || a->oldest_seq > a->last_seq)
		return -EVC_V2_R_ANNOUNCE;
	return 0;
}

int evc__v2_nak_encode(const evc__v2_nak_t *n, uint8_t *out, size_t cap)
{
	if (n->nranges == 0 || n->nranges > EVC_V2_NAK_MAX_RANGES)
		return EVCAST_EINVAL;
	size_t need = EVC_V2_NAK_LEN(n->nranges);
	if (cap < need)
		return EVCAST_E2BIG;
	memcpy(out, n->target_node, EVC_V2_NODE_ID_LEN);
	put64(out + 16, n->target_epoch);
	put16(out + 24, n->nranges);
	put16(out + 26, 0);
	for (unsigned i = 0; i < n->nranges; i++) {
		put64(out + 28 + 12 * i, n->ranges[i].first);
		put32(out + 36 + 12 * i, n->ranges[i].count);
	}
	return (int)need;
}

int evc__v2_nak_decode(const uint8_t *buf, size_t len, evc__v2_nak_t *n)
{
	if (len < EVC_V2_NAK_LEN(1))
		return -EVC_V2_R_NAK;
	memcpy(n->target_node, buf, EVC_V2_NODE_ID_LEN);
	n->target_epoch = get64(buf + 16);
	n->nranges = get16(buf + 24);
	if (n->nranges == 0 || n->nranges > EVC_V2_NAK_MAX_RANGES || get16(buf + 26) != 0 ||
	    len != EVC_V2_NAK_LEN(n->nranges) || n->target_epoch == 0)
		return -EVC_V2_R_NAK;
	uint64_t next_min = 1;
	for (unsigned i = 0; i < n->nranges; i++) {
		uint64_t first = get64(buf + 28 + 12 * i);
		uint32_t count = get32(buf + 36 + 12 * i);
		if (count == 0 || count > EVC_V2_MAX_MISSING || first < next_min || first >= EVC_V2_CTL_BIT ||
		    EVC_V2_CTL_BIT - first < count)
			return -EVC_V2_R_NAK;
		n->ranges[i].first = first;
		n->ranges[i].count = count;
		next_min = first + count; /* ascending and disjoint (adjacent allowed) */
	}
	return 0;
}

/* STATUS: target node (16), target epoch (8), delivered (8), window (4),
 * flags (2), reserved (2, zero). */
void evc__v2_status_encode(const evc__v2_status_t *s, uint8_t out[EVC_V2_STATUS_LEN])
{
	memcpy(out, s->target_node, EVC_V2_NODE_ID_LEN);
	put64(out + 16, s->target_epoch);
	put64(out + 24, s->delivered);
	put32(out + 32, s->window);
	put16(out + 36, s->flags);
	put16(out + 38, 0);
}

int evc__v2_status_decode(const uint8_t *buf, size_t len, evc__v2_status_t *s)
{
	if (len != EVC_V2_STATUS_LEN)
		return -EVC_V2_R_STATUS;
	memcpy(s->target_node, buf, EVC_V2_NODE_ID_LEN);
	s->target_epoch = get64(buf + 16);
	s->delivered = get64(buf + 24);
	s->window = get32(buf + 32);
	s->flags = get16(buf + 36);
	if (s->target_epoch == 0 || (s->delivered & EVC_V2_CTL_BIT) || s->window > EVC_V2_FC_MAX_WINDOW ||
	    get16(buf + 38) != 0 || all_zero(s->target_node, EVC_V2_NODE_ID_LEN))
		return -EVC_V2_R_STATUS;
	return 0;
}
