#!/usr/bin/env bash
# it_nats_sites.sh -- two sites bridged through NATS (docs/MULTISITE.md).
#
# Topology: one private bridge; n1, n2 run two clustered nats-servers (their
# only listening addresses are on that bridge); site 1 = a1, a2, a3 on group
# G1, site 2 = b1, b2 on group G2 (different groups: multicast never crosses).
# a1, a3 and b1 are gateways (nats.conf gateway=yes), a2 and b2 multicast only
# (nats.conf connect=no: the exactly-once filter without a NATS connection).
# Checks: an event sent on a2 arrives exactly once on b1 and b2 (and a2's
# heartbeats make it a peer there); an event sent on b2 arrives exactly once on
# a1, a2 and a3 despite two gateways in site 1; a registration made on a2 is
# locatable on b2; after a1's nats-server is killed the gateways reconnect to
# the other and events sent after that still arrive exactly once. `evcast
# peers` shows the link; `evcast stats` counts it. Both nats-servers run inside
# the test's namespaces and stop with it.
source "$(dirname "$0")/lib.sh"
evc_require
command -v nats-server >/dev/null || evc_fail "missing tool 'nats-server' (scripts/deps.sh installs it)"
command -v curl >/dev/null || evc_fail "missing tool 'curl'"

G1=239.255.42.31
G2=239.255.42.32
PORT=4242
N1=$(evc_netns_host_addr 1)
N2=$(evc_netns_host_addr 2)
URLS="nats://$N1:4222,nats://$N2:4222"
BINDINGS="HEARTBEAT CUSTOM test::ping sofia::register sofia::unregister sofia::expire evcast::regsync"

evc_step "namespaces: n1 n2 (nats-servers), a1 a2 a3 (site 1), b1 b2 (site 2)"
evc_lan n1 n2 a1 a2 a3 b1 b2

# nats ID HOST OTHER: a nats-server on HOST's address, clustered with OTHER's.
declare -A NATS_PID=()
nats() {
	local id=$1 me=$2 other=$3
	ip netns exec "$(evc_ns "$id")" nats-server -a "$me" -p 4222 -n "evc-$id" --cluster "nats://$me:6222" \
		--cluster_name evcast-it --routes "nats://$other:6222" >"$EVC_TMP/nats-$id.log" 2>&1 &
	NATS_PID[$id]=$!
	EVC_BG+=($!)
}
nats n1 "$N1" "$N2"
nats n2 "$N2" "$N1"
routed() { grep -q "Route connection created\|route.*connected" "$EVC_TMP/nats-$1.log" 2>/dev/null; }
evc_wait_for 15 "the two nats-servers routed to each other" routed n1 ||
	evc_fail "nats cluster did not form: $(tail -n 20 "$EVC_TMP/nats-n1.log")"

# conf ID GROUP GATEWAY: event_multicast.conf (+ nats.conf when GATEWAY=yes,
# + registrations.conf on a2/b2).
conf() {
	local id=$1 group=$2 gw=$3
	{
		cat <<-EOF
			<evcast>
			  <configuration name="event_multicast.conf">
			    <settings>
			      <param name="address" value="$group"/>
			      <param name="port" value="$PORT"/>
			      <param name="bindings" value="$BINDINGS"/>
			      <param name="node-name" value="$id"/>
			      <param name="multicast-interface" value="eth0"/>
			      <param name="heartbeat-interval" value="1"/>
			      <param name="peer-timeout" value="5"/>
			      <param name="control-socket" value="$EVC_TMP/$id.sock"/>
			      <param name="log-level" value="info"/>
			    </settings>
			  </configuration>
		EOF
		if [[ "$gw" == yes ]]; then
			cat <<-EOF
				  <configuration name="nats.conf">
				    <settings>
				      <param name="url" value="$URLS"/>
				      <param name="cluster" value="it"/>
				      <param name="gateway" value="yes"/>
				      <param name="max-pending-bytes" value="1048576"/>
				    </settings>
				  </configuration>
			EOF
			[[ "$id" == a1 ]] && echo '  <configuration name="metrics.conf"><settings><param name="enabled" value="yes"/></settings></configuration>'
		fi
		if [[ "$gw" != yes ]]; then # two gateways in site 1: members filter duplicates
			cat <<-EOF
				  <configuration name="nats.conf">
				    <settings>
				      <param name="connect" value="no"/>
				    </settings>
				  </configuration>
			EOF
		fi
		if [[ "$id" == a2 || "$id" == b2 ]]; then
			cat <<-EOF
				  <configuration name="registrations.conf">
				    <settings>
				      <param name="db-path" value="$EVC_TMP/$id.db"/>
				    </settings>
				  </configuration>
			EOF
		fi
		echo '</evcast>'
	} >"$EVC_TMP/$id.xml"
}

evc_step "daemons"
for spec in a1:$G1:yes a2:$G1:no a3:$G1:yes b1:$G2:yes b2:$G2:no; do
	IFS=: read -r id group gw <<<"$spec"
	conf "$id" "$group" "$gw"
	evc_daemon_start "$id" "$id" "$EVC_TMP/$id.xml"
done

linked() { evc_cli "$1" peers 2>/dev/null | grep "^NATS: connected to nats://" >/dev/null; }
for id in a1 a3 b1; do
	evc_wait_for 15 "$id connected to NATS" linked "$id" || evc_fail "$id not connected: $(tail -n 20 "$EVC_TMP/$id.log")"
done
evc_ok "gateways connected: $(evc_cli b1 peers | grep '^NATS:')"
evc_cli a1 peers --json | jq -e '.nats.connected == true and .nats.cluster == "it"' >/dev/null ||
	evc_fail "peers --json has no nats link: $(evc_cli a1 peers --json)"

