//! Whole suites on the fake platform: each passes on the reference manifest and fails, on the
//! check that names the breakage, on its negative control from `fixtures/broken/` (the same files
//! the end-to-end tests run on Docker and kind).

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, Timeouts, WorkloadConfig};
use crate::manifest::Manifest;
use crate::platform::Cluster;
use crate::platform::{LifecycleKind, Platform};
use crate::report::{CheckReport, Verdict};
use crate::suites::fake::{Call, FakePlatform};
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
    // Sampled as the runner samples it (without a data volume).
    let (outcome, _) = crate::run::run_sampled(suite, &mut ctx, true, crate::run::sampled(suite), async |_| {}).await;
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

    // The kill went to the server's pid, found through /proc: no procps in the image.
    assert!(ran.fake.calls().contains(&Call::Exec("zk-2".into(), "sh -c kill -TERM 7".into())), "{:?}", ran.fake.calls());

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

/// The official image's style: an inline probe (`echo ruok | nc ... | grep imok`) has no script
/// of its own, and its server is the container's pid 1, which SIGSTOP from inside cannot stop:
/// the probe's `nc` is removed, and the check says so and why.
#[tokio::test]
async fn liveness_breaks_an_inline_probes_program_where_the_server_is_pid_1() {
    let ran = run_on(&liveness::Liveness, FakePlatform::with_manifest(Manifest::parse(OFFICIAL_STYLE, "official-style").unwrap()).srvr_only()).await;
    ran.passed(8);
    let fault = ran.checks.iter().find(|c| c.name == "rm /usr/bin/nc in zk-0").unwrap();
    assert!(fault.message.contains("the probe is an inline shell command") && fault.message.contains("pid 1, which ignores SIGSTOP"), "{}", fault.message);
    assert!(!ran.fake.calls().iter().any(|c| matches!(c, Call::Exec(_, cmd) if cmd.contains("-STOP"))), "no SIGSTOP was tried on pid 1");
}

/// The same deployment on a platform that reaches the container from outside (the Docker engine,
/// a kind node): the server, pid 1, is stopped with SIGSTOP from there, the probe times out, and
/// the revert sends SIGCONT the same way; nothing of the image is removed.
#[tokio::test]
async fn liveness_stops_a_pid_1_server_from_outside_its_container_where_the_platform_can() {
    let fake = FakePlatform::with_manifest(Manifest::parse(OFFICIAL_STYLE, "official-style").unwrap()).srvr_only().signals_containers();
    let ran = run_on(&liveness::Liveness, fake).await;
    // the eight of the reference, and the SIGCONT the runner sent after the suite (the revert)
    ran.passed(9);
    let fault = ran.checks.iter().find(|c| c.name == "kill -STOP java in zk-0").unwrap();
    assert!(
        fault.message.contains("stopped with SIGSTOP through the fake engine")
            && fault.message.contains("pid 1, which ignores SIGSTOP sent from inside")
            && fault.message.contains("stopped from outside"),
        "{}",
        fault.message
    );
    let calls = ran.fake.calls();
    assert!(calls.contains(&Call::SignalContainer("zk-0".into(), "STOP".into())) && calls.contains(&Call::SignalContainer("zk-0".into(), "CONT".into())), "{calls:?}");
    assert!(!calls.iter().any(|c| matches!(c, Call::Exec(_, cmd) if cmd.starts_with("rm ") || cmd.starts_with("chmod "))), "nothing removed: {calls:?}");
}

/// Neither a signal from outside nor a program of the probe that can be broken (a read-only
/// root): the fault cannot be made, and the check is skipped naming why, never failed or passed.
#[tokio::test]
async fn liveness_is_skipped_when_no_fault_can_be_made() {
    let fake = FakePlatform::with_manifest(Manifest::parse(OFFICIAL_STYLE, "official-style").unwrap()).srvr_only().read_only_root();
    let ran = run_on(&liveness::Liveness, fake).await;
    let stop = ran.checks.iter().find(|c| c.name == "kill -STOP java in zk-0").unwrap();
    assert_eq!(stop.verdict, Verdict::Skipped, "{stop:?}");
    assert!(stop.message.contains("cannot signal a container from outside it") && stop.message.contains("none of the programs it runs could be removed"), "{}", stop.message);
    assert!(ran.checks.iter().all(|c| c.verdict != Verdict::Fail), "{:#?}", ran.checks);
}

