# Sourced by the image builds that share zk-chaos/zookeeper:3.8's base (ci/build-zookeeper-images.sh,
# ci/build-job-image.sh); needs their `log`. find_base checks that an engine answers and sets
# `base` (ZK_CHAOS_BASE_IMAGE, else the name in zk-chaos/zookeeper:3.8's label zk-chaos.base, which
# is "name@id": an ordinary Debian image or the debootstrap base ci/build-image.sh chose) and
# `base_id`; it exits 3 naming what is missing.
find_base() {
  if ! docker info >/dev/null 2>&1; then
    log "no Docker engine answers (docker info failed): start one (bash ci/start-docker.sh, as root) and retry"
    exit 3
  fi
  if [ -n "${ZK_CHAOS_BASE_IMAGE:-}" ]; then
    base=$ZK_CHAOS_BASE_IMAGE
  else
    local label
    label=$(docker image inspect -f '{{ index .Config.Labels "zk-chaos.base" }}' zk-chaos/zookeeper:3.8 2>/dev/null || true)
    base=${label%@*}
    if [ -z "$base" ]; then
      log "no base image: zk-chaos/zookeeper:3.8 (whose base this build shares) is not built; run bash ci/build-image.sh first,"
      log "or set ZK_CHAOS_BASE_IMAGE to a Debian bookworm image the engine has"
      exit 3
    fi
  fi
  if ! base_id=$(docker image inspect -f '{{.Id}}' "$base" 2>/dev/null); then
    log "the base image $base is not in the local engine: run bash ci/build-image.sh (it makes it), or set ZK_CHAOS_BASE_IMAGE"
    exit 3
  fi
}
