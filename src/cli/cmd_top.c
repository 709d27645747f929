/*
 * cmd_top.c -- `evcast top`: a live per-peer view of the daemon in the terminal.
 *
 * Polls `api multicast_peers json` on one connection every --interval seconds
 * and redraws: the node, its protocol, rx/tx and drop rates (deltas of the
 * counters), then one row per peer with its state, last sighting, events and
 * event rate. On a terminal the screen is cleared between frames; piped, each
 * frame is printed after the last (so scripts and tests can read it). Ends on
 * Ctrl-C, when the daemon goes away, or after --count frames.
 */
#include "cli.h"
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOP_MAX_PEERS 256

static const char top_help[] =
	"usage: evcast top [--interval SECONDS] [--count N]\n"
	"\n"
	"A live view of the daemon: node, protocol, receive/send/drop rates, and one row\n"
	"per peer (state, last seen, events received, events/s, protocol, address).\n"
	"\n"
	"  -i, --interval S   seconds between frames (default 1; 0.1 to 3600)\n"
	"  -n, --count N      stop after N frames (default: until Ctrl-C)\n"
	"  -h, --help         this text\n";

static volatile sig_atomic_t top_stop;
static void on_sigint(int sig) { (void)sig; top_stop = 1; }

typedef struct prev_peer {
	char name[64];
	double events;
} prev_peer_t;

typedef struct top_state {
	double rx, tx, drops, t;
	prev_peer_t peers[TOP_MAX_PEERS];
	size_t npeers;
	bool have_prev;
} top_state_t;

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double drops_total(const cJSON *st)
{
	static const char *keys[] = {"drop_empty", "drop_trunc", "drop_nomagic", "drop_psk", "drop_plain",
				     "drop_parse", "drop_nomem", "drop_oversize", "v2_drops_total"};
	double d = 0;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		d += num(st, keys[i]);
	return d;
}

static double prev_events(const top_state_t *s, const char *name)
{
	for (size_t i = 0; i < s->npeers; i++)
		if (strcmp(s->peers[i].name, name) == 0)
			return s->peers[i].events;
	return -1;
}

/* s made safe for the terminal (peer names come from the network: an ESC or
 * a newline in one must not reach the screen), in buf; cap 25 shows at most
 * 24 bytes, cut at a whole character with "...". */
static const char *safe(const char *s, char *buf, size_t cap)
{
	evcast_escape_text(s, buf, cap);
	return buf;
}

static void render(const cJSON *j, top_state_t *s, bool tty)
{
	char e[4][128];
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "stats");
	double t = now_s(), dt = s->have_prev ? t - s->t : 0;
	double rx = num(st, "rx_events"), tx = num(st, "tx_events") + num(st, "v2_tx_events"), dr = drops_total(st);
	if (tty)
		fputs("\033[H\033[2J", stdout);
	printf("evcast top -- node %s (%s, %s), %s\n", safe(str(j, "node"), e[0], sizeof(e[0])),
	       safe(str(j, "protocol"), e[1], sizeof(e[1])), safe(str(j, "security"), e[2], sizeof(e[2])),
	       safe(str(j, "state"), e[3], sizeof(e[3])));
	if (dt > 0)
		printf("rx %.0f ev/s   tx %.0f ev/s   drops %.0f/s   (totals: rx %.0f, tx %.0f, drops %.0f)\n",
		       (rx - s->rx) / dt, (tx - s->tx) / dt, (dr - s->drops) / dt, rx, tx, dr);
	else
		printf("rx %.0f   tx %.0f   drops %.0f events (rates from the next frame)\n", rx, tx, dr);
	printf("\n%-24s %-5s %9s %12s %9s %-7s %s\n", "PEER", "STATE", "LAST SEEN", "EVENTS", "EV/S", "PROTO",
	       "ADDRESS");
	const cJSON *peers = cJSON_GetObjectItemCaseSensitive(j, "peers"), *p;
	top_state_t next = {.rx = rx, .tx = tx, .drops = dr, .t = t, .have_prev = true};
	size_t shown = 0;
	cJSON_ArrayForEach(p, peers)
	{
		const char *name = str(p, "name");
		double ev = num(p, "events_rx"), before = prev_events(s, name);
		char rate[32] = "-";
		if (dt > 0 && before >= 0)
			snprintf(rate, sizeof(rate), "%.0f", (ev - before) / dt);
		printf("%-24s %-5s %8.0fs %12.0f %9s %-7s %s\n", safe(name, e[0], 25), safe(str(p, "status"), e[1], 8),
		       num(p, "last_seen_ago"), ev, rate, safe(str(p, "protocol"), e[2], sizeof(e[2])),
		       safe(str(p, "address"), e[3], sizeof(e[3])));
		if (next.npeers < TOP_MAX_PEERS) {
			snprintf(next.peers[next.npeers].name, sizeof(next.peers[0].name), "%s", name);
			next.peers[next.npeers++].events = ev;
		}
		shown++;
	}
	if (!shown)
		printf("(no peers seen yet)\n");
	*s = next;
	fflush(stdout);
}

int cmd_top(const cli_t *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"interval", required_argument, NULL, 'i'},
		{"count", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	double interval = 1;
	long count = -1;
	char *end;
	int opt;
	while ((opt = getopt_long(argc, argv, "+i:n:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			interval = strtod(optarg, &end);
			if (*end || !(interval >= 0.1 && interval <= 3600)) {
				fprintf(stderr, "evcast top: --interval %s: not 0.1 to 3600 seconds\n", optarg);
				return CLI_USAGE;
			}
			break;
		case 'n':
			count = strtol(optarg, &end, 10);
			if (*end || count < 1) {
				fprintf(stderr, "evcast top: --count %s: not a positive number\n", optarg);
				return CLI_USAGE;
			}
			break;
		case 'h': fputs(top_help, stdout); return CLI_OK;
		default: fputs(top_help, stderr); return CLI_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "evcast top: unexpected argument \"%s\"\n%s", argv[optind], top_help);
		return CLI_USAGE;
	}
	esl_client_t c;
	if (esl_open(&c, cli->socket_path, "evcast top") != CLI_OK)
		return CLI_FAIL;
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	bool tty = isatty(STDOUT_FILENO);
	static top_state_t st;
	int rc = CLI_OK;
	for (long frame = 0; !top_stop && (count < 0 || frame < count); frame++) {
		evcast_event_t *m = NULL;
		static const char cmd[] = "api multicast_peers json\n\n";
		if (esl_command(&c, cmd, sizeof(cmd) - 1, &m) <= 0) {
			if (!top_stop) {
				fprintf(stderr, "evcast top: %s: the daemon went away\n", cli->socket_path);
				rc = CLI_FAIL;
			}
			break;
		}
		size_t blen = 0;
		const char *body = evcast_event_get_body(m, &blen);
		cJSON *j = body ? cJSON_ParseWithLength(body, blen) : NULL;
		if (!j) {
			fprintf(stderr, "evcast top: the daemon's answer is not JSON\n");
			evcast_event_free(m);
			rc = CLI_FAIL;
			break;
		}
		render(j, &st, tty);
		cJSON_Delete(j);
		evcast_event_free(m);
		if (count >= 0 && frame + 1 >= count)
			break;
		if (!tty)
			putchar('\n');
		struct timespec ts = {(time_t)interval, (long)(fmod(interval, 1.0) * 1e9)};
		nanosleep(&ts, NULL);
	}
	(void)esl_send(&c, "exit\n\n", 6);
	esl_close(&c);
	return rc;
}
