#!/usr/bin/env bash
# Measures what `miniruntime explain` and `miniruntime top` cost.
#
#  1. explain: one busybox container on a network with a published port.
#     `explain ID`, `state ID` (the baseline: any command of this binary
#     costs its start-up) and `explain --format json ID` take turns, run by
#     run, with a short pause after each; it prints the medians, the ratio
#     to state, and the median of the in-process time explain reports
#     (tookMicros).
#  2. top: CONTAINERS busybox containers (sleep), and `miniruntime top` in a
#     real terminal (a tmux server of this script's own) refreshing every
#     second for SECONDS; the CPU time the view's process used over that
#     window (utime+stime+cutime+cstime of /proc/PID/stat) as a share of one
#     CPU. Then `top --once` (CPU over the default 300 ms window) and
#     `top --once --window 0` (the reading alone) against `state`, in turns.
#
#   scripts/bench-explain.sh [RUNS] [CONTAINERS] [SECONDS]   (default 30 50 30; root, tmux)
#
# The network is made inside a network namespace of the script's own
# (`ip netns add`), which plays the host, as the network tests do: bridges,
# veths and nftables rules are made there, the host's network is never
# touched and no packet is sent. Containers, the network, the namespace,
# the tmux server and the state root all go on exit, failed or not.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30} count=${2:-50} seconds=${3:-30}
[ "$(id -u)" -eq 0 ] || { echo "bench-explain: run as root" >&2; exit 1; }
for x in "$runs" "$count" "$seconds"; do
  [[ $x =~ ^[0-9]+$ ]] && [ "$x" -gt 0 ] || { echo "bench-explain: RUNS, CONTAINERS and SECONDS are positive integers, not \"$x\"" >&2; exit 1; }
done
command -v tmux >/dev/null || { echo "bench-explain: needs tmux for the terminal view (apt-get install tmux)" >&2; exit 1; }
command -v ip >/dev/null || { echo "bench-explain: needs iproute2 (scripts/setup.sh installs it)" >&2; exit 1; }
# As installed, the way a user runs it (see scripts/bench.sh); `top` finds
# miniruntime-top beside it or on PATH.
mr=${MINIRUNTIME:-$(command -v miniruntime || echo "$PWD/bin/miniruntime")}
[ -x "$mr" ] || { echo "bench-explain: $mr not built (scripts/setup.sh)" >&2; exit 1; }
view=$(dirname "$mr")/miniruntime-top
[ -x "$view" ] || view=$(command -v miniruntime-top || true)
[ -n "$view" ] || { echo "bench-explain: no miniruntime-top beside $mr or on PATH (scripts/setup.sh)" >&2; exit 1; }

