//! The one trait every platform implements. Suites speak only to [`Platform`]: members, a client
//! endpoint per member, exec, logs, lifecycle events, and the StatefulSet operations the
//! walkthrough performs (delete and re-create, patch the template, roll back). Docker is the first
//! implementation; Kubernetes (an existing cluster or a kind cluster) the second. What only a
//! cluster of nodes can do (cordon, evict) is behind [`Platform::cluster`].

mod commands;
pub mod docker;
pub mod kube;
pub mod lifecycle_log;
pub mod netfilter;
mod open;

use std::fmt;
use std::net::SocketAddr;

pub use commands::{
    adopt, adopt_target, adopted_differences, build_image, clean_cluster, kind_cluster_name, kind_leftovers, kind_shared_dir, refuse_adopting, AdoptAsked, Cleaned, DockerEngine,
    DockerLeftovers, KindCluster, KindConfig, KubeContext, KubeOptions, CORDONED_BY, KIND_BUILTIN_CONFIG,
};
pub use open::{open, OpenOptions};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::manifest::Manifest;

/// The label every object a run creates carries, with the run id as its value.
pub const RUN_LABEL: &str = "zk-chaos.run";

/// Why a platform cannot send a signal to a container from outside it ([`Platform::signal_container`]):
/// a limit of the platform, not a fault of the deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannotSignal(pub String);

impl fmt::Display for CannotSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CannotSignal {}

/// The labels every object of run `run_id` carries: the run, and the host it started on (so
/// that `clean` on another host leaves it alone: see [`crate::ownership`]).
pub fn run_labels(run_id: &str) -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([(RUN_LABEL.to_string(), run_id.to_string()), (crate::ownership::HOST_LABEL.to_string(), crate::ownership::this_host())])
}

/// The platforms a suite can need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum PlatformKind {
    Docker,
    Kube,
    Kind,
}

impl PlatformKind {
    pub const ALL: [PlatformKind; 3] = [PlatformKind::Docker, PlatformKind::Kube, PlatformKind::Kind];

    pub fn as_str(self) -> &'static str {
        match self {
            PlatformKind::Docker => "docker",
            PlatformKind::Kube => "kube",
            PlatformKind::Kind => "kind",
        }
    }

    /// Whether the platform is a Kubernetes cluster (several nodes, an API server).
    pub fn is_cluster(self) -> bool {
        !matches!(self, PlatformKind::Docker)
    }
}

impl fmt::Display for PlatformKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a platform can do that not every platform can. Suites say which they need
/// (the suites' `About::needs`); the runner skips a suite whose needs the platform lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Several nodes, to spread members over, cordon and drain ([`Platform::cluster`]).
    Nodes,
    /// The Eviction API, which a PodDisruptionBudget answers.
    Evictions,
    /// An API server holding the objects as applied, defaults filled in ([`Cluster::live_objects`]).
    LiveObjects,
    /// Packet filtering between members ([`Platform::partitions`]).
    Partitions,
}

impl PlatformKind {
    /// What the platform can do: Docker runs every member on one host with no API server.
    pub fn capabilities(self) -> &'static [Capability] {
        match self {
            PlatformKind::Docker => &[Capability::Partitions],
            PlatformKind::Kube | PlatformKind::Kind => &[Capability::Nodes, Capability::Evictions, Capability::LiveObjects, Capability::Partitions],
        }
    }

    /// Whether the platform has every one of `needs`.
    pub fn can(self, needs: &[Capability]) -> bool {
        needs.iter().all(|n| self.capabilities().contains(n))
    }
}

/// A partition of one member: its packets to each of `peers` dropped and, unless `one_way`, the
/// peers' packets to it. Set in the member's own network namespace, so it holds for every port
/// (client, quorum, election) and leaves the harness's own path to the member open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cut {
    pub member: String,
    pub peers: Vec<String>,
    pub one_way: bool,
}

impl Cut {
    /// `zk-1 cut off from zk-0, zk-2` / `zk-1's packets to zk-0, zk-2 dropped (theirs arrive)`
    pub fn describe(&self) -> String {
        if self.one_way {
            format!("{}'s packets to {} dropped (theirs arrive)", self.member, self.peers.join(", "))
        } else {
            format!("{} cut off from {}", self.member, self.peers.join(", "))
        }
    }
}

