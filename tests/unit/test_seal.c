/*
 * test_seal.c -- v2 AEAD and keyring (src/lib/seal.c): round trip, every byte
 * of header and ciphertext tampered -> "auth", unknown key id -> "nokey", key
 * rotation (new primary sends, old still accepted, removed -> rejected),
 * plaintext mode both ways, secret parsing and keygen, and nonce uniqueness
 * over 100 000 seals (distinct nonces and distinct keystreams), and the
 * test vector of docs/PROTOCOL.md Appendix A byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>
#include <stdio.h>
#include <sodium.h>
#include "v2.h"

static void hdr(evc__v2_hdr_t *h, uint64_t seq, uint32_t plain)
{
	memset(h, 0, sizeof(*h));
	h->type = EVC_V2_DATA;
	memset(h->node_id, 0x5A, 16);
	h->node_id[15] = 1;
	h->epoch = 1700000000000000ull;
	h->seq = seq;
	h->ts_us = h->epoch + seq;
	h->frag_count = 1;
	h->msg_len = plain;
}

static evc__v2_keyring_t *ring_with(uint32_t id, uint8_t fill)
{
	evc__v2_keyring_t *kr;
	uint8_t master[32];
	memset(master, fill, sizeof(master));
	assert_int_equal(evc__v2_keyring_new(&kr), 0);
	assert_int_equal(evc__v2_keyring_add_master(kr, id, master), 0);
	return kr;
}

/* decode + open as a receiver does */
static int recv_one(const evc__v2_keyring_t *kr, bool accept_plain, const uint8_t *buf, size_t len, uint8_t *pt,
		    size_t *ptlen)
{
	evc__v2_hdr_t h;
	int rc = evc__v2_hdr_decode(buf, len, &h);
	if (rc < 0)
		return rc;
	return evc__v2_open(kr, accept_plain, &h, buf, len, pt, 2048, ptlen);
}

