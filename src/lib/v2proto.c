/*
 * v2proto.c -- evcast wire protocol v2: one endpoint (docs/PROTOCOL.md 6-9, 12).
 *
 * Owns the composition of frame/seal/replay/reasm/retrans into the two
 * pipelines. Here: the endpoint, the send side (events -> batch, flushed
 * when full or after flush_us, or fragments -> seal -> send_group +
 * retransmit ring; idle ANNOUNCEs), answers to NAKs from the ring, and the
 * timers (NAKs sent, flow control's). The receive pipeline (per-sender
 * state, replay, hold-back, release, reassembly, delivery, the receive
 * hold) is v2proto_rx.c's; both share v2proto_int.h. Per-sender state is
 * bounded (max_senders, hold_bytes); all receive state together, NAKs
 * answered and sent, by v2guard.c. Flow control (PROTOCOL.md 14): the set
 * and its arithmetic are v2flow.c's; here, sending STATUS, acting on it.
 * Must not: do I/O or read a clock (callbacks and now_us do that).
 */
#include "v2proto_int.h"
#include <string.h>

void evc__v2_ep_cfg_default(evc__v2_ep_cfg_t *c)
{
	memset(c, 0, sizeof(*c));
	c->payload_size = EVC_V2_DEFAULT_PAYLOAD;
	c->flush_us = 1000;
	c->rtx_bytes = 4u << 20;
	c->rtx_age_ms = 3000;
	c->rtx_slots = 8192;
	c->rtx_holdoff_ms = 10;
	c->announce_delay_ms = 20;
	c->announce_interval_ms = 1000;
	c->max_skew_us = 10000000;
	c->max_senders = 1024;
	c->reasm_bytes = 8u << 20;
	c->reasm_msgs = 64;
	c->reasm_timeout_ms = 3000;
	c->nak_delay_ms = 5;
	c->nak_max_tries = 16;
	c->hold_bytes = 4u << 20;
	c->compress_level = -1;
	c->fc = true;
	c->fc_window = 1024;
	c->fc_members = 256;
	c->fc_timeout_ms = 60000;
	c->max_lag_ms = 5000;
	c->status_interval_ms = 100;
	evc__v2_guard_cfg_default(&c->guard);
}

/* Compression: batches sent before the batch bound is probed again after
 * incompressible data. */
#define ZPROBE_AFTER 64u

/* Compression: the first guess, and the one after incompressible batches. */
static size_t batch_cap_probe(const evc__v2_ep_t *ep)
{
	size_t c = 4 * ep->max_chunk;
	return c > EVC_V2_ZMAX ? EVC_V2_ZMAX : c;
}

