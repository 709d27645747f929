/*
 * lua_sandbox.c -- what a sandboxed script (lua.conf `sandbox`) may not do.
 *
 * Applied once per run on the script's own thread, after the standard
 * libraries and the `freeswitch` table are open and before the chunk is
 * loaded. Removed (nil): os.execute, os.remove, os.rename, os.tmpname,
 * os.getenv, os.setlocale (process-wide), io.popen, io.tmpfile, io.output,
 * package.loadlib, loadfile, dofile, string.dump, the debug library (it could
 * remove the CPU-limit hook or reach any upvalue). Restricted: io.open opens
 * for reading only; load accepts text chunks only (crafted bytecode can crash
 * the VM); require's C searchers load only the modules named in
 * sandbox-allow-modules. os.exit is an error for every script (lua_api.c).
 * The list is the contract of docs/LUA.md "Sandbox"; test_lua_sandbox.c
 * checks each entry. Nothing here touches the daemon's state.
 */
#include <errno.h>
#include <string.h>
#include <lauxlib.h>
#include <lualib.h>
#include "lua_int.h"

/* lib.field = nil, for every field listed. */
static void remove_fields(lua_State *L, const char *lib, const char *const *fields)
{
	if (lua_getglobal(L, lib) == LUA_TTABLE) {
		for (; *fields; fields++) {
			lua_pushnil(L);
			lua_setfield(L, -2, *fields);
		}
	}
	lua_pop(L, 1);
}

/* io.open(name [, mode]): read modes only. */
static int sb_io_open(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	const char *mode = luaL_optstring(L, 2, "r");
	if (strpbrk(mode, "wa+")) {
		luaL_pushfail(L);
		lua_pushfstring(L, "%s: io.open mode \"%s\" refused: a sandboxed script opens files read-only", name,
				mode);
		lua_pushinteger(L, EACCES);
		return 3;
	}
	int n = lua_gettop(L);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, n, LUA_MULTRET);
	return lua_gettop(L);
}

/* load(chunk [, name [, mode [, env]]]) with mode forced to "t". An absent
 * env must stay absent (nil would be an environment). */
static int sb_load(lua_State *L)
{
	int n = lua_gettop(L);
	if (n < 1)
		luaL_checkany(L, 1);
	while (lua_gettop(L) < 2)
		lua_pushnil(L);
	lua_pushliteral(L, "t");
	if (n >= 3)
		lua_replace(L, 3);
	else
		n = 3;
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, n, LUA_MULTRET);
	return lua_gettop(L);
}

/* True when the ";"-joined list holds name. */
static bool allowed(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *q = list; q && *q; q += strcspn(q, ";"), q += *q == ';') {
		size_t k = strcspn(q, ";");
		if (k == n && strncmp(q, name, n) == 0)
			return true;
	}
	return false;
}

/* A C searcher of package.searchers, only for the allowed module names. */
static int sb_c_searcher(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	if (!allowed(lua_tostring(L, lua_upvalueindex(2)), name)) {
		lua_pushfstring(L, "no C module '%s' (sandboxed script: not in sandbox-allow-modules)", name);
		return 1;
	}
	int n = lua_gettop(L);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, n, LUA_MULTRET);
	return lua_gettop(L);
}

/* package.searchers[3] and [4] (C library, all-in-one C root) filtered. */
static void filter_c_searchers(lua_State *L, const char *allow)
{
	if (lua_getglobal(L, "package") == LUA_TTABLE && lua_getfield(L, -1, "searchers") == LUA_TTABLE) {
		for (lua_Integer i = 3; i <= 4; i++) {
			if (lua_rawgeti(L, -1, i) != LUA_TFUNCTION) {
				lua_pop(L, 1);
				continue;
			}
			lua_pushstring(L, allow ? allow : "");
			lua_pushcclosure(L, sb_c_searcher, 2);
			lua_rawseti(L, -2, i);
		}
	}
	lua_pop(L, 2);
}

/* global[field] = closure(fn, upvalue: the current global[field]) */
static void wrap(lua_State *L, const char *lib, const char *field, lua_CFunction fn)
{
	if (lib && lua_getglobal(L, lib) != LUA_TTABLE) {
		lua_pop(L, 1);
		return;
	}
	if (lib)
		lua_getfield(L, -1, field);
	else
		lua_getglobal(L, field);
	if (lua_type(L, -1) != LUA_TFUNCTION) {
		lua_pop(L, lib ? 2 : 1);
		return;
	}
	lua_pushcclosure(L, fn, 1);
	if (lib) {
		lua_setfield(L, -2, field);
		lua_pop(L, 1);
	} else {
		lua_setglobal(L, field);
	}
}

void evcd_lua_sandbox_open(lua_State *L, evcd_lua_script_t *s)
{
	static const char *const os_fields[] = {"execute", "remove", "rename", "tmpname", "getenv", "setlocale", NULL};
	static const char *const io_fields[] = {"popen", "tmpfile", "output", NULL};
	static const char *const pkg_fields[] = {"loadlib", NULL};
	static const char *const str_fields[] = {"dump", NULL};
	remove_fields(L, "os", os_fields);
	remove_fields(L, "io", io_fields);
	remove_fields(L, "package", pkg_fields);
	remove_fields(L, "string", str_fields);
	wrap(L, "io", "open", sb_io_open);
	wrap(L, NULL, "load", sb_load);
	lua_pushnil(L);
	lua_setglobal(L, "loadfile");
	lua_pushnil(L);
	lua_setglobal(L, "dofile");
	lua_pushnil(L);
	lua_setglobal(L, "debug");
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE); /* require "debug" must not find it */
	lua_pushnil(L);
	lua_setfield(L, -2, "debug");
	lua_pop(L, 1);
	filter_c_searchers(L, s->l->sandbox_modules);
}
