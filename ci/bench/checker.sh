#!/usr/bin/env bash
# The linearizability checker's speed against Porcupine on the same histories (ci/bench/checker.rs):
# builds ci/porcupine (Go, from the module proxy) and runs `cargo bench --bench checker` with it.
#   bash ci/bench/checker.sh
#   ZK_CHAOS_BENCH_OPS=20000 ZK_CHAOS_BENCH_UNKNOWN=1 bash ci/bench/checker.sh
# Exits 2 when Go is missing or a build fails.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$here"
log() { printf 'checker bench: %s\n' "$*" >&2; }
command -v go >/dev/null 2>&1 || { log "Go is not installed (needed to build ci/porcupine)"; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd ci/porcupine && timeout 300 go build -o "$work/porcupine-check" .) || { log "go build failed"; exit 2; }
ZK_CHAOS_BENCH_PORCUPINE="$work/porcupine-check" timeout 1200 cargo bench --bench checker