int evc__v2_ep_new(const evc__v2_ep_cfg_t *cfg, const evc__v2_keyring_t *kr, const evc__v2_ep_cbs_t *cbs,
		   evc__v2_ep_t **out)
{
	if (cfg->payload_size < EVC_V2_MIN_PAYLOAD || cfg->payload_size > EVC_V2_MAX_DGRAM || cfg->epoch == 0 ||
	    !cbs->send_group || !cbs->deliver || cfg->rtx_age_ms * 1000 >= cfg->max_skew_us ||
	    cfg->fc_window == 0 || cfg->fc_window > EVC_V2_FC_MAX_WINDOW)
		return EVCAST_EINVAL;
	uint8_t zero[EVC_V2_NODE_ID_LEN] = {0};
	if (!memcmp(cfg->node_id, zero, sizeof(zero)))
		return EVCAST_EINVAL;
	evc__v2_ep_t *ep = evc__calloc(1, sizeof(*ep));
	if (!ep)
		return EVCAST_ENOMEM;
	ep->cfg = *cfg;
	ep->kr = kr;
	ep->cbs = *cbs;
	ep->max_chunk = cfg->payload_size - EVC_V2_HDR_LEN - EVC_V2_TAG_LEN;
	ep->next_announce_ms = UINT64_MAX;
	evc__v2_guard_init(&ep->guard, &cfg->guard, 0);
	/* with compression a batch may hold more plaintext than a datagram carries:
	 * as much as is expected to compress into one (zcap, learnt per batch) */
	ep->zcap = cfg->compress ? batch_cap_probe(ep) : ep->max_chunk;
	ep->batch_buf = evc__malloc(cfg->compress ? EVC_V2_ZMAX : ep->max_chunk);
	ep->dg = evc__malloc(EVC_V2_MAX_DGRAM);
	ep->pt = evc__malloc(EVC_V2_MAX_DGRAM);
	ep->peers = evc__calloc(cfg->max_senders ? cfg->max_senders : 1, sizeof(*ep->peers));
	int rc = (!ep->batch_buf || !ep->dg || !ep->pt || !ep->peers) ? EVCAST_ENOMEM : 0;
	if (rc == 0)
		rc = evc__v2_txring_init(&ep->ring, cfg->rtx_bytes, cfg->rtx_age_ms, cfg->rtx_slots);
	if (rc == 0)
		rc = evc__v2_replay_init(&ep->replay, cfg->max_senders, cfg->max_skew_us);
	if (rc == 0)
		rc = evc__v2_reasm_new(cfg->reasm_bytes, cfg->reasm_msgs, cfg->reasm_timeout_ms, &ep->reasm);
	if (rc == 0)
		rc = evc__v2_fc_init(&ep->fc, cfg->fc_members ? cfg->fc_members : 1, cfg->fc_timeout_ms, cfg->max_lag_ms);
	if (rc < 0) {
		evc__v2_ep_free(ep);
		return rc;
	}
	evc__v2_batch_init(&ep->batch, ep->batch_buf, ep->zcap);
	*out = ep;
	return 0;
}

void evc__v2_ep_free(evc__v2_ep_t *ep)
{
	if (!ep)
		return;
	for (size_t i = 0; i < ep->npeers; i++)
		evc__v2ep_peer_free(ep->peers[i]);
	evc__free(ep->peers);
	evc__v2_txring_free(&ep->ring);
	evc__v2_replay_free(&ep->replay);
	evc__v2_reasm_free(ep->reasm);
	evc__v2_fc_free(&ep->fc);
	evc__free(ep->batch_buf);
	evc__free(ep->dg);
	evc__free(ep->pt);
	evc__zbatch_free(ep->ztx);
	evc__zbatch_free(ep->zrx);
	evc__free(ep);
}

void evc__v2_ep_set_keyring(evc__v2_ep_t *ep, const evc__v2_keyring_t *kr) { ep->kr = kr; }

void evc__v2_ep_stats(const evc__v2_ep_t *ep, evc__v2_ep_stats_t *out)
{
	*out = ep->st;
	out->lost = 0;
	out->recovered = 0;
	out->gap_overflow = 0;
	for (size_t i = 0; i < ep->npeers; i++) {
		out->gap_overflow += ep->peers[i]->gaps.overflow;
		out->lost += ep->peers[i]->gaps.lost;
		out->recovered += ep->peers[i]->gaps.recovered;
	}
	out->fc_receivers = evc__v2_fc_count(&ep->fc);
	out->fc_dropped = ep->fc.dropped;
	out->fc_left = ep->fc.left;
	out->fc_full = ep->fc.full;
	out->fc_evicted = ep->ring.evicted_unconfirmed;
	out->guard = ep->guard.st;
}

int evc__v2ep_drop(evc__v2_ep_t *ep, int rc)
{
	if (-rc >= EVC_V2_R_FIRST && -rc < EVC_V2_R_END)
		ep->st.drops[-rc - EVC_V2_R_FIRST]++;
	return rc;
}

/* ---------------------------------------------------------------- send */

static void hdr_init(const evc__v2_ep_t *ep, evc__v2_hdr_t *h, uint8_t type, uint64_t seq, uint64_t now_us)
{
	memset(h, 0, sizeof(*h));
	h->type = type;
	memcpy(h->node_id, ep->cfg.node_id, EVC_V2_NODE_ID_LEN);
	h->epoch = ep->cfg.epoch;
	h->seq = seq;
	h->ts_us = now_us < ep->cfg.epoch ? ep->cfg.epoch : now_us;
	h->frag_count = 1;
}

