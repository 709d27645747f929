/*
 * cmd_send.c -- `evcast send NAME [SUBCLASS] [-H 'Name: value']... [--body TEXT]`.
 *
 * Builds one `sendevent` block (headers taken literally, as the event socket
 * takes them; the body by Content-Length), prints the daemon's reply
 * ("+OK <Event-UUID>") and exits 1 on -ERR. Headers and values must be one
 * line each: a newline would change the framing, so it is a usage error.
 */
#include "cli.h"
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
	"usage: evcast send NAME [SUBCLASS] [-H 'Name: value']... [--body TEXT]\n\n"
	"Fires an event into the daemon (event-socket sendevent): it reaches local listeners and\n"
	"goes to the group when the bindings select it. SUBCLASS sets Event-Subclass (for CUSTOM).\n"
	"Prints the daemon's answer, \"+OK <Event-UUID>\".\n\n"
	"  -H, --header 'Name: value'  add a header (repeatable; value taken literally)\n"
	"  -b, --body TEXT             the event body\n"
	"  -h, --help                  this text\n";

typedef struct buf {
	char *s;
	size_t len, cap;
} buf_t;

static int put(buf_t *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		char *p;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(p = realloc(b->s, cap)))
			return -1;
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
	return 0;
}

static int puts_(buf_t *b, const char *s) { return put(b, s, strlen(s)); }

/* "Name: value" or "Name:value": name without blanks or control bytes. */
static bool header_ok(const char *h)
{
	const char *colon = strchr(h, ':');
	if (!colon || colon == h || strpbrk(h, "\r\n"))
		return false;
	for (const char *p = h; p < colon; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

int cmd_send(const cli_t *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"header", required_argument, NULL, 'H'},
		{"body", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *body = NULL, *name, *sub = NULL, *text;
	buf_t hdrs = {0}, msg = {0};
	esl_client_t c;
	evcast_event_t *reply = NULL;
	char num[32];
	int opt, rc = CLI_USAGE;
	while ((opt = getopt_long(argc, argv, "H:b:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'H':
			if (!header_ok(optarg)) {
				fprintf(stderr, "evcast send: bad header \"%s\": expected 'Name: value' on one line\n",
					optarg);
				goto out;
			}
			if (puts_(&hdrs, optarg) < 0 || puts_(&hdrs, "\n") < 0)
				goto oom;
			break;
		case 'b': body = optarg; break;
		case 'h': fputs(help, stdout); rc = CLI_OK; goto out;
		default: fputs(help, stderr); goto out;
		}
	}
	if (optind >= argc || argc - optind > 2) {
		fprintf(stderr, "evcast send: %s\n%s", optind >= argc ? "missing NAME" : "too many arguments", help);
		goto out;
	}
	name = argv[optind];
	if (optind + 1 < argc)
		sub = argv[optind + 1];
	if (strpbrk(name, " \t\r\n") || !*name || (sub && (strpbrk(sub, "\r\n") || !*sub))) {
		fprintf(stderr, "evcast send: NAME and SUBCLASS must be single words\n");
		goto out;
	}
	if (puts_(&msg, "sendevent ") < 0 || puts_(&msg, name) < 0 || puts_(&msg, "\n") < 0)
		goto oom;
	if (sub && (puts_(&msg, "Event-Subclass: ") < 0 || puts_(&msg, sub) < 0 || puts_(&msg, "\n") < 0))
		goto oom;
	if (hdrs.len && put(&msg, hdrs.s, hdrs.len) < 0)
		goto oom;
	if (body && *body) {
		snprintf(num, sizeof(num), "%zu", strlen(body));
		if (puts_(&msg, "Content-Length: ") < 0 || puts_(&msg, num) < 0 || puts_(&msg, "\n\n") < 0 ||
		    puts_(&msg, body) < 0)
			goto oom;
	} else if (puts_(&msg, "\n") < 0) {
		goto oom;
	}
	if ((rc = esl_open(&c, cli->socket_path, "evcast send")) != CLI_OK)
		goto out;
	if (esl_command(&c, msg.s, msg.len, &reply) <= 0) {
		fprintf(stderr, "evcast send: %s: no reply from the daemon\n", cli->socket_path);
		rc = CLI_FAIL;
	} else {
		text = evcast_event_get_header(reply, "Reply-Text");
		if (text && strncmp(text, "+OK", 3) == 0) {
			printf("%s\n", text);
			rc = fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
		} else {
			fprintf(stderr, "evcast send: %s\n", text ? text : "unexpected reply");
			rc = CLI_FAIL;
		}
	}
	(void)esl_send(&c, "exit\n\n", 6);
	esl_close(&c);
	evcast_event_free(reply);
	goto out;
oom:
	fprintf(stderr, "evcast send: out of memory\n");
	rc = CLI_FAIL;
out:
	free(hdrs.s);
	free(msg.s);
	return rc;
}
