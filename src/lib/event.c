/*
 * event.c -- the event model: headers and body.
 *
 * Owns evcast_event_t: an ordered header list (duplicates kept, names looked
 * up case-insensitively) and an optional body. Names and values live in one
 * string arena per event (offsets, grown geometrically, compacted on growth);
 * a new or parsed event is a single allocation (plus its body).
 * Nothing here does I/O or logs. Sections: storage, headers and body. URL
 * encoding and the plain text form are in event_plain.c; JSON and XML forms
 * in event_json.c. The storage layout is in event_int.h.
 */
#include "event_int.h"
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__) && !defined(EVCAST_NO_SIMD)
#include <emmintrin.h>
#endif

/* ---------------------------------------------------------------- storage */

evcast_event_t *evc__event_alloc(size_t nh, size_t nbytes)
{
	evcast_event_t *ev = evc__malloc(sizeof(*ev) + nh * sizeof(hdr_t) + nbytes);
	if (!ev)
		return NULL;
	memset(ev, 0, sizeof(*ev));
	ev->h = (hdr_t *)(ev + 1);
	ev->cap = nh;
	ev->h_inline = true;
	ev->s = (char *)(ev->h + nh);
	ev->caps = nbytes;
	ev->s_inline = true;
	return ev;
}

int evc__event_hdr_grow(evcast_event_t *ev)
{
	size_t ncap = ev->cap < 8 ? 16 : ev->cap * 2;
	hdr_t *h;
	if (ev->h_inline) {
		h = evc__malloc(ncap * sizeof(*h));
		if (h && ev->n)
			memcpy(h, ev->h, ev->n * sizeof(*h));
	} else {
		h = evc__realloc(ev->h, ncap * sizeof(*h));
	}
	if (!h)
		return EVCAST_ENOMEM;
	ev->h = h;
	ev->cap = ncap;
	ev->h_inline = false;
	return 0;
}

/* Copies the live strings of ev into dst (compacted), rewriting the offsets. */
static size_t arena_copy(const evcast_event_t *ev, char *dst, hdr_t *h)
{
	if (ev->dead == 0) {
		if (ev->ns)
			memcpy(dst, ev->s, ev->ns);
		if (h != ev->h && ev->n)
			memcpy(h, ev->h, ev->n * sizeof(*h));
		return ev->ns;
	}
	size_t o = 0;
	for (size_t i = 0; i < ev->n; i++) {
		hdr_t x = ev->h[i];
		memcpy(dst + o, ev->s + x.name, x.nname + 1);
		h[i].name = (uint32_t)o;
		h[i].nname = x.nname;
		o += x.nname + 1;
		memcpy(dst + o, ev->s + x.value, x.nvalue + 1);
		h[i].value = (uint32_t)o;
		h[i].nvalue = x.nvalue;
		o += x.nvalue + 1;
	}
	return o;
}

/* Makes room for need more arena bytes: a new buffer of twice what is live
 * plus need (so growth is geometric), dropping the dead strings. */
int evc__event_str_reserve(evcast_event_t *ev, size_t need)
{
	if (ev->caps - ev->ns >= need)
		return 0;
	size_t live = ev->ns - ev->dead;
	if (need > ARENA_MAX - live)
		return EVCAST_E2BIG;
	size_t ncap = 2 * (live + need);
	if (ncap < 512)
		ncap = 512;
	if (ncap > ARENA_MAX)
		ncap = ARENA_MAX;
	char *s = evc__malloc(ncap);
	if (!s)
		return EVCAST_ENOMEM;
	ev->ns = arena_copy(ev, s, ev->h);
	ev->dead = 0;
	if (!ev->s_inline)
		evc__free(ev->s);
	ev->s = s;
	ev->caps = ncap;
	ev->s_inline = false;
	return 0;
}

static bool in_arena(const evcast_event_t *ev, const char *p)
{
	uintptr_t a = (uintptr_t)ev->s, x = (uintptr_t)p;
	return p && x >= a && x < a + ev->caps;
}

/* Appends "p\0" to the arena (room reserved by the caller); returns its offset. */
static uint32_t arena_put(evcast_event_t *ev, const char *p, size_t n)
{
	uint32_t off = (uint32_t)ev->ns;
	if (n)
		memcpy(ev->s + off, p, n);
	ev->s[off + n] = '\0';
	ev->ns += n + 1;
	return off;
}

