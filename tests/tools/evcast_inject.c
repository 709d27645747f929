/*
 * evcast_inject.c -- test tool: sends hostile wire-protocol-v2 datagrams to a
 * v2 node, for tests/integration/it_v2_inject.sh.
 *
 *   evcast_inject --group ADDR --port P --ifaddr ADDR --key ID:SECRET CASE
 * Builds datagrams with the library's internal v2 API (src/lib/v2.h), as a
 * fresh sender (random node id, epoch = now) per run, and sends them to the
 * multicast group (TTL 1, only 239.255.0.0/16 or 127.0.0.0/8 accepted).
 * Each CASE sends what its line in `--list` says and prints the reason the
 * receiver must count it under ("expect=REASON", or "expect=delivered").
 * Exit: 0 sent, 1 failure, 2 usage. Test-only: never installed.
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

typedef struct inj {
	int fd;
	struct sockaddr_in to;
	evc__v2_keyring_t *kr; /* the cluster's key */
	uint8_t node_id[EVC_V2_NODE_ID_LEN];
	uint64_t epoch;
	const char *name; /* case name, put in the event */
} inj_t;

typedef struct dgram {
	uint8_t b[2048];
	size_t len;
} dgram_t;

static const struct {
	const char *name, *expect, *what;
} cases[] = {
	{"valid", "delivered", "one valid sealed DATA datagram (control case)"},
	{"tamper-header", "auth", "valid datagram, one bit of the header (timestamp) flipped"},
	{"tamper-ciphertext", "auth", "valid datagram, one bit of the ciphertext flipped"},
	{"tamper-tag", "auth", "valid datagram, one bit of the Poly1305 tag flipped"},
	{"replay-data", "duplicate", "a valid DATA datagram sent, then the same bytes again"},
	{"replay-control", "replay", "a valid ANNOUNCE sent, then the same bytes again"},
	{"replay-old-epoch", "old-epoch", "valid DATA of epoch E, then a valid DATA of an earlier epoch"},
	{"replay-stale", "skew", "a valid datagram stamped one hour ago (a capture replayed late)"},
	{"truncated-header", "short", "the first 40 bytes of a valid datagram"},
	{"truncated-payload", "length", "a valid datagram less its last 10 bytes"},
	{"forged-unknown-key", "nokey", "sealed with key id 99, which the node does not have"},
	{"forged-wrong-key", "auth", "sealed with a wrong secret under the node's key id"},
	{"plaintext", "plain", "an unsealed datagram to a node that has keys"},
	{"bad-version", "version", "valid datagram with version byte 3"},
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void die(const char *what)
{
	fprintf(stderr, "evcast_inject: %s\n", what);
	exit(1);
}

/* A DATA datagram: one event naming the case, sealed with kr (NULL: plain). */
static void make_data(const inj_t *in, const evc__v2_keyring_t *kr, uint64_t epoch, uint64_t seq, uint64_t ts,
		      dgram_t *d)
{
	char text[256];
	uint8_t batch[512];
	evc__v2_batch_t b;
	int n = snprintf(text, sizeof(text),
			 "Event-Name: CUSTOM\nEvent-Subclass: evcast%%3A%%3Ainject\nInject-Case: %s\n"
			 "FreeSWITCH-Switchname: injector\n\n",
			 in->name);
	evc__v2_batch_init(&b, batch, sizeof(batch));
	if (evc__v2_batch_add(&b, text, (size_t)n) != 0)
		die("batch");
	evc__v2_hdr_t h = {.type = EVC_V2_DATA, .epoch = epoch, .seq = seq, .ts_us = ts, .frag_count = 1,
			   .msg_len = (uint32_t)b.len};
	memcpy(h.node_id, in->node_id, sizeof(h.node_id));
	int len = evc__v2_seal(kr, &h, batch, b.len, d->b, sizeof(d->b));
	if (len < 0)
		die("seal");
	d->len = (size_t)len;
}

static void make_announce(const inj_t *in, uint64_t ctl, uint64_t last, dgram_t *d)
{
	uint8_t pt[EVC_V2_ANNOUNCE_LEN];
	evc__v2_announce_t a = {.last_seq = last, .oldest_seq = last};
	evc__v2_announce_encode(&a, pt);
	evc__v2_hdr_t h = {.type = EVC_V2_ANNOUNCE, .epoch = in->epoch, .seq = EVC_V2_CTL_BIT | ctl,
			   .ts_us = now_us(), .frag_count = 1, .msg_len = sizeof(pt)};
	memcpy(h.node_id, in->node_id, sizeof(h.node_id));
	int len = evc__v2_seal(in->kr, &h, pt, sizeof(pt), d->b, sizeof(d->b));
	if (len < 0)
		die("seal announce");
	d->len = (size_t)len;
}

static void send_dgram(const inj_t *in, const uint8_t *b, size_t len)
{
	if (sendto(in->fd, b, len, 0, (const struct sockaddr *)&in->to, sizeof(in->to)) != (ssize_t)len)
		die("sendto failed");
	usleep(20000); /* keep the order on the wire */
}

static evc__v2_keyring_t *keyring_of(const char *spec)
{
	evc__v2_keyring_t *kr;
	char err[200] = "";
	if (evc__v2_keyring_new(&kr) != 0 || evc__v2_keyring_add(kr, spec, err, sizeof(err)) != 0) {
		fprintf(stderr, "evcast_inject: key \"%s\": %s\n", spec, err);
		exit(2);
	}
	return kr;
}

static void run_case(inj_t *in, const char *name)
{
	dgram_t d, e;
	uint64_t t = now_us();
	in->name = name;
	make_data(in, in->kr, in->epoch, 1, t, &d);
	if (strcmp(name, "valid") == 0) {
		send_dgram(in, d.b, d.len);
	} else if (strcmp(name, "tamper-header") == 0) {
		d.b[51] ^= 0x01; /* timestamp, lowest bit: header still well-formed */
		send_dgram(in, d.b, d.len);
	} else if (strcmp(name, "tamper-ciphertext") == 0) {
		d.b[EVC_V2_HDR_LEN + 5] ^= 0x10;
		send_dgram(in, d.b, d.len);
	} else if (strcmp(name, "tamper-tag") == 0) {
		d.b[d.len - 1] ^= 0x80;
		send_dgram(in, d.b, d.len);
	} else if (strcmp(name, "replay-data") == 0) {
		send_dgram(in, d.b, d.len);
		usleep(100000);
		send_dgram(in, d.b, d.len); /* the captured datagram, again */
	} else if (strcmp(name, "replay-control") == 0) {
		send_dgram(in, d.b, d.len);
		make_announce(in, 1, 1, &e);
		send_dgram(in, e.b, e.len);
		usleep(100000);
		send_dgram(in, e.b, e.len);
	} else if (strcmp(name, "replay-old-epoch") == 0) {
		send_dgram(in, d.b, d.len);
		make_data(in, in->kr, in->epoch - 1000000u, 1, t, &e); /* a datagram of the previous boot */
		usleep(100000);
		send_dgram(in, e.b, e.len);
	} else if (strcmp(name, "replay-stale") == 0) {
		make_data(in, in->kr, in->epoch - 3600000000u, 1, t - 3600000000u, &e);
		send_dgram(in, e.b, e.len);
	} else if (strcmp(name, "truncated-header") == 0) {
		send_dgram(in, d.b, 40);
	} else if (strcmp(name, "truncated-payload") == 0) {
		send_dgram(in, d.b, d.len - 10);
	} else if (strcmp(name, "forged-unknown-key") == 0) {
		uint8_t master[EVC_V2_KEY_LEN];
		evc__v2_keyring_t *kr;
		randombytes_buf(master, sizeof(master));
		if (evc__v2_keyring_new(&kr) != 0 || evc__v2_keyring_add_master(kr, 99, master) != 0)
			die("keyring");
		make_data(in, kr, in->epoch, 1, t, &e);
		evc__v2_keyring_free(kr);
		send_dgram(in, e.b, e.len);
	} else if (strcmp(name, "forged-wrong-key") == 0) {
		uint8_t master[EVC_V2_KEY_LEN];
		evc__v2_keyring_t *kr;
		randombytes_buf(master, sizeof(master));
		if (evc__v2_keyring_new(&kr) != 0 ||
		    evc__v2_keyring_add_master(kr, evc__v2_keyring_primary(in->kr), master) != 0)
			die("keyring");
		make_data(in, kr, in->epoch, 1, t, &e);
		evc__v2_keyring_free(kr);
		send_dgram(in, e.b, e.len);
	} else if (strcmp(name, "plaintext") == 0) {
		make_data(in, NULL, in->epoch, 1, t, &e);
		send_dgram(in, e.b, e.len);
	} else if (strcmp(name, "bad-version") == 0) {
		d.b[4] = 3;
		send_dgram(in, d.b, d.len);
	} else {
		fprintf(stderr, "evcast_inject: unknown case \"%s\" (--list)\n", name);
		exit(2);
	}
}

static const char usage[] =
	"usage: evcast_inject --group ADDR --port P --ifaddr ADDR --key ID:SECRET CASE\n"
	"       evcast_inject --list\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"group", required_argument, NULL, 'g'}, {"port", required_argument, NULL, 'p'},
		{"ifaddr", required_argument, NULL, 'i'}, {"key", required_argument, NULL, 'k'},
		{"list", no_argument, NULL, 'l'},         {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *group = NULL, *ifaddr = "127.0.0.1", *key = NULL;
	int port = 0, opt;
	inj_t in;
	memset(&in, 0, sizeof(in));
	while ((opt = getopt_long(argc, argv, "g:p:i:k:lh", opts, NULL)) != -1) {
		switch (opt) {
		case 'g': group = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'i': ifaddr = optarg; break;
		case 'k': key = optarg; break;
		case 'l':
			for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
				printf("%-20s expect=%-10s %s\n", cases[i].name, cases[i].expect, cases[i].what);
			return 0;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!group || port <= 0 || port > 65535 || !key || optind + 1 != argc) {
		fputs(usage, stderr);
		return 2;
	}
	const char *name = argv[optind], *expect = NULL;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (strcmp(cases[i].name, name) == 0)
			expect = cases[i].expect;
	if (!expect) {
		fprintf(stderr, "evcast_inject: unknown case \"%s\" (--list)\n", name);
		return 2;
	}
	in.to.sin_family = AF_INET;
	in.to.sin_port = htons((uint16_t)port);
	struct in_addr ifa;
	if (inet_pton(AF_INET, group, &in.to.sin_addr) != 1 || inet_pton(AF_INET, ifaddr, &ifa) != 1) {
		fputs("evcast_inject: --group and --ifaddr take IPv4 addresses\n", stderr);
		return 2;
	}
	uint32_t g = ntohl(in.to.sin_addr.s_addr);
	if ((g >> 16) != 0xEFFFu && (g >> 24) != 127u) {
		fprintf(stderr, "evcast_inject: refusing destination %s (tests use 239.255.x.y or loopback)\n", group);
		return 2;
	}
	if (sodium_init() < 0)
		die("sodium_init");
	in.kr = keyring_of(key);
	randombytes_buf(in.node_id, sizeof(in.node_id));
	in.node_id[0] |= 1;
	in.epoch = now_us() - 1000u;
	unsigned char ttl = 1, loop = 1;
	if ((in.fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0 ||
	    setsockopt(in.fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) < 0 ||
	    setsockopt(in.fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) < 0 ||
	    setsockopt(in.fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof(ifa)) < 0)
		die("socket setup failed");
	run_case(&in, name);
	printf("case=%s expect=%s\n", name, expect);
	close(in.fd);
	evc__v2_keyring_free(in.kr);
	return 0;
}
