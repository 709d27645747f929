/*
 * v2.h -- internal API of evcast wire protocol v2 (docs/PROTOCOL.md is the spec).
 *
 * Sections, in order: reject reasons; frame.c (64-byte header, batch, ANNOUNCE
 * and NAK payloads, fragment spans); seal.c (keyring, AEAD seal/open, keygen);
 * replay.c (per-sender sliding window); reasm.c (fragment reassembly);
 * retrans.c (sender retransmit ring, receiver gap tracker); v2proto.c (one
 * endpoint composing them: the send and receive pipelines).
 * Every module is pure: time is passed in, nothing does I/O, every buffer is
 * bounded and has a counter when the bound is hit. Functions return 0 (or a
 * documented positive value) on success, -EVC_V2_R_* for a rejected datagram,
 * or a negative EVCAST_E* code (ENOMEM, EINVAL, E2BIG) for local failures.
 */
#ifndef EVCAST_V2_H
#define EVCAST_V2_H

#include "internal.h"
#include "v2guard.h"

/* ------------------------------------------------------------ limits */
#define EVC_V2_MAGIC0 0xEC
#define EVC_V2_MAGIC1 0xA5
#define EVC_V2_MAGIC2 0x76
#define EVC_V2_MAGIC3 0x32
#define EVC_V2_VERSION 2
#define EVC_V2_HDR_LEN 64
#define EVC_V2_TAG_LEN 16
#define EVC_V2_MAX_DGRAM 65507
#define EVC_V2_MAX_EVENT (1024u * 1024u)
#define EVC_V2_MAX_MSG (EVC_V2_MAX_EVENT + 4u)
#define EVC_V2_MAX_FRAGS 1024u
/* Replay window (PROTOCOL.md 8): the highest seq and the 8191 below it are
 * tracked exactly, in a ring of 129 64-bit words (8256 bits, 1032 bytes per
 * sender): wide enough that a retransmission answering a NAK under overload
 * (8192 datagrams = 40 ms at 200 k datagrams/s) is still inside it. */
#define EVC_V2_WINDOW 8192u
#define EVC_V2_WINDOW_WORDS (EVC_V2_WINDOW / 64u + 1u)
/* A sender's first datagram at or below this seq, from a sender that started
 * after the receiver: the seqs before it are a gap to recover (retrans.c). */
#define EVC_V2_START_GAP 1024u
#define EVC_V2_CTL_BIT (UINT64_C(1) << 63)
#define EVC_V2_NODE_ID_LEN 16
#define EVC_V2_KEY_LEN 32
#define EVC_V2_MAX_KEYS 16
#define EVC_V2_NAK_MAX_RANGES 64
#define EVC_V2_ANNOUNCE_LEN 16
#define EVC_V2_DEFAULT_PAYLOAD 1400u
#define EVC_V2_MIN_PAYLOAD 1105u

enum evc__v2_type { EVC_V2_DATA = 1, EVC_V2_ANNOUNCE = 2, EVC_V2_NAK = 3, EVC_V2_STATUS = 4 };
#define EVC_V2_F_SEALED 0x01u
#define EVC_V2_F_ZSTD 0x02u /* DATA payload is one zstd frame (PROTOCOL.md 6.1) */

/* ------------------------------------------------------------ reject reasons */
/* Positive numbers; functions return their negation. They start at 100 so they
 * never collide with EVCAST_E* codes. Names in evc__v2_reason_name(). */
enum evc__v2_reason {
	EVC_V2_R_FIRST = 100,
	EVC_V2_R_SHORT = EVC_V2_R_FIRST,
	EVC_V2_R_MAGIC,
	EVC_V2_R_VERSION,
	EVC_V2_R_TYPE,
	EVC_V2_R_FLAGS,
	EVC_V2_R_RESERVED,
	EVC_V2_R_KEYID,
	EVC_V2_R_NODEID,
	EVC_V2_R_EPOCH,
	EVC_V2_R_SEQ,
	EVC_V2_R_LENGTH,
	EVC_V2_R_FRAG,
	EVC_V2_R_NOKEY,
	EVC_V2_R_PLAIN,
	EVC_V2_R_AUTH,
	EVC_V2_R_SELF,
	EVC_V2_R_SKEW,
	EVC_V2_R_OLD_EPOCH,
	EVC_V2_R_TOO_OLD,
	EVC_V2_R_DUPLICATE,
	EVC_V2_R_REPLAY,
	EVC_V2_R_SENDERS_FULL,
	EVC_V2_R_BATCH,
	EVC_V2_R_ANNOUNCE,
	EVC_V2_R_NAK,
	EVC_V2_R_EVENT,
	EVC_V2_R_LATE,
	EVC_V2_R_STATUS, /* flow control (v2flow.c): a malformed STATUS payload */
	EVC_V2_R_END
};
#define EVC_V2_R_COUNT (EVC_V2_R_END - EVC_V2_R_FIRST)

/* "short", "auth", ... for a reason (positive or negated); evcast_strerror()
 * text for EVCAST_E* codes; never NULL. */
const char *evc__v2_reason_name(int code);

