//! A run: validate the input, stand the ensemble up, run the suites, collect logs on failure,
//! remove everything (also on failure and interrupt), and write the report.
//!
//! Input is validated before anything is created, so bad input never leaves a half-started run.
//!
//! Over 600 lines: about 330 of them are the unit tests of a run's life (prepare, connect, the
//! suites, cleanup on every path); the suites' own steps are in `suites/`.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use crate::config::Config;
use crate::ensemble;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::ownership::{self, RunLocks};
use crate::platform::{Capability, Platform, PlatformKind};
use crate::report::model::Subject;
use crate::report::{self, CheckReport, RunReport, SuiteReport, Verdict};
use crate::suites::traffic::Traffic;
use crate::suites::{self, walkthrough, Suite, SuiteCtx};

/// What the command line asked for.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub platform: PlatformKind,
    pub suites: Vec<String>,
    /// `--manifest`; `None`: the built-in reference manifest ([`crate::manifest::REFERENCE`]).
    pub manifest: Option<PathBuf>,
    pub results: PathBuf,
    pub config: Config,
    pub keep: bool,
    pub fail_fast: bool,
    /// `--kubeconfig`, `--context`, `--namespace`, `--allow-disruption` (kube and kind).
    pub kube: crate::platform::KubeOptions,
}

/// A run whose input was checked: nothing has been created yet.
pub struct Prepared {
    pub opts: RunOptions,
    pub manifest: Manifest,
    pub suites: Vec<Box<dyn Suite>>,
    /// On `--platform kind`: the cluster config (`--kind-config`, else the built-in one).
    pub kind_config: Option<crate::platform::KindConfig>,
    /// Selected suites that do not run, by name, with why: `certify --adopt` without
    /// `--allow-disruption` for the context runs the read-only suites and reports the
    /// disruptive ones skipped with this reason.
    pub withheld: BTreeMap<String, String>,
}

impl Prepared {
    /// Whether a selected suite needs `capability` (on kind, the partition helper's image is
    /// loaded only then).
    pub fn needs(&self, capability: crate::platform::Capability) -> bool {
        self.suites.iter().any(|s| s.about().needs.contains(&capability))
    }
}

/// Checks the manifest and the suite names. Bad input is an error here, before any platform work.
/// With `--adopt` the manifest is the cluster's: see [`prepare_adopted`].
pub fn prepare(opts: RunOptions) -> Result<Prepared> {
    if opts.kube.adopt.is_some() {
        return Err(Error::Other(anyhow::anyhow!("an adopting run is prepared by run::prepare_adopted, which reads its manifest from the cluster")));
    }
    let mut manifest = Manifest::load_or_reference(opts.manifest.as_deref())?;
    let mut local = Vec::new();
    if !opts.config.images.is_empty() {
        let origin = manifest.origin.clone();
        manifest = manifest.with_image_map(&opts.config.images).map_err(|e| Error::bad_input(format!("{origin}: {e}")))?;
        local.extend(opts.config.images.values().cloned());
    }
    if let Some(image) = &opts.config.image {
        manifest = manifest.with_image(image);
        local.push(image.clone());
    }
    manifest = manifest.with_local_images(&local, "the run supplies it (mapped with --image-map, images: or image: in the config)");
    if opts.platform == PlatformKind::Kind {
        // kind loads every image of the pod template into its nodes (see `open`).
        let loaded = manifest.images();
        manifest = manifest.with_local_images(&loaded, "it is loaded into the kind cluster from the local Docker engine");
    }
    let unsupported = manifest.docker_unsupported();
    if opts.platform == PlatformKind::Docker && !unsupported.is_empty() {
        return Err(Error::bad_input(format!(
            "{}: the Docker platform cannot run {} as Kubernetes would, and a result for a deployment it does not run as written would mislead; \
             remove the field{} or run on a cluster (--platform kind or --platform kube)",
            manifest.origin,
            unsupported.join("; "),
            if unsupported.len() > 1 { "s" } else { "" }
        )));
    }
    with_manifest(opts, manifest)
}

/// [`prepare`], or with `--adopt` [`prepare_adopted`].
pub async fn prepare_any(opts: RunOptions) -> Result<Prepared> {
    if opts.kube.adopt.is_some() {
        prepare_adopted(opts).await
    } else {
        prepare(opts)
    }
}

/// `--adopt statefulset/NAME -n NS`: checks the flags that go with it, then reads the live
/// StatefulSet and the objects around it ([`crate::platform::adopt`]) into the run's
/// manifest. Contacts the cluster (reads only); creates nothing. Disruptive suites are refused
/// before the cluster is contacted when named without `--allow-disruption` for the context, and
/// withheld (reported skipped) when the run selected them by default (`certify`).
pub async fn prepare_adopted(opts: RunOptions) -> Result<Prepared> {
    use crate::platform::{AdoptAsked, KubeContext};
    let k = &opts.kube;
    let target = k.adopt.clone().unwrap_or_default();
    let asked = AdoptAsked {
        platform: opts.platform.as_str(),
        manifest: opts.manifest.is_some(),
        namespace: k.namespace.as_deref(),
        images: opts.config.image.is_some() || !opts.config.images.is_empty(),
        storage_class: k.storage_class.is_some(),
        kind_config: k.kind_config.is_some(),
        keep: opts.keep,
        data: opts.config.data.is_some(),
    };
    if let Some(why) = crate::platform::refuse_adopting(&asked) {
        return Err(Error::bad_input(why));
    }
    let name = crate::platform::adopt_target(&target).map_err(Error::bad_input)?;
    let namespace = k.namespace.clone().unwrap_or_default();
    let selected = suites::select(&opts.suites)?;
    let kube_context = KubeContext::resolve(k.kubeconfig.as_deref(), k.context.as_deref())?;
    let context = kube_context.name.clone();
    let disruptive: Vec<&str> = selected.iter().filter(|s| s.disruptive() && s.platforms().contains(&PlatformKind::Kube)).map(|s| s.name()).collect();
    let mut withheld = BTreeMap::new();
    if !opts.suites.is_empty() {
        kube_context.check_disruption(&disruptive, k.allow_disruption.as_deref())?;
    } else if kube_context.check_disruption(&disruptive, k.allow_disruption.as_deref()).is_err() {
        for d in &disruptive {
            withheld.insert(
                d.to_string(),
                format!("disruptive, and the adopted ensemble runs on context '{context}', which zk-chaos did not create: --allow-disruption={context} lets it run"),
            );
        }
    }
    let client = kube_context.connect().await?;
    let origin = format!("statefulset/{name} in namespace {namespace} on context {context} (adopted)");
    let manifest = crate::platform::adopt(&client, &namespace, &name, &context, &origin).await?;
    let mut p = with_manifest(opts, manifest)?;
    p.withheld = withheld;
    Ok(p)
}

/// The rest of [`prepare`] once the manifest is known: the suites, and what the platform refuses.
fn with_manifest(opts: RunOptions, manifest: Manifest) -> Result<Prepared> {
    let suites = suites::select(&opts.suites)?;
    if let Some(s) = suites.iter().find(|s| !opts.suites.is_empty() && !s.platforms().contains(&opts.platform)) {
        // Asked for by name on a platform it cannot run on: say so now rather than skip it.
        return Err(Error::bad_input(format!(
            "suite '{}' needs the platform {}; this run is on {} (see `zk-chaos suites`)",
            s.name(),
            s.platforms().iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" or "),
            opts.platform
        )));
    }
    let kind_config = match (opts.platform, &opts.kube.kind_config) {
        (PlatformKind::Kind, Some(path)) => Some(crate::platform::KindConfig::load(path)?),
        (PlatformKind::Kind, None) => Some(crate::platform::KindConfig::builtin()),
        _ => None,
    };
    Ok(Prepared { opts, manifest, suites, kind_config, withheld: BTreeMap::new() })
}

/// `<prefix>-YYYYmmdd-HHMMSS-xxxx`: sortable, unique enough, valid as a Docker and DNS name.
pub fn new_run_id(prefix: &str) -> String {
    let now = Utc::now();
    let salt = std::process::id() ^ now.timestamp_subsec_nanos();
    format!("{prefix}-{}-{:04x}", now.format("%Y%m%d-%H%M%S"), salt & 0xffff)
}

