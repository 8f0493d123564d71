//! The command line where no engine is needed: `suites`, `compare` on recorded reports, help, and
//! bad input.

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
        (vec!["run", "--repeat", "two"], "invalid value 'two' for '--repeat <N>'"),
        (vec!["certify", "--repeat=-1"], "invalid value '-1' for '--repeat <N>'"),
        (vec!["compare", a, a, "--max-factor", "NaN"], "must be a number above 1"),
        (vec!["certify", "--suite", "integrity"], "unexpected argument '--suite'"),
        // -n is --namespace: parsed, then the unknown suite is what is refused.
        (vec!["run", "-n", "zk-test", "--suite", "nope"], "unknown suite 'nope'"),
        (vec!["run", "--suite", "nope"], "unknown suite 'nope'"),
        (vec!["run", "--manifest", "/nonexistent.yaml"], "/nonexistent.yaml"),
        (vec!["run", "--image-map", "zookeeper:3.9.5"], "--image-map \"zookeeper:3.9.5\": write it FROM=TO"),
        (vec!["run", "--image-map", "zookeeper:3.9.5=x:1"], "names zookeeper:3.9.5, which the pod template does not run (it runs zk-chaos/zookeeper:3.8)"),
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

/// `--manifest -` reads stdin: what `helm template … | zk-chaos run --manifest -` gives it. An
/// unknown kind there is refused before anything runs, naming the document and the kind.
#[test]
fn a_manifest_on_stdin_is_read_and_an_unknown_kind_refused() {
    use std::io::Write;
    let text = format!("{}---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: zk-ui\n", include_str!("../../fixtures/zookeeper.yaml"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_zk-chaos"))
        .args(["run", "--manifest", "-", "--suite", "manifest"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("<stdin>: document 5 (Deployment \"zk-ui\"): unsupported object apps/v1/Deployment"), "{err}");
}

/// `zk-chaos suites -o json` is JSON a machine can read: every suite with its walkthrough sections
/// (title and link), whether it is disruptive and its platforms.
#[test]
fn suites_as_json_parses_and_describes_every_suite() {
    let (code, out, err) = zk_chaos(&["suites", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let listing: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"));
    assert_eq!(listing["walkthrough"]["url"], "https://kubernetes.io/docs/tutorials/stateful-application/zookeeper/");
    let suites = listing["suites"].as_array().unwrap();
    let names: Vec<&str> = suites.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["manifest", "conformance", "integrity", "durability", "process-failure", "liveness", "rolling-update", "node-failure", "maintenance", "partition"]);
    for s in suites {
        let beyond = s["name"] == "partition";
        assert_eq!(s["in_walkthrough"], !beyond, "{s}");
        assert_eq!(s["sections"].as_array().unwrap().is_empty(), beyond, "{s}");
    }
    let partition = suites.iter().find(|s| s["name"] == "partition").unwrap();
    assert_eq!(partition["needs"], serde_json::json!(["partitions"]));
    assert_eq!(partition["platforms"], serde_json::json!(["docker", "kube", "kind"]));
    for s in suites {
        assert!(s["disruptive"].is_boolean() && !s["description"].as_str().unwrap().is_empty(), "{s}");
        assert!(!s["platforms"].as_array().unwrap().is_empty(), "{s}");
        for section in s["sections"].as_array().unwrap() {
            assert!(section["url"].as_str().unwrap().starts_with("https://kubernetes.io/docs/tutorials/stateful-application/zookeeper/#"), "{s}");
            assert!(!section["title"].as_str().unwrap().is_empty(), "{s}");
        }
    }
    let durability = suites.iter().find(|s| s["name"] == "durability").unwrap();
    assert_eq!(durability["disruptive"], true);
    assert_eq!(durability["sections"][0]["title"], "Providing durable storage");

    let (code, table, _) = zk_chaos(&["suites"]);
    assert_eq!(code, 0);
    assert!(table.starts_with("SUITE") && table.contains("DISRUPTIVE") && !table.contains("TUTORIAL.md"), "{table}");
    assert!(table.contains("beyond the walkthrough: runs only when named (--suite partition)"), "{table}");
}

/// `certify --help` offers what certify accepts (no --suite) and every command's help lists the
/// exit codes.
#[test]
fn help_offers_what_each_command_accepts_and_the_exit_codes() {
    let (code, certify, _) = zk_chaos(&["certify", "--help"]);
    assert_eq!(code, 0);
    assert!(!certify.contains("--suite"), "{certify}");
    for flag in ["--platform", "--manifest", "--results", "--repeat", "-n, --namespace", "--kind-config"] {
        assert!(certify.contains(flag), "{flag}: {certify}");
    }
    let (_, run, _) = zk_chaos(&["run", "--help"]);
    assert!(run.contains("--suite <NAME>") && run.contains("-n, --namespace"), "{run}");
    for args in [vec!["--help"], vec!["certify", "--help"], vec!["run", "--help"], vec!["compare", "--help"], vec!["clean", "--help"], vec!["suites", "--help"]] {
        let (code, help, _) = zk_chaos(&args);
        assert_eq!(code, 0, "{args:?}");
        assert!(help.contains("Exit codes:\n  0    every suite passed") && help.contains("\n  130  interrupted"), "{args:?}: {help}");
    }
    let (_, image, _) = zk_chaos(&["image", "build", "--help"]);
    assert!(image.contains("Exit codes: 0 built or up to date, 1 the build failed, 3 no Docker engine"), "{image}");
    let (_, top, _) = zk_chaos(&["--help"]);
    assert!(top.contains("130  interrupted") && top.contains("image") && top.contains("suites"), "{top}");
}

/// A second Ctrl-C while the first one's cleanup runs quits at once (130), naming what may be
/// left and the `clean` command. Driven on `--platform kind` with a stand-in `kind` whose cluster
/// creation and deletion hang, so no engine or cluster is needed: the first SIGINT lands in the
/// creation and starts the deletion, the second lands in the deletion.
#[test]
fn a_second_interrupt_during_cleanup_quits_at_once_saying_what_is_left() {
    use std::os::unix::fs::PermissionsExt;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let kind = d.join("kind");
    std::fs::write(
        &kind,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n  version) echo 'kind v0.0.0-test' ;;\n  create) touch {0}/creating; echo $$ > {0}/pid; exec sleep 30 ;;\n  delete) touch {0}/deleting; echo $$ > {0}/pid; exec sleep 30 ;;\n  *) ;;\nesac\n",
            d.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&kind, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Not a zk-chaos/ image: nothing to build, so the Docker engine is not asked either.
    std::fs::write(d.join("config.yaml"), "image: example.org/zookeeper:3.8\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_zk-chaos"))
        .args(["run", "--platform", "kind", "--suite", "integrity", "--config"])
        .arg(d.join("config.yaml"))
        .arg("--results")
        .arg(d.join("results"))
        .env("ZK_CHAOS_KIND", &kind)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let wait_for = |file: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !d.join(file).exists() {
            assert!(Instant::now() < deadline, "the stand-in kind never got to {file}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let sigint = |pid: u32| assert!(Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap().success());
    wait_for("creating");
    sigint(child.id());
    wait_for("deleting");
    let second = Instant::now();
    sigint(child.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "zk-chaos did not quit within 10 s of the second interrupt");
        std::thread::sleep(Duration::from_millis(20));
    };
    let quit_after = second.elapsed();
    // The stand-in's sleep outlives zk-chaos (nothing waits for it any more): end it.
    if let Ok(pid) = std::fs::read_to_string(d.join("pid")) {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(quit_after < Duration::from_secs(5), "quit {quit_after:?} after the second interrupt, not at once (the deletion hangs 30 s)");
    let cluster = stderr.split("the kind cluster ").nth(1).and_then(|s| s.split(',').next()).unwrap_or_else(|| panic!("no cluster named:\n{stderr}")).to_string();
    let _ = std::fs::remove_file(std::env::temp_dir().join(format!("{cluster}.kind.yaml")));
    assert!(stderr.contains("interrupted again: quitting now"), "{stderr}");
    let clean = stderr.lines().last().unwrap().trim();
    assert!(clean.starts_with("zk-chaos clean --run zk-chaos-"), "{stderr}");
    let run_id = clean.trim_start_matches("zk-chaos clean --run ");
    assert_eq!(zk_chaos::platform::kube::kind::cluster_name(run_id), cluster, "the clean command finds the cluster by that run id");
}

/// `zk-chaos show` prints the built-in defaults byte for byte, so a copy of them is a file that
/// `--manifest` / `--kind-config` take.
#[test]
fn show_prints_the_built_in_defaults() {
    for (what, file) in [("manifest", "fixtures/zookeeper.yaml"), ("kind-config", "fixtures/kind/cluster.yaml")] {
        let (code, out, err) = zk_chaos(&["show", what]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap(), "{what}");
    }
    let (code, _, err) = zk_chaos(&["show", "config"]);
    assert_eq!(code, 2, "{err}");
}
