/*
 * esl_client.c -- the CLI's tiny event-socket client: plain blocking Unix
 * socket, messages framed by evcast_esl_parser in REPLIES mode.
 *
 * Owns esl_open (connect, read the auth/request greeting, "auth" -- on the Unix
 * socket the file permissions are the authentication, so any password is
 * accepted), esl_command (one command, its reply), esl_recv (the next message,
 * events included) and cli_api_print. Never retries behind the user's back.
 */
#include "cli.h"
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CLIENT_MAX_HEAD (64u * 1024u)
#define CLIENT_MAX_BODY (64u * 1024u * 1024u)

int esl_send(esl_client_t *c, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int esl_recv(esl_client_t *c, evcast_event_t **msg)
{
	char buf[65536];
	for (;;) {
		ssize_t n;
		int rc = evcast_esl_parser_next(c->parser, msg);
		if (rc != 0)
			return rc;
		if (c->wait_mask) { /* the caller's stop signals arrive here, or stay pending */
			struct pollfd p = {.fd = c->fd, .events = POLLIN};
			if (ppoll(&p, 1, NULL, c->wait_mask) < 0)
				return EVCAST_EIO; /* errno EINTR: a signal came */
		}
		n = recv(c->fd, buf, sizeof(buf), 0);
		if (n == 0)
			return 0;
		if (n < 0)
			return EVCAST_EIO; /* errno kept: EINTR when a signal came */
		if ((rc = evcast_esl_parser_feed(c->parser, buf, (size_t)n)) < 0)
			return rc;
	}
}

static const char *ctype(const evcast_event_t *m)
{
	const char *v = evcast_event_get_header(m, "Content-Type");
	return v ? v : "";
}

int esl_command(esl_client_t *c, const char *text, size_t len, evcast_event_t **reply)
{
	if (esl_send(c, text, len) < 0)
		return EVCAST_EIO;
	for (;;) {
		int rc = esl_recv(c, reply);
		if (rc <= 0)
			return rc;
		if (strcasecmp(ctype(*reply), "command/reply") == 0 || strcasecmp(ctype(*reply), "api/response") == 0)
			return 1;
		evcast_event_free(*reply); /* an event that came first */
		*reply = NULL;
	}
}

void esl_close(esl_client_t *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	evcast_esl_parser_free(c->parser);
	c->parser = NULL;
}

int esl_open(esl_client_t *c, const char *path, const char *who)
{
	struct sockaddr_un sa;
	evcast_event_t *m = NULL;
	const char *text;
	int rc;
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->path = path;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "%s: cannot connect to %s: path longer than %zu bytes\n", who, path,
			sizeof(sa.sun_path) - 1);
		return CLI_FAIL;
	}
	if (evcast_esl_parser_new(EVCAST_ESL_REPLIES, CLIENT_MAX_HEAD, CLIENT_MAX_BODY, &c->parser) < 0) {
		fprintf(stderr, "%s: out of memory\n", who);
		return CLI_FAIL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		fprintf(stderr, "%s: cannot connect to %s: %s (errno %d)%s\n", who, path, strerror(e), e,
			e == ENOENT || e == ECONNREFUSED ? "; is evcastd running? (-s PATH or EVCAST_SOCKET)" : "");
		esl_close(c);
		return CLI_FAIL;
	}
	rc = esl_recv(c, &m);
	if (rc <= 0 || strcasecmp(ctype(m), "auth/request") != 0) {
		fprintf(stderr, "%s: %s: no event-socket greeting (%s)\n", who, path,
			rc < 0 ? strerror(errno) : rc == 0 ? "connection closed" : ctype(m));
		evcast_event_free(m);
		esl_close(c);
		return CLI_FAIL;
	}
	evcast_event_free(m);
	m = NULL;
	rc = esl_command(c, "auth ClueCon\n\n", 14, &m);
	text = rc > 0 ? evcast_event_get_header(m, "Reply-Text") : NULL;
	if (!text || strncmp(text, "+OK", 3) != 0) {
		fprintf(stderr, "%s: %s: authentication refused (%s)\n", who, path,
			text ? text : rc == 0 ? "connection closed" : strerror(errno));
		evcast_event_free(m);
		esl_close(c);
		return CLI_FAIL;
	}
	evcast_event_free(m);
	return CLI_OK;
}

int cli_api_print(const cli_t *cli, const char *who, const char *cmdline)
{
	esl_client_t c;
	evcast_event_t *m = NULL;
	char text[8192];
	const char *body;
	size_t blen = 0;
	int n, rc;
	if (esl_open(&c, cli->socket_path, who) != CLI_OK)
		return CLI_FAIL;
	n = snprintf(text, sizeof(text), "api %s\n\n", cmdline);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		fprintf(stderr, "%s: command too long\n", who);
		esl_close(&c);
		return CLI_USAGE;
	}
	rc = esl_command(&c, text, (size_t)n, &m);
	if (rc <= 0) {
		fprintf(stderr, "%s: %s: %s\n", who, cli->socket_path,
			rc == 0 ? "connection closed by the daemon" : strerror(errno));
		esl_close(&c);
		return CLI_FAIL;
	}
	(void)esl_send(&c, "exit\n\n", 6);
	esl_close(&c);
	body = evcast_event_get_body(m, &blen);
	if (!body) { /* a command/reply: the answer is in Reply-Text */
		body = evcast_event_get_header(m, "Reply-Text");
		blen = body ? strlen(body) : 0;
	}
	if (blen)
		fwrite(body, 1, blen, stdout);
	if (blen && body[blen - 1] != '\n')
		putchar('\n');
	rc = blen >= 1 && body[0] == '-' ? CLI_FAIL : CLI_OK; /* -ERR, -USAGE */
	evcast_event_free(m);
	if (fflush(stdout) != 0)
		return CLI_FAIL;
	return rc;
}
