/*
 * control_auth.c -- the event socket's guard before auth: bounds on
 * unauthenticated TCP connections and a growing delay after failed auths,
 * per source address (issue 13, finding 6).
 *
 * Owns, per guarded listener, the list of its unauthenticated connections
 * (oldest first) and a bounded table of source addresses (IPv4, or IPv6 by
 * /64: what one host commonly holds), each with its unauthenticated
 * connections and recent failures. Rules:
 * - Admission: when a client's address is at max-unauthenticated-per-address,
 *   that address's oldest unauthenticated connection is closed; else, when the
 *   listener is at max-unauthenticated, the oldest one of the address holding
 *   the most. A flood displaces itself first; authenticated clients are never
 *   touched.
 * - Failures: after n failures (forgotten after PA_FORGET_MS without one, or
 *   at a success) the -ERR goes out after min(delay * 2^(n-1), max), and no
 *   other attempt from that address is answered before then: one answer per
 *   delay per address, whatever the number of connections. Held answers are
 *   states released by one libuv timer (evcd_control_t.pa_timer), never a
 *   sleep; a connection with an answer held reads nothing more.
 * - Log lines (failures, evictions) are rate-limited with a count of those
 *   left out; the address in them is formatted here from the socket address,
 *   so no network text reaches the log.
 * Nothing here frees a connection: closing goes through control.c. Sections:
 * addresses; admission; auth and delays; the timer; guard lifetime.
 */
#include "control_int.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#ifndef EVCD_PREAUTH_HISTORY
#define EVCD_PREAUTH_HISTORY 1024u /* addresses remembered beyond those with connections open */
#endif
#define PA_FORGET_MS (10u * 60u * 1000u) /* failures forgotten after 10 minutes without one */

typedef struct pa_addr {
	uint8_t key[16];  /* IPv4: 4 bytes; IPv6: the /64 prefix (8 bytes); the rest zero */
	uint8_t family;   /* AF_INET, AF_INET6; 0: a free slot */
	uint32_t nconns;  /* unauthenticated connections open now */
	uint32_t nheld;   /* of which an attempt is held (PA_HELD) */
	uint32_t failures;
	uint64_t used_ms, last_fail_ms, hold_until_ms; /* wall clock */
} pa_addr_t;

struct evcd_preauth {
	listener_t *lis;
	conn_t *head, *tail; /* unauthenticated connections, oldest first */
	size_t n;
	size_t cap;          /* max-unauthenticated + 1 + EVCD_PREAUTH_HISTORY */
	pa_addr_t *addrs;
	evc__ratelimit_t fail_rl, evict_rl;
};

/* ------------------------------------------------------------- addresses */

/* The table key of a client address; false for a family without one. */
static bool addr_key(const struct sockaddr *sa, uint8_t *family, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		*family = AF_INET;
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) { /* a dual-stack listener: the IPv4 host */
			memcpy(key, a->s6_addr + 12, 4);
			*family = AF_INET;
		} else {
			memcpy(key, a->s6_addr, 8);
			*family = AF_INET6;
		}
		return true;
	}
	return false;
}

/* "192.0.2.7" or "2001:db8:1:2::/64", formatted from binary: safe to log. */
static void addr_name(const pa_addr_t *a, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	inet_ntop(a->family, a->key, ip, sizeof(ip));
	snprintf(buf, cap, a->family == AF_INET6 ? "%s/64" : "%s", ip);
}

static void forget_old_failures(pa_addr_t *a, uint64_t now)
{
	if (a->failures && now - a->last_fail_ms >= PA_FORGET_MS) {
		a->failures = 0;
		a->hold_until_ms = 0;
	}
}

/* The entry of (family, key), created when asked; a new one takes a free
 * slot, else the least recently used entry without connections (counted). */
