/*
 * udp.c -- the UDP transport: sockets, multicast membership, send and receive.
 *
 * Owns one IPv4 and/or one IPv6 uv_udp_t, bound to source_address[_ipv6]:port
 * with SO_REUSEADDR (several nodes on one host share the port), joined to every
 * multicast destination on the configured interface, with TTL and loop set.
 * Receive is event-driven (no polling) and batched with recvmmsg where libuv
 * offers it; each datagram is handed, borrowed, to the owner's callback.
 * Sends are batched: datagrams handed over during one loop turn are copied
 * into a bounded batch (UDP_TX_BATCH datagrams, UDP_TX_ARENA bytes) and go
 * out with one sendmmsg per socket when the batch fills or when the turn
 * ends (a uv_prepare handle: before the loop waits for I/O again), so a
 * burst costs one system call and wakes a receiver once. The first datagram
 * after a quiet spell (UDP_TX_QUIET_US since the last send) goes out at once,
 * as v2's batcher does with events: a lone event waits for nothing, not even
 * for the rest of its loop turn. On EAGAIN the rest go through libuv's
 * queue (uv_udp_send, a bounded copy), which keeps them in order.
 * It must not decode or interpret datagrams: that is the node's job.
 * Sections: helpers, receive, open/start, send, close, config comparison.
 */
#include "internal.h"
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define UDP_DGRAM_MAX 65536
#define UDP_MMSG_COUNT 16                   /* datagrams per recvmmsg */
#define UDP_SEND_QUEUE_MAX (4u * 1024 * 1024) /* bytes queued after EAGAIN */
#define UDP_RCVBUF (8 * 1024 * 1024) /* bursts: a few flow-control windows (PROTOCOL.md 14.6) */
#define UDP_TX_BATCH 64                    /* datagrams per batch (sendmmsg) */
#define UDP_TX_ARENA (256u * 1024)         /* bytes per batch */
#define UDP_TX_QUIET_US 200                /* a send after this long a quiet spell: at once */

struct udp_sock;
static void rcvbuf_check(const evc__udp_t *u, int fd);

/* One datagram of the send batch: its bytes are arena[off, off + len). */
typedef struct udp_tx {
	struct udp_sock *s;
	struct sockaddr_storage addr;
	size_t off, len;
} udp_tx_t;

typedef struct udp_sock {
	uv_udp_t h;
	struct evc__udp *owner;
	int family;
	bool open;
	char *rbuf;
	size_t rcap;
} udp_sock_t;

struct evc__udp {
	uv_loop_t *loop;
	const evc__logger_t *lg;
	evcast_stats_t *stats;
	evc__udp_recv_cb cb;
	void *ud;
	udp_sock_t s4, s6;
	evcast_dest_t dests[EVCAST_MAX_ADDRESSES];
	size_t ndests;
	uint16_t port;
	int ttl;
	bool loopback;
	char iface[128];
	char src4[64], src6[64];
	size_t queued_bytes;
	uv_prepare_t prep;  /* flushes the send batch when a loop turn ends */
	bool prep_on;
	udp_tx_t tx[UDP_TX_BATCH];
	size_t ntx, arena_used;
	bool flushing;      /* a send from inside tx_flush (a log callback) goes out at once */
	uint64_t last_tx_us; /* monotonic time of the latest send or batch */
	uint8_t *arena;     /* UDP_TX_ARENA bytes, allocated at start */
	evc__impair_t *impair; /* tests only: $EVCAST_IMPAIR */
	evc__ratelimit_t rl;
	int closing;
	void (*close_cb)(void *ud);
	void *close_ud;
};

typedef struct udp_send_req {
	uv_udp_send_t req;
	evc__udp_t *u;
	size_t len;
	char data[];
} udp_send_req_t;

/* ---------------------------------------------------------------- helpers */

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/* The multicast interface as libuv wants it for this family: an IPv4 address
 * for AF_INET, "::%name" (scope id) for AF_INET6. Empty string = kernel choice. */