/* ------------------------------------------------------------ frame.c */
typedef struct evc__v2_hdr {
	uint8_t type;
	uint8_t flags;
	uint32_t key_id;
	uint8_t node_id[EVC_V2_NODE_ID_LEN];
	uint64_t epoch;
	uint64_t seq;
	uint64_t ts_us;
	uint16_t frag_index;
	uint16_t frag_count;
	uint32_t msg_len;
	uint32_t payload_len;
} evc__v2_hdr_t;

/* True when buf starts with the v2 magic (a mixed port routes it to v2). */
bool evc__v2_is_v2(const uint8_t *buf, size_t len);
/* Writes the 64 header bytes (version and magic included) into out. No checks:
 * the caller fills a consistent header. */
void evc__v2_hdr_encode(const evc__v2_hdr_t *h, uint8_t out[EVC_V2_HDR_LEN]);
/* Decodes and validates a whole datagram's header against its length
 * (docs/PROTOCOL.md section 2 rules 1-6). 0 or -EVC_V2_R_*. */
int evc__v2_hdr_decode(const uint8_t *buf, size_t len, evc__v2_hdr_t *h);
/* Plaintext length carried by a decoded header (payload minus the tag). */
static inline uint32_t evc__v2_plain_len(const evc__v2_hdr_t *h)
{
	return (h->flags & EVC_V2_F_SEALED) ? h->payload_len - EVC_V2_TAG_LEN : h->payload_len;
}

/* Fragment plan: count for msg_len with at most max_chunk bytes per fragment.
 * 0, or EVCAST_E2BIG (message too long / needs more than 1024 fragments) or
 * EVCAST_EINVAL (msg_len 0 or max_chunk 0). */
int evc__v2_frag_plan(uint32_t msg_len, uint32_t max_chunk, uint16_t *count);
/* Span of fragment index: offset and length. -EVC_V2_R_FRAG when the triple is
 * inconsistent (index >= count, count 0 or > 1024, empty fragment, msg_len too big). */
int evc__v2_frag_span(uint32_t msg_len, uint16_t count, uint16_t index, uint32_t *off, uint32_t *len);

/* Batch writer over caller storage (borrowed). */
typedef struct evc__v2_batch {
	uint8_t *buf;
	size_t cap, len;
	unsigned count;
} evc__v2_batch_t;
void evc__v2_batch_init(evc__v2_batch_t *b, uint8_t *buf, size_t cap);
/* Appends one record; EVCAST_E2BIG when it does not fit (batch unchanged),
 * EVCAST_EINVAL for len 0 or > 1 MiB. */
int evc__v2_batch_add(evc__v2_batch_t *b, const char *text, size_t len);
/* Validates a whole batch; returns the record count (>= 1) or -EVC_V2_R_BATCH. */
int evc__v2_batch_check(const uint8_t *buf, size_t len);
/* Iterates a batch that passed evc__v2_batch_check: *pos starts at 0; returns
 * 1 with the record (borrowed from buf), 0 at the end. */
int evc__v2_batch_next(const uint8_t *buf, size_t len, size_t *pos, const uint8_t **rec, size_t *rlen);

typedef struct evc__v2_announce {
	uint64_t last_seq;
	uint64_t oldest_seq;
} evc__v2_announce_t;
void evc__v2_announce_encode(const evc__v2_announce_t *a, uint8_t out[EVC_V2_ANNOUNCE_LEN]);
int evc__v2_announce_decode(const uint8_t *buf, size_t len, evc__v2_announce_t *a); /* -EVC_V2_R_ANNOUNCE */

typedef struct evc__v2_range {
	uint64_t first;
	uint32_t count;
} evc__v2_range_t;
typedef struct evc__v2_nak {
	uint8_t target_node[EVC_V2_NODE_ID_LEN];
	uint64_t target_epoch;
	uint16_t nranges;
	evc__v2_range_t ranges[EVC_V2_NAK_MAX_RANGES];
} evc__v2_nak_t;
#define EVC_V2_NAK_LEN(n) (28u + 12u * (unsigned)(n))
/* Returns bytes written or EVCAST_E2BIG / EVCAST_EINVAL (0 or > 64 ranges). */
int evc__v2_nak_encode(const evc__v2_nak_t *n, uint8_t *out, size_t cap);
int evc__v2_nak_decode(const uint8_t *buf, size_t len, evc__v2_nak_t *n); /* -EVC_V2_R_NAK */

/* STATUS (PROTOCOL.md 14): a receiver's flow-control report to one sender. */
#define EVC_V2_STATUS_LEN 40
#define EVC_V2_FC_MAX_WINDOW 8192u  /* a window is at most the replay window */
#define EVC_V2_STATUS_F_HELD 0x0001u /* the receiver's consumers hold delivery */
typedef struct evc__v2_status {
	uint8_t target_node[EVC_V2_NODE_ID_LEN];
	uint64_t target_epoch;
	uint64_t delivered; /* every seq <= it delivered in order (or given up) */
	uint32_t window;    /* the sender may send up to delivered + window */
	uint16_t flags;     /* EVC_V2_STATUS_F_*; unknown bits ignored */
} evc__v2_status_t;
void evc__v2_status_encode(const evc__v2_status_t *s, uint8_t out[EVC_V2_STATUS_LEN]);
int evc__v2_status_decode(const uint8_t *buf, size_t len, evc__v2_status_t *s); /* -EVC_V2_R_STATUS */

