#!/usr/bin/env bash
# it_registrations.sh -- replicated registrations across three evcastd hosts.
#
# Topology: A, B, C in their own network namespaces on a private bridge, legacy
# plaintext group 239.255.42.5:4242, each with a registrations.conf block (its
# own SQLite file). Checks, in order: a sofia::register fired on A (real sofia
# header names) is locatable on B and C (node A, A's IPv4, the contact) and
# listed by `evcast registrations` (text and --json, filters); an unknown user
# exits 1; a registration expires everywhere by its absolute time; an
# unregister removes it everywhere and a late, older register does not bring
# it back (tombstone); B restarted restores its table from SQLite.
source "$(dirname "$0")/lib.sh"
evc_require

GROUP=239.255.42.5
PORT=4242
BINDINGS="HEARTBEAT CUSTOM sofia::register sofia::unregister sofia::expire"
ADDR_A=$(evc_netns_host_addr 1)

# conf ID NODE: an <evcast> file with event_multicast.conf and registrations.conf.
conf() {
	local id=$1 node=$2
	evc_conf_blocks "$EVC_TMP/$id.xml" "address=$GROUP" "port=$PORT" "bindings=$BINDINGS" "ttl=1" \
		"node-name=$node" "multicast-interface=eth0" "heartbeat-interval=1" "peer-timeout=3" \
		"control-socket=$EVC_TMP/$id.sock" "log-level=info" registrations.conf "db-path=$EVC_TMP/$node.db" \
		"batch-interval-ms=50" "sweep-interval-ms=200" "tombstone-ttl=600"
}

# register ID USER CALLID EXPIRES [extra -H args...]: sofia::register fired on daemon ID.
register() {
	local id=$1 user=$2 cid=$3 exp=$4
	shift 4
	evc_cli "$id" send CUSTOM sofia::register -H 'profile-name: internal' -H "from-user: $user" \
		-H 'from-host: example.test' -H "contact: \"$user\" <sip:$user@10.250.0.99:5060;transport=udp>" \
		-H "call-id: $cid" -H "expires: $exp" -H 'network-ip: 10.250.0.99' -H 'network-port: 5060' \
		-H 'user-agent: it-phone/1.0' -H 'status: Registered(UDP)' "$@" >/dev/null ||
		evc_fail "evcast send sofia::register on $id failed"
}

unregister() {
	local id=$1 user=$2 cid=$3
	evc_cli "$id" send CUSTOM sofia::unregister -H 'profile-name: internal' -H "from-user: $user" \
		-H 'from-host: example.test' -H "call-id: $cid" >/dev/null || evc_fail "evcast send sofia::unregister failed"
}

located_on() { evc_cli "$1" locate "$2" >/dev/null 2>&1; }
not_located_on() {
	local rc=0
	evc_cli "$1" locate "$2" >/dev/null 2>&1 || rc=$?
	[[ $rc -eq 1 ]]
}

evc_step "network: A, B, C on a private bridge; three daemons with registrations.conf"
evc_lan A B C
for id in A B C; do
	conf $id $id
	evc_daemon_start $id $id "$EVC_TMP/$id.xml"
done
for id in A B C; do
	grep -q "registrations: store started" "$EVC_TMP/$id.log" || evc_fail "$id: store not started: $(cat "$EVC_TMP/$id.log")"
done
evc_wait_for 8 "A sees B and C UP" eval 'evc_peer_is A B UP && evc_peer_is A C UP' || evc_fail "peers not up"

evc_step "register 1000@example.test on A: locatable on B and C"
register A 1000 'c1000@10.250.0.99' 300
for id in A B C; do
	evc_wait_for 5 "1000@example.test located on $id" located_on $id 1000@example.test ||
		evc_fail "$id cannot locate 1000@example.test: $(evc_cli $id registrations)"
done
for id in B C; do
	out=$(evc_cli $id locate 1000@example.test)
	evc_log "  $id: evcast locate 1000@example.test -> $out"
	[[ "$out" == "A $ADDR_A \"1000\" <sip:1000@10.250.0.99:5060;transport=udp>" ]] ||
		evc_fail "$id: locate says '$out' (want node A, $ADDR_A, the contact)"
