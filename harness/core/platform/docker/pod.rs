//! One member's pod, run as a kubelet would: init containers run to completion once, in order; a
//! fresh main container from the image at every (re)start, only its volumes persisting; its
//! environment from ConfigMaps, Secrets and the Downward API; configMap and secret volumes written
//! as files, subPath mounts; startup, readiness and liveness probes (exec, tcpSocket, httpGet) with
//! Kubernetes' timing; postStart and preStop exec hooks; restartPolicy Always with a crash-loop
//! backoff; the securityContext (runAsNonRoot refused for a root user, as the kubelet does); fsGroup
//! applied to the volumes (fsGroupChangePolicy honoured).
//!
//! Over 600 lines: the kubelet's behaviour for one pod (probes, hooks, restarts, backoff, security
//! context, volumes) is one concern, and about 320 lines are its unit tests.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bollard::models::{ContainerCreateBody as Config, NetworkCreateRequest, NetworkingConfig, VolumeCreateRequest};
use bollard::models::{EndpointSettings, HostConfig, Mount, MountType, MountVolumeOptions, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, RemoveVolumeOptions, StartContainerOptions, StopContainerOptions, UploadToContainerOptions, WaitContainerOptions,
};
use bollard::Docker;
use chrono::Utc;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::engine;
use super::tar;
use crate::manifest::pod::{Container, Handler, Mount as PodMount, PodTemplate, Probe, VolumeKind};
use crate::manifest::resolve::{self, Objects, PodFacts};
use crate::platform::lifecycle_log::LifecycleLog;
use crate::platform::{run_labels, LifecycleKind, MemberStatus};

/// Everything needed to run one member.
#[derive(Debug, Clone)]
pub struct PodSpec {
    pub run_id: String,
    pub member: String,
    pub ordinal: usize,
    /// `<serviceName>.<namespace>.svc.cluster.local`
    pub domain: String,
    pub network: String,
    pub image: String,
    pub template: PodTemplate,
    pub revision: String,
    /// Container port -> loopback host port, stable across restarts.
    pub host_ports: BTreeMap<u16, u16>,
    pub op_timeout: Duration,
    /// The manifest's ConfigMaps and Secrets.
    pub objects: Arc<Objects>,
    /// What the Downward API gives the pod.
    pub facts: PodFacts,
    /// The names other pods resolve this one by: empty unless a headless governing Service selects it.
    pub aliases: Vec<String>,
}

impl PodSpec {
    pub fn container_name(&self) -> String {
        format!("{}-{}", self.run_id, self.member)
    }

    /// Named like the PVC (`datadir-zk-0`), prefixed by the run so runs never share volumes.
    pub fn volume_name(&self, volume: &str, kind: VolumeKind) -> String {
        match kind {
            VolumeKind::Claim => format!("{}-{volume}-{}", self.run_id, self.member),
            VolumeKind::EmptyDir => format!("{}-{}-{volume}-emptydir", self.run_id, self.member),
            VolumeKind::Config => format!("{}-{}-{volume}-config", self.run_id, self.member),
        }
    }
}

