//! The fault suites' verdicts as pure functions of what was recorded: lifecycle events, member
//! statuses, ensemble views, reads. The suites act and gather; these judge. Each way a verdict
//! can fail has a unit test below, and `ci/mutants.sh` checks that no change to a verdict goes
//! unnoticed by them.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, bail, ensure};
use chrono::{DateTime, Utc};

use super::integrity::WORLD;
use crate::client::{hex_zxid, ZnodeStat};
use crate::ensemble::EnsembleView;
use crate::platform::{EvictionOutcome, LifecycleEvent, LifecycleKind, MemberStatus};

/// Milliseconds from `from` to `to` (0 if `to` came first).
pub fn ms_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds().max(0) as f64
}

/// process-failure: after java is killed (SIGTERM, as the walkthrough kills it) the container must exit by
/// itself, before a liveness probe could have noticed. `seen` is the first Exited or
/// LivenessKilled event after the fault, `None` if none came within `deadline`; `kill_ok`
/// whether the kill itself reported success.
pub fn exited_by_itself(fault_at: DateTime<Utc>, seen: Option<&LifecycleEvent>, kill_ok: bool, deadline: Duration) -> anyhow::Result<String> {
    match seen {
        Some(e) if e.kind == LifecycleKind::Exited => Ok(format!("exited {} ms after the kill ({})", ms_between(fault_at, e.at), e.detail)),
        Some(e) => Err(anyhow!(
            "the container did not exit when java died: the liveness probe killed it {} ms later ({}); the entry point must exit with its server",
            ms_between(fault_at, e.at),
            e.detail
        )),
        None => Err(anyhow!(
            "kill java returned {} but the container did not exit and the restart count did not change within {}",
            if kill_ok { "0" } else { "an error" },
            humantime::format_duration(deadline)
        )),
    }
}

/// The member was restarted exactly once: its restart count went up by one, no more, no less.
pub fn restarted_once(before: u32, after: u32) -> anyhow::Result<()> {
    ensure!(after == before + 1, "restart count went from {before} to {after}, not up by one");
    Ok(())
}

/// liveness: the container was killed by its liveness probe after exactly `threshold` failures
/// since the fault. `kill` is the first LivenessKilled or Exited event after it.
///
/// A failure just before the fault counts when it is one of the run that led to the kill: the
/// probe run before the first one after the fault, less than one and a half periods before it (a
/// probe that timed out on a loaded machine moments before the fault, seen in CI). The evidence
/// says so.
pub fn killed_by_liveness(events: &[LifecycleEvent], member: &str, fault_at: DateTime<Utc>, kill: &LifecycleEvent, threshold: u32, period: Duration) -> anyhow::Result<String> {
    ensure!(kill.kind == LifecycleKind::LivenessKilled, "the container exited by itself ({}) instead of being restarted by its liveness probe", kill.detail);
    let all: Vec<DateTime<Utc>> = events.iter().filter(|x| x.member == member && x.kind == LifecycleKind::LivenessFailed && x.at <= kill.at).map(|x| x.at).collect();
    let after: Vec<DateTime<Utc>> = all.iter().copied().filter(|at| *at >= fault_at).collect();
    let failures = after.len() as u32;
    // The consecutive failures before the first one after the fault, newest first.
    let mut before = 0u32;
    if let Some(mut next) = after.first().copied() {
        let step = chrono::Duration::from_std(period.mul_f64(1.5)).unwrap_or(chrono::Duration::MAX);
        for at in all.iter().rev().filter(|at| **at < fault_at) {
            if failures + before >= threshold || next - *at >= step {
                break;
            }
            before += 1;
            next = *at;
        }
    }
    let killed = format!("then the container was killed {} ms after the fault ({})", ms_between(fault_at, kill.at), kill.detail);
    match (failures == threshold, failures + before == threshold && failures > 0) {
        (true, _) => Ok(format!("{failures} liveness failures, {killed}")),
        (false, true) => Ok(format!(
            "{} liveness failures in a row, {before} of them in the probe run{} just before the fault (a probe that failed on its own, one period or less before), {killed}",
            failures + before,
            if before == 1 { "" } else { "s" }
        )),
        _ => bail!("the container was killed after {failures} liveness failures, not the manifest's failureThreshold {threshold}"),
    }
}

