/*
 * test_event.c -- the event model, URL encoding and the plain/JSON/XML forms.
 *
 * URL encoding byte by byte against the spec's classes (written out here
 * independently of event.c's table), the uppercase-%XX exception, plain
 * round trips (seeded: EVCAST_SEED=n to replay), duplicates and case-insensitive
 * lookup, del/set, bodies with colons and newlines, from_plain errors, the
 * ESL JSON arrays, the vector JSON, XML escaping, the internal prefixed
 * parse (the receive path's "Orig-" form), and every input of the
 * event_plain/json fuzz corpora (regress-* are former crashes). A counting
 * allocator fails any test that leaks and injects allocation failures.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <time.h>
#include "internal.h"

/* ------------------------------------------------- counting allocator */

static long live_allocs;
static long fail_countdown = -1; /* fail the Nth allocation from now (0 = next) */

static bool should_fail(void)
{
	if (fail_countdown < 0)
		return false;
	return fail_countdown-- == 0;
}

static void *t_malloc(size_t n)
{
	if (should_fail())
		return NULL;
	void *p = malloc(n);
	if (p)
		live_allocs++;
	return p;
}

static void *t_calloc(size_t c, size_t n)
{
	if (should_fail())
		return NULL;
	void *p = calloc(c, n);
	if (p)
		live_allocs++;
	return p;
}

static void *t_realloc(void *old, size_t n)
{
	if (should_fail())
		return NULL;
	void *p = realloc(old, n);
	if (p && !old)
		live_allocs++;
	return p;
}

static void t_free(void *p)
{
	if (p)
		live_allocs--;
	free(p);
}

static int setup(void **state)
{
	(void)state;
	live_allocs = 0;
	fail_countdown = -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fail_countdown = -1;
	if (live_allocs != 0) {
		fprintf(stderr, "leak: %ld allocation(s) not freed\n", live_allocs);
		return -1;
	}
	return 0;
}

static unsigned seed;

/* -------------------------------------------------------- URL encoding */

/* The spec's classes, written out: %XX for < 0x20, > 0x7E and this set. */
static bool spec_unsafe(unsigned c)
{
	return c < 0x20 || c > 0x7e || strchr("\r\n #%&+:;<=>?@[\\]^`{|}\"", (int)c) != NULL;
}

static void test_url_encode_every_byte(void **state)
{
	(void)state;
	for (unsigned b = 0; b < 256; b++) {
		char in[1] = {(char)b}, out[8], want[8];
		size_t n = evcast_url_encode(in, 1, out, sizeof(out));
		if (spec_unsafe(b))
			snprintf(want, sizeof(want), "%%%02X", b);
		else
			snprintf(want, sizeof(want), "%c", (char)b);
		if (strcmp(out, want) != 0)
			fail_msg("byte 0x%02X: expected \"%s\" got \"%s\"", b, want, out);
		assert_int_equal(n, strlen(want));
		/* and back */
		char dec[8];
		assert_int_equal(evcast_url_decode(out, n, dec), 1);
		assert_int_equal((unsigned char)dec[0], b);
	}
	/* the spec's explicitly safe punctuation and alphanumerics */
	const char *safe = "~!$'()*,-./abcXYZ0189_";
	char out[64];
	assert_int_equal(evcast_url_encode(safe, strlen(safe), out, sizeof(out)), strlen(safe));
	assert_string_equal(out, safe);
}

static void check_enc(const char *in, const char *want)
{
	char out[256];
	size_t n = evcast_url_encode(in, strlen(in), out, sizeof(out));
	if (strcmp(out, want) != 0)
		fail_msg("encode \"%s\": expected \"%s\" got \"%s\"", in, want, out);
	assert_int_equal(n, strlen(want));
}

static void check_dec(const char *in, const char *want)
{
	char out[256];
	size_t n = evcast_url_decode(in, strlen(in), out);
	if (strcmp(out, want) != 0)
		fail_msg("decode \"%s\": expected \"%s\" got \"%s\"", in, want, out);
	assert_int_equal(n, strlen(want));
}

static void test_url_percent_rules(void **state)
{
	(void)state;
	check_enc("50%20off", "50%20off");        /* uppercase %XX kept */
	check_enc("%2A%FF%00", "%2A%FF%00");
	check_enc("%2a", "%252a");                /* lowercase re-encoded */
	check_enc("%a2", "%25a2");
	check_enc("%Ab", "%25Ab");
	check_enc("%", "%25");                    /* at the end */
	check_enc("x%", "x%25");
	check_enc("%A", "%25A");                  /* one digit, then the end */
	check_enc("%G1", "%25G1");
	check_enc("%%41", "%25%41");
	check_enc("50%20off %2a", "50%20off%20%252a"); /* the edge vector */
	check_enc("", "");
	check_enc("a+b c", "a%2Bb%20c");
	check_dec("%41%4a%4A", "AJJ");            /* either case decodes */
	check_dec("%", "%");
	check_dec("a%", "a%");
	check_dec("%4", "%4");
	check_dec("%G1", "%G1");
	check_dec("%%41", "%A");
	check_dec("a+b", "a+b");                  /* no + to space */
	check_dec("%E2%82%AC", "\xe2\x82\xac");
	char out[8];
	assert_int_equal(evcast_url_decode("a%00b", 5, out), 3);
	assert_memory_equal(out, "a\0b", 4);
}

static void test_url_encode_truncates_whole_units(void **state)
{
	(void)state;
	char out[8];
	memset(out, 'Z', sizeof(out));
	/* "a b" needs "a%20b" (5); cap 4 holds "a" and not a split escape */
	assert_int_equal(evcast_url_encode("a b", 3, out, 4), 5);
	assert_string_equal(out, "a");
	assert_int_equal(evcast_url_encode("a b", 3, out, 5), 5);
	assert_string_equal(out, "a%20");
	assert_int_equal(evcast_url_encode("a b", 3, out, 6), 5);
	assert_string_equal(out, "a%20b");
	assert_int_equal(evcast_url_encode("a b", 3, NULL, 0), 5);
}

