/*
 * lua_conf.c -- the lua.conf block and the global variables scripts read.
 *
 * Parses the block's params (startup-script lines with their arguments,
 * paths, limits, the sandbox and cpu-limit-ms, global variables `name=value`)
 * into evcd_lua_t, refusing a
 * bad value with file:line, param, value and why; and builds the table
 * getGlobalVariable answers from (hostname, local_ip_v4/v6, the node name,
 * core_uuid, then the configured ones). Runs on the loop thread at start,
 * before any script thread exists. Threads and stop: lua.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "lua_int.h"

#define MAX_SCRIPTS 64
#define MAX_ARGS 32

/* ----------------------------------------------------------------- settings */

typedef struct conf_ctx {
	evcd_lua_t *l;
	const char *file;
	char *cfgdir;
	bool have_dir;
	int sandbox_line; /* line of the last sandbox param naming scripts */
} conf_ctx_t;

static int bad_value(conf_ctx_t *cx, const evcast_param_t *p, const char *why)
{
	evcd_logf(cx->l->d, EVCAST_LOG_ERR, "%s:%d: lua.conf param %s: invalid value \"%s\" (%s)", cx->file,
		  p->line, p->name, p->value ? p->value : "", why);
	return EVCAST_EINVAL;
}

static int parse_number(conf_ctx_t *cx, const evcast_param_t *p, double lo, double hi, double *out)
{
	char why[96];
	char *end = NULL;
	errno = 0;
	double v = p->value ? strtod(p->value, &end) : NAN;
	if (!p->value || end == p->value || *end != '\0' || errno != 0 || !(v >= lo && v <= hi)) {
		snprintf(why, sizeof(why), "expected a number from %.*f to %.*f", lo == (double)(long long)lo ? 0 : 2, lo,
			 hi == (double)(long long)hi ? 0 : 2, hi);
		return bad_value(cx, p, why);
	}
	*out = v;
	return 0;
}

/* "a" + ";" + "b" into *acc (reallocated). */
static int append_path(char **acc, const char *item)
{
	size_t n = *acc ? strlen(*acc) : 0, m = strlen(item);
	char *s = evc__realloc(*acc, n + m + 2);
	if (!s)
		return EVCAST_ENOMEM;
	if (n > 0)
		s[n++] = ';';
	memcpy(s + n, item, m + 1);
	*acc = s;
	return 0;
}

/* dir + "/" + rel, or rel when it is absolute. */
static char *join_path(const char *dir, const char *rel)
{
	if (rel[0] == '/' || !dir)
		return evc__strdup(rel);
	size_t n = strlen(dir) + strlen(rel) + 2;
	char *s = evc__malloc(n);
	if (s)
		snprintf(s, n, "%s/%s", dir, rel);
	return s;
}

static int add_dir_pattern(char **acc, const char *dir, const char *suffix)
{
	char buf[PATH_MAX + 16];
	if (strchr(dir, '?'))
		return append_path(acc, dir);
	snprintf(buf, sizeof(buf), "%s/%s", dir, suffix);
	return append_path(acc, buf);
}

void evcd_lua_script_free(evcd_lua_script_t *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->argc; i++)
		evc__free(s->argv[i]);
	evc__free(s->argv);
	evc__free(s->spec);
	evc__free(s->name);
	evc__free(s->path);
	evc__free(s->code);
	uv_cond_destroy(&s->cond);
	evc__free(s);
}

/* "file.lua arg1 arg2" or "~inline code" -> a script (path resolved later). */
static int script_new(conf_ctx_t *cx, const evcast_param_t *p)
{
	evcd_lua_t *l = cx->l;
	if (!p->value || !p->value[strspn(p->value, " \t")])
		return bad_value(cx, p, "empty");
	if (l->nscripts >= MAX_SCRIPTS)
		return bad_value(cx, p, "too many startup scripts (at most 64)");
	evcd_lua_script_t *s = evc__calloc(1, sizeof(*s));
	if (!s || uv_cond_init(&s->cond) != 0) {
		evc__free(s);
		return EVCAST_ENOMEM;
	}
	s->l = l;
	s->index = (int)l->nscripts + 1;
	s->spec = evc__strdup(p->value);
	s->argv = evc__calloc(MAX_ARGS + 1, sizeof(char *));
	int rc = s->spec && s->argv ? 0 : EVCAST_ENOMEM;
	const char *v = p->value + strspn(p->value, " \t");
	if (rc == 0 && v[0] == '~') {
		char label[32];
		snprintf(label, sizeof(label), "inline#%d", s->index);
		s->code = evc__strdup(v + 1);
		s->name = evc__strdup(label);
		s->argv[0] = evc__strdup(label);
		s->argc = 1;
		if (!s->code || !s->name || !s->argv[0])
			rc = EVCAST_ENOMEM;
	} else if (rc == 0) {
		const char *q = v;
		while (*q && s->argc < MAX_ARGS) {
			size_t n = strcspn(q, " \t");
			if (n > 0 && !(s->argv[s->argc++] = evc__strndup(q, n))) {
				rc = EVCAST_ENOMEM;
				break;
			}
			q += n;
			q += strspn(q, " \t");
		}
		if (rc == 0 && *q)
			rc = bad_value(cx, p, "too many arguments (at most 31)");
		if (rc == 0) {
			const char *base = strrchr(s->argv[0], '/');
			s->name = evc__strdup(base ? base + 1 : s->argv[0]);
			if (!s->name)
				rc = EVCAST_ENOMEM;
		}
	}
	if (rc != 0) {
		evcd_lua_script_free(s);
		return rc;
	}
	l->scripts[l->nscripts++] = s;
	return 0;
}

