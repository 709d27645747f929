/*
 * regsync.c -- registration table transfer: join from ONE donor, anti-entropy.
 * Contract in regsync.h; design in docs/REGISTRATIONS.md ("Sync").
 *
 * Messages are CUSTOM evcast::regsync events (received as multicast::event,
 * Orig- headers): sync-type request (sync-donor, sync-id, sync-buckets "all"
 * or a 64-bit hex mask), data (sync-to, sync-id, sync-seq, JSON body: an array
 * of entries), end (sync-seq, sync-total), ack (sync-id, sync-seq: the highest
 * in-order seq received), digest (sync-digest: 64 buckets x 16 hex). Data is
 * applied by every node that hears it (LWW: harmless, and it repairs).
 * A donor snapshots the requested keys and streams them at most `rate` events
 * per second (token bucket), about DATA_BYTES per event, at most `window`
 * events not yet acknowledged (so the joiner's socket buffer is not overrun);
 * no ack progress for RTO_MS: go back to the first unacknowledged event
 * (go-back-N); none for timeout_ms: the stream is dropped. At most MAX_STREAMS
 * requests are queued (more are dropped and counted). Sections: config,
 * digest, sending, donor, requester, consumer, timers, start/stop.
 */
#include "regsync.h"
#include "internal.h"
#include <cjson/cJSON.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SUBCLASS "evcast::regsync"
#define NBUCKETS 64
#define DATA_BYTES 24000 /* body size aimed at per data event (one legacy datagram) */
#define MAX_STREAMS 8
#define TICK_MS 10
#define RTO_MS 200
#define RESEND_MS 1000
#define RING 256 /* > any window */

enum rs_state { RS_JOINING, RS_REQUESTING, RS_SYNCED };

typedef struct stream {
	char to[128], id[32];
	char **keys;
	size_t n, pos, sent;
	uint32_t seq, acked, end_seq; /* last sent, highest acknowledged, seq of the end (0: not sent) */
	size_t start[RING];           /* key position at which seq % RING began */
	uint64_t progress_ms;         /* last ack progress (or the start): give-up timer */
	uint64_t rto_ms;              /* last ack progress or go-back: retransmission timer */
} stream_t;

/* What a requester expects from the donor it asked (join or repair). */
typedef struct inbound {
	char from[128], id[32];
	uint32_t expect; /* next in-order seq */
	uint64_t received;
} inbound_t;

struct evcd_regsync {
	evcd_t *d;
	evc__reg_t *reg;
	evcd_regsync_cfg_t c;
	uv_timer_t tick;
	int open_handles, sub;
	enum rs_state state;
	char failed[128];
	inbound_t join, repair; /* repair.from[0] != 0: an anti-entropy repair in flight */
	uint64_t start_ms, deadline_ms, synced_in_ms, next_digest_ms, repair_deadline_ms;
	uint64_t retry_ms; /* after a refusal: ask another peer then (0: not set) */
	uint64_t resend_ms; /* joining, nothing received yet: the request again then */
	uint64_t repair_resend_ms; /* repair, nothing received by then: given up */
	double tokens;
	stream_t streams[MAX_STREAMS];
	size_t nstreams;
	uint32_t seq;
	uint64_t received, applied, data_sent, entries_sent, requests_served, requests_dropped, digests_sent,
		repairs, retransmits, streams_abandoned, bad;
};

/* ----------------------------------------------------------------- config */

void evcd_regsync_defaults(evcd_regsync_cfg_t *c)
{
	*c = (evcd_regsync_cfg_t){true, 2000, 3000, 5000, 10000, 8};
}

int evcd_regsync_param(evcd_regsync_cfg_t *c, const char *name, const char *v)
{
	if (!strcasecmp(name, "sync")) {
		if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
			c->enabled = true;
		else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0"))
			c->enabled = false;
		else
			return -1;
		return 1;
	}
	if (!strcasecmp(name, "sync-rate"))
		return evc__conf_uint(v, 1, 100000, &c->rate) ? -1 : 1;
	if (!strcasecmp(name, "sync-join-wait-ms"))
		return evc__conf_uint(v, 0, 600000, &c->join_wait_ms) ? -1 : 1;
	if (!strcasecmp(name, "sync-timeout-ms"))
		return evc__conf_uint(v, 100, 600000, &c->timeout_ms) ? -1 : 1;
	if (!strcasecmp(name, "sync-window"))
		return evc__conf_uint(v, 1, RING / 2, &c->window) ? -1 : 1;
	if (!strcasecmp(name, "anti-entropy-interval-ms"))
		return evc__conf_uint(v, 0, 3600000, &c->digest_ms) ? -1 : 1;
	return 0;
}

