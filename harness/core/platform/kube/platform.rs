//! [`Platform`] and [`Partitions`] for [`KubePlatform`]: the trait methods, each a thin call of
//! the inherent methods and the modules beside this one.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use async_trait::async_trait;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolume, PersistentVolumeClaim};
use kube::api::{Api, DeleteParams, ListParams, LogParams, Patch, PatchParams};
use serde_json::Value;
use tokio::sync::watch;

use crate::manifest::Manifest;
use crate::platform::{
    Cluster, Cut, CutCounters, ExecOutput, Identity, LifecycleEvent, MemberStatus, Partitions, Platform, Revision, StatefulSetChange, VolumeIdentity, RUN_LABEL,
};

use super::*;

#[async_trait]
impl Platform for KubePlatform {
    fn partitions(&self) -> Option<&dyn Partitions> {
        Some(self)
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    fn notes(&self) -> Vec<String> {
        let mut n = vec![format!("context {}, namespace {}", self.context, self.identity.namespace)];
        n.extend(self.notes.lock().expect("notes lock").iter().cloned());
        n
    }

    async fn deploy(&self) -> anyhow::Result<()> {
        if self.adopted {
            // Nothing to apply: the ensemble must already be whole, as the user runs it.
            self.start_poller();
            for m in self.members() {
                self.wait_ready(&m, self.config.timeouts.member_ready).await.context("the adopted ensemble is not whole")?;
            }
            return Ok(());
        }
        self.ensure_namespace().await?;
        if !self.own_namespace {
            self.note(format!("namespace {} given with --namespace: the run removes only its own objects from it", self.identity.namespace));
        }
        self.start_poller();
        // Services and the budget first, the StatefulSet last (as `kubectl apply -f` does in file order).
        for d in self.manifest.documents.iter().filter(|d| !crate::manifest::is_statefulset(d)) {
            self.apply(d).await?;
        }
        self.apply(self.manifest.statefulset_document()).await?;
        for m in self.members() {
            self.wait_ready(&m, self.config.timeouts.member_ready).await?;
        }
        Ok(())
    }

    fn members(&self) -> Vec<String> {
        crate::platform::member_names(self.manifest.name(), self.replicas.load(std::sync::atomic::Ordering::SeqCst))
    }

    async fn status(&self, member: &str) -> anyhow::Result<MemberStatus> {
        let ordinal = self.ordinal(member)?;
        let pods = self.pods();
        let pod = reread(|| pods.get_opt(member)).await?;
        Ok(member_status(member, ordinal, pod.as_ref()))
    }

    async fn watched_status(&self, member: &str) -> anyhow::Result<MemberStatus> {
        let ordinal = self.ordinal(member)?;
        match self.watched.pod(member) {
            Some(pod) => Ok(member_status(member, ordinal, pod.as_ref())),
            None => self.status(member).await,
        }
    }

    async fn client_addr(&self, member: &str) -> anyhow::Result<SocketAddr> {
        let mut fw = self.forwards.lock().await;
        if let Some((addr, _)) = fw.get(member) {
            return Ok(*addr);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding a loopback port for port-forward")?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(forward_loop(listener, self.pods(), member.to_string(), self.client_port()));
        fw.insert(member.to_string(), (addr, task));
        Ok(addr)
    }

    async fn exec(&self, member: &str, argv: &[&str]) -> anyhow::Result<ExecOutput> {
        self.exec_in(member, None, argv).await
    }

    async fn signal_container(&self, member: &str, signal: &str) -> anyhow::Result<String> {
        self.signal_from_node(member, signal).await
    }

    async fn logs(&self, member: &str, tail: Option<usize>) -> anyhow::Result<String> {
        let lp = LogParams { tail_lines: tail.map(|t| t as i64), ..LogParams::default() };
        Ok(self.pods().logs(member, &lp).await?)
    }

    async fn volumes(&self, member: &str) -> anyhow::Result<Vec<VolumeIdentity>> {
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &self.identity.namespace);
        let pvs: Api<PersistentVolume> = Api::all(self.client.clone());
        let mut out = Vec::new();
        for t in self.manifest.pod_template().claim_templates {
            let claim = format!("{t}-{member}");
            let Some(pvc) = pvcs.get_opt(&claim).await? else { continue };
            let id = match pvc.spec.as_ref().and_then(|s| s.volume_name.clone()) {
                Some(pv) => pvs.get(&pv).await?.metadata.uid.unwrap_or(pv),
                None => bail!("{claim} is not bound to a volume yet"),
            };
            out.push(VolumeIdentity { claim, id });
        }
        Ok(out)
    }

    fn lifecycle(&self) -> Vec<LifecycleEvent> {
        self.life.events()
    }
    fn subscribe(&self) -> watch::Receiver<u64> {
        self.life.subscribe()
    }

    async fn delete_statefulset(&self) -> anyhow::Result<()> {
        self.statefulsets().delete(self.manifest.name(), &DeleteParams::background()).await?;
        Ok(())
    }

    async fn apply_statefulset(&self) -> anyhow::Result<()> {
        if self.adopted {
            return self.recreate_as_found().await;
        }
        self.apply(self.manifest.statefulset_document()).await
    }

    async fn statefulset_change_refused(&self, change: StatefulSetChange) -> anyhow::Result<Option<String>> {
        if !self.adopted {
            return Ok(None);
        }
        Ok(adopt::change_refused(&self.live_statefulset().await?, change))
    }

    async fn patch_statefulset(&self, patch: &json_patch::Patch) -> anyhow::Result<()> {
        self.statefulsets().patch(self.manifest.name(), &PatchParams::default(), &Patch::<()>::Json(patch.clone())).await?;
        Ok(())
    }

    /// Through the StatefulSet's scale subresource, as `kubectl scale` does; the controller then
    /// creates or removes the pods.
    async fn scale(&self, replicas: usize) -> anyhow::Result<()> {
        let patch = serde_json::json!({ "spec": { "replicas": replicas } });
        self.statefulsets()
            .patch_scale(self.manifest.name(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .with_context(|| format!("scaling StatefulSet {} to {replicas} replicas", self.manifest.name()))?;
        self.replicas.store(replicas, std::sync::atomic::Ordering::SeqCst);
        self.life.poke();
        Ok(())
    }

    async fn delete_member(&self, member: &str) -> anyhow::Result<()> {
        if !self.manifest.member_names().iter().any(|m| m == member) {
            bail!("{member} is not a member of StatefulSet {}", self.manifest.name());
        }
        self.pods().delete(member, &DeleteParams::default()).await.with_context(|| format!("delete pod {member}"))?;
        Ok(())
    }

    async fn revisions(&self) -> anyhow::Result<Vec<Revision>> {
        Ok(self
            .controller_revisions()
            .await?
            .into_iter()
            .map(|r| Revision {
                number: r.revision,
                // The revision's name: what pods carry as their controller-revision-hash label.
                hash: r.metadata.name.clone().unwrap_or_default(),
                template: r.data.as_ref().and_then(|d| d.0.pointer("/spec/template").cloned()).unwrap_or(Value::Null),
            })
            .collect())
    }

    async fn update_revision(&self) -> anyhow::Result<Option<String>> {
        let sets = self.statefulsets();
        let s = reread(|| sets.get(self.manifest.name())).await?;
        Ok(observed_update_revision(&s))
    }

    /// As `kubectl rollout undo`: the previous revision's data applied as a strategic merge patch.
    async fn rollback(&self) -> anyhow::Result<()> {
        let revs = self.controller_revisions().await?;
        if revs.len() < 2 {
            bail!("StatefulSet {} has {} revision(s); nothing to roll back to", self.manifest.name(), revs.len());
        }
        let prev = &revs[revs.len() - 2];
        let data = prev.data.as_ref().map(|d| d.0.clone()).ok_or_else(|| anyhow!("revision {} has no data", prev.revision))?;
        self.statefulsets().patch(self.manifest.name(), &PatchParams::default(), &Patch::Strategic(data)).await?;
        Ok(())
    }

    fn cluster(&self) -> Option<&dyn Cluster> {
        Some(self)
    }

    fn teardown_allowance(&self) -> Duration {
        if self.kind_cluster.is_some() && self.delete_cluster {
            Duration::from_secs(120)
        } else {
            Duration::ZERO
        }
    }

    async fn teardown(&self) -> anyhow::Result<()> {
        self.stop_background().await;
        let mut errors = Vec::new();
        // Nodes this run cordoned and did not uncordon (an interrupted maintenance suite).
        if self.cordoned_any.load(std::sync::atomic::Ordering::SeqCst) {
            match self.still_cordoned().await {
                Ok(left) => {
                    for n in left {
                        if let Err(e) = Cluster::uncordon(self, &n).await {
                            errors.push(format!("uncordon {n}: {e:#}"));
                        }
                    }
                }
                Err(e) => errors.push(format!("listing the nodes this run cordoned: {e:#}")),
            }
        }
        if self.adopted {
            // Nothing of an adopted ensemble is the run's to remove. A fault that deleted the
            // StatefulSet and was interrupted before its revert left it to here: re-create it.
            let sets = self.statefulsets();
            let gone = reread(|| sets.get_opt(self.manifest.name())).await;
            match gone {
                Ok(None) => {
                    if let Err(e) = self.recreate_as_found().await {
                        errors.push(format!("re-creating the adopted StatefulSet {}: {e:#}", self.manifest.name()));
                    }
                }
                Ok(Some(_)) => {}
                Err(e) => errors.push(format!("reading the adopted StatefulSet {}: {e}", self.manifest.name())),
            }
        } else if let Some(k) = self.kind_cluster.as_ref().filter(|_| self.delete_cluster) {
            if let Err(e) = k.delete().await {
                errors.push(format!("{e:#}"));
            }
        } else if self.own_namespace {
            let api: Api<Namespace> = Api::all(self.client.clone());
            if let Err(e) = delete_namespace_now(&self.client, &self.identity.namespace).await {
                errors.push(format!("deleting namespace {}: {e}", self.identity.namespace));
            }
            if errors.is_empty() {
                // Namespace deletion removes the PVCs with it; wait until it is really gone.
                while api.get_opt(&self.identity.namespace).await.map(|n| n.is_some()).unwrap_or(true) {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        } else {
            let c = self.client.clone();
            let ns = self.identity.namespace.as_str();
            let dp = DeleteParams::background();
            let name = self.manifest.name();
            let mut gone = |r: Result<(), kube::Error>, what: String| match r {
                Ok(()) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => errors.push(format!("deleting {what}: {e}")),
            };
            gone(Api::<StatefulSet>::namespaced(c.clone(), ns).delete(name, &dp).await.map(drop), format!("StatefulSet {name}"));
            // Every other object of the manifest (Services, the budget, ConfigMaps, Secrets, RBAC, ...).
            for d in self.manifest.documents.iter().filter(|d| !crate::manifest::is_statefulset(d)) {
                let (api, kind, n) = objects::api_of(&c, ns, d).expect("a parsed manifest holds only kinds with a resource");
                gone(api.delete(&n, &dp).await.map(drop), format!("{kind} {n}"));
            }
            let lp = ListParams::default().labels(&format!("{RUN_LABEL}={}", self.identity.run_id));
            gone(Api::<PersistentVolumeClaim>::namespaced(c.clone(), ns).delete_collection(&dp, &lp).await.map(drop), "the run's PersistentVolumeClaims".into());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            bail!("cleanup of run {}: {}", self.identity.run_id, errors.join("; "))
        }
    }

    fn keep_instructions(&self) -> String {
        let ns = &self.identity.namespace;
        let ctx = &self.context;
        if self.adopted {
            return format!(
                "the adopted ensemble (StatefulSet {}) runs on in namespace {ns} on context {ctx}, as found; the run created nothing to remove\n",
                self.manifest.name()
            );
        }
        let mut s = format!(
            "kept: the ensemble runs in namespace {ns} on context {ctx}.\n  reach a member: kubectl --context {ctx} -n {ns} port-forward pod/{}-0 2181\n",
            self.manifest.name()
        );
        match &self.kind_cluster {
            Some(k) => s.push_str(&format!("  kubeconfig: {}\n  remove it: kind delete cluster --name {}\n", k.kubeconfig.display(), k.name)),
            None if self.own_namespace => s.push_str(&format!("  remove it: kubectl --context {ctx} delete namespace {ns}\n")),
            None => s.push_str(&format!(
                "  remove it: kubectl --context {ctx} -n {ns} delete statefulset,service,poddisruptionbudget,configmap,secret,serviceaccount,networkpolicy,role,rolebinding,pvc \
                 -l {RUN_LABEL}={} ; kubectl --context {ctx} -n {ns} delete statefulset/{}\n",
                self.identity.run_id,
                self.manifest.name()
            )),
        }
        s
    }
}

/// Packet filtering between members: iptables rules set from the partition helper, an ephemeral
/// container of each member's pod (`partition.rs`).
#[async_trait]
impl Partitions for KubePlatform {
    async fn cut(&self, cut: &Cut) -> anyhow::Result<()> {
        self.cut_member(cut).await
    }

    async fn mend(&self, member: &str) -> anyhow::Result<()> {
        self.mend_member(member).await
    }

    async fn cut_counters(&self, member: &str) -> anyhow::Result<CutCounters> {
        self.counters_of(member).await
    }

    async fn reaches(&self, from: &str, to: &str, port: u16) -> anyhow::Result<bool> {
        self.probe(from, to, port).await
    }

    async fn prepare_cuts(&self, members: &[String]) -> anyhow::Result<()> {
        if self.adopted {
            self.note(format!(
                "the partition helper ({}) runs as an ephemeral container of each adopted member's pod; Kubernetes cannot remove an ephemeral container, \
                 so it stays (idle, its rules removed) until the pod is next re-created",
                crate::platform::netfilter::image()
            ));
        }
        futures::future::try_join_all(members.iter().map(|m| self.helper(m))).await.map(drop)
    }
}
