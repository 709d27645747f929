/*
 * test_registry.c -- the registration store (src/lib/registry*.c): events to
 * updates (local and Orig- prefixed), last-writer-wins with node tie-break,
 * tombstones beating late registers, duplicates and every order converging,
 * expiry by absolute time, wildcard unregister, the table bound, SQLite
 * persistence round trip (temp db), the take/write/done batch steps, and a
 * 10k-insert timing (printed only). Storage faults: test_registry_db.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static evc__reg_update_t tomb_u(const char *user, const char *cid, uint64_t ts_ms, const char *node)
{
	evc__reg_update_t u = reg_u(user, cid, ts_ms, node, 0);
	u.tomb = true;
	return u;
}

static evc__reg_t *mk(void)
{
	evc__reg_opts_t o = {.tombstone_ttl_ms = 60000};
	evc__reg_t *r;
	assert_int_equal(evc__reg_new(&o, NULL, &r), 0);
	return r;
}

static void test_from_event(void **state)
{
	(void)state;
	evcast_event_t *ev = evcast_event_new_named("CUSTOM", "multicast::event");
	evc__reg_update_t u;
	char err[128];
	evcast_event_add_header(ev, "Orig-Event-Name", "CUSTOM");
	evcast_event_add_header(ev, "Orig-Event-Subclass", "sofia::register");
	evcast_event_add_header(ev, "Orig-profile-name", "internal");
	evcast_event_add_header(ev, "Orig-from-user", "1000");
	evcast_event_add_header(ev, "Orig-from-host", "example.test");
	evcast_event_add_header(ev, "Orig-call-id", "abc@1");
	evcast_event_add_header(ev, "Orig-expires", "900");
	evcast_event_add_header(ev, "Orig-network-port", "5062");
	evcast_event_add_header(ev, "Orig-Event-Date-Timestamp", "1700000000000000");
	evcast_event_add_header(ev, "Orig-Multicast-Sender", "A");
	evcast_event_add_header(ev, "Orig-FreeSWITCH-IPv4", "10.1.1.1");
	assert_int_equal(evc__reg_update_from_event(ev, "Orig-", NULL, &u, err, sizeof(err)), 0);
	assert_string_equal(u.user, "1000");
	assert_string_equal(u.node, "A");
	assert_string_equal(u.node_ip, "10.1.1.1");
	assert_int_equal(u.net_port, 5062);
	assert_false(u.tomb);
	assert_int_equal(u.expires_ms, T0 + 900000);
	/* not prefixed: it is not a local registration event */
	assert_int_equal(evc__reg_update_from_event(ev, "", "me", &u, err, sizeof(err)), EVCAST_ENOENT);
	/* Expires: 0 is an unregister */
	evcast_event_set_header(ev, "Orig-expires", "0");
	assert_int_equal(evc__reg_update_from_event(ev, "Orig-", NULL, &u, err, sizeof(err)), 0);
	assert_true(u.tomb);
	/* a bad field is named */
	evcast_event_set_header(ev, "Orig-Event-Date-Timestamp", "soon");
	assert_int_equal(evc__reg_update_from_event(ev, "Orig-", NULL, &u, err, sizeof(err)), EVCAST_EINVAL);
	assert_non_null(strstr(err, "Event-Date-Timestamp"));
	evcast_event_free(ev);

	ev = evcast_event_new_named("CUSTOM", "sofia::expire");
	evcast_event_add_header(ev, "user", "1001");
	evcast_event_add_header(ev, "host", "example.test");
	evcast_event_add_header(ev, "call-id", "c9");
	evcast_event_add_header(ev, "Event-Date-Timestamp", "5");
	assert_int_equal(evc__reg_update_from_event(ev, "", "local", &u, err, sizeof(err)), 0);
	assert_true(u.tomb);
	assert_string_equal(u.node, "local");
	assert_string_equal(u.user, "1001");
	evcast_event_free(ev);
}