/// A running pod: its worker task and its status.
pub struct Pod {
    pub spec: Arc<PodSpec>,
    pub status: Arc<Mutex<MemberStatus>>,
    pub previous_logs: Arc<Mutex<Option<String>>>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Pod {
    /// Creates the pod: a worker that keeps its container running until the pod is deleted.
    pub fn spawn(docker: Docker, spec: PodSpec, life: Arc<LifecycleLog>) -> Pod {
        let spec = Arc::new(spec);
        let status = Arc::new(Mutex::new(MemberStatus {
            name: spec.member.clone(),
            ordinal: spec.ordinal,
            exists: true,
            running: false,
            ready: false,
            restart_count: 0,
            container_id: None,
            started_at: None,
            revision: Some(spec.revision.clone()),
            node: None,
            phase: "Pending".into(),
            reason: Some("ContainerCreating".into()),
        }));
        let previous_logs = Arc::new(Mutex::new(None));
        let cancel = CancellationToken::new();
        life.record(&spec.member, LifecycleKind::Created, format!("revision {}", spec.revision));
        let worker = Worker { docker, spec: spec.clone(), status: status.clone(), previous_logs: previous_logs.clone(), life, cancel: cancel.clone() };
        let task = tokio::spawn(async move { worker.run().await });
        Pod { spec, status, previous_logs, cancel, task }
    }

    pub fn status(&self) -> MemberStatus {
        self.status.lock().expect("status lock").clone()
    }

    /// Starts deleting the pod: SIGTERM, the grace period, SIGKILL, then the container is removed.
    /// It shows as Terminating until its container is gone, then [`Pod::is_gone`] turns true.
    pub fn terminate(&self) {
        {
            let mut s = self.status.lock().expect("status lock");
            s.phase = "Terminating".into();
            s.reason = None;
        }
        self.cancel.cancel();
    }

    /// The worker ended: the container and the pod are gone.
    pub fn is_gone(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the worker at once without touching the containers (teardown removes them by label).
    pub fn abort(&self) {
        self.task.abort();
    }
}

struct Worker {
    docker: Docker,
    spec: Arc<PodSpec>,
    status: Arc<Mutex<MemberStatus>>,
    previous_logs: Arc<Mutex<Option<String>>>,
    life: Arc<LifecycleLog>,
    cancel: CancellationToken,
}

enum Ended {
    Exited(i64),
    /// An init container exited with this code.
    InitFailed(i64),
    LivenessKilled(String),
    Deleted,
    Broken(anyhow::Error),
}

impl Worker {
    fn set(&self, f: impl FnOnce(&mut MemberStatus)) {
        f(&mut self.status.lock().expect("status lock"));
        self.life.poke();
    }

    async fn run(self) {
        let member = self.spec.member.clone();
        let mut restarts: u32 = 0;
        let mut quick_failures: u32 = 0;
        // Init containers run once per pod, not again when the main container restarts.
        let mut initialized = self.spec.template.init_containers.is_empty();
        loop {
            let ran_from = Instant::now();
            let ended = if !initialized {
                match self.run_init_containers().await {
                    Ok(None) => {
                        initialized = true;
                        continue;
                    }
                    Ok(Some(ended)) => ended,
                    Err(e) => Ended::Broken(e),
                }
            } else {
                match self.start_container().await {
                    Ok(id) => self.supervise(&id, restarts).await,
                    Err(e) => Ended::Broken(e),
                }
            };
            let was_ready = {
                let mut s = self.status.lock().expect("status lock");
                let was = s.ready;
                s.running = false;
                s.ready = false;
                was
            };
            if was_ready {
                self.life.record(&member, LifecycleKind::NotReady, "container stopped");
            }
            match &ended {
                Ended::Exited(code) => self.life.record(&member, LifecycleKind::Exited, format!("exit code {code}")),
                Ended::InitFailed(code) => tracing::info!(member, "an init container exited {code}; the pod runs its init containers again after the backoff"),
                Ended::LivenessKilled(_) => {} // recorded when the kill was decided (supervise)
                Ended::Broken(e) => {
                    tracing::warn!(member, "container could not run: {e:#}");
                    self.set(|s| s.reason = Some(format!("{e:#}")));
                }
                Ended::Deleted => {}
            }
            self.remove_container(matches!(ended, Ended::Deleted | Ended::LivenessKilled(_))).await;
            if matches!(ended, Ended::Deleted) || self.cancel.is_cancelled() {
                self.remove_empty_dirs().await;
                self.set(|s| {
                    s.exists = false;
                    s.phase = "Deleted".into();
                    s.container_id = None;
                });
                self.life.record(&member, LifecycleKind::Deleted, "pod deleted");
                return;
            }
            // restartPolicy Always, with Kubernetes' crash-loop backoff for containers that die fast.
            quick_failures = if ran_from.elapsed() < Duration::from_secs(30) { quick_failures + 1 } else { 0 };
            let backoff = if quick_failures <= 1 { Duration::ZERO } else { Duration::from_secs(10 * 2u64.pow((quick_failures - 2).min(5))).min(Duration::from_secs(300)) };
            if !backoff.is_zero() {
                self.set(|s| {
                    s.phase = "Running".into();
                    s.reason = Some(format!("CrashLoopBackOff ({}s)", backoff.as_secs()));
                });
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = self.cancel.cancelled() => {}
                }
                if self.cancel.is_cancelled() {
                    continue;
                }
            }
            restarts += 1;
            self.set(|s| s.restart_count = restarts);
            self.life.record(&member, LifecycleKind::Restarted, format!("restart count {restarts}"));
        }
    }

    /// Runs the init containers in order, each to its end: `None` when all exited 0, else how the
    /// failed one ended (the pod restarts it after the backoff, as restartPolicy Always does).
    async fn run_init_containers(&self) -> anyhow::Result<Option<Ended>> {
        let spec = &self.spec;
        self.prepare_volumes().await?;
        for (i, c) in spec.template.init_containers.iter().enumerate() {
            self.set(|s| s.reason = Some(format!("Init:{i}/{}", spec.template.init_containers.len())));
            let config = match self.config_of(c).await {
                Ok(config) => config,
                Err(why) => return Ok(Some(Ended::Broken(anyhow::anyhow!("CreateContainerConfigError: init container {}: {why}", c.name)))),
            };
            let name = format!("{}-init-{}", spec.container_name(), c.name);
            let ran = tokio::select! {
                ran = run_to_end(&self.docker, &name, config) => ran,
                _ = self.cancel.cancelled() => {
                    let _ = self.docker.remove_container(&name, Some(RemoveContainerOptions { force: true, v: true, ..Default::default() })).await;
                    return Ok(Some(Ended::Deleted));
                }
            };
            match ran.with_context(|| format!("init container {}", c.name))? {
                (0, _) => self.life.record(&spec.member, LifecycleKind::Exited, format!("init container {} completed", c.name)),
                (code, logs) => {
                    *self.previous_logs.lock().expect("logs lock") = Some(logs.clone());
                    self.set(|s| s.reason = Some(format!("Init:Error (init container {} exited {code})", c.name)));
                    self.life.record(&spec.member, LifecycleKind::Exited, format!("init container {} exit code {code}: {}", c.name, logs.trim()));
                    return Ok(Some(Ended::InitFailed(code)));
                }
            }
        }
        Ok(None)
    }

    /// The Docker config of a container of this pod, or why a kubelet would not create it
    /// (CreateContainerConfigError: a missing key, a root user under runAsNonRoot).
    async fn config_of(&self, c: &Container) -> Result<Config, String> {
        let env = resolve::env(&c.env_vars, &c.env_from, &self.spec.objects, &self.spec.facts)?;
        let image = c.image.clone().unwrap_or_else(|| self.spec.image.clone());
        if c.security.run_as_non_root {
            non_root(&self.docker, &image, c.security.run_as_user).await?;
        }
        let mounts = self.docker_mounts(&c.mounts).await.map_err(|e| format!("{e:#}"))?;
        Ok(container_config(&self.spec, c, &env, mounts))
    }

    /// Creates and starts a fresh container; returns its id.
    async fn start_container(&self) -> anyhow::Result<String> {
        let spec = &self.spec;
        self.prepare_volumes().await?;
        let name = spec.container_name();
        let _ = self.docker.remove_container(&name, Some(RemoveContainerOptions { force: true, v: true, ..Default::default() })).await;
        let main = main_container(&spec.template);
        let config = match self.config_of(&main).await {
            Ok(c) => c,
            Err(why) => {
                self.set(|s| s.reason = Some(format!("CreateContainerConfigError: {why}")));
                anyhow::bail!("CreateContainerConfigError: {why}");
            }
        };
        let created = self
            .docker
            .create_container(Some(CreateContainerOptions { name: Some(name.clone()), ..Default::default() }), config)
            .await
            .with_context(|| format!("creating container {name}"))?;
        self.docker.start_container(&created.id, None::<StartContainerOptions>).await.with_context(|| format!("starting {name}"))?;
        let short: String = created.id.chars().take(12).collect();
        self.set(|s| {
            s.running = true;
            s.container_id = Some(created.id.clone());
            s.started_at = Some(Utc::now());
            s.phase = "Running".into();
            s.reason = None;
        });
        self.life.record(&spec.member, LifecycleKind::Started, format!("container {short}"));
        if let Some(hook) = &spec.template.post_start {
            // As the kubelet: the probes wait for the hook, and a failed hook kills the container.
            let argv: Vec<&str> = hook.iter().map(String::as_str).collect();
            let bound = spec.template.termination_grace.max(spec.op_timeout);
            let failed = match engine::exec(&self.docker, &created.id, &argv, bound).await {
                Ok(out) if out.success() => None,
                Ok(out) => Some(format!("exit code {}: {}", out.exit_code, (out.stdout + &out.stderr).trim())),
                Err(e) => Some(format!("{e:#}")),
            };
            if let Some(why) = failed {
                let _ = self.docker.stop_container(&created.id, Some(stop_within(spec.template.termination_grace))).await;
                anyhow::bail!("FailedPostStartHook: {why}");
            }
        }
        Ok(created.id)
    }

    /// Runs the probes until the container ends, the liveness probe kills it, or the pod is deleted.
    async fn supervise(&self, id: &str, _restarts: u32) -> Ended {
        let spec = &self.spec;
        if let Some(startup) = spec.template.startup.clone() {
            // Readiness and liveness start once the startup probe passed; its failure kills the container.
            let target = Target { docker: self.docker.clone(), id: id.to_string(), network: spec.network.clone() };
            let ended = tokio::select! {
                code = wait_exit(&self.docker, id) => Some(match code {
                    Ok(code) => Ended::Exited(code),
                    Err(e) => Ended::Broken(e),
                }),
                why = startup_loop(&target, &startup, &self.life, &spec.member) => why.map(Ended::LivenessKilled),
                _ = self.cancel.cancelled() => Some(Ended::Deleted),
            };
            if let Some(ended) = ended {
                return self.stop(id, ended).await;
            }
        }
        let readiness = match spec.template.readiness.clone() {
            Some(probe) => {
                let target = Target { docker: self.docker.clone(), id: id.to_string(), network: spec.network.clone() };
                let (status, life, member) = (self.status.clone(), self.life.clone(), spec.member.clone());
                Some(tokio::spawn(async move { readiness_loop(target, probe, status, life, member).await }))
            }
            None => {
                self.set(|s| s.ready = true);
                self.life.record(&spec.member, LifecycleKind::Ready, "no readiness probe: ready when running");
                None
            }
        };
        let liveness = async {
            match spec.template.liveness.clone() {
                Some(probe) => {
                    let target = Target { docker: self.docker.clone(), id: id.to_string(), network: spec.network.clone() };
                    liveness_loop(&target, &probe, &self.life, &spec.member).await
                }
                None => std::future::pending().await,
            }
        };
        let ended = tokio::select! {
            code = wait_exit(&self.docker, id) => match code {
                Ok(code) => Ended::Exited(code),
                Err(e) => Ended::Broken(e),
            },
            why = liveness => Ended::LivenessKilled(why),
            _ = self.cancel.cancelled() => Ended::Deleted,
        };
        if let Some(r) = readiness {
            r.abort();
        }
        self.stop(id, ended).await
    }

    /// Stops the container as the kubelet does when it kills it (pod deleted, a probe failed):
    /// the preStop hook, then SIGTERM, then SIGKILL when the grace period (shared by both) ends.
    async fn stop(&self, id: &str, ended: Ended) -> Ended {
        let spec = &self.spec;
        if let Ended::LivenessKilled(why) = &ended {
            // The kubelet reports the kill when it decides it, before the grace period runs.
            self.life.record(&spec.member, LifecycleKind::LivenessKilled, why.clone());
        }
        if matches!(ended, Ended::Deleted | Ended::LivenessKilled(_)) {
            let grace = spec.template.termination_grace;
            let from = Instant::now();
            if let Some(hook) = &spec.template.pre_stop {
                let argv: Vec<&str> = hook.iter().map(String::as_str).collect();
                if let Ok(Err(e)) | Err(e) = engine::exec(&self.docker, id, &argv, grace.max(Duration::from_secs(1))).await.map(|o| {
                    if o.success() {
                        Ok(())
                    } else {
                        Err(anyhow::anyhow!("exit code {}", o.exit_code))
                    }
                }) {
                    tracing::info!(member = spec.member, "preStop hook failed: {e:#}");
                }
            }
            let _ = self.docker.stop_container(id, Some(stop_within(grace.saturating_sub(from.elapsed())))).await;
        }
        ended
    }

    async fn remove_container(&self, keep_logs: bool) {
        let name = self.spec.container_name();
        if let Ok(logs) = engine::logs(&self.docker, &name, Some(500)).await {
            if !logs.is_empty() || keep_logs {
                *self.previous_logs.lock().expect("logs lock") = Some(logs);
            }
        }
        let _ = self.docker.remove_container(&name, Some(RemoveContainerOptions { force: true, v: true, ..Default::default() })).await;
    }

    /// Creates the member's volumes if missing (a claim's volume outlives the pod), writes the
    /// files of its new configMap and secret volumes and the directories of its subPath mounts, and
    /// applies fsGroup: group ownership and setgid, as the kubelet does for volumes that support it
    /// (with fsGroupChangePolicy OnRootMismatch only where a volume's root has another group).
    async fn prepare_volumes(&self) -> anyhow::Result<()> {
        let spec = &self.spec;
        let t = &spec.template;
        let all: Vec<&PodMount> = t.mounts.iter().chain(t.init_containers.iter().flat_map(|c| c.mounts.iter())).collect();
        if all.is_empty() {
            return Ok(());
        }
        let mut created = std::collections::BTreeSet::new();
        for m in &all {
            let name = spec.volume_name(&m.volume, m.kind);
            if created.contains(&name) {
                continue;
            }
            // A claim's volume outlives its pods: reuse it when it exists. A new one gets a UID
            // label, as a PV has a UID, so a re-created volume is told apart from the old one.
            match self.docker.inspect_volume(&name).await {
                Ok(_) => continue,
                Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
                Err(e) => return Err(e).with_context(|| format!("inspecting volume {name}")),
            }
            let mut labels = run_labels(&spec.run_id);
            if m.kind == VolumeKind::Claim {
                labels.insert(CLAIM_LABEL.into(), format!("{}-{}", m.volume, spec.member));
                labels.insert(UID_LABEL.into(), new_uid(&name));
            }
            self.docker
                .create_volume(VolumeCreateRequest { name: Some(name.clone()), labels: Some(labels), ..Default::default() })
                .await
                .with_context(|| format!("creating volume {name}"))?;
            created.insert(name);
        }
        let entries = staging(spec, &all, &created).map_err(|why| anyhow::anyhow!("CreateContainerConfigError: {why}"))?;
        if !entries.is_empty() {
            self.stage(&all, &entries).await?;
        }
        let Some(group) = t.fs_group else { return Ok(()) };
        let paths: Vec<String> = t.mounts.iter().filter(|m| !m.read_only).map(|m| m.path.clone()).collect();
        if paths.is_empty() {
            return Ok(());
        }
        let fix = |p: &str| format!("chgrp -R {group} {p} && chmod -R g+rwX {p} && find {p} -type d -exec chmod g+s {{}} +");
        let script = if t.fs_group_on_root_mismatch {
            paths.iter().map(|p| format!("if [ \"$(stat -c %g {p})\" != {group} ]; then {}; fi", fix(p))).collect::<Vec<_>>().join(" && ")
        } else {
            fix(&paths.join(" "))
        };
        let name = format!("{}-fsgroup", spec.container_name());
        let _ = self.docker.remove_container(&name, Some(RemoveContainerOptions { force: true, v: true, ..Default::default() })).await;
        let config = Config {
            image: Some(spec.image.clone()),
            user: Some("0".to_string()),
            entrypoint: Some(vec!["sh".into(), "-c".into(), script]),
            labels: Some(run_labels(&spec.run_id)),
            host_config: Some(HostConfig { mounts: Some(self.docker_mounts(&t.mounts).await?), network_mode: Some("none".into()), ..Default::default() }),
            ..Default::default()
        };
        match run_to_end(&self.docker, &name, config).await.context("the fsGroup helper")? {
            (0, _) => Ok(()),
            (n, logs) => anyhow::bail!("applying fsGroup {group} to {} exited {n}: {}", paths.join(" "), logs.trim()),
        }
    }

    /// Writes `entries` into the pod's volumes through the engine's archive upload into a helper
    /// container that is created but never started (so the image needs no shell), then removes it.
    async fn stage(&self, all: &[&PodMount], entries: &[tar::Entry]) -> anyhow::Result<()> {
        let spec = &self.spec;
        let mut names: Vec<String> = all.iter().map(|m| spec.volume_name(&m.volume, m.kind)).collect();
        names.sort();
        names.dedup();
        let mounts = names
            .iter()
            .map(|n| Mount {
                target: Some(format!("{STAGE}/{n}")),
                source: Some(n.clone()),
                typ: Some(MountType::VOLUME),
                volume_options: Some(MountVolumeOptions { no_copy: Some(true), ..Default::default() }),
                ..Default::default()
            })
            .collect();
        let name = format!("{}-stage", spec.container_name());
        let _ = self.docker.remove_container(&name, Some(RemoveContainerOptions { force: true, v: true, ..Default::default() })).await;
        let config = Config {
            image: Some(spec.image.clone()),
            entrypoint: Some(vec!["true".into()]),
            labels: Some(run_labels(&spec.run_id)),
            host_config: Some(HostConfig { mounts: Some(mounts), network_mode: Some("none".into()), ..Default::default() }),
            ..Default::default()
        };
        let c = self
            .docker
            .create_container(Some(CreateContainerOptions { name: Some(name.clone()), ..Default::default() }), config)
            .await
            .with_context(|| format!("creating {name}"))?;
        let archive = tar::archive(entries).map_err(|e| anyhow::anyhow!(e))?;
        let options = UploadToContainerOptions { path: STAGE.to_string(), no_overwrite_dir_non_dir: Some("true".to_string()), ..Default::default() };
        let uploaded = self
            .docker
            .upload_to_container(&c.id, Some(options), bollard::body_full(archive.into()))
            .await
            .with_context(|| format!("writing the pod's configMap, secret and subPath files through {name}"));
        let _ = self.docker.remove_container(&c.id, Some(RemoveContainerOptions { force: true, v: true, ..Default::default() })).await;
        uploaded
    }

    /// The Docker mounts of `mounts`: a volume, or for a subPath the path inside the volume's
    /// directory on the engine's host, bind-mounted (the engine's API 1.41 has no volume subpath).
    async fn docker_mounts(&self, mounts: &[PodMount]) -> anyhow::Result<Vec<Mount>> {
        let mut out = Vec::new();
        for m in mounts {
            let mountpoint = match &m.sub_path {
                None => None,
                Some(_) => {
                    let volume = self.spec.volume_name(&m.volume, m.kind);
                    Some(self.docker.inspect_volume(&volume).await.with_context(|| format!("inspecting volume {volume}"))?.mountpoint)
                }
            };
            out.push(docker_mount(&self.spec, m, mountpoint.as_deref()));
        }
        Ok(out)
    }

    async fn remove_empty_dirs(&self) {
        let t = &self.spec.template;
        for m in t.mounts.iter().chain(t.init_containers.iter().flat_map(|c| c.mounts.iter())).filter(|m| m.kind != VolumeKind::Claim) {
            let _ = self.docker.remove_volume(&self.spec.volume_name(&m.volume, m.kind), None::<RemoveVolumeOptions>).await;
        }
    }
}

/// One mount: the volume, or with a subPath, `mountpoint` (the volume's directory on the engine's
/// host) joined with it, bind-mounted.
fn docker_mount(spec: &PodSpec, m: &PodMount, mountpoint: Option<&str>) -> Mount {
    let volume = spec.volume_name(&m.volume, m.kind);
    let (source, typ, volume_options) = match (&m.sub_path, mountpoint) {
        (Some(sub), Some(dir)) => (format!("{}/{sub}", dir.trim_end_matches('/')), MountType::BIND, None),
        // A PersistentVolume starts empty: do not copy the image's directory into it.
        _ => (volume, MountType::VOLUME, Some(MountVolumeOptions { no_copy: Some(true), ..Default::default() })),
    };
    Mount { target: Some(m.path.clone()), source: Some(source), typ: Some(typ), read_only: Some(m.read_only), volume_options, ..Default::default() }
}

/// Where the staging helper mounts the pod's volumes.
const STAGE: &str = "/zk-chaos-stage";

/// What a kubelet writes into new volumes before the containers start: a new emptyDir's root is
/// world-writable (0777, as on Kubernetes), a configMap or secret volume holds its files (owned by
/// root and the fsGroup, with their modes), and a subPath's directory exists (with its volume
/// root's mode).
fn staging(spec: &PodSpec, all: &[&PodMount], created: &std::collections::BTreeSet<String>) -> Result<Vec<tar::Entry>, String> {
    let gid = spec.template.fs_group.unwrap_or(0) as u32;
    let dir = |path: String, mode: u32| tar::Entry { path, data: None, mode, uid: 0, gid };
    let mut out: Vec<tar::Entry> = Vec::new();
    let push = |out: &mut Vec<tar::Entry>, e: tar::Entry| {
        if !out.iter().any(|x| x.path == e.path) {
            out.push(e);
        }
    };
    for m in all {
        let name = spec.volume_name(&m.volume, m.kind);
        let new = created.contains(&name);
        match m.kind {
            VolumeKind::EmptyDir if new => push(&mut out, dir(name.clone(), 0o777)),
            VolumeKind::Config if new => {
                let v = spec.template.config_volumes.iter().find(|v| v.volume == m.volume).ok_or(format!("volume {} is not a configMap or secret volume", m.volume))?;
                push(&mut out, dir(name.clone(), 0o755));
                for f in resolve::files(v, &spec.objects)? {
                    let parts: Vec<&str> = f.path.split('/').collect();
                    for i in 1..parts.len() {
                        push(&mut out, dir(format!("{name}/{}", parts[..i].join("/")), 0o755));
                    }
                    // As the kubelet's volume ownership pass: with an fsGroup a read-only volume's files get group read.
                    let mode = if spec.template.fs_group.is_some() { f.mode | 0o440 } else { f.mode };
                    push(&mut out, tar::Entry { path: format!("{name}/{}", f.path), data: Some(f.data), mode, uid: 0, gid });
                }
            }
            _ => {}
        }
        if let (Some(sub), VolumeKind::Claim | VolumeKind::EmptyDir) = (&m.sub_path, m.kind) {
            let mode = if m.kind == VolumeKind::EmptyDir { 0o777 } else { 0o755 };
            let parts: Vec<&str> = sub.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
            for i in 1..=parts.len() {
                push(&mut out, dir(format!("{name}/{}", parts[..i].join("/")), mode));
            }
        }
    }
    Ok(out)
}

/// The main container of the template as a [`Container`].
fn main_container(t: &PodTemplate) -> Container {
    Container {
        name: t.container_name.clone(),
        image: t.image.clone(),
        command: t.command.clone(),
        args: t.args.clone(),
        env_vars: t.env_vars.clone(),
        env_from: t.env_from.clone(),
        mounts: t.mounts.clone(),
        security: t.security.clone(),
    }
}

/// Whether runAsNonRoot lets the container start: the kubelet refuses (CreateContainerConfigError)
/// a root user, and a user it cannot prove non-root (the image's USER by name).
async fn non_root(docker: &Docker, image: &str, run_as_user: Option<i64>) -> Result<(), String> {
    let user = match run_as_user {
        Some(u) => u.to_string(),
        None => docker.inspect_image(image).await.map_err(|e| format!("inspecting image {image}: {e}"))?.config.and_then(|c| c.user).unwrap_or_default(),
    };
    non_root_user(image, &user)
}

/// [`non_root`] on the user a container would run as (`uid[:gid]`, a name, or empty for root).
fn non_root_user(image: &str, user: &str) -> Result<(), String> {
    match user.split(':').next().unwrap_or("") {
        "" | "root" | "0" => Err(format!("container has runAsNonRoot and image {image} will run as root")),
        uid if uid.parse::<u32>().is_err() => Err(format!("container has runAsNonRoot and image {image} has non-numeric user ({uid}), cannot verify user is non-root")),
        _ => Ok(()),
    }
}

/// Docker's stop: SIGTERM, then SIGKILL after `grace` (whole seconds, as the engine takes them).
fn stop_within(grace: Duration) -> StopContainerOptions {
    StopContainerOptions { t: Some(i32::try_from(grace.as_secs()).unwrap_or(i32::MAX)), ..Default::default() }
}

/// The container a kubelet would create for `c` (the main container or an init container) of
/// the pod, with its resolved environment and its mounts. Only the main container publishes ports.
pub fn container_config(spec: &PodSpec, c: &Container, env: &[(String, String)], mounts: Vec<Mount>) -> Config {
    let t = &spec.template;
    let main = c.name == t.container_name;
    let sc = &c.security;
    let user = match (sc.run_as_user, sc.run_as_group) {
        (Some(u), Some(g)) => Some(format!("{u}:{g}")),
        (Some(u), None) => Some(u.to_string()),
        (None, Some(g)) => Some(format!("0:{g}")),
        (None, None) => None,
    };
    let host_ports = if main { spec.host_ports.clone() } else { BTreeMap::new() };
    let port_bindings: HashMap<String, Option<Vec<PortBinding>>> =
        host_ports.iter().map(|(c, h)| (format!("{c}/tcp"), Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(h.to_string()) }]))).collect();
    let exposed: Vec<String> = host_ports.keys().map(|c| format!("{c}/tcp")).collect();
    let mut labels = run_labels(&spec.run_id);
    labels.insert("zk-chaos.member".to_string(), spec.member.clone());
    labels.insert("zk-chaos.revision".to_string(), spec.revision.clone());
    if !main {
        labels.insert("zk-chaos.init-container".to_string(), c.name.clone());
    }
    // Kubernetes expands $(VAR) in command and args from the container's environment.
    let expand = |v: &[String]| v.iter().map(|a| resolve::expand(a, env)).collect::<Vec<_>>();
    let mut security_opt = Vec::new();
    if sc.no_new_privileges {
        security_opt.push("no-new-privileges".to_string());
    }
    if sc.seccomp_unconfined {
        security_opt.push("seccomp=unconfined".to_string());
    }
    Config {
        image: Some(c.image.clone().unwrap_or_else(|| spec.image.clone())),
        hostname: Some(spec.member.clone()),
        domainname: Some(spec.domain.clone()),
        entrypoint: (!c.command.is_empty()).then(|| expand(&c.command)),
        cmd: (!c.args.is_empty()).then(|| expand(&c.args)),
        env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        user,
        labels: Some(labels),
        exposed_ports: Some(exposed),
        host_config: Some(HostConfig {
            mounts: Some(mounts),
            port_bindings: Some(port_bindings),
            network_mode: Some(spec.network.clone()),
            group_add: t.fs_group.map(|g| vec![g.to_string()]),
            cpu_shares: t.cpu_request.filter(|_| main).map(|c| ((c * 1024.0) as i64).max(2)),
            nano_cpus: t.cpu_limit.filter(|_| main).map(|c| (c * 1e9) as i64),
            memory: t.memory_limit_bytes.filter(|_| main),
            readonly_rootfs: sc.read_only_root.then_some(true),
            privileged: sc.privileged.then_some(true),
            cap_add: (!sc.cap_add.is_empty()).then(|| sc.cap_add.clone()),
            cap_drop: (!sc.cap_drop.is_empty()).then(|| sc.cap_drop.clone()),
            security_opt: (!security_opt.is_empty()).then_some(security_opt),
            // Cluster DNS answers at once for a name it does not have (a member a scale-up has not
            // created yet); Docker's embedded DNS forwards it upstream, and on a host whose
            // upstream does not answer each lookup took 20 s, so a server whose list names absent
            // members never started. One second, one attempt: a member's own names answer locally.
            dns_options: Some(DNS_OPTIONS.iter().map(|o| o.to_string()).collect()),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(spec.network.clone(), EndpointSettings { aliases: Some(spec.aliases.clone()), ..Default::default() })])),
        }),
        ..Default::default()
    }
}

