//! The harness's overhead in a suite: its wall time minus the time it spent waiting on the
//! deployment's own recovery, the part of the run the suite measures.
//!
//! A suite names the metrics that are that recovery ([`SuiteCtx::measures`](super::SuiteCtx::measures):
//! `upgrade.fault_to_whole_ms`, `up.3_to_5.scale_ms`), before it waits for them; when the suite
//! ends, its report gets `harness_overhead_ms` (wall time minus their sum) and
//! `harness_overhead_pct` (that share of the wall time). Everything else the suite spent is the
//! harness's: starting and judging the workload, writing and reading `/hello`, asking each server
//! its version or membership, reading the data volume back, the checks between the phases.
//!
//! # Caveats
//! The measured metrics must not overlap in time, or their sum counts a stretch twice (the suites
//! that use it measure consecutive phases). They run from the fault to the moment the harness saw
//! the ensemble whole, so the harness's detection delay (at most one poll) counts as recovery.
//! When one of the named metrics was never recorded (a phase failed or never ran), there is no
//! overhead to report: the wall time then holds waits for deadlines, not recovery.
//! Metrics are timed on the wall clock and the suite on the monotonic one: a measured sum a few
//! milliseconds above the wall time counts as no overhead, not a negative one.

use std::collections::BTreeMap;

/// The metric: wall time minus the measured recovery, in ms.
pub const OVERHEAD_MS: &str = "harness_overhead_ms";
/// The metric: that overhead as a percentage of the suite's wall time.
pub const OVERHEAD_PCT: &str = "harness_overhead_pct";

/// A suite's overhead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overhead {
    /// Wall time minus the measured recovery, in ms (never below 0).
    pub ms: f64,
    /// `ms` as a percentage of the wall time.
    pub pct: f64,
}

/// The overhead of a suite that took `wall_ms` and recorded `metrics`, of which those named in
/// `measured` are the recovery it measures. `None` when it names none, when one of them was not
/// recorded, or when the suite took no time.
pub fn overhead(wall_ms: f64, measured: &[String], metrics: &BTreeMap<String, f64>) -> Option<Overhead> {
    if measured.is_empty() || wall_ms <= 0.0 {
        return None;
    }
    let mut recovery = 0.0;
    for name in measured {
        recovery += metrics.get(name)?;
    }
    let ms = (wall_ms - recovery).max(0.0);
    Some(Overhead { ms, pct: 100.0 * ms / wall_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_upgrade_and_its_downgrade_leave_the_rest_as_overhead() {
        // A passing upgrade on Docker: two rolls of about 130 s each in a suite of 300 s; the
        // rollouts and start-to-ready metrics beside them are not the measured recovery.
        let m = metrics(&[
            ("upgrade.rollout_ms", 128_900.0),
            ("upgrade.fault_to_whole_ms", 129_400.0),
            ("downgrade.rollout_ms", 129_800.0),
            ("downgrade.fault_to_whole_ms", 130_600.0),
            ("upgrade.zk-0.start_to_ready_ms", 12_800.0),
        ]);
        let o = overhead(300_000.0, &names(&["upgrade.fault_to_whole_ms", "downgrade.fault_to_whole_ms"]), &m).unwrap();
        assert_eq!(o.ms, 40_000.0);
        assert!((o.pct - 13.333).abs() < 0.001, "{o:?}");
    }

    #[test]
    fn a_scale_up_and_down_leave_the_rest_as_overhead() {
        let m = metrics(&[("up.3_to_5.scale_ms", 21_800.0), ("down.5_to_3.scale_ms", 1_800.0), ("up.3_to_5.zk-3.start_to_serving_ms", 1_400.0)]);
        let o = overhead(25_000.0, &names(&["up.3_to_5.scale_ms", "down.5_to_3.scale_ms"]), &m).unwrap();
        assert!((o.ms - 1_400.0).abs() < 1e-9, "{o:?}");
        assert!((o.pct - 5.6).abs() < 1e-9, "{o:?}");
    }

    #[test]
    fn a_phase_that_never_finished_leaves_no_overhead_to_report() {
        // The downgrade never became whole: its wait for a deadline is not overhead, nor recovery.
        let m = metrics(&[("upgrade.fault_to_whole_ms", 129_400.0), ("downgrade.rollout_ms", 10.0)]);
        assert_eq!(overhead(400_000.0, &names(&["upgrade.fault_to_whole_ms", "downgrade.fault_to_whole_ms"]), &m), None);
    }

    #[test]
    fn a_suite_that_measures_nothing_or_took_no_time_has_none() {
        let m = metrics(&[("fault_to_whole_ms", 5_000.0)]);
        assert_eq!(overhead(20_000.0, &[], &m), None);
        assert_eq!(overhead(0.0, &names(&["fault_to_whole_ms"]), &m), None);
    }

    /// The suite's report carries the overhead from its own wall time, only when every phase it
    /// named was measured.
    #[test]
    fn a_suites_report_carries_its_overhead_when_every_measured_phase_was_recorded() {
        use std::sync::Arc;
        use std::time::{Duration, Instant};
        let dir = tempfile::tempdir().unwrap();
        let ctx = |name: &str| {
            let p: Arc<dyn crate::platform::Platform> = Arc::new(crate::fake::FakePlatform::new());
            crate::SuiteCtx::new(name, p, crate::config::Config::default(), dir.path().to_path_buf())
        };
        let ten_s_ago = Instant::now() - Duration::from_secs(10);
        let mut whole = ctx("scale");
        whole.measures("up.3_to_5.scale_ms");
        whole.measures("down.5_to_3.scale_ms");
        whole.metric("up.3_to_5.scale_ms", 6_000.0);
        whole.metric("down.5_to_3.scale_ms", 2_000.0);
        let report = whole.finish(Ok(()), ten_s_ago);
        let (ms, pct) = (report.metrics[OVERHEAD_MS], report.metrics[OVERHEAD_PCT]);
        assert_eq!(ms, report.duration_ms as f64 - 8_000.0, "{:?}", report.metrics);
        assert!(ms >= 2_000.0 && (19.9..25.0).contains(&pct), "{:?}", report.metrics);

        let mut half = ctx("scale");
        half.measures("up.3_to_5.scale_ms");
        half.measures("down.5_to_3.scale_ms");
        half.metric("up.3_to_5.scale_ms", 6_000.0);
        let report = half.finish(Ok(()), ten_s_ago);
        assert!(!report.metrics.contains_key(OVERHEAD_MS) && !report.metrics.contains_key(OVERHEAD_PCT), "{:?}", report.metrics);
    }

    #[test]
    fn clocks_that_disagree_by_a_few_ms_give_no_overhead_not_a_negative_one() {
        let m = metrics(&[("up.3_to_5.scale_ms", 20_003.0)]);
        assert_eq!(overhead(20_000.0, &names(&["up.3_to_5.scale_ms"]), &m), Some(Overhead { ms: 0.0, pct: 0.0 }));
    }
}
