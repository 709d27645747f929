/*
 * fuzz_legacy.c -- libFuzzer target for the legacy datagram decoder.
 *
 * Each input is decoded three ways: as a datagram without a psk, as one with
 * a psk, and as the plaintext of a PSK datagram built around it (so the
 * fuzzer reaches the parser behind the decryption). Whatever decodes is
 * re-encoded and must decode again to the same header names; anything that
 * does not decode must be one of the documented errors. The receive path's
 * evc__legacy_decode_into ("Orig-" names, into an existing event) must agree
 * with evcast_legacy_decode exactly, and leave the event as it was when it
 * fails. Violations abort.
 */
#include <nettle/blowfish.h>
#include <nettle/cbc.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define PSK "fuzz-psk"
#define UUID "0badc0de-0000-4000-8000-000000000001"

static uint8_t out[EVCAST_LEGACY_MAX_DGRAM], dgram[EVCAST_LEGACY_MAX_DGRAM + 8];

/* decode_into must give what decode gave (r, ev), behind two headers of its own. */
static void check_into(const uint8_t *buf, size_t len, const evcast_legacy_key_t *key, int r, const evcast_event_t *ev)
{
	evcast_event_t *w = evcast_event_new_named("CUSTOM", "multicast::event");
	if (!w || evc__legacy_decode_into(buf, len, key, "Orig-", w) != r)
		abort();
	size_t n = r == 0 ? evcast_event_header_count(ev) : 0;
	if (evcast_event_header_count(w) != 2 + n)
		abort();
	for (size_t i = 0; i < n; i++) {
		const char *n1, *v1, *n2, *v2;
		evcast_event_header_at(ev, i, &n1, &v1);
		evcast_event_header_at(w, i + 2, &n2, &v2);
		if (strncmp(n2, "Orig-", 5) != 0 || strcmp(n1, n2 + 5) != 0 || strcmp(v1, v2) != 0)
			abort();
	}
	size_t l1 = 0, l2;
	const char *b1 = r == 0 ? evcast_event_get_body(ev, &l1) : NULL, *b2 = evcast_event_get_body(w, &l2);
	if (l1 != l2 || (l1 && memcmp(b1, b2, l1) != 0))
		abort();
	if (strcmp(evcast_event_name(w), "CUSTOM") != 0 || evcast_event_add_header(w, "x", "y") != 0)
		abort();
	evcast_event_free(w);
}

static void check(const uint8_t *buf, size_t len, const evcast_legacy_key_t *key)
{
	evcast_event_t *ev = (evcast_event_t *)1;
	int r = evcast_legacy_decode(buf, len, key, &ev);
	check_into(buf, len, key, r, ev);
	if (r != 0) {
		if (ev != NULL)
			abort();
		if (r != EVCAST_EEMPTY && r != EVCAST_ETRUNC && r != EVCAST_ENOMAGIC && r != EVCAST_EPSK &&
		    r != EVCAST_EPLAIN && r != EVCAST_EPARSE && r != EVCAST_E2BIG)
			abort();
		return;
	}
	int n = evcast_legacy_encode(ev, key, key ? UUID : NULL, out, sizeof(out));
	if (n == EVCAST_E2BIG) { /* re-encoding may grow ("%" becomes "%25") */
		evcast_event_free(ev);
		return;
	}
	if (n <= 0)
		abort();
	evcast_event_t *again = NULL;
	if (evcast_legacy_decode(out, (size_t)n, key, &again) != 0)
		abort();
	size_t nh = evcast_event_header_count(ev);
	if (evcast_event_header_count(again) != nh)
		abort();
	for (size_t i = 0; i < nh; i++) {
		const char *a, *b;
		evcast_event_header_at(ev, i, &a, NULL);
		evcast_event_header_at(again, i, &b, NULL);
		if (strcmp(a, b) != 0)
			abort();
	}
	size_t l1, l2;
	const char *b1 = evcast_event_get_body(ev, &l1), *b2 = evcast_event_get_body(again, &l2);
	if (l1 != l2 || (l1 && memcmp(b1, b2, l1) != 0))
		abort();
	evcast_event_free(again);
	evcast_event_free(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static evcast_legacy_key_t *key;
	static struct blowfish_ctx bf;
	if (!key) {
		if (evcast_legacy_key_new(PSK, strlen(PSK), &key) != 0)
			abort();
		blowfish_set_key(&bf, strlen(PSK), (const uint8_t *)PSK);
	}
	check(data, size, NULL);
	check(data, size, key);
	/* the input as the plaintext of an encrypted datagram */
	if (size + 256 + 8 <= sizeof(dgram)) {
		memset(dgram, 0, 256);
		memcpy(dgram, UUID, 36);
		memcpy(dgram + 256, data, size);
		size_t pad = 8 - size % 8;
		memset(dgram + 256 + size, (int)pad, pad);
		uint8_t iv[8];
		memcpy(iv, UUID, 8);
		cbc_encrypt(&bf, (nettle_cipher_func *)blowfish_encrypt, 8, iv, size + pad, dgram + 256, dgram + 256);
		check(dgram, 256 + size + pad, key);
	}
	return 0;
}
