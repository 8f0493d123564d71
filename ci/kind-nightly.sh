#!/usr/bin/env bash
# The nightly certification on a throwaway kind cluster: builds the fixture image (ci/build-image.sh)
# and zk-chaos, runs `zk-chaos certify --platform kind` (it creates the cluster and loads the image),
# and leaves the results in results/ for the workflow's artifact and JUnit steps.
#
#   bash ci/kind-nightly.sh
#   ZK_CHAOS_DEPLOYMENT=official bash ci/kind-nightly.sh   # fixtures/official.yaml (or bitnami)
#   ZK_CHAOS_DATA=64MiB bash ci/kind-nightly.sh             # the data volume's size (--data; default 256MiB)
#
# The deployment: ZK_CHAOS_DEPLOYMENT names a reference deployment in fixtures/ (zookeeper, the
# walkthrough's, by default; official; bitnami; their variants, e.g. bitnami-serving-readiness). Where a registry answers, its images are the ones
# it names (the official `zookeeper` image, Bitnami's); offline they are mapped to the look-alikes
# of ci/build-zookeeper-images.sh, as fixtures/images.txt lists under the fixture's name.
#
# The kind node image:
#   - where a registry answers (a hosted CI runner): kind's own, $ZK_CHAOS_KIND_STOCK_NODE_IMAGE
#     (default: the node image of kind v0.33.0, pulled first; that pull is the registry test), in the
#     node layout of fixtures/kind/cluster.yaml (one control plane, four workers). Its only
#     StorageClass, `standard`, pins each volume to its node: the maintenance suite certifies that
#     path and reports the rest of TUTORIAL.md section 15 as skipped, saying why.
#   - with ZK_CHAOS_KIND_NODE_IMAGE set, or where that pull fails (no registry, as on the machines this
#     project is built on): the offline node image of ci/build-kind.sh (built, or checked in seconds
#     when its inputs did not change), fixtures/kind/cluster.yaml and its StorageClass zk-chaos-shared.
#
# The cluster: certify runs with --keep so that kind's logs can be exported when the run did not pass
# (`kind export logs` into results/kind-logs); then this script deletes the cluster, on every path
# (pass, failure, Ctrl-C or SIGTERM). zk-chaos's own output goes to results/certify.log as well.
#
# Needs: Docker, cargo, the kind CLI on PATH (in the offline case ci/build-kind.sh installs it, with Go).
# Exit code: zk-chaos's (0 passed, 1 failed, 2 bad input, 3 platform unavailable, 130 interrupted);
# 3 also when kind or a node image cannot be had, and what ci/build-image.sh exits with if it fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
results=${ZK_CHAOS_RESULTS:-results}
fixture=fixtures/kind/cluster.yaml
# The default node image of kind v0.33.0 (sigs.k8s.io/kind pkg/apis/config/defaults/image.go), the
# kind release .github/workflows/nightly.yml installs.
stock_kind_version=v0.33.0
stock_node=${ZK_CHAOS_KIND_STOCK_NODE_IMAGE:-kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5}

log() { printf 'kind-nightly: %s\n' "$*" >&2; }

mkdir -p "$results"
deployment=${ZK_CHAOS_DEPLOYMENT:-zookeeper}
manifest=fixtures/$deployment.yaml
[ -f "$manifest" ] || { log "ZK_CHAOS_DEPLOYMENT=$deployment: there is no $manifest (zookeeper, official, bitnami, or a variant such as official-serving-readiness)"; exit 2; }
# The large data volume (issue 33) is the nightly's: .ci/run writes 8MiB (e2e_docker's certify).
data=${ZK_CHAOS_DATA:-256MiB}
certify_args=(certify --platform kind --results "$results" --keep --data "$data")
[ "$deployment" = zookeeper ] || certify_args+=(--manifest "$manifest")
if [ -z "${ZK_CHAOS_KIND_NODE_IMAGE:-}" ] && pulled=$(docker pull --quiet "$stock_node" 2>&1); then
  log "a registry answers: kind's own node image $stock_node"
  command -v kind >/dev/null 2>&1 || { log "the kind CLI is not on PATH; install kind $stock_kind_version (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"; exit 3; }
  [ "$(kind version | awk '{print $2}')" = "$stock_kind_version" ] ||
    log "warning: $(kind version) is not kind $stock_kind_version, whose node image this is; set ZK_CHAOS_KIND_STOCK_NODE_IMAGE to your kind's"
  config="$results/kind-cluster.yaml"
  {
    echo "# Written by ci/kind-nightly.sh: the nodes of $fixture on kind's own node image."
    echo "kind: Cluster"
    echo "apiVersion: kind.x-k8s.io/v1alpha4"
    echo "nodes:"
    for role in control-plane worker; do
      for _ in $(seq "$(grep -c "role: $role\b" "$fixture")"); do echo "  - {role: $role, image: \"$stock_node\"}"; done
    done
  } >"$config"
  certify_args+=(--kind-config "$config" --storage-class standard)
