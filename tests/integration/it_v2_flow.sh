#!/usr/bin/env bash
# it_v2_flow.sh -- v2 receiver-driven flow control (docs/PROTOCOL.md 14).
#
# Topology: A, B, C, D in namespaces on a private bridge, protocol v2 sealed
# with one key, heartbeat-interval 1, peer-timeout 4. Each receiver has a JSON
# event-socket client (`evcast listen --json`). Phases:
#  1. burst: A fires N events (default 50000, env V2_FLOW_COUNT) with `evcast
#     send --repeat` as fast as it can; every receiver's client gets all N,
#     v2_lost = 0 everywhere; A's STATUS counters show the set (B, C, D).
#  2. slow receiver: D's client reads through a reader paced at
#     V2_FLOW_SLOW_RATE lines/s (default 2000); A fires M events (default
#     20000, more than half the client's queue); D's client still gets every
#     one (its queue holds D's delivery, D's window holds A), v2_lost = 0, D
#     took a hold; both publishing rates are printed.
#  3. dead receiver: C is killed -9; A fires K events; B and D get them all
#     after peer-timeout at the latest, and C has left A's set (fc_left).
# The publisher waits only when sendevent honours EVCAST_EAGAIN (evcast_node_
# try_fire, branch pub); where it does not, A fires past the window
# (fc_overdraft counts it) and nothing can keep the receivers whole: the test
# then SKIPs with that reason instead of failing on a missing capability.
source "$(dirname "$0")/lib.sh"
evc_require

GROUP=239.255.42.9
PORT=4249
N=${V2_FLOW_COUNT:-50000}
M=${V2_FLOW_SLOW_COUNT:-20000} # more than half a client's queue (10000): D's client must hold
K=${V2_FLOW_DEAD_COUNT:-3000}
SLOW_RATE=${V2_FLOW_SLOW_RATE:-2000}
KEY=$("$EVCAST" keygen --id 1) || evc_fail "evcast keygen failed"

conf() {
	evc_conf "$EVC_TMP/$1.xml" address=$GROUP port=$PORT "bindings=HEARTBEAT CUSTOM evcast::flow" ttl=1 \
		loopback=no node-name="$1" multicast-interface=eth0 heartbeat-interval=1 peer-timeout=4 \
		control-socket="$EVC_TMP/$1.sock" log-level=warning protocol=v2 "v2-keys=$KEY" max-lag=3000
}

count() { grep -c '"Orig-Evcast-Test-Seq"' "$1" 2>/dev/null || true; }

# wait_count FILE TARGET SECONDS: until FILE holds TARGET test events, or its
# count has not moved for 10 s, bounded by SECONDS.
wait_count() {
	local f=$1 target=$2 secs=$3 last=-1 same=0 i n
	for ((i = 0; i < secs * 10; i++)); do
		n=$(count "$f")
		[[ $n -ge $target ]] && return 0
		if [[ $n -eq $last ]]; then
			same=$((same + 1))
			[[ $same -ge 100 ]] && return 1
		else
			same=0
			last=$n
		fi
		sleep 0.1
	done
	return 1
}

# check FILE FIRST LAST WHO: every seq FIRST..LAST delivered once, in order.
check() {
	"$EVC_PY" - "$@" <<-'EOF'
		import json, sys
		path, first, last, who = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
		seqs = []
		for line in open(path, encoding="utf-8", errors="replace"):
		    try:
		        e = json.loads(line)
		    except ValueError:
		        continue
		    s = e.get("Orig-Evcast-Test-Seq")
		    if s is not None and first <= int(s) <= last:
		        seqs.append(int(s))
		want = last - first + 1
		u = set(seqs)
		disorder = sum(1 for a, b in zip(seqs, seqs[1:]) if b <= a)
		print(f"[{who}] {len(u)} of {want} distinct, {len(seqs) - len(u)} twice, {disorder} out of order")
		sys.exit(0 if len(u) == want and len(seqs) == want and not disorder else 1)
	EOF
}

stats_line() {
	evc_stats "$1" | jq -c '{v2_tx_datagrams, v2_rx_events, v2_retransmits, v2_lost, v2_hold_overflow,
		fc_receivers, fc_blocked, fc_overdraft, fc_dropped, fc_left, fc_evicted, status_tx, status_rx,
		fc_rx_holds, fc_rx_hold_forced}' | sed "s/^/[$EVC_TEST] stats $1: /"
}

# send FIRST COUNT: A publishes COUNT events numbered from FIRST; prints the rate.
send() {
	local t0 t1
	t0=$(date +%s.%N)
	evc_cli A send CUSTOM evcast::flow -H 'Flow-Test: v2' --body 'payload of a flow-control test event' \
		--repeat "$2" --first "$1" || evc_fail "evcast send --repeat failed"
	t1=$(date +%s.%N)
	RATE=$(awk -v a="$t0" -v b="$t1" -v n="$2" 'BEGIN {printf "%.0f", n / (b - a)}')
	evc_log "A published $2 events at $RATE events/s"
}