static void test_round_trip_and_tamper(void **state)
{
	(void)state;
	evc__v2_keyring_t *kr = ring_with(7, 0x11);
	const char msg[] = "\0\0\0\x1b" "Event-Name: HEARTBEAT\n\n\n\n";
	size_t mlen = sizeof(msg) - 1;
	uint8_t dg[512], pt[2048];
	size_t ptlen = 0;
	evc__v2_hdr_t h;
	hdr(&h, 42, (uint32_t)mlen);
	int len = evc__v2_seal(kr, &h, (const uint8_t *)msg, mlen, dg, sizeof(dg));
	assert_int_equal(len, 64 + mlen + 16);
	assert_int_equal(h.key_id, 7);
	assert_int_equal(h.flags, EVC_V2_F_SEALED);
	assert_int_equal(recv_one(kr, false, dg, (size_t)len, pt, &ptlen), 0);
	assert_int_equal(ptlen, mlen);
	assert_memory_equal(pt, msg, mlen);
	/* the plaintext is not visible in the datagram */
	assert_null(memmem(dg, (size_t)len, "HEARTBEAT", 9));

	/* every single byte flipped: rejected, by the header checks or by auth */
	for (int i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			dg[i] ^= (uint8_t)(1u << bit);
			int rc = recv_one(kr, false, dg, (size_t)len, pt, &ptlen);
			if (rc == 0)
				fail_msg("byte %d bit %d flipped and still accepted", i, bit);
			/* key id flips give nokey; header field flips may fail earlier; the
			 * payload and the authenticated-only fields (node, seq, ts...) give auth */
			if (i >= 64 || (i >= 12 && i < 28) || (i >= 36 && i < 44))
				assert_int_equal(rc, -EVC_V2_R_AUTH);
			dg[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_int_equal(recv_one(kr, false, dg, (size_t)len, pt, &ptlen), 0); /* restored */
	/* truncated by one (length field no longer matches) and too long */
	assert_int_equal(recv_one(kr, false, dg, (size_t)len - 1, pt, &ptlen), -EVC_V2_R_LENGTH);
	/* a small output buffer is a local error, not a reject */
	evc__v2_hdr_t d;
	assert_int_equal(evc__v2_hdr_decode(dg, (size_t)len, &d), 0);
	assert_int_equal(evc__v2_open(kr, false, &d, dg, (size_t)len, pt, mlen - 1, &ptlen), EVCAST_E2BIG);
	/* too large to seal */
	assert_int_equal(evc__v2_seal(kr, &h, (const uint8_t *)msg, mlen, dg, 64 + mlen + 15), EVCAST_E2BIG);
	evc__v2_keyring_free(kr);
}

static void test_wrong_key(void **state)
{
	(void)state;
	evc__v2_keyring_t *a = ring_with(1, 0x11);
	evc__v2_keyring_t *b = ring_with(2, 0x11);    /* same secret, other id: other key */
	evc__v2_keyring_t *c = ring_with(1, 0x22);    /* same id, other secret */
	uint8_t dg[256], pt[2048];
	size_t ptlen;
	evc__v2_hdr_t h;
	hdr(&h, 1, 5);
	int len = evc__v2_seal(a, &h, (const uint8_t *)"hello", 5, dg, sizeof(dg));
	assert_true(len > 0);
	assert_int_equal(recv_one(b, false, dg, (size_t)len, pt, &ptlen), -EVC_V2_R_NOKEY);
	assert_int_equal(recv_one(c, false, dg, (size_t)len, pt, &ptlen), -EVC_V2_R_AUTH);
	/* rewriting the key id to one b knows does not help: id is authenticated */
	dg[11] = 2;
	assert_int_equal(recv_one(b, false, dg, (size_t)len, pt, &ptlen), -EVC_V2_R_AUTH);
	/* no keys at all: sealed datagrams are refused */
	evc__v2_keyring_t *none;
	assert_int_equal(evc__v2_keyring_new(&none), 0);
	dg[11] = 1;
	assert_int_equal(recv_one(none, false, dg, (size_t)len, pt, &ptlen), -EVC_V2_R_NOKEY);
	assert_int_equal(recv_one(NULL, false, dg, (size_t)len, pt, &ptlen), -EVC_V2_R_NOKEY);
	evc__v2_keyring_free(none);
	evc__v2_keyring_free(a);
	evc__v2_keyring_free(b);
	evc__v2_keyring_free(c);
}

static void test_plaintext_mode(void **state)
{
	(void)state;
	evc__v2_keyring_t *none, *kr = ring_with(3, 0x33);
	assert_int_equal(evc__v2_keyring_new(&none), 0);
	assert_int_equal(evc__v2_keyring_primary(none), 0);
	uint8_t dg[256], pt[2048];
	size_t ptlen;
	evc__v2_hdr_t h;
	hdr(&h, 9, 5);
	int len = evc__v2_seal(none, &h, (const uint8_t *)"plain", 5, dg, sizeof(dg));
	assert_int_equal(len, 64 + 5);
	assert_int_equal(h.flags, 0);
	assert_int_equal(h.key_id, 0);
	assert_memory_equal(dg + 64, "plain", 5);
	assert_int_equal(recv_one(none, false, dg, (size_t)len, pt, &ptlen), 0);
	assert_memory_equal(pt, "plain", 5);
	/* a node with keys refuses plaintext unless told to accept it (migration) */
	assert_int_equal(recv_one(kr, false, dg, (size_t)len, pt, &ptlen), -EVC_V2_R_PLAIN);
	assert_int_equal(recv_one(kr, true, dg, (size_t)len, pt, &ptlen), 0);
	evc__v2_keyring_free(none);
	evc__v2_keyring_free(kr);
}

static void test_rotation(void **state)
{
	(void)state;
	char k1[EVCAST_V2_KEYGEN_LEN], k2[EVCAST_V2_KEYGEN_LEN], err[128];
	assert_true(evcast_v2_keygen(1, k1, sizeof(k1)) > 0);
	assert_true(evcast_v2_keygen(2, k2, sizeof(k2)) > 0);
	assert_true(strncmp(k1, "1:", 2) == 0 && strlen(k1) == 2 + 44);
	assert_string_not_equal(k1 + 2, k2 + 2);
	evc__v2_keyring_t *old_node, *new_node;
	assert_int_equal(evc__v2_keyring_new(&old_node), 0);
	assert_int_equal(evc__v2_keyring_new(&new_node), 0);
	assert_int_equal(evc__v2_keyring_add(old_node, k1, err, sizeof(err)), 0);
	/* step 1: the new key is added everywhere, not primary */
	assert_int_equal(evc__v2_keyring_add(new_node, k1, err, sizeof(err)), 0);
	assert_int_equal(evc__v2_keyring_add(new_node, k2, err, sizeof(err)), 0);
	assert_int_equal(evc__v2_keyring_add(old_node, k2, err, sizeof(err)), 0);
	assert_int_equal(evc__v2_keyring_primary(new_node), 1);
	/* step 2: new_node switches primary; old_node still accepts */
	assert_int_equal(evc__v2_keyring_set_primary(new_node, 2), 0);
	assert_int_equal(evc__v2_keyring_set_primary(new_node, 99), EVCAST_ENOENT);
	uint8_t dg[256], pt[2048];
	size_t ptlen;
	evc__v2_hdr_t h;
	hdr(&h, 1, 4);
	int len = evc__v2_seal(new_node, &h, (const uint8_t *)"rot!", 4, dg, sizeof(dg));
	assert_int_equal(h.key_id, 2);
	assert_int_equal(recv_one(old_node, false, dg, (size_t)len, pt, &ptlen), 0);
	/* and old_node, still sending with key 1, is accepted by new_node */
	hdr(&h, 2, 4);
	len = evc__v2_seal(old_node, &h, (const uint8_t *)"old!", 4, dg, sizeof(dg));
	assert_int_equal(h.key_id, 1);
	assert_int_equal(recv_one(new_node, false, dg, (size_t)len, pt, &ptlen), 0);
	/* step 3: key 1 removed: its datagrams are now refused */
	assert_int_equal(evc__v2_keyring_remove(new_node, 1), 0);
	assert_int_equal(evc__v2_keyring_primary(new_node), 2);
	assert_int_equal(recv_one(new_node, false, dg, (size_t)len, pt, &ptlen), -EVC_V2_R_NOKEY);
	assert_int_equal(evc__v2_keyring_remove(new_node, 1), EVCAST_ENOENT);
	evc__v2_keyring_free(old_node);
	evc__v2_keyring_free(new_node);
}

static void test_secret_parsing(void **state)
{
	(void)state;
	evc__v2_keyring_t *kr;
	char err[128];
	assert_int_equal(evc__v2_keyring_new(&kr), 0);
	assert_int_equal(evc__v2_keyring_add(kr, "nocolon", err, sizeof(err)), EVCAST_EINVAL);
	assert_non_null(strstr(err, "ID:SECRET"));
	assert_int_equal(evc__v2_keyring_add(kr, ":abcdefghijklmnopq", err, sizeof(err)), EVCAST_EINVAL);
	assert_int_equal(evc__v2_keyring_add(kr, "0:abcdefghijklmnopq", err, sizeof(err)), EVCAST_EINVAL);
	assert_int_equal(evc__v2_keyring_add(kr, "4294967296:abcdefghijklmnopq", err, sizeof(err)), EVCAST_EINVAL);
	assert_int_equal(evc__v2_keyring_add(kr, "x1:abcdefghijklmnopq", err, sizeof(err)), EVCAST_EINVAL);
	assert_int_equal(evc__v2_keyring_add(kr, "5:short", err, sizeof(err)), EVCAST_EINVAL);
	assert_non_null(strstr(err, "16"));
	assert_int_equal(evc__v2_keyring_add(kr, "4294967295:a passphrase of some length", err, sizeof(err)), 0);
	assert_int_equal(evc__v2_keyring_add(kr, "4294967295:another one, long enough", err, sizeof(err)),
			 EVCAST_EINVAL); /* duplicate id */
	assert_int_equal(evc__v2_keyring_count(kr), 1);
	char spec[32];
	for (int i = 1; i < 16; i++) {
		snprintf(spec, sizeof(spec), "%d:passphrase-%04d-x", i, i);
		assert_int_equal(evc__v2_keyring_add(kr, spec, NULL, 0), 0);
	}
	assert_int_equal(evc__v2_keyring_add(kr, "99:passphrase-0099-x", err, sizeof(err)), EVCAST_E2BIG);
	assert_int_equal(evc__v2_keyring_count(kr), 16);
	evc__v2_keyring_free(kr);
	/* the same passphrase derives the same key on two nodes */
	evc__v2_keyring_t *a, *b;
	assert_int_equal(evc__v2_keyring_new(&a), 0);
	assert_int_equal(evc__v2_keyring_new(&b), 0);
	assert_int_equal(evc__v2_keyring_add(a, "12:correct horse battery staple", NULL, 0), 0);
	assert_int_equal(evc__v2_keyring_add(b, "12:correct horse battery staple", NULL, 0), 0);
	uint8_t dg[256], pt[2048];
	size_t ptlen;
	evc__v2_hdr_t h;
	hdr(&h, 3, 3);
	int len = evc__v2_seal(a, &h, (const uint8_t *)"abc", 3, dg, sizeof(dg));
	assert_int_equal(recv_one(b, false, dg, (size_t)len, pt, &ptlen), 0);
	evc__v2_keyring_free(a);
	evc__v2_keyring_free(b);
	char small[10];
	assert_int_equal(evcast_v2_keygen(1, small, sizeof(small)), EVCAST_E2BIG);
	assert_int_equal(evcast_v2_keygen(0, small, sizeof(small)), EVCAST_EINVAL);
}

/* The nonce documented in PROTOCOL.md is the one used: open with libsodium directly. */
static void test_nonce_is_the_documented_one(void **state)
{
	(void)state;
	uint8_t master[32], key[32], nonce[24], dg[256], pt[64];
	memset(master, 0x77, sizeof(master));
	crypto_kdf_derive_from_key(key, 32, 5, "evcastv2", master);
	evc__v2_keyring_t *kr;
	assert_int_equal(evc__v2_keyring_new(&kr), 0);
	assert_int_equal(evc__v2_keyring_add_master(kr, 5, master), 0);
	evc__v2_hdr_t h;
	hdr(&h, 0x1122334455667788ull, 6);
	int len = evc__v2_seal(kr, &h, (const uint8_t *)"nonce!", 6, dg, sizeof(dg));
	memcpy(nonce, dg + 12, 8);       /* node_id[0..7] */
	memcpy(nonce + 8, dg + 28, 8);   /* epoch BE */
	memcpy(nonce + 16, dg + 36, 8);  /* seq BE */
	unsigned long long mlen;
	assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &mlen, NULL, dg + 64, (unsigned long long)len - 64,
								    dg, 64, nonce, key),
			 0);
	assert_memory_equal(pt, "nonce!", 6);
	evc__v2_keyring_free(kr);
}


