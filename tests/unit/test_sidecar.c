/*
 * test_sidecar.c -- back-pressure in the sidecar (src/daemon/sidecar.c,
 * included here with the daemon's neighbours stubbed: evcd_logf,
 * evcd_reg_foreach_location). A real loop and a real (never started: nothing
 * is sent) node; the test plays FreeSWITCH on a 127.0.0.1 TCP socket (a random
 * high port): greeting, +OK to auth and to the subscription, then events.
 * While the node is not writable (evc__node_test_block, the path flow control
 * takes) the first event waits, FreeSWITCH's socket is not read (the sidecar's
 * read is stopped), and the wait is counted; once writable, every event is
 * fired in order and reading resumes. Stopping while an event waits drops it
 * and its watcher; uv_loop_close() == 0 and nothing left allocated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../src/daemon/sidecar.c"
#include "node_internal.h" /* evc__node_test_block */
#include "test_alloc.h"

/* ---- stubs of the daemon's other modules ---- */
void evcd_log(void *ud, int level, const char *msg) {}
void evcd_logf(evcd_t *d, int level, const char *fmt, ...) {}
void evcd_reg_foreach_location(evcd_t *d, void (*fn)(void *ud, const char *realm, const char *user,
						      const char *node_ip),
			       void *ud)
{
}

/* ---- fixture ---- */
typedef struct fx {
	uv_loop_t loop;
	evcd_t d;
	int lfd, fs; /* the fake FreeSWITCH: listening socket, its connection */
	int seen[64], nseen;
} fx_t;

static void on_local(void *ud, const evcast_event_t *ev)
{
	fx_t *f = ud;
	const char *sub = evcast_event_subclass(ev), *n = evcast_event_get_header(ev, "N");
	if (sub && !strcmp(sub, "t::sc") && n && f->nseen < 64)
		f->seen[f->nseen++] = atoi(n);
}

static void pump(fx_t *f, int ms)
{
	uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
	do {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		poll(NULL, 0, 1);
	} while (uv_hrtime() < end);
}

/* Reads from FreeSWITCH's side (running the loop) until text has come. */
static void fs_expect(fx_t *f, const char *text)
{
	char buf[4096];
	size_t n = 0;
	uint64_t end = uv_hrtime() + 3000000000ull;
	buf[0] = '\0';
	while (!strstr(buf, text) && n < sizeof(buf) - 1 && uv_hrtime() < end) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		ssize_t r = recv(f->fs, buf + n, sizeof(buf) - 1 - n, MSG_DONTWAIT);
		if (r > 0)
			buf[n += (size_t)r] = '\0';
		else
			poll(NULL, 0, 1);
	}
	if (!strstr(buf, text))
		fail_msg("FreeSWITCH side: wanted \"%s\", got \"%s\"", text, buf);
}

