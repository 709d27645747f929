/*
 * test_control.c -- protocol tests of the event-socket server (src/daemon/
 * control.c, control_out.c, control_cmd.c, control_tcp.c, esl_conf.c, acl.c, included
 * through control_fixture.h with the daemon's neighbours stubbed: evcd_logf, evcd_api_execute).
 *
 * A real loop and a real (never started: no datagram is sent) node; clients
 * are plain sockets on the Unix control socket and on 127.0.0.1 (TCP, a
 * random high port). Byte-exact checks of the greeting, auth (accepted,
 * -ERR invalid + disconnect notice), ACL rejection, the connection limit, the
 * auth timeout, event framing (plain, json shared between subscribers), the
 * header limit, a slow reader losing its oldest events with a counter (while a
 * reading client on the same events loses none), every reply text (filters,
 * nixevent, bgapi + BACKGROUND_JOB, event xml), and a stop with clients
 * connected that leaves uv_loop_close() == 0 and no block allocated through
 * the library allocator. The pre-auth guard's tests are test_control_auth.c.
 */
#include "control_fixture.h"

static int cli_unix(fx_t *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* ---- tests ---- */

static void test_unix_session(void **state)
{
	fx_t f;
	char buf[8192];
	bool eof;
	int fd;
	fx_start(&f, NULL);
	fd = cli_unix(&f);
	expect(&f, fd, GREETING, false);
	cli_send(fd, "event plain ALL\n\n"); /* before auth */
	expect(&f, fd, REPLY("-ERR command not found"), false);
	cli_send(fd, "auth whatever\n\n"); /* the socket's permissions authenticate */
	expect(&f, fd, REPLY("+OK accepted"), false);
	cli_send(fd, "event plain CUSTOM t::x\n\nfrobnicate\n\napi status\n\n");
	expect(&f, fd, REPLY("+OK event listener enabled plain") REPLY("-ERR command not found")
		       "Content-Type: api/response\nContent-Length: 8\n\nUP test\n", false);
	{
		evcast_event_t *ev = evcast_event_new_named("CUSTOM", "t::x");
		evcast_event_add_header(ev, "X-A", "b c");
		assert_int_equal(evcast_node_fire(f.d.node, ev), 0);
		ev = evcast_event_new_named("CUSTOM", "t::other"); /* not subscribed */
		assert_int_equal(evcast_node_fire(f.d.node, ev), 0);
	}
	cli_read(&f, fd, buf, sizeof(buf), sizeof(buf), 300, &eof);
	assert_true(strncmp(buf, "Content-Length: ", 16) == 0);
	{
		char *body = strstr(buf, "\n\n");
		unsigned long len = strtoul(buf + 16, NULL, 10);
		assert_non_null(body);
		assert_true(strncmp(strchr(buf, '\n') + 1, "Content-Type: text/event-plain\n\n", 32) == 0);
		body += 2;
		assert_int_equal(strlen(body), len); /* one event only */
		assert_true(strncmp(body, "Event-Name: CUSTOM\nEvent-Subclass: t%3A%3Ax\nX-A: b%20c\n", 53) == 0);
	}
	cli_send(fd, "exit\n\n");
	expect(&f, fd, REPLY("+OK bye") DISCONNECT_NOTICE, true);
	close(fd);
	fx_stop(&f);
}

static void test_tcp_auth_acl_limits(void **state)
{
	fx_t f;
	int a, b, c, x;
	fx_start(&f, "<param name=\"listen-port\" value=\"PORT\"/><param name=\"password\" value=\"pw\"/>"
		     "<param name=\"max-connections\" value=\"2\"/><param name=\"auth-timeout\" value=\"1\"/>");
	a = cli_tcp(&f);
	expect(&f, a, GREETING, false);
	cli_send(a, "auth wrong\n\n");
	expect(&f, a, REPLY("-ERR invalid") DISCONNECT_NOTICE, true);
	close(a);
	pump(&f, 20);
	assert_int_equal(f.d.control->st.auth_failures, 1);
	a = cli_tcp(&f);
	expect(&f, a, GREETING, false);
	cli_send(a, "auth pw\n\n");
	expect(&f, a, REPLY("+OK accepted"), false);
	b = cli_tcp(&f);
	expect(&f, b, GREETING, false);
	c = cli_tcp(&f); /* the third: over max-connections */
	expect(&f, c, "Content-Type: text/rude-rejection\nContent-Length: 39\n\nToo many connections, try again later.\n" DISCONNECT_NOTICE, true);
	assert_int_equal(f.d.control->st.refused, 1);
	/* b never authenticates: closed after auth-timeout (1 s; the sweep runs every second) */
	{
		char buf[512];
		bool eof;
		cli_read(&f, b, buf, sizeof(buf), sizeof(buf), 3000, &eof);
		assert_string_equal(buf, NOTICE);
		assert_true(eof);
	}
	assert_int_equal(f.d.control->st.auth_timeouts, 1);
	/* a stays: it authenticated; the header limit closes it */
	{
		static char big[70000 + 32];
		memset(big, 'a', sizeof(big));
		memcpy(big, "sendevent CUSTOM\nX: ", 20);
		big[sizeof(big) - 1] = '\0';
		x = (int)write(a, big, strlen(big));
		assert_true(x > 0);
		expect(&f, a, REPLY("-ERR message too large (header block limit 65536 bytes, body limit 1048576 bytes)"), true);
	}
	close(a);
	close(b);
	close(c);
	fx_stop(&f);
}

static void test_tcp_acl(void **state)
{
	fx_t f;
	int a;
	fx_start(&f, "<param name=\"listen-port\" value=\"PORT\"/><param name=\"password\" value=\"pw\"/>"
		     "<param name=\"apply-inbound-acl\" value=\"10.0.0.0/8, ::1\"/>");
	a = cli_tcp(&f); /* from 127.0.0.1: refused before auth/request */
	expect(&f, a, "Content-Type: text/rude-rejection\nContent-Length: 24\n\nAccess Denied, go away.\n" DISCONNECT_NOTICE, true);
	assert_int_equal(f.d.control->st.acl_rejected, 1);
	assert_non_null(strstr(last_log, "127.0.0.1:"));
	assert_non_null(strstr(last_log, "rejected by apply-inbound-acl"));
	close(a);
	fx_stop(&f);
}

/* Two json subscribers get the same bytes (one serialization, shared). */
static void test_json_shared(void **state)
{
	fx_t f;
	char b1[8192], b2[8192];
	bool eof;
	int a, b;
	fx_start(&f, NULL);
	a = cli_unix(&f);
	b = cli_unix(&f);
	expect(&f, a, GREETING, false);
	expect(&f, b, GREETING, false);
	cli_send(a, "auth x\n\nevent json ALL\n\n");
	cli_send(b, "auth x\n\nevent json ALL\n\n");
	expect(&f, a, REPLY("+OK accepted") REPLY("+OK event listener enabled json"), false);
	expect(&f, b, REPLY("+OK accepted") REPLY("+OK event listener enabled json"), false);
	cli_send(a, "sendevent custom\nEvent-Subclass: t::json\nX-Q: \"quoted\"\nContent-Length: 3\n\nabc");
	cli_read(&f, a, b1, sizeof(b1), sizeof(b1), 300, &eof);
	cli_read(&f, b, b2, sizeof(b2), sizeof(b2), 300, &eof);
	assert_true(strncmp(b1, "Content-Type: command/reply\nReply-Text: +OK ", 44) == 0); /* reply first */
	{
		char *ev1 = strstr(b1, "Content-Length: ");
		assert_non_null(ev1);
		assert_string_equal(ev1, b2);
		assert_non_null(strstr(b2, "Content-Type: text/event-json\n\n{\"Event-Name\":\"CUSTOM\",\"Event-Subclass\":\"t::json\","
					   "\"X-Q\":\"\\\"quoted\\\"\""));
		assert_non_null(strstr(b2, "\"_body\":\"abc\"}"));
	}
	cli_send(b, "noevents\n\nnoevents\n\n");
	expect(&f, b, REPLY("+OK no longer listening for events") REPLY("-ERR not listening for events"), false);
	assert_int_equal(f.d.control->nlistening, 1);
	close(a);
	close(b);
	pump(&f, 20);
	assert_int_equal(f.d.control->nlistening, 0);
	fx_stop(&f);
}

/* A client that never reads: its queue keeps the NEWEST events, the oldest are
 * dropped and counted, and firing never blocks. */
static void test_slow_reader(void **state)
{
	fx_t f;
	int s;
	const int N = 20000;
	static char filler[800];
	uint64_t t0;
	memset(filler, '.', sizeof(filler));
	fx_start(&f, "<param name=\"listen-port\" value=\"PORT\"/><param name=\"password\" value=\"pw\"/>"
		     "<param name=\"queue-max-events\" value=\"100\"/>");
	s = cli_tcp(&f);
	expect(&f, s, GREETING, false);
	cli_send(s, "auth pw\n\nevent plain CUSTOM t::flood\n\n");
	expect(&f, s, REPLY("+OK accepted") REPLY("+OK event listener enabled plain"), false);
	t0 = ms_now();
	for (int i = 0; i < N; i++) {
		char v[16];
		evcast_event_t *ev = evcast_event_new_named("CUSTOM", "t::flood");
		snprintf(v, sizeof(v), "%d", i);
		evcast_event_add_header(ev, "X-N", v);
		evcast_event_set_body(ev, filler, sizeof(filler)); /* ~1 KiB events: 20 MB, beyond any socket buffer */
		assert_int_equal(evcast_node_fire(f.d.node, ev), 0);
		if (i % 1000 == 0)
			uv_run(&f.loop, UV_RUN_NOWAIT);
	}
	assert_true(ms_now() - t0 < 10000);
	{
		conn_t *c = f.d.control->conns;
		assert_non_null(c);
		assert_true(c->qcount <= 100);
		assert_true(c->dropped > 0);
		assert_int_equal(f.d.control->st.events_dropped, c->dropped);
		/* the newest event is queued */
		assert_non_null(strstr(c->qtail->payload, "X-N: 19999\n"));
	}
	/* now read everything: the last event arrives; far fewer than N do */
	{
		static char buf[32 << 20];
		bool eof;
		size_t n;
		unsigned count = 0;
		n = cli_read(&f, s, buf, sizeof(buf), sizeof(buf), 1500, &eof);
		for (char *p = buf; (p = strstr(p, "Content-Type: text/event-plain")); p++)
			count++;
		assert_true(n > 0);
		assert_non_null(strstr(buf, "X-N: 19999\n"));
		assert_true(count < (unsigned)N);
		assert_int_equal(count + f.d.control->st.events_dropped, (unsigned long long)N);
	}
	close(s);
	fx_stop(&f);
}

/* Two clients on the same events at the same time: the one that never reads
 * loses its oldest events; the one that keeps reading loses none. A slow
 * client never holds the others back. */
static void test_slow_does_not_block_fast(void **state)
{
	fx_t f;
	int slow, fast;
	const int N = 20000, CHUNK = 50;
	static char filler[800], fbuf[40 << 20];
	size_t flen = 0, scan = 0;
	unsigned seen = 0;
	char slow_peer[64];
	conn_t *cs = NULL, *cf = NULL;
	memset(filler, '.', sizeof(filler));
	fx_start(&f, "<param name=\"listen-port\" value=\"PORT\"/><param name=\"password\" value=\"pw\"/>"
		     "<param name=\"queue-max-events\" value=\"100\"/>");
	slow = cli_tcp(&f);
	expect(&f, slow, GREETING, false);
	fast = cli_tcp(&f);
	expect(&f, fast, GREETING, false);
	cli_send(slow, "auth pw\n\nevent plain CUSTOM t::flood\n\n");
	cli_send(fast, "auth pw\n\nevent plain CUSTOM t::flood\n\n");
	expect(&f, slow, REPLY("+OK accepted") REPLY("+OK event listener enabled plain"), false);
	expect(&f, fast, REPLY("+OK accepted") REPLY("+OK event listener enabled plain"), false);
	{
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		assert_int_equal(getsockname(slow, (struct sockaddr *)&sa, &sl), 0);
		snprintf(slow_peer, sizeof(slow_peer), "127.0.0.1:%u", ntohs(sa.sin_port));
	}
	for (conn_t *c = f.d.control->conns; c; c = c->next)
		*(strcmp(c->peer, slow_peer) == 0 ? &cs : &cf) = c;
	assert_non_null(cs);
	assert_non_null(cf);
	for (int i = 0; i < N; i++) {
		char v[16];
		evcast_event_t *ev = evcast_event_new_named("CUSTOM", "t::flood");
		snprintf(v, sizeof(v), "%d", i);
		evcast_event_add_header(ev, "X-N", v);
		evcast_event_set_body(ev, filler, sizeof(filler));
		assert_int_equal(evcast_node_fire(f.d.node, ev), 0);
		if ((i + 1) % CHUNK == 0 || i == N - 1) { /* the fast client reads what it was sent */
			uint64_t end = ms_now() + 5000;
			while (seen < (unsigned)i + 1 && ms_now() < end) {
				ssize_t r;
				char *p;
				uv_run(&f.loop, UV_RUN_NOWAIT);
				r = recv(fast, fbuf + flen, sizeof(fbuf) - 1 - flen, MSG_DONTWAIT);
				if (r > 0)
					flen += (size_t)r;
				else
					poll(NULL, 0, 1);
				while ((p = memmem(fbuf + scan, flen - scan, "Content-Type: text/event-plain\n\n", 32))) {
					seen++;
					scan = (size_t)(p - fbuf) + 32;
				}
			}
			assert_int_equal(seen, (unsigned)i + 1);
		}
	}
	fbuf[flen] = '\0';
	assert_non_null(strstr(fbuf, "X-N: 0\n"));
	assert_non_null(strstr(fbuf, "X-N: 19999\n"));
	assert_int_equal(cf->dropped, 0);
	assert_true(cs->dropped > 0);
	assert_true(cs->qcount <= 100);
	assert_int_equal(f.d.control->st.events_dropped, cs->dropped);
	assert_non_null(strstr(cs->qtail->payload, "X-N: 19999\n")); /* the slow one keeps the newest */
	close(slow);
	close(fast);
	fx_stop(&f);
}

/* Count of text/event-* messages in buf. */
static unsigned count_events(const char *buf)
{
	unsigned n = 0;
	for (const char *p = buf; (p = strstr(p, "\nContent-Type: text/event-")); p++)
		n++;
	return n;
}

/* Sends one sendevent block, reads for 300 ms: how many events came back. */
static unsigned sendevent_count(fx_t *f, int fd, const char *block)
{
	static char buf[65536];
	bool eof;
	cli_send(fd, block);
	cli_read(f, fd, buf, sizeof(buf), sizeof(buf), 300, &eof);
	return count_events(buf);
}

/* Reply texts byte for byte as FreeSWITCH writes them; event xml; nixevent of
 * one CUSTOM subclass; filter add/delete; bgapi's reply and BACKGROUND_JOB. */
static void test_command_replies(void **state)
{
	fx_t f;
	static char buf[65536];
	bool eof;
	int fd;
	fx_start(&f, NULL);
	fd = cli_unix(&f);
	expect(&f, fd, GREETING, false);
	cli_send(fd, "auth x\n\nevent\n\nevent xml CUSTOM t::a t::b\n\nlog 7\n\nmyevents\n\napi\n\nbgapi \n\n");
	expect(&f, fd, REPLY("+OK accepted") REPLY("-ERR no keywords supplied") REPLY("+OK event listener enabled xml")
		       REPLY("-ERR command not found") REPLY("-ERR command not found") REPLY("-ERR command not found")
		       REPLY("-ERR command not found"), false);
	/* sendevent with headers and a body, delivered as text/event-xml */
	cli_send(fd, "sendevent CUSTOM\nEvent-Subclass: t::a\nX-A: <&>\nContent-Length: 2\n\nhi");
	cli_read(&f, fd, buf, sizeof(buf), sizeof(buf), 300, &eof);
	assert_true(strncmp(buf, "Content-Type: command/reply\nReply-Text: +OK ", 44) == 0);
	assert_int_equal(count_events(buf), 1);
	{
		char *ev = strstr(buf, "\n\nContent-Length: ") + 2, *body;
		unsigned long len = strtoul(ev + 16, NULL, 10);
		assert_true(strncmp(strchr(ev, '\n') + 1, "Content-Type: text/event-xml\n\n", 30) == 0);
		body = strstr(ev, "\n\n") + 2;
		assert_int_equal(strlen(body), len);
		static const char head[] = "<event>\n  <headers>\n    <Event-Name>CUSTOM</Event-Name>\n"
					   "    <Event-Subclass>t%3A%3Aa</Event-Subclass>\n    <X-A>%3C%26%3E</X-A>\n";
		assert_true(strncmp(body, head, sizeof(head) - 1) == 0);
		assert_non_null(strstr(body, "  </headers>\n  <Content-Length>2</Content-Length>\n  <body>hi</body>\n</event>\n"));
	}
	/* nixevent drops one subclass, keeps the other */
	cli_send(fd, "nixevent CUSTOM t::a\n\n");
	expect(&f, fd, REPLY("+OK events nixed"), false);
	assert_int_equal(sendevent_count(&f, fd, "sendevent CUSTOM\nEvent-Subclass: t::a\n\n"), 0);
	assert_int_equal(sendevent_count(&f, fd, "sendevent CUSTOM\nEvent-Subclass: t::b\n\n"), 1);
	/* filters: FreeSWITCH's texts ("deleted" has no '=') */
	cli_send(fd, "filter X-K yes\n\n");
	expect(&f, fd, REPLY("+OK filter added. [X-K]=[yes]"), false);
	assert_int_equal(sendevent_count(&f, fd, "sendevent CUSTOM\nEvent-Subclass: t::b\nX-K: no\n\n"), 0);
	assert_int_equal(sendevent_count(&f, fd, "sendevent CUSTOM\nEvent-Subclass: t::b\nX-K: yes\n\n"), 1);
	cli_send(fd, "filter delete X-K yes\n\nfilter delete X-K\n\nfilter delete all\n\nfilter delete\n\n");
	expect(&f, fd, REPLY("+OK filter deleted. [X-K][yes]") REPLY("+OK filter deleted. [X-K][]")
		       REPLY("+OK filter deleted. [all][]") REPLY("-ERR invalid syntax"), false);
	assert_int_equal(f.d.control->conns->nfilters, 0);
	/* bgapi: Job-UUID in the reply (the client's, when given), the answer as a BACKGROUND_JOB body */
	cli_send(fd, "noevents\n\nevent json BACKGROUND_JOB\n\n");
	expect(&f, fd, REPLY("+OK no longer listening for events") REPLY("+OK event listener enabled json"), false);
	cli_send(fd, "bgapi status\nJob-UUID: 0b6c1f52-7a2e-4c1d-9e8f-1234567890ab\n\n");
	cli_read(&f, fd, buf, sizeof(buf), sizeof(buf), 300, &eof);
	{
		static const char reply[] = "Content-Type: command/reply\nReply-Text: +OK Job-UUID: "
					    "0b6c1f52-7a2e-4c1d-9e8f-1234567890ab\nJob-UUID: 0b6c1f52-7a2e-4c1d-9e8f-1234567890ab\n\n"
					    "Content-Length: ";
		assert_true(strncmp(buf, reply, sizeof(reply) - 1) == 0);
	}
	assert_int_equal(count_events(buf), 1);
	assert_non_null(strstr(buf, "\nContent-Type: text/event-json\n\n{\"Event-Name\":\"BACKGROUND_JOB\","
				    "\"Job-UUID\":\"0b6c1f52-7a2e-4c1d-9e8f-1234567890ab\",\"Job-Command\":\"status\","));
	assert_non_null(strstr(buf, "\"_body\":\"UP test\\n\"}"));
	cli_send(fd, "exit\n\n");
	expect(&f, fd, REPLY("+OK bye") DISCONNECT_NOTICE, true);
	close(fd);
	fx_stop(&f);
}

/* Stop with clients connected, some mid-command: every handle closes. */
static void test_stop_with_clients(void **state)
{
	fx_t f;
	int fds[6];
	fx_start(&f, "<param name=\"listen-port\" value=\"PORT\"/><param name=\"password\" value=\"pw\"/>");
	for (int i = 0; i < 6; i++) {
		fds[i] = i % 2 ? cli_tcp(&f) : cli_unix(&f);
		pump(&f, 5);
		cli_send(fds[i], i % 3 ? "auth pw\n\nevent json ALL\n\napi sta" : "\x01\xff garbage");
	}
	pump(&f, 50);
	assert_int_equal(f.d.control->st.connections, 6);
	fx_stop(&f);
	for (int i = 0; i < 6; i++)
		close(fds[i]);
}

/* Many connect/disconnect cycles: the open count returns to zero. */
static void test_cycles(void **state)
{
	fx_t f;
	fx_start(&f, "<param name=\"listen-port\" value=\"PORT\"/><param name=\"password\" value=\"pw\"/>");
	for (int i = 0; i < 500; i++) {
		int fd = i % 2 ? cli_tcp(&f) : cli_unix(&f);
		if (i % 3 == 0)
			cli_send(fd, "auth pw\n\nevent plain ALL\n\n");
		uv_run(&f.loop, UV_RUN_NOWAIT);
		close(fd);
		if (i % 50 == 0)
			pump(&f, 5);
	}
	pump(&f, 100);
	assert_int_equal(f.d.control->st.connections, 0);
	assert_int_equal(f.d.control->st.accepted, 500);
	fx_stop(&f);
}

/* Back-pressure (control_wait.c): while the node is not writable a sendevent
 * keeps its event, the connection stops reading and its reply waits (the
 * commands pipelined after it wait too, in order); another client is served
 * meanwhile. When the window opens: +OK, the event, the next sendevent, the
 * api reply, in that order, and the wait counted. A client that closes while
 * waiting drops its watcher and its event. */
static size_t read_until(fx_t *f, int fd, char *buf, size_t cap, const char *needle, int ms)
{
	size_t n = 0;
	uint64_t end = ms_now() + (uint64_t)ms;
	buf[0] = '\0';
	while (!strstr(buf, needle) && n < cap - 1 && ms_now() < end) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		ssize_t r = recv(fd, buf + n, cap - 1 - n, MSG_DONTWAIT);
		if (r > 0) {
			n += (size_t)r;
			buf[n] = '\0';
		} else {
			poll(NULL, 0, 1);
		}
	}
	return n;
}

