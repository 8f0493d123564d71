//! Smoke test of a real kind cluster itself: what the Kubernetes suites rely on, checked without any suite.
//!
//! One test creates a throwaway cluster from `fixtures/kind/cluster.yaml` (one control plane, four
//! workers), loads the fixture image, and checks in order, each step timed: the nodes are Ready, a
//! pod of the image runs, exec separates stdout, stderr and the exit status, logs return a pod's
//! line, port-forward carries bytes, a headless Service gives a StatefulSet pod its DNS name, a
//! claim of the default class binds, a claim of class `zk-chaos-shared` moves with its pod off a
//! drained node, and a PodDisruptionBudget refuses an eviction with 429. The cluster is deleted at
//! the end, also when a step fails or panics (not when the process is killed: then
//! `kind get clusters` shows what to delete). Progress: `cargo test --features e2e-kind --test
//! kind_smoke -- --nocapture`. The kind binary is `ZK_CHAOS_KIND`, else `kind` on PATH, else
//! `$(go env GOPATH)/bin/kind`.
//!
//! Over 600 lines: one test on one kind cluster (created once, the costly part) for every platform
//! facility; each part is short.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, ensure, Context};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status as ExecStatus;
use kube::api::{Api, AttachParams, EvictParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use zk_chaos::platform::kube::kind;

mod common;

const IMAGE: &str = "zk-chaos/zookeeper:3.8";
const NS: &str = "kind-smoke";
const NODES: usize = 5;
const ECHO_PORT: u16 = 9000;
const LOG_LINE: &str = "kind-smoke: hello from the probe pod";

/// Pods start from the loaded image or not at all: there is no registry to pull from.
const PULL: &str = "Never";
/// How often a wait looks again. Each look is an API call or an exec; 2 cores also run five nodes.
const POLL: Duration = Duration::from_secs(1);
/// `kind create cluster` boots five node containers and waits (`--wait 5m`) for the control plane.
const CREATE: Duration = Duration::from_secs(8 * 60);
/// `kind load docker-image` copies a ~700 MB image into five nodes.
const LOAD: Duration = Duration::from_secs(10 * 60);
const DELETE: Duration = Duration::from_secs(3 * 60);
/// A pod of a loaded image on a warm cluster starts in seconds; volumes and scheduling add some.
const POD_READY: Duration = Duration::from_secs(3 * 60);
/// One exec, port-forward or API call that does not answer.
const CALL: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_cluster_does_what_the_kubernetes_suites_need() -> anyhow::Result<()> {
    // Before the engine and the cluster: a missing kind fails here, at once, saying how to get it.
    let kind = kind_binary().await?;
    common::start_docker();
    let mut cluster = KindCluster::planned(kind)?;

    timed("cluster created (kind create cluster)", cluster.create(&fixture("kind/cluster.yaml"))).await?;
    let client = cluster.client().await?;
    timed("nodes Ready", nodes_ready(&client)).await?;
    timed("image loaded (kind load docker-image)", cluster.load(IMAGE)).await?;
    timed("namespace ready", namespace(&client)).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    timed("pod of the loaded image Running and Ready", pod_runs(&pods)).await?;
    timed("exec: stdout, stderr and exit status", exec_separates_streams_and_reports_status(&pods)).await?;
    timed("logs returned the pod's line", logs_return_the_line(&pods)).await?;
    timed("port-forward carried the pod's bytes", port_forward_carries_bytes(&pods)).await?;
    timed("headless Service: the pod's FQDN resolves to its IP", fqdn_resolves(&client)).await?;
    timed("claim of the default class Bound", default_claim_binds(&client)).await?;
    timed("shared volume moved with its pod off a drained node", shared_volume_moves(&client)).await?;
    timed("eviction refused by the PodDisruptionBudget (429)", budget_refuses_eviction(&client)).await?;
    timed("cluster deleted", cluster.delete_and_verify()).await?;
    Ok(())
}

/// kube 5's default stack (`Client::try_from(Config)`, `Config::default_retry`) retries 429, 503
/// and 504 up to 15 times with backoff, so a budget's refusal would come back late, or never be
/// seen at all. The cluster's client must see the first answer; a local server stands in for
/// the API server and counts the requests.
#[tokio::test]
async fn the_cluster_client_sees_a_429_once_where_the_default_client_retries() {
    let (url, requests) = refusing_api_server().await;
    let config = || Config::new(url.parse().unwrap());

    let pods: Api<Pod> = Api::namespaced(client_for(config()).unwrap(), "ns");
    let refused = tokio::time::timeout(CALL, pods.evict("zk-0", &EvictParams::default())).await.expect("an answer");
    let message = budget_refusal(refused).unwrap();
    assert!(message.contains("disruption budget"), "{message}");
    assert_eq!(requests.load(Ordering::SeqCst), 1, "the cluster client retried the 429");

    // The default client retries at once (backoff from 5 ms): several requests within seconds.
    requests.store(0, Ordering::SeqCst);
    let pods: Api<Pod> = Api::namespaced(Client::try_from(config()).unwrap(), "ns");
    let _ = tokio::time::timeout(Duration::from_secs(5), pods.evict("zk-0", &EvictParams::default())).await;
    let n = requests.load(Ordering::SeqCst);
    eprintln!("kind_smoke: kube's default client sent {n} requests for a 429 within 5s");
    assert!(n >= 2, "kube's default client sent {n} request(s) for a 429: it no longer retries; this test's reason to build its own client is gone");
}

// ---------------------------------------------------------------------------------------------
// The steps.

/// All five nodes (one control plane, four workers) report Ready.
async fn nodes_ready(client: &Client) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    until("5 nodes Ready", Duration::from_secs(3 * 60), || async {
        let list = nodes.list(&ListParams::default()).await?.items;
        ensure!(list.len() <= NODES, "{} nodes, expected {NODES} (fixtures/kind/cluster.yaml): {}", list.len(), describe_nodes(&list));
        let ready = list.iter().filter(|n| node_ready(n)).count();
        Ok(if list.len() == NODES && ready == NODES { Seen::Done(()) } else { Seen::NotYet(describe_nodes(&list)) })
    })
    .await
}

