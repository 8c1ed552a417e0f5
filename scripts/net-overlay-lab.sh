#!/usr/bin/env bash
# The overlay lab (examples/net-overlay/README.md): two simulated nodes, each
# a network namespace with its own miniruntime state root, bridge and pod
# subnet, joined by an "underlay" veth (198.18.0.0/15, the benchmarking
# range, which exists nowhere else), and a VXLAN device on each node that
# carries pod traffic across: one VNI, static FDB and neighbour entries, a
# route to the other node's pod subnet. One container per node, started by
# miniruntime; they ping each other and talk TCP, and the VXLAN packet
# counters rise. Everything is removed at the end, on failure too.
#
#   scripts/net-overlay-lab.sh            (root; bin/miniruntime built)
#
# Environment: MINIRUNTIME (the binary), LAB_PREFIX (namespace name prefix),
# LAB_QUIET=1 (print only the commands' output, not the commands).
#
#            node1 (netns)                                 node2 (netns)
#   container a 10.244.1.2                         container b 10.244.2.2
#        | eth0                                         | eth0
#   mr-pods 10.244.1.1/24 (bridge)                 mr-pods 10.244.2.1/24
#        |  route 10.244.2.0/24 via 10.244.2.0 onlink    |
#   vxlan0 10.244.1.0/32  VNI 42  ---- UDP 4789 ----  vxlan0 10.244.2.0/32
#        |                                              |
#   ul0 198.18.0.1/24 ================================ ul0 198.18.0.2/24
set -euo pipefail
cd "$(dirname "$0")/.."

mr=${MINIRUNTIME:-$PWD/bin/miniruntime}
prefix=${LAB_PREFIX:-mrlab$$}
[ "$(id -u)" -eq 0 ] || { echo "overlay lab: run as root" >&2; exit 1; }
[ -x "$mr" ] || { echo "overlay lab: $mr not built (scripts/setup.sh)" >&2; exit 1; }
for t in ip bridge nsenter timeout; do
  command -v "$t" >/dev/null || { echo "overlay lab: needs $t (iproute2, util-linux)" >&2; exit 1; }
done

n1=$prefix-node1
n2=$prefix-node2
work=$(mktemp -d /tmp/miniruntime-overlay.XXXXXX)
vni=42
mac1=02:76:78:00:00:01 # the VTEP MACs: locally administered, "vx"
mac2=02:76:78:00:00:02

say() { printf '\n### %s\n' "$*"; }
# x CMD...: print the command, then run it, bounded in time.
x() {
  [ "${LAB_QUIET:-}" = 1 ] || printf '$ %s\n' "$*"
  timeout 60 "$@"
}
# on NODE miniruntime ARGS...: the runtime inside a node, with its own root.
mrn() {
  local node=$1; shift
  x nsenter --net=/run/netns/"$node" "$mr" --root "$work/$node/state" "$@"
}

cleanup() {
  local rc=$?
  set +e
  say "tear down"
  for n in "$n1" "$n2"; do
    [ -e "/run/netns/$n" ] || continue
    for id in "$prefix-a" "$prefix-b"; do
      nsenter --net=/run/netns/"$n" "$mr" --root "$work/$n/state" delete --force "$id" >/dev/null 2>&1
    done
    [ -d "$work/$n/state/networks/pods" ] && mrn "$n" network rm --force pods
    x ip netns del "$n"
  done
  rm -rf "$work"
  if [ $rc -eq 0 ]; then echo "overlay lab: ok"; else echo "overlay lab: FAILED (exit $rc)" >&2; fi
  exit $rc
}
trap cleanup EXIT

say "two nodes: network namespaces joined by an underlay link"
x ip netns add "$n1"
x ip netns add "$n2"
x ip -n "$n1" link add ul0 type veth peer name ul0 netns "$n2"
x ip -n "$n1" addr add 198.18.0.1/24 dev ul0
x ip -n "$n2" addr add 198.18.0.2/24 dev ul0
for n in "$n1" "$n2"; do
  x ip -n "$n" link set lo up
  x ip -n "$n" link set ul0 up
done

say "each node: a bridge network for its pods (VXLAN costs 50 bytes: MTU 1450; no masquerade between pods)"
mrn "$n1" network create --subnet 10.244.1.0/24 --mtu 1450 --no-masquerade pods
mrn "$n2" network create --subnet 10.244.2.0/24 --mtu 1450 --no-masquerade pods

