/*
 * node_v2.c -- the node's side of evcast wire protocol v2 (docs/PROTOCOL.md).
 *
 * Owns the glue between the node and the sans-I/O endpoint of v2proto.c: the
 * node id (configured, or BLAKE2b-128 of machine-id and node name) and boot
 * epoch, the keyring, the endpoint's timer (batch flush within 1 ms, ANNOUNCEs,
 * NAKs, give-ups), sending an event's plain text, and turning each delivered
 * text into the legacy-shaped CUSTOM multicast::event whose Multicast-Sender
 * comes from the authenticated payload, never from an unauthenticated header
 * (its Multicast-* headers made once per sender and epoch, not per event).
 * Losses the endpoint gives up on become a local CUSTOM multicast::loss.
 * Flow control (PROTOCOL.md 14): the HEARTBEAT feature header, writable and
 * its watchers' signal, multicast::flowdrop, the receive hold.
 * Sections: identity, endpoint callbacks, timer, send/receive, flow
 * control, lifecycle.
 */
#include "node_internal.h"
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- identity */

static void derive_node_id(const char *node_name, uint8_t out[EVC_V2_NODE_ID_LEN])
{
	char mid[128] = "";
	FILE *f = fopen("/etc/machine-id", "r");
	if (f) {
		if (!fgets(mid, sizeof(mid), f))
			mid[0] = '\0';
		fclose(f);
	}
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, EVC_V2_NODE_ID_LEN);
	crypto_generichash_update(&st, (const unsigned char *)mid, strlen(mid));
	crypto_generichash_update(&st, (const unsigned char *)node_name, strlen(node_name) + 1);
	crypto_generichash_final(&st, out, EVC_V2_NODE_ID_LEN);
	out[0] |= 1; /* never all-zero */
}

static void node_id_hex(const uint8_t id[EVC_V2_NODE_ID_LEN], char out[2 * EVC_V2_NODE_ID_LEN + 1])
{
	sodium_bin2hex(out, 2 * EVC_V2_NODE_ID_LEN + 1, id, EVC_V2_NODE_ID_LEN);
}

/* The last name a node id announced (its FreeSWITCH-Switchname), for loss
 * reports; a small table, oldest entry replaced. */
static void remember_name(evcast_node_t *n, const uint8_t id[EVC_V2_NODE_ID_LEN], const char *name)
{
	size_t slot = 0;
	for (size_t i = 0; i < EVC__V2_NAMES; i++) {
		if (memcmp(n->v2_names[i].id, id, EVC_V2_NODE_ID_LEN) == 0) {
			slot = i;
			break;
		}
		if (n->v2_names[i].used < n->v2_names[slot].used)
			slot = i;
	}
	memcpy(n->v2_names[slot].id, id, EVC_V2_NODE_ID_LEN);
	snprintf(n->v2_names[slot].name, sizeof(n->v2_names[slot].name), "%s", name);
	n->v2_names[slot].used = ++n->v2_name_clock;
}

static const char *known_name(evcast_node_t *n, const uint8_t id[EVC_V2_NODE_ID_LEN], char hex[33])
{
	for (size_t i = 0; i < EVC__V2_NAMES; i++)
		if (n->v2_names[i].used && memcmp(n->v2_names[i].id, id, EVC_V2_NODE_ID_LEN) == 0)
			return n->v2_names[i].name;
	node_id_hex(id, hex);
	return hex;
}

/* ------------------------------------------------------ endpoint callbacks */

static void cb_send_group(void *ud, const uint8_t *buf, size_t len)
{
	evcast_node_t *n = ud;
	if (n->udp)
		evc__udp_send(n->udp, buf, len, EVCAST_PROTO_V2);
}

static void cb_send_to(void *ud, const uint8_t *buf, size_t len, const struct sockaddr *peer)
{
	evcast_node_t *n = ud;
	if (n->udp)
		evc__udp_send_to(n->udp, buf, len, peer);
}

#define ADD_CONST(ev, name, v, nv) evc__event_add_trusted(ev, name, sizeof(name) - 1, v, nv)

/* The sender's node id and epoch as text, and the headers every event of it
 * ends with: built when sender, epoch or authentication change (a batch,
 * and every batch of one sender, share them), not per event. Returns the
 * headers (an event of 4), or NULL (no memory). */
