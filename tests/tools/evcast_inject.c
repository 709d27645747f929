/*
 * evcast_inject.c -- test tool: sends hostile wire-protocol-v2 datagrams to a
 * v2 node, for tests/integration/it_v2_inject.sh.
 *
 *   evcast_inject --group ADDR --port P --ifaddr ADDR [--key ID:SECRET] CASE
 * Builds datagrams with the library's internal v2 API (src/lib/v2.h), as a
 * fresh sender (random node id, epoch = now) per run, and sends them to the
 * multicast group (TTL 1, only 239.255.0.0/16 or 127.0.0.0/8 accepted).
 * Each CASE sends what its line in `--list` says and prints the reason the
 * receiver must count it under ("expect=REASON", or "expect=delivered").
 * Without --key everything is sent in plaintext v2.
 * The attack cases of tests/integration/it_v2_hostile.sh (section "attacks")
 * are bounded in count (options --senders, --count, --naks): hold-flood,
 * gap-senders, nak-flood (whose NAKs go to the address of the node it heard
 * on the group, only when that is in 10.250.0.0/24 or 127.0.0.0/8); each
 * prints what it sent ("bytes_sent=N datagrams=M").
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
	evc__v2_keyring_t *kr; /* the cluster's key; NULL: plaintext */
	uint8_t node_id[EVC_V2_NODE_ID_LEN];
	uint64_t epoch;
	const char *name; /* case name, put in the event */
	/* attacks */
	struct in_addr ifa;
	unsigned senders, count, naks, span, pause_us, listen_ms;
	size_t size;
	bool heartbeat, progress;
	uint64_t bytes_sent, datagrams;
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

/* ---------------------------------------------------------------- attacks */

static const struct {
	const char *name, *what;
} attacks[] = {
	{"hold-flood", "--senders forged senders each open a gap, then send --count DATA of --size bytes to be held "
		       "(--heartbeat: each first sends a HEARTBEAT, to be known)"},
	{"gap-senders", "--senders forged senders, 2 DATA each: seq 5 and 7, nothing but gaps (--progress: 5 and 6, "
			"in-order progress after a gap)"},
	{"nak-flood", "hears the first v2 sender on the group until its burst ends, sends one forged HEARTBEAT "
		      "(unless --no-heartbeat), then --naks NAKs of 64 ranges over its last --span seqs to it"},
};

static void attack_send(inj_t *in, const struct sockaddr_in *to, const uint8_t *b, size_t len)
{
	if (sendto(in->fd, b, len, 0, (const struct sockaddr *)to, sizeof(*to)) != (ssize_t)len)
		die("sendto failed");
	in->bytes_sent += len;
	in->datagrams++;
	if (in->pause_us)
		usleep(in->pause_us);
}

/* A DATA datagram of one event (text) as sender id/epoch, into out. */
static size_t attack_data(const inj_t *in, const uint8_t id[EVC_V2_NODE_ID_LEN], uint64_t epoch, uint64_t seq,
			  const char *text, size_t tlen, uint8_t *batch, uint8_t *out)
{
	evc__v2_batch_t b;
	evc__v2_batch_init(&b, batch, EVC_V2_MAX_DGRAM);
	if (evc__v2_batch_add(&b, text, tlen) != 0)
		die("batch");
	evc__v2_hdr_t h = {.type = EVC_V2_DATA, .epoch = epoch, .seq = seq, .ts_us = now_us(), .frag_count = 1,
			   .msg_len = (uint32_t)b.len};
	memcpy(h.node_id, id, EVC_V2_NODE_ID_LEN);
	int len = evc__v2_seal(in->kr, &h, batch, b.len, out, EVC_V2_MAX_DGRAM);
	if (len < 0)
		die("seal (is --size too large?)");
	return (size_t)len;
}

static size_t heartbeat_text(char *t, size_t cap, unsigned i)
{
	return (size_t)snprintf(t, cap,
				"Event-Name: HEARTBEAT\nCore-UUID: forged-%u\nFreeSWITCH-Hostname: forged\n"
				"FreeSWITCH-Switchname: forged-%u\nEvent-Info: System Ready\nUp-Time: 0 years\n\n",
				i, i);
}

