/*
 * test_v2keys_file.c -- the v2-keys-file param (src/lib/v2conf.c, and the
 * configuration digest of config.c that covers the file's keys): keys read
 * from a file of `evcast keygen` lines with comments and blank lines, a path
 * relative to the configuration's directory; refused with the file named: a
 * group/other-readable mode, another owner (when run as root), a missing
 * file, a FIFO (without blocking), a malformed line and a repeated key id
 * (with the line number), a file with no key, v2-keys given as well. A rotated file changes the
 * digest (so a reload applies it); the same file keeps it. The shipped
 * etc/evcast.conf.xml seals with v2.keys next to it, and names it when missing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "v2conf.h"

typedef struct fx {
	char dir[64];       /* temporary directory: conf/evcast.xml, conf/keys/v2.keys */
	char conf[128];     /* the configuration file */
	char keys[128];     /* the keys file */
	char k1[EVCAST_V2_KEYGEN_LEN], k2[EVCAST_V2_KEYGEN_LEN];
	char err[2048];
} fx_t;

static void write_file(const char *path, const char *text, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void write_conf(fx_t *f, const char *extra)
{
	char xml[1024];
	snprintf(xml, sizeof(xml),
		 "<evcast>\n<configuration name=\"event_multicast.conf\">\n<settings>\n"
		 "<param name=\"address\" value=\"239.255.42.42\"/>\n"
		 "<param name=\"protocol\" value=\"v2\"/>\n"
		 "<param name=\"v2-keys-file\" value=\"keys/v2.keys\"/>\n%s"
		 "</settings>\n</configuration>\n</evcast>\n",
		 extra);
	write_file(f->conf, xml, 0644);
}

static int fx_setup(void **state)
{
	fx_t *f = calloc(1, sizeof(*f));
	char sub[160];
	snprintf(f->dir, sizeof(f->dir), "/tmp/evcast_v2keys_XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(sub, sizeof(sub), "%s/conf", f->dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(sub, sizeof(sub), "%s/conf/keys", f->dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(f->conf, sizeof(f->conf), "%s/conf/evcast.xml", f->dir);
	snprintf(f->keys, sizeof(f->keys), "%s/conf/keys/v2.keys", f->dir);
	assert_true(evcast_v2_keygen(1, f->k1, sizeof(f->k1)) > 0);
	assert_true(evcast_v2_keygen(2, f->k2, sizeof(f->k2)) > 0);
	write_conf(f, "");
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	fx_t *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Loads f->conf; returns the code, message in f->err. */
static int load(fx_t *f, evcast_config_t **cfg)
{
	f->err[0] = '\0';
	*cfg = NULL;
	return evcast_config_load(f->conf, NULL, NULL, cfg, f->err, sizeof(f->err));
}

static void expect_refused(fx_t *f, const char *want)
{
	evcast_config_t *cfg = NULL;
	assert_int_equal(load(f, &cfg), EVCAST_EINVAL);
	assert_null(cfg);
	if (!strstr(f->err, want))
		fail_msg("expected \"%s\" in \"%s\"", want, f->err);
	/* the keys are never in a message */
	assert_null(strstr(f->err, f->k1 + 2));
}

static void test_keys_read_from_file(void **state)
{
	fx_t *f = *state;
	char text[512];
	evcast_config_t *cfg = NULL;
	snprintf(text, sizeof(text), "# cluster keys, rotated 2026-12-07\n\n  %s  \n# next:\n%s\r\n", f->k2, f->k1);
	write_file(f->keys, text, 0600);
	if (load(f, &cfg) != 0)
		fail_msg("%s", f->err);
	/* what the node builds its keyring from */
	evc__v2_settings_t *s = calloc(1, sizeof(*s));
	assert_int_equal(evc__v2_settings_parse(evcast_config_section(cfg, "event_multicast.conf"), cfg->port, cfg->path,
						s, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(s->protocol, EVCAST_PROTO_V2);
	assert_int_equal(s->nkeys, 2);
	assert_string_equal(s->keys[0], f->k2); /* the first is the primary */
	assert_string_equal(s->keys[1], f->k1);
	assert_string_equal(s->keys_file, f->keys); /* relative to the configuration's directory */
	evc__v2_keyring_t *kr = NULL;
	assert_int_equal(evc__v2_settings_keyring(s, &kr, f->err, sizeof(f->err)), 0);
	assert_non_null(kr);
	evc__v2_keyring_free(kr);
	free(s);
	evcast_config_free(cfg);

	/* mode 0400 is stricter than 0600: accepted */
	write_file(f->keys, text, 0400);
	assert_int_equal(load(f, &cfg), 0);
	evcast_config_free(cfg);
}

static void test_bad_mode_owner_and_kind_refused(void **state)
{
	fx_t *f = *state;
	char text[128], want[640];
	snprintf(text, sizeof(text), "%s\n", f->k1);
	write_file(f->keys, text, 0640);
	snprintf(want, sizeof(want), "%s:6: param \"v2-keys-file\": value \"keys/v2.keys\" %s: mode 0640 lets group or "
				     "others in; it must be 0600 or stricter (chmod 600 %s)", f->conf, f->keys, f->keys);
	expect_refused(f, want);
	write_file(f->keys, text, 0604);
	snprintf(want, sizeof(want), "%s: mode 0604", f->keys);
	expect_refused(f, want);
	write_file(f->keys, text, 0620); /* group-writable: someone else could plant a key */
	snprintf(want, sizeof(want), "%s: mode 0620", f->keys);
	expect_refused(f, want);

	if (geteuid() == 0) { /* another owner: only root can make one */
		write_file(f->keys, text, 0600);
		assert_int_equal(chown(f->keys, 65534, 65534), 0);
		snprintf(want, sizeof(want), "%s: owned by uid 65534, not by the daemon's user (uid 0)", f->keys);
		expect_refused(f, want);
	} else {
		print_message("not root: the other-owner case is not run\n");
	}

	/* a FIFO is refused at once, not waited on */
	unlink(f->keys);
	assert_int_equal(mkfifo(f->keys, 0600), 0);
	snprintf(want, sizeof(want), "%s: not a regular file", f->keys);
	expect_refused(f, want);
	unlink(f->keys);
	assert_int_equal(mkdir(f->keys, 0700), 0);
	expect_refused(f, want);
	rmdir(f->keys);
}

static void test_missing_malformed_empty_refused(void **state)
{
	fx_t *f = *state;
	char text[512], want[640];
	/* missing: named, with how to create it */
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory (create it: umask 077; evcast keygen > FILE)",
		 f->keys);
	expect_refused(f, want);

	/* a malformed line: its line number */
	snprintf(text, sizeof(text), "# keys\n%s\n1:not-base64!\n%s\n", f->k1, f->k2);
	write_file(f->keys, text, 0600);
	snprintf(want, sizeof(want), "%s:3: not a key (ID:SECRET, as evcast keygen prints)", f->keys);
	expect_refused(f, want);
	snprintf(text, sizeof(text), "%s\n\n\nfoo\n", f->k1);
	write_file(f->keys, text, 0600);
	snprintf(want, sizeof(want), "%s:4: not a key", f->keys);
	expect_refused(f, want);

	/* CR-only line ends would make one long passphrase of two keys: refused */
	snprintf(text, sizeof(text), "%s\r%s\r", f->k1, f->k2);
	write_file(f->keys, text, 0600);
	snprintf(want, sizeof(want), "%s:1: a control character (0x0d) inside a key", f->keys);
	expect_refused(f, want);

	/* the same id twice: the second line is named */
	snprintf(text, sizeof(text), "%s\n# again\n%s\n", f->k1, f->k1);
	write_file(f->keys, text, 0600);
	snprintf(want, sizeof(want), "%s:3: not a key (ID:SECRET, as evcast keygen prints): duplicate key id", f->keys);
	expect_refused(f, want);

	/* nothing but comments */
	write_file(f->keys, "# empty\n\n", 0600);
	snprintf(want, sizeof(want), "%s: holds no key", f->keys);
	expect_refused(f, want);

	/* keys in the XML and in a file: one or the other */
	snprintf(text, sizeof(text), "%s\n", f->k1);
	write_file(f->keys, text, 0600);
	snprintf(text, sizeof(text), "<param name=\"v2-keys\" value=\"%s\"/>\n", f->k2);
	write_conf(f, text);
	expect_refused(f, "param \"v2-keys\": value \"***\" cannot be used with v2-keys-file");

	/* v2-primary-key must name a key of the file */
	write_conf(f, "<param name=\"v2-primary-key\" value=\"9\"/>\n");
	expect_refused(f, "v2-primary-key 9 is not one of v2-keys");
}

static void test_rotated_file_changes_digest(void **state)
{
	fx_t *f = *state;
	char text[512];
	evcast_config_t *a = NULL, *b = NULL, *c = NULL;
	snprintf(text, sizeof(text), "%s\n", f->k1);
	write_file(f->keys, text, 0600);
	assert_int_equal(load(f, &a), 0);
	assert_int_equal(load(f, &b), 0);
	assert_memory_equal(a->digest, b->digest, sizeof(a->digest)); /* nothing changed: a reload is skipped */
	snprintf(text, sizeof(text), "%s\n%s\n", f->k1, f->k2);      /* rotation step 1: the new key added */
	write_file(f->keys, text, 0600);
	assert_int_equal(load(f, &c), 0);
	assert_memory_not_equal(a->digest, c->digest, sizeof(a->digest));
	evcast_config_free(a);
	evcast_config_free(b);
	evcast_config_free(c);
}

/* The shipped etc/evcast.conf.xml seals: v2 with the keys of v2.keys next to
 * it; without that file (a fresh clone before make run) it names the file. */
static void test_shipped_default_seals(void **state)
{
	fx_t *f = *state;
	char cmd[512], text[128], keys[160], want[400];
	snprintf(cmd, sizeof(cmd), "cp '%s/etc/evcast.conf.xml' '%s/shipped.xml'", EVCAST_SOURCE_DIR, f->dir);
	assert_int_equal(system(cmd), 0);
	snprintf(f->conf, sizeof(f->conf), "%s/shipped.xml", f->dir);
	snprintf(keys, sizeof(keys), "%s/v2.keys", f->dir);
	evcast_config_t *cfg = NULL;
	snprintf(want, sizeof(want), "param \"v2-keys-file\": value \"v2.keys\" %s: cannot open: No such file", keys);
	expect_refused(f, want);
	snprintf(text, sizeof(text), "%s\n", f->k1);
	write_file(keys, text, 0600);
	if (load(f, &cfg) != 0)
		fail_msg("%s", f->err);
	evc__v2_settings_t *s = calloc(1, sizeof(*s));
	assert_int_equal(evc__v2_settings_parse(evcast_config_section(cfg, "event_multicast.conf"), cfg->port, cfg->path,
						s, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(s->protocol, EVCAST_PROTO_V2);
	assert_int_equal(s->nkeys, 1);
	assert_string_equal(s->keys[0], f->k1);
	assert_string_equal(s->keys_file, keys);
	free(s);
	evcast_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keys_read_from_file, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_mode_owner_and_kind_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_missing_malformed_empty_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rotated_file_changes_digest, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_shipped_default_seals, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