/* ----------------------------------------------------------------- digest */

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

static void digest_one(void *ud, const evc__reg_entry_t *e)
{
	uint64_t *b = ud;
	b[e->hash % NBUCKETS] ^= mix64(str_hash(e->key) ^ mix64(e->ts_us) ^ str_hash(e->node) ^ (uint64_t)e->tomb);
}

static void digest(evcd_regsync_t *s, uint64_t out[NBUCKETS])
{
	memset(out, 0, NBUCKETS * sizeof(*out));
	evc__reg_foreach(s->reg, true, digest_one, out);
}

/* ---------------------------------------------------------------- sending */

static const char *me(const evcd_regsync_t *s) { return evcast_node_name(s->d->node); }

/* Fires CUSTOM evcast::regsync with sync-type and the header pairs (NULL-terminated). body may be NULL. */
static int fire(evcd_regsync_t *s, const char *type, const char *body, ...)
{
	evcast_event_t *ev = evcast_event_new_named("CUSTOM", SUBCLASS);
	va_list ap;
	const char *n, *v;
	int r = 0;
	if (!ev)
		return EVCAST_ENOMEM;
	r |= evcast_event_add_header(ev, "sync-type", type);
	r |= evcast_event_add_header(ev, "sync-from", me(s));
	va_start(ap, body);
	while (!r && (n = va_arg(ap, const char *)) && (v = va_arg(ap, const char *)))
		r |= evcast_event_add_header(ev, n, v);
	va_end(ap);
	if (!r && body)
		r = evcast_event_set_body(ev, body, strlen(body));
	if (r) {
		evcast_event_free(ev);
		return EVCAST_ENOMEM;
	}
	return evcast_node_fire(s->d->node, ev);
}

static void new_id(evcd_regsync_t *s, char *out, size_t cap)
{
	snprintf(out, cap, "%llx-%u", (unsigned long long)(evc__wall_us() & 0xffffffffffULL), ++s->seq);
}

/* ------------------------------------------------------------------ donor */

typedef struct snap {
	uint64_t mask;
	stream_t *st;
	size_t cap;
	bool oom;
} snap_t;

static void snap_one(void *ud, const evc__reg_entry_t *e)
{
	snap_t *sn = ud;
	stream_t *st = sn->st;
	if (sn->oom || !(sn->mask >> (e->hash % NBUCKETS) & 1))
		return;
	if (st->n == sn->cap) {
		size_t cap = sn->cap ? sn->cap * 2 : 256;
		char **k = evc__realloc(st->keys, cap * sizeof(*k));
		if (!k) {
			sn->oom = true;
			return;
		}
		st->keys = k;
		sn->cap = cap;
	}
	if (!(st->keys[st->n] = evc__strdup(e->key)))
		sn->oom = true;
	else
		st->n++;
}

static void stream_free(stream_t *st)
{
	for (size_t i = 0; i < st->n; i++)
		evc__free(st->keys[i]);
	evc__free(st->keys);
	memset(st, 0, sizeof(*st));
}

