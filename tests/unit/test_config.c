/*
 * test_config.c -- unit tests of config.c: the XML configuration.
 *
 * Covers defaults, every param, the error text of each invalid value, unknown
 * param warnings with their line, malformed XML, the <evcast> root with other
 * blocks, evcast_config_section, evc__config_dup, evcast_dest_parse, and
 * out-of-memory at every allocation (loading files, the digest, the shipped
 * etc files and the fuzz corpus are test_config_files.c's). A counting
 * allocator checks every test frees all it allocated.
 */
#include "config_fixture.h"

/* One block with a list of params ("name", "value", ...), one per line from line 3. */
static char *multicast_xml(const char *const *kv, size_t n)
{
	size_t cap = 256;
	for (size_t i = 0; i < n; i++)
		cap += strlen(kv[i]) + 40;
	char *s = malloc(cap);
	assert_non_null(s);
	size_t o = (size_t)sprintf(s, "<configuration name=\"event_multicast.conf\">\n<settings>\n");
	for (size_t i = 0; i + 1 < n; i += 2)
		o += (size_t)sprintf(s + o, "<param name=\"%s\" value=\"%s\"/>\n", kv[i], kv[i + 1]);
	sprintf(s + o, "</settings>\n</configuration>\n");
	return s;
}

/* Parse one param and expect the error message exactly. */
static void expect_error(const char *name, const char *value, int code, const char *msg)
{
	const char *kv[] = {name, value};
	char *xml = multicast_xml(kv, 2);
	evcast_config_t *cfg = (evcast_config_t *)1;
	int rc = parse(xml, NULL, &cfg);
	free(xml);
	assert_int_equal(rc, code);
	assert_null(cfg);
	assert_string_equal(err, msg);
}

/* Parse one param and expect success. */
static evcast_config_t *expect_ok(const char *name, const char *value)
{
	const char *kv[] = {name, value};
	char *xml = multicast_xml(kv, 2);
	evcast_config_t *cfg = NULL;
	int rc = parse(xml, NULL, &cfg);
	free(xml);
	if (rc)
		fail_msg("%s=\"%s\": %s", name, value, err);
	return cfg;
}

/* -------------------------------------------------------------------- tests */

static void test_defaults(void **state)
{
	evcast_config_t *cfg = NULL;
	char host[256] = "";
	(void)state;
	assert_int_equal(parse("<configuration name=\"event_multicast.conf\"><settings/></configuration>", NULL,
			       &cfg), 0);
	assert_string_equal(err, "");
	gethostname(host, sizeof(host) - 1);
	assert_string_equal(cfg->path, "t.xml");
	assert_int_equal(cfg->ndests, 0);
	assert_int_equal(cfg->port, 4242);
	assert_string_equal(cfg->bindings, "");
	assert_int_equal(cfg->ttl, 1);
	assert_false(cfg->loopback);
	assert_null(cfg->psk);
	assert_string_equal(cfg->source_address, "0.0.0.0");
	assert_string_equal(cfg->source_address_ipv6, "::");
	assert_string_equal(cfg->node_name, host);
	assert_null(cfg->multicast_interface);
	assert_int_equal(cfg->heartbeat_interval, 20);
	assert_int_equal(cfg->peer_timeout, 60);
	assert_string_equal(cfg->control_socket, EVCAST_DEFAULT_CONTROL_SOCKET);
	assert_int_equal(cfg->log_level, EVCAST_LOG_NOTICE);
	assert_int_equal(cfg->nsections, 1);
	assert_string_equal(cfg->sections[0].name, "event_multicast.conf");
	assert_int_equal(cfg->sections[0].nparams, 0);
	evcast_config_free(cfg);
	evcast_config_free(NULL); /* no-op */
}

