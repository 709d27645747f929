/*
 * node_internal.h -- the node's private state, shared by node.c (the bus) and
 * node_report.c (peers text/JSON, stats JSON). Nothing outside src/lib sees it.
 */
#ifndef EVCAST_NODE_INTERNAL_H
#define EVCAST_NODE_INTERNAL_H

#include "internal.h"
#include "v2conf.h"

#define EVC__V2_NAMES 64
#define EVC__V2_TXBUF (EVCAST_V2_MAX_EVENT + 64 * 1024)

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

#define EVC__NODE_V2NAMES 16

/* a writable watcher (node_watch.c); cb NULL: spent or cancelled */
typedef struct evc__watch {
	int id;
	void (*cb)(void *ud);
	void *ud;
} evc__watch_t;
#define EVC__WATCH_MAX 4096 /* watchers armed at once (evcast_node_watch_writable) */

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
	time_t date_secs; /* second the cached date texts are for */
	char date_local[32], date_gmt[48];
	size_t date_local_len, date_gmt_len;
	evcast_event_t *std_tpl; /* the standard headers, numbers as placeholders, for date_secs (node.c) */
	uint64_t std_gen;         /* std_tpl's generation, counted from 1 (evc__event_new_received_tpl) */
	evcast_event_t *rx_spare; /* a received event's storage, kept for the next one (node.c) */
	/* senders heard by v2 that the peer table does not hold yet (no HEARTBEAT
	 * since this node started): their legacy copies are shadows too (node.c) */
	struct {
		char name[64];
		uint64_t seen_ms;
	} v2names[EVC__NODE_V2NAMES];
	unsigned v2names_next;
	char hostname[256];
	char ipv4[64], ipv6[64];
	/* protocol v2 (node_v2.c) */
	evc__v2_settings_t *v2s;
	evc__v2_keyring_t *kr; /* NULL: plaintext v2 */
	evc__v2_ep_t *ep;
	uv_timer_t v2_timer;
	uint64_t v2_due_us;
	uint64_t v2_last_tx_us; /* when the last event was handed to v2 */
	bool v2_turn_flush;     /* a batch is building: flush it when this loop turn ends */
	uint8_t *v2_txbuf;
	uint8_t node_id[EVC_V2_NODE_ID_LEN];
	struct sockaddr_storage v2_from; /* source of the datagram being received */
	bool v2_from_valid;
	struct {
		uint8_t id[EVC_V2_NODE_ID_LEN];
		char name[64];
		uint64_t used;
	} v2_names[EVC__V2_NAMES];
	uint64_t v2_name_clock;
	/* the sender of the last delivered event, its Multicast-* values formatted
	 * once for all its events (node_v2.c cb_deliver) */
	struct {
		bool valid, authenticated;
		uint8_t id[EVC_V2_NODE_ID_LEN];
		uint64_t epoch;
		char hex[2 * EVC_V2_NODE_ID_LEN + 1], ep[24];
		size_t nep;
		size_t slot; /* its v2_names entry when last remembered */
		const char *known; /* known_name's answer for it, while v2_name_clock is known_clock */
		uint64_t known_clock;
		evcast_event_t *tail; /* its Multicast-Protocol/-Authenticated/-Node-Id/-Epoch headers */
	} v2_rx;
	struct evc__dedupe *dedupe; /* node_relay.c; NULL: no exactly-once filter */
	unsigned rx_holds;          /* evcast_node_rx_hold count: > 0 holds v2 delivery */
	/* back-pressure: writable watchers (node_watch.c) */
	evc__watch_t *watches;
	size_t nwatch, cwatch;
	int next_watch_id;
	uv_idle_t watch_idle; /* runs the watchers on the next loop turn */
	bool watch_idle_on, watch_running;
	bool wr_test_blocked; /* evc__node_test_block */
	/* v2 hostile-input bounds: receive-memory sheds already logged (node_v2.c) */
	uint64_t v2_shed_logged;
	int closing;
	void (*close_cb)(void *ud);
	void *close_ud;
	/* peer UP/DOWN log lines (node.c fire_peer_event): rate-limited; the
	 * suppressed ones are counted and reported by the next line or sweep */
	evc__ratelimit_t rl_peer;
	uint64_t peer_log_reported; /* rl_peer.suppressed when last reported */
};

/* node.c: a received event (legacy or v2) -- peer accounting, then fire. */
void evc__node_received(evcast_node_t *n, evcast_event_t *ev, const char *sender, const struct sockaddr *from,
			bool v2);

/* node_peers.c: fire multicast::peerup/peerdown for peer (last_ms: its
 * previous sighting, 0 = Never) and write its rate-limited log line; report
 * the count of suppressed peer lines when the limiter allows (sweep). */
#define EVC__PEER_LOG_BURST 20
#define EVC__PEER_LOG_PER_SEC 1
void evc__node_peer_event(evcast_node_t *n, const char *subclass, const char *peer, uint64_t last_ms);
void evc__node_peer_log_flush(evcast_node_t *n);

/* node_relay.c: 1 first sight of (uuid, seq) (or no filter / no pair), 0 duplicate. */
int evc__node_dedupe_check(evcast_node_t *n, const char *uuid, const char *seq);
void evc__node_dedupe_free(evcast_node_t *n);

/* node_v2.c */
int evc__node_v2_prepare(evcast_node_t *n, evcast_config_t *cfg, evc__v2_settings_t **ps, evc__v2_keyring_t **pkr);
int evc__node_v2_start(evcast_node_t *n);
void evc__node_v2_reload(evcast_node_t *n, evc__v2_settings_t *s, evc__v2_keyring_t *kr);
void evc__node_v2_free(evcast_node_t *n);
void evc__node_v2_send(evcast_node_t *n, const evcast_event_t *ev);
void evc__node_v2_recv(evcast_node_t *n, const uint8_t *buf, size_t len, const struct sockaddr *from);
void evc__node_v2_stats(const evcast_node_t *n, evcast_stats_t *out);
bool evc__node_v2_sends(const evcast_node_t *n, int protocol);
/* node_v2.c: false while the v2 flow-control window toward the slowest live
 * receiver is exhausted (evcast_node_writable). */
bool evc__node_v2_writable(const evcast_node_t *n);
/* node.c: node_v2.c calls this when the window opens again; it schedules the
 * armed evcast_node_watch_writable callbacks. */
void evc__node_writable_changed(evcast_node_t *n);
/* node_watch.c: the watcher list's lifecycle (new / close / finish). */
void evc__node_watch_init(evcast_node_t *n);
void evc__node_watch_drop(evcast_node_t *n);
void evc__node_watch_free(evcast_node_t *n);
/* node_watch.c, for tests only: closes (true) or opens (false) the window as
 * flow control does -- evcast_node_writable reads it, and opening it calls
 * evc__node_writable_changed like node_v2.c does. Production code never calls
 * it. evc__node_watch_count: watchers armed now. */
void evc__node_test_block(evcast_node_t *n, bool blocked);
size_t evc__node_watch_count(const evcast_node_t *n);
/* node_v2.c: the receive hold on (first evcast_node_rx_hold) or off (last
 * release: held events delivered, STATUS sent). */
void evc__node_v2_rx_hold(evcast_node_t *n, bool on);
/* node_v2.c: the HEARTBEAT header that says this node takes STATUS, or NULL. */
const char *evc__node_v2_fc_feature(const evcast_node_t *n);
void evc__node_id_hex(const evcast_node_t *n, char out[33]);

#endif
