/*
 * test_relay_seal.c -- the sealed NATS payload (src/lib/relay_seal.c and the
 * node side in node_relay.c): round trip; every byte of header, ciphertext and
 * tag tampered (magic -> bad_magic, key id -> unknown_key_id or bad_tag,
 * anything else -> bad_tag); another subject -> bad_tag; every truncation;
 * unknown key id; key rotation (the old key still opens, a removed one does
 * not); plain vs sealed mismatch both ways; and on real nodes (loopback):
 * sealing as the node, replay of the same payload -> replayed, a sealing time
 * out of the skew bound -> skew, no key -> the node reports it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "relay_seal.h"
#include "test_ports.h"

#define SUBJ "evcast.it.CUSTOM.test.ping"
#define TEXT "Event-Name: CUSTOM\nEvent-Subclass: test::ping\nX-Secret: hunter2-header-value\n\n"

static evc__v2_keyring_t *ring(uint32_t id, uint8_t fill)
{
	evc__v2_keyring_t *kr;
	uint8_t master[32];
	memset(master, fill, sizeof(master));
	assert_int_equal(evc__v2_keyring_new(&kr), 0);
	assert_int_equal(evc__v2_keyring_add_master(kr, id, master), 0);
	return kr;
}

static int seal_text(const evc__v2_keyring_t *kr, const char *subj, uint8_t *out, size_t cap)
{
	evc__relay_hdr_t h;
	memset(&h, 0, sizeof(h));
	memset(h.node_id, 0x42, sizeof(h.node_id));
	h.epoch = 1700000000000000ull;
	h.seq = 7;
	h.ts_us = 1700000000000001ull;
	return evc__relay_seal(kr, subj, &h, (const uint8_t *)TEXT, strlen(TEXT), out, cap);
}

static int open_buf(const evc__v2_keyring_t *kr, bool encrypt, const char *subj, const uint8_t *buf, size_t len,
		    evc__relay_hdr_t *h, const uint8_t **text, size_t *tlen)
{
	static uint8_t pt[4096];
	bool sealed;
	return evc__relay_open(kr, encrypt, subj, buf, len, h, pt, sizeof(pt), text, tlen, &sealed);
}

static void test_round_trip(void **state)
{
	(void)state;
	evc__v2_keyring_t *kr = ring(5, 0x11);
	uint8_t buf[1024];
	evc__relay_hdr_t h;
	const uint8_t *text;
	size_t tlen;
	int n = seal_text(kr, SUBJ, buf, sizeof(buf));
	assert_int_equal(n, (int)(strlen(TEXT) + EVC_RELAY_OVERHEAD));
	assert_memory_equal(buf, "EVS1", 4);
	assert_null(memmem(buf, (size_t)n, "hunter2", 7)); /* not readable on the wire */
	assert_null(memmem(buf, (size_t)n, "test::ping", 10));
	assert_int_equal(open_buf(kr, true, SUBJ, buf, (size_t)n, &h, &text, &tlen), 0);
	assert_int_equal(tlen, strlen(TEXT));
	assert_memory_equal(text, TEXT, tlen);
	assert_int_equal(h.key_id, 5);
	assert_int_equal(h.seq, 7);
	assert_int_equal(h.epoch, 1700000000000000ull);
	assert_int_equal(h.ts_us, 1700000000000001ull);
	assert_int_equal(h.node_id[15], 0x42);
	/* two seals of the same text differ (random nonce) */
	uint8_t buf2[1024];
	assert_int_equal(seal_text(kr, SUBJ, buf2, sizeof(buf2)), n);
	assert_memory_not_equal(buf + 48, buf2 + 48, 24);
	/* too small an output buffer, too long a subject */
	assert_int_equal(seal_text(kr, SUBJ, buf2, (size_t)n - 1), EVCAST_E2BIG);
	char longsubj[EVC_RELAY_MAX_SUBJECT + 2];
	memset(longsubj, 'a', sizeof(longsubj) - 1);
	longsubj[sizeof(longsubj) - 1] = '\0';
	assert_int_equal(seal_text(kr, longsubj, buf2, sizeof(buf2)), -EVC_RELAY_R_SUBJECT);
	evc__v2_keyring_free(kr);
}

