#!/usr/bin/env bash
# Drives a runc-compatible runtime through the real clients that call it:
# containerd 1.6 (`ctr run --runc-binary`, its containerd-shim-runc-v2),
# containerd's CRI plugin as a kubelet would use it (one pod through a
# runtime handler, the RuntimeClass path), and podman 4.3 with conmon.
# The contracts these clients rely on are in ../shared/CLIENTS.md.
#
#   scripts/clients-test.sh [options] [RUNTIME]    (default RUNTIME: $PWD/bin/miniruntime)
#
#   --control        test Debian's runc instead (the same scenarios must pass:
#                    they are the control that shows the scenarios are right)
#   --with-control   run every scenario with Debian's runc first, then with
#                    RUNTIME, in one go (one guest boot); fails if either fails
#   --only LIST      comma-separated subset of: containerd,cri,podman
#   --log-calls FILE append one line per runtime invocation (argv, stdio, cwd)
#   --capture-configs DIR
#                    copy the bundle's config.json of every `create` and `run`
#                    into DIR as <client>-<scenario>-<id>.json (client ctr, cri
#                    or podman; CRI's are cri-sandbox-... and cri-container-...),
#                    the corpus cmd/miniruntime/captured_test.go replays
#   --timeout SEC    time limit of each client command (default 20)
#   --helpers DIR    keep the test's own client programs (tests/clients/mkimage,
#                    tests/clients/cri) in DIR and reuse them while they are
#                    newer than their sources (a guest under TCG compiles slowly)
#   --prepare        only install the clients (if missing) and build those
#                    programs into --helpers DIR, then exit: on the host, before
#                    a test guest (which sees the host's root, but has no
#                    network and compiles slowly) runs the scenarios
#   --keep           keep the temp dir (logs) after the run
#
# Where systemd is PID 1 (/run/systemd/system), each client runs with its
# defaults for such a host: podman with its systemd cgroup manager (and its
# AppArmor profile where AppArmor is on), containerd's CRI with SystemdCgroup
# and AppArmor on and the pod in a kubepods-...-pod<uid>.slice, and
# `ctr run --runc-systemd-cgroup --cgroup machine.slice:<prefix>:<id>`.
# Elsewhere all of them use the cgroupfs driver. If the temp dir is on an
# overlay (a guest whose root is one), a tmpfs is mounted on it for the
# clients' overlay storage.
#
# Needs root. Installs Debian's containerd and podman if missing (the system
# services are not started), runs a private containerd (root, state, sockets
# and FIFOs in one temp dir), a private podman (storage, runroot, tmpdir,
# config), and removes everything at the end. Prints PASS/FAIL per scenario
# and closes with `N passed, N failed`; exits 1 if anything failed.
set -euo pipefail
export PATH="/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

control=0
with_control=0
prepare=0
args=("$@")
only="containerd,cri,podman"
calls_log=""
capture_dir=""
helpers=""
tmo=20
keep=0
runtime_arg=""
while [ $# -gt 0 ]; do
  case $1 in
    --control) control=1 ;;
    --with-control) with_control=1 ;;
    --prepare) prepare=1 ;;
    --only) only=$2; shift ;;
    --only=*) only=${1#*=} ;;
    --log-calls) calls_log=$2; shift ;;
    --log-calls=*) calls_log=${1#*=} ;;
    --capture-configs) capture_dir=$2; shift ;;
    --capture-configs=*) capture_dir=${1#*=} ;;
    --timeout) tmo=$2; shift ;;
    --timeout=*) tmo=${1#*=} ;;
    --helpers) helpers=$2; shift ;;
    --helpers=*) helpers=${1#*=} ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,47p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "clients-test: unknown option $1" >&2; exit 2 ;;
    *) runtime_arg=$1 ;;
  esac
  shift
done


if [ "$with_control" = 1 ]; then
  # The control (Debian's runc) and then the runtime, each a run of this
  # script with the same options; both must pass.
  [ "$control" = 0 ] || { echo "clients-test: --with-control and --control exclude each other" >&2; exit 2; }
  rest=()
  for a in "${args[@]}"; do
    [ "$a" = --with-control ] || rest+=("$a")
  done
  out_control=$(mktemp) out_runtime=$(mktemp)
  trap 'rm -f "$out_control" "$out_runtime"' EXIT
  rc_control=0 rc_runtime=0
  "$0" --control "${rest[@]}" | tee "$out_control" || rc_control=$?
  "$0" "${rest[@]}" | tee "$out_runtime" || rc_runtime=$?
  # Each run closes with "N passed, N failed"; the sum closes this one.
  pc='' fc='' pr='' fr=''
  read -r pc _ fc _ < <(tail -n 1 "$out_control") || true
  read -r pr _ fr _ < <(tail -n 1 "$out_runtime") || true
  [[ $pc$fc$pr$fr =~ ^[0-9]+$ ]] || { pc=0 fc=1 pr=0 fr=1; }
  [ "$rc_control" = 0 ] || echo "clients-test: the control (Debian's runc) failed: those scenarios are wrong on this host, not the runtime"
  echo "clients-test: control runc $pc passed, $fc failed; $(basename "${runtime_arg:-miniruntime}") $pr passed, $fr failed"
  echo "$((pc + pr)) passed, $((fc + fr)) failed"
  [ "$rc_control" = 0 ] && [ "$rc_runtime" = 0 ]
  exit
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "clients-test: needs root" >&2
  exit 2
fi

