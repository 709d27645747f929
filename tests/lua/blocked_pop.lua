-- blocked_pop.lua -- waits for ever on an event that never comes; stop must
-- wake it.
local con = freeswitch.EventConsumer("CUSTOM", "never::happens")
freeswitch.consoleLog("notice", "BLOCKTEST waiting")
for e in (function() return con:pop(1) end) do
  freeswitch.consoleLog("err", "BLOCKTEST got an unexpected event")
end
