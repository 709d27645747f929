/*
 * rxdelay.c -- the receive-delay histogram (see rxdelay.h). Buckets: 0..31
 * one microsecond each; then for a delay with its highest bit at position e
 * (e >= 5), 16 buckets splitting [2^e, 2^(e+1)) evenly. Delays of 2^40 us
 * (12 days) and more share the last bucket.
 */
#include "rxdelay.h"
#include <stdio.h>

size_t evcd_rxdelay_bucket(uint64_t us)
{
	if (us < EVCD_RXDELAY_LINEAR)
		return (size_t)us;
	unsigned e = 63u - (unsigned)__builtin_clzll(us);
	if (e >= 40)
		return EVCD_RXDELAY_BUCKETS - 1;
	size_t sub = (size_t)((us >> (e - 4)) & (EVCD_RXDELAY_SUB - 1));
	return EVCD_RXDELAY_LINEAR + (size_t)(e - 5) * EVCD_RXDELAY_SUB + sub;
}

uint64_t evcd_rxdelay_upper(size_t b)
{
	if (b < EVCD_RXDELAY_LINEAR)
		return b;
	if (b >= EVCD_RXDELAY_BUCKETS - 1)
		return UINT64_MAX;
	size_t i = b - EVCD_RXDELAY_LINEAR;
	unsigned e = (unsigned)(i / EVCD_RXDELAY_SUB) + 5;
	uint64_t sub = i % EVCD_RXDELAY_SUB;
	return ((EVCD_RXDELAY_SUB + sub + 1) << (e - 4)) - 1;
}

void evcd_rxdelay_add(evcd_rxdelay_t *h, uint64_t sent_us, uint64_t now_us)
{
	h->samples++;
	if (sent_us > now_us) {
		h->negative++;
		return;
	}
	uint64_t d = now_us - sent_us;
	h->bucket[evcd_rxdelay_bucket(d)]++;
	h->sum_us += d;
	if (d > h->max_us)
		h->max_us = d;
}

uint64_t evcd_rxdelay_quantile(const evcd_rxdelay_t *h, double p)
{
	uint64_t n = h->samples - h->negative, seen = 0, want;
	if (n == 0)
		return 0;
	want = (uint64_t)(p * (double)n + 0.999999);
	if (want == 0)
		want = 1;
	for (size_t b = 0; b < EVCD_RXDELAY_BUCKETS; b++) {
		seen += h->bucket[b];
		if (seen >= want) {
			uint64_t up = evcd_rxdelay_upper(b);
			return up < h->max_us ? up : h->max_us;
		}
	}
	return h->max_us;
}

size_t evcd_rxdelay_json(const evcd_rxdelay_t *h, char *buf, size_t cap)
{
	size_t len = 0;
	int w = snprintf(buf, cap,
			 "{\"samples\":%llu,\"negative\":%llu,\"p50_us\":%llu,\"p90_us\":%llu,\"p99_us\":%llu,"
			 "\"max_us\":%llu,\"buckets\":[",
			 (unsigned long long)h->samples, (unsigned long long)h->negative,
			 (unsigned long long)evcd_rxdelay_quantile(h, 0.50),
			 (unsigned long long)evcd_rxdelay_quantile(h, 0.90),
			 (unsigned long long)evcd_rxdelay_quantile(h, 0.99), (unsigned long long)h->max_us);
	if (w < 0 || (size_t)w >= cap)
		return 0;
	len = (size_t)w;
	for (size_t b = 0, first = 1; b < EVCD_RXDELAY_BUCKETS; b++) {
		if (!h->bucket[b])
			continue;
		w = snprintf(buf + len, cap - len, "%s[%llu,%llu]", first ? "" : ",",
			     (unsigned long long)(b == EVCD_RXDELAY_BUCKETS - 1 ? h->max_us : evcd_rxdelay_upper(b)),
			     (unsigned long long)h->bucket[b]);
		if (w < 0 || (size_t)w >= cap - len)
			return 0;
		len += (size_t)w;
		first = 0;
	}
	if (cap - len < 3)
		return 0;
	buf[len++] = ']';
	buf[len++] = '}';
	buf[len] = '\0';
	return len;
}
