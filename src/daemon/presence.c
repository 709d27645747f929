/*
 * presence.c -- presence relay: remote PRESENCE_IN and channel states become
 * local PRESENCE_IN events, as the seed's startup_script_1.lua does (BLF lamps
 * follow calls on other switches). docs/REGISTRATIONS.md, "Presence".
 *
 * Configured by an optional <configuration name="presence.conf"> block:
 * enabled (default yes when the block exists), relay-presence-in (yes),
 * relay-channel-states (yes), confirmed-states ("CS_ROUTING CS_EXECUTE"),
 * terminated-states ("CS_HANGUP"). Consumes received CUSTOM multicast::event
 * only: Orig-Event-Name PRESENCE_IN is re-fired locally with its headers (minus
 * the Orig- prefix and the origin's standard headers); an event whose
 * Orig-Channel-State (else Orig-status) is a listed state becomes a PRESENCE_IN
 * with answer-state confirmed/terminated for Orig-from (else
 * Orig-Channel-Presence-ID). Every relayed event carries
 * "evcast-presence-relay: SENDER"; a received event carrying it is never
 * relayed again (so a relayed event sent on by the bindings makes one more
 * hop at most). Read at start only. Sections: config, relay, start/stop.
 */
#include "daemon.h"
#include "internal.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define RELAY_HDR "evcast-presence-relay"

struct evcd_presence {
	evcd_t *d;
	int sub;
	bool presence_in, channel_states;
	char confirmed[256], terminated[256];
	uint64_t relayed, no_from, errors;
};

/* ----------------------------------------------------------------- config */

/* 1 when the block is present, 0 when absent, EVCAST_EINVAL on a bad value (logged). */
static int read_config(evcd_t *d, struct evcd_presence *p, bool *enabled)
{
	const evcast_section_t *s = d->cfg ? evcast_config_section(d->cfg, "presence.conf") : NULL;
	const char *file = d->config_path ? d->config_path : "config";
	*enabled = true;
	p->presence_in = p->channel_states = true;
	snprintf(p->confirmed, sizeof(p->confirmed), "CS_ROUTING CS_EXECUTE");
	snprintf(p->terminated, sizeof(p->terminated), "CS_HANGUP");
	if (!s)
		return 0;
	for (size_t i = 0; i < s->nparams; i++) {
		const evcast_param_t *q = &s->params[i];
		bool *b = !strcasecmp(q->name, "enabled")		 ? enabled
			  : !strcasecmp(q->name, "relay-presence-in")	 ? &p->presence_in
			  : !strcasecmp(q->name, "relay-channel-states") ? &p->channel_states
									 : NULL;
		char *dst = !strcasecmp(q->name, "confirmed-states")	? p->confirmed
			    : !strcasecmp(q->name, "terminated-states") ? p->terminated
									: NULL;
		if (b) {
			if (evc__conf_bool(q->value, b) < 0)
				goto bad;
		} else if (dst) {
			if (strlen(q->value) >= sizeof(p->confirmed))
				goto bad;
			snprintf(dst, sizeof(p->confirmed), "%s", q->value);
		} else {
			evcd_logf(d, EVCAST_LOG_WARNING, "%s:%d: presence.conf: unknown param \"%s\" ignored", file, q->line,
				  q->name);
		}
		continue;
	bad:
		evcd_logf(d, EVCAST_LOG_ERR, "%s:%d: presence.conf: invalid value \"%s\" for %s", file, q->line, q->value,
			  q->name);
		return EVCAST_EINVAL;
	}
	return 1;
}

/* ------------------------------------------------------------------ relay */

/* True when word is one of the blank-separated words of list. */
static bool in_list(const char *list, const char *word)
{
	size_t n = strlen(word);
	while (*list) {
		size_t m;
		list += strspn(list, " \t,");
		m = strcspn(list, " \t,");
		if (m == n && n && strncasecmp(list, word, n) == 0)
			return true;
		list += m;
	}
	return false;
}

/* Headers the origin's node added: the local node adds its own. */
static bool is_std_header(const char *name)
{
	static const char *const std[] = {"Event-Name", "Core-UUID", "Event-Sequence", "Multicast-Sender"};
	for (size_t i = 0; i < EVC_ARRAY_SIZE(std); i++)
		if (!strcasecmp(name, std[i]))
			return true;
	return !strncasecmp(name, "FreeSWITCH-", 11) || !strncasecmp(name, "Event-Date-", 11) ||
	       !strncasecmp(name, "Event-Calling-", 14);
}

static evcast_event_t *copy_presence_in(const evcast_event_t *ev)
{
	evcast_event_t *out = evcast_event_new_named("PRESENCE_IN", NULL);
	const char *name, *value;
	size_t blen = 0;
	const char *body;
	if (!out)
		return NULL;
	for (size_t i = 0; evcast_event_header_at(ev, i, &name, &value) == 0; i++) {
		if (strncasecmp(name, "Orig-", 5) != 0 || is_std_header(name + 5))
			continue;
		if (evcast_event_add_header(out, name + 5, value) != 0) {
			evcast_event_free(out);
			return NULL;
		}
	}
	if ((body = evcast_event_get_body(ev, &blen)) && blen)
		evcast_event_set_body(out, body, blen);
	return out;
}

