//! The client workload that runs through every fault: started before the fault, stopped after
//! the ensemble is whole again, its history saved as the suite's `workload-history.jsonl` and
//! judged against the final state (see [`crate::workload::checker`]).
//!
//! The members' client addresses are resolved once, at start: on Docker each member's loopback
//! port is reserved when the platform connects and kept across container restarts (like a
//! Service in front of each pod), so sessions find a restarted member at the same address.

use std::time::{Duration, Instant};

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
    /// check, the `unavailable_ms` metric and the workload summary.
    pub async fn finish(self, ctx: &mut SuiteCtx) -> anyhow::Result<()> {
        let start = Instant::now();
        let ran_out = self.workload.finished();
        let history = self.workload.stop().await;
        ctx.mark(if ran_out { "workload stopped (its duration or operation budget ran out first)" } else { "workload stopped" });
        let file = ctx.artifact_path(HISTORY_FILE)?;
        history.save(&file)?;
        let relative = format!("{}/{HISTORY_FILE}", ctx.name());

        let t = ctx.config.timeouts.clone();
        let final_state = match workload::read_final_state(&self.addrs, &self.prefix, t.ensemble_whole).await {
            Ok(s) => s,
            Err(e) => {
                ctx.record(CHECK, start, Err(e.context("reading the final state to judge the workload")));
                return Ok(());
            }
        };
        let judgement = workload::check(&history, &final_state, &CheckOptions { bucket: BUCKET, origin: ctx.started_at() });
        if let Some(ms) = judgement.unavailable_ms {
            ctx.metric("unavailable_ms", ms as f64);
        }
        ctx.set_workload(judgement.summary(&relative));
        let verdict = if judgement.acknowledged_writes == 0 {
            Err(anyhow::anyhow!("no write was acknowledged, so nothing was shown: {}", judgement.describe()))
        } else if judgement.passed() {
            Ok(judgement.describe())
        } else {
            Err(anyhow::anyhow!("{}", judgement.describe()))
        };
        ctx.record(CHECK, start, verdict);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::{Config, WorkloadConfig};
    use crate::suites::fake::FakePlatform;

    /// A suite whose fault fails after the workload started returns with `?`, never reaching
    /// `finish`: the workload stops with it and writes nothing into what runs next.
    #[tokio::test]
    async fn a_suite_that_fails_with_question_mark_mid_fault_leaves_no_workload_running() {
        async fn failing_suite(ctx: &mut SuiteCtx, wrote: &mut i64, fake: &FakePlatform) -> anyhow::Result<()> {
            let _traffic = Traffic::start(ctx).await?;
            let before = fake.last_zxid("zk-0");
            tokio::time::sleep(Duration::from_millis(300)).await;
            *wrote = fake.last_zxid("zk-0") - before;
            Err(anyhow::anyhow!("the fault could not be injected"))?;
            unreachable!("the fault failed");
        }
        let fake = Arc::new(FakePlatform::new());
        let platform: Arc<dyn crate::platform::Platform> = fake.clone();
        let dir = tempfile::tempdir().unwrap();
        let config = Config { workload: WorkloadConfig { rate_per_second: 200, max_duration: Duration::from_secs(60), max_operations: 100_000 }, ..Config::default() };
        let mut ctx = SuiteCtx::new("durability", platform, config, dir.path().to_path_buf());
        let mut wrote = 0;
        let outcome = failing_suite(&mut ctx, &mut wrote, &fake).await;
        assert!(outcome.is_err());
        assert!(wrote > 0, "the workload was writing while the suite ran");
        // An operation in flight when the workers were aborted may still land: let it.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stopped = fake.last_zxid("zk-0");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(fake.last_zxid("zk-0"), stopped, "the workload wrote after its suite returned");
    }
}