static const evcast_event_t *rx_sender(evcast_node_t *n, const uint8_t node_id[EVC_V2_NODE_ID_LEN], uint64_t epoch,
				       bool authenticated)
{
	if (n->v2_rx.valid && n->v2_rx.tail && n->v2_rx.epoch == epoch && n->v2_rx.authenticated == authenticated &&
	    memcmp(n->v2_rx.id, node_id, EVC_V2_NODE_ID_LEN) == 0)
		return n->v2_rx.tail;
	memcpy(n->v2_rx.id, node_id, EVC_V2_NODE_ID_LEN);
	n->v2_rx.epoch = epoch;
	n->v2_rx.authenticated = authenticated;
	node_id_hex(node_id, n->v2_rx.hex);
	n->v2_rx.nep = (size_t)snprintf(n->v2_rx.ep, sizeof(n->v2_rx.ep), "%llu", (unsigned long long)epoch);
	n->v2_rx.slot = EVC__V2_NAMES; /* not known yet */
	n->v2_rx.known = NULL;
	n->v2_rx.valid = true;
	evcast_event_free(n->v2_rx.tail);
	evcast_event_t *t = n->v2_rx.tail = evcast_event_new();
	if (t && (ADD_CONST(t, "Multicast-Protocol", "v2", 2) != 0 ||
		  (authenticated ? ADD_CONST(t, "Multicast-Authenticated", "true", 4)
				 : ADD_CONST(t, "Multicast-Authenticated", "false", 5)) != 0 ||
		  ADD_CONST(t, "Multicast-Node-Id", n->v2_rx.hex, 2 * EVC_V2_NODE_ID_LEN) != 0 ||
		  ADD_CONST(t, "Multicast-Epoch", n->v2_rx.ep, n->v2_rx.nep) != 0)) {
		evcast_event_free(t);
		n->v2_rx.tail = NULL;
	}
	return n->v2_rx.tail;
}

/* known_name for the sender of rx_sender, searched again only when a name
 * was remembered since (the table changes only then). */
static const char *rx_known(evcast_node_t *n)
{
	if (n->v2_rx.known && n->v2_rx.known_clock == n->v2_name_clock)
		return n->v2_rx.known;
	char hex[33];
	const char *k = known_name(n, n->v2_rx.id, hex);
	n->v2_rx.known = k == hex ? n->v2_rx.hex : k; /* the same text: this id in hex */
	n->v2_rx.known_clock = n->v2_name_clock;
	return n->v2_rx.known;
}

/* remember_name for the sender of rx_sender: when its entry already holds
 * that name only the entry's age is refreshed (no search, no copy). */
static void rx_remember(evcast_node_t *n, const uint8_t id[EVC_V2_NODE_ID_LEN], const char *name)
{
	size_t s = n->v2_rx.slot;
	if (s < EVC__V2_NAMES && memcmp(n->v2_names[s].id, id, EVC_V2_NODE_ID_LEN) == 0 &&
	    strcmp(n->v2_names[s].name, name) == 0) {
		n->v2_names[s].used = ++n->v2_name_clock;
		return;
	}
	remember_name(n, id, name);
	for (s = 0; s < EVC__V2_NAMES && memcmp(n->v2_names[s].id, id, EVC_V2_NODE_ID_LEN) != 0; s++)
		;
	n->v2_rx.slot = s;
}