/* ------------------------------------------------- flow control, sender */

/* The ring keeps what a counted member has not confirmed. */
static void fc_update(evc__v2_ep_t *ep) { ep->ring.confirmed = evc__v2_fc_confirmed(&ep->fc); }

static void fc_sending(evc__v2_ep_t *ep, uint64_t seq, uint64_t now_us)
{
	if (!ep->fc.n)
		return;
	evc__v2_fc_sending(&ep->fc, seq, now_us / 1000);
	if (seq > evc__v2_fc_limit(&ep->fc))
		ep->st.fc_overdraft++; /* evcast_node_fire past the window */
	fc_update(ep);
}

/* Room for one more DATA datagram (and the open batch). */
static bool fc_room(const evc__v2_ep_t *ep)
{
	return !ep->cfg.fc ||
	       evc__v2_fc_room(&ep->fc, &ep->ring, ep->data_seq + 1 + (ep->batch.len ? 1 : 0), ep->cfg.payload_size);
}

bool evc__v2_ep_writable(evc__v2_ep_t *ep)
{
	bool r = fc_room(ep);
	if (!r && !ep->fc_blocked) {
		ep->fc_blocked = true;
		ep->st.fc_blocked++;
	}
	return r;
}

void evc__v2ep_fc_check_open(evc__v2_ep_t *ep)
{
	fc_update(ep);
	if (ep->fc_blocked && fc_room(ep)) {
		ep->fc_blocked = false;
		if (ep->fcb.writable)
			ep->fcb.writable(ep->fcb.ud);
	}
}

void evc__v2_ep_set_fc_cbs(evc__v2_ep_t *ep, const evc__v2_ep_fc_cbs_t *cbs) { ep->fcb = *cbs; }

/* Sends a message as one or more DATA datagrams and keeps them for
 * retransmission; flags: 0 or EVC_V2_F_ZSTD (seal adds SEALED). */
static int send_message(evc__v2_ep_t *ep, const uint8_t *msg, size_t mlen, uint8_t flags, uint64_t now_us)
{
	uint16_t count;
	int rc = evc__v2_frag_plan((uint32_t)mlen, (uint32_t)ep->max_chunk, &count);
	if (rc < 0)
		return rc;
	for (uint16_t i = 0; i < count; i++) {
		uint32_t off, flen;
		evc__v2_hdr_t h;
		if (evc__v2_frag_span((uint32_t)mlen, count, i, &off, &flen) < 0)
			return EVCAST_EINVAL;
		hdr_init(ep, &h, EVC_V2_DATA, ++ep->data_seq, now_us);
		fc_sending(ep, h.seq, now_us);
		h.frag_index = i;
		h.frag_count = count;
		h.msg_len = (uint32_t)mlen;
		int len = evc__v2_seal_flags(ep->kr, &h, flags, msg + off, flen, ep->dg, EVC_V2_MAX_DGRAM);
		if (len < 0)
			return len;
		ep->cbs.send_group(ep->cbs.ud, ep->dg, (size_t)len);
		if (evc__v2_txring_put(&ep->ring, h.seq, ep->dg, (size_t)len, now_us / 1000) < 0)
			ep->st.nomem++; /* sent, but cannot be retransmitted */
		ep->st.tx_datagrams++;
		ep->st.tx_bytes += (uint64_t)len;
		if (count > 1)
			ep->st.tx_fragments++;
	}
	ep->next_announce_ms = now_us / 1000 + ep->cfg.announce_delay_ms;
	evc__v2_ep_writable(ep); /* marks the node blocked when this used the window up */
	return 0;
}

