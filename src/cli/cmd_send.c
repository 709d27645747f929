/*
 * cmd_send.c -- `evcast send NAME [SUBCLASS] [-H 'Name: value']... [--body TEXT]
 *                [--repeat N [--rate EVENTS_PER_S]]`.
 *
 * Builds one `sendevent` block (headers taken literally, as the event socket
 * takes them; the body by Content-Length), prints the daemon's reply
 * ("+OK <Event-UUID>") and exits 1 on -ERR. Headers and values must be one
 * line each: a newline would change the framing, so it is a usage error.
 * --repeat N (1..10,000,000) sends N copies over ONE connection, the i-th with
 * `Evcast-Test-Seq: i`, pipelined (at most WINDOW replies outstanding), paced
 * by --rate when given; it waits for every reply and prints one summary line.
 * Back-pressure: the daemon answers a sendevent only once the node took the
 * event (it stops reading the connection while the node is not writable), so
 * --repeat is paced by the replies: at most WINDOW events are in flight, and
 * what the daemon holds for this connection is one read's worth.
 */
#include "cli.h"
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define REPEAT_MAX 10000000ull
#define RATE_MAX 10000000.0
#define WINDOW 1024u     /* replies outstanding at most */
#define CHUNK 64u        /* sendevent blocks per write */
#define REPLY_WAIT_MS 30000 /* no reply for this long: give up */

static const char help[] =
	"usage: evcast send NAME [SUBCLASS] [-H 'Name: value']... [--body TEXT] [--repeat N [--rate R] [--first K]]\n\n"
	"Fires an event into the daemon (event-socket sendevent): it reaches local listeners and\n"
	"goes to the group when the bindings select it. SUBCLASS sets Event-Subclass (for CUSTOM).\n"
	"Prints the daemon's answer, \"+OK <Event-UUID>\".\n\n"
	"  -H, --header 'Name: value'  add a header (repeatable; value taken literally)\n"
	"  -b, --body TEXT             the event body\n"
	"  -n, --repeat N              send N events (1..10000000) over one connection, the i-th with\n"
	"                              the header 'Evcast-Test-Seq: i'; pipelined, waits for every\n"
	"                              reply; prints one summary line instead of the replies\n"
	"  -r, --rate EVENTS_PER_S     with --repeat: pace the events at this rate (default: as fast\n"
	"                              as the daemon answers)\n"
	"  -f, --first K               with --repeat: number from K (default 1), so several runs make\n"
	"                              one sequence\n"
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

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One reply of the pipeline: counts it, remembers the first -ERR. */
static void take_reply(evcast_event_t *m, uint64_t *acked, uint64_t *failed, char *first_err, size_t cap)
{
	const char *ct = evcast_event_get_header(m, "Content-Type");
	const char *text = evcast_event_get_header(m, "Reply-Text");
	if (!ct || strcasecmp(ct, "command/reply") != 0)
		return; /* not a reply (an event): not counted */
	(*acked)++;
	if (!text || strncmp(text, "+OK", 3) != 0) {
		if (!(*failed)++)
			snprintf(first_err, cap, "%s", text ? text : "unexpected reply");
	}
}

/* --repeat: N sendevent blocks (head, "Evcast-Test-Seq: i", tail) over one
 * connection, at most WINDOW unanswered, paced at rate (0: unpaced). */