/// A cut's packet counts: what it dropped each way, and (one-way) what it let in from the peers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CutCounters {
    pub out_dropped: u64,
    pub in_dropped: u64,
    pub in_let_through: u64,
}

/// What an exec in a member printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }

    /// stdout when the command exited 0, else an error with its exit code and stderr.
    pub fn into_stdout(self, what: &str) -> anyhow::Result<String> {
        if self.success() {
            Ok(self.stdout)
        } else {
            anyhow::bail!("{what} exited {}: {}", self.exit_code, self.stderr.trim())
        }
    }
}

/// A member (pod) as the platform sees it now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberStatus {
    pub name: String,
    pub ordinal: usize,
    /// The pod exists (Docker: the platform runs a worker for it).
    pub exists: bool,
    /// Its container is running.
    pub running: bool,
    /// Its readiness probe passes (Kubernetes' Ready condition).
    pub ready: bool,
    /// Container restarts since the pod was created (Kubernetes' restartCount).
    pub restart_count: u32,
    /// Identity of the current container instance (Docker container id, or containerID).
    pub container_id: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    /// The template revision the pod runs (controller-revision-hash).
    pub revision: Option<String>,
    /// The node it runs on (clusters only).
    pub node: Option<String>,
    /// Pending, Running, Failed, ... as Kubernetes would say.
    pub phase: String,
    /// Why it is in that phase, when the platform knows (for example Unschedulable).
    pub reason: Option<String>,
}

impl MemberStatus {
    /// A member with no pod at all (before creation, after deletion).
    pub fn absent(member: &str, ordinal: usize) -> MemberStatus {
        MemberStatus {
            name: member.to_string(),
            ordinal,
            exists: false,
            running: false,
            ready: false,
            restart_count: 0,
            container_id: None,
            started_at: None,
            revision: None,
            node: None,
            phase: "Absent".into(),
            reason: Some("no pod".into()),
        }
    }
}

/// One member's persistent volume: the claim's name and an identity that changes if the volume
/// is re-created (Docker: the volume's name and creation time; Kubernetes: the PV's UID).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeIdentity {
    /// Named like the PVC: `datadir-zk-0`.
    pub claim: String,
    pub id: String,
}

/// A revision of the StatefulSet's pod template (a ControllerRevision on Kubernetes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Revision {
    pub number: i64,
    pub hash: String,
    /// The pod template of that revision.
    pub template: serde_json::Value,
}

/// What happened to a member, when: the raw material of timelines and recovery times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    pub at: DateTime<Utc>,
    pub member: String,
    pub kind: LifecycleKind,
    /// Free text: an exit code, a probe's output, a reason.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LifecycleKind {
    /// The pod was created (a worker was started for it).
    Created,
    /// A container of the pod started (the first or a restart).
    Started,
    /// Its readiness probe passed.
    Ready,
    /// Its readiness probe failed, or the container stopped.
    NotReady,
    /// A liveness probe failed once.
    LivenessFailed,
    /// The container was killed because the liveness probe failed `failureThreshold` times.
    LivenessKilled,
    /// The container exited by itself.
    Exited,
    /// The container was restarted (restart count went up).
    Restarted,
    /// The pod was deleted (StatefulSet deletion, rolling update, eviction).
    Deleted,
}

/// What a suite's fault does to the StatefulSet itself ([`Platform::statefulset_change_refused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatefulSetChange {
    /// Deletes it (its pods go, its volumes stay) and re-creates it.
    Delete,
    /// Changes its pod template (a rolling update), then rolls it back.
    Template,
    /// Changes its replicas (`kubectl scale`), then sets them back.
    Replicas,
    /// Changes the server container's image (a rolling upgrade), then sets it back.
    Image,
}

/// The ordinal of a member named `<statefulset>-<ordinal>` (`zk-4` of `zk`), whether or not the
/// StatefulSet has that many replicas now: a member scaled away is still asked about.
pub fn ordinal_of(statefulset: &str, member: &str) -> Option<usize> {
    member.strip_prefix(statefulset)?.strip_prefix('-')?.parse().ok()
}

/// The members of StatefulSet `name` with `replicas` replicas, in ordinal order.
pub fn member_names(name: &str, replicas: usize) -> Vec<String> {
    (0..replicas).map(|i| format!("{name}-{i}")).collect()
}