static int global_add(evcd_lua_t *l, const char *name, size_t nname, const char *value)
{
	for (size_t i = 0; i < l->nglobals; i++) {
		if (strlen(l->globals[i].name) == nname && strncasecmp(l->globals[i].name, name, nname) == 0) {
			char *v = evc__strdup(value);
			if (!v)
				return EVCAST_ENOMEM;
			evc__free(l->globals[i].value);
			l->globals[i].value = v;
			return 0;
		}
	}
	evcd_lua_global_t *g = evc__realloc(l->globals, (l->nglobals + 1) * sizeof(*g));
	if (!g)
		return EVCAST_ENOMEM;
	l->globals = g;
	g[l->nglobals].name = evc__strndup(name, nname);
	g[l->nglobals].value = evc__strdup(value);
	if (!g[l->nglobals].name || !g[l->nglobals].value) {
		evc__free(g[l->nglobals].name);
		evc__free(g[l->nglobals].value);
		return EVCAST_ENOMEM;
	}
	l->nglobals++;
	return 0;
}

static int parse_param(conf_ctx_t *cx, const evcast_param_t *p)
{
	evcd_lua_t *l = cx->l;
	const char *n = p->name ? p->name : "";
	const char *v = p->value ? p->value : "";
	double x = 0;
	int rc;
	if (strcasecmp(n, "startup-script") == 0)
		return script_new(cx, p);
	if (strcasecmp(n, "script-directory") == 0 || strcasecmp(n, "module-directory") == 0) {
		bool mod = n[0] == 'm' || n[0] == 'M';
		if (!v[0])
			return bad_value(cx, p, "empty");
		char *dir = join_path(cx->cfgdir, v);
		if (!dir)
			return EVCAST_ENOMEM;
		rc = mod ? add_dir_pattern(&l->pcpath, dir, "?.so") : add_dir_pattern(&l->ppath, dir, "?.lua");
		if (rc == 0 && !mod && !strchr(dir, '?') && !cx->have_dir) {
			evc__free(l->script_dir);
			l->script_dir = dir;
			cx->have_dir = true;
			dir = NULL;
		}
		evc__free(dir);
		return rc;
	}
	if (strcasecmp(n, "sandbox") == 0 || strcasecmp(n, "sandbox-allow-modules") == 0) {
		bool mods = strlen(n) > 7;
		int b = mods ? -1 : evc__parse_bool(v);
		if (b >= 0) { /* sandbox yes|no: every script */
			l->sandbox_all = b;
			evc__free(l->sandbox_spec);
			l->sandbox_spec = NULL;
			return 0;
		}
		/* a list of names (commas or spaces), accumulated over repeated params */
		char **acc = mods ? &l->sandbox_modules : &l->sandbox_spec;
		for (const char *q = v + strspn(v, ", \t"); *q; q += strspn(q, ", \t")) {
			size_t k = strcspn(q, ", \t");
			char item[256];
			if (k >= sizeof(item))
				return bad_value(cx, p, "a name longer than 255 bytes");
			memcpy(item, q, k);
			item[k] = '\0';
			if ((rc = append_path(acc, item)) != 0)
				return rc;
			q += k;
		}
		if (!mods)
			cx->sandbox_line = p->line;
		return 0;
	}
	if (strcasecmp(n, "global-variable") == 0) {
		const char *eq = strchr(v, '=');
		if (!eq || eq == v)
			return bad_value(cx, p, "expected name=value");
		return global_add(l, v, (size_t)(eq - v), eq + 1);
	}
	struct {
		const char *name;
		double lo, hi, scale;
		void *dst;
		bool is_size;
	} num[] = {
		{"max-queue", 1, 1000000, 1, &l->max_queue, true},
		{"max-consumers", 1, 10000, 1, &l->max_consumers, true},
		{"request-queue", 1, 1000000, 1, &l->req_cap, true},
		{"max-memory", 0, 1048576, 1024.0 * 1024.0, &l->max_memory, true},
		{"restart-backoff-min", 0.01, 86400, 1000, &l->backoff_min_ms, false},
		{"restart-backoff-max", 0.01, 86400, 1000, &l->backoff_max_ms, false},
		{"stop-timeout", 0.1, 3600, 1000, &l->stop_timeout_ms, false},
		{"cpu-limit-ms", 0, 3600000, 1, &l->cpu_limit_ms, false},
	};
	for (size_t i = 0; i < EVC_ARRAY_SIZE(num); i++) {
		if (strcasecmp(n, num[i].name) != 0)
			continue;
		if ((rc = parse_number(cx, p, num[i].lo, num[i].hi, &x)) != 0)
			return rc;
		if (num[i].is_size)
			*(size_t *)num[i].dst = (size_t)(x * num[i].scale);
		else
			*(uint64_t *)num[i].dst = (uint64_t)(x * num[i].scale);
		return 0;
	}
	evcd_logf(l->d, EVCAST_LOG_WARNING, "%s:%d: lua.conf: unknown param \"%s\" ignored", cx->file, p->line, n);
	return 0;
}

