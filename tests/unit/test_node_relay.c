/*
 * test_node_relay.c -- evcast.h section 11 on one real node (loopback only):
 * evcast_node_input_text wraps a text as a received multicast event (Orig-*,
 * Orig-Multicast-Sender, Multicast-Via), ignores our own events and bad text;
 * the exactly-once filter drops a repeated (Core-UUID, Event-Sequence), treats
 * a sequence older than the 4096 window as a duplicate, accepts out-of-order
 * new ones, evicts the least recently used origin; evcast_node_relay_text sends.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "evcast/evcast.h"
#include "test_ports.h"

typedef struct seen {
	int events;
	char sender[64], via[16], orig_x[64], multicast[8];
} seen_t;

static void on_event(void *ud, const evcast_event_t *ev)
{
	seen_t *s = ud;
	const char *sub = evcast_event_subclass(ev), *v;
	if (!sub || strcmp(sub, "multicast::event") != 0)
		return;
	s->events++;
	v = evcast_event_get_header(ev, "Orig-Multicast-Sender");
	snprintf(s->sender, sizeof(s->sender), "%s", v ? v : "");
	v = evcast_event_get_header(ev, "Multicast-Via");
	snprintf(s->via, sizeof(s->via), "%s", v ? v : "");
	v = evcast_event_get_header(ev, "Orig-X-Test");
	snprintf(s->orig_x, sizeof(s->orig_x), "%s", v ? v : "");
	v = evcast_event_get_header(ev, "Multicast");
	snprintf(s->multicast, sizeof(s->multicast), "%s", v ? v : "");
}

typedef struct fx {
	uv_loop_t loop;
	evcast_node_t *n;
	seen_t s;
} fx_t;

static int setup(void **state)
{
	fx_t *f = calloc(1, sizeof(*f));
	char xml[1024], err[256];
	evcast_config_t *cfg = NULL;
	int port = test_port_pair();
	snprintf(xml, sizeof(xml),
		 "<configuration name=\"event_multicast.conf\"><settings>"
		 "<param name=\"address\" value=\"127.0.0.1\"/><param name=\"port\" value=\"%d\"/>"
		 "<param name=\"bindings\" value=\"CUSTOM test::x\"/><param name=\"node-name\" value=\"me\"/>"
		 "<param name=\"log-level\" value=\"err\"/></settings></configuration>\n",
		 port);
	assert_int_equal(evcast_config_parse(xml, strlen(xml), "t.xml", NULL, NULL, &cfg, err, sizeof(err)), 0);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(evcast_node_new(&f->loop, cfg, NULL, NULL, &f->n), 0);
	evcast_config_free(cfg);
	assert_true(evcast_node_subscribe(f->n, on_event, &f->s) > 0);
	assert_int_equal(evcast_node_start(f->n), 0);
	*state = f;
	return 0;
}

static void on_closed(void *ud) { (*(int *)ud)++; }

static int teardown(void **state)
{
	fx_t *f = *state;
	int closed = 0;
	evcast_node_close(f->n, on_closed, &closed);
	for (int i = 0; i < 1000 && !closed; i++)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_int_equal(closed, 1);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

/* Event text from origin uuid with sequence seq. */
static int input(fx_t *f, const char *uuid, unsigned seq)
{
	char t[512];
	int n = snprintf(t, sizeof(t),
			 "Event-Name: CUSTOM\nEvent-Subclass: test::x\nCore-UUID: %s\nFreeSWITCH-Switchname: far\n"
			 "Event-Sequence: %u\nX-Test: v%%20%u\n\n",
			 uuid, seq, seq);
	return evcast_node_input_text(f->n, t, (size_t)n, "nats");
}

static void test_wrap_and_own(void **state)
{
	fx_t *f = *state;
	assert_int_equal(input(f, "u-1", 1), 0);
	assert_int_equal(f->s.events, 1);
	assert_string_equal(f->s.sender, "far");
	assert_string_equal(f->s.via, "nats");
	assert_string_equal(f->s.orig_x, "v 1");
	assert_string_equal(f->s.multicast, "yes");
	/* no filter installed: a repeat is delivered again */
	assert_int_equal(input(f, "u-1", 1), 0);
	assert_int_equal(f->s.events, 2);
	/* our own Core-UUID is ignored */
	assert_int_equal(input(f, evcast_node_core_uuid(f->n), 7), 1);
	assert_int_equal(f->s.events, 2);
	assert_true(evcast_node_input_text(f->n, "no colon here\n\n", 15, "nats") < 0);
	assert_int_equal(f->s.events, 2);
}

static void test_dedupe_window(void **state)
{
	fx_t *f = *state;
	evcast_relay_stats_t st;
	assert_int_equal(evcast_node_dedupe(f->n, 16), 0);
	assert_int_equal(input(f, "u-1", 1), 0);
	assert_int_equal(input(f, "u-1", 1), 2);
	assert_int_equal(input(f, "u-1", 3), 0);
	assert_int_equal(input(f, "u-1", 2), 0); /* late but new */
	assert_int_equal(input(f, "u-1", 2), 2);
	assert_int_equal(input(f, "u-2", 1), 0); /* another origin, same sequence */
	assert_int_equal(input(f, "u-1", 5000), 0);
	assert_int_equal(input(f, "u-1", 3), 2);    /* older than the window */
	assert_int_equal(input(f, "u-1", 4999), 0); /* inside it */
	assert_int_equal(f->s.events, 6);
	evcast_node_relay_stats(f->n, &st);
	assert_int_equal(st.duplicates, 3);
	assert_int_equal(st.too_old, 1);
	assert_int_equal(st.origins, 2);
}

static void test_dedupe_lru(void **state)
{
	fx_t *f = *state;
	evcast_relay_stats_t st;
	assert_int_equal(evcast_node_dedupe(f->n, 2), 0);
	assert_int_equal(input(f, "o-1", 10), 0);
	assert_int_equal(input(f, "o-2", 10), 0);
	assert_int_equal(input(f, "o-1", 11), 0); /* o-1 recently used */
	assert_int_equal(input(f, "o-3", 10), 0); /* evicts o-2 */
	assert_int_equal(input(f, "o-1", 11), 2); /* o-1 kept */
	assert_int_equal(input(f, "o-2", 10), 0); /* o-2 forgotten: delivered again */
	evcast_node_relay_stats(f->n, &st);
	assert_int_equal(st.origins_evicted, 2);
	assert_int_equal(evcast_node_dedupe(f->n, 0), 0); /* removed */
	assert_int_equal(input(f, "o-2", 10), 0);
}

static void test_relay_text(void **state)
{
	fx_t *f = *state;
	evcast_stats_t a, b;
	static const char t[] = "Event-Name: CUSTOM\nEvent-Subclass: test::x\nFreeSWITCH-Switchname: far\n\n";
	evcast_node_stats(f->n, &a);
	assert_int_equal(evcast_node_relay_text(f->n, t, sizeof(t) - 1), 0);
	evcast_node_stats(f->n, &b);
	assert_int_equal(b.tx_events, a.tx_events + 1);
	assert_int_equal(f->s.events, 0); /* not fired locally */
	assert_true(evcast_node_relay_text(f->n, "garbage", 7) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wrap_and_own, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedupe_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedupe_lru, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_text, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
