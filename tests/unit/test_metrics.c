/*
 * test_metrics.c -- the Prometheus endpoint (src/daemon/metrics.c and metrics_render.c, included):
 * metrics.conf defaults and validation (line-numbered messages), the loopback
 * rule, label escaping, the Lua families (evcd_lua_json stubbed), a real
 * scrape over 127.0.0.1 (every evcast_stats_t
 * counter with its value, build info, Content-Length), the HTTP error
 * answers, and allocation failure at every point of a scrape (a 500 or a
 * closed connection, never a crash or a leak). The daemon's log and control
 * statistics are stubbed; the loop is closed cleanly after each test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "../../src/daemon/metrics.c"
#include "../../src/daemon/metrics_render.c"
#include "../../src/daemon/rxdelay.c"

/* ------------------------------------------------------------------ stubs */

static char g_log[16384];

void evcd_log(void *ud, int level, const char *msg)
{
	(void)ud;
	(void)level;
	size_t n = strlen(g_log);
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

void evcd_control_stats(const evcd_t *d, evcd_control_stats_t *out)
{
	(void)d;
	memset(out, 0, sizeof(*out));
	out->events_dropped = 7;
	out->accepted = 3;
}

/* metrics.c renders the NATS link only when d->nats is set (never here). */
char *evcd_nats_json(evcd_t *d)
{
	(void)d;
	return NULL;
}

/* lua.c's counters: g_lua_json when set (test_lua_families), else none. */
static const char *g_lua_json;
char *evcd_lua_json(evcd_t *d)
{
	(void)d;
	return g_lua_json ? evc__strdup(g_lua_json) : NULL;
}

/* registrations.c's store counters: g_store_json when set (test_store_families), else none. */
static const char *g_store_json;
char *evcd_reg_store_json(evcd_t *d)
{
	(void)d;
	return g_store_json ? evc__strdup(g_store_json) : NULL;
}

/* Failing allocator: the countdown-th allocation from now fails (0 = never). */
static long g_fail_at;
static void *t_malloc(size_t n) { return g_fail_at > 0 && --g_fail_at == 0 ? NULL : malloc(n); }
static void *t_realloc(void *p, size_t n) { return g_fail_at > 0 && --g_fail_at == 0 ? NULL : realloc(p, n); }
static void *t_calloc(size_t c, size_t n) { return g_fail_at > 0 && --g_fail_at == 0 ? NULL : calloc(c, n); }

/* ---------------------------------------------------------------- fixture */

typedef struct fx {
	uv_loop_t loop;
	evcd_t d;
	int port;
} fx_t;

static int fx_setup(void **state)
{
	fx_t *f = calloc(1, sizeof(*f));
	uv_loop_init(&f->loop);
	f->d.loop = &f->loop;
	f->d.config_path = "test.xml";
	f->d.start_ms = 1700000000123ull;
	g_log[0] = '\0';
	g_fail_at = 0;
	*state = f;
	return 0;
}

static void on_node_closed(void *ud) { ((fx_t *)ud)->d.node = NULL; }

static int fx_teardown(void **state)
{
	fx_t *f = *state;
	evcd_metrics_stop(&f->d);
	if (f->d.node)
		evcast_node_close(f->d.node, on_node_closed, f);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_null(f->d.metrics);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	evcast_config_free(f->d.cfg);
	free(f);
	return 0;
}

/* Loads a config whose metrics.conf holds params (NULL: no block). */
static int load(fx_t *f, const char *params)
{
	char xml[2048], err[256] = "";
	snprintf(xml, sizeof(xml),
		 "<evcast>\n"
		 "<configuration name=\"event_multicast.conf\"><settings>\n"
		 "<param name=\"address\" value=\"127.0.0.1\"/><param name=\"port\" value=\"4242\"/>\n"
		 "<param name=\"node-name\" value=\"n&quot;1\"/>\n"
		 "</settings></configuration>\n"
		 "%s%s%s"
		 "</evcast>\n",
		 params ? "<configuration name=\"metrics.conf\"><settings>\n" : "", params ? params : "",
		 params ? "</settings></configuration>\n" : "");
	evcast_config_free(f->d.cfg);
	f->d.cfg = NULL;
	return evcast_config_parse(xml, strlen(xml), "test.xml", NULL, NULL, &f->d.cfg, err, sizeof(err));
}

/* Starts the endpoint on a free loopback port (a few tries). */
static void start_on_loopback(fx_t *f, const char *extra)
{
	for (int i = 0; i < 20; i++) {
		char params[512];
		f->port = 20000 + (int)((unsigned)rand() % 40000u);
		snprintf(params, sizeof(params),
			 "<param name=\"enabled\" value=\"yes\"/><param name=\"listen-port\" value=\"%d\"/>%s\n", f->port,
			 extra ? extra : "");
		assert_int_equal(load(f, params), 0);
		int rc = evcd_metrics_start(&f->d);
		if (rc == 0)
			return;
		assert_int_equal(rc, EVCAST_EIO); /* port taken: the handle closes, try another */
		uv_run(&f->loop, UV_RUN_DEFAULT);
		assert_null(f->d.metrics);
	}
	fail_msg("no free loopback port");
}

/* ---------------------------------------------------------- HTTP client */

typedef struct client {
	uv_tcp_t t;
	uv_connect_t cr;
	uv_write_t wr;
	uv_timer_t guard;
	const char *req;
	size_t reqlen;
	char resp[1 << 20];
	size_t n;
	int closed;
} client_t;

static void c_closed(uv_handle_t *h) { ((client_t *)h->data)->closed++; }

static void c_finish(client_t *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->t)) {
		uv_close((uv_handle_t *)&c->t, c_closed);
		uv_close((uv_handle_t *)&c->guard, c_closed);
	}
}

