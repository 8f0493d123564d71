//! The command line where no engine is needed: `compare` on recorded reports, and bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn recorded() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/reports/docker-certify.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Writes `report` as `<dir>/<name>/report.json` and returns the run folder.
fn save(dir: &Path, name: &str, report: &Value) -> PathBuf {
    let run = dir.join(name);
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("report.json"), serde_json::to_string(report).unwrap()).unwrap();
    run
}

fn zk_chaos(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zk-chaos")).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn suite_mut<'a>(report: &'a mut Value, name: &str) -> &'a mut Value {
    report["suites"].as_array_mut().unwrap().iter_mut().find(|s| s["name"] == name).unwrap()
}

#[test]
fn compare_flags_a_slower_recovery_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let a = save(dir.path(), "a", &recorded());
    let mut slower = recorded();
    let m = &mut suite_mut(&mut slower, "process-failure")["metrics"]["leader.fault_to_whole_ms"];
    *m = Value::from(m.as_f64().unwrap() * 2.0);
    let b = save(dir.path(), "b", &slower);

    let (code, out, err) = zk_chaos(&["compare", a.to_str().unwrap(), a.join("report.json").to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no regression"), "{out}");

    let (code, out, err) = zk_chaos(&["compare", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    let flagged: Vec<&str> = out.lines().filter(|l| l.contains("REGRESSED")).collect();
    assert_eq!(flagged.len(), 1, "{out}");
    assert!(flagged[0].contains("process-failure") && flagged[0].contains("leader.fault_to_whole_ms") && flagged[0].contains("2.00x"), "{out}");

    // A looser factor lets it through.
    let (code, out, _) = zk_chaos(&["compare", a.to_str().unwrap(), b.to_str().unwrap(), "--max-factor", "2.5"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn compare_flags_a_suite_that_stopped_passing() {
    let dir = tempfile::tempdir().unwrap();
    let mut passing = recorded();
    suite_mut(&mut passing, "liveness")["verdict"] = Value::from("pass");
    let a = save(dir.path(), "a", &passing);
    let b = save(dir.path(), "b", &recorded());
    let (code, out, _) = zk_chaos(&["compare", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.lines().any(|l| l.contains("liveness") && l.contains("verdict") && l.contains("REGRESSED")), "{out}");
}

#[test]
fn bad_input_exits_2_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let a = save(dir.path(), "a", &recorded());
    let a = a.to_str().unwrap();
    for (args, needle) in [
        (vec!["compare", a, a, "--max-factor", "0.5"], "--max-factor"),
        (vec!["compare", a, a, "--max-factor", "fast"], "--max-factor"),
        (vec!["compare", a, "/nonexistent/run"], "/nonexistent/run"),
        (vec!["run", "--repeat", "0"], "--repeat"),
        (vec!["run", "--suite", "nope"], "unknown suite 'nope'"),
        (vec!["run", "--manifest", "/nonexistent.yaml"], "/nonexistent.yaml"),
    ] {
        let (code, out, err) = zk_chaos(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    std::fs::write(dir.path().join("junk.json"), "{ not json").unwrap();
    let (code, _, err) = zk_chaos(&["compare", a, dir.path().join("junk.json").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("is not a zk-chaos report.json"), "{err}");
}
