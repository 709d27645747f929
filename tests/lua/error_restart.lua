-- error_restart.lua -- fails on purpose at a known line (line 5), so the test
-- can see the file:line in the log and the restarts with growing backoff.
freeswitch.consoleLog("notice", "ERRTEST run starting")
local function boom()
  error("deliberate failure")
end
boom()
