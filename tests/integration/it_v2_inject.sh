#!/usr/bin/env bash
# it_v2_inject.sh -- hostile datagrams against a keyed wire-protocol-v2 node.
#
# Topology: host D (evcastd, protocol v2, one key) and host X (the injector,
# tests/tools/evcast_inject.c, $EVCAST_INJECT) on a private bridge, group
# 239.255.42.8:4248. For every case of `evcast_inject --list` (tampered header,
# ciphertext or tag; replayed DATA, ANNOUNCE, earlier epoch, stale capture;
# truncated; forged with an unknown key id or a wrong key; plaintext; bad
# version) it asserts that D counts exactly one drop, under the reason the case
# names, in `evcast stats` "v2_drops" (no other reason moves), and delivers
# only the valid datagrams the case sent first (Inject-Case header, sender
# "injector", Multicast-Authenticated true) -- nothing of the hostile ones.
source "$(dirname "$0")/lib.sh"
evc_require
: "${EVCAST_INJECT:=$(dirname "$EVCAST")/evcast_inject}"
[[ -x "$EVCAST_INJECT" ]] || evc_fail "evcast_inject not found (set EVCAST_INJECT; built with EVCAST_TESTS=ON)"

GROUP=239.255.42.8
PORT=4248
KEY=$("$EVCAST" keygen --id 5) || evc_fail "evcast keygen failed"
X_ADDR=$(evc_netns_host_addr 2)

evc_step "network: D (evcastd, v2, key id 5) and X (injector) on a private bridge"
evc_lan D X
evc_conf "$EVC_TMP/D.xml" address=$GROUP port=$PORT "bindings=HEARTBEAT" ttl=1 loopback=no node-name=D \
	multicast-interface=eth0 heartbeat-interval=1 peer-timeout=5 control-socket="$EVC_TMP/D.sock" \
	log-level=warning protocol=v2 "v2-keys=$KEY"
evc_daemon_start D D "$EVC_TMP/D.xml"
evc_listen D "$EVC_TMP/D.events" HEARTBEAT CUSTOM multicast::event

inject() { evc_in X "$EVCAST_INJECT" --group $GROUP --port $PORT --ifaddr "$X_ADDR" --key "$KEY" "$@"; }
drops() { evc_stats D | jq -c '.v2_drops // {}'; }
delivered() { evc_json_count "$EVC_TMP/D.events" ".[\"Orig-Inject-Case\"] == \"$1\""; }
# counter_is REASON VALUE
counter_is() { [[ "$(drops | jq -r --arg r "$1" '.[$r] // 0')" -eq "$2" ]]; }

evc_step "every case: rejected and counted under its reason, or delivered when valid"
mapfile -t CASES < <("$EVCAST_INJECT" --list | awk '{print $1}')
[[ ${#CASES[@]} -ge 12 ]] || evc_fail "evcast_inject --list gave ${#CASES[@]} cases"
total_checked=0
for c in "${CASES[@]}"; do
	before=$(drops)
	out=$(inject "$c") || evc_fail "injector failed on case $c"
	expect=${out##*expect=}
	case $c in
	valid | replay-data | replay-control | replay-old-epoch) want_ev=1 ;;
	*) want_ev=0 ;;
	esac
	if [[ $expect == delivered ]]; then
		evc_wait_for 5 "case $c delivered" evc_json_has "$EVC_TMP/D.events" ".[\"Orig-Inject-Case\"] == \"$c\"" ||
			evc_fail "case $c: the valid datagram was not delivered (drops now $(drops))"
	else
		want=$(($(jq -r --arg r "$expect" '.[$r] // 0' <<<"$before") + 1))
		evc_wait_for 5 "case $c counted under $expect" counter_is "$expect" "$want" ||
			evc_fail "case $c: v2_drops.$expect is not $want: before $before, after $(drops)"
		[[ $want_ev -eq 0 ]] || evc_wait_for 5 "case $c: its first, valid datagram delivered" \
			evc_json_has "$EVC_TMP/D.events" ".[\"Orig-Inject-Case\"] == \"$c\"" ||
			evc_fail "case $c: the valid datagram sent first was not delivered"
	fi
	sleep 0.2 # anything late (a second copy) would show now
	after=$(drops)
	# exactly one reason moved, by one (none for the valid case)
	moved=$(jq -n -c --argjson a "$before" --argjson b "$after" \
		'[$b | to_entries[] | select(.value != ($a[.key] // 0)) | {(.key): (.value - ($a[.key] // 0))}] | add // {}')
	if [[ $expect == delivered ]]; then
		[[ $moved == '{}' ]] || evc_fail "case $c: valid datagram, yet drops moved: $moved"
	else
		[[ $moved == "{\"$expect\":1}" ]] || evc_fail "case $c: expected {\"$expect\":1}, drops moved $moved"
	fi
	got=$(delivered "$c")
	[[ $got -eq $want_ev ]] || evc_fail "case $c: $got events delivered, expected $want_ev"
	evc_ok "$(printf '%-20s -> %-10s drops moved %s, delivered %s' "$c" "$expect" "$moved" "$got")"
	total_checked=$((total_checked + 1))
done

evc_step "delivered injector events carry the authenticated identity"
n=$(evc_json_count "$EVC_TMP/D.events" "$EVC_JQ_MEVENT"' and .["Orig-Inject-Case"] != null
	and .["Multicast-Protocol"] == "v2" and .["Multicast-Authenticated"] == "true"
	and .["Orig-Multicast-Sender"] == "injector" and (.["Multicast-Node-Id"] | length) == 32')
[[ $n -eq 4 ]] || evc_fail "expected 4 authenticated v2 events from the injector, got $n: \
$(grep Inject-Case "$EVC_TMP/D.events" | head -n 2)"
evc_ok "4 valid datagrams delivered with Multicast-Authenticated true and the injector's node id"
total=$(evc_stat D v2_drops_total)
[[ $total -eq $((total_checked - 1)) ]] || evc_fail "v2_drops_total is $total, expected $((total_checked - 1))"
evc_ok "$total hostile datagrams, each counted once (v2_drops_total $total)"
evc_alive D || evc_fail "evcastd died"
