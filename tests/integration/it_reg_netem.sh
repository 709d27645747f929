#!/usr/bin/env bash
# it_reg_netem.sh -- registration tables converge after loss, reordering and duplication.
#
# Topology: A, B, C in their own network namespaces on a private bridge; every
# host drops 10 % of the datagrams it receives (nftables `numgen random`: this
# kernel has no sch_netem) and its daemon duplicates 5 % and reorders 10 % of
# what it receives (EVCAST_IMPAIR, src/lib/impair.c) while OPS (the issue's
# 20 000) register/unregister operations are made on A and B (OPS/2 each,
# every fourth user unregistered again). kill -9 of C in the middle and its
# restart (it rejoins from one donor). Then the loss is removed and within
# GOAL (3 s) all three tables must be identical and equal to the expected set
# (anti-entropy digests repair what was lost); the time is measured from the
# loss removal to the moment the three tables were fetched (by their digests,
# then compared in full). Under a sanitizer build the defaults are OPS=4000
# and GOAL=10 (NETEM_GOAL sets it). To see where the time goes:
# LOG_LEVEL=info REG_NETEM_LOGS=DIR (the daemons' logs copied there: digest
# rounds, differing buckets and leaves, repairs with their size and duration).
source "$(dirname "$0")/lib.sh"
evc_require
if ldd "$EVCASTD" 2>/dev/null | grep -E 'lib(a|ub|t)san' >/dev/null; then
	OPS=${OPS:-4000} GOAL=${NETEM_GOAL:-10}
else
	OPS=${OPS:-20000} GOAL=${NETEM_GOAL:-3}
fi
export EVCAST_IMPAIR=${EVCAST_IMPAIR:-dup=0.05,reorder=0.1,seed=$$}
SETTLE=${SETTLE:-15} # polling stops then (a failure message with the counts)
GROUP=239.255.42.10
BINDINGS="HEARTBEAT CUSTOM sofia::register sofia::unregister sofia::expire evcast::regsync"

conf() {
	cat >"$EVC_TMP/$1.xml" <<-EOF
		<evcast>
		  <configuration name="event_multicast.conf">
		    <settings>
		      <param name="address" value="$GROUP"/>
		      <param name="port" value="4242"/>
		      <param name="bindings" value="$BINDINGS"/>
		      <param name="node-name" value="$2"/>
		      <param name="multicast-interface" value="eth0"/>
		      <param name="heartbeat-interval" value="1"/>
		      <param name="peer-timeout" value="3"/>
		      <param name="control-socket" value="$EVC_TMP/$1.sock"/>
		      <param name="log-level" value="${LOG_LEVEL:-notice}"/>
		    </settings>
		  </configuration>
		  <configuration name="registrations.conf">
		    <settings>
		      <param name="db-path" value="$EVC_TMP/$2.db"/>
		      <param name="sync-join-wait-ms" value="1500"/>
		      <param name="anti-entropy-interval-ms" value="800"/>
		    </settings>
		  </configuration>
		</evcast>
	EOF
}

# ops ID FIRST COUNT: register COUNT users from FIRST on daemon ID, unregistering every fourth.
ops() { "$EVC_PY" "$EVC_LIB_DIR/regops.py" "${EVC_SOCK[$1]}" "mix:$2-$(($2 + $3 - 1))"; }

# users ID: "USER NODE" per live registration of daemon ID, sorted (from the CSV
# table: reg_user is column 1, hostname (the owning node) column 9; jq on the
# JSON takes ~0.4 s per 15 k rows, too slow to time convergence).
rows() { awk -F, 'NR > 1 && NF >= 13 {print $1, $9}' "$1" | LC_ALL=C sort; }
users() { evc_cli "$1" registrations >"$EVC_TMP/$1.csv" && rows "$EVC_TMP/$1.csv"; }
# digest ID: the hash of daemon ID's whole table (live and tombstones, with
# versions), from `show registrations` stats (no rows: --node matching none).
digest() { evc_cli "$1" registrations --json --node "-" | jq -r .stats.sync.table_digest; }
# converged C: A, B and C hold the same table at t_snap (three digests fetched
# just before it), and that table is the expected one (compared afterwards,
# then A's digest again: unchanged, so it was already the table at t_snap).
# Polls take ~0.1 s; the comparison's time is not counted.
converged() {
	local a b c
	a=$(digest A) b=$(digest B) c=$(digest "$1")
	t_snap=$(date +%s.%N)
	[[ -n "$a" && "$a" != null && "$a" == "$b" && "$a" == "$c" ]] || return 1
	[[ "$(users A)" == "$EXPECTED" && "$(users B)" == "$EXPECTED" && "$(users "$1")" == "$EXPECTED" ]] &&
		[[ "$(digest A)" == "$a" ]]
}

