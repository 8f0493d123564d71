//! The command line where no engine is needed: `suites`, `compare` on recorded reports, help, and
//! bad input.
//!
//! Over 600 lines: one test binary for every command that needs no engine, so that `cargo test --test
//! cli` builds once; each test is short.

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
        // --adopt: refused before any cluster is contacted (none is reachable here).
        (vec!["run", "--platform", "kube", "--adopt", "statefulset/zk", "-n", "zk", "--manifest", "fixtures/zookeeper.yaml"], "--adopt and --manifest exclude each other"),
        (vec!["certify", "--adopt", "statefulset/zk", "-n", "zk"], "--adopt needs --platform kube"),
        (vec!["certify", "--platform", "kind", "--adopt", "statefulset/zk", "-n", "zk"], "--platform kind creates its own ensemble"),
        (vec!["certify", "--platform", "kube", "--adopt", "statefulset/zk"], "needs the ensemble's namespace (-n NS)"),
        (vec!["certify", "--platform", "kube", "--adopt", "deployment/zk", "-n", "zk"], "name the ensemble as kubectl does, statefulset/NAME"),
        (vec!["certify", "--platform", "kube", "--adopt", "statefulset/zk", "-n", "zk", "--image-map", "a=b"], "--image-map"),
        (vec!["certify", "--platform", "kube", "--adopt", "statefulset/zk", "-n", "zk", "--keep"], "--keep has nothing to keep"),
        (vec!["certify", "--platform", "kube", "--adopt", "statefulset/zk", "-n", "zk", "--data", "8MiB"], "drop --data"),
        (vec!["run", "--data", "256MB"], "'256MB' is not a size: write a whole number and KiB, MiB or GiB"),
        (vec!["certify", "--data", "8GiB"], "'8GiB' is out of range"),
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
    assert_eq!(
        names,
        ["manifest", "conformance", "integrity", "durability", "process-failure", "liveness", "rolling-update", "node-failure", "maintenance", "partition", "scale", "upgrade"]
    );
    for s in suites {
        let beyond = ["partition", "scale", "upgrade"].contains(&s["name"].as_str().unwrap());
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
    assert!(table.contains("beyond the walkthrough: runs only when named (--suite upgrade)"), "{table}");
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

/// `--version` names the commit zk-chaos was built from and the report schema it writes.
#[test]
fn version_names_the_commit_and_the_report_schema() {
    let (code, out, err) = zk_chaos(&["--version"]);
    assert_eq!(code, 0, "{err}");
    let line = out.trim();
    let want = format!("zk-chaos {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(line.starts_with(&want) && line.ends_with(&format!(", report schema {})", zk_chaos::report::model::SCHEMA_VERSION)), "{line}");
    let commit = &line[want.len()..line.find(',').unwrap()];
    assert_eq!(commit, zk_chaos::shell::COMMIT);
    // These tests run from a git checkout: the commit is HEAD's, as git says it.
    let head = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    if head.status.success() && std::env::var_os("ZK_CHAOS_COMMIT").is_none() {
        let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
        // HEAD may have moved since the build (a commit without a rebuild): then it is an ancestor.
        let ancestor = Command::new("git").args(["merge-base", "--is-ancestor", commit, "HEAD"]).current_dir(env!("CARGO_MANIFEST_DIR")).status().unwrap();
        assert!(commit == head || ancestor.success(), "built from {commit}, HEAD is {head}");
    }
}

/// Completion scripts for each shell clap_complete knows, and a man page with every command.
#[test]
fn completions_and_the_man_page_cover_every_command() {
    let (code, bash, err) = zk_chaos(&["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    assert!(bash.contains("complete -F _zk__chaos") && bash.contains("certify") && bash.contains("--allow-disruption") && bash.contains("--junit"), "{bash}");
    // Values of an enum are offered too.
    assert!(bash.contains("docker kube kind"), "{bash}");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let (code, script, err) = zk_chaos(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(script.contains("certify") && script.contains("max-factor"), "{shell}: {script}");
    }
    let (code, _, err) = zk_chaos(&["completions", "tcsh"]);
    assert_eq!(code, 2, "{err}");
    let (code, man, err) = zk_chaos(&["man"]);
    assert_eq!(code, 0, "{err}");
    assert!(man.starts_with(".ie \\n(.g .ds Aq \\(aq") || man.contains(".TH zk-chaos"), "{man}");
    for section in ["zk-chaos-run", "zk-chaos-certify", "zk-chaos-compare", "zk-chaos-clean", "zk-chaos-completions"] {
        assert!(man.contains(&format!(".TH {section}")), "{section}: {man}");
    }
    assert!(man.contains("Exit codes:") && man.contains("allow\\-different"), "{man}");
}

/// `-v` and `-q` are accepted by every command, before or after it, but not together.
#[test]
fn verbosity_flags_go_anywhere_but_not_together() {
    for args in [vec!["-v", "suites"], vec!["suites", "-vv"], vec!["-q", "suites", "-o", "json"], vec!["--quiet", "show", "manifest"]] {
        let (code, _, err) = zk_chaos(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let (code, _, err) = zk_chaos(&["-q", "-v", "suites"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot be used with"), "{err}");
}

/// `suites -o yaml` is the same listing as `-o json`.
#[test]
fn suites_as_yaml_is_the_json_listing() {
    let (_, json, _) = zk_chaos(&["suites", "-o", "json"]);
    let (code, yaml, err) = zk_chaos(&["suites", "-o", "yaml"]);
    assert_eq!(code, 0, "{err}");
    let from_yaml: Value = serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("not YAML ({e}):\n{yaml}"));
    assert_eq!(from_yaml, serde_json::from_str::<Value>(&json).unwrap());
}

/// `compare -o json|yaml` for a machine: the rows, the regressions and the differences.
#[test]
fn compare_speaks_json_and_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let a = save(dir.path(), "a", &recorded());
    let mut slower = recorded();
    let m = &mut suite_mut(&mut slower, "process-failure")["metrics"]["leader.fault_to_whole_ms"];
    *m = Value::from(m.as_f64().unwrap() * 2.0);
    let b = save(dir.path(), "b", &slower);
    let (code, out, err) = zk_chaos(&["compare", a.to_str().unwrap(), b.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 1, "{err}");
    let c: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"));
    assert_eq!(c["regressions"], 1);
    assert_eq!(c["differences"], serde_json::json!([]));
    let regressed: Vec<&Value> = c["rows"].as_array().unwrap().iter().filter(|r| r["regressed"] == true).collect();
    assert_eq!(regressed.len(), 1, "{out}");
    assert_eq!((regressed[0]["suite"].as_str(), regressed[0]["what"].as_str()), (Some("process-failure"), Some("leader.fault_to_whole_ms")));
    let (code, yaml, err) = zk_chaos(&["compare", a.to_str().unwrap(), a.to_str().unwrap(), "--output", "yaml"]);
    assert_eq!(code, 0, "{err}");
    let c: Value = serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("not YAML ({e}):\n{yaml}"));
    assert_eq!(c["regressions"], 0);
    assert_eq!(c["run_a"], recorded()["run_id"]);
}

/// A full certify against a one-suite run, or against another deployment, is not a comparison:
/// exit 1 saying why, unless `--allow-different`.
#[test]
fn compare_refuses_runs_of_other_suites_or_another_deployment() {
    let dir = tempfile::tempdir().unwrap();
    let full = save(dir.path(), "full", &recorded());
    let mut one = recorded();
    one["suites"].as_array_mut().unwrap().retain(|s| s["name"] == "integrity");
    let one = save(dir.path(), "one", &one);
    let (code, out, err) = zk_chaos(&["compare", full.to_str().unwrap(), one.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("no regression"), "no row regressed: {out}");
    assert!(out.contains("NOT COMPARABLE: the runs did not run the same suites: only A ran conformance, durability, liveness, process-failure, rolling-update"), "{out}");
    assert!(err.contains("--allow-different"), "{err}");
    let (code, out, err) = zk_chaos(&["compare", full.to_str().unwrap(), one.to_str().unwrap(), "--allow-different"]);
    assert_eq!(code, 0, "{out}{err}");

    let mut other = recorded();
    other["subject"]["manifest_digest"] = Value::from("sha256:1111");
    let other = save(dir.path(), "other", &other);
    let (code, out, err) = zk_chaos(&["compare", full.to_str().unwrap(), other.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 1, "{err}");
    let c: Value = serde_json::from_str(&out).unwrap();
    let d = c["differences"].as_array().unwrap();
    assert_eq!(d.len(), 1, "{out}");
    assert!(d[0].as_str().unwrap().starts_with("the runs did not certify the same deployment") && d[0].as_str().unwrap().ends_with("sha256:1111"), "{out}");
    let (code, _, _) = zk_chaos(&["compare", full.to_str().unwrap(), other.to_str().unwrap(), "--allow-different"]);
    assert_eq!(code, 0);
}

/// `--junit PATH` is checked before anything runs: a missing folder or a folder is bad input.
#[test]
fn a_junit_path_that_cannot_be_written_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/folder/junit.xml");
    for (path, says) in [(missing.to_str().unwrap(), "does not exist"), (dir.path().to_str().unwrap(), "is a folder")] {
        let (code, out, err) = zk_chaos(&["run", "--suite", "integrity", "--junit", path]);
        assert_eq!(code, 2, "{out}{err}");
        assert!(err.contains(&format!("--junit {path}: ")) && err.contains(says), "{err}");
    }
}

/// A Docker engine of our own on a unix socket: answers what the harness asks when it connects
/// (the API version, a ping, the image, what earlier runs left) and refuses the rest with 500, so a
/// run stops at its first deployment step. It records each request's method and path.
struct FakeEngine {
    socket: PathBuf,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FakeEngine {
    fn start(socket: PathBuf) -> FakeEngine {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut out = conn;
                    loop {
                        let mut request = String::new();
                        if reader.read_line(&mut request).unwrap_or(0) == 0 {
                            return;
                        }
                        let mut length = 0usize;
                        loop {
                            let mut header = String::new();
                            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                                return;
                            }
                            if header.trim().is_empty() {
                                break;
                            }
                            if let Some((k, v)) = header.split_once(':') {
                                if k.eq_ignore_ascii_case("content-length") {
                                    length = v.trim().parse().unwrap_or(0);
                                }
                            }
                        }
                        let mut body = vec![0; length];
                        if reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        let mut parts = request.split_whitespace();
                        let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
                        let path = target.split('?').next().unwrap_or("").to_string();
                        log.lock().unwrap().push(format!("{method} {path}"));
                        let (status, body) = match (method.as_str(), path.as_str()) {
                            (_, p) if p.ends_with("/_ping") => ("200 OK", "OK".to_string()),
                            (_, p) if p.ends_with("/version") => {
                                ("200 OK", r#"{"ApiVersion":"1.41","MinAPIVersion":"1.12","Version":"20.10.0","Os":"linux","Arch":"amd64"}"#.to_string())
                            }
                            ("GET", p) if p.contains("/images/") => ("200 OK", r#"{"Id":"sha256:fake","RepoTags":["example.org/zookeeper:3.8"]}"#.to_string()),
                            ("GET", p) if p.ends_with("/containers/json") || p.ends_with("/networks") => ("200 OK", "[]".to_string()),
                            ("GET", p) if p.ends_with("/volumes") => ("200 OK", r#"{"Volumes":[],"Warnings":[]}"#.to_string()),
                            _ => ("500 Internal Server Error", r#"{"message":"the fake engine of the cli test does not do this"}"#.to_string()),
                        };
                        let response = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                        if out.write_all(response.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        FakeEngine { socket, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// With DOCKER_HOST unset and a docker CLI context selected (config.json's currentContext, in a
/// temporary DOCKER_CONFIG), the run goes to the context's engine, our fake one, and its report
/// names that engine and what chose it. A missing context is bad input naming it.
#[test]
fn the_docker_cli_context_chooses_the_engine_when_docker_host_is_unset() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let engine = FakeEngine::start(d.join("fake-engine.sock"));
    let config = d.join("docker-config");
    let id: String = Sha256::digest(b"fake-engine").iter().map(|b| format!("{b:02x}")).collect();
    std::fs::create_dir_all(config.join("contexts/meta").join(&id)).unwrap();
    let meta = serde_json::json!({"Name": "fake-engine", "Metadata": {}, "Endpoints": {"docker": {"Host": format!("unix://{}", engine.socket.display()), "SkipTLSVerify": false}}});
    std::fs::write(config.join("contexts/meta").join(&id).join("meta.json"), meta.to_string()).unwrap();
    std::fs::write(config.join("config.json"), r#"{"auths": {}, "currentContext": "fake-engine"}"#).unwrap();
    // Not a zk-chaos/ image: nothing to build.
    std::fs::write(d.join("config.yaml"), "image: example.org/zookeeper:3.8\n").unwrap();
    let run = |context: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zk-chaos"));
        cmd.args(["run", "--suite", "integrity", "--config"])
            .arg(d.join("config.yaml"))
            .arg("--results")
            .arg(d.join("results"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("XDG_RUNTIME_DIR")
            .env("HOME", d)
            .env("DOCKER_CONFIG", &config)
            .env("ZK_CHAOS_RUNS_DIR", d.join("runs"));
        if let Some(c) = context {
            cmd.env("DOCKER_CONTEXT", c);
        }
        let out = cmd.output().unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, out, err) = run(None);
    let seen = engine.seen();
    assert!(seen.iter().any(|r| r.starts_with("GET") && r.ends_with("/_ping")), "the context's engine was not pinged: {seen:?}\n{out}{err}");
    assert!(seen.iter().any(|r| r.contains("/images/example.org/zookeeper:3.8/json")), "{seen:?}\n{err}");
    // Our engine refuses to create anything: the run fails, and its report says which engine it used.
    assert_eq!(code, 1, "{out}{err}");
    // stderr is a pipe here: plain lines, no status line redrawn with escape codes.
    assert!(!err.contains('\x1b') && !err.contains('\r'), "{err:?}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(d.join("results/latest/report.json")).unwrap()).unwrap();
    let want = format!("Docker engine: unix://{} (from the docker context fake-engine (currentContext in {}))", engine.socket.display(), config.join("config.json").display());
    assert!(report["notes"].as_array().unwrap().iter().any(|n| n == &Value::from(want.clone())), "{want}\n{}", report["notes"]);

    let (code, out, err) = run(Some("nowhere"));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("DOCKER_CONTEXT selects the docker context \"nowhere\""), "{err}");
}

/// `--repeat 2 --junit PATH -o json` against our fake engine (each run fails at its deployment):
/// stdout is one JSON document with both runs and the pass rates; PATH and
/// results/repeat-<id>.junit.xml hold every run in one JUnit report, the check failing in both a
/// failure with one rerun.
#[test]
fn repeated_runs_write_one_junit_and_one_machine_document() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let engine = FakeEngine::start(d.join("engine.sock"));
    std::fs::write(d.join("config.yaml"), "image: example.org/zookeeper:3.8\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zk-chaos"))
        .args(["run", "--suite", "integrity", "--repeat", "2", "-o", "json", "--config"])
        .arg(d.join("config.yaml"))
        .arg("--results")
        .arg(d.join("results"))
        .arg("--junit")
        .arg(d.join("junit.xml"))
        .env("DOCKER_HOST", format!("unix://{}", engine.socket.display()))
        .env("ZK_CHAOS_RUNS_DIR", d.join("runs"))
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{stdout}"));
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{stdout}");
    for r in runs {
        assert_eq!(r["verdict"], "fail", "{r}");
        assert!(Path::new(r["results"].as_str().unwrap()).join("report.json").exists(), "{r}");
        assert_eq!(r["suites"][0]["failed"][0][0], "every member Running and Ready", "{r}");
    }
    assert_eq!(doc["pass_rates"][0]["ran"], 2, "{stdout}");
    assert_eq!(doc["pass_rates"][0]["passed"], 0, "{stdout}");
    let junit = std::fs::read_to_string(d.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<failure").count(), 1, "{junit}");
    assert_eq!(junit.matches("<rerunFailure").count(), 1, "{junit}");
    assert!(junit.contains("failed in every run that ran it (2)"), "{junit}");
    let first = runs[0]["run_id"].as_str().unwrap();
    assert_eq!(std::fs::read_to_string(d.join(format!("results/repeat-{first}.junit.xml"))).unwrap(), junit);
}

/// `zk-chaos history RESULTS_DIR`: the page beside the runs, and the same history as JSON.
#[test]
fn history_charts_the_runs_of_a_results_folder() {
    let dir = tempfile::tempdir().unwrap();
    let mut older = recorded();
    older["run_id"] = Value::from("zk-chaos-20261101-030000-aaaa");
    older["started_at"] = Value::from("2026-11-01T03:00:00Z");
    save(dir.path(), "zk-chaos-20261101-030000-aaaa", &older);
    save(dir.path(), "newer", &recorded());
    let (code, out, err) = zk_chaos(&["history", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("history of 2 runs: ") && out.trim_end().ends_with("history.html"), "{out}");
    let page = std::fs::read_to_string(dir.path().join("history.html")).unwrap();
    assert!(page.contains("<h2>process-failure / leader.fault_to_whole_ms</h2><svg"), "{page}");
    let (code, json, err) = zk_chaos(&["history", dir.path().to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let h: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(h["runs"][0]["run_id"], "zk-chaos-20261101-030000-aaaa", "oldest first");
    assert_eq!(h["runs"][1]["run_id"], recorded()["run_id"]);
    assert_eq!(h["metrics"]["process-failure / leader.fault_to_whole_ms"].as_array().unwrap().len(), 2);
    let (code, _, err) = zk_chaos(&["history", dir.path().join("nothing").to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
}

/// `zk-chaos job --print` prints the objects it would apply (what `kubectl apply -f -` takes), and
/// bad input is refused with one paragraph and exit 2 before any cluster is contacted.
#[test]
fn job_prints_its_objects_and_refuses_bad_input_before_any_cluster() {
    let (code, out, err) = zk_chaos(&["job", "--print", "-n", "zk", "--suite", "manifest", "--image", "registry.example/zk-chaos:1"]);
    assert_eq!(code, 0, "{err}");
    for kind in ["ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "Job"] {
        assert_eq!(out.matches(&format!("\nkind: {kind}\n")).count(), 1, "{kind} in:\n{out}");
    }
    assert!(!out.contains("kind: Namespace") && !out.contains("kind: ConfigMap"), "{out}");
    assert!(out.contains("image: registry.example/zk-chaos:1") && out.contains("- job-pod") && out.contains("- manifest"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    // A kubeconfig that is read, never contacted: its context is not the one allowed to be disrupted.
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: prod\nclusters:\n- name: prod\n  cluster:\n    server: https://127.0.0.1:9\n\
         contexts:\n- name: prod\n  context:\n    cluster: prod\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n",
    )
    .unwrap();
    let kc = kubeconfig.to_str().unwrap();
    let d = dir.path().to_str().unwrap();
    for (args, needle) in [
        (vec!["job", "--suite", "maintenance"], "suite 'maintenance' is disruptive"),
        (vec!["job", "--suite", "nope"], "unknown suite 'nope'"),
        (vec!["job", "--manifest", d], "is a directory"),
        (vec!["job", "--manifest", "/nonexistent.yaml"], "/nonexistent.yaml"),
        (vec!["job", "--timeout", "0s"], "--timeout 0s"),
        (vec!["job", "--image-map", "zookeeper:3.9.5"], "write it FROM=TO"),
        (vec!["job", "--kubeconfig", kc, "--allow-disruption", "kind-test", "--suite", "maintenance"], "--allow-disruption names 'kind-test'"),
        (vec!["job", "--kubeconfig", kc, "--context", "staging"], "has no context 'staging'"),
    ] {
        let (code, out, err) = zk_chaos(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one paragraph: {err}");
    }
    // The cluster is contacted only once the input is good: nothing answers there (exit 3).
    let (code, _, err) = zk_chaos(&["job", "--kubeconfig", kc, "--suite", "manifest"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("cannot be reached"), "{err}");
}
