-- file: locationlocal.lua
-- Keeps track of local registrations (CUSTOM sofia::register fired on this
-- switch) and records them in the db_data table, like locationforeign.lua:
-- hostname = this switch, realm = the user's domain, data_key = the user,
-- data = this switch's IPv4.
--
-- The database is the global variable location_db, set in lua.conf:
--   <param name="global-variable" value="location_db=/var/lib/evcast/call_limit.db"/>
-- (default: FreeSWITCH's /usr/local/freeswitch/db/call_limit.db).
--
-- Fixed from the seed: the subclass is sofia::register (the seed had
-- "sofia:register", which never matches), the SQL quoting and concatenation,
-- an extra `end`, values escaped, table created when missing, errors raised.
require "luasql.sqlite3"

local dbpath = freeswitch.getGlobalVariable("location_db") or "/usr/local/freeswitch/db/call_limit.db"

local function q(s)
  return "'" .. (tostring(s or ""):gsub("'", "''")) .. "'"
end

local function record(name, customerid, unitnumber, ip)
  local env = luasql.sqlite3()
  local con = assert(env:connect(dbpath))
  local cur = assert(con:execute("PRAGMA busy_timeout = 5000")) -- returns a row: close its cursor
  if type(cur) == "userdata" then cur:close() end
  assert(con:execute("CREATE TABLE IF NOT EXISTS db_data (hostname VARCHAR(255), realm VARCHAR(255), " ..
                     "data_key VARCHAR(255), data VARCHAR(255))"))
  local deletesql = "DELETE FROM db_data WHERE realm = " .. q(customerid) .. " AND data_key = " .. q(unitnumber)
  assert(con:execute(deletesql))
  local sql = "INSERT INTO db_data (hostname, realm, data_key, data) VALUES (" ..
              q(name) .. ", " .. q(customerid) .. ", " .. q(unitnumber) .. ", " .. q(ip) .. ")"
  local result = assert(con:execute(sql))
  freeswitch.consoleLog("info", "SQL statement: " .. sql .. " result: " .. tostring(result) .. "\n")
  con:close()
  env:close()
end

conlocal = freeswitch.EventConsumer("CUSTOM", "sofia::register")
for e in (function() return conlocal:pop(1) end) do
  -- freeswitch.consoleLog("notice", "event: " .. e:serialize("xml") .. "\n")
  local registerstatus = e:getHeader("status")
  if registerstatus == "Registered(UDP)" then
    local ip = e:getHeader("FreeSWITCH-IPv4")
    local name = e:getHeader("FreeSWITCH-Hostname")
    local unitnumber = e:getHeader("from-user")
    local customerid = e:getHeader("from-host")
    freeswitch.consoleLog("notice", "Local registration: " .. registerstatus .. " ip: " .. tostring(ip) ..
                          " user: " .. tostring(unitnumber) .. "@" .. tostring(customerid) .. "\n")
    record(name, customerid, unitnumber, ip)
  end
end
