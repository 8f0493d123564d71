//! A platform with no engine and no cluster behind it, for unit tests of what the suites do: it
//! records every call that acts on the ensemble, answers with healthy members, and fails the
//! calls a test asks it to fail. Its members' servers are fake ZooKeepers on loopback that answer
//! `srvr` and `mntr` as the state a test sets ([`FakePlatform::set`]) says.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::bail;
use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::client::fourlw::Mode;
use crate::manifest::Manifest;
use crate::platform::lifecycle_log::LifecycleLog;
use crate::platform::{
    BudgetStatus, Cluster, Cut, EvictionOutcome, ExecOutput, LifecycleEvent, LifecycleKind, MemberStatus, NodeInfo, Platform, PlatformKind, Revision, VolumeIdentity,
};

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

/// What a fake member's server says of itself, and whether its pod is Ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeMember {
    /// `None`: the server answers that it does not serve (it has no quorum).
    pub mode: Option<Mode>,
    /// A leader's `zk_synced_followers`.
    pub synced: u32,
    pub zxid: i64,
    pub ready: bool,
}

/// The fake ZooKeepers: each member's state, its listener once started, and every exchange
/// answered.
struct FakeZooKeepers {
    members: Arc<Mutex<Vec<FakeMember>>>,
    addrs: tokio::sync::Mutex<Vec<SocketAddr>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    exchanges: Arc<AtomicUsize>,
}

pub struct FakePlatform {
    manifest: Manifest,
    nodes: bool,
    calls: Mutex<Vec<Call>>,
    failing_uncordons: Mutex<Vec<String>>,
    life: LifecycleLog,
    zk: FakeZooKeepers,
}

impl FakeZooKeepers {
    fn new(members: Vec<FakeMember>) -> FakeZooKeepers {
        FakeZooKeepers { members: Arc::new(Mutex::new(members)), addrs: Default::default(), tasks: Default::default(), exchanges: Default::default() }
    }
}

impl Drop for FakeZooKeepers {
    fn drop(&mut self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

impl Default for FakePlatform {
    fn default() -> FakePlatform {
        FakePlatform::new()
    }
}

impl FakePlatform {
    /// Three healthy members on a cluster of nodes (the reference manifest): zk-1 leads, with
    /// both others synced followers, all Ready.
    pub fn new() -> FakePlatform {
        let manifest = crate::manifest::walkthrough();
        let n = manifest.replicas();
        let members = (0..n)
            .map(|i| FakeMember { mode: Some(if i == 1 { Mode::Leader } else { Mode::Follower }), synced: if i == 1 { n as u32 - 1 } else { 0 }, zxid: 0x100000002, ready: true })
            .collect();
        FakePlatform {
            manifest,
            nodes: true,
            calls: Mutex::new(Vec::new()),
            failing_uncordons: Mutex::new(Vec::new()),
            life: LifecycleLog::new(),
            zk: FakeZooKeepers::new(members),
        }
    }

    /// Changes what `member`'s server answers, or its readiness. A change of readiness is a
    /// lifecycle event (Ready or NotReady in its lifecycle log): it wakes the waits, as a platform's
    /// watch does.
    pub fn set(&self, member: &str, change: impl FnOnce(&mut FakeMember)) {
        let i = self.members().iter().position(|m| m == member).expect("a member of the manifest");
        let ready = {
            let mut members = self.zk.members.lock().unwrap();
            let before = members[i].ready;
            change(&mut members[i]);
            (members[i].ready != before).then_some(members[i].ready)
        };
        match ready {
            Some(true) => self.life.record(member, LifecycleKind::Ready, "set by the test"),
            Some(false) => self.life.record(member, LifecycleKind::NotReady, "set by the test"),
            None => {}
        }
    }

    /// How many four-letter-word exchanges the fake servers have answered.
    pub fn exchanges(&self) -> usize {
        self.zk.exchanges.load(Ordering::SeqCst)
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
        let ready = self.zk.members.lock().unwrap().get(ordinal).is_some_and(|m| m.ready);
        Ok(MemberStatus { exists: true, running: true, ready, phase: "Running".into(), reason: None, node: Some(format!("w{ordinal}")), ..MemberStatus::absent(member, ordinal) })
    }
    async fn client_addr(&self, member: &str) -> anyhow::Result<SocketAddr> {
        let Some(i) = self.members().iter().position(|m| m == member) else { bail!("the fake platform has no member {member}") };
        let mut addrs = self.zk.addrs.lock().await;
        if addrs.is_empty() {
            for ordinal in 0..self.members().len() {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                addrs.push(listener.local_addr()?);
                let task = tokio::spawn(serve(listener, self.zk.members.clone(), ordinal, self.zk.exchanges.clone()));
                self.zk.tasks.lock().unwrap().push(task);
            }
        }
        Ok(addrs[i])
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
        self.life.events()
    }
    fn subscribe(&self) -> watch::Receiver<u64> {
        self.life.subscribe()
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

/// A fake ZooKeeper's client port: answers each connection's four-letter word from the member's
/// state now, as a server does (`srvr`, `mntr`; the refusal of one without quorum), and closes it.
async fn serve(listener: tokio::net::TcpListener, members: Arc<Mutex<Vec<FakeMember>>>, ordinal: usize, exchanges: Arc<AtomicUsize>) {
    while let Ok((mut conn, _)) = listener.accept().await {
        let m = members.lock().unwrap()[ordinal].clone();
        let exchanges = exchanges.clone();
        tokio::spawn(async move {
            let mut word = [0u8; 4];
            if conn.read_exact(&mut word).await.is_err() {
                return;
            }
            exchanges.fetch_add(1, Ordering::SeqCst);
            let _ = conn.write_all(fake_reply(&word, &m).as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}

fn fake_reply(word: &[u8; 4], m: &FakeMember) -> String {
    let Some(mode) = m.mode else { return "This ZooKeeper instance is not currently serving requests\n".into() };
    let name = format!("{mode:?}").to_lowercase();
    let leads = mode == Mode::Leader;
    match word {
        b"srvr" => format!(
            "Zookeeper version: 3.8.0-fake\nLatency min/avg/max: 0/0.0/0\nReceived: 1\nSent: 1\nConnections: 1\nOutstanding: 0\nZxid: {:#x}\nMode: {name}\nNode count: 5\n{}",
            m.zxid,
            if leads { "Proposal sizes last/min/max: -1/-1/-1\n" } else { "" }
        ),
        b"mntr" => format!("zk_version\t3.8.0-fake\nzk_server_state\t{name}\n{}", if leads { format!("zk_synced_followers\t{}\n", m.synced) } else { String::new() }),
        _ => String::new(),
    }
}
