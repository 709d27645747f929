/*
 * regsync.h -- state transfer of the registration table between evcastd nodes
 * (regsync.c), started and stopped by registrations.c only.
 *
 * A joining node asks ONE donor for the whole table; the donor streams it,
 * throttled, as CUSTOM evcast::regsync events; every synced node broadcasts a
 * digest per bucket now and then (and at once after a repair), and a node
 * whose buckets differ asks that node for the entries of the differing leaves
 * only, the donor pulling from it in turn (anti-entropy; regsync_digest.h).
 * Files: regsync.c, regsync_donor.c, regsync_digest.c (shared: regsync_int.h).
 * Needs "CUSTOM evcast::regsync" in the bindings (a warning says so otherwise).
 */
#ifndef EVCAST_REGSYNC_H
#define EVCAST_REGSYNC_H

#include "daemon.h"
#include "registry.h"

typedef struct evcd_regsync evcd_regsync_t;

typedef struct evcd_regsync_cfg {
	bool enabled;            /* sync (default yes) */
	unsigned rate;           /* data events per second a donor sends (default 2000) */
	unsigned join_wait_ms;   /* no peer by then: synced alone (default 3000) */
	unsigned timeout_ms;     /* donor silent that long: try another (default 5000) */
	unsigned digest_ms;      /* anti-entropy interval, 0 = off (default 10000) */
	unsigned window;         /* data events in flight, not yet acknowledged (default 8) */
} evcd_regsync_cfg_t;

/* Parses one registrations.conf param of this module: 1 taken, 0 not ours, -1 bad value. */
int evcd_regsync_param(evcd_regsync_cfg_t *c, const char *name, const char *value);
void evcd_regsync_defaults(evcd_regsync_cfg_t *c);
int evcd_regsync_start(evcd_t *d, evc__reg_t *reg, const evcd_regsync_cfg_t *c, evcd_regsync_t **out);
void evcd_regsync_stop(evcd_regsync_t *s);
/* {"state":"synced",...} members appended to a JSON object, for show registrations as json
 * (not const: the table digest it shows is cached in s). */
struct cJSON;
void evcd_regsync_stats_json(evcd_regsync_t *s, struct cJSON *obj);

#endif