static void test_tamper_every_byte(void **state)
{
	(void)state;
	evc__v2_keyring_t *kr = ring(5, 0x11);
	uint8_t buf[1024], t[1024];
	evc__relay_hdr_t h;
	const uint8_t *text;
	size_t tlen;
	int n = seal_text(kr, SUBJ, buf, sizeof(buf));
	for (int i = 0; i < n; i++) {
		memcpy(t, buf, (size_t)n);
		t[i] ^= 0x01;
		int r = open_buf(kr, true, SUBJ, t, (size_t)n, &h, &text, &tlen);
		if (i < 4)
			assert_int_equal(r, -EVC_RELAY_R_MAGIC);
		else if (i < 8) /* key id 5 -> 4 or another unknown id */
			assert_int_equal(r, -EVC_RELAY_R_NOKEY);
		else /* node id, epoch, seq, ts, nonce, ciphertext, tag */
			assert_int_equal(r, -EVC_RELAY_R_AUTH);
	}
	/* another subject: the subject is associated data */
	assert_int_equal(open_buf(kr, true, "evcast.it.CUSTOM.test.pong", buf, (size_t)n, &h, &text, &tlen),
			 -EVC_RELAY_R_AUTH);
	assert_int_equal(open_buf(kr, true, "evcast.other.CUSTOM.test.ping", buf, (size_t)n, &h, &text, &tlen),
			 -EVC_RELAY_R_AUTH);
	/* every truncation, and one byte appended */
	for (int l = 0; l < n; l++) {
		int r = open_buf(kr, true, SUBJ, buf, (size_t)l, &h, &text, &tlen);
		if (l < 4 || l < (int)EVC_RELAY_OVERHEAD)
			assert_int_equal(r, -EVC_RELAY_R_TRUNCATED);
		else
			assert_int_equal(r, -EVC_RELAY_R_AUTH);
	}
	memcpy(t, buf, (size_t)n);
	t[n] = 'x';
	assert_int_equal(open_buf(kr, true, SUBJ, t, (size_t)n + 1, &h, &text, &tlen), -EVC_RELAY_R_AUTH);
	/* same key id, other secret: bad tag */
	evc__v2_keyring_t *other = ring(5, 0x22);
	assert_int_equal(open_buf(other, true, SUBJ, buf, (size_t)n, &h, &text, &tlen), -EVC_RELAY_R_AUTH);
	evc__v2_keyring_free(other);
	evc__v2_keyring_free(kr);
}

static void test_unknown_key_and_rotation(void **state)
{
	(void)state;
	evc__v2_keyring_t *old = ring(1, 0x11), *both = ring(1, 0x11), *newonly = ring(2, 0x22);
	uint8_t master[32], buf[1024];
	evc__relay_hdr_t h;
	const uint8_t *text;
	size_t tlen;
	memset(master, 0x22, sizeof(master));
	assert_int_equal(evc__v2_keyring_add_master(both, 2, master), 0);
	/* sealed with key 1 (the old primary): "both" opens it, "newonly" does not know id 1 */
	int n = seal_text(old, SUBJ, buf, sizeof(buf));
	assert_int_equal(open_buf(both, true, SUBJ, buf, (size_t)n, &h, &text, &tlen), 0);
	assert_int_equal(h.key_id, 1);
	assert_int_equal(open_buf(newonly, true, SUBJ, buf, (size_t)n, &h, &text, &tlen), -EVC_RELAY_R_NOKEY);
	/* rotation: primary becomes 2; the old-only node cannot open it, both-key nodes can */
	assert_int_equal(evc__v2_keyring_set_primary(both, 2), 0);
	n = seal_text(both, SUBJ, buf, sizeof(buf));
	assert_int_equal(open_buf(newonly, true, SUBJ, buf, (size_t)n, &h, &text, &tlen), 0);
	assert_int_equal(h.key_id, 2);
	assert_int_equal(open_buf(old, true, SUBJ, buf, (size_t)n, &h, &text, &tlen), -EVC_RELAY_R_NOKEY);
	/* key 1 removed: a payload still sealed with it is refused */
	n = seal_text(old, SUBJ, buf, sizeof(buf));
	assert_int_equal(evc__v2_keyring_remove(both, 1), 0);
	assert_int_equal(open_buf(both, true, SUBJ, buf, (size_t)n, &h, &text, &tlen), -EVC_RELAY_R_NOKEY);
	/* no keyring at all: sealing refused, opening refused */
	assert_int_equal(seal_text(NULL, SUBJ, buf, sizeof(buf)), -EVC_RELAY_R_NOKEY);
	n = seal_text(old, SUBJ, buf, sizeof(buf));
	assert_int_equal(open_buf(NULL, true, SUBJ, buf, (size_t)n, &h, &text, &tlen), -EVC_RELAY_R_NOKEY);
	evc__v2_keyring_free(old);
	evc__v2_keyring_free(both);
	evc__v2_keyring_free(newonly);
}

