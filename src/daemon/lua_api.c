/*
 * lua_api.c -- the `freeswitch` table a script sees (spec/lua-api.md), so that
 * scripts written for FreeSWITCH's mod_lua run unchanged.
 *
 * Runs on script threads only, against that script's own lua_State; every
 * crossing to the loop goes through lua_queue.c. Userdata: evcast.Event (owns
 * one evcast_event_t, freed by __gc), evcast.EventConsumer (owns one consumer
 * queue, freed by __gc), evcast.API. Also: print and consoleLog into the
 * daemon log, os.exit disabled, argv, package paths from lua.conf, and the Lua
 * 5.1 habits old scripts rely on (global `luasql` after require, unpack).
 * Sections: helpers, Event, EventConsumer, API, functions, open.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <lauxlib.h>
#include <lualib.h>
#include "lua_int.h"

#define EVENT_MT "evcast.Event"
#define CONSUMER_MT "evcast.EventConsumer"
#define API_MT "evcast.API"
#define MAX_LOG_LINES 64

typedef struct lua_event_ud {
	evcast_event_t *ev;
} lua_event_ud_t;

typedef struct lua_consumer_ud {
	evcd_lua_consumer_t *c;
} lua_consumer_ud_t;

/* ------------------------------------------------------------------ helpers */

evcd_lua_script_t *evcd_lua_script_of(lua_State *L) { return *(evcd_lua_script_t **)lua_getextraspace(L); }

/* Raised when the module stops while the script waits: unwinds the script. */
static int stopping_error(lua_State *L) { return luaL_error(L, "evcast is stopping"); }

/* Logs msg line by line (bounded), each with the script prefix. */
static void log_lines(evcd_lua_script_t *s, int level, const char *msg, size_t len)
{
	size_t lines = 0, i = 0;
	while (i < len) {
		size_t n = 0;
		while (i + n < len && msg[i + n] != '\n')
			n++;
		size_t m = n;
		while (m > 0 && (msg[i + m - 1] == '\r' || msg[i + m - 1] == ' ' || msg[i + m - 1] == '\t'))
			m--;
		if (m > 0) {
			if (lines == MAX_LOG_LINES) {
				evcd_logf(s->l->d, level, "lua[%s]: ... (message truncated at %d lines)", s->name,
					  MAX_LOG_LINES);
				return;
			}
			evcd_logf(s->l->d, level, "lua[%s]: %.*s", s->name, (int)m, msg + i);
			lines++;
		}
		i += n + 1;
	}
}

/* FreeSWITCH level names; an unknown name logs at debug, as FreeSWITCH does. */
static int level_of(const char *name)
{
	if (!name)
		return EVCAST_LOG_DEBUG;
	if (strcasecmp(name, "console") == 0)
		return EVCAST_LOG_NOTICE;
	if (strcasecmp(name, "alert") == 0 || strcasecmp(name, "emerg") == 0)
		return EVCAST_LOG_ERR;
	int lv = evcast_log_level_parse(name);
	return lv < 0 ? EVCAST_LOG_DEBUG : lv;
}

/* ------------------------------------------------------------------- Event */

static lua_event_ud_t *push_event_ud(lua_State *L)
{
	lua_event_ud_t *u = lua_newuserdatauv(L, sizeof(*u), 0);
	u->ev = NULL;
	luaL_setmetatable(L, EVENT_MT);
	return u;
}

static evcast_event_t *check_event(lua_State *L)
{
	lua_event_ud_t *u = luaL_checkudata(L, 1, EVENT_MT);
	if (!u->ev)
		luaL_error(L, "event has no data");
	return u->ev;
}

/* freeswitch.Event(name [, subclass]) or freeswitch.Event("json", text). */
static int l_event_new(lua_State *L)
{
	size_t n;
	const char *name = luaL_checklstring(L, 1, &n);
	const char *sub = luaL_optstring(L, 2, NULL);
	if (sub && !sub[0])
		sub = NULL;
	lua_event_ud_t *u = push_event_ud(L);
	if (strcasecmp(name, "json") == 0 && sub) {
		int rc = evcast_event_from_json(sub, strlen(sub), &u->ev);
		if (rc != 0)
			return luaL_error(L, "freeswitch.Event: invalid JSON event: %s", evcast_strerror(rc));
		return 1;
	}
	char up[128];
	luaL_argcheck(L, n > 0 && n < sizeof(up), 1, "event name empty or too long");
	for (size_t i = 0; i <= n; i++) {
		unsigned char ch = (unsigned char)name[i];
		luaL_argcheck(L, i == n || ch > ' ', 1, "event name contains a space or control character");
		up[i] = (char)toupper(ch);
	}
	if (!(u->ev = evcast_event_new_named(up, sub)))
		return luaL_error(L, "freeswitch.Event: out of memory");
	return 1;
}

