//! The suites: each certifies sections of the walkthrough ([`walkthrough`]) and reads like them;
//! those with no section (`partition`) go beyond it, and run only when named.
//! A suite never names a platform; it speaks to the ensemble through [`Platform`] and records checks in its
//! [`SuiteCtx`].

pub mod config_source;
pub mod conformance;
pub mod durability;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod faults;
pub mod integrity;
pub mod ledger;
pub mod liveness;
pub mod maintenance;
pub mod manifest;
pub mod node_failure;
pub mod overhead;
pub mod partition;
pub mod process;
pub mod process_failure;
pub mod rolling_update;
pub mod scale;
pub mod server_config;
pub mod traffic;
pub mod upgrade;
pub mod verdicts;

// The core's modules under the names the suites have always used (`crate::platform`, ...; the
// core's `manifest` is `zk_chaos_core::manifest`, as `crate::manifest` is the manifest suite): a suite
// reads as it did when the suites were a module of one crate, and other branches' suites merge
// unchanged (docs/src/architecture.md).
pub use zk_chaos_core::{client, config, ensemble, error, platform, report, serving, wait, walkthrough, workload};

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::platform::{Capability, Platform, PlatformKind, StatefulSetChange};
use crate::report::model::{Marker, RegisterSummary, WorkloadSummary};
use crate::report::{CheckReport, SuiteReport, Verdict};
use faults::Fault;
use ledger::{Action, Injected, Ledger, Revert};

/// The suite's faults as operations, beside its `workload-history.jsonl`.
pub const FAULTS_FILE: &str = "faults.jsonl";

/// What a suite is, as `zk-chaos suites` lists it.
#[derive(Debug)]
pub struct About {
    pub name: &'static str,
    /// The walkthrough's sections it certifies, in page order.
    pub sections: &'static [&'static walkthrough::Section],
    pub summary: &'static str,
    /// What it needs of a platform beyond running the ensemble; on a platform without it the
    /// suite is reported as skipped, with the reason.
    pub needs: &'static [Capability],
    /// Injects faults or disrupts nodes: refused on clusters the run did not create unless the
    /// user allows it explicitly.
    pub disruptive: bool,
    /// Runs the client workload through its faults. The runner owns it: started before the
    /// suite's `run`, stopped when the suite ended (returned, stopped at a failed step, failed or
    /// panicked) and its ledger was reverted, its history saved and judged; a guard stops it if
    /// the suite is dropped (Ctrl-C). See [`traffic`].
    pub workload: bool,
}

/// A named group of checks.
#[async_trait]
pub trait Suite: Send + Sync {
    fn about(&self) -> &'static About;
    fn name(&self) -> &'static str {
        self.about().name
    }
    fn sections(&self) -> &'static [&'static walkthrough::Section] {
        self.about().sections
    }
    fn summary(&self) -> &'static str {
        self.about().summary
    }
    /// The platforms that have what it needs.
    fn platforms(&self) -> Vec<PlatformKind> {
        PlatformKind::ALL.into_iter().filter(|k| k.can(self.about().needs)).collect()
    }
    fn disruptive(&self) -> bool {
        self.about().disruptive
    }
    /// Whether it certifies sections of the walkthrough; one that goes beyond it runs only when
    /// named (`--suite partition`), never as part of `certify`.
    fn in_walkthrough(&self) -> bool {
        !self.about().sections.is_empty()
    }
    /// Whether the suite needs the ensemble deployed on `platform`. A run whose suites need none
    /// deploys nothing (`zk-chaos run --suite manifest` on Docker judges the file alone).
    fn needs_ensemble(&self, _platform: PlatformKind) -> bool {
        true
    }
    /// What its fault does to the StatefulSet itself, if anything: where the platform refuses
    /// that change (an adopted StatefulSet a controller owns) the suite is skipped with the reason.
    fn changes_statefulset(&self) -> Option<StatefulSetChange> {
        None
    }
    /// Images it runs beyond the manifest's (`--platform kind` loads them into the cluster it
    /// creates, beside the manifest's): none unless it says so.
    fn images(&self, _manifest: &zk_chaos_core::manifest::Manifest, _config: &Config) -> Vec<String> {
        Vec::new()
    }
    /// Runs the suite's steps (the runner has started its workload if it declares one). An `Err`
    /// aborts it and is recorded as a failed check, except [`Stopped`]: a failed step, recorded already.
    async fn run(&self, ctx: &mut SuiteCtx) -> anyhow::Result<()>;
}

