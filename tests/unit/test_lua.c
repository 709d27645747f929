/*
 * test_lua.c -- the Lua consumer module (src/daemon/lua.c, lua_queue.c and
 * lua_api.c, included): the bounded consumer queue (overflow dropped and
 * counted per consumer, script and module, order kept across the ring's wrap,
 * timed pops, wake-up at stop, the consumer limit), evcd_lua_json, the Event
 * userdata through a real lua_State (headers case-insensitive, body, type,
 * serialize plain|json|xml, errors), a failing chunk reported with file:line
 * (runtime, table error object, syntax, max-memory), the count-and-call hook
 * ending a busy loop and a loop of slow C calls once a stop is requested
 * (fire/api crossing to the loop is test_lua_loop.c's). Stubbed neighbours
 * (lua_fixture.h): the daemon log, api execute and the sidecar. Each test ends with no live allocation and the loop closed.
 */
#include "lua_fixture.h"

/* Writes text to a new /tmp/evcast_lua_XXXXXX.lua file and makes it f->s's script. */
static void script_file(fx_t *f, const char *text)
{
	snprintf(f->path, sizeof(f->path), "/tmp/evcast_lua_XXXXXX.lua");
	int fd = mkstemps(f->path, 4);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	evc__free(f->s->path);
	assert_non_null(f->s->path = evc__strdup(f->path));
}

/* Delivers CUSTOM subclass N=n as the node subscriber would. */
static void deliver(evcd_lua_t *l, const char *subclass, int n)
{
	evcast_event_t *ev = ev_n(subclass, n);
	evcd_lua_on_event(l, ev);
	evcast_event_free(ev);
}

/* Pops with timeout 0 and returns header N (-1 when nothing was queued). */
static int pop_n(evcd_lua_consumer_t *c)
{
	evcast_event_t *ev = NULL;
	int rc = evcd_lua_consumer_pop(c, 0, &ev);
	if (rc != 1)
		return -1;
	int n = atoi(evcast_event_get_header(ev, "N"));
	evcast_event_free(ev);
	return n;
}

/* ------------------------------------------------------------------ queues */

static void test_queue_overflow_drops_counts_keeps_order(void **state)
{
	fx_t *f = *state;
	evcd_lua_consumer_t *c = NULL;
	size_t queued, cap;
	uint64_t delivered, dropped;
	assert_int_equal(evcd_lua_consumer_new(f->s, 3, "CUSTOM unit::q", &c), 0);
	assert_int_equal(evcd_lua_consumer_bind(c, "CUSTOM", "unit::q"), 0);
	assert_string_equal(c->label, "unit.lua CUSTOM unit::q");
	for (int i = 1; i <= 5; i++)
		deliver(f->l, "unit::q", i);
	deliver(f->l, "unit::other", 99); /* not selected: neither queued nor counted */
	evcd_lua_consumer_stats(c, &queued, &cap, &delivered, &dropped);
	assert_int_equal(queued, 3);
	assert_int_equal(cap, 3);
	assert_int_equal(delivered, 3);
	assert_int_equal(dropped, 2);
	assert_int_equal(f->s->dropped, 2);
	assert_int_equal(f->s->delivered, 3);
	assert_int_equal(f->l->events_dropped, 2);
	assert_true(log_has("lua: consumer [unit.lua CUSTOM unit::q] queue full: dropped CUSTOM event (1 dropped so far, "
			    "max-queue 3)"));
	/* the oldest are kept, in order; the newest were dropped */
	assert_int_equal(pop_n(c), 1);
	assert_int_equal(pop_n(c), 2);
	/* room again; the ring wraps around and keeps the order */
	for (int i = 6; i <= 8; i++)
		deliver(f->l, "unit::q", i);
	assert_int_equal(pop_n(c), 3);
	assert_int_equal(pop_n(c), 6);
	assert_int_equal(pop_n(c), 7);
	assert_int_equal(pop_n(c), -1); /* 8 was dropped: the queue held 3, 6, 7 */
	evcd_lua_consumer_stats(c, &queued, &cap, &delivered, &dropped);
	assert_int_equal(queued, 0);
	assert_int_equal(delivered, 5);
	assert_int_equal(dropped, 3);
	/* cleanup() empties the queue and drops the bindings */
	deliver(f->l, "unit::q", 9);
	evcd_lua_consumer_clear(c);
	deliver(f->l, "unit::q", 10);
	assert_int_equal(pop_n(c), -1);
	evcd_lua_consumer_free(c);
	assert_true(log_has("consumer [unit.lua CUSTOM unit::q] closed; it dropped 3 events (queue full)"));
	assert_null(f->l->consumers);
	assert_int_equal(f->s->nconsumers, 0);
}

