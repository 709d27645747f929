/*
 * registrations.c -- evcastd's replicated registration store (docs/REGISTRATIONS.md).
 *
 * Configured by an optional <configuration name="registrations.conf"> block:
 * enabled (default yes when the block exists), db-path (SQLite file; empty =
 * memory only; a corrupt or foreign file is moved aside, an unusable disk
 * leaves the store in memory: registry_db.c), db-synchronous (normal|full),
 * tombstone-ttl (s, 3600), batch-interval-ms (100),
 * sweep-interval-ms (1000), max-registrations (1000000), expires-margin (s, 0).
 * Consumes, from the node, local CUSTOM sofia::register/unregister/expire and
 * received CUSTOM multicast::event carrying them (Orig- headers), applies them
 * to the table (src/lib/registry.c: LWW, tombstones). Never writes SQLite on the
 * loop thread while running: a timer hands the queued changes, copied, to a
 * worker thread (uv_queue_work) that writes them in one transaction, one batch
 * at a time (the final flush at stop is inline); another timer expires entries
 * by absolute time. Sync between nodes: regsync.c. Answers `show registrations` and
 * `evcast_locate`. Read at start only. Sections: config, consumer, timers,
 * queries, start/stop.
 */
#include "daemon.h"
#include "internal.h"
#include "registry.h"
#include "regsync.h"
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct evcd_reg {
	evcd_t *d;
	evc__reg_t *reg;
	uv_timer_t flush, sweep;
	uv_work_t work;                 /* the SQLite transaction, on a worker thread */
	evc__reg_db_batch_t *inflight;  /* the batch out on the worker, or NULL */
	bool stopping;
	int open_timers;
	int sub;
	evcd_regsync_t *sync; /* NULL when sync=no */
	uint64_t bad_events;
	evc__ratelimit_t rl;
	char db_path[512];
	unsigned batch_ms, sweep_ms;
};

/* ----------------------------------------------------------------- config */

typedef struct rcfg {
	bool enabled;
	char db_path[512];
	evc__reg_opts_t opts;
	unsigned batch_ms, sweep_ms;
	evcd_regsync_cfg_t sync;
	bool sync_full; /* db-synchronous full */
} rcfg_t;

static int parse_num(const char *v, unsigned long long lo, unsigned long long hi, unsigned long long *out)
{
	char *end;
	unsigned long long u;
	if (!*v || *v < '0' || *v > '9')
		return -1;
	u = strtoull(v, &end, 10);
	if (*end || u < lo || u > hi)
		return -1;
	*out = u;
	return 0;
}

/* Returns 1 when the block is present, 0 when absent, EVCAST_EINVAL on a bad value (logged). */
static int read_config(evcd_t *d, rcfg_t *c)
{
	const evcast_section_t *s = d->cfg ? evcast_config_section(d->cfg, "registrations.conf") : NULL;
	const char *file = d->config_path ? d->config_path : "config";
	unsigned long long u;
	memset(c, 0, sizeof(*c));
	c->enabled = true;
	c->opts.tombstone_ttl_ms = 3600 * 1000;
	c->opts.max_entries = 1000000;
	c->batch_ms = 100;
	c->sweep_ms = 1000;
	evcd_regsync_defaults(&c->sync);
	if (!s)
		return 0;
	for (size_t i = 0; i < s->nparams; i++) {
		const evcast_param_t *p = &s->params[i];
		int taken = evcd_regsync_param(&c->sync, p->name, p->value);
		if (taken < 0)
			goto bad;
		if (taken > 0)
			continue;
		if (!strcasecmp(p->name, "enabled")) {
			if (evc__conf_bool(p->value, &c->enabled) < 0)
				goto bad;
		} else if (!strcasecmp(p->name, "db-path")) {
			if (strlen(p->value) >= sizeof(c->db_path))
				goto bad;
			snprintf(c->db_path, sizeof(c->db_path), "%s", p->value);
		} else if (!strcasecmp(p->name, "db-synchronous")) {
			if (!strcasecmp(p->value, "normal"))
				c->sync_full = false;
			else if (!strcasecmp(p->value, "full"))
				c->sync_full = true;
			else
				goto bad;
		} else if (!strcasecmp(p->name, "tombstone-ttl")) {
			if (parse_num(p->value, 1, 30 * 86400, &u) < 0)
				goto bad;
			c->opts.tombstone_ttl_ms = u * 1000;
		} else if (!strcasecmp(p->name, "expires-margin")) {
			if (parse_num(p->value, 0, 86400, &u) < 0)
				goto bad;
			c->opts.expires_margin_ms = (int64_t)u * 1000;
		} else if (!strcasecmp(p->name, "max-registrations")) {
			if (parse_num(p->value, 1, 100000000, &u) < 0)
				goto bad;
			c->opts.max_entries = (size_t)u;
		} else if (!strcasecmp(p->name, "batch-interval-ms")) {
			if (parse_num(p->value, 1, 60000, &u) < 0)
				goto bad;
			c->batch_ms = (unsigned)u;
		} else if (!strcasecmp(p->name, "sweep-interval-ms")) {
			if (parse_num(p->value, 10, 60000, &u) < 0)
				goto bad;
			c->sweep_ms = (unsigned)u;
		} else {
			evcd_logf(d, EVCAST_LOG_WARNING, "%s:%d: registrations.conf: unknown param \"%s\" ignored", file,
				  p->line, p->name);
		}
		continue;
	bad:
		evcd_logf(d, EVCAST_LOG_ERR, "%s:%d: registrations.conf: invalid value \"%s\" for %s", file, p->line,
			  p->value, p->name);
		return EVCAST_EINVAL;
	}
	return 1;
}

