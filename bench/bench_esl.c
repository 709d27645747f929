/*
 * bench_esl.c -- event-socket fan-out benchmark: events/s that evcastd
 * delivers to N `event json ALL` subscribers, and the daemon's CPU per
 * delivered event.
 *
 * One process, one poll loop, plain sockets (no evcast library: it measures
 * the daemon from outside, as any ESL client sees it). N subscriber
 * connections authenticate and send `event json ALL` (or --format); one
 * publisher connection pipelines `sendevent CUSTOM` (Event-Subclass
 * bench::esl, a few headers, --body bytes of body) keeping at most --window
 * replies outstanding. The clock runs from the first sendevent to the last
 * bench::esl event at the last subscriber (or --timeout seconds without
 * progress). The daemon's CPU comes from /proc/PID/stat (utime + stime)
 * before and after. Bounded: --count events, --timeout. Output: one line of
 * key=value. Usage: bench_esl --port P --password PW --pid PID [--host IP]
 * [--subscribers N] [--count M] [--body BYTES] [--window W] [--format json]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXSUB 64
#define RBUF (4u << 20)

typedef struct conn {
	int fd;
	char *buf;
	size_t len;
	uint64_t events, replies, other;
	bool ready; /* subscribed (subscriber) or authenticated (publisher) */
} conn_t;

