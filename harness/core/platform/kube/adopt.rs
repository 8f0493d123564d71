//! Adopting an ensemble that already runs (`--adopt statefulset/NAME -n NS`): its manifest read
//! from the live StatefulSet and the objects around it, the rule for which faults may change the
//! StatefulSet, and the comparison that says whether the run left it as it was found.
//!
//! Everything here but [`find`] (which reads, and only reads) is pure: JSON in, JSON or words out.
//!
//! # Caveats
//! Secrets are never read: a pod template that mounts one gets a note, and a suite that wanted a
//! setting from it derives it from the running server instead.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::manifest::{selects, Manifest};

/// `statefulset/zk` (also `statefulsets/`, `sts/`, `statefulset.apps/`): the StatefulSet's name.
pub fn parse_target(target: &str) -> Result<String, String> {
    let refuse = || {
        format!(
            "--adopt {target:?}: name the ensemble as kubectl does, statefulset/NAME (for example --adopt statefulset/zk -n zookeeper); \
             zk-chaos adopts one StatefulSet"
        )
    };
    let (kind, name) = target.split_once('/').ok_or_else(refuse)?;
    if !matches!(kind.to_ascii_lowercase().as_str(), "statefulset" | "statefulsets" | "sts" | "statefulset.apps" | "statefulsets.apps") {
        return Err(refuse());
    }
    let dns_label = !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !dns_label {
        return Err(format!("--adopt {target:?}: {name:?} is not a StatefulSet name (lower-case letters, digits, '-' and '.')"));
    }
    Ok(name.to_string())
}

/// What an adopting run was also asked for that cannot go with adopting, as one paragraph; `None`
/// when the combination is good. `platform`: the `--platform` value's name.
pub struct Asked<'a> {
    pub platform: &'a str,
    pub manifest: bool,
    pub namespace: Option<&'a str>,
    pub images: bool,
    pub storage_class: bool,
    pub kind_config: bool,
    pub keep: bool,
    /// `--data` (or `data:` in the config).
    pub data: bool,
}

pub fn refuse_combination(a: &Asked) -> Option<String> {
    let why = if a.platform != "kube" {
        format!("--adopt needs --platform kube (an existing cluster where the ensemble runs); --platform {} creates its own ensemble", a.platform)
    } else if a.manifest {
        "--adopt and --manifest exclude each other: an adopted ensemble's manifest is read from the cluster (its StatefulSet, Services and budget); drop --manifest".into()
    } else if a.namespace.is_none_or(str::is_empty) {
        "--adopt needs the ensemble's namespace (-n NS); zk-chaos does not guess one, as it never creates or deletes it".into()
    } else if a.images {
        "--adopt runs the ensemble as found: --image-map, and images: or image: in the config, would change what runs; drop them".into()
    } else if a.storage_class {
        "--adopt creates no volume claims: --storage-class has nothing to apply to; drop it".into()
    } else if a.kind_config {
        "--adopt runs on an existing cluster: --kind-config has nothing to apply to; drop it".into()
    } else if a.keep {
        "--adopt always leaves the ensemble running: --keep has nothing to keep; drop it".into()
    } else if a.data {
        "--adopt certifies the user's ensemble: --data would write a volume into it that the run cannot take back whole; drop --data (or data: in the config)".into()
    } else {
        return None;
    };
    Some(why)
}

/// Fields the API server sets on an object, which a copy to re-create or compare leaves out.
const SERVER_SET: &[&str] = &["uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"];

/// `live` without what the API server set (its status and server-set metadata): the object as
/// its owner would create it again.
pub fn cleaned(live: &Value) -> Value {
    let mut d = live.clone();
    if let Some(o) = d.as_object_mut() {
        o.remove("status");
    }
    if let Some(meta) = d.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in SERVER_SET {
            meta.remove(*f);
        }
    }
    d
}

