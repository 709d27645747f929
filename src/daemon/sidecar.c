/*
 * sidecar.c -- evcastd as an event-socket client of a local FreeSWITCH.
 *
 * Configured by an optional <configuration name="sidecar.conf"> block: enabled
 * (default yes when the block exists), host (127.0.0.1), port (8021), password
 * (ClueCon), bindings ("CUSTOM sofia::register sofia::unregister sofia::expire"),
 * inject (yes), db-sync (yes), reconnect-min-ms (500), reconnect-max-ms (30000).
 * One libuv TCP connection at a time: auth, then `event plain BINDINGS`; events
 * FreeSWITCH sends are fired into the node (so they go to the cluster). Cluster
 * events the node delivers (CUSTOM multicast::event except evcastd's own
 * evcast::* traffic, multicast::peerup/peerdown, and PRESENCE_IN relayed by
 * presence.c) are injected with `sendevent`, marked
 * "evcast-injected: NODE"; an event carrying that mark is never fired back.
 * Events fired by Lua scripts are injected the same way through
 * evcd_sidecar_inject (lua_queue.c, loop thread). With
 * db-sync, registrations (registrations.c) are mirrored into mod_db: `api db
 * insert/REALM/USER/NODE_IPV4`, `api db delete/REALM/USER`; all live ones again
 * after each (re)connect. Reconnects with exponential backoff; a rejected
 * password is logged as such. While the node is not writable (back-pressure),
 * the event read last waits and FreeSWITCH's socket is not read until the
 * node's writable watcher runs (counted in publish_wait.sidecar); a waiting
 * event survives a reconnect and is dropped at stop. Output is bounded (MAX_QUEUED bytes not yet
 * written: further commands are dropped and counted). Sections: config,
 * connection, output, input, node consumer, start/stop.
 */
#include "daemon.h"
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define INJECT_HDR "evcast-injected"
#define MAX_QUEUED (16u * 1024u * 1024u)
#define MAX_HEAD (64u * 1024u)
#define MAX_BODY (8u * 1024u * 1024u)

enum sc_state { SC_IDLE, SC_CONNECTING, SC_AUTH, SC_SUBSCRIBING, SC_READY };

typedef struct sconn {
	uv_tcp_t tcp;
	uv_connect_t creq;
	struct evcd_sidecar *s; /* NULL once the sidecar let go of it */
	evcast_esl_parser_t *parser;
} sconn_t;

struct evcd_sidecar {
	evcd_t *d;
	enum sc_state state;
	sconn_t *conn;
	uv_timer_t retry;
	bool stopping;
	int sub;
	unsigned backoff_ms;
	/* config */
	char host[128], password[128], bindings[1024];
	unsigned port, min_ms, max_ms;
	bool inject, db_sync;
	/* counters */
	uint64_t connects, auth_failures, events_in, events_fired, echoes_dropped, injected, db_cmds,
		dropped_queue_full, errors_replied, local_injected;
	evc__ratelimit_t rl;
	/* back-pressure: an event from FreeSWITCH waiting for a writable node;
	 * FreeSWITCH's socket is not read meanwhile */
	evcast_event_t *bp_ev; /* owned; non-NULL while waiting */
	int bp_watch;          /* evcast_node_watch_writable id */
	uint64_t bp_t0;        /* evcd_pubwait_begin */
	bool read_paused;      /* reading of conn stopped for bp_ev */
};

/* ----------------------------------------------------------------- config */

static int copy_str(char *dst, size_t cap, const char *v)
{
	if (strlen(v) >= cap || strpbrk(v, "\r\n"))
		return -1;
	snprintf(dst, cap, "%s", v);
	return 0;
}

