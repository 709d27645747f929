/*
 * control_cmd.c -- the event-socket commands of the control server, with
 * FreeSWITCH's reply texts: auth, event/nixevent/noevents, filter,
 * sendevent, api, bgapi, exit; anything else "-ERR command not found".
 *
 * Owns per-connection filters and the command dispatcher. It only queues
 * replies and fires events (sendevent through control_wait.c, which may make
 * it wait for a writable node; bgapi's low-volume BACKGROUND_JOB with
 * evcast_node_fire); connections, queues and
 * closing belong to control.c. Sections: filters; helpers; commands; dispatch.
 */
#include "control_int.h"
#include "filter_re.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --------------------------------------------------------------- filters */

static bool filter_match(const filter_t *f, const char *hval, const char *cmp, bool *pos)
{
	*pos = true;
	while (*cmp) {
		if (*cmp == '+')
			*pos = true;
		else if (*cmp == '-')
			*pos = false;
		else if (*cmp != ' ')
			break;
		cmp++;
	}
	if (f->is_regex)
		return regexec(&f->re, hval, 0, NULL, 0) == 0;
	return strcasecmp(hval, cmp) == 0;
}

/* FreeSWITCH's rule: with filters, an event goes when one of them matches (a
 * "-value" filter that matches vetoes it); without filters every event goes. */
bool evcd_conn_filters_pass(const conn_t *c, const evcast_event_t *ev)
{
	bool send = false;
	if (!c->nfilters)
		return true;
	for (size_t i = 0; i < c->nfilters; i++) {
		const filter_t *f = &c->filters[i];
		const char *hval = evcast_event_get_header(ev, f->name);
		bool pos, match;
		if (!hval)
			continue;
		match = filter_match(f, hval, f->value, &pos);
		if (send && pos)
			continue;
		if (match) {
			if (!pos)
				return false;
			send = true;
		}
	}
	return send;
}

/* Removes the filters of that name (and value, when non-NULL); name NULL: all. */
void evcd_conn_filters_clear(conn_t *c, const char *name, const char *value)
{
	size_t j = 0;
	for (size_t i = 0; i < c->nfilters; i++) {
		filter_t *f = &c->filters[i];
		if (!name || (strcasecmp(f->name, name) == 0 && (!value || strcmp(f->value, value) == 0))) {
			if (f->is_regex)
				regfree(&f->re);
			evc__free(f->name);
			evc__free(f->value);
		} else {
			c->filters[j++] = *f;
		}
	}
	c->nfilters = j;
}

/* --------------------------------------------------------------- helpers */

/* Splits off the next blank-separated word of *s (in place). */
static char *next_word(char **s)
{
	char *w = *s, *e;
	while (*w == ' ' || *w == '\t')
		w++;
	if (!*w)
		return NULL;
	for (e = w; *e && *e != ' ' && *e != '\t'; e++)
		;
	if (*e)
		*e++ = '\0';
	*s = e;
	return w;
}

/* -------------------------------------------------------------- commands */

static void cmd_auth(conn_t *c, char *args)
{
	if (c->lis->preauth) { /* TCP: limits and failure delays per address (control_auth.c) */
		evcd_preauth_auth(c, args);
		return;
	}
	if (!evcd_auth_password_ok(&c->lis->opts, args)) {
		evcd_logf(c->ctl->d, EVCAST_LOG_WARNING, "control: client %u (%s) on %s: authentication failed", c->id,
			  c->peer, c->lis->label);
		c->ctl->st.auth_failures++;
		evcd_conn_reply(c, "-ERR invalid");
		/* FreeSWITCH then says goodbye, as after exit */
		evcd_conn_send(c, DISCONNECT_NOTICE, sizeof(DISCONNECT_NOTICE) - 1);
		evcd_conn_close_after_flush(c);
		return;
	}
	c->authed = true;
	evcd_conn_reply(c, "+OK accepted");
}