/* --------------------------------------------------------------- model */

static void test_duplicates_and_lookup(void **state)
{
	(void)state;
	evcast_event_t *ev = evcast_event_new();
	assert_non_null(ev);
	assert_int_equal(evcast_event_add_header(ev, "Foo", "1"), 0);
	assert_int_equal(evcast_event_add_header(ev, "bar", "x"), 0);
	assert_int_equal(evcast_event_add_header(ev, "foo", "2"), 0);
	assert_int_equal(evcast_event_add_header(ev, "FOO", "3"), 0);
	assert_int_equal(evcast_event_header_count(ev), 4);
	assert_string_equal(evcast_event_get_header(ev, "fOo"), "1");
	assert_string_equal(evcast_event_get_header(ev, "BAR"), "x");
	assert_null(evcast_event_get_header(ev, "fo"));
	assert_null(evcast_event_get_header(ev, "fooo"));
	const char *n, *v;
	assert_int_equal(evcast_event_header_at(ev, 2, &n, &v), 0);
	assert_string_equal(n, "foo");
	assert_string_equal(v, "2");
	assert_int_equal(evcast_event_header_at(ev, 4, &n, &v), EVCAST_ENOENT);
	/* set replaces the first match only */
	assert_int_equal(evcast_event_set_header(ev, "FOO", "one"), 0);
	assert_string_equal(evcast_event_get_header(ev, "foo"), "one");
	assert_int_equal(evcast_event_header_at(ev, 0, &n, &v), 0);
	assert_string_equal(n, "Foo"); /* the name keeps its spelling */
	assert_int_equal(evcast_event_header_at(ev, 3, &n, &v), 0);
	assert_string_equal(v, "3");
	/* set appends when absent */
	assert_int_equal(evcast_event_set_header(ev, "New", "n"), 0);
	assert_int_equal(evcast_event_header_count(ev), 5);
	assert_int_equal(evcast_event_header_at(ev, 4, &n, &v), 0);
	assert_string_equal(n, "New");
	/* del removes every match and keeps the order of the rest */
	assert_int_equal(evcast_event_del_header(ev, "foo"), 3);
	assert_int_equal(evcast_event_del_header(ev, "foo"), 0);
	assert_int_equal(evcast_event_header_count(ev), 2);
	assert_int_equal(evcast_event_header_at(ev, 0, &n, &v), 0);
	assert_string_equal(n, "bar");
	assert_int_equal(evcast_event_header_at(ev, 1, &n, &v), 0);
	assert_string_equal(n, "New");
	evcast_event_free(ev);
}

static void test_named_dup_and_invalid(void **state)
{
	(void)state;
	evcast_event_t *ev = evcast_event_new_named("CUSTOM", "sofia::register");
	assert_string_equal(evcast_event_name(ev), "CUSTOM");
	assert_string_equal(evcast_event_subclass(ev), "sofia::register");
	assert_int_equal(evcast_event_add_header(ev, "", "x"), EVCAST_EINVAL);
	assert_int_equal(evcast_event_add_header(ev, "a:b", "x"), EVCAST_EINVAL);
	assert_int_equal(evcast_event_add_header(ev, "a\nb", "x"), EVCAST_EINVAL);
	assert_int_equal(evcast_event_add_header_n(ev, "a\0b", 3, "x", 1), EVCAST_EINVAL);
	assert_int_equal(evcast_event_add_header(ev, "a", NULL), EVCAST_EINVAL);
	assert_int_equal(evcast_event_add_header(NULL, "a", "b"), EVCAST_EINVAL);
	/* add_header_n: lengths, not NULs, decide (a NUL ends a value) */
	assert_int_equal(evcast_event_add_header_n(ev, "keyXX", 3, "val\0ue", 6), 0);
	assert_string_equal(evcast_event_get_header(ev, "key"), "val");
	assert_int_equal(evcast_event_set_body(ev, "b:o\ndy", 6), 0);
	evcast_event_t *d = evcast_event_dup(ev);
	assert_non_null(d);
	evcast_event_free(ev);
	assert_int_equal(evcast_event_header_count(d), 3);
	assert_string_equal(evcast_event_get_header(d, "KEY"), "val");
	size_t bl;
	assert_memory_equal(evcast_event_get_body(d, &bl), "b:o\ndy", 6);
	assert_int_equal(bl, 6);
	assert_int_equal(evcast_event_set_body(d, NULL, 0), 0);
	assert_null(evcast_event_get_body(d, &bl));
	assert_int_equal(bl, 0);
	evcast_event_free(d);
	evcast_event_free(NULL);
	assert_null(evcast_event_dup(NULL));
}