static void test_queue_capacity_clamped_and_consumer_limit(void **state)
{
	fx_t *f = *state;
	evcd_lua_consumer_t *c[5] = {0};
	assert_int_equal(evcd_lua_consumer_new(f->s, 0, "a", &c[0]), 0);
	assert_int_equal(c[0]->cap, 100); /* 0: max-queue */
	assert_int_equal(evcd_lua_consumer_new(f->s, 100000, "b", &c[1]), 0);
	assert_int_equal(c[1]->cap, 100); /* clamped to max-queue */
	assert_int_equal(evcd_lua_consumer_new(f->s, 1, "c", &c[2]), 0);
	assert_int_equal(evcd_lua_consumer_new(f->s, 1, "d", &c[3]), 0);
	assert_true(c[3]->id > c[2]->id && c[2]->id > c[1]->id);
	assert_int_equal(evcd_lua_consumer_new(f->s, 1, "e", &c[4]), EVCAST_E2BIG); /* max-consumers 4 */
	evcd_lua_consumer_free(c[3]);
	assert_int_equal(evcd_lua_consumer_new(f->s, 1, "e", &c[4]), 0);
	atomic_store(&f->l->stopping, true);
	assert_int_equal(evcd_lua_consumer_new(f->s, 1, "f", &c[3]), EVCAST_ESTATE);
	for (int i = 0; i < 5; i++)
		if (i != 3)
			evcd_lua_consumer_free(c[i]);
}

typedef struct popper {
	evcd_lua_consumer_t *c;
	int rc;
} popper_t;

static void popper_main(void *arg)
{
	popper_t *p = arg;
	evcast_event_t *ev = NULL;
	p->rc = evcd_lua_consumer_pop(p->c, -1, &ev); /* waits for ever */
	evcast_event_free(ev);
}

static void test_queue_timed_pop_and_wakeup_at_stop(void **state)
{
	fx_t *f = *state;
	evcd_lua_consumer_t *c = NULL;
	evcast_event_t *ev = NULL;
	assert_int_equal(evcd_lua_consumer_new(f->s, 4, "CUSTOM unit::t", &c), 0);
	assert_int_equal(evcd_lua_consumer_bind(c, "CUSTOM", "unit::t"), 0);
	uint64_t t0 = uv_hrtime();
	assert_int_equal(evcd_lua_consumer_pop(c, 60, &ev), 0);
	uint64_t waited_ms = (uv_hrtime() - t0) / 1000000u;
	if (waited_ms < 55 || waited_ms > 2000)
		fail_msg("pop(60 ms) waited %llu ms", (unsigned long long)waited_ms);
	/* a blocked pop is woken by an event, then by the stop */
	popper_t p = {.c = c, .rc = -99};
	uv_thread_t tid;
	assert_int_equal(uv_thread_create(&tid, popper_main, &p), 0);
	usleep(50000);
	deliver(f->l, "unit::t", 1);
	uv_thread_join(&tid);
	assert_int_equal(p.rc, 1);
	p.rc = -99;
	assert_int_equal(uv_thread_create(&tid, popper_main, &p), 0);
	usleep(50000);
	uv_mutex_lock(&f->l->mu); /* what evcd_lua_stop does */
	atomic_store(&f->l->stopping, true);
	uv_cond_broadcast(&c->cond);
	uv_mutex_unlock(&f->l->mu);
	uv_thread_join(&tid);
	assert_int_equal(p.rc, EVCAST_ESTATE);
	evcd_lua_consumer_free(c);
}

