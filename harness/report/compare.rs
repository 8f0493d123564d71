//! `zk-chaos compare RUN_A RUN_B`: two runs' recovery times and verdicts side by side, so a
//! release can be held against the last one. A recovery time that grew by more than the factor
//! (and by more than the noise floor) is a regression, and so is a suite that passed in A and
//! failed in B.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::model::{RunReport, Verdict};
use crate::error::{Error, Result};

/// A change smaller than this is noise on a shared machine, whatever the factor.
pub const NOISE_FLOOR_MS: f64 = 250.0;
/// The default factor beyond which a recovery time counts as regressed.
pub const DEFAULT_MAX_FACTOR: f64 = 1.5;

/// Reads a run's report: a run folder, its report.json, or a `latest` link.
pub fn load_run(path: &Path) -> Result<RunReport> {
    let file: PathBuf = if path.is_dir() { path.join("report.json") } else { path.to_path_buf() };
    let text = std::fs::read_to_string(&file)
        .map_err(|e| Error::bad_input(format!("cannot read the run report {}: {e}; give a results/<run-id> folder or its report.json", file.display())))?;
    serde_json::from_str(&text).map_err(|e| Error::bad_input(format!("{} is not a zk-chaos report.json: {e}", file.display())))
}

/// Parses the `--max-factor` value (clap's value parser: its error is clap's, exit 2): a number
/// above 1.
pub fn parse_factor(text: &str) -> std::result::Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && f > 1.0 => Ok(f),
        _ => Err("must be a number above 1 (for example 1.5: more than 50% slower is a regression)".to_string()),
    }
}

/// One row: a suite's metric or verdict in both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub suite: String,
    pub what: String,
    pub a: Option<String>,
    pub b: Option<String>,
    pub change: String,
    pub regressed: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub run_a: String,
    pub run_b: String,
    pub max_factor: f64,
    pub rows: Vec<Row>,
}

impl Comparison {
    pub fn regressed(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| r.regressed).collect()
    }

    pub fn render_text(&self) -> String {
        let mut s = format!("compare A = {}  B = {}  (regression: B > {}x A and more than {NOISE_FLOOR_MS:.0} ms slower)\n", self.run_a, self.run_b, self.max_factor);
        let _ = writeln!(s, "{:<16} {:<36} {:>10} {:>10}  CHANGE", "SUITE", "WHAT", "A", "B");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{:<16} {:<36} {:>10} {:>10}  {}{}",
                r.suite,
                r.what,
                r.a.as_deref().unwrap_or("-"),
                r.b.as_deref().unwrap_or("-"),
                r.change,
                if r.regressed { "  REGRESSED" } else { "" }
            );
        }
        let n = self.regressed().len();
        let _ = writeln!(s, "{}", if n == 0 { "no regression".to_string() } else { format!("{n} regression(s)") });
        s
    }
}

/// Compares B against A.
pub fn compare(a: &RunReport, b: &RunReport, max_factor: f64) -> Comparison {
    let mut rows = Vec::new();
    // Suites in run order of A, then any only B has.
    let mut order: Vec<&str> = a.suites.iter().map(|s| s.name.as_str()).collect();
    order.extend(b.suites.iter().map(|s| s.name.as_str()).filter(|n| !a.suites.iter().any(|s| s.name == *n)));
    for name in order {
        let sa = a.suites.iter().find(|s| s.name == name);
        let sb = b.suites.iter().find(|s| s.name == name);
        let (va, vb) = (sa.map(|s| s.verdict), sb.map(|s| s.verdict));
        let regressed = va == Some(Verdict::Pass) && vb == Some(Verdict::Fail);
        rows.push(Row {
            suite: name.to_string(),
            what: "verdict".into(),
            a: va.map(|v| v.as_str().to_string()),
            b: vb.map(|v| v.as_str().to_string()),
            change: if va == vb { "same".into() } else { "changed".into() },
            regressed,
        });
        let metrics: BTreeSet<&String> = sa.iter().chain(sb.iter()).flat_map(|s| s.metrics.keys()).filter(|k| k.ends_with("_ms")).collect();
        for m in metrics {
            let ma = sa.and_then(|s| s.metrics.get(m)).copied();
            let mb = sb.and_then(|s| s.metrics.get(m)).copied();
            let (change, regressed) = match (ma, mb) {
                (Some(x), Some(y)) => {
                    let factor = if x > 0.0 { format!(" ({:.2}x)", y / x) } else { String::new() };
                    (format!("{:+.0} ms{factor}", y - x), y - x > NOISE_FLOOR_MS && y > x * max_factor)
                }
                _ => ("only in one run".into(), false),
            };
            rows.push(Row { suite: name.to_string(), what: m.clone(), a: ma.map(|v| format!("{v:.0}")), b: mb.map(|v| format!("{v:.0}")), change, regressed });
        }
    }
    Comparison { run_a: a.run_id.clone(), run_b: b.run_id.clone(), max_factor, rows }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn run(id: &str, verdict: Verdict, ms: f64) -> RunReport {
        let mut r = crate::report::model::tests::sample();
        r.run_id = id.into();
        r.suites.truncate(1);
        r.suites[0].name = "process-failure".into();
        r.suites[0].verdict = verdict;
        r.suites[0].metrics.clear();
        r.suites[0].metrics.insert("leader.fault_to_whole_ms".into(), ms);
        r.suites[0].metrics.insert("restarts".into(), 1.0);
        r
    }

    #[rstest]
    #[case::same(10_000.0, 10_000.0, false)]
    #[case::faster(10_000.0, 5_000.0, false)]
    #[case::slower_within_factor(10_000.0, 14_000.0, false)]
    #[case::slower_beyond_factor(10_000.0, 16_000.0, true)]
    #[case::beyond_factor_but_noise(100.0, 300.0, false)]
    #[case::beyond_factor_and_floor(100.0, 400.0, true)]
    fn recovery_times_regress_beyond_the_factor_and_the_floor(#[case] a: f64, #[case] b: f64, #[case] regressed: bool) {
        let c = compare(&run("a", Verdict::Pass, a), &run("b", Verdict::Pass, b), DEFAULT_MAX_FACTOR);
        assert_eq!(!c.regressed().is_empty(), regressed, "{}", c.render_text());
        // Only *_ms metrics are compared.
        assert!(c.rows.iter().all(|r| r.what != "restarts"));
    }

    #[test]
    fn a_suite_that_stopped_passing_is_a_regression() {
        let c = compare(&run("a", Verdict::Pass, 1.0), &run("b", Verdict::Fail, 1.0), DEFAULT_MAX_FACTOR);
        let r = c.regressed();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].what, "verdict");
        assert!(c.render_text().contains("REGRESSED"));
    }

    #[rstest]
    #[case("1.5", true)]
    #[case("2", true)]
    #[case("1", false)]
    #[case("0.5", false)]
    #[case("-3", false)]
    #[case("fast", false)]
    #[case("NaN", false)]
    fn the_factor_is_a_number_above_one(#[case] text: &str, #[case] ok: bool) {
        assert_eq!(parse_factor(text).is_ok(), ok);
    }

    #[test]
    fn a_missing_report_is_bad_input() {
        let e = load_run(Path::new("/nonexistent/run")).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT);
    }
}
