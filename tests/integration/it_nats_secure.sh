#!/usr/bin/env bash
# it_nats_secure.sh -- the NATS link secured (docs/MULTISITE.md "Security"):
# TLS (a CA and server certificate made with openssl for this run), token
# auth, and payloads sealed end to end (nats.conf encrypt=yes, the v2 keys).
#
# Topology: one private bridge; n1 runs nats-server (TLS + token, listening on
# its bridge address only); a1 (group G1) and b1 (group G2) are evcastd nodes
# linked only through NATS; c1 is a misconfigured node. Checks: an event on
# a1 arrives on b1 exactly once; a raw subscriber (tests/tools/evcast_natsraw,
# a NATS operator's view) gets an EVS1 payload in which a header value sent
# does not appear; the captured payload replayed, tampered, moved to another
# subject, and a forged plain payload are all refused by b1 and counted per
# reason (`evcast stats`, the metrics endpoint); a wrong token and a wrong CA
# each give a clear log line and "NATS: disconnected" in `evcast peers`; a
# plain node (encrypt=no) and the sealed ones drop and count each other's payloads;
# encrypt=yes without v2-keys refuses to start, naming nats.conf and v2-keys.
source "$(dirname "$0")/lib.sh"
evc_require
for t in nats-server openssl curl jq; do
	command -v "$t" >/dev/null || evc_fail "missing tool '$t' (scripts/deps.sh installs it)"
done
NATSRAW=${EVCAST_NATSRAW:-$(dirname "$EVCASTD")/evcast_natsraw}
[[ -x "$NATSRAW" ]] || evc_fail "missing $NATSRAW (built with the tests: tests/tools/evcast_natsraw.c)"

G1=239.255.42.41
G2=239.255.42.42
PORT=4243
N1=$(evc_netns_host_addr 1)
TOKEN="tok-$RANDOM$RANDOM"
URL="nats://$N1:4222"
KEYS="7:it-nats-secure-shared-secret"
SECRET="s3cr3t-value-$RANDOM$RANDOM"

evc_step "certificates (openssl): a CA, a server certificate for $N1, and an unrelated CA"
cd "$EVC_TMP"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=evcast-it-ca" -keyout ca.key -out ca.pem 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=evcast-it-other-ca" -keyout other.key \
	-out other-ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=$N1" -keyout srv.key -out srv.csr 2>/dev/null
printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$N1" >srv.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile srv.ext \
	-out srv.pem 2>/dev/null
cd - >/dev/null
evc_ok "server certificate: $(openssl x509 -in "$EVC_TMP/srv.pem" -noout -subject)"

evc_step "namespaces: n1 (nats-server), a1, b1, c1"
evc_lan n1 a1 b1 c1
evc_nats_server n1 "$EVC_TMP/nats.log" -a "$N1" -p 4222 -n evc-sec --tls --tlscert "$EVC_TMP/srv.pem" \
	--tlskey "$EVC_TMP/srv.key" --auth "$TOKEN"

# conf ID GROUP [nats.conf params...]: a node with the v2 keys and a nats.conf.
conf() {
	local id=$1 group=$2
	shift 2
	evc_conf_blocks "$EVC_TMP/$id.xml" address="$group" port="$PORT" bindings="CUSTOM test::ping" \
		node-name="$id" multicast-interface=eth0 heartbeat-interval=1 control-socket="$EVC_TMP/$id.sock" log-level=info \
		v2-keys="$KEYS" nats.conf url="$URL" cluster=sec tls=yes "$@"
}
conf a1 "$G1" token="$TOKEN" ca-file="$EVC_TMP/ca.pem" encrypt=yes max-skew=60
conf b1 "$G2" token="$TOKEN" ca-file="$EVC_TMP/ca.pem" encrypt=yes max-skew=60
echo '<!-- metrics -->' >/dev/null
sed -i 's|</evcast>|  <configuration name="metrics.conf"><settings><param name="enabled" value="yes"/></settings></configuration>\n</evcast>|' \
	"$EVC_TMP/b1.xml"

