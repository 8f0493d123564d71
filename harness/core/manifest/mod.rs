//! The manifest: one StatefulSet and the namespaced objects a ZooKeeper chart or operator renders
//! beside it (Services, a PodDisruptionBudget, ConfigMaps, Secrets, a ServiceAccount, NetworkPolicies,
//! Roles and RoleBindings), read from a file, a directory or stdin, which every platform uses unchanged.
//!
//! Over 600 lines: about 230 of them are unit tests on the reference deployments' manifests.

pub mod images;
pub mod input;
pub mod network_policy;
pub mod pod;
pub mod resolve;

use std::path::Path;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub use pod::{PodTemplate, Probe};

/// A parsed, validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Where it was read from (for messages and the report).
    pub origin: String,
    /// sha256 of the bytes read (a directory's files in name order, stdin's bytes), so a
    /// certificate names exactly what was certified.
    pub digest: String,
    /// Every object as written, in file order (what a Kubernetes platform applies).
    pub documents: Vec<Value>,
    pub statefulset: StatefulSet,
    pub services: Vec<Service>,
    pub pdb: Option<PodDisruptionBudget>,
    pub config_maps: Vec<ConfigMap>,
    pub secrets: Vec<Secret>,
    /// What the run changed in the manifest as written (a mapped image, a pull policy): the report's notes.
    pub notes: Vec<String>,
}

impl Manifest {
    /// The built-in reference manifest ([`REFERENCE`]); its digest is that of fixtures/zookeeper.yaml.
    pub fn reference() -> Result<Manifest> {
        Manifest::parse(REFERENCE, REFERENCE_ORIGIN)
    }

    /// `path`'s manifest, or with `None` the built-in reference one.
    pub fn load_or_reference(path: Option<&Path>) -> Result<Manifest> {
        match path {
            Some(p) => Manifest::load(p),
            None => Manifest::reference(),
        }
    }

    /// A file, a directory (its `*.yaml` and `*.yml` files in name order) or `-` (stdin); see [`input`].
    pub fn load(path: &Path) -> Result<Manifest> {
        let read = input::read(path)?;
        Manifest::parse(&read.text, &read.origin)
    }

    /// Parses multi-document YAML. Errors name the origin, the object and the field.
    pub fn parse(text: &str, origin: &str) -> Result<Manifest> {
        let bad = |msg: String| Error::bad_input(format!("{origin}: {msg}"));
        // As kubectl reads YAML (YAML 1.1): `defaultMode: 0755` is octal, as every chart writes it.
        let mut options = serde_saphyr::Options::default();
        options.legacy_octal_numbers = true;
        let documents: Vec<Value> = serde_saphyr::from_multiple_with_options(text, options).map_err(|e| bad(format!("not valid YAML: {e}")))?;
        let documents: Vec<Value> = documents.into_iter().filter(|d| !d.is_null()).collect();
        if documents.is_empty() {
            return Err(bad("holds no objects; it needs at least a StatefulSet".into()));
        }
        let documents = input::expand_lists(documents).map_err(bad)?;
        let digest = format!("sha256:{:x}", Sha256::digest(text.as_bytes()));
        Manifest::from_documents(documents, origin, digest)
    }

    /// A manifest of objects already parsed (`documents`, in order), named `origin`, whose bytes
    /// hash to `digest`: what [`Manifest::parse`] reads, and what an adopted ensemble's live
    /// objects become ([`crate::platform::kube::adopt`]). Validated as a file is.
    pub fn from_documents(documents: Vec<Value>, origin: &str, digest: String) -> Result<Manifest> {
        let bad = |msg: String| Error::bad_input(format!("{origin}: {msg}"));
        let mut statefulsets = Vec::new();
        let (mut services, mut config_maps, mut secrets) = (Vec::new(), Vec::new(), Vec::new());
        let mut pdb = None;
        for (i, doc) in documents.iter().enumerate() {
            let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
            let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            let name = doc.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            let what = format!("document {} ({kind} {name:?})", i + 1);
            if name.is_empty() {
                return Err(bad(format!("{what} has no metadata.name")));
            }
            match (api, kind) {
                ("apps/v1", "StatefulSet") => statefulsets.push(typed::<StatefulSet>(doc, &what).map_err(bad)?),
                ("v1", "Service") => services.push(typed::<Service>(doc, &what).map_err(bad)?),
                ("policy/v1", "PodDisruptionBudget") => {
                    if pdb.is_some() {
                        return Err(bad("has more than one PodDisruptionBudget".into()));
                    }
                    pdb = Some(typed::<PodDisruptionBudget>(doc, &what).map_err(bad)?)
                }
                ("v1", "ConfigMap") => config_maps.push(typed::<ConfigMap>(doc, &what).map_err(bad)?),
                ("v1", "Secret") => secrets.push(typed::<Secret>(doc, &what).map_err(bad)?),
                ("v1", "ServiceAccount") => drop(typed::<ServiceAccount>(doc, &what).map_err(bad)?),
                ("networking.k8s.io/v1", "NetworkPolicy") => drop(typed::<NetworkPolicy>(doc, &what).map_err(bad)?),
                ("rbac.authorization.k8s.io/v1", "Role") => drop(typed::<Role>(doc, &what).map_err(bad)?),
                ("rbac.authorization.k8s.io/v1", "RoleBinding") => drop(typed::<RoleBinding>(doc, &what).map_err(bad)?),
                _ => return Err(bad(input::unsupported_kind(&what, api, kind))),
            }
        }
        let statefulset = match statefulsets.len() {
            1 => statefulsets.remove(0),
            0 => return Err(bad("has no StatefulSet (apps/v1); the ensemble is a StatefulSet".into())),
            n => return Err(bad(format!("has {n} StatefulSets; zk-chaos certifies one ensemble at a time"))),
        };
        let notes = Vec::new();
        let manifest = Manifest { origin: origin.to_string(), digest, documents, statefulset, services, pdb, config_maps, secrets, notes };
        manifest.check_statefulset().map_err(bad)?;
        Ok(manifest)
    }

