#!/usr/bin/env bash
# it_store_corrupt.sh -- a corrupt registrations database does not stop the bus.
#
# Topology: D and E in namespaces on a private bridge (legacy protocol), both with
# registrations and sync. E starts alone and holds 200 registrations. D's db-path
# holds a corrupt file (an SQLite header, then garbage) with a -wal companion.
# D must come up and serve, log an error naming the file and the reason, move the
# file and its -wal aside byte for byte (sha256), count it (db_quarantined in
# `evcast registrations --json` and `evcast stats`), get the 200 registrations
# back from E by the join (regsync), and write them and a new one to a fresh
# database of mode 0600 (its -wal and -shm too, under umask 022). Then a foreign
# SQLite database (another program's tables) is moved aside the same way at a
# restart. kill -9 right after 1000 registrations were answered +OK loses the
# last batch interval or two on D's disk (printed), and the restart gets them
# back from E. Last, a db-path in a missing directory is a misconfiguration:
# the daemon refuses to start, names the path, and creates nothing.
source "$(dirname "$0")/lib.sh"
evc_require
for t in sqlite3 sha256sum stat timeout; do command -v $t >/dev/null || evc_fail "missing tool '$t'"; done

GROUP=239.255.42.31
PORT=4271
BINDINGS="HEARTBEAT CUSTOM sofia::register sofia::unregister sofia::expire evcast::regsync"
DDIR="$EVC_TMP/ddata"
DB="$DDIR/registrations.db"
umask 022 # the daemons inherit it: the database must still be 0600
mkdir -p "$DDIR"

conf() { # conf ID NODE DB
	evc_conf_blocks "$EVC_TMP/$1.xml" "address=$GROUP" "port=$PORT" "bindings=$BINDINGS" "node-name=$2" \
		"multicast-interface=eth0" "heartbeat-interval=1" "peer-timeout=3" \
		"control-socket=$EVC_TMP/$1.sock" "log-level=notice" registrations.conf "db-path=$3" \
		"sync-join-wait-ms=1500"
}
regs() { "$EVC_PY" "$EVC_LIB_DIR/regops.py" "${EVC_SOCK[$1]}" "reg:$2-$(($2 + $3 - 1))"; }
rstat() { evc_cli "$1" registrations --json | jq -r --arg f "$2" '.stats[$f] // .stats.sync[$f] // 0'; }
nrows() { evc_cli "$1" registrations --json | jq -r '.row_count'; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
mode() { stat -c %a "$1"; }
# aside SUFFIX: the one moved-aside file ending in SUFFIX ("" for the database itself)
aside() {
	local f n=0 found=
	for f in "$DB".corrupt-*; do
		[[ -e $f ]] || continue
		case $1 in
		"") [[ $f == *-wal || $f == *-shm || $f == *-journal ]] && continue ;;
		*) [[ $f == *"$1" ]] || continue ;;
		esac
		n=$((n + 1)) found=$f
	done
	[[ $n -eq 1 ]] && echo "$found"
}

evc_step "network: D and E; E alone holds 200 registrations"
evc_lan D E
conf E E "$EVC_TMP/E.db"
evc_daemon_start E E "$EVC_TMP/E.xml"
evc_wait_for 10 "E synced (alone)" eval '[[ $(rstat E state) == synced ]]' || evc_fail "E not synced"
regs E 1000 200 || evc_fail "registrations on E failed"
evc_wait_for 5 "E holds 200" eval '[[ $(nrows E) -eq 200 ]]' || evc_fail "E holds $(nrows E)"

evc_step "D starts on a corrupt database (an SQLite header, then garbage; a -wal beside it)"
{ printf 'SQLite format 3\0'; head -c 65520 /dev/urandom; } >"$DB"
head -c 4096 /dev/urandom >"$DB-wal"
chmod 0644 "$DB" "$DB-wal"
bad_sha=$(sha "$DB") bad_wal_sha=$(sha "$DB-wal")
conf D D "$DB"
evc_daemon_start D D "$EVC_TMP/D.xml"
evc_wait_for 5 "the error logged" grep -q 'registrations: unusable database' "$EVC_TMP/D.log" ||
	evc_fail "no error line: $(grep registrations: "$EVC_TMP/D.log")"
line=$(grep -m1 'registrations: unusable database' "$EVC_TMP/D.log")
evc_log "  $line"
[[ $line == *"$DB:"* ]] || evc_fail "the error does not name the file: $line"
[[ $line == *"not a database"* || $line == *"malformed"* ]] || evc_fail "the error gives no reason: $line"

