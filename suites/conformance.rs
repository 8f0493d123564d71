//! `conformance` (the walkthrough's "Creating a ZooKeeper ensemble" through "Achieving consensus",
//! "Ensuring consistent configuration" through "Configuring a non-privileged user"; TUTORIAL.md 2-4,
//! 7-9): the ensemble is built the way the walkthrough builds it: ordered start, stable names,
//! myid matching each member's server line, one configuration everywhere that agrees with the
//! deployment's own source, one leader, logs on stdout, a non-root server with a writable data dir.
//!
//! What it reads is derived from the deployment: each server's config file from its java command
//! line ([`super::server_config`]), the expected settings from the manifest's source
//! ([`super::config_source`]), the user from the securityContext. The walkthrough's exact values
//! ([`walkthrough::reference`]) are judged only for the walkthrough's own manifest.
//!
//! Over 600 lines: the suite's steps are about 500; the rest are the unit tests of its pure judges.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{anyhow, bail, ensure, Context};
use async_trait::async_trait;

use super::config_source::{self, Source};
use super::server_config::{self, RunningConfig};
use super::walkthrough::reference;
use super::{process, walkthrough, About, Suite, SuiteCtx};
use crate::ensemble;
use crate::platform::{LifecycleEvent, LifecycleKind, Platform};

pub struct Conformance;

/// The walkthrough's UID and fsGroup, as its reference data has them.
pub const ZK_UID: u32 = reference::UID;
pub const ZK_GID: u32 = reference::GID;

