//! Whole suites on the fake platform: each passes on the reference manifest and fails, on the
//! check that names the breakage, on its negative control from `fixtures/broken/` (the same files
//! the end-to-end tests run on Docker and kind).

use std::sync::Arc;
use std::time::Duration;

use super::FakePlatform;
use crate::config::{Config, Timeouts, WorkloadConfig};
use crate::manifest::Manifest;
use crate::platform::Cluster;
use crate::platform::{LifecycleKind, Platform};
use crate::report::{CheckReport, Verdict};
use crate::suites::{conformance, durability, integrity, liveness, maintenance, manifest, node_failure, partition, process_failure, rolling_update, Suite, SuiteCtx};

/// Short deadlines (the fake's steps are 20 ms) and a small workload.
fn config() -> Config {
    Config {
        timeouts: Timeouts { member_ready: Duration::from_secs(5), ensemble_whole: Duration::from_secs(5), operation: Duration::from_secs(2), cleanup: Duration::from_secs(2) },
        workload: WorkloadConfig { rate_per_second: 200, max_duration: Duration::from_secs(10), max_operations: 2_000 },
        ..Config::default()
    }
}

fn fixture(name: &str) -> Manifest {
    Manifest::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)).unwrap()
}

/// A fixture whose liveness probe runs every second and kills at its first failure, so that the
/// liveness suite's deadline (from the probe's fields) is 5 s instead of a minute.
fn fast_liveness(name: &str) -> Manifest {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let probe = "            initialDelaySeconds: 10\n            timeoutSeconds: 5\n          volumeMounts:";
    assert_eq!(text.matches(probe).count(), 1, "{name}: the liveness probe's fields moved");
    let text = text.replace(
        probe,
        "            initialDelaySeconds: 10\n            timeoutSeconds: 1\n            periodSeconds: 1\n            failureThreshold: 1\n          volumeMounts:",
    );
    Manifest::parse(&text, name).unwrap()
}

struct Ran {
    fake: Arc<FakePlatform>,
    checks: Vec<CheckReport>,
    outcome: anyhow::Result<()>,
}

impl Ran {
    fn verdict(&self, check: &str) -> Verdict {
        let found: Vec<_> = self.checks.iter().filter(|c| c.name == check).collect();
        assert_eq!(found.len(), 1, "one check {check:?} in {:#?}", self.checks);
        found[0].verdict
    }

    /// Every check passed, and there are `n` of them.
    fn passed(&self, n: usize) {
        assert!(self.outcome.is_ok(), "{:?}", self.outcome);
        let failed: Vec<_> = self.checks.iter().filter(|c| c.verdict != Verdict::Pass).collect();
        assert!(failed.is_empty(), "{failed:#?}");
        assert_eq!(self.checks.len(), n, "{:#?}", self.checks);
    }

    fn failed(&self, check: &str, says: &str) {
        let c = self.checks.iter().find(|c| c.name == check).unwrap_or_else(|| panic!("no check {check:?} in {:#?}", self.checks));
        assert_eq!(c.verdict, Verdict::Fail, "{c:#?}");
        assert!(c.message.contains(says), "{check}: {:?} does not say {says:?}", c.message);
    }
}

async fn run(suite: &dyn Suite, manifest: Manifest) -> Ran {
    run_on(suite, FakePlatform::with_manifest(manifest)).await
}

async fn run_on(suite: &dyn Suite, fake: FakePlatform) -> Ran {
    let fake = Arc::new(fake);
    let p: Arc<dyn Platform> = fake.clone();
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = SuiteCtx::new(suite.name(), p, config(), dir.path().to_path_buf());
    let outcome = crate::run::run_suite(suite, &mut ctx).await;
    Ran { fake, checks: ctx.checks().to_vec(), outcome }
}

fn count(fake: &FakePlatform, member: &str, kind: LifecycleKind) -> usize {
    fake.lifecycle().iter().filter(|e| e.member == member && e.kind == kind).count()
}

#[tokio::test]
async fn integrity_passes_on_the_reference_and_fails_with_standalone_members() {
    let ran = run(&integrity::Integrity, fixture("zookeeper.yaml")).await;
    ran.passed(3);
    for m in ["zk-0", "zk-1", "zk-2"] {
        assert_eq!(ran.fake.read(m, "/hello").as_deref(), Some(&b"world"[..]), "{m}");
    }

    let ran = run(&integrity::Integrity, fixture("broken/no-replication.yaml")).await;
    assert_eq!(ran.verdict("create /hello = world through zk-0"), Verdict::Pass);
    ran.failed("read /hello through zk-1", "not visible through zk-1");
    ran.failed("read /hello through zk-2", "not visible through zk-2");
    assert_eq!(ran.fake.read("zk-1", "/hello"), None, "each member standalone, with a tree of its own");
}

