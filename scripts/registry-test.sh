#!/usr/bin/env bash
# Images through a real registry process: Debian's docker-registry (the
# CNCF distribution registry), listening on 127.0.0.1 only, with its storage
# in a temporary directory. An image with three layers is made from local
# files by umoci (deletions of a file and of a directory, a hard link,
# symlinks, an opaque directory, a non-root user in two groups, a working
# dir, Entrypoint and Cmd), pushed by skopeo, pulled by miniruntime over
# plain HTTP (a registry on this machine needs no --insecure), and run:
# by tag as an OCI and as a docker v2s2 manifest, by digest, from the OCI
# layout and from a docker archive. Bad input (an unknown tag, repository
# or digest, a malformed name, a layer the registry serves damaged or cut
# short, another architecture, no command) must fail with one line and
# exit 1 and leave the store exactly as it was.
#
#   scripts/registry-test.sh /path/to/miniruntime
#
# Needs root. miniruntime-image must sit beside the binary (or be named by
# $MINIRUNTIME_IMAGE_HELPER). Everything lives in one temporary directory
# (state root, image store, registry storage) removed on exit, with the
# registry, the containers and any mount.
set -euo pipefail

die() { echo "registry-test: $*" >&2; exit 1; }
[ "$#" -eq 1 ] || die "usage: $0 /path/to/miniruntime"
[ "$(id -u)" -eq 0 ] || die "needs root (it runs containers)"
MR=$(readlink -f "$1")
[ -x "$MR" ] || die "$1 is not an executable"
if [ -z "${MINIRUNTIME_IMAGE_HELPER:-}" ] && [ ! -x "$(dirname "$MR")/miniruntime-image" ]; then
  die "no miniruntime-image beside $MR (go build -o $(dirname "$MR")/miniruntime-image ./cmd/miniruntime-image)"
fi
start_ns=$(date +%s%N)

W=""
regpid=""
made_policy=""
cleanup() {
  local rc=$? id i m
  set +e
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
  # The containers a failure left (a run that passed removed its own).
  if [ -n "$W" ] && [ -d "$W/state" ]; then
    for id in $(timeout 30 "$MR" --root "$W/state" list -q 2>/dev/null); do
      timeout 30 "$MR" --root "$W/state" delete -f "$id" >/dev/null 2>&1
    done
  fi
  if [ -n "$regpid" ] && kill "$regpid" 2>/dev/null; then
    for i in $(seq 50); do kill -0 "$regpid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$regpid" 2>/dev/null
    wait "$regpid" 2>/dev/null
  fi
  if [ -n "$W" ]; then
    # A failed run may leave its rootfs mounted: deepest first.
    awk -v w="$W/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
      while read -r m; do umount -l "$m"; done
    rm -rf "$W"
  fi
  if [ "$rc" -ne 0 ]; then echo "registry-test: FAILED" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- what the test needs ---------------------------------------------------
need=()
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v umoci >/dev/null || need+=(umoci)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ "${#need[@]}" -gt 0 ]; then
  # The package would start its service (on :5000, every interface) and
  # enable it for the next boot. policy-rc.d tells invoke-rc.d and
  # deb-systemd-invoke not to start it; the links are removed after.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; made_policy=""; fi
  if [[ " ${need[*]} " == *" docker-registry "* ]]; then
    if [ -d /run/systemd/system ]; then
      systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
    else
      rm -f /etc/systemd/system/multi-user.target.wants/docker-registry.service
    fi
    update-rc.d docker-registry disable >/dev/null 2>&1 || true
  fi
fi

W=$(mktemp -d /tmp/miniruntime-registry.XXXXXX)
STATE=$W/state
STORE=$W/images
mkdir -p "$STATE" "$STORE" "$W/reg/storage"

# Each command is bounded: a hang fails the test instead of blocking it.
mr() { timeout 120 "$MR" --root "$STATE" "$@"; }
img() { # an image command with the test's store: img pull REF, img image rm REF
  if [ "$1" = image ]; then mr image "$2" --image-root "$STORE" "${@:3}"; else mr "$1" --image-root "$STORE" "${@:2}"; fi
}
skopeo_() { timeout 120 skopeo --insecure-policy "$@"; }
step() { printf 'registry-test: %s\n' "$*"; }
fail() { echo "registry-test: $*" >&2; exit 1; }

# --- the registry ----------------------------------------------------------
cat >"$W/reg/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $W/reg/storage
http:
  addr: 127.0.0.1:0
  secret: registry-test-$$
