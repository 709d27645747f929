/*
 * test_legacy.c -- the mod_event_multicast codec against the wire vectors.
 *
 * Every NAME.json/NAME.bin in EVCAST_VECTORS/legacy both ways, byte for byte
 * (encode headers/body with its psk and uuid == NAME.bin; serialized == the
 * plain text; decode NAME.bin == decoded_headers/decoded_body); every capture
 * in EVCAST_VECTORS/freeswitch decodes exactly. Then the rejections: wrong
 * psk, plaintext while a psk is set, encrypted while none is, truncation,
 * zero length, ":"+MAGIC, oversize, seeded garbage (EVCAST_SEED=n replays),
 * and the inputs fuzzing found (fuzz/corpus/legacy/regress-*).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <nettle/blowfish.h>
#include <nettle/cbc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "internal.h"

#define MAGIC evcast_legacy_magic
#define MLEN EVCAST_LEGACY_MAGIC_LEN

static unsigned seed;

/* ------------------------------------------------------------- vectors */

typedef struct blob {
	uint8_t *p;
	size_t n;
} blob_t;

static blob_t read_file(const char *path)
{
	blob_t b = {0};
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b.p = malloc((size_t)n + 1);
	assert_non_null(b.p);
	b.n = fread(b.p, 1, (size_t)n, f);
	b.p[b.n] = 0;
	fclose(f);
	return b;
}

typedef struct vec {
	char name[128];
	cJSON *json;
	char *text; /* the JSON file's bytes */
	blob_t bin;
} vec_t;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Loads every NAME.json (+ NAME.bin) of a vectors directory, sorted. */
static size_t load_vectors(const char *sub, vec_t **out)
{
	char dir[512], path[1024];
	snprintf(dir, sizeof(dir), "%s/%s", EVCAST_VECTORS, sub);
	DIR *d = opendir(dir);
	if (!d)
		fail_msg("no vectors directory %s", dir);
	char *names[256];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 256) {
		size_t l = strlen(e->d_name);
		if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0)
			names[n++] = strndup(e->d_name, l - 5);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	vec_t *v = calloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		snprintf(v[i].name, sizeof(v[i].name), "%s/%s", sub, names[i]);
		snprintf(path, sizeof(path), "%s/%s.json", dir, names[i]);
		blob_t j = read_file(path);
		v[i].text = (char *)j.p;
		v[i].json = cJSON_Parse(v[i].text);
		if (!v[i].json)
			fail_msg("%s: bad JSON", path);
		snprintf(path, sizeof(path), "%s/%s.bin", dir, names[i]);
		v[i].bin = read_file(path);
		free(names[i]);
	}
	*out = v;
	return n;
}

static void free_vectors(vec_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		cJSON_Delete(v[i].json);
		free(v[i].text);
		free(v[i].bin.p);
	}
	free(v);
}

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static evcast_legacy_key_t *vec_key(const vec_t *v)
{
	const char *psk = jstr(v->json, "psk");
	evcast_legacy_key_t *k = NULL;
	if (psk)
		assert_int_equal(evcast_legacy_key_new(psk, strlen(psk), &k), 0);
	return k;
}

/* The event must be exactly decoded_headers / decoded_body. */
static void check_decoded(const char *what, const evcast_event_t *ev, const cJSON *json)
{
	const cJSON *hs = cJSON_GetObjectItemCaseSensitive(json, "decoded_headers");
	assert_true(cJSON_IsArray(hs));
	size_t want = (size_t)cJSON_GetArraySize(hs), got = evcast_event_header_count(ev);
	if (want != got)
		fail_msg("%s: expected %zu headers, got %zu", what, want, got);
	size_t i = 0;
	for (const cJSON *p = hs->child; p; p = p->next, i++) {
		const char *n, *v;
		evcast_event_header_at(ev, i, &n, &v);
		const char *wn = cJSON_GetArrayItem(p, 0)->valuestring, *wv = cJSON_GetArrayItem(p, 1)->valuestring;
		if (strcmp(n, wn) != 0 || strcmp(v, wv) != 0)
			fail_msg("%s: header %zu: expected [%s: %s], got [%s: %s]", what, i, wn, wv, n, v);
	}
	const char *wb = jstr(json, "decoded_body");
	size_t bl;
	const char *b = evcast_event_get_body(ev, &bl);
	if (!wb) {
		if (b)
			fail_msg("%s: expected no body, got %zu bytes", what, bl);
	} else {
		if (!b || bl != strlen(wb) || memcmp(b, wb, bl) != 0)
			fail_msg("%s: body differs", what);
	}
}

