#!/usr/bin/env bash
# kill-test.sh: SIGKILL the runtime at random points of create, run, start,
# delete and network rm, clean up with `delete --force` (and `network rm`),
# and check after every round that the machine holds exactly what it held
# before: no state dir, cgroup directory (every hierarchy the host mounts),
# systemd unit, mount, veth, nftables rule, address or port claim, and no
# process. Needs root.
#
#   scripts/kill-test.sh [--kills N] [--seed S] [--max-ms MS] [--systemd-cgroup] BINARY
#
# --kills: stop after this many kills (default KILL_TEST_KILLS or 320);
# --seed: for $RANDOM, to replay a run (default KILL_TEST_SEED or the time);
# --max-ms: the longest delay before a kill (default KILL_TEST_MAX_MS or 60;
# under emulation, where everything takes ten times as long, 600 reaches as
# far into each command). Each command's delay is drawn from 0 to the
# smaller of this and the command's measured duration.
#
# The runtime keeps its state in a private --root under a temporary
# directory; its containers, network and pod carry this run's prefix, so
# that other runtimes working on the machine at the same time are never
# counted. The processes it starts are tracked in a cgroup2 directory of
# its own, made under this shell's cgroup: every process a command leaves,
# in whatever cgroup the runtime put it, started there.
#
# Prints the kills per command, the leaks (which must be 0) and the time,
# and exits 1 on any leak or failed clean-up.
set -euo pipefail

usage() { echo "usage: $0 [--kills N] [--seed S] [--max-ms MS] [--systemd-cgroup] BINARY" >&2; exit 2; }
KILLS=${KILL_TEST_KILLS:-320}
SEED=${KILL_TEST_SEED:-$(date +%s)}
MAX_MS=${KILL_TEST_MAX_MS:-60}
SYSTEMD_CGROUP=()
while [ $# -gt 0 ]; do
  case $1 in
    --kills) KILLS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --max-ms) MAX_MS=$2; shift 2 ;;
    --systemd-cgroup) SYSTEMD_CGROUP=(--systemd-cgroup); shift ;;
    -h|--help) usage ;;
    -*) usage ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || usage
BIN=$(realpath -e "$1")
[ "$(id -u)" = 0 ] || { echo "kill-test: needs root" >&2; exit 2; }
for tool in ip nft sha256sum; do
  command -v $tool >/dev/null || { echo "kill-test: needs $tool" >&2; exit 2; }
