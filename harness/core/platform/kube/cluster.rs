//! Nodes, cordons, evictions and the disruption budget: [`Cluster`] on Kubernetes.

use anyhow::{anyhow, bail};
use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::json;

use super::KubePlatform;
use crate::platform::{BudgetStatus, Cluster, EvictionOutcome, NodeInfo};

/// What an answer of the Eviction API means. 201 (a Success Status) is accepted; 429 with a
/// `DisruptionBudget` cause is the budget refusing; anything else is an error.
pub fn eviction_outcome(result: Result<kube::core::Status, kube::Error>) -> anyhow::Result<EvictionOutcome> {
    match result {
        Ok(_) => Ok(EvictionOutcome::Accepted),
        Err(kube::Error::Api(s)) if s.code == 429 => {
            let causes = s.details.as_ref().map(|d| d.causes.clone()).unwrap_or_default();
            match causes.iter().find(|c| c.reason == "DisruptionBudget") {
                Some(c) => Ok(EvictionOutcome::RefusedByBudget { message: format!("{} ({})", s.message, c.message) }),
                None => bail!("eviction refused with 429 but not by a disruption budget: {} ({})", s.message, s.reason),
            }
        }
        Err(e) => Err(anyhow!(e).context("eviction")),
    }
}

/// The node a PV is pinned to by `spec.nodeAffinity` (local and local-path volumes).
pub fn pinned_node(pv: &PersistentVolume) -> Option<String> {
    let terms = &pv.spec.as_ref()?.node_affinity.as_ref()?.required.as_ref()?.node_selector_terms;
    terms
        .iter()
        .flat_map(|t| t.match_expressions.iter().flatten())
        .find_map(|e| (e.key == "kubernetes.io/hostname" && e.operator == "In").then(|| e.values.as_ref().and_then(|v| v.first().cloned())).flatten())
}

/// The annotation a run puts on each node it cordons (its run id) and removes when it uncordons:
/// how `zk-chaos clean` finds the cordons of a run that was killed.
pub const CORDONED_BY: &str = "zk-chaos.run/cordoned-by";
/// The annotation naming the host of the run that cordoned a node (see [`crate::ownership`]).
pub const CORDONED_FROM: &str = "zk-chaos.run/cordoned-from";

/// The merge patch of a cordon by `run_id` (or, with `None`, of its uncordon).
pub fn cordon_patch(run_id: Option<&str>) -> serde_json::Value {
    let host = run_id.map(|_| crate::ownership::this_host());
    json!({"metadata": {"annotations": {CORDONED_BY: run_id, CORDONED_FROM: host}}, "spec": {"unschedulable": run_id.is_some()}})
}

/// An object read from the API server with its apiVersion and kind set (a GET of one object may
/// omit them in the typed form).
fn with_kind(mut v: serde_json::Value, api_version: &str, kind: &str) -> serde_json::Value {
    v["apiVersion"] = json!(api_version);
    v["kind"] = json!(kind);
    v
}

