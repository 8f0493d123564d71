#!/usr/bin/env bash
# Cross-checks zk-chaos's linearizability checker against Porcupine (the Go library, from the
# module proxy, pinned in ci/porcupine/go.mod): generates COUNT register histories by seed (half
# mutated, most of those not linearizable), judges each with both, whole and key by key, and exits
# 1 on any disagreement or undecided history, printing the counts and the seeds that disagree.
#   COUNT=1000 SEED=1 BUDGET=10s bash ci/porcupine-crosscheck.sh
#   LARGE=1 COUNT=1000 bash ci/porcupine-crosscheck.sh    # 30-60 operations, harder for the search
# Exits 2 when Go or a build is missing. Each step is bounded by `timeout`.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
COUNT=${COUNT:-1000}
SEED=${SEED:-1}
BUDGET=${BUDGET:-10s}
shape=()
[ -n "${LARGE:-}" ] && shape=(--large)
log() { printf 'crosscheck: %s\n' "$*" >&2; }

command -v go >/dev/null 2>&1 || { log "Go is not installed (needed to build ci/porcupine)"; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

log "building ci/porcupine (porcupine $(grep anishathalye/porcupine ci/porcupine/go.mod | awk '{print $NF}'))"
(cd ci/porcupine && timeout 300 go build -o "$work/porcupine-check" .) || { log "go build failed"; exit 2; }

log "building the cross-check (cargo build --example porcupine-crosscheck)"
timeout 900 cargo build --quiet --example porcupine-crosscheck || { log "cargo build failed"; exit 2; }
bin="${CARGO_TARGET_DIR:-target}/debug/examples/porcupine-crosscheck"

log "$COUNT ${LARGE:+large }histories from seed $SEED, budget $BUDGET per check"
start=$(date +%s)
status=0
timeout 600 "$bin" --count "$COUNT" --seed "$SEED" --budget "$BUDGET" "${shape[@]}" --dir "$work/histories" --porcupine "$work/porcupine-check" || status=$?
log "done in $(( $(date +%s) - start )) s (exit $status)"
exit "$status"
