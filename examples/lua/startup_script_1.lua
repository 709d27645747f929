-- file: startup_script_1.lua (the seed's presence script, runs unchanged)
-- Keeps track of foreign channel states, carried by CUSTOM multicast::event
-- with Orig-status, and turns busy lamps on/off with a local PRESENCE_IN
-- (answer-state confirmed while a call routes or runs, terminated at hangup).
-- Can easily be changed to include the ringing state as well.
con = freeswitch.EventConsumer("CUSTOM", "multicast::event")
for e in (function() return con:pop(1) end) do
  -- freeswitch.consoleLog("notice", "event\n" .. e:serialize("xml"))
  local element = e:getHeader("Orig-status")
  if element then
    if (element == "CS_EXECUTE") or (element == "CS_ROUTING") or (element == "CS_HANGUP") then
      local event = freeswitch.Event("PRESENCE_IN")
      event:addHeader("proto", "sip")
      event:addHeader("event_type", "presence")
      event:addHeader("alt_event_type", "dialog")
      event:addHeader("Presence-Call-Direction", "outbound")
      local from = e:getHeader("Orig-from")
      event:addHeader("from", from)
      event:addHeader("login", from)
      if element == "CS_HANGUP" then
        event:addHeader("answer-state", "terminated")
      else
        event:addHeader("answer-state", "confirmed")
      end
      event:fire()
      -- freeswitch.consoleLog("notice", "event\n" .. event:serialize("xml"))
    end
  end
end
