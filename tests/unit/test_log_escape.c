/*
 * test_log_escape.c -- evcast_escape_text, the one helper every text sink
 * (log line, `evcast peers` text, `evcast top`, metrics labels) passes
 * network strings through: control bytes, backslash, bytes that are not valid
 * UTF-8 and the invisible reordering code points are escaped, printable text
 * is kept; a result cut short ends at a whole escape with "..."; the log's
 * last guard (evc__vlog, sink mode) turns a forged line into one line.
 * The random test prints its seed; EVCAST_TEST_SEED=N repeats a run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "internal.h"

/* escape s into a fresh buffer of cap bytes; the return value is checked
 * against the length of the whole result */
static const char *esc(const char *s)
{
	static char out[1024];
	size_t need = evcast_escape_text(s, out, sizeof(out));
	assert_int_equal(need, strlen(out));
	return out;
}

static void test_printable_text_is_kept(void **state)
{
	(void)state;
	assert_string_equal(esc("fs-node-01.example.com"), "fs-node-01.example.com");
	assert_string_equal(esc(""), "");
	assert_string_equal(esc("a b ~!@#$%^&*()_+{}|:\"<>?`-=[];',./"), "a b ~!@#$%^&*()_+{}|:\"<>?`-=[];',./");
	/* valid UTF-8 of 2, 3 and 4 bytes is text, kept as it is */
	assert_string_equal(esc("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x93\x9e"),
			    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x93\x9e");
	assert_string_equal(esc(NULL), "(null)");
}

static void test_control_bytes_and_backslash(void **state)
{
	(void)state;
	assert_string_equal(esc("a\nb"), "a\\nb");
	assert_string_equal(esc("a\rb\tc"), "a\\rb\\tc");
	assert_string_equal(esc("back\\slash"), "back\\\\slash");
	assert_string_equal(esc("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
	assert_string_equal(esc("\x01\x07\x08\x7f"), "\\x01\\x07\\x08\\x7f");
	/* the forged line (a Multicast-Sender of "evil%0A... [err] ...") */
	const char *forged = "evil\n2026-12-07 10:00:00.000 [err] FORGED";
	assert_string_equal(esc(forged), "evil\\n2026-12-07 10:00:00.000 [err] FORGED");
	assert_null(strchr(esc(forged), '\n'));
	/* escaping is unambiguous: a literal "\n" in a name is not a newline */
	assert_string_equal(esc("a\\nb"), "a\\\\nb");
}

static void test_invalid_utf8_and_reordering_code_points(void **state)
{
	(void)state;
	assert_string_equal(esc("\x80"), "\\x80");                    /* lone continuation */
	assert_string_equal(esc("\xc0\xaf"), "\\xc0\\xaf");           /* overlong '/' */
	assert_string_equal(esc("\xed\xa0\x80"), "\\xed\\xa0\\x80");  /* a surrogate */
	assert_string_equal(esc("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80"); /* > U+10FFFF */
	assert_string_equal(esc("ok\xe2\x82"), "ok\\xe2\\x82");       /* cut at the end */
	assert_string_equal(esc("\xe2\x82x"), "\\xe2\\x82x");         /* cut mid-string */
	assert_string_equal(esc("\xff\xfe"), "\\xff\\xfe");
	/* valid UTF-8, yet escaped: C1 CSI, RLO, line separator, an isolate, RLM */
	assert_string_equal(esc("\xc2\x9b" "31m"), "\\u009b31m");
	assert_string_equal(esc("abc\xe2\x80\xae" "fed"), "abc\\u202efed");
	assert_string_equal(esc("\xe2\x80\xa8"), "\\u2028");
	assert_string_equal(esc("\xe2\x81\xa6"), "\\u2066");
	assert_string_equal(esc("\xe2\x80\x8f"), "\\u200f");
	/* neighbours of those ranges stay text */
	assert_string_equal(esc("\xc2\xa0"), "\xc2\xa0");             /* U+00A0 */
	assert_string_equal(esc("\xe2\x80\x94"), "\xe2\x80\x94");     /* U+2014 em dash */
}

static void test_cut_short_at_a_whole_escape(void **state)
{
	(void)state;
	char out[16];
	/* 10 newlines need 20 bytes: 16 holds 12 of escapes (6 whole) + "..." + NUL */
	size_t need = evcast_escape_text("\n\n\n\n\n\n\n\n\n\n", out, sizeof(out));
	assert_int_equal(need, 20);
	assert_string_equal(out, "\\n\\n\\n\\n\\n\\n...");
	/* an escape is never split: "\x1b" needs 4 where 0 are left */
	memset(out, 'Z', sizeof(out));
	need = evcast_escape_text("abcdefghij\x1bk", out, 14);
	assert_int_equal(need, 15);
	assert_string_equal(out, "abcdefghij...");
	/* a multi-byte character is never split either */
	need = evcast_escape_text("abcdefgh\xe6\x97\xa5\xe6\x9c\xac", out, 12);
	assert_int_equal(need, 14);
	assert_string_equal(out, "abcdefgh...");
	/* exactly fitting: no "..." */
	need = evcast_escape_text("abc", out, 4);
	assert_int_equal(need, 3);
	assert_string_equal(out, "abc");
	/* tiny buffers: cut without room for "...", still terminated */
	need = evcast_escape_text("abcdef", out, 3);
	assert_int_equal(need, 6);
	assert_string_equal(out, "ab");
	need = evcast_escape_text("\n", out, 2);
	assert_int_equal(need, 2);
	assert_string_equal(out, "");
	need = evcast_escape_text("abc", out, 1);
	assert_string_equal(out, "");
	out[0] = 'Z';
	need = evcast_escape_text("abc", out, 0); /* nothing written */
	assert_int_equal(need, 3);
	assert_int_equal(out[0], 'Z');
}

/* Sink mode (the log's last guard): backslash and tab kept, so a string
 * already escaped at its boundary passes unchanged; the rest escaped. */
static void test_sink_mode(void **state)
{
	(void)state;
	char out[256], twice[256];
	evc__escape("a\\b\tc\nd\x1b", out, sizeof(out), EVC__ESC_SINK);
	assert_string_equal(out, "a\\b\tc\\nd\\x1b");
	const char *names[] = {"evil\n[err] x", "\x1b]0;title\x07", "tab\there", "\xc2\x9b\xff", "plain"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		evcast_escape_text(names[i], out, sizeof(out));
		evc__escape(out, twice, sizeof(twice), EVC__ESC_SINK);
		assert_string_equal(out, twice);
	}
}

typedef struct captured {
	int n;
	char msg[1200];
} captured_t;

static void capture(void *ud, int level, const char *msg)
{
	captured_t *c = ud;
	(void)level;
	c->n++;
	snprintf(c->msg, sizeof(c->msg), "%s", msg);
}

/* A network string that reached a log format unescaped still gives one line
 * with no control byte: evc__vlog's guard. */
static void test_log_guard(void **state)
{
	(void)state;
	captured_t c = {0};
	evc__logger_t lg = {capture, &c, EVCAST_LOG_DEBUG};
	evc__log(&lg, EVCAST_LOG_NOTICE, "peer %s is UP", "x\n2026-12-07 00:00:00.000 [err] FORGED\x1b[2J");
	assert_int_equal(c.n, 1);
	assert_string_equal(c.msg, "peer x\\n2026-12-07 00:00:00.000 [err] FORGED\\x1b[2J is UP");
	evc__log(&lg, EVCAST_LOG_NOTICE, "plain %d", 42); /* the common case, untouched */
	assert_string_equal(c.msg, "plain 42");
}

/* True when s is valid UTF-8 with no C0 control byte and no DEL. */
static bool clean_text(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if (*p < 0x20 || *p == 0x7f)
			return false;
		if (*p < 0x80) {
			p++;
			continue;
		}
		size_t n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc2 ? 2 : 0;
		if (n == 0)
			return false;
		for (size_t i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return false;
		p += n;
	}
	return true;
}

/* Random bytes: the result is always clean text, its length is what the
 * return value said, and a cut result is a prefix of the whole one. */
static void test_random_bytes_give_clean_text(void **state)
{
	(void)state;
	const char *env = getenv("EVCAST_TEST_SEED");
	unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
	char in[64], whole[64 * 6 + 1], cut[40];
	printf("test_random_bytes_give_clean_text: seed %u (EVCAST_TEST_SEED=%u repeats it)\n", seed, seed);
	srand(seed);
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(rand() % 63);
		for (size_t i = 0; i < len; i++) {
			int r = rand() % 8; /* bias toward the interesting bytes */
			in[i] = (char)(r == 0 ? rand() % 0x20 : r == 1 ? 0x80 + rand() % 0x80 : r == 2 ? '\\' : 1 + rand() % 255);
		}
		in[len] = '\0';
		size_t need = evcast_escape_text(in, whole, sizeof(whole));
		assert_true(need < sizeof(whole));
		assert_int_equal(strlen(whole), need);
		assert_true(clean_text(whole));
		size_t got = evcast_escape_text(in, cut, sizeof(cut));
		assert_int_equal(got, need);
		assert_true(clean_text(cut));
		if (need < sizeof(cut)) {
			assert_string_equal(cut, whole);
		} else {
			size_t k = strlen(cut);
			assert_true(k >= 3 && k < sizeof(cut));
			assert_string_equal(cut + k - 3, "...");
			assert_memory_equal(cut, whole, k - 3);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_printable_text_is_kept),
		cmocka_unit_test(test_control_bytes_and_backslash),
		cmocka_unit_test(test_invalid_utf8_and_reordering_code_points),
		cmocka_unit_test(test_cut_short_at_a_whole_escape),
		cmocka_unit_test(test_sink_mode),
		cmocka_unit_test(test_log_guard),
		cmocka_unit_test(test_random_bytes_give_clean_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
