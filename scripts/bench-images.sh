#!/usr/bin/env bash
# Times images, in one run:
#  1. rootfs ready: a fresh pull of a multi-layer image from a local OCI
#     layout (verify, unpack every layer) against the rootfs of a second
#     container of the cached image (bundle --image: one overlay mount),
#     and that mount's removal;
#  2. `miniruntime run --image` of the cached image against `podman run
#     --rm` of the same image already in podman's storage, both running
#     /bin/true without a network, taking turns run by run, with a short
#     pause after each.
# It prints the medians and their ratios. Needs root, umoci, podman.
#
#   scripts/bench-images.sh [RUNS]        (default 30 runs of each)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
mr=${MINIRUNTIME:-$(command -v miniruntime || echo "$PWD/bin/miniruntime")}
[ -x "$mr" ] || { echo "bench-images: $mr not built (scripts/setup.sh)" >&2; exit 1; }
for tool in umoci podman; do
  command -v $tool >/dev/null || { echo "bench-images: needs $tool (apt-get install $tool)" >&2; exit 1; }
done

# lower case: podman names an image from an OCI layout by its path
work=/tmp/miniruntime-bench-images.$$
mkdir "$work"
store=$work/store
tag=localhost/miniruntime-bench:layers
cleanup() {
  "$mr" image umount --image-root "$store" "$work/b" >/dev/null 2>&1 || true
  [ -n "${podman_id:-}" ] && podman rmi -f "$podman_id" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# An image of 8 layers: busybox, then 7 layers of 200 files of 16 KiB
# each (22 MiB in all), one of them deleting files of another.
lay=$work/layout
umoci init --layout "$lay"
umoci new --image "$lay:v1"
add_layer() { # add_layer N: unpack, change, repack on top
  rm -rf "$work/u"
  umoci unpack --image "$lay:v1" "$work/u" >/dev/null
  local r=$work/u/rootfs
  if [ "$1" = 0 ]; then
    mkdir -p "$r/bin"
    cp /bin/busybox "$r/bin/busybox"
    for a in sh true ls cat; do ln -s busybox "$r/bin/$a"; done
  else
    mkdir -p "$r/data/$1"
    for f in $(seq 200); do head -c 16384 /dev/urandom >"$r/data/$1/$f"; done
    [ "$1" = 7 ] && rm -rf "$r/data/3"
  fi
  umoci repack --image "$lay:v1" "$work/u"
}
for n in 0 1 2 3 4 5 6 7; do add_layer $n; done
umoci config --image "$lay:v1" --config.cmd /bin/true
podman_id=$(podman pull -q "oci:$lay:v1")
podman tag "$podman_id" "$tag"

time_one() {
  local t0 t1
  t0=${EPOCHREALTIME/./}
  "$@" >/dev/null 2>&1 || { echo "bench-images: failed: $*" >&2; exit 1; }
  t1=${EPOCHREALTIME/./}
  echo $((t1 - t0))
}
median() { sort -n | awk '{a[NR]=$1} END{m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'; }
settle() { sleep 0.05; }

# 1. Fresh unpack against a cached image's rootfs.
: >"$work/fresh" ; : >"$work/mount" ; : >"$work/umount"
for i in $(seq "$runs"); do
  rm -rf "$store"
  time_one "$mr" pull --image-root "$store" --progress none "oci:$lay:v1" >>"$work/fresh"
  settle
  time_one "$mr" bundle --image-root "$store" --image "oci:$lay:v1" -b "$work/b" >>"$work/mount"
  time_one "$mr" image umount --image-root "$store" "$work/b" >>"$work/umount"
  rm -rf "$work/b"
  settle
done
fresh=$(median <"$work/fresh") mnt=$(median <"$work/mount") um=$(median <"$work/umount")
echo "rootfs of an 8-layer image (22 MiB), medians of $runs:"
echo "  fresh pull and unpack     ${fresh} ms"
echo "  cached: bundle --image    ${mnt} ms (ratio $(awk -v a="$mnt" -v b="$fresh" 'BEGIN{printf "%.3f", a/b}'))"
echo "  image umount              ${um} ms"

# 2. run --image against podman run, alternating. podman runs runc (its
# crun refuses hybrid cgroup hosts); its default RLIMIT_NOFILE and
# RLIMIT_NPROC cannot be set in this machine's sandbox, so both are 1024
# (miniruntime's default for NOFILE).
"$mr" pull --image-root "$store" --progress none "oci:$lay:v1" >/dev/null
: >"$work/mr" ; : >"$work/podman"
for i in $(seq "$runs"); do
  time_one "$mr" --root "$work/state" run --image-root "$store" --image "oci:$lay:v1" "bench$i" >>"$work/mr"
  settle
  time_one podman run --rm --network none --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$tag" >>"$work/podman"
  settle
done
m=$(median <"$work/mr") p=$(median <"$work/podman")
echo "run /bin/true in the cached image, medians of $runs, alternating:"
echo "  miniruntime run --image   ${m} ms"
echo "  podman run --rm           ${p} ms (runc, --network none)"
echo "  ratio                     $(awk -v a="$m" -v b="$p" 'BEGIN{printf "%.3f", a/b}')"
