#!/usr/bin/env bash
# it_fault_partition.sh -- registrations converge after a network partition (OpenSIPS #2982).
#
# Topology: A, B, C in namespaces on a private bridge, protocol v2 sealed with one
# key, registrations with sync and anti-entropy. Registrations are made on A and C
# and replicate. Then C is cut off (nftables in C's namespace drops all UDP from A
# and B and all UDP C sends: both directions); once every side sees the other DOWN,
# registrations and unregistrations are made on both sides, including
# unregistrations of the other side's entries and a re-registration moving an
# entry from A to C. Heal: within SETTLE seconds (the time is printed) the three
# `evcast registrations --json` tables are identical and equal to the expected
# set, and every peer is UP again.
source "$(dirname "$0")/lib.sh"
evc_require
command -v nft >/dev/null || evc_fail "missing tool 'nft' (Debian package nftables)"

SETTLE=${SETTLE:-10}
GROUP=239.255.42.23
PORT=4263
BINDINGS="HEARTBEAT CUSTOM sofia::register sofia::unregister sofia::expire evcast::regsync"
KEY=$("$EVCAST" keygen --id 6) || evc_fail "evcast keygen failed"
A_IP=$(evc_netns_host_addr 1)
B_IP=$(evc_netns_host_addr 2)

conf() {
	evc_conf_blocks "$EVC_TMP/$1.xml" "address=$GROUP" "port=$PORT" "bindings=$BINDINGS" "node-name=$1" \
		"multicast-interface=eth0" "heartbeat-interval=1" "peer-timeout=3" \
		"control-socket=$EVC_TMP/$1.sock" "log-level=notice" "protocol=v2" "v2-keys=$KEY" \
		registrations.conf "db-path=$EVC_TMP/$1.db" "sync-join-wait-ms=1500" \
		"anti-entropy-interval-ms=800"
}

# regops ID OP... with OP = reg:FIRST-LAST or unreg:FIRST-LAST: sofia::register /
# sofia::unregister of users FIRST..LAST (call-id c-USER) through daemon ID's socket.
regops() { "$EVC_PY" "$EVC_LIB_DIR/regops.py" "${EVC_SOCK[$1]}" "${@:2}"; }
users() { evc_cli "$1" registrations --json | jq -r '.rows[] | "\(.reg_user) \(.node)"' | sort; }
# span NODE FIRST LAST: expected rows
span() { local u; for ((u = $2; u <= $3; u++)); do echo "$u $1"; done; }
converged() { local a; a=$(users A); [[ "$a" == "$1" && "$(users B)" == "$a" && "$(users C)" == "$a" ]]; }
all_up() {
	evc_peer_is A C UP && evc_peer_is B C UP && evc_peer_is C A UP && evc_peer_is C B UP &&
		evc_peer_is A B UP && evc_peer_is B A UP
}
partition() {
	if [[ $1 == on ]]; then
		evc_in C nft add table inet evcpart
		evc_in C nft add chain inet evcpart in '{ type filter hook input priority 0; policy accept; }'
		evc_in C nft add chain inet evcpart out '{ type filter hook output priority 0; policy accept; }'
		evc_in C nft add rule inet evcpart in ip saddr "{ $A_IP, $B_IP }" meta l4proto udp counter drop
		evc_in C nft add rule inet evcpart out oifname eth0 meta l4proto udp counter drop
	else
		evc_in C nft delete table inet evcpart
	fi
}
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}'; }

evc_step "network: A, B, C; protocol v2 (key id 6); registrations with sync and anti-entropy"
evc_lan A B C
for h in A B C; do
	conf $h
	evc_daemon_start $h $h "$EVC_TMP/$h.xml"
done
evc_wait_for 8 "every peer UP" all_up || evc_fail "peers not up: $(evc_cli A peers)"
regops A reg:1001-1010 || evc_fail "registrations on A failed"
regops C reg:3001-3010 || evc_fail "registrations on C failed"
E0=$( { span A 1001 1010; span C 3001 3010; } | sort)
evc_wait_for 5 "20 registrations replicated" converged "$E0" || evc_fail "no convergence before the partition"
evc_ok "before the partition: 20 registrations on every node"

