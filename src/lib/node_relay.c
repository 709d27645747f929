/*
 * node_relay.c -- the node's entry points for relays (docs/MULTISITE.md):
 * an exactly-once filter keyed by (Core-UUID, Event-Sequence), feeding an
 * event received by another transport (NATS) into the node as if it came
 * from multicast, and re-sending an event's original text to the node's
 * multicast destinations (evc__node_input_relay: both from one parse; into
 * the turn's v2 batch when the node sends v2). The filter is bounded: EVC__DEDUPE_WINDOW sequences
 * per origin, at most max_origins origins (least recently used evicted, counted).
 * Also the node's side of the sealed NATS payload (relay_seal.h): sealing as
 * this node, and opening with the skew bound and a replay window keyed by the
 * authenticated (node id, epoch) -- the same filter, under another key.
 */
#include "node_internal.h"
#include "relay_seal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EVC__DEDUPE_WINDOW 4096u
#define EVC__DEDUPE_WORDS (EVC__DEDUPE_WINDOW / 64u)
#define RELAY_TXBUF (EVCAST_LEGACY_MAX_DGRAM + 1024)

typedef struct dd_origin {
	char uuid[64]; /* Core-UUID, or "s:<node id hex>:<epoch hex>" for sealers */
	uint64_t top;  /* highest sequence seen */
	uint64_t used; /* LRU clock */
	uint64_t bits[EVC__DEDUPE_WORDS];
} dd_origin_t;

struct evc__dedupe {
	dd_origin_t *o;
	size_t n, cap;
	uint64_t clock;
	uint64_t seal_seq; /* last seq this node sealed */
	evcast_relay_stats_t st;
};

int evcast_node_dedupe(evcast_node_t *n, unsigned max_origins)
{
	if (!n)
		return EVCAST_EINVAL;
	if (n->dedupe) {
		evc__free(n->dedupe->o);
		evc__free(n->dedupe);
		n->dedupe = NULL;
	}
	if (max_origins == 0)
		return 0;
	struct evc__dedupe *d = evc__calloc(1, sizeof(*d));
	if (!d || !(d->o = evc__calloc(max_origins, sizeof(dd_origin_t)))) {
		evc__free(d);
		return EVCAST_ENOMEM;
	}
	d->cap = max_origins;
	n->dedupe = d;
	return 0;
}

void evc__node_dedupe_free(evcast_node_t *n) { (void)evcast_node_dedupe(n, 0); }

static bool bit_get(const dd_origin_t *o, uint64_t s) { return o->bits[(s % EVC__DEDUPE_WINDOW) / 64] >> (s % 64) & 1; }
static void bit_set(dd_origin_t *o, uint64_t s) { o->bits[(s % EVC__DEDUPE_WINDOW) / 64] |= UINT64_C(1) << (s % 64); }
static void bit_clr(dd_origin_t *o, uint64_t s)
{
	o->bits[(s % EVC__DEDUPE_WINDOW) / 64] &= ~(UINT64_C(1) << (s % 64));
}

/* 1: first sight of (uuid, seq), recorded; 0: a duplicate (or older than the
 * window), counted in st when count is set. */
static int dd_check(struct evc__dedupe *d, const char *uuid, uint64_t seq, bool count)
{
	dd_origin_t *o = NULL;
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->o[i].uuid, uuid) == 0) {
			o = &d->o[i];
			break;
		}
	d->clock++;
	if (!o) {
		if (d->n < d->cap) {
			o = &d->o[d->n++];
		} else {
			o = &d->o[0];
			for (size_t i = 1; i < d->n; i++)
				if (d->o[i].used < o->used)
					o = &d->o[i];
			d->st.origins_evicted++;
		}
		memset(o, 0, sizeof(*o));
		snprintf(o->uuid, sizeof(o->uuid), "%s", uuid);
		o->top = seq;
		o->used = d->clock;
		bit_set(o, seq);
		return 1;
	}
	o->used = d->clock;
	if (seq > o->top) {
		uint64_t gap = seq - o->top;
		if (gap >= EVC__DEDUPE_WINDOW)
			memset(o->bits, 0, sizeof(o->bits));
		else
			for (uint64_t s = o->top + 1; s <= seq; s++)
				bit_clr(o, s);
		o->top = seq;
		bit_set(o, seq);
		return 1;
	}
	if (o->top - seq >= EVC__DEDUPE_WINDOW) {
		d->st.too_old += count;
		d->st.duplicates += count;
		return 0;
	}
	if (bit_get(o, seq)) {
		d->st.duplicates += count;
		return 0;
	}
	bit_set(o, seq);
	return 1;
}

