/*
 * log.c -- errors, logging, the clock and address formatting.
 *
 * Owns evcast_strerror, the level names, message formatting into the caller's
 * log callback, and the token-bucket rate limiter network-input paths use so a
 * flood of bad datagrams cannot flood the log. The library never prints.
 * Also the one text-escaping helper (evcast_escape_text): every string that
 * came from the network goes through it before a log line, a terminal or a
 * metrics label, and evc__vlog passes each formatted message through its sink
 * mode as a last guard, so no message ever carries a raw control byte.
 */
#include "internal.h"
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *evcast_strerror(int err)
{
	switch (err) {
	case EVCAST_OK: return "success";
	case EVCAST_ENOMEM: return "out of memory";
	case EVCAST_EINVAL: return "invalid argument";
	case EVCAST_EPARSE: return "malformed input";
	case EVCAST_ETRUNC: return "truncated input";
	case EVCAST_ENOMAGIC: return "no MAGIC marker (not a legacy event datagram)";
	case EVCAST_EPSK: return "decryption failed (wrong PSK?)";
	case EVCAST_EPLAIN: return "plaintext datagram while a PSK is configured";
	case EVCAST_E2BIG: return "too large";
	case EVCAST_EIO: return "I/O error";
	case EVCAST_ENOENT: return "not found";
	case EVCAST_EEMPTY: return "empty input";
	case EVCAST_ESTATE: return "invalid state";
	case EVCAST_EAGAIN: return "busy: flow control window closed, retry when writable";
	default: return "unknown error";
	}
}

static const char *level_names[] = {"err", "warning", "notice", "info", "debug"};

const char *evcast_log_level_name(int level)
{
	if (level < 0 || level >= (int)EVC_ARRAY_SIZE(level_names))
		return "unknown";
	return level_names[level];
}

int evcast_log_level_parse(const char *name)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {
		{"err", EVCAST_LOG_ERR},         {"error", EVCAST_LOG_ERR},   {"crit", EVCAST_LOG_ERR},
		{"alert", EVCAST_LOG_ERR},       {"warning", EVCAST_LOG_WARNING}, {"warn", EVCAST_LOG_WARNING},
		{"notice", EVCAST_LOG_NOTICE},   {"info", EVCAST_LOG_INFO},   {"debug", EVCAST_LOG_DEBUG},
		{"console", EVCAST_LOG_NOTICE},
	};
	if (!name)
		return EVCAST_EINVAL;
	for (size_t i = 0; i < EVC_ARRAY_SIZE(names); i++)
		if (strcasecmp(name, names[i].name) == 0)
			return names[i].level;
	return EVCAST_EINVAL;
}

/* ---------------------------------------------------------- escaping */

/* Code points shown as \uHHHH although valid UTF-8: C1 controls (a terminal
 * may take U+009B as CSI), the invisible direction marks, the line and
 * paragraph separators and the bidirectional embeddings and isolates (they
 * reorder what a reader sees). */
static bool escaped_code_point(uint32_t c)
{
	return (c >= 0x80 && c <= 0x9f) || c == 0x200e || c == 0x200f || (c >= 0x2028 && c <= 0x202e) ||
	       (c >= 0x2066 && c <= 0x2069);
}

/* The length of the valid UTF-8 sequence at p (2..4) with its code point in
 * *cp, or 0 when p does not start one (overlong, surrogate, > U+10FFFF,
 * truncated: the NUL ends it). */
static size_t utf8_seq(const unsigned char *p, uint32_t *cp)
{
	unsigned char c = p[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;
	uint32_t v;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		v = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		v = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (p[1] < lo || p[1] > hi)
		return 0;
	v = (v << 6) | (p[1] & 0x3f);
	for (size_t i = 2; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3f);
	}
	*cp = v;
	return n;
}

/* The text for the character at p: its bytes as they are, or an escape.
 * *adv gets how many input bytes it covers. Returns the piece's length. */