static void c_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	client_t *c = h->data;
	(void)hint;
	*b = uv_buf_init(c->resp + c->n, (unsigned)(sizeof(c->resp) - 1 - c->n));
}

static void c_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	client_t *c = s->data;
	(void)b;
	if (nread < 0) {
		c_finish(c);
		return;
	}
	c->n += (size_t)nread;
	c->resp[c->n] = '\0';
}

static void c_written(uv_write_t *w, int status) { (void)w; (void)status; }

static void c_connected(uv_connect_t *r, int status)
{
	client_t *c = r->data;
	if (status < 0) {
		c_finish(c);
		return;
	}
	uv_buf_t b = uv_buf_init((char *)c->req, (unsigned)c->reqlen);
	uv_write(&c->wr, (uv_stream_t *)&c->t, &b, 1, c_written);
	uv_read_start((uv_stream_t *)&c->t, c_alloc, c_read);
}

static void c_guard(uv_timer_t *t) { c_finish(t->data); }

/* One request; returns the whole response (until the server closes). */
static client_t *http(fx_t *f, const char *req, size_t len)
{
	client_t *c = calloc(1, sizeof(*c));
	struct sockaddr_in a;
	c->req = req;
	c->reqlen = len;
	uv_ip4_addr("127.0.0.1", f->port, &a);
	uv_tcp_init(&f->loop, &c->t);
	uv_timer_init(&f->loop, &c->guard);
	c->t.data = c->guard.data = c->cr.data = c->wr.data = c;
	uv_timer_start(&c->guard, c_guard, 5000, 0);
	assert_int_equal(uv_tcp_connect(&c->cr, &c->t, (const struct sockaddr *)&a, c_connected), 0);
	for (int i = 0; i < 100000 && c->closed < 2; i++)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_int_equal(c->closed, 2);
	return c;
}

static client_t *get(fx_t *f, const char *path)
{
	static char req[256];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
	return http(f, req, (size_t)n);
}

/* ------------------------------------------------------------------ tests */

static void test_disabled_by_default(void **state)
{
	fx_t *f = *state;
	assert_int_equal(load(f, NULL), 0);
	assert_int_equal(evcd_metrics_start(&f->d), 0);
	assert_null(f->d.metrics);
	assert_int_equal(load(f, "<param name=\"enabled\" value=\"no\"/><param name=\"listen-port\" value=\"1\"/>"), 0);
	assert_int_equal(evcd_metrics_start(&f->d), 0);
	assert_null(f->d.metrics);
	evcd_metrics_stop(&f->d); /* not started: a no-op */
}

