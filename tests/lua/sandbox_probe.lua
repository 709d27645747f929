-- sandbox_probe.lua -- runs sandboxed (lua.conf sandbox); tries what the
-- sandbox removes and logs SANDBOXTEST PASS <n> checks, or SANDBOXTEST FAIL
-- <what> for each escape that worked. argv[1]: a file it must fail to create.
local n, failed = 0, 0
local function check(ok, what)
  n = n + 1
  if not ok then
    failed = failed + 1
    freeswitch.consoleLog("err", "SANDBOXTEST FAIL " .. what)
  end
end
check(os.execute == nil, "os.execute")
check(io.popen == nil, "io.popen")
check(package.loadlib == nil, "package.loadlib")
check(loadfile == nil, "loadfile")
check(dofile == nil, "dofile")
check(debug == nil, "debug")
check(os.remove == nil and os.rename == nil, "os.remove/os.rename")
check(os.getenv == nil, "os.getenv")
check(not pcall(os.exit, 1), "os.exit")
local fh = io.open(argv[1], "w")
check(fh == nil, "io.open for writing")
if fh then fh:close() end
check(select(2, load("\27Lua", "b", "b")) ~= nil, "binary chunk")
local ok, err = pcall(require, "lfs")
check(not ok and tostring(err):find("sandbox%-allow%-modules"), "C module not allowed")
-- the one the location scripts need, allowed by sandbox-allow-modules
local ok2, err2 = pcall(require, "luasql.sqlite3")
check(ok2 and luasql and luasql.sqlite3, "luasql.sqlite3 allowed: " .. tostring(err2))
-- what sandboxed scripts keep
check(freeswitch.API():execute("version") ~= "", "API():execute")
check(type(os.time()) == "number", "os.time")
if failed == 0 then
  freeswitch.consoleLog("notice", "SANDBOXTEST PASS " .. n .. " checks")
end
