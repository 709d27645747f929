/*
 * bench_util.c -- the shared bench harness (see bench_util.h): monotonic
 * clock, option parsing, forked receivers with a ready pipe and a result
 * pipe each, latency percentiles and the RESULT line scripts/bench.sh reads.
 * Children never return into the caller: they _exit after writing results.
 */
#include "bench_util.h"
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int g_ready_fd = -1;
static pid_t g_pids[BENCH_MAX_RECEIVERS];
static int g_res_fd[BENCH_MAX_RECEIVERS];

uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void bench_parse_opts(int argc, char **argv, bench_opts_t *o, const char *usage)
{
	static const struct option lo[] = {
		{"count", required_argument, NULL, 'n'},    {"receivers", required_argument, NULL, 'r'},
		{"size", required_argument, NULL, 's'},     {"group", required_argument, NULL, 'g'},
		{"port", required_argument, NULL, 'p'},     {"rate", required_argument, NULL, 'R'},
		{"duration", required_argument, NULL, 'd'}, {"url", required_argument, NULL, 'u'},
		{"label", required_argument, NULL, 'L'},    {"ifaddr", required_argument, NULL, 'i'},
		{"socket", required_argument, NULL, 'S'},   {"v2", required_argument, NULL, 'V'},
		{"payload", required_argument, NULL, 'P'},  {"compress", required_argument, NULL, 'Z'},
		{"body", required_argument, NULL, 'B'},
		{"recv-netns", required_argument, NULL, 'N'}, {"recv-ifaddr", required_argument, NULL, 'I'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "n:r:s:g:p:R:d:u:L:i:S:V:P:Z:B:N:I:h", lo, NULL)) != -1) {
		switch (c) {
		case 'n': o->count = strtoull(optarg, NULL, 10); break;
		case 'r': o->receivers = atoi(optarg); break;
		case 's': o->size = (size_t)strtoul(optarg, NULL, 10); break;
		case 'g': o->group = optarg; break;
		case 'p': o->port = atoi(optarg); break;
		case 'R': o->rate = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'd': o->duration = atof(optarg); break;
		case 'u': o->url = optarg; break;
		case 'L': o->label = optarg; break;
		case 'i': o->ifaddr = optarg; break;
		case 'S': o->socket = optarg; break;
		case 'V': o->v2 = optarg; break;
		case 'P': o->payload = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'Z': o->compress = optarg; break;
		case 'B': o->body = optarg; break;
		case 'N': o->recv_netns = optarg; break;
		case 'I': o->recv_ifaddr = optarg; break;
		case 'h': printf("%s\n", usage); exit(0);
		default: fprintf(stderr, "%s\n", usage); exit(2);
		}
	}
	if (o->body && strcmp(o->body, "fill") != 0 && strcmp(o->body, "random") != 0) {
		fprintf(stderr, "--body: fill or random\n%s\n", usage);
		exit(2);
	}
	if (optind != argc || o->receivers < 1 || o->receivers > BENCH_MAX_RECEIVERS || o->count < 1 ||
	    o->count > 100000000 || o->size < 16 || o->size > 60000 || o->port < 1 || o->port > 65535 ||
	    o->duration < 0 || o->duration > 60 || o->rate > 1000000) {
		fprintf(stderr, "invalid options (receivers 1..%d, count 1..1e8, size 16..60000, duration <= 60 s)\n%s\n",
			BENCH_MAX_RECEIVERS, usage);
		exit(2);
	}
	/* paced mode: the count follows from rate x duration */
	if (o->rate && o->duration > 0)
		o->count = (uint64_t)(o->rate * o->duration);
}

