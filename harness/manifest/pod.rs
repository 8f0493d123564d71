//! The StatefulSet's pod template, translated into what a kubelet needs to run one member:
//! the fields stateful apps use, with Kubernetes' defaults filled in. A field the Docker platform
//! cannot honour is an error naming it; a field that has no meaning on one host is listed in
//! `not_applicable`, so the report can say so.

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1 as core;
use serde_json::Value;

/// One member's pod, as a kubelet would run it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodTemplate {
    pub container_name: String,
    pub image: Option<String>,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub ports: Vec<Port>,
    /// CPU request in cores (0.5), used for CPU shares.
    pub cpu_request: Option<f64>,
    pub cpu_limit: Option<f64>,
    pub memory_limit_bytes: Option<i64>,
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub fs_group: Option<i64>,
    pub mounts: Vec<Mount>,
    pub readiness: Option<Probe>,
    pub liveness: Option<Probe>,
    pub termination_grace: Duration,
    /// Template fields that mean nothing on a single Docker host (affinity, tolerations, ...).
    pub not_applicable: Vec<String>,
    /// Fields the Docker platform cannot run as Kubernetes would: a Docker run refuses the
    /// manifest naming them; on Kubernetes they are the cluster's business.
    pub docker_unsupported: Vec<String>,
    /// The names of the StatefulSet's volumeClaimTemplates.
    pub claim_templates: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    pub name: Option<String>,
    pub container_port: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    /// The volume's name: a volumeClaimTemplate (one volume per member) or an emptyDir.
    pub volume: String,
    pub kind: VolumeKind,
    pub path: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeKind {
    /// From volumeClaimTemplates: survives pod deletion, named like the PVC (`datadir-zk-0`).
    Claim,
    /// An emptyDir: survives container restarts, not pod deletion.
    EmptyDir,
}

/// An exec probe with Kubernetes' timing fields (defaults filled in).
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub command: Vec<String>,
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl Probe {
    /// The longest a dead member can go before this (liveness) probe restarts it: the initial
    /// delay is not counted, since the member was already live.
    pub fn max_detection(&self) -> Duration {
        self.period * self.failure_threshold + self.timeout
    }
}

const POD_SPEC_HONOURED: &[&str] = &["containers", "securityContext", "restartPolicy", "terminationGracePeriodSeconds", "volumes"];
const POD_SPEC_NOT_APPLICABLE: &[&str] = &[
    "affinity",
    "nodeSelector",
    "tolerations",
    "topologySpreadConstraints",
    "priorityClassName",
    "priority",
    "schedulerName",
    "serviceAccountName",
    "serviceAccount",
    "automountServiceAccountToken",
    "dnsPolicy",
    "enableServiceLinks",
    "preemptionPolicy",
    "imagePullSecrets",
];
const CONTAINER_HONOURED: &[&str] = &[
    "name",
    "image",
    "command",
    "args",
    "env",
    "ports",
    "resources",
    "securityContext",
    "volumeMounts",
    "readinessProbe",
    "livenessProbe",
    "imagePullPolicy",
    "terminationMessagePath",
    "terminationMessagePolicy",
];
const SECURITY_CONTEXT_HONOURED: &[&str] = &["runAsUser", "runAsGroup", "fsGroup", "runAsNonRoot"];
const PROBE_HONOURED: &[&str] = &["exec", "initialDelaySeconds", "periodSeconds", "timeoutSeconds", "successThreshold", "failureThreshold"];