static void unhex(const char *h, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* docs/PROTOCOL.md Appendix A, byte for byte (the nonce is deterministic). */
static void test_spec_vector(void **state)
{
	(void)state;
	static const char sealed_hex[] =
		"eca576320201010000000007a0a1a2a3a4a5a6a7a8a9aaabacadaeaf00064748"
		"4620400000000000000000010006474846241090000000010000003900000049"
		"30802df36f299c62829bf6be6563f99c605ad580d5ce155c6df782f3f0449cc1"
		"aaaca98e8237d0db754ac7d99fe3247697611c3825f9a7ae2b7d9f7345e89fa5"
		"d97767241e527afcf6";
	static const char plain_hex[] =
		"eca576320201000000000000a0a1a2a3a4a5a6a7a8a9aaabacadaeaf00064748"
		"4620400000000000000000010006474846241090000000010000003900000039"
		"000000354576656e742d4e616d653a20435553544f4d0a4576656e742d537562"
		"636c6173733a2074657374253341253341766563746f720a0a";
	uint8_t master[32], want[137], dg[512], batch[256], pt[2048];
	for (int i = 0; i < 32; i++)
		master[i] = (uint8_t)i;
	evc__v2_keyring_t *kr;
	assert_int_equal(evc__v2_keyring_new(&kr), 0);
	assert_int_equal(evc__v2_keyring_add_master(kr, 7, master), 0);
	evc__v2_batch_t b;
	evc__v2_batch_init(&b, batch, sizeof(batch));
	const char *e = "Event-Name: CUSTOM\nEvent-Subclass: test%3A%3Avector\n\n";
	assert_int_equal(evc__v2_batch_add(&b, e, strlen(e)), 0);
	evc__v2_hdr_t h;
	memset(&h, 0, sizeof(h));
	h.type = EVC_V2_DATA;
	for (int i = 0; i < 16; i++)
		h.node_id[i] = (uint8_t)(0xA0 + i);
	h.epoch = 1767225600000000ull;
	h.seq = 1;
	h.ts_us = 1767225600250000ull;
	h.frag_count = 1;
	h.msg_len = (uint32_t)b.len;
	int n = evc__v2_seal(kr, &h, batch, b.len, dg, sizeof(dg));
	assert_int_equal(n, 137);
	unhex(sealed_hex, want, 137);
	assert_memory_equal(dg, want, 137);
	size_t ptlen;
	assert_int_equal(recv_one(kr, false, dg, 137, pt, &ptlen), 0);
	assert_int_equal(ptlen, b.len);
	n = evc__v2_seal(NULL, &h, batch, b.len, dg, sizeof(dg));
	assert_int_equal(n, 121);
	unhex(plain_hex, want, 121);
	assert_memory_equal(dg, want, 121);
	evc__v2_keyring_free(kr);
}

static int cmp16(const void *a, const void *b) { return memcmp(a, b, 16); }
static int cmp24(const void *a, const void *b) { return memcmp(a, b, 24); }

static void test_nonce_uniqueness_100k(void **state)
{
	(void)state;
	enum { N = 100000 };
	evc__v2_keyring_t *kr = ring_with(1, 0x44);
	uint8_t *nonces = malloc((size_t)N * 24), *streams = malloc((size_t)N * 16);
	assert_non_null(nonces);
	assert_non_null(streams);
	uint8_t zero[16] = {0}, dg[128];
	evc__v2_hdr_t h;
	/* 2 nodes x 2 epochs x 25 000 seqs: the same plaintext every time, so equal
	 * keystreams would show as equal ciphertexts */
	for (int i = 0; i < N; i++) {
		int node = i / (N / 2), epoch = (i / (N / 4)) % 2;
		hdr(&h, (uint64_t)(i % (N / 4)) + 1, 16);
		h.node_id[0] = (uint8_t)(0xA0 + node);
		h.epoch += (uint64_t)epoch;
		int len = evc__v2_seal(kr, &h, zero, 16, dg, sizeof(dg));
		assert_int_equal(len, 64 + 16 + 16);
		evc__v2_nonce(&h, nonces + (size_t)i * 24);
		memcpy(streams + (size_t)i * 16, dg + 64, 16);
	}
	qsort(nonces, N, 24, cmp24);
	qsort(streams, N, 16, cmp16);
	for (int i = 1; i < N; i++) {
		if (!memcmp(nonces + (size_t)(i - 1) * 24, nonces + (size_t)i * 24, 24))
			fail_msg("nonce repeated at sorted index %d", i);
		if (!memcmp(streams + (size_t)(i - 1) * 16, streams + (size_t)i * 16, 16))
			fail_msg("keystream repeated at sorted index %d", i);
	}
	free(nonces);
	free(streams);
	evc__v2_keyring_free(kr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_and_tamper),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_plaintext_mode),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_secret_parsing),
		cmocka_unit_test(test_nonce_is_the_documented_one),
		cmocka_unit_test(test_nonce_uniqueness_100k),
		cmocka_unit_test(test_spec_vector),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