    fn check_statefulset(&self) -> std::result::Result<(), String> {
        let name = self.name();
        let spec = self.statefulset.spec.as_ref().ok_or(format!("StatefulSet {name} has no spec"))?;
        if spec.service_name.as_deref().unwrap_or("").is_empty() {
            return Err(format!("StatefulSet {name}: spec.serviceName is empty; members' FQDNs need it"));
        }
        if !self.services.iter().any(|s| s.metadata.name.as_deref() == spec.service_name.as_deref()) {
            return Err(format!("StatefulSet {name}: spec.serviceName {:?} names no Service in the manifest", spec.service_name.as_deref().unwrap_or("")));
        }
        match spec.replicas {
            Some(n) if n < 1 => return Err(format!("StatefulSet {name}: spec.replicas must be at least 1")),
            _ => {}
        }
        // What the API server itself refuses, on every platform.
        let at = format!("StatefulSet {name}: spec");
        let labels = self.statefulset_document().pointer("/spec/template/metadata/labels").and_then(Value::as_object).cloned().unwrap_or_default();
        let selector = self.statefulset_document().pointer("/spec/selector").cloned().unwrap_or(Value::Null);
        if selector.is_null() || !selects(&selector, &labels) {
            return Err(format!(
                "{at}.selector {selector} does not match spec.template.metadata.labels {}: the API server refuses it (`selector` does not match template `labels`)",
                Value::Object(labels)
            ));
        }
        one_of(&at, "podManagementPolicy", spec.pod_management_policy.as_deref(), &["OrderedReady", "Parallel"])?;
        let strategy = spec.update_strategy.as_ref();
        one_of(&at, "updateStrategy.type", strategy.and_then(|u| u.type_.as_deref()), &["RollingUpdate", "OnDelete"])?;
        if strategy.is_some_and(|u| u.type_.as_deref() == Some("OnDelete") && u.rolling_update.is_some()) {
            return Err(format!("{at}.updateStrategy.rollingUpdate is set with type OnDelete; the API server refuses it"));
        }
        if let Some(r) = &spec.persistent_volume_claim_retention_policy {
            one_of(&at, "persistentVolumeClaimRetentionPolicy.whenDeleted", r.when_deleted.as_deref(), &["Retain", "Delete"])?;
            one_of(&at, "persistentVolumeClaimRetentionPolicy.whenScaled", r.when_scaled.as_deref(), &["Retain", "Delete"])?;
        }
        pod::PodTemplate::from_statefulset(&self.statefulset)?;
        self.check_services()?;
        self.check_pdb()
    }

    /// What the API server refuses in the Services, on every platform.
    fn check_services(&self) -> std::result::Result<(), String> {
        for svc in &self.services {
            let at = format!("Service {}: spec", svc.metadata.name.as_deref().unwrap_or(""));
            let Some(spec) = svc.spec.as_ref() else { continue };
            one_of(&at, "type", spec.type_.as_deref(), &["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"])?;
            one_of(&at, "sessionAffinity", spec.session_affinity.as_deref(), &["None", "ClientIP"])?;
            for (i, port) in spec.ports.iter().flatten().enumerate() {
                one_of(&at, &format!("ports[{i}].protocol"), port.protocol.as_deref(), &["TCP", "UDP", "SCTP"])?;
            }
            if spec.cluster_ip.as_deref() == Some("None") && spec.type_.as_deref().is_some_and(|t| t != "ClusterIP") {
                return Err(format!("{at}.clusterIP None with type {}: the API server refuses it (a headless Service is of type ClusterIP)", spec.type_.as_deref().unwrap_or("")));
            }
        }
        Ok(())
    }

    /// What the API server refuses in the PodDisruptionBudget, on every platform.
    fn check_pdb(&self) -> std::result::Result<(), String> {
        let Some(pdb) = &self.pdb else { return Ok(()) };
        let at = format!("PodDisruptionBudget {}: spec", pdb.metadata.name.as_deref().unwrap_or(""));
        let Some(spec) = pdb.spec.as_ref() else { return Ok(()) };
        if spec.min_available.is_some() && spec.max_unavailable.is_some() {
            return Err(format!("{at} sets both minAvailable and maxUnavailable: the API server refuses it (set one)"));
        }
        one_of(&at, "unhealthyPodEvictionPolicy", spec.unhealthy_pod_eviction_policy.as_deref(), &["IfHealthyBudget", "AlwaysAllow"])
    }