static void on_request(evcd_regsync_t *s, const char *from, const char *id, const char *buckets)
{
	stream_t *st;
	snap_t sn = {0};
	for (size_t i = 0; i < s->nstreams; i++)
		if (!strcmp(s->streams[i].to, from) && !strcmp(s->streams[i].id, id))
			return; /* the same request again (its sender had no answer yet): already streaming */
	if (s->state != RS_SYNCED && strcmp(me(s), from) < 0) {
		/* both joining (cluster start): the smaller name serves with what it has */
		s->state = RS_SYNCED;
		s->synced_in_ms = evc__wall_ms() - s->start_ms;
		evcd_logf(s->d, EVCAST_LOG_NOTICE, "registrations: %s is joining as well: serving it with the local "
			  "table (%zu live)", from, evc__reg_live(s->reg));
	}
	if (s->state != RS_SYNCED || s->nstreams == MAX_STREAMS) {
		s->requests_dropped++; /* "busy": the requester asks someone else at once */
		fire(s, "end", NULL, "sync-to", from, "sync-id", id, "sync-seq", "1", "sync-total", "0", "sync-status",
		     s->state != RS_SYNCED ? "joining" : "busy", (char *)NULL);
		return;
	}
	st = &s->streams[s->nstreams];
	memset(st, 0, sizeof(*st));
	snprintf(st->to, sizeof(st->to), "%s", from);
	snprintf(st->id, sizeof(st->id), "%s", id);
	sn.mask = !buckets || !strcmp(buckets, "all") ? UINT64_MAX : strtoull(buckets, NULL, 16);
	sn.st = st;
	evc__reg_foreach(s->reg, true, snap_one, &sn);
	if (sn.oom) {
		stream_free(st);
		s->requests_dropped++;
		return;
	}
	st->progress_ms = st->rto_ms = evc__wall_ms();
	s->nstreams++;
	s->requests_served++;
	evcd_logf(s->d, EVCAST_LOG_INFO, "registrations: sending %zu entr%s to %s (sync %s, buckets %s)", st->n,
		  st->n == 1 ? "y" : "ies", from, id, buckets ? buckets : "all");
}

static cJSON *entry_json(const evc__reg_entry_t *e, int64_t margin)
{
	cJSON *a = cJSON_CreateArray();
	char ts[32], ex[32];
	snprintf(ts, sizeof(ts), "%llu", (unsigned long long)e->ts_us);
	snprintf(ex, sizeof(ex), "%lld", (long long)(e->expires_ms - margin));
	const char *f[] = {e->profile, e->user, e->realm, e->call_id, e->contact, e->net_ip, e->user_agent,
			   e->status,  e->node, e->node_ip, ts, ex};
	if (!a)
		return NULL;
	for (size_t i = 0; i < EVC_ARRAY_SIZE(f); i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(f[i]));
	cJSON_AddItemToArray(a, cJSON_CreateNumber(e->net_port));
	cJSON_AddItemToArray(a, cJSON_CreateBool(e->tomb));
	return a;
}

static void stream_pop(evcd_regsync_t *s)
{
	stream_free(&s->streams[0]);
	memmove(&s->streams[0], &s->streams[1], (s->nstreams - 1) * sizeof(s->streams[0]));
	s->nstreams--;
}

/* Sends the next event of the head stream (data, or its end) when the window
 * allows. Returns false when nothing can be sent now. */
static bool send_some(evcd_regsync_t *s)
{
	stream_t *st = &s->streams[0];
	uint64_t now = evc__wall_ms();
	cJSON *arr;
	size_t bytes = 0, count = 0;
	char cnt[24], seq[24], *body;
	if (!s->nstreams)
		return false;
	if (st->end_seq && st->acked >= st->end_seq) { /* complete */
		stream_pop(s);
		return s->nstreams > 0;
	}
	if (now - st->progress_ms > s->c.timeout_ms) {
		evcd_logf(s->d, EVCAST_LOG_WARNING, "registrations: %s stopped acknowledging sync %s: stream dropped",
			  st->to, st->id);
		s->streams_abandoned++;
		stream_pop(s);
		return s->nstreams > 0;
	}
	if (st->seq - st->acked >= s->c.window || st->end_seq) {
		if (now - st->rto_ms <= RTO_MS)
			return false;
		/* go back to the first event not acknowledged */
		st->pos = st->start[(st->acked + 1) % RING];
		st->seq = st->acked;
		st->end_seq = 0;
		st->rto_ms = now;
		s->retransmits++;
	}
	snprintf(seq, sizeof(seq), "%u", st->seq + 1);
	if (st->pos >= st->n) {
		snprintf(cnt, sizeof(cnt), "%zu", st->sent);
		st->start[(st->seq + 1) % RING] = st->pos;
		if (fire(s, "end", NULL, "sync-to", st->to, "sync-id", st->id, "sync-seq", seq, "sync-total", cnt,
			 (char *)NULL) != 0)
			return false;
		st->end_seq = ++st->seq;
		return true;
	}
	if (!(arr = cJSON_CreateArray()))
		return false;
	st->start[(st->seq + 1) % RING] = st->pos;
	while (st->pos < st->n && bytes < DATA_BYTES) {
		evc__reg_entry_t *e = evc__reg_find_key(s->reg, st->keys[st->pos++]);
		cJSON *j;
		if (!e || !(j = entry_json(e, evc__reg_margin_ms(s->reg))))
			continue;
		cJSON_AddItemToArray(arr, j);
		bytes += strlen(e->key) + strlen(e->contact) + strlen(e->user_agent) + strlen(e->status) +
			 strlen(e->node) + strlen(e->net_ip) + strlen(e->node_ip) + 80;
		count++;
	}
	body = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	snprintf(cnt, sizeof(cnt), "%zu", count);
	if (body && fire(s, "data", body, "sync-to", st->to, "sync-id", st->id, "sync-seq", seq, "sync-count", cnt,
			 (char *)NULL) == 0) {
		st->seq++;
		s->data_sent++;
		s->entries_sent += count;
		st->sent += count;
	} else {
		st->pos = st->start[(st->seq + 1) % RING]; /* not sent: again later */
		cJSON_free(body);
		return false;
	}
	cJSON_free(body);
	return true;
}

