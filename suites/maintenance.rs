//! `maintenance` ("Surviving maintenance", TUTORIAL.md 15): drains against the disruption budget. With four
//! schedulable nodes (the rest cordoned): draining zk-0's node moves zk-0 to the fourth node;
//! draining zk-1's leaves zk-1 Pending (anti-affinity leaves it no node); draining zk-2's is
//! refused by the budget (HTTP 429, cause `DisruptionBudget`) for as long as zk-1 is down, while
//! `/hello` stays readable; uncordoning the first node lets zk-1 back and the third eviction through.
//!
//! Every node the suite cordons is uncordoned whatever happens: each cordon goes into the suite's
//! [`Ledger`](super::ledger::Ledger) before it is sent, and the suite reverts the ledger on return,
//! on error and on panic; if the suite is dropped (Ctrl-C) the ledger's `Drop` starts the
//! uncordons, and the Kubernetes platform's teardown uncordons whatever is left.
//!
//! With node-local volumes (kind's local-path storage) an evicted member cannot move: its PV is
//! pinned to its node. The suite then says so, expects "volume node affinity conflict" for zk-0,
//! lets it back by uncordoning its node, and reports the rest of the section as not applicable.

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use async_trait::async_trait;
use futures::FutureExt;

use super::faults;
use super::ledger::{Action, Injected, Revert};
use super::verdicts::{self, describe_member};
use super::{walkthrough, About, Suite, SuiteCtx};
use crate::ensemble::EnsembleView;
use crate::platform::{BudgetStatus, Capability, Cluster, EvictionOutcome, MemberStatus, Platform};
use crate::serving::Sample;
use crate::wait::{self, Seen};

/// How long the budget must keep refusing the third eviction.
const REFUSAL_WINDOW: Duration = Duration::from_secs(10);
const RETRY: Duration = Duration::from_secs(1);

pub struct Maintenance;