/// The test's namespace, once its default ServiceAccount exists (pods are refused before).
async fn namespace(client: &Client) -> anyhow::Result<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces.create(&PostParams::default(), &object(json!({"metadata": {"name": NS}}))).await.context("creating the namespace")?;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), NS);
    until("ServiceAccount default in the namespace", Duration::from_secs(60), || async {
        Ok(match accounts.get_opt("default").await? {
            Some(_) => Seen::Done(()),
            None => Seen::NotYet("no ServiceAccount default yet".into()),
        })
    })
    .await
}

/// Pod `probe`: prints [`LOG_LINE`], then answers every connection to [`ECHO_PORT`] with "pong\n".
/// netcat-openbsd 1.219: `-l PORT` listens on 0.0.0.0 (OpenBSD's form; Debian's also takes `-p`),
/// `-N` shuts the socket down once stdin ends, so each answer is complete and nc exits for the
/// loop to listen again.
async fn pod_runs(pods: &Api<Pod>) -> anyhow::Result<()> {
    let script = format!("echo '{LOG_LINE}'; while true; do echo pong | nc -l -N {ECHO_PORT} >/dev/null; done");
    pods.create(&PostParams::default(), &object(json!({"metadata": {"name": "probe", "labels": {"app": "probe"}}, "spec": pod_spec(&script)}))).await?;
    wait_pod_ready(pods, "probe", POD_READY, |_| Ok(())).await.map(drop)
}

async fn exec_separates_streams_and_reports_status(pods: &Api<Pod>) -> anyhow::Result<()> {
    let out = exec(pods, "probe", &["sh", "-c", "echo out; echo err >&2; exit 3"]).await?;
    ensure!(out.stdout == "out\n", "stdout {:?}, expected \"out\\n\" ({out:?})", out.stdout);
    ensure!(out.stderr == "err\n", "stderr {:?}, expected \"err\\n\" ({out:?})", out.stderr);
    ensure!(out.code == 3, "exit status {}, expected 3 ({out:?})", out.code);
    let ok = exec(pods, "probe", &["true"]).await?;
    ensure!(ok.code == 0, "`true` exited {} ({ok:?})", ok.code);
    Ok(())
}

async fn logs_return_the_line(pods: &Api<Pod>) -> anyhow::Result<()> {
    until("the probe pod's line in its logs", Duration::from_secs(30), || async {
        let logs = pods.logs("probe", &LogParams::default()).await?;
        Ok(if logs.lines().any(|l| l == LOG_LINE) { Seen::Done(()) } else { Seen::NotYet(format!("logs: {logs:?}")) })
    })
    .await
}

async fn port_forward_carries_bytes(pods: &Api<Pod>) -> anyhow::Result<()> {
    let expected = b"pong\n";
    until("\"pong\\n\" through a port-forward to probe:9000", Duration::from_secs(60), || async {
        match read_through_port_forward(pods, "probe", ECHO_PORT, expected.len()).await {
            Ok(got) if got == expected => Ok(Seen::Done(())),
            Ok(got) => bail!("read {:?} through the port-forward, expected {:?}", String::from_utf8_lossy(&got), "pong\n"),
            // nc between two connections, or not listening yet.
            Err(e) => Ok(Seen::NotYet(format!("{e:#}"))),
        }
    })
    .await
}

