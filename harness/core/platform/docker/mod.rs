//! The Docker platform: runs the StatefulSet's pod template as containers on one Docker host,
//! acting as the StatefulSet controller (ordered creation, rolling updates with revisions) and
//! as the kubelet (see [`pod`]). The headless Service is a network on which each member answers
//! to its FQDN; each member's client port is published on loopback.
//!
//! Over 600 lines: the Platform trait's methods are each short; the pod lifecycle is in [`pod`], the
//! engine's connection in `engine.rs`, the image build in `image.rs`.

pub mod engine;
pub mod host;
pub mod image;
pub mod pod;
pub mod tar;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use async_trait::async_trait;
use bollard::Docker;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{watch, Mutex};

use self::pod::{Pod, PodSpec};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::manifest::{Manifest, PodTemplate};
use crate::platform::lifecycle_log::LifecycleLog;
use crate::platform::{
    netfilter, Cut, CutCounters, ExecOutput, Identity, LifecycleEvent, LifecycleKind, MemberStatus, Partitions, Platform, PlatformKind, Revision, VolumeIdentity, RUN_LABEL,
};
use crate::wait::{self, Seen};

pub struct DockerPlatform {
    docker: Docker,
    /// The engine's address and what named it, for the report's notes.
    engine: host::Found,
    identity: Identity,
    manifest: Manifest,
    config: Config,
    network: String,
    image: String,
    /// The partition helper's image ([`netfilter`]).
    netfilter_image: String,
    /// Each member's loopback ports; a member added by a scale-up gets its own then.
    host_ports: std::sync::Mutex<BTreeMap<String, BTreeMap<u16, u16>>>,
    /// The StatefulSet's replicas now ([`Platform::scale`]): the members are `0..replicas`.
    replicas: std::sync::atomic::AtomicUsize,
    life: Arc<LifecycleLog>,
    state: Arc<Mutex<State>>,
    controller: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// The StatefulSet as the controller knows it, and its pods.
struct State {
    pods: BTreeMap<String, Pod>,
    /// The StatefulSet object (JSON), as applied and patched.
    statefulset: Value,
    revisions: Vec<Revision>,
}

impl DockerPlatform {
    /// Connects to the engine and checks the image is there. Creates nothing yet.
    pub async fn connect(manifest: Manifest, config: Config, run_id: String) -> Result<DockerPlatform> {
        let (docker, found) = engine::connect_found().await?;
        let image = manifest.pod_template().image.ok_or_else(|| Error::bad_input(format!("{}: the container has no image", manifest.origin)))?;
        // Every image of the pod template, init containers' included: none can be pulled.
        for wanted in manifest.images() {
            if docker.inspect_image(&wanted).await.is_err() {
                return Err(Error::unavailable(format!(
                    "the image {wanted} is not in the local Docker engine, and no registry can be reached to pull it. \
                     Build it with `zk-chaos image build` (it makes the base with debootstrap from Debian's packages), \
                     or run it as an image the engine has: --image-map {wanted}=LOCAL (or `image:` in the config for every container)."
                )));
            }
        }
        let host_ports = reserve_ports(&manifest, &manifest.member_names())?;
        let statefulset = manifest.statefulset_document().clone();
        Ok(DockerPlatform {
            identity: Identity { kind: PlatformKind::Docker, run_id: run_id.clone(), namespace: manifest.namespace().to_string() },
            network: run_id.clone(),
            image,
            netfilter_image: netfilter::image(),
            host_ports: std::sync::Mutex::new(host_ports),
            replicas: std::sync::atomic::AtomicUsize::new(manifest.replicas()),
            life: Arc::new(LifecycleLog::new()),
            state: Arc::new(Mutex::new(State { pods: BTreeMap::new(), statefulset, revisions: Vec::new() })),
            controller: std::sync::Mutex::new(None),
            docker,
            engine: found,
            manifest,
            config,
        })
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The shared pieces the controller's background tasks need.
    fn controller_ctx(&self) -> Controller {
        Controller {
            docker: self.docker.clone(),
            run_id: self.identity.run_id.clone(),
            network: self.network.clone(),
            image: self.image.clone(),
            domain: format!("{}.{}.svc.cluster.local", self.manifest.service_name(), self.identity.namespace),
            members: self.members(),
            objects: Arc::new(crate::manifest::resolve::Objects::of(&self.manifest)),
            manifest: Arc::new(self.manifest.clone()),
            namespace: self.identity.namespace.clone(),
            host_ports: self.host_ports.lock().expect("ports lock").clone(),
            ordered: self.manifest.ordered_ready(),
            ready_deadline: self.config.timeouts.member_ready,
            op_timeout: self.config.timeouts.operation,
            life: self.life.clone(),
            state: self.state.clone(),
        }
    }

    /// Runs `task` as the StatefulSet controller's current work, replacing any earlier one.
    fn control(&self, task: impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static) {
        let handle = tokio::spawn(async move {
            if let Err(e) = task.await {
                tracing::warn!("StatefulSet controller: {e:#}");
            }
        });
        if let Some(old) = self.controller.lock().expect("controller lock").replace(handle) {
            old.abort();
        }
    }

    /// The member's address on the run's network (its running container's).
    async fn member_ip(&self, member: &str) -> anyhow::Result<String> {
        let id = self.running_container(member).await?;
        let c = self.docker.inspect_container(&id, None).await.with_context(|| format!("inspecting {member}"))?;
        c.network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(&self.network))
            .and_then(|e| e.ip_address)
            .filter(|ip| !ip.is_empty())
            .with_context(|| format!("{member} has no address on {}", self.network))
    }