/// Every suite, in the order a full run takes them: the non-disruptive ones first, so a
/// deployment that is wrong from the start fails fast and plainly.
pub fn all() -> Vec<Box<dyn Suite>> {
    vec![
        Box::new(manifest::ManifestSuite),
        Box::new(conformance::Conformance),
        Box::new(integrity::Integrity),
        Box::new(durability::Durability),
        Box::new(process_failure::ProcessFailure),
        Box::new(liveness::Liveness),
        Box::new(rolling_update::RollingUpdate),
        Box::new(node_failure::NodeFailure),
        Box::new(maintenance::Maintenance),
        Box::new(partition::Partition),
        Box::new(scale::Scale),
        Box::new(upgrade::Upgrade),
    ]
}

/// The suites named on the command line, in run order; none named: every suite of the
/// walkthrough (those beyond it run only when named). An unknown name is bad input.
pub fn select(names: &[String]) -> Result<Vec<Box<dyn Suite>>> {
    let known: Vec<&str> = all().iter().map(|s| s.name()).collect();
    if let Some(unknown) = names.iter().find(|n| !known.contains(&n.as_str())) {
        return Err(Error::bad_input(format!("unknown suite '{unknown}'; the suites are: {} (`zk-chaos suites` describes them)", known.join(", "))));
    }
    Ok(all().into_iter().filter(|s| if names.is_empty() { s.in_walkthrough() } else { names.iter().any(|n| n == s.name()) }).collect())
}

/// A step of the suite failed and was recorded as a failed check: `?` on it ends the suite there
/// (later checks would only repeat the failure). Not a failure of its own: the runner records
/// nothing more for it, and still reverts the ledger and stops the workload.
#[derive(Debug)]
pub struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the suite stopped at a failed check")
    }
}

impl std::error::Error for Stopped {}

/// A step that cannot apply on this platform or cluster (not a fault of the deployment): the step
/// is recorded `skipped` with this reason, never passed, and the suite stops there as after a
/// failed step; the runner reverts what its faults left.
#[derive(Debug)]
pub struct CannotApply(pub String);

impl std::fmt::Display for CannotApply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CannotApply {}

/// Whether a suite's error is [`Stopped`]: it ended at a check recorded as failed already.
pub fn is_stopped(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Stopped>().is_some()
}

/// What a suite works with, and where it records what it saw.
pub struct SuiteCtx {
    pub platform: Arc<dyn Platform>,
    pub config: Config,
    /// The run's results folder.
    pub run_dir: PathBuf,
    /// A znode path unique to this run, under which suites put their data (`/zk-chaos/<run-id>`),
    /// so reruns against a kept ensemble are independent.
    pub prefix: String,
    name: String,
    checks: Vec<CheckReport>,
    metrics: BTreeMap<String, f64>,
    artifacts: Vec<String>,
    markers: Vec<Marker>,
    workload: Option<WorkloadSummary>,
    register: Option<RegisterSummary>,
    started_at: chrono::DateTime<chrono::Utc>,
    ledger: Ledger,
    faults: Vec<FaultOp>,
    workload_unjudged: Option<String>,
    /// The runner's serving sampler, while it runs ([`crate::serving`]).
    serving: Option<crate::serving::SamplesReader>,
    /// The metrics that are the recovery the suite measures ([`SuiteCtx::measures`]).
    measured: Vec<String>,
}

/// A fault as an operation of the suite's history, beside the client's (`faults.jsonl`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FaultOp {
    pub name: String,
    pub invoked: chrono::DateTime<chrono::Utc>,
    pub completed: chrono::DateTime<chrono::Utc>,
    /// `ok` when the platform accepted it, `failed` with the error when it did not.
    pub outcome: &'static str,
    pub detail: String,
}

impl SuiteCtx {
    pub fn new(name: &str, platform: Arc<dyn Platform>, config: Config, run_dir: PathBuf) -> SuiteCtx {
        let prefix = format!("/zk-chaos/{}", platform.run_id());
        SuiteCtx {
            ledger: Ledger::new(platform.clone()),
            faults: Vec::new(),
            workload_unjudged: None,
            serving: None,
            measured: Vec::new(),
            platform,
            config,
            run_dir,
            prefix,
            name: name.to_string(),
            checks: Vec::new(),
            metrics: BTreeMap::new(),
            artifacts: Vec::new(),
            markers: Vec::new(),
            workload: None,
            register: None,
            started_at: chrono::Utc::now(),
        }
    }

