#!/usr/bin/env bash
# it_check_config.sh -- `evcastd --check-config [--config FILE]` (issue 15; the
# validation a reload runs, issue 13 finding 7). Needs no root and no network.
#
# Checks: every config shipped under etc/ and examples/ passes (exit 0, "valid"
# on stdout) and, when strace is present, makes no socket system call; an
# invalid block in each module fails (exit 1) with its file:line reason on
# stderr, all of them at once; warnings (unknown param, unknown block) do not
# fail; nats.conf encrypt=yes is judged on the file's own v2 keys (no node
# runs); a FIFO and a directory are refused promptly; --help lists it.
source "$(dirname "$0")/lib.sh"
[[ -n "$EVCASTD" && -x "$EVCASTD" ]] || evc_fail "evcastd not found (set EVCASTD or build into build/)"
BOUND=5 # seconds for a FIFO; an open() that blocked would never return

# check FILE: runs --check-config; sets rc, out (stdout+stderr).
check() {
	rc=0
	out=$(timeout $BOUND "$EVCASTD" --check-config --config "$1" 2>&1) || rc=$?
}

# base FILE BLOCK.conf name=value...: a file with a valid event_multicast.conf and these blocks.
base() {
	local f=$1
	shift
	evc_conf_blocks "$f" address=239.255.42.7 port=4242 control-socket="$EVC_TMP/x.sock" "$@"
}

evc_step "every shipped config passes"
n=0
while IFS= read -r f; do
	rc=0
	# the shipped default names v2.keys next to it, which make run (or a package) creates: a
	# fresh clone has none, so such a config is checked as a copy beside a fresh 0600 keys file
	if grep -q 'name="v2-keys-file" value="v2.keys"' "$f" && [[ ! -e "$(dirname "$f")/v2.keys" ]]; then
		mkdir -p "$EVC_TMP/shipped"
		cp "$f" "$EVC_TMP/shipped/"
		(umask 077 && "$EVCAST" keygen >"$EVC_TMP/shipped/v2.keys") || evc_fail "evcast keygen failed"
		f="$EVC_TMP/shipped/$(basename "$f")"
	fi
	out=$("$EVCASTD" --check-config --config "$f" 2>&1) || rc=$?
	if command -v strace >/dev/null; then # LeakSanitizer cannot run under ptrace: off for this run only
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -qq \
			-e trace=socket,bind,listen,connect -o "$EVC_TMP/strace.txt" \
			"$EVCASTD" --check-config --config "$f" >/dev/null 2>&1 || evc_fail "--check-config under strace failed on $f"
		if grep -E '(socket|bind|listen|connect)\(' "$EVC_TMP/strace.txt"; then
			evc_fail "--check-config made a socket system call on $f"
		fi
	fi
	[[ $rc -eq 0 ]] || evc_fail "--check-config fails on the shipped ${f#"$EVCAST_SOURCE_DIR"/} (exit $rc): $out"
	[[ $out == *"configuration valid"* ]] || evc_fail "--check-config on $f does not say valid: $out"
	n=$((n + 1))
done < <(find "$EVCAST_SOURCE_DIR/etc" "$EVCAST_SOURCE_DIR/examples" -name '*.xml' | sort)
[[ $n -ge 8 ]] || evc_fail "found only $n shipped configs under etc/ and examples/"
evc_ok "$n shipped configs pass$(command -v strace >/dev/null && echo ', none made a socket system call')"

evc_step "an invalid block in each module: exit 1, every reason at once"
base "$EVC_TMP/bad.xml" \
	event_socket.conf listen-port=99999 \
	metrics.conf enabled=yes listen-ip=10.1.2.3 \
	registrations.conf tombstone-ttl=0 \
	presence.conf relay-presence-in=perhaps \
	sidecar.conf port=0 \
	nats.conf cluster=a.b \
	lua.conf max-queue=0
