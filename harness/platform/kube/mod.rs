//! The Kubernetes platform: the manifest's objects applied (server-side apply, field manager
//! `zk-chaos`) into a namespace of their own on a cluster reached through a kubeconfig, as kubectl
//! would. Members' client ports are reached by port-forward; exec, logs, restarts and readiness
//! come from the API server. `kind` (see [`kind`]) is this platform on a cluster zk-chaos creates.

pub mod adopt;
pub mod clean;
pub mod cluster;
pub mod connect;
pub mod kind;
pub mod lifecycle;
pub mod objects;
pub mod partition;
pub mod safety;
pub mod signal;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use async_trait::async_trait;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Namespace, PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{Api, AttachParams, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::Client;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use self::lifecycle::Snap;
use crate::config::Config;
use crate::manifest::Manifest;
use crate::platform::lifecycle_log::LifecycleLog;
use crate::platform::run_labels;
use crate::platform::{Cluster, Cut, CutCounters, ExecOutput, LifecycleEvent, MemberStatus, Platform, PlatformKind, Revision, StatefulSetChange, VolumeIdentity, RUN_LABEL};
use crate::wait::{self, Seen};

/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "zk-chaos";

pub struct KubePlatform {
    client: Client,
    kind: PlatformKind,
    context: String,
    run_id: String,
    namespace: String,
    /// The run created the namespace (and deletes it at the end).
    own_namespace: bool,
    manifest: Manifest,
    config: Config,
    life: Arc<LifecycleLog>,
    forwards: tokio::sync::Mutex<BTreeMap<String, (SocketAddr, tokio::task::JoinHandle<()>)>>,
    /// The watchers of the pods and the Events (aborted at teardown).
    poller: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// The members' pods as the pod watch last delivered them (see [`Watched`]).
    watched: Arc<Watched>,
    /// This run has cordoned a node: teardown then asks the API server which nodes its cordon
    /// annotation ([`cluster::CORDONED_BY`]) is still on. The nodes themselves are the record;
    /// what a suite owes is in the suite's ledger (`suites::ledger`), nowhere else.
    cordoned_any: std::sync::atomic::AtomicBool,
    kind_cluster: Option<kind::KindCluster>,
    /// Teardown deletes the kind cluster (the command's last run) instead of the run's namespace.
    delete_cluster: bool,
    notes: Mutex<Vec<String>>,
    /// The StorageClass given to volume claim templates that name none.
    storage_class: Option<String>,
    /// The run certifies the ensemble it found running (`--adopt`): it applies nothing, deletes
    /// nothing of it, and re-creates the StatefulSet from the copy found if a fault deleted it.
    adopted: bool,
    /// The StatefulSet's replicas as this run last set them ([`Platform::scale`]): the members are
    /// `0..replicas`. The pod watch follows the manifest's members only: a member added by a
    /// scale-up is read from the API server each time ([`Platform::watched_status`] falls back).
    replicas: std::sync::atomic::AtomicUsize,
}

impl KubePlatform {
    /// A platform on `client`; creates nothing yet. `namespace`: `None` for one of the run's own.
    pub fn new(client: Client, context: String, manifest: Manifest, config: Config, run_id: String, namespace: Option<String>) -> KubePlatform {
        let own_namespace = namespace.is_none();
        let namespace = namespace.unwrap_or_else(|| run_id.clone());
        // The manifest's objects are applied in `namespace`: DNS names it baked for its own follow.
        let (manifest, moved) = manifest.moved_to_namespace(&namespace);
        let replicas = std::sync::atomic::AtomicUsize::new(manifest.replicas());
        KubePlatform {
            replicas,
            client,
            kind: PlatformKind::Kube,
            context,
            namespace,
            own_namespace,
            run_id,
            manifest,
            config,
            life: Arc::new(LifecycleLog::new()),
            forwards: tokio::sync::Mutex::new(BTreeMap::new()),
            poller: Mutex::new(Vec::new()),
            watched: Arc::new(Watched::default()),
            cordoned_any: Default::default(),
            kind_cluster: None,
            delete_cluster: false,
            notes: Mutex::new(moved.into_iter().collect()),
            storage_class: None,
            adopted: false,
        }
    }

    /// The same platform certifying the ensemble found in the namespace given (`--adopt`), whose
    /// manifest was read from the cluster ([`adopt::manifest`]).
    pub fn adopting(mut self) -> KubePlatform {
        self.adopted = true;
        self.note(format!(
            "adopted StatefulSet {} in namespace {}: the run applied nothing and leaves the namespace and the ensemble in place",
            self.manifest.name(),
            self.namespace
        ));
        self.note(format!(
            "the suites' znodes stay in the adopted ensemble: /hello (created only if absent, as the walkthrough writes it) and what they wrote under /zk-chaos/{}",
            self.run_id
        ));
        self
    }

    /// The adopted StatefulSet, re-created exactly as found (the copy without what the server
    /// set), after a fault deleted it. A StatefulSet of the same name still being deleted (its
    /// finalizers) is waited for, up to the operation timeout.
    async fn recreate_as_found(&self) -> anyhow::Result<()> {
        let doc = objects::into_namespace(self.manifest.statefulset_document(), &self.namespace);
        let sts: StatefulSet = serde_json::from_value(doc).context("the StatefulSet as found")?;
        let sets = self.statefulsets();
        let name = self.manifest.name();
        wait::until(&format!("StatefulSet {name} re-created as found"), self.config.timeouts.operation, None, || async {
            match sets.create(&PostParams::default(), &sts).await {
                Ok(_) => Ok(Seen::Done(())),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(Seen::NotYet(format!("{name} still exists (being deleted?): {}", s.message))),
                Err(e) => Err(anyhow!(e).context(format!("creating StatefulSet {name}"))),
            }
        })
        .await?;
        tracing::info!("re-created StatefulSet {name} in {} as it was found", self.namespace);
        Ok(())
    }

