#!/usr/bin/env bash
# it_esl_hostile.sh -- the event socket under hostile clients (issue 13,
# finding 6; src/daemon/control_auth.c): pre-auth connection floods and
# wrong-password floods.
#
# Topology: one private namespace with only lo. Daemon A listens on
# 127.0.0.1:8021 with a password, the DEFAULT connection and pre-auth limits
# (max-connections 256, max-unauthenticated 32, 8 per address) and the failure
# delay scaled down so 50 tries fit in seconds (10 ms doubling to 250 ms;
# the defaults are 200 ms to 10 s); metrics on 127.0.0.1:9464. Clients bind
# 127.0.0.x source addresses (all of 127/8 is local) to be distinct hosts.
# Steps, each asserting a figure:
# 1. 256 connections that never authenticate, from 16 addresses, reconnecting
#    whenever closed (bounded: 20 s, 100 000 connects): meanwhile a legitimate
#    client from 127.0.0.1 authenticates and runs `api status`, 5 times, each
#    within 10 s (measured: milliseconds); unauthenticated connections never
#    exceed 32 in `evcast stats`; evictions counted; nobody refused; the
#    eviction log lines stay within the rate limit (5 + 1 per second).
# 2. 50 wrong passwords in a row from 127.0.0.50: each answer is FreeSWITCH's
#    "-ERR invalid" + disconnect notice, try k answered no sooner than
#    min(10 * 2^(k-1), 250) ms; auth_failures 50 and auth_delayed 50 in stats
#    and metrics; the failure lines name the address, stay within the rate
#    limit, and never hold the password tried.
# 3. 8 parallel connections from 127.0.0.51 guessing for 4 s: one answer per
#    delay per address, so at most 5 + 4000/250 + 2 answers however many
#    connections guess.
# 4. the right password from 127.0.0.50 still gets in; a clean stop (exit 0).
source "$(dirname "$0")/lib.sh"
evc_require
command -v curl >/dev/null || evc_fail "missing tool 'curl'"

PORT=8021
MPORT=9464
PASS="evcast-hostile-$$"

conf() {
	local id=$1 kv
	shift
	{
		echo '<evcast>'
		echo ' <configuration name="event_multicast.conf"><settings>'
		echo '  <param name="address" value="239.255.42.12"/><param name="port" value="4252"/>'
		echo '  <param name="bindings" value=""/><param name="ttl" value="1"/>'
		echo '  <param name="loopback" value="yes"/><param name="multicast-interface" value="lo"/>'
		echo "  <param name=\"node-name\" value=\"$id\"/><param name=\"control-socket\" value=\"$EVC_TMP/$id.sock\"/>"
		echo '  <param name="log-level" value="notice"/>'
		echo ' </settings></configuration>'
		echo ' <configuration name="event_socket.conf"><settings>'
		for kv in "$@"; do
			printf '  <param name="%s" value="%s"/>\n' "${kv%%=*}" "${kv#*=}"
		done
		echo ' </settings></configuration>'
		echo ' <configuration name="metrics.conf"><settings>'
		echo "  <param name=\"enabled\" value=\"yes\"/><param name=\"listen-port\" value=\"$MPORT\"/>"
		echo ' </settings></configuration>'
		echo '</evcast>'
	} >"$EVC_TMP/$id.xml"
}

metric() {
	evc_in H curl -fsS --max-time 5 "http://127.0.0.1:$MPORT/metrics" | awk -v k="$1" '$1 == k {v = $2} END {print v}'
}
ctl() { evc_cli A stats | jq -r ".control.$1"; }

evc_step "network: one namespace, lo only"
evc_lo H

evc_step "start A: 127.0.0.1:$PORT, default limits, failure delay 10 ms doubling to 250 ms"
conf A listen-ip=127.0.0.1 listen-port=$PORT "password=$PASS" auth-failure-delay-ms=10 auth-failure-delay-max-ms=250
evc_daemon_start A H "$EVC_TMP/A.xml"
evc_wait_for 5 "TCP listener" grep -q "at most 32 unauthenticated, 8 per address" "$EVC_TMP/A.log" ||
	evc_fail "no TCP listener with the default pre-auth limits: $(tail -n 5 "$EVC_TMP/A.log")"
evc_ok "$(grep -o 'event socket: listening on .*' "$EVC_TMP/A.log")"

# ---------------------------------------------------------------- step 1
evc_step "pre-auth flood: 256 idle connections from 16 addresses, reconnecting; a legitimate client meanwhile"
evc_in H "$EVC_PY" - "$PORT" "$EVC_TMP/flood" <<'PY' >"$EVC_TMP/flood.out" 2>&1 &
import selectors, socket, sys, time, os
port, base = int(sys.argv[1]), sys.argv[2]
ADDRS = ["127.0.0.%d" % i for i in range(10, 26)]   # 16 source addresses
PER, MAX_CONNECTS, MAX_SECS = 16, 100000, 20.0     # 256 held; bounded in count and time
sel = selectors.DefaultSelector()
connects, closed = 0, 0
def open_one(src):
    global connects
    s = socket.socket()
    s.bind((src, 0))
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))
    sel.register(s, selectors.EVENT_READ, src)
    connects += 1
