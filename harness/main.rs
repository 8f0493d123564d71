//! The `zk-chaos` command line: `run`, `certify`, `suites`, `clean`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use zk_chaos::config::Config;
use zk_chaos::error::{exit, Error, Result};
use zk_chaos::platform::PlatformKind;
use zk_chaos::run::{self, RunOptions};
use zk_chaos::{cli, suites};

#[derive(Parser)]
#[command(name = "zk-chaos", version, about = "Chaos and conformance harness for ZooKeeper ensembles run as a Kubernetes StatefulSet")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Stand the ensemble up, run suites against it, write a report, remove everything.
    Run(RunArgs),
    /// Run every suite the platform supports; exit non-zero unless all pass.
    Certify(RunArgs),
    /// List the suites, the TUTORIAL.md sections they certify and the platforms they need.
    Suites,
    /// Recovery times and verdicts of two runs side by side; exit 1 when B regressed against A.
    Compare {
        /// The earlier run: a results/<run-id> folder or its report.json.
        run_a: PathBuf,
        /// The later run.
        run_b: PathBuf,
        /// A recovery time regressed when B is more than this many times A (and 250 ms slower).
        #[arg(long, default_value = "1.5")]
        max_factor: String,
    },
    /// Remove what earlier runs left behind: containers, networks and volumes with the run label, kind clusters named zk-chaos-*; with --context, also the runs' namespaces, labelled objects and cordons on that cluster.
    Clean {
        /// Only this run's leftovers.
        #[arg(long)]
        run: Option<String>,
        /// Also clean this Kubernetes context: namespaces and objects with the run label, nodes a run cordoned (every zk-chaos run's, or --run's only).
        #[arg(long, value_name = "NAME")]
        context: Option<String>,
        /// The kubeconfig of --context (default: KUBECONFIG, then ~/.kube/config).
        #[arg(long, value_name = "PATH", requires = "context")]
        kubeconfig: Option<PathBuf>,
    },
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Where the ensemble runs.
    #[arg(long, value_enum, default_value = "docker")]
    platform: PlatformArg,
    /// A suite to run (repeatable); default: every suite the platform supports.
    #[arg(long = "suite", value_name = "NAME")]
    suites: Vec<String>,
    /// The StatefulSet manifest (the walkthrough's four objects).
    #[arg(long, default_value = "fixtures/zookeeper.yaml")]
    manifest: PathBuf,
    /// Where results/<run-id>/ goes.
    #[arg(long, default_value = "results")]
    results: PathBuf,
    /// A YAML config file (timeouts, image, names, workload).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Leave the ensemble up at the end and print how to reach and remove it.
    #[arg(long)]
    keep: bool,
    /// Stop at the first failed suite (and, with --repeat, at the first failed run).
    #[arg(long)]
    fail_fast: bool,
    /// Run the suites N times, each a full run, and report each check's pass rate.
    #[arg(long, value_name = "N", default_value = "1")]
    repeat: String,
    #[command(flatten)]
    kube: KubeArgs,
}

/// Kubernetes: `--platform kube` (an existing cluster) and `--platform kind`.
#[derive(Args, Clone)]
struct KubeArgs {
    /// The kubeconfig (default: KUBECONFIG, then ~/.kube/config, as kubectl).
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long, value_name = "NAME")]
    context: Option<String>,
    /// An existing namespace to use instead of one the run creates and deletes.
    #[arg(long, value_name = "NS")]
    namespace: Option<String>,
    /// Let disruptive suites run on this context (exactly its name) though zk-chaos did not create it.
    #[arg(long, value_name = "CONTEXT")]
    allow_disruption: Option<String>,
    /// The kind cluster config for --platform kind.
    #[arg(long, value_name = "PATH")]
    kind_config: Option<PathBuf>,
    /// StorageClass for volume claim templates that name none (kind default: zk-chaos-shared, movable volumes; `standard` pins them to nodes).
    #[arg(long, value_name = "NAME")]
    storage_class: Option<String>,
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum PlatformArg {
    Docker,
    Kube,
    Kind,
}

impl From<PlatformArg> for PlatformKind {
    fn from(p: PlatformArg) -> Self {
        match p {
            PlatformArg::Docker => PlatformKind::Docker,
            PlatformArg::Kube => PlatformKind::Kube,
            PlatformArg::Kind => PlatformKind::Kind,
        }
    }
}

fn main() -> ExitCode {
    cli::init_tracing();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("zk-chaos: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED as u8);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Suites => {
                print!("{}", cli::describe_suites(&suites::all()));
                Ok(exit::PASSED)
            }
            Command::Clean { run, context, kubeconfig } => cli::clean(run.as_deref(), context.as_deref(), kubeconfig.as_deref()).await,
            Command::Compare { run_a, run_b, max_factor } => compare_command(&run_a, &run_b, &max_factor),
            Command::Run(args) => run_command(args, false).await,
            Command::Certify(args) => run_command(args, true).await,
        }
    });
    let code = code.unwrap_or_else(|e: Error| {
        eprintln!("zk-chaos: {e}");
        e.exit_code()
    });
    ExitCode::from(code as u8)
}