    /// Marks a moment seen earlier (`at`) on the suite's timeline, in time order.
    pub fn mark_at(&mut self, at: chrono::DateTime<chrono::Utc>, label: impl Into<String>) {
        let label = label.into();
        tracing::info!(suite = %self.name, "{label}");
        let i = self.markers.partition_point(|m| m.at <= at);
        self.markers.insert(i, Marker { at, label });
    }

    /// Marks a moment on the suite's timeline ("fault injected: kill java in zk-1").
    pub fn mark(&mut self, label: impl Into<String>) -> chrono::DateTime<chrono::Utc> {
        let at = chrono::Utc::now();
        self.mark_at(at, label);
        at
    }

    /// Injects a fault: marks the timeline ("fault: delete the StatefulSet"), writes its revert in
    /// the suite's ledger, and does it. The [`Fault`] dates it; the result is the platform's
    /// answer, for the suite to judge.
    pub async fn inject(&mut self, action: &Action) -> (Fault, anyhow::Result<Injected>) {
        let label = action.name();
        self.inject_as(action, &label).await
    }

    /// [`SuiteCtx::inject`] with a label of the suite's own on the timeline.
    pub async fn inject_as(&mut self, action: &Action, label: &str) -> (Fault, anyhow::Result<Injected>) {
        let fault = Fault::inject(self, label);
        let result = self.act(action).await;
        let (outcome, detail) = match &result {
            Ok(Injected::Exec(o)) => ("ok", format!("exit {}{}", o.exit_code, if o.stderr.trim().is_empty() { String::new() } else { format!(": {}", o.stderr.trim()) })),
            Ok(Injected::Eviction(e)) => ("ok", format!("{e:?}")),
            Ok(Injected::Accepted) => ("ok", "accepted".to_string()),
            Ok(Injected::Done(how)) => ("ok", how.clone()),
            Err(e) => ("failed", format!("{e:#}")),
        };
        self.faults.push(FaultOp { name: label.to_string(), invoked: fault.at, completed: chrono::Utc::now(), outcome, detail });
        (fault, result)
    }

    /// The faults injected so far, oldest first.
    pub fn faults(&self) -> &[FaultOp] {
        &self.faults
    }

    /// Does an action that is a step of the suite rather than its fault (cordoning the nodes a
    /// drain must not use): into the ledger, not onto the timeline.
    pub async fn act(&self, action: &Action) -> anyhow::Result<Injected> {
        if let Some(r) = action.revert() {
            self.ledger.owe(r);
        }
        action.inject(self.platform.as_ref()).await
    }

    /// Undoes a fault as a step of the suite (the walkthrough re-creates the StatefulSet, uncordons
    /// a node); what fails stays in the ledger for the runner.
    pub async fn revert(&self, r: &Revert) -> anyhow::Result<()> {
        self.ledger.revert(r).await
    }

    /// The suite's ledger (shared: what a clone owes, the suite owes).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Undoes whatever the suite's faults left (the runner calls it after the suite, on every
    /// path); recorded as a check when something was left.
    pub async fn revert_owed(&mut self) {
        if self.ledger.owed().is_empty() {
            return;
        }
        let ledger = self.ledger.clone();
        let done = async { ledger.revert_all().await.map(|names| format!("the suite left {}: done", names.join(", "))) };
        self.check("every fault the suite left was reverted", done).await;
    }

    /// Attaches the judged workload to the suite's report.
    pub fn set_register(&mut self, summary: RegisterSummary) {
        self.register = Some(summary);
    }

    pub fn set_workload(&mut self, summary: WorkloadSummary) {
        self.workload = Some(summary);
    }

    /// Says that the suite made no fault for its workload to run through (`why`): the runner then
    /// saves the workload's history without judging it, and its check is skipped, saying so.
    pub fn skip_workload(&mut self, why: impl Into<String>) {
        self.workload_unjudged = Some(why.into());
    }

    /// Gives the suite the runner's serving sampler to read ([`SuiteCtx::serving_since`]).
    pub fn set_serving(&mut self, reader: Option<crate::serving::SamplesReader>) {
        self.serving = reader;
    }

    /// The serving samples the runner took at or after `from`; `None` when the runner samples
    /// nothing for this suite (neither disruptive nor with a workload).
    pub fn serving_since(&self, from: chrono::DateTime<chrono::Utc>) -> Option<Vec<crate::serving::Sample>> {
        self.serving.as_ref().map(|r| r.since(from))
    }