/// The StatefulSet's pod template labels.
fn template_labels(sts: &Value) -> Map<String, Value> {
    sts.pointer("/spec/template/metadata/labels").and_then(Value::as_object).cloned().unwrap_or_default()
}

/// The ConfigMaps and Secrets the pod template refers to (volumes, projected sources, envFrom,
/// env valueFrom), each name once, in the order first met.
pub fn referenced(sts: &Value) -> (Vec<String>, Vec<String>) {
    let (mut maps, mut secrets) = (Vec::new(), Vec::new());
    let add = |list: &mut Vec<String>, name: Option<&str>| {
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            if !list.iter().any(|x| x == n) {
                list.push(n.to_string());
            }
        }
    };
    let spec = sts.pointer("/spec/template/spec").cloned().unwrap_or(Value::Null);
    let each = |v: &Value, key: &str| v.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    for v in each(&spec, "volumes") {
        add(&mut maps, v.pointer("/configMap/name").and_then(Value::as_str));
        add(&mut secrets, v.pointer("/secret/secretName").and_then(Value::as_str));
        for s in each(v.get("projected").unwrap_or(&Value::Null), "sources") {
            add(&mut maps, s.pointer("/configMap/name").and_then(Value::as_str));
            add(&mut secrets, s.pointer("/secret/name").and_then(Value::as_str));
        }
    }
    for c in each(&spec, "initContainers").into_iter().chain(each(&spec, "containers")) {
        for f in each(&c, "envFrom") {
            add(&mut maps, f.pointer("/configMapRef/name").and_then(Value::as_str));
            add(&mut secrets, f.pointer("/secretRef/name").and_then(Value::as_str));
        }
        for e in each(&c, "env") {
            add(&mut maps, e.pointer("/valueFrom/configMapKeyRef/name").and_then(Value::as_str));
            add(&mut secrets, e.pointer("/valueFrom/secretKeyRef/name").and_then(Value::as_str));
        }
    }
    (maps, secrets)
}

/// The live objects of an adopted ensemble, as the cluster listed them in its namespace.
#[derive(Debug, Default, Clone)]
pub struct Found {
    pub statefulset: Value,
    pub services: Vec<Value>,
    pub budgets: Vec<Value>,
    /// The ConfigMaps [`referenced`] names that exist.
    pub config_maps: Vec<Value>,
}

/// Reads the StatefulSet `name` in `namespace`, every Service and PodDisruptionBudget there, and
/// the ConfigMaps its template uses. A StatefulSet or namespace that is not there is bad input.
pub async fn find(client: &kube::Client, namespace: &str, name: &str, context: &str) -> crate::error::Result<Found> {
    use k8s_openapi::api::apps::v1::StatefulSet;
    use k8s_openapi::api::core::v1::{ConfigMap, Service};
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use kube::api::{Api, ListParams};
    let failed = |what: &str, e: kube::Error| crate::error::Error::unavailable(format!("reading {what} in namespace {namespace} on context {context}: {e}"));
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    let Some(sts) = super::reread(|| sets.get_opt(name)).await.map_err(|e| failed("the StatefulSet", e))? else {
        return Err(crate::error::Error::bad_input(format!(
            "--adopt statefulset/{name}: there is no StatefulSet {name} in namespace {namespace} on context {context}              (`kubectl --context {context} -n {namespace} get statefulsets` lists those there)"
        )));
    };
    let statefulset = json(&sts);
    let all = ListParams::default();
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let services = super::reread(|| services.list(&all)).await.map_err(|e| failed("the Services", e))?.items.iter().map(json).collect();
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), namespace);
    let budgets = super::reread(|| budgets.list(&all)).await.map_err(|e| failed("the PodDisruptionBudgets", e))?.items.iter().map(json).collect();
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let mut config_maps = Vec::new();
    for cm in referenced(&statefulset).0 {
        if let Some(found) = super::reread(|| maps.get_opt(&cm)).await.map_err(|e| failed(&format!("ConfigMap {cm}"), e))? {
            config_maps.push(json(&found));
        }
    }
    Ok(Found { statefulset, services, budgets, config_maps })
}

