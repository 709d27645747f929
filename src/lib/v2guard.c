/*
 * v2guard.c -- evcast wire protocol v2: what hostile senders and requesters
 * may cost a node (docs/PROTOCOL.md 9.5 and 10).
 *
 * Owns: token buckets; the receive-memory account (one bound over all
 * senders' held datagrams, per-sender state and reassembly) and the order in
 * which state is shed (least trusted first, then the longest silent); the
 * admission of NAKs (only from a requester heard in a HEARTBEAT or
 * authenticated traffic, at that address); the retransmit budgets (per
 * authenticated requester, in total, and for an unauthenticated requester at
 * most EVC_V2_PLAIN_RTX_FACTOR times the bytes it sent); the NAK rate per
 * destination address and the rule that a sender that showed nothing but a
 * gap is not NAKed. Must not: do I/O, read a clock, allocate.
 */
#include "v2guard.h"
#include <string.h>

/* ---------------------------------------------------------------- buckets */

void evc__v2_bucket_init(evc__v2_bucket_t *b, double cap, double rate_per_s, uint64_t now_us)
{
	b->tokens = b->cap = cap;
	b->rate = rate_per_s;
	b->last_us = now_us;
}

static void bucket_fill(evc__v2_bucket_t *b, uint64_t now_us)
{
	if (now_us > b->last_us) {
		b->tokens += (double)(now_us - b->last_us) * b->rate / 1e6;
		if (b->tokens > b->cap)
			b->tokens = b->cap;
		b->last_us = now_us;
	}
}

bool evc__v2_bucket_take(evc__v2_bucket_t *b, double amount, uint64_t now_us)
{
	bucket_fill(b, now_us);
	if (b->tokens < amount)
		return false;
	b->tokens -= amount;
	return true;
}

/* ------------------------------------------------------------------ setup */

void evc__v2_guard_cfg_default(evc__v2_guard_cfg_t *c)
{
	c->rx_mem = 32u << 20;
	c->max_unknown = 64;
	c->rtx_rate = 16u << 20;
	c->rtx_peer_rate = 4u << 20;
	c->nak_rate = 100;
}

void evc__v2_guard_init(evc__v2_guard_t *g, const evc__v2_guard_cfg_t *cfg, uint64_t now_us)
{
	memset(g, 0, sizeof(*g));
	g->cfg = *cfg;
	evc__v2_bucket_init(&g->rtx_total, (double)cfg->rtx_rate, (double)cfg->rtx_rate, now_us);
}

void evc__v2_pguard_init(const evc__v2_guard_t *g, evc__v2_pguard_t *pg, uint64_t now_us)
{
	memset(pg, 0, sizeof(*pg));
	evc__v2_bucket_init(&pg->rtx, (double)g->cfg.rtx_peer_rate, (double)g->cfg.rtx_peer_rate, now_us);
}

/* ---------------------------------------------------------------- trust */