evc_step "network: A, B, C, D on a private bridge; protocol v2 sealed, flow control on (default)"
evc_lan A B C D
for id in A B C D; do
	conf $id
	evc_daemon_start $id $id "$EVC_TMP/$id.xml"
done
for id in B C D; do
	evc_listen $id "$EVC_TMP/$id.1" CUSTOM multicast::event
	evc_wait_for 15 "$id sees A UP" evc_peer_is $id A UP || evc_fail "$id does not see A: $(evc_cli $id peers)"
done
evc_wait_for 15 "A's flow-control set holds B, C, D" evc_stat_ge A fc_receivers 3 ||
	evc_fail "A's set: $(evc_stat A fc_receivers) receivers (STATUS rx $(evc_stat A status_rx))"

evc_step "1. burst: A fires $N events as fast as it can; B, C, D with JSON clients"
send 1 "$N"
RATE1=$RATE
od=$(evc_stat A fc_overdraft)
[[ $od -lt 1000 ]] || evc_skip "the publisher ignores back-pressure: A fired $od datagrams past the window" \
	"(sendevent must wait while evcast_node_writable is 0)"
for id in B C D; do
	wait_count "$EVC_TMP/$id.1" "$N" 90 || true
	check "$EVC_TMP/$id.1" 1 "$N" "$id" || { stats_line A; stats_line $id; evc_fail "$id's client missed events of the burst"; }
done
for id in A B C D; do stats_line $id; done
for id in B C D; do
	[[ "$(evc_stat $id v2_lost)" -eq 0 ]] || evc_fail "$id gave up $(evc_stat $id v2_lost) datagrams"
done
evc_ok "burst: $N/$N on every receiver's client, v2_lost 0"

evc_step "2. slow receiver: D's client reads $SLOW_RATE events/s; A fires $M events"
holds0=$(evc_stat D fc_rx_holds)
"$EVCAST" -s "${EVC_SOCK[D]}" listen --json CUSTOM multicast::event </dev/null 2>"$EVC_TMP/D.2.err" |
	"$EVC_PY" -c '
import sys, time
rate, out = float(sys.argv[1]), open(sys.argv[2], "w")
t0, n = time.monotonic(), 0
for line in sys.stdin:
    out.write(line)
    n += 1
    if n % 50 == 0:
        out.flush()
        ahead = n / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
' "$SLOW_RATE" "$EVC_TMP/D.2" &
EVC_BG+=($!)
evc_wait_for 10 "slow listener on D streaming" evc_json_has "$EVC_TMP/D.2" 'true' || evc_fail "slow listener silent"
FIRST2=$((N + 1))
send "$FIRST2" "$M"
RATE2=$RATE
wait_count "$EVC_TMP/D.2" "$M" 90 || true
for id in A D; do stats_line $id; done
check "$EVC_TMP/D.2" "$FIRST2" $((N + M)) D || evc_fail "D's slow client missed events"
for id in B C; do
	wait_count "$EVC_TMP/$id.1" $((N + M)) 60 || true
	check "$EVC_TMP/$id.1" "$FIRST2" $((N + M)) "$id" || evc_fail "$id's client missed events"
done
for id in B C D; do
	[[ "$(evc_stat $id v2_lost)" -eq 0 ]] || evc_fail "$id gave up $(evc_stat $id v2_lost) datagrams"
done
[[ "$(evc_stat D fc_rx_holds)" -gt "$holds0" ]] || evc_fail "D's slow client never held D's delivery"
evc_log "publishing rate: $RATE1 events/s (burst), $RATE2 events/s (slow receiver at $SLOW_RATE/s)"
evc_ok "slow receiver: $M/$M on D's slow client, v2_lost 0"

evc_step "3. dead receiver: C killed -9; A fires $K events"
evc_daemon_kill9 C
FIRST3=$((N + M + 1))
send "$FIRST3" "$K"
wait_count "$EVC_TMP/B.1" $((N + M + K)) 60 || true
wait_count "$EVC_TMP/D.2" $((M + K)) 60 || true
check "$EVC_TMP/B.1" "$FIRST3" $((N + M + K)) B || evc_fail "B missed events after C died"
check "$EVC_TMP/D.2" "$FIRST3" $((N + M + K)) D || evc_fail "D missed events after C died"
evc_wait_for 15 "C left A's flow-control set" evc_stat_ge A fc_left 1 || evc_fail "C still in A's set"
stats_line A
evc_ok "dead receiver: B and D got $K/$K, C left A's set after peer-timeout"
