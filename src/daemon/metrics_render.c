/*
 * metrics_render.c -- the Prometheus text exposition of evcastd's metrics
 * endpoint (metrics.c serves it). Renders, into a buffer bounded by
 * MAX_BODY, build info, every counter of evcast_stats_t as
 * evcast_<field>_total (from evcast_stats_to_json, so a new counter appears
 * without a change here; a per-reason breakdown object K as
 * evcast_K_by_reason_total{reason=...}), per-peer gauges, the NATS link, the
 * Lua consumers (evcast_lua_*: totals, per script, per queue), the control
 * server's queues, the registration store's database (evcast_registrations_*)
 * and the endpoint's own counters. Every label value from the network is
 * escaped (sb_label). Must not: do I/O.
 */
#include "metrics_int.h"
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct sbuf {
	char *p;
	size_t n, cap;
	bool failed;
} sbuf_t;

static void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
	va_list ap;
	for (int tries = 0; tries < 2 && !b->failed; tries++) {
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if (b->p && b->n + (size_t)n < b->cap) {
			b->n += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 8192;
		while (cap <= b->n + (size_t)n)
			cap *= 2;
		char *np = cap > MAX_BODY ? NULL : evc__realloc(b->p, cap);
		if (!np) {
			b->failed = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
}

/* A label value: first made safe text (evcast_escape_text: a peer name comes
 * from the network, and may hold control bytes or bytes that are not UTF-8,
 * which a Prometheus parser rejects), then the text format's own escaping
 * (backslash, quote, newline), so the label reads as the log line does. */
static void sb_label(sbuf_t *b, const char *v)
{
	char tmp[512], safe[256];
	size_t j = 0;
	evcast_escape_text(v ? v : "", safe, sizeof(safe));
	v = safe;
	for (; *v && j + 2 < sizeof(tmp); v++) {
		if (*v == '\\' || *v == '"') {
			tmp[j++] = '\\';
			tmp[j++] = *v;
		} else if (*v == '\n') {
			tmp[j++] = '\\';
			tmp[j++] = 'n';
		} else {
			tmp[j++] = *v;
		}
	}
	tmp[j] = '\0';
	sb_printf(b, "%s", tmp);
}

static const struct {
	const char *field, *help;
} stat_help[] = {
	{"tx_events", "Events sent to the group."},
	{"tx_bytes", "Bytes sent to the group."},
	{"tx_errors", "Events that could not be sent."},
	{"rx_datagrams", "Datagrams received."},
	{"rx_bytes", "Bytes received."},
	{"rx_events", "Events received from peers and delivered."},
	{"rx_self", "Own datagrams looped back and ignored."},
	{"rx_errors", "Receive errors."},
	{"drop_empty", "Datagrams dropped: zero length."},
	{"drop_trunc", "Datagrams dropped: truncated."},
	{"drop_nomagic", "Datagrams dropped: no MAGIC (not a legacy datagram, or encrypted while no PSK is set)."},
	{"drop_psk", "Datagrams dropped: PSK decryption failed."},
	{"drop_plain", "Datagrams dropped: plaintext while a PSK is set."},
	{"drop_parse", "Datagrams dropped: malformed event text."},
	{"drop_nomem", "Datagrams dropped: out of memory."},
	{"drop_oversize", "Datagrams dropped: larger than the receive buffer."},
	{"drop_consumer_overflow", "Events dropped: a consumer queue was full."},
	{"local_events", "Events fired locally."},
	{"filtered", "Local events not selected by the bindings."},
	{"loop_prevented", "multicast::* events not re-sent (loop prevention)."},
	{"heartbeats_tx", "HEARTBEAT events sent."},
	{"heartbeats_rx", "HEARTBEAT events received."},
	{"peerups", "Peers that came up."},
	{"peerdowns", "Peers that went down."},
	{"reloads", "Configuration reloads applied."},
	{"reload_failures", "Configuration reloads rejected."},
	{"tx_oversize", "Local events too large for one legacy datagram."},
	{"fire_depth_exceeded", "Events fired from consumers nested too deep."},
	{"peers_refused", "Peers not tracked because the table is full."},
	{"rx_legacy_shadow", "Legacy copies of events a v2 peer also sent (not delivered twice)."},
	{"v2_tx_events", "Events sent with protocol v2."},
	{"v2_tx_datagrams", "v2 datagrams sent."},
	{"v2_tx_fragments", "v2 fragments sent."},
	{"v2_retransmits", "v2 datagrams retransmitted after a NAK."},
	{"v2_announces", "v2 ANNOUNCE datagrams sent."},
	{"v2_naks_tx", "v2 NAKs sent."},
	{"v2_naks_rx", "v2 NAKs received."},
	{"v2_rx_datagrams", "v2 datagrams received."},
	{"v2_rx_events", "Events received with protocol v2."},
	{"v2_lost", "v2 datagrams given up as lost."},
	{"v2_recovered", "v2 datagrams recovered by retransmission."},
	{"v2_hold_overflow", "v2 receive hold queue overflows."},
	{"v2_nomem", "v2 operations failed for lack of memory."},
	{"v2_drops_total", "v2 datagrams rejected, all reasons."},
	{"v2_drops", "v2 datagrams rejected, per reason."},
	/* peer table and its log lines (issue 13: hostile names) */
	{"peers_evicted", "DOWN peers removed from the full peer table to make room for a new name."},
	{"peer_log_suppressed", "Peer UP/DOWN log lines not written (rate limit)."},
	/* back-pressure to publishers (node_watch.c) */
	{"fire_eagain", "Events a publisher offered while the node was not writable (EVCAST_EAGAIN; it kept them)."},
	{"writable_watch_runs", "Writable watchers run (publishers resumed)."},
	{"writable_watch_refused", "Writable watchers refused: too many armed at once."},
	/* v2 flow control (docs/PROTOCOL.md 14) */
	{"fc_receivers", "Receivers in this sender's v2 flow-control set now."},
	{"fc_blocked", "Times the v2 window toward the slowest receiver ran out (the node stopped being writable)."},
	{"fc_overdraft", "v2 datagrams sent past the flow-control window (events fired while not writable)."},
	{"fc_dropped", "Receivers dropped from v2 flow control for max-lag."},
	{"fc_left", "Receivers that left the v2 flow-control set after peer-timeout of silence."},
	{"fc_full", "v2 STATUS messages refused because the flow-control set was full."},
	{"fc_evicted", "Unconfirmed v2 datagrams evicted from a full retransmit ring."},
	{"status_tx", "v2 STATUS messages sent to senders."},
	{"status_rx", "v2 STATUS messages received from receivers."},
	{"status_stale", "v2 STATUS messages for another node or an older epoch of this one."},
	{"fc_rx_holds", "Times a local consumer held v2 delivery (a client queue past its high mark)."},
	{"fc_rx_hold_forced", "Held v2 datagrams delivered anyway because the hold-back was full."},
	/* v2 hostile-input bounds (nrx) */
	{"v2_rx_mem_shed", "v2 held datagrams given up because the receive-memory bound was hit (least trusted first)."},
	{"v2_unknown_evicted", "v2 state of unknown senders dropped to admit another (max-unknown-senders)."},
	{"v2_naks_refused", "v2 NAKs not answered: the requester was not heard in a HEARTBEAT or authenticated at that address."},
	{"v2_rtx_limited", "v2 retransmissions withheld by a retransmit budget (per requester or total)."},
	{"v2_rtx_bytes", "v2 bytes retransmitted after NAKs."},
	{"v2_naks_limited", "v2 times a due NAK was held back: the destination address is over nak-rate."},
	{"v2_naks_unproven", "v2 NAKs not sent: the sender showed nothing but a gap."},
};

/* Stats fields that are levels, not counts: a gauge without _total. */
static bool is_gauge(const char *field) { return !strcmp(field, "fc_receivers"); }

static const char *help_for(const char *field)
{
	for (size_t i = 0; i < EVC_ARRAY_SIZE(stat_help); i++)
		if (!strcmp(stat_help[i].field, field))
			return stat_help[i].help;
	return "evcast node counter.";
}

static void on_peer(void *ud, const evcast_peer_info_t *p)
{
	sbuf_t *b = ud;
	sb_printf(b, "evcast_peer_up{peer=\"");
	sb_label(b, p->name);
	sb_printf(b, "\",addr=\"");
	sb_label(b, p->addr);
	sb_printf(b, "\"} %d\n", p->up ? 1 : 0);
	sb_printf(b, "evcast_peer_last_seen_seconds{peer=\"");
	sb_label(b, p->name);
	sb_printf(b, "\"} %.3f\n", (double)p->last_seen_ms / 1000.0);
	sb_printf(b, "evcast_peer_events_received_total{peer=\"");
	sb_label(b, p->name);
	sb_printf(b, "\"} %llu\n", (unsigned long long)p->events_rx);
}

static void count_peer(void *ud, const evcast_peer_info_t *p)
{
	size_t *n = ud;
	n[p->up ? 0 : 1]++;
}

/* ---- Lua consumers (lua.c's evcd_lua_json): module totals, per script, per queue */

typedef struct lua_family {
	const char *key, *name, *type, *help;
} lua_family_t;

static const lua_family_t lua_totals[] = {
	{"scripts", "evcast_lua_scripts", "gauge", "Lua startup scripts configured."},
	{"running", "evcast_lua_scripts_running", "gauge", "Lua scripts whose thread runs now."},
	{"consumers", "evcast_lua_consumers", "gauge", "Lua EventConsumers open now."},
	{"events_queued", "evcast_lua_events_queued", "gauge", "Events waiting in Lua consumer queues."},
	{"restarts", "evcast_lua_restarts_total", "counter", "Lua script failures (each followed by a restart)."},
	{"events_delivered", "evcast_lua_events_delivered_total", "counter", "Events queued to Lua consumers."},
	{"events_dropped", "evcast_lua_events_dropped_total", "counter",
	 "Events dropped because a Lua consumer queue was full."},
	{"fired", "evcast_lua_fired_total", "counter", "Events fired by Lua scripts."},
	{"fires_dropped", "evcast_lua_fires_dropped_total", "counter",
	 "Events Lua scripts fired that were dropped (request queue full)."},
	{"api_calls", "evcast_lua_api_calls_total", "counter", "api commands run by Lua scripts."},
	/* sandbox and CPU limit (issue 13) */
	{"cpu_limited", "evcast_lua_cpu_limited_total", "counter",
	 "Lua script runs ended by cpu-limit-ms (CPU used without waiting for the daemon)."},
	{"cpu_limit_ms", "evcast_lua_cpu_limit_ms", "gauge", "The cpu-limit-ms in force (0: no limit)."},
};
static const lua_family_t lua_per_script[] = {
	{"running", "evcast_lua_script_running", "gauge", "1 while the Lua script's thread runs."},
	{"runs", "evcast_lua_script_runs_total", "counter", "Runs of the Lua script (first start and restarts)."},
	{"failures", "evcast_lua_script_failures_total", "counter", "Errors that ended a run of the Lua script."},
	{"events_delivered", "evcast_lua_script_events_delivered_total", "counter",
	 "Events queued to the Lua script's consumers."},
	{"events_dropped", "evcast_lua_script_events_dropped_total", "counter",
	 "Events dropped because one of the Lua script's consumer queues was full."},
	/* sandbox and CPU limit (issue 13) */
	{"cpu_limited", "evcast_lua_script_cpu_limited_total", "counter",
	 "Runs of the Lua script ended by cpu-limit-ms."},
	{"sandbox", "evcast_lua_script_sandboxed", "gauge", "1 when the Lua script runs in the sandbox."},
};
static const lua_family_t lua_per_queue[] = {
	{"queued", "evcast_lua_queue_events", "gauge", "Events waiting in the Lua consumer's queue."},
	{"capacity", "evcast_lua_queue_capacity", "gauge", "Size of the Lua consumer's queue."},
	{"delivered", "evcast_lua_queue_delivered_total", "counter", "Events queued to the Lua consumer."},
	{"dropped", "evcast_lua_queue_dropped_total", "counter", "Events dropped because the queue was full."},
};

static double json_num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : cJSON_IsTrue(v) ? 1.0 : 0.0;
}

static const char *json_str(const cJSON *o, const char *key)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
	return v ? v : "";
}

