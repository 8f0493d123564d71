//! `--platform kind`: a throwaway cluster made with the `kind` CLI from fixtures/kind/cluster.yaml
//! (one control plane, four workers; built into the binary, `--kind-config` replaces it), the
//! image loaded into its nodes, deleted at the end.
//! Its kubeconfig goes to a file of its own, so the user's ~/.kube/config is not touched.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use tokio::process::Command;

use crate::error::{Error, Result};

/// The kind binary: `ZK_CHAOS_KIND` if set (tests), else `kind` on PATH, else where
/// `go install` (ci/build-kind.sh) puts it: `$GOPATH/bin/kind`, `~/go/bin/kind`.
pub fn binary() -> String {
    if let Ok(b) = std::env::var("ZK_CHAOS_KIND") {
        return b;
    }
    let on_path = std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|d| d.join("kind").is_file()));
    if !on_path {
        let gopath = std::env::var_os("GOPATH").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join("go")));
        if let Some(bin) = gopath.map(|g| g.join("bin/kind")).filter(|b| b.is_file()) {
            return bin.to_string_lossy().into_owned();
        }
    }
    "kind".to_string()
}

/// kind clusters that zk-chaos runs (and its tests) created and left: every `zk-chaos-*` cluster,
/// or with `run` that run's only. None when there is no kind binary.
pub async fn leftovers(run_id: Option<&str>) -> anyhow::Result<Vec<String>> {
    if Command::new(binary()).arg("version").output().await.map(|o| !o.status.success()).unwrap_or(true) {
        return Ok(Vec::new());
    }
    let listed = run(&["get", "clusters"]).await?;
    let wanted = run_id.map(cluster_name);
    Ok(listed.lines().map(str::trim).filter(|c| c.starts_with("zk-chaos-") && wanted.as_deref().is_none_or(|w| *c == w)).map(String::from).collect())
}

/// `zk-chaos-<time>-<salt>` from a run id `<prefix>-YYYYmmdd-HHMMSS-xxxx`.
pub fn cluster_name(run_id: &str) -> String {
    let parts: Vec<&str> = run_id.rsplitn(3, '-').collect();
    match parts.as_slice() {
        [salt, time, _] => format!("zk-chaos-{time}-{salt}"),
        _ => format!("zk-chaos-{}", run_id.chars().rev().take(11).collect::<String>().chars().rev().collect::<String>()),
    }
}

/// The host directory that fixtures/kind/cluster.yaml mounts into every node, behind the
/// `zk-chaos-shared` StorageClass (volumes that can follow a pod to another node).
pub const SHARED_HOST_PATH: &str = "/tmp/zk-chaos-kind-shared/default";

/// The StorageClass of those volumes (ci/kind/node/manifests/default-storage.yaml).
pub const SHARED_STORAGE_CLASS: &str = "zk-chaos-shared";

/// The shared host directory of one cluster: every cluster gets its own, removed with it.
pub fn shared_dir(cluster: &str) -> PathBuf {
    Path::new(SHARED_HOST_PATH).with_file_name(cluster)
}

/// A kind config made the cluster's own: [`SHARED_HOST_PATH`] becomes [`shared_dir`]. A config
/// that does not name it is returned unchanged.
pub fn config_for(config: &str, cluster: &str) -> String {
    config.replace(SHARED_HOST_PATH, &shared_dir(cluster).to_string_lossy())
}

/// fixtures/kind/cluster.yaml, built in so that `--platform kind` works from any directory.
pub const BUILTIN_CONFIG: &str = include_str!("../../../../fixtures/kind/cluster.yaml");

/// A kind cluster config: the built-in one or a file's, read before anything is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindConfig {
    /// How messages name it: the path, or that it is built in.
    pub origin: String,
    pub text: String,
}