# vtep NODE MYMAC MYUNDERLAY MYSUBNET# PEERMAC PEERUNDERLAY PEERSUBNET#
vtep() {
  local n=$1 mymac=$2 me=$3 mine=$4 peermac=$5 peer=$6 theirs=$7
  say "$n: VXLAN device, VNI $vni, on the underlay; static FDB, neighbour and route for the other node"
  # nolearning: the FDB is ours to fill, as flannel and Calico's VXLAN mode do
  x ip -n "$n" link add vxlan0 address "$mymac" mtu 1450 type vxlan id $vni local "$me" dev ul0 dstport 4789 nolearning
  # no IPv6 link-local address: no router solicitations or MLD reports,
  # which have no FDB entry and would only show up as drops
  x ip -n "$n" link set vxlan0 addrgenmode none
  x ip -n "$n" addr add "10.244.$mine.0/32" dev vxlan0
  x ip -n "$n" link set vxlan0 up
  # the other node's pods are behind its VTEP address, reachable on the link
  x ip -n "$n" route add "10.244.$theirs.0/24" via "10.244.$theirs.0" dev vxlan0 onlink
  # that address has the other VTEP's MAC (no ARP across the overlay)...
  x ip -n "$n" neigh add "10.244.$theirs.0" lladdr "$peermac" dev vxlan0 nud permanent
  # ...and frames for that MAC are sent in UDP to the other node
  x bridge -n "$n" fdb append "$peermac" dev vxlan0 dst "$peer"
}
vtep "$n1" $mac1 198.18.0.1 1 $mac2 198.18.0.2 2
vtep "$n2" $mac2 198.18.0.2 2 $mac1 198.18.0.1 1

say "bundles: busybox, with CAP_NET_RAW for ping"
bundle() { # bundle DIR HOSTNAME CMD...
  local dir=$1 host=$2; shift 2
  "$mr" bundle -b "$dir" -- "$@"
  sed -i -e 's/"CAP_KILL",/"CAP_KILL",\n        "CAP_NET_RAW",/' -e "s/\"hostname\": \"miniruntime\"/\"hostname\": \"$host\"/" "$dir/config.json"
}
bundle "$work/a" pod-a nc -ll -p 7000 -e echo "hello from pod a on node1"
bundle "$work/b" pod-b sh -c 'ip -4 -o addr show eth0; ip route;
  ping -c 3 -W 2 10.244.1.2 || exit 1;
  for i in 1 2 3 4 5 6 7 8 9 10; do nc -w 2 10.244.1.2 7000 && exit 0; sleep 0.2; done; exit 1'

say "container a on node1: a TCP server"
mrn "$n1" create -b "$work/a" --net pods "$prefix-a"
mrn "$n1" start "$prefix-a"
x nsenter --net=/run/netns/"$n1" "$mr" --root "$work/$n1/state" exec "$prefix-a" ip -4 -o addr show eth0

counters() { # counters NODE: "tx rx" packets of vxlan0
  local s=/sys/class/net/vxlan0/statistics
  ip netns exec "$1" sh -c "echo \$(cat $s/tx_packets) \$(cat $s/rx_packets)"
}
read -r tx1 rx1 < <(counters "$n1")
echo "vxlan0 on node1 before: tx $tx1 rx $rx1 packets"

say "container b on node2: ping and TCP to a, across the overlay"
mrn "$n2" run -b "$work/b" --net pods "$prefix-b" | tee "$work/b.out"
grep -q "hello from pod a on node1" "$work/b.out" || { echo "overlay lab: no answer from a" >&2; exit 1; }

read -r tx2 rx2 < <(counters "$n1")
echo "vxlan0 on node1 after:  tx $tx2 rx $rx2 packets"
if [ "$tx2" -le "$tx1" ] || [ "$rx2" -le "$rx1" ]; then
  echo "overlay lab: the VXLAN counters did not rise" >&2
  exit 1
fi
echo "vxlan0 on node1: tx +$((tx2 - tx1)), rx +$((rx2 - rx1)) packets (each one a frame in a UDP datagram on ul0)"
x ip -n "$n1" -s link show vxlan0
x bridge -n "$n1" fdb show dev vxlan0
