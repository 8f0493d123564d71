//! `partition`: beyond the walkthrough, which kills processes and drains nodes but never cuts the
//! network. With both workloads running throughout (the acknowledged-writes one and the register
//! one, judged for linearizability and ZooKeeper's guarantees), three partitions, one after the
//! other:
//!
//! 1. the leader cut off from both followers;
//! 2. one follower cut off from the others;
//! 3. one way: the leader's packets to the followers dropped, theirs to it let through (and
//!    counted, as the proof that this way is open).
//!
//! Each is proved to be in force (the cut member cannot open the others' election port, and they
//! cannot open its own; the rules count the packets they dropped), the cut member is seen to stop
//! serving, a leader on the majority side serves a write, the partition is held for
//! [`HOLD`], healed through the ledger (so it is healed on every path), the heal is proved by
//! the same probes succeeding again, and the ensemble is whole with the member rejoined. Fault to
//! the majority's leader and heal to whole are recorded as metrics and on the timeline.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use async_trait::async_trait;

use super::ledger::{Action, Revert};
use super::{faults, verdicts, About, Suite, SuiteCtx};
use crate::client::fourlw::{self, Mode};
use crate::ensemble::EnsembleView;
use crate::platform::{partitions, Capability, Cut, Platform};
use crate::report::model::RegisterSummary;
use crate::wait::{self, Seen};
use crate::workload::register::{self, RegisterHistory, RegisterOptions, RegisterWorkload, Verdict};

/// How long each partition is held once the majority side serves.
pub const HOLD: Duration = Duration::from_secs(5);
/// The register workload's baseline before the first partition: the operations every later one
/// is judged against. The first cut waits until [`BASELINE_OPS`] operations have their answer
/// (about three for each of the workload's three sessions), or [`BASELINE`] has passed since the
/// workload started; the first round's observation and probes run meanwhile.
pub const BASELINE_OPS: usize = 10;
/// The longest wait for the baseline, and the least the workload runs when no partition is made
/// (where the ensemble is broken from the start, its history is the evidence).
pub const BASELINE: Duration = Duration::from_secs(3);
/// The time the linearizability search may take.
pub const CHECK_BUDGET: Duration = Duration::from_secs(20);
pub const REGISTER_FILE: &str = "register-history.json";
pub const FAILING_PART_FILE: &str = "register-failing-part.json";
pub const LINEARIZABLE: &str = "register: the history is linearizable (reads after sync, writes, compare-and-sets)";
pub const GUARANTEES: &str = "register: acknowledged writes in zxid order, no session reads older state than it saw";
pub const SYNC_READS: &str = "register: every read after sync saw the writes acknowledged before the sync";

/// The three partitions, in the order they are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    LeaderCutOff,
    FollowerCutOff,
    LeaderOneWay,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [Scenario::LeaderCutOff, Scenario::FollowerCutOff, Scenario::LeaderOneWay];

    /// The metric prefix.
    pub fn key(self) -> &'static str {
        match self {
            Scenario::LeaderCutOff => "leader_cut_off",
            Scenario::FollowerCutOff => "follower_cut_off",
            Scenario::LeaderOneWay => "leader_one_way",
        }
    }

    fn role(self) -> Mode {
        match self {
            Scenario::FollowerCutOff => Mode::Follower,
            _ => Mode::Leader,
        }
    }

    fn one_way(self) -> bool {
        self == Scenario::LeaderOneWay
    }
}

pub struct Partition;

