/*
 * cmd_reg.c -- `evcast registrations` and `evcast locate`: queries of the
 * daemon's replicated registration store (docs/REGISTRATIONS.md).
 *
 * registrations [--user U] [--realm R] [--node N] [--json]
 *   -> api show registrations [as json] [user=U] [realm=R] [node=N]
 * locate USER@REALM -> api evcast_locate USER@REALM: one line per live
 *   registration, "NODE NODE_IP CONTACT", newest first; exit 1 when not found.
 * Values are single words (no blanks): the api line is split on blanks.
 */
#include "cli.h"
#include <getopt.h>
#include <string.h>

static bool one_word(const char *who, const char *v)
{
	if (!*v || strpbrk(v, " \t\r\n")) {
		fprintf(stderr, "%s: \"%s\": values must be one non-empty word\n", who, v);
		return false;
	}
	return true;
}

int cmd_registrations(const cli_t *cli, int argc, char **argv)
{
	static const char help[] =
		"usage: evcast registrations [--user U] [--realm R] [--node N] [--json]\n\n"
		"The registrations the cluster knows (every node's, replicated), as FreeSWITCH's\n"
		"`show registrations` table (reg_user,realm,token,url,expires,...,hostname = owning node,\n"
		"node_ip,profile,status) or with --json as {\"row_count\":N,\"rows\":[...],\"stats\":{...}}.\n"
		"--user/--realm/--node keep only the matching rows.\n";
	static const struct option opts[] = {{"user", required_argument, NULL, 'u'},
					     {"realm", required_argument, NULL, 'r'},
					     {"node", required_argument, NULL, 'n'},
					     {"json", no_argument, NULL, 'j'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	const char *user = NULL, *realm = NULL, *node = NULL;
	bool json = false;
	char line[1024];
	int opt;
	while ((opt = getopt_long(argc, argv, "+u:r:n:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'u': user = optarg; break;
		case 'r': realm = optarg; break;
		case 'n': node = optarg; break;
		case 'j': json = true; break;
		case 'h': fputs(help, stdout); return CLI_OK;
		default: fputs(help, stderr); return CLI_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "evcast registrations: unexpected argument \"%s\"\n%s", argv[optind], help);
		return CLI_USAGE;
	}
	if ((user && !one_word("evcast registrations", user)) || (realm && !one_word("evcast registrations", realm)) ||
	    (node && !one_word("evcast registrations", node)))
		return CLI_USAGE;
	if ((size_t)snprintf(line, sizeof(line), "show registrations%s%s%s%s%s%s%s", json ? " as json" : "",
			     user ? " user=" : "", user ? user : "", realm ? " realm=" : "", realm ? realm : "",
			     node ? " node=" : "", node ? node : "") >= sizeof(line)) {
		fprintf(stderr, "evcast registrations: arguments too long\n");
		return CLI_USAGE;
	}
	return cli_api_print(cli, "evcast registrations", line);
}

int cmd_locate(const cli_t *cli, int argc, char **argv)
{
	static const char help[] = "usage: evcast locate USER@REALM\n\n"
				   "Where USER@REALM is registered in the cluster: one line per live registration,\n"
				   "\"NODE NODE_IP CONTACT\", newest first. Exit status 1 when it is not registered.\n";
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	char line[1024];
	int opt;
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(help, stdout);
			return CLI_OK;
		}
		fputs(help, stderr);
		return CLI_USAGE;
	}
	if (optind + 1 != argc || !strchr(argv[optind], '@')) {
		fprintf(stderr, "evcast locate: expected one USER@REALM\n%s", help);
		return CLI_USAGE;
	}
	if (!one_word("evcast locate", argv[optind]))
		return CLI_USAGE;
	if ((size_t)snprintf(line, sizeof(line), "evcast_locate %s", argv[optind]) >= sizeof(line)) {
		fprintf(stderr, "evcast locate: argument too long\n");
		return CLI_USAGE;
	}
	return cli_api_print(cli, "evcast locate", line);
}
