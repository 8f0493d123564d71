#!/usr/bin/env bash
# Builds the fixture image zk-chaos/zookeeper from Debian's zookeeper package (3.8).
#
# With no container registry (the default here) the base image is made with debootstrap and
# `docker import`, with the packages ZooKeeper needs already inside it. Where a registry is
# reachable, ZK_CHAOS_BASE_IMAGE=debian:bookworm-slim builds the ordinary way: the Dockerfile
# installs the packages itself when its base lacks them.
#
# Idempotent: an existing base is reused; the final image is rebuilt only when fixtures/image
# changed (its content hash is the image label zk-chaos.fixture-hash).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
image=${ZK_CHAOS_IMAGE:-zk-chaos/zookeeper:3.8}
base=${ZK_CHAOS_BASE_IMAGE:-zk-chaos/debian-zookeeper-base:bookworm}
suite=${ZK_CHAOS_DEBIAN_SUITE:-bookworm}
mirror=${ZK_CHAOS_DEBIAN_MIRROR:-}
packages=zookeeper,default-jre-headless,netcat-openbsd,procps,ca-certificates

log() { printf 'build-image: %s\n' "$*" >&2; }

if ! docker info >/dev/null 2>&1; then
  log "no Docker engine answers (docker info failed); start one and retry"
  exit 3
fi

if [ -z "$mirror" ]; then
  # The mirror apt already uses on this machine, else Debian's default.
  mirror=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
  mirror=${mirror:-http://deb.debian.org/debian}
fi

if ! docker image inspect "$base" >/dev/null 2>&1; then
  case "$base" in
    zk-chaos/*) ;;
    *) log "base image $base is missing; pulling it"; docker pull "$base" ;;
  esac
fi

if ! docker image inspect "$base" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null 2>&1 || {
    log "debootstrap is not installed; installing it from Debian's packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  rootfs=$(mktemp -d /tmp/zk-chaos-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  log "making base $base with debootstrap ($suite from $mirror); this takes a few minutes, once"
  debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
    tail -n 30 "$rootfs.log" >&2; log "debootstrap failed (full log: $rootfs.log)"; exit 1; }
  # Keep the image small: apt lists and caches are not needed at run time.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$base" >/dev/null
  rm -f "$rootfs.log"
  log "imported $base"
fi

hash=$( (cd "$here/fixtures/image" && find . -type f | LC_ALL=C sort | xargs sha256sum) | sha256sum | cut -c1-16)
current=$(docker image inspect -f '{{ index .Config.Labels "zk-chaos.fixture-hash" }}' "$image" 2>/dev/null || true)
if [ "$current" = "$hash" ]; then
  log "$image is up to date (fixture hash $hash)"
  exit 0
fi
log "building $image from fixtures/image on $base"
buildlog=$(mktemp /tmp/zk-chaos-build.XXXXXX)
if ! docker build --build-arg "BASE=$base" --label "zk-chaos.fixture-hash=$hash" -t "$image" "$here/fixtures/image" >"$buildlog" 2>&1; then
  tail -n 30 "$buildlog" >&2; log "docker build failed (full log: $buildlog)"; exit 1
fi
rm -f "$buildlog"
log "built $image (fixture hash $hash)"
