//! What the command line needs besides argument parsing: logging set-up, signals, the suite
//! list, building the fixture image when it is missing, `clean`, and exit codes.

use std::fmt::Write;
use std::path::Path;

use crate::error::{exit, Error, Result};
use crate::platform::docker::engine;
use crate::platform::PlatformKind;
use crate::report::{RunReport, Verdict};
use crate::run::Prepared;
use crate::suites::Suite;

/// Logs to stderr through `tracing`: `RUST_LOG` wins; otherwise info for zk-chaos. Plain (no
/// colours) when stderr is not a terminal or `CI` is set.
pub fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,zk_chaos=info"));
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).with_target(false).try_init();
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// The table `zk-chaos suites` prints.
pub fn describe_suites(suites: &[Box<dyn Suite>]) -> String {
    let mut s = format!("{:<16} {:<10} {:<18} {}\n", "SUITE", "SECTIONS", "PLATFORMS", "WHAT IT CERTIFIES");
    for suite in suites {
        let platforms = suite.platforms().iter().map(|p| p.as_str()).collect::<Vec<_>>().join(",");
        let _ = writeln!(s, "{:<16} {:<10} {:<18} {}", suite.name(), suite.sections(), platforms, suite.summary());
    }
    s
}

/// 0 when the run passed, 130 when interrupted, else 1.
pub fn exit_code(report: &RunReport) -> i32 {
    if report.interrupted {
        exit::INTERRUPTED
    } else if report.verdict == Verdict::Pass {
        exit::PASSED
    } else {
        exit::FAILED
    }
}

/// On Docker, builds the fixture image once when it is missing and this checkout has the script
/// that builds it; otherwise the platform reports the missing image with the command to run.
pub async fn ensure_image(p: &Prepared) -> Result<()> {
    if p.opts.platform != PlatformKind::Docker {
        return Ok(());
    }
    let docker = engine::connect().await?;
    let Some(image) = p.manifest.pod_template().image else { return Ok(()) };
    if docker.inspect_image(&image).await.is_ok() || !image.starts_with("zk-chaos/") {
        return Ok(());
    }
    let script = Path::new("ci/build-image.sh");
    if !script.exists() {
        return Ok(());
    }
    tracing::info!("the image {image} is missing: building it with {} (once; later runs reuse it)", script.display());
    let status = tokio::process::Command::new("bash")
        .arg(script)
        .env("ZK_CHAOS_IMAGE", &image)
        .status()
        .await
        .map_err(|e| Error::unavailable(format!("cannot run {}: {e}", script.display())))?;
    if !status.success() {
        return Err(Error::unavailable(format!("building the image {image} with {} failed ({status}); see its output above", script.display())));
    }
    Ok(())
}

/// `zk-chaos clean`: removes every container, volume and network carrying the run label and every
/// `zk-chaos-*` kind cluster (or `run`'s only); with `context`, also what runs left on that
/// Kubernetes cluster (see [`crate::platform::kube::clean`]). Without `context` no cluster of the
/// user's kubeconfig is touched.
pub async fn clean(run: Option<&str>, context: Option<&str>, kubeconfig: Option<&Path>) -> Result<i32> {
    use crate::platform::kube::kind::{self, KindCluster};
    let mut errors = Vec::new();
    let mut removed_any = false;
    // The cluster first: its connection is checked before anything is removed anywhere.
    let client = match context {
        Some(c) => Some(crate::platform::kube::connect::client(kubeconfig, Some(c)).await?.0),
        None => None,
    };
    match engine::connect().await {
        Ok(docker) => {
            let found = engine::find(&docker, run).await.map_err(Error::Other)?;
            if !found.is_empty() {
                println!("removing {}", found.describe());
                removed_any = true;
                errors.extend(engine::remove(&docker, run).await);
            }
            for name in kind::leftovers(run).await.map_err(Error::Other)? {
                println!("deleting kind cluster {name}");
                removed_any = true;
                let cluster = KindCluster { kubeconfig: std::env::temp_dir().join(format!("{name}.kubeconfig")), name };
                if let Err(e) = cluster.delete().await {
                    errors.push(format!("{e:#}"));
                }
            }
        }
        // Cleaning a cluster needs no Docker engine.
        Err(e) if client.is_some() => tracing::info!("no Docker engine to clean: {e}"),
        Err(e) => return Err(e),
    }
    if let (Some(client), Some(context)) = (&client, context) {
        let cleaned = crate::platform::kube::clean::clean(client, run, std::time::Duration::from_secs(120)).await;
        for line in &cleaned.removed {
            println!("{context}: {line}");
        }
        removed_any |= !cleaned.removed.is_empty();
        errors.extend(cleaned.errors.into_iter().map(|e| format!("{context}: {e}")));
    }
    if !removed_any && errors.is_empty() {
        println!("nothing to clean");
    }
    if errors.is_empty() {
        Ok(exit::PASSED)
    } else {
        for e in &errors {
            eprintln!("zk-chaos clean: {e}");
        }
        Ok(exit::FAILED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_verdict() {
        let mut r = crate::report::model::tests::sample();
        assert_eq!(exit_code(&r), 1);
        r.verdict = Verdict::Pass;
        assert_eq!(exit_code(&r), 0);
        r.interrupted = true;
        assert_eq!(exit_code(&r), 130);
    }

    #[test]
    fn the_suite_table_lists_every_suite() {
        let table = describe_suites(&crate::suites::all());
        for s in crate::suites::all() {
            assert!(table.contains(s.name()), "{table}");
        }
        assert!(table.starts_with("SUITE"));
    }
}
