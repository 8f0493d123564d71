//! `durability` ("Providing durable storage", TUTORIAL.md 6): deleting the StatefulSet removes every member but keeps
//! their volumes; re-creating it brings back every member on the same volume, and `/hello` reads
//! through zk-2 with its original cZxid.

use std::collections::BTreeMap;

use anyhow::{bail, ensure};
use async_trait::async_trait;

use super::faults;
use super::ledger::{Action, Revert};
use super::{verdicts, walkthrough, About, Suite, SuiteCtx};
use crate::ensemble::EnsembleView;
use crate::platform::{LifecycleKind, VolumeIdentity};
use crate::wait::{self, Seen};

pub struct Durability;

#[async_trait]
impl Suite for Durability {
    fn about(&self) -> &'static About {
        &About {
            name: "durability",
            sections: &[&walkthrough::DURABLE_STORAGE],
            summary: "delete the StatefulSet (volumes stay), re-create it: same volumes, /hello with its original cZxid, no zxid going back",
            needs: &[],
            disruptive: true,
            workload: true,
        }
    }

    fn changes_statefulset(&self) -> Option<crate::platform::StatefulSetChange> {
        Some(crate::platform::StatefulSetChange::Delete)
    }

    async fn run(&self, ctx: &mut SuiteCtx) -> anyhow::Result<()> {
        let p = ctx.platform.clone();
        let t = ctx.config.timeouts.clone();
        let members = p.members();
        let last = members.last().cloned().unwrap_or_default();
        let hello = faults::write_hello(p.as_ref(), &members[0], t.operation).await?;

        let mut volumes_before = BTreeMap::new();
        for m in &members {
            volumes_before.insert(m.clone(), p.volumes(m).await?);
        }
        let before = EnsembleView::observe(p.as_ref(), t.operation).await?;
        let zxid_before: BTreeMap<String, i64> = before.members.iter().filter_map(|m| m.server.as_ref().ok().cloned().flatten().map(|s| (m.status.name.clone(), s.zxid))).collect();

        let (fault, deleted) = ctx.inject(&Action::DeleteStatefulSet).await;
        deleted?;
        ctx.step("every member is gone after the StatefulSet was deleted", async {
            wait::until("every member gone", t.member_ready, Some(p.subscribe()), || async {
                let left = verdicts::still_there(&super::faults::statuses(p.as_ref(), &members).await?);
                Ok(if left.is_empty() { Seen::Done(()) } else { Seen::NotYet(format!("still there: {}", left.join(", "))) })
            })
            .await?;
            Ok(format!("{} members gone {} ms after the deletion", members.len(), fault.clock.elapsed().as_millis()))
        })
        .await?;
        ctx.check("the members had persistent volumes", async {
            let mut kept = Vec::new();
            for (m, vols) in &volumes_before {
                for v in vols {
                    kept.push(format!("{} ({m})", v.claim));
                }
            }
            ensure!(!kept.is_empty(), "the members have no persistent volume: nothing can survive the deletion (the manifest has no volumeClaimTemplates)");
            Ok(format!("volumes kept: {}", kept.join(", ")))
        })
        .await;

        ctx.mark("re-create the StatefulSet from the manifest");
        ctx.revert(&Revert::RecreateStatefulSet).await?;
        ctx.step_with(&format!("{last} Ready after re-creation"), async |ctx| {
            let ready = fault.wait_event(p.as_ref(), &last, &[LifecycleKind::Ready], t.member_ready * members.len() as u32).await?;
            ctx.metric("fault_to_ready_ms", fault.ms_to(ready.at));
            Ok(format!("{last} Ready {} ms after the deletion", fault.ms_to(ready.at)))
        })
        .await?;

        // Whole first: the recovery time is the ensemble's, not the reads' after it.
        ctx.check_with("ensemble whole again, no member's last zxid went back", async |ctx| {
            let view = fault.wait_whole(ctx, "").await?;
            verdicts::zxids_never_back(&zxid_before, &view)
        })
        .await;
        ctx.check(&format!("/hello through {last} with its original cZxid"), faults::hello_intact_within(p.as_ref(), &last, hello.czxid, t.operation, t.ensemble_whole)).await;
        for m in &members {
            ctx.check(&format!("{m} mounts the same volume as before"), async { same_volumes(m, &volumes_before[m], &p.volumes(m).await?) }).await;
        }
        Ok(())
    }
}

/// The member mounts exactly the volumes it had, by identity, not just by name.
fn same_volumes(member: &str, was: &[VolumeIdentity], now: &[VolumeIdentity]) -> anyhow::Result<String> {
    ensure!(!was.is_empty(), "{member} had no persistent volume before the deletion");
    for v in was {
        match now.iter().find(|n| n.claim == v.claim) {
            Some(n) if n.id == v.id => {}
            Some(n) => bail!("{member}'s volume {} was re-created: it was {} and is now {}", v.claim, v.id, n.id),
            None => bail!("{member} no longer mounts {}", v.claim),
        }
    }
    Ok(was.iter().map(|v| format!("{} ({})", v.claim, v.id)).collect::<Vec<_>>().join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(claim: &str, id: &str) -> VolumeIdentity {
        VolumeIdentity { claim: claim.into(), id: id.into() }
    }

    #[test]
    fn volumes_are_compared_by_identity() {
        assert!(same_volumes("zk-0", &[vol("datadir-zk-0", "a")], &[vol("datadir-zk-0", "a")]).is_ok());
        let err = same_volumes("zk-0", &[vol("datadir-zk-0", "a")], &[vol("datadir-zk-0", "b")]).unwrap_err().to_string();
        assert!(err.contains("was re-created"), "{err}");
        let err = same_volumes("zk-0", &[vol("datadir-zk-0", "a")], &[]).unwrap_err().to_string();
        assert!(err.contains("no longer mounts"), "{err}");
        let err = same_volumes("zk-0", &[], &[]).unwrap_err().to_string();
        assert!(err.contains("had no persistent volume"), "{err}");
    }
}
