#!/usr/bin/env bash
# Mutation test of the judges: every verdict of the fault suites (suites/verdicts.rs and the pure
# judges beside the suites), the ensemble's conditions (harness/core/ensemble.rs), the workload's
# checker (harness/core/workload/checker.rs) and the register checker (its linearizability search,
# harness/core/workload/register/linearizability.rs, and ZooKeeper's guarantees,
# harness/core/workload/register/guarantees.rs), and the serving-quorum judgements over the
# sampled servers (harness/core/serving.rs, not its sampler). A mutant that survives the unit
# tests is a judge a broken deployment could slip past: kill it with a test, or explain it in the
# test code.
#
# Run by hand (it takes long: one build a mutant); not part of .ci/run:
#   bash ci/mutants.sh            # every mutant of the judges
#   bash ci/mutants.sh --list     # what would be tried
#   cargo mutants -f guarantees.rs -- --lib   # one file alone (further -f here would add files)
# Extra arguments go to cargo mutants. Needs `cargo install cargo-mutants` (v27).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# What acts rather than judges is left out: the suites' async bodies (they act on a platform and
# are exercised end to end), the sampling loop (serving.rs's Sampler), and the ensemble's
# observation over the network.
# The judges are in two crates (zk-chaos-suites, zk-chaos-core) and the ensemble's wait is tested on
# the suites' fake platform: every package is mutated (--workspace) and every package's unit tests
# judge each mutant (--test-workspace=true).
exec cargo mutants --workspace --test-workspace=true \
  -f verdicts.rs -f rolling_update.rs -f durability.rs -f node_failure.rs -f ensemble.rs -f checker.rs \
  -f linearizability.rs -f guarantees.rs -f serving.rs \
  --exclude-re 'impl Suite for|rollout|sampled|EnsembleView::observe|wait_whole|read_final_state|read_once|Sampler|SamplesReader|from_view|testing::' \
  "$@" -- --lib
