//! The `zk-chaos` command line: `run`, `certify`, `suites`, `compare`, `check`, `show`, `image build`, `clean`,
//! `history`, `completions`, `man`.
//!
//! Over 600 lines: the clap definitions of every subcommand and flag with their help texts, which
//! are the command line's documentation (`--help`, the man page); the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::{Args, Parser, Subcommand};
use zk_chaos::config::Config;
use zk_chaos::error::{exit, Error, Result};
use zk_chaos::platform::PlatformKind;
use zk_chaos::run::{self, RunOptions};
use zk_chaos::{cli, suites};

/// The exit codes, in every command's `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0    every suite passed (compare: no regression; clean: nothing failed to go)
  1    a check failed, cleanup failed, or compare found a regression (or runs of other suites or another
       deployment, without --allow-different)
  2    bad input: unknown suite, unreadable or invalid manifest, config or report, a bad flag value,
       a DOCKER_HOST the docker CLI would refuse, an unknown docker context or kubeconfig context,
       disruptive suites on a cluster not allowed to be disrupted, `clean --run` of a run still in progress
  3    platform unavailable: no Docker engine, a missing image that cannot be built, no kubeconfig or
       API server, no kind binary
  130  interrupted (Ctrl-C or SIGTERM), after removing what the run created; a second Ctrl-C quits at
       once and prints what may be left and the `zk-chaos clean` command that removes it";

#[derive(Parser)]
#[command(
    name = "zk-chaos",
    version = zk_chaos::shell::version(),
    about = "Chaos and conformance harness for ZooKeeper ensembles run as a Kubernetes StatefulSet",
    long_about = "Chaos and conformance harness for ZooKeeper ensembles run as a Kubernetes StatefulSet, as in the Kubernetes walkthrough \
                  \"Running ZooKeeper, A Distributed System Coordinator\" (https://kubernetes.io/docs/tutorials/stateful-application/zookeeper/). \
                  Results go to results/ in the current directory.",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More log lines on stderr (-v debug, -vv trace, -vvv every library's trace); given, it wins over RUST_LOG.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    verbose: u8,
    /// Fewer log lines on stderr (-q warnings only, -qq errors only); given, it wins over RUST_LOG.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    quiet: u8,
}

