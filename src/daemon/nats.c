/*
 * nats.c -- sites bridged through NATS (docs/MULTISITE.md). Optional
 * <configuration name="nats.conf">: url (comma list), cluster ("default"),
 * bindings (default: the multicast ones), token | user+password |
 * nkey + nkey-seed-file | creds-file, tls + ca-file, max-pending-bytes (libnats
 * reconnect buffer), gateway (relay multicast <-> NATS), connect (no: only the
 * exactly-once filter, for multicast-only nodes of a site with two gateways),
 * encrypt (yes: payloads sealed end to end with the node's v2-keys; refused at
 * start without one), max-skew (seconds a sealed payload's age may be off),
 * send-asap (yes, the default: each publish written at once instead of after
 * libnats' flusher wait of up to 1 ms; docs/MULTISITE.md has the figures).
 * Local events selected by the bindings go to evcast.<cluster>.<Event-Name>
 * [.<subclass tokens>] as "EVN1" + plain text, or sealed "EVS1" (relay_seal.h,
 * docs/PROTOCOL.md 13; the subject is authenticated), written into one
 * reusable buffer; on a gateway a received multicast::event goes as the event
 * its Orig- headers describe, written straight from them (no event built:
 * evcast_bindings_match_name, the subject kept for the last kind). evcast.<cluster>.> comes
 * back through a bounded, mutex-protected queue and a uv_async_t (one wakeup
 * drains the whole queue: received / rx_wakeups = messages per wakeup), is opened
 * (rejects counted per reason, logged rate-limited with the subject) and goes
 * into evcast_node_input_text (exactly-once filter on (Core-UUID, Event-Sequence))
 * and, on a gateway, relayed from the same parse (into the turn's v2 batch).
 * The first connect attempt runs without retry so libnats' reason (auth, TLS)
 * can be logged; then libnats retries forever, a 1 s timer logging new reasons.
 * libnats threads touch only the queue and the link counters, under the mutex.
 * Back-pressure: a gateway takes nothing from the queue while the node is not
 * writable (publish_wait.nats); the queue's bounds then count rx_overflow.
 * nats.conf is read by nats_conf.c; both share nats_int.h.
 */
#include "nats_int.h"
#include "v2conf.h"
#include <sodium.h>
#include <errno.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>


/* ------------------------------------------------------------ publishing */

/* Appends token (sanitized: blank, '.', '*', '>' become '_') to subj. */
static void add_token(char *subj, size_t cap, const char *tok, size_t n)
{
	size_t l = strlen(subj);
	if (l + 2 >= cap)
		return;
	subj[l++] = '.';
	if (n == 0)
		subj[l++] = '_';
	for (size_t i = 0; i < n && l + 1 < cap; i++) {
		unsigned char c = (unsigned char)tok[i];
		subj[l++] = (c <= ' ' || c == '.' || c == '*' || c == '>' || c >= 127) ? '_' : (char)c;
	}
	subj[l] = '\0';
}

static void subject_for(const struct evcd_nats *m, const char *name, const char *subclass, char *out, size_t cap)
{
	snprintf(out, cap, "evcast.%s", m->cluster);
	add_token(out, cap, name, strlen(name));
	while (subclass && *subclass) {
		const char *sep = strstr(subclass, "::");
		size_t n = sep ? (size_t)(sep - subclass) : strlen(subclass);
		add_token(out, cap, subclass, n);
		subclass = sep ? sep + 2 : NULL;
	}
}

/* Publishes ev (name, subclass sc: its own), or with orig the event its
 * Orig- headers describe (a received multicast::event, Multicast-Sender
 * dropped), written straight from ev: no event built. Returns false when that
 * event is invalid (a bad header name; nothing counted). */
