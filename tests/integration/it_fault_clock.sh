#!/usr/bin/env bash
# it_fault_clock.sh -- clock skew between v2 nodes: out-of-window datagrams are
# rejected and counted as "skew", in-window traffic keeps flowing.
#
# A node's clock cannot be set per network namespace, so the skewed senders run
# evcastd with a tiny LD_PRELOAD shim (compiled here with cc) that adds a fixed
# offset to CLOCK_REALTIME (clock_gettime, gettimeofday, time) of that process
# only. Topology on a private bridge, protocol v2 sealed with one key, group
# 239.255.42.22:4262: R receives with max-skew 5 s; S (clock right) and N (2 s
# behind, inside the window) must reach it; F (60 s ahead) and P (60 s behind)
# must not: R counts their datagrams under v2_drops.skew, delivers none of their
# events and never sees them as peers. Then the injector (X) sends a valid
# datagram stamped an hour ago (case replay-stale): one more skew drop.
source "$(dirname "$0")/lib.sh"
evc_require
: "${EVCAST_INJECT:=$(dirname "$EVCAST")/evcast_inject}"
[[ -x "$EVCAST_INJECT" ]] || evc_fail "evcast_inject not found (set EVCAST_INJECT; built with EVCAST_TESTS=ON)"
command -v cc >/dev/null || evc_fail "missing tool 'cc' (to build the clock shim)"

GROUP=239.255.42.22
PORT=4262
N_EV=20
KEY=$("$EVCAST" keygen --id 4) || evc_fail "evcast keygen failed"