impl PodTemplate {
    /// Translates the StatefulSet's template. The error names the field and why.
    pub fn from_statefulset(sts: &StatefulSet) -> Result<PodTemplate, String> {
        let name = sts.metadata.name.as_deref().unwrap_or("");
        let sts_spec = sts.spec.as_ref().ok_or(format!("StatefulSet {name} has no spec"))?;
        let at = format!("StatefulSet {name}: spec.template.spec");
        let spec = sts_spec.template.spec.as_ref().ok_or(format!("{at} is missing"))?;
        let raw = serde_json::to_value(spec).map_err(|e| e.to_string())?;

        let mut not_applicable = Vec::new();
        let mut unsupported = Vec::new();
        for key in keys(&raw) {
            if POD_SPEC_NOT_APPLICABLE.contains(&key.as_str()) {
                not_applicable.push(format!("spec.template.spec.{key}"));
            } else if !POD_SPEC_HONOURED.contains(&key.as_str()) {
                unsupported.push(format!("{at}.{key}"));
            }
        }
        match spec.restart_policy.as_deref() {
            None | Some("Always") => {}
            Some(other) => {
                return Err(format!(
                    "{at}.restartPolicy is {other:?}; a StatefulSet's pods must restart Always (the walkthrough's {})",
                    crate::suites::walkthrough::HANDLING_PROCESS_FAILURE.cite()
                ))
            }
        }
        if spec.containers.len() != 1 {
            return Err(format!("{at}.containers has {} containers; zk-chaos runs exactly one per member", spec.containers.len()));
        }
        let c = &spec.containers[0];
        let cat = format!("{at}.containers[0]");
        let craw = &raw["containers"][0];
        for key in keys(craw) {
            if !CONTAINER_HONOURED.contains(&key.as_str()) {
                unsupported.push(format!("{cat}.{key}"));
            }
        }

        let pod_sc = spec.security_context.as_ref();
        for key in keys(&raw["securityContext"]) {
            if !SECURITY_CONTEXT_HONOURED.contains(&key.as_str()) {
                unsupported.push(format!("{at}.securityContext.{key}"));
            }
        }
        let c_sc = c.security_context.as_ref();
        for key in keys(&craw["securityContext"]) {
            if !SECURITY_CONTEXT_HONOURED.contains(&key.as_str()) || key == "fsGroup" {
                unsupported.push(format!("{cat}.securityContext.{key}"));
            }
        }
        let run_as_user = c_sc.and_then(|s| s.run_as_user).or(pod_sc.and_then(|s| s.run_as_user));
        let run_as_group = c_sc.and_then(|s| s.run_as_group).or(pod_sc.and_then(|s| s.run_as_group));
        let run_as_non_root = c_sc.and_then(|s| s.run_as_non_root).or(pod_sc.and_then(|s| s.run_as_non_root));
        if run_as_non_root == Some(true) && run_as_user == Some(0) {
            return Err(format!("{at}: runAsNonRoot is true but runAsUser is 0; Kubernetes would refuse to start it"));
        }

        let mut env = Vec::new();
        for (i, e) in c.env.iter().flatten().enumerate() {
            if e.value_from.is_some() {
                unsupported.push(format!("{cat}.env[{i}].valueFrom ({})", e.name));
                continue;
            }
            env.push((e.name.clone(), e.value.clone().unwrap_or_default()));
        }

        let mut ports = Vec::new();
        for (i, p) in c.ports.iter().flatten().enumerate() {
            let port = u16::try_from(p.container_port).map_err(|_| format!("{cat}.ports[{i}].containerPort {} is not a port", p.container_port))?;
            ports.push(Port { name: p.name.clone(), container_port: port });
        }

        let claim_templates: Vec<String> = sts_spec.volume_claim_templates.iter().flatten().map(|t| t.metadata.name.clone().unwrap_or_default()).collect();
        let mut mounts = Vec::new();
        for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
            if m.sub_path.is_some() || m.sub_path_expr.is_some() {
                unsupported.push(format!("{cat}.volumeMounts[{i}].subPath"));
            }
            let kind = if claim_templates.contains(&m.name) {
                VolumeKind::Claim
            } else {
                match spec.volumes.iter().flatten().find(|v| v.name == m.name) {
                    Some(v) if v.empty_dir.is_some() => VolumeKind::EmptyDir,
                    Some(_) => {
                        unsupported.push(format!("{at}.volumes[{}] (only emptyDir volumes and volumeClaimTemplates)", m.name));
                        continue;
                    }
                    None => return Err(format!("{cat}.volumeMounts[{i}] names volume {:?}, which is neither a volumeClaimTemplate nor a pod volume", m.name)),
                }
            };
            mounts.push(Mount { volume: m.name.clone(), kind, path: m.mount_path.clone(), read_only: m.read_only.unwrap_or(false) });
        }

