//! `zk-chaos clean --context NAME`: what killed runs left on a Kubernetes cluster, found by the run
//! label ([`RUN_LABEL`]) and the cordon annotation ([`CORDONED_BY`]): the runs' own namespaces, the
//! objects a run put into an existing namespace, and the nodes a run cordoned.

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolumeClaim, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::cluster::{cordon_patch, CORDONED_BY, CORDONED_FROM};
use crate::ownership::{Judge, HOST_LABEL};
use crate::platform::RUN_LABEL;

/// What a cleaning removed, one line each, what it left alone and why, what it refused (a
/// named run in progress), and what it could not do.
#[derive(Debug, Default)]
pub struct Cleaned {
    pub removed: Vec<String>,
    pub left: Vec<String>,
    pub refused: Vec<String>,
    pub errors: Vec<String>,
}

/// `zk-chaos.run` (any run) or `zk-chaos.run=<run>`.
fn selector(run: Option<&str>) -> String {
    match run {
        Some(r) => format!("{RUN_LABEL}={r}"),
        None => RUN_LABEL.to_string(),
    }
}

/// The nodes of `nodes` cordoned by a run `judge` lets go: their annotations name it and its host.
pub fn cordoned_by(nodes: &[Node], judge: &mut Judge, out: &mut Cleaned) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| {
            let by = n.annotations().get(CORDONED_BY);
            by.is_some_and(|by| {
                judge.ask().run.is_none_or(|r| by == r) && judge.removes(by, n.annotations().get(CORDONED_FROM).map(String::as_str), &mut out.left, &mut out.refused)
            })
        })
        .map(|n| n.name_any())
        .collect()
}

fn labels_of(meta: &ObjectMeta) -> (String, Option<&str>) {
    let labels = meta.labels.as_ref();
    let run = labels.and_then(|l| l.get(RUN_LABEL)).cloned().unwrap_or_default();
    (run, labels.and_then(|l| l.get(HOST_LABEL)).map(String::as_str))
}

/// Removes the leftovers `judge` lets go of the runs `ask.run` names (every zk-chaos run's with
/// `None`) from the cluster, waiting up to `wait` for the namespaces to be gone.
pub async fn clean(client: &Client, judge: &mut Judge<'_>, wait: Duration) -> Cleaned {
    let mut out = Cleaned::default();
    let lp = ListParams::default().labels(&selector(judge.ask().run));

    let nodes: Api<Node> = Api::all(client.clone());
    match nodes.list(&ListParams::default()).await {
        Ok(list) => {
            for name in cordoned_by(&list.items, judge, &mut out) {
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
    let mut labelled = Vec::new();
    match namespaces.list(&lp).await {
        Ok(list) => {
            for ns in &list.items {
                labelled.push(ns.name_any());
                let (run, host) = labels_of(&ns.metadata);
                if !judge.removes(&run, host, &mut out.left, &mut out.refused) {
                    continue;
                }
                let ns = ns.name_any();
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
    delete_labelled::<StatefulSet>(client, &lp, &labelled, judge, &mut out).await;
    delete_labelled::<Service>(client, &lp, &labelled, judge, &mut out).await;
    delete_labelled::<PodDisruptionBudget>(client, &lp, &labelled, judge, &mut out).await;
    delete_labelled::<PersistentVolumeClaim>(client, &lp, &labelled, judge, &mut out).await;

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

/// Deletes every object of kind `K` carrying the label that `judge` lets go, outside the runs'
/// own namespaces (deleted whole, or left alone with their run).
async fn delete_labelled<K>(client: &Client, lp: &ListParams, skip: &[String], judge: &mut Judge<'_>, out: &mut Cleaned)
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    let all: Api<K> = Api::all(client.clone());
    let items = match all.list(lp).await {
        Ok(l) => l.items,
        Err(e) => {
            out.errors.push(format!("listing {kind}s: {e}"));
            return;
        }
    };
    for o in items {
        let (ns, name) = (o.namespace().unwrap_or_default(), o.name_any());
        let (run, host) = labels_of(o.meta());
        if skip.contains(&ns) || !judge.removes(&run, host, &mut out.left, &mut out.refused) {
            continue;
        }
        match Api::<K>::namespaced(client.clone(), &ns).delete(&name, &DeleteParams::background()).await {
            Ok(_) => out.removed.push(format!("deleted {kind} {ns}/{name}")),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => out.errors.push(format!("deleting {kind} {ns}/{name}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ownership::{self, Ask};
    use serde_json::json;

    fn node(name: &str, by: Option<(&str, &str)>) -> Node {
        let annotations = by.map(|(run, host)| json!({ CORDONED_BY: run, CORDONED_FROM: host })).unwrap_or(json!({}));
        serde_json::from_value(json!({"metadata": {"name": name, "annotations": annotations}, "spec": {"unschedulable": by.is_some()}})).unwrap()
    }

    #[test]
    fn only_the_nodes_a_finished_run_of_this_host_cordoned_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let here = ownership::this_host();
        let mut live = ownership::RunLocks::new(dir.path().to_path_buf());
        live.hold("zk-chaos-live").unwrap();
        let nodes = [
            node("w1", Some(("zk-chaos-a", &here))),
            node("w2", None),
            node("w3", Some(("zk-chaos-b", &here))),
            node("w4", Some(("zk-chaos-live", &here))),
            node("w5", Some(("zk-chaos-c", "ci-other-host"))),
        ];
        let found = |run: Option<&str>, force: bool| {
            let mut out = Cleaned::default();
            let mut judge = Judge::new(Ask { run, force }, dir.path().to_path_buf());
            (cordoned_by(&nodes, &mut judge, &mut out), out)
        };
        let (all, out) = found(None, false);
        assert_eq!(all, ["w1", "w3"], "a live run's cordon and another host's stay");
        assert!(out.left.iter().any(|l| l.contains("zk-chaos-live is in progress")), "{:?}", out.left);
        assert!(out.left.iter().any(|l| l.contains("host ci-other-host")), "{:?}", out.left);
        assert_eq!(found(Some("zk-chaos-b"), false).0, ["w3"]);
        assert!(found(Some("zk-chaos-none"), false).0.is_empty());
        let (named_live, out) = found(Some("zk-chaos-live"), false);
        assert!(named_live.is_empty() && out.refused.len() == 1, "{:?}", out.refused);
        assert_eq!(found(None, true).0, ["w1", "w3", "w4", "w5"]);
        // A node cordoned by someone else (no annotation) is never touched, even with --force.
        let other: Node = serde_json::from_value(json!({"metadata": {"name": "w6"}, "spec": {"unschedulable": true}})).unwrap();
        let mut judge = Judge::new(Ask { run: None, force: true }, dir.path().to_path_buf());
        assert!(cordoned_by(&[other], &mut judge, &mut Cleaned::default()).is_empty());
    }

    #[test]
    fn the_selector_is_the_run_label() {
        assert_eq!(selector(None), "zk-chaos.run");
        assert_eq!(selector(Some("zk-chaos-20261201-140000-ab12")), "zk-chaos.run=zk-chaos-20261201-140000-ab12");
    }
}