#[async_trait]
impl Suite for Maintenance {
    fn about(&self) -> &'static About {
        &About {
            name: "maintenance",
            sections: &[&walkthrough::SURVIVING_MAINTENANCE],
            summary: "drain three nodes in turn: zk-0 moves, zk-1 stays Pending, zk-2's eviction is refused by the budget (429 DisruptionBudget) while /hello stays readable; uncordon, and it goes through",
            needs: &[Capability::Nodes, Capability::Evictions],
            disruptive: true,
            workload: true,
        }
    }

    async fn run(&self, ctx: &mut SuiteCtx) -> anyhow::Result<()> {
        let p = ctx.platform.clone();
        if p.cluster().is_none() {
            bail!("{} has no nodes to drain", p.kind());
        }
        let outcome = AssertUnwindSafe(walk(ctx)).catch_unwind().await;
        let ledger = ctx.ledger().clone();
        let undone = async { ledger.revert_all().await.map(|n| if n.is_empty() { "nothing left cordoned".to_string() } else { n.join(", ") }) };
        let uncordoned = ctx.check("every node cordoned was uncordoned", undone).await;
        let walked = match &outcome {
            Ok(Ok(())) => true,
            Ok(Err(e)) => super::is_stopped(e),
            Err(_) => false,
        };
        if uncordoned && walked {
            // The last evicted member has a node again: the ensemble must be whole before the next suite.
            let t = ctx.config.timeouts.clone();
            let whole = async { crate::ensemble::wait_whole(p.as_ref(), t.ensemble_whole, t.operation).await.map(|v| v.describe()) };
            ctx.check("the ensemble whole again after the uncordons", whole).await;
        }
        match outcome {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

async fn walk(ctx: &mut SuiteCtx) -> anyhow::Result<()> {
    let p = ctx.platform.clone();
    let cluster = p.cluster().expect("checked by run");
    let t = ctx.config.timeouts.clone();
    let members = p.members();
    anyhow::ensure!(members.len() == 3, "{} is written for three members; this StatefulSet has {}", walkthrough::SURVIVING_MAINTENANCE.cite(), members.len());
    let (m0, m1, m2) = (members[0].clone(), members[1].clone(), members[2].clone());
    let hello = faults::write_hello(p.as_ref(), &m0, t.operation).await?;
    steps(ctx, cluster, [&m0, &m1, &m2], hello.czxid).await
}

async fn steps(ctx: &mut SuiteCtx, cluster: &dyn Cluster, [m0, m1, m2]: [&String; 3], czxid: i64) -> anyhow::Result<()> {
    let p = ctx.platform.clone();
    let t = ctx.config.timeouts.clone();

    // Four schedulable nodes: the three the members run on and one more; cordon the rest.
    let mut homes = Vec::new();
    for m in [m0, m1, m2] {
        homes.push(p.status(m).await?.node.ok_or_else(|| anyhow!("{m} is not scheduled on a node"))?);
    }
    let nodes = cluster.nodes().await?;
    let spare = nodes.iter().find(|n| n.schedulable && !n.control_plane && !homes.contains(&n.name)).map(|n| n.name.clone());
    let Some(spare) = spare else {
        let why = anyhow!("no fourth schedulable worker besides {}: {} needs one for zk-0 to move to", homes.join(", "), walkthrough::SURVIVING_MAINTENANCE.cite());
        return Err(ctx.fail("four schedulable nodes", why));
    };
    let keep: BTreeSet<&str> = homes.iter().map(String::as_str).chain([spare.as_str()]).collect();
    // Control-plane nodes are tainted against workloads already: they need no cordon.
    for n in nodes.iter().filter(|n| n.schedulable && !n.control_plane && !keep.contains(n.name.as_str())) {
        ctx.act(&Action::Cordon { node: n.name.clone() }).await?;
    }
    let four = format!("{} (members on {}; spare {spare})", keep.iter().copied().collect::<Vec<_>>().join(", "), homes.join(", "));
    ctx.check("four schedulable nodes", async { Ok(four) }).await;

    // Storage topology: node-local volumes pin their members.
    let pinned = cluster.volume_pinned_node(m0).await?;
    if let Some(node) = &pinned {
        let topology = format!(
            "{m0}'s volume is pinned to node {node} (node-local storage, e.g. kind's local-path): an evicted member cannot move; the walkthrough assumes network-attached volumes"
        );
        ctx.check("storage topology", async { Ok(topology) }).await;
    }

    // Without a budget nothing refuses the third drain: the suite goes on to show it.
    let has_budget = p.manifest().pdb.is_some();
    if has_budget {
        ctx.step("the budget allows one disruption", async { settled_budget(cluster, &p, 1, t.member_ready).await.map(|b| describe(&b)) }).await?;
    } else {
        let missing = anyhow!(
            "{} has no PodDisruptionBudget: nothing stops a drain from taking a majority of the servers (the walkthrough's zk-pdb selects app: zk with maxUnavailable: 1)",
            p.manifest().origin
        );
        ctx.fail("the budget allows one disruption", missing);
    }

    // Drain zk-0's node.
    ctx.inject_as(&Action::Cordon { node: homes[0].clone() }, &format!("drain {} ({m0})", homes[0])).await.1?;
    ctx.step(&format!("eviction of {m0} accepted"), evict_accepted(p.as_ref(), m0, t.operation * 3)).await?;
    if let Some(node) = pinned {
        let conflict = async {
            let pending = |s: &MemberStatus| s.exists && !s.running && s.reason.as_deref().is_some_and(pinned_by_volume);
            member_until(&p, m0, t.member_ready, "Pending: volume node affinity conflict", pending).await.map(|s| describe_member(&s))
        };
        ctx.check(&format!("{m0} Pending: its volume is pinned to {node} (expected with node-local storage)"), conflict).await;
        ctx.revert(&Revert::Uncordon { node: homes[0].clone() }).await?;
        let back = async { member_until(&p, m0, t.member_ready, "Running and Ready", |s| s.running && s.ready).await.map(|s| describe_member(&s)) };
        ctx.check(&format!("{m0} Ready again on its own node once {} was uncordoned", homes[0]), back).await;
        ctx.check_with("/hello intact", async |ctx: &mut SuiteCtx| faults::hello_intact_once_serving(ctx, m0, czxid, "ready_to_whole_ms").await).await;
        ctx.skip(
            "the rest of \"Surviving maintenance\" (zk-1 Pending by anti-affinity, zk-2 refused by the budget)",
            "not applicable with node-pinned volumes: zk-0 cannot move to the fourth node, so the walkthrough's sequence cannot happen; \
             use a StorageClass whose volumes can follow a pod (on kind: --storage-class zk-chaos-shared, the default) to certify it",
        );
        return Ok(());
    }
    let moved = async {
        let elsewhere = |s: &MemberStatus| s.running && s.ready && s.node.as_deref().is_some_and(|n| n != homes[0]);
        member_until(&p, m0, t.member_ready, &format!("Ready on a node other than {}", homes[0]), elsewhere).await.map(|s| describe_member(&s))
    };
    ctx.check(&format!("{m0} Ready again on another node"), moved).await;
    ctx.check_with("/hello intact after the first drain", async |ctx: &mut SuiteCtx| faults::hello_intact_once_serving(ctx, m0, czxid, "first_drain.ready_to_whole_ms").await)
        .await;

    // Drain zk-1's node.
    ctx.inject_as(&Action::Cordon { node: homes[1].clone() }, &format!("drain {} ({m1})", homes[1])).await.1?;
    ctx.step(&format!("eviction of {m1} accepted"), evict_accepted(p.as_ref(), m1, t.member_ready)).await?;
    let pending = async {
        let unschedulable = |s: &MemberStatus| s.exists && s.phase == "Pending" && s.reason.as_deref().is_some_and(|r| r.contains("anti-affinity"));
        member_until(&p, m1, t.member_ready, "Pending, unschedulable by anti-affinity", unschedulable).await.map(|s| describe_member(&s))
    };
    ctx.step(&format!("{m1} Pending: anti-affinity leaves it no node"), pending).await?;

    // Drain zk-2's node: refused for as long as zk-1 is down.
    ctx.inject_as(&Action::Cordon { node: homes[2].clone() }, &format!("drain {} ({m2})", homes[2])).await.1?;
    if has_budget {
        ctx.step("the budget sees zk-1 down and allows no disruption", async { settled_budget(cluster, &p, 0, t.member_ready).await.map(|b| describe(&b)) }).await?;
    } else {
        ctx.skip("the budget sees zk-1 down and allows no disruption", "there is no budget to observe");
    }
    let refused = refused_throughout(&p, m2, m0, czxid, t.operation);
    ctx.step(&format!("every eviction of {m2} for {}s refused by the budget, {m2} running, /hello readable", REFUSAL_WINDOW.as_secs()), refused).await?;

    // Uncordon the first node: zk-1 comes back, then zk-2 can go.
    ctx.mark(format!("uncordon {}", homes[0]));
    ctx.revert(&Revert::Uncordon { node: homes[0].clone() }).await?;
    let back = async { member_until(&p, m1, t.member_ready, "Running and Ready", |s| s.running && s.ready).await.map(|s| describe_member(&s)) };
    ctx.step(&format!("{m1} Ready once {} is schedulable again", homes[0]), back).await?;
    // The budget counts Ready members; a readiness probe that asks `ruok` makes m1 Ready before
    // it serves. The servers are looked at just before each eviction attempt: the look before the
    // accepted one is what the ensemble was when the budget let m2 go.
    let mut before_accepted = None;
    let evicted = ctx.check(&format!("eviction of {m2} accepted once {m1} is back"), evict_until_accepted(p.as_ref(), m2, t.member_ready, Some(&mut before_accepted))).await;
    let let_go = format!("a majority of the others was serving when the budget let {m2} go");
    match before_accepted {
        Some(look) => {
            ctx.check(&let_go, async { majority_of_others_serving(&look, m2) }).await;
        }
        None if evicted => ctx.skip(&let_go, format!("the platform gave no look at the servers just before the eviction of {m2}")),
        None => ctx.skip(&let_go, format!("{m2} was not evicted")),
    };
    // The data, once the ensemble serves again (how long it did not is judged above).
    ctx.check("/hello intact after the drains", faults::hello_intact_within(p.as_ref(), m0, czxid, t.operation, t.ensemble_whole)).await;
    Ok(())
}

/// The scheduler's word that a pod's volume keeps it off every node it may use: "volume node
/// affinity conflict" (older schedulers), "didn't match PersistentVolume's node affinity" (1.34).
fn pinned_by_volume(reason: &str) -> bool {
    reason.contains("volume node affinity conflict") || reason.contains("didn't match PersistentVolume's node affinity")
}

fn describe(b: &BudgetStatus) -> String {
    format!(
        "currentHealthy {}, desiredHealthy {}, disruptionsAllowed {}, expectedPods {} (observedGeneration {:?}, generation {:?})",
        b.current_healthy, b.desired_healthy, b.disruptions_allowed, b.expected_pods, b.observed_generation, b.generation
    )
}

/// Waits until the budget has observed its current generation and allows `allowed` disruptions.
async fn settled_budget(cluster: &dyn Cluster, p: &Arc<dyn Platform>, allowed: i32, deadline: Duration) -> anyhow::Result<BudgetStatus> {
    wait::until(&format!("the budget observed and allowing {allowed} disruption(s)"), deadline, Some(p.subscribe()), || async {
        let b = cluster.budget().await?;
        if b.observed_generation.is_some() && b.observed_generation == b.generation && b.disruptions_allowed == allowed {
            Ok(Seen::Done(b))
        } else {
            Ok(Seen::NotYet(describe(&b)))
        }
    })
    .await
}

async fn member_until(p: &Arc<dyn Platform>, m: &str, deadline: Duration, what: &str, pred: impl Fn(&MemberStatus) -> bool) -> anyhow::Result<MemberStatus> {
    let pred = &pred;
    wait::until(&format!("{m} {what}"), deadline, Some(p.subscribe()), || async move {
        let s = p.status(m).await?;
        if pred(&s) {
            Ok(Seen::Done(s))
        } else {
            Ok(Seen::NotYet(describe_member(&s)))
        }
    })
    .await
}

/// One eviction of `m`, as the action that does it.
async fn eviction(p: &dyn Platform, m: &str) -> anyhow::Result<EvictionOutcome> {
    match (Action::Evict { member: m.to_string() }).inject(p).await? {
        Injected::Eviction(outcome) => Ok(outcome),
        other => bail!("the platform answered {other:?} to an eviction"),
    }
}

/// Evicts `m`, retrying while the budget refuses (it may lag what the suite already saw).
pub async fn evict_accepted(p: &dyn Platform, m: &str, deadline: Duration) -> anyhow::Result<String> {
    evict_until_accepted(p, m, deadline, None).await
}

/// Evicts `m` as [`evict_accepted`] does; with `before_accepted`, looking at the servers just
/// before each attempt, and keeping there the look before the attempt that was accepted (`None`
/// when the platform gave none).
async fn evict_until_accepted(p: &dyn Platform, m: &str, deadline: Duration, mut before_accepted: Option<&mut Option<Sample>>) -> anyhow::Result<String> {
    let start = Instant::now();
    let mut refusals = 0;
    loop {
        let look = match before_accepted {
            Some(_) => {
                let at = chrono::Utc::now();
                EnsembleView::observe(p, crate::serving::LOOK_TIMEOUT).await.ok().map(|v| Sample::from_view(at, &v))
            }
            None => None,
        };
        match eviction(p, m).await? {
            EvictionOutcome::Accepted => {
                if let Some(slot) = before_accepted.as_deref_mut() {
                    *slot = look;
                }
                return Ok(format!("201 after {refusals} refusal(s), {} ms", start.elapsed().as_millis()));
            }
            EvictionOutcome::RefusedByBudget { message } => {
                refusals += 1;
                if start.elapsed() >= deadline {
                    bail!("the budget still refused the eviction of {m} after {refusals} attempts: {message}");
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Whether, in `look`, a majority of the members other than `m` served with one leader: what a
/// budget that lets `m` go must leave. Judged as rolling-update judges a rollout's deletions.
pub fn majority_of_others_serving(look: &Sample, m: &str) -> anyhow::Result<String> {
    let n = look.members.len();
    let majority = n / 2 + 1;
    let (others, j) = crate::serving::others_serving(look, m);
    let at = look.at.format("%H:%M:%S%.3f");
    if others < majority {
        bail!(
            "quorum lost: the budget let {m} go (the servers as looked at just before, {at}) while only {others} of the other {} members served with a leader, fewer than a majority of {majority} of {n}: {} (judged from {})",
            n - 1,
            look.describe(),
            j.from
        );
    }
    Ok(format!("{others} of the other {} members served with a leader at {at}, just before the eviction: {} (judged from {})", n - 1, look.describe(), j.from))
}

/// Every eviction attempt of `m` during the window is a budget refusal, `m` keeps running, and
/// `/hello` reads through `reader` each time.
pub async fn refused_throughout(p: &Arc<dyn Platform>, m: &str, reader: &str, czxid: i64, op: Duration) -> anyhow::Result<String> {
    let start = Instant::now();
    let mut attempts = 0;
    let mut last = String::new();
    while start.elapsed() < REFUSAL_WINDOW || attempts == 0 {
        attempts += 1;
        let outcome = eviction(p.as_ref(), m).await?;
        last = verdicts::refused_attempt(attempts, m, &outcome, &p.status(m).await?)?;
        faults::hello_intact(p.as_ref(), reader, czxid, op).await.with_context(|| format!("attempt {attempts}: /hello"))?;
        tokio::time::sleep(RETRY).await;
    }
    Ok(format!("{attempts} attempts refused (429 DisruptionBudget: {last}); {m} running; /hello = world through {reader} each time"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::kube::mock::{budget_refusal, eviction_accepted, expect, expect_typed, node, platform};
    use http::Method;
    use serde_json::json;

    /// The budget lets zk-2 go once zk-1 is Ready: with a readiness probe that asks `ruok`, zk-1
    /// may be Ready while it still syncs, and zk-2 leads: the drain leaves zk-0 alone serving.
    #[test]
    fn the_budget_letting_a_member_go_is_judged_by_what_the_others_serve() {
        use crate::serving::testing::sample;
        let ok = majority_of_others_serving(&sample(0, &["F", "F", "L2"]), "zk-2").unwrap();
        assert!(ok.starts_with("2 of the other 2 members served with a leader at "), "{ok}");
        let err = majority_of_others_serving(&sample(0, &["F", "N", "L1"]), "zk-2").unwrap_err().to_string();
        assert!(err.starts_with("quorum lost: the budget let zk-2 go (the servers as looked at just before, "), "{err}");
        assert!(
            err.contains(
                "while only 1 of the other 2 members served with a leader, fewer than a majority of 2 of 3: zk-0 follower epoch 1 ready; zk-1 not serving ready; zk-2 leader"
            ),
            "{err}"
        );
        // A follower the drained member does not lead still counts; no leader at all counts none.
        assert!(majority_of_others_serving(&sample(0, &["L2", "F", "F"]), "zk-2").is_ok(), "zk-2 a follower: zk-0 leads zk-1");
        assert!(majority_of_others_serving(&sample(0, &["N", "N", "N"]), "zk-2").unwrap_err().to_string().contains("only 0 of the other 2"));
    }

    use crate::ledger::Ledger;

    /// As the suite cordons: the revert owed first, then the action.
    async fn cordon(ledger: &Ledger, p: &dyn Platform, node: &str) -> anyhow::Result<()> {
        let action = Action::Cordon { node: node.into() };
        ledger.owe(action.revert().unwrap());
        action.inject(p).await.map(drop)
    }

    #[test]
    fn a_pinned_volume_is_recognised_in_the_schedulers_words() {
        // As kube-scheduler v1.34.4 wrote it on kind (zk-0 after its node was drained).
        let real = "Unschedulable: 0/5 nodes are available: 2 node(s) were unschedulable, 3 node(s) didn't match PersistentVolume's node affinity. \
                    no new claims to deallocate, preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling.";
        assert!(pinned_by_volume(real));
        assert!(pinned_by_volume("Unschedulable: 0/5 nodes are available: 1 node(s) had volume node affinity conflict"));
        assert!(!pinned_by_volume("Unschedulable: 0/5 nodes are available: 4 node(s) didn't match pod anti-affinity rules"));
    }

    #[tokio::test]
    async fn a_failure_mid_suite_still_uncordons_every_cordoned_node() {
        let (kp, mut h) = platform();
        let p: Arc<dyn Platform> = Arc::new(kp);
        let server = tokio::spawn(async move {
            for n in ["w1", "w2"] {
                let (body, _) = expect_typed(&mut h, Method::PATCH, &format!("/api/v1/nodes/{n}?"), 200, node(n, true)).await;
                assert_eq!(body, crate::platform::kube::cluster::cordon_patch(Some("zk-chaos-20261128-162600-ab12")));
            }
            // The eviction fails: the API server is unavailable.
            let unavailable = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":"the server is currently unable to handle the request","reason":"ServiceUnavailable","code":503});
            expect(&mut h, Method::POST, "/api/v1/namespaces/ns/pods/zk-0/eviction?", 503, unavailable).await;
            let mut uncordoned = Vec::new();
            for n in ["w2", "w1"] {
                let (body, ct) = expect_typed(&mut h, Method::PATCH, &format!("/api/v1/nodes/{n}?"), 200, node(n, false)).await;
                assert_eq!((body, ct.as_str()), (crate::platform::kube::cluster::cordon_patch(None), "application/merge-patch+json"));
                uncordoned.push(n);
            }
            uncordoned
        });
        let ledger = Ledger::new(p.clone());
        let body = async {
            for node in ["w1", "w2"] {
                cordon(&ledger, p.as_ref(), node).await?;
            }
            evict_accepted(p.as_ref(), "zk-0", Duration::from_secs(5)).await
        };
        let err = body.await.unwrap_err();
        assert!(format!("{err:#}").contains("unable to handle the request"), "{err:#}");
        assert_eq!(ledger.revert_all().await.unwrap(), vec!["uncordon w2", "uncordon w1"]);
        assert_eq!(server.await.unwrap(), vec!["w2", "w1"]);
    }

    #[tokio::test]
    async fn a_dropped_suite_starts_the_uncordons() {
        let (kp, mut h) = platform();
        let p: Arc<dyn Platform> = Arc::new(kp);
        let server = tokio::spawn(async move {
            expect(&mut h, Method::PATCH, "/api/v1/nodes/w3?", 200, node("w3", true)).await;
            let (body, _) = expect_typed(&mut h, Method::PATCH, "/api/v1/nodes/w3?", 200, node("w3", false)).await;
            assert_eq!(body["spec"], json!({"unschedulable": false}));
        });
        let ledger = Ledger::new(p.clone());
        cordon(&ledger, p.as_ref(), "w3").await.unwrap();
        drop(ledger); // as when Ctrl-C drops the suite's future
        tokio::time::timeout(Duration::from_secs(5), server).await.expect("the uncordon was sent").unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn eviction_retried_through_budget_refusals_until_accepted() {
        let (kp, mut h) = platform();
        let p: Arc<dyn Platform> = Arc::new(kp);
        let server = tokio::spawn(async move {
            for (code, body) in [(429, budget_refusal()), (429, budget_refusal()), (201, eviction_accepted())] {
                expect(&mut h, Method::POST, "/api/v1/namespaces/ns/pods/zk-2/eviction?", code, body).await;
            }
        });
        let got = evict_accepted(p.as_ref(), "zk-2", Duration::from_secs(30)).await.unwrap();
        assert!(got.starts_with("201 after 2 refusal(s)"), "{got}");
        server.await.unwrap();
    }
}
