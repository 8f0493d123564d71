//! A fault suite's timeline as SVG: faults, each member's lifecycle on its own lane, the moment the
//! ensemble was whole again, and the workload's outcomes over time.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::*;
use crate::platform::{LifecycleEvent, LifecycleKind};
use crate::report::model::SuiteReport;

/// What a lifecycle event says about a member's state after it: down, starting, or ready.
pub(super) fn state_after(kind: LifecycleKind) -> Option<&'static str> {
    match kind {
        LifecycleKind::Ready => Some(PASS),
        LifecycleKind::Created | LifecycleKind::Started | LifecycleKind::Restarted | LifecycleKind::NotReady => Some(STARTING),
        LifecycleKind::Exited | LifecycleKind::LivenessKilled | LifecycleKind::Deleted => Some(FAIL),
        LifecycleKind::LivenessFailed => None,
    }
}

/// Geometry of a timeline: maps instants to x.
pub(super) struct Scale {
    t0: DateTime<Utc>,
    span_ms: f64,
    left: f64,
    width: f64,
}

impl Scale {
    fn x(&self, t: DateTime<Utc>) -> f64 {
        let ms = (t - self.t0).num_milliseconds() as f64;
        self.left + (ms / self.span_ms).clamp(0.0, 1.0) * self.width
    }
}

pub(super) const SVG_WIDTH: f64 = 1100.0;
pub(super) const LANE: f64 = 26.0;