work=$(mktemp -d /tmp/miniruntime-bench-explain.XXXXXX)
root=$work/state
ns=mrbench-explain-$$
tag=bx$$ # container ids, and so cgroups (/miniruntime-<id>), of this run only
sock=$work/tmux.sock
net=(nsenter "--net=/run/netns/$ns")
cleanup() {
  local id
  tmux -S "$sock" kill-server >/dev/null 2>&1 || true
  if [ -d "$root" ]; then
    # The networked container is deleted where its veth and rules are.
    for id in $("$mr" --root "$root" list -q 2>/dev/null); do
      if [ -e "/run/netns/$ns" ]; then
        "${net[@]}" "$mr" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
      else
        "$mr" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
      fi
    done
  fi
  if [ -e "/run/netns/$ns" ]; then
    "${net[@]}" "$mr" --root "$root" network rm --force benchnet >/dev/null 2>&1 || true
    ip netns del "$ns" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# time_one OUT CMD...: wall time of one run in microseconds on stdout, the
# command's own stdout in OUT. EPOCHREALTIME is read by bash itself: no
# clock process is forked into the measurement.
time_one() {
  local out=$1 t0 t1
  shift
  t0=${EPOCHREALTIME/./}
  "$@" >"$out" 2>"$work/err" || { echo "bench-explain: $* failed: $(cat "$work/err")" >&2; exit 1; }
  t1=${EPOCHREALTIME/./}
  echo $((t1 - t0))
}
# settle: a pause after each run, so that no run is timed while the
# previous one's exit (and its Go runtime's teardown) still uses the CPUs.
settle() { sleep 0.05; }
median() { sort -n "$1" | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }
ms() { awk -v x="$1" 'BEGIN{printf "%.2f", x/1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }

"$mr" bundle -b "$work/bundle" -- sleep 600 >/dev/null
echo "bench-explain: $mr, $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# --- 1. explain of a container on a network with a published port ---------
ip netns add "$ns"
ip -n "$ns" link set lo up
# An uplink with an address of the "host", as the network tests have: the
# published port's rules name it; nothing is sent over it.
ip -n "$ns" link add up0 type veth peer name up1
ip -n "$ns" addr add 198.51.100.1/24 dev up0
ip -n "$ns" link set up0 up
ip -n "$ns" link set up1 up
"${net[@]}" "$mr" --root "$root" network create --subnet 10.123.250.0/24 benchnet >/dev/null
id=$tag-net
"${net[@]}" "$mr" --root "$root" run -d -b "$work/bundle" --net benchnet -p 8080:80 "$id" </dev/null >/dev/null 2>&1
# The rules are there: a published port that explain did not find would
# make the measurement one of a smaller job.
"${net[@]}" "$mr" --root "$root" explain --format json "$id" >"$work/probe.json"
grep -q '"8080:80' "$work/probe.json" && grep -q 'dnat to' "$work/probe.json" ||
  { echo "bench-explain: explain $id shows no published port or DNAT rule" >&2; exit 1; }

names=(explain state "explain --format json")
cmds=("explain $id" "state $id" "explain --format json $id")
round() {
  local i
  for i in "${!cmds[@]}"; do
    # shellcheck disable=SC2086 # the command's words
    time_one "$work/out-$i" "${net[@]}" "$mr" --root "$root" ${cmds[$i]} >>"$work/a-$i"
    [ "$i" = 2 ] && sed -n 's/.*"tookMicros": *\([0-9]*\).*/\1/p' "$work/out-2" >>"$work/took"
    settle
  done
}
round; round; round # warm-up: page cache
for i in "${!cmds[@]}"; do : >"$work/a-$i"; done
: >"$work/took"
for ((n = 0; n < runs; n++)); do round; done
[ "$(wc -l <"$work/took")" -eq "$runs" ] || { echo "bench-explain: explain --format json gave no tookMicros" >&2; exit 1; }
base=$(median "$work/a-1")
res_explain=()
for i in "${!cmds[@]}"; do
  m=$(median "$work/a-$i")
  res_explain+=("$(printf '  %-28s median %7s ms  /state %5s' "${names[$i]}" "$(ms "$m")" "$(ratio "$m" "$base")")")
done
took=$(median "$work/took")
"${net[@]}" "$mr" --root "$root" delete --force "$id" >/dev/null
"${net[@]}" "$mr" --root "$root" network rm --force benchnet >/dev/null
ip netns del "$ns"

# --- 2. top over CONTAINERS containers -------------------------------------
for ((n = 1; n <= count; n++)); do
  "$mr" --root "$root" run -d -b "$work/bundle" "$tag-$n" </dev/null >/dev/null 2>&1 ||
    { echo "bench-explain: run -d $tag-$n failed" >&2; exit 1; }
done
# The view as the pane's only process: miniruntime execs miniruntime-top, so
# the pane's pid is the view's. No user configuration, a 160x60 terminal.
tmux -S "$sock" -f /dev/null new-session -d -x 160 -y 60 -s top \
  env TERM=xterm-256color "$mr" --root "$root" top --interval 1s
pid=$(tmux -S "$sock" display-message -p -t top '#{pane_pid}')
server=$(tmux -S "$sock" display-message -p -t top '#{pid}')
for ((n = 0; ; n++)); do # at most 20 s for the view to show every container
  tmux -S "$sock" capture-pane -p -t top 2>/dev/null | grep -q "$count containers" && break
  [ "$n" -lt 200 ] || { echo "bench-explain: the view never showed $count containers:" >&2; tmux -S "$sock" capture-pane -p -t top >&2 || true; exit 1; }
  sleep 0.1
done
[ "$(cat "/proc/$pid/comm")" = miniruntime-top ] || { echo "bench-explain: pid $pid is $(cat "/proc/$pid/comm"), not miniruntime-top" >&2; exit 1; }
# ticks PID: CPU time of the process and its reaped children, in clock ticks
# (fields 14-17 of /proc/PID/stat, counted after the command name's ")").
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13 + $14 + $15}'; }
hz=$(getconf CLK_TCK)
v0=$(ticks "$pid") s0=$(ticks "$server") t0=${EPOCHREALTIME/./}
sleep "$seconds"
v1=$(ticks "$pid") s1=$(ticks "$server") t1=${EPOCHREALTIME/./}
tmux -S "$sock" capture-pane -p -t top | grep -q "$count containers" ||
  { echo "bench-explain: the view no longer shows $count containers" >&2; exit 1; }
tmux -S "$sock" kill-server
pct() { awk -v d="$1" -v hz="$hz" -v us="$2" 'BEGIN{printf "%.2f", 100 * (d / hz) / (us / 1e6)}'; }
view_pct=$(pct $((v1 - v0)) $((t1 - t0)))
tmux_pct=$(pct $((s1 - s0)) $((t1 - t0)))

names2=(state "top --once --window 0" "top --once")
cmds2=("state $tag-1" "top --once --window 0" "top --once")
round2() {
  local i
  for i in "${!cmds2[@]}"; do
    # shellcheck disable=SC2086
    time_one "$work/out2-$i" "$mr" --root "$root" ${cmds2[$i]} >>"$work/b-$i"
    settle
  done
}
round2; round2 # warm-up
for i in "${!cmds2[@]}"; do : >"$work/b-$i"; done
r2=$(( runs < 10 ? runs : runs / 3 )) # top --once waits 300 ms each: fewer runs
for ((n = 0; n < r2; n++)); do round2; done
[ "$(grep -c "^$tag-" "$work/out2-2")" -eq "$count" ] || { echo "bench-explain: top --once did not list $count containers" >&2; exit 1; }
base2=$(median "$work/b-0")

printf '\nexplain of a running container on a network with a published port, %d runs each, taking turns\n' "$runs"
printf '%s\n' "${res_explain[@]}"
printf '  %-28s median %7s ms  (tookMicros, in-process)\n' "reading the kernel" "$(ms "$took")"
printf '\ntop with %d containers, refreshing every 1 s, in a tmux terminal\n' "$count"
printf '  %-28s %6s %% of one CPU over %.1f s (%d ticks of %d Hz)\n' "miniruntime-top" "$view_pct" \
  "$(awk -v us=$((t1 - t0)) 'BEGIN{print us/1e6}')" $((v1 - v0)) "$hz"
printf '  %-28s %6s %% of one CPU (drawing the screen; not the runtime)\n' "tmux server" "$tmux_pct"
printf '\ntop --once with %d containers, %d runs each, taking turns\n' "$count" "$r2"
for i in "${!cmds2[@]}"; do
  m=$(median "$work/b-$i")
  printf '  %-28s median %7s ms  /state %5s\n' "${names2[$i]}" "$(ms "$m")" "$(ratio "$m" "$base2")"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
