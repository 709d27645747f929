#!/usr/bin/env bash
# bench_ab.sh -- two builds of evcastd compared on the same namespaces, runs
# interleaved (OLD, NEW, NEW, OLD, ...), so that a change is judged against
# the machine's drift rather than against a figure from another hour.
#
# Contract: namespaces A and B on a private bridge (scripts/netns.sh lan,
# prefix evcab<pid>), deleted on exit with every daemon started here; each
# run is bounded in count (COUNT events, or RATE x LAT_S) and time. Per run
# and build, one daemon pair (A sends, B receives, protocol MODE):
#   throughput: `evcast send --repeat COUNT` into A's control socket, the
#               rate the sender reports (sender ingress; B keeps up with it
#               in the v2 bench, bench_v2.sh);
#   latency:    RATE events/s for LAT_S s with a bench_sublat subscriber on
#               B: B's rx_delay percentiles (A fires -> B hands over, bucket
#               upper edges) and the subscriber's p50/p99.
# Prints one line per run and build, then the mean of each figure. Nothing
# is written to docs/: it is a tool for judging a change (quote its output
# in the commit), bench_v2.sh makes the published table.
# Usage: bench/bench_ab.sh OLD_BUILD NEW_BUILD   (each with evcastd, evcast
#        and, for latency, bench/bench_sublat: -DEVCAST_BENCH=ON)
#        env: MODE (v2plain | v2aead | legacy; v2plain) WHAT (both |
#             throughput | latency; both) ROUNDS (4) COUNT (200000)
#             RATE (1000) LAT_S (5)
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ $# -eq 2 ]] || { sed -n '2,24p' "$0" >&2; exit 2; }
OLD=$(cd "$1" && pwd)
NEW=$(cd "$2" && pwd)
MODE=${MODE:-v2plain}
WHAT=${WHAT:-both}
ROUNDS=${ROUNDS:-4}
COUNT=${COUNT:-200000}
RATE=${RATE:-1000}
LAT_S=${LAT_S:-5}
die() { echo "bench_ab: $*" >&2; exit 1; }
[[ "$(id -u)" -eq 0 ]] || die "needs root (it creates private network namespaces)"
for b in "$OLD" "$NEW"; do
	for f in evcastd evcast bench/bench_sublat; do
		[[ -x "$b/$f" ]] || die "$b/$f missing (cmake -DEVCAST_BENCH=ON, then build)"
	done
done
case $MODE in v2plain | v2aead | legacy) ;; *) die "MODE: v2plain, v2aead or legacy" ;; esac
# shellcheck source=../scripts/netns.sh
source "$SRC/scripts/netns.sh"
# shellcheck source=pair_conf.sh
source "$SRC/bench/pair_conf.sh"
PREFIX="evcab$$"
TMP=$(mktemp -d /tmp/evcast-bench-ab.XXXXXX)
PIDS=()
cleanup() {
	set +e
	[[ ${#PIDS[@]} -eq 0 ]] || { kill "${PIDS[@]}" 2>/dev/null; wait "${PIDS[@]}" 2>/dev/null; }
	evc_netns_del "$PREFIX"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
evc_netns_lan "$PREFIX" A B
KEY=$("$NEW/evcast" keygen --id 1)
BODY=$(head -c 560 /dev/zero | tr '\0' 'x') # ~1 KiB events, as bench_v2.sh

# start BUILD: daemons B then A from BUILD.
start() {
	local build=$1 id
	PIDS=()
	for id in B A; do
		pair_conf "$TMP/$id.xml" "$id" 239.255.77.5 4279 "$TMP/$id.sock" "$MODE" "$KEY"
		rm -f "$TMP/$id.sock"
		ip netns exec "$PREFIX-$id" "$build/evcastd" --config "$TMP/$id.xml" --foreground >>"$TMP/$id.log" 2>&1 &
		PIDS+=($!)
		for _ in $(seq 100); do
			"$build/evcast" -s "$TMP/$id.sock" stats >/dev/null 2>&1 && break
			kill -0 "${PIDS[-1]}" 2>/dev/null || die "evcastd $id exited: $(tail -n 5 "$TMP/$id.log")"
			sleep 0.05
		done
	done
}
stop() { kill "${PIDS[@]}" 2>/dev/null; wait "${PIDS[@]}" 2>/dev/null || true; PIDS=(); }

# rx_delay BEFORE AFTER: B's b_p50_us= b_p99_us= b_n= over a run (bench/rx_delay.py)
rx_delay() { python3 "$SRC/bench/rx_delay.py" "$1" "$2" b; }

# one BUILD: prints "eps=.. b_p50_us=.. b_p99_us=.. sub_p50_us=.. sub_p99_us=.."
one() {
	local build=$1 out="" n=$((RATE * LAT_S)) spid
	start "$build"
	if [[ $WHAT != latency ]]; then
		out=$("$build/evcast" -s "$TMP/A.sock" send CUSTOM bench::v2 --body "$BODY" --repeat "$COUNT" |
			sed -n 's/.*(\([0-9]*\) events\/s).*/eps=\1/p')
	fi
	if [[ $WHAT != throughput ]]; then
		"$build/evcast" -s "$TMP/B.sock" stats >"$TMP/r0.json"
		rm -f "$TMP/sub.out"
		"$build/bench/bench_sublat" --socket "$TMP/B.sock" --count "$n" --timeout $((LAT_S + 10)) \
			>"$TMP/sub.out" 2>"$TMP/sub.err" &
		spid=$!
		for _ in $(seq 200); do grep ready "$TMP/sub.out" >/dev/null 2>&1 && break; sleep 0.05; done
		"$build/evcast" -s "$TMP/A.sock" send CUSTOM bench::v2 --body "$BODY" --repeat "$n" --rate "$RATE" >/dev/null
		wait "$spid" || die "subscriber on B failed: $(cat "$TMP/sub.err")"
		"$build/evcast" -s "$TMP/B.sock" stats >"$TMP/r1.json"
		out="$out $(rx_delay "$TMP/r0.json" "$TMP/r1.json")"
		out="$out $(sed -n 's/.*p50_us=\([0-9.]*\).*p99_us=\([0-9.]*\).*/sub_p50_us=\1 sub_p99_us=\2/p' "$TMP/sub.out")"
	fi
	stop
	echo "$out"
}

echo "bench_ab: MODE=$MODE WHAT=$WHAT ROUNDS=$ROUNDS old=$OLD new=$NEW" >&2
: >"$TMP/all"
for r in $(seq "$ROUNDS"); do
	order=(old new)
	((r % 2 == 0)) && order=(new old)
	for w in "${order[@]}"; do
		b=$OLD
		[[ $w == new ]] && b=$NEW
		line=$(one "$b")
		echo "round $r $w: $line"
		echo "$w $line" >>"$TMP/all"
	done
done
awk '{for (i = 2; i <= NF; i++) {split($i, kv, "="); s[$1 " " kv[1]] += kv[2]; c[$1 " " kv[1]]++}}
	END {for (k in s) printf "mean %s = %.1f (%d runs)\n", k, s[k] / c[k], c[k]}' "$TMP/all" | sort
