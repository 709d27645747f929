#!/usr/bin/env bash
# it_fault_kill.sh -- kill -9 of a receiver and of a sender under a steady v2 stream.
#
# Topology: A and B in namespaces on a private bridge, protocol v2 sealed with one
# key, group 239.255.42.21:4261, peer-timeout 3 s. Run 1: A sends at a steady rate
# (`evcast send --repeat --rate`, header Fault-Run) while B is killed with -9 and,
# once A sees it DOWN, restarted: A sees it UP again, A keeps running with sane
# counters. Run 2 (after B's restart) must reach B completely. Run 3: A itself is
# killed with -9 mid-stream; what B delivered of it is in order, never twice, and
# every gap is announced by a multicast::loss. Run 4 after A's restart (new epoch)
# reaches B completely. Every stream is checked on Evcast-Test-Seq with python3.
source "$(dirname "$0")/lib.sh"
evc_require

GROUP=239.255.42.21
PORT=4261
RATE=300
KEY=$("$EVCAST" keygen --id 3) || evc_fail "evcast keygen failed"

conf() {
	evc_conf "$EVC_TMP/$1.xml" address=$GROUP port=$PORT "bindings=HEARTBEAT CUSTOM evcast::fault" ttl=1 \
		loopback=no node-name="$2" multicast-interface=eth0 heartbeat-interval=1 peer-timeout=3 \
		control-socket="$EVC_TMP/$1.sock" log-level=notice protocol=v2 "v2-keys=$KEY"
}
# stream ID RUN N: A-side daemon ID sends N events of run RUN at $RATE/s.
stream() {
	evc_cli "$1" send CUSTOM evcast::fault -H "Fault-Run: $2" --body "fault run $2" --repeat "$3" --rate $RATE
}
run_count() { evc_json_count "$1" ".[\"Orig-Fault-Run\"] == \"$2\""; }

# check FILE RUN N MODE: MODE full = exactly 1..N; partial = in order, no
# duplicates, every gap after the first delivered one covered by a multicast::loss.
check() {
	"$EVC_PY" - "$@" <<-'EOF'
		import json, sys
		path, run, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
		stream = []
		for line in open(path, encoding="utf-8", errors="replace"):
		    try:
		        e = json.loads(line)
		    except ValueError:
		        continue
		    if e.get("Event-Subclass") == "multicast::loss":
		        stream.append(("loss", 0))
		    elif e.get("Orig-Fault-Run") == run:
		        stream.append(("ev", int(e["Orig-Evcast-Test-Seq"])))
		seqs = [s for k, s in stream if k == "ev"]
		dups = len(seqs) - len(set(seqs))
		disorder = sum(1 for a, b in zip(seqs, seqs[1:]) if b <= a)
		gaps = uncovered = 0
		last, loss_since = None, False
		for k, s in stream:
		    if k == "loss":
		        loss_since = True
		        continue
		    if last is not None and s > last + 1:
		        gaps += s - last - 1
		        if not loss_since:
		            uncovered += s - last - 1
		    last, loss_since = s, False
		first = seqs[0] if seqs else None
		print(f"[run {run}] delivered {len(seqs)} (seq {first}..{last}) of {n} sent; duplicates {dups}; "
		      f"out of order {disorder}; gaps {gaps} ({uncovered} not announced by multicast::loss)")
		bad = []
		if dups: bad.append(f"{dups} duplicates")
		if disorder: bad.append(f"{disorder} out of order")
		if uncovered: bad.append(f"{uncovered} missing without multicast::loss")
		if mode == "full" and sorted(set(seqs)) != list(range(1, n + 1)):
		    bad.append(f"expected every one of 1..{n}")
		if not seqs: bad.append("nothing delivered")
		if bad:
		    sys.exit(f"run {run}: " + "; ".join(bad))
	EOF
}
# sane ID: every counter of `evcast stats` is a non-negative integer below 2^48.
sane() {
	evc_stats "$1" | jq -e '[.. | numbers] | all(. >= 0 and . < 281474976710656 and . == floor)' >/dev/null
}

evc_step "network: A and B, protocol v2 (key id 3)"
evc_lan A B
conf A A
conf B B
evc_daemon_start A A "$EVC_TMP/A.xml"
evc_daemon_start B B "$EVC_TMP/B.xml"
evc_wait_for 8 "A and B see each other UP" eval 'evc_peer_is A B UP && evc_peer_is B A UP' ||
	evc_fail "peers not up: $(evc_cli A peers)"
evc_listen B "$EVC_TMP/B1.ev" CUSTOM multicast::event multicast::loss

evc_step "run 1: A sends 3000 at $RATE/s; kill -9 of B mid-stream, restart once A sees it DOWN"
stream A 1 3000 >"$EVC_TMP/run1.out" 2>&1 &
p1=$!
evc_wait_for 10 "B delivering run 1" evc_json_has "$EVC_TMP/B1.ev" '.["Orig-Fault-Run"] == "1"' 200 ||
	evc_fail "B delivers nothing of run 1"
