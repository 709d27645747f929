/*
 * control_fixture.h -- what test_control.c and test_control_auth.c share:
 * the event-socket server's modules (src/daemon/control.c, control_out.c,
 * control_cmd.c, control_wait.c, control_tcp.c, control_auth.c, esl_conf.c,
 * acl.c, filter_re.c) included with the daemon's neighbours stubbed
 * (evcd_logf, evcd_api_execute, ...), a counting allocator (every block
 * freed by the end of each test), and the fixture: a real loop and a real
 * (never started: no datagram is sent) node, clients as plain sockets on the
 * Unix control socket and on 127.0.0.1 (TCP, a random high port). Included
 * once per test program, before its tests.
 */
#ifndef EVCAST_TEST_CONTROL_FIXTURE_H
#define EVCAST_TEST_CONTROL_FIXTURE_H
#define EVCD_PREAUTH_HISTORY 4u /* the address table's bound, small enough to fill */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <time.h>

#include "../../src/daemon/acl.c"
#include "../../src/daemon/esl_conf.c"
#include "../../src/daemon/control.c"
#include "../../src/daemon/control_out.c"
#include "../../src/daemon/control_cmd.c"
#include "../../src/daemon/control_wait.c"
#include "../../src/daemon/filter_re.c"
#include "../../src/daemon/control_tcp.c"
#include "../../src/daemon/control_auth.c"
#include "node_internal.h" /* evc__node_test_block: the flow-control window, closed by hand */

/* ---- stubs of the daemon's other modules ---- */
static char last_log[1024];
static char last_warn[1024]; /* the last line at warning or above */
static int nlog_authfail;    /* lines saying "authentication failed" */

void evcd_log(void *ud, int level, const char *msg)
{
	snprintf(last_log, sizeof(last_log), "%s", msg);
}

void evcd_logf(evcd_t *d, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_log, sizeof(last_log), fmt, ap);
	va_end(ap);
	if (level <= EVCAST_LOG_WARNING)
		snprintf(last_warn, sizeof(last_warn), "%s", last_log);
	nlog_authfail += strstr(last_log, "authentication failed") != NULL;
}

int evcd_api_execute(evcd_t *d, const char *cmd, const char *args, char **out)
{
	if (strcmp(cmd, "status") == 0) {
		*out = evc__strdup("UP test\n");
		return *out ? 0 : EVCAST_ENOMEM;
	}
	*out = evc__strdup("-ERR nope Command not found!\n");
	return EVCAST_ENOENT;
}

/* ---- counting allocator: every block freed by the end of each test ---- */
static long live;
static void *t_malloc(size_t n) { void *p = malloc(n); if (p) live++; return p; }
static void *t_calloc(size_t a, size_t b) { void *p = calloc(a, b); if (p) live++; return p; }
static void *t_realloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (q && !p)
		live++;
	return q;
}
static void t_free(void *p) { if (p) live--; free(p); }

/* ---- fixture ---- */
typedef struct fx {
	uv_loop_t loop;
	evcd_t d;
	char dir[48], sock[80];
	int port;
	long live0;
} fx_t;

static const char NOTICE[] = DISCONNECT_NOTICE;

/* Starts the server with these event_socket.conf params (NULL: no block). */
static void fx_start(fx_t *f, const char *esl_params)
{
	char xml[4096], err[512];
	int rc = -1;
	memset(f, 0, sizeof(*f));
	f->live0 = live;
	snprintf(f->dir, sizeof(f->dir), "/tmp/evcast-test-control.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/c.sock", f->dir);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->d.loop = &f->loop;
	f->d.log_level = EVCAST_LOG_DEBUG;
	for (int attempt = 0; attempt < 20 && rc != 0; attempt++) {
		f->port = 20000 + (int)(((unsigned)rand() ^ (unsigned)getpid()) % 30000);
		snprintf(xml, sizeof(xml),
			 "<evcast><configuration name=\"event_multicast.conf\"><settings>"
			 "<param name=\"address\" value=\"239.255.42.77\"/><param name=\"bindings\" value=\"\"/>"
			 "<param name=\"node-name\" value=\"t\"/><param name=\"control-socket\" value=\"%s\"/>"
			 "</settings></configuration>%s%s%s</evcast>",
			 f->sock, esl_params ? "<configuration name=\"event_socket.conf\"><settings>" : "",
			 esl_params ? esl_params : "", esl_params ? "</settings></configuration>" : "");
		{
			char *p = strstr(xml, "PORT");
			if (p) { /* the listen-port placeholder */
				char tail[4096];
				snprintf(tail, sizeof(tail), "%s", p + 4);
				snprintf(p, sizeof(xml) - (size_t)(p - xml), "%d%s", f->port, tail);
			}
		}
		assert_int_equal(evcast_config_parse(xml, strlen(xml), "t.xml", NULL, NULL, &f->d.cfg, err, sizeof(err)), 0);
		assert_int_equal(evcast_node_new(&f->loop, f->d.cfg, NULL, NULL, &f->d.node), 0);
		rc = evcd_control_start(&f->d, f->sock);
		if (rc != 0) { /* port taken: another one */
			evcast_node_close(f->d.node, NULL, NULL);
			uv_run(&f->loop, UV_RUN_DEFAULT);
			evcast_config_free(f->d.cfg);
		}
	}
	assert_int_equal(rc, 0);
}

static void fx_stop(fx_t *f)
{
	evcd_control_stop(&f->d);
	assert_null(f->d.control);
	evcast_node_close(f->d.node, NULL, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	evcast_config_free(f->d.cfg);
	rmdir(f->dir);
	assert_int_equal(live, f->live0); /* nothing left allocated */
}

static uint64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void pump(fx_t *f, int ms)
{
	uint64_t end = ms_now() + (uint64_t)ms;
	do {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		poll(NULL, 0, 1);
	} while (ms_now() < end);
}

static int cli_tcp(fx_t *f)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void cli_send(int fd, const char *text)
{
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

/* Reads (running the loop) until want bytes, EOF or ms; *eof set on EOF. */
static size_t cli_read(fx_t *f, int fd, char *buf, size_t cap, size_t want, int ms, bool *eof)
{
	size_t n = 0;
	uint64_t end = ms_now() + (uint64_t)ms;
	*eof = false;
	while (n < want && n < cap - 1 && ms_now() < end) {
		ssize_t r;
		uv_run(&f->loop, UV_RUN_NOWAIT);
		r = recv(fd, buf + n, cap - 1 - n, MSG_DONTWAIT);
		if (r == 0) {
			*eof = true;
			break;
		}
		if (r > 0)
			n += (size_t)r;
		else
			poll(NULL, 0, 1);
	}
	buf[n] = '\0';
	return n;
}

/* The exact bytes next, then (when closes) EOF. */
static void expect(fx_t *f, int fd, const char *want, bool closes)
{
	char buf[8192];
	bool eof;
	size_t n = cli_read(f, fd, buf, sizeof(buf), closes ? sizeof(buf) : strlen(want), closes ? 2000 : 2000, &eof);
	assert_int_equal(n, strlen(want));
	assert_string_equal(buf, want);
	assert_int_equal(eof, closes);
}

#define GREETING "Content-Type: auth/request\n\n"
#define REPLY(t) "Content-Type: command/reply\nReply-Text: " t "\n\n"

#endif
