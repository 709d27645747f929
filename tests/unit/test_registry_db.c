/*
 * test_registry_db.c -- storage faults of the registration store
 * (src/lib/registry_db.c, registry_dbfile.c): a corrupt file, not a database,
 * a foreign schema, another application_id, a truncated file (each moved aside
 * byte for byte with its -wal, a fresh database in its place, the counter
 * says so); a zero-length file (SQLite's empty database: used); file modes
 * (0600 whatever the umask, with -wal/-shm; older 0644 files tightened, a
 * directory others may write warned about); a
 * misconfigured path (refused, nothing touched); a bad file that cannot be
 * moved (memory only, counted, untouched); corruption found by a write while
 * running (moved aside, a fresh file gets every entry); rows that fail the checks of
 * an update (not restored, counted); a disk that refuses writes
 * (bounded, counted, no forced flush per change, everything written once it
 * works again).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "registry.h"

#define T0 1700000000000LL /* ms */

static evc__reg_update_t reg_u(const char *user, const char *cid, uint64_t ts_ms, const char *node, int expires_s)
{
	evc__reg_update_t u = {.profile = "internal", .user = user, .realm = "example.test", .call_id = cid,
			       .contact = "sip:x@10.0.0.1", .node = node, .node_ip = "10.0.0.9",
			       .ts_us = ts_ms * 1000, .expires_ms = (int64_t)ts_ms + expires_s * 1000LL};
	return u;
}

static evc__reg_t *mk(void)
{
	evc__reg_opts_t o = {.tombstone_ttl_ms = 60000};
	evc__reg_t *r;
	assert_int_equal(evc__reg_new(&o, NULL, &r), 0);
	return r;
}

/* What the store logged (the last lines, joined). */
static char g_log[8192];
static void log_cb(void *ud, int level, const char *msg)
{
	(void)ud;
	(void)level;
	size_t l = strlen(g_log);
	if (l + strlen(msg) + 2 < sizeof(g_log))
		snprintf(g_log + l, sizeof(g_log) - l, "%s\n", msg);
}

