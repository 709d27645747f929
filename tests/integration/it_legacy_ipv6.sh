#!/usr/bin/env bash
# it_legacy_ipv6.sh -- legacy wire format over IPv6 multicast, and dual stack.
#
# Topology: hosts A, B on a private bridge (scripts/netns.sh lan), eth0 with
# its link-local IPv6 address only. A and B send to the link-scoped group
# ff12::4242:7 and to 239.255.42.7 (one port, both families), heartbeat 1 s,
# peer timeout 3 s. Checks: both groups are joined on eth0; heartbeats bring
# the peer UP both ways; B's peer entry comes from an IPv6 (fe80::) address
# when A speaks IPv6 only (after a SIGHUP that drops the IPv4 group: sockets
# re-bound, peer kept); an event sent on A reaches B with its Orig- headers.
source "$(dirname "$0")/lib.sh"
evc_require

GROUP6=ff12::4242:7
GROUP4=239.255.42.7
PORT=4247

conf() {
	local id=$1 address=$2
	evc_conf "$EVC_TMP/$id.xml" "address=$address" port=$PORT "bindings=HEARTBEAT CUSTOM sofia::register" \
		ttl=1 loopback=no node-name="$id" multicast-interface=eth0 heartbeat-interval=1 peer-timeout=3 \
		control-socket="$EVC_TMP/$id.sock" log-level=info
}

evc_step "network: A, B on a private bridge (IPv6 link-local)"
evc_lan A B
for id in A B; do
	evc_wait_for 5 "$id has a usable link-local address" \
		eval "evc_in $id ip -6 addr show dev eth0 scope link | grep -v tentative | grep inet6 >/dev/null" ||
		evc_fail "$id: no link-local IPv6 address on eth0: $(evc_in $id ip -6 addr show dev eth0)"
done

evc_step "dual stack: A and B send to $GROUP6 and $GROUP4"
for id in A B; do
	conf $id "$GROUP6,$GROUP4"
	evc_daemon_start $id $id "$EVC_TMP/$id.xml"
done
for id in A B; do
	grep -F "joined $GROUP6 port $PORT on eth0" "$EVC_TMP/$id.log" >/dev/null ||
		evc_fail "$id did not join $GROUP6: $(grep udp: "$EVC_TMP/$id.log")"
	grep -F "joined $GROUP4 port $PORT on eth0" "$EVC_TMP/$id.log" >/dev/null ||
		evc_fail "$id did not join $GROUP4: $(grep udp: "$EVC_TMP/$id.log")"
done
evc_wait_for 6 "A sees B UP" evc_peer_is A B UP || evc_fail "A does not see B: $(evc_cli A peers)"
evc_wait_for 6 "B sees A UP" evc_peer_is B A UP || evc_fail "B does not see A: $(evc_cli B peers)"
evc_cli A peers
[[ $(evc_stat A tx_errors) -eq 0 ]] || evc_fail "A counts send errors: $(evc_stats A)"
evc_ok "both groups joined, peers UP, no send errors"

evc_step "SIGHUP: A keeps only the IPv6 group"
evc_listen B "$EVC_TMP/B.events"
conf A "$GROUP6"
reloads0=$(evc_stat A reloads)
evc_daemon_hup A
evc_wait_for 5 "A applies the reload" evc_stat_ge A reloads $((reloads0 + 1)) ||
	evc_fail "reload not applied: $(tail -n 5 "$EVC_TMP/A.log")"
grep -F 'reload: sockets re-bound' "$EVC_TMP/A.log" >/dev/null || evc_fail "A did not re-bind its sockets"
evc_peer_is A B UP || evc_fail "A lost peer B across the reload"
# B now hears A only over IPv6: its peer address turns link-local.
evc_wait_for 5 "B sees A from an IPv6 address" \
	eval "evc_cli B peers --json | jq -e '.peers[] | select(.name == \"A\") | .address | test(\"^\\\\[fe80:\")' >/dev/null" ||
	evc_fail "B's entry for A is not IPv6: $(evc_cli B peers --json | jq -c '.peers')"
evc_ok "A on IPv6 only; B sees A at $(evc_cli B peers --json | jq -r '.peers[] | select(.name == "A") | .address')"

evc_step "an event on A arrives on B over IPv6"
evc_cli A send CUSTOM sofia::register -H 'from-user: 1066' -H 'from-host: v6.example.test' ||
	evc_fail "evcast send failed"
REG="$EVC_JQ_MEVENT"' and .["Orig-Event-Subclass"] == "sofia::register" and .["Orig-from-user"] == "1066"
	and .["Orig-Multicast-Sender"] == "A"'
evc_wait_for 5 "sofia::register from A on B" evc_json_has "$EVC_TMP/B.events" "$REG" ||
	evc_fail "B did not deliver the event: $(tail -n 2 "$EVC_TMP/B.events")"
evc_ok "B delivered CUSTOM multicast::event with Orig-from-user 1066 from A over IPv6"
