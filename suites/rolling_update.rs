//! `rolling-update` ("Updating the ensemble", TUTORIAL.md 10): a change of the pod template
//! replaces the members one at a time in reverse ordinal order, each Ready before the next goes,
//! so a majority is up at every moment; the revision history has both templates; undo rolls back
//! the same way. The change is one any StatefulSet accepts, the annotation `kubectl rollout
//! restart` sets (`kubectl.kubernetes.io/restartedAt`); the walkthrough's own manifest gets the
//! walkthrough's patch, its cpu request to 0.3.

use std::time::Duration;

use anyhow::{anyhow, bail, ensure};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::faults::{self, Fault};
use super::ledger::Action;
use super::{walkthrough, About, Suite, SuiteCtx};
use crate::platform::{LifecycleEvent, LifecycleKind, MemberStatus, Revision};
use crate::serving::{self, Sample};
use crate::wait::{self, Seen};

pub struct RollingUpdate;

/// Where the walkthrough's patch goes, and its value.
pub const CPU_PATH: &str = "/spec/template/spec/containers/0/resources/requests/cpu";
pub const NEW_CPU: &str = "0.3";
/// The annotation `kubectl rollout restart` sets on the pod template.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// The template change the suite makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The walkthrough's: the cpu request to [`NEW_CPU`].
    Cpu,
    /// `kubectl rollout restart`'s: [`RESTARTED_AT`] set to this time.
    RestartedAt(String),
}

impl Change {
    /// The walkthrough's patch for its own manifest, `kubectl rollout restart`'s for any other.
    pub fn for_manifest(manifest: &zk_chaos_core::manifest::Manifest, now: DateTime<Utc>) -> Change {
        if walkthrough::reference::is_reference(manifest) {
            Change::Cpu
        } else {
            Change::RestartedAt(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }
    }

    /// The JSON patch of the StatefulSet `statefulset` (the annotations map is added whole when
    /// the template has none: a JSON patch cannot add into a missing map).
    pub fn patch(&self, statefulset: &serde_json::Value) -> anyhow::Result<json_patch::Patch> {
        let ops = match self {
            Change::Cpu => serde_json::json!([{ "op": "replace", "path": CPU_PATH, "value": NEW_CPU }]),
            Change::RestartedAt(at) => match statefulset.pointer("/spec/template/metadata/annotations").filter(|a| a.is_object()) {
                Some(_) => serde_json::json!([{ "op": "add", "path": format!("/spec/template/metadata/annotations/{}", RESTARTED_AT.replace('/', "~1")), "value": at }]),
                None => serde_json::json!([{ "op": "add", "path": "/spec/template/metadata/annotations", "value": { RESTARTED_AT: at } }]),
            },
        };
        Ok(serde_json::from_value(ops)?)
    }

    /// How the timeline and the fault name it.
    pub fn what(&self) -> String {
        match self {
            Change::Cpu => format!("cpu request {NEW_CPU}"),
            Change::RestartedAt(at) => format!("{RESTARTED_AT}={at} (kubectl rollout restart)"),
        }
    }
}

/// A revision's restartedAt annotation.
fn restarted_at(template: &serde_json::Value) -> Option<&str> {
    template.pointer("/metadata/annotations").and_then(|a| a.get(RESTARTED_AT)).and_then(|v| v.as_str())
}

#[async_trait]
impl Suite for RollingUpdate {
    fn about(&self) -> &'static About {
        &About {
            name: "rolling-update",
            sections: &[&walkthrough::UPDATING_THE_ENSEMBLE],
            summary: "change the template (restartedAt; the walkthrough's cpu 0.3): members replaced one at a time in reverse order, a majority of the others serving at each deletion; history; undo",
            needs: &[],
            disruptive: true,
            workload: true,
        }
    }

    fn changes_statefulset(&self) -> Option<crate::platform::StatefulSetChange> {
        Some(crate::platform::StatefulSetChange::Template)
    }

