/*
 * legacy.c -- the mod_event_multicast datagram codec (spec/legacy-wire.md).
 *
 * Owns MAGIC, the PSK key schedule (Blowfish via nettle, in sodium_malloc
 * memory wiped on free) and the two datagram shapes, byte for byte:
 *   plain: serialized || MAGIC || 272 zero bytes
 *   psk:   uuid text (36) || 220 zeros || BF-CBC/PKCS#7(serialized || MAGIC), IV = uuid[0..8)
 * Decoding never trusts its input: every malformed datagram is an error code,
 * never a crash; everything after MAGIC is ignored. No I/O, no logging.
 * Sections: key, encode, decode.
 */
#include "internal.h"
#include <nettle/blowfish.h>
#include <nettle/cbc.h>
#include <sodium.h>
#include <string.h>

const uint8_t evcast_legacy_magic[EVCAST_LEGACY_MAGIC_LEN] = {226, 132, 177, 197, 152, 198, 142, 211, 172, 197, 158,
							       208, 169, 208, 135, 197, 166, 207, 154, 196, 166};

#define UUID_LEN 36
#define BF_BLOCK BLOWFISH_BLOCK_SIZE
#define BF_KEY_MAX 72 /* Blowfish's P-array takes 18 * 4 key bytes; the rest is unused */

struct evcast_legacy_key {
	struct blowfish_ctx bf;
};

/* -------------------------------------------------------------------- key */

int evcast_legacy_key_new(const char *psk, size_t len, evcast_legacy_key_t **out)
{
	if (!out)
		return EVCAST_EINVAL;
	*out = NULL;
	if (!psk || len == 0)
		return EVCAST_EINVAL;
	if (sodium_init() < 0)
		return EVCAST_EIO;
	evcast_legacy_key_t *key = sodium_malloc(sizeof(*key));
	if (!key)
		return EVCAST_ENOMEM;
	/* The weak-key result is deliberately ignored: OpenSSL (what deployed
	 * nodes use) does not check it either, and the bytes must match. */
	(void)blowfish_set_key(&key->bf, len > BF_KEY_MAX ? BF_KEY_MAX : len, (const uint8_t *)psk);
	*out = key;
	return 0;
}

void evcast_legacy_key_free(evcast_legacy_key_t *key)
{
	if (key)
		sodium_free(key); /* wipes */
}

static void bf_encrypt(const void *ctx, size_t len, uint8_t *dst, const uint8_t *src)
{
	blowfish_encrypt(ctx, len, dst, src);
}

static void bf_decrypt(const void *ctx, size_t len, uint8_t *dst, const uint8_t *src)
{
	blowfish_decrypt(ctx, len, dst, src);
}

/* ------------------------------------------------------------------ encode */

/* The first n bytes (n <= 36) have the shape of a textual UUID. */
static bool uuid_shape(const uint8_t *u, size_t n)
{
	for (size_t i = 0; i < n && i < UUID_LEN; i++) {
		uint8_t c = u[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
			return false;
		}
	}
	return true;
}

