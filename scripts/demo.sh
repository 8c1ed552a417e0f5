#!/usr/bin/env bash
# Sets everything up, builds a bundle from the built-in busybox image and
# runs it with --trace: every step the runtime takes is printed with the
# shell command that does the same, then the container shows its hostname,
# namespaces and cgroup next to the host's.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

bundle=$(mktemp -d /tmp/miniruntime-demo.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
miniruntime bundle -b "$bundle"

echo
echo "== the host, for comparison =="
echo "hostname:   $(hostname)"
echo "namespaces:"; ls -l /proc/self/ns | awk 'NR>1 {print "  " $9 " " $11}'
echo
echo "== miniruntime --trace run -b $bundle demo =="
miniruntime --trace run -b "$bundle" "demo-$$"
