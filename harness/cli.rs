//! What the command line needs besides argument parsing: logging set-up, signals, the suite
//! list, building the fixture image (`image build`, and when a run misses it), `clean`, and exit
//! codes.

use std::fmt::Write;
use std::path::Path;

use crate::error::{exit, Error, Result};
use crate::platform::{DockerEngine, PlatformKind};
use crate::report::{RunReport, Verdict};
use crate::run::Prepared;
use crate::suites::{walkthrough, Suite};

/// Logs to stderr through `tracing`: `RUST_LOG` wins; otherwise info for zk-chaos (`-q`/`-v`: [`init_tracing_at`]). Coloured only
/// on a terminal (see [`colour`]). The logs are the only coloured output: reports, the summary and
/// the suite table are plain text; clap colours `--help` and its errors itself, and honours
/// `NO_COLOR` too.
pub fn init_tracing() {
    init_tracing_at(0)
}

/// [`init_tracing`] with `-v` (up) and `-q` (down) counted into `verbosity`: given, they win over
/// `RUST_LOG` ([`crate::shell::log_filter`]).
pub fn init_tracing_at(verbosity: i8) {
    use std::io::IsTerminal;
    let wanted = crate::shell::log_filter(verbosity, std::env::var("RUST_LOG").ok().as_deref());
    let filter = tracing_subscriber::EnvFilter::try_new(&wanted).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,zk_chaos=info"));
    let ansi = colour(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR").as_deref(), std::env::var_os("CI").as_deref());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(crate::progress::LogWriter).with_ansi(ansi).with_target(false).try_init();
}

/// Whether to colour a stream: only a terminal, and not when `NO_COLOR` is set to anything but
/// the empty string (https://no-color.org) or `CI` is set (CI logs show escape codes raw).
pub fn colour(is_terminal: bool, no_color: Option<&std::ffi::OsStr>, ci: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty()) && ci.is_none()
}

/// Ctrl-C (SIGINT) and SIGTERM, each delivery once. Registered once for the whole command, so
/// a signal that arrives while the previous one is being handled is not lost.
pub struct Signals {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Installs the handlers (from then on, SIGINT and SIGTERM no longer end the process by
    /// themselves). A handler that cannot be installed is a signal that never comes.
    pub fn new() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        Signals { int: signal(SignalKind::interrupt()).ok(), term: signal(SignalKind::terminate()).ok() }
    }

    /// The next SIGINT or SIGTERM.
    pub async fn next(&mut self) {
        async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        let Signals { int, term } = self;
        tokio::select! {
            _ = one(int) => {}
            _ = one(term) => {}
        }
    }

    /// The signals as a stream (for [`on_interrupts`]).
    pub fn into_stream(self) -> impl futures::Stream<Item = ()> + Unpin + Send {
        Box::pin(futures::stream::unfold(self, |mut s| async move {
            s.next().await;
            Some(((), s))
        }))
    }
}

impl Default for Signals {
    fn default() -> Self {
        Signals::new()
    }
}

/// What the command has under way and may leave behind if the process ends now: what a second
/// Ctrl-C prints. Updated as the command goes (the kind cluster planned, each run's id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InFlight {
    pub platform: Option<PlatformKind>,
    /// The run under way (or about to start).
    pub run_id: Option<String>,
    /// `--platform kind`: the cluster of this command, and the run id it is named after (its first run's).
    pub kind_cluster: Option<(String, String)>,
    /// `--platform kube`: the context and `--kubeconfig`, for the `clean` command.
    pub context: Option<String>,
    pub kubeconfig: Option<std::path::PathBuf>,
    /// `--namespace`: the run's objects are in it (else in a namespace of the run's own).
    pub namespace: Option<String>,
    /// `--adopt`: the ensemble in `namespace` is the user's; the run created nothing there.
    pub adopted: bool,
}

