/*
 * cmd_codec.c -- `evcast encode --legacy` and `evcast decode --legacy`: the
 * legacy codec on stdin/stdout, no daemon needed.
 *
 * encode: vector JSON ({"headers": [[name, value], ...], "body": text|null};
 * other keys ignored, so the vector files work) -> one datagram, byte for byte
 * what FreeSWITCH sends (PSK: Blowfish-CBC with --uuid or a random one).
 * decode: one datagram -> the same vector JSON (what a receiver reports); a
 * rejected datagram exits 1 with a one-line reason on stderr.
 */
#include "cli.h"
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_JSON_INPUT (16u * 1024u * 1024u)

/* Reads stdin to the end, up to max bytes; *len = bytes read. NULL on error
 * (message printed) or when the input is larger than max (*len = max + 1). */
static char *read_stdin(size_t max, size_t *len, const char *who)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	if (!buf) {
		fprintf(stderr, "%s: out of memory\n", who);
		return NULL;
	}
	for (;;) {
		ssize_t r;
		if (n == cap) {
			char *nb;
			if (cap > max) {
				*len = max + 1;
				free(buf);
				return NULL;
			}
			if (!(nb = realloc(buf, cap * 2))) {
				fprintf(stderr, "%s: out of memory\n", who);
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(STDIN_FILENO, buf + n, cap - n);
		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "%s: reading stdin: %s\n", who, strerror(errno));
			free(buf);
			return NULL;
		}
		n += (size_t)r;
	}
	if (n > max) {
		*len = max + 1;
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

/* Common options; returns -1 to go on, else an exit code. */
static int codec_opts(int argc, char **argv, bool encode, const char **psk, const char **uuid, const char *help,
		      const char *who)
{
	static const struct option longopts[] = {
		{"legacy", no_argument, NULL, 'L'}, {"psk", required_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},   {"uuid", required_argument, NULL, 'u'},
		{NULL, 0, NULL, 0},
	};
	bool legacy = false;
	int opt;
	while ((opt = getopt_long(argc, argv, encode ? "Lk:u:h" : "Lk:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'L': legacy = true; break;
		case 'k': *psk = optarg; break;
		case 'u':
			if (!encode) {
				fprintf(stderr, "%s: --uuid is for encode only\n", who);
				return CLI_USAGE;
			}
			*uuid = optarg;
			break;
		case 'h': fputs(help, stdout); return CLI_OK;
		default: fputs(help, stderr); return CLI_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\"\n%s", who, argv[optind], help);
		return CLI_USAGE;
	}
	if (!legacy) {
		fprintf(stderr, "%s: say which wire format: --legacy\n%s", who, help);
		return CLI_USAGE;
	}
	if (*psk && !**psk) {
		fprintf(stderr, "%s: --psk must not be empty\n", who);
		return CLI_USAGE;
	}
	if (*uuid && strlen(*uuid) != 36) {
		fprintf(stderr, "%s: --uuid must be 36 characters (8-4-4-4-12)\n", who);
		return CLI_USAGE;
	}
	return -1;
}

int cmd_encode(const cli_t *cli, int argc, char **argv)
{
	static const char help[] =
		"usage: evcast encode --legacy [--psk KEY] [--uuid UUID] < event.json > datagram.bin\n\n"
		"Reads {\"headers\": [[name, value], ...], \"body\": text|null} on stdin (other keys are ignored,\n"
		"so the wire-vector files work) and writes the mod_event_multicast datagram on stdout.\n\n"
		"  --legacy     the legacy mod_event_multicast format\n"
		"  --psk KEY    encrypt with Blowfish-CBC as FreeSWITCH does with a psk\n"
		"  --uuid UUID  the datagram's uuid (PSK mode; default: a random one)\n"
		"  -h, --help   this text\n";
	const char *psk = NULL, *uuid = NULL, *who = "evcast encode";
	evcast_legacy_key_t *key = NULL;
	evcast_event_t *ev = NULL;
	static uint8_t dgram[EVCAST_LEGACY_MAX_DGRAM];
	size_t len = 0;
	char *in;
	int rc = codec_opts(argc, argv, true, &psk, &uuid, help, who);
	if (rc >= 0)
		return rc;
	if (!(in = read_stdin(MAX_JSON_INPUT, &len, who))) {
		if (len > MAX_JSON_INPUT)
			fprintf(stderr, "%s: input larger than %u bytes\n", who, MAX_JSON_INPUT);
		return CLI_FAIL;
	}
	rc = evcast_event_from_vector_json(in, len, &ev);
	free(in);
	if (rc < 0) {
		fprintf(stderr, "%s: stdin is not vector JSON ({\"headers\": [[name, value], ...], \"body\": ...}): %s\n",
			who, evcast_strerror(rc));
		return CLI_FAIL;
	}
	if (psk && (rc = evcast_legacy_key_new(psk, strlen(psk), &key)) < 0) {
		fprintf(stderr, "%s: bad PSK: %s\n", who, evcast_strerror(rc));
		evcast_event_free(ev);
		return CLI_FAIL;
	}
	rc = evcast_legacy_encode(ev, key, uuid, dgram, sizeof(dgram));
	evcast_event_free(ev);
	evcast_legacy_key_free(key);
	if (rc < 0) {
		if (rc == EVCAST_E2BIG)
			fprintf(stderr, "%s: the event does not fit in one datagram (%u bytes max)\n", who,
				EVCAST_LEGACY_MAX_DGRAM);
		else
			fprintf(stderr, "%s: %s\n", who, evcast_strerror(rc));
		return CLI_FAIL;
	}
	if (fwrite(dgram, 1, (size_t)rc, stdout) != (size_t)rc || fflush(stdout) != 0) {
		fprintf(stderr, "%s: writing stdout: %s\n", who, strerror(errno));
		return CLI_FAIL;
	}
	return CLI_OK;
}

int cmd_decode(const cli_t *cli, int argc, char **argv)
{
	static const char help[] =
		"usage: evcast decode --legacy [--psk KEY] < datagram.bin\n\n"
		"Reads one mod_event_multicast datagram on stdin and prints what a receiver reports:\n"
		"{\"headers\": [[name, value], ...], \"body\": text|null}. A rejected datagram (wrong PSK,\n"
		"plaintext while a PSK is set, truncated, no MAGIC, ...) exits 1 with the reason on stderr.\n\n"
		"  --legacy   the legacy mod_event_multicast format\n"
		"  --psk KEY  the pre-shared key the sender used\n"
		"  -h, --help this text\n";
	const char *psk = NULL, *uuid = NULL, *who = "evcast decode";
	evcast_legacy_key_t *key = NULL;
	evcast_event_t *ev = NULL;
	size_t len = 0;
	char *in, *json;
	int rc = codec_opts(argc, argv, false, &psk, &uuid, help, who);
	if (rc >= 0)
		return rc;
	if (!(in = read_stdin(EVCAST_LEGACY_MAX_DGRAM, &len, who))) {
		if (len > EVCAST_LEGACY_MAX_DGRAM)
			fprintf(stderr, "%s: rejected: larger than a UDP datagram (%u bytes)\n", who,
				EVCAST_LEGACY_MAX_DGRAM);
		return CLI_FAIL;
	}
	if (psk && (rc = evcast_legacy_key_new(psk, strlen(psk), &key)) < 0) {
		fprintf(stderr, "%s: bad PSK: %s\n", who, evcast_strerror(rc));
		free(in);
		return CLI_FAIL;
	}
	rc = evcast_legacy_decode((const uint8_t *)in, len, key, &ev);
	free(in);
	evcast_legacy_key_free(key);
	if (rc < 0) {
		fprintf(stderr, "%s: rejected: %s\n", who, evcast_strerror(rc));
		return CLI_FAIL;
	}
	json = evcast_event_to_vector_json(ev);
	evcast_event_free(ev);
	if (!json) {
		fprintf(stderr, "%s: out of memory\n", who);
		return CLI_FAIL;
	}
	rc = printf("%s\n", json) < 0 || fflush(stdout) != 0 ? CLI_FAIL : CLI_OK;
	evcast_free(json);
	return rc;
}
