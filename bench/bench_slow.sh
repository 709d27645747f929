#!/usr/bin/env bash
# bench_slow.sh -- "slow receivers" (issue 12): v2 flow control measured on 4
# daemons, each receiver with a JSON event-socket client; writes its section of
# docs/PERFORMANCE.md between <!-- bench_slow:begin --> and <!-- bench_slow:end -->
# (appended under "## Slow receivers" when absent; nothing else is touched).
#
# Contract: everything runs in private namespaces A B C D on a bridge
# (scripts/netns.sh lan, prefix evcbenchsl<pid>), deleted on exit with every
# daemon and client started here; every wait is bounded in count and time.
# A publishes (`evcast send --repeat`, one control-socket connection, as fast
# as it can); B, C, D each have one `evcast listen --json` client writing to a
# file, counted by its Orig-Evcast-Test-Seq lines. Sealed v2, one key,
# heartbeat-interval 1, peer-timeout PEER_TIMEOUT, default buffers. Cases,
# interleaved per round, fresh daemons for each:
#   raw     bench_rawudp A -> B, COUNT 1024-byte datagrams (the floor)
#   burst   COUNT events, flow control on
#   nofc    the same burst with flow-control no (the baseline: what is lost)
#   slow    D's client paced at SLOW_RATE events/s (a reader behind it),
#           SLOW_RATE*DURATION events: A's rate falls to D's
#   kill    COUNT_KILL events, C killed -9 once B has a third: the stall of
#           A's sending and its rates before and after
# Goodput (issue 18) = events the client got / (first send .. last delivery).
# Usage: bench/bench_slow.sh [BUILD_DIR]  (default build-bench; evcastd, evcast,
#        bench/bench_rawudp; python3 for the paced reader)
#        env: COUNT (50000) COUNT_KILL (30000; 10000 with QUICK) SLOW_RATE (2000) DURATION (20; 5 with QUICK)
#             REPEAT (3) PEER_TIMEOUT (4) MAX_LAG (5000) OUT (docs/PERFORMANCE.md;
#             OUT=/dev/null to only print) CASES (raw burst nofc slow kill: a
#             subset, for development) KEEP (1: keep the temporary directory)
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build-bench}
[[ "$BUILD" = /* ]] || BUILD="$SRC/$BUILD"
COUNT=${COUNT:-50000}
if [[ -n "${QUICK:-}" ]]; then DURATION=${DURATION:-5} COUNT_KILL=${COUNT_KILL:-10000}; fi # QUICK=1 scripts/bench.sh: a smoke run
COUNT_KILL=${COUNT_KILL:-30000}
SLOW_RATE=${SLOW_RATE:-2000}
DURATION=${DURATION:-20}
REPEAT=${REPEAT:-3}
PEER_TIMEOUT=${PEER_TIMEOUT:-4}
MAX_LAG=${MAX_LAG:-5000}
OUT=${OUT:-$SRC/docs/PERFORMANCE.md}
die() { echo "bench_slow: $*" >&2; exit 1; }
log() { echo "[bench_slow $(date +%H:%M:%S)] $*" >&2; }
[[ "$(id -u)" -eq 0 ]] || die "needs root (it creates private network namespaces)"
command -v jq >/dev/null || die "jq missing (scripts/deps.sh installs it)"
for b in evcastd evcast bench/bench_rawudp; do
	[[ -x "$BUILD/$b" ]] || die "$BUILD/$b missing (cmake -DEVCAST_BENCH=ON, then build)"
done
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3
command -v "$PY" >/dev/null || die "python3 missing (the paced reader)"
SLOW_COUNT=$((SLOW_RATE * DURATION))
# shellcheck source=../scripts/netns.sh
source "$SRC/scripts/netns.sh"
PREFIX="evcbenchsl$$"
TMP=$(mktemp -d /tmp/evcast-bench-slow.XXXXXX)
declare -A DPID=()
BG=()
stop_all() {
	local id p
	for id in B C D; do
		[[ ! -f "$TMP/$id.lpid" ]] || kill "$(cat "$TMP/$id.lpid")" 2>/dev/null || true
		rm -f "$TMP/$id.lpid"
	done
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${BG[@]}"; do wait "$p" 2>/dev/null || true; done
	BG=()
	for id in "${!DPID[@]}"; do
		kill "${DPID[$id]}" 2>/dev/null && wait "${DPID[$id]}" 2>/dev/null
		unset "DPID[$id]"
	done
	return 0
}
cleanup() {
	set +e
	stop_all
	evc_netns_del "$PREFIX"
	[[ -n "${KEEP:-}" ]] && echo "bench_slow: kept $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

evc_netns_lan "$PREFIX" A B C D
ADDR_A=$(evc_netns_host_addr 1)
ADDR_B=$(evc_netns_host_addr 2)
GROUP=239.255.77.12
PORT=4312
KEY=$("$BUILD/evcast" keygen --id 1)
# A registration-like event of about 1 KiB (the node adds its standard headers);
# without compression (the default) v2 carries one such event per datagram, so
# its content does not change the figures.
EV=(CUSTOM sofia::register -H 'profile-name: internal' -H 'from-user: 1000' -H 'from-host: pbx.example.net'
	-H 'contact: "1000" <sip:1000@198.51.100.23:5060;transport=udp;fs_nat=yes;fs_path=%3Csip%3A1000%40198.51.100.23%3A5060%3E>'
	-H 'call-id: 6f1e43c2-93c1-4d8e-8a0f-1c2b3d4e5f60@198.51.100.23' -H 'rpid: unknown' -H 'status: Registered(UDP-NAT)'
	-H 'expires: 3600' -H 'to-user: 1000' -H 'to-host: pbx.example.net' -H 'network-ip: 198.51.100.23'
	-H 'network-port: 5060' -H 'username: 1000' -H 'realm: pbx.example.net'
	-H 'user-agent: Yealink SIP-T46U 108.86.0.45' -H 'presence-hosts: pbx.example.net'
	--body 'Registration of 1000@pbx.example.net from 198.51.100.23:5060 (Yealink SIP-T46U), expires in 3600 s.')

conf() { # conf ID FLOWCONTROL(yes|no)
	{
		echo '<configuration name="event_multicast.conf"><settings>'
		printf '<param name="%s" value="%s"/>\n' address "$GROUP" port "$PORT" bindings "HEARTBEAT CUSTOM sofia::register" \
			ttl 1 loopback no node-name "$1" multicast-interface eth0 heartbeat-interval 1 \
			peer-timeout "$PEER_TIMEOUT" control-socket "$TMP/$1.sock" log-level warning protocol v2 \
			v2-keys "$KEY" flow-control "$2" max-lag "$MAX_LAG"
		echo '</settings></configuration>'
	} >"$TMP/$1.xml"
}
cli() { local id=$1; shift; "$BUILD/evcast" -s "$TMP/$id.sock" "$@"; }
stat_of() { cli "$1" stats | grep -o "\"$2\":[0-9]*" | head -n 1 | cut -d: -f2; }
# count ID: test events ID's client got so far (its counter's file; a read that
# meets the file being rewritten is retried)
count() {
	local n=
	for _ in 1 2 3; do
		n=$(cat "$TMP/$1.n" 2>/dev/null || true)
		[[ -n $n ]] && break
	done
	echo "${n:-0}"
}
# final_counts: ends the clients (their counters write their last count at the
# end of the stream) and waits for the counters; sets GOT[id].
final_counts() {
	local id p
	for id in B C D; do
		[[ ! -f "$TMP/$id.lpid" ]] || kill "$(cat "$TMP/$id.lpid")" 2>/dev/null || true
	done
	for p in "${BG[@]}"; do wait "$p" 2>/dev/null || true; done
	BG=()
	for id in B C D; do GOT[$id]=$(count $id); done
}
now() { date +%s.%N; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# start FC TARGET: daemons A..D (flow-control FC), a JSON client on B, C and D
# (D's paced at SLOW_RATE when PACED=1) expecting TARGET test events; waits
# until B, C, D see A and the clients stream.
start() {
	local fc=$1 target=$2 id i
	for id in B C D A; do
		conf $id "$fc"
		rm -f "$TMP/$id.sock"
		ip netns exec "$PREFIX-$id" "$BUILD/evcastd" --config "$TMP/$id.xml" --foreground >>"$TMP/$id.log" 2>&1 &
		DPID[$id]=$!
		for ((i = 0; i < 200; i++)); do
			[[ -S "$TMP/$id.sock" ]] && cli $id stats >/dev/null 2>&1 && break
			kill -0 "${DPID[$id]}" 2>/dev/null || die "evcastd $id exited: $(tail -n 5 "$TMP/$id.log")"
			sleep 0.05
		done
	done
	# Each client's stream goes to a counter (no file of the events: grepping
	# growing files would load the machine being measured): $TMP/ID.n holds how
	# many test events it got, rewritten every 50 and at TARGET; 0 once the
	# stream flows (A's HEARTBEATs arrive as multicast::event too).
	for id in B C D; do
		rm -f "$TMP/$id.n" "$TMP/$id.lpid"
		if [[ $id == D && ${PACED:-0} == 1 ]]; then
			# the slow consumer: reads the JSON stream at most SLOW_RATE lines/s
			(
				echo $BASHPID >"$TMP/D.lpid"
				exec "$BUILD/evcast" -s "$TMP/D.sock" listen --json CUSTOM multicast::event </dev/null 2>>"$TMP/D.err"
			) | "$PY" -c '
import sys, time
rate, path, target = float(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def put(c):
    with open(path, "w") as f:
        f.write("%d\n" % c)
t0, n, c = time.monotonic(), 0, 0
for line in sys.stdin:
    n += 1
    if n == 1:
        put(0)
    if "\"Orig-Evcast-Test-Seq\"" in line:
        c += 1
        if c % 50 == 0 or c >= target:
            put(c)
    if n % 50 == 0:
        ahead = n / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
put(c)
' "$SLOW_RATE" "$TMP/D.n" "$target" &
		else
			(
				echo $BASHPID >"$TMP/$id.lpid"
				exec "$BUILD/evcast" -s "$TMP/$id.sock" listen --json CUSTOM multicast::event </dev/null 2>>"$TMP/$id.err"
			) | awk -v f="$TMP/$id.n" -v t="$target" 'NR == 1 {print 0 > f; close(f)}
				/"Orig-Evcast-Test-Seq"/ {n++; if (n % 50 == 0 || n >= t) {print n > f; close(f)}}
				END {print n + 0 > f; close(f)}' &
		fi
		BG+=($!)
	done
	# ready: every receiver has A as a peer and its client has printed something
	# (A's HEARTBEAT reaches it as multicast::event); with flow control A's set holds 3
	local end=$((SECONDS + 30))
	while ((SECONDS < end)); do
		local ok=1
		for id in B C D; do
			cli $id peers 2>/dev/null | grep -q 'Peer A UP' || ok=0
			[[ -s "$TMP/$id.n" ]] || ok=0
		done
		[[ $fc == yes && "$(stat_of A fc_receivers)" -lt 3 ]] && ok=0
		[[ $ok == 1 ]] && return 0
		sleep 0.1
	done
	die "nodes not ready within 30 s (fc $fc): A fc_receivers $(stat_of A fc_receivers)"
}

# wait_all TARGET SECS: until every client file holds TARGET test events, or
# none moved for 5 s, bounded by SECS; sets LAST[id] (time of its last increase)
# and GOT[id].
declare -A LAST=() GOT=()
wait_all() {
	local target=$1 secs=$2 id i n still moved
	for id in B C D; do LAST[$id]=$T0; GOT[$id]=0; done
	local quiet=0
	for ((i = 0; i < secs * 10; i++)); do
		still=0 moved=0
		for id in B C D; do
			n=$(count $id)
			if [[ $n -gt ${GOT[$id]} ]]; then GOT[$id]=$n; LAST[$id]=$(now); moved=1; fi
			[[ $n -lt $target ]] && still=1
		done
		[[ $still == 0 ]] && return 0
		if [[ $moved == 0 ]]; then
			quiet=$((quiet + 1))
			[[ $quiet -ge 50 ]] && return 0
		else
			quiet=0
		fi
		sleep 0.1
	done
}

# send COUNT [FIRST]: A publishes; sets T0, T1 (start, end of the publisher's run)
send() {
	T0=$(now)
	cli A send "${EV[@]}" --repeat "$1" --first "${2:-1}" >"$TMP/send.out" 2>&1 || die "evcast send failed: $(cat "$TMP/send.out")"
	T1=$(now)
}
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN {printf "%.0f", (b > a) ? n / (b - a) : 0}'; }

# per_rx CASE TARGET: one result line per receiver into R[CASE]
declare -A R=()
per_rx() {
	local cs=$1 target=$2 id
	final_counts
	for id in B C D; do
		if [[ -z "${DPID[$id]:-}" ]] || ! kill -0 "${DPID[$id]}" 2>/dev/null; then continue; fi
		R[$cs]+="rx=$id got=${GOT[$id]} want=$target node=$(stat_of $id v2_rx_events) lost=$(stat_of $id v2_lost)"
		R[$cs]+=" qdrop=$(cli $id stats | jq '.control.events_dropped + .drop_consumer_overflow') goodput=$(rate "${GOT[$id]}" "$T0" "${LAST[$id]}")"
		R[$cs]+=" pub=$(rate "$target" "$T0" "$T1") load=$L"$'\n'
	done
}

case_burst() { # burst | nofc
	local cs=$1 fc=yes
	[[ $cs == nofc ]] && fc=no
	PACED=0 start $fc "$COUNT"
	L=$(load1)
	send "$COUNT"
	wait_all "$COUNT" 120
	per_rx "$cs" "$COUNT"
	log "round $round $cs: $(grep -o 'rx=[A-D] got=[0-9]*\|lost=[0-9]*\|pub=[0-9]*' <<<"${R[$cs]}" | tail -n 9 | tr '\n' ' ')"
	stop_all
}

# sample PID FILE SECS: while PID (the publisher) runs, bounded by SECS, one line
# "time A's-v2_tx_events D's-client-count" every ~0.1 s into FILE.
sample() {
	local pid=$1 f=$2 end=$((SECONDS + $3))
	: >"$f"
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < end)); do
		echo "$(now) $(stat_of A v2_tx_events) $(count D)" >>"$f"
		sleep 0.05
	done
	echo "$(now) $(stat_of A v2_tx_events) $(count D)" >>"$f"
}

case_slow() {
	PACED=1 start yes "$SLOW_COUNT"
	L=$(load1)
	T0=$(now)
	cli A send "${EV[@]}" --repeat "$SLOW_COUNT" >"$TMP/send.out" 2>&1 &
	local spid=$!
	sample $spid "$TMP/samples" $((DURATION * 3 + 60))
	wait $spid || die "slow: evcast send failed: $(cat "$TMP/send.out")"
	T1=$(now)
	wait_all "$SLOW_COUNT" $((DURATION * 3 + 60))
	per_rx slow "$SLOW_COUNT"
	# the steady state: A's sending and D's client over the second half of the publisher's run
	R[slowrate]+="$(awk -v t0="$T0" -v t1="$T1" '{t[NR] = $1; x[NR] = $2; d[NR] = $3}
		END {h = (t0 + t1) / 2; for (i = 1; i < NR && t[i] < h; i++); if (t[NR] - t[i] <= 0) {print "steady=0 dclient=0"; exit}
		printf "steady=%.0f dclient=%.0f", (x[NR] - x[i]) / (t[NR] - t[i]), (d[NR] - d[i]) / (t[NR] - t[i])}' "$TMP/samples")"
	R[slowrate]+=" holds=$(stat_of D fc_rx_holds) blocked=$(stat_of A fc_blocked) dropped=$(stat_of A fc_dropped) load=$L"$'\n'
	log "round $round slow: $(grep . <<<"${R[slowrate]}" | tail -n 1)"
	stop_all
}

case_kill() {
	local i tk tx_kill
	PACED=0 start yes "$COUNT_KILL"
	L=$(load1)
	T0=$(now)
	cli A send "${EV[@]}" --repeat "$COUNT_KILL" >"$TMP/send.out" 2>&1 &
	local spid=$!
	for ((i = 0; i < 600; i++)); do # until A has sent a third (bounded: 60 s)
		tx_kill=$(stat_of A v2_tx_events)
		[[ $tx_kill -ge $((COUNT_KILL / 3)) ]] && break
		kill -0 $spid 2>/dev/null || break
		sleep 0.05
	done
	kill -9 "${DPID[C]}"
	tk=$(now)
	wait "${DPID[C]}" 2>/dev/null || true
	unset "DPID[C]"
	sample $spid "$TMP/samples" $((PEER_TIMEOUT + MAX_LAG / 1000 + 60))
	wait $spid || die "kill: evcast send failed: $(cat "$TMP/send.out")"
	T1=$(now)
	wait_all "$COUNT_KILL" 120
	per_rx kill "$COUNT_KILL"
	# the stall: the longest time A's v2_tx_events did not move after the kill
	# (by more than 3: A's own HEARTBEATs, one a second, are events too);
	# (an upper bound: to the first sample that moved); rates: A's sending from
	# the start to the kill, and from the last still sample of the stall to the end
	R[killrate]+="$(awk -v t0="$T0" -v tk="$tk" -v xk="$tx_kill" '{t[NR] = $1; x[NR] = $2}
		END {last = tk; lx = xk; best = 0; re = tk; rx = xk
			for (i = 1; i <= NR; i++) if (x[i] > lx + 3) {if (t[i] - last > best) {best = t[i] - last; re = (i > 1) ? t[i - 1] : tk; rx = (i > 1) ? x[i - 1] : xk} last = t[i]; lx = x[i]}
			after = (t[NR] > re) ? (x[NR] - rx) / (t[NR] - re) : 0
			printf "before=%.0f stall=%.1f after=%.0f atkill=%d afterkill=%d", xk / (tk - t0), best, after, xk, x[NR] - xk}' "$TMP/samples")"
	R[killrate]+=" left=$(stat_of A fc_left) fcdropped=$(stat_of A fc_dropped) load=$L"$'\n'
	log "round $round kill: $(grep . <<<"${R[killrate]}" | tail -n 1)"
	stop_all
}

case_raw() {
	local line
	L=$(load1)
	line=$(ip netns exec "$PREFIX-A" timeout 120 "$BUILD/bench/bench_rawudp" --count "$COUNT" --size 1024 \
		--group $GROUP --port $((PORT + 1)) --ifaddr "$ADDR_A" --recv-netns "$PREFIX-B" --recv-ifaddr "$ADDR_B" \
		--label raw | grep '^RESULT') || die "bench_rawudp failed"
	R[raw]+="$line load=$L"$'\n'
	log "round $round raw: $line"
}

CASES=${CASES:-raw burst nofc slow kill}
for ((round = 1; round <= REPEAT; round++)); do
	for c in $CASES; do
		case $c in
		raw) case_raw ;;
		burst | nofc) case_burst "$c" ;;
		slow) case_slow ;;
		kill) case_kill ;;
		*) die "CASES: $c? (raw burst nofc slow kill)" ;;
		esac
	done
done

# ------------------------------------------------------------ report
# vals CASE FIELD [RX]: the field of every line (of receiver RX)
vals() {
	awk -v f="$2" -v rx="${3:-}" '{split("", v); for (i = 1; i <= NF; i++) if ((p = index($i, "=")) > 0) v[substr($i, 1, p - 1)] = substr($i, p + 1)
		if ((rx == "" || v["rx"] == rx) && (f in v)) print v[f]}' <<<"${R[$1]:-}"
}
med() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ld() { echo "$(vals "$@" | med | awk '{printf "%.2f", $1}') ($(vals "$@" | mm))"; }
mm() { sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {if (NR == 0) print "-"; else print lo "–" hi}'; }
sum() { awk '{s += $1} END {print s + 0}'; }
k() { awk -v a="$1" 'BEGIN {if (a == "-") print "-"; else printf "%.1f k", a / 1000}'; }
fig() { echo "$(k "$(vals "$@" | med)")/s ($(vals "$@" | mm | awk -F– '{printf "%.1f–%.1f k", $1 / 1000, $2 / 1000}'))"; }
RAWR=$(vals raw rate_avg | med)
RAWLOSS=$(vals raw loss_pct | mm)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f×", a / b}'; }
rxrow() { # rxrow CASE RX LABEL
	local c=$1 id=$2 gp
	gp=$(vals "$c" goodput "$id" | med)
	printf '| %s | %s | %s / %s | %s | %s | %s | %s | %s | %s | %s |\n' "$3" "$id" \
		"$(vals "$c" got "$id" | med)" "$(vals "$c" want "$id" | med)" "$(vals "$c" node "$id" | med)" \
		"$(vals "$c" lost "$id" | sum)" "$(vals "$c" qdrop "$id" | sum)" "$(fig "$c" goodput "$id")" \
		"$(ratio "$gp" "$RAWR")" "$(fig "$c" pub "$id")" "$(ld "$c" load "$id")"
}
whole() { # whole CASE: yes when every round of every receiver got all and lost 0
	local c=$1
	awk 'NF == 0 {next} {n++; split($0, f, " "); for (i in f) {split(f[i], kv, "="); v[kv[1]] = kv[2]} if (v["got"] != v["want"] || v["lost"] != 0) bad++}
		END {print n == 0 ? "not run" : bad ? "**no** (" bad " of " n " receiver-rounds short)" : "**yes**"}' <<<"${R[$c]:-}"
}
{
	echo "<!-- bench_slow:begin -->"
	echo "## Slow receivers (bench/bench_slow.sh)"
	echo
	echo "*Written by \`bench/bench_slow.sh\` on $(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) cores, load average"
	echo "$(cut -d' ' -f1-3 /proc/loadavg) at the end; median of $REPEAT rounds (min–max), cases interleaved.*"
	echo "Command (as root): \`COUNT=$COUNT COUNT_KILL=$COUNT_KILL SLOW_RATE=$SLOW_RATE DURATION=$DURATION REPEAT=$REPEAT PEER_TIMEOUT=$PEER_TIMEOUT MAX_LAG=$MAX_LAG bench/bench_slow.sh $(basename "$BUILD")\`"
	echo "($(basename "$BUILD") configured with \`-DEVCAST_BENCH=ON\`)."
	echo
	echo "Issue 12's scenario: 4 evcastd (A publishes; B, C, D receive) in their own namespaces on a veth"
	echo "bridge, sealed v2 with one key, default buffers and \`fc-window\`, \`heartbeat-interval 1\`,"
	echo "\`peer-timeout $PEER_TIMEOUT\`, \`max-lag $MAX_LAG\`. Each receiver has one \`evcast listen --json CUSTOM"
	echo "multicast::event\` client; a counter reading its output (awk; for D's paced client, the Python"
	echo "reader that paces it) counts the test events it got. A publishes a"
	echo "registration-like \`CUSTOM sofia::register\` event (16 SIP headers, ≈ 1 KiB with the node's own"
	echo "headers: one per datagram) with \`evcast send --repeat\` over one control-socket connection,"
	echo "as fast as it can: \`sendevent\` waits while A is not writable. Every case starts fresh daemons."
	echo "**Goodput** = events the receiver's client got / (first send → its last delivery); *node* is"
	echo "the receiver's \`v2_rx_events\` (A's HEARTBEATs included), *lost* its \`v2_lost\` (datagrams given"
	echo "up, summed over the rounds; one event per datagram here), *client drops* the events its control"
	echo "socket dropped from full client queues plus \`drop_consumer_overflow\` (summed); *publisher* ="
	echo "events / the time \`evcast send\` ran. Load = the 1-minute load average when the case started."
	echo
	echo "| case | receiver | client got / sent (median) | node delivered | lost (all rounds) | client drops (all rounds) | goodput | goodput / raw UDP | publisher rate | load |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	printf '| raw UDP A → B (bench_rawudp, %s × 1024 B) | B | — | — | loss %s %% | — | %s | 1.00× | — | %s |\n' "$COUNT" "$RAWLOSS" \
		"$(fig raw rate_avg)" "$(ld raw load)"
	for id in B C D; do rxrow burst $id "1. burst of $COUNT, flow control on"; done
	for id in B C D; do rxrow nofc $id "baseline: the burst, \`flow-control no\`"; done
	for id in B C D; do rxrow slow $id "2. D's client paced at $SLOW_RATE/s, $SLOW_COUNT events"; done
	for id in B D; do rxrow kill $id "3. C killed -9 after A sent a third of $COUNT_KILL"; done
	echo
	echo "Every live receiver whole (client got all, \`v2_lost\` 0) in every round: burst $(whole burst);"
	echo "slow receiver $(whole slow); dead receiver $(whole kill); without flow control $(whole nofc)."
	echo
	echo "**2. The publisher falls to the slowest receiver's rate.** Over the second half of the"
	echo "publisher's run (after D's client queue and window filled), A sent"
	echo "$(fig slowrate steady) while D's paced client read $(fig slowrate dclient);"
	echo "unthrottled (case 1, B) A published at $(fig burst pub B). D held its delivery"
	echo "$(vals slowrate holds | med) times (\`fc_rx_holds\`, median), A's window ran out $(vals slowrate blocked | med) times"
	echo "(\`fc_blocked\`); receivers dropped for \`max-lag\`: $(vals slowrate dropped | sum) over all rounds."
	echo "Load at start: $(ld slowrate load)."
	echo
	echo "**3. A dead receiver.** Once A had sent a third of the events ($(vals killrate atkill | med), median),"
	echo "C got \`kill -9\`; A sent $(vals killrate afterkill | med) more after it. A's publishing rate before:"
	echo "$(fig killrate before); A stopped sending for $(vals killrate stall | med) s ($(vals killrate stall | mm) s): the longest time"
	echo "A's \`v2_tx_events\` grew by no more than its own HEARTBEATs (sampled every ~0.1 s, so up to"
	echo "one sample long), until C left its set (\`fc_left\` $(vals killrate left | med), \`fc_dropped\` $(vals killrate fcdropped | med), medians);"
	echo "after, from the stall's end to the end of the run: $(fig killrate after)."
	echo "Bound: C's window stops A until \`max-lag\` ($MAX_LAG ms) drops it or \`peer-timeout\` ($PEER_TIMEOUT s) of"
	echo "silence removes it, whichever comes first."
	echo
	echo "The \`flow-control no\` rows are the baseline the issue asks for: the same burst with the"
	echo "sender running free, so what its receivers' clients could not keep up with is given up"
	echo "(\`v2_lost\`) or dropped from the clients' queues."
	echo "<!-- bench_slow:end -->"
} >"$TMP/section.md"
cat "$TMP/section.md"
if [[ "$OUT" != /dev/null ]]; then
	if [[ -f "$OUT" ]] && grep -q '<!-- bench_slow:begin -->' "$OUT"; then
		awk -v f="$TMP/section.md" '
			/<!-- bench_slow:begin -->/ {while ((getline l < f) > 0) print l; skip = 1; next}
			/<!-- bench_slow:end -->/ {skip = 0; next}
			!skip {print}' "$OUT" >"$TMP/out.md"
		cat "$TMP/out.md" >"$OUT"
	else
		{ [[ -f "$OUT" ]] && echo; cat "$TMP/section.md"; } >>"$OUT"
	fi
	log "wrote the section into $OUT"
fi