#[derive(Subcommand)]
enum Command {
    /// Stand the ensemble up, run suites against it, write a report, remove everything.
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// Run every suite the platform supports; exit non-zero unless all pass.
    #[command(after_help = EXIT_CODES)]
    Certify(CertifyArgs),
    /// List the suites: whether each is disruptive, the platforms it needs, what it certifies and the walkthrough's sections it follows.
    #[command(after_help = EXIT_CODES)]
    Suites {
        /// `table` for a person, `json` or `yaml` for a machine (every section with its link).
        #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
        output: Output,
    },
    /// Recovery times and verdicts of two runs side by side; exit 1 when B regressed against A.
    #[command(after_help = EXIT_CODES)]
    Compare {
        /// The earlier run: a results/<run-id> folder or its report.json.
        run_a: PathBuf,
        /// The later run.
        run_b: PathBuf,
        /// A recovery time regressed when B is more than this many times A (and 250 ms slower).
        #[arg(long, value_name = "F", default_value_t = zk_chaos::report::compare::DEFAULT_MAX_FACTOR, value_parser = zk_chaos::report::compare::parse_factor)]
        max_factor: f64,
        /// Compare runs that did not run the same suites, the same deployment (manifest digest) or on the same platform (else exit 1).
        #[arg(long)]
        allow_different: bool,
        /// `text` for a person, `json` or `yaml` for a machine.
        #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
        output: MachineOutput,
    },
    /// Judges a recorded history for linearizability (exit 0 linearizable, 1 not, 2 undecided or bad input).
    Check(zk_chaos::check::CheckArgs),
    /// Print a built-in default (to start a file of your own for --manifest or --kind-config).
    Show {
        #[arg(value_enum)]
        what: Shown,
    },
    /// Build the fixture image zk-chaos/zookeeper:3.8 (Debian's ZooKeeper 3.8, the walkthrough's start-zookeeper and zookeeper-ready) into the local Docker engine.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Remove what runs that are over (killed, or ended with --keep: name those with --run) left behind: containers, networks and volumes with the run label, kind clusters named zk-chaos-*; with --context, also the runs' namespaces, labelled objects and cordons on that cluster. Runs in progress and other hosts' runs are left alone unless named or --force.
    #[command(after_help = EXIT_CODES)]
    Clean {
        /// Only this run's leftovers (also when it was kept with --keep or started on another host; refused while it is in progress).
        #[arg(long)]
        run: Option<String>,
        /// Also remove runs in progress, kept runs and other hosts' runs (by default only what runs that are over left).
        #[arg(long)]
        force: bool,
        /// Also clean this Kubernetes context: namespaces and objects with the run label, nodes a run cordoned (every zk-chaos run's, or --run's only).
        #[arg(long, value_name = "NAME")]
        context: Option<String>,
        /// The kubeconfig of --context (default: KUBECONFIG, then ~/.kube/config).
        #[arg(long, value_name = "PATH", requires = "context")]
        kubeconfig: Option<PathBuf>,
    },
    /// Print the completion script for a shell (bash: `zk-chaos completions bash > /etc/bash_completion.d/zk-chaos`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, with a section per command (`zk-chaos man > zk-chaos.1; man ./zk-chaos.1`).
    Man,
    /// Certify from inside the cluster: a Job of zk-chaos's own image, with its ServiceAccount and least RBAC, runs the suites
    /// against a namespace; its results are copied back and everything it made is removed (`--print`: the objects, applied by nobody).
    #[command(after_help = JOB_HELP)]
    Job(JobArgs),
    /// Inside the Job's pod: run the suites as `run` does, then wait until `zk-chaos job` has copied the results.
    #[command(hide = true)]
    JobPod {
        #[command(flatten)]
        run: RunArgs,
        /// How long to wait for the results to be copied before exiting anyway.
        #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
        collect_wait: std::time::Duration,
    },
    /// The runs of a results folder over time: verdicts, and one chart per recovery time (RESULTS_DIR/history.html), or -o json|yaml.
    #[command(after_help = EXIT_CODES)]
    History {
        /// The folder runs wrote into (their --results).
        #[arg(value_name = "RESULTS_DIR")]
        results: PathBuf,
        /// `html`: write RESULTS_DIR/history.html (or --out) and print its path; `json` or `yaml`: print the history.
        #[arg(short = 'o', long = "output", value_enum, default_value = "html")]
        output: HistoryOutput,
        /// Where the HTML page goes [default: RESULTS_DIR/history.html]
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
}

const JOB_HELP: &str = "\
The image: `bash ci/build-job-image.sh` builds zk-chaos/zk-chaos:VERSION from a zk-chaos binary (offline, on the fixtures' Debian base);
load it into the cluster's nodes (kind load docker-image ...) or push it and give --image.
Without --allow-disruption only the non-disruptive suites run and the RBAC cannot touch nodes, evict pods or add ephemeral containers.

Exit codes: those of the run in the Job (0 passed, 1 failed), or 2 bad input, 3 no cluster or the image cannot start, 130 interrupted
(the Job, its ServiceAccount, RBAC and the namespace it created are removed on every path).";

/// `job`: where and what the Job runs.
#[derive(Args, Clone)]
struct JobArgs {
    /// A suite to run (repeatable); default: every suite a cluster supports, the disruptive ones only with --allow-disruption.
    #[arg(long = "suite", value_name = "NAME")]
    suites: Vec<String>,
    /// The manifest to certify: a file or - (stdin), sent to the pod in a ConfigMap [default: the built-in reference manifest]
    #[arg(long, value_name = "PATH")]
    manifest: Option<PathBuf>,
    /// A YAML config file for the run (sent with the manifest).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Run the manifest's image FROM as TO (repeatable), as `run` does.
    #[arg(long = "image-map", value_name = "FROM=TO")]
    image_map: Vec<String>,
    /// StorageClass for volume claim templates that name none.
    #[arg(long, value_name = "NAME")]
    storage_class: Option<String>,
    /// Stop at the first failed suite.
    #[arg(long)]
    fail_fast: bool,
    /// The kubeconfig (default: KUBECONFIG, then ~/.kube/config, as kubectl).
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long, value_name = "NAME")]
    context: Option<String>,
    /// An existing namespace for the Job and the ensemble [default: one zk-chaos job creates and deletes]
    #[arg(short = 'n', long, value_name = "NS")]
    namespace: Option<String>,
    /// Let disruptive suites run on this context (exactly its name); the RBAC then also allows cordons, evictions and ephemeral containers.
    #[arg(long, value_name = "CONTEXT")]
    allow_disruption: Option<String>,
    /// The image of zk-chaos the Job runs [default: zk-chaos/zk-chaos:VERSION, built by ci/build-job-image.sh]
    #[arg(long, value_name = "IMAGE")]
    image: Option<String>,
    /// Where the run folder is copied to (relative to the current directory).
    #[arg(long, value_name = "DIR", default_value = "results")]
    results: PathBuf,
    /// How long the run in the Job may take.
    #[arg(long, value_name = "DURATION", default_value = "2h", value_parser = humantime::parse_duration)]
    timeout: std::time::Duration,
    /// How long the pod waits, once its run is over, for its results to be copied.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    collect_wait: std::time::Duration,
    /// Print the objects (Namespace, ServiceAccount, Role, ClusterRole, bindings, ConfigMap, Job) as YAML and exit; nothing is applied.
    #[arg(long)]
    print: bool,
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Build it as ci/build-image.sh does (the script and its context are built into zk-chaos): a Debian base made with debootstrap, no registry needed; up to date is a no-op.
    #[command(after_help = "Environment: ZK_CHAOS_IMAGE (the image's name), ZK_CHAOS_BASE_IMAGE (e.g. debian:bookworm-slim where a registry is reachable), \
                            ZK_CHAOS_DEBIAN_SUITE, ZK_CHAOS_DEBIAN_MIRROR.\nExit codes: 0 built or up to date, 1 the build failed, 3 no Docker engine.")]
    Build {
        /// The image's name [default: ZK_CHAOS_IMAGE, else zk-chaos/zookeeper:3.8]
        #[arg(long, value_name = "NAME")]
        image: Option<String>,
    },
}

