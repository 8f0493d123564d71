//! `report.html`: the run for a person, in one self-contained file (inline CSS and SVG, no script,
//! nothing fetched). Verdicts first, then per suite its checks, recovery times as a table and a
//! bar chart, and for fault suites a timeline: faults, each member's lifecycle on its own lane,
//! the moment the ensemble was whole again, and the workload's outcomes over time; for a register
//! history that cannot be linearized, its smallest failing part drawn. Failure
//! messages are in the check table; member logs are one click away.
//!
//! This file is the page (its sections, the check tables, the CSS); the timeline
//! ([`timeline`]) and the register's failing part ([`register`]) are beside it.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::model::{RunReport, SuiteReport, Verdict, WorkloadSummary};

mod register;
mod timeline;

pub use register::failing_part_svg;
use register::register_block;
use timeline::short;
pub use timeline::timeline_svg;

/// How many lines of each member's log the page carries.
pub const LOG_TAIL_LINES: usize = 300;

const PASS: &str = "#1a7f37";
const FAIL: &str = "#cf222e";
const SKIP: &str = "#6e7781";
const STARTING: &str = "#d4a72c";
const UNKNOWN: &str = "#e16f24";

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn colour(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => PASS,
        Verdict::Fail => FAIL,
        Verdict::Skipped => SKIP,
    }
}

