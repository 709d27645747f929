/*
 * control.c -- the event-socket (ESL) server of evcastd, byte-compatible with
 * FreeSWITCH's mod_event_socket (spec/esl.md), on the Unix control socket and
 * (control_tcp.c) on TCP.
 *
 * Owns listeners (a uv_stream_t server with per-listener options: password,
 * ACL, queue bounds, connection limit, auth timeout; the pre-auth guard is
 * control_auth.c's) and connections (framing
 * by evcast_esl_parser, one command at a time, a bounded outgoing queue that
 * drops the OLDEST events of a slow client and counts them, never blocking
 * the loop). Events come from ONE node subscription (borrowed), filtered per
 * connection by bindings and `filter`s and serialized once per format for all
 * connections (shared_text_t). Handles are freed only from their uv_close
 * callbacks. The commands themselves are in control_cmd.c. Sections: output
 * queue; events; connections; listeners; start/stop.
 */
#include "control_int.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <unistd.h>

const char *const evcd_fmt_names[] = {"plain", "json", "xml"};

static void conn_close(conn_t *c);
static void conn_process(conn_t *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void maybe_free_ctl(evcd_control_t *ctl)
{
	if (ctl->stopping && ctl->open_handles == 0)
		evc__free(ctl);
}

/* ---------------------------------------------------------- output queue */

static void shared_unref(shared_text_t *t)
{
	if (t && --t->refs == 0) {
		evcast_free(t->text);
		evc__free(t);
	}
}

static void msg_free(out_msg_t *m)
{
	if (m) {
		if (m->shared)
			shared_unref(m->shared);
		else
			evc__free(m->payload);
		evc__free(m);
	}
}

/* Payload ownership moves to the message (freed with it, also on failure). */
out_msg_t *evcd_conn_msg_new(char *payload, size_t plen, bool event)
{
	out_msg_t *m = evc__calloc(1, sizeof(*m));
	if (!m) {
		evc__free(payload);
		return NULL;
	}
	m->payload = payload;
	m->plen = plen;
	m->event = event;
	return m;
}

static void flush(conn_t *c);

void evcd_conn_enqueue(conn_t *c, out_msg_t *m)
{
	if (!m) {
		evcd_logf(c->ctl->d, EVCAST_LOG_ERR, "control: client %u: out of memory, closing", c->id);
		conn_close(c);
		return;
	}
	if (c->qtail)
		c->qtail->next = m;
	else
		c->qhead = m;
	c->qtail = m;
	c->qbytes += m->hlen + m->plen;
	c->qcount++;
	flush(c);
}

/* Drops the oldest queued (not in-flight) event; false when there is none. */
static bool drop_oldest_event(conn_t *c)
{
	out_msg_t *prev = NULL, *m;
	for (m = c->qhead; m && !m->event; prev = m, m = m->next)
		;
	if (!m)
		return false;
	if (prev)
		prev->next = m->next;
	else
		c->qhead = m->next;
	if (c->qtail == m)
		c->qtail = prev;
	c->qbytes -= m->hlen + m->plen;
	c->qcount--;
	msg_free(m);
	return true;
}

static void count_drop(conn_t *c)
{
	c->dropped++;
	c->ctl->st.events_dropped++;
	if (evc__ratelimit_allow(&c->drop_rl, evc__wall_ms()))
		evcd_logf(c->ctl->d, EVCAST_LOG_WARNING,
			  "control: client %u reads too slowly: oldest events dropped (%llu so far)", c->id,
			  (unsigned long long)c->dropped);
}

/* Text owned by the caller is copied into a new message. */
void evcd_conn_send(conn_t *c, const char *text, size_t len)
{
	char *p = evc__strndup(text, len);
	evcd_conn_enqueue(c, p ? evcd_conn_msg_new(p, len, false) : NULL);
}

void evcd_conn_reply(conn_t *c, const char *fmt, ...)
{
	char text[1024];
	int n = snprintf(text, sizeof(text), "Content-Type: command/reply\nReply-Text: ");
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(text + n, sizeof(text) - (size_t)n - 2, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(text) - 3)
		n = (int)sizeof(text) - 3;
	text[n++] = '\n';
	text[n++] = '\n';
	evcd_conn_send(c, text, (size_t)n);
}

/* v2 flow control (docs/PROTOCOL.md 14.5): a client whose queue passed half
 * its bound holds the node's v2 delivery (so the senders slow down) until it
 * drained to a quarter; one hold per connection, released when it closes. */
static void rx_hold_update(conn_t *c)
{
	const evcd_listener_opts_t *o = &c->lis->opts;
	evcast_node_t *node = c->ctl->d->node;
	bool high = c->qbytes >= o->queue_max_bytes / 2 || c->qcount >= o->queue_max_events / 2;
	bool low = c->qbytes <= o->queue_max_bytes / 4 && c->qcount <= o->queue_max_events / 4;
	if (!node)
		return;
	if (!c->rx_held && high && !c->closing) {
		c->rx_held = true;
		evcast_node_rx_hold(node);
	} else if (c->rx_held && (low || c->closing)) {
		c->rx_held = false;
		evcast_node_rx_release(node);
	}
}

static void on_write(uv_write_t *req, int status)
{
	conn_t *c = req->data;
	for (size_t i = 0; i < c->ninflight; i++)
		msg_free(c->inflight[i]);
	c->ninflight = 0;
	c->writing = false;
	if (status < 0) {
		if (status != UV_ECANCELED)
			evcd_logf(c->ctl->d, EVCAST_LOG_DEBUG, "control: client %u: write: %s", c->id, uv_strerror(status));
		conn_close(c);
		return;
	}
	if (c->closing)
		return;
	rx_hold_update(c);
	if (c->paused && c->qbytes < c->lis->opts.queue_max_bytes / 2 &&
	    c->qcount < c->lis->opts.queue_max_events / 2) {
		c->paused = false;
		if (!c->close_after_flush && !c->auth_wait && !c->bp_ev && uv_read_start(&c->u.s, on_alloc, on_read) < 0) {
			conn_close(c);
			return;
		}
	}
	flush(c);
	if (!c->writing && !c->qhead && c->close_after_flush)
		conn_close(c);
	else if (!c->paused)
		conn_process(c);
}

static void flush(conn_t *c)
{
	uv_buf_t bufs[2 * WRITE_BATCH];
	unsigned nb = 0;
	size_t bytes = 0;
	int rc;
	if (c->writing || c->closing || c->holding || !c->qhead)
		return;
	while (c->qhead && c->ninflight < WRITE_BATCH && bytes < WRITE_BATCH_BYTES) {
		out_msg_t *m = c->qhead;
		c->qhead = m->next;
		if (!c->qhead)
			c->qtail = NULL;
		c->qbytes -= m->hlen + m->plen;
		c->qcount--;
		c->inflight[c->ninflight++] = m;
		if (m->hlen)
			bufs[nb++] = uv_buf_init(m->hdr, (unsigned)m->hlen);
		if (m->plen)
			bufs[nb++] = uv_buf_init(m->payload, (unsigned)m->plen);
		bytes += m->hlen + m->plen;
	}
	c->wreq.data = c;
	rc = uv_write(&c->wreq, &c->u.s, bufs, nb, on_write);
	if (rc < 0) {
		for (size_t i = 0; i < c->ninflight; i++)
			msg_free(c->inflight[i]);
		c->ninflight = 0;
		evcd_logf(c->ctl->d, EVCAST_LOG_DEBUG, "control: client %u: write: %s", c->id, uv_strerror(rc));
		conn_close(c);
		return;
	}
	c->writing = true;
}

/* Sends what is queued, then closes (after `exit`, a refused auth, an error). */
void evcd_conn_close_after_flush(conn_t *c)
{
	if (c->closing)
		return;
	c->close_after_flush = true;
	uv_read_stop(&c->u.s);
	if (!c->writing && !c->qhead)
		conn_close(c);
	else
		flush(c);
}

/* ---------------------------------------------------------------- events */

/* The event in format fmt, serialized at most once per event for every
 * connection (cache[fmt]; tried[fmt] remembers a failure). */
static shared_text_t *event_text(const evcast_event_t *ev, int fmt, shared_text_t **cache, bool *tried)
{
	shared_text_t *t;
	size_t len = 0;
	char *text;
	if (cache[fmt] || tried[fmt])
		return cache[fmt];
	tried[fmt] = true;
	if (fmt == FMT_PLAIN) {
		text = evcast_event_to_plain(ev, &len);
	} else {
		text = fmt == FMT_JSON ? evcast_event_to_json(ev) : evcast_event_to_xml(ev);
		len = text ? strlen(text) : 0;
	}
	if (!text || !(t = evc__malloc(sizeof(*t)))) {
		evcast_free(text);
		return NULL;
	}
	t->refs = 1; /* the cache's, dropped after the delivery loop */
	t->len = len;
	t->text = text;
	cache[fmt] = t;
	return t;
}

static void deliver(conn_t *c, const evcast_event_t *ev, shared_text_t **cache, bool *tried)
{
	const evcd_listener_opts_t *o = &c->lis->opts;
	shared_text_t *t;
	out_msg_t *m;
	size_t len;
	if (!c->listening || c->closing || c->close_after_flush || !c->bindings ||
	    !evcast_bindings_match(c->bindings, ev) || !evcd_conn_filters_pass(c, ev))
		return;
	if (!(t = event_text(ev, c->format, cache, tried)) || !(m = evc__calloc(1, sizeof(*m)))) {
		count_drop(c);
		return;
	}
	len = t->len;
	t->refs++;
	m->shared = t;
	m->payload = t->text;
	m->plen = len;
	m->event = true;
	m->hlen = (size_t)snprintf(m->hdr, sizeof(m->hdr), "Content-Length: %zu\nContent-Type: text/event-%s\n\n",
				   len, evcd_fmt_names[c->format]);
	if (m->hlen + len > o->queue_max_bytes) {
		msg_free(m); /* larger than the whole queue: never deliverable */
		count_drop(c);
		return;
	}
	while ((c->qcount + 1 > o->queue_max_events || c->qbytes + m->hlen + len > o->queue_max_bytes) &&
	       drop_oldest_event(c))
		count_drop(c);
	if (c->qcount + 1 > o->queue_max_events || c->qbytes + m->hlen + len > o->queue_max_bytes) {
		msg_free(m); /* the queue holds only replies */
		count_drop(c);
		return;
	}
	c->ctl->st.events_queued++;
	evcd_conn_enqueue(c, m);
	rx_hold_update(c);
}

/* Node consumer: ev is borrowed until we return. A connection closed during
 * the loop stays linked through its own next pointer until its close callback. */
static void on_node_event(void *ud, const evcast_event_t *ev)
{
	evcd_control_t *ctl = ud;
	shared_text_t *cache[3] = {NULL, NULL, NULL};
	bool tried[3] = {false, false, false};
	if (ctl->nlistening == 0)
		return;
	for (conn_t *c = ctl->conns, *next; c; c = next) {
		next = c->next;
		deliver(c, ev, cache, tried);
	}
	for (int i = 0; i < 3; i++)
		shared_unref(cache[i]);
}

int evcd_conn_subscribe(conn_t *c)
{
	if (c->listening)
		return 0;
	if (c->ctl->sub_id <= 0)
		return EVCAST_ESTATE;
	c->listening = true;
	c->ctl->nlistening++;
	return 0;
}

void evcd_conn_unsubscribe(conn_t *c)
{
	if (c->listening)
		c->ctl->nlistening--;
	c->listening = false;
	evcast_bindings_free(c->bindings);
	c->bindings = NULL;
}

/* ----------------------------------------------------------- connections */

static void protocol_error(conn_t *c, int rc)
{
	c->ctl->st.protocol_errors++;
	evcd_logf(c->ctl->d, EVCAST_LOG_WARNING, "control: client %u (%s) on %s: %s, closing", c->id, c->peer,
		  c->lis->label, rc == EVCAST_E2BIG ? "message over the limits" : evcast_strerror(rc));
	if (rc == EVCAST_E2BIG)
		evcd_conn_reply(c, "-ERR message too large (header block limit %u bytes, body limit %u bytes)", ESL_MAX_HEAD,
		      ESL_MAX_BODY);
	else
		evcd_conn_reply(c, "-ERR %s", evcast_strerror(rc));
	evcd_conn_close_after_flush(c);
}

/* Handles the complete commands buffered, unless output is backed up. */
static void conn_commands(conn_t *c, const evcd_listener_opts_t *o)
{
	while (!c->closing && !c->close_after_flush && !c->paused && !c->auth_wait && !c->bp_ev) {
		evcast_event_t *msg;
		int rc = evcast_esl_parser_next(c->parser, &msg);
		if (rc == 0)
			break;
		if (rc < 0) {
			protocol_error(c, rc);
			break;
		}
		evcd_conn_command(c, msg);
		evcast_event_free(msg);
		if (!c->closing && !c->close_after_flush &&
		    (c->qbytes >= o->queue_max_bytes || c->qcount >= o->queue_max_events)) {
			c->paused = true; /* resumes from on_write once the client reads */
			uv_read_stop(&c->u.s);
		}
	}
}

/* conn_commands, with what they queue (replies, and events for this
 * connection) held for one write at the end: a pipelining client gets one
 * write per read instead of one per command, and a lone event fired here
 * (sent at once, udp.c) is on the wire before the client is woken by its +OK.
 * The queue keeps its order, so a sendevent's +OK still precedes its event. */
static void conn_process(conn_t *c)
{
	c->holding = true;
	conn_commands(c, &c->lis->opts);
	c->holding = false;
	flush(c);
}

void evcd_conn_resume(conn_t *c)
{
	if (c->closing || c->close_after_flush || c->bp_ev || c->auth_wait)
		return;
	if (!c->paused && uv_read_start(&c->u.s, on_alloc, on_read) < 0) {
		conn_close(c);
		return;
	}
	conn_process(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	conn_t *c = h->data;
	*buf = uv_buf_init(c->ctl->rbuf, sizeof(c->ctl->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	conn_t *c = s->data;
	int rc;
	if (nread < 0) {
		evcd_logf(c->ctl->d, EVCAST_LOG_DEBUG, "control: client %u: %s", c->id,
			  nread == UV_EOF ? "disconnected" : uv_strerror((int)nread));
		conn_close(c);
		return;
	}
	if (nread == 0 || c->closing || c->close_after_flush)
		return;
	if ((rc = evcast_esl_parser_feed(c->parser, buf->base, (size_t)nread)) < 0) {
		protocol_error(c, rc);
		return;
	}
	conn_process(c);
}

static void on_conn_closed(uv_handle_t *h)
{
	conn_t *c = h->data;
	evcd_control_t *ctl = c->ctl;
	out_msg_t *m;
	while ((m = c->qhead)) {
		c->qhead = m->next;
		msg_free(m);
	}
	for (size_t i = 0; i < c->ninflight; i++)
		msg_free(c->inflight[i]);
	evcd_conn_filters_clear(c, NULL, NULL);
	evc__free(c->filters);
	evcast_bindings_free(c->bindings);
	evcast_esl_parser_free(c->parser);
	evc__free(c);
	ctl->open_handles--;
	maybe_free_ctl(ctl);
}

static void conn_close(conn_t *c)
{
	evcd_control_t *ctl = c->ctl;
	if (c->closing)
		return;
	c->closing = true;
	evcd_preauth_forget(c);
	evcd_conn_sendevent_drop(c);
	rx_hold_update(c); /* releases its hold */
	evcd_conn_unsubscribe(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->lis->nconns--;
	ctl->st.connections--;
	uv_close(&c->u.h, on_conn_closed);
}

void evcd_conn_evict(conn_t *c)
{
	if (c->closing)
		return;
	if (!c->writing && !c->close_after_flush) {
		uv_buf_t b = uv_buf_init((char *)DISCONNECT_NOTICE, sizeof(DISCONNECT_NOTICE) - 1);
		(void)uv_try_write(&c->u.s, &b, 1);
	}
	conn_close(c);
}

static int stream_init(uv_loop_t *loop, uv_handle_type type, stream_u *u)
{
	return type == UV_TCP ? uv_tcp_init(loop, &u->tcp) : uv_pipe_init(loop, &u->pipe, 0);
}

static void on_refused_closed(uv_handle_t *h)
{
	evcd_control_t *ctl = h->data;
	evc__free(h);
	ctl->open_handles--;
	maybe_free_ctl(ctl);
}

/* "ip:port" of a TCP peer into c->peer; false when it cannot be had. */
static bool peer_name(conn_t *c, struct sockaddr_storage *ss)
{
	int len = sizeof(*ss);
	char ip[INET6_ADDRSTRLEN] = "?";
	if (c->u.h.type != UV_TCP) {
		snprintf(c->peer, sizeof(c->peer), "unix");
		return true;
	}
	memset(ss, 0, sizeof(*ss));
	if (uv_tcp_getpeername(&c->u.tcp, (struct sockaddr *)ss, &len) < 0)
		return false;
	if (ss->ss_family == AF_INET) {
		uv_ip4_name((struct sockaddr_in *)ss, ip, sizeof(ip));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", ip, ntohs(((struct sockaddr_in *)ss)->sin_port));
	} else {
		uv_ip6_name((struct sockaddr_in6 *)ss, ip, sizeof(ip));
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", ip, ntohs(((struct sockaddr_in6 *)ss)->sin6_port));
	}
	return true;
}

/* Best effort (a fresh socket's buffer is empty), never blocks. */
static void send_now(conn_t *c, const char *text, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)text, (unsigned)len);
	(void)uv_try_write(&c->u.s, &b, 1);
}

void evcd_control_on_connection(uv_stream_t *server, int status)
{
	listener_t *lis = server->data;
	evcd_control_t *ctl = lis->ctl;
	struct sockaddr_storage ss;
	conn_t *c;
	int rc;
	if (status < 0) {
		evcd_logf(ctl->d, EVCAST_LOG_WARNING, "control: %s: accept: %s", lis->label, uv_strerror(status));
		return;
	}
	if (!(c = evc__calloc(1, sizeof(*c))))
		return; /* the connection stays in the backlog; retried on the next wake */
	if ((rc = stream_init(server->loop, server->type, &c->u)) < 0) {
		evc__free(c);
		return;
	}
	ctl->open_handles++;
	c->u.h.data = c;
	c->ctl = ctl;
	c->lis = lis;
	rc = uv_accept(server, &c->u.s);
	if (rc == 0 && !peer_name(c, &ss))
		rc = UV_ENOTCONN;
	if (rc == 0 && server->type == UV_TCP && !evcd_acl_allows(&lis->acl, (struct sockaddr *)&ss)) {
		/* FreeSWITCH checks its ACL before anything else, and says so rudely */
		ctl->st.acl_rejected++;
		evcd_logf(ctl->d, EVCAST_LOG_WARNING, "control: %s: %s rejected by apply-inbound-acl", lis->label,
			  c->peer);
		send_now(c, RUDE_REJECTION DISCONNECT_NOTICE, sizeof(RUDE_REJECTION DISCONNECT_NOTICE) - 1);
		rc = UV_EACCES;
	}
	if (rc == 0) /* a flood of unauthenticated clients makes room from its own (control_auth.c) */
		evcd_preauth_make_room(lis, (struct sockaddr *)&ss);
	if (rc == 0 && lis->nconns >= lis->opts.max_connections) {
		ctl->st.refused++;
		evcd_logf(ctl->d, EVCAST_LOG_WARNING, "control: %s: connection limit (%zu) reached, refusing %s",
			  lis->label, lis->opts.max_connections, c->peer);
		send_now(c, BUSY_REJECTION DISCONNECT_NOTICE, sizeof(BUSY_REJECTION DISCONNECT_NOTICE) - 1);
		rc = UV_EBUSY;
	}
	if (rc == 0)
		rc = evcast_esl_parser_new(EVCAST_ESL_COMMANDS, ESL_MAX_HEAD, ESL_MAX_BODY, &c->parser);
	if (rc == 0)
		rc = uv_read_start(&c->u.s, on_alloc, on_read);
	if (rc < 0) {
		evcast_esl_parser_free(c->parser);
		c->u.h.data = ctl;
		uv_close(&c->u.h, on_refused_closed); /* frees c: the handle is its first member */
		return;
	}
	c->id = ++ctl->next_id;
	c->accept_ms = evc__wall_ms();
	c->next = ctl->conns;
	if (ctl->conns)
		ctl->conns->prev = c;
	ctl->conns = c;
	lis->nconns++;
	ctl->st.connections++;
	ctl->st.accepted++;
	evc__ratelimit_init(&c->drop_rl, 1, 1);
	evcd_preauth_add(c, (struct sockaddr *)&ss);
	evcd_logf(ctl->d, EVCAST_LOG_DEBUG, "control: client %u (%s) connected on %s", c->id, c->peer, lis->label);
	evcd_conn_send(c, "Content-Type: auth/request\n\n", 28);
}

/* ------------------------------------------------------------- listeners */

listener_t *evcd_listener_new(evcd_control_t *ctl, const evcd_listener_opts_t *opts, const char *label)
{
	listener_t *lis = evc__calloc(1, sizeof(*lis));
	if (!lis)
		return NULL;
	lis->ctl = ctl;
	lis->opts = *opts;
	lis->label = evc__strdup(label);
	if (opts->password)
		lis->password = evc__strdup(opts->password);
	lis->opts.password = lis->password;
	if (!lis->label || (opts->password && !lis->password)) {
		evcd_listener_free(lis);
		return NULL;
	}
	return lis;
}

void evcd_listener_free(listener_t *lis)
{
	if (!lis)
		return;
	if (lis->password) {
		memset(lis->password, 0, strlen(lis->password));
		evc__free(lis->password);
	}
	evc__free(lis->path);
	evc__free(lis->label);
	evcd_acl_clear(&lis->acl);
	evcd_preauth_free(lis->preauth);
	evc__free(lis);
}

void evcd_listener_attach(listener_t *lis)
{
	evcd_control_t *ctl = lis->ctl;
	lis->u.h.data = lis;
	ctl->open_handles++;
	lis->next = ctl->listeners;
	ctl->listeners = lis;
}

static void on_listener_closed(uv_handle_t *h)
{
	listener_t *lis = h->data;
	evcd_control_t *ctl = lis->ctl;
	evcd_listener_free(lis);
	ctl->open_handles--;
	maybe_free_ctl(ctl);
}

/* Creates the missing directories of path's parent, mode 0750. */
static int make_parent_dirs(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	snprintf(dir, sizeof(dir), "%s", path);
	if (!(slash = strrchr(dir, '/')) || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char save = *p;
			*p = '\0';
			if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
				snprintf(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
				return EVCAST_EIO;
			}
			*p = save;
			if (!save)
				break;
		}
	}
	return 0;
}

/* A socket file left by a dead process is removed; a live one is an error. */
static int remove_stale(const char *path, char *err, size_t errlen)
{
	struct stat sb;
	struct sockaddr_un sa;
	int fd, rc;
	if (lstat(path, &sb) < 0)
		return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", path, strerror(errno)), EVCAST_EIO);
	if (!S_ISSOCK(sb.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket (not removing it)", path);
		return EVCAST_EIO;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return EVCAST_EIO;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "another process is listening on %s", path);
		return EVCAST_ESTATE;
	}
	if (errno != ECONNREFUSED) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return EVCAST_EIO;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
		return EVCAST_EIO;
	}
	return 1;
}

static int listen_unix(evcd_control_t *ctl, const char *path, const evcd_listener_opts_t *opts)
{
	evcd_t *d = ctl->d;
	char err[512] = "";
	listener_t *lis;
	mode_t old;
	int rc;
	if (!path || !*path || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		evcd_logf(d, EVCAST_LOG_ERR, "control: socket path \"%s\" is empty or longer than %zu bytes",
			  path ? path : "", sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return EVCAST_EINVAL;
	}
	if ((rc = make_parent_dirs(path, err, sizeof(err))) < 0 || (rc = remove_stale(path, err, sizeof(err))) < 0) {
		evcd_logf(d, EVCAST_LOG_ERR, "control: %s", err);
		return rc;
	}
	if (rc == 1)
		evcd_logf(d, EVCAST_LOG_NOTICE, "control: removed stale socket %s", path);
	{
		char label[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
		snprintf(label, sizeof(label), "unix:%s", path);
		if (!(lis = evcd_listener_new(ctl, opts, label)))
			return EVCAST_ENOMEM;
	}
	if (!(lis->path = evc__strdup(path)) || uv_pipe_init(d->loop, &lis->u.pipe, 0) < 0) {
		evcd_listener_free(lis);
		return EVCAST_ENOMEM;
	}
	evcd_listener_attach(lis);
	old = umask(0117); /* the socket is born 0660, no window with wider rights */
	rc = uv_pipe_bind(&lis->u.pipe, path);
	umask(old);
	lis->bound = rc == 0;
	if (rc == 0 && chmod(path, 0660) < 0)
		rc = uv_translate_sys_error(errno);
	if (rc == 0)
		rc = uv_listen(&lis->u.s, 128, evcd_control_on_connection);
	if (rc < 0) {
		evcd_logf(d, EVCAST_LOG_ERR, "control: cannot listen on %s: %s", path, uv_strerror(rc));
		return EVCAST_EIO;
	}
	evcd_logf(d, EVCAST_LOG_NOTICE, "control: listening on %s (mode 0660)", path);
	return 0;
}

/* ------------------------------------------------------------ start/stop */

static void on_sweep_closed(uv_handle_t *h)
{
	evcd_control_t *ctl = h->data;
	ctl->open_handles--;
	maybe_free_ctl(ctl);
}

int evcd_control_start(evcd_t *d, const char *socket_path)
{
	evcd_control_t *ctl;
	evcd_listener_opts_t opts = {
		.require_password = false,
		.password = NULL,
		.queue_max_bytes = QUEUE_MAX_BYTES,
		.queue_max_events = QUEUE_MAX_EVENTS,
		.max_connections = MAX_CONNECTIONS,
	};
	int rc;
	if (!d || !d->loop)
		return EVCAST_EINVAL;
	if (d->control)
		return EVCAST_ESTATE;
	if (!(ctl = evc__calloc(1, sizeof(*ctl))))
		return EVCAST_ENOMEM;
	ctl->d = d;
	d->control = ctl;
	if (d->node && (ctl->sub_id = evcast_node_subscribe(d->node, on_node_event, ctl)) < 0) {
		rc = ctl->sub_id;
		ctl->sub_id = 0;
		evcd_control_stop(d);
		return rc;
	}
	if ((rc = listen_unix(ctl, socket_path, &opts)) < 0 || (rc = evcd_control_tcp_start(ctl)) < 0) {
		evcd_control_stop(d);
		return rc;
	}
	return 0;
}

void evcd_control_stop(evcd_t *d)
{
	evcd_control_t *ctl = d ? d->control : NULL;
	if (!ctl)
		return;
	d->control = NULL;
	ctl->stopping = true;
	if (ctl->sub_id > 0 && d->node)
		evcast_node_unsubscribe(d->node, ctl->sub_id);
	ctl->sub_id = 0;
	if (ctl->sweep_on) {
		ctl->sweep_on = false;
		uv_close((uv_handle_t *)&ctl->sweep, on_sweep_closed);
	}
	if (ctl->pa_timer_on) { /* control_auth.c's timer: the same bookkeeping */
		ctl->pa_timer_on = false;
		uv_close((uv_handle_t *)&ctl->pa_timer, on_sweep_closed);
	}
	while (ctl->conns) {
		conn_t *c = ctl->conns;
		if (!c->close_after_flush && !c->writing) { /* best effort, never blocks */
			static const char notice[] = DISCONNECT_NOTICE;
			uv_buf_t b = uv_buf_init((char *)notice, sizeof(notice) - 1);
			(void)uv_try_write(&c->u.s, &b, 1);
		}
		conn_close(c);
	}
	for (listener_t *lis = ctl->listeners, *next; lis; lis = next) {
		next = lis->next;
		if (lis->bound)
			unlink(lis->path);
		uv_close(&lis->u.h, on_listener_closed);
	}
	ctl->listeners = NULL;
	maybe_free_ctl(ctl);
}

void evcd_control_stats(const evcd_t *d, evcd_control_stats_t *out)
{
	if (d && d->control)
		*out = d->control->st;
	else
		memset(out, 0, sizeof(*out));
}