/* ev = Event-Name, Event-Subclass, then decoded_headers with "Orig-" names. */
static void check_prefixed(const char *what, const evcast_event_t *ev, const cJSON *json)
{
	const cJSON *hs = cJSON_GetObjectItemCaseSensitive(json, "decoded_headers");
	size_t i = 2;
	assert_int_equal(evcast_event_header_count(ev), 2 + (size_t)cJSON_GetArraySize(hs));
	for (const cJSON *p = hs->child; p; p = p->next, i++) {
		const char *n, *v;
		char want[256];
		evcast_event_header_at(ev, i, &n, &v);
		snprintf(want, sizeof(want), "Orig-%s", cJSON_GetArrayItem(p, 0)->valuestring);
		if (strcmp(n, want) != 0 || strcmp(v, cJSON_GetArrayItem(p, 1)->valuestring) != 0)
			fail_msg("%s: prefixed header %zu: [%s: %s]", what, i, n, v);
	}
}

static void check_bytes(const char *what, const uint8_t *got, size_t ngot, const uint8_t *want, size_t nwant)
{
	size_t i = 0;
	while (i < ngot && i < nwant && got[i] == want[i])
		i++;
	if (ngot != nwant || i != nwant)
		fail_msg("%s: %zu bytes, expected %zu; first difference at offset %zu", what, ngot, nwant, i);
}

static void test_legacy_vectors_both_ways(void **state)
{
	(void)state;
	vec_t *v;
	size_t n = load_vectors("legacy", &v);
	assert_true(n >= 9);
	static uint8_t buf[EVCAST_LEGACY_MAX_DGRAM];
	for (size_t i = 0; i < n; i++) {
		const cJSON *j = v[i].json;
		evcast_legacy_key_t *key = vec_key(&v[i]);
		/* the vector file itself is vector JSON: headers + body */
		evcast_event_t *ev = NULL;
		assert_int_equal(evcast_event_from_vector_json(v[i].text, strlen(v[i].text), &ev), 0);
		size_t plen;
		char *plain = evcast_event_to_plain(ev, &plen);
		const char *ser = jstr(j, "serialized");
		assert_non_null(ser);
		check_bytes(v[i].name, (const uint8_t *)plain, plen, (const uint8_t *)ser, strlen(ser));
		evcast_free(plain);
		/* encode == NAME.bin */
		int len = evcast_legacy_encode(ev, key, jstr(j, "uuid"), buf, sizeof(buf));
		if (len < 0)
			fail_msg("%s: encode: %s", v[i].name, evcast_strerror(len));
		check_bytes(v[i].name, buf, (size_t)len, v[i].bin.p, v[i].bin.n);
		assert_int_equal(len, cJSON_GetObjectItemCaseSensitive(j, "packet_len")->valueint);
		evcast_event_free(ev);
		/* decode NAME.bin == decoded_* */
		int r = evcast_legacy_decode(v[i].bin.p, v[i].bin.n, key, &ev);
		if (r != 0)
			fail_msg("%s: decode: %s", v[i].name, evcast_strerror(r));
		check_decoded(v[i].name, ev, j);
		evcast_event_free(ev);
		/* the receive path's form: into an event, names prefixed */
		ev = evcast_event_new_named("CUSTOM", "multicast::event");
		assert_int_equal(evc__legacy_decode_into(v[i].bin.p, v[i].bin.n, key, "Orig-", ev), 0);
		check_prefixed(v[i].name, ev, j);
		assert_int_equal(evc__legacy_decode_into(v[i].bin.p, 10, key, "Orig-", ev),
				 key ? EVCAST_ETRUNC : EVCAST_ENOMAGIC);
		check_prefixed(v[i].name, ev, j); /* unchanged by the failure */
		evcast_event_free(ev);
		print_message("  %-34s encode %4d bytes == .bin, decode == decoded_headers (%zu)\n", v[i].name, len,
			      (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "decoded_headers")));
		evcast_legacy_key_free(key);
	}
	free_vectors(v, n);
}

