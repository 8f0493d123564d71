//! One member's pod, run as a kubelet would: a fresh container from the image at every
//! (re)start, only its volumes persisting; exec readiness and liveness probes with Kubernetes'
//! timing; restartPolicy Always with a crash-loop backoff; fsGroup applied to the volumes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bollard::container::{Config, CreateContainerOptions, RemoveContainerOptions, StartContainerOptions, StopContainerOptions, WaitContainerOptions};
use bollard::models::{EndpointSettings, HostConfig, Mount, MountTypeEnum, MountVolumeOptions, PortBinding};
use bollard::network::CreateNetworkOptions;
use bollard::volume::CreateVolumeOptions;
use bollard::Docker;
use chrono::Utc;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::engine;
use crate::manifest::pod::{PodTemplate, Probe, VolumeKind};
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
        loop {
            let ran_from = Instant::now();
            let ended = match self.start_container().await {
                Ok(id) => self.supervise(&id, restarts).await,
                Err(e) => Ended::Broken(e),
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

    /// Creates and starts a fresh container; returns its id.
    async fn start_container(&self) -> anyhow::Result<String> {
        let spec = &self.spec;
        self.prepare_volumes().await?;
        let name = spec.container_name();
        let _ = self.docker.remove_container(&name, Some(RemoveContainerOptions { force: true, v: true, ..Default::default() })).await;
        let created = self
            .docker
            .create_container(Some(CreateContainerOptions { name: name.clone(), platform: None }), container_config(spec))
            .await
            .with_context(|| format!("creating container {name}"))?;
        self.docker.start_container(&created.id, None::<StartContainerOptions<String>>).await.with_context(|| format!("starting {name}"))?;
        let short: String = created.id.chars().take(12).collect();
        self.set(|s| {
            s.running = true;
            s.container_id = Some(created.id.clone());
            s.started_at = Some(Utc::now());
            s.phase = "Running".into();
            s.reason = None;
        });
        self.life.record(&spec.member, LifecycleKind::Started, format!("container {short}"));
        Ok(created.id)
    }

    /// Runs the probes until the container ends, the liveness probe kills it, or the pod is deleted.
    async fn supervise(&self, id: &str, _restarts: u32) -> Ended {
        let spec = &self.spec;
        let readiness = match spec.template.readiness.clone() {
            Some(probe) => {
                let (docker, id, status, life, member) = (self.docker.clone(), id.to_string(), self.status.clone(), self.life.clone(), spec.member.clone());
                Some(tokio::spawn(async move { readiness_loop(docker, id, probe, status, life, member).await }))
            }
            None => {
                self.set(|s| s.ready = true);
                self.life.record(&spec.member, LifecycleKind::Ready, "no readiness probe: ready when running");
                None
            }
        };
        let liveness = async {
            match spec.template.liveness.clone() {
                Some(probe) => liveness_loop(&self.docker, id, &probe, &self.life, &spec.member).await,
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
        if let Ended::LivenessKilled(why) = &ended {
            // The kubelet reports the kill when it decides it, before the grace period runs.
            self.life.record(&spec.member, LifecycleKind::LivenessKilled, why.clone());
        }
        if matches!(ended, Ended::Deleted | Ended::LivenessKilled(_)) {
            // As the kubelet: SIGTERM, then SIGKILL after the grace period.
            let t = spec.template.termination_grace.as_secs() as i64;
            let _ = self.docker.stop_container(id, Some(StopContainerOptions { t })).await;
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

    /// Creates the member's volumes if missing (a claim's volume outlives the pod) and applies
    /// fsGroup: group ownership and setgid, as the kubelet does for volumes that support it.
    async fn prepare_volumes(&self) -> anyhow::Result<()> {
        let spec = &self.spec;
        if spec.template.mounts.is_empty() {
            return Ok(());
        }
        for m in &spec.template.mounts {
            let name = spec.volume_name(&m.volume, m.kind);
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
            self.docker.create_volume(CreateVolumeOptions { name: name.clone(), labels, ..Default::default() }).await.with_context(|| format!("creating volume {name}"))?;
        }
        let Some(group) = spec.template.fs_group else { return Ok(()) };
        let paths: Vec<String> = spec.template.mounts.iter().filter(|m| !m.read_only).map(|m| m.path.clone()).collect();
        let paths = paths.join(" ");
        let script = format!("chgrp -R {group} {paths} && chmod -R g+rwX {paths} && find {paths} -type d -exec chmod g+s {{}} +");
        let name = format!("{}-fsgroup", spec.container_name());
        let _ = self.docker.remove_container(&name, Some(RemoveContainerOptions { force: true, ..Default::default() })).await;
        let config = Config {
            image: Some(spec.image.clone()),
            user: Some("0".to_string()),
            entrypoint: Some(vec!["sh".into(), "-c".into(), script]),
            labels: Some(run_labels(&spec.run_id)),
            host_config: Some(HostConfig { mounts: Some(mounts(spec)), network_mode: Some("none".into()), ..Default::default() }),
            ..Default::default()
        };
        match run_to_end(&self.docker, &name, config).await.context("the fsGroup helper")? {
            (0, _) => Ok(()),
            (n, logs) => anyhow::bail!("applying fsGroup {group} to {paths} exited {n}: {}", logs.trim()),
        }
    }

    async fn remove_empty_dirs(&self) {
        for m in self.spec.template.mounts.iter().filter(|m| m.kind == VolumeKind::EmptyDir) {
            let _ = self.docker.remove_volume(&self.spec.volume_name(&m.volume, m.kind), None).await;
        }
    }
}

fn mounts(spec: &PodSpec) -> Vec<Mount> {
    spec.template
        .mounts
        .iter()
        .map(|m| Mount {
            target: Some(m.path.clone()),
            source: Some(spec.volume_name(&m.volume, m.kind)),
            typ: Some(MountTypeEnum::VOLUME),
            read_only: Some(m.read_only),
            // A PersistentVolume starts empty: do not copy the image's directory into it.
            volume_options: Some(MountVolumeOptions { no_copy: Some(true), ..Default::default() }),
            ..Default::default()
        })
        .collect()
}

/// The container a kubelet would create from the pod template.
pub fn container_config(spec: &PodSpec) -> Config<String> {
    let t = &spec.template;
    let user = match (t.run_as_user, t.run_as_group) {
        (Some(u), Some(g)) => Some(format!("{u}:{g}")),
        (Some(u), None) => Some(u.to_string()),
        (None, Some(g)) => Some(format!("0:{g}")),
        (None, None) => None,
    };
    let port_bindings: HashMap<String, Option<Vec<PortBinding>>> =
        spec.host_ports.iter().map(|(c, h)| (format!("{c}/tcp"), Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(h.to_string()) }]))).collect();
    let exposed: HashMap<String, HashMap<(), ()>> = spec.host_ports.keys().map(|c| (format!("{c}/tcp"), HashMap::new())).collect();
    let fqdn = format!("{}.{}", spec.member, spec.domain);
    let service = spec.domain.split('.').next().unwrap_or_default();
    let aliases = vec![fqdn, format!("{}.{service}", spec.member), spec.member.clone()];
    let mut labels = run_labels(&spec.run_id);
    labels.insert("zk-chaos.member".to_string(), spec.member.clone());
    labels.insert("zk-chaos.revision".to_string(), spec.revision.clone());
    Config {
        image: Some(spec.image.clone()),
        hostname: Some(spec.member.clone()),
        domainname: Some(spec.domain.clone()),
        entrypoint: (!t.command.is_empty()).then(|| t.command.clone()),
        cmd: (!t.args.is_empty()).then(|| t.args.clone()),
        env: Some(t.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        user,
        labels: Some(labels),
        exposed_ports: Some(exposed),
        host_config: Some(HostConfig {
            mounts: Some(mounts(spec)),
            port_bindings: Some(port_bindings),
            network_mode: Some(spec.network.clone()),
            group_add: t.fs_group.map(|g| vec![g.to_string()]),
            cpu_shares: t.cpu_request.map(|c| ((c * 1024.0) as i64).max(2)),
            nano_cpus: t.cpu_limit.map(|c| (c * 1e9) as i64),
            memory: t.memory_limit_bytes,
            ..Default::default()
        }),
        networking_config: Some(bollard::container::NetworkingConfig {
            endpoints_config: HashMap::from([(spec.network.clone(), EndpointSettings { aliases: Some(aliases), ..Default::default() })]),
        }),
        ..Default::default()
    }
}

/// Creates the run's network (the headless Service's DNS lives on it).
pub async fn create_network(docker: &Docker, name: &str, run_id: &str) -> anyhow::Result<()> {
    docker
        .create_network(CreateNetworkOptions { name: name.to_string(), check_duplicate: true, driver: "bridge".to_string(), labels: run_labels(run_id), ..Default::default() })
        .await
        .with_context(|| format!("creating network {name}"))?;
    Ok(())
}

/// Creates a helper container `name`, runs it to its end and removes it: its exit code and the
/// last 50 lines of its output. The container is removed on every path, a failed start included.
pub async fn run_to_end(docker: &Docker, name: &str, config: Config<String>) -> anyhow::Result<(i64, String)> {
    let _ = docker.remove_container(name, Some(RemoveContainerOptions { force: true, ..Default::default() })).await;
    let c = docker.create_container(Some(CreateContainerOptions { name: name.to_string(), platform: None }), config).await.with_context(|| format!("creating {name}"))?;
    let ran = async {
        docker.start_container(&c.id, None::<StartContainerOptions<String>>).await.with_context(|| format!("starting {name}"))?;
        let code = wait_exit(docker, &c.id).await?;
        anyhow::Ok((code, engine::logs(docker, &c.id, Some(50)).await.unwrap_or_default()))
    }
    .await;
    let _ = docker.remove_container(&c.id, Some(RemoveContainerOptions { force: true, ..Default::default() })).await;
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

/// One probe: success when the command exits 0 within the probe's timeout.
async fn run_probe(docker: &Docker, id: &str, probe: &Probe) -> Result<(), String> {
    let argv: Vec<&str> = probe.command.iter().map(String::as_str).collect();
    match engine::exec(docker, id, &argv, probe.timeout).await {
        Ok(out) if out.success() => Ok(()),
        Ok(out) => Err(format!("exit code {}: {}", out.exit_code, (out.stdout + &out.stderr).trim())),
        Err(e) => Err(format!("{e:#}")),
    }
}

async fn readiness_loop(docker: Docker, id: String, probe: Probe, status: Arc<Mutex<MemberStatus>>, life: Arc<LifecycleLog>, member: String) {
    tokio::time::sleep(probe.initial_delay).await;
    let (mut ok, mut bad) = (0u32, 0u32);
    loop {
        let started = Instant::now();
        let result = run_probe(&docker, &id, &probe).await;
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
async fn liveness_loop(docker: &Docker, id: &str, probe: &Probe, life: &LifecycleLog, member: &str) -> String {
    tokio::time::sleep(probe.initial_delay).await;
    let mut bad = 0u32;
    loop {
        let started = Instant::now();
        match run_probe(docker, id, probe).await {
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
        PodSpec {
            run_id: "zk-chaos-t".into(),
            member: "zk-1".into(),
            ordinal: 1,
            domain: "zk-hs.default.svc.cluster.local".into(),
            network: "zk-chaos-t".into(),
            image: "zk-chaos/zookeeper:3.8".into(),
            template: walkthrough().pod_template(),
            revision: "abc".into(),
            host_ports: BTreeMap::from([(2181, 40001)]),
            op_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn the_container_is_the_pod_template() {
        let c = container_config(&spec());
        assert_eq!(c.hostname.as_deref(), Some("zk-1"));
        assert_eq!(c.domainname.as_deref(), Some("zk-hs.default.svc.cluster.local"));
        assert_eq!(c.user.as_deref(), Some("1000"));
        assert_eq!(c.entrypoint.as_ref().unwrap()[..2], ["sh".to_string(), "-c".to_string()]);
        assert_eq!(c.cmd, None);
        let hc = c.host_config.unwrap();
        assert_eq!(hc.group_add, Some(vec!["1000".to_string()]));
        assert_eq!(hc.cpu_shares, Some(512), "cpu request 0.5 -> half the default shares");
        let m = &hc.mounts.unwrap()[0];
        assert_eq!(m.source.as_deref(), Some("zk-chaos-t-datadir-zk-1"));
        assert_eq!(m.target.as_deref(), Some("/var/lib/zookeeper"));
        assert_eq!(m.volume_options.as_ref().unwrap().no_copy, Some(true), "a PV starts empty");
        let b = &hc.port_bindings.unwrap()["2181/tcp"].clone().unwrap()[0];
        assert_eq!((b.host_ip.as_deref(), b.host_port.as_deref()), (Some("127.0.0.1"), Some("40001")));
        let aliases = c.networking_config.unwrap().endpoints_config["zk-chaos-t"].aliases.clone().unwrap();
        assert_eq!(aliases, ["zk-1.zk-hs.default.svc.cluster.local", "zk-1.zk-hs", "zk-1"]);
        let labels = c.labels.unwrap();
        assert_eq!(labels[crate::platform::RUN_LABEL], "zk-chaos-t");
        assert_eq!(labels[crate::ownership::HOST_LABEL], crate::ownership::this_host());
    }

    #[test]
    fn run_as_group_and_user_combine() {
        let mut s = spec();
        s.template.run_as_group = Some(2000);
        assert_eq!(container_config(&s).user.as_deref(), Some("1000:2000"));
        s.template.run_as_user = None;
        s.template.run_as_group = None;
        assert_eq!(container_config(&s).user, None, "the image's USER applies");
    }
}
