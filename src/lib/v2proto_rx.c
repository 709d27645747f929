/*
 * v2proto_rx.c -- the receive pipeline of a v2 endpoint (docs/PROTOCOL.md 6-9,
 * 12, 14): per-sender state (peers, bounded by max_senders and v2guard.c),
 * decode -> self -> replay check -> open -> payload check -> replay commit ->
 * by type (DATA: gap tracking, in-order hold-back and its release,
 * reassembly, batch -> deliver; ANNOUNCE: tail gaps; NAK: to v2proto.c's
 * answer; STATUS: flow control), the flow-control receiver side (STATUS due
 * to a sender, the receive hold). The endpoint itself, the send side, NAK
 * answers and the timers are v2proto.c's; both share v2proto_int.h.
 * Must not: do I/O or read a clock (callbacks and now_us do that).
 */
#include "v2proto_int.h"
#include <string.h>

/* ---------------------------------------------------------------- receive */

static void on_loss(void *ud, uint64_t epoch, uint64_t first, uint64_t last)
{
	rx_peer_t *p = ud;
	if (p->ep->cbs.loss)
		p->ep->cbs.loss(p->ep->cbs.ud, p->node_id, epoch, first, last);
}

/* Binary search: the index of node, or the insertion point with *found false. */
static size_t peer_index(const evc__v2_ep_t *ep, const uint8_t *node, bool *found)
{
	size_t lo = 0, hi = ep->npeers;
	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(ep->peers[mid]->node_id, node, EVC_V2_NODE_ID_LEN);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static rx_peer_t *peer_find(const evc__v2_ep_t *ep, const uint8_t *node)
{
	bool found;
	size_t i = peer_index(ep, node, &found);
	return found ? ep->peers[i] : NULL;
}

static bool make_room(evc__v2_ep_t *ep, const rx_peer_t *p, size_t extra, uint64_t now_us);

/* Gives up every gap of p (reported lost) and delivers what it held, a
 * receive hold too (p's state is going: nothing it held may be dropped). */
static void give_up(evc__v2_ep_t *ep, rx_peer_t *p, uint64_t now_us)
{
	while (evc__v2_gaps_lose_oldest(&p->gaps))
		;
	evc__v2ep_release_n(ep, p, now_us, ep->rx_hold ? p->nheld - p->hhead : 0);
}

/* At most guard.max_unknown senders neither authenticated nor heard in a
 * HEARTBEAT have state: the one heard longest ago goes. Its index, or npeers. */
static size_t unknown_make_room(evc__v2_ep_t *ep, uint64_t now_us)
{
	size_t nunk = 0, old = ep->npeers;
	for (size_t i = 0; i < ep->npeers; i++)
		if (ep->peers[i]->g.trust == EVC_V2_TRUST_NONE) {
			nunk++;
			if (old == ep->npeers || ep->peers[i]->last_heard_us < ep->peers[old]->last_heard_us)
				old = i;
		}
	if (nunk < ep->cfg.guard.max_unknown)
		return ep->npeers;
	give_up(ep, ep->peers[old], now_us);
	evc__v2ep_peer_free(ep->peers[old]);
	memmove(&ep->peers[old], &ep->peers[old + 1], (--ep->npeers - old) * sizeof(ep->peers[0]));
	ep->guard.st.unknown_evicted++;
	return old;
}

static rx_peer_t *peer_get(evc__v2_ep_t *ep, const uint8_t *node, bool auth, uint64_t now_us)
{
	bool found;
	size_t lo = peer_index(ep, node, &found);
	if (found)
		return ep->peers[lo];
	if (!auth && unknown_make_room(ep, now_us) < lo)
		lo--;
	if (ep->npeers >= ep->cfg.max_senders) {
		size_t idle = ep->npeers;
		for (size_t i = 0; i < ep->npeers; i++)
			if (ep->peers[i]->last_heard_us + ep->cfg.max_skew_us < now_us && ep->peers[i]->nheld == 0)
				idle = i;
		if (idle == ep->npeers)
			return NULL;
		evc__v2ep_peer_free(ep->peers[idle]);
		memmove(&ep->peers[idle], &ep->peers[idle + 1], (ep->npeers - idle - 1) * sizeof(ep->peers[0]));
		ep->npeers--;
		if (idle < lo)
			lo--;
	}
	rx_peer_t *p = evc__calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	memcpy(p->node_id, node, EVC_V2_NODE_ID_LEN);
	p->ep = ep;
	p->last_heard_us = now_us;
	evc__v2_pguard_init(&ep->guard, &p->g, now_us);
	make_room(ep, p, sizeof(*p), now_us); /* its own state counts too */
	evc__v2_guard_charge(&ep->guard, &p->g, (long long)sizeof(*p));
	evc__v2_gaps_init(&p->gaps, ep->cfg.nak_delay_ms, ep->cfg.rtx_age_ms, ep->cfg.nak_max_tries, on_loss, p);
	p->gaps.own_epoch = ep->cfg.epoch;
	memmove(&ep->peers[lo + 1], &ep->peers[lo], (ep->npeers - lo) * sizeof(ep->peers[0]));
	ep->peers[lo] = p;
	ep->npeers++;
	return p;
}

static void deliver_batch(evc__v2_ep_t *ep, const rx_peer_t *p, uint64_t epoch, bool auth, const uint8_t *m,
			  size_t n)
{
	if (evc__v2_batch_check(m, n) < 0) {
		evc__v2ep_drop(ep, -EVC_V2_R_BATCH);
		return;
	}
	size_t pos = 0, rl;
	const uint8_t *rec;
	ep->delivering++;
	while (evc__v2_batch_next(m, n, &pos, &rec, &rl) == 1) {
		ep->st.rx_events++;
		ep->cbs.deliver(ep->cbs.ud, p->node_id, epoch, auth, rec, rl);
	}
	ep->delivering--;
}

/* One DATA datagram's plaintext, in order: deliver or reassemble. */
static void process(evc__v2_ep_t *ep, const rx_peer_t *p, const evc__v2_hdr_t *h, bool auth, const uint8_t *d,
		    size_t n, uint64_t now_us)
{
	if (h->frag_count == 1) {
		deliver_batch(ep, p, h->epoch, auth, d, n);
		return;
	}
	uint8_t *msg = NULL;
	size_t mlen = 0;
	int rc = evc__v2_reasm_add(ep->reasm, h, d, n, now_us / 1000, &msg, &mlen);
	if (rc == 1) {
		deliver_batch(ep, p, h->epoch, auth, msg, mlen);
		evc__free(msg);
	} else if (rc < 0) {
		evc__v2ep_drop(ep, rc);
	}
}

/* Delivers held datagrams that no open gap precedes any more, while no
 * receive hold is on (force: up to that many despite the hold, counted). */
void evc__v2ep_release_n(evc__v2_ep_t *ep, rx_peer_t *p, uint64_t now_us, size_t force)
{
	while (p->hhead < p->nheld) {
		held_t *x = &p->held[p->hhead];
		if ((p->gaps.ngaps && p->gaps.epoch == x->h.epoch && x->h.seq > p->gaps.gaps[0].first) ||
		    (ep->rx_hold && !force))
			break;
		if (ep->rx_hold) {
			force--;
			ep->st.rx_hold_forced++;
		}
		p->hhead++;
		p->hbytes -= x->len;
		evc__v2_guard_charge(&ep->guard, &p->g, -(long long)(x->len + EVC_V2_HELD_OVERHEAD));
		process(ep, p, &x->h, x->authenticated, x->data, x->len, now_us);
		evc__free(x->data);
	}
	if (p->hhead == p->nheld)
		p->hhead = p->nheld = 0;
}

void evc__v2ep_release(evc__v2_ep_t *ep, rx_peer_t *p, uint64_t now_us)
{
	evc__v2ep_release_n(ep, p, now_us, 0);
}

/* A datagram that cannot be held for want of memory: reported as lost, like
 * any other sequence number that will never be delivered. */
static void lose_one(evc__v2_ep_t *ep, rx_peer_t *p, const evc__v2_hdr_t *h)
{
	ep->st.nomem++;
	p->gaps.lost++;
	on_loss(p, h->epoch, h->seq, h->seq);
}

/* The bound on all receive state (v2guard.c): until extra more bytes fit,
 * the held datagrams of the sender that sheds first (less trusted than p,
 * or as trusted and heard longer ago) are given up. False when over the
 * bound with none left to shed but p's own. */
static bool make_room(evc__v2_ep_t *ep, const rx_peer_t *p, size_t extra, uint64_t now_us)
{
	evc__v2_reasm_stats_t rs;
	evc__v2_reasm_stats(ep->reasm, &rs);
	while (evc__v2_guard_over(&ep->guard, extra, rs.bytes)) {
		rx_peer_t *v = NULL;
		for (size_t i = 0; i < ep->npeers; i++) {
			rx_peer_t *q = ep->peers[i], *w = v ? v : (rx_peer_t *)p;
			if (q != p && q->nheld > q->hhead &&
			    evc__v2_guard_sheds_first(&q->g, q->last_heard_us, &w->g, w->last_heard_us))
				v = q;
		}
		if (!v)
			return false;
		ep->guard.st.mem_shed++;
		give_up(ep, v, now_us);
	}
	return true;
}

/* make_room for a datagram p would hold (and its entry), whether it waits for
 * a gap or for a receive hold; else, for a gap, p's own oldest gaps go, and
 * under a receive hold p's oldest held datagram is delivered (a hold is a
 * consumer's wish, never a reason to exceed receive-memory). */
#define HOLD_GROW(p) ((p)->nheld == (p)->hcap && !(p)->hhead ? ((p)->hcap ? (p)->hcap : 64) * sizeof(held_t) : 0)
static void shed(evc__v2_ep_t *ep, rx_peer_t *p, const evc__v2_hdr_t *h, size_t n, uint64_t now_us)
{
	for (;;) {
		bool gap = p->gaps.ngaps && h->seq >= p->gaps.gaps[0].first;
		if ((!gap && !ep->rx_hold) || make_room(ep, p, n + EVC_V2_HELD_OVERHEAD + HOLD_GROW(p), now_us))
			return;
		if (gap) {
			ep->guard.st.mem_shed++;
			evc__v2_gaps_lose_oldest(&p->gaps);
			evc__v2ep_release(ep, p, now_us);
			continue;
		}
		size_t before = p->nheld - p->hhead;
		if (!before)
			return;
		evc__v2ep_release_n(ep, p, now_us, 1);
		if (p->nheld - p->hhead >= before)
			return;
	}
}

static void hold(evc__v2_ep_t *ep, rx_peer_t *p, const evc__v2_hdr_t *h, bool auth, const uint8_t *d, size_t n,
		 uint64_t now_us)
{
	/* the bound: give up the oldest gaps until the datagram fits or needs no holding */
	while (p->hbytes + n > ep->cfg.hold_bytes || p->nheld - p->hhead >= HOLD_MAX_ITEMS) {
		if (evc__v2_gaps_lose_oldest(&p->gaps)) {
			ep->st.rx_hold_overflow++;
			evc__v2ep_release(ep, p, now_us);
		} else if (ep->rx_hold && p->hhead < p->nheld) {
			size_t before = p->nheld - p->hhead;
			evc__v2ep_release_n(ep, p, now_us, 1); /* a receive hold cannot outgrow the bound */
			if (p->nheld - p->hhead >= before)
				break;
		} else {
			break;
		}
	}
	shed(ep, p, h, n, now_us);
	if (!ep->rx_hold && (!p->gaps.ngaps || h->seq < p->gaps.gaps[0].first) &&
	    (p->hhead == p->nheld || h->seq < p->held[p->hhead].h.seq)) {
		process(ep, p, h, auth, d, n, now_us);
		return;
	}
	if (p->nheld == p->hcap && p->hhead) {
		memmove(p->held, p->held + p->hhead, (p->nheld - p->hhead) * sizeof(*p->held));
		p->nheld -= p->hhead;
		p->hhead = 0;
	}
	if (p->nheld == p->hcap) {
		size_t ncap = p->hcap ? p->hcap * 2 : 64;
		held_t *nh = evc__realloc(p->held, ncap * sizeof(*nh));
		if (!nh) {
			lose_one(ep, p, h);
			return;
		}
		evc__v2_guard_charge(&ep->guard, &p->g, (long long)((ncap - p->hcap) * sizeof(*nh)));
		p->held = nh;
		p->hcap = ncap;
	}
	uint8_t *copy = evc__malloc(n ? n : 1);
	if (!copy) {
		lose_one(ep, p, h);
		return;
	}
	memcpy(copy, d, n);
	size_t at = p->nheld;
	while (at > p->hhead && p->held[at - 1].h.seq > h->seq)
		at--;
	memmove(&p->held[at + 1], &p->held[at], (p->nheld - at) * sizeof(*p->held));
	p->held[at] = (held_t){.h = *h, .authenticated = auth, .data = copy, .len = n};
	p->nheld++;
	p->hbytes += n;
	evc__v2_guard_charge(&ep->guard, &p->g, (long long)(n + EVC_V2_HELD_OVERHEAD));
	ep->st.rx_held++;
}

/* ----------------------------------------------- flow control, receiver */

/* A STATUS to sender p when one is due (force: now). */
void evc__v2ep_fc_status(evc__v2_ep_t *ep, rx_peer_t *p, uint64_t now_us, bool force)
{
	if (!ep->cfg.fc || !p->fcrx.capable || !p->have_addr || !p->gaps.epoch || !p->gaps.highest ||
	    p->last_heard_us + ep->cfg.fc_timeout_ms * 1000 < now_us)
		return;
	uint64_t d = evc__v2_fcrx_delivered(&p->gaps, p->hhead < p->nheld ? p->held[p->hhead].h.seq : 0);
	uint64_t now_ms = now_us / 1000;
	size_t held = p->nheld - p->hhead;
	uint32_t w = evc__v2_fcrx_window(ep->cfg.fc_window, p->gaps.highest - d,
					 p->hbytes < ep->cfg.hold_bytes ? ep->cfg.hold_bytes - p->hbytes : 0,
					 held < HOLD_MAX_ITEMS ? HOLD_MAX_ITEMS - held : 0, ep->cfg.payload_size);
	if (!force && !evc__v2_fcrx_due(&p->fcrx, d, w, ep->cfg.fc_window, now_ms))
		return;
	evc__v2_status_t st = {.target_epoch = p->gaps.epoch, .delivered = d, .window = w};
	uint8_t pl[EVC_V2_STATUS_LEN];
	memcpy(st.target_node, p->node_id, EVC_V2_NODE_ID_LEN);
	st.flags = ep->rx_hold ? EVC_V2_STATUS_F_HELD : 0;
	evc__v2_status_encode(&st, pl);
	if (evc__v2ep_send_control(ep, EVC_V2_STATUS, pl, sizeof(pl), now_us, (struct sockaddr *)&p->addr) == 0)
		ep->st.status_tx++;
	evc__v2_fcrx_sent(&p->fcrx, d, w, ep->cfg.status_interval_ms, now_ms);
}

/* A STATUS from receiver p: it takes STATUS too; a member of our set. */
static void on_status(evc__v2_ep_t *ep, rx_peer_t *p, const evc__v2_hdr_t *h, const evc__v2_status_t *st,
		      uint64_t now_us)
{
	ep->st.status_rx++;
	p->fcrx.capable = true;
	if (!ep->cfg.fc)
		return;
	if (memcmp(st->target_node, ep->cfg.node_id, EVC_V2_NODE_ID_LEN) || st->target_epoch != ep->cfg.epoch) {
		ep->st.status_stale++;
		return;
	}
	evc__v2_fc_status(&ep->fc, h->node_id, h->epoch, st->delivered, st->window, ep->data_seq, now_us / 1000);
	evc__v2ep_fc_check_open(ep);
}

void evc__v2_ep_peer_fc(evc__v2_ep_t *ep, const uint8_t node_id[EVC_V2_NODE_ID_LEN])
{
	rx_peer_t *p = peer_find(ep, node_id);
	if (p)
		p->fcrx.capable = true;
}

void evc__v2_ep_rx_hold(evc__v2_ep_t *ep, bool on, uint64_t now_us)
{
	if (on || !ep->rx_hold) {
		if (on && !ep->rx_hold)
			ep->rx_hold_us = now_us;
		ep->rx_hold = on || ep->rx_hold;
		return;
	}
	ep->rx_hold = false;
	if (ep->delivering) { /* inside a delivery: the next poll releases */
		ep->rx_release_pending = true;
		return;
	}
	for (size_t i = 0; i < ep->npeers; i++) {
		evc__v2ep_release(ep, ep->peers[i], now_us);
		evc__v2ep_fc_status(ep, ep->peers[i], now_us, true);
	}
}

int evc__v2_ep_recv(evc__v2_ep_t *ep, const uint8_t *buf, size_t len, const struct sockaddr *from, uint64_t now_us)
{
	evc__v2_hdr_t h;
	ep->st.rx_datagrams++;
	int rc = evc__v2_hdr_decode(buf, len, &h);
	if (rc < 0)
		return evc__v2ep_drop(ep, rc);
	if (!memcmp(h.node_id, ep->cfg.node_id, EVC_V2_NODE_ID_LEN))
		return evc__v2ep_drop(ep, -EVC_V2_R_SELF);
	rc = evc__v2_replay_check(&ep->replay, &h, now_us);
	bool via_gap = false; /* older than the window, but a seq the gap tracker still misses */
	if (rc == -EVC_V2_R_TOO_OLD) {
		rx_peer_t *q = peer_find(ep, h.node_id);
		if (q && evc__v2_gaps_contains(&q->gaps, h.epoch, h.seq)) {
			via_gap = true;
			rc = 0;
		}
	}
	if (rc < 0)
		return evc__v2ep_drop(ep, rc);
	size_t n = 0;
	if ((rc = evc__v2_open(ep->kr, ep->cfg.accept_plain, &h, buf, len, ep->pt, EVC_V2_MAX_DGRAM, &n)) < 0)
		return evc__v2ep_drop(ep, rc);
	const uint8_t *pl = ep->pt; /* the payload: the plaintext, or what it decompresses to */
	if ((h.flags & EVC_V2_F_ZSTD) &&
	    ((!ep->zrx && (rc = evc__zbatch_new(0, &ep->zrx)) != 0) ||
	     (rc = evc__zbatch_inflate(ep->zrx, &h, ep->pt, n, &pl, &n)) != 0))
		return evc__v2ep_drop(ep, rc);
	evc__v2_announce_t a;
	evc__v2_nak_t nak;
	evc__v2_status_t fst;
	if (h.type == EVC_V2_STATUS)
		rc = evc__v2_status_decode(ep->pt, n, &fst);
	else if (h.type == EVC_V2_DATA && h.frag_count == 1)
		rc = evc__v2_batch_check(pl, n) < 0 ? -EVC_V2_R_BATCH : 0;
	else if (h.type == EVC_V2_ANNOUNCE)
		rc = evc__v2_announce_decode(ep->pt, n, &a);
	else if (h.type == EVC_V2_NAK)
		rc = evc__v2_nak_decode(ep->pt, n, &nak);
	if (rc < 0)
		return evc__v2ep_drop(ep, rc);
	rx_peer_t *p = peer_get(ep, h.node_id, (h.flags & EVC_V2_F_SEALED) != 0, now_us);
	if (!p)
		return evc__v2ep_drop(ep, -EVC_V2_R_SENDERS_FULL);
	if (!via_gap && (rc = evc__v2_replay_commit(&ep->replay, &h, now_us, NULL)) < 0)
		return evc__v2ep_drop(ep, rc);
	p->last_heard_us = now_us;
	if (from) {
		size_t sl = from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		memcpy(&p->addr, from, sl);
		p->have_addr = true;
	}
	bool auth = (h.flags & EVC_V2_F_SEALED) != 0;
	uint64_t now_ms = now_us / 1000;
	evc__v2_guard_heard(&p->g, from, len, auth);
	if (h.type == EVC_V2_NAK) {
		evc__v2ep_on_nak(ep, &p->g, from, &nak, now_us);
		return 0;
	}
	if (h.type == EVC_V2_STATUS) {
		on_status(ep, p, &h, &fst, now_us);
		return 0;
	}
	if (p->gaps.epoch && h.epoch > p->gaps.epoch) {
		give_up(ep, p, now_us); /* restart: the old epoch's gaps are lost, its held datagrams go out in order (a receive hold too: epochs are never mixed in the hold-back) */
	}
	evc__v2_gaps_clock(&p->gaps, h.epoch, h.ts_us, now_us); /* late joiner or not, skew-free */
	if (h.type == EVC_V2_ANNOUNCE) {
		p->g.progress = true;
		evc__v2_gaps_announce(&p->gaps, h.epoch, &a, now_ms);
		evc__v2ep_release(ep, p, now_us);
		evc__v2ep_fc_status(ep, p, now_us, false);
		return 0;
	}
	if (p->gaps.epoch == h.epoch && p->gaps.highest && h.seq == p->gaps.highest + 1)
		p->g.progress = true; /* in-order progress: it may be NAKed from now on */
	if ((rc = evc__v2_gaps_seen(&p->gaps, h.epoch, h.seq, now_ms)) < 0)
		return evc__v2ep_drop(ep, rc); /* declared lost already: delivering it would break the order */
	hold(ep, p, &h, auth, pl, n, now_us);
	evc__v2ep_release(ep, p, now_us);
	p->fcrx.data_ms = now_ms;
	evc__v2ep_fc_status(ep, p, now_us, false);
	return 0;
}


void evc__v2ep_peer_free(rx_peer_t *p)
{
	for (size_t i = p->hhead; i < p->nheld; i++)
		evc__free(p->held[i].data);
	evc__v2_guard_charge(&p->ep->guard, &p->g, -(long long)p->g.mem);
	evc__free(p->held);
	evc__free(p);
}

void evc__v2_ep_heard_heartbeat(evc__v2_ep_t *ep, const uint8_t node_id[EVC_V2_NODE_ID_LEN],
				const struct sockaddr *from)
{
	rx_peer_t *p = peer_find(ep, node_id);
	if (p)
		evc__v2_guard_known(&p->g, from);
}
