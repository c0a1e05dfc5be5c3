#!/usr/bin/env bash
# Builds the local control plane's binaries from the Go module proxy, once, into a
# cache outside the repository. Used by `manyfold dev up` when KUBEBUILDER_ASSETS and
# the cache do not already hold them; safe to run by hand.
#
#   scripts/build-control-plane.sh [component ...]   components: etcd kwok kubernetes (default: all)
#
# Environment:
#   MANYFOLD_CACHE   cache root (default ~/.cache/manyfold); binaries land in $MANYFOLD_CACHE/bin/<set>/
#   K8S_VERSION      Kubernetes release (default v1.37.1: the newest release that declares go 1.26 and whose
#                    module zip the proxy serves; v1.37.2 answers 403 there)
#   ETCD_VERSION     etcd release (default v3.6.16)
#   KWOK_VERSION     kwok release (default v0.8.0)
#
# Builds use the machine's Go (GOTOOLCHAIN=local), CGO_ENABLED=0, -trimpath and the
# version ldflags so that /version reports the real release.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.1}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
CACHE=${MANYFOLD_CACHE:-$HOME/.cache/manyfold}
BIN="$CACHE/bin"
WORK="$CACHE/build"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false

mkdir -p "$BIN" "$WORK"
# One build at a time per cache (two `dev up` at once wait for each other); leftovers of
# an interrupted build are removed.
exec 9>"$CACHE/build.lock"
if ! flock -n 9; then
  echo "[build] another build holds $CACHE/build.lock; waiting for it" >&2
  flock 9
fi
rm -rf "$BIN"/*.tmp.*

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
need() { command -v "$1" >/dev/null || { echo "build-control-plane: '$1' is required but not on PATH" >&2; exit 1; }; }
need go
need curl

# Prints a line every 30 s while a long step runs, so the caller sees progress.
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

build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# kwok exits with "no stages found" unless its configuration holds Stage objects. The
# release's own default stages (fast node initialise, heartbeat with lease, fast pod
# lifecycle) ship in its module; collect them next to the binary.
kwok_stages() {
  local out=$1 json dir f
  json=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION")
  dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' | head -n 1)
  [ -d "$dir/kustomize/stage" ] || { echo "kwok stages not found in module dir '$dir'" >&2; exit 1; }
  : >"$out/stages.yaml.tmp"
  for f in "$dir"/kustomize/stage/node/fast/*.yaml "$dir"/kustomize/stage/node/heartbeat-with-lease/*.yaml \
           "$dir"/kustomize/stage/pod/fast/*.yaml; do
    case $(basename "$f") in kustomization.yaml) continue ;; esac
    { echo "---"; echo "# from sigs.k8s.io/kwok@$KWOK_VERSION ${f#"$dir"/}"; cat "$f"; } >>"$out/stages.yaml.tmp"
  done
  mv "$out/stages.yaml.tmp" "$out/stages.yaml"
  log "kwok $KWOK_VERSION: default stages written to $out/stages.yaml"
}

build_kwok() {
  local out="$BIN/kwok-$KWOK_VERSION"
  if [ -x "$out/kwok" ]; then
    [ -s "$out/stages.yaml" ] || kwok_stages "$out"
    log "kwok $KWOK_VERSION: cached at $out"; return
  fi
  log "kwok $KWOK_VERSION: go install sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  local start=$SECONDS tmp="$out.tmp.$$"
  mkdir -p "$tmp"
  with_heartbeat kwok env GOBIN="$tmp" go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  kwok_stages "$tmp"
  rm -rf "$out"; mv "$tmp" "$out"
  log "kwok $KWOK_VERSION: built in $((SECONDS - start)) s"
}

build_etcd() {
  local out="$BIN/etcd-$ETCD_VERSION"
  if [ -x "$out/etcd" ]; then log "etcd $ETCD_VERSION: cached at $out"; return; fi
  local start=$SECONDS dir="$WORK/etcd-$ETCD_VERSION" tmp="$out.tmp.$$"
  rm -rf "$dir"; mkdir -p "$dir" "$tmp"
  log "etcd $ETCD_VERSION: wrapper module in $dir"
  cat >"$dir/go.mod" <<MOD
module manyfold.dev/build/etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 $ETCD_VERSION

replace (
	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 $ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 $ETCD_VERSION
)
MOD
  cat >"$dir/tools.go" <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  (cd "$dir" && with_heartbeat "etcd deps" go mod tidy)
  log "etcd $ETCD_VERSION: compiling"
  (cd "$dir" && with_heartbeat etcd go build -trimpath \
    -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=release-$ETCD_VERSION" \
    -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$out"; mv "$tmp" "$out"
  log "etcd $ETCD_VERSION: built in $((SECONDS - start)) s"
}

build_kubernetes() {
  local out="$BIN/kubernetes-$K8S_VERSION"
  local cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  local missing=0 c
  for c in "${cmds[@]}"; do [ -x "$out/$c" ] || missing=1; done
  if [ $missing = 0 ]; then log "kubernetes $K8S_VERSION: cached at $out"; return; fi
  local start=$SECONDS dir="$WORK/kubernetes-$K8S_VERSION" tmp="$out.tmp.$$"
  local staging_version="v0.${K8S_VERSION#v1.}"
  rm -rf "$dir"; mkdir -p "$dir" "$tmp"
  log "kubernetes $K8S_VERSION: reading the staging module list from its go.mod"
  local modfile="$dir/kubernetes.mod"
  curl -fsSL "$(go env GOPROXY | cut -d, -f1)/k8s.io/kubernetes/@v/$K8S_VERSION.mod" -o "$modfile"
  local staging
  staging=$(awk '/=> \.\/staging\/src\// {print $1}' "$modfile" | sort -u)
  [ -n "$staging" ] || { echo "no staging modules found in $modfile" >&2; exit 1; }
  log "kubernetes $K8S_VERSION: $(echo "$staging" | wc -l) staging modules pinned to $staging_version"
  {
    echo "module manyfold.dev/build/kubernetes"
    echo
    echo "go 1.26.0"
    echo
    echo "godebug default=go1.26"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    for m in $staging; do printf '\t%s => %s %s\n' "$m" "$m" "$staging_version"; done
    echo ")"
  } >"$dir/go.mod"
  {
    echo "//go:build tools"
    echo
    echo "package tools"
    echo
    echo "import ("
    for c in "${cmds[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
    echo ")"
  } >"$dir/tools.go"
  (cd "$dir" && with_heartbeat "kubernetes deps" go mod tidy)
  local major=${K8S_VERSION#v}; major=${major%%.*}
  local minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
  local ld="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
  done
  for c in "${cmds[@]}"; do
    local s=$SECONDS
    log "kubernetes $K8S_VERSION: compiling $c"
    (cd "$dir" && with_heartbeat "$c" go build -trimpath -ldflags "$ld" -o "$tmp/$c" "k8s.io/kubernetes/cmd/$c")
    log "kubernetes $K8S_VERSION: $c built in $((SECONDS - s)) s"
  done
  rm -rf "$out"; mv "$tmp" "$out"
  log "kubernetes $K8S_VERSION: built in $((SECONDS - start)) s"
}

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(etcd kwok kubernetes)
total=$SECONDS
for c in "${components[@]}"; do
  case $c in
    etcd) build_etcd ;;
    kwok) build_kwok ;;
    kubernetes) build_kubernetes ;;
    *) echo "unknown component '$c' (allowed: etcd, kwok, kubernetes)" >&2; exit 2 ;;
  esac
done
log "done in $((SECONDS - total)) s; binaries under $BIN"
