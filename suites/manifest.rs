//! `manifest` (the objects of "Creating a ZooKeeper ensemble", TUTORIAL.md 1, and what "Testing for
//! readiness", "Tolerating Node failure" and "Surviving maintenance", 13-15, owe to them): what the
//! objects alone decide, judged on every platform. On Docker the manifest's objects are judged
//! (Docker has no scheduler or budget, but a cluster would); on Kubernetes the live objects, as
//! the API server has them (defaults applied). Each failure names the field and the fix.
//!
//! Every rule is a pure function of the objects (JSON), unit-tested against the reference
//! manifest and a broken variant of it.

use anyhow::{anyhow, bail, ensure};
use async_trait::async_trait;
use serde_json::{Map, Value};

use super::{walkthrough, About, Suite, SuiteCtx};
use crate::platform::{Capability, PlatformKind};
use zk_chaos_core::manifest::selects;

pub struct ManifestSuite;

/// The flags `start-zookeeper` accepts ("Ensuring consistent configuration" shows them; TUTORIAL.md 1;
/// fixtures/image/start-zookeeper).
pub const START_FLAGS: &[&str] = &[
    "servers",
    "data_dir",
    "data_log_dir",
    "conf_dir",
    "client_port",
    "election_port",
    "server_port",
    "tick_time",
    "init_limit",
    "sync_limit",
    "heap",
    "max_client_cnxns",
    "snap_retain_count",
    "purge_interval",
    "max_session_timeout",
    "min_session_timeout",
    "log_level",
];

#[async_trait]
impl Suite for ManifestSuite {
    fn about(&self) -> &'static About {
        &About {
            name: "manifest",
            sections: &[&walkthrough::CREATING_AN_ENSEMBLE, &walkthrough::TESTING_FOR_READINESS, &walkthrough::TOLERATING_NODE_FAILURE, &walkthrough::SURVIVING_MAINTENANCE],
            summary: "what the objects decide: anti-affinity selects the pods, the budget leaves a quorum, the Services select the pods, probes that can fail, known start flags",
            needs: &[],
            disruptive: false,
            workload: false,
        }
    }

    /// On a cluster the live objects are judged, so they must exist; the manifest needs nothing.
    fn needs_ensemble(&self, platform: PlatformKind) -> bool {
        // Live objects are judged where an API server holds them; elsewhere the file alone decides.
        platform.can(&[Capability::LiveObjects])
    }

    async fn run(&self, ctx: &mut SuiteCtx) -> anyhow::Result<()> {
        let p = ctx.platform.clone();
        let (docs, whose) = match p.cluster() {
            Some(c) => (c.live_objects().await?, "live"),
            None => (p.manifest().documents.clone(), "manifest's"),
        };
        let objects = Objects::of(&docs)?;
        for (rule, verdict) in judge(&objects, p.kind()) {
            ctx.check(&format!("{whose} objects: {rule}"), async { verdict }).await;
        }
        for (rule, why) in not_applicable(&objects) {
            ctx.skip(&format!("{whose} objects: {rule}"), why);
        }
        Ok(())
    }
}

/// The objects of a deployment, found by kind.
pub struct Objects<'a> {
    pub statefulset: &'a Value,
    pub services: Vec<&'a Value>,
    pub pdb: Option<&'a Value>,
}

impl<'a> Objects<'a> {
    pub fn of(docs: &'a [Value]) -> anyhow::Result<Objects<'a>> {
        let statefulset = docs.iter().find(|d| d["kind"] == "StatefulSet").ok_or_else(|| anyhow!("no StatefulSet among the objects"))?;
        Ok(Objects { statefulset, services: docs.iter().filter(|d| d["kind"] == "Service").collect(), pdb: docs.iter().find(|d| d["kind"] == "PodDisruptionBudget") })
    }

    fn labels(&self) -> Map<String, Value> {
        self.statefulset.pointer("/spec/template/metadata/labels").and_then(Value::as_object).cloned().unwrap_or_default()
    }

    fn replicas(&self) -> i64 {
        self.statefulset.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)
    }

