/*
 * bench_sublat.c -- one-way latency as an event-socket subscriber sees it:
 * the arrival time of each received event minus the Event-Date-Timestamp
 * the sending daemon stamped on it (as Orig-Event-Date-Timestamp), both on
 * this machine's wall clock.
 *
 * The C counterpart of bench_rawudp's paced receiver, so the daemon rows and
 * the raw-UDP row of bench/bench_v2.sh are measured by the same kind of
 * program (an interpreter as the measuring client adds its own tens of
 * microseconds). Connects to an evcastd control socket (Unix) or event
 * socket (TCP), authenticates, sends `event plain CUSTOM multicast::event`,
 * prints "ready", then takes one sample per event carrying the marker header
 * (--marker, default Orig-Evcast-Test-Seq) until --count samples or --timeout
 * seconds. Bounded: at most --count samples (<= BENCH_MAX_SAMPLES), one 4 MiB
 * read buffer. Percentiles by bench_util's bench_lat, as bench_rawudp's.
 * Output: one line of key=value (p50_us p90_us p99_us max_us n).
 * Usage: the message at the end of main (--socket PATH or --port P, --count N).
 */
#include "bench_util.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RBUF (4u << 20)

typedef struct sub {
	int fd;
	char buf[RBUF];
	size_t len;
	uint64_t last_read; /* wall clock of the latest read */
} sub_t;

static uint64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int dial(const char *path, const char *host, int port)
{
	int fd;
	if (path) {
		struct sockaddr_un un = {.sun_family = AF_UNIX};
		if (strlen(path) >= sizeof(un.sun_path) || (fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
			return -1;
		memcpy(un.sun_path, path, strlen(path) + 1);
		if (connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0)
			return close(fd), -1;
		return fd;
	}
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, host, &in.sin_addr) != 1 || (fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&in, sizeof(in)) < 0)
		return close(fd), -1;
	return fd;
}

/* Next complete message into head and body (pointers into s->buf, valid
 * until the next call); 1 ok, 0 deadline, -1 closed or error. *at: arrival time of
 * the read that completed it. */
static int next_msg(sub_t *s, uint64_t deadline, const char **head, size_t *hlen, const char **body,
		    size_t *blen, uint64_t *at, size_t *consumed)
{
	memmove(s->buf, s->buf + *consumed, s->len - *consumed);
	s->len -= *consumed;
	*consumed = 0;
	for (;;) {
		char *end = memmem(s->buf, s->len, "\n\n", 2), *cl;
		if (end) {
			size_t h = (size_t)(end - s->buf) + 2, b = 0;
			if ((cl = memmem(s->buf, h, "Content-Length: ", 16)))
				b = strtoul(cl + 16, NULL, 10);
			if (h + b > RBUF)
				return -1;
			if (h + b <= s->len) {
				*head = s->buf, *hlen = h, *body = s->buf + h, *blen = b;
				*at = s->last_read, *consumed = h + b;
				return 1;
			}
		}
		if (s->len == RBUF)
			return -1;
		uint64_t now = wall_us();
		if (now >= deadline)
			return 0;
		struct pollfd p = {.fd = s->fd, .events = POLLIN};
		int ms = (int)((deadline - now) / 1000u) + 1;
		if (poll(&p, 1, ms) < 0 && errno != EINTR)
			return -1;
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t r = read(s->fd, s->buf + s->len, RBUF - s->len);
		s->last_read = wall_us();
		if (r <= 0)
			return -1;
		s->len += (size_t)r;
	}
}

static void command(sub_t *s, const char *cmd, uint64_t deadline, size_t *consumed)
{
	const char *h, *b;
	size_t hl, bl;
	uint64_t at;
	if (write(s->fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd) ||
	    next_msg(s, deadline, &h, &hl, &b, &bl, &at, consumed) != 1 || memmem(h, hl, "-ERR", 4)) {
		fprintf(stderr, "bench_sublat: '%.*s' failed\n", (int)strcspn(cmd, "\n"), cmd);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	const char *path = NULL, *host = "127.0.0.1", *password = "ClueCon", *marker = "Orig-Evcast-Test-Seq";
	int port = 0, timeout_s = 30;
	long count = 0;
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			goto usage;
		if (!strcmp(a, "--socket")) path = v;
		else if (!strcmp(a, "--host")) host = v;
		else if (!strcmp(a, "--port")) port = atoi(v);
		else if (!strcmp(a, "--password")) password = v;
		else if (!strcmp(a, "--count")) count = atol(v);
		else if (!strcmp(a, "--timeout")) timeout_s = atoi(v);
		else if (!strcmp(a, "--marker")) marker = v;
		else goto usage;
	}
	if (count <= 0 || count > BENCH_MAX_SAMPLES || (!path && port <= 0) || timeout_s <= 0)
		goto usage;

	static sub_t s;
	size_t consumed = 0, hl, bl;
	const char *h, *b;
	uint64_t at, deadline = wall_us() + 10000000u;
	bench_lat_t lat;
	bench_result_t res = {0};
	char cmd[512], pat[160], *ts;
	if ((s.fd = dial(path, host, port)) < 0) {
		fprintf(stderr, "bench_sublat: connect %s: %s\n", path ? path : host, strerror(errno));
		return 1;
	}
	if (next_msg(&s, deadline, &h, &hl, &b, &bl, &at, &consumed) != 1) { /* auth/request */
		fprintf(stderr, "bench_sublat: no auth/request\n");
		return 1;
	}
	snprintf(cmd, sizeof(cmd), "auth %s\n\n", password);
	command(&s, cmd, deadline, &consumed);
	command(&s, "event plain CUSTOM multicast::event\n\n", deadline, &consumed);
	bench_lat_init(&lat);
	snprintf(pat, sizeof(pat), "\n%s: ", marker);
	printf("ready\n");
	fflush(stdout);

	deadline = wall_us() + (uint64_t)timeout_s * 1000000u;
	while (lat.n < (size_t)count && next_msg(&s, deadline, &h, &hl, &b, &bl, &at, &consumed) == 1) {
		if (!memmem(b, bl, pat, strlen(pat)) ||
		    !(ts = memmem(b, bl, "\nOrig-Event-Date-Timestamp: ", 28)))
			continue;
		uint64_t sent = strtoull(ts + 28, NULL, 10);
		bench_lat_add(&lat, (at > sent ? at - sent : 0) * 1000u);
	}
	bench_lat_finish(&lat, &res);
	printf("p50_us=%llu p90_us=%llu p99_us=%llu max_us=%llu n=%llu\n", (unsigned long long)res.p50_ns / 1000,
	       (unsigned long long)res.p90_ns / 1000, (unsigned long long)res.p99_ns / 1000,
	       (unsigned long long)res.max_ns / 1000, (unsigned long long)res.nlat);
	close(s.fd);
	return 0;
usage:
	fprintf(stderr, "usage: bench_sublat (--socket PATH | --port P [--host IP]) --count N [--password PW]\n"
			"                    [--timeout S] [--marker HEADER]\n");
	return 2;
}
