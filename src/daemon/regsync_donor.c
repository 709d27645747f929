/*
 * regsync_donor.c -- the donor side of the registration sync: a request
 * ("all" for a join, or buckets with the requester's leaves for a repair) is
 * snapshotted as a list of keys (of the differing leaves only; when they
 * differ the requester is pulled from in turn) and streamed as data events of
 * about DATA_BYTES, the entries read again when sent. Streams take turns, at
 * most `rate` events/s in all, `window` unacknowledged per stream; an event not
 * acknowledged while DUP_THRESH later ones were (SACK), or for RTO_MS, is sent
 * again alone (selective repeat). A stream sends only while the node is
 * writable (back-pressure: publish_wait.regsync). Shared state: regsync_int.h.
 * Sections: snapshot, request, data, acks.
 */
#include "regsync_int.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------------- snapshot */

typedef struct snap {
	const uint64_t *leaves; /* per bucket: the leaves to send */
	stream_t *st;
	size_t cap;
	bool oom;
} snap_t;

static void snap_one(void *ud, const evc__reg_entry_t *e)
{
	snap_t *sn = ud;
	stream_t *st = sn->st;
	unsigned slot;
	if (sn->oom)
		return;
	slot = evcd_rs_slot(e->key);
	if (!(sn->leaves[slot / RS_LEAVES] >> (slot % RS_LEAVES) & 1))
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

void evcd_rs_stream_free(stream_t *st)
{
	for (size_t i = 0; i < st->n; i++)
		evc__free(st->keys[i]);
	evc__free(st->keys);
	memset(st, 0, sizeof(*st));
}

static void stream_pop(evcd_regsync_t *s, size_t i)
{
	stream_t *st = &s->streams[i];
	char done[sizeof(s->done[0])];
	/* remembered: a copy of its request (duplicated, or resent late) does not start it again */
	snprintf(done, sizeof(done), "%s\x1f%s", st->to, st->id);
	memcpy(s->done[s->ndone++ % DONE_RING], done, sizeof(done));
	evcd_rs_stream_free(st);
	memmove(&s->streams[i], &s->streams[i + 1], (s->nstreams - i - 1) * sizeof(s->streams[0]));
	s->nstreams--;
}

/* ---------------------------------------------------------------- request */

/* A request for `buckets` ("all", or a hex mask with, in body, the requester's
 * leaves of those buckets): snapshot the keys to send and queue the stream. */
void evcd_rs_on_request(evcd_regsync_t *s, const char *from, const char *id, const char *buckets, const char *body,
		       size_t blen)
{
	stream_t *st;
	snap_t sn = {0};
	uint64_t leaves[RS_BUCKETS], mask, pull = 0;
	int ndiff = -1;
	bool all;
	all = !buckets || !strcmp(buckets, "all");
	char done[sizeof(s->done[0])];
	for (size_t i = 0; i < s->nstreams; i++)
		if (!strcmp(s->streams[i].to, from) && !strcmp(s->streams[i].id, id))
			return; /* the same request again (its sender had no answer yet): already streaming */
	snprintf(done, sizeof(done), "%s\x1f%s", from, id);
	for (size_t i = 0; i < DONE_RING; i++)
		if (!strcmp(s->done[i], done))
			return; /* served already */
	if (all) { /* a join: `from` has restarted; what we had going with its former self is void */
		inbound_t *in = evcd_rs_repair_of(s, from);
		for (size_t i = 0; i < s->nstreams;)
			if (!strcmp(s->streams[i].to, from))
				stream_pop(s, i);
			else
				i++;
		if (in)
			evcd_rs_repair_done(s, in, "void (it restarted)");
	}
	if (s->state != RS_SYNCED && strcmp(evcd_rs_me(s), from) < 0) {
		/* both joining (cluster start): the smaller name serves with what it has */
		s->state = RS_SYNCED;
		s->synced_in_ms = evc__wall_ms() - s->start_ms;
		char e[160];
		evcd_logf(s->d, EVCAST_LOG_NOTICE, "registrations: %s is joining as well: serving it with the local "
			  "table (%zu live)", evc__esc(from, e, sizeof(e)), evc__reg_live(s->reg));
	}
	if (s->state != RS_SYNCED || s->nstreams == MAX_STREAMS) {
		s->requests_dropped++; /* "busy": the requester asks someone else at once */
		evcd_rs_fire(s, "end", NULL, "sync-to", from, "sync-id", id, "sync-seq", "1", "sync-total", "0", "sync-status",
		     s->state != RS_SYNCED ? "joining" : "busy", (char *)NULL);
		return;
	}
	mask = all ? UINT64_MAX : strtoull(buckets, NULL, 16);
	for (int b = 0; b < RS_BUCKETS; b++)
		leaves[b] = mask >> b & 1 ? UINT64_MAX : 0;
	if (!all && body && blen) { /* a repair with the requester's leaves: only the differing ones */
		if ((ndiff = evcd_rs_leaves_diff(evcd_rs_my_digest(s), mask, body, blen, leaves)) < 0) {
			s->bad++; /* malformed leaves: the whole buckets */
			for (int b = 0; b < RS_BUCKETS; b++)
				leaves[b] = mask >> b & 1 ? UINT64_MAX : 0;
		}
		for (int b = 0; b < RS_BUCKETS; b++)
			pull |= (uint64_t)(leaves[b] != 0) << b;
	}
	st = &s->streams[s->nstreams];
	memset(st, 0, sizeof(*st));
	snprintf(st->to, sizeof(st->to), "%s", from);
	snprintf(st->id, sizeof(st->id), "%s", id);
	sn.leaves = leaves;
	sn.st = st;
	evc__reg_foreach(s->reg, true, snap_one, &sn);
	if (sn.oom) {
		evcd_rs_stream_free(st);
		s->requests_dropped++;
		return;
	}
	st->progress_ms = st->started_ms = evc__wall_ms();
	s->nstreams++;
	s->requests_served++;
	s->joins_served += all;
	char e[3][160]; /* names and ids from the network */
	evcd_logf(s->d, EVCAST_LOG_INFO, "registrations: sending %zu entr%s to %s (sync %s, buckets %s, %d leaves differ)",
		  st->n, st->n == 1 ? "y" : "ies", evc__esc(from, e[0], sizeof(e[0])), evc__esc(id, e[1], sizeof(e[1])),
		  evc__esc(buckets ? buckets : "all", e[2], sizeof(e[2])), ndiff);
	if (pull && ndiff > 0) { /* the requester has something in those leaves too: pull it (push) */
		s->pushes++;
		evcd_rs_repair_from(s, from, pull, "leaves differ");
	}
}

/* ------------------------------------------------------------------- data */

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

/* (Re)sends event k of st (data: its keys, as they are now; or the end). 0 when sent. */
static int send_ev(evcd_regsync_t *s, stream_t *st, uint32_t k)
{
	sent_ev_t *v = &st->ev[k % RING];
	cJSON *arr;
	size_t count = 0;
	char cnt[24], seq[24], *body;
	int rc;
	snprintf(seq, sizeof(seq), "%u", k);
	if (k == st->end_seq) {
		snprintf(cnt, sizeof(cnt), "%zu", st->sent);
		rc = evcd_rs_fire(s, "end", NULL, "sync-to", st->to, "sync-id", st->id, "sync-seq", seq, "sync-total", cnt,
			  (char *)NULL);
	} else {
		if (!(arr = cJSON_CreateArray()))
			return EVCAST_ENOMEM;
		for (size_t p = v->beg; p < v->end; p++) {
			evc__reg_entry_t *e = evc__reg_find_key(s->reg, st->keys[p]);
			cJSON *j;
			if (!e || !(j = entry_json(e, evc__reg_margin_ms(s->reg))))
				continue;
			cJSON_AddItemToArray(arr, j);
			count++;
		}
		body = cJSON_PrintUnformatted(arr);
		cJSON_Delete(arr);
		snprintf(cnt, sizeof(cnt), "%zu", count);
		rc = body ? evcd_rs_fire(s, "data", body, "sync-to", st->to, "sync-id", st->id, "sync-seq", seq, "sync-count",
				 cnt, (char *)NULL)
			  : EVCAST_ENOMEM;
		cJSON_free(body);
		if (rc == 0) {
			s->data_sent++;
			s->entries_sent += count;
		}
	}
	if (rc == 0) {
		v->sent_ms = evc__wall_ms();
		v->lost = false;
	}
	return rc;
}

/* Sends one event of stream i: a lost one again, else the next (data, or the
 * end) when the window allows. Returns 1 when sent, 0 when nothing can be sent
 * now, -1 when the stream is finished or dropped (removed: i holds the next). */
static int send_some(evcd_regsync_t *s, size_t i)
{
	stream_t *st = &s->streams[i];
	uint64_t now = evc__wall_ms();
	size_t bytes = 0, count = 0;
	sent_ev_t *v;
	uint32_t k;
	char esc[2][160]; /* the stream's id and peer, from the network */
	if (st->end_seq && st->acked >= st->end_seq) { /* complete */
		evcd_logf(s->d, EVCAST_LOG_INFO, "registrations: sync %s to %s complete: %zu entr%s, %u event(s), %u sent "
			  "again, %llu ms", evc__esc(st->id, esc[0], sizeof(esc[0])), evc__esc(st->to, esc[1], sizeof(esc[1])), st->sent, st->sent == 1 ? "y" : "ies", st->end_seq, st->resent,
			  (unsigned long long)(now - st->started_ms));
		stream_pop(s, i);
		return -1;
	}
	if (now - st->progress_ms > s->c.timeout_ms) {
		evcd_logf(s->d, EVCAST_LOG_WARNING, "registrations: %s stopped acknowledging sync %s: stream dropped",
			  evc__esc(st->to, esc[0], sizeof(esc[0])), evc__esc(st->id, esc[1], sizeof(esc[1])));
		s->streams_abandoned++;
		stream_pop(s, i);
		return -1;
	}
	for (k = st->acked + 1; k <= st->seq; k++) { /* selective repeat: only what did not come */
		v = &st->ev[k % RING];
		if (v->got || (!v->lost && now - v->sent_ms <= RTO_MS))
			continue;
		if (v->lost)
			s->fast_retransmits++;
		else
			s->retransmits++;
		st->resent++;
		return send_ev(s, st, k) == 0;
	}
	if (st->end_seq || st->seq - st->acked >= s->c.window)
		return 0;
	k = st->seq + 1;
	v = &st->ev[k % RING];
	memset(v, 0, sizeof(*v));
	v->beg = v->end = st->pos;
	if (st->pos >= st->n) {
		st->end_seq = k;
	} else {
		for (; v->end < st->n && bytes < DATA_BYTES; v->end++) {
			evc__reg_entry_t *e = evc__reg_find_key(s->reg, st->keys[v->end]);
			if (!e)
				continue;
			bytes += strlen(e->key) + strlen(e->contact) + strlen(e->user_agent) + strlen(e->status) +
				 strlen(e->node) + strlen(e->net_ip) + strlen(e->node_ip) + 80;
			count++;
		}
	}
	st->seq = k;
	if (send_ev(s, st, k) != 0) { /* not sent: again later */
		st->seq--;
		st->end_seq = 0;
		return 0;
	}
	st->pos = v->end;
	st->sent += count;
	return 1;
}

/* Back-pressure: a donor's stream is bulk (a whole table), so it sends only
 * while the node is writable and otherwise waits for the watcher, which pumps
 * again at once (the tick would too). The other regsync events (requests,
 * acks, digests, the end) are few and go with evcast_node_fire. A refused
 * watcher (too many armed) leaves the pump to the tick. */
static void on_writable(void *ud)
{
	evcd_regsync_t *s = ud;
	s->bp_watch = 0;
	evcd_pubwait_end(&s->d->pubwait[EVCD_PUB_REGSYNC], s->bp_t0);
	evcd_rs_pump(s);
}

static bool pump_must_wait(evcd_regsync_t *s)
{
	if (s->bp_watch > 0)
		return true;
	if (evcast_node_writable(s->d->node))
		return false;
	int id = evcast_node_watch_writable(s->d->node, on_writable, s);
	if (id > 0) {
		s->bp_watch = id;
		s->bp_t0 = evcd_pubwait_begin(&s->d->pubwait[EVCD_PUB_REGSYNC]);
	}
	return true;
}

void evcd_rs_pump_stop(evcd_regsync_t *s)
{
	if (s->bp_watch <= 0)
		return;
	if (s->d->node)
		evcast_node_unwatch_writable(s->d->node, s->bp_watch);
	s->bp_watch = 0;
	evcd_pubwait_end(&s->d->pubwait[EVCD_PUB_REGSYNC], s->bp_t0);
}

/* Sends while the token bucket, the windows and the node allow, one event of
 * each stream in turn. */
void evcd_rs_pump(evcd_regsync_t *s)
{
	size_t idle = 0; /* streams in a row that could not send */
	while (s->tokens >= 1 && s->nstreams && idle < s->nstreams) {
		int r;
		if (pump_must_wait(s))
			break;
		if (s->rr >= s->nstreams)
			s->rr = 0;
		r = send_some(s, s->rr);
		if (r > 0) {
			s->tokens -= 1;
			idle = 0;
			s->rr++;
		} else if (r == 0) {
			idle++;
			s->rr++;
		} else {
			idle = 0; /* removed: rr now names the next stream */
		}
	}
}

/* ------------------------------------------------------------------- acks */

/* An ack: all up to seqs came, and those in sack (hex, bit i = seq seqs + 2 + i). */
void evcd_rs_on_ack(evcd_regsync_t *s, const char *from, const char *id, const char *seqs, const char *sack)
{
	uint32_t seq;
	uint64_t m;
	if (!id || !seqs)
		return;
	seq = (uint32_t)strtoul(seqs, NULL, 10);
	m = sack ? strtoull(sack, NULL, 16) : 0;
	for (size_t i = 0; i < s->nstreams; i++) {
		stream_t *st = &s->streams[i];
		bool progress = false;
		if (strcmp(st->id, id) != 0 || strcmp(st->to, from) != 0)
			continue;
		if (seq > st->seq)
			return; /* not sent yet: bogus */
		if (seq > st->acked) {
			st->acked = seq;
			progress = true;
		}
		for (uint32_t b = 0; b < SACK_BITS && seq + 2 + b <= st->seq; b++) {
			sent_ev_t *v = &st->ev[(seq + 2 + b) % RING];
			if (m >> b & 1 && seq + 2 + b > st->acked && !v->got)
				v->got = progress = true;
		}
		if (progress)
			st->progress_ms = evc__wall_ms();
		/* lost: not acknowledged while DUP_THRESH events sent after it were */
		for (uint32_t k = st->acked + 1; k <= st->seq; k++) {
			sent_ev_t *v = &st->ev[k % RING];
			int later = 0;
			if (v->got || v->lost)
				continue;
			for (uint32_t j = k + 1; j <= st->seq && later < DUP_THRESH; j++)
				later += st->ev[j % RING].got && st->ev[j % RING].sent_ms >= v->sent_ms;
			v->lost = later >= DUP_THRESH;
		}
		evcd_rs_pump(s);
		return;
	}
}
