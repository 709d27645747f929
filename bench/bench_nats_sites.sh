#!/usr/bin/env bash
# bench_nats_sites.sh -- two sites bridged through NATS (docs/MULTISITE.md):
# events/s and one-way latency from a publisher on site 1 to a node of site 2,
# held to direct NATS core pub/sub between the same namespaces in the same run;
# writes its section of docs/PERFORMANCE.md between <!-- nats_sites:begin -->
# and <!-- nats_sites:end --> (appended when absent; nothing else is touched).
#
# Contract: private namespaces on one veth bridge (scripts/netns.sh lan, prefix
# evcbenchns<pid>: nats, a1, b1, b2), deleted on exit with the nats-server and
# every evcastd started here; every case is bounded in count (N per step) and
# time (bench_util's 60 s receive deadline, `timeout` around each run).
# Site 1 = a1 (group G1), a gateway (nats.conf gateway=yes); site 2 = b1, a
# gateway, and b2, a multicast-only node (group G2). Path measured: bench_fanout
# in a1's namespace multicasts legacy datagrams (CUSTOM bench::load, ~SIZE
# bytes of event text, a monotonic timestamp header in paced mode) to G1 ->
# evcastd a1 -> NATS -> evcastd b1 -> multicast G2 (protocol v2 + v2-compress,
# the recommended site configuration; legacy in a comparison mode) -> evcastd b2 -> an
# event-socket client on b2's control socket (`event plain ALL`), which counts
# and timestamps arrivals (one machine, one clock). Baseline: bench_nats, its
# publisher in a1's namespace, its subscriber in b2's (BENCH_SUB_NETNS), same
# server, payload = the size a1 publishes (measured from the server's /varz).
# Also: where events were lost (the daemons' counters along the path), CPU per
# event of each daemon and nats-server (/proc), instructions per event in the
# two gateways' loops (callgrind, when installed), b1's time under sendmsg and
# futex (perf, when installed) -- the figures the explanation is built from.
# Usage: bench/bench_nats_sites.sh [BUILD_DIR]  (default build-bench, configured
#        with -DEVCAST_BENCH=ON)   env: N (100000 events per step), RATES
#        ("10000 20000 40000 max"; max = as fast as the sender can), REPEAT (3),
#        LAT_RATE (1000), LAT_S (5), SIZE (1024), CG_N (1000 callgrind events),
#        CG_KEEP (a directory: keep the callgrind outputs, for callgrind_annotate),
#        CG_ONLY=1 (only the callgrind runs), COMPRESS (yes: site 2's v2-compress), ASAP (yes: nats.conf send-asap of the
#        main rows; the latency-only "asap" row takes the other value),
#        OUT (docs/PERFORMANCE.md; OUT=/dev/null only prints)
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build-bench}
[[ "$BUILD" = /* ]] || BUILD="$SRC/$BUILD"
N=${N:-100000}
RATES=${RATES:-10000 20000 40000 max}
REPEAT=${REPEAT:-3}
LAT_RATE=${LAT_RATE:-1000}
LAT_S=${LAT_S:-5}
SIZE=${SIZE:-1024}
COMPRESS=${COMPRESS:-yes}
ASAP=${ASAP:-yes}
OUT=${OUT:-$SRC/docs/PERFORMANCE.md}
die() { echo "bench_nats_sites: $*" >&2; exit 1; }
log() { echo "[bench_nats_sites $(date +%H:%M:%S)] $*" >&2; }
[[ "$(id -u)" -eq 0 ]] || die "needs root (it creates private network namespaces)"
for b in evcastd evcast bench/bench_fanout bench/bench_nats; do
	[[ -x "$BUILD/$b" ]] || die "$BUILD/$b missing (cmake -DEVCAST_BENCH=ON with libnats-dev, then build)"
done
command -v nats-server >/dev/null || die "nats-server missing (scripts/deps.sh installs it)"
command -v jq >/dev/null || die "jq missing"
command -v curl >/dev/null || die "curl missing"
FANOUT="$BUILD/bench/bench_fanout"
NATSB="$BUILD/bench/bench_nats"
EVCAST="$BUILD/evcast"

# shellcheck source=../scripts/netns.sh
source "$SRC/scripts/netns.sh"
PREFIX="evcbenchns$$"
TMP=$(mktemp -d /tmp/evcast-bench-nats-sites.XXXXXX)
declare -A DPID=()
NATS_PID=""
PERF_PID=""
cleanup() {
	set +e
	local id
	[[ -n "$PERF_PID" ]] && kill -INT "$PERF_PID" 2>/dev/null && wait "$PERF_PID" 2>/dev/null
	for id in "${!DPID[@]}"; do kill "${DPID[$id]}" 2>/dev/null && wait "${DPID[$id]}" 2>/dev/null; done
	[[ -n "$NATS_PID" ]] && kill "$NATS_PID" 2>/dev/null && wait "$NATS_PID" 2>/dev/null
	evc_netns_del "$PREFIX"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

evc_netns_lan "$PREFIX" nats a1 b1 b2
ADDR_NATS=$(evc_netns_host_addr 1)
ADDR_A1=$(evc_netns_host_addr 2)
G1=239.255.78.1
G2=239.255.78.2
P1=47811
P2=47812
URL="nats://$ADDR_NATS:4222"
inns() { local id=$1; shift; ip netns exec "$PREFIX-$id" "$@"; }

# ------------------------------------------------------------- nats-server
# (ip netns exec itself, not a function: $! must be the server's pid, to stop it)
ip netns exec "$PREFIX-nats" nats-server -a "$ADDR_NATS" -p 4222 -m 8222 >"$TMP/nats.log" 2>&1 &
NATS_PID=$!
for _ in $(seq 100); do
	grep -q "Server is ready" "$TMP/nats.log" 2>/dev/null && break
	kill -0 "$NATS_PID" 2>/dev/null || break
	sleep 0.1
done
grep -q "Server is ready" "$TMP/nats.log" || die "nats-server did not start: $(tail -n 5 "$TMP/nats.log")"
NATS_VER=$(nats-server --version 2>/dev/null | awk '{print $2}')
varz() { inns nats curl -fsS --max-time 5 "http://$ADDR_NATS:8222/varz"; }

# ------------------------------------------------------------- daemons
# conf ID GROUP PORT gateway|none [MODE]: the daemon's configuration. Modes:
# plain (encrypt=no) and sealed (encrypt=yes, v2-keys on every node, so the site
# multicast is sealed v2 too) with the recommended site format (protocol v2,
# v2-compress $COMPRESS: the gateway relays a batch per datagram); legacy
# (encrypt=no, protocol legacy: one datagram per relayed event; for comparison);
# asap (plain with send-asap the other way round; the unpaced step and latency only).
conf() {
	local id=$1 group=$2 port=$3 role=$4 mode=${5:-plain} keyp=() enc=() site=() asap=$ASAP
	[[ $mode == sealed ]] && keyp=(v2-keys "$KEY") && enc=(encrypt yes)
	[[ $mode == asap ]] && { [[ $ASAP == yes ]] && asap=no || asap=yes; }
	[[ $mode == legacy ]] && asap=no # the configuration before: legacy site format, libnats' flusher
	if [[ $mode == legacy ]]; then site=(protocol legacy); else site=(protocol v2 v2-compress "$COMPRESS"); fi
	{
		echo '<evcast><configuration name="event_multicast.conf"><settings>'
		printf '<param name="%s" value="%s"/>\n' address "$group" port "$port" bindings "CUSTOM bench::load" \
			ttl 1 node-name "$id" multicast-interface eth0 heartbeat-interval 3600 peer-timeout 7200 \
			control-socket "$TMP/$id.sock" log-level warning "${site[@]}" "${keyp[@]}"
		echo '</settings></configuration>'
		if [[ $role == gateway ]]; then
			echo '<configuration name="nats.conf"><settings>'
			printf '<param name="%s" value="%s"/>\n' url "$URL" cluster bench gateway yes \
				bindings "CUSTOM bench::load" send-asap "$asap" "${enc[@]}"
			echo '</settings></configuration>'
		fi
		echo '</evcast>'
	} >"$TMP/$id.xml"
}
stat_of() { "$EVCAST" -s "$TMP/$1.sock" stats 2>/dev/null | jq -r "$2 // 0"; }
# start ID [WRAPPER...]: evcastd ID in its namespace (under WRAPPER, e.g. valgrind)
start() {
	local id=$1
	shift
	rm -f "$TMP/$id.sock"
	ip netns exec "$PREFIX-$id" "$@" "$BUILD/evcastd" --config "$TMP/$id.xml" --foreground >>"$TMP/$id.log" 2>&1 &
	DPID[$id]=$!
	for _ in $(seq 600); do
		[[ -S "$TMP/$id.sock" ]] && "$EVCAST" -s "$TMP/$id.sock" stats >/dev/null 2>&1 && return 0
		kill -0 "${DPID[$id]}" 2>/dev/null || { unset "DPID[$id]"; return 1; }
		sleep 0.05
	done
	return 1
}
stop() { kill "${DPID[$1]}" 2>/dev/null && wait "${DPID[$1]}" 2>/dev/null; unset "DPID[$1]"; return 0; }
linked() { "$EVCAST" -s "$TMP/$1.sock" peers 2>/dev/null | grep "^NATS: connected" >/dev/null; }

# Modes: plain (encrypt=no, the default) and, when this build accepts it, sealed
# (nats.conf encrypt=yes with a v2 key in event_multicast.conf on both gateways).
KEY=$("$EVCAST" keygen --id 1 2>/dev/null || true)
MODES=plain
SEALED_WHY=""
conf a1 $G1 $P1 gateway sealed
if [[ -n $KEY ]] && start a1; then
	MODES="plain sealed"
	stop a1
else
	[[ -n ${DPID[a1]:-} ]] && stop a1 # alive but not answering: not a refusal
	SEALED_WHY=$(grep -i encrypt "$TMP/a1.log" | tail -n 1 | sed 's/^.*nats.conf: //')
	log "encrypt=yes refused: ${SEALED_WHY:-no key from evcast keygen}"
fi
MODES+=" legacy asap"
: >"$TMP/a1.log"

# up MODE: the three daemons in that mode (restarted), gateways linked to NATS
up() {
	local id role
	for id in a1 b1 b2; do [[ -n ${DPID[$id]:-} ]] && stop "$id"; done
	conf a1 $G1 $P1 gateway "$1"
	conf b1 $G2 $P2 gateway "$1"
	conf b2 $G2 $P2 none "$1"
	for id in b2 b1 a1; do start "$id" || die "evcastd $id did not start: $(tail -n 5 "$TMP/$id.log")"; done
	for id in a1 b1; do
		for _ in $(seq 100); do linked "$id" && break; sleep 0.1; done
		linked "$id" || die "$id not connected to NATS: $(tail -n 5 "$TMP/$id.log")"
	done
}

# ------------------------------------------------------------- cases
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
# snap: per-stage counters in path order, and the CPU ticks (user + system,
# every thread) of the three daemons and nats-server so far
TICK_US=$((1000000 / $(getconf CLK_TCK)))
# cpu NAME PID: NAME_cpu (every thread, user + system), NAME_sys (every thread,
# system) and NAME_main (the main thread: evcastd's event loop), in ticks
cpu() {
	local t m
	t=$(awk '{print $14 + $15, $15}' "/proc/$2/stat" 2>/dev/null || echo "0 0")
	m=$(awk '{print $14 + $15}' "/proc/$2/task/$2/stat" 2>/dev/null || echo 0)
	echo "$1_cpu=${t% *} $1_sys=${t#* } $1_main=$m"
}
# stats_of ID JQ-STRING DEFAULT: one `evcast stats` of ID, formatted (DEFAULT when it fails)
stats_of() { local o; o=$("$EVCAST" -s "$TMP/$1.sock" stats 2>/dev/null | jq -r "$2" 2>/dev/null || true); echo "${o:-$3}"; }
# b1_dg: datagrams b1 sent (v2: one per batch; legacy: one per event), b1_txev the events in them
snap() {
	echo "$(stats_of a1 '"a1_in=\(.rx_events // 0) a1_pub=\(.nats.published // 0) a1_puberr=\(.nats.publish_errors // 0)"' \
		"a1_in=0 a1_pub=0 a1_puberr=0")" \
		"$(stats_of b1 '"b1_recv=\(.nats.received // 0) b1_ovf=\(.nats.rx_overflow // 0) b1_relay=\(.nats.gateway_in // 0) b1_rej=\(.nats.rejected // 0) b1_txev=\((.v2_tx_events // 0) + (.tx_events // 0)) b1_dg=\((.v2_tx_datagrams // 0) + (.tx_events // 0)) b1_wk=\(.nats.rx_wakeups // 0)"' \
		"b1_recv=0 b1_ovf=0 b1_relay=0 b1_rej=0 b1_txev=0 b1_dg=0 b1_wk=0")" \
		"b2_rx=$(stat_of b2 .rx_events) $(cpu a1 "${DPID[a1]:-0}") $(cpu b1 "${DPID[b1]:-0}") $(cpu b2 "${DPID[b2]:-0}")" \
		"$(cpu ns "$NATS_PID")"
}
STAGES="a1_in a1_pub a1_puberr b1_recv b1_ovf b1_relay b1_rej b1_txev b1_dg b1_wk b2_rx a1_cpu a1_sys a1_main b1_cpu b1_sys b1_main"
STAGES+=" b2_cpu b2_sys b2_main ns_cpu ns_sys ns_main"
stages() { # stages BEFORE AFTER: the deltas
	local k out=""
	for k in $STAGES; do
		out+=" $k=$(($(field "$2" $k) - $(field "$1" $k)))"
	done
	echo "$out"
}
# args STEP: bench_util options of a step (paced: RATE for N/RATE s; max: N unpaced)
args() {
	if [[ $1 == max ]]; then echo "--count $N"; else
		echo "--rate $1 --duration $(awk -v n="$N" -v r="$1" 'BEGIN {d = n / r; if (d > 60) d = 60; printf "%g", d}')"
	fi
}
declare -A RES=() CMD=()
# run KEY CMD...: one run; its RESULT line (plus stage deltas for evcast) appended to RES[KEY]
run() {
	local key=$1 line before after
	shift
	before=$(snap)
	if ! timeout 150 "$@" >"$TMP/out" 2>"$TMP/err"; then
		log "$key FAILED: $(tail -n 3 "$TMP/err")"
		return 0
	fi
	line="$(sed -n 's/^RESULT //p' "$TMP/out") got=$(sed -n 's|^  receiver 0: \([0-9]*\)/.*|\1|p' "$TMP/out")"
	sleep 0.3 # counters settle (b2 has delivered what its client counted)
	after=$(snap)
	line+=$(stages "$before" "$after")
	RES[$key]+="$line"$'\n'
	log "$key: $line"
}
evc_run() { # evc_run KEY OPTS...
	local key=$1
	shift
	CMD[$key]="ip netns exec A1 \$B/bench_fanout --socket B2SOCK --group $G1 --port $P1 --ifaddr $ADDR_A1 --size $SIZE $*"
	# shellcheck disable=SC2086
	run "$key" ip netns exec "$PREFIX-a1" "$FANOUT" --socket "$TMP/b2.sock" --group $G1 --port $P1 --ifaddr "$ADDR_A1" \
		--size "$SIZE" --label sites "$@"
}
nats_run() { # nats_run KEY OPTS...
	local key=$1
	shift
	CMD[$key]="BENCH_SUB_NETNS=B2 ip netns exec A1 \$B/bench_nats --url nats://NATS:4222 --size $NSIZE $*"
	run "$key" env BENCH_SUB_NETNS="$PREFIX-b2" ip netns exec "$PREFIX-a1" "$NATSB" --url "$URL" \
		--size "$NSIZE" --label natsdirect "$@"
}

# warm MODE: a warm-up run; sets NSIZE_<mode>, the size of what a1 publishes
# (/varz in_bytes / in_msgs over the run)
declare -A NSZ=()
warm() {
	local v0 v1
	v0=$(varz)
	evc_run "warm$1" --rate 2000 --duration 1
	v1=$(varz)
	NSZ[$1]=$(jq -n --argjson a "$v0" --argjson b "$v1" \
		'if ($b.in_msgs - $a.in_msgs) > 0 then (($b.in_bytes - $a.in_bytes) / ($b.in_msgs - $a.in_msgs) | round) else 0 end')
	[[ ${NSZ[$1]} -ge 64 ]] || die "$1: a1 published nothing to NATS during the warm-up: $(tail -n 5 "$TMP/a1.log")"
	log "$1: a1 publishes ${NSZ[$1]}-byte NATS messages"
}

# perf (when installed) samples b1 during the last round's highest plain step:
# the share of its time under sendmsg/sendmmsg (the multicast relay) and in futex.
declare -A PERF_SEND=() PERF_FUTEX=()
perf_b1() { # perf_b1 start | stop KEY-LETTER
	if [[ $1 == start ]]; then
		command -v perf >/dev/null || return 0
		perf record -q -g -p "${DPID[b1]}" -o "$TMP/perf.data" >/dev/null 2>&1 &
		PERF_PID=$!
		sleep 0.5
	elif [[ -n $PERF_PID ]]; then
		kill -INT "$PERF_PID" 2>/dev/null
		wait "$PERF_PID" 2>/dev/null || true
		PERF_PID=""
		perf report -i "$TMP/perf.data" --children --sort sym --stdio -g none >"$TMP/perf.txt" 2>/dev/null || true
		# the kernel's entries, sendmsg and sendmmsg (udp.c batches a loop turn's datagrams)
		PERF_SEND[$2]=$(awk '$NF == "__x64_sys_sendmsg" || $NF == "__x64_sys_sendmmsg" {s += $1; n++}
			END {if (n) printf "%.2f%%", s}' "$TMP/perf.txt")
		PERF_FUTEX[$2]=$(awk '$NF == "__x64_sys_futex" {print $1; exit}' "$TMP/perf.txt")
		log "perf on b1 ($2): sendmsg ${PERF_SEND[$2]:-?}, futex ${PERF_FUTEX[$2]:-?}"
	fi
}
LAST_STEP=${RATES##* }
mk() { case $1 in plain) echo p ;; sealed) echo s ;; legacy) echo l ;; *) echo a ;; esac; } # key letter of a mode
if [[ ${CG_ONLY:-0} == 1 ]]; then # only the callgrind runs below (they need the NATS payload size)
	REPEAT=0
	up plain
	warm plain
fi
for ((round = 1; round <= REPEAT; round++)); do
	for mode in $MODES; do
		up "$mode"
		[[ $round -eq 1 ]] && warm "$mode"
		[[ $round -eq 1 && $mode == plain ]] && DGRAM=$(sed -n 's/.*sender: \([0-9]*\)-byte datagrams.*/\1/p' "$TMP/out")
		NSIZE=${NSZ[plain]}
		m=$(mk "$mode")
		for step in $RATES; do
			[[ $mode == asap && $step != max ]] && continue # the unpaced step and latency only
			perf=0
			[[ $round -eq $REPEAT && $step == "$LAST_STEP" && $mode != sealed ]] && perf=1
			[[ $perf -eq 1 ]] && perf_b1 start
			# shellcheck disable=SC2046
			evc_run "evc$m$step" $(args "$step")
			[[ $perf -eq 1 ]] && perf_b1 stop "$m"
			# shellcheck disable=SC2046
			[[ $mode == plain ]] && nats_run "nat$step" $(args "$step")
		done
		evc_run "evc${m}lat" --rate "$LAT_RATE" --duration "$LAT_S"
		[[ $mode == plain ]] && nats_run natlat --rate "$LAT_RATE" --duration "$LAT_S"
		for id in a1 b1 b2; do kill -0 "${DPID[$id]}" 2>/dev/null || die "evcastd $id died ($mode): $(tail -n 5 "$TMP/$id.log")"; done
	done
done

# ------------------------------------------------------------- callgrind
# Instructions per event in the two gateways' event loops (deterministic, unlike
# the CPU times above): a1 restarted under callgrind collecting inside node.c's
# on_datagram (decode, multicast::event, dispatch, nats.c's publish and, sealed,
# the seal), b1 inside nats.c's on_async (open, evcast_node_input_text,
# evcast_node_relay_text: parse, deliver, re-encode, send); CG_N events at 200/s
# (valgrind slows the daemons ~50x), per mode.
CG_N=${CG_N:-1000}
CG_KEEP=${CG_KEEP:-}
declare -A CGA=() CGB=()
cgir() { sed -n 's/^\(summary\|totals\): //p' "$1" 2>/dev/null | head -n 1; }
for mode in $MODES; do
	CGA[$mode]="-" CGB[$mode]="-"
	[[ $mode == asap ]] && continue
	command -v valgrind >/dev/null || { log "valgrind missing: no instruction counts"; break; }
	up "$mode"
	stop a1
	stop b1
	start b1 valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.b1.$mode" --toggle-collect=on_async &&
		start a1 valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.a1.$mode" --toggle-collect=on_datagram ||
		die "evcastd under valgrind did not start: $(tail -n 5 "$TMP/a1.log" "$TMP/b1.log")"
	for id in a1 b1; do
		for _ in $(seq 300); do linked "$id" && break; sleep 0.1; done
	done
	c0=$(snap)
	evc_run "cg$mode" --rate 200 --duration $((CG_N / 200))
	c1=$(snap)
	stop a1
	stop b1
	d=$(stages "$c0" "$c1")
	CGA[$mode]=$(awk -v ir="$(cgir "$TMP/cg.a1.$mode")" -v n="$(field "$d" a1_in)" 'BEGIN {if (ir > 0 && n > 0) printf "%.0f", ir / n; else print "-"}')
	CGB[$mode]=$(awk -v ir="$(cgir "$TMP/cg.b1.$mode")" -v n="$(field "$d" b1_recv)" 'BEGIN {if (ir > 0 && n > 0) printf "%.0f", ir / n; else print "-"}')
	log "callgrind $mode: a1 ${CGA[$mode]}, b1 ${CGB[$mode]} instructions per event ($d)"
	[[ -n $CG_KEEP ]] && cp "$TMP/cg.a1.$mode" "$TMP/cg.b1.$mode" "$CG_KEEP/"
done
if [[ ${CG_ONLY:-0} == 1 ]]; then
	log "CG_ONLY: no section written; callgrind outputs ${CG_KEEP:+kept in $CG_KEEP}"
	exit 0
fi

# ------------------------------------------------------------- report
vals() { while read -r l; do [[ -z "$l" ]] || field "$l" "$2"; done <<<"${RES[$1]:-}"; }
med() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
rng() { sort -g | awk -v f="${1:-%s}" 'NR == 1 {lo = $1} {hi = $1} END {if (NR > 1) printf " (" f "–" f ")", lo, hi}'; }
mf() { vals "$1" "$2" | med; }
runs() { vals "$1" rate_avg | wc -l; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f×", a / b}'; }
# per run: events/s delivered in thousands (a receiver's rate over its first..last arrival)
cell_rate() {
	local k=$1
	[[ $(runs "$k") -gt 0 ]] || { echo "failed"; return; }
	echo "$(awk -v a="$(mf "$k" rate_avg)" 'BEGIN {printf "%.1f k", a / 1000}')$(vals "$k" rate_avg | awk '{printf "%.1f\n", $1 / 1000}' | rng %s)"
}
cell_loss() { [[ $(runs "$1") -gt 0 ]] || { echo "-"; return; }; echo "$(mf "$1" loss_pct) %$(vals "$1" loss_pct | rng %s)"; }
cell_lat() { local a; a=$(mf "$1" p50_us); [[ $a == - ]] && echo "— (unpaced)" || echo "$a / $(mf "$1" p99_us) µs"; }
# where an evcast step lost events, summed over its rounds, stage by stage
where_lost() {
	local l sent got ing=0 pub=0 q=0 rej=0 g2=0 esl=0 out=""
	while read -r l; do
		[[ -z "$l" ]] && continue
		sent=$(field "$l" sent); got=$(field "$l" got)
		ing=$((ing + sent - $(field "$l" a1_in)))
		pub=$((pub + $(field "$l" a1_in) - $(field "$l" b1_recv)))
		q=$((q + $(field "$l" b1_ovf)))
		rej=$((rej + $(field "$l" b1_rej)))
		g2=$((g2 + $(field "$l" b1_relay) - $(field "$l" b2_rx)))
		esl=$((esl + $(field "$l" b2_rx) - got))
	done <<<"${RES[$1]:-}"
	[[ $ing -ne 0 ]] && out+="a1 ingress $ing, "
	[[ $pub -ne 0 ]] && out+="a1 → NATS → b1 $pub, "
	[[ $q -ne 0 ]] && out+="b1's NATS queue $q, "
	[[ $rej -ne 0 ]] && out+="b1 rejected $rej, "
	[[ $g2 -ne 0 ]] && out+="G2 hop $g2, "
	[[ $esl -ne 0 ]] && out+="b2 → client $esl, "
	[[ -n $out ]] && echo "${out%, }" || echo "none"
}
# cpu_per KEY WHO PER: CPU µs of WHO (a1_cpu...) per event counted by PER, median (min–max) over rounds
cpu_per() {
	local l v=""
	while read -r l; do
		[[ -z "$l" ]] && continue
		v+="$(awk -v c="$(field "$l" "$2")" -v n="$(field "$l" "$3")" -v t="$TICK_US" 'BEGIN {if (n > 0) printf "%.1f", c * t / n}')"$'\n'
	done <<<"${RES[$1]:-}"
	v=$(grep . <<<"$v" || true)
	[[ -n $v ]] || { echo "-"; return; }
	echo "$(med <<<"$v") µs$(rng %s <<<"$v")"
}
step_label() { if [[ $1 == max ]]; then echo "unpaced, $N"; else echo "$1/s × $(args "$1" | awk '{print $4}') s"; fi; }
MAXS=max
[[ " $RATES " == *" max "* ]] || MAXS=${RATES##* }
MAXK=evcp$MAXS MAXSK=evcs$MAXS MAXLK=evcl$MAXS MAXN=nat$MAXS
SEALED=0
[[ $MODES == *sealed* ]] && SEALED=1
OASAP=$([[ $ASAP == yes ]] && echo no || echo yes)
mlabel() {
	case $1 in
	p) echo "evcast, site v2, encrypt=no" ;;
	s) echo "evcast, site v2, encrypt=yes (sealed)" ;;
	l) echo "evcast, site legacy, encrypt=no (before)" ;;
	a) echo "evcast, site v2, encrypt=no, send-asap=$OASAP" ;;
	esac
}
# epd KEY: events per datagram b1 relayed into site 2's group, median over the rounds
epd() {
	local l v=""
	while read -r l; do
		[[ -z "$l" ]] && continue
		v+="$(awk -v e="$(field "$l" b1_txev)" -v g="$(field "$l" b1_dg)" 'BEGIN {if (g > 0) printf "%.1f", e / g}')"$'\n'
	done <<<"${RES[$1]:-}"
	v=$(grep . <<<"$v" || true)
	[[ -n $v ]] && med <<<"$v" || echo "-"
}

