//! `zk-chaos job`: the certification run as a Kubernetes Job inside the cluster it certifies, as
//! Sonobuoy runs its plugins. This file is the pure part: the suites the Job runs, the least RBAC
//! they need (derived from the kube platform's API calls, see [`rules`]), the arguments of the
//! pod's `zk-chaos job-pod`, and the objects applied (what `zk-chaos job --print` prints).
//! [`drive`] applies them, waits, copies the results back and removes everything.
//!
//! # How results come back
//! A finished pod cannot be exec'd into, and logs are capped by the kubelet and carry no files. So
//! the pod does not end when its run does: `zk-chaos job-pod` writes [`EXIT_FILE`] (the run's exit
//! code) beside the results in an emptyDir, and waits, at most [`JobPlan::collect_wait`], for
//! [`COLLECTED_FILE`]. The CLI sees the exit file, copies the results directory out with
//! `tar` over exec (as `kubectl cp` does), writes the collected file, and the pod exits with the
//! run's code. A CLI that died leaves a pod that exits on its own when the wait is over.
//!
//! # Caveats
//! The run deploys the ensemble itself (into the Job's namespace), so even the non-disruptive
//! suites need write access there: to the manifest's own kinds, and exec and port-forward on pods.
//! What is read-only without the opt-in is the cluster: nodes and PersistentVolumes are read,
//! never written; `--allow-disruption` adds node cordons, evictions and ephemeral containers.

pub mod drive;

use std::time::Duration;

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::platform::PlatformKind;

/// The image the Job runs by default: `ci/build-job-image.sh` builds it (and tags it so).
pub fn default_image() -> String {
    format!("zk-chaos/zk-chaos:{}", env!("CARGO_PKG_VERSION"))
}

/// Where the pod's run writes its results (an emptyDir).
pub const RESULTS_DIR: &str = "/results";
/// Written by the pod when its run is over: the run's exit code.
pub const EXIT_FILE: &str = ".zk-chaos-job-exit";
/// Written by the CLI once it has copied the results: the pod may exit.
pub const COLLECTED_FILE: &str = ".zk-chaos-job-collected";
/// Where the manifest and config the user gave are mounted (a ConfigMap).
pub const INPUT_DIR: &str = "/input";
/// The label on every object `zk-chaos job` creates: its name.
pub const JOB_LABEL: &str = "zk-chaos.job";

/// Everything the Job's objects are made from.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPlan {
    /// The name of every object (Job, ServiceAccount, Role, ...): `zk-chaos-job-<time>-<salt>`.
    pub name: String,
    pub namespace: String,
    /// `zk-chaos job` creates the namespace (and deletes it); else it exists already.
    pub create_namespace: bool,
    pub image: String,
    /// The suites, by name, in the order they run.
    pub suites: Vec<String>,
    /// `--allow-disruption` was given: disruptive suites may run, and the RBAC has what they need.
    pub disruptive: bool,
    /// The manifest's text (a ConfigMap key); `None`: the built-in reference manifest.
    pub manifest: Option<String>,
    /// The kinds of the manifest's objects: the run applies and deletes them.
    pub kinds: Vec<String>,
    pub config: Option<String>,
    /// `--image-map FROM=TO` and `--storage-class`, passed through to the run.
    pub image_map: Vec<String>,
    pub storage_class: Option<String>,
    pub fail_fast: bool,
    /// How long the pod waits for the CLI to copy the results before it exits anyway.
    pub collect_wait: Duration,
    /// The run's own limit (the Job's activeDeadlineSeconds is this plus `collect_wait`).
    pub timeout: Duration,
}

