#!/usr/bin/env bash
# netns.sh -- private network namespaces for evcast's tests and quick starts.
#
# Contract: everything this creates lives inside network namespaces whose names
# start with a prefix matching ^evc[A-Za-z0-9_]*- ; nothing is added to, routed
# through or sent from the host's own namespace. Two topologies:
#   lan PREFIX HOST...  one namespace per host (PREFIX-HOST, interface eth0,
#                       10.250.0.N/24) joined by veth pairs to a bridge that
#                       itself lives in the namespace PREFIX-br; multicast
#                       (224.0.0.0/4) is routed to eth0 in every host.
#   lo NAME             one namespace with lo up, multicast on lo, 224/4 via lo.
#   del PREFIX          deletes every namespace PREFIX-*.   list: shows ours.
# Source it for the functions (evc_netns_*), or run it with a command (needs root).

evc__netns_check_prefix() {
	[[ "$1" =~ ^evc[A-Za-z0-9_]*$ ]] || {
		echo "netns: refusing prefix '$1' (must match ^evc[A-Za-z0-9_]*\$)" >&2
		return 2
	}
}

# evc_netns_lo NAME: a namespace with only loopback, multicast routed to lo.
evc_netns_lo() {
	local ns=$1
	evc__netns_check_prefix "${ns%%-*}" || return
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip -n "$ns" link set lo multicast on
	ip -n "$ns" route add 224.0.0.0/4 dev lo
	ip -n "$ns" -6 route add ff00::/8 dev lo table local 2>/dev/null || true
}

# evc_netns_host_addr INDEX: the IPv4 address of the INDEX-th host (1-based).
evc_netns_host_addr() { echo "10.250.0.$(($1 + 10))"; }

# evc_netns_lan PREFIX HOST...: hosts PREFIX-HOST on a bridge in PREFIX-br.
# Host N (1-based, in argument order) gets 10.250.0.(N+10)/24 on eth0.
evc_netns_lan() {
	local prefix=$1
	shift
	evc__netns_check_prefix "$prefix" || return
	local br="$prefix-br" i=0 h ns
	ip netns add "$br"
	ip -n "$br" link set lo up
	ip -n "$br" link add br0 type bridge
	# No IGMP snooping: with no querier on this segment, flood multicast to every port.
	ip -n "$br" link set br0 type bridge mcast_snooping 0 2>/dev/null || true
	ip -n "$br" link set br0 up
	for h in "$@"; do
		i=$((i + 1))
		ns="$prefix-$h"
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		# The veth pair is created directly inside the two namespaces.
		ip link add eth0 netns "$ns" type veth peer name "p$i" netns "$br"
		ip -n "$br" link set "p$i" master br0
		ip -n "$br" link set "p$i" up
		ip -n "$ns" addr add "$(evc_netns_host_addr $i)/24" dev eth0
		ip -n "$ns" link set eth0 multicast on
		ip -n "$ns" link set eth0 up
		ip -n "$ns" route add 224.0.0.0/4 dev eth0
	done
}

# evc_netns_del PREFIX: delete every namespace named PREFIX-*.
evc_netns_del() {
	local prefix=$1 ns
	evc__netns_check_prefix "$prefix" || return
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		case "$ns" in
		"$prefix"-*) ip netns del "$ns" 2>/dev/null || true ;;
		esac
	done
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	set -euo pipefail
	usage() {
		sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
		echo "usage: $0 lan PREFIX HOST... | lo NAME | del PREFIX | list"
	}
	[[ $# -ge 1 ]] || { usage >&2; exit 2; }
	cmd=$1
	shift
	case "$cmd" in
	lan) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; evc_netns_lan "$@" ;;
	lo) [[ $# -eq 1 ]] || { usage >&2; exit 2; }; evc_netns_lo "$1" ;;
	del) [[ $# -eq 1 ]] || { usage >&2; exit 2; }; evc_netns_del "$1" ;;
	list) ip netns list | awk '$1 ~ /^evc[A-Za-z0-9_]*-/ {print $1}' ;;
	-h | --help | help) usage ;;
	*) usage >&2; exit 2 ;;
	esac
fi