#[async_trait]
impl Suite for Partition {
    fn about(&self) -> &'static About {
        &About {
            name: "partition",
            sections: &[],
            summary: "beyond the walkthrough: the leader cut off, a follower cut off, the leader's packets dropped one way; each in force, a leader on the majority side, healed, whole; the register history linearizable",
            needs: &[Capability::Partitions],
            disruptive: true,
            workload: true,
        }
    }

    async fn run(&self, ctx: &mut SuiteCtx) -> anyhow::Result<()> {
        let p = ctx.platform.clone();
        let t = ctx.config.timeouts.clone();
        let members = p.members();
        anyhow::ensure!(members.len() >= 3, "a partition needs at least three members (a majority on one side); the manifest has {}", members.len());
        let hello = faults::write_hello(p.as_ref(), &members[0], t.operation).await?;
        let prefix = format!("{}/{}", ctx.prefix, ctx.name());
        // The register workload starts beside the runner's, and what cuts need (Kubernetes: each
        // pod's helper container) is made ready meanwhile. A failure of that is left to the first
        // probe, which reports it.
        let workload = ctx.config.workload.clone();
        let (prepared, register) = tokio::join!(partitions(p.as_ref(), "prepare cuts")?.prepare_cuts(&members), async {
            let mut addrs = Vec::new();
            for m in &members {
                addrs.push(p.client_addr(m).await?);
            }
            RegisterWorkload::start(addrs, &prefix, &workload, t.operation, RegisterOptions::default()).await
        });
        if let Err(e) = prepared {
            tracing::warn!("preparing the partitions: {e:#}");
        }
        let register = register?;
        ctx.mark("register workload started");
        let mut baseline = Baseline { register: &register, since: Instant::now(), done: false };

        let mut carried = None;
        for (n, scenario) in Scenario::ALL.into_iter().enumerate() {
            carried = round(ctx, scenario, &prefix, n, &mut baseline, carried).await;
            if carried.is_none() {
                break;
            }
        }
        if !baseline.done {
            // No cut was made: the workload still runs its full baseline, the evidence.
            tokio::time::sleep_until((baseline.since + BASELINE).into()).await;
        }

        let ops = register.recorded();
        let history = register.stop().await;
        ctx.mark(format!("register workload stopped ({ops} operations)"));
        judge_register(ctx, &history).await?;

        ctx.check("/hello intact after the partitions", faults::hello_intact(p.as_ref(), &members[0], hello.czxid, t.operation)).await;
        Ok(())
    }
}

/// The register workload's baseline (see [`BASELINE_OPS`]), waited for once, before the first cut.
struct Baseline<'a> {
    register: &'a RegisterWorkload,
    since: Instant,
    done: bool,
}

impl Baseline<'_> {
    async fn wait(&mut self, ctx: &mut SuiteCtx) {
        if self.done {
            return;
        }
        self.done = true;
        let answered = self.register.wait_completed(BASELINE_OPS, (self.since + BASELINE).into()).await;
        ctx.mark(format!("register baseline: {answered} operations answered"));
    }
}

/// What a round leaves the next: the ensemble as seen whole after the heal, and the probes made
/// then between every two members. Nothing touches the network between a heal and the next cut,
/// so the next round picks its member from that view and takes its proof that the probes can
/// open from those probes, instead of looking and probing again outside the recovery it times.
struct AfterHeal {
    view: EnsembleView,
    probes: Vec<(String, String, bool)>,
}