async fn run_command(args: RunArgs, certify: bool) -> Result<i32> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let opts = RunOptions {
        platform: args.platform.into(),
        suites: if certify { Vec::new() } else { args.suites.clone() },
        manifest: args.manifest.clone(),
        results: args.results.clone(),
        config,
        keep: args.keep,
        fail_fast: args.fail_fast,
        kube: zk_chaos::platform::kube::connect::KubeOptions {
            kubeconfig: args.kube.kubeconfig.clone(),
            context: args.kube.context.clone(),
            namespace: args.kube.namespace.clone(),
            allow_disruption: args.kube.allow_disruption.clone(),
            kind_config: args.kube.kind_config.clone(),
            storage_class: args.kube.storage_class.clone(),
        },
    };
    if certify && !args.suites.is_empty() {
        return Err(Error::bad_input("certify runs every suite the platform supports; drop --suite or use `zk-chaos run`"));
    }
    let repeat: u32 = match args.repeat.trim().parse() {
        Ok(n) if n >= 1 => n,
        _ => return Err(Error::bad_input(format!("--repeat must be a whole number of runs, at least 1; got {:?}", args.repeat))),
    };
    let prepared = run::prepare(opts)?;
    cli::ensure_image(&prepared).await?;
    // One listener for the whole command: a Ctrl-C between two repeated runs (while one run's
    // report is written or the next one connects) stops the repeat instead of being lost.
    let interrupt = tokio_util::sync::CancellationToken::new();
    let listener = {
        let interrupt = interrupt.clone();
        tokio::spawn(async move {
            cli::interrupted().await;
            interrupt.cancel();
        })
    };
    let first_id = run::new_run_id(&prepared.opts.config.label_prefix);
    // On kind, the one cluster of every run of this command.
    let session = match run::open(&prepared, &first_id, interrupt.clone().cancelled_owned()).await {
        Ok(s) => s,
        Err(e) => {
            listener.abort();
            return Err(e);
        }
    };
    let ran = repeat_runs(&prepared, &session, first_id, repeat, &interrupt).await;
    let closed = run::close(&prepared, &session).await;
    listener.abort();
    let (reports, interrupted_between_runs) = ran?;
    closed?;
    if interrupted_between_runs && reports.is_empty() {
        return Ok(exit::INTERRUPTED);
    }
    if repeat > 1 {
        let summary = zk_chaos::report::repeat::RepeatReport::new(&reports);
        let path = prepared.opts.results.join(format!("repeat-{}.json", reports[0].run_id));
        let json = serde_json::to_string_pretty(&summary).map_err(|e| Error::Other(e.into()))?;
        std::fs::write(&path, json + "\n").map_err(|e| Error::Other(anyhow::anyhow!("writing {}: {e}", path.display())))?;
        print!("{}", summary.render_text());
        println!("pass rates: {}", path.display());
    }
    let codes = reports.iter().map(cli::exit_code).chain(interrupted_between_runs.then_some(exit::INTERRUPTED));
    Ok(codes
        .max_by_key(|c| match *c {
            exit::INTERRUPTED => 2,
            exit::PASSED => 0,
            _ => 1,
        })
        .unwrap_or(exit::PASSED))
}

/// The command's runs, one after another on the same session, until `repeat` are done, one is
/// interrupted, or (with --fail-fast) one fails. Returns their reports and whether an interrupt
/// came between two runs.
async fn repeat_runs(
    prepared: &run::Prepared,
    session: &run::Session,
    first_id: String,
    repeat: u32,
    interrupt: &tokio_util::sync::CancellationToken,
) -> Result<(Vec<zk_chaos::report::RunReport>, bool)> {
    let mut reports = Vec::new();
    let mut next_id = Some(first_id);
    for i in 1..=repeat {
        if interrupt.is_cancelled() {
            eprintln!("zk-chaos: interrupted; run {i} of {repeat} not started");
            return Ok((reports, true));
        }
        if repeat > 1 {
            eprintln!("zk-chaos: run {i} of {repeat}");
        }
        let run_id = next_id.take().unwrap_or_else(|| run::new_run_id(&prepared.opts.config.label_prefix));
        let platform = run::connect(prepared, session, &run_id, i == repeat).await?;
        let finished = run::execute(prepared, platform, interrupt.clone().cancelled_owned()).await;
        let dir = run::write(&finished.report, &prepared.opts.results, &finished.member_logs).map_err(Error::Other)?;
        print!("{}", zk_chaos::report::summary::render(&finished.report));
        println!("report: {}", dir.join("report.html").display());
        let stop = finished.report.interrupted || (prepared.opts.fail_fast && finished.report.verdict != zk_chaos::report::Verdict::Pass);
        reports.push(finished.report);
        if stop {
            break;
        }
    }
    Ok((reports, false))
}

fn compare_command(a: &std::path::Path, b: &std::path::Path, max_factor: &str) -> Result<i32> {
    use zk_chaos::report::compare;
    let factor = compare::parse_factor(max_factor)?;
    let (ra, rb) = (compare::load_run(a)?, compare::load_run(b)?);
    let c = compare::compare(&ra, &rb, factor);
    print!("{}", c.render_text());
    Ok(if c.regressed().is_empty() { exit::PASSED } else { exit::FAILED })
}