EOF
# Not as root: the registry's own user when the package made it.
run_as=()
if id docker-registry >/dev/null 2>&1; then
  chown -R docker-registry: "$W/reg"
  chmod 711 "$W"
  run_as=(setpriv --reuid=docker-registry --regid=docker-registry --clear-groups)
fi
"${run_as[@]}" /usr/bin/docker-registry serve "$W/reg/config.yml" >"$W/registry.log" 2>&1 &
regpid=$!
# Port 0: the kernel picks a free port and the registry logs it.
PORT=""
for _ in $(seq 100); do
  PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$W/registry.log" | head -1)
  [ -n "$PORT" ] && break
  kill -0 "$regpid" 2>/dev/null || { cat "$W/registry.log" >&2; fail "the registry exited"; }
  sleep 0.1
done
[ -n "$PORT" ] || { cat "$W/registry.log" >&2; fail "the registry did not listen within 10 s"; }
# It listens on 127.0.0.1 and nowhere else.
listen=$(ss -Hltnp | awk -v p="pid=$regpid," 'index($0, p) { print $4 }')
[ "$listen" = "127.0.0.1:$PORT" ] || fail "the registry listens on: $listen"
REG=127.0.0.1:$PORT
step "docker-registry $(/usr/bin/docker-registry --version | awk '{print $NF}') listening on $REG (pid $regpid)"

# --- the image, made from local files by umoci ------------------------------
L=$W/layout
umoci init --layout "$L"
umoci new --image "$L:v1"
umoci unpack --image "$L:v1" "$W/u1"
R=$W/u1/rootfs
mkdir -p "$R"/{bin,etc,data,gone,opq,home/app,tmp,proc,dev,sys}
cp /bin/busybox "$R/bin/busybox"
for a in sh id pwd ls cat stat readlink test echo touch true sleep; do ln -s busybox "$R/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\napp:x:1000:\nextra:x:2000:app\nother:x:3000:root\n' >"$R/etc/group"
echo a >"$R/data/a"
echo b >"$R/data/b"
: >"$R/gone/x"
: >"$R/opq/old1"
: >"$R/opq/old2"
chown 1000:1000 "$R/home/app"
umoci repack --image "$L:v1" "$W/u1"
# Layer 2, by umoci's diff of an unpacked copy: a file and a directory
# deleted (whiteouts), a hard link, an absolute and a relative symlink.
umoci unpack --image "$L:v1" "$W/u2"
R=$W/u2/rootfs
rm "$R/data/a"
rm -r "$R/gone"
echo linked >"$R/f2"
ln "$R/f2" "$R/f2link"
ln -s /data/b "$R/link"
ln -s data/b "$R/rel"
umoci repack --image "$L:v1" "$W/u2"
# Layer 3, a tar written by GNU tar and added as it is (umoci's diff never
# makes an opaque marker): opq/ hides old1 and old2 below it and keeps its
# own file; the working dir belongs to the user.
mkdir -p "$W/l3/opq" "$W/l3/work"
echo new >"$W/l3/opq/new"
: >"$W/l3/opq/.wh..wh..opq"
echo hello >"$W/l3/work/hello"
chown -R 1000:1000 "$W/l3/work"
tar --numeric-owner -C "$W/l3" -cf "$W/l3.tar" opq work
umoci raw add-layer --image "$L:v1" "$W/l3.tar"
umoci config --image "$L:v1" --config.user app --config.workingdir /work --config.env FOO=bar \
  --config.entrypoint /bin/sh --config.entrypoint -c --config.cmd 'echo default command'
# The bad ones, as further tags of the layout.
umoci config --image "$L:v1" --tag arm64 --architecture arm64
umoci config --image "$L:v1" --tag nocmd --clear config.entrypoint --clear config.cmd
# Two images with a layer of their own each, for the registry to damage.
for k in flip cut; do
  mkdir -p "$W/l-$k"
  head -c 65536 /dev/urandom >"$W/l-$k/$k"
  tar -C "$W/l-$k" -cf "$W/l-$k.tar" "$k"
  umoci raw add-layer --image "$L:v1" --tag "$k" "$W/l-$k.tar"
done

# --- push with skopeo --------------------------------------------------------
for t in v1 arm64 nocmd flip cut; do
  skopeo_ copy -q --dest-tls-verify=false "oci:$L:$t" "docker://$REG/test/multi:$t"