/// StatefulSet `dns` (one pod) behind headless Service `dns`: `dns-0.dns.<ns>.svc.cluster.local`
/// resolves, from the probe pod, to dns-0's IP.
async fn fqdn_resolves(client: &Client) -> anyhow::Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    create_headless_service(client, "dns").await?;
    create_stateful_set(client, "dns", "exec sleep 3600", None).await?;
    let pod = wait_pod_ready(&pods, "dns-0", POD_READY, |_| Ok(())).await?;
    let ip = pod.status.and_then(|s| s.pod_ip).ok_or_else(|| anyhow!("dns-0 is Ready without a pod IP"))?;
    let fqdn = format!("dns-0.dns.{NS}.svc.cluster.local");
    until(&format!("{fqdn} resolving to {ip} from the probe pod"), Duration::from_secs(2 * 60), || async {
        let out = exec(&pods, "probe", &["getent", "hosts", &fqdn]).await?;
        match out.stdout.split_whitespace().next() {
            Some(got) if got == ip => Ok(Seen::Done(())),
            Some(got) => bail!("{fqdn} resolves to {got}, but dns-0's IP is {ip} ({out:?})"),
            // getent exits 2 for a name it cannot find: CoreDNS has not seen the endpoint yet.
            None => Ok(Seen::NotYet(format!("getent hosts: {out:?}"))),
        }
    })
    .await
}

/// A claim without a class gets the default (`standard`, WaitForFirstConsumer) and binds once a
/// pod uses it; the pod writes to it.
async fn default_claim_binds(client: &Client) -> anyhow::Result<()> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), NS);
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    claims
        .create(&PostParams::default(), &object(json!({"metadata": {"name": "claim"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "16Mi"}}}})))
        .await?;
    let mut spec = pod_spec("echo ok > /data/ok && exec sleep 3600");
    spec["volumes"] = json!([{"name": "data", "persistentVolumeClaim": {"claimName": "claim"}}]);
    spec["containers"][0]["volumeMounts"] = json!([{"name": "data", "mountPath": "/data"}]);
    pods.create(&PostParams::default(), &object(json!({"metadata": {"name": "consumer"}, "spec": spec}))).await?;
    wait_pod_ready(&pods, "consumer", POD_READY, |_| Ok(())).await?;
    let claim = claims.get("claim").await?;
    let class = claim.spec.as_ref().and_then(|s| s.storage_class_name.clone());
    ensure!(class.as_deref() == Some("standard"), "claim got class {class:?}, expected the default standard");
    let phase = claim.status.and_then(|s| s.phase);
    ensure!(phase.as_deref() == Some("Bound"), "claim is {phase:?} while its pod runs");
    Ok(())
}

/// StatefulSet `movable` (one pod, a claim of class `zk-chaos-shared`) writes a marker; its node
/// is cordoned and the pod evicted, as `kubectl drain` does; the pod comes back Ready on another
/// node and reads the same marker.
async fn shared_volume_moves(client: &Client) -> anyhow::Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    create_headless_service(client, "movable").await?;
    create_stateful_set(client, "movable", "exec sleep 3600", Some("zk-chaos-shared")).await?;
    let before = wait_pod_ready(&pods, "movable-0", POD_READY, |_| Ok(())).await?;
    let (uid, node) = (before.metadata.uid.clone().unwrap_or_default(), pod_node(&before).context("movable-0 is Ready on no node")?);
    volume_not_pinned(client, "data-movable-0", "zk-chaos-shared").await?;

    let marker = format!("marker-{}", SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos());
    let wrote = exec(&pods, "movable-0", &["sh", "-c", "echo \"$1\" > /data/marker && cat /data/marker", "sh", &marker]).await?;
    ensure!(wrote.code == 0 && wrote.stdout == format!("{marker}\n"), "writing the marker as UID 1000 on zk-chaos-shared: {wrote:?}");

    let cordon = Cordon::new(client, &node).await?;
    pods.evict("movable-0", &EvictParams::default()).await.context("evicting movable-0 (no budget covers it)")?;
    // The evicted pod lingers a moment (terminating); the StatefulSet then makes a new one.
    let replaced = |p: &Pod| if p.metadata.uid.as_deref() == Some(uid.as_str()) { Err("still the evicted pod".to_string()) } else { Ok(()) };
    let after = wait_pod_ready(&pods, "movable-0", Duration::from_secs(4 * 60), replaced).await?;
    let moved_to = pod_node(&after).unwrap_or_default();
    ensure!(moved_to != node, "movable-0 came back on the cordoned node {node}");
    let read = exec(&pods, "movable-0", &["cat", "/data/marker"]).await?;
    ensure!(read.code == 0 && read.stdout == format!("{marker}\n"), "on {moved_to} (from {node}) the marker is not what was written: {read:?}");
    eprintln!("kind_smoke: movable-0 moved from {node} to {moved_to} with its marker");
    cordon.release().await
}

