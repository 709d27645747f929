#!/usr/bin/env bash
# it_listen.sh -- `evcast listen` ends when it should (issue 12).
#
# Topology: one host H in a private namespace, multicast on lo, group
# 239.255.42.12; heartbeats every 60 s, so nothing but the test's own events
# reaches a listener. Checks: 40 times, `evcast listen --json CUSTOM t::burst`
# gets SIGTERM at a random moment (0-700 ms after the first line) while a burst (300 small events,
# then 4 of 900 KB that take milliseconds each to print) is printed; when it
# lands while the last one prints, no further event would ever wake a listener
# that checks for the signal only between events (its stdout is a pipe drained
# at about 12 MB/s, so it is often blocked writing). Each must exit 0 within 2 s. Then the daemon going away: stopped (its
# disconnect notice) and killed (-9), a listener exits 1 with one line on
# stderr naming what happened. Seeded (EVC_SEED) for the kill moments.
source "$(dirname "$0")/lib.sh"
evc_require

GROUP=239.255.42.12
PORT=4262
TRIES=${EVC_LISTEN_TRIES:-40}
SEED=${EVC_SEED:-$$}
RANDOM=$SEED
evc_log "seed $SEED (EVC_SEED=$SEED reproduces the kill moments)"

conf() {
	evc_conf_blocks "$EVC_TMP/$1.xml" address=$GROUP port=$PORT bindings= multicast-interface=lo \
		loopback=yes ttl=1 node-name="$1" heartbeat-interval=60 peer-timeout=180 control-socket="$EVC_TMP/$1.sock" log-level=notice
}

evc_step "network and daemon"
evc_lo H
conf A
evc_daemon_start A H "$EVC_TMP/A.xml"

# the slow end of the listener's stdout: copies to the file argv[1], 64 KiB per 5 ms
SLOW_READER='
import sys, time
with open(sys.argv[1], "wb", buffering=0) as f:
    while True:
        d = sys.stdin.buffer.read1(65536)
        if not d:
            break
        f.write(d)
        time.sleep(0.005)
'

# lines OUT: JSON lines printed so far.
lines() { wc -l <"$1" 2>/dev/null || echo 0; }
has_lines() { [[ "$(lines "$1")" -ge "$2" ]]; }
gone() { ! kill -0 "$1" 2>/dev/null; }

evc_step "SIGTERM while events are printed: $TRIES tries, each must exit 0 within 2 s"
slow=0
for ((t = 1; t <= TRIES; t++)); do
	out="$EVC_TMP/burst.$t"
	: >"$out"
	# stdout is a pipe to a reader that drains it at about 12 MB/s: the
	# listener spends much of the burst blocked writing, as it does on a terminal
	"$EVCAST" -s "${EVC_SOCK[A]}" listen --json CUSTOM t::burst 2>"$out.err" </dev/null |
		"$EVC_PY" -c "$SLOW_READER" "$out" &
	rdpid=$!
	EVC_BG+=($rdpid)
	evc_wait_for 5 "listener $t running" pgrep -f "listen --json CUSTOM t::burst" >/dev/null ||
		evc_fail "listener $t did not start"
	lpid=$(pgrep -n -f "listen --json CUSTOM t::burst")
	EVC_BG+=($lpid)
	# subscribed once a probe event comes through
	evc_wait_for 10 "listener $t subscribed" sh -c \
		"'$EVCAST' -s '${EVC_SOCK[A]}' send CUSTOM t::burst -H 'X-Probe: 1' >/dev/null && [ -s '$out' ]" ||
		evc_fail "listener $t never printed: $(cat "$out.err")"
	# the burst: 300 small events, then 4 large ones (900 KB bodies, that take
	# the listener milliseconds each to parse and print)
	"$EVC_PY" - "${EVC_SOCK[A]}" <<-'PY' >/dev/null &
		import socket, sys
		s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
		s.connect(sys.argv[1])
		small = b"sendevent CUSTOM\nEvent-Subclass: t::burst\n\n"
		body = b'x"\\' * 300000
		big = b"sendevent CUSTOM\nEvent-Subclass: t::burst\nContent-Length: %d\n\n" % len(body) + body
		s.sendall(b"auth x\n\n" + small * 300 + big * 4 + b"exit\n\n")
		while s.recv(65536): pass  # one line: <<- strips every leading tab
	PY
	spid=$!
	# a random moment once the burst prints, or just after it ended
	evc_wait_for 10 "burst $t printing" has_lines "$out" 2 >/dev/null || true
	want=$((RANDOM % ${EVC_LISTEN_SPAN_MS:-700}))
	sleep "$(awk -v m="$want" 'BEGIN {printf "%.3f", m / 1000}')"
	kill -TERM "$lpid"
	t0=$(date +%s.%N)
	if ! evc_wait_for 2 "listener $t exiting after SIGTERM" gone "$lpid" 2>/dev/null; then
		slow=$((slow + 1))
		evc_log "try $t: still alive 2 s after SIGTERM (after $(lines "$out") lines, kill at ${want} ms)"
		kill -9 "$lpid" 2>/dev/null || true
		wait "$rdpid" "$spid" 2>/dev/null || true
		continue
	fi
	rc=0
	wait "$rdpid" || rc=$? # the pipeline's status is the reader's: the listener's is in its stderr
	wait "$spid" 2>/dev/null || true
	[[ $rc -eq 0 && ! -s "$out.err" ]] || evc_fail "try $t: listener failed after SIGTERM: $(cat "$out.err")"
	dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.3f", b - a}')
	[[ -z ${EVC_LISTEN_VERBOSE:-} && $t -gt 3 && $((t % 10)) -ne 0 ]] || evc_log "try $t: kill at ${want} ms, $(lines "$out") lines, exit $rc in ${dt}s"
