//! The Job's pure parts: the suites chosen, the RBAC derived, the objects made.

use std::time::Duration;

use serde_json::Value;

use super::*;

fn plan(disruptive: bool) -> JobPlan {
    JobPlan {
        name: "zk-chaos-job-20261207-060000-ab12".into(),
        namespace: "zk-chaos-job-20261207-060000-ab12".into(),
        create_namespace: true,
        image: "zk-chaos/zk-chaos:0.1.0".into(),
        suites: select_suites(&[], disruptive).unwrap(),
        disruptive,
        manifest: None,
        kinds: ["Service", "Service", "PodDisruptionBudget", "StatefulSet"].map(String::from).to_vec(),
        config: None,
        image_map: vec![],
        storage_class: None,
        fail_fast: false,
        collect_wait: Duration::from_secs(600),
        timeout: Duration::from_secs(7200),
    }
}

/// `(group, resource) -> verbs` of rules, flattened.
fn grants(rules: &[Rule]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for r in rules {
        for res in &r.resources {
            for v in r.verbs {
                out.push((r.group.to_string(), res.clone(), v.to_string()));
            }
        }
    }
    out
}

fn has(rules: &[Rule], group: &str, resource: &str, verb: &str) -> bool {
    grants(rules).iter().any(|(g, r, v)| g == group && r == resource && v == verb)
}

#[test]
fn without_the_opt_in_only_non_disruptive_suites_run_and_a_named_disruptive_one_is_refused() {
    let quiet = select_suites(&[], false).unwrap();
    assert_eq!(quiet, ["manifest", "conformance", "integrity", "node-failure"]);
    let all = select_suites(&[], true).unwrap();
    assert!(all.contains(&"maintenance".to_string()) && all.contains(&"process-failure".to_string()), "{all:?}");
    let err = select_suites(&["maintenance".into()], false).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("--allow-disruption=CONTEXT"), "{err}");
    assert_eq!(select_suites(&["manifest".into(), "conformance".into()], false).unwrap(), ["manifest", "conformance"]);
    assert_eq!(select_suites(&["no-such".into()], false).unwrap_err().exit_code(), 2);
}

#[test]
fn rbac_is_namespaced_writes_and_cluster_reads_and_disruption_adds_cordons_evictions_and_ephemeral_containers() {
    let kinds = plan(false).kinds;
    let (ns, cluster) = rules(&kinds, false, "ns1");
    // The manifest's kinds are applied and deleted in the namespace, nothing else is written.
    for (g, r) in [("", "services"), ("policy", "poddisruptionbudgets"), ("apps", "statefulsets")] {
        for v in ["get", "create", "patch", "delete"] {
            assert!(has(&ns, g, r, v), "{g}/{r} {v}");
        }
    }
    assert!(!has(&ns, "", "configmaps", "create"), "the reference manifest has no ConfigMap");
    assert!(has(&ns, "", "pods/exec", "create") && has(&ns, "", "pods/portforward", "create") && has(&ns, "", "pods/log", "get"));
    assert!(!has(&ns, "", "pods", "delete") && !has(&ns, "", "pods/eviction", "create") && !has(&ns, "", "pods/ephemeralcontainers", "patch"));
    // The cluster is only read: nodes, volumes, and only its own namespace.
    for (_, _, v) in grants(&cluster) {
        assert!(v == "get" || v == "list", "{v} on the cluster without the opt-in: {cluster:#?}");
    }
    let namespaces = cluster.iter().find(|r| r.resources == ["namespaces"]).unwrap();
    assert_eq!(namespaces.names, ["ns1"]);

    let (ns, cluster) = rules(&kinds, true, "ns1");
    assert!(has(&ns, "", "pods/eviction", "create") && has(&ns, "", "pods/ephemeralcontainers", "patch"));
    assert!(has(&ns, "", "pods", "delete"), "the upgrade suite's forced rollback");
    assert!(has(&cluster, "", "nodes", "patch"));
    assert!(!grants(&cluster).iter().any(|(_, r, v)| r == "namespaces" && v != "get"), "never a namespace written");
}

