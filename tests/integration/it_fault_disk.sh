#!/usr/bin/env bash
# it_fault_disk.sh -- the registrations database on a full disk.
#
# Topology: D and E in namespaces on a private bridge (legacy protocol), both with
# registrations and sync. D runs in its own mount namespace (unshare -m) where a
# 256 KiB tmpfs holds its db-path. Early registrations are written; then large
# ones are fired until SQLite fails: D must log a clear error naming the database
# path and "database or disk is full", keep running and serving (E UP, locate of
# the early entries, the live table complete, replication to E), and once the tmpfs
# is enlarged (remount size=8m, inside D's mount namespace) write everything it
# kept: `PRAGMA integrity_check` says ok, every row of the table is on disk.
# Finally a copy of the database (sqlite3 .backup) restores into a restarted D.
source "$(dirname "$0")/lib.sh"
evc_require
for t in sqlite3 unshare nsenter mount; do command -v $t >/dev/null || evc_fail "missing tool '$t'"; done

GROUP=239.255.42.24
PORT=4264
DISK="$EVC_TMP/disk"
BINDINGS="HEARTBEAT CUSTOM sofia::register sofia::unregister sofia::expire evcast::regsync"
mkdir -p "$DISK"

conf() { # conf ID NODE DB
	evc_conf_blocks "$EVC_TMP/$1.xml" "address=$GROUP" "port=$PORT" "bindings=$BINDINGS" "node-name=$2" \
		"multicast-interface=eth0" "heartbeat-interval=1" "peer-timeout=3" \
		"control-socket=$EVC_TMP/$1.sock" "log-level=notice" registrations.conf "db-path=$3" \
		"sync-join-wait-ms=1000"
}

# regs ID FIRST COUNT PAD: register users FIRST.. with contact and user agent of
# about PAD bytes each, through daemon ID's control socket.
regs() { "$EVC_PY" "$EVC_LIB_DIR/regops.py" "${EVC_SOCK[$1]}" --pad "$4" "reg:$2-$(($2 + $3 - 1))"; }
rstat() { evc_cli "$1" registrations --json | jq -r --arg f "$2" '.stats[$f] // .stats.db[$f] // 0'; }
nrows() { evc_cli "$1" registrations --json | jq -r '.row_count'; }
# in_d CMD...: run CMD in D's mount namespace (where the tmpfs is)
in_d() { nsenter -t "${EVC_PID[D]}" -m "$@"; }
sql() { in_d sqlite3 "$DISK/D.db" "$1"; }

evc_step "network: D (db on a 256 KiB tmpfs in its own mount namespace) and E"
evc_lan D E
cat >"$EVC_TMP/diskd.sh" <<-EOF
	#!/bin/sh
	# in a private mount namespace: a tiny tmpfs for the database, then evcastd
	mount -t tmpfs -o size=256k evcfaultdisk '$DISK' || exit 1
	exec '$EVCASTD' "\$@"
EOF
cat >"$EVC_TMP/evcastd_disk" <<-EOF
	#!/bin/sh
	exec unshare -m --propagation private '$EVC_TMP/diskd.sh' "\$@"
EOF
chmod +x "$EVC_TMP/diskd.sh" "$EVC_TMP/evcastd_disk"
conf D D "$DISK/D.db"
conf E E "$EVC_TMP/E.db"
EVCASTD="$EVC_TMP/evcastd_disk" evc_daemon_start D D "$EVC_TMP/D.xml"
evc_daemon_start E E "$EVC_TMP/E.xml"
fs=$(in_d df -k --output=fstype,size "$DISK" | tail -n 1)
[[ $fs == *tmpfs* ]] || evc_fail "D's database directory is not the tmpfs: $fs"
[[ -z "$(ls -A "$DISK")" ]] || evc_fail "the tmpfs leaks into the host's mount namespace"
evc_log "  D's $DISK: $(in_d df -h --output=fstype,size,used "$DISK" | tail -n 1 | tr -s ' ')"
evc_wait_for 8 "D and E UP" eval 'evc_peer_is D E UP && evc_peer_is E D UP' || evc_fail "peers not up"

evc_step "20 early registrations written to disk"
regs D 1000 20 10 || evc_fail "early registrations failed"
evc_wait_for 5 "20 rows written" eval '[[ $(rstat D db_rows_written) -ge 20 && $(rstat D db_pending) -eq 0 ]]' ||
	evc_fail "early rows not written: $(evc_cli D registrations --json | jq -c .stats)"
