#!/usr/bin/env bash
# it_hostile_names.sh -- forged node names against the log, `peers`, `top`,
# the metrics, and the peer table (issue 13, findings 4 and 5).
#
# Topology: host D (evcastd, plaintext v2 as the shipped default was, log
# level info, metrics on 127.0.0.1:9466), X (the attacker,
# tests/tools/evcast_forge_hb.c) and R (a real node started late) on a private
# bridge, group 239.255.42.13:4253, peer-timeout 4 s.
# 1. X sends one HEARTBEAT by the legacy format whose Multicast-Sender holds a
#    newline, a whole forged "[err]" line and ESC/OSC sequences, and one by v2
#    whose FreeSWITCH-Switchname does the same with CR LF. Asserted: every
#    line of D's log is one of D's own (timestamp and level first), none starts
#    with the forged prefix, no ESC/BEL/CR byte is in it, each name is logged
#    escaped on exactly one peer line; `evcast peers` shows each on one line,
#    escaped; `peers --json` gives the name back exactly (JSON-escaped);
#    `evcast top` and the metrics carry no control byte and no forged line.
# 2. X sends 6 000 forged HEARTBEAT names (3 000 legacy, 3 000 v2) at a
#    bounded rate; the table stops at 4 096 and refuses the rest (counted
#    exactly). R starts; once the forged peers are DOWN, R comes UP on D
#    (peerup event, `peers`), taking an evicted DOWN entry (peers_evicted).
# 3. The peer UP/DOWN log lines are bounded: written + suppressed = peerups +
#    peerdowns, and written <= 20 + 1 per second of the daemon's life.
source "$(dirname "$0")/lib.sh"
evc_require
: "${EVCAST_FORGE:=$(dirname "$EVCAST")/evcast_forge_hb}"
[[ -x "$EVCAST_FORGE" ]] || evc_fail "evcast_forge_hb not found (set EVCAST_FORGE; built with EVCAST_TESTS=ON)"
command -v curl >/dev/null || evc_fail "missing tool 'curl'"

GROUP=239.255.42.13
PORT=4253
X_ADDR=$(evc_netns_host_addr 2)
TABLE=4096 # NODE_MAX_PEERS in src/lib/node.c
BURST=20   # EVC__PEER_LOG_BURST, then 1 line a second (src/lib/node_internal.h)

evc_step "network: D (evcastd, plaintext v2), X (attacker), R (a real node, later) on a private bridge"
evc_lan D X R
conf() { # conf ID EXTRA...
	local id=$1
	shift
	evc_conf_blocks "$EVC_TMP/$id.xml" address=$GROUP port=$PORT bindings=HEARTBEAT ttl=1 loopback=no \
		node-name="$id" multicast-interface=eth0 heartbeat-interval=1 peer-timeout=4 \
		control-socket="$EVC_TMP/$id.sock" log-level=info protocol=v2 "$@"
}
conf D metrics.conf enabled=yes listen-ip=127.0.0.1 listen-port=9466
conf R
D_T0=$(date +%s)
evc_daemon_start D D "$EVC_TMP/D.xml"
evc_listen D "$EVC_TMP/D.events" HEARTBEAT CUSTOM multicast::peerup
forge() { evc_in X "$EVCAST_FORGE" --group $GROUP --port $PORT --ifaddr "$X_ADDR" "$@"; }
LOG="$EVC_TMP/D.log"

evc_step "1. forged names with a newline, a whole [err] line and ESC sequences, by legacy and by v2"
LEG_NAME=$'legacy-evil\n2026-12-07 00:00:00.000 [err] FORGED-LEGACY \e[2J\e]0;pwned\a'
V2_NAME=$'v2-evil\r\n2026-12-07 00:00:00.000 [err] FORGED-V2 \e[31mred\\end'
LEG_ESC='legacy-evil\n2026-12-07 00:00:00.000 [err] FORGED-LEGACY \x1b[2J\x1b]0;pwned\x07'
V2_ESC='v2-evil\r\n2026-12-07 00:00:00.000 [err] FORGED-V2 \x1b[31mred\\end'
forge --format legacy "$LEG_NAME" >/dev/null || evc_fail "forge (legacy) failed"
forge --format v2 "$V2_NAME" >/dev/null || evc_fail "forge (v2) failed"
up_by_json() { [[ "$(evc_cli D peers --json | jq --arg n "$1" '[.peers[] | select(.name == $n and .status == "UP")] | length')" == 1 ]]; }
evc_wait_for 10 "the legacy forged name UP on D" up_by_json "$LEG_NAME" || evc_fail "legacy forged name not in D's table"
evc_wait_for 10 "the v2 forged name UP on D" up_by_json "$V2_NAME" || evc_fail "v2 forged name not in D's table"
evc_ok "both names are in the peer table as sent (peers --json gives them back byte for byte)"
evc_wait_for 5 "both peer lines logged" bash -c "[[ \$(grep -c -F -e 'FORGED-LEGACY' -e 'FORGED-V2' '$LOG') -ge 2 ]]" ||
	evc_fail "the peer lines did not reach D's log"

