#!/usr/bin/env bash
# it_legacy_cluster.sh -- three evcastd hosts, legacy plaintext wire format.
#
# Topology: hosts A, B, C in their own network namespaces on a private bridge
# (scripts/netns.sh lan); group 239.255.42.1:4242, TTL 1, heartbeat 1 s, peer
# timeout 3 s. Checks, in order: heartbeats bring every peer UP (text and
# --json); an event sent on A reaches B and C once as CUSTOM multicast::event
# with its Orig- headers, A does not hear itself; kill -9 of C takes it DOWN on
# A and B within the timeout with a multicast::peerdown, and its restart brings
# a peerup with a Lastseen; SIGHUP applies a changed binding and rejects broken
# files (the daemon keeps running with the old config in force). Also: the
# peers text is the legacy one, the control socket is mode 0660.
source "$(dirname "$0")/lib.sh"
evc_require

GROUP=239.255.42.1
PORT=4242
HB=1
TIMEOUT=3
BASE_BINDINGS="HEARTBEAT CUSTOM sofia::register sofia::unregister"

# conf ID [BINDINGS] [NODE]: config of daemon ID (node-name NODE, default ID)
# into $EVC_TMP/ID.xml.
conf() {
	local id=$1 bindings=${2:-$BASE_BINDINGS} node=${3:-$1}
	evc_conf "$EVC_TMP/$id.xml" address=$GROUP port=$PORT "bindings=$bindings" ttl=1 loopback=no \
		node-name="$node" multicast-interface=eth0 heartbeat-interval=$HB peer-timeout=$TIMEOUT \
		control-socket="$EVC_TMP/$id.sock" log-level=info
}

evc_step "network: A, B, C on a private bridge"
evc_lan A B C

evc_step "start A (listening first, to see every peerup), then B and C"
conf A
evc_daemon_start A A "$EVC_TMP/A.xml"
evc_listen A "$EVC_TMP/A.events"
for id in B C; do
	conf $id
	evc_daemon_start $id $id "$EVC_TMP/$id.xml"
done
evc_listen B "$EVC_TMP/B.events"
evc_listen C "$EVC_TMP/C.events"

evc_step "heartbeats: every node sees the other two UP"
for id in A B C; do
	for p in A B C; do
		[[ $id == "$p" ]] && continue
		evc_wait_for $((TIMEOUT + 5)) "$id sees $p UP" evc_peer_is $id $p UP ||
			evc_fail "$id does not see $p UP: $(evc_cli $id peers)"
	done
done
evc_ok "all peers UP"
evc_cli A peers
# The legacy multicast_peers text: exactly one line per peer in FreeSWITCH's form.
peers_text=$(evc_cli A peers)
n=$(grep -c -E '^Peer [BC] UP; last seen [0-9]+ seconds ago$' <<<"$peers_text" || true)
[[ $n -eq 2 ]] || evc_fail "peers text: want 2 'Peer NAME UP; last seen N seconds ago' lines, got $n: $peers_text"
grep -E "^Destination: $GROUP port $PORT " >/dev/null <<<"$peers_text" ||
	evc_fail "peers text does not list the destination $GROUP port $PORT: $peers_text"
evc_ok "peers text in the legacy form, with the destination"
mode=$(stat -c %a "$EVC_TMP/A.sock")
[[ $mode == 660 ]] || evc_fail "control socket mode is $mode (want 660)"
evc_ok "control socket mode 0660"
evc_cli A peers --json >"$EVC_TMP/A.peers.json" || evc_fail "evcast peers --json failed"
jq -e '.peers | type == "array"' "$EVC_TMP/A.peers.json" >/dev/null ||
	evc_fail "peers --json does not parse or has no peers array: $(cat "$EVC_TMP/A.peers.json")"
for p in B C; do
	jq -e --arg p $p '[.peers[] | select(.name == $p and (.status == "UP" or .up == true))] | length == 1' \
		"$EVC_TMP/A.peers.json" >/dev/null || evc_fail "peers --json on A: $p not up: $(cat "$EVC_TMP/A.peers.json")"
done
evc_ok "peers --json parses and lists B and C up"
for p in B C; do
	evc_wait_for 3 "multicast::peerup for $p on A" evc_json_has "$EVC_TMP/A.events" \
		".[\"Event-Subclass\"] == \"multicast::peerup\" and .Peer == \"$p\" and .Lastseen == \"Never\"" ||
		evc_fail "A delivered no multicast::peerup for $p with Lastseen Never: \
$(grep multicast::peerup "$EVC_TMP/A.events" | head -n 2)"
done
evc_ok "A delivered multicast::peerup for B and C"

