#!/usr/bin/env bash
# The nightly certification on a throwaway kind cluster: build the fixture image, run
# `zk-chaos certify --platform kind` (it creates the cluster from fixtures/kind/cluster.yaml,
# loads the image, runs every suite, deletes the cluster), and leave the results in results/.
#
# Needs: Docker, the `kind` CLI, cargo. Exit code: zk-chaos's (0 passed, 1 failed, 2 bad input,
# 3 platform unavailable, 130 interrupted).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
results=${ZK_CHAOS_RESULTS:-results}

log() { printf 'kind-nightly: %s\n' "$*" >&2; }

if ! command -v kind >/dev/null 2>&1; then
  log "the kind CLI is not on PATH; install it (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"
  exit 3
fi

log "building the fixture image"
bash ci/build-image.sh

log "building zk-chaos"
cargo build --locked --bin zk-chaos

mkdir -p "$results"
status=0
./target/debug/zk-chaos certify --platform kind --results "$results" || status=$?

# The report of the run, for the workflow's artifact and JUnit steps.
if [ -e "$results/latest" ]; then
  log "results: $(readlink -f "$results/latest")"
  ls -l "$results/latest/" >&2 || true
else
  log "no results/latest: the run ended before writing a report (exit $status)"
fi
exit "$status"