        let resources = c.resources.as_ref();
        let quantity = |map: Option<&std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>, key: &str| {
            map.and_then(|m| m.get(key)).map(|q| q.0.clone())
        };
        let cpu_request = quantity(resources.and_then(|r| r.requests.as_ref()), "cpu")
            .map(|q| parse_cpu(&q).ok_or(format!("{cat}.resources.requests.cpu {q:?} is not a CPU quantity")))
            .transpose()?;
        let cpu_limit = quantity(resources.and_then(|r| r.limits.as_ref()), "cpu")
            .map(|q| parse_cpu(&q).ok_or(format!("{cat}.resources.limits.cpu {q:?} is not a CPU quantity")))
            .transpose()?;
        let memory_limit_bytes = quantity(resources.and_then(|r| r.limits.as_ref()), "memory")
            .map(|q| parse_memory(&q).ok_or(format!("{cat}.resources.limits.memory {q:?} is not a memory quantity")))
            .transpose()?;
        if let Some(q) = quantity(resources.and_then(|r| r.requests.as_ref()), "memory") {
            parse_memory(&q).ok_or(format!("{cat}.resources.requests.memory {q:?} is not a memory quantity"))?;
        }

        let readiness = c.readiness_probe.as_ref().map(|p| probe(p, &craw["readinessProbe"], &format!("{cat}.readinessProbe"), &mut unsupported)).transpose()?;
        let liveness = c.liveness_probe.as_ref().map(|p| probe(p, &craw["livenessProbe"], &format!("{cat}.livenessProbe"), &mut unsupported)).transpose()?;

        Ok(PodTemplate {
            container_name: c.name.clone(),
            image: c.image.clone(),
            command: c.command.clone().unwrap_or_default(),
            args: c.args.clone().unwrap_or_default(),
            env,
            ports,
            cpu_request,
            cpu_limit,
            memory_limit_bytes,
            run_as_user,
            run_as_group,
            fs_group: pod_sc.and_then(|s| s.fs_group),
            mounts,
            readiness,
            liveness,
            termination_grace: Duration::from_secs(spec.termination_grace_period_seconds.unwrap_or(30).max(0) as u64),
            not_applicable,
            docker_unsupported: unsupported,
            claim_templates,
        })
    }

    /// The container port named `client`, else 2181.
    pub fn client_port(&self) -> u16 {
        self.ports.iter().find(|p| p.name.as_deref() == Some("client")).map(|p| p.container_port).unwrap_or(2181)
    }

    /// The port every member listens on for leader election (the walkthrough names it
    /// `leader-election`; ZooKeeper's default is 3888).
    pub fn election_port(&self) -> u16 {
        self.ports.iter().find(|p| p.name.as_deref() == Some("leader-election")).map(|p| p.container_port).unwrap_or(3888)
    }
}