static void test_freeswitch_captures_decode(void **state)
{
	(void)state;
	vec_t *v;
	size_t n = load_vectors("freeswitch", &v);
	assert_true(n >= 4);
	for (size_t i = 0; i < n; i++) {
		evcast_legacy_key_t *key = vec_key(&v[i]);
		evcast_event_t *ev = NULL;
		assert_int_equal(v[i].bin.n, cJSON_GetObjectItemCaseSensitive(v[i].json, "packet_len")->valueint);
		int r = evcast_legacy_decode(v[i].bin.p, v[i].bin.n, key, &ev);
		if (r != 0)
			fail_msg("%s: decode: %s", v[i].name, evcast_strerror(r));
		check_decoded(v[i].name, ev, v[i].json);
		/* re-encoding what was decoded decodes to the same again */
		static uint8_t buf[EVCAST_LEGACY_MAX_DGRAM];
		int len = evcast_legacy_encode(ev, key, NULL, buf, sizeof(buf));
		assert_true(len > 0);
		evcast_event_t *again = NULL;
		assert_int_equal(evcast_legacy_decode(buf, (size_t)len, key, &again), 0);
		check_decoded(v[i].name, again, v[i].json);
		evcast_event_free(again);
		evcast_event_free(ev);
		print_message("  %-34s decode == decoded_headers (%zu)\n", v[i].name, (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(v[i].json, "decoded_headers")));
		evcast_legacy_key_free(key);
	}
	free_vectors(v, n);
}

/* ------------------------------------------------------------ rejections */

static void expect(const char *what, const uint8_t *buf, size_t len, const evcast_legacy_key_t *key, int want)
{
	evcast_event_t *ev = (evcast_event_t *)1;
	int r = evcast_legacy_decode(buf, len, key, &ev);
	if (r != want)
		fail_msg("%s (len %zu): expected %s, got %s", what, len, evcast_strerror(want), evcast_strerror(r));
	if (r == 0)
		evcast_event_free(ev);
	else
		assert_null(ev);
}