/// The suites of a Job: those named (each must run on a cluster; a disruptive one needs
/// `allow_disruption`), else every suite a cluster supports that a plain `certify` runs, without
/// the disruptive ones unless they are allowed.
pub fn select_suites(named: &[String], allow_disruption: bool) -> Result<Vec<String>> {
    let chosen = crate::suites::select(named)?;
    let mut out = Vec::new();
    for s in chosen {
        let on_cluster = s.platforms().contains(&PlatformKind::Kube);
        if !named.is_empty() && !on_cluster {
            return Err(Error::bad_input(format!("suite '{}' does not run on a cluster (see `zk-chaos suites`); zk-chaos job runs on Kubernetes only", s.name())));
        }
        if !named.is_empty() && s.disruptive() && !allow_disruption {
            return Err(Error::bad_input(format!(
                "suite '{}' is disruptive (it kills processes, evicts pods or cordons nodes): name the context with --allow-disruption=CONTEXT \
                 if this cluster is yours to disrupt (the Job's RBAC then grants what it needs), or leave it out",
                s.name()
            )));
        }
        if on_cluster && (allow_disruption || !s.disruptive()) {
            out.push(s.name().to_string());
        }
    }
    if out.is_empty() {
        return Err(Error::bad_input("no suite left to run in the Job; name one with --suite (`zk-chaos suites` lists them)"));
    }
    Ok(out)
}

/// One RBAC rule, with the API calls of the kube platform that need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub group: &'static str,
    pub resources: Vec<String>,
    pub verbs: &'static [&'static str],
    /// Limited to these objects (empty: any).
    pub names: Vec<String>,
    pub why: &'static str,
}

impl Rule {
    fn new(group: &'static str, resources: &[&str], verbs: &'static [&'static str], why: &'static str) -> Rule {
        Rule { group, resources: resources.iter().map(|r| r.to_string()).collect(), verbs, names: Vec::new(), why }
    }

    fn to_json(&self) -> Value {
        let mut r = json!({"apiGroups": [self.group], "resources": self.resources, "verbs": self.verbs});
        if !self.names.is_empty() {
            r["resourceNames"] = json!(self.names);
        }
        r
    }
}

/// The least RBAC of a run in `namespace` (given with `--namespace`, so it creates no namespace of
/// its own) that applies objects of `kinds`: the namespaced rules (a Role in `namespace`) and the
/// cluster-scoped ones (a ClusterRole). Each rule names the calls of `platform/kube` that need it.
pub fn rules(kinds: &[String], disruptive: bool, namespace: &str) -> (Vec<Rule>, Vec<Rule>) {
    let mut ns = Vec::new();
    // The manifest's objects: server-side apply (patch, and create when absent), the live objects
    // the manifest suite judges (get), teardown's delete (mod.rs apply, teardown; cluster.rs live_objects).
    let mut by_group: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for kind in kinds {
        if let Some(ar) = crate::platform::kube::objects::resource(kind) {
            let list = by_group.entry(ar.group.clone()).or_default();
            if !list.contains(&ar.plural) {
                list.push(ar.plural.clone());
            }
        }
    }
    for (group, resources) in by_group {
        let group: &'static str = match group.as_str() {
            "" => "",
            "apps" => "apps",
            "policy" => "policy",
            "networking.k8s.io" => "networking.k8s.io",
            "rbac.authorization.k8s.io" => "rbac.authorization.k8s.io",
            _ => continue,
        };
        let resources: Vec<&str> = resources.iter().map(String::as_str).collect();
        ns.push(Rule::new(group, &resources, &["get", "create", "patch", "delete"], "the manifest's objects: applied, read back, deleted at teardown"));
    }
    if kinds.iter().any(|k| k == "Role" || k == "RoleBinding") {
        // A Role or RoleBinding may grant only what the applier holds, unless it may escalate and bind.
        ns.push(Rule::new("rbac.authorization.k8s.io", &["roles"], &["escalate", "bind"], "the manifest's Roles and RoleBindings grant what the run itself does not hold"));
    }
    ns.extend([
        Rule::new("", &["pods"], &["get", "list", "watch"], "members' status, the pod watch, the partition helper's status (mod.rs watch_pods, status)"),
        Rule::new("", &["pods/exec"], &["get", "create"], "exec in members (conformance, process kills, probes); websocket exec is a GET"),
        Rule::new("", &["pods/portforward"], &["get", "create"], "the clients reach members by port-forward (integrity, workload)"),
        Rule::new("", &["pods/log"], &["get"], "members' logs (conformance's logging, failed runs' logs)"),
        Rule::new("", &["events"], &["list", "watch"], "the events watch and FailedCreate reasons (mod.rs watch_events, failed_create)"),
        Rule::new("apps", &["controllerrevisions"], &["list"], "the StatefulSet's revisions (rolling-update, update revision)"),
        Rule::new("", &["persistentvolumeclaims"], &["get", "deletecollection"], "volume identities (durability); the run's claims deleted at teardown"),
    ]);
    if !kinds.iter().any(|k| k == "StatefulSet") {
        ns.push(Rule::new("apps", &["statefulsets"], &["get", "create", "patch", "delete"], "the ensemble's StatefulSet"));
    }
    let mut cluster = vec![
        Rule { names: vec![namespace.to_string()], ..Rule::new("", &["namespaces"], &["get"], "the run checks its namespace exists (mod.rs ensure_namespace)") },
        Rule::new("", &["nodes"], &["get", "list"], "nodes and their zones (node-failure, maintenance; cluster.rs nodes)"),
        Rule::new("", &["persistentvolumes"], &["get"], "the volume behind a claim, and the node it is pinned to (cluster.rs volume_pinned_node)"),
    ];
    if disruptive {
        ns.extend([
            Rule::new("", &["pods/eviction"], &["create"], "maintenance: drains evict members through the Eviction API (cluster.rs evict)"),
            Rule::new("", &["pods/ephemeralcontainers"], &["patch"], "partition: the netfilter helper as an ephemeral container (partition.rs)"),
            Rule::new("", &["pods"], &["delete"], "upgrade: the forced rollback deletes a pod that never became Ready (mod.rs delete_member)"),
        ]);
        cluster.push(Rule::new("", &["nodes"], &["patch"], "maintenance: cordon and uncordon (cluster.rs set_unschedulable)"));
    }
    (ns, cluster)
}

