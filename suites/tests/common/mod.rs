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
