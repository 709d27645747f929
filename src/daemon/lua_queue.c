/*
 * lua_queue.c -- the two crossings between the loop thread and script threads.
 *
 * Loop -> scripts: evcd_lua_on_event (a node subscriber, loop thread) copies
 * each event into the bounded queue of every consumer whose bindings select it;
 * a full queue drops the event and counts it per consumer. Script threads pop.
 * Scripts -> loop: fire and api requests go into one bounded request queue and
 * wake the loop through a uv_async_t; api callers block on their script's
 * condition until evcd_lua_on_async answers; a fired event also goes to the
 * sidecar's FreeSWITCH (evcd_sidecar_inject, here on the loop thread, never
 * from a script thread). A fire waits while the node is not writable
 * (back-pressure, issue 12): it stays at the head of the request queue, the
 * queue fills, and fire() waits for room up to FIRE_WAIT_MS, then drops and
 * counts (fire_dropped), as when the loop is slow. Sections: consumers, loop-side
 * delivery, requests, sleeping. Everything shared is guarded by l->mu.
 */
#include <string.h>
#include "lua_int.h"

#define REQS_PER_WAKEUP 256       /* cap per async callback (loop starvation) */
#define FIRE_WAIT_MS 1000         /* how long fire() waits for room */

/* Absolute deadline helpers on the monotonic clock (uv_hrtime, ns). */
static uint64_t now_ns(void) { return uv_hrtime(); }

/* Waits on cond until deadline_ns (0 = no deadline). Returns false when the
 * deadline has passed. Caller holds l->mu. */
static bool wait_until(uv_cond_t *cond, uv_mutex_t *mu, uint64_t deadline_ns)
{
	if (deadline_ns == 0) {
		uv_cond_wait(cond, mu);
		return true;
	}
	uint64_t now = now_ns();
	if (now >= deadline_ns)
		return false;
	(void)uv_cond_timedwait(cond, mu, deadline_ns - now);
	return true;
}

bool evcd_lua_stopping(const evcd_lua_t *l) { return atomic_load(&l->stopping); }

/* ---------------------------------------------------------------- consumers */

