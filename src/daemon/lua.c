/*
 * lua.c -- Lua consumers: the lua.conf block, one OS thread per startup script,
 * restarts with exponential backoff, and an orderly stop.
 *
 * Each script runs in its own thread and lua_State (allocator capped at
 * max-memory), so pop(1) or a slow script never stalls the loop. A failure is
 * logged with file:line and the script restarts after a doubling backoff; one
 * that returns is done. The count-and-call hook also ends a run that used more
 * than cpu-limit-ms of CPU since it last waited (an error, counted). At stop,
 * waits are woken, a busy script is ended by the hook, threads are joined.
 * Sandboxed scripts: lua_sandbox.c. Sections: script threads, stats
 * (evcd_lua_json), start/stop. The lua.conf block and the global variables:
 * lua_conf.c; queues: lua_queue.c; the `freeswitch` table: lua_api.c.
 */
#include <limits.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <lauxlib.h>
#include <lualib.h>
#include <cjson/cJSON.h>
#include "lua_int.h"

#define HOOK_COUNT 1000 /* instructions between two looks at the stop flag */
/* The hook also runs at every function call, so a loop that spends its time
 * in slow C calls (os.execute("sleep 1"), a big gsub, a query) and so runs
 * few instructions is still stopped within one call. */
#define HOOK_MASK (LUA_MASKCOUNT | LUA_MASKCALL)

/* ----------------------------------------------------------- script threads */

void evcd_lua_log(evcd_lua_script_t *s, int level, const char *msg)
{
	evcd_logf(s->l->d, level, "lua[%s]: %s", s->name, msg);
}

/* The lua_State allocator: evcast's allocator, capped at max-memory. */
static void *script_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	evcd_lua_script_t *s = ud;
	size_t old = ptr ? osize : 0;
	if (nsize == 0) {
		evc__free(ptr);
		s->mem -= old;
		return NULL;
	}
	if (nsize > old && s->l->max_memory && s->mem - old + nsize > s->l->max_memory)
		return NULL;
	void *p = evc__realloc(ptr, nsize);
	if (!p)
		return NULL;
	s->mem = s->mem - old + nsize;
	if (s->mem > s->mem_peak)
		s->mem_peak = s->mem;
	return p;
}

/* ------------------------------------------------------------- CPU limit */

#define CPU_CHECK_NS 10000000u /* wall time between two reads of the thread's CPU clock */

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void evcd_lua_cpu_yielded(evcd_lua_script_t *s)
{
	if (s->l->cpu_limit_ms)
		s->cpu_mark_ns = thread_cpu_ns();
}

/* "file:line: " of the innermost Lua function running (a hook's level 0 is
 * the hooked function; a C function has no line, so look further out). */
static void where(lua_State *L, char *out, size_t cap)
{
	lua_Debug ar;
	out[0] = '\0';
	for (int level = 0; level < 8 && lua_getstack(L, level, &ar); level++) {
		if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
			snprintf(out, cap, "%s:%d: ", ar.short_src, ar.currentline);
			return;
		}
	}
}

/* True once the script has used more than cpu-limit-ms of CPU since it last
 * waited; the first time, counts it and builds the message. The CPU clock is
 * read at most every 10 ms of wall time (a cheap monotonic clock in between). */
static bool cpu_exceeded(lua_State *L, evcd_lua_script_t *s)
{
	evcd_lua_t *l = s->l;
	if (s->cpu_over)
		return true;
	if (!l->cpu_limit_ms)
		return false;
	uint64_t now = uv_hrtime();
	if (now - s->cpu_check_ns < CPU_CHECK_NS)
		return false;
	s->cpu_check_ns = now;
	uint64_t used = thread_cpu_ns() - s->cpu_mark_ns;
	if (used <= l->cpu_limit_ms * 1000000u)
		return false;
	char at[200];
	where(L, at, sizeof(at));
	snprintf(s->cpu_msg, sizeof(s->cpu_msg),
		 "%scpu-limit-ms exceeded: %llu ms of CPU without waiting in pop, msleep or API():execute "
		 "(limit %llu ms)", at, (unsigned long long)(used / 1000000u), (unsigned long long)l->cpu_limit_ms);
	s->cpu_over = true;
	uv_mutex_lock(&l->mu);
	s->cpu_limited++;
	l->cpu_limited++;
	uv_mutex_unlock(&l->mu);
	return true;
}

/* Count and call hook: once stopping, raise an error at every instruction so
 * that not even a pcall in a loop can keep the script alive. Over its CPU
 * limit, the same, from the count hook only: the message handler (a C
 * function) must not be interrupted, so the error that ends the run is the
 * CPU-limit one. */