/// The check of the start order, skipped with what was seen under the Parallel policy.
pub const START_ORDER: &str = "members started in order (OrderedReady)";

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
            workload: false,
        }
    }

    async fn run(&self, ctx: &mut SuiteCtx) -> anyhow::Result<()> {
        let p = ctx.platform.clone();
        let p: &dyn Platform = p.as_ref();
        let members = p.members();
        let ns = p.namespace().to_string();
        let manifest = p.manifest().clone();
        let template = manifest.pod_template();
        let is_reference = reference::is_reference(&manifest);
        let source = Source::of(&manifest);

        if manifest.ordered_ready() {
            ctx.check(START_ORDER, async { started_in_order(&p.lifecycle(), &members) }).await;
        } else {
            ctx.skip(START_ORDER, format!("podManagementPolicy is Parallel: members start together, no order is required; seen: {}", order_seen(&p.lifecycle(), &members)));
        }

        let mut configs = BTreeMap::new();
        let mut servers = BTreeMap::new();
        // What each server runs with, from its own command line (its /proc, then its config files):
        // read from every member at once, judged member by member below. The time it takes is what
        // deriving the facts costs.
        let derive_start = Instant::now();
        let reads = futures::future::join_all(members.iter().map(|m| server_config::read(p, m))).await;
        let deriving = derive_start.elapsed();
        for ((ordinal, m), read) in members.iter().enumerate().zip(reads) {
            let fqdn = manifest.fqdn(m, &ns);
            ctx.check(&format!("{m}: hostname {m}, FQDN {fqdn}"), async {
                let short = p.exec(m, &["hostname"]).await?.into_stdout("hostname")?;
                let full = p.exec(m, &["hostname", "-f"]).await?.into_stdout("hostname -f")?;
                ensure!(short.trim() == m, "hostname is {:?}, not {m:?}", short.trim());
                ensure!(full.trim() == fqdn, "hostname -f is {:?}, not {fqdn:?}", full.trim());
                Ok(format!("{} / {}", short.trim(), full.trim()))
            })
            .await;

            let read = read.map_err(|e| format!("{e:#}"));
            let running = || read.as_ref().map(|(_, c)| c).map_err(|e| anyhow!("{e}"));
            if let Ok((server, _)) = &read {
                servers.insert(m.clone(), server.clone());
            }

            let named = read.as_ref().ok().and_then(|(_, c)| c.servers.iter().find(|s| s.names(&fqdn)).map(|s| s.id as usize));
            let want = if is_reference { Some(ordinal + 1) } else { named };
            match want {
                Some(want) => {
                    ctx.check(&format!("{m}: myid is {want}"), async {
                        let c = running()?;
                        let path = format!("{}/myid", c.data_dir().context("the config has no dataDir, so no myid")?);
                        let got = c.myid.clone().unwrap_or_default();
                        let why = if is_reference { format!("ordinal {ordinal} + 1") } else { format!("server.{want} names {fqdn}") };
                        ensure!(got == want.to_string(), "{path} holds {got:?}, not {want} ({why})");
                        if !c.servers.is_empty() {
                            let line = c.servers.iter().find(|s| s.id as usize == want);
                            ensure!(line.is_some_and(|l| l.names(&fqdn)), "{path} holds {want} but {}'s server.{want} does not name {fqdn}", c.path);
                        }
                        Ok(format!("{path} = {got}"))
                    })
                    .await;
                }
                None => {
                    let name = format!("{m}: myid is the id of its server line");
                    match running() {
                        Ok(c) if c.servers.is_empty() => ctx.skip(&name, format!("{} has no server lines (a standalone server): myid is not used", c.path)),
                        Ok(c) => {
                            let hosts: Vec<String> = c.servers.iter().map(|s| format!("server.{}={}", s.id, s.host)).collect();
                            ctx.fail(&name, anyhow!("no server line of {} names {m} ({fqdn}): {}", c.path, hosts.join(", ")));
                        }
                        Err(e) => {
                            ctx.fail(&name, e);
                        }
                    }
                }
            }

            if is_reference {
                ctx.check(&format!("{m}: zoo.cfg has the walkthrough's servers and settings, and every flag the manifest passes"), async {
                    let c = running()?;
                    let expected = expected_servers(&manifest, &members, &ns);
                    check_zoo_cfg(&c.props, &expected)?;
                    flags_applied(&template_command(&manifest), &c.props)?;
                    Ok(format!(
                        "{}: {} servers, {} settings as in the walkthrough's {}",
                        c.path,
                        expected.len(),
                        reference::SETTINGS.len(),
                        walkthrough::FACILITATING_LEADER_ELECTION.cite()
                    ))
                })
                .await;
            } else {
                ctx.check(&format!("{m}: the server's config agrees with the deployment's {}", source.describe()), async {
                    let c = running()?;
                    agrees_with_source(&source, c, &manifest, &members, &ns)
                })
                .await;
            }
            if let Ok((_, c)) = &read {
                configs.insert(m.clone(), c.props.clone());
            }
        }

        ctx.metric("derive_facts_ms", deriving.as_millis() as f64);
        ctx.check("every member has the same configuration", async { same_everywhere(&configs, members.len()) }).await;

        let t = ctx.config.timeouts.clone();
        ctx.check(&format!("exactly one leader and {} synced followers", members.len() - 1), async {
            let view = ensemble::wait_whole(p, t.ensemble_whole, t.operation).await?;
            let unobserved = view.unobserved();
            Ok(if unobserved.is_empty() { view.describe() } else { format!("{}; not observed: {}", view.describe(), unobserved.join("; ")) })
        })
        .await;

        let want_uid = if is_reference { Some(reference::UID) } else { template.run_as_user.and_then(|u| u32::try_from(u).ok()) };
        for m in &members {
            let server = servers.get(m);
            let name = format!("{m}: server logs go to standard output");
            let logs = p.logs(m, Some(200)).await;
            let silent = logs.as_ref().is_ok_and(|l| !l.lines().any(is_log_line));
            match server.and_then(|s| quiet_level(&s.argv)) {
                // Nothing at that level in a healthy run: where the logs go cannot be seen.
                Some(level) if silent => ctx.skip(
                    &name,
                    format!("the server logs at {level} only (-Dzookeeper.log.level={level} on its java command line): a healthy server prints nothing at that level, so where its logs go was not seen"),
                ),
                _ => {
                    ctx.check(&name, async {
                        let logs = logs?;
                        let lines = logs.lines().filter(|l| is_log_line(l)).count();
                        ensure!(lines > 0, "the container log of {m} has no ZooKeeper log lines at any level (last lines: {:?})", tail(&logs, 3));
                        let files = log_files(p, m, server, is_reference).await?;
                        ensure!(files.is_empty(), "the server also logs to files: {}", files.join(" "));
                        Ok(format!("{lines} ZooKeeper log lines in the last 200 of the container log; no log files"))
                    })
                    .await;
                }
            }

            let name = match want_uid {
                Some(uid) if is_reference => format!("{m}: the java process runs as UID {uid}, not root"),
                Some(uid) => format!("{m}: the java process runs as UID {uid} (securityContext runAsUser), not root"),
                None => format!("{m}: the java process runs as the image's user, not root"),
            };
            ctx.check(&name, async {
                let server = match server {
                    Some(s) => s.clone(),
                    None => process::server(p, m).await?,
                };
                runs_as(&server, want_uid, template.run_as_group.and_then(|g| u32::try_from(g).ok()))
            })
            .await;

            if is_reference {
                let dir = reference::DATA_DIR;
                ctx.check(&format!("{m}: {dir} is group {ZK_GID} and writable by the server"), data_dir_check(p, m, server, dir.to_string(), Some(ZK_GID), true)).await;
            } else {
                let fs_group = template.fs_group.and_then(|g| u32::try_from(g).ok());
                match configs.get(m).and_then(|c| c.get("dataDir")).cloned() {
                    Some(dir) => {
                        let name = match fs_group {
                            Some(g) => format!("{m}: {dir} is writable by the server (fsGroup {g})"),
                            None => format!("{m}: {dir} is writable by the server"),
                        };
                        ctx.check(&name, data_dir_check(p, m, server, dir, fs_group, false)).await;
                    }
                    None => ctx.skip(&format!("{m}: the data dir is writable by the server"), "the server's config could not be read, or has no dataDir"),
                }
            }
        }
        Ok(())
    }
}