/// The JSON patch that sets the server container's image (`containers[0]`, the one container a
/// member runs).
pub fn image_patch(image: &str) -> anyhow::Result<json_patch::Patch> {
    Ok(serde_json::from_value(serde_json::json!([{ "op": "replace", "path": SERVER_IMAGE_PATH, "value": image }]))?)
}

/// Where the server container's image is in the StatefulSet.
pub const SERVER_IMAGE_PATH: &str = "/spec/template/spec/containers/0/image";

/// A cordonable, drainable cluster of nodes: only Kubernetes platforms have one.
#[async_trait]
pub trait Cluster: Send + Sync {
    /// Every node with whether it is schedulable and whether it is a control-plane node.
    async fn nodes(&self) -> anyhow::Result<Vec<NodeInfo>>;
    async fn cordon(&self, node: &str) -> anyhow::Result<()>;
    async fn uncordon(&self, node: &str) -> anyhow::Result<()>;
    /// Asks the Eviction API (policy/v1) to evict a member's pod.
    async fn evict(&self, member: &str) -> anyhow::Result<EvictionOutcome>;
    /// The disruption budget's status (currentHealthy, desiredHealthy, disruptionsAllowed, observedGeneration).
    async fn budget(&self) -> anyhow::Result<BudgetStatus>;
    /// The node a member's volume is pinned to, when its PV has node affinity (local storage).
    async fn volume_pinned_node(&self, member: &str) -> anyhow::Result<Option<String>>;
    /// The StatefulSet as the API server has it now (JSON).
    async fn live_statefulset(&self) -> anyhow::Result<serde_json::Value> {
        anyhow::bail!("this platform cannot read the live StatefulSet")
    }
    /// The manifest's objects as the API server has them now (JSON, defaults applied): the
    /// Services, the budget and the StatefulSet; an object the manifest has but the cluster has
    /// not is left out.
    async fn live_objects(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        anyhow::bail!("this platform cannot read the live objects")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeInfo {
    pub name: String,
    pub schedulable: bool,
    pub control_plane: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum EvictionOutcome {
    /// 201: the eviction was accepted.
    Accepted,
    /// 429 with status cause `DisruptionBudget`: the budget refused it.
    RefusedByBudget { message: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetStatus {
    pub current_healthy: i32,
    pub desired_healthy: i32,
    pub disruptions_allowed: i32,
    pub expected_pods: i32,
    pub observed_generation: Option<i64>,
    pub generation: Option<i64>,
}

/// Who a platform is for one run ([`Platform::identity`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub kind: PlatformKind,
    pub run_id: String,
    pub namespace: String,
}

/// Packet filtering between members, on a platform that has it ([`Platform::partitions`]).
#[async_trait]
pub trait Partitions: Send + Sync {
    /// Sets `cut`. Fails if the member is cut already.
    async fn cut(&self, cut: &Cut) -> anyhow::Result<()>;
    /// Removes every rule of a cut of `member`, and proves none is left; a member not cut is
    /// mended at once.
    async fn mend(&self, member: &str) -> anyhow::Result<()>;
    /// The packet counts of `member`'s cut.
    async fn cut_counters(&self, member: &str) -> anyhow::Result<CutCounters>;
    /// Whether a TCP connection from `from`'s network namespace to `to`'s `port` opens within a
    /// second: the probe of whether a cut is in force.
    async fn reaches(&self, from: &str, to: &str, port: u16) -> anyhow::Result<bool>;
    /// Makes ready what cutting `members` needs, so that the first cut or probe does not wait for
    /// it (on Kubernetes each pod's partition helper); nothing where nothing is needed ahead.
    async fn prepare_cuts(&self, members: &[String]) -> anyhow::Result<()> {
        let _ = members;
        Ok(())
    }
}

/// [`Platform::partitions`], or an error saying that the platform cannot partition members and
/// what was asked of it (`what`: "cut zk-1").
pub fn partitions<'a>(p: &'a dyn Platform, what: &str) -> anyhow::Result<&'a dyn Partitions> {
    p.partitions().ok_or_else(|| anyhow::anyhow!("{} cannot partition members ({what})", p.kind()))
}

/// Everything a run needs from a platform. Implementations own what they create: `teardown`
/// removes all of it (found by [`RUN_LABEL`]) and is safe to call more than once.
///
/// # Caveats
/// No method waits for a condition unless it says so; waits with deadlines live in
/// [`crate::wait`] and use [`Platform::subscribe`] to wake on lifecycle changes.
#[async_trait]
pub trait Platform: Send + Sync {
    /// Which platform, for which run, in which namespace: one value every platform keeps.
    fn identity(&self) -> &Identity;
    fn kind(&self) -> PlatformKind {
        self.identity().kind
    }
    /// The id of this run; every object the platform creates carries it as [`RUN_LABEL`].
    fn run_id(&self) -> &str {
        &self.identity().run_id
    }
    /// The namespace the members' FQDNs use (`default` on Docker unless the manifest names one).
    fn namespace(&self) -> &str {
        &self.identity().namespace
    }
    fn manifest(&self) -> &Manifest;
    /// Lines for the report: manifest fields that do not apply here, adaptations made.
    fn notes(&self) -> Vec<String>;

    /// Creates every object of the manifest and waits (with the config's deadline) until every
    /// member is Running and Ready, started in order when the policy is OrderedReady.
    async fn deploy(&self) -> anyhow::Result<()>;

    /// Member names in ordinal order (`zk-0`, `zk-1`, `zk-2`).
    fn members(&self) -> Vec<String> {
        self.manifest().member_names()
    }
    async fn status(&self, member: &str) -> anyhow::Result<MemberStatus>;
    /// The member's status as the platform's own watch last saw it, for the repeated looks of a
    /// wait: it costs no request where `status` costs one, and may lag the platform by the
    /// watch's delivery. Without a watch (or while it is down) it is `status`.
    async fn watched_status(&self, member: &str) -> anyhow::Result<MemberStatus> {
        self.status(member).await
    }
    /// Where the harness reaches the member's client port (on loopback).
    async fn client_addr(&self, member: &str) -> anyhow::Result<SocketAddr>;
    /// Runs `argv` in the member's container as its user, with the operation timeout.
    async fn exec(&self, member: &str, argv: &[&str]) -> anyhow::Result<ExecOutput>;
    /// The member's current container log (stdout and stderr), the last `tail` lines if given.
    async fn logs(&self, member: &str, tail: Option<usize>) -> anyhow::Result<String>;
    /// The persistent volumes the member mounts now.
    async fn volumes(&self, member: &str) -> anyhow::Result<Vec<VolumeIdentity>>;

    /// Every lifecycle event since the run started, oldest first.
    fn lifecycle(&self) -> Vec<LifecycleEvent>;
    /// A receiver that changes whenever a lifecycle event is recorded.
    fn subscribe(&self) -> watch::Receiver<u64>;

    /// Deletes the StatefulSet: its pods terminate, its volumes (PVCs) stay. Returns once the
    /// deletion was accepted; use a wait to see the members gone.
    async fn delete_statefulset(&self) -> anyhow::Result<()>;
    /// Creates the StatefulSet again from the manifest (the other objects are left as they are).
    async fn apply_statefulset(&self) -> anyhow::Result<()>;
    /// Applies a JSON patch to the StatefulSet (as `kubectl patch --type=json`); a change to the
    /// pod template starts a rolling update, which the platform carries out by itself.
    async fn patch_statefulset(&self, patch: &json_patch::Patch) -> anyhow::Result<()>;
    /// Why the run must not make `change` to the StatefulSet, when it must not: an adopted
    /// StatefulSet that a controller owns, or whose deletion would delete its volumes (see
    /// [`kube::adopt::change_refused`]). A suite whose fault is that change is then skipped with
    /// the reason. `None` wherever the run created the StatefulSet itself.
    async fn statefulset_change_refused(&self, change: StatefulSetChange) -> anyhow::Result<Option<String>> {
        let _ = change;
        Ok(None)
    }
    /// Sets the image of the container that runs the server (a member runs exactly one, the
    /// pod template's `containers[0]`), as `kubectl set image`: a change of the pod template,
    /// rolled out like any other. Fails, changing nothing, where the image cannot run.
    async fn set_image(&self, image: &str) -> anyhow::Result<()> {
        self.patch_statefulset(&image_patch(image)?).await
    }
    /// Deletes a member's pod (`kubectl delete pod`); the StatefulSet creates it again from its
    /// update revision. What a forced rollback needs: a StatefulSet whose rollout stopped at a pod
    /// that never became Ready waits for it even after the template is set back.
    async fn delete_member(&self, member: &str) -> anyhow::Result<()> {
        anyhow::bail!("{} cannot delete the pod of {member}", self.kind())
    }
    /// The template revisions, oldest first (`kubectl rollout history`).
    async fn revisions(&self) -> anyhow::Result<Vec<Revision>>;
    /// The revision the StatefulSet is rolling out to (`status.updateRevision`), once the
    /// controller has observed the latest change to its spec; `None` until then. Right after a
    /// patch the newest revision may still be the old one: a rollout waits for this instead.
    async fn update_revision(&self) -> anyhow::Result<Option<String>>;
    /// Rolls back to the previous revision (`kubectl rollout undo`).
    async fn rollback(&self) -> anyhow::Result<()>;

    /// Sets the StatefulSet's replicas, as `kubectl scale` does: new members are created in
    /// ordinal order (each with its volumes), removed ones go from the highest ordinal down, their
    /// volumes kept. Returns once the change was accepted; [`Platform::members`] names the new
    /// members at once, and a wait sees them come and go.
    async fn scale(&self, replicas: usize) -> anyhow::Result<()> {
        anyhow::bail!("{} cannot change the StatefulSet's replicas (to {replicas})", self.kind())
    }

    /// Nodes, cordons and evictions, where the platform has them.
    fn cluster(&self) -> Option<&dyn Cluster> {
        None
    }

    /// Packet filtering between members, where the platform has it ([`Capability::Partitions`]).
    fn partitions(&self) -> Option<&dyn Partitions> {
        None
    }

    /// Sends `signal` (`STOP`, `CONT`) to the init process of `member`'s server container from
    /// outside the container (its engine, or its node): the kernel drops SIGSTOP sent to a pid
    /// namespace's init from inside it, so an exec cannot stop a server that is its container's
    /// pid 1. Returns how it was sent. A container that is not running is left alone (`Ok`,
    /// saying so). A platform that cannot reach the container from outside fails with
    /// [`CannotSignal`], naming why.
    async fn signal_container(&self, member: &str, signal: &str) -> anyhow::Result<String> {
        Err(CannotSignal(format!("{} cannot signal a container from outside it (kill -{signal} {member})", self.kind())).into())
    }

    /// Removes everything this run created. Errors are returned, never swallowed.
    async fn teardown(&self) -> anyhow::Result<()>;

    /// Time teardown gets beyond the configured `timeouts.cleanup`: deleting a whole kind
    /// cluster (every node container) took over a minute on a loaded 2-core machine.
    fn teardown_allowance(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
    /// How to reach the ensemble and how to remove it, printed for `--keep`.
    fn keep_instructions(&self) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_output_errors_carry_code_and_stderr() {
        let out = ExecOutput { exit_code: 1, stdout: String::new(), stderr: "no such file\n".into() };
        let msg = out.into_stdout("cat myid").unwrap_err().to_string();
        assert_eq!(msg, "cat myid exited 1: no such file");
    }

    #[test]
    fn only_clusters_have_nodes_and_evictions() {
        assert!(PlatformKind::Docker.can(&[]));
        assert!(!PlatformKind::Docker.can(&[Capability::Nodes]));
        assert!(!PlatformKind::Docker.can(&[Capability::Evictions]));
        assert!(!PlatformKind::Docker.can(&[Capability::LiveObjects]));
        for k in [PlatformKind::Kube, PlatformKind::Kind] {
            assert!(k.can(&[Capability::Nodes, Capability::Evictions]), "{k}");
        }
    }

    #[test]
    fn ordinals_come_from_the_member_name() {
        assert_eq!(ordinal_of("zk", "zk-4"), Some(4));
        assert_eq!(ordinal_of("zk", "zk-0"), Some(0));
        assert_eq!(ordinal_of("zk", "zkx-1"), None);
        assert_eq!(ordinal_of("zk", "zk-"), None);
        assert_eq!(ordinal_of("my-zk", "my-zk-2"), Some(2));
        assert_eq!(member_names("zk", 2), ["zk-0", "zk-1"]);
    }

    #[test]
    fn lifecycle_kinds_serialize_kebab_case() {
        assert_eq!(serde_json::to_string(&LifecycleKind::LivenessKilled).unwrap(), "\"liveness-killed\"");
    }
}