typedef struct forged {
	uint8_t id[EVC_V2_NODE_ID_LEN];
	uint64_t epoch;
} forged_t;

static void attack_senders(inj_t *in, bool flood)
{
	forged_t *f = calloc(in->senders, sizeof(*f));
	uint8_t *batch = malloc(EVC_V2_MAX_DGRAM), *dg = malloc(EVC_V2_MAX_DGRAM);
	char *text = malloc(in->size + 256);
	if (!f || !batch || !dg || !text)
		die("out of memory");
	for (unsigned i = 0; i < in->senders; i++) {
		randombytes_buf(f[i].id, sizeof(f[i].id));
		f[i].id[0] |= 1;
		f[i].epoch = now_us() - 1000u; /* started after the receiver: its first seq opens a gap */
	}
	size_t hl = heartbeat_text(text, in->size + 256, 0);
	if (flood && in->heartbeat)
		for (unsigned i = 0; i < in->senders; i++) {
			hl = heartbeat_text(text, in->size + 256, i);
			attack_send(in, &in->to, dg, attack_data(in, f[i].id, f[i].epoch, 1, text, hl, batch, dg));
		}
	if (flood) {
		/* one event of about --size bytes per datagram, seq 2 (3 after a HEARTBEAT) left out */
		int n = snprintf(text, 256, "Event-Name: CUSTOM\nEvent-Subclass: evcast%%3A%%3Ainject\n"
					    "Inject-Case: hold-flood\nContent-Length: %zu\n\n", in->size);
		memset(text + n, 'x', in->size);
		uint64_t first = in->heartbeat ? 3 : 2;
		for (unsigned k = 0; k < in->count; k++)
			for (unsigned i = 0; i < in->senders; i++)
				attack_send(in, &in->to, dg,
					    attack_data(in, f[i].id, f[i].epoch, first + k, text, (size_t)n + in->size, batch,
							dg));
	} else {
		in->name = "gap-senders";
		int n = snprintf(text, 256, "Event-Name: CUSTOM\nEvent-Subclass: evcast%%3A%%3Ainject\n"
					    "Inject-Case: gap-senders\n\n");
		for (unsigned i = 0; i < in->senders; i++) {
			attack_send(in, &in->to, dg, attack_data(in, f[i].id, f[i].epoch, 5, text, (size_t)n, batch, dg));
			attack_send(in, &in->to, dg,
				    attack_data(in, f[i].id, f[i].epoch, in->progress ? 6 : 7, text, (size_t)n, batch, dg));
		}
	}
	free(f);
	free(batch);
	free(dg);
	free(text);
}

static bool nak_target_ok(const struct sockaddr_in *a)
{
	uint32_t x = ntohl(a->sin_addr.s_addr);
	return (x >> 8) == 0x0AFA00u || (x >> 24) == 127u; /* 10.250.0.0/24 (tests/lib) or loopback */
}

