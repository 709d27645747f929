#!/usr/bin/env bash
# it_v2_lossy.sh -- wire protocol v2 over a lossy, reordering, duplicating LAN.
#
# Topology: A, B, C in namespaces on a private bridge (scripts/netns.sh lan),
# group 239.255.42.7:4247, protocol v2 sealed with one shared key. On B and C:
# nftables drops 10 % of incoming UDP to the port at random (kernel level; this
# kernel has no sch_netem) and EVCAST_IMPAIR reorders and duplicates what is
# left (src/lib/impair.c). A sends N events (default 100000, env V2_LOSSY_COUNT)
# with `evcast send --repeat N --rate R`; B and C record what they deliver.
# Asserts on each receiver: >= 99.99 % of the N delivered, none twice, in
# A's order (Orig-Evcast-Test-Seq strictly increasing), and every missing one
# covered by a multicast::loss delivered between its neighbours. Then prints,
# for comparison only, what the legacy format delivers under the same loss.
# On a loaded machine this used to fail (issue 12: B's listener got 72 358 of
# 100 000, v2_lost 211, v2_hold_overflow 30): the listening client fell behind,
# its queue dropped the oldest events, and the busy receiver NAKed after A's
# retransmit buffer had recycled. Flow control (docs/PROTOCOL.md 14) holds it
# now: the client's queue holds B's delivery, B's window holds A's sendevent,
# and A keeps what B has not confirmed; the settle wait allows 10 s pauses.
source "$(dirname "$0")/lib.sh"
evc_require
command -v nft >/dev/null || evc_fail "missing tool 'nft' (Debian package nftables)"

GROUP=239.255.42.7
PORT=4247
N=${V2_LOSSY_COUNT:-100000}
RATE=${V2_LOSSY_RATE:-3000}
LEGACY_N=${V2_LOSSY_LEGACY_COUNT:-5000}
IMPAIR="reorder=0.05,dup=0.05"
KEY=$("$EVCAST" keygen --id 1) || evc_fail "evcast keygen failed"

# conf ID PROTOCOL: the config of daemon ID into $EVC_TMP/ID.xml.
conf() {
	local id=$1 proto=$2 extra=()
	[[ $proto == v2 ]] && extra=(protocol=v2 "v2-keys=$KEY") || extra=(protocol=legacy)
	evc_conf "$EVC_TMP/$id.xml" address=$GROUP port=$PORT "bindings=HEARTBEAT CUSTOM evcast::lossy" ttl=1 \
		loopback=no node-name="$id" multicast-interface=eth0 heartbeat-interval=1 peer-timeout=5 \
		control-socket="$EVC_TMP/$id.sock" log-level=warning "${extra[@]}"
}

# start_all PROTOCOL: A plain, B and C with EVCAST_IMPAIR (a seed each).
start_all() {
	local proto=$1 id seed=0
	for id in A B C; do
		conf $id "$proto"
		if [[ $id != A ]]; then
			seed=$((seed + 7))
			export EVCAST_IMPAIR="$IMPAIR,seed=$seed"
		fi
		evc_daemon_start $id $id "$EVC_TMP/$id.xml"
		unset EVCAST_IMPAIR
	done
}

count_delivered() { grep -c '"Orig-Evcast-Test-Seq"' "$1" 2>/dev/null || true; }

# wait_settled FILE TARGET: until FILE holds TARGET deliveries, or its count
# has not moved for 10 s (bounded by 60 s).
wait_settled() {
	local f=$1 target=$2 last=-1 same=0 i n
	for ((i = 0; i < 600; i++)); do
		n=$(count_delivered "$f")
		[[ $n -ge $target ]] && return 0
		if [[ $n -eq $last ]]; then
			same=$((same + 1))
			[[ $same -ge 100 ]] && return 0
		else
			same=0
			last=$n
		fi
		sleep 0.1
	done
}

evc_step "network: A, B, C on a private bridge; 10 % kernel loss into B and C (nftables)"
evc_lan A B C
for h in B C; do evc_loss_on $h $PORT 10; done

evc_step "protocol v2 (sealed, key id 1), receivers impaired: $IMPAIR + 10 % loss"
start_all v2
evc_listen B "$EVC_TMP/B.v2" CUSTOM multicast::event multicast::loss
evc_listen C "$EVC_TMP/C.v2" CUSTOM multicast::event multicast::loss
for id in B C; do
	evc_wait_for 10 "$id sees A UP" evc_peer_is $id A UP || evc_fail "$id does not see A: $(evc_cli $id peers)"
done

evc_step "A sends $N events at $RATE/s"
evc_cli A send CUSTOM evcast::lossy -H 'Lossy-Test: v2' --body 'payload of a lossy test event' \
	--repeat "$N" --rate "$RATE" || evc_fail "evcast send --repeat failed"
for id in B C; do
	wait_settled "$EVC_TMP/$id.v2" "$N"
	evc_log "$id delivered $(count_delivered "$EVC_TMP/$id.v2") events"
