/*
 * v2flow.c -- evcast wire protocol v2: receiver-driven flow control
 * (docs/PROTOCOL.md 14), the pure state v2proto.c drives.
 *
 * Owns, sender side: the flow-control set (receivers that sent STATUS,
 * bounded, sorted by node id), its window limit (min of delivered + window)
 * and confirmed floor (min of delivered), members leaving after silence and
 * members dropped for max-lag (holding the window: its limit stopped the
 * sender, and it has not moved since, for max-lag).
 * Receiver side: when a STATUS is due (periodic, or at once when delivery
 * moved or the window opened by a quarter).
 * Must not: do I/O, read a clock, know about datagrams. Time is passed in
 * (milliseconds); every refusal and every removal is counted.
 */
#include "v2.h"
#include <string.h>

/* ---------------------------------------------------------------- sender set */

int evc__v2_fc_init(evc__v2_fc_t *fc, size_t cap, uint64_t timeout_ms, uint64_t max_lag_ms)
{
	memset(fc, 0, sizeof(*fc));
	if (cap == 0)
		return EVCAST_EINVAL;
	fc->m = evc__calloc(cap, sizeof(*fc->m));
	if (!fc->m)
		return EVCAST_ENOMEM;
	fc->cap = cap;
	fc->timeout_ms = timeout_ms;
	fc->max_lag_ms = max_lag_ms;
	return 0;
}

void evc__v2_fc_free(evc__v2_fc_t *fc)
{
	evc__free(fc->m);
	fc->m = NULL;
	fc->n = fc->cap = 0;
}

