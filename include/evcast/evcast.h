/*
 * evcast.h -- the published API of libevcast. If it is not here, it is not API.
 *
 * libevcast is a cluster event bus for telephony switches: it speaks the legacy
 * FreeSWITCH mod_event_multicast wire format byte for byte and runs a node (UDP
 * transport, bindings, heartbeats, peer table) on a caller-provided libuv loop.
 *
 * Sections, in order:
 *   1. errors and logging      4. legacy codec (mod_event_multicast datagrams)
 *   2. allocator               5. configuration (event_multicast.conf, expat)
 *   3. events (model, plain    6. bindings
 *      text, JSON)             7. peers     8. node (the running bus)
 *                              9. ESL framing (event-socket messages)
 *                             10. v2 protocol (keygen)
 *                             11. relay (other transports: exactly-once
 *                                 filter, NATS payloads)
 *
 * Conventions (libuv's): functions return 0 on success or a negative EVCAST_E*
 * code; *_new/_free for objects the library allocates (free(NULL) is a no-op);
 * *_start/_stop for activity. A function that takes a callback and fails never
 * calls that callback. The library never prints and never exits: it reports
 * through the log callback given to it. Ownership is stated per function.
 */
#ifndef EVCAST_EVCAST_H
#define EVCAST_EVCAST_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EVCAST_VERSION "0.1.0"

/* ---------------------------------------------------------------- 1. errors */

enum {
	EVCAST_OK = 0,
	EVCAST_ENOMEM = -1,   /* allocation failed */
	EVCAST_EINVAL = -2,   /* invalid argument or value */
	EVCAST_EPARSE = -3,   /* malformed input (config, event text, frame) */
	EVCAST_ETRUNC = -4,   /* input shorter than its framing says */
	EVCAST_ENOMAGIC = -5, /* legacy datagram: no MAGIC found */
	EVCAST_EPSK = -6,     /* legacy datagram: PSK set, decryption or padding failed */
	EVCAST_EPLAIN = -7,   /* legacy datagram: plaintext received while a PSK is set */
	EVCAST_E2BIG = -8,    /* output does not fit / limit exceeded */
	EVCAST_EIO = -9,      /* system call failed (errno logged) */
	EVCAST_ENOENT = -10,  /* no such item */
	EVCAST_EEMPTY = -11,  /* zero-length input */
	EVCAST_ESTATE = -12,  /* operation not valid in the current state */
	EVCAST_EAGAIN = -13,  /* back-pressure: not taken now, retry when writable */
};

/* A static English description of an EVCAST_E* code; never NULL. */
const char *evcast_strerror(int err);

enum evcast_log_level {
	EVCAST_LOG_ERR = 0,
	EVCAST_LOG_WARNING = 1,
	EVCAST_LOG_NOTICE = 2,
	EVCAST_LOG_INFO = 3,
	EVCAST_LOG_DEBUG = 4,
};

/* Log sink: msg is borrowed until the callback returns; it has no trailing newline. */
typedef void (*evcast_log_cb)(void *ud, int level, const char *msg);

/* "err", "warning", "notice", "info", "debug" (also "error", "warn", "crit" -> err).
 * Returns the level, or EVCAST_EINVAL. */
int evcast_log_level_parse(const char *name);
const char *evcast_log_level_name(int level);

/* A string that came from the network, made safe for a log line, a terminal
 * or a metrics label (docs/OPERATIONS.md, "Names from the network"): printable
 * ASCII and valid UTF-8 are copied; backslash becomes \\, newline, CR and tab
 * \n \r \t, other control bytes, DEL and bytes that are not valid UTF-8
 * \xHH, C1 controls, direction marks, line/paragraph separators and bidi
 * embeddings/isolates \uHHHH. Writes at most cap bytes with the NUL (cap 0:
 * nothing written); a result cut short ends with "..." at a whole character
 * or escape. Returns the length the whole result needs, without the NUL (>=
 * cap: it was cut). s NULL is written "(null)". Never allocates. */
size_t evcast_escape_text(const char *s, char *out, size_t cap);

/* ------------------------------------------------------------- 2. allocator */

/* Replace the allocator used by the whole library (tests use this to fail the
 * Nth allocation). Must be called before any other evcast function; all four
 * functions must be non-NULL. Returns EVCAST_EINVAL otherwise. */
