/*
 * node_peers.c -- what the node says when a peer comes UP or goes DOWN: the
 * multicast::peerup / multicast::peerdown event (Peer, Lastseen) and its log
 * line. Peer names come from the network (Multicast-Sender, a v2 HEARTBEAT's
 * FreeSWITCH-Switchname): the line shows them through evcast_escape_text, and
 * the lines are rate-limited (a flood of forged names would write one line per
 * name), the suppressed ones counted in peer_log_suppressed and reported by
 * the next line, or by evc__node_peer_log_flush from the sweep timer.
 * The table itself is peers.c; the receive path that feeds it is node.c.
 */
#include "node_internal.h"
#include <stdio.h>
#include <string.h>

/* The peer UP/DOWN log line: the name escaped (it came from the network),
 * at most EVC__PEER_LOG_BURST lines then one a second; a line after some were
 * suppressed says how many. */
static void peer_log(evcast_node_t *n, const char *peer, const char *state, const char *last)
{
	char name[256], more[96] = "";
	if (!evc__ratelimit_allow(&n->rl_peer, evc__wall_ms())) {
		n->stats.peer_log_suppressed = n->rl_peer.suppressed;
		return;
	}
	if (n->rl_peer.suppressed > n->peer_log_reported) {
		snprintf(more, sizeof(more), " (%llu peer line(s) suppressed before this one)",
			 (unsigned long long)(n->rl_peer.suppressed - n->peer_log_reported));
		n->peer_log_reported = n->rl_peer.suppressed;
	}
	evcast_escape_text(peer, name, sizeof(name));
	evc__log(&n->lg, EVCAST_LOG_NOTICE, "peer %s is %s (last seen %s)%s", name, state, last, more);
}

/* After a flood, the count of suppressed peer lines is logged once the
 * limiter allows (from the sweep timer), not only with the next peer line. */
void evc__node_peer_log_flush(evcast_node_t *n)
{
	uint64_t pending = n->rl_peer.suppressed - n->peer_log_reported, before = n->rl_peer.suppressed;
	if (pending == 0)
		return;
	if (!evc__ratelimit_allow(&n->rl_peer, evc__wall_ms())) {
		n->rl_peer.suppressed = before; /* a summary not written yet is no peer line suppressed */
		return;
	}
	n->stats.peer_log_suppressed = n->rl_peer.suppressed;
	n->peer_log_reported = n->rl_peer.suppressed;
	evc__log(&n->lg, EVCAST_LOG_NOTICE,
		 "peers: %llu peer UP/DOWN line(s) suppressed (rate limit); `evcast peers` lists the table",
		 (unsigned long long)pending);
}

/* Fire CUSTOM <subclass> with Peer and Lastseen (peerup/peerdown). */
void evc__node_peer_event(evcast_node_t *n, const char *subclass, const char *peer, uint64_t last_ms)
{
	char last[32];
	evcast_event_t *ev = evcast_event_new_named("CUSTOM", subclass);
	if (!ev)
		return;
	if (last_ms)
		snprintf(last, sizeof(last), "%llu", (unsigned long long)(last_ms / 1000));
	else
		snprintf(last, sizeof(last), "Never");
	if (evcast_event_add_header(ev, "Peer", peer) != 0 || evcast_event_add_header(ev, "Lastseen", last) != 0) {
		evcast_event_free(ev);
		return;
	}
	peer_log(n, peer, strcmp(subclass, "multicast::peerup") == 0 ? "UP" : "DOWN", last);
	evcast_node_fire(n, ev);
}
