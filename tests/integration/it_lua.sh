#!/usr/bin/env bash
# it_lua.sh -- Lua consumers end to end (issue 6): the seed's three scripts and
# the freeswitch API running inside evcastd.
#
# Topology: hosts A and B in their own network namespaces on a private bridge
# (scripts/netns.sh lan), group 239.255.42.6:4242, TTL 1. A runs no script; B
# runs examples/lua/{startup_script_1,locationlocal,locationforeign}.lua with
# the database in $EVC_TMP, plus tests/lua/{selftest,error_restart,
# syntax_error,table_error,busy_loop,blocked_pop,slow_c_loop,overflow_queue}.lua,
# and serves metrics on 127.0.0.1:9464 in its namespace. Checks, in order: the
# API selftest passes inside the daemon; a consumer queue of 3 overflowed by 10
# events shows 7 drops in `evcast stats` (.lua queues and per_script) and on
# /metrics (evcast_lua_queue_dropped_total, per-script and total families),
# with the selftest's own overflow (15) kept after its script ended; a channel state sent on A becomes a PRESENCE_IN on B
# (confirmed / terminated, ignored states ignored) that B's bindings also send
# back to A; a local CUSTOM multicast::event with Orig- headers does the same;
# registrations from A (remote) and B (local) land as db_data rows through
# luasql.sqlite3; a failing script is logged with file:line and restarted with
# doubling backoff up to its cap while the daemon keeps running; SIGTERM ends
# the busy-loop, slow-C-call and blocked scripts and the daemon promptly
# (cpu-limit-ms 0 here, so the busy loop still spins at SIGTERM: the stop hook
# is what is tested; the CPU limit is it_lua_limits.sh's).
source "$(dirname "$0")/lib.sh"
evc_require
command -v sqlite3 >/dev/null || evc_fail "missing tool 'sqlite3' (apt-get install sqlite3)"

GROUP=239.255.42.6
PORT=4242
EXAMPLES="$EVCAST_SOURCE_DIR/examples/lua"
TESTS="$EVCAST_SOURCE_DIR/tests/lua"
DB="$EVC_TMP/call_limit.db"
ADDR_A=$(evc_netns_host_addr 1)
ADDR_B=$(evc_netns_host_addr 2)

