/*
 * test_esl.c -- unit tests of the event-socket framing parser (src/lib/esl.c).
 *
 * Covers: command and reply blocks, values kept literal, \r\n, bodies by
 * Content-Length, pipelined and blank-line-separated messages, every split
 * point of a message (and byte-by-byte feeding), the head/body limits and a
 * bad Content-Length (sticky errors), random garbage (seeded; the seed is
 * printed and taken back from EVCAST_TEST_SEED), and out-of-memory at every
 * allocation through the replaceable allocator, with a leak count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "evcast/evcast.h"

/* ---- counting, failing allocator ---- */
static long live_blocks;
static long fail_countdown = -1; /* < 0: never fail */

static bool should_fail(void)
{
	if (fail_countdown < 0)
		return false;
	if (fail_countdown == 0)
		return true;
	fail_countdown--;
	return false;
}

static void *t_malloc(size_t n)
{
	void *p = should_fail() ? NULL : malloc(n);
	if (p)
		live_blocks++;
	return p;
}

static void *t_calloc(size_t c, size_t n)
{
	void *p = should_fail() ? NULL : calloc(c, n);
	if (p)
		live_blocks++;
	return p;
}

static void *t_realloc(void *old, size_t n)
{
	void *p;
	if (should_fail())
		return NULL;
	p = realloc(old, n);
	if (p && !old)
		live_blocks++;
	return p;
}

static void t_free(void *p)
{
	if (p)
		live_blocks--;
	free(p);
}

/* ---- helpers ---- */

static evcast_esl_parser_t *parser(evcast_esl_mode_t mode, size_t max_head, size_t max_body)
{
	evcast_esl_parser_t *p = NULL;
	assert_int_equal(evcast_esl_parser_new(mode, max_head, max_body, &p), 0);
	assert_non_null(p);
	return p;
}

static void assert_header(const evcast_event_t *ev, const char *name, const char *value)
{
	const char *v = evcast_event_get_header(ev, name);
	if (!v || strcmp(v, value) != 0)
		fail_msg("header %s: expected \"%s\", got \"%s\"", name, value, v ? v : "(absent)");
}

static void assert_body(const evcast_event_t *ev, const char *body)
{
	size_t n = 0;
	const char *b = evcast_event_get_body(ev, &n);
	if (!body) {
		assert_null(b);
		return;
	}
	assert_non_null(b);
	assert_int_equal(n, strlen(body));
	assert_memory_equal(b, body, n);
}

/* Feeds text in one go, returns the one message it must hold. */
static evcast_event_t *one(evcast_esl_parser_t *p, const char *text)
{
	evcast_event_t *ev = NULL;
	assert_int_equal(evcast_esl_parser_feed(p, text, strlen(text)), 0);
	assert_int_equal(evcast_esl_parser_next(p, &ev), 1);
	assert_non_null(ev);
	return ev;
}

static void assert_no_more(evcast_esl_parser_t *p)
{
	evcast_event_t *ev = (evcast_event_t *)1;
	assert_int_equal(evcast_esl_parser_next(p, &ev), 0);
	assert_null(ev);
}

/* ---- tests ---- */

static void test_command_line(void **state)
{
	evcast_esl_parser_t *p = parser(EVCAST_ESL_COMMANDS, 65536, 1 << 20);
	evcast_event_t *ev = one(p, "auth ClueCon\n\n");
	assert_header(ev, "_line", "auth ClueCon");
	assert_int_equal(evcast_event_header_count(ev), 1);
	assert_body(ev, NULL);
	evcast_event_free(ev);
	assert_no_more(p);
	evcast_esl_parser_free(p);
}