static int iface_for_family(const evc__udp_t *u, int family, char *out, size_t cap)
{
	struct in_addr a4;
	struct in6_addr a6;
	out[0] = '\0';
	if (!u->iface[0])
		return 0;
	if (inet_pton(AF_INET, u->iface, &a4) == 1) {
		if (family == AF_INET)
			copy_str(out, cap, u->iface);
		return 0;
	}
	if (inet_pton(AF_INET6, u->iface, &a6) == 1) {
		if (family == AF_INET6)
			copy_str(out, cap, u->iface);
		return 0;
	}
	if (if_nametoindex(u->iface) == 0)
		return EVCAST_EINVAL;
	if (family == AF_INET6) {
		snprintf(out, cap, "::%%%s", u->iface);
		return 0;
	}
	struct ifaddrs *ifs, *i;
	if (getifaddrs(&ifs) != 0)
		return EVCAST_EIO;
	for (i = ifs; i; i = i->ifa_next) {
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && strcmp(i->ifa_name, u->iface) == 0) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, out, (socklen_t)cap);
			break;
		}
	}
	freeifaddrs(ifs);
	return out[0] ? 0 : EVCAST_EINVAL;
}

/* ---------------------------------------------------------------- receive */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	udp_sock_t *s = h->data;
	(void)suggested;
	buf->base = s->rbuf;
	buf->len = s->rcap;
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
		    unsigned flags)
{
	udp_sock_t *s = h->data;
	evc__udp_t *u = s->owner;
	if (nread < 0) {
		u->stats->rx_errors++;
		if (evc__ratelimit_allow(&u->rl, evc__wall_ms()))
			evc__log(u->lg, EVCAST_LOG_WARNING, "udp: receive error: %s", uv_strerror((int)nread));
		return;
	}
	if (addr == NULL) /* nothing more to read, or the end of a recvmmsg batch */
		return;
	if (flags & UV_UDP_PARTIAL) {
		u->stats->drop_oversize++;
		return;
	}
	/* nread == 0 with an address is a real zero-length datagram: the node
	 * counts it (the legacy module's receive loop died on these). */
	if (u->impair)
		evc__impair_recv(u->impair, (const uint8_t *)buf->base, (size_t)nread, addr, u->cb, u->ud);
	else
		u->cb(u->ud, (const uint8_t *)buf->base, (size_t)nread, addr);
}

/* ------------------------------------------------------------ open/start */

/* Same family and group address (the ports may differ). */
static bool same_group(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
		      sizeof(struct in6_addr)) == 0;
}