static void test_every_param(void **state)
{
	/* address before port: the addresses must get the port given later */
	const char *kv[] = {
		"address", " 239.1.1.1 , 10.0.0.5,[ff02::42], 2001:db8::1",
		"port", "4343",
		"bindings", "HEARTBEAT CUSTOM sofia::register",
		"ttl", "0",
		"loopback", "On",
		"psk", " secret key ",
		"source_address", "127.0.0.1",
		"source_address_ipv6", "::1",
		"node-name", " node-a ",
		"multicast-interface", "lo",
		"heartbeat-interval", "1",
		"peer-timeout", "3",
		"control-socket", "/tmp/evcast-test.sock",
		"log-level", "DEBUG",
	};
	char *xml = multicast_xml(kv, EVC_ARRAY_SIZE(kv));
	evcast_config_t *cfg = NULL;
	logcap_t lc = {0};
	(void)state;
	assert_int_equal(parse(xml, &lc, &cfg), 0);
	free(xml);
	assert_int_equal(lc.n, 0);
	assert_int_equal(cfg->ndests, 4);
	assert_string_equal(cfg->dests[0].text, "239.1.1.1");
	assert_string_equal(cfg->dests[1].text, "10.0.0.5");
	assert_string_equal(cfg->dests[2].text, "[ff02::42]");
	assert_string_equal(cfg->dests[3].text, "2001:db8::1");
	assert_true(cfg->dests[0].multicast);
	assert_false(cfg->dests[1].multicast);
	assert_true(cfg->dests[2].multicast);
	assert_false(cfg->dests[3].multicast);
	assert_int_equal(((struct sockaddr_in *)&cfg->dests[0].addr)->sin_port, htons(4343));
	assert_int_equal(((struct sockaddr_in6 *)&cfg->dests[3].addr)->sin6_port, htons(4343));
	assert_int_equal(cfg->dests[2].addr.ss_family, AF_INET6);
	assert_int_equal(cfg->dests[1].addrlen, sizeof(struct sockaddr_in));
	assert_int_equal(cfg->port, 4343);
	assert_string_equal(cfg->bindings, "HEARTBEAT CUSTOM sofia::register");
	assert_int_equal(cfg->ttl, 0);
	assert_true(cfg->loopback);
	assert_string_equal(cfg->psk, " secret key "); /* a key is taken as written */
	assert_string_equal(cfg->source_address, "127.0.0.1");
	assert_string_equal(cfg->source_address_ipv6, "::1");
	assert_string_equal(cfg->node_name, "node-a");
	assert_string_equal(cfg->multicast_interface, "lo");
	assert_int_equal(cfg->heartbeat_interval, 1);
	assert_int_equal(cfg->peer_timeout, 3);
	assert_string_equal(cfg->control_socket, "/tmp/evcast-test.sock");
	assert_int_equal(cfg->log_level, EVCAST_LOG_DEBUG);
	/* the raw params stay available, with their lines */
	const evcast_section_t *s = evcast_config_section(cfg, "EVENT_MULTICAST.CONF");
	assert_non_null(s);
	assert_int_equal(s->nparams, 14);
	assert_string_equal(s->params[1].name, "port");
	assert_string_equal(s->params[1].value, "4343");
	assert_int_equal(s->params[1].line, 4);
	assert_int_equal(s->line, 1);
	evcast_config_free(cfg);
}