# The image is always built with miniruntime's `bundle` command (busybox from
# the host's busybox-static); the runtime under test is miniruntime or runc.
# Paths given are relative to the caller's directory.
mr_bin=$(realpath -m "${runtime_arg:-$PWD/bin/miniruntime}")
[ -z "$calls_log" ] || calls_log=$(realpath -m "$calls_log")
[ -z "$helpers" ] || helpers=$(realpath -m "$helpers")
if [ -n "$capture_dir" ]; then
  capture_dir=$(realpath -m "$capture_dir")
  mkdir -p "$capture_dir"
fi
if [ "$prepare" = 0 ] && [ ! -x "$mr_bin" ]; then
  echo "clients-test: $mr_bin is not an executable (build it with scripts/setup.sh)" >&2
  exit 2
fi
cd "$(dirname "$0")/.."

want() { [[ ",$only," == *",$1,"* ]]; }

# --- packages ---------------------------------------------------------------

packages=(containerd podman conmon busybox-static util-linux iproute2 runc)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "clients-test: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq
  timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packages enable their system services; where systemd runs, the
  # postinst also started them. This test runs its own private instances:
  # stop and disable exactly the units the new packages brought, no others.
  if [ -d /run/systemd/system ]; then
    units=()
    [[ " ${missing[*]} " == *" containerd "* ]] && units+=(containerd.service)
    [[ " ${missing[*]} " == *" podman "* ]] && units+=(podman.socket podman.service podman-restart.service podman-auto-update.timer)
    if [ ${#units[@]} -gt 0 ]; then
      timeout 60 systemctl disable --now "${units[@]}" >/dev/null 2>&1 || true
    fi
  fi
fi

if [ "$prepare" = 1 ]; then
  # The packages (above) and the programs; no client started.
  [ -n "$helpers" ] || { echo "clients-test: --prepare needs --helpers DIR" >&2; exit 2; }
  mkdir -p "$helpers"
  for h in mkimage cri; do
    (cd "tests/clients/$h" && go build -o "$helpers/$h" .) || exit 1
  done
  echo "clients-test: clients installed, helpers built in $helpers"
  exit 0
fi

if [ "$control" = 1 ]; then
  runtime=$(command -v runc)
  name=runc
else
  runtime=$mr_bin
  name=miniruntime
fi

# --- the private world -----------------------------------------------------

T=$(mktemp -d /tmp/mrclients.XXXXXX)
chmod 0711 "$T"
# containerd's and podman's overlay storage cannot sit on an overlay.
T_tmpfs=""
if [ "$(stat -f -c %T "$T")" = overlayfs ]; then
  mount -t tmpfs -o mode=0711 mrclients "$T"
  T_tmpfs=1
fi
# The host's kind: with systemd as PID 1 the clients use its cgroup driver.
systemd_host=0
[ -d /run/systemd/system ] && systemd_host=1
# Where AppArmor is on, podman confines containers with its default profile,
# and so does containerd's CRI where it is not disabled (systemd hosts).
apparmor_on=0
[ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] && apparmor_on=1
pfx="mrclients-$$"           # containerd namespace and cgroup parents
ns=$pfx
sock=$T/containerd.sock
img=localhost/miniruntime/busybox:test
pause_img=localhost/miniruntime/pause:test
containerd_pid=""
started=$(date +%s)
# systemd units this run may make (scopes are named after their container):
# the CRI pod's slice, and the parents systemd makes for it and for podman's
# and ctr's scopes; those already active before the run are not ours.
pod_slice="kubepods-burstable-pod${pfx//-/_}.slice"
declare -A unit_existed=()
if [ "$systemd_host" = 1 ]; then
  for u in machine.slice kubepods.slice kubepods-burstable.slice; do
    timeout 10 systemctl is-active --quiet "$u" && unit_existed[$u]=1
  done
fi

# Host paths the clients create outside any directory they are told to use
# (CLIENTS.md, host pitfalls); whatever of them did not exist before is ours.
host_paths=(/run/containerd /run/containerd/s /run/containerd/fifo /run/containerd/runc /var/lib/containers
  /var/lib/containers/cache /var/lib/cni /var/lib/cni/results /run/containers)
declare -A existed=()
for p in "${host_paths[@]}"; do
  [ -e "$p" ] && existed[$p]=1
done
# Console sockets at fixed places: conmon's /tmp/conmon-term.*, and the
# shim's /tmp/ptyNNN/pty.sock (left when a shim is killed mid-create).
mapfile -t consoles_before < <(compgen -G '/tmp/conmon-term.*'; compgen -G '/tmp/pty*/pty.sock' || true)

log() { printf '%s\n' "$*" >&2; }

shim_pids() {
  pgrep -f "containerd-shim-runc-v2 -namespace [^ ]+ -id [^ ]+ -address $sock( |\$)" || true
}

cleanup() {
  local rc=$?
  set +e
  local n c p ids=()
  if [ -n "$containerd_pid" ] && kill -0 "$containerd_pid" 2>/dev/null; then
    # Whatever a failed scenario left: kill and delete tasks, then containers.
    for n in "$ns" k8s.io; do
      for c in $(timeout 10 ctr --address "$sock" -n "$n" containers ls -q 2>/dev/null); do
        ids+=("$n/$c")
        timeout 10 ctr --address "$sock" -n "$n" tasks kill -s KILL "$c" >/dev/null 2>&1
        timeout 10 ctr --address "$sock" -n "$n" tasks delete -f "$c" >/dev/null 2>&1
        timeout 10 ctr --address "$sock" -n "$n" containers rm "$c" >/dev/null 2>&1
      done
    done
    kill -TERM "$containerd_pid"
    for _ in $(seq 50); do kill -0 "$containerd_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$containerd_pid" 2>/dev/null
  fi
  if [ -n "$containerd_pid" ]; then
    wait "$containerd_pid" 2>/dev/null
    # Shims of this instance that outlived it (their task could not be
    # deleted), found by the unique containerd address they were given.
    for p in $(shim_pids); do kill -KILL "$p" 2>/dev/null; done
    # Their sockets: /run/containerd/s/sha256(<address>/<namespace>/<id>).
    for c in "${ids[@]}" "${ctr_ids[@]}"; do
      rm -f "/run/containerd/s/$(printf '%s' "$sock/$c" | sha256sum | cut -d' ' -f1)"
    done
  fi
  if [ -n "${podman_ready:-}" ]; then
    timeout 30 "${podman[@]}" rm -af -t 0 >/dev/null 2>&1
    timeout 30 "${podman[@]}" rmi -af >/dev/null 2>&1
  fi
  # Containers the runtime still knows in the roots this run gave it.
  local root id
  for root in "$T/runc/$ns" "$T/runc-cri/k8s.io" "/run/containerd/runc/$ns"; do
    [ -d "$root" ] || continue
    for id in $(timeout 10 "$runtime" --root "$root" list -q 2>/dev/null); do
      timeout 10 "$runtime" --root "$root" delete --force "$id" >/dev/null 2>&1
    done
  done
  # Last resort: processes still in this run's cgroups.
  cat /sys/fs/cgroup/pids/"$pfx"*/cgroup.procs /sys/fs/cgroup/pids/"$pfx"*/*/cgroup.procs \
    /sys/fs/cgroup/pids/"$pfx"*/*/*/cgroup.procs 2>/dev/null | while read -r p; do
    kill -KILL "$p" 2>/dev/null
  done
  if [ "$systemd_host" = 1 ]; then
    # ctr's scopes, the pod's slice (with its containers' scopes), and the
    # parent slices that were not there before.
    local u units=()
    mapfile -t units < <(timeout 10 systemctl list-units --all --plain --no-legend "$pfx-*.scope" "$pod_slice" 2>/dev/null | awk '{print $1}')
    for u in kubepods-burstable.slice kubepods.slice machine.slice; do
      [ -n "${unit_existed[$u]:-}" ] || units+=("$u")
    done
    [ ${#units[@]} -eq 0 ] || timeout 60 systemctl stop "${units[@]}" >/dev/null 2>&1
  fi
  # Unmount anything left under the temp dir (overlay rootfs, netns files).
  local m
  awk -v t="$T/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null
  done
  # Empty cgroup parents this run made: /<pfx>... in every hierarchy.
  local d
  for d in /sys/fs/cgroup/*/"$pfx"* /sys/fs/cgroup/"$pfx"*; do
    [ -d "$d" ] || continue
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    [ -d "$d" ] && log "clients-test: cgroup $d could not be removed (processes left?)"
  done
  # Host paths the clients made although told otherwise.
  if [ -z "${existed[/var/lib/containers]:-}" ] && [ -d /var/lib/containers ]; then
    rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb
    rmdir /var/lib/containers/cache /var/lib/containers 2>/dev/null
  fi
  [ -d "/run/containerd/runc/$ns" ] && rmdir "/run/containerd/runc/$ns" 2>/dev/null
  for p in /var/lib/cni/results /var/lib/cni /run/containers /run/containerd/fifo /run/containerd/s /run/containerd/runc /run/containerd; do
    [ -z "${existed[$p]:-}" ] && [ -d "$p" ] && rmdir "$p" 2>/dev/null
  done
  # Console sockets left behind: the new ones nobody listens on any more (a
  # parallel run's live ones stay).
  for p in $(compgen -G '/tmp/conmon-term.*'; compgen -G '/tmp/pty*/pty.sock'); do
    [[ " ${consoles_before[*]} " == *" $p "* ]] && continue
    grep -q " $p\$" /proc/net/unix && continue
    rm -f "$p"
    [[ $p == */pty.sock ]] && rmdir "${p%/pty.sock}" 2>/dev/null
  done
  if [ "$keep" = 1 ]; then
    log "clients-test: kept $T${T_tmpfs:+ (a tmpfs, still mounted)}"
  else
    [ -z "$T_tmpfs" ] || umount "$T" || umount -l "$T"
    rm -rf "$T"
  fi
  exit "$rc"
}
ctr_ids=()
trap cleanup EXIT
trap 'exit 130' INT TERM

# The runtime as the clients will call it: directly, or through a wrapper that
# logs argv and stdio and/or copies the config of each create and run, and
# then execs it, so that the clients still deal with the runtime process
# itself. The wrapper writes nothing to its stdio (the container's).
rt=$runtime
if [ -n "$calls_log" ] || [ -n "$capture_dir" ]; then
  rt=$T/bin/$name   # podman keys --log support on the basename
  mkdir -p "$T/bin"
  {
    echo '#!/bin/bash'
    if [ -n "$calls_log" ]; then
      cat <<EOF
fd() { readlink /proc/\$\$/fd/\$1 2>/dev/null || echo closed; }
echo "\$(date +%T.%N) [\$\$] \$* | in=\$(fd 0) out=\$(fd 1) err=\$(fd 2) cwd=\$PWD" >>'$calls_log'
EOF
    fi
    if [ -n "$capture_dir" ]; then
      # The client and scenario come from $T/capture-label, which the
      # script rewrites before each scenario (containerd's shims inherit
      # one environment for the whole run, so an env var cannot carry it).
      cat <<EOF
capture() {
  local cmd="" bundle=\$PWD id="" label kind dest n=1
  while [ \$# -gt 0 ]; do
    if [ -z "\$cmd" ]; then
      case \$1 in
        --root|--log|--log-format|--criu|--rootless) shift ;;
        create|run) cmd=\$1 ;;
        -*) ;;
        *) return 0 ;;
      esac
    else
      case \$1 in
        -b|--bundle) bundle=\$2; shift ;;
        -b=*|--bundle=*) bundle=\${1#*=} ;;
        --pid-file|--console-socket|--preserve-fds|--net|-p|--pod) shift ;;
        -*) ;;
        *) id=\$1 ;;
      esac
    fi
    shift
  done
  [ -n "\$cmd" ] && [ -n "\$id" ] && [ -f "\$bundle/config.json" ] || return 0
  label=\$(cat '$T/capture-label' 2>/dev/null) || label=unknown
  # CRI: the sandbox (pause) container and the pod's containers.
  kind=\$(grep -o '"io.kubernetes.cri.container-type": *"[a-z]*"' "\$bundle/config.json" | grep -o '[a-z]*"\$' | tr -d '"')
  [ -z "\$kind" ] || label=\$label-\$kind
  [ \${#id} -le 20 ] || id=\${id:0:12}
  dest='$capture_dir'/\$label-\$id.json
  while [ -e "\$dest" ]; do n=\$((n + 1)); dest='$capture_dir'/\$label-\$id.\$n.json; done
  cp "\$bundle/config.json" "\$dest" 2>/dev/null
}
capture "\$@"
EOF
    fi
    echo "exec '$runtime' \"\$@\""
  } >"$rt"
  chmod 0755 "$rt"