    /// Volume claim templates that name no StorageClass get `class` (the cluster's default otherwise).
    pub fn with_storage_class(mut self, class: Option<String>) -> KubePlatform {
        if let Some(c) = &class {
            self.note(format!("volumeClaimTemplates without a storageClassName get StorageClass {c} (--storage-class)"));
        }
        self.storage_class = class;
        self
    }

    /// The same platform on a kind cluster the command created. `delete_cluster`: this is the
    /// command's last run, whose teardown deletes the whole cluster; any other run's teardown
    /// deletes its namespace and leaves the cluster to the next run (`--repeat`).
    pub fn on_kind(mut self, cluster: kind::KindCluster, delete_cluster: bool) -> KubePlatform {
        self.kind = PlatformKind::Kind;
        self.kind_cluster = Some(cluster);
        self.delete_cluster = delete_cluster;
        self
    }

    /// Runs `argv` in `member`'s pod, in `container` (the first one if `None`), within the
    /// operation timeout.
    async fn exec_in(&self, member: &str, container: Option<&str>, argv: &[&str]) -> anyhow::Result<ExecOutput> {
        let mut ap = AttachParams::default().stdin(false).stdout(true).stderr(true);
        if let Some(c) = container {
            ap = ap.container(c);
        }
        let work = async {
            let mut proc = self.pods().exec(member, argv.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &ap).await?;
            let status = proc.take_status().ok_or_else(|| anyhow!("exec: no status channel"))?;
            let mut out = proc.stdout().ok_or_else(|| anyhow!("exec: no stdout"))?;
            let mut err = proc.stderr().ok_or_else(|| anyhow!("exec: no stderr"))?;
            let (mut so, mut se) = (Vec::new(), Vec::new());
            let (a, b) = tokio::join!(out.read_to_end(&mut so), err.read_to_end(&mut se));
            a?;
            b?;
            let status = status.await;
            let code = exit_code(status.as_ref())?;
            let _ = proc.join().await;
            anyhow::Ok(ExecOutput { exit_code: code, stdout: String::from_utf8_lossy(&so).into(), stderr: String::from_utf8_lossy(&se).into() })
        };
        tokio::time::timeout(self.config.timeouts.operation, work)
            .await
            .map_err(|_| anyhow!("exec {argv:?} in {member}: no answer within {:?}", self.config.timeouts.operation))?
            .with_context(|| format!("exec {argv:?} in {member}"))
    }

    pub fn context(&self) -> &str {
        &self.context
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }
    fn statefulsets(&self) -> Api<StatefulSet> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub fn note(&self, line: String) {
        let mut n = self.notes.lock().expect("notes lock");
        if !n.contains(&line) {
            n.push(line);
        }
    }

    /// `app=zk`: the StatefulSet's selector as a label selector.
    fn selector(&self) -> String {
        self.manifest
            .statefulset
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.as_ref())
            .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
            .unwrap_or_default()
    }

    fn client_port(&self) -> u16 {
        let ports = self.manifest.pod_template().ports;
        ports.iter().find(|p| p.name.as_deref() == Some("client")).or(ports.first()).map(|p| p.container_port).unwrap_or(2181)
    }

    /// A manifest document made ready to apply here: our namespace and the run label.
    fn prepared(&self, doc: &Value) -> Value {
        let mut d = objects::into_namespace(doc, &self.namespace);
        d["metadata"]["labels"][RUN_LABEL] = json!(self.run_id);
        d["metadata"]["labels"][crate::ownership::HOST_LABEL] = json!(crate::ownership::this_host());
        if crate::manifest::is_statefulset(&d) {
            if let Some(vcts) = d.pointer_mut("/spec/volumeClaimTemplates").and_then(Value::as_array_mut) {
                for v in vcts {
                    v["metadata"]["labels"][RUN_LABEL] = json!(self.run_id);
                    if let (Some(class), None) = (&self.storage_class, v.pointer("/spec/storageClassName")) {
                        v["spec"]["storageClassName"] = json!(class);
                    }
                }
            }
        }
        d
    }