static void test_sendevent_headers_literal(void **state)
{
	evcast_esl_parser_t *p = parser(EVCAST_ESL_COMMANDS, 65536, 1 << 20);
	evcast_event_t *ev = one(p, "sendevent CUSTOM\nEvent-Subclass: a::b\nX-Enc: a%20b+c\nX-Colon: x: y\n"
				    "Spaced :   v  \nno colon line\n: no name\n\n");
	const char *name, *value;
	assert_header(ev, "_line", "sendevent CUSTOM");
	assert_header(ev, "Event-Subclass", "a::b");
	assert_header(ev, "X-Enc", "a%20b+c"); /* not url-decoded */
	assert_header(ev, "X-Colon", "x: y");  /* split at the first colon only */
	assert_header(ev, "Spaced", "v  ");    /* name trimmed, value keeps its tail */
	assert_int_equal(evcast_event_header_count(ev), 5);
	assert_int_equal(evcast_event_header_at(ev, 4, &name, &value), 0);
	assert_string_equal(name, "Spaced");
	evcast_event_free(ev);
	evcast_esl_parser_free(p);
}

/* Found by test_garbage: a NUL in a header name made the message unbuildable
 * (and stuck). Such a line is skipped; a NUL in a value ends the value. */
static void test_nul_bytes(void **state)
{
	static const char text[] = "sendevent A\nBad\0Name: x\nGood: v\0tail\n\n";
	evcast_esl_parser_t *p = parser(EVCAST_ESL_COMMANDS, 1024, 1024);
	evcast_event_t *ev = NULL;
	assert_int_equal(evcast_esl_parser_feed(p, text, sizeof(text) - 1), 0);
	assert_int_equal(evcast_esl_parser_next(p, &ev), 1);
	assert_header(ev, "_line", "sendevent A");
	assert_header(ev, "Good", "v");
	assert_int_equal(evcast_event_header_count(ev), 2);
	evcast_event_free(ev);
	assert_no_more(p);
	evcast_esl_parser_free(p);
}

static void test_crlf(void **state)
{
	evcast_esl_parser_t *p = parser(EVCAST_ESL_COMMANDS, 65536, 1 << 20);
	evcast_event_t *ev = one(p, "sendevent NOTIFY\r\nA: b\r\nContent-Length: 3\r\n\r\nx\r\n");
	assert_header(ev, "_line", "sendevent NOTIFY");
	assert_header(ev, "A", "b");
	assert_header(ev, "Content-Length", "3");
	assert_body(ev, "x\r\n");
	evcast_event_free(ev);
	/* a mix: \n then \r\n ends the block too */
	ev = one(p, "api status\n\r\n");
	assert_header(ev, "_line", "api status");
	evcast_event_free(ev);
	assert_no_more(p);
	evcast_esl_parser_free(p);
}

static void test_replies_mode(void **state)
{
	evcast_esl_parser_t *p = parser(EVCAST_ESL_REPLIES, 65536, 1 << 20);
	evcast_event_t *ev = one(p, "Content-Type: auth/request\n\n");
	assert_header(ev, "Content-Type", "auth/request");
	assert_null(evcast_event_get_header(ev, "_line"));
	evcast_event_free(ev);
	ev = one(p, "Content-Length: 5\nContent-Type: text/event-plain\n\nhello");
	assert_header(ev, "Content-Type", "text/event-plain");
	assert_body(ev, "hello");
	evcast_event_free(ev);
	evcast_esl_parser_free(p);
}

static void test_pipelined_and_blank_lines(void **state)
{
	static const char text[] = "\n\r\nauth x\n\n\n\napi status\n\nsendevent A\nContent-Length: 2\n\nhi"
				   "exit\n\n";
	evcast_esl_parser_t *p = parser(EVCAST_ESL_COMMANDS, 65536, 1 << 20);
	const char *lines[] = {"auth x", "api status", "sendevent A", "exit"};
	evcast_event_t *ev;
	assert_int_equal(evcast_esl_parser_feed(p, text, sizeof(text) - 1), 0);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(evcast_esl_parser_next(p, &ev), 1);
		assert_header(ev, "_line", lines[i]);
		assert_body(ev, i == 2 ? "hi" : NULL);
		evcast_event_free(ev);
	}
	assert_no_more(p);
	evcast_esl_parser_free(p);
}