    /// Runs `script` in the partition helper in `member`'s network namespace (with CAP_NET_ADMIN
    /// when `admin`), within the operation timeout: its exit code and output.
    async fn in_network_of(&self, member: &str, script: String, admin: bool) -> anyhow::Result<(i64, String)> {
        use bollard::models::ContainerCreateBody as ContainerConfig;
        use bollard::models::HostConfig;
        use std::sync::atomic::{AtomicU64, Ordering};
        static HELPERS: AtomicU64 = AtomicU64::new(0);
        if self.docker.inspect_image(&self.netfilter_image).await.is_err() {
            bail!(
                "the partition helper image {} is not in the Docker engine: build it with `zk-chaos image build` (or bash ci/build-image.sh), which builds it beside the fixture image",
                self.netfilter_image
            );
        }
        let id = self.running_container(member).await?;
        let name = format!("{}-{member}-net-{}", self.identity.run_id, HELPERS.fetch_add(1, Ordering::SeqCst));
        let config = ContainerConfig {
            image: Some(self.netfilter_image.clone()),
            user: Some("0".into()),
            entrypoint: Some(vec!["sh".into(), "-c".into(), script]),
            labels: Some(crate::platform::run_labels(&self.identity.run_id)),
            host_config: Some(HostConfig { network_mode: Some(format!("container:{id}")), cap_add: admin.then(|| vec!["NET_ADMIN".to_string()]), ..Default::default() }),
            ..Default::default()
        };
        let timeout = self.config.timeouts.operation;
        tokio::time::timeout(timeout, pod::run_to_end(&self.docker, &name, config))
            .await
            .map_err(|_| anyhow::anyhow!("the partition helper in {member}'s network did not finish within {}", humantime::format_duration(timeout)))?
    }

    /// [`Self::in_network_of`] with CAP_NET_ADMIN, failing unless the script exits 0.
    async fn netfilter(&self, member: &str, what: &str, script: String) -> anyhow::Result<String> {
        match self.in_network_of(member, script, true).await? {
            (0, out) => Ok(out),
            (code, out) => bail!("{what} in {member}'s network namespace exited {code}: {}", out.trim()),
        }
    }