/* 1 when present, 0 absent, EVCAST_EINVAL on a bad value (logged). */
static int read_config(evcd_t *d, struct evcd_sidecar *s, bool *enabled)
{
	const evcast_section_t *sec = d->cfg ? evcast_config_section(d->cfg, "sidecar.conf") : NULL;
	const char *file = d->config_path ? d->config_path : "config";
	evcast_bindings_t *b;
	*enabled = true;
	snprintf(s->host, sizeof(s->host), "127.0.0.1");
	snprintf(s->password, sizeof(s->password), "ClueCon");
	snprintf(s->bindings, sizeof(s->bindings), "CUSTOM sofia::register sofia::unregister sofia::expire");
	s->port = 8021;
	s->min_ms = 500;
	s->max_ms = 30000;
	s->inject = s->db_sync = true;
	if (!sec)
		return 0;
	for (size_t i = 0; i < sec->nparams; i++) {
		const evcast_param_t *p = &sec->params[i];
		int bad = 0;
		if (!strcasecmp(p->name, "enabled"))
			bad = evc__conf_bool(p->value, enabled);
		else if (!strcasecmp(p->name, "inject"))
			bad = evc__conf_bool(p->value, &s->inject);
		else if (!strcasecmp(p->name, "db-sync"))
			bad = evc__conf_bool(p->value, &s->db_sync);
		else if (!strcasecmp(p->name, "host"))
			bad = copy_str(s->host, sizeof(s->host), p->value);
		else if (!strcasecmp(p->name, "password"))
			bad = copy_str(s->password, sizeof(s->password), p->value);
		else if (!strcasecmp(p->name, "bindings")) {
			bad = copy_str(s->bindings, sizeof(s->bindings), p->value);
			if (!bad && evcast_bindings_new(p->value, &b) == 0)
				evcast_bindings_free(b);
			else
				bad = -1;
		} else if (!strcasecmp(p->name, "port"))
			bad = evc__conf_uint(p->value, 1, 65535, &s->port);
		else if (!strcasecmp(p->name, "reconnect-min-ms"))
			bad = evc__conf_uint(p->value, 10, 600000, &s->min_ms);
		else if (!strcasecmp(p->name, "reconnect-max-ms"))
			bad = evc__conf_uint(p->value, 10, 3600000, &s->max_ms);
		else
			evcd_logf(d, EVCAST_LOG_WARNING, "%s:%d: sidecar.conf: unknown param \"%s\" ignored", file, p->line,
				  p->name);
		if (bad) {
			evcd_logf(d, EVCAST_LOG_ERR, "%s:%d: sidecar.conf: invalid value \"%s\" for %s", file, p->line,
				  !strcasecmp(p->name, "password") ? "(hidden)" : p->value, p->name);
			return EVCAST_EINVAL;
		}
	}
	if (s->max_ms < s->min_ms)
		s->max_ms = s->min_ms;
	return 1;
}

/* ------------------------------------------------------------- connection */

static void connect_now(struct evcd_sidecar *s);

static void on_conn_closed(uv_handle_t *h)
{
	sconn_t *c = h->data;
	evcast_esl_parser_free(c->parser);
	evc__free(c);
}

static void on_retry(uv_timer_t *t)
{
	connect_now(t->data);
}

/* Drops the connection (if any) and schedules the next attempt. */
static void disconnect(struct evcd_sidecar *s, const char *why)
{
	sconn_t *c = s->conn;
	s->read_paused = false; /* the next connection starts reading (on_read pauses it) */
	if (c) {
		s->conn = NULL;
		c->s = NULL;
		if (!uv_is_closing((uv_handle_t *)&c->tcp))
			uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
	}
	if (s->stopping)
		return;
	if (why && evc__ratelimit_allow(&s->rl, evc__wall_ms()))
		evcd_logf(s->d, EVCAST_LOG_WARNING, "sidecar: FreeSWITCH at %s:%u: %s; retrying in %u ms", s->host,
			  s->port, why, s->backoff_ms);
	s->state = SC_IDLE;
	uv_timer_start(&s->retry, on_retry, s->backoff_ms, 0);
	s->backoff_ms = s->backoff_ms * 2 > s->max_ms ? s->max_ms : s->backoff_ms * 2;
}

/* ----------------------------------------------------------------- output */

static void on_written(uv_write_t *w, int status)
{
	evc__free(w->data);
	evc__free(w);
}

/* Sends text (copied). Drops (and counts) when not connected or over the bound. */
static int send_text(struct evcd_sidecar *s, const char *text, size_t len)
{
	uv_write_t *w;
	char *copy;
	uv_buf_t b;
	if (!s->conn)
		return EVCAST_ESTATE;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&s->conn->tcp) + len > MAX_QUEUED) {
		s->dropped_queue_full++;
		return EVCAST_E2BIG;
	}
	if (!(w = evc__malloc(sizeof(*w))) || !(copy = evc__malloc(len))) {
		evc__free(w);
		return EVCAST_ENOMEM;
	}
	memcpy(copy, text, len);
	w->data = copy;
	b = uv_buf_init(copy, (unsigned)len);
	if (uv_write(w, (uv_stream_t *)&s->conn->tcp, &b, 1, on_written) != 0) {
		evc__free(copy);
		evc__free(w);
		return EVCAST_EIO;
	}
	return 0;
}