    async fn run(&self, ctx: &mut SuiteCtx) -> anyhow::Result<()> {
        let p = ctx.platform.clone();
        let t = ctx.config.timeouts.clone();
        let members = p.members();
        let hello = faults::write_hello(p.as_ref(), &members[0], t.operation).await?;
        let original = p.revisions().await?;
        let Some(first) = original.last().cloned() else { bail!("the StatefulSet has no revision") };
        let old_cpu = cpu_of(&first.template).cloned();
        let old_restarted = restarted_at(&first.template).map(String::from);
        let change = Change::for_manifest(p.manifest(), Utc::now());

        let patch = change.patch(p.manifest().statefulset_document())?;
        let (fault, patched) = ctx.inject(&Action::PatchTemplate { patch, what: change.what() }).await;
        patched?;
        let updated = rollout(ctx, &fault, "update", &first.hash).await;

        if let Some(new_hash) = updated {
            ctx.check("the revision history has the old and the new template", async { history_has_both(&p.revisions().await?, &first.hash, &change) }).await;

            let (undo, rolled_back) = ctx.inject(&Action::Rollback).await;
            rolled_back?;
            if rollout(ctx, &undo, "undo", &new_hash).await.is_some() {
                let back = async {
                    let revs = p.revisions().await?;
                    let statuses = super::faults::statuses(p.as_ref(), &members).await?;
                    match &change {
                        Change::Cpu => undo_restored(&revs, &first.hash, old_cpu.as_ref(), &statuses),
                        Change::RestartedAt(_) => undo_restored_annotation(&revs, &first.hash, old_restarted.as_deref(), &statuses),
                    }
                };
                ctx.check("undo restored the original template", back).await;
                // Ready is the readiness probe's word (`ruok` answers while a server elects or
                // syncs): the ensemble is whole when every server says it serves.
                ctx.check_with("ensemble whole again after the undo", async |ctx| undo.wait_whole(ctx, "undo.").await.map(|v| v.describe())).await;
            }
        }

        ctx.check("/hello intact after the updates", faults::hello_intact(p.as_ref(), &members[0], hello.czxid, t.operation)).await;
        Ok(())
    }
}

/// Follows a rollout away from revision `from`, started at `fault`, to its end, sampling the
/// ensemble all along; records its checks under `label`. Returns the revision every member ended
/// on, Ready; `None` if the rollout did not finish. A rollout stopped at a member that does not
/// become Ready (a StatefulSet waits for it forever) is judged stopped once that member was on
/// the new revision and not Ready for `timeouts.member_ready`.
pub(super) async fn rollout(ctx: &mut SuiteCtx, fault: &Fault, label: &str, from: &str) -> Option<String> {
    let p = ctx.platform.clone();
    let t = ctx.config.timeouts.clone();
    let members = p.members();
    let n = members.len();

    let mut reached = None;
    let finished = ctx
        .check(&format!("{label}: rollout finished, every member on the new revision and Ready"), async {
            // Not the newest revision read right after the patch: on a cluster that can still be
            // `from`, before the controller made the new one, and "every member on it" would hold at once.
            let what = format!("the controller to observe the change (an update revision other than {from})");
            let target = wait::until(&what, t.member_ready, Some(p.subscribe()), || async {
                Ok(match p.update_revision().await? {
                    Some(r) if r != from => Seen::Done(r),
                    other => Seen::NotYet(format!("update revision {}", other.as_deref().unwrap_or("not observed yet"))),
                })
            })
            .await?;
            reached = Some(target.clone());
            let what = format!("every member on revision {target} and Ready");
            let unready_since = std::sync::Mutex::new(std::collections::HashMap::<String, std::time::Instant>::new());
            let done = wait::until(&what, t.member_ready * n as u32, Some(p.subscribe()), || async {
                let mut behind = Vec::new();
                for m in &members {
                    let s = p.status(m).await?;
                    let on_target = s.revision.as_deref() == Some(target.as_str());
                    if on_target && !s.ready {
                        let since = *unready_since.lock().expect("never poisoned").entry(m.clone()).or_insert_with(std::time::Instant::now);
                        if since.elapsed() >= t.member_ready {
                            bail!("{}", stopped_at(&s, &target, t.member_ready));
                        }
                    } else {
                        unready_since.lock().expect("never poisoned").remove(m);
                    }
                    if !on_target || !s.ready {
                        behind.push(format!("{m} {:?}{}", s.revision, if s.ready { "" } else { " not ready" }));
                    }
                }
                Ok(if behind.is_empty() { Seen::Done(()) } else { Seen::NotYet(behind.join(", ")) })
            });
            done.await.map(|()| format!("revision {target} (was {from}) on all {n} members {} ms after the change", fault.clock.elapsed().as_millis()))
        })
        .await;
    // The controller never observed the change: nothing rolled, nothing more to judge.
    let target = reached?;
    if finished {
        let at = ctx.mark(format!("{label}: rollout finished"));
        ctx.metric(&format!("{label}.rollout_ms"), fault.ms_to(at));
    }

    let events: Vec<LifecycleEvent> = p.lifecycle().into_iter().filter(|e| e.at >= fault.at).collect();
    ctx.check(&format!("{label}: members replaced one at a time in reverse ordinal order"), async { one_at_a_time(&events, &members, finished) }).await;
    // The runner samples the servers throughout (crate::serving); the rollout's are those since its change.
    let check = format!("{label}: a majority of the others was serving whenever the rollout took a member down");
    // From a little before the change: the ensemble as the first deletion found it.
    match ctx.serving_since(fault.at - chrono::TimeDelta::milliseconds(2 * serving::SAMPLE_EVERY.as_millis() as i64)) {
        Some(samples) => {
            ctx.check(&check, async { quorum_kept_serving(&samples, &events, &members) }).await;
            ctx.metric(&format!("{label}.no_quorum_ms"), serving::longest_without_quorum(&samples) as f64);
        }
        None => ctx.skip(&check, "the runner sampled no server for this suite"),
    }
    finished.then_some(target)
}