static pa_addr_t *addr_find(struct evcd_preauth *g, uint8_t family, const uint8_t *key, bool create, uint64_t now)
{
	pa_addr_t *slot = NULL, *lru = NULL;
	for (size_t i = 0; i < g->cap; i++) {
		pa_addr_t *a = &g->addrs[i];
		if (!a->family) {
			if (!slot)
				slot = a;
		} else if (a->family == family && memcmp(a->key, key, sizeof(a->key)) == 0) {
			forget_old_failures(a, now);
			a->used_ms = now;
			return a;
		} else if (!a->nconns && (!lru || a->used_ms < lru->used_ms)) {
			lru = a;
		}
	}
	if (!create)
		return NULL;
	if (!slot) {
		if (!lru) /* cannot happen: more slots than connections that pin one */
			return NULL;
		g->lis->ctl->st.auth_addresses_evicted++;
		slot = lru;
	}
	memset(slot, 0, sizeof(*slot));
	slot->family = family;
	memcpy(slot->key, key, sizeof(slot->key));
	slot->used_ms = now;
	return slot;
}

/* An entry with nothing to remember frees its slot. */
static void addr_release_if_idle(pa_addr_t *a)
{
	if (!a->nconns && !a->failures)
		a->family = 0;
}

/* True when a line may be logged; *left_out gets the lines suppressed before it. */
static bool log_allowed(evcd_control_t *ctl, evc__ratelimit_t *rl, uint64_t *left_out)
{
	if (!evc__ratelimit_allow(rl, evc__wall_ms())) {
		ctl->st.auth_log_suppressed++;
		return false;
	}
	*left_out = rl->suppressed;
	rl->suppressed = 0;
	return true;
}

/* ------------------------------------------------------------- admission */

static conn_t *oldest_of(struct evcd_preauth *g, const pa_addr_t *a)
{
	for (conn_t *c = g->head; c; c = c->pa_next)
		if (c->pa_addr == a)
			return c;
	return NULL;
}

/* The oldest connection of the address holding the most (ties: the address
 * whose connection is oldest). */
static conn_t *oldest_of_heaviest(struct evcd_preauth *g)
{
	conn_t *best = NULL;
	for (conn_t *c = g->head; c; c = c->pa_next)
		if (!best || c->pa_addr->nconns > best->pa_addr->nconns)
			best = c;
	return best;
}

static void evict(struct evcd_preauth *g, conn_t *v, const char *which, size_t limit)
{
	evcd_control_t *ctl = g->lis->ctl;
	uint64_t left_out;
	char name[64];
	ctl->st.preauth_evicted++;
	if (log_allowed(ctl, &g->evict_rl, &left_out)) {
		addr_name(v->pa_addr, name, sizeof(name));
		evcd_logf(ctl->d, EVCAST_LOG_WARNING,
			  "event socket: %s: unauthenticated connections from %s at the %s limit (%zu): closing the "
			  "oldest, client %u (%s) [%llu similar line(s) suppressed]",
			  g->lis->label, name, which, limit, v->id, v->peer, (unsigned long long)left_out);
	}
	evcd_conn_evict(v);
}

void evcd_preauth_make_room(listener_t *lis, const struct sockaddr *sa)
{
	struct evcd_preauth *g = lis->preauth;
	uint8_t family, key[16];
	pa_addr_t *a;
	conn_t *v;
	if (!g || !addr_key(sa, &family, key))
		return;
	a = addr_find(g, family, key, false, evc__wall_ms());
	while (a && a->family && a->nconns >= lis->opts.max_unauth_per_addr && (v = oldest_of(g, a)))
		evict(g, v, "per-address", lis->opts.max_unauth_per_addr);
	while (g->n >= lis->opts.max_unauth && (v = oldest_of_heaviest(g)))
		evict(g, v, "listener's", lis->opts.max_unauth);
}

void evcd_preauth_add(conn_t *c, const struct sockaddr *sa)
{
	struct evcd_preauth *g = c->lis->preauth;
	uint8_t family, key[16];
	pa_addr_t *a;
	if (!g || !addr_key(sa, &family, key) || !(a = addr_find(g, family, key, true, evc__wall_ms())))
		return;
	c->pa_addr = a;
	c->auth_state = PA_IDLE;
	a->nconns++;
	c->pa_prev = g->tail;
	c->pa_next = NULL;
	if (g->tail)
		g->tail->pa_next = c;
	else
		g->head = c;
	g->tail = c;
	g->n++;
	g->lis->ctl->st.unauthenticated++;
}

