/*
 * esl_conf.c -- parsing of event_socket.conf (see esl_conf.h).
 *
 * Owns the param table, defaults and value checks, including the rule that a
 * non-loopback listen-ip needs a password other than FreeSWITCH's default.
 * Pure: no I/O, no loop; messages go to the caller (warn callback, err
 * buffer). Unit-tested by tests/unit/test_esl_conf.c, which includes this file.
 */
#include "esl_conf.h"
#include "internal.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool evcd_addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* Decimal integer in [lo, hi]; false otherwise. */
static bool parse_uint(const char *v, unsigned long long lo, unsigned long long hi, unsigned long long *out)
{
	char *end;
	unsigned long long n;
	if (!v || *v < '0' || *v > '9')
		return false;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end || n < lo || n > hi)
		return false;
	*out = n;
	return true;
}

/* A password is never quoted (a reload's -ERR goes back to a client), but
 * FreeSWITCH's public default is, to say which one was refused. */
static int bad(char *err, size_t errlen, const char *file, const evcast_param_t *p, const char *why)
{
	bool hide = strcasecmp(p->name, "password") == 0 && *p->value && strcmp(p->value, EVCD_ESL_DEFAULT_PASSWORD) != 0;
	snprintf(err, errlen, "%s:%d: %s: param \"%s\": value \"%s\": %s", file, p->line, EVCD_ESL_SECTION, p->name,
		 hide ? "(hidden)" : p->value, why);
	return EVCAST_EINVAL;
}

static int set_ip(evcd_esl_conf_t *c, const char *v)
{
	char ip[64];
	size_t n = strlen(v);
	struct sockaddr_in *s4 = (struct sockaddr_in *)&c->addr;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&c->addr;
	if (n >= 2 && v[0] == '[' && v[n - 1] == ']') {
		v++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(ip))
		return EVCAST_EINVAL;
	memcpy(ip, v, n);
	ip[n] = '\0';
	memset(&c->addr, 0, sizeof(c->addr));
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
	} else {
		return EVCAST_EINVAL;
	}
	snprintf(c->listen_ip, sizeof(c->listen_ip), "%s", ip);
	return 0;
}

/* The pre-auth params against each other and the connection limit: a value
 * left at its default is lowered to fit (it was not asked for); an explicit
 * one that cannot hold is an error naming it. */
static int check_preauth(evcd_esl_conf_t *c, const char *file, const evcast_param_t *mup, const evcast_param_t *mupa,
			 const evcast_param_t *fdm, const evcast_param_t *fdmax, char *err, size_t errlen)
{
	char why[160];
	if (c->max_unauth > c->max_connections) {
		if (mup) {
			snprintf(why, sizeof(why), "larger than max-connections (%zu)", c->max_connections);
			return bad(err, errlen, file, mup, why);
		}
		c->max_unauth = c->max_connections;
	}
	if (c->max_unauth_per_addr > c->max_unauth) {
		if (mupa) {
			snprintf(why, sizeof(why), "larger than max-unauthenticated (%zu)", c->max_unauth);
			return bad(err, errlen, file, mupa, why);
		}
		c->max_unauth_per_addr = c->max_unauth;
	}
	/* a client waiting out its delay must not be closed by the auth timeout first */
	if (c->auth_timeout) {
		unsigned limit = c->auth_timeout * 1000u;
		snprintf(why, sizeof(why), "not shorter than auth-timeout (%u s)", c->auth_timeout);
		if (fdm && c->fail_delay_ms >= limit)
			return bad(err, errlen, file, fdm, why);
		if (fdmax && c->fail_delay_max_ms >= limit)
			return bad(err, errlen, file, fdmax, why);
		if (c->fail_delay_max_ms >= limit)
			c->fail_delay_max_ms = limit / 2;
	}
	if (c->fail_delay_max_ms < c->fail_delay_ms) {
		if (fdmax && fdm) {
			snprintf(why, sizeof(why), "smaller than auth-failure-delay-ms (%u)", c->fail_delay_ms);
			return bad(err, errlen, file, fdmax, why);
		}
		if (fdmax)
			c->fail_delay_ms = c->fail_delay_max_ms;
		else
			c->fail_delay_max_ms = c->fail_delay_ms;
	}
	return 0;
}

