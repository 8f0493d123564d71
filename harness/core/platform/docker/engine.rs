//! The Docker engine: connecting (where [`host::find`] says) with a negotiated API version, exec
//! with exit codes, logs, and finding or removing what runs left behind (by the run label).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions, ListVolumesOptions, LogsOptions, RemoveContainerOptions, RemoveVolumeOptions};
use bollard::Docker;
use futures::StreamExt;

use super::host;
use crate::error::{Error, Result};
use crate::platform::{ExecOutput, RUN_LABEL};

/// Connects to the engine [`host::find`] names (DOCKER_HOST, the docker context, else where testcontainers looks)
/// and negotiates the API version with it, so an older engine (API 1.41, Docker 20.10) works.
///
/// # Errors
/// Bad input for a DOCKER_HOST the docker CLI would refuse; unavailable when no engine answers.
pub async fn connect() -> Result<Docker> {
    Ok(connect_found().await?.0)
}

/// [`connect`], and where the engine was found (for the report: which engine a run used).
pub async fn connect_found() -> Result<(Docker, host::Found)> {
    let found = host::find(&host::Env::from_process(), &|p: &std::path::Path| p.exists())?;
    Ok((connect_to(&found).await?, found))
}

/// Connects to `found`'s engine.
pub async fn connect_to(found: &host::Found) -> Result<Docker> {
    let url = found.endpoint.url();
    let unavailable = |e: &dyn std::fmt::Display| {
        Error::unavailable(format!(
            "no Docker engine answers at {url} (from {}): {e}. zk-chaos runs the ensemble as Docker containers by default: \
             start the Docker daemon (or set DOCKER_HOST to a reachable engine) and check that `docker info` works, \
             or run on an existing cluster with --platform kube (--platform kind needs a Docker engine too).",
            found.from
        ))
    };
    const TIMEOUT_S: u64 = 120;
    let docker = match &found.endpoint {
        host::Endpoint::Unix(path) => Docker::connect_with_unix(&path.to_string_lossy(), TIMEOUT_S, bollard::API_DEFAULT_VERSION),
        host::Endpoint::Tcp { tls: None, .. } => Docker::connect_with_http(&url, TIMEOUT_S, bollard::API_DEFAULT_VERSION),
        host::Endpoint::Tcp { tls: Some(t), .. } => Docker::connect_with_ssl(&url, &t.key(), &t.cert(), &t.ca(), TIMEOUT_S, bollard::API_DEFAULT_VERSION),
    }
    .map_err(|e| unavailable(&e))?;
    let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version()).await.map_err(|_| unavailable(&"no answer within 10s"))?.map_err(|e| unavailable(&e))?;
    docker.ping().await.map_err(|e| unavailable(&e))?;
    Ok(docker)
}

/// The environment for a docker CLI child (the image build) that reaches the engine zk-chaos
/// uses: nothing when DOCKER_HOST is set already (the child inherits it) or when no engine is
/// found (the child then says so itself), else DOCKER_HOST (and TLS) for what [`host::find`] found.
pub fn cli_env() -> Vec<(String, std::ffi::OsString)> {
    let env = host::Env::from_process();
    if env.docker_host.is_some() {
        return Vec::new();
    }
    host::find(&env, &|p: &std::path::Path| p.exists()).map(|f| f.cli_env()).unwrap_or_default()
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
    let opts = LogsOptions { stdout: true, stderr: true, tail: tail.map_or("all".to_string(), |n| n.to_string()), ..Default::default() };
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
    /// Each run's host label ([`crate::ownership::HOST_LABEL`]), where its objects carry one.
    pub hosts: std::collections::BTreeMap<String, String>,
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
    let mut note = |labels: Option<&HashMap<String, String>>| {
        if let Some(r) = labels.and_then(|l| l.get(RUN_LABEL)) {
            runs.insert(r.clone());
            if let Some(h) = labels.and_then(|l| l.get(crate::ownership::HOST_LABEL)) {
                found.hosts.insert(r.clone(), h.clone());
            }
        }
    };
    let containers =
        docker.list_containers(Some(ListContainersOptions { all: true, filters: Some(label_filter(run)), ..Default::default() })).await.context("listing containers")?;
    let mut ids = Vec::new();
    for c in containers {
        note(c.labels.as_ref());
        ids.push(c.id.unwrap_or_default());
    }
    let volumes = docker.list_volumes(Some(ListVolumesOptions { filters: Some(label_filter(run)) })).await.context("listing volumes")?;
    let mut vols = Vec::new();
    for v in volumes.volumes.unwrap_or_default() {
        note(Some(&v.labels));
        vols.push(v.name);
    }
    let networks = docker.list_networks(Some(ListNetworksOptions { filters: Some(label_filter(run)) })).await.context("listing networks")?;
    let mut nets = Vec::new();
    for n in networks {
        note(n.labels.as_ref());
        nets.push(n.name.unwrap_or_default());
    }
    (found.containers, found.volumes, found.networks) = (ids, vols, nets);
    found.runs = runs.into_iter().collect();
    Ok(found)
}

/// Removes everything carrying the label of `run` (or of any run): containers first (with their
/// anonymous volumes), then volumes, then networks. Every failure is returned, none swallowed.
pub async fn remove(docker: &Docker, run: Option<&str>) -> Vec<String> {
    match find(docker, run).await {
        Ok(found) => remove_found(docker, &found).await,
        Err(e) => vec![format!("{e:#}")],
    }
}

/// Removes what [`find`] found: containers first (with their anonymous volumes), then volumes,
/// then networks.
pub async fn remove_found(docker: &Docker, found: &Leftovers) -> Vec<String> {
    let mut errors = Vec::new();
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
