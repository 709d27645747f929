/*
 * evcast_forge_hb.c -- test tool: forged HEARTBEATs under names an attacker
 * chooses, for tests/integration/it_hostile_names.sh.
 *
 *   evcast_forge_hb --group ADDR --port P --ifaddr ADDR --format legacy|v2
 *                   [--count N] [--per-datagram K] [--rate D] NAME
 * Sends N HEARTBEAT events (default 1) whose sender name is NAME (N = 1) or
 * NAME-<i> with i = 0..N-1 zero-padded to 5 digits: in the legacy format a
 * plaintext mod_event_multicast datagram per event, the name in
 * Multicast-Sender; in v2 plaintext DATA datagrams of one fresh sender (random
 * node id, sequence 1, 2, ... in order), K events per datagram (default 8),
 * the name in FreeSWITCH-Switchname. NAME is taken as bytes (newlines and ESC
 * included: the event's URL encoding carries them as %0A, %1B), as a hostile
 * node would send them. Bounded: N <= 10000, at most D datagrams a second
 * (default 2000); only 239.255.0.0/16 or 127.0.0.0/8, TTL 1.
 * Prints "sent=N datagrams=M". Exit: 0 sent, 1 failure, 2 usage.
 * Test-only: never installed.
 */
#include "v2.h"
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FORGE_MAX_COUNT 10000
#define FORGE_MAX_PER_DGRAM 16

typedef struct forge {
	int fd;
	struct sockaddr_in to;
	bool v2;
	unsigned rate; /* datagrams a second */
	uint8_t node_id[EVC_V2_NODE_ID_LEN];
	uint64_t epoch, seq;
	unsigned long datagrams;
} forge_t;

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void die(const char *what)
{
	fprintf(stderr, "evcast_forge_hb: %s\n", what);
	exit(1);
}

static void send_dgram(forge_t *f, const uint8_t *b, size_t len)
{
	if (sendto(f->fd, b, len, 0, (const struct sockaddr *)&f->to, sizeof(f->to)) != (ssize_t)len)
		die("sendto failed");
	f->datagrams++;
	usleep(1000000u / f->rate); /* the bound on the rate */
}

/* One HEARTBEAT named as FreeSWITCH names it, sent by `name`. */
static evcast_event_t *heartbeat(const char *name, bool v2)
{
	evcast_event_t *ev = evcast_event_new_named("HEARTBEAT", NULL);
	char ts[32];
	snprintf(ts, sizeof(ts), "%llu", (unsigned long long)now_us());
	if (!ev || evcast_event_add_header(ev, "Event-Date-Timestamp", ts) != 0 ||
	    evcast_event_add_header(ev, "Event-Info", "System Ready") != 0 ||
	    (v2 && evcast_event_add_header(ev, "FreeSWITCH-Switchname", name) != 0) ||
	    (!v2 && evcast_event_add_header(ev, "Multicast-Sender", name) != 0))
		die("event");
	return ev;
}

static void send_legacy(forge_t *f, const char *name)
{
	uint8_t buf[2048];
	evcast_event_t *ev = heartbeat(name, false);
	int len = evcast_legacy_encode(ev, NULL, NULL, buf, sizeof(buf));
	evcast_event_free(ev);
	if (len < 0)
		die("legacy encode");
	send_dgram(f, buf, (size_t)len);
}

/* v2: names[0..k) in one plaintext DATA datagram. */
static void send_v2(forge_t *f, char names[][256], size_t k)
{
	uint8_t batch[8192], out[9000];
	char text[1024];
	evc__v2_batch_t b;
	evc__v2_batch_init(&b, batch, sizeof(batch));
	for (size_t i = 0; i < k; i++) {
		evcast_event_t *ev = heartbeat(names[i], true);
		int n = evcast_event_write_plain(ev, text, sizeof(text));
		evcast_event_free(ev);
		if (n < 0 || evc__v2_batch_add(&b, text, (size_t)n) != 0)
			die("v2 batch");
	}
	evc__v2_hdr_t h = {.type = EVC_V2_DATA, .epoch = f->epoch, .seq = ++f->seq, .ts_us = now_us(),
			   .frag_count = 1, .msg_len = (uint32_t)b.len};
	memcpy(h.node_id, f->node_id, sizeof(h.node_id));
	int len = evc__v2_seal(NULL, &h, batch, b.len, out, sizeof(out));
	if (len < 0)
		die("v2 seal");
	send_dgram(f, out, (size_t)len);
}

