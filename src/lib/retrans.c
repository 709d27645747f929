/*
 * retrans.c -- evcast wire protocol v2: loss recovery (docs/PROTOCOL.md 9).
 *
 * Owns, sender side: the retransmit ring of sent DATA datagrams (consecutive
 * seqs, byte-identical copies), bounded by slots, bytes and age, with
 * per-seq retransmit holdoff; what a flow-control member has not confirmed
 * (confirmed, set by v2proto.c) is never expired by age. Receiver side: the
 * gap tracker of one sender
 * (open gaps, NAK schedule with backoff, give-up, loss reports), bounded by
 * 256 gaps and 65536 missing seqs; whether a new sender's first seqs are a
 * gap is told from uptimes, each read on one clock. Pure: time is passed in,
 * no I/O; every eviction and every loss is counted.
 */
#include "v2.h"
#include <string.h>

/* ---------------------------------------------------------------- sender ring */

int evc__v2_txring_init(evc__v2_txring_t *t, size_t max_bytes, uint64_t max_age_ms, size_t max_slots)
{
	memset(t, 0, sizeof(*t));
	if (max_slots == 0 || max_bytes == 0 || max_slots > (1u << 20))
		return EVCAST_EINVAL;
	size_t cap = 1;
	while (cap < max_slots)
		cap <<= 1;
	t->slots = evc__calloc(cap, sizeof(*t->slots));
	if (!t->slots)
		return EVCAST_ENOMEM;
	t->cap = cap;
	t->max_bytes = max_bytes;
	t->max_age_ms = max_age_ms;
	t->confirmed = UINT64_MAX;
	return 0;
}

static void pop_oldest(evc__v2_txring_t *t)
{
	evc__v2_txslot_t *s = &t->slots[t->head];
	t->bytes -= s->len;
	evc__free(s->data);
	memset(s, 0, sizeof(*s));
	t->head = (t->head + 1) & (t->cap - 1);
	t->n--;
	t->first_seq++;
}

void evc__v2_txring_free(evc__v2_txring_t *t)
{
	while (t->n)
		pop_oldest(t);
	evc__free(t->slots);
	t->slots = NULL;
}

void evc__v2_txring_expire(evc__v2_txring_t *t, uint64_t now_ms)
{
	while (t->n) {
		const evc__v2_txslot_t *s = &t->slots[t->head];
		if (now_ms < s->sent_ms || now_ms - s->sent_ms <= t->max_age_ms || t->first_seq > t->confirmed)
			break; /* young, or a flow-control member has not confirmed it */
		pop_oldest(t);
		t->evicted_age++;
	}
}

int evc__v2_txring_put(evc__v2_txring_t *t, uint64_t seq, const uint8_t *data, size_t len, uint64_t now_ms)
{
	if (len > t->max_bytes || len > EVC_V2_MAX_DGRAM)
		return EVCAST_E2BIG;
	if (t->n && seq != t->first_seq + t->n)
		while (t->n)
			pop_oldest(t); /* a new epoch or a caller bug: never mix sequences */
	evc__v2_txring_expire(t, now_ms);
	while (t->n && t->n >= t->cap) {
		t->evicted_unconfirmed += t->first_seq > t->confirmed;
		pop_oldest(t);
		t->evicted_slots++;
	}
	while (t->n && t->bytes + len > t->max_bytes) {
		t->evicted_unconfirmed += t->first_seq > t->confirmed;
		pop_oldest(t);
		t->evicted_bytes++;
	}
	uint8_t *copy = evc__malloc(len);
	if (!copy)
		return EVCAST_ENOMEM;
	memcpy(copy, data, len);
	if (t->n == 0)
		t->first_seq = seq;
	evc__v2_txslot_t *s = &t->slots[(t->head + t->n) & (t->cap - 1)];
	s->data = copy;
	s->len = (uint32_t)len;
	s->sent_ms = now_ms;
	s->rtx_ms = 0;
	t->n++;
	t->bytes += len;
	return 0;
}

int evc__v2_txring_rtx(evc__v2_txring_t *t, uint64_t seq, uint64_t now_ms, uint64_t holdoff_ms,
		       const uint8_t **data, size_t *len)
{
	evc__v2_txring_expire(t, now_ms);
	if (t->n == 0 || seq < t->first_seq || seq - t->first_seq >= t->n) {
		t->rtx_missing++;
		return EVCAST_ENOENT;
	}
	evc__v2_txslot_t *s = &t->slots[(t->head + (size_t)(seq - t->first_seq)) & (t->cap - 1)];
	if (s->rtx_ms && now_ms >= s->rtx_ms - 1 && now_ms - (s->rtx_ms - 1) < holdoff_ms) {
		t->rtx_suppressed++;
		return 0;
	}
	s->rtx_ms = now_ms + 1; /* stored +1 so that 0 means never */
	*data = s->data;
	*len = s->len;
	t->rtx_sent++;
	return 1;
}

