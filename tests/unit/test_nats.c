/*
 * test_nats.c -- back-pressure in the NATS gateway (src/daemon/nats.c,
 * included here with evcd_logf stubbed). A real loop and a real (never
 * started: nothing is sent) node; the module runs with connect=no (no server)
 * and is made a gateway, and messages are put in its queue as libnats'
 * callback would. While the node is not writable (evc__node_test_block, the
 * path flow control takes) the loop takes nothing from the queue and the wait
 * is counted; once writable the queue is taken whole. A stop while waiting
 * drops the watcher; uv_loop_close() == 0 and nothing left allocated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../src/daemon/nats.c"
#include "../../src/daemon/nats_conf.c"
#include "node_internal.h" /* evc__node_test_block */
#include "test_alloc.h"

void evcd_log(void *ud, int level, const char *msg) {}
void evcd_logf(evcd_t *d, int level, const char *fmt, ...) {}

typedef struct fx {
	uv_loop_t loop;
	evcd_t d;
	struct evcd_nats *m;
} fx_t;

static void fx_start(fx_t *f)
{
	static const char xml[] = "<evcast><configuration name=\"event_multicast.conf\"><settings>"
				  "<param name=\"address\" value=\"239.255.42.80\"/><param name=\"node-name\" value=\"n\"/>"
				  "</settings></configuration><configuration name=\"nats.conf\"><settings>"
				  "<param name=\"connect\" value=\"no\"/></settings></configuration></evcast>";
	char err[256];
	memset(f, 0, sizeof(*f));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->d.loop = &f->loop;
	assert_int_equal(evcast_config_parse(xml, strlen(xml), "n.xml", NULL, NULL, &f->d.cfg, err, sizeof(err)), 0);
	assert_int_equal(evcast_node_new(&f->loop, f->d.cfg, NULL, NULL, &f->d.node), 0);
	assert_int_equal(evcd_nats_start(&f->d), 0);
	assert_non_null(f->m = f->d.nats);
	f->m->gateway = true; /* relays what arrives to the group: a publisher */
}

static void fx_stop(fx_t *f)
{
	evcd_nats_stop(&f->d);
	assert_null(f->d.nats);
	evcast_node_close(f->d.node, NULL, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	evcast_config_free(f->d.cfg);
}

/* A message as on_msg queues it (libnats' thread): EVN1 + an event's text. */
static void put(fx_t *f, int i)
{
	char text[128], subj[] = "evcast.default.CUSTOM.t.nats";
	int len = snprintf(text, sizeof(text), "EVN1Event-Name: CUSTOM\nEvent-Subclass: t::nats\nN: %d\n\n", i);
	qmsg_t *q = malloc(sizeof(*q) + (size_t)len + sizeof(subj) + 2);
	assert_non_null(q);
	q->next = NULL;
	q->len = (size_t)len;
	memcpy(q->data, text, (size_t)len + 1);
	q->subject = q->data + len + 1;
	memcpy(q->subject, subj, sizeof(subj));
	pthread_mutex_lock(&f->m->mu);
	if (f->m->qtail)
		f->m->qtail->next = q;
	else
		f->m->qhead = q;
	f->m->qtail = q;
	f->m->qlen++;
	f->m->qbytes += (size_t)len;
	pthread_mutex_unlock(&f->m->mu);
	uv_async_send(&f->m->async);
}

static void turns(fx_t *f, int n)
{
	for (int i = 0; i < n; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void test_gateway_stops_taking_while_blocked(void **state)
{
	fx_t f;
	evcd_pubwait_t *pw;
	fx_start(&f);
	pw = &f.d.pubwait[EVCD_PUB_NATS];
	put(&f, 0);
	turns(&f, 3);
	assert_int_equal(f.m->qlen, 0); /* writable: taken at once */
	uint64_t taken0 = f.m->bad + f.m->own + f.m->gateway_in;
	assert_int_equal(taken0, 1);

	evc__node_test_block(f.d.node, true);
	for (int i = 1; i <= 5; i++)
		put(&f, i);
	turns(&f, 5);
	assert_int_equal(f.m->qlen, 5); /* nothing taken */
	assert_int_equal(f.m->qbytes > 0, 1);
	assert_int_equal(pw->waits, 1);
	assert_int_equal(pw->waiting, 1);
	assert_int_equal(evc__node_watch_count(f.d.node), 1);
	assert_int_equal(f.m->bad + f.m->own + f.m->gateway_in, taken0);

	evc__node_test_block(f.d.node, false);
	turns(&f, 3);
	assert_int_equal(f.m->qlen, 0);
	assert_int_equal(f.m->qbytes, 0);
	assert_int_equal(f.m->bad + f.m->own + f.m->gateway_in, taken0 + 5);
	assert_int_equal(pw->waiting, 0);
	assert_true(pw->wait_us > 0);

	/* a non-gateway only delivers locally: it never waits */
	f.m->gateway = false;
	evc__node_test_block(f.d.node, true);
	put(&f, 6);
	turns(&f, 3);
	assert_int_equal(f.m->qlen, 0);
	assert_int_equal(pw->waits, 1);
	evc__node_test_block(f.d.node, false);
	fx_stop(&f);
}

static void test_stop_while_waiting(void **state)
{
	fx_t f;
	fx_start(&f);
	evc__node_test_block(f.d.node, true);
	put(&f, 1);
	put(&f, 2);
	turns(&f, 3);
	assert_int_equal(f.d.pubwait[EVCD_PUB_NATS].waiting, 1);
	evcast_node_t *node = f.d.node;
	evcd_nats_stop(&f.d); /* the queued messages are freed with the module */
	assert_int_equal(f.d.pubwait[EVCD_PUB_NATS].waiting, 0);
	assert_int_equal(evc__node_watch_count(node), 0);
	evc__node_test_block(node, false);
	fx_stop(&f);
}

int main(void)
{
	evcast_replace_allocator(t_malloc, t_realloc, t_calloc, t_free);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_gateway_stops_taking_while_blocked, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_stop_while_waiting, t_alloc_setup, t_alloc_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