int evcd_lua_consumer_new(evcd_lua_script_t *s, size_t cap, const char *label, evcd_lua_consumer_t **out)
{
	evcd_lua_t *l = s->l;
	if (cap == 0 || cap > l->max_queue)
		cap = l->max_queue;
	evcd_lua_consumer_t *c = evc__calloc(1, sizeof(*c));
	if (!c)
		return EVCAST_ENOMEM;
	c->ring = evc__calloc(cap, sizeof(*c->ring));
	if (!c->ring || uv_cond_init(&c->cond) != 0) {
		evc__free(c->ring);
		evc__free(c);
		return EVCAST_ENOMEM;
	}
	c->s = s;
	c->cap = cap;
	evc__ratelimit_init(&c->rl, 3, 1);
	snprintf(c->label, sizeof(c->label), "%s %s", s->name, label ? label : "");

	uv_mutex_lock(&l->mu);
	int rc = 0;
	if (evcd_lua_stopping(l))
		rc = EVCAST_ESTATE;
	else if ((size_t)s->nconsumers >= l->max_consumers)
		rc = EVCAST_E2BIG;
	if (rc == 0) {
		c->id = ++l->next_consumer_id;
		c->next = l->consumers;
		if (l->consumers)
			l->consumers->prev = c;
		l->consumers = c;
		s->nconsumers++;
	}
	uv_mutex_unlock(&l->mu);
	if (rc != 0) {
		uv_cond_destroy(&c->cond);
		evc__free(c->ring);
		evc__free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int evcd_lua_consumer_bind(evcd_lua_consumer_t *c, const char *name, const char *subclass)
{
	evcd_lua_t *l = c->s->l;
	int rc = 0;
	uv_mutex_lock(&l->mu);
	if (!c->bindings)
		rc = evcast_bindings_new("", &c->bindings);
	if (rc == 0)
		rc = evcast_bindings_add(c->bindings, name, subclass);
	uv_mutex_unlock(&l->mu);
	return rc;
}

/* Caller holds l->mu. */
static void drain_ring(evcd_lua_consumer_t *c)
{
	while (c->count > 0) {
		evcast_event_free(c->ring[c->head]);
		c->ring[c->head] = NULL;
		c->head = (c->head + 1) % c->cap;
		c->count--;
	}
}

int evcd_lua_consumer_pop(evcd_lua_consumer_t *c, int64_t timeout_ms, evcast_event_t **out)
{
	evcd_lua_t *l = c->s->l;
	uint64_t deadline = timeout_ms > 0 ? now_ns() + (uint64_t)timeout_ms * 1000000u : 0;
	int rc;
	uv_mutex_lock(&l->mu);
	for (;;) {
		if (evcd_lua_stopping(l)) {
			rc = EVCAST_ESTATE;
			break;
		}
		if (c->count > 0) {
			*out = c->ring[c->head];
			c->ring[c->head] = NULL;
			c->head = (c->head + 1) % c->cap;
			c->count--;
			rc = 1;
			break;
		}
		if (timeout_ms == 0 || !wait_until(&c->cond, &l->mu, deadline)) {
			rc = 0;
			break;
		}
	}
	uv_mutex_unlock(&l->mu);
	return rc;
}

void evcd_lua_consumer_clear(evcd_lua_consumer_t *c)
{
	evcd_lua_t *l = c->s->l;
	uv_mutex_lock(&l->mu);
	drain_ring(c);
	evcast_bindings_free(c->bindings);
	c->bindings = NULL;
	uv_mutex_unlock(&l->mu);
}

void evcd_lua_consumer_stats(evcd_lua_consumer_t *c, size_t *queued, size_t *cap, uint64_t *delivered,
			     uint64_t *dropped)
{
	evcd_lua_t *l = c->s->l;
	uv_mutex_lock(&l->mu);
	*queued = c->count;
	*cap = c->cap;
	*delivered = c->delivered;
	*dropped = c->dropped;
	uv_mutex_unlock(&l->mu);
}

void evcd_lua_consumer_free(evcd_lua_consumer_t *c)
{
	if (!c)
		return;
	evcd_lua_t *l = c->s->l;
	uv_mutex_lock(&l->mu);
	if (c->prev)
		c->prev->next = c->next;
	else if (l->consumers == c)
		l->consumers = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->s->nconsumers--;
	drain_ring(c);
	uint64_t dropped = c->dropped;
	uv_mutex_unlock(&l->mu);
	if (dropped > 0)
		evcd_logf(l->d, EVCAST_LOG_NOTICE, "lua: consumer [%s] closed; it dropped %llu events (queue full)",
			  c->label, (unsigned long long)dropped);
	evcast_bindings_free(c->bindings);
	uv_cond_destroy(&c->cond);
	evc__free(c->ring);
	evc__free(c);
}

/* -------------------------------------------------------- loop-side delivery */

/* Node subscriber (loop thread): ev is borrowed; each selecting consumer gets a copy. */
void evcd_lua_on_event(void *ud, const evcast_event_t *ev)
{
	evcd_lua_t *l = ud;
	uv_mutex_lock(&l->mu);
	for (evcd_lua_consumer_t *c = l->consumers; c; c = c->next) {
		if (!c->bindings || !evcast_bindings_match(c->bindings, ev))
			continue;
		evcast_event_t *copy = c->count < c->cap ? evcast_event_dup(ev) : NULL;
		if (!copy) {
			c->dropped++;
			c->s->dropped++;
			l->events_dropped++;
			if (evc__ratelimit_allow(&c->rl, evc__wall_ms()))
				evcd_logf(l->d, EVCAST_LOG_WARNING,
					  "lua: consumer [%s] %s: dropped %s event (%llu dropped so far, max-queue %zu)",
					  c->label, c->count < c->cap ? "out of memory" : "queue full",
					  evcast_event_name(ev) ? evcast_event_name(ev) : "?",
					  (unsigned long long)c->dropped, c->cap);
			continue;
		}
		c->ring[(c->head + c->count) % c->cap] = copy;
		c->count++;
		c->delivered++;
		c->s->delivered++;
		l->events_delivered++;
		uv_cond_signal(&c->cond);
	}
	uv_mutex_unlock(&l->mu);
}

/* ------------------------------------------------------------------ requests */

/* Caller holds l->mu and has checked stopping; takes req into the queue. */
static void enqueue(evcd_lua_t *l, evcd_lua_req_t *req)
{
	req->next = NULL;
	if (l->req_tail)
		l->req_tail->next = req;
	else
		l->req_head = req;
	l->req_tail = req;
	l->nreq++;
	uv_async_send(l->async); /* only while not stopping: the handle is open */
}

int evcd_lua_fire(evcd_lua_script_t *s, evcast_event_t *ev)
{
	evcd_lua_t *l = s->l;
	evcd_lua_req_t *req = evc__calloc(1, sizeof(*req));
	if (!req) {
		evcast_event_free(ev);
		return EVCAST_ENOMEM;
	}
	req->kind = EVCD_LUA_REQ_FIRE;
	req->s = s;
	req->ev = ev;
	uint64_t deadline = now_ns() + (uint64_t)FIRE_WAIT_MS * 1000000u;
	int rc = 0;
	uv_mutex_lock(&l->mu);
	for (;;) {
		if (evcd_lua_stopping(l)) {
			rc = EVCAST_ESTATE;
			break;
		}
		if (l->nreq < l->req_cap)
			break;
		if (!wait_until(&l->req_space, &l->mu, deadline)) {
			rc = EVCAST_E2BIG;
			l->fire_dropped++;
			if (evc__ratelimit_allow(&l->fire_rl, evc__wall_ms()))
				evcd_logf(l->d, EVCAST_LOG_WARNING,
					  "lua[%s]: fire dropped: request queue full for %d ms (%llu dropped so far)",
					  s->name, FIRE_WAIT_MS, (unsigned long long)l->fire_dropped);
			break;
		}
	}
	if (rc == 0)
		enqueue(l, req);
	uv_mutex_unlock(&l->mu);
	if (rc != 0) {
		evcast_event_free(ev);
		evc__free(req);
	}
	return rc;
}

int evcd_lua_api(evcd_lua_script_t *s, const char *cmd, const char *args, char **out)
{
	evcd_lua_t *l = s->l;
	evcd_lua_req_t req = {.kind = EVCD_LUA_REQ_API, .s = s, .cmd = cmd, .args = args};
	int rc;
	*out = NULL;
	uv_mutex_lock(&l->mu);
	while (!evcd_lua_stopping(l) && l->nreq >= l->req_cap)
		uv_cond_wait(&l->req_space, &l->mu);
	if (evcd_lua_stopping(l)) {
		uv_mutex_unlock(&l->mu);
		return EVCAST_ESTATE;
	}
	enqueue(l, &req);
	while (!req.done)
		uv_cond_wait(&s->cond, &l->mu);
	rc = req.rc;
	*out = req.out;
	uv_mutex_unlock(&l->mu);
	return rc;
}

/* Caller holds l->mu: answers a request that will not run (stopping). */
static void fail_request(evcd_lua_req_t *req)
{
	if (req->kind == EVCD_LUA_REQ_FIRE) {
		evcast_event_free(req->ev);
		evc__free(req);
		return;
	}
	req->rc = EVCAST_ESTATE;
	req->out = NULL;
	req->done = true;
	uv_cond_signal(&req->s->cond);
}

void evcd_lua_fail_requests(evcd_lua_t *l)
{
	evcd_lua_req_t *req = l->req_head;
	while (req) {
		evcd_lua_req_t *next = req->next;
		fail_request(req);
		req = next;
	}
	l->req_head = l->req_tail = NULL;
	l->nreq = 0;
	if (l->inflight) {
		fail_request(l->inflight);
		l->inflight = NULL;
	}
	uv_cond_broadcast(&l->req_space);
}

/* Back-pressure: the node is not writable, so the fire at the head of the
 * queue (and what follows it, in order) waits for the watcher, which wakes
 * the async callback again. A refused watcher (too many armed) lets the fire
 * through rather than stall (the node counts the refusal). */
static void on_writable(void *ud)
{
	evcd_lua_t *l = ud;
	l->bp_watch = 0;
	evcd_pubwait_end(&l->d->pubwait[EVCD_PUB_LUA], l->bp_t0);
	if (!evcd_lua_stopping(l))
		uv_async_send(l->async);
}

static bool fire_must_wait(evcd_lua_t *l)
{
	if (l->bp_watch > 0)
		return true;
	if (!l->d->node || evcast_node_writable(l->d->node))
		return false;
	int id = evcast_node_watch_writable(l->d->node, on_writable, l);
	if (id <= 0)
		return false;
	l->bp_watch = id;
	l->bp_t0 = evcd_pubwait_begin(&l->d->pubwait[EVCD_PUB_LUA]);
	return true;
}

void evcd_lua_bp_stop(evcd_lua_t *l)
{
	if (l->bp_watch <= 0)
		return;
	if (l->d->node)
		evcast_node_unwatch_writable(l->d->node, l->bp_watch);
	l->bp_watch = 0;
	evcd_pubwait_end(&l->d->pubwait[EVCD_PUB_LUA], l->bp_t0);
}

/* Loop thread: runs queued requests, at most REQS_PER_WAKEUP per wakeup. An
 * api command may stop the daemon (and so this module) from inside; then the
 * module's memory is released here, on the way out. */
void evcd_lua_on_async(uv_async_t *h)
{
	evcd_lua_t *l = h->data;
	l->in_cb = true;
	for (int n = 0; n < REQS_PER_WAKEUP && !evcd_lua_stopping(l); n++) {
		uv_mutex_lock(&l->mu);
		evcd_lua_req_t *req = l->req_head;
		if (req && req->kind == EVCD_LUA_REQ_FIRE && fire_must_wait(l)) {
			uv_mutex_unlock(&l->mu); /* stays at the head; the watcher wakes us */
			l->in_cb = false;
			if (l->free_pending)
				evcd_lua_free(l);
			return;
		}
		if (req) {
			l->req_head = req->next;
			if (!l->req_head)
				l->req_tail = NULL;
			l->nreq--;
			if (req->kind == EVCD_LUA_REQ_API)
				l->inflight = req;
			uv_cond_broadcast(&l->req_space);
		}
		uv_mutex_unlock(&l->mu);
		if (!req)
			break;
		if (req->kind == EVCD_LUA_REQ_FIRE) {
			/* to the attached FreeSWITCH first: the node takes the event */
			evcd_sidecar_inject(l->d, req->ev);
			int rc = evcast_node_fire(l->d->node, req->ev);
			if (rc != 0)
				evcd_logf(l->d, EVCAST_LOG_WARNING, "lua[%s]: fire failed: %s", req->s->name,
					  evcast_strerror(rc));
			uv_mutex_lock(&l->mu); /* read by evcd_lua_json */
			l->fired++;
			uv_mutex_unlock(&l->mu);
			evc__free(req);
			continue;
		}
		char *out = NULL;
		int rc = evcd_api_execute(l->d, req->cmd, req->args, &out);
		uv_mutex_lock(&l->mu);
		if (l->inflight == req) { /* not already failed by a stop */
			l->inflight = NULL;
			l->api_calls++;
			req->rc = rc;
			req->out = out;
			req->done = true;
			uv_cond_signal(&req->s->cond);
			out = NULL;
		}
		uv_mutex_unlock(&l->mu);
		evcast_free(out);
	}
	bool more = false;
	if (!evcd_lua_stopping(l)) {
		uv_mutex_lock(&l->mu);
		more = l->req_head != NULL;
		uv_mutex_unlock(&l->mu);
	}
	if (more)
		uv_async_send(l->async);
	l->in_cb = false;
	if (l->free_pending)
		evcd_lua_free(l);
}

/* ------------------------------------------------------------------ sleeping */

int evcd_lua_sleep(evcd_lua_script_t *s, uint64_t ms)
{
	evcd_lua_t *l = s->l;
	uint64_t deadline = now_ns() + ms * 1000000u;
	int rc = 0;
	uv_mutex_lock(&l->mu);
	for (;;) {
		if (evcd_lua_stopping(l)) {
			rc = EVCAST_ESTATE;
			break;
		}
		if (!wait_until(&s->cond, &l->mu, deadline))
			break;
	}
	uv_mutex_unlock(&l->mu);
	return rc;
}
