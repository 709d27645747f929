/*
 * control_out.c -- a control connection's output and the events it gets
 * (control.c owns the connections). Output queue: replies and events are
 * queued (evcd_conn_enqueue / evcd_conn_send / evcd_conn_reply), bounded per
 * listener in bytes and messages; a slow client loses its OLDEST events,
 * counted, and the loop never blocks; writes go out in batches of
 * WRITE_BATCH; reading, paused by control.c when the queue reaches its
 * bound, resumes here once it is below half. Events: ONE node subscription (borrowed) for all
 * connections, filtered per connection by bindings and `filter`s,
 * serialized once per format (shared_text_t, reference-counted).
 * Sections: output queue; events.
 */
#include "control_int.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------- output queue */

static void shared_unref(shared_text_t *t)
{
	if (t && --t->refs == 0) {
		evcast_free(t->text);
		evc__free(t);
	}
}

void evcd_conn_msg_free(out_msg_t *m)
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

void evcd_conn_enqueue(conn_t *c, out_msg_t *m)
{
	if (!m) {
		evcd_logf(c->ctl->d, EVCAST_LOG_ERR, "control: client %u: out of memory, closing", c->id);
		evcd_conn_close(c);
		return;
	}
	if (c->qtail)
		c->qtail->next = m;
	else
		c->qhead = m;
	c->qtail = m;
	c->qbytes += m->hlen + m->plen;
	c->qcount++;
	evcd_conn_flush(c);
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
	evcd_conn_msg_free(m);
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
void evcd_conn_rx_hold_update(conn_t *c)
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
		evcd_conn_msg_free(c->inflight[i]);
	c->ninflight = 0;
	c->writing = false;
	if (status < 0) {
		if (status != UV_ECANCELED)
			evcd_logf(c->ctl->d, EVCAST_LOG_DEBUG, "control: client %u: write: %s", c->id, uv_strerror(status));
		evcd_conn_close(c);
		return;
	}
	if (c->closing)
		return;
	evcd_conn_rx_hold_update(c);
	if (c->paused && c->qbytes < c->lis->opts.queue_max_bytes / 2 &&
	    c->qcount < c->lis->opts.queue_max_events / 2) {
		c->paused = false;
		if (!c->close_after_flush && !c->auth_wait && !c->bp_ev &&
		    uv_read_start(&c->u.s, evcd_conn_on_alloc, evcd_conn_on_read) < 0) {
			evcd_conn_close(c);
			return;
		}
	}
	evcd_conn_flush(c);
	if (!c->writing && !c->qhead && c->close_after_flush)
		evcd_conn_close(c);
	else if (!c->paused)
		evcd_conn_process(c);
}

void evcd_conn_flush(conn_t *c)
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
			evcd_conn_msg_free(c->inflight[i]);
		c->ninflight = 0;
		evcd_logf(c->ctl->d, EVCAST_LOG_DEBUG, "control: client %u: write: %s", c->id, uv_strerror(rc));
		evcd_conn_close(c);
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
		evcd_conn_close(c);
	else
		evcd_conn_flush(c);
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
		evcd_conn_msg_free(m); /* larger than the whole queue: never deliverable */
		count_drop(c);
		return;
	}
	while ((c->qcount + 1 > o->queue_max_events || c->qbytes + m->hlen + len > o->queue_max_bytes) &&
	       drop_oldest_event(c))
		count_drop(c);
	if (c->qcount + 1 > o->queue_max_events || c->qbytes + m->hlen + len > o->queue_max_bytes) {
		evcd_conn_msg_free(m); /* the queue holds only replies */
		count_drop(c);
		return;
	}
	c->ctl->st.events_queued++;
	evcd_conn_enqueue(c, m);
	evcd_conn_rx_hold_update(c);
}

/* Node consumer: ev is borrowed until we return. A connection closed during
 * the loop stays linked through its own next pointer until its close callback. */
void evcd_control_on_node_event(void *ud, const evcast_event_t *ev)
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