/// An inline probe where the server is a child of the entry point's shell: SIGSTOP stops it, the
/// probe times out, and the revert lets it go (SIGCONT); the check says which fault and why.
#[tokio::test]
async fn liveness_stops_the_server_where_the_probe_is_inline_and_the_server_not_pid_1() {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/zookeeper.yaml")).unwrap();
    assert_eq!(text.matches("- \"zookeeper-ready 2181\"").count(), 2, "both probes");
    let manifest = Manifest::parse(&text.replace("- \"zookeeper-ready 2181\"", "- \"echo ruok | nc localhost 2181 | grep imok\""), "inline-probe").unwrap();
    let ran = run(&liveness::Liveness, manifest).await;
    // the eight of the reference, and the SIGCONT the runner sent after the suite (the revert)
    ran.passed(9);
    let fault = ran.checks.iter().find(|c| c.name == "kill -STOP java in zk-0").unwrap();
    assert!(fault.message.contains("stopped with SIGSTOP") && fault.message.contains("the probe is an inline shell command"), "{}", fault.message);
    assert!(ran.fake.calls().contains(&Call::Exec("zk-0".into(), "sh -c kill -STOP 7".into())), "{:?}", ran.fake.calls());
}

#[tokio::test]
async fn the_fast_liveness_fixture_differs_only_in_the_probe_timing() {
    let fast = fast_liveness("zookeeper.yaml").pod_template().liveness.unwrap();
    let reference = fixture("zookeeper.yaml").pod_template().liveness.unwrap();
    assert_eq!((fast.period.as_secs(), fast.timeout.as_secs(), fast.failure_threshold), (1, 1, 1));
    assert_eq!((fast.command, fast.initial_delay), (reference.command, reference.initial_delay));
}

/// Any other deployment gets `kubectl rollout restart`'s annotation, not the walkthrough's cpu
/// patch: rolled out and undone the same way.
#[tokio::test]
async fn rolling_update_restarts_any_other_deployment_by_its_annotation() {
    let ran = run_on(&rolling_update::RollingUpdate, FakePlatform::with_manifest(Manifest::parse(OFFICIAL_STYLE, "official-style").unwrap()).srvr_only()).await;
    ran.passed(11);
    let history = ran.checks.iter().find(|c| c.name == "the revision history has the old and the new template").unwrap();
    assert!(history.message.contains(rolling_update::RESTARTED_AT), "{}", history.message);
    let revs = ran.fake.revisions().await.unwrap();
    assert!(revs.iter().all(|r| r.template.pointer("/spec/containers/0/resources/requests/cpu").is_none()), "no cpu request was added");
}

