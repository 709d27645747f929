/*
 * registry.c -- the registration table: hash map, last-writer-wins, tombstones,
 * expiry by absolute time, event parsing. Contract in registry.h.
 *
 * An entry is one allocation (struct + its strings); an update that wins
 * replaces the entry in its chain. Versions compare (ts_us, node name, tomb):
 * equal versions are duplicates and change nothing. Every change queues the
 * key for registry_db.c when a database is open (never written here).
 * Sections: entries and hashing, table, LWW apply, sweep and walk, events.
 */
#include "registry.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REG_FIELD_MAX 1024 /* longest accepted value of any field */
#define REG_KEY_MAX (4 * REG_FIELD_MAX + 8)

struct evc__reg {
	evc__reg_opts_t opts;
	evc__logger_t lg;
	evc__reg_entry_t **buckets;  /* by key */
	evc__reg_entry_t **ubuckets; /* by user@realm: the same nbuckets */
	size_t nbuckets, n;
	evc__reg_stats_t st;
	evc__reg_change_cb change;
	void *change_ud;
	evc__reg_pending_t pending;
	evc__reg_db_t *db;
	evc__reg_dbopts_t dbopts; /* store faults (issue 13, store) */
};

/* ------------------------------------------------ entries and hashing */

static uint32_t hash_key(const char *k)
{
	uint32_t h = 2166136261u;
	for (; *k; k++)
		h = (h ^ (uint8_t)*k) * 16777619u;
	return h;
}

static const char *nz(const char *s) { return s ? s : ""; }

/* user@realm, case-insensitive (as the queries compare) */
static uint32_t hash_user(const char *user, const char *realm)
{
	uint32_t h = 2166136261u;
	for (const char *k = user; *k; k++)
		h = (h ^ (uint8_t)(*k | 0x20)) * 16777619u;
	h = (h ^ 0x1f) * 16777619u;
	for (const char *k = realm; *k; k++)
		h = (h ^ (uint8_t)(*k | 0x20)) * 16777619u;
	return h;
}

/* Writes profile\x1fuser\x1frealm\x1fcall-id into buf (REG_KEY_MAX). */
static int key_build(char *buf, const char *profile, const char *user, const char *realm, const char *call_id)
{
	int n = snprintf(buf, REG_KEY_MAX, "%s\x1f%s\x1f%s\x1f%s", nz(profile), nz(user), nz(realm), nz(call_id));
	return n < 0 || n >= REG_KEY_MAX ? EVCAST_E2BIG : 0;
}

static evc__reg_entry_t *entry_new(const evc__reg_update_t *u, const char *key)
{
	const char *f[10] = {u->profile, u->user, u->realm, u->call_id, u->contact,
			     u->net_ip,  u->user_agent, u->status, u->node, u->node_ip};
	size_t len[10], klen = strlen(key) + 1, total = sizeof(evc__reg_entry_t) + klen;
	evc__reg_entry_t *e;
	char *p, **dst[10];
	for (int i = 0; i < 10; i++)
		total += (len[i] = strlen(nz(f[i])) + 1);
	if (!(e = evc__calloc(1, total)))
		return NULL;
	p = (char *)(e + 1);
	memcpy(p, key, klen);
	e->key = p;
	p += klen;
	dst[0] = &e->profile, dst[1] = &e->user, dst[2] = &e->realm, dst[3] = &e->call_id;
	dst[4] = &e->contact, dst[5] = &e->net_ip, dst[6] = &e->user_agent, dst[7] = &e->status;
	dst[8] = &e->node, dst[9] = &e->node_ip;
	for (int i = 0; i < 10; i++) {
		memcpy(p, nz(f[i]), len[i]);
		*dst[i] = p;
		p += len[i];
	}
	e->hash = hash_key(key);
	e->uhash = hash_user(e->user, e->realm);
	e->size = (uint32_t)total;
	e->net_port = u->net_port;
	e->ts_us = u->ts_us;
	e->tomb = u->tomb;
	return e;
}