/// A probe's timing with Kubernetes' defaults. A handler other than exec is the cluster's to run:
/// the command is then empty and the probe is named in `unsupported` (Docker runs exec only).
fn probe(p: &core::Probe, raw: &Value, at: &str, unsupported: &mut Vec<String>) -> Result<Probe, String> {
    let mut other_handler = false;
    for key in keys(raw) {
        if !PROBE_HONOURED.contains(&key.as_str()) {
            unsupported.push(format!("{at}.{key} (exec probes only)"));
            other_handler |= matches!(key.as_str(), "httpGet" | "tcpSocket" | "grpc");
        }
    }
    let command = match p.exec.as_ref().and_then(|e| e.command.clone()).filter(|c| !c.is_empty()) {
        Some(c) => c,
        None if other_handler => Vec::new(),
        None => return Err(format!("{at} has no handler (exec.command, httpGet, tcpSocket or grpc)")),
    };
    let secs = |v: Option<i32>, default: i32, field: &str| -> Result<Duration, String> {
        let v = v.unwrap_or(default);
        if v < 0 {
            return Err(format!("{at}.{field} is negative"));
        }
        Ok(Duration::from_secs(v as u64))
    };
    let count = |v: Option<i32>, default: i32, field: &str| -> Result<u32, String> {
        let v = v.unwrap_or(default);
        if v < 1 {
            return Err(format!("{at}.{field} must be at least 1"));
        }
        Ok(v as u32)
    };
    // Kubernetes' defaults: period 10 s, timeout 1 s, success 1, failure 3, no initial delay.
    Ok(Probe {
        command,
        initial_delay: secs(p.initial_delay_seconds, 0, "initialDelaySeconds")?,
        period: secs(p.period_seconds, 10, "periodSeconds")?.max(Duration::from_secs(1)),
        timeout: secs(p.timeout_seconds, 1, "timeoutSeconds")?.max(Duration::from_secs(1)),
        success_threshold: count(p.success_threshold, 1, "successThreshold")?,
        failure_threshold: count(p.failure_threshold, 3, "failureThreshold")?,
    })
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().map(|o| o.iter().filter(|(_, v)| !v.is_null()).map(|(k, _)| k.clone()).collect()).unwrap_or_default()
}

