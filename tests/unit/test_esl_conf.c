/*
 * test_esl_conf.c -- unit tests of the event_socket.conf block
 * (src/daemon/esl_conf.c and acl.c, included here: daemon files are not in
 * the library).
 *
 * Covers: defaults, every param, IPv6 listen-ip with and without brackets,
 * the refusal of a non-loopback listen-ip with FreeSWITCH's default
 * password, bad values named as file:line: event_socket.conf: param: value:
 * why, unknown and FreeSWITCH-only params as warnings, a real XML file
 * through evcast_config_parse, and the pre-auth params (max-unauthenticated,
 * max-unauthenticated-per-address, auth-failure-delay-ms/-max-ms): defaults
 * lowered to fit, explicit values that cannot hold refused with the reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/daemon/acl.c"
#include "../../src/daemon/esl_conf.c"

static char warnings[2048];

static void on_warn(void *ud, const char *msg)
{
	size_t n = strlen(warnings);
	snprintf(warnings + n, sizeof(warnings) - n, "%s\n", msg);
}

/* A section from "name=value" strings, line numbers 10, 11, ... */
typedef struct {
	evcast_section_t s;
	evcast_param_t p[16];
	char names[16][64], values[16][256];
} sect_t;

static void mk(sect_t *t, const char *const *kv, size_t n)
{
	memset(t, 0, sizeof(*t));
	t->s.name = "event_socket.conf";
	t->s.line = 9;
	t->s.params = t->p;
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(kv[i], '=');
		snprintf(t->names[i], sizeof(t->names[i]), "%.*s", (int)(eq - kv[i]), kv[i]);
		snprintf(t->values[i], sizeof(t->values[i]), "%s", eq + 1);
		t->p[i].name = t->names[i];
		t->p[i].value = t->values[i];
		t->p[i].line = 10 + (int)i;
	}
	t->s.nparams = n;
}

#define PARSE(conf, err, ...)                                                                                \
	({                                                                                                   \
		static const char *const kv_[] = {__VA_ARGS__};                                              \
		sect_t t_;                                                                                   \
		mk(&t_, kv_, sizeof(kv_) / sizeof(kv_[0]));                                                  \
		warnings[0] = '\0';                                                                          \
		evcd_esl_conf_parse(&t_.s, "/etc/evcast.xml", on_warn, NULL, conf, err, sizeof(err));        \
	})

static void test_defaults(void **state)
{
	evcd_esl_conf_t c;
	char err[512] = "";
	assert_int_equal(evcd_esl_conf_parse(NULL, NULL, NULL, NULL, &c, err, sizeof(err)), 0);
	assert_string_equal(c.listen_ip, "127.0.0.1");
	assert_int_equal(c.port, 8021);
	assert_string_equal(c.password, "ClueCon");
	assert_int_equal(c.acl.n, 0);
	assert_int_equal(c.max_connections, EVCD_ESL_DEFAULT_MAX_CONNECTIONS);
	assert_int_equal(c.auth_timeout, EVCD_ESL_DEFAULT_AUTH_TIMEOUT);
	assert_int_equal(c.queue_max_events, EVCD_ESL_DEFAULT_QUEUE_EVENTS);
	assert_int_equal(c.queue_max_bytes, EVCD_ESL_DEFAULT_QUEUE_BYTES);
	assert_int_equal(c.max_unauth, 32);
	assert_int_equal(c.max_unauth_per_addr, 8);
	assert_int_equal(c.fail_delay_ms, 200);
	assert_int_equal(c.fail_delay_max_ms, 10000);
	assert_int_equal(c.addr.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&c.addr)->sin_port), 8021);
	evcd_esl_conf_free(&c);
}

