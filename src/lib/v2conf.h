/*
 * v2conf.h -- v2 protocol settings read from event_multicast.conf (v2conf.c),
 * shared by config.c (validation at load) and node_v2.c (the endpoint).
 */
#ifndef EVCAST_V2CONF_H
#define EVCAST_V2CONF_H

#include "v2.h"

typedef struct evc__v2_settings {
	int protocol;                    /* EVCAST_PROTO_*: format of every `address` */
	char keys[EVC_V2_MAX_KEYS][160]; /* "ID:SECRET" */
	size_t nkeys;
	uint32_t primary;                /* 0: the first key */
	bool have_node_id;               /* node-id given (else derived) */
	evc__v2_ep_cfg_t ep;             /* tuning; node_id/epoch filled by the node */
	evcast_dest_t legacy[EVCAST_MAX_ADDRESSES]; /* legacy-address: always legacy */
	size_t nlegacy;
	/* v2-keys-file (issue 13): the keys above came from this file */
	bool keys_inline;                /* v2-keys given (exclusive with the file) */
	char keys_file[1024];            /* resolved path, "" when none */
	bool max_lag_set;                /* max-lag given (else its default, fitted under max-skew) */
} evc__v2_settings_t;

/* True for the names above (config.c must not warn about them). */
bool evc__v2_is_param(const char *name);
/* Reads the v2 params of sec (event_multicast.conf) with defaults; port is
 * the configured port (for legacy-address). v2-keys-file is read here (a
 * path relative to file's directory): it must be a regular file of this
 * process's user, with no group or other permission bits. On error err names
 * file, line, param, value (keys masked; a keys file is named, and its line
 * for a malformed key) and why; returns EVCAST_EINVAL. */
int evc__v2_settings_parse(const evcast_section_t *sec, uint16_t port, const char *file, evc__v2_settings_t *out,
			   char *err, size_t errlen);
/* The text of a v2-keys-file (NUL-terminated) into o->keys: one ID:SECRET
 * per line, # comments and blank lines skipped, each key checked. On error
 * why names path and the line; EVCAST_EINVAL, EVCAST_E2BIG (more than
 * EVC_V2_MAX_KEYS) or EVCAST_ENOMEM. (Also the fuzz target's entry.) */
int evc__v2_keys_parse(evc__v2_settings_t *o, const char *text, const char *path, char *why, size_t whylen);
/* A keyring of the configured keys (NULL when none: plaintext v2). */
int evc__v2_settings_keyring(const evc__v2_settings_t *s, evc__v2_keyring_t **out, char *err, size_t errlen);

#endif
