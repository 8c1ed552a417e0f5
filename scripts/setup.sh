#!/usr/bin/env bash
# Installs what miniruntime needs on Debian 12 and builds and installs the
# binary to /usr/local/bin/miniruntime. Safe to run again: it installs only
# what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (sudo $0)" >&2
  exit 1
fi

# busybox-static: the built-in demo image; libseccomp-dev, pkg-config, gcc:
# seccomp support (cgo); runc: the reference runtime the benchmark compares
# against; iproute2, nftables, iptables and containernetworking-plugins:
# the networking labs, CNI networks and tests; skopeo and umoci: OCI layouts
# and docker archives the image tests write from local files; tmux: the
# terminal `top` is driven in.
packages=(busybox-static libseccomp-dev pkg-config gcc libc6-dev runc iproute2 nftables iptables containernetworking-plugins git ca-certificates skopeo umoci tmux)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

export PATH="/usr/local/go/bin:$PATH"
if ! command -v go >/dev/null; then
  echo "setup: Go is not installed (expected at /usr/local/go)" >&2
  exit 1
fi

mkdir -p bin
# Statically linked (libseccomp and libc too): the binary is executed twice
# for every container, and a static one starts measurably faster.
# GOEXPERIMENT=jsonv2 puts Go's newer JSON implementation behind the same
# encoding/json API: the first decode of config.json in a fresh process
# (the runtime's, then the init's) costs about half as much.
export GOEXPERIMENT=jsonv2
go build -tags "seccomp netgo osusergo" -trimpath -ldflags "-X main.version=$(git describe --always --dirty 2>/dev/null || echo dev) -extldflags=-static" \
  -o bin/miniruntime ./cmd/miniruntime
# The registry client and the full-screen view are programs of their own,
# run by `miniruntime pull` and `miniruntime top`: their packages'
# initialisation would otherwise cost every start of the runtime binary
# (docs/images.md, docs/explain.md).
go build -tags "netgo osusergo" -trimpath -ldflags "-extldflags=-static" -o bin/miniruntime-image ./cmd/miniruntime-image
go build -trimpath -o bin/miniruntime-top ./cmd/miniruntime-top
# The QoS lab's charts (`qos lab --chart`): gonum/plot's package init would
# cost every start of the runtime binary too (docs/qos.md). -tags minimal
# leaves out the PDF, EPS and TeX backends it does not use.
go build -tags "minimal netgo osusergo" -trimpath -ldflags "-extldflags=-static" -o bin/miniruntime-chart ./cmd/miniruntime-chart
install -m 0755 bin/miniruntime /usr/local/bin/miniruntime
install -m 0755 bin/miniruntime-image /usr/local/bin/miniruntime-image
install -m 0755 bin/miniruntime-top /usr/local/bin/miniruntime-top
install -m 0755 bin/miniruntime-chart /usr/local/bin/miniruntime-chart
echo "setup: installed $(miniruntime --version | head -n 1) to /usr/local/bin/miniruntime"
