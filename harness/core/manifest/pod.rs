//! The StatefulSet's pod template, translated into what a kubelet needs to run one member:
//! the fields stateful apps use, with Kubernetes' defaults filled in. A field the Docker platform
//! cannot honour is an error naming it; a field that has no meaning on one host is listed in
//! `not_applicable`, so the report can say so.
//!
//! Over 600 lines: the pod template's fields one by one, each with what is honoured on Docker, and
//! about 200 lines of unit tests.

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
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
    /// The main container's whole `env` in order (literal values, ConfigMap and Secret keys, fieldRefs);
    /// `env` above holds only its literal values.
    pub env_vars: Vec<EnvVar>,
    pub env_from: Vec<EnvFrom>,
    /// The main container's securityContext, the pod's where the container sets nothing.
    pub security: Security,
    pub startup: Option<Probe>,
    /// postStart and preStop exec hooks.
    pub post_start: Option<Vec<String>>,
    pub pre_stop: Option<Vec<String>>,
    /// The pod's `fsGroupChangePolicy` (`Always` when unset).
    pub fs_group_on_root_mismatch: bool,
    /// initContainers, run to completion in order before the main container.
    pub init_containers: Vec<Container>,
    /// The pod's configMap and secret volumes.
    pub config_volumes: Vec<ConfigVolume>,
}

/// One container other than the main one (an init container), as a kubelet runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub name: String,
    pub image: Option<String>,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub env_vars: Vec<EnvVar>,
    pub env_from: Vec<EnvFrom>,
    pub mounts: Vec<Mount>,
    pub security: Security,
}

/// A container's securityContext as the Docker platform applies it (the pod's where it sets nothing).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Security {
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub run_as_non_root: bool,
    pub read_only_root: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// allowPrivilegeEscalation: false.
    pub no_new_privileges: bool,
    /// seccompProfile Unconfined (RuntimeDefault is the engine's default profile).
    pub seccomp_unconfined: bool,
}

/// One `env` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvVar {
    pub name: String,
    pub value: EnvValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EnvValue {
    Literal(String),
    /// A key of a ConfigMap (`secret: false`) or Secret of the manifest.
    Key {
        secret: bool,
        name: String,
        key: String,
        optional: bool,
    },
    /// A fieldRef: `metadata.name`, `metadata.namespace`, `spec.nodeName`, `spec.serviceAccountName`.
    Field(String),
}

/// One `envFrom` entry: every key of a ConfigMap or Secret, prefixed.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvFrom {
    pub secret: bool,
    pub name: String,
    pub prefix: String,
    pub optional: bool,
}

/// A configMap or secret volume: which keys go to which file, with which mode.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigVolume {
    pub volume: String,
    pub secret: bool,
    pub name: String,
    /// `(key, path, mode)`; empty: every key as a file of its name with `default_mode`.
    pub items: Vec<(String, String, Option<i32>)>,
    pub default_mode: i32,
    pub optional: bool,
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
    /// `subPath`: a path inside the volume mounted instead of its root.
    pub sub_path: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeKind {
    /// From volumeClaimTemplates: survives pod deletion, named like the PVC (`datadir-zk-0`).
    Claim,
    /// An emptyDir: survives container restarts, not pod deletion.
    EmptyDir,
    /// A configMap or secret volume ([`ConfigVolume`]): files written when the pod starts, mounted read-only.
    Config,
}

/// A probe with Kubernetes' timing fields (defaults filled in).
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The exec handler's command; empty for another handler.
    pub command: Vec<String>,
    pub handler: Handler,
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

/// What a probe runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Handler {
    Exec(Vec<String>),
    /// A TCP connection to the container's port.
    Tcp {
        port: u16,
    },
    /// An HTTP GET of the container's port; a status from 200 to 399 passes.
    Http {
        port: u16,
        path: String,
        headers: Vec<(String, String)>,
    },
}

