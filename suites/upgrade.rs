//! `upgrade` (beyond the walkthrough): a rolling upgrade of the server's image, one member at a
//! time as the StatefulSet rolls any template change, with the register workload running
//! throughout (the runner judges it linearizable across the roll); every member then reports the
//! new version (`srvr`), `/hello` is intact, and the ensemble rolls back down to the first image
//! (a rolling downgrade), judged the same way.
//!
//! The image it rolls to is `--to-image` (`to_image:` in the config), else the 3.9.5 image of the
//! deployment's image family ([`default_to_image`], from `fixtures/images.txt`).
//!
//! # Caveats
//! An image whose server never becomes Ready stops the roll, as a StatefulSet with OrderedReady
//! stops (it waits for that member forever; the suite judges it stopped after
//! `timeouts.member_ready`). Setting the image back is then not enough: the StatefulSet still
//! waits for the broken pod, so the undo also deletes the pods that are not Ready (Kubernetes'
//! "forced rollback").

use std::time::Duration;

use anyhow::{anyhow, bail, ensure};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::ledger::{Action, Revert};
use super::rolling_update::rollout;
use super::{faults, About, Suite, SuiteCtx};
use crate::client::fourlw;
use crate::ensemble::EnsembleView;
use crate::platform::{LifecycleEvent, LifecycleKind, Platform, StatefulSetChange};
use crate::wait::{self, Seen};

pub struct Upgrade;

/// The release a deployment is upgraded to when no `--to-image` is given.
pub const DEFAULT_TO_RELEASE: &str = "3.9.5";

/// The reference deployments' image maps: which local images exist, and in which family.
const IMAGE_MAPS: &str = include_str!("../fixtures/images.txt");

#[async_trait]
impl Suite for Upgrade {
    fn about(&self) -> &'static About {
        &About {
            name: "upgrade",
            sections: &[],
            summary: "beyond the walkthrough: a rolling upgrade of the server's image (--to-image, default the family's 3.9.5) under the register workload, \
                      every member on the new version (srvr), /hello intact, then a rolling downgrade back",
            needs: &[],
            disruptive: true,
            workload: true,
        }
    }

    fn changes_statefulset(&self) -> Option<StatefulSetChange> {
        Some(StatefulSetChange::Image)
    }

    /// The image it rolls to, which kind must have loaded.
    fn images(&self, manifest: &zk_chaos_core::manifest::Manifest, config: &crate::config::Config) -> Vec<String> {
        manifest.pod_template().image.and_then(|from| to_image(&from, config.to_image.as_deref()).ok()).into_iter().collect()
    }

    async fn run(&self, ctx: &mut SuiteCtx) -> anyhow::Result<()> {
        let p = ctx.platform.clone();
        let t = ctx.config.timeouts.clone();
        let members = p.members();
        let from = p.manifest().pod_template().image.ok_or_else(|| anyhow!("the server container has no image"))?;
        let to = match to_image(&from, ctx.config.to_image.as_deref()) {
            Ok(to) => to,
            Err(why) => {
                ctx.skip("upgrade", why.clone());
                ctx.skip_workload(why);
                return Ok(());
            }
        };
        let hello = faults::write_hello(p.as_ref(), &members[0], t.operation).await?;
        let before = versions(p.as_ref(), &members, t.operation).await?;
        if let Ok(seen) = &before {
            ctx.mark(format!("before: {}", list(seen)));
        }
        let Some(first) = p.revisions().await?.last().cloned() else { bail!("the StatefulSet has no revision") };

        // The recovery the suite measures: each roll, from the image change to the ensemble whole
        // on the image (what a user waits for); the rest of its wall time is the harness's.
        ctx.measures("upgrade.fault_to_whole_ms");
        ctx.measures("downgrade.fault_to_whole_ms");
        let (up, set) = ctx.inject_as(&Action::SetImage { image: to.clone(), back_to: from.clone() }, &format!("upgrade: {from} to {to}")).await;
        if let Err(e) = set {
            return Err(ctx.fail("upgrade: the StatefulSet takes the new image", e));
        }
        let Some(upgraded) = rollout(ctx, &up, "upgrade", &first.hash).await else {
            return stopped(ctx, &from, &first.hash, &before, hello.czxid).await;
        };
        start_to_ready(ctx, "upgrade", up.at);
        ctx.check_with("upgrade: ensemble whole on the new image", async |ctx| up.wait_whole(ctx, "upgrade.").await.map(|v| v.describe())).await;
        let want = match release_of(&to) {
            Some(r) => Want::Release(r),
            None => Want::Unlike(before.as_ref().ok().cloned().unwrap_or_default()),
        };
        version_check(ctx, "upgrade: every member reports the new version (srvr)", &want, &upgraded, &to).await;
        ctx.check("/hello intact after the upgrade", faults::hello_intact(p.as_ref(), &members[0], hello.czxid, t.operation)).await;

        let (down, set) = ctx.inject_as(&Action::SetImage { image: from.clone(), back_to: from.clone() }, &format!("downgrade: {to} to {from}")).await;
        if let Err(e) = set {
            return Err(ctx.fail("downgrade: the StatefulSet takes the first image again", e));
        }
        if let Some(downgraded) = rollout(ctx, &down, "downgrade", &upgraded).await {
            start_to_ready(ctx, "downgrade", down.at);
            ctx.check_with("downgrade: ensemble whole on the first image", async |ctx| down.wait_whole(ctx, "downgrade.").await.map(|v| v.describe())).await;
            let want = match &before {
                Ok(seen) => Want::Same(seen.clone()),
                Err(_) => Want::Unlike(Vec::new()),
            };
            version_check(ctx, "downgrade: every member reports its first version again (srvr)", &want, &downgraded, &from).await;
            // Back where it started: nothing left to undo.
            ctx.ledger().forgive(&Revert::RestoreImage { image: from.clone() });
        }
        ctx.check("/hello intact after the downgrade", faults::hello_intact(p.as_ref(), &members[0], hello.czxid, t.operation)).await;
        Ok(())
    }
}