/// The suite's timeline, or None when it has nothing to draw (a suite without faults).
pub fn timeline_svg(suite: &SuiteReport) -> Option<String> {
    let faults: Vec<_> = suite.markers.iter().filter(|m| m.label.starts_with("fault")).collect();
    if faults.is_empty() {
        return None;
    }
    let t0 = suite.started_at.or_else(|| suite.markers.first().map(|m| m.at))?;
    let mut t1 = t0;
    for at in suite.markers.iter().map(|m| m.at).chain(suite.timeline.iter().map(|e| e.at)) {
        t1 = t1.max(at);
    }
    if let Some(w) = &suite.workload {
        if let Some(last) = w.series.last() {
            t1 = t1.max(t0 + chrono::Duration::milliseconds(last.offset_ms as i64 + 1000));
        }
    }
    t1 = t1.max(t0 + chrono::Duration::milliseconds(suite.duration_ms as i64));
    let span_ms = ((t1 - t0).num_milliseconds() as f64).max(1.0);
    let sc = Scale { t0, span_ms, left: 90.0, width: SVG_WIDTH - 110.0 };

    let mut members: Vec<&str> = suite.timeline.iter().map(|e| e.member.as_str()).filter(|m| *m != "-").collect();
    members.sort();
    members.dedup();
    let workload_h = if suite.workload.as_ref().is_some_and(|w| !w.series.is_empty()) { 60.0 } else { 0.0 };
    let top = 34.0;
    let height = top + LANE * members.len() as f64 + workload_h + 40.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{SVG_WIDTH}" height="{height}" viewBox="0 0 {SVG_WIDTH} {height}" role="img" aria-label="timeline of {}">"#,
        escape(&suite.name)
    );
    // Time axis: a tick every sensible number of seconds.
    let step = tick_step(span_ms / 1000.0);
    let mut sec = 0.0;
    while sec * 1000.0 <= span_ms {
        let x = sc.x(t0 + chrono::Duration::milliseconds((sec * 1000.0) as i64));
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{:.1}" stroke="#eaeef2"/><text x="{x:.1}" y="{:.1}" class="tick">{sec:.0}s</text>"##,
            height - 24.0,
            height - 10.0
        );
        sec += step;
    }
    // Member lanes: the state after each event, as a band until the next event.
    for (i, m) in members.iter().enumerate() {
        let y = top + LANE * i as f64;
        let _ = write!(s, r#"<text x="8" y="{:.1}" class="lane">{}</text>"#, y + 17.0, escape(m));
        let events: Vec<&LifecycleEvent> = suite.timeline.iter().filter(|e| e.member == *m).collect();
        // Every suite starts on a whole ensemble (the run checks it first): Ready until told otherwise.
        let mut state: Option<(&str, DateTime<Utc>)> = Some((PASS, t0));
        for e in &events {
            if let Some(c) = state_after(e.kind) {
                if let Some((prev, from)) = state {
                    band(&mut s, &sc, from, e.at, y, prev);
                }
                state = Some((c, e.at));
            }
        }
        if let Some((prev, from)) = state {
            band(&mut s, &sc, from, t1, y, prev);
        }
        for e in &events {
            let x = sc.x(e.at);
            let _ = write!(
                s,
                r##"<circle cx="{x:.1}" cy="{:.1}" r="3.5" fill="#24292f"><title>{} {} {:?}: {}</title></circle>"##,
                y + 12.0,
                e.at.format("%H:%M:%S%.3f"),
                escape(m),
                e.kind,
                escape(&e.detail)
            );
        }
    }
    // Faults and other markers across all lanes, labelled along the top.
    for (n, mk) in suite.markers.iter().enumerate() {
        let x = sc.x(mk.at);
        let (stroke, dash) = if mk.label.starts_with("fault") {
            (FAIL, "")
        } else if mk.label.contains("whole") {
            (PASS, "")
        } else {
            (SKIP, r#" stroke-dasharray="3,3""#)
        };
        let _ = write!(
            s,
            r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="{stroke}" stroke-width="2"{dash}><title>{}</title></line>"#,
            top - 4.0,
            height - 24.0,
            escape(&mk.label)
        );
        if mk.label.starts_with("fault") || mk.label.contains("whole") {
            let y = 12.0 + 10.0 * (n % 2) as f64;
            // Labels near the right edge end at their line instead of running off the picture.
            let (tx, anchor) = if x > SVG_WIDTH * 0.7 { (x - 3.0, "end") } else { (x + 3.0, "start") };
            let _ = write!(s, r#"<text x="{tx:.1}" y="{y:.1}" class="mark" fill="{stroke}" text-anchor="{anchor}">{}</text>"#, escape(&short(&mk.label, 48)));
        }
    }
    // The workload's outcomes per bucket, as stacked bars.
    if let Some(w) = suite.workload.as_ref().filter(|w| !w.series.is_empty()) {
        let y0 = top + LANE * members.len() as f64 + 8.0;
        let _ = write!(s, r#"<text x="8" y="{:.1}" class="lane">workload</text>"#, y0 + 30.0);
        let max = w.series.iter().map(|b| b.ok + b.failed + b.unknown).max().unwrap_or(1).max(1) as f64;
        let bucket_ms = if w.series.len() > 1 { (w.series[1].offset_ms - w.series[0].offset_ms).max(1) } else { 1000 } as i64;
        for b in &w.series {
            let from = t0 + chrono::Duration::milliseconds(b.offset_ms as i64);
            let x = sc.x(from);
            let bw = (sc.x(from + chrono::Duration::milliseconds(bucket_ms)) - x - 0.5).max(0.8);
            let mut y = y0 + 50.0;
            for (count, c) in [(b.ok, PASS), (b.unknown, UNKNOWN), (b.failed, FAIL)] {
                if count == 0 {
                    continue;
                }
                let bh = 50.0 * count as f64 / max;
                y -= bh;
                let _ = write!(
                    s,
                    r#"<rect x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{bh:.1}" fill="{c}"><title>+{} ms: {} ok, {} failed, {} unknown</title></rect>"#,
                    b.offset_ms, b.ok, b.failed, b.unknown
                );
            }
        }
    }
    s.push_str("</svg>");
    Some(s)
}

pub(super) fn band(s: &mut String, sc: &Scale, from: DateTime<Utc>, to: DateTime<Utc>, y: f64, fill: &str) {
    let (x0, x1) = (sc.x(from), sc.x(to));
    let _ = write!(s, r#"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="14" fill="{fill}" opacity="0.85"/>"#, y + 5.0, (x1 - x0).max(0.5));
}

pub(super) fn tick_step(span_s: f64) -> f64 {
    [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0].into_iter().find(|s| span_s / s <= 14.0).unwrap_or(600.0)
}

pub(super) fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}
