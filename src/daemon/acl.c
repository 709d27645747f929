/*
 * acl.c -- CIDR access lists of the event socket (see acl.h).
 *
 * Owns parsing ("ADDR[/PREFIX]" items, comma lists, loopback.auto) and
 * matching of a peer sockaddr, IPv4-mapped IPv6 folded to IPv4. Pure: no I/O,
 * no logging, never asserts on input; unit-tested by tests/unit/test_acl.c,
 * which includes this file. Sections: items, lists, matching.
 */
#include "acl.h"
#include "internal.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ----------------------------------------------------------------- items */

static void mask_host_bits(evcd_cidr_t *c)
{
	unsigned bytes = c->family == AF_INET ? 4 : 16;
	for (unsigned i = 0; i < bytes; i++) {
		unsigned lo = i * 8;
		if (c->prefix <= lo)
			c->addr[i] = 0;
		else if (c->prefix < lo + 8)
			c->addr[i] &= (uint8_t)(0xff << (8 - (c->prefix - lo)));
	}
}

/* The reason into why (NULL: the caller wants none). */
static void say(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;
	if (!why || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

int evcd_cidr_parse(const char *text, evcd_cidr_t *out, char *why, size_t whylen)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash;
	size_t alen;
	unsigned max, prefix;
	memset(out, 0, sizeof(*out));
	if (!text || !*text) {
		say(why, whylen, "empty item");
		return EVCAST_EINVAL;
	}
	slash = strchr(text, '/');
	alen = slash ? (size_t)(slash - text) : strlen(text);
	if (alen == 0 || alen >= sizeof(addr)) {
		say(why, whylen, "\"%s\" is not an IPv4 or IPv6 address", text);
		return EVCAST_EINVAL;
	}
	memcpy(addr, text, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		say(why, whylen, "\"%s\" is not an IPv4 or IPv6 address", addr);
		return EVCAST_EINVAL;
	}
	prefix = max;
	if (slash) {
		const char *p = slash + 1;
		if (!*p || strlen(p) > 3 || strspn(p, "0123456789") != strlen(p)) {
			say(why, whylen, "prefix length \"%s\" is not a number", p);
			return EVCAST_EINVAL;
		}
		prefix = 0;
		for (; *p; p++)
			prefix = prefix * 10 + (unsigned)(*p - '0');
		if (prefix > max) {
			say(why, whylen, "prefix length %u is over %u", prefix, max);
			return EVCAST_EINVAL;
		}
	}
	out->prefix = prefix;
	mask_host_bits(out);
	return 0;
}

const char *evcd_cidr_format(const evcd_cidr_t *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	inet_ntop(c->family, c->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, c->prefix);
	return buf;
}

/* ----------------------------------------------------------------- lists */

int evcd_acl_add(evcd_acl_t *acl, const char *list, char *why, size_t whylen)
{
	evcd_cidr_t parsed[EVCD_ACL_MAX];
	size_t n = 0;
	const char *p = list ? list : "";
	for (;;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char item[128];
		while (len && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len >= sizeof(item)) {
			say(why, whylen, "item \"%.40s...\" is too long", p);
			return EVCAST_EINVAL;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (!len) {
			say(why, whylen, "empty item in the list");
			return EVCAST_EINVAL;
		}
		if (strcmp(item, "loopback.auto") == 0) {
			if (n + 2 > EVCD_ACL_MAX)
				goto too_many;
			evcd_cidr_parse("127.0.0.0/8", &parsed[n++], NULL, 0);
			evcd_cidr_parse("::1/128", &parsed[n++], NULL, 0);
		} else {
			char r[160];
			if (n + 1 > EVCD_ACL_MAX)
				goto too_many;
			if (evcd_cidr_parse(item, &parsed[n], r, sizeof(r)) < 0) {
				say(why, whylen, "%s", r);
				return EVCAST_EINVAL;
			}
			n++;
		}
		if (!e)
			break;
		p = e + 1;
	}
	if (acl->n + n > EVCD_ACL_MAX)
		goto too_many;
	{
		evcd_cidr_t *v = evc__realloc(acl->items, (acl->n + n) * sizeof(*v));
		if (!v) {
			say(why, whylen, "out of memory");
			return EVCAST_ENOMEM;
		}
		memcpy(v + acl->n, parsed, n * sizeof(*v));
		acl->items = v;
		acl->n += n;
	}
	return 0;
too_many:
	say(why, whylen, "more than %u items", EVCD_ACL_MAX);
	return EVCAST_E2BIG;
}

void evcd_acl_clear(evcd_acl_t *acl)
{
	evc__free(acl->items);
	acl->items = NULL;
	acl->n = 0;
}

/* -------------------------------------------------------------- matching */

static bool prefix_equal(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;
	if (memcmp(a, net, full) != 0)
		return false;
	if (rest) {
		uint8_t m = (uint8_t)(0xff << (8 - rest));
		return (a[full] & m) == net[full];
	}
	return true;
}

bool evcd_cidr_contains(const evcd_cidr_t *c, const struct sockaddr *sa)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const uint8_t *a;
	int fam;
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		fam = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		fam = AF_INET6;
		if (c->family == AF_INET && memcmp(a, mapped, sizeof(mapped)) == 0) {
			a += 12;
			fam = AF_INET;
		}
	} else {
		return false;
	}
	return fam == c->family && prefix_equal(a, c->addr, c->prefix);
}

bool evcd_acl_allows(const evcd_acl_t *acl, const struct sockaddr *sa)
{
	if (!acl || acl->n == 0)
		return true;
	for (size_t i = 0; i < acl->n; i++)
		if (evcd_cidr_contains(&acl->items[i], sa))
			return true;
	return false;
}