/// The image to roll to: `given` (`--to-image`), else the family's [`DEFAULT_TO_RELEASE`] image.
/// `Err` says why the suite cannot run: no image known, or the deployment runs it already.
pub fn to_image(from: &str, given: Option<&str>) -> Result<String, String> {
    let to = match given {
        Some(to) => to.to_string(),
        None => default_to_image(from, IMAGE_MAPS)?,
    };
    if to == from {
        return Err(format!(
            "the deployment runs {from} already, the image the suite would upgrade to{}: pass --to-image with another image (e.g. the family's 3.8.6)",
            if given.is_some() { " (--to-image)" } else { " by default" }
        ));
    }
    Ok(to)
}

/// The [`DEFAULT_TO_RELEASE`] image of `image`'s family: a local image of the maps in `maps`
/// (`FROM=TO` lines, and those given as `--image-map FROM=TO` in comments) tagged with that release
/// whose repository is `image`'s, or whose FROM's is.
pub fn default_to_image(image: &str, maps: &str) -> Result<String, String> {
    let repo = repository(image);
    let pairs = maps.lines().filter_map(|l| {
        let l = l.trim().trim_start_matches('#').trim();
        let l = l.strip_prefix("--image-map").unwrap_or(l).trim();
        let (f, t) = l.split_once('=')?;
        (!f.is_empty() && !t.is_empty() && !l.contains(char::is_whitespace)).then_some((f, t))
    });
    for (f, t) in pairs {
        if tag(t) == Some(DEFAULT_TO_RELEASE) && (repository(t) == repo || repository(f) == repo) {
            return Ok(t.to_string());
        }
    }
    Err(format!("no {DEFAULT_TO_RELEASE} image of {repo} is known (fixtures/images.txt maps the reference deployments' images): pass --to-image IMAGE"))
}

/// An image's name without its tag or digest: `zk-chaos/zookeeper:3.8` is `zk-chaos/zookeeper`
/// (a registry's port, `host:5000/zk`, is kept).
pub fn repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => &image[..i],
        _ => image,
    }
}

/// An image's tag, if it has one.
pub fn tag(image: &str) -> Option<&str> {
    let image = image.split('@').next().unwrap_or(image);
    let repo = repository(image);
    image.get(repo.len() + 1..).filter(|t| !t.is_empty())
}