static const char *host = "127.0.0.1", *password = "ClueCon", *format = "json";
static int port = 8021, nsub = 1, window = 512, body_bytes = 256, timeout_s = 20;
static long count = 200000, daemon_pid;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double proc_cpu_s(long pid)
{
	char path[64], line[2048], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	if (!(p = strrchr(line, ')')))
		return -1;
	/* after ") ": state(3) ... utime is field 14, stime 15 */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int dial(void)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in6);
	} else {
		fprintf(stderr, "bench_esl: bad host %s\n", host);
		exit(2);
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM, 0)) < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		fprintf(stderr, "bench_esl: connect %s:%d: %s\n", host, port, strerror(errno));
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "bench_esl: write: %s\n", strerror(errno));
			exit(1);
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Consumes the complete messages in c->buf; counts replies and bench events. */
static void parse(conn_t *c)
{
	size_t off = 0;
	for (;;) {
		char *start = c->buf + off, *end = memmem(start, c->len - off, "\n\n", 2), *cl;
		size_t head, blen = 0;
		if (!end)
			break;
		head = (size_t)(end - start) + 2;
		cl = memmem(start, head, "Content-Length: ", 16);
		if (cl)
			blen = strtoul(cl + 16, NULL, 10);
		if (off + head + blen > c->len)
			break;
		if (memmem(start, head, "Content-Type: text/event-", 25)) {
			if (memmem(start + head, blen, "bench::esl", 10))
				c->events++;
			else
				c->other++;
		} else if (memmem(start, head, "Content-Type: command/reply", 27)) {
			if (memmem(start, head, "Reply-Text: -ERR", 16)) {
				fprintf(stderr, "bench_esl: %.*s\n", (int)head, start);
				exit(1);
			}
			c->replies++;
		}
		off += head + blen;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
}

static bool read_some(conn_t *c)
{
	ssize_t n = read(c->fd, c->buf + c->len, RBUF - c->len);
	if (n == 0) {
		fprintf(stderr, "bench_esl: the daemon closed a connection\n");
		exit(1);
	}
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	c->len += (size_t)n;
	parse(c);
	return true;
}

int main(int argc, char **argv)
{
	conn_t subs[MAXSUB], pub;
	struct pollfd pfd[MAXSUB + 1];
	char cmd[256], *ev, *batch;
	size_t evlen, bcap;
	long sent = 0;
	double t0, t_last = 0, last_progress, cpu0, cpu1;
	uint64_t total = 0, prev_total = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			fprintf(stderr, "bench_esl: %s needs a value\n", a);
			return 2;
		}
		if (!strcmp(a, "--host")) host = v;
		else if (!strcmp(a, "--port")) port = atoi(v);
		else if (!strcmp(a, "--password")) password = v;
		else if (!strcmp(a, "--pid")) daemon_pid = atol(v);
		else if (!strcmp(a, "--subscribers")) nsub = atoi(v);
		else if (!strcmp(a, "--count")) count = atol(v);
		else if (!strcmp(a, "--body")) body_bytes = atoi(v);
		else if (!strcmp(a, "--window")) window = atoi(v);
		else if (!strcmp(a, "--timeout")) timeout_s = atoi(v);
		else if (!strcmp(a, "--format")) format = v;
		else {
			fprintf(stderr, "bench_esl: unknown option %s\n", a);
			return 2;
		}
		i++;
	}
	if (nsub < 1 || nsub > MAXSUB || count < 1 || window < 1 || body_bytes < 0 || body_bytes > 65536 || !daemon_pid) {
		fprintf(stderr, "usage: bench_esl --pid DAEMON_PID [--port P] [--password PW] [--subscribers 1-%d] "
				"[--count N] [--body BYTES] [--window W] [--format json|plain|xml]\n", MAXSUB);
		return 2;
	}
	/* connect and subscribe */
	for (int i = 0; i <= nsub; i++) {
		conn_t *c = i < nsub ? &subs[i] : &pub;
		memset(c, 0, sizeof(*c));
		c->fd = dial();
		if (!(c->buf = malloc(RBUF)))
			return 1;
		if (i < nsub)
			snprintf(cmd, sizeof(cmd), "auth %s\n\nevent %s ALL\n\n", password, format);
		else
			snprintf(cmd, sizeof(cmd), "auth %s\n\n", password);
		write_all(c->fd, cmd, strlen(cmd));
		while (c->replies < (i < nsub ? 2u : 1u))
			read_some(c);
		c->replies = 0;
	}
	/* one sendevent, repeated */
	ev = malloc((size_t)body_bytes + 512);
	batch = malloc(bcap = ((size_t)body_bytes + 512) * 64);
	if (!ev || !batch)
		return 1;
	evlen = (size_t)sprintf(ev,
				"sendevent CUSTOM\nEvent-Subclass: bench::esl\nX-Bench-Caller: 1000\nX-Bench-Callee: "
				"2000\nX-Bench-Note: fan-out benchmark\nContent-Length: %d\n\n",
				body_bytes);
	memset(ev + evlen, 'b', (size_t)body_bytes);
	evlen += (size_t)body_bytes;
	cpu0 = proc_cpu_s(daemon_pid);
	t0 = last_progress = now_s();
	for (;;) {
		int np = 0, burst;
		double t;
		/* publish while the window allows */
		burst = (int)((long)pub.replies + window - sent);
		if (burst > 64)
			burst = 64;
		if (burst > count - sent)
			burst = (int)(count - sent);
		if (burst > 0) {
			size_t bl = 0;
			for (int k = 0; k < burst; k++) {
				memcpy(batch + bl, ev, evlen);
				bl += evlen;
			}
			write_all(pub.fd, batch, bl);
			sent += burst;
		}
		for (int i = 0; i < nsub; i++)
			pfd[np++] = (struct pollfd){.fd = subs[i].fd, .events = POLLIN};
		pfd[np++] = (struct pollfd){.fd = pub.fd, .events = POLLIN};
		if (poll(pfd, (nfds_t)np, 100) < 0 && errno != EINTR)
			return 1;
		for (int i = 0; i < np; i++)
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				read_some(i < nsub ? &subs[i] : &pub);
		total = 0;
		for (int i = 0; i < nsub; i++)
			total += subs[i].events;
		t = now_s();
		if (total != prev_total) {
			prev_total = total;
			last_progress = t_last = t;
		}
		if (total >= (uint64_t)count * (uint64_t)nsub && (long)pub.replies >= count)
			break;
		if (t - last_progress > timeout_s)
			break;
	}
	cpu1 = proc_cpu_s(daemon_pid);
	{
		double el = t_last - t0, cpu = cpu1 - cpu0;
		uint64_t want = (uint64_t)count * (uint64_t)nsub;
		printf("subscribers=%d format=%s count=%ld body=%d delivered=%llu lost=%llu seconds=%.3f "
		       "events_per_s=%.0f published_per_s=%.0f daemon_cpu_s=%.2f cpu_us_per_event=%.3f\n",
		       nsub, format, count, body_bytes, (unsigned long long)total,
		       (unsigned long long)(want > total ? want - total : 0), el, el > 0 ? (double)total / el : 0,
		       el > 0 ? (double)pub.replies / el : 0, cpu, total ? cpu * 1e6 / (double)total : 0);
	}
	return 0;
}