/// liveness: the member came back in a new container, restarted once, with the probe script
/// the fault removed present again (`script_present`): a fresh container from the image.
pub fn fresh_container(before: &MemberStatus, now: &MemberStatus, script: &str, script_present: bool) -> anyhow::Result<()> {
    restarted_once(before.restart_count, now.restart_count)?;
    ensure!(now.container_id != before.container_id, "the container is the same one ({:?}): it was not replaced", now.container_id);
    ensure!(script_present, "{script} is still missing after the restart: the container was not fresh from the image");
    Ok(())
}

/// process-failure: the killed member serves again as leader or follower in a whole ensemble.
pub fn rejoined(view: &EnsembleView, member: &str) -> anyhow::Result<String> {
    let m = view.members.iter().find(|m| m.status.name == member);
    let role = m.and_then(|m| m.server.as_ref().ok().cloned().flatten()).map(|s| format!("{:?}", s.mode).to_lowercase());
    match role.as_deref() {
        Some(r @ ("leader" | "follower")) => Ok(format!("{member} is a {r} again; {}", view.describe())),
        _ => bail!("{member} is not serving: {}", view.describe()),
    }
}

/// durability: every member's last zxid now is at least what it was before the fault (a member
/// absent before is not judged; one that reports no zxid now fails).
pub fn zxids_never_back(before: &BTreeMap<String, i64>, view: &EnsembleView) -> anyhow::Result<String> {
    let mut seen = Vec::new();
    for m in &view.members {
        let name = &m.status.name;
        let Some(was) = before.get(name) else { continue };
        let now = m.server.as_ref().ok().cloned().flatten().map(|s| s.zxid);
        match now {
            Some(now) if now >= *was => seen.push(format!("{name} {} -> {}", hex_zxid(*was), hex_zxid(now))),
            Some(now) => bail!("{name}'s last zxid went back from {} to {}: it lost transactions", hex_zxid(*was), hex_zxid(now)),
            None => bail!("{name} does not report a zxid: {}", view.describe()),
        }
    }
    ensure!(!seen.is_empty(), "no member reported a zxid before the fault: nothing to compare ({})", view.describe());
    Ok(format!("ensemble whole; last zxid never went back: {}", seen.join(", ")))
}

/// durability: the members still there after the StatefulSet was deleted (a pod that exists or
/// a container that runs), as "zk-1 Running"; empty when every member is gone.
pub fn still_there(statuses: &[MemberStatus]) -> Vec<String> {
    statuses.iter().filter(|s| s.exists || s.running).map(|s| format!("{} {}", s.name, s.phase)).collect()
}

/// The walkthrough's `/hello` read through `member` after a sync: it must be `world` with the
/// cZxid it was created with (a re-created `/hello` means the data was lost).
pub fn hello_intact(member: &str, read: Option<(Vec<u8>, ZnodeStat)>, czxid: i64) -> anyhow::Result<String> {
    match read {
        None => bail!("/hello is gone: {member} has no /hello (it was created with cZxid {})", hex_zxid(czxid)),
        Some((v, _)) if v != WORLD => bail!("/hello through {member} is {:?}, not \"world\"", String::from_utf8_lossy(&v)),
        Some((_, stat)) if stat.czxid != czxid => {
            bail!("/hello through {member} has cZxid {}, not the original {}: it was re-created, so the data was lost", hex_zxid(stat.czxid), hex_zxid(czxid))
        }
        Some(_) => Ok(format!("/hello = world through {member}, cZxid {} as written", hex_zxid(czxid))),
    }
}

/// maintenance: one attempt to evict `member` while another member is down must be refused by
/// the budget, and the member must still be running afterwards.
pub fn refused_attempt(attempt: u32, member: &str, outcome: &EvictionOutcome, after: &MemberStatus) -> anyhow::Result<String> {
    let message = match outcome {
        EvictionOutcome::Accepted => {
            bail!("attempt {attempt}: the eviction of {member} was accepted with another member already down: the drain took a majority of the servers (quorum lost)")
        }
        EvictionOutcome::RefusedByBudget { message } => message.clone(),
    };
    ensure!(after.running && after.phase == "Running", "attempt {attempt}: {member} is no longer running: {}", describe_member(after));
    Ok(message)
}

/// `zk-1 Pending (Unschedulable: ...) on no node`
pub fn describe_member(s: &MemberStatus) -> String {
    format!("{} {}{} on {}", s.name, s.phase, s.reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default(), s.node.as_deref().unwrap_or("no node"))
}

