#!/usr/bin/env bash
# it_metrics.sh -- the Prometheus endpoint of evcastd (metrics.conf, src/daemon/metrics.c).
#
# Topology: hosts A and B in one private namespace on lo (multicast on lo,
# group 239.255.42.7, heartbeat 1 s); A serves metrics on 127.0.0.1:9464, B on
# [::1]:9465. Checks: GET /metrics answers 200 text/plain with every counter
# of evcast_stats_t (`evcast peers --json` .stats) as evcast_<field>_total with
# its value, build info, B's per-peer up/last-seen gauges; 404 for another
# path, 405 for POST, 431 for an oversize head, 400 for garbage; connections
# over the limit are refused and counted, an idle one is closed; 300
# connections of random bytes (seeded: EVC_SEED) do not hurt it; it still
# answers and stops cleanly. A non-loopback listen-ip without allow-remote,
# and bad values, stop the start with a message naming them.
source "$(dirname "$0")/lib.sh"
evc_require
command -v curl >/dev/null || evc_fail "missing tool 'curl'"

GROUP=239.255.42.7
PORT=4247

# conf ID NODE METRICS_PARAMS...: an <evcast> file with event_multicast.conf and metrics.conf.
conf() {
	local id=$1 node=$2 kv
	shift 2
	{
		echo '<evcast>'
		echo ' <configuration name="event_multicast.conf"><settings>'
		echo "  <param name=\"address\" value=\"$GROUP\"/><param name=\"port\" value=\"$PORT\"/>"
		echo '  <param name="bindings" value="HEARTBEAT CUSTOM bench::x"/><param name="ttl" value="1"/>'
		echo '  <param name="loopback" value="yes"/><param name="multicast-interface" value="lo"/>'
		echo "  <param name=\"node-name\" value=\"$node\"/><param name=\"heartbeat-interval\" value=\"1\"/>"
		echo "  <param name=\"peer-timeout\" value=\"3\"/><param name=\"control-socket\" value=\"$EVC_TMP/$id.sock\"/>"
		echo '  <param name="log-level" value="notice"/>'
		echo ' </settings></configuration>'
		echo ' <configuration name="metrics.conf"><settings>'
		for kv in "$@"; do
			printf '  <param name="%s" value="%s"/>\n' "${kv%%=*}" "${kv#*=}"
		done
		echo ' </settings></configuration>'
		echo '</evcast>'
	} >"$EVC_TMP/$id.xml"
}

# get ID URL_PATH: the body of GET on daemon ID's endpoint (fails on non-2xx).
declare -A MURL=()
get() { evc_in H curl -fsS --max-time 5 "${MURL[$1]}$2"; }
# status ID CURL_ARGS...: the HTTP status code only.
status() { local id=$1; shift; evc_in H curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "${MURL[$id]}/metrics"; }
# metric ID NAME_AND_LABELS: the value of one sample line.
metric() { get "$1" /metrics | awk -v k="$2" '$1 == k {v = $2} END {print v}'; }

evc_step "network: one namespace, multicast on lo"
evc_lo H

evc_step "start A (metrics on 127.0.0.1:9464) and B (metrics on [::1]:9465)"
conf A A enabled=yes listen-ip=127.0.0.1 listen-port=9464
conf B B enabled=yes listen-ip=::1 listen-port=9465
MURL[A]="http://127.0.0.1:9464"
MURL[B]="http://[::1]:9465"
evc_daemon_start A H "$EVC_TMP/A.xml"
evc_wait_for 5 "A's metrics endpoint" get A /metrics >/dev/null 2>&1 ||
	evc_fail "metrics endpoint of A does not answer: $(tail -n 5 "$EVC_TMP/A.log")"
evc_daemon_start B H "$EVC_TMP/B.xml"
evc_wait_for 5 "B's metrics endpoint" get B /metrics >/dev/null || evc_fail "B's endpoint (::1) does not answer"
evc_ok "both endpoints answer"

evc_step "headers and format"
hdrs=$(evc_in H curl -fsS -D - -o /dev/null --max-time 5 "${MURL[A]}/metrics")
grep -qi '^Content-Type: text/plain; version=0.0.4' <<<"$hdrs" || evc_fail "Content-Type: $hdrs"
get A /metrics >"$EVC_TMP/A.prom"
grep -q '^evcast_build_info{version="[0-9.]*",node="A"} 1$' "$EVC_TMP/A.prom" ||
	evc_fail "no build info: $(head -n 5 "$EVC_TMP/A.prom")"
# every sample line: name{labels} value, with # HELP and # TYPE before each family
awk '!/^#/ && NF && !($1 ~ /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?$/ && $2 ~ /^-?[0-9.e+]+$/) {print; bad = 1} END {exit bad}' \
	"$EVC_TMP/A.prom" || evc_fail "malformed sample lines (above)"
