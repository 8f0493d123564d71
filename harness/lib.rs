//! zk-chaos: a chaos and conformance harness for Apache ZooKeeper ensembles run as a Kubernetes
//! StatefulSet. It stands the ensemble up from the StatefulSet manifest (on Docker or on
//! Kubernetes), certifies what the walkthrough "Running ZooKeeper, A Distributed System
//! Coordinator" shows ([`suites::walkthrough`]), injects its faults, and writes a report a CI
//! system and a person can read.

pub mod check;
pub mod cli;
pub mod client;
pub mod config;
pub mod config_doc;
pub mod ensemble;
pub mod error;
pub mod job;
pub mod manifest;
pub mod ownership;
pub mod platform;
pub mod progress;
pub mod report;
pub mod run;
pub mod shell;
pub mod start_to_serving;
pub mod wait;
pub mod workload;

#[path = "../suites/mod.rs"]
pub mod suites;
