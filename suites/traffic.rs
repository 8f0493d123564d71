//! The client workload that runs through every fault: started before the fault, stopped after
//! the ensemble is whole again, its history saved as the suite's `workload-history.jsonl` and
//! judged against the final state (see [`crate::workload::checker`]).
//!
//! The members' client addresses are resolved once, at start: on Docker each member's loopback
//! port is reserved when the platform connects and kept across container restarts (like a
//! Service in front of each pod), so sessions find a restarted member at the same address.
//!
//! The runner owns it, not the suite (a suite declares `workload: true` in its [`super::About`]):
//! it is started before the suite runs, and stopped and judged after the suite ended and its
//! ledger was reverted, whichever way it ended. [`Traffic`] is a guard: dropped unstopped (the
//! run interrupted), it aborts the workers, so a workload never outlives its suite.

use std::time::Duration;

use anyhow::{bail, Context};

use super::SuiteCtx;
use crate::workload::{self, CheckOptions, Workload};

/// Width of the buckets of the workload's series on the timeline.
const BUCKET: Duration = Duration::from_secs(1);

pub const HISTORY_FILE: &str = "workload-history.jsonl";
pub const CHECK: &str = "workload: no acknowledged write lost, reads monotonic";

pub struct Traffic {
    workload: Workload,
    addrs: Vec<std::net::SocketAddr>,
    prefix: String,
}

impl Traffic {
    /// Starts the workload through every member, under the run's prefix and the suite's name.
    pub async fn start(ctx: &mut SuiteCtx) -> anyhow::Result<Traffic> {
        let mut addrs = Vec::new();
        for m in ctx.platform.members() {
            addrs.push(ctx.platform.client_addr(&m).await?);
        }
        let prefix = format!("{}/{}", ctx.prefix, ctx.name());
        let t = &ctx.config.timeouts;
        let workload = Workload::start(addrs.clone(), prefix.clone(), &ctx.config.workload, t.operation).await?;
        ctx.mark("workload started");
        Ok(Traffic { workload, addrs, prefix })
    }

    /// Stops the workload and saves its history without judging it: the suite made no fault for it
    /// to run through (`why`), so its check is skipped, not passed or failed.
    pub async fn abandon(self, ctx: &mut SuiteCtx, why: &str) -> anyhow::Result<()> {
        let history = self.workload.stop().await;
        ctx.mark("workload stopped");
        history.save(&ctx.artifact_path(HISTORY_FILE)?)?;
        ctx.skip(CHECK, format!("no fault was made for the workload to run through: {why}"));
        Ok(())
    }

    /// Stops the workload, saves its history, reads the final state, judges it, and records the
    /// check, the `unavailable_ms` metric and the workload summary. The runner calls it after the
    /// suite, on every path; a history that cannot be saved fails the check, saying so.
    pub async fn finish(self, ctx: &mut SuiteCtx) {
        ctx.check_with(CHECK, async move |ctx| {
            let ran_out = self.workload.finished();
            let history = self.workload.stop().await;
            ctx.mark(if ran_out { "workload stopped (its duration or operation budget ran out first)" } else { "workload stopped" });
            let file = ctx.artifact_path(HISTORY_FILE).context("saving the workload's history")?;
            history.save(&file).context("saving the workload's history")?;
            let relative = format!("{}/{HISTORY_FILE}", ctx.name());

            let t = ctx.config.timeouts.clone();
            let final_state = workload::read_final_state(&self.addrs, &self.prefix, t.ensemble_whole).await.context("reading the final state to judge the workload")?;
            let judgement = workload::check(&history, &final_state, &CheckOptions { bucket: BUCKET, origin: ctx.started_at() });
            if let Some(ms) = judgement.unavailable_ms {
                ctx.metric("unavailable_ms", ms as f64);
            }
            ctx.set_workload(judgement.summary(&relative));
            if judgement.acknowledged_writes == 0 {
                bail!("no write was acknowledged, so nothing was shown: {}", judgement.describe())
            } else if judgement.passed() {
                Ok(judgement.describe())
            } else {
                bail!("{}", judgement.describe())
            }
        })
        .await;
    }
}