evc_step "encrypt=yes without v2-keys is refused at start"
evc_conf_blocks "$EVC_TMP/nokey.xml" address="$G1" port="$PORT" node-name=nokey \
	control-socket="$EVC_TMP/nokey.sock" nats.conf url="$URL" encrypt=yes
rc=0
timeout 10 ip netns exec "$(evc_ns c1)" "$EVCASTD" --config "$EVC_TMP/nokey.xml" --foreground \
	>"$EVC_TMP/nokey.log" 2>&1 || rc=$?
[[ $rc -ne 0 && $rc -ne 124 ]] || evc_fail "evcastd started (rc $rc) with encrypt=yes and no key"
grep "nats.conf: encrypt=yes needs a v2 key" "$EVC_TMP/nokey.log" | grep "v2-keys" >/dev/null ||
	evc_fail "no clear refusal: $(cat "$EVC_TMP/nokey.log")"
evc_ok "refused: $(grep -o 'nats.conf: encrypt=yes.*' "$EVC_TMP/nokey.log" | head -n 1)"

evc_step "daemons a1, b1 (TLS, token, sealed)"
evc_daemon_start a1 a1 "$EVC_TMP/a1.xml"
evc_daemon_start b1 b1 "$EVC_TMP/b1.xml"
linked() { evc_cli "$1" peers 2>/dev/null | grep "^NATS: connected to nats://$N1:4222.*sealed" >/dev/null; }
for id in a1 b1; do
	evc_wait_for 10 "$id connected to NATS over TLS" linked "$id" ||
		evc_fail "$id: $(evc_cli "$id" peers | grep NATS) $(tail -n 5 "$EVC_TMP/$id.log")"
done
evc_ok "$(evc_cli b1 peers | grep '^NATS:')"

evc_step "an event on a1 arrives on b1 once; the operator's view is sealed"
raw() { evc_in n1 "$NATSRAW" --token "$TOKEN" --ca "$EVC_TMP/ca.pem" "$URL" "$@"; }
raw sub "evcast.sec.>" "$EVC_TMP/cap" 1 10 >"$EVC_TMP/raw.out" 2>"$EVC_TMP/raw.err" &
RAWPID=$!
EVC_BG+=($RAWPID)
raw_ready() { grep -q ready "$EVC_TMP/raw.out"; }
evc_wait_for 10 "raw subscriber ready" raw_ready || evc_fail "raw subscriber: $(cat "$EVC_TMP/raw.err")"
evc_listen b1 "$EVC_TMP/b1.listen"
evc_cli a1 send CUSTOM test::ping -H "X-Test-Id: sec-1" -H "X-Secret-Header: $SECRET" >/dev/null ||
	evc_fail "send on a1"
has() { evc_json_has "$EVC_TMP/b1.listen" ".[\"Orig-X-Test-Id\"] == \"$1\""; }
cnt() { evc_json_count "$EVC_TMP/b1.listen" ".[\"Orig-X-Test-Id\"] == \"$1\""; }
evc_wait_for 10 "sec-1 on b1" has sec-1 || evc_fail "sec-1 never reached b1: $(tail -n 5 "$EVC_TMP/b1.log")"
evc_json_has "$EVC_TMP/b1.listen" ".[\"Orig-X-Secret-Header\"] == \"$SECRET\"" ||
	evc_fail "b1 got sec-1 without its header"
wait "$RAWPID" || evc_fail "raw subscriber got nothing: $(cat "$EVC_TMP/raw.err")"
CAP="$EVC_TMP/cap.0"
SUBJ=$(cat "$CAP.subject")
[[ "$SUBJ" == evcast.sec.CUSTOM.test.ping ]] || evc_fail "subject $SUBJ"
[[ "$(head -c 4 "$CAP")" == EVS1 ]] || evc_fail "payload is not sealed: $(head -c 40 "$CAP" | od -c | head -n 2)"
if grep -a -F "$SECRET" "$CAP" >/dev/null || grep -a -F "test::ping" "$CAP" >/dev/null; then
	evc_fail "the header value is readable in the NATS payload"
