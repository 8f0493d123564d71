//! Faults as values and the one ledger of what they left to undo.
//!
//! An [`Action`] is what a suite does to the ensemble (kill or stop the server, break a file, delete the
//! StatefulSet, patch or roll back its template, cordon a node, evict a pod, partition a member): it has a name for the
//! timeline, an `inject` that does it through the [`Platform`] and returns what the platform
//! answered, and, where one exists, a [`Revert`]. [`SuiteCtx::inject`](super::SuiteCtx::inject)
//! writes the revert into the suite's [`Ledger`] *before* injecting (an action that failed after
//! taking effect is undone too). A suite that undoes a fault itself as one of its steps (re-create
//! the StatefulSet, uncordon a node) does it through the ledger; whatever is left when the suite
//! returns, fails or panics, the runner reverts; if the suite is dropped (Ctrl-C), the ledger's
//! `Drop` starts the reverts that the platform's teardown would not make (uncordons: the nodes
//! are not the run's).
//!
//! The proof that a fault happened stays with the suite that knows what to expect (the container
//! exited, the eviction was refused): see [`super::verdicts`].

use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context};

use crate::platform::{partitions, Cut, EvictionOutcome, ExecOutput, Platform};

/// What a suite does to the ensemble.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// SIGTERM to the ZooKeeper server's java process in a member's container, found through
    /// `/proc` ([`super::process`]): what the walkthrough's kill of java does, without procps in the image.
    KillServer { member: String },
    /// `rm <path>` in a member's container.
    RemoveFile { member: String, path: String },
    /// `chmod a-x <path>` in a member's container.
    Unexecutable { member: String, path: String },
    /// A signal (`STOP`) to a process of a member's container, through the shell's `kill`.
    Signal { member: String, pid: u32, signal: String },
    /// A signal (`STOP`) to the init process of a member's server container, sent from outside the
    /// container ([`Platform::signal_container`]): a server that is its container's pid 1.
    SignalContainer { member: String, signal: String },
    /// Delete the StatefulSet: its pods go, its volumes stay.
    DeleteStatefulSet,
    /// A JSON patch of the StatefulSet (`what` names it: "cpu request 0.3").
    PatchTemplate { patch: json_patch::Patch, what: String },
    /// `kubectl rollout undo`.
    Rollback,
    /// Set the server container's image to `image` (`kubectl set image`); the revert sets
    /// `back_to` (the deployment's own image) again.
    SetImage { image: String, back_to: String },
    /// Mark a node unschedulable.
    Cordon { node: String },
    /// Ask the Eviction API to evict a member's pod.
    Evict { member: String },
    /// Drop packets between a member and its peers (or only its own to them).
    Partition { cut: Cut },
    /// Set the StatefulSet's replicas from `from` to `to` (`kubectl scale`); undone by setting
    /// them back to `back_to`, the replicas the suite started with.
    Scale { from: usize, to: usize, back_to: usize },
}

/// What the platform answered to an action.
#[derive(Debug, Clone, PartialEq)]
pub enum Injected {
    /// The command the action ran in a member, and how it ended.
    Exec(ExecOutput),
    /// The Eviction API's answer.
    Eviction(EvictionOutcome),
    /// The platform accepted the change.
    Accepted,
    /// The platform did it, saying how (a signal sent from outside a container).
    Done(String),
}

/// How a fault is undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revert {
    Uncordon {
        node: String,
    },
    /// Create the StatefulSet again from the manifest.
    RecreateStatefulSet,
    /// Remove a member's partition rules.
    Mend {
        member: String,
    },
    /// Let a stopped process go on (SIGCONT); a process gone with its container is no error.
    Continue {
        member: String,
        pid: u32,
    },
    /// SIGCONT to the init process of a member's server container, from outside it; a container
    /// restarted meanwhile has nothing stopped, and is no error.
    ContinueContainer {
        member: String,
    },
    /// Set the StatefulSet's replicas back.
    Scale {
        to: usize,
    },
    /// Set the server's image back to `image` and delete every pod that is not Ready (the forced
    /// rollback: a StatefulSet whose rollout stopped at a pod that never became Ready waits for
    /// it even after the template is set back).
    RestoreImage {
        image: String,
    },
}