fi
# capture_label LABEL: the name the wrapper gives the configs it copies next.
capture_label() { [ -z "$capture_dir" ] || printf '%s\n' "$1" >"$T/capture-label"; }

passed=0
failed=0
# scenario NAME FUNC ARGS...: runs FUNC with its output captured; PASS or
# FAIL with the captured output indented below.
scenario() {
  local label=$1 out=$T/out.$1
  shift
  capture_label "$label"
  if "$@" >"$out" 2>&1; then
    passed=$((passed + 1))
    echo "PASS $label"
  else
    failed=$((failed + 1))
    echo "FAIL $label"
    sed 's/^/    /' "$out" | tail -n 25
  fi
}
# expect WHAT GOT WANT: a readable mismatch for scenario output.
expect() {
  if [ "$2" != "$3" ]; then
    echo "$1: got '$2', want '$3'"
    return 1
  fi
}
# expect_grep WHAT TEXT REGEX
expect_grep() {
  if ! grep -qE -- "$3" <<<"$2"; then
    echo "$1: '$2' does not match /$3/"
    return 1
  fi
}
# Under script(1), a tty's output ends lines in \r\n and may start with a
# stray NUL that the tty echoes as "^@" (CLIENTS.md, host pitfalls).
tty_clean() { tr -d '\r\000' | sed 's/\^@//g'; }