/* --------------------------------------------------------------- consumer */

static void on_event(void *ud, const evcast_event_t *ev)
{
	evcd_reg_t *r = ud;
	const char *name = evcast_event_name(ev), *sub = evcast_event_subclass(ev), *prefix;
	evc__reg_update_t u;
	char err[160];
	int rc;
	if (!name || !sub || strcasecmp(name, "CUSTOM") != 0)
		return;
	if (strncmp(sub, "sofia::", 7) == 0)
		prefix = "";
	else if (strcmp(sub, "multicast::event") == 0)
		prefix = "Orig-";
	else
		return;
	rc = evc__reg_update_from_event(ev, prefix, *prefix ? NULL : evcast_node_name(r->d->node), &u, err,
					sizeof(err));
	if (rc == EVCAST_ENOENT)
		return;
	if (rc == 0 && (rc = evc__reg_apply(r->reg, &u, (int64_t)evc__wall_ms())) >= 0)
		return;
	r->bad_events++;
	if (evc__ratelimit_allow(&r->rl, evc__wall_ms())) {
		const char *from = *prefix ? evcast_event_get_header(ev, "Orig-Multicast-Sender") : "local";
		char e[2][256]; /* the sender and the reason (it may quote a field) came from the network */
		evcd_logf(r->d, EVCAST_LOG_WARNING, "registrations: event from %s ignored: %s",
			  evc__esc(from ? from : "?", e[0], sizeof(e[0])),
			  evc__esc(err[0] ? err : evcast_strerror(rc), e[1], sizeof(e[1])));
	}
}

/* Registry change: mirrored by the sidecar into FreeSWITCH's mod_db. */
static void newest_live(void *ud, const evc__reg_entry_t *e)
{
	const evc__reg_entry_t **best = ud;
	if (!*best || e->ts_us > (*best)->ts_us)
		*best = e;
}

/* Registry change: mirrored by the sidecar into FreeSWITCH's mod_db. When one
 * of several registrations of user@realm goes, the entry follows the newest
 * one that remains (the table already reflects the change). */
static void on_change(void *ud, const evc__reg_entry_t *e, bool up)
{
	evcd_reg_t *r = ud;
	const evc__reg_entry_t *rest = NULL;
	if (!r->d->sidecar)
		return;
	if (!up && r->reg)
		evc__reg_foreach_user(r->reg, e->user, e->realm, false, newest_live, &rest);
	if (rest)
		evcd_sidecar_location(r->d, rest->realm, rest->user, rest->node_ip, true);
	else
		evcd_sidecar_location(r->d, e->realm, e->user, e->node_ip, up);
}

typedef struct loc_walk {
	void (*fn)(void *ud, const char *realm, const char *user, const char *node_ip);
	void *ud;
} loc_walk_t;

static void loc_one(void *ud, const evc__reg_entry_t *e)
{
	loc_walk_t *w = ud;
	w->fn(w->ud, e->realm, e->user, e->node_ip);
}

void evcd_reg_foreach_location(evcd_t *d, void (*fn)(void *ud, const char *realm, const char *user,
						     const char *node_ip), void *ud)
{
	loc_walk_t w = {fn, ud};
	if (d && d->reg && fn)
		evc__reg_foreach(d->reg->reg, false, loc_one, &w);
}

