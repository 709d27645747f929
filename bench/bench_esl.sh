#!/usr/bin/env bash
# bench_esl.sh -- runs bench/bench_esl.c (event-socket fan-out) against a real
# evcastd and writes its section of docs/PERFORMANCE.md (between the markers
# <!-- bench_esl:begin --> and <!-- bench_esl:end -->, appended when absent;
# nothing else in the file is touched).
#
# Contract: everything runs inside one private namespace with only lo
# (evcbenchesl<pid>-lo, deleted on exit with the daemon started here); every
# case is bounded (COUNT events, bench_esl's --timeout). Cases: 1 and 10
# `event json ALL` subscribers, REPEAT rounds interleaved, median reported,
# with the daemon's CPU per delivered event (/proc/PID/stat utime+stime).
# Usage: bench/bench_esl.sh [BUILD_DIR]   (default build; needs BUILD/evcastd)
#        env: COUNT (events published per case, 200000) REPEAT (3) BODY (256)
#             OUT (docs/PERFORMANCE.md; OUT=/dev/null to only print)
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
[[ "$BUILD" = /* ]] || BUILD="$SRC/$BUILD"
COUNT=${COUNT:-200000}
REPEAT=${REPEAT:-3}
BODY=${BODY:-256}
OUT=${OUT:-$SRC/docs/PERFORMANCE.md}
die() { echo "bench_esl: $*" >&2; exit 1; }
[[ "$(id -u)" -eq 0 ]] || die "needs root (it creates a private network namespace)"
[[ -x "$BUILD/evcastd" ]] || die "$BUILD/evcastd missing (build first)"

# shellcheck source=../scripts/netns.sh
source "$SRC/scripts/netns.sh"
PREFIX="evcbenchesl$$"
NS="$PREFIX-lo"
TMP=$(mktemp -d /tmp/evcast-bench-esl.XXXXXX)
DPID=""
cleanup() {
	set +e
	[[ -n "$DPID" ]] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	evc_netns_del "$PREFIX"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "[bench_esl $(date +%H:%M:%S)] $*" >&2; }

BIN="$BUILD/bench/bench_esl"
if [[ ! -x "$BIN" ]]; then
	BIN="$TMP/bench_esl"
	${CC:-cc} -O2 -std=c11 -Wall -Wextra -Werror -o "$BIN" "$SRC/bench/bench_esl.c" || die "cannot build bench_esl"
fi

evc_netns_lo "$NS"
PASS="bench-$$"
cat >"$TMP/evcast.xml" <<XML
<evcast>
 <configuration name="event_multicast.conf"><settings>
  <param name="address" value="239.255.42.99"/><param name="port" value="4299"/>
  <param name="bindings" value=""/><param name="ttl" value="0"/><param name="loopback" value="no"/>
  <param name="multicast-interface" value="lo"/><param name="node-name" value="bench"/>
  <param name="control-socket" value="$TMP/evcastd.sock"/><param name="log-level" value="warning"/>
 </settings></configuration>
 <configuration name="event_socket.conf"><settings>
  <param name="listen-ip" value="127.0.0.1"/><param name="listen-port" value="8021"/>
  <param name="password" value="$PASS"/>
  <param name="queue-max-events" value="100000"/><param name="queue-max-bytes" value="134217728"/>
 </settings></configuration>
</evcast>
XML
ip netns exec "$NS" "$BUILD/evcastd" --config "$TMP/evcast.xml" --foreground >"$TMP/evcastd.log" 2>&1 &
DPID=$!
for _ in $(seq 50); do
	ip netns exec "$NS" bash -c 'exec 3<>/dev/tcp/127.0.0.1/8021' 2>/dev/null && break
	kill -0 "$DPID" 2>/dev/null || die "evcastd exited: $(cat "$TMP/evcastd.log")"
	sleep 0.1
done

field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
declare -A RES=()
for ((round = 1; round <= REPEAT; round++)); do
	for n in 1 10; do
		per=$((COUNT / n))
		line=$(ip netns exec "$NS" timeout 120 "$BIN" --port 8021 --password "$PASS" --pid "$DPID" \
			--subscribers $n --count $per --body "$BODY" --window 2048 --timeout 10) || die "bench_esl failed"
		log "round $round: $line"
		RES[$n]+="$line"$'\n'
	done
done
kill -0 "$DPID" 2>/dev/null || die "evcastd died during the run"

row() {
	local n=$1 lines=${RES[$1]} eps pub cpu lost
	eps=$(while read -r l; do [[ -z "$l" ]] || field "$l" events_per_s; done <<<"$lines" | median)
	pub=$(while read -r l; do [[ -z "$l" ]] || field "$l" published_per_s; done <<<"$lines" | median)
	cpu=$(while read -r l; do [[ -z "$l" ]] || field "$l" cpu_us_per_event; done <<<"$lines" | median)
	lost=$(while read -r l; do [[ -z "$l" ]] || field "$l" lost; done <<<"$lines" | awk '{s += $1} END {print s + 0}')
	printf '| %d × `event json ALL` | %.1f k/s | %.1f k/s | %.2f µs | %s | `bench_esl --subscribers %d --count %d --body %d --window 2048` |\n' \
		"$n" "$(awk -v a="$eps" 'BEGIN {print a / 1000}')" "$(awk -v a="$pub" 'BEGIN {print a / 1000}')" "$cpu" "$lost" "$n" \
		$((COUNT / n)) "$BODY"
}
{
	echo "<!-- bench_esl:begin -->"
	echo "## Event socket fan-out (bench/bench_esl.sh)"
	echo
	echo "*Written by \`bench/bench_esl.sh\` on $(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) cores, load average"
	echo "$(cut -d' ' -f1-3 /proc/loadavg) at the end; median of $REPEAT rounds.* One publisher connection pipelines"
	echo "\`sendevent CUSTOM\` (bench::esl, 3 headers, $BODY-byte body; ~0.9 KiB as JSON with the node's standard"
	echo "headers) with at most 2048 replies outstanding; each subscriber is its own TCP connection to"
	echo "127.0.0.1:8021 with \`event json ALL\`. \"delivered\" is the aggregate over the subscribers, from the first"
	echo "sendevent to the last event received; \"CPU / event\" is evcastd's utime+stime (/proc/PID/stat) divided by"
	echo "the events delivered. Goal: ≥ 100 k events/s aggregate. The bench's event_socket.conf raises each"
	echo "connection's queue to 100000 events / 128 MiB (defaults: \`queue-max-events\` 20000, \`queue-max-bytes\` 8 MiB), so a"
	echo "subscriber briefly behind the pipelined publisher loses nothing and \"lost\" stays a real failure."
	echo
	echo "| subscribers | delivered (aggregate) | published | evcastd CPU / delivered event | lost | command |"
	echo "|---|---|---|---|---|---|"
	row 1
	row 10
	echo "<!-- bench_esl:end -->"
} >"$TMP/section.md"
cat "$TMP/section.md"
if [[ "$OUT" != /dev/null ]]; then
	if [[ -f "$OUT" ]] && grep -q '<!-- bench_esl:begin -->' "$OUT"; then
		awk -v f="$TMP/section.md" '
			/<!-- bench_esl:begin -->/ {while ((getline l < f) > 0) print l; skip = 1; next}
			/<!-- bench_esl:end -->/ {skip = 0; next}
			!skip {print}' "$OUT" >"$TMP/out.md"
		cat "$TMP/out.md" >"$OUT"
	else
		{ [[ -f "$OUT" ]] && echo; cat "$TMP/section.md"; } >>"$OUT"
	fi
	log "wrote the section into $OUT"
fi
