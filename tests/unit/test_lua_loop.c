/*
 * test_lua_loop.c -- the Lua consumer module's fire/api crossing to the loop
 * (src/daemon/lua*.c, included through lua_fixture.h as in test_lua.c):
 * through a real node, the sidecar injection on the loop thread, and a fire
 * waiting while the node is not writable. Each test ends with no live
 * allocation and the loop closed.
 */
#include "lua_fixture.h"

/* ------------------------------------------------- fire and api to the loop */

static void on_tick(uv_timer_t *t) { (void)t; }
static void free_h(uv_handle_t *h) { evc__free(h); }
static void on_node_closed(void *ud) { *(bool *)ud = true; }

static void test_fire_and_api_cross_to_the_loop(void **state)
{
	fx_t *f = *state;
	uv_loop_t loop;
	uv_timer_t tick;
	char err[512];
	const char *xml = "<configuration name=\"event_multicast.conf\"><settings>"
			  "<param name=\"address\" value=\"239.255.42.99\"/><param name=\"port\" value=\"4299\"/>"
			  "<param name=\"node-name\" value=\"unit-node\"/><param name=\"log-level\" value=\"err\"/>"
			  "</settings></configuration>";
	evcast_config_t *cfg = NULL;
	assert_int_equal(uv_loop_init(&loop), 0);
	if (evcast_config_parse(xml, strlen(xml), "unit.xml", NULL, NULL, &cfg, err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
	f->d.loop = &loop;
	assert_int_equal(evcast_node_new(&loop, cfg, NULL, NULL, &f->d.node), 0); /* not started: no socket */
	evcast_config_free(cfg);
	f->l->sub_id = evcast_node_subscribe(f->d.node, evcd_lua_on_event, f->l);
	assert_true(f->l->sub_id > 0);
	assert_non_null(f->l->async = evc__calloc(1, sizeof(*f->l->async)));
	assert_int_equal(uv_async_init(&loop, f->l->async, evcd_lua_on_async), 0);
	f->l->async->data = f->l;
	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, on_tick, 10, 10);

	runner_t r = {.s = f->s};
	uv_thread_t tid;
	assert_non_null(f->s->code = evc__strdup(
		"local con = freeswitch.EventConsumer('CUSTOM', 'unit::fired')\n"
		"local e = freeswitch.Event('CUSTOM', 'unit::fired')\n"
		"e:addHeader('X-N', '1')\n"
		"assert(e:fire() == true)\n"
		"local got = con:pop(1, 5000)\n"
		"freeswitch.consoleLog('notice', 'GOT=' .. (got and got:getHeader('X-N') or 'nil') ..\n"
		"  ' CORE=' .. tostring(got ~= nil and got:getHeader('Core-UUID') ~= nil))\n"
		"freeswitch.consoleLog('notice', 'API=' .. freeswitch.API():execute('unit_cmd', 'a b'))\n"
		"freeswitch.consoleLog('notice', 'API2=' .. freeswitch.API():executeString('other x y'))\n"));
	assert_int_equal(uv_mutex_init(&r.mu), 0);
	assert_int_equal(uv_cond_init(&r.cv), 0);
	assert_int_equal(uv_thread_create(&tid, runner_main, &r), 0);
	uint64_t deadline = uv_hrtime() + 10000000000ull;
	while (!runner_wait(&r, 0) && uv_hrtime() < deadline)
		uv_run(&loop, UV_RUN_ONCE);
	if (!runner_wait(&r, 0))
		fail_msg("the script did not finish; log:\n%s", g_log);
	uv_thread_join(&tid);
	if (r.rc != 0)
		fail_msg("script failed: %s", r.err);
	assert_true(log_has("lua[unit.lua]: GOT=1 CORE=true"));
	assert_true(log_has("lua[unit.lua]: API=+OK unit_cmd(a b)"));
	assert_true(log_has("lua[unit.lua]: API2=+OK other(x y)"));
	assert_int_equal(f->l->fired, 1);
	assert_int_equal(f->l->api_calls, 2);
	/* the fired event went to the sidecar hook, from the loop thread */
	assert_int_equal(g_injected, 1);
	assert_string_equal(g_injected_sub, "unit::fired");
	assert_false(g_injected_off_loop);

	bool closed = false;
	evcast_node_unsubscribe(f->d.node, f->l->sub_id);
	evcast_node_close(f->d.node, on_node_closed, &closed);
	f->d.node = NULL;
	uv_close((uv_handle_t *)f->l->async, free_h);
	f->l->async = NULL;
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(closed);
	assert_int_equal(uv_loop_close(&loop), 0);
	uv_cond_destroy(&r.cv);
	uv_mutex_destroy(&r.mu);
}

/* Back-pressure: while the node is not writable, fired events wait at the
 * head of the request queue (in order, counted in pubwait[lua]); the queue
 * fills and a further fire() waits its timeout, then is dropped and counted
 * (fire_dropped), without blocking the loop; once writable, all go, in
 * order. At stop, a waiting fire's watcher is dropped. */
static int g_fired_seen[16], g_nfired_seen;
static void on_fired_seen(void *ud, const evcast_event_t *ev)
{
	(void)ud;
	const char *sub = evcast_event_subclass(ev), *n = evcast_event_get_header(ev, "N");
	if (sub && !strcmp(sub, "unit::bp") && n && g_nfired_seen < 16)
		g_fired_seen[g_nfired_seen++] = atoi(n);
}

static void test_fire_waits_for_writable(void **state)
{
	fx_t *f = *state;
	uv_loop_t loop;
	char err[512];
	const char *xml = "<configuration name=\"event_multicast.conf\"><settings>"
			  "<param name=\"address\" value=\"239.255.42.99\"/><param name=\"port\" value=\"4299\"/>"
			  "<param name=\"node-name\" value=\"unit-node\"/><param name=\"log-level\" value=\"err\"/>"
			  "</settings></configuration>";
	evcast_config_t *cfg = NULL;
	evcd_pubwait_t *pw = &f->d.pubwait[EVCD_PUB_LUA];
	assert_int_equal(uv_loop_init(&loop), 0);
	if (evcast_config_parse(xml, strlen(xml), "unit.xml", NULL, NULL, &cfg, err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
	f->d.loop = &loop;
	assert_int_equal(evcast_node_new(&loop, cfg, NULL, NULL, &f->d.node), 0); /* not started: no socket */
	evcast_config_free(cfg);
	int sub = evcast_node_subscribe(f->d.node, on_fired_seen, NULL);
	assert_true(sub > 0);
	g_nfired_seen = 0;
	assert_non_null(f->l->async = evc__calloc(1, sizeof(*f->l->async)));
	assert_int_equal(uv_async_init(&loop, f->l->async, evcd_lua_on_async), 0);
	f->l->async->data = f->l;

	evc__node_test_block(f->d.node, true);
	for (int i = 1; i <= (int)f->l->req_cap; i++) /* fills the request queue (8) */
		assert_int_equal(evcd_lua_fire(f->s, ev_n("unit::bp", i)), 0);
	for (int i = 0; i < 5; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(g_nfired_seen, 0);
	assert_int_equal(f->l->fired, 0);
	assert_int_equal(f->l->nreq, f->l->req_cap);
	assert_int_equal(pw->waits, 1);
	assert_int_equal(pw->waiting, 1);
	uint64_t t0 = uv_hrtime();
	assert_int_equal(evcd_lua_fire(f->s, ev_n("unit::bp", 99)), EVCAST_E2BIG); /* its timeout, then dropped */
	assert_true(uv_hrtime() - t0 >= (uint64_t)(FIRE_WAIT_MS - 50) * 1000000u);
	assert_int_equal(f->l->fire_dropped, 1);

	evc__node_test_block(f->d.node, false);
	for (uint64_t end = uv_hrtime() + 5000000000ull; f->l->fired < f->l->req_cap && uv_hrtime() < end;)
		uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(f->l->fired, f->l->req_cap);
	assert_int_equal(g_nfired_seen, (int)f->l->req_cap);
	for (int i = 0; i < g_nfired_seen; i++)
		assert_int_equal(g_fired_seen[i], i + 1); /* in order */
	assert_int_equal(pw->waiting, 0);
	assert_true(pw->wait_us >= 900000u); /* it waited across fire()'s timeout */

	/* stop while a fire waits: the watcher goes, the request is failed */
	evc__node_test_block(f->d.node, true);
	assert_int_equal(evcd_lua_fire(f->s, ev_n("unit::bp", 100)), 0);
	for (int i = 0; i < 3; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(pw->waiting, 1);
	assert_int_equal(evc__node_watch_count(f->d.node), 1);
	evcd_lua_bp_stop(f->l);
	assert_int_equal(pw->waiting, 0);
	assert_int_equal(evc__node_watch_count(f->d.node), 0);
	uv_mutex_lock(&f->l->mu);
	evcd_lua_fail_requests(f->l);
	uv_mutex_unlock(&f->l->mu);

	bool closed = false;
	evcast_node_unsubscribe(f->d.node, sub);
	evcast_node_close(f->d.node, on_node_closed, &closed);
	f->d.node = NULL;
	uv_close((uv_handle_t *)f->l->async, free_h);
	f->l->async = NULL;
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(closed);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fire_and_api_cross_to_the_loop, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_fire_waits_for_writable, fx_setup, fx_teardown),
	};
	uv_mutex_init(&g_log_mu);
	evcast_replace_allocator(t_malloc, t_realloc, t_calloc, t_free);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
