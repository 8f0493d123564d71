//! `--repeat N`: the same suites N times, each a full run; afterwards every check's pass rate,
//! so a flaky check (passing sometimes) stands out from a broken one (never passing).

use std::fmt::Write;

use serde::Serialize;

use super::model::{RunReport, Verdict};

/// How often one check passed across the runs that ran it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PassRate {
    pub suite: String,
    pub check: String,
    pub passed: u32,
    pub ran: u32,
}

impl PassRate {
    /// Passed sometimes, failed sometimes.
    pub fn flaky(&self) -> bool {
        self.passed > 0 && self.passed < self.ran
    }
}

/// Every check of every run, in first-seen order, with how many runs passed it.
pub fn pass_rates(runs: &[RunReport]) -> Vec<PassRate> {
    let mut rates: Vec<PassRate> = Vec::new();
    for run in runs {
        for suite in run.suites.iter().filter(|s| s.verdict != Verdict::Skipped) {
            for c in &suite.checks {
                let i = match rates.iter().position(|r| r.suite == suite.name && r.check == c.name) {
                    Some(i) => i,
                    None => {
                        rates.push(PassRate { suite: suite.name.clone(), check: c.name.clone(), passed: 0, ran: 0 });
                        rates.len() - 1
                    }
                };
                rates[i].ran += 1;
                rates[i].passed += u32::from(c.verdict == Verdict::Pass);
            }
        }
    }
    rates
}

/// What `--repeat` writes next to the runs: each run's id and verdict, and the pass rates.
#[derive(Debug, Serialize)]
pub struct RepeatReport {
    pub runs: Vec<(String, Verdict)>,
    pub pass_rates: Vec<PassRate>,
}

impl RepeatReport {
    pub fn new(runs: &[RunReport]) -> RepeatReport {
        RepeatReport { runs: runs.iter().map(|r| (r.run_id.clone(), r.verdict)).collect(), pass_rates: pass_rates(runs) }
    }

    pub fn render_text(&self) -> String {
        let passed = self.runs.iter().filter(|(_, v)| *v == Verdict::Pass).count();
        let mut s = format!("repeat: {passed} of {} runs passed\n", self.runs.len());
        for r in &self.pass_rates {
            let tag = if r.flaky() {
                "  FLAKY"
            } else if r.passed == 0 {
                "  FAILS"
            } else {
                ""
            };
            let _ = writeln!(s, "  {} / {}: {}/{}{tag}", r.suite, r.check, r.passed, r.ran);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::tests::sample;

    #[test]
    fn rates_count_each_check_across_runs_and_flag_flakes() {
        let a = sample(); // its first suite has one passing and one failing check
        let mut b = sample();
        for c in &mut b.suites[0].checks {
            c.verdict = Verdict::Pass;
        }
        let rates = pass_rates(&[a.clone(), b, a]);
        let first = &a_suite_rates(&rates)[0];
        assert_eq!((first.passed, first.ran), (3, 3));
        assert!(!first.flaky());
        let second = &a_suite_rates(&rates)[1];
        assert_eq!((second.passed, second.ran), (1, 3));
        assert!(second.flaky());
        let text = RepeatReport::new(&[sample()]).render_text();
        assert!(text.contains("0 of 1 runs passed") && text.contains("FAILS"), "{text}");
    }

    fn a_suite_rates(rates: &[PassRate]) -> Vec<&PassRate> {
        let suite = &sample().suites[0].name;
        rates.iter().filter(|r| &r.suite == suite).collect()
    }
}