static void on_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	evcd_lua_script_t *s = evcd_lua_script_of(L);
	if (evcd_lua_stopping(s->l)) {
		lua_sethook(L, on_hook, HOOK_MASK, 1);
		luaL_error(L, "evcast is stopping");
	}
	if (cpu_exceeded(L, s)) {
		lua_sethook(L, on_hook, LUA_MASKCOUNT, 1);
		lua_pushstring(L, s->cpu_msg);
		lua_error(L);
	}
}

static void on_warn(void *ud, const char *msg, int tocont)
{
	evcd_lua_script_t *s = ud;
	if (s->warnlen == 0 && !tocont && msg[0] == '@')
		return; /* control message (@on / @off) */
	size_t n = strlen(msg), room = sizeof(s->warnbuf) - 1 - s->warnlen;
	memcpy(s->warnbuf + s->warnlen, msg, n < room ? n : room);
	s->warnlen += n < room ? n : room;
	s->warnbuf[s->warnlen] = '\0';
	if (!tocont) {
		evcd_logf(s->l->d, EVCAST_LOG_WARNING, "lua[%s]: warning: %s", s->name, s->warnbuf);
		s->warnlen = 0;
	}
}

/* Message handler: the error as text plus a traceback. An error object that
 * is not a string carries no position: the raising line is put in front. */
static int on_error(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (!msg) {
		lua_Debug ar;
		const char *where = "";
		for (int level = 1; lua_getstack(L, level, &ar); level++) {
			if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
				where = lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
				break;
			}
		}
		if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
			msg = lua_pushfstring(L, "%s%s", where, lua_tostring(L, -1));
		else
			msg = lua_pushfstring(L, "%s(error object is a %s value)", where, luaL_typename(L, 1));
	}
	luaL_traceback(L, L, msg, 1);
	return 1;
}

/* Protected main: libraries, the freeswitch table, the chunk, its run. */
static int pmain(lua_State *L)
{
	evcd_lua_script_t *s = lua_touserdata(L, 1);
	luaL_openlibs(L);
	evcd_lua_api_open(L, s);
	if (s->sandbox)
		evcd_lua_sandbox_open(L, s);
	int rc = s->code ? luaL_loadbufferx(L, s->code, strlen(s->code), s->name, "t")
			 : luaL_loadfilex(L, s->path, "t");
	if (rc != LUA_OK)
		return lua_error(L);
	for (int i = 1; i < s->argc; i++)
		lua_pushstring(L, s->argv[i]);
	lua_call(L, s->argc - 1, 0);
	return 0;
}

/* One run in a fresh state. Returns 0 when the script returned, else -1 with
 * the error (first line, then the traceback) in err. */
static int run_once(evcd_lua_script_t *s, char *err, size_t cap)
{
	s->mem = 0;
	s->cpu_over = false;
	s->cpu_check_ns = uv_hrtime();
	s->cpu_mark_ns = thread_cpu_ns();
	lua_State *L = lua_newstate(script_alloc, s);
	if (!L) {
		snprintf(err, cap, "cannot create a Lua state (out of memory)");
		return -1;
	}
	*(evcd_lua_script_t **)lua_getextraspace(L) = s;
	lua_setwarnf(L, on_warn, s);
	lua_sethook(L, on_hook, HOOK_MASK, HOOK_COUNT);
	lua_pushcfunction(L, on_error);
	lua_pushcfunction(L, pmain);
	lua_pushlightuserdata(L, s);
	int rc = lua_pcall(L, 1, 0, 1);
	if (rc != LUA_OK) {
		const char *m = lua_tostring(L, -1);
		if (rc == LUA_ERRMEM)
			snprintf(err, cap, "%s (max-memory %zu MB)", m ? m : "not enough memory",
				 s->l->max_memory >> 20);
		else
			snprintf(err, cap, "%s", m ? m : "(no message)");
	}
	lua_sethook(L, NULL, 0, 0);
	lua_close(L); /* finalizers: consumers, events, luasql handles */
	return rc == LUA_OK ? 0 : -1;
}

/* Logs the first line of err at ERR and the traceback, on one line, at INFO. */
static void log_failure(evcd_lua_script_t *s, char *err, uint64_t backoff_ms)
{
	char *nl = strchr(err, '\n');
	if (nl)
		*nl = '\0';
	evcd_logf(s->l->d, EVCAST_LOG_ERR, "lua[%s]: script error: %s (failure %u; restarting in %.2f s)", s->name,
		  err, s->failures, (double)backoff_ms / 1000.0);
	if (nl) {
		for (char *p = nl + 1; *p; p++)
			if (*p == '\n' || *p == '\t')
				*p = ' ';
		evcd_logf(s->l->d, EVCAST_LOG_INFO, "lua[%s]: %s", s->name, nl + 1);
	}
}

