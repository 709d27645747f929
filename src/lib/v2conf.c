/*
 * v2conf.c -- the v2 protocol's settings in event_multicast.conf.
 *
 * Owns the params that choose and tune evcast's own wire protocol, read from
 * the same <settings> block as the legacy ones (FreeSWITCH ignores them):
 * protocol, v2-keys, v2-keys-file, v2-primary-key, v2-accept-plaintext,
 * node-id, payload-size, retransmit-bytes, retransmit-age, max-skew,
 * hold-bytes, legacy-address, flow control's flow-control, max-lag,
 * fc-window (docs/PROTOCOL.md 14), and the hostile-input bounds
 * receive-memory, max-unknown-senders, retransmit-rate, retransmit-peer-rate,
 * nak-rate (9.5). config.c calls evc__v2_settings_parse to
 * validate them at load (an invalid value stops the start, naming file, line,
 * param, value and why); the node calls it again to build its endpoint and
 * keyring, so a reload re-reads the keys file. The only I/O is reading that
 * file (read_keys_file: regular file, mode 0600 or stricter, our owner).
 */
#include "v2conf.h"
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int failf(char *err, size_t errlen, const char *file, const evcast_param_t *p, const char *why, ...)
	__attribute__((format(printf, 5, 6)));

/* A param whose value is masked in messages (v2-keys-file is a path: shown). */
static bool secret(const char *name) { return name && strstr(name, "key") && !strstr(name, "-file"); }

static int failf(char *err, size_t errlen, const char *file, const evcast_param_t *p, const char *why, ...)
{
	char reason[1600];
	va_list ap;
	va_start(ap, why);
	vsnprintf(reason, sizeof(reason), why, ap);
	va_end(ap);
	if (err && errlen)
		snprintf(err, errlen, "%s:%d: param \"%s\": value \"%.80s%s\" %s", file ? file : "(config)", p->line,
			 p->name, secret(p->name) ? "***" : p->value, strlen(p->value) > 80 && !secret(p->name) ? "..." : "",
			 reason);
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

/* ------------------------------------------------------------ v2-keys-file */

#define KEYS_FILE_MAX 65536

/* dir(file) + "/" + rel into out, or rel when absolute or file has no dir. */
static void resolve_path(const char *file, const char *rel, char *out, size_t cap)
{
	const char *slash = file && rel[0] != '/' ? strrchr(file, '/') : NULL;
	if (slash)
		snprintf(out, cap, "%.*s/%s", (int)(slash - file), file, rel);
	else
		snprintf(out, cap, "%s", rel);
}

/* Reads the whole file into buf (NUL-terminated); refuses what is not a
 * regular file (without blocking on a FIFO), a mode with group or other
 * bits, another owner, more than KEYS_FILE_MAX bytes. */
static int slurp_keys_file(const char *path, char *buf, size_t cap, char *why, size_t whylen)
{
	struct stat sb;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		snprintf(why, whylen, "%.500s: cannot open: %s%s", path, strerror(errno),
			 errno == ENOENT ? " (create it: umask 077; evcast keygen > FILE)" : "");
		return EVCAST_EINVAL;
	}
	int r = EVCAST_EINVAL;
	if (fstat(fd, &sb) != 0)
		snprintf(why, whylen, "%.500s: cannot stat: %s", path, strerror(errno));
	else if (!S_ISREG(sb.st_mode))
		snprintf(why, whylen, "%.500s: not a regular file", path);
	else if (sb.st_mode & 077)
		snprintf(why, whylen, "%.500s: mode %04o lets group or others in; it must be 0600 or stricter (chmod 600 %.500s)",
			 path, (unsigned)(sb.st_mode & 07777), path);
	else if (sb.st_uid != geteuid())
		snprintf(why, whylen, "%.500s: owned by uid %u, not by the daemon's user (uid %u)", path, (unsigned)sb.st_uid,
			 (unsigned)geteuid());
	else if (sb.st_size >= (off_t)cap)
		snprintf(why, whylen, "%.500s: %lld bytes, more than a keys file may have (%zu)", path,
			 (long long)sb.st_size, cap - 1);
	else
		r = 0;
	while (r == 0 && len < cap - 1) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(why, whylen, "%.500s: cannot read: %s", path, strerror(errno));
			r = EVCAST_EINVAL;
		}
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return r;
}

/* One key per line, "ID:SECRET" as `evcast keygen` prints; blank lines and
 * lines starting with # are skipped; surrounding white space is ignored. The
 * first key is the primary unless v2-primary-key names another. */
