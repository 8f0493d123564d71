//! `liveness` and readiness ("Testing for liveness", "Testing for readiness"; TUTORIAL.md 12-13):
//! breaking zk-0's liveness probe makes it fail `failureThreshold` times; the member is restarted
//! from a fresh container and becomes Ready; while it was broken it was reported unready. Every
//! deadline is derived from the manifest's probe fields.
//!
//! The fault breaks the probe's own target, as the walkthrough removes its probe script: the
//! script or binary the probe's argv runs, resolved on the container's PATH, removed (or made
//! unexecutable) as the container's user. Where that cannot be done (a read-only root, a file the
//! user may not change, an inline probe such as `echo ruok | nc localhost 2181 | grep imok`, a
//! general tool such as `nc`), the server is stopped with SIGSTOP so that the probe times out, and
//! let go (SIGCONT) by the revert. A server that is its container's pid 1 ignores SIGSTOP sent
//! from inside the container: then it is stopped from outside, by the platform (the Docker engine,
//! or a kind node's container runtime). Where the platform cannot reach the container from
//! outside (another cluster's nodes), the programs the probe runs (`nc` in that pipeline) are
//! removed or made unexecutable instead, and where none can be the check is skipped naming why:
//! the fault could not be made, which says nothing of the deployment. The check names the fault
//! and why it was chosen.

use std::time::Duration;

use anyhow::anyhow;
use async_trait::async_trait;

use super::faults;
use super::ledger::{Action, Injected};
use super::{process, verdicts, walkthrough, About, Suite, SuiteCtx};
use crate::platform::{CannotSignal, LifecycleKind, Platform};

pub struct Liveness;

/// The script the walkthrough's probes run, as the walkthrough removes it (reference data).
pub const READY_SCRIPT: &str = walkthrough::reference::READY_SCRIPT;

/// What a probe's argv runs, as far as the argv says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A script or binary of the deployment's own, to resolve in the container.
    Own(String),
    /// Nothing of its own to break, and why.
    None(String),
}

/// Programs a probe may run that are not its own: breaking them would break the image, not the probe.
const GENERAL_TOOLS: &[&str] =
    &["sh", "bash", "ash", "dash", "nc", "ncat", "netcat", "curl", "wget", "echo", "printf", "test", "[", "true", "false", "java", "cat", "grep", "timeout", "env", "exec"];

/// The probe's own target from its argv: `sh -c "ready-check 2181"` runs `ready-check`;
/// `["/opt/probe.sh"]` runs `/opt/probe.sh`; a pipeline or a list in `sh -c` is inline.
pub fn probe_target(argv: &[String]) -> Target {
    let base = |w: &str| w.rsplit('/').next().unwrap_or(w).to_string();
    let Some(first) = argv.first() else { return Target::None("the probe has no command".into()) };
    let command = if let Some(script) = shell_script(argv) {
        if ["|", ";", "&&", "||", "$(", "`", ">", "<", "\n"].iter().any(|op| script.contains(op)) {
            return Target::None(format!("the probe is an inline shell command ({script:?}), with no script of its own"));
        }
        // `VAR=value command args`: the assignments set the command's environment.
        match script.split_whitespace().find(|w| !is_assignment(w)) {
            Some(w) => w.to_string(),
            None => return Target::None("the probe's shell command is empty".into()),
        }
    } else {
        first.clone()
    };
    if GENERAL_TOOLS.contains(&base(&command).as_str()) {
        return Target::None(format!("the probe runs `{command}`, a general tool, not a script of its own"));
    }
    Target::Own(command)
}

/// The script of `sh -c SCRIPT` (also `bash -ec`, `-xc` and the like: any option cluster ending
/// in `c`), or `None` when the argv is not a shell running a command string.
fn shell_script(argv: &[String]) -> Option<&str> {
    let [sh, opts, script, ..] = argv else { return None };
    let shell = ["sh", "bash", "ash", "dash"].contains(&sh.rsplit('/').next().unwrap_or(sh));
    let c = opts.strip_prefix('-').is_some_and(|o| o.ends_with('c') && o.chars().all(|ch| ch.is_ascii_alphabetic()));
    (shell && c).then_some(script.as_str())
}

/// `NAME=value`, a shell variable assignment before a command.
fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| !name.is_empty() && name.chars().all(|ch| ch == '_' || ch.is_ascii_alphanumeric()))
}