loss() {
	local h
	for h in A B C; do
		if [[ $1 == on ]]; then
			evc_loss_on $h 4242 10
		else
			evc_loss_off $h
		fi
	done
}

evc_step "network: A, B, C; daemons with sync and anti-entropy"
evc_lan A B C
for h in A B C; do
	conf $h $h
	evc_daemon_start $h $h "$EVC_TMP/$h.xml"
done
grep -q "EVCAST_IMPAIR: test fault injection on" "$EVC_TMP/A.log" || evc_fail "the duplication/reordering is not active"
evc_wait_for 8 "A sees B and C UP" eval 'evc_peer_is A B UP && evc_peer_is A C UP' || evc_fail "peers not up"
half=$((OPS / 2))
EXPECTED=$( {
	for ((u = 100000; u < 100000 + half; u++)); do ((u % 4)) && echo "$u A"; done
	for ((u = 200000; u < 200000 + half; u++)); do ((u % 4)) && echo "$u B"; done
} | LC_ALL=C sort)

command -v nft >/dev/null || evc_skip "needs nft (nftables) for the loss"
evc_step "10 % loss on every host; $OPS operations on A and B; kill -9 of C in the middle"
loss on # evc_loss_on checks each rule is in place
ops A 100000 $((half / 2)) &
pa=$!
ops B 200000 "$half" &
pb=$!
wait $pa || evc_fail "operations on A failed"
evc_daemon_kill9 C
ops A $((100000 + half / 2)) $((half - half / 2)) || evc_fail "operations on A failed"
wait $pb || evc_fail "operations on B failed"
conf C2 C
evc_daemon_start C2 C "$EVC_TMP/C2.xml"
evc_log "  during the loss: A $(users A | wc -l), B $(users B | wc -l), C $(users C2 | wc -l) live; expected $(wc -l <<<"$EXPECTED")"

evc_step "loss removed: within ${GOAL}s all three tables equal the expected set ($OPS operations)"
loss off
t0=$(date +%s.%N)
[[ -z ${REG_NETEM_LOGS:-} ]] || evc_log "  loss off at $(date +%T.%N)"
evc_wait_for "$SETTLE" "A, B and C converged" converged C2 ||
	evc_fail "not converged: A $(users A | wc -l), B $(users B | wc -l), C $(users C2 | wc -l), expected \
$(wc -l <<<"$EXPECTED"); diff A: $(diff <(echo "$EXPECTED") <(users A) | head -n 3)"
dt=$(awk -v a="$t0" -v b="$t_snap" 'BEGIN {printf "%.2f", b - a}')
sync_stats() { evc_cli "$1" registrations --json | jq -c '.stats.sync | {repairs, pushes, prompt_digests,
	entries_sent, fast_retransmits, retransmits, repairs_busy, requests_dropped}'; }
evc_log "  sync A $(sync_stats A)"
evc_log "  sync B $(sync_stats B)"
evc_log "  sync C $(sync_stats C2)"
[[ -z ${REG_NETEM_LOGS:-} ]] || cp "$EVC_TMP"/*.log "$REG_NETEM_LOGS"/
awk -v d="$dt" -v g="$GOAL" 'BEGIN {exit !(d > g)}' &&
	evc_fail "converged ${dt}s after the loss stopped: over the ${GOAL}s goal"
evc_ok "converged ${dt}s after the loss stopped (goal ${GOAL}s; $(wc -l <<<"$EXPECTED") live on each)"