done
skopeo_ copy -q --dest-tls-verify=false --format v2s2 "oci:$L:v1" "docker://$REG/test/multi:v2s2"
DIGEST=sha256:$(skopeo_ inspect --tls-verify=false --raw "docker://$REG/test/multi:v1" | sha256sum | cut -d' ' -f1)
skopeo_ copy -q "oci:$L:v1" "docker-archive:$W/multi.tar:local/multi:v1"
step "pushed test/multi:{v1,v2s2,arm64,nocmd,flip,cut}; v1 is $DIGEST"

# --- pull and run ------------------------------------------------------------
# What the container must see: the user and its groups, the working dir,
# the image's Env, the deletions, the opaque dir, the links, the owner of
# the working dir's file, and a writable root.
script='id -u; id -g; id -G; pwd; echo "$FOO"; ls /data; ls /opq; test -e /gone && echo gone-present;
cat /f2link; stat -c %h /f2; test "$(stat -c %i /f2)" = "$(stat -c %i /f2link)" && echo one-inode;
readlink /link; cat /link; cat /rel; stat -c %u:%g /work/hello; touch mine && echo wrote'
want='1000
1000
1000 2000
/work
bar
b
new
linked
2
one-inode
/data/b
b
b
1000:1000
wrote'
n=0
check_run() { # check_run REF: the script's view, and the default command
  local ref=$1 out
  n=$((n + 1))
  out=$(mr run --image-root "$STORE" --pull never --image "$ref" "regtest-$$-$n" -- "$script") ||
    fail "run --image $ref exited $?: $out"
  [ "$out" = "$want" ] || fail "run --image $ref: the container saw:
$out
want:
$want"
  n=$((n + 1))
  out=$(mr run --image-root "$STORE" --pull never --image "$ref" "regtest-$$-$n") || fail "run --image $ref (default command) exited $?"
  [ "$out" = "default command" ] || fail "run --image $ref: the default command printed $out"
}

id_tag=$(img pull --progress none "$REG/test/multi:v1")
step "pulled $REG/test/multi:v1 over plain HTTP: image ${id_tag#sha256:}"
check_run "$REG/test/multi:v1"
layers=$(ls "$STORE/layers" | wc -l)
[ "$layers" -eq 3 ] || fail "$layers layers unpacked, want 3"

id_dig=$(img pull --progress none "$REG/test/multi@$DIGEST")
[ "$id_dig" = "$id_tag" ] || fail "by digest: image $id_dig, by tag $id_tag"
img images --format json | grep -q "\"ManifestDigest\": *\"$DIGEST\"" || fail "images does not record the manifest digest $DIGEST"
check_run "$REG/test/multi@$DIGEST"

# The process as the host sees it: a detached container of the image
# pulled by digest, its uid and cwd read from /proc.
n=$((n + 1))
det="regtest-$$-$n"
mr run -d --image-root "$STORE" --pull never --image "$REG/test/multi@$DIGEST" "$det" -- 'exec sleep 60' >/dev/null
pid=$(mr state "$det" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
[ -n "$pid" ] || fail "no pid for the detached container"
# start returns once the process is released; it drops to the image's
# user and execs on its own time: wait for the command itself.
for _ in $(seq 100); do
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sleep ] && break
  sleep 0.1
done
[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sleep ] || fail "the detached container's process is not running sleep after 10 s"
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
[ "$uids" = "1000 1000 1000 1000" ] || fail "the process's uids are $uids"
groups=$(awk '/^Groups:/ { $1 = ""; print }' "/proc/$pid/status" | xargs)
[ "$groups" = "1000 2000" ] || [ "$groups" = "2000" ] || fail "the process's groups are $groups"
# The kernel names the cwd from the process's own root (pivot_root'ed);
# the same inode as the rootfs's /work seen through /proc/PID/root.
cwd=$(readlink "/proc/$pid/cwd")
[ "$cwd" = /work ] || fail "the process's cwd is $cwd"
[ "$(stat -L -c %d:%i "/proc/$pid/cwd")" = "$(stat -c %d:%i "/proc/$pid/root/work")" ] ||
  fail "the process's cwd is not the rootfs's /work"
mr delete -f "$det" >/dev/null
[ -z "$(ls "$STORE/c")" ] || fail "delete left the detached container's rootfs"
step "the process as the host sees it: uids 1000, groups $groups, cwd /work"

