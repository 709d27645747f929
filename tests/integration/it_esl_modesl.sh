#!/usr/bin/env bash
# it_esl_modesl.sh -- evcastd's event socket (event_socket.conf, src/daemon/
# control*.c) against a real FreeSWITCH client from npm (modesl).
#
# Topology: one private namespace with only lo. Daemon A listens on [::]:8021
# (dual stack) with a password and apply-inbound-acl 127.0.0.0/8, so clients
# on 127.0.0.1 are served and clients on ::1 are refused before auth.
# tests/integration/esl/esl_test.js (node, modesl installed by
# scripts/npm-deps.sh into tests/integration/esl/node_modules) checks the
# protocol; this script adds: the connection limit, the auth timeout, the
# start-up refusals (non-loopback listen-ip with the default password, a bad
# value named by file:line), no TCP listener without the block, the reload
# warning, counters, and a clean stop (exit 0: no leak under ASan) after
# thousands of cycles.
source "$(dirname "$0")/lib.sh"
evc_require
command -v node >/dev/null || evc_fail "missing tool 'node' (Debian nodejs, v18+)"
ESL_DIR="$EVCAST_SOURCE_DIR/tests/integration/esl"
[[ -d "$ESL_DIR/node_modules/modesl" ]] ||
	evc_fail "modesl is not installed: run scripts/npm-deps.sh (npm ci in $ESL_DIR)"

PORT=8021
PASS="evcast-test-$$"

# conf ID ESL_PARAMS...: an <evcast> file; no event_socket.conf block when the
# only ESL param is "-".
conf() {
	local id=$1 kv
	shift
	{
		echo '<evcast>'
		echo ' <configuration name="event_multicast.conf"><settings>'
		echo '  <param name="address" value="239.255.42.11"/><param name="port" value="4251"/>'
		echo '  <param name="bindings" value=""/><param name="ttl" value="1"/>'
		echo '  <param name="loopback" value="yes"/><param name="multicast-interface" value="lo"/>'
		echo "  <param name=\"node-name\" value=\"$id\"/><param name=\"control-socket\" value=\"$EVC_TMP/$id.sock\"/>"
		echo '  <param name="log-level" value="notice"/>'
		echo ' </settings></configuration>'
		if [[ "${1:-}" != "-" ]]; then
			echo ' <configuration name="event_socket.conf"><settings>'
			for kv in "$@"; do
				printf '  <param name="%s" value="%s"/>\n' "${kv%%=*}" "${kv#*=}"
			done
			echo ' </settings></configuration>'
		fi
		echo '</evcast>'
	} >"$EVC_TMP/$id.xml"
}

# raw HOST PORT SECONDS [TEXT]: what the server sends (python3, loopback only).
raw() {
	evc_in H "$EVC_PY" - "$@" <<'PY'
import socket, sys, time
host, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection((host, port), timeout=5)
if len(sys.argv) > 4:
    s.sendall(sys.argv[4].encode())
out, end = b"", time.time() + secs
s.settimeout(0.2)
while time.time() < end:
    try:
        d = s.recv(65536)
    except socket.timeout:
        continue
    if not d:
        out += b"<closed>"
        break
    out += d
sys.stdout.write(out.decode("latin1"))
PY
}

evc_step "network: one namespace, lo only"
evc_lo H

evc_step "start-up refusals"
conf R listen-ip=0.0.0.0
if evc_in H timeout 10 "$EVCASTD" --config "$EVC_TMP/R.xml" --foreground >"$EVC_TMP/R.out" 2>&1; then
	evc_fail "evcastd started on 0.0.0.0 with the default password"
fi
grep -q 'R.xml:[0-9]*: event_socket.conf: param "listen-ip": value "0.0.0.0": refusing to listen on a non-loopback address with the default password' \
	"$EVC_TMP/R.out" || evc_fail "no clear refusal: $(cat "$EVC_TMP/R.out")"
conf R listen-port=70000 "password=$PASS"
if evc_in H timeout 10 "$EVCASTD" --config "$EVC_TMP/R.xml" --foreground >"$EVC_TMP/R.out" 2>&1; then
	evc_fail "evcastd started with listen-port 70000"
fi
grep -q 'R.xml:[0-9]*: event_socket.conf: param "listen-port": value "70000": not a port number' "$EVC_TMP/R.out" ||
	evc_fail "bad port not named: $(cat "$EVC_TMP/R.out")"
evc_ok "non-loopback + default password and a bad value stop the start with file:line:param:value:why"

evc_step "no event_socket.conf block: no TCP listener, the control socket works"
conf N -
evc_daemon_start N H "$EVC_TMP/N.xml"
out=$(raw 127.0.0.1 $PORT 0.3 2>&1 || true)
grep -q 'Connection refused' <<<"$out" || evc_fail "something listens on $PORT without the block: $out"
evc_daemon_stop N || evc_fail "daemon N did not stop cleanly"
evc_ok "Unix control socket only"