#[tokio::test]
async fn durability_passes_on_the_reference_and_fails_without_volumes() {
    let ran = run(&durability::Durability, fixture("zookeeper.yaml")).await;
    // gone, volumes, Ready, whole, /hello, three volumes, the workload
    ran.passed(9);
    for m in ["zk-0", "zk-1", "zk-2"] {
        assert_eq!((count(&ran.fake, m, LifecycleKind::Deleted), count(&ran.fake, m, LifecycleKind::Created)), (1, 2), "{m}: deployed, deleted, created again");
    }

    let ran = run(&durability::Durability, fixture("broken/no-volume.yaml")).await;
    ran.failed("the members had persistent volumes", "no persistent volume");
    ran.failed("ensemble whole again, no member's last zxid went back", "went back");
    ran.failed("/hello through zk-2 with its original cZxid", "/hello");
    ran.failed("zk-0 mounts the same volume as before", "had no persistent volume");
    ran.failed(crate::suites::traffic::CHECK, "acknowledged");
}

#[tokio::test]
async fn process_failure_passes_on_the_reference_and_fails_when_the_container_outlives_java() {
    let ran = run(&process_failure::ProcessFailure, fixture("zookeeper.yaml")).await;
    // per role: exited, restarted once and Ready, rejoined, /hello; then the workload
    ran.passed(9);
    // The follower killed is the last (zk-2); the leader then is zk-1, and zk-2 leads after it.
    for m in ["zk-1", "zk-2"] {
        assert_eq!(count(&ran.fake, m, LifecycleKind::Exited), 1, "{m}");
        assert_eq!(ran.fake.status(m).await.unwrap().restart_count, 1, "{m}");
    }
    assert_eq!(count(&ran.fake, "zk-0", LifecycleKind::Exited), 0);

    let ran = run(&process_failure::ProcessFailure, fixture("broken/no-exit.yaml")).await;
    ran.failed("follower zk-2: the container exited when java was killed", "the liveness probe killed it");
    assert_eq!(count(&ran.fake, "zk-2", LifecycleKind::LivenessKilled), 1, "the probe, not the entry point, ended the container");
}

#[tokio::test]
async fn liveness_passes_on_the_reference_and_fails_with_a_probe_that_cannot_fail() {
    let ran = run(&liveness::Liveness, fixture("zookeeper.yaml")).await;
    // probes, rm, killed after failureThreshold, unready, restarted fresh, whole, /hello, workload
    ran.passed(8);
    assert_eq!(count(&ran.fake, "zk-0", LifecycleKind::LivenessFailed), 3, "the reference's failureThreshold");

    let ran = run(&liveness::Liveness, fast_liveness("broken/probe-never-fails.yaml")).await;
    ran.failed("the liveness probe failed failureThreshold (1) times and killed the container", "the liveness probe never failed");
    assert_eq!(count(&ran.fake, "zk-0", LifecycleKind::LivenessFailed), 0);
}

#[tokio::test]
async fn the_fast_liveness_fixture_differs_only_in_the_probe_timing() {
    let fast = fast_liveness("zookeeper.yaml").pod_template().liveness.unwrap();
    let reference = fixture("zookeeper.yaml").pod_template().liveness.unwrap();
    assert_eq!((fast.period.as_secs(), fast.timeout.as_secs(), fast.failure_threshold), (1, 1, 1));
    assert_eq!((fast.command, fast.initial_delay), (reference.command, reference.initial_delay));
}

#[tokio::test]
async fn rolling_update_passes_on_the_reference() {
    let ran = run(&rolling_update::RollingUpdate, fixture("zookeeper.yaml")).await;
    // per rollout (update, undo): finished, reverse order, majority; history; undo restored;
    // /hello; the workload
    ran.passed(10);
    for m in ["zk-0", "zk-1", "zk-2"] {
        assert_eq!(count(&ran.fake, m, LifecycleKind::Deleted), 2, "{m}: replaced by the update and by the undo");
    }
    let revs = ran.fake.revisions().await.unwrap();
    assert_eq!(revs.iter().map(|r| r.number).collect::<Vec<_>>(), [2, 3], "the original revision renumbered by the undo");
}

#[tokio::test]
async fn node_failure_passes_on_the_reference_and_fails_when_the_anti_affinity_selects_nothing() {
    let ran = run(&node_failure::NodeFailure, fixture("zookeeper.yaml")).await;
    ran.passed(2);
    let ran = run(&node_failure::NodeFailure, fixture("broken/anti-affinity-selects-nothing.yaml")).await;
    ran.failed("the live StatefulSet requires podAntiAffinity on kubernetes.io/hostname", "selects the pods' own labels");
}

#[tokio::test]
async fn maintenance_passes_on_the_reference() {
    let ran = run(&maintenance::Maintenance, fixture("zookeeper.yaml")).await;
    ran.passed(15);
    assert!(ran.fake.calls().iter().filter(|c| matches!(c, super::Call::Evict(m) if m == "zk-2")).count() > 2, "the third drain was refused, then accepted");
    assert_eq!(ran.fake.status("zk-1").await.unwrap().node.as_deref(), Some("w0"), "zk-1 moved to the first node once it was uncordoned");
    let nodes = ran.fake.nodes().await.unwrap();
    assert!(nodes.iter().all(|n| n.schedulable), "every node uncordoned: {nodes:?}");
}