void evcd_preauth_forget(conn_t *c)
{
	struct evcd_preauth *g = c->lis->preauth;
	pa_addr_t *a = c->pa_addr;
	if (!g || !a)
		return;
	if (c->auth_state == PA_HELD)
		a->nheld--;
	c->auth_state = PA_IDLE;
	if (c->pa_prev)
		c->pa_prev->pa_next = c->pa_next;
	else
		g->head = c->pa_next;
	if (c->pa_next)
		c->pa_next->pa_prev = c->pa_prev;
	else
		g->tail = c->pa_prev;
	c->pa_prev = c->pa_next = NULL;
	c->pa_addr = NULL;
	g->n--;
	g->lis->ctl->st.unauthenticated--;
	a->nconns--;
	addr_release_if_idle(a);
}

/* ------------------------------------------------------- auth and delays */

bool evcd_auth_password_ok(const evcd_listener_opts_t *o, const char *password)
{
	size_t n, m;
	unsigned diff;
	if (!o->require_password)
		return true;
	n = strlen(password);
	m = o->password ? strlen(o->password) : 0;
	diff = (unsigned)(n ^ m);
	for (size_t i = 0; i < n; i++) /* the time depends on the attempt's length only */
		diff |= (unsigned char)password[i] ^ (unsigned char)(m ? o->password[i % m] : 0);
	return diff == 0;
}

/* The delay after the nth failure: delay * 2^(n-1), at most max; 0 when off. */
static uint64_t fail_delay(const evcd_listener_opts_t *o, uint32_t n)
{
	uint64_t d = o->fail_delay_ms;
	if (!d || !n)
		return 0;
	for (uint32_t i = 1; i < n && d < o->fail_delay_max_ms; i++)
		d *= 2;
	return d < o->fail_delay_max_ms ? d : o->fail_delay_max_ms;
}

static void timer_arm(evcd_control_t *ctl);

static void hold(conn_t *c)
{
	if (!c->auth_wait) {
		c->auth_wait = true;
		uv_read_stop(&c->u.s);
		c->ctl->st.auth_delayed++;
	}
}

/* FreeSWITCH's answer to a wrong password, then close. */
static void deny_now(conn_t *c)
{
	evcd_preauth_forget(c);
	evcd_conn_reply(c, "-ERR invalid");
	evcd_conn_send(c, DISCONNECT_NOTICE, sizeof(DISCONNECT_NOTICE) - 1);
	evcd_conn_close_after_flush(c);
}

static void log_failure(conn_t *c, const pa_addr_t *a, uint64_t delay)
{
	struct evcd_preauth *g = c->lis->preauth;
	uint64_t left_out;
	char name[64];
	if (!log_allowed(c->ctl, &g->fail_rl, &left_out))
		return;
	addr_name(a, name, sizeof(name));
	evcd_logf(c->ctl->d, EVCAST_LOG_WARNING,
		  "event socket: %s: authentication failed from %s (client %u, %s): failure %u from this address, "
		  "answered in %llu ms [%llu similar line(s) suppressed]",
		  g->lis->label, name, c->id, c->peer, a->failures, (unsigned long long)delay,
		  (unsigned long long)left_out);
}

/* Tells c the result of its attempt: +OK now (its held commands then run),
 * or -ERR after the address's delay. */
static void answer(conn_t *c, bool ok, uint64_t now)
{
	pa_addr_t *a = c->pa_addr;
	uint64_t d;
	if (ok) {
		a->failures = 0;
		a->hold_until_ms = 0;
		c->authed = true;
		evcd_preauth_forget(c);
		evcd_conn_reply(c, "+OK accepted");
		if (c->auth_wait) {
			c->auth_wait = false;
			evcd_conn_resume(c);
		}
		return;
	}
	c->ctl->st.auth_failures++;
	a->failures++;
	a->last_fail_ms = now;
	d = fail_delay(&c->lis->opts, a->failures);
	a->hold_until_ms = now + d;
	log_failure(c, a, d);
	if (!d) {
		deny_now(c);
		return;
	}
	c->auth_state = PA_DENIED;
	c->auth_due_ms = now + d;
	hold(c);
	timer_arm(c->ctl);
}

