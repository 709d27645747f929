/*
 * fuzz_registry.c -- libFuzzer target for the registration store's input path.
 *
 * Each input is parsed as plain event text (the received event's headers); the
 * event is offered to evc__reg_update_from_event both as a local event and
 * behind "Orig-" (as the receive path builds it), and what parses is applied
 * to one table at a time derived from the input's bytes, then swept. The
 * invariants: live + tombstones equals what a walk finds, every live entry has
 * user and realm, a sweep at the end of time empties the table, and no input
 * crashes or leaks. Violations abort.
 */
#include <stdlib.h>
#include <string.h>
#include "registry.h"

typedef struct walk {
	size_t live, tombs;
} walk_t;

static void count(void *ud, const evc__reg_entry_t *e)
{
	walk_t *w = ud;
	if (e->tomb) {
		w->tombs++;
	} else {
		w->live++;
		if (!*e->user || !*e->realm)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	evc__reg_opts_t o = {.tombstone_ttl_ms = 1000 + (size % 7) * 1000, .max_entries = 8};
	evc__reg_t *r;
	evcast_event_t *ev = NULL, *wrapped;
	evc__reg_update_t u;
	evc__reg_stats_t st;
	walk_t w = {0};
	int64_t now = 1700000000000LL + (int64_t)(size % 1000) * 1000;
	if (evc__reg_new(&o, NULL, &r) != 0)
		return 0;
	if (evcast_event_from_plain((const char *)data, size, &ev) == 0) {
		if (evc__reg_update_from_event(ev, "", "local", &u, NULL, 0) == 0)
			evc__reg_apply(r, &u, now);
		wrapped = evcast_event_new_named("CUSTOM", "multicast::event");
		if (wrapped && evc__event_add_prefixed(wrapped, "Orig-", ev) == 0 &&
		    evc__reg_update_from_event(wrapped, "Orig-", NULL, &u, NULL, 0) == 0) {
			evc__reg_apply(r, &u, now);
			evc__reg_apply(r, &u, now); /* a duplicate changes nothing */
		}
		evcast_event_free(wrapped);
		evcast_event_free(ev);
	}
	evc__reg_foreach(r, true, count, &w);
	evc__reg_stats(r, &st);
	if (w.live != st.live || w.tombs != st.tombs)
		abort();
	evc__reg_sweep(r, INT64_MAX);
	evc__reg_stats(r, &st);
	if (st.live || st.tombs)
		abort();
	evc__reg_free(r);
	return 0;
}
