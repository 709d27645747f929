/*
 * fuzz_event_plain.c -- libFuzzer target for evcast_event_from_plain.
 *
 * Whatever parses must survive to_plain -> from_plain: same header names in
 * order, same body, and each value as the spec says it comes back (empty ->
 * "_undef_"; an uppercase %XX sequence, kept by the encoder, decodes; nothing
 * else changes). The JSON, vector JSON and XML forms are exercised on it too;
 * the vector JSON must round-trip exactly. evc__event_parse_plain with a
 * prefix, into an event that has headers already, must agree with
 * evcast_event_from_plain and leave the event unchanged when it fails.
 * Violations abort.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static bool uhex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

/* The value after one plain round trip: only uppercase %XX decodes. */
static bool value_ok(const char *v1, const char *v2)
{
	if (!*v1)
		return strcmp(v2, "_undef_") == 0;
	size_t n = strlen(v1), o = 0;
	for (size_t i = 0; i < n; i++, o++) {
		char want = v1[i];
		if (v1[i] == '%' && i + 2 < n && uhex(v1[i + 1]) && uhex(v1[i + 2])) {
			int hi = v1[i + 1] <= '9' ? v1[i + 1] - '0' : v1[i + 1] - 'A' + 10;
			int lo = v1[i + 2] <= '9' ? v1[i + 2] - '0' : v1[i + 2] - 'A' + 10;
			want = (char)(hi * 16 + lo);
			i += 2;
			if (want == '\0')
				return v2[o] == '\0'; /* a %00 ends the value */
		}
		if (v2[o] != want)
			return false;
	}
	return v2[o] == '\0';
}

static void same_headers_exactly(const evcast_event_t *a, const evcast_event_t *b)
{
	size_t n = evcast_event_header_count(a);
	if (evcast_event_header_count(b) != n)
		abort();
	for (size_t i = 0; i < n; i++) {
		const char *n1, *v1, *n2, *v2;
		evcast_event_header_at(a, i, &n1, &v1);
		evcast_event_header_at(b, i, &n2, &v2);
		if (strcmp(n1, n2) != 0 || strcmp(v1, v2) != 0)
			abort();
	}
}

static void check_prefixed(const uint8_t *data, size_t size, int r, const evcast_event_t *e1)
{
	evcast_event_t *w = evcast_event_new_named("CUSTOM", "multicast::event");
	int r2 = evc__event_parse_plain(w, (const char *)data, size, "Orig-");
	if (r2 != (r == EVCAST_EEMPTY ? 0 : r))
		abort();
	size_t n = r == 0 ? evcast_event_header_count(e1) : 0;
	if (evcast_event_header_count(w) != 2 + n)
		abort();
	for (size_t i = 0; i < n; i++) {
		const char *n1, *v1, *n2, *v2;
		evcast_event_header_at(e1, i, &n1, &v1);
		evcast_event_header_at(w, i + 2, &n2, &v2);
		if (strncmp(n2, "Orig-", 5) != 0 || strcmp(n1, n2 + 5) != 0 || strcmp(v1, v2) != 0)
			abort();
	}
	if (evcast_event_add_header(w, "After", "x") != 0 || strcmp(evcast_event_get_header(w, "after"), "x") != 0)
		abort();
	evcast_event_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	evcast_event_t *e1 = NULL, *e2 = NULL;
	int r = evcast_event_from_plain((const char *)data, size, &e1);
	check_prefixed(data, size, r, e1);
	if (r != 0) {
		if (e1 || (r != EVCAST_EPARSE && r != EVCAST_ETRUNC && r != EVCAST_EEMPTY && r != EVCAST_E2BIG))
			abort();
		return 0;
	}
	size_t len;
	char *t1 = evcast_event_to_plain(e1, &len);
	if (!t1 || strlen(t1) > len || evcast_event_from_plain(t1, len, &e2) != 0)
		abort();
	size_t n = evcast_event_header_count(e1);
	if (evcast_event_header_count(e2) != n)
		abort();
	for (size_t i = 0; i < n; i++) {
		const char *n1, *v1, *n2, *v2;
		evcast_event_header_at(e1, i, &n1, &v1);
		evcast_event_header_at(e2, i, &n2, &v2);
		if (strcmp(n1, n2) != 0 || !value_ok(v1, v2))
			abort();
	}
	size_t l1, l2;
	const char *b1 = evcast_event_get_body(e1, &l1), *b2 = evcast_event_get_body(e2, &l2);
	if (l1 != l2 || (l1 && memcmp(b1, b2, l1) != 0))
		abort();
	/* the other forms */
	char *vj = evcast_event_to_vector_json(e1), *j = evcast_event_to_json(e1), *x = evcast_event_to_xml(e1);
	if (!vj || !j || !x)
		abort();
	evcast_event_t *e3 = NULL, *e4 = NULL;
	if (evcast_event_from_vector_json(vj, strlen(vj), &e3) != 0)
		abort();
	same_headers_exactly(e1, e3);
	r = evcast_event_from_json(j, strlen(j), &e4);
	if (r != 0 && r != EVCAST_EPARSE)
		abort();
	evcast_event_free(e4);
	evcast_event_free(e3);
	evcast_free(vj);
	evcast_free(j);
	evcast_free(x);
	evcast_free(t1);
	evcast_event_free(e2);
	evcast_event_free(e1);
	return 0;
}
