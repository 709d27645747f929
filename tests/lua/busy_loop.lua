-- busy_loop.lua -- never pops and even swallows errors: only the stop hook
-- (an error at every instruction once evcast stops) can end it.
freeswitch.consoleLog("notice", "BUSYTEST spinning")
local n = 0
while true do
  pcall(function()
    while true do n = n + 1 end
  end)
end