done
for id in A B C; do
	evc_stats $id | jq -c '{v2_tx_events, v2_tx_datagrams, v2_retransmits, v2_naks_tx, v2_naks_rx,
		v2_rx_datagrams, v2_rx_events, v2_lost, v2_recovered, v2_hold_overflow, v2_drops_total,
		fc_blocked, fc_overdraft, fc_rx_holds, fc_rx_hold_forced,
		drops: (.v2_drops // {} | with_entries(select(.value > 0)))}' |
		sed "s/^/[$EVC_TEST] stats $id: /"
done
# the impairment must really have happened, or the test proves nothing
txd=$(evc_stat A v2_tx_datagrams)
for h in B C; do
	dropped=$(evc_loss_dropped $h)
	evc_log "nft dropped $dropped datagrams into $h (A sent $txd v2 datagrams)"
	[[ $((dropped * 100)) -ge $((txd * 5)) ]] || evc_fail "nft dropped only $dropped of ~$txd datagrams into $h"
	[[ "$(evc_stat $h v2_recovered)" -gt 0 ]] || evc_fail "$h recovered nothing by NAK"
	grep -q 'EVCAST_IMPAIR: test fault injection on' "$EVC_TMP/$h.log" || evc_fail "$h: EVCAST_IMPAIR not active"
done

evc_step "check: >= 99.99 % delivered exactly once, in order, every gap announced as multicast::loss"
for id in B C; do
	"$EVC_PY" - "$EVC_TMP/$id.v2" "$N" "$id" <<-'EOF' || evc_fail "delivery check failed on $id"
		import json, sys
		path, n, who = sys.argv[1], int(sys.argv[2]), sys.argv[3]
		stream = []  # ("ev", seq) or ("loss", lost datagrams)
		for line in open(path, encoding="utf-8", errors="replace"):
		    try:
		        e = json.loads(line)
		    except ValueError:
		        continue
		    sub = e.get("Event-Subclass")
		    if sub == "multicast::event" and "Orig-Evcast-Test-Seq" in e:
		        if e.get("Multicast-Protocol") != "v2" or e.get("Multicast-Authenticated") != "true":
		            sys.exit(f"{who}: event without Multicast-Protocol v2 / Authenticated true: {line[:200]}")
		        stream.append(("ev", int(e["Orig-Evcast-Test-Seq"])))
		    elif sub == "multicast::loss":
		        stream.append(("loss", int(e.get("Count", "0"))))
		seqs = [s for k, s in stream if k == "ev"]
		uniq = set(seqs)
		dups = len(seqs) - len(uniq)
		disorder = sum(1 for a, b in zip(seqs, seqs[1:]) if b <= a)
		missing = sorted(set(range(1, n + 1)) - uniq)
		losses = [s for k, s in stream if k == "loss"]
		pct = 100.0 * len(uniq) / n
		print(f"[{who}] delivered {len(seqs)} events, {len(uniq)} distinct of {n} = {pct:.4f} %; "
		      f"duplicates {dups}; out of order {disorder}; missing {len(missing)}; "
		      f"multicast::loss events {len(losses)} ({sum(losses)} datagrams)")
		bad = []
		if pct < 99.99:
		    bad.append(f"only {pct:.4f} % delivered (< 99.99 %)")
		if dups:
		    bad.append(f"{dups} delivered twice")
		if disorder:
		    bad.append(f"{disorder} out of order")
		# every missing run must be covered by a multicast::loss delivered after
		# the event before it and before the event after it
		pos = {}
		for i, (k, s) in enumerate(stream):
		    if k == "ev":
		        pos.setdefault(s, i)
		run_start = None
		uncovered = 0
		for m in missing + [None]:
		    if run_start is not None and (m is None or m != prev + 1):
		        lo = pos.get(run_start - 1, -1)
		        hi = pos.get(prev + 1, len(stream))
		        if not any(stream[j][0] == "loss" for j in range(lo + 1, hi)):
		            uncovered += prev - run_start + 1
		            print(f"[{who}] missing {run_start}..{prev}: no multicast::loss between its neighbours")
		        run_start = None
		    if m is not None and run_start is None:
		        run_start = m
		    prev = m
		if uncovered:
		    bad.append(f"{uncovered} missing events not reported by a multicast::loss")
		if bad:
		    sys.exit(f"{who}: " + "; ".join(bad))
	EOF
done
evc_ok "v2 under 10 % loss + reorder + dup: >= 99.99 % exactly once, in order, losses reported"

evc_step "comparison only: the legacy format under the same loss ($LEGACY_N events)"
for id in A B C; do evc_daemon_stop $id || evc_fail "daemon $id did not stop cleanly"; done
start_all legacy
evc_listen B "$EVC_TMP/B.legacy" CUSTOM multicast::event
evc_listen C "$EVC_TMP/C.legacy" CUSTOM multicast::event
evc_cli A send CUSTOM evcast::lossy -H 'Lossy-Test: legacy' --body 'payload of a lossy test event' \
	--repeat "$LEGACY_N" --rate "$RATE" || evc_fail "evcast send --repeat (legacy) failed"
for id in B C; do
	wait_settled "$EVC_TMP/$id.legacy" "$LEGACY_N"
	"$EVC_PY" - "$EVC_TMP/$id.legacy" "$LEGACY_N" "$id" <<-'EOF'
		import json, sys
		path, n, who = sys.argv[1], int(sys.argv[2]), sys.argv[3]
		seqs = []
		for line in open(path, encoding="utf-8", errors="replace"):
		    try:
		        e = json.loads(line)
		    except ValueError:
		        continue
		    if "Orig-Evcast-Test-Seq" in e:
		        seqs.append(int(e["Orig-Evcast-Test-Seq"]))
		u = set(seqs)
		disorder = sum(1 for a, b in zip(seqs, seqs[1:]) if b <= a)
		print(f"[{who}] legacy: {len(u)} of {n} distinct = {100.0 * len(u) / n:.2f} % delivered "
		      f"({100.0 - 100.0 * len(u) / n:.2f} % lost silently), duplicates {len(seqs) - len(u)}, "
		      f"out of order {disorder}")
	EOF
done
