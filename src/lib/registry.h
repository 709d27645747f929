/*
 * registry.h -- the replicated SIP registration store (internal API).
 *
 * A table keyed by (profile, user, realm, call-id), built from sofia::register,
 * sofia::unregister and sofia::expire events (local ones, or received ones by
 * their Orig- headers). State-based replication: an update wins when its
 * version (origin's Event-Date-Timestamp in us, then origin node name) is
 * greater; unregister/expire leave a tombstone kept tombstone_ttl_ms; so order
 * and duplicates do not matter. Live entries expire by absolute time on every
 * node (evc__reg_sweep). Pure: time is passed in; no I/O except registry_db.c
 * (SQLite, WAL: restore at open, batched writes in one transaction per flush).
 * Owner: registry.c (table, LWW, queries), registry_db.c (persistence).
 */
#ifndef EVCAST_REGISTRY_H
#define EVCAST_REGISTRY_H

#include "internal.h"

typedef struct evc__reg evc__reg_t;

/* One registration (or tombstone). Strings are owned by the entry. */
typedef struct evc__reg_entry {
	struct evc__reg_entry *next;  /* hash chain (by key) */
	struct evc__reg_entry *unext; /* user index chain (by user@realm, case-insensitive) */
	uint32_t hash, uhash;
	bool tomb;   /* unregistered/expired: kept until expires_ms to beat late updates */
	bool dirty;  /* its key is queued for the next database flush */
	uint16_t net_port;
	uint32_t size;      /* bytes of the one allocation (struct + strings) */
	uint64_t ts_us;     /* version: origin's event time, us since the epoch */
	int64_t expires_ms; /* live: absolute expiry; tomb: keep until */
	char *key;          /* profile \x1f user \x1f realm \x1f call-id */
	char *profile, *user, *realm, *call_id;
	char *contact, *net_ip, *user_agent, *status, *node, *node_ip;
} evc__reg_entry_t;

/* An update, strings borrowed. NULL strings are stored as "". */
typedef struct evc__reg_update {
	const char *profile, *user, *realm, *call_id; /* call_id NULL/"" on a tomb: every call of user@realm */
	const char *contact, *net_ip, *user_agent, *status, *node, *node_ip;
	uint16_t net_port;
	uint64_t ts_us;
	int64_t expires_ms; /* live: absolute expiry (ignored for a tomb) */
	bool tomb;
} evc__reg_update_t;

typedef struct evc__reg_opts {
	uint64_t tombstone_ttl_ms; /* default 3600 s */
	int64_t expires_margin_ms; /* added to the expiry of every live entry (sip-expires-late-margin) */
	size_t max_entries;        /* bound on the table (live + tombs); default 1,000,000 */
} evc__reg_opts_t;

typedef struct evc__reg_stats {
	uint64_t applied, stale, expired_on_arrival, refused_full, invalid;
	uint64_t expired, tombs_purged;
	uint64_t db_rows_written, db_rows_deleted, db_flushes, db_errors, db_forced_flushes, db_restored, db_dropped;
	size_t live, tombs;
	/* store faults (issue 13, store): database files moved aside (corrupt, not a
	 * database, foreign schema), and times the store went memory-only because the
	 * database could not be used (I/O error, disk full, a bad file not movable) */
	uint64_t db_quarantined, db_fallbacks;
} evc__reg_stats_t;

/* Change notification: up=true when e became or stays live (new contact or refresh),
 * false when it went away (tomb, expiry). e is borrowed until the callback returns. */
typedef void (*evc__reg_change_cb)(void *ud, const evc__reg_entry_t *e, bool up);

int evc__reg_new(const evc__reg_opts_t *opts, const evc__logger_t *lg, evc__reg_t **out);
/* Flushes pending writes (when a database is open), closes it, frees everything. */
void evc__reg_free(evc__reg_t *reg);
void evc__reg_set_change_cb(evc__reg_t *reg, evc__reg_change_cb cb, void *ud);