/* "event [plain|json|xml] NAME... [CUSTOM sub...]" and "nixevent NAME...". */
static void cmd_event(conn_t *c, char *args, bool nix)
{
	char *w;
	bool custom = false, custom_sub = false;
	unsigned keys = 0, count = 0;
	int rc = 0;
	if (!nix && !c->bindings && evcast_bindings_new("", &c->bindings) < 0) {
		evcd_conn_reply(c, "-ERR out of memory");
		return;
	}
	for (; (w = next_word(&args)); count++) {
		if (!nix && count == 0) {
			int f = strcasecmp(w, "plain") == 0 ? FMT_PLAIN
				: strcasecmp(w, "json") == 0 ? FMT_JSON
				: strcasecmp(w, "xml") == 0  ? FMT_XML
							     : -1;
			if (f >= 0) {
				c->format = f;
				continue;
			}
		}
		if (custom && strcmp(w, "CUSTOM") != 0 && strcmp(w, "ALL") != 0) {
			custom_sub = true;
			if (c->bindings)
				rc = nix ? evcast_bindings_remove(c->bindings, "CUSTOM", w)
					 : evcast_bindings_add(c->bindings, "CUSTOM", w);
			continue;
		}
		if (strcasecmp(w, "CUSTOM") == 0) {
			custom = true;
			keys++;
			continue;
		}
		if (c->bindings)
			rc = nix ? evcast_bindings_remove(c->bindings, w, NULL) : evcast_bindings_add(c->bindings, w, NULL);
		if (rc != EVCAST_EINVAL)
			keys++; /* an invalid word is ignored, as FreeSWITCH ignores unknown names */
	}
	if (custom && !custom_sub && c->bindings) {
		rc = nix ? evcast_bindings_remove(c->bindings, "CUSTOM", NULL)
			 : evcast_bindings_add(c->bindings, "CUSTOM", NULL);
	}
	(void)rc;
	if (!keys) {
		if (!c->listening)
			evcd_conn_unsubscribe(c); /* drops the empty bindings made above */
		evcd_conn_reply(c, "-ERR no keywords supplied");
		return;
	}
	if (nix) {
		evcd_conn_reply(c, "+OK events nixed");
		return;
	}
	if ((rc = evcd_conn_subscribe(c)) < 0) {
		evcd_conn_reply(c, "-ERR cannot subscribe: %s", evcast_strerror(rc));
		return;
	}
	evcd_conn_reply(c, "+OK event listener enabled %s", evcd_fmt_names[c->format]);
}

static void cmd_filter(conn_t *c, char *args)
{
	char *name = next_word(&args), *value;
	filter_t *f;
	while (*args == ' ' || *args == '\t')
		args++;
	value = *args ? args : NULL;
	if (name && value && strcasecmp(name, "delete") == 0) {
		name = next_word(&value);
		while (value && (*value == ' ' || *value == '\t'))
			value++;
		if (value && !*value)
			value = NULL;
		evcd_conn_filters_clear(c, strcasecmp(name, "all") == 0 ? NULL : name, value);
		/* FreeSWITCH's text exactly: no '=' here (unlike "filter added"), "" for no value */
		evcd_conn_reply(c, "+OK filter deleted. [%s][%s]", name, value ? value : "");
		return;
	}
	if (name && value && strcasecmp(name, "add") == 0) {
		name = next_word(&value);
		while (value && (*value == ' ' || *value == '\t'))
			value++;
		if (value && !*value)
			value = NULL;
	}
	if (!name || !value) {
		evcd_conn_reply(c, "-ERR invalid syntax");
		return;
	}
	if (c->nfilters >= MAX_FILTERS) {
		evcd_conn_reply(c, "-ERR too many filters (%u)", MAX_FILTERS);
		return;
	}
	f = evc__realloc(c->filters, (c->nfilters + 1) * sizeof(*f));
	if (!f) {
		evcd_conn_reply(c, "-ERR out of memory");
		return;
	}
	c->filters = f;
	f = &c->filters[c->nfilters];
	memset(f, 0, sizeof(*f));
	{
		const char *cmp = value + strspn(value, "+- ");
		size_t n = strlen(cmp);
		if (*value == '/' || (n >= 2 && cmp[0] == '/' && cmp[n - 1] == '/')) {
			char *pat = evc__strndup(cmp + 1, n >= 2 && cmp[n - 1] == '/' ? n - 2 : n - 1);
			char why[192] = "out of memory"; /* evcd_filter_re_compile writes its own reason */
			if (!pat || evcd_filter_re_compile(&f->re, pat, why, sizeof(why)) != 0) {
				evc__free(pat);
				evcd_conn_reply(c, "-ERR %s", why);
				return;
			}
			evc__free(pat);
			f->is_regex = true;
		}
	}
	f->name = evc__strdup(name);
	f->value = evc__strdup(value);
	if (!f->name || !f->value) {
		evc__free(f->name);
		evc__free(f->value);
		if (f->is_regex)
			regfree(&f->re);
		evcd_conn_reply(c, "-ERR out of memory");
		return;
	}
	c->nfilters++;
	evcd_conn_reply(c, "+OK filter added. [%s]=[%s]", name, value);
}