evc_daemon_kill9 B
t_kill=$(date +%s.%N)
evc_wait_for 8 "A sees B DOWN" evc_peer_is A B DOWN || evc_fail "A does not see B DOWN: $(evc_cli A peers)"
evc_log "  A saw B DOWN $(awk -v a="$t_kill" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')s after kill -9"
conf B2 B
evc_daemon_start B2 B "$EVC_TMP/B2.xml"
evc_listen B2 "$EVC_TMP/B2.ev" CUSTOM multicast::event multicast::loss
evc_wait_for 8 "A sees B UP again" evc_peer_is A B UP || evc_fail "B did not rejoin: $(evc_cli A peers)"
evc_ok "B rejoined: UP on A $(awk -v a="$t_kill" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')s after kill -9"
running=0
kill -0 $p1 2>/dev/null && running=1
wait $p1 || evc_fail "the sender on A failed while B was killed: $(cat "$EVC_TMP/run1.out")"
[[ $running -eq 1 ]] || evc_fail "run 1 finished before B was back: the restart was not mid-stream"
evc_log "  A: $(cat "$EVC_TMP/run1.out")"
evc_alive A || evc_fail "A died"

evc_step "run 2 after B's restart: 500 events, every one delivered by B"
stream A 2 500 >/dev/null || evc_fail "run 2: send failed"
evc_wait_for 10 "B delivered run 2" evc_json_has "$EVC_TMP/B2.ev" '.["Orig-Fault-Run"] == "2"' 500 ||
	evc_fail "B delivered $(run_count "$EVC_TMP/B2.ev" 2) of run 2"
sleep 0.3 # a late duplicate would show now
check "$EVC_TMP/B1.ev" 1 3000 partial || evc_fail "B before its kill: bad delivery"
check "$EVC_TMP/B2.ev" 1 3000 partial || evc_fail "B after its restart: bad delivery of run 1"
check "$EVC_TMP/B2.ev" 2 500 full || evc_fail "B after its restart: bad delivery of run 2"
sane A || evc_fail "A's counters are not sane: $(evc_stats A)"
tx=$(evc_stat A v2_tx_events)
[[ $tx -ge 3500 ]] || evc_fail "A counts $tx v2_tx_events, sent 3500"
evc_stats A | jq -c '{v2_tx_events, v2_tx_datagrams, v2_retransmits, v2_naks_rx, v2_drops_total}' |
	sed "s/^/[$EVC_TEST] stats A: /"
evc_ok "receiver kill -9: A kept running (tx $tx), B rejoined, run 2 complete"

evc_step "run 3: A sends 3000 at $RATE/s and is killed with -9 mid-stream"
stream A 3 3000 >"$EVC_TMP/run3.out" 2>&1 &
p3=$!
evc_wait_for 10 "B delivering run 3" evc_json_has "$EVC_TMP/B2.ev" '.["Orig-Fault-Run"] == "3"' 300 ||
	evc_fail "B delivers nothing of run 3"
evc_daemon_kill9 A
wait $p3 && evc_fail "the sender's CLI did not notice its daemon's death" || true
evc_wait_for 8 "B sees A DOWN" evc_peer_is B2 A DOWN || evc_fail "B does not see A DOWN: $(evc_cli B2 peers)"
conf A2 A
evc_daemon_start A2 A "$EVC_TMP/A2.xml"
evc_wait_for 8 "B sees A UP again" evc_peer_is B2 A UP || evc_fail "A did not rejoin: $(evc_cli B2 peers)"

evc_step "run 4 after A's restart (new epoch): 500 events, every one delivered by B"
stream A2 4 500 >/dev/null || evc_fail "run 4: send failed"
evc_wait_for 10 "B delivered run 4" evc_json_has "$EVC_TMP/B2.ev" '.["Orig-Fault-Run"] == "4"' 500 ||
	evc_fail "B delivered $(run_count "$EVC_TMP/B2.ev" 4) of run 4"
sleep 0.3
check "$EVC_TMP/B2.ev" 3 3000 partial || evc_fail "B: bad delivery of run 3 (sender killed)"
check "$EVC_TMP/B2.ev" 4 500 full || evc_fail "B: bad delivery of run 4"
sane B2 || evc_fail "B's counters are not sane: $(evc_stats B2)"
evc_stats B2 | jq -c '{v2_rx_events, v2_lost, v2_recovered, v2_naks_tx, v2_drops_total,
	drops: (.v2_drops // {} | with_entries(select(.value > 0)))}' | sed "s/^/[$EVC_TEST] stats B: /"
evc_ok "sender kill -9: what B delivered is in order, without duplicates; A rejoined, run 4 complete"
