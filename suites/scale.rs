//! `scale` (beyond the walkthrough): the StatefulSet's replicas changed as users change them
//! (`kubectl scale`), 3 to 5 to 3 by default (`scale:` in the config sets the targets), judged by
//! what the servers say: after a scale-up every new member serves as a voting follower of the one
//! leader, in the epoch the ensemble had (no second ensemble), and `/hello` reads through every
//! member (none serves an empty tree); after a scale-down the remaining members still serve as one
//! ensemble with the data. Where the ensemble reports its membership (`/zookeeper/config`), every
//! member must be a participant in it. The suite always returns to the replicas it started with.
//!
//! # Caveats
//! A deployment with dynamic reconfiguration is judged the same way: the suite does not yet send
//! `reconfig` itself, so such a deployment passes only if its members join by their own
//! configuration.

use std::collections::BTreeMap;
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::faults::{self, Fault};
use super::ledger::{Action, Revert};
use super::{About, Suite, SuiteCtx};
use crate::client::{self, fourlw::Mode};
use crate::ensemble::{self, EnsembleView};
use crate::platform::{LifecycleKind, Platform, StatefulSetChange};
use crate::wait::{self, Seen};

pub struct Scale;

/// The replicas the suite sets, in order: the config's, or the manifest's plus two and back.
pub fn targets(start: usize, configured: &[usize]) -> Vec<usize> {
    if configured.is_empty() {
        vec![start + 2, start]
    } else {
        configured.to_vec()
    }
}

/// The epoch of a zxid (its high 32 bits): it grows with every elected leader of one ensemble's
/// history; an ensemble started afresh begins again low.
pub fn epoch(zxid: i64) -> i64 {
    zxid >> 32
}

/// The ensemble before a scale: who led, in which epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Before {
    pub leader: String,
    pub epoch: i64,
}

impl Before {
    /// From a whole view: the one leader (a standalone server for a single member).
    pub fn of(view: &EnsembleView) -> anyhow::Result<Before> {
        let lead = view.members.iter().find_map(|m| match &m.server {
            Ok(Some(s)) if matches!(s.mode, Mode::Leader | Mode::Standalone) => Some((m.status.name.clone(), s.zxid)),
            _ => None,
        });
        let (leader, zxid) = lead.ok_or_else(|| anyhow!("no member leads: {}", view.describe()))?;
        Ok(Before { leader, epoch: epoch(zxid) })
    }
}

/// After a scale-up to `view`'s members, `new` being the added ones: one ensemble, one leader in
/// the epoch lineage of `before`, every new member a voting follower serving with it. `Err` names
/// the cause the way a user would read it.
pub fn one_ensemble(view: &EnsembleView, before: &Before, new: &[String]) -> anyhow::Result<String> {
    let state = |name: &str| view.members.iter().find(|m| m.status.name == name).map(|m| &m.server);
    let standalone: Vec<&str> = view.members.iter().filter(|m| matches!(&m.server, Ok(Some(s)) if s.mode == Mode::Standalone)).map(|m| m.status.name.as_str()).collect();
    let new_standalone: Vec<&str> = standalone.iter().copied().filter(|m| new.iter().any(|n| n == m)).collect();
    if !new_standalone.is_empty() {
        bail!(
            "{} {} standalone: each an ensemble of its own beside {}'s (its server list names no peers), so it serves its own tree: {}",
            new_standalone.join(" and "),
            if new_standalone.len() == 1 { "runs" } else { "run" },
            before.leader,
            view.describe()
        );
    }
    let leaders = view.leaders();
    if leaders.len() > 1 {
        let apart: Vec<&str> = leaders.iter().copied().filter(|l| *l != before.leader).collect();
        let epochs: Vec<String> =
            leaders.iter().map(|l| format!("{l} epoch {}", state(l).and_then(|s| s.as_ref().ok()).and_then(|s| s.as_ref()).map_or(0, |s| epoch(s.zxid)))).collect();
        bail!(
            "{} formed {} own ensemble: {} leaders ({}): {}",
            apart.join(" and "),
            if apart.len() == 1 { "its" } else { "their" },
            leaders.len(),
            epochs.join(", "),
            view.describe()
        );
    }
    let Some(leader) = leaders.first().copied() else {
        if standalone.len() == 1 && view.members.len() == 1 {
            return Ok(format!("{} serves standalone, epoch {}", standalone[0], before.epoch));
        }
        bail!("no member leads after the scale: {}", view.describe());
    };
    let leader_epoch = state(leader).and_then(|s| s.as_ref().ok()).and_then(|s| s.as_ref()).map_or(0, |s| epoch(s.zxid));
    if leader_epoch < before.epoch {
        bail!(
            "{leader} leads epoch {leader_epoch}, below the ensemble's epoch {} before the scale: a new ensemble, not the one that held the data: {}",
            before.epoch,
            view.describe()
        );
    }
    for m in new {
        match state(m) {
            None => bail!("{m} is not a member of the StatefulSet seen: {}", view.describe()),
            Some(Ok(Some(s))) if s.mode == Mode::Observer => bail!("{m} is not a voting member: it serves as an observer of {leader}: {}", view.describe()),
            Some(Ok(Some(s))) if s.mode == Mode::Follower && epoch(s.zxid) != leader_epoch => {
                bail!("{m} follows in epoch {}, not the leader {leader}'s epoch {leader_epoch}: {}", epoch(s.zxid), view.describe())
            }
            Some(Ok(Some(s))) if s.mode == Mode::Follower => {}
            Some(Ok(Some(_))) => {}
            Some(Ok(None)) => bail!("{m} never served: it answers but is not serving (no quorum it belongs to): {}", view.describe()),
            Some(Err(e)) => bail!("{m} never served: {e}: {}", view.describe()),
        }
    }
    let followers = view.followers();
    if followers.len() + 1 != view.members.len() {
        bail!("{} of {} other members follow {leader}: {}", followers.len(), view.members.len() - 1, view.describe());
    }
    Ok(format!(
        "{leader} leads epoch {leader_epoch} (before: {} in epoch {}); {} follow it{}",
        before.leader,
        before.epoch,
        followers.join(", "),
        if new.is_empty() { String::new() } else { format!(", the new {} among them as voting followers", new.join(", ")) }
    ))
}