impl KindConfig {
    /// [`BUILTIN_CONFIG`].
    pub fn builtin() -> KindConfig {
        KindConfig {
            origin: concat!("the built-in kind cluster config (fixtures/kind/cluster.yaml of zk-chaos ", env!("CARGO_PKG_VERSION"), ")").into(),
            text: BUILTIN_CONFIG.into(),
        }
    }

    /// `--kind-config PATH`; a file that cannot be read is bad input.
    pub fn load(path: &Path) -> Result<KindConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::bad_input(format!(
                "--kind-config {}: cannot read the kind cluster config ({e}); give a kind Cluster config file, or drop the flag for the built-in one",
                path.display()
            ))
        })?;
        Ok(KindConfig { origin: path.display().to_string(), text })
    }
}

#[derive(Debug, Clone)]
pub struct KindCluster {
    pub name: String,
    pub kubeconfig: PathBuf,
}

impl KindCluster {
    /// The kubectl context kind writes for the cluster.
    pub fn context(&self) -> String {
        format!("kind-{}", self.name)
    }

    /// The cluster a run would create (nothing is created yet).
    pub fn planned(run_id: &str) -> KindCluster {
        KindCluster::named(&cluster_name(run_id))
    }

    /// The cluster `name`, with its kubeconfig where [`KindCluster::planned`] puts it.
    pub fn named(name: &str) -> KindCluster {
        KindCluster { name: name.to_string(), kubeconfig: std::env::temp_dir().join(format!("{name}.kubeconfig")) }
    }

    /// Creates this planned cluster from `config` and loads `images` into it (in one `kind load`,
    /// so the layers they share are copied once). On failure after creation, deletes it.
    pub async fn create(&self, config: &KindConfig, images: &[&str]) -> Result<()> {
        let bin = binary();
        match Command::new(&bin).arg("version").output().await {
            Ok(o) if o.status.success() => {}
            _ => {
                return Err(Error::unavailable(format!(
                    "--platform kind needs the `kind` CLI ({bin} could not be run). Install it: \
                     `go install sigs.k8s.io/kind@v0.33.0` or a release binary from https://kind.sigs.k8s.io/docs/user/quick-start/#installation, \
                     and a Docker engine for its nodes; or use --platform kube with an existing cluster."
                )))
            }
        }
        let cluster = self;
        let own = cluster.kubeconfig.with_extension("kind.yaml");
        std::fs::write(&own, config_for(&config.text, &cluster.name)).map_err(|e| Error::unavailable(format!("writing {}: {e}", own.display())))?;
        tracing::info!("creating kind cluster {} from {}", cluster.name, config.origin);
        let created =
            run(&["create", "cluster", "--name", &cluster.name, "--config", &own.to_string_lossy(), "--kubeconfig", &cluster.kubeconfig.to_string_lossy(), "--wait", "180s"]).await;
        if let Err(e) = created {
            let _ = cluster.delete().await;
            return Err(Error::unavailable(format!("kind could not create cluster {}: {e:#}", cluster.name)));
        }
        let mut load = vec!["load", "docker-image"];
        load.extend_from_slice(images);
        load.extend_from_slice(&["--name", &cluster.name]);
        if let Err(e) = run(&load).await {
            let _ = cluster.delete().await;
            return Err(Error::unavailable(format!(
                "kind could not load the image{} {} into cluster {} (are they in the local Docker engine? build them with `zk-chaos image build`): {e:#}",
                if images.len() == 1 { "" } else { "s" },
                images.join(" and "),
                cluster.name
            )));
        }
        Ok(())
    }

    pub async fn delete(&self) -> anyhow::Result<()> {
        run(&["delete", "cluster", "--name", &self.name, "--kubeconfig", &self.kubeconfig.to_string_lossy()]).await?;
        let _ = std::fs::remove_file(&self.kubeconfig);
        let _ = std::fs::remove_file(self.kubeconfig.with_extension("kind.yaml"));
        let shared = shared_dir(&self.name);
        if shared.exists() {
            std::fs::remove_dir_all(&shared).with_context(|| format!("removing the cluster's shared volume directory {}", shared.display()))?;
        }
        Ok(())
    }
}