evc_step "event on A arrives on B and C with Orig- headers"
evc_cli A send CUSTOM sofia::register -H 'from-user: 1000' -H 'from-host: example.test' \
	-H 'profile-name: internal' -H 'contact: "1000" <sip:1000@10.250.0.99:5060;transport=udp>' ||
	evc_fail "evcast send failed"
REG="$EVC_JQ_MEVENT"' and .["Orig-Event-Subclass"] == "sofia::register" and .["Orig-from-user"] == "1000"
	and .["Orig-Multicast-Sender"] == "A" and .["Orig-Event-Name"] == "CUSTOM"
	and .["Orig-contact"] == "\"1000\" <sip:1000@10.250.0.99:5060;transport=udp>"'
for id in B C; do
	evc_wait_for 5 "sofia::register from A on $id" evc_json_has "$EVC_TMP/$id.events" "$REG" ||
		evc_fail "$id did not deliver the event: $(grep -c . "$EVC_TMP/$id.events") lines, \
last: $(grep multicast::event "$EVC_TMP/$id.events" | tail -n 2)"
done
evc_ok "B and C delivered CUSTOM multicast::event with Orig-Event-Subclass sofia::register, Orig-from-user 1000"
# Barrier: a second event, then exactly one copy of the first everywhere (no
# loops: received events and multicast::* are never re-sent).
evc_cli A send CUSTOM sofia::unregister -H 'from-user: 1000' -H 'barrier: 1' || evc_fail "evcast send failed"
BARRIER="$EVC_JQ_MEVENT"' and .["Orig-Event-Subclass"] == "sofia::unregister" and .["Orig-barrier"] == "1"'
for id in B C; do
	evc_wait_for 5 "barrier event on $id" evc_json_has "$EVC_TMP/$id.events" "$BARRIER" ||
		evc_fail "$id did not deliver the second event"
	n=$(evc_json_count "$EVC_TMP/$id.events" "$REG")
	[[ $n -eq 1 ]] || evc_fail "$id delivered the event $n times (want 1)"
done
n=$(evc_json_count "$EVC_TMP/A.events" "$EVC_JQ_MEVENT and .[\"Orig-Multicast-Sender\"] == \"A\"")
[[ $n -eq 0 ]] || evc_fail "A delivered $n of its own events back to itself as multicast::event"
n=$(evc_json_count "$EVC_TMP/A.events" '.["Event-Subclass"] == "sofia::register" and .["from-user"] == "1000"')
[[ $n -eq 1 ]] || evc_fail "A's own listener saw the local event $n times (want 1)"
evc_ok "exactly one copy on B and C, none echoed back to A"

evc_step "SIGHUP: a changed binding is applied"
PROBE="$EVC_JQ_MEVENT"' and .["Orig-Event-Subclass"] == "evcast::probe"'
evc_cli A send CUSTOM evcast::probe -H 'round: 1' || evc_fail "evcast send failed"
evc_cli A send CUSTOM sofia::unregister -H 'barrier: 2' || evc_fail "evcast send failed"
evc_wait_for 5 "barrier 2 on B" evc_json_has "$EVC_TMP/B.events" \
	"$EVC_JQ_MEVENT and .[\"Orig-barrier\"] == \"2\"" || evc_fail "B did not deliver barrier 2"
[[ $(evc_json_count "$EVC_TMP/B.events" "$PROBE") -eq 0 ]] ||
	evc_fail "evcast::probe was sent before it was bound"
reloads0=$(evc_stat A reloads)
conf A "$BASE_BINDINGS evcast::probe"
evc_daemon_hup A
evc_wait_for 5 "A counts the reload" evc_stat_ge A reloads $((reloads0 + 1)) ||
	evc_fail "reload not applied (reloads=$(evc_stat A reloads)); log: $(tail -n 5 "$EVC_TMP/A.log")"
evc_cli A send CUSTOM evcast::probe -H 'round: 2' || evc_fail "evcast send failed"
evc_wait_for 5 "evcast::probe on B after the reload" evc_json_has "$EVC_TMP/B.events" \
	"$PROBE and .[\"Orig-round\"] == \"2\"" || evc_fail "new binding not in force after SIGHUP"
evc_ok "binding added by SIGHUP is in force"
for id in B C; do
	evc_peer_is A $id UP || evc_fail "A lost peer $id across the reload"
done
evc_ok "peer table kept across the reload"

evc_step "SIGHUP: broken files are rejected, the old config stays in force"
# A rejected file is reported in the log and counted in config_errors (the
# node's reload_failures counts configs that parsed but could not be applied).
log_has() { grep -c -E "$2" "$EVC_TMP/$1.log" || true; }
rej0=$(log_has A 'reload: .*rejected')
cerr0=$(evc_stat A config_errors)
cp "$EVC_TMP/A.xml" "$EVC_TMP/A.good.xml"
printf '<configuration name="event_multicast.conf">\n  <settings>\n    <param name="port" value="4242"\n' \
	>"$EVC_TMP/A.xml"