static int send_repeat(const cli_t *cli, const buf_t *head, const buf_t *tail, uint64_t n, uint64_t first,
		       double rate)
{
	esl_client_t c;
	buf_t out = {0};
	char num[48], first_err[256] = "";
	uint64_t sent = 0, acked = 0, failed = 0;
	double t0, dt;
	int rc = CLI_FAIL;
	if (esl_open(&c, cli->socket_path, "evcast send") != CLI_OK)
		return CLI_FAIL;
	t0 = mono_s();
	while (acked < n) {
		/* 1. send what the window and the pace allow */
		uint64_t allow = n - sent, room = WINDOW - (sent - acked);
		if (room < allow)
			allow = room;
		if (rate > 0) {
			double due = (mono_s() - t0) * rate + 1.0;
			uint64_t d = due >= (double)n ? n : (uint64_t)due;
			allow = d > sent ? (d - sent < allow ? d - sent : allow) : 0;
		}
		if (allow > CHUNK)
			allow = CHUNK;
		if (allow > 0) {
			out.len = 0;
			for (uint64_t i = 0; i < allow; i++) {
				int k = snprintf(num, sizeof(num), "Evcast-Test-Seq: %llu\n",
						 (unsigned long long)(first + sent + i));
				if (put(&out, head->s, head->len) < 0 || put(&out, num, (size_t)k) < 0 ||
				    put(&out, tail->s, tail->len) < 0) {
					fprintf(stderr, "evcast send: out of memory\n");
					goto done;
				}
			}
			if (esl_send(&c, out.s, out.len) < 0) {
				fprintf(stderr, "evcast send: %s: write failed after %llu events: %s\n", cli->socket_path,
					(unsigned long long)sent, strerror(errno));
				goto done;
			}
			sent += allow;
		}
		/* 2. take the replies already parsed or readable; block only when the
		 * window is full or everything is sent, else wait until the next due time */
		evcast_event_t *m = NULL;
		int r;
		while ((r = evcast_esl_parser_next(c.parser, &m)) == 1) {
			take_reply(m, &acked, &failed, first_err, sizeof(first_err));
			evcast_event_free(m);
			m = NULL;
		}
		if (r < 0) {
			fprintf(stderr, "evcast send: %s: bad reply framing: %s\n", cli->socket_path, evcast_strerror(r));
			goto done;
		}
		if (acked >= n)
			break;
		int wait_ms = 0;
		if (sent == n || sent - acked >= WINDOW)
			wait_ms = REPLY_WAIT_MS;
		else if (rate > 0 && allow == 0) {
			double next = t0 + (double)(sent + 1) / rate - mono_s();
			wait_ms = next > 0 ? (int)(next * 1000.0) + 1 : 0;
		}
		struct pollfd pfd = {.fd = c.fd, .events = POLLIN};
		int pr = poll(&pfd, 1, wait_ms);
		if (pr < 0 && errno != EINTR) {
			fprintf(stderr, "evcast send: poll: %s\n", strerror(errno));
			goto done;
		}
		if (pr == 0 && wait_ms == REPLY_WAIT_MS) {
			fprintf(stderr, "evcast send: %s: no reply for %d s (%llu of %llu answered)\n", cli->socket_path,
				REPLY_WAIT_MS / 1000, (unsigned long long)acked, (unsigned long long)n);
			goto done;
		}
		if (pr > 0) {
			char rbuf[65536];
			ssize_t got = recv(c.fd, rbuf, sizeof(rbuf), 0);
			if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) {
				fprintf(stderr, "evcast send: %s: connection lost after %llu of %llu replies\n",
					cli->socket_path, (unsigned long long)acked, (unsigned long long)n);
				goto done;
			}
			if (got > 0 && (r = evcast_esl_parser_feed(c.parser, rbuf, (size_t)got)) < 0) {
				fprintf(stderr, "evcast send: %s: bad reply framing: %s\n", cli->socket_path,
					evcast_strerror(r));
				goto done;
			}
		}
	}
	dt = mono_s() - t0;
	if (failed) {
		fprintf(stderr, "evcast send: %llu of %llu events refused; first: %s\n", (unsigned long long)failed,
			(unsigned long long)n, first_err);
	} else {
		printf("+OK sent %llu events in %.3f s (%.0f events/s)\n", (unsigned long long)n, dt,
		       dt > 0 ? (double)n / dt : 0.0);
		rc = fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
	}
done:
	(void)esl_send(&c, "exit\n\n", 6);
	esl_close(&c);
	free(out.s);
	return rc;
}

int cmd_send(const cli_t *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"header", required_argument, NULL, 'H'},
		{"body", required_argument, NULL, 'b'},
		{"repeat", required_argument, NULL, 'n'},
		{"rate", required_argument, NULL, 'r'},
		{"first", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *body = NULL, *name, *sub = NULL, *text;
	buf_t hdrs = {0}, msg = {0}, tail = {0};
	unsigned long long repeat = 0, first = 1;
	double rate = 0;
	char *end;
	esl_client_t c;
	evcast_event_t *reply = NULL;
	char num[32];
	int opt, rc = CLI_USAGE;
	while ((opt = getopt_long(argc, argv, "H:b:n:r:f:h", longopts, NULL)) != -1) {
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
		case 'n':
			errno = 0;
			repeat = strtoull(optarg, &end, 10);
			if (errno || *end || optarg[0] < '0' || optarg[0] > '9' || repeat < 1 || repeat > REPEAT_MAX) {
				fprintf(stderr, "evcast send: --repeat \"%s\": expected a count 1..%llu\n", optarg,
					REPEAT_MAX);
				goto out;
			}
			break;
		case 'f':
			errno = 0;
			first = strtoull(optarg, &end, 10);
			if (errno || *end || optarg[0] < '0' || optarg[0] > '9' || first > UINT64_MAX / 2) {
				fprintf(stderr, "evcast send: --first \"%s\": expected a number\n", optarg);
				goto out;
			}
			break;
		case 'r':
			errno = 0;
			rate = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(rate > 0) || rate > RATE_MAX) {
				fprintf(stderr, "evcast send: --rate \"%s\": expected events per second, > 0 and <= %.0f\n",
					optarg, RATE_MAX);
				goto out;
			}
			break;
		case 'h': fputs(help, stdout); rc = CLI_OK; goto out;
		default: fputs(help, stderr); goto out;
		}
	}
	if (optind >= argc || argc - optind > 2) {
		fprintf(stderr, "evcast send: %s\n%s", optind >= argc ? "missing NAME" : "too many arguments", help);
		goto out;
	}
	if ((rate > 0 || first != 1) && !repeat) {
		fprintf(stderr, "evcast send: --rate and --first need --repeat\n");
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
	/* tail: the body by Content-Length, or the blank line ending the block */
	if (body && *body) {
		snprintf(num, sizeof(num), "%zu", strlen(body));
		if (puts_(&tail, "Content-Length: ") < 0 || puts_(&tail, num) < 0 || puts_(&tail, "\n\n") < 0 ||
		    puts_(&tail, body) < 0)
			goto oom;
	} else if (puts_(&tail, "\n") < 0) {
		goto oom;
	}
	if (repeat) {
		rc = send_repeat(cli, &msg, &tail, repeat, first, rate);
		goto out;
	}
	if (put(&msg, tail.s, tail.len) < 0)
		goto oom;
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
	free(tail.s);
	return rc;
}
