#!/usr/bin/env bash
# it_lua_limits.sh -- the Lua CPU limit and sandbox end to end (issue 13, finding 9).
#
# Topology: one host A in its own network namespace (multicast on lo only),
# group 239.255.42.61:4261. A runs tests/lua/busy_loop.lua (spins inside pcall,
# never waits) with cpu-limit-ms 2000 and a 30 s restart backoff, and
# tests/lua/sandbox_probe.lua sandboxed (sandbox-allow-modules luasql.sqlite3).
# Checks: while the loop spins the daemon uses CPU (measured from
# /proc/PID/stat); the limit ends the run with a logged, counted error
# (file:line, failure 1, restarting in 30 s); then the daemon's CPU is back to
# idle (<= 5% of a core over 3 s); evcast stats and /metrics count it; the
# sandboxed probe finds every escape closed and its file not created; the
# daemon answers and stops cleanly.
source "$(dirname "$0")/lib.sh"
evc_require

TESTS="$EVCAST_SOURCE_DIR/tests/lua"
LIMIT_MS=2000
HZ=$(getconf CLK_TCK)

log_has() { grep -E -q -- "$2" "$EVC_TMP/$1.log"; }
# cpu_ticks PID: user + system CPU time of the process, in clock ticks
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# cpu_over PID SECONDS: ticks used during SECONDS of wall time
cpu_over() {
	local t0 t1
	t0=$(cpu_ticks "$1")
	sleep "$2" # a measurement window, not a wait for a condition
	t1=$(cpu_ticks "$1")
	echo $((t1 - t0))
}

evc_step "network: A alone, multicast on lo"
evc_lo A

evc_step "config: busy_loop.lua under cpu-limit-ms $LIMIT_MS, sandbox_probe.lua sandboxed"
evc_conf_blocks "$EVC_TMP/A.xml" address=239.255.42.61 port=4261 ttl=0 loopback=yes node-name=A \
	multicast-interface=lo heartbeat-interval=1 peer-timeout=3 control-socket="$EVC_TMP/A.sock" log-level=info \
	lua.conf "startup-script=$TESTS/busy_loop.lua" "startup-script=$TESTS/sandbox_probe.lua $EVC_TMP/escaped" \
	sandbox=sandbox_probe.lua sandbox-allow-modules=luasql.sqlite3 cpu-limit-ms=$LIMIT_MS \
	restart-backoff-min=30 restart-backoff-max=60 \
	metrics.conf enabled=yes listen-port=9471
sed -n '/lua.conf/,/<\/settings>/p' "$EVC_TMP/A.xml"
evc_daemon_start A A "$EVC_TMP/A.xml"
PID=${EVC_PID[A]}
evc_wait_for 10 "scripts started" log_has A 'lua: 2 of 2 startup scripts started .*1 sandboxed, cpu-limit-ms 2000' ||
	evc_fail "scripts not started: $(grep 'lua' "$EVC_TMP/A.log" | head -n 5)"
evc_ok "$(grep -o 'lua: 2 of 2 .*' "$EVC_TMP/A.log")"

evc_step "the busy loop spins: the daemon uses CPU"
evc_wait_for 10 "busy_loop.lua spinning" log_has A 'BUSYTEST spinning' || evc_fail "busy_loop.lua did not start"
busy=$(cpu_over "$PID" 1)
evc_log "CPU while spinning: $busy ticks in 1 s ($HZ ticks = one core)"
# a core on an idle machine; a busy one still gives the spinning thread far more than idle
[[ $busy -ge $((HZ * 15 / 100)) ]] || evc_fail "the busy loop used only $busy ticks in 1 s: is it spinning?"

evc_step "cpu-limit-ms ends the run: logged with file:line, counted, restart per the backoff"
evc_wait_for 60 "the limit error" log_has A 'lua\[busy_loop.lua\]: script error: .*cpu-limit-ms exceeded' ||
	evc_fail "busy_loop.lua was not stopped by cpu-limit-ms: $(grep busy_loop "$EVC_TMP/A.log" | tail -n 3)"
