//! A platform for one run, built from its kind and the run's options ([`open`]): the runner and
//! the CLI name no platform's types to get one.

use std::sync::Arc;

use super::docker::DockerPlatform;
use super::kube::connect::KubeOptions;
use super::kube::kind::KindCluster;
use super::kube::{connect, kind, KubePlatform};
use super::{Platform, PlatformKind};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::ownership;

/// What a platform is opened with.
pub struct OpenOptions {
    pub manifest: Manifest,
    pub config: Config,
    pub run_id: String,
    /// The `--platform kube` / `kind` flags.
    pub kube: KubeOptions,
    /// The run's disruptive suites that run on Kubernetes: on a context zk-chaos did not create
    /// they are refused, before the cluster is contacted, unless `--allow-disruption` names it.
    pub disruptive: Vec<String>,
    /// `--platform kind`: the cluster the command created for its runs.
    pub kind_cluster: Option<KindCluster>,
    /// No run of this command follows: on kind, its teardown deletes the cluster rather than only
    /// its namespace.
    pub last: bool,
}

/// Opens the platform `kind` for one run.
///
/// # Errors
/// Exit 2 for a refused disruptive suite or an unknown context, exit 3 for an engine or a cluster
/// that does not answer ([`Error::exit_code`]).
pub async fn open(kind: PlatformKind, o: OpenOptions) -> Result<Arc<dyn Platform>> {
    match kind {
        PlatformKind::Docker => {
            let d = DockerPlatform::connect(o.manifest, o.config, o.run_id).await?;
            let left = super::docker::engine::find(d.docker(), None).await.map_err(Error::Other)?;
            // Only what `clean` would remove: runs in progress beside this one are not leftovers.
            let judge = ownership::Judge::new(ownership::Ask { run: None, force: false }, ownership::runs_dir());
            let over: Vec<&str> =
                left.runs.iter().filter(|r| judge.decision(r, left.hosts.get(*r).map(String::as_str)) == ownership::Decision::Remove).map(String::as_str).collect();
            if !over.is_empty() {
                tracing::warn!("earlier runs left containers, volumes or networks (run {}); remove them with `zk-chaos clean`", over.join(", "));
            }
            Ok(Arc::new(d))
        }
        PlatformKind::Kube => {
            let k = &o.kube;
            let kube_context = super::KubeContext::resolve(k.kubeconfig.as_deref(), k.context.as_deref())?;
            // Refused before the cluster is even contacted.
            let disruptive: Vec<&str> = o.disruptive.iter().map(String::as_str).collect();
            kube_context.check_disruption(&disruptive, k.allow_disruption.as_deref())?;
            let context = kube_context.name.clone();
            let client = kube_context.connect().await?;
            let kp = KubePlatform::new(client, context, o.manifest, o.config, o.run_id, k.namespace.clone());
            Ok(Arc::new(if k.adopt.is_some() { kp.adopting() } else { kp.with_storage_class(k.storage_class.clone()) }))
        }
        PlatformKind::Kind => {
            let cluster = o.kind_cluster.ok_or_else(|| Error::Other(anyhow::anyhow!("--platform kind without a kind cluster: run::open was not called")))?;
            // The default cluster config has movable volumes (kind::SHARED_HOST_PATH): section 15 in full.
            let storage_class = o.kube.storage_class.clone().or_else(|| o.kube.kind_config.is_none().then(|| kind::SHARED_STORAGE_CLASS.to_string()));
            // A cluster this command created: disruptive suites need no --allow-disruption.
            let (client, context) = connect::client(Some(&cluster.kubeconfig), Some(&cluster.context())).await?;
            let kp = KubePlatform::new(client, context, o.manifest, o.config, o.run_id, o.kube.namespace.clone()).with_storage_class(storage_class);
            kp.note(format!("kind cluster {}, created by this command for its runs (each in a namespace of its own)", cluster.name));
            Ok(Arc::new(kp.on_kind(cluster, o.last)))
        }
    }
}