async fn run(args: &[&str]) -> anyhow::Result<String> {
    let bin = binary();
    // Killed if the run is interrupted while it waits (kind create can take minutes). kind drives
    // the docker CLI: point it at the engine zk-chaos found.
    let out = Command::new(&bin).args(args).envs(crate::platform::docker::engine::cli_env()).kill_on_drop(true).output().await?;
    if !out.status.success() {
        bail!("`{bin} {}` exited {}: {}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cluster_gets_its_own_shared_volume_directory() {
        let fixture = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/kind/cluster.yaml")).unwrap();
        assert_eq!(fixture.matches(SHARED_HOST_PATH).count(), 1, "the fixture names the shared host path once (a YAML anchor for every node)");
        let own = config_for(&fixture, "zk-chaos-162600-ab12");
        assert!(!own.contains(SHARED_HOST_PATH));
        assert!(own.contains("hostPath: /tmp/zk-chaos-kind-shared/zk-chaos-162600-ab12,"), "{own}");
        assert_eq!(config_for("kind: Cluster\n", "x"), "kind: Cluster\n");
    }

    #[test]
    fn the_builtin_config_is_the_fixture_and_a_missing_file_is_bad_input() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/kind/cluster.yaml");
        let file = KindConfig::load(&path).unwrap();
        assert_eq!(KindConfig::builtin().text, file.text);
        assert!(KindConfig::builtin().origin.starts_with("the built-in kind cluster config"), "{}", KindConfig::builtin().origin);
        assert_eq!(file.origin, path.display().to_string());
        let err = KindConfig::load(Path::new("/nonexistent/kind.yaml")).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--kind-config /nonexistent/kind.yaml"), "{err}");
    }

    #[test]
    fn cluster_names_are_short_and_from_the_run_id() {
        assert_eq!(cluster_name("zk-chaos-20261128-162600-ab12"), "zk-chaos-162600-ab12");
    }

    // One test drives both cases: the env variable is process-wide.
    #[tokio::test]
    async fn missing_binary_is_unavailable_and_the_cli_is_driven_with_these_arguments() {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var("ZK_CHAOS_KIND", dir.path().join("no-kind-here"));
        let err = KindCluster::planned("zk-chaos-20261128-162600-ab12").create(&KindConfig::builtin(), &["img"]).await.unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(err.to_string().contains("go install sigs.k8s.io/kind"), "{err}");

        let log = dir.path().join("log");
        let fake = dir.path().join("kind");
        std::fs::write(&fake, format!("#!/bin/sh\necho \"$@\" >> {}\n", log.display())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::env::set_var("ZK_CHAOS_KIND", &fake);
        let cfg = dir.path().join("cluster.yaml");
        std::fs::write(&cfg, "kind: Cluster\n").unwrap();
        let c = KindCluster::planned("zk-chaos-20261128-162600-ab12");
        c.create(&KindConfig::load(&cfg).unwrap(), &["zk-chaos/zookeeper:3.8", "zk-chaos/netfilter:bookworm"]).await.unwrap();
        assert_eq!(c.context(), "kind-zk-chaos-162600-ab12");
        c.delete().await.unwrap();
        std::env::remove_var("ZK_CHAOS_KIND");
        let calls = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = calls.lines().collect();
        assert_eq!(lines[0], "version");
        let own = c.kubeconfig.with_extension("kind.yaml");
        assert!(lines[1].starts_with(&format!("create cluster --name zk-chaos-162600-ab12 --config {} --kubeconfig ", own.display())), "{}", lines[1]);
        assert_eq!(lines[2], "load docker-image zk-chaos/zookeeper:3.8 zk-chaos/netfilter:bookworm --name zk-chaos-162600-ab12");
        assert!(lines[3].starts_with("delete cluster --name zk-chaos-162600-ab12 --kubeconfig "), "{}", lines[3]);
    }
}