static int sock_open(evc__udp_t *u, udp_sock_t *s, int family)
{
	struct sockaddr_storage bind_addr;
	unsigned flags = (unsigned)family | UV_UDP_RECVMMSG;
	int r;

	memset(&bind_addr, 0, sizeof(bind_addr));
	if (family == AF_INET)
		r = uv_ip4_addr(u->src4[0] ? u->src4 : "0.0.0.0", u->port, (struct sockaddr_in *)&bind_addr);
	else
		r = uv_ip6_addr(u->src6[0] ? u->src6 : "::", u->port, (struct sockaddr_in6 *)&bind_addr);
	if (r != 0) {
		evc__log(u->lg, EVCAST_LOG_ERR, "udp: bad source address: %s", uv_strerror(r));
		return EVCAST_EINVAL;
	}
	s->owner = u;
	s->family = family;
	s->rcap = (size_t)UDP_DGRAM_MAX * UDP_MMSG_COUNT;
	s->rbuf = evc__malloc(s->rcap);
	if (!s->rbuf)
		return EVCAST_ENOMEM;
	r = uv_udp_init_ex(u->loop, &s->h, flags);
	if (r != 0) {
		evc__log(u->lg, EVCAST_LOG_ERR, "udp: socket: %s", uv_strerror(r));
		return EVCAST_EIO;
	}
	s->h.data = s;
	s->open = true;
	r = uv_udp_bind(&s->h, (struct sockaddr *)&bind_addr,
			UV_UDP_REUSEADDR | (family == AF_INET6 ? UV_UDP_IPV6ONLY : 0));
	if (r != 0) {
		char a[80];
		evc__addr_str((struct sockaddr *)&bind_addr, a, sizeof(a));
		evc__log(u->lg, EVCAST_LOG_ERR, "udp: bind %s: %s", a, uv_strerror(r));
		return EVCAST_EIO;
	}
	int rcv = UDP_RCVBUF;
	uv_os_fd_t fd;
	if (uv_fileno((uv_handle_t *)&s->h, &fd) == 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) != 0)
		uv_recv_buffer_size((uv_handle_t *)&s->h, &rcv);
	rcvbuf_check(u, fd);

	char ifa[160];
	r = iface_for_family(u, family, ifa, sizeof(ifa));
	if (r != 0) {
		evc__log(u->lg, EVCAST_LOG_ERR, "udp: multicast-interface \"%s\": no such interface or no %s address",
			 u->iface, family == AF_INET ? "IPv4" : "IPv6");
		return r;
	}
	bool any_mcast = false;
	for (size_t i = 0; i < u->ndests; i++) {
		const evcast_dest_t *d = &u->dests[i];
		if (d->addr.ss_family != family || !d->multicast)
			continue;
		bool joined = false; /* one group as two destinations (v2 and legacy-address): one join */
		for (size_t j = 0; j < i && !joined; j++)
			joined = u->dests[j].multicast && same_group(&u->dests[j].addr, &d->addr);
		if (joined)
			continue;
		char group[INET6_ADDRSTRLEN];
		if (family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&d->addr)->sin_addr, group, sizeof(group));
		else
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&d->addr)->sin6_addr, group, sizeof(group));
		r = uv_udp_set_membership(&s->h, group, ifa[0] ? ifa : NULL, UV_JOIN_GROUP);
		if (r != 0) {
			evc__log(u->lg, EVCAST_LOG_ERR, "udp: join group %s on %s: %s", group,
				 u->iface[0] ? u->iface : "default interface", uv_strerror(r));
			return EVCAST_EIO;
		}
		evc__log(u->lg, EVCAST_LOG_INFO, "udp: joined %s port %u on %s", group, u->port,
			 u->iface[0] ? u->iface : "default interface");
		any_mcast = true;
	}
	if (any_mcast || u->iface[0]) {
		if (ifa[0] && (r = uv_udp_set_multicast_interface(&s->h, ifa)) != 0) {
			evc__log(u->lg, EVCAST_LOG_ERR, "udp: multicast-interface %s: %s", u->iface, uv_strerror(r));
			return EVCAST_EIO;
		}
		if ((r = uv_udp_set_multicast_ttl(&s->h, u->ttl)) != 0 ||
		    (r = uv_udp_set_multicast_loop(&s->h, u->loopback ? 1 : 0)) != 0) {
			evc__log(u->lg, EVCAST_LOG_ERR, "udp: multicast options: %s", uv_strerror(r));
			return EVCAST_EIO;
		}
	}
	if (u->ttl >= 1)
		uv_udp_set_ttl(&s->h, u->ttl); /* unicast destinations */
	return 0;
}

int evc__udp_new(uv_loop_t *loop, const evcast_config_t *cfg, const evc__logger_t *lg, evcast_stats_t *stats,
		 evc__udp_recv_cb cb, void *ud, evc__udp_t **out)
{
	evc__udp_t *u = evc__calloc(1, sizeof(*u));
	if (!u)
		return EVCAST_ENOMEM;
	u->loop = loop;
	u->lg = lg;
	u->stats = stats;
	u->cb = cb;
	u->ud = ud;
	u->ndests = cfg->ndests;
	memcpy(u->dests, cfg->dests, sizeof(u->dests));
	u->port = cfg->port;
	u->ttl = cfg->ttl;
	u->loopback = cfg->loopback;
	copy_str(u->iface, sizeof(u->iface), cfg->multicast_interface);
	copy_str(u->src4, sizeof(u->src4), cfg->source_address);
	copy_str(u->src6, sizeof(u->src6), cfg->source_address_ipv6);
	evc__ratelimit_init(&u->rl, 5, 1);
	if (evc__impair_from_env(lg, &u->impair) != 0) {
		evc__free(u);
		return EVCAST_ENOMEM;
	}
	*out = u;
	return 0;
}