int evcast_legacy_encode(const evcast_event_t *ev, const evcast_legacy_key_t *key, const char *uuid, uint8_t *buf,
			 size_t cap)
{
	if (!ev || !buf)
		return EVCAST_EINVAL;
	if (cap > EVCAST_LEGACY_MAX_DGRAM)
		cap = EVCAST_LEGACY_MAX_DGRAM; /* nothing larger can be sent */
	if (!key) {
		if (cap < EVCAST_LEGACY_MAGIC_LEN + EVCAST_LEGACY_TAIL_LEN)
			return EVCAST_E2BIG;
		int n = evcast_event_write_plain(ev, (char *)buf, cap - EVCAST_LEGACY_MAGIC_LEN - EVCAST_LEGACY_TAIL_LEN);
		if (n < 0)
			return n;
		memcpy(buf + n, evcast_legacy_magic, EVCAST_LEGACY_MAGIC_LEN);
		memset(buf + n + EVCAST_LEGACY_MAGIC_LEN, 0, EVCAST_LEGACY_TAIL_LEN);
		return n + EVCAST_LEGACY_MAGIC_LEN + EVCAST_LEGACY_TAIL_LEN;
	}
	char u[UUID_LEN + 1];
	if (uuid) {
		if (strlen(uuid) != UUID_LEN || !uuid_shape((const uint8_t *)uuid, UUID_LEN))
			return EVCAST_EINVAL;
		memcpy(u, uuid, UUID_LEN + 1);
	} else {
		evc__uuid4(u); /* libsodium is initialised: the key was made by evcast_legacy_key_new */
	}
	if (cap < EVCAST_LEGACY_UUID_HDR + EVCAST_LEGACY_MAGIC_LEN + BF_BLOCK)
		return EVCAST_E2BIG;
	/* the largest plaintext whose PKCS#7 padding (1..8 bytes) still fits */
	size_t room = (cap - EVCAST_LEGACY_UUID_HDR) / BF_BLOCK * BF_BLOCK - 1;
	uint8_t *ct = buf + EVCAST_LEGACY_UUID_HDR;
	int n = evcast_event_write_plain(ev, (char *)ct, room - EVCAST_LEGACY_MAGIC_LEN);
	if (n < 0)
		return n;
	size_t p = (size_t)n;
	memcpy(ct + p, evcast_legacy_magic, EVCAST_LEGACY_MAGIC_LEN);
	p += EVCAST_LEGACY_MAGIC_LEN;
	size_t pad = BF_BLOCK - p % BF_BLOCK;
	memset(ct + p, (int)pad, pad);
	p += pad;
	memcpy(buf, u, UUID_LEN);
	memset(buf + UUID_LEN, 0, EVCAST_LEGACY_UUID_HDR - UUID_LEN);
	uint8_t iv[BF_BLOCK];
	memcpy(iv, u, BF_BLOCK);
	cbc_encrypt(&key->bf, bf_encrypt, BF_BLOCK, iv, p, ct, ct);
	return (int)(EVCAST_LEGACY_UUID_HDR + p);
}

/* ------------------------------------------------------------------ decode */

/* memmem for MAGIC, by its first byte: 0xE2 never occurs in plain event text
 * (every byte above 0x7E is URL-encoded), so memchr lands on MAGIC at once. */
static const uint8_t *find_magic(const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;
	while ((size_t)(end - p) >= EVCAST_LEGACY_MAGIC_LEN) {
		const uint8_t *c = memchr(p, evcast_legacy_magic[0], (size_t)(end - p) - EVCAST_LEGACY_MAGIC_LEN + 1);
		if (!c)
			return NULL;
		if (memcmp(c, evcast_legacy_magic, EVCAST_LEGACY_MAGIC_LEN) == 0)
			return c;
		p = c + 1;
	}
	return NULL;
}

/* MAGIC at p (21 readable bytes): three overlapping 8-byte compares. */
static inline bool magic_at(const uint8_t *p)
{
	uint64_t a[3], b[3];
	memcpy(&a[0], p, 8);
	memcpy(&a[1], p + 8, 8);
	memcpy(&a[2], p + EVCAST_LEGACY_MAGIC_LEN - 8, 8);
	memcpy(&b[0], evcast_legacy_magic, 8);
	memcpy(&b[1], evcast_legacy_magic + 8, 8);
	memcpy(&b[2], evcast_legacy_magic + EVCAST_LEGACY_MAGIC_LEN - 8, 8);
	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2])) == 0;
}

/* The usual plain datagram (text, MAGIC, zero tail) in one scan: when the
 * last byte is NUL, strchrnul stops inside the buffer at the first MAGIC
 * byte or NUL; a whole MAGIC there ends a text that holds no NUL (*nul is
 * its length). Otherwise NULL, and *nul the first NUL's offset when that
 * came first (it then lies in the text, as MAGIC follows it), else SIZE_MAX. */
static const uint8_t *find_magic_plain(const uint8_t *buf, size_t len, size_t *nul)
{
	*nul = SIZE_MAX;
	if (buf[len - 1] != 0)
		return NULL;
	const uint8_t *q = (const uint8_t *)strchrnul((const char *)buf, (char)evcast_legacy_magic[0]);
	if (*q == 0) {
		*nul = (size_t)(q - buf);
		return NULL;
	}
	if ((size_t)(buf + len - q) >= EVCAST_LEGACY_MAGIC_LEN && magic_at(q)) {
		*nul = (size_t)(q - buf);
		return q;
	}
	return NULL;
}