for src in ADDRS:
    for _ in range(PER):
        open_one(src)
open(base + ".started", "w").close()
end = time.time() + MAX_SECS
while time.time() < end and connects < MAX_CONNECTS and not os.path.exists(base + ".stop"):
    for key, _ in sel.select(timeout=0.2):
        s = key.fileobj
        try:
            d = s.recv(4096)           # the greeting, or the goodbye of an eviction
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            d = b""
        if not d:                      # closed by the server: reconnect at once
            sel.unregister(s)
            s.close()
            closed += 1
            if connects < MAX_CONNECTS:
                open_one(key.data)
why = "stop" if os.path.exists(base + ".stop") else "time" if time.time() >= end else "count"
print("flood: %d connects, %d closed by the server, %d held at the end; ended by %s" % (
    connects, closed, len(sel.get_map()), why))
PY
FLOOD_PID=$!
evc_wait_for 10 "the flood's first 256 connections" test -e "$EVC_TMP/flood.started" ||
	evc_fail "the flood did not start: $(cat "$EVC_TMP/flood.out")"
evc_wait_for 10 "evictions under the flood" bash -c "[[ \$('$EVCAST' -s '${EVC_SOCK[A]}' stats </dev/null | jq -r .control.preauth_evicted) -gt 0 ]]" ||
	evc_fail "no eviction: $(evc_cli A stats | jq -c .control)"
