#!/usr/bin/env bash
# it_reload_hostile.sh -- reload and start against files that must be refused
# (issue 13 finding 7, issue 15 --check-config).
#
# One host (A, its own namespace, multicast on lo) running evcastd with an
# event_socket.conf on 127.0.0.1:PORT1. Checks, in order:
#   1. `evcast reload` of a file whose event_socket.conf says listen-port 99999
#      answers -ERR naming file:line, the param and the value, exits non-zero;
#      nothing is applied (reloads unchanged, config_errors + 1, the old port
#      still answers); a file with several invalid blocks names each of them;
#      `evcastd` refuses to start on that file (exit 1, the reason), and
#      restarts fine on its old file;
#   2. a valid change to event_socket.conf: +OK that names the block as applied
#      at the next start (and the log says so), also at a later reload that
#      changes something else; the old port still answers;
#   3. a FIFO at the config path: `evcast reload` answers -ERR ("a FIFO") within
#      RELOAD_BOUND s, and so does SIGHUP (a log line); the daemon keeps serving;
#      evcastd started on a FIFO exits 1 with the reason within START_BOUND s.
# `evcastd --check-config` has its own test, it_check_config.sh (no root needed).
source "$(dirname "$0")/lib.sh"
evc_require

PORT1=8021
PORT2=8022
RELOAD_BOUND=5 # seconds; a blocked open() would never return at all
START_BOUND=5

# conf FILE ESL_PORT: the daemon's file, event_socket.conf on 127.0.0.1:ESL_PORT
conf() {
	evc_conf_blocks "$1" address=239.255.42.7 port=4242 ttl=0 loopback=yes multicast-interface=lo \
		node-name=A heartbeat-interval=1 control-socket="$EVC_TMP/A.sock" log-level=notice \
		event_socket.conf listen-ip=127.0.0.1 listen-port="$2" password=s3cret
}

# esl_answers PORT: a TCP connection to PORT in A's namespace gets auth/request.
esl_answers() {
	evc_in A timeout 5 "$EVC_PY" - "$1" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=4)
data = b""
while b"\n\n" not in data:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
sys.exit(0 if b"Content-Type: auth/request" in data else 1)
EOF
}

# ms_since T0: milliseconds since T0 (date +%s%N).
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

log_count() { grep -c -E "$1" "$EVC_TMP/A.log" || true; }

CONF="$EVC_TMP/A.xml"
# No FIFO may outlive the test: lib.sh's cleanup greps every file of $EVC_TMP,
# and a grep that opens a FIFO waits for a writer forever.
trap 'rc=$?; [[ -p $CONF ]] && rm -f "$CONF"; evc__cleanup $rc' EXIT

evc_step "start A with event_socket.conf on 127.0.0.1:$PORT1"
evc_lo A
conf "$CONF" $PORT1
cp "$CONF" "$EVC_TMP/A.good.xml"
evc_daemon_start A A "$CONF"
evc_wait_for 10 "the event socket on port $PORT1 answers" esl_answers $PORT1 ||
	evc_fail "no event socket on port $PORT1: $(tail -n 5 "$EVC_TMP/A.log")"
evc_ok "A up, event socket on $PORT1"

evc_step "1. reload of a file with listen-port 99999: -ERR with file:line, nothing applied"
reloads0=$(evc_stat A reloads)
cerr0=$(evc_stat A config_errors)
conf "$CONF" 99999
line=$(grep -n 'name="listen-port"' "$CONF" | cut -d: -f1)
rc=0
out=$(evc_cli A reload 2>&1) || rc=$?
evc_log "  evcast reload (exit $rc): $out"
[[ $rc -ne 0 ]] || evc_fail "evcast reload exited 0 on an invalid event_socket.conf: $out"
[[ $out == -ERR* ]] || evc_fail "the answer is not -ERR: $out"
want="$CONF:$line: event_socket.conf: param \"listen-port\": value \"99999\""
[[ $out == *"$want"* ]] || evc_fail "the answer does not name '$want': $out"
[[ $(evc_stat A reloads) -eq $reloads0 ]] || evc_fail "the node applied a refused file (reloads moved)"
[[ $(evc_stat A config_errors) -eq $((cerr0 + 1)) ]] || evc_fail "config_errors did not count the refusal"
esl_answers $PORT1 || evc_fail "the old event socket stopped answering after a refused reload"
evc_ok "refused with the reason; reloads=$reloads0, config_errors=$((cerr0 + 1)); port $PORT1 still answers"