/// Deployment `guarded` (two Ready pods) under a budget of minAvailable 2: evicting either is
/// refused with 429 and a `DisruptionBudget` cause, and the pod stays.
async fn budget_refuses_eviction(client: &Client) -> anyhow::Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), NS);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let template = json!({"metadata": {"labels": {"app": "guarded"}}, "spec": pod_spec("exec sleep 3600")});
    deployments
        .create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": "guarded"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "guarded"}}, "template": template}})),
        )
        .await?;
    budgets.create(&PostParams::default(), &object(json!({"metadata": {"name": "guarded"}, "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "guarded"}}}}))).await?;
    // The budget must have counted both pods: before, a refusal would say "still being processed".
    until("budget guarded: 2 healthy, 0 disruptions allowed", POD_READY, || async {
        let pdb = budgets.get("guarded").await?;
        let s = pdb.status.clone().unwrap_or_default();
        let observed = s.observed_generation.is_some() && s.observed_generation >= pdb.metadata.generation;
        let seen = format!(
            "observedGeneration {:?} of {:?}, currentHealthy {}, desiredHealthy {}, expectedPods {}, disruptionsAllowed {}",
            s.observed_generation, pdb.metadata.generation, s.current_healthy, s.desired_healthy, s.expected_pods, s.disruptions_allowed
        );
        Ok(if observed && s.current_healthy == 2 && s.expected_pods == 2 && s.disruptions_allowed == 0 { Seen::Done(()) } else { Seen::NotYet(seen) })
    })
    .await?;
    let victim = pods.list(&ListParams::default().labels("app=guarded")).await?.items.into_iter().find_map(|p| p.metadata.name).context("no pod of guarded")?;

    let start = Instant::now();
    let answer = tokio::time::timeout(CALL, pods.evict(&victim, &EvictParams::default())).await.map_err(|_| anyhow!("evicting {victim}: no answer within {CALL:?}"))?;
    let message = budget_refusal(answer).with_context(|| format!("evicting {victim} under budget guarded (minAvailable 2 of 2)"))?;
    eprintln!("kind_smoke: eviction of {victim} refused after {:.2}s: {message}", start.elapsed().as_secs_f64());
    let pod = pods.get(&victim).await?;
    ensure!(pod.metadata.deletion_timestamp.is_none(), "the refused eviction still deleted {victim}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Judges and descriptions.

/// The message of a budget's refusal: HTTP 429 with a `DisruptionBudget` cause. Anything else
/// (accepted, another code, a 429 of API priority and fairness) is an error naming it.
fn budget_refusal(answer: Result<kube::core::Status, kube::Error>) -> anyhow::Result<String> {
    match answer {
        Ok(s) => bail!("the eviction was accepted ({s:?}); the budget should have refused it"),
        Err(kube::Error::Api(s)) => {
            ensure!(s.code == 429, "the eviction was refused with {} {} ({}), expected 429", s.code, s.reason, s.message);
            let causes = s.details.as_ref().map(|d| d.causes.as_slice()).unwrap_or_default();
            match causes.iter().find(|c| c.reason == "DisruptionBudget") {
                Some(c) => Ok(format!("{} ({})", s.message, c.message)),
                None => bail!("429 without a DisruptionBudget cause: {} ({}), causes {causes:?}", s.message, s.reason),
            }
        }
        Err(e) => Err(anyhow!(e).context("the eviction request failed")),
    }
}

/// The exit status an exec's final Status reports (kubelet: `NonZeroExitCode`, cause `ExitCode`).
fn exit_code(status: Option<&ExecStatus>) -> anyhow::Result<i64> {
    let Some(s) = status else { bail!("the exec stream ended without a status") };
    if s.status.as_deref() == Some("Success") {
        return Ok(0);
    }
    let cause = s.details.as_ref().and_then(|d| d.causes.as_ref()).and_then(|cs| cs.iter().find(|c| c.reason.as_deref() == Some("ExitCode")));
    match (s.reason.as_deref(), cause.and_then(|c| c.message.as_deref())) {
        (Some("NonZeroExitCode"), Some(m)) => m.trim().parse().with_context(|| format!("exit code {m:?}")),
        _ => bail!("exec failed: {} ({})", s.message.as_deref().unwrap_or(""), s.reason.as_deref().unwrap_or("")),
    }
}

fn node_ready(n: &Node) -> bool {
    n.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn describe_nodes(nodes: &[Node]) -> String {
    let each = nodes.iter().map(|n| {
        let ready = n.status.as_ref().and_then(|s| s.conditions.as_ref()).and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
        let name = n.metadata.name.as_deref().unwrap_or("?");
        match ready {
            Some(c) => format!("{name} Ready={} ({})", c.status, c.message.as_deref().unwrap_or("")),
            None => format!("{name} no Ready condition"),
        }
    });
    format!("{} node(s): {}", nodes.len(), each.collect::<Vec<_>>().join("; "))
}

fn pod_ready(p: &Pod) -> bool {
    let s = p.status.as_ref();
    s.and_then(|s| s.phase.as_deref()) == Some("Running")
        && p.metadata.deletion_timestamp.is_none()
        && s.and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn pod_node(p: &Pod) -> Option<String> {
    p.spec.as_ref().and_then(|s| s.node_name.clone())
}

/// Why a pod will not become Ready however long we wait, if it will not.
fn pod_broken(p: &Pod) -> Option<String> {
    const HOPELESS: &[&str] = &["ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CrashLoopBackOff", "CreateContainerConfigError"];
    let s = p.status.as_ref()?;
    if let Some(phase @ ("Failed" | "Succeeded")) = s.phase.as_deref() {
        return Some(format!("phase {phase}: {}", describe_pod(p)));
    }
    let waiting = s.container_statuses.iter().flatten().filter_map(|c| c.state.as_ref()?.waiting.as_ref());
    waiting.filter(|w| w.reason.as_deref().is_some_and(|r| HOPELESS.contains(&r))).map(|_| describe_pod(p)).next()
}

fn describe_pod(p: &Pod) -> String {
    let Some(s) = p.status.as_ref() else { return "no status yet".into() };
    let mut parts = vec![format!("phase {}", s.phase.as_deref().unwrap_or("?")), format!("node {}", pod_node(p).as_deref().unwrap_or("none"))];
    if p.metadata.deletion_timestamp.is_some() {
        parts.push("terminating".into());
    }
    for c in s.conditions.iter().flatten().filter(|c| c.status != "True") {
        parts.push(format!("{}=False ({})", c.type_, c.message.as_deref().or(c.reason.as_deref()).unwrap_or("")));
    }
    for c in s.container_statuses.iter().flatten() {
        let state = c.state.as_ref();
        if let Some(w) = state.and_then(|st| st.waiting.as_ref()) {
            parts.push(format!("{} waiting {} {}", c.name, w.reason.as_deref().unwrap_or(""), w.message.as_deref().unwrap_or("")));
        }
        if let Some(t) = c.last_state.as_ref().and_then(|st| st.terminated.as_ref()) {
            parts.push(format!("{} last exited {} ({}), {} restart(s)", c.name, t.exit_code, t.reason.as_deref().unwrap_or(""), c.restart_count));
        }
    }
    parts.join(", ")
}

// ---------------------------------------------------------------------------------------------
// Acting on the cluster.

/// Waits until pod `name` exists, is Running and Ready and `accept` takes it (`Err` says why a
/// pod is not the one awaited, for example the evicted pod itself). Fails at once on a pod that
/// cannot start (image not loaded, crash loop).
async fn wait_pod_ready(pods: &Api<Pod>, name: &str, deadline: Duration, accept: impl Fn(&Pod) -> Result<(), String>) -> anyhow::Result<Pod> {
    until(&format!("pod {name} Running and Ready"), deadline, || async {
        let Some(p) = pods.get_opt(name).await? else { return Ok(Seen::NotYet(format!("no pod {name}"))) };
        if let Err(why) = accept(&p) {
            return Ok(Seen::NotYet(format!("{why}: {}", describe_pod(&p))));
        }
        if let Some(why) = pod_broken(&p) {
            bail!("pod {name} cannot start: {why}");
        }
        Ok(if pod_ready(&p) { Seen::Done(p) } else { Seen::NotYet(describe_pod(&p)) })
    })
    .await
}

/// A pod spec of the fixture image running `sh -c script` as the image's user (UID 1000).
/// `sh` or `sleep` as PID 1 ignores SIGTERM: a short grace keeps evictions and cleanup fast.
fn pod_spec(script: &str) -> Value {
    json!({
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "main", "image": IMAGE, "imagePullPolicy": PULL, "command": ["sh", "-c", script]}],
    })
}

async fn create_headless_service(client: &Client, name: &str) -> anyhow::Result<()> {
    let services: Api<Service> = Api::namespaced(client.clone(), NS);
    let svc = json!({"metadata": {"name": name}, "spec": {"clusterIP": "None", "selector": {"app": name}, "ports": [{"name": "echo", "port": ECHO_PORT}]}});
    services.create(&PostParams::default(), &object(svc)).await.with_context(|| format!("creating Service {name}"))?;
    Ok(())
}

/// A one-pod StatefulSet governed by the headless Service of the same name; with `class`, a
/// claim template `data` of that class mounted at /data.
async fn create_stateful_set(client: &Client, name: &str, script: &str, class: Option<&str>) -> anyhow::Result<()> {
    let mut spec = pod_spec(script);
    let mut sts = json!({
        "metadata": {"name": name},
        "spec": {"serviceName": name, "replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": {"metadata": {"labels": {"app": name}}}},
    });
    if let Some(class) = class {
        spec["containers"][0]["volumeMounts"] = json!([{"name": "data", "mountPath": "/data"}]);
        sts["spec"]["volumeClaimTemplates"] = json!([{
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class, "resources": {"requests": {"storage": "16Mi"}}},
        }]);
    }
    sts["spec"]["template"]["spec"] = spec;
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    api.create(&PostParams::default(), &object(sts)).await.with_context(|| format!("creating StatefulSet {name}"))?;
    Ok(())
}

/// Claim `claim` is of `class` and bound to a PV without node affinity: its pod may move.
async fn volume_not_pinned(client: &Client, claim: &str, class: &str) -> anyhow::Result<()> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), NS);
    let spec = claims.get(claim).await?.spec.unwrap_or_default();
    ensure!(spec.storage_class_name.as_deref() == Some(class), "claim {claim} has class {:?}, expected {class}", spec.storage_class_name);
    let pv_name = spec.volume_name.with_context(|| format!("claim {claim} is bound to no volume"))?;
    let pv = Api::<PersistentVolume>::all(client.clone()).get(&pv_name).await?;
    if let Some(affinity) = pv.spec.and_then(|s| s.node_affinity) {
        bail!("volume {pv_name} of class {class} is pinned to nodes ({affinity:?}): a pod using it cannot move to another node");
    }
    Ok(())
}

#[derive(Debug)]
struct ExecOutput {
    stdout: String,
    stderr: String,
    code: i64,
}

/// Runs `argv` in the pod's container: stdout and stderr read separately, the exit status from
/// the status channel.
async fn exec(pods: &Api<Pod>, pod: &str, argv: &[&str]) -> anyhow::Result<ExecOutput> {
    let ap = AttachParams::default().stdin(false).stdout(true).stderr(true);
    let work = async {
        let mut proc = pods.exec(pod, argv.to_vec(), &ap).await?;
        let status = proc.take_status().context("no status channel")?;
        let mut out = proc.stdout().context("no stdout")?;
        let mut err = proc.stderr().context("no stderr")?;
        let (mut so, mut se) = (Vec::new(), Vec::new());
        let (a, b) = tokio::join!(out.read_to_end(&mut so), err.read_to_end(&mut se));
        a.context("reading stdout")?;
        b.context("reading stderr")?;
        let code = exit_code(status.await.as_ref())?;
        let _ = proc.join().await;
        anyhow::Ok(ExecOutput { stdout: String::from_utf8_lossy(&so).into(), stderr: String::from_utf8_lossy(&se).into(), code })
    };
    tokio::time::timeout(CALL, work).await.map_err(|_| anyhow!("no answer within {CALL:?}"))?.with_context(|| format!("exec {argv:?} in {pod}"))
}

/// The first `n` bytes pod:port sends, through `Api::portforward` (no local port is bound).
async fn read_through_port_forward(pods: &Api<Pod>, pod: &str, port: u16, n: usize) -> anyhow::Result<Vec<u8>> {
    let mut pf = tokio::time::timeout(CALL, pods.portforward(pod, &[port])).await.map_err(|_| anyhow!("port-forward: no answer within {CALL:?}"))??;
    let mut stream = pf.take_stream(port).context("port-forward: no stream")?;
    let errors = pf.take_error(port).context("port-forward: no error channel")?;
    let mut buf = vec![0; n];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut buf)).await;
    drop(stream);
    let outcome = match read {
        Ok(Ok(_)) => Ok(buf),
        Ok(Err(e)) => {
            // The server says on the error channel why the port could not be used.
            let why = tokio::time::timeout(Duration::from_secs(2), errors).await.ok().flatten().unwrap_or_else(|| "no error reported".into());
            Err(anyhow!("port-forward to {pod}:{port}: {e} (server: {why})"))
        }
        Err(_) => Err(anyhow!("port-forward to {pod}:{port}: no {n} bytes within 10s")),
    };
    if tokio::time::timeout(Duration::from_secs(5), pf.join()).await.is_err() {
        eprintln!("kind_smoke: port-forward to {pod}:{port} did not close within 5s (abandoned)");
    }
    outcome
}