/* Sends while the token bucket and the window allow. */
static void pump(evcd_regsync_t *s)
{
	while (s->tokens >= 1 && send_some(s))
		s->tokens -= 1;
}

static void on_ack(evcd_regsync_t *s, const char *from, const char *id, const char *seqs)
{
	uint32_t seq;
	if (!id || !seqs)
		return;
	seq = (uint32_t)strtoul(seqs, NULL, 10);
	for (size_t i = 0; i < s->nstreams; i++) {
		stream_t *st = &s->streams[i];
		if (strcmp(st->id, id) != 0 || strcmp(st->to, from) != 0)
			continue;
		if (seq > st->acked && seq <= st->seq) {
			st->acked = seq;
			st->progress_ms = st->rto_ms = evc__wall_ms();
		}
		if (i == 0)
			pump(s);
		return;
	}
}

/* -------------------------------------------------------------- requester */

static void request(evcd_regsync_t *s, const char *donor, const char *buckets, char *id, size_t idcap)
{
	new_id(s, id, idcap);
	fire(s, "request", NULL, "sync-donor", donor, "sync-id", id, "sync-buckets", buckets, (char *)NULL);
}

static void choose_donor(evcd_regsync_t *s, const char *peer)
{
	memset(&s->join, 0, sizeof(s->join));
	snprintf(s->join.from, sizeof(s->join.from), "%s", peer);
	s->join.expect = 1;
	s->state = RS_REQUESTING;
	s->deadline_ms = evc__wall_ms() + s->c.timeout_ms;
	s->resend_ms = evc__wall_ms() + RESEND_MS;
	request(s, peer, "all", s->join.id, sizeof(s->join.id));
	evcd_logf(s->d, EVCAST_LOG_NOTICE, "registrations: joining: asking %s for the whole table (sync %s)", peer,
		  s->join.id);
}

/* The inbound transfer (join or repair) a message from `from` with `id` belongs to, or NULL. */
static inbound_t *inbound_of(evcd_regsync_t *s, const char *to, const char *from, const char *id)
{
	if (!to || !id || strcmp(to, me(s)) != 0)
		return NULL;
	if (s->state == RS_REQUESTING && !strcmp(id, s->join.id) && !strcmp(from, s->join.from))
		return &s->join;
	if (s->repair.from[0] && !strcmp(id, s->repair.id) && !strcmp(from, s->repair.from))
		return &s->repair;
	return NULL;
}

/* A stream addressed to us that we no longer follow (given up, or its end
 * acked already and the ack lost): acknowledge what came, so the donor is not
 * stuck retransmitting it until its timeout (it serves one stream at a time). */
static void ack_stray(evcd_regsync_t *s, const char *from, const char *to, const char *id, const char *seq)
{
	if (to && id && seq && !strcmp(to, me(s)))
		fire(s, "ack", NULL, "sync-to", from, "sync-id", id, "sync-seq", seq, (char *)NULL);
}

