#!/usr/bin/env bash
# Installs the runtimes miniruntime is compared with: Debian's runc (1.1.5)
# and crun, and runc 1.4 built from the Go module proxy (Debian's runc
# predates time namespaces and writes older configs). The tests and the
# benchmarks find runc 1.4 at $PEERS/runc. Safe to run again: a built runc
# is kept.
#
#   scripts/peers.sh        (PEERS defaults to /var/tmp/miniruntime-peers)
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${PEERS:-/var/tmp/miniruntime-peers}
RUNC_VERSION=v1.4.2

missing=()
for p in runc crun libseccomp-dev pkg-config gcc; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "peers: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$("$PEERS/runc" --version 2>/dev/null | head -n 1)" != "runc version ${RUNC_VERSION#v}" ]; then
  echo "peers: building runc $RUNC_VERSION from the Go module proxy"
  export PATH="/usr/local/go/bin:$PATH"
  mkdir -p "$PEERS"
  # Built outside this module (go install pkg@version), into a temporary
  # name first, so that an interrupted build never leaves a broken runc.
  tmp=$(mktemp -d "$PEERS/.build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  GOBIN="$tmp" CGO_ENABLED=1 GOFLAGS= GOEXPERIMENT= \
    go install -tags seccomp -ldflags "-X main.version=${RUNC_VERSION#v}" "github.com/opencontainers/runc@$RUNC_VERSION"
  mv "$tmp/runc" "$PEERS/runc"
fi
echo "peers: $(runc --version | head -n 1) at $(command -v runc); $("$PEERS/runc" --version | head -n 1) at $PEERS/runc; $(crun --version | head -n 1)"