/// A typed object as JSON (a typed object always serializes).
fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The manifest of an adopted ensemble: the StatefulSet; its governing Service (serviceName) and
/// every other Service that selects its pods; the budget that selects them; the ConfigMaps its
/// template uses: each [`cleaned`]. `origin` names it in messages and the report; the digest is
/// that of the documents as JSON. Notes say what was left out (a second budget, Secrets).
pub fn manifest(found: &Found, origin: &str) -> crate::error::Result<Manifest> {
    let bad = |msg: String| crate::error::Error::bad_input(format!("{origin}: {msg}"));
    let sts = cleaned(&found.statefulset);
    let name = sts.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    let service_name = sts.pointer("/spec/serviceName").and_then(Value::as_str).unwrap_or("");
    let labels = template_labels(&sts);
    let mut notes = vec![format!("{origin}: the manifest is the live StatefulSet {name} and the objects found beside it; nothing was applied")];
    let mut documents = Vec::new();
    let governing = found.services.iter().find(|s| s.pointer("/metadata/name").and_then(Value::as_str) == Some(service_name));
    if governing.is_none() {
        return Err(bad(format!("StatefulSet {name}: its spec.serviceName {service_name:?} names no Service in the namespace; the members' DNS names need that headless Service")));
    }
    for svc in &found.services {
        let is_governing = svc.pointer("/metadata/name").and_then(Value::as_str) == Some(service_name);
        let selector = svc.pointer("/spec/selector").and_then(Value::as_object);
        let selects_members = selector.is_some_and(|sel| !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v)));
        if is_governing || selects_members {
            documents.push(with_kind(cleaned(svc), "v1", "Service"));
        }
    }
    let budgets: Vec<&Value> = found.budgets.iter().filter(|b| b.pointer("/spec/selector").is_some_and(|sel| selects(sel, &labels))).collect();
    if let Some(first) = budgets.first() {
        documents.push(with_kind(cleaned(first), "policy/v1", "PodDisruptionBudget"));
    }
    if budgets.len() > 1 {
        let names: Vec<&str> = budgets.iter().filter_map(|b| b.pointer("/metadata/name").and_then(Value::as_str)).collect();
        notes.push(format!("{} PodDisruptionBudgets select the members ({}); the suites judge the first, {}", budgets.len(), names.join(", "), names[0]));
    }
    for cm in &found.config_maps {
        documents.push(with_kind(cleaned(cm), "v1", "ConfigMap"));
    }
    let (_, secrets) = referenced(&sts);
    if !secrets.is_empty() {
        notes.push(format!("the pod template uses the Secret(s) {}; zk-chaos reads no Secret of an adopted ensemble, so no suite judges their contents", secrets.join(", ")));
    }
    documents.push(with_kind(sts, "apps/v1", "StatefulSet"));
    let text = documents.iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    let digest = format!("sha256:{:x}", Sha256::digest(text.as_bytes()));
    let mut m = Manifest::from_documents(documents, origin, digest)?;
    m.notes.extend(notes);
    Ok(m)
}

/// A listed item carries no kind or apiVersion (the list does): put them back.
fn with_kind(mut d: Value, api_version: &str, kind: &str) -> Value {
    if let Some(o) = d.as_object_mut() {
        o.insert("apiVersion".into(), Value::from(api_version));
        o.insert("kind".into(), Value::from(kind));
    }
    d
}

/// The controller that owns the StatefulSet (the ownerReference with `controller: true`), as
/// `Kind/name`; `None` when no controller owns it. An owner that is no controller only ties the
/// StatefulSet's lifetime to it (garbage collection): nothing reconciles the spec back.
pub fn controller(sts: &Value) -> Option<String> {
    sts.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|o| format!("{}/{}", o.get("kind").and_then(Value::as_str).unwrap_or("?"), o.get("name").and_then(Value::as_str).unwrap_or("?")))
}