/// What a second interrupt prints before the process quits: what may be left, by run id and label,
/// on which platform, and the exact `zk-chaos clean` command that removes it.
pub fn abandon_message(f: &InFlight) -> String {
    use crate::platform::{CORDONED_BY, RUN_LABEL};
    let head = "zk-chaos: interrupted again: quitting now, before the cleanup finished.";
    let (Some(platform), Some(run)) = (f.platform, f.run_id.as_deref()) else {
        return format!("{head} No run had started: nothing was created.");
    };
    match platform {
        PlatformKind::Docker => format!(
            "{head}\nRun {run} on docker may have left containers, volumes and a network labelled {RUN_LABEL}={run}.\n\
             Remove them with:\n  zk-chaos clean --run {run}"
        ),
        PlatformKind::Kube => {
            let context = f.context.as_deref().unwrap_or("CONTEXT");
            let objects = match &f.namespace {
                Some(ns) if f.adopted => format!(
                    "the adopted ensemble in namespace {ns} with its StatefulSet deleted or its template changed, if a suite was doing that (`kubectl rollout undo`, or `kubectl create -f` the found-statefulset.json in the run's results folder), and partition helpers (ephemeral containers) in its pods"
                ),
                Some(ns) => format!("its StatefulSet, Services, budget and PVCs labelled {RUN_LABEL}={run} in namespace {ns}"),
                None => format!("its namespace {run} (labelled {RUN_LABEL}={run})"),
            };
            let kubeconfig = f.kubeconfig.as_ref().map(|k| format!(" --kubeconfig {}", k.display())).unwrap_or_default();
            format!(
                "{head}\nRun {run} on kube (context {context}) may have left {objects}, and nodes cordoned with the annotation {CORDONED_BY}={run}.\n\
                 Remove them with:\n  zk-chaos clean --context {context}{kubeconfig} --run {run}"
            )
        }
        PlatformKind::Kind => {
            let (cluster, first) = f.kind_cluster.clone().unwrap_or_else(|| (crate::platform::kind_cluster_name(run), run.to_string()));
            format!(
                "{head}\nRun {run} on kind may have left the kind cluster {cluster}, which holds everything the run created \
                 (and nodes' shared volumes in {}).\nRemove it with:\n  zk-chaos clean --run {first}",
                crate::platform::kind_shared_dir(&cluster).display()
            )
        }
    }
}

/// Watches the command's interrupts: the first cancels `first` (the run stops and cleans up);
/// a second calls `quit` with [`abandon_message`] of what is in flight then (the command line
/// prints it and exits 130 at once).
pub async fn on_interrupts(
    mut signals: impl futures::Stream<Item = ()> + Unpin,
    first: tokio_util::sync::CancellationToken,
    in_flight: std::sync::Arc<std::sync::Mutex<InFlight>>,
    quit: impl FnOnce(String),
) {
    use futures::StreamExt;
    if signals.next().await.is_none() {
        return;
    }
    first.cancel();
    if signals.next().await.is_none() {
        return;
    }
    let message = abandon_message(&in_flight.lock().unwrap_or_else(|e| e.into_inner()));
    quit(message);
}

/// The table `zk-chaos suites` prints: each suite, whether it disrupts, where it runs, what it
/// certifies and the walkthrough's sections it follows (their links: `-o json`).
pub fn describe_suites(suites: &[Box<dyn Suite>]) -> String {
    let mut s = format!("{:<16} {:<10} {:<17} {}\n", "SUITE", "DISRUPTIVE", "PLATFORMS", "WHAT IT CERTIFIES");
    for suite in suites {
        let disruptive = if suite.disruptive() { "yes" } else { "no" };
        let _ = writeln!(s, "{:<16} {:<10} {:<17} {}", suite.name(), disruptive, platform_list(suite.as_ref()).join(","), suite.summary());
        if suite.in_walkthrough() {
            let _ = writeln!(s, "{:<45} walkthrough: {}", "", walkthrough::titles(suite.sections()));
        } else {
            let _ = writeln!(s, "{:<45} beyond the walkthrough: runs only when named (--suite {})", "", suite.name());
        }
    }
    let _ = write!(
        s,
        "\nThe sections are those of the Kubernetes walkthrough \"{}\", {} (`zk-chaos suites -o json` links each).\n\
         Disruptive suites kill processes, delete or replace pods, or drain nodes: on a cluster zk-chaos did not create they need --allow-disruption=CONTEXT.\n",
        walkthrough::TITLE,
        walkthrough::URL
    );
    s
}

