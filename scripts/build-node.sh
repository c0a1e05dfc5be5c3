#!/usr/bin/env bash
# Builds the real node's binaries once, into the cache outside the repository: kubelet
# (from the same Kubernetes wrapper-module approach as build-control-plane.sh),
# containerd 2.x with its runc shim and `ctr`, and the pause image (a static C program,
# written for this project, packed as an OCI image archive). Used by
# `manyfold dev up --real-nodes N` when MANYFOLD_NODE_ASSETS and the cache do not
# already hold them; safe to run by hand.
#
#   scripts/build-node.sh [component ...]   components: kubelet containerd pause (default: all)
#
# Environment:
#   MANYFOLD_CACHE       cache root (default ~/.cache/manyfold); output in $MANYFOLD_CACHE/bin/<set>/
#   K8S_VERSION          kubelet release (default v1.37.1, as the control plane)
#   CONTAINERD_VERSION   containerd release (default v2.4.2)
#
# runc and the CNI plugins come from Debian (`runc`, `containernetworking-plugins`): this
# script checks for them and says which package to install.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.1}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
PAUSE_VERSION=manyfold-1
PAUSE_IMAGE=manyfold.local/pause:1
CACHE=${MANYFOLD_CACHE:-$HOME/.cache/manyfold}
BIN="$CACHE/bin"
WORK="$CACHE/build"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

mkdir -p "$BIN" "$WORK"
# Its own lock: the control-plane build may run at the same time (they share only Go's
# module and build caches, which are safe for concurrent use).
exec 9>"$CACHE/build-node.lock"
if ! flock -n 9; then
  echo "[build-node] another build holds $CACHE/build-node.lock; waiting for it" >&2
  flock 9
fi
rm -rf "$BIN"/kubelet-*.tmp.* "$BIN"/containerd-*.tmp.* "$BIN"/pause-*.tmp.*

log() { printf '[build-node %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
need() { command -v "$1" >/dev/null || { echo "build-node: '$1' is required but not on PATH${2:+ (Debian package: $2)}" >&2; exit 1; }; }

with_heartbeat() {
  local label=$1; shift
  local started=$SECONDS
  ( while sleep 30; do log "$label: still building ($((SECONDS - started)) s)"; done ) &
  local hb=$!
  local rc=0
  "$@" || rc=$?
  kill "$hb" 2>/dev/null; wait "$hb" 2>/dev/null || true
  return $rc
}

build_kubelet() {
  local out="$BIN/kubelet-$K8S_VERSION"
  if [ -x "$out/kubelet" ]; then log "kubelet $K8S_VERSION: cached at $out"; return; fi
  need go golang-go; need curl curl
  local start=$SECONDS dir="$WORK/kubelet-$K8S_VERSION" tmp="$out.tmp.$$"
  local staging_version="v0.${K8S_VERSION#v1.}"
  rm -rf "$dir"; mkdir -p "$dir" "$tmp"
  local modfile="$dir/kubernetes.mod"
  curl -fsSL "$(go env GOPROXY | cut -d, -f1)/k8s.io/kubernetes/@v/$K8S_VERSION.mod" -o "$modfile"
  local staging m
  staging=$(awk '/=> \.\/staging\/src\// {print $1}' "$modfile" | sort -u)
  [ -n "$staging" ] || { echo "no staging modules found in $modfile" >&2; exit 1; }
  {
    printf 'module manyfold.dev/build/kubelet\n\ngo 1.26.0\n\ngodebug default=go1.26\n\n'
    printf 'require k8s.io/kubernetes %s\n\nreplace (\n' "$K8S_VERSION"
    for m in $staging; do printf '\t%s => %s %s\n' "$m" "$m" "$staging_version"; done
    echo ")"
  } >"$dir/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/kubelet"\n' >"$dir/tools.go"
  log "kubelet $K8S_VERSION: resolving modules"
  (cd "$dir" && with_heartbeat "kubelet deps" go mod tidy)
  local major=${K8S_VERSION#v}; major=${major%%.*}
  local minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
  local ld="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  log "kubelet $K8S_VERSION: compiling"
  (cd "$dir" && CGO_ENABLED=0 with_heartbeat kubelet go build -trimpath -ldflags "$ld" -o "$tmp/kubelet" k8s.io/kubernetes/cmd/kubelet)
  rm -rf "$out"; mv "$tmp" "$out"
  log "kubelet $K8S_VERSION: built in $((SECONDS - start)) s"
}

build_containerd() {
  local out="$BIN/containerd-$CONTAINERD_VERSION"
  local cmds=(containerd containerd-shim-runc-v2 ctr) c missing=0
  for c in "${cmds[@]}"; do [ -x "$out/$c" ] || missing=1; done
  if [ $missing = 0 ]; then log "containerd $CONTAINERD_VERSION: cached at $out"; return; fi
  need go golang-go
  local start=$SECONDS tmp="$out.tmp.$$"
  mkdir -p "$tmp"
  local ld="-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION"
  for c in "${cmds[@]}"; do
    local s=$SECONDS
    log "containerd $CONTAINERD_VERSION: go install cmd/$c"
    # No btrfs, devmapper or ZFS snapshotters (they need C headers); overlayfs and native stay.
    CGO_ENABLED=0 GOBIN="$tmp" with_heartbeat "$c" go install -trimpath -tags "no_btrfs no_devmapper no_zfs" \
      -ldflags "$ld" "github.com/containerd/containerd/v2/cmd/$c@$CONTAINERD_VERSION"
    log "containerd $CONTAINERD_VERSION: $c built in $((SECONDS - s)) s"
  done
  rm -rf "$out"; mv "$tmp" "$out"
  log "containerd $CONTAINERD_VERSION: built in $((SECONDS - start)) s"
}

# The pause image: one static binary that sleeps until SIGINT/SIGTERM and reaps
# children, as a one-layer OCI image archive (`ctr images import` reads it).
build_pause() {
  local out="$BIN/pause-$PAUSE_VERSION"
  if [ -s "$out/pause.tar" ]; then log "pause $PAUSE_VERSION: cached at $out"; return; fi
  need gcc gcc
  local start=$SECONDS tmp="$out.tmp.$$" here
  here=$(cd "$(dirname "$0")" && pwd)
  mkdir -p "$tmp/rootfs"
  gcc -Os -static -Wall -Werror -o "$tmp/rootfs/pause" "$here/node/pause.c"
  strip "$tmp/rootfs/pause"
  "$here/node/oci-archive.sh" --rootfs "$tmp/rootfs" --name "$PAUSE_IMAGE" \
    --entrypoint /pause --user 65535:65535 --out "$tmp/pause.tar" >/dev/null
  rm -rf "$tmp/rootfs"
  rm -rf "$out"; mv "$tmp" "$out"
  log "pause $PAUSE_VERSION: built in $((SECONDS - start)) s ($(stat -c %s "$out/pause.tar") bytes)"
}

check_debian() {
  local missing=()
  command -v runc >/dev/null || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] || [ -x /opt/cni/bin/bridge ] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  if [ ${#missing[@]} -gt 0 ]; then
    log "also needed from Debian: apt-get install ${missing[*]}"
  fi
}

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(pause containerd kubelet)
total=$SECONDS
for c in "${components[@]}"; do
  case $c in
    kubelet) build_kubelet ;;
    containerd) build_containerd ;;
    pause) build_pause ;;
    *) echo "unknown component '$c' (allowed: kubelet, containerd, pause)" >&2; exit 2 ;;
  esac
done
check_debian
log "done in $((SECONDS - total)) s; binaries under $BIN"
