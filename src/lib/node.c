/*
 * node.c -- the running bus: one node on a libuv loop.
 *
 * Owns the node's configuration copy, bindings, legacy key, UDP transport,
 * heartbeat and peer-sweep timers, the peer table and the local consumers.
 * Data flows one way: datagram -> legacy decode -> peer accounting ->
 * multicast::event -> local consumers; and local event -> standard headers ->
 * consumers -> bindings -> encode -> UDP. It never re-sends what it received
 * (loop prevention), never blocks, and never frees a handle whose callback may
 * still run (close is asynchronous). Reports (peers text/JSON, stats JSON) live
 * in node_report.c. Sections: standard headers, dispatch, fire, receive,
 * timers, lifecycle (new/start/reload/close), accessors.
 */
#include "node_internal.h"
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define NODE_MAX_PEERS 4096
#define NODE_MAX_FIRE_DEPTH 8
#define NODE_TXBUF (EVCAST_LEGACY_MAX_DGRAM + 1024)

/* ------------------------------------------------------- standard headers */

static void local_addresses(evcast_node_t *n)
{
	struct ifaddrs *ifs, *i;
	snprintf(n->ipv4, sizeof(n->ipv4), "127.0.0.1");
	snprintf(n->ipv6, sizeof(n->ipv6), "::1");
	if (getifaddrs(&ifs) != 0)
		return;
	bool have4 = false, have6 = false;
	for (i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
			continue;
		if (i->ifa_addr->sa_family == AF_INET && !have4) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, n->ipv4, sizeof(n->ipv4));
			have4 = true;
		} else if (i->ifa_addr->sa_family == AF_INET6 && !have6) {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)i->ifa_addr;
			if (IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr))
				continue;
			inet_ntop(AF_INET6, &s6->sin6_addr, n->ipv6, sizeof(n->ipv6));
			have6 = true;
		}
	}
	freeifaddrs(ifs);
}

#define ADD_CONST(ev, name, v, nv) evc__event_add_trusted(ev, name, sizeof(name) - 1, v, nv)

/* The standard headers, in their order, after a received event's wrapper
 * (headers 0-2 of the template); Event-Date-Timestamp (7) holds the
 * template's second followed by 6 digits (the microseconds, set per event in
 * place; a 20-digit placeholder at second 0) and Event-Sequence (11) a
 * 20-digit placeholder, set per event in place. */
#define STD_TS 7
#define STD_SEQ 11
#define STD_N 12
#define STD_WRAP 3 /* the template's first headers: a received event's wrapper */
static evcast_event_t *std_template(const evcast_node_t *n)
{
	static const char zeros[] = "00000000000000000000"; /* room for any uint64_t */
	char ts[32];
	size_t nts = sizeof(zeros) - 1;
	memcpy(ts, zeros, sizeof(zeros));
	if (n->date_secs > 0)
		nts = (size_t)snprintf(ts, sizeof(ts), "%llu000000", (unsigned long long)n->date_secs);
	/* behind a received event's wrapper: its strings lie where a received
	 * event places them (evc__event_new_received_tpl) */
	evcast_event_t *t = evc__event_new_received(0, NULL);
	if (!t)
		return NULL;
	int r = 0;
	r |= ADD_CONST(t, "Core-UUID", n->core_uuid, 36);
	r |= ADD_CONST(t, "FreeSWITCH-Hostname", n->hostname, strlen(n->hostname));
	r |= ADD_CONST(t, "FreeSWITCH-Switchname", n->cfg->node_name, strlen(n->cfg->node_name));
	r |= ADD_CONST(t, "FreeSWITCH-IPv4", n->ipv4, strlen(n->ipv4));
	r |= ADD_CONST(t, "FreeSWITCH-IPv6", n->ipv6, strlen(n->ipv6));
	r |= ADD_CONST(t, "Event-Date-Local", n->date_local, n->date_local_len);
	r |= ADD_CONST(t, "Event-Date-GMT", n->date_gmt, n->date_gmt_len);
	r |= ADD_CONST(t, "Event-Date-Timestamp", ts, nts);
	r |= ADD_CONST(t, "Event-Calling-File", "node.c", 6);
	r |= ADD_CONST(t, "Event-Calling-Function", "evcast_node_fire", 16);
	r |= ADD_CONST(t, "Event-Calling-Line-Number", "0", 1);
	r |= ADD_CONST(t, "Event-Sequence", zeros, sizeof(zeros) - 1);
	if (r || evcast_event_header_count(t) != STD_WRAP + STD_N) {
		evcast_event_free(t);
		return NULL;
	}
	return t;
}