check "$EVC_TMP/bad.xml"
evc_log "  exit $rc:"
echo "$out"
[[ $rc -eq 1 ]] || evc_fail "exit $rc on seven invalid blocks, want 1"
f="$EVC_TMP/bad.xml"
for want in "$f:8: event_socket.conf: param \"listen-port\": value \"99999\": not a port number" \
	"$f:12: metrics.conf: listen-ip 10.1.2.3 is not a loopback address" \
	"$f:15: registrations.conf: invalid value \"0\" for tombstone-ttl" \
	"$f:18: presence.conf: invalid value \"perhaps\" for relay-presence-in" \
	"$f:21: sidecar.conf: invalid value \"0\" for port" \
	"$f:24:cluster:a.b: nats.conf: must be one subject token" \
	"$f:27: lua.conf param max-queue: invalid value \"0\""; do
	grep -qF -- "evcastd: error: $want" <<<"$out" || evc_fail "no reason '$want' in: $out"
done
grep -qF "configuration invalid (7 error(s))" <<<"$out" || evc_fail "no summary of 7 errors: $out"
evc_ok "seven blocks, seven reasons with file:line, exit 1"

evc_step "warnings do not fail; an unknown block is named"
base "$EVC_TMP/warn.xml" colour=blue event_sockets.conf listen-port=99999
check "$EVC_TMP/warn.xml"
[[ $rc -eq 0 ]] || evc_fail "warnings only: exit $rc: $out"
grep -qF 'evcastd: warning: ' <<<"$out" && grep -qF 'param "colour"' <<<"$out" ||
	evc_fail "the unknown param is not warned about: $out"
grep -qF 'unknown block <configuration name="event_sockets.conf"> (ignored)' <<<"$out" ||
	evc_fail "the unknown block is not warned about: $out"
grep -qF 'configuration valid (2 block(s), 2 warning(s))' <<<"$out" || evc_fail "summary: $out"
evc_ok "exit 0 with 2 warnings"

evc_step "nats.conf encrypt=yes is judged on the file's own v2 keys"
base "$EVC_TMP/nokey.xml" protocol=v2 nats.conf encrypt=yes connect=no
check "$EVC_TMP/nokey.xml"
[[ $rc -eq 1 && $out == *"nats.conf: encrypt=yes needs a v2 key"* ]] || evc_fail "encrypt without keys: exit $rc: $out"
key=$("$EVCAST" keygen --id 1 2>/dev/null || true)
[[ -n $key ]] || evc_fail "evcast keygen printed nothing"
base "$EVC_TMP/key.xml" protocol=v2 "v2-keys=1:$key" nats.conf encrypt=yes connect=no
check "$EVC_TMP/key.xml"
[[ $rc -eq 0 ]] || evc_fail "encrypt with a v2 key: exit $rc: $out"
[[ $out != *"$key"* ]] || evc_fail "the key was printed"
evc_ok "refused without a key, accepted with one"

evc_step "a FIFO and a directory are refused at once; --help lists --check-config"
mkfifo "$EVC_TMP/fifo.xml"
t0=$(date +%s%N)
check "$EVC_TMP/fifo.xml"
ms=$((($(date +%s%N) - t0) / 1000000))
rm -f "$EVC_TMP/fifo.xml" # lib.sh's cleanup greps $EVC_TMP/*: no FIFO may stay
[[ $rc -eq 1 && $out == *"not a regular file (a FIFO)"* ]] || evc_fail "FIFO: exit $rc (124: it blocked): $out"
check "$EVC_TMP"
[[ $rc -eq 1 && $out == *"not a regular file (a directory)"* ]] || evc_fail "directory: exit $rc: $out"
"$EVCASTD" --help | grep -q -- '--check-config' || evc_fail "evcastd --help does not list --check-config"
rc=0
"$EVCASTD" -t -c "$EVCAST_SOURCE_DIR/etc/examples/three-node-a.xml" >/dev/null 2>&1 || rc=$?
[[ $rc -eq 0 ]] || evc_fail "the short form -t exited $rc"
evc_ok "FIFO refused in $ms ms, directory refused, -t works, --help lists it"