    /// The Service named by the StatefulSet's serviceName (parsing made sure there is one).
    pub fn headless_service(&self) -> Option<&Service> {
        self.services.iter().find(|s| s.metadata.name.as_deref() == Some(self.service_name()))
    }

    /// Whether members have DNS names as on Kubernetes: the governing Service (serviceName) is
    /// headless and selects the pods. Without it a member's FQDN resolves nowhere but in itself.
    pub fn governs_members(&self) -> bool {
        let labels = self.statefulset_document().pointer("/spec/template/metadata/labels").and_then(Value::as_object).cloned().unwrap_or_default();
        self.headless_service().and_then(|s| s.spec.as_ref()).is_some_and(|spec| {
            spec.cluster_ip.as_deref() == Some("None")
                && spec.selector.as_ref().is_some_and(|sel| !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k).and_then(Value::as_str) == Some(v.as_str())))
        })
    }

    /// Whether Kubernetes would publish DNS records of members that are not Ready.
    fn publishes_not_ready(&self) -> bool {
        self.headless_service().and_then(|s| s.spec.as_ref()).and_then(|s| s.publish_not_ready_addresses) == Some(true)
    }

    /// Fields the Docker platform cannot run as Kubernetes would (a Docker run refuses the
    /// manifest and names them; `--platform kube` or `kind` run it): the pod template's and the
    /// StatefulSet's own.
    pub fn docker_unsupported(&self) -> Vec<String> {
        let mut out = self.pod_template().docker_unsupported;
        out.extend(self.missing_references());
        out.extend(self.network_policy_gaps());
        let at = format!("StatefulSet {}: spec", self.name());
        let Some(spec) = self.statefulset.spec.as_ref() else { return out };
        if let Some(u) = &spec.update_strategy {
            if u.type_.as_deref() == Some("OnDelete") {
                out.push(format!(
                    "{at}.updateStrategy.type OnDelete (the Docker platform rolls every template change out at once; Kubernetes would wait for each pod to be deleted)"
                ));
            }
            if let Some(r) = &u.rolling_update {
                if r.partition.is_some_and(|p| p > 0) {
                    out.push(format!("{at}.updateStrategy.rollingUpdate.partition (the Docker platform updates every ordinal)"));
                }
                if r.max_unavailable.is_some() {
                    out.push(format!("{at}.updateStrategy.rollingUpdate.maxUnavailable (the Docker platform replaces one member at a time)"));
                }
            }
        }
        if spec.min_ready_seconds.is_some_and(|s| s > 0) {
            out.push(format!("{at}.minReadySeconds (the Docker platform counts a member available as soon as it is Ready)"));
        }
        if spec.persistent_volume_claim_retention_policy.as_ref().and_then(|r| r.when_deleted.as_deref()) == Some("Delete") {
            out.push(format!("{at}.persistentVolumeClaimRetentionPolicy.whenDeleted Delete (the Docker platform keeps the volumes when the StatefulSet is deleted; Kubernetes would delete them)"));
        }
        if spec.ordinals.as_ref().and_then(|o| o.start).is_some_and(|s| s != 0) {
            out.push(format!("{at}.ordinals.start (the Docker platform names members from ordinal 0)"));
        }
        if !self.ordered_ready() && !self.publishes_not_ready() {
            out.push(format!(
                "{at}.podManagementPolicy Parallel with Service {} not setting publishNotReadyAddresses: true (on Docker a member's FQDN resolves from its start; \
                 Kubernetes publishes it only once the member is Ready, so members started together whose readiness needs a quorum never find each other there)",
                self.service_name()
            ));
        }
        out
    }

    /// How the Docker platform realises the Services, where that differs from Kubernetes (the
    /// report's notes).
    pub fn docker_service_notes(&self) -> Vec<String> {
        let mut out = vec![if self.governs_members() {
            format!(
                "Services: the headless Service {} is a Docker network on which members answer to their FQDNs and the short forms of them \
                 (member.{0}, .namespace, .svc), as cluster DNS answers; the client Service is not load-balanced on Docker \
                 (the harness reaches each member's client port on loopback)",
                self.service_name()
            )
        } else {
            format!(
                "Services: the governing Service {} is not headless or does not select the pods, so, as on Kubernetes, no member has a DNS name the others can resolve",
                self.service_name()
            )
        }];
        if !self.publishes_not_ready() {
            out.push(format!(
                "Service {}: without publishNotReadyAddresses Kubernetes publishes a member's FQDN only once it is Ready; on Docker it resolves from the member's start. \
                 With OrderedReady (this manifest) a member is created only when every lower ordinal is Ready, so the members it must reach to join resolve on both",
                self.service_name()
            ));
        }
        for svc in self.services.iter().filter(|s| s.metadata.name.as_deref() != Some(self.service_name())) {
            if let Some(t) = svc.spec.as_ref().and_then(|s| s.type_.as_deref()).filter(|t| *t != "ClusterIP") {
                out.push(format!("Service {}: type {t} is not realised on Docker (no node ports or load balancers on one host)", svc.metadata.name.as_deref().unwrap_or("")));
            }
        }
        out
    }

    /// Objects with no meaning on one Docker host, as the report's notes say it. ConfigMaps and
    /// Secrets are not here: the Docker platform uses them (volumes, env, envFrom).
    pub fn docker_object_notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        for doc in &self.documents {
            let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
            let name = doc.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            let why = match kind {
                "ServiceAccount" => "there is no API server on Docker: no token is mounted into the pods and nothing they run can call one",
                "Role" | "RoleBinding" => "there is no API server on Docker to authorize anything against",
                "NetworkPolicy" => {
                    "Docker does not enforce it; it was checked to let the members reach each other on their quorum and election ports and resolve names, as they can on Docker"
                }
                _ => continue,
            };
            out.push(format!("{kind} {name}: not applicable on Docker ({why})"));
        }
        out
    }

    /// StatefulSet fields that have no meaning on one Docker host (the report lists them).
    pub fn docker_not_applicable(&self) -> Vec<String> {
        let mut out = self.pod_template().not_applicable;
        if let Some(spec) = self.statefulset.spec.as_ref() {
            if spec.persistent_volume_claim_retention_policy.as_ref().and_then(|r| r.when_scaled.as_deref()).is_some() {
                out.push("spec.persistentVolumeClaimRetentionPolicy.whenScaled (no suite scales the StatefulSet)".into());
            }
        }
        out
    }

    /// The StatefulSet as written (the object a Kubernetes platform applies); parsing made sure
    /// there is exactly one.
    pub fn statefulset_document(&self) -> &Value {
        self.documents.iter().find(|d| is_statefulset(d)).expect("a parsed manifest has one StatefulSet")
    }

    pub fn name(&self) -> &str {
        self.statefulset.metadata.name.as_deref().unwrap_or("")
    }

    /// The namespace the manifest names, or `default`.
    pub fn namespace(&self) -> &str {
        self.statefulset.metadata.namespace.as_deref().unwrap_or("default")
    }

    pub fn replicas(&self) -> usize {
        self.statefulset.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1) as usize
    }

    pub fn service_name(&self) -> &str {
        self.statefulset.spec.as_ref().and_then(|s| s.service_name.as_deref()).unwrap_or("")
    }

    /// Member (pod) names in ordinal order: `zk-0`, `zk-1`, ...
    pub fn member_names(&self) -> Vec<String> {
        (0..self.replicas()).map(|i| format!("{}-{i}", self.name())).collect()
    }

    /// `zk-N.<serviceName>.<namespace>.svc.cluster.local`, with the namespace actually used.
    pub fn fqdn(&self, member: &str, namespace: &str) -> String {
        format!("{member}.{}.{namespace}.svc.cluster.local", self.service_name())
    }

    /// The pod template translated for a kubelet; validated at parse time, so this cannot fail.
    pub fn pod_template(&self) -> PodTemplate {
        PodTemplate::from_statefulset(&self.statefulset).expect("validated when the manifest was parsed")
    }

    /// `podManagementPolicy`, defaulting like Kubernetes.
    pub fn ordered_ready(&self) -> bool {
        self.statefulset.spec.as_ref().and_then(|s| s.pod_management_policy.as_deref()).unwrap_or("OrderedReady") == "OrderedReady"
    }

    /// The same manifest for a run whose objects are in `namespace`: a manifest rendered for a
    /// namespace of its own (`metadata.namespace`, as `helm template` writes it) names that
    /// namespace in the DNS names it bakes in (the Bitnami chart's `ZOO_SERVERS`:
    /// `zk-zookeeper-0.zk-zookeeper-headless.default.svc.cluster.local`), which resolve nowhere once
    /// its objects are applied elsewhere. Every `.<declared>.svc` in the pod template and in the
    /// ConfigMaps' data becomes `.<namespace>.svc`; the note says how many. A manifest that names
    /// no namespace, or the one given, is returned as it is, with no note.
    pub fn moved_to_namespace(mut self, namespace: &str) -> (Manifest, Option<String>) {
        let Some(declared) = self.statefulset.metadata.namespace.clone().filter(|d| d != namespace) else { return (self, None) };
        let (from, to) = (format!(".{declared}.svc"), format!(".{namespace}.svc"));
        fn rewrite(v: &mut Value, from: &str, to: &str, count: &mut usize) {
            match v {
                Value::String(s) if s.contains(from) => {
                    *count += s.matches(from).count();
                    *s = s.replace(from, to);
                }
                Value::Array(items) => items.iter_mut().for_each(|i| rewrite(i, from, to, count)),
                Value::Object(map) => map.values_mut().for_each(|i| rewrite(i, from, to, count)),
                _ => {}
            }
        }
        let mut count = 0;
        for doc in &mut self.documents {
            let part = match doc.get("kind").and_then(Value::as_str) {
                Some("StatefulSet") => doc.pointer_mut("/spec/template"),
                Some("ConfigMap") => doc.get_mut("data"),
                _ => None,
            };
            if let Some(part) = part {
                rewrite(part, &from, &to, &mut count);
            }
        }
        if count == 0 {
            return (self, None);
        }
        self.statefulset = serde_json::from_value(self.statefulset_document().clone()).expect("a rewritten DNS name keeps the StatefulSet valid");
        self.config_maps = self
            .documents
            .iter()
            .filter(|d| d.get("kind").and_then(Value::as_str) == Some("ConfigMap"))
            .map(|d| serde_json::from_value(d.clone()).expect("a rewritten DNS name keeps a ConfigMap valid"))
            .collect();
        let note = format!(
            "the manifest was rendered for namespace {declared} (its metadata.namespace) and names it in {count} DNS name(s) of its pod template and ConfigMaps; \
             its objects run in namespace {namespace}, so each `{from}` there reads `{to}`"
        );
        (self, Some(note))
    }
}