# The log: every line is D's own; none is forged; no raw control byte. Counted
# on one snapshot of whole lines: D keeps logging (HEARTBEATs) while we read.
head -n "$(wc -l <"$LOG")" "$LOG" >"$EVC_TMP/D.snap"
lines=$(wc -l <"$EVC_TMP/D.snap")
own=$(grep -c -E '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} \[(err|warning|notice|info|debug)\] ' "$EVC_TMP/D.snap" || true)
[[ $lines -gt 0 && $own -eq $lines ]] || evc_fail "$((lines - own)) of $lines log lines are not D's own: $(grep -v -E '^[0-9]{4}-' "$EVC_TMP/D.snap" | head -n 3)"
forged=$(grep -c -E '^(2026-12-07 00:00:00\.000|\[err\] FORGED|FORGED)' "$LOG" || true)
[[ $forged -eq 0 ]] || evc_fail "$forged forged line(s) in D's log"
ctl=$(LC_ALL=C grep -c $'[\e\a\r]' "$LOG" || true)
[[ $ctl -eq 0 ]] || evc_fail "$ctl log line(s) hold a raw ESC, BEL or CR"
leg_lines=$(grep -c -F "peer $LEG_ESC is UP" "$LOG" || true)
v2_lines=$(grep -c -F "peer $V2_ESC is UP" "$LOG" || true)
[[ $leg_lines -eq 1 && $v2_lines -eq 1 ]] ||
	evc_fail "expected one escaped UP line per name, got $leg_lines (legacy) and $v2_lines (v2): $(grep -F FORGED "$LOG" | head -n 4)"
ev_lines=$(grep -c -F "event HEARTBEAT from $LEG_ESC" "$LOG" || true)
[[ $ev_lines -ge 1 ]] || evc_fail "the info line per event does not show the legacy name escaped"
evc_ok "log: $lines lines, all D's own; 0 forged, 0 raw ESC/BEL/CR; each name on 1 escaped peer line"

# `evcast peers` (text): one line per peer, escaped; JSON: no raw control byte.
text=$(evc_cli D peers)
grep -q -F "Peer $LEG_ESC UP; last seen" <<<"$text" || evc_fail "peers text lacks the escaped legacy name: $text"
grep -q -F "Peer $V2_ESC UP; last seen" <<<"$text" || evc_fail "peers text lacks the escaped v2 name: $text"
[[ $(grep -c -E '^(2026-12-07|FORGED)' <<<"$text" || true) -eq 0 ]] || evc_fail "peers text holds a forged line"
[[ $(LC_ALL=C grep -c $'[\e\a\r]' <<<"$text" || true) -eq 0 ]] || evc_fail "peers text holds a raw control byte"
json=$(evc_cli D peers --json)
[[ $(LC_ALL=C grep -c $'[\e\a\r]' <<<"$json" || true) -eq 0 ]] || evc_fail "peers --json holds a raw control byte"
evc_ok "peers: each name on one line, escaped; JSON escaped by cJSON"

# `evcast top`, one frame (no terminal: no screen-clearing sequence of its own).
top=$(evc_cli D top --count 1 --interval 0.1)
[[ $(LC_ALL=C grep -c $'[\e\a\r]' <<<"$top" || true) -eq 0 ]] || evc_fail "top printed a raw control byte"
[[ $(grep -c -E '^(2026-12-07|FORGED)' <<<"$top" || true) -eq 0 ]] || evc_fail "top printed a forged line"
grep -q -F 'legacy-evil\n2026-' <<<"$top" || evc_fail "top does not show the legacy name escaped: $top"
evc_ok "top: names escaped (cut at 24 bytes), no control byte"

