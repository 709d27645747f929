-- file: locationforeign.lua
-- Keeps track of foreign registrations (CUSTOM sofia::register from another
-- switch, received as CUSTOM multicast::event with Orig- headers) and records
-- them in the db_data table: hostname = the switch the user registered to,
-- realm = the user's domain, data_key = the user, data = that switch's IPv4.
--
-- The database is the global variable location_db, set in lua.conf:
--   <param name="global-variable" value="location_db=/var/lib/evcast/call_limit.db"/>
-- (default: FreeSWITCH's /usr/local/freeswitch/db/call_limit.db).
--
-- Fixed from the seed: string quoting and concatenation of the SQL, values
-- escaped, the table created when missing, SQL errors raised (the script is
-- then restarted with backoff), a busy timeout because locationlocal.lua
-- writes the same file. The DELETE keys on realm + user (the seed's
-- hostname + realm would have wiped every user of that domain on that host).
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

conforeign = freeswitch.EventConsumer("CUSTOM", "multicast::event")
for e in (function() return conforeign:pop(1) end) do
  -- freeswitch.consoleLog("notice", "event: " .. e:serialize("xml") .. "\n")
  local element = e:getHeader("Orig-Event-Subclass")
  if element == "sofia::register" then
    local registerstatus = e:getHeader("Orig-status")
    if registerstatus == "Registered(UDP)" then
      local ip = e:getHeader("Orig-FreeSWITCH-IPv4")
      local name = e:getHeader("Orig-FreeSWITCH-Hostname")
      local unitnumber = e:getHeader("Orig-from-user")
      local customerid = e:getHeader("Orig-from-host")
      freeswitch.consoleLog("notice", "Foreign registration: " .. registerstatus .. " ip: " .. tostring(ip) ..
                            " user: " .. tostring(unitnumber) .. "@" .. tostring(customerid) .. "\n")
      record(name, customerid, unitnumber, ip)
    end
  end
end
