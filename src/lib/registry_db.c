/*
 * registry_db.c -- SQLite persistence of the registration table (registry.h).
 *
 * One database file in WAL mode (synchronous=NORMAL), one table `regs` keyed by
 * the entry key. Nothing is written on the receive path: registry.c queues the
 * keys that changed; evc__reg_db_flush (called from a timer by the daemon)
 * writes them in ONE transaction, each as what the table holds now (upsert) or
 * a delete when the key is gone. At open every row still valid is loaded.
 * The flush comes in three steps (take / write / done) so that the daemon runs
 * the transaction on a worker thread; evc__reg_db_flush does all three inline.
 * Opening judges the file first, reading only (evcast's schema, recognised by
 * its application_id or its table; a corrupt or foreign file is moved aside
 * by registry_dbfile.c and a fresh one created); a misconfiguration is
 * reported and nothing is touched. A write that finds the file corrupt moves it
 * aside the same way and writes the whole table to a fresh one (done, on the
 * loop thread). A failing disk keeps the changes queued
 * (bounded; dropped ones make every entry be written again once it recovers).
 * Sections: open/close, flush.
 */
#include "registry.h"
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#define DB_BATCH_MAX 4096 /* rows copied per batch: bounds the copy while the disk lags */

struct evc__reg_db {
	sqlite3 *db;
	sqlite3_stmt *upsert, *del, *begin, *commit, *rollback;
	char *path;
	bool busy; /* a batch is out (evc__reg_db_take .. evc__reg_db_done) */
	evc__ratelimit_t rl;
};

static const char SCHEMA[] =
	"CREATE TABLE IF NOT EXISTS regs ("
	" key TEXT PRIMARY KEY, profile TEXT, user TEXT, realm TEXT, call_id TEXT,"
	" contact TEXT, net_ip TEXT, net_port INTEGER, user_agent TEXT, status TEXT,"
	" node TEXT, node_ip TEXT, ts_us INTEGER, expires_ms INTEGER, tomb INTEGER"
	") WITHOUT ROWID";

/* ------------------------------------------------------------ open/close */

#define APP_ID 0x45564352   /* "EVCR", PRAGMA application_id: an evcast registration database */
#define SCHEMA_VERSION 1    /* PRAGMA user_version */

static const char *const COLUMNS[] = {"key", "profile", "user", "realm", "call_id", "contact", "net_ip", "net_port",
				      "user_agent", "status", "node", "node_ip", "ts_us", "expires_ms", "tomb"};

/* What a failed open means (registry.h: evc__reg_db_open). */
enum { OPEN_MISCONFIG = 1, OPEN_BAD, OPEN_UNAVAILABLE };

static int classify(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return OPEN_BAD;
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_READONLY:
	case SQLITE_AUTH:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return OPEN_MISCONFIG;
	default: /* SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM, ... */
		return OPEN_UNAVAILABLE;
	}
}

static void db_free(evc__reg_db_t *d)
{
	sqlite3_finalize(d->upsert);
	sqlite3_finalize(d->del);
	sqlite3_finalize(d->begin);
	sqlite3_finalize(d->commit);
	sqlite3_finalize(d->rollback);
	sqlite3_close(d->db);
	evc__free(d->path);
	evc__free(d);
}

/* While a file is judged: closing must leave it and its WAL as they were (no
 * checkpoint into it, no removal of the -wal), so a bad one moves aside intact. */
static void keep_files_on_close(sqlite3 *db, int on)
{
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, on, (int *)NULL);
	sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &on);
}

void evc__reg_db_close(evc__reg_t *reg)
{
	evc__reg_db_t **pdb = evc__reg_dbp(reg), *d = *pdb;
	if (!d)
		return;
	evc__reg_db_flush(reg);
	db_free(d);
	*pdb = NULL;
}

static const char *col(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? (const char *)t : "";
}

/* One integer out of a pragma or query; SQLITE_OK or the error. */
static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		*out = sqlite3_column_int64(s, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc;
}

/* Reads (never writes) what the file holds: *has_regs when it is evcast's
 * table; a foreign file (another program's, or another schema) gets why[0] set.
 * SQLITE_OK or the error that stopped the reading (NOTADB, CORRUPT, ...). */
