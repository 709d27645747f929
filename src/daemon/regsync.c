/*
 * regsync.c -- registration table transfer: join from ONE donor, anti-entropy.
 * Contract in regsync.h; design in docs/REGISTRATIONS.md ("Sync"). The donor
 * side (streams) is regsync_donor.c, the digest tree regsync_digest.c.
 *
 * Messages are CUSTOM evcast::regsync events (received as multicast::event,
 * Orig- headers): sync-type request (sync-donor, sync-id, sync-buckets "all"
 * or a 64-bit hex mask; body: the requester's leaves of those buckets), data
 * (sync-to, sync-id, sync-seq, JSON body: an array of entries), end (sync-seq,
 * sync-total), ack (sync-id, sync-seq: the highest in-order seq received,
 * sync-sack: those received after it), digest (sync-digest: 64 buckets x 16
 * hex of the two-level tree of regsync_digest.h, sync-layout 2), hello (a
 * joining node, every HELLO_MS until it has a donor: synced nodes answer with
 * their digest at once, and the first one becomes the donor). Data is
 * applied by every node that hears it (LWW: harmless, and it repairs).
 * A digest that differs starts a repair from its sender (one per peer,
 * MAX_REPAIRS at a time; more are counted in repairs_busy). A repair, or
 * overheard data, that changed the table sends this node's digest at once
 * (once quiet, at most one per digest_ms / 8) instead of at the next interval.
 * Sections: config, digest, sending, requester, consumer, timers, start/stop.
 */
#include "regsync_int.h"
#include <cjson/cJSON.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
		return evc__conf_uint(v, 1, SACK_BITS, &c->window) ? -1 : 1;
	if (!strcasecmp(name, "anti-entropy-interval-ms"))
		return evc__conf_uint(v, 0, 3600000, &c->digest_ms) ? -1 : 1;
	return 0;
}

/* ----------------------------------------------------------------- digest */

/* This node's digest: computed again only when the table changed since (its
 * counters tell: every change counts in one of them), so a quiet node answers
 * digests and requests without walking the table (~45 ms per 100 k entries). */
const evcd_rs_digest_t *evcd_rs_my_digest(evcd_regsync_t *s)
{
	evc__reg_stats_t st;
	uint64_t gen[5];
	evc__reg_stats(s->reg, &st);
	gen[0] = st.applied, gen[1] = st.expired, gen[2] = st.tombs_purged, gen[3] = st.live, gen[4] = st.tombs;
	if (!s->dg_valid || memcmp(gen, s->dg_gen, sizeof(gen)) != 0) {
		evcd_rs_digest(s->reg, &s->dg);
		memcpy(s->dg_gen, gen, sizeof(gen));
		s->dg_valid = true;
		s->digests_computed++;
	}
	return &s->dg;
}

/* ---------------------------------------------------------------- sending */

const char *evcd_rs_me(const evcd_regsync_t *s) { return evcast_node_name(s->d->node); }

/* Fires CUSTOM evcast::regsync with sync-type and the header pairs (NULL-terminated). body may be NULL. */
int evcd_rs_fire(evcd_regsync_t *s, const char *type, const char *body, ...)
{
	evcast_event_t *ev = evcast_event_new_named("CUSTOM", SUBCLASS);
	va_list ap;
	const char *n, *v;
	int r = 0;
	if (!ev)
		return EVCAST_ENOMEM;
	r |= evcast_event_add_header(ev, "sync-type", type);
	r |= evcast_event_add_header(ev, "sync-from", evcd_rs_me(s));
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
	return evcast_node_fire(s->d->node, ev); /* low volume; the donor's bulk waits in evcd_rs_pump */
}

static void new_id(evcd_regsync_t *s, char *out, size_t cap)
{
	snprintf(out, cap, "%llx-%u", (unsigned long long)(evc__wall_us() & 0xffffffffffULL), ++s->seq);
}

/* -------------------------------------------------------------- requester */

static void request(evcd_regsync_t *s, const char *donor, const char *buckets, const char *body, char *id,
		    size_t idcap)
{
	new_id(s, id, idcap);
	evcd_rs_fire(s, "request", body, "sync-donor", donor, "sync-id", id, "sync-buckets", buckets, (char *)NULL);
}

