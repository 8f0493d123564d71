//! `zk-chaos compare RUN_A RUN_B`: two runs' recovery times and verdicts side by side, so a
//! release can be held against the last one. A recovery time that grew by more than the factor
//! (and by more than the noise floor) is a regression, and so is a suite that passed in A and
//! failed in B. Two runs that did not run the same suites, or not the same deployment (manifest
//! digest) on the same platform, are not comparable: [`Comparison::differences`] says how, and the
//! command exits 1 unless told `--allow-different`.

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
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Row {
    pub suite: String,
    pub what: String,
    pub a: Option<String>,
    pub b: Option<String>,
    pub change: String,
    pub regressed: bool,
}

/// What `compare` prints (`-o json|yaml`: this, serialized; fields may be added, none renamed).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Comparison {
    pub run_a: String,
    pub run_b: String,
    pub max_factor: f64,
    pub rows: Vec<Row>,
    /// How the two runs differ in what they ran (suites, deployment, platform): empty when they
    /// are comparable.
    pub differences: Vec<String>,
    /// Rows that regressed (a copy of the flag, for a machine).
    pub regressions: usize,
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
        for d in &self.differences {
            let _ = writeln!(s, "NOT COMPARABLE: {d}");
        }
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
    let regressions = rows.iter().filter(|r| r.regressed).count();
    Comparison { run_a: a.run_id.clone(), run_b: b.run_id.clone(), max_factor, rows, differences: differences(a, b), regressions }
}

/// How A and B differ in what they ran: the suites that ran (not skipped) in one and not the
/// other, another manifest digest (another deployment), another platform. Empty: comparable.
pub fn differences(a: &RunReport, b: &RunReport) -> Vec<String> {
    let ran = |r: &RunReport| -> BTreeSet<String> { r.suites.iter().filter(|s| s.verdict != Verdict::Skipped).map(|s| s.name.clone()).collect() };
    let (ra, rb) = (ran(a), ran(b));
    let mut out = Vec::new();
    let only = |x: &BTreeSet<String>, y: &BTreeSet<String>| x.difference(y).cloned().collect::<Vec<_>>().join(", ");
    if ra != rb {
        let (in_a, in_b) = (only(&ra, &rb), only(&rb, &ra));
        let mut parts = Vec::new();
        if !in_a.is_empty() {
            parts.push(format!("only A ran {in_a}"));
        }
        if !in_b.is_empty() {
            parts.push(format!("only B ran {in_b}"));
        }
        out.push(format!("the runs did not run the same suites: {}", parts.join("; ")));
    }
    if a.subject.manifest_digest != b.subject.manifest_digest {
        out.push(format!(
            "the runs did not certify the same deployment: A's manifest {} is {}, B's {} is {}",
            a.subject.manifest, a.subject.manifest_digest, b.subject.manifest, b.subject.manifest_digest
        ));
    }
    if a.platform != b.platform {
        out.push(format!("the runs were on different platforms: A on {}, B on {}", a.platform, b.platform));
    }
    out
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

    #[test]
    fn runs_of_other_suites_or_another_deployment_are_not_comparable() {
        let a = run("a", Verdict::Pass, 1.0);
        assert!(compare(&a, &a, DEFAULT_MAX_FACTOR).differences.is_empty());
        let mut b = a.clone();
        b.suites.push(crate::report::SuiteReport::skipped("maintenance", "needs a Kubernetes cluster"));
        assert!(differences(&a, &b).is_empty(), "a skipped suite did not run in either");
        let mut other = b.suites[0].clone();
        other.name = "integrity".into();
        b.suites.push(other);
        assert_eq!(differences(&a, &b), ["the runs did not run the same suites: only B ran integrity"]);
        assert_eq!(differences(&b, &a), ["the runs did not run the same suites: only A ran integrity"]);
        b.suites.remove(0);
        assert_eq!(differences(&a, &b), ["the runs did not run the same suites: only A ran process-failure; only B ran integrity"]);
        let mut c = a.clone();
        c.subject.manifest_digest = "sha256:0ther".into();
        c.platform = "kind".into();
        let d = differences(&a, &c);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("the runs did not certify the same deployment") && d[0].ends_with("sha256:0ther"), "{d:?}");
        assert_eq!(d[1], "the runs were on different platforms: A on docker, B on kind");
        let text = compare(&a, &c, DEFAULT_MAX_FACTOR).render_text();
        assert!(text.contains("\nNOT COMPARABLE: the runs did not certify the same deployment"), "{text}");
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