static void test_lww_and_tiebreak(void **state)
{
	(void)state;
	evc__reg_t *r = mk();
	evc__reg_update_t a = reg_u("1000", "c1", T0, "A", 600), b;
	evc__reg_entry_t *e;
	assert_int_equal(evc__reg_apply(r, &a, T0), 1);
	assert_int_equal(evc__reg_apply(r, &a, T0), 0); /* duplicate */
	b = reg_u("1000", "c1", T0 - 1, "B", 600);
	b.contact = "sip:old@b";
	assert_int_equal(evc__reg_apply(r, &b, T0), 0); /* older */
	b.ts_us = a.ts_us;                              /* same time: node name breaks the tie, B > A */
	assert_int_equal(evc__reg_apply(r, &b, T0), 1);
	e = evc__reg_find(r, "internal", "1000", "example.test", "c1");
	assert_non_null(e);
	assert_string_equal(e->node, "B");
	assert_string_equal(e->contact, "sip:old@b");
	assert_int_equal(evc__reg_apply(r, &a, T0), 0); /* A loses the tie on every node */
	evc__reg_stats_t st;
	evc__reg_stats(r, &st);
	assert_int_equal(st.live, 1);
	assert_int_equal(st.stale, 3);
	evc__reg_free(r);
}

static void test_tombstone_beats_late_register(void **state)
{
	(void)state;
	evc__reg_t *r = mk();
	evc__reg_update_t reg = reg_u("1000", "c1", T0, "A", 600), un = tomb_u("1000", "c1", T0 + 10, "A");
	evc__reg_entry_t *e;
	/* unregister arrives before the register it cancels */
	assert_int_equal(evc__reg_apply(r, &un, T0 + 20), 1);
	assert_int_equal(evc__reg_apply(r, &reg, T0 + 30), 0);
	e = evc__reg_find(r, "internal", "1000", "example.test", "c1");
	assert_non_null(e);
	assert_true(e->tomb);
	/* tombstone purged after its ttl (60 s from its own time) */
	assert_int_equal(evc__reg_sweep(r, T0 + 10 + 59999), 0);
	assert_int_equal(evc__reg_sweep(r, T0 + 10 + 60000), 1);
	assert_null(evc__reg_find(r, "internal", "1000", "example.test", "c1"));
	/* a newer register after that is live again */
	reg.ts_us += 100000;
	assert_int_equal(evc__reg_apply(r, &reg, T0 + 90000), 1);
	evc__reg_free(r);
}

typedef struct snap {
	char s[4096];
} snap_t;

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void collect(void *ud, const evc__reg_entry_t *e)
{
	char ***pv = ud;
	char buf[256];
	snprintf(buf, sizeof(buf), "%s|%s|%s|%d|%s", e->key, e->contact, e->node, e->tomb, e->status);
	**pv = strdup(buf);
	(*pv)++;
}

/* The table as one sorted string. */
static void table_text(evc__reg_t *r, snap_t *out)
{
	char *v[64], **p = v;
	evc__reg_stats_t st;
	evc__reg_stats(r, &st);
	assert_true(st.live + st.tombs <= 64);
	evc__reg_foreach(r, true, collect, &p);
	qsort(v, (size_t)(p - v), sizeof(*v), cmpstr);
	out->s[0] = '\0';
	for (char **q = v; q < p; q++) {
		strncat(out->s, *q, sizeof(out->s) - strlen(out->s) - 2);
		strcat(out->s, "\n");
		free(*q);
	}
}

