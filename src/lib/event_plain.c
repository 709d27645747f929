/*
 * event_plain.c -- URL encoding and the plain text form of events.
 *
 * Owns FreeSWITCH's switch_url_encode rules (table-driven: uppercase %XX kept,
 * `_undef_` for empty values), plain serialization ("Name: value\n" ...,
 * Content-Length + body) and plain parsing, one pass, 16 bytes at a time
 * (SSE2; -DEVCAST_NO_SIMD builds the scalar twin). No I/O, no logging.
 * Sections: URL encoding, plain serialization, plain parsing.
 */
#include "event_int.h"
#include <string.h>
#if defined(__SSE2__) && !defined(EVCAST_NO_SIMD)
#include <emmintrin.h>
#endif

/* ----------------------------------------------------------- URL encoding */

/* 1: written as %XX (below 0x20, above 0x7E, and \r\n #%&+:;<=>?@[\]^`{|}"). */
static const uint8_t url_unsafe[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1,
	1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0,
	1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* Hex digit value (either case), 255 for anything else. */
static const uint8_t hexval[256] = {
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 255, 255, 255, 255, 255, 255,
	255, 10, 11, 12, 13, 14, 15, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 10, 11, 12, 13, 14, 15, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};

static const char hex_upper[16] = "0123456789ABCDEF";

/* Uppercase hex digit: the only kind that makes a '%' an existing escape. */
static inline bool is_uhex(unsigned char c) { return hexval[c] < 16 && c < 'a'; }

/* True when in[i] (a byte to encode) is instead copied as is. */
static inline bool kept_escape(const unsigned char *in, size_t i, size_t len)
{
	return in[i] == '%' && i + 2 < len && is_uhex(in[i + 1]) && is_uhex(in[i + 2]);
}

static size_t url_encoded_len(const unsigned char *in, size_t len)
{
	size_t n = len;
	for (size_t i = 0; i < len; i++)
		if (url_unsafe[in[i]] && !kept_escape(in, i, len))
			n += 2;
	return n;
}

/* out has room for 3 * len bytes. Returns the bytes written (no NUL). */
static size_t url_encode_raw(const unsigned char *in, size_t len, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = in[i];
		if (!url_unsafe[c] || kept_escape(in, i, len)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex_upper[c >> 4];
			out[o++] = hex_upper[c & 15];
		}
	}
	return o;
}

size_t evcast_url_encode(const char *in, size_t len, char *out, size_t cap)
{
	const unsigned char *u = (const unsigned char *)in;
	size_t need = url_encoded_len(u, len);
	if (!out || cap == 0)
		return need;
	if (need < cap) {
		out[url_encode_raw(u, len, out)] = '\0';
		return need;
	}
	size_t o = 0; /* truncated: whole units only, like snprintf */
	for (size_t i = 0; i < len; i++) {
		bool esc = url_unsafe[u[i]] && !kept_escape(u, i, len);
		if (o + (esc ? 3 : 1) > cap - 1)
			break;
		if (esc) {
			out[o++] = '%';
			out[o++] = hex_upper[u[i] >> 4];
			out[o++] = hex_upper[u[i] & 15];
		} else {
			out[o++] = (char)u[i];
		}
	}
	out[o] = '\0';
	return need;
}

/* Decodes %XX (either case); out may equal in. */
static size_t url_decode_raw(const char *in, size_t len, char *out)
{
	size_t i = 0, o = 0;
	while (i < len) {
		const char *pct = memchr(in + i, '%', len - i);
		size_t run = pct ? (size_t)(pct - (in + i)) : len - i;
		if (run && out + o != in + i)
			memmove(out + o, in + i, run);
		o += run;
		i += run;
		if (!pct)
			break;
		uint8_t hi = i + 2 < len ? hexval[(unsigned char)in[i + 1]] : 255;
		uint8_t lo = hi < 16 ? hexval[(unsigned char)in[i + 2]] : 255;
		if (lo < 16) {
			out[o++] = (char)(hi << 4 | lo);
			i += 3;
		} else {
			out[o++] = '%';
			i++;
		}
	}
	return o;
}