    /// Why the workload is not to be judged, once (see [`SuiteCtx::skip_workload`]).
    pub fn take_workload_skip(&mut self) -> Option<String> {
        self.workload_unjudged.take()
    }

    /// Runs one step of the suite as a check, timed: `Ok(evidence)` passes and is returned;
    /// `Err(what was wrong)` fails and returns [`Stopped`], so that `?` ends the suite there.
    pub async fn step<F>(&mut self, name: &str, f: F) -> anyhow::Result<String>
    where
        F: Future<Output = anyhow::Result<String>>,
    {
        let start = Instant::now();
        let result = f.await;
        self.judged(name, start.elapsed(), result)
    }

    /// [`SuiteCtx::step`] for work that needs the context itself (marks, metrics,
    /// [`Fault::wait_whole`](faults::Fault::wait_whole)).
    pub async fn step_with<F>(&mut self, name: &str, f: F) -> anyhow::Result<String>
    where
        F: AsyncFnOnce(&mut SuiteCtx) -> anyhow::Result<String>,
    {
        let start = Instant::now();
        let result = f(self).await;
        self.judged(name, start.elapsed(), result)
    }

    /// Runs one check that the suite goes on after whatever it found: `Ok(evidence)` passes,
    /// `Err(what was wrong)` fails. Returns whether it passed.
    pub async fn check<F>(&mut self, name: &str, f: F) -> bool
    where
        F: Future<Output = anyhow::Result<String>>,
    {
        self.step(name, f).await.is_ok()
    }

    /// [`SuiteCtx::check`] for work that needs the context itself.
    pub async fn check_with<F>(&mut self, name: &str, f: F) -> bool
    where
        F: AsyncFnOnce(&mut SuiteCtx) -> anyhow::Result<String>,
    {
        self.step_with(name, f).await.is_ok()
    }

    /// Records a check that failed before any work of its own (there was nothing to time), and
    /// returns [`Stopped`] for a suite that ends there (`return Err(ctx.fail(..))`).
    pub fn fail(&mut self, name: &str, why: anyhow::Error) -> anyhow::Error {
        match self.judged(name, Duration::ZERO, Err(why)) {
            Err(stopped) => stopped,
            Ok(_) => unreachable!("a failure is judged failed"),
        }
    }

    /// Returns [`Stopped`] for a suite that ends after checks that did not all pass.
    pub fn stop(&self) -> anyhow::Error {
        anyhow::Error::new(Stopped)
    }

    /// Records a check that took `took`; its evidence when it passed, [`Stopped`] when not.
    fn judged(&mut self, name: &str, took: Duration, result: anyhow::Result<String>) -> anyhow::Result<String> {
        let duration_ms = took.as_millis() as u64;
        let (verdict, message) = match &result {
            Ok(evidence) => (Verdict::Pass, evidence.clone()),
            Err(e) => match e.chain().find_map(|c| c.downcast_ref::<CannotApply>()) {
                Some(why) => (Verdict::Skipped, why.0.clone()),
                None => (Verdict::Fail, format!("{e:#}")),
            },
        };
        match verdict {
            Verdict::Pass => tracing::info!(suite = %self.name, "ok   {name}: {message}"),
            Verdict::Skipped => tracing::info!(suite = %self.name, "skip {name}: {message}"),
            _ => tracing::warn!(suite = %self.name, "FAIL {name}: {message}"),
        }
        self.checks.push(CheckReport { name: name.to_string(), verdict, message, duration_ms });
        result.map_err(|_| anyhow::Error::new(Stopped))
    }

    /// Records a check that cannot apply here, with why: `skipped` in every report, never a pass.
    pub fn skip(&mut self, name: &str, reason: impl Into<String>) {
        let message = reason.into();
        tracing::info!(suite = %self.name, "skip {name}: {message}");
        self.checks.push(CheckReport { name: name.to_string(), verdict: Verdict::Skipped, message, duration_ms: 0 });
    }

    /// Records a number for the report (milliseconds unless the name says otherwise).
    pub fn metric(&mut self, name: &str, value: f64) {
        tracing::info!(suite = %self.name, "{name} = {value}");
        self.metrics.insert(name.to_string(), value);
    }

    /// Names a metric the suite will record as the deployment's recovery it measures (the time
    /// from its fault to the ensemble whole again): the suite's report then gets the harness's
    /// overhead, its wall time minus these ([`overhead`]). Named before the wait, so that a phase
    /// that never finished leaves no overhead rather than a wrong one.
    pub fn measures(&mut self, metric: impl Into<String>) {
        self.measured.push(metric.into());
    }

