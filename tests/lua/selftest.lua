-- selftest.lua -- exercises the freeswitch API of spec/lua-api.md from inside
-- evcastd and logs "SELFTEST PASS <n> checks" or one "SELFTEST FAIL ..." line
-- per failed check (tests/integration/it_lua.sh greps for them). Uses its own
-- CUSTOM subclasses (selftest::*), which no binding sends to the network.
local checks, failures = 0, 0

local function check(cond, what)
  checks = checks + 1
  if not cond then
    failures = failures + 1
    freeswitch.consoleLog("err", "SELFTEST FAIL " .. what)
  end
end

local function eq(got, want, what)
  check(got == want, what .. ": got " .. tostring(got) .. ", want " .. tostring(want))
end

-- Event: headers (case-insensitive lookup), body, type
local e = freeswitch.Event("CUSTOM", "selftest::ping")
eq(e:getType(), "CUSTOM", "getType")
eq(e:getHeader("Event-Subclass"), "selftest::ping", "subclass header")
eq(e:addHeader("X-Test", "hello world"), true, "addHeader returns true")
eq(e:getHeader("x-test"), "hello world", "getHeader is case-insensitive")
eq(e:getHeader("X-Absent"), nil, "getHeader of an absent header is nil")
eq(e:addHeader("X-Nil", nil), false, "addHeader with nil adds nothing")
e:addHeader("X-Gone", "1")
eq(e:delHeader("x-gone"), true, "delHeader")
eq(e:getHeader("X-Gone"), nil, "deleted header is gone")
eq(e:getBody(), nil, "no body yet")
e:addBody("line1\nline2")
eq(e:getBody(), "line1\nline2", "getBody")
eq(freeswitch.Event("presence_in"):getType(), "PRESENCE_IN", "event names are upper-cased")

-- serialize
local plain = e:serialize()
check(plain:find("X-Test: hello%%20world\n", 1) ~= nil, "plain serialize url-encodes: " .. plain)
check(plain:find("Content-Length: 11\n\nline1\nline2", 1, true) ~= nil, "plain serialize carries the body")
check(e:serialize("json"):find('"X%-Test"%s*:%s*"hello world"') ~= nil, "json serialize: " .. e:serialize("json"))
check(e:serialize("xml"):find("<X-Test>", 1, true) ~= nil, "xml serialize: " .. e:serialize("xml"))
local j = freeswitch.Event("json", '{"Event-Name":"CUSTOM","Event-Subclass":"selftest::json","A":"b"}')
eq(j:getHeader("A"), "b", "Event from json")

-- EventConsumer: fire to self, non-blocking and timed pops
-- wall clock in ms (os.time has 1 s resolution, os.clock is CPU time)
local function now_ms()
  local f = io.popen("date +%s%3N")
  local v = tonumber(f:read("*l"))
  f:close()
  return v
end
local con = freeswitch.EventConsumer("CUSTOM", "selftest::ping")
local t0 = now_ms()
eq(con:pop(), nil, "pop() on an empty queue returns nil")
check(now_ms() - t0 < 500, "pop() does not wait: " .. (now_ms() - t0) .. " ms")
t0 = now_ms()
eq(con:pop(1, 300), nil, "pop(1, 300) times out with nil")
local waited = now_ms() - t0
check(waited >= 280 and waited < 1500, "pop(1, 300) waits about 300 ms: " .. waited .. " ms")
t0 = now_ms()
eq(con:pop(0, 1000), nil, "pop(0, 1000) is non-blocking")
check(now_ms() - t0 < 500, "pop(0, 1000) does not wait: " .. (now_ms() - t0) .. " ms")
eq(e:fire(), true, "fire returns true")
local got = con:pop(1, 5000)
check(got ~= nil, "fired event comes back to a bound consumer")
if got then
  eq(got:getHeader("X-Test"), "hello world", "popped event keeps headers")
  eq(got:getBody(), "line1\nline2", "popped event keeps its body")
  check(got:getHeader("Core-UUID") ~= nil, "fired event got the node's standard headers")
end