size_t evcast_url_decode(const char *in, size_t len, char *out)
{
	size_t n = url_decode_raw(in, len, out);
	out[n] = '\0';
	return n;
}

/* ---------------------------------------------------- plain serialization */

#define UNDEF "_undef_"
#define CLEN "Content-Length"

/* The body's Content-Length is written from the body; a header of that name
 * is never serialized (it would make the text ambiguous). */
static bool is_clen(const evcast_event_t *ev, const hdr_t *h)
{
	return h->nname == sizeof(CLEN) - 1 && evc__name_eq(ev->s + h->name, CLEN, sizeof(CLEN) - 1);
}

static size_t utoa(size_t v, char *out)
{
	char t[24];
	size_t n = 0;
	do {
		t[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = t[n - 1 - i];
	return n;
}

/* Upper bound of the plain length (values counted at 3 bytes a byte). */
static size_t plain_bound(const evcast_event_t *ev)
{
	size_t n = 1 + sizeof(CLEN) + 24 + ev->nbody;
	for (size_t i = 0; i < ev->n; i++)
		n += ev->h[i].nname + 3 + (ev->h[i].nvalue ? 3 * (size_t)ev->h[i].nvalue : sizeof(UNDEF));
	return n;
}

/* Writes the plain text into buf; returns its length or EVCAST_E2BIG. With a
 * prefix (np > 0): only the headers named prefix + X, written as X (values
 * cut at a NUL), X == drop skipped, an invalid X is EVCAST_EINVAL -- the text
 * of the event those headers describe (evc__event_write_plain_unprefixed). */
static inline __attribute__((always_inline)) long write_sel(const evcast_event_t *ev, const char *pfx, size_t np,
							    const char *drop, size_t nd, char *buf, size_t cap)
{
	size_t o = 0;
	const unsigned char c0 = np ? lc((unsigned char)pfx[0]) : 0; /* the prefix's first byte, both cases */
	const unsigned char c0u = (unsigned char)(c0 - 'a') < 26 ? (unsigned char)(c0 & ~0x20) : c0;
	for (size_t i = 0; i < ev->n; i++) {
		const hdr_t *h = &ev->h[i];
		const char *name = ev->s + h->name;
		size_t nname = h->nname, nvalue = h->nvalue;
		if (np) {
			unsigned char c = (unsigned char)name[0];
			if (nname < np || (c != c0 && c != c0u) || !evc__name_eq(name + 1, pfx + 1, np - 1))
				continue;
			name += np;
			nname -= np;
			if (nname == nd && evc__name_eq(name, drop, nd))
				continue;
			if (!evc__name_ok(name, nname))
				return EVCAST_EINVAL;
			if (nname == sizeof(CLEN) - 1 && evc__name_eq(name, CLEN, sizeof(CLEN) - 1))
				continue;
			const char *z = memchr(ev->s + h->value, '\0', nvalue);
			if (z)
				nvalue = (size_t)(z - (ev->s + h->value));
		} else if (is_clen(ev, h)) {
			continue;
		}
		const unsigned char *v = (const unsigned char *)ev->s + h->value;
		size_t vmax = nvalue ? 3 * nvalue : sizeof(UNDEF) - 1;
		if (cap - o < nname + 3 + vmax) {
			size_t vlen = nvalue ? url_encoded_len(v, nvalue) : sizeof(UNDEF) - 1;
			if (cap - o < nname + 3 + vlen)
				return EVCAST_E2BIG;
		}
		memcpy(buf + o, name, nname);
		o += nname;
		buf[o++] = ':';
		buf[o++] = ' ';
		if (nvalue) {
			o += url_encode_raw(v, nvalue, buf + o);
		} else {
			memcpy(buf + o, UNDEF, sizeof(UNDEF) - 1);
			o += sizeof(UNDEF) - 1;
		}
		buf[o++] = '\n';
	}
	if (ev->nbody) {
		char num[24];
		size_t nn = utoa(ev->nbody, num);
		if (cap - o < sizeof(CLEN) + 1 + nn + 2 || cap - o - (sizeof(CLEN) + 1 + nn + 2) < ev->nbody)
			return EVCAST_E2BIG;
		memcpy(buf + o, CLEN ": ", sizeof(CLEN) + 1);
		o += sizeof(CLEN) + 1;
		memcpy(buf + o, num, nn);
		o += nn;
		buf[o++] = '\n';
		buf[o++] = '\n';
		memcpy(buf + o, ev->body, ev->nbody);
		o += ev->nbody;
	} else {
		if (cap - o < 1)
			return EVCAST_E2BIG;
		buf[o++] = '\n';
	}
	return o > (size_t)INT32_MAX ? EVCAST_E2BIG : (long)o;
}

static long write_plain(const evcast_event_t *ev, char *buf, size_t cap)
{
	return write_sel(ev, NULL, 0, NULL, 0, buf, cap);
}

int evc__event_write_plain_unprefixed(const evcast_event_t *ev, const char *prefix, const char *drop, char *buf,
				      size_t cap)
{
	if (!ev || !prefix || !*prefix || !drop || (!buf && cap))
		return EVCAST_EINVAL;
	return (int)write_sel(ev, prefix, strlen(prefix), drop, strlen(drop), buf, cap);
}

int evcast_event_write_plain(const evcast_event_t *ev, char *buf, size_t cap)
{
	if (!ev || (!buf && cap))
		return EVCAST_EINVAL;
	return (int)write_plain(ev, buf, cap);
}

char *evcast_event_to_plain(const evcast_event_t *ev, size_t *len)
{
	if (!ev)
		return NULL;
	size_t cap = plain_bound(ev);
	char *buf = evc__malloc(cap + 1);
	if (!buf)
		return NULL;
	long n = write_plain(ev, buf, cap);
	if (n < 0) {
		evc__free(buf);
		return NULL;
	}
	buf[n] = '\0';
	if (len)
		*len = (size_t)n;
	return buf;
}

/* ---------------------------------------------------------- plain parsing */

/* Content-Length value: decimal digits only. */
static int parse_clen(const char *p, const char *e, size_t *out)
{
	size_t v = 0;
	if (p == e || e - p > 18)
		return EVCAST_EPARSE;
	for (; p < e; p++) {
		if ((unsigned char)(*p - '0') > 9)
			return EVCAST_EPARSE;
		v = v * 10 + (size_t)(*p - '0');
	}
	*out = v;
	return 0;
}

/* Copies bytes from p to o until the first byte equal to x or y (a sentinel
 * guarantees one), 16 bytes at a time: whole blocks are stored, so up to 15
 * bytes past the stop point are written too (scratch: the caller keeps o at
 * least 17 bytes behind every byte still to be read, so that neither those
 * nor the byte before the stop byte, read for a "\r\n", are overwritten).
 * Returns the number of bytes before the stop byte. */
static inline size_t copy_until(char *o, const char *p, char x, char y)
{
#if defined(__SSE2__) && !defined(EVCAST_NO_SIMD)
	const __m128i vx = _mm_set1_epi8(x), vy = _mm_set1_epi8(y);
	__m128i d = _mm_loadu_si128((const __m128i *)(const void *)p); /* the first block peeled: most stops are in it */
	_mm_storeu_si128((__m128i *)(void *)o, d);
	unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(d, vx), _mm_cmpeq_epi8(d, vy)));
	if (m)
		return (unsigned)__builtin_ctz(m);
	for (size_t k = 16;; k += 16) {
		d = _mm_loadu_si128((const __m128i *)(const void *)(p + k));
		_mm_storeu_si128((__m128i *)(void *)(o + k), d);
		m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(d, vx), _mm_cmpeq_epi8(d, vy)));
		if (m)
			return k + (unsigned)__builtin_ctz(m);
	}