evc__reg_entry_t *evc__reg_entry_dup(const evc__reg_entry_t *e)
{
	evc__reg_entry_t *c = evc__malloc(e->size);
	char *const *src[11] = {&e->key, &e->profile, &e->user, &e->realm, &e->call_id, &e->contact,
				&e->net_ip, &e->user_agent, &e->status, &e->node, &e->node_ip};
	char **dst[11] = {&c->key, &c->profile, &c->user, &c->realm, &c->call_id, &c->contact,
			  &c->net_ip, &c->user_agent, &c->status, &c->node, &c->node_ip};
	if (!c)
		return NULL;
	memcpy(c, e, e->size);
	for (int i = 0; i < 11; i++) /* the strings follow the struct: same offsets in the copy */
		*dst[i] = (char *)c + (*src[i] - (const char *)e);
	c->next = c->unext = NULL;
	return c;
}

/* ---------------------------------------------------------------- table */

int evc__reg_new(const evc__reg_opts_t *opts, const evc__logger_t *lg, evc__reg_t **out)
{
	evc__reg_t *r;
	if (!out)
		return EVCAST_EINVAL;
	*out = NULL;
	if (!(r = evc__calloc(1, sizeof(*r))))
		return EVCAST_ENOMEM;
	if (opts)
		r->opts = *opts;
	if (!r->opts.tombstone_ttl_ms)
		r->opts.tombstone_ttl_ms = 3600 * 1000;
	if (!r->opts.max_entries)
		r->opts.max_entries = 1000000;
	if (lg)
		r->lg = *lg;
	r->nbuckets = 1024;
	if (!(r->buckets = evc__calloc(r->nbuckets, sizeof(*r->buckets))) ||
	    !(r->ubuckets = evc__calloc(r->nbuckets, sizeof(*r->ubuckets)))) {
		evc__free(r->buckets);
		evc__free(r);
		return EVCAST_ENOMEM;
	}
	r->pending.max = r->opts.max_entries < 65536 ? 65536 : r->opts.max_entries;
	*out = r;
	return 0;
}

void evc__reg_free(evc__reg_t *r)
{
	if (!r)
		return;
	evc__reg_db_close(r);
	for (size_t i = 0; i < r->nbuckets; i++) {
		evc__reg_entry_t *e = r->buckets[i], *nx;
		for (; e; e = nx) {
			nx = e->next;
			evc__free(e);
		}
	}
	for (size_t i = 0; i < r->pending.n; i++)
		evc__free(r->pending.v[i]);
	evc__free(r->pending.v);
	evc__free(r->buckets);
	evc__free(r->ubuckets);
	evc__free(r);
}

void evc__reg_set_change_cb(evc__reg_t *r, evc__reg_change_cb cb, void *ud)
{
	r->change = cb;
	r->change_ud = ud;
}

evc__reg_db_t **evc__reg_dbp(evc__reg_t *r) { return &r->db; }
evc__reg_pending_t *evc__reg_pendingp(evc__reg_t *r) { return &r->pending; }
evc__reg_stats_t *evc__reg_statsp(evc__reg_t *r) { return &r->st; }
const evc__logger_t *evc__reg_logger(const evc__reg_t *r) { return &r->lg; }
evc__reg_dbopts_t *evc__reg_dboptsp(evc__reg_t *r) { return &r->dbopts; }

void evc__reg_mark_all_dirty(evc__reg_t *r)
{
	for (size_t i = 0; r->db && i < r->nbuckets; i++)
		for (evc__reg_entry_t *e = r->buckets[i]; e; e = e->next)
			evc__reg_mark_dirty(r, e);
}

static void grow(evc__reg_t *r)
{
	size_t nb = r->nbuckets * 2;
	evc__reg_entry_t **b = evc__calloc(nb, sizeof(*b)), **ub = evc__calloc(nb, sizeof(*ub));
	if (!b || !ub) {
		evc__free(b);
		evc__free(ub);
		return; /* longer chains, still correct */
	}
	for (size_t i = 0; i < r->nbuckets; i++) {
		evc__reg_entry_t *e = r->buckets[i], *nx;
		for (; e; e = nx) {
			nx = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
			e->unext = ub[e->uhash & (nb - 1)];
			ub[e->uhash & (nb - 1)] = e;
		}
	}
	evc__free(r->buckets);
	evc__free(r->ubuckets);
	r->buckets = b;
	r->ubuckets = ub;
	r->nbuckets = nb;
}

