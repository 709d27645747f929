/*
 * fuzz_esl.c -- libFuzzer target for the event-socket framing parser (esl.c).
 *
 * The first input byte picks the mode (commands/replies) and how the rest is
 * cut into feeds (whole, fixed chunks, or chunk sizes drawn from the input), so
 * split points are explored too. Small limits make the E2BIG paths reachable.
 * Every message that comes out is checked against the limits and freed; any
 * crash, leak or sanitizer report is a bug (add the input to tests/unit/test_esl.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evcast/evcast.h"

#define MAX_HEAD 4096
#define MAX_BODY 8192

static void drain(evcast_esl_parser_t *p, evcast_esl_mode_t mode)
{
	evcast_event_t *ev;
	while (evcast_esl_parser_next(p, &ev) == 1) {
		size_t blen = 0, n = evcast_event_header_count(ev);
		const char *body = evcast_event_get_body(ev, &blen);
		if (blen > MAX_BODY || (blen && !body))
			abort();
		if (mode == EVCAST_ESL_COMMANDS && !evcast_event_get_header(ev, "_line"))
			abort();
		for (size_t i = 0; i < n; i++) {
			const char *name, *value;
			if (evcast_event_header_at(ev, i, &name, &value) != 0 || !name || !value)
				abort();
			if (strchr(value, '\n'))
				abort(); /* a value never spans lines */
		}
		evcast_event_free(ev);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	evcast_esl_parser_t *p;
	evcast_esl_mode_t mode;
	unsigned split;
	size_t off = 0;
	if (size < 1)
		return 0;
	mode = data[0] & 1 ? EVCAST_ESL_REPLIES : EVCAST_ESL_COMMANDS;
	split = (data[0] >> 1) & 3;
	data++;
	size--;
	if (evcast_esl_parser_new(mode, MAX_HEAD, MAX_BODY, &p) != 0)
		return 0;
	while (off < size) {
		size_t n;
		switch (split) {
		case 0: n = size - off; break;
		case 1: n = 1; break;
		case 2: n = 7; break;
		default: n = 1 + data[off] % 64; break;
		}
		if (n > size - off)
			n = size - off;
		if (evcast_esl_parser_feed(p, (const char *)data + off, n) < 0)
			break;
		off += n;
		drain(p, mode);
	}
	drain(p, mode);
	evcast_esl_parser_free(p);
	return 0;
}
