#!/usr/bin/env bash
# fuzz.sh BUILD_DIR SECONDS [TARGET...] -- run libFuzzer targets for a set time.
#
# Contract: runs every BUILD_DIR/fuzz_* binary (or only the TARGETs named) for
# SECONDS each (-max_total_time), on a temporary copy of its committed corpus
# fuzz/corpus/<target>/ (also accepted: fuzz/corpus/<target without fuzz_>/),
# so the committed corpus is never modified; with fuzz/<target>.dict when one
# exists. Targets run FUZZ_JOBS at a time (default: number of cores). Crash
# inputs are kept under BUILD_DIR/fuzz-artifacts/<target>/. Exits 1 when any
# target crashed, leaked, timed out or could not run; prints one line per
# target with its executions and a summary line. FUZZ_RUNS=N stops each target
# after N executions instead (SECONDS is then only an upper bound).
set -euo pipefail

usage() { echo "usage: $0 BUILD_DIR SECONDS [TARGET...]" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
build=$1
secs=$2
shift 2
[[ "$secs" =~ ^[0-9]+$ && "$secs" -gt 0 ]] || usage
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}

targets=()
if [[ $# -gt 0 ]]; then
	for t in "$@"; do targets+=("$build/$t"); done
else
	for t in "$build"/fuzz_*; do
		[[ -f "$t" && -x "$t" ]] && targets+=("$t")
	done
fi
if [[ ${#targets[@]} -eq 0 ]]; then
	echo "fuzz: no fuzz_* targets in $build (configure with -DEVCAST_FUZZ=ON, CC=clang)" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/evcast-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# run_one BINARY: one target, output to $work/NAME.log, status to $work/NAME.rc.
run_one() {
	local bin=$1 name corpus seeds art extra=() rc=0
	name=$(basename "$bin")
	corpus="$work/$name.corpus"
	art="$build/fuzz-artifacts/$name"
	mkdir -p "$corpus" "$art"
	for seeds in "$root/fuzz/corpus/$name" "$root/fuzz/corpus/${name#fuzz_}"; do
		if [[ -d "$seeds" ]]; then
			find "$seeds" -maxdepth 1 -type f -exec cp -t "$corpus" {} +
			break
		fi
	done
	[[ -f "$root/fuzz/$name.dict" ]] && extra=("-dict=$root/fuzz/$name.dict")
	[[ -n "${FUZZ_RUNS:-}" ]] && extra+=("-runs=$FUZZ_RUNS")
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=70000 -print_final_stats=1 \
		-artifact_prefix="$art/" "${extra[@]}" "$corpus" >"$work/$name.log" 2>&1 || rc=$?
	echo "$rc" >"$work/$name.rc"
	find "$corpus" -type f | wc -l >"$work/$name.ncorpus"
}

echo "fuzz: ${#targets[@]} target(s), ${secs}s each, $jobs at a time"
t0=$SECONDS
running=0
for bin in "${targets[@]}"; do
	[[ -x "$bin" ]] || { echo "fuzz: $bin is not an executable" >&2; exit 1; }
	run_one "$bin" &
	running=$((running + 1))
	if [[ $running -ge $jobs ]]; then
		wait -n || true
		running=$((running - 1))
	fi
done
wait || true

passed=0
failed=0
for bin in "${targets[@]}"; do
	name=$(basename "$bin")
	rc=$(cat "$work/$name.rc" 2>/dev/null || echo 99)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$name.log" | tail -n 1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$name.log" | tail -n 1)
	if [[ "$rc" == 0 ]]; then
		passed=$((passed + 1))
		printf 'fuzz: %-28s ok    %10s execs (%s/s), corpus %s -> %s\n' "$name" "${execs:-?}" "${speed:-?}" \
			"$(find "$root/fuzz/corpus/$name" "$root/fuzz/corpus/${name#fuzz_}" -maxdepth 1 -type f 2>/dev/null | wc -l)" \
			"$(cat "$work/$name.ncorpus")"
	else
		failed=$((failed + 1))
		printf 'fuzz: %-28s FAIL  (exit %s) after %s execs\n' "$name" "$rc" "${execs:-?}"
		grep -E -A 40 'ERROR: |runtime error:|==[0-9]+==|Test unit written|deadly signal|timeout' \
			"$work/$name.log" | head -n 60 | sed 's/^/    /'
		for a in "$build/fuzz-artifacts/$name"/*; do
			[[ -f "$a" ]] || continue
			echo "    input kept: $a ($(stat -c %s "$a") bytes), base64: $(head -c 512 "$a" | base64 -w0)"
		done
	fi
done
echo "fuzz: done in $((SECONDS - t0))s"
echo "fuzz: $passed target(s) clean, $failed crashed or failed"
[[ $failed -eq 0 ]]