/* In-order bookkeeping and the cumulative ack. Returns true when seq was the one expected. */
static bool accept_seq(evcd_regsync_t *s, inbound_t *in, const char *seqs)
{
	uint32_t seq = seqs ? (uint32_t)strtoul(seqs, NULL, 10) : 0;
	char ack[24];
	bool in_order = seq == in->expect;
	if (in_order)
		in->expect++;
	snprintf(ack, sizeof(ack), "%u", in->expect - 1);
	fire(s, "ack", NULL, "sync-to", in->from, "sync-id", in->id, "sync-seq", ack, (char *)NULL);
	return in_order;
}

static const char *col(cJSON *a, int i)
{
	cJSON *x = cJSON_GetArrayItem(a, i);
	return cJSON_IsString(x) ? x->valuestring : "";
}

static void on_data(evcd_regsync_t *s, const char *from, const char *to, const char *id, const char *seq,
		    const char *body, size_t blen)
{
	inbound_t *in = inbound_of(s, to, from, id);
	cJSON *arr = body ? cJSON_ParseWithLength(body, blen) : NULL, *e;
	int64_t now = (int64_t)evc__wall_ms();
	if (!cJSON_IsArray(arr)) {
		s->bad++;
		cJSON_Delete(arr);
		return;
	}
	cJSON_ArrayForEach(e, arr)
	{
		cJSON *port = cJSON_GetArrayItem(e, 12), *tomb = cJSON_GetArrayItem(e, 13);
		evc__reg_update_t u = {
			.profile = col(e, 0), .user = col(e, 1), .realm = col(e, 2), .call_id = col(e, 3),
			.contact = col(e, 4), .net_ip = col(e, 5), .user_agent = col(e, 6), .status = col(e, 7),
			.node = col(e, 8), .node_ip = col(e, 9), .ts_us = strtoull(col(e, 10), NULL, 10),
			.expires_ms = strtoll(col(e, 11), NULL, 10),
			.net_port = cJSON_IsNumber(port) && port->valuedouble >= 0 && port->valuedouble <= 65535
					    ? (uint16_t)port->valuedouble
					    : 0,
			.tomb = cJSON_IsTrue(tomb),
		};
		s->received++;
		if (!*u.call_id) { /* a stored entry always has one: never a wildcard from here */
			s->bad++;
			continue;
		}
		if (evc__reg_apply(s->reg, &u, now) > 0)
			s->applied++;
	}
	cJSON_Delete(arr);
	if (!in)
		ack_stray(s, from, to, id, seq);
	if (in) {
		accept_seq(s, in, seq);
		in->received++;
		if (in == &s->join)
			s->deadline_ms = evc__wall_ms() + s->c.timeout_ms;
		else
			s->repair_deadline_ms = evc__wall_ms() + s->c.timeout_ms;
	}
}

static void on_end(evcd_regsync_t *s, const char *from, const char *to, const char *id, const char *seq,
		   const char *total, const char *status)
{
	inbound_t *in = inbound_of(s, to, from, id);
	if (!in && !status) {
		ack_stray(s, from, to, id, seq);
		return;
	}
	if (in && status && in->expect == 1) { /* refused: not synced itself, or too many streams */
		if (in == &s->join && !strcmp(status, "joining") && strcmp(me(s), from) < 0) {
			/* cluster start: every node joining; the smaller name is the seed */
			s->state = RS_SYNCED;
			s->synced_in_ms = evc__wall_ms() - s->start_ms;
			evcd_logf(s->d, EVCAST_LOG_NOTICE, "registrations: %s is joining as well: starting with the local "
				  "table (%zu live)", from, evc__reg_live(s->reg));
		} else if (in == &s->join) {
			evcd_logf(s->d, EVCAST_LOG_INFO, "registrations: %s cannot serve (%s): asking another", from, status);
			snprintf(s->failed, sizeof(s->failed), "%s", from);
			s->state = RS_JOINING;
			s->retry_ms = evc__wall_ms() + 500;
		} else {
			s->repair.from[0] = '\0';
		}
		return;
	}
	if (!in || !accept_seq(s, in, seq))
		return; /* an event is missing: the donor goes back to it */
	if (in == &s->join) {
#ifdef __GLIBC__
		malloc_trim(0); /* the transfer's transient buffers back to the system */
#endif
		s->state = RS_SYNCED;
		s->synced_in_ms = evc__wall_ms() - s->start_ms;
		evcd_logf(s->d, EVCAST_LOG_NOTICE, "registrations: synced from %s: %s entr%s, %llu data event(s), in %llu ms",
			  in->from, total ? total : "?", total && !strcmp(total, "1") ? "y" : "ies",
			  (unsigned long long)in->received, (unsigned long long)s->synced_in_ms);
	} else {
		s->repair.from[0] = '\0';
	}
}