static void test_plain_vs_sealed(void **state)
{
	(void)state;
	evc__v2_keyring_t *kr = ring(3, 0x33);
	uint8_t buf[1024];
	evc__relay_hdr_t h;
	const uint8_t *text;
	size_t tlen;
	char plain[256];
	int pl = snprintf(plain, sizeof(plain), "EVN1%s", TEXT);
	/* a sealed node drops plain payloads; a plain node takes them (borrowed text) */
	assert_int_equal(open_buf(kr, true, SUBJ, (uint8_t *)plain, (size_t)pl, &h, &text, &tlen), -EVC_RELAY_R_PLAIN);
	assert_int_equal(open_buf(NULL, false, SUBJ, (uint8_t *)plain, (size_t)pl, &h, &text, &tlen), 0);
	assert_ptr_equal(text, (uint8_t *)plain + 4);
	assert_int_equal(tlen, strlen(TEXT));
	/* a plain node drops sealed payloads, even when it holds the key */
	int n = seal_text(kr, SUBJ, buf, sizeof(buf));
	assert_int_equal(open_buf(kr, false, SUBJ, buf, (size_t)n, &h, &text, &tlen), -EVC_RELAY_R_SEALED);
	/* neither magic */
	assert_int_equal(open_buf(kr, true, SUBJ, (const uint8_t *)"EVX1abc", 7, &h, &text, &tlen), -EVC_RELAY_R_MAGIC);
	assert_int_equal(open_buf(kr, false, SUBJ, (const uint8_t *)"", 0, &h, &text, &tlen), -EVC_RELAY_R_TRUNCATED);
	/* names */
	assert_string_equal(evc__relay_reason_name(-EVC_RELAY_R_PLAIN), "nats_plain_while_encrypt");
	assert_string_equal(evc__relay_reason_name(EVC_RELAY_R_AUTH), "bad_tag");
	assert_string_equal(evc__relay_reason_name(-EVC_RELAY_R_REPLAY), "replayed");
	for (int r = EVC_RELAY_R_FIRST; r < EVC_RELAY_R_END; r++)
		assert_non_null(evc__relay_reason_name(r));
	evc__v2_keyring_free(kr);
}

/* ------------------------------------------------------- on real nodes */

typedef struct fx {
	uv_loop_t loop;
	evcast_node_t *a, *b, *plain;
} fx_t;

static evcast_node_t *node(fx_t *f, const char *name, int port, const char *keys)
{
	char xml[1024], err[256], kp[256] = "";
	evcast_config_t *cfg = NULL;
	evcast_node_t *n = NULL;
	if (keys)
		snprintf(kp, sizeof(kp), "<param name=\"protocol\" value=\"v2\"/><param name=\"v2-keys\" value=\"%s\"/>",
			 keys);
	snprintf(xml, sizeof(xml),
		 "<configuration name=\"event_multicast.conf\"><settings>"
		 "<param name=\"address\" value=\"127.0.0.1\"/><param name=\"port\" value=\"%d\"/>"
		 "<param name=\"bindings\" value=\"CUSTOM test::x\"/><param name=\"node-name\" value=\"%s\"/>"
		 "%s<param name=\"log-level\" value=\"err\"/></settings></configuration>\n",
		 port, name, kp);
	assert_int_equal(evcast_config_parse(xml, strlen(xml), "t.xml", NULL, NULL, &cfg, err, sizeof(err)), 0);
	assert_int_equal(evcast_node_new(&f->loop, cfg, NULL, NULL, &n), 0);
	evcast_config_free(cfg);
	assert_int_equal(evcast_node_start(n), 0);
	return n;
}

static int setup(void **state)
{
	fx_t *f = calloc(1, sizeof(*f));
	int port = test_port_pair();
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->a = node(f, "a", port, "1:correct-horse-battery-staple");
	f->b = node(f, "b", port, "2:another-secret-of-16+chars,1:correct-horse-battery-staple");
	f->plain = node(f, "p", port, NULL);
	*state = f;
	return 0;
}