static evc__reg_t *mk_logged(void)
{
	evc__reg_opts_t o = {.tombstone_ttl_ms = 60000};
	evc__logger_t lg = {log_cb, NULL, EVCAST_LOG_DEBUG};
	evc__reg_t *r;
	g_log[0] = '\0';
	assert_int_equal(evc__reg_new(&o, &lg, &r), 0);
	return r;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- storage faults (issue 13, store) */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void spit(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static void rmrf(const char *dir)
{
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* The one name in dir starting with prefix and ending with suffix ("" for the main file). */
static int find_aside(const char *dir, const char *suffix, char *out, size_t cap)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	int n = 0;
	assert_non_null(dp);
	while ((de = readdir(dp))) {
		size_t l = strlen(de->d_name), sl = strlen(suffix);
		const char *c = strstr(de->d_name, ".corrupt-");
		if (!c || l < sl || strcmp(de->d_name + l - sl, suffix) != 0)
			continue;
		if (!*suffix && (strstr(c, "-wal") || strstr(c, "-shm") || strstr(c, "-journal")))
			continue;
		snprintf(out, cap, "%s/%s", dir, de->d_name);
		n++;
	}
	closedir(dp);
	return n;
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

/* A database of n rows written by the store itself. */
static void make_db(const char *path, int n)
{
	evc__reg_t *r = mk();
	char err[256], user[16], cid[48];
	assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), 0);
	for (int i = 0; i < n; i++) {
		snprintf(user, sizeof(user), "%d", 20000 + i);
		snprintf(cid, sizeof(cid), "cid-%d@host-with-a-long-name", i);
		evc__reg_update_t u = reg_u(user, cid, T0, "A", 600);
		u.contact = "sip:a-contact-long-enough-to-fill-pages@10.0.0.1:5060;transport=udp;ob";
		assert_int_equal(evc__reg_apply(r, &u, T0), 1);
	}
	assert_int_equal(evc__reg_db_flush(r), n);
	evc__reg_free(r);
}

/* Opens a fresh database at path after a bad file: usable, evcast's, mode 0600. */
static void check_fresh_db(const char *path)
{
	evc__reg_t *r = mk();
	char err[256];
	sqlite3 *db;
	sqlite3_stmt *s;
	assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), 0);
	evc__reg_update_t u = reg_u("7777", "fresh", T0, "A", 600);
	assert_int_equal(evc__reg_apply(r, &u, T0), 1);
	assert_true(evc__reg_db_flush(r) >= 1);
	evc__reg_free(r);
	assert_int_equal(mode_of(path), 0600);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 0x45564352);
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static void exec_sql(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

enum bad_kind { BAD_TEXT, BAD_FOREIGN, BAD_OTHER_COLUMNS, BAD_APP_ID, BAD_CORRUPT, BAD_TRUNCATED, BAD_NKINDS };
static const char *const bad_names[] = {"not a database", "foreign tables", "regs with other columns",
					"another application_id", "corrupt pages", "truncated"};

/* Every bad file: the store opens anyway (a fresh database), the bad file and
 * its -wal are moved aside byte for byte, the reason is logged, the counter
 * says it; rows read before the fault are kept and written to the fresh file. */
static void test_db_bad_files(void **state)
{
	(void)state;
	for (int k = 0; k < BAD_NKINDS; k++) {
		char dir[] = "/tmp/evc-reg-XXXXXX", path[128], wal[160], aside[400], err[512];
		char *orig, *moved;
		size_t olen, mlen;
		evc__reg_t *r;
		evc__reg_stats_t st;
		assert_non_null(mkdtemp(dir));
		snprintf(path, sizeof(path), "%s/reg.db", dir);
		snprintf(wal, sizeof(wal), "%s-wal", path);
		switch (k) {
		case BAD_TEXT:
			spit(path, "this is not an SQLite file at all, just some text\n", 51);
			break;
		case BAD_FOREIGN:
			exec_sql(path, "CREATE TABLE sip_registrations (call_id TEXT, sip_user TEXT);"
				       "INSERT INTO sip_registrations VALUES ('x', '1000');");
			break;
		case BAD_OTHER_COLUMNS:
			exec_sql(path, "CREATE TABLE regs (key TEXT PRIMARY KEY, who TEXT);"
				       "INSERT INTO regs VALUES ('k', 'w');");
			break;
		case BAD_APP_ID:
			make_db(path, 3);
			exec_sql(path, "PRAGMA application_id=1234");
			break;
		case BAD_CORRUPT:
		case BAD_TRUNCATED: {
			make_db(path, 3000);
			char *b = slurp(path, &olen);
			assert_true(olen > 64 * 1024);
			if (k == BAD_CORRUPT)
				memset(b + olen / 2, 0xA5, 16384); /* pages in the middle of the b-tree */
			else
				olen = olen * 2 / 5;
			spit(path, b, olen);
			free(b);
			break;
		}
		}
		if (k != BAD_TEXT)
			spit(wal, "not a WAL: must be kept as it is", 32); /* a companion, moved with it */
		orig = slurp(path, &olen);
		r = mk_logged();
		assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), 0);
		evc__reg_stats(r, &st);
		print_message("# %s: quarantined %llu, %llu row(s) read before the fault\n", bad_names[k],
			      (unsigned long long)st.db_quarantined, (unsigned long long)st.db_restored);
		assert_int_equal(st.db_quarantined, 1);
		assert_int_equal(st.db_fallbacks, 0);
		assert_non_null(strstr(g_log, "registrations: unusable database ("));
		assert_non_null(strstr(g_log, path));
		assert_non_null(strstr(g_log, k == BAD_TEXT ? "file is not a database"
					   : k <= BAD_APP_ID ? "foreign database"
							     : "malformed"));
		assert_string_equal(evc__reg_db_state(r), "open");
		/* what was read before the fault goes to the fresh file */
		assert_int_equal(evc__reg_db_pending(r), st.live + st.tombs);
		if (k == BAD_CORRUPT)
			assert_true(st.db_restored < 3000);
		evc__reg_free(r);
		/* the bad file, byte for byte, and its companion */
		assert_int_equal(find_aside(dir, "", aside, sizeof(aside)), 1);
		moved = slurp(aside, &mlen);
		assert_non_null(moved);
		assert_int_equal(mlen, olen);
		assert_memory_equal(moved, orig, olen);
		free(moved);
		free(orig);
		if (k != BAD_TEXT) {
			assert_int_equal(find_aside(dir, "-wal", aside, sizeof(aside)), 1);
			moved = slurp(aside, &mlen);
			assert_int_equal(mlen, 32);
			assert_memory_equal(moved, "not a WAL: must be kept as it is", 32);
			free(moved);
		}
		check_fresh_db(path);
		/* a second open finds it good: nothing more moved */
		r = mk();
		assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), 0);
		evc__reg_stats(r, &st);
		assert_int_equal(st.db_quarantined, 0);
		assert_non_null(evc__reg_find(r, "internal", "7777", "example.test", "fresh"));
		evc__reg_free(r);
		assert_int_equal(find_aside(dir, "", aside, sizeof(aside)), 1);
		rmrf(dir);
	}
}

