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
use crate::ensemble::EnsembleView;
use crate::platform::{LifecycleEvent, LifecycleKind, MemberStatus, Platform, Revision};
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
            summary: "change the template (restartedAt; the walkthrough's cpu 0.3): members replaced one at a time in reverse order, a majority up throughout; history; undo",
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

/// One sample of the ensemble during a rollout.
#[derive(Debug, Clone, serde::Serialize)]
struct Sample {
    at: DateTime<Utc>,
    /// Members running and Ready.
    up: usize,
    leader: bool,
    seen: String,
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

    let mut samples = Vec::new();
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
            // Samples must come often for "at every moment" to mean something: a member that hangs
            // while shutting down must not stall them, so the four-letter words get a short deadline here.
            let (done, sampled) = sampled(p.as_ref(), SAMPLE_TIMEOUT.min(t.operation), done).await;
            samples = sampled;
            done.map(|()| format!("revision {target} (was {from}) on all {n} members {} ms after the change", fault.clock.elapsed().as_millis()))
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
    ctx.check(&format!("{label}: a majority was up at every sampled moment"), async { majority_held(&samples, n) }).await;
    ctx.metric(&format!("{label}.no_leader_ms"), longest_without_leader(&samples) as f64);
    // Every sample, so a reader can see the ensemble through the rollout.
    if let Ok(path) = ctx.artifact_path(&format!("{label}-samples.jsonl")) {
        if let Err(e) = crate::report::save_json_lines(&path, &samples) {
            tracing::warn!("could not save the rollout samples: {e:#}");
        }
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

/// Runs `done` while sampling the ensemble every [`wait::POLL`].
async fn sampled<T>(p: &dyn Platform, op_timeout: Duration, done: impl std::future::Future<Output = T>) -> (T, Vec<Sample>) {
    let mut samples = Vec::new();
    tokio::pin!(done);
    loop {
        tokio::select! {
            out = &mut done => return (out, samples),
            view = EnsembleView::observe(p, op_timeout) => {
                if let Ok(v) = view {
                    // Up: running and Ready. A leader election after the leader is replaced leaves
                    // no one serving for a moment while a majority is up: that is measured as
                    // no_leader_ms (and by the workload), not counted as quorum lost.
                    let up = v.members.iter().filter(|m| m.status.running && m.status.ready).count();
                    samples.push(Sample { at: Utc::now(), up, leader: v.leaders().len() == 1, seen: v.describe() });
                }
                tokio::time::sleep(wait::POLL).await;
            }
        }
    }
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

/// A majority of the `n` members was up (running and Ready) in every sample, and there was at
/// least one sample.
fn majority_held(samples: &[Sample], n: usize) -> anyhow::Result<String> {
    let majority = n / 2 + 1;
    match samples.iter().min_by_key(|s| s.up) {
        None => Err(anyhow!("the ensemble was never sampled during the rollout")),
        Some(w) if w.up >= majority => Ok(format!(
            "{} samples, at most {} ms apart; at least {} of {n} members up (running and Ready) in every one (fewest: {} at {})",
            samples.len(),
            largest_gap(samples),
            majority,
            w.up,
            w.at.format("%H:%M:%S%.3f")
        )),
        Some(w) => Err(anyhow!("quorum lost at {}: only {} of {n} members up: {}", w.at.format("%H:%M:%S%.3f"), w.up, w.seen)),
    }
}

/// How long a four-letter word may take while sampling a rollout.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest time between two consecutive samples, in ms.
fn largest_gap(samples: &[Sample]) -> i64 {
    samples.windows(2).map(|w| (w[1].at - w[0].at).num_milliseconds()).max().unwrap_or(0)
}

/// The longest stretch of consecutive samples with no leader, in ms (a leader election).
fn longest_without_leader(samples: &[Sample]) -> i64 {
    let mut longest = 0;
    let mut since: Option<DateTime<Utc>> = None;
    for s in samples {
        match (s.leader, since) {
            (false, None) => since = Some(s.at),
            (true, Some(from)) => {
                longest = longest.max((s.at - from).num_milliseconds());
                since = None;
            }
            _ => {}
        }
    }
    if let (Some(from), Some(last)) = (since, samples.last()) {
        longest = longest.max((last.at - from).num_milliseconds());
    }
    longest
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

    #[test]
    fn a_majority_must_be_up_in_every_sample() {
        let s = |ms: i64, up: usize| Sample { at: DateTime::<Utc>::from_timestamp_millis(ms).unwrap(), up, leader: true, seen: format!("{up} up") };
        let ok = majority_held(&[s(0, 3), s(500, 2), s(1000, 3)], 3).unwrap();
        assert!(ok.starts_with("3 samples, at most 500 ms apart; at least 2 of 3 members up (running and Ready) in every one (fewest: 2 at "), "{ok}");
        let err = majority_held(&[s(0, 3), s(500, 1), s(1000, 3)], 3).unwrap_err().to_string();
        assert!(err.starts_with("quorum lost at ") && err.ends_with(": only 1 of 3 members up: 1 up"), "{err}");
        assert!(majority_held(&[s(0, 2)], 4).is_err(), "2 of 4 is not a majority");
        assert!(majority_held(&[s(0, 3)], 5).is_ok());
        assert_eq!(majority_held(&[], 3).unwrap_err().to_string(), "the ensemble was never sampled during the rollout");
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

    #[test]
    fn leader_gaps_are_measured_between_samples() {
        let s = |ms: i64, leader: bool| Sample { at: DateTime::<Utc>::from_timestamp_millis(ms).unwrap(), up: 2, leader, seen: String::new() };
        assert_eq!(longest_without_leader(&[s(0, true), s(100, false), s(300, false), s(450, true), s(500, false), s(550, true)]), 350);
        assert_eq!(longest_without_leader(&[s(0, true), s(100, true)]), 0);
        assert_eq!(largest_gap(&[s(0, true), s(100, false), s(300, false), s(450, true)]), 200);
        assert_eq!(largest_gap(&[s(0, true)]), 0);
    }
}