#else
	size_t k = 0;
	for (; p[k] != x && p[k] != y; k++)
		o[k] = p[k];
	return k;
#endif
}

/* The first byte at or after p equal to x or y (a sentinel guarantees one). */
static inline const char *scan2(const char *p, char x, char y)
{
#if defined(__SSE2__) && !defined(EVCAST_NO_SIMD)
	const __m128i vx = _mm_set1_epi8(x), vy = _mm_set1_epi8(y);
	for (;; p += 16) {
		__m128i d = _mm_loadu_si128((const __m128i *)(const void *)p);
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(d, vx), _mm_cmpeq_epi8(d, vy)));
		if (m)
			return p + __builtin_ctz(m);
	}
#else
	while (*p != x && *p != y)
		p++;
	return p;
#endif
}

/* Number of '\n' in [p, p + n). */
static size_t count_nl(const char *p, size_t n)
{
	size_t c = 0;
#if defined(__SSE2__) && !defined(EVCAST_NO_SIMD)
	const __m128i nl = _mm_set1_epi8('\n'), zero = _mm_setzero_si128();
	while (n >= 16) {
		__m128i acc = zero; /* per-byte counts, flushed before they can wrap */
		for (int k = 0; k < 255 && n >= 16; k++, p += 16, n -= 16)
			acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), nl));
		__m128i sum = _mm_sad_epu8(acc, zero);
		c += (size_t)_mm_cvtsi128_si32(sum) + (size_t)_mm_cvtsi128_si32(_mm_srli_si128(sum, 8));
	}