evc_step "the bad file and its -wal are kept, byte for byte"
moved=$(aside "") || evc_fail "no single moved-aside file: $(ls "$DDIR")"
moved_wal=$(aside -wal) || evc_fail "no single moved-aside -wal: $(ls "$DDIR")"
[[ $(sha "$moved") == "$bad_sha" ]] || evc_fail "$moved differs from the bad file"
[[ $(sha "$moved_wal") == "$bad_wal_sha" ]] || evc_fail "$moved_wal differs from the bad -wal"
[[ $moved == "$DB".corrupt-[0-9]*T[0-9]*Z ]] || evc_fail "unexpected name $moved"
[[ $line == *"$moved"* ]] || evc_fail "the log line does not name $moved"
evc_ok "$(basename "$moved") and $(basename "$moved_wal"): sha256 unchanged"

evc_step "D serves, counts it, and gets the table back from E"
[[ $(rstat D db_quarantined) -eq 1 ]] || evc_fail "db_quarantined $(rstat D db_quarantined)"
[[ $(rstat D db_state) == open ]] || evc_fail "db_state $(rstat D db_state)"
[[ $(evc_stats D | jq -r '.registrations.db_quarantined') -eq 1 ]] ||
	evc_fail "evcast stats: $(evc_stats D | jq -c .registrations)"
evc_wait_for 8 "D and E UP" eval 'evc_peer_is D E UP && evc_peer_is E D UP' || evc_fail "peers not up"
evc_wait_for 10 "D synced from E with 200" eval '[[ $(rstat D state) == synced && $(nrows D) -eq 200 ]]' ||
	evc_fail "D: state $(rstat D state), $(nrows D) rows; $(grep registrations: "$EVC_TMP/D.log")"
[[ $(rstat D donor) == E ]] || evc_fail "D's donor: $(rstat D donor)"
evc_cli D locate 1042@example.test | grep '^E ' >/dev/null || evc_fail "D cannot locate 1042"
regs D 3000 1 || evc_fail "D refuses a registration"
evc_wait_for 5 "E holds D's new one" eval '[[ $(nrows E) -eq 201 ]]' || evc_fail "E holds $(nrows E)"
evc_wait_for 5 "D's fresh database holds 201 rows" eval '[[ $(rstat D db_pending) -eq 0 && $(sqlite3 "$DB" "SELECT count(*) FROM regs") -eq 201 ]]' ||
	evc_fail "D's database: $(sqlite3 "$DB" 'SELECT count(*) FROM regs' 2>&1); $(evc_cli D registrations --json | jq -c .stats)"
evc_ok "D: synced from E in $(rstat D synced_in_ms) ms, 200 + 1 rows live and on disk"

evc_step "the fresh database is mode 0600, with its -wal and -shm"
for f in "$DB" "$DB-wal" "$DB-shm"; do
	[[ -e $f ]] || evc_fail "$f missing while D runs"
	[[ $(mode "$f") == 600 ]] || evc_fail "$f is mode $(mode "$f")"
done
[[ $(sqlite3 "$DB" 'PRAGMA application_id') -eq 1163281234 ]] || evc_fail "application_id $(sqlite3 "$DB" 'PRAGMA application_id')"
evc_ok "$(basename "$DB") 600, -wal 600, -shm 600 (umask 022)"

evc_step "restart on a foreign SQLite database: moved aside the same way"
evc_daemon_stop D || evc_fail "D did not stop cleanly"
rm -f "$DB".corrupt-* "$DB" "$DB-wal" "$DB-shm"
sqlite3 "$DB" "CREATE TABLE sip_registrations (call_id TEXT, sip_user TEXT); INSERT INTO sip_registrations VALUES ('x', '1');"
foreign_sha=$(sha "$DB")
conf D2 D "$DB"
evc_daemon_start D2 D "$EVC_TMP/D2.xml"
evc_wait_for 5 "the error logged" grep -q 'registrations: unusable database' "$EVC_TMP/D2.log" ||
	evc_fail "no error line: $(grep registrations: "$EVC_TMP/D2.log")"
line=$(grep -m1 'registrations: unusable database' "$EVC_TMP/D2.log")
evc_log "  $line"
[[ $line == *"foreign database"* ]] || evc_fail "the reason is not 'foreign database': $line"
moved=$(aside "") || evc_fail "no single moved-aside file: $(ls "$DDIR")"
[[ $(sha "$moved") == "$foreign_sha" ]] || evc_fail "$moved differs from the foreign file"
[[ $(sqlite3 "$moved" 'SELECT sip_user FROM sip_registrations') == 1 ]] || evc_fail "the foreign rows are gone"
evc_wait_for 10 "D2 synced from E with 201" eval '[[ $(rstat D2 state) == synced && $(nrows D2) -eq 201 ]]' ||
	evc_fail "D2: state $(rstat D2 state), $(nrows D2) rows"
