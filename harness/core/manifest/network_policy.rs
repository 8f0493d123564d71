//! NetworkPolicies judged statically for the Docker platform, which does not enforce them: a policy
//! that selects the members must let them reach each other on their quorum and election ports
//! (ingress and egress) and resolve names (egress to port 53). One that does not would break the ensemble on a
//! cluster while Docker, allowing everything, passes it; Docker refuses such a manifest instead.
//!
//! # Caveats
//! Peers are matched by `podSelector` only; a rule whose peers are all `namespaceSelector` or
//! `ipBlock` entries is taken as not letting members in (their addresses are the cluster's business).
//! Named ports are matched against the container's port names; `endPort` ranges are honoured. The
//! peer ports are found by number (2888, 3888) or name (server, follower, quorum, election, peer).

use serde_json::{Map, Value};

use super::{selects, Manifest};

impl Manifest {
    /// What the manifest's NetworkPolicies forbid that the members need; empty when nothing.
    pub fn network_policy_gaps(&self) -> Vec<String> {
        let labels = self.statefulset_document().pointer("/spec/template/metadata/labels").and_then(Value::as_object).cloned().unwrap_or_default();
        let ports: Vec<(Option<String>, u16)> =
            self.pod_template().ports.iter().filter(|p| is_peer_port(p.name.as_deref(), p.container_port)).map(|p| (p.name.clone(), p.container_port)).collect();
        let mut out = Vec::new();
        for np in self.documents.iter().filter(|d| d.get("kind").and_then(Value::as_str) == Some("NetworkPolicy")) {
            let name = np.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            let spec = np.get("spec").cloned().unwrap_or(Value::Null);
            if !selects(&spec.get("podSelector").cloned().unwrap_or(Value::Null), &labels) {
                continue;
            }
            let types: Vec<&str> = spec.get("policyTypes").and_then(Value::as_array).map(|t| t.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            let ingress = types.contains(&"Ingress") || types.is_empty();
            let egress = types.contains(&"Egress") || (types.is_empty() && spec.get("egress").is_some());
            for (direction, on, field, peers) in [("ingress", ingress, "ingress", "from"), ("egress", egress, "egress", "to")] {
                if !on {
                    continue;
                }
                let rules = spec.get(field).and_then(Value::as_array).cloned().unwrap_or_default();
                for (pname, port) in &ports {
                    if !rules.iter().any(|r| peers_include_members(r.get(peers), &labels) && allows_port(r, *port, pname.as_deref(), "TCP")) {
                        out.push(format!(
                            "NetworkPolicy {name}: its {direction} rules do not let members reach each other on port {port}{} (on a cluster the ensemble would break there; \
                             Docker does not enforce NetworkPolicies, so a result here would mislead)",
                            pname.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
                        ));
                    }
                }
                if direction == "egress" && !rules.iter().any(|r| may_reach_dns(r.get("to")) && allows_port(r, 53, None, "UDP")) {
                    out.push(format!("NetworkPolicy {name}: its egress rules do not allow DNS (port 53/UDP): on a cluster members could not resolve each other"));
                }
            }
        }
        out
    }
}

/// Whether members reach each other on this container port: ZooKeeper's quorum and election
/// ports, by their default numbers or by the names charts give them. The client and admin ports
/// are the clients' (the harness reaches them directly on every platform).
fn is_peer_port(name: Option<&str>, port: u16) -> bool {
    const NAMES: [&str; 5] = ["server", "follower", "quorum", "election", "peer"];
    port == 2888 || port == 3888 || name.is_some_and(|n| NAMES.iter().any(|k| n.contains(k)))
}

/// Whether a rule's peers (`from` or `to`) include the members: no peers means everyone.
fn peers_include_members(peers: Option<&Value>, labels: &Map<String, Value>) -> bool {
    match peers.and_then(Value::as_array) {
        None => true,
        Some(list) if list.is_empty() => true,
        Some(list) => list.iter().any(|p| p.get("namespaceSelector").is_none() && p.get("podSelector").is_some_and(|s| selects(s, labels))),
    }
}

/// Whether a rule's `to` may include the cluster's DNS (in kube-system): anyone, or peers chosen
/// by namespace or address. Peers chosen only by podSelector are pods of this namespace.
fn may_reach_dns(peers: Option<&Value>) -> bool {
    match peers.and_then(Value::as_array) {
        None => true,
        Some(list) => list.is_empty() || list.iter().any(|p| p.get("namespaceSelector").is_some() || p.get("ipBlock").is_some()),
    }
}

/// Whether a rule's ports allow `port` (by number, name or range) for `protocol`: no ports means all.
fn allows_port(rule: &Value, port: u16, name: Option<&str>, protocol: &str) -> bool {
    let Some(ports) = rule.get("ports").and_then(Value::as_array).filter(|p| !p.is_empty()) else { return true };
    ports.iter().any(|p| {
        let proto_ok = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP") == protocol;
        let port_ok = match p.get("port") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => {
                let from = n.as_u64().unwrap_or(0);
                let to = p.get("endPort").and_then(Value::as_u64).unwrap_or(from);
                (from..=to).contains(&(port as u64))
            }
            Some(Value::String(s)) => Some(s.as_str()) == name,
            _ => false,
        };
        proto_ok && port_ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_policy(policy: &str) -> Manifest {
        Manifest::parse(&format!("{}---\n{policy}", super::super::REFERENCE), "m.yaml").unwrap()
    }

    const HEAD: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: zk\nspec:\n  podSelector:\n    matchLabels:\n      app: zk\n";

    #[test]
    fn a_chart_style_policy_lets_members_talk_and_resolve() {
        let m = with_policy(&format!(
            "{HEAD}  policyTypes: [Ingress, Egress]\n  egress:\n    - ports:\n        - port: 53\n          protocol: UDP\n    - ports:\n        - port: 2888\n        - port: 3888\n        - port: client\n      \
             to:\n        - podSelector:\n            matchLabels:\n              app: zk\n  ingress:\n    - ports:\n        - port: 2181\n    - ports:\n        - port: 2888\n          \
             endPort: 3888\n      from:\n        - podSelector:\n            matchLabels:\n              app: zk\n"
        ));
        assert!(m.network_policy_gaps().is_empty(), "{:?}", m.network_policy_gaps());
        assert!(m.docker_unsupported().is_empty(), "{:?}", m.docker_unsupported());
    }

    #[test]
    fn a_policy_that_cuts_the_quorum_port_or_dns_is_refused_on_docker() {
        let m = with_policy(&format!("{HEAD}  policyTypes: [Ingress]\n  ingress:\n    - ports:\n        - port: 2181\n        - port: 3888\n"));
        let gaps = m.network_policy_gaps().join("\n");
        assert!(gaps.contains("NetworkPolicy zk: its ingress rules do not let members reach each other on port 2888 (server)"), "{gaps}");
        assert!(!gaps.contains("3888") && !gaps.contains("2181"), "the client port is not a peer port: {gaps}");
        assert!(m.docker_unsupported().join("\n").contains("port 2888"));
        let m = with_policy(&format!("{HEAD}  policyTypes: [Egress]\n  egress:\n    - to:\n        - podSelector:\n            matchLabels:\n              app: zk\n"));
        let gaps = m.network_policy_gaps().join("\n");
        assert!(gaps.contains("do not allow DNS") && !gaps.contains("reach each other"), "{gaps}");
        let m = with_policy(&format!("{HEAD}  policyTypes: [Ingress]\n  ingress:\n    - from:\n        - namespaceSelector: {{}}\n"));
        assert_eq!(m.network_policy_gaps().len(), 2, "peers only by namespace are not taken as the members: {:?}", m.network_policy_gaps());
    }

    #[test]
    fn a_policy_selecting_other_pods_or_denying_nothing_is_fine() {
        let other = with_policy(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: x\nspec:\n  podSelector:\n    matchLabels:\n      app: web\n  policyTypes: [Ingress]\n",
        );
        assert!(other.network_policy_gaps().is_empty());
        let allow_all = with_policy(&format!("{HEAD}  policyTypes: [Ingress, Egress]\n  ingress:\n    - {{}}\n  egress:\n    - {{}}\n"));
        assert!(allow_all.network_policy_gaps().is_empty(), "{:?}", allow_all.network_policy_gaps());
        let deny_all = with_policy(&format!("{HEAD}  policyTypes: [Ingress]\n"));
        assert_eq!(deny_all.network_policy_gaps().len(), 2, "2888 and 3888");
    }
}
