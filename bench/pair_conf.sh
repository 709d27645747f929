# pair_conf.sh -- sourced by bench_v2.sh and bench_ab.sh: the configuration of
# one daemon of the A -> B bench pair (1 KiB CUSTOM bench::v2 events, eth0 in
# its namespace, large retransmit/hold buffers so that no run is bound by them).
#
# pair_conf FILE ID GROUP PORT SOCKET MODE [KEY]: writes FILE for node ID;
# MODE legacy | v2plain | v2aead (v2aead needs KEY, from `evcast keygen`).
pair_conf() {
	local file=$1 id=$2 group=$3 port=$4 sock=$5 mode=$6 key=${7:-} proto=()
	case $mode in
	legacy) proto=(protocol legacy) ;;
	v2plain) proto=(protocol v2) ;;
	v2aead) proto=(protocol v2 v2-keys "$key") ;;
	*) echo "pair_conf: mode $mode: legacy, v2plain or v2aead" >&2; return 2 ;;
	esac
	{
		echo '<configuration name="event_multicast.conf"><settings>'
		printf '<param name="%s" value="%s"/>\n' address "$group" port "$port" bindings "CUSTOM bench::v2" \
			ttl 1 loopback no node-name "$id" multicast-interface eth0 heartbeat-interval 5 \
			control-socket "$sock" log-level warning retransmit-bytes 16777216 \
			hold-bytes 16777216 "${proto[@]}"
		echo '</settings></configuration>'
	} >"$file"
}
