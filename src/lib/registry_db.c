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

void evc__reg_db_close(evc__reg_t *reg)
{
	evc__reg_db_t **pdb = evc__reg_dbp(reg), *d = *pdb;
	if (!d)
		return;
	evc__reg_db_flush(reg);
	sqlite3_finalize(d->upsert);
	sqlite3_finalize(d->del);
	sqlite3_finalize(d->begin);
	sqlite3_finalize(d->commit);
	sqlite3_finalize(d->rollback);
	sqlite3_close(d->db);
	evc__free(d->path);
	evc__free(d);
	*pdb = NULL;
}

static const char *col(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? (const char *)t : "";
}

static int load(evc__reg_t *reg, evc__reg_db_t *d, int64_t now_ms, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc;
	size_t skipped = 0;
	if (sqlite3_prepare_v2(d->db,
			       "SELECT profile, user, realm, call_id, contact, net_ip, net_port, user_agent, status,"
			       " node, node_ip, ts_us, expires_ms, tomb FROM regs",
			       -1, &s, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", d->path, sqlite3_errmsg(d->db));
		return EVCAST_EIO;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		evc__reg_update_t u = {
			.profile = col(s, 0), .user = col(s, 1), .realm = col(s, 2), .call_id = col(s, 3),
			.contact = col(s, 4), .net_ip = col(s, 5), .net_port = (uint16_t)sqlite3_column_int(s, 6),
			.user_agent = col(s, 7), .status = col(s, 8), .node = col(s, 9), .node_ip = col(s, 10),
			.ts_us = (uint64_t)sqlite3_column_int64(s, 11), .tomb = sqlite3_column_int(s, 13) != 0,
		};
		int64_t until = sqlite3_column_int64(s, 12);
		if (until <= now_ms || evc__reg_restore(reg, &u, until) < 0) {
			skipped++; /* the next flush does not see it: deleted below */
			continue;
		}
		evc__reg_statsp(reg)->db_restored++;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s: reading: %s", d->path, sqlite3_errmsg(d->db));
		return EVCAST_EIO;
	}
	if (skipped) {
		char sql[96];
		snprintf(sql, sizeof(sql), "DELETE FROM regs WHERE expires_ms <= %lld", (long long)now_ms);
		sqlite3_exec(d->db, sql, NULL, NULL, NULL);
	}
	return 0;
}

int evc__reg_db_open(evc__reg_t *reg, const char *path, int64_t now_ms, char *err, size_t errlen)
{
	evc__reg_db_t *d;
	char dummy[8];
	int rc;
	if (!err)
		err = dummy, errlen = sizeof(dummy);
	err[0] = '\0';
	if (!reg || !path || !*path)
		return EVCAST_EINVAL;
	if (*evc__reg_dbp(reg))
		return EVCAST_ESTATE;
	if (!(d = evc__calloc(1, sizeof(*d))) || !(d->path = evc__strdup(path))) {
		evc__free(d);
		return EVCAST_ENOMEM;
	}
	if (sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
		    SQLITE_OK ||
	    sqlite3_exec(d->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-4096;", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(d->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(d->db,
			       "INSERT OR REPLACE INTO regs VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
			       " ?13, ?14, ?15)",
			       -1, &d->upsert, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(d->db, "DELETE FROM regs WHERE key = ?1", -1, &d->del, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(d->db, "BEGIN", -1, &d->begin, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(d->db, "COMMIT", -1, &d->commit, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(d->db, "ROLLBACK", -1, &d->rollback, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, d->db ? sqlite3_errmsg(d->db) : "cannot open");
		goto fail;
	}
	if ((rc = load(reg, d, now_ms, err, errlen)) < 0)
		goto fail;
	evc__ratelimit_init(&d->rl, 5, 1);
	*evc__reg_dbp(reg) = d; /* after the load: restored rows are not re-queued */
	return 0;
fail:
	sqlite3_finalize(d->upsert);
	sqlite3_finalize(d->del);
	sqlite3_finalize(d->begin);
	sqlite3_finalize(d->commit);
	sqlite3_finalize(d->rollback);
	sqlite3_close(d->db);
	evc__free(d->path);
	evc__free(d);
	return EVCAST_EIO;
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
		step_once(d->rollback);
		goto failed;
	}
	sqlite3_reset(d->upsert);
	sqlite3_reset(d->del);
	return;
fail:
	snprintf(b->err, sizeof(b->err), "%s", sqlite3_errmsg(d->db));
failed:
	sqlite3_reset(d->upsert);
	sqlite3_reset(d->del);
	b->rc = EVCAST_EIO;
}

int evc__reg_db_done(evc__reg_t *reg, evc__reg_db_batch_t *b)
{
	evc__reg_db_t *d = *evc__reg_dbp(reg);
	evc__reg_stats_t *st = evc__reg_statsp(reg);
	int rc = b->rc ? b->rc : (int)(b->written + b->deleted);
	if (d)
		d->busy = false;
	if (b->rc == 0) {
		st->db_rows_written += b->written;
		st->db_rows_deleted += b->deleted;
		st->db_flushes++;
	} else {
		st->db_errors++;
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