    /// Server-side apply of one document (force: we own these objects).
    async fn apply(&self, doc: &Value) -> anyhow::Result<()> {
        let d = self.prepared(doc);
        let (api, kind, name) = objects::api_of(&self.client, &self.namespace, &d).with_context(|| self.manifest.origin.clone())?;
        api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&d)).await.with_context(|| format!("applying {kind} {name}"))?;
        tracing::info!("applied {kind} {name} in {}", self.namespace);
        Ok(())
    }

    async fn ensure_namespace(&self) -> anyhow::Result<()> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        if self.own_namespace {
            let ns: Namespace = serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": self.namespace, "labels": run_labels(&self.run_id)}
            }))?;
            api.create(&PostParams::default(), &ns).await.with_context(|| format!("creating namespace {}", self.namespace))?;
        } else if api.get_opt(&self.namespace).await?.is_none() {
            bail!("namespace {} does not exist on context {} (drop --namespace to let zk-chaos create one)", self.namespace, self.context);
        }
        Ok(())
    }

    /// Watches the pods and their events, turning changes into lifecycle events as the API server
    /// reports them, until stopped. A watch (not a poll) keeps the order in which things happened:
    /// two changes a poll would see together (zk-2 Ready, then zk-1 deleted) arrive one after the
    /// other, each dated when it arrived. The kubelet's own times (finishedAt, Event times) have
    /// one-second precision, so they are kept in the details, not used as dates.
    fn start_poller(&self) {
        let pods = self.pods();
        let events: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace);
        let members = self.manifest.member_names();
        let selector = self.selector();
        let pod_task = tokio::spawn(watch_pods(pods, selector, members.clone(), self.life.clone(), self.watched.clone()));
        let event_task = tokio::spawn(watch_events(events, members, self.life.clone()));
        // Each watcher is aborted itself: aborting a task that awaits them would leave them running.
        for old in std::mem::replace(&mut *self.poller.lock().expect("poller lock"), vec![pod_task, event_task]) {
            old.abort();
        }
    }

    /// Waits until `member` is Running and Ready, saying why not (Pending: Unschedulable, ...).
    async fn wait_ready(&self, member: &str, deadline: Duration) -> anyhow::Result<()> {
        // While the pod does not exist, why the controller cannot create it (looked up once a second).
        let why_absent: Mutex<(Option<std::time::Instant>, Option<String>)> = Mutex::new((None, None));
        wait::until(&format!("{member} Running and Ready"), deadline, Some(self.life.subscribe()), || async {
            let s = self.status(member).await?;
            if s.running && s.ready {
                return Ok(Seen::Done(()));
            }
            let mut seen = format!("{} {}{}", s.name, s.phase, s.reason.map(|r| format!(" ({r})")).unwrap_or_default());
            if !s.exists {
                let due = why_absent.lock().expect("lock").0.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
                if due {
                    let found = self.failed_create(member).await;
                    *why_absent.lock().expect("lock") = (Some(std::time::Instant::now()), found);
                }
                if let Some(why) = &why_absent.lock().expect("lock").1 {
                    seen.push_str(&format!("; the StatefulSet controller cannot create it: {why}"));
                }
            }
            Ok(Seen::NotYet(seen))
        })
        .await
    }

    /// The newest FailedCreate Event of the StatefulSet that names `member`: "FailedCreate: create
    /// Pod zk-0 in StatefulSet zk failed error: ...".
    async fn failed_create(&self, member: &str) -> Option<String> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace);
        let fields = format!("involvedObject.kind=StatefulSet,involvedObject.name={},reason=FailedCreate", self.manifest.name());
        let list = events.list(&ListParams::default().fields(&fields)).await.map_err(|e| tracing::debug!("listing FailedCreate events: {e}")).ok()?;
        failed_create_message(&list.items, member)
    }

    /// The member's ordinal: its place in [`Platform::members`].
    fn ordinal(&self, member: &str) -> anyhow::Result<usize> {
        crate::platform::ordinal_of(self.manifest.name(), member).ok_or_else(|| anyhow!("no member {member}"))
    }

    async fn statefulset_uid(&self) -> anyhow::Result<String> {
        let sets = self.statefulsets();
        let sts = reread(|| sets.get(self.manifest.name())).await?;
        sts.metadata.uid.ok_or_else(|| anyhow!("StatefulSet {} has no uid", self.manifest.name()))
    }

    async fn controller_revisions(&self) -> anyhow::Result<Vec<ControllerRevision>> {
        let uid = self.statefulset_uid().await?;
        let api: Api<ControllerRevision> = Api::namespaced(self.client.clone(), &self.namespace);
        let lp = ListParams::default().labels(&self.selector());
        let mut revs: Vec<ControllerRevision> =
            reread(|| api.list(&lp)).await?.items.into_iter().filter(|r| r.metadata.owner_references.iter().flatten().any(|o| o.uid == uid)).collect();
        revs.sort_by_key(|r| r.revision);
        Ok(revs)
    }

    async fn stop_background(&self) {
        for task in std::mem::take(&mut *self.poller.lock().expect("poller lock")) {
            task.abort();
        }
        for (_, (_, task)) in std::mem::take(&mut *self.forwards.lock().await) {
            task.abort();
        }
    }
}

/// How long one watch request lasts before it is renewed (the server ends it then).
const WATCH_SECONDS: u32 = 240;

/// The pods' lifecycle: a list, then a watch from its resourceVersion; again from a new list when
/// the watch fails (a resourceVersion too old, a dropped connection). Runs until aborted.
async fn watch_pods(pods: Api<Pod>, selector: String, members: Vec<String>, life: Arc<LifecycleLog>, watched: Arc<Watched>) {
    let mut seen: BTreeMap<String, Snap> = BTreeMap::new();
    let see = |seen: &mut BTreeMap<String, Snap>, member: &str, now: Option<Snap>| {
        for (kind, detail) in lifecycle::diff(seen.get(member), now.as_ref()) {
            life.record(member, kind, detail);
        }
        match now {
            Some(s) => seen.insert(member.to_string(), s),
            None => seen.remove(member),
        };
    };
    loop {
        let list = match pods.list(&ListParams::default().labels(&selector)).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!("listing pods: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mine: BTreeMap<String, Pod> = list.items.into_iter().filter_map(|p| Some((p.metadata.name.clone().filter(|n| members.contains(n))?, p))).collect();
        let listed: BTreeMap<String, Snap> = mine.iter().map(|(n, p)| (n.clone(), Snap::of(p))).collect();
        watched.listed(mine);
        for m in &members {
            see(&mut seen, m, listed.get(m).cloned());
        }
        let mut version = list.metadata.resource_version.unwrap_or_default();
        'watching: loop {
            let wp = WatchParams::default().labels(&selector).timeout(WATCH_SECONDS).disable_bookmarks();
            let stream = match pods.watch(&wp, &version).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!("watching pods: {e}");
                    break 'watching;
                }
            };
            futures::pin_mut!(stream);
            while let Some(ev) = stream.next().await {
                let (pod, gone) = match ev {
                    Ok(WatchEvent::Added(p)) | Ok(WatchEvent::Modified(p)) => (p, false),
                    Ok(WatchEvent::Deleted(p)) => (p, true),
                    Ok(WatchEvent::Bookmark(b)) => {
                        version = b.metadata.resource_version;
                        continue;
                    }
                    Ok(WatchEvent::Error(e)) => {
                        tracing::debug!("pod watch: {e}");
                        break 'watching;
                    }
                    Err(e) => {
                        tracing::debug!("pod watch: {e}");
                        break 'watching;
                    }
                };
                if let Some(v) = &pod.metadata.resource_version {
                    version = v.clone();
                }
                let Some(name) = pod.metadata.name.clone().filter(|n| members.contains(n)) else { continue };
                // A Deleted event of an older pod of the same name (already replaced) changes nothing.
                let current = seen.get(&name).map(|s| s.uid.clone());
                if gone && current.is_some_and(|uid| Some(uid) != pod.metadata.uid) {
                    continue;
                }
                // The pod first, then its lifecycle events: they wake the waits, which read it.
                let snap = if gone { None } else { Some(Snap::of(&pod)) };
                watched.changed(&name, if gone { None } else { Some(pod) });
                see(&mut seen, &name, snap);
            }
        }
        watched.lost();
    }
}

