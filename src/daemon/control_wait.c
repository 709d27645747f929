/*
 * control_wait.c -- back-pressure on the event socket and the control socket
 * (issue 12): a `sendevent` that finds the node not writable keeps its event,
 * stops reading its connection, and its reply waits; when the node's
 * writable watcher runs, the event is fired, "+OK <uuid>" queued (before the
 * event itself, as FreeSWITCH orders them), and reading resumes, the commands
 * already buffered running next in their order. A connection closed while
 * waiting drops its watcher and its event. Never blocks the loop; counted in
 * d->pubwait[EVCD_PUB_CONTROL] (pubwait.h). Connections, queues and reading
 * belong to control.c; command parsing to control_cmd.c.
 */
#include "control_int.h"
#include <stdio.h>

static void fire_now(conn_t *c, evcast_event_t *ev, const char *id)
{
	evcd_t *d = c->ctl->d;
	char name[160]; /* the event name a client sent, escaped for the log */
	evc__esc(evcast_event_name(ev) ? evcast_event_name(ev) : "", name, sizeof(name));
	evcd_conn_reply(c, "+OK %s", id); /* before the event, as FreeSWITCH's queue orders them */
	int rc = evcast_node_fire(d->node, ev);
	if (rc < 0)
		evcd_logf(d, EVCAST_LOG_WARNING, "control: client %u: sendevent %s: %s", c->id, name,
			  evcast_strerror(rc));
}

static void on_writable(void *ud)
{
	conn_t *c = ud;
	evcd_t *d = c->ctl->d;
	c->bp_watch = 0;
	if (!c->bp_ev || c->closing)
		return;
	if (!evcast_node_writable(d->node)) { /* closed again before our turn: wait on */
		int id = evcast_node_watch_writable(d->node, on_writable, c);
		if (id > 0) {
			c->bp_watch = id;
			return;
		}
	}
	evcast_event_t *ev = c->bp_ev;
	c->bp_ev = NULL;
	evcd_pubwait_end(&d->pubwait[EVCD_PUB_CONTROL], c->bp_t0);
	fire_now(c, ev, c->bp_id);
	evcd_conn_resume(c);
}

void evcd_conn_sendevent_fire(conn_t *c, evcast_event_t *ev, const char *id)
{
	evcd_t *d = c->ctl->d;
	if (evcast_node_writable(d->node)) {
		fire_now(c, ev, id);
		return;
	}
	int w = evcast_node_watch_writable(d->node, on_writable, c);
	if (w < 0) { /* too many waiting at once: refused, not queued without bound */
		evcd_conn_reply(c, "-ERR %s", evcast_strerror(EVCAST_EAGAIN));
		evcast_event_free(ev);
		return;
	}
	c->bp_ev = ev;
	c->bp_watch = w;
	snprintf(c->bp_id, sizeof(c->bp_id), "%s", id);
	c->bp_t0 = evcd_pubwait_begin(&d->pubwait[EVCD_PUB_CONTROL]);
	uv_read_stop(&c->u.s); /* conn_commands stops too: the commands after it wait */
}

void evcd_conn_sendevent_drop(conn_t *c)
{
	evcd_t *d = c->ctl->d;
	if (c->bp_watch > 0 && d->node)
		evcast_node_unwatch_writable(d->node, c->bp_watch);
	c->bp_watch = 0;
	if (c->bp_ev) {
		evcast_event_free(c->bp_ev);
		c->bp_ev = NULL;
		evcd_pubwait_end(&d->pubwait[EVCD_PUB_CONTROL], c->bp_t0);
	}
}
