//! The Kubernetes platform: the manifest's objects applied (server-side apply, field manager
//! `zk-chaos`) into a namespace of their own on a cluster reached through a kubeconfig, as kubectl
//! would. Members' client ports are reached by port-forward; exec, logs, restarts and readiness
//! come from the API server. `kind` (see [`kind`]) is this platform on a cluster zk-chaos creates.

pub mod adopt;
pub mod clean;
pub mod cluster;
pub mod connect;
mod forward;
pub mod kind;
pub mod lifecycle;
#[cfg(any(test, feature = "testing"))]
pub mod mock;
pub mod objects;
pub mod partition;
mod platform;
mod retry;
pub mod safety;
pub mod signal;
mod status;
#[cfg(test)]
mod tests;
mod watches;

use forward::forward_loop;
pub use retry::reread;
pub use status::{exit_code, failed_create_message, member_status, observed_update_revision};
pub use watches::Watched;
use watches::{watch_events, watch_pods};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Namespace, Pod};
use kube::api::{Api, AttachParams, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

use crate::config::Config;
use crate::manifest::Manifest;
use crate::platform::lifecycle_log::LifecycleLog;
use crate::platform::run_labels;
use crate::platform::{ExecOutput, Identity, Platform, PlatformKind, RUN_LABEL};
use crate::wait::{self, Seen};

/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "zk-chaos";

pub struct KubePlatform {
    client: Client,
    identity: Identity,
    context: String,
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
    /// `0..replicas`. The pod watch follows every pod of the StatefulSet named by an ordinal, so a
    /// member added by a scale-up is watched like the others.
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
            identity: Identity { kind: PlatformKind::Kube, run_id, namespace },
            context,
            own_namespace,
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
            self.identity.namespace
        ));
        self.note(format!(
            "the suites' znodes stay in the adopted ensemble: /hello (created only if absent, as the walkthrough writes it) and what they wrote under /zk-chaos/{}",
            self.identity.run_id
        ));
        self
    }

    /// The adopted StatefulSet, re-created exactly as found (the copy without what the server
    /// set), after a fault deleted it. A StatefulSet of the same name still being deleted (its
    /// finalizers) is waited for, up to the operation timeout.
    async fn recreate_as_found(&self) -> anyhow::Result<()> {
        let doc = objects::into_namespace(self.manifest.statefulset_document(), &self.identity.namespace);
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
        tracing::info!("re-created StatefulSet {name} in {} as it was found", self.identity.namespace);
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
        self.identity.kind = PlatformKind::Kind;
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
        Api::namespaced(self.client.clone(), &self.identity.namespace)
    }
    fn statefulsets(&self) -> Api<StatefulSet> {
        Api::namespaced(self.client.clone(), &self.identity.namespace)
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
        let mut d = objects::into_namespace(doc, &self.identity.namespace);
        d["metadata"]["labels"][RUN_LABEL] = json!(self.identity.run_id);
        d["metadata"]["labels"][crate::ownership::HOST_LABEL] = json!(crate::ownership::this_host());
        if crate::manifest::is_statefulset(&d) {
            if let Some(vcts) = d.pointer_mut("/spec/volumeClaimTemplates").and_then(Value::as_array_mut) {
                for v in vcts {
                    v["metadata"]["labels"][RUN_LABEL] = json!(self.identity.run_id);
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
        let (api, kind, name) = objects::api_of(&self.client, &self.identity.namespace, &d).with_context(|| self.manifest.origin.clone())?;
        api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&d)).await.with_context(|| format!("applying {kind} {name}"))?;
        tracing::info!("applied {kind} {name} in {}", self.identity.namespace);
        Ok(())
    }

    async fn ensure_namespace(&self) -> anyhow::Result<()> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        if self.own_namespace {
            let ns: Namespace = serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": self.identity.namespace, "labels": run_labels(&self.identity.run_id)}
            }))?;
            api.create(&PostParams::default(), &ns).await.with_context(|| format!("creating namespace {}", self.identity.namespace))?;
        } else if api.get_opt(&self.identity.namespace).await?.is_none() {
            bail!("namespace {} does not exist on context {} (drop --namespace to let zk-chaos create one)", self.identity.namespace, self.context);
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
        let events: Api<Event> = Api::namespaced(self.client.clone(), &self.identity.namespace);
        let name = self.manifest.name().to_string();
        let selector = self.selector();
        let pod_task = tokio::spawn(watch_pods(pods, selector, name.clone(), self.life.clone(), self.watched.clone()));
        let event_task = tokio::spawn(watch_events(events, name, self.life.clone()));
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
        let events: Api<Event> = Api::namespaced(self.client.clone(), &self.identity.namespace);
        let fields = format!("involvedObject.kind=StatefulSet,involvedObject.name={},reason=FailedCreate", self.manifest.name());
        let list = events.list(&ListParams::default().fields(&fields)).await.map_err(|e| tracing::debug!("listing FailedCreate events: {e}")).ok()?;
        failed_create_message(&list.items, member)
    }

    /// The member's ordinal, from its name: a member scaled away is still asked about.
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
        let api: Api<ControllerRevision> = Api::namespaced(self.client.clone(), &self.identity.namespace);
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