/// The members' pods as the pod watch last delivered them: live from its first list until the
/// watch fails, stale (`None`) from then until the next list. A status read from here costs no
/// request and lags the API server by the watch's delivery (milliseconds on kind), where a GET
/// costs a round trip each time: the repeated looks of a wait read here.
#[derive(Default)]
pub struct Watched {
    pods: Mutex<Option<BTreeMap<String, Pod>>>,
}

impl Watched {
    fn listed(&self, pods: BTreeMap<String, Pod>) {
        *self.pods.lock().expect("watched lock") = Some(pods);
    }

    fn changed(&self, member: &str, pod: Option<Pod>) {
        if let Some(map) = self.pods.lock().expect("watched lock").as_mut() {
            match pod {
                Some(p) => map.insert(member.to_string(), p),
                None => map.remove(member),
            };
        }
    }

    fn lost(&self) {
        *self.pods.lock().expect("watched lock") = None;
    }

    /// `None`: the watch is not live, so nothing can be said from here. `Some(None)`: the watch
    /// says there is no such pod.
    pub fn pod(&self, member: &str) -> Option<Option<Pod>> {
        self.pods.lock().expect("watched lock").as_ref().map(|m| m.get(member).cloned())
    }
}

/// The kubelet's liveness Events (a count per Event: each repetition is one more failure). Those
/// listed at the start are dated by the kubelet; those watched, when they arrived.
async fn watch_events(events: Api<Event>, members: Vec<String>, life: Arc<LifecycleLog>) {
    let mut counts: BTreeMap<String, i32> = BTreeMap::new();
    let see = |counts: &mut BTreeMap<String, i32>, ev: &Event, arrived: Option<chrono::DateTime<chrono::Utc>>| {
        let Some(kind) = lifecycle::event_kind(ev) else { return };
        let member = ev.involved_object.name.clone().unwrap_or_default();
        if !members.contains(&member) {
            return;
        }
        let key = ev.metadata.uid.clone().or(ev.metadata.name.clone()).unwrap_or_default();
        let count = ev.count.unwrap_or(1);
        let before = counts.insert(key, count).unwrap_or(0);
        let kubelet_time = ev.last_timestamp.as_ref().and_then(|t| lifecycle::to_chrono(&t.0));
        let at = arrived.or(kubelet_time).unwrap_or_else(chrono::Utc::now);
        for _ in before..count {
            life.record_at(at, &member, kind, ev.message.clone().unwrap_or_default());
        }
    };
    loop {
        let list = match events.list(&ListParams::default()).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!("listing events: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        for ev in &list.items {
            see(&mut counts, ev, None);
        }
        let mut version = list.metadata.resource_version.unwrap_or_default();
        'watching: loop {
            let wp = WatchParams::default().timeout(WATCH_SECONDS).disable_bookmarks();
            let stream = match events.watch(&wp, &version).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!("watching events: {e}");
                    break 'watching;
                }
            };
            futures::pin_mut!(stream);
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(WatchEvent::Added(e)) | Ok(WatchEvent::Modified(e)) => {
                        if let Some(v) = &e.metadata.resource_version {
                            version = v.clone();
                        }
                        see(&mut counts, &e, Some(chrono::Utc::now()));
                    }
                    Ok(WatchEvent::Deleted(_)) | Ok(WatchEvent::Bookmark(_)) => {}
                    Ok(WatchEvent::Error(e)) => {
                        tracing::debug!("event watch: {e}");
                        break 'watching;
                    }
                    Err(e) => {
                        tracing::debug!("event watch: {e}");
                        break 'watching;
                    }
                }
            }
        }
    }
}

