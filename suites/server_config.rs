//! The configuration a member's server runs with, read from where the server itself read it: the
//! config file named on its java command line ([`super::process`]), the dynamic config file that
//! file names, and `myid` in its dataDir. Server lines are parsed in ZooKeeper's full syntax,
//! `server.N=host:peer:election[:role][;[clientAddr:]clientPort]`.

use std::collections::BTreeMap;

use anyhow::{bail, Context};

use super::process::{self, Process};
use crate::client::fourlw::parse_properties;
use crate::platform::Platform;

/// One `server.N` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLine {
    pub id: u32,
    pub host: String,
    pub peer_port: u16,
    pub election_port: u16,
    /// `participant` or `observer`, when given.
    pub role: Option<String>,
    /// The client address, when the line gives one (`;2181` or `;0.0.0.0:2181`).
    pub client_addr: Option<String>,
    pub client_port: Option<u16>,
}

impl ServerLine {
    /// Parses `server.N` = `value`; `Ok(None)` for a key that is not a server line.
    pub fn parse(key: &str, value: &str) -> anyhow::Result<Option<ServerLine>> {
        let Some(id) = key.strip_prefix("server.") else { return Ok(None) };
        let id: u32 = id.parse().with_context(|| format!("{key}: the server id is not a number"))?;
        let (addrs, client) = match value.split_once(';') {
            Some((a, c)) => (a, Some(c.trim())),
            None => (value, None),
        };
        // An IPv6 host is bracketed ([::1]:2888:3888); split the ports off the right.
        let (host, rest) = match addrs.strip_prefix('[') {
            Some(v6) => {
                let (h, r) = v6.split_once(']').with_context(|| format!("{key}={value}: an unclosed '['"))?;
                (h.to_string(), r.strip_prefix(':').unwrap_or(r).to_string())
            }
            None => match addrs.split_once(':') {
                Some((h, r)) => (h.to_string(), r.to_string()),
                None => bail!("{key}={value}: want host:peerPort:electionPort[:role][;[clientAddr:]clientPort]"),
            },
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let port = |s: &str, what: &str| s.trim().parse::<u16>().with_context(|| format!("{key}={value}: the {what} port {s:?} is not a port"));
        let (peer_port, election_port, role) = match parts.as_slice() {
            [p, e] => (port(p, "peer")?, port(e, "election")?, None),
            [p, e, r] => (port(p, "peer")?, port(e, "election")?, Some(r.trim().to_string())),
            _ => bail!("{key}={value}: want host:peerPort:electionPort[:role][;[clientAddr:]clientPort]"),
        };
        let (client_addr, client_port) = match client {
            None | Some("") => (None, None),
            Some(c) => match c.rsplit_once(':') {
                Some((a, p)) => (Some(a.to_string()), Some(port(p, "client")?)),
                None => (None, Some(port(c, "client")?)),
            },
        };
        Ok(Some(ServerLine { id, host, peer_port, election_port, role, client_addr, client_port }))
    }

    /// Whether the host names `fqdn`'s pod: the FQDN itself or a leading part of it
    /// (`zk-0.zk-hs`, `zk-0.zk-hs.default.svc`), as the cluster's DNS search path resolves it.
    pub fn names(&self, fqdn: &str) -> bool {
        let host = self.host.trim_end_matches('.');
        fqdn == host || fqdn.strip_prefix(host).is_some_and(|rest| rest.starts_with('.'))
    }
}

/// What a member's server runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningConfig {
    /// The config file from the java command line.
    pub path: String,
    /// Its settings, with the dynamic file's lines merged in (ZooKeeper reads both).
    pub props: BTreeMap<String, String>,
    /// Every `server.N`, by id.
    pub servers: Vec<ServerLine>,
    /// The dynamic config file, when the config names one.
    pub dynamic: Option<String>,
    /// `dataDir/myid`, when the server has a dataDir (`None` for a standalone server without one).
    pub myid: Option<String>,
}

impl RunningConfig {
    pub fn data_dir(&self) -> Option<&str> {
        self.props.get("dataDir").map(String::as_str)
    }