/* ------------------------------------------------------------ seal.c */
typedef struct evc__v2_keyring evc__v2_keyring_t;

/* Empty keyring (plaintext mode until a key is added). */
int evc__v2_keyring_new(evc__v2_keyring_t **out);
/* Frees and wipes every key; NULL is a no-op. */
void evc__v2_keyring_free(evc__v2_keyring_t *kr);
/* Adds "ID:SECRET" (docs/PROTOCOL.md 3.1); the first key added is primary.
 * EVCAST_EINVAL with a reason in err (may be NULL) for a bad id, short secret,
 * duplicate id; EVCAST_E2BIG beyond 16 keys. */
int evc__v2_keyring_add(evc__v2_keyring_t *kr, const char *spec, char *err, size_t errlen);
/* Adds a raw 32-byte master key under id (tests, keygen). */
int evc__v2_keyring_add_master(evc__v2_keyring_t *kr, uint32_t id, const uint8_t master[EVC_V2_KEY_LEN]);
int evc__v2_keyring_set_primary(evc__v2_keyring_t *kr, uint32_t id); /* EVCAST_ENOENT */
int evc__v2_keyring_remove(evc__v2_keyring_t *kr, uint32_t id);      /* EVCAST_ENOENT */
/* Primary key id, 0 when the keyring is empty (plaintext mode). */
uint32_t evc__v2_keyring_primary(const evc__v2_keyring_t *kr);
size_t evc__v2_keyring_count(const evc__v2_keyring_t *kr);

/* The nonce of a header (docs/PROTOCOL.md section 3). */
void evc__v2_nonce(const evc__v2_hdr_t *h, uint8_t nonce[24]);

/* Builds a datagram in out: sets h->flags/key_id (primary key, or plaintext
 * when kr is NULL or empty), h->payload_len, encodes the header and seals (or
 * copies) pt. pt may not overlap out. Returns the datagram length, or
 * EVCAST_E2BIG when it exceeds cap or the 65507-byte limit. */
int evc__v2_seal(const evc__v2_keyring_t *kr, evc__v2_hdr_t *h, const uint8_t *pt, size_t ptlen, uint8_t *out,
		 size_t cap);
/* The same with extra flags (EVC_V2_F_ZSTD; other bits ignored). */
int evc__v2_seal_flags(const evc__v2_keyring_t *kr, evc__v2_hdr_t *h, uint8_t flags, const uint8_t *pt,
		       size_t ptlen, uint8_t *out, size_t cap);
/* Opens a datagram whose header h was decoded by evc__v2_hdr_decode from buf.
 * The plaintext is written to pt (cap >= evc__v2_plain_len(h)); *ptlen set.
 * accept_plain: take unsealed datagrams although keys are configured.
 * 0, -EVC_V2_R_NOKEY / _PLAIN / _AUTH, EVCAST_E2BIG (cap too small). */
int evc__v2_open(const evc__v2_keyring_t *kr, bool accept_plain, const evc__v2_hdr_t *h, const uint8_t *buf,
		 size_t len, uint8_t *pt, size_t cap, size_t *ptlen);

/* The keyring's AEAD for another framing (relay_seal.c: the NATS payload).
 * seal: out gets ptlen + 16 bytes (may not overlap pt), with the primary key;
 * 0 or -EVC_V2_R_NOKEY (empty keyring). open: pt gets ctlen - 16 bytes with
 * the key key_id; 0, -EVC_V2_R_NOKEY (unknown id), _LENGTH, _AUTH. */
int evc__v2_aead_seal(const evc__v2_keyring_t *kr, const uint8_t *ad, size_t adlen, const uint8_t nonce[24],
		      const uint8_t *pt, size_t ptlen, uint8_t *out);
int evc__v2_aead_open(const evc__v2_keyring_t *kr, uint32_t key_id, const uint8_t *ad, size_t adlen,
		      const uint8_t nonce[24], const uint8_t *ct, size_t ctlen, uint8_t *pt);

/* Writes "ID:BASE64(32 random bytes)" + NUL into out (>= 60 bytes needed).
 * Returns the length or EVCAST_E2BIG / EVCAST_EINVAL (id 0). */
int evc__v2_keygen(uint32_t id, char *out, size_t cap);

/* ------------------------------------------------------------ replay.c */
typedef struct evc__v2_sender {
	uint8_t node_id[EVC_V2_NODE_ID_LEN];
	uint64_t epoch;
	uint64_t max_seq;
	uint64_t ctl_seq;
	uint64_t last_heard_us;
	uint64_t bits[EVC_V2_WINDOW_WORDS]; /* ring: bit seq%64 of word (seq/64)%129 set = seq accepted */
	bool used;
} evc__v2_sender_t;

typedef struct evc__v2_replay {
	evc__v2_sender_t *v;
	size_t n, cap;      /* cap = bound on senders */
	uint64_t max_skew_us;
	uint64_t forgotten; /* idle senders evicted to make room */
	uint64_t refused;   /* senders refused: table full of active senders */
	uint64_t epoch_restarts;
	uint64_t jumps;     /* window cleared by a jump of more than EVC_V2_WINDOW */
} evc__v2_replay_t;

