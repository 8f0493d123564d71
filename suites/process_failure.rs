//! `process-failure` ("Handling process failure", TUTORIAL.md 11): killing java in a member (the
//! walkthrough's kill of java: SIGTERM, here to the server's pid found through `/proc`, since many
//! images have no procps) makes its container exit (the entry point exits with its server),
//! restartPolicy Always restarts it, and it rejoins the ensemble with the data intact. Done once
//! on a follower and once on the leader.

use anyhow::{anyhow, bail};
use async_trait::async_trait;

use super::faults;
use super::ledger::{Action, Injected};
use super::{verdicts, walkthrough, About, Suite, SuiteCtx};
use crate::ensemble::EnsembleView;
use crate::platform::LifecycleKind;

pub struct ProcessFailure;

#[async_trait]
impl Suite for ProcessFailure {
    fn about(&self) -> &'static About {
        &About {
            name: "process-failure",
            sections: &[&walkthrough::HANDLING_PROCESS_FAILURE],
            summary: "kill java in a follower, then in the leader: the container exits, is restarted once, rejoins; no acknowledged write lost",
            needs: &[],
            disruptive: true,
            workload: true,
        }
    }

    async fn run(&self, ctx: &mut SuiteCtx) -> anyhow::Result<()> {
        let p = ctx.platform.clone();
        let t = ctx.config.timeouts.clone();
        let members = p.members();
        let hello = faults::write_hello(p.as_ref(), &members[0], t.operation).await?;

        for role in ["follower", "leader"] {
            let view = EnsembleView::observe(p.as_ref(), t.operation).await?;
            let pick = match role {
                "leader" => view.leaders().first().map(|s| s.to_string()),
                _ => view.followers().last().map(|s| s.to_string()),
            };
            let Some(member) = pick else { bail!("no {role} to kill: {}", view.describe()) };
            // A member that did not come back ends the suite: later rounds would only repeat it.
            self.kill_and_recover(ctx, role, &member, hello.czxid).await?;
        }
        Ok(())
    }
}

impl ProcessFailure {
    /// One round: [`super::Stopped`] when the member did not come back.
    async fn kill_and_recover(&self, ctx: &mut SuiteCtx, role: &str, member: &str, czxid: i64) -> anyhow::Result<()> {
        let p = ctx.platform.clone();
        let t = ctx.config.timeouts.clone();
        let template = p.manifest().pod_template();
        let before = match p.status(member).await {
            Ok(s) => s,
            Err(e) => return Err(ctx.fail(&format!("{role} {member}: status before the fault"), e)),
        };

        // Found first, so that an image where /proc cannot be read (no shell) fails here, saying
        // so, and not as a container that never exited.
        let kill_java = format!("{role} {member}: kill java");
        if let Err(e) = super::process::server(p.as_ref(), member).await {
            return Err(ctx.fail(&kill_java, e));
        }
        let kill = Action::KillServer { member: member.to_string() };
        let (fault, killed) = ctx.inject_as(&kill, &format!("{} ({role})", kill.name())).await;
        let kill_ok = match killed {
            Ok(Injected::Exec(out)) if out.success() => true,
            Ok(Injected::Exec(out)) => return Err(ctx.fail(&kill_java, anyhow!("kill java exited {}: {}", out.exit_code, out.stderr.trim()))),
            Ok(other) => return Err(ctx.fail(&kill_java, anyhow!("the platform answered {other:?} to an exec"))),
            // The exec can be cut off by the container exiting under it: the events below tell.
            Err(e) => {
                tracing::debug!("kill java in {member}: {e:#}");
                true
            }
        };

        // The container must exit by itself: before a liveness probe could have noticed.
        let exit_deadline = template.liveness.as_ref().map(|l| l.max_detection()).unwrap_or(t.member_ready) + t.operation;
        ctx.step(&format!("{role} {member}: the container exited when java was killed"), async {
            let exited = fault.wait_event(p.as_ref(), member, &[LifecycleKind::Exited, LifecycleKind::LivenessKilled], exit_deadline).await;
            verdicts::exited_by_itself(fault.at, exited.as_ref().ok(), kill_ok, exit_deadline)
        })
        .await?;

        ctx.step_with(&format!("{role} {member}: restarted exactly once and Ready"), async |ctx| {
            let restarted = fault.wait_event(p.as_ref(), member, &[LifecycleKind::Restarted], t.member_ready).await?;
            ctx.metric(&format!("{role}.fault_to_restart_ms"), fault.ms_to(restarted.at));
            let ready = fault.wait_event(p.as_ref(), member, &[LifecycleKind::Ready], t.member_ready).await?;
            ctx.metric(&format!("{role}.fault_to_ready_ms"), fault.ms_to(ready.at));
            let after = p.status(member).await?;
            verdicts::restarted_once(before.restart_count, after.restart_count)?;
            Ok(format!("restart count {} -> {}, Ready {} ms after the fault", before.restart_count, after.restart_count, fault.ms_to(ready.at)))
        })
        .await?;

        let rejoined = ctx
            .check_with(&format!("{role} {member}: rejoined, ensemble whole with one leader"), async |ctx| {
                let view = fault.wait_whole(ctx, &format!("{role}.")).await?;
                verdicts::rejoined(&view, member)
            })
            .await;
        let intact = ctx.check(&format!("{role} {member}: /hello intact"), faults::hello_intact(p.as_ref(), member, czxid, t.operation)).await;
        if rejoined && intact {
            Ok(())
        } else {
            Err(ctx.stop())
        }
    }
}