    /// Every setting but the server lines: what the members must agree on beside membership.
    pub fn settings(&self) -> BTreeMap<String, String> {
        self.props.iter().filter(|(k, _)| !k.starts_with("server.")).map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// The server lines as `host:peer:election[:role][;client]`, by id: what the members must
    /// agree on.
    pub fn membership(&self) -> BTreeMap<u32, String> {
        self.props.iter().filter_map(|(k, v)| Some((k.strip_prefix("server.")?.parse().ok()?, v.clone()))).collect()
    }
}

/// Builds the running config from the static file's text, the dynamic file's text (if any) and
/// the myid file's text (if any).
pub fn assemble(path: &str, text: &str, dynamic: Option<(&str, &str)>, myid: Option<&str>) -> anyhow::Result<RunningConfig> {
    let mut props = parse_properties(text);
    if let Some((_, dyn_text)) = dynamic {
        props.extend(parse_properties(dyn_text));
    }
    let mut servers = Vec::new();
    for (k, v) in &props {
        if let Some(line) = ServerLine::parse(k, v).with_context(|| path.to_string())? {
            servers.push(line);
        }
    }
    servers.sort_by_key(|s| s.id);
    Ok(RunningConfig { path: path.to_string(), props, servers, dynamic: dynamic.map(|(p, _)| p.to_string()), myid: myid.map(|m| m.trim().to_string()) })
}

/// Reads what `member`'s server runs with: finds the server through /proc, reads its config
/// file, the dynamic file it names and `dataDir/myid`.
pub async fn read(p: &dyn Platform, member: &str) -> anyhow::Result<(Process, RunningConfig)> {
    let server = process::server(p, member).await?;
    let path = server.config_file().with_context(|| format!("{member}'s server was started without a config file ({}); its settings cannot be read", server.short()))?.to_string();
    let cat = |file: String| async move { p.exec(member, &["cat", &file]).await?.into_stdout(&format!("cat {file} in {member}")) };
    let text = cat(path.clone()).await?;
    let statics = parse_properties(&text);
    let dynamic = match statics.get("dynamicConfigFile") {
        Some(f) => Some((f.clone(), cat(f.clone()).await?)),
        None => None,
    };
    let myid = match statics.get("dataDir") {
        Some(dir) => Some(cat(format!("{}/myid", dir.trim_end_matches('/'))).await?),
        None => None,
    };
    let config = assemble(&path, &text, dynamic.as_ref().map(|(p, t)| (p.as_str(), t.as_str())), myid.as_deref())?;
    Ok((server, config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_lines_in_every_form_zookeeper_accepts() {
        let l = ServerLine::parse("server.1", "zk-0.zk-hs.default.svc.cluster.local:2888:3888").unwrap().unwrap();
        assert_eq!((l.id, l.host.as_str(), l.peer_port, l.election_port, l.role, l.client_port), (1, "zk-0.zk-hs.default.svc.cluster.local", 2888, 3888, None, None));
        let l = ServerLine::parse("server.2", "zk-1.zk-hs:2888:3888;2181").unwrap().unwrap();
        assert_eq!((l.client_addr, l.client_port), (None, Some(2181)));
        let l = ServerLine::parse("server.3", "zk-2.zk-hs:2888:3888:participant;0.0.0.0:2181").unwrap().unwrap();
        assert_eq!((l.role.as_deref(), l.client_addr.as_deref(), l.client_port), (Some("participant"), Some("0.0.0.0"), Some(2181)));
        let l = ServerLine::parse("server.4", "[2001:db8::4]:2888:3888:observer;[::]:2181").unwrap().unwrap();
        assert_eq!((l.host.as_str(), l.role.as_deref(), l.client_port), ("2001:db8::4", Some("observer"), Some(2181)));
        assert_eq!(ServerLine::parse("tickTime", "2000").unwrap(), None);
        assert!(ServerLine::parse("server.x", "h:1:2").is_err());
        assert!(ServerLine::parse("server.1", "h:2888").unwrap_err().to_string().contains("want host:peerPort:electionPort"));
        assert!(ServerLine::parse("server.1", "h:28a8:3888").unwrap_err().to_string().contains("the peer port \"28a8\""));
    }

    #[test]
    fn a_host_names_a_pod_by_its_fqdn_or_a_leading_part_of_it() {
        let l = |host: &str| ServerLine::parse("server.1", &format!("{host}:2888:3888")).unwrap().unwrap();
        let fqdn = "zk-0.zk-hs.default.svc.cluster.local";
        assert!(l(fqdn).names(fqdn));
        assert!(l("zk-0.zk-hs").names(fqdn));
        assert!(l("zk-0.zk-hs.default.svc.cluster.local.").names(fqdn));
        assert!(!l("zk-1.zk-hs").names(fqdn));
        assert!(!l("zk-0.zk").names(fqdn), "a part must end at a dot");
    }

    #[test]
    fn the_dynamic_file_and_myid_join_the_static_config() {
        let statics = "tickTime=2000\ndataDir=/data\ndynamicConfigFile=/conf/zoo.cfg.dynamic\n";
        let dynamic = "server.1=zk-0.zk-hs:2888:3888:participant;2181\nserver.2=zk-1.zk-hs:2888:3888:participant;2181\n";
        let c = assemble("/conf/zoo.cfg", statics, Some(("/conf/zoo.cfg.dynamic", dynamic)), Some("2\n")).unwrap();
        assert_eq!(c.servers.iter().map(|s| s.id).collect::<Vec<_>>(), [1, 2]);
        assert_eq!((c.myid.as_deref(), c.data_dir(), c.dynamic.as_deref()), (Some("2"), Some("/data"), Some("/conf/zoo.cfg.dynamic")));
        assert_eq!(c.membership()[&2], "zk-1.zk-hs:2888:3888:participant;2181");
        assert!(!c.settings().contains_key("server.1") && c.settings()["tickTime"] == "2000");
        assert!(assemble("/conf/zoo.cfg", "server.1=nohost\n", None, None).unwrap_err().to_string().contains("/conf/zoo.cfg"));
    }
}
