//! `zk-chaos job` on a cluster: the Job's objects created, its pod followed until its run is over,
//! the results copied back by exec (tar), and every object removed again, on every path.
//!
//! # Caveats
//! Removal waits for the pod to be gone before the RBAC goes: a pod stopped in the middle of its
//! run (Ctrl-C here) removes its ensemble on SIGTERM, and needs its permissions for that.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, AttachParams, DeleteParams, DynamicObject, ListParams, LogParams, PostParams};
use kube::core::ApiResource;
use kube::Client;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use super::{JobPlan, COLLECTED_FILE, EXIT_FILE, RESULTS_DIR};
use crate::error::{exit, Error, Result};
use crate::wait::{self, Seen};

/// The API resource of a document `documents` makes, and whether it is namespaced.
fn resource_of(kind: &str) -> Option<(ApiResource, bool)> {
    Some(match kind {
        "Namespace" => (ApiResource::erase::<Namespace>(&()), false),
        "ServiceAccount" => (ApiResource::erase::<ServiceAccount>(&()), true),
        "Role" => (ApiResource::erase::<Role>(&()), true),
        "RoleBinding" => (ApiResource::erase::<RoleBinding>(&()), true),
        "ClusterRole" => (ApiResource::erase::<ClusterRole>(&()), false),
        "ClusterRoleBinding" => (ApiResource::erase::<ClusterRoleBinding>(&()), false),
        "ConfigMap" => (ApiResource::erase::<ConfigMap>(&()), true),
        "Job" => (ApiResource::erase::<Job>(&()), true),
        _ => return None,
    })
}

/// One object this command created, to delete.
struct Created {
    api: Api<DynamicObject>,
    kind: String,
    name: String,
}

/// The Job's objects, created one by one; what was created is deleted by [`Objects::remove`].
struct Objects {
    client: Client,
    namespace: String,
    created: Vec<Created>,
}