static void fs_send(fx_t *f, const char *text)
{
	assert_int_equal(send(f->fs, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* An event as FreeSWITCH's event socket sends it: CUSTOM t::sc with N: n. */
static void fs_event(fx_t *f, int n)
{
	char body[256], msg[512];
	int bl = snprintf(body, sizeof(body), "Event-Name: CUSTOM\nEvent-Subclass: t%%3A%%3Asc\nN: %d\n\n", n);
	snprintf(msg, sizeof(msg), "Content-Length: %d\nContent-Type: text/event-plain\n\n%s", bl, body);
	fs_send(f, msg);
}

static void fx_start(fx_t *f)
{
	char xml[2048], err[256];
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	memset(f, 0, sizeof(*f));
	f->fs = -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((f->lfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0); /* port 0: the kernel picks one */
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(xml, sizeof(xml),
		 "<evcast><configuration name=\"event_multicast.conf\"><settings>"
		 "<param name=\"address\" value=\"239.255.42.79\"/><param name=\"node-name\" value=\"s\"/>"
		 "</settings></configuration><configuration name=\"sidecar.conf\"><settings>"
		 "<param name=\"host\" value=\"127.0.0.1\"/><param name=\"port\" value=\"%u\"/>"
		 "<param name=\"password\" value=\"pw\"/><param name=\"bindings\" value=\"CUSTOM t::sc\"/>"
		 "<param name=\"inject\" value=\"no\"/><param name=\"db-sync\" value=\"no\"/>"
		 "</settings></configuration></evcast>",
		 (unsigned)ntohs(sa.sin_port));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->d.loop = &f->loop;
	assert_int_equal(evcast_config_parse(xml, strlen(xml), "s.xml", NULL, NULL, &f->d.cfg, err, sizeof(err)), 0);
	assert_int_equal(evcast_node_new(&f->loop, f->d.cfg, NULL, NULL, &f->d.node), 0);
	assert_true(evcast_node_subscribe(f->d.node, on_local, f) > 0);
	assert_int_equal(evcd_sidecar_start(&f->d), 0);
	assert_non_null(f->d.sidecar);
	/* FreeSWITCH accepts, greets, takes auth and the subscription */
	fcntl(f->lfd, F_SETFL, O_NONBLOCK);
	for (uint64_t end = uv_hrtime() + 3000000000ull; f->fs < 0 && uv_hrtime() < end;) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		if ((f->fs = accept(f->lfd, NULL, NULL)) < 0)
			poll(NULL, 0, 1);
	}
	assert_true(f->fs >= 0);
	fs_send(f, "Content-Type: auth/request\n\n");
	fs_expect(f, "auth pw\n\n");
	fs_send(f, "Content-Type: command/reply\nReply-Text: +OK accepted\n\n");
	fs_expect(f, "event plain CUSTOM t::sc\n\n");
	fs_send(f, "Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n");
	for (uint64_t end = uv_hrtime() + 3000000000ull; f->d.sidecar->state != SC_READY && uv_hrtime() < end;)
		pump(f, 2);
	assert_int_equal(f->d.sidecar->state, SC_READY);
}

static void fx_stop(fx_t *f)
{
	evcd_sidecar_stop(&f->d);
	assert_null(f->d.sidecar);
	evcast_node_close(f->d.node, NULL, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	evcast_config_free(f->d.cfg);
	if (f->fs >= 0)
		close(f->fs);
	close(f->lfd);
}

static void test_event_waits_and_reading_stops(void **state)
{
	fx_t f;
	evcd_pubwait_t *pw;
	fx_start(&f);
	pw = &f.d.pubwait[EVCD_PUB_SIDECAR];
	evc__node_test_block(f.d.node, true);
	for (int i = 1; i <= 5; i++)
		fs_event(&f, i);
	for (uint64_t end = uv_hrtime() + 3000000000ull; pw->waiting == 0 && uv_hrtime() < end;)
		pump(&f, 2);
	pump(&f, 50);
	assert_int_equal(pw->waits, 1);
	assert_int_equal(pw->waiting, 1);
	assert_int_equal(f.nseen, 0); /* nothing fired */
	assert_non_null(f.d.sidecar->bp_ev);
	assert_true(f.d.sidecar->read_paused); /* FreeSWITCH's socket is not read */
	assert_int_equal(f.d.sidecar->events_in, 1);
	assert_int_equal(evc__node_watch_count(f.d.node), 1);

	evc__node_test_block(f.d.node, false);
	for (uint64_t end = uv_hrtime() + 3000000000ull; f.nseen < 5 && uv_hrtime() < end;)
		pump(&f, 2);
	assert_int_equal(f.nseen, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(f.seen[i], i + 1); /* in order */
	assert_int_equal(pw->waiting, 0);
	assert_true(pw->wait_us > 0);
	assert_false(f.d.sidecar->read_paused);
	assert_int_equal(f.d.sidecar->events_fired, 5);
	fs_event(&f, 6); /* reading resumed */
	for (uint64_t end = uv_hrtime() + 3000000000ull; f.nseen < 6 && uv_hrtime() < end;)
		pump(&f, 2);
	assert_int_equal(f.nseen, 6);
	fx_stop(&f);
}

static void test_stop_while_waiting(void **state)
{
	fx_t f;
	fx_start(&f);
	evc__node_test_block(f.d.node, true);
	fs_event(&f, 1);
	for (uint64_t end = uv_hrtime() + 3000000000ull; f.d.pubwait[EVCD_PUB_SIDECAR].waiting == 0 && uv_hrtime() < end;)
		pump(&f, 2);
	assert_int_equal(f.d.pubwait[EVCD_PUB_SIDECAR].waiting, 1);
	evcast_node_t *node = f.d.node;
	evcd_sidecar_stop(&f.d);
	assert_int_equal(f.d.pubwait[EVCD_PUB_SIDECAR].waiting, 0);
	assert_int_equal(evc__node_watch_count(node), 0);
	evc__node_test_block(node, false);
	pump(&f, 20);
	assert_int_equal(f.nseen, 0); /* dropped, never fired */
	fx_stop(&f);
}

int main(void)
{
	evcast_replace_allocator(t_malloc, t_realloc, t_calloc, t_free);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_event_waits_and_reading_stops, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_stop_while_waiting, t_alloc_setup, t_alloc_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
