/*
 * event_json.c -- the JSON and XML forms of an event (cJSON for JSON).
 *
 * Owns: the ESL JSON form (spec/esl.md, as FreeSWITCH's
 * switch_event_serialize_json: header -> value, repeated headers as arrays,
 * "Content-Length" + "_body" when there is a body), the CLI's vector form
 * ({"headers": [[name, value], ...], "body": text|null}) and FreeSWITCH's
 * event XML (switch_event_xmlize + switch_xml_toxml: values URL-encoded, then
 * XML-escaped). Works through the public event API only; no I/O, no logging.
 * Sections: helpers, ESL JSON, vector JSON, XML.
 */
#include "internal.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- helpers */

/* cJSON allocates with its own hooks: hand out a copy from our allocator. */
static char *print_json(cJSON *root)
{
	char *s = root ? cJSON_PrintUnformatted(root) : NULL;
	cJSON_Delete(root);
	if (!s)
		return NULL;
	char *r = evc__strdup(s);
	cJSON_free(s);
	return r;
}

/* Parses len bytes of JSON text (no NUL needed); only whitespace may follow. */
static int parse_json(const char *text, size_t len, cJSON **out)
{
	*out = NULL;
	if (!text || len == 0)
		return EVCAST_EEMPTY;
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!root)
		return EVCAST_EPARSE;
	for (const char *p = end; p && p < text + len; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '\0') {
			cJSON_Delete(root);
			return EVCAST_EPARSE;
		}
	}
	*out = root;
	return 0;
}

/* A scalar JSON value as header text: strings as is, numbers and booleans
 * printed. Returns 1 with text in buf/ *s, 0 for null (skipped), negative for
 * anything else. */
static int scalar_text(const cJSON *it, char *buf, size_t cap, const char **s)
{
	if (cJSON_IsString(it) && it->valuestring) {
		*s = it->valuestring;
	} else if (cJSON_IsNumber(it)) {
		double d = it->valuedouble;
		if (d == floor(d) && fabs(d) < 9007199254740992.0)
			snprintf(buf, cap, "%lld", (long long)d);
		else
			snprintf(buf, cap, "%.17g", d);
		*s = buf;
	} else if (cJSON_IsBool(it)) {
		*s = cJSON_IsTrue(it) ? "true" : "false";
	} else if (cJSON_IsNull(it)) {
		return 0;
	} else {
		return EVCAST_EPARSE;
	}
	return 1;
}

/* Our errors for an add that failed: bad names are the input's fault. */
static int add_err(int r) { return r == EVCAST_EINVAL ? EVCAST_EPARSE : r; }

/* Case-insensitive FNV-1a, to group repeated headers in linear time. */
static uint32_t ci_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		h = (h ^ (unsigned char)((unsigned char)(c - 'A') < 26 ? c | 0x20 : c)) * 16777619u;
	}
	return h;
}

/* ----------------------------------------------------------------- ESL JSON */

char *evcast_event_to_json(const evcast_event_t *ev)
{
	if (!ev)
		return NULL;
	size_t n = evcast_event_header_count(ev), nslot = 16;
	while (nslot < 2 * n)
		nslot *= 2;
	/* slot -> 1 + index of the first header of a name; per first header its
	 * JSON item (string, or the array once the name repeats) */
	size_t *slot = evc__calloc(nslot, sizeof(*slot));
	cJSON **item = evc__calloc(n ? n : 1, sizeof(*item));
	cJSON *root = cJSON_CreateObject();
	if (!slot || !item || !root)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		const char *name, *value;
		evcast_event_header_at(ev, i, &name, &value);
		if (strcasecmp(name, "Content-Length") == 0)
			continue; /* derived from the body */
		size_t k = ci_hash(name) & (nslot - 1);
		while (slot[k]) {
			const char *fname;
			evcast_event_header_at(ev, slot[k] - 1, &fname, NULL);
			if (strcasecmp(fname, name) == 0)
				break;
			k = (k + 1) & (nslot - 1);
		}
		cJSON *s = cJSON_CreateString(value);
		if (!s)
			goto oom;
		if (!slot[k]) {
			slot[k] = i + 1;
			item[i] = s;
			cJSON_AddItemToObject(root, name, s);
			continue;
		}
		size_t f = slot[k] - 1;
		if (!cJSON_IsArray(item[f])) {
			/* the name repeats: its string becomes an array, in place */
			cJSON *a = cJSON_CreateArray(), *first = cJSON_CreateString(item[f]->valuestring);
			if (!a || !first) {
				cJSON_Delete(a);
				cJSON_Delete(first);
				cJSON_Delete(s);
				goto oom;
			}
			cJSON_AddItemToArray(a, first);
			a->string = item[f]->string;
			item[f]->string = NULL;
			cJSON_ReplaceItemViaPointer(root, item[f], a);
			item[f] = a;
		}
		cJSON_AddItemToArray(item[f], s);
	}
	size_t blen;
	const char *body = evcast_event_get_body(ev, &blen);
	if (body && (blen = strlen(body)) > 0) {
		char num[24];
		snprintf(num, sizeof(num), "%zu", blen);
		if (!cJSON_AddStringToObject(root, "Content-Length", num) || !cJSON_AddStringToObject(root, "_body", body))
			goto oom;
	}
	evc__free(slot);
	evc__free(item);
	return print_json(root);