# --- the image ----------------------------------------------------------------

"$mr_bin" bundle -b "$T/bundle" >/dev/null
# helper NAME: the path of a test program from tests/clients/NAME, built
# into --helpers DIR (kept while newer than its sources) or into the temp dir.
helper() {
  local out=$T/$1
  if [ -n "$helpers" ]; then
    out=$helpers/$1
    if [ -x "$out" ] && [ -z "$(find tests/clients go.mod go.sum -newer "$out" -print -quit)" ]; then
      echo "$out"
      return
    fi
    mkdir -p "$helpers"
  fi
  (cd "tests/clients/$1" && go build -o "$out" .) >&2 && echo "$out"
}
mkimage=$(helper mkimage)
"$mkimage" -rootfs "$T/bundle/rootfs" -name "$img" -cmd sh -o "$T/busybox.tar"
# A pod's sandbox ("pause") container: no registry here, so busybox sleeping.
"$mkimage" -rootfs "$T/bundle/rootfs" -name "$pause_img" -entrypoint "sleep 2147483647" -cmd "" -o "$T/pause.tar"

# --- containerd ---------------------------------------------------------------

start_containerd() {
  mkdir -p "$T/cni/bin" "$T/cni/conf" "$T/fifo" "$T/pods"
  # CNI for the CRI scenario: loopback plus a plugin that gives the pod an
  # eth0 (a veth pair whose both ends stay in the pod's namespace) with a
  # documentation address. Nothing on the host's network is touched.
  ln -s /usr/lib/cni/loopback "$T/cni/bin/loopback"
  cat >"$T/cni/bin/mrcni" <<'EOF'
#!/bin/bash
# Test CNI plugin: eth0 inside the pod's network namespace only.
set -euo pipefail
cat >/dev/null
case $CNI_COMMAND in
  ADD)
    nsenter --net="$CNI_NETNS" ip link add "$CNI_IFNAME" type veth peer name "${CNI_IFNAME}p" >&2
    nsenter --net="$CNI_NETNS" ip addr add 192.0.2.2/24 dev "$CNI_IFNAME" >&2
    nsenter --net="$CNI_NETNS" ip link set "${CNI_IFNAME}p" up >&2
    nsenter --net="$CNI_NETNS" ip link set "$CNI_IFNAME" up >&2
    printf '{"cniVersion":"0.4.0","interfaces":[{"name":"%s","sandbox":"%s"}],"ips":[{"version":"4","address":"192.0.2.2/24","interface":0}],"dns":{}}\n' "$CNI_IFNAME" "$CNI_NETNS"
    ;;
  DEL|CHECK) ;;
  VERSION) echo '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0"]}' ;;
  *) echo "{\"code\":4,\"msg\":\"unknown CNI_COMMAND $CNI_COMMAND\"}"; exit 1 ;;
