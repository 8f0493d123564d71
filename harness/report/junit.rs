//! junit.xml: one testsuite per suite, one testcase per check, with the real failure message.
//! Recovery times and other metrics become testsuite properties.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

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

#[cfg(test)]
mod tests {
    use super::*;

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
