#!/usr/bin/env bash
# it_v2_keysfile.sh -- v2 keys in a file (v2-keys-file, issue 13 finding 10):
# rotation by editing the file and reloading, the XML untouched.
#
# Topology: A and B on a private bridge, group 239.255.42.62:4262, protocol v2.
# Each reads its keys from its own file next to its config ("A.keys", relative
# to the config's directory), mode 0600. Checks: A's events reach B
# authenticated; the keys rotate {1} -> {1, 2} -> {2, 1} (2 primary) -> {2}
# with one SIGHUP per step and per node, each reload applied (the XML is the
# same: the file's keys are part of the configuration's digest), and an event
# sent after every step is delivered authenticated; a keys file made readable
# by others is refused at reload with the file named, the keys in force are
# kept and traffic goes on; proof that A seals with key 2 at the end: B with
# key 1 only counts A's next datagrams `nokey`.
source "$(dirname "$0")/lib.sh"
evc_require

GROUP=239.255.42.62
PORT=4262
K1=$("$EVCAST" keygen --id 1) || evc_fail "evcast keygen failed"
K2=$("$EVCAST" keygen --id 2) || evc_fail "evcast keygen failed"

# keys ID KEY...: ID's keys file, one key per line, written mode 0600 and renamed into place
keys() {
	local id=$1 f="$EVC_TMP/$1.keys"
	shift
	(umask 077 && { echo "# $id's v2 keys, first = primary"; printf '%s\n' "$@"; } >"$f.tmp") && mv "$f.tmp" "$f"
}
conf() {
	evc_conf "$EVC_TMP/$1.xml" address=$GROUP port=$PORT "bindings=HEARTBEAT CUSTOM evcast::keysfile" ttl=1 \
		loopback=no node-name="$1" multicast-interface=eth0 heartbeat-interval=1 peer-timeout=5 \
		control-socket="$EVC_TMP/$1.sock" log-level=notice protocol=v2 v2-keys-file="$1.keys"
}
# reload ID: SIGHUP; wait until applied, with no failure
reload() {
	local id=$1 before fails
	before=$(evc_stat "$id" reloads)
	fails=$(evc_stat "$id" reload_failures)
	evc_daemon_hup "$id"
	evc_wait_for 5 "$id applied its reload" evc_stat_ge "$id" reloads $((before + 1)) ||
		evc_fail "$id did not apply the reload: $(tail -n 5 "$EVC_TMP/$id.log")"
	[[ "$(evc_stat "$id" reload_failures)" -eq $fails ]] || evc_fail "$id: reload failed: $(tail -n 5 "$EVC_TMP/$id.log")"
}
SENT=0
# send_check WHAT: A sends one event; B must deliver it, authenticated
send_check() {
	SENT=$((SENT + 1))
	evc_cli A send CUSTOM evcast::keysfile -H "Step: $SENT" >/dev/null || evc_fail "evcast send on A failed"
	evc_wait_for 5 "B delivers event $SENT ($1)" evc_json_has "$EVC_TMP/B.events" \
		"$EVC_JQ_MEVENT and .[\"Orig-Step\"] == \"$SENT\" and .[\"Multicast-Authenticated\"] == \"true\"" ||
		evc_fail "B did not deliver event $SENT authenticated ($1): $(tail -n 3 "$EVC_TMP/B.events")"
	evc_ok "$1: event $SENT delivered authenticated"
}

evc_step "network: A and B, each with key 1 in its own file (mode 0600)"
evc_lan A B
for id in B A; do
	keys $id "$K1"
	conf $id
	evc_daemon_start $id $id "$EVC_TMP/$id.xml"
done
grep -q 'protocol v2 (XChaCha20-Poly1305)' "$EVC_TMP/A.log" || evc_fail "A does not seal: $(grep started "$EVC_TMP/A.log")"
evc_listen B "$EVC_TMP/B.events" CUSTOM multicast::event
evc_wait_for 10 "B sees A UP" evc_peer_is B A UP || evc_fail "B does not see A: $(evc_cli B peers)"
send_check "key 1"

evc_step "rotation by the files alone: {1} -> {1, 2} -> {2, 1} -> {2}"
cp "$EVC_TMP/A.xml" "$EVC_TMP/A.xml.orig"
keys B "$K1" "$K2"; reload B
keys A "$K1" "$K2"; reload A
send_check "step 1, key 2 added (1 primary)"
keys B "$K2" "$K1"; reload B
keys A "$K2" "$K1"; reload A
send_check "step 2, key 2 primary"
keys B "$K2"; reload B
keys A "$K2"; reload A
send_check "step 3, key 1 removed"
cmp -s "$EVC_TMP/A.xml" "$EVC_TMP/A.xml.orig" || evc_fail "the XML changed"
for r in nokey auth plain; do
	[[ "$(evc_stats B | jq -r --arg r $r '.v2_drops[$r] // 0')" -eq 0 ]] || evc_fail "B counted $r drops during the rotation"
done
evc_ok "3 reloads per node applied with the XML unchanged; no nokey/auth/plain drop"

evc_step "a keys file readable by others is refused at reload; the keys in force stay"
errs=$(evc_stat B config_errors)
chmod 644 "$EVC_TMP/B.keys"
evc_daemon_hup B
evc_wait_for 5 "B refuses the reload (config_errors)" evc_stat_ge B config_errors $((errs + 1)) ||
	evc_fail "B did not refuse a keys file of mode 0644: $(tail -n 3 "$EVC_TMP/B.log")"
grep -q "$EVC_TMP/B.keys: mode 0644 lets group or others in; it must be 0600 or stricter" "$EVC_TMP/B.log" ||
	evc_fail "the refusal does not name the file: $(tail -n 3 "$EVC_TMP/B.log")"
evc_ok "$(grep -o 'B.keys: mode 0644.*' "$EVC_TMP/B.log" | head -n 1)"
grep -F -q "${K2#*:}" "$EVC_TMP/B.log" "$EVC_TMP/A.log" && evc_fail "a key reached a log"
evc_alive B || evc_fail "B died"
send_check "after the refused reload"
chmod 600 "$EVC_TMP/B.keys"

evc_step "A really seals with key 2: B with key 1 only counts nokey"
keys B "$K1"; reload B
before=$(evc_stats B | jq -r '.v2_drops.nokey // 0')
evc_cli A send CUSTOM evcast::keysfile --repeat 5 >/dev/null || evc_fail "evcast send failed"
evc_wait_for 5 "B counts nokey" eval '[[ $(evc_stats B | jq -r ".v2_drops.nokey // 0") -gt $before ]]' ||
	evc_fail "B (key 1 only) did not count A's key-2 datagrams nokey: $(evc_stats B | jq -c .v2_drops)"
evc_ok "B with key 1 only: $(( $(evc_stats B | jq -r '.v2_drops.nokey // 0') - before )) datagrams of A counted nokey"