static void choose_donor(evcd_regsync_t *s, const char *peer)
{
	memset(&s->join, 0, sizeof(s->join));
	snprintf(s->join.from, sizeof(s->join.from), "%s", peer);
	s->join.expect = 1;
	s->join.started_ms = evc__wall_ms();
	s->state = RS_REQUESTING;
	s->deadline_ms = evc__wall_ms() + s->c.timeout_ms;
	s->resend_ms = evc__wall_ms() + REQUEST_RESEND_MS;
	request(s, peer, "all", NULL, s->join.id, sizeof(s->join.id));
	char e[160];
	evcd_logf(s->d, EVCAST_LOG_NOTICE, "registrations: joining: asking %s for the whole table (sync %s)",
		  evc__esc(peer, e, sizeof(e)), s->join.id);
}

/* The inbound transfer (join or repair) a message from `from` with `id` belongs to, or NULL. */
static inbound_t *inbound_of(evcd_regsync_t *s, const char *to, const char *from, const char *id)
{
	if (!to || !id || strcmp(to, evcd_rs_me(s)) != 0)
		return NULL;
	if (s->state == RS_REQUESTING && !strcmp(id, s->join.id) && !strcmp(from, s->join.from))
		return &s->join;
	for (int i = 0; i < MAX_REPAIRS; i++)
		if (s->repair[i].from[0] && !strcmp(id, s->repair[i].id) && !strcmp(from, s->repair[i].from))
			return &s->repair[i];
	return NULL;
}

/* A repair with no data for this long is given up. */
static uint64_t repair_silence(const evcd_regsync_t *s)
{
	return s->c.timeout_ms < REPAIR_SILENT_MS ? s->c.timeout_ms : REPAIR_SILENT_MS;
}

/* The repair in flight from peer, or NULL. */
inbound_t *evcd_rs_repair_of(evcd_regsync_t *s, const char *peer)
{
	for (int i = 0; i < MAX_REPAIRS; i++)
		if (s->repair[i].from[0] && !strcmp(s->repair[i].from, peer))
			return &s->repair[i];
	return NULL;
}

static bool repairing(const evcd_regsync_t *s)
{
	for (int i = 0; i < MAX_REPAIRS; i++)
		if (s->repair[i].from[0])
			return true;
	return false;
}

/* A repair is over (complete, refused or given up). */
void evcd_rs_repair_done(evcd_regsync_t *s, inbound_t *in, const char *how)
{
	char e[160];
	evcd_logf(s->d, EVCAST_LOG_INFO, "registrations: repair from %s %s: %llu data event(s), %llu entr%s changed, "
		  "%llu ms", evc__esc(in->from, e, sizeof(e)), how, (unsigned long long)in->received, (unsigned long long)in->applied,
		  in->applied == 1 ? "y" : "ies", (unsigned long long)(evc__wall_ms() - in->started_ms));
	if (in->applied)
		s->digest_soon = true; /* tell the others at once: they may lack what came */
	in->from[0] = '\0';
}

/* A stream addressed to us that we no longer follow (given up, or its end
 * acked already and the ack lost): acknowledge what came, so the donor is not
 * stuck retransmitting it until its timeout. */
static void ack_stray(evcd_regsync_t *s, const char *from, const char *to, const char *id, const char *seq)
{
	if (to && id && seq && !strcmp(to, evcd_rs_me(s)))
		evcd_rs_fire(s, "ack", NULL, "sync-to", from, "sync-id", id, "sync-seq", seq, (char *)NULL);
}

/* Bookkeeping of what came (in order, and the SACK_BITS after) and the ack:
 * sync-seq all up to it came, sync-sack (hex) bit i = seq sync-seq + 2 + i came. */
static void accept_seq(evcd_regsync_t *s, inbound_t *in, const char *seqs)
{
	uint32_t seq = seqs ? (uint32_t)strtoul(seqs, NULL, 10) : 0;
	char ack[24], sack[20];
	if (seq == in->expect) {
		in->expect++;
		for (; in->ooo & 1; in->ooo >>= 1)
			in->expect++;
		in->ooo >>= 1;
	} else if (seq > in->expect && seq - in->expect - 1 < SACK_BITS) {
		in->ooo |= 1ULL << (seq - in->expect - 1);
	}
	snprintf(ack, sizeof(ack), "%u", in->expect - 1);
	snprintf(sack, sizeof(sack), "%llx", (unsigned long long)in->ooo);
	evcd_rs_fire(s, "ack", NULL, "sync-to", in->from, "sync-id", in->id, "sync-seq", ack, "sync-sack", sack, (char *)NULL);
}

