//! The watches behind the lifecycle log and the members' status: the pods' and the kubelet's
//! liveness Events, each through kube's runtime watcher (a list, then a watch from its
//! resourceVersion, resumed where it stopped, listed again when the version is gone; errors retried
//! with its default backoff). The client does not retry a 429 itself (`connect.rs`): a throttled
//! list or watch is an error of the stream, retried after the backoff's delay.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::Api;
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;

use super::lifecycle::Snap;
use crate::platform::lifecycle_log::LifecycleLog;

use super::*;

/// How long one watch request lasts before it is renewed (the server ends it then).
pub(super) const WATCH_SECONDS: u32 = 240;

/// The pods' lifecycle, from the watcher's events. Runs until aborted.
/// A member is any pod of the StatefulSet `statefulset` named by an ordinal, not only those of the
/// replicas it started with: the scale suite adds members and removes them.
///
/// [`Watched`] is live from the first complete list. When the stream fails it says nothing until
/// the watcher delivers again: a new list (after a resourceVersion too old), or the changes since
/// the last one it delivered (the watch resumed), applied to the pods as they were.
pub(super) async fn watch_pods(pods: Api<Pod>, selector: String, statefulset: String, life: Arc<LifecycleLog>, watched: Arc<Watched>) {
    let member = |pod: &Pod| pod.metadata.name.clone().filter(|n| crate::platform::ordinal_of(&statefulset, n).is_some());
    let mut seen: BTreeMap<String, Snap> = BTreeMap::new();
    let see = |seen: &mut BTreeMap<String, Snap>, member: &str, now: Option<Snap>| {
        for (kind, detail) in lifecycle::diff(seen.get(member), now.as_ref()) {
            life.record(member, kind, detail);
        }
        match now {
            Some(s) => seen.insert(member.to_string(), s),
            None => seen.remove(member),
        };
    };
    // Between the watcher's Init and InitDone: the pods of a list under way.
    let mut listing: Option<BTreeMap<String, Pod>> = None;
    let config = watcher::Config::default().labels(&selector).timeout(WATCH_SECONDS);
    let stream = watcher(pods, config).default_backoff();
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        let (pod, gone) = match event {
            Err(e) => {
                tracing::debug!("pod watch: {e}");
                watched.lost();
                continue;
            }
            Ok(watcher::Event::Init) => {
                listing = Some(BTreeMap::new());
                continue;
            }
            Ok(watcher::Event::InitApply(pod)) => {
                if let (Some(list), Some(name)) = (listing.as_mut(), member(&pod)) {
                    list.insert(name, pod);
                }
                continue;
            }
            Ok(watcher::Event::InitDone) => {
                let listed_pods = listing.take().unwrap_or_default();
                let listed: BTreeMap<String, Snap> = listed_pods.iter().map(|(n, p)| (n.clone(), Snap::of(p))).collect();
                watched.listed(listed_pods);
                // Every member seen before or listed now: one gone since is deleted in the lifecycle.
                let names: std::collections::BTreeSet<String> = seen.keys().chain(listed.keys()).cloned().collect();
                for m in &names {
                    see(&mut seen, m, listed.get(m).cloned());
                }
                continue;
            }
            Ok(watcher::Event::Apply(pod)) => (pod, false),
            Ok(watcher::Event::Delete(pod)) => (pod, true),
        };
        let Some(name) = member(&pod) else { continue };
        // A Deleted event of an older pod of the same name (already replaced) changes nothing.
        let uid = seen.get(&name).map(|s| s.uid.clone());
        if gone && uid.is_some_and(|uid| Some(uid) != pod.metadata.uid) {
            continue;
        }
        // The pod first, then its lifecycle events: they wake the waits, which read it.
        let snap = if gone { None } else { Some(Snap::of(&pod)) };
        watched.changed(&name, if gone { None } else { Some(pod) });
        see(&mut seen, &name, snap);
    }
}

/// The members' pods as the pod watch last delivered them: live from its first list, stale from
/// a failure of the watch until it delivers again (a new list, or a change from the resumed
/// watch, applied to the pods it kept). A status read from here costs no request and lags the API
/// server by the watch's delivery (milliseconds on kind), where a GET costs a round trip each
/// time: the repeated looks of a wait read here.
#[derive(Default)]
pub struct Watched {
    state: Mutex<WatchedState>,
}

#[derive(Default)]
struct WatchedState {
    /// `None` until the first list.
    pods: Option<BTreeMap<String, Pod>>,
    live: bool,
}

impl Watched {
    pub(super) fn listed(&self, pods: BTreeMap<String, Pod>) {
        *self.state.lock().expect("watched lock") = WatchedState { pods: Some(pods), live: true };
    }

    /// A change the watch delivered: once a list is there, the pods are live again with it.
    pub(super) fn changed(&self, member: &str, pod: Option<Pod>) {
        let mut state = self.state.lock().expect("watched lock");
        if let Some(map) = state.pods.as_mut() {
            match pod {
                Some(p) => map.insert(member.to_string(), p),
                None => map.remove(member),
            };
            state.live = true;
        }
    }

    pub(super) fn lost(&self) {
        self.state.lock().expect("watched lock").live = false;
    }

    /// `None`: the watch is not live, so nothing can be said from here. `Some(None)`: the watch
    /// says there is no such pod.
    pub fn pod(&self, member: &str) -> Option<Option<Pod>> {
        let state = self.state.lock().expect("watched lock");
        state.pods.as_ref().filter(|_| state.live).map(|m| m.get(member).cloned())
    }
}

/// The kubelet's liveness Events (a count per Event: each repetition is one more failure). Those
/// listed (at the start, or again after the watch lost its resourceVersion) are dated by the
/// kubelet; those watched, when they arrived. Runs until aborted.
pub(super) async fn watch_events(events: Api<Event>, statefulset: String, life: Arc<LifecycleLog>) {
    let mut counts: BTreeMap<String, i32> = BTreeMap::new();
    let see = |counts: &mut BTreeMap<String, i32>, ev: &Event, arrived: Option<chrono::DateTime<chrono::Utc>>| {
        let Some(kind) = lifecycle::event_kind(ev) else { return };
        let member = ev.involved_object.name.clone().unwrap_or_default();
        if crate::platform::ordinal_of(&statefulset, &member).is_none() {
            return;
        }
        let key = ev.metadata.uid.clone().or(ev.metadata.name.clone()).unwrap_or_default();
        let count = ev.count.unwrap_or(1);
        let before = counts.insert(key, count).unwrap_or(0);
        let kubelet_time = ev.last_timestamp.as_ref().and_then(|t| lifecycle::to_chrono(&t.0));
        let at = arrived.or(kubelet_time).unwrap_or_else(chrono::Utc::now);
        for _ in before..count {
            life.record_at(at, &member, kind, ev.message.clone().unwrap_or_default());
        }
    };
    let stream = watcher(events, watcher::Config::default().timeout(WATCH_SECONDS)).default_backoff();
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::InitApply(e)) => see(&mut counts, &e, None),
            Ok(watcher::Event::Apply(e)) => see(&mut counts, &e, Some(chrono::Utc::now())),
            Ok(watcher::Event::Init | watcher::Event::InitDone | watcher::Event::Delete(_)) => {}
            Err(e) => tracing::debug!("event watch: {e}"),
        }
    }
}