/// One partition, from proof that the probes can succeed to the ensemble whole after the heal.
/// None when a step failed (later partitions would build on a broken ensemble).
async fn round(ctx: &mut SuiteCtx, scenario: Scenario, prefix: &str, n: usize, baseline: &mut Baseline<'_>, carried: Option<AfterHeal>) -> Option<AfterHeal> {
    let p = ctx.platform.clone();
    let t = ctx.config.timeouts.clone();
    let port = p.manifest().pod_template().election_port();
    let key = scenario.key();

    let (view, earlier) = match carried {
        Some(AfterHeal { view, probes }) => (view, Some(probes)),
        None => match EnsembleView::observe(p.as_ref(), t.operation).await {
            Ok(v) => (v, None),
            Err(e) => {
                ctx.fail(&format!("{key}: the ensemble before the partition"), e);
                return None;
            }
        },
    };
    let picked = match scenario.role() {
        Mode::Leader => view.leaders().first().map(|s| s.to_string()),
        _ => view.followers().last().map(|s| s.to_string()),
    };
    let Some(member) = picked else {
        ctx.fail(&format!("{key}: a {:?} to cut off", scenario.role()).to_lowercase(), anyhow!("there is none: {}", view.describe()));
        return None;
    };
    let peers: Vec<String> = p.members().into_iter().filter(|m| *m != member).collect();
    let cut = Cut { member: member.clone(), peers: peers.clone(), one_way: scenario.one_way() };
    let pairs = pairs_of(&member, &peers);
    let what = cut.describe();

    // The probes must be able to succeed, or their failing under the cut would prove nothing.
    let open = async {
        match earlier {
            Some(all) => verdicts::all_reached(&involving(&all, &member)).map(|d| format!("{d}, probed after the last heal")),
            None => probes(p.as_ref(), &pairs, port).await.and_then(|b| verdicts::all_reached(&b)),
        }
    };
    ctx.step(&format!("{key}: before the cut, {member} and {} open each other's port {port}", peers.join(", ")), open).await.ok()?;

    baseline.wait(ctx).await;
    let mut injected = None;
    ctx.step_with(&format!("{key}: {what}"), async |ctx| {
        let (fault, set) = ctx.inject(&Action::Partition { cut: cut.clone() }).await;
        injected = Some(fault);
        set.map(|_| "the rules are set".to_string())
    })
    .await
    .ok()?;
    let fault = injected.expect("injected before its check");

    let in_force = async {
        let during = probes(p.as_ref(), &pairs, port).await;
        let counters = partitions(p.as_ref(), &format!("counters of {member}"))?.cut_counters(&member).await;
        during.and_then(|d| verdicts::cut_in_force(&d, &counters?, cut.one_way))
    };
    let ok = ctx.check(&format!("{key}: the partition is in force"), in_force).await;

    // The cut member noticing it lost the quorum and the majority electing (or keeping) a leader
    // happen side by side: wait for both at once, each timed when it was seen.
    let ok = ok && {
        let mut led = None;
        let stopped_ok = ctx
            .check_with(&format!("{key}: {member} stops serving"), async |ctx| {
                let (stopped, leader) = tokio::join!(async { wait_not_serving(p.as_ref(), &member, t.ensemble_whole, t.operation).await.map(|()| chrono::Utc::now()) }, async {
                    wait_majority_leader(p.as_ref(), &member, t.ensemble_whole, t.operation).await.map(|l| (l, chrono::Utc::now()))
                },);
                led = Some(leader);
                let ms = fault.ms_to(stopped?);
                ctx.metric(&format!("{key}.fault_to_not_serving_ms"), ms);
                Ok(format!("{member} says it is not serving {ms:.0} ms after the cut"))
            })
            .await;
        let served = ctx
            .check_with(&format!("{key}: a leader on the majority side serves a write"), async |ctx| {
                let (leader, at) = led.expect("waited for beside the stop")?;
                ctx.metric(&format!("{key}.fault_to_leader_ms"), fault.ms_to(at));
                ctx.mark_at(at, format!("{key}: {leader} leads the majority"));
                majority_write(p.as_ref(), &leader, &format!("{prefix}/partition-{n}"), t.operation).await.map(|w| format!("{leader} leads {}; {w}", peers.join(", ")))
            })
            .await;
        served && stopped_ok
    };

    if ok {
        tokio::time::sleep(HOLD).await;
    }

    // Healed whatever happened above; the ledger heals it too if this fails. The probes that
    // prove the heal and the wait for the ensemble to be whole run side by side, so the moment
    // it is whole is not noticed only after the probes. They probe every two members, not only
    // the healed one and its peers: the next round's proof that its probes can open.
    let heal_at = ctx.mark(format!("heal: {member}"));
    let mut seen = None;
    let healed_ok = ctx
        .check_with(&format!("{key}: healed, {member} and {} open each other's port {port} again", peers.join(", ")), async |ctx| {
            ctx.revert(&Revert::Mend { member: member.clone() }).await?;
            let everyone = every_pair(&p.members());
            let (after, (whole, whole_at)) = tokio::join!(probes(p.as_ref(), &everyone, port), async {
                let whole = fault.wait_whole(ctx, &format!("{key}.")).await;
                (whole, chrono::Utc::now())
            });
            let (healed, after) = match after {
                Ok(all) => (verdicts::all_reached(&involving(&all, &member)), Some(all)),
                Err(e) => (Err(e), None),
            };
            seen = Some((after, whole, whole_at));
            healed
        })
        .await;
    // The heal itself failed: the ledger heals it after the suite.
    let (after, whole, whole_at) = seen?;
    let view = whole.as_ref().ok().cloned();
    if view.is_some() {
        // wait_whole marked "whole again" just before it returned.
        ctx.metric(&format!("{key}.heal_to_whole_ms"), verdicts::ms_between(heal_at, whole_at));
    }
    let rejoined_ok = ctx.check(&format!("{key}: after the heal {member} rejoined, ensemble whole"), async { whole.and_then(|view| verdicts::rejoined(&view, &member)) }).await;
    match (view, after) {
        (Some(view), Some(probes)) if rejoined_ok && healed_ok && ok => Some(AfterHeal { view, probes }),
        _ => None,
    }
}

