# shellcheck shell=bash
# lib.sh -- shared helpers for evcast's integration tests (sourced, bash).
#
# Contract: a test sources this, builds its hosts with evc_lan/evc_lo (private
# network namespaces named evc<pid>-*, deleted by the EXIT trap with every
# daemon and listener the test started), writes configs with evc_conf, starts
# daemons with evc_daemon_start and waits with evc_wait_for (poll with a
# deadline, never a bare sleep). Nothing is ever sent outside those namespaces.
# Sections: environment, logging/failure, namespaces, configs, daemons and
# listeners, CLI queries (peers, stats), JSON helpers, raw UDP, cleanup.
# A missing capability (not root) exits 77 = SKIP; a missing tool is a failure.

set -euo pipefail

# ------------------------------------------------------------- environment
EVC_TEST=$(basename "$0" .sh)
EVC_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${EVCAST_SOURCE_DIR:=$(cd "$EVC_LIB_DIR/../.." && pwd)}"
: "${EVCAST_VECTORS:=$EVCAST_SOURCE_DIR/tests/vectors}"

# Standalone runs: find the binaries in the usual build directories.
evc__find_bin() {
	local name=$1 d
	for d in ${EVCAST_BUILD:-} build build-asan build-infra; do
		[[ -n "$d" ]] || continue
		[[ "$d" = /* ]] || d="$EVCAST_SOURCE_DIR/$d"
		if [[ -x "$d/$name" ]]; then echo "$d/$name"; return 0; fi
	done
	return 1
}
: "${EVCASTD:=$(evc__find_bin evcastd || true)}"
: "${EVCAST:=$(evc__find_bin evcast || true)}"

# Debian's python3 when present (a pyenv shim costs 0.3 s per start).
if [[ -x /usr/bin/python3 ]]; then EVC_PY=/usr/bin/python3; else EVC_PY=python3; fi
EVC_T0=$(date +%s.%N)
EVC_PREFIX="evc$$"
EVC_TMP=$(mktemp -d "${TMPDIR:-/tmp}/evcast-$EVC_TEST.XXXXXX")
declare -A EVC_PID=()     # daemon id -> pid
declare -A EVC_SOCK=()    # daemon id -> control socket
declare -A EVC_NSOF=()    # daemon id -> namespace
declare -A EVC_CONF=()    # daemon id -> config file
declare -A EVC_KILLED=()  # daemon id -> 1 when the test killed it on purpose
EVC_BG=()                 # other background pids (listeners)

# shellcheck source=../../scripts/netns.sh
source "$EVCAST_SOURCE_DIR/scripts/netns.sh"

# ------------------------------------------------------------ logging
evc_elapsed() { echo "$(date +%s.%N) $EVC_T0" | awk '{printf "%.1f", $1 - $2}'; }
evc_log() { echo "[$EVC_TEST +$(evc_elapsed)s] $*"; }
evc_step() { echo; evc_log "== $*"; }
evc_ok() { evc_log "ok: $*"; }

evc_fail() {
	echo "[$EVC_TEST +$(evc_elapsed)s] FAIL: $*" >&2
	exit 1
}

evc_skip() {
	echo "[$EVC_TEST] SKIP: $*"
	exit 77
}

evc_require() {
	[[ "$(id -u)" -eq 0 ]] || evc_skip "needs root (ip netns add)"
	local t
	for t in ip jq "$EVC_PY" timeout; do
		command -v "$t" >/dev/null || evc_fail "missing tool '$t' (scripts/deps.sh installs it)"
	done
	[[ -n "$EVCASTD" && -x "$EVCASTD" ]] || evc_fail "evcastd not found (set EVCASTD or build into build/)"
	[[ -n "$EVCAST" && -x "$EVCAST" ]] || evc_fail "evcast CLI not found (set EVCAST or build into build/)"
	evc_log "evcastd=$EVCASTD evcast=$EVCAST tmp=$EVC_TMP"
}

# ------------------------------------------------------------ namespaces
# evc_ns ID: the namespace name of host ID.
evc_ns() { echo "$EVC_PREFIX-$1"; }
# evc_lan HOST...: one namespace per host on a private bridge (see scripts/netns.sh).
evc_lan() { evc_netns_lan "$EVC_PREFIX" "$@"; }
# evc_lo ID: one namespace with multicast on lo.
evc_lo() { evc_netns_lo "$(evc_ns "$1")"; }
# evc_in ID CMD...: run CMD inside host ID's namespace.
evc_in() { local ns; ns=$(evc_ns "$1"); shift; ip netns exec "$ns" "$@"; }

# ------------------------------------------------------------ configs
evc_xml_escape() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g' <<<"$1"; }

# evc_conf FILE name=value...: an event_multicast.conf with these params, in order.
evc_conf() {
	local file=$1 kv
	shift
	{
		echo '<configuration name="event_multicast.conf" description="Multicast Event">'
		echo '  <settings>'
		for kv in "$@"; do
			printf '    <param name="%s" value="%s"/>\n' "$(evc_xml_escape "${kv%%=*}")" \
				"$(evc_xml_escape "${kv#*=}")"
		done
		echo '  </settings>'
		echo '</configuration>'
	} >"$file.tmp"
	mv "$file.tmp" "$file"
}

# evc_conf_blocks FILE [BLOCK.conf] name=value... [BLOCK.conf name=value...]: an
# <evcast> root holding one <configuration> per BLOCK (the first defaults to
# event_multicast.conf), each with the name=value params that follow it, in order.
evc_conf_blocks() {
	local file=$1 arg open=
	shift
	{
		echo '<evcast>'
		for arg in "$@"; do
			if [[ $arg != *=* && $arg == *.conf ]]; then
				[[ -z $open ]] || printf '  </settings></configuration>\n'
				printf '  <configuration name="%s"><settings>\n' "$arg"
				open=1
				continue
			fi
			if [[ -z $open ]]; then
				printf '  <configuration name="event_multicast.conf"><settings>\n'
				open=1
			fi
			printf '    <param name="%s" value="%s"/>\n' "$(evc_xml_escape "${arg%%=*}")" \
				"$(evc_xml_escape "${arg#*=}")"
		done
		[[ -z $open ]] || printf '  </settings></configuration>\n'
		echo '</evcast>'
	} >"$file.tmp"
	mv "$file.tmp" "$file"
}

# ------------------------------------------------------------ daemons
# evc_daemon_start ID HOST CONF: start evcastd in host HOST's namespace with CONF
# (whose control-socket must be $EVC_TMP/ID.sock); wait until it answers.
evc_daemon_start() {
	local id=$1 host=$2 conf=$3 sock="$EVC_TMP/$1.sock" ns
	ns=$(evc_ns "$host")
	grep -q "\"$sock\"" "$conf" || evc_fail "$conf: control-socket must be $sock"
	rm -f "$sock"
	ip netns exec "$ns" "$EVCASTD" --config "$conf" --foreground >>"$EVC_TMP/$id.log" 2>&1 &
	EVC_PID[$id]=$!
	EVC_SOCK[$id]=$sock
	EVC_NSOF[$id]=$ns
	EVC_CONF[$id]=$conf
	EVC_KILLED[$id]=0
	evc_wait_for 10 "daemon $id answering on its control socket" evc__daemon_ready "$id" ||
		evc_fail "daemon $id did not start (log: $EVC_TMP/$id.log)"
	evc_log "daemon $id up (pid ${EVC_PID[$id]}, ns $ns)"
}

evc__daemon_ready() {
	local id=$1
	evc_alive "$id" || evc_fail "daemon $id exited during start-up: $(tail -n 20 "$EVC_TMP/$id.log")"
	[[ -S "${EVC_SOCK[$id]}" ]] && "$EVCAST" -s "${EVC_SOCK[$id]}" peers >/dev/null 2>&1 </dev/null
}

evc_alive() { kill -0 "${EVC_PID[$1]}" 2>/dev/null; }

# evc_daemon_kill9 ID: SIGKILL, on purpose (not reported at cleanup).
evc_daemon_kill9() {
	EVC_KILLED[$1]=1
	kill -9 "${EVC_PID[$1]}" 2>/dev/null || true
	wait "${EVC_PID[$1]}" 2>/dev/null || true
}

evc_daemon_hup() { kill -HUP "${EVC_PID[$1]}"; }

# evc_daemon_stop ID: SIGTERM; the daemon must exit 0 within 10 s.
evc_daemon_stop() {
	local id=$1 pid=${EVC_PID[$1]} rc=0 i
	[[ "${EVC_KILLED[$id]}" == 1 ]] && return 0
	EVC_KILLED[$id]=1
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		echo "[$EVC_TEST] daemon $id did not exit within 10 s of SIGTERM" >&2
		return 1
	fi
	wait "$pid" || rc=$?
	if [[ $rc -ne 0 ]]; then
		echo "[$EVC_TEST] daemon $id exited with status $rc after SIGTERM" >&2
		return 1
	fi
	return 0
}

# evc_listen ID OUT [EVENT...]: `evcast listen --json` on daemon ID into OUT, in
# the background; returns once the first event (a local HEARTBEAT) is out.
evc_listen() {
	local id=$1 out=$2
	shift 2
	: >"$out"
	"$EVCAST" -s "${EVC_SOCK[$id]}" listen --json "$@" >"$out" 2>"$out.err" </dev/null &
	EVC_BG+=($!)
	evc_wait_for 10 "listener on $id streaming" evc_json_has "$out" 'true' ||
		evc_fail "listener on $id produced nothing: $(cat "$out.err")"
}

# ------------------------------------------------------------ waiting
# evc_wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.1 s until it
# succeeds (return 0) or the deadline passes (message, return 1).
evc_wait_for() {
	local secs=$1 desc=$2 end
	shift 2
	end=$(awk -v t="$(date +%s.%N)" -v s="$secs" 'BEGIN {printf "%.3f", t + s}')
	while :; do
		if "$@"; then return 0; fi
		if awk -v t="$(date +%s.%N)" -v e="$end" 'BEGIN {exit !(t > e)}'; then
			echo "[$EVC_TEST +$(evc_elapsed)s] timed out after ${secs}s waiting for: $desc" >&2
			return 1
		fi
		sleep 0.1
	done
}

# ------------------------------------------------------------ CLI queries
evc_cli() { local id=$1; shift; "$EVCAST" -s "${EVC_SOCK[$id]}" "$@" </dev/null; }

# evc_peer_state ID NAME: UP, DOWN or NONE as `evcast peers` shows it.
evc_peer_state() {
	local st
	st=$(evc_cli "$1" peers 2>/dev/null | awk -v n="$2" '
		{ for (i = 1; i < NF; i++) if ($i == "Peer" && $(i + 1) == n) { s = $(i + 2); sub(/;$/, "", s); print s; exit } }')
	echo "${st:-NONE}"
}
evc_peer_is() { [[ "$(evc_peer_state "$1" "$2")" == "$3" ]]; }

# evc_stats ID: the daemon's counters as one JSON object (`evcast stats`, or
# the "stats" member of `evcast peers --json`).
evc_stats() {
	local out
	if out=$(evc_cli "$1" stats 2>/dev/null) && jq -e 'type == "object"' >/dev/null 2>&1 <<<"$out"; then
		jq -c 'if has("stats") then .stats else . end' <<<"$out"
		return 0
	fi
	evc_cli "$1" peers --json | jq -c '.stats'
}
# evc_stat ID FIELD: one counter (0 when absent).
evc_stat() { evc_stats "$1" | jq -r --arg f "$2" '.[$f] // 0'; }
evc_stat_ge() { [[ "$(evc_stat "$1" "$2")" -ge "$3" ]]; }

# ------------------------------------------------------------ JSON helpers
# evc_json_count FILE FILTER: lines of FILE that parse as JSON and match the jq
# boolean FILTER (partial last lines are ignored).
evc_json_count() { jq -R -c "fromjson? | select($2)" "$1" 2>/dev/null | wc -l; }
evc_json_has() { [[ "$(evc_json_count "$1" "$2")" -ge "${3:-1}" ]]; }
# jq filter matching a multicast::event (optionally with Orig- header conditions).
EVC_JQ_MEVENT='.["Event-Name"] == "CUSTOM" and .["Event-Subclass"] == "multicast::event" and .["Multicast"] == "yes"'

# ------------------------------------------------------------ loss
# This kernel has no sch_netem: loss is an nftables rule in the host's own
# namespace (table inet evcloss), dropping and counting datagrams at random.
# evc_loss_on HOST PORT EVERY: drop 1 in EVERY UDP datagrams to PORT arriving at HOST.
evc_loss_on() {
	local host=$1 port=$2 every=$3 rules
	evc_in "$host" nft add table inet evcloss
	evc_in "$host" nft add chain inet evcloss in '{ type filter hook input priority 0; policy accept; }'
	evc_in "$host" nft add rule inet evcloss in udp dport "$port" numgen random mod "$every" 0 counter drop
	rules=$(evc_in "$host" nft list table inet evcloss) # not piped into grep -q (pipefail, SIGPIPE)
	[[ "$rules" == *"numgen random mod $every"* ]] || evc_fail "loss rule not installed on $host: $rules"
}
# evc_loss_off HOST: the loss rule removed.
evc_loss_off() { evc_in "$1" nft delete table inet evcloss; }
# evc_loss_dropped HOST: datagrams the loss rule dropped so far.
evc_loss_dropped() { evc_in "$1" nft list chain inet evcloss in | sed -n 's/.*counter packets \([0-9]*\).*/\1/p'; }

# ------------------------------------------------------------ NATS
# evc_nats_server HOST LOG ARGS...: nats-server ARGS in HOST's namespace, its
# log in LOG, in the background (stopped at cleanup); returns once it is ready.
evc_nats_server() {
	local host=$1 log=$2
	shift 2
	ip netns exec "$(evc_ns "$host")" nats-server "$@" >"$log" 2>&1 &
	EVC_BG+=($!)
	evc_wait_for 10 "nats-server on $host ready" grep -q "Server is ready" "$log" ||
		evc_fail "nats-server on $host: $(tail -n 20 "$log")"
}

# ------------------------------------------------------------ raw UDP
# evc_udp_send HOST FILE GROUP PORT IFADDR: send FILE's bytes as one datagram
# from inside HOST's namespace to GROUP:PORT (multicast, TTL 1, via IFADDR).
evc_udp_send() {
	local host=$1 file=$2 group=$3 port=$4 ifaddr=$5
	case "$group" in
	239.255.* | 127.*) ;;
	*) evc_fail "evc_udp_send: refusing destination $group (tests use 239.255.x.y or loopback)" ;;
	esac
	evc_in "$host" "$EVC_PY" - "$file" "$group" "$port" "$ifaddr" <<-'EOF'
		import socket, sys
		path, group, port, ifaddr = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
		s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
		s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
		s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ifaddr))
		with open(path, "rb") as f:
		    s.sendto(f.read(), (group, port))
	EOF
}