/// The release an image's tag names (`3.9.5`), when the tag is a dotted version.
pub fn release_of(image: &str) -> Option<String> {
    tag(image).filter(|t| t.split('.').count() >= 2 && t.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))).map(String::from)
}

/// What the members must report after a roll.
#[derive(Debug, Clone, PartialEq)]
enum Want {
    /// This release (the new image's tag), on every member.
    Release(String),
    /// Each member the release it reported before the upgrade.
    Same(Vec<(String, String)>),
    /// One release on every member, none of these (what they reported before; a tag that is no
    /// version says nothing more).
    Unlike(Vec<(String, String)>),
}

/// Judges what each member reported (`seen`: member, release) against `want`.
fn judge_versions(seen: &[(String, String)], want: &Want) -> anyhow::Result<String> {
    ensure!(!seen.is_empty(), "no member reported a version");
    for (m, r) in seen {
        match want {
            Want::Release(w) => {
                let rest = r.strip_prefix(w.as_str());
                ensure!(rest.is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_digit() || c == '.')), "{m} reports ZooKeeper {r}, not {w}");
            }
            Want::Same(before) => {
                let was = before.iter().find(|(b, _)| b == m).map(|(_, v)| v.as_str());
                ensure!(was == Some(r.as_str()), "{m} reports ZooKeeper {r}, not {} as before the upgrade", was.unwrap_or("(not seen before)"));
            }
            Want::Unlike(before) => {
                ensure!(seen.iter().all(|(_, v)| v == r), "the members report different releases: {}", list(seen));
                ensure!(!before.iter().any(|(_, v)| v == r), "{m} reports ZooKeeper {r}, as before the roll");
            }
        }
    }
    Ok(list(seen))
}

/// `zk-0 3.9.5, zk-1 3.9.5`
fn list(seen: &[(String, String)]) -> String {
    seen.iter().map(|(m, v)| format!("{m} {v}")).collect::<Vec<_>>().join(", ")
}

/// What each member's server says its release is (`srvr`; `stat` where the whitelist leaves srvr
/// out). `Ok(Err(why))` where the whitelist leaves both out: the version cannot be observed.
async fn versions(p: &dyn Platform, members: &[String], timeout: Duration) -> anyhow::Result<Result<Vec<(String, String)>, String>> {
    let mut out = Vec::new();
    for m in members {
        let addr = p.client_addr(m).await?;
        match fourlw::server_state(addr, timeout).await {
            Ok(Some(s)) => out.push((m.clone(), fourlw::release(&s.version))),
            Ok(None) => bail!("{m} answers but is not serving"),
            Err(e) if fourlw::not_whitelisted(&e) => return Ok(Err(format!("{m}: {e:#}"))),
            Err(e) => return Err(e.context(format!("asking {m} its version"))),
        }
    }
    Ok(Ok(out))
}

/// Records whether every member reports `want`; skipped, saying what was judged instead, where
/// the whitelist hides the version.
async fn version_check(ctx: &mut SuiteCtx, name: &str, want: &Want, revision: &str, image: &str) {
    let p = ctx.platform.clone();
    let t = ctx.config.timeouts.clone();
    match versions(p.as_ref(), &p.members(), t.operation).await {
        Ok(Err(why)) => {
            ctx.skip(name, format!("{why}: the version cannot be observed; judged from the StatefulSet only: every member on revision {revision}, whose template runs {image}"))
        }
        Ok(Ok(seen)) => {
            let judged = judge_versions(&seen, want);
            ctx.check(name, async { judged }).await;
        }
        Err(e) => {
            ctx.fail(name, e);
        }
    }
}

/// Each member's time from its pod's creation in a roll (after `since`) to Ready, as metrics
/// `{label}.{member}.start_to_ready_ms`.
fn start_to_ready(ctx: &mut SuiteCtx, label: &str, since: DateTime<Utc>) {
    let events: Vec<LifecycleEvent> = ctx.platform.lifecycle().into_iter().filter(|e| e.at >= since).collect();
    for m in ctx.platform.members() {
        if let Some(ms) = created_to_ready(&events, &m) {
            ctx.metric(&format!("{label}.{m}.start_to_ready_ms"), ms as f64);
        }
    }
}

