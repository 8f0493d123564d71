//! `node-failure` ("Tolerating Node failure", TUTORIAL.md 14): the three pods run on three different nodes, because
//! the live StatefulSet has a required podAntiAffinity rule on `kubernetes.io/hostname` that
//! selects its own pods; so losing one node costs one server, and a quorum survives.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail};
use async_trait::async_trait;
use serde_json::Value;

use super::{walkthrough, About, Suite, SuiteCtx};
use crate::platform::Capability;

pub struct NodeFailure;

#[async_trait]
impl Suite for NodeFailure {
    fn about(&self) -> &'static About {
        &About {
            name: "node-failure",
            sections: &[&walkthrough::TOLERATING_NODE_FAILURE],
            summary: "every member on its own node, kept apart by the live StatefulSet's required podAntiAffinity on kubernetes.io/hostname",
            needs: &[Capability::Nodes],
            disruptive: false,
            workload: false,
        }
    }

    async fn run(&self, ctx: &mut SuiteCtx) -> anyhow::Result<()> {
        let p = ctx.platform.clone();
        let Some(cluster) = p.cluster() else { bail!("{} has no nodes to spread members over", p.kind()) };
        let mut nodes = BTreeMap::new();
        for m in p.members() {
            let s = p.status(&m).await?;
            nodes.insert(m, s.node);
        }
        ctx.check("each member on a different node", async { distinct_nodes(&nodes) }).await;
        let anti = async { anti_affinity(&cluster.live_statefulset().await?) };
        ctx.check("the live StatefulSet requires podAntiAffinity on kubernetes.io/hostname", anti).await;
        Ok(())
    }
}

/// Every member scheduled, no two on one node.
pub fn distinct_nodes(nodes: &BTreeMap<String, Option<String>>) -> anyhow::Result<String> {
    let mut by_node: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (m, n) in nodes {
        let n = n.as_deref().ok_or_else(|| anyhow!("{m} is not scheduled on any node"))?;
        by_node.entry(n).or_default().push(m);
    }
    if let Some((n, ms)) = by_node.iter().find(|(_, ms)| ms.len() > 1) {
        bail!("{} share node {n}: losing it would cost {} servers", ms.join(" and "), ms.len());
    }
    Ok(nodes.iter().map(|(m, n)| format!("{m} on {}", n.as_deref().unwrap_or(""))).collect::<Vec<_>>().join(", "))
}