/// A member's status from its pod (`None`: no pod).
pub fn member_status(member: &str, ordinal: usize, pod: Option<&Pod>) -> MemberStatus {
    let Some(pod) = pod else { return MemberStatus::absent(member, ordinal) };
    let snap = Snap::of(pod);
    let status = pod.status.as_ref();
    let cs = status.and_then(|s| s.container_statuses.as_ref()).and_then(|c| c.first());
    // Why it is not running: Unschedulable (with the scheduler's message), CrashLoopBackOff, ...
    let reason = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled" && c.status == "False"))
        .map(|c| format!("{}: {}", c.reason.as_deref().unwrap_or("Unscheduled"), c.message.as_deref().unwrap_or("")))
        .or_else(|| cs.and_then(|c| c.state.as_ref()).and_then(|s| s.waiting.as_ref()).and_then(|w| w.reason.clone()))
        .or_else(|| status.and_then(|s| s.reason.clone()));
    MemberStatus {
        name: member.to_string(),
        ordinal,
        exists: true,
        running: snap.running,
        ready: snap.ready,
        restart_count: snap.restart_count,
        container_id: cs.and_then(|c| c.container_id.clone()),
        started_at: snap.started_at,
        revision: pod.metadata.labels.as_ref().and_then(|l| l.get("controller-revision-hash")).cloned(),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        phase: if snap.deleting { "Terminating".into() } else { status.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Pending".into()) },
        reason,
    }
}

/// The exit code an exec's final Status reports (kubelet: `NonZeroExitCode` with an `ExitCode` cause).
pub fn exit_code(status: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>) -> anyhow::Result<i64> {
    let Some(s) = status else { bail!("the exec stream ended without a status") };
    if s.status.as_deref() == Some("Success") {
        return Ok(0);
    }
    if s.reason.as_deref() == Some("NonZeroExitCode") {
        let causes = s.details.as_ref().and_then(|d| d.causes.as_ref());
        if let Some(c) = causes.and_then(|cs| cs.iter().find(|c| c.reason.as_deref() == Some("ExitCode"))) {
            let m = c.message.as_deref().unwrap_or("");
            return m.trim().parse().with_context(|| format!("exit code {m:?}"));
        }
    }
    bail!("exec failed: {} ({})", s.message.as_deref().unwrap_or(""), s.reason.as_deref().unwrap_or(""))
}

/// How long a port-forward opened ahead of need stays on offer (see [`forward_loop`]). The
/// runtime dials the server in the pod when the port-forward opens, and ZooKeeper closes a
/// connection that has not asked for a session within 10 s (its sessionless-connection timeout):
/// an older spare is closed and another opened.
const SPARE_FOR: Duration = Duration::from_secs(7);

/// How many port-forwards per member port are kept open ahead. A wait's look asks each member
/// `srvr` and the leader `mntr` too, and its looks overlap ([`crate::ensemble::OVERLAP`]): with
/// one spare, most exchanges of a look opened their own port-forward (about 50 ms here, and
/// several times that under load).
pub(super) const SPARES: usize = 3;

/// How often the spares are looked over: one that found nothing listening in the pod (the
/// member is starting or down) or is too old is replaced. Soon enough that a spare is ready
/// shortly after the server listens; while nothing does, one spare at a time is tried, so the
/// API server is asked at most this often.
const SPARE_CHECK: Duration = Duration::from_millis(200);

/// A port-forward opened before a connection needs it; closed when dropped unused.
struct Spare {
    pf: Option<kube::api::Portforwarder>,
    made: tokio::time::Instant,
    /// Resolves when the runtime reports an error for the port (nothing listened when it
    /// dialled) or the port-forward ended: either way the spare cannot carry a connection. Fused:
    /// once resolved it says so without being polled again.
    ended: futures::future::Fuse<futures::future::BoxFuture<'static, Option<String>>>,
}

impl Spare {
    fn open_for(&self) -> Duration {
        SPARE_FOR.saturating_sub(self.made.elapsed())
    }

    /// The runtime reported an error for the port, or the port-forward ended.
    fn ended(&mut self) -> bool {
        use futures::future::{FusedFuture, FutureExt};
        self.ended.is_terminated() || (&mut self.ended).now_or_never().is_some()
    }

    /// Still on offer and still able to carry a connection.
    fn usable(&mut self) -> bool {
        !self.open_for().is_zero() && !self.ended()
    }
}

impl Drop for Spare {
    fn drop(&mut self) {
        if let Some(pf) = &self.pf {
            pf.abort();
        }
    }
}

/// Accepts connections on `listener` and forwards each through a port-forward to `pod:port`.
///
/// Opening a port-forward (a WebSocket to the API server, the kubelet's stream, the runtime's
/// dial into the pod) is most of what a new connection would wait for, and the harness opens one
/// for each probe of a member: up to [`SPARES`] are kept open ahead ([`SPARE_FOR`]), the oldest
/// taken by the next connection and replaced at once; one that found nothing listening or is too
/// old is replaced within [`SPARE_CHECK`]. Both loops run in this task, so aborting it ends both.
async fn forward_loop(listener: tokio::net::TcpListener, pods: Api<Pod>, pod: String, port: u16) {
    let pool: Mutex<std::collections::VecDeque<Spare>> = Mutex::new(Default::default());
    let taken = tokio::sync::Notify::new();
    let accept = async {
        loop {
            let Ok((conn, _)) = listener.accept().await else { return };
            let spare = {
                let mut pool = pool.lock().expect("spare lock");
                pool.retain_mut(Spare::usable);
                pool.pop_front()
            };
            if spare.is_some() {
                taken.notify_one();
            }
            let pf = spare.and_then(|mut s| s.pf.take());
            tokio::spawn(forward(conn, pf, pods.clone(), pod.clone(), port));
        }
    };
    let spares = async {
        // The last spares opened found nothing listening, or could not be opened: open one at a
        // time until one stays up.
        let mut probing = false;
        let mut opened_last = 0;
        loop {
            let missing = {
                let mut pool = pool.lock().expect("spare lock");
                let before = pool.len();
                pool.retain_mut(|s| !s.ended());
                if pool.len() < before {
                    probing = true;
                } else if opened_last > 0 {
                    probing = false;
                }
                pool.retain_mut(|s| !s.open_for().is_zero());
                SPARES - pool.len()
            };
            let want = if probing { missing.min(1) } else { missing };
            let opened: Vec<Spare> = futures::future::join_all((0..want).map(|_| open_spare(&pods, &pod, port))).await.into_iter().flatten().collect();
            opened_last = opened.len();
            let wait = if opened_last < want {
                // The pod may be gone for a while (deleted, re-created): try again, slowly.
                probing = true;
                Duration::from_millis(500)
            } else {
                SPARE_CHECK
            };
            pool.lock().expect("spare lock").extend(opened);
            let _ = tokio::time::timeout(wait, taken.notified()).await;
        }
    };
    tokio::select! {
        () = accept => {}
        () = spares => {}
    }
}

/// Opens a port-forward to `pod:port` to keep ahead of need; `None` when it could not be opened
/// (the pod may be gone for a while: deleted, re-created).
async fn open_spare(pods: &Api<Pod>, pod: &str, port: u16) -> Option<Spare> {
    let made = tokio::time::Instant::now();
    match pods.portforward(pod, &[port]).await {
        Ok(mut pf) => {
            tracing::trace!("port-forward to {pod}:{port}: a spare opened in {} ms", made.elapsed().as_millis());
            use futures::FutureExt;
            let ended = match pf.take_error(port) {
                Some(e) => Box::pin(e) as futures::future::BoxFuture<'static, Option<String>>,
                None => Box::pin(async { None }),
            };
            Some(Spare { pf: Some(pf), made, ended: ended.fuse() })
        }
        Err(e) => {
            tracing::trace!("port-forward to {pod}:{port}: no spare: {e}");
            None
        }
    }
}

/// Forwards one accepted connection through `spare`, or a port-forward opened for it.
async fn forward(mut conn: tokio::net::TcpStream, spare: Option<kube::api::Portforwarder>, pods: Api<Pod>, pod: String, port: u16) {
    let mut pf = match spare {
        Some(pf) => pf,
        None => match pods.portforward(&pod, &[port]).await {
            Ok(pf) => pf,
            Err(e) => {
                tracing::debug!("port-forward to {pod}:{port}: {e}");
                return;
            }
        },
    };
    let Some(mut upstream) = pf.take_stream(port) else { return };
    if let Err(e) = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await {
        tracing::debug!("port-forward to {pod}:{port} ended: {e}");
    }
    drop(upstream);
    let _ = pf.join().await;
}

/// Deletes a namespace as a run's teardown does: its pods first and at once, then the namespace.
/// A namespace waits for its pods' termination grace, and a container whose PID 1 ignores SIGTERM
/// (the walkthrough's `sh -c`) takes all of it, more than the cleanup timeout when a suite left a
/// member restarting. `Ok(false)`: the namespace was already gone.
pub async fn delete_namespace_now(client: &Client, ns: &str) -> Result<bool, kube::Error> {
    let now = DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::background() };
    if let Err(e) = Api::<Pod>::namespaced(client.clone(), ns).delete_collection(&now, &ListParams::default()).await {
        tracing::debug!("deleting the pods of {ns} at once: {e}");
    }
    match Api::<Namespace>::all(client.clone()).delete(ns, &DeleteParams::background()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// The message of the newest of `events` (FailedCreate Events of the StatefulSet) about `member`.
pub fn failed_create_message(events: &[Event], member: &str) -> Option<String> {
    let quoted = format!("\"{member}\"");
    let spaced = format!("Pod {member} ");
    events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("FailedCreate"))
        .filter(|e| e.message.as_deref().is_some_and(|m| m.contains(&quoted) || m.contains(&spaced)))
        .max_by_key(|e| e.last_timestamp.as_ref().map(|t| t.0).or(e.event_time.as_ref().map(|t| t.0)))
        .map(|e| format!("FailedCreate: {}", e.message.clone().unwrap_or_default()))
}

/// Sends a read again when the connection failed under it, up to 3 more times (100, 200, 300 ms
/// apart): a pooled connection the API server closed just as it was reused fails with "connection
/// closed before message completed", though the server never saw the request. Only for reads,
/// which are safe to repeat; an answer of the API server (an error status) is returned as it is.
pub async fn reread<T, F, Fut>(mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut tries = 0u64;
    loop {
        match call().await {
            Err(e @ (kube::Error::Service(_) | kube::Error::HyperError(_))) if tries < 3 => {
                tries += 1;
                tracing::debug!("read failed in transport ({e}); again, try {tries} of 3");
                tokio::time::sleep(Duration::from_millis(100 * tries)).await;
            }
            other => return other,
        }
    }
}

/// `status.updateRevision` once `status.observedGeneration` has reached `metadata.generation`
/// (as `kubectl rollout status` decides that the controller has seen the change).
pub fn observed_update_revision(s: &StatefulSet) -> Option<String> {
    let status = s.status.as_ref()?;
    let seen = status.observed_generation?;
    (seen >= s.metadata.generation.unwrap_or(0)).then(|| status.update_revision.clone()).flatten()
}

#[async_trait]
impl Platform for KubePlatform {
    fn kind(&self) -> PlatformKind {
        self.kind
    }
    fn run_id(&self) -> &str {
        &self.run_id
    }
    fn namespace(&self) -> &str {
        &self.namespace
    }
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    fn notes(&self) -> Vec<String> {
        let mut n = vec![format!("context {}, namespace {}", self.context, self.namespace)];
        n.extend(self.notes.lock().expect("notes lock").iter().cloned());
        n
    }

    async fn deploy(&self) -> anyhow::Result<()> {
        if self.adopted {
            // Nothing to apply: the ensemble must already be whole, as the user runs it.
            self.start_poller();
            for m in self.members() {
                self.wait_ready(&m, self.config.timeouts.member_ready).await.context("the adopted ensemble is not whole")?;
            }
            return Ok(());
        }
        self.ensure_namespace().await?;
        if !self.own_namespace {
            self.note(format!("namespace {} given with --namespace: the run removes only its own objects from it", self.namespace));
        }
        self.start_poller();
        // Services and the budget first, the StatefulSet last (as `kubectl apply -f` does in file order).
        for d in self.manifest.documents.iter().filter(|d| !crate::manifest::is_statefulset(d)) {
            self.apply(d).await?;
        }
        self.apply(self.manifest.statefulset_document()).await?;
        for m in self.members() {
            self.wait_ready(&m, self.config.timeouts.member_ready).await?;
        }
        Ok(())
    }

    fn members(&self) -> Vec<String> {
        crate::platform::member_names(self.manifest.name(), self.replicas.load(std::sync::atomic::Ordering::SeqCst))
    }

    async fn status(&self, member: &str) -> anyhow::Result<MemberStatus> {
        let ordinal = self.ordinal(member)?;
        let pods = self.pods();
        let pod = reread(|| pods.get_opt(member)).await?;
        Ok(member_status(member, ordinal, pod.as_ref()))
    }

    async fn watched_status(&self, member: &str) -> anyhow::Result<MemberStatus> {
        let ordinal = self.ordinal(member)?;
        match self.watched.pod(member) {
            Some(pod) => Ok(member_status(member, ordinal, pod.as_ref())),
            None => self.status(member).await,
        }
    }

    async fn client_addr(&self, member: &str) -> anyhow::Result<SocketAddr> {
        let mut fw = self.forwards.lock().await;
        if let Some((addr, _)) = fw.get(member) {
            return Ok(*addr);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding a loopback port for port-forward")?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(forward_loop(listener, self.pods(), member.to_string(), self.client_port()));
        fw.insert(member.to_string(), (addr, task));
        Ok(addr)
    }

    async fn exec(&self, member: &str, argv: &[&str]) -> anyhow::Result<ExecOutput> {
        self.exec_in(member, None, argv).await
    }

    async fn signal_container(&self, member: &str, signal: &str) -> anyhow::Result<String> {
        self.signal_from_node(member, signal).await
    }

    async fn cut(&self, cut: &Cut) -> anyhow::Result<()> {
        self.cut_member(cut).await
    }

    async fn mend(&self, member: &str) -> anyhow::Result<()> {
        self.mend_member(member).await
    }

    async fn cut_counters(&self, member: &str) -> anyhow::Result<CutCounters> {
        self.counters_of(member).await
    }

    async fn reaches(&self, from: &str, to: &str, port: u16) -> anyhow::Result<bool> {
        self.probe(from, to, port).await
    }

    async fn prepare_cuts(&self, members: &[String]) -> anyhow::Result<()> {
        if self.adopted {
            self.note(format!(
                "the partition helper ({}) runs as an ephemeral container of each adopted member's pod; Kubernetes cannot remove an ephemeral container, \
                 so it stays (idle, its rules removed) until the pod is next re-created",
                crate::platform::netfilter::image()
            ));
        }
        futures::future::try_join_all(members.iter().map(|m| self.helper(m))).await.map(drop)
    }

    async fn logs(&self, member: &str, tail: Option<usize>) -> anyhow::Result<String> {
        let lp = LogParams { tail_lines: tail.map(|t| t as i64), ..LogParams::default() };
        Ok(self.pods().logs(member, &lp).await?)
    }

    async fn volumes(&self, member: &str) -> anyhow::Result<Vec<VolumeIdentity>> {
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &self.namespace);
        let pvs: Api<PersistentVolume> = Api::all(self.client.clone());
        let mut out = Vec::new();
        for t in self.manifest.pod_template().claim_templates {
            let claim = format!("{t}-{member}");
            let Some(pvc) = pvcs.get_opt(&claim).await? else { continue };
            let id = match pvc.spec.as_ref().and_then(|s| s.volume_name.clone()) {
                Some(pv) => pvs.get(&pv).await?.metadata.uid.unwrap_or(pv),
                None => bail!("{claim} is not bound to a volume yet"),
            };
            out.push(VolumeIdentity { claim, id });
        }
        Ok(out)
    }

    fn lifecycle(&self) -> Vec<LifecycleEvent> {
        self.life.events()
    }
    fn subscribe(&self) -> watch::Receiver<u64> {
        self.life.subscribe()
    }

    async fn delete_statefulset(&self) -> anyhow::Result<()> {
        self.statefulsets().delete(self.manifest.name(), &DeleteParams::background()).await?;
        Ok(())
    }

    async fn apply_statefulset(&self) -> anyhow::Result<()> {
        if self.adopted {
            return self.recreate_as_found().await;
        }
        self.apply(self.manifest.statefulset_document()).await
    }

    async fn statefulset_change_refused(&self, change: StatefulSetChange) -> anyhow::Result<Option<String>> {
        if !self.adopted {
            return Ok(None);
        }
        Ok(adopt::change_refused(&self.live_statefulset().await?, change))
    }

    async fn patch_statefulset(&self, patch: &json_patch::Patch) -> anyhow::Result<()> {
        self.statefulsets().patch(self.manifest.name(), &PatchParams::default(), &Patch::<()>::Json(patch.clone())).await?;
        Ok(())
    }

    /// Through the StatefulSet's scale subresource, as `kubectl scale` does; the controller then
    /// creates or removes the pods.
    async fn scale(&self, replicas: usize) -> anyhow::Result<()> {
        let patch = serde_json::json!({ "spec": { "replicas": replicas } });
        self.statefulsets()
            .patch_scale(self.manifest.name(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .with_context(|| format!("scaling StatefulSet {} to {replicas} replicas", self.manifest.name()))?;
        self.replicas.store(replicas, std::sync::atomic::Ordering::SeqCst);
        self.life.poke();
        Ok(())
    }

    async fn revisions(&self) -> anyhow::Result<Vec<Revision>> {
        Ok(self
            .controller_revisions()
            .await?
            .into_iter()
            .map(|r| Revision {
                number: r.revision,
                // The revision's name: what pods carry as their controller-revision-hash label.
                hash: r.metadata.name.clone().unwrap_or_default(),
                template: r.data.as_ref().and_then(|d| d.0.pointer("/spec/template").cloned()).unwrap_or(Value::Null),
            })
            .collect())
    }

    async fn update_revision(&self) -> anyhow::Result<Option<String>> {
        let sets = self.statefulsets();
        let s = reread(|| sets.get(self.manifest.name())).await?;
        Ok(observed_update_revision(&s))
    }

    /// As `kubectl rollout undo`: the previous revision's data applied as a strategic merge patch.
    async fn rollback(&self) -> anyhow::Result<()> {
        let revs = self.controller_revisions().await?;
        if revs.len() < 2 {
            bail!("StatefulSet {} has {} revision(s); nothing to roll back to", self.manifest.name(), revs.len());
        }
        let prev = &revs[revs.len() - 2];
        let data = prev.data.as_ref().map(|d| d.0.clone()).ok_or_else(|| anyhow!("revision {} has no data", prev.revision))?;
        self.statefulsets().patch(self.manifest.name(), &PatchParams::default(), &Patch::Strategic(data)).await?;
        Ok(())
    }

    fn cluster(&self) -> Option<&dyn Cluster> {
        Some(self)
    }

    fn teardown_allowance(&self) -> Duration {
        if self.kind_cluster.is_some() && self.delete_cluster {
            Duration::from_secs(120)
        } else {
            Duration::ZERO
        }
    }

    async fn teardown(&self) -> anyhow::Result<()> {
        self.stop_background().await;
        let mut errors = Vec::new();
        // Nodes this run cordoned and did not uncordon (an interrupted maintenance suite).
        if self.cordoned_any.load(std::sync::atomic::Ordering::SeqCst) {
            match self.still_cordoned().await {
                Ok(left) => {
                    for n in left {
                        if let Err(e) = Cluster::uncordon(self, &n).await {
                            errors.push(format!("uncordon {n}: {e:#}"));
                        }
                    }
                }
                Err(e) => errors.push(format!("listing the nodes this run cordoned: {e:#}")),
            }
        }
        if self.adopted {
            // Nothing of an adopted ensemble is the run's to remove. A fault that deleted the
            // StatefulSet and was interrupted before its revert left it to here: re-create it.
            let sets = self.statefulsets();
            let gone = reread(|| sets.get_opt(self.manifest.name())).await;
            match gone {
                Ok(None) => {
                    if let Err(e) = self.recreate_as_found().await {
                        errors.push(format!("re-creating the adopted StatefulSet {}: {e:#}", self.manifest.name()));
                    }
                }
                Ok(Some(_)) => {}
                Err(e) => errors.push(format!("reading the adopted StatefulSet {}: {e}", self.manifest.name())),
            }
        } else if let Some(k) = self.kind_cluster.as_ref().filter(|_| self.delete_cluster) {
            if let Err(e) = k.delete().await {
                errors.push(format!("{e:#}"));
            }
        } else if self.own_namespace {
            let api: Api<Namespace> = Api::all(self.client.clone());
            if let Err(e) = delete_namespace_now(&self.client, &self.namespace).await {
                errors.push(format!("deleting namespace {}: {e}", self.namespace));
            }
            if errors.is_empty() {
                // Namespace deletion removes the PVCs with it; wait until it is really gone.
                while api.get_opt(&self.namespace).await.map(|n| n.is_some()).unwrap_or(true) {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        } else {
            let c = self.client.clone();
            let ns = self.namespace.as_str();
            let dp = DeleteParams::background();
            let name = self.manifest.name();
            let mut gone = |r: Result<(), kube::Error>, what: String| match r {
                Ok(()) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => errors.push(format!("deleting {what}: {e}")),
            };
            gone(Api::<StatefulSet>::namespaced(c.clone(), ns).delete(name, &dp).await.map(drop), format!("StatefulSet {name}"));
            // Every other object of the manifest (Services, the budget, ConfigMaps, Secrets, RBAC, ...).
            for d in self.manifest.documents.iter().filter(|d| !crate::manifest::is_statefulset(d)) {
                let (api, kind, n) = objects::api_of(&c, ns, d).expect("a parsed manifest holds only kinds with a resource");
                gone(api.delete(&n, &dp).await.map(drop), format!("{kind} {n}"));
            }
            let lp = ListParams::default().labels(&format!("{RUN_LABEL}={}", self.run_id));
            gone(Api::<PersistentVolumeClaim>::namespaced(c.clone(), ns).delete_collection(&dp, &lp).await.map(drop), "the run's PersistentVolumeClaims".into());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            bail!("cleanup of run {}: {}", self.run_id, errors.join("; "))
        }
    }

    fn keep_instructions(&self) -> String {
        let ns = &self.namespace;
        let ctx = &self.context;
        if self.adopted {
            return format!(
                "the adopted ensemble (StatefulSet {}) runs on in namespace {ns} on context {ctx}, as found; the run created nothing to remove\n",
                self.manifest.name()
            );
        }
        let mut s = format!(
            "kept: the ensemble runs in namespace {ns} on context {ctx}.\n  reach a member: kubectl --context {ctx} -n {ns} port-forward pod/{}-0 2181\n",
            self.manifest.name()
        );
        match &self.kind_cluster {
            Some(k) => s.push_str(&format!("  kubeconfig: {}\n  remove it: kind delete cluster --name {}\n", k.kubeconfig.display(), k.name)),
            None if self.own_namespace => s.push_str(&format!("  remove it: kubectl --context {ctx} delete namespace {ns}\n")),
            None => s.push_str(&format!(
                "  remove it: kubectl --context {ctx} -n {ns} delete statefulset,service,poddisruptionbudget,configmap,secret,serviceaccount,networkpolicy,role,rolebinding,pvc \
                 -l {RUN_LABEL}={} ; kubectl --context {ctx} -n {ns} delete statefulset/{}\n",
                self.run_id,
                self.manifest.name()
            )),
        }
        s
    }
}
