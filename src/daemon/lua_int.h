/*
 * lua_int.h -- what lua.c (threads, queues, the loop side) and lua_api.c (the
 * `freeswitch` table seen by scripts) share. Nothing else includes it.
 *
 * Threading contract: every field of evcd_lua_t and of the consumers that both
 * the loop thread and script threads touch is guarded by evcd_lua_t.mu; the
 * `stopping` flag is also atomic so the instruction-count hook can read it
 * without the lock. Functions below marked "script thread" must only be called
 * from the thread that runs the script they are given.
 */
#ifndef EVCAST_LUA_INT_H
#define EVCAST_LUA_INT_H

#include <stdatomic.h>
#include <lua.h>
#include "daemon.h"
#include "internal.h"

typedef struct evcd_lua_script evcd_lua_script_t;
typedef struct evcd_lua_consumer evcd_lua_consumer_t;

/* One startup script: its thread, its (current) lua_State, its counters. */
struct evcd_lua_script {
	evcd_lua_t *l;
	int index;            /* 1-based position in lua.conf */
	char *spec;           /* the param value as written (for logs) */
	char *name;           /* short name for log prefixes ("presence.lua") */
	char *path;           /* resolved file, or NULL for inline "~code" */
	char *code;           /* inline code, or NULL */
	char **argv;          /* argv[0] = script, then its arguments */
	int argc;
	uv_thread_t tid;
	bool started;         /* thread created (must be joined) */
	bool done;            /* thread function returned (under mu) */
	uv_cond_t cond;       /* sleep / API answer wake-ups (under mu) */
	size_t mem, mem_peak; /* bytes held by the lua_State (script thread only) */
	int nconsumers;       /* live EventConsumers (under mu) */
	unsigned runs, failures;
	uint64_t delivered, dropped; /* events queued to / dropped by its consumers, all runs (under mu) */
	char warnbuf[512];    /* pieces of a Lua warning being assembled */
	size_t warnlen;
	/* sandbox and CPU limit (issue 13) */
	bool sandbox;         /* run with lua_sandbox.c's restricted library */
	uint64_t cpu_mark_ns; /* thread CPU time when the script last waited (script thread only) */
	uint64_t cpu_check_ns; /* monotonic time of the last CPU-time look (script thread only) */
	bool cpu_over;        /* cpu-limit-ms exceeded in this run: every instruction raises */
	char cpu_msg[384];    /* the error raised once over */
	uint64_t cpu_limited; /* runs ended by cpu-limit-ms (under mu) */
};

/* A queue of events subscribed by bindings; owned by an EventConsumer userdata. */
struct evcd_lua_consumer {
	evcd_lua_script_t *s;
	evcd_lua_consumer_t *prev, *next; /* in evcd_lua_t.consumers */
	uv_cond_t cond;                   /* signalled on push and at stop */
	evcast_bindings_t *bindings;      /* NULL until the first bind */
	evcast_event_t **ring;            /* cap slots, count used from head */
	size_t cap, head, count;
	uint64_t delivered, dropped;
	uint64_t id;                      /* unique in the module (metrics label) */
	evc__ratelimit_t rl;              /* overflow warnings */
	char label[128];                  /* "presence.lua CUSTOM multicast::event" */
};

typedef struct evcd_lua_global {
	char *name;
	char *value;
} evcd_lua_global_t;


/* A request from a script thread to the loop (fire an event, run an api command). */
typedef struct evcd_lua_req {
	struct evcd_lua_req *next;
	enum { EVCD_LUA_REQ_FIRE, EVCD_LUA_REQ_API } kind;
	evcd_lua_script_t *s;
	evcast_event_t *ev;      /* FIRE: owned by the request */
	const char *cmd, *args;  /* API: borrowed from the waiting script */
	char *out;               /* API: the answer (evcast_free) */
	int rc;
	bool done;               /* API: answered (or failed at stop) */
} evcd_lua_req_t;

/* The module: one per daemon, d->lua. */
struct evcd_lua {
	evcd_t *d;
	uv_mutex_t mu;
	atomic_bool stopping;
	uv_async_t *async;                /* script threads -> loop; freed by its close cb */
	int sub_id;                       /* node subscription, 0 = none */
	evcd_lua_consumer_t *consumers;   /* every live consumer (under mu) */
	evcd_lua_script_t **scripts;
	size_t nscripts;
	/* requests to the loop (under mu) */
	evcd_lua_req_t *req_head, *req_tail;
	size_t nreq;
	evcd_lua_req_t *inflight;         /* API request being executed by the loop */
	uv_cond_t req_space;              /* signalled when the loop drained requests */
	uv_cond_t done_cond;              /* signalled when a script thread ends */
	bool in_cb, free_pending;         /* stop called from inside the async callback */
	/* settings (lua.conf) */
	size_t max_queue, max_consumers, req_cap, max_memory;
	uint64_t backoff_min_ms, backoff_max_ms, stop_timeout_ms;
	char *script_dir;
	char *ppath, *pcpath;
	evcd_lua_global_t *globals;
	size_t nglobals;
	uint64_t cpu_limit_ms;            /* cpu-limit-ms: 0 = no limit */
	char *sandbox_spec;               /* sandbox params not yes/no: script names, ","-joined */
	bool sandbox_all;                 /* sandbox yes */
	char *sandbox_modules;            /* sandbox-allow-modules: C modules require may load, ","-joined */
	/* counters (under mu) */
	uint64_t fired, fire_dropped, api_calls, events_delivered, events_dropped;
	uint64_t next_consumer_id;
	evc__ratelimit_t fire_rl;
	/* back-pressure (lua_queue.c, loop thread only): a fire at the head of the
	 * request queue waits for a writable node; the queue fills, and fire()
	 * waits for room up to its timeout, as when the loop is slow */
	int bp_watch;   /* evcast_node_watch_writable id, 0 when not waiting */
	uint64_t bp_t0; /* evcd_pubwait_begin */
	/* sandbox and CPU limit (issue 13), under mu */
	uint64_t cpu_limited;             /* runs ended by cpu-limit-ms, all scripts */
};