static void test_growth_and_aliasing(void **state)
{
	(void)state;
	evcast_event_t *ev = evcast_event_new();
	char name[32], val[64];
	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "H-%d", i);
		snprintf(val, sizeof(val), "value number %d", i);
		assert_int_equal(evcast_event_add_header(ev, name, val), 0);
	}
	assert_string_equal(evcast_event_get_header(ev, "h-1999"), "value number 1999");
	/* values and names borrowed from the event itself, while it grows */
	for (int i = 0; i < 500; i++) {
		const char *n0, *v0;
		assert_int_equal(evcast_event_header_at(ev, (size_t)i, &n0, &v0), 0);
		assert_int_equal(evcast_event_add_header(ev, n0, v0), 0);
		assert_int_equal(evcast_event_set_header(ev, "H-0", evcast_event_get_header(ev, "H-1")), 0);
	}
	assert_int_equal(evcast_event_header_count(ev), 2500);
	assert_string_equal(evcast_event_get_header(ev, "H-0"), "value number 1");
	const char *n, *v;
	assert_int_equal(evcast_event_header_at(ev, 2499, &n, &v), 0);
	assert_string_equal(n, "H-499");
	assert_string_equal(v, "value number 499");
	/* replacing over and over does not grow without bound (dead bytes are dropped) */
	for (int i = 0; i < 20000; i++)
		assert_int_equal(evcast_event_set_header(ev, "H-5", i % 2 ? "odd" : "even"), 0);
	assert_string_equal(evcast_event_get_header(ev, "H-5"), "odd");
	assert_int_equal(evcast_event_del_header(ev, "H-7"), 2);
	evcast_event_t *d = evcast_event_dup(ev);
	assert_int_equal(evcast_event_header_count(d), 2498);
	assert_string_equal(evcast_event_get_header(d, "h-1998"), "value number 1998");
	evcast_event_free(d);
	evcast_event_free(ev);
}

/* ------------------------------------------------------------- plain */

static evcast_event_t *parse_ok(const char *text)
{
	evcast_event_t *ev = NULL;
	int r = evcast_event_from_plain(text, strlen(text), &ev);
	if (r != 0)
		fail_msg("from_plain(\"%s\"): %s", text, evcast_strerror(r));
	return ev;
}

static void parse_err(const char *text, size_t len, int want)
{
	evcast_event_t *ev = (evcast_event_t *)1;
	int r = evcast_event_from_plain(text, len, &ev);
	if (r != want)
		fail_msg("from_plain(\"%.*s\"): expected %s got %s", (int)len, text, evcast_strerror(want),
			 evcast_strerror(r));
	assert_null(ev);
}

static void test_plain_serialization(void **state)
{
	(void)state;
	evcast_event_t *ev = evcast_event_new_named("CUSTOM", "example::body");
	evcast_event_add_header(ev, "empty", "");
	evcast_event_add_header(ev, "Content-Length", "999"); /* never written: the body says it */
	size_t len;
	char *s = evcast_event_to_plain(ev, &len);
	assert_string_equal(s, "Event-Name: CUSTOM\nEvent-Subclass: example%3A%3Abody\nempty: _undef_\n\n");
	assert_int_equal(len, strlen(s));
	evcast_free(s);
	const char *body = "line one\nkey: value inside the body\nlast line";
	evcast_event_set_body(ev, body, strlen(body));
	s = evcast_event_to_plain(ev, &len);
	assert_string_equal(s, "Event-Name: CUSTOM\nEvent-Subclass: example%3A%3Abody\nempty: _undef_\n"
			       "Content-Length: 45\n\nline one\nkey: value inside the body\nlast line");
	/* write_plain: exact fit works, one byte less is E2BIG */
	char buf[512];
	assert_int_equal(evcast_event_write_plain(ev, buf, len), (int)len);
	assert_memory_equal(buf, s, len);
	assert_int_equal(evcast_event_write_plain(ev, buf, len - 1), EVCAST_E2BIG);
	assert_int_equal(evcast_event_write_plain(ev, buf, 10), EVCAST_E2BIG);
	/* and back: the body with its colons and newlines, no Content-Length header */
	evcast_event_t *p = parse_ok(s);
	assert_int_equal(evcast_event_header_count(p), 3);
	assert_string_equal(evcast_event_get_header(p, "empty"), "_undef_");
	assert_null(evcast_event_get_header(p, "Content-Length"));
	size_t bl;
	const char *b = evcast_event_get_body(p, &bl);
	assert_int_equal(bl, strlen(body));
	assert_memory_equal(b, body, bl);
	evcast_event_free(p);
	evcast_free(s);
	evcast_event_free(ev);
}

static void test_plain_parsing(void **state)
{
	(void)state;
	evcast_event_t *ev = parse_ok("A: 1\r\nB:2\r\nC:    3%20\r\nD: %41%4a\r\nE: _undef_\r\n\r\n");
	assert_int_equal(evcast_event_header_count(ev), 5);
	assert_string_equal(evcast_event_get_header(ev, "b"), "2");
	assert_string_equal(evcast_event_get_header(ev, "c"), "3 ");
	assert_string_equal(evcast_event_get_header(ev, "d"), "AJ");
	assert_string_equal(evcast_event_get_header(ev, "e"), "_undef_");
	evcast_event_free(ev);
	ev = parse_ok("Last: line without newline");
	assert_string_equal(evcast_event_get_header(ev, "last"), "line without newline");
	evcast_event_free(ev);
	ev = parse_ok("Empty:\nA: x%00y\n\n\n\r\n");
	assert_string_equal(evcast_event_get_header(ev, "empty"), "");
	assert_string_equal(evcast_event_get_header(ev, "a"), "x"); /* %00 ends the value */
	evcast_event_free(ev);
	ev = parse_ok("\n"); /* no headers at all */
	assert_int_equal(evcast_event_header_count(ev), 0);
	evcast_event_free(ev);
	ev = parse_ok("content-length: 3\n\nabc");
	assert_int_equal(evcast_event_header_count(ev), 0);
	assert_string_equal(evcast_event_get_body(ev, NULL), "abc");
	evcast_event_free(ev);

	parse_err("", 0, EVCAST_EEMPTY);
	parse_err("novalue\n", 8, EVCAST_EPARSE);
	parse_err("A: 1\nnovalue\n\n", 14, EVCAST_EPARSE);
	parse_err(": x\n", 4, EVCAST_EPARSE);
	parse_err(":", 1, EVCAST_EPARSE);
	parse_err("a\0b: x\n", 7, EVCAST_EPARSE);
	parse_err("A: ,\nCone:\0\0a\x90\0\x03\x06/:t\n\n\n", 23, EVCAST_EPARSE); /* fuzz: raw NUL in a value */
	parse_err("A: 1\nContent-Length: 10\n\nabc", 28, EVCAST_ETRUNC);
	parse_err("A: 1\nContent-Length: 3\n", 23, EVCAST_ETRUNC); /* no blank line, no body */
	parse_err("Content-Length: x\n\n", 19, EVCAST_EPARSE);
	parse_err("Content-Length: -1\n\n", 20, EVCAST_EPARSE);
	parse_err("Content-Length: \n\n", 18, EVCAST_EPARSE);
	parse_err("Content-Length: 99999999999999999999\n\n", 38, EVCAST_EPARSE);
	parse_err("A: 1\n\nB: 2\n", 11, EVCAST_EPARSE);             /* text after the end */
	parse_err("Content-Length: 1\n\nxy", 21, EVCAST_EPARSE);     /* bytes after the body */
}

