/*
 * bench_fanout.c -- multicast fan-out through the daemon: legacy datagrams
 * into a running evcastd, out to --receivers event-socket clients on its Unix
 * control socket (the path a deployment's ESL consumers see).
 *
 * The sender writes legacy plaintext datagrams (CUSTOM bench::load, event text
 * of --size bytes, Multicast-Sender benchsrc) to --group:--port via --ifaddr
 * with sendmmsg (batches of 64), as a remote node would. Each forked client
 * connects to --socket, answers auth/request, subscribes with "event plain
 * ALL" and counts the multicast::event deliveries of bench::load (framing by
 * evcast_esl_parser). Paced mode (--rate --duration) re-encodes each datagram
 * with a monotonic timestamp header and measures datagram -> client latency.
 * evcastd must listen on that group (scripts/bench.sh starts it in a private
 * network namespace). One RESULT line (bench_util.h).
 */
#include "bench_util.h"
#include "evcast/evcast.h"
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BATCH 64
#define MARK "Orig-Event-Subclass: bench%3A%3Aload\n"
#define TS_HDR "Orig-Bench-Ts: "

static const char *USAGE =
	"usage: bench_fanout --socket PATH [--count N] [--receivers R] [--size TEXT_BYTES] [--group ADDR]\n"
	"                    [--port P] [--ifaddr ADDR] [--rate EV_PER_S --duration S] [--label NAME]";

/* ------------------------------------------------------------- ESL client */

typedef struct client {
	int fd;
	evcast_esl_parser_t *p;
} client_t;

/* Next message (1), 0 on timeout, -1 on error or EOF. */
static int next_msg(client_t *c, evcast_event_t **m, int timeout_ms)
{
	char buf[65536];
	for (;;) {
		int rc = evcast_esl_parser_next(c->p, m);
		if (rc != 0)
			return rc > 0 ? 1 : -1;
		struct pollfd pfd = {c->fd, POLLIN, 0};
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return 0;
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		if (n <= 0 || evcast_esl_parser_feed(c->p, buf, (size_t)n) < 0)
			return -1;
	}
}

/* Sends cmd and waits for its command/reply; 0 when it says +OK. */
static int command(client_t *c, const char *cmd)
{
	evcast_event_t *m = NULL;
	if (send(c->fd, cmd, strlen(cmd), MSG_NOSIGNAL) != (ssize_t)strlen(cmd))
		return -1;
	for (int i = 0; i < 100; i++) {
		if (next_msg(c, &m, 5000) != 1)
			return -1;
		const char *ct = evcast_event_get_header(m, "Content-Type");
		const char *rt = evcast_event_get_header(m, "Reply-Text");
		bool reply = ct && strcasecmp(ct, "command/reply") == 0;
		bool ok = reply && rt && strncmp(rt, "+OK", 3) == 0;
		evcast_event_free(m);
		if (reply)
			return ok ? 0 : -1;
	}
	return -1;
}

