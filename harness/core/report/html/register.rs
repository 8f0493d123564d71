//! The register workload's block of a suite: its outcome, and for a history that cannot be
//! linearized its smallest failing part drawn as bars, one lane per process.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::*;
use crate::report::model::RegisterSummary;
use crate::workload::register::{Call, FailingPart, Outcome as RegisterOutcome, RegisterOp};

use super::timeline::{LANE, SVG_WIDTH};

pub(super) fn register_block(h: &mut String, r: &RegisterSummary) {
    let _ = write!(h, "<h3>Register history</h3><p>{} operations, history <code>{}</code>: {}</p>", r.operations, escape(&r.history_file), escape(&short(&r.verdict, 300)));
    if let Some(part) = &r.failing_part {
        h.push_str("<h4>The smallest part that cannot be linearized</h4>");
        h.push_str(&failing_part_svg(part));
        let _ = write!(
            h,
            "<p class=\"legend\">one lane per client process; each bar from invocation to completion; <span style=\"background:{PASS}\"></span>ok <span style=\"background:{UNKNOWN}\"></span>unknown (may take effect any time after its start) &nbsp; circled numbers: the longest legal order found; red outline: #{} could not be placed before it completed</p>",
            part.stuck
        );
    }
}

/// What one register operation did, for its bar: `W "a"`, `CAS v1 "b"`, `R ("a", v1)`.
pub(super) fn op_label(op: &RegisterOp) -> String {
    let what = match &op.call {
        Call::Write { value } => format!("W {value:?}"),
        Call::Cas { expected_version, value } => format!("CAS v{expected_version} {value:?}"),
        Call::CasValue { expected, value } => format!("CAS {expected:?} {value:?}"),
        Call::Append { value } => format!("A {value:?}"),
        Call::Read => match &op.read {
            Some(st) => format!("R {st}"),
            None => "R".to_string(),
        },
    };
    format!("#{} {what}", op.id)
}

/// The failing part as bars on one lane per process over time, Porcupine's way: the order
/// found is numbered, the operation it could not get past is outlined.
pub fn failing_part_svg(part: &FailingPart) -> String {
    let mut processes: Vec<u32> = part.ops.iter().map(|o| o.process).collect();
    processes.sort_unstable();
    processes.dedup();
    let t0 = part.ops.iter().map(|o| o.invoked).min().unwrap_or(0);
    let known_end = part.ops.iter().filter(|o| o.outcome != RegisterOutcome::Unknown).map(|o| o.completed).chain(part.ops.iter().map(|o| o.invoked)).max().unwrap_or(t0);
    let span = ((known_end - t0) as f64 * 1.15).max(1.0);
    let (left, width) = (110.0, SVG_WIDTH - 130.0);
    let x = |t: i64| left + ((t - t0) as f64 / span).clamp(0.0, 1.0) * width;
    let height = 30.0 + LANE * 1.6 * processes.len() as f64 + 24.0;
    let mut s = format!(r#"<svg class="register" viewBox="0 0 {SVG_WIDTH} {height}" width="{SVG_WIDTH}" height="{height}" role="img" aria-label="failing part">"#);
    let _ = write!(
        s,
        r#"<text x="8" y="18" class="lane">from {}{}</text>"#,
        escape(&part.initial.to_string()),
        part.initial_from.as_ref().map(|o| format!(" (left by #{})", o.id)).unwrap_or_default()
    );
    let order: BTreeMap<usize, usize> = part.linearized.iter().enumerate().map(|(i, p)| (p.id, i + 1)).collect();
    for (lane, proc_) in processes.iter().enumerate() {
        let y = 30.0 + LANE * 1.6 * lane as f64;
        let _ = write!(s, r#"<text x="8" y="{:.1}" class="lane">process {proc_}</text>"#, y + 16.0);
        for op in part.ops.iter().filter(|o| o.process == *proc_) {
            let unknown = op.outcome == RegisterOutcome::Unknown;
            let x0 = x(op.invoked);
            let x1 = if unknown { left + width } else { x(op.completed).max(x0 + 3.0) };
            let fill = if unknown { UNKNOWN } else { PASS };
            let stroke = if op.id == part.stuck { format!(r#" stroke="{FAIL}" stroke-width="3""#) } else { String::new() };
            let dash = if unknown { r#" stroke-dasharray="4 3""# } else { "" };
            let _ = write!(
                s,
                r#"<rect class="op" x="{x0:.1}" y="{y:.1}" width="{:.1}" height="22" rx="3" fill="{fill}" fill-opacity="0.35"{stroke}{dash}><title>{}</title></rect>"#,
                x1 - x0,
                escape(&op.describe())
            );
            let _ = write!(s, r#"<text x="{:.1}" y="{:.1}" class="oplabel">{}</text>"#, x0 + 3.0, y + 15.0, escape(&short(&op_label(op), 40)));
            if let Some(n) = order.get(&op.id) {
                let _ = write!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="8" fill="white" stroke="{PASS}"/><text x="{:.1}" y="{:.1}" class="order">{n}</text>"#,
                    x1 - 9.0,
                    y - 2.0,
                    x1 - 12.0,
                    y + 2.0
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}
