/*
 * impair.c -- fault injection on the receive path, for tests only.
 *
 * This kernel may lack tc netem, so the integration tests impair traffic here,
 * deterministically from a seed: EVCAST_IMPAIR="loss=0.1,dup=0.02,reorder=0.25,
 * seed=42" in the daemon's environment drops, duplicates, or holds back (and
 * delivers after the next one) that share of received datagrams. Unset (the
 * normal case) it costs one branch per datagram. Kernel-level loss (nftables)
 * is used beside it by the tests. Holds at most one datagram (a copy).
 */
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct evc__impair {
	double loss, dup, reorder;
	uint64_t rng;
	uint8_t *held;
	size_t nheld;
	struct sockaddr_storage from;
	uint64_t dropped, duplicated, reordered;
};

static double next01(evc__impair_t *im)
{
	/* xorshift64*: reproducible from the seed, good enough for fault injection */
	im->rng ^= im->rng >> 12;
	im->rng ^= im->rng << 25;
	im->rng ^= im->rng >> 27;
	return (double)((im->rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

int evc__impair_from_env(const evc__logger_t *lg, evc__impair_t **out)
{
	const char *spec = getenv("EVCAST_IMPAIR");
	*out = NULL;
	if (!spec || !*spec)
		return 0;
	evc__impair_t *im = evc__calloc(1, sizeof(*im));
	if (!im || !(im->held = evc__malloc(65536))) {
		evc__free(im);
		return EVCAST_ENOMEM;
	}
	unsigned long long seed = 1;
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq)
			continue;
		*eq++ = '\0';
		if (strcmp(tok, "loss") == 0)
			im->loss = atof(eq);
		else if (strcmp(tok, "dup") == 0)
			im->dup = atof(eq);
		else if (strcmp(tok, "reorder") == 0)
			im->reorder = atof(eq);
		else if (strcmp(tok, "seed") == 0)
			seed = strtoull(eq, NULL, 10);
	}
	im->rng = seed ? seed : 1;
	evc__log(lg, EVCAST_LOG_WARNING, "EVCAST_IMPAIR: test fault injection on: loss %.3f dup %.3f reorder %.3f seed %llu",
		 im->loss, im->dup, im->reorder, seed);
	*out = im;
	return 0;
}

void evc__impair_free(evc__impair_t *im)
{
	if (!im)
		return;
	evc__free(im->held);
	evc__free(im);
}

void evc__impair_recv(evc__impair_t *im, const uint8_t *buf, size_t len, const struct sockaddr *from,
		      void (*deliver)(void *ud, const uint8_t *buf, size_t len, const struct sockaddr *from), void *ud)
{
	if (next01(im) < im->loss) {
		im->dropped++;
		return;
	}
	if (!im->nheld && len && len <= 65536 && next01(im) < im->reorder) {
		memcpy(im->held, buf, len); /* delivered after the next datagram */
		im->nheld = len;
		memcpy(&im->from, from, from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
		im->reordered++;
		return;
	}
	deliver(ud, buf, len, from);
	if (next01(im) < im->dup) {
		im->duplicated++;
		deliver(ud, buf, len, from);
	}
	if (im->nheld) {
		size_t n = im->nheld;
		im->nheld = 0;
		deliver(ud, im->held, n, (const struct sockaddr *)&im->from);
	}
}