static void test_every_param(void **state)
{
	evcd_esl_conf_t c;
	char err[512] = "";
	assert_int_equal(PARSE(&c, err, "listen-ip=[::1]", "listen-port=18021", "password=s3cret",
			       "apply-inbound-acl=10.0.0.0/8, ::1", "apply-inbound-acl=loopback.auto",
			       "max-connections=3", "auth-timeout=0", "queue-max-events=50",
			       "queue-max-bytes=65536", "nat-map=false", "colour=blue"),
			 0);
	assert_string_equal(c.listen_ip, "::1");
	assert_int_equal(c.addr.ss_family, AF_INET6);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&c.addr)->sin6_port), 18021);
	assert_string_equal(c.password, "s3cret");
	assert_int_equal(c.acl.n, 4);
	assert_int_equal(c.max_connections, 3);
	assert_int_equal(c.auth_timeout, 0);
	assert_int_equal(c.queue_max_events, 50);
	assert_int_equal(c.queue_max_bytes, 65536);
	assert_non_null(strstr(warnings, "/etc/evcast.xml:19: FreeSWITCH-only param \"nat-map\" in event_socket.conf (ignored)"));
	assert_non_null(strstr(warnings, "/etc/evcast.xml:20: unknown param \"colour\" in event_socket.conf (ignored)"));
	evcd_esl_conf_free(&c);
}

static void test_default_password_off_loopback(void **state)
{
	evcd_esl_conf_t c;
	char err[512] = "";
	assert_int_equal(PARSE(&c, err, "listen-ip=0.0.0.0"), EVCAST_EINVAL);
	assert_string_equal(err, "/etc/evcast.xml:10: event_socket.conf: param \"listen-ip\": value \"0.0.0.0\": refusing "
				 "to listen on a non-loopback address with the default password (ClueCon); set a password");
	assert_int_equal(PARSE(&c, err, "listen-ip=::", "password=ClueCon"), EVCAST_EINVAL);
	assert_string_equal(err, "/etc/evcast.xml:11: event_socket.conf: param \"password\": value \"ClueCon\": refusing "
				 "to listen on a non-loopback address with FreeSWITCH's default password");
	/* loopback keeps FreeSWITCH's default; a real password opens any address */
	assert_int_equal(PARSE(&c, err, "listen-ip=127.0.0.2"), 0);
	evcd_esl_conf_free(&c);
	assert_int_equal(PARSE(&c, err, "listen-ip=::", "password=long-random"), 0);
	assert_string_equal(c.listen_ip, "::");
	evcd_esl_conf_free(&c);
}

