/*
 * fuzz_escape.c -- libFuzzer target for evcast_escape_text, the helper every
 * network string passes through before a log line, a terminal or a metrics
 * label (and for the log sink's last guard, evc__escape in sink mode).
 *
 * The first input byte picks the output size (0..255), the rest is the
 * string (cut at its first NUL, as a C string would be). Checked, else abort:
 * the return value is the whole result's length; every result (whole, cut,
 * sink mode) is valid UTF-8 with no C0 control byte and no DEL, and holds none
 * of the code points the helper must escape; a cut result is a prefix of the
 * whole one at a piece boundary, followed by "..." when there is room; the
 * sink mode leaves an escaped result unchanged (idempotent); and the legacy
 * peer-name path (URL-decoded Multicast-Sender) gives a clean name too.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define MAX_IN 4096

static char in[MAX_IN + 1], whole[MAX_IN * 6 + 1], cut[256], sink[MAX_IN * 6 + 1];

/* Valid UTF-8, no C0 byte, no DEL, none of U+0080..U+009F, U+200E/F,
 * U+2028..U+202E, U+2066..U+2069. */
static void check_clean(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if (*p < 0x20 || *p == 0x7f)
			abort();
		if (*p < 0x80) {
			p++;
			continue;
		}
		size_t n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc2 ? 2 : 0;
		if (n == 0 || *p > 0xf4)
			abort();
		uint32_t c = *p & (n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07);
		for (size_t i = 1; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				abort();
			c = (c << 6) | (p[i] & 0x3f);
		}
		if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff))
			abort(); /* overlong, out of range, surrogate */
		if ((c >= 0x80 && c <= 0x9f) || c == 0x200e || c == 0x200f || (c >= 0x2028 && c <= 0x202e) ||
		    (c >= 0x2066 && c <= 0x2069))
			abort();
		p += n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t cap = data[0];
	size_t len = size - 1 > MAX_IN ? MAX_IN : size - 1;
	memcpy(in, data + 1, len);
	in[len] = '\0';

	size_t need = evcast_escape_text(in, whole, sizeof(whole));
	if (need >= sizeof(whole) || strlen(whole) != need)
		abort();
	check_clean(whole);

	memset(cut, 'Z', sizeof(cut));
	if (evcast_escape_text(in, cut, cap) != need)
		abort();
	if (cap == 0) {
		if (cut[0] != 'Z') /* nothing written */
			abort();
	} else {
		size_t k = strlen(cut);
		if (k >= cap)
			abort();
		check_clean(cut);
		if (need < cap) {
			if (strcmp(cut, whole) != 0)
				abort();
		} else if (cap > 4) {
			if (k < 3 || memcmp(cut + k - 3, "...", 3) != 0 || memcmp(cut, whole, k - 3) != 0)
				abort();
		} else if (memcmp(cut, whole, k) != 0) {
			abort();
		}
	}

	/* the sink guard: an escaped result passes unchanged; raw input comes out clean */
	if (evc__escape(whole, sink, sizeof(sink), EVC__ESC_SINK) != need || strcmp(sink, whole) != 0)
		abort();
	evc__escape(in, sink, sizeof(sink), EVC__ESC_SINK);
	for (const unsigned char *p = (const unsigned char *)sink; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			abort();

	/* the legacy path: the input as a Multicast-Sender value, URL-decoded by
	 * the parser, then escaped as the peer line does */
	char text[MAX_IN + 64];
	int n = snprintf(text, sizeof(text), "Event-Name: HEARTBEAT\nMulticast-Sender: %s\n\n", in);
	evcast_event_t *ev = NULL;
	if (n > 0 && (size_t)n < sizeof(text) && evcast_event_from_plain(text, (size_t)n, &ev) == 0) {
		const char *name = evcast_event_get_header(ev, "Multicast-Sender");
		if (name) {
			char line[256];
			evcast_escape_text(name, line, sizeof(line));
			check_clean(line);
		}
	}
	evcast_event_free(ev);
	return 0;
}
