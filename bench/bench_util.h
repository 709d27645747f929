/*
 * bench_util.h -- the harness every bench_<case>.c shares: clocks, forked
 * receivers with a ready/result handshake, latency percentiles, result lines.
 *
 * A case forks its receivers (bench_spawn), each of which sets itself up,
 * reports ready, counts what it receives until it has everything, goes idle
 * for idle_ms after the first arrival, or hits the hard deadline, and writes
 * one bench_result_t back. The parent sends meanwhile, then collects
 * (bench_collect) and prints one "RESULT key=value ..." line per receiver set
 * that scripts/bench.sh parses. Every loop is bounded in count and in time.
 */
#ifndef EVCAST_BENCH_UTIL_H
#define EVCAST_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define BENCH_MAX_RECEIVERS 8
#define BENCH_MAX_SAMPLES 20000     /* latency samples kept per receiver */
#define BENCH_DEADLINE_MS 60000     /* hard limit of any receive phase */
#define BENCH_IDLE_MS 500           /* receive phase ends this long after the last arrival */

typedef struct bench_result {
	uint64_t received;
	uint64_t first_ns, last_ns; /* monotonic, first and last arrival */
	uint64_t nlat;              /* latency samples */
	uint64_t p50_ns, p90_ns, p99_ns, max_ns;
	uint64_t cpu_ns;            /* the receiver process's user + system CPU time */
	int error;                  /* nonzero: the receiver failed (message on stderr) */
} bench_result_t;

/* Common options: --count N, --receivers R, --size BYTES, --group A, --port P,
 * --rate EV_PER_S (0 = as fast as possible), --duration S (paced mode),
 * --url URL (NATS), --socket PATH (evcastd control socket), --v2 plain|ID:SECRET,
 * --payload BYTES (v2 payload-size), --compress no|yes|LEVEL (v2-compress),
 * --body fill|random (bench_legacy's event body), --recv-netns NAME and
 * --recv-ifaddr ADDR (bench_rawudp: its receivers enter network namespace NAME
 * and join there on ADDR, so the baseline crosses the same bridge the daemons do). */
typedef struct bench_opts {
	uint64_t count;
	int receivers;
	size_t size;
	const char *group;
	const char *ifaddr;
	int port;
	unsigned rate;
	double duration;
	const char *url;   /* NATS */
	const char *socket; /* evcastd control socket (ESL) */
	const char *v2;     /* bench_legacy: protocol v2, "plain" or a key "ID:SECRET" */
	unsigned payload;   /* bench_legacy --v2: payload-size (0 = the default 1400) */
	const char *compress; /* bench_legacy --v2: v2-compress (no, yes, a zstd level) */
	const char *body;   /* bench_legacy: "fill" (default, one repeated byte) or "random" (alphanumerics) */
	const char *label; /* case name in the RESULT line */
	const char *recv_netns;  /* bench_rawudp: receivers' network namespace (ip netns name) */
	const char *recv_ifaddr; /* bench_rawudp: receivers' interface address (default ifaddr) */
} bench_opts_t;

uint64_t bench_now_ns(void);
uint64_t bench_cpu_ns(void); /* user + system CPU time of this process */
void bench_sleep_ns(uint64_t ns);

/* Parses the common options; exits 2 with a usage line on a bad one. */
void bench_parse_opts(int argc, char **argv, bench_opts_t *o, const char *usage);

/* A receiver: set up, then call bench_ready(); receive until done; fill *res. */
typedef void (*bench_receiver_fn)(int idx, const bench_opts_t *o, bench_result_t *res, void *ud);
void bench_ready(void);

/* Forks o->receivers children running fn; returns when all are ready (0) or
 * -1 when one failed or the 10 s start deadline passed. */
int bench_spawn(const bench_opts_t *o, bench_receiver_fn fn, void *ud);
/* Waits for every child's result (bounded by the deadline) into res[]. */
int bench_collect(const bench_opts_t *o, bench_result_t *res);

/* Latency samples: add (bounded; extra samples are ignored), then finish. */
typedef struct bench_lat {
	uint64_t *v;
	size_t n, cap;
} bench_lat_t;
void bench_lat_init(bench_lat_t *l);
void bench_lat_add(bench_lat_t *l, uint64_t ns);
void bench_lat_finish(bench_lat_t *l, bench_result_t *res);

/* Prints the per-receiver lines and one RESULT line:
 * RESULT case=L receivers=R sent=N size=B send_s=S rate_min=.. rate_avg=.. loss_pct=..
 *        delivered=N cpu_ms=.. cpu_us_ev=.. [p50_us= p90_us= p99_us= max_us=]
 * cpu_ms: user + system CPU of the calling process (the sender) and of every
 * receiver; cpu_us_ev: that per delivered event (processes outside the bench,
 * e.g. nats-server, are not in it). */
void bench_report(const bench_opts_t *o, uint64_t sent, double send_s, size_t wire_size,
		  const bench_result_t *res);

#endif
