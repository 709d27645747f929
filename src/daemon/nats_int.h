/*
 * nats_int.h -- what nats.c (the NATS bridge: publishing, receiving,
 * start/stop, reporting) and nats_conf.c (nats.conf) share: the bridge's
 * limits and state, and the config reader. Nothing else includes it
 * (tests/unit/test_nats.c includes the modules themselves).
 */
#ifndef EVCAST_NATS_INT_H
#define EVCAST_NATS_INT_H

#include "daemon.h"
#include "internal.h"
#include "relay_seal.h"
#include <nats/nats.h>
#include <pthread.h>

#define NATS_MAGIC EVC_RELAY_PLAIN_MAGIC
#define NATS_QUEUE_MAX 4096
#define NATS_QUEUE_BYTES (64u * 1024u * 1024u)
#define NATS_MAX_URLS 16
#define NATS_ORIGINS 1024
#define NATS_TXBUF (EVCAST_V2_MAX_EVENT + EVC_RELAY_OVERHEAD + 8)
#define NATS_PTBUF (EVCAST_V2_MAX_EVENT + 8)
#define NATS_DEFAULT_SKEW 120u

typedef struct qmsg {
	struct qmsg *next;
	size_t len;
	char *subject; /* points into data, after the payload and its NUL */
	char data[];
} qmsg_t;

struct evcd_nats {
	evcd_t *d;
	int sub_id;
	char url[1024], cluster[128], token[256], user[128], password[256], nkey[512], nkeypub[128], creds[512], ca[512];
	unsigned max_pending, max_skew;
	bool tls, gateway, connect, encrypt, send_asap;
	evcast_bindings_t *bindings;
	natsOptions *opts;
	natsConnection *nc;
	natsSubscription *sub;
	uv_async_t async;
	uv_timer_t timer; /* logs why the link is down (auth, TLS), on the loop thread */
	int handles;      /* open uv handles; the module is freed when the last closes */
	unsigned closed_ticks; /* seconds the libnats connection has been closed */
	char last_err[256];
	pthread_mutex_t mu;
	qmsg_t *qhead, *qtail;
	size_t qlen, qbytes;
	bool connected;
	char server[256];
	/* under mu (written by libnats threads) */
	uint64_t rx_overflow, reconnects, disconnects, received;
	/* loop thread only */
	uint64_t published, publish_errors, gateway_out, gateway_in, own, bad, rx_wakeups;
	uint64_t rejects[EVC_RELAY_R_COUNT]; /* per -EVC_RELAY_R_* reason */
	evc__ratelimit_t rl;                 /* reject log lines */
	char *txbuf, *ptbuf;                 /* ptbuf: plain text to seal / opened text */
	/* the subject of the last published (name, subclass): a stream of one kind
	 * of event maps to one subject, built once (loop thread only) */
	char last_name[128], last_sub[256], last_subj[512];
	bool subj_ok;
	/* back-pressure (gateway, loop thread): the queue is not taken from while
	 * the node is not writable; libnats' messages wait in it (bounded) */
	int bp_watch;   /* evcast_node_watch_writable id, 0 when not waiting */
	uint64_t bp_t0; /* evcd_pubwait_begin */
};

/* nats_conf.c: fills m from nats.conf. 1 present, 0 absent, EVCAST_EINVAL on
 * a bad value (logged file:line:param:value:why). */
int evcd_nats_read_config(evcd_t *d, struct evcd_nats *m);

#endif