static void test_bad_values_name_param_and_line(void **state)
{
	static const struct {
		const char *param, *want;
	} cases[] = {
		{"<param name=\"listen-port\" value=\"70000\"/>", "test.xml:7: metrics.conf: invalid value \"70000\" for listen-port"},
		{"<param name=\"listen-port\" value=\"0\"/>", "invalid value \"0\" for listen-port"},
		{"<param name=\"listen-port\" value=\"80x\"/>", "invalid value \"80x\" for listen-port"},
		{"<param name=\"enabled\" value=\"maybe\"/>", "invalid value \"maybe\" for enabled"},
		{"<param name=\"allow-remote\" value=\"2\"/>", "invalid value \"2\" for allow-remote"},
	};
	fx_t *f = *state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char p[256];
		g_log[0] = '\0';
		snprintf(p, sizeof(p), "%s<param name=\"enabled\" value=\"yes\"/>", cases[i].param);
		assert_int_equal(load(f, p), 0);
		assert_int_equal(evcd_metrics_start(&f->d), EVCAST_EINVAL);
		assert_null(f->d.metrics);
		if (!strstr(g_log, cases[i].want))
			fail_msg("expected \"%s\" in the log, got: %s", cases[i].want, g_log);
	}
	g_log[0] = '\0';
	assert_int_equal(load(f, "<param name=\"enabled\" value=\"yes\"/><param name=\"listen-ip\" value=\"localhost\"/>"), 0);
	assert_int_equal(evcd_metrics_start(&f->d), EVCAST_EINVAL);
	assert_non_null(strstr(g_log, "listen-ip \"localhost\" is not an IPv4 or IPv6 address"));
	/* unknown params are warned about, not fatal */
	g_log[0] = '\0';
	assert_int_equal(load(f, "<param name=\"colour\" value=\"blue\"/>"), 0);
	assert_int_equal(evcd_metrics_start(&f->d), 0);
	assert_non_null(strstr(g_log, "test.xml:7: metrics.conf: unknown param \"colour\" ignored"));
}

static void test_non_loopback_needs_allow_remote(void **state)
{
	fx_t *f = *state;
	assert_int_equal(load(f, "<param name=\"enabled\" value=\"yes\"/><param name=\"listen-ip\" value=\"10.1.2.3\"/>"),
			 0);
	assert_int_equal(evcd_metrics_start(&f->d), EVCAST_EINVAL);
	assert_non_null(strstr(g_log, "listen-ip 10.1.2.3 is not a loopback address; set allow-remote"));
	assert_null(f->d.metrics);
	/* IPv6 loopback is loopback; an allowed remote address that is not ours
	 * fails to bind (nothing is sent) and the handle closes cleanly */
	assert_int_equal(load(f, "<param name=\"enabled\" value=\"yes\"/><param name=\"listen-ip\" value=\"10.1.2.3\"/>"
				 "<param name=\"allow-remote\" value=\"yes\"/>"),
			 0);
	assert_int_equal(evcd_metrics_start(&f->d), EVCAST_EIO);
	assert_non_null(strstr(g_log, "metrics: cannot listen on 10.1.2.3:9464"));
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_null(f->d.metrics);
}

/* evcd_metrics_check: what the start refuses, refused the same way, with
 * nothing opened (the loop holds no handle afterwards). */