/* A zero-length file is SQLite's empty database: used as it is, not moved. */
static void test_db_zero_length(void **state)
{
	(void)state;
	char dir[] = "/tmp/evc-reg-XXXXXX", path[128], aside[400], err[256];
	evc__reg_t *r;
	evc__reg_stats_t st;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/reg.db", dir);
	spit(path, "", 0);
	assert_int_equal(chmod(path, 0644), 0);
	r = mk();
	assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), 0);
	evc__reg_stats(r, &st);
	assert_int_equal(st.db_quarantined, 0);
	assert_int_equal(st.live, 0);
	evc__reg_free(r);
	assert_int_equal(find_aside(dir, "", aside, sizeof(aside)), 0);
	check_fresh_db(path); /* evcast's now, and 0600 */
	rmrf(dir);
}

/* Created 0600 whatever the umask, with its -wal and -shm; an older file of
 * mode 0644 (and its companions) is tightened at open. */
static void test_db_file_modes(void **state)
{
	(void)state;
	char dir[] = "/tmp/evc-reg-XXXXXX", path[128], wal[160], shm[160], err[256];
	evc__reg_t *r;
	mode_t old = umask(0022);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/reg.db", dir);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	snprintf(shm, sizeof(shm), "%s-shm", path);
	r = mk();
	assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), 0);
	evc__reg_update_t u = reg_u("1000", "c1", T0, "A", 600);
	assert_int_equal(evc__reg_apply(r, &u, T0), 1);
	assert_int_equal(evc__reg_db_flush(r), 1);
	assert_int_equal(mode_of(path), 0600);
	assert_int_equal(mode_of(wal), 0600); /* open while the database is */
	assert_int_equal(mode_of(shm), 0600);
	evc__reg_free(r);
	/* an older build's files, 0644, in a directory others may write */
	exec_sql(path, "PRAGMA journal_mode=WAL");
	assert_int_equal(chmod(path, 0644), 0);
	spit(wal, "", 0);
	assert_int_equal(chmod(wal, 0644), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	r = mk_logged();
	assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), 0);
	assert_int_equal(mode_of(path), 0600);
	assert_int_equal(mode_of(wal), 0600);
	assert_non_null(strstr(g_log, "reg.db was mode 0644: now 0600"));
	assert_non_null(strstr(g_log, "reg.db-wal was mode 0644: now 0600"));
	assert_non_null(strstr(g_log, "is mode 0777: others can replace the database"));
	assert_non_null(evc__reg_find(r, "internal", "1000", "example.test", "c1"));
	evc__reg_free(r);
	umask(old);
	rmrf(dir);
}

/* A misconfigured path is refused (EVCAST_EINVAL, named) and nothing is
 * created, moved or changed: a missing directory, a directory, a FIFO (without
 * blocking), a file in a directory without rights (skipped as root). */
static void test_db_misconfig(void **state)
{
	(void)state;
	char dir[] = "/tmp/evc-reg-XXXXXX", path[160], aside[400], err[512];
	evc__reg_t *r = mk();
	evc__reg_stats_t st;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/missing/reg.db", dir);
	assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), EVCAST_EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "directory does not exist"));
	snprintf(path, sizeof(path), "%s/adir", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), EVCAST_EINVAL);
	assert_non_null(strstr(err, path));
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), EVCAST_EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	if (geteuid() != 0) {
		snprintf(path, sizeof(path), "%s/ro", dir);
		assert_int_equal(mkdir(path, 0500), 0);
		snprintf(path, sizeof(path), "%s/ro/reg.db", dir);
		assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), EVCAST_EINVAL);
		assert_non_null(strstr(err, "ermission denied"));
	} else {
		print_message("# SKIP permission denied: running as root (CAP_DAC_OVERRIDE)\n");
	}
	evc__reg_stats(r, &st);
	assert_int_equal(st.db_quarantined, 0);
	assert_int_equal(st.db_fallbacks, 0);
	assert_string_equal(evc__reg_db_state(r), "none");
	assert_int_equal(find_aside(dir, "", aside, sizeof(aside)), 0);
	evc__reg_free(r);
	rmrf(dir);
}