done
SYSTEMD=0
[ -d /run/systemd/system ] && SYSTEMD=1
if [ ${#SYSTEMD_CGROUP[@]} -gt 0 ] && [ $SYSTEMD = 0 ]; then
  echo "kill-test: --systemd-cgroup needs systemd as PID 1" >&2; exit 2
fi
RANDOM=$SEED
T0=$SECONDS

# Names of this run: short, because the bridge name (mr-NET) must fit in 15
# bytes, and unique to this shell.
P=kt$(( $$ % 100000 ))
NET=$P       # the network the containers join
POD=$P-pod
W=$(mktemp -d /tmp/kill-test.XXXXXX)
ROOT=$W/root
MR=("$BIN" --root "$ROOT" "${SYSTEMD_CGROUP[@]}")
LOG=$W/log
PORT=$(( 20000 + $$ % 20000 ))

# A cgroup2 directory of this run's own, which this shell (and so every
# runtime it starts, and every init that runtime forks) joins.
CG2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[ -n "$CG2" ] || { echo "kill-test: no cgroup2 mount" >&2; exit 2; }
HOME_CG=$(sed -n 's/^0:://p' /proc/self/cgroup)
TRACK=$CG2${HOME_CG%/}/kill-test-$$

cleanup() {
  set +e
  exec {SLEEPFD}<&- 2>/dev/null
  # Whatever a failed run left: the runtime's own removal first.
  for d in "$ROOT"/*/; do
    [ -d "$d" ] || continue
    id=$(basename "$d")
    case $id in networks|pods) continue ;; esac
    timeout 30 "${MR[@]}" delete --force "$id" >/dev/null 2>&1
  done
  timeout 30 "${MR[@]}" pod rm --force "$POD" >/dev/null 2>&1
  for n in "$ROOT"/networks/*/; do
    [ -d "$n" ] && timeout 30 "${MR[@]}" network rm --force "$(basename "$n")" >/dev/null 2>&1
  done
  if [ -d "$TRACK" ]; then
    echo $$ > "$CG2$HOME_CG/cgroup.procs"
    for p in $(cat "$TRACK/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    for _ in $(seq 50); do rmdir "$TRACK" 2>/dev/null && break; sleep 0.1; done
  fi
  grep -F " $W/" /proc/self/mountinfo | awk '{ print $5 }' | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$W"
}
trap cleanup EXIT

mkdir "$TRACK"
echo $$ > "$TRACK/cgroup.procs"

# A sleep without a fork: read with a timeout from a pipe nobody writes.
exec {SLEEPFD}<> <(:)
msleep() { read -r -t "$(printf '%d.%03d' $(( $1 / 1000 )) $(( $1 % 1000 )))" -u $SLEEPFD || true; }

mr() { timeout 60 "${MR[@]}" "$@"; }

mkdir -p "$W/long" "$W/short"
"$BIN" bundle -b "$W/long" -- sleep 86399 >/dev/null
"$BIN" bundle -b "$W/short" -- true >/dev/null
mr network create --subnet "10.123.$(( $$ % 250 )).0/24" "$NET" >/dev/null
mr pod create "$POD" >/dev/null

# What the machine holds of ours, for the leak checks.
CGROOTS=()
for d in /sys/fs/cgroup /sys/fs/cgroup/*/; do
  [ -f "$d/cgroup.procs" ] && CGROOTS+=("${d%/}")
done
veth() { printf '%s\0%s' "$1" "$2" | sha256sum | cut -c1-10 | sed 's/^/mr/'; }
NFT_BEFORE=$(nft list table ip miniruntime 2>/dev/null | grep -c -F "\"ctr " || true)
MOUNTS_BEFORE=$(grep -c -F " $W/" /proc/self/mountinfo || true)

# leaks ID [NETWORK...]: print one line per thing ID left.
leaks() {
  local id=$1 n; shift
  [ -e "$ROOT/$id" ] && echo "state dir $ROOT/$id: $(ls -A "$ROOT/$id" | tr '\n' ' ')"
  local c
  c=$(find "${CGROOTS[@]}" -maxdepth 3 -type d \( -name "*-$id" -o -name "*-$id.scope" -o -name "*-$id.slice" \) 2>/dev/null)
  [ -n "$c" ] && echo "cgroup: $(echo $c)"
  if [ $SYSTEMD = 1 ]; then
    c=$(systemctl list-units --all --plain --no-legend "*-$id.scope" "*-$id.slice" 2>/dev/null)
    [ -n "$c" ] && echo "systemd unit: $c"
  fi
  for n in "$@"; do
    ip link show "$(veth "$n" "$id")" >/dev/null 2>&1 && echo "veth $(veth "$n" "$id") of $n"
    nft list table ip miniruntime 2>/dev/null | grep -q -F "\"ctr $n/$id\"" && echo "nftables rule ctr $n/$id"
    c=$(grep -lx -F "$id" "$ROOT/networks/$n/ipam/"* 2>/dev/null)
    [ -n "$c" ] && echo "address of $id on $n: $(basename $c)"
  done
  c=$(grep -l -x -F -e "$NET/$id" "$ROOT/networks/.ports/"* 2>/dev/null)
  [ -n "$c" ] && echo "port claim: $c"
  local m
  m=$(grep -c -F " $W/" /proc/self/mountinfo || true)
  [ "$m" != "$MOUNTS_BEFORE" ] && echo "mounts: $(grep -F " $W/" /proc/self/mountinfo | awk '{ print $5 }' | tr '\n' ' ')"
  # Processes: whatever is in the tracking cgroup besides this shell, and
  # whatever is in a cgroup named after the container (an init is born in
  # its own: clone3 with CLONE_INTO_CGROUP).
  local p procs=()
  mapfile -t procs < "$TRACK/cgroup.procs"
  for p in "${procs[@]}"; do
    [ "$p" = $$ ] || [ "$p" = "$BASHPID" ] || echo "process $p: $(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null)"
  done
  for p in $(grep -l -s -E -e "-$id(\.scope)?\$" /proc/[0-9]*/cgroup | cut -d/ -f3); do
    echo "process $p in $(grep -E -e "-$id(\.scope)?\$" /proc/$p/cgroup 2>/dev/null | head -n 1): $(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null)"
  done
  return 0
}

# settle: a process the runtime forked but had not recorded yet when it was
# killed exits by itself on its sync socket's EOF; give it a moment.
settle() {
  local i procs=()
  for i in $(seq 100); do
    mapfile -t procs < "$TRACK/cgroup.procs"
    [ ${#procs[@]} -le 1 ] && { [ $i = 1 ] || LATE=$((LATE + 1)); return; }
    msleep 20
  done
}

declare -A KILLED=() ROUNDS=()
LEAKS=0 INVISIBLE=0 FAILED=0 LATE=0 N=0

# killat DELAY_MS CMD...: start the runtime, SIGKILL it after DELAY_MS (if it
# has not finished), and count the kill under the command's name.
killat() {
  local ms=$1 name=$2; shift 2
  "${MR[@]}" "$@" </dev/null >>"$LOG" 2>&1 &
  local pid=$!
  msleep "$ms"
  # A command that has finished is a zombie until this shell reaps it: a
  # signal to it still succeeds, and is no kill.
  local st=""
  { read -r _ _ st _ < /proc/$pid/stat; } 2>/dev/null || true
  if [ -n "$st" ] && [ "$st" != Z ] && kill -9 $pid 2>/dev/null; then
    KILLED[$name]=$(( ${KILLED[$name]:-0} + 1 ))
  fi
  wait $pid 2>/dev/null || true
}

# finish ID NETWORKS...: delete --force must succeed, then nothing may be left.
finish() {
  local id=$1; shift
  if [ -e "$ROOT/$id" ] && ! mr list -q 2>>"$LOG" | grep -qx -F "$id"; then
    echo "round $N ($ROUND): $id has a state dir that list does not show" >&2
    INVISIBLE=$((INVISIBLE + 1))
  fi
  if ! mr delete --force "$id" >>"$LOG" 2>&1; then
    echo "round $N ($ROUND): delete --force $id failed: $(tail -n 1 "$LOG")" >&2
    FAILED=$((FAILED + 1))
    mr delete --force "$id" >>"$LOG" 2>&1 || true
  fi
  settle
  local l
  l=$(leaks "$id" "$@")
  if [ -n "$l" ]; then
    LEAKS=$((LEAKS + 1))
    echo "round $N ($ROUND): $id left:" >&2
    echo "$l" | sed 's/^/  /' >&2
    # Clear it by hand, so that the next rounds start clean.
    for p in $(cat "$TRACK/cgroup.procs"); do [ "$p" = $$ ] || kill -9 "$p" 2>/dev/null || true; done
    for d in $(find "${CGROOTS[@]}" -maxdepth 3 -type d \( -name "*-$id" -o -name "*-$id.scope" \) 2>/dev/null); do
      for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
      for _ in $(seq 20); do rmdir "$d" 2>/dev/null && break; msleep 50; done
    done
    [ $SYSTEMD = 1 ] && systemctl stop "*-$id.scope" >/dev/null 2>&1
    rm -rf "${ROOT:?}/$id"
    { grep -lx -F "$id" "$ROOT/networks/$NET/ipam/"* 2>/dev/null || true; } | xargs -r rm -f
  fi
}

# How long each command takes here, so that the random delay (0 to
# MAX_MS) stops short of where the command would be done: a kill that comes
# after the end is no kill. Three unkilled runs each; the median counts (the
# first run of a command is often slow, and a busy host makes outliers).
declare -A SPAN=() TIMES=()
now_us() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }
span() {
  local kind=$1 t0 t1; shift
  t0=$(now_us)
  "$@" </dev/null >>"$LOG" 2>&1 || true
  t1=$(now_us)
  TIMES[$kind]+="$(( (t1 - t0) / 1000 + 1 )) "
  SPAN[$kind]=$(echo ${TIMES[$kind]} | tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  return 0
}
for i in 1 2 3; do
  c=$P-cal$i
  span create "${MR[@]}" create -b "$W/long" --net "$NET" "$c"
  span start "${MR[@]}" start "$c"
  span delete "${MR[@]}" delete --force "$c"
  span run "${MR[@]}" run -b "$W/short" --net "$NET" "$c"
  mr delete --force "$c" >>"$LOG" 2>&1 || true
  mr network create --subnet 10.124.250.0/24 "$P-cal" >>"$LOG" 2>&1 || true
  span "network rm" "${MR[@]}" network rm "$P-cal"
done
for k in create start delete run "network rm"; do
  [ "${SPAN[$k]:-0}" -lt "$MAX_MS" ] || SPAN[$k]=$MAX_MS
done
delay() { echo $(( RANDOM % (${SPAN[$1]} + 1) )); }

total_kills() { local s=0 k; for k in "${KILLED[@]}"; do s=$((s + k)); done; echo $s; }

# One round per iteration; the mix gives every command its share of kills.
# A round whose command finished before the kill counts no kill, so the
# loop runs until KILLS kills, bounded at four times as many rounds.
while [ "$(total_kills)" -lt "$KILLS" ] && [ $N -lt $((KILLS * 4)) ]; do
  N=$((N + 1))
  id=$P-$N
  net=()
  nets=()
  case $(( RANDOM % 4 )) in
    0) net=(--net "$NET"); nets=("$NET") ;;
    1) net=(--net "$NET" -p "$PORT:80"); nets=("$NET") ;;
    2) net=(--pod "$POD") ;;
  esac
  r=$(( RANDOM % 20 ))
  if [ $r -lt 6 ]; then
    ms=$(delay create)
    ROUND="create ${net[*]} after ${ms}ms"
    killat $ms create create -b "$W/long" "${net[@]}" "$id"
  elif [ $r -lt 9 ]; then
    ms=$(delay create)
    ROUND="run -d ${net[*]} after ${ms}ms"
    killat $ms run run -d -b "$W/long" "${net[@]}" "$id"
  elif [ $r -lt 12 ]; then
    ms=$(delay run)
    ROUND="run ${net[*]} after ${ms}ms"
    killat $ms run run -b "$W/short" "${net[@]}" "$id"
  elif [ $r -lt 14 ]; then
    ms=$(delay start)
    ROUND="start ${net[*]} after ${ms}ms"
    mr create -b "$W/long" "${net[@]}" "$id" >>"$LOG" 2>&1 || true
    killat $ms start start "$id"
  elif [ $r -lt 18 ]; then
    ms=$(delay delete)
    ROUND="delete ${net[*]} after ${ms}ms"
    if [ $(( r % 2 )) = 0 ]; then
      mr run -d -b "$W/long" "${net[@]}" "$id" >>"$LOG" 2>&1 || true
    else
      mr create -b "$W/long" "${net[@]}" "$id" >>"$LOG" 2>&1 || true
    fi
    killat $ms delete delete --force "$id"
  else
    # network rm, with a container attached (then --force) or not.
    s=$P-s$N
    s=${s:0:12}
    ms=$(delay "network rm")
    ROUND="network rm $s after ${ms}ms"
    mr network create --subnet "10.124.$(( N % 250 )).0/24" "$s" >>"$LOG" 2>&1 || true
    force=()
    if [ $r = 18 ]; then
      mr run -d -b "$W/long" --net "$s" "$id" >>"$LOG" 2>&1 || true
      force=(--force)
    fi
    killat $ms "network rm" network rm "${force[@]}" "$s"
    finish "$id" "$s"
    if ! mr network rm "$s" >>"$LOG" 2>&1 && ! tail -n 1 "$LOG" | grep -q 'not found'; then
      echo "round $N ($ROUND): network rm $s failed: $(tail -n 1 "$LOG")" >&2
      FAILED=$((FAILED + 1))
    fi
    l=""
    ip link show "mr-$s" >/dev/null 2>&1 && l+="bridge mr-$s "
    nft list table ip miniruntime 2>/dev/null | grep -q -F "\"net $s\"" && l+="nftables rules of $s "
    [ -e "$ROOT/networks/$s" ] && l+="$ROOT/networks/$s "
    if [ -n "$l" ]; then
      LEAKS=$((LEAKS + 1))
      echo "round $N ($ROUND): network $s left: $l" >&2
      mr network rm --force "$s" >>"$LOG" 2>&1 || true
    fi
    ROUNDS["network rm"]=$(( ${ROUNDS["network rm"]:-0} + 1 ))
    continue
  fi
  ROUNDS[${ROUND%% *}]=$(( ${ROUNDS[${ROUND%% *}]:-0} + 1 ))
  finish "$id" "${nets[@]}"