/* The same stream cut in two at every byte, and fed byte by byte, gives the
 * same messages. */
static void test_every_split(void **state)
{
	static const char text[] = "sendevent CUSTOM\r\nEvent-Subclass: x::y\nContent-Length: 11\n\n"
				   "body\n\nwith\n\nbye\n\n";
	const size_t n = sizeof(text) - 1;
	for (size_t cut = 0; cut <= n + 1; cut++) {
		evcast_esl_parser_t *p = parser(EVCAST_ESL_COMMANDS, 1024, 1024);
		evcast_event_t *ev = NULL;
		int got = 0;
		if (cut <= n) {
			assert_int_equal(evcast_esl_parser_feed(p, text, cut), 0);
			if (cut < n - 6) /* the first message is not complete yet */
				assert_int_equal(evcast_esl_parser_next(p, &ev), 0);
			assert_int_equal(evcast_esl_parser_feed(p, text + cut, n - cut), 0);
		} else {
			for (size_t i = 0; i < n; i++) { /* byte by byte */
				assert_int_equal(evcast_esl_parser_feed(p, text + i, 1), 0);
				if (i < n - 7)
					assert_int_equal(evcast_esl_parser_next(p, &ev), 0);
			}
		}
		while (evcast_esl_parser_next(p, &ev) == 1) {
			if (got == 0) {
				assert_header(ev, "_line", "sendevent CUSTOM");
				assert_header(ev, "Event-Subclass", "x::y");
				assert_body(ev, "body\n\nwith\n");
			} else {
				assert_header(ev, "_line", "bye");
			}
			got++;
			evcast_event_free(ev);
		}
		assert_int_equal(got, 2);
		evcast_esl_parser_free(p);
	}
}

static void test_head_limit(void **state)
{
	char big[300];
	evcast_event_t *ev;
	evcast_esl_parser_t *p = parser(EVCAST_ESL_COMMANDS, 100, 1000);
	/* exactly 100 bytes including the blank line: accepted */
	memset(big, 'a', sizeof(big));
	big[98] = '\n';
	big[99] = '\n';
	assert_int_equal(evcast_esl_parser_feed(p, big, 100), 0);
	assert_int_equal(evcast_esl_parser_next(p, &ev), 1);
	evcast_event_free(ev);
	/* 101 bytes: refused */
	big[98] = 'a';
	big[99] = '\n';
	big[100] = '\n';
	assert_int_equal(evcast_esl_parser_feed(p, big, 101), EVCAST_E2BIG);
	assert_int_equal(evcast_esl_parser_next(p, &ev), EVCAST_E2BIG);
	assert_int_equal(evcast_esl_parser_feed(p, "x\n\n", 3), EVCAST_E2BIG); /* sticky */
	evcast_esl_parser_free(p);

	/* a line that never ends is refused as soon as it passes the limit */
	p = parser(EVCAST_ESL_COMMANDS, 100, 1000);
	memset(big, 'z', sizeof(big));
	for (size_t i = 0; i < 100; i++)
		assert_int_equal(evcast_esl_parser_feed(p, big, 1), 0);
	assert_int_equal(evcast_esl_parser_feed(p, big, 1), EVCAST_E2BIG);
	evcast_esl_parser_free(p);
}

