/*
 * v2conf.c -- the v2 protocol's settings in event_multicast.conf.
 *
 * Owns the params that choose and tune evcast's own wire protocol, read from
 * the same <settings> block as the legacy ones (FreeSWITCH ignores them):
 * protocol, v2-keys, v2-primary-key, v2-accept-plaintext, node-id,
 * payload-size, retransmit-bytes, retransmit-age, max-skew, hold-bytes,
 * legacy-address; the hostile-input bounds receive-memory,
 * max-unknown-senders, retransmit-rate, retransmit-peer-rate, nak-rate. config.c calls evc__v2_settings_parse to validate them at
 * load (an invalid value stops the start, naming file, line, param, value
 * and why); the node calls it again to build its endpoint and keyring.
 * Nothing here does I/O.
 */
#include "v2conf.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int failf(char *err, size_t errlen, const char *file, const evcast_param_t *p, const char *why, ...)
	__attribute__((format(printf, 5, 6)));

static int failf(char *err, size_t errlen, const char *file, const evcast_param_t *p, const char *why, ...)
{
	char reason[300];
	va_list ap;
	va_start(ap, why);
	vsnprintf(reason, sizeof(reason), why, ap);
	va_end(ap);
	if (err && errlen)
		snprintf(err, errlen, "%s:%d: param \"%s\": value \"%.80s%s\" %s", file ? file : "(config)", p->line,
			 p->name, p->name && strstr(p->name, "key") ? "***" : p->value,
			 strlen(p->value) > 80 && !strstr(p->name, "key") ? "..." : "", reason);
	return EVCAST_EINVAL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Splits a list on commas into items, trimmed of white space (a passphrase
 * may hold spaces); calls fn per non-empty item. */
static int each_item(const char *list, int (*fn)(void *ud, const char *item, size_t n), void *ud)
{
	const char *s = list;
	for (;;) {
		size_t n = strcspn(s, ",");
		const char *b = s, *e = s + n;
		while (b < e && (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
			e--;
		if (e > b) {
			int r = fn(ud, b, (size_t)(e - b));
			if (r != 0)
				return r;
		}
		if (!s[n])
			return 0;
		s += n + 1;
	}
}

typedef struct key_ctx {
	evc__v2_settings_t *out;
	char why[200];
} key_ctx_t;

static int add_key(void *ud, const char *item, size_t n)
{
	key_ctx_t *k = ud;
	evc__v2_settings_t *o = k->out;
	if (o->nkeys >= EVC_V2_MAX_KEYS) {
		snprintf(k->why, sizeof(k->why), "has more than %d keys", EVC_V2_MAX_KEYS);
		return EVCAST_E2BIG;
	}
	if (n >= sizeof(o->keys[0])) {
		snprintf(k->why, sizeof(k->why), "has a key longer than %zu bytes", sizeof(o->keys[0]) - 1);
		return EVCAST_E2BIG;
	}
	memcpy(o->keys[o->nkeys], item, n);
	o->keys[o->nkeys][n] = '\0';
	o->nkeys++;
	return 0;
}

typedef struct dest_ctx {
	evc__v2_settings_t *out;
	uint16_t port;
	char why[200];
} dest_ctx_t;

static int add_legacy_dest(void *ud, const char *item, size_t n)
{
	dest_ctx_t *d = ud;
	char text[64];
	if (d->out->nlegacy >= EVCAST_MAX_ADDRESSES) {
		snprintf(d->why, sizeof(d->why), "has more than %d addresses", EVCAST_MAX_ADDRESSES);
		return EVCAST_E2BIG;
	}
	if (n >= sizeof(text)) {
		snprintf(d->why, sizeof(d->why), "has an item longer than %zu bytes", sizeof(text) - 1);
		return EVCAST_E2BIG;
	}
	memcpy(text, item, n);
	text[n] = '\0';
	/* "a.b.c.d:port" or "[v6]:port": a legacy peer group on another port */
	unsigned long port = d->port;
	char *colon = strrchr(text, ':');
	if (colon && (strchr(text, '.') && !strchr(text, '[') ? colon == strchr(text, ':') : colon[-1] == ']')) {
		char *end;
		port = strtoul(colon + 1, &end, 10);
		if (*end || port == 0 || port > 65535) {
			snprintf(d->why, sizeof(d->why), "has \"%s\", whose port is not 1-65535", text);
			return EVCAST_EINVAL;
		}
		*colon = '\0';
	}
	evcast_dest_t *dst = &d->out->legacy[d->out->nlegacy];
	if (evcast_dest_parse(text, (uint16_t)port, dst) != 0) {
		snprintf(d->why, sizeof(d->why), "has \"%s\", which is not an IPv4 or IPv6 address", text);
		return EVCAST_EINVAL;
	}
	dst->protocol = EVCAST_PROTO_LEGACY;
	d->out->nlegacy++;
	return 0;
}

bool evc__v2_is_param(const char *name)
{
	static const char *names[] = {"protocol",       "v2-keys",         "v2-primary-key", "v2-accept-plaintext",
				      "node-id",        "payload-size",    "retransmit-bytes", "retransmit-age",
				      "max-skew",       "hold-bytes",      "legacy-address", "v2-compress",
				      /* hostile-input bounds (v2guard.c) */
				      "receive-memory", "max-unknown-senders", "retransmit-rate", "retransmit-peer-rate",
				      "nak-rate"};
	for (size_t i = 0; i < EVC_ARRAY_SIZE(names); i++)
		if (strcasecmp(name, names[i]) == 0)
			return true;
	return false;
}

static int apply(evc__v2_settings_t *o, const evcast_param_t *p, uint16_t port, const char *file, char *err,
		 size_t errlen)
{
	const char *v = p->value;
	uint64_t u;
	int b;
	if (strcasecmp(p->name, "protocol") == 0) {
		if (strcasecmp(v, "legacy") == 0)
			o->protocol = EVCAST_PROTO_LEGACY;
		else if (strcasecmp(v, "v2") == 0)
			o->protocol = EVCAST_PROTO_V2;
		else
			return failf(err, errlen, file, p, "is not a protocol (legacy or v2)");
	} else if (strcasecmp(p->name, "v2-keys") == 0) {
		key_ctx_t k = {o, ""};
		o->nkeys = 0;
		if (each_item(v, add_key, &k) != 0)
			return failf(err, errlen, file, p, "%s", k.why);
		evc__v2_keyring_t *kr = NULL;
		int r = evc__v2_settings_keyring(o, &kr, k.why, sizeof(k.why));
		evc__v2_keyring_free(kr);
		if (r != 0)
			return failf(err, errlen, file, p, "is not a key list (ID:SECRET, ...): %s", k.why);
	} else if (strcasecmp(p->name, "v2-primary-key") == 0) {
		if (!evc__parse_u64(v, 1, UINT32_MAX, &u))
			return failf(err, errlen, file, p, "is not a key id (1-4294967295)");
		o->primary = (uint32_t)u;
	} else if (strcasecmp(p->name, "v2-accept-plaintext") == 0) {
		if ((b = evc__parse_bool(v)) < 0)
			return failf(err, errlen, file, p, "is not a boolean (yes/no)");
		o->ep.accept_plain = b;
	} else if (strcasecmp(p->name, "node-id") == 0) {
		if (strlen(v) != 2 * EVC_V2_NODE_ID_LEN)
			return failf(err, errlen, file, p, "is not 32 hex digits");
		bool zero = true;
		for (size_t i = 0; i < EVC_V2_NODE_ID_LEN; i++) {
			int hi = hexval(v[2 * i]), lo = hexval(v[2 * i + 1]);
			if (hi < 0 || lo < 0)
				return failf(err, errlen, file, p, "is not 32 hex digits");
			o->ep.node_id[i] = (uint8_t)(hi << 4 | lo);
			zero &= o->ep.node_id[i] == 0;
		}
		if (zero)
			return failf(err, errlen, file, p, "is all zero (not a valid node id)");
		o->have_node_id = true;
	} else if (strcasecmp(p->name, "payload-size") == 0) {
		if (!evc__parse_u64(v, EVC_V2_MIN_PAYLOAD, EVC_V2_MAX_DGRAM, &u))
			return failf(err, errlen, file, p, "is not a payload size (%u-%u bytes)", EVC_V2_MIN_PAYLOAD,
				     EVC_V2_MAX_DGRAM);
		o->ep.payload_size = (size_t)u;
	} else if (strcasecmp(p->name, "retransmit-bytes") == 0) {
		if (!evc__parse_u64(v, 65536, 1u << 30, &u))
			return failf(err, errlen, file, p, "is not a buffer size (65536-1073741824 bytes)");
		o->ep.rtx_bytes = (size_t)u;
	} else if (strcasecmp(p->name, "retransmit-age") == 0) {
		if (!evc__parse_u64(v, 100, 60000, &u))
			return failf(err, errlen, file, p, "is not an age in milliseconds (100-60000)");
		o->ep.rtx_age_ms = u;
	} else if (strcasecmp(p->name, "max-skew") == 0) {
		if (!evc__parse_u64(v, 1, 3600, &u))
			return failf(err, errlen, file, p, "is not a number of seconds (1-3600)");
		o->ep.max_skew_us = u * 1000000u;
	} else if (strcasecmp(p->name, "hold-bytes") == 0) {
		if (!evc__parse_u64(v, 65536, 1u << 30, &u))
			return failf(err, errlen, file, p, "is not a buffer size (65536-1073741824 bytes)");
		o->ep.hold_bytes = (size_t)u;
	} else if (strcasecmp(p->name, "v2-compress") == 0) {
		/* no | yes (level -1) | a zstd level (0: no): batches sent compressed */
		char *end = NULL;
		long lv = strtol(v, &end, 10);
		if (end != v && *end == '\0' && lv >= EVC_V2_ZLEVEL_MIN && lv <= EVC_V2_ZLEVEL_MAX) {
			o->ep.compress = lv != 0;
			if (lv != 0)
				o->ep.compress_level = (int)lv;
		} else if ((b = evc__parse_bool(v)) >= 0) {
			o->ep.compress = b;
		} else {
			return failf(err, errlen, file, p, "is not yes, no or a zstd level (%d-%d)", EVC_V2_ZLEVEL_MIN,
				     EVC_V2_ZLEVEL_MAX);
		}
	} else if (strcasecmp(p->name, "receive-memory") == 0) {
		if (!evc__parse_u64(v, 1u << 20, 1u << 30, &u))
			return failf(err, errlen, file, p, "is not a memory size (1048576-1073741824 bytes)");
		o->ep.guard.rx_mem = (size_t)u;
	} else if (strcasecmp(p->name, "max-unknown-senders") == 0) {
		if (!evc__parse_u64(v, 1, 1024, &u))
			return failf(err, errlen, file, p, "is not a number of senders (1-1024)");
		o->ep.guard.max_unknown = (size_t)u;
	} else if (strcasecmp(p->name, "retransmit-rate") == 0 || strcasecmp(p->name, "retransmit-peer-rate") == 0) {
		if (!evc__parse_u64(v, 65536, 1u << 30, &u))
			return failf(err, errlen, file, p, "is not a rate (65536-1073741824 bytes per second)");
		if (strcasecmp(p->name, "retransmit-rate") == 0)
			o->ep.guard.rtx_rate = u;
		else
			o->ep.guard.rtx_peer_rate = u;
	} else if (strcasecmp(p->name, "nak-rate") == 0) {
		if (!evc__parse_u64(v, 1, 100000, &u))
			return failf(err, errlen, file, p, "is not a rate (1-100000 NAKs per second)");
		o->ep.guard.nak_rate = (unsigned)u;
	} else if (strcasecmp(p->name, "legacy-address") == 0) {
		dest_ctx_t d = {o, port, ""};
		o->nlegacy = 0;
		if (each_item(v, add_legacy_dest, &d) != 0)
			return failf(err, errlen, file, p, "%s", d.why);
	}
	return 0;
}

int evc__v2_settings_parse(const evcast_section_t *sec, uint16_t port, const char *file, evc__v2_settings_t *out,
			   char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	evc__v2_ep_cfg_default(&out->ep);
	out->protocol = EVCAST_PROTO_LEGACY;
	for (size_t i = 0; sec && i < sec->nparams; i++) {
		int r = apply(out, &sec->params[i], port, file, err, errlen);
		if (r != 0)
			return r;
	}
	if (out->ep.rtx_age_ms * 1000u >= out->ep.max_skew_us) {
		if (err && errlen)
			snprintf(err, errlen, "%s: retransmit-age (%llu ms) must be shorter than max-skew (%llu s)",
				 file ? file : "(config)", (unsigned long long)out->ep.rtx_age_ms,
				 (unsigned long long)(out->ep.max_skew_us / 1000000u));
		return EVCAST_EINVAL;
	}
	if (out->primary) {
		bool found = false;
		for (size_t i = 0; i < out->nkeys; i++)
			found |= strtoul(out->keys[i], NULL, 10) == out->primary;
		if (!found) {
			if (err && errlen)
				snprintf(err, errlen, "%s: v2-primary-key %u is not one of v2-keys",
					 file ? file : "(config)", out->primary);
			return EVCAST_EINVAL;
		}
	}
	return 0;
}

int evc__v2_settings_keyring(const evc__v2_settings_t *s, evc__v2_keyring_t **out, char *err, size_t errlen)
{
	*out = NULL;
	if (s->nkeys == 0)
		return 0;
	evc__v2_keyring_t *kr;
	int r = evc__v2_keyring_new(&kr);
	if (r != 0)
		return r;
	for (size_t i = 0; i < s->nkeys && r == 0; i++)
		r = evc__v2_keyring_add(kr, s->keys[i], err, errlen);
	if (r == 0 && s->primary)
		r = evc__v2_keyring_set_primary(kr, s->primary);
	if (r != 0) {
		evc__v2_keyring_free(kr);
		return r;
	}
	*out = kr;
	return 0;
}