static const char usage[] = "usage: evcast_forge_hb --group ADDR --port P --ifaddr ADDR --format legacy|v2\n"
			    "                       [--count N] [--per-datagram K] [--rate D] NAME\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"group", required_argument, NULL, 'g'},  {"port", required_argument, NULL, 'p'},
		{"ifaddr", required_argument, NULL, 'i'}, {"format", required_argument, NULL, 'f'},
		{"count", required_argument, NULL, 'n'},  {"per-datagram", required_argument, NULL, 'k'},
		{"rate", required_argument, NULL, 'r'},   {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *group = NULL, *ifaddr = "127.0.0.1", *format = NULL;
	long port = 0, count = 1, per = 8, rate = 2000;
	int opt;
	forge_t f;
	memset(&f, 0, sizeof(f));
	while ((opt = getopt_long(argc, argv, "g:p:i:f:n:k:r:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'g': group = optarg; break;
		case 'p': port = strtol(optarg, NULL, 10); break;
		case 'i': ifaddr = optarg; break;
		case 'f': format = optarg; break;
		case 'n': count = strtol(optarg, NULL, 10); break;
		case 'k': per = strtol(optarg, NULL, 10); break;
		case 'r': rate = strtol(optarg, NULL, 10); break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!group || port <= 0 || port > 65535 || !format || optind + 1 != argc || count < 1 ||
	    count > FORGE_MAX_COUNT || per < 1 || per > FORGE_MAX_PER_DGRAM || rate < 1 || rate > 100000 ||
	    (strcmp(format, "legacy") != 0 && strcmp(format, "v2") != 0)) {
		fputs(usage, stderr);
		return 2;
	}
	const char *name = argv[optind];
	if (strlen(name) > 200) {
		fputs("evcast_forge_hb: NAME longer than 200 bytes\n", stderr);
		return 2;
	}
	f.v2 = strcmp(format, "v2") == 0;
	f.rate = (unsigned)rate;
	f.to.sin_family = AF_INET;
	f.to.sin_port = htons((uint16_t)port);
	struct in_addr ifa;
	if (inet_pton(AF_INET, group, &f.to.sin_addr) != 1 || inet_pton(AF_INET, ifaddr, &ifa) != 1) {
		fputs("evcast_forge_hb: --group and --ifaddr take IPv4 addresses\n", stderr);
		return 2;
	}
	uint32_t g = ntohl(f.to.sin_addr.s_addr);
	if ((g >> 16) != 0xEFFFu && (g >> 24) != 127u) {
		fprintf(stderr, "evcast_forge_hb: refusing destination %s (tests use 239.255.x.y or loopback)\n", group);
		return 2;
	}
	if (sodium_init() < 0)
		die("sodium_init");
	randombytes_buf(f.node_id, sizeof(f.node_id));
	f.node_id[0] |= 1;
	f.epoch = now_us() - 1000u;
	unsigned char ttl = 1, loop = 1;
	if ((f.fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0 ||
	    setsockopt(f.fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) < 0 ||
	    setsockopt(f.fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) < 0 ||
	    setsockopt(f.fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof(ifa)) < 0)
		die("socket setup failed");
	static char names[FORGE_MAX_PER_DGRAM][256];
	size_t k = 0;
	for (long i = 0; i < count; i++) {
		if (count == 1)
			snprintf(names[k], sizeof(names[k]), "%s", name);
		else
			snprintf(names[k], sizeof(names[k]), "%s-%05ld", name, i);
		if (!f.v2) {
			send_legacy(&f, names[k]);
			continue;
		}
		if (++k == (size_t)per || i + 1 == count) {
			send_v2(&f, names, k);
			k = 0;
		}
	}
	printf("sent=%ld datagrams=%lu\n", count, f.datagrams);
	close(f.fd);
	return 0;
}