# ------------------------------------------------------------ cleanup
evc__cleanup() {
	local rc=$1 id pid bad=0
	set +e
	for pid in "${EVC_BG[@]}"; do kill "$pid" 2>/dev/null; done
	for id in "${!EVC_PID[@]}"; do
		evc_daemon_stop "$id" || bad=1
	done
	for pid in "${EVC_BG[@]}"; do wait "$pid" 2>/dev/null; done
	evc_netns_del "$EVC_PREFIX"
	# Sanitizer reports in any daemon or CLI log fail the test.
	if grep -l -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$EVC_TMP"/* >/dev/null 2>&1; then
		echo "[$EVC_TEST] sanitizer report(s):" >&2
		grep -E -A 30 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$EVC_TMP"/* | head -n 80 >&2
		bad=1
	fi
	[[ $rc -eq 0 && $bad -ne 0 ]] && rc=1
	if [[ $rc -ne 0 && $rc -ne 77 ]]; then
		for id in "${!EVC_PID[@]}"; do
			echo "---- $id.log (last 40 lines) ----" >&2
			tail -n 40 "$EVC_TMP/$id.log" >&2
		done
	fi
	if [[ $rc -eq 0 || -z "${EVC_KEEP_TMP:-}" ]]; then
		rm -rf "$EVC_TMP"
	else
		echo "[$EVC_TEST] logs kept in $EVC_TMP" >&2
	fi
	if [[ $rc -eq 0 ]]; then
		evc_log "PASS"
	elif [[ $rc -ne 77 ]]; then
		echo "[$EVC_TEST +$(evc_elapsed)s] FAILED (status $rc)" >&2
	fi
	exit "$rc"
}
trap 'evc__cleanup $?' EXIT
trap 'exit 130' INT TERM