int evcast_replace_allocator(void *(*malloc_fn)(size_t), void *(*realloc_fn)(void *, size_t),
			     void *(*calloc_fn)(size_t, size_t), void (*free_fn)(void *));

/* Frees memory the library handed out (strings from *_to_* functions). */
void evcast_free(void *p);

/* ---------------------------------------------------------------- 3. events */

typedef struct evcast_event evcast_event_t;

/* New empty event (no headers, no body). Returns NULL when out of memory. */
evcast_event_t *evcast_event_new(void);
/* New event with "Event-Name: name" and, when subclass is non-NULL,
 * "Event-Subclass: subclass". Returns NULL when out of memory. */
evcast_event_t *evcast_event_new_named(const char *name, const char *subclass);
void evcast_event_free(evcast_event_t *ev);
/* Deep copy; NULL when out of memory. */
evcast_event_t *evcast_event_dup(const evcast_event_t *ev);

/* Headers: ordered, duplicates kept, names looked up case-insensitively.
 * Strings are copied. add appends; set replaces the first match (appends when
 * absent); del removes every match (returns the number removed). */
int evcast_event_add_header(evcast_event_t *ev, const char *name, const char *value);
int evcast_event_add_header_n(evcast_event_t *ev, const char *name, size_t nname, const char *value,
			      size_t nvalue);
int evcast_event_set_header(evcast_event_t *ev, const char *name, const char *value);
int evcast_event_del_header(evcast_event_t *ev, const char *name);
/* First value of the header, borrowed (valid until the event changes); NULL when absent. */
const char *evcast_event_get_header(const evcast_event_t *ev, const char *name);
size_t evcast_event_header_count(const evcast_event_t *ev);
/* The i-th header, borrowed. Returns EVCAST_ENOENT past the end. */
int evcast_event_header_at(const evcast_event_t *ev, size_t i, const char **name, const char **value);

/* Body: copied; NULL or len 0 clears it. get returns NULL when there is none. */
int evcast_event_set_body(evcast_event_t *ev, const char *body, size_t len);
const char *evcast_event_get_body(const evcast_event_t *ev, size_t *len);

/* Event-Name / Event-Subclass shortcuts (borrowed, may be NULL). */
const char *evcast_event_name(const evcast_event_t *ev);
const char *evcast_event_subclass(const evcast_event_t *ev);

/* Plain text (the legacy plain form, docs/PROTOCOL.md Appendix C): "Name: url-encoded-value\n" per header, then
 * "Content-Length: N\n\n" + body, or "\n". Returns a NUL-terminated string the
 * caller frees with evcast_free (its length in *len when len is non-NULL), or
 * NULL when out of memory. */
char *evcast_event_to_plain(const evcast_event_t *ev, size_t *len);
/* Same, appended into buf of cap bytes (no NUL). Returns the bytes written, or
 * EVCAST_E2BIG when it does not fit. */
int evcast_event_write_plain(const evcast_event_t *ev, char *buf, size_t cap);
/* Parse plain text (values URL-decoded; the body taken by Content-Length, which
 * is itself not kept as a header). Lines may end in \n or \r\n. On success
 * *out is a new event the caller frees. Errors: EVCAST_EPARSE, EVCAST_ETRUNC,
 * EVCAST_EEMPTY, EVCAST_ENOMEM. */
int evcast_event_from_plain(const char *text, size_t len, evcast_event_t **out);

/* JSON form of the event socket (docs/EVENT_SOCKET.md): an object of header -> value (repeated headers as
 * arrays), body as "_body". Returned string freed with evcast_free; NULL on OOM. */
char *evcast_event_to_json(const evcast_event_t *ev);
int evcast_event_from_json(const char *text, size_t len, evcast_event_t **out);
/* Vector form used by the CLI: {"headers": [[name, value], ...], "body": text|null}. */
char *evcast_event_to_vector_json(const evcast_event_t *ev);
int evcast_event_from_vector_json(const char *text, size_t len, evcast_event_t **out);
/* XML form (FreeSWITCH's "event xml": <event><headers><Name>v</Name>...</headers><body>). */
char *evcast_event_to_xml(const evcast_event_t *ev);

