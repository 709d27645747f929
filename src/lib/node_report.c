/*
 * node_report.c -- what a node tells operators: the legacy multicast_peers
 * text, its JSON twin, and the counters as JSON.
 *
 * Read-only over the node's state; every string returned is allocated with
 * the library allocator and freed by the caller with evcast_free.
 */
#include "node_internal.h"
#include "v2.h"
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A growable text buffer; on allocation failure it stays failed (ok = false). */
typedef struct strbuf {
	char *s;
	size_t len, cap;
	bool ok;
} strbuf_t;

static void sb_printf(strbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf_t *b, const char *fmt, ...)
{
	va_list ap;
	if (!b->ok)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		int n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->ok = false;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap * 2 : 256) + (size_t)n;
		char *s = evc__realloc(b->s, cap);
		if (!s) {
			b->ok = false;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

static const char *state_name(const evcast_node_t *n)
{
	switch (n->state) {
	case EVC__NODE_NEW: return "configured";
	case EVC__NODE_RUNNING: return "running";
	default: return "stopping";
	}
}

static const char *protocol_name(const evcast_node_t *n)
{
	bool v2 = evc__node_v2_sends(n, EVCAST_PROTO_V2), legacy = evc__node_v2_sends(n, EVCAST_PROTO_LEGACY);
	return v2 && legacy ? "mixed (v2 + legacy)" : v2 ? "v2" : "legacy";
}

static const char *security_name(const evcast_node_t *n)
{
	if (evc__node_v2_sends(n, EVCAST_PROTO_V2))
		return n->kr ? "XChaCha20-Poly1305" : "v2 plaintext";
	return n->key ? "PSK encrypted" : "plaintext";
}

char *evcast_node_peers_text(const evcast_node_t *n)
{
	strbuf_t b = {NULL, 0, 0, true};
	uint64_t now = evc__wall_ms();
	sb_printf(&b, "Module state: %s\n", state_name(n));
	sb_printf(&b, "Node: %s (%s format, %s)\n", n->cfg->node_name, protocol_name(n), security_name(n));
	sb_printf(&b, "Bindings: %s\n", n->cfg->bindings ? n->cfg->bindings : "");
	for (size_t i = 0; i < n->cfg->ndests; i++)
		sb_printf(&b, "Destination: %s port %u (%s, %s)\n", n->cfg->dests[i].text, n->cfg->port,
			  n->cfg->dests[i].multicast ? "multicast" : "unicast",
			  n->cfg->dests[i].protocol == EVCAST_PROTO_V2 ? "v2" : "legacy");
	for (size_t i = 0; i < n->peers.n; i++) {
		const evc__peer_t *p = &n->peers.v[i];
		uint64_t ago = now > p->last_seen_ms ? (now - p->last_seen_ms) / 1000 : 0;
		char name[256]; /* from the network: one line per peer whatever it holds */
		evcast_escape_text(p->name, name, sizeof(name));
		sb_printf(&b, "Peer %s %s; last seen %llu seconds ago\n", name, p->up ? "UP" : "DOWN",
			  (unsigned long long)ago);
	}
	if (n->peers.n == 0)
		sb_printf(&b, "No multicast peers seen\n");
	if (!b.ok) {
		evc__free(b.s);
		return NULL;
	}
	return b.s;
}

#define STATS_FIELDS(X)                                                                                          \
	X(tx_events) X(tx_bytes) X(tx_errors) X(tx_oversize) X(rx_datagrams) X(rx_bytes) X(rx_events) X(rx_self)    \
	X(rx_errors) X(drop_empty) X(drop_trunc) X(drop_nomagic) X(drop_psk) X(drop_plain) X(drop_parse)            \
	X(drop_nomem) X(drop_oversize) X(drop_consumer_overflow) X(local_events) X(filtered) X(loop_prevented)      \
	X(heartbeats_tx) X(heartbeats_rx) X(peerups) X(peerdowns) X(reloads) X(reload_failures)                    \
	X(fire_depth_exceeded) X(peers_refused) X(rx_legacy_shadow) X(v2_tx_events) X(v2_tx_datagrams)            \
	X(v2_tx_fragments) X(v2_retransmits) X(v2_announces) X(v2_naks_tx) X(v2_naks_rx) X(v2_rx_datagrams)         \
	X(v2_rx_events) X(v2_lost) X(v2_recovered) X(v2_hold_overflow) X(v2_nomem) X(v2_drops_total)            \
	/* peer table and its log lines (issue 13: hostile names) */                                             \
	X(peers_evicted) X(peer_log_suppressed) \
	/* back-pressure to publishers (node_watch.c) */ \
	X(fire_eagain) X(writable_watch_runs) X(writable_watch_refused)                                       \
	/* v2 flow control */                                                                                    \
	X(fc_receivers) X(fc_blocked) X(fc_overdraft) X(fc_dropped) X(fc_left) X(fc_full) X(fc_evicted)            \
	X(status_tx) X(status_rx) X(status_stale) X(fc_rx_holds) X(fc_rx_hold_forced) \
	/* v2 hostile-input bounds */                                                                              \
	X(v2_rx_mem_shed) X(v2_unknown_evicted) X(v2_naks_refused) X(v2_rtx_limited) X(v2_rtx_bytes)               \
	X(v2_naks_limited) X(v2_naks_unproven)

static cJSON *stats_object(const evcast_stats_t *s)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
#define ADD(f)                                                                                                   \
	if (!cJSON_AddNumberToObject(o, #f, (double)s->f)) {                                                     \
		cJSON_Delete(o);                                                                                 \
		return NULL;                                                                                     \
	}
	STATS_FIELDS(ADD)
#undef ADD
	cJSON *drops = cJSON_AddObjectToObject(o, "v2_drops");
	for (int i = 0; drops && evcast_v2_reason_name(i); i++)
		if (!cJSON_AddNumberToObject(drops, evcast_v2_reason_name(i), (double)s->v2_drops[i])) {
			cJSON_Delete(o);
			return NULL;
		}
	return o;
}

/* cJSON allocates with malloc: copy into library memory for evcast_free. */
static char *print_json(cJSON *o)
{
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!s)
		return NULL;
	char *out = evc__strdup(s);
	cJSON_free(s);
	return out;
}

