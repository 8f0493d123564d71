//! Partitions on Kubernetes: the partition helper (the image `zk-chaos/netfilter`, see
//! [`netfilter`]) runs as an ephemeral container of the member's pod, so it shares the pod's
//! network namespace; its rules are set, counted, probed and removed by exec into it. Ephemeral
//! containers cannot be removed from a pod: the helper (an idle `sleep`) stays until the pod goes,
//! and a later cut of the same pod reuses it. The rules live in the pod's network namespace, so
//! they go with the pod: deleting the run's objects (teardown, or `zk-chaos clean` after a killed
//! run) removes any partition left behind.
//!
//! The image must be on the member's node: `--platform kind` loads it into the cluster it creates
//! when a selected suite partitions; another cluster pulls it as `ZK_CHAOS_NETFILTER_IMAGE` names it.

use anyhow::{anyhow, bail, Context};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use serde_json::{json, Value};

use super::KubePlatform;
use crate::platform::{netfilter, Cut, CutCounters};
use crate::wait::{self, Seen};

/// The helper's name in the pod; a helper that stopped is replaced by one with a number after it.
pub const HELPER: &str = "zk-chaos-netfilter";

/// The ephemeral container to add: the helper idle, as root with CAP_NET_ADMIN (the pod's
/// `runAsUser` would otherwise make it a user iptables refuses).
pub fn helper_patch(name: &str, image: &str) -> Value {
    json!({"spec": {"ephemeralContainers": [{
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sleep", "infinity"],
        "securityContext": {"runAsUser": 0, "runAsGroup": 0, "runAsNonRoot": false, "capabilities": {"add": ["NET_ADMIN"]}},
    }]}})
}

/// What the pod says of one of its partition helpers.
#[derive(Debug, PartialEq, Eq)]
pub enum HelperState {
    Running,
    /// Not started yet: the kubelet's reason, if it gave one.
    Waiting(String),
    /// It cannot start (its image cannot be had) or it stopped.
    Failed(String),
}

/// The state of the helper `name` in `pod`.
pub fn helper_state(pod: &Pod, name: &str) -> HelperState {
    let status = pod.status.as_ref().and_then(|s| s.ephemeral_container_statuses.as_ref()).and_then(|all| all.iter().find(|c| c.name == name));
    let Some(state) = status.and_then(|c| c.state.as_ref()) else { return HelperState::Waiting("not in the pod's status yet".into()) };
    if state.running.is_some() {
        return HelperState::Running;
    }
    if let Some(t) = &state.terminated {
        return HelperState::Failed(format!("it stopped (exit {}{})", t.exit_code, t.reason.as_ref().map(|r| format!(", {r}")).unwrap_or_default()));
    }
    let w = state.waiting.as_ref();
    let reason = w.and_then(|w| w.reason.clone()).unwrap_or_else(|| "waiting".into());
    let message = w.and_then(|w| w.message.clone()).map(|m| format!(": {m}")).unwrap_or_default();
    match reason.as_str() {
        "ErrImagePull" | "ImagePullBackOff" | "ErrImageNeverPull" | "InvalidImageName" | "CreateContainerError" | "CreateContainerConfigError" => {
            HelperState::Failed(format!("{reason}{message}"))
        }
        _ => HelperState::Waiting(format!("{reason}{message}")),
    }
}

/// The pod's partition helpers, oldest first.
pub fn helpers(pod: &Pod) -> Vec<String> {
    let spec = pod.spec.as_ref().and_then(|s| s.ephemeral_containers.as_ref());
    spec.into_iter()
        .flatten()
        .map(|c| c.name.clone())
        .filter(|n| n == HELPER || n.strip_prefix(HELPER).and_then(|r| r.strip_prefix('-')).is_some_and(|r| r.parse::<u32>().is_ok()))
        .collect()
}

/// The name for a new helper in `pod` (the first, or the next number).
pub fn next_helper_name(pod: &Pod) -> String {
    match helpers(pod).len() {
        0 => HELPER.to_string(),
        n => format!("{HELPER}-{n}"),
    }
}

impl KubePlatform {
    /// A running partition helper in `member`'s pod, added and waited for if there is none.
    pub(super) async fn helper(&self, member: &str) -> anyhow::Result<String> {
        let pods = self.pods();
        let pod = pods.get(member).await.with_context(|| format!("reading {member}'s pod"))?;
        if let Some(running) = helpers(&pod).into_iter().rev().find(|h| helper_state(&pod, h) == HelperState::Running) {
            return Ok(running);
        }
        let name = next_helper_name(&pod);
        let image = netfilter::image();
        pods.patch_ephemeral_containers(member, &PatchParams::default(), &Patch::Strategic(helper_patch(&name, &image)))
            .await
            .with_context(|| format!("adding the partition helper {name} (an ephemeral container of {image}) to {member}'s pod"))?;
        tracing::info!("added the partition helper {name} to {member}'s pod");
        wait::until(&format!("the partition helper {name} running in {member}'s pod"), self.config.timeouts.member_ready, None, || async {
            let pod = pods.get(member).await?;
            match helper_state(&pod, &name) {
                HelperState::Running => Ok(Seen::Done(())),
                HelperState::Waiting(why) => Ok(Seen::NotYet(why)),
                HelperState::Failed(why) => Err(anyhow!(
                    "the partition helper {name} in {member}'s pod cannot run: {why}. Its image {image} must be on the node: --platform kind loads it when built \
                     (`zk-chaos image build` or bash ci/build-image.sh); on another cluster make it pullable and name it with ZK_CHAOS_NETFILTER_IMAGE"
                )),
            }
        })
        .await?;
        Ok(name)
    }

