//! What the fault suites share: the moment a fault was injected, the lifecycle events that follow
//! it, recovery times measured from it, and the walkthrough's `/hello` check after it.
//!
//! Recovery times are taken from the platform's lifecycle events (when the container restarted,
//! when its readiness probe passed), not from when the harness happened to look, and "whole" is
//! the first moment a poll (every [`crate::wait::POLL`]) saw one leader with every follower synced.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::integrity::{HELLO, WORLD};
use super::SuiteCtx;
use crate::client::{self, ZnodeStat};
use crate::ensemble::{self, EnsembleView};
use crate::platform::{LifecycleEvent, LifecycleKind, Platform};
use crate::wait::{self, Seen};

/// A fault, injected at a known moment.
#[derive(Debug, Clone, Copy)]
pub struct Fault {
    pub at: DateTime<Utc>,
    pub clock: Instant,
}

impl Fault {
    /// Marks the suite's timeline and starts the clock.
    pub fn inject(ctx: &mut SuiteCtx, label: &str) -> Fault {
        let at = ctx.mark(format!("fault: {label}"));
        Fault { at, clock: Instant::now() }
    }

    /// Milliseconds from the fault to `t` (0 if `t` came first).
    pub fn ms_to(&self, t: DateTime<Utc>) -> f64 {
        super::verdicts::ms_between(self.at, t)
    }

    /// The first event of one of `kinds` for `member` at or after the fault.
    pub fn first_event(&self, p: &dyn Platform, member: &str, kinds: &[LifecycleKind]) -> Option<LifecycleEvent> {
        first_after(&p.lifecycle(), member, kinds, self.at)
    }

    /// Waits for the first event of one of `kinds` for `member` after the fault.
    pub async fn wait_event(&self, p: &dyn Platform, member: &str, kinds: &[LifecycleKind], deadline: Duration) -> anyhow::Result<LifecycleEvent> {
        let what = format!("{member}: {} after the fault", names(kinds));
        wait::until(&what, deadline, Some(p.subscribe()), || async {
            Ok(match self.first_event(p, member, kinds) {
                Some(e) => Seen::Done(e),
                None => Seen::NotYet(last_events(p, member, 3)),
            })
        })
        .await
    }

    /// Waits until the ensemble is whole, records `{prefix}fault_to_whole_ms`, and returns the view.
    pub async fn wait_whole(&self, ctx: &mut SuiteCtx, prefix: &str) -> anyhow::Result<EnsembleView> {
        let t = ctx.config.timeouts.clone();
        let view = ensemble::wait_whole(ctx.platform.as_ref(), t.ensemble_whole, t.operation).await?;
        let at = ctx.mark(format!("{prefix}ensemble whole again"));
        ctx.metric(&format!("{prefix}fault_to_whole_ms"), self.ms_to(at));
        // How long after the last member turned Ready the harness saw the ensemble whole: the
        // harness's own detection delay (a bound: syncing can finish after Ready).
        let last_ready = ctx.platform.lifecycle().into_iter().filter(|e| e.at >= self.at && e.kind == LifecycleKind::Ready).map(|e| e.at).max();
        if let Some(ready) = last_ready {
            ctx.metric(&format!("{prefix}ready_to_whole_ms"), (at - ready).num_milliseconds().max(0) as f64);
        }
        Ok(view)
    }
}

/// The first event of one of `kinds` for `member` at or after `since`.
pub fn first_after(events: &[LifecycleEvent], member: &str, kinds: &[LifecycleKind], since: DateTime<Utc>) -> Option<LifecycleEvent> {
    events.iter().find(|e| e.member == member && e.at >= since && kinds.contains(&e.kind)).cloned()
}

fn names(kinds: &[LifecycleKind]) -> String {
    kinds.iter().map(|k| serde_json::to_value(k).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()).collect::<Vec<_>>().join(" or ")
}

/// The member's last few lifecycle events, for "last seen" messages.
pub fn last_events(p: &dyn Platform, member: &str, n: usize) -> String {
    let events: Vec<_> = p.lifecycle().into_iter().filter(|e| e.member == member).collect();
    let tail: Vec<String> = events[events.len().saturating_sub(n)..].iter().map(|e| format!("{} {} ({})", e.at.format("%H:%M:%S%.3f"), names(&[e.kind]), e.detail)).collect();
    if tail.is_empty() {
        format!("no events for {member}")
    } else {
        tail.join("; ")
    }
}

/// Every member's status now, in the order of `members`.
pub async fn statuses(p: &dyn Platform, members: &[String]) -> anyhow::Result<Vec<crate::platform::MemberStatus>> {
    let mut out = Vec::with_capacity(members.len());
    for m in members {
        out.push(p.status(m).await?);
    }
    Ok(out)
}

/// Writes the walkthrough's `/hello` = `world` (if absent) through `member`; returns its stat.
pub async fn write_hello(p: &dyn Platform, member: &str, op_timeout: Duration) -> anyhow::Result<ZnodeStat> {
    let zk = client::connect(p.client_addr(member).await?, op_timeout).await?;
    let (stat, _) = client::create_or_get(&zk, HELLO, WORLD).await?;
    Ok(stat)
}

/// `/hello` still reads `world` through `member` (after a sync), with the cZxid it was created with.
pub async fn hello_intact(p: &dyn Platform, member: &str, czxid: i64, op_timeout: Duration) -> anyhow::Result<String> {
    super::verdicts::hello_intact(member, read_hello(p, member, op_timeout).await?, czxid)
}