void evcd_preauth_auth(conn_t *c, const char *password)
{
	bool ok = evcd_auth_password_ok(&c->lis->opts, password);
	pa_addr_t *a = c->pa_addr;
	uint64_t now = evc__wall_ms();
	if (!a) { /* not counted (no table slot): answered at once, as without a guard */
		if (ok) {
			c->authed = true;
			evcd_conn_reply(c, "+OK accepted");
		} else {
			c->ctl->st.auth_failures++;
			deny_now(c);
		}
		return;
	}
	forget_old_failures(a, now);
	if (now < a->hold_until_ms || a->nheld) { /* its address waits: after the others, one per delay */
		c->auth_state = PA_HELD;
		c->auth_ok = ok;
		a->nheld++;
		hold(c);
		timer_arm(c->ctl);
		return;
	}
	answer(c, ok, now);
}

/* -------------------------------------------------------------- the timer */

static bool waiting(const conn_t *c)
{
	return !c->closing && !c->close_after_flush && (c->auth_state == PA_HELD || c->auth_state == PA_DENIED);
}

static uint64_t due_ms(const conn_t *c)
{
	return c->auth_state == PA_DENIED ? c->auth_due_ms : c->pa_addr->hold_until_ms;
}

/* The oldest waiting connection whose answer is due at now, or NULL. */
static conn_t *next_due(evcd_control_t *ctl, uint64_t now)
{
	for (listener_t *l = ctl->listeners; l; l = l->next)
		for (conn_t *c = l->preauth ? l->preauth->head : NULL; c; c = c->pa_next)
			if (waiting(c) && due_ms(c) <= now)
				return c;
	return NULL;
}

static void on_pa_timer(uv_timer_t *t)
{
	evcd_control_t *ctl = t->data;
	conn_t *c;
	uint64_t now = evc__wall_ms();
	/* from the head each time: an answer may run commands that close others */
	while ((c = next_due(ctl, now))) {
		if (c->auth_state == PA_DENIED) {
			deny_now(c);
		} else {
			c->auth_state = PA_IDLE;
			c->pa_addr->nheld--;
			answer(c, c->auth_ok, now); /* a failure moves the address's deadline on */
		}
	}
	timer_arm(ctl);
}

/* The timer at the earliest answer due, or stopped. */
static void timer_arm(evcd_control_t *ctl)
{
	uint64_t due = UINT64_MAX, now;
	if (!ctl->pa_timer_on)
		return;
	for (listener_t *l = ctl->listeners; l; l = l->next)
		for (conn_t *c = l->preauth ? l->preauth->head : NULL; c; c = c->pa_next)
			if (waiting(c) && due_ms(c) < due)
				due = due_ms(c);
	if (due == UINT64_MAX) {
		uv_timer_stop(&ctl->pa_timer);
		return;
	}
	now = evc__wall_ms();
	uv_update_time(ctl->d->loop); /* so the timer does not start from a stale loop time */
	uv_timer_start(&ctl->pa_timer, on_pa_timer, due > now ? due - now : 0, 0);
}

void evcd_preauth_timer_init(evcd_control_t *ctl)
{
	if (ctl->pa_timer_on)
		return;
	uv_timer_init(ctl->d->loop, &ctl->pa_timer);
	ctl->pa_timer.data = ctl;
	ctl->open_handles++;
	ctl->pa_timer_on = true;
	uv_unref((uv_handle_t *)&ctl->pa_timer);
}

/* --------------------------------------------------------- guard lifetime */

struct evcd_preauth *evcd_preauth_new(listener_t *lis)
{
	struct evcd_preauth *g = evc__calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->lis = lis;
	g->cap = lis->opts.max_unauth + 1 + EVCD_PREAUTH_HISTORY;
	if (!(g->addrs = evc__calloc(g->cap, sizeof(*g->addrs)))) {
		evc__free(g);
		return NULL;
	}
	evc__ratelimit_init(&g->fail_rl, 5, 1);
	evc__ratelimit_init(&g->evict_rl, 5, 1);
	return g;
}

void evcd_preauth_free(struct evcd_preauth *g)
{
	if (g) {
		evc__free(g->addrs);
		evc__free(g);
	}
}
