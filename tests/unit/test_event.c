/*
 * test_event.c -- the event model, URL encoding and the JSON/XML forms.
 *
 * URL encoding byte by byte against the spec's classes (written out here
 * independently of event.c's table), the uppercase-%XX exception, duplicates
 * and case-insensitive lookup, del/set, growth, the ESL JSON arrays, the
 * vector JSON, XML escaping, allocation failures, and every input of the
 * event_plain/json fuzz corpora (regress-* are former crashes). The counting
 * allocator (test_alloc.h) fails any test that leaks. The plain form is in
 * test_event_plain.c.
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

#include "test_alloc.h"

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

/* ----------------------------------------------------------------- XML */
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
		n_allocs = 0;
		fail_at = n + 1; /* the (n+1)-th allocation from here fails */
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
		fail_at = 0;
		evcast_event_free(ev);
		evcast_event_free(j);
		assert_int_equal(live, 0);
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
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_url_encode_every_byte, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_url_percent_rules, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_url_encode_truncates_whole_units, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_duplicates_and_lookup, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_named_dup_and_invalid, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_growth_and_aliasing, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_json_arrays, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_vector_json, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_xml, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_allocation_failures, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_fuzz_corpora, t_alloc_setup, t_alloc_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
