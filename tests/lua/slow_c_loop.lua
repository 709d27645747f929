-- slow_c_loop.lua -- never pops; loops on a slow C call (a 0.2 s sleep through
-- os.execute, as old scripts poll) so that it runs few Lua instructions: stop
-- must end it within one call (the hook also fires at every call), not after
-- the thousand instructions of the count hook.
freeswitch.consoleLog("notice", "SLOWCTEST looping")
while true do
  os.execute("sleep 0.2")
end