/* URL encoding exactly as FreeSWITCH's switch_url_encode (see the spec): writes at
 * most cap-1 bytes plus NUL; returns the length needed (excluding NUL). */
size_t evcast_url_encode(const char *in, size_t len, char *out, size_t cap);
/* Decodes %XX (either case) in place semantics into out (cap >= len+1 suffices);
 * returns the decoded length. */
size_t evcast_url_decode(const char *in, size_t len, char *out);

/* ---------------------------------------------------------- 4. legacy codec */

#define EVCAST_LEGACY_MAGIC_LEN 21
#define EVCAST_LEGACY_TAIL_LEN 272   /* zero tail a real FreeSWITCH sends on plain datagrams */
#define EVCAST_LEGACY_UUID_HDR 256   /* uuid text + zeros before the ciphertext */
#define EVCAST_LEGACY_MAX_DGRAM 65507 /* largest UDP payload over IPv4 */

extern const uint8_t evcast_legacy_magic[EVCAST_LEGACY_MAGIC_LEN];

/* The PSK (key bytes) for the Blowfish mode; NULL/empty means plaintext. */
typedef struct evcast_legacy_key evcast_legacy_key_t;
/* Prepares the cipher schedule from psk (first 72 bytes used). *out is freed with
 * evcast_legacy_key_free. EVCAST_EINVAL for an empty psk. */
int evcast_legacy_key_new(const char *psk, size_t len, evcast_legacy_key_t **out);
void evcast_legacy_key_free(evcast_legacy_key_t *key);

/* Encode ev into a datagram in buf (cap bytes). key NULL: plaintext with the 272
 * zero tail. With a key: uuid (36 chars; NULL draws a random v4) header then
 * BF-CBC. Returns the datagram length, or EVCAST_E2BIG / EVCAST_EINVAL. The event
 * is serialized as is (add Multicast-Sender before calling). */
int evcast_legacy_encode(const evcast_event_t *ev, const evcast_legacy_key_t *key, const char *uuid,
			 uint8_t *buf, size_t cap);

/* Decode one datagram. key NULL: plaintext expected (a datagram that looks
 * encrypted is rejected with EVCAST_ENOMAGIC). With a key: plaintext is
 * EVCAST_EPLAIN, bad decryption EVCAST_EPSK. Other errors: EVCAST_EEMPTY,
 * EVCAST_ETRUNC, EVCAST_ENOMAGIC, EVCAST_EPARSE, EVCAST_ENOMEM. On success *out
 * is a new event (the received headers as sent, values decoded). */
int evcast_legacy_decode(const uint8_t *buf, size_t len, const evcast_legacy_key_t *key,
			 evcast_event_t **out);

/* ---------------------------------------------------------- 5. configuration */

#define EVCAST_MAX_ADDRESSES 16

typedef struct evcast_param {
	char *name;
	char *value;
	int line; /* line in the file, 1-based */
} evcast_param_t;

/* One <configuration name="..."> block: its <settings> params, in order. */
typedef struct evcast_section {
	char *name;
	int line;
	evcast_param_t *params;
	size_t nparams;
} evcast_section_t;

enum evcast_protocol {
	EVCAST_PROTO_LEGACY = 0, /* mod_event_multicast datagrams */
	EVCAST_PROTO_V2 = 2,     /* evcast wire protocol v2 (docs/PROTOCOL.md) */
};

typedef struct evcast_dest {
	char text[64];                /* as written in the config */
	int protocol;                 /* EVCAST_PROTO_*: the format sent there */
	struct sockaddr_storage addr; /* with the configured port */
	socklen_t addrlen;
	bool multicast;
} evcast_dest_t;