void evc__v2_txring_span(const evc__v2_txring_t *t, uint64_t *oldest, uint64_t *newest)
{
	*oldest = t->n ? t->first_seq : 0;
	*newest = t->n ? t->first_seq + t->n - 1 : 0;
}

/* ---------------------------------------------------------------- receiver gaps */

void evc__v2_gaps_init(evc__v2_gaps_t *g, uint64_t nak_delay_ms, uint64_t give_up_ms, unsigned max_tries,
		       void (*on_loss)(void *ud, uint64_t epoch, uint64_t first, uint64_t last), void *ud)
{
	memset(g, 0, sizeof(*g));
	g->nak_delay_ms = nak_delay_ms;
	g->give_up_ms = give_up_ms;
	g->max_tries = max_tries ? max_tries : 1;
	g->on_loss = on_loss;
	g->ud = ud;
}

static void report(evc__v2_gaps_t *g, uint64_t first, uint64_t last)
{
	g->lost += last - first + 1;
	if (g->on_loss)
		g->on_loss(g->ud, g->epoch, first, last);
}

static void lose(evc__v2_gaps_t *g, size_t i)
{
	evc__v2_gap_t *p = &g->gaps[i];
	g->missing -= p->last - p->first + 1;
	report(g, p->first, p->last);
	memmove(&g->gaps[i], &g->gaps[i + 1], (g->ngaps - i - 1) * sizeof(g->gaps[0]));
	g->ngaps--;
}

static void lose_all(evc__v2_gaps_t *g)
{
	while (g->ngaps)
		lose(g, 0);
}

static void open_gap(evc__v2_gaps_t *g, uint64_t first, uint64_t last, uint64_t now_ms)
{
	uint64_t count = last - first + 1;
	if (count > EVC_V2_MAX_MISSING) {
		report(g, first, last - EVC_V2_MAX_MISSING);
		g->overflow++;
		first = last - EVC_V2_MAX_MISSING + 1;
		count = EVC_V2_MAX_MISSING;
	}
	while (g->ngaps && (g->ngaps >= EVC_V2_MAX_GAPS || g->missing + count > EVC_V2_MAX_MISSING)) {
		lose(g, 0);
		g->overflow++;
	}
	evc__v2_gap_t *p = &g->gaps[g->ngaps++];
	p->first = first;
	p->last = last;
	p->opened_ms = now_ms;
	p->next_nak_ms = now_ms + g->nak_delay_ms;
	p->tries = 0;
	g->missing += count;
}

/* Epoch handling shared by seen/announce: true when the caller should stop. */
static bool new_epoch(evc__v2_gaps_t *g, uint64_t epoch, uint64_t highest)
{
	if (epoch == g->epoch && g->highest)
		return false;
	if (epoch < g->epoch)
		return true; /* stale (the replay window rejects these first) */
	lose_all(g);
	g->epoch = epoch;
	g->highest = highest;
	return true;
}

void evc__v2_gaps_clock(evc__v2_gaps_t *g, uint64_t epoch, uint64_t ts_us, uint64_t now_us)
{
	if (epoch == g->clock_epoch)
		return; /* judged once per sender epoch, on its first datagram */
	uint64_t their_up = ts_us > epoch ? ts_us - epoch : 0;
	uint64_t our_up = now_us > g->own_epoch ? now_us - g->own_epoch : 0;
	g->clock_epoch = epoch;
	g->clock_early = g->own_epoch && their_up > our_up; /* a tie: ask (a NAK too many, not a loss unseen) */
}

/* True when the sender of epoch started after this receiver: the seqs it sent
 * before the first one seen here were sent while we listened. Its own clock
 * decides when evc__v2_gaps_clock judged it (uptimes, immune to skew); else
 * the boot epochs of two clocks are compared. */
static bool started_after_us(const evc__v2_gaps_t *g, uint64_t epoch)
{
	if (epoch == g->clock_epoch)
		return !g->clock_early;
	return epoch >= g->own_epoch;
}

