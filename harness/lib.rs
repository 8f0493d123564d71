//! zk-chaos: a chaos and conformance harness for Apache ZooKeeper ensembles run as a Kubernetes
//! StatefulSet. It stands the ensemble up from the StatefulSet manifest (on Docker or on
//! Kubernetes), certifies what the walkthrough "Running ZooKeeper, A Distributed System
//! Coordinator" shows ([`suites::walkthrough`]), injects its faults, and writes a report a CI
//! system and a person can read.
//!
//! This crate is the top layer: the runner, the CLI and the job. The suites
//! ([`zk_chaos_suites`], `suites/`) sit below it and the core ([`zk_chaos_core`], `harness/core/`:
//! platforms, client, manifest, workload, report) below them (docs/src/architecture.md). The
//! lower crates' modules are re-exported here under their own names, so `zk_chaos::platform`,
//! `zk_chaos::suites` and `crate::report` read as they did when they were one crate.

pub mod check;
pub mod cli;
pub mod config_doc;
#[cfg(test)]
mod connect_tests;
#[cfg(test)]
mod fake_runs;
pub mod job;
pub mod run;
pub mod shell;
pub mod start_to_serving;

pub use zk_chaos_core::{client, config, ensemble, error, manifest, ownership, platform, progress, report, wait, walkthrough, workload};
pub use zk_chaos_suites as suites;
