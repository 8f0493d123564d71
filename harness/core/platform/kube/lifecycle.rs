//! Lifecycle events from pod status: each poll of the pods is reduced to a [`Snap`] per member,
//! and the difference between two snaps is the events that happened in between. Kubernetes
//! Events (reason `Unhealthy` / `Killing`) add what pod status alone cannot tell: liveness.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Event, Pod};

use crate::platform::LifecycleKind;

/// A k8s-openapi (jiff) timestamp as chrono.
pub fn to_chrono(t: &k8s_openapi::jiff::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().max(0) as u32)
}

/// What a poll saw of one pod.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snap {
    pub uid: String,
    pub running: bool,
    pub ready: bool,
    pub restart_count: u32,
    pub started_at: Option<DateTime<Utc>>,
    pub deleting: bool,
    /// lastState.terminated: reason and exit code of the previous container.
    pub last_terminated: Option<String>,
    /// The current container has terminated (state.terminated), not restarted yet.
    pub terminated_now: bool,
}

impl Snap {
    pub fn of(pod: &Pod) -> Snap {
        let status = pod.status.as_ref();
        let cs = status.and_then(|s| s.container_statuses.as_ref()).and_then(|c| c.first());
        let running = cs.and_then(|c| c.state.as_ref()).and_then(|s| s.running.as_ref());
        let ready = status.and_then(|s| s.conditions.as_ref()).map(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")).unwrap_or(false);
        let last_terminated = cs
            .and_then(|c| c.last_state.as_ref())
            .and_then(|s| s.terminated.as_ref())
            .map(|t| format!("{} (exit code {})", t.reason.as_deref().unwrap_or("Terminated"), t.exit_code));
        let terminated_now = cs.and_then(|c| c.state.as_ref()).is_some_and(|s| s.terminated.is_some());
        Snap {
            terminated_now,
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            running: running.is_some(),
            ready,
            restart_count: cs.map(|c| c.restart_count.max(0) as u32).unwrap_or(0),
            started_at: running.and_then(|r| r.started_at.as_ref()).and_then(|t| to_chrono(&t.0)),
            deleting: pod.metadata.deletion_timestamp.is_some(),
            last_terminated,
        }
    }
}

/// The events between two sightings of a member (`None`: the pod did not exist).
pub fn diff(prev: Option<&Snap>, now: Option<&Snap>) -> Vec<(LifecycleKind, String)> {
    use LifecycleKind::*;
    let mut out = Vec::new();
    match (prev, now) {
        (None, None) => {}
        (Some(p), None) => {
            if !p.deleting {
                out.push((Deleted, format!("pod {} gone", p.uid)));
            }
        }
        (None, Some(n)) => {
            out.push((Created, format!("pod {}", n.uid)));
            out.extend(rising(&Snap::default(), n));
        }
        (Some(p), Some(n)) if p.uid != n.uid => {
            if !p.deleting {
                out.push((Deleted, format!("pod {} replaced", p.uid)));
            }
            out.push((Created, format!("pod {}", n.uid)));
            out.extend(rising(&Snap::default(), n));
        }
        (Some(p), Some(n)) => {
            if n.deleting && !p.deleting {
                out.push((Deleted, "deletion requested (terminating)".into()));
            }
            if p.ready && !n.ready {
                out.push((NotReady, if n.running { "readiness probe failing".into() } else { "container not running".into() }));
            }
            // The container exited: seen terminated, or only through its restart (polls are 500 ms apart).
            if !p.terminated_now && (n.terminated_now || n.restart_count > p.restart_count) {
                out.push((Exited, n.last_terminated.clone().unwrap_or_else(|| "container terminated".into())));
            }
            if n.restart_count > p.restart_count {
                let why = n.last_terminated.clone().unwrap_or_else(|| "previous container terminated".into());
                out.push((Restarted, format!("restart count {} -> {}: {why}", p.restart_count, n.restart_count)));
            }
            out.extend(rising(p, n));
        }
    }
    out
}

fn rising(p: &Snap, n: &Snap) -> Vec<(LifecycleKind, String)> {
    let mut out = Vec::new();
    if n.running && (!p.running || n.started_at != p.started_at) {
        out.push((LifecycleKind::Started, n.started_at.map(|t| format!("started at {t}")).unwrap_or_default()));
    }
    if n.ready && !p.ready {
        out.push((LifecycleKind::Ready, String::new()));
    }
    out
}

/// The liveness meaning of a kubelet Event about a pod, if it has one.
pub fn event_kind(ev: &Event) -> Option<LifecycleKind> {
    let msg = ev.message.as_deref().unwrap_or("");
    match ev.reason.as_deref()? {
        "Unhealthy" if msg.starts_with("Liveness probe failed") => Some(LifecycleKind::LivenessFailed),
        "Killing" if msg.contains("failed liveness probe") => Some(LifecycleKind::LivenessKilled),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LifecycleKind::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    fn kinds(v: Vec<(LifecycleKind, String)>) -> Vec<LifecycleKind> {
        v.into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn a_restart_after_liveness_kill_reads_from_pod_status() {
        let before = Snap::of(&pod(serde_json::json!({
            "metadata": {"name": "zk-1", "uid": "u1"},
            "status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "kubernetes-zookeeper", "image": "i", "imageID": "", "ready": true,
                    "restartCount": 0, "state": {"running": {"startedAt": "2026-11-28T16:00:00Z"}}}]}
        })));
        let after = Snap::of(&pod(serde_json::json!({
            "metadata": {"name": "zk-1", "uid": "u1"},
            "status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [{"name": "kubernetes-zookeeper", "image": "i", "imageID": "", "ready": false,
                    "restartCount": 1, "state": {"running": {"startedAt": "2026-11-28T16:01:00Z"}},
                    "lastState": {"terminated": {"exitCode": 137, "reason": "Error"}}}]}
        })));
        let ev = diff(Some(&before), Some(&after));
        assert_eq!(kinds(ev.clone()), vec![NotReady, Exited, Restarted, Started]);
        assert!(ev[2].1.contains("Error (exit code 137)"), "{:?}", ev[2]);
        // Seen terminated first: Exited then, and not again with the restart.
        let stopped = Snap { running: false, ready: false, terminated_now: true, ..before.clone() };
        assert_eq!(kinds(diff(Some(&before), Some(&stopped))), vec![NotReady, Exited]);
        assert_eq!(kinds(diff(Some(&stopped), Some(&after))), vec![Restarted, Started]);
    }

    #[test]
    fn a_replaced_pod_is_deleted_then_created() {
        let a = Snap { uid: "a".into(), running: true, ready: true, ..Default::default() };
        let b = Snap { uid: "b".into(), ..Default::default() };
        assert_eq!(kinds(diff(Some(&a), Some(&b))), vec![Deleted, Created]);
        assert_eq!(kinds(diff(None, Some(&a))), vec![Created, Started, Ready]);
        let terminating = Snap { deleting: true, ..a.clone() };
        assert_eq!(kinds(diff(Some(&a), Some(&terminating))), vec![Deleted]);
        // Deleted once, not again when it finally disappears.
        assert!(diff(Some(&terminating), None).is_empty());
        assert!(diff(Some(&a), Some(&a)).is_empty());
    }

    #[test]
    fn liveness_events_are_recognised_by_reason_and_message() {
        let ev: Event = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "zk-1.17f", "namespace": "ns"},
            "involvedObject": {"kind": "Pod", "name": "zk-1"},
            "reason": "Killing", "type": "Normal",
            "message": "Container kubernetes-zookeeper failed liveness probe, will be restarted"
        }))
        .unwrap();
        assert_eq!(event_kind(&ev), Some(LivenessKilled));
        let ev: Event = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "zk-1.17e", "namespace": "ns"},
            "involvedObject": {"kind": "Pod", "name": "zk-1"},
            "reason": "Unhealthy", "type": "Warning",
            "message": "Readiness probe failed: "
        }))
        .unwrap();
        assert_eq!(event_kind(&ev), None);
    }
}
