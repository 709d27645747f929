/*
 * test_config_files.c -- config.c on files (evcast_config_load): the digest
 * and its stability, a FIFO refused, the shipped etc files, the fuzz corpus
 * parsed without a crash. Helpers and the counting allocator (every test
 * frees all it allocated) are config_fixture.h's, as in test_config.c.
 */
#include "config_fixture.h"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* etc/evcast.conf.xml names v2-keys-file "v2.keys" (make run creates it): a copy
 * in a new directory tmpdir, with a fresh keys file (test_v2keys_file.c checks it seals). */
static void shipped_copy(char *path, size_t cap, char *tmpdir)
{
	char key[EVCAST_V2_KEYGEN_LEN], cmd[1200];
	strcpy(tmpdir, "/tmp/evcast_etc_XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	assert_true(evcast_v2_keygen(1, key, sizeof(key)) > 0);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s/' && umask 077 && echo '%s' >'%s/v2.keys'", path, tmpdir, key, tmpdir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, cap, "%s/evcast.conf.xml", tmpdir);
}

static void test_load_and_digest(void **state)
{
	const char *v1 = "<configuration name=\"event_multicast.conf\"><settings>\n"
			 "<param name=\"port\" value=\"5000\"/></settings></configuration>\n";
	const char *v2 = "<configuration name=\"event_multicast.conf\"><settings>\n"
			 "<param name=\"port\" value=\"5000\"/></settings></configuration>\n\n";
	char path[] = "/tmp/evcast-test-config-XXXXXX";
	evcast_config_t *a = NULL, *b = NULL, *c = NULL, *d = NULL;
	uint8_t zero[32] = {0};
	int fd = mkstemp(path);
	(void)state;
	assert_true(fd >= 0);
	close(fd);
	write_file(path, v1);
	assert_int_equal(evcast_config_load(path, NULL, NULL, &a, err, sizeof(err)), 0);
	assert_string_equal(a->path, path);
	assert_int_equal(a->port, 5000);
	assert_memory_not_equal(a->digest, zero, 32);
	write_file(path, v1); /* rewritten, same bytes: same digest */
	assert_int_equal(evcast_config_load(path, NULL, NULL, &b, err, sizeof(err)), 0);
	assert_memory_equal(a->digest, b->digest, 32);
	assert_int_equal(parse(v1, NULL, &d), 0); /* digest is of the bytes, not of the path */
	assert_memory_equal(a->digest, d->digest, 32);
	write_file(path, v2); /* one more newline: a different digest, same values */
	assert_int_equal(evcast_config_load(path, NULL, NULL, &c, err, sizeof(err)), 0);
	assert_int_equal(c->port, 5000);
	assert_memory_not_equal(a->digest, c->digest, 32);
	/* an error in a file names the path */
	write_file(path, "<configuration name=\"event_multicast.conf\"><settings>\n"
			 "<param name=\"ttl\" value=\"300\"/></settings></configuration>\n");
	evcast_config_t *e = (evcast_config_t *)1;
	assert_int_equal(evcast_config_load(path, NULL, NULL, &e, err, sizeof(err)), EVCAST_EINVAL);
	assert_null(e);
	char want[256];
	snprintf(want, sizeof(want), "%s:2: param \"ttl\": value \"300\" is not a TTL (0-255)", path);
	assert_string_equal(err, want);
	unlink(path);
	assert_int_equal(evcast_config_load(path, NULL, NULL, &e, err, sizeof(err)), EVCAST_ENOENT);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	assert_string_equal(err, want);
	assert_int_equal(evcast_config_load("/tmp", NULL, NULL, &e, err, sizeof(err)), EVCAST_EIO);
	assert_string_equal(err, "/tmp: not a regular file (a directory); refusing to read it");
	evcast_config_free(a);
	evcast_config_free(b);
	evcast_config_free(c);
	evcast_config_free(d);
}

/* A FIFO at the path: refused at once (no writer ever comes), not waited on. */
static void test_load_fifo(void **state)
{
	char dir[] = "/tmp/evcast-test-fifo-XXXXXX", path[64], want[128];
	evcast_config_t *cfg = (evcast_config_t *)1;
	struct timespec t0, t1;
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/evcast.conf.xml", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(evcast_config_load(path, NULL, NULL, &cfg, err, sizeof(err)), EVCAST_EIO);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_null(cfg);
	snprintf(want, sizeof(want), "%s: not a regular file (a FIFO); refusing to read it", path);
	assert_string_equal(err, want);
	/* open() on a FIFO without O_NONBLOCK would wait forever: 2 s is a wide margin */
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 2000);
	unlink(path);
	rmdir(dir);
}