/// The resolver options of every container of a pod (see where they are set).
pub const DNS_OPTIONS: [&str; 2] = ["timeout:1", "attempts:1"];

/// The names other pods resolve `member` by on Kubernetes: through a headless governing Service
/// that selects it, `member.service`, `.namespace`, `.svc` and the FQDN; else none (its own
/// hostname resolves only inside it, from /etc/hosts, as in a pod).
pub fn dns_aliases(member: &str, service: &str, namespace: &str, governed: bool) -> Vec<String> {
    if !governed {
        return Vec::new();
    }
    let short = format!("{member}.{service}");
    vec![format!("{short}.{namespace}.svc.cluster.local"), format!("{short}.{namespace}.svc"), format!("{short}.{namespace}"), short]
}

/// Creates the run's network (the headless Service's DNS lives on it). An engine refuses a name it
/// has from API 1.44 on; before that (Docker 20.10 speaks 1.41) it would make a second network of
/// that name, so a name in use is refused here first, as bollard 0.18's `check_duplicate` did.
pub async fn create_network(docker: &Docker, name: &str, run_id: &str) -> anyhow::Result<()> {
    if docker.inspect_network(name, None::<bollard::query_parameters::InspectNetworkOptions>).await.is_ok() {
        anyhow::bail!("creating network {name}: the engine has a network of that name already");
    }
    docker
        .create_network(NetworkCreateRequest { name: name.to_string(), driver: Some("bridge".to_string()), labels: Some(run_labels(run_id)), ..Default::default() })
        .await
        .with_context(|| format!("creating network {name}"))?;
    Ok(())
}