/* The Event-Date-Local/GMT texts change once a second: formatted then, and
 * reused (strftime and the time zone cost more than the rest of an event),
 * with the template of the standard headers (also rebuilt after a reload,
 * which drops it). Returns the template, or NULL (no memory). */
static const evcast_event_t *refresh_dates(evcast_node_t *n, time_t secs)
{
	struct tm tm;
	if (secs == n->date_secs && n->std_tpl)
		return n->std_tpl;
	n->date_secs = secs;
	localtime_r(&secs, &tm);
	n->date_local_len = strftime(n->date_local, sizeof(n->date_local), "%Y-%m-%d %H:%M:%S", &tm);
	gmtime_r(&secs, &tm);
	n->date_gmt_len = strftime(n->date_gmt, sizeof(n->date_gmt), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	evcast_event_free(n->std_tpl);
	n->std_tpl = std_template(n);
	n->std_gen++; /* received events' storage holds the previous template's strings */
	return n->std_tpl;
}

/* FreeSWITCH's switch_event_prep_for_delivery: appended, once, at fire time:
 * the template copied (a received event holds its strings already, placed
 * when its storage was set up: then only the header entries), then its two
 * numbers set (of the timestamp only the microseconds: the template holds
 * its second). */
static int add_std_headers(evcast_node_t *n, evcast_event_t *ev)
{
	uint64_t us = evc__wall_us(), secs = us / 1000000u;
	const evcast_event_t *t = refresh_dates(n, (time_t)secs);
	size_t base = evcast_event_header_count(ev);
	if (!t || (evc__event_append_placed(ev, t, n->std_gen) != 0 && evc__event_append_range(ev, t, STD_WRAP, STD_N) != 0) ||
	    (secs > 0 ? evc__event_set_tail_digits(ev, base + STD_TS, (uint32_t)(us - secs * 1000000u), 6)
		      : evc__event_set_u64_at(ev, base + STD_TS, us)) != 0 ||
	    evc__event_set_u64_at(ev, base + STD_SEQ, ++n->sequence) != 0)
		return EVCAST_ENOMEM;
	return 0;
}

/* --------------------------------------------------------------- dispatch */

static void dispatch(evcast_node_t *n, const evcast_event_t *ev)
{
	n->dispatch_depth++;
	for (size_t i = 0; i < n->nconsumers; i++)
		if (n->consumers[i].cb)
			n->consumers[i].cb(n->consumers[i].ud, ev);
	if (--n->dispatch_depth == 0 && n->consumers_dirty) {
		size_t j = 0;
		for (size_t i = 0; i < n->nconsumers; i++)
			if (n->consumers[i].cb)
				n->consumers[j++] = n->consumers[i];
		n->nconsumers = j;
		n->consumers_dirty = false;
	}
}

int evcast_node_subscribe(evcast_node_t *n, evcast_consumer_cb cb, void *ud)
{
	if (!cb)
		return EVCAST_EINVAL;
	if (n->nconsumers == n->cconsumers) {
		size_t cap = n->cconsumers ? n->cconsumers * 2 : 8;
		evc__consumer_t *v = evc__realloc(n->consumers, cap * sizeof(*v));
		if (!v)
			return EVCAST_ENOMEM;
		n->consumers = v;
		n->cconsumers = cap;
	}
	int id = ++n->next_consumer_id;
	n->consumers[n->nconsumers++] = (evc__consumer_t){id, cb, ud};
	return id;
}

void evcast_node_unsubscribe(evcast_node_t *n, int id)
{
	for (size_t i = 0; i < n->nconsumers; i++) {
		if (n->consumers[i].id != id)
			continue;
		if (n->dispatch_depth > 0) { /* compacted when dispatch unwinds */
			n->consumers[i].cb = NULL;
			n->consumers_dirty = true;
		} else {
			memmove(&n->consumers[i], &n->consumers[i + 1], (n->nconsumers - i - 1) * sizeof(*n->consumers));
			n->nconsumers--;
		}
		return;
	}
}

/* ------------------------------------------------------------------- fire */

/* Loop prevention and bindings: may this local event go to the group? */
static bool should_send(evcast_node_t *n, const evcast_event_t *ev)
{
	const char *name = evcast_event_name(ev);
	if (!name || strcasecmp(name, "LOG") == 0) {
		n->stats.filtered++;
		return false;
	}
	if (strcasecmp(name, "CUSTOM") == 0) {
		const char *sub = evcast_event_subclass(ev);
		if (sub && strncmp(sub, "multicast::", 11) == 0) {
			n->stats.loop_prevented++;
			return false;
		}
	}
	if (!n->bindings || !evcast_bindings_match(n->bindings, ev)) {
		n->stats.filtered++;
		return false;
	}
	return true;
}

static void send_event(evcast_node_t *n, evcast_event_t *ev)
{
	if (n->ep && evc__node_v2_sends(n, EVCAST_PROTO_V2))
		evc__node_v2_send(n, ev); /* v2 derives the sender from its header */
	if (!evc__node_v2_sends(n, EVCAST_PROTO_LEGACY))
		return;
	if (evcast_event_set_header(ev, "Multicast-Sender", n->cfg->node_name) != 0) {
		n->stats.tx_errors++;
		return;
	}
	int len = evcast_legacy_encode(ev, n->key, NULL, n->txbuf, NODE_TXBUF);
	if (len < 0 || len > EVCAST_LEGACY_MAX_DGRAM) {
		n->stats.tx_oversize++;
		if (evc__ratelimit_allow(&n->rl_tx, evc__wall_ms()))
			evc__log(&n->lg, EVCAST_LOG_WARNING,
				 "event %s not sent: it does not fit one legacy datagram (%s)",
				 evcast_event_name(ev), len < 0 ? evcast_strerror(len) : "over 65507 bytes");
		return;
	}
	if (evc__udp_send(n->udp, n->txbuf, (size_t)len, EVCAST_PROTO_LEGACY) > 0) {
		n->stats.tx_events++;
		n->stats.tx_bytes += (uint64_t)len;
	}
}

/* received: the node built ev from a datagram (no standard headers yet, so no
 * lookup; and a multicast::event, so never sent back). */
static int node_fire(evcast_node_t *n, evcast_event_t *ev, bool received)
{
	if (!ev)
		return EVCAST_EINVAL;
	if (!received && !evcast_event_name(ev)) { /* a received one is a named wrapper */
		evcast_event_free(ev);
		return EVCAST_EINVAL;
	}
	if (n->state == EVC__NODE_CLOSING || n->fire_depth >= NODE_MAX_FIRE_DEPTH) {
		if (n->fire_depth >= NODE_MAX_FIRE_DEPTH)
			n->stats.fire_depth_exceeded++;
		evcast_event_free(ev);
		return EVCAST_ESTATE;
	}
	if ((received || !evcast_event_get_header(ev, "Core-UUID")) && add_std_headers(n, ev) != 0) {
		evcast_event_free(ev);
		return EVCAST_ENOMEM;
	}
	n->fire_depth++;
	n->stats.local_events++;
	dispatch(n, ev);
	if (received)
		n->stats.loop_prevented++;
	else if (n->state == EVC__NODE_RUNNING && should_send(n, ev))
		send_event(n, ev);
	n->fire_depth--;
	if (received)
		evc__event_release(ev, &n->rx_spare); /* its storage serves the next datagram */
	else
		evcast_event_free(ev);
	return 0;
}

int evcast_node_fire(evcast_node_t *n, evcast_event_t *ev) { return node_fire(n, ev, false); }

/* evcast_node_writable, try_fire and the writable watchers: node_watch.c */

/* Receive holds: the first holds v2 delivery, the last release resumes it. */
void evcast_node_rx_hold(evcast_node_t *n)
{
	if (n->rx_holds++ == 0) {
		n->stats.fc_rx_holds++;
		evc__node_v2_rx_hold(n, true);
	}
}

void evcast_node_rx_release(evcast_node_t *n)
{
	if (n->rx_holds > 0 && --n->rx_holds == 0)
		evc__node_v2_rx_hold(n, false);
}


/* ---------------------------------------------------------------- receive */

static void count_drop(evcast_node_t *n, int err, const struct sockaddr *from)
{
	switch (err) {
	case EVCAST_EEMPTY: n->stats.drop_empty++; break;
	case EVCAST_ETRUNC: n->stats.drop_trunc++; break;
	case EVCAST_ENOMAGIC: n->stats.drop_nomagic++; break;
	case EVCAST_EPSK: n->stats.drop_psk++; break;
	case EVCAST_EPLAIN: n->stats.drop_plain++; break;
	case EVCAST_ENOMEM: n->stats.drop_nomem++; break;
	case EVCAST_E2BIG: n->stats.drop_oversize++; break;
	default: n->stats.drop_parse++; break;
	}
	if (evc__ratelimit_allow(&n->rl_rx, evc__wall_ms())) {
		char a[80];
		evc__addr_str(from, a, sizeof(a));
		evc__log(&n->lg, EVCAST_LOG_WARNING, "dropped datagram from %s: %s%s", a, evcast_strerror(err),
			 err == EVCAST_EPSK || err == EVCAST_EPLAIN ? " (is your PSK correctly configured?)" : "");
	}
}

/* Peer accounting for a received event (sender may be NULL), then it goes to
 * the local consumers (never back to the group: it is multicast::event). */
/* A header's value by constant name (no strlen). */
#define GET_CONST(ev, name) evc__event_get_n(ev, name, sizeof(name) - 1)

/* A sender heard by v2 before any HEARTBEAT of it (a receiver just started):
 * remembered, bounded (EVC__NODE_V2NAMES, the oldest replaced), so that its
 * legacy copies are recognised as shadows before it is in the peer table. */
static void v2name_note(evcast_node_t *n, const char *name)
{
	size_t len = strlen(name);
	unsigned i, slot = n->v2names_next % EVC__NODE_V2NAMES;
	if (len >= sizeof(n->v2names[0].name))
		return;
	for (i = 0; i < EVC__NODE_V2NAMES; i++)
		if (strcmp(n->v2names[i].name, name) == 0) {
			slot = i;
			break;
		}
	if (i == EVC__NODE_V2NAMES)
		n->v2names_next++;
	memcpy(n->v2names[slot].name, name, len + 1);
	n->v2names[slot].seen_ms = evc__wall_ms();
}

/* True when name was heard by v2 within the peer timeout. */
static bool v2name_recent(const evcast_node_t *n, const char *name)
{
	uint64_t now = evc__wall_ms(), window = (uint64_t)n->cfg->peer_timeout * 1000u;
	for (unsigned i = 0; i < EVC__NODE_V2NAMES; i++)
		if (n->v2names[i].name[0] && strcmp(n->v2names[i].name, name) == 0)
			return now - n->v2names[i].seen_ms <= window;
	return false;
}

/* p: sender's peer entry when the caller looked it up (found), else looked up here. */
static void on_received(evcast_node_t *n, evcast_event_t *ev, const char *sender, const struct sockaddr *from, bool v2,
			evc__peer_t *p, bool found)
{
	if (n->dedupe && !evc__node_dedupe_check(n, GET_CONST(ev, "Orig-Core-UUID"), GET_CONST(ev, "Orig-Event-Sequence"))) {
		evcast_event_free(ev); /* already delivered by another path (docs/MULTISITE.md) */
		return;
	}
	n->stats.rx_events++;
	if (sender) {
		/* from a datagram (found): the first received header, as senders write
		 * it (the wrapper's 3 are named otherwise: then it is the first of its
		 * name), else looked up */
		const char *name = found ? evc__event_value_if(ev, 3, "Orig-Event-Name", sizeof("Orig-Event-Name") - 1)
					 : NULL;
		if (!name)
			name = GET_CONST(ev, "Orig-Event-Name");
		if (name && name[0] == 'H' && strcmp(name, "HEARTBEAT") == 0) {
			char a[80];
			uint64_t prev = 0;
			evc__addr_str(from, a, sizeof(a));
			n->stats.heartbeats_rx++;
			int up = evc__peers_heartbeat(&n->peers, sender, from ? a : NULL, evc__wall_ms(), &prev);
			p = evc__peers_find(&n->peers, sender);
			if (p)
				p->v2 = v2;
			n->stats.peers_refused = n->peers.refused;
			n->stats.peers_evicted = n->peers.evicted;
			if (up == 1) {
				n->stats.peerups++;
				evc__node_peer_event(n, "multicast::peerup", sender, prev);
			}
			found = false; /* the table may have changed under p */
		}
		if (!found)
			p = evc__peers_find(&n->peers, sender);
		if (p)
			p->events_rx++;
		if (v2 && p)
			p->v2 = true; /* its legacy copies are shadows from now on */
		else if (v2)
			v2name_note(n, sender);
	}
	node_fire(n, ev, true);
}

void evc__node_received(evcast_node_t *n, evcast_event_t *ev, const char *sender, const struct sockaddr *from,
			bool v2)
{
	on_received(n, ev, sender, from, v2, NULL, false);
}

/* The legacy receiver's shape: CUSTOM multicast::event, Multicast: yes, then
 * every received header as Orig-<name>, decoded straight into that event.
 * A v2 datagram (told apart by its magic) goes to the v2 endpoint. */
static void on_datagram(void *ud, const uint8_t *buf, size_t len, const struct sockaddr *from)
{
	evcast_node_t *n = ud;
	n->stats.rx_datagrams++;
	n->stats.rx_bytes += len;
	if (n->ep && evc__v2_is_v2(buf, len)) {
		evc__node_v2_recv(n, buf, len, from);
		return;
	}
	evcast_event_t *ev = evc__event_new_received_tpl(len, &n->rx_spare, n->std_tpl, n->std_gen);
	if (!ev) {
		n->stats.drop_nomem++;
		return;
	}
	int r = evc__legacy_decode_into(buf, len, n->key, "Orig-", ev);
	if (r != 0) {
		evcast_event_free(ev);
		count_drop(n, r, from);
		return;
	}
	/* senders append Multicast-Sender last: search from the end */
	const char *sender = evc__event_get_last_n(ev, "Orig-Multicast-Sender", sizeof("Orig-Multicast-Sender") - 1);
	if (sender && strcmp(sender, n->cfg->node_name) == 0) {
		n->stats.rx_self++; /* our own datagram, looped back */
		evcast_event_free(ev);
		return;
	}
	evc__peer_t *p = NULL;
	if (sender) { /* a migrating peer sending both formats: keep its v2 copy only */
		p = evc__peers_find(&n->peers, sender);
		if ((p && p->v2 && p->up) || (!p && v2name_recent(n, sender))) {
			n->stats.rx_legacy_shadow++;
			evcast_event_free(ev);
			return;
		}
	}
	if (n->ep && from) { /* a legacy node's HEARTBEAT: it may NAK our v2 datagrams (v2guard.c) */
		const char *en = evc__event_value_if(ev, 3, "Orig-Event-Name", sizeof("Orig-Event-Name") - 1);
		if (en && strcmp(en, "HEARTBEAT") == 0)
			evc__v2_ep_heard_legacy(n->ep, from, len, evc__wall_us());
	}
	on_received(n, ev, sender, from, false, p, true);
}

/* ----------------------------------------------------------------- timers */

static void on_peer_down(void *ud, const evc__peer_t *p)
{
	evcast_node_t *n = ud;
	n->stats.peerdowns++;
	evc__node_peer_event(n, "multicast::peerdown", p->name, p->last_seen_ms);
}

static void sweep(evcast_node_t *n)
{
	evc__peers_sweep(&n->peers, evc__wall_ms(), (uint64_t)n->cfg->peer_timeout * 1000u, on_peer_down, n);
	n->stats.peers_refused = n->peers.refused;
	n->stats.peers_evicted = n->peers.evicted;
	evc__node_peer_log_flush(n);
}

static void uptime_text(uint64_t us, char *out, size_t cap)
{
	uint64_t s = us / 1000000u;
	snprintf(out, cap, "%llu years, %llu days, %llu hours, %llu minutes, %llu seconds, %llu milliseconds, %llu microseconds",
		 (unsigned long long)(s / 31536000u), (unsigned long long)(s % 31536000u / 86400u),
		 (unsigned long long)(s % 86400u / 3600u), (unsigned long long)(s % 3600u / 60u),
		 (unsigned long long)(s % 60u), (unsigned long long)(us / 1000u % 1000u),
		 (unsigned long long)(us % 1000u));
}

static void send_heartbeat(evcast_node_t *n)
{
	char up[160], ms[32];
	uint64_t us = evc__wall_us() - n->start_us;
	evcast_event_t *ev = evcast_event_new_named("HEARTBEAT", NULL);
	if (!ev)
		return;
	uptime_text(us, up, sizeof(up));
	snprintf(ms, sizeof(ms), "%llu", (unsigned long long)(us / 1000u));
	/* standard headers first, then the heartbeat's own, named and ordered as in a
	 * FreeSWITCH 1.11 HEARTBEAT (vectors/freeswitch/fs_heartbeat_plain) */
	if (add_std_headers(n, ev) != 0 || evcast_event_add_header(ev, "Event-Info", "System Ready") != 0 ||
	    evcast_event_add_header(ev, "Up-Time", up) != 0 ||
	    evcast_event_add_header(ev, "FreeSWITCH-Version", "evcast-" EVCAST_VERSION) != 0 ||
	    evcast_event_add_header(ev, "Uptime-msec", ms) != 0 ||
	    evcast_event_add_header(ev, "Session-Count", "0") != 0 ||
	    evcast_event_add_header(ev, "Max-Sessions", "0") != 0 ||
	    evcast_event_add_header(ev, "Session-Per-Sec", "0") != 0 ||
	    evcast_event_add_header(ev, "Session-Per-Sec-Last", "0") != 0 ||
	    evcast_event_add_header(ev, "Session-Per-Sec-Max", "0") != 0 ||
	    evcast_event_add_header(ev, "Session-Per-Sec-FiveMin", "0") != 0 ||
	    evcast_event_add_header(ev, "Session-Since-Startup", "0") != 0 ||
	    evcast_event_add_header(ev, "Session-Peak-Max", "0") != 0 ||
	    evcast_event_add_header(ev, "Session-Peak-FiveMin", "0") != 0 ||
	    evcast_event_add_header(ev, "Idle-CPU", "100.000000") != 0 ||
	    (evc__node_v2_fc_feature(n) &&
	     evcast_event_add_header(ev, "Multicast-Flow-Control", evc__node_v2_fc_feature(n)) != 0)) {
		evcast_event_free(ev);
		return;
	}
	n->stats.heartbeats_tx++;
	evcast_node_fire(n, ev);
}

static void on_heartbeat(uv_timer_t *t)
{
	evcast_node_t *n = t->data;
	send_heartbeat(n);
	sweep(n); /* the legacy module checks its peers on each local heartbeat */
}

static void on_sweep(uv_timer_t *t) { sweep(t->data); }

static uint64_t sweep_interval_ms(const evcast_config_t *cfg)
{
	uint64_t ms = (uint64_t)cfg->peer_timeout * 1000u / 4;
	return ms < 100 ? 100 : ms > 1000 ? 1000 : ms;
}

static void start_timers(evcast_node_t *n)
{
	uint64_t hb = (uint64_t)n->cfg->heartbeat_interval * 1000u;
	uv_timer_start(&n->hb_timer, on_heartbeat, hb, hb);
	uv_timer_start(&n->sweep_timer, on_sweep, sweep_interval_ms(n->cfg), sweep_interval_ms(n->cfg));
}

/* -------------------------------------------------------------- lifecycle */

/* Builds the parts of a node that come from a configuration. */
typedef struct prepared {
	evcast_config_t *cfg;
	evcast_bindings_t *bindings;
	evcast_legacy_key_t *key;
	evc__v2_settings_t *v2s;
	evc__v2_keyring_t *kr;
} prepared_t;

static void prepared_free(prepared_t *p)
{
	evcast_config_free(p->cfg);
	evcast_bindings_free(p->bindings);
	evcast_legacy_key_free(p->key);
	evc__free(p->v2s);
	evc__v2_keyring_free(p->kr);
	memset(p, 0, sizeof(*p));
}

/* Builds the parts of a node that come from a configuration. */
static int prepare(evcast_node_t *n, const evcast_config_t *cfg, prepared_t *out)
{
	int r;
	memset(out, 0, sizeof(*out));
	if (!(out->cfg = evc__config_dup(cfg)))
		return EVCAST_ENOMEM;
	if ((r = evc__node_v2_prepare(n, out->cfg, &out->v2s, &out->kr)) != 0)
		goto fail;
	if ((r = evcast_bindings_new(cfg->bindings ? cfg->bindings : "", &out->bindings)) != 0) {
		evc__log(&n->lg, EVCAST_LOG_ERR, "bindings \"%s\": %s", cfg->bindings, evcast_strerror(r));
		goto fail;
	}
	if (cfg->psk && cfg->psk[0] && (r = evcast_legacy_key_new(cfg->psk, strlen(cfg->psk), &out->key)) != 0)
		goto fail;
	return 0;
fail:
	prepared_free(out);
	return r;
}

int evcast_node_new(uv_loop_t *loop, const evcast_config_t *cfg, evcast_log_cb log, void *log_ud,
		    evcast_node_t **out)
{
	if (!loop || !cfg || !out)
		return EVCAST_EINVAL;
	if (sodium_init() < 0)
		return EVCAST_EIO;
	evcast_node_t *n = evc__calloc(1, sizeof(*n));
	if (!n)
		return EVCAST_ENOMEM;
	n->loop = loop;
	n->lg = (evc__logger_t){log, log_ud, cfg->log_level};
	n->txbuf = evc__malloc(NODE_TXBUF);
	n->v2_txbuf = evc__malloc(EVC__V2_TXBUF);
	prepared_t p;
	int r = n->txbuf && n->v2_txbuf ? prepare(n, cfg, &p) : EVCAST_ENOMEM;
	if (r != 0) {
		evc__free(n->txbuf);
		evc__free(n->v2_txbuf);
		evc__free(n);
		return r;
	}
	n->cfg = p.cfg;
	n->bindings = p.bindings;
	n->key = p.key;
	n->v2s = p.v2s;
	n->kr = p.kr;
	evc__peers_init(&n->peers, NODE_MAX_PEERS);
	evc__ratelimit_init(&n->rl_rx, 10, 1);
	evc__ratelimit_init(&n->rl_tx, 5, 1);
	evc__ratelimit_init(&n->rl_peer, EVC__PEER_LOG_BURST, EVC__PEER_LOG_PER_SEC);
	evc__uuid4(n->core_uuid);
	if (gethostname(n->hostname, sizeof(n->hostname) - 1) != 0)
		snprintf(n->hostname, sizeof(n->hostname), "localhost");
	local_addresses(n);
	n->start_us = evc__wall_us();
	uv_timer_init(loop, &n->hb_timer);
	uv_timer_init(loop, &n->sweep_timer);
	uv_timer_init(loop, &n->v2_timer);
	n->hb_timer.data = n;
	n->sweep_timer.data = n;
	n->v2_timer.data = n;
	evc__node_watch_init(n);
	n->state = EVC__NODE_NEW;
	*out = n;
	return 0;
}

int evcast_node_start(evcast_node_t *n)
{
	if (n->state != EVC__NODE_NEW)
		return EVCAST_ESTATE;
	int r = evc__node_v2_start(n);
	if (r == 0)
		r = evc__udp_new(n->loop, n->cfg, &n->lg, &n->stats, on_datagram, n, &n->udp);
	if (r == 0)
		r = evc__udp_start(n->udp);
	if (r != 0) {
		if (n->udp)
			evc__udp_close(n->udp, NULL, NULL);
		n->udp = NULL;
		return r;
	}
	n->state = EVC__NODE_RUNNING;
	start_timers(n);
	char hex[33];
	evc__node_id_hex(n, hex);
	evc__log(&n->lg, EVCAST_LOG_NOTICE,
		 "node %s started: %zu destination(s), port %u, protocol %s (%s), node id %s, bindings \"%s\"",
		 n->cfg->node_name, n->cfg->ndests, n->cfg->port,
		 n->v2s->protocol == EVCAST_PROTO_V2 ? "v2" : "legacy",
		 n->v2s->protocol == EVCAST_PROTO_V2 ? (n->kr ? "XChaCha20-Poly1305" : "v2 plaintext")
						      : (n->key ? "PSK (Blowfish)" : "plaintext"),
		 hex, n->cfg->bindings ? n->cfg->bindings : "");
	send_heartbeat(n); /* announce ourselves at once, as FreeSWITCH does at startup */
	return 0;
}

int evcast_node_reload(evcast_node_t *n, const evcast_config_t *cfg)
{
	prepared_t p;
	evc__udp_t *nudp = NULL;
	int r;

	if (n->state != EVC__NODE_RUNNING)
		return EVCAST_ESTATE;
	if (memcmp(cfg->digest, n->cfg->digest, sizeof(cfg->digest)) == 0)
		return 1;
	if ((r = prepare(n, cfg, &p)) != 0)
		goto fail;
	evcast_config_t *ncfg = p.cfg;
	if (evc__udp_config_differs(n->cfg, ncfg)) {
		evc__udp_pause(n->udp, true);
		r = evc__udp_new(n->loop, ncfg, &n->lg, &n->stats, on_datagram, n, &nudp);
		if (r == 0)
			r = evc__udp_start(nudp);
		if (r != 0) {
			if (nudp)
				evc__udp_close(nudp, NULL, NULL);
			evc__udp_pause(n->udp, false);
			goto fail;
		}
		evc__udp_close(n->udp, NULL, NULL);
		n->udp = nudp;
		evc__log(&n->lg, EVCAST_LOG_NOTICE, "reload: sockets re-bound (%zu destination(s), port %u)", ncfg->ndests,
			 ncfg->port);
	}
	evcast_config_free(n->cfg);
	evcast_bindings_free(n->bindings);
	evcast_legacy_key_free(n->key);
	n->cfg = p.cfg;
	evcast_event_free(n->std_tpl); /* Switchname may have changed: rebuilt at the next event */
	n->std_tpl = NULL;
	n->bindings = p.bindings;
	n->key = p.key;
	evc__node_v2_reload(n, p.v2s, p.kr);
	n->lg.level = ncfg->log_level;
	start_timers(n);
	n->stats.reloads++;
	evc__log(&n->lg, EVCAST_LOG_NOTICE, "reload: configuration applied (bindings \"%s\", %s)",
		 ncfg->bindings ? ncfg->bindings : "", n->key || n->kr ? "keys set" : "plaintext");
	return 0;
fail:
	n->stats.reload_failures++;
	prepared_free(&p);
	evc__log(&n->lg, EVCAST_LOG_ERR, "reload failed (%s): the previous configuration stays in force",
		 evcast_strerror(r));
	return r < 0 ? r : EVCAST_EINVAL;
}

static void node_finish(evcast_node_t *n)
{
	void (*cb)(void *) = n->close_cb;
	void *ud = n->close_ud;
	evc__peers_free(&n->peers);
	evcast_event_free(n->std_tpl);
	evcast_event_free(n->rx_spare);
	evcast_config_free(n->cfg);
	evcast_bindings_free(n->bindings);
	evcast_legacy_key_free(n->key);
	evc__node_v2_free(n);
	evc__node_dedupe_free(n);
	evc__free(n->consumers);
	evc__node_watch_free(n);
	evc__free(n->txbuf);
	evc__free(n->v2_txbuf);
	evc__free(n);
	if (cb)
		cb(ud);
}

static void on_part_closed(void *ud)
{
	evcast_node_t *n = ud;
	if (--n->closing == 0)
		node_finish(n);
}

static void on_timer_closed(uv_handle_t *h) { on_part_closed(h->data); }

void evcast_node_close(evcast_node_t *n, void (*cb)(void *ud), void *ud)
{
	if (!n || n->state == EVC__NODE_CLOSING)
		return;
	n->state = EVC__NODE_CLOSING;
	n->close_cb = cb;
	n->close_ud = ud;
	n->closing = 4;
	evc__node_watch_drop(n);
	uv_close((uv_handle_t *)&n->watch_idle, on_timer_closed);
	uv_close((uv_handle_t *)&n->v2_timer, on_timer_closed);
	uv_close((uv_handle_t *)&n->hb_timer, on_timer_closed);
	uv_close((uv_handle_t *)&n->sweep_timer, on_timer_closed);
	if (n->udp) {
		n->closing++;
		evc__udp_close(n->udp, on_part_closed, n);
		n->udp = NULL;
	}
}

/* -------------------------------------------------------------- accessors */

void evcast_node_stats(const evcast_node_t *n, evcast_stats_t *out)
{
	*out = n->stats;
	evc__node_v2_stats(n, out);
}
const evcast_config_t *evcast_node_config(const evcast_node_t *n) { return n->cfg; }
const char *evcast_node_name(const evcast_node_t *n) { return n->cfg->node_name; }
const char *evcast_node_core_uuid(const evcast_node_t *n) { return n->core_uuid; }

void evcast_node_peers(const evcast_node_t *n, void (*fn)(void *ud, const evcast_peer_info_t *info), void *ud)
{
	for (size_t i = 0; i < n->peers.n; i++) {
		const evc__peer_t *p = &n->peers.v[i];
		evcast_peer_info_t info = {p->name, p->up, p->last_seen_ms, {0}, p->events_rx};
		memcpy(info.addr, p->addr, sizeof(info.addr));
		fn(ud, &info);
	}
}