/// partition: every probe opened its connection (before a cut, to show the probe can succeed;
/// after the heal, to show it is gone).
pub fn all_reached(probes: &[(String, String, bool)]) -> anyhow::Result<String> {
    ensure!(!probes.is_empty(), "nothing was probed");
    let closed: Vec<String> = probes.iter().filter(|p| !p.2).map(|(f, t, _)| format!("{f} -> {t}")).collect();
    ensure!(closed.is_empty(), "no connection: {}", closed.join(", "));
    Ok(format!("{} connections opened", probes.len()))
}

/// partition: under a cut no probe opens, both ways (a one-way cut drops the member's replies
/// too), and the rules counted what they did: dropped packets going out, and either dropped
/// packets coming in (a cut) or packets let in from the peers (one way: that way is open).
pub fn cut_in_force(probes: &[(String, String, bool)], counters: &crate::platform::CutCounters, one_way: bool) -> anyhow::Result<String> {
    ensure!(!probes.is_empty(), "nothing was probed");
    let open: Vec<String> = probes.iter().filter(|p| p.2).map(|(f, t, _)| format!("{f} -> {t}")).collect();
    ensure!(open.is_empty(), "still connected under the cut: {}", open.join(", "));
    ensure!(counters.out_dropped > 0, "the cut's rules dropped no outgoing packet ({counters:?}): the probes failed for another reason");
    if one_way {
        ensure!(counters.in_dropped == 0, "a one-way cut dropped {} incoming packets", counters.in_dropped);
        ensure!(counters.in_let_through > 0, "no packet of the peers arrived ({counters:?}): the other way is not shown open");
        Ok(format!("{} probes refused; {} outgoing packets dropped, {} incoming let through", probes.len(), counters.out_dropped, counters.in_let_through))
    } else {
        ensure!(counters.in_dropped > 0, "the cut's rules dropped no incoming packet ({counters:?})");
        Ok(format!("{} probes refused; {} outgoing and {} incoming packets dropped", probes.len(), counters.out_dropped, counters.in_dropped))
    }
}

/// partition: the members other than `cut` have exactly one leader and it serves, while `cut`
/// does not count itself a leader or follower of it. `Ok`: the leader's name.
pub fn majority_leader(view: &EnsembleView, cut: &str) -> Result<String, String> {
    let leaders: Vec<&str> = view.leaders().into_iter().filter(|m| *m != cut).collect();
    let [leader] = leaders.as_slice() else { return Err(format!("{} leaders among the majority: {}", leaders.len(), view.describe())) };
    let serving = view.leaders().len() + view.followers().len();
    let majority = view.members.len() / 2 + 1;
    if view.leaders().contains(&cut) || view.followers().contains(&cut) {
        return Err(format!("{cut} still serves under the cut: {}", view.describe()));
    }
    if serving < majority {
        return Err(format!("{serving} of {} members serve, fewer than a majority: {}", view.members.len(), view.describe()));
    }
    Ok(leader.to_string())
}

/// partition: the register history is linearizable, and it shows something: at least one
/// acknowledged update and one read after `sync`.
pub fn register_linearizable(history: &crate::workload::register::RegisterHistory, verdict: &crate::workload::register::Verdict) -> anyhow::Result<String> {
    use crate::workload::register::{Outcome, Verdict};
    let ok_updates = history.ops.iter().filter(|o| o.is_update() && o.outcome == Outcome::Ok).count();
    let synced_reads = history.ops.iter().filter(|o| o.is_read() && o.outcome == Outcome::Ok && o.synced_at.is_some()).count();
    match verdict {
        Verdict::Linearizable => {
            ensure!(
                ok_updates > 0 && synced_reads > 0,
                "nothing to judge: {ok_updates} acknowledged updates and {synced_reads} reads after sync in {} operations",
                history.ops.len()
            );
            Ok(format!("linearizable: {} operations, {ok_updates} acknowledged updates, {synced_reads} reads after sync", history.ops.len()))
        }
        other => bail!("{}", other.describe()),
    }
}