static void repair_from(evcd_regsync_t *s, const char *from, uint64_t mask, const char *why);

static void on_digest(evcd_regsync_t *s, const char *from, const char *text)
{
	uint64_t mine[NBUCKETS], mask = 0;
	/* only synced nodes send digests: a good donor, unless ours is already streaming */
	if (s->state == RS_JOINING || (s->state == RS_REQUESTING && !s->join.received && strcmp(from, s->join.from))) {
		choose_donor(s, from);
		return;
	}
	if (s->state != RS_SYNCED || s->repair.from[0] || !text || strlen(text) != NBUCKETS * 16)
		return;
	digest(s, mine);
	for (int i = 0; i < NBUCKETS; i++) {
		char b[17];
		memcpy(b, text + i * 16, 16);
		b[16] = '\0';
		if (strtoull(b, NULL, 16) != mine[i])
			mask |= 1ULL << i;
	}
	if (mask)
		repair_from(s, from, mask, "digest differs");
}

/* Asks from for the buckets in mask (one repair at a time). */
static void repair_from(evcd_regsync_t *s, const char *from, uint64_t mask, const char *why)
{
	char hex[20];
	if (s->state != RS_SYNCED || s->repair.from[0])
		return;
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)mask);
	memset(&s->repair, 0, sizeof(s->repair));
	snprintf(s->repair.from, sizeof(s->repair.from), "%s", from);
	s->repair.expect = 1;
	s->repair_deadline_ms = evc__wall_ms() + s->c.timeout_ms;
	s->repair_resend_ms = evc__wall_ms() + RESEND_MS;
	s->repairs++;
	request(s, from, hex, s->repair.id, sizeof(s->repair.id));
	evcd_logf(s->d, EVCAST_LOG_INFO, "registrations: %s of %s (buckets %s): repairing", why, from, hex);
}

/* --------------------------------------------------------------- consumer */

static void on_event(void *ud, const evcast_event_t *ev)
{
	evcd_regsync_t *s = ud;
	const char *sub = evcast_event_subclass(ev), *type, *from;
	size_t blen = 0;
	const char *body;
	if (!sub)
		return;
	if (!strcmp(sub, "multicast::loss")) { /* local: v2 gave up on datagrams of a peer */
		const char *peer = evcast_event_get_header(ev, "Peer");
		if (peer && strcmp(peer, me(s)) != 0)
			repair_from(s, peer, ~0ULL, "datagrams lost");
		return;
	}
	if (!strcmp(sub, "multicast::peerup")) { /* local: a peer came up */
		const char *peer = evcast_event_get_header(ev, "Peer");
		if (s->state == RS_JOINING && peer && strcmp(peer, s->failed) != 0)
			choose_donor(s, peer);
		return;
	}
	if (strcmp(sub, "multicast::event") != 0 ||
	    !(type = evcast_event_get_header(ev, "Orig-Event-Subclass")) || strcmp(type, SUBCLASS) != 0)
		return;
	type = evcast_event_get_header(ev, "Orig-sync-type");
	from = evcast_event_get_header(ev, "Orig-sync-from");
	if (!type || !from || !strcmp(from, me(s))) {
		s->bad += !type || !from;
		return;
	}
	if (!strcmp(type, "request")) {
		const char *donor = evcast_event_get_header(ev, "Orig-sync-donor");
		const char *id = evcast_event_get_header(ev, "Orig-sync-id");
		if (donor && !strcmp(donor, me(s)))
			on_request(s, from, id ? id : "", evcast_event_get_header(ev, "Orig-sync-buckets"));
	} else if (!strcmp(type, "data")) {
		body = evcast_event_get_body(ev, &blen);
		on_data(s, from, evcast_event_get_header(ev, "Orig-sync-to"), evcast_event_get_header(ev, "Orig-sync-id"),
			evcast_event_get_header(ev, "Orig-sync-seq"), body, blen);
	} else if (!strcmp(type, "end")) {
		on_end(s, from, evcast_event_get_header(ev, "Orig-sync-to"), evcast_event_get_header(ev, "Orig-sync-id"),
		       evcast_event_get_header(ev, "Orig-sync-seq"), evcast_event_get_header(ev, "Orig-sync-total"),
		       evcast_event_get_header(ev, "Orig-sync-status"));
	} else if (!strcmp(type, "ack")) {
		const char *to = evcast_event_get_header(ev, "Orig-sync-to");
		if (to && !strcmp(to, me(s)))
			on_ack(s, from, evcast_event_get_header(ev, "Orig-sync-id"), evcast_event_get_header(ev, "Orig-sync-seq"));
	} else if (!strcmp(type, "digest")) {
		on_digest(s, from, evcast_event_get_header(ev, "Orig-sync-digest"));
	}
}

