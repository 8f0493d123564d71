//! summary.txt: the run in a few lines a person reads first; [`Machine`]: the same for a machine
//! (`run -o json|yaml`).

use std::fmt::Write;

use super::model::{RunReport, Verdict};

pub fn render(r: &RunReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "zk-chaos run {}: {} on {} in {:.1}s", r.run_id, r.verdict.as_str().to_uppercase(), r.platform, r.duration_ms as f64 / 1000.0);
    if !r.zk_chaos_version.is_empty() {
        let _ = writeln!(s, "zk-chaos {} (report schema {})", r.zk_chaos_version, r.schema_version);
    }
    let _ = writeln!(s, "manifest {} ({}), images {}", r.subject.manifest, r.subject.manifest_digest, r.subject.images.join(", "));
    if let Some(v) = &r.subject.zookeeper_version {
        let _ = writeln!(s, "ZooKeeper {v}");
    }
    for suite in &r.suites {
        let passed = suite.checks.iter().filter(|c| c.verdict == Verdict::Pass).count();
        let skipped = suite.checks.iter().filter(|c| c.verdict == Verdict::Skipped).count();
        let _ = write!(s, "\n{:<16} {:<7} {:>3}/{:<3} checks passed  {:.1}s", suite.name, suite.verdict.as_str(), passed, suite.checks.len(), suite.duration_ms as f64 / 1000.0);
        if skipped > 0 {
            let _ = write!(s, "  ({skipped} skipped)");
        }
        if let Some(reason) = &suite.reason {
            let _ = write!(s, "  ({reason})");
        }
        let _ = writeln!(s);
        for c in suite.checks.iter().filter(|c| c.verdict == Verdict::Fail) {
            let _ = writeln!(s, "  FAILED {}: {}", c.name, c.message);
        }
        for c in suite.checks.iter().filter(|c| c.verdict == Verdict::Skipped) {
            let _ = writeln!(s, "  SKIPPED {}: {}", c.name, c.message);
        }
        for (k, v) in &suite.metrics {
            let _ = writeln!(s, "  {k} = {v}");
        }
    }
    for e in &r.cleanup_errors {
        let _ = writeln!(s, "\nCLEANUP FAILED: {e}");
    }
    if r.interrupted {
        let _ = writeln!(s, "\nINTERRUPTED before the end");
    }
    for n in &r.notes {
        let _ = writeln!(s, "note: {n}");
    }
    s
}

/// What `run`/`certify -o json|yaml` print on stdout instead of the summary text: each run's
/// verdict, folder and suites, and with `--repeat` the pass rates. Fields may be added, none renamed.
#[derive(Debug, serde::Serialize)]
pub struct Machine {
    pub runs: Vec<MachineRun>,
    /// `--repeat N` (N > 1): every check's pass rate across the runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass_rates: Option<Vec<super::repeat::PassRate>>,
}

#[derive(Debug, serde::Serialize)]
pub struct MachineRun {
    pub run_id: String,
    pub verdict: Verdict,
    pub platform: String,
    pub duration_ms: u64,
    pub interrupted: bool,
    /// The run folder (report.json, junit.xml, report.html).
    pub results: std::path::PathBuf,
    pub suites: Vec<MachineSuite>,
    pub cleanup_errors: Vec<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct MachineSuite {
    pub name: String,
    pub verdict: Verdict,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub checks: usize,
    pub passed: usize,
    /// The failed checks: name and message.
    pub failed: Vec<(String, String)>,
    pub metrics: std::collections::BTreeMap<String, f64>,
}

impl MachineRun {
    pub fn new(r: &RunReport, results: &std::path::Path) -> MachineRun {
        MachineRun {
            run_id: r.run_id.clone(),
            verdict: r.verdict,
            platform: r.platform.clone(),
            duration_ms: r.duration_ms,
            interrupted: r.interrupted,
            results: results.to_path_buf(),
            suites: r
                .suites
                .iter()
                .map(|s| MachineSuite {
                    name: s.name.clone(),
                    verdict: s.verdict,
                    duration_ms: s.duration_ms,
                    reason: s.reason.clone(),
                    checks: s.checks.len(),
                    passed: s.checks.iter().filter(|c| c.verdict == Verdict::Pass).count(),
                    failed: s.checks.iter().filter(|c| c.verdict == Verdict::Fail).map(|c| (c.name.clone(), c.message.clone())).collect(),
                    metrics: s.metrics.clone(),
                })
                .collect(),
            cleanup_errors: r.cleanup_errors.clone(),
            notes: r.notes.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_machine_summary_carries_verdicts_failures_and_the_folder() {
        let r = crate::report::model::tests::sample();
        let run = super::MachineRun::new(&r, std::path::Path::new("results/zk-chaos-20261128-000000-abcd"));
        let v = serde_json::to_value(super::Machine { runs: vec![run], pass_rates: None }).unwrap();
        assert!(v.get("pass_rates").is_none(), "{v}");
        let run = &v["runs"][0];
        assert_eq!((run["verdict"].as_str(), run["results"].as_str()), (Some("fail"), Some("results/zk-chaos-20261128-000000-abcd")));
        assert_eq!(run["suites"][0]["failed"][0][0], "read /hello through zk-1");
        assert_eq!((run["suites"][0]["checks"].as_u64(), run["suites"][0]["passed"].as_u64()), (Some(2), Some(1)));
        assert_eq!(run["suites"][1]["verdict"], "skipped");
        assert!(run["suites"][1]["reason"].as_str().unwrap().starts_with("needs a Kubernetes cluster"));
    }

    #[test]
    fn failures_are_spelled_out() {
        let text = super::render(&crate::report::model::tests::sample());
        assert!(text.starts_with("zk-chaos run zk-chaos-20261128-000000-abcd: FAIL on docker"), "{text}");
        assert!(text.contains("FAILED read /hello through zk-1: zk-1 has no /hello"), "{text}");
        assert!(text.contains("maintenance      skipped"), "{text}");
    }
}
