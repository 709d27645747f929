#!/usr/bin/env bash
# it_interop_vectors.sh -- captured FreeSWITCH datagrams and legacy vectors, raw.
#
# For every EVCAST_VECTORS/{freeswitch,legacy}/NAME.bin: (1) `evcast decode
# --legacy [--psk]` prints exactly decoded_headers/decoded_body; (2) for legacy
# vectors, `evcast encode --legacy [--psk --uuid]` of NAME.json is NAME.bin byte
# for byte; (3) the datagram sent raw over UDP (python3, inside a private
# namespace with multicast on lo) to a daemon with the matching psk is
# delivered as CUSTOM multicast::event with every decoded header as Orig-NAME
# and the body. Also: rejections exit 1 with a one-line reason, usage errors
# exit 2, and malformed datagrams are counted and never stall the receiver.
source "$(dirname "$0")/lib.sh"
evc_require
[[ -d "$EVCAST_VECTORS/legacy" && -d "$EVCAST_VECTORS/freeswitch" ]] ||
	evc_fail "no vectors in $EVCAST_VECTORS (set EVCAST_VECTORS)"

GROUP=239.255.42.3
BASE_PORT=4300
mapfile -t VECTORS < <(ls "$EVCAST_VECTORS"/freeswitch/*.bin "$EVCAST_VECTORS"/legacy/*.bin)
[[ ${#VECTORS[@]} -ge 8 ]] || evc_fail "expected at least 8 vectors, found ${#VECTORS[@]}"
evc_log "${#VECTORS[@]} vectors in $EVCAST_VECTORS"

# The checker: compares a decode output, or finds the delivered event in a
# listener's output, against a vector's decoded_headers/decoded_body.
cat >"$EVC_TMP/check.py" <<'EOF'
import json, sys

def load(path):
    with open(path) as f:
        return json.load(f)

def decode(vec_path, out_path):
    vec, got = load(vec_path), load(out_path)
    want = {"headers": vec["decoded_headers"], "body": vec["decoded_body"]}
    if got == want:
        return 0
    for i, (w, g) in enumerate(zip(want["headers"], got.get("headers", []))):
        if w != g:
            print(f"header {i}: want {w!r} got {g!r}")
            break
    if len(want["headers"]) != len(got.get("headers", [])):
        print(f"header count: want {len(want['headers'])} got {len(got.get('headers', []))}")
    if want["body"] != got.get("body"):
        print(f"body: want {want['body']!r} got {got.get('body')!r}")
    return 1

def values(v):
    return v if isinstance(v, list) else [v]

def delivered(vec_path, events_path):
    vec = load(vec_path)
    want = {}
    for name, value in vec["decoded_headers"]:
        want.setdefault("Orig-" + name, []).append(value)
    best = None
    with open(events_path) as f:
        for line in f:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("Event-Subclass") != "multicast::event" or ev.get("Multicast") != "yes":
                continue
            bad = [k for k, v in want.items() if values(ev.get(k)) != v]
            if vec["decoded_body"] is not None and ev.get("_body") != vec["decoded_body"]:
                bad.append("_body")
            if not bad:
                return 0
            if best is None or len(bad) < len(best[0]):
                best = (bad, ev)
    if best and len(sys.argv) > 4:
        k = best[0][0]
        print(f"closest event differs in {len(best[0])} field(s), first {k}: "
              f"want {want.get(k, vec['decoded_body'])!r} got {best[1].get(k)!r}")
    return 1

mode = sys.argv[1]
sys.exit(decode(sys.argv[2], sys.argv[3]) if mode == "decode" else delivered(sys.argv[2], sys.argv[3]))
EOF
check() { "$EVC_PY" "$EVC_TMP/check.py" "$@"; }

psk_of() { jq -r '.psk // ""' "${1%.bin}.json"; }
psk_args() { local k; k=$(psk_of "$1"); [[ -n "$k" ]] && printf '%s\0%s\0' --psk "$k"; return 0; }

evc_step "CLI: decode --legacy of every vector"
for bin in "${VECTORS[@]}"; do
	name=$(basename "${bin%.bin}")
	mapfile -d '' -t pa < <(psk_args "$bin")
	"$EVCAST" decode --legacy "${pa[@]}" <"$bin" >"$EVC_TMP/$name.decoded" 2>"$EVC_TMP/$name.decode.err" ||
		evc_fail "$name: decode exited $? ($(cat "$EVC_TMP/$name.decode.err"))"
	why=$(check decode "${bin%.bin}.json" "$EVC_TMP/$name.decoded") || evc_fail "$name: decode differs: $why"
done
evc_ok "${#VECTORS[@]} datagrams decode to decoded_headers/decoded_body"

evc_step "CLI: encode --legacy of every legacy vector, byte for byte"
n=0
for bin in "$EVCAST_VECTORS"/legacy/*.bin; do
	json=${bin%.bin}.json
	name=$(basename "${bin%.bin}")
	args=()
	if [[ -n "$(psk_of "$bin")" ]]; then
		args=(--psk "$(psk_of "$bin")" --uuid "$(jq -r .uuid "$json")")
	fi
	"$EVCAST" encode --legacy "${args[@]}" <"$json" >"$EVC_TMP/$name.encoded" 2>"$EVC_TMP/$name.encode.err" ||
		evc_fail "$name: encode exited $? ($(cat "$EVC_TMP/$name.encode.err"))"
	cmp "$EVC_TMP/$name.encoded" "$bin" >/dev/null ||
		evc_fail "$name: encode differs from the vector: $(cmp "$EVC_TMP/$name.encoded" "$bin" 2>&1 | head -n 1) \
($(stat -c %s "$EVC_TMP/$name.encoded") vs $(stat -c %s "$bin") bytes)"
	n=$((n + 1))
done
evc_ok "$n legacy vectors encode to their .bin byte for byte"

evc_step "CLI: rejections exit 1 with one line, usage errors exit 2"
expect_reject() { # DESC CMD...: must exit 1 with exactly one line on stderr
	local desc=$1 rc=0
	shift
	"$@" >"$EVC_TMP/rej.out" 2>"$EVC_TMP/rej.err" || rc=$?
	[[ $rc -eq 1 ]] || evc_fail "$desc: exit $rc, want 1 (stderr: $(cat "$EVC_TMP/rej.err"))"
	[[ $(wc -l <"$EVC_TMP/rej.err") -eq 1 ]] || evc_fail "$desc: want one line on stderr, got: $(cat "$EVC_TMP/rej.err")"
	evc_log "  $desc -> exit 1: $(cat "$EVC_TMP/rej.err")"
}
L=$EVCAST_VECTORS/legacy
expect_reject "wrong psk" sh -c '"$0" decode --legacy --psk wrong-key <"$1"' "$EVCAST" "$L/register_bf.bin"
expect_reject "plaintext while a psk is set" sh -c '"$0" decode --legacy --psk k <"$1"' "$EVCAST" "$L/register_plain.bin"
expect_reject "encrypted without a psk" sh -c '"$0" decode --legacy <"$1"' "$EVCAST" "$L/register_bf.bin"
expect_reject "zero-length datagram" sh -c '"$0" decode --legacy </dev/null' "$EVCAST"
expect_reject "truncated datagram" sh -c 'head -c 100 "$1" | "$0" decode --legacy' "$EVCAST" "$L/register_plain.bin"
rc=0
"$EVCAST" decode --no-such-flag </dev/null >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || evc_fail "usage error: exit $rc, want 2"
for cmd in peers send listen encode decode; do
	"$EVCAST" $cmd --help >/dev/null 2>&1 || evc_fail "evcast $cmd --help exited $?"
done
evc_ok "exit codes and --help as documented"

evc_step "daemons: one per psk, in a private namespace (multicast on lo)"
evc_lo R
declare -A PORT_OF=() DAEMON_OF=()
i=0
while IFS= read -r key; do
	i=$((i + 1))
	id="R$i"
	PORT_OF[$key]=$((BASE_PORT + i))
	params=("address=$GROUP" "port=${PORT_OF[$key]}" "bindings=HEARTBEAT" ttl=1 loopback=yes
		node-name="interop-$i" multicast-interface=lo heartbeat-interval=1 peer-timeout=3
		control-socket="$EVC_TMP/$id.sock" log-level=info)
	[[ "$key" != "-" ]] && params+=("psk=$key")
	evc_conf "$EVC_TMP/$id.xml" "${params[@]}"
	evc_daemon_start "$id" R "$EVC_TMP/$id.xml"
	evc_listen "$id" "$EVC_TMP/$id.events"
	DAEMON_OF[$key]=$id
done < <(for b in "${VECTORS[@]}"; do k=$(psk_of "$b"); echo "${k:--}"; done | sort -u)
evc_log "${#PORT_OF[@]} daemons (one per distinct psk)"

evc_step "malformed datagrams: counted, never a crash or a stalled receiver"
P=${PORT_OF[-]}
R1=${DAEMON_OF[-]}
drops() { evc_stats "$1" | jq '[to_entries[] | select(.key | startswith("drop_")) | .value] | add // 0'; }
drops_ge() { [[ $(drops "$1") -ge $2 ]]; }
before=$(drops "$R1")
"$EVC_PY" - "$EVC_TMP" "$L/register_plain.bin" <<'EOF'
import os, sys
tmp, plain = sys.argv[1], sys.argv[2]
magic = bytes([226, 132, 177, 197, 152, 198, 142, 211, 172, 197, 158, 208, 169, 208, 135, 197, 166,
               207, 154, 196, 166])
cases = {
    "empty": b"",
    "colon_magic": b":" + magic,
    "colon_magic_tail": b":" + magic + bytes(272),
    "garbage": bytes((i * 37 + 11) % 256 for i in range(300)),
    "truncated": open(plain, "rb").read()[:100],
    "no_colon": b"Event-Name CUSTOM\n\n" + magic + bytes(272),
}
for k, v in cases.items():
    open(os.path.join(tmp, "bad_" + k + ".bin"), "wb").write(v)
EOF
for f in "$EVC_TMP"/bad_*.bin; do
	evc_udp_send R "$f" $GROUP "$P" 127.0.0.1
done
evc_wait_for 5 "$R1 counts the malformed datagrams" drops_ge "$R1" $((before + 3)) ||
	evc_fail "drops not counted: $(evc_stats "$R1")"
evc_stat_ge "$R1" drop_empty 1 || evc_fail "zero-length datagram not counted as drop_empty: $(evc_stats "$R1")"
evc_alive "$R1" || evc_fail "daemon died on malformed datagrams"
evc_ok "$R1 alive; drops $(evc_stats "$R1" | jq -c 'with_entries(select(.key | startswith("drop_")))')"

evc_step "every datagram, raw over UDP, is delivered as multicast::event with Orig- headers"
for bin in "${VECTORS[@]}"; do
	name=$(basename "${bin%.bin}")
	k=$(psk_of "$bin")
	k=${k:--}
	id=${DAEMON_OF[$k]}
	evc_udp_send R "$bin" $GROUP "${PORT_OF[$k]}" 127.0.0.1
	evc_wait_for 5 "$name delivered by $id" check delivered "${bin%.bin}.json" "$EVC_TMP/$id.events" ||
		evc_fail "$name: not delivered as expected by $id: \
$(check delivered "${bin%.bin}.json" "$EVC_TMP/$id.events" verbose)"
	evc_log "  $name: delivered by $id (psk ${k/#-/none})"
done
evc_ok "${#VECTORS[@]} datagrams delivered with their decoded headers"

evc_step "a psk daemon drops the plaintext capture and a wrong-key datagram"
KP=testkey123
id=${DAEMON_OF[$KP]}
p0=$(evc_stat "$id" drop_plain)
k0=$(evc_stat "$id" drop_psk)
evc_udp_send R "$EVCAST_VECTORS/freeswitch/fs_register_plain.bin" $GROUP "${PORT_OF[$KP]}" 127.0.0.1
evc_udp_send R "$L/register_bf.bin" $GROUP "${PORT_OF[$KP]}" 127.0.0.1
evc_wait_for 5 "$id drop_plain +1" evc_stat_ge "$id" drop_plain $((p0 + 1)) ||
	evc_fail "plaintext datagram not counted in drop_plain: $(evc_stats "$id")"
evc_wait_for 5 "$id drop_psk +1" evc_stat_ge "$id" drop_psk $((k0 + 1)) ||
	evc_fail "wrong-key datagram not counted in drop_psk: $(evc_stats "$id")"
evc_ok "drop_plain and drop_psk counted"
for id in "${DAEMON_OF[@]}"; do
	n=$(evc_json_count "$EVC_TMP/$id.events" "$EVC_JQ_MEVENT and (.[\"Orig-Multicast-Sender\"] | tostring | startswith(\"interop-\"))")
	[[ $n -eq 0 ]] || evc_fail "$id delivered $n of its own heartbeats as multicast::event"
done
evc_ok "own heartbeats (loopback yes) never delivered as multicast::event"