/* The event text of a datagram: the bytes before MAGIC, decrypted first with
 * a key. *owned (wiped and freed by release_text) holds the plaintext of an
 * encrypted datagram. *nul: the offset of the text's first NUL byte (its
 * length when it has none), or SIZE_MAX when not known. */
static int locate_text(const uint8_t *buf, size_t len, const evcast_legacy_key_t *key, const uint8_t **text,
		       size_t *ntext, uint8_t **owned, size_t *nowned, size_t *nul)
{
	*owned = NULL;
	*nul = SIZE_MAX;
	if (len == 0)
		return EVCAST_EEMPTY;
	if (!buf)
		return EVCAST_EINVAL;
	if (len > EVCAST_LEGACY_MAX_DGRAM)
		return EVCAST_E2BIG;
	const uint8_t *m;
	if (!key) {
		if (!(m = find_magic_plain(buf, len, nul)) && !(m = find_magic(buf, len)))
			return EVCAST_ENOMAGIC;
		*text = buf;
	} else {
		if (find_magic(buf, len) || !uuid_shape(buf, len))
			return EVCAST_EPLAIN; /* MAGIC in clear, or no uuid header: not encrypted */
		if (len < EVCAST_LEGACY_UUID_HDR + BF_BLOCK || (len - EVCAST_LEGACY_UUID_HDR) % BF_BLOCK != 0)
			return EVCAST_ETRUNC;
		size_t clen = len - EVCAST_LEGACY_UUID_HDR;
		uint8_t *pt = evc__malloc(clen);
		if (!pt)
			return EVCAST_ENOMEM;
		uint8_t iv[BF_BLOCK];
		memcpy(iv, buf, BF_BLOCK);
		cbc_decrypt(&key->bf, bf_decrypt, BF_BLOCK, iv, clen, pt, buf + EVCAST_LEGACY_UUID_HDR);
		*owned = pt;
		*nowned = clen;
		size_t pad = pt[clen - 1], i = 1;
		if (pad < 1 || pad > BF_BLOCK)
			return EVCAST_EPSK;
		while (i < pad && pt[clen - 1 - i] == pad)
			i++;
		if (i != pad || !(m = find_magic(pt, clen - pad)))
			return EVCAST_EPSK; /* bad padding or no MAGIC: wrong key */
		*text = pt;
	}
	*ntext = (size_t)(m - *text);
	return *ntext ? 0 : EVCAST_EPARSE; /* MAGIC with nothing before it */
}

static void release_text(uint8_t *owned, size_t n)
{
	if (owned) {
		sodium_memzero(owned, n);
		evc__free(owned);
	}
}

int evc__legacy_decode_into(const uint8_t *buf, size_t len, const evcast_legacy_key_t *key, const char *prefix,
			    evcast_event_t *ev)
{
	if (!ev)
		return EVCAST_EINVAL;
	const uint8_t *text;
	size_t ntext = 0, nowned = 0, nul;
	uint8_t *owned;
	int r = locate_text(buf, len, key, &text, &ntext, &owned, &nowned, &nul);
	if (r == 0)
		r = evc__event_parse_plain_nul(ev, (const char *)text, ntext, prefix, nul, true); /* MAGIC follows */
	release_text(owned, nowned);
	return r;
}

int evcast_legacy_decode(const uint8_t *buf, size_t len, const evcast_legacy_key_t *key, evcast_event_t **out)
{
	if (!out)
		return EVCAST_EINVAL;
	*out = NULL;
	const uint8_t *text;
	size_t ntext = 0, nowned = 0, nul;
	uint8_t *owned;
	int r = locate_text(buf, len, key, &text, &ntext, &owned, &nowned, &nul);
	if (r == 0)
		r = evcast_event_from_plain((const char *)text, ntext, out);
	release_text(owned, nowned);
	return r;
}