/* Only uppercase %XX sequences decode: what a value becomes after to_plain +
 * from_plain (written independently of event.c). */
static void decode_upper(const char *in, char *out)
{
	size_t o = 0, n = strlen(in);
	for (size_t i = 0; i < n; i++) {
		const char *hx = "0123456789ABCDEF";
		if (in[i] == '%' && i + 2 < n && in[i + 1] && in[i + 2] && strchr(hx, in[i + 1]) && strchr(hx, in[i + 2])) {
			char t[3] = {in[i + 1], in[i + 2], 0};
			out[o++] = (char)strtol(t, NULL, 16);
			i += 2;
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = '\0';
}

static void test_plain_round_trip_random(void **state)
{
	(void)state;
	srand(seed);
	const char alphabet[] = "aZ09 %:\r\n\t&+?=#~_-.AF2a%%\x7f\x80\xe2\xff";
	for (int iter = 0; iter < 2000; iter++) {
		evcast_event_t *ev = evcast_event_new();
		int nh = rand() % 12;
		char vals[12][48];
		for (int h = 0; h < nh; h++) {
			int vl = rand() % 40;
			for (int k = 0; k < vl; k++)
				vals[h][k] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
			vals[h][vl] = '\0';
			char name[16];
			snprintf(name, sizeof(name), "h%d", rand() % 5);
			assert_int_equal(evcast_event_add_header(ev, name, vals[h]), 0);
		}
		int bl = rand() % 3 ? 0 : rand() % 30;
		char body[32];
		for (int k = 0; k < bl; k++)
			body[k] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
		evcast_event_set_body(ev, body, (size_t)bl);
		size_t len;
		char *s = evcast_event_to_plain(ev, &len);
		evcast_event_t *back = NULL;
		int r = evcast_event_from_plain(s, len, &back);
		if (r != 0)
			fail_msg("seed %u iter %d: %s on \"%s\"", seed, iter, evcast_strerror(r), s);
		assert_int_equal(evcast_event_header_count(back), (size_t)nh);
		for (int h = 0; h < nh; h++) {
			const char *n1, *v1, *n2, *v2;
			char want[48];
			evcast_event_header_at(ev, (size_t)h, &n1, &v1);
			evcast_event_header_at(back, (size_t)h, &n2, &v2);
			assert_string_equal(n1, n2);
			if (!*v1)
				strcpy(want, "_undef_");
			else
				decode_upper(v1, want);
			if (strcmp(want, v2) != 0)
				fail_msg("seed %u iter %d header %d: \"%s\" came back as \"%s\"", seed, iter, h, v1, v2);
		}
		size_t bl2;
		const char *b2 = evcast_event_get_body(back, &bl2);
		assert_int_equal(bl2, (size_t)bl);
		if (bl)
			assert_memory_equal(b2, body, (size_t)bl);
		evcast_free(s);
		evcast_event_free(back);
		evcast_event_free(ev);
	}
}

/* ---------------------------------------------------------------- JSON */

static void test_json_arrays(void **state)
{
	(void)state;
	evcast_event_t *ev = evcast_event_new_named("CUSTOM", NULL);
	evcast_event_add_header(ev, "Tag", "a");
	evcast_event_add_header(ev, "Other", "o\"q");
	evcast_event_add_header(ev, "tag", "b");
	evcast_event_add_header(ev, "TAG", "c");
	evcast_event_set_body(ev, "hi\n", 3);
	char *j = evcast_event_to_json(ev);
	assert_string_equal(j, "{\"Event-Name\":\"CUSTOM\",\"Tag\":[\"a\",\"b\",\"c\"],\"Other\":\"o\\\"q\","
			       "\"Content-Length\":\"3\",\"_body\":\"hi\\n\"}");
	evcast_event_t *back = NULL;
	assert_int_equal(evcast_event_from_json(j, strlen(j), &back), 0);
	assert_int_equal(evcast_event_header_count(back), 5);
	const char *n, *v;
	evcast_event_header_at(back, 2, &n, &v);
	assert_string_equal(n, "Tag");
	assert_string_equal(v, "b");
	assert_string_equal(evcast_event_get_header(back, "other"), "o\"q");
	assert_string_equal(evcast_event_get_body(back, NULL), "hi\n");
	assert_null(evcast_event_get_header(back, "Content-Length"));
	evcast_event_free(back);
	evcast_free(j);
	evcast_event_free(ev);

	const char *in = "{\"n\": 42, \"f\": 1.5, \"t\": true, \"z\": null, \"a\": [\"x\", 7], \"_body\": null} \n";
	assert_int_equal(evcast_event_from_json(in, strlen(in), &back), 0);
	assert_string_equal(evcast_event_get_header(back, "n"), "42");
	assert_string_equal(evcast_event_get_header(back, "f"), "1.5");
	assert_string_equal(evcast_event_get_header(back, "t"), "true");
	assert_null(evcast_event_get_header(back, "z"));
	assert_int_equal(evcast_event_header_count(back), 5);
	assert_null(evcast_event_get_body(back, NULL));
	evcast_event_free(back);

	const char *bad[] = {"[1,2]", "\"str\"", "{\"a\": {\"b\": 1}}", "{\"a\": [[1]]}", "{\"a\": 1} x", "{\"a\"",
			     "{\"x:y\": \"1\"}", "{\"\": \"1\"}", "{\"_body\": 5}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		back = (evcast_event_t *)1;
		int r = evcast_event_from_json(bad[i], strlen(bad[i]), &back);
		if (r != EVCAST_EPARSE)
			fail_msg("from_json(%s): expected EPARSE got %s", bad[i], evcast_strerror(r));
		assert_null(back);
	}
	assert_int_equal(evcast_event_from_json("", 0, &back), EVCAST_EEMPTY);
	/* not NUL-terminated: only len bytes are read */
	assert_int_equal(evcast_event_from_json("{\"a\":\"1\"}GARBAGE", 9, &back), 0);
	assert_string_equal(evcast_event_get_header(back, "a"), "1");
	evcast_event_free(back);
}

static void test_vector_json(void **state)
{
	(void)state;
	evcast_event_t *ev = evcast_event_new();
	evcast_event_add_header(ev, "A", "1");
	evcast_event_add_header(ev, "a", "");
	char *j = evcast_event_to_vector_json(ev);
	assert_string_equal(j, "{\"headers\":[[\"A\",\"1\"],[\"a\",\"\"]],\"body\":null}");
	evcast_free(j);
	evcast_event_set_body(ev, "x: y\n", 5);
	j = evcast_event_to_vector_json(ev);
	assert_string_equal(j, "{\"headers\":[[\"A\",\"1\"],[\"a\",\"\"]],\"body\":\"x: y\\n\"}");
	evcast_event_t *back = NULL;
	assert_int_equal(evcast_event_from_vector_json(j, strlen(j), &back), 0);
	char *j2 = evcast_event_to_vector_json(back);
	assert_string_equal(j, j2);
	evcast_free(j2);
	evcast_free(j);
	evcast_event_free(back);
	evcast_event_free(ev);

	const char *in = "{\"name\":\"x\",\"headers\":[[\"Event-Name\",\"HEARTBEAT\"]],\"packet_len\":3}";
	assert_int_equal(evcast_event_from_vector_json(in, strlen(in), &back), 0); /* other keys ignored */
	assert_string_equal(evcast_event_name(back), "HEARTBEAT");
	assert_null(evcast_event_get_body(back, NULL));
	evcast_event_free(back);

	const char *bad[] = {"{}", "{\"headers\":{}}", "{\"headers\":[[\"a\"]]}", "{\"headers\":[[\"a\",1]]}",
			     "{\"headers\":[[\"a\",\"b\",\"c\"]]}", "{\"headers\":[\"a\"]}", "{\"headers\":[],\"body\":3}",
			     "{\"headers\":[[\"a:b\",\"c\"]]}", "[]"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		back = (evcast_event_t *)1;
		int r = evcast_event_from_vector_json(bad[i], strlen(bad[i]), &back);
		if (r != EVCAST_EPARSE)
			fail_msg("from_vector_json(%s): expected EPARSE got %s", bad[i], evcast_strerror(r));
		assert_null(back);
	}
}

/* ------------------------------------------- internal: prefixed forms */

static void check_prefixed(const evcast_event_t *plain, const evcast_event_t *pre, size_t skip, const char *prefix)
{
	assert_true(evcast_event_header_count(pre) >= skip + evcast_event_header_count(plain));
	for (size_t i = 0; i < evcast_event_header_count(plain); i++) {
		const char *n1, *v1, *n2, *v2;
		char want[512];
		evcast_event_header_at(plain, i, &n1, &v1);
		evcast_event_header_at(pre, skip + i, &n2, &v2);
		snprintf(want, sizeof(want), "%s%s", prefix, n1);
		assert_string_equal(n2, want);
		assert_string_equal(v1, v2);
	}
}

static void test_prefixed(void **state)
{
	(void)state;
	const char *text = "Event-Name: CUSTOM\r\nA:%41%4a\nB:   x%00y\nempty:\nContent-Length: 4\n\nbody";
	evcast_event_t *plain = parse_ok(text);
	evcast_event_t *ev = evcast_event_new_named("CUSTOM", "multicast::event");
	evcast_event_add_header(ev, "Multicast", "yes");
	assert_int_equal(evc__event_parse_plain(ev, text, strlen(text), "Orig-"), 0);
	check_prefixed(plain, ev, 3, "Orig-");
	assert_string_equal(evcast_event_get_header(ev, "orig-a"), "AJ");
	assert_string_equal(evcast_event_get_header(ev, "Multicast"), "yes");
	assert_string_equal(evcast_event_get_body(ev, NULL), "body");
	/* add_prefixed gives the same */
	evcast_event_t *ev2 = evcast_event_new_named("CUSTOM", "multicast::event");
	evcast_event_add_header(ev2, "Multicast", "yes");
	assert_int_equal(evc__event_add_prefixed(ev2, "Orig-", plain), 0);
	check_prefixed(plain, ev2, 3, "Orig-");
	assert_int_equal(evc__event_add_prefixed(ev2, "Or:ig-", plain), EVCAST_EINVAL);
	assert_int_equal(evc__event_add_prefixed(ev2, "Orig-", ev2), EVCAST_EINVAL);
	evcast_event_free(ev2);
	/* an error leaves the event as it was, and usable */
	const char *bad[] = {"A: 1\nB: 2\nnocolon\n", "A: 1\nContent-Length: 9\n\nshort", "A: 1\n\ntrailing"};
	for (size_t i = 0; i < 3; i++) {
		assert_int_not_equal(evc__event_parse_plain(ev, bad[i], strlen(bad[i]), "Orig-"), 0);
		check_prefixed(plain, ev, 3, "Orig-");
		assert_int_not_equal(evc__event_parse_plain(ev, bad[i], strlen(bad[i]), NULL), 0);
		check_prefixed(plain, ev, 3, "Orig-");
		assert_int_equal(evcast_event_header_count(ev), 3 + evcast_event_header_count(plain));
		assert_string_equal(evcast_event_get_body(ev, NULL), "body");
	}
	assert_int_equal(evcast_event_add_header(ev, "After", "error"), 0);
	assert_string_equal(evcast_event_get_header(ev, "after"), "error");
	assert_int_equal(evc__event_parse_plain(ev, "x: 1", 4, "bad:prefix"), EVCAST_EINVAL);
	evcast_event_free(ev);
	evcast_event_free(plain);

	/* many minimal lines (the staging gap is per line), no final newline */
	char *big = malloc(3 * 3000 + 1);
	size_t o = 0;
	for (int i = 0; i < 3000; i++) {
		big[o++] = (char)('a' + i % 26);
		big[o++] = ':';
		big[o++] = i % 7 ? '\n' : '%';
	}
	big[o - 1] = '9';
	plain = NULL;
	assert_int_equal(evcast_event_from_plain(big, o, &plain), 0);
	size_t lines = 1;
	for (size_t k = 0; k < o; k++)
		lines += big[k] == '\n';
	assert_int_equal(evcast_event_header_count(plain), lines);
	ev = evcast_event_new();
	for (size_t k = 0; k < 3; k++) { /* growth across calls, with a long prefix */
		assert_int_equal(evc__event_parse_plain(ev, big, o, "A-much-longer-prefix-than-usual-"), 0);
		check_prefixed(plain, ev, k * lines, "A-much-longer-prefix-than-usual-");
	}
	evcast_event_free(ev);
	evcast_event_free(plain);
	free(big);
}

/* evc__event_write_plain_unprefixed writes the text of the event that a
 * received wrapper's Orig- headers describe, byte for byte what building that
 * event and writing it gives: other headers ignored, the prefix matched in any
 * case, `drop` skipped, values cut at a NUL, Orig-Content-Length replaced by
 * the body's; a bad name is EVCAST_EINVAL, a short buffer EVCAST_E2BIG. */
static void test_write_unprefixed(void **state)
{
	(void)state;
	const char *text = "Event-Name: CUSTOM\nEvent-Subclass: sofia::register\nfrom-user: 1000\n"
			   "contact: %3Csip%3A1000%401.2.3.4%3E\nempty:\nContent-Length: 5\n\nhello";
	evcast_event_t *wrap = evcast_event_new_named("CUSTOM", "multicast::event");
	evcast_event_add_header(wrap, "Multicast", "yes");
	assert_int_equal(evc__event_parse_plain(wrap, text, strlen(text), "Orig-"), 0);
	evcast_event_add_header(wrap, "orig-multicast-sender", "node-b"); /* dropped, any case */
	evcast_event_add_header(wrap, "ORIG-X-Late", "v");                /* prefix in any case */
	evcast_event_add_header_n(wrap, "Orig-Cut", 8, "ab\0cd", 5);       /* cut at the NUL */
	evcast_event_add_header(wrap, "Origin", "not-a-prefixed-one");
	/* the event those headers describe, built, and its text */
	evcast_event_t *want = NULL;
	assert_int_equal(evcast_event_from_plain(text, strlen(text), &want), 0);
	evcast_event_add_header(want, "X-Late", "v");
	evcast_event_add_header(want, "Cut", "ab");
	char a[4096], b[4096];
	int na = evcast_event_write_plain(want, a, sizeof(a));
	assert_true(na > 0);
	int nb = evc__event_write_plain_unprefixed(wrap, "Orig-", "Multicast-Sender", b, sizeof(b));
	assert_int_equal(nb, na);
	assert_memory_equal(a, b, (size_t)na);
	/* every shorter buffer: E2BIG, never a partial success */
	for (int cap = 0; cap < na; cap += 7)
		assert_int_equal(evc__event_write_plain_unprefixed(wrap, "Orig-", "Multicast-Sender", b, (size_t)cap),
				 EVCAST_E2BIG);
	/* an Orig- header whose rest is not a valid name */
	evcast_event_add_header(wrap, "Orig-", "x");
	assert_int_equal(evc__event_write_plain_unprefixed(wrap, "Orig-", "Multicast-Sender", b, sizeof(b)),
			 EVCAST_EINVAL);
	assert_int_equal(evc__event_write_plain_unprefixed(wrap, "", "x", b, sizeof(b)), EVCAST_EINVAL);
	assert_int_equal(evc__event_write_plain_unprefixed(NULL, "Orig-", "x", b, sizeof(b)), EVCAST_EINVAL);
	evcast_event_free(want);
	evcast_event_free(wrap);
}

/* ----------------------------------------------------------------- XML */

/* The parser copies 16 bytes at a time into the arena ahead of the text it
 * reads: a "\r\n" line end, an escape or a ':' at every offset within a
 * block must come out as the plain rules say, with and without a prefix. */
static void test_block_boundaries(void **state)
{
	(void)state;
	char text[512], want[256];
	for (size_t k = 0; k < 70; k++) {
		for (int esc = 0; esc < 3; esc++) {
			size_t o = 0, w = 0;
			o += (size_t)sprintf(text + o, "N:");
			for (size_t i = 0; i < k; i++) {
				if (esc == 1 && i % 5 == 2) {
					o += (size_t)sprintf(text + o, "%%41");
					want[w++] = 'A';
				} else if (esc == 2 && i % 7 == 3) {
					o += (size_t)sprintf(text + o, "%%z"); /* not an escape: kept */
					want[w++] = '%';
					want[w++] = 'z';
				} else {
					text[o++] = (char)('a' + i % 26);
					want[w++] = (char)('a' + i % 26);
				}
			}
			want[w] = '\0';
			o += (size_t)sprintf(text + o, "\r\nx-%zu: v:%%3A\r\n\r\n", k);
			evcast_event_t *ev = NULL;
			assert_int_equal(evcast_event_from_plain(text, o, &ev), 0);
			assert_int_equal(evcast_event_header_count(ev), 2);
			assert_string_equal(evcast_event_get_header(ev, "N"), want);
			const char *name, *value;
			assert_int_equal(evcast_event_header_at(ev, 1, &name, &value), 0);
			assert_true(strncmp(name, "x-", 2) == 0);
			assert_string_equal(value, "v::");
			evcast_event_free(ev);
			ev = evc__event_new_received(o, NULL);
			assert_non_null(ev);
			assert_int_equal(evc__event_parse_plain(ev, text, o, "Orig-"), 0);
			assert_int_equal(evcast_event_header_count(ev), 5);
			assert_string_equal(evcast_event_get_header(ev, "Event-Subclass"), "multicast::event");
			assert_string_equal(evcast_event_get_header(ev, "Orig-N"), want);
			assert_int_equal(evcast_event_header_at(ev, 4, &name, &value), 0);
			assert_true(strncmp(name, "Orig-x-", 7) == 0);
			assert_string_equal(value, "v::");
			/* the text ending without its last line end: a '\r' before the sentinel */
			evcast_event_t *e2 = NULL;
			assert_int_equal(evcast_event_from_plain(text, strcspn(text, "\n") + 0, &e2), 0);
			assert_string_equal(evcast_event_get_header(e2, "N"), want);
			evcast_event_free(e2);
			evcast_event_free(ev);
		}
	}
}

/* The receive path's storage: the wrapper, its reuse, the standard headers'
 * template copy and the in-place numbers. */
static void test_received_storage(void **state)
{
	(void)state;
	evcast_event_t *spare = NULL, *ev = evc__event_new_received(100, &spare);
	assert_non_null(ev);
	assert_int_equal(evcast_event_header_count(ev), 3);
	assert_string_equal(evcast_event_name(ev), "CUSTOM");
	assert_string_equal(evcast_event_get_header(ev, "Multicast"), "yes");
	assert_int_equal(evc__event_parse_plain(ev, "A: 1\n\nbody", 10, "Orig-"), EVCAST_EPARSE);
	const char *withbody = "A: 1\nContent-Length: 2\n\nhi";
	assert_int_equal(evc__event_parse_plain(ev, withbody, strlen(withbody), "Orig-"), 0);
	assert_string_equal(evcast_event_get_header(ev, "Orig-A"), "1");
	evc__event_release(ev, &spare); /* kept, body dropped */
	assert_ptr_equal(spare, ev);
	evcast_event_t *again = evc__event_new_received(100, &spare);
	assert_ptr_equal(again, ev);
	assert_null(spare);
	assert_int_equal(evcast_event_header_count(again), 3);
	assert_null(evcast_event_get_body(again, NULL));
	assert_null(evcast_event_get_header(again, "Orig-A"));
	evcast_event_t *big = evc__event_new_received(3000, &spare); /* nothing kept: a new one */
	evc__event_release(again, &spare);
	assert_ptr_equal(spare, again);
	evc__event_release(big, &spare); /* the slot is taken: freed */
	assert_ptr_equal(spare, again);
	big = evc__event_new_received(3000, &spare); /* too small: freed, a new one */
	assert_null(spare);
	assert_non_null(big);

	evcast_event_t *tpl = evcast_event_new();
	assert_int_equal(evcast_event_add_header(tpl, "T1", "one"), 0);
	assert_int_equal(evcast_event_add_header(tpl, "Num", "00000000000000000000"), 0);
	assert_int_equal(evcast_event_add_header(tpl, "T3", "three"), 0);
	assert_int_equal(evc__event_append_range(big, tpl, 0, 3), 0);
	assert_int_equal(evc__event_append_range(big, tpl, 2, 2), EVCAST_EINVAL);
	assert_int_equal(evc__event_append_range(big, tpl, 2, 1), 0);
	assert_int_equal(evc__event_set_u64_at(big, 4, 0), 0);
	assert_string_equal(evcast_event_get_header(big, "num"), "0");
	assert_int_equal(evc__event_set_u64_at(big, 4, UINT64_MAX), 0);
	assert_string_equal(evcast_event_get_header(big, "Num"), "18446744073709551615");
	assert_int_equal(evc__event_set_u64_at(big, 5, 1245190546126571ull), 0); /* longer than "three": appended */
	assert_string_equal(evcast_event_get_header(big, "T3"), "1245190546126571");
	assert_string_equal(evc__event_get_header_last(big, "T3"), "three");
	assert_int_equal(evc__event_set_u64_at(big, 99, 1), EVCAST_EINVAL);
	size_t len = 0;
	char *plain = evcast_event_to_plain(big, &len);
	assert_string_equal(plain, "Event-Name: CUSTOM\nEvent-Subclass: multicast%3A%3Aevent\nMulticast: yes\nT1: one\n"
				   "Num: 18446744073709551615\nT3: 1245190546126571\nT3: three\n\n");
	evcast_free(plain);
	evcast_event_t *d = evcast_event_dup(big); /* compacts the dead bytes */
	assert_string_equal(evcast_event_get_header(d, "Num"), "18446744073709551615");
	evcast_event_free(d);
	assert_int_equal(evcast_event_del_header(tpl, "T1"), 1); /* not a template any more */
	assert_int_equal(evc__event_append_range(big, tpl, 0, 1), EVCAST_EINVAL);
	evcast_event_free(tpl);
	evcast_event_free(big);
	evcast_event_free(spare);
}

static void test_xml(void **state)
{
	(void)state;
	evcast_event_t *ev = evcast_event_new();
	char *x = evcast_event_to_xml(ev);
	assert_string_equal(x, "<event>\n  <headers></headers>\n</event>\n");
	evcast_free(x);
	evcast_event_add_header(ev, "Event-Name", "CUSTOM");
	evcast_event_add_header(ev, "v", "a<b&c> 'q' %41");
	evcast_event_set_body(ev, "x<y & z>\r\n", 10);
	x = evcast_event_to_xml(ev);
	assert_string_equal(x, "<event>\n"
			       "  <headers>\n"
			       "    <Event-Name>CUSTOM</Event-Name>\n"
			       "    <v>a%3Cb%26c%3E%20'q'%20%41</v>\n"
			       "  </headers>\n"
			       "  <Content-Length>10</Content-Length>\n"
			       "  <body>x&lt;y &amp; z&gt;&#xD;\n"
			       "  </body>\n"
			       "</event>\n");
	evcast_free(x);
	evcast_event_set_body(ev, "plain", 5);
	x = evcast_event_to_xml(ev);
	assert_non_null(strstr(x, "  <body>plain</body>\n</event>\n"));
	evcast_free(x);
	evcast_event_free(ev);
}

/* ----------------------------------------------------- allocation faults */

static void test_allocation_failures(void **state)
{
	(void)state;
	const char *text = "Event-Name: CUSTOM\nA: 1\nB: 2\nContent-Length: 2\n\nhi";
	const char *json = "{\"Event-Name\":\"CUSTOM\",\"A\":[\"1\",\"2\"],\"_body\":\"hi\"}";
	for (long n = 0; n < 40; n++) {
		evcast_event_t *ev = NULL, *j = NULL;
		fail_countdown = n;
		int r = evcast_event_from_plain(text, strlen(text), &ev);
		assert_true(r == 0 || r == EVCAST_ENOMEM);
		if (r == 0) {
			char *s = evcast_event_to_plain(ev, NULL);
			char *js = evcast_event_to_json(ev);
			char *x = evcast_event_to_xml(ev);
			evcast_event_t *d = evcast_event_dup(ev);
			for (int i = 0; i < 40; i++)
				if (evcast_event_add_header(ev, "More", "header value") != 0)
					break;
			evcast_free(s);
			evcast_free(js);
			evcast_free(x);
			evcast_event_free(d);
		}
		r = evcast_event_from_json(json, strlen(json), &j);
		assert_true(r == 0 || r == EVCAST_ENOMEM);
		fail_countdown = -1;
		evcast_event_free(ev);
		evcast_event_free(j);
		assert_int_equal(live_allocs, 0);
	}
}

/* Every seed and regression input of the event_plain and json fuzzers
 * (fuzz/corpus/..., regress-* came from crashes): parsed or rejected cleanly,
 * and what parses survives a plain round trip. */
static void run_corpus(const char *sub, int (*parse)(const char *, size_t, evcast_event_t **))
{
	char dir[512], path[1024];
	snprintf(dir, sizeof(dir), "%s/fuzz/corpus/%s", EVCAST_SOURCE_DIR, sub);
	DIR *d = opendir(dir);
	if (!d)
		fail_msg("no corpus directory %s", dir);
	struct dirent *e;
	unsigned n = 0, ok = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		static char buf[200000];
		size_t len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		evcast_event_t *ev = NULL, *back = NULL;
		int r = parse(buf, len, &ev);
		if (r == 0) {
			size_t pl;
			char *pt = evcast_event_to_plain(ev, &pl);
			assert_int_equal(evcast_event_from_plain(pt, pl, &back), 0);
			assert_int_equal(evcast_event_header_count(back), evcast_event_header_count(ev));
			evcast_free(pt);
			ok++;
		} else {
			assert_null(ev);
			assert_true(r == EVCAST_EPARSE || r == EVCAST_ETRUNC || r == EVCAST_EEMPTY);
		}
		evcast_event_free(back);
		evcast_event_free(ev);
		n++;
	}
	closedir(d);
	print_message("  corpus %s: %u inputs, %u parsed\n", sub, n, ok);
	assert_true(n >= 5 && ok > 0);
}

static void test_fuzz_corpora(void **state)
{
	(void)state;
	run_corpus("event_plain", evcast_event_from_plain);
	run_corpus("json", evcast_event_from_json);
	run_corpus("json", evcast_event_from_vector_json);
}

int main(void)
{
	evcast_replace_allocator(t_malloc, t_realloc, t_calloc, t_free);
	const char *s = getenv("EVCAST_SEED");
	seed = s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL);
	printf("test_event: seed %u (EVCAST_SEED=%u to replay)\n", seed, seed);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_url_encode_every_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_url_percent_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_url_encode_truncates_whole_units, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicates_and_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_named_dup_and_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_growth_and_aliasing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_serialization, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_parsing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_round_trip_random, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_arrays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vector_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefixed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_unprefixed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_boundaries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_received_storage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xml, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allocation_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fuzz_corpora, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
