/*
 * config.c -- the XML configuration: event_multicast.conf and its neighbours.
 *
 * Owns evcast_config_parse/load/free/section, evcast_dest_parse and
 * evc__config_dup. expat (allocating through evc__malloc) collects every
 * <configuration> block's <settings><param> list with line numbers; then the
 * event_multicast.conf params are validated into the typed fields. Never
 * prints: warnings go to the log callback, errors into err as
 * "file:line: param "x": value "v" why". No fixed buffer holds input: values
 * are bounded (CFG_MAX_VALUE) and rejected beyond it.
 * Copy and free are config_copy.c's. Sections: limits and helpers;
 * destinations; expat collection; params; entry points.
 */
#include "internal.h"
#include "v2conf.h"
#include <arpa/inet.h>
#include <errno.h>
#include <expat.h>
#include <fcntl.h>
#include <net/if.h>
#include <stddef.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ------------------------------------------------------ limits and helpers */

#define CFG_MAX_FILE (1024 * 1024) /* bytes of XML */
#define CFG_MAX_VALUE 4096         /* bytes of one param value */
#define CFG_MAX_NAME 255           /* param name, block name, node-name */
#define CFG_MAX_SECTIONS 256       /* <configuration> blocks */
#define CFG_MAX_PARAMS 4096        /* params in one block */
#define CFG_MAX_SECONDS 86400      /* heartbeat-interval, peer-timeout */
#define CFG_LEGACY_KEY_BYTES 72    /* what the legacy cipher uses of a psk */
#define CFG_MULTICAST "event_multicast.conf"

/* The state of one parse: the config being built and where to report. */
typedef struct pstate {
	XML_Parser xp;
	evcast_config_t *cfg;
	const char *file; /* for messages */
	evc__logger_t lg;
	char *err;
	size_t errlen;
	int rc;                  /* first error; 0 while all is well */
	unsigned depth;          /* of the current element; the root is 1 */
	bool root_evcast;
	unsigned section_depth;  /* depth of the open <configuration>, 0 = none */
	unsigned settings_depth; /* depth of the open <settings>, 0 = none */
	size_t params_cap;       /* capacity of the open (last) section's params */
} pstate_t;