static int l_event_add_header(lua_State *L)
{
	evcast_event_t *ev = check_event(L);
	const char *name = luaL_checkstring(L, 2);
	if (lua_isnoneornil(L, 3)) { /* FreeSWITCH: a NULL value adds nothing */
		lua_pushboolean(L, 0);
		return 1;
	}
	size_t nv;
	const char *value = luaL_checklstring(L, 3, &nv);
	lua_pushboolean(L, evcast_event_add_header_n(ev, name, strlen(name), value, nv) == 0);
	return 1;
}

static int l_event_get_header(lua_State *L)
{
	const char *v = evcast_event_get_header(check_event(L), luaL_checkstring(L, 2));
	if (v)
		lua_pushstring(L, v);
	else
		lua_pushnil(L);
	return 1;
}

static int l_event_del_header(lua_State *L)
{
	lua_pushboolean(L, evcast_event_del_header(check_event(L), luaL_checkstring(L, 2)) > 0);
	return 1;
}

static int l_event_add_body(lua_State *L)
{
	evcast_event_t *ev = check_event(L);
	size_t n;
	const char *body = luaL_checklstring(L, 2, &n);
	lua_pushboolean(L, evcast_event_set_body(ev, body, n) == 0);
	return 1;
}

static int l_event_get_body(lua_State *L)
{
	size_t n;
	const char *b = evcast_event_get_body(check_event(L), &n);
	if (b)
		lua_pushlstring(L, b, n);
	else
		lua_pushnil(L);
	return 1;
}

static int l_event_get_type(lua_State *L)
{
	const char *name = evcast_event_name(check_event(L));
	lua_pushstring(L, name ? name : "invalid");
	return 1;
}

/* serialize([fmt]): "plain" (default, also for unknown formats, as FreeSWITCH), "json", "xml". */
static int l_event_serialize(lua_State *L)
{
	evcast_event_t *ev = check_event(L);
	const char *fmt = luaL_optstring(L, 2, "plain");
	char *text;
	if (strcasecmp(fmt, "json") == 0)
		text = evcast_event_to_json(ev);
	else if (strcasecmp(fmt, "xml") == 0)
		text = evcast_event_to_xml(ev);
	else
		text = evcast_event_to_plain(ev, NULL);
	if (!text)
		return luaL_error(L, "serialize: out of memory");
	lua_pushstring(L, text);
	evcast_free(text);
	return 1;
}

/* fire(): a copy goes to the loop (the script keeps its event, as in FreeSWITCH). */
static int l_event_fire(lua_State *L)
{
	evcast_event_t *copy = evcast_event_dup(check_event(L));
	if (!copy)
		return luaL_error(L, "fire: out of memory");
	int rc = evcd_lua_fire(evcd_lua_script_of(L), copy);
	if (rc == EVCAST_ESTATE)
		return stopping_error(L);
	lua_pushboolean(L, rc == 0);
	return 1;
}

static int l_event_tostring(lua_State *L)
{
	lua_event_ud_t *u = luaL_checkudata(L, 1, EVENT_MT);
	char *text = u->ev ? evcast_event_to_plain(u->ev, NULL) : NULL;
	lua_pushstring(L, text ? text : "(empty event)");
	evcast_free(text);
	return 1;
}

static int l_event_gc(lua_State *L)
{
	lua_event_ud_t *u = luaL_checkudata(L, 1, EVENT_MT);
	evcast_event_free(u->ev);
	u->ev = NULL;
	return 0;
}

static const luaL_Reg event_methods[] = {
	{"addHeader", l_event_add_header}, {"getHeader", l_event_get_header},
	{"delHeader", l_event_del_header}, {"addBody", l_event_add_body},
	{"getBody", l_event_get_body},     {"getType", l_event_get_type},
	{"serialize", l_event_serialize},  {"fire", l_event_fire},
	{NULL, NULL},
};

/* ----------------------------------------------------------- EventConsumer */