/// The participants `/zookeeper/config` lists (`server.4=zk-3.zk-hs...:2888:3888:participant;...`)
/// by host, the first label of each server's address: `{"zk-3": "participant"}`.
pub fn reported_membership(config: &str) -> BTreeMap<String, String> {
    config
        .lines()
        .filter_map(|l| l.trim().strip_prefix("server.")?.split_once('='))
        .map(|(_, addr)| {
            let (spec, _) = addr.split_once(';').unwrap_or((addr, ""));
            let host = spec.split(':').next().unwrap_or("").split('.').next().unwrap_or("").to_string();
            let role = spec.split(':').nth(3).unwrap_or("participant").to_string();
            (host, role)
        })
        .collect()
}

/// Every one of `members` a participant of the membership the ensemble reports.
pub fn membership_has(reported: &BTreeMap<String, String>, members: &[String]) -> anyhow::Result<String> {
    let listed = || reported.iter().map(|(h, r)| format!("{h} {r}")).collect::<Vec<_>>().join(", ");
    for m in members {
        match reported.get(m).map(String::as_str) {
            None => bail!("{m} is not a voting member: the membership the ensemble reports (/zookeeper/config) lists {}", listed()),
            Some("participant") => {}
            Some(role) => bail!("{m} is not a voting member: /zookeeper/config lists it as {role} ({})", listed()),
        }
    }
    Ok(format!("/zookeeper/config lists {}", listed()))
}

/// Members deleted in reverse ordinal order (the events of each removed member's deletion).
pub fn removed_in_reverse(deleted: &[(String, DateTime<Utc>)], removed: &[String]) -> anyhow::Result<String> {
    let mut by_time = deleted.to_vec();
    by_time.sort_by_key(|(_, at)| *at);
    let order: Vec<&str> = by_time.iter().map(|(m, _)| m.as_str()).collect();
    let expected: Vec<&str> = removed.iter().rev().map(String::as_str).collect();
    if order != expected {
        bail!("members were removed in the order {order:?}, not from the highest ordinal down {expected:?}");
    }
    Ok(format!("removed {}", order.join(", then ")))
}