/* ----------------------------------------------------------------- timers */

static void first_up_peer(void *ud, const evcast_peer_info_t *p)
{
	char **pick = ud;
	if (p->up && !pick[0] && strcmp(p->name, pick[1]) != 0)
		pick[0] = (char *)p->name;
}

static void send_digest(evcd_regsync_t *s)
{
	uint64_t b[NBUCKETS];
	char text[NBUCKETS * 16 + 1];
	digest(s, b);
	for (int i = 0; i < NBUCKETS; i++)
		snprintf(text + i * 16, 17, "%016llx", (unsigned long long)b[i]);
	if (fire(s, "digest", NULL, "sync-digest", text, (char *)NULL) == 0)
		s->digests_sent++;
}

static void on_tick(uv_timer_t *t)
{
	evcd_regsync_t *s = t->data;
	uint64_t now = evc__wall_ms();
	double cap = s->c.rate / 10.0 > 1 ? s->c.rate / 10.0 : 1; /* at most 100 ms of burst */
	s->tokens += s->c.rate * (double)TICK_MS / 1000.0;
	if (s->tokens > cap)
		s->tokens = cap;
	pump(s);
	if (s->state == RS_REQUESTING && !s->join.received && now >= s->resend_ms) {
		/* the request (or the donor's first answer) may have been lost: same id again */
		fire(s, "request", NULL, "sync-donor", s->join.from, "sync-id", s->join.id, "sync-buckets", "all",
		     (char *)NULL);
		s->resend_ms = now + RESEND_MS;
	}
	if (s->state == RS_REQUESTING && now > s->deadline_ms) {
		char *pick[2] = {NULL, s->join.from};
		evcd_logf(s->d, EVCAST_LOG_WARNING, "registrations: donor %s silent for %u ms: trying another", s->join.from,
			  s->c.timeout_ms);
		snprintf(s->failed, sizeof(s->failed), "%s", s->join.from);
		evcast_node_peers(s->d->node, first_up_peer, pick);
		s->state = RS_JOINING;
		if (pick[0])
			choose_donor(s, pick[0]);
	}
	if (s->state == RS_JOINING && (now - s->start_ms > s->c.join_wait_ms || (s->retry_ms && now >= s->retry_ms))) {
		char *pick[2] = {NULL, s->failed};
		s->retry_ms = 0;
		evcast_node_peers(s->d->node, first_up_peer, pick);
		if (pick[0]) {
			choose_donor(s, pick[0]);
		} else if (now - s->start_ms > s->c.join_wait_ms) {
			s->state = RS_SYNCED;
			s->synced_in_ms = now - s->start_ms;
			evcd_logf(s->d, EVCAST_LOG_NOTICE, "registrations: no donor within %u ms: starting with the local table",
				  s->c.join_wait_ms);
		}
	}
	if (s->repair.from[0] && (now > s->repair_deadline_ms || (!s->repair.received && now >= s->repair_resend_ms)))
		s->repair.from[0] = '\0'; /* lost or silent: the next differing digest starts another */
	if (s->c.digest_ms && s->state == RS_SYNCED && now >= s->next_digest_ms) {
		send_digest(s);
		s->next_digest_ms = now + s->c.digest_ms + (uint64_t)(rand() % (int)(s->c.digest_ms / 4 + 1));
	}
}