static size_t addr_len(const struct sockaddr *a)
{
	return a->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* Same host: family and IP address. The port is not compared: a node sends
 * its group traffic and its NAKs from one socket, but a second socket or a
 * NAT may change it, and the IP is what a spoofer has to forge anyway. */
static bool same_host(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (b->sa_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
			       sizeof(struct in6_addr));
	return false;
}

static void set_known_addr(evc__v2_pguard_t *pg, const struct sockaddr *from)
{
	if (!from || (from->sa_family != AF_INET && from->sa_family != AF_INET6))
		return;
	memset(&pg->known_addr, 0, sizeof(pg->known_addr));
	memcpy(&pg->known_addr, from, addr_len(from));
	pg->have_known_addr = true;
}

static uint64_t credit_add(uint64_t credit, uint64_t more)
{
	uint64_t c = credit + more;
	return c > EVC_V2_PLAIN_RTX_CREDIT_MAX ? EVC_V2_PLAIN_RTX_CREDIT_MAX : c;
}

void evc__v2_guard_heard(evc__v2_pguard_t *pg, const struct sockaddr *from, size_t len, bool auth)
{
	pg->credit = credit_add(pg->credit, (uint64_t)len * EVC_V2_PLAIN_RTX_FACTOR);
	if (auth) {
		pg->trust = EVC_V2_TRUST_AUTH;
		pg->progress = true;
		set_known_addr(pg, from);
	}
}

void evc__v2_guard_known(evc__v2_pguard_t *pg, const struct sockaddr *from)
{
	pg->progress = true;
	if (pg->trust == EVC_V2_TRUST_AUTH)
		return; /* its address is the authenticated one */
	pg->trust = EVC_V2_TRUST_KNOWN;
	set_known_addr(pg, from);
}

/* The entry of host `a` in g->hosts, or NULL; with make, the least recently
 * used entry is taken for it (credit 0). */
static evc__v2_guard_host_t *host_of(evc__v2_guard_t *g, const struct sockaddr *a, bool make)
{
	size_t lru = 0;
	for (size_t i = 0; i < EVC_V2_GUARD_DESTS; i++) {
		if (g->hosts[i].used_us && same_host(&g->hosts[i].addr, a))
			return &g->hosts[i];
		if (g->hosts[i].used_us < g->hosts[lru].used_us)
			lru = i;
	}
	if (!make)
		return NULL;
	evc__v2_guard_host_t *h = &g->hosts[lru];
	memset(h, 0, sizeof(*h));
	memcpy(&h->addr, a, addr_len(a));
	return h;
}

void evc__v2_guard_host_heard(evc__v2_guard_t *g, const struct sockaddr *from, size_t len, uint64_t now_us)
{
	if (!from || (from->sa_family != AF_INET && from->sa_family != AF_INET6))
		return;
	evc__v2_guard_host_t *h = host_of(g, from, true);
	h->credit = credit_add(h->credit, (uint64_t)len * EVC_V2_PLAIN_RTX_FACTOR);
	h->used_us = now_us ? now_us : 1;
}

bool evc__v2_guard_nak_admit(evc__v2_guard_t *g, evc__v2_pguard_t *pg, const struct sockaddr *from)
{
	if (pg && from && (from->sa_family == AF_INET || from->sa_family == AF_INET6)) {
		if (pg->trust != EVC_V2_TRUST_NONE && pg->have_known_addr && same_host(&pg->known_addr, from))
			return true;
		evc__v2_guard_host_t *h = pg->trust == EVC_V2_TRUST_NONE ? host_of(g, from, false) : NULL;
		if (h) {
			evc__v2_guard_known(pg, from);
			pg->credit = credit_add(pg->credit, h->credit);
			h->credit = 0;
			return true;
		}
	}
	g->st.nak_refused++;
	return false;
}

/* ------------------------------------------------------------ retransmit */

bool evc__v2_guard_rtx(evc__v2_guard_t *g, evc__v2_pguard_t *pg, size_t len, uint64_t now_us)
{
	double n = (double)len;
	bucket_fill(&g->rtx_total, now_us);
	bool ok = g->rtx_total.tokens >= n;
	if (ok && pg->trust == EVC_V2_TRUST_AUTH) {
		bucket_fill(&pg->rtx, now_us);
		ok = pg->rtx.tokens >= n;
		if (ok)
			pg->rtx.tokens -= n;
	} else if (ok) {
		ok = pg->credit >= len; /* KNOWN, not authenticated: its own bytes times the factor */
		if (ok)
			pg->credit -= len;
	}
	if (!ok) {
		g->st.rtx_limited++;
		return false;
	}
	g->rtx_total.tokens -= n;
	g->st.rtx_bytes += len;
	return true;
}

/* ------------------------------------------------------------------ NAKs */

bool evc__v2_guard_nak_send(evc__v2_guard_t *g, const evc__v2_pguard_t *pg, const struct sockaddr *to,
			    uint64_t now_us)
{
	if (!pg->progress) {
		g->st.nak_unproven++;
		return false;
	}
	if (!to || (to->sa_family != AF_INET && to->sa_family != AF_INET6)) {
		g->st.nak_limited++;
		return false;
	}
	if (pg->trust == EVC_V2_TRUST_AUTH)
		return true; /* its address came with a sealed datagram: repair at full speed */
	size_t slot = EVC_V2_GUARD_DESTS, lru = 0;
	for (size_t i = 0; i < EVC_V2_GUARD_DESTS; i++) {
		evc__v2_guard_dest_t *d = &g->dests[i];
		if (d->used_us && same_host(&d->addr, to)) {
			slot = i;
			break;
		}
		if (d->used_us < g->dests[lru].used_us)
			lru = i;
	}
	evc__v2_guard_dest_t *d;
	if (slot == EVC_V2_GUARD_DESTS) {
		d = &g->dests[lru];
		memset(&d->addr, 0, sizeof(d->addr));
		memcpy(&d->addr, to, addr_len(to));
		evc__v2_bucket_init(&d->naks, (double)(g->cfg.nak_rate / 4 + 1), (double)g->cfg.nak_rate, now_us);
	} else {
		d = &g->dests[slot];
	}
	d->used_us = now_us ? now_us : 1;
	if (!evc__v2_bucket_take(&d->naks, 1.0, now_us)) {
		g->st.nak_limited++;
		return false;
	}
	return true;
}

/* ---------------------------------------------------------------- memory */

void evc__v2_guard_charge(evc__v2_guard_t *g, evc__v2_pguard_t *pg, long long delta)
{
	if (delta < 0) {
		size_t d = (size_t)-delta;
		g->st.mem -= ALWAYS(d <= g->st.mem) ? d : g->st.mem;
		if (pg)
			pg->mem -= ALWAYS(d <= pg->mem) ? d : pg->mem;
		return;
	}
	g->st.mem += (size_t)delta;
	if (pg)
		pg->mem += (size_t)delta;
	if (g->st.mem > g->st.mem_peak)
		g->st.mem_peak = g->st.mem;
}

bool evc__v2_guard_over(const evc__v2_guard_t *g, size_t extra, size_t other_bytes)
{
	return g->st.mem + extra + other_bytes > g->cfg.rx_mem;
}

bool evc__v2_guard_sheds_first(const evc__v2_pguard_t *a, uint64_t a_heard_us, const evc__v2_pguard_t *b,
			       uint64_t b_heard_us)
{
	if (a->trust != b->trust)
		return a->trust < b->trust;
	return a_heard_us < b_heard_us;
}