static void transfer_done(evcd_regsync_t *s, inbound_t *in);

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
	uint64_t applied = 0;
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
			applied++;
	}
	cJSON_Delete(arr);
	s->applied += applied;
	if (applied) {
		s->last_apply_ms = (uint64_t)now;
		if (!in) /* overheard (another node's stream): tell the others once it is quiet */
			s->digest_soon = true;
	}
	if (!in)
		ack_stray(s, from, to, id, seq);
	if (in) {
		accept_seq(s, in, seq);
		in->received++;
		in->applied += applied;
		if (in == &s->join)
			s->deadline_ms = evc__wall_ms() + s->c.timeout_ms;
		else
			in->deadline_ms = evc__wall_ms() + repair_silence(s);
		if (in->end_seq && in->expect > in->end_seq)
			transfer_done(s, in); /* the last gap before the end filled */
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
		char e[2][160];
		if (in == &s->join && !strcmp(status, "joining") && strcmp(evcd_rs_me(s), from) < 0) {
			/* cluster start: every node joining; the smaller name is the seed */
			s->state = RS_SYNCED;
			s->synced_in_ms = evc__wall_ms() - s->start_ms;
			evcd_logf(s->d, EVCAST_LOG_NOTICE, "registrations: %s is joining as well: starting with the local "
				  "table (%zu live)", evc__esc(from, e[0], sizeof(e[0])), evc__reg_live(s->reg));
		} else if (in == &s->join) {
			evcd_logf(s->d, EVCAST_LOG_INFO, "registrations: %s cannot serve (%s): asking another",
				  evc__esc(from, e[0], sizeof(e[0])), evc__esc(status, e[1], sizeof(e[1])));
			snprintf(s->failed, sizeof(s->failed), "%s", from);
			s->state = RS_JOINING;
			s->retry_ms = evc__wall_ms() + 500;
		} else {
			s->repairs_busy++;
			evcd_rs_repair_done(s, in, status);
		}
		return;
	}
	if (!in)
		return;
	in->end_seq = seq ? (uint32_t)strtoul(seq, NULL, 10) : 0;
	snprintf(in->total, sizeof(in->total), "%s", total ? total : "?");
	accept_seq(s, in, seq);
	if (in->end_seq && in->expect > in->end_seq)
		transfer_done(s, in); /* else an event is missing: the donor sends it again */
}

/* Everything up to the end came. */
static void transfer_done(evcd_regsync_t *s, inbound_t *in)
{
	if (in == &s->join) {
#ifdef __GLIBC__
		malloc_trim(0); /* the transfer's transient buffers back to the system */
#endif
		s->state = RS_SYNCED;
		s->synced_in_ms = evc__wall_ms() - s->start_ms;
		char e[2][160];
		evcd_logf(s->d, EVCAST_LOG_NOTICE, "registrations: synced from %s: %s entr%s, %llu data event(s), in %llu ms",
			  evc__esc(in->from, e[0], sizeof(e[0])), evc__esc(in->total, e[1], sizeof(e[1])), !strcmp(in->total, "1") ? "y" : "ies",
			  (unsigned long long)in->received, (unsigned long long)s->synced_in_ms);
		s->digest_soon = true;
	} else {
		evcd_rs_repair_done(s, in, "complete");
	}
}

static void on_digest(evcd_regsync_t *s, const char *from, const char *text, const char *layout)
{
	uint64_t mask = 0;
	/* only synced nodes send digests: a good donor, unless ours is already streaming or just asked */
	if (s->state == RS_JOINING || (s->state == RS_REQUESTING && !s->join.received && strcmp(from, s->join.from) &&
				       evc__wall_ms() - s->join.started_ms >= RESEND_MS)) {
		choose_donor(s, from);
		return;
	}
	if (s->state != RS_SYNCED || evcd_rs_repair_of(s, from))
		return;
	if (!layout || strcmp(layout, "2") != 0) { /* another version's tree: it cannot be compared */
		s->bad++;
		return;
	}
	if (evcd_rs_buckets_diff(evcd_rs_my_digest(s), text, &mask) < 0) {
		s->bad++;
		return;
	}
	if (mask)
		evcd_rs_repair_from(s, from, mask, "digest differs");
}

/* Asks from for the buckets in mask, with this node's leaves of them (one
 * repair per peer, MAX_REPAIRS at a time). */