    async fn running_container(&self, member: &str) -> anyhow::Result<String> {
        let s = self.status(member).await?;
        match (s.running, s.container_id) {
            (true, Some(id)) => Ok(id),
            _ => bail!("{member} has no running container ({}{})", s.phase, s.reason.map(|r| format!(": {r}")).unwrap_or_default()),
        }
    }
}

/// Stable loopback ports for each of `members`, like a Service in front of each pod: reserved
/// together, then released for the containers to bind.
fn reserve_ports(manifest: &Manifest, members: &[String]) -> Result<BTreeMap<String, BTreeMap<u16, u16>>> {
    let mut host_ports = BTreeMap::new();
    let mut held = Vec::new();
    for m in members {
        let mut ports = BTreeMap::new();
        for p in manifest.pod_template().ports {
            let l = std::net::TcpListener::bind("127.0.0.1:0").context("reserving a loopback port")?;
            ports.insert(p.container_port, l.local_addr().context("loopback port")?.port());
            held.push(l);
        }
        host_ports.insert(m.clone(), ports);
    }
    Ok(host_ports)
}

/// What the StatefulSet controller's tasks work with.
#[derive(Clone)]
struct Controller {
    docker: Docker,
    run_id: String,
    network: String,
    image: String,
    domain: String,
    members: Vec<String>,
    objects: Arc<crate::manifest::resolve::Objects>,
    manifest: Arc<Manifest>,
    namespace: String,
    host_ports: BTreeMap<String, BTreeMap<u16, u16>>,
    ordered: bool,
    ready_deadline: Duration,
    op_timeout: Duration,
    life: Arc<LifecycleLog>,
    state: Arc<Mutex<State>>,
}

impl Controller {
    fn pod_spec(&self, ordinal: usize, template: PodTemplate, revision: &str) -> PodSpec {
        let member = self.members[ordinal].clone();
        PodSpec {
            run_id: self.run_id.clone(),
            host_ports: self.host_ports[&member].clone(),
            member,
            ordinal,
            domain: self.domain.clone(),
            network: self.network.clone(),
            image: template.image.clone().unwrap_or_else(|| self.image.clone()),
            template,
            revision: revision.to_string(),
            op_timeout: self.op_timeout,
            objects: self.objects.clone(),
            facts: self.manifest.pod_facts(&self.members[ordinal], &self.namespace),
            aliases: pod::dns_aliases(&self.members[ordinal], self.manifest.service_name(), &self.namespace, self.manifest.governs_members()),
        }
    }

    async fn current(&self) -> anyhow::Result<(PodTemplate, String)> {
        let st = self.state.lock().await;
        let rev = st.revisions.last().context("the StatefulSet has no revision")?;
        Ok((template_of(&st.statefulset)?, rev.hash.clone()))
    }

    async fn wait_ready(&self, member: &str) -> anyhow::Result<()> {
        let state = self.state.clone();
        wait::until(&format!("{member} Running and Ready"), self.ready_deadline, Some(self.life.subscribe()), || {
            let state = state.clone();
            async move {
                let st = state.lock().await;
                Ok(match st.pods.get(member).map(Pod::status) {
                    Some(s) if s.ready => Seen::Done(()),
                    Some(s) => Seen::NotYet(format!("{} {}", s.phase, s.reason.unwrap_or_default())),
                    None => Seen::NotYet("no pod".into()),
                })
            }
        })
        .await
    }

    /// Creates the missing pods, in ordinal order; with OrderedReady each waits for the one
    /// before it to be Running and Ready.
    async fn create_pods(&self) -> anyhow::Result<()> {
        let (template, revision) = self.current().await?;
        for ordinal in 0..self.members.len() {
            let member = &self.members[ordinal];
            {
                let mut st = self.state.lock().await;
                if !st.pods.contains_key(member) {
                    let pod = Pod::spawn(self.docker.clone(), self.pod_spec(ordinal, template.clone(), &revision), self.life.clone());
                    st.pods.insert(member.clone(), pod);
                }
            }
            if self.ordered {
                self.wait_ready(member).await?;
            }
        }
        Ok(())
    }