[[ $(rstat D2 db_quarantined) -eq 1 && $(mode "$DB") == 600 ]] || evc_fail "D2: $(evc_cli D2 registrations --json | jq -c .stats)"
evc_ok "foreign database moved aside intact (its row still readable); D2 synced 201 from E"
evc_daemon_stop D2 || evc_fail "D2 did not stop cleanly"

evc_step "durability of +OK: kill -9 right after the last answer, then a restart"
conf D3 D "$DB"
evc_daemon_start D3 D "$EVC_TMP/D3.xml"
evc_wait_for 10 "D3 synced with 201" eval '[[ $(rstat D3 state) == synced && $(nrows D3) -eq 201 ]]' ||
	evc_fail "D3: state $(rstat D3 state), $(nrows D3) rows"
evc_wait_for 5 "D3's database holds 201" eval '[[ $(rstat D3 db_pending) -eq 0 && $(sqlite3 "$DB" "SELECT count(*) FROM regs") -eq 201 ]]' ||
	evc_fail "D3's database: $(sqlite3 "$DB" 'SELECT count(*) FROM regs')"
# each answered +OK before the next; SIGKILL from the same process right after the last +OK
ms=$("$EVC_PY" "$EVC_LIB_DIR/regops.py" "${EVC_SOCK[D3]}" --kill9-after "${EVC_PID[D3]}" reg:5000-5999) ||
	evc_fail "registrations on D3 failed"
evc_daemon_kill9 D3 # reaped (already dead)
ondisk=$(sqlite3 "$DB" "SELECT count(*) FROM regs WHERE user BETWEEN '5000' AND '5999'")
lost=$((1000 - ondisk))
evc_log "  1000 registrations answered +OK in $ms ms, then kill -9 at once: $ondisk on disk," \
	"$lost lost locally, the last ~$((lost * ms / 1000)) ms"
[[ $ondisk -le 1000 ]] || evc_fail "$ondisk rows on disk"
# +OK is written before the loop turn ends and its datagram leaves (udp.c's batch): a kill in that
# instant loses the last registration everywhere. regops waits for each +OK: at most 1 is in flight.
evc_wait_for 5 "E holds 1000 or 999 of them (multicast at once)" eval '[[ $(nrows E) -ge 1200 ]]' || evc_fail "E holds $(nrows E)"
ne=$(nrows E)
[[ $ne -le 1201 ]] || evc_fail "E holds $ne"
evc_log "  E holds $((ne - 201)) of the 1000 (a missing one was answered +OK in the loop turn D3 was killed)"
conf D4 D "$DB"
evc_daemon_start D4 D "$EVC_TMP/D4.xml"
evc_wait_for 10 "D4 synced with E's table" eval '[[ $(rstat D4 state) == synced && $(nrows D4) -eq $(nrows E) ]]' ||
	evc_fail "D4: state $(rstat D4 state), $(nrows D4) rows"
[[ $(rstat D4 db_quarantined) -eq 0 ]] || evc_fail "a database after kill -9 was moved aside"
[[ $(rstat D4 db_restored) -eq $((201 + ondisk)) ]] || evc_fail "D4 restored $(rstat D4 db_restored), want $((201 + ondisk))"
ne=$(nrows E)
[[ $(nrows D4) -eq $ne && $ne -ge 1200 ]] || evc_fail "D4 holds $(nrows D4), E $ne"
evc_ok "restart after kill -9: $(rstat D4 db_restored) restored from disk, the others from E: $ne live"
evc_daemon_stop D4 || evc_fail "D4 did not stop cleanly"

evc_step "a db-path in a missing directory: the start is refused, nothing created"
conf F D "$EVC_TMP/nowhere/registrations.db"
rc=0
timeout 20 ip netns exec "$(evc_ns D)" "$EVCASTD" --config "$EVC_TMP/F.xml" --foreground >"$EVC_TMP/F.log" 2>&1 || rc=$?
[[ $rc -ne 0 && $rc -ne 124 ]] || evc_fail "evcastd exit status $rc on a missing directory (want a refusal)"
grep -q "$EVC_TMP/nowhere/registrations.db: the directory does not exist" "$EVC_TMP/F.log" ||
	evc_fail "no clear error: $(cat "$EVC_TMP/F.log")"
[[ ! -e $EVC_TMP/nowhere ]] || evc_fail "the directory was created"
evc_ok "refused (exit $rc): $(grep -m1 'directory does not exist' "$EVC_TMP/F.log")"