/// `run`: `certify`'s arguments and the suites to run.
#[derive(Args, Clone)]
struct RunArgs {
    /// A suite to run (repeatable); default: every suite the platform supports (see `zk-chaos suites`).
    #[arg(long = "suite", value_name = "NAME")]
    suites: Vec<String>,
    #[command(flatten)]
    common: CertifyArgs,
}

/// `certify`: every suite the platform supports, so no `--suite`.
#[derive(Args, Clone)]
struct CertifyArgs {
    /// Where the ensemble runs.
    #[arg(long, value_enum, default_value = "docker")]
    platform: PlatformArg,
    /// The manifest: a file, a directory (its *.yaml/*.yml in name order) or - (stdin), holding one StatefulSet and its Services, PodDisruptionBudget,
    /// ConfigMaps, Secrets, ServiceAccount, NetworkPolicies, Roles, RoleBindings [default: the built-in reference manifest, the walkthrough's zookeeper.yaml]
    #[arg(long, value_name = "PATH")]
    manifest: Option<PathBuf>,
    /// Run the manifest's image FROM as the local image TO (repeatable; adds to `images:` in the config); it runs with imagePullPolicy IfNotPresent.
    #[arg(long = "image-map", value_name = "FROM=TO")]
    image_map: Vec<String>,
    /// The image the upgrade suite rolls the ensemble to, and back from (`to_image:` in the config) [default: the 3.9.5 image of the deployment's image family]
    #[arg(long = "to-image", value_name = "IMAGE")]
    to_image: Option<String>,
    /// Where results/<run-id>/ goes (relative to the current directory).
    #[arg(long, value_name = "DIR", default_value = "results")]
    results: PathBuf,
    /// Write a data volume of SIZE (8MiB, 256MiB, 1GiB) into the ensemble before the first fault suite, and check after it and every later suite
    /// that every znode survived (count and SHA-256 per subtree); overrides `data:` in the config.
    #[arg(long, value_name = "SIZE", value_parser = zk_chaos::workload::volume::DataSize::parse)]
    data: Option<zk_chaos::workload::volume::DataSize>,
    /// A YAML config file (timeouts, image, names, workload).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Leave the ensemble up at the end and print how to reach and remove it.
    #[arg(long)]
    keep: bool,
    /// Stop at the first failed suite (and, with --repeat, at the first failed run).
    #[arg(long)]
    fail_fast: bool,
    /// Run the suites N times, each a full run, and report each check's pass rate.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// Also write the JUnit report here (with --repeat: every run in one report, flaky checks marked as nextest marks them).
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// `text`: the summary for a person on stdout; `json` or `yaml`: each run's verdict, folder and suites for a machine.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    output: MachineOutput,
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
    #[arg(short = 'n', long, value_name = "NS")]
    namespace: Option<String>,
    /// Let disruptive suites run on this context (exactly its name) though zk-chaos did not create it.
    #[arg(long, value_name = "CONTEXT")]
    allow_disruption: Option<String>,
    /// The kind cluster config for --platform kind [default: the built-in one: a control plane and four workers of zk-chaos/kind-node]
    #[arg(long, value_name = "PATH")]
    kind_config: Option<PathBuf>,
    /// Certify the ensemble already running as this StatefulSet in -n NS (--platform kube), applying nothing: statefulset/NAME.
    /// Read-only suites always; disruptive ones with --allow-disruption; the ensemble is left as found (checked at the end).
    #[arg(long, value_name = "statefulset/NAME")]
    adopt: Option<String>,
    /// StorageClass for volume claim templates that name none (kind default: zk-chaos-shared, movable volumes; `standard` pins them to nodes).
    #[arg(long, value_name = "NAME")]
    storage_class: Option<String>,
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum Shown {
    /// The reference manifest (fixtures/zookeeper.yaml): what runs without --manifest.
    Manifest,
    /// The kind cluster config (fixtures/kind/cluster.yaml): what --platform kind uses without --kind-config.
    KindConfig,
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum Output {
    Table,
    Json,
    Yaml,
}

/// `-o` of `history`.
#[derive(clap::ValueEnum, Clone, Copy)]
enum HistoryOutput {
    Html,
    Json,
    Yaml,
}

/// `-o` of `compare`, `run` and `certify`.
#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
enum MachineOutput {
    Text,
    Json,
    Yaml,
}

impl MachineOutput {
    fn format(self) -> Option<zk_chaos::shell::Format> {
        match self {
            MachineOutput::Text => None,
            MachineOutput::Json => Some(zk_chaos::shell::Format::Json),
            MachineOutput::Yaml => Some(zk_chaos::shell::Format::Yaml),
        }
    }
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
    let cli = Cli::parse();
    cli::init_tracing_at(cli.verbose.min(100) as i8 - cli.quiet.min(100) as i8);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("zk-chaos: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED as u8);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Suites { output: Output::Table } => {
                print!("{}", cli::describe_suites(&suites::all()));
                Ok(exit::PASSED)
            }
            Command::Suites { output: Output::Json } => {
                let json = serde_json::to_string_pretty(&cli::list_suites(&suites::all())).map_err(|e| Error::Other(e.into()))?;
                println!("{json}");
                Ok(exit::PASSED)
            }
            Command::Suites { output: Output::Yaml } => {
                print!("{}", zk_chaos::shell::Format::Yaml.render(&cli::list_suites(&suites::all()))?);
                Ok(exit::PASSED)
            }
            Command::Completions { shell } => {
                use std::io::Write;
                let script = zk_chaos::shell::completions(shell, &mut <Cli as clap::CommandFactory>::command());
                std::io::stdout().write_all(&script).map_err(|e| Error::Other(e.into()))?;
                Ok(exit::PASSED)
            }
            Command::Man => {
                use std::io::Write;
                let page = zk_chaos::shell::man(&<Cli as clap::CommandFactory>::command())?;
                std::io::stdout().write_all(&page).map_err(|e| Error::Other(e.into()))?;
                Ok(exit::PASSED)
            }
            Command::Show { what } => {
                print!(
                    "{}",
                    match what {
                        Shown::Manifest => zk_chaos::manifest::REFERENCE,
                        Shown::KindConfig => zk_chaos::platform::KIND_BUILTIN_CONFIG,
                    }
                );
                Ok(exit::PASSED)
            }
            Command::Image { command: ImageCommand::Build { image } } => cli::build_image(image.as_deref()).await,
            Command::Clean { run, force, context, kubeconfig } => cli::clean(run.as_deref(), force, context.as_deref(), kubeconfig.as_deref()).await,
            Command::History { results, output, out } => {
                let history = zk_chaos::report::history::load(&results)?;
                let format = match output {
                    HistoryOutput::Html => None,
                    HistoryOutput::Json => Some(zk_chaos::shell::Format::Json),
                    HistoryOutput::Yaml => Some(zk_chaos::shell::Format::Yaml),
                };
                match format {
                    Some(f) => print!("{}", f.render(&history)?),
                    None => {
                        let path = out.unwrap_or_else(|| results.join("history.html"));
                        std::fs::write(&path, history.render_html()).map_err(|e| Error::bad_input(format!("writing {}: {e}; give another --out", path.display())))?;
                        println!("history of {} runs: {}", history.runs.len(), path.display());
                    }
                }
                Ok(exit::PASSED)
            }
            Command::Compare { run_a, run_b, max_factor, allow_different, output } => compare_command(&run_a, &run_b, max_factor, allow_different, output),
            Command::Check(args) => zk_chaos::check::run(&args),
            Command::Run(args) => run_command(args.common, args.suites).await,
            Command::Job(args) => job_command(args).await,
            Command::JobPod { run, collect_wait } => {
                let results = run.common.results.clone();
                let code = run_command(run.common, run.suites).await.unwrap_or_else(|e| {
                    eprintln!("zk-chaos: {e}");
                    e.exit_code()
                });
                zk_chaos::job::drive::await_collection(&results, code, collect_wait).await.map_err(|e| Error::Other(e.into()))?;
                Ok(code)
            }
            Command::Certify(args) => run_command(args, Vec::new()).await,
        }
    });
    let code = code.unwrap_or_else(|e: Error| {
        eprintln!("zk-chaos: {e}");
        e.exit_code()
    });
    ExitCode::from(code as u8)
}