#[test]
fn a_manifest_with_its_own_rbac_and_config_maps_gets_those_kinds_and_may_grant_what_its_roles_say() {
    let kinds = ["ConfigMap", "ServiceAccount", "Role", "RoleBinding", "StatefulSet"].map(String::from).to_vec();
    let (ns, _) = rules(&kinds, false, "ns1");
    assert!(has(&ns, "", "configmaps", "create") && has(&ns, "", "serviceaccounts", "delete"));
    assert!(has(&ns, "rbac.authorization.k8s.io", "roles", "create") && has(&ns, "rbac.authorization.k8s.io", "rolebindings", "patch"));
    assert!(has(&ns, "rbac.authorization.k8s.io", "roles", "bind") && has(&ns, "rbac.authorization.k8s.io", "roles", "escalate"));
    let (plain, _) = rules(&plan(false).kinds, false, "ns1");
    assert!(!has(&plain, "rbac.authorization.k8s.io", "roles", "bind"));
}

#[test]
fn the_job_runs_the_pod_command_with_its_service_account_results_in_an_empty_dir_and_no_privileges() {
    let mut p = plan(false);
    p.manifest = Some("kind: StatefulSet\n".into());
    p.image_map = vec!["zookeeper:3.9=zk-chaos/zookeeper-official:3.9.5".into()];
    let docs = documents(&p);
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Namespace", "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Job"]);
    for d in &docs {
        assert_eq!(d["metadata"]["name"], p.name.as_str(), "{d}");
        assert_eq!(d["metadata"]["labels"][JOB_LABEL], p.name.as_str(), "{d}");
        let namespaced = !matches!(d["kind"].as_str(), Some("Namespace" | "ClusterRole" | "ClusterRoleBinding"));
        assert_eq!(d["metadata"].get("namespace").and_then(Value::as_str), namespaced.then_some(p.namespace.as_str()), "{d}");
    }
    let job = docs.last().unwrap();
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 7800);
    assert_eq!(pod["serviceAccountName"], p.name.as_str());
    assert_eq!(pod["restartPolicy"], "Never");
    let c = &pod["containers"][0];
    assert_eq!(c["image"], "zk-chaos/zk-chaos:0.1.0");
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    let command: Vec<&str> = c["command"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let joined = command.join(" ");
    assert!(joined.starts_with(&format!("zk-chaos job-pod --platform kube --namespace {} --results /results --suite manifest", p.namespace)), "{joined}");
    assert!(joined.contains("--manifest /input/manifest.yaml") && joined.contains("--image-map zookeeper:3.9=zk-chaos/zookeeper-official:3.9.5"), "{joined}");
    assert!(!joined.contains("--allow-disruption") && !joined.contains("--config"), "{joined}");
    assert!(joined.ends_with("--collect-wait 10m"), "{joined}");
    let mounts: Vec<&str> = c["volumeMounts"].as_array().unwrap().iter().map(|m| m["mountPath"].as_str().unwrap()).collect();
    assert_eq!(mounts, ["/results", "/tmp", "/input"]);
    let role_binding = &docs[3];
    assert_eq!(role_binding["subjects"][0]["namespace"], p.namespace.as_str());
    assert_eq!(docs[6]["data"]["manifest.yaml"], "kind: StatefulSet\n");
}

#[test]
fn an_existing_namespace_gets_no_namespace_object_and_disruption_passes_the_in_cluster_context() {
    let mut p = plan(true);
    p.create_namespace = false;
    p.namespace = "zk".into();
    let docs = documents(&p);
    assert!(docs.iter().all(|d| d["kind"] != "Namespace" && d["kind"] != "ConfigMap"), "{docs:#?}");
    let args = pod_args(&p).join(" ");
    assert!(args.contains("--namespace zk ") && args.contains("--allow-disruption in-cluster") && args.contains("--suite maintenance"), "{args}");
    let yaml = render(&docs).unwrap();
    assert_eq!(yaml.matches("---\n").count(), docs.len());
    assert!(yaml.contains("kind: Job") && yaml.contains("resourceNames:"), "{yaml}");
}

#[test]
fn a_directory_or_unreadable_input_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let err = read_input(dir.path(), "--manifest").unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("is a directory") && err.to_string().contains("--manifest -"), "{err}");
    assert_eq!(read_input(&dir.path().join("missing.yaml"), "--manifest").unwrap_err().exit_code(), 2);
}