evc_step "start A: [::]:$PORT, password, ACL 127.0.0.0/8, limit 100 connections, auth timeout 2 s"
# max-unauthenticated(-per-address) at max-connections: the cycles below run 8 clients at once
# from one address (the pre-auth limits are it_esl_hostile.sh's)
conf A listen-ip=:: listen-port=$PORT "password=$PASS" apply-inbound-acl=127.0.0.0/8 \
	max-connections=100 auth-timeout=2 queue-max-events=2000 queue-max-bytes=1048576 unknown-thing=1 \
	max-unauthenticated=100 max-unauthenticated-per-address=100
evc_daemon_start A H "$EVC_TMP/A.xml"
grep -q 'A.xml:[0-9]*: unknown param "unknown-thing" in event_socket.conf (ignored)' "$EVC_TMP/A.log" ||
	evc_fail "no warning for the unknown param"
evc_wait_for 5 "TCP listener" bash -c "grep -q 'event socket: listening on \[::\]:$PORT' '$EVC_TMP/A.log'" ||
	evc_fail "no TCP listener: $(tail -n 5 "$EVC_TMP/A.log")"
evc_ok "listening; unknown param warned with file:line"

evc_step "modesl: auth, event plain/json, sendevent, api, bgapi, filter, wrong password, ACL, limits, slow reader, cycles"
CYCLES=${ESL_CYCLES:-2000}
evc_in H env EVCAST="$EVCAST" EVCAST_SOCKET="${EVC_SOCK[A]}" REJECT_HOST=::1 CYCLES="$CYCLES" \
	timeout 280 node "$ESL_DIR/esl_test.js" 127.0.0.1 $PORT "$PASS" ||
	evc_fail "esl_test.js failed (daemon log: $(tail -n 15 "$EVC_TMP/A.log"))"

evc_step "connection limit (100) and auth timeout (2 s)"
conns_closed() { [[ $("$EVCAST" -s "${EVC_SOCK[A]}" stats </dev/null | jq -r .control.connections) -le 1 ]]; }
evc_wait_for 10 "every connection of the cycles closed" conns_closed ||
	evc_fail "connections left open: $(evc_cli A stats | jq -c .control)"
# authenticated clients take the slots (an unauthenticated one would be pushed out instead)
evc_in H "$EVC_PY" - $PORT "$PASS" <<'PY' || evc_fail "connection limit"
import socket, sys, time
port, pw = int(sys.argv[1]), sys.argv[2]
socks, busy = [], 0
for i in range(105):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    socks.append(s)
    d = b""
    while d != b"Content-Type: auth/request\n\n":  # or a refusal, then the close
        r = s.recv(4096)
        if not r:
            break
        d += r
    if d.startswith(b"Content-Type: text/rude-rejection\nContent-Length: 39\n\nToo many connections, try again later.\n"):
        busy += 1
    elif d == b"Content-Type: auth/request\n\n":
        s.sendall(b"auth " + pw.encode() + b"\n\n")
        a = b""
        while not a.endswith(b"\n\n"):
            a += s.recv(4096)
        if a != b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n":
            sys.exit("auth %d: %r" % (i, a))
    else:
        sys.exit("unexpected greeting: %r" % d)
print("refused over the limit:", busy)
sys.exit(0 if busy == 5 else 1)
PY
out=$(raw 127.0.0.1 $PORT 4)
[[ "$out" == *$'Content-Type: auth/request\n\nContent-Type: text/disconnect-notice\nContent-Length: 67\n\n'*'<closed>' ]] ||
	evc_fail "no disconnect after the auth timeout: $out"
evc_ok "5 of 105 refused with text/rude-rejection; an idle client is closed after the auth timeout"

evc_step "SIGHUP with a changed event_socket.conf: said to apply at the next start"
sed -i 's/name="queue-max-events" value="2000"/name="queue-max-events" value="1900"/' "$EVC_TMP/A.xml"
evc_daemon_hup A
evc_wait_for 5 "the reload warning" grep -q 'reload: event_socket.conf changes apply at the next start' "$EVC_TMP/A.log" ||
	evc_fail "no warning after a reload changing event_socket.conf: $(tail -n 5 "$EVC_TMP/A.log")"
evc_ok "warned; the listener keeps running"

evc_step "counters and a clean stop"
stats=$(evc_cli A stats)
for f in acl_rejected auth_failures auth_timeouts refused events_dropped protocol_errors; do
	v=$(jq -r ".control.$f" <<<"$stats")
	[[ "$v" =~ ^[0-9]+$ && "$v" -gt 0 ]] || evc_fail "control.$f = $v: $(jq -c .control <<<"$stats")"
done
evc_wait_for 10 "every connection closed" conns_closed ||
	evc_fail "connections left open: $(evc_cli A stats | jq -c .control)"
evc_log "control counters: $(jq -c .control <<<"$stats")"
evc_daemon_stop A || evc_fail "daemon A did not stop cleanly (see $EVC_TMP/A.log)"
grep -q 'ERROR: AddressSanitizer\|LeakSanitizer' "$EVC_TMP/A.log" && evc_fail "sanitizer report in the log"
evc_ok "stopped with status 0"
