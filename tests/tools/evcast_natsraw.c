/*
 * evcast_natsraw.c -- test tool: a raw NATS client (libnats) for
 * tests/integration/it_nats_secure.sh, standing where a NATS operator or an
 * attacker with NATS credentials stands: it sees payloads, and publishes any.
 *
 *   evcast_natsraw [--token T] [--user U --password P] [--ca FILE] URL sub SUBJECT OUT COUNT SECONDS
 *       subscribes; prints "ready" once the subscription is on the server; each
 *       message goes to OUT.N (payload bytes) and OUT.N.subject; exits after
 *       COUNT messages (0) or SECONDS (1 when fewer arrived).
 *   evcast_natsraw [...] URL pub SUBJECT FILE
 *       publishes FILE's bytes on SUBJECT, flushed.
 * Exit: 0 done, 1 failure (message on stderr), 2 usage. Test-only: never installed.
 */
#include <nats/nats.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
	fprintf(stderr, "usage: evcast_natsraw [--token T] [--user U --password P] [--ca FILE] URL "
			"sub SUBJECT OUT COUNT SECONDS | pub SUBJECT FILE\n");
	return 2;
}

static int fail(const char *what, natsStatus s)
{
	fprintf(stderr, "evcast_natsraw: %s: %s (%s)\n", what, natsStatus_GetText(s), nats_GetLastError(NULL));
	return 1;
}

static int sub(natsConnection *nc, const char *subject, const char *out, long count, long secs)
{
	natsSubscription *sb = NULL;
	natsStatus s = natsConnection_SubscribeSync(&sb, nc, subject);
	if (s == NATS_OK)
		s = natsConnection_Flush(nc);
	if (s != NATS_OK)
		return fail("subscribe", s);
	printf("ready\n");
	fflush(stdout);
	int64_t deadline = nats_Now() + secs * 1000;
	long got = 0;
	while (got < count && nats_Now() < deadline) {
		natsMsg *m = NULL;
		s = natsSubscription_NextMsg(&m, sb, deadline - nats_Now());
		if (s == NATS_TIMEOUT)
			break;
		if (s != NATS_OK)
			return fail("next message", s);
		char path[4096];
		FILE *f;
		snprintf(path, sizeof(path), "%s.%ld", out, got);
		if (!(f = fopen(path, "wb")) || fwrite(natsMsg_GetData(m), 1, (size_t)natsMsg_GetDataLength(m), f) !=
							(size_t)natsMsg_GetDataLength(m)) {
			perror(path);
			return 1;
		}
		fclose(f);
		snprintf(path, sizeof(path), "%s.%ld.subject", out, got);
		if (!(f = fopen(path, "w"))) {
			perror(path);
			return 1;
		}
		fprintf(f, "%s\n", natsMsg_GetSubject(m));
		fclose(f);
		natsMsg_Destroy(m);
		got++;
	}
	natsSubscription_Destroy(sb);
	return got < count ? 1 : 0;
}

static int pub(natsConnection *nc, const char *subject, const char *file)
{
	static char buf[2 * 1024 * 1024];
	FILE *f = fopen(file, "rb");
	if (!f) {
		perror(file);
		return 1;
	}
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	natsStatus s = natsConnection_Publish(nc, subject, buf, (int)n);
	if (s == NATS_OK)
		s = natsConnection_Flush(nc);
	return s == NATS_OK ? 0 : fail("publish", s);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"token", 1, 0, 't'}, {"user", 1, 0, 'u'}, {"password", 1, 0, 'p'},
					   {"ca", 1, 0, 'c'},    {0, 0, 0, 0}};
	const char *token = NULL, *user = NULL, *pass = NULL, *ca = NULL;
	natsOptions *o = NULL;
	natsConnection *nc = NULL;
	natsStatus s;
	int c, rc;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 't')
			token = optarg;
		else if (c == 'u')
			user = optarg;
		else if (c == 'p')
			pass = optarg;
		else if (c == 'c')
			ca = optarg;
		else
			return usage();
	}
	argc -= optind;
	argv += optind;
	if (argc < 3 || (strcmp(argv[1], "sub") == 0 ? argc != 6 : strcmp(argv[1], "pub") != 0 || argc != 4))
		return usage();
	s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetURL(o, argv[0]);
	if (s == NATS_OK && token)
		s = natsOptions_SetToken(o, token);
	if (s == NATS_OK && user)
		s = natsOptions_SetUserInfo(o, user, pass ? pass : "");
	if (s == NATS_OK && ca)
		s = natsOptions_SetSecure(o, true);
	if (s == NATS_OK && ca)
		s = natsOptions_LoadCATrustedCertificates(o, ca);
	if (s == NATS_OK)
		s = natsConnection_Connect(&nc, o);
	if (s != NATS_OK)
		return fail("connect", s);
	if (strcmp(argv[1], "sub") == 0)
		rc = sub(nc, argv[2], argv[3], strtol(argv[4], NULL, 10), strtol(argv[5], NULL, 10));
	else
		rc = pub(nc, argv[2], argv[3]);
	natsConnection_Close(nc);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(o);
	nats_Close();
	return rc;
}