static evcd_lua_consumer_t *check_consumer(lua_State *L)
{
	lua_consumer_ud_t *u = luaL_checkudata(L, 1, CONSUMER_MT);
	if (!u->c)
		luaL_error(L, "EventConsumer is closed");
	return u->c;
}

static bool bind_or_log(lua_State *L, evcd_lua_consumer_t *c, const char *name, const char *sub)
{
	int rc = evcd_lua_consumer_bind(c, name, sub);
	if (rc != 0) { /* FreeSWITCH logs and carries on with a consumer that gets nothing */
		luaL_where(L, 1); /* "file.lua:12: " of the calling code */
		evcd_logf(c->s->l->d, EVCAST_LOG_ERR, "lua[%s]: %scannot bind to %s%s%s: %s", c->s->name,
			  lua_tostring(L, -1), name, sub ? " " : "", sub ? sub : "", evcast_strerror(rc));
		lua_pop(L, 1);
	}
	return rc == 0;
}

/* freeswitch.EventConsumer([name [, subclass [, queue_len]]]) */
static int l_consumer_new(lua_State *L)
{
	evcd_lua_script_t *s = evcd_lua_script_of(L);
	const char *name = luaL_optstring(L, 1, NULL);
	const char *sub = luaL_optstring(L, 2, NULL);
	lua_Number len = luaL_optnumber(L, 3, 0);
	luaL_argcheck(L, len >= 0, 3, "queue length must not be negative");
	if (name && !name[0])
		name = NULL;
	if (sub && !sub[0])
		sub = NULL;
	lua_consumer_ud_t *u = lua_newuserdatauv(L, sizeof(*u), 0);
	u->c = NULL;
	luaL_setmetatable(L, CONSUMER_MT);
	char label[96];
	snprintf(label, sizeof(label), "%s%s%s", name ? name : "(unbound)", sub ? " " : "", sub ? sub : "");
	size_t cap = len > 1e9 ? (size_t)1e9 : (size_t)len;
	int rc = evcd_lua_consumer_new(s, cap, label, &u->c);
	if (rc == EVCAST_E2BIG) { /* maybe garbage holds the slots: collect, retry */
		lua_gc(L, LUA_GCCOLLECT);
		rc = evcd_lua_consumer_new(s, cap, label, &u->c);
	}
	if (rc == EVCAST_ESTATE)
		return stopping_error(L);
	if (rc == EVCAST_E2BIG)
		return luaL_error(L, "too many EventConsumers in this script (max-consumers %d)",
				  (int)s->l->max_consumers);
	if (rc != 0)
		return luaL_error(L, "EventConsumer: %s", evcast_strerror(rc));
	if (name)
		bind_or_log(L, u->c, name, sub);
	return 1;
}

/* pop([block [, timeout_ms]]): block may be a number (non-zero) or a boolean. */
static int l_consumer_pop(lua_State *L)
{
	evcd_lua_consumer_t *c = check_consumer(L);
	bool block = lua_isnumber(L, 2) ? lua_tonumber(L, 2) != 0 : lua_toboolean(L, 2);
	lua_Number timeout = luaL_optnumber(L, 3, 0);
	int64_t t = !block ? 0 : timeout >= 1 ? (int64_t)(timeout < 1e12 ? timeout : 1e12) : -1;
	lua_event_ud_t *u = push_event_ud(L); /* before popping: no leak if this raises */
	evcast_event_t *ev = NULL;
	int rc = evcd_lua_consumer_pop(c, t, &ev);
	if (rc == EVCAST_ESTATE)
		return stopping_error(L);
	if (t != 0 || rc == 1) /* it waited, or got work: cpu-limit-ms starts again */
		evcd_lua_cpu_yielded(evcd_lua_script_of(L));
	if (rc != 1) {
		lua_pushnil(L);
		return 1;
	}
	u->ev = ev;
	return 1;
}

static int l_consumer_bind(lua_State *L)
{
	evcd_lua_consumer_t *c = check_consumer(L);
	const char *name = luaL_checkstring(L, 2);
	const char *sub = luaL_optstring(L, 3, NULL);
	lua_pushboolean(L, bind_or_log(L, c, name, sub && sub[0] ? sub : NULL));
	return 1;
}

static int l_consumer_cleanup(lua_State *L)
{
	evcd_lua_consumer_clear(check_consumer(L));
	return 0;
}