void evcd_esl_conf_free(evcd_esl_conf_t *c)
{
	if (!c)
		return;
	if (c->password) {
		memset(c->password, 0, strlen(c->password));
		evc__free(c->password);
	}
	c->password = NULL;
	evcd_acl_clear(&c->acl);
}

int evcd_esl_conf_parse(const evcast_section_t *s, const char *file, void (*warn)(void *ud, const char *msg),
			void *ud, evcd_esl_conf_t *out, char *err, size_t errlen)
{
	static const char *const ignored[] = {"nat-map", "debug", "stop-on-bind-error"};
	const evcast_param_t *pw = NULL, *ipp = NULL, *mup = NULL, *mupa = NULL, *fdm = NULL, *fdmax = NULL;
	const char *password = EVCD_ESL_DEFAULT_PASSWORD;
	char tmp[1];
	int rc = 0;
	if (!err) {
		err = tmp;
		errlen = sizeof(tmp);
	}
	if (!file)
		file = "(config)";
	memset(out, 0, sizeof(*out));
	out->port = EVCD_ESL_DEFAULT_PORT;
	out->max_connections = EVCD_ESL_DEFAULT_MAX_CONNECTIONS;
	out->auth_timeout = EVCD_ESL_DEFAULT_AUTH_TIMEOUT;
	out->queue_max_events = EVCD_ESL_DEFAULT_QUEUE_EVENTS;
	out->queue_max_bytes = EVCD_ESL_DEFAULT_QUEUE_BYTES;
	out->max_unauth = EVCD_ESL_DEFAULT_MAX_UNAUTH;
	out->max_unauth_per_addr = EVCD_ESL_DEFAULT_MAX_UNAUTH_PER_ADDR;
	out->fail_delay_ms = EVCD_ESL_DEFAULT_FAIL_DELAY_MS;
	out->fail_delay_max_ms = EVCD_ESL_DEFAULT_FAIL_DELAY_MAX_MS;
	set_ip(out, EVCD_ESL_DEFAULT_IP);
	for (size_t i = 0; s && i < s->nparams && rc == 0; i++) {
		const evcast_param_t *p = &s->params[i];
		const char *v = p->value ? p->value : "";
		unsigned long long n;
		bool known = false;
		if (strcasecmp(p->name, "listen-ip") == 0) {
			if (set_ip(out, v) < 0)
				rc = bad(err, errlen, file, p, "not an IPv4 or IPv6 address");
			ipp = p;
		} else if (strcasecmp(p->name, "listen-port") == 0) {
			if (!parse_uint(v, 1, 65535, &n))
				rc = bad(err, errlen, file, p, "not a port number (1-65535)");
			else
				out->port = (uint16_t)n;
		} else if (strcasecmp(p->name, "password") == 0) {
			if (!*v)
				rc = bad(err, errlen, file, p, "the password must not be empty");
			else if (strlen(v) > 255)
				rc = bad(err, errlen, file, p, "longer than 255 bytes");
			password = v;
			pw = p;
		} else if (strcasecmp(p->name, "apply-inbound-acl") == 0) {
			char why[256];
			int r = evcd_acl_add(&out->acl, v, why, sizeof(why));
			if (r == EVCAST_ENOMEM)
				rc = r;
			else if (r < 0)
				rc = bad(err, errlen, file, p, why);
		} else if (strcasecmp(p->name, "max-connections") == 0) {
			if (!parse_uint(v, 1, 65536, &n))
				rc = bad(err, errlen, file, p, "not a number of connections (1-65536)");
			else
				out->max_connections = (size_t)n;
		} else if (strcasecmp(p->name, "auth-timeout") == 0) {
			if (!parse_uint(v, 0, 3600, &n))
				rc = bad(err, errlen, file, p, "not a number of seconds (0-3600, 0 = none)");
			else
				out->auth_timeout = (unsigned)n;
		} else if (strcasecmp(p->name, "queue-max-events") == 0) {
			if (!parse_uint(v, 1, 10000000, &n))
				rc = bad(err, errlen, file, p, "not a number of events (1-10000000)");
			else
				out->queue_max_events = (size_t)n;
		} else if (strcasecmp(p->name, "queue-max-bytes") == 0) {
			if (!parse_uint(v, 65536, 1ull << 30, &n))
				rc = bad(err, errlen, file, p, "not a number of bytes (65536-1073741824)");
			else
				out->queue_max_bytes = (size_t)n;
		} else if (strcasecmp(p->name, "max-unauthenticated") == 0) {
			if (!parse_uint(v, 1, EVCD_ESL_MAX_UNAUTH_LIMIT, &n))
				rc = bad(err, errlen, file, p, "not a number of connections (1-4096)");
			else
				out->max_unauth = (size_t)n;
			mup = p;
		} else if (strcasecmp(p->name, "max-unauthenticated-per-address") == 0) {
			if (!parse_uint(v, 1, EVCD_ESL_MAX_UNAUTH_LIMIT, &n))
				rc = bad(err, errlen, file, p, "not a number of connections (1-4096)");
			else
				out->max_unauth_per_addr = (size_t)n;
			mupa = p;
		} else if (strcasecmp(p->name, "auth-failure-delay-ms") == 0) {
			if (!parse_uint(v, 0, 60000, &n))
				rc = bad(err, errlen, file, p, "not a number of milliseconds (0-60000, 0 = no delay)");
			else
				out->fail_delay_ms = (unsigned)n;
			fdm = p;
		} else if (strcasecmp(p->name, "auth-failure-delay-max-ms") == 0) {
			if (!parse_uint(v, 1, 600000, &n))
				rc = bad(err, errlen, file, p, "not a number of milliseconds (1-600000)");
			else
				out->fail_delay_max_ms = (unsigned)n;
			fdmax = p;
		} else {
			char msg[512];
			for (size_t k = 0; k < EVC_ARRAY_SIZE(ignored); k++)
				known |= strcasecmp(p->name, ignored[k]) == 0;
			snprintf(msg, sizeof(msg), "%s:%d: %s param \"%s\" in %s (ignored)", file, p->line,
				 known ? "FreeSWITCH-only" : "unknown", p->name, EVCD_ESL_SECTION);
			if (warn)
				warn(ud, msg);
		}
	}
	if (rc == 0)
		rc = check_preauth(out, file, mup, mupa, fdm, fdmax, err, errlen);
	if (rc == 0 && !evcd_addr_is_loopback((struct sockaddr *)&out->addr) &&
	    strcmp(password, EVCD_ESL_DEFAULT_PASSWORD) == 0) {
		if (pw)
			rc = bad(err, errlen, file, pw,
				 "refusing to listen on a non-loopback address with FreeSWITCH's default password");
		else
			snprintf(err, errlen,
				 "%s:%d: %s: param \"listen-ip\": value \"%s\": refusing to listen on a non-loopback "
				 "address with the default password (ClueCon); set a password",
				 file, ipp ? ipp->line : s->line, EVCD_ESL_SECTION, out->listen_ip),
			rc = EVCAST_EINVAL;
	}
	if (rc == 0) {
		if (out->addr.ss_family == AF_INET)
			((struct sockaddr_in *)&out->addr)->sin_port = htons(out->port);
		else
			((struct sockaddr_in6 *)&out->addr)->sin6_port = htons(out->port);
		if (!(out->password = evc__strdup(password)))
			rc = EVCAST_ENOMEM;
	}
	if (rc == EVCAST_ENOMEM)
		snprintf(err, errlen, "%s: %s: out of memory", file, EVCD_ESL_SECTION);
	if (rc < 0)
		evcd_esl_conf_free(out);
	return rc;
}
