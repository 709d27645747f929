/*
 * regsync_int.h -- what the two halves of the registration sync share: the
 * state (struct evcd_regsync) and the calls between regsync.c (messages,
 * requester: join and repairs, digests, timers) and regsync_donor.c (serving
 * requests: snapshot, streams, selective repeat). Included by those two only;
 * the module's contract is regsync.h, the protocol is described in regsync.c.
 */
#ifndef EVCAST_REGSYNC_INT_H
#define EVCAST_REGSYNC_INT_H

#include "regsync.h"
#include "regsync_digest.h"
#include "internal.h"

#define SUBCLASS "evcast::regsync"
#define DATA_BYTES 24000 /* body size aimed at per data event (one legacy datagram) */
#define MAX_STREAMS 8
#define MAX_REPAIRS 4 /* inbound repairs at a time, one per peer */
#define TICK_MS 10
#define RTO_MS 200
#define RESEND_MS 1000        /* a join request not answered: another donor may be chosen after this */
#define REQUEST_RESEND_MS 250 /* a request with no answer yet: sent again (same id) this often */
#define REPAIR_RESENDS 2      /* ... at most this many times for a repair, then it is given up */
#define HELLO_MS 250 /* joining, no donor yet: a hello this often (synced nodes answer with a digest) */
#define REPAIR_SILENT_MS 1500 /* nor any data for that long */
#define SACK_BITS 64 /* events acknowledged out of order in one ack; the largest window */
#define RING 128      /* > any window */
#define DONE_RING 16   /* streams finished, remembered (a late copy of their request is ignored) */
#define DUP_THRESH 3  /* an event is lost when 3 events sent after it were acknowledged */

enum rs_state { RS_JOINING, RS_REQUESTING, RS_SYNCED };

typedef struct sent_ev {
	size_t beg, end;  /* the keys of a data event */
	uint64_t sent_ms; /* last (re)sent */
	bool got, lost;   /* acknowledged (out of order too); to be sent again at once */
} sent_ev_t;

typedef struct stream {
	char to[128], id[32];
	char **keys;
	size_t n, pos, sent;
	uint32_t seq, acked, end_seq; /* last sent, all up to this acknowledged, seq of the end (0: not sent) */
	sent_ev_t ev[RING];           /* events acked+1..seq, at seq % RING */
	uint64_t progress_ms;         /* last ack progress (or the start): give-up timer */
	uint64_t started_ms;
	uint32_t resent;              /* events sent again (lost or late acks) */
} stream_t;

/* What a requester expects from the donor it asked (join or repair). */
typedef struct inbound {
	char from[128], id[32];
	uint32_t expect, end_seq; /* next in-order seq; seq of the end once it came (0: not yet) */
	uint64_t ooo;    /* events received out of order: bit i = seq expect + 1 + i */
	char total[24];  /* sync-total of the end */
	uint64_t received, applied;
	uint64_t started_ms, deadline_ms, resend_ms; /* silent by deadline: given up; nothing by resend: asked again */
	uint64_t mask;    /* repair: the buckets asked for */
	unsigned resends; /* repair: requests sent again */
} inbound_t;

struct evcd_regsync {
	evcd_t *d;
	evc__reg_t *reg;
	evcd_regsync_cfg_t c;
	uv_timer_t tick;
	int open_handles, sub;
	enum rs_state state;
	char failed[128];
	inbound_t join, repair[MAX_REPAIRS]; /* repair[i].from[0] != 0: an anti-entropy repair in flight */
	uint64_t start_ms, deadline_ms, synced_in_ms, next_digest_ms, last_digest_ms, last_apply_ms;
	uint64_t retry_ms; /* after a refusal: ask another peer then (0: not set) */
	uint64_t resend_ms; /* joining, nothing received yet: the request again then */
	uint64_t hello_ms;  /* joining: the next hello then */
	bool digest_soon;  /* a repair changed the table: send the digest at once (rate limited) */
	double tokens;
	stream_t streams[MAX_STREAMS];
	size_t nstreams, rr; /* rr: the stream that sends next (round robin) */
	char done[DONE_RING][168]; /* "to\x1fid" of the last streams finished */
	size_t ndone;
	uint32_t seq;
	uint64_t received, applied, data_sent, entries_sent, requests_served, joins_served, requests_dropped, digests_sent,
		repairs, repairs_busy, pushes, prompt_digests, retransmits, fast_retransmits, streams_abandoned, bad,
		digests_computed;
	evcd_rs_digest_t dg;                 /* this node's digest (evcd_rs_my_digest) */
	uint64_t dg_gen[5];                  /* the table's change counters when dg was computed */
	bool dg_valid;
	char leaves[RS_LEAVES_TEXT_MAX + 1]; /* scratch: the leaf text of a repair request */
	/* back-pressure (regsync_donor.c): the donor's streams wait for a writable node */
	int bp_watch;   /* evcast_node_watch_writable id, 0 when not waiting */
	uint64_t bp_t0; /* evcd_pubwait_begin */
};

/* regsync.c */
const char *evcd_rs_me(const evcd_regsync_t *s);
/* This node's digest (cached while the table does not change). */
const evcd_rs_digest_t *evcd_rs_my_digest(evcd_regsync_t *s);
/* Fires CUSTOM evcast::regsync with sync-type and the header pairs (NULL-terminated). body may be NULL. */
int evcd_rs_fire(evcd_regsync_t *s, const char *type, const char *body, ...);
/* Asks `from` for the buckets in mask, with this node's leaves of them (one repair per peer,
 * MAX_REPAIRS at a time). */
void evcd_rs_repair_from(evcd_regsync_t *s, const char *from, uint64_t mask, const char *why);
/* The repair in flight from peer, or NULL. */
inbound_t *evcd_rs_repair_of(evcd_regsync_t *s, const char *peer);
/* A repair is over (complete, refused, given up or void). */
void evcd_rs_repair_done(evcd_regsync_t *s, inbound_t *in, const char *how);

/* regsync_donor.c */
/* A request for `buckets` ("all", or a hex mask with, in body, the requester's leaves of those
 * buckets): snapshot the keys to send and queue the stream (or refuse: busy, joining). */
void evcd_rs_on_request(evcd_regsync_t *s, const char *from, const char *id, const char *buckets,
			const char *body, size_t blen);
/* An ack: all up to seqs came, and those in sack (hex, bit i = seq seqs + 2 + i). */
void evcd_rs_on_ack(evcd_regsync_t *s, const char *from, const char *id, const char *seqs, const char *sack);
/* Sends while the token bucket and the windows allow, one event of each stream in turn. */
void evcd_rs_pump(evcd_regsync_t *s);
/* At stop: drops the donor's writable watcher. */
void evcd_rs_pump_stop(evcd_regsync_t *s);
void evcd_rs_stream_free(stream_t *st);

#endif
