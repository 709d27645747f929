/*
 * main.c -- the evcast command-line tool: global options and dispatch.
 *
 * Owns the table of commands (name, entry point, one-line summary) and the
 * global -s/--socket PATH option (else $EVCAST_SOCKET, else the default
 * control socket). Each command parses its own options and prints its own
 * --help (cmd_*.c). Exit codes: 0 ok, 1 rejected input or daemon error,
 * 2 usage.
 */
#include "cli.h"
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const struct command {
	const char *name;
	int (*fn)(const cli_t *cli, int argc, char **argv);
	const char *summary;
} commands[] = {
	{"peers", cmd_peers, "show the peer table (legacy multicast_peers text, or --json)"},
	{"send", cmd_send, "fire an event into the daemon"},
	{"listen", cmd_listen, "stream the events the daemon delivers (plain, or --json)"},
	{"encode", cmd_encode, "vector JSON on stdin -> legacy datagram on stdout"},
	{"decode", cmd_decode, "legacy datagram on stdin -> vector JSON on stdout"},
	{"top", cmd_top, "a live per-peer view (rates, states) in the terminal"},
	{"keygen", cmd_keygen, "a new key for protocol v2 (ID:SECRET for v2-keys)"},
	{"api", cmd_api, "run an api command and print its answer"},
	{"stats", cmd_stats, "all counters as JSON"},
	{"reload", cmd_reload, "make the daemon reload its configuration"},
	{"registrations", cmd_registrations, "replicated registrations (table, or --json)"},
	{"locate", cmd_locate, "where USER@REALM is registered: node, node IP, contact"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: evcast [-s PATH] COMMAND [ARGS...]\n"
		   "       evcast COMMAND --help\n\n"
		   "  -s, --socket PATH  the daemon's control socket (default: $EVCAST_SOCKET, else %s)\n"
		   "  -h, --help         this text\n"
		   "  -V, --version      print the version\n\n"
		   "commands:\n",
		EVCAST_DEFAULT_CONTROL_SOCKET);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nexit status: 0 ok, 1 rejected input or daemon error, 2 usage\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	cli_t cli = {NULL};
	const char *env = getenv("EVCAST_SOCKET");
	int opt;
	while ((opt = getopt_long(argc, argv, "+s:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': cli.socket_path = optarg; break;
		case 'h': usage(stdout); return CLI_OK;
		case 'V': printf("evcast %s\n", EVCAST_VERSION); return CLI_OK;
		default: usage(stderr); return CLI_USAGE;
		}
	}
	if (!cli.socket_path)
		cli.socket_path = env && *env ? env : EVCAST_DEFAULT_CONTROL_SOCKET;
	if (optind >= argc) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0) {
		usage(stdout);
		return CLI_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			char **sub = argv + optind;
			int subc = argc - optind;
			optind = 0; /* glibc: restart getopt for the command's own options */
			return commands[i].fn(&cli, subc, sub);
		}
	}
	fprintf(stderr, "evcast: unknown command \"%s\"\n", argv[optind]);
	usage(stderr);
	return CLI_USAGE;
}