-- bind: one queue, more subscriptions
local con2 = freeswitch.EventConsumer("CUSTOM", "selftest::a")
eq(con2:bind("CUSTOM", "selftest::b"), true, "bind")
freeswitch.Event("CUSTOM", "selftest::b"):fire()
freeswitch.Event("CUSTOM", "selftest::c"):fire()
freeswitch.Event("CUSTOM", "selftest::a"):fire()
local first, second = con2:pop(1, 5000), con2:pop(1, 5000)
eq(first and first:getHeader("Event-Subclass"), "selftest::b", "bound subclass delivered in order")
eq(second and second:getHeader("Event-Subclass"), "selftest::a", "constructor subclass delivered")
eq(con2:pop(1, 200), nil, "unbound subclass not delivered")

-- bounded queue: capacity 5, 20 events -> 15 dropped and counted
local small = freeswitch.EventConsumer("CUSTOM", "selftest::flood", 5)
local marker = freeswitch.EventConsumer("CUSTOM", "selftest::marker")
for i = 1, 20 do
  local f = freeswitch.Event("CUSTOM", "selftest::flood")
  f:addHeader("N", tostring(i))
  f:fire()
end
freeswitch.Event("CUSTOM", "selftest::marker"):fire()
check(marker:pop(1, 5000) ~= nil, "marker after the flood arrives")
local st = small:stats()
eq(st.capacity, 5, "queue capacity")
eq(st.queued, 5, "queue holds capacity events")
eq(st.dropped, 15, "overflow drops counted")
eq(small:pop():getHeader("N"), "1", "oldest events kept, newest dropped")

-- ALL consumer sees everything, including other names
local all = freeswitch.EventConsumer("ALL")
freeswitch.Event("CUSTOM", "selftest::all"):fire()
local a = all:pop(1, 5000)
check(a ~= nil, "ALL consumer receives")

-- globals, API, logging
check(freeswitch.getGlobalVariable("hostname") ~= nil, "getGlobalVariable hostname")
check(freeswitch.getGlobalVariable("local_ip_v4") ~= nil, "getGlobalVariable local_ip_v4")
check(freeswitch.getGlobalVariable("core_uuid") ~= nil, "getGlobalVariable core_uuid")
eq(freeswitch.getGlobalVariable("switchname"), freeswitch.getGlobalVariable("node_name"), "switchname = node name")
eq(freeswitch.getGlobalVariable("no_such_var_xyz"), nil, "unknown global is nil")
if argv[1] then eq(freeswitch.getGlobalVariable("selftest_var"), argv[1], "global-variable param / argv") end
-- argv[2..4], when given: the expected node name, IPv4 address and host name
if argv[2] then eq(freeswitch.getGlobalVariable("node_name"), argv[2], "node_name is the node's name") end
if argv[3] then eq(freeswitch.getGlobalVariable("local_ip_v4"), argv[3], "local_ip_v4 is the host's address") end
if argv[4] then eq(freeswitch.getGlobalVariable("hostname"), argv[4], "hostname") end
eq(freeswitch.getGlobalVariable("HostName"), freeswitch.getGlobalVariable("hostname"), "global names are case-insensitive")
local api = freeswitch.API()
local v = api:execute("version")
check(type(v) == "string" and #v > 0 and not v:find("^%-ERR"), "API():execute(version): " .. tostring(v))
local bad = api:execute("no_such_command_xyz", "")
check(bad:find("^%-ERR") ~= nil, "unknown api command gives -ERR: " .. tostring(bad))
check(api:executeString("version") == v, "executeString")
local pj = api:execute("multicast_peers", "json")
check(pj:find("^%s*{") ~= nil, "execute(cmd, args) passes args: " .. pj:sub(1, 60))
check(api:execute("multicast_peers json"):find("^%s*{") ~= nil, "execute(\"cmd args\") splits the string")
if argv[2] then
  check(api:execute("status"):find("Node " .. argv[2], 1, true) ~= nil, "execute(status) names the node")
end
check(not pcall(os.exit, 1), "os.exit is refused")
check(package.cpath:find("lua/5.4", 1, true) ~= nil, "standard cpath kept: " .. package.cpath)
local ok, mod = pcall(require, "luasql.sqlite3")
check(ok and luasql ~= nil and type(luasql.sqlite3) == "function", "require luasql.sqlite3 sets global luasql")
freeswitch.consoleLog("warning", "SELFTEST consoleLog warning line\n")

if failures == 0 then
  freeswitch.consoleLog("notice", "SELFTEST PASS " .. checks .. " checks")
else
  freeswitch.consoleLog("err", "SELFTEST FAILED " .. failures .. " of " .. checks .. " checks")
end
-- returning ends the script; it is not restarted