done
evc_ok "B and C locate 1000 on node A ($ADDR_A) with its contact"
evc_cli C registrations --json >"$EVC_TMP/C.regs.json" || evc_fail "evcast registrations --json failed"
jq -e --arg ip "$ADDR_A" '.row_count == 1 and (.rows[0] | .reg_user == "1000" and .realm == "example.test"
	and .token == "c1000@10.250.0.99" and .node == "A" and .node_ip == $ip and .network_ip == "10.250.0.99"
	and .network_port == "5060" and .status == "Registered(UDP)" and .profile == "internal"
	and .user_agent == "it-phone/1.0" and (.expires | tonumber) > now + 200)' "$EVC_TMP/C.regs.json" >/dev/null ||
	evc_fail "registrations --json on C: $(cat "$EVC_TMP/C.regs.json")"
evc_cli B registrations | tee "$EVC_TMP/B.regs.txt"
[[ "$(head -n 1 "$EVC_TMP/B.regs.txt")" == reg_user,realm,token,url,expires,network_ip,network_port* ]] ||
	evc_fail "text table header"
grep -q '^1000,example.test,c1000@10.250.0.99,' "$EVC_TMP/B.regs.txt" || evc_fail "text table row"
grep -q '^1 total\.$' "$EVC_TMP/B.regs.txt" || evc_fail "text table total"
[[ $(evc_cli B registrations --node A --json | jq .row_count) -eq 1 ]] || evc_fail "--node A"
[[ $(evc_cli B registrations --node B --json | jq .row_count) -eq 0 ]] || evc_fail "--node B"
[[ $(evc_cli B registrations --user 1000 --realm example.test --json | jq .row_count) -eq 1 ]] ||
	evc_fail "--user/--realm"
[[ $(evc_cli B registrations --realm other.test --json | jq .row_count) -eq 0 ]] || evc_fail "--realm other"
rc=0
evc_cli B locate nobody@example.test >"$EVC_TMP/nobody.out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || evc_fail "locate of an unknown user exited $rc (want 1): $(cat "$EVC_TMP/nobody.out")"
evc_ok "registrations text/--json/filters; unknown user -> exit 1 ($(cat "$EVC_TMP/nobody.out"))"

evc_step "expiry: 1001 registered on B for 2 s disappears everywhere"
register B 1001 'c1001@x' 2
for id in A C; do
	evc_wait_for 3 "1001 on $id" located_on $id 1001@example.test || evc_fail "1001 not replicated to $id"
done
t0=$(date +%s.%N)
for id in A B C; do
	evc_wait_for 5 "1001 expired on $id" not_located_on $id 1001@example.test || evc_fail "1001 did not expire on $id"
done
evc_ok "1001 expired on A, B and C ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')s after it was seen)"

evc_step "unregister 1000 on A: gone everywhere; a late, older register does not revive it"
ts_old=$(($(date +%s) * 1000000 - 5000000))
unregister A 1000 'c1000@10.250.0.99'
for id in A B C; do
	evc_wait_for 5 "1000 gone on $id" not_located_on $id 1000@example.test ||
		evc_fail "1000 still registered on $id: $(evc_cli $id registrations)"
done
register C 1000 'c1000@10.250.0.99' 300 -H "Event-Date-Timestamp: $ts_old"
register C 1003 'c1003@x' 300 # barrier: replicated after the stale one
for id in A B; do
	evc_wait_for 5 "barrier 1003 on $id" located_on $id 1003@example.test || evc_fail "1003 not on $id"
done
for id in A B C; do
	not_located_on $id 1000@example.test || evc_fail "a stale register revived 1000 on $id"
done
evc_ok "unregister replicated; a stale register lost against the tombstone on every node"

evc_step "restart B: its table comes back from SQLite"
register A 1002 'c1002@x' 300
evc_wait_for 5 "1002 on B" located_on B 1002@example.test || evc_fail "1002 not on B"
sleep 0.3 # > batch-interval-ms: the change is on disk (the stop flushes anyway)
evc_daemon_stop B || evc_fail "B did not stop cleanly"
conf B2 B
evc_daemon_start B2 B "$EVC_TMP/B2.xml"
grep 'registrations: store started' "$EVC_TMP/B2.log" | tail -n 1
located_on B2 1002@example.test || evc_fail "B lost 1002 across the restart"
located_on B2 1003@example.test || evc_fail "B lost 1003 across the restart"
not_located_on B2 1000@example.test || evc_fail "B revived 1000 across the restart"
out=$(evc_cli B2 locate 1002@example.test)
[[ "$out" == "A $ADDR_A "* ]] || evc_fail "restored 1002 on B: '$out'"
evc_ok "B restored 1002 and 1003 (and the tombstone of 1000) from its database"
