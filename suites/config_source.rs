//! The deployment's own source of its servers' configuration, read from the manifest: the flags
//! of `start-zookeeper` (the walkthrough's image), the `ZOO_*` environment the official and the
//! Bitnami images turn into zoo.cfg, or a zoo.cfg held in a ConfigMap. What it yields is what the
//! running servers must agree with; a value the manifest computes at run time (`$(VAR)`, a shell
//! expression) is not known here and is not compared.

use std::collections::BTreeMap;

use serde_json::Value;

use super::server_config::ServerLine;
use zk_chaos_core::manifest::Manifest;

/// Where the settings come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The container runs `start-zookeeper` with these `--flag=value`s.
    StartZookeeper { command: String },
    /// `ZOO_*` variables of the container (literal values only).
    Env { vars: BTreeMap<String, String> },
    /// A ConfigMap's `zoo.cfg`.
    ConfigMap { name: String, text: String },
    /// Nothing the harness can read: the servers are only compared with each other.
    Unknown,
}

/// The `ZOO_*` variables and the zoo.cfg settings they make: the official image's documented
/// names, then the Bitnami image's where they differ.
pub const ENV_SETTINGS: &[(&str, &str)] = &[
    ("ZOO_TICK_TIME", "tickTime"),
    ("ZOO_INIT_LIMIT", "initLimit"),
    ("ZOO_SYNC_LIMIT", "syncLimit"),
    ("ZOO_MAX_CLIENT_CNXNS", "maxClientCnxns"),
    ("ZOO_STANDALONE_ENABLED", "standaloneEnabled"),
    ("ZOO_ADMINSERVER_ENABLED", "admin.enableServer"),
    ("ZOO_AUTOPURGE_PURGEINTERVAL", "autopurge.purgeInterval"),
    ("ZOO_AUTOPURGE_SNAPRETAINCOUNT", "autopurge.snapRetainCount"),
    ("ZOO_4LW_COMMANDS_WHITELIST", "4lw.commands.whitelist"),
    ("ZOO_DATA_DIR", "dataDir"),
    ("ZOO_DATA_LOG_DIR", "dataLogDir"),
    ("ZOO_PORT_NUMBER", "clientPort"),
    ("ZOO_MAX_CNXNS", "maxClientCnxns"),
    ("ZOO_AUTOPURGE_INTERVAL", "autopurge.purgeInterval"),
    ("ZOO_AUTOPURGE_RETAIN_COUNT", "autopurge.snapRetainCount"),
];

impl Source {
    /// The source of `manifest`'s server container: start-zookeeper where its command runs it,
    /// else its `ZOO_*` environment, else a ConfigMap with a `zoo.cfg` key.
    pub fn of(manifest: &Manifest) -> Source {
        let t = manifest.pod_template();
        let command = [t.command.clone(), t.args.clone()].concat().join(" ");
        if uses_start_zookeeper(&command) {
            return Source::StartZookeeper { command };
        }
        // An empty value is no setting: the images' entrypoints take their default for it (the
        // Bitnami chart renders `ZOO_DATA_LOG_DIR: ""` when no separate log dir is asked for).
        let vars: BTreeMap<String, String> = t.env.iter().filter(|(k, v)| k.starts_with("ZOO_") && !v.is_empty() && !v.contains("$(")).cloned().collect();
        if !vars.is_empty() {
            return Source::Env { vars };
        }
        match config_map_zoo_cfg(&manifest.documents) {
            Some((name, text)) => Source::ConfigMap { name, text },
            None => Source::Unknown,
        }
    }

    /// How reports name it.
    pub fn describe(&self) -> String {
        match self {
            Source::StartZookeeper { .. } => "start-zookeeper flags".into(),
            Source::Env { vars } => format!("ZOO_* environment ({} variables)", vars.len()),
            Source::ConfigMap { name, .. } => format!("zoo.cfg in ConfigMap {name}"),
            Source::Unknown => "no readable source".into(),
        }
    }