/// The fault chosen for the probe, and why.
#[derive(Debug, Clone)]
struct Broken {
    action: Action,
    /// "was removed", for the messages that follow.
    what: String,
    /// The path the fault removed or made unexecutable; `None` for SIGSTOP.
    path: Option<String>,
    why: String,
}

#[async_trait]
impl Suite for Liveness {
    fn about(&self) -> &'static About {
        &About {
            name: "liveness",
            sections: &[&walkthrough::TESTING_FOR_LIVENESS, &walkthrough::TESTING_FOR_READINESS],
            summary: "break zk-0's liveness probe (its script removed, else the server stopped): it fails failureThreshold times, a fresh container restarts it, unready meanwhile",
            needs: &[],
            disruptive: true,
            workload: true,
        }
    }

    async fn run(&self, ctx: &mut SuiteCtx) -> anyhow::Result<()> {
        let p = ctx.platform.clone();
        let t = ctx.config.timeouts.clone();
        let template = p.manifest().pod_template();
        let member = p.members()[0].clone();

        let check = "the manifest has liveness and readiness probes";
        let liveness = match (&template.liveness, &template.readiness) {
            (Some(l), Some(_)) => {
                let msg = format!("liveness `{}`: period {}s, timeout {}s, failureThreshold {}", l.command.join(" "), l.period.as_secs(), l.timeout.as_secs(), l.failure_threshold);
                ctx.check(check, async { Ok(msg) }).await;
                l.clone()
            }
            (l, r) => {
                let why = anyhow!(
                    "the walkthrough needs both probes; the manifest has {} liveness probe and {} readiness probe",
                    if l.is_some() { "a" } else { "no" },
                    if r.is_some() { "a" } else { "no" }
                );
                ctx.skip_workload("the manifest lacks a probe to break");
                return Err(ctx.fail(check, why));
            }
        };

        let hello = faults::write_hello(p.as_ref(), &member, t.operation).await?;
        let before = p.status(&member).await?;

        let deadline = detection_deadline(&liveness, t.operation);
        ctx.metric("liveness_deadline_ms", deadline.as_millis() as f64);

        let broken = match break_probe(ctx, &member, &liveness.command).await {
            Ok(b) => b,
            Err((name, e)) if e.chain().any(|c| c.is::<CannotSignal>()) => {
                ctx.skip(&name, format!("{e:#}"));
                ctx.skip(
                    &format!("the liveness probe failed failureThreshold ({}) times and killed the container", liveness.failure_threshold),
                    "no fault could be made to the probe (above)",
                );
                ctx.skip_workload("the probe could not be broken");
                return Ok(());
            }
            Err((name, e)) => return Err(ctx.fail(&name, e)),
        };
        let fault = broken.0;
        let broken = broken.1;
        let name = match &broken.action {
            Action::RemoveFile { path, .. } => format!("rm {path} in {member}"),
            Action::Unexecutable { path, .. } => format!("chmod a-x {path} in {member}"),
            _ => format!("kill -STOP java in {member}"),
        };
        let done = if matches!(broken.action, Action::RemoveFile { .. }) && broken.path.as_deref() == Some(READY_SCRIPT) {
            "removed".to_string()
        } else {
            format!("{}: {}", broken.what, broken.why)
        };
        ctx.check(&name, async { Ok(done) }).await;

        let killed = async {
            match fault.wait_event(p.as_ref(), &member, &[LifecycleKind::LivenessKilled, LifecycleKind::Exited], deadline).await {
                Ok(e) => verdicts::killed_by_liveness(&p.lifecycle(), &member, fault.at, &e, liveness.failure_threshold, liveness.period),
                Err(_) => Err(anyhow!(
                    "the liveness probe never failed: {} {} s ago and {member} was not restarted (restart count still {}); a probe that cannot fail restarts nothing. Last seen: {}",
                    broken.what,
                    fault.clock.elapsed().as_secs(),
                    p.status(&member).await.map(|s| s.restart_count).unwrap_or(before.restart_count),
                    faults::last_events(p.as_ref(), &member, 3)
                )),
            }
        };
        ctx.step(&format!("the liveness probe failed failureThreshold ({}) times and killed the container", liveness.failure_threshold), killed).await?;

        // Unready comes from the readiness probe (often the same target) or from the container
        // being stopped by the liveness kill, whichever is first; both before the member is back.
        let grace = p.manifest().pod_template().termination_grace;
        let unready = async {
            match fault.wait_event(p.as_ref(), &member, &[LifecycleKind::NotReady], grace + t.operation).await {
                Ok(e) => Ok(format!("{member} reported NotReady {} ms after the fault ({})", fault.ms_to(e.at), e.detail)),
                Err(e) => Err(anyhow!("{member} was never reported unready while its probe was broken ({}): {e:#}", broken.what)),
            }
        };
        ctx.check(&format!("{member} was reported unready while broken (readiness)"), unready).await;

        let back_check = format!("{member} restarted from a fresh container and Ready");
        let mut whole = None;
        let back_ok = ctx
            .check_with(&back_check, async |ctx| {
                let restarted = fault.wait_event(p.as_ref(), &member, &[LifecycleKind::Restarted], t.member_ready).await?;
                let ready = fault.wait_event(p.as_ref(), &member, &[LifecycleKind::Ready], t.member_ready).await?;
                // Whole first: the recovery time is the ensemble's, not the checks' after it.
                whole = Some(fault.wait_whole(ctx, "").await.map(|v| v.describe()));
                let now = p.status(&member).await?;
                let (what, present) = match &broken.path {
                    Some(path) => (path.clone(), p.exec(&member, &["test", "-x", path]).await?.success()),
                    None => ("a running java server".to_string(), process::server(p.as_ref(), &member).await.is_ok()),
                };
                verdicts::fresh_container(&before, &now, &what, present)?;
                ctx.metric("fault_to_restart_ms", fault.ms_to(restarted.at));
                ctx.metric("fault_to_ready_ms", fault.ms_to(ready.at));
                Ok(format!("restart count {} -> {}, fresh container with {what}, Ready {} ms after the fault", before.restart_count, now.restart_count, fault.ms_to(ready.at)))
            })
            .await;
        // Not restarted and Ready: there is no recovery to judge.
        let Some(whole) = whole else { return Err(ctx.stop()) };
        ctx.check("ensemble whole again", async { whole }).await;
        if !back_ok {
            return Err(ctx.stop());
        }
        ctx.check("/hello intact", faults::hello_intact(p.as_ref(), &member, hello.czxid, t.operation)).await;
        Ok(())
    }
}

