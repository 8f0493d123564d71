//! What every end-to-end test binary shares: the Docker engine is started the project's one way.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// Starts the Docker engine with `ci/start-docker.sh` (once per test binary; the script leaves an
/// engine that already answers alone) and panics with the script's output if it cannot.
pub fn start_docker() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/start-docker.sh");
        let out = Command::new("bash").arg(&script).output().unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        assert!(out.status.success(), "{} exited {}:\n{}", script.display(), out.status, String::from_utf8_lossy(&out.stderr));
    });
}

/// Builds the reference deployments' look-alike images when missing or out of date
/// (`ci/build-image.sh` for their base, then `ci/build-zookeeper-images.sh official bitnami`: both
/// leave up-to-date images alone in seconds, and a fresh machine gets them built, its Maven
/// installed from Debian's packages). Once per test binary; panics with the scripts' output.
/// (Only the binaries that run the reference deployments call it.)
#[allow(dead_code)]
pub fn reference_images() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        start_docker();
        for (script, args) in [("ci/build-image.sh", &[][..]), ("ci/build-zookeeper-images.sh", &["official", "bitnami"][..])] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
            let out = Command::new("bash").arg(&path).args(args).output().unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
            assert!(out.status.success(), "{} {} exited {}:\n{}", path.display(), args.join(" "), out.status, String::from_utf8_lossy(&out.stderr));
        }
    });
}

/// Builds the upgrade suite's images when missing or out of date: the walkthrough's scripts on
/// 3.9.5 (`ci/build-zookeeper-images.sh walkthrough-3.9.5`) and, from it, the image whose server
/// cannot start (`ci/build-broken-image.sh`). Both leave up-to-date images alone in seconds.
#[allow(dead_code)]
pub fn upgrade_images() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        start_docker();
        for (script, args) in [("ci/build-zookeeper-images.sh", &["walkthrough-3.9.5"][..]), ("ci/build-broken-image.sh", &[][..])] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
            let out = Command::new("bash").arg(&path).args(args).output().unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
            assert!(out.status.success(), "{} {} exited {}:\n{}", path.display(), args.join(" "), out.status, String::from_utf8_lossy(&out.stderr));
        }
    });
}
