//! summary.txt: the run in a few lines a person reads first.

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

#[cfg(test)]
mod tests {
    #[test]
    fn failures_are_spelled_out() {
        let text = super::render(&crate::report::model::tests::sample());
        assert!(text.starts_with("zk-chaos run zk-chaos-20261128-000000-abcd: FAIL on docker"), "{text}");
        assert!(text.contains("FAILED read /hello through zk-1: zk-1 has no /hello"), "{text}");
        assert!(text.contains("maintenance      skipped"), "{text}");
    }
}