    /// Deletes one pod and returns when it is gone. It stays visible (Terminating, its container
    /// still running through the grace period) until then, as on Kubernetes.
    async fn delete_pod(&self, member: &str) {
        {
            let st = self.state.lock().await;
            match st.pods.get(member) {
                Some(pod) => pod.terminate(),
                None => return,
            }
        }
        loop {
            {
                let mut st = self.state.lock().await;
                if st.pods.get(member).is_none_or(|pod| pod.is_gone()) {
                    st.pods.remove(member);
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.life.poke();
    }

    /// A scale-down: deletes every pod from the highest ordinal down to `replicas`, one at a time,
    /// each gone before the next goes (as the StatefulSet controller does); their volumes stay.
    async fn remove_pods_above(&self, replicas: usize) -> anyhow::Result<()> {
        let mut doomed: Vec<(usize, String)> = {
            let st = self.state.lock().await;
            st.pods.keys().filter_map(|m| crate::platform::ordinal_of(self.manifest.name(), m).filter(|o| *o >= replicas).map(|o| (o, m.clone()))).collect()
        };
        doomed.sort();
        for (_, member) in doomed.iter().rev() {
            self.delete_pod(member).await;
        }
        Ok(())
    }

    /// RollingUpdate: from the highest ordinal down, replace each pod not at the update
    /// revision, waiting for every pod to be Ready before taking the next one down.
    async fn rolling_update(&self) -> anyhow::Result<()> {
        let (template, revision) = self.current().await?;
        for ordinal in (0..self.members.len()).rev() {
            for m in &self.members {
                self.wait_ready(m).await?;
            }
            let member = &self.members[ordinal];
            let at = self.state.lock().await.pods.get(member).and_then(|p| p.status().revision);
            if at.as_deref() == Some(revision.as_str()) {
                continue;
            }
            self.delete_pod(member).await;
            let pod = Pod::spawn(self.docker.clone(), self.pod_spec(ordinal, template.clone(), &revision), self.life.clone());
            self.state.lock().await.pods.insert(member.clone(), pod);
            self.wait_ready(member).await?;
        }
        Ok(())
    }
}

/// The pod template of a StatefulSet object, translated.
fn template_of(statefulset: &Value) -> anyhow::Result<PodTemplate> {
    let sts = serde_json::from_value(statefulset.clone()).context("the StatefulSet no longer parses")?;
    PodTemplate::from_statefulset(&sts).map_err(|e| anyhow::anyhow!(e))
}

/// Drops the oldest revisions that are neither the newest (the update revision) nor `live` (a
/// pod's) until at most `limit` such history revisions remain, as the StatefulSet controller does.
fn prune_history(revisions: &mut Vec<Revision>, limit: usize, live: &[String]) {
    let newest = revisions.last().map(|r| r.hash.clone());
    let history = |r: &Revision| Some(&r.hash) != newest.as_ref() && !live.contains(&r.hash);
    let mut excess = revisions.iter().filter(|r| history(r)).count().saturating_sub(limit);
    revisions.retain(|r| {
        if excess > 0 && history(r) {
            excess -= 1;
            false
        } else {
            true
        }
    });
}

/// The revision hash of a pod template (like controller-revision-hash: a digest of the template).
pub fn revision_hash(template: &Value) -> String {
    let digest = Sha256::digest(serde_json::to_vec(template).unwrap_or_default());
    format!("{digest:x}")[..10].to_string()
}

#[async_trait]
impl Platform for DockerPlatform {
    fn partitions(&self) -> Option<&dyn Partitions> {
        Some(self)
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }

    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn notes(&self) -> Vec<String> {
        let mut notes: Vec<String> =
            self.manifest.docker_not_applicable().iter().map(|f| format!("{f}: not applicable on one Docker host (every member runs on the same host)")).collect();
        if self.manifest.pdb.is_some() {
            notes.push("PodDisruptionBudget: not applicable on Docker (there are no nodes to drain); the maintenance suite needs Kubernetes".into());
        }
        notes.extend(self.manifest.docker_service_notes());
        notes.extend(self.manifest.docker_object_notes());
        notes.push("resources: cpu requests become CPU shares; memory requests have no Docker equivalent".into());
        notes.push(engine_note(&self.engine));
        notes
    }

    async fn deploy(&self) -> anyhow::Result<()> {
        pod::create_network(&self.docker, &self.network, &self.identity.run_id).await?;
        {
            let mut st = self.state.lock().await;
            let template = st.statefulset.pointer("/spec/template").cloned().unwrap_or_default();
            st.revisions = vec![Revision { number: 1, hash: revision_hash(&template), template }];
        }
        let ctl = self.controller_ctx();
        ctl.create_pods().await?;
        for m in self.members() {
            ctl.wait_ready(&m).await?;
        }
        Ok(())
    }

    fn members(&self) -> Vec<String> {
        crate::platform::member_names(self.manifest.name(), self.replicas.load(std::sync::atomic::Ordering::SeqCst))
    }

    async fn status(&self, member: &str) -> anyhow::Result<MemberStatus> {
        let ordinal = crate::platform::ordinal_of(self.manifest.name(), member).with_context(|| format!("no member {member}"))?;
        Ok(self.state.lock().await.pods.get(member).map(Pod::status).unwrap_or_else(|| MemberStatus::absent(member, ordinal)))
    }

    async fn client_addr(&self, member: &str) -> anyhow::Result<SocketAddr> {
        let port = self.manifest.pod_template().client_port();
        let host = self.host_ports.lock().expect("ports lock").get(member).and_then(|p| p.get(&port)).copied().with_context(|| format!("no client port for {member}"))?;
        Ok(SocketAddr::from(([127, 0, 0, 1], host)))
    }

    async fn signal_container(&self, member: &str, signal: &str) -> anyhow::Result<String> {
        // The engine signals the container's init process from the host's pid namespace, where
        // the kernel delivers SIGSTOP to it (`docker kill --signal`).
        let id = match self.running_container(member).await {
            Ok(id) => id,
            Err(e) => return Ok(format!("not sent: {e:#}")),
        };
        let options = bollard::query_parameters::KillContainerOptions { signal: format!("SIG{signal}") };
        match self.docker.kill_container(&id, Some(options)).await {
            Ok(()) => Ok(format!("through the Docker engine to container {}", &id[..12.min(id.len())])),
            // 409: the container stopped between the status and the kill (a liveness restart).
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, message }) => Ok(format!("not sent: {message}")),
            Err(e) => Err(anyhow::Error::new(e).context(format!("kill -{signal} of {member}'s container through the Docker engine"))),
        }
    }

    async fn exec(&self, member: &str, argv: &[&str]) -> anyhow::Result<ExecOutput> {
        let id = self.running_container(member).await?;
        engine::exec(&self.docker, &id, argv, self.config.timeouts.operation).await
    }

    async fn logs(&self, member: &str, tail: Option<usize>) -> anyhow::Result<String> {
        let (id, previous) = {
            let st = self.state.lock().await;
            match st.pods.get(member) {
                Some(p) => (p.status().container_id, p.previous_logs.lock().expect("logs lock").clone()),
                None => (None, None),
            }
        };
        let current = match id {
            Some(id) => engine::logs(&self.docker, &id, tail).await.unwrap_or_else(|e| format!("(no log: {e:#})")),
            None => String::new(),
        };
        Ok(match (tail, previous) {
            (None, Some(prev)) => format!("=== previous container (last 500 lines) ===\n{prev}\n=== current container ===\n{current}"),
            _ => current,
        })
    }

    async fn volumes(&self, member: &str) -> anyhow::Result<Vec<VolumeIdentity>> {
        let id = self.running_container(member).await?;
        let c = self.docker.inspect_container(&id, None).await.with_context(|| format!("inspecting {member}"))?;
        let mut out = Vec::new();
        for m in c.mounts.unwrap_or_default() {
            let Some(name) = m.name.filter(|_| m.typ.as_deref() == Some("volume")) else { continue };
            let v = self.docker.inspect_volume(&name).await.with_context(|| format!("inspecting volume {name}"))?;
            if v.labels.get(RUN_LABEL).map(String::as_str) != Some(self.identity.run_id.as_str()) {
                continue; // an anonymous volume of the image, not a claim
            }
            let (Some(claim), Some(uid)) = (v.labels.get(pod::CLAIM_LABEL), v.labels.get(pod::UID_LABEL)) else {
                continue; // an emptyDir: it has no claim and goes with the pod
            };
            out.push(VolumeIdentity { claim: claim.clone(), id: format!("{name} uid {uid}") });
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
        // Kubernetes terminates a deleted StatefulSet's pods together; each stays (Terminating)
        // until its container is gone, so "every member gone" is never seen too early.
        for pod in self.state.lock().await.pods.values() {
            pod.terminate();
        }
        let ctl = self.controller_ctx();
        self.control(async move {
            loop {
                {
                    let mut st = ctl.state.lock().await;
                    st.pods.retain(|_, pod| !pod.is_gone());
                    if st.pods.is_empty() {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            ctl.life.poke();
            Ok(())
        });
        Ok(())
    }

    async fn apply_statefulset(&self) -> anyhow::Result<()> {
        // A pod reported gone may still be leaving the controller's books for a moment.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let mut st = self.state.lock().await;
            st.pods.retain(|_, pod| !pod.is_gone());
            if st.pods.is_empty() {
                break;
            }
            if std::time::Instant::now() >= deadline {
                bail!("the StatefulSet still has pods ({}); wait until the deletion finished", st.pods.keys().cloned().collect::<Vec<_>>().join(", "));
            }
            drop(st);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let ctl = self.controller_ctx();
        self.control(async move { ctl.create_pods().await });
        Ok(())
    }

    async fn patch_statefulset(&self, patch: &json_patch::Patch) -> anyhow::Result<()> {
        let changed = {
            let mut st = self.state.lock().await;
            let mut sts = st.statefulset.clone();
            json_patch::patch(&mut sts, &patch.0).context("applying the JSON patch to the StatefulSet")?;
            if sts.pointer("/spec/replicas") != st.statefulset.pointer("/spec/replicas") {
                bail!("a patch of spec.replicas: scale the StatefulSet instead (Platform::scale, as kubectl scale)");
            }
            template_of(&sts)?;
            let template = sts.pointer("/spec/template").cloned().unwrap_or_default();
            let hash = revision_hash(&template);
            st.statefulset = sts;
            let current = st.revisions.last().map(|r| r.hash.clone());
            if current.as_deref() != Some(hash.as_str()) {
                let number = st.revisions.iter().map(|r| r.number).max().unwrap_or(0) + 1;
                st.revisions.retain(|r| r.hash != hash);
                st.revisions.push(Revision { number, hash, template });
                // As the StatefulSet controller: keep revisionHistoryLimit (default 10) revisions
                // besides the update revision and those pods still run; drop the oldest others.
                let limit = st.statefulset.pointer("/spec/revisionHistoryLimit").and_then(Value::as_u64).unwrap_or(10) as usize;
                let live: Vec<String> = st.pods.values().filter_map(|p| p.status().revision).collect();
                prune_history(&mut st.revisions, limit, &live);
                true
            } else {
                false
            }
        };
        if changed {
            let ctl = self.controller_ctx();
            self.control(async move { ctl.rolling_update().await });
        }
        Ok(())
    }

    async fn scale(&self, replicas: usize) -> anyhow::Result<()> {
        use std::sync::atomic::Ordering;
        let was = self.replicas.load(Ordering::SeqCst);
        if replicas == was {
            return Ok(());
        }
        let new: Vec<String> =
            crate::platform::member_names(self.manifest.name(), replicas).into_iter().filter(|m| !self.host_ports.lock().expect("ports lock").contains_key(m)).collect();
        let ports = reserve_ports(&self.manifest, &new).map_err(|e| anyhow::anyhow!("{e}"))?;
        self.host_ports.lock().expect("ports lock").extend(ports);
        self.state.lock().await.statefulset["spec"]["replicas"] = Value::from(replicas);
        self.replicas.store(replicas, Ordering::SeqCst);
        let ctl = self.controller_ctx();
        if replicas > was {
            self.control(async move { ctl.create_pods().await });
        } else {
            self.control(async move { ctl.remove_pods_above(replicas).await });
        }
        self.life.poke();
        Ok(())
    }

    /// No registry can be reached: an image the engine lacks is refused before the template
    /// changes, naming it (a pod of it could only fail to start).
    async fn set_image(&self, image: &str) -> anyhow::Result<()> {
        if self.docker.inspect_image(image).await.is_err() {
            bail!("the image {image} is not in the local Docker engine, and no registry can be reached to pull it: build it (ci/build-zookeeper-images.sh builds the zk-chaos/zookeeper* images)");
        }
        self.patch_statefulset(&crate::platform::image_patch(image)?).await
    }

    /// As the StatefulSet controller after `kubectl delete pod`: the pod goes, and is created
    /// again from the update revision; then the rolling update goes on where it stood.
    async fn delete_member(&self, member: &str) -> anyhow::Result<()> {
        if !self.manifest.member_names().iter().any(|m| m == member) {
            bail!("{member} is not a member of StatefulSet {}", self.manifest.name());
        }
        let ctl = self.controller_ctx();
        let member = member.to_string();
        self.control(async move {
            ctl.delete_pod(&member).await;
            ctl.create_pods().await?;
            ctl.rolling_update().await
        });
        Ok(())
    }

    async fn revisions(&self) -> anyhow::Result<Vec<Revision>> {
        Ok(self.state.lock().await.revisions.clone())
    }

    /// This platform is the controller: a patch makes its revision before it returns.
    async fn update_revision(&self) -> anyhow::Result<Option<String>> {
        Ok(self.state.lock().await.revisions.last().map(|r| r.hash.clone()))
    }

    async fn rollback(&self) -> anyhow::Result<()> {
        let previous = {
            let st = self.state.lock().await;
            match st.revisions.len() {
                n if n >= 2 => st.revisions[n - 2].template.clone(),
                _ => bail!("no previous revision to roll back to"),
            }
        };
        let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
            { "op": "replace", "path": "/spec/template", "value": previous }
        ]))?;
        self.patch_statefulset(&patch).await
    }

    async fn teardown(&self) -> anyhow::Result<()> {
        if let Some(c) = self.controller.lock().expect("controller lock").take() {
            c.abort();
        }
        for pod in self.state.lock().await.pods.values() {
            pod.abort();
        }
        // A request the aborted workers had in flight (a volume or container being created) can
        // still complete in the engine after the first pass: remove until a pass finds nothing.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let errors = engine::remove(&self.docker, Some(&self.identity.run_id)).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let left = engine::find(&self.docker, Some(&self.identity.run_id)).await?;
            if errors.is_empty() && left.is_empty() {
                break;
            }
            if attempt == 4 {
                if !errors.is_empty() {
                    bail!("cleanup of run {} failed: {}", self.identity.run_id, errors.join("; "));
                }
                bail!("cleanup of run {} left {}", self.identity.run_id, left.describe());
            }
            tracing::info!("cleanup pass {attempt} of run {} left {}; again", self.identity.run_id, left.describe());
        }
        self.life.record("-", LifecycleKind::Deleted, "run torn down");
        Ok(())
    }

    fn keep_instructions(&self) -> String {
        let mut s = format!("The ensemble of run {} is still up (--keep).\n", self.identity.run_id);
        let host_ports = self.host_ports.lock().expect("ports lock").clone();
        for m in self.members() {
            let port = self.manifest.pod_template().client_port();
            if let Some(h) = host_ports.get(&m).and_then(|p| p.get(&port)) {
                s.push_str(&format!("  {m}: 127.0.0.1:{h}   (docker exec -it {}-{m} bash)\n", self.identity.run_id));
            }
        }
        s.push_str(&format!(
            "  connect string: {}\n",
            self.members()
                .iter()
                .filter_map(|m| host_ports.get(m).and_then(|p| p.get(&self.manifest.pod_template().client_port())).map(|h| format!("127.0.0.1:{h}")))
                .collect::<Vec<_>>()
                .join(",")
        ));
        s.push_str(&format!("Remove it with: zk-chaos clean --run {}\n", self.identity.run_id));
        s.push_str("(The members are no longer supervised: a member that dies now stays down.)\n");
        s
    }
}

/// Packet filtering between members: iptables rules in each member's network namespace, set
/// from a helper container sharing it (`platform::netfilter`).
#[async_trait]
impl Partitions for DockerPlatform {
    async fn cut(&self, cut: &Cut) -> anyhow::Result<()> {
        let mut ips = Vec::new();
        for peer in &cut.peers {
            ips.push(self.member_ip(peer).await?);
        }
        self.netfilter(&cut.member, "setting the cut", netfilter::cut_script(cut, &ips)).await.map(drop)
    }