/// What every run of one command stands on. For `--platform kind`, the cluster the command
/// creates once: each of its runs (`--repeat N`) uses it in a namespace of its own, and it is
/// deleted at the end (the last run's teardown, or [`close`] on every other path).
pub struct Session {
    pub kind: Option<crate::platform::KindCluster>,
    /// The locks of the session's runs (and cluster): `clean` leaves what they name alone.
    locks: std::sync::Mutex<RunLocks>,
}

impl Session {
    /// A session holding no cluster; its runs' locks are taken in `runs_dir`.
    pub fn without_cluster(runs_dir: PathBuf) -> Session {
        Session { kind: None, locks: std::sync::Mutex::new(RunLocks::new(runs_dir)) }
    }

    /// Takes the lock of `name` (a run id or the cluster's name) before anything of it exists.
    fn own(&self, name: &str) -> Result<()> {
        self.locks.lock().expect("the lock ledger is never poisoned").hold(name).map_err(|e| {
            Error::unavailable(format!(
                "cannot take the lock of run {name} in {}: {e}; `zk-chaos clean` uses it to tell a run in progress from a killed one (set ZK_CHAOS_RUNS_DIR to a writable directory)",
                ownership::runs_dir().display()
            ))
        })
    }

    /// Marks what the session holds as kept (`--keep`), so that `clean` leaves it alone.
    fn keep(&self) {
        let locks = self.locks.lock().expect("the lock ledger is never poisoned");
        for name in locks.names() {
            if let Err(e) = locks.keep(&name) {
                tracing::warn!("marking {name} as kept: {e}; `zk-chaos clean` will take it for a killed run's leftovers");
            }
        }
    }
}

/// Opens the command's session: on kind, creates the cluster (named after `first_run_id`) and
/// loads the image. If `interrupt` resolves meanwhile, the cluster is deleted and the command ends.
pub async fn open(p: &Prepared, first_run_id: &str, interrupt: impl Future<Output = ()>) -> Result<Session> {
    let mut session = Session::without_cluster(ownership::runs_dir());
    session.own(first_run_id)?;
    if p.opts.platform != PlatformKind::Kind {
        return Ok(session);
    }
    use crate::platform::KindCluster;
    let mut images = p.manifest.images();
    if images.is_empty() {
        return Err(Error::bad_input(format!("{}: the container has no image", p.manifest.origin)));
    }
    let config = p.kind_config.clone().unwrap_or_else(crate::platform::KindConfig::builtin);
    // The partition helper only when a selected suite partitions: it is not needed otherwise.
    if p.needs(crate::platform::Capability::Partitions) {
        images.push(crate::platform::netfilter::image());
    }
    // What a selected suite runs beyond the manifest (the upgrade suite's --to-image).
    for extra in p.suites.iter().flat_map(|s| s.images(&p.manifest, &p.opts.config)) {
        if !images.contains(&extra) {
            images.push(extra);
        }
    }
    let images: Vec<&str> = images.iter().map(String::as_str).collect();
    let cluster = KindCluster::planned(first_run_id);
    session.own(&cluster.name)?;
    tokio::select! {
        created = cluster.create(&config, &images) => created?,
        _ = interrupt => {
            tracing::warn!("interrupted while creating kind cluster {}: deleting it", cluster.name);
            if let Err(e) = cluster.delete().await {
                tracing::warn!("{e:#}; remove it with `kind delete cluster --name {}`", cluster.name);
            }
            return Err(Error::Interrupted);
        }
    }
    session.kind = Some(cluster);
    Ok(session)
}

/// Ends the session: deletes the kind cluster unless `--keep` (a second delete of a cluster the
/// last run's teardown already deleted is a no-op).
pub async fn close(p: &Prepared, session: &Session) -> Result<()> {
    if p.opts.keep {
        session.keep();
    }
    let Some(cluster) = &session.kind else { return Ok(()) };
    if p.opts.keep {
        return Ok(());
    }
    cluster.delete().await.map_err(|e| Error::Other(e.context(format!("deleting kind cluster {}; remove it with `kind delete cluster --name {}`", cluster.name, cluster.name))))
}

/// Creates the platform for one run of the session. `last`: no run of this command follows (on
/// kind its teardown deletes the cluster rather than only its namespace).
pub async fn connect(p: &Prepared, session: &Session, run_id: &str, last: bool) -> Result<Arc<dyn Platform>> {
    if !session.locks.lock().expect("the lock ledger is never poisoned").holds(run_id) {
        session.own(run_id)?;
    }
    let disruptive =
        p.suites.iter().filter(|s| s.disruptive() && s.platforms().contains(&PlatformKind::Kube) && !p.withheld.contains_key(s.name())).map(|s| s.name().to_string()).collect();
    let options = crate::platform::OpenOptions {
        manifest: p.manifest.clone(),
        config: p.opts.config.clone(),
        run_id: run_id.to_string(),
        kube: p.opts.kube.clone(),
        disruptive,
        kind_cluster: session.kind.clone(),
        last,
    };
    crate::platform::open(p.opts.platform, options).await
}

/// Runs a prepared run to its report. `interrupt` resolves when the user asks to stop (Ctrl-C):
/// the run then stops where it is, cleans up and reports itself interrupted.
pub async fn execute(p: &Prepared, platform: Arc<dyn Platform>, interrupt: impl Future<Output = ()>) -> Finished {
    let started_at = Utc::now();
    let clock = Instant::now();
    let run_dir = report::run_dir(&p.opts.results, platform.run_id());
    let mut suite_reports = Vec::new();
    let mut version = None;
    if p.opts.kube.adopt.is_some() {
        // The StatefulSet as found, for `kubectl create -f` should the process die before its teardown.
        let saved = std::fs::create_dir_all(&run_dir).and_then(|()| {
            let text = serde_json::to_string_pretty(p.manifest.statefulset_document()).unwrap_or_default();
            std::fs::write(run_dir.join(FOUND_STATEFULSET), text + "\n")
        });
        if let Err(e) = saved {
            tracing::warn!("saving the StatefulSet as found in {}: {e}", run_dir.display());
        }
    }
    let body = run_body(p, platform.clone(), &run_dir, &mut suite_reports, &mut version);
    let interrupted = tokio::select! {
        _ = body => false,
        _ = interrupt => {
            tracing::warn!("interrupted: stopping the run and removing what it created (interrupt again to quit at once)");
            true
        }
    };

    if p.opts.kube.adopt.is_some() && !interrupted && suite_reports.iter().all(|s| s.name != "deploy") {
        suite_reports.push(as_found(p, platform.clone(), &run_dir).await);
    }
    let failed = interrupted || suite_reports.iter().any(|s: &SuiteReport| s.verdict == Verdict::Fail);
    let mut member_logs = BTreeMap::new();
    if failed {
        member_logs = save_member_logs(platform.as_ref(), &run_dir).await;
    }
    let mut cleanup_errors = Vec::new();
    if p.opts.keep {
        eprintln!("{}", platform.keep_instructions());
    } else {
        tracing::info!("removing everything run {} created", platform.run_id());
        let budget = p.opts.config.timeouts.cleanup + platform.teardown_allowance();
        let teardown = tokio::time::timeout(budget, platform.teardown()).await;
        match teardown {
            Ok(Ok(())) => {}
            Ok(Err(e)) => cleanup_errors.push(format!("{e:#}")),
            Err(_) => cleanup_errors.push(format!("cleanup did not finish within {}", humantime::format_duration(budget))),
        }
    }
    let mut report = RunReport {
        schema_version: report::model::SCHEMA_VERSION,
        zk_chaos_version: env!("CARGO_PKG_VERSION").to_string(),
        run_id: platform.run_id().to_string(),
        verdict: Verdict::Fail,
        platform: platform.kind().to_string(),
        started_at,
        finished_at: Utc::now(),
        duration_ms: clock.elapsed().as_millis() as u64,
        subject: Subject {
            manifest: p.manifest.origin.clone(),
            manifest_digest: p.manifest.digest.clone(),
            images: p.manifest.images(),
            image_id: None,
            zookeeper_version: version,
        },
        notes: p.manifest.notes.iter().cloned().chain(platform.notes()).collect(),
        suites: suite_reports,
        cleanup_errors,
        interrupted,
    };
    report.verdict = report.judge();
    Finished { report, member_logs }
}