/* 1: first sight of (uuid, seq), recorded; 0: a duplicate (or older than the
 * window); 1 as well when the pair is missing or unparsable (cannot tell). */
int evc__node_dedupe_check(evcast_node_t *n, const char *uuid, const char *seqs)
{
	struct evc__dedupe *d = n->dedupe;
	char *end;
	if (!d || !uuid || !seqs || !*uuid || strlen(uuid) >= sizeof(d->o[0].uuid))
		return 1;
	unsigned long long seq = strtoull(seqs, &end, 10);
	if (end == seqs || *end)
		return 1;
	return dd_check(d, uuid, seq, true);
}

void evcast_node_relay_stats(const evcast_node_t *n, evcast_relay_stats_t *out)
{
	memset(out, 0, sizeof(*out));
	if (n && n->dedupe) {
		*out = n->dedupe->st;
		out->origins = n->dedupe->n;
	}
}

/* The node's side of an event parsed from another transport's text: 1 our
 * own, 2 a duplicate, 0 delivered as CUSTOM multicast::event (Orig- headers,
 * Multicast-Via), EVCAST_ENOMEM. src stays the caller's, unchanged. */
static int input_parsed(evcast_node_t *n, const evcast_event_t *src, const char *via)
{
	evcast_event_t *ev;
	const char *name, *value;
	const char *sender = evcast_event_get_header(src, "FreeSWITCH-Switchname");
	if (sender && strcmp(sender, n->cfg->node_name) == 0)
		return 1; /* our own */
	const char *uuid = evcast_event_get_header(src, "Core-UUID");
	if (uuid && strcmp(uuid, n->core_uuid) == 0)
		return 1;
	if (!evc__node_dedupe_check(n, uuid, evcast_event_get_header(src, "Event-Sequence")))
		return 2;
	ev = evcast_event_new_named("CUSTOM", "multicast::event");
	if (!ev || evcast_event_add_header(ev, "Multicast", "yes") != 0)
		goto nomem;
	for (size_t i = 0; evcast_event_header_at(src, i, &name, &value) == 0; i++) {
		char hn[256] = "Orig-";
		size_t nl = strlen(name);
		if (nl + 5 >= sizeof(hn) || strcasecmp(name, "Multicast-Sender") == 0)
			continue; /* (a name too long for Orig- is dropped, as before) */
		memcpy(hn + 5, name, nl + 1); /* no snprintf per header: ~130 instructions each */
		if (evcast_event_add_header(ev, hn, value) != 0)
			goto nomem;
	}
	if (sender && evcast_event_add_header(ev, "Orig-Multicast-Sender", sender) != 0)
		goto nomem;
	if (via && evcast_event_add_header(ev, "Multicast-Via", via) != 0)
		goto nomem;
	size_t blen = 0;
	const char *body = evcast_event_get_body(src, &blen);
	if (body && blen && evcast_event_set_body(ev, body, blen) != 0)
		goto nomem;
	struct evc__dedupe *dd = n->dedupe; /* checked above: not twice */
	n->dedupe = NULL;
	evc__node_received(n, ev, sender, NULL, false); /* sender lives in src: the caller frees it after */
	n->dedupe = dd;
	return 0;
nomem:
	evcast_event_free(ev);
	n->stats.drop_nomem++;
	return EVCAST_ENOMEM;
}

/* Re-sends ev (parsed from another transport, modified: Multicast-Sender) to
 * the node's destinations: v2 batched, legacy one datagram. 0 or EVCAST_E*. */
static int relay_parsed(evcast_node_t *n, evcast_event_t *ev)
{
	if (n->ep && evc__node_v2_sends(n, EVCAST_PROTO_V2))
		evc__node_v2_send(n, ev); /* into the turn's batch, flushed when the loop turn ends */
	if (evc__node_v2_sends(n, EVCAST_PROTO_LEGACY)) {
		const char *sw = evcast_event_get_header(ev, "FreeSWITCH-Switchname");
		int r = evcast_event_set_header(ev, "Multicast-Sender", sw ? sw : n->cfg->node_name);
		int l = r == 0 ? evcast_legacy_encode(ev, n->key, NULL, n->txbuf, RELAY_TXBUF) : r;
		if (l < 0 || l > EVCAST_LEGACY_MAX_DGRAM) {
			n->stats.tx_oversize++;
			return l < 0 ? l : EVCAST_E2BIG;
		}
		if (evc__udp_send(n->udp, n->txbuf, (size_t)l, EVCAST_PROTO_LEGACY) > 0) {
			n->stats.tx_events++;
			n->stats.tx_bytes += (uint64_t)l;
		}
	}
	return 0;
}

