#!/usr/bin/env bash
# it_sidecar.sh -- evcastd's FreeSWITCH sidecar against a fake event socket.
#
# Topology: A and B in their own network namespaces on a private bridge; in A's
# namespace a fake FreeSWITCH (fake_freeswitch.py: auth, event plain,
# sendevent, api db, delivering events to subscribers as a switch does) and A
# with sidecar.conf + registrations.conf; B with registrations.conf. Checks, in
# order: a wrong password is logged clearly and retried; after the fix A
# connects and subscribes to its bindings; B's peerup is injected; a register
# made on B is injected into the switch as CUSTOM multicast::event (Multicast:
# yes, Orig- headers, evcast-injected) and mirrored by `api db insert/REALM/USER/
# B_IP`; the injected event coming back from the switch is not fired again; a
# user with two registrations keeps its db entry when one goes; a
# register on the switch's own SIP side goes to the cluster (locatable on B,
# node A); an event a Lua script on A fires (lua.conf) reaches the switch as a
# sendevent marked evcast-injected, and its echo from the switch is dropped
# (delivered on A once, injected once); unregister on B -> `api db delete`;
# after the switch restarts the sidecar reconnects and re-sends the live
# locations.
source "$(dirname "$0")/lib.sh"
evc_require

GROUP=239.255.42.7
PORT=4242
FS_PORT=18021
FS_CTL=18022
ADDR_A=$(evc_netns_host_addr 1)
ADDR_B=$(evc_netns_host_addr 2)
FAKE="$EVC_LIB_DIR/fake_freeswitch.py"

# conf ID SIDECAR(yes|no)
conf() {
	local id=$1 sc=$2
	{
		cat <<-EOF
			<evcast>
			  <configuration name="event_multicast.conf">
			    <settings>
			      <param name="address" value="$GROUP"/>
			      <param name="port" value="$PORT"/>
			      <param name="bindings" value="HEARTBEAT CUSTOM sofia::register sofia::unregister sofia::expire"/>
			      <param name="node-name" value="$id"/>
			      <param name="multicast-interface" value="eth0"/>
			      <param name="heartbeat-interval" value="1"/>
			      <param name="peer-timeout" value="3"/>
			      <param name="control-socket" value="$EVC_TMP/$id.sock"/>
			      <param name="log-level" value="info"/>
			    </settings>
			  </configuration>
			  <configuration name="registrations.conf">
			    <settings><param name="sweep-interval-ms" value="200"/></settings>
			  </configuration>
		EOF
		if [[ $sc == yes ]]; then
			cat <<-EOF
				  <configuration name="sidecar.conf">
				    <settings>
				      <param name="host" value="127.0.0.1"/>
				      <param name="port" value="$FS_PORT"/>
				      <param name="password" value="ClueCon"/>
				      <param name="bindings" value="CUSTOM sofia::register sofia::unregister sofia::expire multicast::event luatest::fired"/>
				      <param name="db-sync" value="yes"/>
				      <param name="reconnect-min-ms" value="100"/>
				      <param name="reconnect-max-ms" value="400"/>
				    </settings>
				  </configuration>
				  <configuration name="lua.conf">
				    <settings>
				      <param name="startup-script" value="$EVC_TMP/fire.lua"/>
				      <param name="stop-timeout" value="2"/>
				    </settings>
				  </configuration>
			EOF
		fi
		echo '</evcast>'
	} >"$EVC_TMP/$id.xml"
}

