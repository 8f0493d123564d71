//! The Docker engine: connecting with a negotiated API version, exec with exit codes, logs,
//! and finding or removing what runs left behind (by the run label).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use bollard::container::{ListContainersOptions, LogOutput, LogsOptions, RemoveContainerOptions};
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::network::ListNetworksOptions;
use bollard::volume::{ListVolumesOptions, RemoveVolumeOptions};
use bollard::Docker;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::platform::{ExecOutput, RUN_LABEL};

/// Connects to the local engine (DOCKER_HOST or the default socket) and negotiates the API
/// version with it, so an older engine (API 1.41, Docker 20.10) works.
pub async fn connect() -> Result<Docker> {
    let unavailable = |e: &dyn std::fmt::Display| {
        Error::unavailable(format!(
            "no Docker engine answers ({e}). zk-chaos runs the ensemble as Docker containers by default: \
             start the Docker daemon (or set DOCKER_HOST to a reachable engine) and check that `docker info` works, \
             or choose another platform with --platform kube or --platform kind."
        ))
    };
    let docker = Docker::connect_with_local_defaults().map_err(|e| unavailable(&e))?;
    let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version()).await.map_err(|_| unavailable(&"no answer within 10s"))?.map_err(|e| unavailable(&e))?;
    docker.ping().await.map_err(|e| unavailable(&e))?;
    Ok(docker)
}

/// Runs `argv` in `container` as the container's user; the exit code comes from inspecting the
/// finished exec. Gives up after `timeout` (the process may keep running, as with kubectl exec).
pub async fn exec(docker: &Docker, container: &str, argv: &[&str], timeout: Duration) -> anyhow::Result<ExecOutput> {
    let run = async {
        let created = docker
            .create_exec(
                container,
                CreateExecOptions { cmd: Some(argv.iter().map(|s| s.to_string()).collect()), attach_stdout: Some(true), attach_stderr: Some(true), ..Default::default() },
            )
            .await?;
        let mut stdout = String::new();
        let mut stderr = String::new();
        if let StartExecResults::Attached { mut output, .. } = docker.start_exec(&created.id, None).await? {
            while let Some(chunk) = output.next().await {
                match chunk? {
                    LogOutput::StdOut { message } => stdout.push_str(&String::from_utf8_lossy(&message)),
                    LogOutput::StdErr { message } => stderr.push_str(&String::from_utf8_lossy(&message)),
                    _ => {}
                }
            }
        }
        // The exit code is set a moment after the output closes.
        for _ in 0..50 {
            let inspect = docker.inspect_exec(&created.id).await?;
            if inspect.running != Some(true) {
                if let Some(code) = inspect.exit_code {
                    return anyhow::Ok(ExecOutput { exit_code: code, stdout, stderr });
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        anyhow::bail!("exec finished its output but reported no exit code")
    };
    tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| anyhow::anyhow!("`{}` did not finish within {}", argv.join(" "), humantime::format_duration(timeout)))?
        .with_context(|| format!("exec `{}` in {container}", argv.join(" ")))
}

/// The container's log (stdout and stderr interleaved), the last `tail` lines if given.
pub async fn logs(docker: &Docker, container: &str, tail: Option<usize>) -> anyhow::Result<String> {
    let opts = LogsOptions::<String> { stdout: true, stderr: true, tail: tail.map_or("all".to_string(), |n| n.to_string()), ..Default::default() };
    let mut stream = docker.logs(container, Some(opts));
    let mut out = String::new();
    while let Some(chunk) = stream.next().await {
        out.push_str(&chunk.with_context(|| format!("logs of {container}"))?.to_string());
    }
    Ok(out)
}

/// What carries the run label: containers, volumes, networks; for one run or (None) any run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Leftovers {
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
    pub networks: Vec<String>,
    /// The run ids they belong to.
    pub runs: Vec<String>,
}

impl Leftovers {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.volumes.is_empty() && self.networks.is_empty()
    }

    pub fn describe(&self) -> String {
        format!("{} containers, {} volumes, {} networks of run(s) {}", self.containers.len(), self.volumes.len(), self.networks.len(), self.runs.join(", "))
    }
}

fn label_filter(run: Option<&str>) -> HashMap<String, Vec<String>> {
    let value = match run {
        Some(run) => format!("{RUN_LABEL}={run}"),
        None => RUN_LABEL.to_string(),
    };
    HashMap::from([("label".to_string(), vec![value])])
}

/// Finds what carries the run label (of `run`, or of any run).
pub async fn find(docker: &Docker, run: Option<&str>) -> anyhow::Result<Leftovers> {
    let mut found = Leftovers::default();
    let mut runs = std::collections::BTreeSet::new();
    let containers = docker.list_containers(Some(ListContainersOptions { all: true, filters: label_filter(run), ..Default::default() })).await.context("listing containers")?;
    for c in containers {
        if let Some(r) = c.labels.as_ref().and_then(|l| l.get(RUN_LABEL)) {
            runs.insert(r.clone());
        }
        found.containers.push(c.id.unwrap_or_default());
    }
    let volumes = docker.list_volumes(Some(ListVolumesOptions { filters: label_filter(run) })).await.context("listing volumes")?;
    for v in volumes.volumes.unwrap_or_default() {
        if let Some(r) = v.labels.get(RUN_LABEL) {
            runs.insert(r.clone());
        }
        found.volumes.push(v.name);
    }
    let networks = docker.list_networks(Some(ListNetworksOptions { filters: label_filter(run) })).await.context("listing networks")?;
    for n in networks {
        if let Some(r) = n.labels.as_ref().and_then(|l| l.get(RUN_LABEL)) {
            runs.insert(r.clone());
        }
        found.networks.push(n.name.unwrap_or_default());
    }
    found.runs = runs.into_iter().collect();
    Ok(found)
}

/// Removes everything carrying the label of `run` (or of any run): containers first (with their
/// anonymous volumes), then volumes, then networks. Every failure is returned, none swallowed.
pub async fn remove(docker: &Docker, run: Option<&str>) -> Vec<String> {
    let mut errors = Vec::new();
    let found = match find(docker, run).await {
        Ok(f) => f,
        Err(e) => return vec![format!("{e:#}")],
    };
    for c in &found.containers {
        let opts = RemoveContainerOptions { force: true, v: true, ..Default::default() };
        match docker.remove_container(c, Some(opts)).await {
            Ok(()) => {}
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
            Err(e) => errors.push(format!("removing container {c}: {e}")),
        }
    }
    for v in &found.volumes {
        let mut last = None;
        // A volume can stay busy for a moment after its container is removed.
        for _ in 0..20 {
            match docker.remove_volume(v, Some(RemoveVolumeOptions { force: true })).await {
                Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                    last = None;
                    break;
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if let Some(e) = last {
            errors.push(format!("removing volume {v}: {e}"));
        }
    }
    for n in &found.networks {
        match docker.remove_network(n).await {
            Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
            Err(e) => errors.push(format!("removing network {n}: {e}")),
        }
    }
    errors
}
