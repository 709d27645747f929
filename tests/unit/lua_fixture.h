/*
 * lua_fixture.h -- what test_lua.c and test_lua_loop.c share: the Lua
 * consumer module (src/daemon/lua.c, lua_conf.c, lua_queue.c, lua_api.c,
 * lua_sandbox.c) included, the counting allocator and log stubs (lua_stubs.h,
 * shared with test_lua_sandbox.c; atomic: script threads and
 * the loop allocate at once), the stubbed neighbours (the daemon log, api
 * execute and the sidecar) and the fixture. Included once per test program,
 * before its tests.
 */
#ifndef EVCAST_TEST_LUA_FIXTURE_H
#define EVCAST_TEST_LUA_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <unistd.h>
#include "../../src/daemon/lua.c"
#include "../../src/daemon/lua_conf.c"
#include "../../src/daemon/lua_queue.c"
#include "../../src/daemon/lua_api.c"
#include "node_internal.h" /* evc__node_test_block: the flow-control window, closed by hand */
#include "../../src/daemon/lua_sandbox.c"

#include "lua_stubs.h"

/* api.c: answers "+OK cmd(args)" */
int evcd_api_execute(evcd_t *d, const char *cmd, const char *args, char **out)
{
	(void)d;
	size_t n = strlen(cmd) + (args ? strlen(args) : 0) + 8;
	*out = evc__malloc(n);
	if (!*out)
		return EVCAST_ENOMEM;
	snprintf(*out, n, "+OK %s(%s)", cmd, args ? args : "");
	return 0;
}

/* sidecar.c: records what it was given, and on which thread. */
static int g_injected;
static char g_injected_sub[64];
static bool g_injected_off_loop;
static uv_thread_t g_main_thread;

void evcd_sidecar_inject(evcd_t *d, const evcast_event_t *ev)
{
	(void)d;
	uv_thread_t self = uv_thread_self();
	g_injected++;
	snprintf(g_injected_sub, sizeof(g_injected_sub), "%s", evcast_event_subclass(ev) ? evcast_event_subclass(ev) : "");
	if (!uv_thread_equal(&self, &g_main_thread))
		g_injected_off_loop = true;
}

/* ---------------------------------------------------------------- fixture */

typedef struct fx {
	long live0; /* g_live at setup: a failed test's leak does not fail the next */
	evcd_t d;
	evcd_lua_t *l;
	evcd_lua_script_t *s; /* "unit.lua" */
	char path[64];        /* a temporary script file, removed at teardown */
} fx_t;

/* A module as evcd_lua_start leaves it, without threads, node or loop. */
static evcd_lua_t *module_new(evcd_t *d)
{
	evcd_lua_t *l = evc__calloc(1, sizeof(*l));
	assert_non_null(l);
	assert_int_equal(uv_mutex_init(&l->mu), 0);
	assert_int_equal(uv_cond_init(&l->req_space), 0);
	assert_int_equal(uv_cond_init(&l->done_cond), 0);
	l->d = d;
	atomic_init(&l->stopping, false);
	l->max_queue = 100;
	l->max_consumers = 4;
	l->req_cap = 8;
	l->backoff_min_ms = l->backoff_max_ms = 10;
	l->stop_timeout_ms = 1000;
	evc__ratelimit_init(&l->fire_rl, 3, 1);
	assert_non_null(l->scripts = evc__calloc(MAX_SCRIPTS, sizeof(*l->scripts)));
	return l;
}

static evcd_lua_script_t *script_add(evcd_lua_t *l, const char *name)
{
	evcd_lua_script_t *s = evc__calloc(1, sizeof(*s));
	assert_non_null(s);
	assert_int_equal(uv_cond_init(&s->cond), 0);
	s->l = l;
	s->index = (int)l->nscripts + 1;
	assert_non_null(s->name = evc__strdup(name));
	assert_non_null(s->spec = evc__strdup(name));
	assert_non_null(s->argv = evc__calloc(2, sizeof(char *)));
	assert_non_null(s->argv[0] = evc__strdup(name));
	s->argc = 1;
	l->scripts[l->nscripts++] = s;
	return s;
}

static int fx_setup(void **state)
{
	fx_t *f = calloc(1, sizeof(*f));
	f->live0 = atomic_load(&g_live);
	g_log[0] = '\0';
	g_injected = 0;
	g_injected_sub[0] = '\0';
	g_injected_off_loop = false;
	g_main_thread = uv_thread_self();
	f->l = module_new(&f->d);
	f->s = script_add(f->l, "unit.lua");
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	fx_t *f = *state;
	if (f->path[0])
		unlink(f->path);
	long live0 = f->live0;
	evcd_lua_free(f->l);
	free(f);
	assert_int_equal(atomic_load(&g_live), live0);
	return 0;
}

static evcast_event_t *ev_n(const char *subclass, int n)
{
	char v[16];
	evcast_event_t *ev = evcast_event_new_named("CUSTOM", subclass);
	assert_non_null(ev);
	snprintf(v, sizeof(v), "%d", n);
	assert_int_equal(evcast_event_add_header(ev, "N", v), 0);
	return ev;
}

/* A script run on its own thread (the stop hook's tests, test_lua_loop.c). */
typedef struct runner {
	evcd_lua_script_t *s;
	uv_mutex_t mu;
	uv_cond_t cv;
	bool done;
	int rc;
	char err[2048];
} runner_t;

static void runner_main(void *arg)
{
	runner_t *r = arg;
	int rc = run_once(r->s, r->err, sizeof(r->err));
	uv_mutex_lock(&r->mu);
	r->rc = rc;
	r->done = true;
	uv_cond_signal(&r->cv);
	uv_mutex_unlock(&r->mu);
}

/* True when the runner finished within ms. */
static bool runner_wait(runner_t *r, uint64_t ms)
{
	uint64_t deadline = uv_hrtime() + ms * 1000000u, now;
	uv_mutex_lock(&r->mu);
	while (!r->done && (now = uv_hrtime()) < deadline)
		(void)uv_cond_timedwait(&r->cv, &r->mu, deadline - now);
	bool done = r->done;
	uv_mutex_unlock(&r->mu);
	return done;
}

#endif