static void lua_family_head(sbuf_t *b, const lua_family_t *f)
{
	sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
}

static void lua_metrics(evcd_t *d, sbuf_t *b)
{
	char *json = evcd_lua_json(d);
	cJSON *o = json ? cJSON_Parse(json) : NULL, *it;
	evcast_free(json);
	if (!o)
		return;
	const cJSON *scripts = cJSON_GetObjectItemCaseSensitive(o, "per_script");
	const cJSON *queues = cJSON_GetObjectItemCaseSensitive(o, "queues");
	for (size_t i = 0; i < EVC_ARRAY_SIZE(lua_totals); i++) {
		lua_family_head(b, &lua_totals[i]);
		sb_printf(b, "%s %.0f\n", lua_totals[i].name, json_num(o, lua_totals[i].key));
	}
	for (size_t i = 0; cJSON_GetArraySize(scripts) > 0 && i < EVC_ARRAY_SIZE(lua_per_script); i++) {
		lua_family_head(b, &lua_per_script[i]);
		cJSON_ArrayForEach(it, scripts) {
			sb_printf(b, "%s{script=\"", lua_per_script[i].name);
			sb_label(b, json_str(it, "script"));
			sb_printf(b, "\",index=\"%.0f\"} %.0f\n", json_num(it, "index"), json_num(it, lua_per_script[i].key));
		}
	}
	for (size_t i = 0; cJSON_GetArraySize(queues) > 0 && i < EVC_ARRAY_SIZE(lua_per_queue); i++) {
		lua_family_head(b, &lua_per_queue[i]);
		cJSON_ArrayForEach(it, queues) {
			sb_printf(b, "%s{script=\"", lua_per_queue[i].name);
			sb_label(b, json_str(it, "script"));
			sb_printf(b, "\",consumer=\"");
			sb_label(b, json_str(it, "consumer"));
			sb_printf(b, "\",id=\"%.0f\"} %.0f\n", json_num(it, "id"), json_num(it, lua_per_queue[i].key));
		}
	}
	cJSON_Delete(o);
}

