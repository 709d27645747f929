/*
 * uuid.c -- random (version 4) UUID text for Event-UUIDs, datagram UUIDs and
 * Core-UUIDs, without a system call each.
 *
 * libsodium's randombytes_buf is a getrandom() system call per call on
 * Linux: one per sendevent and per PSK datagram showed in the sender's
 * profile. Here each thread draws a 32-byte key from it once, then fills a
 * 512-byte buffer from ChaCha20 (crypto_stream_chacha20_ietf) under a counter
 * nonce and takes 16 bytes per UUID from it (one ChaCha20 call per 32 UUIDs:
 * a call for 16 bytes computed a whole 64-byte block, ~1000 instructions per
 * UUID), and draws a new key every 2^20 UUIDs. A forked child forgets the
 * key and the buffer (pthread_atfork) and draws its own key before its first
 * UUID, so parent and child never share a stream. Thread-safe: the state is
 * thread-local.
 */
#include "internal.h"
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#define RESEED_AFTER (1u << 20) /* UUIDs per key */
#define POOL 512u                /* keystream bytes per ChaCha20 call: 32 UUIDs */

typedef struct uuid_state {
	uint8_t key[crypto_stream_chacha20_ietf_KEYBYTES];
	uint8_t pool[POOL]; /* keystream not handed out yet: pool[used..POOL) */
	uint32_t used;      /* 0 with no key yet (the state is all zero) */
	uint32_t uuids;     /* UUIDs under this key */
	uint64_t counter;   /* nonce of the next fill */
} uuid_state_t;

static _Thread_local uuid_state_t g_uuid; /* per thread, reset in a forked child */
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

static void forget_key(void)
{
	sodium_memzero(&g_uuid, sizeof(g_uuid));
}

static void register_atfork(void)
{
	(void)pthread_atfork(NULL, NULL, forget_key);
}

/* The next 16 bytes of this thread's stream (a new key first when due). */
static const uint8_t *next16(void)
{
	if (g_uuid.used == 0 || g_uuid.uuids >= RESEED_AFTER) {
		pthread_once(&g_atfork_once, register_atfork);
		int ok = sodium_init(); /* idempotent; randombytes_buf works either way */
		(void)ok;
		randombytes_buf(g_uuid.key, sizeof(g_uuid.key));
		g_uuid.uuids = 0;
		g_uuid.counter = 0;
		g_uuid.used = POOL;
	}
	if (g_uuid.used == POOL) {
		uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
		for (size_t i = 0; i < 8; i++)
			nonce[i] = (uint8_t)(g_uuid.counter >> (8 * i));
		g_uuid.counter++;
		crypto_stream_chacha20_ietf(g_uuid.pool, POOL, nonce, g_uuid.key);
		g_uuid.used = 0;
	}
	const uint8_t *b = g_uuid.pool + g_uuid.used;
	g_uuid.used += 16;
	g_uuid.uuids++;
	return b;
}

void evc__uuid4(char out[37])
{
	static const char hx[] = "0123456789abcdef";
	uint8_t b[16];
	memcpy(b, next16(), sizeof(b));
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	size_t o = 0;
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hx[b[i] >> 4];
		out[o++] = hx[b[i] & 15];
	}
	out[o] = '\0';
}
