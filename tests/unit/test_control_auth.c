/*
 * test_control_auth.c -- the event-socket server's pre-auth guard
 * (src/daemon/control_auth.c; the server included through control_fixture.h,
 * as in test_control.c): clients bound to 127.0.0.2... stand for distinct
 * addresses; the per-address and overall limits evict the right connection,
 * the failure delay doubles up to its cap, one answer per delay per address,
 * a held correct password runs the commands pipelined after it, the address
 * table stays bounded (EVCD_PREAUTH_HISTORY is 4 here), the failure log lines
 * are rate-limited, and an IPv6 client counts by its /64 (an IPv4-mapped one
 * as IPv4).
 */
#include "control_fixture.h"

/* A TCP client whose source address is src (127.0.0.0/8: all local). */
static int cli_tcp_from(fx_t *f, const char *src)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
	struct sockaddr_in me = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(inet_pton(AF_INET, src, &me.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* ---- the pre-auth guard (control_auth.c) ---- */

/* Per-address and overall limits on unauthenticated connections: the right
 * one is closed to make room; an authenticated client is never a candidate. */
static void test_preauth_limits(void **state)
{
	fx_t f;
	int a, p1, p2, p3, q1, r1, s1, s2;
	fx_start(&f, "<param name=\"listen-port\" value=\"PORT\"/><param name=\"password\" value=\"pw\"/>"
		     "<param name=\"max-connections\" value=\"10\"/><param name=\"max-unauthenticated\" value=\"4\"/>"
		     "<param name=\"max-unauthenticated-per-address\" value=\"2\"/>");
	a = cli_tcp(&f);
	expect(&f, a, GREETING, false);
	cli_send(a, "auth pw\n\n");
	expect(&f, a, REPLY("+OK accepted"), false);
	assert_int_equal(f.d.control->st.unauthenticated, 0);
	p1 = cli_tcp_from(&f, "127.0.0.2");
	expect(&f, p1, GREETING, false);
	p2 = cli_tcp_from(&f, "127.0.0.2");
	expect(&f, p2, GREETING, false);
	assert_int_equal(f.d.control->st.unauthenticated, 2);
	/* a third from 127.0.0.2 (limit 2 per address): that address's oldest goes */
	p3 = cli_tcp_from(&f, "127.0.0.2");
	expect(&f, p3, GREETING, false);
	expect(&f, p1, NOTICE, true);
	assert_int_equal(f.d.control->st.preauth_evicted, 1);
	assert_int_equal(f.d.control->st.unauthenticated, 2);
	assert_non_null(strstr(last_warn, "unauthenticated connections from 127.0.0.2 at the per-address limit (2)"));
	q1 = cli_tcp_from(&f, "127.0.0.3");
	expect(&f, q1, GREETING, false);
	r1 = cli_tcp_from(&f, "127.0.0.4");
	expect(&f, r1, GREETING, false);
	/* the listener is at 4: a newcomer closes the oldest of the address holding the most (p2) */
	s1 = cli_tcp_from(&f, "127.0.0.5");
	expect(&f, s1, GREETING, false);
	expect(&f, p2, NOTICE, true);
	assert_int_equal(f.d.control->st.preauth_evicted, 2);
	assert_non_null(strstr(last_warn, "unauthenticated connections from 127.0.0.2 at the listener's limit (4)"));
	/* one each now: the oldest of all (p3) goes */
	s2 = cli_tcp_from(&f, "127.0.0.6");
	expect(&f, s2, GREETING, false);
	expect(&f, p3, NOTICE, true);
	assert_int_equal(f.d.control->st.preauth_evicted, 3);
	assert_int_equal(f.d.control->st.unauthenticated, 4);
	assert_int_equal(f.d.control->st.refused, 0);
	/* the authenticated client was never a candidate */
	cli_send(a, "api status\n\n");
	expect(&f, a, "Content-Type: api/response\nContent-Length: 8\n\nUP test\n", false);
	/* authenticating leaves the pool */
	cli_send(q1, "auth pw\n\n");
	expect(&f, q1, REPLY("+OK accepted"), false);
	assert_int_equal(f.d.control->st.unauthenticated, 3);
	assert_int_equal(f.d.control->st.connections, 5);
	close(p1);
	close(p2);
	close(p3);
	close(a);
	close(q1);
	close(r1);
	close(s1);
	close(s2);
	pump(&f, 20);
	assert_int_equal(f.d.control->st.unauthenticated, 0);
	fx_stop(&f);
}

/* Waits until the server has counted n auth failures (bounded). */
static void wait_failures(fx_t *f, uint64_t n)
{
	uint64_t end = ms_now() + 2000;
	while (f->d.control->st.auth_failures < n && ms_now() < end)
		pump(f, 1);
	assert_int_equal(f->d.control->st.auth_failures, n);
}

/* The delay doubles per failure up to its cap; a correct password inside
 * the address's delay waits for it and then runs what was pipelined after
 * it; a success forgets the failures; another address is not delayed. */
static void test_auth_delay_growth(void **state)
{
	static const long want[] = {40, 80, 160, 160, 160};
	fx_t f;
	int x, y;
	uint64_t t0;
	long ms;
	fx_start(&f, "<param name=\"listen-port\" value=\"PORT\"/><param name=\"password\" value=\"pw\"/>"
		     "<param name=\"auth-failure-delay-ms\" value=\"40\"/>"
		     "<param name=\"auth-failure-delay-max-ms\" value=\"160\"/>");
	for (int i = 0; i < 5; i++) {
		x = cli_tcp_from(&f, "127.0.0.7");
		expect(&f, x, GREETING, false);
		t0 = ms_now();
		cli_send(x, "auth bad\n\n");
		expect(&f, x, REPLY("-ERR invalid") DISCONNECT_NOTICE, true);
		ms = (long)(ms_now() - t0);
		print_message("failure %d answered after %ld ms (delay %ld ms)\n", i + 1, ms, want[i]);
		assert_true(ms + 2 >= want[i]);
		close(x);
	}
	assert_int_equal(f.d.control->st.auth_failures, 5);
	assert_int_equal(f.d.control->st.auth_delayed, 5);
	assert_non_null(strstr(last_warn, "authentication failed from 127.0.0.7 (client "));
	assert_non_null(strstr(last_warn, "failure 5 from this address, answered in 160 ms"));
	/* y's correct password arrives while x's failure holds the address */
	x = cli_tcp_from(&f, "127.0.0.7");
	expect(&f, x, GREETING, false);
	y = cli_tcp_from(&f, "127.0.0.7");
	expect(&f, y, GREETING, false);
	t0 = ms_now();
	cli_send(x, "auth bad\n\n");
	wait_failures(&f, 6);
	cli_send(y, "auth pw\n\napi status\n\n");
	expect(&f, y, REPLY("+OK accepted") "Content-Type: api/response\nContent-Length: 8\n\nUP test\n", false);
	ms = (long)(ms_now() - t0);
	print_message("a correct password held %ld ms behind a failure (delay 160 ms)\n", ms);
	assert_true(ms + 2 >= 160);
	expect(&f, x, REPLY("-ERR invalid") DISCONNECT_NOTICE, true);
	assert_int_equal(f.d.control->st.auth_delayed, 7);
	close(x);
	/* the success reset the address: the next failure waits the first delay */
	pump(&f, 1100); /* a token for its log line */
	x = cli_tcp_from(&f, "127.0.0.7");
	expect(&f, x, GREETING, false);
	cli_send(x, "auth bad\n\n");
	expect(&f, x, REPLY("-ERR invalid") DISCONNECT_NOTICE, true);
	assert_non_null(strstr(last_warn, "failure 1 from this address, answered in 40 ms"));
	close(x);
	/* another address is not held */
	x = cli_tcp_from(&f, "127.0.0.8");
	expect(&f, x, GREETING, false);
	cli_send(x, "auth pw\n\n");
	expect(&f, x, REPLY("+OK accepted"), false);
	assert_int_equal(f.d.control->st.auth_delayed, 8);
	close(x);
	close(y);
	fx_stop(&f);
}

/* Three wrong passwords at once from one address: one answer per delay. */
static void test_auth_one_answer_per_delay(void **state)
{
	fx_t f;
	int fds[3];
	long ms[3];
	char buf[3][512];
	size_t len[3] = {0, 0, 0};
	int left = 3;
	uint64_t t0, end;
	fx_start(&f, "<param name=\"listen-port\" value=\"PORT\"/><param name=\"password\" value=\"pw\"/>"
		     "<param name=\"auth-failure-delay-ms\" value=\"50\"/>"
		     "<param name=\"auth-failure-delay-max-ms\" value=\"50\"/>");
	for (int i = 0; i < 3; i++) {
		fds[i] = cli_tcp_from(&f, "127.0.0.9");
		expect(&f, fds[i], GREETING, false);
		ms[i] = -1;
	}
	t0 = ms_now();
	for (int i = 0; i < 3; i++)
		cli_send(fds[i], "auth bad\n\n");
	for (end = t0 + 3000; left && ms_now() < end;) {
		uv_run(&f.loop, UV_RUN_NOWAIT);
		for (int i = 0; i < 3; i++) {
			ssize_t r;
			if (ms[i] >= 0)
				continue;
			r = recv(fds[i], buf[i] + len[i], sizeof(buf[i]) - 1 - len[i], MSG_DONTWAIT);
			if (r > 0)
				len[i] += (size_t)r;
			if (r == 0) {
				ms[i] = (long)(ms_now() - t0);
				buf[i][len[i]] = '\0';
				assert_string_equal(buf[i], REPLY("-ERR invalid") DISCONNECT_NOTICE);
				left--;
			}
		}
		poll(NULL, 0, 1);
	}
	assert_int_equal(left, 0);
	for (int i = 0; i < 3; i++) /* in answer order */
		for (int j = i + 1; j < 3; j++)
			if (ms[j] < ms[i]) {
				long t = ms[i];
				ms[i] = ms[j];
				ms[j] = t;
			}
	print_message("answers after %ld, %ld, %ld ms (one per 50 ms)\n", ms[0], ms[1], ms[2]);
	assert_true(ms[0] + 2 >= 50);
	assert_true(ms[1] + 2 >= 100);
	assert_true(ms[2] + 2 >= 150);
	assert_int_equal(f.d.control->st.auth_failures, 3);
	assert_int_equal(f.d.control->st.auth_delayed, 3);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	fx_stop(&f);
}

/* 20 addresses fail once each (no delay): the table keeps max-unauthenticated
 * + 1 + EVCD_PREAUTH_HISTORY (4 + 1 + 4) of them, forgetting the oldest and
 * counting it; the failure lines are rate-limited and counted. */
static void test_auth_table_and_log_bound(void **state)
{
	fx_t f;
	char src[32];
	int x;
	uint64_t t0 = ms_now(), secs;
	fx_start(&f, "<param name=\"listen-port\" value=\"PORT\"/><param name=\"password\" value=\"pw\"/>"
		     "<param name=\"max-unauthenticated\" value=\"4\"/><param name=\"auth-failure-delay-ms\" value=\"0\"/>");
	nlog_authfail = 0;
	for (int i = 1; i <= 20; i++) {
		snprintf(src, sizeof(src), "127.0.1.%d", i);
		x = cli_tcp_from(&f, src);
		expect(&f, x, GREETING, false);
		cli_send(x, "auth bad\n\n");
		expect(&f, x, REPLY("-ERR invalid") DISCONNECT_NOTICE, true);
		close(x);
	}
	secs = (ms_now() - t0) / 1000;
	print_message("20 failures: %d lines logged, %llu suppressed, %llu addresses forgotten (%llu s)\n",
		      nlog_authfail, (unsigned long long)f.d.control->st.auth_log_suppressed,
		      (unsigned long long)f.d.control->st.auth_addresses_evicted, (unsigned long long)secs);
	assert_int_equal(f.d.control->st.auth_failures, 20);
	assert_int_equal(f.d.control->st.auth_delayed, 0);
	assert_int_equal(f.d.control->st.auth_addresses_evicted, 20 - 9);
	assert_true(nlog_authfail >= 5); /* the burst */
	assert_true((uint64_t)nlog_authfail <= 5 + secs + 1);
	assert_int_equal((uint64_t)nlog_authfail + f.d.control->st.auth_log_suppressed, 20);
	/* the newest address is remembered, the oldest forgotten */
	pump(&f, 1100); /* a token for the next line */
	x = cli_tcp_from(&f, "127.0.1.20");
	expect(&f, x, GREETING, false);
	cli_send(x, "auth bad\n\n");
	expect(&f, x, REPLY("-ERR invalid") DISCONNECT_NOTICE, true);
	close(x);
	assert_non_null(strstr(last_warn, "authentication failed from 127.0.1.20 "));
	assert_non_null(strstr(last_warn, "failure 2 from this address"));
	assert_non_null(strstr(last_warn, "similar line(s) suppressed]"));
	pump(&f, 1100);
	x = cli_tcp_from(&f, "127.0.1.1");
	expect(&f, x, GREETING, false);
	cli_send(x, "auth bad\n\n");
	expect(&f, x, REPLY("-ERR invalid") DISCONNECT_NOTICE, true);
	close(x);
	assert_non_null(strstr(last_warn, "failure 1 from this address"));
	fx_stop(&f);
}

/* The address key: IPv6 by its /64, IPv4-mapped as IPv4; names from binary. */
static void test_preauth_addr_key(void **state)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6}, b = {.sin6_family = AF_INET6};
	struct sockaddr_storage v4s = {.ss_family = AF_INET}; /* storage-sized, as accept() gives */
	struct sockaddr_in *v4p = (struct sockaddr_in *)&v4s;
	uint8_t fa = 0, fb = 0, ka[16], kb[16];
	pa_addr_t e;
	char name[64];
	inet_pton(AF_INET6, "2001:db8:1:2::5", &a.sin6_addr);
	inet_pton(AF_INET6, "2001:db8:1:2:ffff::6", &b.sin6_addr);
	assert_true(addr_key((struct sockaddr *)&a, &fa, ka));
	assert_true(addr_key((struct sockaddr *)&b, &fb, kb));
	assert_int_equal(fa, AF_INET6);
	assert_int_equal(fa, fb);
	assert_memory_equal(ka, kb, 16); /* one /64: one host */
	memset(&e, 0, sizeof(e));
	e.family = fa;
	memcpy(e.key, ka, 16);
	addr_name(&e, name, sizeof(name));
	assert_string_equal(name, "2001:db8:1:2::/64");
	inet_pton(AF_INET6, "2001:db8:1:3::5", &b.sin6_addr); /* the next /64: another */
	assert_true(addr_key((struct sockaddr *)&b, &fb, kb));
	assert_memory_not_equal(ka, kb, 16);
	inet_pton(AF_INET6, "::ffff:192.0.2.7", &a.sin6_addr); /* a dual-stack listener's IPv4 client */
	inet_pton(AF_INET, "192.0.2.7", &v4p->sin_addr);
	assert_true(addr_key((struct sockaddr *)&a, &fa, ka));
	assert_true(addr_key((struct sockaddr *)&v4s, &fb, kb));
	assert_int_equal(fa, AF_INET);
	assert_int_equal(fb, AF_INET);
	assert_memory_equal(ka, kb, 16);
	e.family = fa;
	memcpy(e.key, ka, 16);
	addr_name(&e, name, sizeof(name));
	assert_string_equal(name, "192.0.2.7");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_preauth_limits),
		cmocka_unit_test(test_auth_delay_growth),
		cmocka_unit_test(test_auth_one_answer_per_delay),
		cmocka_unit_test(test_auth_table_and_log_bound),
		cmocka_unit_test(test_preauth_addr_key),
	};
	signal(SIGPIPE, SIG_IGN);
	srand((unsigned)time(NULL));
	if (evcast_replace_allocator(t_malloc, t_realloc, t_calloc, t_free) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