static bool publish(struct evcd_nats *m, const evcast_event_t *ev, const char *name, const char *sc, bool orig)
{
	const char *subj = m->last_subj;
	if (!m->nc || !name)
		return true;
	if (!sc)
		sc = "";
	size_t nl = strlen(name), sl = strlen(sc);
	bool fits = nl < sizeof(m->last_name) && sl < sizeof(m->last_sub);
	if (!fits || !m->subj_ok || strcmp(name, m->last_name) != 0 || strcmp(sc, m->last_sub) != 0) {
		subject_for(m, name, sc, m->last_subj, sizeof(m->last_subj));
		m->subj_ok = fits; /* names too long to remember: built again next time */
		if (fits) {
			memcpy(m->last_name, name, nl + 1);
			memcpy(m->last_sub, sc, sl + 1);
		}
	}
	memcpy(m->txbuf, NATS_MAGIC, 4);
	char *pt = m->encrypt ? m->ptbuf : m->txbuf + 4;
	int len = orig ? evc__event_write_plain_unprefixed(ev, "Orig-", "Multicast-Sender", pt, NATS_PTBUF - 4)
		       : evcast_event_write_plain(ev, pt, NATS_PTBUF - 4);
	if (len == EVCAST_EINVAL && orig)
		return false;
	if (len >= 0 && m->encrypt)
		len = evc__node_relay_seal(m->d->node, subj, m->ptbuf, (size_t)len, (uint8_t *)m->txbuf, NATS_TXBUF);
	else if (len >= 0)
		len += 4;
	if (len < 0) {
		m->publish_errors++;
		if (m->encrypt && evc__ratelimit_allow(&m->rl, evc__wall_ms()))
			evcd_logf(m->d, EVCAST_LOG_ERR, "nats: %s: cannot seal the event: %s", subj,
				  evc__relay_reason_name(len)); /* no v2 key left after a reload, or too big */
		return true;
	}
	if (natsConnection_Publish(m->nc, subj, m->txbuf, len) == NATS_OK)
		m->published++;
	else
		m->publish_errors++; /* reconnect buffer full, or closed */
	return true;
}

static void on_event(void *ud, const evcast_event_t *ev)
{
	struct evcd_nats *m = ud;
	const char *name = evcast_event_name(ev), *sub = evcast_event_subclass(ev);
	if (!name || !strcasecmp(name, "LOG"))
		return;
	if (!strcasecmp(name, "CUSTOM") && sub && !strncmp(sub, "multicast::", 11)) {
		if (!m->gateway || strcmp(sub, "multicast::event") != 0 || evcast_event_get_header(ev, "Multicast-Via"))
			return;
		/* the original event (Orig- stripped, Multicast-Sender dropped) is
		 * matched and written straight from ev's headers */
		const char *oname = evcast_event_get_header(ev, "Orig-Event-Name");
		const char *osc = evcast_event_get_header(ev, "Orig-Event-Subclass");
		if (oname && strcasecmp(oname, "LOG") != 0 && evcast_bindings_match_name(m->bindings, oname, osc) &&
		    publish(m, ev, oname, osc, true))
			m->gateway_out++;
		return;
	}
	if (evcast_bindings_match(m->bindings, ev))
		publish(m, ev, name, sub, false);
}

/* ------------------------------------------------------------- receiving */

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	struct evcd_nats *m = closure;
	int len = natsMsg_GetDataLength(msg);
	const char *subj = natsMsg_GetSubject(msg);
	size_t slen = subj ? strlen(subj) : 0;
	(void)nc;
	(void)sub;
	qmsg_t *q = len >= 0 ? malloc(sizeof(*q) + (size_t)len + slen + 2) : NULL;
	pthread_mutex_lock(&m->mu);
	m->received++;
	if (!q || m->qlen >= NATS_QUEUE_MAX || m->qbytes + (size_t)len > NATS_QUEUE_BYTES) {
		m->rx_overflow++;
		pthread_mutex_unlock(&m->mu);
		free(q);
		natsMsg_Destroy(msg);
		return;
	}
	q->next = NULL;
	q->len = (size_t)len;
	memcpy(q->data, natsMsg_GetData(msg), (size_t)len);
	q->data[len] = '\0';
	q->subject = q->data + len + 1;
	memcpy(q->subject, subj ? subj : "", slen + 1);
	if (m->qtail)
		m->qtail->next = q;
	else
		m->qhead = q;
	m->qtail = q;
	m->qlen++;
	m->qbytes += (size_t)len;
	pthread_mutex_unlock(&m->mu);
	natsMsg_Destroy(msg);
	uv_async_send(&m->async);
}