/* A disk that refuses writes (another connection holds the write lock): every
 * change is kept queued up to the bound, beyond it dropped and counted, with
 * no flush forced per change (nor nested); once writes succeed again every
 * entry is written, so the file matches the table. */
static void test_db_refusing_disk(void **state)
{
	(void)state;
	char dir[] = "/tmp/evc-reg-XXXXXX", path[128], err[256], user[16], cid[48];
	evc__reg_opts_t o = {.max_entries = 5000}; /* the queue's bound: max(65536, max-registrations) */
	evc__reg_t *r;
	evc__reg_stats_t st;
	sqlite3 *lock;
	sqlite3_stmt *s;
	int n = 65536 + 100, live;
	double t0;
	assert_int_equal(evc__reg_new(&o, NULL, &r), 0);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/reg.db", dir);
	assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), 0);
	assert_int_equal(sqlite3_open(path, &lock), SQLITE_OK);
	assert_int_equal(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	t0 = now_s();
	for (int i = 0; i < n; i++) { /* churn: each registration expires 2 s after it came, one per ms */
		snprintf(user, sizeof(user), "%d", 100000 + i);
		snprintf(cid, sizeof(cid), "c%d", i);
		evc__reg_update_t u = reg_u(user, cid, T0 + (uint64_t)i, "A", 2);
		assert_int_equal(evc__reg_apply(r, &u, T0 + i), 1);
		if (i % 100 == 0)
			evc__reg_sweep(r, T0 + i);
	}
	evc__reg_stats(r, &st);
	print_message("# %d changes on a locked database: %.0f ms, forced flushes %llu, errors %llu, dropped %llu\n", n,
		      (now_s() - t0) * 1e3, (unsigned long long)st.db_forced_flushes, (unsigned long long)st.db_errors,
		      (unsigned long long)st.db_dropped);
	assert_int_equal(st.db_forced_flushes, 1); /* one attempt, then the failing disk is not retried per change */
	assert_int_equal(st.db_errors, 1);
	assert_true(st.db_dropped >= 100);
	assert_int_equal(evc__reg_db_pending(r), 65536);
	assert_int_equal(evc__reg_db_flush(r), EVCAST_EIO); /* still locked */
	assert_int_equal(sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(lock), SQLITE_OK);
	evc__reg_stats(r, &st);
	live = (int)(st.live + st.tombs);
	/* writes work again: the queue, then every entry once more (the dropped ones among them) */
	assert_true(evc__reg_db_flush(r) > 0);
	while (evc__reg_db_pending(r))
		assert_true(evc__reg_db_flush(r) > 0);
	evc__reg_free(r);
	assert_int_equal(sqlite3_open(path, &lock), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(lock, "SELECT count(*) FROM regs", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), live); /* the file matches the table: no stale row */
	sqlite3_finalize(s);
	sqlite3_close(lock);
	rmrf(dir);
}

/* A bad file that cannot be moved aside (every name taken for the next seconds):
 * EVCAST_EIO, the store usable in memory only, counted, the file untouched. */
static void test_db_fallback(void **state)
{
	(void)state;
	char dir[] = "/tmp/evc-reg-XXXXXX", path[128], name[256], stamp[32], err[512];
	const char text[] = "not a database, and nowhere to move it\n";
	evc__reg_t *r;
	evc__reg_stats_t st;
	size_t len;
	char *now_bytes;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/reg.db", dir);
	spit(path, text, sizeof(text) - 1);
	for (int sec = 0; sec < 5; sec++) { /* the names of this second and the next four */
		time_t t = time(NULL) + sec;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
		snprintf(name, sizeof(name), "%s.corrupt-%s", path, stamp);
		spit(name, "", 0);
		for (int n = 1; n <= 99; n++) {
			snprintf(name, sizeof(name), "%s.corrupt-%s.%d", path, stamp, n);
			spit(name, "", 0);
		}
	}
	r = mk();
	assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), EVCAST_EIO);
	assert_non_null(strstr(err, "not a database"));
	assert_non_null(strstr(err, "cannot move it aside"));
	evc__reg_stats(r, &st);
	assert_int_equal(st.db_fallbacks, 1);
	assert_int_equal(st.db_quarantined, 0);
	assert_string_equal(evc__reg_db_state(r), "failed");
	evc__reg_update_t u = reg_u("1000", "c1", T0, "A", 600); /* the table works without its file */
	assert_int_equal(evc__reg_apply(r, &u, T0), 1);
	assert_int_equal(evc__reg_db_pending(r), 0);
	assert_int_equal(evc__reg_db_flush(r), 0);
	evc__reg_free(r);
	now_bytes = slurp(path, &len);
	assert_int_equal(len, sizeof(text) - 1);
	assert_memory_equal(now_bytes, text, len);
	free(now_bytes);
	rmrf(dir);
}

