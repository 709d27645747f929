/*
 * pubwait.h -- back-pressure as each publisher sees it (issue 12): when the
 * node is not writable (evcast_node_try_fire returned EVCAST_EAGAIN) a
 * publisher keeps its event, stops taking input and waits for
 * evcast_node_watch_writable's callback. These counters say how often and how
 * long; one set per publisher, held in evcd_t (loop thread only), shown by
 * `evcast stats` ("publish_wait") and the metrics endpoint
 * (evcast_publish_waits_total{publisher=...}, evcast_publish_waiting,
 * evcast_publish_wait_seconds_total).
 */
#ifndef EVCAST_PUBWAIT_H
#define EVCAST_PUBWAIT_H

#include <stdint.h>
#include <uv.h>

typedef enum evcd_pub {
	EVCD_PUB_CONTROL, /* sendevent on the control socket and the event socket */
	EVCD_PUB_LUA,     /* Lua fire() */
	EVCD_PUB_SIDECAR, /* events read from FreeSWITCH's event socket */
	EVCD_PUB_NATS,    /* events taken from the NATS gateway's queue */
	EVCD_PUB_REGSYNC, /* a donor's registration stream */
	EVCD_PUB_N
} evcd_pub_t;

static const char *const evcd_pub_names[EVCD_PUB_N] = {"control", "lua", "sidecar", "nats", "regsync"};

typedef struct evcd_pubwait {
	uint64_t waits;   /* times the publisher found the node not writable and waited */
	uint64_t waiting; /* publishers (connections, queues) waiting now */
	uint64_t wait_us; /* time spent waiting, summed over the waits that ended */
} evcd_pubwait_t;

/* A wait begins: returns its start (monotonic us) for evcd_pubwait_end. */
static inline uint64_t evcd_pubwait_begin(evcd_pubwait_t *w)
{
	w->waits++;
	w->waiting++;
	return uv_hrtime() / 1000u;
}

/* The wait that began at t0 ended (writable again, or its publisher closed). */
static inline void evcd_pubwait_end(evcd_pubwait_t *w, uint64_t t0)
{
	uint64_t now = uv_hrtime() / 1000u;
	if (w->waiting > 0)
		w->waiting--;
	w->wait_us += now > t0 ? now - t0 : 0;
}

#endif