    fn container(&self) -> &'a Value {
        self.statefulset.pointer("/spec/template/spec/containers/0").unwrap_or(&Value::Null)
    }
}

/// The rule of start-zookeeper's flags, which applies only where the container runs it.
pub const START_FLAGS_RULE: &str = "every start-zookeeper flag is one it knows, and --servers equals replicas";

/// Whether the server container's command runs start-zookeeper.
pub fn uses_start_zookeeper(o: &Objects) -> bool {
    command_words(o.container()).iter().any(|w| w.ends_with("start-zookeeper"))
}

/// The rules that do not apply to these objects, with why: recorded as skipped.
pub fn not_applicable(o: &Objects) -> Vec<(&'static str, String)> {
    if uses_start_zookeeper(o) {
        Vec::new()
    } else {
        vec![(START_FLAGS_RULE, "the container does not run start-zookeeper: its flags are the walkthrough image's, and the server's configuration is judged by conformance against the deployment's own source".into())]
    }
}

/// Every rule, named, with its verdict.
pub fn judge(o: &Objects, platform: PlatformKind) -> Vec<(&'static str, anyhow::Result<String>)> {
    let mut out = vec![
        ("a required podAntiAffinity term on kubernetes.io/hostname selects the pods", anti_affinity(o)),
        ("the PodDisruptionBudget selects exactly the members and leaves a quorum", budget(o)),
        ("the headless Service is the StatefulSet's serviceName and selects the pods", headless(o)),
        ("a client Service selects the pods on the client port", client_service(o)),
        ("readiness and liveness probes run a check that can fail, with sane timing", probes(o)),
    ];
    // start-zookeeper's rules are the walkthrough image's: they apply where its command runs it.
    if uses_start_zookeeper(o) {
        out.push((START_FLAGS_RULE, start_flags(o)));
    }
    if platform == PlatformKind::Kind {
        out.push(("the image is not pulled from a registry (kind has none here)", pull_policy(o)));
    }
    out
}

fn is_empty_selector(selector: &Value) -> bool {
    let none = |k: &str| selector.get(k).is_none_or(|v| v.as_object().is_some_and(Map::is_empty) || v.as_array().is_some_and(Vec::is_empty) || v.is_null());
    none("matchLabels") && none("matchExpressions")
}

fn anti_affinity(o: &Objects) -> anyhow::Result<String> {
    super::node_failure::anti_affinity(o.statefulset).map_err(|e| {
        anyhow!(
            "{e}. Fix: spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution needs a term with topologyKey kubernetes.io/hostname whose labelSelector matches the pod labels {}",
            Value::Object(o.labels())
        )
    })
}

/// A quantity of members from an int-or-percent field, rounded up as the disruption controller does.
fn scaled(v: &Value, replicas: i64) -> anyhow::Result<i64> {
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| anyhow!("{n} is not a whole number")),
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(p) => Ok((p * replicas + 99) / 100),
            None => s.parse().map_err(|_| anyhow!("{s:?} is neither a number nor a percentage")),
        },
        other => bail!("{other} is neither a number nor a percentage"),
    }
}

