#!/usr/bin/env bash
# it_presence.sh -- presence relay (presence.conf) between two evcastd hosts.
#
# Topology: A and B in their own network namespaces on a private bridge, both
# with presence.conf and PRESENCE_IN + CHANNEL_STATE in their bindings. Checks:
# a PRESENCE_IN fired on A becomes a local PRESENCE_IN on B (headers kept,
# marked evcast-presence-relay: A); a CHANNEL_STATE with Channel-State
# CS_ROUTING / CS_EXECUTE becomes answer-state confirmed, CS_HANGUP terminated,
# an unlisted state (CS_INIT) nothing; the relayed event that B sends on (its
# bindings include PRESENCE_IN) is not relayed back by A (no loop).
source "$(dirname "$0")/lib.sh"
evc_require

GROUP=239.255.42.6
PORT=4242

conf() {
	local id=$1
	evc_conf_blocks "$EVC_TMP/$id.xml" "address=$GROUP" "port=$PORT" \
		"bindings=HEARTBEAT PRESENCE_IN CHANNEL_STATE" "node-name=$id" "multicast-interface=eth0" \
		"heartbeat-interval=1" "control-socket=$EVC_TMP/$id.sock" "log-level=info" presence.conf \
		"enabled=yes"
}

evc_step "network: A and B; daemons with presence.conf"
evc_lan A B
for id in A B; do
	conf $id
	evc_daemon_start $id $id "$EVC_TMP/$id.xml"
	grep -q "presence: relay started" "$EVC_TMP/$id.log" || evc_fail "$id: relay not started"
done
evc_listen A "$EVC_TMP/A.events"
evc_listen B "$EVC_TMP/B.events"

LOCAL_PIN='.["Event-Name"] == "PRESENCE_IN" and .["evcast-presence-relay"] == "A"'

evc_step "PRESENCE_IN on A -> local PRESENCE_IN on B"
evc_cli A send PRESENCE_IN -H 'proto: sip' -H 'from: 1000@example.test' -H 'login: 1000@example.test' \
	-H 'answer-state: early' -H 'presence-call-direction: inbound' >/dev/null || evc_fail "send failed"
evc_wait_for 5 "relayed PRESENCE_IN on B" evc_json_has "$EVC_TMP/B.events" \
	"$LOCAL_PIN and .from == \"1000@example.test\" and .[\"answer-state\"] == \"early\" and .proto == \"sip\"" ||
	evc_fail "B did not relay PRESENCE_IN: $(grep PRESENCE_IN "$EVC_TMP/B.events" | head -n 3)"
evc_ok "B fired PRESENCE_IN from 1000@example.test (answer-state early, relayed from A)"

evc_step "channel states on A -> confirmed / terminated PRESENCE_IN on B"
evc_cli A send CHANNEL_STATE -H 'Channel-State: CS_ROUTING' -H 'from: 1001@example.test' \
	-H 'Unique-ID: u-1' >/dev/null || evc_fail "send failed"
evc_cli A send CHANNEL_STATE -H 'Channel-State: CS_INIT' -H 'from: 1002@example.test' >/dev/null ||
	evc_fail "send failed"
evc_cli A send CHANNEL_STATE -H 'Channel-State: CS_HANGUP' -H 'from: 1001@example.test' \
	-H 'Unique-ID: u-1' >/dev/null || evc_fail "send failed"
evc_wait_for 5 "confirmed on B" evc_json_has "$EVC_TMP/B.events" \
	"$LOCAL_PIN and .from == \"1001@example.test\" and .[\"answer-state\"] == \"confirmed\" and .login == \"1001@example.test\"
	 and .[\"alt_event_type\"] == \"dialog\" and .[\"Unique-ID\"] == \"u-1\"" || evc_fail "no confirmed PRESENCE_IN on B"
evc_wait_for 5 "terminated on B" evc_json_has "$EVC_TMP/B.events" \
	"$LOCAL_PIN and .from == \"1001@example.test\" and .[\"answer-state\"] == \"terminated\"" ||
	evc_fail "no terminated PRESENCE_IN on B"
[[ $(evc_json_count "$EVC_TMP/B.events" "$LOCAL_PIN and .from == \"1002@example.test\"") -eq 0 ]] ||
	evc_fail "CS_INIT was relayed"
evc_ok "CS_ROUTING -> confirmed, CS_HANGUP -> terminated, CS_INIT ignored"

evc_step "no loop: B's relayed events reach A but A does not relay them again"
evc_wait_for 5 "B's relayed PRESENCE_IN seen on A as multicast::event" evc_json_has "$EVC_TMP/A.events" \
	"$EVC_JQ_MEVENT and .[\"Orig-evcast-presence-relay\"] == \"A\"" ||
	evc_fail "B did not send its relayed event on (bindings include PRESENCE_IN)"
sleep 0.5
n=$(evc_json_count "$EVC_TMP/A.events" '.["Event-Name"] == "PRESENCE_IN" and has("evcast-presence-relay")')
[[ $n -eq 0 ]] || evc_fail "A relayed $n already-relayed event(s)"
n=$(evc_json_count "$EVC_TMP/B.events" '.["Event-Name"] == "PRESENCE_IN" and has("evcast-presence-relay")')
[[ $n -eq 3 ]] || evc_fail "B fired $n relayed PRESENCE_IN (want 3)"
evc_ok "exactly 3 relayed events on B, none on A"
