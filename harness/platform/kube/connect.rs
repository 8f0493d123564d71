//! Reaching a cluster as kubectl does: `--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`;
//! `--context`, else the current context. No kubeconfig or an unreachable API server is
//! "platform unavailable" (exit 3), an unknown context is bad input (exit 2).

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Client;

use crate::error::{Error, Result};

/// The `--platform kube` / `kind` flags.
#[derive(Debug, Clone, Default)]
pub struct KubeOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    /// `--allow-disruption=CONTEXT`: disruptive suites may run on that context.
    pub allow_disruption: Option<String>,
    /// `--kind-config`: the kind cluster config (default: the built-in fixtures/kind/cluster.yaml).
    pub kind_config: Option<PathBuf>,
    /// `--storage-class`: the StorageClass of volume claim templates that name none (on kind with
    /// its default config: `zk-chaos-shared`, volumes that can follow a pod to another node).
    pub storage_class: Option<String>,
}

/// A client for the context, and the context's name; checks the API server answers.
pub async fn client(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<(Client, String)> {
    let (kc, name) = resolve(kubeconfig, context)?;
    Ok((client_for(kc, &name).await?, name))
}

/// The kubeconfig and the name of the context to use, without contacting any server.
pub fn resolve(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<(Kubeconfig, String)> {
    let kc = match kubeconfig {
        Some(p) => Kubeconfig::read_from(p),
        None => Kubeconfig::read(),
    }
    .map_err(|e| {
        Error::unavailable(format!(
            "--platform kube needs a kubeconfig, as kubectl does, and none could be read ({e}). Point --kubeconfig \
             or KUBECONFIG at one, or create ~/.kube/config (for example with `kind create cluster`); \
             `kubectl config get-contexts` shows what kubectl would use. Without a cluster, use --platform docker."
        ))
    })?;
    let name = match context.map(str::to_string).or(kc.current_context.clone()) {
        Some(n) => n,
        None => return Err(Error::bad_input("the kubeconfig has no current context; name one with --context (see `kubectl config get-contexts`)")),
    };
    if !kc.contexts.iter().any(|c| c.name == name) {
        let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
        return Err(Error::bad_input(format!("the kubeconfig has no context '{name}'; it has: {}", known.join(", "))));
    }
    Ok((kc, name))
}

/// A client for context `name` of `kc`, once its API server has answered.
pub async fn client_for(kc: Kubeconfig, name: &str) -> Result<Client> {
    let name = name.to_string();
    let opts = KubeConfigOptions { context: Some(name.clone()), ..Default::default() };
    let mut config = kube::Config::from_custom_kubeconfig(kc, &opts).await.map_err(|e| Error::unavailable(format!("context '{name}' of the kubeconfig cannot be used: {e}")))?;
    // kube's default stack retries 429 (and 503, 504) with backoff for minutes: a budget's refusal
    // of an eviction must reach the maintenance suite as the API server sent it.
    config.default_retry = false;
    let cluster_url = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(|e| Error::unavailable(format!("context '{name}': {e}")))?;
    match tokio::time::timeout(Duration::from_secs(15), client.apiserver_version()).await {
        Ok(Ok(v)) => tracing::info!("context {name}: Kubernetes {}.{} at {cluster_url}", v.major, v.minor),
        Ok(Err(e)) => return Err(unreachable(&name, &cluster_url, &e.to_string())),
        Err(_) => return Err(unreachable(&name, &cluster_url, "no answer within 15s")),
    }
    Ok(client)
}

fn unreachable(name: &str, url: &str, why: &str) -> Error {
    Error::unavailable(format!(
        "the Kubernetes API server of context '{name}' ({url}) cannot be reached: {why}. Check the cluster is up \
         (`kubectl --context {name} get nodes`), or choose another context with --context; to run without a \
         cluster, use --platform docker, or --platform kind to have zk-chaos create one."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_kubeconfig_is_unavailable_and_says_how() {
        let dir = tempfile::tempdir().unwrap();
        let err = client(Some(&dir.path().join("missing")), None).await.err().expect("an error");
        assert_eq!(err.exit_code(), 3, "{err}");
        assert!(err.to_string().contains("--kubeconfig"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_unavailable_and_an_unknown_context_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        // Port 9 on loopback: nothing listens, the connection is refused at once.
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\ncurrent-context: dead\nclusters:\n- name: dead\n  cluster:\n    server: https://127.0.0.1:9\n\
             contexts:\n- name: dead\n  context:\n    cluster: dead\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n",
        )
        .unwrap();
        let err = client(Some(&path), None).await.err().expect("an error");
        assert_eq!(err.exit_code(), 3, "{err}");
        assert!(err.to_string().contains("context 'dead'"), "{err}");
        let err = client(Some(&path), Some("prod")).await.err().expect("an error");
        assert_eq!(err.exit_code(), 2, "{err}");
        assert!(err.to_string().contains("has no context 'prod'; it has: dead"), "{err}");
    }
}