/// The name of the report's last part on an adopting run: whether the run left the ensemble
/// as it found it.
pub const AS_FOUND: &str = "as-found";

/// The adopted StatefulSet as found, in an adopting run's results folder.
pub const FOUND_STATEFULSET: &str = "found-statefulset.json";

/// After the suites of an adopting run: every member Ready and the ensemble whole (within the
/// `ensemble_whole` deadline), and the StatefulSet's spec, labels and annotations as they were
/// found ([`crate::platform::adopted_differences`]).
async fn as_found(p: &Prepared, platform: Arc<dyn Platform>, run_dir: &Path) -> SuiteReport {
    let t = &p.opts.config.timeouts;
    let started = Instant::now();
    let since = Utc::now();
    let mut ctx = SuiteCtx::new(AS_FOUND, platform.clone(), p.opts.config.clone(), run_dir.to_path_buf());
    let whole = async { ensemble::wait_whole(platform.as_ref(), t.ensemble_whole, t.operation).await.map(|v| v.describe()) };
    ctx.check("every member Ready and serving, the ensemble whole, as found", whole).await;
    let same = async {
        let cluster = platform.cluster().ok_or_else(|| anyhow::anyhow!("{} has no live StatefulSet to compare", platform.kind()))?;
        let now = cluster.live_statefulset().await?;
        let found = p.manifest.statefulset_document();
        let changed = crate::platform::adopted_differences(found, &now);
        anyhow::ensure!(changed.is_empty(), "StatefulSet {} is not as found: {}", p.manifest.name(), changed.join("; "));
        Ok(format!(
            "StatefulSet {}: spec, labels and annotations as found (uid now {})",
            p.manifest.name(),
            now.pointer("/metadata/uid").and_then(serde_json::Value::as_str).unwrap_or("?")
        ))
    };
    ctx.check("the StatefulSet's spec unchanged", same).await;
    let mut report = ctx.finish(Ok(()), started);
    report.timeline = platform.lifecycle().into_iter().filter(|e| e.at >= since).collect();
    report
}

/// A finished run: its report and, when it failed, every member's log.
pub struct Finished {
    pub report: RunReport,
    pub member_logs: BTreeMap<String, String>,
}

/// Deploys, then runs each suite (or reports it skipped), pushing reports as they finish so an
/// interrupt keeps what was done.
async fn run_body(p: &Prepared, platform: Arc<dyn Platform>, run_dir: &Path, out: &mut Vec<SuiteReport>, version: &mut Option<String>) {
    let kind = platform.kind();
    let t = &p.opts.config.timeouts;
    // The status line (or plain lines), until the suites are done.
    let _progress = crate::progress::start();
    let expected = crate::progress::expected(&p.opts.results, kind.as_str());
    let runnable = p.suites.iter().filter(|s| s.platforms().contains(&kind) && !p.withheld.contains_key(s.name())).count();
    let mut ordinal = 0;
    let deploy_start = Instant::now();
    let deploy = p.suites.iter().any(|s| s.platforms().contains(&kind) && s.needs_ensemble(kind));
    if !deploy {
        tracing::info!("no selected suite needs the ensemble on {kind}: nothing is deployed");
    } else {
        tracing::info!("deploying {} ({} members) on {kind}, run {}", p.manifest.origin, p.manifest.replicas(), platform.run_id());
        crate::progress::phase(format!("deploying {} ({} members)", p.manifest.origin, p.manifest.replicas()));
    }
    let deployed = if deploy { platform.deploy().await } else { Ok(()) };
    if let Err(e) = deployed {
        let mut r = SuiteReport::skipped("deploy", "");
        r.reason = None;
        r.verdict = Verdict::Fail;
        r.duration_ms = deploy_start.elapsed().as_millis() as u64;
        r.checks.push(CheckReport { name: "every member Running and Ready".into(), verdict: Verdict::Fail, message: format!("{e:#}"), duration_ms: r.duration_ms });
        r.timeline = platform.lifecycle();
        out.push(r);
        return;
    }
    if deploy {
        tracing::info!("ensemble up in {:.1}s", deploy_start.elapsed().as_secs_f64());
        // Before the suites: each member's server serving, which Ready does not say (see
        // wait_serving). A deployment where some never serves is the suites' to judge: they run.
        let serving = Instant::now();
        match crate::ensemble::wait_serving(platform.as_ref(), t.ensemble_whole, t.operation).await {
            Ok(view) => tracing::info!("every member serving {:.1}s after that: {}", serving.elapsed().as_secs_f64(), view.describe()),
            Err(e) => tracing::warn!("not every member serves {:.0}s after Ready; the suites run and judge it: {e:#}", serving.elapsed().as_secs_f64()),
        }
    }
    if let Some(first) = platform.members().first().filter(|_| deploy) {
        if let Ok(addr) = platform.client_addr(first).await {
            if let Ok(Some(state)) = crate::client::fourlw::server_state(addr, t.operation).await {
                *version = Some(crate::client::fourlw::release(&state.version));
            }
        }
    }

    // `--data`: written before the first fault suite, checked after it and every later one.
    let mut volume = Volume::Unwritten;
    for (i, suite) in p.suites.iter().enumerate() {
        if !suite.platforms().contains(&kind) {
            out.push(SuiteReport::skipped(suite.name(), &skip_reason(suite.as_ref(), kind)));
            continue;
        }
        if let Some(why) = p.withheld.get(suite.name()) {
            out.push(SuiteReport::skipped(suite.name(), why));
            continue;
        }
        if p.opts.fail_fast && out.iter().any(|s| s.verdict == Verdict::Fail) {
            out.push(SuiteReport::skipped(suite.name(), "--fail-fast: an earlier suite failed"));
            continue;
        }
        let mut started = Instant::now();
        let since = Utc::now();
        ordinal += 1;
        crate::progress::suite(ordinal, runnable, suite.name(), expected.get(suite.name()).copied());
        tracing::info!("suite {} ({}): {}", suite.name(), walkthrough::titles(suite.sections()), suite.summary());
        // A fault that would change a StatefulSet the run must not change (an adopted one a
        // controller owns): the suite is skipped, saying why.
        let refused = match suite.changes_statefulset() {
            Some(change) => platform.statefulset_change_refused(change).await,
            None => Ok(None),
        };
        if let Ok(Some(why)) = &refused {
            tracing::info!("suite {}: skipped: {why}", suite.name());
            out.push(SuiteReport::skipped(suite.name(), why));
            continue;
        }
        if let (Some(size), Volume::Unwritten, true) = (p.opts.config.data, &volume, suite.disruptive()) {
            crate::progress::phase(format!("writing the data volume ({size})"));
            let (report, loaded) = load_volume(&p.opts.config, platform.clone(), run_dir, size).await;
            out.push(report);
            volume = loaded.map_or(Volume::Failed, Volume::Written);
            // The write is the data part's time (in its own report), not the suite's: the suite's
            // wall time, and its harness overhead, start here.
            started = Instant::now();
        }
        let mut ctx = SuiteCtx::new(suite.name(), platform.clone(), p.opts.config.clone(), run_dir.to_path_buf());
        if let Err(e) = refused {
            ctx.fail("the StatefulSet may be changed by the suite's fault", e.context("reading the live StatefulSet"));
            let mut report = ctx.finish(Ok(()), started);
            report.timeline = platform.lifecycle().into_iter().filter(|e| e.at >= since).collect();
            out.push(report);
            continue;
        }
        let ready = if i > 0 {
            // An earlier suite must not leave its damage to this one.
            let whole = async { ensemble::wait_whole(platform.as_ref(), t.ensemble_whole, t.operation).await.map(|v| v.describe()) };
            ctx.check("ensemble whole before the suite", whole).await
        } else {
            true
        };
        // With a volume, every suite is sampled until after its intact read: each restarted
        // member's time to serve again (load + sync) comes from the same samples.
        let written = matches!(volume, Volume::Written(_));
        let sample = (ready && sampled(suite.as_ref())) || written;
        let (outcome, samples) = run_sampled(suite.as_ref(), &mut ctx, ready, sample, async |ctx| match &volume {
            Volume::Written(loaded) => {
                let members = platform.members();
                let through = members.get(ordinal % members.len().max(1)).cloned().unwrap_or_default();
                volume_intact(ctx, loaded, &through).await;
            }
            Volume::Failed => ctx.skip(VOLUME_INTACT, format!("the data volume was not written (see the report's '{DATA}' part): there is nothing to compare")),
            Volume::Unwritten => {}
        })
        .await;
        if written {
            let events: Vec<_> = platform.lifecycle().into_iter().filter(|e| e.at >= since).collect();
            record_start_to_serving(&mut ctx, &crate::start_to_serving::start_to_serving(&events, &samples));
        }
        let mut report = ctx.finish(outcome, started);
        report.timeline = platform.lifecycle().into_iter().filter(|e| e.at >= since).collect();
        tracing::info!("suite {}: {} in {:.1}s", report.name, report.verdict.as_str(), started.elapsed().as_secs_f64());
        out.push(report);
    }
    if let (Some(size), Volume::Unwritten, true) = (p.opts.config.data, &volume, deploy) {
        out.push(SuiteReport::skipped(DATA, &format!("--data {size}: no fault suite ran, and the volume is written before the first one")));
    }
}