static void script_main(void *arg)
{
	evcd_lua_script_t *s = arg;
	evcd_lua_t *l = s->l;
	uint64_t backoff = l->backoff_min_ms;
	char err[2048];
	while (!evcd_lua_stopping(l)) {
		uint64_t t0 = uv_hrtime();
		uv_mutex_lock(&l->mu); /* runs and failures are read by evcd_lua_json */
		s->runs++;
		uv_mutex_unlock(&l->mu);
		if (s->runs > 1)
			evcd_logf(l->d, EVCAST_LOG_NOTICE, "lua[%s]: starting (run %u)", s->name, s->runs);
		int rc = run_once(s, err, sizeof(err));
		if (evcd_lua_stopping(l)) {
			evcd_logf(l->d, EVCAST_LOG_INFO, "lua[%s]: stopped", s->name);
			break;
		}
		if (rc == 0) {
			evcd_logf(l->d, EVCAST_LOG_NOTICE, "lua[%s]: script returned; not restarted", s->name);
			break;
		}
		/* a run that lasted longer than the cap was healthy: start over small */
		if ((uv_hrtime() - t0) / 1000000u > l->backoff_max_ms)
			backoff = l->backoff_min_ms;
		uv_mutex_lock(&l->mu);
		s->failures++;
		uv_mutex_unlock(&l->mu);
		log_failure(s, err, backoff);
		if (evcd_lua_sleep(s, backoff) != 0)
			break;
		backoff = backoff * 2 > l->backoff_max_ms ? l->backoff_max_ms : backoff * 2;
	}
	uv_mutex_lock(&l->mu);
	s->done = true;
	uv_cond_broadcast(&l->done_cond);
	uv_mutex_unlock(&l->mu);
}

/* ------------------------------------------------------------------- stats */

static void put_num(cJSON *o, const char *name, uint64_t v) { cJSON_AddNumberToObject(o, name, (double)v); }

char *evcd_lua_json(evcd_t *d)
{
	evcd_lua_t *l = d->lua;
	if (!l)
		return NULL;
	cJSON *o = cJSON_CreateObject(), *scripts = cJSON_CreateArray(), *queues = cJSON_CreateArray();
	uint64_t running = 0, restarts = 0, nconsumers = 0, queued = 0;
	bool ok = o && scripts && queues;
	uv_mutex_lock(&l->mu);
	for (size_t i = 0; ok && i < l->nscripts; i++) {
		evcd_lua_script_t *s = l->scripts[i];
		cJSON *js = cJSON_CreateObject();
		bool run = s->started && !s->done;
		running += run;
		restarts += s->failures;
		if (!js || !cJSON_AddItemToArray(scripts, js)) {
			cJSON_Delete(js);
			ok = false;
			break;
		}
		ok = cJSON_AddStringToObject(js, "script", s->name) && cJSON_AddBoolToObject(js, "running", run);
		put_num(js, "index", (uint64_t)s->index);
		put_num(js, "runs", s->runs);
		put_num(js, "failures", s->failures);
		put_num(js, "events_delivered", s->delivered);
		put_num(js, "events_dropped", s->dropped);
		put_num(js, "cpu_limited", s->cpu_limited); /* issue 13 */
		ok = ok && cJSON_AddBoolToObject(js, "sandbox", s->sandbox);
	}
	for (evcd_lua_consumer_t *c = l->consumers; ok && c; c = c->next) {
		cJSON *jc = cJSON_CreateObject();
		nconsumers++;
		queued += c->count;
		if (!jc || !cJSON_AddItemToArray(queues, jc)) {
			cJSON_Delete(jc);
			ok = false;
			break;
		}
		ok = cJSON_AddStringToObject(jc, "consumer", c->label) != NULL &&
		     cJSON_AddStringToObject(jc, "script", c->s->name) != NULL;
		put_num(jc, "id", c->id);
		put_num(jc, "queued", c->count);
		put_num(jc, "capacity", c->cap);
		put_num(jc, "delivered", c->delivered);
		put_num(jc, "dropped", c->dropped);
	}
	if (ok) {
		put_num(o, "scripts", l->nscripts);
		put_num(o, "running", running);
		put_num(o, "restarts", restarts);
		put_num(o, "consumers", nconsumers);
		put_num(o, "events_queued", queued);
		put_num(o, "events_delivered", l->events_delivered);
		put_num(o, "events_dropped", l->events_dropped);
		put_num(o, "fired", l->fired);
		put_num(o, "fires_dropped", l->fire_dropped);
		put_num(o, "api_calls", l->api_calls);
		/* sandbox and CPU limit (issue 13) */
		put_num(o, "cpu_limited", l->cpu_limited);
		put_num(o, "cpu_limit_ms", l->cpu_limit_ms);
	}
	uv_mutex_unlock(&l->mu);
	char *text = NULL, *out = NULL;
	if (ok && cJSON_AddItemToObject(o, "per_script", scripts)) {
		scripts = NULL;
		if (cJSON_AddItemToObject(o, "queues", queues)) {
			queues = NULL;
			text = cJSON_PrintUnformatted(o);
		}
	}
	if (text) /* cJSON allocates with malloc; callers free with evcast_free */
		out = evc__strdup(text);
	cJSON_free(text);
	cJSON_Delete(scripts);
	cJSON_Delete(queues);
	cJSON_Delete(o);
	return out;
}

