/*
 * internal.h -- what the library's modules share and nobody else sees.
 *
 * Owns: the replaceable allocator (evc__malloc...), logging helpers with a
 * rate limiter, the clock, and the internal interfaces between modules:
 * peers (peers.c), UDP transport (udp.c), config copy (config.c).
 * Internal non-static names start with evc__ (libuv's uv__).
 */
#ifndef EVCAST_INTERNAL_H
#define EVCAST_INTERNAL_H

#include "evcast/evcast.h"
#include <stdarg.h>

#define EVC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* SQLite's ALWAYS/NEVER: assert in debug builds, tolerate in release. */
#ifdef NDEBUG
#define ALWAYS(x) (x)
#define NEVER(x) (x)
#else
#include <assert.h>
#define ALWAYS(x) ((x) ? 1 : (assert(0), 0))
#define NEVER(x) ((x) ? (assert(0), 1) : 0)
#endif

/* ---- allocator (alloc.c) ---- */
void *evc__malloc(size_t n);
void *evc__calloc(size_t count, size_t n);
void *evc__realloc(void *p, size_t n);
void evc__free(void *p);
char *evc__strdup(const char *s);
char *evc__strndup(const char *s, size_t n);

/* ---- logging (log.c) ---- */
typedef struct evc__logger {
	evcast_log_cb cb;
	void *ud;
	int level; /* messages above this level are not formatted */
} evc__logger_t;