/* User index: link, unlink, replace in place. */
static void uindex_add(evc__reg_t *r, evc__reg_entry_t *e)
{
	evc__reg_entry_t **head = &r->ubuckets[e->uhash & (r->nbuckets - 1)];
	e->unext = *head;
	*head = e;
}

static evc__reg_entry_t **uindex_link(evc__reg_t *r, const evc__reg_entry_t *e)
{
	evc__reg_entry_t **pp = &r->ubuckets[e->uhash & (r->nbuckets - 1)];
	while (*pp && *pp != e)
		pp = &(*pp)->unext;
	return pp;
}

static void uindex_del(evc__reg_t *r, evc__reg_entry_t *e)
{
	evc__reg_entry_t **pp = uindex_link(r, e);
	if (ALWAYS(*pp))
		*pp = e->unext;
}

static void uindex_replace(evc__reg_t *r, evc__reg_entry_t *old, evc__reg_entry_t *ne)
{
	evc__reg_entry_t **pp = uindex_link(r, old);
	if (ALWAYS(*pp)) {
		ne->unext = old->unext;
		*pp = ne;
	}
}

void evc__reg_foreach_user(evc__reg_t *r, const char *user, const char *realm, bool with_tombs,
			   void (*fn)(void *ud, const evc__reg_entry_t *e), void *ud)
{
	uint32_t h = hash_user(nz(user), nz(realm));
	for (evc__reg_entry_t *e = r->ubuckets[h & (r->nbuckets - 1)]; e; e = e->unext)
		if (e->uhash == h && (with_tombs || !e->tomb) && !strcasecmp(e->user, nz(user)) &&
		    !strcasecmp(e->realm, nz(realm)))
			fn(ud, e);
}

/* The link pointing at the entry of key (or at the chain's NULL end). */
static evc__reg_entry_t **find_link(evc__reg_t *r, const char *key, uint32_t h)
{
	evc__reg_entry_t **pp = &r->buckets[h & (r->nbuckets - 1)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && strcmp((*pp)->key, key) == 0)
			break;
	return pp;
}

evc__reg_entry_t *evc__reg_find_key(evc__reg_t *r, const char *key)
{
	return *find_link(r, key, hash_key(key));
}

evc__reg_entry_t *evc__reg_find(evc__reg_t *r, const char *profile, const char *user, const char *realm,
				const char *call_id)
{
	char key[REG_KEY_MAX];
	if (key_build(key, profile, user, realm, call_id) != 0)
		return NULL;
	return evc__reg_find_key(r, key);
}

static void count(evc__reg_t *r, const evc__reg_entry_t *e, int d)
{
	if (e->tomb)
		r->st.tombs += (size_t)d;
	else
		r->st.live += (size_t)d;
}

/* Queues key (copied); false when it could not be (dropped or no memory: counted). */
static bool queue_key(evc__reg_t *r, const char *key)
{
	char *k;
	evc__reg_pending_t *p = &r->pending;
	if (p->n >= p->max) {
		if (!r->dbopts.failing && !r->dbopts.forcing) { /* a failing disk is not retried per change */
			r->st.db_forced_flushes++;
			r->dbopts.forcing = true;
			evc__reg_db_flush(r); /* does nothing while a batch is out on a worker */
			r->dbopts.forcing = false;
		}
		if (p->n >= p->max) {
			r->st.db_dropped++; /* stale on disk until every entry is written again (rewrite) */
			r->dbopts.rewrite = true;
			return false;
		}
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 1024;
		char **v = evc__realloc(p->v, cap * sizeof(*v));
		if (!v) {
			r->st.db_errors++;
			return false;
		}
		p->v = v;
		p->cap = cap;
	}
	if (!(k = evc__strdup(key))) {
		r->st.db_errors++;
		return false;
	}
	p->v[p->n++] = k;
	return true;
}

void evc__reg_mark_deleted(evc__reg_t *r, const char *key)
{
	if (r->db)
		queue_key(r, key);
}