#endif
	for (; n; p++, n--)
		c += *p == '\n';
	return c;
}

/* Appends the headers of plain text to ev (names prefixed with prefix),
 * then sets the body from Content-Length, in one pass. The text is copied
 * once into the arena (staging, behind a '\n' sentinel and 16 bytes of
 * padding) and each header is written, prefix + name + NUL + decoded value +
 * NUL, at the arena's end, ahead of the staged text: the staging starts
 * 17 + np * (the most header lines len bytes can hold) bytes further on, so
 * the output, whole 16-byte blocks included, never reaches a byte still to
 * be read (nor the one before it). Values without '%' are copied as they
 * are. The staging is scratch past ev->ns. direct: the text ends in '\n'
 * and 16 readable bytes follow it (a datagram's MAGIC): then it is read
 * where it lies, no staging (every scan stops at that '\n'; blocks read at
 * most 15 bytes past it). nulat: the offset of text's first NUL (len: none),
 * or SIZE_MAX (searched here). On error ev keeps its old headers. */
static inline __attribute__((always_inline)) int parse_core(evcast_event_t *ev, const char *text, size_t len,
							      const char *prefix, size_t np, size_t nulat, bool direct)
{
	/* header lines: at most one per '\n' and the last; or, cheaper to know,
	 * one per 3 bytes ("x:\n") -- counted exactly when that bound is large */
	size_t maxlines = np && len > 4096 ? count_nl(text, len) + 2 : len / 3 + 2;
	if (np && maxlines > (ARENA_MAX - 64) / np / 4)
		return EVCAST_E2BIG;
	size_t gap = 17 + np * maxlines;
	if (len > ARENA_MAX - 34 - gap)
		return EVCAST_E2BIG;
	int r = evc__event_str_reserve(ev, gap + len + 17);
	if (r != 0)
		return r;
	char *a = ev->s, *o = a + ev->ns;
	const char *p, *end;
	if (direct) { /* read where it lies: it ends in '\n' and 16 readable bytes follow */
		p = text;
		end = p + len;
	} else {
		char *st = o + gap;
		memcpy(st, text, len);
		memset(st + len, 0, 17);
		st[len] = '\n'; /* the sentinel */
		p = st;
		end = st + len;
	}
	const char *nul; /* the first NUL: a body may hold NULs, headers not */
	if (nulat == SIZE_MAX) {
		const char *nulp = memchr(text, '\0', len);
		nul = nulp ? p + (nulp - text) : end + 1;
	} else {
		nul = nulat < len ? p + nulat : end + 1;
	}
	uint64_t pw = 0; /* a short prefix is stored as one 8-byte word */
	if (np <= 8)
		memcpy(&pw, prefix ? prefix : "", np);
	size_t n0 = ev->n, clen = 0;
	hdr_t *h = ev->h + ev->n, *hend = ev->h + ev->cap;
	bool blank = false;
	while (p < end) {
		const char *line = p;
		char *ol = o, *cut = NULL;
		if (np) {
			if (np <= 8)
				memcpy(o, &pw, 8);
			else
				memcpy(o, prefix, np);
			o += np;
		}
		size_t nname = copy_until(o, p, ':', '\n');
		p += nname;
		if (*p == '\n') { /* no ':' on this line */
			if (nname == 0 || (nname == 1 && *line == '\r')) {
				p++; /* empty line: end of the headers */
				blank = true;
				o = ol;
				break;
			}
			r = EVCAST_EPARSE;
			goto fail;
		}
		if (nname == 0) {
			r = EVCAST_EPARSE; /* empty name */
			goto fail;
		}
		char *oname = o - np;
		o += nname;
		*o++ = '\0';
		for (p++; *p == ' '; p++)
			;
		const char *v = p;
		char *ov = o;
		if (nname == sizeof(CLEN) - 1 && (*line | 0x20) == 'c' && evc__name_eq(line, CLEN, nname)) {
			const char *le = scan2(v, '%', '\n');
			if (*le != '\n' || (r = parse_clen(v, le > v && le[-1] == '\r' ? le - 1 : le, &clen)) != 0) {
				r = EVCAST_EPARSE;
				goto fail;
			}
			o = ol;
			p = le + 1;
			continue;
		}
		for (;;) { /* the value, decoded */
			size_t k = copy_until(o, p, '%', '\n');
			o += k;
			p += k;
			if (*p == '\n')
				break;
			uint8_t hi = hexval[(unsigned char)p[1]], lo = hexval[(unsigned char)p[2]];
			if ((hi | lo) < 16) { /* both hex digits (255 otherwise; '\n' is not one) */
				char c = (char)(hi << 4 | lo);
				if (c == '\0' && !cut)
					cut = o; /* values are C strings: it ends at a decoded NUL */
				*o++ = c;
				p += 3;
			} else {
				*o++ = '%';
				p++;
			}
		}
		if (p > v && p[-1] == '\r')
			o--; /* the line ends in "\r\n": that raw '\r' was copied last */
		if (cut)
			o = cut;
		*o = '\0';
		if (h == hend) {
			ev->n = (size_t)(h - ev->h);
			if ((r = evc__event_hdr_grow(ev)) != 0)
				goto fail;
			h = ev->h + ev->n;
			hend = ev->h + ev->cap;
		}
		/* two 8-byte stores (name, nname) and (value, nvalue) */
		uint64_t w0 = (uint64_t)(uint32_t)(oname - a) | (uint64_t)(np + nname) << 32;
		uint64_t w1 = (uint64_t)(uint32_t)(ov - a) | (uint64_t)(o - ov) << 32;
		memcpy((char *)h, &w0, 8);
		memcpy((char *)h + 8, &w1, 8);
		h++;
		o++;
		p++;
	}
	if (p > end)
		p = end; /* the last line ended at the sentinel */
	if (nul < p) {
		r = EVCAST_EPARSE; /* a raw NUL byte among the headers: text, not binary */
		goto fail;
	}
	size_t done = len - (size_t)(end - p); /* bytes of text consumed */
	ev->n = (size_t)(h - ev->h);
	ev->ns = (size_t)(o - a); /* what was written is live: ignored lines and cut values were overwritten */
	const char *rest = text + done, *tend = text + len;
	if (clen) {
		if (!blank || (size_t)(tend - rest) < clen) {
			r = EVCAST_ETRUNC;
			goto fail;
		}
		rest += clen;
	}
	for (const char *t = rest; t < tend; t++) { /* only line ends may follow */
		if (*t != '\n' && *t != '\r') {
			r = EVCAST_EPARSE;
			goto fail;
		}
	}
	if (clen && (r = evcast_event_set_body(ev, rest - clen, clen)) != 0)
		goto fail;
	return 0;
fail:
	/* drop what was added (the arena did not move: ev->ns is still where
	 * this parse began, or past it when only the body failed) */
	ev->n = n0;
	size_t live = 0;
	for (size_t i = 0; i < n0; i++)
		live += ev->h[i].nname + ev->h[i].nvalue + 2;
	ev->dead = ev->ns - live;
	return r;
}

