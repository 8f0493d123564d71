//! The report model, serialized as report.json. Renderers read it; nothing else writes results.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::platform::LifecycleEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Skipped,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Skipped => "skipped",
        }
    }
}

/// One check: a fact of TUTORIAL.md observed (or not) on the ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    pub name: String,
    pub verdict: Verdict,
    /// What was seen: on a pass the evidence, on a failure what was wrong.
    pub message: String,
    #[serde(default)]
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteReport {
    pub name: String,
    pub verdict: Verdict,
    pub duration_ms: u64,
    /// Why a suite was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub checks: Vec<CheckReport>,
    /// Recovery times and other numbers (milliseconds unless the name says otherwise).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
    /// The members' lifecycle while the suite ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<LifecycleEvent>,
    /// Files the suite wrote, relative to the run folder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<String>,
    /// When the suite started (timeline offsets count from here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// Named moments: "fault injected: kill java in zk-1", "ensemble whole".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub markers: Vec<Marker>,
    /// The client workload that ran through the fault, judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadSummary>,
    /// The register workload's history, judged for linearizability (the partition suite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register: Option<RegisterSummary>,
}

/// The register workload's history as the linearizability checker judged it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterSummary {
    pub operations: usize,
    /// The history, relative to the run folder.
    pub history_file: String,
    /// The checker's verdict in words: `linearizable`, `not linearizable on /k0: ...`, `unknown: ...`.
    pub verdict: String,
    /// The smallest part that cannot be linearized, for the drawing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_part: Option<crate::workload::register::FailingPart>,
}

/// A named moment of a suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    pub at: DateTime<Utc>,
    pub label: String,
}

/// The workload's outcome through a fault, as the checker judged its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct WorkloadSummary {
    /// Operations the ensemble acknowledged, that failed definitely, and whose outcome is unknown.
    pub acknowledged: u64,
    pub failed: u64,
    pub unknown: u64,
    /// Acknowledged writes missing (or wrong) after recovery: must be empty.
    pub lost: Vec<String>,
    /// Reads older than one the same session had already seen: must be empty.
    pub stale_reads: Vec<String>,
    /// First failed operation to the first success after it, in ms (None: never unavailable).
    pub unavailable_ms: Option<u64>,
    pub ops_per_second: f64,
    /// Outcomes per time bucket from the suite's start, for the timeline.
    pub series: Vec<WorkloadBucket>,
    /// The recorded history, relative to the run folder.
    pub history_file: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadBucket {
    pub offset_ms: u64,
    pub ok: u32,
    pub failed: u32,
    pub unknown: u32,
}

impl SuiteReport {
    pub fn skipped(name: &str, reason: &str) -> SuiteReport {
        SuiteReport {
            name: name.to_string(),
            verdict: Verdict::Skipped,
            duration_ms: 0,
            reason: Some(reason.to_string()),
            checks: Vec::new(),
            metrics: BTreeMap::new(),
            timeline: Vec::new(),
            artifacts: Vec::new(),
            started_at: None,
            markers: Vec::new(),
            workload: None,
            register: None,
        }
    }

    /// Fail if any check failed; pass if at least one passed; a suite with no checks fails
    /// (a suite that checked nothing proved nothing).
    pub fn judge(checks: &[CheckReport]) -> Verdict {
        if checks.iter().any(|c| c.verdict == Verdict::Fail) || !checks.iter().any(|c| c.verdict == Verdict::Pass) {
            Verdict::Fail
        } else {
            Verdict::Pass
        }
    }
}

/// What was certified: the manifest (with its digest), the image, the ZooKeeper version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Subject {
    pub manifest: String,
    pub manifest_digest: String,
    pub images: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zookeeper_version: Option<String>,
}

/// The version of report.json's layout. 2 added `schema_version`, `zk_chaos_version` and the
/// `skipped` check verdict; a report without the field is version 1.
pub const SCHEMA_VERSION: u32 = 2;

fn schema_v1() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    #[serde(default = "schema_v1")]
    pub schema_version: u32,
    /// The zk-chaos that wrote the report (`CARGO_PKG_VERSION`).
    #[serde(default)]
    pub zk_chaos_version: String,
    pub run_id: String,
    pub verdict: Verdict,
    pub platform: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub subject: Subject,
    /// Manifest fields that do not apply on this platform, adaptations, warnings.
    #[serde(default)]
    pub notes: Vec<String>,
    pub suites: Vec<SuiteReport>,
    /// Errors from removing what the run created: any makes the run fail.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cleanup_errors: Vec<String>,
    /// Set when the run was interrupted (Ctrl-C, SIGTERM).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

