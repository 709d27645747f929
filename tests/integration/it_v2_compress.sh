#!/usr/bin/env bash
# it_v2_compress.sh -- zstd-compressed v2 batches between daemons, under loss.
#
# Topology: A and B in namespaces on a private bridge (scripts/netns.sh lan),
# group 239.255.42.9:4249, protocol v2 sealed with one key; A has
# v2-compress yes (docs/PROTOCOL.md 6.1), B does not (a receiver accepts
# compressed batches whatever its own setting). nftables drops 5 % of the UDP
# into B. A sends N events (default 20000, env V2_COMPRESS_COUNT) at 10000/s
# (V2_COMPRESS_RATE), several per turn of A's loop, so batches form. Asserts: B delivers all N
# exactly once and in order (retransmitted compressed datagrams included),
# A's datagrams carry several events each (batches compressed into 1400-byte
# datagrams: >= 2 events per datagram and < 450 bytes on the wire per ~600-byte
# event), B dropped nothing as `flags` or `batch`,
# and the loss really happened and was recovered by NAK.
source "$(dirname "$0")/lib.sh"
evc_require
command -v nft >/dev/null || evc_fail "missing tool 'nft' (Debian package nftables)"

GROUP=239.255.42.9
PORT=4249
N=${V2_COMPRESS_COUNT:-20000}
RATE=${V2_COMPRESS_RATE:-10000}  # several events per loop turn on A, and B's subscriber keeps up
KEY=$("$EVCAST" keygen --id 1) || evc_fail "evcast keygen failed"

conf() {
	local id=$1
	shift
	evc_conf "$EVC_TMP/$id.xml" address=$GROUP port=$PORT "bindings=HEARTBEAT CUSTOM evcast::zbatch" ttl=1 \
		loopback=no node-name="$id" multicast-interface=eth0 heartbeat-interval=1 peer-timeout=5 \
		control-socket="$EVC_TMP/$id.sock" log-level=warning protocol=v2 "v2-keys=$KEY" "$@"
}

evc_step "network: A, B on a private bridge; 5 % kernel loss into B (nftables)"
evc_lan A B
evc_loss_on B $PORT 20

evc_step "A: protocol v2, v2-compress yes; B: protocol v2 (no compression of its own)"
conf A "v2-compress=${V2_COMPRESS_SETTING:-yes}" # (no: the same run without compression, for comparison)
conf B
evc_daemon_start A A "$EVC_TMP/A.xml"
evc_daemon_start B B "$EVC_TMP/B.xml"
evc_listen B "$EVC_TMP/B.ev" CUSTOM multicast::event multicast::loss
evc_wait_for 10 "B sees A UP" evc_peer_is B A UP || evc_fail "B does not see A: $(evc_cli B peers)"

evc_step "A sends $N events at $RATE/s"
# a body that looks like event text (compressible as real events are, not one repeated byte)
BODY="contact=sip:user@10.1.2.3:5060;transport=udp expires=3600 agent=Example-Phone/1.2"
# In chunks of CHUNK events, each paced at RATE, the next sent only once B's listener has
# written all but two chunks: the test's own client (`evcast listen --json` on B, one flush per
# event) then never falls behind by more than the daemon's per-client queue holds, however slow
# a loaded machine (or ASan) makes it. Numbering continues across chunks (--first).
CHUNK=2000
delivered() { grep -c '"Orig-Evcast-Test-Seq"' "$EVC_TMP/B.ev" 2>/dev/null || true; }
for ((first = 1; first <= N; first += CHUNK)); do
	k=$((N - first + 1 < CHUNK ? N - first + 1 : CHUNK))
	evc_wait_for 60 "B's listener within two chunks" eval '[[ $(delivered) -ge $((first - 1 - 2 * CHUNK)) ]]' ||
		evc_fail "B's listener stalled at $(delivered) events"
	evc_cli A send CUSTOM evcast::zbatch -H 'Zbatch-Test: yes' --body "$BODY" --repeat "$k" --first "$first" \
		--rate "$RATE" >/dev/null || evc_fail "evcast send --repeat failed"
done
last=-1
for ((i = 0; i < 600; i++)); do
	n=$(grep -c '"Orig-Evcast-Test-Seq"' "$EVC_TMP/B.ev" 2>/dev/null || true)
	[[ $n -ge $N ]] && break
	[[ $n -eq $last && $i -gt 100 ]] && break
	last=$n
	sleep 0.1
done
for id in A B; do
	evc_stats $id | jq -c '{v2_tx_events, v2_tx_datagrams, v2_retransmits, v2_naks_tx, v2_rx_datagrams,
		v2_rx_events, v2_lost, v2_recovered, drops: (.v2_drops // {} | with_entries(select(.value > 0)))}' |
		sed "s/^/[$EVC_TEST] stats $id: /"
done

evc_step "check: all delivered once, in order; several events per datagram; no flags/batch drops"
txe=$(evc_stat A v2_tx_events)
txd=$(evc_stat A v2_tx_datagrams)
rxb=$(evc_stat B rx_bytes)
rxe=$(evc_stat B v2_rx_events)
[[ $txd -gt 0 && $((txe * 10 / txd)) -ge 20 ]] || evc_fail "A sent $txe events in $txd datagrams: not batched"
evc_log "A: $txe events in $txd datagrams; B: $rxb bytes received for $rxe events ($((rxb / rxe)) per event)"
# an event's text is ~600 bytes here: fewer than 450 on the wire per event (datagram headers,
# retransmissions and heartbeats included) means compressed batches (about 290 seen at 10000/s)
[[ $rxe -gt 0 && $((rxb / rxe)) -lt 450 ]] || evc_fail "B received $((rxb / rxe)) bytes per event: not compressed"
for r in flags batch; do
	v=$(evc_stats B | jq -r ".v2_drops.\"$r\" // 0")
	[[ "$v" == 0 ]] || evc_fail "B dropped $v datagrams as '$r'"
done
dropped=$(evc_loss_dropped B)
evc_log "nft dropped $dropped datagrams into B"
[[ $dropped -gt 0 ]] || evc_fail "nft dropped nothing: the test proves nothing about recovery"
[[ "$(evc_stat B v2_recovered)" -gt 0 ]] || evc_fail "B recovered nothing by NAK"
"$EVC_PY" - "$EVC_TMP/B.ev" "$N" <<-'EOF' || evc_fail "delivery check failed on B"
	import json, sys
	path, n = sys.argv[1], int(sys.argv[2])
	seqs = []
	for line in open(path, encoding="utf-8", errors="replace"):
	    try:
	        e = json.loads(line)
	    except ValueError:
	        continue
	    if e.get("Event-Subclass") == "multicast::event" and "Orig-Evcast-Test-Seq" in e:
	        if e.get("Multicast-Authenticated") != "true" or "contact=sip:user@10.1.2.3" not in e.get("_body", ""):
	            sys.exit(f"unexpected event: {line[:300]}")
	        seqs.append(int(e["Orig-Evcast-Test-Seq"]))
	print(f"[B] delivered {len(seqs)} of {n}, distinct {len(set(seqs))}")
	if sorted(set(seqs)) != list(range(1, n + 1)) or len(seqs) != n:
	    sys.exit(f"B: {n - len(set(seqs))} missing, {len(seqs) - len(set(seqs))} duplicated")
	if any(b <= a for a, b in zip(seqs, seqs[1:])):
	    sys.exit("B: out of order")
EOF
evc_ok "compressed v2 batches: $N events delivered once, in order, through 5 % loss"