/// The container's command and args, as one line.
fn template_command(manifest: &zk_chaos_core::manifest::Manifest) -> String {
    let t = manifest.pod_template();
    [t.command, t.args].concat().join(" ")
}

/// The running config agrees with the deployment's source, and its server lines name the members.
fn agrees_with_source(source: &Source, c: &RunningConfig, manifest: &zk_chaos_core::manifest::Manifest, members: &[String], ns: &str) -> anyhow::Result<String> {
    let mut wrong = Vec::new();
    let mut judged = Vec::new();
    match source {
        Source::StartZookeeper { command } => match flags_applied(command, &c.props) {
            Ok(n) => judged.push(n),
            Err(e) => wrong.push(format!("{e:#}")),
        },
        Source::Unknown => {}
        _ => {
            let settings = source.settings();
            judged.push(format!("{} settings", settings.len()));
            wrong.extend(config_source::disagreements(&settings, &c.props));
            if let Some(lines) = source.servers() {
                judged.push(format!("{} server lines", lines.len()));
                wrong.extend(config_source::server_disagreements(&lines, &c.servers));
            }
        }
    }
    if members.len() > 1 {
        for m in members {
            let fqdn = manifest.fqdn(m, ns);
            let naming: Vec<u32> = c.servers.iter().filter(|s| s.names(&fqdn)).map(|s| s.id).collect();
            if naming.len() != 1 {
                wrong.push(format!("{} server lines name {m} ({fqdn}){}", naming.len(), if naming.is_empty() { String::new() } else { format!(": server.{naming:?}") }));
            }
        }
        judged.push(format!("every member named by one of {} server lines", c.servers.len()));
    }
    ensure!(wrong.is_empty(), "{} differs from the deployment's {}: {}", c.path, source.describe(), wrong.join("; "));
    if matches!(source, Source::Unknown) {
        judged.push("no source in the manifest to compare settings with (the members are compared with each other)".into());
    }
    Ok(format!("{}: {}", c.path, judged.join("; ")))
}

/// The level of `-Dzookeeper.log.level=LEVEL` on the server's java command line when it is above
/// INFO (WARN, ERROR, FATAL, OFF): a server at such a level prints nothing while it is healthy.
pub fn quiet_level(argv: &[String]) -> Option<String> {
    let level = argv.iter().rev().find_map(|a| a.strip_prefix("-Dzookeeper.log.level="))?.trim().to_ascii_uppercase();
    matches!(level.as_str(), "WARN" | "ERROR" | "FATAL" | "OFF").then_some(level)
}

/// A line of a ZooKeeper log at any level (its layouts put the level between spaces, before a
/// `[thread` part): `2026-12-07 02:20:03,123 [myid:1] - WARN  [main:...]`.
pub fn is_log_line(line: &str) -> bool {
    const LEVELS: [&str; 6] = [" TRACE ", " DEBUG ", " INFO ", " WARN ", " ERROR ", " FATAL "];
    line.contains('[') && LEVELS.iter().any(|l| line.contains(l))
}