static void test_order_and_duplicates_converge(void **state)
{
	(void)state;
	evc__reg_update_t ops[8];
	snap_t ref, got;
	ops[0] = reg_u("1000", "c1", T0, "A", 600);
	ops[1] = reg_u("1000", "c1", T0 + 5, "A", 600);
	ops[1].contact = "sip:refresh@a";
	ops[2] = reg_u("1001", "c2", T0 + 1, "B", 600);
	ops[3] = tomb_u("1001", "c2", T0 + 7, "B");
	ops[4] = reg_u("1002", "c3", T0 + 2, "C", 600);
	ops[5] = reg_u("1002", "c3", T0 + 2, "D", 600); /* concurrent: D wins */
	ops[5].contact = "sip:d";
	ops[6] = reg_u("1003", "c4", T0 + 3, "A", 600);
	ops[7] = ops[0];
	srand(42);
	for (int round = 0; round < 200; round++) {
		evc__reg_t *r = mk();
		int idx[16], n = 0;
		for (int i = 0; i < 8; i++)
			idx[n++] = i;
		for (int i = 0; i < 4; i++)
			idx[n++] = rand() % 8; /* duplicates */
		for (int i = n - 1; i > 0; i--) {
			int j = rand() % (i + 1), t = idx[i];
			idx[i] = idx[j];
			idx[j] = t;
		}
		for (int i = 0; i < n; i++)
			assert_true(evc__reg_apply(r, &ops[idx[i]], T0 + 10) >= 0);
		table_text(r, round == 0 ? &ref : &got);
		if (round > 0)
			assert_string_equal(got.s, ref.s);
		evc__reg_free(r);
	}
	assert_non_null(strstr(ref.s, "sip:refresh@a"));
	assert_non_null(strstr(ref.s, "sip:d|D|0"));
	assert_non_null(strstr(ref.s, "c2|sip:x@10.0.0.1|B|1")); /* tomb */
}

typedef struct changes {
	int up, down;
} changes_t;

static void on_change(void *ud, const evc__reg_entry_t *e, bool up)
{
	changes_t *c = ud;
	(void)e;
	if (up)
		c->up++;
	else
		c->down++;
}

static void test_expiry_and_wildcard(void **state)
{
	(void)state;
	evc__reg_t *r = mk();
	changes_t c = {0};
	evc__reg_update_t a = reg_u("1000", "c1", T0, "A", 60), b = reg_u("1000", "c2", T0, "A", 120);
	evc__reg_update_t old = reg_u("1000", "c3", T0 - 200000, "A", 60), w;
	evc__reg_set_change_cb(r, on_change, &c);
	assert_int_equal(evc__reg_apply(r, &a, T0), 1);
	assert_int_equal(evc__reg_apply(r, &b, T0), 1);
	/* already expired on arrival: not stored */
	assert_int_equal(evc__reg_apply(r, &old, T0), 0);
	assert_int_equal(c.up, 2);
	assert_int_equal(evc__reg_sweep(r, T0 + 59999), 0);
	assert_int_equal(evc__reg_sweep(r, T0 + 60000), 1);
	assert_int_equal(c.down, 1);
	assert_null(evc__reg_find(r, "internal", "1000", "example.test", "c1"));
	/* unregister without call-id: every call of the user */
	w = tomb_u("1000", NULL, T0 + 1000, "A");
	w.profile = NULL;
	assert_int_equal(evc__reg_apply(r, &w, T0 + 2000), 1);
	assert_int_equal(c.down, 2);
	assert_true(evc__reg_find(r, "internal", "1000", "example.test", "c2")->tomb);
	evc__reg_free(r);
}

static void count_cb(void *ud, const evc__reg_entry_t *e)
{
	(void)e;
	(*(int *)ud)++;
}

static int user_count(evc__reg_t *r, const char *user, bool tombs)
{
	int n = 0;
	evc__reg_foreach_user(r, user, "EXAMPLE.test", tombs, count_cb, &n);
	return n;
}

/* The user@realm index follows inserts, replacements, tombs, removals and growth. */
static void test_user_index(void **state)
{
	(void)state;
	evc__reg_t *r = mk();
	char user[16], cid[16];
	for (int i = 0; i < 3000; i++) { /* grows the table a few times */
		snprintf(user, sizeof(user), "%d", i % 1000);
		snprintf(cid, sizeof(cid), "c%d", i);
		evc__reg_update_t u = reg_u(user, cid, T0, "A", 60 + i % 2);
		assert_int_equal(evc__reg_apply(r, &u, T0), 1);
	}
	assert_int_equal(user_count(r, "7", false), 3);
	evc__reg_update_t t = tomb_u("7", "c1007", T0 + 1, "A");
	assert_int_equal(evc__reg_apply(r, &t, T0), 1);
	assert_int_equal(user_count(r, "7", false), 2);
	assert_int_equal(user_count(r, "7", true), 3);
	evc__reg_update_t nw = reg_u("7", "c7", T0 + 2, "B", 600); /* replaced in place */
	assert_int_equal(evc__reg_apply(r, &nw, T0), 1);
	assert_int_equal(user_count(r, "7", false), 2);
	/* c7 (600 s) stays; c2007 expires at +61 s (odd i: 61 s), user 8 (even) at +60 s */
	evc__reg_sweep(r, T0 + 61000);
	assert_int_equal(user_count(r, "7", false), 1);
	assert_int_equal(user_count(r, "8", false), 0);
	evc__reg_free(r);
}

