//! `conformance` (the walkthrough's "Creating a ZooKeeper ensemble" through "Achieving consensus",
//! "Ensuring consistent configuration" through "Configuring a non-privileged user"; TUTORIAL.md 2-4,
//! 7-9): the ensemble is built the way the walkthrough builds it: ordered start, stable names,
//! myid = ordinal + 1, the walkthrough's zoo.cfg everywhere, one leader, logs on stdout, a non-root
//! server with a writable data dir.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use async_trait::async_trait;

use super::{walkthrough, About, Suite, SuiteCtx};
use crate::client::fourlw::parse_properties;
use crate::ensemble;
use crate::platform::{LifecycleEvent, LifecycleKind, Platform};

pub struct Conformance;

/// The walkthrough's UID and fsGroup ("Configuring a non-privileged user", TUTORIAL.md 9).
pub const ZK_UID: u32 = 1000;
pub const ZK_GID: u32 = 1000;
/// Where the walkthrough's start command puts the data dir ("Facilitating leader election", TUTORIAL.md 3).
pub const DATA_DIR: &str = "/var/lib/zookeeper/data";

/// zoo.cfg settings the walkthrough's flags produce ("Facilitating leader election", TUTORIAL.md 3).
pub const SETTINGS: &[(&str, &str)] = &[
    ("clientPort", "2181"),
    ("dataDir", "/var/lib/zookeeper/data"),
    ("dataLogDir", "/var/lib/zookeeper/data/log"),
    ("tickTime", "2000"),
    ("initLimit", "10"),
    ("syncLimit", "5"),
    ("maxClientCnxns", "60"),
    ("minSessionTimeout", "4000"),
    ("maxSessionTimeout", "40000"),
    ("autopurge.snapRetainCount", "3"),
    ("autopurge.purgeInterval", "12"),
];

