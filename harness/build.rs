//! Build script: captures the git commit zk-chaos is built from as `ZK_CHAOS_COMMIT`, for
//! `--version`. `ZK_CHAOS_COMMIT` set in the build's environment wins (a build from a source
//! archive, or an image built without `.git`); outside a git checkout, or without git, it is
//! `unknown`. It never fails the build.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let out = Command::new("git").args(args).current_dir(dir).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=ZK_CHAOS_COMMIT");
    println!("cargo:rerun-if-changed=harness/build.rs");
    let commit = match std::env::var("ZK_CHAOS_COMMIT").ok().filter(|c| !c.trim().is_empty()) {
        Some(c) => c.trim().to_string(),
        None => {
            // Rebuilt when HEAD moves: HEAD itself (a checkout), the branch's ref (a commit) and
            // packed-refs. Only existing files are named: cargo reruns every time for a missing one.
            let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"]), git(&["rev-parse", "--git-path", "packed-refs"])];
            if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
                watched.push(git(&["rev-parse", "--git-path", &branch]));
            }
            for path in watched.into_iter().flatten() {
                let path = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join(path);
                if path.exists() {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_string())
        }
    };
    println!("cargo:rustc-env=ZK_CHAOS_COMMIT={commit}");
}
