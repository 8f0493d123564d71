//! A platform with no engine and no cluster behind it, for unit tests of what the suites do. It
//! records every call that acts on the ensemble, fails the calls a test asks it to fail, and plays
//! a small kubelet, controller, scheduler and ZooKeeper ensemble ([`zookeeper`]), so that a whole
//! suite runs in a unit test against what the manifest says:
//!
//! - `kill -TERM` of the server's pid (its `/proc` shows java as pid 1) stops the member's
//!   server; the container exits with it unless the entry point
//!   keeps it alive (`sleep infinity` after the server, `fixtures/broken/no-exit.yaml`), and an
//!   exited container is restarted (restart count +1, a new container, `Restarted`, `Started`,
//!   then `Ready` one step later);
//! - the liveness and readiness probes run every [`Kubelet::probe_period`]; a probe fails while
//!   a file its command names was removed (`rm /usr/bin/zookeeper-ready`) or, for one that asks
//!   the server (`zookeeper-ready`, an inline `ruok`), while the server is down or stopped
//!   (`kill -STOP`). `failureThreshold` liveness failures
//!   kill the container; a fresh container has every file again. A probe of `true` never fails;
//! - deleting the StatefulSet deletes every pod; the data survives on the volumes only when the
//!   manifest has `volumeClaimTemplates` (without, the tree is empty and the zxids start again);
//!   applying it creates the pods one at a time, each Ready before the next (OrderedReady);
//! - a patch of the template is a new revision, rolled out from the highest ordinal down, each
//!   member Ready before the next goes; `rollout undo` patches the previous template back;
//! - the cluster has five worker nodes; cordoned nodes take no pod, and with the StatefulSet's
//!   required anti-affinity no node takes two members (a pod with no node is Pending, with the
//!   scheduler's reason); an eviction is refused while the PodDisruptionBudget allows no
//!   disruption, else the pod is deleted and created again;
//! - a partition cuts a member off from its peers: it stops serving, the rest elect a leader if
//!   they are a majority; the probes between members fail across a cut and count its packets;
//! - the servers form one ensemble with one data tree: a majority of servers up and connected
//!   elects a leader (the one that leads keeps leading; otherwise the highest ordinal, in a new
//!   epoch), and with `--servers=1` every member is a standalone server with a tree of its own;
//! - the execs of `conformance` are answered as the fixture image would: hostnames, `myid`, the
//!   `zoo.cfg` its `start-zookeeper` writes from the manifest's flags, the java process's user,
//!   the data directory's group.
//!
//! Everything happens on a clock of [`Kubelet::step`] (20 ms), not the manifest's seconds: the
//! suites' deadlines are upper bounds, and their verdicts read events and states, not durations.
//!
//! Over 600 lines: a whole platform for unit tests (kubelet, controller, scheduler, evictions,
//! partitions, the fixture image's answers); the fake ZooKeepers are in [`zookeeper`].

#[cfg(test)]
mod wait_whole;
pub mod zookeeper;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use anyhow::bail;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::client::fourlw::Mode;
use crate::config_source::Source;
use crate::platform::docker::revision_hash;
use crate::platform::lifecycle_log::LifecycleLog;
use crate::platform::{
    BudgetStatus, CannotSignal, Cluster, Cut, CutCounters, EvictionOutcome, ExecOutput, Identity, LifecycleEvent, LifecycleKind, MemberStatus, NodeInfo, Partitions, Platform,
    PlatformKind, Revision, VolumeIdentity,
};
use zk_chaos_core::manifest::Manifest;
pub use zookeeper::FakeMember;
use zookeeper::{Port, Servers};

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
    /// A signal sent to a member's container from outside it: (member, signal).
    SignalContainer(String, String),
}

/// How the fake kubelet behaves: read from the manifest ([`Kubelet::of`]), its clock set here.
#[derive(Debug, Clone)]
pub struct Kubelet {
    /// One step of a container's life: exit to restart, start to Ready, one pod to the next.
    pub step: Duration,
    /// How often the probes run.
    pub probe_period: Duration,
    /// The container ends when its server does (no `sleep infinity` after it).
    exits_with_server: bool,
    /// The data directory is on a volume that outlives the pod.
    volumes: bool,
    /// `--servers=1`: each member alone.
    standalone: bool,
    liveness: Option<(String, u32)>,
    readiness: Option<String>,
}

impl Kubelet {
    /// What the manifest makes of a member: its probes, its volumes, its entry point.
    pub fn of(manifest: &Manifest) -> Kubelet {
        let t = manifest.pod_template();
        let command = [t.command.clone(), t.args.clone()].concat().join(" ");
        Kubelet {
            step: Duration::from_millis(20),
            probe_period: Duration::from_millis(20),
            exits_with_server: !command.contains("sleep infinity"),
            volumes: !t.claim_templates.is_empty(),
            standalone: command.contains("--servers=1 ") || command.ends_with("--servers=1"),
            liveness: t.liveness.as_ref().map(|p| (p.command.join(" "), p.failure_threshold)),
            readiness: t.readiness.as_ref().map(|p| p.command.join(" ")),
        }
    }
}

/// A member's pod, as the fake kubelet keeps it.
#[derive(Debug, Clone)]
struct Pod {
    exists: bool,
    running: bool,
    restart_count: u32,
    /// Containers started for this member so far (the container id's number).
    container: u32,
    started_at: Option<DateTime<Utc>>,
    /// Files removed from the current container.
    removed: BTreeSet<String>,
    liveness_failures: u32,
    /// Bumped when the member's volume is made anew (no volumeClaimTemplates).
    volume: u32,
    /// The template revision it was created from.
    revision: String,
    /// The node it is bound to; `None` with `pending` saying why the scheduler found none.
    node: Option<String>,
    pending: Option<String>,
}

