//! The run's lifecycle log, one for every platform: what happened to which member when, and a
//! counter that moves with each entry so that waits wake on it ([`crate::wait`]). Docker's pod
//! workers, the Kubernetes platform's watches and the fake platform of the unit tests all record
//! here; suites read it through [`super::Platform::lifecycle`].

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::{LifecycleEvent, LifecycleKind};

pub struct LifecycleLog {
    events: Mutex<Vec<LifecycleEvent>>,
    tx: watch::Sender<u64>,
}

impl Default for LifecycleLog {
    fn default() -> Self {
        LifecycleLog::new()
    }
}

impl LifecycleLog {
    pub fn new() -> LifecycleLog {
        LifecycleLog { events: Mutex::new(Vec::new()), tx: watch::channel(0).0 }
    }

    /// Records that `kind` happened to `member` now.
    pub fn record(&self, member: &str, kind: LifecycleKind, detail: impl Into<String>) {
        self.record_at(Utc::now(), member, kind, detail)
    }

    /// Records that `kind` happened to `member` at `at` (a time the platform reported).
    pub fn record_at(&self, at: DateTime<Utc>, member: &str, kind: LifecycleKind, detail: impl Into<String>) {
        let detail = detail.into();
        tracing::info!(member, "{kind:?} {detail}");
        self.events.lock().expect("lifecycle lock").push(LifecycleEvent { at, member: member.to_string(), kind, detail });
        self.tx.send_modify(|n| *n += 1);
    }

    /// Every event recorded, oldest first (by `at`; in recording order where times are equal).
    pub fn events(&self) -> Vec<LifecycleEvent> {
        let mut v = self.events.lock().expect("lifecycle lock").clone();
        v.sort_by_key(|e| e.at);
        v
    }

    /// A receiver that changes whenever an event is recorded (or [`LifecycleLog::poke`] is called).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }

    /// Wakes waiters without an event (a status field changed).
    pub fn poke(&self) {
        self.tx.send_modify(|n| *n += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_wake_and_read_oldest_first() {
        let log = LifecycleLog::new();
        let mut rx = log.subscribe();
        let now = Utc::now();
        log.record_at(now, "zk-1", LifecycleKind::Ready, "second");
        log.record_at(now - chrono::Duration::seconds(1), "zk-0", LifecycleKind::Started, "first");
        log.record_at(now, "zk-2", LifecycleKind::Ready, "third");
        assert!(rx.has_changed().unwrap());
        let read: Vec<_> = log.events().into_iter().map(|e| e.detail).collect();
        assert_eq!(read, ["first", "second", "third"], "by time, recording order within the same time");
        rx.mark_unchanged();
        log.poke();
        assert!(rx.has_changed().unwrap(), "a poke wakes without an event");
        assert_eq!(log.events().len(), 3);
    }
}