void evc__reg_mark_dirty(evc__reg_t *r, evc__reg_entry_t *e)
{
	if (!r->db || e->dirty)
		return;
	/* same queue: the flush writes what the table holds; not queued: not dirty (a rewrite takes it) */
	e->dirty = queue_key(r, e->key);
}

/* Unlinks and frees the entry at *pp; down callback when it was live. */
static void remove_at(evc__reg_t *r, evc__reg_entry_t **pp)
{
	evc__reg_entry_t *e = *pp;
	*pp = e->next;
	uindex_del(r, e);
	r->n--;
	count(r, e, -1);
	if (!e->tomb && r->change)
		r->change(r->change_ud, e, false);
	if (!e->dirty)
		evc__reg_mark_deleted(r, e->key);
	evc__free(e);
}

/* ------------------------------------------------------------ LWW apply */

/* >0 when u's version beats e's: (ts_us, node, tomb) */
static int version_cmp(const evc__reg_update_t *u, const evc__reg_entry_t *e)
{
	int c;
	if (u->ts_us != e->ts_us)
		return u->ts_us > e->ts_us ? 1 : -1;
	if ((c = strcmp(nz(u->node), e->node)) != 0)
		return c;
	return (int)u->tomb - (int)e->tomb;
}

/* Puts n in place of *pp (or appends when *pp is NULL); counts, marks, notifies. */
static void install(evc__reg_t *r, evc__reg_entry_t **pp, evc__reg_entry_t *ne)
{
	evc__reg_entry_t *old = *pp;
	bool was_live = old && !old->tomb;
	if (old) {
		ne->next = old->next;
		ne->dirty = old->dirty;
		uindex_replace(r, old, ne);
		count(r, old, -1);
		r->n--;
	} else {
		uindex_add(r, ne);
	}
	*pp = ne;
	r->n++;
	count(r, ne, +1);
	evc__reg_mark_dirty(r, ne);
	if (r->change) {
		if (!ne->tomb)
			r->change(r->change_ud, ne, true);
		else if (was_live)
			r->change(r->change_ud, old, false);
	}
	evc__free(old);
	if (r->n > r->nbuckets)
		grow(r);
}

static bool field_ok(const char *s) { return !s || strlen(s) < REG_FIELD_MAX; }

/* The checks every update passes, from the network or from the database file. */
static bool update_ok(const evc__reg_update_t *u)
{
	return u->user && *u->user && u->realm && *u->realm && field_ok(u->profile) && field_ok(u->user) &&
	       field_ok(u->realm) && field_ok(u->call_id) && field_ok(u->contact) && field_ok(u->net_ip) &&
	       field_ok(u->user_agent) && field_ok(u->status) && field_ok(u->node) && field_ok(u->node_ip);
}

/* Tomb without call-id: every older live call of user@realm (and profile when given). */
static int apply_wildcard(evc__reg_t *r, const evc__reg_update_t *u, int64_t now_ms)
{
	int changed = 0;
	for (size_t i = 0; i < r->nbuckets; i++) {
		evc__reg_entry_t **pp = &r->buckets[i];
		while (*pp) {
			evc__reg_entry_t *e = *pp;
			evc__reg_update_t t;
			if (e->tomb || strcasecmp(e->user, u->user) != 0 || strcasecmp(e->realm, u->realm) != 0 ||
			    (u->profile && *u->profile && strcmp(e->profile, u->profile) != 0) ||
			    version_cmp(u, e) <= 0) {
				pp = &e->next;
				continue;
			}
			t = *u;
			t.profile = e->profile, t.call_id = e->call_id;
			/* the tomb replaces e in the same chain slot */
			evc__reg_entry_t *ne = entry_new(&t, e->key);
			if (!ne)
				return EVCAST_ENOMEM;
			ne->expires_ms = (int64_t)(u->ts_us / 1000) + (int64_t)r->opts.tombstone_ttl_ms;
			if (ne->expires_ms <= now_ms) {
				evc__free(ne);
				remove_at(r, pp);
			} else {
				install(r, pp, ne);
				pp = &ne->next;
			}
			changed = 1;
		}
	}
	if (changed)
		r->st.applied++;
	else
		r->st.stale++;
	return changed;
}

