/*
 * log.c -- errors, logging, the clock and address formatting.
 *
 * Owns evcast_strerror, the level names, message formatting into the caller's
 * log callback, and the token-bucket rate limiter network-input paths use so a
 * flood of bad datagrams cannot flood the log. The library never prints.
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

void evc__vlog(const evc__logger_t *lg, int level, const char *fmt, va_list ap)
{
	char msg[1024];
	if (!lg || !lg->cb || level > lg->level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
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