static void test_value_forms(void **state)
{
	static const char *bools[][2] = {{"yes", "1"}, {"no", "0"}, {"TRUE", "1"}, {"false", "0"},
					 {"on", "1"},  {"off", "0"}, {"1", "1"},     {"0", "0"}};
	evcast_config_t *cfg;
	(void)state;
	for (size_t i = 0; i < EVC_ARRAY_SIZE(bools); i++) {
		cfg = expect_ok("loopback", bools[i][0]);
		assert_int_equal(cfg->loopback, bools[i][1][0] == '1');
		evcast_config_free(cfg);
	}
	cfg = expect_ok("PORT", "65535"); /* names are case-insensitive, as in FreeSWITCH */
	assert_int_equal(cfg->port, 65535);
	evcast_config_free(cfg);
	cfg = expect_ok("ttl", "255");
	assert_int_equal(cfg->ttl, 255);
	evcast_config_free(cfg);
	cfg = expect_ok("psk", ""); /* empty psk: plaintext, as the legacy module */
	assert_null(cfg->psk);
	evcast_config_free(cfg);
	cfg = expect_ok("multicast-interface", "127.0.0.1");
	assert_string_equal(cfg->multicast_interface, "127.0.0.1");
	evcast_config_free(cfg);
	cfg = expect_ok("multicast-interface", "");
	assert_null(cfg->multicast_interface);
	evcast_config_free(cfg);
	cfg = expect_ok("log-level", "warn");
	assert_int_equal(cfg->log_level, EVCAST_LOG_WARNING);
	evcast_config_free(cfg);
	cfg = expect_ok("address", "[::1]");
	assert_int_equal(cfg->ndests, 1);
	assert_false(cfg->dests[0].multicast);
	evcast_config_free(cfg);
	char name[256];
	memset(name, 'n', 255);
	name[255] = '\0';
	cfg = expect_ok("node-name", name); /* 255 bytes is the limit, included */
	assert_int_equal(strlen(cfg->node_name), 255);
	evcast_config_free(cfg);
}

static void test_invalid_values(void **state)
{
	(void)state;
	expect_error("port", "70000", EVCAST_EINVAL, "t.xml:3: param \"port\": value \"70000\" is not a port (1-65535)");
	expect_error("port", "0", EVCAST_EINVAL, "t.xml:3: param \"port\": value \"0\" is not a port (1-65535)");
	expect_error("port", "42x", EVCAST_EINVAL, "t.xml:3: param \"port\": value \"42x\" is not a port (1-65535)");
	expect_error("port", "-1", EVCAST_EINVAL, "t.xml:3: param \"port\": value \"-1\" is not a port (1-65535)");
	expect_error("port", "99999999999999999999999", EVCAST_EINVAL,
		     "t.xml:3: param \"port\": value \"99999999999999999999999\" is not a port (1-65535)");
	expect_error("ttl", "300", EVCAST_EINVAL, "t.xml:3: param \"ttl\": value \"300\" is not a TTL (0-255)");
	expect_error("loopback", "maybe", EVCAST_EINVAL,
		     "t.xml:3: param \"loopback\": value \"maybe\" is not a boolean (yes/no, true/false, on/off, 1/0)");
	expect_error("address", "239.1.1.1,not-an-address", EVCAST_EINVAL,
		     "t.xml:3: param \"address\": value \"239.1.1.1,not-an-address\" has \"not-an-address\", "
		     "which is not an IPv4 or IPv6 address");
	expect_error("address", "239.1.1.1:4242", EVCAST_EINVAL,
		     "t.xml:3: param \"address\": value \"239.1.1.1:4242\" has \"239.1.1.1:4242\", "
		     "which is not an IPv4 or IPv6 address");
	expect_error("address", "239.1.1.1,,239.1.1.2", EVCAST_EINVAL,
		     "t.xml:3: param \"address\": value \"239.1.1.1,,239.1.1.2\" has an empty item in its "
		     "comma-separated list");
	expect_error("address", "", EVCAST_EINVAL,
		     "t.xml:3: param \"address\": value \"\" is empty (give at least one address)");
	expect_error("node-name", "", EVCAST_EINVAL,
		     "t.xml:3: param \"node-name\": value \"\" is empty (leave the param out to use the host name)");
	expect_error("node-name", "  ", EVCAST_EINVAL,
		     "t.xml:3: param \"node-name\": value \"  \" is empty (leave the param out to use the host name)");
	expect_error("node-name", "a&#10;b", EVCAST_EINVAL,
		     "t.xml:3: param \"node-name\": value \"a\\x0ab\" contains a control character");
	expect_error("heartbeat-interval", "0", EVCAST_EINVAL,
		     "t.xml:3: param \"heartbeat-interval\": value \"0\" is not a number of seconds (1-86400)");
	expect_error("peer-timeout", "1.5", EVCAST_EINVAL,
		     "t.xml:3: param \"peer-timeout\": value \"1.5\" is not a number of seconds (1-86400)");
	expect_error("log-level", "loud", EVCAST_EINVAL,
		     "t.xml:3: param \"log-level\": value \"loud\" is not a log level (err, warning, notice, info, "
		     "debug)");
	expect_error("source_address", "::1", EVCAST_EINVAL,
		     "t.xml:3: param \"source_address\": value \"::1\" is not an IPv4 address");
	expect_error("source_address_ipv6", "127.0.0.1", EVCAST_EINVAL,
		     "t.xml:3: param \"source_address_ipv6\": value \"127.0.0.1\" is not an IPv6 address");
	expect_error("multicast-interface", "a very long interface name", EVCAST_EINVAL,
		     "t.xml:3: param \"multicast-interface\": value \"a very long interface name\" is neither an IP "
		     "address nor an interface name (at most 15 characters, no '/' or spaces)");
	expect_error("control-socket", "", EVCAST_EINVAL,
		     "t.xml:3: param \"control-socket\": value \"\" is empty (leave the param out for "
		     "/run/evcast/evcastd.sock)");
	char longword[300] = "HEARTBEAT ";
	memset(longword + 10, 'A', 256); /* a 256-byte word; XML itself allows no control characters */
	longword[266] = '\0';
	expect_error("bindings", longword, EVCAST_EINVAL,
		     "t.xml:3: param \"bindings\": value \"HEARTBEAT AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA...\" is not a "
		     "bindings list (event names, then CUSTOM and subclasses; printable words of at most 255 bytes)");
	expect_error("bindings", "A&#1;B", EVCAST_EPARSE, "t.xml:3:32: reference to invalid character number");
}

