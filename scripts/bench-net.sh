#!/usr/bin/env bash
# Times network attach + detach of one container: the built-in driver
# (netlink and nftables from the runtime's own process) against the CNI
# bridge plugin (with host-local and portmap) driven by the runtime's CNI driver, on the
# same machine, alternating the two, and prints the medians and their ratio.
# It runs tests/netbench inside fresh network and mount namespaces, which
# play the host: the real host's network is never touched, and everything
# goes with the namespaces.
#
#   scripts/bench-net.sh [RUNS]        (default 30 runs of each; root)
#
# A second round publishes a port (-p 8080:80): nftables DNAT rules for the
# built-in driver, the portmap plugin's iptables chains for CNI.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
[ "$(id -u)" -eq 0 ] || { echo "bench-net: run as root" >&2; exit 1; }
for p in bridge host-local portmap; do
  [ -x "/usr/lib/cni/$p" ] || [ -x "/opt/cni/bin/$p" ] ||
    { echo "bench-net: needs the CNI plugin $p (apt-get install containernetworking-plugins)" >&2; exit 1; }
done
command -v iptables >/dev/null || { echo "bench-net: the CNI plugins need iptables" >&2; exit 1; }
export PATH="/usr/local/go/bin:$PATH"

work=$(mktemp -d /tmp/miniruntime-bench-net.XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/netbench" ./tests/netbench
echo "bench-net: $runs runs of each, in a fresh network namespace ($(uname -r), $(nproc) CPUs)"
unshare --net --mount --propagation private "$work/netbench" -n "$runs" -root "$work/state"
unshare --net --mount --propagation private "$work/netbench" -n "$runs" -root "$work/state" -p 8080:80