int evc__v2_keys_parse(evc__v2_settings_t *o, const char *text, const char *path, char *why, size_t whylen)
{
	const char *line = text;
	evc__v2_keyring_t *kr = NULL; /* every key so far: a repeated id is refused at its line */
	int r = evc__v2_keyring_new(&kr);
	o->nkeys = 0;
	if (r != 0)
		snprintf(why, whylen, "%.500s: out of memory", path);
	for (int lineno = 1; r == 0 && *line; lineno++) {
		const char *nl = strchr(line, '\n'), *e = nl ? nl : line + strlen(line), *b = line;
		line = nl ? nl + 1 : e;
		while (b < e && (*b == ' ' || *b == '\t' || *b == '\r'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		if (b == e || *b == '#')
			continue;
		char key[sizeof(o->keys[0])], kwhy[160] = "";
		size_t n = (size_t)(e - b);
		if (o->nkeys >= EVC_V2_MAX_KEYS) {
			snprintf(why, whylen, "%.500s:%d: more than %d keys", path, lineno, EVC_V2_MAX_KEYS);
			r = EVCAST_E2BIG;
			break;
		}
		if (n >= sizeof(key)) {
			snprintf(why, whylen, "%.500s:%d: a line longer than %zu bytes is not a key", path, lineno,
				 sizeof(key) - 1);
			r = EVCAST_EINVAL;
			break;
		}
		for (const char *c = b; c < e; c++) {
			if ((unsigned char)*c < 0x20 || *c == 0x7f) { /* a stray \r (old Mac line ends) or worse */
				snprintf(why, whylen, "%.500s:%d: a control character (0x%02x) inside a key", path, lineno,
					 (unsigned)(unsigned char)*c);
				r = EVCAST_EINVAL;
				break;
			}
		}
		if (r != 0)
			break;
		memcpy(key, b, n);
		key[n] = '\0';
		r = evc__v2_keyring_add(kr, key, kwhy, sizeof(kwhy));
		if (r == 0) {
			memcpy(o->keys[o->nkeys++], key, n + 1);
		} else if (r != EVCAST_ENOMEM) {
			snprintf(why, whylen, "%.500s:%d: not a key (ID:SECRET, as evcast keygen prints): %s", path, lineno,
				 kwhy);
			r = EVCAST_EINVAL;
		} else {
			snprintf(why, whylen, "%.500s:%d: out of memory", path, lineno);
		}
		sodium_memzero(key, sizeof(key));
	}
	evc__v2_keyring_free(kr);
	if (r == 0 && o->nkeys == 0) {
		snprintf(why, whylen, "%.500s: holds no key (one ID:SECRET line per key, as evcast keygen prints)", path);
		r = EVCAST_EINVAL;
	}
	return r;
}

static int read_keys_file(evc__v2_settings_t *o, const char *path, char *why, size_t whylen)
{
	char *buf = sodium_malloc(KEYS_FILE_MAX);
	if (!buf) {
		snprintf(why, whylen, "%.500s: out of memory", path);
		return EVCAST_ENOMEM;
	}
	int r = slurp_keys_file(path, buf, KEYS_FILE_MAX, why, whylen);
	if (r == 0)
		r = evc__v2_keys_parse(o, buf, path, why, whylen);
	sodium_free(buf); /* wiped */
	return r;
}

bool evc__v2_is_param(const char *name)
{
	static const char *names[] = {"protocol",       "v2-keys",         "v2-primary-key", "v2-accept-plaintext",
				      "node-id",        "payload-size",    "retransmit-bytes", "retransmit-age",
				      "max-skew",       "hold-bytes",      "legacy-address", "v2-compress",
				      "v2-keys-file",
				      /* flow control */
				      "flow-control",   "max-lag",         "fc-window",
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
	} else if (strcasecmp(p->name, "v2-keys-file") == 0) {
		char why[1400];
		if (!v[0])
			return failf(err, errlen, file, p, "is empty (a file of ID:SECRET lines)");
		if (o->keys_inline)
			return failf(err, errlen, file, p, "cannot be used with v2-keys (keys in the file or in the XML)");
		resolve_path(file, v, o->keys_file, sizeof(o->keys_file));
		int r = read_keys_file(o, o->keys_file, why, sizeof(why));
		if (r != 0)
			return failf(err, errlen, file, p, "%s", why);
	} else if (strcasecmp(p->name, "v2-keys") == 0) {
		key_ctx_t k = {o, ""};
		if (o->keys_file[0])
			return failf(err, errlen, file, p, "cannot be used with v2-keys-file (keys in the file or in the XML)");
		o->keys_inline = true;
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
	} else if (strcasecmp(p->name, "flow-control") == 0) {
		if ((b = evc__parse_bool(v)) < 0)
			return failf(err, errlen, file, p, "is not a boolean (yes/no)");
		o->ep.fc = b;
	} else if (strcasecmp(p->name, "max-lag") == 0) {
		if (!evc__parse_u64(v, 100, 3600000, &u))
			return failf(err, errlen, file, p, "is not a time in milliseconds (100-3600000)");
		o->ep.max_lag_ms = u;
		o->max_lag_set = true;
	} else if (strcasecmp(p->name, "fc-window") == 0) {
		if (!evc__parse_u64(v, 16, EVC_V2_FC_MAX_WINDOW, &u))
			return failf(err, errlen, file, p, "is not a number of datagrams (16-%u)", EVC_V2_FC_MAX_WINDOW);
		o->ep.fc_window = (uint32_t)u;
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
	if (!out->max_lag_set && out->ep.max_lag_ms * 1000u >= out->ep.max_skew_us)
		out->ep.max_lag_ms = out->ep.max_skew_us / 2000u; /* the default fits a shorter max-skew */
	if (out->ep.max_lag_ms * 1000u >= out->ep.max_skew_us) {
		if (err && errlen)
			snprintf(err, errlen, "%s: max-lag (%llu ms) must be shorter than max-skew (%llu s)",
				 file ? file : "(config)", (unsigned long long)out->ep.max_lag_ms,
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
