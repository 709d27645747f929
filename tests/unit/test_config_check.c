/*
 * test_config_check.c -- config_check.c: every block validated before a
 * reload applies anything (issue 13 finding 7, --check-config of issue 15).
 *
 * Includes config_check.c with the real event_socket.conf parser (esl_conf.c,
 * acl.c); the other modules' validate-only entry points are replaced by fakes
 * that refuse their block when it holds a param named "bad" (logging a
 * file:line reason as the real ones do) and count their calls, so the tests
 * see what config_check.c itself owns: every validator runs once, every reason
 * is collected in order, the collection is bounded and counted, quiet keeps
 * the lines out of the log, unknown blocks are warned about, and the list of
 * blocks that apply only at the next start. The real validators are tested in
 * test_metrics.c, test_lua.c, test_esl_conf.c and it_reload_hostile.sh.
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
#include "../../src/daemon/config_check.c"

/* ------------------------------------------------------------------ stubs */

static char g_log[16384]; /* what reached the log (not quiet) */

/* As main.c's: a validation context collects the line, and keeps it out of
 * the log when quiet. */
void evcd_log(void *ud, int level, const char *msg)
{
	evcd_t *d = ud;
	size_t n = strlen(g_log);
	if (d && d->check) {
		evcd_check_note(d->check, level, msg);
		if (d->check->quiet)
			return;
	}
	snprintf(g_log + n, sizeof(g_log) - n, "%s\n", msg);
}

void evcd_logf(evcd_t *d, int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	evcd_log(d, level, msg);
}

/* A fake module validator: refuses its block when it holds a "bad" param. */
static unsigned g_calls[6];
static int fake_check(evcd_t *d, unsigned idx, const char *block)
{
	const evcast_section_t *s = evcast_config_section(d->cfg, block);
	g_calls[idx]++;
	assert_null(d->loop); /* a scratch context: nothing can be started */
	assert_null(d->node);
	for (size_t i = 0; s && i < s->nparams; i++)
		if (strcmp(s->params[i].name, "bad") == 0) {
			evcd_logf(d, EVCAST_LOG_ERR, "%s:%d: %s: invalid value \"%s\" for bad", d->config_path,
				  s->params[i].line, block, s->params[i].value);
			return EVCAST_EINVAL;
		}
	return 0;
}
int evcd_metrics_check(evcd_t *d) { return fake_check(d, 0, "metrics.conf"); }
int evcd_reg_check(evcd_t *d) { return fake_check(d, 1, "registrations.conf"); }
int evcd_presence_check(evcd_t *d) { return fake_check(d, 2, "presence.conf"); }
int evcd_sidecar_check(evcd_t *d) { return fake_check(d, 3, "sidecar.conf"); }
int evcd_nats_check(evcd_t *d) { return fake_check(d, 4, "nats.conf"); }
int evcd_lua_check(evcd_t *d) { return fake_check(d, 5, "lua.conf"); }

/* ---------------------------------------------------------------- helpers */

static const char HEAD[] = "<evcast>\n<configuration name=\"event_multicast.conf\"><settings>\n"
			   "<param name=\"address\" value=\"239.255.42.9\"/>\n</settings></configuration>\n";

