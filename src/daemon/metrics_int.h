/*
 * metrics_int.h -- what metrics.c (metrics.conf, the HTTP server: listener,
 * connections, start/stop) and metrics_render.c (the Prometheus text
 * exposition) share: the endpoint's limits, its connection and state
 * structs, and the render entry point. Nothing else includes it
 * (tests/unit/test_metrics.c includes the modules themselves).
 */
#ifndef EVCAST_METRICS_INT_H
#define EVCAST_METRICS_INT_H

#include "daemon.h"
#include "internal.h"

#define MAX_REQUEST 4096  /* request line + headers */
#define MAX_CONNS 16      /* open at once */
#define IDLE_MS 5000      /* a connection that has not sent a full request by then is closed */
#define LINGER_MS 2000    /* after the answer: read and discard until the client closes, at most this long */
#define MAX_BODY (4u * 1024u * 1024u) /* exposition size limit (peer table included) */

typedef struct mconn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	struct evcd_metrics *m;
	struct mconn *prev, *next;
	char req[MAX_REQUEST];
	size_t nreq;
	char *resp;
	int open_handles;
	bool answered, closing;
} mconn_t;

struct evcd_metrics {
	evcd_t *d;
	uv_tcp_t server;
	uv_tcp_t spare; /* accepts and closes a connection when no memory is left for it */
	bool server_open, stopping, spare_busy, reject_pending;
	mconn_t *conns;
	size_t nconns;
	uint64_t requests, refused, bad_requests;
	char listen[80];
};

/* metrics_render.c: the whole exposition; NULL when out of memory. *len gets its length. */
char *evcd_metrics_render(struct evcd_metrics *m, size_t *len);

#endif