pub use crate::platform::StatefulSetChange as Change;

/// Why the run must not make `change` to the live StatefulSet `sts`; `None`: it may. A controller
/// (an operator) would fight the change or re-create the object its own way, so the fault would
/// test the operator, not the ensemble, and might not be undone as found; a deletion that would
/// delete the members' volumes (`persistentVolumeClaimRetentionPolicy.whenDeleted: Delete`)
/// destroys the data the run must leave in place.
pub fn change_refused(sts: &Value, change: Change) -> Option<String> {
    let name = sts.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?");
    if let Some(owner) = controller(sts) {
        let what = match change {
            Change::Delete => "deleting and re-creating it",
            Change::Template => "changing its pod template",
            Change::Replicas => "changing its replicas",
            Change::Image => "changing its server's image",
        };
        return Some(format!(
            "the adopted StatefulSet {name} is controlled by {owner} (metadata.ownerReferences): {what} would be undone or redone by that controller, \
             not left as found; certify it through its controller's own tests, or adopt a StatefulSet no controller owns"
        ));
    }
    if change == Change::Delete && sts.pointer("/spec/persistentVolumeClaimRetentionPolicy/whenDeleted").and_then(Value::as_str) == Some("Delete") {
        return Some(format!(
            "the adopted StatefulSet {name} has persistentVolumeClaimRetentionPolicy.whenDeleted Delete: deleting it would delete the members' volumes and their data"
        ));
    }
    if change == Change::Replicas && sts.pointer("/spec/persistentVolumeClaimRetentionPolicy/whenScaled").and_then(Value::as_str) == Some("Delete") {
        return Some(format!(
            "the adopted StatefulSet {name} has persistentVolumeClaimRetentionPolicy.whenScaled Delete: scaling it down would delete the removed members' volumes and their data"
        ));
    }
    None
}

/// Where the StatefulSet `now` differs from how it was `found`: its spec, labels and annotations,
/// each difference as a JSON pointer with both values. Fields the API server sets in a spec (a
/// template's or a volume claim template's creationTimestamp, a claim template's status) are not
/// compared: they change when the StatefulSet is re-created, not when anyone changes it.
pub fn differences(found: &Value, now: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for part in ["/spec", "/metadata/labels", "/metadata/annotations"] {
        let a = comparable(found.pointer(part).cloned().unwrap_or(Value::Null));
        let b = comparable(now.pointer(part).cloned().unwrap_or(Value::Null));
        diff(&a, &b, part.to_string(), &mut out);
    }
    out
}

/// A part of a StatefulSet without the server-set fields [`differences`] ignores.
fn comparable(mut v: Value) -> Value {
    if let Some(meta) = v.pointer_mut("/template/metadata").and_then(Value::as_object_mut) {
        meta.remove("creationTimestamp");
    }
    for vct in v.get_mut("volumeClaimTemplates").and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(o) = vct.as_object_mut() {
            o.remove("status");
        }
        if let Some(meta) = vct.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("creationTimestamp");
        }
    }
    v
}

fn diff(a: &Value, b: &Value, at: String, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                diff(x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null), here, out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff(p, q, format!("{at}/{i}"), out);
            }
        }
        _ if a == b => {}
        _ => out.push(format!("{at}: was {}, is {}", short(a), short(b))),
    }
}

