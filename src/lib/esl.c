/*
 * esl.c -- incremental, bounded framing parser for event-socket (ESL) messages.
 *
 * Owns evcast_esl_parser_*: bytes are appended as they arrive (copied), and each
 * complete message -- a block of "Name: value" lines ended by an empty line, then
 * Content-Length bytes of body -- comes out as an evcast event (values literal,
 * never url-decoded; the first line of a command kept as "_line"). Lines end in
 * \n or \r\n; blank lines between messages are skipped. Limits are checked as
 * bytes arrive, so a huge line or body is refused before it is buffered whole.
 * Must not: crash or loop on any input, rescan a growing header block (the scan
 * position is kept), or log. Sections: buffer, scanning, message building, API.
 */
#include "internal.h"
#include <string.h>
#include <strings.h>

/* Bytes a caller may feed beyond one maximal message before draining with
 * evcast_esl_parser_next (a read's worth of pipelined commands). */
#define ESL_FEED_SLACK (256u * 1024u)

struct evcast_esl_parser {
	evcast_esl_mode_t mode;
	size_t max_head, max_body;
	char *buf;      /* buffered input: [off, len) not yet consumed */
	size_t off, len, cap;
	/* scanning of the message at off */
	size_t scan;    /* next byte to look at, relative to off */
	bool nl;        /* the bytes just before scan end a line (only \r since) */
	bool head_done; /* the header block is complete */
	size_t head_len; /* bytes of the block including its terminating blank line */
	size_t body_len; /* Content-Length of the current message */
	int err;        /* sticky error: once set, every call returns it */
};

/* ------------------------------------------------------------ buffer */

static void compact(evcast_esl_parser_t *p)
{
	if (p->off == 0)
		return;
	if (p->off < p->len)
		memmove(p->buf, p->buf + p->off, p->len - p->off);
	p->len -= p->off;
	p->off = 0;
}

static int reserve(evcast_esl_parser_t *p, size_t extra)
{
	size_t need, ncap;
	char *nbuf;
	if (p->cap - p->len >= extra)
		return 0;
	compact(p);
	need = p->len + extra;
	if (need <= p->cap)
		return 0;
	ncap = p->cap ? p->cap : 1024;
	while (ncap < need)
		ncap *= 2;
	nbuf = evc__realloc(p->buf, ncap);
	if (!nbuf)
		return EVCAST_ENOMEM;
	p->buf = nbuf;
	p->cap = ncap;
	return 0;
}

/* ---------------------------------------------------------- scanning */

/* Parses a Content-Length value: decimal digits only, optional spaces around. */
static int parse_length(const char *s, size_t n, size_t max, size_t *out)
{
	size_t v = 0, i = 0, digits = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
		size_t d = (size_t)(s[i] - '0');
		if (v > max / 10)
			return EVCAST_E2BIG; /* larger than max: no need to know by how much */
		v *= 10;
		if (d > max - v)
			return EVCAST_E2BIG;
		v += d;
	}
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
		i++;
	if (!digits || i != n)
		return EVCAST_EPARSE;
	*out = v;
	return 0;
}

/* Splits the line [s, s+n) (no \n, trailing \r already removed) into a header.
 * Returns false for a line that is not "Name: value". */
static bool split_header(const char *s, size_t n, size_t *nname, const char **value, size_t *nvalue)
{
	const char *colon = memchr(s, ':', n);
	size_t k;
	if (!colon || colon == s)
		return false;
	k = (size_t)(colon - s);
	while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == '\t'))
		k--;
	if (k == 0 || memchr(s, '\0', k))
		return false; /* a name with a NUL byte cannot be a header name */
	*nname = k;
	*value = colon + 1;
	while (*value < s + n && (**value == ' ' || **value == '\t'))
		(*value)++;
	*nvalue = (size_t)(s + n - *value);
	return true;
}

/* Length of the line starting at s (up to end), without its \n and trailing \r. */
static size_t line_len(const char *s, const char *end, const char **next)
{
	const char *nlp = memchr(s, '\n', (size_t)(end - s));
	const char *e = nlp ? nlp : end;
	*next = nlp ? nlp + 1 : end;
	while (e > s && e[-1] == '\r')
		e--;
	return (size_t)(e - s);
}

/* The block is complete: find its Content-Length. */
static int finish_head(evcast_esl_parser_t *p)
{
	const char *s = p->buf + p->off, *end = s + p->head_len, *next;
	bool first = true;
	p->body_len = 0;
	for (; s < end; s = next, first = false) {
		size_t n = line_len(s, end, &next), nname, nvalue;
		const char *value;
		if (n == 0)
			break;
		if (first && p->mode == EVCAST_ESL_COMMANDS)
			continue;
		if (!split_header(s, n, &nname, &value, &nvalue))
			continue;
		if (nname == 14 && strncasecmp(s, "Content-Length", 14) == 0) {
			int rc = parse_length(value, nvalue, p->max_body, &p->body_len);
			if (rc < 0)
				return rc;
		}
	}
	p->head_done = true;
	return 0;
}

/* Advances the scan of the message at off. Returns 1 when it is complete,
 * 0 when more input is needed, negative on an error (made sticky). */
