/*
 * cmd_listen.c -- `evcast listen [--json] [EVENT...]`: stream the daemon's events.
 *
 * Subscribes with `event plain|json EVENTS` (default ALL) and prints each event
 * as it arrives: plain text as the event socket delivers it (values
 * url-encoded), each ending with a blank line; or with --json one compact JSON
 * object per line. stdout is flushed per event so scripts can follow it. Ends
 * with status 0 on SIGINT/SIGTERM or a closed stdout (SIGPIPE is ignored,
 * EPIPE ends the loop); 1 with a one-line message on stderr when the daemon
 * goes away (its disconnect notice, or the connection lost). SIGINT/SIGTERM
 * stay blocked except while waiting for the daemon (ppoll with the caller's
 * mask, esl_client.c), so one that arrives while an event is printed ends the
 * loop at the next wait, at once, not after the next event.
 */
#include "cli.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <strings.h>

static const char help[] =
	"usage: evcast listen [--json] [EVENT...]\n\n"
	"Streams the events the daemon delivers (received from peers and fired locally) until\n"
	"interrupted. EVENT: event names, ALL (the default), CUSTOM followed by subclasses.\n\n"
	"  -j, --json  one JSON object per line (the event socket's JSON form) instead of plain text\n"
	"  -h, --help  this text\n";

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig) { stop_signal = sig; }

/* Writes the plain text so that it ends with a blank line. */
static int print_plain(const char *s, size_t n)
{
	if (n && fwrite(s, 1, n, stdout) != n)
		return -1;
	if (n == 0 || s[n - 1] != '\n')
		putchar('\n');
	if (n < 2 || s[n - 1] != '\n' || s[n - 2] != '\n')
		putchar('\n');
	return fflush(stdout);
}

static int print_json(const char *s, size_t n)
{
	cJSON *j = cJSON_ParseWithLength(s, n);
	char *line = j ? cJSON_PrintUnformatted(j) : NULL;
	int rc;
	if (line) {
		rc = fputs(line, stdout) < 0 ? -1 : 0;
	} else { /* not JSON after all: one line anyway */
		rc = 0;
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = putchar(s[i] == '\n' || s[i] == '\r' ? ' ' : s[i]) == EOF ? -1 : 0;
	}
	cJSON_free(line);
	cJSON_Delete(j);
	if (rc == 0)
		putchar('\n');
	return rc == 0 ? fflush(stdout) : -1;
}

int cmd_listen(const cli_t *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct sigaction sa;
	char cmd[4096];
	size_t n;
	bool json = false;
	esl_client_t c;
	evcast_event_t *m = NULL;
	const char *text;
	int opt, rc;
	while ((opt = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 'h': fputs(help, stdout); return CLI_OK;
		default: fputs(help, stderr); return CLI_USAGE;
		}
	}
	n = (size_t)snprintf(cmd, sizeof(cmd), "event %s", json ? "json" : "plain");
	if (optind == argc)
		n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, " ALL");
	for (int i = optind; i < argc; i++) {
		if (strpbrk(argv[i], " \t\r\n") || !*argv[i] || n + strlen(argv[i]) + 4 > sizeof(cmd)) {
			fprintf(stderr, "evcast listen: bad event name \"%s\"\n", argv[i]);
			return CLI_USAGE;
		}
		n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, " %s", argv[i]);
	}
	n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, "\n\n");

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop; /* no SA_RESTART: a blocked recv returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((rc = esl_open(&c, cli->socket_path, "evcast listen")) != CLI_OK)
		return rc;
	{ /* from here the stop signals are delivered only inside esl_recv's ppoll */
		static sigset_t waitmask;
		sigset_t stops;
		sigemptyset(&stops);
		sigaddset(&stops, SIGINT);
		sigaddset(&stops, SIGTERM);
		sigprocmask(SIG_BLOCK, &stops, &waitmask);
		sigdelset(&waitmask, SIGINT);
		sigdelset(&waitmask, SIGTERM);
		c.wait_mask = &waitmask;
	}
	rc = esl_command(&c, cmd, n, &m);
	text = rc > 0 ? evcast_event_get_header(m, "Reply-Text") : NULL;
	if (!text || strncmp(text, "+OK", 3) != 0) {
		fprintf(stderr, "evcast listen: %s\n", text ? text : stop_signal ? "interrupted" : "no reply from the daemon");
		evcast_event_free(m);
		esl_close(&c);
		return stop_signal ? CLI_OK : CLI_FAIL;
	}
	evcast_event_free(m);
	for (;;) {
		const char *ctype, *body;
		size_t blen = 0;
		m = NULL;
		rc = esl_recv(&c, &m);
		if (stop_signal) {
			rc = CLI_OK;
			break;
		}
		if (rc == 0) {
			fprintf(stderr, "evcast listen: connection closed by the daemon\n");
			rc = CLI_FAIL;
			break;
		}
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "evcast listen: %s: %s\n", cli->socket_path,
				rc == EVCAST_EIO ? strerror(errno) : evcast_strerror(rc));
			rc = CLI_FAIL;
			break;
		}
		ctype = evcast_event_get_header(m, "Content-Type");
		body = evcast_event_get_body(m, &blen);
		if (ctype && strcasecmp(ctype, "text/disconnect-notice") == 0) {
			fprintf(stderr, "evcast listen: the daemon ended the session (disconnect notice)\n");
			rc = CLI_FAIL;
			break;
		}
		if (ctype && strncasecmp(ctype, "text/event-", 11) == 0 && body) {
			if ((json ? print_json(body, blen) : print_plain(body, blen)) != 0) {
				rc = CLI_OK; /* stdout closed (EPIPE): the reader is gone, so are we */
				break;
			}
		}
		evcast_event_free(m);
	}
	evcast_event_free(m);
	esl_close(&c);
	return rc;
}