/// Creates a helper container `name`, runs it to its end and removes it: its exit code and the
/// last 50 lines of its output. The container is removed on every path, a failed start included.
pub async fn run_to_end(docker: &Docker, name: &str, config: Config) -> anyhow::Result<(i64, String)> {
    let _ = docker.remove_container(name, Some(RemoveContainerOptions { force: true, v: true, ..Default::default() })).await;
    let c =
        docker.create_container(Some(CreateContainerOptions { name: Some(name.to_string()), ..Default::default() }), config).await.with_context(|| format!("creating {name}"))?;
    let ran = async {
        docker.start_container(&c.id, None::<StartContainerOptions>).await.with_context(|| format!("starting {name}"))?;
        let code = wait_exit(docker, &c.id).await?;
        anyhow::Ok((code, engine::logs(docker, &c.id, Some(50)).await.unwrap_or_default()))
    }
    .await;
    let _ = docker.remove_container(&c.id, Some(RemoveContainerOptions { force: true, v: true, ..Default::default() })).await;
    ran
}

/// Resolves with the container's exit code when it stops.
async fn wait_exit(docker: &Docker, id: &str) -> anyhow::Result<i64> {
    let mut stream = docker.wait_container(id, Some(WaitContainerOptions { condition: "not-running".to_string() }));
    match stream.next().await {
        Some(Ok(r)) => Ok(r.status_code),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => {
            // The wait stream broke: fall back to polling the container's state.
            tracing::debug!("wait on {id} failed ({e}); polling");
            loop {
                let c = docker.inspect_container(id, None).await.with_context(|| format!("inspecting {id}"))?;
                let st = c.state.unwrap_or_default();
                if st.running != Some(true) {
                    return Ok(st.exit_code.unwrap_or(-1));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        None => anyhow::bail!("wait on {id} ended without a status"),
    }
}

/// What a probe runs against: the container, and for tcpSocket and httpGet its address on the
/// run's network, reached from this host (never through the loopback port, whose proxy accepts
/// a connection even when nothing listens in the container).
#[derive(Clone)]
struct Target {
    docker: Docker,
    id: String,
    network: String,
}

impl Target {
    async fn ip(&self) -> Result<String, String> {
        let c = self.docker.inspect_container(&self.id, None).await.map_err(|e| format!("inspecting the container: {e}"))?;
        c.network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(&self.network))
            .and_then(|e| e.ip_address)
            .filter(|ip| !ip.is_empty())
            .ok_or(format!("the container has no address on {}", self.network))
    }
}

/// One probe: success when the command exits 0, the port accepts a connection, or the GET
/// answers 200 to 399, within the probe's timeout.
async fn run_probe(target: &Target, probe: &Probe) -> Result<(), String> {
    match &probe.handler {
        Handler::Exec(command) => {
            let argv: Vec<&str> = command.iter().map(String::as_str).collect();
            match engine::exec(&target.docker, &target.id, &argv, probe.timeout).await {
                Ok(out) if out.success() => Ok(()),
                Ok(out) => Err(format!("exit code {}: {}", out.exit_code, (out.stdout + &out.stderr).trim())),
                Err(e) => Err(format!("{e:#}")),
            }
        }
        Handler::Tcp { port } => {
            let addr = format!("{}:{port}", target.ip().await?);
            match tokio::time::timeout(probe.timeout, tokio::net::TcpStream::connect(&addr)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("dial tcp {addr}: {e}")),
                Err(_) => Err(format!("dial tcp {addr}: timed out after {}s", probe.timeout.as_secs())),
            }
        }
        Handler::Http { port, path, headers } => {
            let addr = format!("{}:{port}", target.ip().await?);
            match tokio::time::timeout(probe.timeout, http_get(&addr, path, headers)).await {
                Ok(Ok(code)) if (200..400).contains(&code) => Ok(()),
                Ok(Ok(code)) => Err(format!("HTTP probe failed with statuscode: {code} (GET http://{addr}{path})")),
                Ok(Err(e)) => Err(format!("GET http://{addr}{path}: {e}")),
                Err(_) => Err(format!("GET http://{addr}{path}: timed out after {}s", probe.timeout.as_secs())),
            }
        }
    }
}

/// The status code of `GET path` on `addr` (HTTP/1.1, as the kubelet's probe sends it).
async fn http_get(addr: &str, path: &str, headers: &[(String, String)]) -> std::io::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    conn.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    status_code(&head).ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {:?}", String::from_utf8_lossy(&head[..head.len().min(80)]))))
}