static int fail(pstate_t *st, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records the first error (later ones are consequences), stops expat, returns rc. */
static int fail(pstate_t *st, int rc, const char *fmt, ...)
{
	if (st->rc)
		return rc;
	st->rc = rc;
	if (st->err && st->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(st->err, st->errlen, fmt, ap);
		va_end(ap);
	}
	if (st->xp)
		XML_StopParser(st->xp, XML_FALSE);
	return rc;
}

static int oom(pstate_t *st) { return fail(st, EVCAST_ENOMEM, "%s: out of memory", st->file); }

/* A value for a one-line message: at most 48 bytes shown, control characters,
 * quotes and backslashes escaped, "..." when cut. out must hold 256 bytes. */
static const char *show(const char *v, char out[256])
{
	size_t o = 0, i;
	for (i = 0; v[i] && i < 48; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, 256 - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	if (v[i])
		memcpy(out + o, "...", 4);
	return out;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Copy of s without surrounding white space; NULL when out of memory. */
static char *trim_dup(const char *s)
{
	size_t n;
	while (is_space(*s))
		s++;
	n = strlen(s);
	while (n && is_space(s[n - 1]))
		n--;
	return evc__strndup(s, n);
}

/* Decimal digits only, lo..hi. */
static bool parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	uint64_t v;
	if (!evc__parse_u64(s, lo, hi, &v))
		return false;
	*out = (unsigned long)v;
	return true;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* ------------------------------------------------------- expat collection */

static const char *attr(const XML_Char **atts, const char *name)
{
	for (size_t i = 0; atts[i]; i += 2)
		if (strcmp(atts[i], name) == 0)
			return atts[i + 1];
	return NULL;
}

static int line_of(pstate_t *st) { return (int)XML_GetCurrentLineNumber(st->xp); }

static int open_section(pstate_t *st, const XML_Char **atts)
{
	evcast_config_t *cfg = st->cfg;
	const char *name = attr(atts, "name");
	int line = line_of(st);
	char shown[256];
	if (!name || !*name)
		return fail(st, EVCAST_EPARSE, "%s:%d: <configuration> without a name attribute", st->file, line);
	if (strlen(name) > CFG_MAX_NAME)
		return fail(st, EVCAST_EPARSE, "%s:%d: <configuration name=\"%s\">: name longer than %d bytes",
			    st->file, line, show(name, shown), CFG_MAX_NAME);
	for (size_t i = 0; i < cfg->nsections; i++)
		if (strcasecmp(cfg->sections[i].name, name) == 0)
			return fail(st, EVCAST_EPARSE, "%s:%d: <configuration name=\"%s\"> repeats the block of line %d",
				    st->file, line, show(name, shown), cfg->sections[i].line);
	if (cfg->nsections >= CFG_MAX_SECTIONS)
		return fail(st, EVCAST_EPARSE, "%s:%d: more than %d <configuration> blocks", st->file, line,
			    CFG_MAX_SECTIONS);
	evcast_section_t *v = evc__realloc(cfg->sections, (cfg->nsections + 1) * sizeof(*v));
	if (!v)
		return oom(st);
	cfg->sections = v;
	evcast_section_t *s = &v[cfg->nsections];
	memset(s, 0, sizeof(*s));
	if (!(s->name = evc__strdup(name)))
		return oom(st);
	s->line = line;
	cfg->nsections++;
	st->params_cap = 0;
	st->section_depth = st->depth;
	return 0;
}

/* Appends a <param> to the open (last) section, its value bounded. */
static int add_param(pstate_t *st, const XML_Char **atts)
{
	evcast_section_t *s = &st->cfg->sections[st->cfg->nsections - 1];
	const char *name = attr(atts, "name"), *value = attr(atts, "value");
	int line = line_of(st);
	char shown[256], shown2[256];
	size_t n;
	if (!name || !*name)
		return fail(st, EVCAST_EPARSE, "%s:%d: <param> without a name attribute", st->file, line);
	if (strlen(name) > CFG_MAX_NAME)
		return fail(st, EVCAST_EINVAL, "%s:%d: param name \"%s\" is too long (at most %d bytes)", st->file,
			    line, show(name, shown), CFG_MAX_NAME);
	if (!value)
		value = "";
	if ((n = strlen(value)) > CFG_MAX_VALUE)
		return fail(st, EVCAST_EINVAL, "%s:%d: param \"%s\": value \"%s\" is too long (%zu bytes, at most %d)",
			    st->file, line, show(name, shown2), show(value, shown), n, CFG_MAX_VALUE);
	if (s->nparams >= CFG_MAX_PARAMS)
		return fail(st, EVCAST_EPARSE, "%s:%d: more than %d params in <configuration name=\"%s\">",
			    st->file, line, CFG_MAX_PARAMS, s->name);
	if (s->nparams == st->params_cap) {
		size_t cap = st->params_cap ? st->params_cap * 2 : 8;
		evcast_param_t *v = evc__realloc(s->params, cap * sizeof(*v));
		if (!v)
			return oom(st);
		s->params = v;
		st->params_cap = cap;
	}
	evcast_param_t *p = &s->params[s->nparams];
	p->name = evc__strdup(name);
	p->value = evc__strndup(value, n);
	p->line = line;
	if (!p->name || !p->value) {
		evc__free(p->name);
		evc__free(p->value);
		return oom(st);
	}
	s->nparams++;
	return 0;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	pstate_t *st = ud;
	char shown[256];
	st->depth++;
	if (st->rc)
		return;
	if (st->depth == 1) {
		if (strcmp(name, "evcast") == 0)
			st->root_evcast = true;
		else if (strcmp(name, "configuration") == 0)
			open_section(st, atts);
		else
			fail(st, EVCAST_EPARSE, "%s:%d: root element <%s> is neither <configuration> nor <evcast>",
			     st->file, line_of(st), show(name, shown));
		return;
	}
	if (st->depth == 2 && st->root_evcast) {
		if (strcmp(name, "configuration") == 0)
			open_section(st, atts);
		else
			evc__log(&st->lg, EVCAST_LOG_WARNING, "%s:%d: unknown element <%s> in <evcast> (ignored)",
				 st->file, line_of(st), show(name, shown));
		return;
	}
	if (st->section_depth && st->depth == st->section_depth + 1 && strcmp(name, "settings") == 0)
		st->settings_depth = st->depth;
	else if (st->settings_depth && st->depth == st->settings_depth + 1 && strcmp(name, "param") == 0)
		add_param(st, atts);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	pstate_t *st = ud;
	(void)name;
	if (st->depth == st->settings_depth)
		st->settings_depth = 0;
	if (st->depth == st->section_depth)
		st->section_depth = 0;
	st->depth--;
}

/* Entities are the door to "billion laughs" and external reads: none allowed. */
static void XMLCALL on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value, int value_len,
			      const XML_Char *base, const XML_Char *system_id, const XML_Char *public_id,
			      const XML_Char *notation)
{
	pstate_t *st = ud;
	char shown[256];
	fail(st, EVCAST_EPARSE, "%s:%d: entity declaration \"%s\": entities are not allowed", st->file,
	     line_of(st), show(name, shown));
}

/* ------------------------------------------------------------------ params */

typedef struct pctx {
	pstate_t *st;
	const evcast_param_t *p;
	char *v; /* trimmed copy of the value */
} pctx_t;

static int bad(pctx_t *c, const char *why, ...) __attribute__((format(printf, 2, 3)));

/* "file:line: param "x": value "v" <why>"; returns EVCAST_EINVAL. */
static int bad(pctx_t *c, const char *why, ...)
{
	char reason[512], shown[256], shown2[256];
	va_list ap;
	va_start(ap, why);
	vsnprintf(reason, sizeof(reason), why, ap);
	va_end(ap);
	fail(c->st, EVCAST_EINVAL, "%s:%d: param \"%s\": value \"%s\" %s", c->st->file, c->p->line,
	     show(c->p->name, shown2), show(c->p->value, shown), reason);
	return EVCAST_EINVAL;
}

/* Words after CUSTOM are subclasses, even uppercase ones that look like event
 * names: a common slip ("CUSTOM sofia::register HEARTBEAT"), so say so. */
static void warn_bindings(pctx_t *c)
{
	const char *s = c->v, *w;
	bool custom = false, upper;
	for (size_t n = 1; n;) {
		while (is_space(*s))
			s++;
		for (w = s, upper = true; *s && !is_space(*s); s++)
			upper = upper && ((*s >= 'A' && *s <= 'Z') || *s == '_');
		if ((n = (size_t)(s - w)) == 6 && strncmp(w, "CUSTOM", 6) == 0)
			custom = true;
		else if (n && custom && upper && !(n == 3 && strncmp(w, "ALL", 3) == 0))
			evc__log(&c->st->lg, EVCAST_LOG_WARNING,
				 "%s:%d: param \"bindings\": \"%.*s\" follows CUSTOM, so it is taken as a subclass, "
				 "not an event name (put event names before CUSTOM)",
				 c->st->file, c->p->line, (int)(n > 64 ? 64 : n), w);
	}
}

enum kind { K_ADDRESS, K_PORT, K_BINDINGS, K_TTL, K_BOOL, K_PSK, K_IPV4, K_IPV6, K_NODE, K_IFACE, K_SECONDS,
	    K_PATH, K_LEVEL };

#define F(field) offsetof(evcast_config_t, field)
static const struct known_param {
	const char *name;
	enum kind kind;
	size_t off; /* of the field it sets */
} known[] = {
	{"address", K_ADDRESS, 0},
	{"port", K_PORT, F(port)},
	{"bindings", K_BINDINGS, F(bindings)},
	{"ttl", K_TTL, F(ttl)},
	{"loopback", K_BOOL, F(loopback)},
	{"psk", K_PSK, F(psk)},
	{"source_address", K_IPV4, F(source_address)},
	{"source_address_ipv6", K_IPV6, F(source_address_ipv6)},
	{"node-name", K_NODE, F(node_name)},
	{"multicast-interface", K_IFACE, F(multicast_interface)},
	{"heartbeat-interval", K_SECONDS, F(heartbeat_interval)},
	{"peer-timeout", K_SECONDS, F(peer_timeout)},
	{"control-socket", K_PATH, F(control_socket)},
	{"log-level", K_LEVEL, F(log_level)},
};
#undef F

/* Validates one event_multicast.conf param into its field. */
static int apply_param(pctx_t *c, const struct known_param *k)
{
	void *field = (char *)c->st->cfg + k->off;
	char **str = field;
	const char *v = c->v;
	size_t n = strlen(v), max;
	unsigned long u;
	struct in6_addr a6;
	struct in_addr a4;
	evcast_bindings_t *b = NULL;
	int i;
	switch (k->kind) {
	case K_ADDRESS: /* resolved after the loop: port may come later in the file */
		return 0;
	case K_PORT:
		if (!parse_uint(v, 1, 65535, &u))
			return bad(c, "is not a port (1-65535)");
		*(uint16_t *)field = (uint16_t)u;
		return 0;
	case K_TTL:
		if (!parse_uint(v, 0, 255, &u))
			return bad(c, "is not a TTL (0-255)");
		*(int *)field = (int)u;
		return 0;
	case K_SECONDS:
		if (!parse_uint(v, 1, CFG_MAX_SECONDS, &u))
			return bad(c, "is not a number of seconds (1-%d)", CFG_MAX_SECONDS);
		*(unsigned *)field = (unsigned)u;
		return 0;
	case K_BOOL:
		if ((i = evc__parse_bool(v)) < 0)
			return bad(c, "is not a boolean (yes/no, true/false, on/off, 1/0)");
		*(bool *)field = i;
		return 0;
	case K_LEVEL:
		if ((i = evcast_log_level_parse(v)) < 0)
			return bad(c, "is not a log level (err, warning, notice, info, debug)");
		*(int *)field = i;
		return 0;
	case K_BINDINGS:
		i = evcast_bindings_new(v, &b);
		evcast_bindings_free(b);
		if (i == EVCAST_ENOMEM)
			return oom(c->st);
		if (i < 0)
			return bad(c, "is not a bindings list (event names, then CUSTOM and subclasses; "
				      "printable words of at most 255 bytes)");
		warn_bindings(c);
		break;
	case K_PSK:
		v = c->p->value; /* as written: spaces may be key bytes */
		if ((n = strlen(v)) > CFG_LEGACY_KEY_BYTES)
			evc__log(&c->st->lg, EVCAST_LOG_WARNING,
				 "%s:%d: param \"psk\": %zu bytes long; the legacy cipher uses only the first %d",
				 c->st->file, c->p->line, n, CFG_LEGACY_KEY_BYTES);
		v = n ? v : NULL;
		break;
	case K_IPV4:
		if (inet_pton(AF_INET, v, &a4) != 1)
			return bad(c, "is not an IPv4 address");
		break;
	case K_IPV6:
		if (inet_pton(AF_INET6, v, &a6) != 1)
			return bad(c, "is not an IPv6 address");
		break;
	case K_NODE:
		if (n == 0)
			return bad(c, "is empty (leave the param out to use the host name)");
		if (n > CFG_MAX_NAME)
			return bad(c, "is too long (%zu bytes, at most %d)", n, CFG_MAX_NAME);
		if (has_control(v))
			return bad(c, "contains a control character");
		break;
	case K_IFACE:
		if (n == 0)
			v = NULL; /* the kernel's choice */
		else if (inet_pton(AF_INET, v, &a4) != 1 && inet_pton(AF_INET6, v, &a6) != 1 &&
			 (n >= IFNAMSIZ || strpbrk(v, " /\t") || has_control(v)))
			return bad(c, "is neither an IP address nor an interface name "
				      "(at most %d characters, no '/' or spaces)",
				   IFNAMSIZ - 1);
		break;
	case K_PATH:
		max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
		if (n == 0)
			return bad(c, "is empty (leave the param out for %s)", EVCAST_DEFAULT_CONTROL_SOCKET);
		if (n > max)
			return bad(c, "is too long for a Unix socket path (%zu bytes, at most %zu)", n, max);
		if (has_control(v))
			return bad(c, "contains a control character");
		break;
	}
	char *d = NULL; /* the string kinds end here */
	if (v && !(d = evc__strdup(v)))
		return oom(c->st);
	evc__free(*str);
	*str = d;
	return 0;
}

/* "a, b,[v6]" -> cfg->dests with the final port. */
static void resolve_addresses(pstate_t *st, const evcast_param_t *p)
{
	evcast_config_t *cfg = st->cfg;
	pctx_t c = {st, p, NULL};
	const char *s = p->value;
	size_t count = 1;
	char shown[256];
	for (const char *q = s; *q; q++)
		count += *q == ',';
	if (count > EVCAST_MAX_ADDRESSES) {
		bad(&c, "has %zu addresses (at most %d)", count, EVCAST_MAX_ADDRESSES);
		return;
	}
	cfg->ndests = 0;
	for (size_t i = 0; i < count; i++) {
		const char *e = strchr(s, ',');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		char item[64];
		while (n && is_space(*s))
			s++, n--;
		while (n && is_space(s[n - 1]))
			n--;
		if (n == 0) {
			bad(&c, count == 1 ? "is empty (give at least one address)"
					   : "has an empty item in its comma-separated list");
			return;
		}
		if (n >= sizeof(item)) {
			bad(&c, "has an item longer than %zu bytes", sizeof(item) - 1);
			return;
		}
		memcpy(item, s, n);
		item[n] = '\0';
		evcast_dest_t *d = &cfg->dests[cfg->ndests];
		if (evcast_dest_parse(item, cfg->port, d) < 0) {
			bad(&c, "has \"%s\", which is not an IPv4 or IPv6 address", show(item, shown));
			return;
		}
		for (size_t j = 0; j < cfg->ndests; j++)
			if (cfg->dests[j].addrlen == d->addrlen && memcmp(&cfg->dests[j].addr, &d->addr, d->addrlen) == 0)
				evc__log(&st->lg, EVCAST_LOG_WARNING,
					 "%s:%d: param \"address\": \"%s\" is listed twice; it gets each event twice",
					 st->file, p->line, show(item, shown));
		cfg->ndests++;
		s = e ? e + 1 : s + n;
	}
}

static void apply_multicast(pstate_t *st, const evcast_section_t *sec)
{
	int seen[EVC_ARRAY_SIZE(known)] = {0};
	const evcast_param_t *address = NULL;
	const evcast_param_t *timeout = NULL;
	char shown[256];
	for (size_t i = 0; i < sec->nparams && !st->rc; i++) {
		const evcast_param_t *p = &sec->params[i];
		size_t k;
		for (k = 0; k < EVC_ARRAY_SIZE(known); k++)
			if (strcasecmp(p->name, known[k].name) == 0)
				break;
		if (k == EVC_ARRAY_SIZE(known) && evc__v2_is_param(p->name))
			continue; /* validated as a whole by v2conf.c below */
		if (k == EVC_ARRAY_SIZE(known)) {
			evc__log(&st->lg, EVCAST_LOG_WARNING, "%s:%d: unknown param \"%s\" in %s (ignored)", st->file,
				 p->line, show(p->name, shown), CFG_MULTICAST);
			continue;
		}
		if (seen[k])
			evc__log(&st->lg, EVCAST_LOG_WARNING,
				 "%s:%d: param \"%s\" repeats the one of line %d; the last value is used", st->file,
				 p->line, known[k].name, seen[k]);
		seen[k] = p->line;
		if (known[k].kind == K_ADDRESS)
			address = p;
		if (known[k].off == offsetof(evcast_config_t, peer_timeout))
			timeout = p;
		pctx_t c = {st, p, trim_dup(p->value)};
		if (!c.v || apply_param(&c, &known[k]) == EVCAST_ENOMEM)
			oom(st);
		evc__free(c.v);
	}
	if (!st->rc && address)
		resolve_addresses(st, address);
	if (!st->rc && st->cfg->peer_timeout <= st->cfg->heartbeat_interval)
		evc__log(&st->lg, EVCAST_LOG_WARNING,
			 "%s:%d: peer-timeout (%u s) is not longer than heartbeat-interval (%u s): "
			 "peers will be marked down between two heartbeats",
			 st->file, timeout ? timeout->line : sec->line, st->cfg->peer_timeout,
			 st->cfg->heartbeat_interval);
}

/* ------------------------------------------------------------ entry points */

static evcast_config_t *config_new(const char *path)
{
	char host[256];
	evcast_config_t *cfg = evc__calloc(1, sizeof(*cfg));
	if (!cfg)
		return NULL;
	if (gethostname(host, sizeof(host)) != 0 || !host[0])
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	cfg->port = 4242;
	cfg->ttl = 1;
	cfg->heartbeat_interval = 20;
	cfg->peer_timeout = 60;
	cfg->log_level = EVCAST_LOG_NOTICE;
	cfg->path = path ? evc__strdup(path) : NULL;
	cfg->bindings = evc__strdup("");
	cfg->source_address = evc__strdup("0.0.0.0");
	cfg->source_address_ipv6 = evc__strdup("::");
	cfg->node_name = evc__strdup(host);
	cfg->control_socket = evc__strdup(EVCAST_DEFAULT_CONTROL_SOCKET);
	if ((path && !cfg->path) || !cfg->bindings || !cfg->source_address || !cfg->source_address_ipv6 ||
	    !cfg->node_name || !cfg->control_socket) {
		evcast_config_free(cfg);
		return NULL;
	}
	return cfg;
}

static void *mm_malloc(size_t n) { return evc__malloc(n); }
static void *mm_realloc(void *p, size_t n) { return evc__realloc(p, n); }
static void mm_free(void *p) { evc__free(p); }

/* Runs expat over the text; fills st->cfg->sections or sets st->rc. */
static void collect(pstate_t *st, const char *xml, size_t len)
{
	static const XML_Memory_Handling_Suite mm = {mm_malloc, mm_realloc, mm_free};
	if (!(st->xp = XML_ParserCreate_MM(NULL, &mm, NULL))) {
		oom(st);
		return;
	}
	XML_SetUserData(st->xp, st);
	XML_SetElementHandler(st->xp, on_start, on_end);
	XML_SetEntityDeclHandler(st->xp, on_entity);
	if (XML_Parse(st->xp, xml ? xml : "", (int)len, XML_TRUE) != XML_STATUS_OK && !st->rc) {
		enum XML_Error code = XML_GetErrorCode(st->xp);
		fail(st, code == XML_ERROR_NO_MEMORY ? EVCAST_ENOMEM : EVCAST_EPARSE, "%s:%lu:%lu: %s", st->file,
		     (unsigned long)XML_GetErrorLineNumber(st->xp),
		     (unsigned long)XML_GetErrorColumnNumber(st->xp) + 1, XML_ErrorString(code));
	}
	XML_ParserFree(st->xp);
	st->xp = NULL;
}

static int errf(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Writes a message into the caller's optional err buffer; returns rc. */
static int errf(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;
	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int evcast_config_parse(const char *xml, size_t len, const char *path, evcast_log_cb log, void *log_ud,
			evcast_config_t **out, char *err, size_t errlen)
{
	pstate_t st;
	const char *file = path ? path : "(config)";
	if (err && errlen)
		err[0] = '\0';
	if (!out || (!xml && len))
		return EVCAST_EINVAL;
	*out = NULL;
	if (len > CFG_MAX_FILE)
		return errf(err, errlen, EVCAST_E2BIG, "%s: %zu bytes, larger than the %d a configuration may have",
			    file, len, CFG_MAX_FILE);
	if (sodium_init() < 0)
		return errf(err, errlen, EVCAST_EIO, "%s: libsodium failed to initialise", file);
	memset(&st, 0, sizeof(st));
	st.file = file;
	st.lg = (evc__logger_t){log, log_ud, EVCAST_LOG_DEBUG};
	st.err = err;
	st.errlen = errlen;
	if (!(st.cfg = config_new(path)))
		return errf(err, errlen, EVCAST_ENOMEM, "%s: out of memory", file);
	collect(&st, xml, len);
	if (!st.rc) {
		const evcast_section_t *sec = evcast_config_section(st.cfg, CFG_MULTICAST);
		if (!sec)
			fail(&st, EVCAST_EPARSE, "%s: no <configuration name=\"%s\"> block", file, CFG_MULTICAST);
		else
			apply_multicast(&st, sec);
	}
	/* the digest covers the keys of v2-keys-file too: a rotated file is a change a reload applies */
	evc__v2_settings_t v2;
	if (!st.rc && evc__v2_settings_parse(evcast_config_section(st.cfg, CFG_MULTICAST), st.cfg->port, file, &v2, err,
					     errlen) != 0)
		st.rc = EVCAST_EINVAL;
	if (!st.rc) {
		crypto_generichash_state h;
		crypto_generichash_init(&h, NULL, 0, sizeof(st.cfg->digest));
		crypto_generichash_update(&h, (const unsigned char *)xml, len);
		for (size_t i = 0; v2.keys_file[0] && i < v2.nkeys; i++)
			crypto_generichash_update(&h, (const unsigned char *)v2.keys[i], strlen(v2.keys[i]) + 1);
		crypto_generichash_final(&h, st.cfg->digest, sizeof(st.cfg->digest));
	}
	sodium_memzero(&v2, sizeof(v2));
	if (st.rc) {
		evcast_config_free(st.cfg);
		return st.rc;
	}
	*out = st.cfg;
	return 0;
}

/* What a path that is not a regular file is, for the message. */
static const char *file_kind(mode_t m)
{
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	return "not a plain file";
}

int evcast_config_load(const char *path, evcast_log_cb log, void *log_ud, evcast_config_t **out, char *err,
		       size_t errlen)
{
	struct stat sb;
	char *buf;
	size_t len = 0, cap;
	int fd, rc;
	if (err && errlen)
		err[0] = '\0';
	if (!path || !out)
		return EVCAST_EINVAL;
	*out = NULL;
	/* O_NONBLOCK: a FIFO or device is refused by fstat, not waited on in open */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)) < 0)
		return errf(err, errlen, errno == ENOENT ? EVCAST_ENOENT : EVCAST_EIO, "%s: cannot open: %s", path,
			    strerror(errno));
	if (fstat(fd, &sb) != 0)
		rc = errf(err, errlen, EVCAST_EIO, "%s: cannot stat: %s", path, strerror(errno));
	else if (!S_ISREG(sb.st_mode))
		rc = errf(err, errlen, EVCAST_EIO, "%s: not a regular file (%s); refusing to read it", path,
			  file_kind(sb.st_mode));
	else if (sb.st_size > CFG_MAX_FILE)
		rc = errf(err, errlen, EVCAST_E2BIG, "%s: %lld bytes, larger than the %d a configuration may have",
			  path, (long long)sb.st_size, CFG_MAX_FILE);
	else if (!(buf = evc__malloc(cap = (size_t)sb.st_size + 1)))
		rc = errf(err, errlen, EVCAST_ENOMEM, "%s: out of memory", path);
	else {
		/* One byte more than fstat said, to notice a file that grows meanwhile. */
		for (rc = 0; len < cap;) {
			ssize_t r = read(fd, buf + len, cap - len);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				rc = errf(err, errlen, EVCAST_EIO, "%s: cannot read: %s", path, strerror(errno));
			if (r <= 0)
				break;
			len += (size_t)r;
		}
		if (!rc && len == cap)
			rc = errf(err, errlen, EVCAST_EIO, "%s: changed while being read; try again", path);
		if (!rc)
			rc = evcast_config_parse(buf, len, path, log, log_ud, out, err, errlen);
		evc__free(buf);
	}
	close(fd);
	return rc;
}

const evcast_section_t *evcast_config_section(const evcast_config_t *cfg, const char *name)
{
	if (!cfg || !name)
		return NULL;
	for (size_t i = 0; i < cfg->nsections; i++)
		if (strcasecmp(cfg->sections[i].name, name) == 0)
			return &cfg->sections[i];
	return NULL;
}