/// The probes of a cut of `member`: its election port and each peer's, both ways.
fn pairs_of(member: &str, peers: &[String]) -> Vec<(String, String)> {
    peers.iter().flat_map(|peer| [(member.to_string(), peer.clone()), (peer.clone(), member.to_string())]).collect()
}

/// Every two members, both ways.
fn every_pair(members: &[String]) -> Vec<(String, String)> {
    members.iter().flat_map(|from| members.iter().filter(move |to| *to != from).map(move |to| (from.clone(), to.clone()))).collect()
}

/// Of `probes`, those to or from `member`.
fn involving(probes: &[(String, String, bool)], member: &str) -> Vec<(String, String, bool)> {
    probes.iter().filter(|(from, to, _)| from == member || to == member).cloned().collect()
}

/// Whether each of `pairs` opens the other's election port: `(from, to, opened)`. The probes run
/// side by side (each takes up to a second where a cut drops its packets).
async fn probes(p: &dyn Platform, pairs: &[(String, String)], port: u16) -> anyhow::Result<Vec<(String, String, bool)>> {
    let filter = p.partitions().ok_or_else(|| anyhow::anyhow!("{} cannot probe between members", p.kind()))?;
    let opened = futures::future::try_join_all(pairs.iter().map(|(from, to)| filter.reaches(from, to, port))).await?;
    Ok(pairs.iter().cloned().zip(opened).map(|((from, to), o)| (from, to, o)).collect())
}

/// Waits until `member`'s server answers that it does not serve (it has lost its quorum).
async fn wait_not_serving(p: &dyn Platform, member: &str, deadline: Duration, op_timeout: Duration) -> anyhow::Result<()> {
    let addr = p.client_addr(member).await?;
    wait::until(&format!("{member} not serving"), deadline, None, || async {
        Ok(match fourlw::server_state(addr, op_timeout).await {
            Ok(None) => Seen::Done(()),
            Ok(Some(s)) => Seen::NotYet(format!("{member} still {:?}", s.mode).to_lowercase()),
            Err(e) => Seen::NotYet(format!("{member}: {e:#}")),
        })
    })
    .await
}

/// Waits until the members other than `cut` have one leader that serves; returns it.
async fn wait_majority_leader(p: &dyn Platform, cut: &str, deadline: Duration, op_timeout: Duration) -> anyhow::Result<String> {
    wait::until(&format!("a leader among the members other than {cut}"), deadline, None, || async {
        let view = EnsembleView::observe(p, op_timeout).await?;
        Ok(match verdicts::majority_leader(&view, cut) {
            Ok(leader) => Seen::Done(leader),
            Err(why) => Seen::NotYet(why),
        })
    })
    .await
}