static void test_address_count(void **state)
{
	char list[17 * 16 + 1] = "";
	evcast_config_t *cfg;
	(void)state;
	for (int i = 0; i < 16; i++)
		sprintf(list + strlen(list), "%s239.1.1.%d", i ? ", " : "", i + 1);
	cfg = expect_ok("address", list);
	assert_int_equal(cfg->ndests, 16);
	assert_string_equal(cfg->dests[15].text, "239.1.1.16");
	evcast_config_free(cfg);
	strcat(list, ",10.0.0.1");
	const char *kv[] = {"address", list};
	char *xml = multicast_xml(kv, 2);
	cfg = NULL;
	assert_int_equal(parse(xml, NULL, &cfg), EVCAST_EINVAL);
	free(xml);
	assert_null(cfg);
	assert_non_null(strstr(err, "t.xml:3: param \"address\": value \"239.1.1.1, 239.1.1.2"));
	assert_non_null(strstr(err, "...\" has 17 addresses (at most 16)"));
}

static void test_overlong(void **state)
{
	char *big = malloc(5001), name[257];
	(void)state;
	memset(big, 'a', 5000);
	big[5000] = '\0';
	/* psk is stored as text: the legacy module overflowed its buffer here */
	expect_error("psk", big, EVCAST_EINVAL,
		     "t.xml:3: param \"psk\": value \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" is too long "
		     "(5000 bytes, at most 4096)");
	big[4097] = '\0';
	expect_error("bindings", big, EVCAST_EINVAL,
		     "t.xml:3: param \"bindings\": value \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" is too "
		     "long (4097 bytes, at most 4096)");
	free(big);
	memset(name, 'n', 256);
	name[256] = '\0';
	expect_error("node-name", name, EVCAST_EINVAL,
		     "t.xml:3: param \"node-name\": value \"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...\" is too "
		     "long (256 bytes, at most 255)");
	char path[200];
	memset(path, 'p', 199);
	path[0] = '/';
	path[199] = '\0';
	expect_error("control-socket", path, EVCAST_EINVAL,
		     "t.xml:3: param \"control-socket\": value \"/ppppppppppppppppppppppppppppppppppppppppppppppp...\" is "
		     "too long for a Unix socket path (199 bytes, at most 107)");
	/* a whole file beyond 1 MiB is refused before parsing */
	evcast_config_t *cfg = (evcast_config_t *)1;
	assert_int_equal(evcast_config_parse("x", 2 * 1024 * 1024, "big.xml", NULL, NULL, &cfg, err, sizeof(err)),
			 EVCAST_E2BIG);
	assert_null(cfg);
	assert_string_equal(err, "big.xml: 2097152 bytes, larger than the 1048576 a configuration may have");
}