impl Action {
    pub fn name(&self) -> String {
        match self {
            Action::KillServer { member } => format!("kill java in {member}"),
            Action::RemoveFile { member, path } => format!("rm {path} in {member}"),
            Action::Unexecutable { member, path } => format!("chmod a-x {path} in {member}"),
            Action::Signal { member, pid, signal } => format!("kill -{signal} {pid} (java) in {member}"),
            Action::SignalContainer { member, signal } => format!("kill -{signal} {member}'s container (java, pid 1) from outside"),
            Action::DeleteStatefulSet => "delete the StatefulSet".into(),
            Action::PatchTemplate { what, .. } => format!("patch the StatefulSet: {what}"),
            Action::Rollback => "roll back (rollout undo)".into(),
            Action::SetImage { image, .. } => format!("set the server's image to {image}"),
            Action::Cordon { node } => format!("cordon {node}"),
            Action::Evict { member } => format!("evict {member}"),
            Action::Partition { cut } => format!("partition: {}", cut.describe()),
            Action::Scale { from, to, .. } => format!("scale the StatefulSet from {from} to {to} replicas"),
        }
    }

    /// How to undo it; `None` where the platform itself recovers (a killed container is
    /// restarted) or where undoing is the suite's next fault (a rollback after a patch).
    pub fn revert(&self) -> Option<Revert> {
        match self {
            Action::Cordon { node } => Some(Revert::Uncordon { node: node.clone() }),
            Action::DeleteStatefulSet => Some(Revert::RecreateStatefulSet),
            Action::SetImage { back_to, .. } => Some(Revert::RestoreImage { image: back_to.clone() }),
            Action::Partition { cut } => Some(Revert::Mend { member: cut.member.clone() }),
            Action::Scale { back_to, .. } => Some(Revert::Scale { to: *back_to }),
            Action::Signal { member, pid, signal } if signal == "STOP" => Some(Revert::Continue { member: member.clone(), pid: *pid }),
            Action::SignalContainer { member, signal } if signal == "STOP" => Some(Revert::ContinueContainer { member: member.clone() }),
            _ => None,
        }
    }

    /// Does it. An exec that ran is `Ok` whatever its exit status (the suite judges that); an
    /// error is the platform's.
    pub async fn inject(&self, p: &dyn Platform) -> anyhow::Result<Injected> {
        match self {
            Action::KillServer { member } => {
                let server = super::process::server(p, member).await?;
                let argv = super::process::signal_argv(server.pid, "TERM");
                Ok(Injected::Exec(p.exec(member, &argv.iter().map(String::as_str).collect::<Vec<_>>()).await?))
            }
            Action::RemoveFile { member, path } => Ok(Injected::Exec(p.exec(member, &["rm", path]).await?)),
            Action::Unexecutable { member, path } => Ok(Injected::Exec(p.exec(member, &["chmod", "a-x", path]).await?)),
            Action::Signal { member, pid, signal } => {
                let argv = super::process::signal_argv(*pid, signal);
                Ok(Injected::Exec(p.exec(member, &argv.iter().map(String::as_str).collect::<Vec<_>>()).await?))
            }
            Action::SignalContainer { member, signal } => p.signal_container(member, signal).await.map(Injected::Done),
            Action::DeleteStatefulSet => p.delete_statefulset().await.map(|()| Injected::Accepted),
            Action::PatchTemplate { patch, .. } => p.patch_statefulset(patch).await.map(|()| Injected::Accepted),
            Action::Rollback => p.rollback().await.map(|()| Injected::Accepted),
            Action::SetImage { image, .. } => p.set_image(image).await.map(|()| Injected::Accepted),
            Action::Cordon { node } => {
                let c = p.cluster().ok_or_else(|| anyhow!("{} has no nodes to cordon", p.kind()))?;
                c.cordon(node).await.with_context(|| format!("cordon {node}")).map(|()| Injected::Accepted)
            }
            Action::Evict { member } => {
                let c = p.cluster().ok_or_else(|| anyhow!("{} has no pods to evict", p.kind()))?;
                Ok(Injected::Eviction(c.evict(member).await?))
            }
            Action::Partition { cut } => partitions(p, &format!("cut {}", cut.member))?.cut(cut).await.map(|()| Injected::Accepted),
            Action::Scale { to, .. } => p.scale(*to).await.map(|()| Injected::Accepted),
        }
    }
}

