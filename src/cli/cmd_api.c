/*
 * cmd_api.c -- `evcast peers`, `evcast api`, `evcast stats`, `evcast reload`:
 * the commands that are one api call to the daemon, its answer on stdout.
 *
 * peers [--json] -> api multicast_peers [json]; api CMD [ARGS...] -> api CMD ARGS;
 * stats -> api evcast_stats; reload -> api evcast_reload. An answer starting
 * with "-ERR" (or "-USAGE") is printed and exits 1.
 */
#include "cli.h"
#include <getopt.h>
#include <string.h>

/* Parses only --help (and --json when json is non-NULL); returns -1 to go on. */
static int simple_opts(int argc, char **argv, bool *json, const char *help)
{
	static const struct option with_json[] = {
		{"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	int opt;
	while ((opt = getopt_long(argc, argv, json ? "+jh" : "+h", with_json + (json ? 0 : 1), NULL)) != -1) {
		switch (opt) {
		case 'j': *json = true; break;
		case 'h': fputs(help, stdout); return CLI_OK;
		default: fputs(help, stderr); return CLI_USAGE;
		}
	}
	return -1;
}

int cmd_peers(const cli_t *cli, int argc, char **argv)
{
	static const char help[] = "usage: evcast peers [--json]\n\n"
				   "The daemon's peer table: the legacy multicast_peers text (module state, destinations,\n"
				   "one line per peer \"Peer NAME UP|DOWN; last seen N seconds ago\"), or with --json the\n"
				   "state, node, destinations, peers and counters as one JSON object.\n";
	bool json = false;
	int rc = simple_opts(argc, argv, &json, help);
	if (rc >= 0)
		return rc;
	if (optind != argc) {
		fprintf(stderr, "evcast peers: unexpected argument \"%s\"\n%s", argv[optind], help);
		return CLI_USAGE;
	}
	return cli_api_print(cli, "evcast peers", json ? "multicast_peers json" : "multicast_peers");
}

int cmd_api(const cli_t *cli, int argc, char **argv)
{
	static const char help[] = "usage: evcast api COMMAND [ARGS...]\n\n"
				   "Runs an api command on the daemon (as `api` on the event socket) and prints the\n"
				   "answer. `evcast api help` lists the commands.\n";
	char line[4096];
	size_t n = 0;
	int rc = simple_opts(argc, argv, NULL, help);
	if (rc >= 0)
		return rc;
	if (optind >= argc) {
		fprintf(stderr, "evcast api: missing COMMAND\n%s", help);
		return CLI_USAGE;
	}
	line[0] = '\0';
	for (int i = optind; i < argc; i++) {
		size_t len = strlen(argv[i]);
		if (strpbrk(argv[i], "\r\n") || n + len + 2 > sizeof(line)) {
			fprintf(stderr, "evcast api: arguments must be one line of less than %zu bytes\n", sizeof(line));
			return CLI_USAGE;
		}
		if (n)
			line[n++] = ' ';
		memcpy(line + n, argv[i], len + 1);
		n += len;
	}
	return cli_api_print(cli, "evcast api", line);
}

int cmd_stats(const cli_t *cli, int argc, char **argv)
{
	static const char help[] = "usage: evcast stats\n\n"
				   "Every counter of the daemon (transmit, receive, drops per reason, peers, reloads,\n"
				   "control connections) as one JSON object.\n";
	int rc = simple_opts(argc, argv, NULL, help);
	if (rc >= 0)
		return rc;
	if (optind != argc) {
		fprintf(stderr, "evcast stats: unexpected argument \"%s\"\n%s", argv[optind], help);
		return CLI_USAGE;
	}
	return cli_api_print(cli, "evcast stats", "evcast_stats");
}

int cmd_reload(const cli_t *cli, int argc, char **argv)
{
	static const char help[] = "usage: evcast reload\n\n"
				   "Makes the daemon re-read its configuration file (as SIGHUP): applied only when the\n"
				   "file changed; a broken file is rejected (exit 1, the reason printed) and the running\n"
				   "configuration stays.\n";
	int rc = simple_opts(argc, argv, NULL, help);
	if (rc >= 0)
		return rc;
	if (optind != argc) {
		fprintf(stderr, "evcast reload: unexpected argument \"%s\"\n%s", argv[optind], help);
		return CLI_USAGE;
	}
	return cli_api_print(cli, "evcast reload", "evcast_reload");
}
