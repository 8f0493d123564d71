//! junit.xml: one testsuite per suite, one testcase per check, with the real failure message.
//! Recovery times and other metrics become testsuite properties. [`render_repeats`]: the runs of
//! `--repeat N` as one report, each check once, flaky when it failed in some runs and passed in
//! others.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use super::model::{RunReport, Verdict};

pub fn render(report: &RunReport) -> anyhow::Result<String> {
    let mut out = Report::new(format!("zk-chaos {}", report.run_id));
    for suite in &report.suites {
        let mut ts = TestSuite::new(suite.name.clone());
        ts.set_time(std::time::Duration::from_millis(suite.duration_ms));
        for (k, v) in &suite.metrics {
            ts.add_property(Property::new(k.clone(), format!("{v}")));
        }
        if suite.verdict == Verdict::Skipped {
            let mut tc = TestCase::new(suite.name.clone(), TestCaseStatus::skipped());
            if let TestCaseStatus::Skipped { message, .. } = &mut tc.status {
                *message = suite.reason.clone().map(Into::into);
            }
            tc.set_classname(format!("zk-chaos.{}", suite.name));
            ts.add_test_case(tc);
        }
        for check in &suite.checks {
            let status = match check.verdict {
                Verdict::Pass => TestCaseStatus::success(),
                Verdict::Skipped => {
                    let mut s = TestCaseStatus::skipped();
                    if let TestCaseStatus::Skipped { message, .. } = &mut s {
                        *message = Some(check.message.clone().into());
                    }
                    s
                }
                Verdict::Fail => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(check.message.clone());
                    s.set_description(check.message.clone());
                    s
                }
            };
            let mut tc = TestCase::new(check.name.clone(), status);
            tc.set_classname(format!("zk-chaos.{}", suite.name));
            tc.set_time(std::time::Duration::from_millis(check.duration_ms));
            if check.verdict == Verdict::Pass {
                tc.set_system_out(check.message.clone());
            }
            ts.add_test_case(tc);
        }
        out.add_test_suite(ts);
    }
    if !report.cleanup_errors.is_empty() {
        let mut ts = TestSuite::new("cleanup");
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
        s.set_message(report.cleanup_errors.join("; "));
        ts.add_test_case(TestCase::new("remove everything the run created", s));
        out.add_test_suite(ts);
    }
    Ok(out.to_string()?)
}

/// The runs of `--repeat N` as one JUnit report, one testcase per check, as cargo-nextest marks
/// retried tests: a check that passed in some runs and failed in others is a success carrying a
/// `<flakyFailure>` per failed run (with its run id and message); a check that failed in every run
/// that ran it is a failure, its other failed runs `<rerunFailure>`s; skipped in every run, skipped.
///
/// # Caveats
/// A flaky check reads as passed in JUnit viewers (as in nextest), while the command exits 1
/// because some run failed: the pass rates (`repeat-<run-id>.json`) and the per-run reports say which.
pub fn render_repeats(runs: &[RunReport]) -> anyhow::Result<String> {
    let first = runs.first().map(|r| r.run_id.as_str()).unwrap_or("none");
    let mut out = Report::new(format!("zk-chaos {first} repeated {} times", runs.len()));
    // Suites and checks in first-seen order; each check's outcome in every run that had it.
    let mut suites: Vec<(String, u64, Checks)> = Vec::new();
    for run in runs {
        for suite in &run.suites {
            let i = suites.iter().position(|(n, ..)| *n == suite.name).unwrap_or_else(|| {
                suites.push((suite.name.clone(), 0, Vec::new()));
                suites.len() - 1
            });
            suites[i].1 += suite.duration_ms;
            let checks = &mut suites[i].2;
            let rows: Vec<(String, Verdict, String, u64)> = if suite.verdict == Verdict::Skipped && suite.checks.is_empty() {
                vec![(suite.name.clone(), Verdict::Skipped, suite.reason.clone().unwrap_or_default(), 0)]
            } else {
                suite.checks.iter().map(|c| (c.name.clone(), c.verdict, c.message.clone(), c.duration_ms)).collect()
            };
            for (name, verdict, message, ms) in rows {
                let o = Outcome { run: run.run_id.clone(), verdict, message, ms };
                match checks.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, outcomes)) => outcomes.push(o),
                    None => checks.push((name, vec![o])),
                }
            }
        }
    }
    for (suite, ms, checks) in suites {
        let mut ts = TestSuite::new(suite.clone());
        ts.set_time(std::time::Duration::from_millis(ms));
        for (name, outcomes) in checks {
            let mut tc = TestCase::new(name, repeated_status(&outcomes));
            tc.set_classname(format!("zk-chaos.{suite}"));
            tc.set_time(std::time::Duration::from_millis(outcomes.iter().map(|o| o.ms).sum()));
            ts.add_test_case(tc);
        }
        out.add_test_suite(ts);
    }
    let cleanup: Vec<String> = runs.iter().flat_map(|r| r.cleanup_errors.iter().map(move |e| format!("{}: {e}", r.run_id))).collect();
    if !cleanup.is_empty() {
        let mut ts = TestSuite::new("cleanup");
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
        s.set_message(cleanup.join("; "));
        ts.add_test_case(TestCase::new("remove everything the run created", s));
        out.add_test_suite(ts);
    }
    Ok(out.to_string()?)
}