/* The shipped default and every example load without an error. */
static void test_etc_files(void **state)
{
	static const char *files[] = {"etc/evcast.conf.xml", "etc/examples/legacy-only.xml",
				      "etc/examples/psk.xml", "etc/examples/ipv6.xml",
				      "etc/examples/three-node-a.xml", "etc/examples/three-node-b.xml",
				      "etc/examples/three-node-c.xml"};
	char path[512], tmpdir[64];
	(void)state;
	for (size_t i = 0; i < EVC_ARRAY_SIZE(files); i++) {
		evcast_config_t *cfg = NULL;
		logcap_t lc = {0};
		snprintf(path, sizeof(path), "%s/%s", EVCAST_SOURCE_DIR, files[i]);
		if (i == 0)
			shipped_copy(path, sizeof(path), tmpdir);
		if (evcast_config_load(path, capture, &lc, &cfg, err, sizeof(err)) != 0)
			fail_msg("%s", err);
		if (lc.n)
			fail_msg("%s: warning: %s", files[i], lc.msg[0]);
		assert_true(cfg->ndests >= 1);
		if (i == 0) {
			/* the default keeps every datagram on the loopback interface */
			assert_int_equal(cfg->ndests, 1);
			assert_string_equal(cfg->dests[0].text, "239.255.42.42");
			assert_true(cfg->dests[0].multicast);
			assert_int_equal(cfg->port, 4242);
			assert_true(cfg->ttl <= 1);
			assert_true(cfg->loopback);
			assert_string_equal(cfg->multicast_interface, "lo");
			/* PRESENCE_IN before CUSTOM: after it, it would be a subclass */
			assert_string_equal(cfg->bindings, "HEARTBEAT PRESENCE_IN CUSTOM sofia::register "
							   "sofia::unregister sofia::expire multicast::event");
			assert_int_equal(cfg->heartbeat_interval, 20);
			assert_int_equal(cfg->peer_timeout, 60);
			assert_string_equal(cfg->control_socket, "/run/evcast/evcastd.sock");
			assert_int_equal(cfg->log_level, EVCAST_LOG_INFO);
			assert_null(cfg->psk);
			char host[256] = "";
			gethostname(host, sizeof(host) - 1);
			assert_string_equal(cfg->node_name, host); /* node-name left out */
			char rm[128];
			snprintf(rm, sizeof(rm), "rm -rf '%s'", tmpdir);
			assert_int_equal(system(rm), 0);
		}
		evcast_config_free(cfg);
	}
}

/* The committed fuzz corpus: seed-* and ok-* files parse, broken-* files fail
 * with a message, regress-* (inputs the fuzzer once found troublesome) and
 * gen-* (the fuzzer's own inputs, kept by -merge=1 from long runs) just must
 * not crash or leak. */
static void test_fuzz_corpus(void **state)
{
	char dir[512], path[1024];
	struct dirent *de;
	int n = 0;
	(void)state;
	snprintf(dir, sizeof(dir), "%s/fuzz/corpus/config", EVCAST_SOURCE_DIR);
	DIR *d = opendir(dir);
	if (!d)
		skip(); /* a source tree without the corpus */
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		evcast_config_t *cfg = NULL;
		int rc = evcast_config_load(path, NULL, NULL, &cfg, err, sizeof(err));
		if (strncmp(de->d_name, "broken-", 7) == 0) {
			if (rc == 0)
				fail_msg("%s parsed", de->d_name);
			assert_non_null(strstr(err, de->d_name));
		} else if (strncmp(de->d_name, "regress-", 8) != 0 && strncmp(de->d_name, "gen-", 4) != 0 && rc != 0) {
			fail_msg("%s", err);
		}
		evcast_config_free(cfg);
		n++;
	}
	closedir(d);
	assert_true(n >= 20);
}

int main(void)
{
	evcast_replace_allocator(t_malloc, t_realloc, t_calloc, t_free);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load_and_digest, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_etc_files, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_load_fifo, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_fuzz_corpus, t_alloc_setup, t_alloc_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