impl KubePlatform {
    async fn set_unschedulable(&self, node: &str, unschedulable: bool) -> anyhow::Result<()> {
        let api: Api<Node> = Api::all(self.client.clone());
        api.patch(node, &PatchParams::default(), &Patch::Merge(cordon_patch(unschedulable.then_some(self.identity.run_id.as_str())))).await?;
        tracing::info!("{} node {node}", if unschedulable { "cordoned" } else { "uncordoned" });
        if unschedulable {
            self.cordoned_any.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }

    /// The nodes whose cordon annotation names this run: cordoned by it and not uncordoned.
    pub(super) async fn still_cordoned(&self) -> anyhow::Result<Vec<String>> {
        let api: Api<Node> = Api::all(self.client.clone());
        let lp = Default::default();
        let nodes = super::reread(|| api.list(&lp)).await?.items;
        Ok(nodes.iter().filter(|n| n.annotations().get(CORDONED_BY) == Some(&self.identity.run_id)).map(|n| n.name_any()).collect())
    }
}

#[async_trait]
impl Cluster for KubePlatform {
    async fn nodes(&self) -> anyhow::Result<Vec<NodeInfo>> {
        let api: Api<Node> = Api::all(self.client.clone());
        let lp = Default::default();
        let mut out: Vec<NodeInfo> = super::reread(|| api.list(&lp))
            .await?
            .items
            .into_iter()
            .map(|n| NodeInfo {
                schedulable: !n.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false),
                control_plane: n.metadata.labels.as_ref().is_some_and(|l| l.contains_key("node-role.kubernetes.io/control-plane")),
                name: n.metadata.name.unwrap_or_default(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn cordon(&self, node: &str) -> anyhow::Result<()> {
        self.set_unschedulable(node, true).await
    }

    async fn uncordon(&self, node: &str) -> anyhow::Result<()> {
        self.set_unschedulable(node, false).await
    }

    async fn evict(&self, member: &str) -> anyhow::Result<EvictionOutcome> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.identity.namespace);
        // The Eviction object as kubectl drain sends it (kube's `Api::evict` omits apiVersion/kind).
        let eviction = json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": member, "namespace": self.identity.namespace},
        });
        eviction_outcome(pods.create_subresource::<_, kube::core::Status>("eviction", member, &PostParams::default(), &eviction).await)
    }

    async fn budget(&self) -> anyhow::Result<BudgetStatus> {
        let name = self.manifest.pdb.as_ref().and_then(|p| p.metadata.name.clone()).ok_or_else(|| anyhow!("{} has no PodDisruptionBudget", self.manifest.origin))?;
        let api: Api<PodDisruptionBudget> = Api::namespaced(self.client.clone(), &self.identity.namespace);
        let pdb = super::reread(|| api.get(&name)).await?;
        let s = pdb.status.unwrap_or_default();
        Ok(BudgetStatus {
            current_healthy: s.current_healthy,
            desired_healthy: s.desired_healthy,
            disruptions_allowed: s.disruptions_allowed,
            expected_pods: s.expected_pods,
            observed_generation: s.observed_generation,
            generation: pdb.metadata.generation,
        })
    }

    async fn volume_pinned_node(&self, member: &str) -> anyhow::Result<Option<String>> {
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &self.identity.namespace);
        let Some(t) = self.manifest.pod_template().claim_templates.first().cloned() else { return Ok(None) };
        let Some(pvc) = pvcs.get_opt(&format!("{t}-{member}")).await? else { return Ok(None) };
        let Some(pv) = pvc.spec.and_then(|s| s.volume_name) else { return Ok(None) };
        let pvs: Api<PersistentVolume> = Api::all(self.client.clone());
        Ok(pinned_node(&pvs.get(&pv).await?))
    }

    async fn live_statefulset(&self) -> anyhow::Result<serde_json::Value> {
        let api: Api<k8s_openapi::api::apps::v1::StatefulSet> = Api::namespaced(self.client.clone(), &self.identity.namespace);
        Ok(serde_json::to_value(super::reread(|| api.get(self.manifest.name())).await?)?)
    }

    async fn live_objects(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        let mut out = Vec::new();
        let services: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(self.client.clone(), &self.identity.namespace);
        for s in &self.manifest.services {
            let name = s.metadata.name.clone().unwrap_or_default();
            if let Some(live) = services.get_opt(&name).await? {
                out.push(with_kind(serde_json::to_value(live)?, "v1", "Service"));
            }
        }
        if let Some(name) = self.manifest.pdb.as_ref().and_then(|p| p.metadata.name.clone()) {
            let pdbs: Api<PodDisruptionBudget> = Api::namespaced(self.client.clone(), &self.identity.namespace);
            if let Some(live) = pdbs.get_opt(&name).await? {
                out.push(with_kind(serde_json::to_value(live)?, "policy/v1", "PodDisruptionBudget"));
            }
        }
        out.push(with_kind(self.live_statefulset().await?, "apps/v1", "StatefulSet"));
        Ok(out)
    }
}