uint64_t bench_cpu_ns(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

void bench_ready(void)
{
	if (g_ready_fd >= 0)
		(void)!write(g_ready_fd, "r", 1);
}

int bench_spawn(const bench_opts_t *o, bench_receiver_fn fn, void *ud)
{
	int rp[2];
	if (pipe(rp) < 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < o->receivers; i++) {
		int res[2];
		if (pipe(res) < 0)
			return -1;
		pid_t pid = fork();
		if (pid < 0)
			return -1;
		if (pid == 0) {
			bench_result_t r;
			memset(&r, 0, sizeof(r));
			close(rp[0]);
			close(res[0]);
			g_ready_fd = rp[1];
			alarm((BENCH_DEADLINE_MS + 30000) / 1000); /* last resort */
			fn(i, o, &r, ud);
			r.cpu_ns = bench_cpu_ns();
			(void)!write(res[1], &r, sizeof(r));
			_exit(r.error ? 1 : 0);
		}
		close(res[1]);
		g_pids[i] = pid;
		g_res_fd[i] = res[0];
	}
	close(rp[1]);
	int ready = 0;
	uint64_t end = bench_now_ns() + 10000000000ull;
	while (ready < o->receivers) {
		uint64_t now = bench_now_ns();
		if (now >= end)
			break;
		struct pollfd p = {rp[0], POLLIN, 0};
		int r = poll(&p, 1, (int)((end - now) / 1000000u) + 1);
		if (r <= 0)
			continue;
		char b[BENCH_MAX_RECEIVERS];
		ssize_t n = read(rp[0], b, sizeof(b));
		if (n <= 0)
			break; /* every child closed its end: one died */
		ready += (int)n;
	}
	close(rp[0]);
	if (ready < o->receivers) {
		fprintf(stderr, "bench: only %d of %d receivers ready\n", ready, o->receivers);
		for (int i = 0; i < o->receivers; i++)
			kill(g_pids[i], SIGKILL);
		return -1;
	}
	return 0;
}

int bench_collect(const bench_opts_t *o, bench_result_t *res)
{
	int rc = 0;
	for (int i = 0; i < o->receivers; i++) {
		struct pollfd p = {g_res_fd[i], POLLIN, 0};
		memset(&res[i], 0, sizeof(res[i]));
		if (poll(&p, 1, BENCH_DEADLINE_MS + 5000) <= 0 ||
		    read(g_res_fd[i], &res[i], sizeof(res[i])) != (ssize_t)sizeof(res[i])) {
			fprintf(stderr, "bench: receiver %d gave no result\n", i);
			res[i].error = 1;
			kill(g_pids[i], SIGKILL);
		}
		close(g_res_fd[i]);
		int st = 0;
		waitpid(g_pids[i], &st, 0);
		if (res[i].error || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			rc = -1;
	}
	return rc;
}

void bench_lat_init(bench_lat_t *l)
{
	l->n = 0;
	l->cap = BENCH_MAX_SAMPLES;
	l->v = malloc(l->cap * sizeof(*l->v));
	if (!l->v)
		l->cap = 0;
}

void bench_lat_add(bench_lat_t *l, uint64_t ns)
{
	if (l->n < l->cap)
		l->v[l->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t pct(const bench_lat_t *l, double p)
{
	size_t i = (size_t)(p * (double)(l->n - 1) + 0.5);
	return l->v[i];
}

void bench_lat_finish(bench_lat_t *l, bench_result_t *res)
{
	res->nlat = l->n;
	if (l->n) {
		qsort(l->v, l->n, sizeof(*l->v), cmp_u64);
		res->p50_ns = pct(l, 0.50);
		res->p90_ns = pct(l, 0.90);
		res->p99_ns = pct(l, 0.99);
		res->max_ns = l->v[l->n - 1];
	}
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

void bench_report(const bench_opts_t *o, uint64_t sent, double send_s, size_t wire_size,
		  const bench_result_t *res)
{
	double rmin = 0, rsum = 0, lost = 0;
	uint64_t p50 = 0, p90 = 0, p99 = 0, mx = 0, nlat = 0, cpu = bench_cpu_ns(), delivered = 0;
	for (int i = 0; i < o->receivers; i++) {
		const bench_result_t *r = &res[i];
		double span = r->last_ns > r->first_ns ? (double)(r->last_ns - r->first_ns) / 1e9 : 0;
		/* a receiver's rate: what it got over the time it was getting it */
		double rate = span > 0 ? (double)(r->received > 1 ? r->received - 1 : 0) / span : 0;
		printf("  receiver %d: %llu/%llu received in %.3f s = %.0f/s", i, (unsigned long long)r->received,
		       (unsigned long long)sent, span, rate);
		if (r->nlat)
			printf(", latency p50 %.1f us p99 %.1f us (%llu samples)", (double)r->p50_ns / 1e3,
			       (double)r->p99_ns / 1e3, (unsigned long long)r->nlat);
		printf(", cpu %.0f ms%s\n", (double)r->cpu_ns / 1e6, r->error ? " [FAILED]" : "");
		if (i == 0 || rate < rmin)
			rmin = rate;
		rsum += rate;
		lost += sent > r->received ? (double)(sent - r->received) : 0;
		delivered += r->received;
		cpu += r->cpu_ns;
		/* latency: the worst receiver's percentiles */
		if (r->p50_ns > p50) p50 = r->p50_ns;
		if (r->p90_ns > p90) p90 = r->p90_ns;
		if (r->p99_ns > p99) p99 = r->p99_ns;
		if (r->max_ns > mx) mx = r->max_ns;
		nlat += r->nlat;
	}
	printf("  sender cpu %.0f ms\n", (double)bench_cpu_ns() / 1e6);
	printf("RESULT case=%s receivers=%d sent=%llu size=%zu send_s=%.3f send_rate=%.0f rate_min=%.0f "
	       "rate_avg=%.0f loss_pct=%.2f",
	       o->label, o->receivers, (unsigned long long)sent, wire_size, send_s,
	       send_s > 0 ? (double)sent / send_s : 0, rmin, rsum / o->receivers,
	       sent ? 100.0 * lost / ((double)sent * o->receivers) : 0);
	printf(" delivered=%llu cpu_ms=%.0f cpu_us_ev=%.3f", (unsigned long long)delivered, (double)cpu / 1e6,
	       delivered ? (double)cpu / 1e3 / (double)delivered : 0.0);
	if (nlat)
		printf(" p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f", (double)p50 / 1e3, (double)p90 / 1e3,
		       (double)p99 / 1e3, (double)mx / 1e3);
	printf("\n");
	fflush(stdout);
}