/* ---- registration store (store): its database's state and faults (evcd_reg_store_json) */

/* the same shape as the Lua families: JSON key, metric name, type, help */
static const lua_family_t store_families[] = {
	{"live", "evcast_registrations_live", "gauge", "Live registrations in the store."},
	{"tombstones", "evcast_registrations_tombstones", "gauge", "Tombstones (unregistered, expired) kept in the store."},
	{"db_pending", "evcast_registrations_db_pending", "gauge", "Changes queued for the registration database."},
	{"db_errors", "evcast_registrations_db_errors_total", "counter",
	 "Failed writes to the registration database (disk full, unwritable, I/O error); the changes stay queued."},
	{"db_dropped", "evcast_registrations_db_dropped_total", "counter",
	 "Changes not queued for the database because the queue was full (every entry is written again once "
	 "writes succeed)."},
	{"db_quarantined", "evcast_registrations_db_quarantined_total", "counter",
	 "Registration database files moved aside as corrupt, not a database, or of a foreign schema."},
	{"db_fallbacks", "evcast_registrations_db_fallbacks_total", "counter",
	 "Times the registration store ran in memory only because its database could not be used."},
};

static void store_metrics(evcd_t *d, sbuf_t *b)
{
	char *json = evcd_reg_store_json(d);
	cJSON *o = json ? cJSON_Parse(json) : NULL;
	evc__free(json);
	if (!o)
		return;
	for (size_t i = 0; i < EVC_ARRAY_SIZE(store_families); i++) {
		lua_family_head(b, &store_families[i]);
		sb_printf(b, "%s %.0f\n", store_families[i].name, json_num(o, store_families[i].key));
	}
	sb_printf(b, "# HELP evcast_registrations_db_open 1 while the registration database is open; 0 when the "
		     "store runs in memory only.\n# TYPE evcast_registrations_db_open gauge\n"
		     "evcast_registrations_db_open %d\n",
		  !strcmp(json_str(o, "db_state"), "open"));
	cJSON_Delete(o);
}

