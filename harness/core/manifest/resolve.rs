//! What a kubelet computes from the pod template and the objects beside it before a container
//! starts: the environment (`envFrom`, then `env`, with ConfigMap and Secret keys, fieldRefs and
//! `$(VAR)` references), `$(VAR)` in command and args, and the files of configMap and secret volumes.
//!
//! # Caveats
//! Only the manifest's own ConfigMaps and Secrets exist here (the Docker platform has no others);
//! a reference to another one is refused on Docker before the run (see `Manifest::docker_unsupported`).
//! `envFrom` keys that are not valid variable names are skipped, as the kubelet skips them.

use std::collections::BTreeMap;

use super::pod::{ConfigVolume, EnvFrom, EnvValue, EnvVar};
use super::Manifest;

/// The ConfigMaps' and Secrets' data by name (a ConfigMap's `binaryData` and a Secret's `stringData` included).
#[derive(Debug, Clone, Default)]
pub struct Objects {
    pub config_maps: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    pub secrets: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

impl Objects {
    pub fn of(m: &Manifest) -> Objects {
        let mut o = Objects::default();
        for c in &m.config_maps {
            let mut data: BTreeMap<String, Vec<u8>> = c.data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect();
            data.extend(c.binary_data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())));
            o.config_maps.insert(c.metadata.name.clone().unwrap_or_default(), data);
        }
        for s in &m.secrets {
            let mut data: BTreeMap<String, Vec<u8>> = s.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect();
            data.extend(s.string_data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes())));
            o.secrets.insert(s.metadata.name.clone().unwrap_or_default(), data);
        }
        o
    }

    fn get(&self, secret: bool, name: &str) -> Option<&BTreeMap<String, Vec<u8>>> {
        if secret {
            self.secrets.get(name)
        } else {
            self.config_maps.get(name)
        }
    }
}

fn kind(secret: bool) -> &'static str {
    if secret {
        "Secret"
    } else {
        "ConfigMap"
    }
}

/// What the Downward API gives a container before it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct PodFacts {
    pub name: String,
    pub namespace: String,
    pub node_name: String,
    pub service_account: String,
}

/// The environment in the kubelet's order: `envFrom` first, then `env` (a later name replaces an
/// earlier one), `$(VAR)` in a value expanded from the variables before it.
///
/// # Errors
/// A ConfigMap, Secret or key that is missing and not optional (Kubernetes: CreateContainerConfigError).
pub fn env(vars: &[EnvVar], from: &[EnvFrom], objects: &Objects, facts: &PodFacts) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    let set = |out: &mut Vec<(String, String)>, name: String, value: String| match out.iter_mut().find(|(n, _)| *n == name) {
        Some(e) => e.1 = value,
        None => out.push((name, value)),
    };
    for f in from {
        let Some(data) = objects.get(f.secret, &f.name) else {
            if f.optional {
                continue;
            }
            return Err(format!("envFrom names {} {}, which does not exist", kind(f.secret), f.name));
        };
        for (k, v) in data {
            let name = format!("{}{k}", f.prefix);
            if valid_name(&name) {
                set(&mut out, name, String::from_utf8_lossy(v).into_owned());
            }
        }
    }
    for v in vars {
        let value = match &v.value {
            EnvValue::Literal(s) => expand(s, &out),
            EnvValue::Field(path) => match path.as_str() {
                "metadata.name" => facts.name.clone(),
                "metadata.namespace" => facts.namespace.clone(),
                "spec.nodeName" => facts.node_name.clone(),
                "spec.serviceAccountName" => facts.service_account.clone(),
                other => return Err(format!("env {}: fieldRef {other} has no value before the container starts", v.name)),
            },
            EnvValue::Key { secret, name, key, optional } => match objects.get(*secret, name).and_then(|d| d.get(key)) {
                Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                None if *optional => continue,
                None => return Err(format!("env {} names key {key} of {} {name}, which does not exist", v.name, kind(*secret))),
            },
        };
        set(&mut out, v.name.clone(), value);
    }
    Ok(out)
}