evc_daemon_hup A
evc_wait_for 5 "A logs the rejected reload (malformed XML)" \
	eval '[[ $(log_has A "reload: .*rejected") -ge $((rej0 + 1)) ]]' ||
	evc_fail "malformed XML not reported: $(tail -n 3 "$EVC_TMP/A.log")"
evc_alive A || evc_fail "A died on a malformed config"
evc_log "  $(grep 'reload: .*rejected' "$EVC_TMP/A.log" | tail -n 1)"
sed -e 's/name="port" value="4242"/name="port" value="70000"/' "$EVC_TMP/A.good.xml" >"$EVC_TMP/A.xml"
evc_daemon_hup A
evc_wait_for 5 "A logs the rejected reload (port 70000)" \
	eval '[[ $(log_has A "reload: .*rejected") -ge $((rej0 + 2)) ]]' ||
	evc_fail "port 70000 not reported: $(tail -n 3 "$EVC_TMP/A.log")"
evc_alive A || evc_fail "A died on an invalid config"
line=$(grep 'reload: .*rejected' "$EVC_TMP/A.log" | tail -n 1)
evc_log "  $line"
[[ "$line" == *port* && "$line" == *70000* && "$line" == *A.xml:* ]] ||
	evc_fail "the rejection does not name file:line, the param and the value: $line"
[[ $(evc_stat A reloads) -eq $((reloads0 + 1)) ]] || evc_fail "a rejected file was counted as applied"
[[ $(evc_stat A config_errors) -eq $((cerr0 + 2)) ]] || evc_fail "config_errors did not count the 2 rejected files"
evc_cli A send CUSTOM evcast::probe -H 'round: 3' || evc_fail "evcast send failed"
evc_wait_for 5 "evcast::probe round 3 on B" evc_json_has "$EVC_TMP/B.events" \
	"$PROBE and .[\"Orig-round\"] == \"3\"" || evc_fail "old config not in force after a rejected reload"
evc_ok "malformed and invalid configs rejected; A still serving with its previous config"
cp "$EVC_TMP/A.good.xml" "$EVC_TMP/A.xml"

evc_step "kill -9 C: A and B report it DOWN within the peer timeout"
evc_daemon_kill9 C
t0=$(date +%s.%N)
for id in A B; do
	evc_wait_for $((TIMEOUT + HB + 3)) "$id sees C DOWN" evc_peer_is $id C DOWN ||
		evc_fail "$id still reports C as $(evc_peer_state $id C)"
done
dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
# C's last heartbeat left at most HB seconds before the kill: DOWN any earlier
# than TIMEOUT - HB after it would mean the timeout is not honoured.
awk -v d="$dt" -v t=$TIMEOUT -v h=$HB 'BEGIN {exit !(d >= t - h - 0.5)}' ||
	evc_fail "C went DOWN ${dt}s after the kill, before the ${TIMEOUT}s peer timeout"
evc_ok "C DOWN on A and B after ${dt}s (peer-timeout ${TIMEOUT}s, heartbeat ${HB}s)"
for id in A B; do
	evc_wait_for 2 "multicast::peerdown for C on $id" evc_json_has "$EVC_TMP/$id.events" \
		'.["Event-Subclass"] == "multicast::peerdown" and .Peer == "C"' ||
		evc_fail "$id delivered no multicast::peerdown for C"
done
evc_peer_is A B UP || evc_fail "A lost B while C was down"
evc_ok "multicast::peerdown delivered on A and B"

evc_step "restart C: peerup again, Lastseen now a time"
conf C2 "$BASE_BINDINGS" C
evc_daemon_start C2 C "$EVC_TMP/C2.xml"
for id in A B; do
	evc_wait_for $((HB + 4)) "$id sees C UP again" evc_peer_is $id C UP ||
		evc_fail "$id does not see the restarted C: $(evc_cli $id peers)"
done
LASTSEEN='.["Event-Subclass"] == "multicast::peerup" and .Peer == "C" and (.Lastseen | test("^[0-9]+$"))'
evc_wait_for 2 "second multicast::peerup for C on A" evc_json_has "$EVC_TMP/A.events" "$LASTSEEN" ||
	evc_fail "A's second peerup for C has no numeric Lastseen: \
$(grep multicast::peerup "$EVC_TMP/A.events" | tail -n 1)"
evc_ok "C back UP on A and B; peerup carries Lastseen"