static void attack_naks(inj_t *in)
{
	/* hear the group: the first v2 DATA sender is the target; its burst ends
	 * when nothing came from it for 300 ms (or --listen-ms passed) */
	int rx = socket(AF_INET, SOCK_DGRAM, 0), one = 1;
	struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = in->to.sin_port};
	struct ip_mreq mr = {.imr_multiaddr = in->to.sin_addr, .imr_interface = in->ifa};
	struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
	if (rx < 0 || setsockopt(rx, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(rx, (struct sockaddr *)&any, sizeof(any)) < 0 ||
	    setsockopt(rx, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0 ||
	    setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		die("listening socket");
	uint8_t *buf = malloc(EVC_V2_MAX_DGRAM), *dg = malloc(EVC_V2_MAX_DGRAM), *batch = malloc(EVC_V2_MAX_DGRAM);
	if (!buf || !dg || !batch)
		die("out of memory");
	evc__v2_hdr_t t = {0}, h;
	struct sockaddr_in target = {0};
	uint64_t last = 0, heard = 0, t_end = now_us() + (uint64_t)in->listen_ms * 1000u, t_last = 0;
	printf("listening\n");
	fflush(stdout);
	while (now_us() < t_end && !(heard >= in->count && now_us() - t_last > 300000)) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(rx, buf, EVC_V2_MAX_DGRAM, 0, (struct sockaddr *)&from, &fl);
		if (n <= 0 || evc__v2_hdr_decode(buf, (size_t)n, &h) != 0 || h.type != EVC_V2_DATA ||
		    !memcmp(h.node_id, in->node_id, EVC_V2_NODE_ID_LEN))
			continue;
		if (heard == 0) {
			t = h;
			target = from;
		} else if (memcmp(h.node_id, t.node_id, EVC_V2_NODE_ID_LEN) || h.epoch != t.epoch) {
			continue;
		}
		heard++;
		t_last = now_us();
		if (h.seq > last)
			last = h.seq;
	}
	close(rx);
	if (heard == 0)
		die("heard no v2 DATA on the group");
	if (!nak_target_ok(&target))
		die("refusing to send NAKs to that address");
	char hex[33];
	sodium_bin2hex(hex, sizeof(hex), t.node_id, EVC_V2_NODE_ID_LEN);
	printf("target=%s epoch=%llu last_seq=%llu heard=%llu\n", hex, (unsigned long long)t.epoch,
	       (unsigned long long)last, (unsigned long long)heard);
	if (in->heartbeat) {
		char text[512];
		size_t hl = heartbeat_text(text, sizeof(text), 0);
		attack_send(in, &in->to, dg, attack_data(in, in->node_id, in->epoch, 1, text, hl, batch, dg));
		usleep(100000); /* delivered before the NAKs */
	}
	/* NAKs of 64 ranges covering [last - span + 1, last] */
	evc__v2_nak_t nak;
	memset(&nak, 0, sizeof(nak));
	memcpy(nak.target_node, t.node_id, EVC_V2_NODE_ID_LEN);
	nak.target_epoch = t.epoch;
	nak.nranges = EVC_V2_NAK_MAX_RANGES;
	uint32_t per = in->span / EVC_V2_NAK_MAX_RANGES ? in->span / EVC_V2_NAK_MAX_RANGES : 1;
	uint64_t lo = last > (uint64_t)per * EVC_V2_NAK_MAX_RANGES ? last - (uint64_t)per * EVC_V2_NAK_MAX_RANGES + 1 : 1;
	for (unsigned i = 0; i < EVC_V2_NAK_MAX_RANGES; i++)
		nak.ranges[i] = (evc__v2_range_t){lo + (uint64_t)i * per, per};
	uint8_t pl[EVC_V2_NAK_LEN(EVC_V2_NAK_MAX_RANGES)];
	int pn = evc__v2_nak_encode(&nak, pl, sizeof(pl));
	if (pn < 0)
		die("nak encode");
	for (unsigned k = 0; k < in->naks; k++) {
		evc__v2_hdr_t nh = {.type = EVC_V2_NAK, .epoch = in->epoch, .seq = EVC_V2_CTL_BIT | (k + 1),
				    .ts_us = now_us(), .frag_count = 1, .msg_len = (uint32_t)pn};
		memcpy(nh.node_id, in->node_id, EVC_V2_NODE_ID_LEN);
		int len = evc__v2_seal(in->kr, &nh, pl, (size_t)pn, dg, EVC_V2_MAX_DGRAM);
		if (len < 0)
			die("seal nak");
		attack_send(in, &target, dg, (size_t)len);
	}
	free(buf);
	free(dg);
	free(batch);
}

/* 1 when name is an attack (run), 0 when not. */
static int run_attack(inj_t *in, const char *name)
{
	if (strcmp(name, "hold-flood") == 0)
		attack_senders(in, true);
	else if (strcmp(name, "gap-senders") == 0)
		attack_senders(in, false);
	else if (strcmp(name, "nak-flood") == 0)
		attack_naks(in);
	else
		return 0;
	printf("case=%s bytes_sent=%llu datagrams=%llu\n", name, (unsigned long long)in->bytes_sent,
	       (unsigned long long)in->datagrams);
	return 1;
}

static const char usage[] =
	"usage: evcast_inject --group ADDR --port P --ifaddr ADDR [--key ID:SECRET] CASE\n"
	"       attacks: [--senders N] [--count N] [--size BYTES] [--heartbeat | --no-heartbeat] [--progress]\n"
	"                [--naks N] [--span SEQS] [--pause-us US] [--listen-ms MS]\n"
	"       evcast_inject --list | --list-attacks\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"group", required_argument, NULL, 'g'}, {"port", required_argument, NULL, 'p'},
		{"ifaddr", required_argument, NULL, 'i'}, {"key", required_argument, NULL, 'k'},
		{"list", no_argument, NULL, 'l'},         {"help", no_argument, NULL, 'h'},
		{"senders", required_argument, NULL, 'S'}, {"count", required_argument, NULL, 'C'},
		{"size", required_argument, NULL, 'Z'},    {"heartbeat", no_argument, NULL, 'H'},
		{"no-heartbeat", no_argument, NULL, 'N'},  {"progress", no_argument, NULL, 'P'},
		{"naks", required_argument, NULL, 'K'},    {"span", required_argument, NULL, 'W'},
		{"pause-us", required_argument, NULL, 'U'}, {"listen-ms", required_argument, NULL, 'L'},
		{"list-attacks", no_argument, NULL, 'A'},
		{NULL, 0, NULL, 0},
	};
	const char *group = NULL, *ifaddr = "127.0.0.1", *key = NULL;
	int port = 0, opt;
	inj_t in;
	memset(&in, 0, sizeof(in));
	in.senders = 100, in.count = 64, in.size = 65000, in.naks = 20, in.span = 8192, in.listen_ms = 20000;
	in.heartbeat = true; /* nak-flood's default; hold-flood takes --heartbeat explicitly */
	bool hb_given = false;
	while ((opt = getopt_long(argc, argv, "g:p:i:k:lh", opts, NULL)) != -1) {
		switch (opt) {
		case 'g': group = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'i': ifaddr = optarg; break;
		case 'k': key = optarg; break;
		case 'S': in.senders = (unsigned)atoi(optarg); break;
		case 'C': in.count = (unsigned)atoi(optarg); break;
		case 'Z': in.size = (size_t)atol(optarg); break;
		case 'H': in.heartbeat = true, hb_given = true; break;
		case 'N': in.heartbeat = false, hb_given = true; break;
		case 'P': in.progress = true; break;
		case 'K': in.naks = (unsigned)atoi(optarg); break;
		case 'W': in.span = (unsigned)atoi(optarg); break;
		case 'U': in.pause_us = (unsigned)atoi(optarg); break;
		case 'L': in.listen_ms = (unsigned)atoi(optarg); break;
		case 'l':
			for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
				printf("%-20s expect=%-10s %s\n", cases[i].name, cases[i].expect, cases[i].what);
			return 0;
		case 'A':
			for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++)
				printf("%-12s %s\n", attacks[i].name, attacks[i].what);
			return 0;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!group || port <= 0 || port > 65535 || optind + 1 != argc || in.senders == 0 || in.senders > 10000 ||
	    in.count > 1024 || in.size < 16 || in.size > 65300 || in.naks > 10000 || in.span == 0 ||
	    in.span > 65536 || in.pause_us > 1000000) {
		fputs(usage, stderr);
		return 2;
	}
	const char *name = argv[optind], *expect = NULL;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (strcmp(cases[i].name, name) == 0)
			expect = cases[i].expect;
	for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++)
		if (strcmp(attacks[i].name, name) == 0)
			expect = "bounded";
	if (strcmp(name, "hold-flood") == 0 && !hb_given)
		in.heartbeat = false;
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
	in.kr = key ? keyring_of(key) : NULL; /* none: plaintext v2 */
	in.ifa = ifa;
	randombytes_buf(in.node_id, sizeof(in.node_id));
	in.node_id[0] |= 1;
	in.epoch = now_us() - 1000u;
	unsigned char ttl = 1, loop = 1;
	if ((in.fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0 ||
	    setsockopt(in.fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) < 0 ||
	    setsockopt(in.fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) < 0 ||
	    setsockopt(in.fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof(ifa)) < 0)
		die("socket setup failed");
	if (!run_attack(&in, name)) {
		if (!in.kr) {
			fputs("evcast_inject: the non-attack cases need --key\n", stderr);
			return 2;
		}
		run_case(&in, name);
		printf("case=%s expect=%s\n", name, expect);
	}
	close(in.fd);
	evc__v2_keyring_free(in.kr);
	return 0;
}