/* ----------------------------------------------------------------- timers */

static void finish_stop(evcd_reg_t *r);

static void work_write(uv_work_t *w)
{
	evcd_reg_t *r = w->data;
	evc__reg_db_write(r->reg, r->inflight); /* touches only the database and the batch */
}

static void on_flush(uv_timer_t *t);

static void work_done(uv_work_t *w, int status)
{
	evcd_reg_t *r = w->data;
	int rc = evc__reg_db_done(r->reg, r->inflight);
	r->inflight = NULL;
	if (r->stopping)
		finish_stop(r);
	else if (rc > 0 && evc__reg_db_pending(r->reg) > 0)
		on_flush(&r->flush); /* more queued than one batch takes: the next one now */
}

/* Batch timer: the pending changes go to a worker thread, one batch at a time. */
static void on_flush(uv_timer_t *t)
{
	evcd_reg_t *r = t->data;
	if (!r->reg || r->inflight || !(r->inflight = evc__reg_db_take(r->reg)))
		return;
	r->work.data = r;
	if (uv_queue_work(r->d->loop, &r->work, work_write, work_done) != 0) {
		evc__reg_db_write(r->reg, r->inflight); /* cannot queue: write inline */
		evc__reg_db_done(r->reg, r->inflight);
		r->inflight = NULL;
	}
}

static void on_sweep(uv_timer_t *t)
{
	evcd_reg_t *r = t->data;
	if (r->reg)
		evc__reg_sweep(r->reg, (int64_t)evc__wall_ms());
}

static void on_timer_closed(uv_handle_t *h)
{
	evcd_reg_t *r = h->data;
	if (--r->open_timers == 0)
		evc__free(r);
}

/* ---------------------------------------------------------------- queries */

typedef struct filt {
	const char *user, *realm, *node;
	const evc__reg_entry_t **v;
	size_t n, cap;
	bool oom;
} filt_t;

static void pick(void *ud, const evc__reg_entry_t *e)
{
	filt_t *f = ud;
	if ((f->user && strcasecmp(f->user, e->user)) || (f->realm && strcasecmp(f->realm, e->realm)) ||
	    (f->node && strcmp(f->node, e->node)))
		return;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		const evc__reg_entry_t **v = evc__realloc(f->v, cap * sizeof(*v));
		if (!v) {
			f->oom = true;
			return;
		}
		f->v = v;
		f->cap = cap;
	}
	f->v[f->n++] = e;
}

static int by_name(const void *a, const void *b)
{
	const evc__reg_entry_t *x = *(const evc__reg_entry_t *const *)a, *y = *(const evc__reg_entry_t *const *)b;
	int c;
	if ((c = strcasecmp(x->realm, y->realm)) || (c = strcasecmp(x->user, y->user)) ||
	    (c = strcmp(x->node, y->node)) || (c = strcmp(x->call_id, y->call_id)))
		return c;
	return 0;
}

static int newest_first(const void *a, const void *b)
{
	const evc__reg_entry_t *x = *(const evc__reg_entry_t *const *)a, *y = *(const evc__reg_entry_t *const *)b;
	return x->ts_us < y->ts_us ? 1 : x->ts_us > y->ts_us ? -1 : 0;
}

static char *take_json(cJSON *o)
{
	char *s = o ? cJSON_PrintUnformatted(o) : NULL, *r = NULL;
	cJSON_Delete(o);
	if (s) {
		size_t n = strlen(s);
		if ((r = evc__malloc(n + 2))) {
			memcpy(r, s, n);
			memcpy(r + n, "\n", 2);
		}
	}
	cJSON_free(s);
	return r;
}

/* Store faults (issue 13, store): the database's state and what it cost. */
static void store_json(evcd_reg_t *r, cJSON *o)
{
	evc__reg_stats_t s;
	evc__reg_stats(r->reg, &s);
	cJSON_AddStringToObject(o, "db_state", evc__reg_db_state(r->reg));
	cJSON_AddNumberToObject(o, "db_quarantined", (double)s.db_quarantined);
	cJSON_AddNumberToObject(o, "db_fallbacks", (double)s.db_fallbacks);
}