#[async_trait]
impl Suite for Conformance {
    fn about(&self) -> &'static About {
        &About {
            name: "conformance",
            sections: &[
                &walkthrough::CREATING_AN_ENSEMBLE,
                &walkthrough::FACILITATING_LEADER_ELECTION,
                &walkthrough::ACHIEVING_CONSENSUS,
                &walkthrough::CONSISTENT_CONFIGURATION,
                &walkthrough::CONFIGURING_LOGGING,
                &walkthrough::NON_PRIVILEGED_USER,
            ],
            summary: "ordered start, hostnames, myid, zoo.cfg, one leader, stdout logging, non-root server, writable data dir",
            needs: &[],
            disruptive: false,
        }
    }

    async fn run(&self, ctx: &mut SuiteCtx) -> anyhow::Result<()> {
        let p = ctx.platform.clone();
        let p: &dyn Platform = p.as_ref();
        let members = p.members();
        let ns = p.namespace().to_string();
        let manifest = p.manifest().clone();
        let conf_dir = flag(&manifest.pod_template().command.join(" "), "--conf_dir").unwrap_or("/opt/zookeeper/conf".into());

        let started = Instant::now();
        let ordered = started_in_order(&p.lifecycle(), &members);
        ctx.record("members started in order (OrderedReady)", started, ordered);

        let mut configs = BTreeMap::new();
        for (ordinal, m) in members.iter().enumerate() {
            let fqdn = manifest.fqdn(m, &ns);
            ctx.check(&format!("{m}: hostname {m}, FQDN {fqdn}"), async {
                let short = p.exec(m, &["hostname"]).await?.into_stdout("hostname")?;
                let full = p.exec(m, &["hostname", "-f"]).await?.into_stdout("hostname -f")?;
                ensure!(short.trim() == m, "hostname is {:?}, not {m:?}", short.trim());
                ensure!(full.trim() == fqdn, "hostname -f is {:?}, not {fqdn:?}", full.trim());
                Ok(format!("{} / {}", short.trim(), full.trim()))
            })
            .await;

            let want = ordinal + 1;
            ctx.check(&format!("{m}: myid is {want}"), async {
                let path = format!("{DATA_DIR}/myid");
                let got = p.exec(m, &["cat", &path]).await?.into_stdout(&format!("cat {path}"))?;
                ensure!(got.trim() == want.to_string(), "{path} holds {:?}, not {want} (ordinal {ordinal} + 1)", got.trim());
                Ok(format!("{path} = {}", got.trim()))
            })
            .await;

            let cfg_path = format!("{conf_dir}/zoo.cfg");
            let mut cfg = None;
            ctx.check(&format!("{m}: zoo.cfg has the walkthrough's servers and settings, and every flag the manifest passes"), async {
                let text = p.exec(m, &["cat", &cfg_path]).await?.into_stdout(&format!("cat {cfg_path}"))?;
                let props = parse_properties(&text);
                let servers = expected_servers(&manifest, &members, &ns);
                check_zoo_cfg(&props, &servers)?;
                flags_applied(&manifest.pod_template().command.join(" "), &props)?;
                cfg = Some(props);
                Ok(format!("{cfg_path}: {} servers, {} settings as in the walkthrough's {}", servers.len(), SETTINGS.len(), walkthrough::FACILITATING_LEADER_ELECTION.cite()))
            })
            .await;
            if let Some(cfg) = cfg {
                configs.insert(m.clone(), cfg);
            }
        }

        let start = Instant::now();
        let same = same_everywhere(&configs, members.len());
        ctx.record("every member has the same configuration", start, same);

        let t = ctx.config.timeouts.clone();
        ctx.check(&format!("exactly one leader and {} synced followers", members.len() - 1), async {
            let view = ensemble::wait_whole(p, t.ensemble_whole, t.operation).await?;
            Ok(view.describe())
        })
        .await;

        for m in &members {
            ctx.check(&format!("{m}: server logs go to standard output"), async {
                let logs = p.logs(m, Some(200)).await?;
                let lines = logs.lines().filter(|l| l.contains(" INFO ") && l.contains('[')).count();
                ensure!(lines > 0, "the container log of {m} has no ZooKeeper INFO lines (last lines: {:?})", tail(&logs, 3));
                let files = p.exec(m, &["sh", "-c", "find /var/log/zookeeper /opt/zookeeper -name '*.log' -type f 2>/dev/null"]).await?.stdout;
                ensure!(files.trim().is_empty(), "the server also logs to files: {}", files.trim());
                Ok(format!("{lines} INFO lines in the last 200 of the container log; no log files"))
            })
            .await;

            ctx.check(&format!("{m}: the java process runs as UID {ZK_UID}, not root"), async {
                let ps = p.exec(m, &["ps", "-o", "uid=,user=,args=", "-C", "java"]).await?;
                let line = ps.stdout.lines().next().map(str::trim).unwrap_or("").to_string();
                ensure!(!line.is_empty(), "no java process in {m} (ps exited {})", ps.exit_code);
                let uid: u32 = line.split_whitespace().next().unwrap_or("").parse().with_context(|| format!("ps printed {line:?}"))?;
                if uid == 0 {
                    bail!("java runs as UID 0 (root), not {ZK_UID}: {line}");
                }
                ensure!(uid == ZK_UID, "java runs as UID {uid}, not {ZK_UID}: {line}");
                Ok(line.chars().take(60).collect())
            })
            .await;

            ctx.check(&format!("{m}: {DATA_DIR} is group {ZK_GID} and writable by the server"), async {
                let st = p.exec(m, &["stat", "-c", "%g %A", DATA_DIR]).await?.into_stdout(&format!("stat {DATA_DIR}"))?;
                let gid: u32 = st.split_whitespace().next().unwrap_or("").parse().with_context(|| format!("stat printed {st:?}"))?;
                ensure!(gid == ZK_GID, "{DATA_DIR} is group {gid}, not {ZK_GID} (fsGroup): {}", st.trim());
                let probe = format!("{DATA_DIR}/.zk-chaos-write-probe");
                let w = p.exec(m, &["sh", "-c", &format!("touch {probe} && rm {probe}")]).await?;
                ensure!(w.success(), "the server's user cannot write {DATA_DIR}: {}", w.stderr.trim());
                Ok(format!("{DATA_DIR}: {}", st.trim()))
            })
            .await;
        }
        Ok(())
    }
}

/// `--name=value` from the start command.
pub fn flag(command: &str, name: &str) -> Option<String> {
    command.split_whitespace().find_map(|w| w.strip_prefix(name)?.strip_prefix('=').map(str::to_string))
}

/// `server.1=zk-0.zk-hs.<ns>.svc.cluster.local:2888:3888`, ...
pub fn expected_servers(manifest: &crate::manifest::Manifest, members: &[String], ns: &str) -> Vec<(String, String)> {
    members.iter().enumerate().map(|(i, m)| (format!("server.{}", i + 1), format!("{}:2888:3888", manifest.fqdn(m, ns)))).collect()
}

