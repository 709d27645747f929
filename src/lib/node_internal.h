/*
 * node_internal.h -- the node's private state, shared by node.c (the bus) and
 * node_report.c (peers text/JSON, stats JSON). Nothing outside src/lib sees it.
 */
#ifndef EVCAST_NODE_INTERNAL_H
#define EVCAST_NODE_INTERNAL_H

#include "internal.h"

typedef enum evc__node_state {
	EVC__NODE_NEW,
	EVC__NODE_RUNNING,
	EVC__NODE_CLOSING,
} evc__node_state_t;

typedef struct evc__consumer {
	int id;
	evcast_consumer_cb cb; /* NULL: removed during a dispatch, compacted after */
	void *ud;
} evc__consumer_t;

struct evcast_node {
	uv_loop_t *loop;
	evc__logger_t lg;
	evc__node_state_t state;
	evcast_config_t *cfg; /* own copy */
	evcast_bindings_t *bindings;
	evcast_legacy_key_t *key; /* NULL: plaintext */
	evc__udp_t *udp;
	uv_timer_t hb_timer, sweep_timer;
	evc__peers_t peers;
	evc__consumer_t *consumers;
	size_t nconsumers, cconsumers;
	int next_consumer_id;
	unsigned dispatch_depth, fire_depth;
	bool consumers_dirty;
	evcast_stats_t stats;
	evc__ratelimit_t rl_rx, rl_tx;
	uint8_t *txbuf;
	uint64_t sequence, start_us;
	char core_uuid[37];
	char hostname[256];
	char ipv4[64], ipv6[64];
	int closing;
	void (*close_cb)(void *ud);
	void *close_ud;
};

#endif