/* The parsed configuration. Everything here is owned by the config. */
typedef struct evcast_config {
	char *path; /* file it came from, or NULL */
	/* event_multicast.conf, legacy params */
	evcast_dest_t dests[EVCAST_MAX_ADDRESSES];
	size_t ndests;
	uint16_t port;        /* default 4242 */
	char *bindings;       /* raw text; default "" (nothing is sent) */
	int ttl;              /* 0..255, default 1 */
	bool loopback;        /* default false */
	char *psk;            /* NULL when unset */
	char *source_address; /* default "0.0.0.0" */
	char *source_address_ipv6; /* default "::" */
	/* evcast's own params */
	char *node_name;           /* default: host name */
	char *multicast_interface; /* name or address; NULL = kernel's choice */
	unsigned heartbeat_interval; /* seconds, default 20 */
	unsigned peer_timeout;       /* seconds, default 60, >= 1 */
	char *control_socket;        /* default EVCAST_DEFAULT_CONTROL_SOCKET */
	int log_level;               /* default EVCAST_LOG_NOTICE */
	/* every block of the file, for the modules of later capabilities */
	evcast_section_t *sections;
	size_t nsections;
	/* hash of the file's bytes, to apply a reload only when it changed */
	uint8_t digest[32];
} evcast_config_t;

#define EVCAST_DEFAULT_CONTROL_SOCKET "/run/evcast/evcastd.sock"

/* Parse an XML config. The root is <configuration name="event_multicast.conf">
 * or <evcast> holding <configuration> blocks. Unknown params are logged (warning,
 * naming param and line) through log; an invalid value fails with EVCAST_EINVAL
 * or EVCAST_EPARSE and a message in err (may be NULL) naming the file, line,
 * param, value and why. On success *out is a new config (evcast_config_free).
 * evcast_config_load opens path without blocking and refuses anything but a
 * regular file (a FIFO, a directory, a device) with EVCAST_EIO and the reason. */
int evcast_config_parse(const char *xml, size_t len, const char *path, evcast_log_cb log, void *log_ud,
			evcast_config_t **out, char *err, size_t errlen);
int evcast_config_load(const char *path, evcast_log_cb log, void *log_ud, evcast_config_t **out, char *err,
		       size_t errlen);
void evcast_config_free(evcast_config_t *cfg);
/* The section of that name (case-insensitive), or NULL. Borrowed. */
const evcast_section_t *evcast_config_section(const evcast_config_t *cfg, const char *name);
/* Parse "a.b.c.d", "[v6]" or "v6" with port into a destination. */
int evcast_dest_parse(const char *text, uint16_t port, evcast_dest_t *out);

/* -------------------------------------------------------------- 6. bindings */

typedef struct evcast_bindings evcast_bindings_t;

/* Parse "NAME NAME CUSTOM sub1 sub2 ... ALL". Returns EVCAST_EINVAL for bad input. */
int evcast_bindings_new(const char *text, evcast_bindings_t **out);
void evcast_bindings_free(evcast_bindings_t *b);
/* True when the bindings select this event (by Event-Name; CUSTOM by Event-Subclass). */
bool evcast_bindings_match(const evcast_bindings_t *b, const evcast_event_t *ev);
/* The same for an event of this Event-Name and Event-Subclass (NULL: none),
 * without an event: e.g. the original of a received multicast::event. */
bool evcast_bindings_match_name(const evcast_bindings_t *b, const char *name, const char *subclass);
/* Add one more rule ("NAME" or "CUSTOM", subclass); used by subscribers. */
int evcast_bindings_add(evcast_bindings_t *b, const char *name, const char *subclass);
/* Remove a rule; EVCAST_ENOENT when it was not there. */
int evcast_bindings_remove(evcast_bindings_t *b, const char *name, const char *subclass);
bool evcast_bindings_empty(const evcast_bindings_t *b);

/* ------------------------------------------------------------------ 7. peers */

typedef struct evcast_peer_info {
	const char *name;  /* borrowed */
	bool up;
	uint64_t last_seen_ms; /* wall clock, ms since the epoch; 0 = never */
	char addr[64];         /* address the last heartbeat came from */
	uint64_t events_rx;    /* events received from it */
} evcast_peer_info_t;

/* ------------------------------------------------------------------- 8. node */

typedef struct evcast_node evcast_node_t;

#define EVCAST_V2_REASONS 32

