//! What the commands use of the platforms around a run's platform ([`super::open`]): the kind
//! cluster a command creates, the Kubernetes context a run or a Job uses and its disruption check,
//! adopting an ensemble that already runs, the images a Docker engine has or builds, and cleaning
//! what killed runs left. The runner and the command line name these (`platform::X`), never a
//! platform's own modules (`ci/layers.sh` keeps it so); each forwards to the platform that owns it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::docker::{engine, image};
use super::kube::{adopt, clean, connect, kind, safety};
use crate::error::Result;
use crate::manifest::Manifest;
use crate::ownership::Judge;

pub use super::docker::engine::Leftovers as DockerLeftovers;
pub use super::kube::clean::Cleaned;
pub use super::kube::cluster::CORDONED_BY;
pub use super::kube::connect::KubeOptions;
pub use super::kube::kind::{KindCluster, KindConfig, BUILTIN_CONFIG as KIND_BUILTIN_CONFIG};

/// The name of the kind cluster a command whose first run is `run_id` creates.
pub fn kind_cluster_name(run_id: &str) -> String {
    kind::cluster_name(run_id)
}

/// The host directory the nodes of kind cluster `cluster` share (removed with it).
pub fn kind_shared_dir(cluster: &str) -> PathBuf {
    kind::shared_dir(cluster)
}

/// The `zk-chaos-*` kind clusters left (of run `run_id`, or of any run).
pub async fn kind_leftovers(run_id: Option<&str>) -> anyhow::Result<Vec<String>> {
    kind::leftovers(run_id).await
}

/// A Kubernetes context as kubectl resolves it (`--kubeconfig`, `--context`): read, not contacted.
pub struct KubeContext {
    kubeconfig: kube::config::Kubeconfig,
    /// The context's name.
    pub name: String,
}

impl KubeContext {
    /// Resolves the context (see the kube platform's `connect`).
    ///
    /// # Errors
    /// Exit 3 for no kubeconfig, exit 2 for an unknown context.
    pub fn resolve(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<KubeContext> {
        let (kubeconfig, name) = connect::resolve(kubeconfig, context)?;
        Ok(KubeContext { kubeconfig, name })
    }

    /// Refuses the `disruptive` suites on this context, which zk-chaos did not create, unless
    /// `--allow-disruption` (`allow`) names it.
    pub fn check_disruption(&self, disruptive: &[&str], allow: Option<&str>) -> Result<()> {
        safety::check(disruptive, &self.name, false, allow)
    }

    /// A client for the context; checks the API server answers.
    pub async fn connect(self) -> Result<kube::Client> {
        connect::client_for(self.kubeconfig, &self.name).await
    }
}

/// What a run asked for beside `--adopt`, for [`refuse_adopting`].
pub use super::kube::adopt::Asked as AdoptAsked;

/// Why the flags of an adopting run do not go together, if they do not.
pub fn refuse_adopting(asked: &AdoptAsked) -> Option<String> {
    adopt::refuse_combination(asked)
}

/// The StatefulSet's name in `--adopt statefulset/NAME`, or why `target` is not that.
pub fn adopt_target(target: &str) -> std::result::Result<String, String> {
    adopt::parse_target(target)
}

/// Reads the live StatefulSet `name` in `namespace` and the objects around it (only reads) into a
/// manifest whose origin is `origin`.
///
/// # Errors
/// Bad input for a StatefulSet or namespace that is not there, or objects that make no manifest.
pub async fn adopt(client: &kube::Client, namespace: &str, name: &str, context: &str, origin: &str) -> Result<Manifest> {
    let found = adopt::find(client, namespace, name, context).await?;
    adopt::manifest(&found, origin)
}

/// How the live StatefulSet `now` differs from the adopted one as `found` (spec, labels and
/// annotations), one line each; empty when it is as found.
pub fn adopted_differences(found: &serde_json::Value, now: &serde_json::Value) -> Vec<String> {
    adopt::differences(found, now)
}

/// The local Docker engine, for the commands' image checks and `clean`.
pub struct DockerEngine(bollard::Docker);

impl DockerEngine {
    /// Connects where the docker CLI would.
    ///
    /// # Errors
    /// Bad input for a DOCKER_HOST the docker CLI would refuse; unavailable when no engine answers.
    pub async fn connect() -> Result<DockerEngine> {
        Ok(DockerEngine(engine::connect().await?))
    }

    /// Whether the engine has `image` (it is not pulled).
    pub async fn has_image(&self, image: &str) -> bool {
        self.0.inspect_image(image).await.is_ok()
    }

    /// What carries the run label: of `run`, or (None) of any run.
    pub async fn leftovers(&self, run: Option<&str>) -> anyhow::Result<DockerLeftovers> {
        engine::find(&self.0, run).await
    }

    /// Removes what [`DockerEngine::leftovers`] found; what could not be removed, one line each.
    pub async fn remove(&self, found: &DockerLeftovers) -> Vec<String> {
        engine::remove_found(&self.0, found).await
    }
}

/// Builds the fixture image `name` (default: the built-in one) and the partition helper with the
/// built-in build, on the engine zk-chaos finds. Returns the build's exit code: 0 built or up to
/// date, 3 no Docker engine, 1 any other failure.
///
/// # Errors
/// Unavailable when bash cannot be run; Other when the build's folder cannot be written.
pub async fn build_image(name: Option<&str>) -> Result<i32> {
    image::build(name, &engine::cli_env()).await
}

/// Removes what killed runs left on a Kubernetes cluster that `judge` lets go (see the kube
/// platform's `clean`), waiting up to `wait` for namespaces to go.
pub async fn clean_cluster(client: &kube::Client, judge: &mut Judge<'_>, wait: Duration) -> Cleaned {
    clean::clean(client, judge, wait).await
}
