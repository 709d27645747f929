/*
 * nats_conf.c -- reads and checks <configuration name="nats.conf"> into the
 * NATS bridge's state (nats.c owns it; docs/MULTISITE.md lists the params):
 * the defaults, every param's value (a bad one logged as
 * file:line:param:value:why), encrypt=yes refused without a v2 key (the
 * running node's keyring, or when only validating the candidate
 * event_multicast.conf's), the bindings. Must not: connect, start anything or
 * touch the loop.
 */
#include "nats_int.h"
#include "v2conf.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int copy_param(char *dst, size_t cap, const char *v)
{
	if (strlen(v) >= cap)
		return -1;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/* True when v2 keys are configured: the running node's keyring, or, when
 * only validating (no node), the candidate configuration's v2 params. */
static bool have_v2_keys(evcd_t *d)
{
	if (d->node)
		return evc__node_relay_has_keys(d->node);
	const evcast_section_t *mc = d->cfg ? evcast_config_section(d->cfg, "event_multicast.conf") : NULL;
	evc__v2_settings_t *v2 = mc ? evc__malloc(sizeof(*v2)) : NULL;
	bool keys = v2 && evc__v2_settings_parse(mc, d->cfg->port, d->config_path, v2, NULL, 0) == 0 && v2->nkeys > 0;
	if (v2)
		sodium_memzero(v2, sizeof(*v2));
	evc__free(v2);
	return keys;
}

int evcd_nats_read_config(evcd_t *d, struct evcd_nats *m)
{
	const evcast_section_t *s = d->cfg ? evcast_config_section(d->cfg, "nats.conf") : NULL;
	const char *file = d->config_path ? d->config_path : "config";
	const char *bind = d->cfg && d->cfg->bindings ? d->cfg->bindings : "";
	snprintf(m->url, sizeof(m->url), "nats://127.0.0.1:4222");
	snprintf(m->cluster, sizeof(m->cluster), "default");
	m->max_pending = 8u * 1024u * 1024u;
	m->max_skew = NATS_DEFAULT_SKEW;
	m->connect = true;
	m->send_asap = true;
	if (!s)
		return 0;
	for (size_t i = 0; i < s->nparams; i++) {
		const evcast_param_t *q = &s->params[i];
		const char *why = "too long";
		int r = 0;
		if (!strcasecmp(q->name, "url"))
			r = copy_param(m->url, sizeof(m->url), q->value);
		else if (!strcasecmp(q->name, "cluster")) {
			r = copy_param(m->cluster, sizeof(m->cluster), q->value);
			if (r == 0 && (!*q->value || strpbrk(q->value, " \t.*>"))) {
				why = "must be one subject token (no blank, '.', '*', '>')";
				r = -1;
			}
		} else if (!strcasecmp(q->name, "bindings"))
			bind = q->value;
		else if (!strcasecmp(q->name, "token"))
			r = copy_param(m->token, sizeof(m->token), q->value);
		else if (!strcasecmp(q->name, "user"))
			r = copy_param(m->user, sizeof(m->user), q->value);
		else if (!strcasecmp(q->name, "password"))
			r = copy_param(m->password, sizeof(m->password), q->value);
		else if (!strcasecmp(q->name, "nkey-seed-file"))
			r = copy_param(m->nkey, sizeof(m->nkey), q->value);
		else if (!strcasecmp(q->name, "nkey"))
			r = copy_param(m->nkeypub, sizeof(m->nkeypub), q->value);
		else if (!strcasecmp(q->name, "creds-file"))
			r = copy_param(m->creds, sizeof(m->creds), q->value);
		else if (!strcasecmp(q->name, "ca-file"))
			r = copy_param(m->ca, sizeof(m->ca), q->value);
		else if (!strcasecmp(q->name, "tls")) {
			why = "expected yes or no";
			r = evc__conf_bool(q->value, &m->tls);
		} else if (!strcasecmp(q->name, "connect")) {
			why = "expected yes or no";
			r = evc__conf_bool(q->value, &m->connect);
		} else if (!strcasecmp(q->name, "gateway")) {
			why = "expected yes or no";
			r = evc__conf_bool(q->value, &m->gateway);
		} else if (!strcasecmp(q->name, "send-asap")) {
			why = "expected yes or no";
			r = evc__conf_bool(q->value, &m->send_asap);
		} else if (!strcasecmp(q->name, "encrypt")) {
			why = "expected yes or no";
			r = evc__conf_bool(q->value, &m->encrypt);
		} else if (!strcasecmp(q->name, "max-skew")) {
			why = "expected seconds from 0 (no bound) to 86400";
			r = evc__conf_uint(q->value, 0u, 86400u, &m->max_skew);
		} else if (!strcasecmp(q->name, "max-pending-bytes")) {
			why = "expected a number of bytes from 65536 to 1073741824";
			r = evc__conf_uint(q->value, 65536u, 1073741824u, &m->max_pending);
		} else
			evcd_logf(d, EVCAST_LOG_WARNING, "%s:%d: nats.conf: unknown param \"%s\" ignored", file, q->line,
				  q->name);
		if (r < 0) {
			bool hide = !strcasecmp(q->name, "password") || !strcasecmp(q->name, "token");
			evcd_logf(d, EVCAST_LOG_ERR, "%s:%d:%s:%s: nats.conf: %s", file, q->line, q->name,
				  hide ? "(hidden)" : q->value, why);
			return EVCAST_EINVAL;
		}
	}
	if (!!*m->user != !!*m->password) {
		evcd_logf(d, EVCAST_LOG_ERR, "%s: nats.conf: user and password go together", file);
		return EVCAST_EINVAL;
	}
	if (!!*m->nkey != !!*m->nkeypub) {
		evcd_logf(d, EVCAST_LOG_ERR, "%s: nats.conf: nkey (the public key) and nkey-seed-file go together", file);
		return EVCAST_EINVAL;
	}
	/* Files libnats reads at connect time: a path that cannot be read is an
	 * error now, with its param name, not an endless reconnect later. */
	const struct {
		const char *param, *path;
	} files[] = {{"nkey-seed-file", m->nkey}, {"creds-file", m->creds}, {"ca-file", m->ca}};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (*files[i].path && access(files[i].path, R_OK) != 0) {
			evcd_logf(d, EVCAST_LOG_ERR, "%s: nats.conf: %s \"%s\": %s", file, files[i].param, files[i].path,
				  strerror(errno));
			return EVCAST_EINVAL;
		}
	if (m->encrypt && !have_v2_keys(d)) {
		evcd_logf(d, EVCAST_LOG_ERR,
			  "%s: nats.conf: encrypt=yes needs a v2 key: set v2-keys (ID:SECRET, see `evcast keygen`) and "
			  "optionally v2-primary-key in event_multicast.conf",
			  file);
		return EVCAST_EINVAL;
	}
	if (evcast_bindings_new(bind, &m->bindings) != 0) {
		evcd_logf(d, EVCAST_LOG_ERR, "%s: nats.conf: invalid bindings \"%s\"", file, bind);
		return EVCAST_EINVAL;
	}
	return 1;
}