/// The name of the report's part that writes the data volume (`--data`).
pub const DATA: &str = "data";

/// The check the runner adds to every suite from the first fault suite on when `--data` is given.
pub const VOLUME_INTACT: &str = "every znode of the data volume intact";

/// Where the run's data volume stands.
enum Volume {
    /// No `--data`, or no fault suite has run yet.
    Unwritten,
    Written(crate::workload::volume::Loaded),
    /// Writing it failed (the `data` part says why): later checks of it are skipped.
    Failed,
}

/// The `data` part of the report: writes the volume through the first member within a deadline
/// (the `ensemble_whole` timeout plus 2 s per MiB), records its rate, and asks the server how much
/// data it holds (`mntr`'s `zk_approximate_data_size`, where the whitelist allows it).
async fn load_volume(
    config: &Config,
    platform: Arc<dyn Platform>,
    run_dir: &Path,
    size: crate::workload::volume::DataSize,
) -> (SuiteReport, Option<crate::workload::volume::Loaded>) {
    use crate::workload::volume::{self, Plan};
    let started = Instant::now();
    let since = Utc::now();
    let t = config.timeouts.clone();
    let mut ctx = SuiteCtx::new(DATA, platform.clone(), config.clone(), run_dir.to_path_buf());
    let plan = Plan::new(&ctx.prefix, size, platform.run_id());
    let member = platform.members().first().cloned().unwrap_or_default();
    let deadline = t.ensemble_whole + std::time::Duration::from_secs(2 * size.0.div_ceil(1 << 20));
    let mut loaded = None;
    let written = ctx
        .step_with(&format!("the data volume written through {member} (--data {size})"), async |ctx| {
            let addr = platform.client_addr(&member).await?;
            let client = crate::client::connect(addr, t.operation).await?;
            let l = tokio::time::timeout(deadline, volume::preload(&client, &plan)).await.map_err(|_| {
                anyhow::anyhow!("{} znodes ({} bytes) not written under {} within {}", plan.znodes(), plan.bytes(), plan.root, humantime::format_duration(deadline))
            })??;
            ctx.metric("preload_ms", l.took.as_millis() as f64);
            ctx.metric("preload_mb_per_s", (l.mb_per_second() * 100.0).round() / 100.0);
            ctx.metric("volume_znodes", plan.znodes() as f64);
            ctx.metric("volume_bytes", plan.bytes() as f64);
            let evidence = format!(
                "{} znodes, {} bytes in {} subtrees under {} in {} ms ({:.1} MB/s)",
                plan.znodes(),
                plan.bytes(),
                plan.subtrees.len(),
                plan.root,
                l.took.as_millis(),
                l.mb_per_second()
            );
            loaded = Some(l);
            Ok(evidence)
        })
        .await;
    if written.is_ok() {
        let held = "the ensemble holds the volume (mntr zk_approximate_data_size)";
        match approximate_data_size(platform.as_ref(), &member, t.operation).await {
            Ok(Some(bytes)) => {
                ctx.metric("approximate_data_size_bytes", bytes as f64);
                let r = if bytes >= plan.bytes() {
                    Ok(format!("{member} says zk_approximate_data_size {bytes} bytes (the volume's data: {})", plan.bytes()))
                } else {
                    Err(anyhow::anyhow!("{member} says zk_approximate_data_size {bytes} bytes, less than the {} bytes of the volume just written", plan.bytes()))
                };
                ctx.check(held, async { r }).await;
            }
            Ok(None) => ctx.skip(held, format!("hidden: {member}'s 4lw.commands.whitelist does not allow mntr")),
            Err(e) => {
                ctx.fail(held, e);
            }
        }
    }
    let mut report = ctx.finish(Ok(()), started);
    report.timeline = platform.lifecycle().into_iter().filter(|e| e.at >= since).collect();
    (report, loaded)
}