/* max_senders: bound on the table; max_skew_us: timestamp skew bound. */
int evc__v2_replay_init(evc__v2_replay_t *r, size_t max_senders, uint64_t max_skew_us);
void evc__v2_replay_free(evc__v2_replay_t *r);
/* Check without changing state (before crypto). 0 or -EVC_V2_R_SKEW /
 * _OLD_EPOCH / _TOO_OLD / _DUPLICATE / _REPLAY / _SENDERS_FULL. */
int evc__v2_replay_check(evc__v2_replay_t *r, const evc__v2_hdr_t *h, uint64_t now_us);
/* Commit after the datagram authenticated (repeats the check, so it is safe on
 * its own). Returns 0 or a reject as above; *restart (may be NULL) is set true
 * when this datagram started a new epoch for a known sender. */
int evc__v2_replay_commit(evc__v2_replay_t *r, const evc__v2_hdr_t *h, uint64_t now_us, bool *restart);

/* ------------------------------------------------------------ reasm.c */
typedef struct evc__v2_reasm evc__v2_reasm_t;
typedef struct evc__v2_reasm_stats {
	uint64_t completed, timeouts, evicted, dups, inconsistent, too_big;
	size_t bytes, messages; /* current */
} evc__v2_reasm_stats_t;

/* max_bytes: bound on msg_len summed over partial messages; max_msgs: bound on
 * their number; timeout_ms: age at which a partial message is dropped. */
int evc__v2_reasm_new(size_t max_bytes, size_t max_msgs, uint64_t timeout_ms, evc__v2_reasm_t **out);
void evc__v2_reasm_free(evc__v2_reasm_t *r);
/* Adds one fragment (h decoded, data = its plaintext of evc__v2_plain_len(h)
 * bytes). Returns 1 when the message is complete: *msg (ownership moves; free
 * with evc__free) and *msg_len set. 0 when more fragments are needed (or a
 * duplicate). -EVC_V2_R_FRAG for inconsistent fragments, EVCAST_E2BIG when the
 * message can never fit the bound, EVCAST_ENOMEM. A single-fragment message is
 * returned as a copy. */
int evc__v2_reasm_add(evc__v2_reasm_t *r, const evc__v2_hdr_t *h, const uint8_t *data, size_t len, uint64_t now_ms,
		      uint8_t **msg, size_t *msg_len);
/* Drops partial messages older than the timeout; returns how many. */
size_t evc__v2_reasm_expire(evc__v2_reasm_t *r, uint64_t now_ms);
void evc__v2_reasm_stats(const evc__v2_reasm_t *r, evc__v2_reasm_stats_t *out);

/* ------------------------------------------------------------ retrans.c */
/* Sender: ring of sent DATA datagrams, consecutive seqs, bounded. */
typedef struct evc__v2_txslot {
	uint8_t *data;
	uint32_t len;
	uint64_t sent_ms;
	uint64_t rtx_ms; /* last retransmit, 0 = never */
} evc__v2_txslot_t;

typedef struct evc__v2_txring {
	evc__v2_txslot_t *slots;
	size_t cap;      /* power of two */
	size_t head, n;  /* oldest at head */
	uint64_t first_seq; /* seq of slots[head] */
	size_t bytes;
	size_t max_bytes;
	uint64_t max_age_ms;
	uint64_t evicted_bytes, evicted_age, evicted_slots;
	uint64_t rtx_sent, rtx_suppressed, rtx_missing;
	/* flow control (v2flow.c): seqs above confirmed are not expired by age,
	 * and evicted by slots/bytes only when the ring is full (counted) */
	uint64_t confirmed;            /* UINT64_MAX (no member): all evictable */
	uint64_t evicted_unconfirmed;
} evc__v2_txring_t;

int evc__v2_txring_init(evc__v2_txring_t *t, size_t max_bytes, uint64_t max_age_ms, size_t max_slots);
void evc__v2_txring_free(evc__v2_txring_t *t);
/* Stores a copy of the datagram sent with seq (must follow the last one stored;
 * a non-consecutive seq empties the ring first). Evicts by slots, bytes and age.
 * EVCAST_E2BIG when the datagram alone exceeds max_bytes, EVCAST_ENOMEM. */
int evc__v2_txring_put(evc__v2_txring_t *t, uint64_t seq, const uint8_t *data, size_t len, uint64_t now_ms);
/* Evicts datagrams older than max_age. */
void evc__v2_txring_expire(evc__v2_txring_t *t, uint64_t now_ms);
/* For a NAKed seq: 1 and the stored datagram (borrowed until the next put/expire)
 * when it should be re-sent now; 0 when it was re-sent less than holdoff_ms ago;
 * EVCAST_ENOENT when no longer (or never) held. */
int evc__v2_txring_rtx(evc__v2_txring_t *t, uint64_t seq, uint64_t now_ms, uint64_t holdoff_ms,
		       const uint8_t **data, size_t *len);