done
[[ $slow -eq 0 ]] || evc_fail "$slow of $TRIES listeners ignored SIGTERM for 2 s"
evc_ok "$TRIES of $TRIES listeners ended promptly on SIGTERM"

evc_step "the daemon stops: the listener exits 1 with one line on stderr"
out="$EVC_TMP/stop"
"$EVCAST" -s "${EVC_SOCK[A]}" listen --json CUSTOM t::x >"$out" 2>"$out.err" </dev/null &
lpid=$!
EVC_BG+=($lpid)
evc_wait_for 10 "listener subscribed" sh -c \
	"'$EVCAST' -s '${EVC_SOCK[A]}' send CUSTOM t::x >/dev/null && [ -s '$out' ]" || evc_fail "no event: $(cat "$out.err")"
evc_daemon_stop A || evc_fail "daemon A did not stop cleanly"
evc_wait_for 5 "listener exiting" gone "$lpid" || evc_fail "listener still running after the daemon stopped"
rc=0
wait "$lpid" || rc=$?
[[ $rc -eq 1 ]] || evc_fail "listener exited $rc when the daemon stopped (want 1)"
[[ "$(wc -l <"$out.err")" -eq 1 ]] || evc_fail "stderr is not one line: $(cat "$out.err")"
grep -q '^evcast listen: .*daemon' "$out.err" || evc_fail "stderr: $(cat "$out.err")"
evc_ok "exit 1: $(cat "$out.err")"

evc_step "the daemon is killed (-9): the listener exits 1 with one line on stderr"
evc_daemon_start A H "$EVC_TMP/A.xml"
out="$EVC_TMP/kill"
"$EVCAST" -s "${EVC_SOCK[A]}" listen --json CUSTOM t::x >"$out" 2>"$out.err" </dev/null &
lpid=$!
EVC_BG+=($lpid)
evc_wait_for 10 "listener subscribed" sh -c \
	"'$EVCAST' -s '${EVC_SOCK[A]}' send CUSTOM t::x >/dev/null && [ -s '$out' ]" || evc_fail "no event: $(cat "$out.err")"
evc_daemon_kill9 A
evc_wait_for 5 "listener exiting" gone "$lpid" || evc_fail "listener still running after the daemon was killed"
rc=0
wait "$lpid" || rc=$?
[[ $rc -eq 1 ]] || evc_fail "listener exited $rc when the daemon was killed (want 1)"
[[ "$(wc -l <"$out.err")" -eq 1 ]] || evc_fail "stderr is not one line: $(cat "$out.err")"
grep -q '^evcast listen: .*daemon' "$out.err" || evc_fail "stderr: $(cat "$out.err")"
evc_ok "exit 1: $(cat "$out.err")"