fi
evc_ok "payload on $SUBJ: $(stat -c %s "$CAP") bytes, EVS1, no plaintext header"

# rejected REASON MIN: b1 counted at least MIN payloads rejected for REASON.
rejected() { [[ "$(evc_cli b1 stats | jq --arg r "$1" '.nats.rejects[$r] // 0')" -ge "$2" ]]; }

evc_step "replayed, tampered, moved, forged payloads are refused and counted on b1"
raw pub "$SUBJ" "$CAP" || evc_fail "publish the replay"
evc_wait_for 10 "b1 counts the replay" rejected replayed 1 || evc_fail "replay not counted: $(evc_cli b1 stats | jq -c .nats)"
cp "$CAP" "$EVC_TMP/tampered"
size=$(stat -c %s "$CAP")
# Flip the byte's bits (writing a fixed value left the payload unchanged when
# that byte already held it: 1 run in 256 then saw a replay, not a bad tag).
byte=$(od -An -tu1 -j $((size - 20)) -N 1 "$CAP" | tr -d ' ')
printf "\\x$(printf %02x $((byte ^ 0xff)))" | dd of="$EVC_TMP/tampered" bs=1 seek=$((size - 20)) conv=notrunc status=none
cmp -s "$CAP" "$EVC_TMP/tampered" && evc_fail "the tampered copy equals the capture"
raw pub "$SUBJ" "$EVC_TMP/tampered" || evc_fail "publish the tampered payload"
evc_wait_for 10 "b1 counts the tampered payload" rejected bad_tag 1 || evc_fail "tamper not counted"
raw pub evcast.sec.CUSTOM.test.other "$CAP" || evc_fail "publish on another subject"
evc_wait_for 10 "b1 counts the moved payload" rejected bad_tag 2 || evc_fail "moved payload not counted"
printf 'EVN1Event-Name: CUSTOM\nEvent-Subclass: test::ping\nX-Test-Id: forged\nCore-UUID: f0f0f0f0-0000-4000-8000-000000000001\nEvent-Sequence: 1\n\n' \
	>"$EVC_TMP/forged"
raw pub "$SUBJ" "$EVC_TMP/forged" || evc_fail "publish the forged plain payload"
evc_wait_for 10 "b1 counts the plain payload" rejected nats_plain_while_encrypt 1 || evc_fail "plain not counted"
sleep 0.5
[[ "$(cnt sec-1)" -eq 1 ]] || evc_fail "sec-1 reached b1 $(cnt sec-1) times"
[[ "$(cnt forged)" -eq 0 ]] || evc_fail "the forged event was delivered"
grep "nats: evcast.sec.CUSTOM.test.other: payload of [0-9]* bytes rejected: bad_tag" "$EVC_TMP/b1.log" >/dev/null ||
	evc_fail "no log line for the moved payload: $(grep 'nats:' "$EVC_TMP/b1.log" | tail -n 5)"