oom:
	evc__free(slot);
	evc__free(item);
	cJSON_Delete(root);
	return NULL;
}

int evcast_event_from_json(const char *text, size_t len, evcast_event_t **out)
{
	if (!out)
		return EVCAST_EINVAL;
	*out = NULL;
	cJSON *root;
	int r = parse_json(text, len, &root);
	if (r != 0)
		return r;
	evcast_event_t *ev = NULL;
	if (!cJSON_IsObject(root)) {
		r = EVCAST_EPARSE;
		goto done;
	}
	if (!(ev = evcast_event_new())) {
		r = EVCAST_ENOMEM;
		goto done;
	}
	for (const cJSON *it = root->child; it; it = it->next) {
		const char *name = it->string, *s;
		char num[40];
		if (!name) {
			r = EVCAST_EPARSE;
			goto done;
		}
		if (strcasecmp(name, "_body") == 0) {
			if (cJSON_IsNull(it))
				continue;
			if (!cJSON_IsString(it) || !it->valuestring) {
				r = EVCAST_EPARSE;
				goto done;
			}
			if ((r = evcast_event_set_body(ev, it->valuestring, strlen(it->valuestring))) != 0)
				goto done;
			continue;
		}
		if (strcasecmp(name, "Content-Length") == 0)
			continue; /* derived from _body */
		if (cJSON_IsArray(it)) {
			for (const cJSON *e = it->child; e; e = e->next) {
				if ((r = scalar_text(e, num, sizeof(num), &s)) < 0)
					goto done;
				if (r == 1 && (r = add_err(evcast_event_add_header(ev, name, s))) != 0)
					goto done;
			}
			r = 0;
			continue;
		}
		if ((r = scalar_text(it, num, sizeof(num), &s)) < 0)
			goto done;
		if (r == 1 && (r = add_err(evcast_event_add_header(ev, name, s))) != 0)
			goto done;
		r = 0;
	}
done:
	cJSON_Delete(root);
	if (r != 0) {
		evcast_event_free(ev);
		return r;
	}
	*out = ev;
	return 0;
}

/* -------------------------------------------------------------- vector JSON */

char *evcast_event_to_vector_json(const evcast_event_t *ev)
{
	if (!ev)
		return NULL;
	cJSON *root = cJSON_CreateObject();
	cJSON *hs = cJSON_AddArrayToObject(root, "headers");
	if (!hs)
		goto oom;
	const char *name, *value;
	for (size_t i = 0; evcast_event_header_at(ev, i, &name, &value) == 0; i++) {
		cJSON *pair = cJSON_CreateArray();
		cJSON *a = cJSON_CreateString(name), *b = cJSON_CreateString(value);
		if (pair)
			cJSON_AddItemToArray(hs, pair);
		if (!pair || !a || !b) {
			cJSON_Delete(a);
			cJSON_Delete(b);
			goto oom;
		}
		cJSON_AddItemToArray(pair, a);
		cJSON_AddItemToArray(pair, b);
	}
	const char *body = evcast_event_get_body(ev, NULL);
	if (!(body ? cJSON_AddStringToObject(root, "body", body) : cJSON_AddNullToObject(root, "body")))
		goto oom;
	return print_json(root);
oom:
	cJSON_Delete(root);
	return NULL;
}