char *evcast_stats_to_json(const evcast_stats_t *s) { return print_json(stats_object(s)); }

const char *evcast_v2_reason_name(int i)
{
	if (i < 0 || i >= EVC_V2_R_COUNT || i >= EVCAST_V2_REASONS)
		return NULL;
	return evc__v2_reason_name(EVC_V2_R_FIRST + i);
}

char *evcast_node_peers_json(const evcast_node_t *n)
{
	uint64_t now = evc__wall_ms();
	cJSON *o = cJSON_CreateObject(), *dests, *peers, *st;
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "state", state_name(n));
	cJSON_AddStringToObject(o, "node", n->cfg->node_name);
	cJSON_AddStringToObject(o, "core_uuid", n->core_uuid);
	char hex[33];
	evc__node_id_hex(n, hex);
	cJSON_AddStringToObject(o, "node_id", hex);
	cJSON_AddStringToObject(o, "protocol", protocol_name(n));
	cJSON_AddStringToObject(o, "security", security_name(n));
	cJSON_AddBoolToObject(o, "encrypted", n->key != NULL || n->kr != NULL);
	cJSON_AddStringToObject(o, "bindings", n->cfg->bindings ? n->cfg->bindings : "");
	cJSON_AddNumberToObject(o, "port", n->cfg->port);
	dests = cJSON_AddArrayToObject(o, "destinations");
	for (size_t i = 0; dests && i < n->cfg->ndests; i++) {
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "address", n->cfg->dests[i].text);
		cJSON_AddNumberToObject(d, "port", n->cfg->port);
		cJSON_AddBoolToObject(d, "multicast", n->cfg->dests[i].multicast);
		cJSON_AddStringToObject(d, "protocol", n->cfg->dests[i].protocol == EVCAST_PROTO_V2 ? "v2" : "legacy");
		cJSON_AddItemToArray(dests, d);
	}
	peers = cJSON_AddArrayToObject(o, "peers");
	for (size_t i = 0; peers && i < n->peers.n; i++) {
		const evc__peer_t *p = &n->peers.v[i];
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "name", p->name);
		cJSON_AddStringToObject(j, "status", p->up ? "UP" : "DOWN");
		cJSON_AddNumberToObject(j, "last_seen", (double)(p->last_seen_ms / 1000));
		cJSON_AddNumberToObject(j, "last_seen_ago", now > p->last_seen_ms ? (double)((now - p->last_seen_ms) / 1000) : 0);
		cJSON_AddStringToObject(j, "address", p->addr);
		cJSON_AddNumberToObject(j, "events_rx", (double)p->events_rx);
		cJSON_AddStringToObject(j, "protocol", p->v2 ? "v2" : "legacy");
		cJSON_AddItemToArray(peers, j);
	}
	evcast_stats_t all;
	evcast_node_stats(n, &all);
	st = stats_object(&all);
	if (st)
		cJSON_AddItemToObject(o, "stats", st);
	return print_json(o);
}