/* True when the ";"-joined list holds name. */
static bool list_has(const char *list, const char *name, size_t n)
{
	for (const char *q = list; q && *q; q += strcspn(q, ";"), q += *q == ';') {
		size_t k = strcspn(q, ";");
		if (k == n && strncmp(q, name, n) == 0)
			return true;
	}
	return false;
}

/* Which scripts run sandboxed: every one (sandbox yes) or those named, by the
 * name in logs ("presence.lua", "inline#2") or as written in startup-script. */
static int resolve_sandbox(conf_ctx_t *cx)
{
	evcd_lua_t *l = cx->l;
	for (size_t i = 0; i < l->nscripts; i++) {
		evcd_lua_script_t *s = l->scripts[i];
		s->sandbox = l->sandbox_all || list_has(l->sandbox_spec, s->name, strlen(s->name)) ||
			     list_has(l->sandbox_spec, s->argv[0], strlen(s->argv[0]));
	}
	for (const char *q = l->sandbox_spec; q && *q; q += strcspn(q, ";"), q += *q == ';') {
		size_t k = strcspn(q, ";");
		bool found = false;
		for (size_t i = 0; i < l->nscripts && !found; i++)
			found = (strlen(l->scripts[i]->name) == k && strncmp(l->scripts[i]->name, q, k) == 0) ||
				(strlen(l->scripts[i]->argv[0]) == k && strncmp(l->scripts[i]->argv[0], q, k) == 0);
		if (!found) {
			evcd_logf(l->d, EVCAST_LOG_ERR,
				  "%s:%d: lua.conf param sandbox: invalid value \"%.*s\" (not yes, no or the name of a "
				  "startup-script)", cx->file, cx->sandbox_line, (int)k, q);
			return EVCAST_EINVAL;
		}
	}
	return 0;
}

int evcd_lua_parse_settings(evcd_lua_t *l, const evcast_section_t *sec)
{
	conf_ctx_t cx = {.l = l, .file = l->d->cfg->path ? l->d->cfg->path : "(config)"};
	char buf[PATH_MAX];
	const char *slash = l->d->cfg->path ? strrchr(l->d->cfg->path, '/') : NULL;
	if (slash) {
		snprintf(buf, sizeof(buf), "%.*s", (int)(slash - l->d->cfg->path), l->d->cfg->path);
		if (!buf[0])
			strcpy(buf, "/");
	} else {
		strcpy(buf, ".");
	}
	char real[PATH_MAX];
	cx.cfgdir = evc__strdup(realpath(buf, real) ? real : buf);
	l->scripts = evc__calloc(MAX_SCRIPTS, sizeof(*l->scripts));
	if (!cx.cfgdir || !l->scripts) {
		evc__free(cx.cfgdir);
		return EVCAST_ENOMEM;
	}
	int rc = 0;
	for (size_t i = 0; i < sec->nparams && rc == 0; i++)
		rc = parse_param(&cx, &sec->params[i]);
	if (rc == 0 && l->backoff_max_ms < l->backoff_min_ms) {
		evcd_logf(l->d, EVCAST_LOG_WARNING, "%s: lua.conf: restart-backoff-max below restart-backoff-min; using %.2f s",
			  cx.file, (double)l->backoff_min_ms / 1000.0);
		l->backoff_max_ms = l->backoff_min_ms;
	}
	if (rc == 0 && !l->script_dir) {
		l->script_dir = cx.cfgdir;
		cx.cfgdir = NULL;
		rc = add_dir_pattern(&l->ppath, l->script_dir, "?.lua");
	}
	if (rc == 0)
		rc = resolve_sandbox(&cx);
	for (size_t i = 0; i < l->nscripts && rc == 0; i++) {
		evcd_lua_script_t *s = l->scripts[i];
		if (s->code)
			continue;
		if (!(s->path = join_path(l->script_dir, s->argv[0])))
			rc = EVCAST_ENOMEM;
		else if (access(s->path, R_OK) != 0)
			evcd_logf(l->d, EVCAST_LOG_WARNING, "%s: lua.conf: startup-script %s: %s (will keep retrying)",
				  cx.file, s->path, strerror(errno));
	}
	evc__free(cx.cfgdir);
	return rc;
}

