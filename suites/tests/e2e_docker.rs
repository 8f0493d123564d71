//! End-to-end: the `zk-chaos` binary against the real Docker engine, on the reference manifest and
//! on the negative controls in `fixtures/broken/`, each of which the matching suite must fail.
//!
//! Runs one ensemble at a time (a 3-member ensemble keeps two cores busy), each in its own results
//! folder, and checks after every run that nothing labelled with its run id is left.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Mutex;

use serde_json::Value;

/// One ensemble at a time.
static ENGINE: Mutex<()> = Mutex::new(());

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> String {
    root().join("fixtures").join(name).display().to_string()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    results: tempfile::TempDir,
}

impl Run {
    fn report(&self) -> Value {
        let path = self.results.path().join("latest").join("report.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), self.output()));
        serde_json::from_str(&text).unwrap()
    }

    fn output(&self) -> String {
        format!("exit {}\n--- stdout\n{}\n--- stderr (tail)\n{}", self.code, self.stdout, tail(&self.stderr, 60))
    }

    fn suite(&self, name: &str) -> Value {
        let report = self.report();
        report["suites"].as_array().unwrap().iter().find(|s| s["name"] == name).cloned().unwrap_or_else(|| panic!("no suite {name}\n{}", self.output()))
    }

    /// The failed checks' messages of a suite.
    fn failures(&self, suite: &str) -> Vec<String> {
        self.suite(suite)["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["verdict"] == "fail")
            .map(|c| format!("{}: {}", c["name"].as_str().unwrap(), c["message"].as_str().unwrap()))
            .collect()
    }
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn zk_chaos(args: &[&str]) -> Run {
    let results = tempfile::tempdir().unwrap();
    let out: Output = Command::new(env!("CARGO_BIN_EXE_zk-chaos"))
        .args(args)
        .arg("--results")
        .arg(results.path())
        .current_dir(root())
        .env("RUST_LOG", "info")
        .output()
        .expect("running zk-chaos");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        results,
    }
}

/// Containers, networks and volumes carrying the run's label (any run's when `run_id` is empty).
fn leftovers(run_id: &str) -> Vec<String> {
    let filter = if run_id.is_empty() { "label=zk-chaos.run".to_string() } else { format!("label=zk-chaos.run={run_id}") };
    let mut left = Vec::new();
    for what in [&["ps", "-a", "-q"][..], &["network", "ls", "-q"], &["volume", "ls", "-q"]] {
        let out = Command::new("docker").args(what).args(["--filter", &filter]).output().expect("docker CLI");
        for id in String::from_utf8_lossy(&out.stdout).lines() {
            left.push(format!("{} {id}", what[0]));
        }
    }
    left
}

fn assert_clean(run: &Run) {
    let run_id = run.report()["run_id"].as_str().unwrap().to_string();
    let left = leftovers(&run_id);
    assert!(left.is_empty(), "run {run_id} left {left:?}");
}

#[test]
fn certify_passes_every_docker_suite_on_the_reference_manifest() {
    let _one = ENGINE.lock().unwrap_or_else(|p| p.into_inner());
    let run = zk_chaos(&["certify"]);
    assert_eq!(run.code, 0, "{}", run.output());
    let report = run.report();
    assert_eq!(report["verdict"], "pass");
    assert_eq!(report["platform"], "docker");
    assert!(report["subject"]["manifest_digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(report["subject"]["zookeeper_version"].as_str().unwrap().starts_with("3.8"), "{}", report["subject"]);
    for suite in report["suites"].as_array().unwrap() {
        let name = suite["name"].as_str().unwrap();
        match suite["verdict"].as_str().unwrap() {
            "pass" => assert!(!suite["checks"].as_array().unwrap().is_empty(), "{name} passed with no checks"),
            "skipped" => assert!(suite["reason"].as_str().unwrap().contains("kube"), "{name}: {}", suite["reason"]),
            other => panic!("{name}: {other}: {:?}", run.failures(name)),
        }
    }
    let dir = run.results.path().join("latest");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains("<testcase") && !junit.contains("<failure"), "{junit}");
    assert!(dir.join("summary.txt").exists());
    assert_clean(&run);
}

#[test]
fn integrity_fails_when_members_do_not_replicate() {
    let _one = ENGINE.lock().unwrap_or_else(|p| p.into_inner());
    let run = zk_chaos(&["run", "--suite", "integrity", "--manifest", &fixture("broken/no-replication.yaml")]);
    assert_eq!(run.code, 1, "{}", run.output());
    let failures = run.failures("integrity").join("\n");
    assert!(failures.contains("the value written through zk-0 is not visible through zk-1"), "{failures}");
    assert!(run.stdout.contains("not visible through zk-1"), "{}", run.output());
    // A failed run keeps each member's log.
    assert!(run.results.path().join("latest/logs/zk-1.log").exists());
    assert_clean(&run);
}

#[test]
fn conformance_fails_when_the_server_runs_as_root() {
    let _one = ENGINE.lock().unwrap_or_else(|p| p.into_inner());
    let run = zk_chaos(&["run", "--suite", "conformance", "--manifest", &fixture("broken/root-user.yaml")]);
    assert_eq!(run.code, 1, "{}", run.output());
    let failures = run.failures("conformance").join("\n");
    assert!(failures.contains("runs as UID 1000, not root") && failures.contains("root"), "{failures}");
    assert_clean(&run);
}

#[test]
fn bad_input_exits_2_before_creating_anything() {
    let _one = ENGINE.lock().unwrap_or_else(|p| p.into_inner());
    let before = leftovers("");
    let run = zk_chaos(&["run", "--suite", "nope"]);
    assert_eq!(run.code, 2, "{}", run.output());
    assert!(run.stderr.contains("unknown suite 'nope'"), "{}", run.output());

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.yaml");
    std::fs::write(&config, "timeouts:\n  member_ready: soon\n").unwrap();
    let run = zk_chaos(&["run", "--config", config.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.output());
    assert!(run.stderr.contains("member_ready"), "{}", run.output());

    let manifest = dir.path().join("bad.yaml");
    std::fs::write(&manifest, "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: zk}\nspec: {replicas: three}\n").unwrap();
    let run = zk_chaos(&["run", "--manifest", manifest.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.output());

    // Nothing was created by any of them, and no results folder either.
    assert_eq!(leftovers(""), before);
    assert!(!run.results.path().join("latest").exists());
}

#[test]
fn no_docker_engine_exits_3() {
    let run = {
        let results = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_zk-chaos"))
            .args(["run", "--results"])
            .arg(results.path())
            .current_dir(root())
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            results,
        }
    };
    assert_eq!(run.code, 3, "{}", run.output());
    assert!(run.stderr.to_lowercase().contains("docker"), "{}", run.output());
}