static void test_bound(void **state)
{
	(void)state;
	evc__reg_opts_t o = {.max_entries = 3};
	evc__reg_t *r;
	char cid[16];
	assert_int_equal(evc__reg_new(&o, NULL, &r), 0);
	for (int i = 0; i < 3; i++) {
		snprintf(cid, sizeof(cid), "c%d", i);
		evc__reg_update_t u = reg_u("1000", cid, T0, "A", 60);
		assert_int_equal(evc__reg_apply(r, &u, T0), 1);
	}
	evc__reg_update_t u = reg_u("1000", "c9", T0, "A", 60);
	assert_int_equal(evc__reg_apply(r, &u, T0), EVCAST_E2BIG);
	u = reg_u("1000", "c1", T0 + 1, "A", 60); /* an update of a present key still applies */
	assert_int_equal(evc__reg_apply(r, &u, T0), 1);
	evc__reg_stats_t st;
	evc__reg_stats(r, &st);
	assert_int_equal(st.refused_full, 1);
	u.user = ""; /* invalid */
	assert_int_equal(evc__reg_apply(r, &u, T0), EVCAST_EINVAL);
	evc__reg_free(r);
}

static void test_persistence_round_trip(void **state)
{
	(void)state;
	char dir[] = "/tmp/evc-reg-XXXXXX", path[128], err[256];
	evc__reg_t *r;
	evc__reg_stats_t st;
	evc__reg_entry_t *e;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/reg.db", dir);
	r = mk();
	assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), 0);
	evc__reg_update_t a = reg_u("1000", "c1", T0, "A", 600), b = reg_u("1001", "c2", T0, "B", 30);
	evc__reg_update_t t = tomb_u("1002", "c3", T0, "C"), gone = reg_u("1003", "c4", T0, "A", 600);
	a.net_port = 5070;
	a.user_agent = "phone/1";
	assert_int_equal(evc__reg_apply(r, &a, T0), 1);
	assert_int_equal(evc__reg_apply(r, &b, T0), 1);
	assert_int_equal(evc__reg_apply(r, &t, T0), 1);
	evc__reg_update_t soon = reg_u("1004", "c5", T0, "A", 38);
	assert_int_equal(evc__reg_apply(r, &gone, T0), 1);
	assert_int_equal(evc__reg_apply(r, &soon, T0), 1);
	assert_int_equal(evc__reg_db_pending(r), 5);
	assert_int_equal(evc__reg_db_flush(r), 5);
	gone = tomb_u("1003", "c4", T0 + 1, "A");
	assert_int_equal(evc__reg_apply(r, &gone, T0), 1);
	assert_int_equal(evc__reg_sweep(r, T0 + 35000), 1); /* 1001 expired, deleted from the db */
	evc__reg_free(r); /* flushes on close */

	r = mk();
	/* reopened 40 s later: 1004 (38 s) has expired meanwhile and is not restored */
	assert_int_equal(evc__reg_db_open(r, path, T0 + 40000, err, sizeof(err)), 0);
	evc__reg_stats(r, &st);
	assert_int_equal(st.live, 1);
	assert_int_equal(st.tombs, 2);
	assert_int_equal(st.db_restored, 3);
	e = evc__reg_find(r, "internal", "1000", "example.test", "c1");
	assert_non_null(e);
	assert_int_equal(e->net_port, 5070);
	assert_string_equal(e->user_agent, "phone/1");
	assert_int_equal(e->expires_ms, T0 + 600000);
	assert_true(evc__reg_find(r, "internal", "1002", "example.test", "c3")->tomb);
	assert_true(evc__reg_find(r, "internal", "1003", "example.test", "c4")->tomb);
	assert_null(evc__reg_find(r, "internal", "1001", "example.test", "c2"));
	assert_null(evc__reg_find(r, "internal", "1004", "example.test", "c5"));
	/* the restored tomb still beats a late register */
	evc__reg_update_t late = reg_u("1002", "c3", T0 - 5, "C", 600);
	assert_int_equal(evc__reg_apply(r, &late, T0 + 40000), 0);
	evc__reg_free(r);

	/* a path that cannot be opened is an error naming it: a misconfiguration */
	r = mk();
	assert_int_equal(evc__reg_db_open(r, "/nonexistent-dir/x/reg.db", T0, err, sizeof(err)), EVCAST_EINVAL);
	assert_non_null(strstr(err, "/nonexistent-dir/x/reg.db"));
	evc__reg_free(r);
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* take / write / done (the daemon's worker-thread flush): changes made while a
 * batch is out are queued for the next one; a second take waits for done. */
static void test_batch_steps(void **state)
{
	(void)state;
	char dir[] = "/tmp/evc-reg-XXXXXX", path[128], err[256];
	evc__reg_t *r = mk();
	evc__reg_db_batch_t *b;
	evc__reg_stats_t st;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/reg.db", dir);
	assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), 0);
	evc__reg_update_t a = reg_u("1000", "c1", T0, "A", 600);
	assert_int_equal(evc__reg_apply(r, &a, T0), 1);
	assert_non_null(b = evc__reg_db_take(r));
	assert_int_equal(evc__reg_db_pending(r), 0);
	assert_null(evc__reg_db_take(r)); /* one batch out at a time */
	a.ts_us += 1000;
	a.contact = "sip:newer@x";
	assert_int_equal(evc__reg_apply(r, &a, T0), 1); /* while the batch is out */
	assert_int_equal(evc__reg_db_pending(r), 1);
	evc__reg_db_write(r, b);
	assert_int_equal(evc__reg_db_done(r, b), 1);
	assert_int_equal(evc__reg_db_flush(r), 1);
	evc__reg_stats(r, &st);
	assert_int_equal(st.db_rows_written, 2);
	assert_int_equal(st.db_flushes, 2);
	evc__reg_free(r);
	r = mk();
	assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), 0);
	assert_string_equal(evc__reg_find(r, "internal", "1000", "example.test", "c1")->contact, "sip:newer@x");
	evc__reg_free(r);
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_10k_timing(void **state)
{
	(void)state;
	char dir[] = "/tmp/evc-reg-XXXXXX", path[128], err[256], user[16], cid[32];
	evc__reg_t *r = mk();
	double t0, t1, t2;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/reg.db", dir);
	assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), 0);
	t0 = now_s();
	for (int i = 0; i < 10000; i++) {
		snprintf(user, sizeof(user), "%d", 10000 + i);
		snprintf(cid, sizeof(cid), "cid-%d@host", i);
		evc__reg_update_t u = reg_u(user, cid, T0, "A", 600);
		assert_int_equal(evc__reg_apply(r, &u, T0), 1);
	}
	t1 = now_s();
	assert_int_equal(evc__reg_db_flush(r), 10000);
	t2 = now_s();
	printf("# 10k registrations: apply %.1f ms, one flush transaction %.1f ms\n", (t1 - t0) * 1e3,
	       (t2 - t1) * 1e3);
	evc__reg_free(r);
	r = mk();
	t0 = now_s();
	assert_int_equal(evc__reg_db_open(r, path, T0, err, sizeof(err)), 0);
	printf("# restore of 10k rows: %.1f ms\n", (now_s() - t0) * 1e3);
	evc__reg_stats_t st;
	evc__reg_stats(r, &st);
	assert_int_equal(st.live, 10000);
	evc__reg_free(r);
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_event),
		cmocka_unit_test(test_lww_and_tiebreak),
		cmocka_unit_test(test_tombstone_beats_late_register),
		cmocka_unit_test(test_order_and_duplicates_converge),
		cmocka_unit_test(test_expiry_and_wildcard),
		cmocka_unit_test(test_user_index),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_persistence_round_trip),
		cmocka_unit_test(test_batch_steps),
		cmocka_unit_test(test_10k_timing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
