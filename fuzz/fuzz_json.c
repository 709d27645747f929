/*
 * fuzz_json.c -- libFuzzer target for evcast_event_from_json and
 * evcast_event_from_vector_json.
 *
 * Whatever parses is written out in every form; the vector JSON of an event
 * must parse back to exactly the same headers and body, and its plain text
 * must parse. Errors must be the documented ones. Violations abort.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static void exercise(evcast_event_t *ev)
{
	char *vj = evcast_event_to_vector_json(ev), *j = evcast_event_to_json(ev), *x = evcast_event_to_xml(ev);
	size_t pl;
	char *p = evcast_event_to_plain(ev, &pl);
	if (!vj || !j || !x || !p)
		abort();
	evcast_event_t *back = NULL, *pb = NULL;
	if (evcast_event_from_vector_json(vj, strlen(vj), &back) != 0)
		abort();
	size_t n = evcast_event_header_count(ev);
	if (evcast_event_header_count(back) != n)
		abort();
	for (size_t i = 0; i < n; i++) {
		const char *n1, *v1, *n2, *v2;
		evcast_event_header_at(ev, i, &n1, &v1);
		evcast_event_header_at(back, i, &n2, &v2);
		if (strcmp(n1, n2) != 0 || strcmp(v1, v2) != 0)
			abort();
	}
	const char *b1 = evcast_event_get_body(ev, NULL), *b2 = evcast_event_get_body(back, NULL);
	if ((b1 == NULL) != (b2 == NULL) || (b1 && strcmp(b1, b2) != 0))
		abort();
	if (evcast_event_from_plain(p, pl, &pb) != 0)
		abort();
	evcast_event_free(pb);
	evcast_event_free(back);
	evcast_free(vj);
	evcast_free(j);
	evcast_free(x);
	evcast_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	evcast_event_t *ev = NULL;
	int r = evcast_event_from_json((const char *)data, size, &ev);
	if (r == 0)
		exercise(ev);
	else if (ev || (r != EVCAST_EPARSE && r != EVCAST_EEMPTY))
		abort();
	evcast_event_free(ev);
	ev = NULL;
	r = evcast_event_from_vector_json((const char *)data, size, &ev);
	if (r == 0)
		exercise(ev);
	else if (ev || (r != EVCAST_EPARSE && r != EVCAST_EEMPTY))
		abort();
	evcast_event_free(ev);
	return 0;
}