char *evcd_metrics_render(struct evcd_metrics *m, size_t *len)
{
	evcd_t *d = m->d;
	sbuf_t b = {0};
	evcast_stats_t st;
	evcd_control_stats_t cs;
	size_t npeers[2] = {0, 0};

	sb_printf(&b, "# HELP evcast_build_info evcast build information.\n# TYPE evcast_build_info gauge\n");
	sb_printf(&b, "evcast_build_info{version=\"%s\",node=\"", EVCAST_VERSION);
	sb_label(&b, d->node ? evcast_node_name(d->node) : "");
	sb_printf(&b, "\"} 1\n");
	sb_printf(&b, "# HELP evcast_start_time_seconds When evcastd started, seconds since the epoch.\n"
		      "# TYPE evcast_start_time_seconds gauge\nevcast_start_time_seconds %.3f\n",
		  (double)d->start_ms / 1000.0);
	if (d->node) {
		evcast_node_stats(d->node, &st);
		char *json = evcast_stats_to_json(&st);
		cJSON *o = json ? cJSON_Parse(json) : NULL;
		evcast_free(json);
		if (!o)
			b.failed = true;
		for (cJSON *it = o ? o->child : NULL; it; it = it->next) {
			if (!it->string)
				continue;
			if (cJSON_IsNumber(it) && is_gauge(it->string)) {
				sb_printf(&b, "# HELP evcast_%s %s\n# TYPE evcast_%s gauge\nevcast_%s %.0f\n", it->string,
					  help_for(it->string), it->string, it->string, it->valuedouble);
			} else if (cJSON_IsNumber(it)) {
				/* evcast_<field>_total; a field already ending in _total keeps one */
				size_t nl = strlen(it->string);
				int base = (int)(nl > 6 && !strcmp(it->string + nl - 6, "_total") ? nl - 6 : nl);
				sb_printf(&b, "# HELP evcast_%.*s_total %s\n# TYPE evcast_%.*s_total counter\n"
					      "evcast_%.*s_total %.0f\n",
					  base, it->string, help_for(it->string), base, it->string, base, it->string,
					  it->valuedouble);
			} else if (cJSON_IsObject(it)) {
				/* a breakdown ({"v2_drops": {"auth": N, ...}}): one family, label reason */
				sb_printf(&b, "# HELP evcast_%s_by_reason_total %s\n# TYPE evcast_%s_by_reason_total counter\n",
					  it->string, help_for(it->string), it->string);
				for (cJSON *r = it->child; r; r = r->next) {
					if (!cJSON_IsNumber(r) || !r->string)
						continue;
					sb_printf(&b, "evcast_%s_by_reason_total{reason=\"", it->string);
					sb_label(&b, r->string);
					sb_printf(&b, "\"} %.0f\n", r->valuedouble);
				}
			}
		}
		cJSON_Delete(o);
		evcast_node_peers(d->node, count_peer, npeers);
		sb_printf(&b, "# HELP evcast_peers Known peers by state.\n# TYPE evcast_peers gauge\n"
			      "evcast_peers{state=\"up\"} %zu\nevcast_peers{state=\"down\"} %zu\n",
			  npeers[0], npeers[1]);
		sb_printf(&b, "# HELP evcast_peer_up 1 when the peer is up (HEARTBEAT within peer-timeout).\n"
			      "# TYPE evcast_peer_up gauge\n"
			      "# HELP evcast_peer_last_seen_seconds Last HEARTBEAT from the peer, seconds since the epoch.\n"
			      "# TYPE evcast_peer_last_seen_seconds gauge\n"
			      "# HELP evcast_peer_events_received_total Events received from the peer.\n"
			      "# TYPE evcast_peer_events_received_total counter\n");
		evcast_node_peers(d->node, on_peer, &b);
		/* how late events from peers arrive (rxdelay.h): a summary */
		const evcd_rxdelay_t *rx = &d->rxdelay;
		sb_printf(&b, "# HELP evcast_rx_delay_seconds How late events from peers reach this daemon's consumers "
			      "(this host's clock minus the sender's Event-Date-Timestamp; includes the clocks' offset).\n"
			      "# TYPE evcast_rx_delay_seconds summary\n");
		static const double qs[] = {0.5, 0.9, 0.99};
		for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
			sb_printf(&b, "evcast_rx_delay_seconds{quantile=\"%g\"} %.6f\n", qs[i],
				  (double)evcd_rxdelay_quantile(rx, qs[i]) / 1e6);
		sb_printf(&b, "evcast_rx_delay_seconds_sum %.6f\nevcast_rx_delay_seconds_count %llu\n",
			  (double)rx->sum_us / 1e6, (unsigned long long)(rx->samples - rx->negative));
		sb_printf(&b, "# HELP evcast_rx_delay_future_total Events stamped in this host's future (clocks "
			      "apart).\n# TYPE evcast_rx_delay_future_total counter\nevcast_rx_delay_future_total %llu\n",
			  (unsigned long long)rx->negative);
	}
	if (d->nats) { /* the NATS link (nats.c, docs/MULTISITE.md) */
		char *json = evcd_nats_json(d);
		cJSON *o = json ? cJSON_Parse(json) : NULL;
		evcast_free(json);
		for (cJSON *it = o ? o->child : NULL; it; it = it->next) {
			if (cJSON_IsBool(it) && !strcmp(it->string, "connected"))
				sb_printf(&b, "# HELP evcast_nats_connected 1 when connected to a NATS server.\n"
					      "# TYPE evcast_nats_connected gauge\nevcast_nats_connected %d\n",
					  cJSON_IsTrue(it) ? 1 : 0);
			else if (cJSON_IsNumber(it) && strcmp(it->string, "origins") != 0)
				sb_printf(&b, "# HELP evcast_nats_%s_total NATS link counter (docs/MULTISITE.md).\n"
					      "# TYPE evcast_nats_%s_total counter\nevcast_nats_%s_total %.0f\n",
					  it->string, it->string, it->string, it->valuedouble);
			else if (cJSON_IsObject(it) && !strcmp(it->string, "rejects")) { /* per reason (relay_seal.h) */
				sb_printf(&b, "# HELP evcast_nats_rejected_by_reason_total NATS payloads rejected, per "
					      "reason.\n# TYPE evcast_nats_rejected_by_reason_total counter\n");
				for (cJSON *r = it->child; r; r = r->next)
					if (cJSON_IsNumber(r) && r->string) {
						sb_printf(&b, "evcast_nats_rejected_by_reason_total{reason=\"");
						sb_label(&b, r->string);
						sb_printf(&b, "\"} %.0f\n", r->valuedouble);
					}
			}
		}
		cJSON_Delete(o);
	}
	if (d->lua) /* Lua consumers (lua.c, docs/LUA.md) */
		lua_metrics(d, &b);
	if (d->reg) /* the registration store's database (registrations.c, docs/REGISTRATIONS.md) */
		store_metrics(d, &b);
	/* back-pressure: each publisher's waits for a writable node (pubwait.h) */
	sb_printf(&b, "# HELP evcast_publish_waits_total Times a publisher found the node not writable and waited.\n"
		      "# TYPE evcast_publish_waits_total counter\n");
	for (int i = 0; i < EVCD_PUB_N; i++)
		sb_printf(&b, "evcast_publish_waits_total{publisher=\"%s\"} %llu\n", evcd_pub_names[i],
			  (unsigned long long)d->pubwait[i].waits);
	sb_printf(&b, "# HELP evcast_publish_waiting Publishers (connections, queues) waiting for the node now.\n"
		      "# TYPE evcast_publish_waiting gauge\n");
	for (int i = 0; i < EVCD_PUB_N; i++)
		sb_printf(&b, "evcast_publish_waiting{publisher=\"%s\"} %llu\n", evcd_pub_names[i],
			  (unsigned long long)d->pubwait[i].waiting);
	sb_printf(&b, "# HELP evcast_publish_wait_seconds_total Time publishers spent waiting for the node.\n"
		      "# TYPE evcast_publish_wait_seconds_total counter\n");
	for (int i = 0; i < EVCD_PUB_N; i++)
		sb_printf(&b, "evcast_publish_wait_seconds_total{publisher=\"%s\"} %.6f\n", evcd_pub_names[i],
			  (double)d->pubwait[i].wait_us / 1e6);
	evcd_control_stats(d, &cs);
	sb_printf(&b,
		  "# HELP evcast_control_connections Control/event-socket connections open now.\n"
		  "# TYPE evcast_control_connections gauge\nevcast_control_connections %llu\n"
		  "# HELP evcast_control_accepted_total Control connections accepted.\n"
		  "# TYPE evcast_control_accepted_total counter\nevcast_control_accepted_total %llu\n"
		  "# HELP evcast_control_refused_total Control connections refused over the limit.\n"
		  "# TYPE evcast_control_refused_total counter\nevcast_control_refused_total %llu\n"
		  "# HELP evcast_control_commands_total Control commands handled.\n"
		  "# TYPE evcast_control_commands_total counter\nevcast_control_commands_total %llu\n"
		  "# HELP evcast_control_events_queued_total Events queued to control clients.\n"
		  "# TYPE evcast_control_events_queued_total counter\nevcast_control_events_queued_total %llu\n"
		  "# HELP evcast_control_events_dropped_total Oldest events dropped from full client queues.\n"
		  "# TYPE evcast_control_events_dropped_total counter\nevcast_control_events_dropped_total %llu\n"
		  "# HELP evcast_control_protocol_errors_total Control connections closed on a framing error.\n"
		  "# TYPE evcast_control_protocol_errors_total counter\nevcast_control_protocol_errors_total %llu\n",
		  (unsigned long long)cs.connections, (unsigned long long)cs.accepted, (unsigned long long)cs.refused,
		  (unsigned long long)cs.commands, (unsigned long long)cs.events_queued,
		  (unsigned long long)cs.events_dropped, (unsigned long long)cs.protocol_errors);
	/* esl: pre-auth limits and auth failures (issue 13; control_auth.c) */
	sb_printf(&b,
		  "# HELP evcast_control_unauthenticated Event-socket TCP connections open now that have not authenticated.\n"
		  "# TYPE evcast_control_unauthenticated gauge\nevcast_control_unauthenticated %llu\n"
		  "# HELP evcast_control_preauth_evicted_total Unauthenticated connections closed to make room for a newer "
		  "one (max-unauthenticated, max-unauthenticated-per-address).\n"
		  "# TYPE evcast_control_preauth_evicted_total counter\nevcast_control_preauth_evicted_total %llu\n"
		  "# HELP evcast_control_auth_failures_total Wrong passwords on the event socket.\n"
		  "# TYPE evcast_control_auth_failures_total counter\nevcast_control_auth_failures_total %llu\n"
		  "# HELP evcast_control_auth_delayed_total Auth answers held back by the per-address failure delay.\n"
		  "# TYPE evcast_control_auth_delayed_total counter\nevcast_control_auth_delayed_total %llu\n"
		  "# HELP evcast_control_auth_timeouts_total Connections closed for not authenticating within auth-timeout.\n"
		  "# TYPE evcast_control_auth_timeouts_total counter\nevcast_control_auth_timeouts_total %llu\n"
		  "# HELP evcast_control_acl_rejected_total Connections refused by apply-inbound-acl before auth.\n"
		  "# TYPE evcast_control_acl_rejected_total counter\nevcast_control_acl_rejected_total %llu\n"
		  "# HELP evcast_control_auth_log_suppressed_total Auth-failure and eviction log lines left out by the "
		  "rate limit.\n"
		  "# TYPE evcast_control_auth_log_suppressed_total counter\nevcast_control_auth_log_suppressed_total %llu\n"
		  "# HELP evcast_control_auth_addresses_evicted_total Addresses forgotten (with their failures) because "
		  "the failure table was full.\n"
		  "# TYPE evcast_control_auth_addresses_evicted_total counter\n"
		  "evcast_control_auth_addresses_evicted_total %llu\n",
		  (unsigned long long)cs.unauthenticated, (unsigned long long)cs.preauth_evicted,
		  (unsigned long long)cs.auth_failures, (unsigned long long)cs.auth_delayed,
		  (unsigned long long)cs.auth_timeouts, (unsigned long long)cs.acl_rejected,
		  (unsigned long long)cs.auth_log_suppressed, (unsigned long long)cs.auth_addresses_evicted);
	sb_printf(&b,
		  "# HELP evcast_config_errors_total Reloads refused: the file could not be read or a block was "
		  "invalid (nothing applied; the reasons are logged with file:line).\n"
		  "# TYPE evcast_config_errors_total counter\nevcast_config_errors_total %llu\n",
		  (unsigned long long)d->config_errors);
	sb_printf(&b,
		  "# HELP evcast_metrics_requests_total HTTP requests answered by this endpoint.\n"
		  "# TYPE evcast_metrics_requests_total counter\nevcast_metrics_requests_total %llu\n"
		  "# HELP evcast_metrics_refused_total Connections refused: over the limit, or out of memory.\n"
		  "# TYPE evcast_metrics_refused_total counter\nevcast_metrics_refused_total %llu\n"
		  "# HELP evcast_metrics_bad_requests_total Requests answered with a 4xx status.\n"
		  "# TYPE evcast_metrics_bad_requests_total counter\nevcast_metrics_bad_requests_total %llu\n",
		  (unsigned long long)m->requests, (unsigned long long)m->refused, (unsigned long long)m->bad_requests);
	if (b.failed) {
		evc__free(b.p);
		return NULL;
	}
	*len = b.n;
	return b.p;
}
