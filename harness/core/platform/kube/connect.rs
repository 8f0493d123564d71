//! Reaching a cluster as kubectl does: `--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`;
//! `--context`, else the current context. Inside a pod with none of these (`KUBERNETES_SERVICE_HOST`
//! set), the pod's service account, as client-go's in-cluster config: a context named
//! [`IN_CLUSTER`]. No kubeconfig or an unreachable API server is "platform unavailable" (exit 3),
//! an unknown context is bad input (exit 2).

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
    /// `--adopt statefulset/NAME`: certify the ensemble that runs as that StatefulSet in
    /// `namespace`, applying nothing ([`super::adopt`]); the StatefulSet's name.
    pub adopt: Option<String>,
}

/// A client for the context, and the context's name; checks the API server answers.
pub async fn client(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<(Client, String)> {
    let (kc, name) = resolve(kubeconfig, context)?;
    Ok((client_for(kc, &name).await?, name))
}

/// The context's name inside a pod without a kubeconfig (`--allow-disruption=in-cluster` lets
/// disruptive suites run there).
pub const IN_CLUSTER: &str = "in-cluster";

/// Where a pod's service account is mounted.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The in-cluster config as a kubeconfig of one context, [`IN_CLUSTER`]: the API server at
/// `KUBERNETES_SERVICE_HOST`:`KUBERNETES_SERVICE_PORT` (as client-go and kube-rs's
/// `Config::incluster_env` reach it), the service account's `ca.crt`, `token` (a file: kube re-reads
/// it as the kubelet rotates it) and `namespace` in `sa_dir`. None outside a pod: no host, or no
/// token in `sa_dir`.
pub fn in_cluster(host: Option<&str>, port: Option<&str>, sa_dir: &Path) -> Option<Result<Kubeconfig>> {
    let host = host.map(str::trim).filter(|h| !h.is_empty())?;
    let token = sa_dir.join("token");
    if !token.exists() {
        return None;
    }
    let port = match port.map(str::trim).filter(|p| !p.is_empty()).unwrap_or("443").parse::<u16>() {
        Ok(p) => p,
        Err(e) => return Some(Err(Error::bad_input(format!("KUBERNETES_SERVICE_PORT={port:?} is not a port ({e}): the pod's environment is not what Kubernetes sets")))),
    };
    let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_string() };
    let namespace = std::fs::read_to_string(sa_dir.join("namespace")).ok().map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": IN_CLUSTER,
        "clusters": [{"name": IN_CLUSTER, "cluster": {"server": format!("https://{host}:{port}"), "certificate-authority": sa_dir.join("ca.crt")}}],
        "users": [{"name": IN_CLUSTER, "user": {"tokenFile": token}}],
        "contexts": [{"name": IN_CLUSTER, "context": {"cluster": IN_CLUSTER, "user": IN_CLUSTER, "namespace": namespace}}],
    });
    // JSON is YAML: kube's own parser, so the fields are read as from any kubeconfig.
    Some(Kubeconfig::from_yaml(&config.to_string()).map_err(|e| Error::Other(anyhow::anyhow!("the in-cluster kubeconfig: {e}"))))
}

/// The kubeconfig and the name of the context to use, without contacting any server.
pub fn resolve(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<(Kubeconfig, String)> {
    let read = match kubeconfig {
        Some(p) => Kubeconfig::read_from(p),
        None => Kubeconfig::read(),
    };
    // Inside a pod, only when no kubeconfig was named or found (as kubectl and client-go do).
    let pod = || {
        let var = |k: &str| std::env::var(k).ok();
        in_cluster(var("KUBERNETES_SERVICE_HOST").as_deref(), var("KUBERNETES_SERVICE_PORT").as_deref(), Path::new(SERVICE_ACCOUNT_DIR))
    };
    let kc = match (read, kubeconfig) {
        (Ok(kc), _) => Ok(kc),
        (Err(e), Some(_)) => Err(e),
        (Err(e), None) => match pod() {
            Some(kc) => {
                let kc = kc?;
                tracing::info!("no kubeconfig: using this pod's service account (context {IN_CLUSTER})");
                Ok(kc)
            }
            None => Err(e),
        },
    };
    let kc = kc.map_err(|e| {
        Error::unavailable(format!(
            "--platform kube needs a kubeconfig, as kubectl does, and none could be read ({e}). Point --kubeconfig \
             or KUBECONFIG at one, or create ~/.kube/config (for example with `kind create cluster`); \
             `kubectl config get-contexts` shows what kubectl would use (inside a pod, its service account is used when \
             KUBERNETES_SERVICE_HOST is set and {SERVICE_ACCOUNT_DIR}/token exists). Without a cluster, use --platform docker."
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

    /// Inside a pod (the service account's files in a temporary folder): one context, the API
    /// server from the environment, the token as a file, the pod's namespace; outside, none.
    #[tokio::test]
    async fn inside_a_pod_the_service_account_is_the_kubeconfig() {
        let dir = tempfile::tempdir().unwrap();
        let sa = dir.path();
        assert!(in_cluster(Some("10.96.0.1"), Some("443"), sa).is_none(), "no token: not in a pod");
        std::fs::write(sa.join("token"), "eyJhbGciOi.fake.token").unwrap();
        std::fs::write(sa.join("namespace"), "zk-chaos\n").unwrap();
        assert!(in_cluster(None, Some("443"), sa).is_none(), "no KUBERNETES_SERVICE_HOST: not in a pod");
        let kc = in_cluster(Some("10.96.0.1"), Some("443"), sa).unwrap().unwrap();
        assert_eq!(kc.current_context.as_deref(), Some(IN_CLUSTER));
        let cluster = kc.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://10.96.0.1:443"));
        assert_eq!(cluster.certificate_authority.as_deref(), Some(sa.join("ca.crt").to_str().unwrap()));
        assert_eq!(kc.auth_infos[0].auth_info.as_ref().unwrap().token_file.as_deref(), Some(sa.join("token").to_str().unwrap()));
        assert_eq!(kc.contexts[0].context.as_ref().unwrap().namespace.as_deref(), Some("zk-chaos"));
        let v6 = in_cluster(Some("fd00::1"), None, sa).unwrap().unwrap();
        assert_eq!(v6.clusters[0].cluster.as_ref().unwrap().server.as_deref(), Some("https://[fd00::1]:443"));
        let err = in_cluster(Some("10.96.0.1"), Some("https"), sa).unwrap().unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        // Nothing answers on loopback port 9: the synthesized context is used as any other and the
        // unreachable server is unavailable (exit 3), naming the context. The CA is a real one
        // (kube parses it before connecting), made by openssl where it is installed.
        let made = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=zk-chaos-test"])
            .arg("-keyout")
            .arg(sa.join("ca.key"))
            .arg("-out")
            .arg(sa.join("ca.crt"))
            .output();
        if made.is_ok_and(|o| o.status.success()) {
            let kc = in_cluster(Some("127.0.0.1"), Some("9"), sa).unwrap().unwrap();
            let err = client_for(kc, IN_CLUSTER).await.err().expect("nothing listens on port 9");
            assert_eq!(err.exit_code(), 3, "{err}");
            assert!(err.to_string().contains("context 'in-cluster' (https://127.0.0.1:9/)"), "{err}");
        }
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