static void test_check_validates_without_listening(void **state)
{
	fx_t *f = *state;
	assert_int_equal(load(f, "<param name=\"enabled\" value=\"yes\"/><param name=\"listen-port\" value=\"70000\"/>"), 0);
	assert_int_equal(evcd_metrics_check(&f->d), EVCAST_EINVAL);
	assert_non_null(strstr(g_log, "test.xml:7: metrics.conf: invalid value \"70000\" for listen-port"));
	g_log[0] = '\0';
	assert_int_equal(load(f, "<param name=\"enabled\" value=\"yes\"/><param name=\"listen-ip\" value=\"10.1.2.3\"/>"),
			 0);
	assert_int_equal(evcd_metrics_check(&f->d), EVCAST_EINVAL);
	assert_non_null(strstr(g_log, "test.xml:7: metrics.conf: listen-ip 10.1.2.3 is not a loopback address"));
	g_log[0] = '\0';
	assert_int_equal(load(f, "<param name=\"enabled\" value=\"yes\"/><param name=\"listen-ip\" value=\"localhost\"/>"),
			 0);
	assert_int_equal(evcd_metrics_check(&f->d), EVCAST_EINVAL);
	assert_non_null(strstr(g_log, "test.xml:7: metrics.conf: listen-ip \"localhost\" is not an IPv4 or IPv6 address"));
	/* disabled: the address is not looked at, as the start never did */
	assert_int_equal(load(f, "<param name=\"listen-ip\" value=\"localhost\"/>"), 0);
	assert_int_equal(evcd_metrics_check(&f->d), 0);
	/* valid and enabled: accepted, and still nothing listens */
	g_log[0] = '\0';
	assert_int_equal(load(f, "<param name=\"enabled\" value=\"yes\"/><param name=\"listen-port\" value=\"9464\"/>"), 0);
	assert_int_equal(evcd_metrics_check(&f->d), 0);
	assert_string_equal(g_log, "");
	assert_null(f->d.metrics);
	assert_int_equal(uv_loop_alive(&f->loop), 0);
}

