/*
 * v2guard.h -- receive-state budget, NAK admission and retransmit budgets of
 * evcast wire protocol v2 (v2guard.c; docs/PROTOCOL.md 9.5, 10).
 *
 * Pure state, time passed in, no I/O, no allocation: v2proto.c keeps one
 * evc__v2_guard_t per endpoint and one evc__v2_pguard_t per sender it tracks,
 * and asks the guard before it holds a datagram, answers a NAK, retransmits
 * or sends a NAK. Trust of a sender: NONE (only unauthenticated datagrams),
 * KNOWN (heard in a HEARTBEAT, at the address it came from), AUTH (a sealed
 * datagram opened with the cluster's key). The less trusted state goes first.
 */
#ifndef EVCAST_V2GUARD_H
#define EVCAST_V2GUARD_H

#include "internal.h"

enum evc__v2_trust { EVC_V2_TRUST_NONE = 0, EVC_V2_TRUST_KNOWN = 1, EVC_V2_TRUST_AUTH = 2 };

/* An unauthenticated (KNOWN) requester draws at most this many times the
 * bytes it sent us, in all (PROTOCOL.md 9.5). */
#define EVC_V2_PLAIN_RTX_FACTOR 4u
/* ... and its unspent credit never exceeds this. */
#define EVC_V2_PLAIN_RTX_CREDIT_MAX (8u << 20)
/* Destinations whose NAK rate is tracked (the least recently used replaced). */
#define EVC_V2_GUARD_DESTS 64u
/* Bytes charged per held datagram on top of its payload (entry, allocator). */
#define EVC_V2_HELD_OVERHEAD 64u

/* Token bucket in units (bytes or NAKs): at most cap, refilled at rate/s. */
typedef struct evc__v2_bucket {
	double tokens, cap, rate;
	uint64_t last_us;
} evc__v2_bucket_t;

/* Starts full. */
void evc__v2_bucket_init(evc__v2_bucket_t *b, double cap, double rate_per_s, uint64_t now_us);
/* True (and taken) when amount is available at now_us. */
bool evc__v2_bucket_take(evc__v2_bucket_t *b, double amount, uint64_t now_us);

typedef struct evc__v2_guard_cfg {
	size_t rx_mem;        /* all receive state (held datagrams, senders, reassembly); default 32 MiB */
	size_t max_unknown;   /* senders of trust NONE with any state; default 64 */
	uint64_t rtx_rate;    /* retransmitted bytes/s, all requesters; default 16 MiB/s (burst: 1 s) */
	uint64_t rtx_peer_rate; /* per authenticated requester, bytes/s; default 4 MiB/s (burst: 1 s) */
	unsigned nak_rate;    /* NAKs/s to one address of unauthenticated senders; default 100 (burst: rate/4 + 1) */
} evc__v2_guard_cfg_t;

void evc__v2_guard_cfg_default(evc__v2_guard_cfg_t *c);

/* One sender's standing (embedded in v2proto.c's per-sender state). */
typedef struct evc__v2_pguard {
	uint8_t trust;             /* enum evc__v2_trust */
	bool progress;             /* showed a HEARTBEAT, ANNOUNCE, authenticated or in-order DATA: may be NAKed */
	bool have_known_addr;
	struct sockaddr_storage known_addr; /* where its HEARTBEAT / authenticated traffic came from */
	uint64_t credit;           /* KNOWN requester: bytes it may still draw */
	evc__v2_bucket_t rtx;      /* AUTH requester: retransmit bytes */
	size_t mem;                /* receive state charged to it (bytes) */
} evc__v2_pguard_t;

typedef struct evc__v2_guard_stats {
	uint64_t mem_shed;        /* held state given up because the receive-memory bound was hit */
	uint64_t unknown_evicted; /* unknown senders' state dropped to admit another unknown sender */
	uint64_t nak_refused;     /* NAKs not answered: requester not known at that address */
	uint64_t rtx_limited;     /* retransmissions withheld by a retransmit budget */
	uint64_t nak_limited;     /* times a due NAK was held back: destination over its rate */
	uint64_t nak_unproven;    /* NAKs not sent: the sender showed nothing but a gap */
	uint64_t rtx_bytes;       /* bytes retransmitted */
	size_t mem, mem_peak;     /* receive state now, and its peak (bytes) */
} evc__v2_guard_stats_t;