/// Each check's outcomes, one per run that had it, in first-seen order.
type Checks = Vec<(String, Vec<Outcome>)>;

/// One check's outcome in one run.
struct Outcome {
    run: String,
    verdict: Verdict,
    message: String,
    ms: u64,
}

fn repeated_status(outcomes: &[Outcome]) -> TestCaseStatus {
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.verdict == Verdict::Fail).collect();
    let passed = outcomes.iter().any(|o| o.verdict == Verdict::Pass);
    let rerun = |o: &Outcome| {
        let mut r = TestRerun::new(NonSuccessKind::Failure);
        r.set_message(format!("run {}: {}", o.run, o.message));
        r.set_description(o.message.clone());
        r.set_time(std::time::Duration::from_millis(o.ms));
        r
    };
    match (failed.split_first(), passed) {
        (None, true) => TestCaseStatus::success(),
        (None, false) => {
            let mut s = TestCaseStatus::skipped();
            if let TestCaseStatus::Skipped { message, .. } = &mut s {
                *message = outcomes.first().map(|o| o.message.clone().into());
            }
            s
        }
        (Some(_), true) => {
            let mut s = TestCaseStatus::success();
            s.add_reruns(failed.iter().map(|o| rerun(o)));
            s
        }
        (Some((first, rest)), false) => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!("failed in every run that ran it ({}); run {}: {}", failed.len(), first.run, first.message));
            s.set_description(first.message.clone());
            s.add_reruns(rest.iter().map(|o| rerun(o)));
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_runs_mark_a_check_flaky_when_it_passed_in_some_and_failed_in_others() {
        let failing = crate::report::model::tests::sample(); // integrity: one check passes, one fails
        let mut passing = failing.clone();
        passing.run_id = "zk-chaos-20261128-000100-ef01".into();
        for c in &mut passing.suites[0].checks {
            c.verdict = Verdict::Pass;
        }
        let xml = render_repeats(&[failing.clone(), passing.clone(), failing.clone()]).unwrap();
        let case = |name: &str| {
            let start = xml.find(&format!("<testcase name=\"{name}\"")).unwrap_or_else(|| panic!("no testcase {name}: {xml}"));
            // Up to the next testcase or the suite's end (a passing testcase closes itself).
            let end = [xml[start + 1..].find("<testcase"), xml[start..].find("</testsuite>").map(|e| e - 1)].into_iter().flatten().min().map_or(xml.len(), |e| start + 1 + e);
            xml[start..end].to_string()
        };
        let flaky = case("read /hello through zk-1");
        assert_eq!(flaky.matches("<flakyFailure").count(), 2, "{flaky}");
        assert!(!flaky.contains("<failure") && flaky.contains("run zk-chaos-20261128-000000-abcd: zk-1 has no /hello"), "{flaky}");
        // Passed in every run: a plain success, once.
        let first = &failing.suites[0].checks[0].name;
        assert_eq!(xml.matches(&format!("<testcase name=\"{first}\"")).count(), 1, "{xml}");
        assert!(!case(first).contains("flaky"), "{xml}");
        // Failed in every run: a failure and a rerun per other run.
        let broken = render_repeats(&[failing.clone(), failing.clone()]).unwrap();
        assert_eq!(broken.matches("<failure").count(), 1, "{broken}");
        assert_eq!(broken.matches("<rerunFailure").count(), 1, "{broken}");
        assert!(broken.contains("failed in every run that ran it (2)"), "{broken}");
        assert!(!broken.contains("flaky"), "{broken}");
        // A suite skipped in every run stays skipped.
        assert!(xml.contains("<skipped message=\"needs a Kubernetes cluster"), "{xml}");
    }

    #[test]
    fn one_testcase_per_check_with_the_failure_message() {
        let xml = render(&crate::report::model::tests::sample()).unwrap();
        assert!(xml.contains(r#"<testcase name="read /hello through zk-1" classname="zk-chaos.integrity""#), "{xml}");
        assert!(xml.contains("the value written through zk-0 is not visible through zk-1"), "{xml}");
        assert!(xml.contains(r#"<property name="unavailable_ms" value="0"/>"#), "{xml}");
        assert!(xml.contains("<skipped message=\"needs a Kubernetes cluster"), "{xml}");
        assert_eq!(xml.matches("<failure").count(), 1);
    }
}