static void test_body_limit(void **state)
{
	evcast_event_t *ev;
	evcast_esl_parser_t *p = parser(EVCAST_ESL_COMMANDS, 1024, 10);
	ev = one(p, "sendevent A\nContent-Length: 10\n\n0123456789");
	assert_body(ev, "0123456789");
	evcast_event_free(ev);
	/* refused when the header block arrives, before any body byte */
	{
		static const char over[] = "sendevent A\nContent-Length: 11\n\n";
		assert_int_equal(evcast_esl_parser_feed(p, over, sizeof(over) - 1), EVCAST_E2BIG);
	}
	evcast_esl_parser_free(p);

	p = parser(EVCAST_ESL_COMMANDS, 1024, 10);
	{
		static const char huge[] = "x\nContent-Length: 99999999999999999999999999\n\n";
		assert_int_equal(evcast_esl_parser_feed(p, huge, sizeof(huge) - 1), EVCAST_E2BIG);
	}
	evcast_esl_parser_free(p);
}

static void test_bad_content_length(void **state)
{
	static const char *bad[] = {"abc", "-1", "12x", "", " ", "1 2", "0x10"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128];
		evcast_event_t *ev;
		evcast_esl_parser_t *p = parser(EVCAST_ESL_REPLIES, 1024, 1024);
		int n = snprintf(text, sizeof(text), "Content-Type: x\nContent-Length: %s\n\n", bad[i]);
		assert_int_equal(evcast_esl_parser_feed(p, text, (size_t)n), EVCAST_EPARSE);
		assert_int_equal(evcast_esl_parser_next(p, &ev), EVCAST_EPARSE);
		evcast_esl_parser_free(p);
	}
	/* spaces around and leading zeros are fine */
	{
		evcast_esl_parser_t *p = parser(EVCAST_ESL_REPLIES, 1024, 1024);
		evcast_event_t *ev = one(p, "Content-Length:  003 \n\nabc");
		assert_body(ev, "abc");
		evcast_event_free(ev);
		evcast_esl_parser_free(p);
	}
}

static void test_invalid_args(void **state)
{
	evcast_esl_parser_t *p = NULL;
	evcast_event_t *ev;
	assert_int_equal(evcast_esl_parser_new(EVCAST_ESL_COMMANDS, 0, 10, &p), EVCAST_EINVAL);
	assert_int_equal(evcast_esl_parser_new((evcast_esl_mode_t)7, 100, 10, &p), EVCAST_EINVAL);
	assert_int_equal(evcast_esl_parser_new(EVCAST_ESL_COMMANDS, 100, 10, NULL), EVCAST_EINVAL);
	assert_null(p);
	p = parser(EVCAST_ESL_COMMANDS, 100, 10);
	assert_int_equal(evcast_esl_parser_feed(p, NULL, 3), EVCAST_EINVAL);
	assert_int_equal(evcast_esl_parser_feed(p, NULL, 0), 0);
	assert_int_equal(evcast_esl_parser_next(p, NULL), EVCAST_EINVAL);
	assert_int_equal(evcast_esl_parser_next(NULL, &ev), EVCAST_EINVAL);
	evcast_esl_parser_free(p);
	evcast_esl_parser_free(NULL);
}

/* Random bytes, biased towards the framing characters, in random chunks: no
 * crash, every message well formed, memory bounded by the limits. */
static void test_garbage(void **state)
{
	static const char alphabet[] = "\n\n\n\r::  Content-Length: 12a\0\xff";
	unsigned seed = (unsigned)time(NULL);
	const char *env = getenv("EVCAST_TEST_SEED");
	if (env)
		seed = (unsigned)strtoul(env, NULL, 10);
	printf("# test_garbage seed %u (EVCAST_TEST_SEED to repeat)\n", seed);
	srand(seed);
	live_blocks = 0;
	for (int round = 0; round < 300; round++) {
		evcast_esl_parser_t *p = parser(round & 1 ? EVCAST_ESL_REPLIES : EVCAST_ESL_COMMANDS, 256, 512);
		int rc = 0;
		for (int chunk = 0; chunk < 40 && rc == 0; chunk++) {
			char buf[200];
			size_t n = (size_t)(rand() % (int)sizeof(buf));
			evcast_event_t *ev;
			for (size_t i = 0; i < n; i++)
				buf[i] = rand() % 3 ? alphabet[rand() % (int)(sizeof(alphabet) - 1)] : (char)rand();
			rc = evcast_esl_parser_feed(p, buf, n);
			if (rc < 0) {
				assert_true(rc == EVCAST_E2BIG || rc == EVCAST_EPARSE);
				break;
			}
			while ((rc = evcast_esl_parser_next(p, &ev)) == 1) {
				size_t blen = 0;
				if (!(round & 1)) /* a command block always has its first line */
					assert_non_null(evcast_event_get_header(ev, "_line"));
				(void)evcast_event_get_body(ev, &blen);
				assert_true(blen <= 512);
				evcast_event_free(ev);
			}
			if (rc < 0)
				assert_true(rc == EVCAST_E2BIG || rc == EVCAST_EPARSE);
		}
		evcast_esl_parser_free(p);
	}
	assert_int_equal(live_blocks, 0);
}