[[ $(sql 'SELECT count(*) FROM regs') -eq 20 ]] || evc_fail "the database holds $(sql 'SELECT count(*) FROM regs') rows"

evc_step "large registrations until the disk is full"
first=2000 sent=0
while [[ $(rstat D db_errors) -eq 0 ]]; do
	[[ $sent -lt 3000 ]] || evc_fail "3000 large registrations and no database error: $(in_d df -k "$DISK")"
	regs D $first 50 900 || evc_fail "registrations failed on D"
	first=$((first + 50)) sent=$((sent + 50))
	sleep 0.3
done
evc_wait_for 5 "the error logged" grep -q 'database or disk is full' "$EVC_TMP/D.log" ||
	evc_fail "D logs no 'database or disk is full' (SQLITE_FULL); its error says: \
$(grep -m1 'registrations: writing' "$EVC_TMP/D.log" || echo '(nothing)')"
line=$(grep -m1 'database or disk is full' "$EVC_TMP/D.log")
evc_log "  after $sent large registrations: $line"
[[ $line == *"$DISK/D.db"* ]] || evc_fail "the error does not name the database path: $line"
evc_log "  tmpfs: $(in_d df -k --output=used,avail "$DISK" | tail -n 1 | tr -s ' '); db_errors $(rstat D db_errors), \
db_pending $(rstat D db_pending)"

evc_step "D keeps running and serving"
regs D $first 10 900 || evc_fail "D refuses registrations on a full disk"
total=$((20 + sent + 10))
evc_wait_for 5 "D's table holds all $total" eval '[[ $(nrows D) -eq $total ]]' || evc_fail "D's table holds $(nrows D) of $total"
evc_wait_for 8 "E holds all $total" eval '[[ $(nrows E) -eq $total ]]' || evc_fail "E holds $(nrows E) of $total"
evc_alive D || evc_fail "D died on a full disk"
evc_peer_is D E UP || evc_fail "E not UP on D: $(evc_cli D peers)"
evc_cli D locate 1005@example.test | grep '^D ' >/dev/null || evc_fail "D cannot locate an early entry"
evc_ok "D alive: E UP, 1005 located, $total rows live on D and E while the disk is full"

evc_step "tmpfs enlarged to 8 MiB: what was kept is written, the database is intact"
in_d mount -o remount,size=8m "$DISK" || evc_fail "remount failed"
e0=$(rstat D db_errors)
evc_wait_for 10 "every row on disk" eval '[[ $(rstat D db_pending) -eq 0 && $(sql "SELECT count(*) FROM regs") -eq $total ]]' ||
	evc_fail "after the remount: $(sql 'SELECT count(*) FROM regs') rows on disk of $total; $(evc_cli D registrations --json | jq -c .stats)"
ic=$(sql 'PRAGMA integrity_check')
[[ $ic == ok ]] || evc_fail "integrity_check: $ic"
early=$(sql "SELECT count(*) FROM regs WHERE user BETWEEN '1000' AND '1019' AND tomb = 0")
[[ $early -eq 20 ]] || evc_fail "only $early of the 20 early rows on disk"
evc_ok "integrity_check ok; $total rows on disk (20 early); db_errors $e0 -> $(rstat D db_errors)"

evc_step "restart on a copy of the database"
in_d sqlite3 "$DISK/D.db" ".backup '$EVC_TMP/D-copy.db'" || evc_fail "backup failed"
evc_daemon_stop D || evc_fail "D did not stop cleanly"
[[ $(sqlite3 "$EVC_TMP/D-copy.db" 'PRAGMA integrity_check') == ok ]] || evc_fail "the copy is not intact"
conf D2 D "$EVC_TMP/D-copy.db"
evc_daemon_start D2 D "$EVC_TMP/D2.xml"
evc_wait_for 5 "D2 restored $total" eval '[[ $(rstat D2 db_restored) -eq $total ]]' ||
	evc_fail "restored $(rstat D2 db_restored) of $total"
evc_cli D2 locate 1005@example.test | grep '^D ' >/dev/null || evc_fail "restarted D cannot locate an early entry"
evc_ok "restarted on the copy: $(rstat D2 db_restored) rows restored, 1005 located"