/// The status of an HTTP response's first line (`HTTP/1.1 200 OK`).
fn status_code(head: &[u8]) -> Option<u16> {
    let line = String::from_utf8_lossy(head);
    let mut words = line.lines().next()?.split_whitespace();
    words.next().filter(|v| v.starts_with("HTTP/"))?;
    words.next()?.parse().ok()
}

async fn readiness_loop(target: Target, probe: Probe, status: Arc<Mutex<MemberStatus>>, life: Arc<LifecycleLog>, member: String) {
    tokio::time::sleep(probe.initial_delay).await;
    let (mut ok, mut bad) = (0u32, 0u32);
    loop {
        let started = Instant::now();
        let result = run_probe(&target, &probe).await;
        let ready = status.lock().expect("status lock").ready;
        match result {
            Ok(()) => {
                ok += 1;
                bad = 0;
                if !ready && ok >= probe.success_threshold {
                    status.lock().expect("status lock").ready = true;
                    life.record(&member, LifecycleKind::Ready, "readiness probe passed");
                }
            }
            Err(why) => {
                bad += 1;
                ok = 0;
                if ready && bad >= probe.failure_threshold {
                    status.lock().expect("status lock").ready = false;
                    life.record(&member, LifecycleKind::NotReady, format!("readiness probe failed {bad} times: {why}"));
                }
            }
        }
        tokio::time::sleep(probe.period.saturating_sub(started.elapsed())).await;
    }
}

