/*
 * parse.c -- the value parsers every configuration reader shares: booleans
 * (yes/no, true/false, on/off, 1/0, any case) and bounded decimal numbers
 * (digits only: no sign, no spaces, no overflow). Used by config.c, v2conf.c
 * and the daemon's blocks (event_socket.conf, registrations.conf, ...).
 */
#include "internal.h"
#include <strings.h>

int evc__parse_bool(const char *s)
{
	static const char *yes[] = {"yes", "true", "on", "1"}, *no[] = {"no", "false", "off", "0"};
	for (size_t i = 0; s && i < EVC_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

bool evc__parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t v = 0;
	if (!s || !*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (v > (hi - d) / 10) /* v * 10 + d > hi, without overflow */
			return false;
		v = v * 10 + d;
	}
	if (v < lo)
		return false;
	*out = v;
	return true;
}

int evc__conf_bool(const char *v, bool *out)
{
	int b = evc__parse_bool(v);
	if (b < 0)
		return -1;
	*out = b;
	return 0;
}

int evc__conf_uint(const char *v, unsigned lo, unsigned hi, unsigned *out)
{
	uint64_t u;
	if (!evc__parse_u64(v, lo, hi, &u))
		return -1;
	*out = (unsigned)u;
	return 0;
}