/// A value outside the enum the API server accepts for `{at}.{field}`.
fn one_of(at: &str, field: &str, value: Option<&str>, allowed: &[&str]) -> std::result::Result<(), String> {
    match value {
        Some(v) if !allowed.contains(&v) => Err(format!("{at}.{field} is {v:?}; the API server accepts only {}", allowed.join(" or "))),
        _ => Ok(()),
    }
}

/// Whether a manifest document is the StatefulSet.
pub fn is_statefulset(doc: &Value) -> bool {
    doc.get("kind").and_then(Value::as_str) == Some("StatefulSet")
}

/// Deserializes one object strictly: a field the Kubernetes type does not know is an error,
/// as `kubectl apply --validate=strict` would make it.
fn typed<T>(doc: &Value, what: &str) -> std::result::Result<T, String>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let obj: T = serde_json::from_value(doc.clone()).map_err(|e| format!("{what}: {e}"))?;
    let back = serde_json::to_value(&obj).map_err(|e| format!("{what}: {e}"))?;
    if let Some(path) = unknown_field(doc, &back, String::new()) {
        return Err(format!("{what}: unknown field {path}"));
    }
    Ok(obj)
}

/// The first key present in `input` but dropped by the typed round trip (`back`).
fn unknown_field(input: &Value, back: &Value, at: String) -> Option<String> {
    match (input, back) {
        (Value::Object(a), Value::Object(b)) => a.iter().find_map(|(k, v)| {
            let here = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
            match b.get(k) {
                None if !v.is_null() => Some(here),
                None => None,
                Some(bv) => unknown_field(v, bv, here),
            }
        }),
        (Value::Array(a), Value::Array(b)) => a.iter().zip(b).enumerate().find_map(|(i, (x, y))| unknown_field(x, y, format!("{at}[{i}]"))),
        _ => None,
    }
}