static void test_wrong_key_and_mode_mismatch(void **state)
{
	(void)state;
	vec_t *v;
	size_t n = load_vectors("legacy", &v);
	size_t nv = 0;
	vec_t *fs;
	size_t nfs = load_vectors("freeswitch", &fs);
	evcast_legacy_key_t *wrong = NULL, *plainkey = NULL;
	assert_int_equal(evcast_legacy_key_new("wrong", 5, &wrong), 0);
	assert_int_equal(evcast_legacy_key_new("ClusterSecret!2009", 18, &plainkey), 0);
	for (size_t k = 0; k < n + nfs; k++) {
		const vec_t *x = k < n ? &v[k] : &fs[k - n];
		if (jstr(x->json, "psk")) {
			expect(x->name, x->bin.p, x->bin.n, wrong, EVCAST_EPSK);       /* wrong psk */
			expect(x->name, x->bin.p, x->bin.n, NULL, EVCAST_ENOMAGIC);    /* encrypted, no psk */
		} else {
			expect(x->name, x->bin.p, x->bin.n, plainkey, EVCAST_EPLAIN);  /* plaintext, psk set */
			expect(x->name, x->bin.p, x->bin.n - EVCAST_LEGACY_TAIL_LEN, plainkey, EVCAST_EPLAIN);
		}
		nv++;
	}
	assert_true(nv >= 13);
	/* a longer psk is its first 72 bytes */
	for (size_t k = 0; k < n; k++) {
		const char *psk = jstr(v[k].json, "psk");
		if (!psk || strlen(psk) <= 72)
			continue;
		evcast_legacy_key_t *k72 = NULL, *k71 = NULL;
		assert_int_equal(evcast_legacy_key_new(psk, 72, &k72), 0);
		assert_int_equal(evcast_legacy_key_new(psk, 71, &k71), 0);
		expect(v[k].name, v[k].bin.p, v[k].bin.n, k72, 0);
		expect(v[k].name, v[k].bin.p, v[k].bin.n, k71, EVCAST_EPSK);
		evcast_legacy_key_free(k72);
		evcast_legacy_key_free(k71);
	}
	evcast_legacy_key_t *k = (evcast_legacy_key_t *)1;
	assert_int_equal(evcast_legacy_key_new("", 0, &k), EVCAST_EINVAL);
	assert_null(k);
	evcast_legacy_key_free(NULL);
	evcast_legacy_key_free(wrong);
	evcast_legacy_key_free(plainkey);
	free_vectors(v, n);
	free_vectors(fs, nfs);
}

static void test_truncated(void **state)
{
	(void)state;
	vec_t *v;
	size_t n = load_vectors("legacy", &v);
	for (size_t i = 0; i < n; i++) {
		evcast_legacy_key_t *key = vec_key(&v[i]);
		const uint8_t *b = v[i].bin.p;
		size_t len = v[i].bin.n;
		if (key) {
			size_t cuts[] = {1, 8, 35, 36, 37, 100, 255, 256, 257, 263, len - 1, len - 3, len - 7};
			for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++)
				expect(v[i].name, b, cuts[c], key, EVCAST_ETRUNC);
			/* whole blocks missing: decrypts, but no padding/MAGIC */
			expect(v[i].name, b, 264, key, EVCAST_EPSK);
			expect(v[i].name, b, len - 8, key, EVCAST_EPSK);
			expect(v[i].name, b, len - 16, key, EVCAST_EPSK);
		} else {
			size_t text = len - EVCAST_LEGACY_TAIL_LEN - MLEN;
			size_t cuts[] = {1, 10, text / 2, text - 1, text, text + 1, text + MLEN - 1};
			for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++)
				expect(v[i].name, b, cuts[c], NULL, EVCAST_ENOMAGIC);
			/* the zero tail is optional: any cut after MAGIC decodes the same */
			size_t ok[] = {text + MLEN, text + MLEN + 1, len - 1};
			for (size_t c = 0; c < sizeof(ok) / sizeof(ok[0]); c++) {
				evcast_event_t *ev = NULL;
				assert_int_equal(evcast_legacy_decode(b, ok[c], NULL, &ev), 0);
				check_decoded(v[i].name, ev, v[i].json);
				evcast_event_free(ev);
			}
		}
		expect(v[i].name, b, 0, key, EVCAST_EEMPTY);
		evcast_legacy_key_free(key);
	}
	free_vectors(v, n);
}

/* Encrypts plaintext pt as a legacy PSK datagram (independently of legacy.c). */
static size_t psk_datagram(const char *psk, const uint8_t *pt, size_t n, uint8_t *out)
{
	struct blowfish_ctx bf;
	blowfish_set_key(&bf, strlen(psk), (const uint8_t *)psk);
	const char *uuid = "0badc0de-0000-4000-8000-000000000001";
	memset(out, 0, 256);
	memcpy(out, uuid, 36);
	memcpy(out + 256, pt, n);
	size_t pad = 8 - n % 8;
	memset(out + 256 + n, (int)pad, pad);
	uint8_t iv[8];
	memcpy(iv, uuid, 8);
	cbc_encrypt(&bf, (nettle_cipher_func *)blowfish_encrypt, 8, iv, n + pad, out + 256, out + 256);
	return 256 + n + pad;
}