esac
EOF
  chmod 0755 "$T/cni/bin/mrcni"
  echo '{"cniVersion":"0.4.0","name":"mrclients","plugins":[{"type":"mrcni"}]}' >"$T/cni/conf/10-mrclients.conflist"

  local cri_disabled='"io.containerd.grpc.v1.cri", '
  want cri && cri_disabled=""
  cat >"$T/containerd.toml" <<EOF
version = 2
root = "$T/root"
state = "$T/state"
disabled_plugins = [$cri_disabled"io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "$T/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_img"
  disable_apparmor = $([ "$systemd_host" = 1 ] && echo false || echo true)
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$T/cni/bin"
    conf_dir = "$T/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "$name"

EOF
  # The runtime handler is the example a node would use, pointed at this
  # run's binary and state root (and named runc for the control run).
  local sdcg=false
  [ "$systemd_host" = 1 ] && sdcg=true
  sed -e "s|runtimes\.miniruntime|runtimes.$name|" -e "s|/usr/local/bin/miniruntime|$rt|" \
    -e "s|/run/containerd/miniruntime|$T/runc-cri|" -e "s|SystemdCgroup = [a-z]*|SystemdCgroup = $sdcg|" \
    examples/kubernetes/containerd-miniruntime.toml >>"$T/containerd.toml"
  grep -q "SystemdCgroup = $sdcg" "$T/containerd.toml" || { log "clients-test: no SystemdCgroup = $sdcg in the handler"; return 1; }
  mkdir -p "$T/path"
  ln -s "$rt" "$T/path/runc"
  PATH="$T/path:$PATH" containerd --config "$T/containerd.toml" >"$T/containerd.log" 2>&1 &
  containerd_pid=$!
  local i
  for i in $(seq 100); do
    timeout 5 ctr --address "$sock" version >/dev/null 2>&1 && return 0
    kill -0 "$containerd_pid" 2>/dev/null || break
    sleep 0.2
  done
  log "clients-test: containerd did not come up ($i tries):"
  tail -n 20 "$T/containerd.log" >&2
  return 1
}

c() { timeout "$tmo" ctr --address "$sock" -n "$ns" "$@"; }
run_opts=(--runc-binary "$rt" --runc-root "$T/runc" --fifo-dir "$T/fifo")
# cg ID: ctr's cgroup options for container ID. On a systemd host, the
# systemd driver, which ctr only takes with a slice:prefix:name path.
cg() { [ "$systemd_host" = 0 ] || echo "--runc-systemd-cgroup --cgroup machine.slice:$pfx:$1"; }
track() { ctr_ids+=("$ns/$1"); }  # for the cleanup of shim sockets

task_status() { c tasks ls | awk -v id="$1" '$1 == id {print $3}'; }
task_pid() { c tasks ls | awk -v id="$1" '$1 == id {print $2}'; }
wait_status() { # id status
  local i
  for i in $(seq 50); do
    [ "$(task_status "$1")" = "$2" ] && return 0
    sleep 0.2
  done
  echo "task $1: status $(task_status "$1"), want $2"
  return 1
}
# host_memory_limit PID: the memory.limit_in_bytes (v1) or memory.max (v2) of
# the process's cgroup, as the kernel shows it.
host_memory_limit() {
  local path
  path=$(awk -F: '$2 == "memory" {print $3}' "/proc/$1/cgroup")
  if [ -n "$path" ]; then
    cat "/sys/fs/cgroup/memory$path/memory.limit_in_bytes"
  else
    path=$(awk -F: '$1 == "0" {print $3}' "/proc/$1/cgroup")
    cat "/sys/fs/cgroup$path/memory.max"
  fi
}

ctr_run_stdout() {
  track r1
  local out
  out=$(c run --rm "${run_opts[@]}" $(cg r1) "$img" r1 echo hi) || { echo "ctr run exited $?: $out"; return 1; }
  expect stdout "$out" hi
}

ctr_run_status() {
  track r2
  local rc=0
  c run --rm "${run_opts[@]}" $(cg r2) "$img" r2 sh -c 'exit 3' || rc=$?
  expect "exit status" "$rc" 3
}

ctr_missing_binary() {
  track r3
  local out rc=0
  out=$(c run --rm "${run_opts[@]}" $(cg r3) "$img" r3 /no/such/binary 2>&1) || rc=$?
  echo "$out"
  [ "$rc" -ne 0 ] || { echo "ctr run succeeded"; return 1; }
  [ "$rc" -ne 124 ] || { echo "ctr run timed out"; return 1; }
  expect_grep error "$out" 'OCI runtime create failed: .*no such file or directory' || return 1
  c containers rm r3 >/dev/null 2>&1 || true
}

ctr_stdin() {
  # ctr forwards its stdin; read a fixed number of lines (CLIENTS.md: ctr's
  # own stdin race can lose the EOF).
  local out
  track r4
  out=$(printf 'line1\nline2\n' | c run --rm "${run_opts[@]}" $(cg r4) "$img" r4 head -n 2) || { echo "ctr run exited $?: $out"; return 1; }
  expect stdin "$out" "$(printf 'line1\nline2')"
}

ctr_no_pivot() {
  # `ctr run --no-pivot` drops --runc-binary and --runc-root (task options
  # replace the runtime options), so the shim runs `runc` from containerd's
  # PATH: $T/path/runc is the runtime under test.
  local out rc
  track np1
  out=$(c run --rm --no-pivot --fifo-dir "$T/fifo" "$img" np1 sh -c 'echo no-pivot; exit 2') && rc=0 || rc=$?
  expect stdout "$out" no-pivot && expect "exit status" "$rc" 2
}