/* A payload refused by relay_seal (reason > 0): counted, logged at a limited rate. */
static void reject(struct evcd_nats *m, int reason, const qmsg_t *q)
{
	m->rejects[reason - EVC_RELAY_R_FIRST]++;
	if (!evc__ratelimit_allow(&m->rl, evc__wall_ms()))
		return;
	char e[256]; /* the subject came from the NATS server */
	evcd_logf(m->d, EVCAST_LOG_WARNING, "nats: %s: payload of %zu bytes rejected: %s (%llu suppressed)",
		  evc__esc(q->subject, e, sizeof(e)), q->len, evc__relay_reason_name(reason), (unsigned long long)m->rl.suppressed);
	m->rl.suppressed = 0;
}

static void on_async(uv_async_t *a);

static void on_writable(void *ud)
{
	struct evcd_nats *m = ud;
	m->bp_watch = 0;
	evcd_pubwait_end(&m->d->pubwait[EVCD_PUB_NATS], m->bp_t0);
	on_async(&m->async);
}

/* A gateway relays what arrives to the group: while the node is not writable
 * it takes nothing more from the queue (true: wait for the watcher). A
 * refused watcher (too many armed) lets the messages through. */
static bool gateway_must_wait(struct evcd_nats *m)
{
	if (!m->gateway)
		return false;
	if (m->bp_watch > 0)
		return true;
	if (evcast_node_writable(m->d->node))
		return false;
	int id = evcast_node_watch_writable(m->d->node, on_writable, m);
	if (id <= 0)
		return false;
	m->bp_watch = id;
	m->bp_t0 = evcd_pubwait_begin(&m->d->pubwait[EVCD_PUB_NATS]);
	return true;
}

/* Puts the messages q... back at the head of the queue, in order. */
static void requeue(struct evcd_nats *m, qmsg_t *q)
{
	qmsg_t *tail = q;
	size_t n = 1, bytes = q->len;
	for (; tail->next; tail = tail->next, n++)
		bytes += tail->next->len;
	pthread_mutex_lock(&m->mu);
	tail->next = m->qhead;
	if (!m->qhead)
		m->qtail = tail;
	m->qhead = q;
	m->qlen += n;
	m->qbytes += bytes;
	pthread_mutex_unlock(&m->mu);
}

static void on_async(uv_async_t *a)
{
	struct evcd_nats *m = a->data;
	qmsg_t *q;
	if (gateway_must_wait(m))
		return;
	pthread_mutex_lock(&m->mu);
	q = m->qhead;
	m->qhead = m->qtail = NULL;
	m->qlen = m->qbytes = 0;
	pthread_mutex_unlock(&m->mu);
	m->rx_wakeups += q != NULL; /* one drain per uv_async wakeup, however many were queued */
	while (q) {
		qmsg_t *next = q->next;
		if (gateway_must_wait(m)) {
			requeue(m, q);
			return;
		}
		const uint8_t *text = NULL;
		size_t tlen = 0;
		int r = evc__node_relay_open(m->d->node, m->encrypt, (uint64_t)m->max_skew * 1000000u, q->subject,
					     (const uint8_t *)q->data, q->len, (uint8_t *)m->ptbuf, NATS_PTBUF, &text,
					     &tlen);
		if (r <= -EVC_RELAY_R_FIRST && r > -EVC_RELAY_R_END) {
			reject(m, -r, q);
			free(q);
			q = next;
			continue;
		}
		int relayed = 1;
		if (r == 0) /* delivered here and, on a gateway, relayed from the same parse */
			r = evc__node_input_relay(m->d->node, (const char *)text, tlen, "nats", m->gateway, &relayed);
		if (r == 0 && relayed == 0)
			m->gateway_in++; /* first sights only: a duplicate (2) is never relayed */
		if (r == 1)
			m->own++;
		else if (r < 0)
			m->bad++;
		free(q);
		q = next;
	}
}