/// The arguments of the pod's command, after `zk-chaos job-pod`.
pub fn pod_args(plan: &JobPlan) -> Vec<String> {
    let mut a: Vec<String> = vec!["--platform".into(), "kube".into(), "--namespace".into(), plan.namespace.clone(), "--results".into(), RESULTS_DIR.into()];
    for s in &plan.suites {
        a.extend(["--suite".into(), s.clone()]);
    }
    if plan.manifest.is_some() {
        a.extend(["--manifest".into(), format!("{INPUT_DIR}/manifest.yaml")]);
    }
    if plan.config.is_some() {
        a.extend(["--config".into(), format!("{INPUT_DIR}/config.yaml")]);
    }
    for m in &plan.image_map {
        a.extend(["--image-map".into(), m.clone()]);
    }
    if let Some(c) = &plan.storage_class {
        a.extend(["--storage-class".into(), c.clone()]);
    }
    if plan.disruptive {
        a.extend(["--allow-disruption".into(), crate::platform::kube::connect::IN_CLUSTER.into()]);
    }
    if plan.fail_fast {
        a.push("--fail-fast".into());
    }
    a.extend(["--collect-wait".into(), humantime::format_duration(plan.collect_wait).to_string()]);
    a
}

/// The objects of the Job, in the order they are created: the namespace (when the Job makes it),
/// the ServiceAccount, its Role and ClusterRole with their bindings, the input ConfigMap (when
/// there is input), the Job.
pub fn documents(plan: &JobPlan) -> Vec<Value> {
    let name = &plan.name;
    let ns = &plan.namespace;
    let labels = json!({JOB_LABEL: name, "app.kubernetes.io/name": "zk-chaos", "app.kubernetes.io/component": "job"});
    let meta = |namespaced: bool| {
        let mut m = json!({"name": name, "labels": labels});
        if namespaced {
            m["namespace"] = json!(ns);
        }
        m
    };
    let (ns_rules, cluster_rules) = rules(&plan.kinds, plan.disruptive, ns);
    let subject = json!([{"kind": "ServiceAccount", "name": name, "namespace": ns}]);
    let mut docs = Vec::new();
    if plan.create_namespace {
        docs.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}));
    }
    docs.push(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(true)}));
    docs.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta(true), "rules": ns_rules.iter().map(Rule::to_json).collect::<Vec<_>>()}));
    docs.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta(true),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}, "subjects": subject}));
    docs.push(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(false), "rules": cluster_rules.iter().map(Rule::to_json).collect::<Vec<_>>()}),
    );
    docs.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta(false),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}, "subjects": subject}));
    let mut volumes = vec![json!({"name": "results", "emptyDir": {}}), json!({"name": "tmp", "emptyDir": {}})];
    let mut mounts = vec![json!({"name": "results", "mountPath": RESULTS_DIR}), json!({"name": "tmp", "mountPath": "/tmp"})];
    let mut data = serde_json::Map::new();
    if let Some(m) = &plan.manifest {
        data.insert("manifest.yaml".into(), json!(m));
    }
    if let Some(c) = &plan.config {
        data.insert("config.yaml".into(), json!(c));
    }
    if !data.is_empty() {
        docs.push(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(true), "data": data}));
        volumes.push(json!({"name": "input", "configMap": {"name": name}}));
        mounts.push(json!({"name": "input", "mountPath": INPUT_DIR, "readOnly": true}));
    }
    let mut command = vec![json!("zk-chaos"), json!("job-pod")];
    command.extend(pod_args(plan).into_iter().map(Value::from));
    let deadline = plan.timeout + plan.collect_wait;
    docs.push(json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": meta(true),
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline.as_secs().max(1),
            // A safety net for a CLI killed outright: the finished Job goes by itself.
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": name,
                    "restartPolicy": "Never",
                    // SIGTERM makes the run remove its ensemble: give it the cleanup's time.
                    "terminationGracePeriodSeconds": 180,
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "zk-chaos",
                        "image": plan.image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": command,
                        // No kubeconfig under HOME: the run uses the pod's service account (connect.rs in_cluster).
                        "env": [{"name": "HOME", "value": "/tmp"}],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": mounts,
                    }],
                    "volumes": volumes,
                }
            }
        }
    }));
    docs
}

