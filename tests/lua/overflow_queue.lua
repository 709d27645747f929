-- overflow_queue.lua -- holds a consumer with a queue of 3 that it never pops,
-- so tests/integration/it_lua.sh can overflow it and read the drops in
-- `evcast stats` (.lua) and on /metrics (evcast_lua_queue_dropped_total).
local held = freeswitch.EventConsumer("CUSTOM", "luatest::overflow", 3)
local idle = freeswitch.EventConsumer("CUSTOM", "never::happens")
freeswitch.consoleLog("notice", "OVERFLOWTEST holding " .. held:stats().capacity)
while true do
  idle:pop(1, 1000)
end