static void link_cb(natsConnection *nc, void *closure, bool up, bool re)
{
	struct evcd_nats *m = closure;
	char url[256] = "";
	if (up)
		natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	pthread_mutex_lock(&m->mu);
	m->connected = up;
	if (up)
		snprintf(m->server, sizeof(m->server), "%s", url);
	if (re)
		m->reconnects++;
	if (!up)
		m->disconnects++;
	pthread_mutex_unlock(&m->mu);
}
static void on_connected(natsConnection *nc, void *c) { link_cb(nc, c, true, false); }
static void on_reconnected(natsConnection *nc, void *c) { link_cb(nc, c, true, true); }
static void on_disconnected(natsConnection *nc, void *c) { link_cb(nc, c, false, false); }

/* ------------------------------------------------------------ start/stop */

static int options(evcd_t *d, struct evcd_nats *m)
{
	const char *urls[NATS_MAX_URLS];
	char buf[sizeof(m->url)];
	int nurls = 0;
	natsStatus s;
	snprintf(buf, sizeof(buf), "%s", m->url);
	for (char *save = NULL, *t = strtok_r(buf, ", \t", &save); t && nurls < NATS_MAX_URLS;
	     t = strtok_r(NULL, ", \t", &save))
		urls[nurls++] = t;
	if (nurls == 0) {
		evcd_logf(d, EVCAST_LOG_ERR, "nats.conf: url is empty");
		return EVCAST_EINVAL;
	}
	s = natsOptions_Create(&m->opts);
	if (s == NATS_OK)
		s = natsOptions_SetServers(m->opts, urls, nurls);
	if (s == NATS_OK)
		s = natsOptions_SetName(m->opts, evcast_node_name(d->node));
	if (s == NATS_OK)
		s = natsOptions_SetNoEcho(m->opts, true);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(m->opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(m->opts, 250);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectBufSize(m->opts, (int)m->max_pending);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(m->opts, false, NULL, NULL); /* the first try says why */
	if (s == NATS_OK && m->send_asap) /* a write per publish instead of libnats' flusher (up to 1 ms) */
		s = natsOptions_SetSendAsap(m->opts, true);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(m->opts, on_reconnected, m);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(m->opts, on_disconnected, m);
	if (s == NATS_OK && *m->token)
		s = natsOptions_SetToken(m->opts, m->token);
	if (s == NATS_OK && *m->user)
		s = natsOptions_SetUserInfo(m->opts, m->user, m->password);
	if (s == NATS_OK && *m->creds)
		s = natsOptions_SetUserCredentialsFromFiles(m->opts, m->creds, NULL);
	if (s == NATS_OK && *m->nkey)
		s = natsOptions_SetNKeyFromSeed(m->opts, m->nkeypub, m->nkey);
	if (s == NATS_OK && m->tls)
		s = natsOptions_SetSecure(m->opts, true);
	if (s == NATS_OK && *m->ca)
		s = natsOptions_LoadCATrustedCertificates(m->opts, m->ca);
	if (s != NATS_OK) {
		evcd_logf(d, EVCAST_LOG_ERR, "nats.conf: %s (%s)", natsStatus_GetText(s), nats_GetLastError(NULL));
		return EVCAST_EINVAL;
	}
	return 0;
}

static void free_module(struct evcd_nats *m)
{
	qmsg_t *q = m->qhead;
	while (q) {
		qmsg_t *next = q->next;
		free(q);
		q = next;
	}
	evcast_bindings_free(m->bindings);
	evc__free(m->txbuf);
	evc__free(m->ptbuf);
	pthread_mutex_destroy(&m->mu);
	evc__free(m);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct evcd_nats *m = h->data;
	if (--m->handles == 0)
		free_module(m);
}

static void close_handles(struct evcd_nats *m)
{
	uv_close((uv_handle_t *)&m->async, on_handle_closed);
	if (m->timer.data) /* initialised */
		uv_close((uv_handle_t *)&m->timer, on_handle_closed);
}

/* Subscribes to evcast.<cluster>.>; NATS_CONNECTION_CLOSED when libnats gave up. */
static natsStatus subscribe_cluster(struct evcd_nats *m)
{
	char subj[200];
	snprintf(subj, sizeof(subj), "evcast.%s.>", m->cluster);
	natsStatus s = natsConnection_Subscribe(&m->sub, m->nc, subj, on_msg, m);
	if (s == NATS_OK)
		natsSubscription_SetPendingLimits(m->sub, -1, -1); /* our own queue bounds it */
	return s;
}

/* libnats closes a connection for good on some errors (the same authorization
 * error twice, some TLS failures): a new one, with the same options, so a fixed
 * server or credential brings the link back without a restart. */
static void relink(struct evcd_nats *m)
{
	evcd_logf(m->d, EVCAST_LOG_INFO, "nats: re-creating the connection to %s (closed by libnats)", m->url);
	natsSubscription_Destroy(m->sub);
	m->sub = NULL;
	natsConnection_Destroy(m->nc);
	m->nc = NULL;
	natsStatus s = natsConnection_Connect(&m->nc, m->opts); /* retrying: returns at once when down */
	if (s == NATS_OK)
		link_cb(m->nc, m, true, false);
	if (s == NATS_OK || s == NATS_NOT_YET_CONNECTED)
		subscribe_cluster(m);
}

/* Every second while the link is down: libnats' last error (authorization
 * violation, TLS handshake, refused), logged once per distinct text; a
 * connection libnats closed is re-created every 5 s. */
static void on_timer(uv_timer_t *t)
{
	struct evcd_nats *m = t->data;
	const char *txt = NULL;
	bool up;
	pthread_mutex_lock(&m->mu);
	up = m->connected;
	pthread_mutex_unlock(&m->mu);
	if (up) {
		m->last_err[0] = '\0';
		return;
	}
	if (!m->nc || natsConnection_IsClosed(m->nc)) {
		if (++m->closed_ticks >= 5) {
			m->closed_ticks = 0;
			relink(m);
		}
		if (!m->nc)
			return;
	}
	natsStatus s = natsConnection_GetLastError(m->nc, &txt);
	if (s == NATS_OK || !txt || !*txt || !strncmp(m->last_err, txt, sizeof(m->last_err) - 1))
		return;
	if (s == NATS_NO_SERVER && m->last_err[0])
		return; /* keep the specific reason logged at the first try */
	snprintf(m->last_err, sizeof(m->last_err), "%s", txt);
	evcd_logf(m->d, EVCAST_LOG_ERR, "nats: link to %s down: %s: %s (nats.conf: check url, tls, ca-file and "
		  "credentials)", m->url, natsStatus_GetText(s), txt);
}

int evcd_nats_check(evcd_t *d)
{
	struct evcd_nats *m = evc__calloc(1, sizeof(*m));
	int rc;
	if (!m)
		return EVCAST_ENOMEM;
	m->d = d;
	pthread_mutex_init(&m->mu, NULL);
	rc = evcd_nats_read_config(d, m);
	sodium_memzero(m->password, sizeof(m->password));
	sodium_memzero(m->token, sizeof(m->token));
	free_module(m);
	return rc < 0 ? EVCAST_EINVAL : 0;
}

int evcd_nats_start(evcd_t *d)
{
	struct evcd_nats *m = evc__calloc(1, sizeof(*m));
	int rc;
	natsStatus s;
	if (!m)
		return EVCAST_ENOMEM;
	m->d = d;
	pthread_mutex_init(&m->mu, NULL);
	if ((rc = evcd_nats_read_config(d, m)) <= 0) {
		free_module(m);
		return rc;
	}
	evc__ratelimit_init(&m->rl, 5, 1);
	if (!(m->txbuf = evc__malloc(NATS_TXBUF)) || !(m->ptbuf = evc__malloc(NATS_PTBUF))) {
		free_module(m);
		return EVCAST_ENOMEM;
	}
	if (!m->connect) { /* a multicast-only node of a site with several gateways */
		if ((rc = evcast_node_dedupe(d->node, NATS_ORIGINS)) < 0) {
			free_module(m);
			return rc;
		}
		uv_async_init(d->loop, &m->async, on_async);
		m->async.data = m;
		m->handles = 1;
		d->nats = m;
		evcd_logf(d, EVCAST_LOG_NOTICE, "nats: not connecting; exactly-once filter on");
		return 0;
	}
	if ((rc = options(d, m)) < 0) {
		natsOptions_Destroy(m->opts);
		free_module(m);
		return rc;
	}
	if ((rc = evcast_node_dedupe(d->node, NATS_ORIGINS)) < 0) {
		natsOptions_Destroy(m->opts);
		free_module(m);
		return rc;
	}
	uv_async_init(d->loop, &m->async, on_async);
	m->async.data = m;
	uv_timer_init(d->loop, &m->timer);
	m->timer.data = m;
	m->handles = 2;
	s = natsConnection_Connect(&m->nc, m->opts);
	if (s != NATS_OK) { /* libnats' reason (authorization, TLS) is only known to this thread now */
		natsStatus ls = s;
		const char *why = nats_GetLastError(&ls);
		snprintf(m->last_err, sizeof(m->last_err), "%s", why && *why ? why : natsStatus_GetText(s));
		evcd_logf(d, EVCAST_LOG_ERR, "nats: link to %s down: %s: %s (nats.conf: check url, tls, ca-file and "
			  "credentials); retrying in the background", m->url, natsStatus_GetText(s), m->last_err);
		s = natsOptions_SetRetryOnFailedConnect(m->opts, true, on_connected, m);
		if (s == NATS_OK)
			s = natsConnection_Connect(&m->nc, m->opts);
	}
	bool up = s == NATS_OK;
	if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
		evcd_logf(d, EVCAST_LOG_ERR, "nats: cannot connect to %s: %s", m->url, natsStatus_GetText(s));
		goto fail;
	}
	if (up)
		link_cb(m->nc, m, true, false);
	if ((s = subscribe_cluster(m)) == NATS_CONNECTION_CLOSED) /* libnats gave up already: see relink */
		evcd_logf(d, EVCAST_LOG_ERR, "nats: libnats closed the link to %s; re-created every 5 s", m->url);
	else if (s != NATS_OK) {
		evcd_logf(d, EVCAST_LOG_ERR, "nats: cannot subscribe evcast.%s.>: %s", m->cluster, natsStatus_GetText(s));
		goto fail;
	}
	uv_timer_start(&m->timer, on_timer, 1000, 1000);
	uv_unref((uv_handle_t *)&m->timer);
	if ((m->sub_id = evcast_node_subscribe(d->node, on_event, m)) < 0) {
		evcd_logf(d, EVCAST_LOG_ERR, "nats: cannot subscribe to the node");
		goto fail;
	}
	d->nats = m;
	evcd_logf(d, EVCAST_LOG_NOTICE, "nats: %s, cluster %s%s (%s)", m->url, m->cluster,
		  m->gateway ? ", gateway" : "", up ? "connected" : "connecting");
	return 0;
fail:
	natsSubscription_Destroy(m->sub);
	natsConnection_Destroy(m->nc);
	natsOptions_Destroy(m->opts);
	nats_CloseAndWait(2000);
	evcast_node_dedupe(d->node, 0);
	close_handles(m);
	return EVCAST_EIO;
}