fn budget(o: &Objects) -> anyhow::Result<String> {
    let n = o.replicas();
    let quorum = n / 2 + 1;
    let spare = n - quorum;
    let fix = format!("Fix: a policy/v1 PodDisruptionBudget whose spec.selector.matchLabels are the pod labels {} and spec.maxUnavailable: {spare}", Value::Object(o.labels()));
    let Some(pdb) = o.pdb else { bail!("there is no PodDisruptionBudget: a drain may evict a majority of the {n} servers at once. {fix}") };
    let name = pdb.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?");
    let selector = pdb.pointer("/spec/selector").cloned().unwrap_or(Value::Null);
    ensure!(!selector.is_null(), "PodDisruptionBudget {name} has no spec.selector: it protects no pod. {fix}");
    ensure!(!is_empty_selector(&selector), "PodDisruptionBudget {name} has an empty spec.selector: it counts every pod of the namespace, not only the members. {fix}");
    ensure!(
        selects(&selector, &o.labels()),
        "PodDisruptionBudget {name}'s spec.selector {selector} does not select the pods (labels {}): it protects none of them. {fix}",
        Value::Object(o.labels())
    );
    // As narrow as the StatefulSet's own selector: every label it requires, the budget requires too.
    let sts_sel = o.statefulset.pointer("/spec/selector/matchLabels").and_then(Value::as_object).cloned().unwrap_or_default();
    let pdb_sel = selector.get("matchLabels").and_then(Value::as_object).cloned().unwrap_or_default();
    let wider: Vec<String> = sts_sel.iter().filter(|(k, v)| pdb_sel.get(*k) != Some(v) && selector.get("matchExpressions").is_none()).map(|(k, v)| format!("{k}={v}")).collect();
    ensure!(wider.is_empty(), "PodDisruptionBudget {name}'s selector does not require {}: it may count pods that are not members. {fix}", wider.join(", "));
    let spec = &pdb["spec"];
    match (spec.get("maxUnavailable"), spec.get("minAvailable")) {
        (Some(_), Some(_)) => bail!("PodDisruptionBudget {name} sets both maxUnavailable and minAvailable (the API server refuses that). {fix}"),
        (Some(m), None) => {
            let m = scaled(m, n)?;
            ensure!(m <= spare, "PodDisruptionBudget {name} allows {m} of {n} members to be down at once (maxUnavailable); a quorum of {quorum} survives only {spare}. {fix}");
            Ok(format!("{name}: maxUnavailable {m} of {n}, a quorum of {quorum} kept"))
        }
        (None, Some(k)) => {
            let k = scaled(k, n)?;
            ensure!(k >= quorum, "PodDisruptionBudget {name} keeps only {k} of {n} members available (minAvailable); a quorum needs {quorum}. {fix}");
            Ok(format!("{name}: minAvailable {k} of {n}, a quorum of {quorum} kept"))
        }
        (None, None) => bail!("PodDisruptionBudget {name} sets neither maxUnavailable nor minAvailable. {fix}"),
    }
}

