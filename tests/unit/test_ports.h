/*
 * test_ports.h -- UDP ports for in-process node tests. A pair of consecutive
 * ports (P, P+1) that nothing is bound to, chosen once per process by the
 * kernel's ephemeral allocator (bind to port 0, then check P+1), so tests run
 * side by side by ctest -j never share a port. (Ports derived from the pid
 * collided: consecutive pids gave one test's P+1 as the next test's P, and
 * with SO_REUSEADDR both bound it and heard each other's datagrams.)
 */
#ifndef EVCAST_TEST_PORTS_H
#define EVCAST_TEST_PORTS_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

/* Binds a UDP socket to the wildcard address and port (0: any); returns the
 * port bound, or -1. The socket stays open in *fd. */
static int test_port_bind(int port, int *fd)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
	socklen_t len = sizeof(sa);
	sa.sin_port = htons((uint16_t)port);
	*fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (*fd < 0)
		return -1;
	if (bind(*fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || getsockname(*fd, (struct sockaddr *)&sa, &len) != 0) {
		close(*fd);
		*fd = -1;
		return -1;
	}
	return ntohs(sa.sin_port);
}

/* P, with P and P+1 free when chosen; the same P for the whole process. */
static int test_port_pair(void)
{
	static int cached;
	for (int tries = 0; !cached && tries < 64; tries++) {
		int fa, fb, p = test_port_bind(0, &fa);
		if (p > 0 && p < 65535 && test_port_bind(p + 1, &fb) == p + 1) {
			close(fb);
			cached = p;
		}
		if (fa >= 0)
			close(fa);
	}
	if (!cached)
		cached = 20000 + (int)(getpid() % 20000); /* no socket at all: the old choice */
	return cached;
}

#endif