static void test_sendevent_waits_for_writable(void **state)
{
	fx_t f;
	static char buf[65536];
	bool eof;
	evcd_pubwait_t *pw;
	fx_start(&f, NULL);
	pw = &f.d.pubwait[EVCD_PUB_CONTROL];
	int a = cli_unix(&f), b = cli_unix(&f);
	expect(&f, a, GREETING, false);
	expect(&f, b, GREETING, false);
	cli_send(a, "auth x\n\nevent plain CUSTOM t::bp\n\n");
	expect(&f, a, REPLY("+OK accepted") REPLY("+OK event listener enabled plain"), false);
	cli_send(b, "auth x\n\n");
	expect(&f, b, REPLY("+OK accepted"), false);

	evc__node_test_block(f.d.node, true);
	cli_send(a, "sendevent CUSTOM\nEvent-Subclass: t::bp\nEvent-UUID: u-one\n\n"
		    "sendevent CUSTOM\nEvent-Subclass: t::bp\nEvent-UUID: u-two\n\napi status\n\n");
	assert_int_equal(cli_read(&f, a, buf, sizeof(buf), 1, 300, &eof), 0); /* the reply waits */
	assert_false(eof);
	assert_non_null(f.d.control->conns);
	assert_int_equal(pw->waits, 1);
	assert_int_equal(pw->waiting, 1);
	{
		evcast_stats_t st;
		evcast_node_stats(f.d.node, &st);
		assert_int_equal(st.local_events, 0); /* nothing fired yet */
	}
	cli_send(b, "api status\n\n"); /* the loop is not blocked: b is served */
	expect(&f, b, "Content-Type: api/response\nContent-Length: 8\n\nUP test\n", false);

	evc__node_test_block(f.d.node, false);
	read_until(&f, a, buf, sizeof(buf), "UP test\n", 3000);
	{
		char *ok1 = strstr(buf, REPLY("+OK u-one")), *ev1 = strstr(buf, "Event-UUID: u-one\n");
		char *ok2 = strstr(buf, REPLY("+OK u-two")), *ev2 = strstr(buf, "Event-UUID: u-two\n");
		char *api = strstr(buf, "UP test\n");
		assert_non_null(ok1);
		assert_non_null(ev1);
		assert_non_null(ok2);
		assert_non_null(ev2);
		assert_non_null(api);
		assert_true(ok1 == buf && ok1 < ev1 && ev1 < ok2 && ok2 < ev2 && ev2 < api);
	}
	assert_int_equal(pw->waits, 1); /* the second found the window open */
	assert_int_equal(pw->waiting, 0);
	assert_true(pw->wait_us > 0);

	/* a client that leaves while waiting: reads are stopped, so its close is
	 * seen when the wait ends (the write or the resumed read fails) */
	evc__node_test_block(f.d.node, true);
	cli_send(b, "sendevent CUSTOM\nEvent-Subclass: t::bp\nEvent-UUID: u-b\n\n");
	for (uint64_t end = ms_now() + 3000; pw->waiting == 0 && ms_now() < end;)
		pump(&f, 5);
	assert_int_equal(pw->waiting, 1);
	assert_int_equal(evc__node_watch_count(f.d.node), 1);
	close(b);
	evc__node_test_block(f.d.node, false);
	for (uint64_t end = ms_now() + 3000; f.d.control->st.connections > 1 && ms_now() < end;)
		pump(&f, 5);
	assert_int_equal(f.d.control->st.connections, 1);
	assert_int_equal(pw->waiting, 0);
	assert_int_equal(pw->waits, 2);

	/* the server stops while a is waiting: watcher and event dropped, nothing leaks */
	evc__node_test_block(f.d.node, true);
	cli_send(a, "sendevent CUSTOM\nEvent-Subclass: t::bp\nEvent-UUID: u-three\n\n");
	for (uint64_t end = ms_now() + 3000; pw->waiting == 0 && ms_now() < end;)
		pump(&f, 5);
	assert_int_equal(pw->waiting, 1);
	assert_int_equal(evc__node_watch_count(f.d.node), 1);
	evcd_control_stop(&f.d);
	assert_int_equal(pw->waiting, 0);
	assert_int_equal(evc__node_watch_count(f.d.node), 0);
	evc__node_test_block(f.d.node, false);
	pump(&f, 20);
	close(a);
	fx_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unix_session),
		cmocka_unit_test(test_tcp_auth_acl_limits),
		cmocka_unit_test(test_tcp_acl),
		cmocka_unit_test(test_json_shared),
		cmocka_unit_test(test_slow_reader),
		cmocka_unit_test(test_slow_does_not_block_fast),
		cmocka_unit_test(test_command_replies),
		cmocka_unit_test(test_stop_with_clients),
		cmocka_unit_test(test_cycles),
		cmocka_unit_test(test_sendevent_waits_for_writable),
	};
	signal(SIGPIPE, SIG_IGN);
	srand((unsigned)time(NULL));
	if (evcast_replace_allocator(t_malloc, t_realloc, t_calloc, t_free) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