static void test_crafted(void **state)
{
	(void)state;
	uint8_t buf[1024], pt[512];
	evcast_legacy_key_t *key = NULL;
	assert_int_equal(evcast_legacy_key_new("k3y", 3, &key), 0);
	/* ":" + MAGIC, with and without the tail, in clear and encrypted */
	buf[0] = ':';
	memcpy(buf + 1, MAGIC, MLEN);
	memset(buf + 1 + MLEN, 0, EVCAST_LEGACY_TAIL_LEN);
	expect(":+MAGIC", buf, 1 + MLEN, NULL, EVCAST_EPARSE);
	expect(":+MAGIC+tail", buf, 1 + MLEN + EVCAST_LEGACY_TAIL_LEN, NULL, EVCAST_EPARSE);
	expect(":+MAGIC, psk set", buf, 1 + MLEN, key, EVCAST_EPLAIN);
	size_t n = psk_datagram("k3y", buf, 1 + MLEN, pt);
	expect("encrypted :+MAGIC", pt, n, key, EVCAST_EPARSE);
	/* MAGIC alone; text that is not headers; a body longer than what precedes MAGIC */
	expect("MAGIC", MAGIC, MLEN, NULL, EVCAST_EPARSE);
	const char *bad[] = {"no colon here\n", "A: 1\n: novalue\n", "A: 1\nContent-Length: 50\n\nshort"};
	int want[] = {EVCAST_EPARSE, EVCAST_EPARSE, EVCAST_ETRUNC};
	for (size_t i = 0; i < 3; i++) {
		size_t l = strlen(bad[i]);
		memcpy(buf, bad[i], l);
		memcpy(buf + l, MAGIC, MLEN);
		expect(bad[i], buf, l + MLEN, NULL, want[i]);
		n = psk_datagram("k3y", buf, l + MLEN, pt);
		expect(bad[i], pt, n, key, want[i]);
	}
	/* a valid encrypted event with bad padding bytes */
	const char *good = "Event-Name: X\n\n";
	memcpy(buf, good, strlen(good));
	memcpy(buf + strlen(good), MAGIC, MLEN);
	n = psk_datagram("k3y", buf, strlen(good) + MLEN, pt);
	expect("good", pt, n, key, 0);
	/* everything after MAGIC is ignored */
	memcpy(buf + strlen(good) + MLEN, "garbage: yes\n", 13);
	expect("good+garbage", buf, strlen(good) + MLEN + 13, NULL, 0);
	/* a uuid header that is not a uuid is plaintext */
	n = psk_datagram("k3y", buf, strlen(good) + MLEN, pt);
	pt[8] = 'x';
	expect("bad uuid", pt, n, key, EVCAST_EPLAIN);
	evcast_legacy_key_free(key);
}