int evcast_event_from_vector_json(const char *text, size_t len, evcast_event_t **out)
{
	if (!out)
		return EVCAST_EINVAL;
	*out = NULL;
	cJSON *root;
	int r = parse_json(text, len, &root);
	if (r != 0)
		return r;
	evcast_event_t *ev = NULL;
	const cJSON *hs = cJSON_GetObjectItemCaseSensitive(root, "headers");
	const cJSON *body = cJSON_GetObjectItemCaseSensitive(root, "body");
	if (!cJSON_IsObject(root) || !cJSON_IsArray(hs) || (body && !cJSON_IsNull(body) && !cJSON_IsString(body))) {
		r = EVCAST_EPARSE;
		goto done;
	}
	if (!(ev = evcast_event_new())) {
		r = EVCAST_ENOMEM;
		goto done;
	}
	for (const cJSON *p = hs->child; p; p = p->next) {
		const cJSON *n = cJSON_GetArrayItem(p, 0), *v = cJSON_GetArrayItem(p, 1);
		if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) != 2 || !cJSON_IsString(n) || !cJSON_IsString(v)) {
			r = EVCAST_EPARSE;
			goto done;
		}
		if ((r = add_err(evcast_event_add_header(ev, n->valuestring, v->valuestring))) != 0)
			goto done;
	}
	if (cJSON_IsString(body) && (r = evcast_event_set_body(ev, body->valuestring, strlen(body->valuestring))) != 0)
		goto done;
done:
	cJSON_Delete(root);
	if (r != 0) {
		evcast_event_free(ev);
		return r;
	}
	*out = ev;
	return 0;
}

/* ---------------------------------------------------------------------- XML */

typedef struct sbuf {
	char *p;
	size_t n, cap;
	bool oom;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->cap - b->n < n + 1) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap - b->n < n + 1)
			cap *= 2;
		char *p = evc__realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void sb_str(sbuf_t *b, const char *s) { sb_put(b, s, strlen(s)); }

/* switch_xml_ampencode for character content: & < > and \r escaped. */
static void sb_xml(sbuf_t *b, const char *s, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		const char *e = NULL;
		switch (s[i]) {
		case '&': e = "&amp;"; break;
		case '<': e = "&lt;"; break;
		case '>': e = "&gt;"; break;
		case '\r': e = "&#xD;"; break;
		default: continue;
		}
		sb_put(b, s + run, i - run);
		sb_str(b, e);
		run = i + 1;
	}
	sb_put(b, s + run, n - run);
}

static void sb_elem(sbuf_t *b, const char *indent, const char *name, const char *txt, size_t ntxt)
{
	sb_str(b, indent);
	sb_str(b, "<");
	sb_xml(b, name, strlen(name));
	sb_str(b, ">");
	sb_xml(b, txt, ntxt);
	if (b->n && b->p[b->n - 1] == '\n')
		sb_str(b, indent); /* as switch_xml_toxml indents a close tag after a newline */
	sb_str(b, "</");
	sb_xml(b, name, strlen(name));
	sb_str(b, ">\n");
}

char *evcast_event_to_xml(const evcast_event_t *ev)
{
	if (!ev)
		return NULL;
	sbuf_t b = {0};
	char small[256];
	const char *name, *value;
	size_t n = evcast_event_header_count(ev);
	sb_str(&b, n ? "<event>\n  <headers>\n" : "<event>\n  <headers>");
	for (size_t i = 0; evcast_event_header_at(ev, i, &name, &value) == 0; i++) {
		if (strcasecmp(name, "Content-Length") == 0)
			continue;
		size_t nv = strlen(value), need = evcast_url_encode(value, nv, NULL, 0);
		char *enc = need < sizeof(small) ? small : evc__malloc(need + 1);
		if (!enc) {
			b.oom = true;
			break;
		}
		evcast_url_encode(value, nv, enc, need + 1);
		sb_elem(&b, "    ", name, enc, need);
		if (enc != small)
			evc__free(enc);
	}
	sb_str(&b, n ? "  </headers>\n" : "</headers>\n");
	const char *body = evcast_event_get_body(ev, NULL);
	size_t blen = body ? strlen(body) : 0;
	if (blen) {
		char num[24];
		int nn = snprintf(num, sizeof(num), "%zu", blen);
		sb_elem(&b, "  ", "Content-Length", num, (size_t)nn);
		sb_elem(&b, "  ", "body", body, blen);
	}
	sb_str(&b, "</event>\n");
	if (b.oom) {
		evc__free(b.p);
		return NULL;
	}
	return b.p;
}