for fam in $(awk '!/^#/ && NF {sub(/\{.*/, "", $1); print $1}' "$EVC_TMP/A.prom" | sort -u); do
	# a summary's or histogram's _sum/_count/_bucket samples belong to its family
	base=$(sed -E 's/_(sum|count|bucket)$//' <<<"$fam")
	grep -q "^# TYPE $fam " "$EVC_TMP/A.prom" || grep -E "^# TYPE $base (summary|histogram)$" "$EVC_TMP/A.prom" >/dev/null ||
		evc_fail "family $fam has no # TYPE line"
done
grep '^# TYPE evcast_rx_delay_seconds summary$' "$EVC_TMP/A.prom" >/dev/null || evc_fail "no rx_delay summary"
grep '^evcast_rx_delay_seconds{quantile="0.99"} [0-9.]*$' "$EVC_TMP/A.prom" >/dev/null || evc_fail "no rx_delay p99"
grep '^evcast_rx_delay_seconds_count [0-9]*$' "$EVC_TMP/A.prom" >/dev/null || evc_fail "no rx_delay count"
evc_ok "text format 0.0.4, every family typed"

evc_step "peers: A sees B up, in the peer gauges"
evc_wait_for 8 "A sees B UP" evc_peer_is A B UP || evc_fail "A does not see B: $(evc_cli A peers)"
evc_wait_for 3 "evcast_peer_up for B" bash -c "[[ \"\$(ip netns exec $(evc_ns H) curl -fsS ${MURL[A]}/metrics | awk '\$1 ~ /^evcast_peer_up\\{peer=\"B\"/ {v = \$2} END {print v}')\" == 1 ]]" ||
	evc_fail "no evcast_peer_up{peer=\"B\"} 1: $(get A /metrics | grep peer)"
last=$(metric A 'evcast_peer_last_seen_seconds{peer="B"}')
now=$(date +%s)
awk -v l="$last" -v n="$now" 'BEGIN {exit !(l > n - 10 && l <= n + 1)}' || evc_fail "last seen of B is $last, now $now"
[[ "$(metric A 'evcast_peers{state="up"}')" -ge 1 ]] || evc_fail "evcast_peers{state=\"up\"} < 1"
evc_ok "B up, last seen $last (now $now)"

evc_step "every counter of evcast stats is exposed with its value"
evc_cli A send CUSTOM bench::x -H 'k: v' >/dev/null || evc_fail "send failed"
# freeze time between the two reads: compare against a stats snapshot taken in between
# two metric reads; counters only grow, so stats must lie between them.
get A /metrics >"$EVC_TMP/m1"
evc_cli A peers --json | jq -c .stats >"$EVC_TMP/stats.json" # the node's evcast_stats_t
get A /metrics >"$EVC_TMP/m2"
n=0
for f in $(jq -r 'to_entries[] | select(.value | type == "number") | .key' "$EVC_TMP/stats.json"); do
	v=$(jq -r --arg f "$f" '.[$f]' "$EVC_TMP/stats.json")
	m="evcast_${f%_total}_total" # a field already ending in _total keeps one
	[[ $f == fc_receivers ]] && m="evcast_$f" # a level (gauge): no _total, and it may go down
	a=$(awk -v k="$m" '$1 == k {print $2}' "$EVC_TMP/m1")
	b=$(awk -v k="$m" '$1 == k {print $2}' "$EVC_TMP/m2")
	[[ -n "$a" && -n "$b" ]] || evc_fail "counter $f is not exposed as $m"
	[[ $f == fc_receivers ]] && { n=$((n + 1)); continue; }
	awk -v a="$a" -v v="$v" -v b="$b" 'BEGIN {exit !(a <= v && v <= b)}' ||
		evc_fail "$m: $a then $b, but stats said $v"
	n=$((n + 1))
done
[[ $n -ge 20 ]] || evc_fail "only $n counters in evcast stats?"
# breakdown objects ({"v2_drops": {"auth": N, ...}}) become one labelled family each
for k in $(jq -r 'to_entries[] | select(.value | type == "object") | .key' "$EVC_TMP/stats.json"); do
	for r in $(jq -r --arg k "$k" '.[$k] | keys[]' "$EVC_TMP/stats.json"); do
		grep -q "^evcast_${k}_by_reason_total{reason=\"$r\"} " "$EVC_TMP/m2" ||
			evc_fail "no evcast_${k}_by_reason_total{reason=\"$r\"}"
	done
done
[[ "$(awk '$1 == "evcast_local_events_total" {print $2}' "$EVC_TMP/m2")" -ge 1 ]] || evc_fail "local_events did not count"
evc_ok "$n counters match"

