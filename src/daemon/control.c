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
 * callbacks. The commands themselves are in control_cmd.c; the output queue
 * and event delivery in control_out.c. Sections: connections; listeners;
 * start/stop.
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

static void maybe_free_ctl(evcd_control_t *ctl)
{
	if (ctl->stopping && ctl->open_handles == 0)
		evc__free(ctl);
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
void evcd_conn_process(conn_t *c)
{
	c->holding = true;
	conn_commands(c, &c->lis->opts);
	c->holding = false;
	evcd_conn_flush(c);
}

void evcd_conn_resume(conn_t *c)
{
	if (c->closing || c->close_after_flush || c->bp_ev || c->auth_wait)
		return;
	if (!c->paused && uv_read_start(&c->u.s, evcd_conn_on_alloc, evcd_conn_on_read) < 0) {
		evcd_conn_close(c);
		return;
	}
	evcd_conn_process(c);
}

void evcd_conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	conn_t *c = h->data;
	*buf = uv_buf_init(c->ctl->rbuf, sizeof(c->ctl->rbuf));
}

void evcd_conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	conn_t *c = s->data;
	int rc;
	if (nread < 0) {
		evcd_logf(c->ctl->d, EVCAST_LOG_DEBUG, "control: client %u: %s", c->id,
			  nread == UV_EOF ? "disconnected" : uv_strerror((int)nread));
		evcd_conn_close(c);
		return;
	}
	if (nread == 0 || c->closing || c->close_after_flush)
		return;
	if ((rc = evcast_esl_parser_feed(c->parser, buf->base, (size_t)nread)) < 0) {
		protocol_error(c, rc);
		return;
	}
	evcd_conn_process(c);
}

static void on_conn_closed(uv_handle_t *h)
{
	conn_t *c = h->data;
	evcd_control_t *ctl = c->ctl;
	out_msg_t *m;
	while ((m = c->qhead)) {
		c->qhead = m->next;
		evcd_conn_msg_free(m);
	}
	for (size_t i = 0; i < c->ninflight; i++)
		evcd_conn_msg_free(c->inflight[i]);
	evcd_conn_filters_clear(c, NULL, NULL);
	evc__free(c->filters);
	evcast_bindings_free(c->bindings);
	evcast_esl_parser_free(c->parser);
	evc__free(c);
	ctl->open_handles--;
	maybe_free_ctl(ctl);
}

void evcd_conn_close(conn_t *c)
{
	evcd_control_t *ctl = c->ctl;
	if (c->closing)
		return;
	c->closing = true;
	evcd_preauth_forget(c);
	evcd_conn_sendevent_drop(c);
	evcd_conn_rx_hold_update(c); /* releases its hold */
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
	evcd_conn_close(c);
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
		rc = uv_read_start(&c->u.s, evcd_conn_on_alloc, evcd_conn_on_read);
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
	if (d->node && (ctl->sub_id = evcast_node_subscribe(d->node, evcd_control_on_node_event, ctl)) < 0) {
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
		evcd_conn_close(c);
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