/// From `member`'s last creation in `events` to its first Ready after it, in ms.
fn created_to_ready(events: &[LifecycleEvent], member: &str) -> Option<i64> {
    let created = events.iter().rev().find(|e| e.member == member && e.kind == LifecycleKind::Created)?;
    let ready = events.iter().find(|e| e.member == member && e.kind == LifecycleKind::Ready && e.at >= created.at)?;
    Some((ready.at - created.at).num_milliseconds())
}

/// The last of a server's log lines that say why it stopped (errors, exceptions, an invalid
/// config), else its last lines.
fn server_says(log: &str) -> String {
    // A stack trace's frames (`\tat java.base/...`) say where, not why.
    let lines: Vec<&str> = log.lines().map(str::trim_end).filter(|l| !l.is_empty() && !l.trim_start().starts_with("at ")).collect();
    let telling: Vec<&str> = lines.iter().copied().filter(|l| l.contains("ERROR") || l.contains("Exception") || l.contains("Invalid config") || l.contains("exiting")).collect();
    let pick = if telling.is_empty() { &lines[..] } else { &telling[..] };
    pick[pick.len().saturating_sub(4)..].join(" | ")
}

/// The roll stopped at a member that did not become Ready: records what the StatefulSet left
/// (the members it did not go on to, still on `first` and Ready), whether quorum held, what the
/// server said; then undoes it (the image set back, the pods not Ready deleted) and checks the
/// ensemble whole on the first image.
async fn stopped(ctx: &mut SuiteCtx, from: &str, first: &str, before: &Result<Vec<(String, String)>, String>, czxid: i64) -> anyhow::Result<()> {
    let p = ctx.platform.clone();
    let t = ctx.config.timeouts.clone();
    let members = p.members();
    let statuses = faults::statuses(p.as_ref(), &members).await?;
    let stuck: Vec<_> = statuses.iter().filter(|s| !s.ready).collect();
    ctx.check("upgrade stopped: the StatefulSet did not go on past the member that is not Ready", async {
        let (Some(low), true) = (stuck.iter().map(|s| s.ordinal).min(), stuck.len() == 1) else {
            bail!("{} members not Ready: {}", stuck.len(), stuck.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "))
        };
        for s in statuses.iter().filter(|s| s.ordinal < low) {
            ensure!(s.revision.as_deref() == Some(first) && s.ready, "{} went on: revision {:?}, {}", s.name, s.revision, if s.ready { "Ready" } else { "not Ready" });
        }
        let kept: Vec<&str> = statuses.iter().filter(|s| s.ordinal < low).map(|s| s.name.as_str()).collect();
        Ok(format!("stopped at {}; {} still on revision {first} and Ready", stuck[0].name, if kept.is_empty() { "none".into() } else { kept.join(", ") }))
    })
    .await;
    ctx.check("upgrade stopped: quorum kept", async {
        let v = EnsembleView::observe(p.as_ref(), t.operation).await?;
        ensure!(v.has_quorum(), "no serving quorum while the roll was stopped: {}", v.describe());
        Ok(format!("a leader and a majority serving: {}", v.describe()))
    })
    .await;
    let mut why = Vec::new();
    for s in &stuck {
        // Whole: on Docker that includes the previous container's last lines, the one that exited.
        let log = p.logs(&s.name, None).await.map(|l| server_says(&l)).unwrap_or_else(|e| format!("(its log could not be read: {e:#})"));
        why.push(format!(
            "{}: {}{}, {} restart(s); the server's last words: {log}",
            s.name,
            s.phase,
            s.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
            s.restart_count
        ));
    }
    ctx.fail("upgrade: the new image's server starts on every member", anyhow!("{}", why.join("; ")));

    // Kubernetes' forced rollback: the template set back, and the pods it stopped at deleted.
    let undo = Revert::RestoreImage { image: from.to_string() };
    let ledger = ctx.ledger().clone();
    let undo_started = std::time::Instant::now();
    let undone = ctx.step(&format!("undo: {}", undo.name()), async { ledger.revert(&undo).await.map(|()| format!("the image is {from} again")) }).await;
    if undone.is_ok() {
        let what = format!("every member on revision {first} and Ready");
        let back = wait::until(&what, t.member_ready * members.len() as u32, Some(p.subscribe()), || async {
            let mut behind = Vec::new();
            for m in &members {
                let s = p.status(m).await?;
                if s.revision.as_deref() != Some(first) || !s.ready {
                    behind.push(format!("{m} {:?}{}", s.revision, if s.ready { "" } else { " not ready" }));
                }
            }
            Ok(if behind.is_empty() { Seen::Done(()) } else { Seen::NotYet(behind.join(", ")) })
        });
        let whole = ctx
            .check("undo: the ensemble whole again on the first image", async {
                back.await?;
                Ok(crate::ensemble::wait_whole(p.as_ref(), t.ensemble_whole, t.operation).await?.describe())
            })
            .await;
        if whole {
            ctx.metric("undo.whole_ms", undo_started.elapsed().as_millis() as f64);
        }
        let want = match before {
            Ok(seen) => Want::Same(seen.clone()),
            Err(_) => Want::Unlike(Vec::new()),
        };
        version_check(ctx, "undo: every member reports its first version again (srvr)", &want, first, from).await;
    }
    ctx.check("/hello intact after the undo", faults::hello_intact(p.as_ref(), &members[0], czxid, t.operation)).await;
    Err(ctx.stop())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_split_into_repository_tag_and_release() {
        assert_eq!(repository("zk-chaos/zookeeper:3.8"), "zk-chaos/zookeeper");
        assert_eq!(tag("zk-chaos/zookeeper:3.8"), Some("3.8"));
        assert_eq!(repository("host:5000/zk"), "host:5000/zk");
        assert_eq!(tag("host:5000/zk"), None);
        assert_eq!(repository("host:5000/zk:1@sha256:ab"), "host:5000/zk");
        assert_eq!(release_of("docker.io/bitnami/zookeeper:3.9.5"), Some("3.9.5".into()));
        assert_eq!(release_of("zk:latest"), None);
        assert_eq!(release_of("zk:3"), None);
    }

    #[test]
    fn the_default_is_the_familys_3_9_5_image_from_the_maps() {
        assert_eq!(default_to_image("zk-chaos/zookeeper:3.8", IMAGE_MAPS).unwrap(), "zk-chaos/zookeeper:3.9.5");
        assert_eq!(default_to_image("zk-chaos/zookeeper:3.8.6", IMAGE_MAPS).unwrap(), "zk-chaos/zookeeper:3.9.5");
        assert_eq!(default_to_image("zookeeper:3.8.4", IMAGE_MAPS).unwrap(), "zk-chaos/zookeeper-official:3.9.5");
        assert_eq!(default_to_image("zk-chaos/zookeeper-bitnami:3.9.5", IMAGE_MAPS).unwrap(), "zk-chaos/zookeeper-bitnami:3.9.5");
        let none = default_to_image("example.org/zk:1", IMAGE_MAPS).unwrap_err();
        assert_eq!(none, "no 3.9.5 image of example.org/zk is known (fixtures/images.txt maps the reference deployments' images): pass --to-image IMAGE");
    }

    #[test]
    fn kind_loads_the_image_it_rolls_to() {
        let walk = zk_chaos_core::manifest::walkthrough();
        let mut config = crate::config::Config::default();
        assert_eq!(Upgrade.images(&walk, &config), ["zk-chaos/zookeeper:3.9.5"]);
        config.to_image = Some("zk-chaos/zookeeper-broken:3.9.5".into());
        assert_eq!(Upgrade.images(&walk, &config), ["zk-chaos/zookeeper-broken:3.9.5"]);
        config.to_image = Some("zk-chaos/zookeeper:3.8".into());
        assert!(Upgrade.images(&walk, &config).is_empty(), "nothing to roll to: skipped, nothing to load");
    }

    #[test]
    fn nothing_to_upgrade_to_is_a_reason_to_skip() {
        assert_eq!(to_image("zk-chaos/zookeeper:3.8", None).unwrap(), "zk-chaos/zookeeper:3.9.5");
        assert_eq!(to_image("zk-chaos/zookeeper:3.8", Some("zk:x")).unwrap(), "zk:x");
        let same = to_image("zk-chaos/zookeeper-official:3.9.5", None).unwrap_err();
        assert!(same.starts_with("the deployment runs zk-chaos/zookeeper-official:3.9.5 already, the image the suite would upgrade to by default"), "{same}");
        assert!(to_image("zk:x", Some("zk:x")).unwrap_err().contains("(--to-image)"));
        assert!(to_image("example.org/zk:1", None).unwrap_err().starts_with("no 3.9.5 image"));
    }

    fn seen(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(m, r)| (m.to_string(), r.to_string())).collect()
    }

    #[test]
    fn versions_are_judged_against_the_release_the_previous_ones_or_each_other() {
        let new = seen(&[("zk-0", "3.9.5-4b9e"), ("zk-1", "3.9.5-4b9e")]);
        assert_eq!(judge_versions(&new, &Want::Release("3.9.5".into())).unwrap(), "zk-0 3.9.5-4b9e, zk-1 3.9.5-4b9e");
        let mixed = seen(&[("zk-0", "3.9.5-4b9e"), ("zk-1", "3.8.0")]);
        assert_eq!(judge_versions(&mixed, &Want::Release("3.9.5".into())).unwrap_err().to_string(), "zk-1 reports ZooKeeper 3.8.0, not 3.9.5");
        assert!(judge_versions(&seen(&[("zk-0", "3.9.50")]), &Want::Release("3.9.5".into())).is_err(), "3.9.50 is not 3.9.5");
        let old = seen(&[("zk-0", "3.8.0"), ("zk-1", "3.8.0")]);
        assert!(judge_versions(&old, &Want::Same(old.clone())).is_ok());
        assert_eq!(judge_versions(&new, &Want::Same(old.clone())).unwrap_err().to_string(), "zk-0 reports ZooKeeper 3.9.5-4b9e, not 3.8.0 as before the upgrade");
        assert!(judge_versions(&new, &Want::Unlike(old.clone())).is_ok());
        assert_eq!(judge_versions(&old, &Want::Unlike(old.clone())).unwrap_err().to_string(), "zk-0 reports ZooKeeper 3.8.0, as before the roll");
        assert!(judge_versions(&mixed, &Want::Unlike(Vec::new())).unwrap_err().to_string().starts_with("the members report different releases"));
        assert_eq!(judge_versions(&[], &Want::Unlike(Vec::new())).unwrap_err().to_string(), "no member reported a version");
    }

    #[test]
    fn a_members_start_to_ready_is_from_its_last_creation() {
        let ev = |s: i64, m: &str, kind| LifecycleEvent { at: DateTime::<Utc>::from_timestamp(1_000_000 + s, 0).unwrap(), member: m.into(), kind, detail: String::new() };
        let events = [ev(0, "zk-2", LifecycleKind::Deleted), ev(1, "zk-2", LifecycleKind::Created), ev(13, "zk-2", LifecycleKind::Ready), ev(14, "zk-1", LifecycleKind::Created)];
        assert_eq!(created_to_ready(&events, "zk-2"), Some(12_000));
        assert_eq!(created_to_ready(&events, "zk-1"), None, "never Ready");
        assert_eq!(created_to_ready(&events, "zk-0"), None);
    }

    #[test]
    fn the_servers_last_words_are_its_errors() {
        let log = "INFO starting\nERROR Invalid config, exiting abnormally\norg.apache.zookeeper.server.quorum.QuorumPeerConfig$ConfigException: Error processing /conf/zoo.cfg\nINFO bye\n";
        assert_eq!(
            server_says(log),
            "ERROR Invalid config, exiting abnormally | org.apache.zookeeper.server.quorum.QuorumPeerConfig$ConfigException: Error processing /conf/zoo.cfg"
        );
        assert_eq!(server_says("a\nb\n\n"), "a | b");
        let trace = "Caused by: java.lang.NumberFormatException: For input string: \"ten\"\n\tat java.base/java.lang.NumberFormatException.forInputString(NumberFormatException.java:67)\nInvalid config, exiting abnormally\n";
        assert_eq!(server_says(trace), "Caused by: java.lang.NumberFormatException: For input string: \"ten\" | Invalid config, exiting abnormally");
        assert_eq!(server_says(""), "");
    }
}
