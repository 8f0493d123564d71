//! zk-chaos-core: the layer below the suites. The platforms an ensemble runs on (Docker,
//! Kubernetes, kind) behind one trait, the ZooKeeper client, the manifest, the workload and its
//! checker, the report model and its renderers, the ensemble's view, the waits, the
//! configuration, and the walkthrough the suites cite. It knows no suite: the suites crate
//! (`suites/`) sits above it, the runner and the CLI (`harness/`) above both
//! (docs/src/architecture.md).

pub mod client;
pub mod config;
pub mod ensemble;
pub mod error;
pub mod manifest;
pub mod ownership;
pub mod platform;
pub mod progress;
pub mod report;
pub mod wait;
pub mod walkthrough;
pub mod workload;
