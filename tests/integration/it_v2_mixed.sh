#!/usr/bin/env bash
# it_v2_mixed.sh -- a mixed cluster during a migration: v2 and legacy on one
# group and port, a migrating node sending both formats.
#
# Topology: A, B, C on a private bridge, group 239.255.42.11:4251.
#   A: protocol v2 (sealed) plus legacy-address = the same group: it sends
#      every event twice, v2 for evcast peers, legacy for FreeSWITCH peers.
#   B: protocol v2 (sealed), an evcast peer.
#   C: protocol legacy, standing in for a FreeSWITCH that only speaks legacy.
# Asserts: everyone sees everyone UP; A's events reach B exactly once (its
# legacy copies counted as rx_legacy_shadow, delivered with
# Multicast-Protocol: v2 and Multicast-Authenticated: true) and reach C by
# legacy; C's legacy events reach A and B on their v2 port. Then B restarts
# and A sends at once, before its next HEARTBEAT (A's heartbeat-interval is
# 30 s, B's and C's 1 s, so listeners see traffic): B,
# which has no peer entry for A yet, still delivers each event once.
source "$(dirname "$0")/lib.sh"
evc_require

GROUP=239.255.42.11
PORT=4251
N=200
KEY=$("$EVCAST" keygen --id 1) || evc_fail "evcast keygen failed"

# conf ID EXTRA...: the config of daemon ID into $EVC_TMP/ID.xml.
conf() {
	local id=$1
	shift
	evc_conf "$EVC_TMP/$id.xml" address=$GROUP port=$PORT "bindings=HEARTBEAT CUSTOM evcast::mixed" ttl=1 \
		loopback=no node-name="$id" multicast-interface=eth0 peer-timeout=90 \
		control-socket="$EVC_TMP/$id.sock" log-level=notice "$@"
}

# once FILE SENDER N: FILE holds exactly N evcast::mixed events from SENDER,
# no Event-UUID twice.
once() {
	local file=$1 sender=$2 n=$3 got uniq
	got=$(evc_json_count "$file" ".[\"Orig-Event-Subclass\"] == \"evcast::mixed\" and .[\"Orig-Multicast-Sender\"] == \"$sender\"")
	uniq=$(jq -R -r "fromjson? | select(.[\"Orig-Event-Subclass\"] == \"evcast::mixed\" and .[\"Orig-Multicast-Sender\"] == \"$sender\") | .[\"Orig-Event-UUID\"]" "$file" | sort -u | wc -l)
	[[ $got -eq $n && $uniq -eq $n ]]
}

evc_step "network: A (v2 + legacy copies), B (v2), C (legacy only)"
evc_lan A B C
conf A protocol=v2 "v2-keys=$KEY" "legacy-address=$GROUP:$PORT" heartbeat-interval=30
conf B protocol=v2 "v2-keys=$KEY" heartbeat-interval=1
conf C protocol=legacy heartbeat-interval=1
for id in B C; do evc_daemon_start $id $id "$EVC_TMP/$id.xml"; done
evc_listen B "$EVC_TMP/B.events" CUSTOM multicast::event # C's heartbeats come every second
# C (legacy) hears only A, whose HEARTBEAT comes at its start: C listens first
"$EVCAST" -s "$EVC_TMP/C.sock" listen --json CUSTOM multicast::event >"$EVC_TMP/C.events" 2>"$EVC_TMP/C.events.err" </dev/null &
EVC_BG+=($!)
sleep 0.5
evc_daemon_start A A "$EVC_TMP/A.xml"
evc_wait_for 10 "C's listener streaming" evc_json_has "$EVC_TMP/C.events" 'true' ||
	evc_fail "listener on C produced nothing: $(cat "$EVC_TMP/C.events.err")"
evc_listen A "$EVC_TMP/A.events" CUSTOM multicast::event
for pair in "B A" "C A" "A C" "B C" "A B"; do
	set -- $pair
	evc_wait_for 10 "$1 sees $2 UP" evc_peer_is "$1" "$2" UP || evc_fail "$1 does not see $2: $(evc_cli "$1" peers)"
done
evc_ok "every node sees the others UP (C by legacy heartbeats, A and B by v2)"

evc_step "A sends $N events: B delivers each once (by v2), C each once (by legacy)"
evc_cli A send CUSTOM evcast::mixed --body 'from A' --repeat $N >/dev/null
evc_wait_for 10 "B delivered $N from A" once "$EVC_TMP/B.events" A $N ||
	evc_fail "B: $(evc_json_count "$EVC_TMP/B.events" '.["Orig-Multicast-Sender"] == "A"') events from A (want $N, each once)"
evc_wait_for 10 "C delivered $N from A" once "$EVC_TMP/C.events" A $N ||
	evc_fail "C: $(evc_json_count "$EVC_TMP/C.events" '.["Orig-Multicast-Sender"] == "A"') events from A (want $N)"
sleep 0.5 # late copies would show now
once "$EVC_TMP/B.events" A $N || evc_fail "B delivered A's events more than once"
[[ "$(evc_stat B rx_legacy_shadow)" -ge $N ]] || evc_fail "B rx_legacy_shadow $(evc_stat B rx_legacy_shadow) < $N"
evc_json_has "$EVC_TMP/B.events" '.["Orig-Multicast-Sender"] == "A" and .["Multicast-Protocol"] == "v2" and .["Multicast-Authenticated"] == "true"' $N ||
	evc_fail "B's copies of A's events are not the authenticated v2 ones"
[[ "$(evc_json_count "$EVC_TMP/C.events" '.["Multicast-Protocol"] == "v2"')" -eq 0 ]] || evc_fail "C (legacy) got v2"
evc_ok "B: $N once, $(evc_stat B rx_legacy_shadow) legacy shadows dropped; C: $N by legacy"

evc_step "C (legacy) sends 50: A and B take them on their v2 port"
evc_cli C send CUSTOM evcast::mixed --body 'from C' --repeat 50 >/dev/null
for id in A B; do
	evc_wait_for 10 "$id delivered 50 from C" once "$EVC_TMP/$id.events" C 50 ||
		evc_fail "$id: $(evc_json_count "$EVC_TMP/$id.events" '.["Orig-Multicast-Sender"] == "C"') events from C (want 50)"
done
evc_ok "legacy events accepted next to v2 on one port"

evc_step "B restarts; A sends before its next HEARTBEAT: B still delivers each once"
evc_daemon_stop B || evc_fail "B did not stop cleanly"
evc_daemon_start B B "$EVC_TMP/B.xml"
evc_listen B "$EVC_TMP/B2.events" CUSTOM multicast::event
[[ "$(evc_peer_state B A)" != UP ]] || evc_fail "B knows A already: the window under test is gone"
evc_cli A send CUSTOM evcast::mixed --body 'after restart' --repeat 100 >/dev/null
evc_wait_for 10 "B delivered 100 from A" once "$EVC_TMP/B2.events" A 100 ||
	evc_fail "B after restart: $(evc_json_count "$EVC_TMP/B2.events" '.["Orig-Multicast-Sender"] == "A"') events from A (want 100, each once)"
sleep 0.5
once "$EVC_TMP/B2.events" A 100 || evc_fail "B delivered A's events twice after its restart"
[[ "$(evc_stat B rx_legacy_shadow)" -ge 100 ]] || evc_fail "B rx_legacy_shadow $(evc_stat B rx_legacy_shadow) < 100 after restart"
evc_ok "no duplicate in the window before A's next HEARTBEAT"
