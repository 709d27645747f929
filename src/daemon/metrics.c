/*
 * metrics.c -- the Prometheus text-format endpoint of evcastd (GET /metrics).
 *
 * Configured by an optional <configuration name="metrics.conf"> block:
 * enabled (default no), listen-ip (default 127.0.0.1), listen-port (default
 * 9464), allow-remote (default no: a non-loopback listen-ip is refused). Owns
 * one libuv TCP listener and its connections: a request is read into a
 * bounded buffer (over MAX_REQUEST bytes: 431), answered once, then
 * half-closed and drained for at most LINGER_MS; at most MAX_CONNS open at a
 * time (more, or any when memory is short, are accepted, closed at once and
 * counted: a connection left unaccepted would stall libuv's listener); a
 * connection idle for IDLE_MS is closed. Exposes every counter of
 * evcast_stats_t as evcast_<field>_total (from evcast_stats_to_json, so a new
 * counter appears without a change here; a per-reason breakdown object K as
 * evcast_K_by_reason_total{reason=...}), per-peer gauges, the NATS link, the
 * Lua consumers (evcast_lua_*: totals, per script, per queue), the control
 * server's queues, the registration store's database (evcast_registrations_*)
 * and build info. Handles are freed only from their close
 * callbacks. The block is read at start only (a SIGHUP does not move the
 * endpoint). The exposition itself is metrics_render.c's; both share
 * metrics_int.h. Sections: config, HTTP connections, listener, start/stop.
 */
#include "metrics_int.h"
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ----------------------------------------------------------------- config */

