//! End-to-end: the `zk-chaos` binary against the real Docker engine, on the reference manifest and
//! on the negative controls in `fixtures/broken/`, each of which the matching suite must fail.
//!
//! Each run has its own results folder, and after every run nothing labelled with its run id may be
//! left. What must pass (a certify, partition and scale passing, pass rates) and what looks at
//! every run on the engine runs alone; the negative controls and the interrupt and cleanup tests
//! run beside each other, two at once on two cores (libtest's default): most of their time is
//! waiting for what never comes (a restart, a probe's failure, a server that cannot start), and
//! one after another they took 22 of the group's 45 minutes.

use std::process::Command;
use std::sync::RwLock;

use serde_json::Value;

mod common;

use common::cli::{self, fixture, root, zk_chaos, zk_chaos_fed, Background, Run, BITNAMI_MAP, OFFICIAL_MAP};

/// Held alone by a test that must pass or looks at every run; beside, by the others.
static ENGINE: RwLock<()> = RwLock::new(());

/// The engine started (`ci/start-docker.sh`) and this test the only one using it.
fn exclusive() -> common::Exclusive {
    common::alone(&ENGINE)
}

/// The engine started and this test beside others that may share it (never beside one alone).
fn beside() -> common::Exclusive {
    common::beside(&ENGINE)
}

