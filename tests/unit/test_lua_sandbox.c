/*
 * test_lua_sandbox.c -- the Lua sandbox and CPU limit (src/daemon/lua_sandbox.c,
 * the cpu-limit-ms hook of lua.c, the sandbox / sandbox-allow-modules /
 * cpu-limit-ms params of lua_conf.c; the Lua sources are included as in
 * test_lua.c). A sandboxed run finds each removed function gone and each
 * restricted one refusing (io.open for writing, binary chunks, C modules not
 * allowed), while an unsandboxed run still has them; the params are parsed
 * (yes, names, an unknown name refused with its line); a busy loop that even
 * swallows errors is ended by cpu-limit-ms, counted and logged, a script that
 * waits between bursts is not, and script_main restarts a limited script per
 * the backoff policy. Stubbed neighbours: the daemon log, api execute, the
 * sidecar. Each test ends with no live allocation.
 */
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
#include "../../src/daemon/lua_sandbox.c"

#include "lua_stubs.h" /* the counting allocator and the daemon-log stubs */

/* ------------------------------------------------------------------ stubs */

int evcd_api_execute(evcd_t *d, const char *cmd, const char *args, char **out)
{
	(void)d;
	(void)args;
	*out = evc__strdup(cmd);
	return *out ? 0 : EVCAST_ENOMEM;
}

void evcd_sidecar_inject(evcd_t *d, const evcast_event_t *ev)
{
	(void)d;
	(void)ev;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("expected \"%s\" in \"%s\"", needle, hay);
}

/* ---------------------------------------------------------------- fixture */

typedef struct fx {
	long live0;
	evcd_t d;
	evcd_lua_t *l;
	evcd_lua_script_t *s;
} fx_t;

static int fx_setup(void **state)
{
	fx_t *f = calloc(1, sizeof(*f));
	f->live0 = atomic_load(&g_live);
	g_log[0] = '\0';
	evcd_lua_t *l = evc__calloc(1, sizeof(*l));
	assert_non_null(l);
	assert_int_equal(uv_mutex_init(&l->mu), 0);
	assert_int_equal(uv_cond_init(&l->req_space), 0);
	assert_int_equal(uv_cond_init(&l->done_cond), 0);
	l->d = &f->d;
	atomic_init(&l->stopping, false);
	l->max_queue = 100;
	l->max_consumers = 4;
	l->req_cap = 8;
	l->backoff_min_ms = l->backoff_max_ms = 10;
	l->stop_timeout_ms = 1000;
	evc__ratelimit_init(&l->fire_rl, 3, 1);
	assert_non_null(l->scripts = evc__calloc(MAX_SCRIPTS, sizeof(*l->scripts)));
	evcd_lua_script_t *s = evc__calloc(1, sizeof(*s));
	assert_non_null(s);
	assert_int_equal(uv_cond_init(&s->cond), 0);
	s->l = l;
	s->index = 1;
	assert_non_null(s->name = evc__strdup("unit.lua"));
	assert_non_null(s->spec = evc__strdup("unit.lua"));
	assert_non_null(s->argv = evc__calloc(2, sizeof(char *)));
	assert_non_null(s->argv[0] = evc__strdup("unit.lua"));
	s->argc = 1;
	l->scripts[l->nscripts++] = s;
	f->l = l;
	f->s = s;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	fx_t *f = *state;
	long live0 = f->live0;
	evcd_lua_free(f->l);
	free(f);
	assert_int_equal(atomic_load(&g_live), live0);
	return 0;
}

/* Runs code inline in a fresh state; returns run_once's code, error in err. */
static int run_code(fx_t *f, const char *code, char *err, size_t cap)
{
	evc__free(f->s->code);
	assert_non_null(f->s->code = evc__strdup(code));
	err[0] = '\0';
	return run_once(f->s, err, cap);
}

/* ---------------------------------------------------------------- sandbox */

