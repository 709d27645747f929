/*
 * v2proto_int.h -- what v2proto.c (the endpoint, send side, NAK answers,
 * STATUS sending, timers) and v2proto_rx.c (the receive pipeline) share: the
 * endpoint's private struct and per-sender receive state, and the few
 * functions one calls in the other. Nothing else includes it; the public
 * (library-internal) interface of an endpoint is v2.h.
 */
#ifndef EVCAST_V2PROTO_INT_H
#define EVCAST_V2PROTO_INT_H

#include "v2.h"

typedef struct held {
	evc__v2_hdr_t h;
	bool authenticated;
	uint8_t *data;
	size_t len;
} held_t;

typedef struct rx_peer {
	uint8_t node_id[EVC_V2_NODE_ID_LEN];
	struct sockaddr_storage addr;
	bool have_addr;
	uint64_t last_heard_us;
	evc__v2_gaps_t gaps;
	held_t *held; /* sorted by seq in [hhead, nheld) */
	size_t hhead, nheld, hcap, hbytes;
	struct evc__v2_ep *ep;
	evc__v2_fcrx_t fcrx; /* flow control: STATUS to this sender */
	evc__v2_pguard_t g; /* trust, budgets, receive state charged (v2guard.c) */
} rx_peer_t;

#define HOLD_MAX_ITEMS 8192u

struct evc__v2_ep {
	evc__v2_ep_cfg_t cfg;
	const evc__v2_keyring_t *kr;
	evc__v2_ep_cbs_t cbs;
	/* send */
	uint64_t data_seq, ctl_seq;
	uint8_t *batch_buf;
	size_t max_chunk; /* plaintext bytes per DATA datagram */
	evc__v2_batch_t batch;
	uint64_t batch_since_us; /* 0: batch empty */
	evc__v2_txring_t ring;
	uint64_t next_announce_ms; /* UINT64_MAX: none due */
	uint8_t *dg;               /* scratch datagram */
	evc__zbatch_t *ztx;        /* batch compression (cfg.compress), made on first use */
	size_t zcap;               /* compress: plaintext batch bound, from the last ratio */
	unsigned zprobe;           /* compress: batches until the bound is raised again */
	/* receive */
	evc__v2_replay_t replay;
	evc__v2_reasm_t *reasm;
	rx_peer_t **peers; /* sorted by node id */
	size_t npeers;
	uint8_t *pt; /* scratch plaintext */
	evc__zbatch_t *zrx; /* decompression of ZSTD datagrams, made on first use */
	evc__v2_ep_stats_t st;
	/* flow control */
	evc__v2_fc_t fc;
	evc__v2_ep_fc_cbs_t fcb;
	bool fc_blocked;         /* not writable when last asked: the writable callback is due */
	bool rx_hold, rx_release_pending;
	uint64_t rx_hold_us;     /* when the hold began, or last forced a delivery */
	unsigned delivering;     /* inside cbs.deliver */
	evc__v2_guard_t guard; /* hostile-input bounds */
};

/* v2proto.c */
int evc__v2ep_drop(evc__v2_ep_t *ep, int rc); /* counts a dropped datagram's reason; returns rc */
void evc__v2ep_fc_check_open(evc__v2_ep_t *ep);
int evc__v2ep_send_control(evc__v2_ep_t *ep, uint8_t type, const uint8_t *pl, size_t plen, uint64_t now_us,
			   const struct sockaddr *to);
void evc__v2ep_on_nak(evc__v2_ep_t *ep, evc__v2_pguard_t *rq, const struct sockaddr *from, const evc__v2_nak_t *nak,
		      uint64_t now_us);

/* v2proto_rx.c */
void evc__v2ep_peer_free(rx_peer_t *p);
void evc__v2ep_release(evc__v2_ep_t *ep, rx_peer_t *p, uint64_t now_us);
void evc__v2ep_release_n(evc__v2_ep_t *ep, rx_peer_t *p, uint64_t now_us, size_t force);
void evc__v2ep_fc_status(evc__v2_ep_t *ep, rx_peer_t *p, uint64_t now_us, bool force);

#endif
