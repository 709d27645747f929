/*
 * control_tcp.c -- the event socket on TCP: FreeSWITCH's mod_event_socket
 * listener, configured by <configuration name="event_socket.conf">.
 *
 * Owns reading that block (esl_conf.c parses it; a bad value stops the start
 * with file:line:param:value:why, an unknown param is a warning), opening the
 * TCP listener (IPv4 or IPv6; the password required, the ACL and the
 * connection limit enforced by control.c at accept, the pre-auth limits and
 * failure delays by control_auth.c) and the auth-timeout sweep. Without the
 * block there is no TCP listener. Sections: config warnings, auth-timeout
 * sweep, start.
 */
#include "control_int.h"
#include <stdio.h>
#include <string.h>

static void warn_param(void *ud, const char *msg)
{
	evcd_logf(ud, EVCAST_LOG_WARNING, "%s", msg);
}

/* ------------------------------------------------------ auth-timeout sweep */

/* Runs every second while a listener has an auth timeout: a connection that
 * has not authenticated in time gets the disconnect notice and is closed. */
void evcd_control_sweep(uv_timer_t *t)
{
	evcd_control_t *ctl = t->data;
	uint64_t now = evc__wall_ms();
	for (conn_t *c = ctl->conns, *next; c; c = next) {
		unsigned limit = c->lis->opts.auth_timeout_ms;
		next = c->next;
		if (c->authed || c->closing || c->close_after_flush || !limit || now - c->accept_ms < limit)
			continue;
		ctl->st.auth_timeouts++;
		evcd_logf(ctl->d, EVCAST_LOG_WARNING, "control: client %u (%s) on %s: no auth within %u s, closing",
			  c->id, c->peer, c->lis->label, limit / 1000);
		evcd_conn_send(c, DISCONNECT_NOTICE, sizeof(DISCONNECT_NOTICE) - 1);
		evcd_conn_close_after_flush(c);
	}
}

/* ------------------------------------------------------------------ start */

int evcd_control_tcp_start(evcd_control_t *ctl)
{
	evcd_t *d = ctl->d;
	const evcast_section_t *s = d->cfg ? evcast_config_section(d->cfg, EVCD_ESL_SECTION) : NULL;
	const char *file = d->cfg && d->cfg->path ? d->cfg->path : d->config_path;
	evcd_esl_conf_t conf;
	evcd_listener_opts_t opts;
	listener_t *lis;
	char err[640], label[96];
	int rc;
	if (!s)
		return 0; /* no event_socket.conf: the Unix control socket only */
	if ((rc = evcd_esl_conf_parse(s, file, warn_param, d, &conf, err, sizeof(err))) < 0) {
		evcd_logf(d, EVCAST_LOG_ERR, "%s", err);
		return rc == EVCAST_ENOMEM ? rc : EVCAST_EINVAL;
	}
	memset(&opts, 0, sizeof(opts));
	opts.require_password = true;
	opts.password = conf.password;
	opts.queue_max_bytes = conf.queue_max_bytes;
	opts.queue_max_events = conf.queue_max_events;
	opts.max_connections = conf.max_connections;
	opts.auth_timeout_ms = conf.auth_timeout * 1000u;
	opts.max_unauth = conf.max_unauth;
	opts.max_unauth_per_addr = conf.max_unauth_per_addr;
	opts.fail_delay_ms = conf.fail_delay_ms;
	opts.fail_delay_max_ms = conf.fail_delay_max_ms;
	snprintf(label, sizeof(label), conf.addr.ss_family == AF_INET6 ? "tcp:[%s]:%u" : "tcp:%s:%u", conf.listen_ip,
		 conf.port);
	if (!(lis = evcd_listener_new(ctl, &opts, label)) || !(lis->preauth = evcd_preauth_new(lis))) {
		evcd_listener_free(lis);
		evcd_esl_conf_free(&conf);
		return EVCAST_ENOMEM;
	}
	lis->acl = conf.acl; /* moved */
	conf.acl.items = NULL;
	conf.acl.n = 0;
	if ((rc = uv_tcp_init(d->loop, &lis->u.tcp)) < 0) {
		evcd_listener_free(lis);
		evcd_esl_conf_free(&conf);
		return EVCAST_ENOMEM;
	}
	evcd_listener_attach(lis);
	rc = uv_tcp_bind(&lis->u.tcp, (const struct sockaddr *)&conf.addr, 0);
	if (rc == 0)
		rc = uv_listen(&lis->u.s, 128, evcd_control_on_connection);
	if (rc < 0) {
		evcd_logf(d, EVCAST_LOG_ERR, "event socket: cannot listen on %s: %s", label + 4, uv_strerror(rc));
		evcd_esl_conf_free(&conf);
		return EVCAST_EIO;
	}
	if (opts.auth_timeout_ms && !ctl->sweep_on) {
		uv_timer_init(d->loop, &ctl->sweep);
		ctl->sweep.data = ctl;
		ctl->open_handles++;
		ctl->sweep_on = true;
		uv_timer_start(&ctl->sweep, evcd_control_sweep, 1000, 1000);
		uv_unref((uv_handle_t *)&ctl->sweep);
	}
	evcd_preauth_timer_init(ctl);
	evcd_logf(d, EVCAST_LOG_NOTICE,
		  "event socket: listening on %s (password required; %zu ACL item(s); at most %zu connections; "
		  "auth timeout %u s; queue %zu events / %zu bytes per connection; at most %zu unauthenticated, "
		  "%zu per address; failed auths answered after %u ms doubling to %u ms)",
		  label + 4, lis->acl.n, conf.max_connections, conf.auth_timeout, conf.queue_max_events,
		  conf.queue_max_bytes, conf.max_unauth, conf.max_unauth_per_addr, conf.fail_delay_ms,
		  conf.fail_delay_max_ms);
	evcd_esl_conf_free(&conf);
	return 0;
}
