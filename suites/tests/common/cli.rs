//! The `zk-chaos` binary run by the end-to-end tests (Docker and kind): one results folder per run,
//! its report read back. Included by `e2e_docker` and `e2e_kind`; each uses part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> String {
    root().join("fixtures").join(name).display().to_string()
}

/// One finished run: its exit code, output and results folder.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub results: tempfile::TempDir,
}

impl Run {
    pub fn report(&self) -> Value {
        let path = self.results.path().join("latest").join("report.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), self.output()));
        serde_json::from_str(&text).unwrap()
    }

    pub fn output(&self) -> String {
        format!("exit {}\n--- stdout\n{}\n--- stderr (tail)\n{}", self.code, self.stdout, tail(&self.stderr, 60))
    }

    pub fn suite(&self, name: &str) -> Value {
        let report = self.report();
        report["suites"].as_array().unwrap().iter().find(|s| s["name"] == name).cloned().unwrap_or_else(|| panic!("no suite {name}\n{}", self.output()))
    }

    /// `verdict name: message` of every check of a suite.
    pub fn checks(&self, suite: &str) -> Vec<String> {
        self.suite(suite)["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| format!("{} {}: {}", c["verdict"].as_str().unwrap(), c["name"].as_str().unwrap(), c["message"].as_str().unwrap()))
            .collect()
    }

    /// The failed checks' messages of a suite.
    pub fn failures(&self, suite: &str) -> Vec<String> {
        self.checks(suite).into_iter().filter_map(|c| c.strip_prefix("fail ").map(String::from)).collect()
    }
}

pub fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs `zk-chaos ARGS --results <a new folder>` from the checkout, to completion.
pub fn zk_chaos(args: &[&str]) -> Run {
    let results = tempfile::tempdir().unwrap();
    let out: Output = Command::new(env!("CARGO_BIN_EXE_zk-chaos"))
        .args(args)
        .arg("--results")
        .arg(results.path())
        .current_dir(root())
        .env("RUST_LOG", "info")
        .output()
        .expect("running zk-chaos");
    Run { code: out.status.code().unwrap_or(-1), stdout: String::from_utf8_lossy(&out.stdout).into_owned(), stderr: String::from_utf8_lossy(&out.stderr).into_owned(), results }
}