/// Breaks the probe (see the module's summary) and returns the fault's moment with what was done;
/// or the check's name and why nothing could be broken.
async fn break_probe(ctx: &mut SuiteCtx, member: &str, argv: &[String]) -> Result<(faults::Fault, Broken), (String, anyhow::Error)> {
    let p = ctx.platform.clone();
    let stop_name = format!("kill -STOP java in {member}");
    let mut tried = Vec::new();
    if let Target::Own(command) = probe_target(argv) {
        let kind = if command.ends_with(".sh") || command.ends_with("-ready") { "script" } else { "program" };
        let why = format!("the probe's own {kind} (`{command}`{})", if command.contains('/') { "" } else { " on the container's PATH" });
        match break_file(ctx, member, &command, why).await {
            Ok(done) => return Ok(done),
            Err(e) => tried.extend(e),
        }
    }
    let why = match probe_target(argv) {
        Target::None(why) => why,
        Target::Own(_) => format!("the probe's target could not be broken as the container's user ({})", tried.join("; ")),
    };
    let server = process::server(p.as_ref(), member).await.map_err(|e| (stop_name.clone(), e.context(why.clone())))?;
    if server.pid == 1 {
        // The kernel drops SIGSTOP (and SIGKILL) sent to a pid namespace's init from inside it:
        // the server that is its container's pid 1 cannot be stopped by an exec. The platform
        // stops it from outside where it can; else the programs the probe pipes through are what
        // is left to break.
        let why = format!("{why}; the server is its container's pid 1, which ignores SIGSTOP sent from inside the container");
        let action = Action::SignalContainer { member: member.into(), signal: "STOP".into() };
        let (fault, done) = ctx.inject(&action).await;
        let cannot = match done {
            Ok(Injected::Done(how)) if !how.starts_with("not sent") => {
                let what = format!("the server (pid 1 of its container) was stopped with SIGSTOP {how}");
                return Ok((fault, Broken { action, what, path: None, why: format!("{why}; so it was stopped from outside, and the probe times out") }));
            }
            Ok(Injected::Done(how)) => return Err((stop_name, anyhow!("{why}; SIGSTOP from outside was {how}"))),
            Ok(other) => return Err((stop_name, anyhow!("{why}; the platform answered {other:?} to a signal"))),
            Err(e) => match e.downcast::<CannotSignal>() {
                Ok(cannot) => cannot,
                Err(e) => return Err((stop_name, e.context(why))),
            },
        };
        // Nothing was stopped: its SIGCONT is not owed.
        if let Some(r) = action.revert() {
            ctx.ledger().forgive(&r);
        }
        for tool in probe_programs(argv) {
            match break_file(ctx, member, &tool, format!("{why}, and {cannot}; so `{tool}`, which the probe runs")).await {
                Ok(done) => return Ok(done),
                Err(e) => tried.extend(e),
            }
        }
        let e = anyhow::Error::new(cannot)
            .context(format!("{why}, and none of the programs it runs could be removed or made unexecutable as the container's user ({})", tried.join("; ")));
        return Err((stop_name, e));
    }
    let action = Action::Signal { member: member.into(), pid: server.pid, signal: "STOP".into() };
    let (fault, done) = ctx.inject(&action).await;
    let failed = |e: anyhow::Error| (stop_name.clone(), e.context(why.clone()));
    match done {
        Ok(Injected::Exec(o)) if o.success() => {
            Ok((fault, Broken { action, what: format!("the server (pid {}) was stopped with SIGSTOP", server.pid), path: None, why: format!("{why}; so the probe times out") }))
        }
        Ok(Injected::Exec(o)) => Err(failed(anyhow!("kill -STOP {} exited {}: {}", server.pid, o.exit_code, o.stderr.trim()))),
        Ok(other) => Err(failed(anyhow!("the platform answered {other:?} to an exec"))),
        Err(e) => Err(failed(e)),
    }
}