static void send_line(struct evcd_sidecar *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_line(struct evcd_sidecar *s, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(buf))
		send_text(s, buf, (size_t)n);
}

/* "db insert/REALM/USER/IP" or "db delete/REALM/USER": '/' or blanks in a field are not sendable. */
static bool db_field_ok(const char *v)
{
	return v && *v && !strpbrk(v, "/ \t\r\n") && strlen(v) < 256;
}

void evcd_sidecar_location(evcd_t *d, const char *realm, const char *user, const char *node_ip, bool up)
{
	struct evcd_sidecar *s = d ? d->sidecar : NULL;
	if (!s || !s->db_sync || s->state != SC_READY || !db_field_ok(realm) || !db_field_ok(user))
		return;
	if (up && !db_field_ok(node_ip))
		return;
	if (up)
		send_line(s, "api db insert/%s/%s/%s\n\n", realm, user, node_ip);
	else
		send_line(s, "api db delete/%s/%s\n\n", realm, user);
	s->db_cmds++;
}

static void sync_one(void *ud, const char *realm, const char *user, const char *node_ip)
{
	evcd_sidecar_location(ud, realm, user, node_ip, true);
}

/* Standard headers of the event's own node: FreeSWITCH adds its own. */
static bool skip_header(const char *name)
{
	return !strcasecmp(name, "Event-Name") || !strcasecmp(name, "Core-UUID") ||
	       !strcasecmp(name, "Event-Sequence") || !strncasecmp(name, "FreeSWITCH-", 11) ||
	       !strncasecmp(name, "Event-Date-", 11) || !strncasecmp(name, "Event-Calling-", 14) ||
	       !strcasecmp(name, "Content-Length");
}

/* "sendevent NAME\n" + "Name: value\n" per header (a value with a line break
 * is url-encoded) + the mark + Content-Length and body. */
static void inject(struct evcd_sidecar *s, const evcast_event_t *ev)
{
	size_t cap = 1024, len = 0, blen = 0;
	const char *name, *value, *body = evcast_event_get_body(ev, &blen);
	char *buf = evc__malloc(cap);
	bool ok = buf != NULL;
#define APPEND(...)                                                                                                \
	do {                                                                                                       \
		int n_ = snprintf(buf + len, cap - len, __VA_ARGS__);                                              \
		if (n_ < 0) {                                                                                      \
			ok = false;                                                                                \
			break;                                                                                     \
		}                                                                                                  \
		if ((size_t)n_ >= cap - len) {                                                                     \
			char *nb_;                                                                                 \
			while ((size_t)n_ >= cap - len)                                                            \
				cap *= 2;                                                                          \
			if (!(nb_ = evc__realloc(buf, cap))) {                                                     \
				ok = false;                                                                        \
				break;                                                                             \
			}                                                                                          \
			buf = nb_;                                                                                 \
			snprintf(buf + len, cap - len, __VA_ARGS__);                                               \
		}                                                                                                  \
		len += (size_t)n_;                                                                                 \
	} while (0)
	if (ok)
		APPEND("sendevent %s\n", evcast_event_name(ev));
	for (size_t i = 0; ok && evcast_event_header_at(ev, i, &name, &value) == 0; i++) {
		if (skip_header(name) || strpbrk(name, ":\r\n"))
			continue;
		if (strpbrk(value, "\r\n")) {
			char enc[4096];
			evcast_url_encode(value, strlen(value), enc, sizeof(enc));
			APPEND("%s: %s\n", name, enc);
		} else {
			APPEND("%s: %s\n", name, value);
		}
	}
	if (ok)
		APPEND("%s: %s\n", INJECT_HDR, evcast_node_name(s->d->node));
	if (ok && body && blen)
		APPEND("Content-Length: %zu\n\n%.*s", blen, (int)blen, body);
	else if (ok)
		APPEND("\n");
#undef APPEND
	if (ok && send_text(s, buf, len) == 0)
		s->injected++;
	evc__free(buf);
}

