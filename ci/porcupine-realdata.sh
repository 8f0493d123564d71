#!/usr/bin/env bash
# zk-chaos's linearizability checker and Porcupine on Porcupine's own real test histories (Jepsen's
# etcd logs, MIT 6.824's key-value logs, from the Go module pinned in ci/porcupine/go.mod), on this
# machine in one run: fetches the module into the Go module cache (the Go module proxy), builds
# Porcupine's tests (`go test -c`) and our check (release build), then, file by file, alternates the
# two: Porcupine's own benchmark for that one file (its parser and checker; a wrong verdict fails
# it), then ours on the same file, RUNS rounds of BENCHTIME runs on each side. It prints a per-file
# table with each side's median over the rounds and their ratio, and the sum of the medians (see
# ci/porcupine/realdata.rs). Exits 1 on any verdict of ours that differs from the one Porcupine's
# tests state or is undecided, 2 when Go, the module, a build or one of Porcupine's benchmarks fails.
# Each step is bounded by `timeout` (one Porcupine benchmark run by 120 s, the whole table by 30 min).
#   bash ci/porcupine-realdata.sh
#   RUNS=7 BENCHTIME=5x bash ci/porcupine-realdata.sh      # more rounds, more runs per round
#   ONLY=etcd_00 bash ci/porcupine-realdata.sh             # only the files whose name contains this
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
RUNS=${RUNS:-5}
BENCHTIME=${BENCHTIME:-3x}
ONLY=${ONLY:-}
log() { printf 'porcupine-realdata: %s\n' "$*" >&2; }

command -v go >/dev/null 2>&1 || { log "Go is not installed (needed for Porcupine and its test data)"; exit 2; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

version=$(grep anishathalye/porcupine ci/porcupine/go.mod | awk '{print $NF}')
log "fetching porcupine $version into the Go module cache"
dir=$(cd ci/porcupine && timeout 300 go mod download -json github.com/anishathalye/porcupine | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
[ -n "$dir" ] && [ -d "$dir/test_data" ] || { log "go mod download gave no module folder with test_data"; exit 2; }

# Both builds first, then the two sides alternate file by file, round by round: on a shared machine
# the load moves single files by 2-5x within a minute, so each side's median over rounds measured
# seconds apart is what is compared.
log "building the real-data check (cargo build --release --example porcupine-realdata)"
timeout 1800 cargo build --quiet --release --example porcupine-realdata || { log "cargo build failed"; exit 2; }
bin="${CARGO_TARGET_DIR:-target}/release/examples/porcupine-realdata"

# The module cache is read-only: Porcupine's tests run on a copy.
cp -r "$dir" "$work/porcupine"
chmod -R u+w "$work/porcupine"
log "building Porcupine's tests (go test -c)"
(cd "$work/porcupine" && GOFLAGS=-mod=mod timeout 300 go test -c -o "$work/porcupine.test" .) || { log "building Porcupine's tests failed"; exit 2; }

log "both sides on every file, alternating: $RUNS rounds of $BENCHTIME each"
start=$(date +%s)
status=0
timeout 1800 "$bin" --dir "$dir" --porcupine-test-bin "$work/porcupine.test" --porcupine-dir "$work/porcupine" \
  --runs "$RUNS" --benchtime "$BENCHTIME" ${ONLY:+--only "$ONLY"} || status=$?
log "done in $(( $(date +%s) - start )) s (exit $status)"
exit "$status"
