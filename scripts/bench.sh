#!/usr/bin/env bash
# Times `miniruntime run` against `runc run` on the same busybox bundle
# running /bin/true, alternating the two so that both see the same machine
# state, with a short pause after each run (see settle), and prints the
# medians and their ratio.
#
#   scripts/bench.sh [RUNS]        (default 100 runs of each)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100}
# Both runtimes as installed, the way a user runs them: scripts/setup.sh
# installs bin/miniruntime as /usr/local/bin/miniruntime (a copy; a binary
# fresh from the linker can start measurably slower here than the same
# bytes copied, as runc's were by dpkg).
mr=${MINIRUNTIME:-$(command -v miniruntime || echo "$PWD/bin/miniruntime")}
runc=${RUNC:-$(command -v runc || true)}
[ -x "$mr" ] || { echo "bench: $mr not built (scripts/setup.sh)" >&2; exit 1; }
[ -n "$runc" ] || { echo "bench: runc not installed (apt-get install runc)" >&2; exit 1; }

work=$(mktemp -d /tmp/miniruntime-bench.XXXXXX)
cleanup() {
  "$mr" --root "$work/mr-state" delete --force bench >/dev/null 2>&1 || true
  "$runc" --root "$work/runc-state" delete --force bench >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$mr" bundle -b "$work/bundle" -- /bin/true
cd "$work/bundle"

# time_one CMD...: wall time of one run in microseconds. EPOCHREALTIME is
# read by bash itself: no clock process is forked into the measurement.
time_one() {
  local t0 t1
  t0=${EPOCHREALTIME/./}
  "$@" >/dev/null 2>&1 || { echo "bench: $* failed" >&2; exit 1; }
  t1=${EPOCHREALTIME/./}
  echo $(( t1 - t0 ))
}

# settle: the kernel tears an exited container's namespaces and cgroups
# down afterwards, in its own worker threads. Back to back, each run would
# overlap the other runtime's teardown on this machine's CPUs (the faster
# runtime's run more of it); a pause after every run lets each be timed on
# its own work.
settle() { sleep 0.05; }

for _ in 1 2 3; do # warm-up: page cache
  time_one "$mr" --root "$work/mr-state" run bench >/dev/null; settle
  time_one "$runc" --root "$work/runc-state" run bench >/dev/null; settle
done
: > "$work/mr.txt"; : > "$work/runc.txt"
for ((i = 0; i < runs; i++)); do
  time_one "$mr" --root "$work/mr-state" run bench >> "$work/mr.txt"; settle
  time_one "$runc" --root "$work/runc-state" run bench >> "$work/runc.txt"; settle
done

median() { sort -n "$1" | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }
m=$(median "$work/mr.txt"); r=$(median "$work/runc.txt")
printf 'run of /bin/true, %d runs each, alternating (%s, %s)\n' "$runs" "$mr" "$runc"
printf '  miniruntime  median %6.2f ms\n' "$(awk -v x="$m" 'BEGIN{print x/1000}')"
printf '  runc %-7s median %6.2f ms\n' "$("$runc" --version | awk 'NR==1{print $3}')" "$(awk -v x="$r" 'BEGIN{print x/1000}')"
printf '  ratio miniruntime/runc: %.2f\n' "$(awk -v a="$m" -v b="$r" 'BEGIN{print a/b}')"
