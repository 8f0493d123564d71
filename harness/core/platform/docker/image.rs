//! `zk-chaos image build`: the fixture image, built from the binary alone. ci/build-image.sh and
//! its build context fixtures/image/ are built in; they are written to a temporary folder laid out
//! as the checkout is and the same script runs there, so an installed zk-chaos and the checkout
//! build the same image the same way (and agree on its fixture hash) from one copy of the logic.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The script, by its path in the repository.
pub const SCRIPT: &str = "ci/build-image.sh";

/// The build contexts (the fixture image's, the partition helper's), as the script finds them
/// next to itself.
pub const CONTEXTS: &[&str] = &["fixtures/image", "fixtures/netfilter"];

/// What the build needs from the checkout: (path in the repository, content, mode).
pub const FILES: &[(&str, &str, u32)] = &[
    (SCRIPT, include_str!("../../../../ci/build-image.sh"), 0o755),
    ("fixtures/image/Dockerfile", include_str!("../../../../fixtures/image/Dockerfile"), 0o644),
    ("fixtures/image/start-zookeeper", include_str!("../../../../fixtures/image/start-zookeeper"), 0o644),
    ("fixtures/image/zookeeper-ready", include_str!("../../../../fixtures/image/zookeeper-ready"), 0o644),
    ("fixtures/netfilter/Dockerfile", include_str!("../../../../fixtures/netfilter/Dockerfile"), 0o644),
];

/// The partition helper the same script builds (iptables and netcat), when
/// `ZK_CHAOS_NETFILTER_IMAGE` is not set.
pub const NETFILTER_IMAGE: &str = "zk-chaos/netfilter:bookworm";

/// The image the walkthrough's manifest names, built when `ZK_CHAOS_IMAGE` is not set.
pub const DEFAULT_IMAGE: &str = "zk-chaos/zookeeper:3.8";

/// Writes [`FILES`] under `root` as they lie in the checkout; returns the script's path.
pub fn materialise(root: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    for (path, text, mode) in FILES {
        let to = root.join(path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&to, text)?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(*mode))?;
    }
    Ok(root.join(SCRIPT))
}

/// Builds `image` (`None`: `ZK_CHAOS_IMAGE`, else [`DEFAULT_IMAGE`]) with the built-in script, its
/// output on stderr. The script reads the same variables as in the checkout (`ZK_CHAOS_IMAGE`,
/// `ZK_CHAOS_BASE_IMAGE`, `ZK_CHAOS_DEBIAN_SUITE`, `ZK_CHAOS_DEBIAN_MIRROR`); `env` adds to or
/// overrides the process's environment for it (the engine zk-chaos found, as `DOCKER_HOST`).
///
/// Returns the script's exit code: 0 built or up to date, 3 no Docker engine, 1 any other failure.
///
/// # Errors
/// Unavailable when bash cannot be run; Other when the temporary folder cannot be written.
pub async fn build(image: Option<&str>, env: &[(String, OsString)]) -> Result<i32> {
    let dir = tempfile::Builder::new().prefix("zk-chaos-image-").tempdir().map_err(|e| Error::Other(anyhow::anyhow!("creating a folder for the image build: {e}")))?;
    run_script(dir.path(), image, env).await
}

/// [`build`] in `dir` (the folder is the caller's).
pub async fn run_script(dir: &Path, image: Option<&str>, env: &[(String, OsString)]) -> Result<i32> {
    let script = materialise(dir).map_err(|e| Error::Other(anyhow::anyhow!("writing the image build files into {}: {e}", dir.display())))?;
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg(&script).envs(env.iter().map(|(k, v)| (k, v))).stdout(std::process::Stdio::inherit()).stderr(std::process::Stdio::inherit()).kill_on_drop(true);
    if let Some(image) = image {
        cmd.env("ZK_CHAOS_IMAGE", image);
    }
    let status = cmd.status().await.map_err(|e| Error::unavailable(format!("cannot run bash for the image build ({e}); the build needs bash and the docker CLI on PATH")))?;
    // Killed by a signal: no code; count it as a failed build.
    Ok(status.code().unwrap_or(crate::error::exit::FAILED))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
    }

    /// Every file of the build contexts is built in: a file added to fixtures/image/ and not to
    /// [`FILES`] would make the installed binary build another image than the checkout.
    #[test]
    fn every_file_of_the_build_contexts_is_built_in() {
        let mut on_disk = vec![SCRIPT.to_string()];
        for context in CONTEXTS {
            on_disk.extend(std::fs::read_dir(repo().join(context)).unwrap().map(|e| format!("{context}/{}", e.unwrap().file_name().to_string_lossy())));
        }
        on_disk.sort();
        let mut built_in: Vec<String> = FILES.iter().map(|(p, _, _)| p.to_string()).collect();
        built_in.sort();
        assert_eq!(built_in, on_disk);
    }

    /// The script reads nothing else from the checkout than the build contexts: were it to, the
    /// file would have to be built in too.
    #[test]
    fn the_script_reads_only_the_build_contexts_from_the_checkout() {
        let script = FILES[0].1;
        let uses: Vec<&str> = script.match_indices("$here/").map(|(i, _)| &script[i..]).collect();
        assert!(!uses.is_empty(), "the script no longer finds its contexts next to itself: update materialise");
        for u in uses {
            assert!(u.starts_with("$here/fixtures/$2"), "ci/build-image.sh reads {} from the checkout; add it to FILES", u.lines().next().unwrap());
        }
        let built: Vec<String> = script.lines().filter_map(|l| l.strip_prefix("build \"$")).filter_map(|l| l.split_whitespace().nth(1)).map(|c| format!("fixtures/{c}")).collect();
        assert_eq!(built, CONTEXTS, "the contexts the script builds");
    }

    #[test]
    fn materialised_files_are_the_checkouts_byte_for_byte() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = materialise(dir.path()).unwrap();
        assert_eq!(script, dir.path().join("ci/build-image.sh"));
        for (path, _, mode) in FILES {
            assert_eq!(std::fs::read(dir.path().join(path)).unwrap(), std::fs::read(repo().join(path)).unwrap(), "{path}");
            assert_eq!(std::fs::metadata(dir.path().join(path)).unwrap().permissions().mode() & 0o777, *mode, "{path}");
        }
    }

    /// The built-in script runs and its exit code comes back: with a `docker` that cannot reach an
    /// engine it says so and exits 3, as in the checkout.
    #[tokio::test]
    async fn without_an_engine_the_build_exits_3() {
        use std::os::unix::fs::PermissionsExt;
        let bin = tempfile::tempdir().unwrap();
        let docker = bin.path().join("docker");
        std::fs::write(&docker, "#!/bin/sh\necho \"docker $*\" >> \"$(dirname \"$0\")/calls\"\nexit 1\n").unwrap();
        std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([bin.path().to_path_buf(), PathBuf::from("/usr/bin"), PathBuf::from("/bin")]).unwrap();
        let work = tempfile::tempdir().unwrap();
        let code = run_script(work.path(), Some("zk-chaos/test:never"), &[("PATH".into(), path)]).await.unwrap();
        assert_eq!(code, 3);
        let calls = std::fs::read_to_string(bin.path().join("calls")).unwrap();
        assert_eq!(calls.lines().collect::<Vec<_>>(), ["docker info"], "it stops at the engine check");
    }
}