/// /hello through a session with `member` alone, after a `sync`.
async fn read_hello(p: &dyn Platform, member: &str, op_timeout: Duration) -> anyhow::Result<Option<(Vec<u8>, ZnodeStat)>> {
    let addr = p.client_addr(member).await?;
    let zk = client::connect(addr, op_timeout).await.with_context(|| format!("connecting to {member}"))?;
    client::read_synced(&zk, HELLO).await
}

/// /hello through `member` after the ensemble was seen whole. A member that served a moment ago
/// can stop again (a follower that missed the leader's sync limit on a loaded host goes back to
/// syncing, and refuses sessions meanwhile); what survived is judged on what it serves, so a member
/// that gives no session is asked again until `within` has passed, each refusal kept with what its
/// `srvr` said then, and a read after a refusal says how long it waited. One that never gives a
/// session fails naming every refusal; a wrong or missing /hello fails at once.
pub async fn hello_intact_within(p: &dyn Platform, member: &str, czxid: i64, op_timeout: Duration, within: Duration) -> anyhow::Result<String> {
    let start = Instant::now();
    let mut refusals: Vec<String> = Vec::new();
    loop {
        match read_hello(p, member, op_timeout).await {
            Ok(found) => {
                let evidence = super::verdicts::hello_intact(member, found, czxid)?;
                return Ok(match refusals.last() {
                    None => evidence,
                    Some(last) => format!(
                        "{evidence}, read {} ms after the first try: {member} gave no session {} time(s) before (the last: {last})",
                        start.elapsed().as_millis(),
                        refusals.len()
                    ),
                });
            }
            Err(e) => {
                let said = match client::fourlw::server_state(p.client_addr(member).await?, op_timeout).await {
                    Ok(Some(s)) => format!("srvr then: {:?} at zxid {:#x}", s.mode, s.zxid).to_lowercase(),
                    Ok(None) => "srvr then: not serving".to_string(),
                    Err(e) => format!("srvr then: no answer ({e:#})"),
                };
                refusals.push(format!("{e:#}; {said}"));
            }
        }
        if start.elapsed() >= within {
            anyhow::bail!("{member} gave no session to read /hello within {} s of the ensemble being whole; each try: {}", within.as_secs(), refusals.join(" | "));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// /hello through `member` just after it was seen Ready: first the ensemble must be whole by what
/// the servers say (Ready is the readiness probe's word; a probe that asks `ruok` passes while the
/// server still elects or syncs, and a member restarted with a new address can wait for its peers'
/// cached DNS answers), then /hello is read. The Ready-to-serving time goes into the metric
/// `metric` and the evidence; a member that never serves fails, saying so.
pub async fn hello_intact_once_serving(ctx: &mut SuiteCtx, member: &str, czxid: i64, metric: &str) -> anyhow::Result<String> {
    let t = ctx.config.timeouts.clone();
    let p = ctx.platform.clone();
    let ready = Instant::now();
    let whole = ensemble::wait_whole(p.as_ref(), t.ensemble_whole, t.operation).await;
    let waited = ready.elapsed();
    let view = whole.with_context(|| format!("{member} was Ready, but the ensemble was not whole (every server serving) within {} s of it", t.ensemble_whole.as_secs()))?;
    ctx.metric(metric, waited.as_millis() as f64);
    let evidence = hello_intact(p.as_ref(), member, czxid, t.operation).await?;
    let lag = if waited > Duration::from_secs(1) {
        format!("; the servers said the ensemble was whole {} ms after {member} was seen Ready ({})", waited.as_millis(), view.describe())
    } else {
        String::new()
    };
    Ok(format!("{evidence}{lag}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ms: i64, member: &str, kind: LifecycleKind) -> LifecycleEvent {
        LifecycleEvent { at: DateTime::<Utc>::from_timestamp_millis(1_000_000 + ms).unwrap(), member: member.into(), kind, detail: String::new() }
    }

    #[test]
    fn first_after_skips_earlier_events_and_other_members() {
        let events = vec![
            ev(0, "zk-1", LifecycleKind::Restarted),
            ev(10, "zk-0", LifecycleKind::Restarted),
            ev(20, "zk-1", LifecycleKind::Exited),
            ev(30, "zk-1", LifecycleKind::Restarted),
        ];
        let since = DateTime::<Utc>::from_timestamp_millis(1_000_005).unwrap();
        let e = first_after(&events, "zk-1", &[LifecycleKind::Restarted], since).unwrap();
        assert_eq!(e.at, events[3].at);
        assert!(first_after(&events, "zk-2", &[LifecycleKind::Restarted], since).is_none());
        assert_eq!(names(&[LifecycleKind::Exited, LifecycleKind::LivenessKilled]), "exited or liveness-killed");
    }

    #[test]
    fn fault_times_count_from_the_fault_and_never_go_negative() {
        let at = DateTime::<Utc>::from_timestamp_millis(1_000_000).unwrap();
        let f = Fault { at, clock: Instant::now() };
        assert_eq!(f.ms_to(at + chrono::Duration::milliseconds(1234)), 1234.0);
        assert_eq!(f.ms_to(at - chrono::Duration::milliseconds(5)), 0.0);
    }
}