void evcd_nats_stop(evcd_t *d)
{
	struct evcd_nats *m = d->nats;
	if (!m)
		return;
	d->nats = NULL;
	if (m->bp_watch > 0) {
		evcast_node_unwatch_writable(d->node, m->bp_watch);
		m->bp_watch = 0;
		evcd_pubwait_end(&d->pubwait[EVCD_PUB_NATS], m->bp_t0);
	}
	if (!m->connect) {
		close_handles(m);
		return;
	}
	evcast_node_unsubscribe(d->node, m->sub_id);
	natsSubscription_Unsubscribe(m->sub);
	natsSubscription_Destroy(m->sub);
	natsConnection_Close(m->nc);
	natsConnection_Destroy(m->nc);
	natsOptions_Destroy(m->opts);
	nats_CloseAndWait(2000); /* no libnats thread touches m after this */
	uv_timer_stop(&m->timer);
	close_handles(m);
}

/* ------------------------------------------------------------ reporting */

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dup_printf(const char *fmt, ...)
{
	char buf[2560];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return evc__strdup(buf);
}

char *evcd_nats_text(evcd_t *d)
{
	struct evcd_nats *m = d->nats;
	char *out;
	if (!m)
		return NULL;
	if (!m->connect)
		return dup_printf("NATS: not connected (connect=no: exactly-once filter only)\n");
	pthread_mutex_lock(&m->mu);
	out = dup_printf("NATS: %s %s (cluster %s%s%s)\n", m->connected ? "connected to" : "disconnected from",
			 m->connected ? m->server : m->url, m->cluster, m->gateway ? ", gateway" : "",
			 m->encrypt ? ", sealed" : "");
	pthread_mutex_unlock(&m->mu);
	return out;
}

