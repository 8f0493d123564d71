//! The manifest's objects on a cluster: each kind it may hold mapped to its API resource, a
//! document made ready for the run's namespace, applied (server-side) and deleted by kind.
//!
//! # Caveats
//! A RoleBinding's ServiceAccount subjects are rewritten to the run's namespace, as the manifest's
//! objects all move there; a subject in another namespace would name an account the run never made.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::core::{ApiResource, DynamicObject};
use kube::Api;
use serde_json::{json, Value};

/// The API resource of a kind the manifest may hold (every one namespaced); `None` for another.
pub fn resource(kind: &str) -> Option<ApiResource> {
    Some(match kind {
        "StatefulSet" => ApiResource::erase::<StatefulSet>(&()),
        "Service" => ApiResource::erase::<Service>(&()),
        "PodDisruptionBudget" => ApiResource::erase::<PodDisruptionBudget>(&()),
        "ConfigMap" => ApiResource::erase::<ConfigMap>(&()),
        "Secret" => ApiResource::erase::<Secret>(&()),
        "ServiceAccount" => ApiResource::erase::<ServiceAccount>(&()),
        "NetworkPolicy" => ApiResource::erase::<NetworkPolicy>(&()),
        "Role" => ApiResource::erase::<Role>(&()),
        "RoleBinding" => ApiResource::erase::<RoleBinding>(&()),
        _ => return None,
    })
}

/// The API of `doc`'s kind in `namespace`, with its kind and name.
pub fn api_of(client: &kube::Client, namespace: &str, doc: &Value) -> anyhow::Result<(Api<DynamicObject>, String, String)> {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
    let name = doc.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
    let ar = resource(&kind).ok_or_else(|| anyhow::anyhow!("cannot apply a {kind} ({name}); the manifest may hold {}", crate::manifest::input::ACCEPTED))?;
    Ok((Api::namespaced_with(client.clone(), namespace, &ar), kind, name))
}

/// `doc` moved into `namespace`: its own namespace, and a RoleBinding's ServiceAccount subjects'.
pub fn into_namespace(doc: &Value, namespace: &str) -> Value {
    let mut d = doc.clone();
    d["metadata"]["namespace"] = json!(namespace);
    if d.get("kind").and_then(Value::as_str) == Some("RoleBinding") {
        for s in d.get_mut("subjects").and_then(Value::as_array_mut).into_iter().flatten() {
            if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount") {
                s["namespace"] = json!(namespace);
            }
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accepted_kind_has_its_resource() {
        for (kind, group, plural) in [
            ("StatefulSet", "apps", "statefulsets"),
            ("Service", "", "services"),
            ("PodDisruptionBudget", "policy", "poddisruptionbudgets"),
            ("ConfigMap", "", "configmaps"),
            ("Secret", "", "secrets"),
            ("ServiceAccount", "", "serviceaccounts"),
            ("NetworkPolicy", "networking.k8s.io", "networkpolicies"),
            ("Role", "rbac.authorization.k8s.io", "roles"),
            ("RoleBinding", "rbac.authorization.k8s.io", "rolebindings"),
        ] {
            let ar = resource(kind).unwrap();
            assert_eq!((ar.group.as_str(), ar.plural.as_str(), ar.kind.as_str()), (group, plural, kind));
        }
        assert!(resource("ClusterRole").is_none());
    }

    #[test]
    fn a_role_bindings_service_accounts_move_with_it() {
        let rb = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "zk", "namespace": "zookeeper"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "zk"},
            "subjects": [{"kind": "ServiceAccount", "name": "zk", "namespace": "zookeeper"}, {"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]});
        let d = into_namespace(&rb, "zk-chaos-1");
        assert_eq!(d["metadata"]["namespace"], "zk-chaos-1");
        assert_eq!(d["subjects"][0]["namespace"], "zk-chaos-1");
        assert_eq!(d["subjects"][1].get("namespace"), None, "a user has no namespace");
    }
}
