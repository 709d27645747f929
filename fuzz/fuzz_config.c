/*
 * fuzz_config.c -- libFuzzer target for the XML configuration parser.
 *
 * Feeds arbitrary bytes to evcast_config_parse (expat, the param validators,
 * address and bindings parsing); on success also exercises evc__config_dup,
 * evcast_config_section and the bindings built from the parsed text, and
 * checks the invariants callers rely on. Must never crash, hang or leak.
 * Seed corpus: fuzz/corpus/config/ (the etc files and broken variants).
 */
#include "internal.h"
#include <stdlib.h>
#include <string.h>

static void quiet(void *ud, int level, const char *msg)
{
	(void)ud;
	(void)level;
	(void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	evcast_config_t *cfg = NULL, *copy;
	evcast_bindings_t *b = NULL;
	char err[512];
	int rc = evcast_config_parse((const char *)data, size, "fuzz.xml", quiet, NULL, &cfg, err, sizeof(err));
	if (rc != 0) {
		if (cfg || !err[0] || strlen(err) >= sizeof(err))
			abort(); /* a failure leaves no config and always says why */
		return 0;
	}
	if (!cfg || cfg->ndests > EVCAST_MAX_ADDRESSES || cfg->port == 0 || cfg->ttl < 0 || cfg->ttl > 255 ||
	    cfg->heartbeat_interval < 1 || cfg->peer_timeout < 1 || !cfg->node_name || !cfg->node_name[0] ||
	    strlen(cfg->node_name) > 255 || !evcast_config_section(cfg, "event_multicast.conf"))
		abort();
	for (size_t i = 0; i < cfg->ndests; i++)
		if (strlen(cfg->dests[i].text) >= sizeof(cfg->dests[i].text) || cfg->dests[i].addrlen == 0)
			abort();
	if ((copy = evc__config_dup(cfg)) != NULL) {
		if (copy->nsections != cfg->nsections || memcmp(copy->digest, cfg->digest, sizeof(cfg->digest)))
			abort();
		evcast_config_free(copy);
	}
	if (evcast_bindings_new(cfg->bindings, &b) != 0)
		abort(); /* the parser validated it */
	evcast_event_t *ev = evcast_event_new_named("CUSTOM", "sofia::register");
	if (ev) {
		(void)evcast_bindings_match(b, ev);
		evcast_event_free(ev);
	}
	evcast_bindings_free(b);
	evcast_config_free(cfg);
	return 0;
}