int evc__reg_apply(evc__reg_t *r, const evc__reg_update_t *u, int64_t now_ms)
{
	char key[REG_KEY_MAX];
	evc__reg_entry_t **pp, *e, *ne;
	uint32_t h;
	int64_t until;
	if (!r || !u || !update_ok(u)) {
		if (r)
			r->st.invalid++;
		return EVCAST_EINVAL;
	}
	if (u->tomb && (!u->call_id || !*u->call_id))
		return apply_wildcard(r, u, now_ms);
	if (!u->call_id || !*u->call_id) {
		r->st.invalid++;
		return EVCAST_EINVAL;
	}
	if (key_build(key, u->profile, u->user, u->realm, u->call_id) != 0) {
		r->st.invalid++;
		return EVCAST_EINVAL;
	}
	h = hash_key(key);
	pp = find_link(r, key, h);
	e = *pp;
	if (e && version_cmp(u, e) <= 0) {
		r->st.stale++;
		return 0;
	}
	until = u->tomb ? (int64_t)(u->ts_us / 1000) + (int64_t)r->opts.tombstone_ttl_ms
			: u->expires_ms + r->opts.expires_margin_ms;
	if (until <= now_ms) {
		/* already expired (or a tomb past its keep): it still removes what it beats */
		if (!u->tomb)
			r->st.expired_on_arrival++;
		if (!e) {
			r->st.stale++;
			return 0;
		}
		remove_at(r, pp);
		r->st.applied++;
		return 1;
	}
	if (!e && r->n >= r->opts.max_entries) {
		r->st.refused_full++;
		return EVCAST_E2BIG;
	}
	if (!(ne = entry_new(u, key)))
		return EVCAST_ENOMEM;
	ne->expires_ms = until;
	install(r, pp, ne);
	r->st.applied++;
	return 1;
}

int evc__reg_restore(evc__reg_t *r, const evc__reg_update_t *u, int64_t until_ms)
{
	char key[REG_KEY_MAX];
	evc__reg_entry_t **pp, *ne;
	if (!update_ok(u) || !u->call_id || !*u->call_id ||
	    key_build(key, u->profile, u->user, u->realm, u->call_id) != 0) {
		r->st.invalid++; /* a row of the file: the same checks as an update from the network */
		return EVCAST_EINVAL;
	}
	pp = find_link(r, key, hash_key(key));
	if (*pp)
		return 0;
	if (r->n >= r->opts.max_entries) {
		r->st.refused_full++;
		return EVCAST_E2BIG;
	}
	if (!(ne = entry_new(u, key)))
		return EVCAST_ENOMEM;
	ne->expires_ms = until_ms;
	*pp = ne;
	uindex_add(r, ne);
	r->n++;
	count(r, ne, +1);
	if (!ne->tomb && r->change)
		r->change(r->change_ud, ne, true);
	if (r->n > r->nbuckets)
		grow(r);
	return 1;
}

/* ------------------------------------------------------- sweep and walk */

size_t evc__reg_sweep(evc__reg_t *r, int64_t now_ms)
{
	size_t removed = 0;
	for (size_t i = 0; i < r->nbuckets; i++) {
		evc__reg_entry_t **pp = &r->buckets[i];
		while (*pp) {
			if ((*pp)->expires_ms > now_ms) {
				pp = &(*pp)->next;
				continue;
			}
			if ((*pp)->tomb)
				r->st.tombs_purged++;
			else
				r->st.expired++;
			remove_at(r, pp);
			removed++;
		}
	}
	return removed;
}

void evc__reg_foreach(evc__reg_t *r, bool with_tombs, void (*fn)(void *ud, const evc__reg_entry_t *e), void *ud)
{
	for (size_t i = 0; i < r->nbuckets; i++)
		for (evc__reg_entry_t *e = r->buckets[i]; e; e = e->next)
			if (with_tombs || !e->tomb)
				fn(ud, e);
}

void evc__reg_stats(const evc__reg_t *r, evc__reg_stats_t *out)
{
	*out = r->st;
}