/* ------------------------------------------------------------------ globals */

static void first_addr(int family, char *out, size_t cap, const char *fallback)
{
	struct ifaddrs *ifa = NULL;
	snprintf(out, cap, "%s", fallback);
	if (getifaddrs(&ifa) != 0)
		return;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != family || !(i->ifa_flags & IFF_UP) ||
		    (i->ifa_flags & IFF_LOOPBACK))
			continue;
		const void *a;
		if (family == AF_INET) {
			a = &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr;
		} else {
			const struct in6_addr *a6 = &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr;
			if (IN6_IS_ADDR_LINKLOCAL(a6))
				continue;
			a = a6;
		}
		if (inet_ntop(family, a, out, (socklen_t)cap))
			break;
		snprintf(out, cap, "%s", fallback);
	}
	freeifaddrs(ifa);
}

/* Built-ins first; the global-variable params parsed earlier override them. */
int evcd_lua_globals_init(evcd_lua_t *l)
{
	evcd_lua_global_t *user = l->globals;
	size_t nuser = l->nglobals;
	char host[256] = "localhost", v4[INET6_ADDRSTRLEN], v6[INET6_ADDRSTRLEN];
	const char *node = evcast_node_name(l->d->node);
	const char *uuid = evcast_node_core_uuid(l->d->node);
	if (gethostname(host, sizeof(host) - 1) != 0)
		strcpy(host, "localhost");
	first_addr(AF_INET, v4, sizeof(v4), "127.0.0.1");
	first_addr(AF_INET6, v6, sizeof(v6), "::1");
	const char *conf_dir = l->d->cfg->path ? l->d->cfg->path : ".";
	const char *slash = strrchr(conf_dir, '/');
	char cdir[PATH_MAX];
	snprintf(cdir, sizeof(cdir), "%.*s", slash ? (int)(slash - conf_dir) : 1, slash ? conf_dir : ".");
	const char *builtin[][2] = {
		{"hostname", host},          {"switchname", node ? node : host},
		{"switch_name", node ? node : host}, {"node_name", node ? node : host},
		{"core_uuid", uuid ? uuid : ""}, {"local_ip_v4", v4},
		{"local_ip_v6", v6},         {"conf_dir", cdir},
		{"script_dir", l->script_dir}, {"evcast_version", EVCAST_VERSION},
	};
	l->globals = NULL;
	l->nglobals = 0;
	int rc = 0;
	for (size_t i = 0; i < EVC_ARRAY_SIZE(builtin) && rc == 0; i++)
		rc = global_add(l, builtin[i][0], strlen(builtin[i][0]), builtin[i][1]);
	for (size_t i = 0; i < nuser; i++) {
		if (rc == 0)
			rc = global_add(l, user[i].name, strlen(user[i].name), user[i].value);
		evc__free(user[i].name);
		evc__free(user[i].value);
	}
	evc__free(user);
	return rc;
}

const char *evcd_lua_global(const evcd_lua_t *l, const char *name)
{
	for (size_t i = 0; i < l->nglobals; i++)
		if (strcasecmp(l->globals[i].name, name) == 0)
			return l->globals[i].value;
	return NULL;
}

const char *evcd_lua_package_path(const evcd_lua_t *l) { return l->ppath ? l->ppath : ""; }
const char *evcd_lua_package_cpath(const evcd_lua_t *l) { return l->pcpath ? l->pcpath : ""; }