int evcast_node_input_text(evcast_node_t *n, const char *text, size_t len, const char *via)
{
	return evc__node_input_relay(n, text, len, via, false, NULL);
}

int evc__node_input_relay(evcast_node_t *n, const char *text, size_t len, const char *via, bool relay, int *relayed)
{
	evcast_event_t *src = NULL;
	int r;
	if (relayed)
		*relayed = 1;
	if (!n || !text || n->state != EVC__NODE_RUNNING)
		return EVCAST_ESTATE;
	if ((r = evcast_event_from_plain(text, len, &src)) != 0)
		return r;
	r = input_parsed(n, src, via);
	if (r == 0 && relay && relayed)
		*relayed = relay_parsed(n, src); /* the same parse: first sights only */
	evcast_event_free(src);
	return r;
}

int evcast_node_relay_text(evcast_node_t *n, const char *text, size_t len)
{
	evcast_event_t *ev = NULL;
	int r;
	if (!n || !text || n->state != EVC__NODE_RUNNING)
		return EVCAST_ESTATE;
	if ((r = evcast_event_from_plain(text, len, &ev)) != 0)
		return r;
	r = relay_parsed(n, ev);
	evcast_event_free(ev);
	return r;
}

/* ------------------------------------------------ sealed NATS payload */

bool evc__node_relay_has_keys(const evcast_node_t *n) { return n && evc__v2_keyring_count(n->kr) > 0; }

int evc__node_relay_seal(evcast_node_t *n, const char *subject, const char *text, size_t len, uint8_t *out,
			 size_t cap)
{
	evc__relay_hdr_t h;
	if (!n || !n->dedupe || !text)
		return EVCAST_ESTATE;
	memset(&h, 0, sizeof(h));
	memcpy(h.node_id, n->node_id, sizeof(h.node_id));
	h.epoch = n->start_us;
	h.seq = n->dedupe->seal_seq + 1;
	h.ts_us = evc__wall_us();
	int r = evc__relay_seal(n->kr, subject, &h, (const uint8_t *)text, len, out, cap);
	if (r > 0)
		n->dedupe->seal_seq = h.seq; /* a seq is used once, by a payload that left */
	return r;
}

/* The replay window's key of a sealer: "s:<node id hex>:<epoch hex>", formatted
 * by hand (this runs once per received sealed payload; 17 snprintf calls cost
 * ~10 k instructions). 2 + 32 + 1 + 16 + 1 = 52 bytes at most. */
static void seal_key(char key[64], const uint8_t id[EVC_V2_NODE_ID_LEN], uint64_t epoch)
{
	static const char hx[] = "0123456789abcdef";
	char *p = key;
	int shift = 60;
	*p++ = 's';
	*p++ = ':';
	for (size_t i = 0; i < EVC_V2_NODE_ID_LEN; i++) {
		*p++ = hx[id[i] >> 4];
		*p++ = hx[id[i] & 15];
	}
	*p++ = ':';
	while (shift > 0 && (epoch >> shift & 15) == 0) /* %llx: no leading zeros */
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		*p++ = hx[epoch >> shift & 15];
	*p = '\0';
}

int evc__node_relay_open(evcast_node_t *n, bool encrypt, uint64_t max_skew_us, const char *subject,
			 const uint8_t *buf, size_t len, uint8_t *pt, size_t cap, const uint8_t **text, size_t *tlen)
{
	evc__relay_hdr_t h;
	bool sealed = false;
	char key[64];
	if (!n)
		return EVCAST_EINVAL;
	int r = evc__relay_open(n->kr, encrypt, subject, buf, len, &h, pt, cap, text, tlen, &sealed);
	if (r != 0 || !sealed)
		return r;
	uint64_t now = evc__wall_us();
	if (max_skew_us && (h.ts_us > now ? h.ts_us - now : now - h.ts_us) > max_skew_us)
		return -EVC_RELAY_R_SKEW;
	if (!n->dedupe)
		return 0;
	seal_key(key, h.node_id, h.epoch);
	if (!dd_check(n->dedupe, key, h.seq, false))
		return -EVC_RELAY_R_REPLAY;
	return 0;
}