/// Resolves `command` in the container and removes it, else makes it unexecutable; what was
/// tried when neither could be done.
async fn break_file(ctx: &mut SuiteCtx, member: &str, command: &str, why: String) -> Result<(faults::Fault, Broken), Vec<String>> {
    let p = ctx.platform.clone();
    let path = resolve(p.as_ref(), member, command).await.map_err(|e| vec![format!("{e:#}")])?;
    let mut tried = Vec::new();
    for (action, what) in [
        (Action::RemoveFile { member: member.into(), path: path.clone() }, format!("{path} was removed")),
        (Action::Unexecutable { member: member.into(), path: path.clone() }, format!("{path} was made unexecutable")),
    ] {
        let (fault, done) = ctx.inject(&action).await;
        match done {
            Ok(Injected::Exec(o)) if o.success() => return Ok((fault, Broken { action, what, path: Some(path), why })),
            Ok(Injected::Exec(o)) => tried.push(format!("{} exited {}: {}", action.name(), o.exit_code, o.stderr.trim())),
            Ok(other) => tried.push(format!("{}: the platform answered {other:?}", action.name())),
            Err(e) => tried.push(format!("{}: {e:#}", action.name())),
        }
    }
    Err(tried)
}

/// The programs a probe runs, in order, shell builtins left out: each stage of an inline
/// `sh -c` pipeline or list (`echo ruok | nc localhost 2181 | grep imok` runs `nc` and `grep`),
/// else the argv's first word.
pub fn probe_programs(argv: &[String]) -> Vec<String> {
    const BUILTINS: &[&str] = &["echo", "printf", "test", "[", "true", "false", "exit", ":", "exec", "cd", "read", "set", "export"];
    let words: Vec<String> = match (shell_script(argv), argv.first()) {
        (Some(script), _) => script.split(['|', ';', '&', '\n']).filter_map(|stage| stage.split_whitespace().find(|w| !is_assignment(w))).map(str::to_string).collect(),
        (None, Some(first)) => vec![first.clone()],
        (None, None) => vec![],
    };
    let mut out: Vec<String> = Vec::new();
    for w in words {
        if !BUILTINS.contains(&w.as_str()) && !w.contains('=') && !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// The absolute path `command` runs in the container: itself when it has a slash, else what the
/// container's shell finds on its PATH.
async fn resolve(p: &dyn Platform, member: &str, command: &str) -> anyhow::Result<String> {
    if command.contains('/') {
        return Ok(command.to_string());
    }
    let script = format!("command -v {command}");
    let out = p.exec(member, &["sh", "-c", &script]).await?;
    let path = out.stdout.trim().to_string();
    anyhow::ensure!(out.success() && path.starts_with('/'), "`{command}` is not a file on {member}'s PATH (command -v printed {path:?})");
    Ok(path)
}

/// How long the suite waits for the liveness probe to act, from the manifest's fields:
/// failureThreshold failures one period apart, each up to its timeout, plus one period of phase
/// between the fault and the probe's next run, plus `slack`.
pub fn detection_deadline(l: &zk_chaos_core::manifest::Probe, slack: Duration) -> Duration {
    l.period * (l.failure_threshold + 1) + l.timeout * l.failure_threshold + slack
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn the_probes_own_target_is_read_from_its_argv() {
        assert_eq!(probe_target(&argv(&["sh", "-c", "zookeeper-ready 2181"])), Target::Own("zookeeper-ready".into()));
        assert_eq!(probe_target(&argv(&["/opt/bitnami/scripts/zookeeper/healthcheck.sh"])), Target::Own("/opt/bitnami/scripts/zookeeper/healthcheck.sh".into()));
        assert_eq!(probe_target(&argv(&["/bin/bash", "-c", "/probe.sh"])), Target::Own("/probe.sh".into()));
        // The Bitnami chart's probe: options before `c`, an assignment before the script.
        let bitnami = argv(&["/bin/bash", "-ec", "ZOO_HC_TIMEOUT=3 /opt/bitnami/scripts/zookeeper/healthcheck.sh"]);
        assert_eq!(probe_target(&bitnami), Target::Own("/opt/bitnami/scripts/zookeeper/healthcheck.sh".into()));
        assert_eq!(probe_programs(&bitnami), ["/opt/bitnami/scripts/zookeeper/healthcheck.sh"]);
        assert!(matches!(probe_target(&argv(&["bash", "-e", "/probe.sh"])), Target::None(_)), "-e alone runs a file, not a command string");
        let inline = probe_target(&argv(&["sh", "-c", "echo ruok | nc localhost 2181 | grep imok"]));
        assert!(matches!(&inline, Target::None(why) if why.starts_with("the probe is an inline shell command")), "{inline:?}");
        assert!(matches!(probe_target(&argv(&["sh", "-c", "zookeeper-ready 2181 || true"])), Target::None(_)));
        let tool = probe_target(&argv(&["nc", "-z", "localhost", "2181"]));
        assert_eq!(tool, Target::None("the probe runs `nc`, a general tool, not a script of its own".into()));
        assert!(matches!(probe_target(&argv(&["true"])), Target::None(_)));
        assert!(matches!(probe_target(&[]), Target::None(_)));
    }

    #[test]
    fn the_programs_an_inline_probe_runs() {
        assert_eq!(probe_programs(&argv(&["sh", "-c", "echo ruok | nc -w 2 localhost 2181 | grep imok"])), ["nc", "grep"]);
        assert_eq!(probe_programs(&argv(&["sh", "-c", "zookeeper-ready 2181 || true"])), ["zookeeper-ready"]);
        assert_eq!(probe_programs(&argv(&["/opt/probe.sh", "2181"])), ["/opt/probe.sh"]);
        assert!(probe_programs(&argv(&["sh", "-c", "true"])).is_empty());
    }

    #[test]
    fn the_deadline_follows_the_probe_fields() {
        let manifest = zk_chaos_core::manifest::walkthrough();
        let l = manifest.pod_template().liveness.unwrap();
        // The walkthrough's probe: period 10s (default), timeout 5s, failureThreshold 3 (default).
        assert_eq!((l.period.as_secs(), l.timeout.as_secs(), l.failure_threshold), (10, 5, 3));
        assert_eq!(detection_deadline(&l, Duration::from_secs(15)), Duration::from_secs(40 + 15 + 15));
        let fast = zk_chaos_core::manifest::Probe { period: Duration::from_secs(2), failure_threshold: 1, ..l };
        assert_eq!(detection_deadline(&fast, Duration::ZERO), Duration::from_secs(4 + 5));
    }
}
