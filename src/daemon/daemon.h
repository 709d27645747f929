/*
 * daemon.h -- the evcastd process context shared by the daemon's modules.
 *
 * One evcd_t per process, created in main.c and passed explicitly (no hidden
 * globals). Modules: main.c (startup, signals, reload, logging), control.c
 * (event-socket server on the Unix control socket and on TCP), api.c (the api
 * command table), lua.c (Lua consumers). Each module has init/start/stop/close.
 */
#ifndef EVCAST_DAEMON_H
#define EVCAST_DAEMON_H

#include "evcast/evcast.h"
#include "rxdelay.h"
#include "pubwait.h"

/* The installed configuration (contrib/systemd/evcastd.service); --check-config's default. */
#define EVCD_DEFAULT_CONFIG "/etc/evcast/evcast.conf.xml"

typedef struct evcd_control evcd_control_t;
typedef struct evcd_lua evcd_lua_t;
typedef struct evcd_metrics evcd_metrics_t;
typedef struct evcd_reg evcd_reg_t;
typedef struct evcd_presence evcd_presence_t;
typedef struct evcd_sidecar evcd_sidecar_t;
typedef struct evcd_nats evcd_nats_t;

typedef struct evcd {
	uv_loop_t *loop;
	evcast_node_t *node;
	evcast_config_t *cfg;   /* the configuration in force (owned) */
	char *config_path;
	int log_level;
	bool foreground;
	bool log_events;        /* log a line per delivered event (make run) */
	uint64_t start_ms;
	uint64_t config_errors; /* reloads rejected because the file did not load */
	evcd_control_t *control;
	evcd_lua_t *lua;
	evcd_metrics_t *metrics; /* NULL unless metrics.conf enables it */
	evcd_reg_t *reg;         /* NULL unless registrations.conf enables it (registrations.c) */
	evcd_presence_t *presence; /* NULL unless presence.conf enables it (presence.c) */
	evcd_sidecar_t *sidecar;   /* NULL unless sidecar.conf enables it (sidecar.c) */
	evcd_nats_t *nats;         /* NULL unless nats.conf is present (nats.c) */
	evcd_rxdelay_t rxdelay;    /* how late events from peers arrive (rxdelay.c, main.c) */
	/* reload / --check-config (config_check.c) */
	struct evcd_check *check;  /* set on a validation context only: evcd_log collects its lines there */
	evcast_config_t *start_cfg; /* what the modules started with, once a reload replaced cfg (owned), else NULL */
	/* back-pressure: each publisher's waits for a writable node (pubwait.h) */
	evcd_pubwait_t pubwait[EVCD_PUB_N];
} evcd_t;