/* ------------------------------------------------------------------ input */

static void on_reply(struct evcd_sidecar *s, const char *reply)
{
	bool okr = reply && strncmp(reply, "+OK", 3) == 0;
	if (s->state == SC_AUTH) {
		if (!okr) {
			s->auth_failures++;
			evcd_logf(s->d, EVCAST_LOG_ERR,
				  "sidecar: FreeSWITCH at %s:%u rejected the password (authentication failed: %s); "
				  "check sidecar.conf password",
				  s->host, s->port, reply ? reply : "no Reply-Text");
			disconnect(s, NULL);
			return;
		}
		s->state = SC_SUBSCRIBING;
		send_line(s, "event plain %s\n\n", s->bindings);
		return;
	}
	if (s->state == SC_SUBSCRIBING) {
		if (!okr) {
			char e[256]; /* FreeSWITCH's Reply-Text: from the socket */
			evcd_logf(s->d, EVCAST_LOG_ERR, "sidecar: FreeSWITCH refused \"event plain %s\": %s", s->bindings,
				  evc__esc(reply ? reply : "no Reply-Text", e, sizeof(e)));
			disconnect(s, "subscription refused");
			return;
		}
		s->state = SC_READY;
		s->backoff_ms = s->min_ms;
		evcd_logf(s->d, EVCAST_LOG_NOTICE, "sidecar: connected to FreeSWITCH at %s:%u, subscribed to %s",
			  s->host, s->port, s->bindings);
		if (s->db_sync)
			evcd_reg_foreach_location(s->d, sync_one, s->d);
		return;
	}
	if (!okr) {
		s->errors_replied++;
		char e[256]; /* FreeSWITCH's Reply-Text: from the socket */
		if (evc__ratelimit_allow(&s->rl, evc__wall_ms()))
			evcd_logf(s->d, EVCAST_LOG_WARNING, "sidecar: FreeSWITCH answered %s",
				  evc__esc(reply ? reply : "?", e, sizeof(e)));
	}
}

static void drain(struct evcd_sidecar *s);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);

/* Back-pressure: while the node is not writable the event waits here and
 * FreeSWITCH's socket is not read (its own queue holds what follows); a
 * refused watcher (too many armed) lets the event through. */
static void on_writable(void *ud)
{
	struct evcd_sidecar *s = ud;
	evcast_event_t *ev = s->bp_ev;
	s->bp_watch = 0;
	s->bp_ev = NULL;
	evcd_pubwait_end(&s->d->pubwait[EVCD_PUB_SIDECAR], s->bp_t0);
	if (!ev)
		return;
	if (evcast_node_fire(s->d->node, ev) == 0)
		s->events_fired++;
	drain(s); /* what was read behind it, in order; may wait again */
	if (!s->bp_ev && s->conn && s->read_paused) {
		s->read_paused = false;
		if (uv_read_start((uv_stream_t *)&s->conn->tcp, on_alloc, on_read) != 0)
			disconnect(s, "cannot resume reading");
	}
}

static void fire_or_wait(struct evcd_sidecar *s, evcast_event_t *ev)
{
	int id;
	if (evcast_node_writable(s->d->node) || (id = evcast_node_watch_writable(s->d->node, on_writable, s)) <= 0) {
		if (evcast_node_fire(s->d->node, ev) == 0)
			s->events_fired++;
		return;
	}
	s->bp_ev = ev;
	s->bp_watch = id;
	s->bp_t0 = evcd_pubwait_begin(&s->d->pubwait[EVCD_PUB_SIDECAR]);
	if (s->conn && !s->read_paused) {
		uv_read_stop((uv_stream_t *)&s->conn->tcp);
		s->read_paused = true;
	}
}

static void on_fs_event(struct evcd_sidecar *s, const evcast_event_t *msg)
{
	size_t blen = 0;
	const char *body = evcast_event_get_body(msg, &blen);
	evcast_event_t *ev = NULL;
	s->events_in++;
	if (!body || evcast_event_from_plain(body, blen, &ev) != 0) {
		if (evc__ratelimit_allow(&s->rl, evc__wall_ms()))
			evcd_logf(s->d, EVCAST_LOG_WARNING, "sidecar: unparsable event from FreeSWITCH dropped");
		return;
	}
	if (evcast_event_get_header(ev, INJECT_HDR)) { /* ours, coming back */
		s->echoes_dropped++;
		evcast_event_free(ev);
		return;
	}
	fire_or_wait(s, ev);
}