    /// The settings the source fixes, as zoo.cfg keys and values (server lines apart).
    pub fn settings(&self) -> BTreeMap<String, String> {
        match self {
            Source::StartZookeeper { command } => {
                super::conformance::FLAG_SETTINGS.iter().filter_map(|(f, key)| Some((key.to_string(), super::conformance::flag(command, &format!("--{f}"))?))).collect()
            }
            Source::Env { vars } => {
                let mut out: BTreeMap<String, String> = ENV_SETTINGS.iter().filter_map(|(var, key)| Some((key.to_string(), vars.get(*var)?.clone()))).collect();
                if let Some(extra) = vars.get("ZOO_CFG_EXTRA") {
                    out.extend(extra.split_whitespace().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())));
                }
                out
            }
            Source::ConfigMap { text, .. } => {
                crate::client::fourlw::parse_properties(text).into_iter().filter(|(k, _)| !k.starts_with("server.") && k != "dynamicConfigFile").collect()
            }
            Source::Unknown => BTreeMap::new(),
        }
    }

    /// The server lines the source fixes, by id; `None` where it fixes none (start-zookeeper
    /// writes them from `--servers` and the ports, judged by its flags).
    pub fn servers(&self) -> Option<Vec<ServerLine>> {
        match self {
            Source::Env { vars } => env_servers(vars.get("ZOO_SERVERS")?),
            Source::ConfigMap { text, .. } => {
                let props = crate::client::fourlw::parse_properties(text);
                let lines: Vec<ServerLine> = props.iter().filter_map(|(k, v)| ServerLine::parse(k, v).ok().flatten()).collect();
                (!lines.is_empty()).then_some(lines)
            }
            _ => None,
        }
    }

    /// The myid the source gives every member (`ZOO_MY_ID` as a literal), if it gives one.
    pub fn myid(&self) -> Option<&str> {
        match self {
            Source::Env { vars } => vars.get("ZOO_MY_ID").map(String::as_str),
            _ => None,
        }
    }
}

/// Whether the container's command runs the walkthrough image's start script.
pub fn uses_start_zookeeper(command: &str) -> bool {
    command.split(|c: char| c.is_whitespace() || c == ';' || c == '&').any(|w| w.rsplit('/').next() == Some("start-zookeeper"))
}

/// `ZOO_SERVERS` in either documented form: the official image's `server.1=h:2888:3888;2181
/// server.2=...`, or the Bitnami image's `h:2888:3888::1,h:2888:3888::2` (the id after `::`).
pub fn env_servers(value: &str) -> Option<Vec<ServerLine>> {
    let mut out = Vec::new();
    for entry in value.split([' ', ',']).map(str::trim).filter(|e| !e.is_empty()) {
        let line = match entry.split_once('=') {
            Some((k, v)) => ServerLine::parse(k, v).ok()??,
            None => {
                let (addr, id) = entry.split_once("::")?;
                ServerLine::parse(&format!("server.{id}"), addr).ok()??
            }
        };
        out.push(line);
    }
    out.sort_by_key(|s| s.id);
    (!out.is_empty()).then_some(out)
}

/// The first ConfigMap document with a `zoo.cfg` key: its name and that text.
pub fn config_map_zoo_cfg(documents: &[Value]) -> Option<(String, String)> {
    documents.iter().filter(|d| d["kind"] == "ConfigMap").find_map(|d| {
        let text = d["data"]["zoo.cfg"].as_str()?;
        Some((d["metadata"]["name"].as_str().unwrap_or("?").to_string(), text.to_string()))
    })
}

/// Where the running settings differ from the source's: `key=running (source: value)` each.
pub fn disagreements(source: &BTreeMap<String, String>, running: &BTreeMap<String, String>) -> Vec<String> {
    source
        .iter()
        .filter_map(|(k, want)| match running.get(k) {
            Some(got) if got == want => None,
            Some(got) => Some(format!("{k}={got} (the source says {want})")),
            None => Some(format!("{k} missing (the source says {want})")),
        })
        .collect()
}