else
  if [ -n "${ZK_CHAOS_KIND_NODE_IMAGE:-}" ]; then
    log "ZK_CHAOS_KIND_NODE_IMAGE=$ZK_CHAOS_KIND_NODE_IMAGE: the offline node image"
  else
    log "no registry answers (docker pull $stock_node: $(tail -n 1 <<<"${pulled:-}")): the offline node image of ci/build-kind.sh"
  fi
  bash ci/build-kind.sh
  PATH="$(go env GOPATH)/bin:$PATH"
  fixture_node=$(sed -n 's/.*image: *\([^ ,}]*\).*/\1/p' "$fixture" | sort -u)
  [ "$(wc -w <<<"$fixture_node")" -eq 1 ] || { log "$fixture names $(wc -w <<<"$fixture_node") node images, not one: [$fixture_node]"; exit 2; }
  node=${ZK_CHAOS_KIND_NODE_IMAGE:-$fixture_node}
  if [ "$node" != "$fixture_node" ]; then
    config="$results/kind-cluster.yaml"
    sed "s#$fixture_node#$node#" "$fixture" >"$config"
    certify_args+=(--kind-config "$config" --storage-class zk-chaos-shared)
  fi
  # No registry: the deployment's images are mapped to the look-alikes built here.
  # shellcheck source=ci/lib/image-maps.sh
  . ci/lib/image-maps.sh
  maps=$(image_maps "$manifest")
  if [ -n "$maps" ]; then
    log "building the ZooKeeper images the mapping of $manifest names"
    bash ci/build-zookeeper-images.sh
    for m in $maps; do certify_args+=(--image-map "$m"); done
  fi
fi

log "building the fixture image"
bash ci/build-image.sh

log "building zk-chaos"
cargo build --locked --bin zk-chaos
bin="${CARGO_TARGET_DIR:-$here/target}/debug/zk-chaos"

# The cluster zk-chaos created (it says so when it creates one): exported if the run did not pass,
# then deleted with what KindCluster::delete removes besides (kubeconfig, config, shared volumes).
cluster=''
status=0
finish() {
  trap - EXIT INT TERM
  cluster=$(sed -n 's/.*creating kind cluster \(zk-chaos-[0-9A-Za-z-]*\) from .*/\1/p' "$results/certify.log" 2>/dev/null | tail -n1)
  if [ -n "$cluster" ] && kind get clusters 2>/dev/null | grep -qx "$cluster"; then
    if [ "$status" -ne 0 ]; then
      log "the run did not pass (exit $status): kind export logs $results/kind-logs --name $cluster"
      kind export logs "$results/kind-logs" --name "$cluster" >&2 || log "kind export logs failed (exit $?)"
    fi
    log "deleting kind cluster $cluster"
    kind delete cluster --name "$cluster" >&2 || { log "kind delete cluster --name $cluster failed"; [ "$status" -ne 0 ] || status=1; }
    tmp=${TMPDIR:-/tmp}
    rm -rf "${tmp%/}/$cluster.kubeconfig" "${tmp%/}/$cluster.kind.yaml" "/tmp/zk-chaos-kind-shared/$cluster"
  fi
  if [ -e "$results/latest" ]; then
    log "results: $(readlink -f "$results/latest")"
    ls -l "$results/latest/" >&2 || true
  else
    log "no $results/latest: the run ended before writing a report (exit $status)"
  fi
  exit "$status"
}
trap finish EXIT
# A signal reaches zk-chaos too, which stops its run and reports it interrupted; the script then
# goes on to delete the cluster.
trap 'status=130' INT TERM

log "zk-chaos ${certify_args[*]}"
set +e
# tee ignores the signals: it must not close zk-chaos's output while zk-chaos is still stopping its run.
"$bin" "${certify_args[@]}" 2>&1 | (trap '' INT TERM && exec tee "$results/certify.log")
run_status=${PIPESTATUS[0]}
set -e
[ "$status" -eq 130 ] || status=$run_status