line=$(grep -E -m1 'lua\[busy_loop.lua\]: script error' "$EVC_TMP/A.log")
evc_log "$line"
[[ $line =~ \[err\]\ lua\[busy_loop.lua\]:\ script\ error:\ .*busy_loop.lua:[0-9]+:\ cpu-limit-ms\ exceeded:\ ([0-9]+)\ ms\ of\ CPU.*\(limit\ 2000\ ms\)\ \(failure\ 1\;\ restarting\ in\ 30.00\ s\) ]] ||
	evc_fail "unexpected error line: $line"
used=${BASH_REMATCH[1]}
[[ $used -ge $LIMIT_MS && $used -le $((LIMIT_MS + 1000)) ]] || evc_fail "reported $used ms of CPU for a $LIMIT_MS ms limit"
evc_ok "stopped after $used ms of CPU (limit $LIMIT_MS ms)"

evc_step "the daemon's CPU is back to idle"
idle=$(cpu_over "$PID" 3)
evc_log "CPU after the limit: $idle ticks in 3 s (was $busy in 1 s while spinning)"
[[ $idle -le $((HZ * 3 * 5 / 100)) ]] || evc_fail "the daemon still used $idle ticks in 3 s (> 5% of a core)"
evc_ok "idle: $idle ticks in 3 s ($((idle * 100 / (HZ * 3)))% of a core) after $busy ticks in 1 s spinning"

evc_step "counters: evcast stats and /metrics"
evc_cli A stats >"$EVC_TMP/A.stats"
jq -e '.lua.cpu_limited == 1 and .lua.cpu_limit_ms == 2000' "$EVC_TMP/A.stats" >/dev/null ||
	evc_fail "lua totals: $(jq -c '.lua | del(.per_script, .queues)' "$EVC_TMP/A.stats")"
jq -e '.lua.per_script[] | select(.script == "busy_loop.lua") | .cpu_limited == 1 and .failures == 1 and (.sandbox | not)' \
	"$EVC_TMP/A.stats" >/dev/null || evc_fail "per_script: $(jq -c .lua.per_script "$EVC_TMP/A.stats")"
jq -e '.lua.per_script[] | select(.script == "sandbox_probe.lua") | .sandbox and .cpu_limited == 0' \
	"$EVC_TMP/A.stats" >/dev/null || evc_fail "per_script: $(jq -c .lua.per_script "$EVC_TMP/A.stats")"
evc_in A curl -fsS --max-time 5 http://127.0.0.1:9471/metrics >"$EVC_TMP/A.prom" || evc_fail "no /metrics on A"
grep -q '^evcast_lua_cpu_limited_total 1$' "$EVC_TMP/A.prom" || evc_fail "$(grep cpu_limit "$EVC_TMP/A.prom")"
grep -q '^evcast_lua_script_cpu_limited_total{script="busy_loop.lua",index="1"} 1$' "$EVC_TMP/A.prom" ||
	evc_fail "$(grep evcast_lua_script_cpu "$EVC_TMP/A.prom")"
grep -q '^evcast_lua_script_sandboxed{script="sandbox_probe.lua",index="2"} 1$' "$EVC_TMP/A.prom" ||
	evc_fail "$(grep evcast_lua_script_sandboxed "$EVC_TMP/A.prom")"
evc_ok "$(grep -E '^evcast_lua_(cpu_limited_total|script_sandboxed)' "$EVC_TMP/A.prom" | tr '\n' ' ')"

evc_step "the sandboxed probe: every escape closed"
evc_wait_for 10 "probe verdict" log_has A 'SANDBOXTEST (PASS|FAIL)' || evc_fail "sandbox_probe.lua gave no verdict"
if log_has A 'SANDBOXTEST FAIL'; then
	grep 'SANDBOXTEST FAIL' "$EVC_TMP/A.log" >&2
	evc_fail "a sandbox escape worked"
fi
[[ ! -e "$EVC_TMP/escaped" ]] || evc_fail "the sandboxed script created a file"
evc_ok "$(grep -o 'SANDBOXTEST PASS.*' "$EVC_TMP/A.log")"

evc_step "the daemon answers and stops cleanly"
evc_cli A api version >/dev/null || evc_fail "A does not answer"
evc_daemon_stop A || evc_fail "A did not stop cleanly"
evc_ok "stopped"
