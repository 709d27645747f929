/*
 * peers.c -- the peer table: who sent us HEARTBEATs, when, and whether up.
 *
 * Pure state, no I/O and no clock: callers pass the time in, so tests drive it
 * deterministically. Peers are kept sorted by name (binary search), bounded by
 * `max` (a flood of forged names cannot grow memory without limit). When the
 * table is full, a new name takes the place of the DOWN peer seen longest ago
 * (counted in `evicted`); an UP peer is never evicted, so a newcomer is
 * refused (counted in `refused`) only while every entry is UP. Names are kept
 * as received: escaping them is the job of each text sink.
 * Sections: lookup, insertion and eviction, heartbeat (up transitions),
 * sweep (down).
 */
#include "internal.h"
#include <string.h>

void evc__peers_init(evc__peers_t *t, size_t max)
{
	memset(t, 0, sizeof(*t));
	t->max = max ? max : 1024;
}

void evc__peers_free(evc__peers_t *t)
{
	for (size_t i = 0; i < t->n; i++)
		evc__free(t->v[i].name);
	evc__free(t->v);
	t->v = NULL;
	t->n = t->cap = 0;
}

/* Index of name, or of where it would be inserted (with *found = false). */
static size_t peers_search(const evc__peers_t *t, const char *name, bool *found)
{
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->v[mid].name, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

evc__peer_t *evc__peers_find(evc__peers_t *t, const char *name)
{
	bool found;
	size_t i = peers_search(t, name, &found);
	return found ? &t->v[i] : NULL;
}

/* Removes the DOWN peer seen longest ago (the smallest last_seen_ms; among
 * equals the first in name order). False when every peer is UP. */
static bool peers_evict_oldest_down(evc__peers_t *t)
{
	size_t j = SIZE_MAX;
	if (t->ndown == 0)
		return false;
	for (size_t i = 0; i < t->n; i++)
		if (!t->v[i].up && (j == SIZE_MAX || t->v[i].last_seen_ms < t->v[j].last_seen_ms))
			j = i;
	if (NEVER(j == SIZE_MAX)) /* ndown says there is one */
		return false;
	evc__free(t->v[j].name);
	memmove(&t->v[j], &t->v[j + 1], (t->n - j - 1) * sizeof(*t->v));
	t->n--;
	t->ndown--;
	t->evicted++;
	return true;
}

static evc__peer_t *peers_insert(evc__peers_t *t, const char *name)
{
	bool found;
	size_t i = peers_search(t, name, &found);
	if (found)
		return &t->v[i];
	if (t->n >= t->max) {
		if (!peers_evict_oldest_down(t)) {
			t->refused++; /* full of UP peers */
			return NULL;
		}
		i = peers_search(t, name, &found); /* the eviction moved the entries */
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		evc__peer_t *v = evc__realloc(t->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		t->v = v;
		t->cap = cap;
	}
	char *copy = evc__strdup(name);
	if (!copy)
		return NULL;
	memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(*t->v));
	memset(&t->v[i], 0, sizeof(t->v[i]));
	t->v[i].name = copy;
	t->n++;
	return &t->v[i];
}

int evc__peers_heartbeat(evc__peers_t *t, const char *name, const char *addr, uint64_t now_ms,
			 uint64_t *prev_ms)
{
	size_t before = t->n;
	uint64_t evicted = t->evicted;
	evc__peer_t *p = peers_insert(t, name);
	if (!p)
		return t->n >= t->max ? EVCAST_E2BIG : EVCAST_ENOMEM;
	/* new: the table grew, or a DOWN peer was evicted to make room for it */
	bool is_new = t->n != before || t->evicted != evicted;
	bool came_up = !p->up || is_new;
	if (!p->up && !is_new && ALWAYS(t->ndown > 0))
		t->ndown--; /* a known DOWN peer is back */
	if (prev_ms)
		*prev_ms = p->last_seen_ms;
	p->up = true;
	p->last_seen_ms = now_ms;
	if (addr) {
		strncpy(p->addr, addr, sizeof(p->addr) - 1);
		p->addr[sizeof(p->addr) - 1] = '\0';
	}
	return came_up ? 1 : 0;
}

void evc__peers_sweep(evc__peers_t *t, uint64_t now_ms, uint64_t timeout_ms,
		      void (*down)(void *ud, const evc__peer_t *p), void *ud)
{
	for (size_t i = 0; i < t->n; i++) {
		evc__peer_t *p = &t->v[i];
		if (p->up && now_ms > p->last_seen_ms && now_ms - p->last_seen_ms > timeout_ms) {
			p->up = false;
			t->ndown++;
			if (down)
				down(ud, p);
		}
	}
}