typedef struct mcfg {
	bool enabled, allow_remote;
	char ip[64];
	unsigned port;
	int ip_line; /* where listen-ip was set, 0 = the default (for messages) */
} mcfg_t;

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* Reads metrics.conf; logs and returns EVCAST_EINVAL on a bad value. */
static int read_config(evcd_t *d, mcfg_t *c)
{
	const evcast_section_t *s = d->cfg ? evcast_config_section(d->cfg, "metrics.conf") : NULL;
	const char *file = d->config_path ? d->config_path : "config";
	*c = (mcfg_t){false, false, "127.0.0.1", 9464, 0};
	for (size_t i = 0; s && i < s->nparams; i++) {
		const evcast_param_t *p = &s->params[i];
		if (!strcasecmp(p->name, "enabled") || !strcasecmp(p->name, "allow-remote")) {
			bool *dst = !strcasecmp(p->name, "enabled") ? &c->enabled : &c->allow_remote;
			if (evc__conf_bool(p->value, dst) < 0)
				goto bad;
		} else if (!strcasecmp(p->name, "listen-ip")) {
			if (strlen(p->value) >= sizeof(c->ip))
				goto bad;
			snprintf(c->ip, sizeof(c->ip), "%s", p->value);
			c->ip_line = p->line;
		} else if (!strcasecmp(p->name, "listen-port")) {
			char *end;
			unsigned long u = strtoul(p->value, &end, 10);
			if (!*p->value || *end || u < 1 || u > 65535)
				goto bad;
			c->port = (unsigned)u;
		} else {
			evcd_logf(d, EVCAST_LOG_WARNING, "%s:%d: metrics.conf: unknown param \"%s\" ignored", file, p->line,
				  p->name);
		}
		continue;
	bad:
		evcd_logf(d, EVCAST_LOG_ERR, "%s:%d: metrics.conf: invalid value \"%s\" for %s", file, p->line, p->value,
			  p->name);
		return EVCAST_EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------- HTTP connections */

/* Frees the state once the listener, the spare and every connection are closed. */
static void maybe_free(struct evcd_metrics *m)
{
	if (m->stopping && !m->server_open && !m->spare_busy && m->nconns == 0) {
		m->d->metrics = NULL;
		evc__free(m);
	}
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	mconn_t *c = h->data;
	if (--c->open_handles > 0)
		return;
	struct evcd_metrics *m = c->m;
	evc__free(c->resp);
	evc__free(c);
	m->nconns--;
	maybe_free(m);
}

static void conn_close(mconn_t *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		c->m->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void on_shutdown(uv_shutdown_t *r, int status)
{
	if (status < 0)
		conn_close(r->data);
	/* else: lingering close, until the client's EOF or the linger timer */
}

/* Half-close after the answer and keep discarding input until the client
 * closes: closing with unread input would reset the connection and could
 * destroy the answer before the client reads it (an oversize request). */
static void on_idle_timeout(uv_timer_t *t);

static void on_written(uv_write_t *w, int status)
{
	mconn_t *c = w->data;
	c->sreq.data = c;
	if (status < 0 || uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
		conn_close(c);
}

/* Sends status + body (ownership of body moves here; may be NULL) and closes. */
static void respond(mconn_t *c, int code, const char *reason, const char *ctype, char *body, size_t blen,
		    const char *extra)
{
	char head[512];
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
			  code, reason, ctype, blen, extra ? extra : "");
	c->answered = true;
	uv_timer_start(&c->timer, on_idle_timeout, LINGER_MS, 0);
	c->resp = evc__malloc((size_t)hl + blen);
	if (!c->resp) {
		evc__free(body);
		conn_close(c);
		return;
	}
	memcpy(c->resp, head, (size_t)hl);
	if (blen)
		memcpy(c->resp + hl, body, blen);
	evc__free(body);
	uv_buf_t buf = uv_buf_init(c->resp, (unsigned)((size_t)hl + blen));
	c->wreq.data = c;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &buf, 1, on_written) < 0)
		conn_close(c);
}

static void respond_error(mconn_t *c, int code, const char *reason, const char *extra)
{
	char msg[96];
	int n = snprintf(msg, sizeof(msg), "%d %s\n", code, reason);
	char *body = evc__strndup(msg, (size_t)n);
	c->m->bad_requests++;
	respond(c, code, reason, "text/plain; charset=utf-8", body, body ? (size_t)n : 0, extra);
}

/* A complete request head is in c->req: answer it. */
static void handle_request(mconn_t *c)
{
	char method[16], target[256];
	const char *sp1 = memchr(c->req, ' ', c->nreq), *sp2;
	size_t ml, tl;
	if (!sp1 || (ml = (size_t)(sp1 - c->req)) == 0 || ml >= sizeof(method) ||
	    !(sp2 = memchr(sp1 + 1, ' ', c->nreq - ml - 1)) || (tl = (size_t)(sp2 - sp1 - 1)) == 0 ||
	    tl >= sizeof(target) || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		respond_error(c, 400, "Bad Request", NULL);
		return;
	}
	memcpy(method, c->req, ml);
	method[ml] = '\0';
	memcpy(target, sp1 + 1, tl);
	target[tl] = '\0';
	char *q = strchr(target, '?');
	if (q)
		*q = '\0';
	if (strcmp(method, "GET") != 0) {
		respond_error(c, 405, "Method Not Allowed", "Allow: GET\r\n");
		return;
	}
	if (strcmp(target, "/metrics") != 0) {
		respond_error(c, 404, "Not Found", NULL);
		return;
	}
	size_t len = 0;
	c->m->requests++;
	char *body = evcd_metrics_render(c->m, &len);
	if (!body) {
		respond_error(c, 500, "Internal Server Error", NULL);
		return;
	}
	respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, len, NULL);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	mconn_t *c = h->data;
	(void)hint;
	if (c->answered) /* lingering: input is discarded */
		*buf = uv_buf_init(c->req, sizeof(c->req));
	else /* a full buffer without a complete head is a 431 */
		*buf = uv_buf_init(c->req + c->nreq, (unsigned)(sizeof(c->req) - c->nreq));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	mconn_t *c = s->data;
	(void)buf;
	if (c->closing)
		return;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (c->answered)
		return;
	c->nreq += (size_t)nread;
	/* the head ends with an empty line (CRLF or, leniently, LF) */
	for (size_t i = 0; i + 1 < c->nreq; i++) {
		if ((c->req[i] == '\n' && c->req[i + 1] == '\n') ||
		    (i + 3 < c->nreq && !memcmp(c->req + i, "\r\n\r\n", 4))) {
			handle_request(c);
			return;
		}
	}
	if (c->nreq >= sizeof(c->req))
		respond_error(c, 431, "Request Header Fields Too Large", NULL);
}

static void on_idle_timeout(uv_timer_t *t)
{
	conn_close(t->data);
}

/* --------------------------------------------------------------- listener */

static void reject_one(struct evcd_metrics *m);

static void on_spare_closed(uv_handle_t *h)
{
	struct evcd_metrics *m = h->data;
	m->spare_busy = false;
	if (m->reject_pending && !m->stopping) {
		m->reject_pending = false;
		reject_one(m);
		return;
	}
	maybe_free(m);
}

/* A pending connection must be accepted, or libuv stops accepting for good:
 * without memory for it, take it on the spare handle and close it at once. */