/// Containers, networks and volumes carrying the run's label (any run's when `run_id` is empty).
fn leftovers(run_id: &str) -> Vec<String> {
    let filter = if run_id.is_empty() { "label=zk-chaos.run".to_string() } else { format!("label=zk-chaos.run={run_id}") };
    let mut left = Vec::new();
    for what in [&["ps", "-a", "-q"][..], &["network", "ls", "-q"], &["volume", "ls", "-q"]] {
        let out = Command::new("docker").args(what).args(["--filter", &filter]).output().expect("docker CLI");
        // A CLI that failed (no engine, another engine's error) lists nothing: that is no proof.
        assert!(out.status.success(), "docker {} --filter {filter} failed ({}): {}", what.join(" "), out.status, String::from_utf8_lossy(&out.stderr));
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
    let _one = exclusive();
    // A small data volume (issue 33; the nightly workflow writes 256MiB): written before durability,
    // checked intact after it and every later suite.
    let run = zk_chaos(&["certify", "--data", "8MiB"]);
    assert_eq!(run.code, 0, "{}", run.output());
    let report = run.report();
    assert_eq!(report["verdict"], "pass");
    assert_eq!(report["platform"], "docker");
    let names: Vec<&str> = report["suites"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    let written = names.iter().position(|n| *n == "data").unwrap_or_else(|| panic!("no data part: {names:?}"));
    assert_eq!(names[written + 1], "durability", "{names:?}");
    for name in names[written + 1..].iter().filter(|n| !run.checks(n).is_empty()) {
        let intact = run.checks(name).into_iter().find(|c| c.contains("every znode of the data volume intact")).unwrap_or_else(|| panic!("{name}: {:#?}", run.checks(name)));
        assert!(intact.starts_with("pass ") && intact.contains("17 subtrees, 7177 znodes, 8388224 bytes"), "{name}: {intact}");
    }
    assert!(report["subject"]["manifest_digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(report["subject"]["zookeeper_version"].as_str().unwrap().starts_with("3.8"), "{}", report["subject"]);
    passed_or_skipped_for_kube(&run, &report, &[]);
    let dir = run.results.path().join("latest");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains("<testcase") && !junit.contains("<failure"), "{junit}");
    assert!(dir.join("summary.txt").exists() && dir.join("report.html").exists());
    assert_clean(&run);
}

// ---- The deployments people run: the official image configured by ZOO_* variables and a
// Bitnami-chart-style deployment (fixtures/official.yaml, fixtures/bitnami.yaml), each read from
// standard input as `helm template … | zk-chaos certify --manifest -` reads it, its upstream image
// mapped to the look-alike ci/build-zookeeper-images.sh builds.

/// `cat FILE | zk-chaos ARGS --manifest - --image-map MAP`.
fn fed(file: &str, map: &str, args: &[&str]) -> Run {
    common::reference_images();
    let manifest = std::fs::read(fixture(file)).unwrap();
    let mut args = args.to_vec();
    args.extend(["--manifest", "-", "--image-map", map]);
    zk_chaos_fed(&args, Some(&manifest))
}

/// Every suite of a Docker `certify` either passed, with checks of its own, or was skipped as one
/// that needs a cluster, or is one of `raced` (failed by the named `ruok` race alone, judged by
/// [`cli::lost_quorum_by_ruok`]); the names of those that passed.
fn passed_or_skipped_for_kube<'a>(run: &Run, report: &'a Value, raced: &[&str]) -> Vec<&'a str> {
    let mut passed = Vec::new();
    for suite in report["suites"].as_array().unwrap() {
        let name = suite["name"].as_str().unwrap();
        match suite["verdict"].as_str().unwrap() {
            "pass" => {
                assert!(!suite["checks"].as_array().unwrap().is_empty(), "{name} passed with no checks");
                passed.push(name);
            }
            "skipped" => assert!(suite["reason"].as_str().unwrap().contains("kube"), "{name}: {}", suite["reason"]),
            "fail" if raced.contains(&name) => {}
            other => panic!("{name}: {other}: {:?}", run.failures(name)),
        }
    }
    passed
}

/// `certify` of a reference (`file`) passed: every suite the platform runs passed with checks of
/// its own (liveness included: its fault named), the cluster-only ones skipped naming the platform,
/// the mapping named in the report. Its `ruok` readiness may lose the serving quorum in
/// rolling-update (a race, seen in CI with the kind tests beside): that failure alone is taken, and
/// printed.
fn assert_certified(run: &Run, file: &str, version: &str) {
    let report = run.report();
    let raced: Vec<&str> = report["suites"].as_array().unwrap().iter().filter(|s| cli::lost_quorum_by_ruok(file, s, &run.output())).map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(run.code, if raced.is_empty() { 0 } else { 1 }, "{}", run.output());
    assert_eq!(report["verdict"], if raced.is_empty() { "pass" } else { "fail" });
    assert!(report["subject"]["zookeeper_version"].as_str().unwrap().starts_with(version), "{}", report["subject"]);
    let passed = passed_or_skipped_for_kube(run, &report, &raced);
    for name in ["manifest", "conformance", "integrity", "durability", "process-failure", "liveness", "rolling-update"] {
        assert!(passed.contains(&name) || raced.contains(&name), "{name} did not pass: {passed:?}");
    }
    // The server is its container's pid 1 in both images: the probe is broken by stopping it from
    // outside the container, and the check says so.
    let fault = run.checks("liveness").into_iter().find(|c| c.starts_with("pass kill -STOP java in ")).unwrap_or_else(|| panic!("{:#?}", run.checks("liveness")));
    assert!(fault.contains("pid 1 of its container") && fault.contains("through the Docker engine"), "{fault}");
    assert!(report["notes"].to_string().contains("runs as zk-chaos/zookeeper-"), "the mapping is named in the report: {}", report["notes"]);
    assert_clean(run);
}

#[test]
fn the_official_image_configured_by_environment_read_from_stdin_is_certified() {
    let _one = exclusive();
    assert_certified(&fed("official.yaml", OFFICIAL_MAP, &["certify"]), "official.yaml", "3.9");
}

#[test]
fn the_bitnami_style_deployment_read_from_stdin_is_certified() {
    let _one = exclusive();
    assert_certified(&fed("bitnami.yaml", BITNAMI_MAP, &["certify"]), "bitnami.yaml", "3.9");
}

/// The derivations' negative controls: each broken copy of a reference fails the suite that
/// derives the fact, naming it.
#[test]
fn the_references_negative_controls_fail_the_suite_that_derives_their_fact() {
    let _one = beside();
    let run = fed("broken/preferred-anti-affinity.yaml", BITNAMI_MAP, &["run", "--suite", "manifest"]);
    assert_eq!(run.code, 1, "{}", run.output());
    let failures = run.failures("manifest").join("\n");
    assert!(failures.contains("has only preferredDuringSchedulingIgnoredDuringExecution, which the scheduler may ignore"), "{failures}");
    assert_clean(&run);

    let run = fed("broken/official-wrong-myid.yaml", OFFICIAL_MAP, &["run", "--suite", "conformance"]);
    assert_eq!(run.code, 1, "{}", run.output());
    let failures = run.failures("conformance").join("\n");
    assert!(failures.contains("zk-2") && failures.contains("myid"), "{failures}");
    assert_clean(&run);

    let run = fed("broken/official-member-config-disagrees.yaml", OFFICIAL_MAP, &["run", "--suite", "conformance"]);
    assert_eq!(run.code, 1, "{}", run.output());
    let failures = run.failures("conformance").join("\n");
    assert!(failures.contains("zk-2") && failures.contains("tickTime"), "{failures}");
    assert_clean(&run);

    let run = fed("broken/official-probe-never-fails.yaml", OFFICIAL_MAP, &["run", "--suite", "manifest"]);
    assert_eq!(run.code, 1, "{}", run.output());
    let failures = run.failures("manifest").join("\n");
    assert!(failures.contains("grep imok || true\"], which succeeds whether or not the server serves"), "{failures}");
    assert_clean(&run);
}

#[test]
fn conformance_fails_when_the_server_runs_as_root() {
    let _one = beside();
    let run = zk_chaos(&["run", "--suite", "conformance", "--manifest", &fixture("broken/root-user.yaml")]);
    assert_eq!(run.code, 1, "{}", run.output());
    let failures = run.failures("conformance").join("\n");
    assert!(failures.contains("runs as UID 1000, not root") && failures.contains("root"), "{failures}");
    assert_clean(&run);
}

/// What the manifest alone decides fails on Docker too, though Docker has no scheduler or budget:
/// each control fails the manifest suite with the message that names its fault, and only that.
#[test]
fn the_manifest_suite_fails_kubernetes_protections_that_are_broken_even_on_docker() {
    let _one = exclusive();
    for (file, message) in [
        ("anti-affinity-selects-nothing.yaml", "no required podAntiAffinity term on kubernetes.io/hostname selects the pods' own labels"),
        ("no-pdb.yaml", "there is no PodDisruptionBudget: a drain may evict a majority of the 3 servers at once"),
        ("pdb-allows-two.yaml", "PodDisruptionBudget zk-pdb allows 2 of 3 members to be down at once"),
        ("headless-selects-nothing.yaml", "Service zk-hs's spec.selector {\"app\":\"zookeeper\"} does not select the pods"),
    ] {
        let run = zk_chaos(&["run", "--suite", "manifest", "--manifest", &fixture(&format!("broken/{file}"))]);
        assert_eq!(run.code, 1, "{file}: {}", run.output());
        let failures = run.failures("manifest");
        assert_eq!(failures.len(), 1, "{file}: {failures:#?}");
        assert!(failures[0].starts_with("manifest's objects: ") && failures[0].contains(message) && failures[0].contains("Fix: "), "{file}: {failures:#?}");
        // The file alone decides: nothing was deployed to find it out.
        assert!(run.stderr.contains("no selected suite needs the ensemble on docker: nothing is deployed"), "{}", run.output());
        assert_clean(&run);
    }
}

#[test]
fn bad_input_exits_2_before_creating_anything() {
    let _one = exclusive();
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

/// `--to-image` naming nothing is bad input (2); naming an image the engine lacks is exit 3 with
/// the script that builds it; either before anything is started.
#[test]
fn an_upgrade_to_an_image_the_engine_lacks_exits_before_starting_anything() {
    let _one = exclusive();
    let before = leftovers("");
    let run = zk_chaos(&["run", "--suite", "upgrade", "--to-image", " "]);
    assert_eq!(run.code, 2, "{}", run.output());
    assert!(run.stderr.contains("--to-image \" \": give an image name"), "{}", run.output());
    let run = zk_chaos(&["run", "--suite", "upgrade", "--to-image", "zk-chaos/no-such-zookeeper:0.1"]);
    assert_eq!(run.code, 3, "{}", run.output());
    assert!(run.stderr.contains("the suite upgrade runs the image zk-chaos/no-such-zookeeper:0.1, which is not in the local Docker engine"), "{}", run.output());
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
        Run { code: out.status.code().unwrap_or(-1), stdout: String::from_utf8_lossy(&out.stdout).into_owned(), stderr: String::from_utf8_lossy(&out.stderr).into_owned(), results }
    };
    assert_eq!(run.code, 3, "{}", run.output());
    assert!(run.stderr.to_lowercase().contains("docker"), "{}", run.output());
}

// ---- Negative controls of the fault suites: each broken deployment fails its suite, by name.

#[test]
fn durability_fails_without_a_persistent_volume() {
    let _one = beside();
    let run = zk_chaos(&["run", "--suite", "durability", "--manifest", &fixture("broken/no-volume.yaml"), "--data", "4MiB"]);
    assert_eq!(run.code, 1, "{}", run.output());
    let failures = run.failures("durability").join("\n");
    assert!(failures.contains("the members have no persistent volume"), "{failures}");
    // The data volume (issue 33) was written, and is gone: the check names the first subtree.
    assert!(run.failures("data").is_empty(), "{:?}", run.failures("data"));
    assert!(failures.contains("the data volume is not intact: /zk-chaos/") && failures.contains("/data/s00: gone (expected "), "{failures}");
    // And the data really is gone: /hello did not survive the re-creation, and the workload
    // reports the writes it had been told were acknowledged.
    assert!(failures.contains("/hello through zk-2"), "{failures}");
    assert!(failures.contains("workload: no acknowledged write lost, reads monotonic: ") && failures.contains(" lost acknowledged writes: "), "{failures}");
    assert_clean(&run);
}

#[test]
fn process_failure_fails_when_the_container_outlives_java() {
    let _one = beside();
    let run = zk_chaos(&["run", "--suite", "process-failure", "--manifest", &fixture("broken/no-exit.yaml")]);
    assert_eq!(run.code, 1, "{}", run.output());
    let failures = run.failures("process-failure").join("\n");
    assert!(failures.contains("the container did not exit when java died"), "{failures}");
    assert_clean(&run);
}

#[test]
fn liveness_fails_when_the_probe_never_fails() {
    let _one = beside();
    let run = zk_chaos(&["run", "--suite", "liveness", "--manifest", &fixture("broken/probe-never-fails.yaml")]);
    assert_eq!(run.code, 1, "{}", run.output());
    let failures = run.failures("liveness").join("\n");
    assert!(failures.contains("the liveness probe never failed"), "{failures}");
    assert_clean(&run);
}

// ---- Serving quorum, not readiness (issue 33).

/// The fixed variant of the rolling update's field failure: readiness by the server's mode
/// (`srvr`), the pods started in parallel. Every deletion is judged from what the servers said
/// (the leader's mntr count), and the runner's samples and its Ready-but-not-serving metric are in
/// the report. About 4.5 minutes on a loaded two-core machine: in the nightly, not in `.ci/run`,
/// where every certify's rolling-update passes on the walkthrough's readiness by the same judgement.
#[test]
#[ignore = "nightly (CI time, issue 32): cargo test --features e2e --test e2e_docker -- --ignored"]
fn rolling_update_passes_with_readiness_by_the_servers_mode_judged_from_the_servers() {
    let _one = exclusive();
    let run = zk_chaos(&["run", "--suite", "rolling-update", "--manifest", &fixture("serving-readiness.yaml")]);
    assert_eq!(run.code, 0, "{}", run.output());
    let checks = run.checks("rolling-update").join("\n");
    for label in ["update", "undo"] {
        let quorum = format!("pass {label}: a majority of the others was serving whenever the rollout took a member down: took zk-2 at ");
        assert!(checks.contains(&quorum), "{checks}");
    }
    assert!(checks.contains("(2 others serving), then zk-1 at ") && checks.contains("judged from zk-"), "{checks}");
    let suite = run.suite("rolling-update");
    assert!(suite["metrics"]["ready_not_serving_max_ms"].as_f64().is_some(), "{}", suite["metrics"]);
    assert!(suite["metrics"]["serving.largest_sample_gap_ms"].as_f64().is_some_and(|g| g > 0.0), "{}", suite["metrics"]);
    let samples = std::fs::read_to_string(run.results.path().join("latest/rolling-update/serving-samples.jsonl")).unwrap();
    assert!(samples.lines().count() > 100 && samples.contains("\"state\":\"serving\""), "{} samples", samples.lines().count());
    assert_clean(&run);
}

/// The field failure itself (fixtures/broken/ruok-ready-while-syncing.yaml): readiness by `ruok`,
/// a restarted member that takes a 256 MiB snapshot from its leader, and the next member taken down
/// while it syncs, in the update or in its undo. The quorum check fails naming the member and what
/// each server said.
#[test]
fn rolling_update_fails_when_ready_by_ruok_runs_ahead_of_a_snapshot_sync() {
    let _one = beside();
    let run = zk_chaos(&["run", "--suite", "rolling-update", "--data", cli::RUOK_READY_WHILE_SYNCING_DATA, "--manifest", &fixture(cli::RUOK_READY_WHILE_SYNCING)]);
    cli::assert_ruok_ready_while_syncing_failed(&run);
    assert_clean(&run);
}

// ---- Beyond the walkthrough: partitions, and the register history judged.

/// The three partitions on the reference manifest: each in force, a leader on the majority side,
/// healed, whole; the register history linearizable; nothing of the run (helpers included) left.
#[test]
fn partition_passes_on_the_reference_manifest() {
    let _one = exclusive();
    let run = zk_chaos(&["run", "--suite", "partition"]);
    cli::assert_partition_passed(&run);
    assert_clean(&run);
}

/// Every member standalone (`--servers=1`): nothing is replicated, so the register history read
/// through the three members cannot be linearized, and the checker names the part that fails.
#[test]
fn partition_fails_when_every_member_is_standalone() {
    let _one = beside();
    let run = zk_chaos(&["run", "--suite", "partition", "--manifest", &fixture("broken/no-replication.yaml")]);
    cli::assert_partition_failed_standalone(&run);
    assert_clean(&run);
}

// ---- Scaling the StatefulSet (issue 33): the variant built to scale passes, the field failure fails.

/// fixtures/official-scalable.yaml (ZOO_SERVERS names five, three run) scaled 3 to 5 to 3: zk-3
/// and zk-4 join as voting followers of the one leader, /hello reads through each, back to three.
#[test]
fn scale_passes_on_the_variant_whose_server_list_names_five() {
    let _one = exclusive();
    common::reference_images();
    let run = zk_chaos(&["run", "--suite", "scale", "--manifest", &fixture("official-scalable.yaml"), "--image-map", OFFICIAL_MAP]);
    assert_eq!(run.code, 0, "{}", run.output());
    let report = run.report();
    let suite = report["suites"].as_array().unwrap().iter().find(|s| s["name"] == "scale").expect("the scale suite ran");
    assert_eq!(suite["verdict"], "pass", "{suite}");
    let passed: Vec<&str> = suite["checks"].as_array().unwrap().iter().filter(|c| c["verdict"] == "pass").map(|c| c["name"].as_str().unwrap()).collect();
    assert!(passed.contains(&"3 to 5: one ensemble, every new member a voting follower of its leader in its epoch"), "{passed:?}");
    assert!(passed.contains(&"5 to 3: /hello reads through every member (none serves an empty tree)"), "{passed:?}");
    for metric in ["up.3_to_5.scale_ms", "up.3_to_5.zk-4.start_to_serving_ms", "down.5_to_3.scale_ms"] {
        assert!(suite["metrics"][metric].as_f64().is_some(), "{metric}: {}", suite["metrics"]);
    }
    assert_clean(&run);
}

// ---- Beyond the walkthrough: a version upgrade, and an upgrade whose server cannot start.

/// The walkthrough's image (Debian's ZooKeeper 3.8.0) rolled to 3.9.5 (the default --to-image of
/// its family) under the register workload, and back: every member reports 3.9.5, then 3.8.0.
/// About 5.5 minutes: in the nightly; `.ci/run` runs the upgrade's negative control, which goes
/// through the same roll up to the member that cannot start.
#[test]
#[ignore = "nightly (CI time, issue 32): cargo test --features e2e --test e2e_docker -- --ignored"]
fn upgrade_from_the_walkthroughs_3_8_to_3_9_5_and_back_passes() {
    let _one = exclusive();
    common::upgrade_images();
    let run = zk_chaos(&["run", "--suite", "upgrade"]);
    assert_eq!(run.code, 0, "{}", run.output());
    let checks = run.checks("upgrade").join("\n");
    assert!(checks.contains("pass upgrade: every member reports the new version (srvr): zk-0 3.9.5"), "{checks}");
    assert!(checks.contains("pass downgrade: every member reports its first version again (srvr): zk-0 3.8.0"), "{checks}");
    assert!(checks.contains("pass workload: "), "the register history judged across both rolls: {checks}");
    let metrics = &run.suite("upgrade")["metrics"];
    eprintln!("upgrade metrics: {metrics}");
    for m in ["upgrade.rollout_ms", "downgrade.rollout_ms", "upgrade.zk-0.start_to_ready_ms", "downgrade.zk-2.start_to_ready_ms"] {
        assert!(metrics[m].as_f64().is_some_and(|v| v > 0.0), "{m}: {metrics}");
    }
    assert_clean(&run);
}

/// The field failure: a single standalone server (`--servers=1`) scaled 1 to 3 starts two more
/// ensembles of one, each serving an empty tree; the suite names them and returns to one replica.
#[test]
fn scale_fails_when_a_static_single_server_is_scaled_to_three() {
    let _one = beside();
    let run = zk_chaos(&["run", "--suite", "scale", "--manifest", &fixture("broken/static-one-server.yaml")]);
    cli::assert_static_single_server_scaled_to_three_failed(&run);
    assert_clean(&run);
}

/// The field failure's other half: the walkthrough's static three voters scaled to one replica
/// (`kubectl scale --replicas=1`): one of three is no majority, zk-0 stops serving; the suite fails
/// naming the lost quorum and the ledger scales back to three.
#[test]
fn scale_fails_when_three_voters_are_scaled_to_one() {
    let _one = beside();
    let run = zk_chaos(&["run", "--suite", "scale", "--config", &fixture("scale/below-majority.yaml")]);
    cli::assert_three_voters_scaled_to_one_failed(&run);
    assert_clean(&run);
}

/// The negative control: an image whose server refuses its config (zk-chaos/zookeeper-broken:3.9.5,
/// initLimit=ten). The roll stops at zk-2 (zk-0 and zk-1 stay on the first revision), quorum is
/// kept, the suite fails quoting the pod's state and the server's own message, and the forced
/// rollback (image set back, the pod deleted) makes the ensemble whole again.
#[test]
fn an_upgrade_to_an_image_whose_server_cannot_start_stops_and_fails_naming_why() {
    let _one = beside();
    common::upgrade_images();
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["run".to_string(), "--suite".into(), "upgrade".into()];
    args.extend(cli::upgrade_to_the_broken_image(dir.path()));
    let run = zk_chaos(&args.iter().map(String::as_str).collect::<Vec<_>>());
    cli::assert_upgrade_to_the_broken_image_failed(&run);
    assert_clean(&run);
}

// ---- Never leave a mess: interrupts, kills, and failures inside cleanup.

/// Ctrl-C in the middle of a fault: the run stops, says it was interrupted (exit 130), and
/// removes every container, network and volume it made. Twice, at two different faults.
#[test]
fn sigint_during_a_fault_leaves_nothing_behind() {
    let _one = beside();
    for (suite, fault) in [("process-failure", "fault: kill java"), ("durability", "fault: delete the StatefulSet")] {
        let mut run = Background::start(&["run", "--suite", suite]);
        let run_id = run.run_id();
        run.wait_for(fault, 240);
        std::thread::sleep(std::time::Duration::from_millis(300));
        run.signal("INT");
        let code = run.finish(180);
        assert_eq!(code, Some(130), "{suite}: interrupted run must exit 130\n{}", run.log());
        let report = run.report();
        assert_eq!(report["interrupted"], true, "{report}");
        assert_eq!(report["verdict"], "fail");
        let left = leftovers(&run_id);
        assert!(left.is_empty(), "{suite}: interrupted run {run_id} left {left:?}\n{}", run.log());
    }
}

fn clean(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zk-chaos")).arg("clean").args(args).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A run killed outright (SIGKILL) cannot clean up: the next run warns about its leftovers, and
/// `zk-chaos clean` finds them by their label and removes them. While the run was alive, `clean`
/// left it alone and refused to remove it by name.
#[test]
fn clean_removes_what_a_killed_run_left() {
    let _one = exclusive();
    let mut killed = Background::start(&["run", "--suite", "integrity"]);
    let run_id = killed.run_id();
    killed.wait_for("Ready", 180);
    let (code, stdout, stderr) = clean(&[]);
    assert_eq!(code, Some(0), "clean beside a live run: {stdout}{stderr}");
    assert!(stdout.contains(&format!("left alone: run {run_id} is in progress")), "{stdout}");
    assert!(!stdout.contains(&format!("run(s) {run_id}")), "{stdout}");
    let (code, _, stderr) = clean(&["--run", &run_id]);
    assert_eq!(code, Some(2), "a run in progress named with --run is refused: {stderr}");
    assert!(stderr.contains("is in progress") && stderr.contains("--force"), "{stderr}");
    let left = leftovers(&run_id);
    assert!(left.iter().any(|l| l.starts_with("ps")), "clean removed a live run's containers: {left:?}");
    killed.signal("KILL");
    assert_eq!(killed.finish(30), None, "killed by a signal, no exit code");
    let left = leftovers(&run_id);
    assert!(left.iter().any(|l| l.starts_with("ps")) && left.iter().any(|l| l.starts_with("volume")), "a killed run leaves containers and volumes: {left:?}");

    // The next run warns at start (then is interrupted, and removes only what it made itself).
    let mut next = Background::start(&["run", "--suite", "integrity"]);
    let warning = next.wait_for("earlier runs left", 60);
    assert!(warning.contains("zk-chaos clean"), "{warning}");
    let next_id = next.run_id();
    next.signal("INT");
    assert_eq!(next.finish(180), Some(130), "{}", next.log());
    assert!(leftovers(&next_id).is_empty());
    assert!(!leftovers(&run_id).is_empty(), "a run never removes another run's objects");

    // Killed, its lock is gone with its process: `clean` without --run takes it for leftovers.
    let (code, stdout, stderr) = clean(&[]);
    assert_eq!(code, Some(0), "clean: {stdout}{stderr}");
    assert!(stdout.contains(&format!("of run(s) {run_id}")), "{stdout}");
    let left = leftovers(&run_id);
    assert!(left.is_empty(), "after clean, run {run_id} left {left:?}");
}

/// A run ended with --keep leaves its ensemble up on purpose: `clean` leaves it alone and says
/// how to remove it; `clean --run` removes it.
#[test]
fn a_kept_run_stays_until_it_is_named() {
    let _one = exclusive();
    let run = zk_chaos(&["run", "--suite", "integrity", "--keep"]);
    assert_eq!(run.code, 0, "{}", run.output());
    let run_id = run.report()["run_id"].as_str().unwrap().to_string();
    assert!(leftovers(&run_id).iter().any(|l| l.starts_with("ps")), "--keep keeps the members\n{}", run.output());
    let (code, stdout, stderr) = clean(&[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(&format!("left alone: run {run_id} was kept with --keep (remove it with `zk-chaos clean --run {run_id}`)")), "{stdout}");
    assert!(!leftovers(&run_id).is_empty(), "clean removed a kept run");
    let (code, stdout, stderr) = clean(&["--run", &run_id]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(&format!("of run(s) {run_id}")), "{stdout}");
    let left = leftovers(&run_id);
    assert!(left.is_empty(), "after clean --run, kept run {run_id} left {left:?}");
}

/// A failure inside cleanup fails the run (exit 1) with the cleanup error in the report: here a
/// container the run did not create is attached to its network, so the network cannot be removed.
#[test]
fn a_cleanup_failure_fails_the_run() {
    let _one = beside();
    let mut run = Background::start(&["run", "--suite", "integrity"]);
    let run_id = run.run_id();
    // The run's network exists once deployment starts.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let network = loop {
        let out = Command::new("docker").args(["network", "ls", "-q", "--filter", &format!("label=zk-chaos.run={run_id}")]).output().unwrap();
        assert!(out.status.success(), "docker network ls: {}", String::from_utf8_lossy(&out.stderr));
        if let Some(id) = String::from_utf8_lossy(&out.stdout).lines().next() {
            break id.to_string();
        }
        assert!(std::time::Instant::now() < deadline, "run {run_id} made no network within 60s\n{}", run.log());
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let intruder = format!("zk-chaos-test-intruder-{}", std::process::id());
    let image = "zk-chaos/zookeeper:3.8";
    let started = Command::new("docker").args(["run", "-d", "--rm", "--name", &intruder, "--network", &network, "--entrypoint", "sleep", image, "600"]).output().unwrap();
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));

    let code = run.finish(240);
    let _ = Command::new("docker").args(["rm", "-f", &intruder]).output();
    let report = run.report();
    let cleaned = Command::new(env!("CARGO_BIN_EXE_zk-chaos")).args(["clean", "--run", &run_id]).output().unwrap();

    assert_eq!(code, Some(1), "a cleanup failure must fail the run\n{}", run.log());
    assert_eq!(report["verdict"], "fail");
    let suites_passed = report["suites"].as_array().unwrap().iter().all(|s| s["verdict"] == "pass");
    assert!(suites_passed, "only cleanup failed here: {report}");
    let errors = report["cleanup_errors"].as_array().map(|a| a.iter().map(|e| e.as_str().unwrap().to_string()).collect::<Vec<_>>()).unwrap_or_default();
    assert!(errors.iter().any(|e| e.contains("network")), "the cleanup error names the network: {errors:?}");
    assert!(cleaned.status.success(), "{}", String::from_utf8_lossy(&cleaned.stderr));
    assert!(leftovers(&run_id).is_empty());
}

// ---- --repeat and --fail-fast

fn repeat_report(run: &Run) -> Value {
    let file = std::fs::read_dir(run.results.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            // repeat-<id>.json; repeat-<id>.junit.xml beside it is the repeat's JUnit.
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("repeat-") && name.ends_with(".json")
        })
        .unwrap_or_else(|| panic!("no repeat-*.json\n{}", run.output()));
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

#[test]
fn repeat_reports_each_checks_pass_rate() {
    let _one = exclusive();
    let run = zk_chaos(&["run", "--suite", "integrity", "--repeat", "2"]);
    assert_eq!(run.code, 0, "{}", run.output());
    let rep = repeat_report(&run);
    assert_eq!(rep["runs"].as_array().unwrap().len(), 2, "{rep}");
    let rates = rep["pass_rates"].as_array().unwrap();
    assert!(!rates.is_empty());
    for r in rates {
        assert_eq!((r["passed"].as_u64(), r["ran"].as_u64()), (Some(2), Some(2)), "{r}");
    }
    assert!(run.stdout.contains("read /hello through zk-1: 2/2"), "{}", run.output());
    for (id, _) in rep["runs"].as_array().unwrap().iter().map(|r| (r[0].as_str().unwrap(), ())) {
        assert!(leftovers(id).is_empty(), "run {id} left something");
    }
}

/// Members that do not replicate fail the integrity suite, and `--fail-fast` stops the repeat
/// at that first failed run (one run of the negative control serves both).
#[test]
fn integrity_fails_when_members_do_not_replicate_and_fail_fast_stops_the_repeat_there() {
    let _one = beside();
    let run = zk_chaos(&["run", "--suite", "integrity", "--manifest", &fixture("broken/no-replication.yaml"), "--repeat", "3", "--fail-fast"]);
    assert_eq!(run.code, 1, "{}", run.output());
    let failures = run.failures("integrity").join("\n");
    assert!(failures.contains("the value written through zk-0 is not visible through zk-1"), "{failures}");
    assert!(run.stdout.contains("not visible through zk-1"), "{}", run.output());
    // A failed run keeps each member's log.
    assert!(run.results.path().join("latest/logs/zk-1.log").exists());
    let rep = repeat_report(&run);
    assert_eq!(rep["runs"].as_array().unwrap().len(), 1, "stopped after the first failed run: {rep}");
    assert!(run.stdout.contains("FAILS"), "{}", run.output());
    assert_clean(&run);
}

/// Ctrl-C while `--repeat` moves on to its next run stops the whole repeat: the run it lands in
/// is interrupted and cleaned up, no further run starts, and the command exits 130.
#[test]
fn sigint_between_repeated_runs_stops_the_repeat() {
    let _one = beside();
    let mut run = Background::start(&["run", "--suite", "integrity", "--repeat", "3"]);
    run.wait_for("run 2 of 3", 300);
    run.signal("INT");
    let code = run.finish(180);
    assert_eq!(code, Some(130), "an interrupted repeat exits 130\n{}", run.log());
    assert!(!run.seen.iter().any(|l| l.contains("run 3 of 3")), "no run starts after Ctrl-C\n{}", run.log());
    let file = std::fs::read_dir(run.results.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            // repeat-<id>.json; repeat-<id>.junit.xml beside it is the repeat's JUnit.
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("repeat-") && name.ends_with(".json")
        })
        .unwrap_or_else(|| panic!("no repeat-*.json\n{}", run.log()));
    let rep: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let runs = rep["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "the first run and the interrupted second: {rep}");
    assert_eq!((runs[0][1].as_str(), runs[1][1].as_str()), (Some("pass"), Some("fail")), "{rep}");
    assert_eq!(run.report()["interrupted"], true);
    for id in runs.iter().map(|r| r[0].as_str().unwrap()) {
        assert!(leftovers(id).is_empty(), "run {id} left {:?}", leftovers(id));
    }
}