#[tokio::test]
async fn rolling_update_passes_on_the_reference() {
    let ran = run(&rolling_update::RollingUpdate, fixture("zookeeper.yaml")).await;
    // per rollout (update, undo): finished, reverse order, majority; history; undo restored;
    // whole again; /hello; the workload
    ran.passed(11);
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
    ran.passed(16);
    assert!(ran.fake.calls().iter().filter(|c| matches!(c, Call::Evict(m) if m == "zk-2")).count() > 2, "the third drain was refused, then accepted");
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
    for fake in [FakePlatform::with_manifest(fixture("zookeeper.yaml")), FakePlatform::with_manifest(fixture("zookeeper.yaml")).no_nodes()] {
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
    // Not the walkthrough's manifest any more: judged against its own flags, which it runs.
    let ran = run(&conformance::Conformance, manifest.clone()).await;
    assert_eq!(ran.verdict("zk-0: the server's config agrees with the deployment's start-zookeeper flags"), Verdict::Pass, "{:#?}", ran.checks);
    ran.passed(1 + 3 * 3 + 2 + 3 * 3);
    // A member whose start script wrote another tickTime than its flag: that member fails, and so
    // does "the same everywhere".
    let fake = FakePlatform::with_manifest(manifest);
    fake.override_config(2, "tickTime", "2000");
    let ran = run_on(&conformance::Conformance, fake).await;
    ran.failed("zk-2: the server's config agrees with the deployment's start-zookeeper flags", "--tick_time=3000 but zoo.cfg has tickTime=2000");
    ran.failed("every member has the same configuration", "zk-2's zoo.cfg differs from zk-0's in tickTime");
    assert_eq!(ran.checks.iter().filter(|c| c.verdict == Verdict::Fail).count(), 2, "{:#?}", ran.checks);
}

#[tokio::test]
async fn conformance_fails_the_walkthroughs_own_value_where_a_member_runs_another() {
    let fake = FakePlatform::with_manifest(fixture("zookeeper.yaml"));
    fake.override_config(0, "tickTime", "3000");
    let ran = run_on(&conformance::Conformance, fake).await;
    ran.failed("zk-0: zoo.cfg has the walkthrough's servers and settings, and every flag the manifest passes", "tickTime=3000 (want 2000)");
}

/// With `srvr` as the only four-letter word (ZooKeeper's default), the ensemble is still seen
/// whole, and the report says what could not be observed.
#[tokio::test]
async fn conformance_passes_with_a_srvr_only_whitelist_and_says_what_it_could_not_observe() {
    let ran = run_on(&conformance::Conformance, FakePlatform::with_manifest(fixture("zookeeper.yaml")).srvr_only()).await;
    ran.passed(1 + 3 * 3 + 2 + 3 * 3);
    let whole = ran.checks.iter().find(|c| c.name == "exactly one leader and 2 synced followers").unwrap();
    assert!(whole.message.contains("(sync unobserved: no mntr)") && whole.message.contains("not observed: zk-1: mntr is not in 4lw.commands.whitelist"), "{}", whole.message);
}

/// A StatefulSet of the official image, configured by `ZOO_*` variables, in the Parallel policy.
const OFFICIAL_STYLE: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: zk-hs
spec:
  clusterIP: None
  selector:
    app: zk
  ports:
    - port: 2888
      name: server
    - port: 3888
      name: leader-election
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: zk
spec:
  serviceName: zk-hs
  replicas: 3
  podManagementPolicy: Parallel
  selector:
    matchLabels:
      app: zk
  template:
    metadata:
      labels:
        app: zk
    spec:
      securityContext:
        runAsUser: 1000
        fsGroup: 1000
      containers:
        - name: zookeeper
          image: zk-chaos/zookeeper-official:3.9.5
          env:
            - name: ZOO_TICK_TIME
              value: "2000"
            - name: ZOO_INIT_LIMIT
              value: "5"
            - name: ZOO_4LW_COMMANDS_WHITELIST
              value: "srvr,ruok"
            - name: ZOO_SERVERS
              value: "server.1=zk-0.zk-hs:2888:3888;2181 server.2=zk-1.zk-hs:2888:3888;2181 server.3=zk-2.zk-hs:2888:3888;2181"
          ports:
            - containerPort: 2181
              name: client
          readinessProbe:
            exec:
              command: ["sh", "-c", "echo ruok | nc localhost 2181 | grep imok"]
          livenessProbe:
            exec:
              command: ["sh", "-c", "echo ruok | nc localhost 2181 | grep imok"]
            periodSeconds: 1
            timeoutSeconds: 1
            failureThreshold: 1
          volumeMounts:
            - name: data
              mountPath: /data
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: ["ReadWriteOnce"]
        resources:
          requests:
            storage: 1Gi
"#;

/// The official image's environment style: its settings and server lines are judged against
/// `ZOO_*`, the start order under Parallel is reported, not judged; a member whose zoo.cfg
/// disagrees with `ZOO_SERVERS` fails.
#[tokio::test]
async fn conformance_judges_an_env_configured_deployment_against_its_environment() {
    let manifest = Manifest::parse(OFFICIAL_STYLE, "official-style").unwrap();
    let ran = run_on(&conformance::Conformance, FakePlatform::with_manifest(manifest.clone()).srvr_only()).await;
    let source = "zk-0: the server's config agrees with the deployment's ZOO_* environment (4 variables)";
    assert_eq!(ran.verdict(source), Verdict::Pass, "{:#?}", ran.checks);
    assert_eq!(ran.verdict(conformance::START_ORDER), Verdict::Skipped);
    let order = ran.checks.iter().find(|c| c.name == conformance::START_ORDER).unwrap();
    assert!(order.message.contains("podManagementPolicy is Parallel") && order.message.contains("zk-0 created"), "{}", order.message);
    for name in ["zk-1: myid is 2", "zk-2: the java process runs as UID 1000 (securityContext runAsUser), not root", "zk-0: /data is writable by the server (fsGroup 1000)"] {
        assert_eq!(ran.verdict(name), Verdict::Pass, "{name}: {:#?}", ran.checks);
    }
    let failed: Vec<_> = ran.checks.iter().filter(|c| c.verdict == Verdict::Fail).collect();
    assert!(failed.is_empty(), "{failed:#?}");

    let fake = FakePlatform::with_manifest(manifest).srvr_only();
    fake.override_config(1, "server.3", "zk-1.zk-hs:2888:3888;2181");
    let ran = run_on(&conformance::Conformance, fake).await;
    ran.failed("zk-1: the server's config agrees with the deployment's ZOO_* environment (4 variables)", "server.3=zk-1.zk-hs:2888:3888 (the source says zk-2.zk-hs:2888:3888)");
}

#[tokio::test]
async fn partition_passes_on_the_reference_and_fails_with_standalone_members() {
    let ran = run(&partition::Partition, fixture("zookeeper.yaml")).await;
    assert!(ran.outcome.is_ok(), "{:?}", ran.outcome);
    let failed: Vec<_> = ran.checks.iter().filter(|c| c.verdict != Verdict::Pass).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(ran.verdict(partition::LINEARIZABLE), Verdict::Pass);
    let cuts: Vec<_> = ran.fake.calls().into_iter().filter(|c| matches!(c, Call::Cut(_))).collect();
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
