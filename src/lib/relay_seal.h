/*
 * relay_seal.h -- the NATS payload (docs/PROTOCOL.md section 13,
 * docs/MULTISITE.md): "EVN1" + plain event text, or "EVS1" sealed with the
 * node's v2 keyring (XChaCha20-Poly1305, the 72 header bytes and the NATS
 * subject as associated data). relay_seal.c is the pure codec; node_relay.c
 * adds the node's identity, the replay window and the skew bound. Negative
 * returns are EVCAST_E* codes or -EVC_RELAY_R_* rejects (names below).
 */
#ifndef EVCAST_RELAY_SEAL_H
#define EVCAST_RELAY_SEAL_H

#include "v2.h"

#define EVC_RELAY_PLAIN_MAGIC "EVN1"
#define EVC_RELAY_SEALED_MAGIC "EVS1"
#define EVC_RELAY_HDR_LEN 72u
#define EVC_RELAY_OVERHEAD (EVC_RELAY_HDR_LEN + EVC_V2_TAG_LEN)
#define EVC_RELAY_MAX_SUBJECT 512u
#define EVC_RELAY_MAX_TEXT EVC_V2_MAX_EVENT

/* Rejects; functions return their negation (200.. never collides with EVCAST_E*). */
enum evc__relay_reason {
	EVC_RELAY_R_FIRST = 200,
	EVC_RELAY_R_TRUNCATED = EVC_RELAY_R_FIRST, /* shorter than its magic/header + tag, or over 1 MiB */
	EVC_RELAY_R_MAGIC,                         /* neither EVN1 nor EVS1 */
	EVC_RELAY_R_PLAIN,                         /* plain payload on a node with encrypt=yes */
	EVC_RELAY_R_SEALED,                        /* sealed payload on a node with encrypt=no */
	EVC_RELAY_R_NOKEY,                         /* sealed with a key id not configured here */
	EVC_RELAY_R_AUTH,                          /* tag does not verify (tampered, other subject, other key) */
	EVC_RELAY_R_REPLAY,                        /* (node id, epoch, seq) already seen or older than the window */
	EVC_RELAY_R_SKEW,                          /* sealing time too far from our clock */
	EVC_RELAY_R_SUBJECT,                       /* subject longer than 512 bytes */
	EVC_RELAY_R_END
};
#define EVC_RELAY_R_COUNT (EVC_RELAY_R_END - EVC_RELAY_R_FIRST)

/* "truncated", "nats_plain_while_encrypt", ... for a reason (positive or
 * negated); evcast_strerror() text for other codes; never NULL. */
const char *evc__relay_reason_name(int code);

/* The authenticated header of a sealed payload (all big-endian on the wire):
 * magic(4) key_id(4) node_id(16) epoch(8) seq(8) ts_us(8) nonce(24). */
typedef struct evc__relay_hdr {
	uint32_t key_id;
	uint8_t node_id[EVC_V2_NODE_ID_LEN];
	uint64_t epoch, seq, ts_us;
	uint8_t nonce[24];
} evc__relay_hdr_t;

/* Seals text (ptlen <= 1 MiB) for subject into out: h's node_id, epoch, seq and
 * ts_us are the caller's; key_id (primary) and a random nonce are set here.
 * Returns the payload length, EVCAST_E2BIG (cap or limits), -EVC_RELAY_R_NOKEY
 * (no key), -EVC_RELAY_R_SUBJECT. */
int evc__relay_seal(const evc__v2_keyring_t *kr, const char *subject, evc__relay_hdr_t *h, const uint8_t *pt,
		    size_t ptlen, uint8_t *out, size_t cap);

/* Decodes a payload received on subject. encrypt: only sealed ones are taken
 * (a plain one is -EVC_RELAY_R_PLAIN); otherwise only plain ones (a sealed one
 * is -EVC_RELAY_R_SEALED). On 0, *text and *tlen give the event text: borrowed from
 * buf (plain) or written to pt (sealed; cap >= len - 88), and *sealed tells
 * which; h is filled for a sealed payload. No clock, no replay state. */
int evc__relay_open(const evc__v2_keyring_t *kr, bool encrypt, const char *subject, const uint8_t *buf, size_t len,
		    evc__relay_hdr_t *h, uint8_t *pt, size_t cap, const uint8_t **text, size_t *tlen, bool *sealed);

/* node_relay.c: the same with the node's keyring and identity. */
/* True when the node has at least one v2 key (encrypt=yes can work). */
bool evc__node_relay_has_keys(const evcast_node_t *n);
/* Seals text for subject as this node (v2 node id, epoch = start time, seq =
 * the relay's own counter, ts = now). Needs the exactly-once filter installed
 * (evcast_node_dedupe): EVCAST_ESTATE otherwise. Returns as evc__relay_seal. */
int evc__node_relay_seal(evcast_node_t *n, const char *subject, const char *text, size_t len, uint8_t *out,
			 size_t cap);
/* evc__relay_open, then for a sealed payload: |ts - now| <= max_skew_us (0: no
 * bound) else -EVC_RELAY_R_SKEW, and the replay window on (node id, epoch,
 * seq) else -EVC_RELAY_R_REPLAY (recorded only once authenticated). */
int evc__node_relay_open(evcast_node_t *n, bool encrypt, uint64_t max_skew_us, const char *subject,
			 const uint8_t *buf, size_t len, uint8_t *pt, size_t cap, const uint8_t **text, size_t *tlen);
/* evcast_node_input_text, and when relay is set and the event was delivered
 * (0: a first sight), evcast_node_relay_text on the same parse (one parse per
 * relayed message instead of two); *relayed (may be NULL) gets the relay's
 * result, 1 when nothing was relayed. Returns as evcast_node_input_text. */
int evc__node_input_relay(evcast_node_t *n, const char *text, size_t len, const char *via, bool relay, int *relayed);

#endif
