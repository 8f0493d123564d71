#!/usr/bin/env bash
# Builds the image of zk-chaos itself that `zk-chaos job` runs in the cluster: a zk-chaos binary
# (built on this machine: Debian bookworm's glibc) on the base the fixture image was built on
# (ci/build-image.sh; the debootstrap base where no registry answers), from fixtures/job.
#
#   bash ci/build-job-image.sh [BINARY]   # default: target/release/zk-chaos, else target/debug/zk-chaos
#
# Cached by content: the label zk-chaos.fixture-hash is a hash of the binary, of fixtures/job and of
# the base's name and image ID; an image whose label matches is left alone. The binary is stripped
# of its debug symbols in the image (a debug build is ten times larger with them).
# Load it where the cluster pulls from: `kind load docker-image zk-chaos/zk-chaos:VERSION --name CLUSTER`,
# or tag and push it to a registry and give `zk-chaos job --image`.
#
# Environment: ZK_CHAOS_JOB_IMAGE (default zk-chaos/zk-chaos:<version of Cargo.toml>), ZK_CHAOS_BASE_IMAGE
# (default: the base of zk-chaos/zookeeper:3.8, its label zk-chaos.base), CARGO_TARGET_DIR.
# Exit codes: 0 built or up to date; 2 no such binary; 3 no Docker engine or no base image; 1 the build failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$here/Cargo.toml" | head -n1)
image=${ZK_CHAOS_JOB_IMAGE:-zk-chaos/zk-chaos:$version}
log() { printf 'build-job-image: %s\n' "$*" >&2; }

binary=${1:-}
if [ -z "$binary" ]; then
  for b in "$target/release/zk-chaos" "$target/debug/zk-chaos"; do
    if [ -x "$b" ]; then binary=$b; break; fi
  done
fi
if [ -z "$binary" ] || [ ! -x "$binary" ]; then
  log "no zk-chaos binary${binary:+ at $binary}: build one (cargo build --release) or name it: bash ci/build-job-image.sh PATH"
  exit 2
fi
# shellcheck source=ci/lib/base-image.sh
. "$here/ci/lib/base-image.sh"
find_base

hash=$( { sha256sum "$binary" | cut -d' ' -f1; (cd "$here/fixtures/job" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); echo "base $base $base_id"; } | sha256sum | cut -c1-16)
current=$(docker image inspect -f '{{ index .Config.Labels "zk-chaos.fixture-hash" }}' "$image" 2>/dev/null || true)
if [ "$current" = "$hash" ]; then
  log "$image is up to date (hash $hash, binary $binary, base $base)"
  exit 0
fi
work=$(mktemp -d /tmp/zk-chaos-job-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$here/fixtures/job/." "$work/"
if command -v objcopy >/dev/null 2>&1; then
  objcopy --strip-debug "$binary" "$work/zk-chaos"
else
  cp "$binary" "$work/zk-chaos"
fi
log "building $image from $binary on $base ($base_id)"
if ! docker build --build-arg "BASE=$base" --label "zk-chaos.fixture-hash=$hash" --label "zk-chaos.base=$base@$base_id" -t "$image" "$work" >"$work/build.log" 2>&1; then
  tail -n 30 "$work/build.log" >&2; log "docker build failed"; exit 1
fi
log "built $image (hash $hash)"
