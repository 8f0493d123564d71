//! `zk-chaos clean --context NAME`: what killed runs left on a Kubernetes cluster, found by the run
//! label ([`RUN_LABEL`]) and the cordon annotation ([`CORDONED_BY`]): the runs' own namespaces, the
//! objects a run put into an existing namespace, and the nodes a run cordoned.

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolumeClaim, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};

use super::cluster::{cordon_patch, CORDONED_BY};
use crate::platform::RUN_LABEL;

/// What a cleaning removed, one line each, and what it could not.
#[derive(Debug, Default)]
pub struct Cleaned {
    pub removed: Vec<String>,
    pub errors: Vec<String>,
}

/// `zk-chaos.run` (any run) or `zk-chaos.run=<run>`.
fn selector(run: Option<&str>) -> String {
    match run {
        Some(r) => format!("{RUN_LABEL}={r}"),
        None => RUN_LABEL.to_string(),
    }
}

/// The nodes of `nodes` cordoned by `run` (any run with `None`): their annotation names it.
pub fn cordoned_by(nodes: &[Node], run: Option<&str>) -> Vec<String> {
    nodes.iter().filter(|n| n.annotations().get(CORDONED_BY).is_some_and(|by| run.is_none_or(|r| by == r))).map(|n| n.name_any()).collect()
}

/// Removes every leftover of `run` (of every zk-chaos run with `None`) from the cluster, waiting
/// up to `wait` for the namespaces to be gone.
pub async fn clean(client: &Client, run: Option<&str>, wait: Duration) -> Cleaned {
    let mut out = Cleaned::default();
    let lp = ListParams::default().labels(&selector(run));

    let nodes: Api<Node> = Api::all(client.clone());
    match nodes.list(&ListParams::default()).await {
        Ok(list) => {
            for name in cordoned_by(&list.items, run) {
                match nodes.patch(&name, &PatchParams::default(), &Patch::Merge(cordon_patch(None))).await {
                    Ok(_) => out.removed.push(format!("uncordoned node {name}")),
                    Err(e) => out.errors.push(format!("uncordon node {name}: {e}")),
                }
            }
        }
        Err(e) => out.errors.push(format!("listing nodes: {e}")),
    }

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut deleted = Vec::new();
    match namespaces.list(&lp).await {
        Ok(list) => {
            for ns in list.items.iter().map(|n| n.name_any()) {
                match super::delete_namespace_now(client, &ns).await {
                    Ok(true) => deleted.push(ns),
                    Ok(false) => {}
                    Err(e) => out.errors.push(format!("deleting namespace {ns}: {e}")),
                }
            }
        }
        Err(e) => out.errors.push(format!("listing namespaces: {e}")),
    }

    // A run given an existing namespace (--namespace) labelled each object it created there.
    out.removed.extend(delete_labelled::<StatefulSet>(client, &lp, &deleted, &mut out.errors).await);
    out.removed.extend(delete_labelled::<Service>(client, &lp, &deleted, &mut out.errors).await);
    out.removed.extend(delete_labelled::<PodDisruptionBudget>(client, &lp, &deleted, &mut out.errors).await);
    out.removed.extend(delete_labelled::<PersistentVolumeClaim>(client, &lp, &deleted, &mut out.errors).await);

    let deadline = tokio::time::Instant::now() + wait;
    for ns in deleted {
        loop {
            match namespaces.get_opt(&ns).await {
                Ok(None) => {
                    out.removed.push(format!("deleted namespace {ns}"));
                    break;
                }
                Ok(Some(_)) if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_secs(1)).await,
                Ok(Some(_)) => {
                    out.errors.push(format!("namespace {ns} is still terminating after {}", humantime::format_duration(wait)));
                    break;
                }
                Err(e) => {
                    out.errors.push(format!("waiting for namespace {ns} to go: {e}"));
                    break;
                }
            }
        }
    }
    out
}

/// Deletes every object of kind `K` carrying the label, outside the namespaces being deleted anyway.
async fn delete_labelled<K>(client: &Client, lp: &ListParams, skip: &[String], errors: &mut Vec<String>) -> Vec<String>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    let all: Api<K> = Api::all(client.clone());
    let items = match all.list(lp).await {
        Ok(l) => l.items,
        Err(e) => {
            errors.push(format!("listing {kind}s: {e}"));
            return Vec::new();
        }
    };
    let mut removed = Vec::new();
    for o in items {
        let (ns, name) = (o.namespace().unwrap_or_default(), o.name_any());
        if skip.contains(&ns) {
            continue;
        }
        match Api::<K>::namespaced(client.clone(), &ns).delete(&name, &DeleteParams::background()).await {
            Ok(_) => removed.push(format!("deleted {kind} {ns}/{name}")),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => errors.push(format!("deleting {kind} {ns}/{name}: {e}")),
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, by: Option<&str>) -> Node {
        let annotations = by.map(|b| json!({ CORDONED_BY: b })).unwrap_or(json!({}));
        serde_json::from_value(json!({"metadata": {"name": name, "annotations": annotations}, "spec": {"unschedulable": by.is_some()}})).unwrap()
    }

    #[test]
    fn only_the_nodes_a_run_cordoned_are_found() {
        let nodes = [node("w1", Some("zk-chaos-a")), node("w2", None), node("w3", Some("zk-chaos-b"))];
        assert_eq!(cordoned_by(&nodes, None), ["w1", "w3"]);
        assert_eq!(cordoned_by(&nodes, Some("zk-chaos-b")), ["w3"]);
        assert!(cordoned_by(&nodes, Some("zk-chaos-c")).is_empty());
        // A node cordoned by someone else (no annotation) is never touched.
        let other: Node = serde_json::from_value(json!({"metadata": {"name": "w4"}, "spec": {"unschedulable": true}})).unwrap();
        assert!(cordoned_by(&[other], None).is_empty());
    }

    #[test]
    fn the_selector_is_the_run_label() {
        assert_eq!(selector(None), "zk-chaos.run");
        assert_eq!(selector(Some("zk-chaos-20261201-140000-ab12")), "zk-chaos.run=zk-chaos-20261201-140000-ab12");
    }
}
