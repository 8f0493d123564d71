#!/usr/bin/env bash
# zk-chaos's linearizability checker and Porcupine on Porcupine's own real test histories (Jepsen's
# etcd logs, MIT 6.824's key-value logs, from the Go module pinned in ci/porcupine/go.mod), on this
# machine in one run: fetches the module into the Go module cache (the Go module proxy), runs
# Porcupine's benchmarks on every file (its own parsers and checker; a wrong verdict fails them),
# then judges every file with zk-chaos (release build) and prints a per-file time table, ours next
# to Porcupine's. Exits 1 on any verdict that differs from the one Porcupine's tests state or is
# undecided, 2 when Go, the module or a build is missing. Each step is bounded by `timeout`.
#   bash ci/porcupine-realdata.sh
#   RUNS=5 BENCHTIME=5x bash ci/porcupine-realdata.sh      # more runs of each file on both sides
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
RUNS=${RUNS:-3}
BENCHTIME=${BENCHTIME:-3x}
log() { printf 'porcupine-realdata: %s\n' "$*" >&2; }

command -v go >/dev/null 2>&1 || { log "Go is not installed (needed for Porcupine and its test data)"; exit 2; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

version=$(grep anishathalye/porcupine ci/porcupine/go.mod | awk '{print $NF}')
log "fetching porcupine $version into the Go module cache"
dir=$(cd ci/porcupine && timeout 300 go mod download -json github.com/anishathalye/porcupine | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
[ -n "$dir" ] && [ -d "$dir/test_data" ] || { log "go mod download gave no module folder with test_data"; exit 2; }

# Both builds first, then both sides one right after the other: on a shared machine the load
# moves single files by 2-4x within minutes, so the two sides are measured in the same minutes.
log "building the real-data check (cargo build --release --example porcupine-realdata)"
timeout 1800 cargo build --quiet --release --example porcupine-realdata || { log "cargo build failed"; exit 2; }
bin="${CARGO_TARGET_DIR:-target}/release/examples/porcupine-realdata"

# The module cache is read-only: Porcupine's tests run on a copy.
cp -r "$dir" "$work/porcupine"
chmod -R u+w "$work/porcupine"
log "Porcupine's benchmarks on every file (go test -bench, -benchtime $BENCHTIME)"
(cd "$work/porcupine" && GOFLAGS=-mod=mod timeout 300 go test -c -o "$work/porcupine.test" .) || { log "building Porcupine's tests failed"; exit 2; }
(cd "$work/porcupine" && timeout 1200 "$work/porcupine.test" -test.run '^$' -test.bench 'EtcdJepsen|Kv[0-9]' -test.benchtime "$BENCHTIME" -test.timeout 20m) >"$work/porcupine-bench.txt" \
  || { cat "$work/porcupine-bench.txt" >&2; log "Porcupine's benchmarks failed"; exit 2; }
log "$(grep -c 'ns/op' "$work/porcupine-bench.txt") Porcupine benchmark results (a file without one shows '-' in the table)"

start=$(date +%s)
status=0
timeout 1200 "$bin" --dir "$dir" --porcupine-bench "$work/porcupine-bench.txt" --runs "$RUNS" || status=$?
log "done in $(( $(date +%s) - start )) s (exit $status)"
exit "$status"