evc_ok "b1 rejects: $(evc_cli b1 stats | jq -c .nats.rejects)"
metrics=$(evc_in b1 curl -fsS --max-time 5 http://127.0.0.1:9464/metrics) || evc_fail "b1 metrics"
grep -E '^evcast_nats_rejected_by_reason_total\{reason="bad_tag"\} [2-9]' <<<"$metrics" >/dev/null ||
	evc_fail "no bad_tag in b1's metrics: $(grep nats_rej <<<"$metrics")"
grep -E '^evcast_nats_rejected_total [4-9]' <<<"$metrics" >/dev/null || evc_fail "no evcast_nats_rejected_total"
evc_ok "metrics: $(grep -c '^evcast_nats_rejected_by_reason_total' <<<"$metrics") reasons exported"
evc_cli a1 send CUSTOM test::ping -H "X-Test-Id: sec-2" >/dev/null || evc_fail "send on a1"
evc_wait_for 10 "sec-2 on b1 after the attacks" has sec-2 || evc_fail "sec-2 never reached b1"
evc_ok "the link still carries events"

# down ID WHAT PATTERN: node ID logs PATTERN and shows the link down.
down() {
	local id=$1 what=$2 pat=$3
	logged() { grep -E "nats: link to .* down: .*($pat)" "$EVC_TMP/$id.log" >/dev/null; }
	evc_wait_for 10 "$id logs why ($what)" logged || evc_fail "$id: no clear log line: $(tail -n 5 "$EVC_TMP/$id.log")"
	evc_cli "$id" peers | grep "^NATS: disconnected from nats://$N1:4222" >/dev/null ||
		evc_fail "$id peers: $(evc_cli "$id" peers | grep NATS)"
	evc_ok "$what: $(grep -E -o "nats: link to .* down: .*" "$EVC_TMP/$id.log" | head -n 1)"
}

evc_step "wrong token: a clear log line, the link down"
conf c1 "$G1" token="wrong-token" ca-file="$EVC_TMP/ca.pem" encrypt=yes
evc_daemon_start c1 c1 "$EVC_TMP/c1.xml"
down c1 "wrong token" "[Aa]uthoriz"
sleep 6 # libnats may close the connection for good: the daemon re-creates it, and lives on
evc_alive c1 || evc_fail "c1 died: $(tail -n 5 "$EVC_TMP/c1.log")"
evc_log "c1 after 6 s: $(grep -c 're-creating the connection' "$EVC_TMP/c1.log" || true) connection(s) re-created"
evc_cli c1 peers | grep "^NATS: disconnected from" >/dev/null || evc_fail "c1: $(evc_cli c1 peers | grep NATS)"
evc_daemon_stop c1 || evc_fail "c1 did not stop cleanly"

evc_step "TLS with a CA that did not sign the server: a clear log line, the link down"
conf c2 "$G1" token="$TOKEN" ca-file="$EVC_TMP/other-ca.pem" encrypt=yes
evc_daemon_start c2 c1 "$EVC_TMP/c2.xml"
down c2 "wrong CA" "SSL|TLS|[Cc]ertificate|handshake"
evc_daemon_stop c2 || evc_fail "c2 did not stop cleanly"

evc_step "a plain node (encrypt=no) among sealed ones: each side drops and counts the other's"
conf c3 "$G1" token="$TOKEN" ca-file="$EVC_TMP/ca.pem" encrypt=no
evc_daemon_start c3 c1 "$EVC_TMP/c3.xml"
plain_linked() { evc_cli c3 peers 2>/dev/null | grep "^NATS: connected to" >/dev/null; }
evc_wait_for 10 "c3 connected" plain_linked || evc_fail "c3: $(evc_cli c3 peers | grep NATS)"
sleep 0.3 # its subscription reaches the server
evc_cli a1 send CUSTOM test::ping -H "X-Test-Id: sec-3" >/dev/null || evc_fail "send on a1"
evc_wait_for 10 "sec-3 on b1" has sec-3 || evc_fail "sec-3 never reached b1"
c3_rejects() { [[ "$(evc_cli c3 stats | jq '.nats.rejects.nats_sealed_while_plain // 0')" -ge 1 ]]; }
evc_wait_for 10 "c3 counts the sealed payload" c3_rejects || evc_fail "c3: $(evc_cli c3 stats | jq -c .nats)"
evc_cli c3 send CUSTOM test::ping -H "X-Test-Id: plain-1" >/dev/null || evc_fail "send on c3"
evc_wait_for 10 "b1 counts c3's plain payload" rejected nats_plain_while_encrypt 2 || evc_fail "plain from c3 not counted"
[[ "$(cnt plain-1)" -eq 0 ]] || evc_fail "b1 delivered c3's plain event"
evc_ok "c3 rejects: $(evc_cli c3 stats | jq -c '.nats.rejects | with_entries(select(.value > 0))')"
evc_log "PASS"