impl Probe {
    /// The longest a dead member can go before this (liveness) probe restarts it: the initial
    /// delay is not counted, since the member was already live.
    pub fn max_detection(&self) -> Duration {
        self.period * self.failure_threshold + self.timeout
    }
}

const POD_SPEC_HONOURED: &[&str] = &["containers", "initContainers", "securityContext", "restartPolicy", "terminationGracePeriodSeconds", "volumes", "dnsPolicy"];
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
    "startupProbe",
    "lifecycle",
    "envFrom",
    "imagePullPolicy",
    "terminationMessagePath",
    "terminationMessagePolicy",
];
const POD_SECURITY_HONOURED: &[&str] = &["runAsUser", "runAsGroup", "fsGroup", "runAsNonRoot", "fsGroupChangePolicy", "seccompProfile"];
const CONTAINER_SECURITY_HONOURED: &[&str] =
    &["runAsUser", "runAsGroup", "runAsNonRoot", "readOnlyRootFilesystem", "privileged", "capabilities", "allowPrivilegeEscalation", "seccompProfile"];
const PROBE_HONOURED: &[&str] = &["exec", "tcpSocket", "httpGet", "initialDelaySeconds", "periodSeconds", "timeoutSeconds", "successThreshold", "failureThreshold"];
/// The fieldRefs the Docker platform knows the value of before the container starts.
const FIELD_REFS: &[&str] = &["metadata.name", "metadata.namespace", "spec.nodeName", "spec.serviceAccountName"];

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
                    crate::walkthrough::HANDLING_PROCESS_FAILURE.cite()
                ))
            }
        }
        // Without the cluster's DNS a member cannot resolve the others' FQDNs: Kubernetes fails what
        // Docker (whose members always resolve them) would pass.
        if let Some(policy) = spec.dns_policy.as_deref().filter(|p| !matches!(*p, "ClusterFirst" | "ClusterFirstWithHostNet")) {
            unsupported.push(format!("{at}.dnsPolicy {policy} (the Docker platform resolves members' names as the cluster's DNS does: ClusterFirst only)"));
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
            if !POD_SECURITY_HONOURED.contains(&key.as_str()) {
                unsupported.push(format!("{at}.securityContext.{key}"));
            }
        }
        one_of_or(&mut unsupported, &format!("{at}.securityContext.fsGroupChangePolicy"), pod_sc.and_then(|s| s.fs_group_change_policy.as_deref()), &["Always", "OnRootMismatch"]);
        let claim_templates: Vec<String> = sts_spec.volume_claim_templates.iter().flatten().map(|t| t.metadata.name.clone().unwrap_or_default()).collect();
        let config_volumes = config_volumes(spec, &at, &mut unsupported)?;
        let ctx = Ctx { spec, pod_sc, claim_templates: &claim_templates };

        let main = ctx.container(c, craw, &cat, &mut unsupported)?;
        if main.security.run_as_non_root && main.security.run_as_user == Some(0) {
            return Err(format!("{at}: runAsNonRoot is true but runAsUser is 0; Kubernetes would refuse to start it"));
        }
        let mut init_containers = Vec::new();
        for (i, ic) in spec.init_containers.iter().flatten().enumerate() {
            let iat = format!("{at}.initContainers[{i}]");
            let iraw = &raw["initContainers"][i];
            for key in keys(iraw) {
                if !INIT_CONTAINER_HONOURED.contains(&key.as_str()) {
                    unsupported.push(format!("{iat}.{key}"));
                }
            }
            init_containers.push(ctx.container(ic, iraw, &iat, &mut unsupported)?);
        }

        let mut ports = Vec::new();
        for (i, p) in c.ports.iter().flatten().enumerate() {
            let port = u16::try_from(p.container_port).map_err(|_| format!("{cat}.ports[{i}].containerPort {} is not a port", p.container_port))?;
            ports.push(Port { name: p.name.clone(), container_port: port });
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

        let probe_of =
            |p: Option<&core::Probe>, field: &str, unsupported: &mut Vec<String>| p.map(|p| probe(p, &craw[field], &format!("{cat}.{field}"), &ports, unsupported)).transpose();
        let readiness = probe_of(c.readiness_probe.as_ref(), "readinessProbe", &mut unsupported)?;
        let liveness = probe_of(c.liveness_probe.as_ref(), "livenessProbe", &mut unsupported)?;
        let startup = probe_of(c.startup_probe.as_ref(), "startupProbe", &mut unsupported)?;
        let hook = |field: &str, unsupported: &mut Vec<String>| -> Option<Vec<String>> {
            let h = &craw["lifecycle"][field];
            for key in keys(h) {
                if key != "exec" {
                    unsupported.push(format!("{cat}.lifecycle.{field}.{key} (exec hooks only)"));
                }
            }
            h.pointer("/exec/command").and_then(Value::as_array).map(|c| c.iter().filter_map(Value::as_str).map(str::to_string).collect()).filter(|c: &Vec<String>| !c.is_empty())
        };
        for key in keys(&craw["lifecycle"]) {
            if key != "postStart" && key != "preStop" {
                unsupported.push(format!("{cat}.lifecycle.{key}"));
            }
        }
        let post_start = hook("postStart", &mut unsupported);
        let pre_stop = hook("preStop", &mut unsupported);

        Ok(PodTemplate {
            container_name: c.name.clone(),
            image: c.image.clone(),
            command: main.command.clone(),
            args: main.args.clone(),
            env: main.env_vars.iter().filter_map(|e| if let EnvValue::Literal(v) = &e.value { Some((e.name.clone(), v.clone())) } else { None }).collect(),
            ports,
            cpu_request,
            cpu_limit,
            memory_limit_bytes,
            run_as_user: main.security.run_as_user,
            run_as_group: main.security.run_as_group,
            fs_group: pod_sc.and_then(|s| s.fs_group),
            mounts: main.mounts.clone(),
            readiness,
            liveness,
            termination_grace: Duration::from_secs(spec.termination_grace_period_seconds.unwrap_or(30).max(0) as u64),
            not_applicable,
            docker_unsupported: unsupported,
            claim_templates,
            env_vars: main.env_vars,
            env_from: main.env_from,
            security: main.security,
            startup,
            post_start,
            pre_stop,
            fs_group_on_root_mismatch: pod_sc.and_then(|s| s.fs_group_change_policy.as_deref()) == Some("OnRootMismatch"),
            init_containers,
            config_volumes,
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
fn probe(p: &core::Probe, raw: &Value, at: &str, ports: &[Port], unsupported: &mut Vec<String>) -> Result<Probe, String> {
    for key in keys(raw) {
        if !PROBE_HONOURED.contains(&key.as_str()) {
            unsupported.push(format!("{at}.{key} (exec, tcpSocket and httpGet probes only)"));
        }
    }
    // A named port is the container's port of that name, as the kubelet resolves it.
    let port = |p: &IntOrString, field: &str| -> Result<u16, String> {
        match p {
            IntOrString::Int(n) => u16::try_from(*n).ok().filter(|n| *n > 0).ok_or(format!("{at}.{field}.port {n} is not a port")),
            IntOrString::String(name) => ports
                .iter()
                .find(|x| x.name.as_deref() == Some(name.as_str()))
                .map(|x| x.container_port)
                .ok_or(format!("{at}.{field}.port {name:?} names no port of the container")),
        }
    };
    let command = p.exec.as_ref().and_then(|e| e.command.clone()).filter(|c| !c.is_empty()).unwrap_or_default();
    let handler = if !command.is_empty() {
        Handler::Exec(command.clone())
    } else if let Some(t) = &p.tcp_socket {
        if t.host.as_deref().is_some_and(|h| !h.is_empty()) {
            unsupported.push(format!("{at}.tcpSocket.host (the Docker platform probes the pod's own address)"));
        }
        Handler::Tcp { port: port(&t.port, "tcpSocket")? }
    } else if let Some(h) = &p.http_get {
        if h.scheme.as_deref().is_some_and(|s| s != "HTTP") {
            unsupported.push(format!("{at}.httpGet.scheme {} (HTTP only)", h.scheme.as_deref().unwrap_or("")));
        }
        if h.host.as_deref().is_some_and(|h| !h.is_empty()) {
            unsupported.push(format!("{at}.httpGet.host (the Docker platform probes the pod's own address)"));
        }
        let headers = h.http_headers.iter().flatten().map(|x| (x.name.clone(), x.value.clone())).collect();
        Handler::Http { port: port(&h.port, "httpGet")?, path: h.path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "/".into()), headers }
    } else if p.grpc.is_some() {
        Handler::Exec(Vec::new())
    } else {
        return Err(format!("{at} has no handler (exec.command, httpGet, tcpSocket or grpc)"));
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
        handler,
        initial_delay: secs(p.initial_delay_seconds, 0, "initialDelaySeconds")?,
        period: secs(p.period_seconds, 10, "periodSeconds")?.max(Duration::from_secs(1)),
        timeout: secs(p.timeout_seconds, 1, "timeoutSeconds")?.max(Duration::from_secs(1)),
        success_threshold: count(p.success_threshold, 1, "successThreshold")?,
        failure_threshold: count(p.failure_threshold, 3, "failureThreshold")?,
    })
}

/// The fields of an object that are set: as for the API server, a null, an empty list and an
/// empty map are not set.
fn keys(v: &Value) -> Vec<String> {
    v.as_object().map(|o| o.iter().filter(|(_, v)| is_set(v)).map(|(k, _)| k.clone()).collect()).unwrap_or_default()
}

fn is_set(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// A value outside `allowed` is named in `unsupported`.
fn one_of_or(unsupported: &mut Vec<String>, at: &str, value: Option<&str>, allowed: &[&str]) {
    if let Some(v) = value.filter(|v| !allowed.contains(v)) {
        unsupported.push(format!("{at} {v:?} (only {})", allowed.join(" or ")));
    }
}

const INIT_CONTAINER_HONOURED: &[&str] = &[
    "name",
    "image",
    "command",
    "args",
    "env",
    "envFrom",
    "resources",
    "securityContext",
    "volumeMounts",
    "imagePullPolicy",
    "terminationMessagePath",
    "terminationMessagePolicy",
];

/// What translating a container needs of its pod.
struct Ctx<'a> {
    spec: &'a core::PodSpec,
    pod_sc: Option<&'a core::PodSecurityContext>,
    claim_templates: &'a [String],
}

impl Ctx<'_> {
    /// The parts every container has: command, env, mounts, securityContext.
    fn container(&self, c: &core::Container, craw: &Value, cat: &str, unsupported: &mut Vec<String>) -> Result<Container, String> {
        let csc = c.security_context.as_ref();
        for key in keys(&craw["securityContext"]) {
            if !CONTAINER_SECURITY_HONOURED.contains(&key.as_str()) {
                unsupported.push(format!("{cat}.securityContext.{key}"));
            }
        }
        let seccomp = csc.and_then(|s| s.seccomp_profile.as_ref()).or(self.pod_sc.and_then(|s| s.seccomp_profile.as_ref()));
        match seccomp.map(|p| p.type_.as_str()) {
            None | Some("RuntimeDefault") | Some("Unconfined") => {}
            Some(other) => unsupported.push(format!("{cat}.securityContext.seccompProfile.type {other} (RuntimeDefault or Unconfined only)")),
        }
        for key in keys(&craw["securityContext"]["capabilities"]) {
            if key != "add" && key != "drop" {
                unsupported.push(format!("{cat}.securityContext.capabilities.{key}"));
            }
        }
        let caps = csc.and_then(|s| s.capabilities.as_ref());
        let security = Security {
            run_as_user: csc.and_then(|s| s.run_as_user).or(self.pod_sc.and_then(|s| s.run_as_user)),
            run_as_group: csc.and_then(|s| s.run_as_group).or(self.pod_sc.and_then(|s| s.run_as_group)),
            run_as_non_root: csc.and_then(|s| s.run_as_non_root).or(self.pod_sc.and_then(|s| s.run_as_non_root)) == Some(true),
            read_only_root: csc.and_then(|s| s.read_only_root_filesystem) == Some(true),
            privileged: csc.and_then(|s| s.privileged) == Some(true),
            cap_add: caps.and_then(|c| c.add.clone()).unwrap_or_default(),
            cap_drop: caps.and_then(|c| c.drop.clone()).unwrap_or_default(),
            no_new_privileges: csc.and_then(|s| s.allow_privilege_escalation) == Some(false),
            seccomp_unconfined: seccomp.map(|p| p.type_.as_str()) == Some("Unconfined"),
        };

        let mut env_vars = Vec::new();
        for (i, e) in c.env.iter().flatten().enumerate() {
            let value = match &e.value_from {
                None => EnvValue::Literal(e.value.clone().unwrap_or_default()),
                Some(from) => {
                    let at = format!("{cat}.env[{i}].valueFrom ({})", e.name);
                    if let Some(r) = &from.config_map_key_ref {
                        EnvValue::Key { secret: false, name: r.name.clone(), key: r.key.clone(), optional: r.optional == Some(true) }
                    } else if let Some(r) = &from.secret_key_ref {
                        EnvValue::Key { secret: true, name: r.name.clone(), key: r.key.clone(), optional: r.optional == Some(true) }
                    } else if let Some(f) = from.field_ref.as_ref().filter(|f| FIELD_REFS.contains(&f.field_path.as_str())) {
                        EnvValue::Field(f.field_path.clone())
                    } else {
                        let what = from.field_ref.as_ref().map(|f| format!("fieldRef {}", f.field_path)).unwrap_or_else(|| "resourceFieldRef".into());
                        unsupported.push(format!("{at}: {what} (the Docker platform gives {} before a container starts)", FIELD_REFS.join(", ")));
                        continue;
                    }
                }
            };
            env_vars.push(EnvVar { name: e.name.clone(), value });
        }
        let env_from = c
            .env_from
            .iter()
            .flatten()
            .filter_map(|f| {
                let prefix = f.prefix.clone().unwrap_or_default();
                match (&f.config_map_ref, &f.secret_ref) {
                    (Some(r), _) => Some(EnvFrom { secret: false, name: r.name.clone(), prefix, optional: r.optional == Some(true) }),
                    (None, Some(r)) => Some(EnvFrom { secret: true, name: r.name.clone(), prefix, optional: r.optional == Some(true) }),
                    (None, None) => None,
                }
            })
            .collect();

        let mut mounts = Vec::new();
        for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
            if m.sub_path_expr.as_deref().is_some_and(|s| !s.is_empty()) {
                unsupported.push(format!("{cat}.volumeMounts[{i}].subPathExpr"));
            }
            let sub_path = m.sub_path.clone().filter(|p| !p.is_empty());
            if let Some(p) = &sub_path {
                if p.starts_with('/') || p.split('/').any(|part| part == "..") {
                    return Err(format!("{cat}.volumeMounts[{i}].subPath {p:?} must be a relative path without '..'; the API server refuses it"));
                }
            }
            let kind = if self.claim_templates.contains(&m.name) {
                VolumeKind::Claim
            } else {
                match self.spec.volumes.iter().flatten().find(|v| v.name == m.name) {
                    Some(v) if v.empty_dir.is_some() => VolumeKind::EmptyDir,
                    Some(v) if v.config_map.is_some() || v.secret.is_some() => VolumeKind::Config,
                    // Named in `unsupported` by config_volumes.
                    Some(_) => continue,
                    None => return Err(format!("{cat}.volumeMounts[{i}] names volume {:?}, which is neither a volumeClaimTemplate nor a pod volume", m.name)),
                }
            };
            // configMap and secret volumes are read-only whatever the mount says, as on Kubernetes.
            let read_only = m.read_only.unwrap_or(false) || kind == VolumeKind::Config;
            mounts.push(Mount { volume: m.name.clone(), kind, path: m.mount_path.clone(), read_only, sub_path });
        }
        Ok(Container {
            name: c.name.clone(),
            image: c.image.clone(),
            command: c.command.clone().unwrap_or_default(),
            args: c.args.clone().unwrap_or_default(),
            env_vars,
            env_from,
            mounts,
            security,
        })
    }
}