fn short(v: &Value) -> String {
    let s = if v.is_null() { "absent".to_string() } else { v.to_string() };
    if s.chars().count() > 120 {
        format!("{}...", s.chars().take(117).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The walkthrough's objects as `kubectl get -o json` returns them: server-set metadata,
    /// status, defaults, the last-applied annotation; a listed item has no kind.
    fn live() -> Found {
        let reference = Manifest::reference().unwrap();
        let mut found = Found::default();
        for d in &reference.documents {
            let mut live = d.clone();
            live["metadata"]["namespace"] = json!("zookeeper");
            live["metadata"]["uid"] = json!("7d1c0a4e-0000-4000-8000-000000000001");
            live["metadata"]["resourceVersion"] = json!("48213");
            live["metadata"]["creationTimestamp"] = json!("2026-12-07T06:00:00Z");
            live["metadata"]["managedFields"] = json!([{"manager": "kubectl-client-side-apply", "operation": "Update"}]);
            live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = json!(d.to_string());
            let o = live.as_object_mut().unwrap();
            o.remove("kind");
            o.remove("apiVersion");
            match d["kind"].as_str().unwrap() {
                "StatefulSet" => {
                    live["metadata"]["generation"] = json!(1);
                    live["spec"]["revisionHistoryLimit"] = json!(10);
                    live["spec"]["template"]["metadata"]["creationTimestamp"] = Value::Null;
                    live["spec"]["volumeClaimTemplates"][0]["status"] = json!({"phase": "Pending"});
                    live["status"] = json!({"replicas": 3, "readyReplicas": 3, "currentRevision": "zk-5d9f7c", "updateRevision": "zk-5d9f7c"});
                    found.statefulset = live;
                }
                "Service" => {
                    if live["spec"]["clusterIP"] != json!("None") {
                        live["spec"]["clusterIP"] = json!("10.96.12.7");
                        live["spec"]["clusterIPs"] = json!(["10.96.12.7"]);
                    }
                    live["status"] = json!({"loadBalancer": {}});
                    found.services.push(live);
                }
                "PodDisruptionBudget" => {
                    live["status"] = json!({"currentHealthy": 3, "desiredHealthy": 2, "disruptionsAllowed": 1, "expectedPods": 3});
                    found.budgets.push(live);
                }
                other => panic!("the walkthrough has no {other}"),
            }
        }
        found
    }

    #[test]
    fn the_target_is_named_as_kubectl_names_it() {
        assert_eq!(parse_target("statefulset/zk").unwrap(), "zk");
        assert_eq!(parse_target("sts/zk-main").unwrap(), "zk-main");
        assert_eq!(parse_target("StatefulSets.apps/zk").unwrap(), "zk");
        for bad in ["zk", "deployment/zk", "statefulset/", "statefulset/Zk", "statefulset/zk-", "sts/a/b"] {
            let err = parse_target(bad).unwrap_err();
            assert!(err.starts_with(&format!("--adopt {bad:?}")), "{bad}: {err}");
        }
    }

    #[test]
    fn adopting_excludes_a_manifest_a_created_ensemble_and_what_would_change_it() {
        let good = Asked { platform: "kube", manifest: false, namespace: Some("zookeeper"), images: false, storage_class: false, kind_config: false, keep: false, data: false };
        assert_eq!(refuse_combination(&good), None);
        let cases: Vec<(Asked, &str)> = vec![
            (Asked { platform: "kind", ..good }, "--adopt needs --platform kube"),
            (Asked { platform: "docker", ..good }, "--platform docker creates its own ensemble"),
            (Asked { manifest: true, ..good }, "--adopt and --manifest exclude each other"),
            (Asked { namespace: None, ..good }, "needs the ensemble's namespace (-n NS)"),
            (Asked { namespace: Some(""), ..good }, "needs the ensemble's namespace (-n NS)"),
            (Asked { images: true, ..good }, "--image-map"),
            (Asked { storage_class: true, ..good }, "--storage-class"),
            (Asked { kind_config: true, ..good }, "--kind-config"),
            (Asked { keep: true, ..good }, "--keep"),
            (Asked { data: true, ..good }, "drop --data"),
        ];
        for (asked, says) in cases {
            let why = refuse_combination(&asked).unwrap_or_else(|| panic!("{says}: accepted"));
            assert!(why.contains(says), "{why}");
        }
    }

    #[test]
    fn the_manifest_of_a_live_statefulset_is_the_objects_as_their_owner_wrote_them() {
        let found = live();
        let m = manifest(&found, "statefulset/zk in namespace zookeeper").unwrap();
        let kinds: Vec<(&str, &str)> = m.documents.iter().map(|d| (d["kind"].as_str().unwrap(), d["metadata"]["name"].as_str().unwrap())).collect();
        assert_eq!(kinds, [("Service", "zk-hs"), ("Service", "zk-cs"), ("PodDisruptionBudget", "zk-pdb"), ("StatefulSet", "zk")]);
        let sts = m.statefulset_document();
        for f in SERVER_SET {
            assert!(sts["metadata"].get(*f).is_none(), "{f} kept");
        }
        assert!(sts.get("status").is_none());
        assert_eq!(sts["spec"]["revisionHistoryLimit"], 10, "a default the server filled in is part of the spec as found");
        assert_eq!(sts["metadata"]["namespace"], "zookeeper");
        assert_eq!(m.member_names(), ["zk-0", "zk-1", "zk-2"]);
        assert_eq!(m.pod_template().image, Manifest::reference().unwrap().pod_template().image);
        assert!(m.pdb.is_some() && m.headless_service().is_some());
        assert!(m.notes[0].contains("nothing was applied"), "{:?}", m.notes);
        // The same live objects, the same digest; another spec, another digest.
        assert_eq!(manifest(&found, "x").unwrap().digest, m.digest);
        let mut other = found.clone();
        other.statefulset["spec"]["replicas"] = json!(5);
        assert_ne!(manifest(&other, "x").unwrap().digest, m.digest);
    }

    #[test]
    fn only_services_and_budgets_of_the_members_are_taken_and_a_missing_governing_service_is_bad_input() {
        let mut found = live();
        found.services.push(json!({"metadata": {"name": "kafka"}, "spec": {"selector": {"app": "kafka"}, "ports": [{"port": 9092}]}}));
        found.services.push(json!({"metadata": {"name": "everything"}, "spec": {"ports": [{"port": 80}]}}));
        found.budgets.push(json!({"metadata": {"name": "kafka-pdb"}, "spec": {"selector": {"matchLabels": {"app": "kafka"}}, "maxUnavailable": 1}}));
        let m = manifest(&found, "x").unwrap();
        let names: Vec<&str> = m.documents.iter().filter_map(|d| d["metadata"]["name"].as_str()).collect();
        assert_eq!(names, ["zk-hs", "zk-cs", "zk-pdb", "zk"]);
        found.services.retain(|s| s["metadata"]["name"] != "zk-hs");
        let err = manifest(&found, "statefulset/zk in namespace zookeeper").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("spec.serviceName \"zk-hs\" names no Service in the namespace"), "{err}");
    }

    #[test]
    fn config_maps_and_secrets_the_template_uses_are_found_and_secrets_noted() {
        let sts = json!({"spec": {"template": {"spec": {
            "volumes": [{"name": "conf", "configMap": {"name": "zk-scripts"}}, {"name": "tls", "secret": {"secretName": "zk-tls"}},
                        {"name": "p", "projected": {"sources": [{"configMap": {"name": "zk-extra"}}, {"secret": {"name": "zk-auth"}}]}}],
            "initContainers": [{"name": "init", "envFrom": [{"configMapRef": {"name": "zk-env"}}]}],
            "containers": [{"name": "zk", "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "zk-scripts", "key": "a"}}},
                                                  {"name": "B", "valueFrom": {"secretKeyRef": {"name": "zk-tls", "key": "b"}}}]}]}}}});
        let (maps, secrets) = referenced(&sts);
        assert_eq!(maps, ["zk-scripts", "zk-extra", "zk-env"]);
        assert_eq!(secrets, ["zk-tls", "zk-auth"]);
    }

    #[test]
    fn a_controller_owning_the_statefulset_refuses_both_changes_and_a_mere_owner_does_not() {
        let mut sts = live().statefulset;
        assert_eq!(change_refused(&sts, Change::Delete), None);
        assert_eq!(change_refused(&sts, Change::Template), None);
        sts["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "keeper", "uid": "u1"}]);
        assert_eq!(controller(&sts), None, "an owner that is not a controller reconciles nothing");
        assert_eq!(change_refused(&sts, Change::Delete), None);
        sts["metadata"]["ownerReferences"][0]["controller"] = json!(true);
        sts["metadata"]["ownerReferences"][0]["kind"] = json!("ZookeeperCluster");
        assert_eq!(controller(&sts).as_deref(), Some("ZookeeperCluster/keeper"));
        for change in [Change::Delete, Change::Template, Change::Replicas, Change::Image] {
            let why = change_refused(&sts, change).expect("refused");
            assert!(why.contains("controlled by ZookeeperCluster/keeper (metadata.ownerReferences)"), "{why}");
        }
    }

    #[test]
    fn a_deletion_that_would_delete_the_volumes_is_refused_and_a_template_change_is_not() {
        let mut sts = live().statefulset;
        sts["spec"]["persistentVolumeClaimRetentionPolicy"] = json!({"whenDeleted": "Delete", "whenScaled": "Retain"});
        assert!(change_refused(&sts, Change::Delete).is_some_and(|w| w.contains("whenDeleted Delete")));
        assert_eq!(change_refused(&sts, Change::Template), None);
        sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] = json!("Retain");
        assert_eq!(change_refused(&sts, Change::Delete), None);
        assert_eq!(change_refused(&sts, Change::Replicas), None, "whenScaled Retain keeps the removed members' volumes");
        sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"] = json!("Delete");
        assert!(change_refused(&sts, Change::Replicas).is_some_and(|w| w.contains("whenScaled Delete")));
    }

    #[test]
    fn as_found_ignores_what_the_server_sets_and_names_every_real_change() {
        let found = live().statefulset;
        // Re-created from the copy: new uid, resourceVersion, generation, times, status.
        let mut again = found.clone();
        again["metadata"]["uid"] = json!("7d1c0a4e-0000-4000-8000-000000000002");
        again["metadata"]["resourceVersion"] = json!("51000");
        again["metadata"]["generation"] = json!(3);
        again["metadata"]["creationTimestamp"] = json!("2026-12-07T06:10:00Z");
        again["metadata"]["managedFields"] = json!([]);
        again["status"] = json!({"replicas": 3, "currentRevision": "zk-777"});
        again["spec"]["template"]["metadata"]["creationTimestamp"] = json!("2026-12-07T06:10:00Z");
        again["spec"]["volumeClaimTemplates"][0]["status"] = json!({"phase": "Bound"});
        assert_eq!(differences(&found, &again), Vec::<String>::new());

        let mut changed = again.clone();
        changed["spec"]["template"]["metadata"]["annotations"] = json!({"kubectl.kubernetes.io/restartedAt": "2026-12-07T06:11:00Z"});
        changed["spec"]["replicas"] = json!(2);
        changed["metadata"]["labels"]["zk-chaos.run"] = json!("zk-chaos-1");
        let d = differences(&found, &changed);
        assert_eq!(
            d,
            [
                "/spec/replicas: was 3, is 2",
                "/spec/template/metadata/annotations: was absent, is {\"kubectl.kubernetes.io/restartedAt\":\"2026-12-07T06:11:00Z\"}",
                "/metadata/labels: was absent, is {\"zk-chaos.run\":\"zk-chaos-1\"}",
            ]
        );
        let mut cpu = found.clone();
        cpu["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = json!("0.3");
        let d = differences(&found, &cpu);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].starts_with("/spec/template/spec/containers/0/resources/requests/cpu: was "), "{d:?}");
    }
}
