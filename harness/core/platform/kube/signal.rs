//! Signals to a member's server container from outside it ([`Platform::signal_container`]), on
//! a kind cluster: a kind node is a Docker container, so the container's init process is reached
//! from the node's pid namespace (`crictl inspect` gives its pid there), where the kernel delivers
//! SIGSTOP to it. An exec into the pod cannot: the kernel drops SIGSTOP sent to a pid namespace's
//! init from inside that namespace, and an ephemeral container shares it.
//!
//! Other clusters' nodes are not reachable from here; there the signal fails with
//! [`CannotSignal`], naming the node, and the caller chooses another fault or skips.
//!
//! [`Platform::signal_container`]: crate::platform::Platform::signal_container

use anyhow::{anyhow, Context};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use tokio::process::Command;

use super::KubePlatform;
use crate::platform::CannotSignal;

/// The Docker container of a kind node, from the node's `spec.providerID`
/// (`kind://docker/<cluster>/<node>`); `None` for any other node.
pub fn kind_node_container(provider_id: &str) -> Option<&str> {
    let (_cluster, node) = provider_id.strip_prefix("kind://docker/")?.split_once('/')?;
    (!node.is_empty() && !node.contains('/')).then_some(node)
}

/// A container id without its runtime's prefix: `containerd://abc` is `abc`.
pub fn runtime_id(container_id: &str) -> &str {
    container_id.split_once("://").map_or(container_id, |(_, id)| id)
}

/// The pid of a container's init process from `crictl inspect`'s JSON (`info.pid`).
pub fn crictl_pid(json: &str) -> anyhow::Result<u32> {
    let v: serde_json::Value = serde_json::from_str(json).context("crictl inspect printed no JSON")?;
    let pid = v["info"]["pid"].as_u64().ok_or_else(|| anyhow!("crictl inspect names no info.pid"))?;
    anyhow::ensure!(pid > 1, "crictl inspect names pid {pid}: the container is not running");
    u32::try_from(pid).context("crictl's pid")
}

/// Where the member's server container runs, as far as a signal needs it.
#[derive(Debug, PartialEq, Eq)]
pub enum Place {
    /// Running: its runtime id, and its node.
    Running { id: String, node: String },
    /// Not running now (a restart under way): why.
    NotRunning(String),
}

/// The server container `container` of `pod`: its id and node when it runs.
pub fn place(pod: &Pod, container: &str) -> Place {
    let status = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref()).and_then(|all| all.iter().find(|c| c.name == container));
    let Some(status) = status else { return Place::NotRunning(format!("the pod has no status of container {container}")) };
    let running = status.state.as_ref().is_some_and(|s| s.running.is_some());
    match (running, &status.container_id, pod.spec.as_ref().and_then(|s| s.node_name.clone())) {
        (true, Some(id), Some(node)) => Place::Running { id: runtime_id(id).to_string(), node },
        _ => Place::NotRunning(format!("container {container} is not running")),
    }
}

impl KubePlatform {
    pub(super) async fn signal_from_node(&self, member: &str, signal: &str) -> anyhow::Result<String> {
        let container = &self.manifest.pod_template().container_name;
        let pod = self.pods().get(member).await.with_context(|| format!("reading pod {member}"))?;
        let (id, node) = match place(&pod, container) {
            Place::Running { id, node } => (id, node),
            Place::NotRunning(why) => return Ok(format!("not sent: {why}")),
        };
        let nodes: Api<Node> = Api::all(self.client.clone());
        let provider = nodes.get(&node).await.with_context(|| format!("reading node {node}"))?.spec.and_then(|s| s.provider_id).unwrap_or_default();
        let Some(node_container) = kind_node_container(&provider) else {
            return Err(CannotSignal(format!(
                "{member} runs on node {node} (providerID {provider:?}), not a kind node: zk-chaos reaches a container from outside only on Docker and on kind, whose nodes are containers of the local engine"
            ))
            .into());
        };
        let pid = crictl_pid(&docker_exec(node_container, &["crictl", "inspect", &id]).await?)?;
        docker_exec(node_container, &["kill", &format!("-{signal}"), &pid.to_string()]).await?;
        Ok(format!("from kind node {node_container}, to pid {pid} there (crictl inspect of container {})", &id[..12.min(id.len())]))
    }
}

/// `docker exec NODE ARGV...` through the engine zk-chaos found: its stdout, or why it failed.
async fn docker_exec(node: &str, argv: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("docker")
        .arg("exec")
        .arg(node)
        .args(argv)
        .envs(crate::platform::docker::engine::cli_env())
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("running `docker exec {node} {}` (the docker CLI)", argv.join(" ")))?;
    anyhow::ensure!(out.status.success(), "`docker exec {node} {}` exited {}: {}", argv.join(" "), out.status, String::from_utf8_lossy(&out.stderr).trim());
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_nodes_are_known_by_their_provider_id() {
        assert_eq!(kind_node_container("kind://docker/zk-chaos-1/zk-chaos-1-worker2"), Some("zk-chaos-1-worker2"));
        assert_eq!(kind_node_container("aws:///eu-west-1a/i-0abc"), None);
        assert_eq!(kind_node_container("kind://docker/only-cluster"), None);
        assert_eq!(kind_node_container("kind://docker/c/"), None);
        assert_eq!(kind_node_container(""), None);
    }

    #[test]
    fn runtime_ids_and_crictl_pids() {
        assert_eq!(runtime_id("containerd://6ab49700"), "6ab49700");
        assert_eq!(runtime_id("6ab49700"), "6ab49700");
        assert_eq!(crictl_pid(r#"{"status": {}, "info": {"pid": 390}}"#).unwrap(), 390);
        assert!(crictl_pid(r#"{"info": {"pid": 0}}"#).unwrap_err().to_string().contains("not running"));
        assert!(crictl_pid(r#"{"info": {}}"#).is_err());
        assert!(crictl_pid("not json").is_err());
    }

    #[test]
    fn only_a_running_server_container_has_a_place() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "spec": {"nodeName": "w2", "containers": [{"name": "zk"}]},
            "status": {"containerStatuses": [
                {"name": "sidecar", "containerID": "containerd://s", "image": "i", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {}}},
                {"name": "zk", "containerID": "containerd://abc", "image": "i", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {}}}
            ]}
        }))
        .unwrap();
        assert_eq!(place(&pod, "zk"), Place::Running { id: "abc".into(), node: "w2".into() });
        assert!(matches!(place(&pod, "other"), Place::NotRunning(_)));
        let mut waiting = pod.clone();
        waiting.status.as_mut().unwrap().container_statuses.as_mut().unwrap()[1].state =
            Some(serde_json::from_value(serde_json::json!({"waiting": {"reason": "CrashLoopBackOff"}})).unwrap());
        assert!(matches!(place(&waiting, "zk"), Place::NotRunning(_)));
    }
}