/// Why a rollout is judged stopped at member `s`: on the new revision `target`, not Ready for
/// `waited`, with what the platform says of it (phase, reason, restarts).
pub(super) fn stopped_at(s: &MemberStatus, target: &str, waited: Duration) -> String {
    format!(
        "the rollout stopped at {}: on revision {target} but not Ready for {}s ({}{}, {} restart(s)); a StatefulSet does not go on past a member that is not Ready",
        s.name,
        waited.as_secs(),
        s.phase,
        s.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default(),
        s.restart_count
    )
}

/// After the undo of a restartedAt change: the current template is the original revision
/// `first` with its own restartedAt (`old`, usually none), and every member runs it.
fn undo_restored_annotation(revs: &[Revision], first: &str, old: Option<&str>, members: &[MemberStatus]) -> anyhow::Result<String> {
    let now = revs.last().ok_or_else(|| anyhow!("no revision after the undo"))?;
    ensure!(now.hash == first, "the current template is {}, not the original {first}", now.hash);
    let got = restarted_at(&now.template);
    ensure!(got == old, "the template's {RESTARTED_AT} is {got:?} after the undo, not {old:?}");
    for s in members {
        ensure!(s.revision.as_deref() == Some(first), "{} runs revision {:?}, not {first}", s.name, s.revision);
    }
    Ok(format!("every member back on revision {first} ({RESTARTED_AT} {})", old.unwrap_or("absent")))
}

/// The cpu request of a revision's pod template.
fn cpu_of(template: &serde_json::Value) -> Option<&serde_json::Value> {
    template.pointer("/spec/containers/0/resources/requests/cpu")
}

/// After the update the history has the original revision `first` and, after it with a higher
/// number, the new template with the change (the walkthrough's cpu request, or the restartedAt).
fn history_has_both(revs: &[Revision], first: &str, change: &Change) -> anyhow::Result<String> {
    ensure!(revs.len() >= 2, "{} revision(s) after the update; expected the old and the new template", revs.len());
    let (old, new) = (&revs[revs.len() - 2], &revs[revs.len() - 1]);
    ensure!(old.hash == first, "the previous revision is {} (number {}), not the original {first}", old.hash, old.number);
    if let Change::RestartedAt(at) = change {
        let got = restarted_at(&new.template);
        ensure!(got == Some(at.as_str()), "the newest revision's {RESTARTED_AT} is {got:?}, not {at:?}");
        ensure!(new.number > old.number, "revision numbers do not increase: {} then {}", old.number, new.number);
        return Ok(format!("revisions {} ({}) and {} ({}, {RESTARTED_AT} {at})", old.number, old.hash, new.number, new.hash));
    }
    // The API server stores quantities canonically ("0.3" comes back as "300m"): compare amounts.
    let cpu = cpu_of(&new.template).and_then(|v| v.as_str().map(String::from));
    ensure!(same_cpu(cpu.as_deref(), Some(NEW_CPU)), "the newest revision's cpu request is {cpu:?}, not {NEW_CPU}");
    ensure!(new.number > old.number, "revision numbers do not increase: {} then {}", old.number, new.number);
    Ok(format!("revisions {} ({}) and {} ({}, cpu {NEW_CPU})", old.number, old.hash, new.number, new.hash))
}

/// After the undo the current template is the original revision `first` with its cpu request
/// `old_cpu`, and every member runs it.
fn undo_restored(revs: &[Revision], first: &str, old_cpu: Option<&serde_json::Value>, members: &[MemberStatus]) -> anyhow::Result<String> {
    let now = revs.last().ok_or_else(|| anyhow!("no revision after the undo"))?;
    ensure!(now.hash == first, "the current template is {}, not the original {first}", now.hash);
    let cpu = cpu_of(&now.template);
    ensure!(same_cpu(cpu.and_then(|c| c.as_str()), old_cpu.and_then(|c| c.as_str())), "the cpu request is {cpu:?} after the undo, not {old_cpu:?}");
    for s in members {
        ensure!(s.revision.as_deref() == Some(first), "{} runs revision {:?}, not {first}", s.name, s.revision);
    }
    Ok(format!("every member back on revision {first} (cpu {})", old_cpu.map(|c| c.to_string()).unwrap_or_default()))
}