static void cb_deliver(void *ud, const uint8_t node_id[EVC_V2_NODE_ID_LEN], uint64_t epoch, bool authenticated,
		       const uint8_t *text, size_t len)
{
	evcast_node_t *n = ud;
	evcast_event_t *ev = evc__event_new_received_tpl(len, &n->rx_spare, n->std_tpl, n->std_gen);
	if (!ev) {
		n->stats.drop_nomem++;
		return;
	}
	int r = evc__event_parse_plain_nul(ev, (const char *)text, len, "Orig-", SIZE_MAX, false);
	if (r != 0) {
		evcast_event_free(ev);
		if (r == EVCAST_ENOMEM)
			n->stats.drop_nomem++;
		else
			n->stats.drop_parse++;
		return;
	}
	/* the sender's identity: its node id (authenticated with the payload when
	 * sealed) and the switch name inside that payload */
	const evcast_event_t *tail = rx_sender(n, node_id, epoch, authenticated);
	const char *sw = evc__event_get_n(ev, "Orig-FreeSWITCH-Switchname", sizeof("Orig-FreeSWITCH-Switchname") - 1);
	char sender[256];
	const char *from = sw && sw[0] ? sw : rx_known(n);
	size_t ns = strlen(from);
	if (ns > sizeof(sender) - 1)
		ns = sizeof(sender) - 1; /* as snprintf "%s" would cut it */
	memcpy(sender, from, ns);
	sender[ns] = '\0';
	if (sw && sw[0])
		rx_remember(n, node_id, sw); /* before the arena can move */
	/* a v2 HEARTBEAT that says its sender takes STATUS (PROTOCOL.md 14.4) */
	if (len > 22 && memcmp(text, "Event-Name: HEARTBEAT\n", 22) == 0) {
		const char *fc = evc__event_get_n(ev, "Orig-Multicast-Flow-Control",
						  sizeof("Orig-Multicast-Flow-Control") - 1);
		if (fc && fc[0] >= '1' && fc[0] <= '9')
			evc__v2_ep_peer_fc(n->ep, node_id);
	}
	const char *en = evc__event_get_n(ev, "Orig-Event-Name", sizeof("Orig-Event-Name") - 1);
	if (en && strcmp(en, "HEARTBEAT") == 0) /* a known peer at that address (v2guard.c) */
		evc__v2_ep_heard_heartbeat(n->ep, node_id, n->v2_from_valid ? (const struct sockaddr *)&n->v2_from : NULL);
	if (!tail || evcast_event_set_header(ev, "Orig-Multicast-Sender", sender) != 0 ||
	    evc__event_append_range(ev, tail, 0, 4) != 0) {
		evcast_event_free(ev);
		n->stats.drop_nomem++;
		return;
	}
	evc__node_received(n, ev, sender, n->v2_from_valid ? (const struct sockaddr *)&n->v2_from : NULL, true);
}

static void cb_loss(void *ud, const uint8_t node_id[EVC_V2_NODE_ID_LEN], uint64_t epoch, uint64_t first,
		    uint64_t last)
{
	evcast_node_t *n = ud;
	char hex[33], idhex[33], v[4][32];
	evcast_event_t *ev = evcast_event_new_named("CUSTOM", "multicast::loss");
	if (!ev)
		return;
	const char *peer = known_name(n, node_id, hex);
	node_id_hex(node_id, idhex);
	snprintf(v[0], sizeof(v[0]), "%llu", (unsigned long long)epoch);
	snprintf(v[1], sizeof(v[1]), "%llu", (unsigned long long)first);
	snprintf(v[2], sizeof(v[2]), "%llu", (unsigned long long)last);
	snprintf(v[3], sizeof(v[3]), "%llu", (unsigned long long)(last - first + 1));
	/* header names as docs/PROTOCOL.md section 9.4 gives them */
	if (evcast_event_add_header(ev, "Peer", peer) != 0 || evcast_event_add_header(ev, "Peer-Node-Id", idhex) != 0 ||
	    evcast_event_add_header(ev, "Peer-Epoch", v[0]) != 0 ||
	    evcast_event_add_header(ev, "First-Seq", v[1]) != 0 || evcast_event_add_header(ev, "Last-Seq", v[2]) != 0 ||
	    evcast_event_add_header(ev, "Count", v[3]) != 0) {
		evcast_event_free(ev);
		return;
	}
	if (evc__ratelimit_allow(&n->rl_rx, evc__wall_ms())) {
		char name[256]; /* a HEARTBEAT's FreeSWITCH-Switchname: from the network */
		evcast_escape_text(peer, name, sizeof(name));
		evc__log(&n->lg, EVCAST_LOG_WARNING, "v2: %s lost datagrams %s..%s for good (epoch %s)", name, v[1],
			 v[2], v[0]);
	}
	evcast_node_fire(n, ev);
}

/* ------------------------------------------------------------------- timer */

static void v2_arm(evcast_node_t *n, uint64_t due_us);

