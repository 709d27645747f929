#!/usr/bin/env bash
# it_regsync.sh -- registration table transfer: join from ONE donor, anti-entropy.
#
# Topology: A, B, C in their own network namespaces on a private bridge, with
# "CUSTOM evcast::regsync" in the bindings. Checks, in order: 150
# registrations (and 30 unregistrations) made on A and B before C exists; C
# starts with an empty table and gets the whole table (live + tombstones) from
# exactly one donor, equal to A's; C cut off the bridge (its port down) misses
# 40 registrations and 20 unregistrations, and after the link comes back
# anti-entropy digests repair its table to A's without a new join.
source "$(dirname "$0")/lib.sh"
evc_require

GROUP=239.255.42.8
PORT=4242
BINDINGS="HEARTBEAT CUSTOM sofia::register sofia::unregister sofia::expire evcast::regsync"

conf() {
	local id=$1
	evc_conf_blocks "$EVC_TMP/$id.xml" "address=$GROUP" "port=$PORT" "bindings=$BINDINGS" \
		"node-name=$id" "multicast-interface=eth0" "heartbeat-interval=1" "peer-timeout=3" \
		"control-socket=$EVC_TMP/$id.sock" "log-level=info" registrations.conf "db-path=$EVC_TMP/$id.db" \
		"sync-join-wait-ms=1500" "anti-entropy-interval-ms=1000"
}

# bulk ID FIRST LAST TYPE: sofia::TYPE for users FIRST..LAST on daemon ID (one
# control connection: events as `sendevent` blocks through `evcast api`-less raw ESL).
bulk() { local op=reg; [[ $4 == unregister ]] && op=unreg; "$EVC_PY" "$EVC_LIB_DIR/regops.py" "${EVC_SOCK[$1]}" --status "$op:$2-$3"; }

# table ID: live and tombstoned keys? `show registrations` lists live rows: sorted "user node contact".
table() { evc_cli "$1" registrations --json | jq -r '.rows[] | "\(.reg_user) \(.node) \(.url) \(.expires)"' | sort; }
same_table() { [[ "$(table "$1")" == "$(table "$2")" ]]; }
count_live() { evc_cli "$1" registrations --json | jq '.row_count'; }
sync_stat() { evc_cli "$1" registrations --json | jq -r ".stats.sync.$2"; }

evc_step "network: A, B, C; A and B start and fill the table"
evc_lan A B C
for id in A B; do
	conf $id
	evc_daemon_start $id $id "$EVC_TMP/$id.xml"
done
evc_wait_for 8 "A sees B UP" evc_peer_is A B UP || evc_fail "A does not see B"
bulk A 1000 1099 register || evc_fail "bulk register on A"
bulk B 2000 2049 register || evc_fail "bulk register on B"
bulk A 1000 1029 unregister || evc_fail "bulk unregister on A"
evc_wait_for 10 "A and B hold 120 live registrations" eval '[[ $(count_live A) -eq 120 && $(count_live B) -eq 120 ]]' ||
	evc_fail "A has $(count_live A), B has $(count_live B) (want 120)"
evc_ok "A and B: 120 live registrations (30 unregistered)"

evc_step "C joins with an empty table: the whole table from ONE donor"
joins0=$(($(sync_stat A joins_served) + $(sync_stat B joins_served))) # B's own join at start-up
conf C
evc_daemon_start C C "$EVC_TMP/C.xml"
evc_wait_for 10 "C synced" grep -q "registrations: synced from" "$EVC_TMP/C.log" ||
	evc_fail "C did not sync: $(grep registrations: "$EVC_TMP/C.log")"
evc_log "  $(grep 'registrations: synced from' "$EVC_TMP/C.log")"
[[ $(grep -c "joining: asking" "$EVC_TMP/C.log") -eq 1 ]] || evc_fail "C asked more than one donor"
served=$(($(sync_stat A joins_served) + $(sync_stat B joins_served) - joins0))
[[ $served -eq 1 ]] || evc_fail "$served full-table requests were served for C (want 1)"
evc_wait_for 5 "C's table equals A's" same_table C A ||
	evc_fail "C differs from A: $(diff <(table A) <(table C) | head -n 5)"
[[ $(sync_stat C state) == synced ]] || evc_fail "C state $(sync_stat C state)"
evc_ok "C holds A's 120 registrations, from one donor ($(grep -o 'synced from [A-Z]*' "$EVC_TMP/C.log"))"
# tombstones came along: an old register for an unregistered user does not revive it on C
evc_cli C locate 1005@example.test >/dev/null 2>&1 && evc_fail "C has the unregistered 1005"

evc_step "C cut off: it misses changes; anti-entropy repairs it once the link is back"
BR="$(evc_ns br)"
ip -n "$BR" link set p3 down
sleep 0.3
bulk A 3000 3039 register || evc_fail "bulk register while C is cut off"
bulk B 2000 2019 unregister || evc_fail "bulk unregister while C is cut off"
evc_wait_for 5 "A and B at 140" eval '[[ $(count_live A) -eq 140 && $(count_live B) -eq 140 ]]' ||
	evc_fail "A $(count_live A) B $(count_live B)"
[[ $(count_live C) -eq 120 ]] || evc_fail "C saw changes while cut off ($(count_live C))"
ip -n "$BR" link set p3 up
t0=$(date +%s.%N)
evc_wait_for 15 "C repaired to A's table" same_table C A ||
	evc_fail "C not repaired: $(diff <(table A) <(table C) | head -n 5); $(grep registrations: "$EVC_TMP/C.log" | tail -n 3)"
evc_ok "C repaired in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')s \
(repairs: C $(sync_stat C repairs), served A $(sync_stat A requests_served) B $(sync_stat B requests_served))"
[[ $(grep -c "joining: asking" "$EVC_TMP/C.log") -eq 1 ]] || evc_fail "the repair was a new full join"
same_table B A || evc_fail "B differs from A"