int evc__v2_gaps_seen(evc__v2_gaps_t *g, uint64_t epoch, uint64_t seq, uint64_t now_ms)
{
	if (new_epoch(g, epoch, seq)) {
		/* the first seq of an epoch, near its start, from a sender that
		 * started after we did: what came before it was lost or is still on
		 * its way. A sender that was up before us (we joined late) sent its
		 * early datagrams before we listened: nothing to recover, no loss. */
		if (epoch == g->epoch && seq > 1 && seq <= EVC_V2_START_GAP && started_after_us(g, epoch))
			open_gap(g, 1, seq - 1, now_ms);
		return 0;
	}
	if (seq > g->highest) {
		if (seq > g->highest + 1)
			open_gap(g, g->highest + 1, seq - 1, now_ms);
		g->highest = seq;
		return 0;
	}
	for (size_t i = 0; i < g->ngaps; i++) {
		evc__v2_gap_t *p = &g->gaps[i];
		if (seq < p->first)
			break;
		if (seq > p->last)
			continue;
		g->missing--;
		g->recovered++;
		if (p->first == p->last) {
			memmove(&g->gaps[i], &g->gaps[i + 1], (g->ngaps - i - 1) * sizeof(g->gaps[0]));
			g->ngaps--;
		} else if (seq == p->first) {
			p->first++;
		} else if (seq == p->last) {
			p->last--;
		} else {
			if (g->ngaps >= EVC_V2_MAX_GAPS) {
				if (i == 0) { /* the oldest gap is this one: lose its lower part */
					g->missing -= seq - p->first;
					report(g, p->first, seq - 1);
					p->first = seq + 1;
					g->overflow++;
					return 1;
				}
				lose(g, 0);
				g->overflow++;
				i--;
				p = &g->gaps[i];
			}
			memmove(&g->gaps[i + 1], &g->gaps[i], (g->ngaps - i) * sizeof(g->gaps[0]));
			g->ngaps++;
			g->gaps[i].last = seq - 1;
			g->gaps[i + 1].first = seq + 1;
		}
		return 1;
	}
	return -EVC_V2_R_LATE;
}

bool evc__v2_gaps_contains(const evc__v2_gaps_t *g, uint64_t epoch, uint64_t seq)
{
	if (epoch != g->epoch || seq > g->highest)
		return false;
	for (size_t i = 0; i < g->ngaps; i++) {
		if (seq < g->gaps[i].first)
			return false;
		if (seq <= g->gaps[i].last)
			return true;
	}
	return false;
}

void evc__v2_gaps_announce(evc__v2_gaps_t *g, uint64_t epoch, const evc__v2_announce_t *a, uint64_t now_ms)
{
	if (a->last_seq == 0)
		return;
	if (new_epoch(g, epoch, a->last_seq)) {
		if (epoch == g->epoch && a->last_seq <= EVC_V2_START_GAP && started_after_us(g, epoch))
			open_gap(g, 1, a->last_seq, now_ms); /* as in gaps_seen: a sender just started */
	} else if (a->last_seq > g->highest) {
		open_gap(g, g->highest + 1, a->last_seq, now_ms);
		g->highest = a->last_seq;
	}
	/* gaps the sender no longer holds are lost now (oldest 0: it holds nothing) */
	uint64_t floor = a->oldest_seq ? a->oldest_seq : a->last_seq + 1;
	while (g->ngaps && g->gaps[0].first < floor) {
		evc__v2_gap_t *p = &g->gaps[0];
		if (p->last < floor) {
			lose(g, 0);
		} else {
			g->missing -= floor - p->first;
			report(g, p->first, floor - 1);
			p->first = floor;
		}
	}
}

static uint64_t backoff_ms(unsigned tries)
{
	uint64_t d = UINT64_C(20) << (tries > 4 ? 4 : tries - 1);
	return d > 200 ? 200 : d;
}

int evc__v2_gaps_poll(evc__v2_gaps_t *g, uint64_t now_ms, evc__v2_nak_t *nak)
{
	nak->nranges = 0;
	for (size_t i = 0; i < g->ngaps;) {
		evc__v2_gap_t *p = &g->gaps[i];
		bool due = p->next_nak_ms <= now_ms;
		bool too_old = now_ms >= p->opened_ms && now_ms - p->opened_ms >= g->give_up_ms;
		if (too_old || (due && p->tries >= g->max_tries)) {
			lose(g, i);
			continue;
		}
		if (due && nak->nranges < EVC_V2_NAK_MAX_RANGES) {
			nak->ranges[nak->nranges].first = p->first;
			nak->ranges[nak->nranges].count = (uint32_t)(p->last - p->first + 1);
			nak->nranges++;
			p->tries++;
			p->next_nak_ms = now_ms + backoff_ms(p->tries);
		}
		i++;
	}
	if (nak->nranges)
		g->naks++;
	return nak->nranges;
}

uint64_t evc__v2_gaps_next_ms(const evc__v2_gaps_t *g)
{
	uint64_t t = UINT64_MAX;
	for (size_t i = 0; i < g->ngaps; i++) {
		uint64_t give = g->gaps[i].opened_ms + g->give_up_ms;
		uint64_t n = g->gaps[i].next_nak_ms < give ? g->gaps[i].next_nak_ms : give;
		if (n < t)
			t = n;
	}
	return t;
}

void evc__v2_gaps_expire(evc__v2_gaps_t *g, uint64_t now_ms)
{
	for (size_t i = 0; i < g->ngaps;) {
		if (now_ms >= g->gaps[i].opened_ms && now_ms - g->gaps[i].opened_ms >= g->give_up_ms)
			lose(g, i);
		else
			i++;
	}
}

bool evc__v2_gaps_lose_oldest(evc__v2_gaps_t *g)
{
	if (!g->ngaps)
		return false;
	lose(g, 0);
	g->overflow++;
	return true;
}
