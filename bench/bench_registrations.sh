#!/usr/bin/env bash
# bench_registrations.sh -- registration store figures: restore of N rows from
# SQLite, a joining node receiving the whole table from one donor, RSS with N
# registrations; writes its section of docs/PERFORMANCE.md (between
# <!-- bench_registrations:begin --> and <!-- bench_registrations:end -->,
# appended when absent; nothing else in the file is touched).
#
# Contract: two hosts A (donor) and C (joiner) in private network namespaces on
# a private bridge (evcbenchreg<pid>-*, deleted on exit with both daemons);
# A's database is generated directly (python3 sqlite3, registry_db.c's schema),
# so the figures are the daemon's, not the generator's. Bounded: one sync, a
# SYNC_TIMEOUT deadline.
# Usage: bench/bench_registrations.sh [BUILD_DIR]   (default build)
#        env: N (registrations, 100000) RATE (sync-rate, events/s, 2000) WINDOW (sync-window, 8)
#             OUT (docs/PERFORMANCE.md; OUT=/dev/null to only print)
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
[[ "$BUILD" = /* ]] || BUILD="$SRC/$BUILD"
N=${N:-100000}
RATE=${RATE:-2000}
WINDOW=${WINDOW:-8}
SYNC_TIMEOUT=${SYNC_TIMEOUT:-60}
OUT=${OUT:-$SRC/docs/PERFORMANCE.md}
die() { echo "bench_registrations: $*" >&2; exit 1; }
[[ "$(id -u)" -eq 0 ]] || die "needs root (it creates private network namespaces)"
[[ -x "$BUILD/evcastd" && -x "$BUILD/evcast" ]] || die "$BUILD/evcastd or evcast missing (build first)"

# shellcheck source=../scripts/netns.sh
source "$SRC/scripts/netns.sh"
PREFIX="evcbenchreg$$"
TMP=$(mktemp -d /tmp/evcast-bench-reg.XXXXXX)
declare -A PID=()
cleanup() {
	set +e
	for p in "${PID[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	evc_netns_del "$PREFIX"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

conf() {
	cat >"$TMP/$1.xml" <<-EOF
		<evcast>
		  <configuration name="event_multicast.conf">
		    <settings>
		      <param name="address" value="239.255.42.9"/>
		      <param name="port" value="4242"/>
		      <param name="bindings" value="HEARTBEAT CUSTOM sofia::register sofia::unregister sofia::expire evcast::regsync"/>
		      <param name="node-name" value="$1"/>
		      <param name="multicast-interface" value="eth0"/>
		      <param name="heartbeat-interval" value="1"/>
		      <param name="control-socket" value="$TMP/$1.sock"/>
		      <param name="log-level" value="notice"/>
		    </settings>
		  </configuration>
		  <configuration name="registrations.conf">
		    <settings>
		      <param name="db-path" value="$TMP/$1.db"/>
		      <param name="sync-rate" value="$RATE"/>
		      <param name="sync-window" value="$WINDOW"/>
		      <param name="sync-join-wait-ms" value="3000"/>
		      <param name="anti-entropy-interval-ms" value="0"/>
		    </settings>
		  </configuration>
		</evcast>
	EOF
}
start() {
	ip netns exec "$PREFIX-$1" "$BUILD/evcastd" --config "$TMP/$1.xml" --foreground >>"$TMP/$1.log" 2>&1 &
	PID[$1]=$!
	for _ in $(seq 100); do
		"$BUILD/evcast" -s "$TMP/$1.sock" peers >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "$1 did not start: $(tail -n 5 "$TMP/$1.log")"
}
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/${PID[$1]}/status"; }
rss_detail() { awk '/RssAnon|RssFile|RssShmem/ {printf "%s %.1f MiB ", $1, $2 / 1024}' "/proc/${PID[$1]}/status"; }
live() { "$BUILD/evcast" -s "$TMP/$1.sock" registrations --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["stats"]["live"])'; }
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{printf "%d", ($14 + $15) * 1000 / hz}' "/proc/${PID[$1]}/stat"; }
ms_of() { date -d "$(cut -c1-23 <<<"$1")" +%s%3N; }

echo "bench_registrations: generating $N registrations into A's database"
python3 - "$TMP/A.db" "$N" <<-'EOF'
	import sqlite3, sys, time
	path, n = sys.argv[1], int(sys.argv[2])
	db = sqlite3.connect(path)
	db.execute("PRAGMA journal_mode=WAL")
	db.execute("CREATE TABLE IF NOT EXISTS regs (key TEXT PRIMARY KEY, profile TEXT, user TEXT, realm TEXT,"
	           " call_id TEXT, contact TEXT, net_ip TEXT, net_port INTEGER, user_agent TEXT, status TEXT,"
	           " node TEXT, node_ip TEXT, ts_us INTEGER, expires_ms INTEGER, tomb INTEGER) WITHOUT ROWID")
	now_us = int(time.time() * 1e6)
	rows = []
	for i in range(n):
	    user, cid = str(100000 + i), "%08x-%04x@10.1.%d.%d" % (i * 2654435761 % 2**32, i % 65536, i // 250 % 250, i % 250)
	    key = "internal\x1f%s\x1fexample.test\x1f%s" % (user, cid)
	    rows.append((key, "internal", user, "example.test", cid,
	                 "<sip:%s@10.1.%d.%d:5060;transport=udp>" % (user, i // 250 % 250, i % 250),
	                 "10.1.%d.%d" % (i // 250 % 250, i % 250), 5060, "Yealink SIP-T46S 66.86.0.15",
	                 "Registered(UDP)", "A", "10.250.0.11", now_us, now_us // 1000 + 3600 * 1000, 0))
	db.executemany("INSERT OR REPLACE INTO regs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
	db.commit()
EOF

evc_netns_lan "$PREFIX" A C
conf A
conf C
t0=$(date +%s%3N)
start A
restore_ms=$(($(date +%s%3N) - t0))
restore_line=$(grep 'store started' "$TMP/A.log" | tail -n 1)
sleep 3.5 # A: join wait over, synced alone
rss_a=$(rss_mib A)
echo "bench_registrations: A up with $(live A) live (${restore_ms} ms to answer, incl. restore); RSS $rss_a MiB"

cpu_a0=$(cpu_ms A)
start C
cpu_c0=$(cpu_ms C)
deadline=$(($(date +%s) + SYNC_TIMEOUT))
until grep -q 'registrations: synced from' "$TMP/C.log"; do
	[[ $(date +%s) -lt $deadline ]] || die "C did not sync within ${SYNC_TIMEOUT}s: $(tail -n 5 "$TMP/C.log")"
	sleep 0.05
done
ask=$(grep 'joining: asking' "$TMP/C.log" | head -n 1)
done_line=$(grep 'registrations: synced from' "$TMP/C.log" | head -n 1)
sync_ms=$(($(ms_of "$done_line") - $(ms_of "$ask")))
cpu_a=$(($(cpu_ms A) - cpu_a0))
cpu_c=$(($(cpu_ms C) - cpu_c0))
echo "bench_registrations: CPU during the sync: A $cpu_a ms, C $cpu_c ms"
sleep 0.5 # the last batch applied; one flush later
got=$(live C)
rss_c=$(rss_mib C)
echo "bench_registrations: C synced $got/$N in $sync_ms ms (request -> end); RSS $rss_c MiB ($(rss_detail C))"
echo "  $done_line"
sleep 3
rss_c3=$(rss_mib C)
echo "bench_registrations: C RSS 3 s later: $rss_c3 MiB ($(rss_detail C))"
for h in A C; do
	echo "  $h counters: $("$BUILD/evcast" -s "$TMP/$h.sock" stats | python3 -c 'import json,sys; d=json.load(sys.stdin); print({k: v for k, v in d.items() if isinstance(v, int) and v and ("drop" in k or "rx_" in k or "tx_" in k)})')"
	echo "  $h sync: $("$BUILD/evcast" -s "$TMP/$h.sock" registrations --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["stats"]["sync"])')"
done

# Latency: a register fired on A (its control socket) -> the registration event
# delivered on C (C's control socket, event json): what C's store applies.
lat=$(
	python3 - "$TMP/A.sock" "$TMP/C.sock" <<-'EOF'
		import json, socket, sys, threading, time
		def conn(path):
		    s = socket.socket(socket.AF_UNIX); s.connect(path)
		    return s, s.makefile("rb")
		def msg(f):
		    hdr = {}
		    while True:
		        line = f.readline()
		        if not line: return None, None
		        line = line.decode().rstrip("\n")
		        if not line:
		            if hdr: break
		            continue
		        k, v = line.split(": ", 1); hdr[k] = v
		    body = f.read(int(hdr["Content-Length"])) if "Content-Length" in hdr else b""
		    return hdr, body
		a, fa = conn(sys.argv[1]); c, fc = conn(sys.argv[2])
		for s, f in ((a, fa), (c, fc)):
		    if msg(f)[0].get("Content-Type") == "auth/request":
		        s.sendall(b"auth ClueCon\n\n"); msg(f)
		c.sendall(b"event json CUSTOM multicast::event\n\n"); msg(fc)
		sent, got, n = {}, {}, 200
		def reader():
		    while len(got) < n:
		        h, b = msg(fc)
		        if h is None: return
		        if h.get("Content-Type") != "text/event-json": continue
		        u = json.loads(b).get("Orig-from-user", "")
		        if u.startswith("lat") and u not in got: got[u] = time.monotonic()
		t = threading.Thread(target=reader, daemon=True); t.start()
		for i in range(n):
		    u = "lat%d" % i
		    sent[u] = time.monotonic()
		    a.sendall(("sendevent CUSTOM\nEvent-Subclass: sofia::register\nprofile-name: internal\n"
		               "from-user: %s\nfrom-host: example.test\ncall-id: %s\ncontact: <sip:%s@10.0.0.1>\n"
		               "expires: 600\n\n" % (u, u, u)).encode())
		    msg(fa)
		    time.sleep(0.02)
		t.join(5)
		d = sorted((got[u] - sent[u]) * 1000 for u in got)
		print("%d %.2f %.2f" % (len(d), d[len(d) // 2], d[min(len(d) - 1, int(len(d) * 0.99))]) if d else "0 - -")
	EOF
)
read -r lat_n lat_p50 lat_p99 <<<"$lat"
echo "bench_registrations: register on A -> delivered on C: $lat_n/200 samples, p50 $lat_p50 ms, p99 $lat_p99 ms"

[[ "$OUT" == /dev/null ]] && exit 0
section=$(
	cat <<-EOF
		<!-- bench_registrations:begin -->
		## Registrations (bench/bench_registrations.sh)

		*Written by \`bench/bench_registrations.sh\` on $(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) cores, load average
		$(cut -d' ' -f1-3 /proc/loadavg) at the end.* Two hosts in private namespaces on a bridge (veth);
		A's SQLite file is generated with $N registrations (realistic field sizes), A restores it,
		then C starts empty and asks A (ONE donor) for the whole table; legacy datagrams, sync-rate $RATE
		events/s, sync-window $WINDOW, ~24 KB of JSON per event.

		| what | figure | goal |
		|---|---|---|
		| A: start to answering, restoring $N rows from SQLite | $restore_ms ms | — |
		| C: joining, request → end of the stream from one donor | $sync_ms ms | ≤ 2000 ms for 100 k |
		| C: registrations held after the sync | $got of $N | all |
		| CPU during the sync (utime+stime): donor A / joiner C | $cpu_a ms / $cpu_c ms | — |
		| RSS of A with $N registrations (VmRSS) | $rss_a MiB | ≤ 64 MiB |
		| RSS of C after receiving them (0.5 s / 3.5 s after the end) | $rss_c / $rss_c3 MiB | ≤ 64 MiB |
		| register fired on A → delivered to C's store ($lat_n samples at 50/s): p50 / p99 | $lat_p50 / $lat_p99 ms | p99 ≤ 50 ms |

		Convergence under loss: \`tests/integration/it_reg_netem.sh\` (10 % loss on every host via
		nftables, 5 % duplication and 10 % reordering in every daemon via EVCAST_IMPAIR, 20 000
		register/unregister operations on two nodes, kill -9 and restart of the third during them):
		the three tables equal the expected set 0.3-1.1 s after the loss stops (the test asserts
		≤ 3 s); runs and the anti-entropy design in docs/REGISTRATIONS.md ("Anti-entropy").
		<!-- bench_registrations:end -->
	EOF
)
python3 - "$OUT" "$section" <<-'EOF'
	import re, sys
	path, section = sys.argv[1], sys.argv[2]
	text = open(path).read()
	pat = re.compile(r"<!-- bench_registrations:begin -->.*?<!-- bench_registrations:end -->", re.S)
	text = pat.sub(lambda m: section, text) if pat.search(text) else text.rstrip("\n") + "\n\n" + section + "\n"
	open(path, "w").write(text)
EOF
echo "bench_registrations: section written to $OUT"