/// Judges a rollout from the servers: whenever it took a member down (its pod deleted), a
/// majority of the ensemble, not counting that member, was serving with one leader. The moment
/// judged is the last sample before the deletion in which the member still served (or still ran):
/// the platform may record the deletion only once the container is gone. Ready is recorded beside
/// each member in the evidence, not counted.
fn quorum_kept_serving(samples: &[Sample], events: &[LifecycleEvent], members: &[String]) -> anyhow::Result<String> {
    let n = members.len();
    let majority = n / 2 + 1;
    let deleted: Vec<&LifecycleEvent> = events.iter().filter(|e| e.kind == LifecycleKind::Deleted && members.contains(&e.member)).collect();
    ensure!(!samples.is_empty(), "the servers were never sampled during the rollout");
    ensure!(!deleted.is_empty(), "the rollout took no member down ({} samples)", samples.len());
    let mut judged = Vec::new();
    let mut froms = Vec::new();
    let mut window_from = samples[0].at;
    for ev in deleted {
        let m = ev.member.as_str();
        let before: Vec<&Sample> = samples.iter().filter(|s| s.at <= ev.at && s.at >= window_from).collect();
        let reading = |s: &Sample| s.members.iter().find(|r| r.member == m).cloned();
        let moment = before
            .iter()
            .rev()
            .find(|s| serving::serves(s, m))
            .or_else(|| before.iter().rev().find(|s| reading(s).is_some_and(|r| r.running)))
            .or(before.last())
            .ok_or_else(|| anyhow!("{m} was taken down at {} before any sample of the servers", hms(ev.at)))?;
        let (others, j) = serving::others_serving(moment, m);
        if others < majority {
            bail!(
                "quorum lost: the rollout took {m} down at {} (the servers as sampled at {}) while only {others} of the other {} members served with a leader, fewer than a majority of {majority} of {n}: {} (judged from {})",
                hms(ev.at),
                hms(moment.at),
                n - 1,
                moment.describe(),
                j.from
            );
        }
        judged.push(format!("{m} at {} ({others} others serving)", hms(ev.at)));
        if !froms.contains(&j.from) {
            froms.push(j.from);
        }
        window_from = ev.at;
    }
    Ok(format!(
        "took {}, each while a majority of the others served; {} samples at most {} ms apart; judged from {}",
        judged.join(", then "),
        samples.len(),
        serving::largest_gap(samples),
        froms.join("; ")
    ))
}

fn hms(at: DateTime<Utc>) -> String {
    at.format("%H:%M:%S%.3f").to_string()
}