/// Creates `path` through `member` (a new znode, so the answer is a write the quorum made).
async fn majority_write(p: &dyn Platform, member: &str, path: &str, op_timeout: Duration) -> anyhow::Result<String> {
    let zk = crate::client::connect(p.client_addr(member).await?, op_timeout).await?;
    let opts = zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    let (stat, _) =
        tokio::time::timeout(op_timeout, zk.create(path, b"majority", &opts)).await.map_err(|_| anyhow!("create {path} through {member}: no answer within {op_timeout:?}"))??;
    Ok(format!("create {path} through {member} acknowledged (zxid {:#x})", stat.czxid))
}

/// Saves the register history and records its three judgements.
async fn judge_register(ctx: &mut SuiteCtx, history: &RegisterHistory) -> anyhow::Result<()> {
    let file = ctx.artifact_path(REGISTER_FILE)?;
    history.save(&file)?;
    let mut checked = None;
    ctx.check(LINEARIZABLE, async {
        let verdict = register::check(history, CHECK_BUDGET);
        let judged = verdicts::register_linearizable(history, &verdict);
        checked = Some(verdict);
        judged
    })
    .await;
    let verdict = checked.expect("checked above");
    let mut sync_reads = Vec::new();
    ctx.check(GUARANTEES, async {
        let g = register::judge(history);
        sync_reads = g.sync_reads;
        verdicts::breaches(history, g.zxid_order.iter().chain(&g.session_order))
    })
    .await;
    ctx.check(SYNC_READS, async { verdicts::breaches(history, &sync_reads) }).await;
    let failing_part = match &verdict {
        Verdict::NotLinearizable { part, .. } => {
            let file = ctx.artifact_path(FAILING_PART_FILE)?;
            std::fs::write(&file, serde_json::to_string_pretty(part)?)?;
            Some((**part).clone())
        }
        _ => None,
    };
    ctx.set_register(RegisterSummary { operations: history.ops.len(), history_file: format!("{}/{REGISTER_FILE}", ctx.name()), verdict: verdict.describe(), failing_part });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scenarios_cut_the_leader_a_follower_and_the_leader_one_way() {
        let s: Vec<(Mode, bool)> = Scenario::ALL.iter().map(|s| (s.role(), s.one_way())).collect();
        assert_eq!(s, [(Mode::Leader, false), (Mode::Follower, false), (Mode::Leader, true)]);
        let keys: std::collections::BTreeSet<_> = Scenario::ALL.iter().map(|s| s.key()).collect();
        assert_eq!(keys.len(), 3, "each scenario's metrics are its own");
    }

    /// The probes made after a heal, between every two members, hold each next cut's pairs: its
    /// member and each peer, both ways, and no other.
    #[test]
    fn the_probes_after_a_heal_hold_the_next_cuts_pairs() {
        for n in [3, 5] {
            let members: Vec<String> = (0..n).map(|i| format!("zk-{i}")).collect();
            let all: Vec<(String, String, bool)> = every_pair(&members).into_iter().map(|(f, t)| (f, t, true)).collect();
            assert_eq!(all.len(), n * (n - 1));
            assert_eq!(all.iter().collect::<std::collections::BTreeSet<_>>().len(), all.len(), "each pair once");
            for m in &members {
                let peers: Vec<String> = members.iter().filter(|p| *p != m).cloned().collect();
                let mut want: Vec<(String, String, bool)> = pairs_of(m, &peers).into_iter().map(|(f, t)| (f, t, true)).collect();
                let mut got = involving(&all, m);
                want.sort();
                got.sort();
                assert_eq!(got, want, "{m}");
                assert_eq!(got.len(), 2 * (n - 1));
            }
        }
    }

    #[test]
    fn a_run_with_nothing_to_judge_is_not_judged_linearizable() {
        let empty = RegisterHistory::default();
        assert!(verdicts::register_linearizable(&empty, &register::check(&empty, CHECK_BUDGET)).is_err());
    }
}
