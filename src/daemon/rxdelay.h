/*
 * rxdelay.h -- how late events from peers arrive: a histogram of (this
 * host's wall clock when the event reaches the daemon's consumers) minus
 * (the Event-Date-Timestamp its sender stamped when it fired it).
 *
 * Across hosts the figure includes the two clocks' offset (run NTP/chrony);
 * on one host it is the one-way delay of the whole path, sender's encoding
 * and the network included. Bounded: a fixed array of log-linear buckets (16
 * per power of two above 32 us, so a reported percentile is the upper edge
 * of its bucket, at most 1/16 above the true value), no allocation. Pure
 * code: the caller passes both times. Exported in `evcast stats` as
 * "rx_delay" (evcd_rxdelay_json), which bench/bench_v2.sh reads.
 */
#ifndef EVCAST_RXDELAY_H
#define EVCAST_RXDELAY_H

#include <stddef.h>
#include <stdint.h>

#define EVCD_RXDELAY_LINEAR 32 /* below this, one bucket per microsecond */
#define EVCD_RXDELAY_SUB 16    /* buckets per power of two above it */
#define EVCD_RXDELAY_BUCKETS (EVCD_RXDELAY_LINEAR + (40 - 5) * EVCD_RXDELAY_SUB)

typedef struct evcd_rxdelay {
	uint64_t samples;
	uint64_t negative;  /* stamped in this host's future: clocks apart */
	uint64_t max_us;
	uint64_t sum_us;    /* of the non-negative delays (a Prometheus summary's _sum) */
	uint64_t bucket[EVCD_RXDELAY_BUCKETS];
} evcd_rxdelay_t;

/* One event: sent_us from its Event-Date-Timestamp, now_us this host's. */
void evcd_rxdelay_add(evcd_rxdelay_t *h, uint64_t sent_us, uint64_t now_us);

/* The bucket of a delay, and the largest delay that bucket holds. */
size_t evcd_rxdelay_bucket(uint64_t us);
uint64_t evcd_rxdelay_upper(size_t bucket);

/* The p-quantile (0 < p <= 1) as its bucket's upper edge; 0 without samples. */
uint64_t evcd_rxdelay_quantile(const evcd_rxdelay_t *h, double p);

/* {"samples":N,"negative":N,"p50_us":..,"p90_us":..,"p99_us":..,"max_us":..,
 *  "buckets":[[upper_us,count],...]} (non-empty buckets only) into buf;
 * returns the length, or 0 when it does not fit. */
size_t evcd_rxdelay_json(const evcd_rxdelay_t *h, char *buf, size_t cap);

#endif