static void on_v2_timer(uv_timer_t *t)
{
	evcast_node_t *n = t->data;
	n->v2_due_us = UINT64_MAX;
	if (!n->ep)
		return;
	uint64_t now = evc__wall_us();
	if (n->v2_turn_flush) {
		n->v2_turn_flush = false;
		evc__v2_ep_flush(n->ep, now);
	}
	v2_arm(n, evc__v2_ep_poll(n->ep, now));
}

/* (Re)arms the endpoint's timer when due_us is earlier than what is armed. */
static void v2_arm(evcast_node_t *n, uint64_t due_us)
{
	if (due_us == UINT64_MAX || due_us >= n->v2_due_us || n->state == EVC__NODE_CLOSING)
		return;
	uint64_t now = evc__wall_us();
	uint64_t ms = due_us > now ? (due_us - now + 999) / 1000 : 0;
	n->v2_due_us = due_us;
	uv_timer_start(&n->v2_timer, on_v2_timer, ms, 0);
}

/* ------------------------------------------------------------ send/receive */

void evc__node_v2_send(evcast_node_t *n, const evcast_event_t *ev)
{
	int len = evcast_event_write_plain(ev, (char *)n->v2_txbuf, EVC__V2_TXBUF);
	if (len < 0) {
		n->stats.tx_oversize++;
		return;
	}
	uint64_t now = evc__wall_us();
	int r = evc__v2_ep_send(n->ep, (const char *)n->v2_txbuf, (size_t)len, now);
	if (r != 0) {
		n->stats.tx_oversize += r == EVCAST_E2BIG;
		n->stats.tx_errors += r != EVCAST_E2BIG;
		return;
	}
	/* Nagle in reverse: the first event after a quiet spell goes out at once
	 * (no 1 ms wait for a lone event); events close behind it are batched. */
	if (now - n->v2_last_tx_us >= n->v2s->ep.flush_us)
		evc__v2_ep_flush(n->ep, now);
	n->v2_last_tx_us = now;
	/* smart batching: the events fired during one loop turn share batches,
	 * flushed by a 0 ms timer when the turn ends (before the loop waits for
	 * I/O again), so a batch never waits for more events that are not
	 * already being produced; the endpoint's 1 ms bound stays as a backstop */
	if (!n->v2_turn_flush) {
		n->v2_turn_flush = true;
		v2_arm(n, now);
	}
	v2_arm(n, evc__v2_ep_poll(n->ep, now));
}