typedef struct evcast_stats {
	uint64_t tx_events, tx_bytes, tx_errors;
	uint64_t rx_datagrams, rx_bytes, rx_events, rx_self, rx_errors;
	/* drops per reason */
	uint64_t drop_empty, drop_trunc, drop_nomagic, drop_psk, drop_plain, drop_parse, drop_nomem,
		drop_oversize, drop_consumer_overflow;
	uint64_t local_events;  /* events fired locally */
	uint64_t filtered;      /* local events not selected by the bindings */
	uint64_t loop_prevented; /* multicast::* events not re-sent */
	uint64_t heartbeats_tx, heartbeats_rx, peerups, peerdowns;
	uint64_t reloads, reload_failures;
	uint64_t tx_oversize;        /* local events too large for one legacy datagram */
	uint64_t fire_depth_exceeded; /* events fired from consumers nested too deep */
	uint64_t peers_refused;      /* peers not tracked because the table is full */
	uint64_t rx_legacy_shadow;   /* legacy copies of events a v2 peer also sent */
	/* evcast wire protocol v2 */
	uint64_t v2_tx_events, v2_tx_datagrams, v2_tx_fragments, v2_retransmits, v2_announces;
	uint64_t v2_naks_tx, v2_naks_rx, v2_rx_datagrams, v2_rx_events;
	uint64_t v2_lost, v2_recovered, v2_hold_overflow, v2_nomem, v2_drops_total;
	uint64_t v2_drops[EVCAST_V2_REASONS]; /* per reject reason; names: evcast_v2_reason_name */
	/* peer table and its log lines (forged names) */
	uint64_t peers_evicted;       /* DOWN peers removed to make room for a new name (table full) */
	uint64_t peer_log_suppressed; /* peer UP/DOWN log lines not written (rate limit) */
	/* back-pressure to publishers (node_watch.c) */
	uint64_t fire_eagain;            /* evcast_node_try_fire calls refused: window closed */
	uint64_t writable_watch_runs;    /* writable watchers run */
	uint64_t writable_watch_refused; /* evcast_node_watch_writable refused: too many armed */
	/* v2 flow control (docs/PROTOCOL.md 14) */
	uint64_t fc_receivers;  /* receivers in this sender's flow-control set now (a gauge) */
	uint64_t fc_blocked;    /* times the window toward the slowest receiver ran out */
	uint64_t fc_overdraft;  /* v2 datagrams sent past the window (evcast_node_fire when not writable) */
	uint64_t fc_dropped;    /* receivers dropped from flow control for max-lag */
	uint64_t fc_left;       /* receivers that left the set after peer-timeout of silence */
	uint64_t fc_full;       /* STATUS refused because the set was full */
	uint64_t fc_evicted;    /* unconfirmed datagrams evicted from a full retransmit ring */
	uint64_t status_tx, status_rx; /* STATUS messages sent (as receiver), received (as sender) */
	uint64_t status_stale;  /* STATUS for another node or an older epoch of ours */
	uint64_t fc_rx_holds;   /* times a local consumer held v2 delivery (evcast_node_rx_hold) */
	uint64_t fc_rx_hold_forced; /* held datagrams delivered anyway: the hold-back was full */
	/* v2 hostile-input bounds (docs/PROTOCOL.md 9.5, 10) */
	uint64_t v2_rx_mem_shed;     /* held state given up: the receive-memory bound was hit */
	uint64_t v2_unknown_evicted; /* unknown senders' state dropped for another (max-unknown-senders) */
	uint64_t v2_naks_refused;    /* NAKs not answered: requester not known at that address */
	uint64_t v2_rtx_limited;     /* retransmissions withheld by a retransmit budget */
	uint64_t v2_rtx_bytes;       /* bytes retransmitted */
	uint64_t v2_naks_limited;    /* times a due NAK was held back: the destination is over nak-rate */
	uint64_t v2_naks_unproven;   /* NAKs not sent: the sender showed nothing but a gap */
} evcast_stats_t;

/* Name of v2 reject reason i (0 <= i < EVCAST_V2_REASONS: "short", "auth",
 * "replay", ...), or NULL past the last one. */
const char *evcast_v2_reason_name(int i);

/* The counters as a JSON object {"tx_events": N, ...}; freed with evcast_free. */
char *evcast_stats_to_json(const evcast_stats_t *s);

/* Delivery of an event to a local consumer. ev is borrowed until the callback
 * returns (evcast_event_dup to keep it). */
typedef void (*evcast_consumer_cb)(void *ud, const evcast_event_t *ev);

/* Create a node on loop with cfg (copied: the node keeps its own parsed state;
 * the caller still frees cfg). Nothing is bound until evcast_node_start. */
