/*
 * fuzz_esl_server.c -- libFuzzer target for the event-socket server's command
 * handling (src/daemon/control.c, control_out.c, control_cmd.c, included with the daemon's
 * neighbours stubbed), end to end through a real connection.
 *
 * Set up once: a loop, an unstarted node (no datagram is ever sent) and the
 * server on a Unix socket in a private temporary directory, and on TCP
 * 127.0.0.1 (a random high port; password "x", the pre-auth guard of
 * control_auth.c with a 1 ms failure delay). Per input: one client connects,
 * the first byte chooses the socket (bit 7: TCP, where a wrong "auth" is
 * answered later and holds the connection), whether "auth x" is sent first
 * (bit 0) and how the rest is cut into writes; the loop runs while the client drains
 * what the server answers (events it subscribed to included), then the client
 * closes and the loop runs until the server has freed the connection. Any
 * crash, leak, sanitizer report or a connection left open is a bug.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/daemon/acl.c"
#include "../src/daemon/esl_conf.c"
#include "../src/daemon/control.c"
#include "../src/daemon/control_out.c"
#include "../src/daemon/control_cmd.c"
#include "../src/daemon/control_wait.c"
#include "../src/daemon/filter_re.c"
#include "../src/daemon/control_tcp.c"
#include "../src/daemon/control_auth.c"

void evcd_log(void *ud, int level, const char *msg) {}
void evcd_logf(evcd_t *d, int level, const char *fmt, ...) {}

int evcd_api_execute(evcd_t *d, const char *cmd, const char *args, char **out)
{
	*out = evc__strdup(strcmp(cmd, "status") == 0 ? "UP fuzz\n" : "-ERR x Command not found!\n");
	return *out ? 0 : EVCAST_ENOMEM;
}

static uv_loop_t loop;
static evcd_t d;
static char sock_path[108];
static int tcp_port;

static void setup(void)
{
	static char dir[] = "/tmp/evcast-fuzz-esl.XXXXXX";
	char xml[2048], err[256];
	int rc = -1;
	if (!mkdtemp(dir))
		abort();
	snprintf(sock_path, sizeof(sock_path), "%s/s", dir);
	signal(SIGPIPE, SIG_IGN);
	if (uv_loop_init(&loop) != 0)
		abort();
	d.loop = &loop;
	for (int attempt = 0; attempt < 20 && rc != 0; attempt++) { /* another port when one is taken */
		tcp_port = 20000 + (int)(((unsigned)getpid() * 7919u + (unsigned)attempt * 104729u) % 40000u);
		snprintf(xml, sizeof(xml),
			 "<evcast><configuration name=\"event_multicast.conf\"><settings>"
			 "<param name=\"address\" value=\"239.255.42.78\"/><param name=\"bindings\" value=\"\"/>"
			 "<param name=\"node-name\" value=\"fuzz\"/><param name=\"control-socket\" value=\"%s\"/>"
			 "</settings></configuration><configuration name=\"event_socket.conf\"><settings>"
			 "<param name=\"listen-port\" value=\"%d\"/><param name=\"password\" value=\"x\"/>"
			 "<param name=\"auth-failure-delay-ms\" value=\"1\"/>"
			 "<param name=\"auth-failure-delay-max-ms\" value=\"1\"/>"
			 "</settings></configuration></evcast>",
			 sock_path, tcp_port);
		if (evcast_config_parse(xml, strlen(xml), "fuzz.xml", NULL, NULL, &d.cfg, err, sizeof(err)) != 0 ||
		    evcast_node_new(&loop, d.cfg, NULL, NULL, &d.node) != 0)
			abort();
		if ((rc = evcd_control_start(&d, sock_path)) != 0) {
			evcast_node_close(d.node, NULL, NULL);
			uv_run(&loop, UV_RUN_DEFAULT);
			evcast_config_free(d.cfg);
		}
	}
	if (rc != 0)
		abort();
}

/* Runs the loop and reads what the server sends until nothing arrives for
 * 20 rounds (bounded); with fd < 0, until every connection is freed. */
static void settle(int fd)
{
	char buf[65536];
	int idle = 0;
	for (int round = 0; round < 5000; round++) {
		ssize_t r;
		bool moved = false;
		uv_run(&loop, UV_RUN_NOWAIT);
		while (fd >= 0 && (r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			moved = true;
		idle = moved ? 0 : idle + 1;
		if (fd >= 0 ? idle >= 20 : !d.control->conns)
			break;
		if (fd < 0 && round >= 100)
			poll(NULL, 0, 1); /* a held auth answer is due within 1 ms */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct sockaddr_in sin = {.sin_family = AF_INET};
	size_t off = 1, chunk;
	int fd;
	if (!ready) {
		setup();
		ready = true;
	}
	if (size < 1 || size > 256 * 1024)
		return 0;
	if (data[0] & 0x80) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		sin.sin_port = htons((uint16_t)tcp_port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
			abort();
	} else {
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
			abort();
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	if (data[0] & 1)
		(void)!write(fd, "auth x\n\n", 8);
	chunk = (data[0] & 0x7e) ? (size_t)((data[0] & 0x7e) >> 1) * 7 : size;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		ssize_t w = write(fd, data + off, n);
		if (w <= 0) {
			settle(fd);
			if (w < 0 && errno != EAGAIN)
				break;
			continue;
		}
		off += (size_t)w;
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	settle(fd);
	close(fd);
	settle(-1);
	if (d.control->conns) /* the server must have seen the close and freed the connection */
		abort();
	return 0;
}