evc_step "partition: C cut off from A and B (all UDP, both directions)"
partition on
tp=$(date +%s.%N)
evc_wait_for 8 "both sides see the other DOWN" eval 'evc_peer_is A C DOWN && evc_peer_is B C DOWN &&
	evc_peer_is C A DOWN && evc_peer_is C B DOWN' ||
	evc_fail "peers not DOWN during the partition: A: $(evc_cli A peers) C: $(evc_cli C peers)"
evc_ok "peers DOWN on both sides $(since "$tp")s after the cut"
# A side: new users, unregister own 1001-1003 and C's 3001-3002; B: new users;
# C side: new users, unregister own 3003 and A's 1004-1005, re-register 1006 (moves to C)
regops A reg:1101-1110 unreg:1001-1003 unreg:3001-3002 || evc_fail "operations on A failed"
regops B reg:2101-2105 || evc_fail "operations on B failed"
regops C reg:3101-3110 unreg:3003-3003 unreg:1004-1005 reg:1006-1006 || evc_fail "operations on C failed"
EXPECTED=$( {
	span C 1006 1006
	span A 1007 1010
	span A 1101 1110
	span B 2101 2105
	span C 3004 3010
	span C 3101 3110
} | sort)
sleep 1.5 # anti-entropy rounds while partitioned
[[ "$(users A)" == "$(users B)" ]] || evc_fail "A and B differ although connected"
[[ "$(users A)" != "$(users C)" ]] || evc_fail "A and C agree during the partition: the partition is not effective"
dropped=$(evc_in C nft list table inet evcpart | sed -n 's/.*counter packets \([0-9]*\).*/\1/p' | awk '{n += $1} END {print n + 0}')
evc_log "  partitioned: A $(users A | wc -l) rows, C $(users C | wc -l) rows; nft dropped $dropped datagrams in C"
[[ $dropped -gt 0 ]] || evc_fail "nft dropped nothing"

evc_step "heal: within ${SETTLE}s every table equals the expected set ($(wc -l <<<"$EXPECTED") rows)"
partition off
th=$(date +%s.%N)
evc_wait_for "$SETTLE" "A, B and C converged" converged "$EXPECTED" ||
	evc_fail "not converged ${SETTLE}s after healing: A $(users A | wc -l), B $(users B | wc -l), C $(users C | wc -l) rows; \
diff expected/A: $(diff <(echo "$EXPECTED") <(users A) | grep '^[<>]' | head -n 4 | tr '\n' ' ') \
expected/C: $(diff <(echo "$EXPECTED") <(users C) | grep '^[<>]' | head -n 4 | tr '\n' ' ')"
dt=$(since "$th")
evc_wait_for 8 "every peer UP again" all_up || evc_fail "peers not UP after healing: $(evc_cli A peers) $(evc_cli C peers)"
evc_ok "converged ${dt}s after healing, peers UP after $(since "$th")s ($(wc -l <<<"$EXPECTED") rows on each; \
repairs A $(evc_cli A registrations --json | jq -c .stats.sync.repairs), C $(evc_cli C registrations --json | jq -c .stats.sync.repairs))"
for h in A B C; do
	evc_cli $h locate 1006@example.test | grep '^C ' >/dev/null || evc_fail "$h does not locate 1006 on C"
	if evc_cli $h locate 1004@example.test >/dev/null 2>&1; then evc_fail "$h still locates 1004 (unregistered on C)"; fi
	if evc_cli $h locate 3001@example.test >/dev/null 2>&1; then evc_fail "$h still locates 3001 (unregistered on A)"; fi
done
evc_ok "locate agrees on every node (1006 moved to C; 1004 and 3001 gone everywhere)"