/* Builds an update from a sofia::register / unregister / expire event; prefix
 * "" for a local event, "Orig-" for a received multicast::event. default_node
 * names the owner when the event has none. Strings in *u are borrowed from ev.
 * EVCAST_ENOENT: not a registration event; EVCAST_EINVAL: a required field is
 * missing or bad (what is named in err, may be NULL). */
int evc__reg_update_from_event(const evcast_event_t *ev, const char *prefix, const char *default_node,
			       evc__reg_update_t *u, char *err, size_t errlen);

/* Applies u at now_ms. Returns 1 when the table changed, 0 when u lost (stale,
 * duplicate, already expired with nothing to remove), negative on error
 * (EVCAST_E2BIG table full, EVCAST_ENOMEM, EVCAST_EINVAL). */
int evc__reg_apply(evc__reg_t *reg, const evc__reg_update_t *u, int64_t now_ms);
/* Expires live entries and purges tombstones whose time has come. Returns the
 * number of entries removed. */
size_t evc__reg_sweep(evc__reg_t *reg, int64_t now_ms);

evc__reg_entry_t *evc__reg_find(evc__reg_t *reg, const char *profile, const char *user, const char *realm,
				const char *call_id);
/* Calls fn for every entry (tombs too when with_tombs), in no particular order.
 * The table must not change during the walk. */
void evc__reg_foreach(evc__reg_t *reg, bool with_tombs, void (*fn)(void *ud, const evc__reg_entry_t *e),
		      void *ud);
void evc__reg_stats(const evc__reg_t *reg, evc__reg_stats_t *out);
/* Calls fn for every entry of user@realm (case-insensitive; tombs too when
 * with_tombs) through the user index: no table walk. The table must not change
 * during the walk. */
void evc__reg_foreach_user(evc__reg_t *reg, const char *user, const char *realm, bool with_tombs,
			   void (*fn)(void *ud, const evc__reg_entry_t *e), void *ud);
/* The expires margin in force (a live entry's expires_ms includes it). */
int64_t evc__reg_margin_ms(const evc__reg_t *reg);
size_t evc__reg_live(const evc__reg_t *reg);

/* A deep copy (one allocation, freed with evc__free), or NULL. */
evc__reg_entry_t *evc__reg_entry_dup(const evc__reg_entry_t *e);

/* ---- registry_db.c ---- */
/* Opens (creating it mode 0600) the SQLite database at path in WAL mode and
 * loads every row not yet expired into the table (change callbacks fire as up).
 * A file that is corrupt, not a database, or holds another schema is moved
 * aside (evc__reg_dbfile_move_aside: kept, never deleted; logged at ERR,
 * counted in db_quarantined) and a fresh database is created in its place:
 * 0, the table holds what could be read before the fault. Errors, the cause in
 * err: EVCAST_EINVAL a misconfiguration (the directory is missing, permission
 * denied, not a regular file, locked by another process): nothing was touched;
 * EVCAST_EIO the database cannot be used now (I/O error, disk full, a bad file
 * that could not be moved aside): counted in db_fallbacks, the table stays
 * usable without a database. */
int evc__reg_db_open(evc__reg_t *reg, const char *path, int64_t now_ms, char *err, size_t errlen);
/* synchronous=FULL instead of NORMAL for the next evc__reg_db_open (every
 * committed batch survives a power loss, at an fsync per batch). */
void evc__reg_db_set_sync_full(evc__reg_t *reg, bool full);
/* "open", "none" (never opened) or "failed" (memory only after EVCAST_EIO). */
const char *evc__reg_db_state(const evc__reg_t *reg);
/* Writes every pending change, in transactions of at most 4096 rows. A
 * transaction that finds the file corrupt moves it aside (db_quarantined) and
 * opens a fresh one that gets every entry (memory only when that fails). Returns
 * the rows written (upserts + deletes), or negative on a database error
 * (logged; the changes stay pending). 0 when no database is open. */