static int inspect(sqlite3 *db, bool *has_regs, int64_t *papp, char *why, size_t n)
{
	sqlite3_stmt *s = NULL;
	int64_t app = 0, ver = 0;
	int rc, others = 0, i = 0;
	bool same = true;
	*has_regs = false;
	why[0] = '\0';
	if ((rc = query_int(db, "PRAGMA application_id", &app)) != SQLITE_OK ||
	    (rc = query_int(db, "PRAGMA user_version", &ver)) != SQLITE_OK)
		return rc;
	*papp = app;
	if ((rc = sqlite3_prepare_v2(db, "SELECT type, name FROM sqlite_schema", -1, &s, NULL)) != SQLITE_OK)
		return rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *type = col(s, 0), *name = col(s, 1);
		if (!strcmp(type, "table") && !strcmp(name, "regs"))
			*has_regs = true;
		else if (strncmp(name, "sqlite_", 7) != 0) /* sqlite_stat1, sqlite_sequence: SQLite's own */
			others++;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return rc;
	if (*has_regs) {
		if ((rc = sqlite3_prepare_v2(db, "PRAGMA table_info(regs)", -1, &s, NULL)) != SQLITE_OK)
			return rc;
		while ((rc = sqlite3_step(s)) == SQLITE_ROW)
			if (i >= (int)EVC_ARRAY_SIZE(COLUMNS) || strcmp(col(s, 1), COLUMNS[i++]) != 0)
				same = false;
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE)
			return rc;
		same = same && i == (int)EVC_ARRAY_SIZE(COLUMNS);
	}
	if (app != 0 && app != APP_ID)
		snprintf(why, n, "foreign database: application_id 0x%08llx is not evcast's", (unsigned long long)app);
	else if (ver > SCHEMA_VERSION)
		snprintf(why, n, "foreign database: schema version %lld is newer than this build's %d", (long long)ver,
			 SCHEMA_VERSION);
	else if (others)
		snprintf(why, n, "foreign database: %d table(s)/index(es) that are not evcast's", others);
	else if (*has_regs && !same)
		snprintf(why, n, "foreign database: table regs has other columns than evcast's");
	return SQLITE_OK;
}

