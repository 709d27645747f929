/*
 * config_copy.c -- a parsed configuration's copy and free (config.c parses
 * it): evcast_config_free frees every string and every <configuration>
 * block with its params; evc__config_dup makes a deep copy (NULL when out of
 * memory, nothing leaked: a partial copy is freed). Must not: parse or log.
 */
#include "internal.h"
#include <string.h>

static void sections_free(evcast_section_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < v[i].nparams; j++) {
			evc__free(v[i].params[j].name);
			evc__free(v[i].params[j].value);
		}
		evc__free(v[i].params);
		evc__free(v[i].name);
	}
	evc__free(v);
}

void evcast_config_free(evcast_config_t *cfg)
{
	if (!cfg)
		return;
	evc__free(cfg->path);
	evc__free(cfg->bindings);
	evc__free(cfg->psk);
	evc__free(cfg->source_address);
	evc__free(cfg->source_address_ipv6);
	evc__free(cfg->node_name);
	evc__free(cfg->multicast_interface);
	evc__free(cfg->control_socket);
	sections_free(cfg->sections, cfg->nsections);
	evc__free(cfg);
}

/* *dst = copy of src; false when out of memory (NULL copies as NULL). */
static bool dup_str(char **dst, const char *src)
{
	*dst = src ? evc__strdup(src) : NULL;
	return !src || *dst;
}

evcast_config_t *evc__config_dup(const evcast_config_t *cfg)
{
	evcast_config_t *c;
	if (!cfg || !(c = evc__calloc(1, sizeof(*c))))
		return NULL;
	memcpy(c->dests, cfg->dests, sizeof(c->dests));
	c->ndests = cfg->ndests;
	c->port = cfg->port;
	c->ttl = cfg->ttl;
	c->loopback = cfg->loopback;
	c->heartbeat_interval = cfg->heartbeat_interval;
	c->peer_timeout = cfg->peer_timeout;
	c->log_level = cfg->log_level;
	memcpy(c->digest, cfg->digest, sizeof(c->digest));
	if (!dup_str(&c->path, cfg->path) || !dup_str(&c->bindings, cfg->bindings) || !dup_str(&c->psk, cfg->psk) ||
	    !dup_str(&c->source_address, cfg->source_address) ||
	    !dup_str(&c->source_address_ipv6, cfg->source_address_ipv6) ||
	    !dup_str(&c->node_name, cfg->node_name) || !dup_str(&c->multicast_interface, cfg->multicast_interface) ||
	    !dup_str(&c->control_socket, cfg->control_socket))
		goto fail;
	if (cfg->nsections) {
		if (!(c->sections = evc__calloc(cfg->nsections, sizeof(*c->sections))))
			goto fail;
		for (size_t i = 0; i < cfg->nsections; i++) {
			const evcast_section_t *s = &cfg->sections[i];
			evcast_section_t *d = &c->sections[i];
			c->nsections = i + 1; /* so a failure frees what was built */
			d->line = s->line;
			if (!dup_str(&d->name, s->name))
				goto fail;
			if (!s->nparams)
				continue;
			if (!(d->params = evc__calloc(s->nparams, sizeof(*d->params))))
				goto fail;
			for (size_t j = 0; j < s->nparams; j++) {
				d->nparams = j + 1;
				d->params[j].line = s->params[j].line;
				if (!dup_str(&d->params[j].name, s->params[j].name) ||
				    !dup_str(&d->params[j].value, s->params[j].value))
					goto fail;
			}
		}
	}
	return c;
fail:
	evcast_config_free(c);
	return NULL;
}