/* A 64 KiB header block fed byte by byte must not be rescanned each time (this
 * would take minutes); and it is accepted at exactly the limit. */
static void test_large_head_linear(void **state)
{
	const size_t max = 65536;
	evcast_esl_parser_t *p = parser(EVCAST_ESL_COMMANDS, max, 16);
	evcast_event_t *ev;
	clock_t t0 = clock();
	for (size_t i = 0; i < max - 2; i++) {
		char c = i % 64 == 63 ? '\n' : (i % 64 == 0 ? 'H' : (i % 64 == 1 ? ':' : 'v'));
		assert_int_equal(evcast_esl_parser_feed(p, &c, 1), 0);
	}
	assert_int_equal(evcast_esl_parser_feed(p, "\n\n", 2), 0);
	assert_int_equal(evcast_esl_parser_next(p, &ev), 1);
	assert_true(evcast_event_header_count(ev) > 1000);
	evcast_event_free(ev);
	assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 5.0);
	evcast_esl_parser_free(p);
}

/* Every allocation failing in turn: ENOMEM (never a crash), nothing leaked,
 * and once memory is back the same input parses. */
static void test_out_of_memory(void **state)
{
	static const char text[] = "sendevent CUSTOM\nEvent-Subclass: a::b\nContent-Length: 4\n\nbody";
	bool finished = false;
	for (long n = 0; n < 1000 && !finished; n++) {
		evcast_esl_parser_t *p = NULL;
		evcast_event_t *ev = NULL;
		int rc;
		live_blocks = 0;
		fail_countdown = n;
		rc = evcast_esl_parser_new(EVCAST_ESL_COMMANDS, 1024, 1024, &p);
		if (rc == 0) {
			rc = evcast_esl_parser_feed(p, text, sizeof(text) - 1);
			if (rc == 0) {
				rc = evcast_esl_parser_next(p, &ev);
				if (rc == EVCAST_ENOMEM) { /* the message stays: retry with memory back */
					fail_countdown = -1;
					rc = evcast_esl_parser_next(p, &ev);
				}
				assert_int_equal(rc, 1);
				assert_header(ev, "Event-Subclass", "a::b");
				assert_body(ev, "body");
				evcast_event_free(ev);
				finished = fail_countdown >= 0;
			} else {
				assert_int_equal(rc, EVCAST_ENOMEM);
			}
			evcast_esl_parser_free(p);
		} else {
			assert_int_equal(rc, EVCAST_ENOMEM);
		}
		fail_countdown = -1;
		assert_int_equal(live_blocks, 0);
	}
	assert_true(finished);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_line),
		cmocka_unit_test(test_sendevent_headers_literal),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_replies_mode),
		cmocka_unit_test(test_pipelined_and_blank_lines),
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_head_limit),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_bad_content_length),
		cmocka_unit_test(test_invalid_args),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_large_head_linear),
		cmocka_unit_test(test_out_of_memory),
	};
	if (evcast_replace_allocator(t_malloc, t_realloc, t_calloc, t_free) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