static size_t escape_piece(const unsigned char *p, unsigned flags, size_t *adv, char piece[8])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c = *p;
	uint32_t cp;
	size_t n;
	*adv = 1;
	if (c == '\\' || c == '\t') {
		if (flags & EVC__ESC_SINK) {
			piece[0] = (char)c;
			return 1;
		}
		piece[0] = '\\';
		piece[1] = c == '\t' ? 't' : '\\';
		return 2;
	}
	if (c == '\n' || c == '\r') {
		piece[0] = '\\';
		piece[1] = c == '\n' ? 'n' : 'r';
		return 2;
	}
	if (c >= 0x20 && c < 0x7f) {
		piece[0] = (char)c;
		return 1;
	}
	if (c >= 0x80 && (n = utf8_seq(p, &cp)) != 0) {
		*adv = n;
		if (escaped_code_point(cp)) {
			memcpy(piece, "\\u", 2);
			for (int i = 0; i < 4; i++)
				piece[2 + i] = hex[(cp >> (12 - 4 * i)) & 0xf];
			return 6;
		}
		memcpy(piece, p, n);
		return n;
	}
	/* other control bytes, DEL, bytes that are not valid UTF-8 */
	piece[0] = '\\';
	piece[1] = 'x';
	piece[2] = hex[c >> 4];
	piece[3] = hex[c & 0xf];
	return 4;
}

size_t evc__escape(const char *s, char *out, size_t cap, unsigned flags)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "(null)");
	char piece[8];
	size_t adv, k, need = 0, len = 0;
	bool cut = false;
	/* the whole length first: a result cut short ends with "..." */
	for (const unsigned char *q = p; *q; q += adv)
		need += escape_piece(q, flags, &adv, piece);
	if (cap == 0)
		return need;
	size_t room = need < cap ? cap - 1 : (cap > 4 ? cap - 4 : cap - 1);
	for (; *p; p += adv) {
		k = escape_piece(p, flags, &adv, piece);
		if (len + k > room) {
			cut = true;
			break;
		}
		memcpy(out + len, piece, k);
		len += k;
	}
	if (cut && cap > 4) {
		memcpy(out + len, "...", 3);
		len += 3;
	}
	out[len] = '\0';
	return need;
}

size_t evcast_escape_text(const char *s, char *out, size_t cap) { return evc__escape(s, out, cap, 0); }

/* True when msg holds a byte the sink mode would change (fast path: ASCII
 * text without control bytes is passed as it is). */
static bool needs_sink_escape(const char *msg)
{
	for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p >= 0x7f)
			return true;
	return false;
}

void evc__vlog(const evc__logger_t *lg, int level, const char *fmt, va_list ap)
{
	char msg[1024], safe[1024];
	if (!lg || !lg->cb || level > lg->level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (needs_sink_escape(msg)) { /* a network string that reached a format unescaped */
		evc__escape(msg, safe, sizeof(safe), EVC__ESC_SINK);
		lg->cb(lg->ud, level, safe);
		return;
	}
	lg->cb(lg->ud, level, msg);
}

void evc__log(const evc__logger_t *lg, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	evc__vlog(lg, level, fmt, ap);
	va_end(ap);
}

void evc__ratelimit_init(evc__ratelimit_t *rl, unsigned burst, unsigned per_sec)
{
	memset(rl, 0, sizeof(*rl));
	rl->burst = burst;
	rl->per_sec = per_sec;
	rl->tokens = burst;
}

bool evc__ratelimit_allow(evc__ratelimit_t *rl, uint64_t now_ms)
{
	if (now_ms > rl->last_ms) {
		rl->tokens += (double)(now_ms - rl->last_ms) * rl->per_sec / 1000.0;
		if (rl->tokens > rl->burst)
			rl->tokens = rl->burst;
		rl->last_ms = now_ms;
	}
	if (rl->tokens >= 1.0) {
		rl->tokens -= 1.0;
		return true;
	}
	rl->suppressed++;
	return false;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t evc__wall_ms(void) { return wall_ns() / 1000000u; }
uint64_t evc__wall_us(void) { return wall_ns() / 1000u; }

void evc__addr_str(const struct sockaddr *sa, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (!sa) {
		snprintf(buf, cap, "?");
		return;
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, cap, "%s:%u", host, ntohs(s4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		char scope[IF_NAMESIZE + 1] = "";
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		/* a link-local address means nothing without its interface */
		if (s6->sin6_scope_id && !if_indextoname(s6->sin6_scope_id, scope + 1))
			snprintf(scope + 1, sizeof(scope) - 1, "%u", (unsigned)s6->sin6_scope_id);
		if (s6->sin6_scope_id)
			scope[0] = '%';
		snprintf(buf, cap, "[%s%s]:%u", host, scope, ntohs(s6->sin6_port));
	} else {
		snprintf(buf, cap, "(family %d)", sa->sa_family);
	}
}