static void cmd_sendevent(conn_t *c, char *args, const evcast_event_t *msg)
{
	evcd_t *d = c->ctl->d;
	char *name = next_word(&args), uuid[37], id[128];
	const char *body, *v = NULL;
	size_t blen = 0, n = evcast_event_header_count(msg);
	evcast_event_t *ev;
	int rc = 0;
	if (!name) {
		evcd_conn_reply(c, "-ERR missing event name");
		return;
	}
	for (char *p = name; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
	if (!d->node) {
		evcd_conn_reply(c, "-ERR the node is not running");
		return;
	}
	if (!(ev = evcast_event_new()) || evcast_event_add_header(ev, "Event-Name", name) < 0) {
		evcast_event_free(ev);
		evcd_conn_reply(c, "-ERR out of memory");
		return;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *hn, *hv;
		evcast_event_header_at(msg, i, &hn, &hv);
		if (strcmp(hn, "_line") != 0 && strcasecmp(hn, "Content-Length") != 0 &&
		    strcasecmp(hn, "Event-Name") != 0)
			rc = evcast_event_add_header(ev, hn, hv);
	}
	if (rc == 0 && (body = evcast_event_get_body(msg, &blen)))
		rc = evcast_event_set_body(ev, body, blen);
	if (rc == 0 && !(v = evcast_event_get_header(ev, "Event-UUID"))) {
		evc__uuid4(uuid);
		rc = evcast_event_add_header(ev, "Event-UUID", uuid);
		v = uuid;
	}
	if (rc < 0) {
		evcast_event_free(ev);
		evcd_conn_reply(c, "-ERR %s", evcast_strerror(rc));
		return;
	}
	snprintf(id, sizeof(id), "%s", v);
	evcd_conn_sendevent_fire(c, ev, id); /* "+OK <id>" then the event; both may wait (control_wait.c) */
}

static char *run_api(conn_t *c, char *args)
{
	char *cmd = next_word(&args), *out = NULL;
	while (*args == ' ' || *args == '\t')
		args++;
	if (evcd_api_execute(c->ctl->d, cmd ? cmd : "", *args ? args : NULL, &out) == EVCAST_ENOMEM || !out)
		out = NULL;
	return out;
}

static void cmd_api(conn_t *c, char *args)
{
	char *out = run_api(c, args);
	out_msg_t *m;
	if (!out) {
		static const char oom[] = "-ERR out of memory\n";
		out = evc__strdup(oom);
	}
	m = out ? evcd_conn_msg_new(out, strlen(out), false) : NULL;
	if (m)
		m->hlen = (size_t)snprintf(m->hdr, sizeof(m->hdr), "Content-Type: api/response\nContent-Length: %zu\n\n",
					   m->plen);
	evcd_conn_enqueue(c, m);
}

static void cmd_bgapi(conn_t *c, char *args, const evcast_event_t *msg)
{
	evcd_t *d = c->ctl->d;
	char uuid[37], text[256], *out, *cmd, *rest;
	const char *given = evcast_event_get_header(msg, "Job-UUID");
	evcast_event_t *ev;
	int n, rc;
	if (given && *given && strlen(given) < sizeof(uuid))
		snprintf(uuid, sizeof(uuid), "%s", given);
	else
		evc__uuid4(uuid);
	n = snprintf(text, sizeof(text), "Content-Type: command/reply\nReply-Text: +OK Job-UUID: %s\nJob-UUID: %s\n\n",
		     uuid, uuid);
	evcd_conn_send(c, text, (size_t)n);
	rest = args;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	cmd = evc__strdup(rest);
	out = run_api(c, args);
	if (!d->node || !cmd || !(ev = evcast_event_new_named("BACKGROUND_JOB", NULL))) {
		evc__free(cmd);
		evcast_free(out);
		return;
	}
	{
		char *sp = cmd + strcspn(cmd, " \t"), *arg = sp;
		if (*sp)
			*arg++ = '\0';
		while (*arg == ' ' || *arg == '\t')
			arg++;
		rc = evcast_event_add_header(ev, "Job-UUID", uuid);
		if (rc == 0)
			rc = evcast_event_add_header(ev, "Job-Command", cmd);
		if (rc == 0 && *arg)
			rc = evcast_event_add_header(ev, "Job-Command-Arg", arg);
		if (rc == 0 && out)
			rc = evcast_event_set_body(ev, out, strlen(out));
	}
	evc__free(cmd);
	evcast_free(out);
	if (rc < 0 || (rc = evcast_node_fire(d->node, ev)) < 0) {
		if (rc != 0)
			evcd_logf(d, EVCAST_LOG_WARNING, "control: client %u: bgapi: %s", c->id, evcast_strerror(rc));
	}
}

static void cmd_noevents(conn_t *c)
{
	if (!c->bindings) {
		evcd_conn_reply(c, "-ERR not listening for events");
		return;
	}
	evcd_conn_unsubscribe(c);
	evcd_conn_reply(c, "+OK no longer listening for events");
}

/* -------------------------------------------------------------- dispatch */

/* One command block. */
void evcd_conn_command(conn_t *c, const evcast_event_t *msg)
{
	const char *line = evcast_event_get_header(msg, "_line");
	char *copy, *args, *word;
	size_t n;
	if (!line || !(copy = evc__strdup(line))) {
		evcd_conn_reply(c, "-ERR command not found");
		return;
	}
	n = strlen(copy);
	while (n > 0 && (copy[n - 1] == ' ' || copy[n - 1] == '\t' || copy[n - 1] == '\r'))
		copy[--n] = '\0';
	args = copy;
	word = next_word(&args);
	c->ctl->st.commands++;
	if (!word) {
		evcd_conn_reply(c, "-ERR command not found");
	} else if (strcasecmp(word, "exit") == 0 || strcmp(word, "...") == 0) {
		evcd_conn_reply(c, "+OK bye");
		evcd_conn_send(c, DISCONNECT_NOTICE, sizeof(DISCONNECT_NOTICE) - 1);
		evcd_conn_close_after_flush(c);
	} else if (!c->authed) {
		if (strcasecmp(word, "auth") == 0)
			cmd_auth(c, args + strspn(args, " \t"));
		else
			evcd_conn_reply(c, "-ERR command not found");
	} else if (strcasecmp(word, "event") == 0) {
		cmd_event(c, args, false);
	} else if (strcasecmp(word, "nixevent") == 0) {
		cmd_event(c, args, true);
	} else if (strcasecmp(word, "noevents") == 0) {
		cmd_noevents(c);
	} else if (strcasecmp(word, "filter") == 0) {
		cmd_filter(c, args);
	} else if (strcasecmp(word, "sendevent") == 0) {
		cmd_sendevent(c, args, msg);
	} else if (strcasecmp(word, "api") == 0 && args[strspn(args, " \t")]) {
		cmd_api(c, args);
	} else if (strcasecmp(word, "bgapi") == 0 && args[strspn(args, " \t")]) {
		cmd_bgapi(c, args, msg);
	} else { /* also "api" / "bgapi" without a command, as FreeSWITCH */
		evcd_conn_reply(c, "-ERR command not found");
	}
	evc__free(copy);
}