static evcast_event_t *from_channel_state(struct evcd_presence *p, const evcast_event_t *ev, const char *state)
{
	const char *from = evcast_event_get_header(ev, "Orig-from");
	const char *uuid = evcast_event_get_header(ev, "Orig-Unique-ID");
	evcast_event_t *out;
	int r = 0;
	if (!from || !*from)
		from = evcast_event_get_header(ev, "Orig-Channel-Presence-ID");
	if (!from || !*from) {
		p->no_from++;
		return NULL;
	}
	if (!(out = evcast_event_new_named("PRESENCE_IN", NULL)))
		return NULL;
	r |= evcast_event_add_header(out, "proto", "sip");
	r |= evcast_event_add_header(out, "event_type", "presence");
	r |= evcast_event_add_header(out, "alt_event_type", "dialog");
	r |= evcast_event_add_header(out, "Presence-Call-Direction", "outbound");
	r |= evcast_event_add_header(out, "from", from);
	r |= evcast_event_add_header(out, "login", from);
	r |= evcast_event_add_header(out, "answer-state", in_list(p->terminated, state) ? "terminated" : "confirmed");
	r |= evcast_event_add_header(out, "channel-state", state);
	if (uuid)
		r |= evcast_event_add_header(out, "Unique-ID", uuid);
	if (r) {
		evcast_event_free(out);
		return NULL;
	}
	return out;
}

static void on_event(void *ud, const evcast_event_t *ev)
{
	struct evcd_presence *p = ud;
	const char *sub = evcast_event_subclass(ev), *oname, *state, *sender;
	evcast_event_t *out = NULL;
	if (!sub || strcmp(sub, "multicast::event") != 0 || evcast_event_get_header(ev, "Orig-" RELAY_HDR))
		return;
	oname = evcast_event_get_header(ev, "Orig-Event-Name");
	if (oname && !strcasecmp(oname, "PRESENCE_IN")) {
		if (p->presence_in)
			out = copy_presence_in(ev);
		else
			return;
	} else if (p->channel_states) {
		state = evcast_event_get_header(ev, "Orig-Channel-State");
		if (!state || !*state)
			state = evcast_event_get_header(ev, "Orig-status");
		if (!state || !(in_list(p->confirmed, state) || in_list(p->terminated, state)))
			return;
		if (!(out = from_channel_state(p, ev, state)))
			return;
	} else {
		return;
	}
	sender = evcast_event_get_header(ev, "Orig-Multicast-Sender");
	if (!out || evcast_event_set_header(out, RELAY_HDR, sender ? sender : "unknown") != 0) {
		evcast_event_free(out);
		p->errors++;
		return;
	}
	/* one PRESENCE_IN per remote presence event: low volume, no wait (back-pressure) */
	if (evcast_node_fire(p->d->node, out) == 0)
		p->relayed++;
	else
		p->errors++;
}

/* ------------------------------------------------------------- start/stop */

int evcd_presence_check(evcd_t *d)
{
	struct evcd_presence p;
	bool enabled;
	memset(&p, 0, sizeof(p));
	return read_config(d, &p, &enabled) < 0 ? EVCAST_EINVAL : 0;
}

int evcd_presence_start(evcd_t *d)
{
	struct evcd_presence *p;
	bool enabled;
	int rc;
	if (!(p = evc__calloc(1, sizeof(*p))))
		return EVCAST_ENOMEM;
	rc = read_config(d, p, &enabled);
	if (rc <= 0 || !enabled || !d->node) {
		evc__free(p);
		return rc < 0 ? rc : 0;
	}
	p->d = d;
	if ((rc = evcast_node_subscribe(d->node, on_event, p)) < 0) {
		evc__free(p);
		return rc;
	}
	p->sub = rc;
	d->presence = p;
	evcd_logf(d, EVCAST_LOG_NOTICE, "presence: relay started (PRESENCE_IN %s; channel states %s: confirmed \"%s\", "
		  "terminated \"%s\")", p->presence_in ? "on" : "off", p->channel_states ? "on" : "off",
		  p->confirmed, p->terminated);
	return 0;
}

void evcd_presence_stop(evcd_t *d)
{
	struct evcd_presence *p = d ? d->presence : NULL;
	if (!p)
		return;
	d->presence = NULL;
	if (p->sub > 0 && d->node)
		evcast_node_unsubscribe(d->node, p->sub);
	evcd_logf(d, EVCAST_LOG_INFO, "presence: %llu event(s) relayed, %llu without from, %llu error(s)",
		  (unsigned long long)p->relayed, (unsigned long long)p->no_from, (unsigned long long)p->errors);
	evc__free(p);
}