void evc__v2_ep_flush(evc__v2_ep_t *ep, uint64_t now_us)
{
	if (ep->batch.len == 0)
		return;
	const uint8_t *msg = ep->batch_buf, *z;
	size_t mlen = ep->batch.len, zl = 0;
	uint8_t flags = 0;
	if (ep->cfg.compress && ep->zprobe && --ep->zprobe == 0)
		ep->zcap = batch_cap_probe(ep);
	if (ep->cfg.compress && mlen >= EVC_V2_ZMIN && !ep->zprobe) {
		if (!ep->ztx && evc__zbatch_new(ep->cfg.compress_level, &ep->ztx) != 0)
			ep->st.nomem++; /* sent uncompressed */
		if (ep->ztx && (zl = evc__zbatch_deflate(ep->ztx, msg, mlen, &z)) > 0) {
			/* the next batch: as much plaintext as should compress into 7/8
			 * of a datagram at this ratio */
			uint64_t c = (uint64_t)ep->max_chunk * 7 / 8 * mlen / zl;
			ep->zcap = c < ep->max_chunk ? ep->max_chunk : c > EVC_V2_ZMAX ? EVC_V2_ZMAX : (size_t)c;
		} else if (ep->ztx) {
			/* incompressible: no attempts, datagram-sized batches for a while */
			ep->zcap = ep->max_chunk;
			ep->zprobe = ZPROBE_AFTER;
		}
		if (zl > 0 && zl <= ep->max_chunk) {
			ep->st.tx_zbatches++;
			ep->st.tx_zbytes_in += mlen;
			msg = z;
			mlen = zl;
			flags = EVC_V2_F_ZSTD;
		} /* else as it is, fragmented when over max_chunk */
	}
	/* a bound too small for a batch worth compressing would never learn
	 * again: probe a larger batch later (data changes) */
	if (ep->cfg.compress && !ep->zprobe && ep->zcap < 2 * EVC_V2_ZMIN)
		ep->zprobe = ZPROBE_AFTER;
	send_message(ep, msg, mlen, flags, now_us);
	evc__v2_batch_init(&ep->batch, ep->batch_buf, ep->zcap);
	ep->batch_since_us = 0;
}

int evc__v2_ep_send(evc__v2_ep_t *ep, const char *text, size_t len, uint64_t now_us)
{
	if (len == 0)
		return EVCAST_EINVAL;
	if (len > EVC_V2_MAX_EVENT) {
		ep->st.tx_too_big++;
		return EVCAST_E2BIG;
	}
	ep->st.tx_events++;
	if (len + 4 <= ep->max_chunk) {
		if (evc__v2_batch_add(&ep->batch, text, len) == EVCAST_E2BIG) {
			evc__v2_ep_flush(ep, now_us);
			evc__v2_batch_add(&ep->batch, text, len);
		}
		if (ep->batch_since_us == 0)
			ep->batch_since_us = now_us ? now_us : 1;
		if (ep->batch.cap - ep->batch.len < len + 4) /* another like it would not fit */
			evc__v2_ep_flush(ep, now_us);
		return 0;
	}
	/* too large for one datagram: sent alone, fragmented, after what is queued */
	evc__v2_ep_flush(ep, now_us);
	uint8_t *msg = evc__malloc(len + 4);
	if (!msg)
		return EVCAST_ENOMEM;
	evc__v2_batch_t one;
	evc__v2_batch_init(&one, msg, len + 4);
	evc__v2_batch_add(&one, text, len);
	int rc = send_message(ep, msg, len + 4, 0, now_us);
	evc__free(msg);
	return rc;
}

int evc__v2ep_send_control(evc__v2_ep_t *ep, uint8_t type, const uint8_t *pl, size_t plen, uint64_t now_us,
			   const struct sockaddr *to)
{
	evc__v2_hdr_t h;
	hdr_init(ep, &h, type, EVC_V2_CTL_BIT | ++ep->ctl_seq, now_us);
	h.msg_len = (uint32_t)plen;
	int len = evc__v2_seal(ep->kr, &h, pl, plen, ep->dg, EVC_V2_MAX_DGRAM);
	if (len < 0)
		return len;
	if (to) {
		if (ep->cbs.send_to)
			ep->cbs.send_to(ep->cbs.ud, ep->dg, (size_t)len, to);
	} else {
		ep->cbs.send_group(ep->cbs.ud, ep->dg, (size_t)len);
	}
	return 0;
}

/* A NAK of requester rq (its guard state) from address from: answered only
 * when the requester is known there, within its and the total budget. */
