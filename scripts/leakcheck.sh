#!/usr/bin/env bash
# Fails if the machine holds anything the tests should have removed:
# containers in the default state root, test cgroups, mounts of bundles,
# stray runtime processes, network namespaces or nftables tables of ours.
set -euo pipefail
problems=()
if [ -d /run/miniruntime ] && [ -n "$(ls -A /run/miniruntime 2>/dev/null | grep -v '^networks$' || true)" ]; then
  problems+=("state dir /run/miniruntime holds: $(ls -A /run/miniruntime | tr '\n' ' ')")
fi
c=$(find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d \( -name 'miniruntime*' -o -name 'mrtest-*' -o -name 'cgrouptest' -o -name 'testdir' \) 2>/dev/null | head -n 10)
[ -z "$c" ] || problems+=("cgroups: $(echo $c)")
m=$(grep -E 'ocitest|miniruntime|/bundle/' /proc/self/mountinfo || true)
[ -z "$m" ] || problems+=("mounts: $m")
p=$(pgrep -a -f 'miniruntime (init|run|create)' | grep -v -E 'pgrep|leakcheck' || true)
[ -z "$p" ] || problems+=("processes: $p")
if command -v nft >/dev/null; then
  t=$(nft list tables 2>/dev/null | grep miniruntime || true)
  [ -z "$t" ] || problems+=("nftables: $t")
fi
if [ ${#problems[@]} -gt 0 ]; then
  printf 'leakcheck: %s\n' "${problems[@]}" >&2
  exit 1
fi
echo "leakcheck: nothing left behind"
