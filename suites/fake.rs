//! A platform with no engine and no cluster behind it, for unit tests of what the suites do: it
//! records every call that acts on the ensemble, answers with healthy members, and fails the
//! calls a test asks it to fail.

use std::net::SocketAddr;
use std::sync::Mutex;

use anyhow::bail;
use async_trait::async_trait;
use tokio::sync::watch;

use crate::manifest::Manifest;
use crate::platform::{BudgetStatus, Cluster, Cut, EvictionOutcome, ExecOutput, LifecycleEvent, MemberStatus, NodeInfo, Platform, PlatformKind, Revision, VolumeIdentity};

/// A call that acts on the ensemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Exec(String, String),
    DeleteStatefulSet,
    ApplyStatefulSet,
    PatchStatefulSet,
    Rollback,
    Cordon(String),
    Uncordon(String),
    Evict(String),
    Cut(String),
    Mend(String),
}

pub struct FakePlatform {
    manifest: Manifest,
    nodes: bool,
    calls: Mutex<Vec<Call>>,
    failing_uncordons: Mutex<Vec<String>>,
    events: watch::Sender<u64>,
}

impl Default for FakePlatform {
    fn default() -> FakePlatform {
        FakePlatform::new()
    }
}

impl FakePlatform {
    /// Three healthy members on a cluster of nodes (the reference manifest).
    pub fn new() -> FakePlatform {
        FakePlatform {
            manifest: crate::manifest::walkthrough(),
            nodes: true,
            calls: Mutex::new(Vec::new()),
            failing_uncordons: Mutex::new(Vec::new()),
            events: watch::channel(0).0,
        }
    }

    /// As Docker: no nodes to cordon, no Eviction API.
    pub fn without_nodes() -> FakePlatform {
        FakePlatform { nodes: false, ..FakePlatform::new() }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Uncordoning `node` fails from now on, as when the API server is unavailable.
    pub fn fail_uncordon(&self, node: &str) {
        self.failing_uncordons.lock().unwrap().push(node.to_string());
    }

    fn call(&self, c: Call) {
        self.calls.lock().unwrap().push(c);
    }
}

#[async_trait]
impl Platform for FakePlatform {
    fn kind(&self) -> PlatformKind {
        if self.nodes {
            PlatformKind::Kind
        } else {
            PlatformKind::Docker
        }
    }
    fn run_id(&self) -> &str {
        "zk-chaos-20261201-000000-fake"
    }
    fn namespace(&self) -> &str {
        "default"
    }
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
    async fn deploy(&self) -> anyhow::Result<()> {
        Ok(())
    }
    async fn status(&self, member: &str) -> anyhow::Result<MemberStatus> {
        let ordinal = self.members().iter().position(|m| m == member).unwrap_or(0);
        Ok(MemberStatus {
            exists: true,
            running: true,
            ready: true,
            phase: "Running".into(),
            reason: None,
            node: Some(format!("w{ordinal}")),
            ..MemberStatus::absent(member, ordinal)
        })
    }
    async fn client_addr(&self, member: &str) -> anyhow::Result<SocketAddr> {
        bail!("the fake platform has no ZooKeeper for {member}")
    }
    async fn exec(&self, member: &str, argv: &[&str]) -> anyhow::Result<ExecOutput> {
        self.call(Call::Exec(member.to_string(), argv.join(" ")));
        Ok(ExecOutput { exit_code: 0, stdout: String::new(), stderr: String::new() })
    }
    async fn logs(&self, _member: &str, _tail: Option<usize>) -> anyhow::Result<String> {
        Ok(String::new())
    }
    async fn volumes(&self, member: &str) -> anyhow::Result<Vec<VolumeIdentity>> {
        Ok(vec![VolumeIdentity { claim: format!("datadir-{member}"), id: format!("pv-{member}") }])
    }
    fn lifecycle(&self) -> Vec<LifecycleEvent> {
        Vec::new()
    }
    fn subscribe(&self) -> watch::Receiver<u64> {
        self.events.subscribe()
    }
    async fn delete_statefulset(&self) -> anyhow::Result<()> {
        self.call(Call::DeleteStatefulSet);
        Ok(())
    }
    async fn apply_statefulset(&self) -> anyhow::Result<()> {
        self.call(Call::ApplyStatefulSet);
        Ok(())
    }
    async fn patch_statefulset(&self, _patch: &json_patch::Patch) -> anyhow::Result<()> {
        self.call(Call::PatchStatefulSet);
        Ok(())
    }
    async fn revisions(&self) -> anyhow::Result<Vec<Revision>> {
        Ok(Vec::new())
    }
    async fn update_revision(&self) -> anyhow::Result<Option<String>> {
        Ok(None)
    }
    async fn rollback(&self) -> anyhow::Result<()> {
        self.call(Call::Rollback);
        Ok(())
    }
    fn cluster(&self) -> Option<&dyn Cluster> {
        self.nodes.then_some(self as &dyn Cluster)
    }
    async fn cut(&self, cut: &Cut) -> anyhow::Result<()> {
        self.call(Call::Cut(cut.member.clone()));
        Ok(())
    }
    async fn mend(&self, member: &str) -> anyhow::Result<()> {
        self.call(Call::Mend(member.to_string()));
        Ok(())
    }
    async fn teardown(&self) -> anyhow::Result<()> {
        Ok(())
    }
    fn keep_instructions(&self) -> String {
        String::new()
    }
}

#[async_trait]
impl Cluster for FakePlatform {
    async fn nodes(&self) -> anyhow::Result<Vec<NodeInfo>> {
        Ok((0..5).map(|i| NodeInfo { name: format!("w{i}"), schedulable: true, control_plane: false }).collect())
    }
    async fn cordon(&self, node: &str) -> anyhow::Result<()> {
        self.call(Call::Cordon(node.to_string()));
        Ok(())
    }
    async fn uncordon(&self, node: &str) -> anyhow::Result<()> {
        if self.failing_uncordons.lock().unwrap().iter().any(|n| n == node) {
            bail!("the API server is unavailable");
        }
        self.call(Call::Uncordon(node.to_string()));
        Ok(())
    }
    async fn evict(&self, member: &str) -> anyhow::Result<EvictionOutcome> {
        self.call(Call::Evict(member.to_string()));
        Ok(EvictionOutcome::Accepted)
    }
    async fn budget(&self) -> anyhow::Result<BudgetStatus> {
        Ok(BudgetStatus { current_healthy: 3, desired_healthy: 2, disruptions_allowed: 1, expected_pods: 3, observed_generation: Some(1), generation: Some(1) })
    }
    async fn volume_pinned_node(&self, _member: &str) -> anyhow::Result<Option<String>> {
        Ok(None)
    }
}
