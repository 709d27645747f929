/*
 * test_node_watch.c -- the writable watchers of src/lib/node_watch.c on a
 * real (never started: nothing is sent) node and a private loop: a watcher
 * armed while writable runs on the next loop turn, never inside the call, and
 * once; while the window is closed (evc__node_test_block, the same path as
 * flow control) try_fire refuses without taking the event and watchers wait,
 * then run in arm order when it opens, the pass stopping as soon as a
 * callback closes it again; re-arming from a callback runs next turn, not in
 * a loop; unwatch before the run and from another watcher's callback; the
 * bound (refusals counted); out of memory; closing the node drops armed
 * watchers uncalled, with uv_loop_close() == 0 and nothing left allocated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "node_internal.h"
#include "test_alloc.h"

typedef struct fx {
	uv_loop_t loop;
	evcast_config_t *cfg;
	evcast_node_t *node;
	char order[64]; /* the callbacks' letters, in the order they ran */
	size_t norder;
	int rearm_left; /* rearm_cb: how many more times it arms itself */
	int unwatch_id; /* unwatch_cb: the id it cancels */
	int close_after; /* block_cb: blocks the window after this many runs */
} fx_t;

static fx_t *g; /* the running test's fixture, for the callbacks' letters */

static void fx_setup(fx_t *f)
{
	static const char xml[] = "<evcast><configuration name=\"event_multicast.conf\"><settings>"
				  "<param name=\"address\" value=\"239.255.42.78\"/>"
				  "<param name=\"node-name\" value=\"w\"/></settings></configuration></evcast>";
	char err[256];
	memset(f, 0, sizeof(*f));
	g = f;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(evcast_config_parse(xml, strlen(xml), "w.xml", NULL, NULL, &f->cfg, err, sizeof(err)), 0);
	assert_int_equal(evcast_node_new(&f->loop, f->cfg, NULL, NULL, &f->node), 0);
}

static void fx_teardown(fx_t *f)
{
	evcast_node_close(f->node, NULL, NULL);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	evcast_config_free(f->cfg);
}

static void turn(fx_t *f) { uv_run(&f->loop, UV_RUN_NOWAIT); }

static void note(void *ud)
{
	assert_true(g->norder + 1 < sizeof(g->order));
	g->order[g->norder++] = *(const char *)ud;
	g->order[g->norder] = '\0';
}

static evcast_event_t *custom(void)
{
	evcast_event_t *ev = evcast_event_new();
	assert_non_null(ev);
	assert_int_equal(evcast_event_add_header(ev, "Event-Name", "CUSTOM"), 0);
	assert_int_equal(evcast_event_add_header(ev, "Event-Subclass", "test::watch"), 0);
	return ev;
}

static void test_writable_runs_next_turn_once(void **state)
{
	fx_t f;
	fx_setup(&f);
	assert_int_equal(evcast_node_writable(f.node), 1);
	int id = evcast_node_watch_writable(f.node, note, "a");
	assert_true(id > 0);
	assert_int_equal(f.norder, 0); /* never from inside the call */
	turn(&f);
	assert_string_equal(f.order, "a");
	turn(&f);
	turn(&f);
	assert_string_equal(f.order, "a"); /* one-shot */
	assert_int_equal(evc__node_watch_count(f.node), 0);
	evcast_node_unwatch_writable(f.node, id); /* a spent id: nothing happens */
	evcast_stats_t st;
	evcast_node_stats(f.node, &st);
	assert_int_equal(st.writable_watch_runs, 1);
	assert_int_equal(evcast_node_watch_writable(f.node, NULL, NULL), EVCAST_EINVAL);
	fx_teardown(&f);
}

static void test_blocked_waits_then_arm_order(void **state)
{
	fx_t f;
	fx_setup(&f);
	evc__node_test_block(f.node, true);
	assert_int_equal(evcast_node_writable(f.node), 0);
	evcast_event_t *ev = custom();
	assert_int_equal(evcast_node_try_fire(f.node, ev), EVCAST_EAGAIN);
	assert_string_equal(evcast_event_get_header(ev, "Event-Subclass"), "test::watch"); /* still ours */
	int a = evcast_node_watch_writable(f.node, note, "a");
	int b = evcast_node_watch_writable(f.node, note, "b");
	int c = evcast_node_watch_writable(f.node, note, "c");
	assert_true(a > 0 && b > a && c > b);
	for (int i = 0; i < 5; i++)
		turn(&f);
	assert_int_equal(f.norder, 0);
	assert_int_equal(evc__node_watch_count(f.node), 3);
	evc__node_test_block(f.node, false);
	assert_int_equal(f.norder, 0); /* the opening schedules; the loop runs them */
	turn(&f);
	assert_string_equal(f.order, "abc");
	assert_int_equal(evcast_node_try_fire(f.node, ev), 0); /* taken now */
	evcast_stats_t st;
	evcast_node_stats(f.node, &st);
	assert_int_equal(st.fire_eagain, 1);
	assert_int_equal(st.local_events, 1);
	fx_teardown(&f);
}