static void test_oversize_and_args(void **state)
{
	(void)state;
	static uint8_t buf[EVCAST_LEGACY_MAX_DGRAM + 16];
	memset(buf, 'A', sizeof(buf));
	memcpy(buf + 10, MAGIC, MLEN);
	expect("oversize", buf, EVCAST_LEGACY_MAX_DGRAM + 1, NULL, EVCAST_E2BIG);
	evcast_legacy_key_t *key = NULL;
	assert_int_equal(evcast_legacy_key_new("secret", 6, &key), 0);
	expect("oversize psk", buf, EVCAST_LEGACY_MAX_DGRAM + 1, key, EVCAST_E2BIG);
	/* an event whose datagram would exceed 65507 bytes */
	evcast_event_t *ev = evcast_event_new_named("CUSTOM", "big");
	char *big = malloc(70000);
	memset(big, 'v', 69999);
	big[69999] = 0;
	evcast_event_add_header(ev, "Big", big);
	assert_int_equal(evcast_legacy_encode(ev, NULL, NULL, buf, sizeof(buf)), EVCAST_E2BIG);
	assert_int_equal(evcast_legacy_encode(ev, key, NULL, buf, sizeof(buf)), EVCAST_E2BIG);
	/* an oversize header that still fits: decodes back */
	big[60000] = 0;
	evcast_event_set_header(ev, "Big", big);
	int len = evcast_legacy_encode(ev, NULL, NULL, buf, sizeof(buf));
	assert_true(len > 60000);
	evcast_event_t *back = NULL;
	assert_int_equal(evcast_legacy_decode(buf, (size_t)len, NULL, &back), 0);
	assert_int_equal(strlen(evcast_event_get_header(back, "big")), 60000);
	evcast_event_free(back);
	/* too small a buffer; bad uuid */
	evcast_event_del_header(ev, "Big");
	assert_int_equal(evcast_legacy_encode(ev, NULL, NULL, buf, 100), EVCAST_E2BIG);
	assert_int_equal(evcast_legacy_encode(ev, key, NULL, buf, 280), EVCAST_E2BIG);
	assert_int_equal(evcast_legacy_encode(ev, key, "not-a-uuid", buf, sizeof(buf)), EVCAST_EINVAL);
	assert_int_equal(evcast_legacy_encode(ev, key, "0badc0de-0000-4000-8000-00000000000g", buf, sizeof(buf)),
			 EVCAST_EINVAL);
	assert_int_equal(evcast_legacy_decode(NULL, 5, NULL, &back), EVCAST_EINVAL);
	free(big);
	evcast_event_free(ev);
	evcast_legacy_key_free(key);
}

static void test_random_uuid(void **state)
{
	(void)state;
	uint8_t a[2048], b[2048];
	evcast_legacy_key_t *key = NULL;
	assert_int_equal(evcast_legacy_key_new("secret", 6, &key), 0);
	evcast_event_t *ev = evcast_event_new_named("HEARTBEAT", NULL);
	int la = evcast_legacy_encode(ev, key, NULL, a, sizeof(a));
	int lb = evcast_legacy_encode(ev, key, NULL, b, sizeof(b));
	assert_true(la > 256 && la == lb);
	assert_true(memcmp(a, b, 36) != 0); /* one uuid per datagram */
	assert_true(memcmp(a + 256, b + 256, (size_t)la - 256) != 0);
	assert_int_equal(a[14], '4');        /* version 4 */
	assert_non_null(strchr("89ab", a[19])); /* variant */
	for (int i = 36; i < 256; i++)
		assert_int_equal(a[i], 0);
	evcast_event_t *back = NULL;
	assert_int_equal(evcast_legacy_decode(a, (size_t)la, key, &back), 0);
	assert_string_equal(evcast_event_name(back), "HEARTBEAT");
	evcast_event_free(back);
	evcast_event_free(ev);
	evcast_legacy_key_free(key);
}