/// The pod's configMap and secret volumes.
fn config_volumes(spec: &core::PodSpec, at: &str, unsupported: &mut Vec<String>) -> Result<Vec<ConfigVolume>, String> {
    let mut out = Vec::new();
    for v in spec.volumes.iter().flatten() {
        let (secret, name, items, default_mode, optional) = match (&v.config_map, &v.secret) {
            (Some(c), _) => (false, c.name.clone(), c.items.clone(), c.default_mode, c.optional),
            (None, Some(s)) => (true, s.secret_name.clone().unwrap_or_default(), s.items.clone(), s.default_mode, s.optional),
            (None, None) => {
                if v.empty_dir.is_none() {
                    unsupported.push(format!("{at}.volumes[{}] (only emptyDir, configMap and secret volumes, and volumeClaimTemplates)", v.name));
                }
                continue;
            }
        };
        let mode = |m: Option<i32>, field: &str| -> Result<Option<i32>, String> {
            match m {
                Some(m) if !(0..=0o777).contains(&m) => Err(format!("{at}.volumes[{}].{field} {m} is not a file mode from 0 to 0777; the API server refuses it", v.name)),
                m => Ok(m),
            }
        };
        let items = items.into_iter().flatten().map(|k| Ok((k.key.clone(), k.path.clone(), mode(k.mode, "items.mode")?))).collect::<Result<Vec<_>, String>>()?;
        if name.is_empty() {
            unsupported.push(format!("{at}.volumes[{}] names no {}", v.name, if secret { "secretName" } else { "ConfigMap" }));
        }
        out.push(ConfigVolume { volume: v.name.clone(), secret, name, items, default_mode: mode(default_mode, "defaultMode")?.unwrap_or(0o644), optional: optional == Some(true) });
    }
    Ok(out)
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
        assert_eq!(t.mounts, vec![Mount { volume: "datadir".into(), kind: VolumeKind::Claim, path: "/var/lib/zookeeper".into(), read_only: false, sub_path: None }]);
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
        let text = include_str!("../../../fixtures/zookeeper.yaml");
        assert!(text.contains(from), "fixture lacks {from:?}");
        Manifest::parse(&text.replacen(from, to, 1), "m.yaml").map_err(|e| e.to_string())
    }

    /// Fields the Docker platform cannot run: the manifest is valid (Kubernetes runs it), and the
    /// Docker platform names each one (a Docker run refuses the manifest: see run::prepare).
    #[rstest]
    #[case::host_network("    spec:\n      affinity:", "    spec:\n      hostNetwork: true\n      affinity:", "spec.template.spec.hostNetwork")]
    #[case::grpc_probe("            exec:\n              command:\n                - sh\n                - -c\n                - \"zookeeper-ready 2181\"\n            initialDelaySeconds: 10\n            timeoutSeconds: 5\n          volumeMounts",
        "            grpc:\n              port: 8080\n            initialDelaySeconds: 10\n            timeoutSeconds: 5\n          volumeMounts", "livenessProbe.grpc (exec, tcpSocket and httpGet probes only)")]
    #[case::value_from("          imagePullPolicy: IfNotPresent", "          imagePullPolicy: IfNotPresent\n          env:\n            - name: X\n              valueFrom:\n                fieldRef:\n                  fieldPath: status.podIP", "env[0].valueFrom (X): fieldRef status.podIP")]
    #[case::sc_field(
        "        fsGroup: 1000",
        "        fsGroup: 1000\n        sysctls:\n          - name: net.core.somaxconn\n            value: \"1024\"",
        "securityContext.sysctls"
    )]
    #[case::dns_policy("    spec:\n      affinity:", "    spec:\n      dnsPolicy: Default\n      affinity:", "dnsPolicy Default")]
    #[case::missing_config_map(
        "    spec:\n      affinity:",
        "    spec:\n      volumes:\n        - name: conf\n          configMap:\n            name: zk-conf\n      affinity:",
        "ConfigMap zk-conf, which does not exist in the manifest"
    )]
    #[case::seccomp_localhost(
        "        fsGroup: 1000",
        "        fsGroup: 1000\n        seccompProfile:\n          type: Localhost\n          localhostProfile: zk.json",
        "seccompProfile.type Localhost"
    )]
    #[case::sub_path_expr(
        "              mountPath: /var/lib/zookeeper\n",
        "              mountPath: /var/lib/zookeeper\n              subPathExpr: $(POD_NAME)\n",
        "volumeMounts[0].subPathExpr"
    )]
    #[case::host_path(
        "    spec:\n      affinity:",
        "    spec:\n      volumes:\n        - name: host\n          hostPath:\n            path: /srv\n      affinity:",
        "volumes[host]"
    )]
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

    /// An empty list or map is a field that is not set, as for the API server: nothing to refuse.
    #[rstest]
    #[case::pod_list("    spec:\n      affinity:", "    spec:\n      tolerations: []\n      hostAliases: []\n      affinity:")]
    #[case::pod_map("    spec:\n      affinity:", "    spec:\n      nodeSelector: {}\n      dnsConfig: {}\n      affinity:")]
    #[case::sc_list("        fsGroup: 1000", "        fsGroup: 1000\n        sysctls: []\n        supplementalGroups: []")]
    #[case::container_list(
        "          imagePullPolicy: IfNotPresent",
        "          imagePullPolicy: IfNotPresent\n          envFrom: []\n          volumeDevices: []\n          lifecycle: {}"
    )]
    fn empty_lists_and_maps_are_not_set(#[case] from: &str, #[case] to: &str) {
        let m = with(from, to).unwrap_or_else(|e| panic!("valid: {e}"));
        assert!(m.docker_unsupported().is_empty(), "{:?}", m.docker_unsupported());
    }

    /// The securityContext fields a chart sets are honoured, the container's over the pod's.
    #[test]
    fn security_contexts_are_read_container_over_pod() {
        let m = with(
            "          imagePullPolicy: IfNotPresent",
            "          imagePullPolicy: IfNotPresent\n          securityContext:\n            runAsUser: 1001\n            runAsNonRoot: true\n            readOnlyRootFilesystem: true\n\
             \x20           allowPrivilegeEscalation: false\n            privileged: false\n            capabilities:\n              add: [NET_BIND_SERVICE]\n              drop: [ALL]\n\
             \x20           seccompProfile:\n              type: RuntimeDefault",
        )
        .unwrap();
        assert!(m.docker_unsupported().is_empty(), "{:?}", m.docker_unsupported());
        let sc = m.pod_template().security;
        let want = Security {
            run_as_user: Some(1001),
            run_as_group: None,
            run_as_non_root: true,
            read_only_root: true,
            privileged: false,
            cap_add: vec!["NET_BIND_SERVICE".into()],
            cap_drop: vec!["ALL".into()],
            no_new_privileges: true,
            seccomp_unconfined: false,
        };
        assert_eq!(sc, want);
        assert_eq!(m.pod_template().run_as_user, Some(1001), "the container's runAsUser over the pod's 1000");
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
        let text = include_str!("../../../fixtures/zookeeper.yaml").replacen("  podManagementPolicy: OrderedReady", "  podManagementPolicy: Parallel", 1).replacen(
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