fn badge(v: Verdict) -> String {
    format!(r#"<span class="badge" style="background:{}">{}</span>"#, colour(v), v.as_str().to_uppercase())
}

/// The whole page. `member_logs` maps a member to its log (kept when the run failed).
pub fn render(report: &RunReport, member_logs: &BTreeMap<String, String>) -> String {
    let mut h = String::new();
    let title = format!("zk-chaos {}: {}", report.run_id, report.verdict.as_str().to_uppercase());
    let _ = write!(h, r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{}</title><style>{CSS}</style></head><body>"#, escape(&title));
    let _ = write!(h, r#"<header style="border-color:{}"><h1>{} {}</h1>"#, colour(report.verdict), badge(report.verdict), escape(&report.run_id));
    let s = &report.subject;
    let _ = write!(
        h,
        "<table class=\"kv\"><tr><th>platform</th><td>{}</td></tr><tr><th>manifest</th><td>{} <code>{}</code></td></tr><tr><th>images</th><td>{}</td></tr><tr><th>ZooKeeper</th><td>{}</td></tr><tr><th>started</th><td>{} ({:.1} s)</td></tr><tr><th>zk-chaos</th><td>{} (report schema {})</td></tr></table>",
        escape(&report.platform),
        escape(&s.manifest),
        escape(&s.manifest_digest),
        escape(&s.images.join(", ")),
        escape(s.zookeeper_version.as_deref().unwrap_or("unknown")),
        report.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        report.duration_ms as f64 / 1000.0,
        escape(if report.zk_chaos_version.is_empty() { "unknown" } else { &report.zk_chaos_version }),
        report.schema_version
    );
    if report.interrupted {
        h.push_str(r#"<p class="bad">The run was interrupted (Ctrl-C); what it created was removed.</p>"#);
    }
    for e in &report.cleanup_errors {
        let _ = write!(h, r#"<p class="bad">Cleanup failed: {}</p>"#, escape(e));
    }
    h.push_str("</header>");
    failures_box(&mut h, report, !member_logs.is_empty());

    // The verdict of every suite at a glance, each linking to its section.
    h.push_str("<nav><table class=\"grid\"><tr><th>suite</th><th>verdict</th><th>checks</th><th>time</th></tr>");
    for suite in &report.suites {
        let passed = suite.checks.iter().filter(|c| c.verdict == Verdict::Pass).count();
        let skipped = suite.checks.iter().filter(|c| c.verdict == Verdict::Skipped).count();
        let checks = match suite.verdict {
            Verdict::Skipped => escape(suite.reason.as_deref().unwrap_or("skipped")),
            _ if skipped > 0 => format!("{passed} of {} passed, {skipped} skipped", suite.checks.len()),
            _ => format!("{passed} of {} passed", suite.checks.len()),
        };
        let _ = write!(
            h,
            "<tr><td><a href=\"#suite-{0}\">{0}</a></td><td>{1}</td><td>{2}</td><td>{3:.1} s</td></tr>",
            escape(&suite.name),
            badge(suite.verdict),
            checks,
            suite.duration_ms as f64 / 1000.0
        );
    }
    h.push_str("</table></nav>");

    for suite in &report.suites {
        suite_section(&mut h, suite);
    }

    if !report.notes.is_empty() {
        h.push_str("<section><h2>Notes from the platform</h2><ul>");
        for n in &report.notes {
            let _ = write!(h, "<li>{}</li>", escape(n));
        }
        h.push_str("</ul></section>");
    }
    if !member_logs.is_empty() {
        h.push_str("<section id=\"member-logs\"><h2>Member logs</h2>");
        for (member, log) in member_logs {
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
            let _ = write!(
                h,
                "<details><summary>{} (last {} of {} lines)</summary><pre>{}</pre></details>",
                escape(member),
                lines.len().min(LOG_TAIL_LINES),
                lines.len(),
                escape(&tail)
            );
        }
        h.push_str("</section>");
    }
    h.push_str("</body></html>\n");
    h
}

/// Every failed check at the top of the page, with its message and a link to its suite, so a
/// person reading a failed run sees what broke before scrolling.
fn failures_box(h: &mut String, report: &RunReport, has_logs: bool) {
    let failed: Vec<_> = report.suites.iter().flat_map(|s| s.checks.iter().filter(|c| c.verdict == Verdict::Fail).map(move |c| (s, c))).collect();
    if failed.is_empty() {
        return;
    }
    let _ = write!(h, r#"<section class="failures" id="failures"><h2>What failed ({})</h2><ul>"#, failed.len());
    for (suite, check) in failed {
        let _ = write!(h, r##"<li><a href="#suite-{0}">{0}</a> / <b>{1}</b>: {2}</li>"##, escape(&suite.name), escape(&check.name), escape(&check.message));
    }
    h.push_str("</ul>");
    if has_logs {
        h.push_str(r##"<p><a href="#member-logs">Member logs</a></p>"##);
    }
    h.push_str("</section>");
}

fn suite_section(h: &mut String, suite: &SuiteReport) {
    let _ = write!(h, r#"<section id="suite-{0}"><h2>{1} {0}</h2>"#, escape(&suite.name), badge(suite.verdict));
    if let Some(reason) = &suite.reason {
        let _ = write!(h, "<p class=\"muted\">{}</p>", escape(reason));
    }
    if !suite.checks.is_empty() {
        h.push_str("<table class=\"grid checks\"><tr><th></th><th>check</th><th>evidence or failure</th><th>ms</th></tr>");
        for c in &suite.checks {
            let class = if c.verdict == Verdict::Fail { " class=\"failrow\"" } else { "" };
            let _ = write!(h, "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", badge(c.verdict), escape(&c.name), escape(&c.message), c.duration_ms);
        }
        h.push_str("</table>");
    }
    if let Some(svg) = timeline_svg(suite) {
        h.push_str("<h3>Timeline</h3>");
        h.push_str(&svg);
        h.push_str(&legend());
    }
    let times: Vec<(&String, f64)> = suite.metrics.iter().filter(|(k, _)| k.ends_with("_ms")).map(|(k, v)| (k, *v)).collect();
    if !times.is_empty() {
        h.push_str("<h3>Recovery times</h3><div class=\"row\"><table class=\"grid\"><tr><th>metric</th><th>ms</th></tr>");
        for (k, v) in &times {
            let _ = write!(h, "<tr><td>{}</td><td class=\"num\">{v:.0}</td></tr>", escape(k));
        }
        h.push_str("</table>");
        h.push_str(&bar_chart(&times));
        h.push_str("</div>");
    }
    if let Some(w) = &suite.workload {
        workload_block(h, w);
    }
    if let Some(r) = &suite.register {
        register_block(h, r);
    }
    h.push_str("</section>");
}

fn workload_block(h: &mut String, w: &WorkloadSummary) {
    let _ = write!(
        h,
        "<h3>Workload</h3><p>{} acknowledged, {} failed, {} unknown; {:.1} ops/s; longest unavailability {}; history <code>{}</code></p>",
        w.acknowledged,
        w.failed,
        w.unknown,
        w.ops_per_second,
        w.unavailable_ms.map(|ms| format!("{ms} ms")).unwrap_or_else(|| "none".into()),
        escape(&w.history_file)
    );
    for (what, list) in [("lost acknowledged writes", &w.lost), ("stale reads", &w.stale_reads)] {
        if !list.is_empty() {
            let _ = write!(h, "<p class=\"bad\">{} {what}:</p><ul>", list.len());
            for item in list.iter().take(50) {
                let _ = write!(h, "<li>{}</li>", escape(item));
            }
            h.push_str("</ul>");
        }
    }
}

/// Horizontal bars, one per time metric, on a common scale.
fn bar_chart(times: &[(&String, f64)]) -> String {
    let max = times.iter().map(|(_, v)| *v).fold(1.0, f64::max);
    let (label_w, bar_w, row) = (260.0, 380.0, 20.0);
    let height = row * times.len() as f64 + 8.0;
    let mut s = format!(r#"<svg class="bars" xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" role="img" aria-label="recovery times">"#, label_w + bar_w + 90.0);
    for (i, (k, v)) in times.iter().enumerate() {
        let y = 4.0 + row * i as f64;
        let w = (bar_w * v / max).max(1.0);
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" class="bl" text-anchor="end">{}</text><rect x="{label_w}" y="{y:.1}" width="{w:.1}" height="14" fill="#0969da"/><text x="{:.1}" y="{:.1}" class="bl">{v:.0} ms</text>"##,
            label_w - 6.0,
            y + 11.0,
            escape(k),
            label_w + w + 5.0,
            y + 11.0
        );
    }
    s.push_str("</svg>");
    s
}

/// The timeline's key, in the colours the timeline uses.
fn legend() -> String {
    format!(
        r#"<p class="legend"><span style="background:{PASS}"></span>Ready <span style="background:{STARTING}"></span>running, not Ready <span style="background:{FAIL}"></span>down (exited, killed, deleted) &nbsp; red line: fault &nbsp; green line: ensemble whole again &nbsp; workload bars: <span style="background:{PASS}"></span>ok <span style="background:{UNKNOWN}"></span>unknown <span style="background:{FAIL}"></span>failed</p>"#
    )
}

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1160px;padding:16px;color:#24292f}\
header{border-left:8px solid;padding:4px 14px;margin-bottom:14px}h1{font-size:22px;margin:6px 0}h2{font-size:18px;margin:4px 0 8px}\
h3{font-size:15px;margin:14px 0 6px}section{border-top:1px solid #d0d7de;padding:10px 0}\
.badge{color:#fff;border-radius:4px;padding:1px 7px;font-size:12px;font-weight:600}\
table.grid{border-collapse:collapse;margin:4px 0}table.grid td,table.grid th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}\
table.kv th{text-align:right;padding-right:10px;color:#57606a;font-weight:500}.num{text-align:right}\
tr.failrow td{background:#ffebe9;font-weight:500}.bad{color:#cf222e;font-weight:600}.muted{color:#57606a}\
code{font-size:12px}pre{background:#f6f8fa;padding:8px;overflow:auto;max-height:480px;font-size:12px}\
.row{display:flex;gap:24px;align-items:flex-start;flex-wrap:wrap}\
.tick{font-size:10px;fill:#57606a;text-anchor:middle}.lane{font-size:12px;font-weight:600}.oplabel{font-size:11px}.order{font-size:10px;font-weight:600}.mark{font-size:11px}.bl{font-size:11px}\
.failures{border:2px solid #cf222e;border-radius:6px;background:#fff8f7;padding:6px 14px;margin-bottom:12px}.failures li{margin:3px 0}\
.legend{font-size:12px;color:#57606a}.legend span{display:inline-block;width:12px;height:10px;margin:0 3px 0 8px}";

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::platform::{LifecycleEvent, LifecycleKind};
    use crate::report::model::{Marker, RegisterSummary, WorkloadBucket};
    use crate::workload::register::{Call, FailingPart, Outcome as RegisterOutcome, RegisterOp};

    fn fault_suite() -> SuiteReport {
        let t0 = DateTime::<Utc>::from_timestamp_millis(1_800_000_000_000).unwrap();
        let at = |ms: i64| t0 + chrono::Duration::milliseconds(ms);
        let ev = |ms, member: &str, kind| LifecycleEvent { at: at(ms), member: member.into(), kind, detail: "d".into() };
        let mut s = SuiteReport::skipped("process-failure", "");
        s.verdict = Verdict::Pass;
        s.reason = None;
        s.started_at = Some(t0);
        s.duration_ms = 20_000;
        s.markers = vec![Marker { at: at(1000), label: "fault: pkill java in zk-2".into() }, Marker { at: at(14_000), label: "ensemble whole again".into() }];
        s.timeline = vec![ev(1_200, "zk-2", LifecycleKind::Exited), ev(2_000, "zk-2", LifecycleKind::Restarted), ev(13_000, "zk-2", LifecycleKind::Ready)];
        s.metrics.insert("follower.fault_to_whole_ms".into(), 13_000.0);
        s.workload = Some(WorkloadSummary {
            acknowledged: 10,
            failed: 1,
            unknown: 1,
            lost: vec![],
            stale_reads: vec![],
            unavailable_ms: Some(900),
            ops_per_second: 1.0,
            series: vec![WorkloadBucket { offset_ms: 0, ok: 3, failed: 0, unknown: 0 }, WorkloadBucket { offset_ms: 1000, ok: 1, failed: 1, unknown: 1 }],
            history_file: "process-failure/workload-history.jsonl".into(),
        });
        s
    }

    fn failing_part() -> FailingPart {
        use crate::workload::register::{Placed, State};
        let op = |id: usize, process: u32, call: Call, invoked: i64, completed: i64, outcome: RegisterOutcome, read: Option<State>| RegisterOp {
            id,
            process,
            session: String::new(),
            key: "/r/k0".into(),
            call,
            invoked,
            completed,
            outcome,
            read,
            version: None,
            zxid: None,
            synced_at: None,
        };
        FailingPart {
            initial: State::default(),
            initial_from: None,
            ops: vec![
                op(3, 0, Call::Write { value: "<a>".into() }, 0, 100, RegisterOutcome::Ok, None),
                op(5, 1, Call::Read, 200, 300, RegisterOutcome::Ok, Some(State::new("", 0))),
                op(6, 2, Call::Cas { expected_version: 1, value: "b".into() }, 150, 160, RegisterOutcome::Unknown, None),
            ],
            linearized: vec![Placed { id: 3, state: State::new("<a>", 1) }],
            stuck: 5,
            minimal: true,
            key_ops: 40,
        }
    }

    #[test]
    fn the_failing_part_is_drawn_a_lane_per_process_with_the_order_and_the_stuck_operation() {
        let svg = failing_part_svg(&failing_part());
        assert_eq!(svg.matches(r#"<rect class="op""#).count(), 3, "a bar per operation: {svg}");
        assert!(svg.contains("process 0") && svg.contains("process 1") && svg.contains("process 2"));
        assert_eq!(svg.matches(&format!(r#"stroke="{FAIL}""#)).count(), 1, "only the stuck operation is outlined");
        let stuck = svg.split("<rect").find(|r| r.contains(&format!(r#"stroke="{FAIL}""#))).unwrap();
        assert!(stuck.contains("#5"), "the outline is #5's: {stuck}");
        assert!(svg.contains(r#"class="order">1</text>"#), "#3 is first in the order found");
        assert!(svg.contains("stroke-dasharray"), "an unknown operation is drawn open-ended");
        assert!(svg.contains("W &quot;&lt;a&gt;&quot;") && !svg.contains("<a>"), "values are escaped");
        let mut s = fault_suite();
        s.register = Some(RegisterSummary {
            operations: 40,
            history_file: "partition/register-history.json".into(),
            verdict: "not linearizable on /r/k0: ...".into(),
            failing_part: Some(failing_part()),
        });
        let mut h = String::new();
        suite_section(&mut h, &s);
        assert!(h.contains("<h3>Register history</h3>") && h.contains("red outline: #5"), "{h}");
        s.register.as_mut().unwrap().failing_part = None;
        let mut h = String::new();
        suite_section(&mut h, &s);
        assert!(h.contains("Register history") && !h.contains("<svg class=\"register\""), "a linearizable history has nothing to draw");
    }

    #[test]
    fn everything_a_run_says_is_escaped() {
        let mut r = crate::report::model::tests::sample();
        r.suites[0].checks[0].message = "<script>alert(1)</script>".into();
        let logs = BTreeMap::from([("zk-0".to_string(), "line\n<script>x</script>".to_string())]);
        let html = render(&r, &logs);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("<details><summary>zk-0"));
    }

    #[test]
    fn failed_checks_show_their_message_and_stand_out() {
        let r = crate::report::model::tests::sample();
        let html = render(&r, &BTreeMap::new());
        let failed = r.suites[0].checks.iter().find(|c| c.verdict == Verdict::Fail).unwrap();
        assert!(html.contains(&escape(&failed.message)));
        assert!(html.contains("class=\"failrow\""));
        assert!(html.contains(&format!("background:{FAIL}")));
    }

    #[test]
    fn failed_checks_are_listed_before_the_suites_and_passing_runs_have_no_box() {
        let r = crate::report::model::tests::sample();
        let logs = BTreeMap::from([("zk-0".to_string(), "line".to_string())]);
        let html = render(&r, &logs);
        let failed = r.suites[0].checks.iter().find(|c| c.verdict == Verdict::Fail).unwrap();
        let boxed = html.find("id=\"failures\"").expect("a failures box");
        let first_suite = html.find("id=\"suite-").unwrap();
        assert!(boxed < first_suite);
        assert!(html[boxed..first_suite].contains(&escape(&failed.message)));
        assert!(html[boxed..first_suite].contains("href=\"#member-logs\""));
        assert!(html.contains("id=\"member-logs\""));

        let mut passing = r.clone();
        for s in &mut passing.suites {
            for c in &mut s.checks {
                c.verdict = Verdict::Pass;
            }
        }
        assert!(!render(&passing, &BTreeMap::new()).contains("id=\"failures\""));
    }

    #[test]
    fn the_timeline_places_events_left_to_right_in_time() {
        let svg = timeline_svg(&fault_suite()).unwrap();
        let xs: Vec<f64> = svg.match_indices("<circle cx=\"").map(|(i, m)| svg[i + m.len()..].split('"').next().unwrap().parse().unwrap()).collect();
        assert_eq!(xs.len(), 3);
        assert!(xs[0] < xs[1] && xs[1] < xs[2], "{xs:?}");
        // The fault line comes before the first event, the whole-again line after the last.
        let fault_x: f64 = svg.split("stroke=\"#cf222e\" stroke-width").next().unwrap().rsplit("x1=\"").next().unwrap().split('"').next().unwrap().parse().unwrap();
        assert!(fault_x < xs[0]);
        assert!(svg.contains("+1000 ms: 1 ok, 1 failed, 1 unknown"));
    }

    #[test]
    fn suites_without_faults_have_no_timeline() {
        let mut s = fault_suite();
        s.markers.clear();
        assert!(timeline_svg(&s).is_none());
    }
}