void evcd_rs_repair_from(evcd_regsync_t *s, const char *from, uint64_t mask, const char *why)
{
	char hex[20];
	inbound_t *in = NULL;
	uint64_t now = evc__wall_ms();
	if (s->state != RS_SYNCED || evcd_rs_repair_of(s, from))
		return;
	for (int i = 0; i < MAX_REPAIRS && !in; i++)
		if (!s->repair[i].from[0])
			in = &s->repair[i];
	if (!in) {
		s->repairs_busy++;
		return;
	}
	evcd_rs_leaves_text(evcd_rs_my_digest(s), mask, s->leaves);
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)mask);
	memset(in, 0, sizeof(*in));
	snprintf(in->from, sizeof(in->from), "%s", from);
	in->expect = 1;
	in->started_ms = now;
	in->deadline_ms = now + repair_silence(s);
	in->resend_ms = now + REQUEST_RESEND_MS;
	in->mask = mask;
	s->repairs++;
	request(s, from, hex, s->leaves, in->id, sizeof(in->id));
	char e[160];
	evcd_logf(s->d, EVCAST_LOG_INFO, "registrations: %s of %s (%d bucket(s) %s): repairing", why,
		  evc__esc(from, e, sizeof(e)), __builtin_popcountll(mask), hex);
}

/* --------------------------------------------------------------- consumer */

static void send_digest(evcd_regsync_t *s, uint64_t now);

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
		if (peer && strcmp(peer, evcd_rs_me(s)) != 0)
			evcd_rs_repair_from(s, peer, ~0ULL, "datagrams lost");
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
	if (!type || !from || !strcmp(from, evcd_rs_me(s))) {
		s->bad += !type || !from;
		return;
	}
	if (!strcmp(type, "request")) {
		const char *donor = evcast_event_get_header(ev, "Orig-sync-donor");
		const char *id = evcast_event_get_header(ev, "Orig-sync-id");
		if (donor && !strcmp(donor, evcd_rs_me(s))) {
			body = evcast_event_get_body(ev, &blen);
			evcd_rs_on_request(s, from, id ? id : "", evcast_event_get_header(ev, "Orig-sync-buckets"), body, blen);
		}
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
		if (to && !strcmp(to, evcd_rs_me(s)))
			evcd_rs_on_ack(s, from, evcast_event_get_header(ev, "Orig-sync-id"),
				       evcast_event_get_header(ev, "Orig-sync-seq"),
				       evcast_event_get_header(ev, "Orig-sync-sack"));
	} else if (!strcmp(type, "digest")) {
		on_digest(s, from, evcast_event_get_header(ev, "Orig-sync-digest"),
			  evcast_event_get_header(ev, "Orig-sync-layout"));
	} else if (!strcmp(type, "hello") && s->state == RS_SYNCED && evc__wall_ms() - s->last_digest_ms >= 50) {
		send_digest(s, evc__wall_ms()); /* a joining node looks for a donor: be one at once */
	}
}

/* ----------------------------------------------------------------- timers */

static void first_up_peer(void *ud, const evcast_peer_info_t *p)
{
	char **pick = ud;
	if (p->up && !pick[0] && strcmp(p->name, pick[1]) != 0)
		pick[0] = (char *)p->name;
}

static void send_digest(evcd_regsync_t *s, uint64_t now)
{
	char text[RS_BUCKETS_TEXT + 1];
	evcd_rs_buckets_text(evcd_rs_my_digest(s), text);
	if (evcd_rs_fire(s, "digest", NULL, "sync-digest", text, "sync-layout", "2", (char *)NULL) == 0)
		s->digests_sent++;
	s->last_digest_ms = now;
	s->digest_soon = false;
	s->next_digest_ms = now + s->c.digest_ms + (uint64_t)(rand() % (int)(s->c.digest_ms / 4 + 1));
}