static void reject_one(struct evcd_metrics *m)
{
	if (m->spare_busy) { /* still closing the previous one: again from its close callback */
		m->reject_pending = true;
		return;
	}
	uv_tcp_init(m->server.loop, &m->spare);
	m->spare.data = m;
	m->spare_busy = true;
	if (uv_accept((uv_stream_t *)&m->server, (uv_stream_t *)&m->spare) == 0)
		m->refused++;
	uv_close((uv_handle_t *)&m->spare, on_spare_closed);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct evcd_metrics *m = server->data;
	if (status < 0 || m->stopping)
		return;
	mconn_t *c = evc__calloc(1, sizeof(*c));
	if (!c) {
		reject_one(m);
		return;
	}
	c->m = m;
	uv_tcp_init(server->loop, &c->tcp);
	uv_timer_init(server->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->open_handles = 2;
	c->next = m->conns;
	if (m->conns)
		m->conns->prev = c;
	m->conns = c;
	m->nconns++;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c);
		return;
	}
	if (m->nconns > MAX_CONNS) {
		m->refused++;
		conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_idle_timeout, IDLE_MS, 0);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
		conn_close(c);
}

static void on_server_closed(uv_handle_t *h)
{
	struct evcd_metrics *m = h->data;
	m->server_open = false;
	maybe_free(m);
}

/* ------------------------------------------------------------- start/stop */

/* metrics.conf read and checked as the start uses it (the address resolved);
 * EVCAST_EINVAL once the reason is logged. */
static int check_config(evcd_t *d, mcfg_t *c, struct sockaddr_storage *ss)
{
	int rc;
	memset(ss, 0, sizeof(*ss));
	if ((rc = read_config(d, c)) < 0 || !c->enabled)
		return rc; /* disabled: the address is not looked at (as before) */
	if (uv_ip4_addr(c->ip, (int)c->port, (struct sockaddr_in *)ss) != 0 &&
	    uv_ip6_addr(c->ip, (int)c->port, (struct sockaddr_in6 *)ss) != 0) {
		evcd_logf(d, EVCAST_LOG_ERR, "%s:%d: metrics.conf: listen-ip \"%s\" is not an IPv4 or IPv6 address",
			  d->config_path ? d->config_path : "config", c->ip_line, c->ip);
		return EVCAST_EINVAL;
	}
	if (!is_loopback(ss) && !c->allow_remote) {
		evcd_logf(d, EVCAST_LOG_ERR,
			  "%s:%d: metrics.conf: listen-ip %s is not a loopback address; set allow-remote to yes to "
			  "expose the metrics beyond this host",
			  d->config_path ? d->config_path : "config", c->ip_line, c->ip);
		return EVCAST_EINVAL;
	}
	return 0;
}

int evcd_metrics_check(evcd_t *d)
{
	mcfg_t c;
	struct sockaddr_storage ss;
	return check_config(d, &c, &ss) < 0 ? EVCAST_EINVAL : 0;
}

int evcd_metrics_start(evcd_t *d)
{
	mcfg_t c;
	struct sockaddr_storage ss;
	int rc;
	if (d->metrics)
		return EVCAST_ESTATE;
	if ((rc = check_config(d, &c, &ss)) < 0)
		return rc;
	if (!c.enabled)
		return 0;
	struct evcd_metrics *m = evc__calloc(1, sizeof(*m));
	if (!m)
		return EVCAST_ENOMEM;
	m->d = d;
	snprintf(m->listen, sizeof(m->listen), ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", c.ip, c.port);
	uv_tcp_init(d->loop, &m->server);
	m->server.data = m;
	m->server_open = true;
	if ((rc = uv_tcp_bind(&m->server, (const struct sockaddr *)&ss, 0)) < 0 ||
	    (rc = uv_listen((uv_stream_t *)&m->server, 16, on_connection)) < 0) {
		evcd_logf(d, EVCAST_LOG_ERR, "metrics: cannot listen on %s: %s", m->listen, uv_strerror(rc));
		m->stopping = true;
		d->metrics = m;
		uv_close((uv_handle_t *)&m->server, on_server_closed);
		return EVCAST_EIO;
	}
	d->metrics = m;
	evcd_logf(d, EVCAST_LOG_NOTICE, "metrics: Prometheus endpoint on http://%s/metrics", m->listen);
	return 0;
}

void evcd_metrics_stop(evcd_t *d)
{
	struct evcd_metrics *m = d->metrics;
	if (!m || m->stopping)
		return;
	m->stopping = true;
	while (m->conns)
		conn_close(m->conns);
	uv_close((uv_handle_t *)&m->server, on_server_closed);
}