static void test_unknown_param_warning(void **state)
{
	const char *xml = "<configuration name=\"event_multicast.conf\">\n"
			  "  <settings>\n"
			  "    <param name=\"port\" value=\"4242\"/>\n"
			  "\n"
			  "    <param name=\"colour\" value=\"blue\"/>\n"
			  "    <param name=\"ttl\" value=\"2\"/>\n"
			  "    <param name=\"ttl\" value=\"3\"/>\n"
			  "  </settings>\n"
			  "</configuration>\n";
	evcast_config_t *cfg = NULL;
	logcap_t lc = {0};
	(void)state;
	assert_int_equal(parse(xml, &lc, &cfg), 0);
	assert_int_equal(cfg->ttl, 3);
	assert_int_equal(lc.n, 2);
	assert_int_equal(lc.level[0], EVCAST_LOG_WARNING);
	assert_string_equal(lc.msg[0], "t.xml:5: unknown param \"colour\" in event_multicast.conf (ignored)");
	assert_int_equal(lc.level[1], EVCAST_LOG_WARNING);
	assert_string_equal(lc.msg[1], "t.xml:7: param \"ttl\" repeats the one of line 6; the last value is used");
	evcast_config_free(cfg);
}

static void test_other_warnings(void **state)
{
	const char *kv[] = {"bindings", "CUSTOM sofia::register HEARTBEAT", "heartbeat-interval", "30",
			    "peer-timeout", "30", "address", "239.1.1.1, 239.1.1.1"};
	char *xml = multicast_xml(kv, EVC_ARRAY_SIZE(kv));
	evcast_config_t *cfg = NULL;
	logcap_t lc = {0};
	(void)state;
	assert_int_equal(parse(xml, &lc, &cfg), 0);
	free(xml);
	assert_int_equal(lc.n, 3);
	assert_string_equal(lc.msg[0], "t.xml:3: param \"bindings\": \"HEARTBEAT\" follows CUSTOM, so it is taken as a "
				       "subclass, not an event name (put event names before CUSTOM)");
	assert_string_equal(lc.msg[1], "t.xml:6: param \"address\": \"239.1.1.1\" is listed twice; it gets each event "
				       "twice");
	assert_string_equal(lc.msg[2], "t.xml:5: peer-timeout (30 s) is not longer than heartbeat-interval (30 s): "
				       "peers will be marked down between two heartbeats");
	evcast_config_free(cfg);
}

static void expect_parse_error(const char *xml, int code, const char *msg)
{
	evcast_config_t *cfg = (evcast_config_t *)1;
	assert_int_equal(parse(xml, NULL, &cfg), code);
	assert_null(cfg);
	assert_string_equal(err, msg);
}