    async fn mend(&self, member: &str) -> anyhow::Result<()> {
        self.netfilter(member, "mending the cut", netfilter::mend_script()).await.map(drop)
    }

    async fn cut_counters(&self, member: &str) -> anyhow::Result<CutCounters> {
        netfilter::parse_counters(&self.netfilter(member, "reading the cut's counters", netfilter::counters_script()).await?)
    }

    async fn reaches(&self, from: &str, to: &str, port: u16) -> anyhow::Result<bool> {
        let ip = self.member_ip(to).await?;
        match self.in_network_of(from, netfilter::probe_script(&ip, port), false).await? {
            (0, _) => Ok(true),
            (1, _) => Ok(false),
            (code, out) => bail!("probing {to}:{port} from {from} exited {code}: {}", out.trim()),
        }
    }
}

/// The report's note naming the engine the run used and what chose it.
fn engine_note(found: &host::Found) -> String {
    format!("Docker engine: {} (from {})", found.endpoint.url(), found.from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_the_engine_and_what_chose_it() {
        let found = host::Found { endpoint: host::Endpoint::Unix("/home/me/.colima/docker.sock".into()), from: "the docker context colima (DOCKER_CONTEXT)".into() };
        assert_eq!(engine_note(&found), "Docker engine: unix:///home/me/.colima/docker.sock (from the docker context colima (DOCKER_CONTEXT))");
    }

    #[test]
    fn revision_hashes_follow_the_template() {
        let a = serde_json::json!({"spec": {"containers": [{"resources": {"requests": {"cpu": "0.5"}}}]}});
        let b = serde_json::json!({"spec": {"containers": [{"resources": {"requests": {"cpu": "0.3"}}}]}});
        assert_eq!(revision_hash(&a), revision_hash(&a.clone()));
        assert_ne!(revision_hash(&a), revision_hash(&b));
        assert_eq!(revision_hash(&a).len(), 10);
    }

    /// revisionHistoryLimit as the controller applies it: a rollback to a pruned revision fails on
    /// Docker as it would on a cluster.
    #[test]
    fn history_is_pruned_to_the_limit_keeping_live_and_update_revisions() {
        let rev = |n: i64| Revision { number: n, hash: format!("h{n}"), template: serde_json::json!({}) };
        let mut revs: Vec<Revision> = (1..=5).map(rev).collect();
        prune_history(&mut revs, 1, &["h2".to_string()]);
        let kept: Vec<&str> = revs.iter().map(|r| r.hash.as_str()).collect();
        assert_eq!(kept, ["h2", "h4", "h5"], "h2 runs, h5 is the update revision, h4 the one history revision kept");
        let mut revs: Vec<Revision> = (1..=2).map(rev).collect();
        prune_history(&mut revs, 0, &["h2".to_string()]);
        assert_eq!(revs.len(), 1, "limit 0 keeps no history: nothing to roll back to");
        let mut revs: Vec<Revision> = (1..=3).map(rev).collect();
        prune_history(&mut revs, 10, &[]);
        assert_eq!(revs.len(), 3);
    }

    #[test]
    fn the_walkthroughs_patch_changes_the_template() {
        let m = crate::manifest::walkthrough();
        let mut sts = m.documents[3].clone();
        let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
            {"op": "replace", "path": "/spec/template/spec/containers/0/resources/requests/cpu", "value": "0.3"}
        ]))
        .unwrap();
        json_patch::patch(&mut sts, &patch.0).unwrap();
        assert_eq!(template_of(&sts).unwrap().cpu_request, Some(0.3));
        assert_ne!(revision_hash(&sts["spec"]["template"]), revision_hash(&m.documents[3]["spec"]["template"]));
    }
}
