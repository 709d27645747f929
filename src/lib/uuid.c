/*
 * uuid.c -- random (version 4) UUID text for Event-UUIDs, datagram UUIDs and
 * Core-UUIDs, without a system call each.
 *
 * libsodium's randombytes_buf is a getrandom() system call per call on
 * Linux: one per sendevent and per PSK datagram showed in the sender's
 * profile. Here each thread draws a 32-byte key from it once, then takes 16
 * bytes per UUID from ChaCha20 (crypto_stream_chacha20_ietf) under a counter
 * nonce, and draws a new key every 2^20 UUIDs. A forked child draws its own
 * key before its first UUID (pthread_atfork), so parent and child never
 * share a stream. Thread-safe: the state is thread-local.
 */
#include "internal.h"
#include <pthread.h>
#include <sodium.h>

#define RESEED_AFTER (1u << 20)

typedef struct uuid_state {
	uint8_t key[crypto_stream_chacha20_ietf_KEYBYTES];
	uint64_t counter; /* 0: no key yet */
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

void evc__uuid4(char out[37])
{
	static const char hx[] = "0123456789abcdef";
	uint8_t b[16], nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
	if (g_uuid.counter == 0 || g_uuid.counter > RESEED_AFTER) {
		pthread_once(&g_atfork_once, register_atfork);
		int ok = sodium_init(); /* idempotent; randombytes_buf works either way */
		(void)ok;
		randombytes_buf(g_uuid.key, sizeof(g_uuid.key));
		g_uuid.counter = 1;
	}
	for (size_t i = 0; i < 8; i++)
		nonce[i] = (uint8_t)(g_uuid.counter >> (8 * i));
	g_uuid.counter++;
	crypto_stream_chacha20_ietf(b, sizeof(b), nonce, g_uuid.key);
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
