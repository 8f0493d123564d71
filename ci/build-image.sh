#!/usr/bin/env bash
# Builds the fixture image zk-chaos/zookeeper (ZooKeeper 3.8 from Debian's zookeeper package) from
# fixtures/image, and the partition helper zk-chaos/netfilter (iptables and netcat) from
# fixtures/netfilter, both on the same base.
#
#   bash ci/build-image.sh          # a second run with nothing changed only compares labels
#
# The base image, the first that applies:
#   1. ZK_CHAOS_BASE_IMAGE, used as given: the local image if present, else `docker pull`.
#   2. debian:bookworm-slim, the ordinary way: the local image if present, else `docker pull`; the
#      Dockerfile installs the packages, which that image lacks.
#   3. Where that pull fails (no registry answers, as on the machines this project is built on): the
#      debootstrap base ZK_CHAOS_DEBOOTSTRAP_BASE (zk-chaos/debian-zookeeper-base:bookworm), made once
#      with debootstrap and `docker import`, the packages already inside. Making it needs root; it is
#      reused afterwards by anyone. (ZK_CHAOS_BASE_IMAGE naming it works the same way.)
#
# Rebuilt only when needed: the image's label zk-chaos.fixture-hash is a hash of fixtures/image and of
# the base's name and image ID, so a change to either rebuilds it; an up-to-date image is left alone.
#
# Runs as any user who can reach the Docker engine (root, or a member of the docker group).
# Environment: ZK_CHAOS_IMAGE (default zk-chaos/zookeeper:3.8), ZK_CHAOS_NETFILTER_IMAGE (default
# zk-chaos/netfilter:bookworm), ZK_CHAOS_BASE_IMAGE,
# ZK_CHAOS_DEBOOTSTRAP_BASE, ZK_CHAOS_DEBIAN_SUITE (bookworm), ZK_CHAOS_DEBIAN_MIRROR (apt's own).
# Exit codes: 0 built or up to date; 3 no Docker engine answers, or no base can be had (not present,
# not pullable, and the debootstrap base cannot be made: not root); 1 a build step failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
image=${ZK_CHAOS_IMAGE:-zk-chaos/zookeeper:3.8}
netfilter=${ZK_CHAOS_NETFILTER_IMAGE:-zk-chaos/netfilter:bookworm}
ordinary=debian:bookworm-slim
debootstrap_base=${ZK_CHAOS_DEBOOTSTRAP_BASE:-zk-chaos/debian-zookeeper-base:bookworm}
suite=${ZK_CHAOS_DEBIAN_SUITE:-bookworm}
mirror=${ZK_CHAOS_DEBIAN_MIRROR:-}
packages=zookeeper,default-jre-headless,netcat-openbsd,procps,ca-certificates

log() { printf 'build-image: %s\n' "$*" >&2; }
present() { docker image inspect "$1" >/dev/null 2>&1; }
# pull IMAGE: quiet on success; on failure prints the engine's one-line reason.
pull() {
  local out
  if out=$(docker pull --quiet "$1" 2>&1); then return 0; fi
  log "docker pull $1 failed: $(tail -n 1 <<<"$out")"
  return 1
}

if ! docker info >/dev/null 2>&1; then
  if [ -S /var/run/docker.sock ] && [ ! -w /var/run/docker.sock ]; then
    log "no access to the Docker engine (/var/run/docker.sock is not writable by $(id -un)): add the user to its group (ls -l /var/run/docker.sock) or run as root"
  else
    log "no Docker engine answers (docker info failed): start one (bash ci/start-docker.sh, as root) and retry"
  fi
  exit 3
fi

# Makes the debootstrap base: a Debian root filesystem with the packages, imported as an image.
make_debootstrap_base() {
  if [ "$(id -u)" -ne 0 ]; then
    log "no base image: $1, and the debootstrap base $debootstrap_base is not present; making it needs root."
    log "fix: run once as root (sudo bash ci/build-image.sh; later runs as any user reuse it), or set"
    log "ZK_CHAOS_BASE_IMAGE to a Debian bookworm image the engine has (or can pull)"
    exit 3
  fi
  if [ -z "$mirror" ]; then
    # The mirror apt already uses on this machine, else Debian's default.
    mirror=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
    mirror=${mirror:-http://deb.debian.org/debian}
  fi
  command -v debootstrap >/dev/null 2>&1 || {
    log "debootstrap is not installed; installing it from Debian's packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  rootfs=$(mktemp -d /tmp/zk-chaos-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  log "making the base $debootstrap_base with debootstrap ($suite from $mirror); this takes a few minutes, once"
  debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
    tail -n 30 "$rootfs.log" >&2; log "debootstrap failed (full log: $rootfs.log)"; exit 1; }
  # Keep the image small: apt lists and caches are not needed at run time.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$debootstrap_base" >/dev/null
  rm -f "$rootfs.log"
  log "imported $debootstrap_base"
}

if [ -n "${ZK_CHAOS_BASE_IMAGE:-}" ]; then
  base=$ZK_CHAOS_BASE_IMAGE
  if ! present "$base"; then
    if [ "$base" = "$debootstrap_base" ]; then
      make_debootstrap_base "ZK_CHAOS_BASE_IMAGE=$base is not present"
    elif ! pull "$base"; then
      log "ZK_CHAOS_BASE_IMAGE=$base is not in the local engine and cannot be pulled: load or build it, or unset ZK_CHAOS_BASE_IMAGE"
      exit 3
    fi
  fi
elif present "$ordinary" || pull "$ordinary"; then
  base=$ordinary
else
  base=$debootstrap_base
  if present "$base"; then
    log "no registry answers for $ordinary: using the debootstrap base $base"
  else
    make_debootstrap_base "$ordinary cannot be pulled"
  fi
fi

base_id=$(docker image inspect -f '{{.Id}}' "$base")

# build IMAGE CONTEXT [DOCKER BUILD FLAGS]: builds fixtures/CONTEXT on the base as IMAGE, unless
# IMAGE's fixture hash (of the context's files and of the base) says it is up to date.
build() {
  local image=$1 context=$here/fixtures/$2; shift 2
  local hash current buildlog
  hash=$( { (cd "$context" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); echo "base $base $base_id"; } | sha256sum | cut -c1-16)
  current=$(docker image inspect -f '{{ index .Config.Labels "zk-chaos.fixture-hash" }}' "$image" 2>/dev/null || true)
  if [ "$current" = "$hash" ]; then
    log "$image is up to date (fixture hash $hash, base $base)"
    return 0
  fi
  log "building $image from ${context#"$here"/} on $base ($base_id)"
  buildlog=$(mktemp /tmp/zk-chaos-build.XXXXXX)
  if ! docker build "$@" --build-arg "BASE=$base" --label "zk-chaos.fixture-hash=$hash" --label "zk-chaos.base=$base@$base_id" \
    -t "$image" "$context" >"$buildlog" 2>&1; then
    tail -n 30 "$buildlog" >&2; log "docker build failed (full log: $buildlog)"; exit 1
  fi
  rm -f "$buildlog"
  log "built $image (fixture hash $hash, base $base)"
}

build "$image" image
# The partition helper installs iptables with apt when the base lacks it: the build's containers
# get the host's network, from which Debian's packages are reachable (the bridge may resolve nothing).
build "$netfilter" netfilter --network host