/// Returns (with the reason) once the probe failed `failureThreshold` times in a row.
async fn liveness_loop(target: &Target, probe: &Probe, life: &LifecycleLog, member: &str) -> String {
    tokio::time::sleep(probe.initial_delay).await;
    let mut bad = 0u32;
    loop {
        let started = Instant::now();
        match run_probe(target, probe).await {
            Ok(()) => bad = 0,
            Err(why) => {
                bad += 1;
                life.record(member, LifecycleKind::LivenessFailed, format!("failure {bad} of {}: {why}", probe.failure_threshold));
                if bad >= probe.failure_threshold {
                    return format!("liveness probe failed {bad} times in a row: {why}");
                }
            }
        }
        tokio::time::sleep(probe.period.saturating_sub(started.elapsed())).await;
    }
}

/// The startup probe until it passes (`None`), or why it killed the container: `failureThreshold`
/// failures in a row, as the kubelet counts them.
async fn startup_loop(target: &Target, probe: &Probe, life: &LifecycleLog, member: &str) -> Option<String> {
    tokio::time::sleep(probe.initial_delay).await;
    let mut bad = 0u32;
    loop {
        let started = Instant::now();
        match run_probe(target, probe).await {
            Ok(()) => return None,
            Err(why) => {
                bad += 1;
                if bad >= probe.failure_threshold {
                    life.record(member, LifecycleKind::LivenessFailed, format!("startup probe failure {bad} of {}: {why}", probe.failure_threshold));
                    return Some(format!("startup probe failed {bad} times in a row: {why}"));
                }
            }
        }
        tokio::time::sleep(probe.period.saturating_sub(started.elapsed())).await;
    }
}

/// The label naming the claim a volume stands for (`datadir-zk-0`).
pub const CLAIM_LABEL: &str = "zk-chaos.claim";
/// The label holding a volume's identity, set once when it is created (a PV's UID).
pub const UID_LABEL: &str = "zk-chaos.uid";

