//! Each member's time from a start of its server to serving clients (loading its snapshot and
//! syncing with the leader): with a data volume (`--data`) a restarted member is Ready long before
//! it serves. [`start_to_serving`] judges, from the platform's lifecycle events and the runner's
//! serving samples ([`crate::serving::Sampler`], which the runner keeps until after its own
//! checks of the suite), how long each start took to serve.
//!
//! # Caveats
//! The time is bounded by the samples: it is at most one [`crate::serving::SAMPLE_EVERY`] plus one
//! look later than the moment the server began to serve. A start after which no sample saw the
//! member serve has no time (the suite's own checks judge a member that never came back).
//! "Serving" here is what the member's own server says (`srvr` answers in some mode), not whether
//! the sample's leader counts it.

use std::collections::BTreeMap;

use crate::platform::{LifecycleEvent, LifecycleKind};
use crate::serving::{Said, Sample};

/// For each member that started during the samples (a `Started` or `Restarted` event at or after
/// the first sample), the longest time from one of its starts to the first sample after it in
/// which its server said it serves, in ms; `None` where no sample after a start saw it serve.
pub fn start_to_serving(events: &[LifecycleEvent], samples: &[Sample]) -> BTreeMap<String, Option<i64>> {
    let mut out: BTreeMap<String, Option<i64>> = BTreeMap::new();
    let Some(first) = samples.iter().map(|s| s.at).min() else { return out };
    let serving = |s: &Sample, member: &str| s.members.iter().any(|r| r.member == member && matches!(r.said, Said::Serving { .. }));
    for e in events.iter().filter(|e| matches!(e.kind, LifecycleKind::Started | LifecycleKind::Restarted) && e.at >= first) {
        let served = samples.iter().filter(|s| s.at > e.at && serving(s, &e.member)).map(|s| s.at).min();
        let ms = served.map(|s| (s - e.at).num_milliseconds());
        let entry = out.entry(e.member.clone()).or_insert(Some(0));
        *entry = match (*entry, ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serving::testing::{at, reading};

    fn ev(ms: i64, member: &str, kind: LifecycleKind) -> LifecycleEvent {
        LifecycleEvent { at: at(ms), member: member.into(), kind, detail: String::new() }
    }

    /// A sample at `ms` of the named members, each with a code of [`crate::serving::testing::reading`].
    fn sample(ms: i64, members: &[(&str, &str)]) -> Sample {
        Sample { at: at(ms), members: members.iter().map(|(m, code)| reading(m, code)).collect() }
    }

    #[test]
    fn a_start_is_timed_to_the_first_sample_in_which_the_member_said_it_serves() {
        let samples = vec![
            sample(0, &[("zk-0", "L2"), ("zk-1", "F")]),
            sample(250, &[("zk-0", "L1"), ("zk-1", "d")]),
            sample(500, &[("zk-0", "L1"), ("zk-1", "N")]),
            sample(2750, &[("zk-0", "L2"), ("zk-1", "F")]),
            sample(3000, &[("zk-0", "L2"), ("zk-1", "F")]),
        ];
        let events = vec![ev(300, "zk-1", LifecycleKind::Started), ev(400, "zk-1", LifecycleKind::Ready), ev(100, "zk-0", LifecycleKind::Ready)];
        assert_eq!(start_to_serving(&events, &samples), BTreeMap::from([("zk-1".to_string(), Some(2450))]));
        // A follower of an older epoch still says it serves: its own server is what is timed.
        let stale = vec![sample(0, &[("zk-1", "N")]), sample(700, &[("zk-1", "F0")])];
        assert_eq!(start_to_serving(&[ev(200, "zk-1", LifecycleKind::Restarted)], &stale), BTreeMap::from([("zk-1".to_string(), Some(500))]));
    }

    #[test]
    fn the_longest_of_several_starts_counts_and_a_start_never_seen_serving_has_no_time() {
        let samples = vec![sample(0, &[("zk-0", "N"), ("zk-2", "N")]), sample(1000, &[("zk-0", "n"), ("zk-2", "F")]), sample(5000, &[("zk-0", "D"), ("zk-2", "F")])];
        let events = vec![
            ev(200, "zk-2", LifecycleKind::Restarted),
            ev(4000, "zk-2", LifecycleKind::Started),
            ev(100, "zk-0", LifecycleKind::Started),
            // Before the first sample: the suite did not start it.
            ev(-500, "zk-1", LifecycleKind::Started),
        ];
        assert_eq!(start_to_serving(&events, &samples), BTreeMap::from([("zk-0".to_string(), None), ("zk-2".to_string(), Some(1000))]));
        assert!(start_to_serving(&events, &[]).is_empty(), "no samples, nothing judged");
    }
}