    /// Runs `script` in `member`'s partition helper: its exit code and output (stdout, then stderr).
    async fn in_network_of(&self, member: &str, script: String) -> anyhow::Result<(i64, String)> {
        let helper = self.helper(member).await?;
        let out = self.exec_in(member, Some(&helper), &["sh", "-c", &script]).await?;
        Ok((out.exit_code, format!("{}{}", out.stdout, out.stderr)))
    }

    /// [`Self::in_network_of`], failing unless the script exits 0.
    async fn netfilter(&self, member: &str, what: &str, script: String) -> anyhow::Result<String> {
        match self.in_network_of(member, script).await? {
            (0, out) => Ok(out),
            (code, out) => bail!("{what} in {member}'s network namespace exited {code}: {}", out.trim()),
        }
    }

    async fn pod_ip(&self, member: &str) -> anyhow::Result<String> {
        let pod = self.pods().get(member).await.with_context(|| format!("reading {member}'s pod"))?;
        pod.status.and_then(|s| s.pod_ip).filter(|ip| !ip.is_empty()).with_context(|| format!("{member}'s pod has no IP"))
    }

    pub(super) async fn cut_member(&self, cut: &Cut) -> anyhow::Result<()> {
        let mut ips = Vec::new();
        for peer in &cut.peers {
            ips.push(self.pod_ip(peer).await?);
        }
        self.netfilter(&cut.member, "setting the cut", netfilter::cut_script(cut, &ips)).await.map(drop)
    }

    /// A pod that is gone took its rules with it; one that never had a helper was never cut.
    pub(super) async fn mend_member(&self, member: &str) -> anyhow::Result<()> {
        let Some(pod) = self.pods().get_opt(member).await.with_context(|| format!("reading {member}'s pod"))? else { return Ok(()) };
        if helpers(&pod).is_empty() {
            return Ok(());
        }
        self.netfilter(member, "mending the cut", netfilter::mend_script()).await.map(drop)
    }

    pub(super) async fn counters_of(&self, member: &str) -> anyhow::Result<CutCounters> {
        netfilter::parse_counters(&self.netfilter(member, "reading the cut's counters", netfilter::counters_script()).await?)
    }

    pub(super) async fn probe(&self, from: &str, to: &str, port: u16) -> anyhow::Result<bool> {
        let ip = self.pod_ip(to).await?;
        match self.in_network_of(from, netfilter::probe_script(&ip, port)).await? {
            (0, _) => Ok(true),
            (1, _) => Ok(false),
            (code, out) => bail!("probing {to}:{port} from {from} exited {code}: {}", out.trim()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: Value) -> Pod {
        serde_json::from_value(spec).unwrap()
    }

    #[test]
    fn the_helper_is_an_idle_root_container_with_net_admin() {
        let p = helper_patch(HELPER, "zk-chaos/netfilter:bookworm");
        let c = &p["spec"]["ephemeralContainers"][0];
        assert_eq!(c["name"], HELPER);
        assert_eq!(c["image"], "zk-chaos/netfilter:bookworm");
        assert_eq!(c["command"], json!(["sleep", "infinity"]));
        assert_eq!(c["securityContext"]["runAsUser"], 0, "the pod's runAsUser 1000 would leave iptables without its capability");
        assert_eq!(c["securityContext"]["capabilities"]["add"], json!(["NET_ADMIN"]));
        // The API server accepts it as an EphemeralContainer.
        let _: k8s_openapi::api::core::v1::EphemeralContainer = serde_json::from_value(c.clone()).unwrap();
    }

    #[test]
    fn helpers_are_numbered_and_a_stopped_one_is_replaced() {
        let none = pod(json!({"metadata": {"name": "zk-0"}, "spec": {"containers": []}}));
        assert_eq!(helpers(&none), Vec::<String>::new());
        assert_eq!(next_helper_name(&none), HELPER);
        let two = pod(json!({"metadata": {"name": "zk-0"}, "spec": {"containers": [], "ephemeralContainers": [
            {"name": HELPER}, {"name": "debugger"}, {"name": format!("{HELPER}-1")}, {"name": format!("{HELPER}-x")}]}}));
        assert_eq!(helpers(&two), vec![HELPER.to_string(), format!("{HELPER}-1")], "someone else's ephemeral containers are not ours");
        assert_eq!(next_helper_name(&two), format!("{HELPER}-2"));
    }

    #[test]
    fn helper_states_from_the_pods_status() {
        let with = |state: Value| {
            pod(json!({"metadata": {"name": "zk-0"}, "status": {"ephemeralContainerStatuses": [
            {"name": HELPER, "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": state}]}}))
        };
        assert_eq!(helper_state(&with(json!({"running": {}})), HELPER), HelperState::Running);
        assert_eq!(helper_state(&with(json!({"running": {}})), "other"), HelperState::Waiting("not in the pod's status yet".into()));
        assert_eq!(helper_state(&with(json!({"waiting": {"reason": "ContainerCreating"}})), HELPER), HelperState::Waiting("ContainerCreating".into()));
        assert!(
            matches!(helper_state(&with(json!({"waiting": {"reason": "ErrImagePull", "message": "no registry"}})), HELPER), HelperState::Failed(m) if m == "ErrImagePull: no registry")
        );
        assert!(matches!(helper_state(&with(json!({"terminated": {"exitCode": 137}})), HELPER), HelperState::Failed(m) if m.contains("exit 137")));
    }
}
