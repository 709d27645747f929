/*
 * bench_nats.c -- the NATS core pub/sub baseline (libnats against a running
 * nats-server, e.g. the one scripts/bench.sh starts on 127.0.0.1:random).
 *
 * One publisher connection and --receivers forked subscribers, each on its own
 * connection with a synchronous subscription (pending limits lifted so the
 * client does not drop as a slow consumer), --size byte messages (default
 * 1024) on subject bench.load. Paced mode (--rate R --duration S) measures
 * one-way latency from a monotonic timestamp in the payload. One RESULT line.
 * With BENCH_SUB_NETNS=NAME in the environment each subscriber first enters
 * the network namespace /run/netns/NAME (bench/bench_nats_sites.sh: publisher
 * on site 1, subscriber on site 2).
 */
#include "bench_util.h"
#include <fcntl.h>
#include <nats/nats.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SUBJECT "bench.load"
#define TAG 0x45564342u

typedef struct hdr {
	uint32_t tag;
	uint32_t paced;
	uint64_t seq;
	uint64_t ts_ns;
} hdr_t;

static const char *USAGE =
	"usage: bench_nats --url nats://127.0.0.1:PORT [--count N] [--receivers R] [--size BYTES]\n"
	"                  [--rate EV_PER_S --duration S] [--label NAME]";

static void receiver(int idx, const bench_opts_t *o, bench_result_t *res, void *ud)
{
	natsConnection *nc = NULL;
	natsSubscription *sub = NULL;
	natsStatus s;
	bench_lat_t lat;
	const char *ns = getenv("BENCH_SUB_NETNS");
	(void)ud;
	if (ns && *ns) {
		char path[256];
		snprintf(path, sizeof(path), "/run/netns/%s", ns);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
			fprintf(stderr, "bench_nats: receiver %d: cannot enter namespace %s\n", idx, path);
			if (fd >= 0)
				close(fd);
			res->error = 1;
			return;
		}
		close(fd);
	}
	if ((s = natsConnection_ConnectTo(&nc, o->url)) != NATS_OK ||
	    (s = natsConnection_SubscribeSync(&sub, nc, SUBJECT)) != NATS_OK ||
	    (s = natsSubscription_SetPendingLimits(sub, -1, -1)) != NATS_OK ||
	    (s = natsConnection_Flush(nc)) != NATS_OK) {
		fprintf(stderr, "bench_nats: receiver %d: %s\n", idx, natsStatus_GetText(s));
		res->error = 1;
		goto out;
	}
	bench_lat_init(&lat);
	bench_ready();
	uint64_t start = bench_now_ns(), deadline = start + (uint64_t)BENCH_DEADLINE_MS * 1000000u;
	while (res->received < o->count) {
		natsMsg *m = NULL;
		s = natsSubscription_NextMsg(&m, sub, 50);
		uint64_t now = bench_now_ns();
		if (s == NATS_OK) {
			hdr_t h;
			if (natsMsg_GetDataLength(m) >= (int)sizeof(h)) {
				memcpy(&h, natsMsg_GetData(m), sizeof(h));
				if (h.tag == TAG) {
					if (!res->received)
						res->first_ns = now;
					res->received++;
					res->last_ns = now;
					if (h.paced)
						bench_lat_add(&lat, now - h.ts_ns);
				}
			}
			natsMsg_Destroy(m);
		} else if (s != NATS_TIMEOUT) {
			fprintf(stderr, "bench_nats: receiver %d: %s\n", idx, natsStatus_GetText(s));
			res->error = 1;
			break;
		}
		if (now > deadline || (res->received && now - res->last_ns > (uint64_t)BENCH_IDLE_MS * 1000000u))
			break;
	}
	bench_lat_finish(&lat, res);
out:
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
	nats_Close();
}

int main(int argc, char **argv)
{
	bench_opts_t o = {.count = 300000, .receivers = 1, .size = 1024, .group = "-", .ifaddr = "-",
			  .port = 4222, .label = "nats"};
	bench_result_t res[BENCH_MAX_RECEIVERS];
	natsConnection *nc = NULL;
	natsStatus s;
	bench_parse_opts(argc, argv, &o, USAGE);
	if (!o.url || o.size < sizeof(hdr_t)) {
		fprintf(stderr, "%s\n", USAGE);
		return 2;
	}
	if (bench_spawn(&o, receiver, NULL) < 0)
		return 1;
	if ((s = natsConnection_ConnectTo(&nc, o.url)) != NATS_OK) {
		fprintf(stderr, "bench_nats: publisher: %s\n", natsStatus_GetText(s));
		return 1;
	}
	char *buf = malloc(o.size);
	memset(buf, 'n', o.size);
	uint64_t sent = 0, errors = 0, t0 = bench_now_ns();
	uint64_t interval = o.rate ? 1000000000ull / o.rate : 0;
	while (sent < o.count && bench_now_ns() - t0 < (uint64_t)BENCH_DEADLINE_MS * 1000000u) {
		if (interval) {
			uint64_t due = t0 + sent * interval, now = bench_now_ns();
			if (due > now)
				bench_sleep_ns(due - now);
		}
		hdr_t h = {TAG, interval ? 1u : 0u, sent, bench_now_ns()};
		memcpy(buf, &h, sizeof(h));
		if (natsConnection_Publish(nc, SUBJECT, buf, (int)o.size) != NATS_OK)
			errors++;
		else
			sent++;
		if (errors > 1000)
			break;
	}
	natsConnection_FlushTimeout(nc, 10000);
	double send_s = (double)(bench_now_ns() - t0) / 1e9;
	int rc = bench_collect(&o, res);
	if (errors)
		printf("  publisher: %llu publish errors\n", (unsigned long long)errors);
	bench_report(&o, sent, send_s, o.size, res);
	natsConnection_Destroy(nc);
	nats_Close();
	free(buf);
	return rc < 0 ? 1 : 0;
}