void evc__v2ep_on_nak(evc__v2_ep_t *ep, evc__v2_pguard_t *rq, const struct sockaddr *from, const evc__v2_nak_t *nak,
		      uint64_t now_us)
{
	ep->st.rx_naks++;
	if (memcmp(nak->target_node, ep->cfg.node_id, EVC_V2_NODE_ID_LEN) || nak->target_epoch != ep->cfg.epoch) {
		ep->st.rx_nak_stale++;
		return;
	}
	if (!evc__v2_guard_nak_admit(&ep->guard, rq, from))
		return;
	uint64_t lo, hi;
	evc__v2_txring_expire(&ep->ring, now_us / 1000);
	evc__v2_txring_span(&ep->ring, &lo, &hi);
	for (unsigned i = 0; i < nak->nranges; i++) {
		uint64_t first = nak->ranges[i].first, last = first + nak->ranges[i].count - 1;
		if (lo == 0 || last < lo || first > hi)
			continue; /* gone: the next ANNOUNCE tells the receiver */
		for (uint64_t s = first < lo ? lo : first; s <= last && s <= hi; s++) {
			const uint8_t *d;
			size_t dl;
			if (evc__v2_txring_rtx(&ep->ring, s, now_us / 1000, ep->cfg.rtx_holdoff_ms, &d, &dl) == 1) {
				if (!evc__v2_guard_rtx(&ep->guard, rq, dl, now_us))
					return; /* over a budget: the rest waits for the requester's next NAK */
				ep->cbs.send_group(ep->cbs.ud, d, dl);
				ep->st.tx_rtx++;
			}
		}
	}
}

/* ---------------------------------------------------------------- timers */

static void fc_dropped(void *ud, const evc__v2_fc_member_t *m, uint64_t lag_ms)
{
	evc__v2_ep_t *ep = ud;
	if (ep->fcb.dropped)
		ep->fcb.dropped(ep->fcb.ud, m->node_id, m->delivered, ep->data_seq, lag_ms);
}

/* Flow control's timers: a deferred release, the set's sweep, periodic
 * STATUS. Returns the next time (us) it has work. */
static uint64_t fc_poll(evc__v2_ep_t *ep, uint64_t now_us)
{
	uint64_t next = UINT64_MAX, now_ms = now_us / 1000;
	if (ep->rx_release_pending && !ep->delivering) {
		ep->rx_release_pending = false;
		if (!ep->rx_hold) { /* (else held again since) */
			ep->rx_hold = true;
			evc__v2_ep_rx_hold(ep, false, now_us);
		}
	}
	if (ep->rx_hold && !ep->delivering && now_us >= ep->rx_hold_us + ep->cfg.max_lag_ms * 1000) {
		/* a hold lasts at most max-lag: what waits goes out anyway (peers'
		 * HEARTBEATs too), and the consumer's own bound decides */
		ep->rx_hold_us = now_us;
		for (size_t i = 0; i < ep->npeers; i++)
			evc__v2ep_release_n(ep, ep->peers[i], now_us, SIZE_MAX);
	}
	if (ep->rx_hold)
		next = ep->rx_hold_us + ep->cfg.max_lag_ms * 1000;
	if (ep->fc.n) {
		if (evc__v2_fc_sweep(&ep->fc, ep->data_seq, now_ms, fc_dropped, ep))
			evc__v2ep_fc_check_open(ep);
		uint64_t t = evc__v2_fc_next_ms(&ep->fc, ep->data_seq);
		if (t != UINT64_MAX && t * 1000 < next)
			next = t * 1000;
	}
	for (size_t i = 0; i < ep->npeers; i++) {
		rx_peer_t *p = ep->peers[i];
		evc__v2ep_fc_status(ep, p, now_us, false);
		if (p->fcrx.sent_any && p->last_heard_us + ep->cfg.fc_timeout_ms * 1000 >= now_us &&
		    p->fcrx.next_ms * 1000 < next)
			next = p->fcrx.next_ms * 1000;
	}
	return next;
}