void evc__node_v2_recv(evcast_node_t *n, const uint8_t *buf, size_t len, const struct sockaddr *from)
{
	uint64_t now = evc__wall_us();
	n->v2_from_valid = from != NULL;
	if (from)
		memcpy(&n->v2_from, from,
		       from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	int r = evc__v2_ep_recv(n->ep, buf, len, from, now);
	n->v2_from_valid = false;
	const evc__v2_guard_stats_t *gs = evc__v2_ep_guard_stats(n->ep);
	if (gs->mem_shed != n->v2_shed_logged && evc__ratelimit_allow(&n->rl_rx, evc__wall_ms())) {
		char a[80];
		evc__addr_str(from, a, sizeof(a));
		evc__log(&n->lg, EVCAST_LOG_WARNING,
			 "v2: receive-memory bound hit %llu times: held datagrams given up, least trusted senders "
			 "first (last while receiving from %s)",
			 (unsigned long long)(gs->mem_shed - n->v2_shed_logged), a);
		n->v2_shed_logged = gs->mem_shed;
	}
	if (r == -EVC_V2_R_SELF)
		n->stats.rx_self++; /* our own datagram, looped back */
	else if (r != 0 && evc__ratelimit_allow(&n->rl_rx, evc__wall_ms())) {
		char a[80];
		evc__addr_str(from, a, sizeof(a));
		evc__log(&n->lg, EVCAST_LOG_WARNING, "v2: dropped datagram from %s: %s", a, evc__v2_reason_name(r));
	}
	v2_arm(n, evc__v2_ep_poll(n->ep, now));
}

/* ------------------------------------------------------------ flow control */

const char *evc__node_v2_fc_feature(const evcast_node_t *n)
{
	return n->ep && n->v2s && n->v2s->ep.fc && evc__node_v2_sends(n, EVCAST_PROTO_V2) ? "1" : NULL;
}

bool evc__node_v2_writable(const evcast_node_t *n) { return !n->ep || evc__v2_ep_writable(n->ep); }

static void cb_fc_writable(void *ud) { evc__node_writable_changed(ud); }

static void cb_fc_dropped(void *ud, const uint8_t node_id[EVC_V2_NODE_ID_LEN], uint64_t delivered, uint64_t sent,
			  uint64_t lag_ms)
{
	evcast_node_t *n = ud;
	char hex[33], idhex[33], v[3][32], safe[260];
	const char *peer = known_name(n, node_id, hex);
	node_id_hex(node_id, idhex);
	snprintf(v[0], sizeof(v[0]), "%llu", (unsigned long long)delivered);
	snprintf(v[1], sizeof(v[1]), "%llu", (unsigned long long)sent);
	snprintf(v[2], sizeof(v[2]), "%llu", (unsigned long long)lag_ms);
	evc__log(&n->lg, EVCAST_LOG_WARNING,
		 "v2: flow control: receiver \"%s\" (%s) dropped: held the window for %s ms (confirmed %s of %s)",
		 evc__esc(peer, safe, sizeof(safe)), idhex, v[2], v[0], v[1]);
	evcast_event_t *ev = evcast_event_new_named("CUSTOM", "multicast::flowdrop");
	if (!ev)
		return;
	if (evcast_event_add_header(ev, "Peer", peer) != 0 || evcast_event_add_header(ev, "Peer-Node-Id", idhex) != 0 ||
	    evcast_event_add_header(ev, "Confirmed-Seq", v[0]) != 0 ||
	    evcast_event_add_header(ev, "Sent-Seq", v[1]) != 0 || evcast_event_add_header(ev, "Lag-Ms", v[2]) != 0) {
		evcast_event_free(ev);
		return;
	}
	evcast_node_fire(n, ev);
}

void evc__node_v2_rx_hold(evcast_node_t *n, bool on)
{
	if (!n->ep)
		return;
	uint64_t now = evc__wall_us();
	evc__v2_ep_rx_hold(n->ep, on, now);
	if (!on) /* a release deferred from inside a delivery runs in the next poll */
		v2_arm(n, now);
}

void evc__node_v2_stats(const evcast_node_t *n, evcast_stats_t *out)
{
	evc__v2_ep_stats_t s;
	if (!n->ep)
		return;
	evc__v2_ep_stats(n->ep, &s);
	out->v2_tx_events = s.tx_events;
	out->v2_tx_datagrams = s.tx_datagrams;
	out->v2_tx_fragments = s.tx_fragments;
	out->v2_retransmits = s.tx_rtx;
	out->v2_announces = s.tx_announces;
	out->v2_naks_tx = s.tx_naks;
	out->v2_naks_rx = s.rx_naks;
	out->v2_rx_datagrams = s.rx_datagrams;
	out->v2_rx_events = s.rx_events;
	out->v2_lost = s.lost;
	out->v2_recovered = s.recovered;
	out->v2_hold_overflow = s.rx_hold_overflow;
	out->v2_nomem = s.nomem;
	out->fc_receivers = s.fc_receivers;
	out->fc_blocked = s.fc_blocked;
	out->fc_overdraft = s.fc_overdraft;
	out->fc_dropped = s.fc_dropped;
	out->fc_left = s.fc_left;
	out->fc_full = s.fc_full;
	out->fc_evicted = s.fc_evicted;
	out->status_tx = s.status_tx;
	out->status_rx = s.status_rx;
	out->status_stale = s.status_stale;
	out->fc_rx_hold_forced = s.rx_hold_forced;
	out->v2_drops_total = 0;
	for (size_t i = 0; i < EVC_V2_R_COUNT && i < EVCAST_V2_REASONS; i++) {
		out->v2_drops[i] = s.drops[i];
		out->v2_drops_total += s.drops[i];
	}
	out->v2_rx_mem_shed = s.guard.mem_shed;
	out->v2_unknown_evicted = s.guard.unknown_evicted;
	out->v2_naks_refused = s.guard.nak_refused;
	out->v2_rtx_limited = s.guard.rtx_limited;
	out->v2_rtx_bytes = s.guard.rtx_bytes;
	out->v2_naks_limited = s.guard.nak_limited;
	out->v2_naks_unproven = s.guard.nak_unproven;
}

/* --------------------------------------------------------------- lifecycle */

int evc__node_v2_prepare(evcast_node_t *n, evcast_config_t *cfg, evc__v2_settings_t **ps, evc__v2_keyring_t **pkr)
{
	char err[512];
	const evcast_section_t *sec = evcast_config_section(cfg, "event_multicast.conf");
	evc__v2_settings_t *s = evc__calloc(1, sizeof(*s));
	if (!s)
		return EVCAST_ENOMEM;
	int r = evc__v2_settings_parse(sec, cfg->port, cfg->path ? cfg->path : "(config)", s, err, sizeof(err));
	if (r == 0)
		r = evc__v2_settings_keyring(s, pkr, err, sizeof(err));
	if (r != 0) {
		evc__log(&n->lg, EVCAST_LOG_ERR, "%s", err);
		evc__free(s);
		return r;
	}
	/* the destinations as the node sends: every address in the chosen
	 * protocol, then the legacy-address ones in the legacy format */
	for (size_t i = 0; i < cfg->ndests; i++)
		cfg->dests[i].protocol = s->protocol;
	for (size_t i = 0; i < s->nlegacy && cfg->ndests < EVCAST_MAX_ADDRESSES; i++)
		cfg->dests[cfg->ndests++] = s->legacy[i];
	if (cfg->ndests < s->nlegacy)
		evc__log(&n->lg, EVCAST_LOG_WARNING, "legacy-address: more than %d destinations in all; extra ones ignored",
			 EVCAST_MAX_ADDRESSES);
	*ps = s;
	return 0;
}

int evc__node_v2_start(evcast_node_t *n)
{
	evc__v2_ep_cfg_t c = n->v2s->ep;
	if (n->v2s->have_node_id)
		memcpy(n->node_id, c.node_id, sizeof(n->node_id));
	else
		derive_node_id(n->cfg->node_name, n->node_id);
	memcpy(c.node_id, n->node_id, sizeof(c.node_id));
	c.epoch = n->start_us;
	c.fc_timeout_ms = (uint64_t)n->cfg->peer_timeout * 1000u; /* a silent member leaves */
	evc__v2_ep_cbs_t cbs = {cb_send_group, cb_send_to, cb_deliver, cb_loss, n};
	int r = evc__v2_ep_new(&c, n->kr, &cbs, &n->ep);
	if (r != 0)
		return r;
	evc__v2_ep_fc_cbs_t fcb = {cb_fc_writable, cb_fc_dropped, n};
	evc__v2_ep_set_fc_cbs(n->ep, &fcb);
	if (n->rx_holds)
		evc__v2_ep_rx_hold(n->ep, true, evc__wall_us());
	n->v2_due_us = UINT64_MAX;
	return 0;
}

void evc__node_v2_reload(evcast_node_t *n, evc__v2_settings_t *s, evc__v2_keyring_t *kr)
{
	/* keys rotate without a restart; tuning and node id apply at the next start */
	evc__v2_ep_set_keyring(n->ep, kr);
	evc__v2_keyring_free(n->kr);
	evc__free(n->v2s);
	n->kr = kr;
	n->v2s = s;
}

void evc__node_v2_free(evcast_node_t *n)
{
	evcast_event_free(n->v2_rx.tail);
	n->v2_rx.tail = NULL;
	n->v2_rx.valid = false;
	evc__v2_ep_free(n->ep);
	n->ep = NULL;
	evc__v2_keyring_free(n->kr);
	n->kr = NULL;
	evc__free(n->v2s);
	n->v2s = NULL;
}

bool evc__node_v2_sends(const evcast_node_t *n, int protocol)
{
	for (size_t i = 0; i < n->cfg->ndests; i++)
		if (n->cfg->dests[i].protocol == protocol)
			return true;
	return false;
}

void evc__node_id_hex(const evcast_node_t *n, char out[33]) { node_id_hex(n->node_id, out); }