char *evcd_nats_json(evcd_t *d)
{
	struct evcd_nats *m = d->nats;
	evcast_relay_stats_t rs;
	char *out, rej[768];
	uint64_t rejected = 0;
	size_t l = 0;
	if (!m)
		return NULL;
	evcast_node_relay_stats(d->node, &rs);
	for (int i = 0; i < EVC_RELAY_R_COUNT; i++) {
		rejected += m->rejects[i];
		l += (size_t)snprintf(rej + l, sizeof(rej) - l, "%s\"%s\":%llu", i ? "," : "",
				      evc__relay_reason_name(EVC_RELAY_R_FIRST + i), (unsigned long long)m->rejects[i]);
	}
	pthread_mutex_lock(&m->mu);
	out = dup_printf(
		"{\"connected\":%s,\"server\":\"%s\",\"cluster\":\"%s\",\"gateway\":%s,\"encrypt\":%s,"
		"\"published\":%llu,"
		"\"received\":%llu,\"duplicates\":%llu,\"dropped\":%llu,\"publish_errors\":%llu,"
		"\"rx_overflow\":%llu,\"bad\":%llu,\"rejected\":%llu,\"rejects\":{%s},\"reconnects\":%llu,"
		"\"disconnects\":%llu,"
		"\"gateway_out\":%llu,\"gateway_in\":%llu,\"origins\":%llu,\"rx_wakeups\":%llu,"
		"\"send_asap\":%s}",
		m->connected ? "true" : "false", m->connected ? m->server : "", m->cluster,
		m->gateway ? "true" : "false", m->encrypt ? "true" : "false", (unsigned long long)m->published,
		(unsigned long long)m->received, (unsigned long long)rs.duplicates,
		(unsigned long long)(m->publish_errors + m->rx_overflow + m->bad + rejected),
		(unsigned long long)m->publish_errors, (unsigned long long)m->rx_overflow,
		(unsigned long long)m->bad, (unsigned long long)rejected, rej, (unsigned long long)m->reconnects, (unsigned long long)m->disconnects,
		(unsigned long long)m->gateway_out, (unsigned long long)m->gateway_in, (unsigned long long)rs.origins,
		(unsigned long long)m->rx_wakeups, m->send_asap ? "true" : "false");
	pthread_mutex_unlock(&m->mu);
	return out;
}