# The metrics: every line a comment or a sample; labels escaped.
metrics=$(evc_in D curl -fsS --max-time 5 http://127.0.0.1:9466/metrics) || evc_fail "no metrics from D"
bad=$(grep -c -v -E '^(# (HELP|TYPE) |evcast_)' <<<"$metrics" || true)
[[ $bad -eq 0 ]] || evc_fail "$bad metrics line(s) are neither comment nor sample: $(grep -v -E '^(# |evcast_)' <<<"$metrics" | head -n 3)"
[[ $(LC_ALL=C grep -c $'[\e\a\r]' <<<"$metrics" || true) -eq 0 ]] || evc_fail "metrics hold a raw control byte"
grep -q -F 'evcast_peer_up{peer="legacy-evil\\n2026-12-07 00:00:00.000 [err] FORGED-LEGACY \\x1b[2J\\x1b]0;pwned\\x07"' <<<"$metrics" ||
	evc_fail "metrics label of the legacy name not as expected: $(grep -F legacy-evil <<<"$metrics" | head -n 1)"
evc_ok "metrics: $(wc -l <<<"$metrics") lines, all comments or samples; the label escaped"

evc_step "2. 6 000 forged HEARTBEAT names (3 000 legacy + 3 000 v2, at most 2 000 datagrams/s), then a real node"
t0=$(date +%s.%N)
forge --format legacy --count 3000 --rate 2000 flood-legacy || evc_fail "flood (legacy) failed"
forge --format v2 --count 3000 --per-datagram 8 --rate 2000 flood-v2 || evc_fail "flood (v2) failed"
evc_log "flood sent in $(echo "$(date +%s.%N) $t0" | awk '{printf "%.1f", $1 - $2}') s"
# Settled when the HEARTBEAT count stops moving (each forged name sent once).
hb_settled() {
	local a b
	a=$(evc_stat D heartbeats_rx)
	sleep 0.5
	b=$(evc_stat D heartbeats_rx)
	[[ $a -eq $b && $b -ge $TABLE ]]
}
evc_wait_for 20 "D has taken the flood" hb_settled || evc_fail "D received $(evc_stat D heartbeats_rx) heartbeats"
hb=$(evc_stat D heartbeats_rx)
refused=$(evc_stat D peers_refused)
evicted=$(evc_stat D peers_evicted)
npeers=$(evc_cli D peers --json | jq '.peers | length')
# every HEARTBEAT so far named a new peer: TABLE of them filled the table, each
# later one took the place of a DOWN entry (the first names time out while the
# flood still runs on a slow machine) or was refused
[[ $npeers -eq $TABLE ]] || evc_fail "the table holds $npeers peers, expected $TABLE"
[[ $((refused + evicted)) -eq $((hb - TABLE)) ]] ||
	evc_fail "peers_refused $refused + peers_evicted $evicted != $hb - $TABLE = $((hb - TABLE))"
[[ $refused -gt 0 ]] || evc_fail "nothing refused: the flood did not fill the table with UP peers"
evc_ok "$hb forged HEARTBEATs received (of 6 002 sent): table at its bound $npeers; $refused refused, $evicted DOWN evicted"

conf_r_started=$(date +%s)
evc_daemon_start R R "$EVC_TMP/R.xml"
evc_wait_for 30 "R UP on D (after the forged peers went DOWN)" evc_peer_is D R UP ||
	evc_fail "R never came UP on D: state $(evc_peer_state D R), peers_refused $(evc_stat D peers_refused), peers_evicted $(evc_stat D peers_evicted)"
evc_log "R UP on D $(($(date +%s) - conf_r_started)) s after its start (peer-timeout 4 s)"
evc_wait_for 10 "peerup event for R on D" evc_json_has "$EVC_TMP/D.events" \
	'.["Event-Subclass"] == "multicast::peerup" and .["Peer"] == "R"' || evc_fail "no multicast::peerup for R on D"
evicted_before=$evicted
evicted=$(evc_stat D peers_evicted)
[[ $evicted -gt $evicted_before ]] || evc_fail "R is UP but peers_evicted stayed at $evicted"
npeers=$(evc_cli D peers --json | jq '.peers | length')
[[ $npeers -le $TABLE ]] || evc_fail "the table grew past its bound: $npeers"
evc_ok "R came UP (peerup event, peers shows UP); peers_evicted $evicted, the table at $npeers <= $TABLE"

evc_step "3. the peer UP/DOWN log lines are bounded and every transition is accounted for"
evc_wait_for 15 "every entry of the full table DOWN once" evc_stat_ge D peerdowns $TABLE ||
	evc_fail "peerdowns only $(evc_stat D peerdowns)"
# a quiet moment: the same counters before and after reading the log
accounted() {
	local s1 s2 ups downs supp written
	s1=$(evc_stats D | jq -c '[.peerups, .peerdowns, .peer_log_suppressed]')
	written=$(grep -c -E '\] peer .* is (UP|DOWN) \(last seen ' "$LOG" || true)
	s2=$(evc_stats D | jq -c '[.peerups, .peerdowns, .peer_log_suppressed]')
	[[ $s1 == "$s2" ]] || return 1
	read -r ups downs supp < <(jq -r '@tsv' <<<"$s1")
	WRITTEN=$written UPS=$ups DOWNS=$downs SUPP=$supp
	[[ $((written + supp)) -eq $((ups + downs)) ]]
}
evc_wait_for 10 "written + suppressed = peerups + peerdowns" accounted ||
	evc_fail "peer lines: written ${WRITTEN:-?} + suppressed ${SUPP:-?} != peerups ${UPS:-?} + peerdowns ${DOWNS:-?}"
life=$(($(date +%s) - D_T0 + 1))
bound=$((BURST + life))
[[ $WRITTEN -le $bound ]] || evc_fail "$WRITTEN peer lines written in $life s, bound $bound"
[[ $SUPP -ge 8000 ]] || evc_fail "only $SUPP peer lines suppressed (expected most of ~8 200 transitions)"
has_summary() { grep -q -F 'peer UP/DOWN line(s) suppressed (rate limit)' "$LOG"; }
evc_wait_for 5 "a line reporting the suppressed count" has_summary || evc_fail "no line reports the suppressed count"
evc_ok "peer lines: $WRITTEN written (bound $BURST + 1/s over $life s = $bound), $SUPP suppressed, for $UPS UP + $DOWNS DOWN; $(grep -c -F 'line(s) suppressed' "$LOG") line(s) report the suppressed counts"
evc_ok "the unlimited daemon would have written $((UPS + DOWNS)) peer lines"
evc_alive D || evc_fail "evcastd D died"