static void receiver(int idx, const bench_opts_t *o, bench_result_t *res, void *ud)
{
	client_t c = {-1, NULL};
	struct sockaddr_un a;
	evcast_event_t *m = NULL;
	bench_lat_t lat;
	(void)ud;
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", o->socket);
	if ((c.fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 || connect(c.fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    evcast_esl_parser_new(EVCAST_ESL_REPLIES, 64 * 1024, 16 * 1024 * 1024, &c.p) < 0 ||
	    next_msg(&c, &m, 5000) != 1) {
		fprintf(stderr, "bench_fanout: client %d: cannot connect to %s\n", idx, o->socket);
		res->error = 1;
		goto out;
	}
	evcast_event_free(m);
	m = NULL;
	if (command(&c, "auth bench\n\n") < 0 || command(&c, "event plain ALL\n\n") < 0) {
		fprintf(stderr, "bench_fanout: client %d: auth or subscription refused\n", idx);
		res->error = 1;
		goto out;
	}
	bench_lat_init(&lat);
	bench_ready();
	uint64_t deadline = bench_now_ns() + (uint64_t)BENCH_DEADLINE_MS * 1000000u;
	while (res->received < o->count) {
		int rc = next_msg(&c, &m, 50);
		uint64_t now = bench_now_ns();
		if (rc < 0) {
			fprintf(stderr, "bench_fanout: client %d: connection lost\n", idx);
			res->error = 1;
			break;
		}
		if (rc == 1) {
			size_t blen = 0;
			const char *body = evcast_event_get_body(m, &blen);
			if (body && memmem(body, blen, MARK, strlen(MARK))) {
				if (!res->received)
					res->first_ns = now;
				res->received++;
				res->last_ns = now;
				const char *ts = memmem(body, blen, TS_HDR, strlen(TS_HDR));
				if (ts && o->rate)
					bench_lat_add(&lat, now - strtoull(ts + strlen(TS_HDR), NULL, 10));
			}
			evcast_event_free(m);
			m = NULL;
		}
		if (now > deadline || (res->received && now - res->last_ns > (uint64_t)BENCH_IDLE_MS * 1000000u))
			break;
	}
	bench_lat_finish(&lat, res);
out:
	evcast_event_free(m);
	evcast_esl_parser_free(c.p);
	if (c.fd >= 0)
		close(c.fd);
}

/* ----------------------------------------------------------------- sender */

/* The datagram of event seq (ts 0: no timestamp header); its length or an error. */
static int encode(uint64_t seq, uint64_t ts, size_t body_len, uint8_t *out, size_t cap)
{
	static char body[4096];
	char v[32];
	memset(body, 'b', sizeof(body));
	evcast_event_t *ev = evcast_event_new_named("CUSTOM", "bench::load");
	if (!ev)
		return EVCAST_ENOMEM;
	snprintf(v, sizeof(v), "%" PRIu64, seq);
	evcast_event_add_header(ev, "Bench-Seq", v);
	if (ts) {
		snprintf(v, sizeof(v), "%020" PRIu64, ts);
		evcast_event_add_header(ev, "Bench-Ts", v);
	}
	evcast_event_add_header(ev, "Multicast-Sender", "benchsrc");
	evcast_event_set_body(ev, body, body_len < sizeof(body) ? body_len : sizeof(body));
	int len = evcast_legacy_encode(ev, NULL, NULL, out, cap);
	evcast_event_free(ev);
	return len;
}

int main(int argc, char **argv)
{
	bench_opts_t o = {.count = 100000, .receivers = 1, .size = 1024, .group = "239.255.77.3",
			  .ifaddr = "127.0.0.1", .port = 47003, .label = "fanout"};
	bench_result_t res[BENCH_MAX_RECEIVERS];
	static uint8_t bufs[BATCH][8192];
	bench_parse_opts(argc, argv, &o, USAGE);
	if (!o.socket || o.size > 3000) {
		fprintf(stderr, "bench_fanout: --socket is required; --size at most 3000\n%s\n", USAGE);
		return 2;
	}
	/* body size so that the event text is about --size bytes */
	evcast_event_t *probe = evcast_event_new_named("CUSTOM", "bench::load");
	evcast_event_add_header(probe, "Bench-Seq", "100000");
	evcast_event_add_header(probe, "Bench-Ts", "00000000000000000000");
	evcast_event_add_header(probe, "Multicast-Sender", "benchsrc");
	evcast_event_set_body(probe, "x", 1);
	size_t plen = 0;
	evcast_free(evcast_event_to_plain(probe, &plen));
	evcast_event_free(probe);
	size_t body_len = o.size > plen ? o.size - plen + 1 : 1;

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

	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	int dlen = encode(0, 0, body_len, bufs[0], sizeof(bufs[0]));
	if (dlen < 0) {
		fprintf(stderr, "bench_fanout: encode: %s\n", evcast_strerror(dlen));
		return 1;
	}
	for (int i = 0; i < BATCH; i++) {
		memcpy(bufs[i], bufs[0], (size_t)dlen);
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = (size_t)dlen;
		memset(&mm[i].msg_hdr, 0, sizeof(mm[i].msg_hdr));
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_name = &to;
		mm[i].msg_hdr.msg_namelen = sizeof(to);
	}
	uint64_t sent = 0, t0 = bench_now_ns();
	uint64_t interval = o.rate ? 1000000000ull / o.rate : 0;
	while (sent < o.count && bench_now_ns() - t0 < (uint64_t)BENCH_DEADLINE_MS * 1000000u) {
		int n;
		if (interval) {
			uint64_t due = t0 + sent * interval, now = bench_now_ns();
			if (due > now)
				bench_sleep_ns(due - now);
			int l = encode(sent, bench_now_ns(), body_len, bufs[0], sizeof(bufs[0]));
			if (l < 0)
				break;
			iov[0].iov_len = (size_t)l;
			n = 1;
		} else {
			n = (int)(o.count - sent < BATCH ? o.count - sent : BATCH);
		}
		int r = sendmmsg(fd, mm, (unsigned)n, 0);
		if (r > 0)
			sent += (uint64_t)r;
	}
	double send_s = (double)(bench_now_ns() - t0) / 1e9;
	close(fd);
	int rc = bench_collect(&o, res);
	printf("  sender: %d-byte datagrams, event text ~%zu bytes\n", dlen, o.size);
	bench_report(&o, sent, send_s, (size_t)dlen, res);
	return rc < 0 ? 1 : 0;
}
