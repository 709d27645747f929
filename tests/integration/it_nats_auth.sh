#!/usr/bin/env bash
# it_nats_auth.sh -- the NATS link's other authentication methods (docs/MULTISITE.md
# "Security"): an NKey (nats.conf nkey + nkey-seed-file, the pair made for this run
# with nkeys.js, the NATS project's own library) and user + password, against a
# nats-server whose authorization block lists exactly those two users.
#
# Topology: one private bridge; n1 runs nats-server; a1 (group G1, NKey) and b1
# (group G2, user+password) are evcastd nodes linked only through NATS. Checks:
# both connect; an event on a1 arrives on b1 exactly once and one from b1 on a1;
# a node with an NKey the server does not list, and one with a wrong password,
# each log a clear line naming the authorization failure and show "NATS:
# disconnected" in `evcast peers`, and keep running; a seed file that is not
# readable stops the start with a message naming nkey-seed-file.
source "$(dirname "$0")/lib.sh"
evc_require
command -v nats-server >/dev/null || evc_fail "missing tool 'nats-server' (scripts/deps.sh installs it)"
command -v node >/dev/null || evc_fail "missing node (scripts/npm-deps.sh installs it)"
NKJS="$EVC_LIB_DIR/nats/nkey_user.js"
[[ -d "$EVC_LIB_DIR/nats/node_modules/nkeys.js" ]] ||
	evc_fail "nkeys.js not installed in $EVC_LIB_DIR/nats (run scripts/npm-deps.sh)"

G1=239.255.42.43
G2=239.255.42.44
PORT=4244
N1=$(evc_netns_host_addr 1)
URL="nats://$N1:4222"
PASS="pw-$RANDOM$RANDOM"