static void test_bad_values(void **state)
{
	static const struct {
		const char *kv, *msg;
	} bad[] = {
		{"listen-port=70000", "param \"listen-port\": value \"70000\": not a port number (1-65535)"},
		{"listen-port=0", "param \"listen-port\": value \"0\": not a port number (1-65535)"},
		{"listen-port=80x", "param \"listen-port\": value \"80x\": not a port number (1-65535)"},
		{"listen-ip=localhost", "param \"listen-ip\": value \"localhost\": not an IPv4 or IPv6 address"},
		{"listen-ip=", "param \"listen-ip\": value \"\": not an IPv4 or IPv6 address"},
		{"password=", "param \"password\": value \"\": the password must not be empty"},
		{"apply-inbound-acl=10.0.0.0/33", "param \"apply-inbound-acl\": value \"10.0.0.0/33\": prefix length 33 is over 32"},
		{"apply-inbound-acl=lan", "param \"apply-inbound-acl\": value \"lan\": \"lan\" is not an IPv4 or IPv6 address"},
		{"max-connections=0", "param \"max-connections\": value \"0\": not a number of connections (1-65536)"},
		{"auth-timeout=-1", "param \"auth-timeout\": value \"-1\": not a number of seconds (0-3600, 0 = none)"},
		{"queue-max-events=0", "param \"queue-max-events\": value \"0\": not a number of events (1-10000000)"},
		{"queue-max-bytes=1k", "param \"queue-max-bytes\": value \"1k\": not a number of bytes (65536-1073741824)"},
		{"max-unauthenticated=0", "param \"max-unauthenticated\": value \"0\": not a number of connections (1-4096)"},
		{"max-unauthenticated=4097", "param \"max-unauthenticated\": value \"4097\": not a number of connections (1-4096)"},
		{"max-unauthenticated-per-address=x",
		 "param \"max-unauthenticated-per-address\": value \"x\": not a number of connections (1-4096)"},
		{"auth-failure-delay-ms=60001",
		 "param \"auth-failure-delay-ms\": value \"60001\": not a number of milliseconds (0-60000, 0 = no delay)"},
		{"auth-failure-delay-max-ms=0",
		 "param \"auth-failure-delay-max-ms\": value \"0\": not a number of milliseconds (1-600000)"},
		{"max-unauthenticated=300", "param \"max-unauthenticated\": value \"300\": larger than max-connections (256)"},
		{"max-unauthenticated-per-address=33",
		 "param \"max-unauthenticated-per-address\": value \"33\": larger than max-unauthenticated (32)"},
		{"auth-failure-delay-ms=30000",
		 "param \"auth-failure-delay-ms\": value \"30000\": not shorter than auth-timeout (30 s)"},
		{"auth-failure-delay-max-ms=30000",
		 "param \"auth-failure-delay-max-ms\": value \"30000\": not shorter than auth-timeout (30 s)"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		evcd_esl_conf_t c;
		char err[512] = "", want[512];
		sect_t t;
		const char *kv[1] = {bad[i].kv};
		mk(&t, kv, 1);
		assert_int_equal(evcd_esl_conf_parse(&t.s, "/etc/evcast.xml", NULL, NULL, &c, err, sizeof(err)),
				 EVCAST_EINVAL);
		snprintf(want, sizeof(want), "/etc/evcast.xml:10: event_socket.conf: %s", bad[i].msg);
		assert_string_equal(err, want);
		assert_null(c.password); /* nothing to free on failure */
		assert_int_equal(c.acl.n, 0);
	}
	/* a refused password is not quoted: a reload's -ERR goes back to a client */
	evcd_esl_conf_t c;
	char err[512] = "", secret[301];
	memset(secret, 's', sizeof(secret) - 1);
	secret[sizeof(secret) - 1] = '\0';
	evcast_param_t pw = {.name = "password", .value = secret, .line = 10};
	evcast_section_t sec = {.name = "event_socket.conf", .line = 9, .params = &pw, .nparams = 1};
	assert_int_equal(evcd_esl_conf_parse(&sec, "/etc/evcast.xml", NULL, NULL, &c, err, sizeof(err)), EVCAST_EINVAL);
	assert_string_equal(err, "/etc/evcast.xml:10: event_socket.conf: param \"password\": value \"(hidden)\": longer "
				 "than 255 bytes");
}

/* The pre-auth params: as given, defaults lowered to fit, explicit conflicts refused. */
static void test_preauth_params(void **state)
{
	evcd_esl_conf_t c;
	char err[512] = "";
	assert_int_equal(PARSE(&c, err, "max-connections=100", "max-unauthenticated=20",
			       "max-unauthenticated-per-address=5", "auth-failure-delay-ms=50",
			       "auth-failure-delay-max-ms=2000"),
			 0);
	assert_int_equal(c.max_unauth, 20);
	assert_int_equal(c.max_unauth_per_addr, 5);
	assert_int_equal(c.fail_delay_ms, 50);
	assert_int_equal(c.fail_delay_max_ms, 2000);
	assert_string_equal(warnings, "");
	evcd_esl_conf_free(&c);
	/* defaults follow a small max-connections and auth-timeout down */
	assert_int_equal(PARSE(&c, err, "max-connections=3", "auth-timeout=4"), 0);
	assert_int_equal(c.max_unauth, 3);
	assert_int_equal(c.max_unauth_per_addr, 3);
	assert_int_equal(c.fail_delay_ms, 200);
	assert_int_equal(c.fail_delay_max_ms, 2000);
	evcd_esl_conf_free(&c);
	assert_int_equal(PARSE(&c, err, "max-unauthenticated=4"), 0);
	assert_int_equal(c.max_unauth_per_addr, 4);
	evcd_esl_conf_free(&c);
	/* an explicit first delay raises the default cap; 0 turns the delay off; no auth timeout, no bound */
	assert_int_equal(PARSE(&c, err, "auth-timeout=5", "auth-failure-delay-ms=3000"), 0);
	assert_int_equal(c.fail_delay_ms, 3000);
	assert_int_equal(c.fail_delay_max_ms, 3000);
	evcd_esl_conf_free(&c);
	assert_int_equal(PARSE(&c, err, "auth-failure-delay-max-ms=100"), 0); /* the default first delay follows */
	assert_int_equal(c.fail_delay_ms, 100);
	assert_int_equal(c.fail_delay_max_ms, 100);
	evcd_esl_conf_free(&c);
	assert_int_equal(PARSE(&c, err, "auth-failure-delay-ms=0"), 0);
	assert_int_equal(c.fail_delay_ms, 0);
	evcd_esl_conf_free(&c);
	assert_int_equal(PARSE(&c, err, "auth-timeout=0", "auth-failure-delay-max-ms=600000"), 0);
	assert_int_equal(c.fail_delay_max_ms, 600000);
	evcd_esl_conf_free(&c);
	/* explicit values that cannot hold, named with their own line */
	assert_int_equal(PARSE(&c, err, "max-connections=10", "max-unauthenticated=11"), EVCAST_EINVAL);
	assert_string_equal(err, "/etc/evcast.xml:11: event_socket.conf: param \"max-unauthenticated\": value \"11\": "
				 "larger than max-connections (10)");
	assert_int_equal(PARSE(&c, err, "max-unauthenticated-per-address=5", "max-unauthenticated=4"), EVCAST_EINVAL);
	assert_string_equal(err, "/etc/evcast.xml:10: event_socket.conf: param \"max-unauthenticated-per-address\": "
				 "value \"5\": larger than max-unauthenticated (4)");
	assert_int_equal(PARSE(&c, err, "auth-timeout=5", "auth-failure-delay-max-ms=5000"), EVCAST_EINVAL);
	assert_string_equal(err, "/etc/evcast.xml:11: event_socket.conf: param \"auth-failure-delay-max-ms\": "
				 "value \"5000\": not shorter than auth-timeout (5 s)");
	assert_int_equal(PARSE(&c, err, "auth-failure-delay-max-ms=100", "auth-failure-delay-ms=150"), EVCAST_EINVAL);
	assert_string_equal(err, "/etc/evcast.xml:10: event_socket.conf: param \"auth-failure-delay-max-ms\": "
				 "value \"100\": smaller than auth-failure-delay-ms (150)");
	assert_null(c.password);
}

static void test_loopback_rule(void **state)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_INET;
	inet_pton(AF_INET, "127.9.9.9", &((struct sockaddr_in *)&ss)->sin_addr);
	assert_true(evcd_addr_is_loopback((struct sockaddr *)&ss));
	inet_pton(AF_INET, "10.0.0.1", &((struct sockaddr_in *)&ss)->sin_addr);
	assert_false(evcd_addr_is_loopback((struct sockaddr *)&ss));
	ss.ss_family = AF_INET6;
	inet_pton(AF_INET6, "::1", &((struct sockaddr_in6 *)&ss)->sin6_addr);
	assert_true(evcd_addr_is_loopback((struct sockaddr *)&ss));
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &((struct sockaddr_in6 *)&ss)->sin6_addr);
	assert_true(evcd_addr_is_loopback((struct sockaddr *)&ss));
	inet_pton(AF_INET6, "fe80::1", &((struct sockaddr_in6 *)&ss)->sin6_addr);
	assert_false(evcd_addr_is_loopback((struct sockaddr *)&ss));
}