/// `run` and `certify` (no `suites`: every suite the platform supports).
async fn run_command(args: CertifyArgs, suites: Vec<String>) -> Result<i32> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    for m in &args.image_map {
        let (from, to) = zk_chaos::manifest::images::parse_mapping("--image-map", m).map_err(Error::bad_input)?;
        config.images.insert(from, to);
    }
    if let Some(image) = &args.to_image {
        if image.trim().is_empty() || image.chars().any(char::is_whitespace) {
            return Err(Error::bad_input(format!("--to-image {image:?}: give an image name, e.g. zk-chaos/zookeeper:3.9.5")));
        }
        config.to_image = Some(image.clone());
    }
    if args.data.is_some() {
        config.data = args.data;
    }
    let opts = RunOptions {
        platform: args.platform.into(),
        suites,
        manifest: args.manifest.clone(),
        results: args.results.clone(),
        config,
        keep: args.keep,
        fail_fast: args.fail_fast,
        kube: zk_chaos::platform::KubeOptions {
            kubeconfig: args.kube.kubeconfig.clone(),
            context: args.kube.context.clone(),
            namespace: args.kube.namespace.clone(),
            allow_disruption: args.kube.allow_disruption.clone(),
            kind_config: args.kube.kind_config.clone(),
            storage_class: args.kube.storage_class.clone(),
            adopt: args.kube.adopt.clone(),
        },
    };
    let repeat = args.repeat;
    let machine = args.output.format();
    if let Some(path) = &args.junit {
        junit_path_usable(path)?;
    }
    let prepared = run::prepare_any(opts).await?;
    cli::ensure_image(&prepared).await?;
    cli::ensure_suite_images(&prepared).await?;
    // One listener for the whole command: a Ctrl-C between two repeated runs (while one run's
    // report is written or the next one connects) stops the repeat instead of being lost. A
    // second one, during the cleanup the first started, quits at once saying what may be left.
    let first_id = run::new_run_id(&prepared.opts.config.label_prefix);
    let in_flight = Arc::new(Mutex::new(in_flight(&prepared, &first_id)));
    let interrupt = tokio_util::sync::CancellationToken::new();
    let listener = tokio::spawn(cli::on_interrupts(cli::Signals::new().into_stream(), interrupt.clone(), in_flight.clone(), |message| {
        eprintln!("{message}");
        std::process::exit(exit::INTERRUPTED)
    }));
    // On kind, the one cluster of every run of this command.
    let session = match run::open(&prepared, &first_id, interrupt.clone().cancelled_owned()).await {
        Ok(s) => s,
        Err(e) => {
            listener.abort();
            return Err(e);
        }
    };
    let ran = repeat_runs(&prepared, &session, first_id, repeat, &interrupt, &in_flight, machine.is_some()).await;
    let closed = run::close(&prepared, &session).await;
    listener.abort();
    let (reports, interrupted_between_runs) = ran?;
    closed?;
    if interrupted_between_runs && reports.is_empty() {
        return Ok(exit::INTERRUPTED);
    }
    let write = |path: &std::path::Path, text: String| std::fs::write(path, text).map_err(|e| Error::Other(anyhow::anyhow!("writing {}: {e}", path.display())));
    if repeat > 1 {
        let summary = zk_chaos::report::repeat::RepeatReport::new(&reports);
        let path = prepared.opts.results.join(format!("repeat-{}.json", reports[0].run_id));
        let json = serde_json::to_string_pretty(&summary).map_err(|e| Error::Other(e.into()))?;
        write(&path, json + "\n")?;
        // Every run in one JUnit report, flaky checks marked (nextest's way).
        let junit = prepared.opts.results.join(format!("repeat-{}.junit.xml", reports[0].run_id));
        write(&junit, zk_chaos::report::junit::render_repeats(&reports).map_err(Error::Other)?)?;
        if machine.is_none() {
            print!("{}", summary.render_text());
            println!("pass rates: {}", path.display());
            println!("junit (every run, flaky checks marked): {}", junit.display());
        }
    }
    if let (Some(path), Some(last)) = (&args.junit, reports.last()) {
        let xml = if repeat > 1 { zk_chaos::report::junit::render_repeats(&reports) } else { zk_chaos::report::junit::render(last) };
        write(path, xml.map_err(Error::Other)?)?;
    }
    if let Some(format) = machine {
        let runs = reports.iter().map(|r| zk_chaos::report::summary::MachineRun::new(r, &zk_chaos::report::run_dir(&prepared.opts.results, &r.run_id))).collect();
        let pass_rates = (repeat > 1).then(|| zk_chaos::report::repeat::pass_rates(&reports));
        print!("{}", format.render(&zk_chaos::report::summary::Machine { runs, pass_rates })?);
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

/// `job`: the plan checked and made (bad input before anything is created), printed with
/// `--print`, else run on the cluster.
async fn job_command(a: JobArgs) -> Result<i32> {
    use zk_chaos::job;
    use zk_chaos::platform::KubeContext;
    let plan = job_plan(&a)?;
    if a.print {
        print!("{}", job::render(&job::documents(&plan))?);
        return Ok(exit::PASSED);
    }
    let kube_context = KubeContext::resolve(a.kubeconfig.as_deref(), a.context.as_deref())?;
    let context = kube_context.name.clone();
    let all = suites::all();
    let disruptive: Vec<&str> = all.iter().filter(|s| s.disruptive() && plan.suites.iter().any(|n| n == s.name())).map(|s| s.name()).collect();
    kube_context.check_disruption(&disruptive, a.allow_disruption.as_deref())?;
    let client = kube_context.connect().await?;
    let interrupt = tokio_util::sync::CancellationToken::new();
    let (first, plan_for_quit, ctx) = (interrupt.clone(), plan.clone(), context.clone());
    let listener = tokio::spawn(async move {
        let mut signals = cli::Signals::new();
        signals.next().await;
        first.cancel();
        signals.next().await;
        eprintln!(
            "zk-chaos job: quitting at once; what may be left: `kubectl --context {ctx} delete job,role,rolebinding,serviceaccount,configmap -n {ns} -l {l}={n}`, \
             `kubectl --context {ctx} delete clusterrole,clusterrolebinding -l {l}={n}`{extra}",
            ns = plan_for_quit.namespace,
            l = job::JOB_LABEL,
            n = plan_for_quit.name,
            extra = if plan_for_quit.create_namespace { format!(", `kubectl --context {ctx} delete namespace {}`", plan_for_quit.namespace) } else { String::new() }
        );
        std::process::exit(exit::INTERRUPTED)
    });
    let code = job::drive::run(client, &context, &plan, &a.results, interrupt).await;
    listener.abort();
    code
}

/// The Job's plan from `job`'s arguments: every input read and checked here.
fn job_plan(a: &JobArgs) -> Result<zk_chaos::job::JobPlan> {
    use zk_chaos::job;
    let suites = job::select_suites(&a.suites, a.allow_disruption.is_some())?;
    for m in &a.image_map {
        zk_chaos::manifest::images::parse_mapping("--image-map", m).map_err(Error::bad_input)?;
    }
    for (flag, d) in [("--timeout", a.timeout), ("--collect-wait", a.collect_wait)] {
        if d.is_zero() {
            return Err(Error::bad_input(format!("{flag} 0s: give a positive duration, e.g. 30m")));
        }
    }
    let (manifest, parsed) = match &a.manifest {
        Some(p) => {
            let text = job::read_input(p, "--manifest")?;
            let parsed = zk_chaos::manifest::Manifest::parse(&text, &p.display().to_string())?;
            (Some(text), parsed)
        }
        None => (None, zk_chaos::manifest::Manifest::reference()?),
    };
    let config = match &a.config {
        Some(p) => {
            Config::load(p)?;
            Some(job::read_input(p, "--config")?)
        }
        None => None,
    };
    let mut kinds: Vec<String> = parsed.documents.iter().filter_map(|d| d["kind"].as_str().map(str::to_string)).collect();
    kinds.dedup();
    let name = run::new_run_id("zk-chaos-job");
    Ok(job::JobPlan {
        namespace: a.namespace.clone().unwrap_or_else(|| name.clone()),
        create_namespace: a.namespace.is_none(),
        name,
        image: a.image.clone().unwrap_or_else(job::default_image),
        suites,
        disruptive: a.allow_disruption.is_some(),
        manifest,
        kinds,
        config,
        image_map: a.image_map.clone(),
        storage_class: a.storage_class.clone(),
        fail_fast: a.fail_fast,
        collect_wait: a.collect_wait,
        timeout: a.timeout,
    })
}

/// `--junit PATH` is checked before the run, not after it: its folder must exist and PATH must not
/// be a folder.
fn junit_path_usable(path: &std::path::Path) -> Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    if path.is_dir() {
        return Err(Error::bad_input(format!("--junit {}: is a folder; give the path of the XML file to write (e.g. {}/junit.xml)", path.display(), path.display())));
    }
    if !parent.is_dir() {
        return Err(Error::bad_input(format!("--junit {}: the folder {} does not exist; create it first or give another path", path.display(), parent.display())));
    }
    Ok(())
}