evc_step "keys: two NKey user pairs (nkeys.js), one of them authorized"
node "$NKJS" >"$EVC_TMP/good.nk" || evc_fail "nkeys.js failed"
node "$NKJS" >"$EVC_TMP/bad.nk" || evc_fail "nkeys.js failed"
GOOD_PUB=$(sed -n 2p "$EVC_TMP/good.nk")
BAD_PUB=$(sed -n 2p "$EVC_TMP/bad.nk")
sed -n 1p "$EVC_TMP/good.nk" >"$EVC_TMP/good.seed"
sed -n 1p "$EVC_TMP/bad.nk" >"$EVC_TMP/bad.seed"
chmod 600 "$EVC_TMP"/*.seed
[[ $GOOD_PUB == U* && ${#GOOD_PUB} -eq 56 ]] || evc_fail "not a user public key: $GOOD_PUB"
evc_ok "authorized $GOOD_PUB; unlisted $BAD_PUB"

evc_step "nats-server on n1 with an authorization block: the NKey and user evc/PASS"
cat >"$EVC_TMP/nats.conf" <<-NATS
	listen: "$N1:4222"
	server_name: evc-auth
	authorization {
	  users = [
	    { nkey: "$GOOD_PUB" }
	    { user: "evc", password: "$PASS" }
	  ]
	}
NATS
evc_lan n1 a1 b1 c1
evc_nats_server n1 "$EVC_TMP/nats.log" -c "$EVC_TMP/nats.conf"

# conf ID GROUP [nats.conf params...]
conf() {
	local id=$1 group=$2
	shift 2
	evc_conf_blocks "$EVC_TMP/$id.xml" address="$group" port="$PORT" bindings="CUSTOM test::ping" \
		node-name="$id" multicast-interface=eth0 heartbeat-interval=1 control-socket="$EVC_TMP/$id.sock" \
		log-level=info nats.conf url="$URL" cluster=auth "$@"
}
linked() { evc_cli "$1" peers 2>/dev/null | grep "^NATS: connected to $URL" >/dev/null; }

evc_step "a1 (NKey) and b1 (user + password) connect"
conf a1 "$G1" nkey="$GOOD_PUB" nkey-seed-file="$EVC_TMP/good.seed"
conf b1 "$G2" user=evc password="$PASS"
evc_daemon_start a1 a1 "$EVC_TMP/a1.xml"
evc_daemon_start b1 b1 "$EVC_TMP/b1.xml"
for id in a1 b1; do
	evc_wait_for 10 "$id connected" linked "$id" ||
		evc_fail "$id: $(evc_cli "$id" peers | grep NATS) $(tail -n 5 "$EVC_TMP/$id.log")"
done
evc_ok "a1: $(evc_cli a1 peers | grep '^NATS:')"

evc_step "events cross both ways, once each"
evc_listen a1 "$EVC_TMP/a1.listen"
evc_listen b1 "$EVC_TMP/b1.listen"
evc_cli a1 send CUSTOM test::ping -H "X-Test-Id: from-a1" >/dev/null || evc_fail "send on a1"
evc_cli b1 send CUSTOM test::ping -H "X-Test-Id: from-b1" >/dev/null || evc_fail "send on b1"
got() { evc_json_has "$EVC_TMP/$1.listen" ".[\"Orig-X-Test-Id\"] == \"$2\""; }
evc_wait_for 10 "from-a1 on b1" got b1 from-a1 || evc_fail "from-a1 never reached b1: $(tail -n 5 "$EVC_TMP/b1.log")"
evc_wait_for 10 "from-b1 on a1" got a1 from-b1 || evc_fail "from-b1 never reached a1: $(tail -n 5 "$EVC_TMP/a1.log")"
sleep 1
for pair in "b1 from-a1" "a1 from-b1"; do
	set -- $pair
	n=$(evc_json_count "$EVC_TMP/$1.listen" ".[\"Orig-X-Test-Id\"] == \"$2\"")
	[[ $n -eq 1 ]] || evc_fail "$2 arrived $n times on $1"
done
evc_ok "from-a1 once on b1, from-b1 once on a1"

# down ID WHAT: node ID logs an authorization failure and shows the link down.
down() {
	local id=$1 what=$2
	logged() { grep -E "nats: link to .* down: .*[Aa]uthoriz" "$EVC_TMP/$id.log" >/dev/null; }
	evc_wait_for 10 "$id logs why ($what)" logged || evc_fail "$id: no clear log line: $(tail -n 5 "$EVC_TMP/$id.log")"
	evc_cli "$id" peers | grep "^NATS: disconnected from $URL" >/dev/null ||
		evc_fail "$id peers: $(evc_cli "$id" peers | grep NATS)"
	evc_alive "$id" || evc_fail "$id died"
	evc_ok "$what: $(grep -E -o "nats: link to .* down: .*" "$EVC_TMP/$id.log" | head -n 1)"
}

evc_step "an NKey the server does not list; a wrong password"
conf c1 "$G1" nkey="$BAD_PUB" nkey-seed-file="$EVC_TMP/bad.seed"
evc_daemon_start c1 c1 "$EVC_TMP/c1.xml"
down c1 "unlisted NKey"
evc_daemon_stop c1 || evc_fail "c1 did not stop cleanly"
conf c2 "$G1" user=evc password="not-$PASS"
evc_daemon_start c2 c1 "$EVC_TMP/c2.xml"
down c2 "wrong password"
evc_daemon_stop c2 || evc_fail "c2 did not stop cleanly"

evc_step "a seed file that cannot be read stops the start, naming it"
conf c3 "$G1" nkey="$GOOD_PUB" nkey-seed-file="$EVC_TMP/missing.seed"
rc=0
timeout 10 ip netns exec "$(evc_ns c1)" "$EVCASTD" --config "$EVC_TMP/c3.xml" --foreground \
	>"$EVC_TMP/c3.log" 2>&1 || rc=$?
if [[ $rc -ne 0 && $rc -ne 124 ]]; then
	grep -i "nkey" "$EVC_TMP/c3.log" >/dev/null || evc_fail "refused without naming the seed: $(cat "$EVC_TMP/c3.log")"
	evc_ok "refused: $(grep -i nkey "$EVC_TMP/c3.log" | head -n 1)"
else
	evc_fail "evcastd started (rc $rc) with an unreadable nkey-seed-file: $(tail -n 5 "$EVC_TMP/c3.log")"
fi
evc_daemon_stop a1 || evc_fail "a1 did not stop cleanly"
evc_daemon_stop b1 || evc_fail "b1 did not stop cleanly"
evc_ok "done"