static void test_malformed(void **state)
{
	(void)state;
	expect_parse_error("<configuration name=\"event_multicast.conf\">\n"
			   "  <settings>\n"
			   "    <param name=\"port\" value=\"1\">\n"
			   "  </settings>\n",
			   EVCAST_EPARSE, "t.xml:4:5: mismatched tag");
	expect_parse_error("", EVCAST_EPARSE, "t.xml:1:1: no element found");
	expect_parse_error("<configuration name=\"event_multicast.conf\">\n<settings><param name=\"a\" value=\"<\"/>",
			   EVCAST_EPARSE, "t.xml:2:34: not well-formed (invalid token)");
	expect_parse_error("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n]>\n"
			   "<configuration name=\"event_multicast.conf\"/>",
			   EVCAST_EPARSE, "t.xml:3: entity declaration \"lol\": entities are not allowed");
	expect_parse_error("<document><configuration name=\"event_multicast.conf\"/></document>", EVCAST_EPARSE,
			   "t.xml:1: root element <document> is neither <configuration> nor <evcast>");
	expect_parse_error("<evcast>\n<configuration name=\"lua.conf\"/>\n</evcast>", EVCAST_EPARSE,
			   "t.xml: no <configuration name=\"event_multicast.conf\"> block");
	expect_parse_error("<configuration name=\"lua.conf\"/>", EVCAST_EPARSE,
			   "t.xml: no <configuration name=\"event_multicast.conf\"> block");
	expect_parse_error("<evcast>\n<configuration/>\n</evcast>", EVCAST_EPARSE,
			   "t.xml:2: <configuration> without a name attribute");
	expect_parse_error("<evcast>\n<configuration name=\"event_multicast.conf\"/>\n"
			   "<configuration name=\"Event_Multicast.conf\"/>\n</evcast>",
			   EVCAST_EPARSE,
			   "t.xml:3: <configuration name=\"Event_Multicast.conf\"> repeats the block of line 2");
	expect_parse_error("<configuration name=\"event_multicast.conf\"><settings>\n<param value=\"1\"/>"
			   "</settings></configuration>",
			   EVCAST_EPARSE, "t.xml:2: <param> without a name attribute");
	/* a NUL byte inside the text */
	evcast_config_t *cfg = (evcast_config_t *)1;
	assert_int_equal(evcast_config_parse("<configuration\0/>", 17, NULL, NULL, NULL, &cfg, err, sizeof(err)),
			 EVCAST_EPARSE);
	assert_null(cfg);
	assert_string_equal(err, "(config):1:15: not well-formed (invalid token)");
	/* err may be NULL */
	assert_int_equal(evcast_config_parse("<x/>", 4, NULL, NULL, NULL, &cfg, NULL, 0), EVCAST_EPARSE);
	assert_int_equal(evcast_config_parse("<x/>", 4, NULL, NULL, NULL, NULL, NULL, 0), EVCAST_EINVAL);
}

static void test_evcast_root(void **state)
{
	const char *xml = "<?xml version=\"1.0\"?>\n"
			  "<evcast>\n"
			  "  <!-- a comment -->\n"
			  "  <configuration name=\"event_socket.conf\">\n"
			  "    <settings>\n"
			  "      <param name=\"listen-port\" value=\"8021\"/>\n"
			  "      <param name=\"password\" value=\"ClueCon\"/>\n"
			  "    </settings>\n"
			  "  </configuration>\n"
			  "  <configuration name=\"event_multicast.conf\" description=\"Multicast Event\">\n"
			  "    <settings>\n"
			  "      <param name=\"address\" value=\"225.1.1.1\"/>\n"
			  "    </settings>\n"
			  "  </configuration>\n"
			  "  <configuration name=\"lua.conf\">\n"
			  "    <settings>\n"
			  "      <param name=\"startup-script\" value=\"a.lua\"/>\n"
			  "      <param name=\"startup-script\" value=\"b.lua\"/>\n"
			  "      <nested><param name=\"ignored\" value=\"x\"/></nested>\n"
			  "    </settings>\n"
			  "    <other><param name=\"ignored\" value=\"y\"/></other>\n"
			  "  </configuration>\n"
			  "  <configuration name=\"empty.conf\"/>\n"
			  "</evcast>\n";
	evcast_config_t *cfg = NULL;
	logcap_t lc = {0};
	(void)state;
	assert_int_equal(parse(xml, &lc, &cfg), 0);
	assert_int_equal(lc.n, 0); /* unknown blocks and their params: no warning */
	assert_int_equal(cfg->ndests, 1);
	assert_string_equal(cfg->dests[0].text, "225.1.1.1");
	assert_int_equal(cfg->nsections, 4);
	const evcast_section_t *es = evcast_config_section(cfg, "event_socket.conf");
	assert_non_null(es);
	assert_int_equal(es->line, 4);
	assert_int_equal(es->nparams, 2);
	assert_string_equal(es->params[1].name, "password");
	assert_string_equal(es->params[1].value, "ClueCon");
	assert_int_equal(es->params[1].line, 7);
	const evcast_section_t *lua = evcast_config_section(cfg, "Lua.Conf");
	assert_non_null(lua);
	assert_int_equal(lua->nparams, 2); /* repeats kept, nested ones not taken */
	assert_string_equal(lua->params[0].value, "a.lua");
	assert_string_equal(lua->params[1].value, "b.lua");
	assert_int_equal(lua->params[1].line, 18);
	assert_int_equal(evcast_config_section(cfg, "empty.conf")->nparams, 0);
	assert_null(evcast_config_section(cfg, "missing.conf"));
	assert_null(evcast_config_section(NULL, "lua.conf"));
	evcast_config_free(cfg);
	/* an unknown element directly in <evcast> is a warning */
	assert_int_equal(parse("<evcast>\n<misc/>\n<configuration name=\"event_multicast.conf\"/></evcast>", &lc, &cfg),
			 0);
	assert_int_equal(lc.n, 1);
	assert_string_equal(lc.msg[0], "t.xml:2: unknown element <misc> in <evcast> (ignored)");
	evcast_config_free(cfg);
}