/// `mntr`'s `zk_approximate_data_size` of `member`; `None` where the whitelist refuses `mntr`.
async fn approximate_data_size(platform: &dyn Platform, member: &str, timeout: std::time::Duration) -> anyhow::Result<Option<u64>> {
    use crate::client::fourlw;
    let addr = platform.client_addr(member).await?;
    let reply = match fourlw::ask(addr, "mntr", timeout).await {
        Ok(r) => r,
        Err(e) if fourlw::not_whitelisted(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let value = fourlw::parse_mntr(&reply).get("zk_approximate_data_size").cloned();
    let value = value.ok_or_else(|| anyhow::anyhow!("{member}'s mntr has no zk_approximate_data_size: {}", reply.lines().next().unwrap_or("(empty)")))?;
    value.trim().parse().map(Some).map_err(|_| anyhow::anyhow!("{member}'s mntr says zk_approximate_data_size {value:?}, not a number"))
}

/// Metrics `<member>.start_to_serving_ms` for each member the suite (re)started, and
/// `member_start_to_serving_ms`, the longest; a member no look saw serving after a start is logged.
fn record_start_to_serving(ctx: &mut SuiteCtx, times: &BTreeMap<String, Option<i64>>) {
    for (member, ms) in times {
        match ms {
            Some(ms) => ctx.metric(&format!("{member}.start_to_serving_ms"), *ms as f64),
            None => tracing::warn!("{member} started during suite {} and was not seen serving after it", ctx.name()),
        }
    }
    if let Some(longest) = times.values().flatten().max() {
        ctx.metric("member_start_to_serving_ms", *longest as f64);
    }
}

/// The check [`VOLUME_INTACT`]: once the ensemble is whole again, every subtree of the volume read
/// through `member` is what was written ([`crate::workload::volume::judge`]).
async fn volume_intact(ctx: &mut SuiteCtx, loaded: &crate::workload::volume::Loaded, member: &str) {
    let t = ctx.config.timeouts.clone();
    let p = ctx.platform.clone();
    let deadline = t.ensemble_whole + std::time::Duration::from_secs(loaded.plan.bytes().div_ceil(1 << 20));
    ctx.check_with(VOLUME_INTACT, async |ctx| {
        ensemble::wait_whole(p.as_ref(), t.ensemble_whole, t.operation).await.map_err(|e| e.context("the ensemble was not whole after the suite, so the volume was not read"))?;
        let start = Instant::now();
        let addr = p.client_addr(member).await?;
        let client = crate::client::connect(addr, t.operation).await?;
        let read = tokio::time::timeout(deadline, crate::workload::volume::read(&client, &loaded.plan))
            .await
            .map_err(|_| anyhow::anyhow!("the volume under {} not read through {member} within {}", loaded.plan.root, humantime::format_duration(deadline)))??;
        ctx.metric("volume_read_ms", start.elapsed().as_millis() as f64);
        let judged = crate::workload::volume::judge(&loaded.plan.root, &loaded.expected, &read).map_err(|e| anyhow::anyhow!("{e} (read through {member})"))?;
        Ok(format!("{judged}; read through {member} in {} ms", start.elapsed().as_millis()))
    })
    .await;
}

/// Runs one suite in the shape of a Jepsen test: the client workload started (when the suite
/// declares one), the suite's steps, then, whether it returned, stopped at a failed step, failed or
/// panicked: whatever its faults left reverted, the workload stopped, its history saved and
/// judged. A panic becomes the suite's error (the run goes on to its teardown); a suite that
/// stopped at a failed step ([`suites::Stopped`]) ended as it should, its failure recorded.
/// If this future is dropped (Ctrl-C), the ledger and the workload guard clean up from `Drop`.
pub(crate) async fn run_suite(suite: &dyn Suite, ctx: &mut SuiteCtx) -> anyhow::Result<()> {
    use futures::FutureExt;
    let traffic = match suite.about().workload {
        true => Some(Traffic::start(ctx).await?),
        false => None,
    };
    let outcome = std::panic::AssertUnwindSafe(suite.run(ctx)).catch_unwind().await;
    ctx.revert_owed().await;
    let judged = match (traffic, ctx.take_workload_skip()) {
        (Some(traffic), Some(why)) => traffic.abandon(ctx, &why).await,
        (Some(traffic), None) => {
            traffic.finish(ctx).await;
            Ok(())
        }
        (None, _) => Ok(()),
    };
    match outcome {
        Ok(Ok(())) => judged,
        Ok(Err(e)) if suites::is_stopped(&e) => judged,
        Ok(Err(e)) => Err(e),
        Err(panic) => {
            let why = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_else(|| "a panic".into());
            Err(anyhow::anyhow!("the suite panicked: {why}"))
        }
    }
}

/// Whether the runner samples the servers for `suite` ([`crate::serving`]): it makes a fault or
/// runs the workload. (With a data volume every suite is sampled, for its start-to-serving times.)
pub(crate) fn sampled(suite: &dyn Suite) -> bool {
    suite.about().workload || suite.disruptive()
}

/// Runs `suite` (when `ready`; else only `after`), then `after` (the runner's own checks of the
/// suite), under one serving sampler when `sample`: the suite judges quorum from it while it
/// runs ([`SuiteCtx::serving_since`]); after `after` it is stopped, its samples saved and the
/// Ready-but-not-serving time recorded ([`record_serving`]), and they are returned for the
/// runner's other judgements (empty without a sampler). Dropped before that (Ctrl-C), the sampler
/// saves its samples into the suite's folder itself.
pub(crate) async fn run_sampled(
    suite: &dyn Suite,
    ctx: &mut SuiteCtx,
    ready: bool,
    sample: bool,
    after: impl AsyncFnOnce(&mut SuiteCtx),
) -> (anyhow::Result<()>, Vec<crate::serving::Sample>) {
    let sampler = sample.then(|| start_sampler(ctx));
    ctx.set_serving(sampler.as_ref().map(|s| s.reader()));
    let outcome = if ready { run_suite(suite, ctx).await } else { Ok(()) };
    ctx.set_serving(None);
    after(ctx).await;
    let samples = sampler.map(|s| s.stop()).unwrap_or_default();
    if sample {
        record_serving(ctx, &samples);
    }
    (outcome, samples)
}

/// Starts a suite's sampler, saving its samples on drop into the suite's folder.
fn start_sampler(ctx: &mut SuiteCtx) -> crate::serving::Sampler {
    use crate::serving;
    let sampler = serving::Sampler::start(ctx.platform.clone(), serving::LOOK_TIMEOUT.min(ctx.config.timeouts.operation));
    match ctx.artifact_path(serving::SAMPLES_FILE) {
        Ok(path) => sampler.save_on_drop(path),
        Err(e) => {
            tracing::warn!("no folder for the serving samples of suite {}: {e:#}", ctx.name());
            sampler
        }
    }
}

/// Saves a suite's serving samples beside its workload history and reports the longest time a
/// member was Ready while not serving (`ready_not_serving_max_ms`), naming it on the timeline.
fn record_serving(ctx: &mut SuiteCtx, samples: &[crate::serving::Sample]) {
    use crate::serving;
    let path = ctx.run_dir.join(ctx.name()).join(serving::SAMPLES_FILE);
    if let Err(e) = crate::report::save_json_lines(&path, samples) {
        tracing::warn!("could not save the serving samples: {e:#}");
    }
    if samples.len() < 2 {
        return;
    }
    ctx.metric("serving.largest_sample_gap_ms", serving::largest_gap(samples) as f64);
    match serving::ready_not_serving_max(samples) {
        Some((member, ms, from)) => {
            ctx.metric("ready_not_serving_max_ms", ms as f64);
            ctx.mark_at(from, format!("{member} Ready but not serving for {ms} ms (the longest of any member)"));
        }
        None => ctx.metric("ready_not_serving_max_ms", 0.0),
    }
}

/// Writes every member's log into `logs/<member>.log` and returns them.
async fn save_member_logs(platform: &dyn Platform, run_dir: &Path) -> BTreeMap<String, String> {
    let mut logs = BTreeMap::new();
    let dir = run_dir.join("logs");
    if std::fs::create_dir_all(&dir).is_err() {
        return logs;
    }
    for m in platform.members() {
        let text = platform.logs(&m, None).await.unwrap_or_else(|e| format!("(no log: {e:#})"));
        let _ = std::fs::write(dir.join(format!("{m}.log")), &text);
        logs.insert(m, text);
    }
    logs
}

/// Writes the report files; returns the run folder.
pub fn write(report: &RunReport, results: &Path, member_logs: &BTreeMap<String, String>) -> anyhow::Result<PathBuf> {
    let dir = report::run_dir(results, &report.run_id);
    report::write_all(report, &dir, member_logs)?;
    Ok(dir)
}

/// Why `suite` cannot run on `kind`: what it needs that the platform lacks.
fn skip_reason(suite: &dyn Suite, kind: PlatformKind) -> String {
    let needs = suite.platforms().iter().map(|k| k.as_str()).collect::<Vec<_>>().join(" or ");
    let missing: Vec<Capability> = suite.about().needs.iter().copied().filter(|c| !kind.can(&[*c])).collect();
    if missing.iter().all(|c| matches!(c, Capability::Nodes | Capability::Evictions | Capability::LiveObjects)) {
        format!("needs --platform {needs}; the walkthrough's {} is about a cluster of nodes", walkthrough::cite(suite.sections()))
    } else {
        let names = missing.iter().map(|c| serde_json::to_string(c).unwrap_or_default().trim_matches('"').to_string()).collect::<Vec<_>>().join(", ");
        format!("needs {names}, which the {kind} platform does not offer in this version (runs on --platform {needs})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod ledger {
        use std::sync::Arc;

        use async_trait::async_trait;

        use super::super::run_suite;
        use crate::config::Config;
        use crate::platform::Platform;
        use crate::suites::fake::{Call, FakePlatform};
        use crate::suites::ledger::Action;
        use crate::suites::{About, Suite, SuiteCtx};

        /// How the test suite ends after its fault.
        #[derive(Clone, Copy, Debug)]
        enum End {
            Return,
            Fail,
            Panic,
            /// Never: the test drops it, as Ctrl-C drops the run's future.
            Hang,
        }

        struct OneFault(Action, End);

        static ABOUT: About = About { name: "one-fault", sections: &[], summary: "a fault, then an end", needs: &[], disruptive: true, workload: false };

        #[async_trait]
        impl Suite for OneFault {
            fn about(&self) -> &'static About {
                &ABOUT
            }
            async fn run(&self, ctx: &mut SuiteCtx) -> anyhow::Result<()> {
                ctx.inject(&self.0).await.1?;
                match self.1 {
                    End::Return => Ok(()),
                    End::Fail => anyhow::bail!("a check could not go on"),
                    End::Panic => panic!("a bug in the suite"),
                    End::Hang => std::future::pending().await,
                }
            }
        }

        fn actions() -> Vec<(Action, Call, Option<Call>)> {
            vec![
                (Action::Cordon { node: "w1".into() }, Call::Cordon("w1".into()), Some(Call::Uncordon("w1".into()))),
                (Action::DeleteStatefulSet, Call::DeleteStatefulSet, Some(Call::ApplyStatefulSet)),
                (Action::RemoveFile { member: "zk-1".into(), path: "/x".into() }, Call::Exec("zk-1".into(), "rm /x".into()), None),
                (Action::Rollback, Call::Rollback, None),
                (
                    Action::Partition { cut: crate::platform::Cut { member: "zk-1".into(), peers: vec!["zk-0".into(), "zk-2".into()], one_way: false } },
                    Call::Cut("zk-1".into()),
                    Some(Call::Mend("zk-1".into())),
                ),
            ]
        }

        async fn run(action: Action, end: End) -> (Vec<Call>, anyhow::Result<()>, Vec<crate::report::CheckReport>) {
            let fake = Arc::new(FakePlatform::new().with_history());
            let p: Arc<dyn Platform> = fake.clone();
            let dir = tempfile::tempdir().unwrap();
            let mut ctx = SuiteCtx::new("one-fault", p, Config::default(), dir.path().to_path_buf());
            let suite = OneFault(action, end);
            let outcome = run_suite(&suite, &mut ctx).await;
            (fake.calls(), outcome, ctx.checks().to_vec())
        }

        #[tokio::test]
        async fn what_a_suite_left_is_reverted_when_it_returns_fails_or_panics() {
            for end in [End::Return, End::Fail, End::Panic] {
                for (action, did, undo) in actions() {
                    let name = action.name();
                    let (calls, outcome, checks) = run(action, end).await;
                    let expected: Vec<Call> = std::iter::once(did).chain(undo.clone()).collect();
                    assert_eq!(calls, expected, "{name}, {end:?}");
                    match end {
                        End::Return => assert!(outcome.is_ok(), "{name}"),
                        End::Fail => assert_eq!(outcome.unwrap_err().to_string(), "a check could not go on"),
                        End::Panic => assert_eq!(outcome.unwrap_err().to_string(), "the suite panicked: a bug in the suite"),
                        End::Hang => unreachable!(),
                    }
                    let reverted = checks.iter().find(|c| c.name == "every fault the suite left was reverted");
                    match undo {
                        Some(_) => assert!(reverted.is_some_and(|c| c.verdict == crate::report::Verdict::Pass), "{name}, {end:?}: {checks:?}"),
                        None => assert!(reverted.is_none(), "{name}: nothing was owed, nothing is reported"),
                    }
                }
            }
        }

        #[tokio::test]
        async fn a_suite_interrupted_mid_fault_has_its_uncordons_and_heals_started_and_the_rest_left_to_the_teardown() {
            for (action, did, undo) in actions() {
                let name = action.name();
                let fake = Arc::new(FakePlatform::new().with_history());
                let p: Arc<dyn Platform> = fake.clone();
                let dir = tempfile::tempdir().unwrap();
                let mut ctx = SuiteCtx::new("one-fault", p, Config::default(), dir.path().to_path_buf());
                let suite = OneFault(action, End::Hang);
                let interrupted = tokio::time::timeout(std::time::Duration::from_millis(50), run_suite(&suite, &mut ctx)).await;
                assert!(interrupted.is_err(), "{name}: the suite hangs until it is dropped");
                drop(ctx);
                for _ in 0..100 {
                    tokio::task::yield_now().await;
                }
                let expected: Vec<Call> = std::iter::once(did).chain(undo.filter(|u| matches!(u, Call::Uncordon(_) | Call::Mend(_)))).collect();
                assert_eq!(fake.calls(), expected, "{name}");
            }
        }

        #[tokio::test]
        async fn each_fault_is_an_operation_of_the_suites_history() {
            let fake = Arc::new(FakePlatform::without_nodes());
            let p: Arc<dyn Platform> = fake.clone();
            let dir = tempfile::tempdir().unwrap();
            let mut ctx = SuiteCtx::new("one-fault", p, Config::default(), dir.path().to_path_buf());
            ctx.inject(&Action::KillServer { member: "zk-1".into() }).await.1.unwrap();
            assert!(ctx.inject(&Action::Cordon { node: "w1".into() }).await.1.is_err(), "Docker has no nodes");
            let faults = ctx.faults().to_vec();
            assert_eq!(
                faults.iter().map(|f| (f.name.as_str(), f.outcome, f.detail.as_str())).collect::<Vec<_>>(),
                [("kill java in zk-1", "ok", "exit 0"), ("cordon w1", "failed", "docker has no nodes to cordon"),]
            );
            assert!(faults.iter().all(|f| f.invoked <= f.completed));
            let report = ctx.finish(Ok(()), std::time::Instant::now());
            assert_eq!(report.artifacts, ["one-fault/faults.jsonl"]);
            let saved = std::fs::read_to_string(dir.path().join("one-fault/faults.jsonl")).unwrap();
            assert_eq!(saved.lines().count(), 2);
            assert!(saved.lines().next().unwrap().contains("\"name\":\"kill java in zk-1\""), "{saved}");
        }

        #[tokio::test]
        async fn a_revert_that_fails_fails_the_suite_naming_it() {
            let fake = Arc::new(FakePlatform::new());
            fake.fail_uncordon("w1");
            let p: Arc<dyn Platform> = fake.clone();
            let dir = tempfile::tempdir().unwrap();
            let mut ctx = SuiteCtx::new("one-fault", p, Config::default(), dir.path().to_path_buf());
            run_suite(&OneFault(Action::Cordon { node: "w1".into() }, End::Return), &mut ctx).await.unwrap();
            let check = ctx.checks().iter().find(|c| c.name == "every fault the suite left was reverted").expect("reported");
            assert_eq!(check.verdict, crate::report::Verdict::Fail);
            assert_eq!(check.message, "uncordon w1: the API server is unavailable");
        }
    }

    /// A suite whose fault changes the StatefulSet, where the platform refuses that change (an
    /// adopted StatefulSet a controller owns), is reported skipped with the platform's reason and
    /// never started: no call changes the StatefulSet. A suite that changes nothing runs.
    #[tokio::test]
    async fn a_suite_whose_statefulset_change_is_refused_is_skipped_with_the_reason_and_never_started() {
        use crate::suites::fake::{Call, FakePlatform};
        let fake = Arc::new(FakePlatform::new());
        let why = "the adopted StatefulSet zk is controlled by ZookeeperCluster/zk (metadata.ownerReferences)";
        fake.refuse_statefulset_changes(why);
        let mut o = opts(PlatformKind::Kube, Path::new("fixtures/zookeeper.yaml"));
        o.suites = vec!["integrity".into(), "durability".into(), "rolling-update".into()];
        let p = prepare(o).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (mut out, mut version) = (Vec::new(), None);
        run_body(&p, fake.clone(), dir.path(), &mut out, &mut version).await;
        let got: Vec<(&str, Verdict, Option<&str>)> = out.iter().map(|s| (s.name.as_str(), s.verdict, s.reason.as_deref())).collect();
        assert_eq!(got, [("integrity", Verdict::Pass, None), ("durability", Verdict::Skipped, Some(why)), ("rolling-update", Verdict::Skipped, Some(why))]);
        let changes: Vec<Call> =
            fake.calls().into_iter().filter(|c| matches!(c, Call::DeleteStatefulSet | Call::ApplyStatefulSet | Call::PatchStatefulSet | Call::Rollback)).collect();
        assert_eq!(changes, []);
    }

    /// Ctrl-C drops the run's future mid-suite: the runner's serving sampler, dropped with it,
    /// still saves the suite's samples.
    #[tokio::test]
    async fn an_interrupted_suite_still_saves_its_serving_samples() {
        use crate::suites::fake::FakePlatform;
        use crate::suites::{About, Suite, SuiteCtx};

        struct Hangs;
        static ABOUT: About = About { name: "hangs", sections: &[], summary: "a fault suite that never ends", needs: &[], disruptive: true, workload: false };
        #[async_trait::async_trait]
        impl Suite for Hangs {
            fn about(&self) -> &'static About {
                &ABOUT
            }
            async fn run(&self, _ctx: &mut SuiteCtx) -> anyhow::Result<()> {
                std::future::pending().await
            }
        }

        let mut o = opts(PlatformKind::Kube, Path::new("fixtures/zookeeper.yaml"));
        o.suites = vec!["integrity".into()];
        let mut p = prepare(o).unwrap();
        p.suites = vec![Box::new(Hangs)];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hangs").join(crate::serving::SAMPLES_FILE);
        let (mut out, mut version) = (Vec::new(), None);
        let body = run_body(&p, Arc::new(FakePlatform::new()), dir.path(), &mut out, &mut version);
        // Interrupted 600 ms after the sampler made the suite's folder (or after 20 s: then
        // nothing is saved and the test fails below).
        let before_drop = tokio::select! {
            _ = body => unreachable!("the suite never ends"),
            saved = async {
                for _ in 0..200 {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    if path.parent().is_some_and(|d| d.exists()) {
                        break;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(600)).await;
                path.exists()
            } => saved,
        };
        assert!(!before_drop, "the samples are saved when the sampler is dropped, not before");
        assert!(out.is_empty(), "the interrupted suite has no report: {out:?}");
        let saved = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(saved.lines().count() >= 2, "a few samples in 600 ms: {saved}");
        assert!(saved.lines().all(|l| l.contains("\"members\":[{\"member\":\"zk-0\"")), "{saved}");
    }

    /// `--data`: the runner writes the volume before the first fault suite (not before the
    /// read-only ones) and checks it after that suite; a deployment that loses it fails the check
    /// naming the subtree that is gone.
    mod data_volume {
        use std::path::Path;
        use std::sync::Arc;
        use std::time::Duration;

        use super::super::{prepare, run_body, DATA, VOLUME_INTACT};
        use super::opts;
        use crate::config::{Timeouts, WorkloadConfig};
        use crate::manifest::Manifest;
        use crate::platform::PlatformKind;
        use crate::report::{SuiteReport, Verdict};
        use crate::suites::fake::FakePlatform;
        use crate::workload::volume::DataSize;

        async fn run(fixture: &str, fake: FakePlatform, size: u64) -> Vec<SuiteReport> {
            let mut o = opts(PlatformKind::Kube, Path::new(fixture));
            o.suites = vec!["integrity".into(), "durability".into()];
            o.config.data = Some(DataSize(size));
            o.config.timeouts =
                Timeouts { member_ready: Duration::from_secs(5), ensemble_whole: Duration::from_secs(5), operation: Duration::from_secs(2), cleanup: Duration::from_secs(2) };
            o.config.workload = WorkloadConfig { rate_per_second: 200, max_duration: Duration::from_secs(10), max_operations: 2_000 };
            let p = prepare(o).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let (mut out, mut version) = (Vec::new(), None);
            run_body(&p, Arc::new(fake), dir.path(), &mut out, &mut version).await;
            out
        }

        fn check<'a>(r: &'a SuiteReport, name: &str) -> &'a crate::report::CheckReport {
            r.checks.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no check {name:?} in {}: {:#?}", r.name, r.checks))
        }

        #[tokio::test]
        async fn the_volume_is_written_before_the_first_fault_suite_and_survives_durability() {
            let out = run("fixtures/zookeeper.yaml", FakePlatform::new(), 3 << 20).await;
            let names: Vec<&str> = out.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(names, ["integrity", DATA, "durability"]);
            assert!(out[0].checks.iter().all(|c| c.name != VOLUME_INTACT), "integrity ran before the volume was written");
            let data = &out[1];
            assert_eq!(data.verdict, Verdict::Pass, "{:#?}", data.checks);
            // One znode of 1,040,000 bytes, and 2056 of 1 KiB in what is left of 3 MiB.
            assert_eq!((data.metrics.get("volume_znodes"), data.metrics.get("volume_bytes")), (Some(&2057.0), Some(&3_145_344.0)));
            assert!(data.metrics["preload_mb_per_s"] > 0.0 && data.metrics["approximate_data_size_bytes"] >= data.metrics["volume_bytes"], "{:?}", data.metrics);
            let intact = check(&out[2], VOLUME_INTACT);
            assert_eq!(intact.verdict, Verdict::Pass, "{intact:#?}");
            assert!(intact.message.starts_with("17 subtrees, 2057 znodes, ") && intact.message.contains("read through zk-"), "{}", intact.message);
            assert_eq!(out[2].verdict, Verdict::Pass, "{:#?}", out[2].checks);
            // Durability re-creates every member: each one's time from its start to serving.
            for m in ["zk-0", "zk-1", "zk-2"] {
                assert!(out[2].metrics.contains_key(&format!("{m}.start_to_serving_ms")), "{m}: {:?}", out[2].metrics);
            }
            assert!(out[2].metrics["member_start_to_serving_ms"] >= 0.0);
        }

        #[tokio::test]
        async fn a_deployment_that_loses_the_volume_fails_the_check_naming_what_is_gone() {
            let manifest = Manifest::load(Path::new("fixtures/broken/no-volume.yaml")).unwrap();
            let out = run("fixtures/broken/no-volume.yaml", FakePlatform::with_manifest(manifest), 1 << 20).await;
            assert_eq!(out[1].verdict, Verdict::Pass, "the volume was written: {:#?}", out[1].checks);
            let intact = check(&out[2], VOLUME_INTACT);
            assert_eq!(intact.verdict, Verdict::Fail);
            let root = format!("/zk-chaos/{}/data", crate::platform::Platform::run_id(&FakePlatform::new()));
            assert!(
                intact.message.starts_with(&format!("the data volume is not intact: {root}/s00: gone (expected 64 znodes, 65536 bytes); and 15 more subtrees differ")),
                "{}",
                intact.message
            );
        }

        #[tokio::test]
        async fn without_a_fault_suite_the_volume_is_not_written_and_the_report_says_why() {
            let mut o = opts(PlatformKind::Kube, Path::new("fixtures/zookeeper.yaml"));
            o.suites = vec!["integrity".into()];
            o.config.data = Some(DataSize(1 << 20));
            let p = prepare(o).unwrap();
            let fake = Arc::new(FakePlatform::new());
            let dir = tempfile::tempdir().unwrap();
            let (mut out, mut version) = (Vec::new(), None);
            run_body(&p, fake.clone(), dir.path(), &mut out, &mut version).await;
            let got: Vec<(&str, Verdict, Option<&str>)> = out.iter().map(|s| (s.name.as_str(), s.verdict, s.reason.as_deref())).collect();
            assert_eq!(
                got,
                [("integrity", Verdict::Pass, None), (DATA, Verdict::Skipped, Some("--data 1MiB: no fault suite ran, and the volume is written before the first one"))]
            );
            assert_eq!(fake.read("zk-0", "/zk-chaos/zk-chaos-20261201-000000-fake/data"), None, "nothing was written");
        }

        #[tokio::test]
        async fn where_mntr_is_not_whitelisted_the_data_size_is_skipped_saying_it_is_hidden() {
            let out = run("fixtures/zookeeper.yaml", FakePlatform::new().srvr_only(), 1 << 20).await;
            let held = check(&out[1], "the ensemble holds the volume (mntr zk_approximate_data_size)");
            assert_eq!((held.verdict, held.message.as_str()), (Verdict::Skipped, "hidden: zk-0's 4lw.commands.whitelist does not allow mntr"));
            assert_eq!(out[1].verdict, Verdict::Pass, "the volume was written");
        }
    }

    /// The workload is the runner's: it runs while the suite does and is stopped, saved and
    /// judged after it, on every path, whatever the suite did.
    mod workload {
        use std::sync::Arc;
        use std::time::Duration;

        use async_trait::async_trait;

        use super::super::run_suite;
        use crate::config::{Config, WorkloadConfig};
        use crate::platform::Platform;
        use crate::report::Verdict;
        use crate::suites::fake::{Call, FakePlatform};
        use crate::suites::ledger::Action;
        use crate::suites::traffic::{CHECK, HISTORY_FILE};
        use crate::suites::{About, Suite, SuiteCtx};

        /// Cordons a node (a fault the ledger reverts), lets the workload write, then fails with `?`.
        struct FailsMidFault {
            fake: Arc<FakePlatform>,
            hang: bool,
        }

        static ABOUT: About = About { name: "fails-mid-fault", sections: &[], summary: "a fault, then `?`", needs: &[], disruptive: true, workload: true };

        #[async_trait]
        impl Suite for FailsMidFault {
            fn about(&self) -> &'static About {
                &ABOUT
            }
            async fn run(&self, ctx: &mut SuiteCtx) -> anyhow::Result<()> {
                ctx.inject(&Action::Cordon { node: "w1".into() }).await.1?;
                let before = self.fake.last_zxid("zk-0");
                tokio::time::sleep(Duration::from_millis(300)).await;
                anyhow::ensure!(self.fake.last_zxid("zk-0") > before, "the workload was not writing while the suite ran");
                if self.hang {
                    std::future::pending::<()>().await;
                }
                Err(anyhow::anyhow!("the fault's proof could not be read"))?;
                unreachable!("the suite failed");
            }
        }

        fn setup(hang: bool) -> (Arc<FakePlatform>, FailsMidFault, SuiteCtx, tempfile::TempDir) {
            let fake = Arc::new(FakePlatform::new());
            let p: Arc<dyn Platform> = fake.clone();
            let dir = tempfile::tempdir().unwrap();
            let config = Config { workload: WorkloadConfig { rate_per_second: 200, max_duration: Duration::from_secs(60), max_operations: 100_000 }, ..Config::default() };
            let ctx = SuiteCtx::new("fails-mid-fault", p, config, dir.path().to_path_buf());
            (fake.clone(), FailsMidFault { fake, hang }, ctx, dir)
        }

        /// Whether anything was written into the ensemble after the suite ended.
        async fn writes_after(fake: &FakePlatform) -> i64 {
            // An operation in flight when the workers were stopped may still land: let it.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let stopped = fake.last_zxid("zk-0");
            tokio::time::sleep(Duration::from_millis(500)).await;
            fake.last_zxid("zk-0") - stopped
        }

        #[tokio::test]
        async fn a_suite_that_fails_with_question_mark_mid_fault_has_its_fault_reverted_and_its_workload_stopped_and_judged() {
            let (fake, suite, mut ctx, dir) = setup(false);
            let outcome = run_suite(&suite, &mut ctx).await;
            assert_eq!(outcome.as_ref().unwrap_err().to_string(), "the fault's proof could not be read");
            assert_eq!(writes_after(&fake).await, 0, "the workload wrote after its suite ended");
            assert_eq!(
                fake.calls().iter().filter(|c| matches!(c, Call::Cordon(_) | Call::Uncordon(_))).collect::<Vec<_>>(),
                [&Call::Cordon("w1".into()), &Call::Uncordon("w1".into())]
            );
            let names: Vec<&str> = ctx.checks().iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names, ["every fault the suite left was reverted", CHECK], "reverted first, then the workload judged");
            let judged = &ctx.checks()[1];
            assert_eq!(judged.verdict, Verdict::Pass, "{judged:?}");
            assert!(judged.message.contains("acknowledged"), "{judged:?}");
            assert!(dir.path().join("fails-mid-fault").join(HISTORY_FILE).is_file(), "the history is saved");
            let report = ctx.finish(outcome, std::time::Instant::now());
            assert_eq!(report.workload.map(|w| w.history_file), Some(format!("fails-mid-fault/{HISTORY_FILE}")));
            assert_eq!(report.checks.last().map(|c| (c.name.as_str(), c.message.as_str())), Some(("suite completed", "suite aborted: the fault's proof could not be read")));
        }

        #[tokio::test]
        async fn a_suite_dropped_mid_fault_leaves_no_workload_running() {
            let (fake, suite, mut ctx, _dir) = setup(true);
            let interrupted = tokio::time::timeout(Duration::from_millis(600), run_suite(&suite, &mut ctx)).await;
            assert!(interrupted.is_err(), "the suite hangs until it is dropped");
            assert_eq!(writes_after(&fake).await, 0, "the workload wrote after its suite was dropped");
        }
    }

    fn opts(platform: PlatformKind, manifest: &Path) -> RunOptions {
        RunOptions {
            platform,
            suites: Vec::new(),
            manifest: Some(manifest.to_path_buf()),
            results: PathBuf::from("results"),
            config: Config::default(),
            keep: false,
            fail_fast: false,
            kube: Default::default(),
        }
    }

    /// A field the Docker platform cannot run is refused there, before anything starts, naming
    /// it; the same manifest is accepted for a cluster.
    #[test]
    fn docker_refuses_what_it_cannot_run_and_a_cluster_accepts_it() {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string("fixtures/zookeeper.yaml").unwrap().replacen("    type: RollingUpdate", "    type: OnDelete", 1);
        let path = dir.path().join("on-delete.yaml");
        std::fs::write(&path, text).unwrap();
        let err = prepare(opts(PlatformKind::Docker, &path)).err().expect("refused on Docker");
        assert_eq!(err.exit_code(), 2);
        let msg = err.to_string();
        assert!(msg.contains("updateStrategy.type OnDelete") && msg.contains("--platform kind"), "{msg}");
        for cluster in [PlatformKind::Kube, PlatformKind::Kind] {
            assert!(prepare(opts(cluster, &path)).is_ok(), "{cluster}");
        }
        assert!(prepare(opts(PlatformKind::Docker, Path::new("fixtures/zookeeper.yaml"))).is_ok());
    }

    /// The walkthrough's current upstream manifest says `imagePullPolicy: Always`: on kind, whose
    /// nodes have the image loaded and no registry, it runs IfNotPresent (a note says so) instead
    /// of waiting for an ImagePullBackOff; a mapped image does on every platform.
    #[test]
    fn loaded_and_mapped_images_run_if_not_present_and_the_report_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string("fixtures/zookeeper.yaml").unwrap().replacen("imagePullPolicy: IfNotPresent", "imagePullPolicy: Always", 1);
        assert!(text.contains("imagePullPolicy: Always"));
        let path = dir.path().join("always.yaml");
        std::fs::write(&path, text).unwrap();
        let policy = |p: &Prepared| p.manifest.statefulset_document().pointer("/spec/template/spec/containers/0/imagePullPolicy").cloned();
        let kind = prepare(opts(PlatformKind::Kind, &path)).unwrap();
        assert_eq!(policy(&kind), Some(serde_json::json!("IfNotPresent")));
        assert!(kind.manifest.notes.iter().any(|n| n.contains("IfNotPresent instead of imagePullPolicy Always: it is loaded into the kind cluster")), "{:?}", kind.manifest.notes);
        let kube = prepare(opts(PlatformKind::Kube, &path)).unwrap();
        assert_eq!(policy(&kube), Some(serde_json::json!("Always")), "an existing cluster pulls as the manifest says");
        let mut mapped = opts(PlatformKind::Kube, &path);
        mapped.config.images.insert("zk-chaos/zookeeper:3.8".into(), "zk-chaos/zookeeper:3.9.5".into());
        let mapped = prepare(mapped).unwrap();
        assert_eq!(mapped.manifest.images(), ["zk-chaos/zookeeper:3.9.5"]);
        assert_eq!(policy(&mapped), Some(serde_json::json!("IfNotPresent")));
        assert_eq!(mapped.manifest.digest, kind.manifest.digest, "the digest is the manifest's as written");
    }

    /// Without --manifest and --kind-config a run needs no file: the built-in manifest (named so
    /// in the report) and, on kind, the built-in cluster config. A --kind-config that cannot be
    /// read is refused before anything starts.
    #[test]
    fn defaults_are_built_in_and_a_missing_kind_config_is_bad_input() {
        let mut o = opts(PlatformKind::Kind, Path::new("unused"));
        o.manifest = None;
        let p = prepare(o.clone()).unwrap();
        assert_eq!(p.manifest.origin, crate::manifest::REFERENCE_ORIGIN);
        assert_eq!(p.kind_config.as_ref().map(|c| c.text.as_str()), Some(crate::platform::KIND_BUILTIN_CONFIG));
        o.kube.kind_config = Some(PathBuf::from("/nonexistent/cluster.yaml"));
        let err = prepare(o.clone()).err().expect("refused");
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("/nonexistent/cluster.yaml"), "{err}");
        o.platform = PlatformKind::Docker;
        assert!(prepare(o).unwrap().kind_config.is_none(), "only kind reads the kind config");
    }
}