impl RunReport {
    /// Pass only if every suite that ran passed, none failed, cleanup succeeded and the run was
    /// not interrupted. Skipped suites do not fail a run (the report says why they were skipped).
    pub fn judge(&self) -> Verdict {
        let any_ran = self.suites.iter().any(|s| s.verdict != Verdict::Skipped);
        if self.interrupted || !self.cleanup_errors.is_empty() || !any_ran || self.suites.iter().any(|s| s.verdict == Verdict::Fail) {
            Verdict::Fail
        } else {
            Verdict::Pass
        }
    }
}

#[cfg(any(test, feature = "testing"))]
pub mod tests {
    use super::*;

    pub fn check(name: &str, verdict: Verdict, message: &str) -> CheckReport {
        CheckReport { name: name.into(), verdict, message: message.into(), duration_ms: 3 }
    }

    pub fn sample() -> RunReport {
        let checks = vec![
            check("create /hello through zk-0", Verdict::Pass, "created with cZxid 0x100000002"),
            check("read /hello through zk-1", Verdict::Fail, "zk-1 has no /hello: the value written through zk-0 is not visible through zk-1"),
        ];
        let t = "2026-11-28T00:00:00Z".parse().unwrap();
        let mut r = RunReport {
            schema_version: SCHEMA_VERSION,
            zk_chaos_version: env!("CARGO_PKG_VERSION").into(),
            run_id: "zk-chaos-20261128-000000-abcd".into(),
            verdict: Verdict::Fail,
            platform: "docker".into(),
            started_at: t,
            finished_at: t,
            duration_ms: 1234,
            subject: Subject { manifest: "fixtures/zookeeper.yaml".into(), manifest_digest: "sha256:00".into(), ..Default::default() },
            notes: vec!["spec.template.spec.affinity: not applicable on one Docker host".into()],
            suites: vec![
                SuiteReport {
                    name: "integrity".into(),
                    verdict: SuiteReport::judge(&checks),
                    duration_ms: 1000,
                    reason: None,
                    checks,
                    metrics: BTreeMap::from([("unavailable_ms".into(), 0.0)]),
                    timeline: vec![],
                    artifacts: vec![],
                    started_at: Some(t),
                    markers: vec![],
                    workload: None,
                    register: None,
                },
                SuiteReport::skipped("maintenance", "needs a Kubernetes cluster (--platform kube or kind)"),
            ],
            cleanup_errors: vec![],
            interrupted: false,
        };
        r.verdict = r.judge();
        r
    }

    #[test]
    fn a_suite_with_a_failed_or_no_passing_check_fails() {
        assert_eq!(SuiteReport::judge(&[check("a", Verdict::Pass, "")]), Verdict::Pass);
        assert_eq!(SuiteReport::judge(&[check("a", Verdict::Pass, ""), check("b", Verdict::Fail, "")]), Verdict::Fail);
        assert_eq!(SuiteReport::judge(&[]), Verdict::Fail);
        assert_eq!(SuiteReport::judge(&[check("a", Verdict::Skipped, "")]), Verdict::Fail);
    }

    #[test]
    fn reports_carry_their_schema_and_an_old_report_reads_as_version_1() {
        let r = sample();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["schema_version"], SCHEMA_VERSION);
        assert_eq!(v["zk_chaos_version"], env!("CARGO_PKG_VERSION"));
        let mut old = v.as_object().unwrap().clone();
        old.remove("schema_version");
        old.remove("zk_chaos_version");
        let back: RunReport = serde_json::from_value(serde_json::Value::Object(old)).unwrap();
        assert_eq!((back.schema_version, back.zk_chaos_version.as_str()), (1, ""));
    }

    #[test]
    fn cleanup_errors_and_interrupts_fail_the_run() {
        let mut r = sample();
        r.suites.remove(0);
        assert_eq!(r.judge(), Verdict::Fail, "only skipped suites: nothing was certified");
        let mut r = sample();
        r.suites[0].checks[1].verdict = Verdict::Pass;
        r.suites[0].verdict = Verdict::Pass;
        assert_eq!(r.judge(), Verdict::Pass);
        r.cleanup_errors.push("volume in use".into());
        assert_eq!(r.judge(), Verdict::Fail);
        r.cleanup_errors.clear();
        r.interrupted = true;
        assert_eq!(r.judge(), Verdict::Fail);
    }
}
