#!/usr/bin/env bash
# Times `miniruntime run` against its peers on the same busybox bundle
# running /bin/true: Debian's runc (1.1.5), runc 1.4 and crun where
# scripts/peers.sh installed them. The runtimes take turns, run by run, so
# that all see the same machine state, with a short pause after each run
# (see settle); it prints each median and its ratio to miniruntime's.
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
[ -x "$mr" ] || { echo "bench: $mr not built (scripts/setup.sh)" >&2; exit 1; }
# The peers, as installed: Debian's runc and crun by dpkg, runc 1.4 by
# scripts/peers.sh.
names=(miniruntime) paths=("$mr")
add_peer() { [ -n "$2" ] && [ -x "$2" ] && { names+=("$1"); paths+=("$2"); } || true; }
add_peer "runc $(runc --version 2>/dev/null | awk 'NR==1{sub(/\+.*/, "", $3); print $3}')" "${RUNC:-$(command -v runc || true)}"
add_peer "runc 1.4" "${RUNC14:-/var/tmp/miniruntime-peers/runc}"
add_peer "crun $(crun --version 2>/dev/null | awk 'NR==1{print $3}')" "${CRUN:-$(command -v crun || true)}"
[ ${#names[@]} -gt 1 ] || { echo "bench: no runtime to compare with (scripts/peers.sh installs them)" >&2; exit 1; }

work=$(mktemp -d /tmp/miniruntime-bench.XXXXXX)
cleanup() {
  local i
  for i in "${!paths[@]}"; do
    "${paths[$i]}" --root "$work/state-$i" delete --force bench >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
"$mr" bundle -b "$work/bundle" -- /bin/true >/dev/null
cd "$work/bundle"
# One config every peer reads: crun 1.8 refuses spec versions newer than
# it knows, and nothing in this config needs one.
sed -i 's/"ociVersion": *"[^"]*"/"ociVersion": "1.0.2"/' config.json

# A peer that cannot run here (crun refuses hybrid cgroup hosts) is left
# out, with its reason.
keep_n=() keep_p=()
for i in "${!paths[@]}"; do
  if err=$("${paths[$i]}" --root "$work/probe-$i" run bench 2>&1 >/dev/null); then
    keep_n+=("${names[$i]}"); keep_p+=("${paths[$i]}")
  else
    [ "$i" = 0 ] && { echo "bench: miniruntime cannot run the bundle: $err" >&2; exit 1; }
    echo "bench: ${names[$i]} left out, it cannot run here: $err" >&2
    "${paths[$i]}" --root "$work/probe-$i" delete --force bench >/dev/null 2>&1 || true
  fi
done
names=("${keep_n[@]}") paths=("${keep_p[@]}")

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

one_round() {
  local i
  for i in "${!paths[@]}"; do
    time_one "${paths[$i]}" --root "$work/state-$i" run bench >>"$work/times-$i"; settle
  done
}
one_round; one_round; one_round # warm-up: page cache
for i in "${!paths[@]}"; do : >"$work/times-$i"; done
for ((n = 0; n < runs; n++)); do one_round; done

median() { sort -n "$1" | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }
printf 'run of /bin/true, %d runs each, taking turns\n' "$runs"
m=$(median "$work/times-0")
for i in "${!paths[@]}"; do
  t=$(median "$work/times-$i")
  if [ "$i" = 0 ]; then
    printf '  %-12s median %6.2f ms  (%s)\n' "${names[$i]}" "$(awk -v x="$t" 'BEGIN{print x/1000}')" "${paths[$i]}"
  else
    printf '  %-12s median %6.2f ms  miniruntime/%s: %.2f  (%s)\n' "${names[$i]}" "$(awk -v x="$t" 'BEGIN{print x/1000}')" \
      "${names[$i]}" "$(awk -v a="$m" -v b="$t" 'BEGIN{print a/b}')" "${paths[$i]}"
  fi
done
