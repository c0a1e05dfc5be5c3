#!/usr/bin/env bash
# Packs a root filesystem directory as a one-layer OCI image archive (an OCI image
# layout in a tar, with a Docker-style manifest.json too), readable by
# `ctr images import` and `docker load`. Deterministic: sorted entries, owner 0,
# mtime 0, so the same input gives the same digest.
#
#   scripts/node/oci-archive.sh --rootfs DIR --name REF --out FILE [--entrypoint PATH]... [--cmd ARG]...
#                               [--user UID:GID] [--workdir DIR] [--env K=V]...
set -euo pipefail
rootfs= name= out= user= workdir=/
entry=() cmd=() env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
while [ $# -gt 0 ]; do
  case $1 in
    --rootfs) rootfs=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --entrypoint) entry+=("$2"); shift 2 ;;
    --cmd) cmd+=("$2"); shift 2 ;;
    --user) user=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    --env) env+=("$2"); shift 2 ;;
    *) echo "oci-archive: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -d "$rootfs" ] && [ -n "$name" ] && [ -n "$out" ] || { echo "oci-archive: --rootfs, --name and --out are required" >&2; exit 2; }

json_array() { local first=1 s; printf '['; for s in "$@"; do [ $first = 1 ] || printf ','; first=0; printf '"%s"' "${s//\"/\\\"}"; done; printf ']'; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/blobs/sha256"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C "$rootfs" -cf "$stage/layer.tar" .
layer=$(sha "$stage/layer.tar"); layer_size=$(stat -c %s "$stage/layer.tar")
mv "$stage/layer.tar" "$stage/blobs/sha256/$layer"

{
  printf '{"architecture":"amd64","os":"linux","config":{'
  printf '"Env":%s,' "$(json_array "${env[@]}")"
  [ ${#entry[@]} -eq 0 ] || printf '"Entrypoint":%s,' "$(json_array "${entry[@]}")"
  [ ${#cmd[@]} -eq 0 ] || printf '"Cmd":%s,' "$(json_array "${cmd[@]}")"
  [ -z "$user" ] || printf '"User":"%s",' "$user"
  printf '"WorkingDir":"%s"},' "$workdir"
  printf '"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"manyfold scripts/node/oci-archive.sh"}]}' "$layer"
} >"$stage/config.json"
config=$(sha "$stage/config.json"); config_size=$(stat -c %s "$stage/config.json")
mv "$stage/config.json" "$stage/blobs/sha256/$config"

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
  "$config" "$config_size" "$layer" "$layer_size" >"$stage/manifest"
manifest=$(sha "$stage/manifest"); manifest_size=$(stat -c %s "$stage/manifest")
mv "$stage/manifest" "$stage/blobs/sha256/$manifest"

tag=${name##*:}
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
  "$manifest" "$manifest_size" "$name" "$tag" >"$stage/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$stage/oci-layout"
printf '[{"Config":"blobs/sha256/%s","RepoTags":["%s"],"Layers":["blobs/sha256/%s"]}]' "$config" "$name" "$layer" >"$stage/manifest.json"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$stage" -cf "$out" oci-layout index.json manifest.json blobs
echo "sha256:$manifest"
