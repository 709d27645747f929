/*
 * bindings.c -- which events a node sends, or a subscriber receives.
 *
 * Owns evcast_bindings_*: the legacy "bindings" text ("NAME ... CUSTOM sub1
 * sub2 ... ALL") and the rules subscribers add and remove. Event names match
 * Event-Name case-insensitively (stored uppercase, as FreeSWITCH spells them);
 * every word after CUSTOM is a subclass matched exactly against
 * Event-Subclass; CUSTOM without subclasses selects every CUSTOM event; ALL
 * selects everything. Matching never allocates. Loop prevention (multicast::*)
 * is the node's job, not this file's. Sections: lists; parse; rules; match.
 */
#include "internal.h"
#include <string.h>
#include <strings.h>

#define BIND_MAX_WORD 255   /* bytes in one name or subclass */
#define BIND_MAX_RULES 1024 /* entries in one list */

typedef struct strlist {
	char **v;
	size_t n, cap;
} strlist_t;

struct evcast_bindings {
	bool all;          /* ALL */
	bool custom_all;   /* CUSTOM with no subclass: every CUSTOM event */
	strlist_t names;   /* event names, uppercase */
	strlist_t subs;    /* CUSTOM subclasses, as written */
	strlist_t except;  /* names removed while ALL is on (FreeSWITCH's nixevent) */
};

/* ------------------------------------------------------------------ lists */

static ssize_t list_find(const strlist_t *l, const char *s, size_t n, bool nocase)
{
	for (size_t i = 0; i < l->n; i++) {
		const char *e = l->v[i];
		if ((nocase ? strncasecmp(e, s, n) : strncmp(e, s, n)) == 0 && e[n] == '\0')
			return (ssize_t)i;
	}
	return -1;
}

/* Adds s[0..n) (uppercased when upper) unless present. 0, ENOMEM or E2BIG. */
static int list_add(strlist_t *l, const char *s, size_t n, bool upper)
{
	char *d;
	if (list_find(l, s, n, upper) >= 0)
		return 0;
	if (l->n >= BIND_MAX_RULES)
		return EVCAST_E2BIG;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		char **v = evc__realloc(l->v, cap * sizeof(*v));
		if (!v)
			return EVCAST_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	if (!(d = evc__strndup(s, n)))
		return EVCAST_ENOMEM;
	if (upper)
		for (size_t i = 0; i < n; i++)
			if (d[i] >= 'a' && d[i] <= 'z')
				d[i] = (char)(d[i] - 'a' + 'A');
	l->v[l->n++] = d;
	return 0;
}

/* Removes s if present; true when it was. */
static bool list_del(strlist_t *l, const char *s, bool nocase)
{
	ssize_t i = list_find(l, s, strlen(s), nocase);
	if (i < 0)
		return false;
	evc__free(l->v[i]);
	memmove(&l->v[i], &l->v[i + 1], (l->n - (size_t)i - 1) * sizeof(*l->v));
	l->n--;
	return true;
}

static void list_clear(strlist_t *l)
{
	for (size_t i = 0; i < l->n; i++)
		evc__free(l->v[i]);
	l->n = 0;
}

static void list_free(strlist_t *l)
{
	list_clear(l);
	evc__free(l->v);
	memset(l, 0, sizeof(*l));
}