# conf ID BINDINGS LUA_PARAMS [METRICS_PORT]: an <evcast> file with
# event_multicast.conf and, when LUA_PARAMS (lines of "name=value") is not
# empty, lua.conf; with METRICS_PORT, metrics.conf on 127.0.0.1:METRICS_PORT.
conf() {
	local id=$1 bindings=$2 lua=$3 mport=${4:-} kv
	{
		echo '<evcast>'
		echo '<configuration name="event_multicast.conf" description="Multicast Event">'
		echo '  <settings>'
		for kv in address=$GROUP port=$PORT "bindings=$bindings" ttl=1 loopback=no node-name=$id \
			multicast-interface=eth0 heartbeat-interval=1 peer-timeout=3 \
			control-socket="$EVC_TMP/$id.sock" log-level=info; do
			printf '    <param name="%s" value="%s"/>\n' "${kv%%=*}" "$(evc_xml_escape "${kv#*=}")"
		done
		echo '  </settings>'
		echo '</configuration>'
		if [[ -n "$lua" ]]; then
			echo '<configuration name="lua.conf" description="LUA Configuration">'
			echo '  <settings>'
			while IFS= read -r kv; do
				[[ -n "$kv" ]] || continue
				printf '    <param name="%s" value="%s"/>\n' "${kv%%=*}" "$(evc_xml_escape "${kv#*=}")"
			done <<<"$lua"
			echo '  </settings>'
			echo '</configuration>'
		fi
		if [[ -n "$mport" ]]; then
			echo '<configuration name="metrics.conf"><settings>'
			echo "  <param name=\"enabled\" value=\"yes\"/><param name=\"listen-port\" value=\"$mport\"/>"
			echo '</settings></configuration>'
		fi
		echo '</evcast>'
	} >"$EVC_TMP/$id.xml"
}

log_has() { grep -E -q -- "$2" "$EVC_TMP/$1.log"; }
log_count() { grep -E -c -- "$2" "$EVC_TMP/$1.log" || true; }
sql() { sqlite3 -batch -noheader "$DB" "$1" 2>/dev/null; }
row_is() { [[ "$(sql "SELECT hostname, realm, data_key, data FROM db_data WHERE data_key = '$1'")" == "$2" ]]; }
row_count() { sql "SELECT count(*) FROM db_data WHERE data_key = '$1'"; }

evc_step "network: A and B on a private bridge"
evc_lan A B

evc_step "configs: A plain, B with the seed's scripts and the test scripts"
conf A "HEARTBEAT CHANNEL_STATE CUSTOM sofia::register" ""
conf B "HEARTBEAT PRESENCE_IN CUSTOM sofia::register" "script-directory=$EXAMPLES
startup-script=startup_script_1.lua
startup-script=locationlocal.lua
startup-script=locationforeign.lua
startup-script=$TESTS/selftest.lua hello B $ADDR_B $(hostname)
startup-script=$TESTS/error_restart.lua
startup-script=$TESTS/syntax_error.lua
startup-script=$TESTS/table_error.lua
startup-script=$TESTS/busy_loop.lua
startup-script=$TESTS/blocked_pop.lua
startup-script=$TESTS/slow_c_loop.lua
startup-script=$TESTS/overflow_queue.lua
global-variable=location_db=$DB
global-variable=selftest_var=hello
max-queue=1000
restart-backoff-min=0.2
restart-backoff-max=0.8
stop-timeout=5
cpu-limit-ms=0" 9464
sed -n '/lua.conf/,/<\/configuration>/p' "$EVC_TMP/B.xml"

evc_step "start A and B; B starts its 11 scripts"
evc_daemon_start A A "$EVC_TMP/A.xml"
evc_daemon_start B B "$EVC_TMP/B.xml"
evc_wait_for 10 "B: lua started" log_has B 'lua: 11 of 11 startup scripts started' ||
	evc_fail "B did not start its scripts: $(grep 'lua' "$EVC_TMP/B.log" | head -n 20)"
evc_ok "$(grep -o 'lua: 11 of 11 startup scripts started.*' "$EVC_TMP/B.log")"
evc_listen B "$EVC_TMP/B.events" HEARTBEAT PRESENCE_IN
evc_listen A "$EVC_TMP/A.events" HEARTBEAT CUSTOM multicast::event
evc_wait_for 10 "A and B see each other" evc_peer_is A B UP || evc_fail "A does not see B: $(evc_cli A peers)"

evc_step "the freeswitch API selftest, inside the daemon"
evc_wait_for 20 "selftest verdict" log_has B 'SELFTEST (PASS|FAILED)' || evc_fail "selftest gave no verdict"
if log_has B 'SELFTEST FAIL'; then
	grep -E 'SELFTEST FAIL' "$EVC_TMP/B.log" >&2
	evc_fail "the Lua API selftest failed"
fi
evc_ok "$(grep -o 'SELFTEST PASS.*' "$EVC_TMP/B.log")"
log_has B '\[warning\] lua\[selftest.lua\]: SELFTEST consoleLog warning line$' ||
	evc_fail "consoleLog(\"warning\", ...) not in the daemon log at warning with the script's name"
log_has B 'lua\[selftest.lua\]: script returned; not restarted' || evc_fail "a returning script must not be restarted"
log_has B 'consumer \[selftest.lua CUSTOM selftest::flood\] queue full' ||
	evc_fail "queue overflow not logged with the consumer's name"
evc_ok "a returning script is not restarted; consumer overflow logged"

evc_step "counters: an overflowed consumer queue in evcast stats and /metrics"
evc_wait_for 10 "overflow_queue.lua holding" log_has B 'OVERFLOWTEST holding 3' || evc_fail "overflow_queue.lua did not start"
for i in $(seq 1 10); do
	evc_cli B send CUSTOM luatest::overflow -H "N: $i" >/dev/null || evc_fail "evcast send on B failed"
done
OVQ='.lua.queues[] | select(.script == "overflow_queue.lua" and .consumer == "overflow_queue.lua CUSTOM luatest::overflow")'
ov_dropped() { evc_cli B stats | jq -r "$OVQ | .dropped"; }
evc_wait_for 5 "7 drops in evcast stats" eval '[[ "$(ov_dropped)" == 7 ]]' ||
	evc_fail "evcast stats: overflow queue is $(evc_cli B stats | jq -c "$OVQ")"
evc_cli B stats >"$EVC_TMP/B.stats"
jq -e "$OVQ | .queued == 3 and .capacity == 3 and .delivered == 3" "$EVC_TMP/B.stats" >/dev/null ||
	evc_fail "queue counters: $(jq -c "$OVQ" "$EVC_TMP/B.stats")"
jq -e '.lua.per_script[] | select(.script == "overflow_queue.lua") | .events_dropped == 7 and .running' \
	"$EVC_TMP/B.stats" >/dev/null || evc_fail "per_script overflow_queue.lua: $(jq -c .lua.per_script "$EVC_TMP/B.stats")"
jq -e '.lua.per_script[] | select(.script == "selftest.lua") | .events_dropped == 15 and (.running | not)' \
	"$EVC_TMP/B.stats" >/dev/null || evc_fail "selftest.lua's 15 drops not kept: $(jq -c .lua.per_script "$EVC_TMP/B.stats")"
jq -e '.lua.events_dropped >= 22 and .lua.scripts == 11' "$EVC_TMP/B.stats" >/dev/null ||
	evc_fail "lua totals: $(jq -c '.lua | del(.per_script, .queues)' "$EVC_TMP/B.stats")"
evc_ok "evcast stats: $(jq -c "$OVQ | {consumer, queued, capacity, dropped}" "$EVC_TMP/B.stats")"
evc_in B curl -fsS --max-time 5 http://127.0.0.1:9464/metrics >"$EVC_TMP/B.prom" || evc_fail "no /metrics on B"
prom() { awk -v k="$1" 'index($0, k) == 1 {print $NF}' "$EVC_TMP/B.prom"; }
[[ "$(prom 'evcast_lua_queue_dropped_total{script="overflow_queue.lua",consumer="overflow_queue.lua CUSTOM luatest::overflow",id="')" == 7 ]] ||
	evc_fail "no evcast_lua_queue_dropped_total 7 for the overflow queue: $(grep evcast_lua_queue "$EVC_TMP/B.prom")"
[[ "$(prom 'evcast_lua_script_events_dropped_total{script="selftest.lua",')" == 15 ]] ||
	evc_fail "per-script drops of selftest.lua: $(grep evcast_lua_script_events_dropped "$EVC_TMP/B.prom")"
[[ "$(prom 'evcast_lua_events_dropped_total ')" -ge 22 ]] || evc_fail "$(grep evcast_lua_events_dropped "$EVC_TMP/B.prom")"
grep -E '^# TYPE evcast_lua_queue_dropped_total counter$' "$EVC_TMP/B.prom" >/dev/null || evc_fail "no TYPE line"
evc_ok "$(grep -F 'evcast_lua_queue_dropped_total{script="overflow_queue.lua",consumer="overflow_queue.lua CUSTOM luatest::overflow"' "$EVC_TMP/B.prom")"

# presence JSON filters on B's listener and on A's (the PRESENCE_IN sent back)
presence() { # FROM STATE
	echo ".[\"Event-Name\"] == \"PRESENCE_IN\" and .from == \"$1\" and .login == \"$1\" and" \
		".[\"answer-state\"] == \"$2\" and .proto == \"sip\" and .[\"alt_event_type\"] == \"dialog\""
}
presence_on_a() { # FROM STATE
	echo "$EVC_JQ_MEVENT and .[\"Orig-Event-Name\"] == \"PRESENCE_IN\" and .[\"Orig-from\"] == \"$1\" and" \
		".[\"Orig-answer-state\"] == \"$2\" and .[\"Orig-Multicast-Sender\"] == \"B\""
}

evc_step "presence: a channel state sent on A becomes PRESENCE_IN on B (startup_script_1.lua)"
evc_cli A send CHANNEL_STATE -H 'status: CS_ROUTING' -H 'from: 1000@example.com' >/dev/null ||
	evc_fail "evcast send on A failed"
evc_wait_for 10 "PRESENCE_IN confirmed on B" evc_json_has "$EVC_TMP/B.events" "$(presence 1000@example.com confirmed)" ||
	evc_fail "no PRESENCE_IN confirmed for 1000@example.com on B: $(tail -n 5 "$EVC_TMP/B.events")"
evc_ok "CS_ROUTING on A -> PRESENCE_IN answer-state confirmed on B"
evc_wait_for 10 "the script's PRESENCE_IN reaches A" evc_json_has "$EVC_TMP/A.events" \
	"$(presence_on_a 1000@example.com confirmed)" ||
	evc_fail "the PRESENCE_IN fired by the script on B did not reach A through B's bindings"
evc_ok "the event the script fired went out through B's bindings (seen on A as multicast::event)"
evc_cli A send CHANNEL_STATE -H 'status: CS_INIT' -H 'from: 3000@example.com' >/dev/null
evc_cli A send CHANNEL_STATE -H 'status: CS_HANGUP' -H 'from: 1000@example.com' >/dev/null
evc_wait_for 10 "PRESENCE_IN terminated on B" evc_json_has "$EVC_TMP/B.events" "$(presence 1000@example.com terminated)" ||
	evc_fail "no PRESENCE_IN terminated for 1000@example.com on B"
[[ "$(evc_json_count "$EVC_TMP/B.events" '.from == "3000@example.com"')" -eq 0 ]] ||
	evc_fail "CS_INIT must not produce a PRESENCE_IN"
evc_ok "CS_HANGUP -> terminated; CS_INIT ignored"

evc_step "presence: a local CUSTOM multicast::event with Orig- headers on B"
evc_cli B send CUSTOM multicast::event -H 'Orig-status: CS_EXECUTE' -H 'Orig-from: 2000@example.com' >/dev/null ||
	evc_fail "evcast send on B failed"
evc_wait_for 10 "PRESENCE_IN for 2000" evc_json_has "$EVC_TMP/B.events" "$(presence 2000@example.com confirmed)" ||
	evc_fail "no PRESENCE_IN confirmed for 2000@example.com"
evc_ok "local multicast::event -> PRESENCE_IN confirmed"

evc_step "location: registrations into db_data through luasql.sqlite3"
evc_cli A send CUSTOM sofia::register -H 'status: Registered(UDP)' -H 'from-user: 1001' \
	-H 'from-host: example.com' -H 'FreeSWITCH-Hostname: switch-a' >/dev/null
evc_wait_for 10 "foreign row 1001" row_is 1001 "switch-a|example.com|1001|$ADDR_A" ||
	evc_fail "locationforeign.lua: row 1001 is '$(sql "SELECT * FROM db_data")', want switch-a|example.com|1001|$ADDR_A"
evc_ok "remote registration (A) -> row switch-a|example.com|1001|$ADDR_A (A's own IPv4)"
evc_cli B send CUSTOM sofia::register -H 'status: Unregistered(UDP)' -H 'from-user: 1003' \
	-H 'from-host: example.com' >/dev/null
evc_cli B send CUSTOM sofia::register -H 'status: Registered(UDP)' -H 'from-user: 1002' \
	-H 'from-host: example.com' -H 'FreeSWITCH-Hostname: switch-b' >/dev/null
evc_wait_for 10 "local row 1002" row_is 1002 "switch-b|example.com|1002|$ADDR_B" ||
	evc_fail "locationlocal.lua: row 1002 is '$(sql "SELECT * FROM db_data WHERE data_key = '1002'")'"
[[ "$(row_count 1003)" == 0 ]] || evc_fail "a status other than Registered(UDP) must not be recorded"
evc_ok "local registration (B) -> row switch-b|example.com|1002|$ADDR_B; Unregistered ignored"
evc_cli B send CUSTOM sofia::register -H 'status: Registered(UDP)' -H 'from-user: 1001' \
	-H 'from-host: example.com' -H 'FreeSWITCH-Hostname: switch-b' >/dev/null
evc_wait_for 10 "1001 moved to B" row_is 1001 "switch-b|example.com|1001|$ADDR_B" ||
	evc_fail "1001 re-registering on B: rows '$(sql "SELECT * FROM db_data WHERE data_key = '1001'")'"
evc_ok "1001 registering on B replaces its row (one location per user)"
log_has B 'lua\[location(local|foreign).lua\]: script error' &&
	evc_fail "a location script failed: $(grep 'script error' "$EVC_TMP/B.log" | grep location | head -n 3)"

evc_step "a failing script: file:line in the log, restarts with doubling backoff, daemon unharmed"
evc_wait_for 15 "error_restart.lua backoff at its cap twice" \
	eval '[[ $(log_count B "error_restart.lua\]: script error: .*restarting in 0.80 s") -ge 2 ]]' ||
	evc_fail "no capped restarts: $(grep 'error_restart' "$EVC_TMP/B.log" | tail -n 5)"
for want in 'error_restart.lua:5: deliberate failure \(failure 1; restarting in 0.20 s\)' \
	'error_restart.lua:5: deliberate failure \(failure 2; restarting in 0.40 s\)' \
	'error_restart.lua:5: deliberate failure \(failure 3; restarting in 0.80 s\)'; do
	log_has B "\[err\] lua\[error_restart.lua\]: script error: .*$want" || evc_fail "missing log line: $want"
done
log_has B 'lua\[error_restart.lua\]: stack traceback:.*in local .boom.' || evc_fail "no traceback for the failure"
[[ $(log_count B 'ERRTEST run starting') -ge 4 ]] || evc_fail "error_restart.lua was not re-run"
log_has B 'lua\[syntax_error.lua\]: script error: .*syntax_error.lua:3:' ||
	evc_fail "syntax error not logged with file:line: $(grep syntax_error "$EVC_TMP/B.log" | head -n 2)"
log_has B 'lua\[table_error.lua\]: script error: .*table_error.lua:3: \(error object is a table value\)' ||
	evc_fail "error({...}) not logged with file:line: $(grep table_error "$EVC_TMP/B.log" | head -n 2)"
evc_alive B || evc_fail "B died"
evc_cli B api version >/dev/null || evc_fail "B does not answer any more"
evc_ok "$(grep -o 'error_restart.lua:5: deliberate failure (failure 3; restarting in 0.80 s)' "$EVC_TMP/B.log" | head -n 1)"

evc_step "shutdown: a busy loop (even inside pcall), a loop on a slow C call and a blocked pop(1) end promptly"
log_has B 'BUSYTEST spinning' || evc_fail "busy_loop.lua did not start"
log_has B 'BLOCKTEST waiting' || evc_fail "blocked_pop.lua did not start"
log_has B 'SLOWCTEST looping' || evc_fail "slow_c_loop.lua did not start"
t0=$(date +%s.%N)
evc_daemon_stop B || evc_fail "B did not stop cleanly"
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
awk -v t="$took" 'BEGIN {exit !(t < 3)}' || evc_fail "B took $took s to stop (stop-timeout is 5 s)"
for s in busy_loop.lua blocked_pop.lua slow_c_loop.lua overflow_queue.lua startup_script_1.lua locationlocal.lua locationforeign.lua; do
	log_has B "lua\[$s\]: stopped" || evc_fail "no 'stopped' line for $s"
done
log_has B 'did not stop within' && evc_fail "a script had to be left running"
log_has B 'lua: stopped \(' || evc_fail "no lua summary at stop"
evc_ok "B stopped in $took s; $(grep -o 'lua: stopped (.*' "$EVC_TMP/B.log")"