/* ---- lua.c: services for the script side (script thread) ---- */

/* True once evcd_lua_stop has begun (lock-free). */
bool evcd_lua_stopping(const evcd_lua_t *l);
/* Log with the script's name as prefix. msg is borrowed. */
void evcd_lua_log(evcd_lua_script_t *s, int level, const char *msg);
/* A consumer with a queue of cap events (0 = the configured max-queue; larger
 * values are clamped to it). EVCAST_E2BIG when the script has max-consumers
 * live ones, EVCAST_ESTATE when stopping, EVCAST_ENOMEM. */
int evcd_lua_consumer_new(evcd_lua_script_t *s, size_t cap, const char *label, evcd_lua_consumer_t **out);
/* Add a binding ("ALL", "NAME" or "CUSTOM" + subclass). EVCAST_EINVAL when the
 * bindings module refuses it. */
int evcd_lua_consumer_bind(evcd_lua_consumer_t *c, const char *name, const char *subclass);
/* Next event. timeout_ms < 0 waits until one arrives, 0 never waits. Returns 1
 * with *out (caller frees), 0 when none arrived in time, EVCAST_ESTATE when
 * the module is stopping. */
int evcd_lua_consumer_pop(evcd_lua_consumer_t *c, int64_t timeout_ms, evcast_event_t **out);
/* Drop queued events and bindings (FreeSWITCH's cleanup()). */
void evcd_lua_consumer_clear(evcd_lua_consumer_t *c);
/* Counters, read under the lock. */
void evcd_lua_consumer_stats(evcd_lua_consumer_t *c, size_t *queued, size_t *cap, uint64_t *delivered,
			     uint64_t *dropped);
/* Unlink and free (queued events too). NULL is a no-op. */
void evcd_lua_consumer_free(evcd_lua_consumer_t *c);

/* Hand ev to the loop to be fired through the node (ownership moves, also on
 * failure). Waits at most 1 s for room in the request queue, then drops and
 * counts: EVCAST_E2BIG. EVCAST_ESTATE when stopping. */
int evcd_lua_fire(evcd_lua_script_t *s, evcast_event_t *ev);
/* Run an api command on the loop and wait for its text (*out, freed with
 * evcast_free). Returns evcd_api_execute's code, or EVCAST_ESTATE when the
 * module stops before the answer. */
int evcd_lua_api(evcd_lua_script_t *s, const char *cmd, const char *args, char **out);
/* Sleep ms, woken early by stop: returns EVCAST_ESTATE then, else 0. */
int evcd_lua_sleep(evcd_lua_script_t *s, uint64_t ms);
/* A global variable (built-ins and lua.conf global-variable params), or NULL. */
const char *evcd_lua_global(const evcd_lua_t *l, const char *name);
/* lua_conf.c: the lua.conf block into l (0, or a negative EVCAST_E* code
 * once a bad value was logged with file:line, param, value and why), the
 * global variables, a script's memory. */
int evcd_lua_parse_settings(evcd_lua_t *l, const evcast_section_t *sec);
int evcd_lua_globals_init(evcd_lua_t *l);
void evcd_lua_script_free(evcd_lua_script_t *s);
/* package.path / package.cpath additions from lua.conf (";"-joined, may be ""). */
const char *evcd_lua_package_path(const evcd_lua_t *l);
const char *evcd_lua_package_cpath(const evcd_lua_t *l);

/* Marks that the script waited for the daemon (pop that waited or returned an
 * event, msleep, API():execute): its cpu-limit-ms budget starts again.
 * Script thread. */
void evcd_lua_cpu_yielded(evcd_lua_script_t *s);

/* ---- lua_sandbox.c ---- */

/* Removes from the state what lets a script leave the sandbox (docs/LUA.md
 * "Sandbox"): running programs, loading native code or bytecode, writing or
 * removing files, the debug library. Call after luaL_openlibs and
 * evcd_lua_api_open, inside a protected call (may raise). */
void evcd_lua_sandbox_open(lua_State *L, evcd_lua_script_t *s);

/* ---- lua_queue.c: loop side ---- */

/* Node subscriber (loop thread): copies ev into every selecting consumer's queue. */
void evcd_lua_on_event(void *ud, const evcast_event_t *ev);
/* Loop thread, at stop: drops the writable watcher of a waiting fire. */
void evcd_lua_bp_stop(evcd_lua_t *l);
/* Async callback (loop thread): runs queued fire/api requests; a fired event
 * goes to the sidecar's FreeSWITCH (evcd_sidecar_inject) and into the node. */
void evcd_lua_on_async(uv_async_t *h);
/* Caller holds mu, stopping is set: answers every queued and in-flight request. */
void evcd_lua_fail_requests(evcd_lua_t *l);
/* lua.c: releases the module (threads already joined). */
void evcd_lua_free(evcd_lua_t *l);

/* ---- lua_api.c: the script's environment ---- */

/* Registers `freeswitch`, replaces print and os.exit, sets argv and the
 * package paths. Runs inside a protected call (may raise). */
void evcd_lua_api_open(lua_State *L, evcd_lua_script_t *s);
/* The script a lua_State belongs to (kept in its extra space). */
evcd_lua_script_t *evcd_lua_script_of(lua_State *L);

#endif