/* parse_core with np a constant where it is 0 (no prefix code at all). */
static int parse_plain(evcast_event_t *ev, const char *text, size_t len, const char *prefix, size_t np, size_t nulat)
{
	return np ? parse_core(ev, text, len, prefix, np, nulat, false) : parse_core(ev, text, len, NULL, 0, nulat, false);
}

/* strlen of a prefix that is a valid header name (or empty), else SIZE_MAX:
 * one pass instead of strlen + evc__name_ok. */
static size_t prefix_len(const char *prefix)
{
	size_t np = 0;
	if (prefix)
		for (char c; (c = prefix[np]) != '\0'; np++)
			if (c == ':' || c == '\n')
				return SIZE_MAX;
	return np;
}

int evc__event_parse_plain_nul(evcast_event_t *ev, const char *text, size_t len, const char *prefix, size_t nul,
			       bool padded)
{
	if (!ev || (!text && len))
		return EVCAST_EINVAL;
	/* the receive path's prefix, known valid (each test stops at a NUL):
	 * parsed with the prefix a constant */
	if (prefix && prefix[0] == 'O' && prefix[1] == 'r' && prefix[2] == 'i' && prefix[3] == 'g' && prefix[4] == '-' &&
	    prefix[5] == '\0') {
		if (len > ARENA_MAX)
			return EVCAST_E2BIG;
		if (padded && len && text[len - 1] == '\n') /* no staging copy */
			return parse_core(ev, text, len, "Orig-", 5, nul, true);
		return parse_core(ev, text, len, "Orig-", 5, nul, false);
	}
	size_t np = prefix_len(prefix);
	if (np == SIZE_MAX)
		return EVCAST_EINVAL;
	if (len > ARENA_MAX)
		return EVCAST_E2BIG;
	return parse_plain(ev, text, len, prefix, np, nul);
}

int evc__event_parse_plain(evcast_event_t *ev, const char *text, size_t len, const char *prefix)
{
	return evc__event_parse_plain_nul(ev, text, len, prefix, SIZE_MAX, false);
}

/* One allocation (event, headers, arena of len + 34: the 17-byte lead of
 * the staging, the text, the sentinel and its padding) holds the whole
 * event but its body. */
int evcast_event_from_plain(const char *text, size_t len, evcast_event_t **out)
{
	if (!out || (!text && len))
		return EVCAST_EINVAL;
	*out = NULL;
	if (len == 0)
		return EVCAST_EEMPTY;
	if (len > ARENA_MAX - 17)
		return EVCAST_E2BIG;
	size_t nh = len / 32 + 8;
	evcast_event_t *ev = evc__event_alloc(nh > 256 ? 256 : nh, len + 34);
	if (!ev)
		return EVCAST_ENOMEM;
	int r = parse_plain(ev, text, len, NULL, 0, SIZE_MAX);
	if (r != 0) {
		evcast_event_free(ev);
		return r;
	}
	*out = ev;
	return 0;
}