    /// A folder for this suite's files, created on demand; files in it are listed in the report.
    pub fn artifact_path(&mut self, file: &str) -> anyhow::Result<PathBuf> {
        let dir = self.run_dir.join(&self.name);
        std::fs::create_dir_all(&dir)?;
        self.artifacts.push(format!("{}/{file}", self.name));
        Ok(dir.join(file))
    }

    /// The suite's name (its artifacts folder).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When the suite started: timeline offsets count from here.
    pub fn started_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.started_at
    }

    pub fn checks(&self) -> &[CheckReport] {
        &self.checks
    }

    /// The suite's report; an aborted suite gets a failed check saying why.
    pub fn finish(mut self, outcome: anyhow::Result<()>, started: Instant) -> SuiteReport {
        if let Err(e) = outcome {
            if !is_stopped(&e) {
                let _ = self.judged("suite completed", started.elapsed(), Err(e.context("suite aborted")));
            }
        }
        if !self.faults.is_empty() {
            let faults = std::mem::take(&mut self.faults);
            let saved = self.artifact_path(FAULTS_FILE).and_then(|path| crate::report::save_json_lines(&path, &faults));
            if let Err(e) = saved {
                tracing::warn!("could not save the suite's faults: {e:#}");
            }
        }
        let duration_ms = started.elapsed().as_millis() as u64;
        if let Some(o) = overhead::overhead(duration_ms as f64, &self.measured, &self.metrics) {
            self.metric(overhead::OVERHEAD_MS, o.ms.round());
            self.metric(overhead::OVERHEAD_PCT, (o.pct * 10.0).round() / 10.0);
        }
        SuiteReport {
            verdict: SuiteReport::judge(&self.checks),
            name: self.name,
            duration_ms,
            reason: None,
            checks: self.checks,
            metrics: self.metrics,
            timeline: Vec::new(),
            artifacts: self.artifacts,
            started_at: Some(self.started_at),
            markers: self.markers,
            workload: self.workload,
            register: self.register,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_step_that_cannot_apply_is_skipped_with_its_reason_and_stops_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        let mut ctx = SuiteCtx::new("scale", Arc::new(fake::FakePlatform::new()), Config::default(), dir.path().to_path_buf());
        let skipped = ctx.step("3 to 5: every new member serving", async { Err(anyhow::Error::new(CannotApply("zk-4 cannot be scheduled".into())).context("waiting")) }).await;
        assert!(is_stopped(&skipped.unwrap_err()));
        let failed = ctx.step("another", async { Err(anyhow::anyhow!("zk-3 never served")) }).await;
        assert!(is_stopped(&failed.unwrap_err()));
        let checks = ctx.checks();
        assert_eq!((checks[0].verdict, checks[0].message.as_str()), (Verdict::Skipped, "zk-4 cannot be scheduled"), "the reason alone, never a pass");
        assert_eq!(checks[1].verdict, Verdict::Fail, "any other error fails");
    }

    #[test]
    fn unknown_suites_are_bad_input_listing_the_known_ones() {
        let err = select(&["nope".into()]).err().unwrap();
        assert_eq!(err.exit_code(), 2);
        let msg = err.to_string();
        assert!(msg.contains("unknown suite 'nope'") && msg.contains("integrity"), "{msg}");
    }

    #[test]
    fn selection_keeps_run_order_and_defaults_to_all() {
        let picked: Vec<_> = select(&["integrity".into(), "conformance".into()]).unwrap().iter().map(|s| s.name()).collect();
        assert_eq!(picked, ["conformance", "integrity"]);
        let default: Vec<_> = select(&[]).unwrap().iter().map(|s| s.name()).collect();
        assert_eq!(default.len(), 9, "every suite of the walkthrough: {default:?}");
        assert!(!default.contains(&"partition"), "beyond the walkthrough: only when named");
        assert_eq!(select(&["partition".into()]).unwrap()[0].name(), "partition");
    }

    #[test]
    fn every_suite_names_its_sections_and_platforms() {
        for s in all() {
            assert!(!s.summary().is_empty() && !s.platforms().is_empty(), "{}", s.name());
            assert!(s.in_walkthrough() || s.summary().starts_with("beyond the walkthrough"), "{}: a suite without sections says it goes beyond the walkthrough", s.name());
        }
    }
}