impl Revert {
    pub fn name(&self) -> String {
        match self {
            Revert::Uncordon { node } => format!("uncordon {node}"),
            Revert::RecreateStatefulSet => "re-create the StatefulSet".into(),
            Revert::Mend { member } => format!("heal the partition of {member}"),
            Revert::Continue { member, pid } => format!("kill -CONT {pid} (java) in {member}"),
            Revert::ContinueContainer { member } => format!("kill -CONT {member}'s container (java, pid 1) from outside"),
            Revert::Scale { to } => format!("scale the StatefulSet back to {to} replicas"),
            Revert::RestoreImage { image } => format!("set the server's image back to {image}, deleting the pods that are not Ready"),
        }
    }

    pub async fn apply(&self, p: &dyn Platform) -> anyhow::Result<()> {
        match self {
            Revert::Uncordon { node } => {
                let c = p.cluster().ok_or_else(|| anyhow!("{} has no nodes to uncordon", p.kind()))?;
                c.uncordon(node).await.with_context(|| format!("uncordon {node}"))
            }
            Revert::RecreateStatefulSet => p.apply_statefulset().await.context("re-create the StatefulSet"),
            Revert::Mend { member } => partitions(p, &format!("mend {member}"))?.mend(member).await.with_context(|| format!("heal the partition of {member}")),
            Revert::Continue { member, pid } => {
                // The liveness kill usually ends the stopped process with its container; a
                // restarted container has nothing stopped, and a signal to a running process is
                // harmless. Only an exec that could not run at all is an error.
                let argv = [String::from("sh"), "-c".into(), format!("kill -CONT {pid} 2>/dev/null; true")];
                p.exec(member, &argv.iter().map(String::as_str).collect::<Vec<_>>()).await.map(|_| ()).with_context(|| format!("kill -CONT {pid} in {member}"))
            }
            Revert::ContinueContainer { member } => p.signal_container(member, "CONT").await.map(drop).with_context(|| format!("kill -CONT {member}'s container from outside")),
            Revert::Scale { to } => p.scale(*to).await.with_context(|| format!("scale the StatefulSet back to {to} replicas")),
            Revert::RestoreImage { image } => {
                p.set_image(image).await.with_context(|| format!("set the server's image back to {image}"))?;
                for m in p.members() {
                    if !p.status(&m).await?.ready {
                        p.delete_member(&m).await?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Whether it must still be made when the run is interrupted: the teardown removes the run's
    /// own objects (a deleted StatefulSet need not come back), but the nodes are not the run's,
    /// and a run kept with `--keep` keeps its members: a partition is never left in place.
    fn outlives_the_run(&self) -> bool {
        matches!(self, Revert::Uncordon { .. } | Revert::Mend { .. } | Revert::Continue { .. } | Revert::ContinueContainer { .. })
    }
}

/// What the suite's faults left to undo, oldest first. Shared: clones see the same entries.
#[derive(Clone)]
pub struct Ledger {
    platform: Arc<dyn Platform>,
    owed: Arc<Mutex<Vec<Revert>>>,
}

impl Ledger {
    pub fn new(platform: Arc<dyn Platform>) -> Ledger {
        Ledger { platform, owed: Arc::new(Mutex::new(Vec::new())) }
    }

    /// Writes `r` down (once: cordoning a cordoned node owes one uncordon).
    pub fn owe(&self, r: Revert) {
        let mut owed = self.owed.lock().expect("ledger lock");
        if !owed.contains(&r) {
            owed.push(r);
        }
    }

    /// Crosses `r` out unmade: the fault it undoes was never made (the platform could not).
    pub fn forgive(&self, r: &Revert) {
        self.owed.lock().expect("ledger lock").retain(|x| x != r);
    }

    /// What is still owed, oldest first.
    pub fn owed(&self) -> Vec<Revert> {
        self.owed.lock().expect("ledger lock").clone()
    }

    /// Makes `r` now (a suite's own step, such as the walkthrough's re-creation); crossed out once
    /// it succeeded, kept for the runner if it failed.
    pub async fn revert(&self, r: &Revert) -> anyhow::Result<()> {
        r.apply(self.platform.as_ref()).await?;
        self.owed.lock().expect("ledger lock").retain(|x| x != r);
        Ok(())
    }

    /// Makes every revert still owed, newest first; names what was reverted, or fails naming
    /// what could not be (those stay owed).
    pub async fn revert_all(&self) -> anyhow::Result<Vec<String>> {
        let mut done = Vec::new();
        let mut errors = Vec::new();
        for r in self.owed().into_iter().rev() {
            match self.revert(&r).await {
                Ok(()) => done.push(r.name()),
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        if errors.is_empty() {
            Ok(done)
        } else {
            bail!("{}", errors.join("; "))
        }
    }
}

impl Drop for Ledger {
    /// The last holder dropped with reverts still owed (the suite's future dropped on Ctrl-C):
    /// start the ones the teardown would not make.
    fn drop(&mut self) {
        if Arc::strong_count(&self.owed) > 1 {
            return;
        }
        let left: Vec<Revert> = std::mem::take(&mut *self.owed.lock().expect("ledger lock")).into_iter().filter(Revert::outlives_the_run).collect();
        if left.is_empty() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("could not {} after the suite was stopped: no runtime", left.iter().map(Revert::name).collect::<Vec<_>>().join(", "));
            return;
        };
        let p = self.platform.clone();
        rt.spawn(async move {
            for r in left.iter().rev() {
                if let Err(e) = r.apply(p.as_ref()).await {
                    tracing::warn!("{} after the suite was stopped: {e:#}", r.name());
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::{Call, FakePlatform};
    use super::*;

    fn ledger() -> (Arc<FakePlatform>, Ledger) {
        let fake = Arc::new(FakePlatform::new().with_history());
        let p: Arc<dyn Platform> = fake.clone();
        (fake, Ledger::new(p))
    }

    #[test]
    fn every_action_has_a_name_and_only_cordons_and_deletions_a_revert() {
        let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([])).unwrap();
        let cases = [
            (Action::KillServer { member: "zk-1".into() }, "kill java in zk-1", None),
            (Action::RemoveFile { member: "zk-0".into(), path: "/opt/probe.sh".into() }, "rm /opt/probe.sh in zk-0", None),
            (Action::Unexecutable { member: "zk-0".into(), path: "/opt/probe.sh".into() }, "chmod a-x /opt/probe.sh in zk-0", None),
            (Action::Signal { member: "zk-0".into(), pid: 7, signal: "STOP".into() }, "kill -STOP 7 (java) in zk-0", Some(Revert::Continue { member: "zk-0".into(), pid: 7 })),
            (Action::Signal { member: "zk-0".into(), pid: 7, signal: "CONT".into() }, "kill -CONT 7 (java) in zk-0", None),
            (Action::DeleteStatefulSet, "delete the StatefulSet", Some(Revert::RecreateStatefulSet)),
            (Action::PatchTemplate { patch, what: "cpu request 0.3".into() }, "patch the StatefulSet: cpu request 0.3", None),
            (Action::Rollback, "roll back (rollout undo)", None),
            (Action::SetImage { image: "zk:b".into(), back_to: "zk:a".into() }, "set the server's image to zk:b", Some(Revert::RestoreImage { image: "zk:a".into() })),
            (Action::Cordon { node: "w1".into() }, "cordon w1", Some(Revert::Uncordon { node: "w1".into() })),
            (Action::Evict { member: "zk-2".into() }, "evict zk-2", None),
        ];
        for (action, name, revert) in cases {
            assert_eq!(action.name(), name);
            assert_eq!(action.revert(), revert, "{name}");
        }
        assert_eq!(Revert::Uncordon { node: "w1".into() }.name(), "uncordon w1");
        assert_eq!(Revert::RecreateStatefulSet.name(), "re-create the StatefulSet");
        assert_eq!(Revert::Continue { member: "zk-0".into(), pid: 7 }.name(), "kill -CONT 7 (java) in zk-0");
        assert_eq!(Revert::RestoreImage { image: "zk:a".into() }.name(), "set the server's image back to zk:a, deleting the pods that are not Ready");
    }

    #[tokio::test]
    async fn each_action_is_injected_through_the_platform() {
        let (fake, _) = ledger();
        let p: &dyn Platform = fake.as_ref();
        // First: the fake's budget refuses an eviction while a member is down.
        let ev = Action::Evict { member: "zk-2".into() }.inject(p).await.unwrap();
        assert_eq!(ev, Injected::Eviction(EvictionOutcome::Accepted));
        let kill = Action::KillServer { member: "zk-1".into() }.inject(p).await.unwrap();
        assert!(matches!(kill, Injected::Exec(ref o) if o.success()), "{kill:?}");
        Action::RemoveFile { member: "zk-0".into(), path: "/x".into() }.inject(p).await.unwrap();
        Action::DeleteStatefulSet.inject(p).await.unwrap();
        Action::Rollback.inject(p).await.unwrap();
        Action::Cordon { node: "w1".into() }.inject(p).await.unwrap();
        assert_eq!(
            fake.calls(),
            [
                Call::Evict("zk-2".into()),
                Call::Exec("zk-1".into(), format!("sh -c {}", crate::process::SCAN)),
                Call::Exec("zk-1".into(), "sh -c kill -TERM 7".into()),
                Call::Exec("zk-0".into(), "rm /x".into()),
                Call::DeleteStatefulSet,
                Call::Rollback,
                Call::Cordon("w1".into()),
            ]
        );
    }

    #[tokio::test]
    async fn a_platform_without_nodes_refuses_cordons_and_evictions() {
        let fake = Arc::new(FakePlatform::without_nodes());
        let err = Action::Cordon { node: "w1".into() }.inject(fake.as_ref()).await.unwrap_err().to_string();
        assert_eq!(err, "docker has no nodes to cordon");
        assert!(Action::Evict { member: "zk-0".into() }.inject(fake.as_ref()).await.is_err());
        assert!(Revert::Uncordon { node: "w1".into() }.apply(fake.as_ref()).await.is_err());
        assert!(fake.calls().is_empty());
    }

    #[tokio::test]
    async fn owed_reverts_are_kept_once_and_made_newest_first() {
        let (fake, l) = ledger();
        l.owe(Revert::Uncordon { node: "w1".into() });
        l.owe(Revert::RecreateStatefulSet);
        l.owe(Revert::Uncordon { node: "w1".into() });
        assert_eq!(l.owed().len(), 2);
        assert_eq!(l.revert_all().await.unwrap(), ["re-create the StatefulSet", "uncordon w1"]);
        assert_eq!(fake.calls(), [Call::ApplyStatefulSet, Call::Uncordon("w1".into())]);
        assert!(l.owed().is_empty());
        assert!(l.revert_all().await.unwrap().is_empty(), "nothing twice");
        assert_eq!(fake.calls().len(), 2);
    }

    #[tokio::test]
    async fn a_revert_that_fails_stays_owed_and_the_others_are_still_made() {
        let (fake, l) = ledger();
        fake.fail_uncordon("w2");
        for n in ["w1", "w2", "w3"] {
            l.owe(Revert::Uncordon { node: n.into() });
        }
        let err = l.revert_all().await.unwrap_err().to_string();
        assert_eq!(err, "uncordon w2: the API server is unavailable");
        assert_eq!(l.owed(), [Revert::Uncordon { node: "w2".into() }]);
        assert_eq!(fake.calls(), [Call::Uncordon("w3".into()), Call::Uncordon("w1".into())]);
        // A suite's own revert that fails stays owed for the runner too.
        assert!(l.revert(&Revert::Uncordon { node: "w2".into() }).await.is_err());
        assert_eq!(l.owed().len(), 1);
    }

    #[tokio::test]
    async fn a_dropped_ledger_starts_the_uncordons_but_leaves_the_statefulset_to_the_teardown() {
        let (fake, l) = ledger();
        l.owe(Revert::RecreateStatefulSet);
        l.owe(Revert::Uncordon { node: "w3".into() });
        let clone = l.clone();
        drop(clone);
        assert!(fake.calls().is_empty(), "a clone dropped while another holder lives does nothing");
        drop(l); // as when Ctrl-C drops the suite's future
        for _ in 0..100 {
            if !fake.calls().is_empty() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(fake.calls(), [Call::Uncordon("w3".into())]);
    }
}
