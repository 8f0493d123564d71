//! Each member's time from a start of its server to serving clients (loading its snapshot and
//! syncing with the leader): with a data volume (`--data`) a restarted member is Ready long before
//! it serves. A [`Watch`] asks every member `srvr` every [`EVERY`] while a suite runs;
//! [`start_to_serving`] judges, from the platform's lifecycle events and those looks, how long
//! each start took to serve.
//!
//! # Caveats
//! The time is bounded by the looks: it is at most [`EVERY`] plus one look later than the moment
//! the server began to serve. A start after which no look saw the member serve has no time (the
//! suite's own checks judge a member that never came back).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::platform::{LifecycleEvent, LifecycleKind, Platform};

/// How often every member is asked.
pub const EVERY: Duration = Duration::from_millis(250);

/// One look at one member: whether its server said it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Look {
    pub at: DateTime<Utc>,
    pub member: String,
    pub serving: bool,
}

/// Looks at every member until stopped or dropped.
pub struct Watch {
    looks: Arc<Mutex<Vec<Look>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    pub fn start(platform: Arc<dyn Platform>, look_timeout: Duration) -> Watch {
        let looks = Arc::new(Mutex::new(Vec::new()));
        let into = looks.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let looks = platform.members().into_iter().map(|m| {
                    let p = platform.clone();
                    async move {
                        let at = Utc::now();
                        let serving = match p.client_addr(&m).await {
                            Ok(addr) => matches!(crate::client::fourlw::server_state(addr, look_timeout).await, Ok(Some(_))),
                            Err(_) => false,
                        };
                        Look { at, member: m, serving }
                    }
                });
                let round = futures::future::join_all(looks).await;
                into.lock().expect("never poisoned").extend(round);
            }
        });
        Watch { looks, task }
    }

    /// Stops looking; the looks so far.
    pub fn stop(self) -> Vec<Look> {
        self.task.abort();
        std::mem::take(&mut *self.looks.lock().expect("never poisoned"))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// For each member that started during the looks (a `Started` or `Restarted` event after the
/// first look), the longest time from one of its starts to the first look after it that saw it
/// serve, in ms; `None` where no look after a start saw it serve.
pub fn start_to_serving(events: &[LifecycleEvent], looks: &[Look]) -> BTreeMap<String, Option<i64>> {
    let mut out: BTreeMap<String, Option<i64>> = BTreeMap::new();
    let Some(first) = looks.iter().map(|l| l.at).min() else { return out };
    for e in events.iter().filter(|e| matches!(e.kind, LifecycleKind::Started | LifecycleKind::Restarted) && e.at >= first) {
        let served = looks.iter().filter(|l| l.member == e.member && l.serving && l.at > e.at).map(|l| l.at).min();
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

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp_millis(1_000_000 + ms).unwrap()
    }

    fn ev(ms: i64, member: &str, kind: LifecycleKind) -> LifecycleEvent {
        LifecycleEvent { at: at(ms), member: member.into(), kind, detail: String::new() }
    }

    fn look(ms: i64, member: &str, serving: bool) -> Look {
        Look { at: at(ms), member: member.into(), serving }
    }

    #[test]
    fn a_start_is_timed_to_the_first_look_that_saw_the_member_serve() {
        let looks = vec![look(0, "zk-1", true), look(250, "zk-1", false), look(500, "zk-1", false), look(2750, "zk-1", true), look(3000, "zk-1", true), look(0, "zk-0", true)];
        let events = vec![ev(300, "zk-1", LifecycleKind::Started), ev(400, "zk-1", LifecycleKind::Ready), ev(100, "zk-0", LifecycleKind::Ready)];
        assert_eq!(start_to_serving(&events, &looks), BTreeMap::from([("zk-1".to_string(), Some(2450))]));
    }

    #[test]
    fn the_longest_of_several_starts_counts_and_a_start_never_seen_serving_has_no_time() {
        let looks = vec![look(0, "zk-2", false), look(1000, "zk-2", true), look(5000, "zk-2", true), look(0, "zk-0", false)];
        let events = vec![
            ev(200, "zk-2", LifecycleKind::Restarted),
            ev(4000, "zk-2", LifecycleKind::Started),
            ev(100, "zk-0", LifecycleKind::Started),
            // Before the first look: the suite did not start it.
            ev(-500, "zk-1", LifecycleKind::Started),
        ];
        assert_eq!(start_to_serving(&events, &looks), BTreeMap::from([("zk-0".to_string(), None), ("zk-2".to_string(), Some(1000))]));
        assert!(start_to_serving(&events, &[]).is_empty(), "no looks, nothing judged");
    }
}