/* Lowest and highest seq held; both 0 when empty. */
void evc__v2_txring_span(const evc__v2_txring_t *t, uint64_t *oldest, uint64_t *newest);

/* Receiver: gap tracker for one sender. */
#define EVC_V2_MAX_GAPS 256
#define EVC_V2_MAX_MISSING 65536u
typedef struct evc__v2_gap {
	uint64_t first, last;  /* inclusive */
	uint64_t opened_ms;
	uint64_t next_nak_ms;
	unsigned tries;
} evc__v2_gap_t;

typedef struct evc__v2_gaps {
	uint64_t epoch;
	uint64_t highest;       /* 0: nothing seen in this epoch */
	evc__v2_gap_t gaps[EVC_V2_MAX_GAPS]; /* ascending */
	size_t ngaps;
	uint64_t missing;       /* seqs in open gaps */
	/* settings */
	uint64_t nak_delay_ms, give_up_ms;
	unsigned max_tries;
	uint64_t own_epoch;     /* the receiver's boot (us); 0 = unknown */
	uint64_t clock_epoch;   /* the epoch evc__v2_gaps_clock judged; 0 = none */
	bool clock_early;       /* ... and that sender started before this receiver */
	/* counters */
	uint64_t lost, recovered, naks, overflow;
	/* loss report: [first, last] of one sender epoch (may be NULL) */
	void (*on_loss)(void *ud, uint64_t epoch, uint64_t first, uint64_t last);
	void *ud;
} evc__v2_gaps_t;

void evc__v2_gaps_init(evc__v2_gaps_t *g, uint64_t nak_delay_ms, uint64_t give_up_ms, unsigned max_tries,
		       void (*on_loss)(void *ud, uint64_t epoch, uint64_t first, uint64_t last), void *ud);
/* A DATA seq of epoch accepted by the replay window. Returns 1 when it filled
 * a gap (a recovery), 0 when it is new (in order, or opening a gap),
 * -EVC_V2_R_LATE when it is at or below the highest seq and in no open gap
 * (declared lost already, or older than the first one seen): delivering it
 * would break the order. A new epoch declares the old gaps lost. */
int evc__v2_gaps_seen(evc__v2_gaps_t *g, uint64_t epoch, uint64_t seq, uint64_t now_ms);
/* The clocks of a DATA or ANNOUNCE of epoch, before seen/announce: ts_us (the
 * sender's clock when it sent it) and now_us (the receiver's clock). A sender
 * whose uptime then (ts_us - epoch) exceeds the receiver's (now_us -
 * own_epoch) started first: a late joiner opens no gap for its earlier seqs.
 * Each uptime is read on one clock, so skew between the two cancels out.
 * Without this call the boot epochs are compared (exact only when synced). */
void evc__v2_gaps_clock(evc__v2_gaps_t *g, uint64_t epoch, uint64_t ts_us, uint64_t now_us);
/* True when seq of epoch is inside an open gap: never received, so accepting
 * it cannot be a replay even when it is older than the replay window. */
bool evc__v2_gaps_contains(const evc__v2_gaps_t *g, uint64_t epoch, uint64_t seq);
/* An ANNOUNCE: opens the tail gap, declares gaps below oldest_seq lost. */
void evc__v2_gaps_announce(evc__v2_gaps_t *g, uint64_t epoch, const evc__v2_announce_t *a, uint64_t now_ms);
/* Gaps due for a NAK at now_ms go into nak->ranges (nak->nranges set; caller
 * fills target fields); gaps past their tries/age are declared lost. Returns
 * the number of ranges (0: nothing to send). */
int evc__v2_gaps_poll(evc__v2_gaps_t *g, uint64_t now_ms, evc__v2_nak_t *nak);
/* Earliest time poll has work, UINT64_MAX when none (for the timer). */
uint64_t evc__v2_gaps_next_ms(const evc__v2_gaps_t *g);
/* Declares the gaps past their age lost (no NAK, no try counted): for a
 * sender whose NAKs are held back by a rate. */
void evc__v2_gaps_expire(evc__v2_gaps_t *g, uint64_t now_ms);
/* Declares the oldest open gap lost now (a hold-back bound was hit); returns
 * false when there is none. */
bool evc__v2_gaps_lose_oldest(evc__v2_gaps_t *g);

/* ------------------------------------------------------------ v2proto.c */
/* One v2 endpoint: the sender half (batching, fragmentation, sealing, the
 * retransmit ring, ANNOUNCEs, answering NAKs) and the receiver half (the
 * whole receive pipeline of docs/PROTOCOL.md section 12, per-sender gap
 * tracking, NAKs, reassembly, in-order delivery with a bounded hold-back
 * queue, loss reports). No I/O and no clock: datagrams leave through the
 * callbacks, time is passed in (microseconds since 1970). */
typedef struct evc__v2_ep evc__v2_ep_t;