T_FLOOD=$(date +%s.%N)
max_unauth=0
for i in 1 2 3 4 5; do
	ms=$(evc_in H "$EVC_PY" - "$PORT" "$PASS" <<'PY'
import socket, sys, time
port, pw = int(sys.argv[1]), sys.argv[2]
t0 = time.time()
s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.1", 0))
buf = b""
def want(text):
    global buf
    while text not in buf:
        d = s.recv(4096)
        if not d:
            sys.exit("closed; got %r" % buf)
        buf += d
    buf = buf[buf.index(text) + len(text):]
want(b"Content-Type: auth/request\n\n")
s.sendall(b"auth " + pw.encode() + b"\n\n")
want(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
s.sendall(b"api status\n\n")
want(b"Content-Type: api/response\n")
want(b"\n\nUP ")
print(int((time.time() - t0) * 1000))
PY
) || evc_fail "legitimate client $i failed during the flood: $ms ($(evc_cli A stats | jq -c .control))"
	u=$(ctl unauthenticated)
	((u > max_unauth)) && max_unauth=$u
	((u <= 32)) || evc_fail "$u unauthenticated connections (limit 32)"
	evc_log "legitimate client $i: auth + api status in $ms ms during the flood (unauthenticated now: $u)"
done
touch "$EVC_TMP/flood.stop"
wait "$FLOOD_PID" || evc_fail "flood script failed: $(cat "$EVC_TMP/flood.out")"
evc_log "$(cat "$EVC_TMP/flood.out")"
grep -q 'ended by stop' "$EVC_TMP/flood.out" || evc_fail "the flood ran out before the legitimate clients were done"
evc_wait_for 10 "the flood's connections closed" bash -c "[[ \$('$EVCAST' -s '${EVC_SOCK[A]}' stats </dev/null | jq -r .control.unauthenticated) == 0 ]]" ||
	evc_fail "unauthenticated connections left: $(evc_cli A stats | jq -c .control)"
stats=$(evc_cli A stats)
evicted=$(jq -r .control.preauth_evicted <<<"$stats")
refused=$(jq -r .control.refused <<<"$stats")
((evicted >= 256 - 32)) || evc_fail "only $evicted evictions for 256 held connections: $(jq -c .control <<<"$stats")"
((refused == 0)) || evc_fail "$refused connections refused: the flood took max-connections"
lines=$(grep -c 'unauthenticated connections from 127\.0\.0\.' "$EVC_TMP/A.log" || true)
# burst 5, then 1 per second, over the whole daemon's life so far
life=$(evc_elapsed | cut -d. -f1)
((lines >= 1 && lines <= 5 + life + 1)) || evc_fail "$lines eviction log lines in ${life}s"
[[ "$(metric evcast_control_preauth_evicted_total)" == "$evicted" ]] ||
	evc_fail "metrics: evcast_control_preauth_evicted_total $(metric evcast_control_preauth_evicted_total), stats $evicted"
evc_ok "5 of 5 legitimate clients served during the flood; at most $max_unauth unauthenticated seen (limit 32);" \
	"$evicted evicted, 0 refused; $lines eviction log lines; $(jq -r .control.auth_log_suppressed <<<"$stats") suppressed"

# ---------------------------------------------------------------- step 2
evc_step "50 wrong passwords in a row from 127.0.0.50"
evc_in H "$EVC_PY" - "$PORT" <<'PY' >"$EVC_TMP/wrong.out" || evc_fail "wrong-password flood: $(cat "$EVC_TMP/wrong.out")"
import socket, sys, time
port = int(sys.argv[1])
WANT = (b"Content-Type: auth/request\n\nContent-Type: command/reply\nReply-Text: -ERR invalid\n\n"
        b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n"
        b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n")
times = []
for k in range(1, 51):
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.50", 0))
    buf = b""
    while not buf.endswith(b"auth/request\n\n"):
        d = s.recv(4096)
        if not d:
            sys.exit("try %d: closed before the greeting: %r" % (k, buf))
        buf += d
    t0 = time.time()
    s.sendall(b"auth wrong-guess-%d\n\n" % k)
    while True:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    ms = (time.time() - t0) * 1000
    s.close()
    if buf != WANT:
        sys.exit("try %d: not FreeSWITCH's answer: %r" % (k, buf))
    floor = min(10 * 2 ** (k - 1), 250)
    if ms + 2 < floor:
        sys.exit("try %d answered after %.1f ms, before its delay (%d ms)" % (k, ms, floor))
    times.append(ms)
print("first 6: %s ms; last 5: %s ms; total %.1f s" % (
    ", ".join("%.0f" % t for t in times[:6]), ", ".join("%.0f" % t for t in times[-5:]), sum(times) / 1000))
if min(times[-10:]) < 248:
    sys.exit("the last 10 answers were not held 250 ms")
PY
evc_log "$(cat "$EVC_TMP/wrong.out")"
stats=$(evc_cli A stats)
[[ "$(jq -r .control.auth_failures <<<"$stats")" == 50 ]] || evc_fail "auth_failures: $(jq -c .control <<<"$stats")"
[[ "$(jq -r .control.auth_delayed <<<"$stats")" == 50 ]] || evc_fail "auth_delayed: $(jq -c .control <<<"$stats")"
[[ "$(metric evcast_control_auth_failures_total)" == 50 ]] || evc_fail "metrics: auth failures $(metric evcast_control_auth_failures_total)"
[[ "$(metric evcast_control_auth_delayed_total)" == 50 ]] || evc_fail "metrics: auth delayed $(metric evcast_control_auth_delayed_total)"
lines=$(grep -c 'authentication failed from 127\.0\.0\.50 ' "$EVC_TMP/A.log" || true)
life=$(evc_elapsed | cut -d. -f1)
((lines >= 1 && lines <= 5 + life + 1)) || evc_fail "$lines failure log lines for 50 failures in ${life}s"
! grep -q 'wrong-guess' "$EVC_TMP/A.log" || evc_fail "a password tried reached the log"
evc_ok "answers held longer and longer (10 ms doubling to 250 ms); 50 failures, 50 delayed (stats and metrics);" \
	"$lines log lines naming 127.0.0.50, no password logged"

# ---------------------------------------------------------------- step 3
evc_step "8 parallel guessers from 127.0.0.51 for 4 s: one answer per delay per address"
evc_in H "$EVC_PY" - "$PORT" <<'PY' >"$EVC_TMP/par.out" || evc_fail "parallel guessers: $(cat "$EVC_TMP/par.out")"
import socket, sys, threading, time
port, SECS = int(sys.argv[1]), 4.0
end = time.time() + SECS
answers, lock = [0], threading.Lock()
def worker(w):
    k = 0
    while time.time() < end:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=SECS + 2, source_address=("127.0.0.51", 0))
            s.settimeout(max(0.05, end - time.time()))
            s.sendall(b"auth guess-%d-%d\n\n" % (w, k))
            buf = b""
            while b"-ERR invalid" not in buf and b"+OK" not in buf:
                d = s.recv(4096)
                if not d:
                    break
                buf += d
            s.close()
        except OSError:          # a timeout at the end of the window, or an eviction
            continue
        if b"-ERR invalid" in buf:
            with lock:
                answers[0] += 1
        k += 1
ts = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
for t in ts:
    t.start()
for t in ts:
    t.join()
limit = 5 + int(SECS * 1000 / 250) + 2
print("%d wrong-password answers in %.0f s to 8 parallel connections (bound %d)" % (answers[0], SECS, limit))
if not 1 <= answers[0] <= limit:
    sys.exit("answers out of bounds")
PY
evc_ok "$(cat "$EVC_TMP/par.out")"

# ---------------------------------------------------------------- step 4
evc_step "the right password from a penalized address still gets in; clean stop"
ms=$(evc_in H "$EVC_PY" - "$PORT" "$PASS" <<'PY'
import socket, sys, time
port, pw = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.50", 0))
buf = b""
while not buf.endswith(b"auth/request\n\n"):
    buf += s.recv(4096)
t0 = time.time()
s.sendall(b"auth " + pw.encode() + b"\n\n")
buf = b""
while b"\n\n" not in buf:
    d = s.recv(4096)
    if not d:
        sys.exit("closed: %r" % buf)
    buf += d
if buf != b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n":
    sys.exit("got %r" % buf)
print(int((time.time() - t0) * 1000))
PY
) || evc_fail "the right password from 127.0.0.50: $ms"
evc_log "control counters: $(evc_cli A stats | jq -c .control)"
evc_daemon_stop A || evc_fail "daemon A did not stop cleanly"
evc_ok "+OK accepted after $ms ms (the address's delay at most 250 ms); stopped cleanly"