static void on_prepare(uv_prepare_t *h);

int evc__udp_start(evc__udp_t *u)
{
	bool want4 = u->ndests == 0, want6 = false;
	int r;
	for (size_t i = 0; i < u->ndests; i++) {
		want4 |= u->dests[i].addr.ss_family == AF_INET;
		want6 |= u->dests[i].addr.ss_family == AF_INET6;
	}
	if (want4 && (r = sock_open(u, &u->s4, AF_INET)) != 0)
		return r;
	if (want6 && (r = sock_open(u, &u->s6, AF_INET6)) != 0)
		return r;
	udp_sock_t *socks[] = {&u->s4, &u->s6};
	for (size_t i = 0; i < 2; i++) {
		if (!socks[i]->open)
			continue;
		if ((r = uv_udp_recv_start(&socks[i]->h, on_alloc, on_recv)) != 0) {
			evc__log(u->lg, EVCAST_LOG_ERR, "udp: receive: %s", uv_strerror(r));
			return EVCAST_EIO;
		}
	}
	/* the send batch: without its memory, every datagram is sent at once */
	if ((u->arena = evc__malloc(UDP_TX_ARENA)) && uv_prepare_init(u->loop, &u->prep) == 0) {
		u->prep.data = u;
		uv_prepare_start(&u->prep, on_prepare);
		uv_unref((uv_handle_t *)&u->prep); /* never keeps the loop alive */
		u->prep_on = true;
	}
	return 0;
}

void evc__udp_pause(evc__udp_t *u, bool pause)
{
	udp_sock_t *socks[] = {&u->s4, &u->s6};
	for (size_t i = 0; i < 2; i++) {
		if (!socks[i]->open)
			continue;
		if (pause)
			uv_udp_recv_stop(&socks[i]->h);
		else
			uv_udp_recv_start(&socks[i]->h, on_alloc, on_recv);
	}
}

/* ------------------------------------------------------------------- send */

static void on_sent(uv_udp_send_t *req, int status)
{
	udp_send_req_t *sr = (udp_send_req_t *)req;
	evc__udp_t *u = sr->u;
	u->queued_bytes -= sr->len;
	if (status != 0 && status != UV_ECANCELED)
		u->stats->tx_errors++;
	evc__free(sr);
}

