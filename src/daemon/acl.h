/*
 * acl.h -- CIDR access lists for the event socket (apply-inbound-acl).
 *
 * Pure code: no I/O, no loop, no logging; allocation through evc__malloc. A
 * list is built from comma-separated items ("10.0.0.0/8, ::1, 192.0.2.7",
 * FreeSWITCH's loopback.auto) and asked whether a peer address is allowed.
 * IPv4 clients seen as IPv4-mapped IPv6 (::ffff:a.b.c.d, on a dual-stack
 * listener) match the IPv4 items. An empty list allows everyone.
 */
#ifndef EVCAST_ACL_H
#define EVCAST_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define EVCD_ACL_MAX 256 /* items per list */

typedef struct evcd_cidr {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network address, host bits cleared (4 bytes used for AF_INET) */
	unsigned prefix;  /* 0..32 or 0..128 */
} evcd_cidr_t;

typedef struct evcd_acl {
	evcd_cidr_t *items; /* owned */
	size_t n;
} evcd_acl_t;

/* Parses one item: "ADDR" (a host) or "ADDR/PREFIX", IPv4 or IPv6. Returns 0,
 * or EVCAST_EINVAL with the reason in why (may be NULL). */
int evcd_cidr_parse(const char *text, evcd_cidr_t *out, char *why, size_t whylen);
/* Appends every item of a comma-separated list (blanks around items ignored;
 * "loopback.auto" = 127.0.0.0/8 and ::1/128). On error nothing is appended
 * and why names the item and the reason: EVCAST_EINVAL, EVCAST_E2BIG (more
 * than EVCD_ACL_MAX items), EVCAST_ENOMEM. */
int evcd_acl_add(evcd_acl_t *acl, const char *list, char *why, size_t whylen);
/* True when the list is empty or an item contains the address. */
bool evcd_acl_allows(const evcd_acl_t *acl, const struct sockaddr *sa);
bool evcd_cidr_contains(const evcd_cidr_t *c, const struct sockaddr *sa);
/* Frees the items; the list is empty again. */
void evcd_acl_clear(evcd_acl_t *acl);
/* "a.b.c.d/n" or "x::y/n" into buf (>= 64 bytes). */
const char *evcd_cidr_format(const evcd_cidr_t *c, char *buf, size_t len);

#endif