void evc__log(const evc__logger_t *lg, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void evc__vlog(const evc__logger_t *lg, int level, const char *fmt, va_list ap);

/* evcast_escape_text with flags; EVC__ESC_SINK: the last guard of a log sink
 * (evc__vlog, the daemon's evcd_log), which keeps backslash and tab as they
 * are (a string escaped at its boundary passes unchanged) and escapes the rest. */
#define EVC__ESC_SINK 1u
size_t evc__escape(const char *s, char *out, size_t cap, unsigned flags);
/* evcast_escape_text(s) into buf, returning buf: a network string as a log
 * line's argument, e.g. evc__esc(from, e[0], sizeof(e[0])). */
static inline const char *evc__esc(const char *s, char *buf, size_t cap)
{
	evcast_escape_text(s, buf, cap);
	return buf;
}

/* Token bucket: at most `burst` messages, refilled at `per_sec`. */
typedef struct evc__ratelimit {
	uint64_t last_ms;
	double tokens;
	unsigned burst;
	unsigned per_sec;
	uint64_t suppressed; /* messages not logged since the last one that was */
} evc__ratelimit_t;

void evc__ratelimit_init(evc__ratelimit_t *rl, unsigned burst, unsigned per_sec);
/* True when a message may be logged now; counts the suppressed ones otherwise. */
bool evc__ratelimit_allow(evc__ratelimit_t *rl, uint64_t now_ms);

/* ---- value parsing for configuration readers (parse.c) ---- */
/* 1 for yes/true/on/1, 0 for no/false/off/0 (any case), -1 otherwise. */
int evc__parse_bool(const char *s);
/* Decimal digits only, lo..hi, no overflow. */
bool evc__parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
/* The same, as the daemon's readers want them: 0 ok, -1 invalid. */
int evc__conf_bool(const char *v, bool *out);
int evc__conf_uint(const char *v, unsigned lo, unsigned hi, unsigned *out);

/* ---- clock (log.c) ---- */
uint64_t evc__wall_ms(void);  /* CLOCK_REALTIME, ms since the epoch */
uint64_t evc__wall_us(void);  /* CLOCK_REALTIME, us since the epoch */

/* Format a sockaddr as "1.2.3.4:port" or "[v6]:port". */
void evc__addr_str(const struct sockaddr *sa, char *buf, size_t cap);

/* ---- config (config.c) ---- */
/* Deep copy of a parsed configuration; NULL when out of memory. */
evcast_config_t *evc__config_dup(const evcast_config_t *cfg);

/* ---- peers (peers.c): the peer table, pure (time is passed in) ---- */
typedef struct evc__peer {
	char *name;
	bool up;
	bool v2;               /* its HEARTBEATs come by protocol v2 */
	uint64_t last_seen_ms; /* 0 = never */
	char addr[64];
	uint64_t events_rx;
} evc__peer_t;

typedef struct evc__peers {
	evc__peer_t *v; /* sorted by name */
	size_t n, cap;
	size_t max;     /* bound on the table; when full, the oldest DOWN peer makes room */
	uint64_t refused;
	/* peer-table bound (issue 13): DOWN entries evicted for newcomers */
	size_t ndown;     /* entries that are DOWN now */
	uint64_t evicted; /* DOWN peers removed to make room for a new name */
} evc__peers_t;

void evc__peers_init(evc__peers_t *t, size_t max);
void evc__peers_free(evc__peers_t *t);
evc__peer_t *evc__peers_find(evc__peers_t *t, const char *name);
/* A HEARTBEAT from name at now_ms. Returns 1 when the peer came up (new or was
 * down): *prev_ms gets the previous sighting (0 = never). 0 when it was already
 * up, negative on error (EVCAST_E2BIG when the table is full of UP peers; a
 * full table with a DOWN peer evicts the one seen longest ago instead). Any
 * evc__peer_t pointer held across this call may be stale. */
int evc__peers_heartbeat(evc__peers_t *t, const char *name, const char *addr, uint64_t now_ms,
			 uint64_t *prev_ms);
/* Marks down every up peer not seen for more than timeout_ms; calls down() for each. */
void evc__peers_sweep(evc__peers_t *t, uint64_t now_ms, uint64_t timeout_ms,
		      void (*down)(void *ud, const evc__peer_t *p), void *ud);

/* ---- fault injection for tests (impair.c) ---- */
typedef struct evc__impair evc__impair_t;
/* From $EVCAST_IMPAIR ("loss=P,dup=P,reorder=P,seed=N"); *out NULL when unset. */
int evc__impair_from_env(const evc__logger_t *lg, evc__impair_t **out);
void evc__impair_free(evc__impair_t *im);
/* Drops, duplicates or holds back buf, calling deliver for what passes. */
void evc__impair_recv(evc__impair_t *im, const uint8_t *buf, size_t len, const struct sockaddr *from,
		      void (*deliver)(void *ud, const uint8_t *buf, size_t len, const struct sockaddr *from), void *ud);

/* ---- UDP transport (udp.c) ---- */
typedef struct evc__udp evc__udp_t;
/* buf and from are borrowed until the callback returns. */
typedef void (*evc__udp_recv_cb)(void *ud, const uint8_t *buf, size_t len, const struct sockaddr *from);

int evc__udp_new(uv_loop_t *loop, const evcast_config_t *cfg, const evc__logger_t *lg, evcast_stats_t *stats,
		 evc__udp_recv_cb cb, void *ud, evc__udp_t **out);
int evc__udp_start(evc__udp_t *u);
/* Sends buf to every configured destination of that protocol (EVCAST_PROTO_*); errors are counted and logged at a
 * limited rate. Returns the number of destinations that took it. */
int evc__udp_send(evc__udp_t *u, const uint8_t *buf, size_t len, int protocol);
/* Sends buf to one address (a v2 NAK to its sender). 0, or EVCAST_EIO (counted). */
int evc__udp_send_to(evc__udp_t *u, const uint8_t *buf, size_t len, const struct sockaddr *to);
/* Stops (pause=true) or resumes receiving; used while a reload re-binds. */
void evc__udp_pause(evc__udp_t *u, bool pause);
/* Closes every handle; cb runs from the loop once all are closed, then u is freed. */
void evc__udp_close(evc__udp_t *u, void (*cb)(void *ud), void *ud);
/* True when the two configs need different sockets (addresses, port, ttl,
 * loopback, interface, source addresses). */
bool evc__udp_config_differs(const evcast_config_t *a, const evcast_config_t *b);

/* ---- events (event.c) ---- */
/* Appends a header whose name the caller guarantees valid (a constant): no
 * name check, lengths given. The hot path's add for standard headers. */
/* The LAST value of the header (searching from the end), or NULL: for headers
 * senders append last, such as Multicast-Sender. */
const char *evc__event_get_header_last(const evcast_event_t *ev, const char *name);
/* The first (evc__event_get_n) or last value of the header named by the
 * nname bytes at name (no NUL needed: constants, sizeof - 1), or NULL. */
const char *evc__event_get_n(const evcast_event_t *ev, const char *name, size_t nname);
const char *evc__event_get_last_n(const evcast_event_t *ev, const char *name, size_t nname);
/* Header i's value when it is named by the nname bytes at name, else NULL. */
const char *evc__event_value_if(const evcast_event_t *ev, size_t i, const char *name, size_t nname);
int evc__event_add_trusted(evcast_event_t *ev, const char *name, size_t nname, const char *value, size_t nvalue);
/* A received event's wrapper (CUSTOM multicast::event, Multicast: yes), sized
 * for len bytes of text parsed with the "Orig-" prefix (event.c); reuses the
 * event kept in *spare (may be NULL) by evc__event_release. With tpl (built
 * by adds only; gen > 0 names its contents) the strings of tpl's headers are
 * placed in the arena too, copied only when the reused storage does not hold
 * them for gen already; evc__event_append_placed later appends tpl's headers
 * over them (EVCAST_ESTATE when ev holds none for gen: use
 * evc__event_append_range). NULL on no memory. */
evcast_event_t *evc__event_new_received(size_t len, evcast_event_t **spare);
evcast_event_t *evc__event_new_received_tpl(size_t len, evcast_event_t **spare, const evcast_event_t *tpl,
					    uint64_t gen);
int evc__event_append_placed(evcast_event_t *ev, const evcast_event_t *tpl, uint64_t gen);
/* Frees ev, or keeps it (one allocation, body dropped) in *spare when empty. */
void evc__event_release(evcast_event_t *ev, evcast_event_t **spare);
/* Sets header i's value to the decimal v: in place, right-aligned, when the
 * old value is long enough (its first bytes become dead), else appended. */
int evc__event_set_u64_at(evcast_event_t *ev, size_t i, uint64_t v);
/* Overwrites the last width (<= 10) bytes of header i's value with v as
 * width zero-padded decimal digits (v < 10^width; else EVCAST_EINVAL, its
 * last width digits written). The received timestamp's microseconds. */
int evc__event_set_tail_digits(evcast_event_t *ev, size_t i, uint32_t v, size_t width);
/* Appends headers [from, from + count) of src (built by adds only: no
 * deleted or replaced header) to ev, in order: one copy of their bytes. */
int evc__event_append_range(evcast_event_t *ev, const evcast_event_t *src, size_t from, size_t count);
/* Appends every header of src to ev, in order, each name prefixed with prefix
 * (e.g. "Orig-"): one reservation, no per-header validation (src's names are
 * valid). The receive path's fast way to build the legacy multicast::event. */
int evc__event_add_prefixed(evcast_event_t *ev, const char *prefix, const evcast_event_t *src);
/* Parses plain text (as evcast_event_from_plain) into ev, appending its
 * headers with names prefixed by prefix (may be NULL) and setting the body.
 * On error ev is left unchanged. */
int evc__event_parse_plain(evcast_event_t *ev, const char *text, size_t len, const char *prefix);
/* The same, told where text's first NUL byte is: nul is its offset, len when
 * text holds none, or SIZE_MAX when the caller does not know (then searched);
 * padded: at least 16 readable bytes follow text (a datagram's MAGIC), so a
 * text ending in '\n' is parsed where it lies, without a staging copy. */
int evc__event_parse_plain_nul(evcast_event_t *ev, const char *text, size_t len, const char *prefix, size_t nul,
			       bool padded);
/* The plain text (as evcast_event_write_plain) of the event that ev's headers
 * named prefix + X describe, without building it: X written for each (values
 * cut at a NUL), X equal to drop (case-insensitively) skipped, ev's body
 * kept; EVCAST_EINVAL when an X is not a valid name, EVCAST_E2BIG. */
int evc__event_write_plain_unprefixed(const evcast_event_t *ev, const char *prefix, const char *drop, char *buf,
				      size_t cap);

/* ---- legacy codec (legacy.c) ---- */
/* As evcast_legacy_decode, but the received headers are appended to ev with
 * names prefixed by prefix (the legacy receiver's "Orig-"), and its body set:
 * the receive path builds CUSTOM multicast::event without a second event or
 * a copy per header. On error ev is left unchanged. */
int evc__legacy_decode_into(const uint8_t *buf, size_t len, const evcast_legacy_key_t *key, const char *prefix,
			    evcast_event_t *ev);

/* uuid.c: a random (v4) UUID as 36 characters + NUL; no system call per
 * UUID (a thread-local ChaCha20 stream keyed from libsodium). */
void evc__uuid4(char out[37]);

#endif
