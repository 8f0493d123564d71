//! The watches behind the lifecycle log and the members' status: the pods' (a list, then a watch,
//! again from a list when it fails) and the kubelet's liveness Events.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, WatchEvent, WatchParams};

use super::lifecycle::Snap;
use crate::platform::lifecycle_log::LifecycleLog;

use super::*;

/// How long one watch request lasts before it is renewed (the server ends it then).
pub(super) const WATCH_SECONDS: u32 = 240;

/// The pods' lifecycle: a list, then a watch from its resourceVersion; again from a new list when
/// the watch fails (a resourceVersion too old, a dropped connection). Runs until aborted.
/// A member is any pod of the StatefulSet `statefulset` named by an ordinal, not only those of the
/// replicas it started with: the scale suite adds members and removes them.
pub(super) async fn watch_pods(pods: Api<Pod>, selector: String, statefulset: String, life: Arc<LifecycleLog>, watched: Arc<Watched>) {
    let member = |name: &String| crate::platform::ordinal_of(&statefulset, name).is_some();
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
    loop {
        let list = match pods.list(&ListParams::default().labels(&selector)).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!("listing pods: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mine: BTreeMap<String, Pod> = list.items.into_iter().filter_map(|p| Some((p.metadata.name.clone().filter(member)?, p))).collect();
        let listed: BTreeMap<String, Snap> = mine.iter().map(|(n, p)| (n.clone(), Snap::of(p))).collect();
        watched.listed(mine);
        // Every member seen before or listed now: one gone since is deleted in the lifecycle.
        let names: std::collections::BTreeSet<String> = seen.keys().chain(listed.keys()).cloned().collect();
        for m in &names {
            see(&mut seen, m, listed.get(m).cloned());
        }
        let mut version = list.metadata.resource_version.unwrap_or_default();
        'watching: loop {
            let wp = WatchParams::default().labels(&selector).timeout(WATCH_SECONDS).disable_bookmarks();
            let stream = match pods.watch(&wp, &version).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!("watching pods: {e}");
                    break 'watching;
                }
            };
            futures::pin_mut!(stream);
            while let Some(ev) = stream.next().await {
                let (pod, gone) = match ev {
                    Ok(WatchEvent::Added(p)) | Ok(WatchEvent::Modified(p)) => (p, false),
                    Ok(WatchEvent::Deleted(p)) => (p, true),
                    Ok(WatchEvent::Bookmark(b)) => {
                        version = b.metadata.resource_version;
                        continue;
                    }
                    Ok(WatchEvent::Error(e)) => {
                        tracing::debug!("pod watch: {e}");
                        break 'watching;
                    }
                    Err(e) => {
                        tracing::debug!("pod watch: {e}");
                        break 'watching;
                    }
                };
                if let Some(v) = &pod.metadata.resource_version {
                    version = v.clone();
                }
                let Some(name) = pod.metadata.name.clone().filter(member) else { continue };
                // A Deleted event of an older pod of the same name (already replaced) changes nothing.
                let current = seen.get(&name).map(|s| s.uid.clone());
                if gone && current.is_some_and(|uid| Some(uid) != pod.metadata.uid) {
                    continue;
                }
                // The pod first, then its lifecycle events: they wake the waits, which read it.
                let snap = if gone { None } else { Some(Snap::of(&pod)) };
                watched.changed(&name, if gone { None } else { Some(pod) });
                see(&mut seen, &name, snap);
            }
        }
        watched.lost();
    }
}

/// The members' pods as the pod watch last delivered them: live from its first list until the
/// watch fails, stale (`None`) from then until the next list. A status read from here costs no
/// request and lags the API server by the watch's delivery (milliseconds on kind), where a GET
/// costs a round trip each time: the repeated looks of a wait read here.
#[derive(Default)]
pub struct Watched {
    pods: Mutex<Option<BTreeMap<String, Pod>>>,
}

impl Watched {
    pub(super) fn listed(&self, pods: BTreeMap<String, Pod>) {
        *self.pods.lock().expect("watched lock") = Some(pods);
    }

    pub(super) fn changed(&self, member: &str, pod: Option<Pod>) {
        if let Some(map) = self.pods.lock().expect("watched lock").as_mut() {
            match pod {
                Some(p) => map.insert(member.to_string(), p),
                None => map.remove(member),
            };
        }
    }

    pub(super) fn lost(&self) {
        *self.pods.lock().expect("watched lock") = None;
    }

    /// `None`: the watch is not live, so nothing can be said from here. `Some(None)`: the watch
    /// says there is no such pod.
    pub fn pod(&self, member: &str) -> Option<Option<Pod>> {
        self.pods.lock().expect("watched lock").as_ref().map(|m| m.get(member).cloned())
    }
}

/// The kubelet's liveness Events (a count per Event: each repetition is one more failure). Those
/// listed at the start are dated by the kubelet; those watched, when they arrived.
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
    loop {
        let list = match events.list(&ListParams::default()).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!("listing events: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        for ev in &list.items {
            see(&mut counts, ev, None);
        }
        let mut version = list.metadata.resource_version.unwrap_or_default();
        'watching: loop {
            let wp = WatchParams::default().timeout(WATCH_SECONDS).disable_bookmarks();
            let stream = match events.watch(&wp, &version).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!("watching events: {e}");
                    break 'watching;
                }
            };
            futures::pin_mut!(stream);
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(WatchEvent::Added(e)) | Ok(WatchEvent::Modified(e)) => {
                        if let Some(v) = &e.metadata.resource_version {
                            version = v.clone();
                        }
                        see(&mut counts, &e, Some(chrono::Utc::now()));
                    }
                    Ok(WatchEvent::Deleted(_)) | Ok(WatchEvent::Bookmark(_)) => {}
                    Ok(WatchEvent::Error(e)) => {
                        tracing::debug!("event watch: {e}");
                        break 'watching;
                    }
                    Err(e) => {
                        tracing::debug!("event watch: {e}");
                        break 'watching;
                    }
                }
            }
        }
    }
}