char *evcd_reg_store_json(evcd_t *d)
{
	cJSON *o;
	evc__reg_stats_t s;
	char *out;
	if (!d || !d->reg || !(o = cJSON_CreateObject()))
		return NULL;
	evc__reg_stats(d->reg->reg, &s);
	cJSON_AddNumberToObject(o, "live", (double)s.live);
	cJSON_AddNumberToObject(o, "tombstones", (double)s.tombs);
	cJSON_AddNumberToObject(o, "db_errors", (double)s.db_errors);
	cJSON_AddNumberToObject(o, "db_dropped", (double)s.db_dropped);
	cJSON_AddNumberToObject(o, "db_pending", (double)evc__reg_db_pending(d->reg->reg));
	store_json(d->reg, o);
	out = take_json(o);
	if (out)
		out[strlen(out) - 1] = '\0'; /* no newline: embedded in another object */
	return out;
}

static char *show_json(evcd_reg_t *r, filt_t *f)
{
	cJSON *o = cJSON_CreateObject(), *rows = cJSON_CreateArray(), *st;
	evc__reg_stats_t s;
	if (!o || !rows) {
		cJSON_Delete(o);
		cJSON_Delete(rows);
		return NULL;
	}
	cJSON_AddNumberToObject(o, "row_count", (double)f->n);
	cJSON_AddItemToObject(o, "rows", rows);
	for (size_t i = 0; i < f->n; i++) {
		const evc__reg_entry_t *e = f->v[i];
		cJSON *row = cJSON_CreateObject();
		char num[32];
		if (!row)
			break;
		cJSON_AddStringToObject(row, "reg_user", e->user);
		cJSON_AddStringToObject(row, "realm", e->realm);
		cJSON_AddStringToObject(row, "token", e->call_id);
		cJSON_AddStringToObject(row, "url", e->contact);
		snprintf(num, sizeof(num), "%lld", (long long)(e->expires_ms / 1000));
		cJSON_AddStringToObject(row, "expires", num);
		cJSON_AddStringToObject(row, "network_ip", e->net_ip);
		snprintf(num, sizeof(num), "%u", e->net_port);
		cJSON_AddStringToObject(row, "network_port", num);
		cJSON_AddStringToObject(row, "hostname", e->node);
		cJSON_AddStringToObject(row, "node", e->node);
		cJSON_AddStringToObject(row, "node_ip", e->node_ip);
		cJSON_AddStringToObject(row, "profile", e->profile);
		cJSON_AddStringToObject(row, "status", e->status);
		cJSON_AddStringToObject(row, "user_agent", e->user_agent);
		cJSON_AddItemToArray(rows, row);
	}
	evc__reg_stats(r->reg, &s);
	if ((st = cJSON_AddObjectToObject(o, "stats"))) {
		cJSON_AddNumberToObject(st, "live", (double)s.live);
		cJSON_AddNumberToObject(st, "tombstones", (double)s.tombs);
		cJSON_AddNumberToObject(st, "applied", (double)s.applied);
		cJSON_AddNumberToObject(st, "stale", (double)s.stale);
		cJSON_AddNumberToObject(st, "expired", (double)s.expired);
		cJSON_AddNumberToObject(st, "expired_on_arrival", (double)s.expired_on_arrival);
		cJSON_AddNumberToObject(st, "refused_full", (double)s.refused_full);
		cJSON_AddNumberToObject(st, "invalid", (double)(s.invalid + r->bad_events));
		cJSON_AddNumberToObject(st, "db_restored", (double)s.db_restored);
		cJSON_AddNumberToObject(st, "db_rows_written", (double)s.db_rows_written);
		cJSON_AddNumberToObject(st, "db_rows_deleted", (double)s.db_rows_deleted);
		cJSON_AddNumberToObject(st, "db_flushes", (double)s.db_flushes);
		cJSON_AddNumberToObject(st, "db_errors", (double)s.db_errors);
		cJSON_AddNumberToObject(st, "db_dropped", (double)s.db_dropped);
		cJSON_AddNumberToObject(st, "db_pending", (double)evc__reg_db_pending(r->reg));
		store_json(r, st);
		evcd_regsync_stats_json(r->sync, st);
	}
	return take_json(o);
}

/* The allocation behind a cat() string of len > 0 bytes: a power of two (>= 64),
 * so a table of N rows costs O(log N) reallocations, not N (each a copy under ASan). */
static size_t cat_cap(size_t len)
{
	size_t c = 64;
	while (c < len + 1)
		c *= 2;
	return c;
}