FAKE_PID=
fake_start() {
	# ip netns exec execs python: $! is the fake's own pid (killed at cleanup)
	ip netns exec "$(evc_ns A)" "$EVC_PY" "$FAKE" --port $FS_PORT --control-port $FS_CTL --password-file "$EVC_TMP/fs.pw" \
		--log "$EVC_TMP/fs.log" --db "$EVC_TMP/fs.db.json" --ipv4 "$ADDR_A" >>"$EVC_TMP/fs.out" 2>&1 &
	FAKE_PID=$!
	EVC_BG+=("$FAKE_PID")
	evc_wait_for 10 "fake FreeSWITCH listening" grep -q listening "$EVC_TMP/fs.out" ||
		evc_fail "fake FreeSWITCH did not start: $(cat "$EVC_TMP/fs.out")"
}
fake_stop() {
	kill "$FAKE_PID" 2>/dev/null || true
	wait "$FAKE_PID" 2>/dev/null || true
	: >"$EVC_TMP/fs.out"
}
# fs_has JQ: a line of the fake's command log matches.
fs_has() { evc_json_has "$EVC_TMP/fs.log" "$1" "${2:-1}"; }
fs_count() { evc_json_count "$EVC_TMP/fs.log" "$1"; }
fs_db() { jq -r --arg k "$1" '.[$k] // empty' "$EVC_TMP/fs.db.json" 2>/dev/null; }
fs_db_is() { [[ "$(fs_db "$1")" == "$2" ]]; }
# fs_emit TEXT: an event on the switch's own side (its SIP stack).
fs_emit() {
	evc_in A "$EVC_PY" -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode()); s.close()' $FS_CTL "$1"
}
located_on() { evc_cli "$1" locate "$2" >/dev/null 2>&1; }

# A's Lua script: each CUSTOM luatest::trigger makes it fire CUSTOM luatest::fired.
cat >"$EVC_TMP/fire.lua" <<'EOF'
local con = freeswitch.EventConsumer("CUSTOM", "luatest::trigger")
freeswitch.consoleLog("notice", "SIDECARLUA ready")
while true do
  local t = con:pop(1)
  if t then
    local e = freeswitch.Event("CUSTOM", "luatest::fired")
    e:addHeader("X-Lua-Seq", t:getHeader("X-Seq") or "?")
    e:fire()
  end
end
EOF

evc_step "network: A, B; fake FreeSWITCH in A's namespace with a password A does not know"
evc_lan A B
echo wrongpass >"$EVC_TMP/fs.pw"
: >"$EVC_TMP/fs.log"
fake_start
conf A yes
evc_daemon_start A A "$EVC_TMP/A.xml"
evc_listen A "$EVC_TMP/A.events"
evc_wait_for 5 "A logs the rejected password" grep -q "sidecar: FreeSWITCH at 127.0.0.1:$FS_PORT rejected the password" \
	"$EVC_TMP/A.log" || evc_fail "no clear auth failure line: $(grep sidecar "$EVC_TMP/A.log")"
evc_log "  $(grep 'rejected the password' "$EVC_TMP/A.log" | head -n 1)"
evc_wait_for 5 "A retried" fs_has '.cmd == "auth" and .ok == false' 2 || evc_fail "A did not retry"
evc_ok "auth failure logged and retried with backoff"

evc_step "correct password: A connects and subscribes"
echo ClueCon >"$EVC_TMP/fs.pw"
evc_wait_for 5 "A subscribed" fs_has '.cmd == "event" and (.events | index("sofia::register")) and (.events | index("CUSTOM"))' ||
	evc_fail "A did not subscribe: $(tail -n 3 "$EVC_TMP/fs.log")"
evc_wait_for 3 "A logs connected" grep -q "sidecar: connected to FreeSWITCH" "$EVC_TMP/A.log" || evc_fail "no connect line"
evc_ok "A authenticated and sent event plain with its bindings"

evc_step "B starts: its peerup is injected into the switch"
conf B no
evc_daemon_start B B "$EVC_TMP/B.xml"
evc_wait_for 8 "sendevent multicast::peerup Peer B" fs_has \
	'.cmd == "sendevent" and .name == "CUSTOM" and .headers["Event-Subclass"] == "multicast::peerup" and .headers.Peer == "B"' ||
	evc_fail "no peerup injected: $(grep sendevent "$EVC_TMP/fs.log" | tail -n 2)"
evc_ok "multicast::peerup for B injected"