/* stats() -> {queued=, capacity=, delivered=, dropped=} (an evcast addition). */
static int l_consumer_stats(lua_State *L)
{
	size_t queued, cap;
	uint64_t delivered, dropped;
	evcd_lua_consumer_stats(check_consumer(L), &queued, &cap, &delivered, &dropped);
	lua_createtable(L, 0, 4);
	lua_pushinteger(L, (lua_Integer)queued);
	lua_setfield(L, -2, "queued");
	lua_pushinteger(L, (lua_Integer)cap);
	lua_setfield(L, -2, "capacity");
	lua_pushinteger(L, (lua_Integer)delivered);
	lua_setfield(L, -2, "delivered");
	lua_pushinteger(L, (lua_Integer)dropped);
	lua_setfield(L, -2, "dropped");
	return 1;
}

static int l_consumer_gc(lua_State *L)
{
	lua_consumer_ud_t *u = luaL_checkudata(L, 1, CONSUMER_MT);
	evcd_lua_consumer_free(u->c);
	u->c = NULL;
	return 0;
}

static const luaL_Reg consumer_methods[] = {
	{"pop", l_consumer_pop},         {"bind", l_consumer_bind},
	{"cleanup", l_consumer_cleanup}, {"stats", l_consumer_stats},
	{NULL, NULL},
};

/* --------------------------------------------------------------------- API */

static int l_api_new(lua_State *L)
{
	lua_newuserdatauv(L, 1, 0);
	luaL_setmetatable(L, API_MT);
	return 1;
}

static int run_api(lua_State *L, const char *cmd, const char *args)
{
	char *out = NULL;
	int rc = evcd_lua_api(evcd_lua_script_of(L), cmd, args, &out);
	if (rc == EVCAST_ESTATE && !out)
		return stopping_error(L);
	evcd_lua_cpu_yielded(evcd_lua_script_of(L));
	lua_pushstring(L, out ? out : "");
	evcast_free(out);
	return 1;
}

/* api:execute(cmd [, args]) */
static int l_api_execute(lua_State *L)
{
	luaL_checkudata(L, 1, API_MT);
	const char *cmd = luaL_checkstring(L, 2);
	const char *args = luaL_optstring(L, 3, NULL);
	if (!args && strchr(cmd, ' ')) { /* "cmd args" in one string */
		size_t n = strcspn(cmd, " ");
		lua_pushlstring(L, cmd, n);
		args = cmd + n + strspn(cmd + n, " ");
		cmd = lua_tostring(L, -1);
	}
	return run_api(L, cmd, args && args[0] ? args : NULL);
}

/* api:executeString("cmd args") */
static int l_api_execute_string(lua_State *L)
{
	luaL_checkudata(L, 1, API_MT);
	lua_settop(L, 2);
	luaL_checkstring(L, 2);
	return l_api_execute(L);
}

static const luaL_Reg api_methods[] = {
	{"execute", l_api_execute},
	{"executeString", l_api_execute_string},
	{NULL, NULL},
};

/* --------------------------------------------------------------- functions */

static int l_console_log(lua_State *L)
{
	const char *level = luaL_optstring(L, 1, "debug");
	size_t n;
	const char *msg = luaL_tolstring(L, 2, &n);
	log_lines(evcd_lua_script_of(L), level_of(level), msg, n);
	return 0;
}

static int l_console_clean_log(lua_State *L)
{
	size_t n;
	const char *msg = luaL_tolstring(L, 1, &n);
	log_lines(evcd_lua_script_of(L), EVCAST_LOG_NOTICE, msg, n);
	return 0;
}

/* print(...) goes to the daemon log at notice, fields joined by tabs. */
static int l_print(lua_State *L)
{
	int n = lua_gettop(L);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addchar(&b, '\t');
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
	}
	luaL_pushresult(&b);
	size_t len;
	const char *msg = lua_tolstring(L, -1, &len);
	log_lines(evcd_lua_script_of(L), EVCAST_LOG_NOTICE, msg, len);
	return 0;
}

static int l_msleep(lua_State *L)
{
	lua_Number ms = luaL_checknumber(L, 1);
	uint64_t t = ms <= 0 ? 0 : ms > 1e12 ? (uint64_t)1e12 : (uint64_t)ms;
	if (evcd_lua_sleep(evcd_lua_script_of(L), t) != 0)
		return stopping_error(L);
	if (t > 0) /* msleep(0) does not wait: no new CPU budget */
		evcd_lua_cpu_yielded(evcd_lua_script_of(L));
	return 0;
}

