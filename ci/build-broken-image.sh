#!/usr/bin/env bash
# Builds zk-chaos/zookeeper-broken:3.9.5 (fixtures/zookeeper-images/broken-config): zk-chaos/zookeeper:3.9.5 whose
# server cannot start (its zoo.cfg gets initLimit=ten), the image the upgrade suite's negative control rolls to.
#
#   bash ci/build-broken-image.sh
#
# Offline: FROM the local zk-chaos/zookeeper:3.9.5 (bash ci/build-zookeeper-images.sh walkthrough-3.9.5 builds it).
# Rebuilt only when needed: the image's label zk-chaos.fixture-hash is a hash of the Dockerfile and of the base's
# image ID; an up-to-date image is left alone.
# Exit codes: 0 built or up to date; 3 no Docker engine or no base image; 1 the build failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$here/fixtures/zookeeper-images/broken-config
base=${ZK_CHAOS_BROKEN_BASE:-zk-chaos/zookeeper:3.9.5}
image=${ZK_CHAOS_BROKEN_IMAGE:-zk-chaos/zookeeper-broken:3.9.5}

log() { printf 'build-broken-image: %s\n' "$*" >&2; }

if ! docker info >/dev/null 2>&1; then
  log "no Docker engine answers (docker info failed): start one (bash ci/start-docker.sh, as root) and retry"
  exit 3
fi
if ! base_id=$(docker image inspect -f '{{.Id}}' "$base" 2>/dev/null); then
  log "the base image $base is not in the local engine: bash ci/build-zookeeper-images.sh walkthrough-3.9.5 builds it"
  exit 3
fi
hash=$( { sha256sum "$src/Dockerfile"; echo "base $base $base_id"; } | sha256sum | cut -c1-16)
current=$(docker image inspect -f '{{ index .Config.Labels "zk-chaos.fixture-hash" }}' "$image" 2>/dev/null || true)
if [ "$current" = "$hash" ]; then
  log "$image is up to date (fixture hash $hash, base $base)"
  exit 0
fi
log_file=$(mktemp /tmp/zk-chaos-build-broken.XXXXXX)
trap 'rm -f "$log_file"' EXIT
if ! docker build --build-arg "BASE=$base" --label "zk-chaos.fixture-hash=$hash" -t "$image" "$src" >"$log_file" 2>&1; then
  tail -n 30 "$log_file" >&2
  log "docker build of $image failed"
  exit 1
fi
log "built $image (fixture hash $hash, base $base)"
