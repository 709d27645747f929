/*
 * esl_conf.h -- the <configuration name="event_socket.conf"> block of evcastd.
 *
 * FreeSWITCH's params (listen-ip, listen-port, password, apply-inbound-acl)
 * plus evcast's own (max-connections, auth-timeout, queue-max-events,
 * queue-max-bytes; max-unauthenticated, max-unauthenticated-per-address,
 * auth-failure-delay-ms, auth-failure-delay-max-ms). Pure: parses a config section into a struct, warns about
 * unknown params through a callback, and fails on a bad value with
 * "FILE:LINE: event_socket.conf: param "P": value "V": WHY".
 */
#ifndef EVCAST_ESL_CONF_H
#define EVCAST_ESL_CONF_H

#include "acl.h"
#include "evcast/evcast.h"

#define EVCD_ESL_SECTION "event_socket.conf"
#define EVCD_ESL_DEFAULT_IP "127.0.0.1"
#define EVCD_ESL_DEFAULT_PORT 8021
#define EVCD_ESL_DEFAULT_PASSWORD "ClueCon"
#define EVCD_ESL_DEFAULT_MAX_CONNECTIONS 256u
#define EVCD_ESL_DEFAULT_AUTH_TIMEOUT 30u      /* seconds */
#define EVCD_ESL_DEFAULT_QUEUE_EVENTS 20000u
#define EVCD_ESL_DEFAULT_QUEUE_BYTES (8u * 1024u * 1024u)
/* pre-auth limits and auth-failure delays (issue 13); the two limits are
 * lowered to max-connections / max-unauthenticated when left at default */
#define EVCD_ESL_DEFAULT_MAX_UNAUTH 32u
#define EVCD_ESL_DEFAULT_MAX_UNAUTH_PER_ADDR 8u
#define EVCD_ESL_MAX_UNAUTH_LIMIT 4096u
#define EVCD_ESL_DEFAULT_FAIL_DELAY_MS 200u
#define EVCD_ESL_DEFAULT_FAIL_DELAY_MAX_MS 10000u

typedef struct evcd_esl_conf {
	char listen_ip[64];            /* as written, brackets removed */
	uint16_t port;
	struct sockaddr_storage addr;  /* listen-ip and listen-port */
	char *password;                /* owned */
	evcd_acl_t acl;                /* owned; empty = everyone */
	size_t max_connections;
	unsigned auth_timeout;         /* seconds; 0 = none */
	size_t queue_max_events, queue_max_bytes;
	/* esl: pre-auth limits and auth-failure delays (issue 13) */
	size_t max_unauth;             /* unauthenticated connections, all addresses */
	size_t max_unauth_per_addr;    /* unauthenticated connections per address (IPv6: per /64) */
	unsigned fail_delay_ms;        /* answer to the first failed auth; 0 = no delay */
	unsigned fail_delay_max_ms;    /* the doubling stops here */
} evcd_esl_conf_t;

/* Parses section s (NULL: the defaults) from file (for messages). warn (may be
 * NULL) gets one line per unknown or ignored param. Returns 0, EVCAST_EINVAL
 * (message in err) or EVCAST_ENOMEM. On failure *out holds nothing to free. */
int evcd_esl_conf_parse(const evcast_section_t *s, const char *file, void (*warn)(void *ud, const char *msg),
			void *ud, evcd_esl_conf_t *out, char *err, size_t errlen);
void evcd_esl_conf_free(evcd_esl_conf_t *c);
/* True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
bool evcd_addr_is_loopback(const struct sockaddr *sa);

#endif