/* Each check raises "FAIL: what" so the error names the failed one. */
static const char sandboxed_checks[] =
	"local function check(ok, what) if not ok then error('FAIL: ' .. what, 2) end end\n"
	"for _, n in ipairs({'execute', 'remove', 'rename', 'tmpname', 'getenv', 'setlocale'}) do\n"
	"  check(os[n] == nil, 'os.' .. n .. ' removed')\n"
	"end\n"
	"for _, n in ipairs({'popen', 'tmpfile', 'output'}) do check(io[n] == nil, 'io.' .. n .. ' removed') end\n"
	"check(package.loadlib == nil, 'package.loadlib removed')\n"
	"check(loadfile == nil and dofile == nil, 'loadfile and dofile removed')\n"
	"check(string.dump == nil, 'string.dump removed')\n"
	"check(debug == nil and package.loaded.debug == nil, 'debug removed')\n"
	"check(not pcall(require, 'debug'), 'require debug fails')\n"
	"check(not pcall(os.exit), 'os.exit still refused')\n"
	/* io.open: reading works, every writing mode is refused with a clear message */
	"local fh = io.open('/proc/self/stat', 'r'); check(fh ~= nil, 'io.open read works'); fh:close()\n"
	"for _, m in ipairs({'w', 'a', 'r+', 'wb', 'a+'}) do\n"
	"  local h, msg = io.open('/tmp/evcast_sandbox_never', m)\n"
	"  check(h == nil and msg:find('read%-only'), 'io.open mode ' .. m .. ' refused: ' .. tostring(msg))\n"
	"end\n"
	/* load: text yes (with and without env), binary no even when asked for */
	"check(load('return 41 + 1')() == 42, 'load text')\n"
	"check(load('return x', 'c', 't', {x = 7})() == 7, 'load with env')\n"
	"check(load('return x', 'c')() == nil, 'load without env keeps _ENV')\n"
	"local f, msg = load('\\27Lua\\84\\0', 'bin', 'b')\n"
	"check(f == nil and msg:find('binary'), 'binary chunk refused: ' .. tostring(msg))\n"
	/* C modules: not found unless allowed; the message says why */
	"local ok, e = pcall(require, 'evcast_no_such_c_module')\n"
	"check(not ok and e:find('sandbox%-allow%-modules'), 'C searcher filtered: ' .. tostring(e))\n"
	"local ok2, e2 = pcall(require, 'luasql.sqlite3')\n"
	"if ALLOW then check(ok2, 'allowed C module loads: ' .. tostring(e2))\n"
	"else check(not ok2 and e2:find('sandbox%-allow%-modules'), 'luasql refused: ' .. tostring(e2)) end\n"
	/* what stays */
	"check(type(freeswitch.Event) == 'function' and type(require) == 'function', 'freeswitch and require stay')\n"
	"check(type(os.time) == 'function' and type(os.clock) == 'function' and type(io.lines) == 'function',\n"
	"      'os.time, os.clock, io.lines stay')\n";

static void test_sandbox_removes_each_function(void **state)
{
	fx_t *f = *state;
	char err[2048], code[sizeof(sandboxed_checks) + 64];
	f->s->sandbox = true;
	snprintf(code, sizeof(code), "ALLOW = false\n%s", sandboxed_checks);
	if (run_code(f, code, err, sizeof(err)) != 0)
		fail_msg("sandboxed run: %s", err);
	/* the one C module operators need, allowed by name */
	assert_non_null(f->l->sandbox_modules = evc__strdup("other.mod;luasql.sqlite3"));
	snprintf(code, sizeof(code), "ALLOW = true\n%s", sandboxed_checks);
	if (run_code(f, code, err, sizeof(err)) != 0)
		fail_msg("sandboxed run with luasql.sqlite3 allowed: %s", err);
	/* the control: without the sandbox every one of them is there */
	f->s->sandbox = false;
	if (run_code(f,
		     "assert(os.execute and io.popen and package.loadlib and loadfile and dofile and debug)\n"
		     "assert(debug.sethook and string.dump and os.remove and io.output)\n"
		     "assert(load(string.dump(function() return 5 end))() == 5, 'binary chunk loads')\n"
		     "assert(io.open('/tmp', 'r'))\n",
		     err, sizeof(err)) != 0)
		fail_msg("unsandboxed run: %s", err);
	/* a sandboxed script cannot run a program: the call itself fails */
	f->s->sandbox = true;
	assert_int_equal(run_code(f, "os.execute('true')\n", err, sizeof(err)), -1);
	assert_contains(err, "attempt to call a nil value (field 'execute')");
}