static void test_random_garbage(void **state)
{
	(void)state;
	srand(seed);
	static uint8_t buf[4096], out[EVCAST_LEGACY_MAX_DGRAM];
	evcast_legacy_key_t *key = NULL;
	assert_int_equal(evcast_legacy_key_new("garbage-key", 11, &key), 0);
	const char *pieces[] = {"Event-Name: X\n", ":", "\n", "\r\n", "Content-Length: 4\n", "%", "%4", "%41",
				"a: b", "\0", "0badc0de-0000-4000-8000-000000000001"};
	unsigned ok = 0, rejected = 0;
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = (size_t)(rand() % (int)sizeof(buf));
		int mode = rand() % 3;
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rand();
		if (mode >= 1) { /* structured text with MAGIC somewhere */
			size_t o = 0;
			while (o + 40 < len && rand() % 8) {
				const char *p = pieces[rand() % (int)(sizeof(pieces) / sizeof(pieces[0]))];
				size_t pl = *p ? strlen(p) : 1;
				memcpy(buf + o, p, pl);
				o += pl;
			}
			if (o + MLEN <= len)
				memcpy(buf + o, MAGIC, MLEN);
		}
		for (int k = 0; k < 2; k++) {
			evcast_event_t *ev = NULL;
			int r = evcast_legacy_decode(buf, len, k ? key : NULL, &ev);
			if (r == 0) {
				ok++;
				assert_non_null(ev);
				int l = evcast_legacy_encode(ev, k ? key : NULL, NULL, out, sizeof(out));
				assert_true(l > 0);
				evcast_event_t *again = NULL;
				if (evcast_legacy_decode(out, (size_t)l, k ? key : NULL, &again) != 0)
					fail_msg("seed %u iter %d: re-encoded datagram does not decode", seed, iter);
				assert_int_equal(evcast_event_header_count(again), evcast_event_header_count(ev));
				evcast_event_free(again);
				evcast_event_free(ev);
			} else {
				rejected++;
				assert_null(ev);
				if (!(r == EVCAST_EEMPTY || r == EVCAST_ETRUNC || r == EVCAST_ENOMAGIC || r == EVCAST_EPSK ||
				      r == EVCAST_EPLAIN || r == EVCAST_EPARSE))
					fail_msg("seed %u iter %d: unexpected %s", seed, iter, evcast_strerror(r));
			}
		}
	}
	print_message("  garbage: seed %u, %u decoded, %u rejected\n", seed, ok, rejected);
	assert_true(ok > 0 && rejected > 0);
	evcast_legacy_key_free(key);
}

/* Inputs the fuzzers found, kept in fuzz/corpus/legacy as regress-*: each
 * must decode or be rejected cleanly, with and without a psk. */
static void test_fuzz_regressions(void **state)
{
	(void)state;
	char dir[512], path[1024];
	snprintf(dir, sizeof(dir), "%s/fuzz/corpus/legacy", EVCAST_SOURCE_DIR);
	DIR *d = opendir(dir);
	if (!d)
		fail_msg("no corpus directory %s", dir);
	evcast_legacy_key_t *key = NULL;
	assert_int_equal(evcast_legacy_key_new("fuzz", 4, &key), 0);
	struct dirent *e;
	unsigned n = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		blob_t b = read_file(path);
		for (int k = 0; k < 2; k++) {
			evcast_event_t *ev = NULL;
			int r = evcast_legacy_decode(b.p, b.n, k ? key : NULL, &ev);
			assert_true(r <= 0);
			if (r == 0) {
				size_t l;
				char *s = evcast_event_to_plain(ev, &l);
				evcast_event_t *back = NULL;
				assert_int_equal(evcast_event_from_plain(s, l, &back), 0);
				evcast_event_free(back);
				evcast_free(s);
			}
			evcast_event_free(ev);
		}
		free(b.p);
		n++;
	}
	closedir(d);
	assert_true(n >= 3);
	evcast_legacy_key_free(key);
}

int main(void)
{
	const char *s = getenv("EVCAST_SEED");
	seed = s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL);
	printf("test_legacy: seed %u (EVCAST_SEED=%u to replay), vectors %s\n", seed, seed, EVCAST_VECTORS);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_legacy_vectors_both_ways),
		cmocka_unit_test(test_freeswitch_captures_decode),
		cmocka_unit_test(test_wrong_key_and_mode_mismatch),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_crafted),
		cmocka_unit_test(test_oversize_and_args),
		cmocka_unit_test(test_random_uuid),
		cmocka_unit_test(test_random_garbage),
		cmocka_unit_test(test_fuzz_regressions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