static void block_cb(void *ud)
{
	note(ud);
	if (--g->close_after == 0)
		evc__node_test_block(g->node, true);
}

static void test_pass_stops_when_window_closes(void **state)
{
	fx_t f;
	fx_setup(&f);
	evc__node_test_block(f.node, true);
	f.close_after = 1;
	assert_true(evcast_node_watch_writable(f.node, block_cb, "a") > 0);
	assert_true(evcast_node_watch_writable(f.node, note, "b") > 0);
	assert_true(evcast_node_watch_writable(f.node, note, "c") > 0);
	evc__node_test_block(f.node, false);
	turn(&f);
	turn(&f);
	assert_string_equal(f.order, "a"); /* b and c wait for the next opening */
	assert_int_equal(evc__node_watch_count(f.node), 2);
	evc__node_test_block(f.node, false);
	turn(&f);
	assert_string_equal(f.order, "abc");
	fx_teardown(&f);
}

static void rearm_cb(void *ud)
{
	note(ud);
	if (g->rearm_left-- > 0)
		assert_true(evcast_node_watch_writable(g->node, rearm_cb, ud) > 0);
}

static void test_rearm_from_callback_runs_next_turn(void **state)
{
	fx_t f;
	fx_setup(&f);
	f.rearm_left = 2;
	assert_true(evcast_node_watch_writable(f.node, rearm_cb, "r") > 0);
	turn(&f);
	assert_string_equal(f.order, "r"); /* not again in the same pass */
	turn(&f);
	assert_string_equal(f.order, "rr");
	turn(&f);
	turn(&f);
	assert_string_equal(f.order, "rrr");
	assert_int_equal(evc__node_watch_count(f.node), 0);
	fx_teardown(&f);
}

static void unwatch_cb(void *ud)
{
	note(ud);
	evcast_node_unwatch_writable(g->node, g->unwatch_id);
}

static void test_unwatch(void **state)
{
	fx_t f;
	fx_setup(&f);
	evc__node_test_block(f.node, true);
	int a = evcast_node_watch_writable(f.node, note, "a");
	assert_true(evcast_node_watch_writable(f.node, unwatch_cb, "u") > 0);
	f.unwatch_id = evcast_node_watch_writable(f.node, note, "x");
	assert_true(evcast_node_watch_writable(f.node, note, "c") > 0);
	evcast_node_unwatch_writable(f.node, a);
	evcast_node_unwatch_writable(f.node, 9999); /* unknown: nothing */
	assert_int_equal(evc__node_watch_count(f.node), 3);
	evc__node_test_block(f.node, false);
	turn(&f);
	assert_string_equal(f.order, "uc"); /* a cancelled before, x from u's callback */
	assert_int_equal(evc__node_watch_count(f.node), 0);
	fx_teardown(&f);
}

static void test_bound_and_out_of_memory(void **state)
{
	fx_t f;
	fx_setup(&f);
	evc__node_test_block(f.node, true);
	for (int i = 0; i < EVC__WATCH_MAX; i++)
		assert_true(evcast_node_watch_writable(f.node, note, "n") > 0);
	assert_int_equal(evcast_node_watch_writable(f.node, note, "n"), EVCAST_E2BIG);
	evcast_stats_t st;
	evcast_node_stats(f.node, &st);
	assert_int_equal(st.writable_watch_refused, 1);
	fx_teardown(&f);

	fx_setup(&f);
	n_allocs = 0;
	fail_at = 1; /* the list's first allocation */
	assert_int_equal(evcast_node_watch_writable(f.node, note, "n"), EVCAST_ENOMEM);
	fail_at = 0;
	assert_true(evcast_node_watch_writable(f.node, note, "n") > 0);
	turn(&f);
	assert_string_equal(f.order, "n");
	fx_teardown(&f);
}

static void test_close_drops_watchers(void **state)
{
	fx_t f;
	fx_setup(&f);
	assert_true(evcast_node_watch_writable(f.node, note, "a") > 0); /* scheduled, not run yet */
	evc__node_test_block(f.node, true);
	assert_true(evcast_node_watch_writable(f.node, note, "b") > 0);
	fx_teardown(&f); /* closes the node, runs the loop to its end */
	assert_int_equal(f.norder, 0);
}

int main(void)
{
	evcast_replace_allocator(t_malloc, t_realloc, t_calloc, t_free);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_writable_runs_next_turn_once, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_blocked_waits_then_arm_order, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_pass_stops_when_window_closes, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_rearm_from_callback_runs_next_turn, t_alloc_setup,
						t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_unwatch, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_bound_and_out_of_memory, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_close_drops_watchers, t_alloc_setup, t_alloc_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