/* Appends printf output to a growing evc__ string (started with evc__strdup("")); NULL (freed) on OOM. */
static char *cat(char *s, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static char *cat(char *s, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *ns = s;
	if (!s)
		return NULL;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || ((*len == 0 || cat_cap(*len + (size_t)n) > cat_cap(*len)) &&
		      !(ns = evc__realloc(s, cat_cap(*len + (size_t)n))))) {
		evc__free(s);
		return NULL;
	}
	va_start(ap, fmt);
	vsnprintf(ns + *len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	*len += (size_t)n;
	return ns;
}

/* FreeSWITCH's `show registrations` CSV table, then "N total.". */
static char *show_text(filt_t *f)
{
	size_t len = 0;
	char *s = evc__strdup("");
	s = cat(s, &len, "reg_user,realm,token,url,expires,network_ip,network_port,network_proto,hostname,metadata,"
			 "node_ip,profile,status\n");
	for (size_t i = 0; i < f->n && s; i++) {
		const evc__reg_entry_t *e = f->v[i];
		s = cat(s, &len, "%s,%s,%s,%s,%lld,%s,%u,%s,%s,%s,%s,%s,%s\n", e->user, e->realm, e->call_id, e->contact,
			(long long)(e->expires_ms / 1000), e->net_ip, e->net_port, "", e->node, "", e->node_ip,
			e->profile, e->status);
	}
	return cat(s, &len, "\n%zu total.\n", f->n);
}

static const char *not_enabled = "-ERR registrations are not enabled (no registrations.conf block)\n";

char *evcd_reg_show(evcd_t *d, const char *args)
{
	filt_t f = {0};
	bool json = false;
	char buf[512], *tok, *save = NULL, *out;
	snprintf(buf, sizeof(buf), "%s", args ? args : "");
	tok = strtok_r(buf, " \t", &save);
	if (!tok || strcasecmp(tok, "registrations") != 0)
		return evc__strdup("-USAGE: show registrations [as json] [user=U] [realm=R] [node=N]\n");
	while ((tok = strtok_r(NULL, " \t", &save))) {
		if (!strcasecmp(tok, "as")) {
			if (!(tok = strtok_r(NULL, " \t", &save)) || strcasecmp(tok, "json") != 0)
				return evc__strdup("-USAGE: show registrations [as json] [user=U] [realm=R] [node=N]\n");
			json = true;
		} else if (!strncasecmp(tok, "user=", 5)) {
			f.user = tok + 5;
		} else if (!strncasecmp(tok, "realm=", 6)) {
			f.realm = tok + 6;
		} else if (!strncasecmp(tok, "node=", 5)) {
			f.node = tok + 5;
		} else {
			return evc__strdup("-USAGE: show registrations [as json] [user=U] [realm=R] [node=N]\n");
		}
	}
	if (!d->reg)
		return evc__strdup(not_enabled);
	evc__reg_foreach(d->reg->reg, false, pick, &f);
	if (f.oom) {
		evc__free(f.v);
		return NULL;
	}
	if (f.n)
		qsort(f.v, f.n, sizeof(*f.v), by_name);
	out = json ? show_json(d->reg, &f) : show_text(&f);
	evc__free(f.v);
	return out;
}

/* One line per live registration of USER@REALM, newest first:
 * "NODE NODE_IP CONTACT"; "-ERR USER@REALM not found" when none. */
char *evcd_reg_locate(evcd_t *d, const char *args)
{
	filt_t f = {0};
	char buf[512], *at, *out;
	size_t len = 0;
	if (!args || !*args || strlen(args) >= sizeof(buf) || strpbrk(args, " \t"))
		return evc__strdup("-USAGE: evcast_locate USER@REALM\n");
	snprintf(buf, sizeof(buf), "%s", args);
	if (!(at = strrchr(buf, '@')) || at == buf || !at[1])
		return evc__strdup("-USAGE: evcast_locate USER@REALM\n");
	*at = '\0';
	if (!d->reg)
		return evc__strdup(not_enabled);
	f.user = buf;
	f.realm = at + 1;
	evc__reg_foreach_user(d->reg->reg, f.user, f.realm, false, pick, &f);
	if (f.oom) {
		evc__free(f.v);
		return NULL;
	}
	if (!f.n) {
		evc__free(f.v);
		out = evc__strdup("");
		return cat(out, &len, "-ERR %s not found\n", args);
	}
	qsort(f.v, f.n, sizeof(*f.v), newest_first);
	out = evc__strdup("");
	for (size_t i = 0; i < f.n && out; i++)
		out = cat(out, &len, "%s %s %s\n", f.v[i]->node, f.v[i]->node_ip[0] ? f.v[i]->node_ip : "-",
			  f.v[i]->contact[0] ? f.v[i]->contact : "-");
	evc__free(f.v);
	return out;
}

/* ------------------------------------------------------------- start/stop */

int evcd_reg_check(evcd_t *d)
{
	rcfg_t c;
	return read_config(d, &c) < 0 ? EVCAST_EINVAL : 0;
}

int evcd_reg_start(evcd_t *d)
{
	rcfg_t c;
	evcd_reg_t *r;
	evc__logger_t lg = {evcd_log, d, d->log_level};
	char err[600];
	int rc = read_config(d, &c);
	if (rc <= 0 || !c.enabled)
		return rc < 0 ? rc : 0;
	if (!d->node)
		return EVCAST_ESTATE;
	if (!(r = evc__calloc(1, sizeof(*r))))
		return EVCAST_ENOMEM;
	r->d = d;
	evc__ratelimit_init(&r->rl, 10, 1);
	if ((rc = evc__reg_new(&c.opts, &lg, &r->reg)) < 0) {
		evc__free(r);
		return rc;
	}
	evc__reg_set_change_cb(r->reg, on_change, r);
	evc__reg_db_set_sync_full(r->reg, c.sync_full);
	if (c.db_path[0] && (rc = evc__reg_db_open(r->reg, c.db_path, (int64_t)evc__wall_ms(), err, sizeof(err))) < 0) {
		if (rc != EVCAST_EIO) { /* a misconfiguration (docs/REGISTRATIONS.md, "Storage faults"): nothing touched */
			evcd_logf(d, EVCAST_LOG_ERR, "registrations: cannot use the database %s: fix db-path, its "
				  "directory or their owner and mode (nothing was changed)", err);
			evc__reg_free(r->reg);
			evc__free(r);
			return rc;
		}
		/* a bad disk or a bad file that could not be moved: the bus runs on, the store in memory */
		evcd_logf(d, EVCAST_LOG_ERR, "registrations: the database cannot be used: %s; the store runs in memory "
			  "only (db_fallbacks) and is filled from peers; restart once the cause is fixed", err);
	}
	if ((rc = evcast_node_subscribe(d->node, on_event, r)) < 0) {
		evc__reg_free(r->reg);
		evc__free(r);
		return rc;
	}
	r->sub = rc;
	if ((rc = evcd_regsync_start(d, r->reg, &c.sync, &r->sync)) < 0) {
		evcast_node_unsubscribe(d->node, r->sub);
		evc__reg_free(r->reg);
		evc__free(r);
		return rc;
	}
	snprintf(r->db_path, sizeof(r->db_path), "%s", c.db_path);
	r->batch_ms = c.batch_ms;
	r->sweep_ms = c.sweep_ms;
	uv_timer_init(d->loop, &r->flush);
	uv_timer_init(d->loop, &r->sweep);
	r->flush.data = r->sweep.data = r;
	r->open_timers = 2;
	uv_timer_start(&r->flush, on_flush, c.batch_ms, c.batch_ms);
	uv_timer_start(&r->sweep, on_sweep, c.sweep_ms, c.sweep_ms);
	d->reg = r;
	evc__reg_stats_t st;
	evc__reg_stats(r->reg, &st);
	evcd_logf(d, EVCAST_LOG_NOTICE, "registrations: store started (%s%s; %zu live, %zu tombstone(s) restored)",
		  c.db_path[0] ? c.db_path : "memory only",
		  !strcmp(evc__reg_db_state(r->reg), "failed") ? ": unusable, memory only" : "", st.live, st.tombs);
	return 0;
}

/* Final flush (inline), database closed, timers closed; r freed by the last close. */
static void finish_stop(evcd_reg_t *r)
{
	evc__reg_free(r->reg);
	r->reg = NULL;
	uv_close((uv_handle_t *)&r->flush, on_timer_closed);
	uv_close((uv_handle_t *)&r->sweep, on_timer_closed);
}

void evcd_reg_stop(evcd_t *d)
{
	evcd_reg_t *r = d ? d->reg : NULL;
	if (!r)
		return;
	d->reg = NULL;
	if (r->sub > 0 && d->node)
		evcast_node_unsubscribe(d->node, r->sub);
	evcd_regsync_stop(r->sync);
	r->sync = NULL;
	uv_timer_stop(&r->flush);
	uv_timer_stop(&r->sweep);
	r->stopping = true;
	if (!r->inflight) /* else work_done finishes */
		finish_stop(r);
}

