//! `liveness` and readiness ("Testing for liveness", "Testing for readiness"; TUTORIAL.md 12-13):
//! removing `zookeeper-ready` in zk-0 makes its liveness probe fail `failureThreshold` times; the
//! member is restarted from a fresh container (the script is back) and becomes Ready; while it was
//! broken it was reported unready. Every deadline is derived from the manifest's probe fields.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use async_trait::async_trait;

use super::faults;
use super::ledger::{Action, Injected};
use super::{verdicts, walkthrough, About, Suite, SuiteCtx};
use crate::platform::LifecycleKind;

pub struct Liveness;

/// The script the probes run, as the walkthrough removes it.
pub const READY_SCRIPT: &str = "/usr/bin/zookeeper-ready";

#[async_trait]
impl Suite for Liveness {
    fn about(&self) -> &'static About {
        &About {
            name: "liveness",
            sections: &[&walkthrough::TESTING_FOR_LIVENESS, &walkthrough::TESTING_FOR_READINESS],
            summary: "rm zookeeper-ready in zk-0: liveness fails failureThreshold times, a fresh container restarts it, unready meanwhile",
            needs: &[],
            disruptive: true,
        }
    }

    async fn run(&self, ctx: &mut SuiteCtx) -> anyhow::Result<()> {
        let p = ctx.platform.clone();
        let t = ctx.config.timeouts.clone();
        let template = p.manifest().pod_template();
        let member = p.members()[0].clone();

        let start = Instant::now();
        let check = "the manifest has liveness and readiness probes";
        let liveness = match (&template.liveness, &template.readiness) {
            (Some(l), Some(_)) => {
                let msg = format!("liveness `{}`: period {}s, timeout {}s, failureThreshold {}", l.command.join(" "), l.period.as_secs(), l.timeout.as_secs(), l.failure_threshold);
                ctx.record(check, start, Ok(msg));
                l.clone()
            }
            (l, r) => {
                let why = anyhow!(
                    "the walkthrough needs both probes; the manifest has {} liveness probe and {} readiness probe",
                    if l.is_some() { "a" } else { "no" },
                    if r.is_some() { "a" } else { "no" }
                );
                ctx.record(check, start, Err(why));
                return Ok(());
            }
        };

        let hello = faults::write_hello(p.as_ref(), &member, t.operation).await?;
        let before = p.status(&member).await?;
        let traffic = super::traffic::Traffic::start(ctx).await?;

        let deadline = detection_deadline(&liveness, t.operation);
        ctx.metric("liveness_deadline_ms", deadline.as_millis() as f64);

        let start = Instant::now();
        let (fault, removed) = ctx.inject(&Action::RemoveFile { member: member.clone(), path: READY_SCRIPT.into() }).await;
        let removed = removed.and_then(|done| match done {
            Injected::Exec(o) => o.into_stdout(&format!("rm {READY_SCRIPT}")),
            other => Err(anyhow!("the platform answered {other:?} to an exec")),
        });
        if !ctx.record(&format!("rm {READY_SCRIPT} in {member}"), start, removed.map(|_| "removed".to_string())) {
            return traffic.finish(ctx).await;
        }

        let start = Instant::now();
        let killed = fault.wait_event(p.as_ref(), &member, &[LifecycleKind::LivenessKilled, LifecycleKind::Exited], deadline).await;
        let killed = match killed {
            Ok(e) => verdicts::killed_by_liveness(&p.lifecycle(), &member, fault.at, &e, liveness.failure_threshold),
            Err(_) => Err(anyhow!(
                "the liveness probe never failed: {READY_SCRIPT} was removed {} s ago and {member} was not restarted (restart count still {}); a probe that cannot fail restarts nothing. Last seen: {}",
                fault.clock.elapsed().as_secs(),
                p.status(&member).await.map(|s| s.restart_count).unwrap_or(before.restart_count),
                faults::last_events(p.as_ref(), &member, 3)
            )),
        };
        if !ctx.record(&format!("the liveness probe failed failureThreshold ({}) times and killed the container", liveness.failure_threshold), start, killed) {
            return traffic.finish(ctx).await;
        }

        let start = Instant::now();
        // Unready comes from the readiness probe (the same script) or from the container being
        // stopped by the liveness kill, whichever is first; both before the member is back.
        let grace = p.manifest().pod_template().termination_grace;
        let unready = match fault.wait_event(p.as_ref(), &member, &[LifecycleKind::NotReady], grace + t.operation).await {
            Ok(e) => Ok(format!("{member} reported NotReady {} ms after the fault ({})", fault.ms_to(e.at), e.detail)),
            Err(e) => Err(anyhow!("{member} was never reported unready while its probe script was missing: {e:#}")),
        };
        ctx.record(&format!("{member} was reported unready while broken (readiness)"), start, unready);

        let start = Instant::now();
        let back_check = format!("{member} restarted from a fresh container and Ready");
        let events = async {
            let restarted = fault.wait_event(p.as_ref(), &member, &[LifecycleKind::Restarted], t.member_ready).await?;
            let ready = fault.wait_event(p.as_ref(), &member, &[LifecycleKind::Ready], t.member_ready).await?;
            anyhow::Ok((restarted, ready))
        }
        .await;
        let (restarted, ready) = match events {
            Ok(e) => e,
            Err(e) => {
                ctx.record(&back_check, start, Err(e));
                return traffic.finish(ctx).await;
            }
        };
        // Whole first: the recovery time is the ensemble's, not the checks' after it.
        let whole_start = Instant::now();
        let whole = fault.wait_whole(ctx, "").await.map(|v| v.describe());
        let back = async {
            let now = p.status(&member).await?;
            let present = p.exec(&member, &["test", "-x", READY_SCRIPT]).await?;
            verdicts::fresh_container(&before, &now, READY_SCRIPT, present.success())?;
            Ok(now)
        }
        .await;
        let back = back.map(|now| {
            ctx.metric("fault_to_restart_ms", fault.ms_to(restarted.at));
            ctx.metric("fault_to_ready_ms", fault.ms_to(ready.at));
            format!("restart count {} -> {}, fresh container with {READY_SCRIPT}, Ready {} ms after the fault", before.restart_count, now.restart_count, fault.ms_to(ready.at))
        });
        let back_ok = ctx.record(&back_check, start, back);
        ctx.record("ensemble whole again", whole_start, whole);
        if !back_ok {
            return traffic.finish(ctx).await;
        }
        let start = Instant::now();
        let intact = faults::hello_intact(p.as_ref(), &member, hello.czxid, t.operation).await;
        ctx.record("/hello intact", start, intact);
        traffic.finish(ctx).await
    }
}

/// How long the suite waits for the liveness probe to act, from the manifest's fields:
/// failureThreshold failures one period apart, each up to its timeout, plus one period of phase
/// between the fault and the probe's next run, plus `slack`.
pub fn detection_deadline(l: &crate::manifest::Probe, slack: Duration) -> Duration {
    l.period * (l.failure_threshold + 1) + l.timeout * l.failure_threshold + slack
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_follows_the_probe_fields() {
        let manifest = crate::manifest::walkthrough();
        let l = manifest.pod_template().liveness.unwrap();
        // The walkthrough's probe: period 10s (default), timeout 5s, failureThreshold 3 (default).
        assert_eq!((l.period.as_secs(), l.timeout.as_secs(), l.failure_threshold), (10, 5, 3));
        assert_eq!(detection_deadline(&l, Duration::from_secs(15)), Duration::from_secs(40 + 15 + 15));
        let fast = crate::manifest::Probe { period: Duration::from_secs(2), failure_threshold: 1, ..l };
        assert_eq!(detection_deadline(&fast, Duration::ZERO), Duration::from_secs(4 + 5));
    }
}