/// A C-identifier-like name the kubelet accepts from envFrom (letters, digits, `_`, `-`, `.`; not a digit first).
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()) && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// `$(VAR)` replaced by VAR's value when it is defined, `$$` by `$`; anything else kept as written.
pub fn expand(s: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after.strip_prefix('(').and_then(|a| a.split_once(')')) {
            match env.iter().find(|(n, _)| n == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// One file of a configMap or secret volume.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub path: String,
    pub data: Vec<u8>,
    pub mode: u32,
}

/// The files of a configMap or secret volume: its items (key to path, with their mode), else every key.
///
/// # Errors
/// A missing object or item key that is not optional, or an item path that leaves the volume.
pub fn files(v: &ConfigVolume, objects: &Objects) -> Result<Vec<File>, String> {
    let Some(data) = objects.get(v.secret, &v.name) else {
        return if v.optional { Ok(Vec::new()) } else { Err(format!("volume {} names {} {}, which does not exist", v.volume, kind(v.secret), v.name)) };
    };
    if v.items.is_empty() {
        return Ok(data.iter().map(|(k, d)| File { path: k.clone(), data: d.clone(), mode: v.default_mode as u32 }).collect());
    }
    let mut out = Vec::new();
    for (key, path, mode) in &v.items {
        if path.starts_with('/') || path.split('/').any(|p| p == "..") || path.is_empty() {
            return Err(format!("volume {}: item path {path:?} must be relative, without '..'", v.volume));
        }
        match data.get(key) {
            Some(d) => out.push(File { path: path.clone(), data: d.clone(), mode: mode.unwrap_or(v.default_mode) as u32 }),
            None if v.optional => {}
            None => return Err(format!("volume {}: item key {key} is not in {} {}", v.volume, kind(v.secret), v.name)),
        }
    }
    Ok(out)
}

impl Manifest {
    /// The main container's environment of `member` as a kubelet would set it (in `namespace`).
    pub fn resolved_env(&self, member: &str, namespace: &str) -> Result<Vec<(String, String)>, String> {
        let t = self.pod_template();
        env(&t.env_vars, &t.env_from, &Objects::of(self), &self.pod_facts(member, namespace))
    }

    /// What the Downward API says of `member` (`spec.nodeName` is the Docker host's stand-in name on
    /// Docker; a cluster gives its own).
    pub fn pod_facts(&self, member: &str, namespace: &str) -> PodFacts {
        let sa = self.statefulset.spec.as_ref().and_then(|s| s.template.spec.as_ref()).and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".into());
        PodFacts { name: member.to_string(), namespace: namespace.to_string(), node_name: DOCKER_NODE.to_string(), service_account: sa }
    }

    /// References to ConfigMaps, Secrets or keys the manifest does not hold (env, envFrom, volumes).
    pub(crate) fn missing_references(&self) -> Vec<String> {
        let t = self.pod_template();
        let objects = Objects::of(self);
        let facts = self.pod_facts(&format!("{}-0", self.name()), "default");
        let at = format!("StatefulSet {}: spec.template.spec", self.name());
        let mut out = Vec::new();
        let containers = std::iter::once((format!("containers[0] ({})", t.container_name), t.env_vars.clone(), t.env_from.clone()))
            .chain(t.init_containers.iter().enumerate().map(|(i, c)| (format!("initContainers[{i}] ({})", c.name), c.env_vars.clone(), c.env_from.clone())));
        for (which, vars, from) in containers {
            if let Err(e) = env(&vars, &from, &objects, &facts) {
                out.push(format!("{at}.{which}: {e} in the manifest (the Docker platform has only the manifest's ConfigMaps and Secrets)"));
            }
        }
        for v in &t.config_volumes {
            if let Err(e) = files(v, &objects) {
                out.push(format!("{at}.volumes: {e} in the manifest (the Docker platform has only the manifest's ConfigMaps and Secrets)"));
            }
        }
        out
    }
}

/// The one node of the Docker platform, as `spec.nodeName` gives it.
pub const DOCKER_NODE: &str = "docker";

#[cfg(test)]
mod tests {
    use super::*;

    fn objects() -> Objects {
        let mut o = Objects::default();
        o.config_maps.insert("zk-env".into(), BTreeMap::from([("ZOO_TICK_TIME".to_string(), b"2000".to_vec()), ("1bad".to_string(), b"x".to_vec())]));
        o.secrets.insert("zk-auth".into(), BTreeMap::from([("password".to_string(), b"s3cret".to_vec())]));
        o
    }

    fn facts() -> PodFacts {
        PodFacts { name: "zk-1".into(), namespace: "run-ns".into(), node_name: DOCKER_NODE.into(), service_account: "zookeeper".into() }
    }

    fn var(name: &str, value: EnvValue) -> EnvVar {
        EnvVar { name: name.into(), value }
    }

    #[test]
    fn env_is_env_from_then_env_with_references_expanded() {
        let from = [EnvFrom { secret: false, name: "zk-env".into(), prefix: String::new(), optional: false }];
        let vars = [
            var("POD_NAME", EnvValue::Field("metadata.name".into())),
            var("NS", EnvValue::Field("metadata.namespace".into())),
            var("ZOO_TICK_TIME", EnvValue::Literal("3000".into())),
            var("PASSWORD", EnvValue::Key { secret: true, name: "zk-auth".into(), key: "password".into(), optional: false }),
            var("HOST", EnvValue::Literal("$(POD_NAME).zk-hs.$(NS).svc $(UNDEFINED) $$(POD_NAME)".into())),
            var("GONE", EnvValue::Key { secret: false, name: "nope".into(), key: "k".into(), optional: true }),
        ];
        let got = env(&vars, &from, &objects(), &facts()).unwrap();
        let want: Vec<(String, String)> =
            [("ZOO_TICK_TIME", "3000"), ("POD_NAME", "zk-1"), ("NS", "run-ns"), ("PASSWORD", "s3cret"), ("HOST", "zk-1.zk-hs.run-ns.svc $(UNDEFINED) $(POD_NAME)")]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
        assert_eq!(got, want, "env replaces envFrom's value in place; an invalid envFrom key is skipped; an optional missing key sets nothing");
    }

    #[test]
    fn a_prefix_and_missing_objects() {
        let from = [EnvFrom { secret: true, name: "zk-auth".into(), prefix: "ZK_".into(), optional: false }];
        assert_eq!(env(&[], &from, &objects(), &facts()).unwrap(), [("ZK_password".to_string(), "s3cret".to_string())]);
        let missing = [EnvFrom { secret: false, name: "other".into(), prefix: String::new(), optional: false }];
        assert_eq!(env(&[], &missing, &objects(), &facts()).unwrap_err(), "envFrom names ConfigMap other, which does not exist");
        let key = [var("X", EnvValue::Key { secret: false, name: "zk-env".into(), key: "nope".into(), optional: false })];
        assert_eq!(env(&key, &[], &objects(), &facts()).unwrap_err(), "env X names key nope of ConfigMap zk-env, which does not exist");
    }

    #[test]
    fn volume_files_follow_items_and_modes() {
        let v = ConfigVolume { volume: "scripts".into(), secret: false, name: "zk-env".into(), items: vec![], default_mode: 0o755, optional: false };
        let all = files(&v, &objects()).unwrap();
        assert_eq!(all.iter().map(|f| (f.path.as_str(), f.mode)).collect::<Vec<_>>(), [("1bad", 0o755), ("ZOO_TICK_TIME", 0o755)]);
        let v = ConfigVolume { items: vec![("ZOO_TICK_TIME".into(), "conf/tick".into(), Some(0o400))], ..v };
        assert_eq!(files(&v, &objects()).unwrap(), [File { path: "conf/tick".into(), data: b"2000".to_vec(), mode: 0o400 }]);
        let bad = ConfigVolume { items: vec![("ZOO_TICK_TIME".into(), "../x".into(), None)], ..v.clone() };
        assert!(files(&bad, &objects()).unwrap_err().contains("without '..'"));
        let missing = ConfigVolume { name: "other".into(), ..v.clone() };
        assert!(files(&missing, &objects()).unwrap_err().contains("ConfigMap other, which does not exist"));
        assert!(files(&ConfigVolume { optional: true, ..missing }, &objects()).unwrap().is_empty());
    }
}