/// A cordoned node, uncordoned by [`Cordon::release`] or, on a failing path, when dropped.
struct Cordon {
    nodes: Api<Node>,
    node: String,
    released: bool,
}

impl Cordon {
    async fn new(client: &Client, node: &str) -> anyhow::Result<Cordon> {
        let nodes: Api<Node> = Api::all(client.clone());
        set_unschedulable(&nodes, node, true).await.with_context(|| format!("cordoning {node}"))?;
        Ok(Cordon { nodes, node: node.to_string(), released: false })
    }

    async fn release(mut self) -> anyhow::Result<()> {
        self.released = true;
        set_unschedulable(&self.nodes, &self.node, false).await.with_context(|| format!("uncordoning {}", self.node))
    }
}

impl Drop for Cordon {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        // Drop cannot await: block this worker (the test runs on the multi-thread runtime).
        let uncordoned = match tokio::runtime::Handle::try_current() {
            Ok(rt) if rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), set_unschedulable(&self.nodes, &self.node, false)).await }))
                    .map_err(|_| anyhow!("no answer within 30s"))
                    .and_then(|r| r)
            }
            _ => Err(anyhow!("no multi-thread tokio runtime to uncordon from")),
        };
        match uncordoned {
            Ok(()) => eprintln!("kind_smoke: uncordoned {} (on the way out)", self.node),
            Err(e) => eprintln!("kind_smoke: could not uncordon {}: {e:#}", self.node),
        }
    }
}