/// The `*.log` files the server has open (from `/proc/<pid>/fd`), and those under its
/// `zookeeper.log.dir`; for the walkthrough also under its image's log dirs.
async fn log_files(p: &dyn Platform, m: &str, server: Option<&process::Process>, is_reference: bool) -> anyhow::Result<Vec<String>> {
    let mut dirs = Vec::new();
    let mut script = String::new();
    if let Some(s) = server {
        script.push_str(&format!("for f in /proc/{}/fd/*; do readlink \"$f\"; done 2>/dev/null | grep '\\.log$'; ", s.pid));
        if let Some(d) = s.system_property("zookeeper.log.dir") {
            dirs.push(d.to_string());
        }
    }
    if is_reference {
        dirs.push(reference::LOG_DIRS.to_string());
    }
    if !dirs.is_empty() {
        script.push_str(&format!("find {} -name '*.log' -type f 2>/dev/null", dirs.join(" ")));
    }
    if script.is_empty() {
        return Ok(Vec::new());
    }
    let out = p.exec(m, &["sh", "-c", &script]).await?.stdout;
    let mut files: Vec<String> = out.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// The server's process runs as `want` (when known) and never as root; as `want_gid` when set.
pub fn runs_as(server: &process::Process, want: Option<u32>, want_gid: Option<u32>) -> anyhow::Result<String> {
    let uid = server.uid.with_context(|| format!("the UID of pid {} could not be read from /proc/{}/status", server.pid, server.pid))?;
    let line = format!("pid {} UID {uid} GID {}: {}", server.pid, server.gid.map_or("?".into(), |g| g.to_string()), server.short());
    match want {
        _ if uid == 0 => bail!("java runs as UID 0 (root){}: {line}", want.map_or(String::new(), |w| format!(", not {w}"))),
        Some(w) => ensure!(uid == w, "java runs as UID {uid}, not {w}: {line}"),
        None => {}
    }
    if let (Some(g), Some(gid)) = (want_gid, server.gid) {
        ensure!(gid == g, "java runs as GID {gid}, not {g} (runAsGroup): {line}");
    }
    Ok(line.chars().take(100).collect())
}

/// `dir` is group `gid` (when given) and the server's user can write it: tried by writing when
/// the platform's exec runs as the server's UID, else judged from the directory's owner, group
/// and mode against the server's UID and groups (an image whose entry point drops root execs as
/// root, which can write anything).
///
/// The group is required of the walkthrough (`strict_group`: its data dir is one the server makes
/// under the volume). Elsewhere the dataDir may be the volume's root, and a volume whose type the
/// kubelet does not manage ownership of (hostPath, and the local-path volumes of kind's default
/// StorageClass) keeps its group whatever fsGroup says: what counts there is that the server can
/// write it, and the evidence says the group was not applied.
async fn data_dir_check(p: &dyn Platform, m: &str, server: Option<&process::Process>, dir: String, gid: Option<u32>, strict_group: bool) -> anyhow::Result<String> {
    let st = p.exec(m, &["stat", "-c", "%g %A", &dir]).await?.into_stdout(&format!("stat {dir}"))?;
    let mut group_note = String::new();
    if let Some(want) = gid {
        let got: u32 = st.split_whitespace().next().unwrap_or("").parse().with_context(|| format!("stat printed {st:?}"))?;
        ensure!(got == want || !strict_group, "{dir} is group {got}, not {want} (fsGroup): {}", st.trim());
        if got != want {
            group_note = format!(
                "; group {got}, not fsGroup {want}: the volume did not take fsGroup (a volume type whose ownership the kubelet does not manage, such as hostPath or local-path)"
            );
        }
    }
    let writable = |evidence: String| Ok(format!("{evidence}{group_note}"));
    let exec_uid = p.exec(m, &["id", "-u"]).await.ok().and_then(|o| o.stdout.trim().parse::<u32>().ok());
    if let Some(server) = server.filter(|s| s.uid.is_some() && s.uid != exec_uid) {
        let own = p.exec(m, &["stat", "-c", "%u %g %a", &dir]).await?.into_stdout(&format!("stat {dir}"))?;
        let f: Vec<u32> = own.split_whitespace().enumerate().filter_map(|(i, v)| if i == 2 { u32::from_str_radix(v, 8).ok() } else { v.parse().ok() }).collect();
        let [owner, group, mode] = f[..] else { bail!("stat -c '%u %g %a' {dir} printed {own:?}") };
        ensure!(
            server.may_write(owner, group, mode),
            "the server (UID {}, GID {}, groups {:?}) cannot write {dir}: owner {owner}, group {group}, mode {mode:o}",
            server.uid.unwrap_or_default(),
            server.gid.map_or("?".into(), |g| g.to_string()),
            server.groups
        );
        return writable(format!("{dir}: {} (owner {owner}: writable by the server's UID {}, judged from its mode)", st.trim(), server.uid.unwrap_or_default()));
    }
    let probe = format!("{dir}/.zk-chaos-write-probe");
    let w = p.exec(m, &["sh", "-c", &format!("touch {probe} && rm {probe}")]).await?;
    ensure!(w.success(), "the server's user cannot write {dir}: {}{group_note}", w.stderr.trim());
    writable(format!("{dir}: {}", st.trim()))
}

/// Under the Parallel policy: the order the members were created and turned Ready, for the report.
pub fn order_seen(events: &[LifecycleEvent], members: &[String]) -> String {
    let first = |m: &str, kind: LifecycleKind| events.iter().find(|e| e.member == m && e.kind == kind).map(|e| e.at);
    let mut seen: Vec<(chrono::DateTime<chrono::Utc>, String)> = Vec::new();
    for m in members {
        if let Some(at) = first(m, LifecycleKind::Created) {
            seen.push((at, format!("{m} created")));
        }
        if let Some(at) = first(m, LifecycleKind::Ready) {
            seen.push((at, format!("{m} Ready")));
        }
    }
    seen.sort();
    let t0 = seen.first().map(|(at, _)| *at);
    let out: Vec<String> = seen.iter().map(|(at, what)| format!("{what} +{} ms", t0.map_or(0, |t| (*at - t).num_milliseconds()))).collect();
    if out.is_empty() {
        "no creation or readiness events".into()
    } else {
        out.join(", ")
    }
}

/// `--name=value` from the start command.
pub fn flag(command: &str, name: &str) -> Option<String> {
    command.split_whitespace().find_map(|w| w.strip_prefix(name)?.strip_prefix('=').map(str::to_string))
}

/// `server.1=zk-0.zk-hs.<ns>.svc.cluster.local:2888:3888`, ...
pub fn expected_servers(manifest: &zk_chaos_core::manifest::Manifest, members: &[String], ns: &str) -> Vec<(String, String)> {
    members.iter().enumerate().map(|(i, m)| (format!("server.{}", i + 1), format!("{}:2888:3888", manifest.fqdn(m, ns)))).collect()
}

pub fn check_zoo_cfg(props: &BTreeMap<String, String>, servers: &[(String, String)]) -> anyhow::Result<()> {
    let mut wrong = Vec::new();
    for (k, v) in servers.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain(reference::SETTINGS.iter().copied()) {
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

    #[test]
    fn a_log_level_above_info_is_quiet_and_the_last_flag_wins() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(quiet_level(&argv(&["java", "-Dzookeeper.log.level=ERROR", "QuorumPeerMain"])).as_deref(), Some("ERROR"));
        assert_eq!(quiet_level(&argv(&["java", "-Dzookeeper.log.level=warn"])).as_deref(), Some("WARN"));
        assert_eq!(quiet_level(&argv(&["java", "-Dzookeeper.log.level=INFO"])), None);
        assert_eq!(quiet_level(&argv(&["java", "-Dzookeeper.log.level=ERROR", "-Dzookeeper.log.level=DEBUG"])), None);
        assert_eq!(quiet_level(&argv(&["java", "QuorumPeerMain"])), None);
    }
    use zk_chaos_core::manifest::walkthrough;

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
        let mut props: BTreeMap<String, String> = reference::SETTINGS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
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
    fn log_lines_count_at_any_level() {
        assert!(is_log_line("2026-12-07 02:20:03,123 [myid:1] - INFO  [main:QuorumPeerMain@149] - Starting quorum peer"));
        assert!(is_log_line("2026-12-07 02:20:03,123 [myid:] - WARN  [main:o.a.z.s.q.QuorumPeerConfig@123] - No server failure"));
        assert!(is_log_line("2026-12-07T02:20:03.123+0000 [myid:2] - ERROR [QuorumPeer:Leader@5] - x"));
        assert!(!is_log_line("ZooKeeper JMX enabled by default"), "zkServer.sh's own banner is no server log line");
        assert!(!is_log_line("INFORMATION [x]"));
    }

    fn proc(uid: Option<u32>, gid: Option<u32>) -> process::Process {
        process::Process { pid: 1, uid, gid, groups: vec![], argv: vec!["java".into(), "org.apache.zookeeper.server.quorum.QuorumPeerMain".into(), "/conf/zoo.cfg".into()] }
    }

    #[test]
    fn the_server_runs_as_the_securitycontexts_user_and_never_as_root() {
        assert!(runs_as(&proc(Some(1000), Some(1000)), Some(1000), None).unwrap().starts_with("pid 1 UID 1000 GID 1000: java"));
        assert!(runs_as(&proc(Some(1001), Some(0)), None, None).is_ok(), "the image's user, whatever it is, when none is set");
        let root = runs_as(&proc(Some(0), Some(0)), Some(1000), None).unwrap_err().to_string();
        assert!(root.starts_with("java runs as UID 0 (root), not 1000: pid 1"), "{root}");
        assert!(runs_as(&proc(Some(0), Some(0)), None, None).unwrap_err().to_string().starts_with("java runs as UID 0 (root): "));
        assert!(runs_as(&proc(Some(1001), None), Some(1000), None).unwrap_err().to_string().starts_with("java runs as UID 1001, not 1000"));
        assert!(runs_as(&proc(Some(1000), Some(5)), Some(1000), Some(1000)).unwrap_err().to_string().starts_with("java runs as GID 5, not 1000 (runAsGroup)"));
        assert!(runs_as(&proc(None, None), Some(1000), None).is_err(), "an unreadable UID is no pass");
    }

    #[test]
    fn under_parallel_the_order_seen_is_reported() {
        let events = vec![ev("zk-1", LifecycleKind::Created, 0), ev("zk-0", LifecycleKind::Created, 0), ev("zk-0", LifecycleKind::Ready, 3), ev("zk-1", LifecycleKind::Ready, 5)];
        assert_eq!(order_seen(&events, &members()), "zk-0 created +0 ms, zk-1 created +0 ms, zk-0 Ready +3000 ms, zk-1 Ready +5000 ms");
        assert_eq!(order_seen(&[], &members()), "no creation or readiness events");
    }

    fn running(text: &str) -> RunningConfig {
        server_config::assemble("/conf/zoo.cfg", text, None, Some("1")).unwrap()
    }

    #[test]
    fn an_env_configured_server_agrees_with_its_environment_and_names_every_member() {
        let m = walkthrough();
        let vars: BTreeMap<String, String> =
            [("ZOO_TICK_TIME", "2000"), ("ZOO_SERVERS", "server.1=zk-0.zk-hs:2888:3888;2181 server.2=zk-1.zk-hs:2888:3888;2181 server.3=zk-2.zk-hs:2888:3888;2181")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let source = Source::Env { vars };
        let good = "tickTime=2000\nserver.1=zk-0.zk-hs:2888:3888;2181\nserver.2=zk-1.zk-hs:2888:3888;2181\nserver.3=zk-2.zk-hs:2888:3888;2181\n";
        let ok = agrees_with_source(&source, &running(good), &m, &members(), "default").unwrap();
        assert_eq!(ok, "/conf/zoo.cfg: 1 settings; 3 server lines; every member named by one of 3 server lines");
        let off = good.replace("tickTime=2000", "tickTime=4000").replace("server.3=zk-2", "server.3=zk-1");
        let err = agrees_with_source(&source, &running(&off), &m, &members(), "default").unwrap_err().to_string();
        assert!(err.starts_with("/conf/zoo.cfg differs from the deployment's ZOO_* environment (2 variables): tickTime=4000 (the source says 2000)"), "{err}");
        assert!(
            err.contains("server.3=zk-1.zk-hs:2888:3888 (the source says zk-2.zk-hs:2888:3888)")
                && err.contains("2 server lines name zk-1")
                && err.contains("0 server lines name zk-2"),
            "{err}"
        );
        let unknown = agrees_with_source(&Source::Unknown, &running(good), &m, &members(), "default").unwrap();
        assert!(unknown.ends_with("no source in the manifest to compare settings with (the members are compared with each other)"), "{unknown}");
    }

    #[test]
    fn flags_are_read_from_the_start_command() {
        let cmd = walkthrough().pod_template().command.join(" ");
        assert_eq!(flag(&cmd, "--conf_dir").as_deref(), Some("/opt/zookeeper/conf"));
        assert_eq!(flag(&cmd, "--servers").as_deref(), Some("3"));
        assert_eq!(flag(&cmd, "--nope"), None);
    }
}