done

# The end: the network and the pod go, with a kill in the middle of each
# first attempt.
ROUND="final network rm"
killat "$(delay "network rm")" "network rm" network rm "$NET"
mr pod rm "$POD" >>"$LOG" 2>&1 || { echo "pod rm $POD failed: $(tail -n 1 "$LOG")" >&2; FAILED=$((FAILED + 1)); }
if ! mr network rm "$NET" >>"$LOG" 2>&1 && ! tail -n 1 "$LOG" | grep -q 'not found'; then
  echo "final network rm $NET failed: $(tail -n 1 "$LOG")" >&2
  FAILED=$((FAILED + 1))
fi
left=""
ip link show "mr-$NET" >/dev/null 2>&1 && left+="bridge mr-$NET "
nft list table ip miniruntime 2>/dev/null | grep -q -F "$NET" && left+="nftables rules of $NET "
[ -n "$(ls -A "$ROOT" 2>/dev/null | grep -v -x -e networks -e pods)" ] && left+="state root: $(ls -A "$ROOT" | tr '\n' ' ') "
[ -n "$(ls -A "$ROOT/networks" 2>/dev/null | grep -v -x -e .lock -e .ports)" ] && left+="networks: $(ls -A "$ROOT/networks" | tr '\n' ' ') "
[ -n "$(ls -A "$ROOT/networks/.ports" 2>/dev/null)" ] && left+="port claims: $(ls -A "$ROOT/networks/.ports" | tr '\n' ' ') "
[ -n "$(ls -A "$ROOT/pods" 2>/dev/null | grep -v '^\.')" ] && left+="pods: $(ls -A "$ROOT/pods" | tr '\n' ' ') "
[ "$(grep -c -F " $W/" /proc/self/mountinfo || true)" != 0 ] && left+="mounts under $W "
[ "$(nft list table ip miniruntime 2>/dev/null | grep -c -F "\"ctr " || true)" -gt "$NFT_BEFORE" ] && left+="port rules "
if [ -n "$left" ]; then
  echo "at the end: $left" >&2
  LEAKS=$((LEAKS + 1))
fi

driver=cgroupfs
[ ${#SYSTEMD_CGROUP[@]} -gt 0 ] && driver=systemd
printf 'kill-test: seed %s, %d rounds, driver %s, systemd %s\n' "$SEED" "$N" "$driver" "$([ $SYSTEMD = 1 ] && echo running || echo absent)"
for k in create run start delete "network rm"; do
  printf '  %-11s %4d kills in %4d rounds (delay 0-%d ms)\n' "$k" "${KILLED[$k]:-0}" "${ROUNDS[$k]:-0}" "${SPAN[$k]}"
done
printf '  kills %d, leaks %d, failed clean-ups %d, invisible state dirs %d, inits that exited after delete %d, %d s\n' \
  "$(total_kills)" "$LEAKS" "$FAILED" "$INVISIBLE" "$LATE" $((SECONDS - T0))
[ "$LEAKS" = 0 ] && [ "$FAILED" = 0 ] && [ "$INVISIBLE" = 0 ]