/* ------------------------------------------------------------- start/stop */

int evcd_regsync_start(evcd_t *d, evc__reg_t *reg, const evcd_regsync_cfg_t *c, evcd_regsync_t **out)
{
	evcd_regsync_t *s;
	evcast_bindings_t *b = NULL;
	evcast_event_t *probe;
	bool bound;
	int rc;
	*out = NULL;
	if (!c->enabled)
		return 0;
	probe = evcast_event_new_named("CUSTOM", SUBCLASS);
	bound = probe && evcast_bindings_new(evcast_node_config(d->node)->bindings, &b) == 0 &&
		evcast_bindings_match(b, probe);
	evcast_bindings_free(b);
	evcast_event_free(probe);
	if (!bound) {
		evcd_logf(d, EVCAST_LOG_WARNING,
			  "registrations: sync off: it needs \"CUSTOM %s\" in the bindings of event_multicast.conf "
			  "(no join from a donor, no anti-entropy)",
			  SUBCLASS);
		return 0;
	}
	if (!(s = evc__calloc(1, sizeof(*s))))
		return EVCAST_ENOMEM;
	s->d = d;
	s->reg = reg;
	s->c = *c;
	s->start_ms = evc__wall_ms();
	s->next_digest_ms = s->start_ms + c->digest_ms;
	if ((rc = evcast_node_subscribe(d->node, on_event, s)) < 0) {
		evc__free(s);
		return rc;
	}
	s->sub = rc;
	uv_timer_init(d->loop, &s->tick);
	s->tick.data = s;
	s->open_handles = 1;
	uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
	evcd_logf(d, EVCAST_LOG_INFO,
		  "registrations: sync on (rate %u events/s, window %u, join wait %u ms, anti-entropy every %u ms)",
		  c->rate, c->window, c->join_wait_ms, c->digest_ms);
	*out = s;
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	evcd_regsync_t *s = h->data;
	if (--s->open_handles == 0)
		evc__free(s);
}

void evcd_regsync_stop(evcd_regsync_t *s)
{
	if (!s)
		return;
	if (s->sub > 0 && s->d->node)
		evcast_node_unsubscribe(s->d->node, s->sub);
	for (size_t i = 0; i < s->nstreams; i++)
		stream_free(&s->streams[i]);
	s->nstreams = 0;
	uv_close((uv_handle_t *)&s->tick, on_closed);
}

void evcd_regsync_stats_json(const evcd_regsync_t *s, cJSON *o)
{
	static const char *const names[] = {"joining", "requesting", "synced"};
	cJSON *j;
	if (!s || !(j = cJSON_AddObjectToObject(o, "sync")))
		return;
	cJSON_AddStringToObject(j, "state", names[s->state]);
	cJSON_AddStringToObject(j, "donor", s->join.from);
	cJSON_AddNumberToObject(j, "synced_in_ms", (double)s->synced_in_ms);
	cJSON_AddNumberToObject(j, "entries_received", (double)s->received);
	cJSON_AddNumberToObject(j, "entries_applied", (double)s->applied);
	cJSON_AddNumberToObject(j, "entries_sent", (double)s->entries_sent);
	cJSON_AddNumberToObject(j, "data_events_sent", (double)s->data_sent);
	cJSON_AddNumberToObject(j, "requests_served", (double)s->requests_served);
	cJSON_AddNumberToObject(j, "requests_dropped", (double)s->requests_dropped);
	cJSON_AddNumberToObject(j, "digests_sent", (double)s->digests_sent);
	cJSON_AddNumberToObject(j, "repairs", (double)s->repairs);
	cJSON_AddNumberToObject(j, "retransmits", (double)s->retransmits);
	cJSON_AddNumberToObject(j, "streams_abandoned", (double)s->streams_abandoned);
	cJSON_AddNumberToObject(j, "bad", (double)s->bad);
}
