/*
 * test_regsync_donor.c -- back-pressure on a registration donor
 * (src/daemon/regsync_donor.c, with regsync.c and regsync_digest.c included
 * here and evcd_logf stubbed). A real loop, a real (never started: nothing is
 * sent) node whose bindings select evcast::regsync, and a table of 200
 * registrations. A join request ("all") while the node is not writable
 * (evc__node_test_block, the path flow control takes) sends no data and
 * counts a wait; once writable the stream flows. A stop while waiting drops
 * the watcher; uv_loop_close() == 0 and nothing left allocated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/daemon/regsync.c"
#include "../../src/daemon/regsync_donor.c"
#include "../../src/daemon/regsync_digest.c"
#include "node_internal.h" /* evc__node_test_block */
#include "test_alloc.h"

void evcd_log(void *ud, int level, const char *msg) {}
void evcd_logf(evcd_t *d, int level, const char *fmt, ...) {}

typedef struct fx {
	uv_loop_t loop;
	evcd_t d;
	evc__reg_t *reg;
	evcd_regsync_t *s;
	int data_seen; /* sync-type data events fired by the donor */
} fx_t;

static void on_local(void *ud, const evcast_event_t *ev)
{
	fx_t *f = ud;
	const char *sub = evcast_event_subclass(ev), *t = evcast_event_get_header(ev, "sync-type");
	if (sub && !strcmp(sub, SUBCLASS) && t && !strcmp(t, "data"))
		f->data_seen++;
}

static void fx_start(fx_t *f)
{
	static const char xml[] = "<evcast><configuration name=\"event_multicast.conf\"><settings>"
				  "<param name=\"address\" value=\"239.255.42.81\"/><param name=\"node-name\" value=\"donor\"/>"
				  "<param name=\"bindings\" value=\"CUSTOM evcast::regsync\"/>"
				  "</settings></configuration></evcast>";
	char err[256];
	evc__reg_opts_t o = {0};
	evcd_regsync_cfg_t c;
	memset(f, 0, sizeof(*f));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->d.loop = &f->loop;
	assert_int_equal(evcast_config_parse(xml, strlen(xml), "r.xml", NULL, NULL, &f->d.cfg, err, sizeof(err)), 0);
	assert_int_equal(evcast_node_new(&f->loop, f->d.cfg, NULL, NULL, &f->d.node), 0);
	assert_true(evcast_node_subscribe(f->d.node, on_local, f) > 0);
	assert_int_equal(evc__reg_new(&o, NULL, &f->reg), 0);
	int64_t now = (int64_t)evc__wall_ms();
	for (int i = 0; i < 200; i++) {
		char user[16], cid[16];
		snprintf(user, sizeof(user), "u%d", i);
		snprintf(cid, sizeof(cid), "c%d", i);
		evc__reg_update_t u = {.profile = "internal", .user = user, .realm = "example.com", .call_id = cid,
				       .contact = "sip:u@192.0.2.1", .net_ip = "192.0.2.1", .user_agent = "ua",
				       .status = "Registered", .node = "donor", .node_ip = "192.0.2.9", .net_port = 5060,
				       .ts_us = (uint64_t)now * 1000u, .expires_ms = now + 3600000};
		assert_int_equal(evc__reg_apply(f->reg, &u, now) >= 0, 1);
	}
	evcd_regsync_defaults(&c);
	c.digest_ms = 0; /* no anti-entropy traffic in the way */
	assert_int_equal(evcd_regsync_start(&f->d, f->reg, &c, &f->s), 0);
	assert_non_null(f->s);
}

static void fx_stop(fx_t *f)
{
	if (f->s)
		evcd_regsync_stop(f->s);
	evcast_node_close(f->d.node, NULL, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	evc__reg_free(f->reg);
	evcast_config_free(f->d.cfg);
}

static void run_ms(fx_t *f, int ms)
{
	uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
	while (uv_hrtime() < end)
		uv_run(&f->loop, UV_RUN_ONCE); /* the 10 ms tick keeps the loop turning */
}

static void test_stream_waits_for_writable(void **state)
{
	fx_t f;
	evcd_pubwait_t *pw;
	fx_start(&f);
	pw = &f.d.pubwait[EVCD_PUB_REGSYNC];
	evc__node_test_block(f.d.node, true);
	evcd_rs_on_request(f.s, "joiner", "j1", "all", NULL, 0);
	assert_int_equal(f.s->nstreams, 1);
	run_ms(&f, 100);
	assert_int_equal(f.s->data_sent, 0);
	assert_int_equal(f.data_seen, 0);
	assert_int_equal(pw->waits, 1);
	assert_int_equal(pw->waiting, 1);
	assert_int_equal(evc__node_watch_count(f.d.node), 1);

	evc__node_test_block(f.d.node, false);
	for (uint64_t end = uv_hrtime() + 3000000000ull; f.s->data_sent == 0 && uv_hrtime() < end;)
		run_ms(&f, 10);
	assert_true(f.s->data_sent > 0);
	assert_int_equal(f.data_seen, (int)f.s->data_sent);
	assert_true(f.s->entries_sent > 0);
	assert_int_equal(pw->waiting, 0);
	assert_true(pw->wait_us >= 50000u);
	fx_stop(&f);
}

static void test_stop_while_waiting(void **state)
{
	fx_t f;
	fx_start(&f);
	evc__node_test_block(f.d.node, true);
	evcd_rs_on_request(f.s, "joiner", "j1", "all", NULL, 0);
	run_ms(&f, 30);
	assert_int_equal(f.d.pubwait[EVCD_PUB_REGSYNC].waiting, 1);
	evcd_regsync_stop(f.s);
	f.s = NULL;
	assert_int_equal(f.d.pubwait[EVCD_PUB_REGSYNC].waiting, 0);
	assert_int_equal(evc__node_watch_count(f.d.node), 0);
	evc__node_test_block(f.d.node, false);
	fx_stop(&f);
}

int main(void)
{
	evcast_replace_allocator(t_malloc, t_realloc, t_calloc, t_free);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stream_waits_for_writable, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_stop_while_waiting, t_alloc_setup, t_alloc_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