static void test_dup(void **state)
{
	const char *xml = "<evcast><configuration name=\"event_multicast.conf\"><settings>"
			  "<param name=\"address\" value=\"239.2.2.2,[ff02::2]\"/>"
			  "<param name=\"psk\" value=\"k\"/><param name=\"multicast-interface\" value=\"lo\"/>"
			  "<param name=\"bindings\" value=\"ALL\"/></settings></configuration>"
			  "<configuration name=\"lua.conf\"><settings><param name=\"startup-script\" value=\"x.lua\"/>"
			  "</settings></configuration></evcast>";
	evcast_config_t *cfg = NULL, *copy;
	(void)state;
	assert_int_equal(parse(xml, NULL, &cfg), 0);
	copy = evc__config_dup(cfg);
	assert_non_null(copy);
	assert_ptr_not_equal(copy->psk, cfg->psk);
	assert_ptr_not_equal(copy->sections, cfg->sections);
	assert_ptr_not_equal(copy->sections[1].params[0].value, cfg->sections[1].params[0].value);
	assert_memory_equal(copy->digest, cfg->digest, sizeof(cfg->digest));
	assert_memory_equal(copy->dests, cfg->dests, sizeof(cfg->dests));
	evcast_config_free(cfg); /* the copy must not share anything with it */
	assert_string_equal(copy->path, "t.xml");
	assert_int_equal(copy->ndests, 2);
	assert_string_equal(copy->dests[1].text, "[ff02::2]");
	assert_string_equal(copy->psk, "k");
	assert_string_equal(copy->bindings, "ALL");
	assert_string_equal(copy->multicast_interface, "lo");
	assert_string_equal(copy->source_address, "0.0.0.0");
	assert_int_equal(copy->nsections, 2);
	assert_string_equal(evcast_config_section(copy, "lua.conf")->params[0].value, "x.lua");
	assert_int_equal(copy->port, 4242);
	evcast_config_free(copy);
	assert_null(evc__config_dup(NULL));
}