/* Parses an XML file's lua.conf block into f->l (the module's settings). */
static int parse_lua_conf(fx_t *f, const char *params, evcast_config_t **cfg)
{
	char xml[2048], err[512];
	snprintf(xml, sizeof(xml),
		 "<evcast>\n<configuration name=\"event_multicast.conf\"><settings>\n"
		 "<param name=\"address\" value=\"239.255.42.42\"/>\n</settings></configuration>\n"
		 "<configuration name=\"lua.conf\"><settings>\n%s</settings></configuration>\n</evcast>\n",
		 params);
	if (evcast_config_parse(xml, strlen(xml), "/tmp/unit.xml", NULL, NULL, cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	f->d.cfg = *cfg;
	/* a module as evcd_lua_start makes it: no scripts yet */
	evcd_lua_script_free(f->l->scripts[0]);
	evc__free(f->l->scripts);
	f->l->scripts = NULL;
	f->l->nscripts = 0;
	f->s = NULL;
	return evcd_lua_parse_settings(f->l, evcast_config_section(*cfg, "lua.conf"));
}

static void test_sandbox_and_cpu_params(void **state)
{
	fx_t *f = *state;
	evcast_config_t *cfg = NULL;
	/* names as in logs or as written, over repeated params; cpu-limit-ms */
	assert_int_equal(parse_lua_conf(f,
					"<param name=\"startup-script\" value=\"a.lua x\"/>\n"
					"<param name=\"startup-script\" value=\"sub/b.lua\"/>\n"
					"<param name=\"startup-script\" value=\"~return 1\"/>\n"
					"<param name=\"startup-script\" value=\"d.lua\"/>\n"
					"<param name=\"sandbox\" value=\"a.lua, inline#3\"/>\n"
					"<param name=\"sandbox\" value=\"sub/b.lua\"/>\n"
					"<param name=\"sandbox-allow-modules\" value=\"luasql.sqlite3 lfs\"/>\n"
					"<param name=\"cpu-limit-ms\" value=\"250\"/>\n",
					&cfg),
			 0);
	assert_int_equal(f->l->nscripts, 4);
	assert_true(f->l->scripts[0]->sandbox);
	assert_true(f->l->scripts[1]->sandbox);
	assert_true(f->l->scripts[2]->sandbox);
	assert_false(f->l->scripts[3]->sandbox);
	assert_string_equal(f->l->sandbox_modules, "luasql.sqlite3;lfs");
	assert_int_equal(f->l->cpu_limit_ms, 250);
	evcast_config_free(cfg);

	/* sandbox yes: every script; cpu-limit-ms 0: no limit */
	fx_teardown(state);
	fx_setup(state);
	f = *state;
	assert_int_equal(parse_lua_conf(f,
					"<param name=\"sandbox\" value=\"yes\"/>\n"
					"<param name=\"startup-script\" value=\"a.lua\"/>\n"
					"<param name=\"startup-script\" value=\"b.lua\"/>\n"
					"<param name=\"cpu-limit-ms\" value=\"0\"/>\n",
					&cfg),
			 0);
	assert_true(f->l->scripts[0]->sandbox && f->l->scripts[1]->sandbox);
	assert_int_equal(f->l->cpu_limit_ms, 0);
	evcast_config_free(cfg);

	/* a name that is no startup-script, and a bad cpu-limit-ms: refused with file:line */
	fx_teardown(state);
	fx_setup(state);
	f = *state;
	assert_int_equal(parse_lua_conf(f,
					"<param name=\"startup-script\" value=\"a.lua\"/>\n"
					"<param name=\"sandbox\" value=\"a.lua typo.lua\"/>\n",
					&cfg),
			 EVCAST_EINVAL);
	assert_true(log_has("/tmp/unit.xml:7: lua.conf param sandbox: invalid value \"typo.lua\" (not yes, no or "
			    "the name of a startup-script)"));
	evcast_config_free(cfg);
	fx_teardown(state);
	fx_setup(state);
	f = *state;
	assert_int_equal(parse_lua_conf(f, "<param name=\"cpu-limit-ms\" value=\"soon\"/>\n", &cfg), EVCAST_EINVAL);
	assert_true(log_has("/tmp/unit.xml:6: lua.conf param cpu-limit-ms: invalid value \"soon\" (expected a number "
			    "from 0 to 3600000)"));
	evcast_config_free(cfg);
	f->d.cfg = NULL;
}

/* ---------------------------------------------------------- the CPU limit */

static void test_cpu_limit_ends_busy_loop(void **state)
{
	fx_t *f = *state;
	char err[2048];
	f->l->cpu_limit_ms = 200;
	uint64_t t0 = uv_hrtime();
	/* never waits and swallows every error: only the limit can end it */
	assert_int_equal(run_code(f,
				  "local n = 0\nwhile true do\n"
				  "  pcall(function() while true do n = n + 1 end end)\nend\n",
				  err, sizeof(err)),
			 -1);
	uint64_t ms = (uv_hrtime() - t0) / 1000000u;
	assert_contains(err, "cpu-limit-ms exceeded: ");
	assert_contains(err, "(limit 200 ms)");
	assert_contains(err, "[string \"unit.lua\"]:3: cpu-limit-ms"); /* where it spun */
	assert_int_equal(f->s->cpu_limited, 1);
	assert_int_equal(f->l->cpu_limited, 1);
	/* at least the limit of CPU, and not much more than it; wall time on a busy
	 * machine can be longer, but not unboundedly */
	if (ms < 200 || ms > 20000)
		fail_msg("the busy loop ran %llu ms", (unsigned long long)ms);
	unsigned used = (unsigned)atoi(strstr(err, "exceeded: ") + 10);
	if (used < 200 || used > 1000)
		fail_msg("%u ms of CPU reported for a 200 ms limit", used);

	/* a loop of slow C calls (few instructions, much CPU in each call) too */
	assert_int_equal(run_code(f, "while true do string.rep('x', 4e6):upper() end\n", err, sizeof(err)), -1);
	assert_contains(err, "cpu-limit-ms exceeded");
	assert_int_equal(f->l->cpu_limited, 2);

	/* bursts below the limit, each followed by a wait, add up to more than
	 * the limit without reaching it: the budget restarts at every wait */
	assert_int_equal(run_code(f,
				  "for i = 1, 8 do\n"
				  "  local t = os.clock()\n  while os.clock() - t < 0.05 do end\n"
				  "  freeswitch.msleep(1)\nend\n",
				  err, sizeof(err)),
			 0);
	/* msleep(0) does not wait: no fresh budget */
	assert_int_equal(run_code(f, "while true do freeswitch.msleep(0) end\n", err, sizeof(err)), -1);
	assert_contains(err, "cpu-limit-ms exceeded");
	assert_int_equal(f->l->cpu_limited, 3);

	/* no limit: 0 */
	f->l->cpu_limit_ms = 0;
	assert_int_equal(run_code(f, "local t = os.clock()\nwhile os.clock() - t < 0.4 do end\n", err, sizeof(err)), 0);
	assert_int_equal(f->l->cpu_limited, 3);
}

typedef struct main_run {
	evcd_lua_script_t *s;
	uv_thread_t tid;
} main_run_t;

static void main_thread(void *arg) { script_main(((main_run_t *)arg)->s); }

/* Waits up to ms for the script's run count to reach n. */
static bool runs_reach(evcd_lua_t *l, evcd_lua_script_t *s, unsigned n, uint64_t ms)
{
	uint64_t deadline = uv_hrtime() + ms * 1000000u;
	for (;;) {
		uv_mutex_lock(&l->mu);
		bool ok = s->runs >= n && s->cpu_limited >= n - 1;
		uv_mutex_unlock(&l->mu);
		if (ok)
			return true;
		if (uv_hrtime() > deadline)
			return false;
		uv_sleep(10);
	}
}

static void test_cpu_limited_script_restarts(void **state)
{
	fx_t *f = *state;
	evcd_lua_t *l = f->l;
	main_run_t r = {.s = f->s};
	l->cpu_limit_ms = 100;
	l->backoff_min_ms = 20;
	l->backoff_max_ms = 40;
	assert_non_null(f->s->code = evc__strdup("while true do end\n"));
	assert_int_equal(uv_thread_create(&r.tid, main_thread, &r), 0);
	f->s->started = true;
	bool ok = runs_reach(l, f->s, 3, 30000);
	uv_mutex_lock(&l->mu);
	atomic_store(&l->stopping, true);
	uv_cond_broadcast(&f->s->cond);
	uv_mutex_unlock(&l->mu);
	uv_thread_join(&r.tid);
	if (!ok)
		fail_msg("3 runs not reached in 30 s: runs %u, cpu_limited %llu", f->s->runs,
			 (unsigned long long)f->s->cpu_limited);
	assert_true(f->s->failures >= 2);
	assert_true(log_has("lua[unit.lua]: script error: [string \"unit.lua\"]:1: cpu-limit-ms exceeded"));
	assert_true(log_has("(failure 2; restarting in 0.02 s)"));
	/* the counters reach stats */
	char *json = evcd_lua_json(&(evcd_t){.lua = l});
	assert_non_null(json);
	assert_contains(json, "\"cpu_limit_ms\":100");
	char want[64];
	snprintf(want, sizeof(want), "\"cpu_limited\":%llu", (unsigned long long)l->cpu_limited);
	assert_contains(json, want);
	assert_contains(json, "\"sandbox\":false");
	evcast_free(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sandbox_removes_each_function, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_sandbox_and_cpu_params, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cpu_limit_ends_busy_loop, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cpu_limited_script_restarts, fx_setup, fx_teardown),
	};
	uv_mutex_init(&g_log_mu);
	evcast_replace_allocator(t_malloc, t_realloc, t_calloc, t_free);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