# A long-running container that exits 0 on SIGTERM (pid 1 ignores signals
# it has no handler for).
long_cmd=(sh -c 'trap "exit 0" TERM; while :; do sleep 1; done')

ctr_detached() {
  track d1
  c run -d --memory-limit 67108864 "${run_opts[@]}" $(cg d1) "$img" d1 "${long_cmd[@]}" || return 1
  wait_status d1 RUNNING
}

ctr_exec() {
  local out rc=0
  out=$(c tasks exec --fifo-dir "$T/fifo" --exec-id e1 d1 sh -c 'echo from-exec; exit 5') || rc=$?
  expect stdout "$out" from-exec && expect "exit status" "$rc" 5
}

ctr_tty_exec() {
  local out rc=0
  out=$(timeout "$tmo" script -qec "ctr --address $sock -n $ns tasks exec -t --fifo-dir $T/fifo --exec-id e2 d1 sh -c 'tty; exit 6'" /dev/null </dev/null | tty_clean) || rc=$?
  echo "$out"
  expect "exit status" "$rc" 6 && expect_grep "tty" "$out" '^/dev/pts/[0-9]+$'
}

ctr_ps() {
  local pid out
  pid=$(task_pid d1)
  out=$(c tasks ps d1) || return 1
  echo "$out"
  expect_grep "ctr task ps" "$out" "^${pid}[[:space:]]"
}

ctr_metrics() {
  # No runtime call: the shim reads the cgroup of the init pid itself.
  local out
  out=$(c tasks metrics d1) || { echo "$out"; return 1; }
  echo "$out"
  expect_grep "ctr task metrics" "$out" 'memory\.usage_in_bytes|memory\.usage'
}

ctr_pause_resume() {
  c tasks pause d1 && wait_status d1 PAUSED && c tasks resume d1 && wait_status d1 RUNNING
}

ctr_memory_limit() {
  local got
  got=$(host_memory_limit "$(task_pid d1)") || return 1
  expect "memory limit of d1's cgroup" "$got" 67108864
}

ctr_join_netns() {
  track n1
  local pid want got host
  pid=$(task_pid d1)
  want=$(readlink "/proc/$pid/ns/net")
  host=$(readlink /proc/self/ns/net)
  got=$(c run --rm "${run_opts[@]}" $(cg n1) --with-ns "network:/proc/$pid/ns/net" "$img" n1 readlink /proc/self/ns/net) || return 1
  [ "$want" != "$host" ] || { echo "d1 is in the host's network namespace"; return 1; }
  expect "network namespace of the second container" "$got" "$want"
}

ctr_kill_delete() {
  local out
  c tasks kill d1 && wait_status d1 STOPPED || return 1
  out=$(c tasks delete d1 2>&1) || { echo "$out"; return 1; }
  # ctr warns about a non-zero exit code; the TERM trap exits 0.
  if grep -q 'exit code' <<<"$out"; then echo "$out"; return 1; fi
  c containers rm d1 || return 1
  if c containers ls -q | grep -qx d1; then echo "d1 still listed"; return 1; fi
}

ctr_kill_all() {
  track d2
  local out
  # `ctr task delete -f` is `kill --all ID 9` + `delete`; ctr reports 137.
  c run -d "${run_opts[@]}" $(cg d2) "$img" d2 sleep 300 && wait_status d2 RUNNING || return 1
  out=$(c tasks delete -f d2 2>&1) || { echo "$out"; return 1; }
  expect_grep "ctr task delete -f" "$out" 'exit code 137' && c containers rm d2
}

ctr_tty_run() {
  track t1
  local out rc=0
  out=$(timeout "$tmo" script -qec "ctr --address $sock -n $ns run --rm -t --runc-binary $rt --runc-root $T/runc --fifo-dir $T/fifo $(cg t1) $img t1 sh -c 'tty; echo tty-ok; exit 4'" /dev/null </dev/null | tty_clean) || rc=$?
  echo "$out"
  if [ "$rc" = 124 ]; then
    echo "ctr run -t timed out after ${tmo}s (tasks: $(c tasks ls | awk '$1 == "t1"'))"
    c tasks delete -f t1 >/dev/null 2>&1
    c containers rm t1 >/dev/null 2>&1
    return 1
  fi
  expect "exit status" "$rc" 4 && expect_grep "output" "$out" '^/dev/pts/0$' && expect_grep "output" "$out" '^tty-ok$'
}

# --- CRI (the kubelet's path) ---------------------------------------------------

# The pod's cgroup parent as the kubelet gives it: a path with the cgroupfs
# driver, a slice with the systemd one.
cri_parent=/$pfx-k8s/podmr1
[ "$systemd_host" = 0 ] || cri_parent=$pod_slice
cri_pod() {
  local cri_bin
  cri_bin=$(helper cri) || return 1
  timeout 30 ctr --address "$sock" -n k8s.io images import "$T/busybox.tar" >/dev/null || return 1
  timeout 30 ctr --address "$sock" -n k8s.io images import "$T/pause.tar" >/dev/null || return 1
  local aa=()
  [ "$systemd_host$apparmor_on" != 11 ] || aa=(-apparmor cri-containerd.apparmor.d)
  timeout 120 "$cri_bin" -endpoint "$sock" -handler "$name" -cgroup-parent "$cri_parent" \
    -log-dir "$T/pods/mrpod" -timeout "${tmo}s" "${aa[@]}"
}

# --- podman -------------------------------------------------------------------

# podman's cgroup manager: its default (systemd) where systemd runs, with
# its default parent machine.slice; cgroupfs and a parent of this run's
# elsewhere.
pm_cgroup_manager=cgroupfs
pm_opts=(--network none --cgroup-parent "/$pfx-podman")
if [ "$systemd_host" = 1 ]; then
  pm_cgroup_manager=systemd
  pm_opts=(--network none)
