/*
 * dest.c -- one destination of the `address` list: "a.b.c.d", "v6", "[v6]" or
 * "v6%scope" with the configured port, into a sockaddr, flagged multicast for
 * 224.0.0.0/4 and ff00::/8. The text is kept as written (for logs and
 * `evcast peers`). Used by config.c (address) and v2conf.c (legacy-address).
 */
#include "internal.h"
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>

int evcast_dest_parse(const char *text, uint16_t port, evcast_dest_t *out)
{
	char host[64];
	const char *h = text, *scope = NULL;
	size_t n;
	if (!text || !out)
		return EVCAST_EINVAL;
	n = strlen(text);
	if (n == 0 || n >= sizeof(out->text))
		return EVCAST_EINVAL;
	if (text[0] == '[') {
		if (n < 3 || text[n - 1] != ']')
			return EVCAST_EINVAL;
		h = text + 1;
		n -= 2;
	}
	memcpy(host, h, n);
	host[n] = '\0';
	memset(out, 0, sizeof(*out));
	if (text[0] != '[') {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&out->addr;
		if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
			s4->sin_family = AF_INET;
			s4->sin_port = htons(port);
			out->addrlen = sizeof(*s4);
			out->multicast = (ntohl(s4->sin_addr.s_addr) & 0xf0000000u) == 0xe0000000u;
			memcpy(out->text, text, strlen(text) + 1);
			return 0;
		}
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->addr;
	char *pct = strchr(host, '%');
	if (pct) {
		*pct = '\0';
		scope = pct + 1;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
		memset(out, 0, sizeof(*out));
		return EVCAST_EINVAL;
	}
	if (scope) {
		uint64_t id;
		if (!evc__parse_u64(scope, 1, UINT32_MAX, &id))
			id = if_nametoindex(scope);
		if (id == 0) {
			memset(out, 0, sizeof(*out));
			return EVCAST_EINVAL;
		}
		s6->sin6_scope_id = (uint32_t)id;
	}
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(port);
	out->addrlen = sizeof(*s6);
	out->multicast = IN6_IS_ADDR_MULTICAST(&s6->sin6_addr);
	memcpy(out->text, text, strlen(text) + 1);
	return 0;
}