/* Corruption found while running (another writer points the table at a page
 * past the end of the file): the failing batch moves the file aside, a fresh
 * one is created and gets every entry; the bus never noticed. */
static void test_db_corrupt_while_running(void **state)
{
	(void)state;
	char dir[] = "/tmp/evc-reg-XXXXXX", path[128], aside[400], err[256], user[16];
	evc__reg_t *r = mk_logged();
	evc__reg_stats_t st;
	sqlite3 *db;
	sqlite3_stmt *s;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/reg.db", dir);
	assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(user, sizeof(user), "%d", 1000 + i);
		evc__reg_update_t u = reg_u(user, "c", T0, "A", 600);
		assert_int_equal(evc__reg_apply(r, &u, T0), 1);
	}
	assert_int_equal(evc__reg_db_flush(r), 10);
	exec_sql(path, "PRAGMA writable_schema=ON; UPDATE sqlite_schema SET rootpage=9999 WHERE name='regs';"
		       "PRAGMA schema_version=1000;");
	evc__reg_update_t u = reg_u("2000", "c", T0, "A", 600);
	assert_int_equal(evc__reg_apply(r, &u, T0), 1);
	assert_int_equal(evc__reg_db_flush(r), EVCAST_EIO); /* the batch that found it */
	evc__reg_stats(r, &st);
	assert_int_equal(st.db_quarantined, 1);
	assert_int_equal(st.db_errors, 1);
	assert_string_equal(evc__reg_db_state(r), "open");
	assert_non_null(strstr(g_log, "turned out corrupt while running"));
	assert_int_equal(evc__reg_db_pending(r), 11);
	assert_int_equal(evc__reg_db_flush(r), 11);
	evc__reg_free(r);
	assert_int_equal(find_aside(dir, "", aside, sizeof(aside)), 1);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM regs", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 11);
	sqlite3_finalize(s);
	sqlite3_close(db);
	assert_int_equal(mode_of(path), 0600);
	rmrf(dir);
}

/* Rows of the file pass the checks of an update from the network: an oversized
 * field, an empty user or call-id is not restored (counted in invalid). */
static void test_db_invalid_rows(void **state)
{
	(void)state;
	char dir[] = "/tmp/evc-reg-XXXXXX", path[128], err[256], sql[4096];
	evc__reg_t *r;
	evc__reg_stats_t st;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/reg.db", dir);
	make_db(path, 2);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO regs VALUES ('k1','internal','9001','example.test','c1',printf('%%.2000c','x'),'',0,'','',"
		 "'A','',%lld,%lld,0);"
		 "INSERT INTO regs VALUES ('k2','internal','','example.test','c2','sip:y','',0,'','','A','',%lld,%lld,0);"
		 "INSERT INTO regs VALUES ('k3','internal','9003','example.test','','sip:z','',0,'','','A','',%lld,%lld,0);",
		 T0 * 1000, T0 + 600000, T0 * 1000, T0 + 600000, T0 * 1000, T0 + 600000);
	exec_sql(path, sql);
	r = mk();
	assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), 0);
	evc__reg_stats(r, &st);
	assert_int_equal(st.db_restored, 2);
	assert_int_equal(st.invalid, 3);
	assert_int_equal(st.live, 2);
	assert_int_equal(st.db_quarantined, 0);
	evc__reg_free(r);
	rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_db_bad_files),
		cmocka_unit_test(test_db_zero_length),
		cmocka_unit_test(test_db_file_modes),
		cmocka_unit_test(test_db_misconfig),
		cmocka_unit_test(test_db_refusing_disk),
		cmocka_unit_test(test_db_invalid_rows),
		cmocka_unit_test(test_db_fallback),
		cmocka_unit_test(test_db_corrupt_while_running),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