int evcast_node_new(uv_loop_t *loop, const evcast_config_t *cfg, evcast_log_cb log, void *log_ud,
		    evcast_node_t **out);
/* Open the sockets, join the groups, start the heartbeat. Errors name the
 * address in the log. */
int evcast_node_start(evcast_node_t *node);
/* Apply a new configuration: re-binds sockets only when addresses, port,
 * interface or source addresses changed; keeps the peer table. Returns 0 when
 * applied, 1 when unchanged (same digest), negative when it failed (the old
 * configuration then stays in force; the cause is logged). cfg is copied. */
int evcast_node_reload(evcast_node_t *node, const evcast_config_t *cfg);
/* Stop all activity and release handles; cb (may be NULL) runs once everything
 * is closed, from the loop; then the node is freed. */
void evcast_node_close(evcast_node_t *node, void (*cb)(void *ud), void *ud);

/* Fire a local event: add the node's standard headers when absent (Core-UUID,
 * FreeSWITCH-Hostname, ... Event-Date-*, Event-Sequence), deliver it to local
 * consumers, and send it to the group when the bindings select it (never a
 * multicast::* event, never LOG). Ownership of ev moves to the node. */
int evcast_node_fire(evcast_node_t *node, evcast_event_t *ev);

/* Back-pressure (docs/PROTOCOL.md, flow control). A node is writable while
 * every live flow-controlled v2 receiver has room for more; a node without v2
 * flow control is always writable. evcast_node_fire always takes the event
 * (for the node's own low-volume events: sent at once even past the window,
 * counted in fc_overdraft, bounded by the retransmit buffer); publishers that can wait use
 * evcast_node_try_fire, which returns EVCAST_EAGAIN without taking ev (the
 * caller still owns it) when the node is not writable, and then wait for
 * evcast_node_watch_writable's callback before trying again. */
int evcast_node_writable(const evcast_node_t *node);
int evcast_node_try_fire(evcast_node_t *node, evcast_event_t *ev);
/* Arm a one-shot callback, run from the loop (never from inside this call)
 * when the node is writable: on the next loop turn if it is writable now,
 * else when it becomes so. Returns an id > 0 for evcast_node_unwatch_writable
 * (needed only to cancel before it ran; the id is spent once cb ran), or a
 * negative error. Watchers run in the order they were armed. */
int evcast_node_watch_writable(evcast_node_t *node, void (*cb)(void *ud), void *ud);
void evcast_node_unwatch_writable(evcast_node_t *node, int id);
/* Receive-side back-pressure: a local consumer that cannot keep up (an
 * event-socket client whose queue passed its high mark) holds the node's
 * delivery of v2 events; they wait in the bounded hold-back, the node's
 * advertised flow-control window shrinks, and so the senders slow down.
 * Holds nest (a count); evcast_node_rx_release undoes one, and the held
 * events are delivered, in order, once the count is back to 0. A hold is
 * bounded: past max-lag, or when holding more would exceed hold-bytes or
 * receive-memory, the oldest held events are delivered anyway (counted in
 * fc_rx_hold_forced). Legacy-format datagrams carry no feedback and are
 * delivered regardless. */
void evcast_node_rx_hold(evcast_node_t *node);
void evcast_node_rx_release(evcast_node_t *node);

/* Subscribe a local consumer (all events; consumers filter). Returns an id > 0
 * for evcast_node_unsubscribe, or a negative error. */
int evcast_node_subscribe(evcast_node_t *node, evcast_consumer_cb cb, void *ud);
void evcast_node_unsubscribe(evcast_node_t *node, int id);

/* Peers: calls fn for each known peer, in name order. info is borrowed. */
void evcast_node_peers(const evcast_node_t *node, void (*fn)(void *ud, const evcast_peer_info_t *info),
		       void *ud);
void evcast_node_stats(const evcast_node_t *node, evcast_stats_t *out);
/* The configuration in force (borrowed until the next reload). */
const evcast_config_t *evcast_node_config(const evcast_node_t *node);
const char *evcast_node_name(const evcast_node_t *node);
const char *evcast_node_core_uuid(const evcast_node_t *node);
/* Legacy multicast_peers text; caller frees with evcast_free. */
char *evcast_node_peers_text(const evcast_node_t *node);
/* JSON {"state":..., "node":..., "destinations":[...], "peers":[...], "stats":{...}}. */
char *evcast_node_peers_json(const evcast_node_t *node);