/* The block as it sits in a real file, through the library's XML parser. */
static void test_from_xml(void **state)
{
	static const char xml[] =
		"<evcast>\n"
		" <configuration name=\"event_multicast.conf\"><settings>\n"
		"  <param name=\"address\" value=\"239.255.42.9\"/>\n"
		" </settings></configuration>\n"
		" <configuration name=\"event_socket.conf\" description=\"Socket Client\"><settings>\n"
		"  <param name=\"listen-ip\" value=\"::\"/>\n"
		"  <param name=\"listen-port\" value=\"8021\"/>\n"
		"  <param name=\"password\" value=\"ClueCon\"/>\n"
		" </settings></configuration>\n"
		"</evcast>\n";
	evcast_config_t *cfg = NULL;
	evcd_esl_conf_t c;
	char err[512] = "";
	assert_int_equal(evcast_config_parse(xml, sizeof(xml) - 1, "x.xml", NULL, NULL, &cfg, err, sizeof(err)), 0);
	const evcast_section_t *s = evcast_config_section(cfg, EVCD_ESL_SECTION);
	assert_non_null(s);
	assert_int_equal(evcd_esl_conf_parse(s, "x.xml", NULL, NULL, &c, err, sizeof(err)), EVCAST_EINVAL);
	assert_string_equal(err, "x.xml:8: event_socket.conf: param \"password\": value \"ClueCon\": refusing to listen "
				 "on a non-loopback address with FreeSWITCH's default password");
	evcast_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_param),
		cmocka_unit_test(test_default_password_off_loopback),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_preauth_params),
		cmocka_unit_test(test_loopback_rule),
		cmocka_unit_test(test_from_xml),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