static size_t addr_len(const struct sockaddr *a)
{
	return a->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static void send_failed(evc__udp_t *u, const struct sockaddr *to, size_t len, const char *why)
{
	u->stats->tx_errors++;
	if (evc__ratelimit_allow(&u->rl, evc__wall_ms())) {
		char a[80];
		evc__addr_str(to, a, sizeof(a));
		evc__log(u->lg, EVCAST_LOG_WARNING, "udp: send to %s (%zu bytes): %s", a, len, why);
	}
}

/* Sends one datagram now (libuv's try_send; on EAGAIN a bounded copy queued). */
static int send_now(evc__udp_t *u, udp_sock_t *s, const struct sockaddr *to, const uint8_t *buf, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	int r = uv_udp_try_send(&s->h, &b, 1, to);
	if (r >= 0)
		return 0;
	if (r == UV_EAGAIN && u->queued_bytes + len <= UDP_SEND_QUEUE_MAX) {
		udp_send_req_t *sr = evc__malloc(sizeof(*sr) + len);
		if (sr) {
			sr->u = u;
			sr->len = len;
			memcpy(sr->data, buf, len);
			b = uv_buf_init(sr->data, (unsigned)len);
			if (uv_udp_send(&sr->req, &s->h, &b, 1, to, on_sent) == 0) {
				u->queued_bytes += len;
				return 0;
			}
			evc__free(sr);
		}
	}
	send_failed(u, to, len, uv_strerror(r));
	return EVCAST_EIO;
}

/* Sends the batch: one sendmmsg per run of datagrams for the same socket. A
 * datagram the kernel refuses is counted and skipped; on EAGAIN/ENOBUFS the
 * rest go through send_now (libuv's queue, in order). */
static void tx_flush(evc__udp_t *u)
{
	struct mmsghdr mm[UDP_TX_BATCH];
	struct iovec iov[UDP_TX_BATCH];
	size_t i = 0, n = u->ntx;
	u->flushing = true;
	while (i < n) {
		udp_sock_t *s = u->tx[i].s;
		size_t j = i, k = 0;
		uv_os_fd_t fd = -1;
		while (j < n && u->tx[j].s == s) {
			udp_tx_t *t = &u->tx[j];
			iov[j - i] = (struct iovec){u->arena + t->off, t->len};
			memset(&mm[j - i], 0, sizeof(mm[j - i]));
			mm[j - i].msg_hdr.msg_name = &t->addr;
			mm[j - i].msg_hdr.msg_namelen = (socklen_t)addr_len((struct sockaddr *)&t->addr);
			mm[j - i].msg_hdr.msg_iov = &iov[j - i];
			mm[j - i].msg_hdr.msg_iovlen = 1;
			j++;
		}
		if (!s->open || uv_fileno((uv_handle_t *)&s->h, &fd) != 0)
			k = j - i; /* closed under us: nothing to send on */
		while (k < j - i) {
			int r = u->queued_bytes ? -1 : sendmmsg(fd, mm + k, (unsigned)(j - i - k), 0);
			if (r > 0) {
				k += (size_t)r;
				continue;
			}
			if (r < 0 && errno == EINTR)
				continue;
			udp_tx_t *t = &u->tx[i + k];
			if (u->queued_bytes || errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
				for (; k < j - i; k++, t++) /* libuv's queue keeps the order */
					send_now(u, s, (struct sockaddr *)&t->addr, u->arena + t->off, t->len);
				break;
			}
			send_failed(u, (struct sockaddr *)&t->addr, t->len, strerror(errno));
			k++;
		}
		i = j;
	}
	u->ntx = 0;
	u->arena_used = 0;
	u->flushing = false;
}

static void on_prepare(uv_prepare_t *h)
{
	evc__udp_t *u = h->data;
	if (u->ntx)
		tx_flush(u);
}

/* Hands one datagram to the batch (sent before the loop waits again), or
 * sends it now when there is no batch or it does not fit one. */
static int send_dgram(evc__udp_t *u, udp_sock_t *s, const struct sockaddr *to, const uint8_t *buf, size_t len)
{
	if (!s->open)
		return EVCAST_ESTATE;
	uint64_t now = uv_hrtime() / 1000u, last = u->last_tx_us;
	u->last_tx_us = now;
	if (!u->arena || !u->prep_on || u->flushing || len > UDP_TX_ARENA ||
	    (u->ntx == 0 && now - last >= UDP_TX_QUIET_US))
		return send_now(u, s, to, buf, len);
	if (u->ntx == UDP_TX_BATCH || u->arena_used + len > UDP_TX_ARENA)
		tx_flush(u);
	udp_tx_t *t = &u->tx[u->ntx++];
	t->s = s;
	memcpy(&t->addr, to, addr_len(to));
	t->off = u->arena_used;
	t->len = len;
	memcpy(u->arena + t->off, buf, len);
	u->arena_used += len;
	return 0;
}

static int send_one(evc__udp_t *u, const evcast_dest_t *d, const uint8_t *buf, size_t len)
{
	udp_sock_t *s = d->addr.ss_family == AF_INET6 ? &u->s6 : &u->s4;
	return send_dgram(u, s, (const struct sockaddr *)&d->addr, buf, len);
}

int evc__udp_send(evc__udp_t *u, const uint8_t *buf, size_t len, int protocol)
{
	int ok = 0;
	if (u->closing)
		return 0;
	for (size_t i = 0; i < u->ndests; i++)
		if (u->dests[i].protocol == protocol && send_one(u, &u->dests[i], buf, len) == 0)
			ok++;
	return ok;
}

int evc__udp_send_to(evc__udp_t *u, const uint8_t *buf, size_t len, const struct sockaddr *to)
{
	if (u->closing || !to || (to->sa_family != AF_INET && to->sa_family != AF_INET6))
		return EVCAST_EINVAL;
	return send_dgram(u, to->sa_family == AF_INET6 ? &u->s6 : &u->s4, to, buf, len);
}

/* ------------------------------------------------------------------ close */

static void udp_free(evc__udp_t *u)
{
	void (*cb)(void *) = u->close_cb;
	void *ud = u->close_ud;
	evc__free(u->s4.rbuf);
	evc__free(u->s6.rbuf);
	evc__free(u->arena);
	evc__impair_free(u->impair);
	evc__free(u);
	if (cb)
		cb(ud);
}

static void on_sock_closed(uv_handle_t *h)
{
	udp_sock_t *s = h->data;
	evc__udp_t *u = s->owner;
	if (--u->closing == 0)
		udp_free(u);
}

static void on_prep_closed(uv_handle_t *h)
{
	evc__udp_t *u = h->data;
	if (--u->closing == 0)
		udp_free(u);
}

void evc__udp_close(evc__udp_t *u, void (*cb)(void *ud), void *ud)
{
	u->close_cb = cb;
	u->close_ud = ud;
	if (u->ntx)
		tx_flush(u); /* what was handed over still leaves */
	u->closing = 1; /* held until every handle is asked to close */
	if (u->prep_on) {
		u->closing++;
		u->prep_on = false;
		uv_close((uv_handle_t *)&u->prep, on_prep_closed);
	}
	udp_sock_t *socks[] = {&u->s4, &u->s6};
	for (size_t i = 0; i < 2; i++) {
		if (socks[i]->open) {
			socks[i]->owner = u;
			u->closing++;
			uv_close((uv_handle_t *)&socks[i]->h, on_sock_closed);
		}
	}
	if (--u->closing == 0) /* nothing was open: finish now, but from here */
		udp_free(u);
}

/* --------------------------------------------------- config comparison */

static bool str_differs(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") != 0;
}

bool evc__udp_config_differs(const evcast_config_t *a, const evcast_config_t *b)
{
	if (a->ndests != b->ndests || a->port != b->port || a->ttl != b->ttl || a->loopback != b->loopback)
		return true;
	if (str_differs(a->multicast_interface, b->multicast_interface) ||
	    str_differs(a->source_address, b->source_address) ||
	    str_differs(a->source_address_ipv6, b->source_address_ipv6))
		return true;
	for (size_t i = 0; i < a->ndests; i++)
		if (strcmp(a->dests[i].text, b->dests[i].text) != 0 || a->dests[i].addrlen != b->dests[i].addrlen ||
		    a->dests[i].protocol != b->dests[i].protocol ||
		    memcmp(&a->dests[i].addr, &b->dests[i].addr, a->dests[i].addrlen) != 0)
			return true;
	return false;
}

/* The receive buffer the kernel gave (Linux reports twice what was set): a
 * warning naming net.core.rmem_max when it capped the request. */
static void rcvbuf_check(const evc__udp_t *u, int fd)
{
	int got = 0;
	socklen_t gl = sizeof(got);
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &gl) != 0 || got >= UDP_RCVBUF)
		return;
	char max[32] = "?";
	FILE *f = fopen("/proc/sys/net/core/rmem_max", "r");
	if (f) {
		if (!fgets(max, sizeof(max), f))
			snprintf(max, sizeof(max), "?");
		fclose(f);
		max[strcspn(max, "\n")] = '\0';
	}
	evc__log(u->lg, EVCAST_LOG_WARNING,
		 "udp: receive buffer %d bytes, not the %d asked: the kernel caps it at net.core.rmem_max = %s; "
		 "raise it (sysctl -w net.core.rmem_max=%d) so bursts are not dropped",
		 got, UDP_RCVBUF, max, UDP_RCVBUF);
}