static void test_json_counters(void **state)
{
	fx_t *f = *state;
	evcd_lua_consumer_t *c = NULL;
	f->d.lua = NULL;
	assert_null(evcd_lua_json(&f->d));
	f->d.lua = f->l;
	assert_int_equal(evcd_lua_consumer_new(f->s, 2, "CUSTOM unit::j", &c), 0);
	assert_int_equal(evcd_lua_consumer_bind(c, "CUSTOM", "unit::j"), 0);
	for (int i = 1; i <= 5; i++)
		deliver(f->l, "unit::j", i);
	char *json = evcd_lua_json(&f->d);
	assert_non_null(json);
	cJSON *o = cJSON_Parse(json);
	assert_non_null(o);
	assert_int_equal(cJSON_GetObjectItem(o, "scripts")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(o, "consumers")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(o, "events_queued")->valueint, 2);
	assert_int_equal(cJSON_GetObjectItem(o, "events_delivered")->valueint, 2);
	assert_int_equal(cJSON_GetObjectItem(o, "events_dropped")->valueint, 3);
	cJSON *js = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "per_script"), 0);
	assert_string_equal(cJSON_GetObjectItem(js, "script")->valuestring, "unit.lua");
	assert_int_equal(cJSON_GetObjectItem(js, "index")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(js, "events_dropped")->valueint, 3);
	cJSON *jq = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "queues"), 0);
	assert_string_equal(cJSON_GetObjectItem(jq, "consumer")->valuestring, "unit.lua CUSTOM unit::j");
	assert_string_equal(cJSON_GetObjectItem(jq, "script")->valuestring, "unit.lua");
	assert_int_equal(cJSON_GetObjectItem(jq, "id")->valueint, (int)c->id);
	assert_int_equal(cJSON_GetObjectItem(jq, "queued")->valueint, 2);
	assert_int_equal(cJSON_GetObjectItem(jq, "capacity")->valueint, 2);
	assert_int_equal(cJSON_GetObjectItem(jq, "dropped")->valueint, 3);
	cJSON_Delete(o);
	evcast_free(json);
	/* the script's counters outlive its consumers (a script that ended or restarted) */
	evcd_lua_consumer_free(c);
	json = evcd_lua_json(&f->d);
	assert_non_null(strstr(json, "\"queues\":[]"));
	assert_non_null(strstr(json, "\"events_dropped\":3"));
	evcast_free(json);
}

/* ------------------------------------------------------------ Event userdata */

static int open_env(lua_State *L)
{
	evcd_lua_script_t *s = lua_touserdata(L, 1);
	luaL_openlibs(L);
	evcd_lua_api_open(L, s);
	return 0;
}

/* A state as run_once makes it (allocator, extra space, freeswitch table). */
static lua_State *state_new(evcd_lua_script_t *s)
{
	lua_State *L = lua_newstate(script_alloc, s);
	assert_non_null(L);
	*(evcd_lua_script_t **)lua_getextraspace(L) = s;
	lua_pushcfunction(L, open_env);
	lua_pushlightuserdata(L, s);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK)
		fail_msg("opening the environment: %s", lua_tostring(L, -1));
	return L;
}

/* Runs code; its first result as text (tostring), or fails with the error. */
static const char *eval(lua_State *L, const char *code)
{
	static char buf[4096];
	lua_settop(L, 0);
	if (luaL_loadbufferx(L, code, strlen(code), "=unit", "t") != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK)
		fail_msg("lua error in [%s]: %s", code, lua_tostring(L, -1));
	snprintf(buf, sizeof(buf), "%s", luaL_tolstring(L, 1, NULL));
	lua_settop(L, 0);
	return buf;
}

