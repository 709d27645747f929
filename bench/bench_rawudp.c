/*
 * bench_rawudp.c -- the raw-UDP multicast floor every other figure is held to.
 *
 * One sender (sendmmsg, batches of 64) and --receivers forked receivers
 * (recvmmsg, batches of 64), --size byte datagrams (default 1024) to
 * --group:--port on the interface --ifaddr (default 127.0.0.1, loop on, TTL 1).
 * Run it inside a private network namespace (scripts/bench.sh does). Paced
 * mode (--rate R --duration S) sends one datagram at a time on a schedule and
 * measures one-way latency from a monotonic timestamp in the payload.
 * --recv-netns NAME puts the receivers in network namespace NAME (joining on
 * --recv-ifaddr), so sender and receivers are two hosts on a bridge, as two
 * daemons are in bench/bench_v2.sh.
 * Prints per-receiver lines and one RESULT line (bench_util.h).
 */
#include "bench_util.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define TAG 0x45564342u /* "EVCB": ours, not a stray datagram */

typedef struct hdr {
	uint32_t tag;
	uint32_t paced;
	uint64_t seq;
	uint64_t ts_ns;
} hdr_t;

static const char *USAGE =
	"usage: bench_rawudp [--count N] [--receivers R] [--size BYTES] [--group ADDR] [--port P]\n"
	"                    [--ifaddr ADDR] [--rate EV_PER_S --duration S] [--label NAME]\n"
	"                    [--recv-netns NAME [--recv-ifaddr ADDR]]";

/* Moves the calling receiver into network namespace NAME (/var/run/netns/NAME). */
static int enter_netns(const char *name)
{
	char path[256];
	int fd, rc;
	snprintf(path, sizeof(path), "/var/run/netns/%s", name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	rc = setns(fd, CLONE_NEWNET);
	close(fd);
	return rc;
}

static void receiver(int idx, const bench_opts_t *o, bench_result_t *res, void *ud)
{
	int fd, one = 1, rcvbuf = 4 * 1024 * 1024;
	struct sockaddr_in a;
	struct ip_mreq mr;
	struct timeval tv = {0, 50000};
	if (o->recv_netns && enter_netns(o->recv_netns) < 0) {
		fprintf(stderr, "bench_rawudp: --recv-netns %s: %s\n", o->recv_netns, strerror(errno));
		res->error = 1;
		return;
	}
	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0) {
		perror("socket");
		res->error = 1;
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)); /* as libevcast does */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)o->port);
	a.sin_addr.s_addr = htonl(INADDR_ANY);
	memset(&mr, 0, sizeof(mr));
	inet_pton(AF_INET, o->group, &mr.imr_multiaddr);
	inet_pton(AF_INET, o->recv_ifaddr ? o->recv_ifaddr : o->ifaddr, &mr.imr_interface);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0) {
		perror("receiver bind/join");
		res->error = 1;
		close(fd);
		return;
	}
	static char bufs[BATCH][2048];
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	bench_lat_t lat;
	bench_lat_init(&lat);
	bench_ready();
	uint64_t start = bench_now_ns(), deadline = start + (uint64_t)BENCH_DEADLINE_MS * 1000000u;
	while (res->received < o->count) {
		for (int i = 0; i < BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = sizeof(bufs[i]);
			memset(&mm[i].msg_hdr, 0, sizeof(mm[i].msg_hdr));
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		int n = recvmmsg(fd, mm, BATCH, MSG_WAITFORONE, NULL);
		uint64_t now = bench_now_ns();
		for (int i = 0; i < n; i++) {
			hdr_t h;
			if (mm[i].msg_len < sizeof(h))
				continue;
			memcpy(&h, bufs[i], sizeof(h));
			if (h.tag != TAG)
				continue;
			if (!res->received)
				res->first_ns = now;
			res->received++;
			res->last_ns = now;
			if (h.paced)
				bench_lat_add(&lat, now - h.ts_ns);
		}
		if (now > deadline || (res->received && now - res->last_ns > (uint64_t)BENCH_IDLE_MS * 1000000u))
			break;
	}
	bench_lat_finish(&lat, res);
	close(fd);
	(void)idx;
	(void)ud;
}

int main(int argc, char **argv)
{
	bench_opts_t o = {.count = 300000, .receivers = 1, .size = 1024, .group = "239.255.77.1",
			  .ifaddr = "127.0.0.1", .port = 47001, .label = "rawudp"};
	bench_result_t res[BENCH_MAX_RECEIVERS];
	bench_parse_opts(argc, argv, &o, USAGE);
	if (o.size < sizeof(hdr_t) || o.size > 2048) {
		fprintf(stderr, "bench_rawudp: --size must be %zu..2048\n", sizeof(hdr_t));
		return 2;
	}
	if (bench_spawn(&o, receiver, NULL) < 0)
		return 1;

	int fd = socket(AF_INET, SOCK_DGRAM, 0), one = 1, ttl = 1;
	struct in_addr ifa;
	struct sockaddr_in to;
	inet_pton(AF_INET, o.ifaddr, &ifa);
	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	to.sin_port = htons((uint16_t)o.port);
	inet_pton(AF_INET, o.group, &to.sin_addr);
	setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof(ifa));
	setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl));

	static char bufs[BATCH][2048];
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	for (int i = 0; i < BATCH; i++) {
		memset(bufs[i], 'x', sizeof(bufs[i]));
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = o.size;
		memset(&mm[i].msg_hdr, 0, sizeof(mm[i].msg_hdr));
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_name = &to;
		mm[i].msg_hdr.msg_namelen = sizeof(to);
	}
	uint64_t sent = 0, t0 = bench_now_ns(), errors = 0;
	uint64_t interval = o.rate ? 1000000000ull / o.rate : 0;
	while (sent < o.count && bench_now_ns() - t0 < (uint64_t)BENCH_DEADLINE_MS * 1000000u) {
		int n = 1;
		if (interval) {
			uint64_t due = t0 + sent * interval, now = bench_now_ns();
			if (due > now)
				bench_sleep_ns(due - now);
		} else {
			n = (int)(o.count - sent < BATCH ? o.count - sent : BATCH);
		}
		for (int i = 0; i < n; i++) {
			hdr_t h = {TAG, interval ? 1u : 0u, sent + (uint64_t)i, bench_now_ns()};
			memcpy(bufs[i], &h, sizeof(h));
		}
		int r = sendmmsg(fd, mm, (unsigned)n, 0);
		if (r <= 0) {
			errors++;
			continue;
		}
		sent += (uint64_t)r;
	}
	double send_s = (double)(bench_now_ns() - t0) / 1e9;
	close(fd);
	int rc = bench_collect(&o, res);
	if (errors)
		printf("  sender: %llu sendmmsg errors\n", (unsigned long long)errors);
	bench_report(&o, sent, send_s, o.size, res);
	return rc < 0 ? 1 : 0;
}