/// `"0.5"` or `"500m"` → 0.5 cores.
pub fn parse_cpu(q: &str) -> Option<f64> {
    let v = match q.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().ok()? / 1000.0,
        None => q.parse::<f64>().ok()?,
    };
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// `"1Gi"`, `"512M"`, `"1000"` → bytes.
pub fn parse_memory(q: &str) -> Option<i64> {
    const SUFFIXES: &[(&str, f64)] = &[("Ki", 1024.0), ("Mi", 1048576.0), ("Gi", 1073741824.0), ("Ti", 1099511627776.0), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)];
    let (num, mult) = SUFFIXES.iter().find_map(|(s, m)| q.strip_suffix(s).map(|n| (n, *m))).unwrap_or((q, 1.0));
    let v = num.parse::<f64>().ok()? * mult;
    (v.is_finite() && v >= 0.0).then_some(v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{walkthrough, Manifest};
    use rstest::rstest;

    #[test]
    fn the_walkthrough_template_translates_with_kubernetes_defaults() {
        let t = walkthrough().pod_template();
        assert_eq!(t.image.as_deref(), Some("zk-chaos/zookeeper:3.8"));
        assert_eq!(t.run_as_user, Some(1000));
        assert_eq!(t.fs_group, Some(1000));
        assert_eq!(t.run_as_group, None);
        assert_eq!(t.cpu_request, Some(0.5));
        assert_eq!(t.client_port(), 2181);
        assert_eq!(t.ports.len(), 3);
        assert_eq!(t.mounts, vec![Mount { volume: "datadir".into(), kind: VolumeKind::Claim, path: "/var/lib/zookeeper".into(), read_only: false }]);
        assert_eq!(t.claim_templates, ["datadir"]);
        let live = t.liveness.unwrap();
        assert_eq!(live.command, ["sh", "-c", "zookeeper-ready 2181"]);
        assert_eq!(live.initial_delay, Duration::from_secs(10));
        assert_eq!(live.timeout, Duration::from_secs(5));
        assert_eq!(live.period, Duration::from_secs(10), "Kubernetes' default period");
        assert_eq!(live.failure_threshold, 3, "Kubernetes' default failure threshold");
        assert_eq!(live.max_detection(), Duration::from_secs(35));
        assert_eq!(t.readiness.unwrap().success_threshold, 1);
        assert_eq!(t.not_applicable, ["spec.template.spec.affinity"]);
        assert_eq!(t.termination_grace, Duration::from_secs(30));
    }

    fn with(from: &str, to: &str) -> Result<Manifest, String> {
        let text = include_str!("../../fixtures/zookeeper.yaml");
        assert!(text.contains(from), "fixture lacks {from:?}");
        Manifest::parse(&text.replacen(from, to, 1), "m.yaml").map_err(|e| e.to_string())
    }

    /// Fields the Docker platform cannot run: the manifest is valid (Kubernetes runs it), and the
    /// Docker platform names each one (a Docker run refuses the manifest: see run::prepare).
    #[rstest]
    #[case::host_network("    spec:\n      affinity:", "    spec:\n      hostNetwork: true\n      affinity:", "spec.template.spec.hostNetwork")]
    #[case::http_probe("            exec:\n              command:\n                - sh\n                - -c\n                - \"zookeeper-ready 2181\"\n            initialDelaySeconds: 10\n            timeoutSeconds: 5\n          volumeMounts",
        "            httpGet:\n              port: 8080\n            initialDelaySeconds: 10\n            timeoutSeconds: 5\n          volumeMounts", "livenessProbe.httpGet (exec probes only)")]
    #[case::value_from("          imagePullPolicy: IfNotPresent", "          imagePullPolicy: IfNotPresent\n          env:\n            - name: X\n              valueFrom:\n                fieldRef:\n                  fieldPath: metadata.name", "env[0].valueFrom (X)")]
    #[case::sc_field("        fsGroup: 1000", "        fsGroup: 1000\n        sysctls: []", "securityContext.sysctls")]
    #[case::on_delete("    type: RollingUpdate", "    type: OnDelete", "updateStrategy.type OnDelete")]
    #[case::partition("    type: RollingUpdate", "    type: RollingUpdate\n    rollingUpdate:\n      partition: 2", "rollingUpdate.partition")]
    #[case::min_ready("  replicas: 3\n", "  replicas: 3\n  minReadySeconds: 30\n", "spec.minReadySeconds")]
    #[case::pvc_delete("  replicas: 3\n", "  replicas: 3\n  persistentVolumeClaimRetentionPolicy:\n    whenDeleted: Delete\n", "whenDeleted Delete")]
    #[case::ordinals("  replicas: 3\n", "  replicas: 3\n  ordinals:\n    start: 1\n", "ordinals.start")]
    #[case::parallel_unpublished(
        "  podManagementPolicy: OrderedReady",
        "  podManagementPolicy: Parallel",
        "podManagementPolicy Parallel with Service zk-hs not setting publishNotReadyAddresses: true"
    )]
    fn fields_the_docker_platform_cannot_honour_are_named(#[case] from: &str, #[case] to: &str, #[case] says: &str) {
        let m = with(from, to).unwrap_or_else(|e| panic!("valid for Kubernetes: {e}"));
        let unsupported = m.docker_unsupported().join("\n");
        assert!(unsupported.contains(says), "{unsupported}");
        assert!(walkthrough().docker_unsupported().is_empty());
    }

    /// What the API server itself refuses, and values zk-chaos cannot use: bad input everywhere.
    #[rstest]
    #[case::unknown_volume("            - name: datadir\n              mountPath", "            - name: logs\n              mountPath", "names volume \"logs\"")]
    #[case::cpu("              cpu: \"0.5\"", "              cpu: \"lots\"", "requests.cpu \"lots\"")]
    #[case::selector(
        "  selector:\n    matchLabels:\n      app: zk\n  serviceName",
        "  selector:\n    matchLabels:\n      app: zookeeper\n  serviceName",
        "does not match spec.template.metadata.labels"
    )]
    #[case::policy(
        "  podManagementPolicy: OrderedReady",
        "  podManagementPolicy: Ordered",
        "podManagementPolicy is \"Ordered\"; the API server accepts only OrderedReady or Parallel"
    )]
    #[case::strategy("    type: RollingUpdate", "    type: Rolling", "updateStrategy.type is \"Rolling\"")]
    #[case::on_delete_with_rolling("    type: RollingUpdate", "    type: OnDelete\n    rollingUpdate:\n      partition: 1", "rollingUpdate is set with type OnDelete")]
    #[case::retention("  replicas: 3\n", "  replicas: 3\n  persistentVolumeClaimRetentionPolicy:\n    whenDeleted: Keep\n", "whenDeleted is \"Keep\"")]
    #[case::headless_node_port("  clusterIP: None\n", "  clusterIP: None\n  type: NodePort\n", "Service zk-hs: spec.clusterIP None with type NodePort: the API server refuses it")]
    #[case::service_type(
        "      name: client\n  selector",
        "      name: client\n  type: Loadbalancer\n  selector",
        "Service zk-cs: spec.type is \"Loadbalancer\"; the API server accepts only ClusterIP or NodePort or LoadBalancer or ExternalName"
    )]
    #[case::protocol("      name: client\n", "      name: client\n      protocol: tcp\n", "Service zk-cs: spec.ports[0].protocol is \"tcp\"")]
    #[case::affinity("      name: client\n  selector", "      name: client\n  sessionAffinity: Sticky\n  selector", "spec.sessionAffinity is \"Sticky\"")]
    #[case::budget_both("  maxUnavailable: 1\n", "  maxUnavailable: 1\n  minAvailable: 2\n", "PodDisruptionBudget zk-pdb: spec sets both minAvailable and maxUnavailable")]
    #[case::budget_policy("  maxUnavailable: 1\n", "  maxUnavailable: 1\n  unhealthyPodEvictionPolicy: Always\n", "spec.unhealthyPodEvictionPolicy is \"Always\"")]
    fn values_no_platform_accepts_are_bad_input(#[case] from: &str, #[case] to: &str, #[case] says: &str) {
        let msg = with(from, to).unwrap_err();
        assert!(msg.contains(says), "{msg}");
    }

    /// Members started together find each other on Kubernetes only if the headless Service
    /// publishes members that are not Ready; with that set, Docker resolves names as Kubernetes
    /// does and runs the manifest.
    #[test]
    fn parallel_members_run_on_docker_when_the_service_publishes_unready_members() {
        let text = include_str!("../../fixtures/zookeeper.yaml").replacen("  podManagementPolicy: OrderedReady", "  podManagementPolicy: Parallel", 1).replacen(
            "  clusterIP: None\n",
            "  clusterIP: None\n  publishNotReadyAddresses: true\n",
            1,
        );
        let m = Manifest::parse(&text, "m.yaml").unwrap();
        assert!(!m.ordered_ready());
        assert!(m.docker_unsupported().is_empty(), "{:?}", m.docker_unsupported());
        assert!(!m.docker_service_notes().iter().any(|n| n.contains("publishNotReadyAddresses")), "nothing differs: {:?}", m.docker_service_notes());
    }

    #[test]
    fn the_report_says_where_docker_realises_the_services_differently() {
        let notes = walkthrough().docker_service_notes().join("\n");
        assert!(notes.contains("Service zk-hs: without publishNotReadyAddresses Kubernetes publishes a member's FQDN only once it is Ready"), "{notes}");
        assert!(!notes.contains("is not realised on Docker"), "{notes}");
        let m = with("      name: client\n  selector", "      name: client\n  type: LoadBalancer\n  selector").unwrap();
        assert!(m.docker_service_notes().join("\n").contains("Service zk-cs: type LoadBalancer is not realised on Docker"));
    }

    #[test]
    fn a_manifest_without_volumes_is_valid_and_has_no_mounts() {
        let m = with("          volumeMounts:\n            - name: datadir\n              mountPath: /var/lib/zookeeper\n", "").unwrap();
        assert!(m.pod_template().mounts.is_empty());
    }

    #[rstest]
    #[case("0.5", Some(0.5))]
    #[case("500m", Some(0.5))]
    #[case("2", Some(2.0))]
    #[case("-1", None)]
    #[case("x", None)]
    fn cpu_quantities(#[case] q: &str, #[case] want: Option<f64>) {
        assert_eq!(parse_cpu(q), want);
    }

    #[rstest]
    #[case("1Gi", Some(1 << 30))]
    #[case("512M", Some(512_000_000))]
    #[case("1000", Some(1000))]
    #[case("1Qi", None)]
    fn memory_quantities(#[case] q: &str, #[case] want: Option<i64>) {
        assert_eq!(parse_memory(q), want);
    }
}