evc_step "register on B -> injected as multicast::event with Orig- headers, and db insert"
evc_cli B send CUSTOM sofia::register -H 'profile-name: internal' -H 'from-user: 1000' -H 'from-host: example.test' \
	-H 'contact: <sip:1000@10.250.0.99:5060>' -H 'call-id: c-1000' -H 'expires: 300' -H 'status: Registered(UDP)' \
	>/dev/null || evc_fail "send failed"
INJ='.cmd == "sendevent" and .name == "CUSTOM" and .headers["Event-Subclass"] == "multicast::event"
	and .headers.Multicast == "yes" and .headers["Orig-Event-Subclass"] == "sofia::register"
	and .headers["Orig-from-user"] == "1000" and .headers["Orig-call-id"] == "c-1000"
	and .headers["Orig-Multicast-Sender"] == "B" and .headers["evcast-injected"] == "A"'
evc_wait_for 5 "injected sofia::register" fs_has "$INJ" ||
	evc_fail "not injected: $(grep sendevent "$EVC_TMP/fs.log" | tail -n 2)"
evc_wait_for 5 "db insert example.test/1000 = $ADDR_B" fs_db_is example.test/1000 "$ADDR_B" ||
	evc_fail "db not in step: $(cat "$EVC_TMP/fs.db.json"); $(grep api "$EVC_TMP/fs.log" | tail -n 3)"
fs_has ".cmd == \"api\" and .arg == \"db insert/example.test/1000/$ADDR_B\"" || evc_fail "api db insert line"
evc_ok "switch got sendevent CUSTOM multicast::event (Orig- headers) and api db insert/example.test/1000/$ADDR_B"
# The switch delivers the injected event back (the sidecar subscribes to multicast::event):
# it must not be fired into the node again.
sleep 0.5
n=$(evc_json_count "$EVC_TMP/A.events" "$EVC_JQ_MEVENT and .[\"Orig-from-user\"] == \"1000\"")
[[ $n -eq 1 ]] || evc_fail "A delivered the register $n times (want 1: the echo from the switch must be dropped)"
[[ $(fs_count "$INJ") -eq 1 ]] || evc_fail "the register was injected $(fs_count "$INJ") times"
evc_ok "the injected event came back from the switch and was dropped (delivered once, injected once)"

evc_step "register on the switch's SIP side -> cluster: locatable on B at node A"
fs_emit "Event-Name: CUSTOM
Event-Subclass: sofia::register
profile-name: internal
from-user: 2000
from-host: example.test
contact: <sip:2000@10.250.0.98:5060>
call-id: c-2000
expires: 300
status: Registered(UDP)"
evc_wait_for 5 "2000 located on B" located_on B 2000@example.test || evc_fail "B cannot locate 2000"
out=$(evc_cli B locate 2000@example.test)
[[ "$out" == "A $ADDR_A <sip:2000@10.250.0.98:5060>" ]] || evc_fail "B locates 2000 as '$out'"
evc_wait_for 5 "db example.test/2000 = $ADDR_A" fs_db_is example.test/2000 "$ADDR_A" || evc_fail "db 2000"
n=$(fs_count '.cmd == "sendevent" and .headers["Orig-from-user"] == "2000"')
[[ $n -eq 0 ]] || evc_fail "the switch's own register was injected back into it ($n)"
evc_ok "the switch's register reached B ('$out'); its db entry points at A"

evc_step "an event fired by a Lua script on A -> sendevent to the switch; its echo is dropped"
evc_wait_for 5 "A's Lua script ready" grep -q "SIDECARLUA ready" "$EVC_TMP/A.log" || evc_fail "fire.lua did not start"
evc_cli A send CUSTOM luatest::trigger -H 'X-Seq: 7' >/dev/null || evc_fail "send failed"
LUAINJ='.cmd == "sendevent" and .name == "CUSTOM" and .headers["Event-Subclass"] == "luatest::fired"
	and .headers["X-Lua-Seq"] == "7" and .headers["evcast-injected"] == "A"'
evc_wait_for 5 "sendevent CUSTOM luatest::fired" fs_has "$LUAINJ" ||
	evc_fail "the Lua-fired event did not reach the switch: $(grep sendevent "$EVC_TMP/fs.log" | tail -n 2)"