/* --------------------------------------------------------- 9. ESL framing */

/* Incremental parser for event-socket messages: a block of "Name: value"
 * lines ended by an empty line, then Content-Length bytes of body. Feed bytes
 * as they arrive; each complete message is returned as an event whose headers
 * are the block's lines (values NOT url-decoded) and whose body is the
 * Content-Length bytes. The first line of a command ("auth x", "api status")
 * is kept as header "_line". Limits: a header block over max_head bytes or a
 * body over max_body gives EVCAST_E2BIG. */
typedef struct evcast_esl_parser evcast_esl_parser_t;

typedef enum evcast_esl_mode {
	EVCAST_ESL_COMMANDS, /* server side: first line is a command */
	EVCAST_ESL_REPLIES,  /* client side: every line is a header */
} evcast_esl_mode_t;

int evcast_esl_parser_new(evcast_esl_mode_t mode, size_t max_head, size_t max_body,
			  evcast_esl_parser_t **out);
void evcast_esl_parser_free(evcast_esl_parser_t *p);
/* Append bytes (copied). EVCAST_E2BIG when the buffered input exceeds limits. */
int evcast_esl_parser_feed(evcast_esl_parser_t *p, const char *data, size_t len);
/* Next complete message: 1 and *out set (caller frees), 0 when more input is
 * needed, negative on a protocol error (the connection should be closed). */
int evcast_esl_parser_next(evcast_esl_parser_t *p, evcast_event_t **out);


/* ------------------------------------------------------- 10. v2 protocol */
/* evcast wire protocol v2 (docs/PROTOCOL.md). Additive section. */

#define EVCAST_V2_MAX_EVENT (1024 * 1024) /* largest event text v2 carries */
#define EVCAST_V2_KEYGEN_LEN 64           /* buffer size enough for evcast_v2_keygen */

/* `evcast keygen`: writes "ID:BASE64" (32 fresh random bytes, standard base64)
 * and a NUL into out, the form the key config accepts. Returns the length, or
 * EVCAST_EINVAL (key_id 0), EVCAST_E2BIG (cap too small), EVCAST_ENOMEM. */
int evcast_v2_keygen(uint32_t key_id, char *out, size_t cap);

/* --------------------------------------------------------------- 11. relay */
/* Other transports bridging sites (docs/MULTISITE.md). Additive section. */

typedef struct evcast_relay_stats {
	uint64_t duplicates;      /* events dropped as already seen (Core-UUID, Event-Sequence) */
	uint64_t too_old;         /* of which older than the 4096-sequence window */
	uint64_t origins;         /* origins tracked now */
	uint64_t origins_evicted; /* least recently used origins forgotten */
} evcast_relay_stats_t;

/* Installs (max_origins > 0) or removes (0) the exactly-once filter: every
 * received event, from multicast or evcast_node_input_text, whose
 * (Core-UUID, Event-Sequence) was already seen is dropped and counted.
 * 0, EVCAST_EINVAL, EVCAST_ENOMEM. */
int evcast_node_dedupe(evcast_node_t *node, unsigned max_origins);
void evcast_node_relay_stats(const evcast_node_t *node, evcast_relay_stats_t *out);
/* Feeds an event's plain text received by another transport into the node,
 * wrapped as a received multicast event (CUSTOM multicast::event, Multicast: yes,
 * Orig-<header>..., Orig-Multicast-Sender from FreeSWITCH-Switchname, and
 * "Multicast-Via: via" when via is non-NULL). 0 delivered, 1 our own event
 * (ignored), 2 a duplicate (dropped, counted), EVCAST_EPARSE..., EVCAST_ESTATE. */
int evcast_node_input_text(evcast_node_t *node, const char *text, size_t len, const char *via);
/* Sends an event's plain text, unchanged (no standard headers added; the
 * legacy Multicast-Sender is its FreeSWITCH-Switchname), to the node's
 * destinations without firing it locally. 0 or a negative error. */
int evcast_node_relay_text(evcast_node_t *node, const char *text, size_t len);

#ifdef __cplusplus
}
#endif
#endif