/* Loads every row still valid; *skipped counts the expired ones (deleted later). */
static int load(evc__reg_t *reg, evc__reg_db_t *d, int64_t now_ms, size_t *skipped)
{
	sqlite3_stmt *s;
	int rc;
	*skipped = 0;
	if ((rc = sqlite3_prepare_v2(d->db,
				     "SELECT profile, user, realm, call_id, contact, net_ip, net_port, user_agent, status,"
				     " node, node_ip, ts_us, expires_ms, tomb FROM regs",
				     -1, &s, NULL)) != SQLITE_OK)
		return rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		evc__reg_update_t u = {
			.profile = col(s, 0), .user = col(s, 1), .realm = col(s, 2), .call_id = col(s, 3),
			.contact = col(s, 4), .net_ip = col(s, 5), .net_port = (uint16_t)sqlite3_column_int(s, 6),
			.user_agent = col(s, 7), .status = col(s, 8), .node = col(s, 9), .node_ip = col(s, 10),
			.ts_us = (uint64_t)sqlite3_column_int64(s, 11), .tomb = sqlite3_column_int(s, 13) != 0,
		};
		int64_t until = sqlite3_column_int64(s, 12);
		if (until <= now_ms || evc__reg_restore(reg, &u, until) < 0) {
			(*skipped)++; /* the next flush does not see it: deleted after the open */
			continue;
		}
		evc__reg_statsp(reg)->db_restored++;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* One attempt at path: judge the file (read only), load it, then set it up for
 * writing. 0, or an error with *kind (OPEN_*) and the cause in err. */
static int open_once(evc__reg_t *reg, const char *path, int64_t now_ms, int *kind, char *err, size_t errlen)
{
	evc__reg_db_t *d;
	bool empty, has_regs;
	int64_t app = 0;
	size_t skipped = 0;
	char why[160], sql[160];
	int rc;
	if ((rc = evc__reg_dbfile_prepare(evc__reg_logger(reg), path, &empty, err, errlen)) < 0) {
		*kind = rc == EVCAST_EINVAL ? OPEN_MISCONFIG : OPEN_UNAVAILABLE;
		return rc;
	}
	if (!(d = evc__calloc(1, sizeof(*d))) || !(d->path = evc__strdup(path))) {
		evc__free(d);
		snprintf(err, errlen, "%s: out of memory", path);
		*kind = OPEN_UNAVAILABLE;
		return EVCAST_ENOMEM;
	}
	if ((rc = sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL)) != SQLITE_OK)
		goto fail;
	keep_files_on_close(d->db, 1);
	sqlite3_busy_timeout(d->db, 1000); /* a backup holding a lock for a moment is not a fault */
	if ((rc = inspect(d->db, &has_regs, &app, why, sizeof(why))) != SQLITE_OK)
		goto fail;
	if (why[0]) {
		snprintf(err, errlen, "%s: %s", path, why);
		*kind = OPEN_BAD;
		db_free(d);
		return EVCAST_EIO;
	}
	if (has_regs && (rc = load(reg, d, now_ms, &skipped)) != SQLITE_OK)
		goto fail;
	snprintf(sql, sizeof(sql), "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA cache_size=-4096;",
		 evc__reg_dboptsp(reg)->sync_full ? "FULL" : "NORMAL");
	if ((rc = sqlite3_exec(d->db, sql, NULL, NULL, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_exec(d->db, SCHEMA, NULL, NULL, NULL)) != SQLITE_OK)
		goto fail;
	snprintf(sql, sizeof(sql), "PRAGMA application_id=%d; PRAGMA user_version=%d;", APP_ID, SCHEMA_VERSION);
	if ((app != APP_ID && (rc = sqlite3_exec(d->db, sql, NULL, NULL, NULL)) != SQLITE_OK) ||
	    (rc = sqlite3_prepare_v2(d->db,
				     "INSERT OR REPLACE INTO regs VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
				     " ?13, ?14, ?15)",
				     -1, &d->upsert, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_prepare_v2(d->db, "DELETE FROM regs WHERE key = ?1", -1, &d->del, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_prepare_v2(d->db, "BEGIN", -1, &d->begin, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_prepare_v2(d->db, "COMMIT", -1, &d->commit, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_prepare_v2(d->db, "ROLLBACK", -1, &d->rollback, NULL)) != SQLITE_OK)
		goto fail;
	if (skipped) {
		snprintf(sql, sizeof(sql), "DELETE FROM regs WHERE expires_ms <= %lld", (long long)now_ms);
		sqlite3_exec(d->db, sql, NULL, NULL, NULL);
	}
	keep_files_on_close(d->db, 0); /* ours now: checkpoint and remove the WAL at close as usual */
	evc__ratelimit_init(&d->rl, 5, 1);
	*evc__reg_dbp(reg) = d; /* after the load: restored rows are not re-queued */
	return 0;
fail:
	*kind = classify(rc);
	snprintf(err, errlen, "%s: %s", path, d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
	db_free(d);
	return EVCAST_EIO;
}

int evc__reg_db_open(evc__reg_t *reg, const char *path, int64_t now_ms, char *err, size_t errlen)
{
	evc__reg_stats_t *st;
	evc__reg_dbopts_t *o;
	char dummy[8], reason[600], aside[4096];
	size_t restored;
	int rc, kind = 0;
	if (!err)
		err = dummy, errlen = sizeof(dummy);
	err[0] = '\0';
	if (!reg || !path || !*path)
		return EVCAST_EINVAL;
	if (*evc__reg_dbp(reg))
		return EVCAST_ESTATE;
	st = evc__reg_statsp(reg);
	o = evc__reg_dboptsp(reg);
	o->failed = false;
	restored = st->db_restored;
	if ((rc = open_once(reg, path, now_ms, &kind, err, errlen)) == 0)
		return 0;
	if (kind == OPEN_MISCONFIG)
		return EVCAST_EINVAL; /* nothing touched: the operator fixes the path or its rights */
	if (kind == OPEN_BAD) {
		snprintf(reason, sizeof(reason), "%s", err);
		if ((rc = evc__reg_dbfile_move_aside(path, aside, sizeof(aside), err, errlen)) == 0) {
			st->db_quarantined++;
			evc__log(evc__reg_logger(reg), EVCAST_LOG_ERR,
				 "registrations: unusable database (%s): moved aside to %s with its -wal/-shm (kept, "
				 "never deleted); %llu row(s) read before the fault; a fresh database is created, "
				 "and the table is filled again from peers (regsync)",
				 reason, aside, (unsigned long long)(st->db_restored - restored));
			if ((rc = open_once(reg, path, now_ms, &kind, err, errlen)) == 0) {
				evc__reg_mark_all_dirty(reg); /* what was read goes to the fresh file */
				return 0;
			}
		} else {
			size_t l = strlen(reason);
			snprintf(reason + l, sizeof(reason) - l, "; cannot move it aside: %s", err);
			snprintf(err, errlen, "%s", reason);
		}
	}
	st->db_fallbacks++;
	o->failed = true;
	return EVCAST_EIO;
}

void evc__reg_db_set_sync_full(evc__reg_t *reg, bool full) { evc__reg_dboptsp(reg)->sync_full = full; }

const char *evc__reg_db_state(const evc__reg_t *reg)
{
	evc__reg_t *r = (evc__reg_t *)reg;
	return *evc__reg_dbp(r) ? "open" : evc__reg_dboptsp(r)->failed ? "failed" : "none";
}

/* ----------------------------------------------------------------- flush */

static int write_one(evc__reg_db_t *d, evc__reg_entry_t *e)
{
	sqlite3_stmt *s = d->upsert;
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, e->key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, e->profile, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, e->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, e->realm, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, e->call_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, e->contact, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, e->net_ip, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 8, e->net_port);
	sqlite3_bind_text(s, 9, e->user_agent, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 10, e->status, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 11, e->node, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 12, e->node_ip, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 13, (sqlite3_int64)e->ts_us);
	sqlite3_bind_int64(s, 14, e->expires_ms);
	sqlite3_bind_int(s, 15, e->tomb);
	return sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
}

static int delete_one(evc__reg_db_t *d, const char *key)
{
	sqlite3_reset(d->del);
	sqlite3_bind_text(d->del, 1, key, -1, SQLITE_STATIC);
	return sqlite3_step(d->del) == SQLITE_DONE ? 0 : -1;
}

static int step_once(sqlite3_stmt *s)
{
	int rc;
	sqlite3_reset(s);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

typedef struct row {
	char *key;            /* owned */
	evc__reg_entry_t *e;  /* owned copy; NULL: delete key */
} row_t;

struct evc__reg_db_batch {
	row_t *rows;
	size_t n, written, deleted;
	int rc;
	bool corrupt; /* the failure says the file is corrupt (SQLITE_CORRUPT, SQLITE_NOTADB) */
	char err[256];
};

static void batch_free(evc__reg_db_batch_t *b)
{
	for (size_t i = 0; i < b->n; i++) {
		evc__free(b->rows[i].key);
		evc__free(b->rows[i].e);
	}
	evc__free(b->rows);
	evc__free(b);
}

evc__reg_db_batch_t *evc__reg_db_take(evc__reg_t *reg)
{
	evc__reg_db_t *d = *evc__reg_dbp(reg);
	evc__reg_pending_t *p = evc__reg_pendingp(reg);
	evc__reg_db_batch_t *b;
	size_t i;
	if (!d || d->busy || p->n == 0)
		return NULL;
	size_t n = p->n < DB_BATCH_MAX ? p->n : DB_BATCH_MAX;
	if (!(b = evc__calloc(1, sizeof(*b))) || !(b->rows = evc__calloc(n, sizeof(*b->rows)))) {
		evc__free(b);
		evc__reg_statsp(reg)->db_errors++;
		return NULL;
	}
	for (i = 0; i < n; i++) {
		evc__reg_entry_t *e = evc__reg_find_key(reg, p->v[i]);
		if (e && !(b->rows[i].e = evc__reg_entry_dup(e)))
			break;
		b->rows[i].key = p->v[i];
		if (e)
			e->dirty = false;
	}
	b->n = i;
	memmove(p->v, p->v + i, (p->n - i) * sizeof(*p->v)); /* the rest stays queued for the next batch */
	p->n -= i;
	d->busy = true;
	return b;
}

void evc__reg_db_write(evc__reg_t *reg, evc__reg_db_batch_t *b)
{
	evc__reg_db_t *d = *evc__reg_dbp(reg);
	b->rc = 0;
	if (step_once(d->begin) != 0)
		goto fail;
	for (size_t i = 0; i < b->n; i++) {
		if (b->rows[i].e ? write_one(d, b->rows[i].e) : delete_one(d, b->rows[i].key)) {
			snprintf(b->err, sizeof(b->err), "%s", sqlite3_errmsg(d->db));
			b->corrupt = classify(sqlite3_errcode(d->db)) == OPEN_BAD;
			step_once(d->rollback);
			goto failed;
		}
		if (b->rows[i].e)
			b->written++;
		else
			b->deleted++;
	}
	if (step_once(d->commit) != 0) {
		snprintf(b->err, sizeof(b->err), "%s", sqlite3_errmsg(d->db));
		b->corrupt = classify(sqlite3_errcode(d->db)) == OPEN_BAD;
		step_once(d->rollback);
		goto failed;
	}
	sqlite3_reset(d->upsert);
	sqlite3_reset(d->del);
	return;
fail:
	snprintf(b->err, sizeof(b->err), "%s", sqlite3_errmsg(d->db));
	b->corrupt = classify(sqlite3_errcode(d->db)) == OPEN_BAD;
failed:
	sqlite3_reset(d->upsert);
	sqlite3_reset(d->del);
	b->rc = EVCAST_EIO;
}

/* A write found the file corrupt: it is closed without a checkpoint, moved
 * aside like a bad file at start, and a fresh one gets every entry; memory only
 * when that fails. On the loop thread, no batch out. */
static void quarantine_running(evc__reg_t *reg, const char *why)
{
	evc__reg_db_t **pdb = evc__reg_dbp(reg), *d = *pdb;
	evc__reg_stats_t *st = evc__reg_statsp(reg);
	char path[4096], aside[4096], err[600];
	int kind = 0;
	snprintf(path, sizeof(path), "%s", d->path);
	keep_files_on_close(d->db, 1);
	db_free(d);
	*pdb = NULL;
	if (evc__reg_dbfile_move_aside(path, aside, sizeof(aside), err, sizeof(err)) == 0) {
		st->db_quarantined++;
		evc__log(evc__reg_logger(reg), EVCAST_LOG_ERR,
			 "registrations: the database %s turned out corrupt while running (%s): moved aside to %s with "
			 "its -wal/-shm (kept, never deleted); a fresh database gets every entry",
			 path, why, aside);
		if (open_once(reg, path, (int64_t)evc__wall_ms(), &kind, err, sizeof(err)) == 0) {
			evc__reg_mark_all_dirty(reg);
			return;
		}
	}
	st->db_fallbacks++;
	evc__reg_dboptsp(reg)->failed = true;
	evc__log(evc__reg_logger(reg), EVCAST_LOG_ERR,
		 "registrations: the database %s turned out corrupt while running (%s) and cannot be replaced: %s; "
		 "the store runs in memory only", path, why, err);
}

int evc__reg_db_done(evc__reg_t *reg, evc__reg_db_batch_t *b)
{
	evc__reg_db_t *d = *evc__reg_dbp(reg);
	evc__reg_stats_t *st = evc__reg_statsp(reg);
	evc__reg_dbopts_t *o = evc__reg_dboptsp(reg);
	int rc = b->rc ? b->rc : (int)(b->written + b->deleted);
	if (d)
		d->busy = false;
	if (b->rc == 0) {
		st->db_rows_written += b->written;
		st->db_rows_deleted += b->deleted;
		st->db_flushes++;
		if (o->failing && d)
			evc__log(evc__reg_logger(reg), EVCAST_LOG_NOTICE, "registrations: writing to %s works again",
				 d->path);
		o->failing = false;
		if (o->rewrite && d && evc__reg_db_pending(reg) == 0) { /* changes were dropped meanwhile */
			o->rewrite = false;
			evc__reg_mark_all_dirty(reg);
		}
	} else {
		st->db_errors++;
		o->failing = true; /* set before the rows are queued again: no forced flush from there */
		if (d && evc__ratelimit_allow(&d->rl, evc__wall_ms()))
			evc__log(evc__reg_logger(reg), EVCAST_LOG_ERR,
				 "registrations: writing %zu change(s) to %s failed: %s (kept for the next batch)", b->n,
				 d->path, b->err);
		for (size_t i = 0; i < b->n; i++) { /* queued again, as the table holds them now */
			evc__reg_entry_t *e = evc__reg_find_key(reg, b->rows[i].key);
			if (e)
				evc__reg_mark_dirty(reg, e);
			else
				evc__reg_mark_deleted(reg, b->rows[i].key);
		}
		if (d && b->corrupt) /* found corrupt while running: judged now, not at the next start */
			quarantine_running(reg, b->err);
	}
	batch_free(b);
	return rc;
}

int evc__reg_db_flush(evc__reg_t *reg)
{
	evc__reg_db_batch_t *b;
	int total = 0, rc;
	while ((b = evc__reg_db_take(reg))) {
		evc__reg_db_write(reg, b);
		if ((rc = evc__reg_db_done(reg, b)) < 0)
			return rc;
		total += rc;
	}
	return total;
}

size_t evc__reg_db_pending(const evc__reg_t *reg)
{
	return evc__reg_pendingp((evc__reg_t *)reg)->n;
}