async fn set_unschedulable(nodes: &Api<Node>, node: &str, unschedulable: bool) -> anyhow::Result<()> {
    nodes.patch(node, &PatchParams::default(), &Patch::Merge(json!({"spec": {"unschedulable": unschedulable}}))).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The cluster: kind, its kubeconfig, a client.

/// A kind cluster of this test, deleted when dropped unless [`KindCluster::delete_and_verify`] did.
struct KindCluster {
    kind: PathBuf,
    name: String,
    /// Holds the kubeconfig kind writes, so ~/.kube/config is not touched.
    dir: tempfile::TempDir,
    deleted: bool,
    /// The cluster's lock, as a run holds it: a `zk-chaos clean` beside this test (the Docker
    /// end-to-end tests run one while these run) leaves a cluster in use alone.
    _lock: zk_chaos::ownership::RunLocks,
}

impl KindCluster {
    /// A unique, short, lowercase name; nothing is created yet, but the guard is armed.
    fn planned(kind: PathBuf) -> anyhow::Result<KindCluster> {
        let name = format!("zk-chaos-smoke-{}-{}", SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs(), std::process::id());
        let mut lock = zk_chaos::ownership::RunLocks::new(zk_chaos::ownership::runs_dir());
        lock.hold(&name)?;
        Ok(KindCluster { kind, name, dir: tempfile::tempdir()?, deleted: false, _lock: lock })
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    async fn create(&self, config: &Path) -> anyhow::Result<()> {
        ensure!(config.exists(), "{} does not exist: the kind cluster config (1 control plane, 4 workers) is needed", config.display());
        // The cluster's own copy: its shared-volume host directory is its own (removed on delete).
        let own = self.dir.path().join("cluster.yaml");
        std::fs::write(&own, kind::config_for(&std::fs::read_to_string(config)?, &self.name))?;
        let (config, kubeconfig) = (own.to_string_lossy().into_owned(), self.kubeconfig().to_string_lossy().into_owned());
        let args = ["create", "cluster", "--name", &self.name, "--config", &config, "--kubeconfig", &kubeconfig, "--wait", "5m"];
        run(&self.kind, &args, CREATE).await.map(drop)
    }

    async fn load(&self, image: &str) -> anyhow::Result<()> {
        run(&self.kind, &["load", "docker-image", image, "--name", &self.name], LOAD)
            .await
            .with_context(|| format!("{image} must be in the local Docker engine (bash ci/build-image.sh builds it)"))
            .map(drop)
    }

    /// A client for the cluster that does not retry: the budget's 429 must reach the test as sent.
    async fn client(&self) -> anyhow::Result<Client> {
        let kc = Kubeconfig::read_from(self.kubeconfig()).with_context(|| format!("reading {}", self.kubeconfig().display()))?;
        let options = KubeConfigOptions { context: Some(format!("kind-{}", self.name)), ..Default::default() };
        client_for(Config::from_custom_kubeconfig(kc, &options).await?)
    }

    /// Deletes the cluster, then checks kind lists it no more and Docker has no container of it.
    async fn delete_and_verify(&mut self) -> anyhow::Result<()> {
        self.deleted = true;
        run(&self.kind, &self.delete_args(), DELETE).await?;
        let listed = run(&self.kind, &["get", "clusters"], CALL).await?;
        ensure!(!listed.lines().any(|l| l.trim() == self.name), "`kind get clusters` still lists {}:\n{listed}", self.name);
        let label = format!("label=io.x-k8s.kind.cluster={}", self.name);
        let containers = run(Path::new("docker"), &["ps", "-a", "--filter", &label, "-q"], CALL).await?;
        ensure!(containers.trim().is_empty(), "containers of {} are left: {}", self.name, containers.split_whitespace().collect::<Vec<_>>().join(" "));
        remove_shared_dir(&self.name)
    }

    fn delete_args(&self) -> Vec<String> {
        ["delete", "cluster", "--name", &self.name, "--kubeconfig", &self.kubeconfig().to_string_lossy()].map(String::from).to_vec()
    }
}

impl Drop for KindCluster {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        eprintln!("kind_smoke: deleting cluster {} (the test did not get to the end)", self.name);
        // Blocking is fine here: nothing else runs once the test is unwinding.
        match run_blocking(&self.kind, &self.delete_args(), DELETE) {
            Ok(()) => {
                eprintln!("kind_smoke: deleted cluster {}", self.name);
                if let Err(e) = remove_shared_dir(&self.name) {
                    eprintln!("kind_smoke: {e:#}");
                }
            }
            Err(e) => eprintln!("kind_smoke: could not delete cluster {}: {e:#}; delete it with `kind delete cluster --name {}`", self.name, self.name),
        }
    }
}

/// The cluster's shared-volume host directory (the `zk-chaos-shared` StorageClass) goes with it.
fn remove_shared_dir(cluster: &str) -> anyhow::Result<()> {
    let dir = kind::shared_dir(cluster);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

/// The client of the cluster: kube's default stack minus its retry layer, plus a read timeout so
/// no call hangs.
fn client_for(mut config: Config) -> anyhow::Result<Client> {
    config.default_retry = false;
    config.read_timeout = Some(CALL);
    Ok(Client::try_from(config)?)
}

/// The kind binary: `ZK_CHAOS_KIND`, else `kind` on PATH, else `$(go env GOPATH)/bin/kind`;
/// checked with `kind version`.
async fn kind_binary() -> anyhow::Result<PathBuf> {
    let bin = match std::env::var_os("ZK_CHAOS_KIND") {
        Some(p) => PathBuf::from(p),
        None => match std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).map(|d| d.join("kind")).find(|p| p.is_file()) {
            Some(p) => p,
            None => {
                let gopath = match run(Path::new("go"), &["env", "GOPATH"], Duration::from_secs(30)).await {
                    Ok(out) => PathBuf::from(out.trim()),
                    Err(_) => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join("go"),
                };
                let p = gopath.join("bin/kind");
                ensure!(
                    p.is_file(),
                    "no kind binary: ZK_CHAOS_KIND is unset, `kind` is not on PATH and {} does not exist. Install it \
                     (`go install sigs.k8s.io/kind@v0.33.0`) or point ZK_CHAOS_KIND at it.",
                    p.display()
                );
                p
            }
        },
    };
    let version = run(&bin, &["version"], Duration::from_secs(30))
        .await
        .with_context(|| format!("the kind binary {} cannot be run (ZK_CHAOS_KIND, else `kind` on PATH, else $(go env GOPATH)/bin/kind)", bin.display()))?;
    eprintln!("kind_smoke: {} ({})", version.trim(), bin.display());
    Ok(bin)
}

/// Runs a command to completion within `deadline` (killed after it); its stdout, or an error with
/// the tail of its stderr.
async fn run<S: AsRef<str>>(bin: &Path, args: &[S], deadline: Duration) -> anyhow::Result<String> {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let shown = format!("{} {}", bin.display(), args.join(" "));
    let output = tokio::process::Command::new(bin).args(&args).stdin(Stdio::null()).kill_on_drop(true).output();
    let out = tokio::time::timeout(deadline, output)
        .await
        .map_err(|_| anyhow!("`{shown}` did not finish within {deadline:?} (killed)"))?
        .with_context(|| format!("cannot run `{shown}`"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "`{shown}` exited {}:\n{}", out.status, tail(&stderr, 25));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// [`run`] for `Drop`: std's process, polled to a deadline, its output passed through.
fn run_blocking(bin: &Path, args: &[String], deadline: Duration) -> anyhow::Result<()> {
    let mut child = std::process::Command::new(bin).args(args).stdin(Stdio::null()).stdout(Stdio::null()).spawn()?;
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            ensure!(status.success(), "`{} {}` exited {status}", bin.display(), args.join(" "));
            return Ok(());
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("`{} {}` did not finish within {deadline:?} (killed)", bin.display(), args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

/// One look at a condition: done with a value, or not yet, with what was seen.
enum Seen<T> {
    Done(T),
    NotYet(String),
}

/// Looks every [`POLL`] until `probe` is done, fails ("wrong": stop now) or `deadline` passes;
/// then says what it saw last. A look that hangs is cut at the deadline.
async fn until<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Seen<T>>>,
{
    let start = Instant::now();
    let mut last;
    loop {
        let left = deadline.saturating_sub(start.elapsed()).max(Duration::from_secs(1));
        match tokio::time::timeout(left, probe()).await {
            Ok(Ok(Seen::Done(v))) => return Ok(v),
            Ok(Ok(Seen::NotYet(seen))) => last = seen,
            Ok(Err(e)) => return Err(e.context(format!("waiting for {what}"))),
            Err(_) => last = format!("a look did not answer within {left:?}"),
        }
        if start.elapsed() >= deadline {
            bail!("{what}: not after {deadline:?}; last seen: {last}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Runs one step and prints how long it took.
async fn timed<T>(what: &str, step: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let start = Instant::now();
    let result = step.await;
    let secs = start.elapsed().as_secs_f64();
    match &result {
        Ok(_) => eprintln!("kind_smoke: {what} after {secs:.1}s"),
        Err(e) => eprintln!("kind_smoke: FAILED after {secs:.1}s: {what}: {e:#}"),
    }
    result.with_context(|| format!("step: {what}"))
}

/// A typed object from a manifest written as JSON (a mistake in one is this test's bug).
fn object<K: DeserializeOwned>(v: Value) -> K {
    serde_json::from_value(v).unwrap_or_else(|e| panic!("a manifest of this test does not parse: {e}"))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A loopback stand-in for the API server that refuses every request as a disruption budget
/// does (429, `DisruptionBudget` cause, the apiserver's JSON), counting the requests.
async fn refusing_api_server() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let _ = refuse_each_request(conn, &counted).await;
            });
        }
    });
    (url, requests)
}

async fn refuse_each_request(conn: tokio::net::TcpStream, counted: &AtomicUsize) -> std::io::Result<()> {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Cannot evict pod as it would violate the pod's disruption budget.", "reason": "TooManyRequests",
        "details": {"causes": [{"reason": "DisruptionBudget", "message": "The disruption budget zk-pdb needs 2 healthy pods and has 2 currently"}]},
        "code": 429,
    })
    .to_string();
    let mut conn = BufReader::new(conn);
    loop {
        // One HTTP/1.1 request: the head up to an empty line, then Content-Length bytes of body.
        let (mut line, mut length) = (String::new(), 0);
        loop {
            line.clear();
            if conn.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        conn.read_exact(&mut vec![0; length]).await?;
        counted.fetch_add(1, Ordering::SeqCst);
        let head = format!("HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
        conn.get_mut().write_all(format!("{head}{body}").as_bytes()).await?;
    }
}