/* --------------------------------------------------------------- start/stop */

void evcd_lua_free(evcd_lua_t *l)
{
	if (!l)
		return;
	while (l->consumers) /* none once every thread ended; kept for safety (before scripts: c->s) */
		evcd_lua_consumer_free(l->consumers);
	for (size_t i = 0; i < l->nscripts; i++)
		evcd_lua_script_free(l->scripts[i]);
	evc__free(l->scripts);
	for (size_t i = 0; i < l->nglobals; i++) {
		evc__free(l->globals[i].name);
		evc__free(l->globals[i].value);
	}
	evc__free(l->globals);
	evc__free(l->script_dir);
	evc__free(l->ppath);
	evc__free(l->pcpath);
	evc__free(l->sandbox_spec);
	evc__free(l->sandbox_modules);
	uv_cond_destroy(&l->req_space);
	uv_cond_destroy(&l->done_cond);
	uv_mutex_destroy(&l->mu);
	evc__free(l);
}

static void free_handle(uv_handle_t *h) { evc__free(h); }

/* A module with its locks and the defaults, nothing started; NULL when out of memory. */
static evcd_lua_t *lua_new(evcd_t *d)
{
	evcd_lua_t *l = evc__calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	if (uv_mutex_init(&l->mu) != 0) {
		evc__free(l);
		return NULL;
	}
	if (uv_cond_init(&l->req_space) != 0) {
		uv_mutex_destroy(&l->mu);
		evc__free(l);
		return NULL;
	}
	if (uv_cond_init(&l->done_cond) != 0) {
		uv_cond_destroy(&l->req_space);
		uv_mutex_destroy(&l->mu);
		evc__free(l);
		return NULL;
	}
	l->d = d;
	atomic_init(&l->stopping, false);
	l->max_queue = 5000; /* FreeSWITCH's EventConsumer default */
	l->max_consumers = 64;
	l->req_cap = 10000;
	l->max_memory = (size_t)256 << 20;
	l->backoff_min_ms = 1000;
	l->backoff_max_ms = 60000;
	l->stop_timeout_ms = 5000;
	l->cpu_limit_ms = 5000;
	evc__ratelimit_init(&l->fire_rl, 3, 1);
	return l;
}

int evcd_lua_check(evcd_t *d)
{
	const evcast_section_t *sec = d->cfg ? evcast_config_section(d->cfg, "lua.conf") : NULL;
	if (!sec)
		return 0;
	evcd_lua_t *l = lua_new(d);
	if (!l)
		return EVCAST_ENOMEM;
	int rc = evcd_lua_parse_settings(l, sec);
	evcd_lua_free(l);
	return rc == EVCAST_ENOMEM ? rc : rc < 0 ? EVCAST_EINVAL : 0;
}