impl Objects {
    async fn create(&mut self, doc: &Value) -> anyhow::Result<()> {
        let kind = doc["kind"].as_str().unwrap_or_default().to_string();
        let name = doc["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let (ar, namespaced) = resource_of(&kind).ok_or_else(|| anyhow!("no API resource for a {kind}"))?;
        let api: Api<DynamicObject> = if namespaced { Api::namespaced_with(self.client.clone(), &self.namespace, &ar) } else { Api::all_with(self.client.clone(), &ar) };
        let obj: DynamicObject = serde_json::from_value(doc.clone())?;
        api.create(&PostParams::default(), &obj).await.with_context(|| format!("creating {kind} {name}"))?;
        tracing::info!("created {kind} {name}");
        self.created.push(Created { api, kind, name });
        Ok(())
    }

    /// Deletes what was created, last first; the Job's pod is waited for (it may be removing its
    /// ensemble) before its permissions go. Returns what could not be deleted.
    async fn remove(&mut self, pod_grace: Duration) -> Vec<String> {
        let mut errors = Vec::new();
        let background = DeleteParams::background();
        while let Some(c) = self.created.pop() {
            let r = c.api.delete(&c.name, &background).await;
            match r {
                Ok(_) => tracing::info!("deleted {} {}", c.kind, c.name),
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => errors.push(format!("deleting {} {}: {e}", c.kind, c.name)),
            }
            if c.kind == "Namespace" {
                // Gone with everything in it before the command returns: a run after it starts clean.
                let namespaces: Api<Namespace> = Api::all(self.client.clone());
                let gone = wait::until(&format!("namespace {} gone", c.name), Duration::from_secs(180), None, || async {
                    Ok(match namespaces.get_opt(&c.name).await? {
                        None => Seen::Done(()),
                        Some(n) => Seen::NotYet(format!("{:?}", n.status.and_then(|s| s.phase))),
                    })
                })
                .await;
                if let Err(e) = gone {
                    errors.push(format!("{e:#}"));
                }
            }
            if c.kind == "Job" {
                // Background propagation leaves the pod to the garbage collector: delete it now,
                // with its grace (SIGTERM: its run removes its ensemble), and wait until it is gone.
                let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
                let lp = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={}", c.name));
                let _ = pods.delete_collection(&DeleteParams::default(), &lp).await;
                let gone = wait::until(&format!("the Job {}'s pod gone", c.name), pod_grace, None, || async {
                    let left = pods.list(&lp).await?.items;
                    Ok(if left.is_empty() { Seen::Done(()) } else { Seen::NotYet(format!("{} pod(s) left", left.len())) })
                })
                .await;
                if let Err(e) = gone {
                    errors.push(format!("{e:#}"));
                }
            }
        }
        errors
    }
}

/// The pod of the Job, as last seen.
struct PodSeen {
    name: String,
    phase: String,
    /// A container waiting for a reason that will not pass by itself (the image cannot be pulled).
    stuck: Option<String>,
    exit: Option<i32>,
}

fn pod_seen(pod: &Pod) -> PodSeen {
    let status = pod.status.as_ref();
    let cs = status.and_then(|s| s.container_statuses.as_ref()).and_then(|c| c.first());
    let waiting = cs.and_then(|c| c.state.as_ref()).and_then(|s| s.waiting.as_ref());
    let stuck = waiting
        .filter(|w| matches!(w.reason.as_deref(), Some("ErrImagePull" | "ImagePullBackOff" | "ErrImageNeverPull" | "InvalidImageName" | "CreateContainerConfigError")))
        .map(|w| format!("{}: {}", w.reason.clone().unwrap_or_default(), w.message.clone().unwrap_or_default()));
    let exit = cs.and_then(|c| c.state.as_ref()).and_then(|s| s.terminated.as_ref()).map(|t| t.exit_code);
    PodSeen { name: pod.metadata.name.clone().unwrap_or_default(), phase: status.and_then(|s| s.phase.clone()).unwrap_or_default(), stuck, exit }
}

/// `argv` in the Job's container: its exit code and stdout.
async fn exec(pods: &Api<Pod>, pod: &str, argv: &[&str]) -> anyhow::Result<(i32, Vec<u8>)> {
    let ap = AttachParams::default().container("zk-chaos").stdin(false).stdout(true).stderr(false);
    let work = async {
        let mut proc = pods.exec(pod, argv.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &ap).await?;
        let status = proc.take_status().ok_or_else(|| anyhow!("exec: no status channel"))?;
        let mut out = proc.stdout().ok_or_else(|| anyhow!("exec: no stdout"))?;
        let mut buf = Vec::new();
        out.read_to_end(&mut buf).await?;
        let code = i32::try_from(crate::platform::kube::exit_code(status.await.as_ref())?).unwrap_or(-1);
        let _ = proc.join().await;
        anyhow::Ok((code, buf))
    };
    tokio::time::timeout(Duration::from_secs(120), work).await.map_err(|_| anyhow!("exec {argv:?} in {pod}: no answer within 120s"))?
}

/// Prints the pod's log to stderr as it comes ("job | ..."), until aborted.
async fn follow_log(pods: Api<Pod>, pod: String) {
    let lp = LogParams { follow: true, container: Some("zk-chaos".into()), ..Default::default() };
    match pods.log_stream(&pod, &lp).await {
        Ok(stream) => {
            use futures::{AsyncBufReadExt, StreamExt};
            let mut lines = stream.lines();
            while let Some(Ok(line)) = lines.next().await {
                eprintln!("job | {line}");
            }
        }
        Err(e) => tracing::warn!("following the log of {pod}: {e}"),
    }
}

/// Creates the plan's objects, waits for the run in the Job's pod, copies its results into
/// `results`, removes every object; the run's exit code (130 when `interrupt` fired first).
pub async fn run(client: Client, context: &str, plan: &JobPlan, results: &Path, interrupt: CancellationToken) -> Result<i32> {
    let mut objects = Objects { client: client.clone(), namespace: plan.namespace.clone(), created: Vec::new() };
    if !plan.create_namespace {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let found = namespaces.get_opt(&plan.namespace).await.map_err(|e| Error::unavailable(format!("reading namespace {}: {e}", plan.namespace)))?;
        if found.is_none() {
            return Err(Error::bad_input(format!(
                "namespace {} does not exist on context {context}; create it, or drop --namespace to let zk-chaos job create one of its own",
                plan.namespace
            )));
        }
    }
    let work = async {
        for doc in super::documents(plan) {
            objects.create(&doc).await?;
        }
        eprintln!("zk-chaos job: Job {} started in namespace {} on context {context} (image {})", plan.name, plan.namespace, plan.image);
        wait_and_collect(&client, plan, results).await
    };
    let outcome = tokio::select! {
        r = work => r.map_err(|e| match e.downcast::<Error>() { Ok(e) => e, Err(e) => Error::Other(e) }),
        _ = interrupt.cancelled() => {
            eprintln!("zk-chaos job: interrupted; stopping the Job (its run removes its ensemble) and removing what this command created");
            Ok(exit::INTERRUPTED)
        }
    };
    let errors = objects.remove(Duration::from_secs(240)).await;
    if !errors.is_empty() {
        let left = errors.join("; ");
        return Err(Error::Other(anyhow!(
            "cleanup of Job {}: {left}. Remove what is left with `kubectl --context {context} delete job,role,rolebinding,serviceaccount,configmap -n {} -l {}={}` \
             and `kubectl --context {context} delete clusterrole,clusterrolebinding -l {}={}`",
            plan.name,
            plan.namespace,
            super::JOB_LABEL,
            plan.name,
            super::JOB_LABEL,
            plan.name
        )));
    }
    outcome
}

/// Waits for the pod's run to be over, copies its results, lets it exit; the run's exit code.
async fn wait_and_collect(client: &Client, plan: &JobPlan, results: &Path) -> anyhow::Result<i32> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &plan.namespace);
    let lp = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={}", plan.name));
    let follower: std::sync::Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>> = Default::default();
    let started = Instant::now();
    let waited = wait::until(&format!("the run in Job {}", plan.name), plan.timeout + Duration::from_secs(300), None, || {
        let (pods, lp) = (pods.clone(), lp.clone());
        let follower = follower.clone();
        async move {
            let Some(pod) = pods.list(&lp).await?.items.into_iter().next() else {
                return Ok(Seen::NotYet("no pod yet".into()));
            };
            let seen = pod_seen(&pod);
            if let Some(why) = &seen.stuck {
                return Err(Error::unavailable(format!(
                    "the Job's pod {} cannot start its container: {why}. The image {} must be on the cluster's nodes: build it with \
                     `bash ci/build-job-image.sh` and load it (`kind load docker-image {} --name CLUSTER`), or push it to a registry the nodes pull from and give --image",
                    seen.name, plan.image, plan.image
                ))
                .into());
            }
            match seen.phase.as_str() {
                "Running" => {}
                "Succeeded" | "Failed" => {
                    let log = pods.logs(&seen.name, &LogParams { tail_lines: Some(20), ..Default::default() }).await.unwrap_or_default();
                    anyhow::bail!("the Job's pod {} ended ({}, exit {:?}) before its run wrote its results; its last log lines:\n{log}", seen.name, seen.phase, seen.exit);
                }
                other => return Ok(Seen::NotYet(format!("pod {} {other}", seen.name))),
            }
            {
                let mut f = follower.lock().expect("follower lock");
                if f.is_none() {
                    *f = Some(tokio::spawn(follow_log(pods.clone(), seen.name.clone())));
                }
            }
            let file = format!("{RESULTS_DIR}/{EXIT_FILE}");
            match exec(&pods, &seen.name, &["cat", &file]).await {
                Ok((0, out)) => {
                    let text = String::from_utf8_lossy(&out);
                    let code = text.trim().parse::<i32>().map_err(|e| anyhow!("{file} in {}: {text:?} is no exit code ({e})", seen.name))?;
                    Ok(Seen::Done((seen.name, code)))
                }
                Ok(_) => Ok(Seen::NotYet(format!("pod {} running its suites ({}s)", seen.name, started.elapsed().as_secs()))),
                // The container may just have started or ended: look again.
                Err(e) => Ok(Seen::NotYet(format!("pod {}: exec: {e:#}", seen.name))),
            }
        }
    })
    .await;
    let (pod, code) = match waited {
        Ok(v) => v,
        Err(e) => {
            if let Some(f) = follower.lock().expect("follower lock").take() {
                f.abort();
            }
            return Err(e);
        }
    };
    let follower = follower.lock().expect("follower lock").take();
    let copied = copy_results(&pods, &pod, results).await;
    // The pod exits once told; its log ends then too.
    let told = exec(&pods, &pod, &["touch", &format!("{RESULTS_DIR}/{COLLECTED_FILE}")]).await;
    if let Some(f) = follower {
        let _ = tokio::time::timeout(Duration::from_secs(30), f).await;
    }
    let runs = copied?;
    told?;
    eprintln!("zk-chaos job: results copied into {}: {}", results.display(), runs.join(", "));
    Ok(code)
}