typedef struct evc__v2_ep_cfg {
	uint8_t node_id[EVC_V2_NODE_ID_LEN];
	uint64_t epoch;            /* us since 1970 at boot; strictly increasing per node */
	size_t payload_size;       /* whole UDP payload of DATA datagrams; default 1400 */
	uint64_t flush_us;         /* batch flush delay; default 1000 */
	size_t rtx_bytes;          /* retransmit ring; default 4 MiB */
	uint64_t rtx_age_ms;       /* default 3000 */
	size_t rtx_slots;          /* default 8192 */
	uint64_t rtx_holdoff_ms;   /* default 10 */
	uint64_t announce_delay_ms;    /* default 20 */
	uint64_t announce_interval_ms; /* default 1000 */
	uint64_t max_skew_us;      /* default 10 s */
	size_t max_senders;        /* default 1024 */
	bool accept_plain;         /* accept unsealed datagrams although keys are set */
	size_t reasm_bytes;        /* default 8 MiB */
	size_t reasm_msgs;         /* default 64 */
	uint64_t reasm_timeout_ms; /* default 3000 */
	uint64_t nak_delay_ms;     /* default 5 */
	unsigned nak_max_tries;    /* default 16 */
	size_t hold_bytes;         /* in-order hold-back per sender; default 4 MiB */
	bool compress;             /* send batches zstd-compressed (receiving always accepts them) */
	int compress_level;        /* zstd level, EVC_V2_ZLEVEL_MIN..MAX; default -1 */
	/* flow control (v2flow.c, PROTOCOL.md 14) */
	bool fc;                   /* send STATUS, act on STATUS; default true */
	uint32_t fc_window;        /* datagrams a receiver lets a sender run ahead; default 1024 */
	size_t fc_members;         /* bound on the flow-control set; default 256 */
	uint64_t fc_timeout_ms;    /* a member silent this long leaves; default 60000 (peer-timeout) */
	uint64_t max_lag_ms;       /* a member without progress this long is dropped; default 5000 */
	uint64_t status_interval_ms; /* periodic STATUS while data flows; default 100 (1000 idle) */
	/* hostile-input bounds (v2guard.c): receive memory, unknown senders, NAK and retransmit budgets */
	evc__v2_guard_cfg_t guard;
} evc__v2_ep_cfg_t;

/* Fills the defaults above (node_id and epoch left zero). */
void evc__v2_ep_cfg_default(evc__v2_ep_cfg_t *cfg);

typedef struct evc__v2_ep_cbs {
	/* a datagram for every destination (DATA, retransmission, ANNOUNCE);
	 * buf borrowed until the callback returns */
	void (*send_group)(void *ud, const uint8_t *buf, size_t len);
	/* a NAK for the sender at peer_addr (the address its datagrams came from) */
	void (*send_to)(void *ud, const uint8_t *buf, size_t len, const struct sockaddr *peer_addr);
	/* one event text of a sender, in that sender's order; text borrowed */
	void (*deliver)(void *ud, const uint8_t node_id[EVC_V2_NODE_ID_LEN], uint64_t epoch, bool authenticated,
			const uint8_t *text, size_t len);
	/* sequences first..last of a sender's epoch will never arrive (may be NULL) */
	void (*loss)(void *ud, const uint8_t node_id[EVC_V2_NODE_ID_LEN], uint64_t epoch, uint64_t first,
		     uint64_t last);
	void *ud;
} evc__v2_ep_cbs_t;

typedef struct evc__v2_ep_stats {
	uint64_t tx_events, tx_datagrams, tx_fragments, tx_bytes, tx_rtx, tx_announces, tx_naks;
	uint64_t tx_too_big;      /* events over 1 MiB refused */
	uint64_t tx_zbatches, tx_zbytes_in; /* batches sent compressed; their uncompressed bytes */
	uint64_t rx_datagrams, rx_events, rx_naks, rx_nak_stale;
	uint64_t rx_held, rx_hold_overflow; /* datagrams held for order; holds cut short by the bound */
	uint64_t nomem;           /* datagrams not kept (ring, hold-back) for want of memory */
	uint64_t lost;            /* sequence numbers declared lost */
	uint64_t recovered;       /* gaps filled by retransmission */
	uint64_t gap_overflow;    /* gaps given up early: more than 64 open, or 65536 missing */
	uint64_t drops[EVC_V2_R_COUNT]; /* per reject reason, index reason - EVC_V2_R_FIRST */
	/* flow control (v2flow.c) */
	uint64_t fc_receivers;     /* members now (a gauge) */
	uint64_t fc_blocked;       /* times the window toward the slowest member ran out */
	uint64_t fc_overdraft;     /* DATA datagrams sent past the window */
	uint64_t fc_dropped;       /* members dropped for max-lag */
	uint64_t fc_left;          /* members that left after fc_timeout_ms of silence */
	uint64_t fc_full;          /* STATUS refused: the set was full */
	uint64_t fc_evicted;       /* unconfirmed datagrams evicted from a full ring */
	uint64_t status_tx, status_rx, status_stale;
	uint64_t rx_hold_forced;   /* held datagrams delivered anyway: the hold-back was full */
	/* hostile-input bounds (v2guard.c) */
	evc__v2_guard_stats_t guard;
} evc__v2_ep_stats_t;

/* kr is borrowed (may be NULL: plaintext mode) and must outlive the endpoint;
 * cfg and cbs are copied. */
int evc__v2_ep_new(const evc__v2_ep_cfg_t *cfg, const evc__v2_keyring_t *kr, const evc__v2_ep_cbs_t *cbs,
		   evc__v2_ep_t **out);