evc_step "clock shim: CLOCK_REALTIME + EVC_CLOCK_OFFSET_S for one process"
cat >"$EVC_TMP/clockshim.c" <<-'EOF'
	#define _GNU_SOURCE
	#include <stdlib.h>
	#include <sys/syscall.h>
	#include <sys/time.h>
	#include <time.h>
	#include <unistd.h>
	static long off(void) { const char *s = getenv("EVC_CLOCK_OFFSET_S"); return s ? atol(s) : 0; }
	int clock_gettime(clockid_t id, struct timespec *ts)
	{
		long r = syscall(SYS_clock_gettime, id, ts);
		if (r == 0 && ts && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
			ts->tv_sec += off();
		return (int)r;
	}
	int gettimeofday(struct timeval *restrict tv, void *restrict tz)
	{
		struct timespec ts;
		(void)tz;
		if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
			return -1;
		if (tv) {
			tv->tv_sec = ts.tv_sec;
			tv->tv_usec = ts.tv_nsec / 1000;
		}
		return 0;
	}
	time_t time(time_t *t)
	{
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		if (t)
			*t = ts.tv_sec;
		return ts.tv_sec;
	}
EOF
cc -shared -fPIC -O2 -o "$EVC_TMP/clockshim.so" "$EVC_TMP/clockshim.c" || evc_fail "cannot build the clock shim"
got=$(EVC_CLOCK_OFFSET_S=3600 LD_PRELOAD="$EVC_TMP/clockshim.so" date +%s)
[[ $((got - $(date +%s))) -ge 3590 ]] || evc_fail "the clock shim does not shift the clock (date says $got)"
evc_ok "shim shifts a process's clock (date under +3600 s: $(date -u -d "@$got" +%H:%M:%S), now $(date -u +%H:%M:%S))"
REAL_EVCASTD=$EVCASTD
# skewed OFFSET: a wrapper that execs evcastd with its clock shifted by OFFSET s
# (exec keeps the pid lib.sh tracks; ASan tolerates the shim ahead of its runtime).
skewed() {
	local w="$EVC_TMP/evcastd_skew$1"
	cat >"$w" <<-EOF
		#!/bin/sh
		export EVC_CLOCK_OFFSET_S='$1' LD_PRELOAD='$EVC_TMP/clockshim.so'
		export ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0"
		exec '$REAL_EVCASTD' "\$@"
	EOF
	chmod +x "$w"
	echo "$w"
}

conf() {
	evc_conf "$EVC_TMP/$1.xml" address=$GROUP port=$PORT "bindings=HEARTBEAT CUSTOM evcast::clock" ttl=1 \
		loopback=no node-name="$1" multicast-interface=eth0 heartbeat-interval=1 peer-timeout=5 \
		control-socket="$EVC_TMP/$1.sock" log-level=notice protocol=v2 "v2-keys=$KEY" "${@:2}"
}
skew() { evc_stats R | jq -r '.v2_drops.skew // 0'; }
from() { evc_json_count "$EVC_TMP/R.ev" "$EVC_JQ_MEVENT and .[\"Orig-Clock-From\"] == \"$1\""; }

evc_step "network: R (max-skew 5 s), S (clock right), N (-2 s), F (+60 s), P (-60 s), X (injector)"
evc_lan R S N F P X
conf R max-skew=5
evc_daemon_start R R "$EVC_TMP/R.xml"
evc_listen R "$EVC_TMP/R.ev" HEARTBEAT CUSTOM multicast::event
conf S
evc_daemon_start S S "$EVC_TMP/S.xml"
declare -A OFFSET=([N]=-2 [F]=60 [P]=-60)
for h in N F P; do
	conf $h
	EVCASTD=$(skewed "${OFFSET[$h]}") evc_daemon_start $h $h "$EVC_TMP/$h.xml"
done
evc_wait_for 8 "R sees S and N UP" eval 'evc_peer_is R S UP && evc_peer_is R N UP' ||
	evc_fail "in-window peers not up on R: $(evc_cli R peers)"
evc_wait_for 8 "R counts skew drops from F and P" eval '[[ $(skew) -ge 4 ]]' ||
	evc_fail "R counts no skew drops: $(evc_stats R | jq -c .v2_drops)"

evc_step "each sender fires $N_EV events"
for h in S N F P; do
	evc_cli $h send CUSTOM evcast::clock -H "Clock-From: $h" --repeat $N_EV >/dev/null ||
		evc_fail "send on $h failed"
done
evc_wait_for 10 "R delivered S's and N's events" eval '[[ $(from S) -ge $N_EV && $(from N) -ge $N_EV ]]' ||
	evc_fail "in-window traffic stalled: R delivered S $(from S), N $(from N) of $N_EV"
sleep 2 # heartbeats of F and P keep coming; anything accepted from them would show now
for h in F P; do
	[[ $(from $h) -eq 0 ]] || evc_fail "R delivered $(from $h) events of $h (clock ${OFFSET[$h]} s)"
	[[ $(evc_peer_state R $h) != UP ]] || evc_fail "R sees $h (clock ${OFFSET[$h]} s) as a peer: $(evc_cli R peers)"
done
[[ $(from S) -eq $N_EV && $(from N) -eq $N_EV ]] || evc_fail "duplicates: S $(from S), N $(from N)"
s1=$(skew)
[[ $s1 -ge 6 ]] || evc_fail "only $s1 skew drops"
# a retransmission another node asked for reaches R too and counts as "duplicate"
others=$(evc_stats R | jq -c '.v2_drops // {} | with_entries(select(.value > 0 and .key != "skew" and .key != "duplicate"))')
[[ $others == '{}' ]] || evc_fail "R dropped for other reasons than skew: $others"
evc_log "  R v2_drops $(evc_stats R | jq -c '.v2_drops // {} | with_entries(select(.value > 0))'); retransmits: \
S $(evc_stat S v2_retransmits), N $(evc_stat N v2_retransmits)"
evc_ok "R: S $(from S)/$N_EV and N (-2 s) $(from N)/$N_EV delivered; F (+60 s) 0, P (-60 s) 0; skew drops $s1, no other reason"
evc_log "  R's log on skew: $(grep -i -m1 'skew' "$EVC_TMP/R.log" || echo '(nothing logged)')"

evc_step "injector: a valid datagram stamped one hour ago"
out=$(evc_in X "$EVCAST_INJECT" --group $GROUP --port $PORT --ifaddr "$(evc_netns_host_addr 6)" --key "$KEY" \
	replay-stale) || evc_fail "injector failed"
[[ ${out##*expect=} == skew ]] || evc_fail "injector case replay-stale expects '${out##*expect=}'"
evc_wait_for 5 "the stale capture counted" eval '[[ $(skew) -gt $s1 ]]' || evc_fail "stale capture not counted as skew"
[[ $(evc_json_count "$EVC_TMP/R.ev" '.["Orig-Inject-Case"] != null') -eq 0 ]] ||
	evc_fail "R delivered the stale capture"
evc_ok "stale capture rejected as skew ($(skew) skew drops in all)"
evc_cli S send CUSTOM evcast::clock -H "Clock-From: S" --repeat $N_EV >/dev/null || evc_fail "send on S failed"
evc_wait_for 5 "R still delivers S" eval '[[ $(from S) -ge $((2 * N_EV)) ]]' || evc_fail "traffic stopped after the skew drops"
for h in R S N F P; do evc_alive $h || evc_fail "daemon $h died"; done
evc_ok "in-window traffic keeps flowing ($(from S) from S)"