# Several invalid blocks: one answer names each (the validators all run).
evc_conf_blocks "$CONF" address=239.255.42.7 port=4242 ttl=0 loopback=yes multicast-interface=lo \
	node-name=A heartbeat-interval=1 control-socket="$EVC_TMP/A.sock" log-level=notice \
	event_socket.conf listen-ip=127.0.0.1 listen-port=99999 password=s3cret \
	metrics.conf enabled=yes listen-port=0 \
	registrations.conf batch-interval-ms=0 \
	lua.conf max-queue=-1
rc=0
out=$(evc_cli A reload 2>&1) || rc=$?
evc_log "  evcast reload (exit $rc): $out"
[[ $rc -ne 0 ]] || evc_fail "evcast reload exited 0 on four invalid blocks"
for want in 'event_socket.conf: param "listen-port"' 'metrics.conf: invalid value "0" for listen-port' \
	'registrations.conf: invalid value "0" for batch-interval-ms' 'lua.conf param max-queue'; do
	[[ $out == *"$want"* ]] || evc_fail "the answer does not name '$want': $out"
done
[[ $(evc_stat A reloads) -eq $reloads0 ]] || evc_fail "the node applied a refused file (reloads moved)"
evc_ok "four invalid blocks, four reasons in one -ERR"

# The start refuses the same file, with the same reason, before it forks.
conf "$EVC_TMP/bad.xml" 99999
sed -i "s|$EVC_TMP/A.sock|$EVC_TMP/bad.sock|" "$EVC_TMP/bad.xml"
rc=0
t0=$(date +%s%N)
evc_in A timeout $START_BOUND "$EVCASTD" --config "$EVC_TMP/bad.xml" >"$EVC_TMP/bad.out" 2>&1 || rc=$?
evc_log "  evcastd on the invalid file: exit $rc in $(ms_since "$t0") ms: $(tail -n 1 "$EVC_TMP/bad.out")"
[[ $rc -eq 1 ]] || evc_fail "evcastd on an invalid event_socket.conf: exit $rc, want 1: $(cat "$EVC_TMP/bad.out")"
grep -q 'param "listen-port": value "99999"' "$EVC_TMP/bad.out" ||
	evc_fail "the start does not give the reason: $(cat "$EVC_TMP/bad.out")"
[[ ! -S "$EVC_TMP/bad.sock" ]] || evc_fail "the refused start opened its control socket"

# Back to the old file: the daemon restarts fine on it.
cp "$EVC_TMP/A.good.xml" "$CONF"
evc_daemon_stop A || evc_fail "A did not stop cleanly"
evc_daemon_start A A "$CONF"
evc_wait_for 10 "the event socket on port $PORT1 answers after the restart" esl_answers $PORT1 ||
	evc_fail "no event socket on port $PORT1 after the restart"
evc_ok "the start refuses the invalid file (exit 1, the reason); A restarts fine on its old file"

evc_step "2. a valid event_socket.conf change: +OK naming what applies at the next start"
conf "$CONF" $PORT2
rc=0
out=$(evc_cli A reload 2>&1) || rc=$?
evc_log "  evcast reload (exit $rc): $out"
[[ $rc -eq 0 && $out == +OK* ]] || evc_fail "a valid file was not accepted: exit $rc: $out"
[[ $out == *"at the next start: event_socket.conf"* ]] ||
	evc_fail "the +OK does not name event_socket.conf as applying at the next start: $out"