/* A word is 1..255 bytes, none of them a control character or a space. */
static bool word_ok(const char *s, size_t n)
{
	if (n == 0 || n > BIND_MAX_WORD)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

static bool word_is(const char *s, size_t n, const char *kw, bool nocase)
{
	return strlen(kw) == n && (nocase ? strncasecmp(s, kw, n) : strncmp(s, kw, n)) == 0;
}

/* ------------------------------------------------------------------ parse */

void evcast_bindings_free(evcast_bindings_t *b)
{
	if (!b)
		return;
	list_free(&b->names);
	list_free(&b->subs);
	list_free(&b->except);
	evc__free(b);
}

/* Words are split on blanks. Before CUSTOM, words are event names (any case;
 * ALL and CUSTOM are keywords). After it, every word is a subclass, except the
 * exact words CUSTOM (repeated, as in "CUSTOM a CUSTOM b") and ALL. */
int evcast_bindings_new(const char *text, evcast_bindings_t **out)
{
	evcast_bindings_t *b;
	bool in_custom = false;
	int rc = 0;
	if (!out)
		return EVCAST_EINVAL;
	*out = NULL;
	if (!(b = evc__calloc(1, sizeof(*b))))
		return EVCAST_ENOMEM;
	for (const char *s = text ? text : ""; *s && !rc;) {
		const char *w;
		size_t n;
		while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
			s++;
		for (w = s; *s && *s != ' ' && *s != '\t' && *s != '\r' && *s != '\n'; s++)
			;
		if (!(n = (size_t)(s - w)))
			break;
		if (!word_ok(w, n))
			rc = EVCAST_EINVAL;
		else if (word_is(w, n, "ALL", !in_custom))
			b->all = true;
		else if (word_is(w, n, "CUSTOM", !in_custom))
			in_custom = true;
		else
			rc = list_add(in_custom ? &b->subs : &b->names, w, n, !in_custom);
	}
	if (rc == EVCAST_E2BIG)
		rc = EVCAST_EINVAL;
	if (rc) {
		evcast_bindings_free(b);
		return rc;
	}
	b->custom_all = in_custom && b->subs.n == 0;
	*out = b;
	return 0;
}

/* ------------------------------------------------------------------ rules */

/* name "ALL": everything. name "CUSTOM": every CUSTOM event when subclass is
 * NULL or "", else that subclass. Any other name: that event. Adding what is
 * already there is a success. */
int evcast_bindings_add(evcast_bindings_t *b, const char *name, const char *subclass)
{
	if (!b || !name || !word_ok(name, strlen(name)))
		return EVCAST_EINVAL;
	if (strcasecmp(name, "ALL") == 0) {
		b->all = true;
		list_clear(&b->except);
		return 0;
	}
	if (strcasecmp(name, "CUSTOM") == 0) {
		if (subclass && *subclass) {
			if (!word_ok(subclass, strlen(subclass)))
				return EVCAST_EINVAL;
			return list_add(&b->subs, subclass, strlen(subclass), false);
		}
		b->custom_all = true;
		list_del(&b->except, "CUSTOM", true);
		return 0;
	}
	list_del(&b->except, name, true);
	return list_add(&b->names, name, strlen(name), true);
}

/* Mirrors FreeSWITCH's nixevent: "ALL" clears every rule; a name removed while
 * ALL is on is excepted from it; "CUSTOM" with no subclass stops every CUSTOM
 * event (the all-CUSTOM rule and each subclass). EVCAST_ENOENT when nothing
 * changed. */
int evcast_bindings_remove(evcast_bindings_t *b, const char *name, const char *subclass)
{
	bool changed = false;
	int rc;
	if (!b || !name || !word_ok(name, strlen(name)))
		return EVCAST_EINVAL;
	if (strcasecmp(name, "ALL") == 0) {
		changed = !evcast_bindings_empty(b);
		b->all = b->custom_all = false;
		list_clear(&b->names);
		list_clear(&b->subs);
		list_clear(&b->except);
		return changed ? 0 : EVCAST_ENOENT;
	}
	if (strcasecmp(name, "CUSTOM") == 0 && subclass && *subclass)
		return list_del(&b->subs, subclass, false) ? 0 : EVCAST_ENOENT;
	if (strcasecmp(name, "CUSTOM") == 0) {
		changed = b->custom_all || b->subs.n;
		b->custom_all = false;
		list_clear(&b->subs);
	} else {
		changed = list_del(&b->names, name, true);
	}
	if (b->all && list_find(&b->except, name, strlen(name), true) < 0) {
		if ((rc = list_add(&b->except, name, strlen(name), true)) < 0)
			return rc;
		changed = true;
	}
	return changed ? 0 : EVCAST_ENOENT;
}

bool evcast_bindings_empty(const evcast_bindings_t *b)
{
	return !b || (!b->all && !b->custom_all && b->names.n == 0 && b->subs.n == 0);
}

/* ------------------------------------------------------------------ match */

bool evcast_bindings_match_name(const evcast_bindings_t *b, const char *name, const char *sub)
{
	if (!b)
		return false;
	if (b->all && (!name || !b->except.n || list_find(&b->except, name, strlen(name), true) < 0))
		return true;
	if (!name)
		return false;
	if (strcasecmp(name, "CUSTOM") == 0) {
		if (b->custom_all)
			return true;
		if (!b->subs.n)
			return false;
		/* As FreeSWITCH: a CUSTOM event without a subclass goes when CUSTOM is bound. */
		return !sub || list_find(&b->subs, sub, strlen(sub), false) >= 0;
	}
	return list_find(&b->names, name, strlen(name), true) >= 0;
}

bool evcast_bindings_match(const evcast_bindings_t *b, const evcast_event_t *ev)
{
	return ev && evcast_bindings_match_name(b, evcast_event_name(ev), evcast_event_subclass(ev));
}