# Heartbeats cross both ways: each site sees the other's nodes as peers.
evc_wait_for 20 "b2 sees a2 (through NATS and b1)" evc_peer_is b2 a2 UP || evc_fail "b2: $(evc_cli b2 peers)"
evc_wait_for 20 "a2 sees b2 (through NATS and a1/a3)" evc_peer_is a2 b2 UP || evc_fail "a2: $(evc_cli a2 peers)"
evc_ok "cross-site peers up"

for id in a1 a2 a3 b1 b2; do evc_listen "$id" "$EVC_TMP/$id.listen"; done

# count ID TESTID: received copies of test::ping TESTID on ID.
count() { evc_json_count "$EVC_TMP/$1.listen" ".[\"Orig-X-Test-Id\"] == \"$2\""; }
# once FROM TESTID ID...: fire test::ping on FROM; each ID gets it exactly once.
once() {
	local from=$1 tid=$2 id
	shift 2
	evc_cli "$from" send CUSTOM test::ping -H "X-Test-Id: $tid" >/dev/null || evc_fail "send on $from"
	for id in "$@"; do
		evc_wait_for 10 "$tid on $id" evc_json_has "$EVC_TMP/$id.listen" ".[\"Orig-X-Test-Id\"] == \"$tid\"" ||
			evc_fail "$tid sent on $from never reached $id"
	done
	sleep 1.5 # late duplicates (a second gateway, the other path) would show up here
	for id in "$@"; do
		[[ "$(count "$id" "$tid")" -eq 1 ]] || evc_fail "$tid reached $id $(count "$id" "$tid") times"
	done
	[[ "$(count "$from" "$tid")" -eq 0 ]] || evc_fail "$tid came back to its sender $from"
	evc_ok "$tid from $from: exactly once on $*"
}

evc_step "site 1 -> site 2"
for i in 1 2 3; do once a2 "a2-$i" a1 a3 b1 b2; done
evc_step "site 2 -> site 1 (two gateways in site 1)"
for i in 1 2 3; do once b2 "b2-$i" b1 a1 a2 a3; done
once a1 "a1-1" a2 a3 b1 b2

evc_step "registration on a2 locatable on b2"
evc_cli a2 send CUSTOM sofia::register -H 'profile-name: internal' -H 'from-user: 1001' \
	-H 'from-host: example.test' -H 'contact: "1001" <sip:1001@10.250.0.99:5060;transport=udp>' \
	-H 'call-id: nats-1' -H 'expires: 600' -H 'network-ip: 10.250.0.99' -H 'network-port: 5060' \
	-H 'status: Registered(UDP)' >/dev/null || evc_fail "sofia::register on a2"
located() { evc_cli b2 locate 1001@example.test >/dev/null 2>&1; }
evc_wait_for 10 "1001@example.test locatable on b2" located || evc_fail "b2 cannot locate 1001@example.test"
evc_ok "b2: $(evc_cli b2 locate 1001@example.test)"

evc_step "kill the nats-server a1 is connected to: the gateways fail over to the other"
cur=$(evc_cli a1 peers | sed -n 's|^NATS: connected to nats://\([0-9.]*\):4222.*|\1|p')
if [[ "$cur" == "$N1" ]]; then dead=n1 live=$N2; else dead=n2 live=$N1; fi
evc_log "a1 is on $cur: killing $dead"
kill -9 "${NATS_PID[$dead]}"
wait "${NATS_PID[$dead]}" 2>/dev/null || true
on_live() { evc_cli "$1" peers 2>/dev/null | grep "^NATS: connected to nats://$live:4222" >/dev/null; }
for id in a1 a3 b1; do
	evc_wait_for 20 "$id connected to $live" on_live "$id" || evc_fail "$id: $(evc_cli "$id" peers | grep NATS)"
done
[[ "$(evc_cli a1 stats | jq '.nats.reconnects')" -ge 1 ]] || evc_fail "a1 did not count its reconnect"
sleep 1 # subscriptions re-sent on reconnect
for i in 1 2; do
	once a2 "after-a2-$i" a1 a3 b1 b2
	once b2 "after-b2-$i" b1 a1 a2 a3
done
for id in a1 a3 b1; do
	st=$(evc_cli "$id" stats | jq -c '.nats')
	evc_log "$id nats: $st"
	jq -e '.published > 0 and .received > 0 and .dropped == 0' >/dev/null <<<"$st" || evc_fail "$id counters: $st"
done
dups=$(( $(evc_cli a1 stats | jq '.nats.duplicates') + $(evc_cli a3 stats | jq '.nats.duplicates') + $(evc_cli b1 stats | jq '.nats.duplicates') ))
[[ $dups -gt 0 ]] || evc_fail "no duplicate was ever filtered (two gateways should produce some)"
evc_ok "duplicates filtered by the gateways: $dups"
metrics=$(evc_in a1 curl -fsS --max-time 5 http://127.0.0.1:9464/metrics) || evc_fail "a1 metrics"
grep -q '^evcast_nats_connected 1$' <<<"$metrics" || evc_fail "no evcast_nats_connected in a1's metrics"
grep -Eq '^evcast_nats_published_total [1-9]' <<<"$metrics" || evc_fail "no evcast_nats_published_total in a1's metrics"
grep -Eq '^evcast_nats_reconnects_total [1-9]' <<<"$metrics" || evc_fail "no evcast_nats_reconnects_total in a1's metrics"
evc_ok "a1's metrics show the NATS link"
evc_log "PASS"