/// The walkthrough's manifest as the project keeps it (fixtures/zookeeper.yaml), built into the
/// binary so that an installed `zk-chaos` needs no checkout and no particular working directory.
/// `--manifest PATH` replaces it.
pub const REFERENCE: &str = include_str!("../../../fixtures/zookeeper.yaml");

/// How reports and messages name [`REFERENCE`]: the digest says which bytes, this says whence.
pub const REFERENCE_ORIGIN: &str = concat!("built-in reference manifest (fixtures/zookeeper.yaml of zk-chaos ", env!("CARGO_PKG_VERSION"), ")");

/// The walkthrough's manifest (the built-in reference), for tests here and in the suites.
pub fn walkthrough() -> Manifest {
    Manifest::reference().unwrap()
}

/// Does a label selector (matchLabels and matchExpressions) select a pod with `labels`? An
/// empty selector selects every pod.
pub fn selects(selector: &Value, labels: &serde_json::Map<String, Value>) -> bool {
    let by_labels = selector.get("matchLabels").and_then(Value::as_object).is_none_or(|ml| ml.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let by_exprs = selector.get("matchExpressions").and_then(Value::as_array).is_none_or(|exprs| {
        exprs.iter().all(|e| {
            let key = e["key"].as_str().unwrap_or("");
            let values: Vec<&str> = e["values"].as_array().map(|v| v.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            let got = labels.get(key).and_then(Value::as_str);
            match e["operator"].as_str() {
                Some("In") => got.is_some_and(|g| values.contains(&g)),
                Some("NotIn") => got.is_none_or(|g| !values.contains(&g)),
                Some("Exists") => got.is_some(),
                Some("DoesNotExist") => got.is_none(),
                _ => false,
            }
        })
    });
    by_labels && by_exprs
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// The built-in manifest is fixtures/zookeeper.yaml byte for byte: the same digest as the file
    /// (a certificate of the built-in one names exactly what a file run would), named as built in.
    #[test]
    fn the_reference_manifest_is_the_fixture_and_says_it_is_built_in() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/zookeeper.yaml");
        let file = Manifest::load(&path).unwrap();
        let builtin = Manifest::reference().unwrap();
        assert_eq!(builtin.digest, file.digest);
        assert_eq!(builtin.digest, format!("sha256:{:x}", Sha256::digest(std::fs::read(&path).unwrap())));
        assert_eq!(builtin.documents, file.documents);
        assert!(builtin.origin.starts_with("built-in reference manifest") && builtin.origin.contains(env!("CARGO_PKG_VERSION")), "{}", builtin.origin);
        assert_eq!(Manifest::load_or_reference(None).unwrap().origin, builtin.origin);
        assert_eq!(Manifest::load_or_reference(Some(&path)).unwrap().origin, path.display().to_string());
    }

    /// The negative controls in fixtures/broken/ must differ from the reference manifest in
    /// exactly the one way their header says, or a suite failing on them proves nothing.
    #[rstest]
    #[case::no_replication("no-replication", &["/3/spec/template/spec/containers/0/command/2"])]
    #[case::root_user("root-user", &["/3/spec/template/spec/securityContext/runAsUser"])]
    #[case::no_exit("no-exit", &["/3/spec/template/spec/containers/0/command/2"])]
    #[case::probe_never_fails("probe-never-fails", &["/3/spec/template/spec/containers/0/livenessProbe/exec/command/2"])]
    #[case::no_volume("no-volume", &["/3/spec/template/spec/containers/0/volumeMounts", "/3/spec/volumeClaimTemplates"])]
    #[case::anti_affinity_selects_nothing("anti-affinity-selects-nothing", &["/3/spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/0/labelSelector/matchExpressions/0/values/0"])]
    #[case::pdb_allows_two("pdb-allows-two", &["/2/spec/maxUnavailable"])]
    #[case::headless_selects_nothing("headless-selects-nothing", &["/0/spec/selector/app"])]
    #[case::ruok_ready_while_syncing(
        "ruok-ready-while-syncing",
        &[
            "/3/spec/template/spec/containers/0/command/2",
            "/3/spec/template/spec/containers/0/readinessProbe/initialDelaySeconds",
            "/3/spec/template/spec/containers/0/readinessProbe/periodSeconds",
            "/3/spec/template/spec/containers/0/volumeMounts",
            "/3/spec/volumeClaimTemplates"
        ]
    )]
    #[case::static_one_server("static-one-server", &["/3/spec/replicas", "/3/spec/template/spec/containers/0/command/2"])]
    fn negative_controls_differ_from_the_reference_in_one_way(#[case] name: &str, #[case] paths: &[&str]) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        let reference = Manifest::load(&dir.join("zookeeper.yaml")).unwrap();
        let broken = Manifest::load(&dir.join("broken").join(format!("{name}.yaml"))).unwrap();
        let (a, b) = (Value::Array(reference.documents), Value::Array(broken.documents));
        let changed: Vec<String> = json_patch::diff(&a, &b).0.iter().map(|op| op.path().to_string()).collect();
        assert_eq!(changed, paths, "{name}");
    }

    /// The negative controls of the other reference deployments (the official image configured by environment,
    /// the Bitnami-chart style) likewise differ from their reference only where their header says. Compared as
    /// plain YAML documents, so the check does not depend on which kinds the manifest reader accepts.
    #[rstest]
    #[case::wrong_myid("official-wrong-myid", "official", &["/3/spec/template/spec/containers/0/command/2"])]
    #[case::member_config("official-member-config-disagrees", "official", &["/3/spec/template/spec/containers/0/command/2"])]
    #[case::probe_never_fails(
        "official-probe-never-fails",
        "official",
        &["/3/spec/template/spec/containers/0/readinessProbe/exec/command/2", "/3/spec/template/spec/containers/0/livenessProbe/exec/command/2"]
    )]
    #[case::preferred_anti_affinity(
        "preferred-anti-affinity",
        "bitnami",
        &["/6/spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution", "/6/spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution"]
    )]
    fn other_negative_controls_differ_from_their_reference_in_one_way(#[case] name: &str, #[case] reference: &str, #[case] paths: &[&str]) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        let docs = |path: std::path::PathBuf| -> Value {
            let text = std::fs::read_to_string(&path).unwrap();
            Value::Array(serde_saphyr::from_multiple::<Value>(&text).unwrap().into_iter().filter(|d| !d.is_null()).collect())
        };
        let (a, b) = (docs(dir.join(format!("{reference}.yaml"))), docs(dir.join("broken").join(format!("{name}.yaml"))));
        let mut changed: Vec<String> = json_patch::diff(&a, &b).0.iter().map(|op| op.path().to_string()).collect();
        changed.sort();
        let mut expected: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        expected.sort();
        assert_eq!(changed, expected, "{name}");
    }

    #[test]
    fn the_no_pdb_control_is_the_reference_without_its_budget() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        let mut reference = Manifest::load(&dir.join("zookeeper.yaml")).unwrap().documents;
        let broken = Manifest::load(&dir.join("broken/no-pdb.yaml")).unwrap();
        assert!(broken.pdb.is_none());
        let removed = reference.remove(2);
        assert_eq!(removed["kind"], "PodDisruptionBudget");
        assert_eq!(broken.documents, reference);
    }

    #[test]
    fn the_fixture_has_the_walkthroughs_four_objects() {
        let m = walkthrough();
        assert_eq!(m.name(), "zk");
        assert_eq!(m.replicas(), 3);
        assert_eq!(m.service_name(), "zk-hs");
        assert_eq!(m.member_names(), ["zk-0", "zk-1", "zk-2"]);
        assert_eq!(m.fqdn("zk-1", "default"), "zk-1.zk-hs.default.svc.cluster.local");
        let names: Vec<_> = m.services.iter().map(|s| s.metadata.name.clone().unwrap()).collect();
        assert_eq!(names, ["zk-hs", "zk-cs"]);
        let pdb = m.pdb.as_ref().unwrap().spec.as_ref().unwrap();
        assert_eq!(pdb.max_unavailable, Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1)));
        assert!(m.ordered_ready());
        assert!(m.digest.starts_with("sha256:") && m.digest.len() == 7 + 64);
        assert_eq!(m.documents.len(), 4);
    }

    #[test]
    fn the_start_command_is_one_line_with_every_flag() {
        let t = walkthrough().pod_template();
        assert_eq!(t.command[..2], ["sh", "-c"]);
        assert!(t.command[2].starts_with("start-zookeeper --servers=3 --data_dir=/var/lib/zookeeper/data "));
        assert!(t.command[2].ends_with("--log_level=INFO"), "{}", t.command[2]);
    }

    #[test]
    fn with_image_replaces_typed_and_raw() {
        let m = walkthrough().with_image("other:1");
        assert_eq!(m.pod_template().image.as_deref(), Some("other:1"));
        assert_eq!(m.documents[3].pointer("/spec/template/spec/containers/0/image").unwrap(), "other:1");
    }

    fn broken(from: &str, to: &str) -> String {
        let text = include_str!("../../../fixtures/zookeeper.yaml");
        assert!(text.contains(from), "fixture lacks {from:?}");
        text.replacen(from, to, 1)
    }

    #[rstest]
    #[case::not_yaml("  replicas: 3\n", "  replicas: [3\n", "not valid YAML")]
    #[case::unknown_field("  replicas: 3\n", "  replicas: 3\n  replica: 3\n", "unknown field spec.replica")]
    #[case::wrong_type("  replicas: 3\n", "  replicas: three\n", "StatefulSet")]
    #[case::unknown_kind("kind: PodDisruptionBudget", "kind: PodDisruptionBudgett", "unsupported object")]
    #[case::no_service("  serviceName: zk-hs\n", "  serviceName: zk-other\n", "names no Service")]
    #[case::no_restart("    spec:\n      affinity:", "    spec:\n      restartPolicy: Never\n      affinity:", "restartPolicy")]
    fn malformed_manifests_are_bad_input_naming_the_problem(#[case] from: &str, #[case] to: &str, #[case] says: &str) {
        let err = Manifest::parse(&broken(from, to), "m.yaml").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let msg = err.to_string();
        assert!(msg.starts_with("m.yaml: ") && msg.contains(says), "{msg}");
    }

    /// A chart's render: every kind a ZooKeeper chart puts beside its StatefulSet is accepted and
    /// kept, in order, for a cluster to apply; ConfigMaps and Secrets are typed for the Docker platform.
    #[test]
    fn a_charts_objects_are_accepted_and_kept_in_order() {
        let text = format!("{CHART_OBJECTS}---\n{}", include_str!("../../../fixtures/zookeeper.yaml"));
        let m = Manifest::parse(&text, "render.yaml").unwrap();
        let kinds: Vec<&str> = m.documents.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["ServiceAccount", "ConfigMap", "Secret", "NetworkPolicy", "Role", "RoleBinding", "Service", "Service", "PodDisruptionBudget", "StatefulSet"]);
        assert_eq!(m.config_maps[0].data.as_ref().unwrap()["setup.sh"], "#!/bin/bash\nexec /entrypoint.sh /run.sh");
        assert_eq!(m.secrets[0].data.as_ref().unwrap()["password"].0, b"s3cret");
        assert_eq!(m.digest, format!("sha256:{:x}", Sha256::digest(text.as_bytes())));
        let notes = m.docker_object_notes().join("\n");
        assert!(notes.contains("NetworkPolicy zookeeper: not applicable on Docker (Docker does not enforce it; it was checked"), "{notes}");
        for kind in ["ServiceAccount zookeeper", "NetworkPolicy zookeeper", "Role zookeeper", "RoleBinding zookeeper"] {
            assert!(notes.contains(&format!("{kind}: not applicable on Docker")), "{kind}: {notes}");
        }
        assert!(!notes.contains("ConfigMap") && !notes.contains("Secret "), "the Docker platform uses them: {notes}");
    }

    #[test]
    fn a_list_is_read_as_its_items() {
        let items: Vec<Value> = serde_saphyr::from_multiple(include_str!("../../../fixtures/zookeeper.yaml")).unwrap();
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        let m = Manifest::parse(&serde_json::to_string(&list).unwrap(), "list.json").unwrap();
        assert_eq!(m.documents, walkthrough().documents);
    }

    /// An unknown kind: one paragraph naming the document (its place and name) and the kind, exit 2.
    #[test]
    fn an_unknown_kind_names_the_document_and_the_kind() {
        let text = format!("{}---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: zk-reader\n", include_str!("../../../fixtures/zookeeper.yaml"));
        let err = Manifest::parse(&text, "m.yaml").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let msg = err.to_string();
        assert!(msg.starts_with("m.yaml: document 5 (ClusterRole \"zk-reader\"): unsupported object rbac.authorization.k8s.io/v1/ClusterRole."), "{msg}");
        assert!(msg.contains("v1 Service, ConfigMap, Secret and ServiceAccount") && !msg.contains('\n'), "{msg}");
    }

    #[test]
    fn a_directory_and_stdin_give_the_digest_of_the_bytes_read() {
        let dir = tempfile::tempdir().unwrap();
        let (first, rest) = REFERENCE.split_at(REFERENCE.find("\n---\n").unwrap() + 1);
        std::fs::write(dir.path().join("1-headless.yaml"), first).unwrap();
        std::fs::write(dir.path().join("2-rest.yml"), rest.trim_start_matches("---\n")).unwrap();
        let m = Manifest::load(dir.path()).unwrap();
        assert_eq!(m.documents, walkthrough().documents);
        assert_eq!(m.digest, walkthrough().digest, "the files joined are the reference's bytes");
        let read = input::read_from(REFERENCE.as_bytes(), input::STDIN_ORIGIN).unwrap();
        let m = Manifest::parse(&read.text, &read.origin).unwrap();
        assert_eq!((m.origin.as_str(), m.digest.as_str()), ("<stdin>", walkthrough().digest.as_str()));
    }

    const CHART_OBJECTS: &str = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: zookeeper\nautomountServiceAccountToken: false\n---\n\
        apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: zookeeper-scripts\ndata:\n  setup.sh: |-\n    #!/bin/bash\n    exec /entrypoint.sh /run.sh\n---\n\
        apiVersion: v1\nkind: Secret\nmetadata:\n  name: zookeeper-auth\ntype: Opaque\ndata:\n  password: czNjcmV0\n---\n\
        apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: zookeeper\nspec:\n  podSelector:\n    matchLabels:\n      app: zk\n  \
        policyTypes: [Ingress]\n  ingress:\n    - ports:\n        - port: 2181\n---\n\
        apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: zookeeper\nrules:\n  - apiGroups: [\"\"]\n    resources: [pods]\n    verbs: [get]\n---\n\
        apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: zookeeper\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  \
        name: zookeeper\nsubjects:\n  - kind: ServiceAccount\n    name: zookeeper\n    namespace: zookeeper\n";

    #[test]
    fn a_manifest_without_statefulset_is_rejected() {
        let only_service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: zk-hs\n";
        let msg = Manifest::parse(only_service, "m.yaml").unwrap_err().to_string();
        assert!(msg.contains("no StatefulSet"), "{msg}");
        assert!(Manifest::parse("", "m.yaml").unwrap_err().to_string().contains("no objects"));
    }

    #[test]
    fn selectors_match_labels_as_kubernetes_does() {
        let labels: serde_json::Map<String, Value> = serde_json::from_value(serde_json::json!({"app": "zk", "tier": "db"})).unwrap();
        assert!(selects(&serde_json::json!({"matchLabels": {"app": "zk"}}), &labels));
        assert!(!selects(&serde_json::json!({"matchLabels": {"app": "zookeeper"}}), &labels));
        assert!(selects(&serde_json::json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}), &labels));
        assert!(!selects(&serde_json::json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["zk"]}]}), &labels));
        assert!(selects(&serde_json::json!({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}), &labels));
        assert!(selects(&serde_json::json!({}), &labels), "the empty selector selects everything");
    }

    #[test]
    fn a_manifest_rendered_for_a_namespace_is_moved_with_its_dns_names() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: scripts, namespace: default}\ndata:\n  setup.sh: \"nc zk-0.zk-hs.default.svc.cluster.local 2181\"\n---\n\
            apiVersion: v1\nkind: Service\nmetadata: {name: zk-hs, namespace: default}\nspec:\n  clusterIP: None\n  selector: {app: zk}\n---\n\
            apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: zk, namespace: default}\nspec:\n  serviceName: zk-hs\n  replicas: 3\n  selector: {matchLabels: {app: zk}}\n  \
            template:\n    metadata: {labels: {app: zk}}\n    spec:\n      containers:\n        - name: zookeeper\n          image: zookeeper:3.9.5\n          env:\n            \
            - {name: ZOO_SERVERS, value: \"zk-0.zk-hs.default.svc.cluster.local:2888:3888::1 zk-1.zk-hs.default.svc.cluster.local:2888:3888::2\"}\n            \
            - {name: OTHER, value: \"my.defaults.example\"}\n";
        let m = Manifest::parse(text, "rendered").unwrap();
        let (moved, note) = m.clone().moved_to_namespace("zk-chaos-1");
        let env = &moved.pod_template().env;
        let servers = env.iter().find(|(k, _)| k == "ZOO_SERVERS").map(|(_, v)| v.clone()).unwrap_or_default();
        assert_eq!(servers, "zk-0.zk-hs.zk-chaos-1.svc.cluster.local:2888:3888::1 zk-1.zk-hs.zk-chaos-1.svc.cluster.local:2888:3888::2");
        assert!(env.iter().any(|(k, v)| k == "OTHER" && v == "my.defaults.example"), "only `.default.svc` is rewritten: {env:?}");
        let data = moved.config_maps[0].data.as_ref().unwrap();
        assert_eq!(data["setup.sh"], "nc zk-0.zk-hs.zk-chaos-1.svc.cluster.local 2181");
        let note = note.unwrap();
        assert!(note.contains("rendered for namespace default") && note.contains("in 3 DNS name(s)") && note.contains("zk-chaos-1"), "{note}");
        // Already there, or no namespace of its own: unchanged, no note.
        assert!(m.clone().moved_to_namespace("default").1.is_none());
        assert!(crate::manifest::walkthrough().moved_to_namespace("zk-chaos-1").1.is_none());
    }
}