static void on_tick(uv_timer_t *t)
{
	evcd_regsync_t *s = t->data;
	uint64_t now = evc__wall_ms();
	double cap = s->c.rate / 10.0 > 1 ? s->c.rate / 10.0 : 1; /* at most 100 ms of burst */
	s->tokens += s->c.rate * (double)TICK_MS / 1000.0;
	if (s->tokens > cap)
		s->tokens = cap;
	evcd_rs_pump(s);
	if (s->state == RS_REQUESTING && !s->join.received && now >= s->resend_ms) {
		/* the request (or the donor's first answer) may have been lost: same id again */
		evcd_rs_fire(s, "request", NULL, "sync-donor", s->join.from, "sync-id", s->join.id, "sync-buckets", "all",
		     (char *)NULL);
		s->resend_ms = now + REQUEST_RESEND_MS;
	}
	if (s->state == RS_REQUESTING && now > s->deadline_ms) {
		char *pick[2] = {NULL, s->join.from};
		char e[160];
		evcd_logf(s->d, EVCAST_LOG_WARNING, "registrations: donor %s silent for %u ms: trying another",
			  evc__esc(s->join.from, e, sizeof(e)), s->c.timeout_ms);
		snprintf(s->failed, sizeof(s->failed), "%s", s->join.from);
		evcast_node_peers(s->d->node, first_up_peer, pick);
		s->state = RS_JOINING;
		if (pick[0])
			choose_donor(s, pick[0]);
	}
	if (s->state == RS_JOINING && now >= s->hello_ms) { /* synced nodes answer with a digest: a donor */
		evcd_rs_fire(s, "hello", NULL, (char *)NULL);
		s->hello_ms = now + HELLO_MS;
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
	for (int i = 0; i < MAX_REPAIRS; i++) {
		inbound_t *in = &s->repair[i];
		char hex[20];
		if (!in->from[0] || in->received || now < in->resend_ms) {
			if (in->from[0] && now > in->deadline_ms) /* silent: the next differing digest starts another */
				evcd_rs_repair_done(s, in, "given up");
			continue;
		}
		if (++in->resends > REPAIR_RESENDS) {
			evcd_rs_repair_done(s, in, "given up");
			continue;
		}
		/* no answer yet: the request (or the first data) may have been lost: the same id again */
		evcd_rs_leaves_text(evcd_rs_my_digest(s), in->mask, s->leaves);
		snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)in->mask);
		evcd_rs_fire(s, "request", s->leaves, "sync-donor", in->from, "sync-id", in->id, "sync-buckets", hex,
			     (char *)NULL);
		in->resend_ms = now + REQUEST_RESEND_MS;
	}
	if (s->c.digest_ms && s->state == RS_SYNCED) {
		/* after a repair that changed the table: at once, once quiet, at most every digest_ms / 8 */
		uint64_t gap = s->c.digest_ms / 8 < 50 ? 50 : s->c.digest_ms / 8;
		if (now >= s->next_digest_ms || (s->digest_soon && now - s->last_digest_ms >= gap &&
						  now - s->last_apply_ms >= 2 * TICK_MS && !repairing(s))) {
			s->prompt_digests += now < s->next_digest_ms;
			send_digest(s, now);
		}
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
	evcd_rs_pump_stop(s);
	for (size_t i = 0; i < s->nstreams; i++)
		evcd_rs_stream_free(&s->streams[i]);
	s->nstreams = 0;
	uv_close((uv_handle_t *)&s->tick, on_closed);
}

void evcd_regsync_stats_json(evcd_regsync_t *s, cJSON *o)
{
	static const char *const names[] = {"joining", "requesting", "synced"};
	char hex[20];
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
	cJSON_AddNumberToObject(j, "joins_served", (double)s->joins_served); /* the "all" ones */
	cJSON_AddNumberToObject(j, "requests_dropped", (double)s->requests_dropped);
	cJSON_AddNumberToObject(j, "digests_sent", (double)s->digests_sent);
	cJSON_AddNumberToObject(j, "repairs", (double)s->repairs);
	cJSON_AddNumberToObject(j, "repairs_busy", (double)s->repairs_busy);
	cJSON_AddNumberToObject(j, "pushes", (double)s->pushes);
	cJSON_AddNumberToObject(j, "prompt_digests", (double)s->prompt_digests);
	cJSON_AddNumberToObject(j, "retransmits", (double)s->retransmits);
	cJSON_AddNumberToObject(j, "fast_retransmits", (double)s->fast_retransmits);
	cJSON_AddNumberToObject(j, "streams_abandoned", (double)s->streams_abandoned);
	cJSON_AddNumberToObject(j, "bad", (double)s->bad);
	/* of the whole table: equal on every node once converged */
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)evcd_rs_digest_sum(evcd_rs_my_digest(s)));
	cJSON_AddStringToObject(j, "table_digest", hex);
	cJSON_AddNumberToObject(j, "digests_computed", (double)s->digests_computed);
}
