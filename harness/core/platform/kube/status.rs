//! What the API server's objects say, mapped to the platform's terms: a member's status from its
//! pod, an exec's exit code from its final Status, why the controller could not create a pod, the
//! StatefulSet's update revision once observed.

use anyhow::{bail, Context};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Event, Pod};

use super::lifecycle::Snap;
use crate::platform::MemberStatus;

/// A member's status from its pod (`None`: no pod).
pub fn member_status(member: &str, ordinal: usize, pod: Option<&Pod>) -> MemberStatus {
    let Some(pod) = pod else { return MemberStatus::absent(member, ordinal) };
    let snap = Snap::of(pod);
    let status = pod.status.as_ref();
    let cs = status.and_then(|s| s.container_statuses.as_ref()).and_then(|c| c.first());
    // Why it is not running: Unschedulable (with the scheduler's message), CrashLoopBackOff, ...
    let reason = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled" && c.status == "False"))
        .map(|c| format!("{}: {}", c.reason.as_deref().unwrap_or("Unscheduled"), c.message.as_deref().unwrap_or("")))
        .or_else(|| cs.and_then(|c| c.state.as_ref()).and_then(|s| s.waiting.as_ref()).and_then(|w| w.reason.clone()))
        .or_else(|| status.and_then(|s| s.reason.clone()));
    MemberStatus {
        name: member.to_string(),
        ordinal,
        exists: true,
        running: snap.running,
        ready: snap.ready,
        restart_count: snap.restart_count,
        container_id: cs.and_then(|c| c.container_id.clone()),
        started_at: snap.started_at,
        revision: pod.metadata.labels.as_ref().and_then(|l| l.get("controller-revision-hash")).cloned(),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        phase: if snap.deleting { "Terminating".into() } else { status.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Pending".into()) },
        reason,
    }
}

/// The exit code an exec's final Status reports (kubelet: `NonZeroExitCode` with an `ExitCode` cause).
pub fn exit_code(status: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>) -> anyhow::Result<i64> {
    let Some(s) = status else { bail!("the exec stream ended without a status") };
    if s.status.as_deref() == Some("Success") {
        return Ok(0);
    }
    if s.reason.as_deref() == Some("NonZeroExitCode") {
        let causes = s.details.as_ref().and_then(|d| d.causes.as_ref());
        if let Some(c) = causes.and_then(|cs| cs.iter().find(|c| c.reason.as_deref() == Some("ExitCode"))) {
            let m = c.message.as_deref().unwrap_or("");
            return m.trim().parse().with_context(|| format!("exit code {m:?}"));
        }
    }
    bail!("exec failed: {} ({})", s.message.as_deref().unwrap_or(""), s.reason.as_deref().unwrap_or(""))
}

/// The message of the newest of `events` (FailedCreate Events of the StatefulSet) about `member`.
pub fn failed_create_message(events: &[Event], member: &str) -> Option<String> {
    let quoted = format!("\"{member}\"");
    let spaced = format!("Pod {member} ");
    events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("FailedCreate"))
        .filter(|e| e.message.as_deref().is_some_and(|m| m.contains(&quoted) || m.contains(&spaced)))
        .max_by_key(|e| e.last_timestamp.as_ref().map(|t| t.0).or(e.event_time.as_ref().map(|t| t.0)))
        .map(|e| format!("FailedCreate: {}", e.message.clone().unwrap_or_default()))
}

/// `status.updateRevision` once `status.observedGeneration` has reached `metadata.generation`
/// (as `kubectl rollout status` decides that the controller has seen the change).
pub fn observed_update_revision(s: &StatefulSet) -> Option<String> {
    let status = s.status.as_ref()?;
    let seen = status.observed_generation?;
    (seen >= s.metadata.generation.unwrap_or(0)).then(|| status.update_revision.clone()).flatten()
}