static void test_label_escaping(void **state)
{
	(void)state;
	sbuf_t b = {0};
	/* the value is first made safe text (evcast_escape_text: a peer name from
	 * the network), then escaped for the text format: the label reads
	 * a"b\\c\nd, as the log line shows that name */
	sb_label(&b, "a\"b\\c\nd");
	assert_false(b.failed);
	assert_string_equal(b.p, "a\\\"b\\\\\\\\c\\\\nd");
	evc__free(b.p);
	/* an ESC sequence, a CR and bytes that are not UTF-8 (a Prometheus parser
	 * rejects those) become printable escapes */
	memset(&b, 0, sizeof(b));
	sb_label(&b, "x\x1b[2J\r\xff");
	assert_false(b.failed);
	assert_string_equal(b.p, "x\\\\x1b[2J\\\\r\\\\xff");
	evc__free(b.p);
	/* a very long value is cut, never overflows, never ends in half an escape */
	char longv[2000];
	memset(longv, '"', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	memset(&b, 0, sizeof(b));
	sb_label(&b, longv);
	assert_true(b.n < 512);
	assert_memory_equal(b.p + b.n - 5, "\\\"...", 5); /* a whole escape, then the cut's "..." */
	evc__free(b.p);
}

/* The Lua families from evcd_lua_json: totals, per script and per queue,
 * labels escaped, queues told apart by id. */
static void test_lua_families(void **state)
{
	fx_t *f = *state;
	sbuf_t b = {0};
	g_lua_json = "{\"scripts\":2,\"running\":1,\"restarts\":3,\"consumers\":2,\"events_queued\":5,"
		     "\"events_delivered\":40,\"events_dropped\":15,\"fired\":9,\"fires_dropped\":1,\"api_calls\":4,"
		     "\"cpu_limited\":6,\"cpu_limit_ms\":5000,"
		     "\"per_script\":[{\"script\":\"a\\\"q.lua\",\"running\":true,\"index\":1,\"runs\":1,"
		     "\"failures\":0,\"events_delivered\":40,\"events_dropped\":15,\"cpu_limited\":6,\"sandbox\":true},"
		     "{\"script\":\"b.lua\",\"running\":false,\"index\":2,\"runs\":4,\"failures\":3,"
		     "\"events_delivered\":0,\"events_dropped\":0}],"
		     "\"queues\":[{\"consumer\":\"a\\\"q.lua CUSTOM x::y\",\"script\":\"a\\\"q.lua\",\"id\":7,"
		     "\"queued\":5,\"capacity\":5,\"delivered\":20,\"dropped\":15}]}";
	lua_metrics(&f->d, &b);
	g_lua_json = NULL;
	assert_false(b.failed);
	assert_non_null(b.p);
	const char *want[] = {
		"# TYPE evcast_lua_events_dropped_total counter\nevcast_lua_events_dropped_total 15\n",
		"evcast_lua_scripts 2\n",
		"evcast_lua_fires_dropped_total 1\n",
		"evcast_lua_script_running{script=\"a\\\"q.lua\",index=\"1\"} 1\n",
		"evcast_lua_script_running{script=\"b.lua\",index=\"2\"} 0\n",
		"evcast_lua_script_failures_total{script=\"b.lua\",index=\"2\"} 3\n",
		"evcast_lua_script_events_dropped_total{script=\"a\\\"q.lua\",index=\"1\"} 15\n",
		"evcast_lua_queue_dropped_total{script=\"a\\\"q.lua\",consumer=\"a\\\"q.lua CUSTOM x::y\",id=\"7\"} 15\n",
		"evcast_lua_queue_capacity{script=\"a\\\"q.lua\",consumer=\"a\\\"q.lua CUSTOM x::y\",id=\"7\"} 5\n",
		/* sandbox and CPU limit (issue 13) */
		"# TYPE evcast_lua_cpu_limited_total counter\nevcast_lua_cpu_limited_total 6\n",
		"evcast_lua_cpu_limit_ms 5000\n",
		"evcast_lua_script_cpu_limited_total{script=\"a\\\"q.lua\",index=\"1\"} 6\n",
		"evcast_lua_script_sandboxed{script=\"a\\\"q.lua\",index=\"1\"} 1\n",
		"evcast_lua_script_sandboxed{script=\"b.lua\",index=\"2\"} 0\n",
	};
	for (size_t i = 0; i < EVC_ARRAY_SIZE(want); i++)
		if (!strstr(b.p, want[i]))
			fail_msg("missing %s in:\n%s", want[i], b.p);
	evc__free(b.p);
	/* no module (evcd_lua_json NULL): nothing at all */
	memset(&b, 0, sizeof(b));
	lua_metrics(&f->d, &b);
	assert_null(b.p);
}

/* The registration store's families (store): every field of evcd_reg_store_json
 * with its help text, and the db_open gauge from db_state. */
static void test_store_families(void **state)
{
	fx_t *f = *state;
	sbuf_t b = {0};
	g_store_json = "{\"live\":12,\"tombstones\":3,\"db_errors\":4,\"db_dropped\":0,\"db_pending\":7,"
		       "\"db_state\":\"failed\",\"db_quarantined\":1,\"db_fallbacks\":2}";
	store_metrics(&f->d, &b);
	assert_false(b.failed);
	assert_non_null(b.p);
	const char *want[] = {
		"# TYPE evcast_registrations_live gauge\nevcast_registrations_live 12\n",
		"evcast_registrations_tombstones 3\n",
		"evcast_registrations_db_pending 7\n",
		"# TYPE evcast_registrations_db_errors_total counter\nevcast_registrations_db_errors_total 4\n",
		"evcast_registrations_db_dropped_total 0\n",
		"# HELP evcast_registrations_db_quarantined_total Registration database files moved aside",
		"evcast_registrations_db_quarantined_total 1\n",
		"evcast_registrations_db_fallbacks_total 2\n",
		"evcast_registrations_db_open 0\n",
	};
	for (size_t i = 0; i < EVC_ARRAY_SIZE(want); i++)
		if (!strstr(b.p, want[i]))
			fail_msg("missing %s in:\n%s", want[i], b.p);
	evc__free(b.p);
	g_store_json = "{\"db_state\":\"open\"}";
	memset(&b, 0, sizeof(b));
	store_metrics(&f->d, &b);
	g_store_json = NULL;
	assert_non_null(b.p);
	assert_non_null(strstr(b.p, "evcast_registrations_db_open 1\n"));
	evc__free(b.p);
	/* no store: nothing at all */
	memset(&b, 0, sizeof(b));
	store_metrics(&f->d, &b);
	assert_null(b.p);
}

/* Splits an HTTP response; checks Content-Length against the body. */
static const char *body_of(const client_t *c, int want_code)
{
	char status[64];
	snprintf(status, sizeof(status), "HTTP/1.1 %d ", want_code);
	if (strncmp(c->resp, status, strlen(status)) != 0)
		fail_msg("expected %s, got: %.200s", status, c->resp);
	const char *body = strstr(c->resp, "\r\n\r\n");
	assert_non_null(body);
	body += 4;
	const char *cl = strstr(c->resp, "Content-Length: ");
	assert_non_null(cl);
	assert_int_equal(strtoul(cl + 16, NULL, 10), c->n - (size_t)(body - c->resp));
	assert_non_null(strstr(c->resp, "Connection: close\r\n"));
	return body;
}

static void test_scrape_has_every_counter(void **state)
{
	fx_t *f = *state;
	start_on_loopback(f, NULL);
	assert_int_equal(evcast_node_new(&f->loop, f->d.cfg, NULL, NULL, &f->d.node), 0);
	assert_int_equal(evcast_node_fire(f->d.node, evcast_event_new_named("CUSTOM", "x::y")), 0);
	/* two events from peers, 100 us and 300 us late, one stamped in the future */
	evcd_rxdelay_add(&f->d.rxdelay, 1000000, 1000100);
	evcd_rxdelay_add(&f->d.rxdelay, 1000000, 1000300);
	evcd_rxdelay_add(&f->d.rxdelay, 2000000, 1000000);
	f->d.config_errors = 3; /* reloads refused (main.c) */
	client_t *c = get(f, "/metrics?x=1");
	const char *body = body_of(c, 200);
	assert_non_null(strstr(c->resp, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	assert_non_null(strstr(body, "evcast_build_info{version=\"" EVCAST_VERSION "\",node=\"n\\\"1\"} 1\n"));
	assert_non_null(strstr(body, "evcast_start_time_seconds 1700000000.123\n"));
	assert_non_null(strstr(body, "evcast_control_events_dropped_total 7\n"));
	assert_non_null(strstr(body, "evcast_peers{state=\"up\"} 0\n"));
	assert_non_null(strstr(body, "# TYPE evcast_rx_delay_seconds summary\n"));
	assert_non_null(strstr(body, "evcast_rx_delay_seconds{quantile=\"0.5\"} 0.000103\n")); /* its bucket's upper edge */
	assert_non_null(strstr(body, "evcast_rx_delay_seconds{quantile=\"0.99\"} 0.000300\n"));
	assert_non_null(strstr(body, "evcast_rx_delay_seconds_sum 0.000400\nevcast_rx_delay_seconds_count 2\n"));
	assert_non_null(strstr(body, "evcast_rx_delay_future_total 1\n"));
	assert_non_null(strstr(body, "# TYPE evcast_config_errors_total counter\nevcast_config_errors_total 3\n"));
	/* every field of the stats JSON, with its value and its family's TYPE */
	evcast_stats_t st;
	evcast_node_stats(f->d.node, &st);
	assert_int_equal(st.local_events, 1);
	char *json = evcast_stats_to_json(&st);
	cJSON *o = cJSON_Parse(json);
	int n = 0;
	for (cJSON *it = o->child; it; it = it->next, n++) {
		char line[200], type[200];
		if (cJSON_IsObject(it)) { /* breakdown: evcast_<key>_by_reason_total{reason="..."} */
			snprintf(type, sizeof(type), "# TYPE evcast_%s_by_reason_total counter\n", it->string);
			assert_non_null(strstr(body, type));
			for (cJSON *r = it->child; r; r = r->next) {
				snprintf(line, sizeof(line), "\nevcast_%s_by_reason_total{reason=\"%s\"} %.0f\n", it->string,
					 r->string, r->valuedouble);
				if (!strstr(body, line))
					fail_msg("missing %s", line + 1);
			}
			continue;
		}
		if (!strcmp(it->string, "fc_receivers")) { /* a level: a gauge, no _total */
			snprintf(line, sizeof(line), "\nevcast_fc_receivers %.0f\n", it->valuedouble);
			if (!strstr(body, line) || !strstr(body, "# TYPE evcast_fc_receivers gauge\n"))
				fail_msg("missing %s in:\n%s", line + 1, body);
			continue;
		}
		size_t nl = strlen(it->string);
		int base = (int)(nl > 6 && !strcmp(it->string + nl - 6, "_total") ? nl - 6 : nl);
		snprintf(line, sizeof(line), "\nevcast_%.*s_total %.0f\n", base, it->string, it->valuedouble);
		snprintf(type, sizeof(type), "# TYPE evcast_%.*s_total counter\n", base, it->string);
		if (!strstr(body, line) || !strstr(body, type))
			fail_msg("missing %s in:\n%s", line + 1, body);
	}
	assert_true(n >= 25);
	cJSON_Delete(o);
	evcast_free(json);
	free(c);
	/* the endpoint counts its own requests */
	c = get(f, "/metrics");
	assert_non_null(strstr(body_of(c, 200), "evcast_metrics_requests_total 2\n"));
	free(c);
}

static void test_http_errors(void **state)
{
	fx_t *f = *state;
	start_on_loopback(f, NULL);
	client_t *c = get(f, "/other");
	body_of(c, 404);
	free(c);
	static const char post[] = "POST /metrics HTTP/1.1\r\nContent-Length: 1\r\n\r\nx";
	c = http(f, post, sizeof(post) - 1);
	body_of(c, 405);
	assert_non_null(strstr(c->resp, "Allow: GET\r\n"));
	free(c);
	static const char junk[] = "garbage\r\n\r\n";
	c = http(f, junk, sizeof(junk) - 1);
	body_of(c, 400);
	free(c);
	static char big[6000];
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	memset(big + 26, 'a', sizeof(big) - 26);
	c = http(f, big, sizeof(big));
	body_of(c, 431);
	free(c);
	static const char lf[] = "GET /metrics HTTP/1.0\n\n"; /* bare LF is accepted */
	c = http(f, lf, sizeof(lf) - 1);
	body_of(c, 200);
	free(c);
	c = get(f, "/metrics");
	assert_non_null(strstr(body_of(c, 200), "evcast_metrics_bad_requests_total 4\n"));
	free(c);
}

/* Every allocation of a scrape fails in turn: a 200, a 500 or a closed
 * connection each time; the endpoint keeps serving; nothing leaks (ASan). */
static void test_allocation_failures(void **state)
{
	fx_t *f = *state;
	start_on_loopback(f, NULL);
	assert_int_equal(evcast_node_new(&f->loop, f->d.cfg, NULL, NULL, &f->d.node), 0);
	int errors = 0, closed = 0;
	long k;
	for (k = 1; k <= 5000; k++) {
		g_fail_at = k;
		client_t *c = get(f, "/metrics");
		bool injected = g_fail_at == 0;
		g_fail_at = 0;
		if (!injected) { /* the scrape needs fewer than k allocations: done */
			if (c->n == 0)
				fail_msg("k=%ld: empty answer without an injected failure (errors %d closed %d)", k, errors, closed);
			body_of(c, 200);
			free(c);
			break;
		}
		if (c->n == 0)
			closed++;
		else if (strncmp(c->resp, "HTTP/1.1 500 ", 13) == 0)
			errors++;
		else if (strncmp(c->resp, "HTTP/1.1 200 ", 13) != 0) /* a failure the path survived */
			fail_msg("allocation %ld failing gave: %.100s", k, c->resp);
		free(c);
	}
	assert_true(k > 1 && k <= 5000);
	assert_true(errors > 0); /* the exposition's own allocations fail as 500s */
	client_t *c = get(f, "/metrics");
	body_of(c, 200);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_disabled_by_default, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_values_name_param_and_line, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_non_loopback_needs_allow_remote, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_check_validates_without_listening, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_label_escaping, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_lua_families, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_store_families, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_scrape_has_every_counter, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_http_errors, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_allocation_failures, fx_setup, fx_teardown),
	};
	evcast_replace_allocator(t_malloc, t_realloc, t_calloc, free);
	srand((unsigned)getpid());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