fn platform_list(suite: &dyn Suite) -> Vec<&'static str> {
    suite.platforms().iter().map(|p| p.as_str()).collect()
}

/// `zk-chaos suites -o json`: the walkthrough and every suite, for a machine. The shape is
/// stable: fields may be added, none renamed or removed.
#[derive(Debug, serde::Serialize)]
pub struct SuiteListing {
    pub walkthrough: Page,
    pub suites: Vec<SuiteEntry>,
}

#[derive(Debug, serde::Serialize)]
pub struct Page {
    pub title: &'static str,
    pub url: &'static str,
}

#[derive(Debug, serde::Serialize)]
pub struct SuiteEntry {
    pub name: &'static str,
    pub description: &'static str,
    /// The walkthrough's sections the suite follows, in page order.
    pub sections: Vec<walkthrough::SectionRef>,
    /// Kills processes, deletes or replaces pods, or drains nodes.
    pub disruptive: bool,
    /// Where it runs; on any other platform it is reported as skipped.
    pub platforms: Vec<&'static str>,
    /// What it needs of a platform beyond the ensemble (`nodes`, `evictions`, `live-objects`,
    /// `partitions`).
    pub needs: &'static [crate::platform::Capability],
    /// Certifies sections of the walkthrough (`certify` runs it); false: beyond it, run only when
    /// named.
    pub in_walkthrough: bool,
}