/// partition: no breach of one of ZooKeeper's guarantees; a breach names its operations.
pub fn breaches<'a>(history: &crate::workload::register::RegisterHistory, found: impl IntoIterator<Item = &'a crate::workload::register::Breach>) -> anyhow::Result<String> {
    let found: Vec<&crate::workload::register::Breach> = found.into_iter().collect();
    ensure!(!history.ops.is_empty(), "no operation was recorded");
    if found.is_empty() {
        return Ok(format!("held over {} operations", history.ops.len()));
    }
    let first: Vec<String> = found.iter().take(3).map(|b| format!("{} (operations {:?})", b.message, b.ops)).collect();
    bail!("{} breaches; the first: {}", found.len(), first.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::fourlw::{Mode, ServerState};
    use crate::ensemble::MemberView;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp_millis(1_000_000 + ms).unwrap()
    }

    fn ev(ms: i64, member: &str, kind: LifecycleKind) -> LifecycleEvent {
        LifecycleEvent { at: at(ms), member: member.into(), kind, detail: format!("{kind:?} detail") }
    }

    fn status(name: &str, restarts: u32, container: &str) -> MemberStatus {
        MemberStatus {
            restart_count: restarts,
            container_id: Some(container.into()),
            exists: true,
            running: true,
            ready: true,
            phase: "Running".into(),
            reason: None,
            node: Some("w1".into()),
            ..MemberStatus::absent(name, 0)
        }
    }

    fn member(name: &str, mode: Option<Mode>, zxid: i64) -> MemberView {
        let server = match mode {
            Some(mode) => Ok(Some(ServerState { mode, zxid, synced_followers: None, version: "3.8.0".into(), sync_unobserved: None })),
            None => Err("connection refused".into()),
        };
        MemberView { status: status(name, 0, "c"), server }
    }

    fn view(members: Vec<MemberView>) -> EnsembleView {
        EnsembleView { members }
    }

    #[test]
    fn ms_between_counts_forward_and_never_goes_negative() {
        assert_eq!(ms_between(at(0), at(1234)), 1234.0);
        assert_eq!(ms_between(at(10), at(5)), 0.0);
        assert_eq!(ms_between(at(7), at(7)), 0.0);
    }

    #[test]
    fn a_container_that_exits_by_itself_passes() {
        let e = ev(809, "zk-1", LifecycleKind::Exited);
        assert_eq!(exited_by_itself(at(0), Some(&e), true, Duration::from_secs(70)).unwrap(), "exited 809 ms after the kill (Exited detail)");
    }

    #[test]
    fn a_container_the_liveness_probe_had_to_kill_fails() {
        let e = ev(31_000, "zk-1", LifecycleKind::LivenessKilled);
        let err = exited_by_itself(at(0), Some(&e), true, Duration::from_secs(70)).unwrap_err().to_string();
        assert!(err.starts_with("the container did not exit when java died: the liveness probe killed it 31000 ms later"), "{err}");
    }

    #[test]
    fn a_container_that_never_exited_fails_saying_what_the_kill_returned() {
        let err = exited_by_itself(at(0), None, true, Duration::from_secs(70)).unwrap_err().to_string();
        assert_eq!(err, "kill java returned 0 but the container did not exit and the restart count did not change within 1m 10s");
        let err = exited_by_itself(at(0), None, false, Duration::from_secs(5)).unwrap_err().to_string();
        assert!(err.starts_with("kill java returned an error "), "{err}");
    }

    #[test]
    fn the_restart_count_must_go_up_by_exactly_one() {
        assert!(restarted_once(0, 1).is_ok());
        assert!(restarted_once(4, 5).is_ok());
        assert_eq!(restarted_once(0, 0).unwrap_err().to_string(), "restart count went from 0 to 0, not up by one");
        assert_eq!(restarted_once(0, 2).unwrap_err().to_string(), "restart count went from 0 to 2, not up by one");
        assert!(restarted_once(3, 2).is_err());
    }

    fn probe_history(failures: i64) -> (Vec<LifecycleEvent>, LifecycleEvent) {
        let mut events = vec![ev(-5_000, "zk-0", LifecycleKind::LivenessFailed), ev(1_000, "zk-1", LifecycleKind::LivenessFailed)];
        for i in 0..failures {
            events.push(ev(10_000 * (i + 1), "zk-0", LifecycleKind::LivenessFailed));
        }
        let kill = ev(10_000 * failures + 1, "zk-0", LifecycleKind::LivenessKilled);
        events.push(kill.clone());
        // After the kill: not counted.
        events.push(ev(10_000 * failures + 500, "zk-0", LifecycleKind::LivenessFailed));
        (events, kill)
    }

    #[test]
    fn a_kill_after_exactly_failure_threshold_failures_passes() {
        let (events, kill) = probe_history(3);
        let ok = killed_by_liveness(&events, "zk-0", at(0), &kill, 3, Duration::from_secs(10)).unwrap();
        assert_eq!(ok, "3 liveness failures, then the container was killed 30001 ms after the fault (LivenessKilled detail)");
    }

    #[test]
    fn a_kill_after_more_or_fewer_failures_than_the_threshold_fails() {
        for (failures, threshold) in [(2, 3), (4, 3), (1, 2)] {
            let (events, kill) = probe_history(failures);
            let err = killed_by_liveness(&events, "zk-0", at(0), &kill, threshold, Duration::from_secs(10)).unwrap_err().to_string();
            assert_eq!(err, format!("the container was killed after {failures} liveness failures, not the manifest's failureThreshold {threshold}"));
        }
    }

    #[test]
    fn a_failure_at_the_fault_or_at_the_kill_counts() {
        let events = vec![ev(0, "zk-0", LifecycleKind::LivenessFailed), ev(20, "zk-0", LifecycleKind::LivenessFailed)];
        let kill = ev(20, "zk-0", LifecycleKind::LivenessKilled);
        assert!(killed_by_liveness(&events, "zk-0", at(0), &kill, 2, Duration::from_secs(10)).is_ok());
    }

    /// Seen in CI on the official reference: a probe failed on its own 4 s before the SIGSTOP,
    /// and the two after it made failureThreshold 3 in a row.
    #[test]
    fn a_failure_one_period_before_the_fault_completes_the_run_that_killed() {
        let events = vec![ev(-4_000, "zk-0", LifecycleKind::LivenessFailed), ev(6_000, "zk-0", LifecycleKind::LivenessFailed), ev(16_000, "zk-0", LifecycleKind::LivenessFailed)];
        let kill = ev(16_001, "zk-0", LifecycleKind::LivenessKilled);
        let ok = killed_by_liveness(&events, "zk-0", at(0), &kill, 3, Duration::from_secs(10)).unwrap();
        assert!(ok.starts_with("3 liveness failures in a row, 1 of them in the probe run just before the fault"), "{ok}");
        // One period and a half or more before: not of the same run.
        let events = vec![ev(-9_000, "zk-0", LifecycleKind::LivenessFailed), ev(6_000, "zk-0", LifecycleKind::LivenessFailed), ev(16_000, "zk-0", LifecycleKind::LivenessFailed)];
        assert!(killed_by_liveness(&events, "zk-0", at(0), &kill, 3, Duration::from_secs(10)).is_err());
        // No failure after the fault: the fault did not cause the kill. (The verdict's
        // `failures > 0` says so outright; as `>= 0` the mutation test's survivor changes nothing,
        // since failures before the fault are counted only from the first one after it.)
        let events = vec![ev(-4_000, "zk-0", LifecycleKind::LivenessFailed)];
        assert!(killed_by_liveness(&events, "zk-0", at(0), &kill, 1, Duration::from_secs(10)).is_err());
        // A run of failures before the fault longer than needed: only as many as complete the
        // threshold count, the newest first; the failure at the fault itself is one after it.
        let events = vec![
            ev(-25_000, "zk-0", LifecycleKind::LivenessFailed),
            ev(-15_000, "zk-0", LifecycleKind::LivenessFailed),
            ev(-5_000, "zk-0", LifecycleKind::LivenessFailed),
            ev(0, "zk-0", LifecycleKind::LivenessFailed),
        ];
        let kill = ev(1, "zk-0", LifecycleKind::LivenessKilled);
        let ok = killed_by_liveness(&events, "zk-0", at(0), &kill, 3, Duration::from_secs(10)).unwrap();
        assert!(ok.starts_with("3 liveness failures in a row, 2 of them in the probe runs just before the fault"), "{ok}");
        // The failure at the fault is counted once: with one before it, two of three.
        let events = vec![ev(-5_000, "zk-0", LifecycleKind::LivenessFailed), ev(0, "zk-0", LifecycleKind::LivenessFailed)];
        assert!(killed_by_liveness(&events, "zk-0", at(0), &kill, 3, Duration::from_secs(10)).is_err());
    }

    #[test]
    fn an_exit_instead_of_a_liveness_kill_fails() {
        let (events, _) = probe_history(3);
        let exit = ev(30_001, "zk-0", LifecycleKind::Exited);
        let err = killed_by_liveness(&events, "zk-0", at(0), &exit, 3, Duration::from_secs(10)).unwrap_err().to_string();
        assert_eq!(err, "the container exited by itself (Exited detail) instead of being restarted by its liveness probe");
    }

    #[test]
    fn a_fresh_container_is_a_new_one_restarted_once_with_the_script_back() {
        let before = status("zk-0", 0, "a");
        assert!(fresh_container(&before, &status("zk-0", 1, "b"), "/opt/probe.sh", true).is_ok());
        let same = fresh_container(&before, &status("zk-0", 1, "a"), "/opt/probe.sh", true).unwrap_err().to_string();
        assert_eq!(same, "the container is the same one (Some(\"a\")): it was not replaced");
        let twice = fresh_container(&before, &status("zk-0", 2, "b"), "/opt/probe.sh", true).unwrap_err().to_string();
        assert!(twice.contains("not up by one"), "{twice}");
        let missing = fresh_container(&before, &status("zk-0", 1, "b"), "/opt/probe.sh", false).unwrap_err().to_string();
        assert_eq!(missing, "/opt/probe.sh is still missing after the restart: the container was not fresh from the image");
    }

    #[test]
    fn a_member_rejoins_as_leader_or_follower_only() {
        let v = view(vec![member("zk-0", Some(Mode::Follower), 5), member("zk-1", Some(Mode::Leader), 5), member("zk-2", Some(Mode::Standalone), 5)]);
        assert!(rejoined(&v, "zk-0").unwrap().starts_with("zk-0 is a follower again; "));
        assert!(rejoined(&v, "zk-1").unwrap().starts_with("zk-1 is a leader again; "));
        assert!(rejoined(&v, "zk-2").unwrap_err().to_string().starts_with("zk-2 is not serving: "));
        let down = view(vec![member("zk-0", None, 0)]);
        assert!(rejoined(&down, "zk-0").is_err());
        assert!(rejoined(&v, "zk-9").is_err());
        let not_serving = EnsembleView { members: vec![MemberView { status: status("zk-0", 0, "c"), server: Ok(None) }] };
        assert!(rejoined(&not_serving, "zk-0").is_err());
    }

    #[test]
    fn zxids_may_stay_or_grow_but_never_go_back() {
        let before = BTreeMap::from([("zk-0".to_string(), 0x1_0000_0005), ("zk-1".to_string(), 0x1_0000_0005)]);
        let grown = view(vec![member("zk-0", Some(Mode::Follower), 0x2_0000_0000), member("zk-1", Some(Mode::Leader), 0x1_0000_0005), member("zk-2", Some(Mode::Follower), 1)]);
        assert_eq!(zxids_never_back(&before, &grown).unwrap(), "ensemble whole; last zxid never went back: zk-0 0x100000005 -> 0x200000000, zk-1 0x100000005 -> 0x100000005");
        let back = view(vec![member("zk-0", Some(Mode::Follower), 0x1_0000_0004), member("zk-1", Some(Mode::Leader), 0x1_0000_0005)]);
        assert_eq!(zxids_never_back(&before, &back).unwrap_err().to_string(), "zk-0's last zxid went back from 0x100000005 to 0x100000004: it lost transactions");
        let silent = view(vec![member("zk-0", None, 0), member("zk-1", Some(Mode::Leader), 0x1_0000_0005)]);
        assert!(zxids_never_back(&before, &silent).unwrap_err().to_string().starts_with("zk-0 does not report a zxid: "));
        assert!(zxids_never_back(&BTreeMap::new(), &grown).unwrap_err().to_string().starts_with("no member reported a zxid before the fault"));
    }

    #[test]
    fn a_member_is_gone_when_it_neither_exists_nor_runs() {
        let gone = MemberStatus::absent("zk-0", 0);
        let terminating = MemberStatus { running: false, phase: "Terminating".into(), ..status("zk-1", 0, "b") };
        let orphan = MemberStatus { exists: false, phase: "Unknown".into(), ..status("zk-2", 0, "c") };
        assert!(still_there(std::slice::from_ref(&gone)).is_empty());
        assert_eq!(still_there(&[gone, terminating, orphan]), vec!["zk-1 Terminating", "zk-2 Unknown"]);
    }

    fn stat(czxid: i64) -> ZnodeStat {
        ZnodeStat { czxid, mzxid: czxid, pzxid: czxid, version: 0, data_length: 5, num_children: 0, ephemeral_owner: 0 }
    }

    #[test]
    fn hello_must_read_world_with_its_original_czxid() {
        assert_eq!(hello_intact("zk-2", Some((b"world".to_vec(), stat(0x100000002))), 0x100000002).unwrap(), "/hello = world through zk-2, cZxid 0x100000002 as written");
        assert_eq!(hello_intact("zk-2", None, 0x100000002).unwrap_err().to_string(), "/hello is gone: zk-2 has no /hello (it was created with cZxid 0x100000002)");
        assert_eq!(hello_intact("zk-2", Some((b"w0rld".to_vec(), stat(0x100000002))), 0x100000002).unwrap_err().to_string(), "/hello through zk-2 is \"w0rld\", not \"world\"");
        assert_eq!(
            hello_intact("zk-2", Some((b"world".to_vec(), stat(0x200000002))), 0x100000002).unwrap_err().to_string(),
            "/hello through zk-2 has cZxid 0x200000002, not the original 0x100000002: it was re-created, so the data was lost"
        );
    }

    #[test]
    fn an_eviction_during_the_refusal_window_must_be_refused_with_the_member_running() {
        let refused = EvictionOutcome::RefusedByBudget { message: "Cannot evict pod as it would violate the pod's disruption budget.".into() };
        let running = status("zk-2", 0, "c");
        assert_eq!(refused_attempt(1, "zk-2", &refused, &running).unwrap(), "Cannot evict pod as it would violate the pod's disruption budget.");
        let err = refused_attempt(3, "zk-2", &EvictionOutcome::Accepted, &running).unwrap_err().to_string();
        assert!(err.starts_with("attempt 3: the eviction of zk-2 was accepted with another member already down"), "{err}");
        let stopped = MemberStatus { running: false, ..running.clone() };
        assert_eq!(refused_attempt(2, "zk-2", &refused, &stopped).unwrap_err().to_string(), "attempt 2: zk-2 is no longer running: zk-2 Running on w1");
        let terminating = MemberStatus { phase: "Terminating".into(), reason: Some("evicted".into()), ..running };
        assert_eq!(refused_attempt(2, "zk-2", &refused, &terminating).unwrap_err().to_string(), "attempt 2: zk-2 is no longer running: zk-2 Terminating (evicted) on w1");
    }

    fn probe(from: &str, to: &str, opened: bool) -> (String, String, bool) {
        (from.into(), to.into(), opened)
    }

    #[test]
    fn probes_that_all_open_pass_and_one_closed_or_none_at_all_fails() {
        assert!(all_reached(&[probe("zk-0", "zk-1", true), probe("zk-1", "zk-0", true)]).is_ok());
        assert_eq!(all_reached(&[probe("zk-0", "zk-1", true), probe("zk-1", "zk-0", false)]).unwrap_err().to_string(), "no connection: zk-1 -> zk-0");
        assert!(all_reached(&[]).is_err(), "nothing probed proves nothing");
    }

    #[test]
    fn a_cut_is_in_force_only_when_no_probe_opens_and_its_rules_counted_drops() {
        use crate::platform::CutCounters;
        let refused = [probe("zk-2", "zk-0", false), probe("zk-0", "zk-2", false)];
        let two_way = CutCounters { out_dropped: 2, in_dropped: 3, in_let_through: 0 };
        assert!(cut_in_force(&refused, &two_way, false).is_ok());
        let leaked = [probe("zk-2", "zk-0", false), probe("zk-0", "zk-2", true)];
        assert!(cut_in_force(&leaked, &two_way, false).unwrap_err().to_string().starts_with("still connected under the cut: zk-0 -> zk-2"));
        assert!(cut_in_force(&[], &two_way, false).is_err());
        let nothing_counted = CutCounters::default();
        assert!(cut_in_force(&refused, &nothing_counted, false).unwrap_err().to_string().contains("dropped no outgoing packet"), "refused for another reason");
        assert!(cut_in_force(&refused, &CutCounters { in_dropped: 0, ..two_way }, false).is_err(), "a two-way cut drops incoming packets");
        let one_way = CutCounters { out_dropped: 2, in_dropped: 0, in_let_through: 4 };
        assert!(cut_in_force(&refused, &one_way, true).is_ok());
        assert!(cut_in_force(&refused, &CutCounters { in_let_through: 0, ..one_way }, true).unwrap_err().to_string().contains("no packet of the peers arrived"));
        assert!(cut_in_force(&refused, &two_way, true).is_err(), "a one-way cut that drops incoming packets is two-way");
    }

    #[test]
    fn the_majority_needs_one_serving_leader_without_the_cut_member() {
        let elected = view(vec![member("zk-0", Some(Mode::Leader), 1), member("zk-1", Some(Mode::Follower), 1), member("zk-2", None, 1)]);
        assert_eq!(majority_leader(&elected, "zk-2").unwrap(), "zk-0");
        let old_leader = view(vec![member("zk-0", Some(Mode::Follower), 1), member("zk-1", Some(Mode::Follower), 1), member("zk-2", Some(Mode::Leader), 1)]);
        assert!(majority_leader(&old_leader, "zk-2").unwrap_err().starts_with("0 leaders among the majority"), "the cut leader does not count");
        let two = view(vec![member("zk-0", Some(Mode::Leader), 1), member("zk-1", Some(Mode::Leader), 1), member("zk-2", None, 1)]);
        assert!(majority_leader(&two, "zk-2").unwrap_err().starts_with("2 leaders"));
        let still_following = view(vec![member("zk-0", Some(Mode::Leader), 1), member("zk-1", Some(Mode::Follower), 1), member("zk-2", Some(Mode::Follower), 1)]);
        assert!(majority_leader(&still_following, "zk-2").unwrap_err().contains("zk-2 still serves under the cut"));
        let alone = view(vec![member("zk-0", Some(Mode::Leader), 1), member("zk-1", None, 1), member("zk-2", None, 1)]);
        assert!(majority_leader(&alone, "zk-2").unwrap_err().contains("fewer than a majority"));
        // Of five members a majority is three: a leader and one follower are not enough.
        let five = |serving: usize| view((0..5).map(|i| member(&format!("zk-{i}"), (i < serving).then_some(if i == 0 { Mode::Leader } else { Mode::Follower }), 1)).collect());
        assert!(majority_leader(&five(2), "zk-4").unwrap_err().starts_with("2 of 5 members serve, fewer than a majority"));
        assert_eq!(majority_leader(&five(3), "zk-4").unwrap(), "zk-0");
    }

    fn reg_op(id: usize, kind: crate::workload::register::Call, outcome: crate::workload::register::Outcome, synced: bool) -> crate::workload::register::RegisterOp {
        crate::workload::register::RegisterOp {
            id,
            process: 0,
            session: String::new(),
            key: "/k".into(),
            call: kind,
            invoked: id as i64 * 10,
            completed: id as i64 * 10 + 5,
            outcome,
            read: None,
            version: None,
            zxid: None,
            synced_at: synced.then_some(id as i64 * 10 - 1),
        }
    }

    #[test]
    fn a_linearizable_register_history_must_show_an_update_and_a_synced_read() {
        use crate::workload::register::{Call, Outcome, RegisterHistory, RegisterOp, State, Verdict};
        let write = reg_op(1, Call::Write { value: "a".into() }, Outcome::Ok, false);
        let mut read = reg_op(2, Call::Read, Outcome::Ok, true);
        read.read = Some(State::new("a", 1));
        let h = RegisterHistory { initial: State::default(), ops: vec![write.clone(), read.clone()] };
        assert!(register_linearizable(&h, &Verdict::Linearizable).is_ok());
        let no_sync = RegisterHistory { ops: vec![write.clone(), RegisterOp { synced_at: None, ..read.clone() }], ..h.clone() };
        assert!(register_linearizable(&no_sync, &Verdict::Linearizable).unwrap_err().to_string().starts_with("nothing to judge"));
        let failed = RegisterHistory { ops: vec![RegisterOp { outcome: Outcome::Failed, ..write }, read], ..h.clone() };
        assert!(register_linearizable(&failed, &Verdict::Linearizable).is_err(), "no acknowledged update");
        let unknown = Verdict::Unknown { reason: "the budget ran out".into() };
        assert_eq!(register_linearizable(&h, &unknown).unwrap_err().to_string(), "unknown: the budget ran out", "unknown is not a pass");
    }

    #[test]
    fn a_breach_fails_naming_its_operations() {
        use crate::workload::register::{Breach, Call, Outcome, RegisterHistory};
        let h = RegisterHistory { ops: vec![reg_op(1, Call::Read, Outcome::Ok, false)], ..Default::default() };
        assert!(breaches(&h, &[]).is_ok());
        let b = Breach { ops: vec![4, 7], message: "session 0x1 read version 2 after version 3".into() };
        assert_eq!(breaches(&h, &[b]).unwrap_err().to_string(), "1 breaches; the first: session 0x1 read version 2 after version 3 (operations [4, 7])");
        assert!(breaches(&RegisterHistory::default(), &[]).is_err(), "no operation: nothing held");
    }
}
