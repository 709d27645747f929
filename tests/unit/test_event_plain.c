/*
 * test_event_plain.c -- the plain text form of events (event_plain.c).
 *
 * Serialization and parsing as spec/legacy-wire.md says, seeded random round
 * trips (EVCAST_SEED=n to replay), the internal prefixed parse of the receive
 * path ("Orig-"), the writer of the event a prefixed wrapper describes, the
 * SIMD parser's 16-byte block boundaries, and the reused receive storage.
 * The counting allocator (test_alloc.h) fails any test that leaks.
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

static unsigned seed;

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

int main(void)
{
	evcast_replace_allocator(t_malloc, t_realloc, t_calloc, t_free);
	const char *s = getenv("EVCAST_SEED");
	seed = s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL);
	printf("test_event_plain: seed %u (EVCAST_SEED=%u to replay)\n", seed, seed);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_serialization, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_plain_parsing, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_plain_round_trip_random, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_prefixed, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_write_unprefixed, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_block_boundaries, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_received_storage, t_alloc_setup, t_alloc_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