void evc__v2_ep_free(evc__v2_ep_t *ep);
/* Swaps the keyring (reload); borrowed as in new. */
void evc__v2_ep_set_keyring(evc__v2_ep_t *ep, const evc__v2_keyring_t *kr);
/* Queue one event text (copied) for sending: batched, or fragmented when it
 * does not fit one datagram. EVCAST_E2BIG over 1 MiB, EVCAST_EINVAL empty. */
int evc__v2_ep_send(evc__v2_ep_t *ep, const char *text, size_t len, uint64_t now_us);
/* Send the open batch now. */
void evc__v2_ep_flush(evc__v2_ep_t *ep, uint64_t now_us);
/* One received datagram (starting with the v2 magic). from (copied; may be
 * NULL, then no NAK can be sent to that sender) is its source address.
 * Returns 0 when taken, else the reject (-EVC_V2_R_*, also counted). */
int evc__v2_ep_recv(evc__v2_ep_t *ep, const uint8_t *buf, size_t len, const struct sockaddr *from,
		    uint64_t now_us);
/* Timers: batch flush, ANNOUNCE, NAKs, give-ups, reassembly and ring expiry.
 * Returns the next time (us) it wants to run, UINT64_MAX when idle. */
uint64_t evc__v2_ep_poll(evc__v2_ep_t *ep, uint64_t now_us);
void evc__v2_ep_stats(const evc__v2_ep_t *ep, evc__v2_ep_stats_t *out);
/* A HEARTBEAT of node_id was delivered; from (may be NULL) is where its
 * datagram came from: that sender is KNOWN there (v2guard.h). */
void evc__v2_ep_heard_heartbeat(evc__v2_ep_t *ep, const uint8_t node_id[EVC_V2_NODE_ID_LEN],
				const struct sockaddr *from);
/* The hostile-input counters (v2guard.h), borrowed. */
const evc__v2_guard_stats_t *evc__v2_ep_guard_stats(const evc__v2_ep_t *ep);
/* A legacy-format HEARTBEAT of len bytes came from `from` (v2guard.h). */
void evc__v2_ep_heard_legacy(evc__v2_ep_t *ep, const struct sockaddr *from, size_t len, uint64_t now_us);

/* Flow control, the endpoint's side (v2proto.c; PROTOCOL.md 14). */
typedef struct evc__v2_ep_fc_cbs {
	/* the window toward the slowest member opened again after it ran out */
	void (*writable)(void *ud);
	/* a member was dropped from flow control for max-lag: it confirmed
	 * delivered and had not moved for lag_ms while sent was out */
	void (*dropped)(void *ud, const uint8_t node_id[EVC_V2_NODE_ID_LEN], uint64_t delivered, uint64_t sent,
			uint64_t lag_ms);
	void *ud;
} evc__v2_ep_fc_cbs_t;
void evc__v2_ep_set_fc_cbs(evc__v2_ep_t *ep, const evc__v2_ep_fc_cbs_t *cbs); /* copied */
/* False while one more DATA datagram would pass the window of the slowest
 * live member (or overwrite data it has not confirmed); the writable
 * callback runs when it opens again. Always true without members. */
bool evc__v2_ep_writable(evc__v2_ep_t *ep);
/* The sender node_id takes STATUS (its HEARTBEAT carried the feature). */
void evc__v2_ep_peer_fc(evc__v2_ep_t *ep, const uint8_t node_id[EVC_V2_NODE_ID_LEN]);
/* Receive hold: while on, DATA waits in the hold-back instead of being
 * delivered and the advertised window shrinks to its free space; off
 * delivers what waits, in order, and sends STATUS at once (deferred to the
 * next poll when called from inside a deliver callback). */
void evc__v2_ep_rx_hold(evc__v2_ep_t *ep, bool on, uint64_t now_us);

/* ------------------------------------------------------------ v2flow.c */
/* The sender's flow-control set: receivers that sent STATUS, bounded; pure
 * state, time passed in (ms). */
typedef struct evc__v2_fc_member {
	uint8_t node_id[EVC_V2_NODE_ID_LEN];
	uint64_t epoch;       /* the receiver's own epoch (a restart resets it) */
	uint64_t delivered;   /* confirmed: every seq <= it */
	uint64_t limit;       /* delivered + window */
	uint64_t heard_ms;    /* last STATUS */
	uint64_t progress_ms; /* last time its window did not stop the sender */
	bool out;             /* dropped for max-lag: not counted until it passes rejoin */
	uint64_t rejoin;      /* ... the seq it must confirm to count again */
} evc__v2_fc_member_t;

typedef struct evc__v2_fc {
	evc__v2_fc_member_t *m;
	size_t n, cap;
	uint64_t timeout_ms, max_lag_ms;
	uint64_t joins, left, dropped, full;
} evc__v2_fc_t;

int evc__v2_fc_init(evc__v2_fc_t *fc, size_t cap, uint64_t timeout_ms, uint64_t max_lag_ms);
void evc__v2_fc_free(evc__v2_fc_t *fc);
/* A STATUS of node (epoch: the receiver's) whose target was this sender;
 * sent: the highest DATA seq sent (delivered beyond it is clamped). Returns
 * 1 when node joined, 0 updated (or stale: delivered went back), EVCAST_E2BIG
 * when the set is full (counted in full). */