static void on_message(struct evcd_sidecar *s, evcast_event_t *m)
{
	const char *ct = evcast_event_get_header(m, "Content-Type");
	if (!ct)
		return;
	if (!strcasecmp(ct, "auth/request")) {
		s->state = SC_AUTH;
		send_line(s, "auth %s\n\n", s->password);
	} else if (!strcasecmp(ct, "command/reply")) {
		on_reply(s, evcast_event_get_header(m, "Reply-Text"));
	} else if (!strcasecmp(ct, "api/response")) {
		size_t n = 0;
		const char *b = evcast_event_get_body(m, &n);
		if (b && n && b[0] == '-')
			on_reply(s, "-ERR (api)");
	} else if (!strcasecmp(ct, "text/event-plain")) {
		on_fs_event(s, m);
	} else if (!strcasecmp(ct, "text/disconnect-notice")) {
		disconnect(s, "FreeSWITCH closed the session");
	}
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char buf[65536]; /* loop thread only; consumed before the next read */
	b->base = buf;
	b->len = sizeof(buf);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	sconn_t *c = st->data;
	struct evcd_sidecar *s = c->s;
	if (!s)
		return;
	if (n < 0) {
		disconnect(s, n == UV_EOF ? "connection closed" : uv_strerror((int)n));
		return;
	}
	if (n == 0)
		return;
	if (evcast_esl_parser_feed(c->parser, b->base, (size_t)n) != 0) {
		disconnect(s, "message over the size limits");
		return;
	}
	if (s->bp_ev && !s->read_paused) { /* a new connection while an event waits */
		uv_read_stop(st);
		s->read_paused = true;
	}
	drain(s);
}

/* Handles the messages parsed from the connection, until one waits. */
static void drain(struct evcd_sidecar *s)
{
	sconn_t *c = s->conn;
	evcast_event_t *m;
	int rc;
	while (c && s->conn == c && !s->bp_ev && (rc = evcast_esl_parser_next(c->parser, &m)) != 0) {
		if (rc < 0) {
			disconnect(s, "protocol error");
			return;
		}
		on_message(s, m);
		evcast_event_free(m);
	}
}

