/*
 * lua_stubs.h -- the counting allocator (atomic: script threads and the loop
 * allocate at once) and the daemon-log stubs (evcd_log, evcd_logf, log_has)
 * that every test of the Lua module uses (lua_fixture.h for test_lua.c and
 * test_lua_loop.c; test_lua_sandbox.c). Include after the src/daemon/lua*.c
 * sources, once per test program.
 */
#ifndef EVCAST_TEST_LUA_STUBS_H
#define EVCAST_TEST_LUA_STUBS_H

/* ---------------------------------------------------------------- allocator */

/* Counting allocator (atomic: script threads and the loop allocate at once). */
static atomic_long g_live;
static void *t_malloc(size_t n)
{
	void *p = malloc(n);
	if (p)
		atomic_fetch_add(&g_live, 1);
	return p;
}
static void *t_calloc(size_t c, size_t n)
{
	void *p = calloc(c, n);
	if (p)
		atomic_fetch_add(&g_live, 1);
	return p;
}
static void *t_realloc(void *o, size_t n)
{
	void *p = realloc(o, n);
	if (p && !o)
		atomic_fetch_add(&g_live, 1);
	return p;
}
static void t_free(void *p)
{
	if (p)
		atomic_fetch_sub(&g_live, 1);
	free(p);
}

/* ------------------------------------------------------------------ stubs */

static uv_mutex_t g_log_mu;
static char g_log[65536];

void evcd_log(void *ud, int level, const char *msg)
{
	(void)ud;
	uv_mutex_lock(&g_log_mu);
	size_t n = strlen(g_log);
	snprintf(g_log + n, sizeof(g_log) - n, "[%s] %s\n", evcast_log_level_name(level), msg);
	uv_mutex_unlock(&g_log_mu);
}

void evcd_logf(evcd_t *d, int level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	evcd_log(d, level, msg);
}

static bool log_has(const char *what)
{
	uv_mutex_lock(&g_log_mu);
	bool r = strstr(g_log, what) != NULL;
	uv_mutex_unlock(&g_log_mu);
	return r;
}

#endif