uint64_t evc__v2_ep_poll(evc__v2_ep_t *ep, uint64_t now_us)
{
	uint64_t now_ms = now_us / 1000, next = UINT64_MAX;
	if (ep->batch_since_us && now_us >= ep->batch_since_us + ep->cfg.flush_us)
		evc__v2_ep_flush(ep, now_us);
	if (ep->batch_since_us)
		next = ep->batch_since_us + ep->cfg.flush_us;
	if (ep->next_announce_ms <= now_ms && ep->data_seq) {
		uint8_t pl[EVC_V2_ANNOUNCE_LEN];
		evc__v2_announce_t a;
		uint64_t hi;
		evc__v2_txring_expire(&ep->ring, now_ms);
		evc__v2_txring_span(&ep->ring, &a.oldest_seq, &hi);
		a.last_seq = ep->data_seq;
		evc__v2_announce_encode(&a, pl);
		if (evc__v2ep_send_control(ep, EVC_V2_ANNOUNCE, pl, sizeof(pl), now_us, NULL) == 0)
			ep->st.tx_announces++;
		ep->next_announce_ms = now_ms + ep->cfg.announce_interval_ms; /* repeats while idle */
	}
	if (ep->next_announce_ms != UINT64_MAX && ep->next_announce_ms * 1000 < next)
		next = ep->next_announce_ms * 1000;
	evc__v2_reasm_expire(ep->reasm, now_ms);
	evc__v2_reasm_stats_t rs;
	evc__v2_reasm_stats(ep->reasm, &rs);
	if (rs.messages && now_us + 100000 < next)
		next = now_us + 100000;
	for (size_t i = 0; i < ep->npeers; i++) {
		rx_peer_t *p = ep->peers[i];
		if (!p->gaps.ngaps)
			continue;
		evc__v2_nak_t nak;
		/* to the address it was known at; none to a sender that showed
		 * nothing but a gap; within the destination's NAK rate */
		const struct sockaddr *to = p->g.trust && p->g.have_known_addr ? (const struct sockaddr *)&p->g.known_addr
					    : p->have_addr ? (const struct sockaddr *)&p->addr : NULL;
		if (to && p->g.progress && evc__v2_gaps_next_ms(&p->gaps) <= now_ms &&
		    !evc__v2_guard_nak_send(&ep->guard, &p->g, to, now_us)) {
			evc__v2_gaps_expire(&p->gaps, now_ms); /* over the rate: the NAK waits 10 ms, old gaps go */
			evc__v2ep_release(ep, p, now_us);
			if (now_us + 10000 < next)
				next = now_us + 10000;
			continue;
		}
		if (evc__v2_gaps_poll(&p->gaps, now_ms, &nak) > 0 && to && !p->g.progress) {
			ep->guard.st.nak_unproven++;
		} else if (nak.nranges > 0 && to) {
			uint8_t pl[EVC_V2_NAK_LEN(EVC_V2_NAK_MAX_RANGES)];
			memcpy(nak.target_node, p->node_id, EVC_V2_NODE_ID_LEN);
			nak.target_epoch = p->gaps.epoch;
			int nl = evc__v2_nak_encode(&nak, pl, sizeof(pl));
			if (nl > 0 && evc__v2ep_send_control(ep, EVC_V2_NAK, pl, (size_t)nl, now_us, to) == 0)
				ep->st.tx_naks++;
		}
		evc__v2ep_release(ep, p, now_us);
		uint64_t g = evc__v2_gaps_next_ms(&p->gaps);
		if (g != UINT64_MAX && g * 1000 < next)
			next = g * 1000;
	}
	uint64_t f = ep->cfg.fc ? fc_poll(ep, now_us) : UINT64_MAX;
	return f < next ? f : next;
}

void evc__v2_ep_heard_legacy(evc__v2_ep_t *ep, const struct sockaddr *from, size_t len, uint64_t now_us)
{
	evc__v2_guard_host_heard(&ep->guard, from, len, now_us);
}

const evc__v2_guard_stats_t *evc__v2_ep_guard_stats(const evc__v2_ep_t *ep) { return &ep->guard.st; }