#[async_trait]
impl Suite for Scale {
    fn about(&self) -> &'static About {
        &About {
            name: "scale",
            sections: &[],
            summary: "beyond the walkthrough: scale the replicas (3 to 5 to 3; `scale:` in the config) as kubectl scale does: every new member a voting follower of the one leader in the same epoch, /hello through each, back to the start",
            needs: &[],
            disruptive: true,
            workload: false,
        }
    }

    fn changes_statefulset(&self) -> Option<StatefulSetChange> {
        Some(StatefulSetChange::Replicas)
    }

    async fn run(&self, ctx: &mut SuiteCtx) -> anyhow::Result<()> {
        let p = ctx.platform.clone();
        let t = ctx.config.timeouts.clone();
        let start = p.members().len();
        let plan = targets(start, &ctx.config.scale);

        let mut before = None;
        ctx.step("the ensemble is whole before scaling", async {
            let view = ensemble::wait_whole(p.as_ref(), t.ensemble_whole, t.operation).await?;
            let b = Before::of(&view)?;
            before = Some(b);
            Ok(view.describe())
        })
        .await?;
        let mut before = before.expect("set by the step that passed");
        // The voters the ensemble reports before any change: a scale-down below their majority is
        // judged lost as soon as no remaining member serves.
        let voters = read_membership(p.as_ref(), &before.leader, t.operation).await.ok().map(|r| r.values().filter(|role| *role == "participant").count()).filter(|n| *n > 0);
        let hello = faults::write_hello(p.as_ref(), &p.members()[0], t.operation).await?;

        // The plan, then back to the start unless the plan ends there (`true`: the return).
        let mut steps: Vec<(usize, bool)> = plan.iter().map(|&n| (n, false)).collect();
        if plan.last() != Some(&start) {
            steps.push((start, true));
        }
        for (to, is_return) in steps {
            let from = p.members().len();
            if to == from {
                continue;
            }
            // The recovery the suite measures: each scale, from the request to the ensemble whole
            // at the new size (the `scale_ms` below); the rest of its wall time is the harness's.
            ctx.measures(format!("{}.{from}_to_{to}.scale_ms", if to > from { "up" } else { "down" }));
            let (fault, scaled) = if is_return {
                let fault = Fault::inject(ctx, &format!("scale the StatefulSet back to {start} replicas"));
                (fault, ctx.revert(&Revert::Scale { to: start }).await.map(|()| super::ledger::Injected::Accepted))
            } else {
                ctx.inject(&Action::Scale { from, to, back_to: start }).await
            };
            if let Err(e) = scaled {
                return Err(ctx.fail(&format!("scale from {from} to {to} replicas accepted"), e));
            }
            let label = format!("{from} to {to}");
            let ok = if to > from { scale_up(ctx, &fault, &label, from, to, &before).await } else { scale_down(ctx, &fault, &label, (from, to), &before, voters).await };
            // `None`: the members serve, but not as one ensemble; what each serves is still read.
            let after = ok?;
            let members = p.members();
            let read = async {
                let mut seen = Vec::new();
                for m in &members {
                    seen.push(faults::hello_intact(p.as_ref(), m, hello.czxid, t.operation).await.map_err(|e| serving_empty(m, e))?);
                }
                Ok(seen.join("; "))
            };
            ctx.step(&format!("{label}: /hello reads through every member (none serves an empty tree)"), read).await?;
            match after {
                Some(a) => before = a,
                None => return Err(ctx.stop()),
            }
        }
        // Back at the start already: the revert owed is a no-op, settled here so the runner has
        // nothing left to undo.
        if p.members().len() == start {
            ctx.revert(&Revert::Scale { to: start }).await?;
        }
        Ok(())
    }
}

/// A member whose /hello is missing serves a tree that is not the ensemble's.
fn serving_empty(member: &str, e: anyhow::Error) -> anyhow::Error {
    let text = format!("{e:#}");
    if text.contains("/hello is gone") {
        anyhow!("{member} serves an empty tree, not the ensemble's: {text} (data gone for every client it serves)")
    } else {
        e.context(format!("reading /hello through {member}"))
    }
}