pub fn list_suites(suites: &[Box<dyn Suite>]) -> SuiteListing {
    SuiteListing {
        walkthrough: Page { title: walkthrough::TITLE, url: walkthrough::URL },
        suites: suites
            .iter()
            .map(|s| SuiteEntry {
                name: s.name(),
                description: s.summary(),
                sections: s.sections().iter().map(|&sec| sec.into()).collect(),
                disruptive: s.disruptive(),
                platforms: platform_list(s.as_ref()),
                needs: s.about().needs,
                in_walkthrough: s.in_walkthrough(),
            })
            .collect(),
    }
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

/// On Docker and kind (which loads the image from the local engine), builds a missing fixture
/// image (`zk-chaos/...`) once with the built-in build ([`crate::platform::build_image`]), which also builds the
/// partition helper; so it does when only the helper is missing and a selected suite partitions.
/// Any other missing image the platform reports, with what to do.
pub async fn ensure_image(p: &Prepared) -> Result<()> {
    if p.opts.platform == PlatformKind::Kube {
        return Ok(());
    }
    let Some(image) = p.manifest.pod_template().image.filter(|i| i.starts_with("zk-chaos/")) else { return Ok(()) };
    let partitions = p.needs(crate::platform::Capability::Partitions);
    let helper = crate::platform::netfilter::image();
    let docker = DockerEngine::connect().await?;
    let mut missing = Vec::new();
    for wanted in std::iter::once(&image).chain(partitions.then_some(&helper).filter(|h| h.starts_with("zk-chaos/"))) {
        if !docker.has_image(wanted).await {
            missing.push(wanted.as_str());
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let missing = missing.join(" and ");
    tracing::info!("missing: {missing}; building as `zk-chaos image build` does (once; later runs reuse it)");
    match crate::platform::build_image(Some(&image)).await? {
        0 => Ok(()),
        code => Err(Error::unavailable(format!(
            "building {missing} failed (exit {code}); see the build's output above, fix what it names and retry, \
             or build it separately with `ZK_CHAOS_IMAGE={image} zk-chaos image build`"
        ))),
    }
}

/// On Docker and kind, the images selected suites run beyond the manifest's (the upgrade suite's
/// `--to-image`) must be in the local engine: no registry can give them. Checked before anything
/// is started; a missing one is exit 3, naming it and the script that builds it.
pub async fn ensure_suite_images(p: &Prepared) -> Result<()> {
    if p.opts.platform == PlatformKind::Kube {
        return Ok(());
    }
    let wanted: Vec<(String, &str)> = p.suites.iter().flat_map(|s| s.images(&p.manifest, &p.opts.config).into_iter().map(move |i| (i, s.name()))).collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let docker = DockerEngine::connect().await?;
    for (image, suite) in wanted {
        if !docker.has_image(&image).await {
            return Err(Error::unavailable(format!(
                "the suite {suite} runs the image {image}, which is not in the local Docker engine, and no registry can be reached to pull it: \
                 build it (bash ci/build-zookeeper-images.sh builds zk-chaos/zookeeper:3.9.5 and the references' images, bash ci/build-broken-image.sh \
                 zk-chaos/zookeeper-broken:3.9.5) or name one the engine has (--to-image)"
            )));
        }
    }
    Ok(())
}

/// `zk-chaos image build`: 0 built or up to date, 3 no Docker engine (or no bash), 1 the build failed.
pub async fn build_image(name: Option<&str>) -> Result<i32> {
    Ok(match crate::platform::build_image(name).await? {
        0 => exit::PASSED,
        3 => exit::UNAVAILABLE,
        _ => exit::FAILED,
    })
}

/// `zk-chaos clean`: removes what killed runs left: containers, volumes and networks carrying
/// the run label and `zk-chaos-*` kind clusters, and with `context` what runs left on that
/// Kubernetes cluster (see [`crate::platform::clean_cluster`]). Without `context` no cluster of the
/// user's kubeconfig is touched.
///
/// Only runs that are over are removed (see [`crate::ownership`]): a run in progress on this
/// host, a run kept with `--keep` and a run of another host are left alone and named. `run`
/// removes that run (kept or of another host too), refusing one in progress; `force` removes
/// everything, in progress or not.
pub async fn clean(run: Option<&str>, force: bool, context: Option<&str>, kubeconfig: Option<&Path>) -> Result<i32> {
    use crate::ownership::{self, Ask, Judge};
    use crate::platform::{Cleaned, KindCluster, KubeContext};
    let runs_dir = ownership::runs_dir();
    let mut judge = Judge::new(Ask { run, force }, runs_dir.clone());
    let mut out = Cleaned::default();
    // The cluster first: its connection is checked before anything is removed anywhere.
    let client = match context {
        Some(c) => Some(KubeContext::resolve(kubeconfig, Some(c))?.connect().await?),
        None => None,
    };
    match DockerEngine::connect().await {
        Ok(docker) => {
            let found = docker.leftovers(run).await.map_err(Error::Other)?;
            for r in &found.runs {
                if judge.removes(r, found.hosts.get(r).map(String::as_str), &mut out.left, &mut out.refused) {
                    let one = docker.leftovers(Some(r)).await.map_err(Error::Other)?;
                    println!("removing {}", one.describe());
                    out.removed.push(r.clone());
                    out.errors.extend(docker.remove(&one).await);
                    ownership::forget(&runs_dir, r);
                }
            }
            // A cluster is named after its session's first run, and locked under its own name.
            for name in crate::platform::kind_leftovers(run).await.map_err(Error::Other)? {
                // With --run, leftovers() found that run's cluster only: it is the one named.
                let ask = Ask { run: run.map(|_| name.as_str()), force };
                if !Judge::new(ask, runs_dir.clone()).removes(&name, None, &mut out.left, &mut out.refused) {
                    continue;
                }
                println!("deleting kind cluster {name}");
                out.removed.push(name.clone());
                let cluster = KindCluster::named(&name);
                match cluster.delete().await {
                    Ok(()) => ownership::forget(&runs_dir, &name),
                    Err(e) => out.errors.push(format!("{e:#}")),
                }
            }
        }
        // Cleaning a cluster needs no Docker engine.
        Err(e) if client.is_some() => tracing::info!("no Docker engine to clean: {e}"),
        Err(e) => return Err(e),
    }
    if let (Some(client), Some(context)) = (&client, context) {
        let cleaned = crate::platform::clean_cluster(client, &mut judge, std::time::Duration::from_secs(120)).await;
        for line in &cleaned.removed {
            println!("{context}: {line}");
        }
        out.removed.extend(cleaned.removed);
        out.left.extend(cleaned.left.into_iter().map(|l| format!("{context}: {l}")));
        out.refused.extend(cleaned.refused.into_iter().map(|l| format!("{context}: {l}")));
        out.errors.extend(cleaned.errors.into_iter().map(|e| format!("{context}: {e}")));
    }
    for line in &out.left {
        println!("left alone: {line}");
    }
    if out.removed.is_empty() && out.errors.is_empty() && out.refused.is_empty() {
        println!("nothing to clean");
    }
    for e in &out.errors {
        eprintln!("zk-chaos clean: {e}");
    }
    if !out.refused.is_empty() {
        return Err(Error::bad_input(out.refused.join("; ")));
    }
    Ok(if out.errors.is_empty() { exit::PASSED } else { exit::FAILED })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_flight(platform: PlatformKind) -> InFlight {
        InFlight { platform: Some(platform), run_id: Some("zk-chaos-20261201-101500-ab12".into()), ..Default::default() }
    }

    #[test]
    fn a_second_interrupt_names_what_may_be_left_and_the_clean_command() {
        let docker = abandon_message(&in_flight(PlatformKind::Docker));
        assert!(docker.contains("Run zk-chaos-20261201-101500-ab12 on docker") && docker.contains("labelled zk-chaos.run=zk-chaos-20261201-101500-ab12"), "{docker}");
        assert!(docker.ends_with("\n  zk-chaos clean --run zk-chaos-20261201-101500-ab12"), "{docker}");

        let mut kube = in_flight(PlatformKind::Kube);
        kube.context = Some("staging".into());
        kube.kubeconfig = Some("/home/me/.kube/staging.yaml".into());
        let msg = abandon_message(&kube);
        assert!(msg.contains("its namespace zk-chaos-20261201-101500-ab12") && msg.contains("zk-chaos.run/cordoned-by=zk-chaos-20261201-101500-ab12"), "{msg}");
        assert!(msg.ends_with("\n  zk-chaos clean --context staging --kubeconfig /home/me/.kube/staging.yaml --run zk-chaos-20261201-101500-ab12"), "{msg}");
        kube.namespace = Some("zk-test".into());
        kube.kubeconfig = None;
        let msg = abandon_message(&kube);
        assert!(msg.contains("labelled zk-chaos.run=zk-chaos-20261201-101500-ab12 in namespace zk-test"), "{msg}");
        assert!(msg.ends_with("\n  zk-chaos clean --context staging --run zk-chaos-20261201-101500-ab12"), "{msg}");

        // The second run of a repeat on kind: the cluster is named after the first run, and
        // `clean --run` finds it by that one.
        let mut kind = in_flight(PlatformKind::Kind);
        kind.kind_cluster = Some(("zk-chaos-101000-cd34".into(), "zk-chaos-20261201-101000-cd34".into()));
        let msg = abandon_message(&kind);
        assert!(msg.contains("the kind cluster zk-chaos-101000-cd34"), "{msg}");
        assert!(msg.ends_with("\n  zk-chaos clean --run zk-chaos-20261201-101000-cd34"), "{msg}");
        assert_eq!(crate::platform::kind_cluster_name("zk-chaos-20261201-101000-cd34"), "zk-chaos-101000-cd34");

        assert!(abandon_message(&InFlight::default()).contains("nothing was created"));
    }

    /// The first interrupt only cancels (cleanup runs); the second quits with what is in flight
    /// at that moment, not at the first.
    #[tokio::test]
    async fn the_first_interrupt_cancels_and_the_second_quits() {
        use std::sync::{Arc, Mutex};
        let (tx, rx) = futures::channel::mpsc::unbounded::<()>();
        let token = tokio_util::sync::CancellationToken::new();
        let state = Arc::new(Mutex::new(InFlight::default()));
        let quit = Arc::new(Mutex::new(None::<String>));
        let watcher = {
            let (token, state, quit) = (token.clone(), state.clone(), quit.clone());
            tokio::spawn(on_interrupts(rx, token, state, move |m| *quit.lock().unwrap() = Some(m)))
        };
        *state.lock().unwrap() = in_flight(PlatformKind::Docker);
        tx.unbounded_send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), token.cancelled()).await.expect("the first interrupt cancels");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(quit.lock().unwrap().is_none(), "one interrupt does not quit");
        state.lock().unwrap().run_id = Some("zk-chaos-20261201-102000-ef56".into());
        tx.unbounded_send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), watcher).await.expect("the watcher ends").unwrap();
        let msg = quit.lock().unwrap().clone().expect("the second interrupt quits");
        assert!(msg.ends_with("zk-chaos clean --run zk-chaos-20261201-102000-ef56"), "{msg}");
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color_or_ci() {
        use std::ffi::OsStr;
        assert!(colour(true, None, None));
        assert!(!colour(false, None, None), "not a terminal");
        assert!(!colour(true, Some(OsStr::new("1")), None));
        assert!(!colour(true, Some(OsStr::new("false")), None), "any non-empty NO_COLOR, whatever it says");
        assert!(colour(true, Some(OsStr::new("")), None), "an empty NO_COLOR is unset");
        assert!(!colour(true, None, Some(OsStr::new("true"))));
    }

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
    fn the_suite_table_marks_disruption_and_platforms() {
        let table = describe_suites(&crate::suites::all());
        assert!(table.starts_with("SUITE            DISRUPTIVE PLATFORMS"), "{table}");
        let row = |name: &str| table.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("no row for {name}:\n{table}")).to_string();
        for s in crate::suites::all() {
            let r = row(s.name());
            let cols: Vec<&str> = r.split_whitespace().collect();
            assert_eq!(cols[1], if s.disruptive() { "yes" } else { "no" }, "{r}");
            assert_eq!(cols[2], s.platforms().iter().map(|p| p.as_str()).collect::<Vec<_>>().join(","), "{r}");
        }
        assert!(row("maintenance").contains(" yes        kube,kind "), "{table}");
        assert!(row("conformance").contains(" no         docker,kube,kind "), "{table}");
        assert!(table.contains("walkthrough: Surviving maintenance\n"), "{table}");
        assert!(table.contains(walkthrough::URL) && !table.contains("TUTORIAL.md"), "{table}");
    }

    #[test]
    fn the_suite_listing_as_json_has_a_stable_shape() {
        let json = serde_json::to_value(list_suites(&crate::suites::all())).unwrap();
        assert_eq!(json["walkthrough"]["url"], walkthrough::URL);
        let suites = json["suites"].as_array().unwrap();
        assert_eq!(suites.len(), crate::suites::all().len());
        for s in suites {
            let mut keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort();
            assert_eq!(keys, ["description", "disruptive", "in_walkthrough", "name", "needs", "platforms", "sections"], "{s}");
        }
        let maintenance = suites.iter().find(|s| s["name"] == "maintenance").unwrap();
        assert_eq!(maintenance["disruptive"], true);
        assert_eq!(maintenance["platforms"], serde_json::json!(["kube", "kind"]));
        assert_eq!(maintenance["needs"], serde_json::json!(["nodes", "evictions"]));
        assert_eq!(
            maintenance["sections"],
            serde_json::json!([{"title": "Surviving maintenance", "url": "https://kubernetes.io/docs/tutorials/stateful-application/zookeeper/#surviving-maintenance"}])
        );
        let integrity = suites.iter().find(|s| s["name"] == "integrity").unwrap();
        assert_eq!(integrity["disruptive"], false);
        assert_eq!(integrity["sections"][0]["title"], "Sanity testing the ensemble");
    }
}