/* ------------------------------------------------------- headers and body */

/* Index of the first header named name at or after from, or -1. */
static long find_hdr(const evcast_event_t *ev, const char *name, size_t nname, size_t from)
{
	for (size_t i = from; i < ev->n; i++)
		if (ev->h[i].nname == nname && evc__name_eq(ev->s + ev->h[i].name, name, nname))
			return (long)i;
	return -1;
}

/* Nonzero when a byte of w equals the byte repeated in pat (SWAR). */
static inline uint64_t has_byte(uint64_t w, uint64_t pat)
{
	uint64_t x = w ^ pat;
	return (x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull;
}

/* A header name is non-empty and holds no ':', '\n' or NUL (it must survive
 * the plain form, where it is written as is). Eight bytes at a time. */
bool evc__name_ok(const char *name, size_t nname)
{
	if (!name || nname == 0)
		return false;
	if (nname < 8) {
		for (size_t i = 0; i < nname; i++) {
			char c = name[i];
			if (c == ':' || c == '\n' || c == '\0')
				return false;
		}
		return true;
	}
	uint64_t bad = 0, w;
	for (size_t i = 0; i + 8 <= nname; i += 8) {
		memcpy(&w, name + i, 8);
		bad |= has_byte(w, 0) | has_byte(w, 0x3a3a3a3a3a3a3a3aull) | has_byte(w, 0x0a0a0a0a0a0a0a0aull);
	}
	memcpy(&w, name + nname - 8, 8); /* the last 8 bytes, overlapping */
	bad |= has_byte(w, 0) | has_byte(w, 0x3a3a3a3a3a3a3a3aull) | has_byte(w, 0x0a0a0a0a0a0a0a0aull);
	return bad == 0;
}

/* Slow path of add_raw: the arena must grow (and may move under name/value). */
static int add_grow(evcast_event_t *ev, const char **name, size_t nname, const char **value, size_t nvalue,
		    char **tmp)
{
	size_t need = nname + nvalue + 2;
	if (in_arena(ev, *name) || in_arena(ev, *value)) {
		/* the arena moves: copy what points into it first */
		if (!(*tmp = evc__malloc(need)))
			return EVCAST_ENOMEM;
		memcpy(*tmp, *name, nname);
		memcpy(*tmp + nname + 1, *value, nvalue);
		*name = *tmp;
		*value = *tmp + nname + 1;
	}
	return evc__event_str_reserve(ev, need);
}

static int add_raw(evcast_event_t *ev, const char *name, size_t nname, const char *value, size_t nvalue)
{
	if (nname > ARENA_MAX || nvalue > ARENA_MAX)
		return EVCAST_E2BIG;
	if (ev->n == ev->cap && evc__event_hdr_grow(ev) != 0)
		return EVCAST_ENOMEM;
	char *tmp = NULL;
	int r = 0;
	if (ev->caps - ev->ns < nname + nvalue + 2 && (r = add_grow(ev, &name, nname, &value, nvalue, &tmp)) != 0) {
		evc__free(tmp);
		return r;
	}
	hdr_t *h = &ev->h[ev->n++];
	char *d = ev->s + ev->ns;
	h->name = (uint32_t)ev->ns;
	h->nname = (uint32_t)nname;
	memcpy(d, name, nname);
	d[nname] = '\0';
	h->value = (uint32_t)(ev->ns + nname + 1);
	h->nvalue = (uint32_t)nvalue;
	memcpy(d + nname + 1, value, nvalue);
	d[nname + 1 + nvalue] = '\0';
	ev->ns += nname + nvalue + 2;
	if (tmp)
		evc__free(tmp);
	return 0;
}

/* Room for a typical event (~30 headers, ~1.5 KiB of text) in one allocation. */
evcast_event_t *evcast_event_new(void) { return evc__event_alloc(32, 1536); }

evcast_event_t *evcast_event_new_named(const char *name, const char *subclass)
{
	evcast_event_t *ev = evcast_event_new();
	if (!ev)
		return NULL;
	if ((name && evcast_event_add_header(ev, "Event-Name", name) != 0) ||
	    (subclass && evcast_event_add_header(ev, "Event-Subclass", subclass) != 0)) {
		evcast_event_free(ev);
		return NULL;
	}
	return ev;
}

/* The wrapper's headers, as the arena holds them. */
static const char rx_wrap[] = "Event-Name\0CUSTOM\0Event-Subclass\0multicast::event\0Multicast\0yes";
#define RX_WRAP_N 3
static const hdr_t rx_wrap_h[RX_WRAP_N] = {{0, 10, 11, 6}, {18, 14, 33, 16}, {50, 9, 60, 3}};
static int place(evcast_event_t *ev, const evcast_event_t *tpl, uint64_t gen);

/* The wrapper of a received event (CUSTOM multicast::event, Multicast: yes)
 * with room, in the same allocation, for up to len bytes of text parsed
 * with the "Orig-" prefix (evc__event_parse_plain) and the standard headers
 * (larger texts grow the storage as usual); the event kept in *spare is
 * reused when it is large enough. tpl's strings: see internal.h. */
evcast_event_t *evc__event_new_received_tpl(size_t len, evcast_event_t **spare, const evcast_event_t *tpl,
					    uint64_t gen)
{
	size_t t = len < 4096 ? len : 4096;
	/* headers: the wrapper's 3, the 12 standard ones, a v2 receiver's 5, then the text's */
	size_t nh = 24 + t / 20, nbytes = 640 + 17 + 5 * (t / 3 + 2) + t + 17;
	evcast_event_t *ev = spare ? *spare : NULL;
	if (ev) {
		*spare = NULL;
		if (ev->cap < nh || ev->caps < nbytes) {
			evc__free(ev);
			ev = NULL;
		}
	}
	if (!ev && !(ev = evc__event_alloc(nh, nbytes)))
		return NULL;
	memcpy(ev->s, rx_wrap, sizeof(rx_wrap));
	memcpy(ev->h, rx_wrap_h, sizeof(rx_wrap_h));
	ev->n = 3;
	ev->ns = sizeof(rx_wrap);
	ev->dead = 0;
	if (!tpl || place(ev, tpl, gen) != 0)
		ev->place_gen = 0; /* whatever follows may overwrite what was placed */
	return ev;
}

/* tpl's strings behind the wrapper's, where tpl has them: in every reuse of
 * the storage at the same offset, so copied only for a new gen. */
static int place(evcast_event_t *ev, const evcast_event_t *tpl, uint64_t gen)
{
	if (ev->place_gen == gen && gen != 0) {
		ev->ns = ev->place_at + ev->place_len; /* still there from the previous event of this storage */
		return 0;
	}
	ev->place_gen = 0;
	if (gen == 0 || tpl->dead || tpl->n < RX_WRAP_N || tpl->ns < sizeof(rx_wrap) ||
	    memcmp(tpl->s, rx_wrap, sizeof(rx_wrap)) != 0 || memcmp(tpl->h, rx_wrap_h, sizeof(rx_wrap_h)) != 0)
		return EVCAST_EINVAL;
	size_t more = tpl->ns - sizeof(rx_wrap);
	int r = evc__event_str_reserve(ev, more);
	if (r != 0)
		return r;
	memcpy(ev->s + ev->ns, tpl->s + sizeof(rx_wrap), more);
	ev->place_gen = gen;
	ev->place_at = (uint32_t)ev->ns;
	ev->place_len = (uint32_t)more;
	ev->ns += more;
	return 0;
}

int evc__event_append_placed(evcast_event_t *ev, const evcast_event_t *tpl, uint64_t gen)
{
	if (!ev || !tpl || gen == 0 || ev->place_gen != gen || ev->place_at != sizeof(rx_wrap) ||
	    ev->place_len != tpl->ns - sizeof(rx_wrap))
		return EVCAST_ESTATE;
	size_t count = tpl->n - RX_WRAP_N;
	while (ev->cap - ev->n < count)
		if (evc__event_hdr_grow(ev) != 0)
			return EVCAST_ENOMEM;
	memcpy(ev->h + ev->n, tpl->h + RX_WRAP_N, count * sizeof(hdr_t)); /* same offsets as in tpl */
	ev->n += count;
	return 0;
}

evcast_event_t *evc__event_new_received(size_t len, evcast_event_t **spare)
{
	return evc__event_new_received_tpl(len, spare, NULL, 0);
}

void evc__event_release(evcast_event_t *ev, evcast_event_t **spare)
{
	if (ev && spare && !*spare && ev->h_inline && ev->s_inline) {
		evc__free(ev->body);
		ev->body = NULL;
		ev->nbody = 0;
		*spare = ev;
		return;
	}
	evcast_event_free(ev);
}

void evcast_event_free(evcast_event_t *ev)
{
	if (!ev)
		return;
	if (!ev->h_inline)
		evc__free(ev->h);
	if (!ev->s_inline)
		evc__free(ev->s);
	if (ev->body)
		evc__free(ev->body);
	evc__free(ev);
}

evcast_event_t *evcast_event_dup(const evcast_event_t *ev)
{
	if (!ev)
		return NULL;
	evcast_event_t *d = evc__event_alloc(ev->n, ev->ns - ev->dead);
	if (!d)
		return NULL;
	d->ns = arena_copy(ev, d->s, d->h);
	d->n = ev->n;
	if (ev->body && evcast_event_set_body(d, ev->body, ev->nbody) != 0) {
		evcast_event_free(d);
		return NULL;
	}
	return d;
}

int evcast_event_add_header_n(evcast_event_t *ev, const char *name, size_t nname, const char *value,
			      size_t nvalue)
{
	if (!ev || !value || !evc__name_ok(name, nname))
		return EVCAST_EINVAL;
	const char *nul = memchr(value, '\0', nvalue);
	if (nul)
		nvalue = (size_t)(nul - value); /* values are C strings */
	return add_raw(ev, name, nname, value, nvalue);
}

int evcast_event_add_header(evcast_event_t *ev, const char *name, const char *value)
{
	if (!ev || !name || !value)
		return EVCAST_EINVAL;
	size_t nname = strlen(name);
	if (!evc__name_ok(name, nname))
		return EVCAST_EINVAL;
	return add_raw(ev, name, nname, value, strlen(value)); /* strlen: no NUL inside */
}

int evc__event_add_trusted(evcast_event_t *ev, const char *name, size_t nname, const char *value, size_t nvalue)
{
	return add_raw(ev, name, nname, value, nvalue);
}

int evc__event_add_prefixed(evcast_event_t *ev, const char *prefix, const evcast_event_t *src)
{
	if (!ev || !src || ev == src || !prefix)
		return EVCAST_EINVAL;
	size_t np = strlen(prefix), need = 0;
	if (np && !evc__name_ok(prefix, np))
		return EVCAST_EINVAL;
	for (size_t i = 0; i < src->n; i++)
		need += np + src->h[i].nname + src->h[i].nvalue + 2;
	if (need > ARENA_MAX)
		return EVCAST_E2BIG;
	while (ev->cap - ev->n < src->n)
		if (evc__event_hdr_grow(ev) != 0)
			return EVCAST_ENOMEM;
	int r = evc__event_str_reserve(ev, need);
	if (r != 0)
		return r;
	char *base = ev->s, *d = base + ev->ns;
	const char *ss = src->s;
	hdr_t *h = ev->h + ev->n;
	const hdr_t *sh = src->h, *se = src->h + src->n;
	for (; sh < se; sh++, h++) {
		uint32_t nn = sh->nname, nv = sh->nvalue;
		h->name = (uint32_t)(d - base);
		h->nname = (uint32_t)np + nn;
		memcpy(d, prefix, np);
		memcpy(d + np, ss + sh->name, nn + 1);
		d += np + nn + 1;
		h->value = (uint32_t)(d - base);
		h->nvalue = nv;
		memcpy(d, ss + sh->value, nv + 1);
		d += nv + 1;
	}
	ev->n += src->n;
	ev->ns = (size_t)(d - ev->s);
	return 0;
}

int evc__event_append_range(evcast_event_t *ev, const evcast_event_t *src, size_t from, size_t count)
{
	if (!ev || !src || ev == src || from > src->n || count > src->n - from || src->dead)
		return EVCAST_EINVAL;
	if (count == 0)
		return 0;
	const hdr_t *sh = src->h + from;
	size_t lo = sh[0].name, hi = sh[count - 1].value + sh[count - 1].nvalue + 1; /* contiguous: no dead bytes */
	while (ev->cap - ev->n < count)
		if (evc__event_hdr_grow(ev) != 0)
			return EVCAST_ENOMEM;
	if (ev->caps - ev->ns < hi - lo) {
		int r = evc__event_str_reserve(ev, hi - lo);
		if (r != 0)
			return r;
	}
	memcpy(ev->s + ev->ns, src->s + lo, hi - lo);
	uint32_t shift = (uint32_t)(ev->ns - lo); /* mod 2^32: offsets stay below ARENA_MAX */
	hdr_t *h = ev->h + ev->n;
#if defined(__SSE2__) && !defined(EVCAST_NO_SIMD)
	const __m128i add = _mm_set_epi32(0, (int)shift, 0, (int)shift); /* name and value, not the lengths */
	for (size_t i = 0; i < count; i++)
		_mm_storeu_si128((__m128i *)(void *)(h + i),
				 _mm_add_epi32(_mm_loadu_si128((const __m128i *)(const void *)(sh + i)), add));
#else
	for (size_t i = 0; i < count; i++) {
		h[i] = sh[i];
		h[i].name += shift;
		h[i].value += shift;
	}
#endif
	ev->n += count;
	ev->ns += hi - lo;
	return 0;
}

static const char d2[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
			   "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
			   "8081828384858687888990919293949596979899";

/* Writes the decimal digits of v backwards, ending just before e; returns how many. */
static inline size_t put_u64_back(char *e, uint64_t v)
{
	char *p = e;
	for (; v >= 100; v /= 100) /* two digits a step */
		memcpy(p -= 2, d2 + 2 * (v % 100), 2);
	if (v >= 10)
		memcpy(p -= 2, d2 + 2 * v, 2);
	else
		*--p = (char)('0' + v);
	return (size_t)(e - p);
}

/* set_u64_at when the old value is too short for v's digits. */
static __attribute__((noinline)) int set_u64_short(evcast_event_t *ev, size_t i, uint64_t v)
{
	char t[20];
	size_t nd = put_u64_back(t + sizeof(t), v), k = sizeof(t) - nd;
	hdr_t *h = &ev->h[i];
	if (h->nvalue < nd) {
		if (nd + 1 > ev->caps - ev->ns && evc__event_str_reserve(ev, nd + 1) != 0)
			return EVCAST_ENOMEM;
		h = &ev->h[i];
		ev->dead += h->nvalue + 1;
		h->nvalue = (uint32_t)nd;
		h->value = arena_put(ev, t + k, nd);
		return 0;
	}
	/* right-aligned in the old value's bytes, its NUL kept */
	ev->dead += h->nvalue - nd;
	h->value += h->nvalue - (uint32_t)nd;
	h->nvalue = (uint32_t)nd;
	memcpy(ev->s + h->value, t + k, nd);
	return 0;
}

int evc__event_set_u64_at(evcast_event_t *ev, size_t i, uint64_t v)
{
	if (!ev || i >= ev->n)
		return EVCAST_EINVAL;
	hdr_t *h = &ev->h[i];
	if (h->nvalue < 20)
		return set_u64_short(ev, i, v);
	/* room for any uint64_t: the digits written in place, right-aligned, its NUL kept */
	size_t nd = put_u64_back(ev->s + h->value + h->nvalue, v);
	ev->dead += h->nvalue - nd;
	h->value += h->nvalue - (uint32_t)nd;
	h->nvalue = (uint32_t)nd;
	return 0;
}

int evc__event_set_tail_digits(evcast_event_t *ev, size_t i, uint32_t v, size_t width)
{
	if (!ev || i >= ev->n || width > 10 || ev->h[i].nvalue < width)
		return EVCAST_EINVAL;
	char *e = ev->s + ev->h[i].value + ev->h[i].nvalue;
	if (width == 6 && v < 1000000u) { /* microseconds: three pairs */
		uint32_t hi = v / 10000u, lo = v - hi * 10000u, mid = lo / 100u;
		memcpy(e - 6, d2 + 2 * hi, 2);
		memcpy(e - 4, d2 + 2 * mid, 2);
		memcpy(e - 2, d2 + 2 * (lo - mid * 100u), 2);
		return 0;
	}
	for (; width >= 2; width -= 2, v /= 100) /* two digits a step */
		memcpy(e -= 2, d2 + 2 * (v % 100), 2);
	if (width) {
		*--e = (char)('0' + v % 10);
		v /= 10;
	}
	return v ? EVCAST_EINVAL : 0;
}

const char *evc__event_value_if(const evcast_event_t *ev, size_t i, const char *name, size_t nname)
{
	if (!ev || i >= ev->n || ev->h[i].nname != nname || !evc__name_eq(ev->s + ev->h[i].name, name, nname))
		return NULL;
	return ev->s + ev->h[i].value;
}

int evcast_event_set_header(evcast_event_t *ev, const char *name, const char *value)
{
	if (!ev || !name || !value)
		return EVCAST_EINVAL;
	size_t nname = strlen(name), nvalue = strlen(value);
	if (!evc__name_ok(name, nname))
		return EVCAST_EINVAL;
	long i = find_hdr(ev, name, nname, 0);
	if (i < 0)
		return add_raw(ev, name, nname, value, nvalue);
	if (nvalue > ARENA_MAX)
		return EVCAST_E2BIG;
	char *tmp = NULL;
	if (ev->caps - ev->ns < nvalue + 1 && in_arena(ev, value)) {
		if (!(tmp = evc__strndup(value, nvalue)))
			return EVCAST_ENOMEM;
		value = tmp;
	}
	int r = evc__event_str_reserve(ev, nvalue + 1);
	if (r == 0) {
		hdr_t *h = &ev->h[i];
		ev->dead += h->nvalue + 1;
		h->nvalue = (uint32_t)nvalue;
		h->value = arena_put(ev, value, nvalue);
	}
	evc__free(tmp);
	return r;
}

int evcast_event_del_header(evcast_event_t *ev, const char *name)
{
	if (!ev || !name)
		return EVCAST_EINVAL;
	size_t nname = strlen(name), j = 0;
	int removed = 0;
	for (size_t i = 0; i < ev->n; i++) {
		hdr_t *h = &ev->h[i];
		if (h->nname == nname && evc__name_eq(ev->s + h->name, name, nname)) {
			ev->dead += h->nname + h->nvalue + 2;
			removed++;
		} else {
			ev->h[j++] = *h;
		}
	}
	ev->n = j;
	return removed;
}

const char *evcast_event_get_header(const evcast_event_t *ev, const char *name)
{
	if (!ev || !name)
		return NULL;
	long i = find_hdr(ev, name, strlen(name), 0);
	return i < 0 ? NULL : ev->s + ev->h[i].value;
}

const char *evc__event_get_n(const evcast_event_t *ev, const char *name, size_t nname)
{
	long i = find_hdr(ev, name, nname, 0);
	return i < 0 ? NULL : ev->s + ev->h[i].value;
}

const char *evc__event_get_header_last(const evcast_event_t *ev, const char *name)
{
	return evc__event_get_last_n(ev, name, strlen(name));
}

const char *evc__event_get_last_n(const evcast_event_t *ev, const char *name, size_t nname)
{
	for (size_t i = ev->n; i-- > 0;)
		if (ev->h[i].nname == nname && evc__name_eq(ev->s + ev->h[i].name, name, nname))
			return ev->s + ev->h[i].value;
	return NULL;
}

size_t evcast_event_header_count(const evcast_event_t *ev) { return ev ? ev->n : 0; }

int evcast_event_header_at(const evcast_event_t *ev, size_t i, const char **name, const char **value)
{
	if (!ev || i >= ev->n)
		return EVCAST_ENOENT;
	if (name)
		*name = ev->s + ev->h[i].name;
	if (value)
		*value = ev->s + ev->h[i].value;
	return 0;
}

int evcast_event_set_body(evcast_event_t *ev, const char *body, size_t len)
{
	if (!ev)
		return EVCAST_EINVAL;
	char *b = NULL;
	if (body && len) {
		if (len > SIZE_MAX / 2 || !(b = evc__strndup(body, len)))
			return EVCAST_ENOMEM;
	}
	evc__free(ev->body);
	ev->body = b;
	ev->nbody = b ? len : 0;
	return 0;
}

const char *evcast_event_get_body(const evcast_event_t *ev, size_t *len)
{
	if (len)
		*len = ev && ev->body ? ev->nbody : 0;
	return ev ? ev->body : NULL;
}

const char *evcast_event_name(const evcast_event_t *ev) { return evcast_event_get_header(ev, "Event-Name"); }
const char *evcast_event_subclass(const evcast_event_t *ev) { return evcast_event_get_header(ev, "Event-Subclass"); }