/* Log through the daemon's sink (stderr with time and level). */
void evcd_log(void *ud, int level, const char *msg);
void evcd_logf(evcd_t *d, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- main.c: reload (what SIGHUP does; also the api commands reloadxml/evcast_reload) ---- */
/* Re-reads d->config_path (refusing, without blocking, a path that is not a
 * regular file), validates every block (evcd_config_check) and only then
 * applies it. Returns 0 when applied, 1 when the file is unchanged, negative
 * when the new file was rejected (nothing applied: the old configuration
 * stays in force). msg (may be NULL) gets a one-line description: the
 * reasons (file:line: param ... why, "; "-joined) on a refusal; on success
 * the blocks that apply only at the next start ("...; at the next start:
 * event_socket.conf, lua.conf"). EVCD_RELOAD_MSG bytes hold any of them. */
#define EVCD_RELOAD_MSG 2048
int evcd_reload(evcd_t *d, char *msg, size_t msglen);

/* ---- config_check.c: every block of a configuration validated before anything applies it ---- */
/* What a validation found: the error lines (file:line: param ... why, as the
 * start logs them) and the warnings, in order, bounded (lines beyond the
 * buffer are counted in nlost). */
typedef struct evcd_check {
	bool quiet;                /* keep the lines out of the log (--check-config prints them itself) */
	unsigned nerrors, nwarnings, nlost;
	size_t len;
	char text[8192];           /* "error: ...\n" / "warning: ...\n" lines */
} evcd_check_t;
/* evcd_log's hook: records msg (err and warning levels) in c. */
void evcd_check_note(evcd_check_t *c, int level, const char *msg);
/* Runs every module's validator on cfg (borrowed) in a scratch context (no
 * loop, no node, nothing opened or started): event_multicast.conf was checked
 * by the load; then event_socket.conf, metrics.conf, registrations.conf,
 * presence.conf, sidecar.conf, nats.conf and lua.conf. log_level and quiet as
 * for the daemon's log. Fills *out; returns 0 when every block is valid, else
 * EVCAST_EINVAL (or EVCAST_ENOMEM). */
int evcd_config_check(const evcast_config_t *cfg, const char *path, int log_level, bool quiet, evcd_check_t *out);
/* The error lines of c joined by "; " into buf (always NUL-terminated). */
void evcd_check_reasons(const evcd_check_t *c, char *buf, size_t cap);
/* The blocks whose text differs between old (what the modules started with)
 * and the new config and that apply only at the next start (their modules read them once), plus
 * "control-socket" when that param changed: ", "-joined into buf, "" when none. */
void evcd_config_deferred(const evcast_config_t *old, const evcast_config_t *cfg, char *buf, size_t cap);
/* The validate-only entry points of the modules, on d->cfg: each logs its
 * reasons through evcd_logf (file:line: param, value, why) and returns 0 or
 * EVCAST_EINVAL, as its start would, without opening or starting anything. */
int evcd_metrics_check(evcd_t *d);
int evcd_reg_check(evcd_t *d);
int evcd_presence_check(evcd_t *d);
int evcd_sidecar_check(evcd_t *d);
int evcd_nats_check(evcd_t *d);
int evcd_lua_check(evcd_t *d);

/* ---- api.c: the api command table, shared by the control socket, ESL and Lua ---- */
/* Runs "cmd args" (args may be NULL). *out is a NUL-terminated text the caller
 * frees with evcast_free. Returns 0, or EVCAST_ENOENT for an unknown command
 * (then *out holds "-ERR <cmd> Command not found!\n"). */
int evcd_api_execute(evcd_t *d, const char *cmd, const char *args, char **out);

/* ---- control.c: event-socket server ---- */
int evcd_control_start(evcd_t *d, const char *socket_path);
void evcd_control_stop(evcd_t *d);
typedef struct evcd_control_stats {
	uint64_t connections;      /* open now */
	uint64_t accepted;         /* since start */
	uint64_t refused;          /* over the connection limit */
	uint64_t commands;         /* commands handled */
	uint64_t events_queued;    /* events queued to clients */
	uint64_t events_dropped;   /* oldest events dropped from full client queues */
	uint64_t protocol_errors;  /* connections closed on a framing error or limit */
	uint64_t auth_failures;    /* wrong password (event socket) */
	uint64_t acl_rejected;     /* refused by apply-inbound-acl before auth */
	uint64_t auth_timeouts;    /* closed for not authenticating in time */
	/* esl: pre-auth limits and auth failures (issue 13; control_auth.c) */
	uint64_t unauthenticated;        /* TCP connections open now that have not authenticated */
	uint64_t preauth_evicted;        /* unauthenticated connections closed to make room for a newer one */
	uint64_t auth_delayed;           /* auth answers held back by the failure delay */
	uint64_t auth_log_suppressed;    /* auth-failure / eviction log lines left out by the rate limit */
	uint64_t auth_addresses_evicted; /* addresses forgotten because the failure table was full */
} evcd_control_stats_t;
/* Zeroes *out when the control server is not running. */
void evcd_control_stats(const evcd_t *d, evcd_control_stats_t *out);

/* ---- lua.c: Lua consumers (optional section lua.conf) ---- */
int evcd_lua_start(evcd_t *d);
void evcd_lua_stop(evcd_t *d);
/* Counters as one JSON object (scripts, running, restarts, consumers,
 * events_queued/_delivered/_dropped, fired, fires_dropped, api_calls, and the
 * arrays per_script {script, index, running, runs, failures, events_delivered,
 * events_dropped} and queues {consumer, script, id, queued, capacity,
 * delivered, dropped}); NULL when no script runs. Loop thread; freed with
 * evcast_free. Shown by api evcast_stats ("lua") and metrics.c. */
char *evcd_lua_json(evcd_t *d);

/* ---- metrics.c: Prometheus text endpoint (optional section metrics.conf) ---- */
/* Starts the endpoint when metrics.conf says enabled=yes (0 and nothing started
 * otherwise). Refuses a non-loopback listen-ip unless allow-remote=yes. Errors
 * are logged; returns EVCAST_EINVAL (bad config), EVCAST_EIO (cannot listen). */
int evcd_metrics_start(evcd_t *d);
/* Closes the listener and every connection; safe when not started. */
void evcd_metrics_stop(evcd_t *d);

/* ---- registrations.c: replicated registration store (optional section registrations.conf) ---- */
/* Starts the store when registrations.conf is present and enabled (0 and
 * nothing started otherwise): restores the SQLite file, subscribes to the
 * node, runs the flush and expiry timers. EVCAST_EINVAL (bad config), EVCAST_EIO (db). */
int evcd_reg_start(evcd_t *d);
/* Final flush, closes the database and the timers; safe when not started. */
void evcd_reg_stop(evcd_t *d);
/* api `show registrations [as json] [user=U] [realm=R] [node=N]` and
 * `evcast_locate USER@REALM`: the answer text (evcast_free), NULL when out of memory. */
char *evcd_reg_show(evcd_t *d, const char *args);
char *evcd_reg_locate(evcd_t *d, const char *args);
/* The store's counters and database state as one JSON object (evc__malloc'd,
 * no newline), for evcast_stats and the metrics; NULL when not started. */
char *evcd_reg_store_json(evcd_t *d);
/* Calls fn(ud, realm, user, node_ip) for every live registration (nothing when not started). */
void evcd_reg_foreach_location(evcd_t *d, void (*fn)(void *ud, const char *realm, const char *user,
						     const char *node_ip), void *ud);

/* ---- presence.c: remote PRESENCE_IN / channel states -> local PRESENCE_IN (optional presence.conf) ---- */
int evcd_presence_start(evcd_t *d);
void evcd_presence_stop(evcd_t *d);

/* ---- sidecar.c: event-socket client of a local FreeSWITCH (optional sidecar.conf) ---- */
int evcd_sidecar_start(evcd_t *d);
void evcd_sidecar_stop(evcd_t *d);
/* A registration of user@realm came up on node_ip (up) or went away: mirrored
 * into FreeSWITCH's mod_db when db-sync is on and the session is ready. */
void evcd_sidecar_location(evcd_t *d, const char *realm, const char *user, const char *node_ip, bool up);
/* Loop thread: sends ev (borrowed) to the attached FreeSWITCH with `sendevent`,
 * marked "evcast-injected: NODE" so it is not fired back when the switch
 * echoes it. For events fired locally outside the node's own injection rules
 * (Lua scripts). No-op when no session is ready, inject=no, ev already carries
 * the mark, or the node subscriber injects it anyway (multicast::*, relayed
 * presence). */
void evcd_sidecar_inject(evcd_t *d, const evcast_event_t *ev);

/* ---- nats.c: sites bridged through NATS (optional nats.conf; docs/MULTISITE.md) ---- */
int evcd_nats_start(evcd_t *d);
void evcd_nats_stop(evcd_t *d);
/* "NATS: connected to URL (cluster X)\n" / the link's counters as a JSON object;
 * NULL when not started. Freed with evcast_free. */
char *evcd_nats_text(evcd_t *d);
char *evcd_nats_json(evcd_t *d);
#endif