impl Pod {
    fn new(revision: &str) -> Pod {
        Pod {
            exists: true,
            running: true,
            restart_count: 0,
            container: 1,
            started_at: Some(Utc::now()),
            removed: BTreeSet::new(),
            liveness_failures: 0,
            volume: 1,
            revision: revision.to_string(),
            node: None,
            pending: None,
        }
    }
}

/// What the platform and its background tasks share.
struct Sim {
    names: Vec<String>,
    kubelet: Kubelet,
    life: LifecycleLog,
    servers: Arc<Mutex<Servers>>,
    changed: watch::Sender<u64>,
    pods: Mutex<Vec<Pod>>,
    exchanges: Arc<AtomicUsize>,
    /// The StatefulSet as patched, and its template's revisions, oldest first.
    statefulset: Mutex<serde_json::Value>,
    revisions: Mutex<Vec<Revision>>,
    /// Nodes no pod may be scheduled on.
    cordoned: Mutex<BTreeSet<String>>,
    /// The StatefulSet requires podAntiAffinity on the hostname: one member a node.
    spreads: bool,
    /// How many members the PodDisruptionBudget wants healthy, if there is one.
    budget: Option<i32>,
    /// The members cut off, whether one way, and what their cuts counted.
    cuts: Mutex<std::collections::BTreeMap<usize, (bool, CutCounters)>>,
}

/// The fixture image's user and group (`USER 1000`, its directories owned by 1000:1000).
const IMAGE_UID: i64 = 1000;
/// The server's pid where the entry point `exec`s java (the official image's style): it is the
/// container's init, which ignores SIGSTOP sent from inside.
const INIT_PID: u32 = 1;
/// The server's pid under the walkthrough's `sh -c "start-zookeeper ..."`: a child of the
/// entry point's shell, as seen on Docker.
const CHILD_PID: u32 = 7;

/// The fake cluster's worker nodes: w0 to w4.
const NODES: usize = 5;

fn node_name(i: usize) -> String {
    format!("w{i}")
}

/// The members a budget wants healthy out of `n` (maxUnavailable or minAvailable, a number or a
/// percentage rounded up, as the disruption controller does).
fn budget_of(spec: &k8s_openapi::api::policy::v1::PodDisruptionBudgetSpec, n: usize) -> i32 {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let scaled = |v: &IntOrString| match v {
        IntOrString::Int(i) => *i,
        IntOrString::String(p) => (p.trim_end_matches('%').parse::<i32>().unwrap_or(0) * n as i32 + 99) / 100,
    };
    match (&spec.max_unavailable, &spec.min_available) {
        (Some(max), _) => n as i32 - scaled(max),
        (None, Some(min)) => scaled(min),
        (None, None) => n as i32,
    }
}

/// Background tasks, aborted with the platform.
#[derive(Default)]
struct Tasks(Mutex<Vec<tokio::task::JoinHandle<()>>>);