/// Where the running server lines differ from the source's (compared parsed, so `;2181` and
/// `;0.0.0.0:2181` are not confused with a different host).
pub fn server_disagreements(source: &[ServerLine], running: &[ServerLine]) -> Vec<String> {
    let mut out = Vec::new();
    for want in source {
        match running.iter().find(|r| r.id == want.id) {
            None => out.push(format!("server.{} missing (the source says {}:{}:{})", want.id, want.host, want.peer_port, want.election_port)),
            Some(got) if (&got.host, got.peer_port, got.election_port) != (&want.host, want.peer_port, want.election_port) => out
                .push(format!("server.{}={}:{}:{} (the source says {}:{}:{})", got.id, got.host, got.peer_port, got.election_port, want.host, want.peer_port, want.election_port)),
            Some(got) if want.client_port.is_some() && got.client_port != want.client_port => {
                out.push(format!("server.{} client port {:?} (the source says {:?})", got.id, got.client_port, want.client_port))
            }
            Some(_) => {}
        }
    }
    for extra in running.iter().filter(|r| !source.iter().any(|s| s.id == r.id)) {
        out.push(format!("server.{} is not in the source", extra.id));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walkthrough_is_configured_by_start_zookeeper() {
        let m = zk_chaos_core::manifest::walkthrough();
        let s = Source::of(&m);
        assert!(matches!(s, Source::StartZookeeper { .. }));
        assert_eq!(s.settings()["tickTime"], "2000");
        assert_eq!(s.settings()["dataDir"], "/var/lib/zookeeper/data");
        assert_eq!(s.servers(), None);
        assert!(uses_start_zookeeper("sh -c /usr/bin/start-zookeeper --servers=3"));
        assert!(!uses_start_zookeeper("/docker-entrypoint.sh zkServer.sh start-foreground"));
    }

    #[test]
    fn the_official_images_environment() {
        let vars: BTreeMap<String, String> = [
            ("ZOO_TICK_TIME", "2000"),
            ("ZOO_INIT_LIMIT", "5"),
            ("ZOO_4LW_COMMANDS_WHITELIST", "srvr,ruok"),
            ("ZOO_CFG_EXTRA", "metricsProvider.httpPort=7000 quorumListenOnAllIPs=true"),
            ("ZOO_SERVERS", "server.1=zk-0.zk-hs:2888:3888;2181 server.2=zk-1.zk-hs:2888:3888;2181"),
            ("ZOO_MY_ID", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let s = Source::Env { vars };
        let settings = s.settings();
        assert_eq!((settings["tickTime"].as_str(), settings["initLimit"].as_str(), settings["4lw.commands.whitelist"].as_str()), ("2000", "5", "srvr,ruok"));
        assert_eq!(settings["quorumListenOnAllIPs"], "true");
        let servers = s.servers().unwrap();
        assert_eq!((servers[1].id, servers[1].host.as_str(), servers[1].client_port), (2, "zk-1.zk-hs", Some(2181)));
        assert_eq!(s.myid(), Some("1"));
    }

    /// The Bitnami chart renders `ZOO_DATA_LOG_DIR: ""` (no separate log dir): no dataLogDir is expected.
    #[test]
    fn an_empty_zoo_variable_is_no_setting() {
        let m = zk_chaos_core::manifest::Manifest::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/bitnami.yaml")).unwrap();
        assert!(m.pod_template().env.iter().any(|(k, v)| k == "ZOO_DATA_LOG_DIR" && v.is_empty()), "the fixture sets it empty");
        let s = Source::of(&m);
        assert!(matches!(s, Source::Env { .. }), "{}", s.describe());
        assert!(!s.settings().contains_key("dataLogDir"), "{:?}", s.settings());
        assert_eq!(s.settings()["tickTime"], "2000");
    }

    #[test]
    fn the_bitnami_servers_form() {
        let lines = env_servers("zk-0.zk-hs.ns.svc.cluster.local:2888:3888::1,zk-1.zk-hs.ns.svc.cluster.local:2888:3888::2").unwrap();
        assert_eq!(lines.iter().map(|l| (l.id, l.peer_port)).collect::<Vec<_>>(), [(1, 2888), (2, 2888)]);
        assert_eq!(env_servers("garbage"), None);
    }

    #[test]
    fn a_zoo_cfg_in_a_config_map() {
        let docs = vec![
            serde_json::json!({"kind": "Service", "metadata": {"name": "zk-hs"}}),
            serde_json::json!({"kind": "ConfigMap", "metadata": {"name": "zk-config"}, "data": {"zoo.cfg": "tickTime=3000\nserver.1=zk-0.zk-hs:2888:3888\n"}}),
        ];
        let (name, text) = config_map_zoo_cfg(&docs).unwrap();
        let s = Source::ConfigMap { name, text };
        assert_eq!(s.describe(), "zoo.cfg in ConfigMap zk-config");
        assert_eq!(s.settings().into_iter().collect::<Vec<_>>(), [("tickTime".to_string(), "3000".to_string())]);
        assert_eq!(s.servers().unwrap()[0].host, "zk-0.zk-hs");
    }

    #[test]
    fn disagreements_name_the_key_the_running_value_and_the_sources() {
        let source: BTreeMap<String, String> = [("tickTime".to_string(), "2000".to_string()), ("initLimit".to_string(), "10".to_string())].into();
        let running: BTreeMap<String, String> = [("tickTime".to_string(), "3000".to_string())].into();
        assert_eq!(disagreements(&source, &running), ["initLimit missing (the source says 10)", "tickTime=3000 (the source says 2000)"]);
        let line = |k: &str, v: &str| ServerLine::parse(k, v).unwrap().unwrap();
        let want = [line("server.1", "zk-0.zk-hs:2888:3888;2181"), line("server.2", "zk-1.zk-hs:2888:3888;2181")];
        let same = [line("server.1", "zk-0.zk-hs:2888:3888;0.0.0.0:2181"), line("server.2", "zk-1.zk-hs:2888:3888;2181")];
        assert!(server_disagreements(&want, &same).is_empty());
        let off = [line("server.1", "zk-0.zk-hs:2888:3999;2181"), line("server.3", "zk-2.zk-hs:2888:3888")];
        assert_eq!(
            server_disagreements(&want, &off),
            ["server.1=zk-0.zk-hs:2888:3999 (the source says zk-0.zk-hs:2888:3888)", "server.2 missing (the source says zk-1.zk-hs:2888:3888)", "server.3 is not in the source"]
        );
    }
}