/// What the command's first run puts at stake, for a second Ctrl-C's message ([`cli::InFlight`]).
fn in_flight(p: &run::Prepared, first_id: &str) -> cli::InFlight {
    use zk_chaos::platform::{kind_cluster_name, KubeContext};
    let k = &p.opts.kube;
    cli::InFlight {
        platform: Some(p.opts.platform),
        run_id: Some(first_id.to_string()),
        kind_cluster: (p.opts.platform == PlatformKind::Kind).then(|| (kind_cluster_name(first_id), first_id.to_string())),
        // The context the run will use: --context, else the kubeconfig's current one (read, not contacted).
        context: match p.opts.platform {
            PlatformKind::Kube => k.context.clone().or_else(|| KubeContext::resolve(k.kubeconfig.as_deref(), None).ok().map(|c| c.name)),
            _ => None,
        },
        kubeconfig: k.kubeconfig.clone(),
        namespace: k.namespace.clone(),
        adopted: k.adopt.is_some(),
    }
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
    in_flight: &Mutex<cli::InFlight>,
    machine: bool,
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
        in_flight.lock().unwrap_or_else(|e| e.into_inner()).run_id = Some(run_id.clone());
        let platform = run::connect(prepared, session, &run_id, i == repeat).await?;
        let finished = run::execute(prepared, platform, interrupt.clone().cancelled_owned()).await;
        let dir = run::write(&finished.report, &prepared.opts.results, &finished.member_logs).map_err(Error::Other)?;
        // With -o json|yaml, stdout holds the one document printed at the end.
        if !machine {
            print!("{}", zk_chaos::report::summary::render(&finished.report));
            println!("report: {}", dir.join("report.html").display());
        }
        let stop = finished.report.interrupted || (prepared.opts.fail_fast && finished.report.verdict != zk_chaos::report::Verdict::Pass);
        reports.push(finished.report);
        if stop {
            break;
        }
    }
    Ok((reports, false))
}

/// `compare`: 1 when B regressed, and when the runs are not comparable (other suites, another
/// deployment or platform) unless `allow_different`.
fn compare_command(a: &std::path::Path, b: &std::path::Path, factor: f64, allow_different: bool, output: MachineOutput) -> Result<i32> {
    use zk_chaos::report::compare;
    let (ra, rb) = (compare::load_run(a)?, compare::load_run(b)?);
    let c = compare::compare(&ra, &rb, factor);
    match output.format() {
        None => print!("{}", c.render_text()),
        Some(format) => print!("{}", format.render(&c)?),
    }
    let different = !c.differences.is_empty() && !allow_different;
    if different {
        eprintln!("zk-chaos compare: the two runs are not comparable ({}); pass --allow-different to compare them anyway", c.differences.join("; "));
    }
    Ok(if c.regressed().is_empty() && !different { exit::PASSED } else { exit::FAILED })
}