static void on_connect(uv_connect_t *req, int status)
{
	sconn_t *c = req->data;
	struct evcd_sidecar *s = c->s;
	if (!s)
		return;
	if (status < 0) {
		disconnect(s, uv_strerror(status));
		return;
	}
	s->connects++;
	s->state = SC_AUTH;
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void connect_now(struct evcd_sidecar *s)
{
	struct sockaddr_storage ss;
	sconn_t *c;
	int rc;
	if (s->stopping || s->conn)
		return;
	if (uv_ip4_addr(s->host, (int)s->port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(s->host, (int)s->port, (struct sockaddr_in6 *)&ss) != 0) {
		disconnect(s, "host is not an IP address");
		return;
	}
	if (!(c = evc__calloc(1, sizeof(*c))) ||
	    evcast_esl_parser_new(EVCAST_ESL_REPLIES, MAX_HEAD, MAX_BODY, &c->parser) != 0) {
		evc__free(c);
		disconnect(s, "out of memory");
		return;
	}
	uv_tcp_init(s->d->loop, &c->tcp);
	c->tcp.data = c;
	c->creq.data = c;
	c->s = s;
	s->conn = c;
	s->state = SC_CONNECTING;
	if ((rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&ss, on_connect)) != 0)
		disconnect(s, uv_strerror(rc));
}

/* ---------------------------------------------------------- node consumer */

/* 1: the node subscriber injects ev (cluster traffic, peer events, relayed
 * presence); 0: it does not; -1: never inject (evcastd's own evcast::* traffic). */
static int node_selects(const evcast_event_t *ev)
{
	const char *name = evcast_event_name(ev), *sub = evcast_event_subclass(ev);
	if (!name)
		return -1;
	if (!strcasecmp(name, "CUSTOM") && sub && !strcmp(sub, "multicast::event")) {
		const char *osub = evcast_event_get_header(ev, "Orig-Event-Subclass");
		return !osub || strncmp(osub, "evcast::", 8) != 0 ? 1 : -1; /* regsync stays out */
	}
	if (!strcasecmp(name, "CUSTOM") && sub &&
	    (!strcmp(sub, "multicast::peerup") || !strcmp(sub, "multicast::peerdown")))
		return 1;
	if (!strcasecmp(name, "PRESENCE_IN") && evcast_event_get_header(ev, "evcast-presence-relay"))
		return 1;
	return 0;
}

static void on_node_event(void *ud, const evcast_event_t *ev)
{
	struct evcd_sidecar *s = ud;
	if (s->inject && s->state == SC_READY && node_selects(ev) == 1)
		inject(s, ev);
}

void evcd_sidecar_inject(evcd_t *d, const evcast_event_t *ev)
{
	struct evcd_sidecar *s = d ? d->sidecar : NULL;
	if (!s || !ev || !s->inject || s->state != SC_READY)
		return;
	/* already the switch's (marked), or injected by on_node_event when fired */
	if (evcast_event_get_header(ev, INJECT_HDR) || node_selects(ev) != 0)
		return;
	s->local_injected++;
	inject(s, ev);
}

/* ------------------------------------------------------------- start/stop */

int evcd_sidecar_check(evcd_t *d)
{
	struct evcd_sidecar *s = evc__calloc(1, sizeof(*s));
	bool enabled;
	int rc;
	if (!s)
		return EVCAST_ENOMEM;
	rc = read_config(d, s, &enabled);
	memset(s->password, 0, sizeof(s->password));
	evc__free(s);
	return rc < 0 ? EVCAST_EINVAL : 0;
}

int evcd_sidecar_start(evcd_t *d)
{
	struct evcd_sidecar *s;
	bool enabled;
	int rc;
	if (!(s = evc__calloc(1, sizeof(*s))))
		return EVCAST_ENOMEM;
	rc = read_config(d, s, &enabled);
	if (rc <= 0 || !enabled || !d->node) {
		evc__free(s);
		return rc < 0 ? rc : 0;
	}
	s->d = d;
	s->backoff_ms = s->min_ms;
	evc__ratelimit_init(&s->rl, 5, 1);
	if ((rc = evcast_node_subscribe(d->node, on_node_event, s)) < 0) {
		evc__free(s);
		return rc;
	}
	s->sub = rc;
	uv_timer_init(d->loop, &s->retry);
	s->retry.data = s;
	d->sidecar = s;
	evcd_logf(d, EVCAST_LOG_NOTICE, "sidecar: connecting to FreeSWITCH at %s:%u (inject %s, db-sync %s)", s->host,
		  s->port, s->inject ? "yes" : "no", s->db_sync ? "yes" : "no");
	connect_now(s);
	return 0;
}

static void on_retry_closed(uv_handle_t *h)
{
	evc__free(h->data);
}

void evcd_sidecar_stop(evcd_t *d)
{
	struct evcd_sidecar *s = d ? d->sidecar : NULL;
	if (!s)
		return;
	d->sidecar = NULL;
	s->stopping = true;
	if (s->sub > 0 && d->node)
		evcast_node_unsubscribe(d->node, s->sub);
	evcd_logf(d, EVCAST_LOG_INFO,
		  "sidecar: %llu connection(s), %llu auth failure(s), %llu event(s) fired, %llu injected "
		  "(%llu fired by Lua), %llu echo(es) dropped, %llu db command(s), %llu dropped (queue full)",
		  (unsigned long long)s->connects, (unsigned long long)s->auth_failures,
		  (unsigned long long)s->events_fired, (unsigned long long)s->injected,
		  (unsigned long long)s->local_injected,
		  (unsigned long long)s->echoes_dropped, (unsigned long long)s->db_cmds,
		  (unsigned long long)s->dropped_queue_full);
	disconnect(s, NULL);
	if (s->bp_watch > 0 && d->node)
		evcast_node_unwatch_writable(d->node, s->bp_watch);
	if (s->bp_ev) {
		evcast_event_free(s->bp_ev);
		s->bp_ev = NULL;
		evcd_pubwait_end(&d->pubwait[EVCD_PUB_SIDECAR], s->bp_t0);
	}
	uv_close((uv_handle_t *)&s->retry, on_retry_closed);
}
