//! `zk-chaos history RESULTS_DIR`: the runs of a results folder over time, what a nightly CI user
//! looks at. Each run's verdict and its suites' verdicts, and every recovery time (`*_ms` metrics)
//! as a series per suite and metric; as a self-contained HTML page (one chart per metric, inline
//! SVG, no script) or as JSON/YAML.
//!
//! # Caveats
//! Runs are read from `RESULTS_DIR/*/report.json`; an unreadable report is named in `skipped`
//! and left out, never guessed at. Runs on different platforms share a chart, each point labelled
//! with its platform: a Docker run is not a kind run, so compare like with like.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::html::escape;
use super::model::{RunReport, Verdict};
use crate::error::{Error, Result};

/// The runs of a results folder, oldest first, and their recovery times as series.
#[derive(Debug, Serialize)]
pub struct History {
    pub runs: Vec<RunPoint>,
    /// `suite / metric` -> one point per run that has it, oldest first.
    pub metrics: BTreeMap<String, Vec<MetricPoint>>,
    /// Folders whose report.json could not be read, with why.
    pub skipped: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RunPoint {
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub platform: String,
    pub verdict: Verdict,
    pub duration_ms: u64,
    /// Each suite's verdict (skipped ones included).
    pub suites: BTreeMap<String, Verdict>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricPoint {
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub platform: String,
    pub value: f64,
}

/// Reads every `DIR/*/report.json` (not `latest`, which points at one of them).
///
/// # Errors
/// Bad input when `dir` cannot be read or holds no report at all.
pub fn load(dir: &Path) -> Result<History> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| Error::bad_input(format!("{}: cannot read the results folder: {e}; give the folder runs wrote into (--results)", dir.display())))?;
    let mut reports = Vec::new();
    let mut skipped = Vec::new();
    let mut folders: Vec<_> = entries.flatten().filter(|e| e.file_name() != "latest" && e.path().is_dir()).map(|e| e.path()).collect();
    folders.sort();
    for folder in folders {
        let file = folder.join("report.json");
        if !file.exists() {
            continue;
        }
        match std::fs::read_to_string(&file).map_err(|e| e.to_string()).and_then(|t| serde_json::from_str::<RunReport>(&t).map_err(|e| e.to_string())) {
            Ok(r) => reports.push(r),
            Err(e) => skipped.push(format!("{}: {e}", file.display())),
        }
    }
    if reports.is_empty() {
        return Err(Error::bad_input(format!(
            "{}: no run's report.json in it{}",
            dir.display(),
            if skipped.is_empty() { String::new() } else { format!(" that could be read ({})", skipped.join("; ")) }
        )));
    }
    Ok(of(reports, skipped))
}

/// The history of `reports` (any order).
pub fn of(mut reports: Vec<RunReport>, skipped: Vec<String>) -> History {
    reports.sort_by_key(|r| r.started_at);
    let mut metrics: BTreeMap<String, Vec<MetricPoint>> = BTreeMap::new();
    for r in &reports {
        for s in r.suites.iter().filter(|s| s.verdict != Verdict::Skipped) {
            for (name, value) in s.metrics.iter().filter(|(k, _)| k.ends_with("_ms")) {
                metrics.entry(format!("{} / {name}", s.name)).or_default().push(MetricPoint {
                    run_id: r.run_id.clone(),
                    started_at: r.started_at,
                    platform: r.platform.clone(),
                    value: *value,
                });
            }
        }
    }
    let runs = reports
        .iter()
        .map(|r| RunPoint {
            run_id: r.run_id.clone(),
            started_at: r.started_at,
            platform: r.platform.clone(),
            verdict: r.verdict,
            duration_ms: r.duration_ms,
            suites: r.suites.iter().map(|s| (s.name.clone(), s.verdict)).collect(),
        })
        .collect();
    History { runs, metrics, skipped }
}

fn colour(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "#1a7f37",
        Verdict::Fail => "#cf222e",
        Verdict::Skipped => "#6e7781",
    }
}