pub fn check_zoo_cfg(props: &BTreeMap<String, String>, servers: &[(String, String)]) -> anyhow::Result<()> {
    let mut wrong = Vec::new();
    for (k, v) in servers.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain(SETTINGS.iter().copied()) {
        match props.get(k) {
            Some(got) if got == v => {}
            Some(got) => wrong.push(format!("{k}={got} (want {v})")),
            None => wrong.push(format!("{k} missing (want {v})")),
        }
    }
    let extra: Vec<_> = props.keys().filter(|k| k.starts_with("server.") && !servers.iter().any(|(s, _)| s == *k)).collect();
    if !extra.is_empty() {
        wrong.push(format!("unexpected {}", extra.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")));
    }
    ensure!(wrong.is_empty(), "zoo.cfg differs from the walkthrough: {}", wrong.join("; "));
    Ok(())
}

/// The start-zookeeper flags and the zoo.cfg settings they write (the rest, `--heap`,
/// `--log_level`, `--conf_dir`, go to the JVM and logging, not zoo.cfg).
pub const FLAG_SETTINGS: &[(&str, &str)] = &[
    ("client_port", "clientPort"),
    ("data_dir", "dataDir"),
    ("data_log_dir", "dataLogDir"),
    ("tick_time", "tickTime"),
    ("init_limit", "initLimit"),
    ("sync_limit", "syncLimit"),
    ("max_client_cnxns", "maxClientCnxns"),
    ("min_session_timeout", "minSessionTimeout"),
    ("max_session_timeout", "maxSessionTimeout"),
    ("snap_retain_count", "autopurge.snapRetainCount"),
    ("purge_interval", "autopurge.purgeInterval"),
];

/// Every flag the manifest passes is what the server runs: each setting flag's value is in
/// zoo.cfg, `--servers` is the number of `server.N` lines, and `--server_port`/`--election_port`
/// are the ports of each of them. A flag the start script ignored fails here.
pub fn flags_applied(command: &str, props: &BTreeMap<String, String>) -> anyhow::Result<String> {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (f, key) in FLAG_SETTINGS {
        let Some(want) = flag(command, &format!("--{f}")) else { continue };
        checked += 1;
        match props.get(*key) {
            Some(got) if *got == want => {}
            Some(got) => wrong.push(format!("--{f}={want} but zoo.cfg has {key}={got}")),
            None => wrong.push(format!("--{f}={want} but zoo.cfg has no {key}")),
        }
    }
    let servers: Vec<&String> = props.iter().filter(|(k, _)| k.starts_with("server.")).map(|(_, v)| v).collect();
    if let Some(n) = flag(command, "--servers") {
        checked += 1;
        if n.parse::<usize>().ok() != Some(servers.len()) {
            wrong.push(format!("--servers={n} but zoo.cfg lists {} servers", servers.len()));
        }
    }
    for (f, index) in [("--server_port", 1), ("--election_port", 2)] {
        if let Some(port) = flag(command, f) {
            checked += 1;
            let off: Vec<&&String> = servers.iter().filter(|v| v.split(':').nth(index) != Some(port.as_str())).collect();
            if !off.is_empty() {
                wrong.push(format!("{f}={port} but zoo.cfg's servers use {}", off.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")));
            }
        }
    }
    ensure!(wrong.is_empty(), "the server does not run what the manifest's flags say: {}", wrong.join("; "));
    Ok(format!("{checked} flags applied"))
}

fn same_everywhere(configs: &BTreeMap<String, BTreeMap<String, String>>, members: usize) -> anyhow::Result<String> {
    ensure!(configs.len() == members, "only {} of {members} members' zoo.cfg could be read", configs.len());
    let mut it = configs.iter();
    let (first, reference) = it.next().context("no members")?;
    for (m, cfg) in it {
        let differ: Vec<_> =
            reference.keys().chain(cfg.keys()).filter(|k| reference.get(*k) != cfg.get(*k)).cloned().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        ensure!(differ.is_empty(), "{m}'s zoo.cfg differs from {first}'s in {}", differ.join(", "));
    }
    Ok(format!("{members} identical zoo.cfg files"))
}

/// OrderedReady: each member was created only after the one before it was Ready.
pub fn started_in_order(events: &[LifecycleEvent], members: &[String]) -> anyhow::Result<String> {
    let first = |m: &str, kind: LifecycleKind| events.iter().find(|e| e.member == m && e.kind == kind).map(|e| e.at);
    let mut evidence = Vec::new();
    for pair in members.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let ready = first(before, LifecycleKind::Ready).with_context(|| format!("{before} never became Ready"))?;
        let created = first(after, LifecycleKind::Created).with_context(|| format!("{after} was never created"))?;
        ensure!(created >= ready, "{after} was created at {} before {before} was Ready at {}", created.format("%H:%M:%S%.3f"), ready.format("%H:%M:%S%.3f"));
        evidence.push(format!("{after} created {} ms after {before} Ready", (created - ready).num_milliseconds()));
    }
    Ok(evidence.join("; "))
}

fn tail(s: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::walkthrough;

    fn ev(member: &str, kind: LifecycleKind, secs: i64) -> LifecycleEvent {
        LifecycleEvent { at: chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap(), member: member.into(), kind, detail: String::new() }
    }

    fn members() -> Vec<String> {
        vec!["zk-0".into(), "zk-1".into(), "zk-2".into()]
    }

    #[test]
    fn ordered_start_is_judged_from_lifecycle_events() {
        let good = vec![
            ev("zk-0", LifecycleKind::Created, 0),
            ev("zk-0", LifecycleKind::Ready, 12),
            ev("zk-1", LifecycleKind::Created, 12),
            ev("zk-1", LifecycleKind::Ready, 25),
            ev("zk-2", LifecycleKind::Created, 26),
            ev("zk-2", LifecycleKind::Ready, 40),
        ];
        started_in_order(&good, &members()).unwrap();
        let mut parallel = good.clone();
        parallel[2] = ev("zk-1", LifecycleKind::Created, 1);
        let msg = started_in_order(&parallel, &members()).unwrap_err().to_string();
        assert!(msg.contains("zk-1 was created at") && msg.contains("before zk-0 was Ready"), "{msg}");
        let never = &good[..4];
        assert!(started_in_order(never, &members()).unwrap_err().to_string().contains("zk-2 was never created"));
    }

    fn walkthrough_cfg() -> BTreeMap<String, String> {
        let m = walkthrough();
        let mut props: BTreeMap<String, String> = SETTINGS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        props.extend(expected_servers(&m, &members(), "default"));
        props.insert("4lw.commands.whitelist".into(), "ruok,srvr".into());
        props
    }

    #[test]
    fn zoo_cfg_checks_servers_and_settings() {
        let m = walkthrough();
        let servers = expected_servers(&m, &members(), "default");
        assert_eq!(servers[0], ("server.1".to_string(), "zk-0.zk-hs.default.svc.cluster.local:2888:3888".to_string()));
        check_zoo_cfg(&walkthrough_cfg(), &servers).unwrap();

        let mut standalone = walkthrough_cfg();
        for s in ["server.1", "server.2", "server.3"] {
            standalone.remove(s);
        }
        let msg = check_zoo_cfg(&standalone, &servers).unwrap_err().to_string();
        assert!(msg.contains("server.1 missing"), "{msg}");

        let mut tick = walkthrough_cfg();
        tick.insert("tickTime".into(), "3000".into());
        tick.insert("server.4".into(), "x:1:2".into());
        let msg = check_zoo_cfg(&tick, &servers).unwrap_err().to_string();
        assert!(msg.contains("tickTime=3000 (want 2000)") && msg.contains("unexpected server.4"), "{msg}");
    }

    #[test]
    fn every_flag_must_be_in_the_running_zoo_cfg() {
        let cmd = walkthrough().pod_template().command.join(" ");
        assert_eq!(flags_applied(&cmd, &walkthrough_cfg()).unwrap(), "14 flags applied");
        // A start script that ignored --max_client_cnxns (zoo.cfg keeps ZooKeeper's default out).
        let mut ignored = walkthrough_cfg();
        ignored.remove("maxClientCnxns");
        assert!(flags_applied(&cmd, &ignored).unwrap_err().to_string().contains("--max_client_cnxns=60 but zoo.cfg has no maxClientCnxns"));
        let mut other = walkthrough_cfg();
        other.insert("tickTime".into(), "3000".into());
        other.insert("server.2".into(), "zk-1.zk-hs.default.svc.cluster.local:2888:3999".into());
        let msg = flags_applied(&cmd, &other).unwrap_err().to_string();
        assert!(msg.contains("--tick_time=2000 but zoo.cfg has tickTime=3000") && msg.contains("--election_port=3888 but zoo.cfg's servers use zk-1"), "{msg}");
        let mut two = walkthrough_cfg();
        two.remove("server.3");
        assert!(flags_applied(&cmd, &two).unwrap_err().to_string().contains("--servers=3 but zoo.cfg lists 2 servers"));
    }

    #[test]
    fn configurations_must_match_across_members() {
        let mut configs: BTreeMap<String, BTreeMap<String, String>> = members().into_iter().map(|m| (m, walkthrough_cfg())).collect();
        same_everywhere(&configs, 3).unwrap();
        configs.get_mut("zk-2").unwrap().insert("initLimit".into(), "20".into());
        assert!(same_everywhere(&configs, 3).unwrap_err().to_string().contains("zk-2's zoo.cfg differs from zk-0's in initLimit"));
        configs.remove("zk-2");
        assert!(same_everywhere(&configs, 3).is_err());
    }

    #[test]
    fn flags_are_read_from_the_start_command() {
        let cmd = walkthrough().pod_template().command.join(" ");
        assert_eq!(flag(&cmd, "--conf_dir").as_deref(), Some("/opt/zookeeper/conf"));
        assert_eq!(flag(&cmd, "--servers").as_deref(), Some("3"));
        assert_eq!(flag(&cmd, "--nope"), None);
    }
}