/// The servers' own words when a member does not serve, from its log (the previous container's
/// too, for one that crashed): see [`last_words`].
async fn last_log(p: &dyn Platform, member: &str) -> String {
    match p.logs(member, None).await {
        Ok(log) => last_words(&log).map(|w| format!("; {member}'s log: {w}")).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The last exception with its message in a server's log (`java.lang.RuntimeException: My id 4
/// not in the peer list`: the cause), else its last ERROR line (before the shutdown noise), else
/// its last three lines; stack frames and zk-chaos's own section markers left out.
pub fn last_words(log: &str) -> Option<String> {
    let lines: Vec<&str> = log.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("at ") && !l.starts_with("===")).collect();
    if let Some(e) = lines.iter().rev().find(|l| l.split_whitespace().next().is_some_and(|w| w.ends_with("Exception:"))) {
        return Some(e.to_string());
    }
    if let Some(e) = lines.iter().rev().find(|l| l.contains(" ERROR ") || l.contains("- ERROR")) {
        return Some(e.to_string());
    }
    (!lines.is_empty()).then(|| lines[lines.len().saturating_sub(3)..].join(" | "))
}

/// A new member whose container has restarted this often without ever serving is crash-looping:
/// wrong now, not "not yet".
pub const CRASH_LOOP_RESTARTS: u32 = 3;

/// A new member the scheduler has refused this long cannot be placed on this cluster (the
/// scheduler tries again as nodes change; nothing changes them during the suite).
pub const UNSCHEDULABLE_FOR: std::time::Duration = std::time::Duration::from_secs(30);

/// The scale-up cannot apply when a new member has been Pending as Unschedulable since `since`
/// (for [`UNSCHEDULABLE_FOR`] or more): the cluster has no node the pod template's scheduling
/// rules allow (required anti-affinity with fewer nodes than members, taints, resources). That
/// is the cluster's size, not the deployment's failure: the step is skipped, quoting the scheduler.
pub fn unschedulable(member: &str, reason: &str, pending_for: std::time::Duration, to: usize) -> Option<super::CannotApply> {
    (reason.starts_with("Unschedulable") && pending_for >= UNSCHEDULABLE_FOR).then(|| {
        super::CannotApply(format!(
            "{member} cannot be scheduled on this cluster (Pending {} s, {reason}): {to} members need {to} nodes that the pod template's scheduling rules allow; scale to fewer replicas (`scale:` in the config) or on a larger cluster",
            pending_for.as_secs()
        ))
    })
}

/// A scale-up from `from` to `to`: every new member serving (start-to-serving timed), then one
/// ensemble by the servers' word, then the membership the ensemble reports. Returns the ensemble's
/// leader and epoch after it; `None` when the new members serve but not as one ensemble.
async fn scale_up(ctx: &mut SuiteCtx, fault: &Fault, label: &str, from: usize, to: usize, before: &Before) -> anyhow::Result<Option<Before>> {
    let p = ctx.platform.clone();
    let t = ctx.config.timeouts.clone();
    let members = p.members();
    let new: Vec<String> = members[from..to].to_vec();
    // When each new member was first seen running (its start) and first serving.
    let started: Mutex<BTreeMap<String, DateTime<Utc>>> = Mutex::new(BTreeMap::new());
    let serving: Mutex<BTreeMap<String, DateTime<Utc>>> = Mutex::new(BTreeMap::new());
    // When each new member was first seen Pending as Unschedulable.
    let pending: Mutex<BTreeMap<String, std::time::Instant>> = Mutex::new(BTreeMap::new());
    // New members the scheduler refused for good: the wait goes on for the others, which must
    // still serve (a crash loop beside an unschedulable member is the deployment's failure).
    let refused: Mutex<BTreeMap<String, super::CannotApply>> = Mutex::new(BTreeMap::new());
    let deadline = t.member_ready * (to - from) as u32 + t.ensemble_whole;
    let waited = ctx
        .step(&format!("{label}: every new member serving ({})", new.join(", ")), async {
            let what = format!("{} serving", new.join(", "));
            let seen = wait::until(&what, deadline, Some(p.subscribe()), || async {
                let view = EnsembleView::observe(p.as_ref(), t.operation).await?;
                let now = Utc::now();
                for m in view.members.iter().filter(|m| new.contains(&m.status.name)) {
                    if m.status.running {
                        let at = m.status.started_at.unwrap_or(now);
                        started.lock().expect("never poisoned").entry(m.status.name.clone()).or_insert(at);
                    }
                    if matches!(m.server, Ok(Some(_))) {
                        serving.lock().expect("never poisoned").entry(m.status.name.clone()).or_insert(now);
                    }
                    let mut pending = pending.lock().expect("never poisoned");
                    match m.status.reason.as_deref().filter(|r| m.status.phase == "Pending" && r.starts_with("Unschedulable")) {
                        Some(reason) => {
                            let since = *pending.entry(m.status.name.clone()).or_insert_with(std::time::Instant::now);
                            if let Some(cannot) = unschedulable(&m.status.name, reason, since.elapsed(), to) {
                                refused.lock().expect("never poisoned").insert(m.status.name.clone(), cannot);
                            }
                        }
                        None => {
                            pending.remove(&m.status.name);
                        }
                    }
                }
                let done = serving.lock().expect("never poisoned").len() + refused.lock().expect("never poisoned").len() >= new.len();
                let looping = view.members.iter().find(|m| {
                    new.contains(&m.status.name) && m.status.restart_count >= CRASH_LOOP_RESTARTS && !serving.lock().expect("never poisoned").contains_key(&m.status.name)
                });
                if let Some(m) = looping {
                    bail!("{} restarted {} times without serving (crash loop): {}", m.status.name, m.status.restart_count, view.describe());
                }
                Ok(if done { Seen::Done(view.describe()) } else { Seen::NotYet(view.describe()) })
            })
            .await;
            let refused = std::mem::take(&mut *refused.lock().expect("never poisoned"));
            match seen {
                Ok(d) if refused.is_empty() => Ok(d),
                // Every other new member serves: what is left is the cluster's size.
                Ok(d) => Err(anyhow::Error::new(super::CannotApply(format!(
                    "{}; the rest of the scale from {from} to {to} cannot be judged ({d})",
                    refused.into_values().map(|c| c.0).collect::<Vec<_>>().join("; ")
                )))),
                Err(e) => {
                    let serving = serving.lock().expect("never poisoned").clone();
                    let mut why = Vec::new();
                    for m in new.iter().filter(|m| !serving.contains_key(*m)) {
                        why.push(format!("{m} never served{}", last_log(p.as_ref(), m).await));
                    }
                    Err(anyhow!("{}; {e:#}", why.join("; ")))
                }
            }
        })
        .await;
    let (started, serving) = (started.into_inner().expect("never poisoned"), serving.into_inner().expect("never poisoned"));
    for (m, at) in &serving {
        ctx.metric(&format!("up.{from}_to_{to}.{m}.serving_after_scale_ms"), fault.ms_to(*at));
        if let Some(s) = started.get(m) {
            ctx.metric(&format!("up.{from}_to_{to}.{m}.start_to_serving_ms"), (*at - *s).num_milliseconds().max(0) as f64);
        }
    }
    waited?;

    let mut after = None;
    let judged = ctx
        .step(&format!("{label}: one ensemble, every new member a voting follower of its leader in its epoch"), async {
            // A new member serving standalone is an ensemble of its own for good: wrong now, not "not yet".
            let first = EnsembleView::observe(p.as_ref(), t.operation).await?;
            if first.members.iter().any(|m| new.contains(&m.status.name) && matches!(&m.server, Ok(Some(s)) if s.mode == Mode::Standalone)) {
                one_ensemble(&first, before, &new)?;
            }
            let whole = ensemble::wait_whole(p.as_ref(), t.ensemble_whole, t.operation).await;
            let view = match &whole {
                Ok(v) => v.clone(),
                Err(_) => EnsembleView::observe(p.as_ref(), t.operation).await?,
            };
            let evidence = one_ensemble(&view, before, &new)?;
            whole.context("every new member serves, yet the ensemble is not whole")?;
            after = Some(Before::of(&view)?);
            Ok(evidence)
        })
        .await;
    if judged.is_ok() {
        let at = ctx.mark(format!("{label}: ensemble whole"));
        ctx.metric(&format!("up.{from}_to_{to}.scale_ms"), fault.ms_to(at));
    }
    if judged.is_err() {
        return Ok(None);
    }
    let after = after.expect("set by the step that passed");
    membership(ctx, label, &after.leader, &members).await;
    Ok(Some(after))
}

/// `/zookeeper/config` through `member`, as [`reported_membership`] reads it.
async fn read_membership(p: &dyn Platform, member: &str, op_timeout: std::time::Duration) -> anyhow::Result<BTreeMap<String, String>> {
    let zk = client::connect(p.client_addr(member).await?, op_timeout).await?;
    let data = client::read_synced(&zk, "/zookeeper/config").await?;
    Ok(reported_membership(&data.map(|(d, _)| String::from_utf8_lossy(&d).into_owned()).unwrap_or_default()))
}

/// The membership the ensemble reports, read through `leader`; skipped where it reports none.
async fn membership(ctx: &mut SuiteCtx, label: &str, leader: &str, members: &[String]) {
    let p = ctx.platform.clone();
    let t = ctx.config.timeouts.clone();
    let name = format!("{label}: every member a participant of the membership the ensemble reports");
    match read_membership(p.as_ref(), leader, t.operation).await {
        Ok(reported) if reported.is_empty() => ctx.skip(&name, format!("/zookeeper/config through {leader} lists no servers (no dynamic configuration)")),
        Ok(reported) => {
            ctx.check(&name, async { membership_has(&reported, members) }).await;
        }
        Err(e) => {
            ctx.fail(&name, e.context(format!("reading /zookeeper/config through {leader}")));
        }
    }
}

/// A scale-down from `from` to `to`: the removed members go, highest ordinal first; the remaining
/// ones serve as one ensemble (a majority of the voters must remain). With `voters` (what
/// `/zookeeper/config` listed before), fewer than a majority of them left with none serving is
/// wrong at once, not "not yet".
async fn scale_down(ctx: &mut SuiteCtx, fault: &Fault, label: &str, (from, to): (usize, usize), before: &Before, voters: Option<usize>) -> anyhow::Result<Option<Before>> {
    let p = ctx.platform.clone();
    let t = ctx.config.timeouts.clone();
    let removed: Vec<String> = crate::platform::member_names(p.manifest().name(), from)[to..].to_vec();
    let gone = ctx
        .step(&format!("{label}: {} removed", removed.join(", ")), async {
            let what = format!("{} gone", removed.join(", "));
            wait::until(&what, t.member_ready * (from - to) as u32, Some(p.subscribe()), || async {
                let mut left = Vec::new();
                for m in &removed {
                    let s = p.status(m).await?;
                    if s.exists {
                        left.push(format!("{m} {}", s.phase));
                    }
                }
                Ok(if left.is_empty() { Seen::Done(()) } else { Seen::NotYet(left.join(", ")) })
            })
            .await?;
            Ok(format!("{} no longer exist", removed.join(", ")))
        })
        .await;
    gone?;

    let mut after = None;
    let judged = ctx
        .step(&format!("{label}: the remaining members serve as one ensemble"), async {
            if voters.is_some_and(|v| to <= v / 2) {
                let what = "a remaining member serving (fewer than a majority of the voters are left)";
                let lost = wait::until(what, t.ensemble_whole, Some(p.subscribe()), || async {
                    let view = EnsembleView::observe(p.as_ref(), t.operation).await?;
                    Ok(match no_quorum(&view, from, to, voters) {
                        Some(e) => Seen::Done(e),
                        None => Seen::NotYet(view.describe()),
                    })
                })
                .await;
                if let Ok(e) = lost {
                    return Err(e);
                }
            }
            let whole = ensemble::wait_whole(p.as_ref(), t.ensemble_whole, t.operation).await;
            let view = match whole {
                Ok(v) => v,
                Err(e) => {
                    let view = EnsembleView::observe(p.as_ref(), t.operation).await?;
                    return Err(no_quorum(&view, from, to, voters).unwrap_or(e));
                }
            };
            let evidence = one_ensemble(&view, before, &[])?;
            after = Some(Before::of(&view)?);
            Ok(evidence)
        })
        .await;
    if judged.is_ok() {
        let at = ctx.mark(format!("{label}: ensemble whole"));
        ctx.metric(&format!("down.{from}_to_{to}.scale_ms"), fault.ms_to(at));
    }
    // Judged after the ensemble was, so that the last deletion's event has been recorded.
    let deleted: Vec<(String, DateTime<Utc>)> =
        removed.iter().filter_map(|m| faults::first_after(&p.lifecycle(), m, &[LifecycleKind::Deleted], fault.at).map(|e| (m.clone(), e.at))).collect();
    let order = format!("{label}: members removed from the highest ordinal down");
    if deleted.len() == removed.len() {
        ctx.check(&order, async { removed_in_reverse(&deleted, &removed) }).await;
    } else {
        ctx.skip(
            &order,
            format!("the platform recorded the deletion of {} of {} removed members (a member a scale-up added is not watched on Kubernetes)", deleted.len(), removed.len()),
        );
    }
    judged?;
    Ok(Some(after.expect("set by the step that passed")))
}

/// After a scale-down, the cause when no remaining member serves: quorum lost.
fn no_quorum(view: &EnsembleView, from: usize, to: usize, voters: Option<usize>) -> Option<anyhow::Error> {
    let serving = view.members.iter().filter(|m| matches!(m.server, Ok(Some(_)))).count();
    let why = match voters {
        Some(v) => format!("{to} of the {v} voters /zookeeper/config listed before the scale are no majority"),
        None => format!("the {to} left are no majority of the voters their configuration names"),
    };
    (serving == 0).then(|| anyhow!("no quorum after scaling from {from} to {to}: no remaining member serves ({}); {why}", view.describe()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::fourlw::ServerState;
    use crate::ensemble::MemberView;
    use crate::platform::MemberStatus;

    /// A member whose server answers in `mode` at `zxid`; `None`: it answers but does not serve.
    fn m(name: &str, mode: Option<Mode>, zxid: i64) -> MemberView {
        let status = MemberStatus { exists: true, running: true, ready: true, phase: "Running".into(), reason: None, ..MemberStatus::absent(name, 0) };
        let server = Ok(mode.map(|mode| ServerState { mode, zxid, synced_followers: None, version: "3.9.5".into(), sync_unobserved: None }));
        MemberView { status, server }
    }

    fn view(members: Vec<MemberView>) -> EnsembleView {
        EnsembleView { members }
    }

    fn before() -> Before {
        Before { leader: "zk-1".into(), epoch: 2 }
    }

    fn new() -> Vec<String> {
        vec!["zk-3".into(), "zk-4".into()]
    }

    use Mode::*;

    #[test]
    fn targets_default_to_two_more_and_back() {
        assert_eq!(targets(3, &[]), [5, 3]);
        assert_eq!(targets(1, &[]), [3, 1]);
        assert_eq!(targets(3, &[1]), [1]);
        assert_eq!(epoch(0x2_0000_0005), 2);
    }

    #[test]
    fn new_members_following_the_leader_in_its_epoch_pass() {
        let v = view(vec![
            m("zk-0", Some(Follower), 0x2_0000_0009),
            m("zk-1", Some(Leader), 0x2_0000_0009),
            m("zk-2", Some(Follower), 0x2_0000_0009),
            m("zk-3", Some(Follower), 0x2_0000_0009),
            m("zk-4", Some(Follower), 0x2_0000_0009),
        ]);
        let ok = one_ensemble(&v, &before(), &new()).unwrap();
        assert_eq!(ok, "zk-1 leads epoch 2 (before: zk-1 in epoch 2); zk-0, zk-2, zk-3, zk-4 follow it, the new zk-3, zk-4 among them as voting followers");
        // A new leader elected in a later epoch is the same lineage.
        let re = view(vec![m("zk-0", Some(Follower), 0x3_0000_0000), m("zk-1", Some(Follower), 0x3_0000_0000), m("zk-4", Some(Leader), 0x3_0000_0000)]);
        assert!(one_ensemble(&re, &before(), &["zk-4".into()]).is_ok());
    }

    #[test]
    fn a_member_the_scheduler_refuses_for_long_enough_cannot_apply() {
        let why = "Unschedulable: 0/5 nodes are available: 1 node(s) had untolerated taint, 4 node(s) didn't match pod anti-affinity rules";
        let cannot = unschedulable("zk-4", why, UNSCHEDULABLE_FOR, 5).expect("refused for the whole grace time");
        assert!(
            cannot.0.starts_with("zk-4 cannot be scheduled on this cluster (Pending 30 s, Unschedulable: 0/5 nodes") && cannot.0.contains("5 members need 5 nodes"),
            "{cannot}"
        );
        assert!(unschedulable("zk-4", why, UNSCHEDULABLE_FOR / 2, 5).is_none(), "the scheduler may still place it");
        assert!(unschedulable("zk-4", "CrashLoopBackOff", UNSCHEDULABLE_FOR * 2, 5).is_none(), "a member that runs and crashes is the deployment's failure");
    }

    #[test]
    fn new_members_apart_from_the_ensemble_fail_naming_the_cause() {
        let base = || vec![m("zk-0", Some(Follower), 0x2_0000_0009), m("zk-1", Some(Leader), 0x2_0000_0009), m("zk-2", Some(Follower), 0x2_0000_0009)];
        let own = |a: Option<Mode>, b: Option<Mode>| {
            let mut v = base();
            v.push(m("zk-3", a, 0x1_0000_0000));
            v.push(m("zk-4", b, 0x1_0000_0000));
            view(v)
        };
        let err = one_ensemble(&own(Some(Leader), Some(Follower)), &before(), &new()).unwrap_err().to_string();
        assert!(err.starts_with("zk-3 formed its own ensemble: 2 leaders (zk-1 epoch 2, zk-3 epoch 1)"), "{err}");
        let err = one_ensemble(&own(Some(Standalone), Some(Standalone)), &before(), &new()).unwrap_err().to_string();
        assert!(err.starts_with("zk-3 and zk-4 run standalone: each an ensemble of its own beside zk-1's"), "{err}");
        let err = one_ensemble(&own(Some(Observer), Some(Follower)), &before(), &new()).unwrap_err().to_string();
        assert!(err.starts_with("zk-3 is not a voting member: it serves as an observer of zk-1"), "{err}");
        let err = one_ensemble(&own(None, Some(Follower)), &before(), &new()).unwrap_err().to_string();
        assert!(err.starts_with("zk-3 never served: it answers but is not serving"), "{err}");
        let mut down = own(Some(Follower), Some(Follower));
        down.members[3].server = Err("connection refused".into());
        assert!(one_ensemble(&down, &before(), &new()).unwrap_err().to_string().starts_with("zk-3 never served: connection refused"));
        let err = one_ensemble(&own(Some(Follower), Some(Follower)), &before(), &new()).unwrap_err().to_string();
        assert!(err.starts_with("zk-3 follows in epoch 1, not the leader zk-1's epoch 2"), "{err}");
    }

    #[test]
    fn an_ensemble_started_afresh_or_leaderless_fails() {
        let fresh = view(vec![m("zk-0", Some(Leader), 0x1_0000_0001), m("zk-1", Some(Follower), 0x1_0000_0001), m("zk-2", Some(Follower), 0x1_0000_0001)]);
        let err = one_ensemble(&fresh, &before(), &[]).unwrap_err().to_string();
        assert!(err.starts_with("zk-0 leads epoch 1, below the ensemble's epoch 2 before the scale: a new ensemble"), "{err}");
        let none = view(vec![m("zk-0", None, 0), m("zk-1", None, 0)]);
        assert!(one_ensemble(&none, &before(), &[]).unwrap_err().to_string().starts_with("no member leads after the scale"));
        assert!(no_quorum(&none, 3, 1, None).unwrap().to_string().starts_with("no quorum after scaling from 3 to 1: no remaining member serves"));
        assert!(no_quorum(&none, 3, 1, Some(3)).unwrap().to_string().ends_with("1 of the 3 voters /zookeeper/config listed before the scale are no majority"));
        assert!(no_quorum(&fresh, 3, 1, None).is_none(), "members that serve have quorum");
        let alone = view(vec![m("zk-0", Some(Standalone), 0x2_0000_0001)]);
        assert_eq!(one_ensemble(&alone, &Before { leader: "zk-0".into(), epoch: 2 }, &[]).unwrap(), "zk-0 serves standalone, epoch 2");
        let lagging = view(vec![m("zk-0", Some(Leader), 0x2_0000_0001), m("zk-1", Some(Follower), 0x2_0000_0001), m("zk-2", None, 0)]);
        assert_eq!(one_ensemble(&lagging, &before(), &[]).unwrap_err().to_string().split(':').next(), Some("1 of 2 other members follow zk-0"));
    }

    #[test]
    fn the_reported_membership_names_each_server_by_host_and_role() {
        let config = "server.1=zk-0.zk-hs.default.svc.cluster.local:2888:3888:participant;0.0.0.0:2181\n\
                      server.2=zk-1.zk-hs.default.svc.cluster.local:2888:3888:participant;0.0.0.0:2181\n\
                      server.4=zk-3.zk-hs:2888:3888:observer;2181\nversion=100000000\n";
        let r = reported_membership(config);
        assert_eq!(r.get("zk-0").map(String::as_str), Some("participant"));
        assert_eq!(r.get("zk-3").map(String::as_str), Some("observer"));
        assert_eq!(reported_membership("server.3=zk-2.zk-hs:2888:3888").get("zk-2").map(String::as_str), Some("participant"), "no role: a participant");
        assert!(reported_membership("").is_empty());
        assert!(membership_has(&r, &["zk-0".into(), "zk-1".into()]).unwrap().starts_with("/zookeeper/config lists zk-0 participant"));
        assert!(membership_has(&r, &["zk-3".into()]).unwrap_err().to_string().starts_with("zk-3 is not a voting member: /zookeeper/config lists it as observer"));
        assert!(membership_has(&r, &["zk-4".into()]).unwrap_err().to_string().starts_with("zk-4 is not a voting member: the membership the ensemble reports"));
    }

    #[test]
    fn the_last_words_are_the_last_error_else_the_last_lines() {
        let log = "=== previous container (last 500 lines) ===\n2026 [myid:4] - INFO  [main] - Reading configuration\n\
                   2026 [myid:4] - ERROR [main:o.a.z.s.q.QuorumPeerMain@99] - Unexpected exception, exiting abnormally\n\
                   \tat org.apache.zookeeper.Foo.bar(Foo.java:1)\n2026 [myid:4] - INFO  [main] - shutdown\n=== current container ===\n";
        assert_eq!(last_words(log).unwrap(), "2026 [myid:4] - ERROR [main:o.a.z.s.q.QuorumPeerMain@99] - Unexpected exception, exiting abnormally");
        assert_eq!(last_words("a\nb\nc\nd\n").unwrap(), "b | c | d");
        let crashed = "2026 [myid:4] - ERROR [main:QuorumPeerMain@114] - Unexpected exception, exiting abnormally\n\
                       java.lang.RuntimeException: My id 4 not in the peer list\n\tat org.apache.zookeeper.server.quorum.QuorumPeer.start(QuorumPeer.java:1)\n\
                       2026 [myid:4] - ERROR [main:ServiceUtils@42] - Exiting JVM with code 1\n";
        assert_eq!(last_words(crashed).unwrap(), "java.lang.RuntimeException: My id 4 not in the peer list");
        assert_eq!(last_words("=== current container ===\n"), None);
    }

    #[test]
    fn removed_members_go_from_the_highest_ordinal_down() {
        let at = |s: i64| DateTime::<Utc>::from_timestamp(1_000_000 + s, 0).unwrap();
        let removed: Vec<String> = vec!["zk-3".into(), "zk-4".into()];
        assert_eq!(removed_in_reverse(&[("zk-3".into(), at(5)), ("zk-4".into(), at(1))], &removed).unwrap(), "removed zk-4, then zk-3");
        assert!(removed_in_reverse(&[("zk-3".into(), at(1)), ("zk-4".into(), at(5))], &removed).unwrap_err().to_string().contains("not from the highest ordinal down"));
    }

    #[test]
    fn an_empty_tree_is_named_as_such() {
        let e = serving_empty("zk-1", anyhow!("/hello is gone: zk-1 has no /hello (it was created with cZxid 0x100000002)"));
        assert!(e.to_string().starts_with("zk-1 serves an empty tree, not the ensemble's: /hello is gone"), "{e}");
        let other = serving_empty("zk-1", anyhow!("connection refused"));
        assert_eq!(format!("{other:#}"), "reading /hello through zk-1: connection refused");
    }
}
