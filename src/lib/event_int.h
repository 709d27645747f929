/*
 * event_int.h -- the event's storage layout, shared by event.c (model,
 * headers, body) and event_plain.c (URL encoding, plain text form). Nothing
 * else may look inside an evcast_event_t.
 */
#ifndef EVCAST_EVENT_INT_H
#define EVCAST_EVENT_INT_H

#include "internal.h"
#include <stdint.h>
#include <string.h>

typedef struct hdr {
	uint32_t name, nname;   /* offset and length in the arena */
	uint32_t value, nvalue; /* NUL-terminated both */
} hdr_t;
_Static_assert(sizeof(hdr_t) == 16, "hdr_t: four packed uint32_t (event.c adds offsets 16 bytes at a time)");

struct evcast_event {
	hdr_t *h;
	size_t n, cap;
	char *s;           /* the arena: "name\0value\0" per header */
	size_t ns, caps;
	size_t dead;       /* arena bytes no header refers to any more */
	char *body;        /* NUL-terminated copy, or NULL */
	size_t nbody;
	bool h_inline, s_inline; /* storage allocated with the event itself */
	/* strings of a template placed by evc__event_new_received_tpl:
	 * generation (0: none), offset and length in the arena */
	uint64_t place_gen;
	uint32_t place_at, place_len;
	/* inline storage follows: hdr_t[cap] then char[caps] */
};

#define ARENA_MAX ((size_t)UINT32_MAX - 1)

static inline unsigned char lc(unsigned char c) { return (unsigned char)(c - 'A') < 26 ? c | 0x20 : c; }

/* Bytes of x (a name word) that are ASCII letters: 0x80 in each such byte. */
static inline uint64_t evc__letters8(uint64_t x)
{
	uint64_t t = (x | 0x2020202020202020ull) & 0x7f7f7f7f7f7f7f7full; /* folded, high bit off */
	uint64_t ge_a = t + 0x1f1f1f1f1f1f1f1full;  /* high bit set: t >= 'a' (no carry out of a byte) */
	uint64_t gt_z = t + 0x0505050505050505ull;  /* high bit set: t > 'z' */
	return ge_a & ~gt_z & ~x & 0x8080808080808080ull;
}

/* 8 bytes equal but for the case of ASCII letters (SWAR). */
static inline bool evc__eq8(uint64_t x, uint64_t y)
{
	uint64_t d = x ^ y;
	return d == 0 || (d & ~(evc__letters8(x) >> 2)) == 0; /* only a letter's case bit differs */
}

/* Case-insensitive (ASCII) equality of n bytes, 8 at a time. */
static inline bool evc__name_eq(const char *a, const char *b, size_t n)
{
	uint64_t x, y;
	if (n >= 8) {
		for (size_t i = 0; i + 8 <= n; i += 8) {
			memcpy(&x, a + i, 8);
			memcpy(&y, b + i, 8);
			if (!evc__eq8(x, y))
				return false;
		}
		memcpy(&x, a + n - 8, 8); /* the last 8 bytes, overlapping */
		memcpy(&y, b + n - 8, 8);
		return evc__eq8(x, y);
	}
	for (size_t i = 0; i < n; i++)
		if (lc((unsigned char)a[i]) != lc((unsigned char)b[i]))
			return false;
	return true;
}

/* Storage helpers (event.c). */
evcast_event_t *evc__event_alloc(size_t nh, size_t nbytes);
int evc__event_hdr_grow(evcast_event_t *ev);
/* Room for need more arena bytes (geometric growth, dead strings dropped). */
int evc__event_str_reserve(evcast_event_t *ev, size_t need);
/* A header name is non-empty and holds no ':', '\n' or NUL. */
bool evc__name_ok(const char *name, size_t nname);

#endif