evc_step "HTTP errors: 404, 405, 400, 431"
[[ "$(evc_in H curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${MURL[A]}/other")" == 404 ]] || evc_fail "no 404 for /other"
[[ "$(status A -X POST -d x)" == 405 ]] || evc_fail "no 405 for POST"
big=$(head -c 6000 /dev/zero | tr '\0' 'a')
[[ "$(status A -H "X-Big: $big")" == 431 ]] || evc_fail "no 431 for a 6 KB header"
resp=$(evc_in H python3 - <<-'EOF'
	import socket
	s = socket.create_connection(("127.0.0.1", 9464), timeout=5)
	s.sendall(b"garbage\r\n\r\n")
	print(s.recv(200).decode(errors="replace").splitlines()[0])
EOF
)
[[ "$resp" == "HTTP/1.1 400 Bad Request" ]] || evc_fail "garbage got: $resp"
[[ "$(metric A evcast_metrics_bad_requests_total)" -ge 4 ]] || evc_fail "bad requests not counted"
evc_ok "errors answered and counted"

evc_step "connection limit and idle timeout"
evc_in H python3 - <<-'EOF' || evc_fail "connection limit check failed"
	import socket, time, sys
	conns = [socket.create_connection(("127.0.0.1", 9464), timeout=5) for _ in range(24)]
	time.sleep(0.5)
	closed = 0
	for c in conns:
	    c.setblocking(False)
	    try:
	        if c.recv(1) == b"":
	            closed += 1
	    except BlockingIOError:
	        pass
	print("closed by the server at once:", closed)
	if closed < 8:
	    sys.exit("expected at least 8 of 24 connections refused (limit 16)")
	# the 16 held ones are closed by the idle timeout (5 s)
	time.sleep(6)
	still = 0
	for c in conns:
	    try:
	        if c.recv(1) != b"":
	            still += 1
	    except BlockingIOError:
	        still += 1
	    except OSError:
	        pass
	if still:
	    sys.exit("%d idle connections still open after the idle timeout" % still)
EOF
[[ "$(metric A evcast_metrics_refused_total)" -ge 8 ]] || evc_fail "refused connections not counted"
get A /metrics >/dev/null || evc_fail "endpoint dead after the limit test"
evc_ok "limit enforced, idle connections closed, still serving"

evc_step "random input: 300 connections of random bytes, half-closed or reset"
SEED=${EVC_SEED:-$RANDOM}
evc_log "seed $SEED (EVC_SEED=$SEED reproduces)"
evc_in H python3 - "$SEED" <<-'EOF' || evc_fail "random input run failed (seed $SEED)"
	import random, socket, struct, sys
	rnd = random.Random(int(sys.argv[1]))
	for i in range(300):
	    s = socket.create_connection(("127.0.0.1", 9464), timeout=5)
	    n = rnd.choice([0, 1, 10, 100, 4095, 4096, 5000])
	    data = bytes(rnd.getrandbits(8) for _ in range(n))
	    if rnd.random() < 0.3:
	        data = b"GET /metrics HTTP/1.1\r\n" + data
	    try:
	        s.sendall(data)
	        if rnd.random() < 0.5:
	            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset
	        else:
	            s.shutdown(socket.SHUT_WR)
	            s.recv(65536)
	    except OSError:
	        pass
	    s.close()
EOF
evc_alive A || evc_fail "A died on random input (seed $SEED)"
evc_wait_for 8 "A serving again after random input" get A /metrics >/dev/null 2>&1 ||
	evc_fail "A does not answer after random input (seed $SEED)"
evc_ok "survived random input"

evc_step "stop cleanly"
evc_daemon_stop A || evc_fail "A did not stop cleanly"
evc_daemon_stop B || evc_fail "B did not stop cleanly"

evc_step "refused configurations"
# start_bad ID PATTERN: the daemon must exit 1 and log PATTERN.
start_bad() {
	local id=$1 pat=$2 rc=0
	evc_in H timeout 10 "$EVCASTD" --config "$EVC_TMP/$id.xml" --foreground >"$EVC_TMP/$id.log" 2>&1 || rc=$?
	[[ $rc -eq 1 ]] || evc_fail "$id: exit status $rc, expected 1: $(cat "$EVC_TMP/$id.log")"
	grep -q -- "$pat" "$EVC_TMP/$id.log" || evc_fail "$id: no message matching '$pat': $(cat "$EVC_TMP/$id.log")"
}
conf C C enabled=yes listen-ip=10.1.2.3 listen-port=9466
start_bad C "listen-ip 10.1.2.3 is not a loopback address"
conf D D enabled=yes listen-port=70000
start_bad D 'invalid value "70000" for listen-port'
conf E E enabled=maybe
start_bad E 'invalid value "maybe" for enabled'
evc_ok "non-loopback without allow-remote and bad values refused"