int64_t evc__reg_margin_ms(const evc__reg_t *r)
{
	return r->opts.expires_margin_ms;
}

size_t evc__reg_live(const evc__reg_t *r)
{
	return r->st.live;
}

/* --------------------------------------------------------------- events */

static const char *hget(const evcast_event_t *ev, const char *prefix, const char *name)
{
	char hn[128];
	snprintf(hn, sizeof(hn), "%s%s", prefix, name);
	const char *v = evcast_event_get_header(ev, hn);
	return v && *v ? v : NULL;
}

static const char *hget2(const evcast_event_t *ev, const char *prefix, const char *a, const char *b)
{
	const char *v = hget(ev, prefix, a);
	return v ? v : hget(ev, prefix, b);
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;
	if (!s || *s < '0' || *s > '9')
		return EVCAST_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return EVCAST_EINVAL;
	*out = v;
	return 0;
}

int evc__reg_update_from_event(const evcast_event_t *ev, const char *prefix, const char *default_node,
			       evc__reg_update_t *u, char *err, size_t errlen)
{
	const char *name, *sub, *v;
	uint64_t n;
	char dummy[8];
	if (!err)
		err = dummy, errlen = sizeof(dummy);
	err[0] = '\0';
	if (!ev || !u)
		return EVCAST_EINVAL;
	prefix = nz(prefix);
	memset(u, 0, sizeof(*u));
	name = hget(ev, prefix, "Event-Name");
	sub = hget(ev, prefix, "Event-Subclass");
	if (!name || strcasecmp(name, "CUSTOM") != 0 || !sub || strncmp(sub, "sofia::", 7) != 0)
		return EVCAST_ENOENT;
	if (strcmp(sub + 7, "register") == 0)
		u->tomb = false;
	else if (strcmp(sub + 7, "unregister") == 0 || strcmp(sub + 7, "expire") == 0)
		u->tomb = true;
	else
		return EVCAST_ENOENT;
	u->profile = hget(ev, prefix, "profile-name");
	u->user = hget2(ev, prefix, "from-user", "user");
	u->realm = hget2(ev, prefix, "from-host", "host");
	u->call_id = hget(ev, prefix, "call-id");
	u->contact = hget(ev, prefix, "contact");
	u->net_ip = hget(ev, prefix, "network-ip");
	u->user_agent = hget(ev, prefix, "user-agent");
	u->status = hget2(ev, prefix, "status", "statusd");
	u->node = *prefix ? hget(ev, prefix, "Multicast-Sender") : default_node;
	if (!u->node)
		u->node = hget2(ev, prefix, "FreeSWITCH-Switchname", "FreeSWITCH-Hostname");
	if (!u->node)
		u->node = default_node;
	u->node_ip = hget(ev, prefix, "FreeSWITCH-IPv4");
	if (!u->user || !u->realm) {
		snprintf(err, errlen, "%s: no %sfrom-user/%sfrom-host", sub, prefix, prefix);
		return EVCAST_EINVAL;
	}
	if (parse_u64(hget(ev, prefix, "Event-Date-Timestamp"), UINT64_MAX / 2, &u->ts_us) != 0) {
		snprintf(err, errlen, "%s: missing or bad %sEvent-Date-Timestamp", sub, prefix);
		return EVCAST_EINVAL;
	}
	if ((v = hget(ev, prefix, "network-port")) && parse_u64(v, 65535, &n) == 0)
		u->net_port = (uint16_t)n;
	if (!u->tomb) {
		if (!u->call_id) {
			snprintf(err, errlen, "%s: no %scall-id", sub, prefix);
			return EVCAST_EINVAL;
		}
		if (parse_u64(hget(ev, prefix, "expires"), 100u * 365 * 86400, &n) != 0) {
			snprintf(err, errlen, "%s: missing or bad %sexpires", sub, prefix);
			return EVCAST_EINVAL;
		}
		if (n == 0) /* REGISTER with Expires: 0 is an unregister */
			u->tomb = true;
		u->expires_ms = (int64_t)(u->ts_us / 1000) + (int64_t)n * 1000;
	}
	return 0;
}