static int l_get_global(lua_State *L)
{
	const char *v = evcd_lua_global(evcd_lua_script_of(L)->l, luaL_checkstring(L, 1));
	if (v)
		lua_pushstring(L, v);
	else
		lua_pushnil(L);
	return 1;
}

static int l_os_exit(lua_State *L)
{
	return luaL_error(L, "os.exit is disabled in evcast scripts (it would stop the daemon); return instead");
}

/* require, then for luasql.* also fill the global `luasql` table the way Lua
 * 5.1's luaL_register did (the seed's scripts call luasql.sqlite3()). */
static int l_require(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	bool sql = strncmp(name, "luasql.", 7) == 0;
	lua_settop(L, 1);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, 1, 2); /* module, loader data */
	if (sql && lua_istable(L, 1)) {
		if (lua_getglobal(L, "luasql") != LUA_TTABLE) {
			lua_pop(L, 1);
			lua_newtable(L);
			lua_pushvalue(L, -1);
			lua_setglobal(L, "luasql");
		}
		lua_pushnil(L);
		while (lua_next(L, 1)) { /* stack: mod, data, luasql, k, v */
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_settable(L, 3);
		}
		lua_pop(L, 1);
	}
	return 2;
}

static const luaL_Reg freeswitch_funcs[] = {
	{"Event", l_event_new},
	{"EventConsumer", l_consumer_new},
	{"API", l_api_new},
	{"consoleLog", l_console_log},
	{"consoleCleanLog", l_console_clean_log},
	{"msleep", l_msleep},
	{"getGlobalVariable", l_get_global},
	{NULL, NULL},
};

/* -------------------------------------------------------------------- open */

static void new_class(lua_State *L, const char *mt, const luaL_Reg *methods, lua_CFunction gc,
		      lua_CFunction tostring)
{
	luaL_newmetatable(L, mt);
	lua_newtable(L);
	luaL_setfuncs(L, methods, 0);
	lua_setfield(L, -2, "__index");
	if (gc) {
		lua_pushcfunction(L, gc);
		lua_setfield(L, -2, "__gc");
	}
	if (tostring) {
		lua_pushcfunction(L, tostring);
		lua_setfield(L, -2, "__tostring");
	}
	lua_pop(L, 1);
}

/* package.<field> = extra .. ";" .. package.<field> */
static void prepend_path(lua_State *L, const char *field, const char *extra)
{
	if (!extra[0])
		return;
	lua_getglobal(L, "package");
	lua_getfield(L, -1, field);
	lua_pushfstring(L, "%s;%s", extra, lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
	lua_setfield(L, -3, field);
	lua_pop(L, 2);
}

void evcd_lua_api_open(lua_State *L, evcd_lua_script_t *s)
{
	new_class(L, EVENT_MT, event_methods, l_event_gc, l_event_tostring);
	new_class(L, CONSUMER_MT, consumer_methods, l_consumer_gc, NULL);
	new_class(L, API_MT, api_methods, NULL, NULL);
	luaL_newlib(L, freeswitch_funcs);
	lua_setglobal(L, "freeswitch");

	lua_pushcfunction(L, l_print);
	lua_setglobal(L, "print");
	lua_getglobal(L, "os");
	lua_pushcfunction(L, l_os_exit);
	lua_setfield(L, -2, "exit");
	lua_pop(L, 1);
	lua_getglobal(L, "require");
	lua_pushcclosure(L, l_require, 1);
	lua_setglobal(L, "require");
	if (lua_getglobal(L, "unpack") == LUA_TNIL) { /* Lua 5.1 habit */
		lua_getglobal(L, "table");
		lua_getfield(L, -1, "unpack");
		lua_setglobal(L, "unpack");
		lua_pop(L, 1);
	}
	lua_pop(L, 1);

	lua_createtable(L, s->argc, 1); /* argv[0] = script, argv[1..] = its arguments */
	for (int i = 0; i < s->argc; i++) {
		lua_pushstring(L, s->argv[i]);
		lua_rawseti(L, -2, i);
	}
	lua_setglobal(L, "argv");
	prepend_path(L, "path", evcd_lua_package_path(s->l));
	prepend_path(L, "cpath", evcd_lua_package_cpath(s->l));
}