# A docker v2s2 manifest of the same layers: none fetched or unpacked again.
img pull --progress none "$REG/test/multi:v2s2" >/dev/null
[ "$(ls "$STORE/layers" | wc -l)" -eq 3 ] || fail "the v2s2 manifest's layers were unpacked again"
check_run "$REG/test/multi:v2s2"
# The same image from the OCI layout umoci wrote and from skopeo's docker
# archive.
img pull --progress none "oci:$L:v1" >/dev/null
check_run "oci:$L:v1"
img pull --progress none "docker-archive:$W/multi.tar" >/dev/null
check_run "docker-archive:$W/multi.tar"
[ "$(ls "$STORE/layers" | wc -l)" -eq 3 ] || fail "the same layers from other transports were unpacked again"
step "ran it by tag (OCI and v2s2 manifests), by digest, from the OCI layout and the docker archive"

# --- bad input ---------------------------------------------------------------
listing() { find "$STORE" "$STATE" -mindepth 1 -printf '%P %y %s\n' | sort; }
# bad WANT ARGS...: exit 1, one line (besides the progress lines of
# layers that were fine) naming the cause, and the store as it was.
bad() {
  local want=$1 before after rc
  shift
  before=$(listing)
  rc=0
  "$@" >"$W/out" 2>"$W/err" || rc=$?
  [ "$rc" -eq 1 ] || fail "$* exited $rc, want 1: $(cat "$W/err")"
  grep -v '^pull: ' "$W/err" >"$W/errlines" || true
  [ "$(wc -l <"$W/errlines")" -eq 1 ] || fail "$*: want one line, got: $(cat "$W/err")"
  grep -qF -- "$want" "$W/errlines" || fail "$*: the line lacks \"$want\": $(cat "$W/errlines")"
  after=$(listing)
  [ "$before" = "$after" ] || fail "$* changed the store:
$(diff <(echo "$before") <(echo "$after"))"
  printf 'registry-test:   %s\n' "$(cat "$W/errlines")"
}
step "bad input: one line, exit 1, the store as it was"
bad "no such image" img pull "$REG/test/multi:nope"
bad "no such image" img pull "$REG/test/none:v1"
bad "no such image" img pull "$REG/test/multi@sha256:$(printf '0%.0s' $(seq 64))"
bad "invalid image reference" img pull "$REG/Test//multi:v1"
bad "invalid image reference" img pull "$REG/test/multi@sha256:abc"
bad "linux/arm64, not linux/amd64" img pull "$REG/test/multi:arm64"
# The registry serves the layer blobs as they lie in its storage: one with
# a byte flipped, one cut in half.
blob() { # the registry's file of the top layer of a tag
  local d
  d=$(skopeo_ inspect --tls-verify=false --raw "docker://$REG/test/multi:$1" |
    tr -d ' \n' | grep -o '"digest":"sha256:[0-9a-f]*"' | tail -1 | cut -d: -f3 | tr -d '"')
  echo "$W/reg/storage/docker/registry/v2/blobs/sha256/${d:0:2}/$d/data"
}
f=$(blob flip)
[ -f "$f" ] || fail "no blob file $f"
printf '\xff' | dd of="$f" bs=1 seek=$(($(stat -c %s "$f") / 2)) conv=notrunc status=none
bad "layer 4 of 4" img pull "$REG/test/multi:flip"
f=$(blob cut)
[ -f "$f" ] || fail "no blob file $f"
truncate -s $(($(stat -c %s "$f") / 2)) "$f"
bad "layer 4 of 4" img pull "$REG/test/multi:cut"
# No command: pulled first, so that the failed run has nothing to clean
# up in the store but its own container.
img pull --progress none "$REG/test/multi:nocmd" >/dev/null
n=$((n + 1))
bad "the image has no command" mr run --image-root "$STORE" --pull never --image "$REG/test/multi:nocmd" "regtest-$$-$n"

# --- nothing left --------------------------------------------------------------
img image prune -a >/dev/null
for d in layers l images c bundles tmp; do
  [ -z "$(ls -A "$STORE/$d" 2>/dev/null)" ] || fail "$STORE/$d is not empty after prune -a: $(ls -A "$STORE/$d")"
done
[ -z "$(ls -A "$STORE/blobs/sha256" 2>/dev/null)" ] || fail "blobs left after prune -a"
! grep -qF "$W/" /proc/self/mountinfo || fail "a mount is left under $W"
[ -z "$(mr list -q)" ] || fail "containers left: $(mr list -q)"
step "passed in $((($(date +%s%N) - start_ns) / 1000000)) ms"