/* Runs code that must raise; the error text. */
static const char *eval_err(lua_State *L, const char *code)
{
	static char buf[1024];
	lua_settop(L, 0);
	if (luaL_loadbufferx(L, code, strlen(code), "=unit", "t") != LUA_OK)
		fail_msg("syntax error in [%s]: %s", code, lua_tostring(L, -1));
	if (lua_pcall(L, 0, 0, 0) == LUA_OK)
		fail_msg("[%s] did not raise", code);
	snprintf(buf, sizeof(buf), "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "(not a string)");
	lua_settop(L, 0);
	return buf;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

static void test_event_headers_body_type(void **state)
{
	fx_t *f = *state;
	lua_State *L = state_new(f->s);
	assert_string_equal(eval(L, "e = freeswitch.Event('custom', 'unit::ev') return e:getType()"), "CUSTOM");
	assert_string_equal(eval(L, "return freeswitch.Event('presence_in'):getType()"), "PRESENCE_IN");
	assert_string_equal(eval(L, "return e:getHeader('Event-Subclass')"), "unit::ev");
	assert_string_equal(eval(L, "return e:addHeader('X-Test', 'hello world')"), "true");
	assert_string_equal(eval(L, "return e:getHeader('x-TEST')"), "hello world");
	assert_string_equal(eval(L, "return e:getHeader('X-TEST')"), "hello world");
	assert_string_equal(eval(L, "return e:getHeader('X-Absent')"), "nil");
	assert_string_equal(eval(L, "return e:addHeader('X-Nil', nil)"), "false");
	assert_string_equal(eval(L, "return e:getHeader('X-Nil')"), "nil");
	assert_string_equal(eval(L, "e:addHeader('X-Gone', '1') return e:delHeader('x-gone')"), "true");
	assert_string_equal(eval(L, "return e:delHeader('X-Gone')"), "false");
	assert_string_equal(eval(L, "return e:getHeader('X-Gone')"), "nil");
	assert_string_equal(eval(L, "return e:getBody()"), "nil");
	assert_string_equal(eval(L, "return e:addBody('line1\\nline2')"), "true");
	assert_string_equal(eval(L, "return e:getBody()"), "line1\nline2");
	/* a number value is taken as its text, as Lua's string coercion does */
	assert_string_equal(eval(L, "e:addHeader('X-Num', 42) return e:getHeader('x-num')"), "42");
	/* bad uses raise a Lua error, never crash */
	assert_contains(eval_err(L, "freeswitch.Event('bad name')"), "event name contains a space");
	assert_contains(eval_err(L, "freeswitch.Event('')"), "event name empty");
	assert_contains(eval_err(L, "freeswitch.Event('json', '{')"), "invalid JSON event");
	assert_contains(eval_err(L, "e.getHeader({}, 'x')"), "evcast.Event expected");
	assert_contains(eval_err(L, "e:addBody()"), "bad argument #1 to 'addBody'");
	/* __gc frees the event; the state's memory goes back to zero on close */
	assert_string_equal(eval(L, "e = nil collectgarbage() return 'ok'"), "ok");
	lua_close(L);
	assert_int_equal(f->s->mem, 0);
}

static void test_event_serialize(void **state)
{
	fx_t *f = *state;
	lua_State *L = state_new(f->s);
	eval(L, "e = freeswitch.Event('CUSTOM', 'unit::ser') e:addHeader('X-Test', 'hello world') "
		"e:addHeader('X-Amp', 'a&b<c>') e:addBody('line1\\nline2') return true");
	char plain[4096];
	snprintf(plain, sizeof(plain), "%s", eval(L, "return e:serialize()"));
	assert_contains(plain, "Event-Name: CUSTOM\n");
	assert_contains(plain, "Event-Subclass: unit%3A%3Aser\n");
	assert_contains(plain, "X-Test: hello%20world\n");
	assert_contains(plain, "Content-Length: 11\n\nline1\nline2");
	assert_string_equal(eval(L, "return e:serialize('plain')"), plain);
	assert_string_equal(eval(L, "return e:serialize('no-such-format')"), plain); /* as FreeSWITCH */
	assert_string_equal(eval(L, "return tostring(e)"), plain);

	cJSON *o = cJSON_Parse(eval(L, "return e:serialize('json')"));
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItem(o, "Event-Name")->valuestring, "CUSTOM");
	assert_string_equal(cJSON_GetObjectItem(o, "Event-Subclass")->valuestring, "unit::ser");
	assert_string_equal(cJSON_GetObjectItem(o, "X-Test")->valuestring, "hello world");
	assert_string_equal(cJSON_GetObjectItem(o, "_body")->valuestring, "line1\nline2");
	cJSON_Delete(o);
	/* JSON round trip through freeswitch.Event("json", text) */
	assert_string_equal(eval(L, "return freeswitch.Event('json', e:serialize('JSON')):getHeader('X-Amp')"), "a&b<c>");
	assert_string_equal(eval(L, "return freeswitch.Event('json', e:serialize('json')):getBody()"), "line1\nline2");

	const char *xml = eval(L, "return e:serialize('xml')");
	assert_true(strncmp(xml, "<event>\n  <headers>\n", 19) == 0);
	assert_contains(xml, "<Event-Name>CUSTOM</Event-Name>");
	assert_contains(xml, "<X-Test>hello%20world</X-Test>");
	assert_contains(xml, "<X-Amp>a%26b%3Cc%3E</X-Amp>");
	assert_contains(xml, "<Content-Length>11</Content-Length>");
	assert_contains(xml, "<body>line1\nline2</body>");
	lua_close(L);
}

/* ------------------------------------------------------- errors, file:line */

static void test_error_reported_with_file_line(void **state)
{
	fx_t *f = *state;
	char err[2048], want[160];
	script_file(f, "local x = 1\nlocal function boom()\n  error('deliberate ' .. x)\nend\nboom()\n");
	assert_int_equal(run_once(f->s, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:3: deliberate 1\nstack traceback:", f->path);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("want \"%s...\", got \"%s\"", want, err);
	assert_contains(err, "in local 'boom'");
	unlink(f->path);

	/* an error object that is not a string still names file:line */
	script_file(f, "-- a table\n\nerror({code = 7})\n");
	assert_int_equal(run_once(f->s, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:3: (error object is a table value)", f->path);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("want \"%s\", got \"%s\"", want, err);
	unlink(f->path);

	/* one with __tostring is shown through it */
	script_file(f, "error(setmetatable({}, {__tostring = function() return 'custom!' end}))\n");
	assert_int_equal(run_once(f->s, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:1: custom!", f->path);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("want \"%s\", got \"%s\"", want, err);
	unlink(f->path);

	script_file(f, "local a = 1\n\nlocal = 2\n");
	assert_int_equal(run_once(f->s, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:3: <name> expected", f->path);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("want \"%s\", got \"%s\"", want, err);
	unlink(f->path);

	/* the max-memory cap ends a greedy script with a clear message */
	f->l->max_memory = (size_t)1 << 20;
	script_file(f, "local t = {}\nfor i = 1, 1e7 do t[i] = string.rep('x', 64) .. i end\n");
	assert_int_equal(run_once(f->s, err, sizeof(err)), -1);
	assert_contains(err, "not enough memory");
	assert_contains(err, "(max-memory 1 MB)");
	assert_int_equal(f->s->mem, 0);

	/* a script that returns is a success */
	f->l->max_memory = 0;
	unlink(f->path);
	script_file(f, "return 1\n");
	assert_int_equal(run_once(f->s, err, sizeof(err)), 0);
}

/* ------------------------------------------------------------ the stop hook */

/* Runs code on its own thread, lets it spin, requests a stop; returns the
 * stop latency in ms (fails when the script ends early or never ends). */
static uint64_t stop_spinning_script(fx_t *f, const char *code, runner_t *r)
{
	uv_thread_t tid;
	evc__free(f->s->code);
	assert_non_null(f->s->code = evc__strdup(code));
	r->s = f->s;
	assert_int_equal(uv_mutex_init(&r->mu), 0);
	assert_int_equal(uv_cond_init(&r->cv), 0);
	assert_int_equal(uv_thread_create(&tid, runner_main, r), 0);
	if (runner_wait(r, 300))
		fail_msg("the script ended before the stop: %s", r->err);
	uint64_t t0 = uv_hrtime();
	atomic_store(&f->l->stopping, true);
	bool done = runner_wait(r, 10000);
	uint64_t ms = (uv_hrtime() - t0) / 1000000u;
	if (!done)
		fail_msg("the script was not stopped within 10 s"); /* its thread is left spinning */
	uv_thread_join(&tid);
	uv_cond_destroy(&r->cv);
	uv_mutex_destroy(&r->mu);
	return ms;
}

static void test_hook_stops_busy_loop(void **state)
{
	fx_t *f = *state;
	runner_t r = {0};
	/* never pops, and swallows every error: only the hook can end it */
	uint64_t ms = stop_spinning_script(
		f, "local n = 0\nwhile true do\n  pcall(function() while true do n = n + 1 end end)\nend\n", &r);
	assert_int_equal(r.rc, -1);
	assert_contains(r.err, "evcast is stopping");
	if (ms > 2000)
		fail_msg("stopping the busy loop took %llu ms", (unsigned long long)ms);
}

static void test_hook_stops_slow_c_call_loop(void **state)
{
	fx_t *f = *state;
	runner_t r = {0};
	/* ~5 instructions per 0.2 s: the count hook alone would need ~40 s; the
	 * call hook ends it at the next call */
	uint64_t ms = stop_spinning_script(f, "while true do os.execute('sleep 0.2') end\n", &r);
	assert_int_equal(r.rc, -1);
	assert_contains(r.err, "evcast is stopping");
	if (ms > 3000)
		fail_msg("stopping the slow-call loop took %llu ms", (unsigned long long)ms);
}

/* ------------------------------------------------ validate-only (reload) */

/* evcd_lua_check: lua.conf parsed as the start does, nothing run or kept. */
static void test_check_validates_without_running(void **state)
{
	fx_t *f = *state;
	char err[512];
	static const char head[] = "<evcast><configuration name=\"event_multicast.conf\"><settings>"
				   "<param name=\"address\" value=\"239.255.42.99\"/></settings></configuration>\n";
	const char *blocks[] = {
		"<configuration name=\"lua.conf\"><settings>\n<param name=\"startup-script\" value=\"a.lua x\"/>\n"
		"<param name=\"max-queue\" value=\"-1\"/></settings></configuration>",
		"<configuration name=\"lua.conf\"><settings>\n<param name=\"startup-script\" value=\"a.lua x\"/>\n"
		"<param name=\"max-queue\" value=\"7\"/></settings></configuration>",
		"",
	};
	for (size_t i = 0; i < EVC_ARRAY_SIZE(blocks); i++) {
		char xml[1024];
		evcast_config_t *cfg = NULL;
		snprintf(xml, sizeof(xml), "%s%s</evcast>\n", head, blocks[i]);
		if (evcast_config_parse(xml, strlen(xml), "unit.xml", NULL, NULL, &cfg, err, sizeof(err)) != 0)
			fail_msg("config: %s", err);
		f->d.cfg = cfg;
		g_log[0] = '\0';
		int rc = evcd_lua_check(&f->d);
		f->d.cfg = NULL;
		evcast_config_free(cfg);
		assert_null(f->d.lua); /* nothing started, no thread */
		if (i == 0) {
			assert_int_equal(rc, EVCAST_EINVAL);
			if (!log_has("unit.xml:4: lua.conf param max-queue: invalid value \"-1\""))
				fail_msg("the reason with file:line is missing; log:\n%s", g_log);
		} else {
			assert_int_equal(rc, 0);
			assert_false(log_has("[err]"));
		}
	}
	/* teardown checks that every allocation of the checks was freed */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_queue_overflow_drops_counts_keeps_order, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_queue_capacity_clamped_and_consumer_limit, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_queue_timed_pop_and_wakeup_at_stop, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_json_counters, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_event_headers_body_type, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_event_serialize, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_error_reported_with_file_line, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_hook_stops_busy_loop, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_hook_stops_slow_c_call_loop, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_check_validates_without_running, fx_setup, fx_teardown),
	};
	uv_mutex_init(&g_log_mu);
	evcast_replace_allocator(t_malloc, t_realloc, t_calloc, t_free);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