impl Tasks {
    fn spawn(&self, f: impl std::future::Future<Output = ()> + Send + 'static) {
        self.0.lock().unwrap().push(tokio::spawn(f));
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in self.0.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

pub struct FakePlatform {
    manifest: Manifest,
    nodes: bool,
    calls: Mutex<Vec<Call>>,
    failing_uncordons: Mutex<Vec<String>>,
    sim: Arc<Sim>,
    addrs: tokio::sync::Mutex<Vec<SocketAddr>>,
    probing: std::sync::Once,
    tasks: Tasks,
    /// Settings a member's image writes differently from its source: (ordinal, key, value).
    config_overrides: Mutex<Vec<(usize, String, String)>>,
    /// Whether a signal can reach a container from outside it (as the Docker engine and a kind
    /// node can); without it, [`Platform::signal_container`] fails with [`CannotSignal`].
    signals_containers: bool,
    /// The containers' root filesystem is read-only: `rm` and `chmod` of the image's files fail.
    read_only_root: bool,
    /// Why the StatefulSet must not be changed (an adopted one a controller owns), if it must not.
    refused_changes: Mutex<Option<String>>,
}

impl Default for FakePlatform {
    fn default() -> FakePlatform {
        FakePlatform::new()
    }
}

impl FakePlatform {
    /// Three healthy members of the reference manifest on a cluster of nodes: zk-1 leads, with
    /// both others synced followers, all Ready.
    pub fn new() -> FakePlatform {
        FakePlatform::with_manifest(zk_chaos_core::manifest::walkthrough())
    }

    /// The members of `manifest`, healthy and Ready: zk-1 leads (zk-0 when alone).
    pub fn with_manifest(manifest: Manifest) -> FakePlatform {
        let n = manifest.replicas();
        let kubelet = Kubelet::of(&manifest);
        let standalone = kubelet.standalone;
        let leader = if n > 1 { 1 } else { 0 };
        let members = (0..n)
            .map(|i| match (kubelet.standalone, i == leader) {
                (true, _) => FakeMember::new(Some(Mode::Standalone), 0, 0x100000002),
                (false, true) => FakeMember::new(Some(Mode::Leader), n as u32 - 1, 0x100000002),
                (false, false) => FakeMember::new(Some(Mode::Follower), 0, 0x100000002),
            })
            .collect();
        let statefulset = manifest.statefulset_document().clone();
        let template = statefulset.pointer("/spec/template").cloned().unwrap_or_default();
        let first = Revision { number: 1, hash: revision_hash(&template), template };
        let sim = Sim {
            pods: Mutex::new((0..n).map(|i| Pod { node: Some(node_name(i)), ..Pod::new(&first.hash) }).collect()),
            cordoned: Mutex::new(BTreeSet::new()),
            spreads: crate::node_failure::anti_affinity(&statefulset).is_ok(),
            cuts: Mutex::default(),
            budget: manifest.pdb.as_ref().and_then(|b| b.spec.as_ref()).map(|spec| budget_of(spec, n)),
            statefulset: Mutex::new(statefulset),
            revisions: Mutex::new(vec![first]),
            names: manifest.member_names(),
            kubelet,
            life: LifecycleLog::new(),
            servers: Arc::new(Mutex::new(Servers::new(members, standalone))),
            changed: watch::channel(0).0,
            exchanges: Default::default(),
        };
        // As deployed: each member created, started and Ready before the next (OrderedReady).
        for m in &sim.names {
            for kind in [LifecycleKind::Created, LifecycleKind::Started, LifecycleKind::Ready] {
                sim.life.record(m, kind, "deployed");
            }
        }
        FakePlatform {
            manifest,
            nodes: true,
            calls: Mutex::new(Vec::new()),
            failing_uncordons: Mutex::new(Vec::new()),
            sim: Arc::new(sim),
            addrs: Default::default(),
            probing: std::sync::Once::new(),
            tasks: Tasks::default(),
            config_overrides: Mutex::default(),
            signals_containers: false,
            read_only_root: false,
            refused_changes: Mutex::new(None),
        }
    }

    /// Changes what `member`'s server answers, or its readiness. A change of readiness is a
    /// lifecycle event (Ready or NotReady in its lifecycle log): it wakes the waits, as a platform's
    /// watch does.
    pub fn set(&self, member: &str, change: impl FnOnce(&mut FakeMember)) {
        let i = self.sim.ordinal(member);
        let ready = {
            let mut s = self.sim.servers.lock().unwrap();
            let before = s.members[i].ready;
            change(&mut s.members[i]);
            (s.members[i].ready != before).then_some(s.members[i].ready)
        };
        self.sim.changed.send_modify(|n| *n += 1);
        match ready {
            Some(true) => self.sim.life.record(member, LifecycleKind::Ready, "set by the test"),
            Some(false) => self.sim.life.record(member, LifecycleKind::NotReady, "set by the test"),
            None => {}
        }
    }

    /// How many four-letter-word exchanges the fake servers have answered.
    pub fn exchanges(&self) -> usize {
        self.sim.exchanges.load(Ordering::SeqCst)
    }

    /// The last zxid of the tree `member` serves: it moves with every write.
    pub fn last_zxid(&self, member: &str) -> i64 {
        let i = self.sim.ordinal(member);
        self.sim.servers.lock().unwrap().tree(i).zxid
    }

    /// The data of `path` in the tree `member` serves, if it exists.
    pub fn read(&self, member: &str, path: &str) -> Option<Vec<u8>> {
        let i = self.sim.ordinal(member);
        self.sim.servers.lock().unwrap().tree(i).get(path).map(<[u8]>::to_vec)
    }

    /// As after a finished rollout of the walkthrough's cpu patch: two revisions, every member
    /// on the newer, so that a rollback has somewhere to go.
    pub fn with_history(self) -> FakePlatform {
        {
            let mut sts = self.sim.statefulset.lock().unwrap();
            let cpu = sts.pointer_mut("/spec/template/spec/containers/0/resources/requests/cpu").expect("the reference has a cpu request");
            *cpu = serde_json::json!("0.3");
            let template = sts.pointer("/spec/template").cloned().unwrap_or_default();
            let hash = revision_hash(&template);
            for pod in self.sim.pods.lock().unwrap().iter_mut() {
                pod.revision = hash.clone();
            }
            self.sim.revisions.lock().unwrap().push(Revision { number: 2, hash, template });
        }
        self
    }

    /// As Docker: no nodes to cordon, no Eviction API.
    pub fn without_nodes() -> FakePlatform {
        FakePlatform { nodes: false, ..FakePlatform::new() }
    }

    /// This platform as Docker: no nodes to cordon, no Eviction API.
    pub fn no_nodes(self) -> FakePlatform {
        FakePlatform { nodes: false, ..self }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Uncordoning `node` fails from now on, as when the API server is unavailable.
    /// Refuses every change to the StatefulSet, saying `why` (as an adopted one a controller owns).
    pub fn refuse_statefulset_changes(&self, why: &str) {
        *self.refused_changes.lock().unwrap() = Some(why.to_string());
    }

    pub fn fail_uncordon(&self, node: &str) {
        self.failing_uncordons.lock().unwrap().push(node.to_string());
    }

    fn call(&self, c: Call) {
        self.calls.lock().unwrap().push(c);
    }

    /// A patch of the StatefulSet: a new template is a new revision (an old one again is that
    /// revision, renumbered), rolled out by the controller.
    fn patch(&self, patch: &json_patch::Patch) -> anyhow::Result<()> {
        let mut sts = self.sim.statefulset.lock().unwrap().clone();
        json_patch::patch(&mut sts, &patch.0)?;
        let template = sts.pointer("/spec/template").cloned().unwrap_or_default();
        let hash = revision_hash(&template);
        *self.sim.statefulset.lock().unwrap() = sts;
        {
            let mut revs = self.sim.revisions.lock().unwrap();
            if revs.last().is_some_and(|r| r.hash == hash) {
                return Ok(());
            }
            let number = revs.iter().map(|r| r.number).max().unwrap_or(0) + 1;
            revs.retain(|r| r.hash != hash);
            revs.push(Revision { number, hash, template });
        }
        self.tasks.spawn(self.sim.clone().rolling_update());
        Ok(())
    }

    /// What `/proc` shows in member `i`'s container: the server (the entry point became java by
    /// `exec`, as in the walkthrough's image) while it runs, else only the entry point's shell
    /// (`sleep infinity` after it).
    fn proc_scan(&self, i: usize) -> String {
        let t = self.manifest.pod_template();
        let (uid, gid) = (t.run_as_user.unwrap_or(IMAGE_UID), t.run_as_group.unwrap_or(IMAGE_UID));
        if !self.sim.servers.lock().unwrap().members[i].up {
            return format!("1\t{uid}\t{gid}\t{gid}\tsh\u{1}-c\u{1}{}\u{1}", [t.command, t.args].concat().join(" "));
        }
        format!(
            "{}\t{uid}\t{gid}\t{gid}\tjava\u{1}-Dzookeeper.log.dir=/var/log/zookeeper\u{1}-cp\u{1}/usr/share/java/zookeeper.jar\u{1}org.apache.zookeeper.server.quorum.QuorumPeerMain\u{1}{}\u{1}",
            self.server_pid(),
            self.config_path()
        )
    }

    /// Member `i`'s image writes `key=value` into its zoo.cfg whatever its source says: a start
    /// script that ignores a flag, a member configured apart from the others.
    pub fn override_config(&self, i: usize, key: &str, value: &str) {
        self.config_overrides.lock().unwrap().push((i, key.to_string(), value.to_string()));
    }

    /// Every member's server refuses every four-letter word but `srvr` (ZooKeeper's default
    /// `4lw.commands.whitelist` since 3.5.3).
    pub fn srvr_only(self) -> FakePlatform {
        for m in self.members() {
            self.set(&m, |s| s.srvr_only = true);
        }
        self
    }

    /// Signals reach a member's container from outside it, as through the Docker engine.
    pub fn signals_containers(mut self) -> FakePlatform {
        self.signals_containers = true;
        self
    }

    /// The containers' root filesystem is read-only (`readOnlyRootFilesystem`).
    pub fn read_only_root(mut self) -> FakePlatform {
        self.read_only_root = true;
        self
    }

    /// [`FakePlatform::zoo_cfg`] with member `i`'s overrides.
    fn member_zoo_cfg(&self, i: usize) -> String {
        let mut lines: Vec<String> = self.zoo_cfg().lines().map(str::to_string).collect();
        for (_, key, value) in self.config_overrides.lock().unwrap().iter().filter(|(j, _, _)| *j == i) {
            lines.retain(|l| !l.starts_with(&format!("{key}=")));
            lines.push(format!("{key}={value}"));
        }
        lines.join("\n") + "\n"
    }

    /// The server's pid: a child of the walkthrough's shell, else the container's init.
    fn server_pid(&self) -> u32 {
        match Source::of(&self.manifest) {
            Source::StartZookeeper { .. } => CHILD_PID,
            _ => INIT_PID,
        }
    }

    /// Where the image writes its zoo.cfg: `--conf_dir` for start-zookeeper, `/conf` for the
    /// official image's environment.
    fn config_path(&self) -> String {
        use crate::conformance::flag;
        match Source::of(&self.manifest) {
            Source::StartZookeeper { command } => format!("{}/zoo.cfg", flag(&command, "--conf_dir").unwrap_or("/opt/zookeeper/conf".into())),
            _ => "/conf/zoo.cfg".into(),
        }
    }

    /// The zoo.cfg the image's `start-zookeeper` writes from the manifest's flags: each flag's
    /// setting, and with `--servers=N` (N > 1) one `server.` line a member. For the official
    /// image's environment, what its entry point writes: `/data`, the `ZOO_*` settings and
    /// `ZOO_SERVERS`' lines.
    fn zoo_cfg(&self) -> String {
        use crate::conformance::{flag, FLAG_SETTINGS};
        let source = Source::of(&self.manifest);
        if let Source::Env { vars } = &source {
            let mut cfg = String::from("dataDir=/data\ndataLogDir=/datalog\nclientPort=2181\n");
            for (k, v) in source.settings() {
                cfg += &format!("{k}={v}\n");
            }
            for line in vars.get("ZOO_SERVERS").map(|s| s.split_whitespace().collect::<Vec<_>>()).unwrap_or_default() {
                cfg += &format!("{line}\n");
            }
            return cfg;
        }
        let t = self.manifest.pod_template();
        let command = [t.command, t.args].concat().join(" ");
        let mut cfg = String::from("# written by start-zookeeper from its flags\n");
        for (name, setting) in FLAG_SETTINGS {
            if let Some(v) = flag(&command, &format!("--{name}")) {
                cfg += &format!("{setting}={v}\n");
            }
        }
        let servers: usize = flag(&command, "--servers").and_then(|n| n.parse().ok()).unwrap_or(1);
        let (peer, election) = (flag(&command, "--server_port").unwrap_or("2888".into()), flag(&command, "--election_port").unwrap_or("3888".into()));
        for (i, m) in self.sim.names.iter().enumerate().take(if servers > 1 { servers } else { 0 }) {
            cfg += &format!("server.{}={}:{peer}:{election}\n", i + 1, self.manifest.fqdn(m, self.namespace()));
        }
        cfg
    }

    /// Starts the probes (once): they matter only after a fault.
    fn probe(&self) {
        self.probing.call_once(|| {
            let sim = self.sim.clone();
            self.tasks.spawn(async move {
                loop {
                    tokio::time::sleep(sim.kubelet.probe_period).await;
                    sim.probe_all();
                }
            });
        });
    }

    /// The fake kubelet's answer to `argv` in a running container.
    fn run(&self, i: usize, argv: &[&str]) -> ExecOutput {
        let done = |exit_code: i64, stderr: &str| ExecOutput { exit_code, stdout: String::new(), stderr: stderr.to_string() };
        let said = |stdout: &str| ExecOutput { exit_code: 0, stdout: format!("{stdout}\n"), stderr: String::new() };
        match argv {
            ["sh", "-c", scan] if *scan == crate::process::SCAN => said(&self.proc_scan(i)),
            // Every program a probe names is in /usr/bin, as in the walkthrough's image.
            ["sh", "-c", lookup] if lookup.starts_with("command -v ") => said(&format!("/usr/bin/{}", lookup.trim_start_matches("command -v "))),
            // A container's pid 1 ignores SIGSTOP sent from inside it, as the kernel does.
            ["sh", "-c", stop] if *stop == format!("kill -STOP {INIT_PID}") && self.server_pid() == INIT_PID => done(0, ""),
            // A stopped server answers nothing: as one that is down, in a container that runs on.
            ["sh", "-c", stop] if *stop == format!("kill -STOP {}", self.server_pid()) => {
                self.sim.server_down(i);
                self.probe();
                done(0, "")
            }
            ["sh", "-c", kill] if kill.starts_with("kill -TERM ") => {
                let up = self.sim.servers.lock().unwrap().members[i].up;
                if !up || kill.trim_start_matches("kill -TERM ") != self.server_pid().to_string() {
                    return done(1, &format!("sh: 1: kill: No such process ({kill})"));
                }
                self.sim.server_down(i);
                if self.sim.kubelet.exits_with_server {
                    let sim = self.sim.clone();
                    self.tasks.spawn(async move { sim.container_ended(i, LifecycleKind::Exited, "exit code 143: java was killed").await });
                }
                self.probe();
                done(0, "")
            }
            ["rm" | "chmod", .., path] if self.read_only_root => done(1, &format!("{}: {path}: Read-only file system", argv[0])),
            ["rm", path] => {
                let removed = self.sim.pods.lock().unwrap()[i].removed.insert(path.to_string());
                self.probe();
                if removed {
                    done(0, "")
                } else {
                    done(1, &format!("rm: cannot remove '{path}': No such file or directory"))
                }
            }
            ["test", "-x", path] => done(if self.sim.pods.lock().unwrap()[i].removed.contains(*path) { 1 } else { 0 }, ""),
            ["hostname"] => said(&self.sim.names[i]),
            ["hostname", "-f"] => said(&self.manifest.fqdn(&self.sim.names[i], self.namespace())),
            ["cat", path] if path.ends_with("/myid") => said(&(i + 1).to_string()),
            ["cat", path] if *path == self.config_path() => said(&self.member_zoo_cfg(i)),
            // Execs run as the container's user, which the server runs as too.
            ["id", "-u"] => said(&self.manifest.pod_template().run_as_user.unwrap_or(IMAGE_UID).to_string()),
            ["stat", "-c", "%u %g %a", _] => {
                let t = self.manifest.pod_template();
                said(&format!("{} {} 2775", t.run_as_user.unwrap_or(IMAGE_UID), t.fs_group.unwrap_or(IMAGE_UID)))
            }
            ["stat", "-c", "%g %A", _] => said(&format!("{} drwxrwsr-x", self.manifest.pod_template().fs_group.unwrap_or(IMAGE_UID))),
            _ => done(0, ""),
        }
    }
}

impl Sim {
    fn ordinal(&self, member: &str) -> usize {
        self.names.iter().position(|m| m == member).expect("a member of the manifest")
    }

    /// After a change of which servers run: who serves and who leads, and every connection told.
    fn reconcile(&self, s: &mut Servers) {
        s.reconcile();
        self.changed.send_modify(|n| *n += 1);
    }

    fn server_down(&self, i: usize) {
        let mut s = self.servers.lock().unwrap();
        s.members[i].up = false;
        self.reconcile(&mut s);
    }

    fn set_ready(&self, i: usize, ready: bool, why: &str) {
        let changed = {
            let mut s = self.servers.lock().unwrap();
            std::mem::replace(&mut s.members[i].ready, ready) != ready
        };
        if changed {
            self.life.record(&self.names[i], if ready { LifecycleKind::Ready } else { LifecycleKind::NotReady }, why);
        }
    }

    /// The container ended (`kind`: exited, or killed by its liveness probe); restarted a step
    /// later unless the pod is gone by then, Ready a step after that.
    async fn container_ended(self: Arc<Sim>, i: usize, kind: LifecycleKind, why: &str) {
        let member = self.names[i].clone();
        {
            let mut pods = self.pods.lock().unwrap();
            if !pods[i].running {
                return;
            }
            pods[i].running = false;
        }
        self.server_down(i);
        self.life.record(&member, kind, why);
        self.set_ready(i, false, "the container stopped");
        tokio::time::sleep(self.kubelet.step).await;
        {
            let mut pods = self.pods.lock().unwrap();
            let pod = &mut pods[i];
            if !pod.exists {
                return;
            }
            pod.running = true;
            pod.restart_count += 1;
            pod.container += 1;
            pod.started_at = Some(Utc::now());
            pod.removed.clear();
            pod.liveness_failures = 0;
        }
        self.life.record(&member, LifecycleKind::Restarted, "restartPolicy Always");
        self.life.record(&member, LifecycleKind::Started, "a new container");
        self.start_server(i).await;
    }

    /// The server starts in a running container; the readiness probe passes a step later.
    async fn start_server(&self, i: usize) {
        {
            let mut s = self.servers.lock().unwrap();
            s.members[i].up = true;
            self.reconcile(&mut s);
        }
        tokio::time::sleep(self.kubelet.step).await;
        if self.pods.lock().unwrap()[i].running {
            self.set_ready(i, true, "readiness probe passed");
        }
    }

    /// Whether a probe running `command` fails in member `i` now.
    fn probe_fails(&self, i: usize, command: &str, removed: &BTreeSet<String>) -> bool {
        let missing = removed.iter().any(|path| path.rsplit('/').next().is_some_and(|file| command.contains(file)));
        // The walkthrough's script, or an inline probe, asks the server.
        let asks_server = ["zookeeper-ready", "ruok", "srvr"].iter().any(|w| command.contains(w));
        missing || (asks_server && !self.servers.lock().unwrap().members[i].up)
    }

    /// One round of the probes of every running container.
    fn probe_all(self: &Arc<Sim>) {
        for i in 0..self.names.len() {
            let Some(pod) = self.pods.lock().unwrap().get(i).filter(|p| p.running).cloned() else { continue };
            if let Some(readiness) = &self.kubelet.readiness {
                if self.probe_fails(i, readiness, &pod.removed) {
                    self.set_ready(i, false, &format!("readiness probe failed: {readiness}"));
                }
            }
            let Some((liveness, threshold)) = &self.kubelet.liveness else { continue };
            if !self.probe_fails(i, liveness, &pod.removed) {
                self.pods.lock().unwrap()[i].liveness_failures = 0;
                continue;
            }
            let failures = {
                let mut pods = self.pods.lock().unwrap();
                pods[i].liveness_failures += 1;
                pods[i].liveness_failures
            };
            self.life.record(&self.names[i], LifecycleKind::LivenessFailed, format!("liveness probe failed ({failures} of {threshold}): {liveness}"));
            if failures == *threshold {
                tokio::spawn(self.clone().container_ended(i, LifecycleKind::LivenessKilled, "killed: liveness probe failed failureThreshold times"));
            }
        }
    }

    /// The pod of member `i` is deleted (`why`): its server stops with it.
    fn delete_pod(&self, i: usize, why: &str) {
        {
            let mut pods = self.pods.lock().unwrap();
            if !pods[i].exists {
                return;
            }
            pods[i] = Pod { exists: false, running: false, started_at: None, ..pods[i].clone() };
        }
        self.server_down(i);
        self.set_ready(i, false, "the pod is terminating");
        self.life.record(&self.names[i], LifecycleKind::Deleted, why);
    }

    fn delete_pods(&self) {
        for i in 0..self.names.len() {
            self.delete_pod(i, "the StatefulSet was deleted");
        }
        if !self.kubelet.volumes {
            let mut s = self.servers.lock().unwrap();
            s.wipe();
            for pod in self.pods.lock().unwrap().iter_mut() {
                pod.volume += 1;
            }
        }
    }

    /// Member `i`'s pod is created from the newest revision and scheduled; returns when it is
    /// Ready, or Pending when no node may take it.
    async fn create_pod(&self, i: usize) {
        let revision = self.revisions.lock().unwrap().last().map(|r| r.hash.clone()).unwrap_or_default();
        {
            let mut pods = self.pods.lock().unwrap();
            if pods[i].exists {
                return;
            }
            pods[i] = Pod { container: pods[i].container + 1, volume: pods[i].volume, running: false, started_at: None, ..Pod::new(&revision) };
        }
        self.life.record(&self.names[i], LifecycleKind::Created, format!("created by the StatefulSet (revision {revision})"));
        self.bind(i).await;
    }

    /// The scheduler: the first node, by name, that is not cordoned and (with the anti-affinity
    /// rule) runs no other member; then the kubelet starts the container. Without such a node the
    /// pod stays Pending, with the scheduler's reason, until an uncordon.
    async fn bind(&self, i: usize) {
        {
            let mut pods = self.pods.lock().unwrap();
            if !pods[i].exists || pods[i].node.is_some() {
                return;
            }
            let cordoned = self.cordoned.lock().unwrap();
            let taken: BTreeSet<String> = pods.iter().enumerate().filter(|(j, p)| *j != i && p.exists).filter_map(|(_, p)| p.node.clone()).collect();
            let free = (0..NODES).map(node_name).find(|n| !(cordoned.contains(n) || (self.spreads && taken.contains(n))));
            let pod = &mut pods[i];
            match free {
                Some(node) => {
                    pod.node = Some(node);
                    pod.pending = None;
                    pod.running = true;
                    pod.started_at = Some(Utc::now());
                }
                None => {
                    let blocked = (0..NODES).map(node_name).filter(|n| !cordoned.contains(n)).count();
                    pod.pending = Some(format!(
                        "Unschedulable: 0/{NODES} nodes are available: {blocked} node(s) didn't match pod anti-affinity rules, {} node(s) were unschedulable",
                        NODES - blocked
                    ));
                    return;
                }
            }
        }
        self.life.record(&self.names[i], LifecycleKind::Started, "a new container");
        self.start_server(i).await;
    }

    /// The StatefulSet's controller: each missing pod created in order, Ready before the next.
    async fn create_pods(self: Arc<Sim>) {
        for i in 0..self.names.len() {
            tokio::time::sleep(self.kubelet.step).await;
            self.create_pod(i).await;
        }
    }

    /// The controller's rolling update: from the highest ordinal down, each pod not on the newest
    /// revision deleted and created again, Ready before the next goes.
    async fn rolling_update(self: Arc<Sim>) {
        for i in (0..self.names.len()).rev() {
            let target = self.revisions.lock().unwrap().last().map(|r| r.hash.clone()).unwrap_or_default();
            if self.pods.lock().unwrap()[i].revision == target {
                continue;
            }
            self.delete_pod(i, "rolling update");
            tokio::time::sleep(self.kubelet.step).await;
            self.create_pod(i).await;
        }
    }
}

fn identity(kind: PlatformKind) -> Identity {
    Identity { kind, run_id: "zk-chaos-20261201-000000-fake".into(), namespace: "default".into() }
}

#[async_trait]
impl Platform for FakePlatform {
    fn partitions(&self) -> Option<&dyn Partitions> {
        Some(self)
    }

    /// As kind with nodes, as Docker without.
    fn identity(&self) -> &Identity {
        static KIND: LazyLock<Identity> = LazyLock::new(|| identity(PlatformKind::Kind));
        static DOCKER: LazyLock<Identity> = LazyLock::new(|| identity(PlatformKind::Docker));
        if self.nodes {
            &KIND
        } else {
            &DOCKER
        }
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
        let Some(ordinal) = self.members().iter().position(|m| m == member) else { bail!("the fake platform has no member {member}") };
        let pod = self.sim.pods.lock().unwrap()[ordinal].clone();
        if !pod.exists {
            return Ok(MemberStatus::absent(member, ordinal));
        }
        let ready = self.sim.servers.lock().unwrap().members[ordinal].ready;
        Ok(MemberStatus {
            exists: true,
            running: pod.running,
            ready: ready && pod.running,
            restart_count: pod.restart_count,
            revision: Some(pod.revision.clone()),
            container_id: Some(format!("fake://{member}-{}", pod.container)),
            started_at: pod.started_at,
            phase: if pod.node.is_some() { "Running" } else { "Pending" }.into(),
            reason: pod.pending.clone(),
            node: pod.node.clone(),
            ..MemberStatus::absent(member, ordinal)
        })
    }
    async fn client_addr(&self, member: &str) -> anyhow::Result<SocketAddr> {
        let Some(i) = self.members().iter().position(|m| m == member) else { bail!("the fake platform has no member {member}") };
        let mut addrs = self.addrs.lock().await;
        if addrs.is_empty() {
            for ordinal in 0..self.members().len() {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                addrs.push(listener.local_addr()?);
                let port = Port { servers: self.sim.servers.clone(), changed: self.sim.changed.subscribe(), ordinal, exchanges: self.sim.exchanges.clone() };
                self.tasks.spawn(zookeeper::serve(listener, port));
            }
        }
        Ok(addrs[i])
    }
    async fn exec(&self, member: &str, argv: &[&str]) -> anyhow::Result<ExecOutput> {
        self.call(Call::Exec(member.to_string(), argv.join(" ")));
        let Some(i) = self.members().iter().position(|m| m == member) else { bail!("the fake platform has no member {member}") };
        if !self.sim.pods.lock().unwrap()[i].running {
            bail!("{member} has no running container");
        }
        Ok(self.run(i, argv))
    }
    /// What the fixture image's log4j configuration prints to the console.
    async fn logs(&self, member: &str, _tail: Option<usize>) -> anyhow::Result<String> {
        let i = self.sim.ordinal(member);
        Ok(format!("2026-12-01 00:00:00,000 [myid:{}] - INFO  [main:QuorumPeerMain@137] - Starting quorum peer\n", i + 1))
    }
    async fn volumes(&self, member: &str) -> anyhow::Result<Vec<VolumeIdentity>> {
        if !self.sim.kubelet.volumes {
            return Ok(Vec::new());
        }
        let i = self.sim.ordinal(member);
        let volume = self.sim.pods.lock().unwrap()[i].volume;
        Ok(vec![VolumeIdentity { claim: format!("datadir-{member}"), id: format!("pv-{member}-{volume}") }])
    }
    fn lifecycle(&self) -> Vec<LifecycleEvent> {
        self.sim.life.events()
    }
    fn subscribe(&self) -> watch::Receiver<u64> {
        self.sim.life.subscribe()
    }
    async fn delete_statefulset(&self) -> anyhow::Result<()> {
        self.call(Call::DeleteStatefulSet);
        self.sim.delete_pods();
        Ok(())
    }
    async fn apply_statefulset(&self) -> anyhow::Result<()> {
        self.call(Call::ApplyStatefulSet);
        self.tasks.spawn(self.sim.clone().create_pods());
        Ok(())
    }
    async fn patch_statefulset(&self, patch: &json_patch::Patch) -> anyhow::Result<()> {
        self.call(Call::PatchStatefulSet);
        self.patch(patch)
    }
    async fn revisions(&self) -> anyhow::Result<Vec<Revision>> {
        Ok(self.sim.revisions.lock().unwrap().clone())
    }
    async fn update_revision(&self) -> anyhow::Result<Option<String>> {
        Ok(self.sim.revisions.lock().unwrap().last().map(|r| r.hash.clone()))
    }
    async fn statefulset_change_refused(&self, _change: crate::platform::StatefulSetChange) -> anyhow::Result<Option<String>> {
        Ok(self.refused_changes.lock().unwrap().clone())
    }
    async fn rollback(&self) -> anyhow::Result<()> {
        self.call(Call::Rollback);
        let previous = {
            let revs = self.sim.revisions.lock().unwrap();
            match revs.len() {
                n if n >= 2 => revs[n - 2].template.clone(),
                _ => bail!("no previous revision to roll back to"),
            }
        };
        self.patch(&serde_json::from_value(serde_json::json!([{ "op": "replace", "path": "/spec/template", "value": previous }]))?)
    }
    fn cluster(&self) -> Option<&dyn Cluster> {
        self.nodes.then_some(self as &dyn Cluster)
    }
    /// SIGSTOP from outside stops the container's init, the server where it is pid 1: it answers
    /// nothing, in a container that runs on (as a kill -STOP from inside stops a child server).
    async fn signal_container(&self, member: &str, signal: &str) -> anyhow::Result<String> {
        if !self.signals_containers {
            return Err(CannotSignal(format!("the fake platform cannot signal a container from outside it (kill -{signal} {member})")).into());
        }
        self.call(Call::SignalContainer(member.to_string(), signal.to_string()));
        let i = self.sim.ordinal(member);
        if signal == "STOP" && self.server_pid() == INIT_PID {
            self.sim.server_down(i);
            self.probe();
        }
        Ok("through the fake engine".to_string())
    }

    async fn teardown(&self) -> anyhow::Result<()> {
        Ok(())
    }
    fn keep_instructions(&self) -> String {
        String::new()
    }
}

#[async_trait]
impl Partitions for FakePlatform {
    /// The member is cut off from its peers (a one-way cut too: ZooKeeper needs both ways), and
    /// stops counting for a quorum.
    async fn cut(&self, cut: &Cut) -> anyhow::Result<()> {
        self.call(Call::Cut(cut.member.clone()));
        let i = self.sim.ordinal(&cut.member);
        {
            let mut cuts = self.sim.cuts.lock().unwrap();
            if cuts.contains_key(&i) {
                bail!("{} is cut already", cut.member);
            }
            cuts.insert(i, (cut.one_way, CutCounters::default()));
        }
        let mut s = self.sim.servers.lock().unwrap();
        s.members[i].isolated = true;
        self.sim.reconcile(&mut s);
        Ok(())
    }
    async fn mend(&self, member: &str) -> anyhow::Result<()> {
        self.call(Call::Mend(member.to_string()));
        let i = self.sim.ordinal(member);
        if self.sim.cuts.lock().unwrap().remove(&i).is_some() {
            let mut s = self.sim.servers.lock().unwrap();
            s.members[i].isolated = false;
            self.sim.reconcile(&mut s);
        }
        Ok(())
    }
    async fn cut_counters(&self, member: &str) -> anyhow::Result<CutCounters> {
        let i = self.sim.ordinal(member);
        self.sim.cuts.lock().unwrap().get(&i).map(|c| c.1).ok_or_else(|| anyhow::anyhow!("{member} is not cut"))
    }
    /// A connection opens unless one end is cut off from the other. Under a cut the cut member's
    /// packets are dropped (counted out); the peers' are dropped too (counted in), or, one way,
    /// let through (counted) while the answer to them is dropped.
    async fn reaches(&self, from: &str, to: &str, _port: u16) -> anyhow::Result<bool> {
        let (f, t) = (self.sim.ordinal(from), self.sim.ordinal(to));
        let mut cuts = self.sim.cuts.lock().unwrap();
        if let Some((_, counters)) = cuts.get_mut(&f) {
            counters.out_dropped += 1;
            return Ok(false);
        }
        if let Some((one_way, counters)) = cuts.get_mut(&t) {
            if *one_way {
                counters.in_let_through += 1;
                counters.out_dropped += 1;
            } else {
                counters.in_dropped += 1;
            }
            return Ok(false);
        }
        Ok(true)
    }
}

#[async_trait]
impl Cluster for FakePlatform {
    async fn nodes(&self) -> anyhow::Result<Vec<NodeInfo>> {
        let cordoned = self.sim.cordoned.lock().unwrap();
        Ok((0..NODES).map(|i| NodeInfo { name: node_name(i), schedulable: !cordoned.contains(&node_name(i)), control_plane: false }).collect())
    }
    async fn cordon(&self, node: &str) -> anyhow::Result<()> {
        self.call(Call::Cordon(node.to_string()));
        self.sim.cordoned.lock().unwrap().insert(node.to_string());
        Ok(())
    }
    async fn uncordon(&self, node: &str) -> anyhow::Result<()> {
        if self.failing_uncordons.lock().unwrap().iter().any(|n| n == node) {
            bail!("the API server is unavailable");
        }
        self.call(Call::Uncordon(node.to_string()));
        self.sim.cordoned.lock().unwrap().remove(node);
        let pending: Vec<usize> = self.sim.pods.lock().unwrap().iter().enumerate().filter(|(_, p)| p.exists && p.node.is_none()).map(|(i, _)| i).collect();
        for i in pending {
            let sim = self.sim.clone();
            self.tasks.spawn(async move { sim.bind(i).await });
        }
        Ok(())
    }
    /// Refused while the budget allows no disruption; accepted, the pod is deleted and the
    /// StatefulSet's controller creates it again a step later.
    async fn evict(&self, member: &str) -> anyhow::Result<EvictionOutcome> {
        self.call(Call::Evict(member.to_string()));
        if self.sim.budget.is_some() && self.budget().await?.disruptions_allowed <= 0 {
            return Ok(EvictionOutcome::RefusedByBudget { message: "Cannot evict pod as it would violate the pod's disruption budget.".into() });
        }
        let i = self.sim.ordinal(member);
        self.sim.delete_pod(i, "evicted");
        let sim = self.sim.clone();
        self.tasks.spawn(async move {
            tokio::time::sleep(sim.kubelet.step).await;
            sim.create_pod(i).await;
        });
        Ok(EvictionOutcome::Accepted)
    }
    async fn budget(&self) -> anyhow::Result<BudgetStatus> {
        let Some(desired) = self.sim.budget else { bail!("the manifest has no PodDisruptionBudget") };
        let healthy = {
            let pods = self.sim.pods.lock().unwrap();
            let s = self.sim.servers.lock().unwrap();
            pods.iter().zip(&s.members).filter(|(p, m)| p.exists && p.running && m.ready).count() as i32
        };
        let n = self.sim.names.len() as i32;
        Ok(BudgetStatus {
            current_healthy: healthy,
            desired_healthy: desired,
            disruptions_allowed: (healthy - desired).max(0),
            expected_pods: n,
            observed_generation: Some(1),
            generation: Some(1),
        })
    }
    async fn volume_pinned_node(&self, _member: &str) -> anyhow::Result<Option<String>> {
        Ok(None)
    }
    async fn live_statefulset(&self) -> anyhow::Result<serde_json::Value> {
        Ok(self.sim.statefulset.lock().unwrap().clone())
    }
    /// The manifest's objects, the StatefulSet as patched (no defaults applied).
    async fn live_objects(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        let sts = self.sim.statefulset.lock().unwrap().clone();
        Ok(self.manifest.documents.iter().map(|d| if zk_chaos_core::manifest::is_statefulset(d) { sts.clone() } else { d.clone() }).collect())
    }
}