impl History {
    /// The page: a verdict grid (runs across, suites down), then one line chart per metric.
    pub fn render_html(&self) -> String {
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>zk-chaos history</title><style>\
             body{{font-family:system-ui,sans-serif;margin:2em;color:#1f2328}}table{{border-collapse:collapse}}\
             td,th{{padding:2px 6px;font-size:13px;text-align:left}}.v{{width:14px;height:14px;display:inline-block;border-radius:2px}}\
             svg{{background:#f6f8fa;margin:4px 0 18px}}h2{{font-size:16px;margin-bottom:2px}}</style></head><body>"
        );
        let first = self.runs.first().map(|r| r.started_at.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default();
        let last = self.runs.last().map(|r| r.started_at.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default();
        let passed = self.runs.iter().filter(|r| r.verdict == Verdict::Pass).count();
        let _ = write!(h, "<h1>zk-chaos history</h1><p>{} runs from {first} to {last} UTC; {passed} passed.</p>", self.runs.len());
        // The verdict grid.
        let mut suites: Vec<&String> = self.runs.iter().flat_map(|r| r.suites.keys()).collect();
        suites.sort();
        suites.dedup();
        let _ = write!(h, "<h2>Verdicts</h2><table><tr><th>run</th>");
        for r in &self.runs {
            let _ = write!(
                h,
                "<td title=\"{} on {}: {}\"><span class=\"v\" style=\"background:{}\"></span></td>",
                escape(&r.run_id),
                escape(&r.platform),
                r.verdict.as_str(),
                colour(r.verdict)
            );
        }
        let _ = write!(h, "</tr>");
        for s in &suites {
            let _ = write!(h, "<tr><th>{}</th>", escape(s));
            for r in &self.runs {
                match r.suites.get(*s) {
                    Some(v) => {
                        let _ = write!(h, "<td title=\"{}: {}\"><span class=\"v\" style=\"background:{}\"></span></td>", escape(&r.run_id), v.as_str(), colour(*v));
                    }
                    None => h.push_str("<td></td>"),
                }
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>");
        // One chart per metric.
        for (name, points) in &self.metrics {
            let _ = write!(h, "<h2>{}</h2>{}", escape(name), chart(points));
        }
        for s in &self.skipped {
            let _ = write!(h, "<p>not read: {}</p>", escape(s));
        }
        h.push_str("</body></html>\n");
        h
    }
}

/// A line chart of one metric over time: x the run's start, y the value (ms, from 0), a point
/// per run with its run id, platform and value as a tooltip.
fn chart(points: &[MetricPoint]) -> String {
    const W: f64 = 640.0;
    const H: f64 = 170.0;
    const PAD: f64 = 40.0;
    let max = points.iter().map(|p| p.value).fold(0.0_f64, f64::max).max(1.0);
    let (t0, t1) = match (points.first(), points.last()) {
        (Some(a), Some(b)) => (a.started_at.timestamp() as f64, b.started_at.timestamp() as f64),
        _ => return String::new(),
    };
    let span = (t1 - t0).max(1.0);
    let xy = |p: &MetricPoint| {
        let x = if points.len() == 1 { PAD + (W - 2.0 * PAD) / 2.0 } else { PAD + (p.started_at.timestamp() as f64 - t0) / span * (W - 2.0 * PAD) };
        (x, H - PAD / 2.0 - p.value / max * (H - PAD))
    };
    let mut s = format!("<svg width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\">");
    let _ = write!(s, "<text x=\"4\" y=\"14\" font-size=\"11\">{max:.0} ms</text><text x=\"4\" y=\"{}\" font-size=\"11\">0</text>", H - PAD / 2.0);
    // The time axis: the first and the last run's start.
    if let (Some(a), Some(b)) = (points.first(), points.last()) {
        let y = H - 4.0;
        let _ = write!(s, "<text x=\"{PAD}\" y=\"{y}\" font-size=\"11\">{}</text>", a.started_at.format("%Y-%m-%d %H:%M"));
        if points.len() > 1 {
            let _ = write!(s, "<text x=\"{}\" y=\"{y}\" font-size=\"11\" text-anchor=\"end\">{}</text>", W - PAD, b.started_at.format("%Y-%m-%d %H:%M"));
        }
    }
    let line: Vec<String> = points.iter().map(&xy).map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = write!(s, "<polyline fill=\"none\" stroke=\"#0969da\" stroke-width=\"1.5\" points=\"{}\"/>", line.join(" "));
    for p in points {
        let (x, y) = xy(p);
        let _ = write!(
            s,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"#0969da\"><title>{} ({}, {}): {:.0} ms</title></circle>",
            escape(&p.run_id),
            escape(&p.platform),
            p.started_at.format("%Y-%m-%d %H:%M"),
            p.value
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, at: &str, whole_ms: f64, verdict: Verdict) -> RunReport {
        let mut r = crate::report::model::tests::sample();
        r.run_id = id.into();
        r.started_at = at.parse().unwrap();
        r.suites[0].name = "process-failure".into();
        r.suites[0].metrics = BTreeMap::from([("leader.fault_to_whole_ms".into(), whole_ms), ("restarts".into(), 1.0)]);
        r.suites[0].verdict = verdict;
        r.verdict = verdict;
        r
    }

    #[test]
    fn runs_are_ordered_in_time_and_each_recovery_time_is_a_series() {
        let h = of(vec![run("b", "2026-12-02T03:00:00Z", 9000.0, Verdict::Fail), run("a", "2026-12-01T03:00:00Z", 7000.0, Verdict::Pass)], vec![]);
        assert_eq!(h.runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(h.metrics.keys().collect::<Vec<_>>(), ["process-failure / leader.fault_to_whole_ms"], "only *_ms metrics, of suites that ran");
        let series = &h.metrics["process-failure / leader.fault_to_whole_ms"];
        assert_eq!(series.iter().map(|p| p.value).collect::<Vec<_>>(), [7000.0, 9000.0]);
        assert_eq!(h.runs[1].suites["maintenance"], Verdict::Skipped);
        let page = h.render_html();
        assert!(page.contains("2 runs from 2026-12-01 03:00 to 2026-12-02 03:00 UTC; 1 passed."), "{page}");
        assert_eq!(page.matches("<svg").count(), 1, "one chart per metric");
        assert_eq!(page.matches("<circle").count(), 2, "a point per run");
        assert!(page.contains("<title>b (docker, 2026-12-02 03:00): 9000 ms</title>"), "{page}");
        assert!(!page.contains("<script") && !page.contains("http"), "self-contained");
    }

    #[test]
    fn a_folder_without_reports_is_bad_input_and_a_broken_report_is_named() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap_err().exit_code(), 2);
        assert_eq!(load(&dir.path().join("missing")).unwrap_err().exit_code(), 2);
        std::fs::create_dir_all(dir.path().join("broken")).unwrap();
        std::fs::write(dir.path().join("broken/report.json"), "{").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("broken/report.json"), "{err}");
        let good = dir.path().join("good");
        std::fs::create_dir_all(&good).unwrap();
        std::fs::write(good.join("report.json"), serde_json::to_string(&run("good", "2026-12-01T03:00:00Z", 1.0, Verdict::Pass)).unwrap()).unwrap();
        let h = load(dir.path()).unwrap();
        assert_eq!(h.runs.len(), 1);
        assert_eq!(h.skipped.len(), 1);
        assert!(h.render_html().contains("not read: "), "the unread report is on the page");
    }
}
