/*
 * cmd_keygen.c -- `evcast keygen [--id N]`: a fresh v2 key line "ID:SECRET"
 * (32 random bytes from libsodium, base64) for a v2-keys-file line or the
 * v2-keys param. No daemon.
 */
#include "cli.h"
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char keygen_help[] =
	"usage: evcast keygen [--id N]\n"
	"\n"
	"Prints a new key for evcast wire protocol v2 as ID:SECRET (SECRET is the\n"
	"base64 of 32 random bytes). Keep it in a keys file, one key per line,\n"
	"mode 0600, the same file on every node:\n"
	"  (umask 077; evcast keygen > /etc/evcast/v2.keys)\n"
	"  <param name=\"v2-keys-file\" value=\"v2.keys\"/>\n"
	"(or inline: <param name=\"v2-keys\" value=\"ID:SECRET\"/>).\n"
	"To rotate: add the new key everywhere, make it the primary everywhere (the\n"
	"first line of the file, or v2-primary-key), then remove the old one, with a\n"
	"reload after each step (docs/PROTOCOL.md, section 3.1).\n"
	"\n"
	"  --id N    key id, 1..4294967295 (default 1)\n"
	"  --help    this text\n";

int cmd_keygen(const cli_t *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"id", required_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	unsigned long id = 1;
	char *end;
	int opt;
	(void)cli;
	while ((opt = getopt_long(argc, argv, "i:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			id = strtoul(optarg, &end, 10);
			if (*end || id == 0 || id > 4294967295ul || optarg[0] == '-') {
				fprintf(stderr, "evcast keygen: --id %s: not a key id (1..4294967295)\n", optarg);
				return 2;
			}
			break;
		case 'h':
			fputs(keygen_help, stdout);
			return 0;
		default:
			fputs(keygen_help, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "evcast keygen: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	char line[EVCAST_V2_KEYGEN_LEN];
	int r = evcast_v2_keygen((uint32_t)id, line, sizeof(line));
	if (r < 0) {
		fprintf(stderr, "evcast keygen: %s\n", evcast_strerror(r));
		return 1;
	}
	printf("%s\n", line);
	return 0;
}