#[tokio::test]
async fn maintenance_fails_without_a_budget_and_with_one_that_allows_two() {
    let ran = run(&maintenance::Maintenance, fixture("broken/no-pdb.yaml")).await;
    ran.failed("the budget allows one disruption", "has no PodDisruptionBudget");
    ran.failed("every eviction of zk-2 for 10s refused by the budget, zk-2 running, /hello readable", "quorum lost");
    assert_eq!(ran.verdict("every node cordoned was uncordoned"), Verdict::Pass);

    let ran = run(&maintenance::Maintenance, fixture("broken/pdb-allows-two.yaml")).await;
    ran.failed("the budget allows one disruption", "allowing 1 disruption(s)");
    assert_eq!(ran.verdict("every node cordoned was uncordoned"), Verdict::Pass);
}

#[tokio::test]
async fn the_manifest_suite_judges_the_live_objects_and_fails_each_broken_field_once() {
    for fake in [FakePlatform::with_manifest(fixture("zookeeper.yaml")), FakePlatform { nodes: false, ..FakePlatform::with_manifest(fixture("zookeeper.yaml")) }] {
        let kind = fake.kind();
        let ran = run_on(&manifest::ManifestSuite, fake).await;
        assert!(ran.checks.iter().all(|c| c.verdict == Verdict::Pass), "{kind}: {:#?}", ran.checks);
        assert!(ran.checks.len() > 3, "{kind}: {:#?}", ran.checks);
    }
    for (broken, field) in [("pdb-allows-two.yaml", "maxUnavailable"), ("headless-selects-nothing.yaml", "selector")] {
        let ran = run(&manifest::ManifestSuite, fixture(&format!("broken/{broken}"))).await;
        let failed: Vec<_> = ran.checks.iter().filter(|c| c.verdict == Verdict::Fail).collect();
        assert_eq!(failed.len(), 1, "{broken}: {failed:#?}");
        assert!(failed[0].message.contains(field), "{broken}: {:?}", failed[0].message);
    }
}

#[tokio::test]
async fn conformance_passes_on_the_reference_and_fails_with_a_root_server() {
    let ran = run(&conformance::Conformance, fixture("zookeeper.yaml")).await;
    // ordered start; per member hostname, myid, zoo.cfg; same configuration; one leader; per
    // member logs, user, data dir
    ran.passed(1 + 3 * 3 + 2 + 3 * 3);

    let ran = run(&conformance::Conformance, fixture("broken/root-user.yaml")).await;
    for m in ["zk-0", "zk-1", "zk-2"] {
        ran.failed(&format!("{m}: the java process runs as UID 1000, not root"), "java runs as UID 0 (root)");
    }
    assert_eq!(ran.checks.iter().filter(|c| c.verdict == Verdict::Fail).count(), 3, "{:#?}", ran.checks);
}

#[tokio::test]
async fn conformance_fails_a_flag_that_differs_from_the_walkthrough() {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/zookeeper.yaml")).unwrap();
    assert_eq!(text.matches("--tick_time=2000").count(), 1);
    let manifest = Manifest::parse(&text.replace("--tick_time=2000", "--tick_time=3000"), "tick-time-3000").unwrap();
    let ran = run(&conformance::Conformance, manifest).await;
    ran.failed("zk-0: zoo.cfg has the walkthrough's servers and settings, and every flag the manifest passes", "tickTime=3000 (want 2000)");
}

#[tokio::test]
async fn partition_passes_on_the_reference_and_fails_with_standalone_members() {
    let ran = run(&partition::Partition, fixture("zookeeper.yaml")).await;
    assert!(ran.outcome.is_ok(), "{:?}", ran.outcome);
    let failed: Vec<_> = ran.checks.iter().filter(|c| c.verdict != Verdict::Pass).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(ran.verdict(partition::LINEARIZABLE), Verdict::Pass);
    let cuts: Vec<_> = ran.fake.calls().into_iter().filter(|c| matches!(c, super::Call::Cut(_))).collect();
    assert_eq!(cuts.len(), 3, "three partitions: {cuts:?}");
    // The first cut's probes are made before it; each later cut's come from the last heal.
    let before: Vec<(&str, bool)> = ran
        .checks
        .iter()
        .filter(|c| c.name.contains(": before the cut, "))
        .map(|c| (c.name.split(':').next().unwrap(), c.message.contains("probed after the last heal")))
        .collect();
    assert_eq!(before, [("leader_cut_off", false), ("follower_cut_off", true), ("leader_one_way", true)], "{:#?}", ran.checks);

    let ran = run(&partition::Partition, fixture("broken/no-replication.yaml")).await;
    let failed: Vec<_> = ran.checks.iter().filter(|c| c.verdict == Verdict::Fail).map(|c| c.name.as_str()).collect();
    assert!(failed.contains(&partition::LINEARIZABLE), "{:#?}", ran.checks);
    ran.failed(partition::LINEARIZABLE, "not linearizable on");
}