fi
setup_podman() {
  local P=$T/podman
  mkdir -p "$P/net" "$P/tmp"
  cat >"$P/containers.conf" <<EOF
[containers]
# No CAP_SYS_RESOURCE here: podman's default rlimits (1048576) cannot be set.
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"

[network]
network_config_dir = "$P/net"

[engine]
cgroup_manager = "$pm_cgroup_manager"
events_logger = "file"
events_logfile_path = "$P/events.log"
tmp_dir = "$P/tmp"
# podman passes --log-format=json --log to these runtimes only (by basename).
runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "miniruntime"]
EOF
  cat >"$P/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$P/root"
runroot = "$P/runroot"
EOF
  export CONTAINERS_CONF=$P/containers.conf CONTAINERS_STORAGE_CONF=$P/storage.conf
  podman=(podman --root "$P/root" --runroot "$P/runroot" --tmpdir "$P/tmp" --runtime "$rt" --cgroup-manager "$pm_cgroup_manager" --events-backend file)
  podman_ready=1
  timeout 60 "${podman[@]}" load -q -i "$T/busybox.tar" >/dev/null
}
pm() { timeout "$tmo" "${podman[@]}" "$@"; }
pm_run=(run "${pm_opts[@]}")

podman_run_stdout() {
  local out
  out=$(pm "${pm_run[@]}" --rm "$img" echo hi) || { echo "podman run exited $?: $out"; return 1; }
  expect stdout "$out" hi
}

podman_run_status() {
  local rc=0
  pm "${pm_run[@]}" --rm "$img" sh -c 'exit 3' || rc=$?
  expect "exit status" "$rc" 3
}

podman_stdin() {
  local out
  out=$(printf 'line1\nline2\n' | pm "${pm_run[@]}" --rm -i "$img" cat) || { echo "podman run exited $?: $out"; return 1; }
  expect stdin "$out" "$(printf 'line1\nline2')"
}

podman_missing_binary() {
  local out rc=0
  out=$(pm "${pm_run[@]}" --rm "$img" /no/such/binary 2>&1) || rc=$?
  echo "$out"
  # podman maps the runtime's "no such file or directory" to 127.
  expect "exit status" "$rc" 127 && expect_grep error "$out" 'no such file or directory'
}

podman_apparmor() {
  # podman's own profile, which it loads at run time, applied by the runtime
  # to the container's process and to an exec in it.
  local out
  out=$(pm "${pm_run[@]}" -d --name "$pfx-aa" "$img" "${long_cmd[@]}") || { echo "$out"; return 1; }
  out=$(pm exec "$pfx-aa" cat /proc/self/attr/current; cat "/proc/$(pm inspect --format '{{.State.Pid}}' "$pfx-aa")/attr/current")
  # Enforced, not only named: the profile denies /proc/kcore (which podman
  # masks with /dev/null, so unconfined the read succeeds, empty).
  local denied rc=0
  denied=$(pm exec "$pfx-aa" cat /proc/kcore 2>&1) || rc=$?
  pm rm -f -t 0 "$pfx-aa" >/dev/null || return 1
  echo "$out"
  echo "exec cat /proc/kcore: exit $rc: $denied"
  expect_grep "the exec's and the container's AppArmor profile" "$(sort -u <<<"$out" | tr '\n' '|')" '^containers-default-[0-9.]+ \(enforce\)\|$' &&
    expect_grep "reading /proc/kcore under the profile" "$rc: $denied" "^[1-9][0-9]*: .*Permission denied"
}

podman_tty_run() {
  local out rc=0
  out=$(timeout "$tmo" script -qec "${podman[*]} ${pm_run[*]} --rm -t $img sh -c 'tty; echo tty-ok; exit 9'" /dev/null </dev/null | tty_clean) || rc=$?
  echo "$out"
  expect "exit status" "$rc" 9 && expect_grep "output" "$out" '^/dev/pts/0$' && expect_grep "output" "$out" '^tty-ok$'
}

podman_detached() {
  pm "${pm_run[@]}" -d --name "$pfx-p1" --memory 64m "$img" "${long_cmd[@]}" >/dev/null || return 1
  local st
  st=$(pm inspect --format '{{.State.Status}}' "$pfx-p1")
  expect status "$st" running
}

podman_exec() {
  local out rc=0
  out=$(pm exec "$pfx-p1" sh -c 'echo exec-out; exit 7') || rc=$?
  expect stdout "$out" exec-out && expect "exit status" "$rc" 7
}

podman_tty_exec() {
  local out rc=0
  out=$(timeout "$tmo" script -qec "${podman[*]} exec -t $pfx-p1 sh -c 'tty; exit 8'" /dev/null </dev/null | tty_clean) || rc=$?
  echo "$out"
  expect "exit status" "$rc" 8 && expect_grep "tty" "$out" '^/dev/pts/[0-9]+$'
}