/// Copies the pod's results directory into `results` (the run folders, and `latest` pointed at
/// the pod's latest): the names of the run folders copied.
async fn copy_results(pods: &Api<Pod>, pod: &str, results: &Path) -> anyhow::Result<Vec<String>> {
    let (code, tar) = exec(pods, pod, &["tar", "-C", RESULTS_DIR, "-cf", "-", "."]).await?;
    anyhow::ensure!(code == 0, "tar of {RESULTS_DIR} in {pod} exited {code}");
    std::fs::create_dir_all(results).with_context(|| format!("creating {}", results.display()))?;
    // Unpacked beside the results first (the same filesystem: each run folder is then renamed in).
    let tmp = tempfile::Builder::new().prefix(".zk-chaos-job.").tempdir_in(results)?;
    let mut child = std::process::Command::new("tar")
        .args(["-x", "--no-same-owner", "-f", "-", "-C"])
        .arg(tmp.path())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .context("running tar to unpack the results (is tar installed?)")?;
    std::io::Write::write_all(child.stdin.as_mut().expect("piped stdin"), &tar)?;
    drop(child.stdin.take());
    anyhow::ensure!(child.wait()?.success(), "tar could not unpack the {} bytes copied from {pod}", tar.len());
    let latest = std::fs::read_link(tmp.path().join("latest")).ok().and_then(|l| l.file_name().map(|n| n.to_os_string()));
    let mut runs = Vec::new();
    for entry in std::fs::read_dir(tmp.path())? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "latest" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        let to: PathBuf = results.join(&name);
        anyhow::ensure!(!to.exists(), "{} exists already; the copied run is left in {}", to.display(), tmp.path().display());
        std::fs::rename(entry.path(), &to)?;
        runs.push(name.to_string_lossy().into_owned());
    }
    if let Some(l) = latest {
        crate::report::point_latest(&results.join(l))?;
    }
    runs.sort();
    Ok(runs)
}

/// The pod's side (`zk-chaos job-pod`), once its run is over with `code`: writes the exit file,
/// then waits until the CLI has copied the results, at most `wait` (or until SIGTERM).
pub async fn await_collection(results: &Path, code: i32, wait: Duration) -> std::io::Result<()> {
    let tmp = results.join(format!("{EXIT_FILE}.tmp"));
    std::fs::create_dir_all(results)?;
    std::fs::write(&tmp, format!("{code}\n"))?;
    std::fs::rename(&tmp, results.join(EXIT_FILE))?;
    if code == exit::INTERRUPTED {
        // Stopped (the Job deleted, SIGTERM): nobody will copy the results.
        return Ok(());
    }
    eprintln!("zk-chaos job-pod: run over (exit {code}); waiting up to {} for the results to be copied", humantime::format_duration(wait));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if results.join(COLLECTED_FILE).exists() {
            eprintln!("zk-chaos job-pod: results copied");
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = term.recv() => return Ok(()),
        }
    }
    eprintln!("zk-chaos job-pod: nobody copied the results within {}; exiting", humantime::format_duration(wait));
    Ok(())
}