[[ $(log_count 'reload: event_socket.conf changes apply at the next start') -ge 1 ]] ||
	evc_fail "the log does not say event_socket.conf applies at the next start"
esl_answers $PORT1 || evc_fail "port $PORT1 stopped answering (event_socket.conf applies at the next start)"
# A later reload that changes only event_multicast.conf: the event_socket.conf
# change still waits for the restart, and the answer still says so.
sed -i 's/name="heartbeat-interval" value="1"/name="heartbeat-interval" value="2"/' "$CONF"
rc=0
out=$(evc_cli A reload 2>&1) || rc=$?
evc_log "  evcast reload (exit $rc): $out"
[[ $rc -eq 0 && $out == *"at the next start: event_socket.conf"* ]] ||
	evc_fail "a pending event_socket.conf change is no longer named: exit $rc: $out"
evc_ok "+OK with the deferred block named (also at a later reload); port $PORT1 still answers until the next start"

evc_step "3. a FIFO at the config path: refused at once, the daemon keeps serving"
mv "$CONF" "$EVC_TMP/A.moved.xml"
mkfifo "$CONF"
rc=0
t0=$(date +%s%N)
out=$(timeout $((RELOAD_BOUND * 2)) "$EVCAST" -s "$EVC_TMP/A.sock" reload 2>&1 </dev/null) || rc=$?
ms=$(ms_since "$t0")
evc_log "  evcast reload on a FIFO (exit $rc, $ms ms): $out"
[[ $rc -ne 0 && $rc -ne 124 ]] || evc_fail "evcast reload on a FIFO: exit $rc (124: no answer in time): $out"
[[ $ms -lt $((RELOAD_BOUND * 1000)) ]] || evc_fail "the FIFO reload took $ms ms (bound ${RELOAD_BOUND}s)"
[[ $out == -ERR* && $out == *"not a regular file (a FIFO)"* ]] || evc_fail "the answer does not say FIFO: $out"
evc_alive A || evc_fail "A died on a FIFO config"
evc_cli A peers >/dev/null || evc_fail "A's control socket stopped answering after the FIFO reload"
esl_answers $PORT1 || evc_fail "the event socket stopped answering after the FIFO reload"
hup0=$(log_count 'reload: .*not a regular file \(a FIFO\)')
evc_daemon_hup A
evc_wait_for $RELOAD_BOUND "SIGHUP on a FIFO logs the refusal" \
	eval '[[ $(log_count "reload: .*not a regular file \(a FIFO\)") -gt $hup0 ]]' ||
	evc_fail "SIGHUP on a FIFO: no refusal logged: $(tail -n 3 "$EVC_TMP/A.log")"
evc_cli A peers >/dev/null || evc_fail "A stopped answering after SIGHUP on a FIFO"
evc_ok "reload on a FIFO: -ERR in $ms ms; SIGHUP logged; A still serving"

rc=0
t0=$(date +%s%N)
evc_in A timeout $((START_BOUND * 2)) "$EVCASTD" --config "$CONF" --foreground >"$EVC_TMP/fifo.out" 2>&1 || rc=$?
ms=$(ms_since "$t0")
evc_log "  evcastd on a FIFO: exit $rc in $ms ms: $(cat "$EVC_TMP/fifo.out")"
[[ $rc -eq 1 ]] || evc_fail "evcastd on a FIFO: exit $rc, want 1 (124: it blocked)"
[[ $ms -lt $((START_BOUND * 1000)) ]] || evc_fail "evcastd on a FIFO took $ms ms (bound ${START_BOUND}s)"
grep -q 'not a regular file (a FIFO)' "$EVC_TMP/fifo.out" || evc_fail "no reason given: $(cat "$EVC_TMP/fifo.out")"
rm -f "$CONF"
mv "$EVC_TMP/A.moved.xml" "$CONF"
evc_ok "start on a FIFO: exit 1 in $ms ms with the reason"

evc_daemon_stop A || evc_fail "A did not stop cleanly"