podman_memory_limit() {
  # podman mounts the container's cgroup at /sys/fs/cgroup (read-only).
  local out
  out=$(pm exec "$pfx-p1" sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max') || { echo "$out"; return 1; }
  expect "memory limit seen inside" "$out" 67108864 || return 1
  local pid
  pid=$(pm inspect --format '{{.State.Pid}}' "$pfx-p1")
  expect "memory limit on the host" "$(host_memory_limit "$pid")" 67108864
}

podman_update() {
  pm update --memory 128m "$pfx-p1" >/dev/null || return 1
  local pid
  pid=$(pm inspect --format '{{.State.Pid}}' "$pfx-p1")
  expect "memory limit after podman update" "$(host_memory_limit "$pid")" 134217728
}

podman_pause_unpause() {
  pm pause "$pfx-p1" >/dev/null || return 1
  expect status "$(pm inspect --format '{{.State.Status}}' "$pfx-p1")" paused || return 1
  pm unpause "$pfx-p1" >/dev/null || return 1
  expect status "$(pm inspect --format '{{.State.Status}}' "$pfx-p1")" running
}

podman_stop() {
  pm stop -t 10 "$pfx-p1" >/dev/null || return 1
  expect "status and exit code" "$(pm inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$pfx-p1")" "exited 0"
}

podman_rm() {
  local id
  id=$(pm inspect --format '{{.Id}}' "$pfx-p1") || return 1
  pm rm "$pfx-p1" >/dev/null || return 1
  if pm ps -aq --filter "name=$pfx-p1" | grep -q .; then echo "still listed"; return 1; fi
  # podman calls the runtime without --root: its default state dir.
  if "$runtime" state "$id" >/dev/null 2>&1; then echo "the runtime still has $id"; return 1; fi
}

podman_create_start() {
  # podman defers the runtime's create until start.
  local out
  pm create "${pm_opts[@]}" --name "$pfx-p2" "$img" echo created-then-started >/dev/null || return 1
  out=$(pm start -a "$pfx-p2") || { echo "$out"; pm rm -f "$pfx-p2" >/dev/null 2>&1; return 1; }
  pm rm "$pfx-p2" >/dev/null || return 1
  expect stdout "$out" created-then-started
}

podman_stop_escalates() {
  # pid 1 without a TERM handler ignores it: stop -t 1 sends 15, then 9.
  pm "${pm_run[@]}" -d --name "$pfx-p3" "$img" sleep 300 >/dev/null || return 1
  pm stop -t 1 "$pfx-p3" >/dev/null || return 1
  local st
  st=$(pm inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$pfx-p3")
  pm rm "$pfx-p3" >/dev/null || return 1
  expect "status and exit code" "$st" "exited 137"
}

podman_stop_host_pid() {
  # Without a pid namespace of its own, podman stops with `kill --all ID 15`;
  # sleep, not pid 1 there, dies of the TERM.
  pm "${pm_run[@]}" -d --pid host --name "$pfx-p4" "$img" sleep 300 >/dev/null || return 1
  pm stop -t 10 "$pfx-p4" >/dev/null || return 1
  local st
  st=$(pm inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$pfx-p4")
  pm rm "$pfx-p4" >/dev/null || return 1
  expect "status and exit code" "$st" "exited 143"
}

# --- run ----------------------------------------------------------------------

echo "clients-test: runtime $name ($runtime); $(containerd --version | cut -d' ' -f1,3); $(podman --version); conmon $(conmon --version | awk 'NR == 1 {print $3}'); cgroups $([ "$systemd_host" = 1 ] && echo systemd || echo cgroupfs); AppArmor $([ "$apparmor_on" = 1 ] && echo on || echo off)"

if want containerd || want cri; then
  start_containerd
  c images import "$T/busybox.tar" >/dev/null
fi

if want containerd; then
  scenario ctr-run-stdout ctr_run_stdout
  scenario ctr-run-exit-status ctr_run_status
  scenario ctr-missing-binary ctr_missing_binary
  scenario ctr-stdin ctr_stdin
  if scenario ctr-detached ctr_detached && [ "$(task_status d1)" = RUNNING ]; then
    scenario ctr-exec ctr_exec
    scenario ctr-tty-exec ctr_tty_exec
    scenario ctr-ps ctr_ps
    scenario ctr-pause-resume ctr_pause_resume
    scenario ctr-metrics ctr_metrics
    scenario ctr-memory-limit ctr_memory_limit
    scenario ctr-join-netns ctr_join_netns
    scenario ctr-kill-delete ctr_kill_delete
  fi
  scenario ctr-kill-all ctr_kill_all
  scenario ctr-tty-run ctr_tty_run
  scenario ctr-no-pivot ctr_no_pivot
fi

if want cri; then
  out=$T/out.cri
  rc=0
  capture_label cri
  cri_pod >"$out" 2>&1 || rc=$?
  grep -E '^ {5}' "$out" || true
  p=$(grep -c '^PASS ' "$out" || true)
  f=$(grep -c '^FAIL ' "$out" || true)
  grep -E '^(PASS|FAIL) ' "$out" || true
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL cri-pod"
    sed 's/^/    /' "$out" | tail -n 25
    f=1
  fi
  passed=$((passed + p))
  failed=$((failed + f))
fi

if want podman; then
  setup_podman
  scenario podman-run-stdout podman_run_stdout
  scenario podman-run-exit-status podman_run_status
  scenario podman-stdin podman_stdin
  scenario podman-missing-binary podman_missing_binary
  scenario podman-tty-run podman_tty_run
  [ "$apparmor_on" = 0 ] || scenario podman-apparmor podman_apparmor
  if scenario podman-detached podman_detached; then
    scenario podman-exec podman_exec
    scenario podman-tty-exec podman_tty_exec
    scenario podman-memory-limit podman_memory_limit
    scenario podman-update podman_update
    scenario podman-pause-unpause podman_pause_unpause
    scenario podman-stop podman_stop
    scenario podman-rm podman_rm
  fi
  scenario podman-create-start podman_create_start
  scenario podman-stop-escalates podman_stop_escalates
  scenario podman-stop-host-pid podman_stop_host_pid
fi

echo "clients-test: $name, $(($(date +%s) - started))s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