{
	echo "<!-- nats_sites:begin -->"
	echo "## Two sites through NATS (bench/bench_nats_sites.sh)"
	echo
	echo "*Written by \`bench/bench_nats_sites.sh\` on $(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) cores, load average"
	echo "$(cut -d' ' -f1-3 /proc/loadavg) at the end; median of $REPEAT rounds, (min–max) over the rounds; in each round"
	echo "evcast and the baseline alternate step by step; nats-server ${NATS_VER:-?}, libnats $(pkg-config --modversion libnats 2>/dev/null || echo '?').*"
	echo "Command (as root): \`N=$N RATES=\"$RATES\" REPEAT=$REPEAT LAT_RATE=$LAT_RATE LAT_S=$LAT_S SIZE=$SIZE bench/bench_nats_sites.sh $(basename "$BUILD")\`"
	echo "($(basename "$BUILD") configured with \`-DEVCAST_BENCH=ON\`; \`make bench\` runs it; \`QUICK=1 make bench\` with N=10000, one round)."
	echo
	echo "Four namespaces on one veth bridge: \`nats\` (one nats-server), site 1 = \`a1\` (evcastd gateway,"
	echo "group $G1), site 2 = \`b1\` (evcastd gateway) and \`b2\` (evcastd, multicast only, group $G2)."
	echo "**evcast**: \`bench_fanout\` in a1's namespace multicasts legacy datagrams ($DGRAM bytes: CUSTOM"
	echo "bench::load, ~$SIZE bytes of event text) to $G1 as a site-1 switch would → evcastd a1 publishes"
	echo "each to \`evcast.bench.CUSTOM.bench.load\` → evcastd b1 → multicast $G2 (\`protocol v2\`, \`v2-compress $COMPRESS\` on every"
	echo "node, the recommended site configuration; \`protocol legacy\` in the \`site legacy\` rows) → evcastd b2 → one"
	echo "event-socket client on b2's control socket (\`event plain ALL\`) that counts arrivals and takes the"
	echo "latency from a monotonic timestamp header set just before the datagram was sent (one machine,"
	echo "one clock). NATS messages: ${NSZ[plain]} bytes with \`encrypt=no\` (\`EVN1\` + event text)$([[ $SEALED -eq 1 ]] && echo ", ${NSZ[sealed]} bytes with
\`encrypt=yes\` (\`EVS1\`, sealed with the gateways' \`v2-keys\`, docs/PROTOCOL.md 13)")."
	echo "**Baseline**: \`bench_nats\` with its publisher in a1's namespace and its subscriber in b2's, same"
	echo "server, ${NSZ[plain]}-byte payload. Every step sends $N events (paced: RATE/s for N/RATE s)."
	echo "Delivered = the receiver's rate over its first..last arrival; lost = what never arrived;"
	echo "\"where\" sums, over the rounds, the daemons' counters along the path (\`evcast stats\`)."
	echo
	echo "| offered | path | delivered/s | lost | p50 / p99 | where evcast lost | b1 events/datagram | / NATS direct |"
	echo "|---|---|---|---|---|---|---|---|"
	for step in $RATES; do
		for m in p a s l; do
			[[ $m == s && $SEALED -eq 0 ]] && continue
			[[ $m == a && $step != max ]] && continue
			printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(step_label "$step")" "$(mlabel $m)" \
				"$(cell_rate "evc$m$step")" "$(cell_loss "evc$m$step")" "$(cell_lat "evc$m$step")" \
				"$(where_lost "evc$m$step")" "$(epd "evc$m$step")" "$(ratio "$(mf "evc$m$step" rate_avg)" "$(mf "nat$step" rate_avg)")"
		done
		printf '| %s | %s | %s | %s | %s | — | — | — |\n' "$(step_label "$step")" "NATS direct (baseline)" \
			"$(cell_rate "nat$step")" "$(cell_loss "nat$step")" "$(cell_lat "nat$step")"
	done
	echo
	echo "Latency at a moderate rate ($LAT_RATE events/s for $LAT_S s, one-way, µs; median (min–max) over the rounds;"
	echo "p99 swings by an order of magnitude from round to round on this shared machine, p50 is the stable figure):"
	echo
	echo "| path | p50 | p90 | p99 | max | lost | / NATS p50 |"
	echo "|---|---|---|---|---|---|---|"
	for k in evcplat evcalat evcslat evcllat natlat; do
		case $k in
		evcplat) lbl="$(mlabel p), send-asap=$ASAP, site 1 → NATS → site 2 node" ;;
		evcalat) lbl="$(mlabel a), site 1 → NATS → site 2 node" ;;
		evcllat) lbl="$(mlabel l), send-asap=no, site 1 → NATS → site 2 node" ;;
		evcslat) [[ $SEALED -eq 1 ]] || continue; lbl="$(mlabel s), send-asap=$ASAP, site 1 → NATS → site 2 node" ;;
		natlat) lbl="NATS core direct (baseline)" ;;
		esac
		printf '| %s | %s%s | %s | %s%s | %s | %s | %s |\n' "$lbl" "$(mf $k p50_us)" "$(vals $k p50_us | rng)" \
			"$(mf $k p90_us)" "$(mf $k p99_us)" "$(vals $k p99_us | rng)" "$(mf $k max_us)" "$(cell_loss $k)" \
			"$(ratio "$(mf $k p50_us)" "$(mf natlat p50_us)")"
	done
	echo
	echo "CPU per event in the $(step_label "$MAXS") step (user + system time of every thread, from /proc, over"
	echo "the events each process handled; median (min–max) over the rounds):"
	echo
	if [[ $SEALED -eq 1 ]]; then
		echo "| process | site v2, encrypt=no: all threads | of which kernel | of which event-loop thread | site v2, encrypt=yes: all threads | site legacy, encrypt=no: all threads | of which kernel | NATS direct |"
		echo "|---|---|---|---|---|---|---|---|"
	else
		echo "| process | site v2, encrypt=no: all threads | of which kernel | of which event-loop thread | site legacy, encrypt=no: all threads | of which kernel | NATS direct |"
		echo "|---|---|---|---|---|---|---|"
	fi
	# cpurow LABEL WHO PER [NATS-CELL]
	cpurow() {
		local sealed=""
		[[ $SEALED -eq 1 ]] && sealed=" $(cpu_per "$MAXSK" "$2_cpu" "$3") |"
		echo "| $1 | $(cpu_per "$MAXK" "$2_cpu" "$3") | $(cpu_per "$MAXK" "$2_sys" "$3") | $([[ $2 == ns ]] && echo — || cpu_per "$MAXK" "$2_main" "$3") |$sealed $(cpu_per "$MAXLK" "$2_cpu" "$3") | $(cpu_per "$MAXLK" "$2_sys" "$3") | ${4:-—} |"
	}
	cpurow "evcastd a1 (multicast in, NATS publish)" a1 a1_in
	cpurow "nats-server" ns a1_pub "$(cpu_per "$MAXN" ns_cpu sent)"
	cpurow "evcastd b1 (NATS in, multicast relay)" b1 b1_recv
	cpurow "evcastd b2 (multicast in, event socket out)" b2 b2_rx
	echo
	echo "Instructions per event in the gateways' event loops (callgrind, $CG_N events at 200/s, a1 and b1"
	echo "restarted under valgrind; deterministic up to the events' varying sequence numbers; at 200/s every"
	echo "event travels alone, so this is the per-event cost without batching): a1 from datagram to NATS publish"
	echo "(\`on_datagram\`: decode, \`multicast::event\`, dispatch, write the original from its \`Orig-\` headers, seal when"
	echo "sealed, \`natsConnection_Publish\`); b1 from NATS message to relayed datagram (nats.c's \`on_async\`:"
	echo "open, one parse for delivery and relay, v2 batch or legacy datagram, sendmsg):"
	echo
	echo "| configuration | a1 | b1 |"
	echo "|---|---|---|"
	echo "| site v2, encrypt=no | ${CGA[plain]:--} | ${CGB[plain]:--} |"
	[[ $SEALED -eq 1 ]] && echo "| site v2, encrypt=yes (NATS payload sealed, site 2's v2 datagrams sealed too) | ${CGA[sealed]:--} | ${CGB[sealed]:--} |"
	echo "| site legacy, encrypt=no | ${CGA[legacy]:--} | ${CGB[legacy]:--} |"
	echo
	echo "Command: \`valgrind --tool=callgrind --toggle-collect=on_datagram evcastd ...\` (a1),"
	echo "\`--toggle-collect=on_async\` (b1); instructions collected / events counted by \`evcast stats\`"
	echo "(\`CG_ONLY=1 CG_KEEP=DIR bench/bench_nats_sites.sh\` keeps the outputs for \`callgrind_annotate\`)."
	echo "History (a1, site v2, encrypt=no): 9461 on 2026-11-27 before nats.c wrote the original event"
	echo "straight from the \`Orig-\` headers into its send buffer (it rebuilt the event: a new event, 4 headers"
	echo "and the body copied, then written); about 7.5 k since. a1's CPU per event hardly moved (6.1 -> 6.0 µs"
	echo "unpaced): about 4.8 µs of it is the kernel (recvmmsg, and a write per publish with send-asap=yes)."
	echo
	echo "Commands: \`${CMD[$MAXK]:-}\` (evcast; paced steps: \`--rate R --duration S\` instead of"
	echo "\`--count\`) and \`${CMD[$MAXN]:-}\` (baseline). A1/B2 are the namespaces, NATS the server's"
	echo "address, B2SOCK b2's control socket, \`\$B\` the bench build's \`bench/\`."
	echo
	cpu1() { cpu_per "$@" | sed 's/ (.*//'; }
	k1() { awk -v a="$1" 'BEGIN {if (a == "-" || a == "") print "-"; else printf "%.1f k", a / 1000}'; }
	# per wakeup: NATS messages b1's loop took from its queue per uv_async callback
	perwk() {
		local l v=""
		while read -r l; do
			[[ -z "$l" ]] && continue
			v+="$(awk -v e="$(field "$l" b1_recv)" -v w="$(field "$l" b1_wk)" 'BEGIN {if (w > 0) printf "%.1f", e / w}')"$'\n'
		done <<<"${RES[$1]:-}"
		v=$(grep . <<<"$v" || true)
		[[ -n $v ]] && med <<<"$v" || echo "-"
	}
	top=$(tr ' ' '\n' <<<"$RATES" | { grep -v '^max$' || true; } | sort -g | tail -n 1)
	echo "**Site format.** Site 2 runs the configuration recommended for new sites: \`protocol v2\` with"
	echo "\`v2-compress $COMPRESS\` on every node (README, docs/PROTOCOL.md 6 and 6.1; docs/MULTISITE.md). b1's loop takes"
	echo "every NATS message queued since its last wakeup in one \`uv_async\` callback ($(perwk "$MAXK") messages per"
	echo "wakeup unpaced), relays them into one v2 batch flushed when that loop turn ends: $(epd "$MAXK") events per datagram unpaced,"
	echo "$([[ -n $top ]] && epd "evcp$top" || echo -) at $top/s, against one legacy datagram per event in the \`site legacy\` rows (the configuration"
	echo "before: legacy format, \`send-asap=no\`). b1 then costs $(cpu1 "$MAXK" b1_cpu b1_recv) of CPU per event unpaced ($(cpu1 "$MAXK" b1_sys b1_recv) in the kernel)"
	echo "against $(cpu1 "$MAXLK" b1_cpu b1_recv) ($(cpu1 "$MAXLK" b1_sys b1_recv)) with the legacy format$([[ -n ${PERF_SEND[p]:-} ]] && echo "; \`perf record -g -p B1PID\` over the last unpaced run"
	[[ -n ${PERF_SEND[p]:-} ]] && echo "puts ${PERF_SEND[p]} of b1's samples under \`sendmsg\`/\`sendmmsg\` (legacy: ${PERF_SEND[l]:-?}) and ${PERF_FUTEX[p]:-?} in futex (legacy: ${PERF_FUTEX[l]:-?})")."
	echo
	# What bounds the figures, with this run's numbers.
	held="-"
	for step in $RATES; do
		[[ $step == max ]] && continue
		awk -v l="$(mf "evcp$step" loss_pct)" 'BEGIN {exit !(l != "-" && l + 0 == 0)}' || break
		held=$step
	done
	lost_at=""
	for step in $RATES; do lost_at+="$(where_lost "evcp$step")"$'\n'$(where_lost "evcs$step")$'\n'; done
	lost_at=$( (grep -v '^none$' <<<"$lost_at" || true) | sed 's/ [0-9-]*\(,\|$\)/\1/g' | tr ',' '\n' | sed 's/^ *//' | grep . | sort -u |
		sed "s/^a1 ingress$/a1's UDP receive buffer (a1 descheduled; multicast has no flow control)/;
			s/^b1's NATS queue$/b1's NATS receive queue (4096 messages, \`nats.rx_overflow\`)/;
			s/^G2 hop$/the G2 hop (b2's UDP receive buffer, when b1 relays a backlog in one burst)/;
			s/^b1 rejected$/b1's checks (\`nats.rejected\`)/" |
		paste -sd'|' - | sed 's/|/; /g' || true)
	echo "**What bounds the figures.** In the median round the site-v2 path delivers every event at the offered rate up to"
	echo "$([[ $held == - ]] && echo "none of the paced steps" || echo "$held/s") and unpaced $(k1 "$(mf "$MAXK" rate_avg)")/s, $(ratio "$(mf "$MAXK" rate_avg)" "$(mf "$MAXN" rate_avg)") of direct NATS (legacy site format:"
	echo "$(k1 "$(mf "$MAXLK" rate_avg)")/s, $(ratio "$(mf "$MAXLK" rate_avg)" "$(mf "$MAXN" rate_avg)")). That ratio compares different senders: unpaced, \`bench_fanout\` multicasts its legacy"
	echo "datagrams into site 1 at only $(k1 "$(mf "$MAXK" send_rate)")/s (median send rate; one \`sendmsg\` per 1283-byte datagram, on 2 cores shared"
	echo "with everything else), and a1 has to take each from its socket, decode it and publish it ($(cpu1 "$MAXK" a1_cpu a1_in) per event), while"
	echo "\`bench_nats\` writes 1000-byte messages into one buffered TCP stream. So the unpaced evcast figure is bound by the"
	echo "site-1 side (the sender and a1's ingress, where the plaintext losses are), no longer by b1: b1 now batches, and"
	echo "nats-server costs $(cpu1 "$MAXK" ns_cpu a1_pub) per message. Of b1's $(cpu1 "$MAXK" b1_cpu b1_recv) per event, $(cpu1 "$MAXK" b1_main b1_recv) are its event loop"
	echo "(${CGB[plain]:--} instructions unbatched: parse, the local \`multicast::event\`, re-encoding); the rest is libnats's"
	echo "threads (socket reads, protocol parsing, the hand-off from its reader thread to the subscription's delivery"
	echo "thread — the futex share above), which evcast does not control."
	if [[ -z $lost_at ]]; then
		echo "No step lost an event."
	else
		if grep -q "NATS → b1\|G2 hop\|b2 → client" <<<"$lost_at"; then
			echo "Events were lost at: ${lost_at}."
		else
			echo "Events were lost only at: ${lost_at} — never inside NATS or on the multicast hops."
		fi
	fi
	echo
	echo "**Latency and \`send-asap\`.** libnats's flusher thread waits up to 1 ms after a publish for more to"
	echo "batch into one write; nats.conf \`send-asap\` (default \`yes\` since these figures) makes a1 write each publish"
	echo "at once (\`natsOptions_SetSendAsap\`). At $LAT_RATE/s: p50 $(mf evcplat p50_us) µs / p99 $(mf evcplat p99_us) µs with send-asap=$ASAP against"
	echo "$(mf evcalat p50_us) / $(mf evcalat p99_us) µs with send-asap=$OASAP (legacy site format, send-asap=no: $(mf evcllat p50_us) / $(mf evcllat p99_us) µs); direct NATS, whose"
	echo "\`bench_nats\` keeps libnats's default flusher, $(mf natlat p50_us) / $(mf natlat p99_us) µs. The cost of send-asap is a \`write\` per event in"
	echo "a1's loop and more, smaller reads for nats-server: unpaced, send-asap=$ASAP delivered $(k1 "$(mf "$MAXK" rate_avg)")/s (a1 $(cpu1 "$MAXK" a1_cpu a1_in),"
	echo "nats-server $(cpu1 "$MAXK" ns_cpu a1_pub) per event) and send-asap=$OASAP $(k1 "$(mf "evca$MAXS" rate_avg)")/s (a1 $(cpu1 "evca$MAXS" a1_cpu a1_in), nats-server $(cpu1 "evca$MAXS" ns_cpu a1_pub))."
	tp50=$([[ -n $top ]] && mf "evcp$top" p50_us || echo -)
	echo "Near saturation ($top/s) events queue: the site-v2 p50 is $tp50 µs (site legacy: $([[ -n $top ]] && mf "evcl$top" p50_us || echo -) µs)."
	echo
	if [[ $SEALED -eq 1 ]]; then
		echo "Sealing (\`encrypt=yes\`, with \`v2-keys\` on every node) opens XChaCha20-Poly1305 on b1 and seals on a1, and"
		echo "site 2's v2 datagrams are sealed as well ($(awk -v s="${CGA[sealed]}" -v p="${CGA[plain]}" 'BEGIN {if (s == "-" || p == "-") print "?"; else printf "%+d", s - p}') instructions per event on a1,"
		echo "$(awk -v s="${CGB[sealed]}" -v p="${CGB[plain]}" 'BEGIN {if (s == "-" || p == "-") print "?"; else printf "%+d", s - p}') on b1 unbatched: the NATS open and the seal of b1's datagram, which batching shares under load;"
		echo "the replay-window key is now formatted by hand, not by 17 \`snprintf\` calls) and $((NSZ[sealed] - NSZ[plain])) bytes per NATS message:"
		echo "unpaced $(k1 "$(mf "$MAXSK" rate_avg)")/s against $(k1 "$(mf "$MAXK" rate_avg)")/s plaintext ($(ratio "$(mf "$MAXSK" rate_avg)" "$(mf "$MAXK" rate_avg)")),"
		echo "p50 $(mf evcslat p50_us) µs against $(mf evcplat p50_us) µs."
		sa1=$(while read -r l; do [[ -z $l ]] || echo $(($(field "$l" sent) - $(field "$l" a1_in))); done <<<"${RES[$MAXSK]:-}" |
			awk '{s += $1} END {print s + 0}')
		[[ $sa1 -gt 0 ]] && echo "Sealed, the bottleneck is a1, which seals and writes every event ($(cpu1 "$MAXSK" a1_cpu a1_in) per event): $sa1 datagrams overflowed its receive buffer over the rounds unpaced."
	else
		echo "Only \`encrypt=no\` (the default, plaintext frames) is measured: this build refuses \`encrypt=yes\`"
		echo "at start (\"${SEALED_WHY:-not implemented}\"), so there is no sealed row."
	fi
	echo
	echo "**Before** (the first run of this bench, 2026-11-27 16:04 UTC, same command on build-nbench: legacy site format,"
	echo "libnats's flusher, two parses per relayed event, the replay key by \`snprintf\`): unpaced 37.2 k/s (36.3–45.0), 0.10× of direct"
	echo "NATS, 30 % lost (b1's NATS queue, a1 ingress); b1 13.4 µs of CPU per event (11.2 µs kernel), 63 % of its samples under"
	echo "\`sendmsg\`, 8 % in futex; p50 / p99 at 1000/s 655.7 / 1784.8 µs against direct NATS 300.7 / 1643.5 µs; b1 13559"
	echo "instructions per event plain, 40468 sealed."
	echo "<!-- nats_sites:end -->"
} >"$TMP/section.md"
cat "$TMP/section.md"
if [[ "$OUT" != /dev/null ]]; then
	if [[ -f "$OUT" ]] && grep -q '<!-- nats_sites:begin -->' "$OUT"; then
		awk -v f="$TMP/section.md" '
			/<!-- nats_sites:begin -->/ {while ((getline l < f) > 0) print l; skip = 1; next}
			/<!-- nats_sites:end -->/ {skip = 0; next}
			!skip {print}' "$OUT" >"$TMP/out.md"
		cat "$TMP/out.md" >"$OUT"
	else
		{ [[ -f "$OUT" ]] && echo; cat "$TMP/section.md"; } >>"$OUT"
	fi
	log "wrote the section into $OUT"
fi