int evc__v2_fc_status(evc__v2_fc_t *fc, const uint8_t node[EVC_V2_NODE_ID_LEN], uint64_t epoch,
		      uint64_t delivered, uint32_t window, uint64_t sent, uint64_t now_ms);
/* Counted members (not out). */
size_t evc__v2_fc_count(const evc__v2_fc_t *fc);
/* min(delivered + window) over counted members; UINT64_MAX when none. */
uint64_t evc__v2_fc_limit(const evc__v2_fc_t *fc);
/* min(delivered) over counted members; UINT64_MAX when none. */
uint64_t evc__v2_fc_confirmed(const evc__v2_fc_t *fc);
/* DATA seq is about to be sent: members whose window holds it are not
 * holding the sender (their lag clock restarts). */
void evc__v2_fc_sending(evc__v2_fc_t *fc, uint64_t seq, uint64_t now_ms);
/* Members silent for timeout_ms leave (left); counted members whose window
 * (limit <= sent) has stopped the sender for max_lag_ms are dropped
 * (dropped; cb, may be NULL). Returns the members that left or were dropped. */
size_t evc__v2_fc_sweep(evc__v2_fc_t *fc, uint64_t sent, uint64_t now_ms,
			void (*cb)(void *ud, const evc__v2_fc_member_t *m, uint64_t lag_ms), void *ud);
/* Room for DATA seq: inside every counted member's window, and the ring
 * (datagrams up to dgram bytes) would not evict what one has not confirmed.
 * True without counted members. */
bool evc__v2_fc_room(const evc__v2_fc_t *fc, const evc__v2_txring_t *ring, uint64_t seq, size_t dgram);
/* When sweep has work next (ms); UINT64_MAX when the set is empty. */
uint64_t evc__v2_fc_next_ms(const evc__v2_fc_t *fc, uint64_t sent);

/* The receiver's side, per sender: when a STATUS is due. */
typedef struct evc__v2_fcrx {
	bool capable;          /* the sender takes STATUS */
	bool sent_any;
	uint64_t delivered;    /* in the last STATUS */
	uint32_t window;       /* in the last STATUS */
	uint64_t next_ms;      /* next periodic STATUS */
	uint64_t data_ms;      /* last DATA from the sender */
} evc__v2_fcrx_t;
/* The STATUS's delivered: the highest seq below the first open gap and the
 * first held datagram (first_held 0: none held). */
uint64_t evc__v2_fcrx_delivered(const evc__v2_gaps_t *g, uint64_t first_held);
/* The STATUS's window: full, or less when the hold-back cannot take it:
 * ahead (received past delivered) + what fits in free_bytes (datagrams of
 * dgram bytes) and free_items. */
uint32_t evc__v2_fcrx_window(uint32_t full, uint64_t ahead, size_t free_bytes, size_t free_items, size_t dgram);
/* True when a STATUS with (delivered, window) should go now: first one,
 * periodic time reached, or progress / opening by a quarter of full. */
bool evc__v2_fcrx_due(const evc__v2_fcrx_t *r, uint64_t delivered, uint32_t window, uint32_t full, uint64_t now_ms);
/* Records a STATUS sent; interval_ms while data flowed in the last second,
 * else 1000 ms, until the next periodic one. */
void evc__v2_fcrx_sent(evc__v2_fcrx_t *r, uint64_t delivered, uint32_t window, uint64_t interval_ms,
		       uint64_t now_ms);

/* ------------------------------------------------------------ zbatch.c */
/* zstd compression of DATA batches (flag EVC_V2_F_ZSTD). A context pair and
 * one EVC_V2_ZMAX scratch buffer; output pointers point into it and stay
 * valid until the next call. */
#define EVC_V2_ZMAX (EVC_V2_MAX_DGRAM - EVC_V2_HDR_LEN) /* decompressed bound */
#define EVC_V2_ZMIN 2048u      /* smaller batches are sent as they are */
#define EVC_V2_ZLEVEL_MIN (-7)
#define EVC_V2_ZLEVEL_MAX 9
typedef struct evc__zbatch evc__zbatch_t;
int evc__zbatch_new(int level, evc__zbatch_t **out);
void evc__zbatch_free(evc__zbatch_t *z);
/* The compressed length (*out set) when it saves at least 1/8, else 0:
 * send the batch uncompressed. */
size_t evc__zbatch_deflate(evc__zbatch_t *z, const uint8_t *in, size_t len, const uint8_t **out);
/* The receive step after open for a ZSTD datagram: 0 with the batch in
 * out and outlen, -EVC_V2_R_FLAGS (not an unfragmented DATA), -EVC_V2_R_BATCH
 * (not one zstd frame of declared size 1..EVC_V2_ZMAX), EVCAST_ENOMEM. */
int evc__zbatch_inflate(evc__zbatch_t *z, const evc__v2_hdr_t *h, const uint8_t *in, size_t len,
			const uint8_t **out, size_t *outlen);

#endif
