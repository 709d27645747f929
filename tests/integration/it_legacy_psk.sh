#!/usr/bin/env bash
# it_legacy_psk.sh -- legacy wire format with a pre-shared key (Blowfish-CBC).
#
# Topology: five hosts on a private bridge, group 239.255.42.2:4242: A, B, C
# share the PSK; D has a wrong PSK; E has none (plaintext). Checks: A, B, C
# see each other UP and never D or E; an event sent on A reaches B and C with
# its Orig- headers and never D; D's drop_psk grows, its listener delivers no
# multicast::event, and A counts E's plaintext datagrams in drop_plain (and D's
# in drop_psk); kill -9 of C takes it DOWN on A and B; SIGHUP giving D the
# right key brings D into the cluster (it sees A, B UP and receives events).
source "$(dirname "$0")/lib.sh"
evc_require

GROUP=239.255.42.2
PORT=4242
HB=1
TIMEOUT=3
PSK='Cluster-Secret!2024 & <more>'
WRONG='Cluster-Secret!2025'
BINDINGS="HEARTBEAT CUSTOM sofia::register sofia::unregister"

# conf ID PSK: config of node ID (empty PSK: no psk param) into $EVC_TMP/ID.xml.
conf() {
	local id=$1 psk=$2 extra=()
	[[ -n "$psk" ]] && extra=("psk=$psk")
	evc_conf "$EVC_TMP/$id.xml" address=$GROUP port=$PORT "bindings=$BINDINGS" ttl=1 \
		"${extra[@]}" node-name="$id" multicast-interface=eth0 heartbeat-interval=$HB \
		peer-timeout=$TIMEOUT control-socket="$EVC_TMP/$id.sock" log-level=info
}

evc_step "network: A, B, C (psk), D (wrong psk), E (plaintext) on a private bridge"
evc_lan A B C D E
conf A "$PSK"
conf B "$PSK"
conf C "$PSK"
conf D "$WRONG"
conf E ""
for id in A B C D E; do
	evc_daemon_start $id $id "$EVC_TMP/$id.xml"
	evc_listen $id "$EVC_TMP/$id.events"
done

evc_step "A, B, C see each other UP"
for id in A B C; do
	for p in A B C; do
		[[ $id == "$p" ]] && continue
		evc_wait_for $((TIMEOUT + 5)) "$id sees $p UP" evc_peer_is $id $p UP ||
			evc_fail "$id does not see $p UP: $(evc_cli $id peers)"
	done
done
evc_ok "psk cluster formed"
evc_cli A peers

evc_step "drop counters: D drops psk, A drops plaintext (E) and wrong-key (D) datagrams"
evc_wait_for 5 "D's drop_psk > 0" evc_stat_ge D drop_psk 1 || evc_fail "D counts no psk drops: $(evc_stats D)"
d1=$(evc_stat D drop_psk)
evc_wait_for 5 "D's drop_psk grows" evc_stat_ge D drop_psk $((d1 + 2)) ||
	evc_fail "D's drop_psk stays at $(evc_stat D drop_psk)"
evc_ok "D drop_psk $d1 -> $(evc_stat D drop_psk)"
evc_wait_for 5 "A's drop_plain > 0" evc_stat_ge A drop_plain 1 ||
	evc_fail "A counts no plaintext drops: $(evc_stats A)"
evc_wait_for 5 "A's drop_psk > 0" evc_stat_ge A drop_psk 1 ||
	evc_fail "A counts no wrong-psk drops: $(evc_stats A)"
evc_ok "A drop_plain $(evc_stat A drop_plain), drop_psk $(evc_stat A drop_psk)"
for id in A B C; do
	for p in D E; do
		[[ $(evc_peer_state $id $p) == NONE ]] || evc_fail "$id lists $p as a peer: $(evc_cli $id peers)"
	done
done
for p in A B C E; do
	[[ $(evc_peer_state D $p) == NONE ]] || evc_fail "D (wrong psk) lists $p as a peer: $(evc_cli D peers)"
done
evc_ok "no peer across key boundaries"

evc_step "event on A arrives on B and C, never on D"
evc_cli A send CUSTOM sofia::register -H 'from-user: 1000' -H 'from-host: example.test' \
	-H 'profile-name: internal' || evc_fail "evcast send failed"
REG="$EVC_JQ_MEVENT"' and .["Orig-Event-Subclass"] == "sofia::register" and .["Orig-from-user"] == "1000"
	and .["Orig-Multicast-Sender"] == "A"'
for id in B C; do
	evc_wait_for 5 "sofia::register from A on $id" evc_json_has "$EVC_TMP/$id.events" "$REG" ||
		evc_fail "$id did not deliver the encrypted event"
done
evc_ok "B and C delivered it with Orig- headers"
# D must have seen the datagram (its drop_psk keeps growing) yet delivered nothing.
d2=$(evc_stat D drop_psk)
evc_wait_for 5 "D drops more datagrams" evc_stat_ge D drop_psk $((d2 + 1)) || evc_fail "D stopped receiving"
n=$(evc_json_count "$EVC_TMP/D.events" '.["Event-Subclass"] == "multicast::event"')
[[ $n -eq 0 ]] || evc_fail "D (wrong psk) delivered $n multicast::event"
n=$(evc_json_count "$EVC_TMP/E.events" '.["Event-Subclass"] == "multicast::event"')
[[ $n -eq 0 ]] || evc_fail "E (no psk) delivered $n multicast::event from encrypted datagrams"
n=$(evc_json_count "$EVC_TMP/A.events" '.["Event-Subclass"] == "multicast::event" and .["Orig-Multicast-Sender"] == "E"')
[[ $n -eq 0 ]] || evc_fail "A delivered E's plaintext datagrams"
evc_ok "D and E delivered nothing from the psk cluster; A nothing from E"

evc_step "kill -9 C: A and B report it DOWN"
evc_daemon_kill9 C
for id in A B; do
	evc_wait_for $((TIMEOUT + HB + 3)) "$id sees C DOWN" evc_peer_is $id C DOWN ||
		evc_fail "$id still reports C as $(evc_peer_state $id C)"
	evc_wait_for 2 "multicast::peerdown for C on $id" evc_json_has "$EVC_TMP/$id.events" \
		'.["Event-Subclass"] == "multicast::peerdown" and .Peer == "C"' ||
		evc_fail "$id delivered no multicast::peerdown for C"
done
evc_ok "C DOWN on A and B"

evc_step "SIGHUP gives D the right key: D joins"
conf D "$PSK"
evc_daemon_hup D
for p in A B; do
	evc_wait_for $((HB + 5)) "D sees $p UP" evc_peer_is D $p UP ||
		evc_fail "D with the right key does not see $p: $(evc_cli D peers)"
	evc_wait_for $((HB + 5)) "$p sees D UP" evc_peer_is $p D UP ||
		evc_fail "$p does not see D after its key change: $(evc_cli $p peers)"
done
evc_cli A send CUSTOM sofia::register -H 'from-user: 2000' || evc_fail "evcast send failed"
evc_wait_for 5 "event from A on D" evc_json_has "$EVC_TMP/D.events" \
	"$EVC_JQ_MEVENT"' and .["Orig-from-user"] == "2000" and .["Orig-Multicast-Sender"] == "A"' ||
	evc_fail "D did not deliver A's event after the reload"
evc_ok "D in the cluster after reloading the key"