/// The documents as one YAML stream (what `zk-chaos job --print` prints and `kubectl apply -f -` takes).
pub fn render(docs: &[Value]) -> Result<String> {
    let mut out = String::new();
    for d in docs {
        out.push_str("---\n");
        out.push_str(&crate::shell::Format::Yaml.render(d)?);
    }
    Ok(out)
}

/// The manifest's text for the Job's ConfigMap: a file or `-` (stdin), read as written so the
/// pod's run certifies the same bytes (the same digest). A directory is refused: give its files
/// as one stream.
pub fn read_input(path: &std::path::Path, what: &str) -> Result<String> {
    if path.is_dir() {
        return Err(Error::bad_input(format!(
            "{what} {}: is a directory; zk-chaos job sends one file to the pod: give its files as one stream, e.g. `cat {}/*.yaml | zk-chaos job --manifest -`",
            path.display(),
            path.display()
        )));
    }
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| Error::bad_input(format!("{what} -: reading stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(path).map_err(|e| Error::bad_input(format!("{what} {}: {e}; give a readable file", path.display())))?
    };
    // A ConfigMap holds at most 1 MiB.
    if text.len() > 900 * 1024 {
        return Err(Error::bad_input(format!("{what} {}: {} bytes, more than a ConfigMap holds (1 MiB); trim it", path.display(), text.len())));
    }
    Ok(text)
}

#[cfg(test)]
mod tests;