typedef struct evc__v2_guard_dest {
	struct sockaddr_storage addr;
	evc__v2_bucket_t naks;
	uint64_t used_us; /* 0: free */
} evc__v2_guard_dest_t;

/* A host heard in a legacy-format HEARTBEAT (a node that sends the legacy
 * format but NAKs in v2): its address and the credit its heartbeats earned. */
typedef struct evc__v2_guard_host {
	struct sockaddr_storage addr;
	uint64_t credit;
	uint64_t used_us; /* 0: free */
} evc__v2_guard_host_t;

typedef struct evc__v2_guard {
	evc__v2_guard_cfg_t cfg;
	evc__v2_bucket_t rtx_total;
	evc__v2_guard_dest_t dests[EVC_V2_GUARD_DESTS];
	evc__v2_guard_host_t hosts[EVC_V2_GUARD_DESTS];
	evc__v2_guard_stats_t st;
} evc__v2_guard_t;

void evc__v2_guard_init(evc__v2_guard_t *g, const evc__v2_guard_cfg_t *cfg, uint64_t now_us);
void evc__v2_pguard_init(const evc__v2_guard_t *g, evc__v2_pguard_t *pg, uint64_t now_us);

/* A datagram of len bytes accepted from this sender at from (may be NULL),
 * authenticated or not: earns a KNOWN requester its credit; a sealed one
 * makes the sender AUTH at from. */
void evc__v2_guard_heard(evc__v2_pguard_t *pg, const struct sockaddr *from, size_t len, bool auth);
/* Its HEARTBEAT was delivered (from: where it came from; may be NULL). */
void evc__v2_guard_known(evc__v2_pguard_t *pg, const struct sockaddr *from);
/* A legacy-format HEARTBEAT of len bytes from `from`: that host is KNOWN
 * (with EVC_V2_PLAIN_RTX_FACTOR times its bytes as credit) to the first v2
 * requester that NAKs from it. */
void evc__v2_guard_host_heard(evc__v2_guard_t *g, const struct sockaddr *from, size_t len, uint64_t now_us);
/* A NAK from requester pg (NULL: never heard) at from: true when it may be
 * answered (KNOWN or AUTH, from the address it was heard at, or from a host
 * heard in a legacy HEARTBEAT: pg becomes KNOWN there); else counted. */
bool evc__v2_guard_nak_admit(evc__v2_guard_t *g, evc__v2_pguard_t *pg, const struct sockaddr *from);
/* One retransmission of len bytes for an admitted requester: true (and
 * charged) when its budget and the total budget allow it; else counted. */
bool evc__v2_guard_rtx(evc__v2_guard_t *g, evc__v2_pguard_t *pg, size_t len, uint64_t now_us);
/* A NAK is due for sender pg at address to: true when it may be sent now
 * (the sender made progress, and, unless it is authenticated, to is within
 * its NAK rate); else counted. */
bool evc__v2_guard_nak_send(evc__v2_guard_t *g, const evc__v2_pguard_t *pg, const struct sockaddr *to,
			    uint64_t now_us);

/* Memory: charge (delta > 0) or release (delta < 0) receive state of pg. */
void evc__v2_guard_charge(evc__v2_guard_t *g, evc__v2_pguard_t *pg, long long delta);
/* True when adding extra bytes to the charged state plus other_bytes (state
 * bounded elsewhere: reassembly) would pass the bound. */
bool evc__v2_guard_over(const evc__v2_guard_t *g, size_t extra, size_t other_bytes);
/* Order of shedding: true when a goes before b (less trusted, then heard
 * longer ago: a_heard_us / b_heard_us). */
bool evc__v2_guard_sheds_first(const evc__v2_pguard_t *a, uint64_t a_heard_us, const evc__v2_pguard_t *b,
			       uint64_t b_heard_us);

#endif