int evcd_lua_start(evcd_t *d)
{
	const evcast_section_t *sec = d->cfg ? evcast_config_section(d->cfg, "lua.conf") : NULL;
	if (!sec)
		return 0;
	if (d->lua || !d->node)
		return EVCAST_ESTATE;
	evcd_lua_t *l = lua_new(d);
	if (!l)
		return EVCAST_ENOMEM;
	int rc = evcd_lua_parse_settings(l, sec);
	if (rc == 0)
		rc = evcd_lua_globals_init(l);
	if (rc == 0 && l->nscripts == 0) {
		evcd_logf(d, EVCAST_LOG_INFO, "lua: lua.conf lists no startup-script; nothing to run");
		evcd_lua_free(l);
		return 0;
	}
	if (rc == 0 && !(l->async = evc__calloc(1, sizeof(*l->async))))
		rc = EVCAST_ENOMEM;
	if (rc == 0 && uv_async_init(d->loop, l->async, evcd_lua_on_async) != 0) {
		evc__free(l->async);
		l->async = NULL;
		rc = EVCAST_EIO;
	}
	if (rc != 0) { /* the cause is logged above, the failure by the caller */
		evcd_lua_free(l);
		return rc;
	}
	l->async->data = l;
	l->sub_id = evcast_node_subscribe(d->node, evcd_lua_on_event, l);
	if (l->sub_id < 0) {
		rc = l->sub_id;
		evcd_logf(d, EVCAST_LOG_ERR, "lua: cannot subscribe to the node: %s", evcast_strerror(rc));
		uv_close((uv_handle_t *)l->async, free_handle);
		evcd_lua_free(l);
		return rc;
	}
	d->lua = l;
	size_t started = 0;
	for (size_t i = 0; i < l->nscripts; i++) {
		evcd_lua_script_t *s = l->scripts[i];
		int e = uv_thread_create(&s->tid, script_main, s);
		if (e != 0) {
			evcd_logf(d, EVCAST_LOG_ERR, "lua[%s]: cannot start its thread: %s", s->name, uv_strerror(e));
			continue;
		}
		s->started = true;
		started++;
	}
	size_t nsandbox = 0;
	for (size_t i = 0; i < l->nscripts; i++)
		nsandbox += l->scripts[i]->sandbox;
	evcd_logf(d, EVCAST_LOG_NOTICE,
		  "lua: %zu of %zu startup scripts started from %s (max-queue %zu, %zu sandboxed, cpu-limit-ms %llu%s)",
		  started, l->nscripts, l->script_dir, l->max_queue, nsandbox, (unsigned long long)l->cpu_limit_ms,
		  l->cpu_limit_ms ? "" : ": no limit");
	return 0;
}

void evcd_lua_stop(evcd_t *d)
{
	evcd_lua_t *l = d->lua;
	if (!l)
		return;
	d->lua = NULL;
	uv_mutex_lock(&l->mu);
	atomic_store(&l->stopping, true); /* under mu: nobody enqueues after this */
	evcd_lua_fail_requests(l);
	for (evcd_lua_consumer_t *c = l->consumers; c; c = c->next)
		uv_cond_broadcast(&c->cond);
	for (size_t i = 0; i < l->nscripts; i++)
		uv_cond_broadcast(&l->scripts[i]->cond);
	uv_mutex_unlock(&l->mu);
	if (l->sub_id > 0)
		evcast_node_unsubscribe(d->node, l->sub_id);
	l->sub_id = 0;
	evcd_lua_bp_stop(l);

	uint64_t deadline = uv_hrtime() + l->stop_timeout_ms * 1000000u;
	size_t stuck = 0;
	uv_mutex_lock(&l->mu);
	for (;;) {
		stuck = 0;
		for (size_t i = 0; i < l->nscripts; i++)
			stuck += l->scripts[i]->started && !l->scripts[i]->done;
		uint64_t now = uv_hrtime();
		if (stuck == 0 || now >= deadline)
			break;
		(void)uv_cond_timedwait(&l->done_cond, &l->mu, deadline - now);
	}
	uv_mutex_unlock(&l->mu);
	for (size_t i = 0; i < l->nscripts; i++) {
		evcd_lua_script_t *s = l->scripts[i];
		if (s->started && s->done) {
			uv_thread_join(&s->tid);
			s->started = false;
		}
	}
	uv_close((uv_handle_t *)l->async, free_handle);
	l->async = NULL;
	if (stuck > 0) {
		/* a script blocked in a C call (os.execute, a socket...): its thread
		 * still holds l, so l is deliberately leaked */
		evcd_logf(d, EVCAST_LOG_ERR, "lua: %zu script(s) did not stop within %.1f s; left running", stuck,
			  (double)l->stop_timeout_ms / 1000.0);
		return;
	}
	evcd_logf(d, EVCAST_LOG_INFO, "lua: stopped (%llu events fired, %llu fires dropped, %llu api calls, "
		  "%llu consumer drops)", (unsigned long long)l->fired, (unsigned long long)l->fire_dropped,
		  (unsigned long long)l->api_calls, (unsigned long long)l->events_dropped);
	if (l->in_cb)
		l->free_pending = true; /* stop called from an api command: freed on the way out */
	else
		evcd_lua_free(l);
}