# The switch echoes it to A's session (bindings include luatest::fired): dropped, not fired again.
LUAEV='.["Event-Name"] == "CUSTOM" and .["Event-Subclass"] == "luatest::fired" and .["X-Lua-Seq"] == "7"'
evc_wait_for 5 "A delivers the Lua event" evc_json_has "$EVC_TMP/A.events" "$LUAEV" || evc_fail "A never delivered it"
sleep 0.5
n=$(evc_json_count "$EVC_TMP/A.events" "$LUAEV")
[[ $n -eq 1 ]] || evc_fail "A delivered the Lua-fired event $n times (want 1: the switch's echo must be dropped)"
[[ $(fs_count "$LUAINJ") -eq 1 ]] || evc_fail "the Lua-fired event was injected $(fs_count "$LUAINJ") times"
[[ $(fs_count '.cmd == "sendevent" and .headers["Event-Subclass"] == "luatest::trigger"') -eq 0 ]] ||
	evc_fail "the CLI's trigger event (not Lua-fired, not cluster traffic) was injected"
evc_ok "Lua fire -> sendevent CUSTOM luatest::fired (evcast-injected: A) once; the echo was dropped (delivered once)"

evc_step "two registrations of 3000 on B, one unregistered: the db entry stays"
for cid in c-3000a c-3000b; do
	evc_cli B send CUSTOM sofia::register -H 'profile-name: internal' -H 'from-user: 3000' -H 'from-host: example.test' \
		-H "contact: <sip:3000@10.250.0.97;$cid>" -H "call-id: $cid" -H 'expires: 300' >/dev/null || evc_fail "send failed"
done
evc_wait_for 5 "db example.test/3000 = $ADDR_B" fs_db_is example.test/3000 "$ADDR_B" || evc_fail "db 3000"
evc_cli B send CUSTOM sofia::unregister -H 'profile-name: internal' -H 'from-user: 3000' -H 'from-host: example.test' \
	-H 'call-id: c-3000a' >/dev/null || evc_fail "send failed"
evc_wait_for 5 "3000 down to one registration on A" eval \
	'[[ $(evc_cli A registrations --user 3000 --json | jq .row_count) -eq 1 ]]' || evc_fail "unregister of c-3000a"
sleep 0.3
fs_db_is example.test/3000 "$ADDR_B" || evc_fail "db entry of 3000 removed while c-3000b is still registered"
fs_has '.cmd == "api" and .arg == "db delete/example.test/3000"' && evc_fail "db delete sent for 3000"
evc_ok "mod_db keeps example.test/3000 while one of its registrations remains"

evc_step "unregister on B -> api db delete"
evc_cli B send CUSTOM sofia::unregister -H 'profile-name: internal' -H 'from-user: 1000' -H 'from-host: example.test' \
	-H 'call-id: c-1000' >/dev/null || evc_fail "send failed"
evc_wait_for 5 "db delete example.test/1000" fs_has '.cmd == "api" and .arg == "db delete/example.test/1000"' ||
	evc_fail "no db delete: $(grep api "$EVC_TMP/fs.log" | tail -n 3)"
[[ -z "$(fs_db example.test/1000)" ]] || evc_fail "db still has 1000"
evc_ok "api db delete/example.test/1000"

evc_step "switch restarts: the sidecar reconnects and re-sends the live locations"
fake_stop
echo '{}' >"$EVC_TMP/fs.db.json"
auths=$(fs_count '.cmd == "auth" and .ok == true')
fake_start
evc_wait_for 8 "re-authenticated" fs_has '.cmd == "auth" and .ok == true' $((auths + 1)) || evc_fail "no reconnect"
evc_wait_for 5 "db re-synced" fs_db_is example.test/2000 "$ADDR_A" || evc_fail "db not re-synced: $(cat "$EVC_TMP/fs.db.json")"
[[ -z "$(fs_db example.test/1000)" ]] || evc_fail "the unregistered 1000 was re-sent"
evc_ok "reconnected; mod_db holds example.test/2000 = $ADDR_A again"