/// A required anti-affinity term on `kubernetes.io/hostname` whose selector matches the pod
/// template's own labels (`app In [zk]` or `matchLabels: {app: zk}`).
pub fn anti_affinity(sts: &Value) -> anyhow::Result<String> {
    let labels = sts.pointer("/spec/template/metadata/labels").and_then(Value::as_object).cloned().unwrap_or_default();
    let preferred =
        sts.pointer("/spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution").and_then(Value::as_array).is_some_and(|t| !t.is_empty());
    let terms = sts.pointer("/spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution").and_then(Value::as_array).ok_or_else(|| {
        if preferred {
            // A preference is weighed against everything else the scheduler scores: on a busy or
            // small cluster it puts two servers on one node, and one node's loss takes both.
            anyhow!("spec.template.spec.affinity.podAntiAffinity has only preferredDuringSchedulingIgnoredDuringExecution, which the scheduler may ignore: nothing guarantees no two servers on one node")
        } else {
            anyhow!("spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution is absent: nothing keeps two members off one node")
        }
    })?;
    for t in terms {
        if t.get("topologyKey").and_then(Value::as_str) != Some("kubernetes.io/hostname") {
            continue;
        }
        let sel = &t["labelSelector"];
        let by_labels = sel.get("matchLabels").and_then(Value::as_object).is_some_and(|ml| !ml.is_empty() && ml.iter().all(|(k, v)| labels.get(k) == Some(v)));
        let exprs = sel.get("matchExpressions").and_then(Value::as_array).cloned().unwrap_or_default();
        let by_exprs = !exprs.is_empty()
            && exprs.iter().all(|e| {
                let key = e.get("key").and_then(Value::as_str).unwrap_or("");
                let values: Vec<&str> = e.get("values").and_then(Value::as_array).map(|v| v.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
                e.get("operator").and_then(Value::as_str) == Some("In") && labels.get(key).and_then(Value::as_str).is_some_and(|l| values.contains(&l))
            });
        if by_labels || by_exprs {
            return Ok(format!("required term on kubernetes.io/hostname selecting {}", serde_json::to_string(sel)?));
        }
    }
    bail!("no required podAntiAffinity term on kubernetes.io/hostname selects the pods' own labels {}", Value::Object(labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_walkthrough_statefulset_has_the_rule_and_a_preferred_only_one_fails() {
        let m = zk_chaos_core::manifest::Manifest::load(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/zookeeper.yaml"))).unwrap();
        let sts = m.documents.iter().find(|d| d["kind"] == "StatefulSet").unwrap().clone();
        assert!(anti_affinity(&sts).unwrap().contains("kubernetes.io/hostname"));
        let mut preferred = sts.clone();
        let rule = preferred["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"].take();
        preferred["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"] =
            json!({"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": rule["requiredDuringSchedulingIgnoredDuringExecution"][0]}]});
        let only = anti_affinity(&preferred).unwrap_err().to_string();
        assert!(only.contains("has only preferredDuringSchedulingIgnoredDuringExecution") && only.contains("no two servers on one node"), "{only}");
        let mut none = sts.clone();
        none["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"] = json!({});
        assert!(anti_affinity(&none).unwrap_err().to_string().contains("is absent"));
        let mut zone = sts.clone();
        zone["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] = json!("topology.kubernetes.io/zone");
        assert!(anti_affinity(&zone).is_err());
        let mut other = sts;
        other["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"]["matchExpressions"][0]["values"] =
            json!(["kafka"]);
        assert!(anti_affinity(&other).is_err());
    }

    #[test]
    fn a_match_labels_selector_counts_only_when_every_label_is_the_pods() {
        let m = zk_chaos_core::manifest::Manifest::load(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/zookeeper.yaml"))).unwrap();
        let sts = m.documents.iter().find(|d| d["kind"] == "StatefulSet").unwrap().clone();
        let with = |selector: serde_json::Value| {
            let mut s = sts.clone();
            s["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"] = selector;
            anti_affinity(&s)
        };
        assert!(with(json!({"matchLabels": {"app": "zk"}})).unwrap().contains("matchLabels"));
        assert!(with(json!({"matchLabels": {"app": "kafka"}})).is_err(), "another app's label");
        assert!(with(json!({"matchLabels": {"app": "zk", "tier": "db"}})).is_err(), "a label the pods lack");
        assert!(with(json!({"matchLabels": {}})).is_err(), "an empty selector is not the pods' own");
        assert!(with(json!({})).is_err(), "no selector at all");
    }

    #[test]
    fn members_sharing_a_node_or_unscheduled_fail() {
        let n = |v: &[(&str, Option<&str>)]| v.iter().map(|(m, n)| (m.to_string(), n.map(str::to_string))).collect::<BTreeMap<_, _>>();
        assert!(distinct_nodes(&n(&[("zk-0", Some("w1")), ("zk-1", Some("w2")), ("zk-2", Some("w3"))])).is_ok());
        let err = distinct_nodes(&n(&[("zk-0", Some("w1")), ("zk-1", Some("w1")), ("zk-2", Some("w3"))])).unwrap_err();
        assert_eq!(err.to_string(), "zk-0 and zk-1 share node w1: losing it would cost 2 servers");
        assert!(distinct_nodes(&n(&[("zk-0", None)])).unwrap_err().to_string().contains("not scheduled"));
    }
}
