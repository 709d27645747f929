/*
 * test_filter_re.c -- unit tests of the bounded filter regexes
 * (src/daemon/filter_re.c, included here: the daemon's files are not in the
 * library).
 *
 * Covers: the expanded-size estimate of plain, grouped, bracketed and
 * repeated patterns; what regcomp would blow up on (runs of '+', nested and
 * large intervals, the fuzzer's `.:+++...` input) refused before regcomp;
 * back-references and over-long patterns refused; ordinary FreeSWITCH filter
 * patterns compiled and matching case-insensitively; a malformed pattern
 * refused with regerror's reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "../../src/daemon/filter_re.c"

static void test_cost_estimate(void **state)
{
	(void)state;
	assert_int_equal(evcd_filter_re_cost(""), 0);
	assert_int_equal(evcd_filter_re_cost("abc"), 3);
	assert_int_equal(evcd_filter_re_cost("^CHANNEL_.*"), 10); /* "*" adds no copy */
	assert_int_equal(evcd_filter_re_cost("a+"), 2);          /* a a* */
	assert_int_equal(evcd_filter_re_cost("a{3}"), 3);
	assert_int_equal(evcd_filter_re_cost("a{2,5}"), 5);
	assert_int_equal(evcd_filter_re_cost("a{2,}"), 3);
	assert_int_equal(evcd_filter_re_cost("(ab){3}"), 9);     /* the group (2 + 1) three times */
	assert_int_equal(evcd_filter_re_cost("[a-z]{4}"), 4);    /* a bracket is one atom */
	assert_int_equal(evcd_filter_re_cost("[]{}]{2}"), 2);    /* ']' and braces inside a bracket */
	assert_int_equal(evcd_filter_re_cost("[[:alpha:]]+"), 2);
	assert_int_equal(evcd_filter_re_cost("\\.{5}"), 5);      /* an escaped atom repeated */
	assert_int_equal(evcd_filter_re_cost("\\{5}"), 3);       /* "\\{" is a literal brace */
	assert_int_equal(evcd_filter_re_cost("a{x}"), 4);        /* not an interval: literals */
	assert_int_equal(evcd_filter_re_cost("a|b"), 3);
}

static void test_explosive_patterns_refused(void **state)
{
	char pat[256], err[192];
	regex_t re;
	(void)state;
	/* each '+' doubles what precedes it in glibc: 2^40 copies */
	memset(pat, '+', sizeof(pat));
	pat[0] = 'a';
	pat[41] = '\0';
	assert_true(evcd_filter_re_cost(pat) == (size_t)-1);
	assert_int_equal(evcd_filter_re_compile(&re, pat, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too complex"));
	/* the fuzzer's input that took 2.5 GB before this check */
	assert_int_equal(evcd_filter_re_compile(&re, "a::.:++++++++++++++++++++++++++++++++++++++++++++b c::d", err,
						sizeof(err)), -1);
	assert_true(evcd_filter_re_cost("a{1000}{1000}") == (size_t)-1);
	/* a repetition of a repetition (the fuzzer's second find: a run of
	 * '+' after a '*' kept regcomp's closure computation busy for 12 s) */
	assert_true(evcd_filter_re_cost("a*+") == (size_t)-1);
	assert_true(evcd_filter_re_cost("a+*") == (size_t)-1);
	assert_true(evcd_filter_re_cost("a??") == (size_t)-1);
	assert_true(evcd_filter_re_cost("a{2}{3}") == (size_t)-1);
	assert_true(evcd_filter_re_cost("a{2}+") == (size_t)-1);
	assert_int_equal(evcd_filter_re_compile(&re, "a::.:++++++\v*++++++++++++:::d", err, sizeof(err)), -1);
	assert_true(evcd_filter_re_cost("((a{20}){20}){20}") == (size_t)-1);
	assert_true(evcd_filter_re_cost("x{99999999999999999999}") == (size_t)-1); /* saturates, no wrap */
	assert_true(evcd_filter_re_cost("(a)\\1") == (size_t)-1);                 /* back-reference */
	assert_int_equal(evcd_filter_re_compile(&re, "(a)\\1", err, sizeof(err)), -1);
	/* just under and just over the bound */
	assert_int_equal(evcd_filter_re_cost("a{256}"), 256);
	assert_true(evcd_filter_re_cost("a{257}") == (size_t)-1);
	assert_true(evcd_filter_re_cost("(((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))") ==
		    (size_t)-1); /* nesting deeper than 32 */
}

/* The worst patterns the bound lets through stay cheap: compiled, then run
 * over a 64 KiB header value (the event socket's header block limit) that
 * never matches. Measured here: all six together 0.2 s (normal and ASan
 * builds); the bound (2 s each) only catches a return of the seconds-long
 * cases the fuzzer found. */
static void test_worst_allowed_patterns_stay_cheap(void **state)
{
	static const char *const pats[] = {"(a*){127}b", "(a?){127}b", "(a|aa){50}b", "a{255}b", "(.*){127}b",
					   "((a|b|c|d|e|f|g|h)*){15}z"};
	static char value[65536];
	char err[192];
	(void)state;
	memset(value, 'a', sizeof(value) - 1);
	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		struct timespec t0, t1;
		regex_t re;
		assert_true(evcd_filter_re_cost(pats[i]) != (size_t)-1);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		assert_int_equal(evcd_filter_re_compile(&re, pats[i], err, sizeof(err)), 0);
		assert_int_not_equal(regexec(&re, value, 0, NULL, 0), 0);
		regfree(&re);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (s > 2.0)
			fail_msg("%s took %.2f s", pats[i], s);
	}
}

static void test_long_pattern_refused(void **state)
{
	char pat[EVCD_FILTER_RE_MAX_LEN + 2], err[192];
	regex_t re;
	(void)state;
	memset(pat, 'a', sizeof(pat) - 1);
	pat[sizeof(pat) - 1] = '\0';
	assert_int_equal(evcd_filter_re_compile(&re, pat, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than 512"));
}

static void test_ordinary_patterns_compile_and_match(void **state)
{
	static const struct {
		const char *pat, *yes, *no;
	} cases[] = {
		{"^CHANNEL_", "channel_create", "XCHANNEL_CREATE"},
		{"^(PRESENCE_IN|PRESENCE_OUT)$", "presence_in", "PRESENCE_PROBE"},
		{"sofia::(register|unregister)", "SOFIA::REGISTER", "sofia::expire"},
		{"^[0-9]{3,4}@example\\.com$", "1001@example.com", "1001@exampleXcom"},
		{"^a+b?$", "aaab", "b"},
	};
	char err[192];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		regex_t re;
		assert_int_equal(evcd_filter_re_compile(&re, cases[i].pat, err, sizeof(err)), 0);
		assert_int_equal(regexec(&re, cases[i].yes, 0, NULL, 0), 0);
		assert_int_not_equal(regexec(&re, cases[i].no, 0, NULL, 0), 0);
		regfree(&re);
	}
}

static void test_malformed_pattern_reason(void **state)
{
	char err[192];
	regex_t re;
	(void)state;
	assert_int_equal(evcd_filter_re_compile(&re, "(unclosed", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid regular expression: "));
	assert_int_equal(evcd_filter_re_compile(&re, "[unclosed", err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cost_estimate),
		cmocka_unit_test(test_explosive_patterns_refused),
		cmocka_unit_test(test_worst_allowed_patterns_stay_cheap),
		cmocka_unit_test(test_long_pattern_refused),
		cmocka_unit_test(test_ordinary_patterns_compile_and_match),
		cmocka_unit_test(test_malformed_pattern_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