static int advance(evcast_esl_parser_t *p)
{
	if (p->err)
		return p->err;
	if (!p->head_done) {
		if (p->off == p->len)
			return 0; /* nothing buffered (buf may still be NULL: no pointer arithmetic on it) */
		const char *s = p->buf + p->off;
		size_t avail = p->len - p->off;
		/* blank lines between messages are skipped (and consumed) */
		if (p->scan == 0) {
			while (avail > 0 && (*s == '\n' || *s == '\r')) {
				s++;
				p->off++;
				avail--;
			}
		}
		/* The head ends at a blank line: '\n', any '\r's, '\n'. Line by
		 * line with memchr (bounded by max_head + 1), then the bytes after
		 * each '\n' one at a time. */
		size_t lim = avail < p->max_head + 1 ? avail : p->max_head + 1;
		while (p->scan < lim) {
			if (!p->nl) {
				const char *q = memchr(s + p->scan, '\n', lim - p->scan);
				p->scan = q ? (size_t)(q - s) + 1 : lim;
				p->nl = q != NULL;
				continue;
			}
			char c = s[p->scan++];
			if (c == '\n') {
				p->head_len = p->scan;
				break;
			}
			if (c != '\r')
				p->nl = false;
		}
		if (!p->head_len) {
			if (p->scan > p->max_head)
				return p->err = EVCAST_E2BIG;
			return 0;
		}
		if (p->head_len > p->max_head)
			return p->err = EVCAST_E2BIG;
		{
			int rc = finish_head(p);
			if (rc < 0)
				return p->err = rc;
		}
	}
	return p->len - p->off - p->head_len >= p->body_len ? 1 : 0;
}

/* -------------------------------------------------- message building */

static int build(evcast_esl_parser_t *p, evcast_event_t **out)
{
	const char *s = p->buf + p->off, *end = s + p->head_len, *next;
	bool first = true;
	int rc = 0;
	evcast_event_t *ev = evcast_event_new();
	if (!ev)
		return EVCAST_ENOMEM;
	for (; s < end && rc == 0; s = next, first = false) {
		size_t n = line_len(s, end, &next), nname, nvalue;
		const char *value;
		if (n == 0)
			break;
		if (first && p->mode == EVCAST_ESL_COMMANDS) {
			rc = evcast_event_add_header_n(ev, "_line", 5, s, n);
			continue;
		}
		if (split_header(s, n, &nname, &value, &nvalue))
			rc = evcast_event_add_header_n(ev, s, nname, value, nvalue);
		if (rc == EVCAST_EINVAL)
			rc = 0; /* a line the event model refuses is skipped, as one without a colon */
	}
	if (rc == 0 && p->body_len > 0)
		rc = evcast_event_set_body(ev, p->buf + p->off + p->head_len, p->body_len);
	if (rc < 0) {
		evcast_event_free(ev);
		return rc;
	}
	*out = ev;
	return 0;
}

/* Drops the current message from the buffer and resets the scan state. */
static void consume(evcast_esl_parser_t *p)
{
	p->off += p->head_len + p->body_len;
	p->scan = 0;
	p->nl = false;
	p->head_done = false;
	p->head_len = 0;
	p->body_len = 0;
	if (p->off == p->len)
		p->off = p->len = 0;
}

/* ---------------------------------------------------------------- API */

int evcast_esl_parser_new(evcast_esl_mode_t mode, size_t max_head, size_t max_body, evcast_esl_parser_t **out)
{
	evcast_esl_parser_t *p;
	if (!out || (mode != EVCAST_ESL_COMMANDS && mode != EVCAST_ESL_REPLIES) || max_head < 2)
		return EVCAST_EINVAL;
	/* keep max_head + max_body + slack far from overflow */
	if (max_head > SIZE_MAX / 4 || max_body > SIZE_MAX / 4)
		return EVCAST_EINVAL;
	p = evc__calloc(1, sizeof(*p));
	if (!p)
		return EVCAST_ENOMEM;
	p->mode = mode;
	p->max_head = max_head;
	p->max_body = max_body;
	*out = p;
	return 0;
}

void evcast_esl_parser_free(evcast_esl_parser_t *p)
{
	if (!p)
		return;
	evc__free(p->buf);
	evc__free(p);
}

int evcast_esl_parser_feed(evcast_esl_parser_t *p, const char *data, size_t len)
{
	int rc;
	if (!p || (!data && len))
		return EVCAST_EINVAL;
	if (p->err)
		return p->err;
	if (len == 0)
		return 0;
	if (p->len - p->off + len > p->max_head + p->max_body + ESL_FEED_SLACK)
		return p->err = EVCAST_E2BIG;
	rc = reserve(p, len);
	if (rc < 0)
		return rc; /* not sticky: the caller may retry */
	memcpy(p->buf + p->len, data, len);
	p->len += len;
	rc = advance(p); /* checks the limits of the message in progress now */
	return rc < 0 ? rc : 0;
}

int evcast_esl_parser_next(evcast_esl_parser_t *p, evcast_event_t **out)
{
	int rc;
	if (!p || !out)
		return EVCAST_EINVAL;
	*out = NULL;
	rc = advance(p);
	if (rc <= 0)
		return rc;
	rc = build(p, out);
	if (rc < 0)
		return rc; /* ENOMEM: the message stays; the caller may retry */
	consume(p);
	return 1;
}
