/*
 * config_check.c -- every block of a configuration validated before anything
 * applies it: the reload (api evcast_reload / reloadxml, SIGHUP), the start
 * and `evcastd --check-config` all go through evcd_config_check.
 *
 * Owns the scratch context the validators run in (an evcd_t with the
 * candidate configuration, no loop, no node: nothing is opened, bound,
 * connected or started), the collection of what they log (evcd_log hands a
 * context's lines to evcd_check_note), and the list of blocks a reload
 * cannot apply before the next start. Each module keeps its own parser; this
 * file only calls its validate-only entry point. Must not: touch the running
 * modules, open a socket, read anything but the configuration given.
 * Sections: collected lines, validation, deferred blocks.
 */
#include "daemon.h"
#include "esl_conf.h"
#include "internal.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------- collected lines */

void evcd_check_note(evcd_check_t *c, int level, const char *msg)
{
	const char *tag = level <= EVCAST_LOG_ERR ? "error: " : "warning: ";
	size_t need;
	if (!c || level > EVCAST_LOG_WARNING)
		return;
	if (level <= EVCAST_LOG_ERR)
		c->nerrors++;
	else
		c->nwarnings++;
	need = strlen(tag) + strlen(msg) + 1;
	if (c->len + need >= sizeof(c->text)) {
		c->nlost++;
		return;
	}
	c->len += (size_t)snprintf(c->text + c->len, sizeof(c->text) - c->len, "%s%s\n", tag, msg);
}

void evcd_check_reasons(const evcd_check_t *c, char *buf, size_t cap)
{
	size_t n = 0;
	if (!cap)
		return;
	buf[0] = '\0';
	for (const char *p = c->text; *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (strncmp(p, "error: ", 7) == 0 && n + 1 < cap) {
			int w = snprintf(buf + n, cap - n, "%s%.*s", n ? "; " : "", (int)(len - 7), p + 7);
			n = w < 0 ? n : n + (size_t)w < cap ? n + (size_t)w : cap - 1;
		}
		p += len + (eol ? 1 : 0);
	}
	if (c->nlost && n + 1 < cap)
		snprintf(buf + n, cap - n, "%s(%u more line(s) not shown)", n ? "; " : "", c->nlost);
}

/* -------------------------------------------------------------- validation */

/* The blocks the daemon reads; another name is reported (a typo in a block
 * name would otherwise leave its module silently unconfigured). */
static const char *const known_blocks[] = {
	"event_multicast.conf", EVCD_ESL_SECTION, "metrics.conf", "registrations.conf",
	"presence.conf",        "sidecar.conf",   "nats.conf",    "lua.conf",
};

static void esl_warn(void *ud, const char *msg)
{
	evcd_logf(ud, EVCAST_LOG_WARNING, "%s", msg);
}

/* event_socket.conf as control_tcp.c parses it at start. */
static int esl_check(evcd_t *d)
{
	const evcast_section_t *s = evcast_config_section(d->cfg, EVCD_ESL_SECTION);
	evcd_esl_conf_t conf;
	char err[640];
	int rc;
	if (!s)
		return 0;
	if ((rc = evcd_esl_conf_parse(s, d->config_path, esl_warn, d, &conf, err, sizeof(err))) < 0) {
		evcd_logf(d, EVCAST_LOG_ERR, "%s", err);
		return rc == EVCAST_ENOMEM ? rc : EVCAST_EINVAL;
	}
	evcd_esl_conf_free(&conf);
	return 0;
}

int evcd_config_check(const evcast_config_t *cfg, const char *path, int log_level, bool quiet, evcd_check_t *out)
{
	static int (*const checks[])(evcd_t *) = {
		esl_check,	  evcd_metrics_check, evcd_reg_check, evcd_presence_check,
		evcd_sidecar_check, evcd_nats_check,    evcd_lua_check,
	};
	evcd_t d;
	int rc = 0;
	memset(out, 0, sizeof(*out));
	out->quiet = quiet;
	memset(&d, 0, sizeof(d));
	d.cfg = (evcast_config_t *)cfg; /* read only: the validators never change it */
	d.config_path = (char *)(path ? path : cfg->path ? cfg->path : "(config)");
	d.log_level = log_level;
	d.check = out;
	for (size_t i = 0; i < cfg->nsections; i++) {
		bool known = false;
		for (size_t k = 0; k < EVC_ARRAY_SIZE(known_blocks); k++)
			known |= strcasecmp(cfg->sections[i].name, known_blocks[k]) == 0;
		if (!known)
			evcd_logf(&d, EVCAST_LOG_WARNING, "%s:%d: unknown block <configuration name=\"%s\"> (ignored)",
				  d.config_path, cfg->sections[i].line, cfg->sections[i].name);
	}
	/* every validator runs, so one answer names every invalid block */
	for (size_t i = 0; i < EVC_ARRAY_SIZE(checks); i++) {
		int r = checks[i](&d);
		if (r < 0 && rc != EVCAST_ENOMEM)
			rc = r == EVCAST_ENOMEM ? r : EVCAST_EINVAL;
	}
	if (rc == 0 && out->nerrors > 0) /* an error logged by a validator that still said yes */
		rc = EVCAST_EINVAL;
	return rc;
}

/* --------------------------------------------------------- deferred blocks */

/* True when the two configs hold the same params (names, values, order) in
 * the block of that name, or neither has it. */
static bool same_section(const evcast_config_t *a, const evcast_config_t *b, const char *name)
{
	const evcast_section_t *x = a ? evcast_config_section(a, name) : NULL;
	const evcast_section_t *y = b ? evcast_config_section(b, name) : NULL;
	if (!x || !y)
		return !x && !y;
	if (x->nparams != y->nparams)
		return false;
	for (size_t i = 0; i < x->nparams; i++)
		if (strcmp(x->params[i].name, y->params[i].name) != 0 ||
		    strcmp(x->params[i].value ? x->params[i].value : "", y->params[i].value ? y->params[i].value : "") != 0)
			return false;
	return true;
}

void evcd_config_deferred(const evcast_config_t *old, const evcast_config_t *cfg, char *buf, size_t cap)
{
	/* read when their module starts; event_multicast.conf applies now */
	static const char *const at_start[] = {EVCD_ESL_SECTION, "lua.conf",	"registrations.conf", "presence.conf",
					       "sidecar.conf",	 "nats.conf", "metrics.conf"};
	const char *cs_old = old && old->control_socket ? old->control_socket : EVCAST_DEFAULT_CONTROL_SOCKET;
	const char *cs_new = cfg && cfg->control_socket ? cfg->control_socket : EVCAST_DEFAULT_CONTROL_SOCKET;
	size_t n = 0;
	if (!cap)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i <= EVC_ARRAY_SIZE(at_start); i++) {
		const char *name = i < EVC_ARRAY_SIZE(at_start) ? at_start[i] : "control-socket";
		bool same = i < EVC_ARRAY_SIZE(at_start) ? same_section(old, cfg, name) : strcmp(cs_old, cs_new) == 0;
		if (same)
			continue;
		int w = snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", name);
		if (w < 0 || n + (size_t)w >= cap) {
			buf[n] = '\0'; /* a name that does not fit is left out whole */
			break;
		}
		n += (size_t)w;
	}
}
