//! End-to-end on real kind clusters: the `zk-chaos` binary certifies the reference deployment with
//! `--platform kind` (a cluster of its own, created and deleted by the run), and the negative
//! controls fail their suites on one shared cluster, each run in a namespace of its own through
//! `--platform kube`.
//!
//! Needs the Docker engine (`ci/start-docker.sh`), the kind CLI and node image (`ci/build-kind.sh`)
//! and the fixture image (`ci/build-image.sh`). One cluster at a time: two would not fit two cores.

use std::process::Command;
use std::sync::Mutex;

use zk_chaos::platform::kube::kind::{self, KindCluster};

#[path = "common/cli.rs"]
mod cli;
mod common;

use cli::{fixture, root, zk_chaos, Run};

/// One cluster at a time.
static CLUSTERS: Mutex<()> = Mutex::new(());

const IMAGE: &str = "zk-chaos/zookeeper:3.8";

fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    common::start_docker();
    CLUSTERS.lock().unwrap_or_else(|p| p.into_inner())
}

fn kind_clusters() -> Vec<String> {
    let out = Command::new(kind::binary()).args(["get", "clusters"]).output().expect("running kind");
    assert!(out.status.success(), "kind get clusters: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).filter(|l| l.starts_with("zk-chaos")).collect()
}

#[test]
fn certify_on_kind_passes_every_suite_with_the_budgets_refusal_from_the_api_server() {
    let _one = exclusive();
    let run = zk_chaos(&["certify", "--platform", "kind"]);
    assert_eq!(run.code, 0, "{}", run.output());
    let report = run.report();
    assert_eq!(report["platform"], "kind");
    let suites = report["suites"].as_array().unwrap();
    assert_eq!(suites.len(), 8, "{}", run.output());
    for s in suites {
        assert_eq!(s["verdict"], "pass", "{} on kind: {}", s["name"], run.checks(s["name"].as_str().unwrap()).join("\n"));
    }
    // Section 15 in full on movable volumes: nothing of it skipped, the refusal a real 429.
    let maintenance = run.checks("maintenance");
    assert!(maintenance.iter().all(|c| c.starts_with("pass ")), "{maintenance:#?}");
    assert!(maintenance.iter().any(|c| c.contains("Ready again on another node")), "{maintenance:#?}");
    assert!(maintenance.iter().any(|c| c.contains("Pending: anti-affinity") && c.contains("Pending")), "{maintenance:#?}");
    assert!(maintenance.iter().any(|c| c.contains("refused by the budget") && c.contains("429 DisruptionBudget")), "{maintenance:#?}");
    // The run's cluster and its shared volume directory are gone.
    let cluster = kind::cluster_name(report["run_id"].as_str().unwrap());
    assert!(!kind_clusters().contains(&cluster), "{cluster} left behind");
    assert!(!kind::shared_dir(&cluster).exists(), "{} left behind", kind::shared_dir(&cluster).display());
}

/// A cluster for several runs, deleted when dropped (also when a test fails).
struct Shared {
    cluster: KindCluster,
    rt: tokio::runtime::Runtime,
}

impl Shared {
    fn create() -> Shared {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let cluster = KindCluster::planned(&zk_chaos::run::new_run_id("zk-chaos-e2e"));
        let shared = Shared { cluster, rt };
        shared.rt.block_on(shared.cluster.create(&root().join("fixtures/kind/cluster.yaml"), IMAGE)).expect("a kind cluster");
        shared
    }

    /// `zk-chaos run --platform kube` on this cluster, disruption allowed, one suite.
    fn run(&self, suite: &str, manifest: &str, extra: &[&str]) -> Run {
        let context = self.cluster.context();
        let kubeconfig = self.cluster.kubeconfig.to_string_lossy().into_owned();
        let mut args =
            vec!["run", "--platform", "kube", "--kubeconfig", &kubeconfig, "--context", &context, "--allow-disruption", &context, "--suite", suite, "--manifest", manifest];
        args.extend_from_slice(extra);
        let run = zk_chaos(&args);
        // The run's namespace went with it.
        let ns = run.report()["run_id"].as_str().unwrap().to_string();
        let out = Command::new("docker")
            .args([
                "exec",
                &format!("{}-control-plane", self.cluster.name),
                "kubectl",
                "--kubeconfig=/etc/kubernetes/admin.conf",
                "get",
                "namespace",
                &ns,
                "--ignore-not-found",
                "-o",
                "name",
            ])
            .output()
            .expect("docker exec kubectl");
        assert!(out.status.success(), "kubectl get namespace: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty(), "namespace {ns} left behind");
        run
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Err(e) = self.rt.block_on(self.cluster.delete()) {
            eprintln!("e2e_kind: deleting {}: {e:#}; remove it with `kind delete cluster --name {}`", self.cluster.name, self.cluster.name);
        }
    }
}

#[test]
fn negative_controls_fail_their_suites_on_kind_and_node_pinned_volumes_are_reported_as_skipped() {
    let _one = exclusive();
    let shared = Shared::create();
    let movable = ["--storage-class", kind::SHARED_STORAGE_CLASS];

    // No budget: the suite says so, and the third drain goes through.
    let run = shared.run("maintenance", &fixture("broken/no-pdb.yaml"), &movable);
    assert_eq!(run.code, 1, "{}", run.output());
    let checks = run.checks("maintenance").join("\n");
    assert!(checks.contains("fail the budget allows one disruption: ") && checks.contains("has no PodDisruptionBudget"), "{checks}");
    assert!(checks.contains("accepted with another member already down: the drain took a majority of the servers"), "{checks}");

    // An anti-affinity rule that selects no pod keeps nothing apart.
    let run = shared.run("node-failure", &fixture("broken/anti-affinity-selects-nothing.yaml"), &[]);
    assert_eq!(run.code, 1, "{}", run.output());
    let checks = run.checks("node-failure").join("\n");
    assert!(checks.contains("fail the live StatefulSet requires podAntiAffinity on kubernetes.io/hostname: no required podAntiAffinity term"), "{checks}");

    // Two of the Docker controls, on the cluster.
    let run = shared.run("durability", &fixture("broken/no-volume.yaml"), &movable);
    assert_eq!(run.code, 1, "{}", run.output());
    let checks = run.checks("durability").join("\n");
    assert!(checks.contains("fail the members had persistent volumes: the members have no persistent volume"), "{checks}");
    assert!(checks.contains("fail /hello through zk-2"), "{checks}");
    let run = shared.run("process-failure", &fixture("broken/no-exit.yaml"), &[]);
    assert_eq!(run.code, 1, "{}", run.output());
    let checks = run.checks("process-failure").join("\n");
    assert!(checks.contains("the container did not exit when java died"), "{checks}");

    // Node-pinned volumes (kind's default StorageClass): zk-0 cannot move; the rest of section 15
    // is skipped with its reason, never passed.
    let run = shared.run("maintenance", &fixture("zookeeper.yaml"), &["--storage-class", "standard"]);
    assert_eq!(run.code, 0, "{}", run.output());
    let checks = run.checks("maintenance");
    assert!(checks.iter().any(|c| c.starts_with("pass zk-0 Pending: its volume is pinned")), "{checks:#?}");
    assert!(checks.iter().any(|c| c.starts_with("skipped the rest of section 15") && c.contains("node-pinned volumes")), "{checks:#?}");
    let summary = std::fs::read_to_string(run.results.path().join("latest/summary.txt")).unwrap();
    assert!(summary.contains("(1 skipped)") && summary.contains("SKIPPED the rest of section 15"), "{summary}");
}
