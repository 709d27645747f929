/*
 * api.c -- the `api` command table of evcastd, shared by the control socket
 * (api/bgapi), the event socket and Lua's API():execute.
 *
 * Owns evcd_api_execute and one table of {name, syntax, description, handler}:
 * adding a command is adding a row. Output texts follow FreeSWITCH's where a
 * FreeSWITCH command of that name exists (status, version, reloadxml, unknown
 * command). Runs on the loop thread only; never blocks. Sections: string
 * builder, handlers, table, entry point.
 */
#include "daemon.h"
#include "internal.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------ string builder */

typedef struct sb {
	char *s;
	size_t len, cap;
	bool oom;
} sb_t;

static void sb_vprintf(sb_t *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;
	if (b->oom)
		return;
	va_copy(cp, ap);
	n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, cp);
	va_end(cp);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if (!b->s || b->len + (size_t)n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		char *ns;
		while (ncap < b->len + (size_t)n + 1)
			ncap *= 2;
		ns = evc__realloc(b->s, ncap);
		if (!ns) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = ncap;
		vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

static void sb_printf(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sb_t *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sb_vprintf(b, fmt, ap);
	va_end(ap);
}

/* Takes a library string (freed with evcast_free) as the whole output. */
static void sb_take(sb_t *b, char *text)
{
	if (!text) {
		b->oom = true;
		return;
	}
	sb_printf(b, "%s", text);
	evcast_free(text);
}

/* ------------------------------------------------------------ handlers */

typedef int (*api_fn)(evcd_t *d, const char *args, sb_t *out);

static int need_node(evcd_t *d, sb_t *out)
{
	if (d->node)
		return 1;
	sb_printf(out, "-ERR the node is not running\n");
	return 0;
}

/* The node's peers JSON, plus "nats": {...} when the NATS link runs. */
static void peers_json(evcd_t *d, sb_t *out)
{
	char *json = evcast_node_peers_json(d->node), *nats = d->nats ? evcd_nats_json(d) : NULL;
	char *end = json ? strrchr(json, '}') : NULL;
	if (nats && end) {
		*end = '\0';
		sb_printf(out, "%s%s\"nats\":%s}\n", json, strchr(json, ':') ? "," : "", nats);
		evcast_free(json);
	} else
		sb_take(out, json);
	evcast_free(nats);
}

static int api_peers(evcd_t *d, const char *args, sb_t *out)
{
	if (!need_node(d, out))
		return 0;
	if (args && strcasecmp(args, "json") == 0)
		peers_json(d, out);
	else if (args && *args)
		sb_printf(out, "-USAGE: multicast_peers [json]\n");
	else {
		sb_take(out, evcast_node_peers_text(d->node));
		if (d->nats)
			sb_take(out, evcd_nats_text(d)); /* the NATS link (nats.c) */
	}
	return 0;
}

static int api_peers_json(evcd_t *d, const char *args, sb_t *out)
{
	if (need_node(d, out))
		peers_json(d, out);
	return 0;
}

static void count_peer(void *ud, const evcast_peer_info_t *info)
{
	unsigned *n = ud;
	n[0]++;
	if (info->up)
		n[1]++;
}

static int api_status(evcd_t *d, const char *args, sb_t *out)
{
	uint64_t up_ms = evc__wall_ms() - d->start_ms;
	uint64_t s = up_ms / 1000;
	evcast_stats_t st;
	evcd_control_stats_t cs;
	unsigned peers[2] = {0, 0};
	/* FreeSWITCH's first line, word for word */
	sb_printf(out, "UP %u years, %u days, %u hours, %u minutes, %u seconds, %u milliseconds, %u microseconds\n",
		  (unsigned)(s / 31536000), (unsigned)(s % 31536000 / 86400), (unsigned)(s % 86400 / 3600),
		  (unsigned)(s % 3600 / 60), (unsigned)(s % 60), (unsigned)(up_ms % 1000), 0u);
	sb_printf(out, "evcast (Version %s) is %s\n", EVCAST_VERSION, d->node ? "ready" : "not ready");
	if (!d->node)
		return 0;
	evcast_node_stats(d->node, &st);
	evcast_node_peers(d->node, count_peer, peers);
	evcd_control_stats(d, &cs);
	sb_printf(out, "Node %s, core uuid %s\n", evcast_node_name(d->node), evcast_node_core_uuid(d->node));
	sb_printf(out, "%llu event(s) fired locally, %llu sent, %llu received from peers\n",
		  (unsigned long long)st.local_events, (unsigned long long)st.tx_events,
		  (unsigned long long)st.rx_events);
	sb_printf(out, "%llu datagram(s) received, %llu dropped\n", (unsigned long long)st.rx_datagrams,
		  (unsigned long long)(st.drop_empty + st.drop_trunc + st.drop_nomagic + st.drop_psk +
				       st.drop_plain + st.drop_parse + st.drop_nomem + st.drop_oversize));
	sb_printf(out, "%u peer(s) known, %u up\n", peers[0], peers[1]);
	sb_printf(out, "%llu control connection(s), %llu event(s) dropped for slow clients\n",
		  (unsigned long long)cs.connections, (unsigned long long)cs.events_dropped);
	return 0;
}

static int api_version(evcd_t *d, const char *args, sb_t *out)
{
	sb_printf(out, "evcast Version %s (libuv %s)\n", EVCAST_VERSION, uv_version_string());
	return 0;
}

/* JSON object of evcast_stats_t (evcast_stats_to_json: a new counter appears
 * without a change here) plus the control server's counters and the uptime. */
static int api_stats(evcd_t *d, const char *args, sb_t *out)
{
	evcast_stats_t st;
	evcd_control_stats_t cs;
	char *json, *end;
	if (!need_node(d, out))
		return 0;
	evcast_node_stats(d->node, &st);
	evcd_control_stats(d, &cs);
	if (!(json = evcast_stats_to_json(&st)) || !(end = strrchr(json, '}'))) {
		evcast_free(json);
		out->oom = true;
		return 0;
	}
	*end = '\0';
	sb_printf(out, "%s%s", json, strchr(json, ':') ? "," : "");
	evcast_free(json);
	sb_printf(out,
		  "\"control\":{\"connections\":%llu,\"accepted\":%llu,\"refused\":%llu,\"commands\":%llu,"
		  "\"events_queued\":%llu,\"events_dropped\":%llu,\"protocol_errors\":%llu,"
		  "\"auth_failures\":%llu,\"acl_rejected\":%llu,\"auth_timeouts\":%llu",
		  (unsigned long long)cs.connections, (unsigned long long)cs.accepted,
		  (unsigned long long)cs.refused, (unsigned long long)cs.commands,
		  (unsigned long long)cs.events_queued, (unsigned long long)cs.events_dropped,
		  (unsigned long long)cs.protocol_errors, (unsigned long long)cs.auth_failures,
		  (unsigned long long)cs.acl_rejected, (unsigned long long)cs.auth_timeouts);
	/* esl: pre-auth limits and auth failures (issue 13) */
	sb_printf(out,
		  ",\"unauthenticated\":%llu,\"preauth_evicted\":%llu,\"auth_delayed\":%llu,"
		  "\"auth_log_suppressed\":%llu,\"auth_addresses_evicted\":%llu}",
		  (unsigned long long)cs.unauthenticated, (unsigned long long)cs.preauth_evicted,
		  (unsigned long long)cs.auth_delayed, (unsigned long long)cs.auth_log_suppressed,
		  (unsigned long long)cs.auth_addresses_evicted);
	if (d->nats) {
		char *nats = evcd_nats_json(d);
		if (nats)
			sb_printf(out, ",\"nats\":%s", nats);
		evcast_free(nats);
	}
	if (d->lua) { /* Lua consumers: queues and their drops (lua.c, docs/LUA.md) */
		char *lua = evcd_lua_json(d);
		if (lua)
			sb_printf(out, ",\"lua\":%s", lua);
		evcast_free(lua);
	}
	if (d->reg) { /* the registration store: its database's state and faults (registrations.c) */
		char *reg = evcd_reg_store_json(d);
		if (reg)
			sb_printf(out, ",\"registrations\":%s", reg);
		evc__free(reg);
	}
	/* back-pressure: each publisher's waits for a writable node (pubwait.h) */
	sb_printf(out, ",\"publish_wait\":{");
	for (int i = 0; i < EVCD_PUB_N; i++)
		sb_printf(out, "%s\"%s\":{\"waits\":%llu,\"waiting\":%llu,\"wait_ms\":%llu}", i ? "," : "",
			  evcd_pub_names[i], (unsigned long long)d->pubwait[i].waits,
			  (unsigned long long)d->pubwait[i].waiting, (unsigned long long)(d->pubwait[i].wait_us / 1000u));
	sb_printf(out, "}");
	{ /* how late events from peers arrive: percentiles and the histogram */
		size_t cap = 32768, n;
		char *rx = evc__malloc(cap);
		if (rx && (n = evcd_rxdelay_json(&d->rxdelay, rx, cap)) > 0)
			sb_printf(out, ",\"rx_delay\":%s", rx);
		evc__free(rx);
	}
	sb_printf(out, ",\"config_errors\":%llu,\"uptime_ms\":%llu}\n", (unsigned long long)d->config_errors,
		  (unsigned long long)(evc__wall_ms() - d->start_ms));
	return 0;
}

/* FreeSWITCH's reloadxml answers "+OK [Success]"; evcast_reload says more. */
static int api_reloadxml(evcd_t *d, const char *args, sb_t *out)
{
	char msg[EVCD_RELOAD_MSG];
	int rc = evcd_reload(d, msg, sizeof(msg));
	if (rc < 0)
		sb_printf(out, "-ERR [%s]\n", msg);
	else
		sb_printf(out, "+OK [Success]\n");
	return 0;
}

static int api_reload(evcd_t *d, const char *args, sb_t *out)
{
	char msg[EVCD_RELOAD_MSG];
	int rc = evcd_reload(d, msg, sizeof(msg));
	sb_printf(out, "%s %s\n", rc < 0 ? "-ERR" : "+OK", msg);
	return 0;
}

/* registrations.c answers these two (docs/REGISTRATIONS.md) */
static int api_show(evcd_t *d, const char *args, sb_t *out)
{
	sb_take(out, evcd_reg_show(d, args));
	return 0;
}

static int api_locate(evcd_t *d, const char *args, sb_t *out)
{
	sb_take(out, evcd_reg_locate(d, args));
	return 0;
}

static int api_help(evcd_t *d, const char *args, sb_t *out);

/* --------------------------------------------------------------- table */

static const struct api_cmd {
	const char *name;
	const char *syntax;
	const char *desc;
	api_fn fn;
} api_cmds[] = {
	{"multicast_peers", "[json]", "peer table (legacy text; or JSON)", api_peers},
	{"evcast_peers_json", "", "peer table with destinations and counters as JSON", api_peers_json},
	{"status", "", "uptime; node; event and peer counts", api_status},
	{"version", "", "evcast version", api_version},
	{"evcast_stats", "", "all counters as one JSON object", api_stats},
	{"reloadxml", "", "reload the configuration file (as SIGHUP)", api_reloadxml},
	{"evcast_reload", "", "reload the configuration file and say what happened", api_reload},
	{"show", "registrations [as json] [user=U] [realm=R] [node=N]", "replicated registrations", api_show},
	{"evcast_locate", "USER@REALM", "where USER@REALM is registered: node, node IP, contact", api_locate},
	{"help", "", "this list", api_help},
};

static int api_help(evcd_t *d, const char *args, sb_t *out)
{
	sb_printf(out, "name,syntax,description\n");
	for (size_t i = 0; i < EVC_ARRAY_SIZE(api_cmds); i++)
		sb_printf(out, "%s,%s,%s\n", api_cmds[i].name, api_cmds[i].syntax, api_cmds[i].desc);
	sb_printf(out, "\n%zu total.\n", EVC_ARRAY_SIZE(api_cmds));
	return 0;
}

/* --------------------------------------------------------- entry point */

int evcd_api_execute(evcd_t *d, const char *cmd, const char *args, char **out)
{
	sb_t b = {0};
	const struct api_cmd *c = NULL;
	char name[128];
	size_t n;
	int rc = 0;
	if (!d || !out)
		return EVCAST_EINVAL;
	*out = NULL;
	if (!cmd)
		cmd = "";
	while (*cmd == ' ' || *cmd == '\t')
		cmd++;
	/* "api multicast_peers json" may arrive whole in cmd: split it here */
	n = strcspn(cmd, " \t\r\n");
	if (!args && cmd[n]) {
		args = cmd + n;
		while (*args == ' ' || *args == '\t')
			args++;
	}
	if (args && !*args)
		args = NULL;
	snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1), cmd);
	for (size_t i = 0; i < EVC_ARRAY_SIZE(api_cmds); i++)
		if (strcasecmp(name, api_cmds[i].name) == 0)
			c = &api_cmds[i];
	if (c) {
		rc = c->fn(d, args, &b);
	} else {
		sb_printf(&b, "-ERR %s Command not found!\n", name);
		rc = EVCAST_ENOENT;
	}
	if (!b.s && !b.oom)
		b.s = evc__strdup("");
	if (b.oom || !b.s) {
		evc__free(b.s);
		return EVCAST_ENOMEM;
	}
	*out = b.s;
	return rc;
}