static size_t member_index(const evc__v2_fc_t *fc, const uint8_t *node, bool *found)
{
	size_t lo = 0, hi = fc->n;
	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(fc->m[mid].node_id, node, EVC_V2_NODE_ID_LEN);
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

int evc__v2_fc_status(evc__v2_fc_t *fc, const uint8_t node[EVC_V2_NODE_ID_LEN], uint64_t epoch,
		      uint64_t delivered, uint32_t window, uint64_t sent, uint64_t now_ms)
{
	bool found;
	size_t i = member_index(fc, node, &found);
	if (delivered > sent)
		delivered = sent; /* confirms what was never sent: a restart of ours, or forged */
	if (window > EVC_V2_FC_MAX_WINDOW)
		window = EVC_V2_FC_MAX_WINDOW;
	evc__v2_fc_member_t *m;
	if (!found) {
		if (fc->n >= fc->cap) {
			fc->full++;
			return EVCAST_E2BIG;
		}
		memmove(&fc->m[i + 1], &fc->m[i], (fc->n - i) * sizeof(*fc->m));
		fc->n++;
		m = &fc->m[i];
		memset(m, 0, sizeof(*m));
		memcpy(m->node_id, node, EVC_V2_NODE_ID_LEN);
		m->epoch = epoch;
		m->delivered = delivered;
		m->limit = delivered + window;
		m->heard_ms = m->progress_ms = now_ms;
		fc->joins++;
		return 1;
	}
	m = &fc->m[i];
	if (epoch != m->epoch) { /* the receiver restarted: what it confirms starts again */
		m->epoch = epoch;
		m->delivered = delivered;
		m->out = false;
		m->progress_ms = now_ms;
	} else if (delivered < m->delivered) {
		m->heard_ms = now_ms; /* alive, but an older report than one already seen */
		return 0;
	}
	m->delivered = delivered;
	m->limit = delivered + window;
	if (m->limit > sent)
		m->progress_ms = now_ms; /* its window does not stop the sender */
	m->heard_ms = now_ms;
	if (m->out && delivered >= m->rejoin) {
		m->out = false; /* past what it held when dropped: counted again */
		m->progress_ms = now_ms;
	}
	return 0;
}

size_t evc__v2_fc_count(const evc__v2_fc_t *fc)
{
	size_t c = 0;
	for (size_t i = 0; i < fc->n; i++)
		c += !fc->m[i].out;
	return c;
}

uint64_t evc__v2_fc_limit(const evc__v2_fc_t *fc)
{
	uint64_t l = UINT64_MAX;
	for (size_t i = 0; i < fc->n; i++)
		if (!fc->m[i].out && fc->m[i].limit < l)
			l = fc->m[i].limit;
	return l;
}

uint64_t evc__v2_fc_confirmed(const evc__v2_fc_t *fc)
{
	uint64_t c = UINT64_MAX;
	for (size_t i = 0; i < fc->n; i++)
		if (!fc->m[i].out && fc->m[i].delivered < c)
			c = fc->m[i].delivered;
	return c;
}

void evc__v2_fc_sending(evc__v2_fc_t *fc, uint64_t seq, uint64_t now_ms)
{
	for (size_t i = 0; i < fc->n; i++)
		if (fc->m[i].limit >= seq)
			fc->m[i].progress_ms = now_ms; /* seq inside its window: not holding it */
}

size_t evc__v2_fc_sweep(evc__v2_fc_t *fc, uint64_t sent, uint64_t now_ms,
			void (*cb)(void *ud, const evc__v2_fc_member_t *m, uint64_t lag_ms), void *ud)
{
	size_t removed = 0, j = 0;
	for (size_t i = 0; i < fc->n; i++) {
		evc__v2_fc_member_t *m = &fc->m[i];
		if (now_ms > m->heard_ms && now_ms - m->heard_ms > fc->timeout_ms) {
			fc->left++;
			removed++;
			continue;
		}
		if (m->limit > sent)
			m->progress_ms = now_ms;
		if (!m->out && m->limit <= sent && now_ms > m->progress_ms && now_ms - m->progress_ms > fc->max_lag_ms) {
			m->out = true;
			m->rejoin = sent;
			fc->dropped++;
			removed++;
			if (cb)
				cb(ud, m, now_ms - m->progress_ms);
		}
		if (j != i)
			fc->m[j] = *m;
		j++;
	}
	fc->n = j;
	return removed;
}

uint64_t evc__v2_fc_next_ms(const evc__v2_fc_t *fc, uint64_t sent)
{
	uint64_t next = UINT64_MAX;
	for (size_t i = 0; i < fc->n; i++) {
		const evc__v2_fc_member_t *m = &fc->m[i];
		uint64_t t = m->heard_ms + fc->timeout_ms + 1;
		if (!m->out && m->limit <= sent && m->progress_ms + fc->max_lag_ms + 1 < t)
			t = m->progress_ms + fc->max_lag_ms + 1;
		if (t < next)
			next = t;
	}
	return next;
}

bool evc__v2_fc_room(const evc__v2_fc_t *fc, const evc__v2_txring_t *ring, uint64_t seq, size_t dgram)
{
	if (!fc->n || seq > evc__v2_fc_limit(fc))
		return !fc->n;
	return !(ring->n && ring->first_seq > evc__v2_fc_confirmed(fc) &&
		 (ring->n + 1 > ring->cap || ring->bytes + dgram > ring->max_bytes));
}

/* ---------------------------------------------------------------- receiver */

uint64_t evc__v2_fcrx_delivered(const evc__v2_gaps_t *g, uint64_t first_held)
{
	uint64_t d = g->highest;
	if (g->ngaps && g->gaps[0].first - 1 < d)
		d = g->gaps[0].first - 1;
	if (first_held && first_held - 1 < d)
		d = first_held - 1;
	return d;
}

uint32_t evc__v2_fcrx_window(uint32_t full, uint64_t ahead, size_t free_bytes, size_t free_items, size_t dgram)
{
	uint64_t fr = free_bytes / (dgram ? dgram : 1);
	if (free_items < fr)
		fr = free_items;
	return ahead + fr < full ? (uint32_t)(ahead + fr) : full;
}

bool evc__v2_fcrx_due(const evc__v2_fcrx_t *r, uint64_t delivered, uint32_t window, uint32_t full, uint64_t now_ms)
{
	if (!r->capable)
		return false;
	if (!r->sent_any || now_ms >= r->next_ms)
		return true;
	uint32_t q = full / 4 ? full / 4 : 1;
	return delivered >= r->delivered + q || (window > r->window && window - r->window >= q);
}

void evc__v2_fcrx_sent(evc__v2_fcrx_t *r, uint64_t delivered, uint32_t window, uint64_t interval_ms,
		       uint64_t now_ms)
{
	r->sent_any = true;
	r->delivered = delivered;
	r->window = window;
	r->next_ms = now_ms + (r->data_ms + 1000 > now_ms ? interval_ms : 1000);
}