int evc__reg_db_flush(evc__reg_t *reg);
size_t evc__reg_db_pending(const evc__reg_t *reg);
/* The same flush in three steps, so the SQLite work can run on a worker thread
 * (uv_queue_work): take (loop thread) moves up to 4096 pending changes into a
 * batch of copied rows, NULL when there is nothing to do (or a batch is still out);
 * write (any thread, one at a time) runs the transaction touching only the
 * database and the batch; done (loop thread) counts, re-queues the rows when
 * the transaction failed (logged), frees the batch, and returns the rows
 * written or a negative error. */
typedef struct evc__reg_db_batch evc__reg_db_batch_t;
evc__reg_db_batch_t *evc__reg_db_take(evc__reg_t *reg);
void evc__reg_db_write(evc__reg_t *reg, evc__reg_db_batch_t *b);
int evc__reg_db_done(evc__reg_t *reg, evc__reg_db_batch_t *b);

/* ---- shared by registry.c and registry_db.c ---- */
/* Queues e's key for the next flush (no-op when already queued). */
void evc__reg_mark_dirty(evc__reg_t *reg, evc__reg_entry_t *e);
/* Queues a delete of key (copied). */
void evc__reg_mark_deleted(evc__reg_t *reg, const char *key);
evc__reg_entry_t *evc__reg_find_key(evc__reg_t *reg, const char *key);
/* Inserts a restored entry (no LWW, no dirty mark). */
int evc__reg_restore(evc__reg_t *reg, const evc__reg_update_t *u, int64_t tomb_until_ms);
void evc__reg_db_close(evc__reg_t *reg);
/* Database options and state kept on the registry (registry.c), for registry_db.c. */
typedef struct evc__reg_dbopts {
	bool sync_full; /* synchronous=FULL */
	bool failed;    /* the last evc__reg_db_open returned EVCAST_EIO: memory only */
	bool failing;   /* the last batch failed: no forced flush on the loop (changes past the bound are dropped) */
	bool forcing;   /* a forced flush is running: no nested one (its failed rows re-queue) */
	bool rewrite;   /* changes were dropped: every entry is written again once the writes succeed */
} evc__reg_dbopts_t;
evc__reg_dbopts_t *evc__reg_dboptsp(evc__reg_t *reg);
/* Queues every entry of the table for the next flush (a fresh database after a
 * quarantine). */
void evc__reg_mark_all_dirty(evc__reg_t *reg);

/* ---- registry_dbfile.c: the database file before and after SQLite uses it ---- */
/* Opens path (creating it mode 0600, a regular file only, never blocking) and
 * tightens a wider mode of it and of its -wal/-shm to 0600 (logged). *empty:
 * zero bytes long. EVCAST_EINVAL a misconfiguration (missing directory,
 * permission denied, not a regular file, read-only file system), EVCAST_EIO
 * another failure (disk full, I/O error); the cause in err. */
int evc__reg_dbfile_prepare(const evc__logger_t *lg, const char *path, bool *empty, char *err, size_t errlen);
/* Renames path and its -wal/-shm/-journal companions to
 * path.corrupt-YYYYMMDDTHHMMSSZ (+ the same suffixes; .N added when taken), so
 * the set still opens with sqlite3. Never deletes. 0 with the new name in dst,
 * or EVCAST_EIO (err; what was renamed is put back). */
int evc__reg_dbfile_move_aside(const char *path, char *dst, size_t dstlen, char *err, size_t errlen);
/* Internal state registry_db.c keeps on the registry. */
typedef struct evc__reg_db evc__reg_db_t;
evc__reg_db_t **evc__reg_dbp(evc__reg_t *reg);
/* Keys queued for the next flush (copied strings), owned by registry.c. */
typedef struct evc__reg_pending {
	char **v;
	size_t n, cap, max; /* at max, the next mark forces a flush (counted) */
} evc__reg_pending_t;
evc__reg_pending_t *evc__reg_pendingp(evc__reg_t *reg);
evc__reg_stats_t *evc__reg_statsp(evc__reg_t *reg);
const evc__logger_t *evc__reg_logger(const evc__reg_t *reg);

#endif
