#!/usr/bin/env bash
# it_v2_rotation.sh -- wire protocol v2 key rotation under traffic, no event lost.
#
# Topology: A and B on a private bridge, group 239.255.42.9:4249, protocol v2,
# retransmit-age 1 s. A sends a steady stream (evcast send --repeat --rate)
# while both nodes rotate by SIGHUP reloads, as docs/PROTOCOL.md 3.1 says:
# keys {1} -> {1, 2} (1 primary) -> {1, 2} with 2 primary -> {2}. Asserts: B
# delivers every event once, in order; no v2 drop for nokey/auth/plain, no
# loss; each reload applied (stats "reloads"). Proof that A really seals with
# key 2 at the end: B reloaded with key 1 only counts A's next events `nokey`.
source "$(dirname "$0")/lib.sh"
evc_require

GROUP=239.255.42.9
PORT=4249
N=${V2_ROTATION_COUNT:-6000}
RATE=${V2_ROTATION_RATE:-500}
K1=$("$EVCAST" keygen --id 1) || evc_fail "evcast keygen failed"
K2=$("$EVCAST" keygen --id 2) || evc_fail "evcast keygen failed"

# conf ID KEYS [PRIMARY]
conf() {
	local id=$1 keys=$2 primary=${3:-} extra=()
	[[ -n "$primary" ]] && extra=("v2-primary-key=$primary")
	evc_conf "$EVC_TMP/$id.xml" address=$GROUP port=$PORT "bindings=HEARTBEAT CUSTOM evcast::rotation" ttl=1 \
		loopback=no node-name="$id" multicast-interface=eth0 heartbeat-interval=1 peer-timeout=5 \
		control-socket="$EVC_TMP/$id.sock" log-level=notice protocol=v2 retransmit-age=1000 \
		"v2-keys=$keys" "${extra[@]}"
}

# reload ID KEYS [PRIMARY]: rewrite ID's config, SIGHUP, wait until applied.
reload() {
	local id=$1 before
	before=$(evc_stat "$id" reloads)
	conf "$@"
	evc_daemon_hup "$id"
	evc_wait_for 5 "$id applied its reload" evc_stat_ge "$id" reloads $((before + 1)) ||
		evc_fail "$id did not apply the reload: $(tail -n 5 "$EVC_TMP/$id.log")"
	[[ "$(evc_stat "$id" reload_failures)" -eq 0 ]] || evc_fail "$id: reload failed: $(tail -n 5 "$EVC_TMP/$id.log")"
	evc_log "$id reloaded: key ids $(sed 's/:[^,]*//g' <<<"$2"), primary ${3:-the first}"
}

evc_step "network: A and B; both with key 1 (B first: it hears A's datagrams from seq 1)"
evc_lan A B
for id in B A; do
	conf $id "$K1"
	evc_daemon_start $id $id "$EVC_TMP/$id.xml"
done
evc_listen B "$EVC_TMP/B.events" CUSTOM multicast::event multicast::loss
evc_wait_for 10 "B sees A UP" evc_peer_is B A UP || evc_fail "B does not see A: $(evc_cli B peers)"

evc_step "A sends $N events at $RATE/s while the keys rotate"
evc_cli A send CUSTOM evcast::rotation --body 'rotation test' --repeat "$N" --rate "$RATE" \
	>"$EVC_TMP/send.out" 2>&1 &
SENDER=$!
EVC_BG+=($SENDER)
sleep 2
evc_log "step 1: add key 2 everywhere (key 1 stays primary)"
reload B "$K1, $K2"
reload A "$K1, $K2"
sleep 2
evc_log "step 2: make key 2 primary everywhere"
reload B "$K1, $K2" 2
reload A "$K1, $K2" 2
sleep 2.5 # longer than retransmit-age: nothing sealed with key 1 is re-sent any more
evc_log "step 3: remove key 1"
reload B "$K2" 2
reload A "$K2" 2
wait $SENDER || evc_fail "evcast send failed: $(cat "$EVC_TMP/send.out")"
cat "$EVC_TMP/send.out"
evc_wait_for 10 "B delivered $N events" evc_json_has "$EVC_TMP/B.events" '.["Orig-Evcast-Test-Seq"] != null' "$N" ||
	true

evc_step "check: every event once, in order; no key-related drop; no loss"
"$EVC_PY" - "$EVC_TMP/B.events" "$N" <<-'EOF' || evc_fail "delivery check failed"
	import json, sys
	path, n = sys.argv[1], int(sys.argv[2])
	seqs, losses = [], 0
	for line in open(path, encoding="utf-8", errors="replace"):
	    try:
	        e = json.loads(line)
	    except ValueError:
	        continue
	    if e.get("Event-Subclass") == "multicast::loss":
	        losses += 1
	    elif "Orig-Evcast-Test-Seq" in e:
	        if e.get("Multicast-Authenticated") != "true":
	            sys.exit("an event was not authenticated: " + line[:200])
	        seqs.append(int(e["Orig-Evcast-Test-Seq"]))
	print(f"B delivered {len(seqs)} of {n}, distinct {len(set(seqs))}, multicast::loss {losses}")
	if seqs != list(range(1, n + 1)):
	    missing = sorted(set(range(1, n + 1)) - set(seqs))
	    sys.exit(f"not exactly 1..{n} in order: {len(missing)} missing (first {missing[:5]}), "
	             f"{len(seqs) - len(set(seqs))} duplicates")
	if losses:
	    sys.exit(f"{losses} multicast::loss events during the rotation")
EOF
drops=$(evc_stats B | jq -c '.v2_drops // {}')
evc_log "B v2_drops: $(jq -c 'with_entries(select(.value > 0))' <<<"$drops")"
for r in nokey auth plain; do
	[[ "$(jq -r --arg r $r '.[$r] // 0' <<<"$drops")" -eq 0 ]] || evc_fail "B counted $r drops during the rotation"
done
[[ "$(evc_stat B v2_lost)" -eq 0 ]] || evc_fail "B declared $(evc_stat B v2_lost) datagrams lost"
evc_ok "rotation 1 -> 2 under traffic: $N events delivered once, in order, no key drop, no loss"

evc_step "A now seals with key 2: B with key 1 only rejects it (nokey)"
reload B "$K1"
evc_cli A send CUSTOM evcast::rotation --body 'after rotation' --repeat 5 >/dev/null ||
	evc_fail "evcast send failed"
evc_wait_for 5 "B counts nokey" evc_stat_ge B v2_drops_total 1 ||
	evc_fail "B (key 1 only) dropped nothing of A's key-2 traffic"
nokey=$(evc_stats B | jq -r '.v2_drops.nokey // 0')
[[ $nokey -ge 1 ]] || evc_fail "B's drops are not nokey: $(evc_stats B | jq -c '.v2_drops')"
evc_ok "B with key 1 only: $nokey datagrams of A counted nokey"