static void on_closed(void *ud) { (*(int *)ud)++; }

static int teardown(void **state)
{
	fx_t *f = *state;
	int closed = 0;
	evcast_node_close(f->a, on_closed, &closed);
	evcast_node_close(f->b, on_closed, &closed);
	evcast_node_close(f->plain, on_closed, &closed);
	for (int i = 0; i < 1000 && closed < 3; i++)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_int_equal(closed, 3);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

static void test_node_seal_replay_skew(void **state)
{
	fx_t *f = *state;
	uint8_t buf[1024], pt[1024];
	const uint8_t *text;
	size_t tlen;
	assert_true(evc__node_relay_has_keys(f->a));
	assert_true(evc__node_relay_has_keys(f->b));
	assert_false(evc__node_relay_has_keys(f->plain));
	/* sealing needs the relay state (exactly-once filter) */
	assert_int_equal(evc__node_relay_seal(f->a, SUBJ, TEXT, strlen(TEXT), buf, sizeof(buf)), EVCAST_ESTATE);
	assert_int_equal(evcast_node_dedupe(f->a, 16), 0);
	assert_int_equal(evcast_node_dedupe(f->b, 16), 0);
	int n = evc__node_relay_seal(f->a, SUBJ, TEXT, strlen(TEXT), buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(evc__node_relay_open(f->b, true, 60000000u, SUBJ, buf, (size_t)n, pt, sizeof(pt), &text, &tlen),
			 0);
	assert_memory_equal(text, TEXT, tlen);
	/* the same payload again (a NATS operator replaying it): refused */
	assert_int_equal(evc__node_relay_open(f->b, true, 60000000u, SUBJ, buf, (size_t)n, pt, sizeof(pt), &text, &tlen),
			 -EVC_RELAY_R_REPLAY);
	/* a tampered copy is refused before it can touch the window; the next seq passes */
	int n2 = evc__node_relay_seal(f->a, SUBJ, TEXT, strlen(TEXT), pt, sizeof(pt));
	uint8_t next[1024];
	memcpy(next, pt, (size_t)n2);
	next[n2 - 1] ^= 0x80;
	assert_int_equal(evc__node_relay_open(f->b, true, 0, SUBJ, next, (size_t)n2, pt, sizeof(pt), &text, &tlen),
			 -EVC_RELAY_R_AUTH);
	next[n2 - 1] ^= 0x80;
	assert_int_equal(evc__node_relay_open(f->b, true, 0, SUBJ, next, (size_t)n2, pt, sizeof(pt), &text, &tlen), 0);
	/* the plain node: sealed payloads are a mismatch */
	assert_int_equal(evc__node_relay_open(f->plain, false, 0, SUBJ, buf, (size_t)n, pt, sizeof(pt), &text, &tlen),
			 -EVC_RELAY_R_SEALED);
	/* a sealing time one hour off: skew (and accepted without the bound) */
	evc__v2_keyring_t *kr;
	char err[128];
	assert_int_equal(evc__v2_keyring_new(&kr), 0);
	assert_int_equal(evc__v2_keyring_add(kr, "1:correct-horse-battery-staple", err, sizeof(err)), 0);
	evc__relay_hdr_t h;
	memset(&h, 0, sizeof(h));
	memset(h.node_id, 0x77, sizeof(h.node_id));
	h.epoch = 1;
	h.seq = 1;
	h.ts_us = evc__wall_us() - 3600ull * 1000000u;
	n = evc__relay_seal(kr, SUBJ, &h, (const uint8_t *)TEXT, strlen(TEXT), buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(evc__node_relay_open(f->b, true, 60000000u, SUBJ, buf, (size_t)n, pt, sizeof(pt), &text, &tlen),
			 -EVC_RELAY_R_SKEW);
	assert_int_equal(evc__node_relay_open(f->b, true, 0, SUBJ, buf, (size_t)n, pt, sizeof(pt), &text, &tlen), 0);
	evc__v2_keyring_free(kr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_tamper_every_byte),
		cmocka_unit_test(test_unknown_key_and_rotation),
		cmocka_unit_test(test_plain_vs_sealed),
		cmocka_unit_test_setup_teardown(test_node_seal_replay_skew, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