fn service_selects(svc: &Value, labels: &Map<String, Value>) -> bool {
    // A Service's selector is a plain map; none (or an empty one) gives it no endpoints.
    svc.pointer("/spec/selector").and_then(Value::as_object).is_some_and(|sel| !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

fn headless(o: &Objects) -> anyhow::Result<String> {
    let want = o.statefulset.pointer("/spec/serviceName").and_then(Value::as_str).unwrap_or("");
    let labels = o.labels();
    let fix = format!("Fix: a Service named {want} with clusterIP: None and spec.selector {}", Value::Object(labels.clone()));
    ensure!(!want.is_empty(), "the StatefulSet has no spec.serviceName: its pods get no stable DNS names. {fix}");
    let svc = o
        .services
        .iter()
        .find(|s| s.pointer("/metadata/name").and_then(Value::as_str) == Some(want))
        .ok_or_else(|| anyhow!("the StatefulSet's serviceName is {want}, but no Service of that name is among the objects: zk-0.{want} will not resolve. {fix}"))?;
    ensure!(
        svc.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None"),
        "Service {want} is not headless (spec.clusterIP is not None): the pods get no per-pod DNS records. {fix}"
    );
    ensure!(
        service_selects(svc, &labels),
        "Service {want}'s spec.selector {} does not select the pods (labels {}): the members cannot find each other by name. {fix}",
        svc.pointer("/spec/selector").unwrap_or(&Value::Null),
        Value::Object(labels.clone())
    );
    Ok(format!("{want}: headless, selecting {}", Value::Object(labels)))
}

fn client_service(o: &Objects) -> anyhow::Result<String> {
    let labels = o.labels();
    let port = o.container()["ports"].as_array().and_then(|ps| ps.iter().find(|p| p["name"] == "client").or(ps.first())).and_then(|p| p["containerPort"].as_i64()).unwrap_or(2181);
    let headless = o.statefulset.pointer("/spec/serviceName").and_then(Value::as_str).unwrap_or("");
    let on_port: Vec<&&Value> = o
        .services
        .iter()
        .filter(|s| s.pointer("/metadata/name").and_then(Value::as_str) != Some(headless))
        .filter(|s| s["spec"]["ports"].as_array().is_some_and(|ps| ps.iter().any(|p| p["port"].as_i64() == Some(port) || p["targetPort"].as_i64() == Some(port))))
        .collect();
    let name = |s: &Value| s.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?").to_string();
    let fix = format!("Fix: a Service with port {port} and spec.selector {}", Value::Object(labels.clone()));
    match on_port.iter().find(|s| service_selects(s, &labels)) {
        Some(s) => Ok(format!("{} on port {port}", name(s))),
        None if on_port.is_empty() => bail!("no Service but the headless one serves port {port}: clients have no stable address. {fix}"),
        None => {
            bail!("Service {} serves port {port} but its spec.selector does not select the pods (labels {}): it has no endpoints. {fix}", name(on_port[0]), Value::Object(labels))
        }
    }
}

/// What a probe's exec command reduces to when it can never fail (`true`, `exit 0`, ...). A
/// pipeline exits as its last command does: `echo ruok | nc localhost 2181 | grep imok` fails
/// when grep finds no `imok`, so only its last stage is judged.
fn never_fails(argv: &[&str]) -> bool {
    let cmd = match argv {
        [sh, "-c", script] if sh.ends_with("sh") => last_stage(script.trim()),
        _ => return argv.first().is_some_and(|c| matches!(*c, "true" | "/bin/true" | "/usr/bin/true")),
    };
    matches!(cmd, "" | "true" | "/bin/true" | "/usr/bin/true" | ":" | "exit 0")
        || cmd.starts_with("echo ")
        || cmd.ends_with("|| true")
        || cmd.ends_with("; true")
        || cmd.ends_with("; exit 0")
}

/// The last command of a shell pipeline (split at `|`, not at `||`); the script itself without one.
fn last_stage(script: &str) -> &str {
    let bytes = script.as_bytes();
    let mut cut = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let single = b == b'|' && bytes.get(i + 1) != Some(&b'|') && (i == 0 || bytes[i - 1] != b'|');
        if single {
            cut = i + 1;
        }
    }
    script[cut..].trim()
}

fn probe(c: &Value, which: &str) -> anyhow::Result<String> {
    let field = format!("spec.template.spec.containers[0].{which}");
    let p = c.get(which).filter(|p| !p.is_null()).ok_or_else(|| {
        anyhow!(
            "{field} is absent: {}. Fix: an exec probe that asks the server, as `sh -c \"echo ruok | nc localhost 2181 | grep imok\"` or the image's own health check",
            if which == "livenessProbe" { "a hung server is never restarted" } else { "clients are sent to servers that do not serve" }
        )
    })?;
    let handler = if let Some(argv) = p.pointer("/exec/command").and_then(Value::as_array) {
        let argv: Vec<&str> = argv.iter().filter_map(Value::as_str).collect();
        ensure!(
            !never_fails(&argv),
            "{field} runs {argv:?}, which succeeds whether or not the server serves. Fix: a command that fails when it does not, as `sh -c \"echo ruok | nc localhost 2181 | grep imok\"` or the image's own health check"
        );
        format!("exec {argv:?}")
    } else if p.get("tcpSocket").is_some() || p.get("httpGet").is_some() || p.get("grpc").is_some() {
        "a network check".to_string()
    } else {
        bail!("{field} has no handler (exec, tcpSocket, httpGet or grpc)");
    };
    let num = |k: &str, default: i64| p.get(k).and_then(Value::as_i64).unwrap_or(default);
    let (period, timeout, failures, successes, delay) =
        (num("periodSeconds", 10), num("timeoutSeconds", 1), num("failureThreshold", 3), num("successThreshold", 1), num("initialDelaySeconds", 0));
    ensure!(period >= 1 && timeout >= 1 && failures >= 1 && successes >= 1 && delay >= 0, "{field}: periodSeconds {period}, timeoutSeconds {timeout}, failureThreshold {failures}, successThreshold {successes}, initialDelaySeconds {delay}: each must be at least 1 (the delay at least 0)");
    ensure!(timeout <= period, "{field}: timeoutSeconds {timeout} is longer than periodSeconds {period}: probes overlap. Fix: timeoutSeconds at most periodSeconds");
    if which == "livenessProbe" {
        ensure!(successes == 1, "{field}: successThreshold {successes}; a liveness probe's must be 1 (the API server refuses anything else)");
    }
    Ok(format!("{which}: {handler}, every {period}s, timeout {timeout}s, {failures} failures"))
}

fn probes(o: &Objects) -> anyhow::Result<String> {
    let c = o.container();
    let ready = probe(c, "readinessProbe")?;
    let live = probe(c, "livenessProbe")?;
    Ok(format!("{ready}; {live}"))
}

/// The `--name=value` words of the container's command and args.
fn command_words(c: &Value) -> Vec<String> {
    let mut words = Vec::new();
    for part in ["command", "args"] {
        for w in c[part].as_array().into_iter().flatten().filter_map(Value::as_str) {
            words.extend(w.split_whitespace().map(str::to_string));
        }
    }
    words
}

fn start_flags(o: &Objects) -> anyhow::Result<String> {
    let words = command_words(o.container());
    let Some(at) = words.iter().position(|w| w.ends_with("start-zookeeper")) else {
        bail!("the container's command does not run start-zookeeper (it runs {:?}): the servers' zoo.cfg and myid are not written from the manifest", words.join(" "));
    };
    let flags: Vec<&String> = words[at + 1..].iter().take_while(|w| w.starts_with("--")).collect();
    let mut unknown = Vec::new();
    let mut servers = None;
    for f in &flags {
        let name = f.trim_start_matches("--").split('=').next().unwrap_or("");
        if !START_FLAGS.contains(&name) {
            unknown.push(f.to_string());
        }
        if name == "servers" {
            servers = f.split_once('=').map(|(_, v)| v.trim_matches('"').to_string());
        }
    }
    ensure!(
        unknown.is_empty(),
        "start-zookeeper does not know {}: a misspelled flag is ignored or refused, never applied. Fix: one of --{}",
        unknown.join(", "),
        START_FLAGS.join(", --")
    );
    let n = o.replicas();
    match servers {
        Some(s) if s == n.to_string() => Ok(format!("{} flags, all known; --servers={s} for {n} replicas", flags.len())),
        Some(s) => bail!("--servers={s} but spec.replicas is {n}: the member list in zoo.cfg does not match the pods. Fix: --servers={n}"),
        None => bail!("start-zookeeper gets no --servers flag: each member would run standalone. Fix: --servers={n}"),
    }
}

fn pull_policy(o: &Objects) -> anyhow::Result<String> {
    let c = o.container();
    let image = c["image"].as_str().unwrap_or("");
    let policy =
        c["imagePullPolicy"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| if image.ends_with(":latest") || !image.contains(':') { "Always".into() } else { "IfNotPresent".into() });
    ensure!(
        policy != "Always",
        "imagePullPolicy is {policy} for {image}{}: the kubelet will try a registry and the image loaded into kind is never used. Fix: imagePullPolicy: IfNotPresent (and a tag other than latest)",
        if c.get("imagePullPolicy").is_none() { " (the default for an untagged or :latest image)" } else { "" }
    );
    Ok(format!("{image}, {policy}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reference() -> Vec<Value> {
        zk_chaos_core::manifest::Manifest::load(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/zookeeper.yaml"))).unwrap().documents
    }

    fn sts(docs: &mut [Value]) -> &mut Value {
        docs.iter_mut().find(|d| d["kind"] == "StatefulSet").unwrap()
    }

    fn kind_doc<'a>(docs: &'a mut [Value], kind: &str, name: &str) -> &'a mut Value {
        docs.iter_mut().find(|d| d["kind"] == kind && d["metadata"]["name"] == name).unwrap()
    }

    fn verdicts(docs: &[Value], platform: PlatformKind) -> Vec<(&'static str, Result<String, String>)> {
        judge(&Objects::of(docs).unwrap(), platform).into_iter().map(|(n, v)| (n, v.map_err(|e| e.to_string()))).collect()
    }

    /// The only failing rule and its message.
    fn only_failure(docs: &[Value], platform: PlatformKind) -> (&'static str, String) {
        let failed: Vec<_> = verdicts(docs, platform).into_iter().filter_map(|(n, v)| v.err().map(|e| (n, e))).collect();
        assert_eq!(failed.len(), 1, "{failed:#?}");
        failed.into_iter().next().unwrap()
    }

    #[test]
    fn the_reference_manifest_passes_every_rule_on_every_platform() {
        for platform in PlatformKind::ALL {
            for (rule, v) in verdicts(&reference(), platform) {
                assert!(v.is_ok(), "{platform}: {rule}: {v:?}");
            }
        }
    }

    #[test]
    fn each_broken_fixture_fails_exactly_its_rule() {
        let cases = [
            ("anti-affinity-selects-nothing.yaml", "podAntiAffinity", "selects the pods' own labels"),
            ("no-pdb.yaml", "PodDisruptionBudget", "there is no PodDisruptionBudget"),
            ("pdb-allows-two.yaml", "PodDisruptionBudget", "allows 2 of 3 members to be down at once"),
            ("headless-selects-nothing.yaml", "headless Service", "does not select the pods"),
            ("probe-never-fails.yaml", "probes", "succeeds whether or not the server serves"),
            ("no-replication.yaml", "start-zookeeper flag", "--servers=1 but spec.replicas is 3"),
        ];
        for (file, rule, message) in cases {
            let docs = zk_chaos_core::manifest::Manifest::load(&std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/broken")).join(file)).unwrap().documents;
            let (failed, why) = only_failure(&docs, PlatformKind::Docker);
            assert!(failed.contains(rule) && why.contains(message), "{file}: {failed}: {why}");
            assert!(why.contains("Fix: "), "{file}: {why}");
        }
    }

    #[test]
    fn budget_rules_count_quorum_with_numbers_and_percentages() {
        let mut docs = reference();
        let set = |docs: &mut Vec<Value>, spec: Value| kind_doc(docs, "PodDisruptionBudget", "zk-pdb")["spec"] = spec;
        for (spec, ok) in [
            (json!({"selector": {"matchLabels": {"app": "zk"}}, "minAvailable": 2}), true),
            (json!({"selector": {"matchLabels": {"app": "zk"}}, "minAvailable": 1}), false),
            (json!({"selector": {"matchLabels": {"app": "zk"}}, "minAvailable": "51%"}), true),
            (json!({"selector": {"matchLabels": {"app": "zk"}}, "maxUnavailable": "34%"}), false),
            (json!({"selector": {"matchLabels": {"app": "zk"}}, "maxUnavailable": "33%"}), true),
            (json!({"selector": {"matchLabels": {"app": "zk"}}, "maxUnavailable": 1, "minAvailable": 2}), false),
            (json!({"selector": {"matchLabels": {"app": "zk"}}}), false),
            (json!({"selector": {}, "maxUnavailable": 1}), false),
            (json!({"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["zk"]}]}, "maxUnavailable": 1}), true),
            (json!({"maxUnavailable": 1}), false),
        ] {
            set(&mut docs, spec.clone());
            assert_eq!(budget(&Objects::of(&docs).unwrap()).is_ok(), ok, "{spec}: {:?}", budget(&Objects::of(&docs).unwrap()));
        }
    }

    #[test]
    fn service_rules() {
        let mut docs = reference();
        kind_doc(&mut docs, "Service", "zk-hs")["spec"]["clusterIP"] = json!("10.0.0.1");
        assert!(only_failure(&docs, PlatformKind::Docker).1.contains("is not headless"));
        let mut docs = reference();
        sts(&mut docs)["spec"]["serviceName"] = json!("zk-headless");
        assert!(only_failure(&docs, PlatformKind::Docker).1.contains("no Service of that name"));
        let mut docs = reference();
        kind_doc(&mut docs, "Service", "zk-cs")["spec"]["selector"] = json!({"app": "zk", "tier": "db"});
        let (rule, why) = only_failure(&docs, PlatformKind::Docker);
        assert!(rule.contains("client Service") && why.contains("Service zk-cs serves port 2181 but its spec.selector does not select the pods"), "{why}");
        let mut docs = reference();
        docs.retain(|d| d["metadata"]["name"] != "zk-cs");
        assert!(only_failure(&docs, PlatformKind::Docker).1.contains("no Service but the headless one serves port 2181"));
    }

    #[test]
    fn probe_rules() {
        let probe_of = |docs: &mut Vec<Value>, which: &str| -> Value { sts(docs)["spec"]["template"]["spec"]["containers"][0][which].take() };
        let mut docs = reference();
        probe_of(&mut docs, "readinessProbe");
        assert!(only_failure(&docs, PlatformKind::Docker).1.contains("readinessProbe is absent"));
        let mut docs = reference();
        let mut live = probe_of(&mut docs, "livenessProbe");
        live["timeoutSeconds"] = json!(20);
        sts(&mut docs)["spec"]["template"]["spec"]["containers"][0]["livenessProbe"] = live.clone();
        assert!(only_failure(&docs, PlatformKind::Docker).1.contains("timeoutSeconds 20 is longer than periodSeconds 10"));
        live["timeoutSeconds"] = json!(5);
        live["exec"]["command"] = json!(["sh", "-c", "zookeeper-ready 2181 || true"]);
        sts(&mut docs)["spec"]["template"]["spec"]["containers"][0]["livenessProbe"] = live;
        assert!(only_failure(&docs, PlatformKind::Docker).1.contains("succeeds whether or not"));
        assert!(!never_fails(&["sh", "-c", "zookeeper-ready 2181"]));
        // A pipeline exits as its last stage: grep fails when the server did not say imok.
        assert!(!never_fails(&["sh", "-c", "echo ruok | nc localhost 2181 | grep imok"]));
        assert!(never_fails(&["sh", "-c", "echo ruok | nc localhost 2181 | true"]));
        assert!(never_fails(&["sh", "-c", "echo ruok | nc localhost 2181 || true"]), "|| is no pipe");
        assert!(never_fails(&["sh", "-c", "echo imok"]));
        assert!(never_fails(&["/bin/true"]) && never_fails(&["sh", "-c", "exit 0"]));
    }

    #[test]
    fn start_zookeeper_rules_apply_only_where_it_runs() {
        let mut docs = reference();
        sts(&mut docs)["spec"]["template"]["spec"]["containers"][0]["command"] = json!(["/docker-entrypoint.sh", "zkServer.sh", "start-foreground"]);
        let all = verdicts(&docs, PlatformKind::Docker);
        assert!(all.iter().all(|(rule, v)| *rule != START_FLAGS_RULE && v.is_ok()), "{all:?}");
        let o = Objects::of(&docs).unwrap();
        assert_eq!(not_applicable(&o).len(), 1);
        assert!(not_applicable(&Objects::of(&reference()).unwrap()).is_empty());
    }

    #[test]
    fn a_misspelled_flag_and_the_pull_policy_on_kind() {
        let mut docs = reference();
        let c = &mut sts(&mut docs)["spec"]["template"]["spec"]["containers"][0];
        let cmd = c["command"].to_string().replace("--tick_time=", "--tick_tme=");
        c["command"] = serde_json::from_str(&cmd).unwrap();
        let (rule, why) = only_failure(&docs, PlatformKind::Docker);
        assert!(rule.contains("flag") && why.contains("start-zookeeper does not know --tick_tme=2000"), "{why}");

        let mut docs = reference();
        sts(&mut docs)["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("Always");
        assert!(verdicts(&docs, PlatformKind::Docker).iter().all(|(_, v)| v.is_ok()), "Docker pulls nothing");
        let (rule, why) = only_failure(&docs, PlatformKind::Kind);
        assert!(rule.contains("registry") && why.contains("imagePullPolicy is Always") && why.contains("Fix: imagePullPolicy: IfNotPresent"), "{why}");
    }
}