/* HEAD + blocks + </evcast>, parsed as "t.xml". */
static evcast_config_t *cfg_of(const char *blocks)
{
	char xml[8192], err[512];
	evcast_config_t *cfg = NULL;
	snprintf(xml, sizeof(xml), "%s%s</evcast>\n", HEAD, blocks);
	if (evcast_config_parse(xml, strlen(xml), "t.xml", NULL, NULL, &cfg, err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
	return cfg;
}

static int setup(void **state)
{
	(void)state;
	memset(g_calls, 0, sizeof(g_calls));
	g_log[0] = '\0';
	return 0;
}

static void assert_each_validator_ran_once(void)
{
	for (size_t i = 0; i < EVC_ARRAY_SIZE(g_calls); i++)
		if (g_calls[i] != 1)
			fail_msg("validator %zu ran %u time(s)", i, g_calls[i]);
}

/* ------------------------------------------------------------------ tests */

static void test_valid_file(void **state)
{
	evcd_check_t c;
	char reasons[256];
	(void)state;
	evcast_config_t *cfg = cfg_of("<configuration name=\"event_socket.conf\"><settings>\n"
				      "<param name=\"listen-port\" value=\"8021\"/>\n</settings></configuration>\n"
				      "<configuration name=\"lua.conf\"><settings/></configuration>\n");
	assert_int_equal(evcd_config_check(cfg, NULL, EVCAST_LOG_NOTICE, false, &c), 0);
	assert_each_validator_ran_once();
	assert_int_equal(c.nerrors, 0);
	assert_int_equal(c.nwarnings, 0);
	evcd_check_reasons(&c, reasons, sizeof(reasons));
	assert_string_equal(reasons, "");
	evcast_config_free(cfg);
}

/* Three invalid blocks: one refusal naming the three, in file order, each
 * with file:line; the validators after the first failure still ran. */
static void test_every_reason_collected(void **state)
{
	evcd_check_t c;
	char reasons[2048];
	(void)state;
	evcast_config_t *cfg = cfg_of("<configuration name=\"event_socket.conf\"><settings>\n"     /* line 5 */
				      "<param name=\"listen-port\" value=\"99999\"/>\n"              /* 6 */
				      "</settings></configuration>\n"                                /* 7 */
				      "<configuration name=\"metrics.conf\"><settings>\n"            /* 8 */
				      "<param name=\"bad\" value=\"m\"/>\n</settings></configuration>\n" /* 9 */
				      "<configuration name=\"lua.conf\"><settings>\n"                /* 11 */
				      "<param name=\"bad\" value=\"l\"/>\n</settings></configuration>\n"); /* 12 */
	assert_int_equal(evcd_config_check(cfg, "/etc/x.xml", EVCAST_LOG_NOTICE, false, &c), EVCAST_EINVAL);
	assert_each_validator_ran_once();
	assert_int_equal(c.nerrors, 3);
	evcd_check_reasons(&c, reasons, sizeof(reasons));
	assert_string_equal(reasons,
			    "/etc/x.xml:6: event_socket.conf: param \"listen-port\": value \"99999\": not a port number "
			    "(1-65535); /etc/x.xml:9: metrics.conf: invalid value \"m\" for bad; /etc/x.xml:12: lua.conf: "
			    "invalid value \"l\" for bad");
	/* not quiet: the log got the same lines (the reload's record) */
	assert_non_null(strstr(g_log, "/etc/x.xml:9: metrics.conf: invalid value \"m\" for bad"));
	/* a short buffer: cut, still a string */
	evcd_check_reasons(&c, reasons, 40);
	assert_int_equal(strlen(reasons), 39);
	evcast_config_free(cfg);
}

/* The event_socket.conf refusal the start makes (a non-loopback address with
 * the default password) is made by the check too. */
static void test_esl_default_password_refused(void **state)
{
	evcd_check_t c;
	(void)state;
	evcast_config_t *cfg = cfg_of("<configuration name=\"event_socket.conf\"><settings>\n"
				      "<param name=\"listen-ip\" value=\"0.0.0.0\"/>\n</settings></configuration>\n");
	assert_int_equal(evcd_config_check(cfg, NULL, EVCAST_LOG_NOTICE, true, &c), EVCAST_EINVAL);
	assert_int_equal(c.nerrors, 1);
	assert_non_null(strstr(c.text, "error: t.xml:6: event_socket.conf: param \"listen-ip\": value \"0.0.0.0\": "
					"refusing to listen on a non-loopback address with the default password"));
	assert_string_equal(g_log, ""); /* quiet: nothing reached the log */
	evcast_config_free(cfg);
}

static void test_unknown_block_warned(void **state)
{
	evcd_check_t c;
	(void)state;
	evcast_config_t *cfg = cfg_of("<configuration name=\"event_sockets.conf\"><settings>\n"
				      "<param name=\"listen-port\" value=\"99999\"/>\n</settings></configuration>\n");
	assert_int_equal(evcd_config_check(cfg, NULL, EVCAST_LOG_NOTICE, true, &c), 0);
	assert_int_equal(c.nerrors, 0);
	assert_int_equal(c.nwarnings, 1);
	assert_string_equal(c.text, "warning: t.xml:5: unknown block <configuration name=\"event_sockets.conf\"> "
				    "(ignored)\n");
	evcast_config_free(cfg);
}

/* More lines than the buffer holds: bounded, the rest counted and said. */
static void test_lines_bounded_and_counted(void **state)
{
	evcd_check_t c;
	char line[600], reasons[EVCD_RELOAD_MSG];
	(void)state;
	memset(&c, 0, sizeof(c));
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	for (int i = 0; i < 40; i++)
		evcd_check_note(&c, EVCAST_LOG_ERR, line);
	evcd_check_note(&c, EVCAST_LOG_NOTICE, "not collected");
	assert_int_equal(c.nerrors, 40);
	assert_true(c.nlost > 0);
	assert_true(c.len < sizeof(c.text));
	assert_int_equal(strlen(c.text), c.len);
	assert_int_equal(c.len, (size_t)(40 - c.nlost) * (strlen("error: ") + sizeof(line)));
	evcd_check_reasons(&c, reasons, sizeof(reasons));
	assert_int_equal(strlen(reasons), sizeof(reasons) - 1); /* filled, cut, terminated */
	memset(&c, 0, sizeof(c));
	evcd_check_note(&c, EVCAST_LOG_ERR, "a");
	c.nlost = 3;
	evcd_check_reasons(&c, reasons, sizeof(reasons));
	assert_string_equal(reasons, "a; (3 more line(s) not shown)");
}

static void test_deferred_blocks(void **state)
{
	char buf[256];
	(void)state;
	evcast_config_t *a = cfg_of("<configuration name=\"event_socket.conf\"><settings>\n"
				    "<param name=\"listen-port\" value=\"8021\"/>\n</settings></configuration>\n"
				    "<configuration name=\"metrics.conf\"><settings>\n"
				    "<param name=\"enabled\" value=\"yes\"/>\n</settings></configuration>\n");
	evcast_config_t *b = cfg_of("<configuration name=\"event_socket.conf\"><settings>\n"
				    "<param name=\"listen-port\" value=\"8022\"/>\n</settings></configuration>\n"
				    "<configuration name=\"metrics.conf\"><settings>\n"
				    "<param name=\"enabled\" value=\"yes\"/>\n</settings></configuration>\n"
				    "<configuration name=\"lua.conf\"><settings/></configuration>\n");
	evcd_config_deferred(a, a, buf, sizeof(buf));
	assert_string_equal(buf, "");
	evcd_config_deferred(a, b, buf, sizeof(buf)); /* changed, added; metrics.conf the same */
	assert_string_equal(buf, "event_socket.conf, lua.conf");
	evcd_config_deferred(b, a, buf, sizeof(buf)); /* removed counts too */
	assert_string_equal(buf, "event_socket.conf, lua.conf");
	evc__free(b->control_socket);
	b->control_socket = evc__strdup("/run/other.sock");
	evcd_config_deferred(a, b, buf, sizeof(buf));
	assert_string_equal(buf, "event_socket.conf, lua.conf, control-socket");
	evcd_config_deferred(a, b, buf, 20); /* what does not fit is left out whole */
	assert_string_equal(buf, "event_socket.conf");
	evcast_config_free(a);
	evcast_config_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_valid_file, setup),
		cmocka_unit_test_setup(test_every_reason_collected, setup),
		cmocka_unit_test_setup(test_esl_default_password_refused, setup),
		cmocka_unit_test_setup(test_unknown_block_warned, setup),
		cmocka_unit_test_setup(test_lines_bounded_and_counted, setup),
		cmocka_unit_test_setup(test_deferred_blocks, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