/// A cpu quantity in millicores: "0.3", "300m" and "0.300" are all 300. `None` for what is not a
/// plain cpu quantity.
fn cpu_millis(q: &str) -> Option<i64> {
    if let Some(m) = q.strip_suffix('m') {
        return m.parse().ok();
    }
    let (whole, frac) = q.split_once('.').unwrap_or((q, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let frac: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<3}").parse().ok()? };
    Some(whole * 1000 + frac)
}

/// Two cpu requests are the same amount (or both absent); unparseable ones must match as text.
fn same_cpu(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => match (cpu_millis(a), cpu_millis(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
        (a, b) => a == b,
    }
}

/// Members were deleted in reverse ordinal order, and each was Ready again before the next went.
/// A rollout that did not finish (`finished` false) must have replaced a first part of that order.
fn one_at_a_time(events: &[LifecycleEvent], members: &[String], finished: bool) -> anyhow::Result<String> {
    let deleted: Vec<&LifecycleEvent> = events.iter().filter(|e| e.kind == LifecycleKind::Deleted && members.contains(&e.member)).collect();
    let order: Vec<&str> = deleted.iter().map(|e| e.member.as_str()).collect();
    let expected: Vec<&str> = members.iter().rev().map(String::as_str).collect();
    if finished {
        ensure!(order == expected, "members were replaced in the order {order:?}, not {expected:?}");
    } else {
        ensure!(expected.starts_with(&order), "members were replaced in the order {order:?}, not the start of {expected:?}");
    }
    for pair in deleted.windows(2) {
        let (this, next) = (pair[0], pair[1]);
        let ready = events.iter().find(|e| e.member == this.member && e.kind == LifecycleKind::Ready && e.at >= this.at);
        match ready {
            Some(r) if r.at <= next.at => {}
            Some(r) => bail!("{} went at {} before {} was Ready again at {}", next.member, next.at.format("%H:%M:%S%.3f"), this.member, r.at.format("%H:%M:%S%.3f")),
            None => bail!("{} went before {} was Ready again", next.member, this.member),
        }
    }
    Ok(format!("replaced {}, each Ready before the next went", order.join(", then ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: i64, member: &str, kind: LifecycleKind) -> LifecycleEvent {
        LifecycleEvent { at: DateTime::<Utc>::from_timestamp(1_000_000 + s, 0).unwrap(), member: member.into(), kind, detail: String::new() }
    }

    fn members() -> Vec<String> {
        vec!["zk-0".into(), "zk-1".into(), "zk-2".into()]
    }

    #[test]
    fn a_rollout_in_reverse_order_each_ready_first_passes() {
        use LifecycleKind::*;
        let events = vec![
            ev(0, "zk-2", Deleted),
            ev(1, "zk-2", Created),
            ev(12, "zk-2", Ready),
            ev(13, "zk-1", Deleted),
            ev(25, "zk-1", Ready),
            ev(26, "zk-0", Deleted),
            ev(38, "zk-0", Ready),
        ];
        assert!(one_at_a_time(&events, &members(), true).unwrap().contains("zk-2, then zk-1, then zk-0"));
    }

    #[test]
    fn wrong_order_or_overlap_fails() {
        use LifecycleKind::*;
        let forward = vec![ev(0, "zk-0", Deleted), ev(5, "zk-0", Ready), ev(6, "zk-1", Deleted), ev(9, "zk-1", Ready), ev(10, "zk-2", Deleted)];
        assert!(one_at_a_time(&forward, &members(), true).unwrap_err().to_string().contains("not [\"zk-2\", \"zk-1\", \"zk-0\"]"));
        let overlap = vec![ev(0, "zk-2", Deleted), ev(3, "zk-1", Deleted), ev(5, "zk-2", Ready), ev(9, "zk-1", Ready), ev(10, "zk-0", Deleted), ev(12, "zk-0", Ready)];
        assert!(one_at_a_time(&overlap, &members(), true).unwrap_err().to_string().contains("zk-1 went at"));
        // A rollout that stopped at zk-2: the start of the order, and no further.
        let stopped = vec![ev(0, "zk-2", Deleted), ev(1, "zk-2", Created)];
        assert_eq!(one_at_a_time(&stopped, &members(), false).unwrap(), "replaced zk-2, each Ready before the next went");
        assert!(one_at_a_time(&stopped, &members(), true).is_err(), "a finished rollout replaces every member");
        let wrong_start = vec![ev(0, "zk-0", Deleted)];
        assert!(one_at_a_time(&wrong_start, &members(), false).unwrap_err().to_string().contains("not the start of"));
    }

    #[test]
    fn cpu_quantities_compare_by_amount_as_the_api_server_canonicalises_them() {
        assert_eq!(cpu_millis("0.3"), Some(300));
        assert_eq!(cpu_millis("300m"), Some(300));
        assert_eq!(cpu_millis("1"), Some(1000));
        assert_eq!(cpu_millis("1.5"), Some(1500));
        assert_eq!(cpu_millis(".25"), Some(250));
        assert_eq!(cpu_millis("0.300"), Some(300), "three decimals are millicores");
        assert_eq!(cpu_millis("1.250"), Some(1250));
        assert_eq!(cpu_millis("0.0005"), None);
        assert!(same_cpu(Some("300m"), Some("0.3")));
        assert!(same_cpu(Some("500m"), Some("0.5")));
        assert!(!same_cpu(Some("300m"), Some("0.5")));
        assert!(!same_cpu(Some("300m"), None));
        assert!(same_cpu(None, None));
        assert!(!same_cpu(Some("1Gi"), Some("1G")));
    }

    fn rev(number: i64, hash: &str, cpu: &str) -> Revision {
        Revision { number, hash: hash.into(), template: serde_json::json!({"spec": {"containers": [{"resources": {"requests": {"cpu": cpu}}}]}}) }
    }

    fn history_has_both_cpu(revs: &[Revision], first: &str) -> anyhow::Result<String> {
        history_has_both(revs, first, &Change::Cpu)
    }

    fn annotated(number: i64, hash: &str, at: Option<&str>) -> Revision {
        let annotations = at.map_or(serde_json::json!({"other": "x"}), |at| serde_json::json!({ RESTARTED_AT: at, "other": "x" }));
        Revision { number, hash: hash.into(), template: serde_json::json!({"metadata": {"annotations": annotations}, "spec": {}}) }
    }

    #[test]
    fn any_other_manifest_gets_the_restart_annotation_and_the_walkthrough_its_cpu_patch() {
        let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let walk = zk_chaos_core::manifest::walkthrough();
        assert_eq!(Change::for_manifest(&walk, now), Change::Cpu);
        let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/zookeeper.yaml")).unwrap();
        let other = zk_chaos_core::manifest::Manifest::parse(&text.replace("--heap=512M", "--heap=1G"), "other").unwrap();
        let change = Change::for_manifest(&other, now);
        assert_eq!(change, Change::RestartedAt("2027-01-15T08:00:00Z".into()));
        assert_eq!(change.what(), "kubectl.kubernetes.io/restartedAt=2027-01-15T08:00:00Z (kubectl rollout restart)");
        // The walkthrough's template has no annotations: the map is added whole.
        let mut sts = other.statefulset_document().clone();
        let patch = change.patch(&sts).unwrap();
        json_patch::patch(&mut sts, &patch.0).unwrap();
        assert_eq!(sts.pointer("/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt").and_then(|v| v.as_str()), Some("2027-01-15T08:00:00Z"));
        // With annotations, one key is added beside the others.
        let mut annotated_sts = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {"a": "b"}}}}});
        let patch = change.patch(&annotated_sts).unwrap();
        json_patch::patch(&mut annotated_sts, &patch.0).unwrap();
        assert_eq!(annotated_sts["spec"]["template"]["metadata"]["annotations"], serde_json::json!({"a": "b", RESTARTED_AT: "2027-01-15T08:00:00Z"}));
    }

    #[test]
    fn the_history_and_the_undo_of_a_restart_annotation() {
        let change = Change::RestartedAt("t1".into());
        assert_eq!(
            history_has_both(&[annotated(1, "a", None), annotated(2, "b", Some("t1"))], "a", &change).unwrap(),
            "revisions 1 (a) and 2 (b, kubectl.kubernetes.io/restartedAt t1)"
        );
        let stale = history_has_both(&[annotated(1, "a", None), annotated(2, "b", Some("t0"))], "a", &change).unwrap_err().to_string();
        assert_eq!(stale, "the newest revision's kubectl.kubernetes.io/restartedAt is Some(\"t0\"), not \"t1\"");
        let on = |name: &str, rev: &str| MemberStatus { revision: Some(rev.into()), ..MemberStatus::absent(name, 0) };
        assert!(undo_restored_annotation(&[annotated(3, "a", None)], "a", None, &[on("zk-0", "a")]).is_ok());
        let kept = undo_restored_annotation(&[annotated(3, "a", Some("t1"))], "a", None, &[]).unwrap_err().to_string();
        assert_eq!(kept, "the template's kubectl.kubernetes.io/restartedAt is Some(\"t1\") after the undo, not None");
        assert!(undo_restored_annotation(&[annotated(3, "a", None)], "a", None, &[on("zk-0", "b")]).unwrap_err().to_string().contains("zk-0 runs revision"));
    }

    #[test]
    fn the_history_must_have_the_original_then_the_new_template() {
        assert_eq!(history_has_both_cpu(&[rev(1, "a", "500m"), rev(2, "b", "300m")], "a").unwrap(), "revisions 1 (a) and 2 (b, cpu 0.3)");
        assert_eq!(history_has_both_cpu(&[rev(1, "a", "500m")], "a").unwrap_err().to_string(), "1 revision(s) after the update; expected the old and the new template");
        assert_eq!(history_has_both_cpu(&[rev(1, "x", "500m"), rev(2, "b", "300m")], "a").unwrap_err().to_string(), "the previous revision is x (number 1), not the original a");
        assert_eq!(history_has_both_cpu(&[rev(1, "a", "500m"), rev(2, "b", "500m")], "a").unwrap_err().to_string(), "the newest revision's cpu request is Some(\"500m\"), not 0.3");
        assert_eq!(history_has_both_cpu(&[rev(3, "a", "500m"), rev(3, "b", "0.3")], "a").unwrap_err().to_string(), "revision numbers do not increase: 3 then 3");
        // Only the last two count: an older third revision before them is history.
        assert!(history_has_both_cpu(&[rev(1, "z", "1"), rev(2, "a", "500m"), rev(3, "b", "0.3")], "a").is_ok());
    }

    #[test]
    fn the_undo_must_bring_every_member_back_to_the_original_template() {
        let on = |name: &str, r: &str| MemberStatus { revision: Some(r.into()), ..MemberStatus::absent(name, 0) };
        let old = serde_json::json!("500m");
        let revs = [rev(2, "b", "300m"), rev(3, "a", "0.5")];
        assert_eq!(undo_restored(&revs, "a", Some(&old), &[on("zk-0", "a"), on("zk-1", "a")]).unwrap(), "every member back on revision a (cpu \"500m\")");
        assert_eq!(undo_restored(&[], "a", Some(&old), &[]).unwrap_err().to_string(), "no revision after the undo");
        assert_eq!(undo_restored(&revs[..1], "a", Some(&old), &[]).unwrap_err().to_string(), "the current template is b, not the original a");
        let wrong_cpu = [rev(3, "a", "300m")];
        assert!(undo_restored(&wrong_cpu, "a", Some(&old), &[]).unwrap_err().to_string().starts_with("the cpu request is Some(String(\"300m\")) after the undo"));
        assert_eq!(undo_restored(&revs, "a", Some(&old), &[on("zk-0", "a"), on("zk-1", "b")]).unwrap_err().to_string(), "zk-1 runs revision Some(\"b\"), not a");
        let unlabelled = MemberStatus::absent("zk-2", 2);
        assert!(undo_restored(&revs, "a", Some(&old), &[unlabelled]).is_err());
    }

    fn ev_ms(ms: i64, member: &str, kind: LifecycleKind) -> LifecycleEvent {
        LifecycleEvent { at: serving::testing::at(ms), member: member.into(), kind, detail: String::new() }
    }

    use crate::serving::testing::sample;

    /// zk-1 leads; each member is taken down once the one before serves again (Ready beside it,
    /// late as a probe is). The platform records zk-2's deletion only once its container is gone
    /// (Docker): the moment judged is the last sample in which zk-2 still served.
    #[test]
    fn a_rollout_that_takes_each_member_down_while_the_others_serve_passes() {
        use LifecycleKind::*;
        let samples = [
            sample(0, &["F", "L2", "F"]),
            sample(800, &["F", "L2", "F"]),
            sample(1000, &["F", "L1", "N"]), // zk-2 shutting down
            sample(1200, &["F", "L1", "d"]),
            sample(3000, &["F", "L1", "n"]),
            sample(3400, &["F", "L2", "f"]),
            sample(5000, &["F", "L2", "F"]),
            sample(5400, &["N", "d", "N"]), // zk-1 gone: an election
            sample(6000, &["F", "d", "L1"]),
            sample(8000, &["F", "F", "L2"]),
            sample(9200, &["d", "F", "L1"]),
            sample(12000, &["F", "F", "L2"]),
        ];
        let events = [ev_ms(1300, "zk-2", Deleted), ev_ms(4900, "zk-2", Ready), ev_ms(5200, "zk-1", Deleted), ev_ms(7900, "zk-1", Ready), ev_ms(9000, "zk-0", Deleted)];
        let ok = quorum_kept_serving(&samples, &events, &members()).unwrap();
        assert!(ok.starts_with("took zk-2 at "), "{ok}");
        assert!(ok.contains("(2 others serving), then zk-1 at ") && ok.contains("12 samples at most 2800 ms apart"), "{ok}");
        assert!(ok.ends_with("judged from zk-1's mntr: 2 synced followers; zk-2's mntr: 2 synced followers"), "{ok}");
    }

    /// The field failure: the restarted zk-2 is Ready (its probe asks `ruok`) but still syncing,
    /// and the rollout takes the leader zk-1 down: only zk-0 is left serving.
    #[test]
    fn taking_the_next_member_down_while_the_restarted_one_syncs_fails_naming_it() {
        use LifecycleKind::*;
        let samples = [
            sample(0, &["F", "L2", "F"]),
            sample(800, &["F", "L2", "F"]),
            sample(1200, &["F", "L1", "d"]),
            sample(2000, &["F", "L1", "n"]),
            sample(3000, &["F", "L1", "N"]), // Ready by ruok, syncing
            sample(3400, &["N", "d", "N"]),
        ];
        let events = [ev_ms(1000, "zk-2", Deleted), ev_ms(2900, "zk-2", Ready), ev_ms(3100, "zk-1", Deleted)];
        let err = quorum_kept_serving(&samples, &events, &members()).unwrap_err().to_string();
        assert!(err.starts_with("quorum lost: the rollout took zk-1 down at "), "{err}");
        let (_, sampled_at) = err.split_once("(the servers as sampled at ").unwrap();
        assert!(sampled_at.starts_with(&hms(serving::testing::at(3000))), "{err}");
        assert!(
            err.contains("while only 1 of the other 2 members served with a leader, fewer than a majority of 2 of 3: zk-0 follower epoch 1 ready; zk-1 leader epoch 1 (1 synced) ready; zk-2 not serving ready (judged from zk-1's mntr: 1 synced followers)"),
            "{err}"
        );
    }

    /// The same failure as kind showed it (the walkthrough, `ruok` readiness, a 256 MiB volume): the
    /// leader zk-0's `mntr` already counts zk-2, which receives its snapshot and says it is not
    /// serving, and the rollout takes zk-1 down. Taking the leader's count over zk-2's own word
    /// passed such a rollout while the ensemble lost every znode.
    #[test]
    fn the_leaders_count_does_not_stand_for_a_follower_that_says_it_is_not_serving() {
        use LifecycleKind::*;
        let samples = [
            sample(0, &["L2", "F", "F"]),
            sample(1200, &["L1", "F", "d"]),
            sample(2000, &["L2", "F", "N"]), // Ready by ruok; the leader forwards to it while it syncs
            sample(2200, &["L2", "F", "N"]),
            sample(2600, &["L1", "d", "N"]),
        ];
        let events = [ev_ms(1000, "zk-2", Deleted), ev_ms(1900, "zk-2", Ready), ev_ms(2300, "zk-1", Deleted)];
        let err = quorum_kept_serving(&samples, &events, &members()).unwrap_err().to_string();
        assert!(err.starts_with("quorum lost: the rollout took zk-1 down at "), "{err}");
        assert!(err.contains(&format!("(the servers as sampled at {})", hms(serving::testing::at(2200)))), "{err}");
        assert!(err.contains("only 1 of the other 2 members served with a leader") && err.contains("zk-2 not serving ready"), "{err}");
        assert!(err.contains("(judged from zk-0's mntr: 2 synced followers, but its followers in epoch 1 by their own srvr: zk-1 (the leader counts"), "{err}");
    }

    /// A member that served in no sample before its deletion is judged at the last sample in
    /// which it still ran, not at a later one where its container had already stopped; times are
    /// the wall clock's, to the millisecond.
    #[test]
    fn a_member_that_never_served_is_judged_where_it_last_ran() {
        use LifecycleKind::*;
        let samples = [sample(0, &["L2", "F", "N"]), sample(500, &["N", "N", "D"])];
        let events = [ev_ms(1000, "zk-2", Deleted)];
        let ok = quorum_kept_serving(&samples, &events, &members()).unwrap();
        assert!(ok.starts_with("took zk-2 at 08:00:01.000 (2 others serving)"), "{ok}");
        assert_eq!(hms(serving::testing::at(1234)), "08:00:01.234");
    }

    /// Of five members a majority is three: taking zk-4 down while two others serve loses the
    /// quorum, while three others serving keep it.
    #[test]
    fn of_five_members_three_others_must_serve() {
        use LifecycleKind::*;
        let five: Vec<String> = (0..5).map(|i| format!("zk-{i}")).collect();
        let events = [ev_ms(1000, "zk-4", Deleted)];
        let err = quorum_kept_serving(&[sample(0, &["L2", "F", "F", "N", "F"])], &events, &five).unwrap_err().to_string();
        assert!(err.contains("only 2 of the other 4 members served with a leader, fewer than a majority of 3 of 5"), "{err}");
        assert!(quorum_kept_serving(&[sample(0, &["L3", "F", "F", "F", "F"])], &events, &five).is_ok());
    }

    /// With `mntr` hidden, followers in the leader's epoch stand for its count and the evidence
    /// says so; a follower stuck in an older epoch is not counted.
    #[test]
    fn with_mntr_hidden_the_verdict_says_what_it_judged_from() {
        use LifecycleKind::*;
        let events = [ev_ms(1000, "zk-2", Deleted)];
        let ok = quorum_kept_serving(&[sample(0, &["F", "L-", "F"])], &events, &members()).unwrap();
        assert!(ok.ends_with("judged from srvr only: zk-1's whitelist hides mntr, so the members that say they follow in epoch 1 stand for its synced followers"), "{ok}");
        let err = quorum_kept_serving(&[sample(0, &["F0", "L-", "F"])], &events, &members()).unwrap_err().to_string();
        assert!(err.contains("only 1 of the other 2 members served"), "{err}");
    }

    #[test]
    fn a_rollout_without_samples_or_deletions_cannot_pass() {
        use LifecycleKind::*;
        let events = [ev_ms(1000, "zk-2", Deleted)];
        assert_eq!(quorum_kept_serving(&[], &events, &members()).unwrap_err().to_string(), "the servers were never sampled during the rollout");
        assert!(quorum_kept_serving(&[sample(0, &["F", "L2", "F"])], &[], &members()).unwrap_err().to_string().starts_with("the rollout took no member down"));
        let late = quorum_kept_serving(&[sample(2000, &["F", "L2", "F"])], &events, &members()).unwrap_err().to_string();
        assert!(late.starts_with("zk-2 was taken down at ") && late.ends_with("before any sample of the servers"), "{late}");
        // No leader in the last sample before it: nobody served.
        assert!(quorum_kept_serving(&[sample(0, &["N", "N", "F"])], &events, &members()).unwrap_err().to_string().contains("only 0 of the other 2"));
    }

    #[test]
    fn a_stopped_rollout_names_the_member_and_what_the_platform_says_of_it() {
        let s = MemberStatus { running: true, phase: "Running".into(), reason: Some("CrashLoopBackOff (20s)".into()), restart_count: 3, ..MemberStatus::absent("zk-2", 2) };
        assert_eq!(
            stopped_at(&s, "r2", Duration::from_secs(90)),
            "the rollout stopped at zk-2: on revision r2 but not Ready for 90s (Running: CrashLoopBackOff (20s), 3 restart(s)); \
             a StatefulSet does not go on past a member that is not Ready"
        );
    }
}