/// A fresh identity for a volume being created now: unique per name, time and process.
fn new_uid(name: &str) -> String {
    use sha2::{Digest, Sha256};
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let digest = Sha256::digest(format!("{name}/{nanos}/{}", std::process::id()).as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {

    #[test]
    fn volume_uids_differ_between_creations_of_the_same_name() {
        let a = new_uid("r1-datadir-zk-0");
        let b = new_uid("r1-datadir-zk-0");
        assert_eq!(a.len(), 16);
        assert_ne!(a, b, "a re-created volume must not look like the old one");
    }
    use super::*;
    use crate::manifest::walkthrough;

    fn spec() -> PodSpec {
        spec_of(&walkthrough(), 1)
    }

    fn spec_of(m: &crate::manifest::Manifest, ordinal: usize) -> PodSpec {
        let member = m.member_names()[ordinal].clone();
        PodSpec {
            run_id: "zk-chaos-t".into(),
            member: member.clone(),
            ordinal,
            domain: format!("{}.default.svc.cluster.local", m.service_name()),
            network: "zk-chaos-t".into(),
            image: m.pod_template().image.unwrap(),
            template: m.pod_template(),
            revision: "abc".into(),
            host_ports: BTreeMap::from([(2181, 40001)]),
            op_timeout: Duration::from_secs(5),
            objects: Arc::new(Objects::of(m)),
            facts: m.pod_facts(&member, "default"),
            aliases: dns_aliases(&member, m.service_name(), "default", m.governs_members()),
        }
    }

    /// The main container's config as the worker makes it, subPath volumes at `/var/lib/docker/volumes/NAME/_data`.
    fn config(s: &PodSpec) -> Config {
        let main = main_container(&s.template);
        let env = resolve::env(&main.env_vars, &main.env_from, &s.objects, &s.facts).unwrap();
        let mounts = main.mounts.iter().map(|m| docker_mount(s, m, Some(&format!("/var/lib/docker/volumes/{}/_data", s.volume_name(&m.volume, m.kind))))).collect();
        container_config(s, &main, &env, mounts)
    }

    #[test]
    fn the_container_is_the_pod_template() {
        let c = config(&spec());
        assert_eq!(c.hostname.as_deref(), Some("zk-1"));
        assert_eq!(c.domainname.as_deref(), Some("zk-hs.default.svc.cluster.local"));
        assert_eq!(c.user.as_deref(), Some("1000"));
        assert_eq!(c.entrypoint.as_ref().unwrap()[..2], ["sh".to_string(), "-c".to_string()]);
        assert_eq!(c.cmd, None);
        let hc = c.host_config.unwrap();
        assert_eq!(hc.group_add, Some(vec!["1000".to_string()]));
        assert_eq!(hc.cpu_shares, Some(512), "cpu request 0.5 -> half the default shares");
        assert_eq!((hc.readonly_rootfs, hc.cap_drop, hc.security_opt), (None, None, None), "the walkthrough sets none of them");
        assert_eq!(hc.dns_options, Some(vec!["timeout:1".to_string(), "attempts:1".to_string()]), "a name the network lacks fails fast, as cluster DNS answers NXDOMAIN");
        let m = &hc.mounts.unwrap()[0];
        assert_eq!(m.source.as_deref(), Some("zk-chaos-t-datadir-zk-1"));
        assert_eq!(m.target.as_deref(), Some("/var/lib/zookeeper"));
        assert_eq!(m.volume_options.as_ref().unwrap().no_copy, Some(true), "a PV starts empty");
        let b = &hc.port_bindings.unwrap()["2181/tcp"].clone().unwrap()[0];
        assert_eq!((b.host_ip.as_deref(), b.host_port.as_deref()), (Some("127.0.0.1"), Some("40001")));
        let aliases = c.networking_config.unwrap().endpoints_config.unwrap()["zk-chaos-t"].aliases.clone().unwrap();
        assert_eq!(
            aliases,
            ["zk-1.zk-hs.default.svc.cluster.local", "zk-1.zk-hs.default.svc", "zk-1.zk-hs.default", "zk-1.zk-hs"],
            "as cluster DNS answers: not the bare pod name"
        );
        let labels = c.labels.unwrap();
        assert_eq!(labels[crate::platform::RUN_LABEL], "zk-chaos-t");
        assert_eq!(labels[crate::ownership::HOST_LABEL], crate::ownership::this_host());
    }

    #[test]
    fn run_as_group_and_user_combine() {
        let mut s = spec();
        s.template.security.run_as_group = Some(2000);
        assert_eq!(config(&s).user.as_deref(), Some("1000:2000"));
        s.template.security.run_as_user = None;
        s.template.security.run_as_group = None;
        assert_eq!(config(&s).user, None, "the image's USER applies");
    }

    /// A chart-style pod: scripts from a ConfigMap (subPath, mode 0755), emptyDir subPaths under a
    /// read-only root, fieldRef env, a locked-down securityContext and an init container.
    #[test]
    fn a_chart_style_pod_runs_as_its_template_says() {
        let m = crate::manifest::Manifest::parse(CHART, "chart.yaml").unwrap();
        assert!(m.docker_unsupported().is_empty(), "{:?}", m.docker_unsupported());
        let s = spec_of(&m, 2);
        let c = config(&s);
        let env = c.env.clone().unwrap();
        for want in ["POD_NAME=zookeeper-2", "NS=default", "ZOO_TICK_TIME=2000", "ZOO_PASSWORD=s3cret", "ZOO_SERVER_HOST=zookeeper-2.zookeeper-headless.default.svc"] {
            assert!(env.contains(&want.to_string()), "{want}: {env:?}");
        }
        assert_eq!(c.entrypoint.as_ref().unwrap(), &["/scripts/setup.sh".to_string(), "--id-from".to_string(), "zookeeper-2".to_string()], "$(POD_NAME) expanded");
        assert_eq!(c.user.as_deref(), Some("1001:1001"));
        let hc = c.host_config.clone().unwrap();
        assert_eq!(hc.readonly_rootfs, Some(true));
        assert_eq!(hc.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(hc.security_opt, Some(vec!["no-new-privileges".to_string()]));
        assert_eq!(hc.group_add, Some(vec!["1001".to_string()]));
        let mounts = hc.mounts.unwrap();
        let by_target = |t: &str| mounts.iter().find(|m| m.target.as_deref() == Some(t)).unwrap_or_else(|| panic!("no mount at {t}: {mounts:?}")).clone();
        let script = by_target("/scripts/setup.sh");
        assert_eq!(script.typ, Some(MountType::BIND));
        assert_eq!(script.source.as_deref(), Some("/var/lib/docker/volumes/zk-chaos-t-zookeeper-2-scripts-config/_data/setup.sh"));
        assert_eq!(script.read_only, Some(true), "configMap volumes are read-only");
        let conf = by_target("/opt/bitnami/zookeeper/conf");
        assert_eq!(conf.source.as_deref(), Some("/var/lib/docker/volumes/zk-chaos-t-zookeeper-2-empty-dir-emptydir/_data/app-conf-dir"));
        assert_eq!(by_target("/bitnami/zookeeper").typ, Some(MountType::VOLUME));

        let all: Vec<&PodMount> = s.template.mounts.iter().chain(s.template.init_containers.iter().flat_map(|c| c.mounts.iter())).collect();
        let created = all.iter().map(|m| s.volume_name(&m.volume, m.kind)).collect();
        let entries = staging(&s, &all, &created).unwrap();
        let entry = |p: &str| entries.iter().find(|e| e.path == p).unwrap_or_else(|| panic!("no {p}: {entries:?}"));
        let setup = entry("zk-chaos-t-zookeeper-2-scripts-config/setup.sh");
        assert_eq!((setup.mode, setup.uid, setup.gid), (0o755, 0, 1001), "defaultMode 0755, group fsGroup");
        assert_eq!(setup.data.as_deref(), Some(&b"#!/bin/bash\nexec /entrypoint.sh /run.sh"[..]));
        assert_eq!(entry("zk-chaos-t-zookeeper-2-empty-dir-emptydir").mode, 0o777, "an emptyDir's root is world-writable, as on Kubernetes");
        assert_eq!(entry("zk-chaos-t-zookeeper-2-empty-dir-emptydir/app-logs-dir").data, None);
        assert!(entries.iter().all(|e| !e.path.contains("data-zookeeper-2/")), "a claim without subPath gets nothing: {entries:?}");

        let init = &s.template.init_containers[0];
        let ienv = resolve::env(&init.env_vars, &init.env_from, &s.objects, &s.facts).unwrap();
        let ic = container_config(&s, init, &ienv, vec![]);
        assert_eq!(ic.image.as_deref(), Some("zk-chaos/zookeeper-bitnami:3.9.5"));
        assert!(ic.host_config.as_ref().unwrap().port_bindings.as_ref().unwrap().is_empty(), "an init container publishes nothing");
        assert_eq!(ic.labels.unwrap()["zk-chaos.init-container"], "prepare");
        assert_eq!(s.template.startup.as_ref().unwrap().handler, Handler::Tcp { port: 2181 });
        assert_eq!(s.template.readiness.as_ref().unwrap().handler, Handler::Http { port: 8080, path: "/commands/ruok".into(), headers: vec![] });
        assert_eq!(s.template.pre_stop.as_deref(), Some(&["/bin/sh".to_string(), "-c".to_string(), "sleep 1".to_string()][..]));
    }

    #[test]
    fn without_a_headless_governing_service_members_have_no_names() {
        assert!(dns_aliases("zk-0", "zk-hs", "ns", false).is_empty());
        let text = crate::manifest::REFERENCE.replacen("  clusterIP: None\n", "", 1);
        let m = crate::manifest::Manifest::parse(&text, "m.yaml").unwrap();
        assert!(!m.governs_members());
        assert!(spec_of(&m, 0).aliases.is_empty());
        assert!(m.docker_service_notes()[0].contains("no member has a DNS name"), "{:?}", m.docker_service_notes());
        assert!(walkthrough().governs_members());
    }

    #[test]
    fn run_as_non_root_refuses_root_and_names_as_the_kubelet_does() {
        assert!(non_root_user("i", "1001").is_ok());
        assert!(non_root_user("i", "1001:0").is_ok());
        for root in ["", "root", "0", "0:0"] {
            assert!(non_root_user("i", root).unwrap_err().contains("runAsNonRoot and image i will run as root"), "{root}");
        }
        assert!(non_root_user("i", "zookeeper").unwrap_err().contains("non-numeric user (zookeeper), cannot verify user is non-root"));
    }

    #[test]
    fn http_status_lines() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"), Some(200));
        assert_eq!(status_code(b"HTTP/1.0 503 Service Unavailable\r\n"), Some(503));
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(b""), None);
    }

    /// A tcpSocket probe passes only when something listens, an httpGet probe only on 200 to 399:
    /// against real sockets on loopback (a container's address is reached the same way).
    #[tokio::test]
    async fn tcp_and_http_probes_fail_when_they_should() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            for answer in ["HTTP/1.1 200 OK\r\n\r\n", "HTTP/1.1 500 Internal Server Error\r\n\r\n"] {
                let (mut c, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let n = c.read(&mut buf).await.unwrap();
                assert!(String::from_utf8_lossy(&buf[..n]).starts_with("GET /commands/ruok HTTP/1.1\r\n"));
                c.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        let addr = format!("127.0.0.1:{port}");
        assert_eq!(http_get(&addr, "/commands/ruok", &[]).await.unwrap(), 200);
        assert_eq!(http_get(&addr, "/commands/ruok", &[]).await.unwrap(), 500);
        server.await.unwrap();
        assert!(tokio::net::TcpStream::connect(&addr).await.is_err(), "nothing listens any more: a tcpSocket probe fails");
    }

    const CHART: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: zookeeper-scripts
data:
  setup.sh: |-
    #!/bin/bash
    exec /entrypoint.sh /run.sh
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: zookeeper-env
data:
  ZOO_TICK_TIME: "2000"
---
apiVersion: v1
kind: Secret
metadata:
  name: zookeeper-auth
stringData:
  password: s3cret
---
apiVersion: v1
kind: Service
metadata:
  name: zookeeper-headless
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector:
    app: zookeeper
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: zookeeper
spec:
  replicas: 3
  podManagementPolicy: Parallel
  serviceName: zookeeper-headless
  selector:
    matchLabels:
      app: zookeeper
  template:
    metadata:
      labels:
        app: zookeeper
    spec:
      securityContext:
        fsGroup: 1001
        fsGroupChangePolicy: OnRootMismatch
        supplementalGroups: []
      initContainers:
        - name: prepare
          image: zk-chaos/zookeeper-bitnami:3.9.5
          command: [/bin/sh, -c, "true"]
          ports: []
      containers:
        - name: zookeeper
          image: zk-chaos/zookeeper-bitnami:3.9.5
          command: [/scripts/setup.sh, --id-from, $(POD_NAME)]
          securityContext:
            runAsUser: 1001
            runAsGroup: 1001
            runAsNonRoot: true
            privileged: false
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities:
              drop: [ALL]
            seccompProfile:
              type: RuntimeDefault
          envFrom:
            - configMapRef:
                name: zookeeper-env
          env:
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            - name: NS
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
            - name: ZOO_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: zookeeper-auth
                  key: password
            - name: ZOO_SERVER_HOST
              value: $(POD_NAME).zookeeper-headless.$(NS).svc
          ports:
            - name: client
              containerPort: 2181
            - name: http-admin
              containerPort: 8080
          lifecycle:
            preStop:
              exec:
                command: [/bin/sh, -c, sleep 1]
          startupProbe:
            tcpSocket:
              port: client
          readinessProbe:
            httpGet:
              path: /commands/ruok
              port: http-admin
          volumeMounts:
            - name: empty-dir
              mountPath: /tmp
              subPath: tmp-dir
            - name: empty-dir
              mountPath: /opt/bitnami/zookeeper/conf
              subPath: app-conf-dir
            - name: empty-dir
              mountPath: /opt/bitnami/zookeeper/logs
              subPath: app-logs-dir
            - name: scripts
              mountPath: /scripts/setup.sh
              subPath: setup.sh
            - name: data
              mountPath: /bitnami/zookeeper
      volumes:
        - name: empty-dir
          emptyDir: {}
        - name: scripts
          configMap:
            name: zookeeper-scripts
            defaultMode: 0755
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: [ReadWriteOnce]
        resources:
          requests:
            storage: 1Gi
"#;
}
