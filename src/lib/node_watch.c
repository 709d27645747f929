/*
 * node_watch.c -- the node's writability and its writable watchers (evcast.h
 * section 8: evcast_node_writable, evcast_node_try_fire,
 * evcast_node_watch_writable, evcast_node_unwatch_writable).
 *
 * Writable is the v2 flow-control window (node_v2.c's evc__node_v2_writable)
 * and, for tests only, evc__node_test_block. Watchers are one-shot, bounded
 * (EVC__WATCH_MAX, refusals counted), kept in arm order, and only ever run
 * from the node's uv_idle_t (watch_idle, closed with the node): never from
 * inside watch_writable, never re-entrantly. A pass runs the watchers armed
 * before it, in order, and stops as soon as the window closes again (the rest
 * wait for the next evc__node_writable_changed); a watcher armed from a
 * callback runs at the earliest on the next loop turn. Closing the node drops
 * the watchers without calling them. Sections: writable, watchers, lifecycle.
 */
#include "node_internal.h"
#include <limits.h>
#include <string.h>

/* ---------------------------------------------------------------- writable */

int evcast_node_writable(const evcast_node_t *n)
{
	return !n->wr_test_blocked && evc__node_v2_writable(n) ? 1 : 0;
}

int evcast_node_try_fire(evcast_node_t *n, evcast_event_t *ev)
{
	if (!n || !ev)
		return EVCAST_EINVAL;
	if (!evcast_node_writable(n)) {
		n->stats.fire_eagain++; /* the caller keeps ev */
		return EVCAST_EAGAIN;
	}
	return evcast_node_fire(n, ev);
}

/* --------------------------------------------------------------- watchers */

static void on_watch_idle(uv_idle_t *h);

static void schedule(evcast_node_t *n)
{
	if (n->watch_idle_on || n->state == EVC__NODE_CLOSING || n->nwatch == 0)
		return;
	uv_idle_start(&n->watch_idle, on_watch_idle);
	n->watch_idle_on = true;
}

/* Removes the spent and cancelled entries (cb NULL), keeping the order. */
static void compact(evcast_node_t *n)
{
	size_t j = 0;
	for (size_t i = 0; i < n->nwatch; i++)
		if (n->watches[i].cb)
			n->watches[j++] = n->watches[i];
	n->nwatch = j;
}

static void on_watch_idle(uv_idle_t *h)
{
	evcast_node_t *n = h->data;
	uv_idle_stop(h);
	n->watch_idle_on = false;
	n->watch_running = true;
	size_t end = n->nwatch; /* the ones armed from a callback wait for the next turn */
	for (size_t i = 0; i < end; i++) {
		if (n->state == EVC__NODE_CLOSING || !evcast_node_writable(n))
			break;
		evc__watch_t w = n->watches[i]; /* by value: a callback may grow the array */
		if (!w.cb)
			continue;
		n->watches[i].cb = NULL; /* one-shot: the id is spent */
		n->stats.writable_watch_runs++;
		w.cb(w.ud);
	}
	n->watch_running = false;
	if (n->state == EVC__NODE_CLOSING) {
		n->nwatch = 0;
		return;
	}
	compact(n);
	if (evcast_node_writable(n))
		schedule(n);
}

int evcast_node_watch_writable(evcast_node_t *n, void (*cb)(void *ud), void *ud)
{
	if (!n || !cb)
		return EVCAST_EINVAL;
	if (n->state == EVC__NODE_CLOSING)
		return EVCAST_ESTATE;
	if (n->nwatch >= EVC__WATCH_MAX && !n->watch_running)
		compact(n);
	if (n->nwatch >= EVC__WATCH_MAX) {
		n->stats.writable_watch_refused++;
		return EVCAST_E2BIG;
	}
	if (n->nwatch == n->cwatch) {
		size_t c = n->cwatch ? 2 * n->cwatch : 16;
		if (c > EVC__WATCH_MAX)
			c = EVC__WATCH_MAX;
		evc__watch_t *v = evc__realloc(n->watches, c * sizeof(*v));
		if (!v)
			return EVCAST_ENOMEM;
		n->watches = v;
		n->cwatch = c;
	}
	if (n->next_watch_id <= 0 || n->next_watch_id == INT_MAX)
		n->next_watch_id = 0;
	int id = ++n->next_watch_id;
	n->watches[n->nwatch++] = (evc__watch_t){id, cb, ud};
	if (evcast_node_writable(n))
		schedule(n); /* writable now: the next loop turn */
	return id;
}

void evcast_node_unwatch_writable(evcast_node_t *n, int id)
{
	if (!n || id <= 0)
		return;
	for (size_t i = 0; i < n->nwatch; i++) {
		if (n->watches[i].id != id || !n->watches[i].cb)
			continue;
		n->watches[i].cb = NULL;
		if (!n->watch_running)
			compact(n);
		return;
	}
}

void evc__node_writable_changed(evcast_node_t *n)
{
	if (evcast_node_writable(n))
		schedule(n);
}

void evc__node_test_block(evcast_node_t *n, bool blocked)
{
	n->wr_test_blocked = blocked;
	if (!blocked)
		evc__node_writable_changed(n); /* as node_v2.c does when the window opens */
}

size_t evc__node_watch_count(const evcast_node_t *n)
{
	size_t k = 0;
	for (size_t i = 0; i < n->nwatch; i++)
		k += n->watches[i].cb != NULL;
	return k;
}

/* -------------------------------------------------------------- lifecycle */

void evc__node_watch_init(evcast_node_t *n)
{
	uv_idle_init(n->loop, &n->watch_idle);
	n->watch_idle.data = n;
}

/* evcast_node_close: the watchers are dropped, never called; the caller
 * closes watch_idle with the node's other handles. */
void evc__node_watch_drop(evcast_node_t *n)
{
	if (n->watch_running) {
		for (size_t i = 0; i < n->nwatch; i++)
			n->watches[i].cb = NULL; /* the running pass stops at the state check */
		return;
	}
	n->nwatch = 0;
}

void evc__node_watch_free(evcast_node_t *n)
{
	evc__free(n->watches);
	n->watches = NULL;
	n->nwatch = n->cwatch = 0;
}