static void test_dest_parse(void **state)
{
	evcast_dest_t d;
	(void)state;
	assert_int_equal(evcast_dest_parse("224.0.0.1", 9, &d), 0);
	assert_true(d.multicast);
	assert_int_equal(evcast_dest_parse("239.255.255.255", 9, &d), 0);
	assert_true(d.multicast);
	assert_int_equal(evcast_dest_parse("223.255.255.255", 9, &d), 0);
	assert_false(d.multicast);
	assert_int_equal(evcast_dest_parse("240.0.0.1", 9, &d), 0);
	assert_false(d.multicast);
	assert_int_equal(evcast_dest_parse("127.0.0.1", 4242, &d), 0);
	assert_int_equal(d.addr.ss_family, AF_INET);
	assert_int_equal(d.addrlen, sizeof(struct sockaddr_in));
	assert_int_equal(((struct sockaddr_in *)&d.addr)->sin_addr.s_addr, htonl(0x7f000001));
	assert_int_equal(((struct sockaddr_in *)&d.addr)->sin_port, htons(4242));
	assert_int_equal(evcast_dest_parse("ff02::1", 7, &d), 0);
	assert_true(d.multicast);
	assert_string_equal(d.text, "ff02::1");
	assert_int_equal(d.addrlen, sizeof(struct sockaddr_in6));
	assert_int_equal(((struct sockaddr_in6 *)&d.addr)->sin6_port, htons(7));
	assert_int_equal(evcast_dest_parse("[fe80::1]", 7, &d), 0);
	assert_false(d.multicast);
	assert_string_equal(d.text, "[fe80::1]");
	assert_int_equal(evcast_dest_parse("[ff02::1%lo]", 7, &d), 0);
	assert_int_equal(((struct sockaddr_in6 *)&d.addr)->sin6_scope_id, if_nametoindex("lo"));
	assert_int_equal(evcast_dest_parse("ff02::1%3", 7, &d), 0);
	assert_int_equal(((struct sockaddr_in6 *)&d.addr)->sin6_scope_id, 3);
	static const char *bad[] = {"", "[", "[]", "[::1", "::1]", "[127.0.0.1]", "1.2.3.4:5", "1.2.3", "host.example",
				    "::1%", "::1%no-such-if0", " 1.2.3.4", "1.2.3.4%lo",
				    "[1111:2222:3333:4444:5555:6666:7777:8888%1234567890123456789012345]"};
	for (size_t i = 0; i < EVC_ARRAY_SIZE(bad); i++)
		if (evcast_dest_parse(bad[i], 7, &d) != EVCAST_EINVAL)
			fail_msg("\"%s\" parsed", bad[i]);
	assert_int_equal(evcast_dest_parse(NULL, 7, &d), EVCAST_EINVAL);
	assert_int_equal(evcast_dest_parse("1.2.3.4", 7, NULL), EVCAST_EINVAL);
}

/* Every allocation in turn fails: a clean ENOMEM each time, nothing leaked. */
static void test_out_of_memory(void **state)
{
	const char *xml = "<evcast><configuration name=\"event_multicast.conf\"><settings>"
			  "<param name=\"address\" value=\"239.2.2.2,[ff02::2]\"/><param name=\"psk\" value=\"k\"/>"
			  "<param name=\"bindings\" value=\"HEARTBEAT CUSTOM a b\"/><param name=\"x\" value=\"y\"/>"
			  "<param name=\"node-name\" value=\"n\"/><param name=\"multicast-interface\" value=\"lo\"/>"
			  "</settings></configuration><configuration name=\"lua.conf\"><settings>"
			  "<param name=\"startup-script\" value=\"x.lua\"/></settings></configuration></evcast>";
	evcast_config_t *cfg = NULL;
	logcap_t lc;
	long n, failures = 0;
	(void)state;
	for (n = 1; n < 10000; n++) {
		memset(&lc, 0, sizeof(lc));
		n_allocs = 0;
		fail_at = n;
		int rc = parse(xml, &lc, &cfg);
		fail_at = 0;
		if (rc == 0)
			break;
		assert_int_equal(rc, EVCAST_ENOMEM);
		assert_null(cfg);
		assert_int_equal(live, 0);
		failures++;
	}
	assert_non_null(cfg); /* it succeeded once allocations stopped failing */
	assert_true(failures > 10);
	for (n = 1;; n++) {
		n_allocs = 0;
		fail_at = n;
		evcast_config_t *copy = evc__config_dup(cfg);
		fail_at = 0;
		if (copy) {
			evcast_config_free(copy);
			break;
		}
	}
	assert_true(n > 10);
	evcast_config_free(cfg);
}

int main(void)
{
	evcast_replace_allocator(t_malloc, t_realloc, t_calloc, t_free);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_every_param, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_value_forms, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_invalid_values, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_address_count, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_overlong, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_param_warning, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_other_warnings, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_malformed, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_evcast_root, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_dup, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_dest_parse, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_out_of_memory, t_alloc_setup, t_alloc_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
