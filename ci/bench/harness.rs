//! The harness's own cost, on Docker: `cargo bench --features e2e --bench harness`; on a kind
//! cluster of its own (part (a) and (c) only): `ZK_CHAOS_BENCH_PLATFORM=kind cargo bench --features
//! e2e --bench harness` (needs `ci/build-kind.sh`).
//! It prints numbers; it asserts nothing but that the run cleaned up after itself.
//!
//! (b) Throughput: against a fresh 3-member ensemble with no fault, the workload (writes only)
//!     and the reference client kazoo (ci/bench/kazoo_writes.py) do the same writes: the same
//!     number, the same concurrency (sessions, one write at a time each), the same znode size
//!     and layout; after an uncounted warm-up round, rounds alternate which client goes first.
//! (a) Overhead and detection latency: one run of the fault suites (durability, process-failure,
//!     liveness; rolling-update too with ZK_CHAOS_BENCH_ROLLING=1, about 4 more minutes; the
//!     partition suite with ZK_CHAOS_BENCH_PARTITION=1, about 1 more minute, its recovery the
//!     sum of its three cuts' fault to whole, the 5 s each is held included; only those with
//!     ZK_CHAOS_BENCH_ONLY_EXTRA=1) through
//!     `zk_chaos::run`. Per suite: wall time, the recovery inside it (its `*fault_to_whole_ms`
//!     metrics), and the harness overhead (the rest, as % of wall time). Detection latency: from
//!     the moment the ensemble actually became whole to the suite's "ensemble whole again"
//!     marker. "Actually whole" is bounded from the platform's lifecycle events (the last Ready
//!     of a member after the fault: whole needs every member Ready) and from an independent
//!     observer in this process that looks at the ensemble 50 ms after each of its looks ended
//!     (srvr/mntr and member status, the same condition the harness waits for).
//! (c) Peak memory: VmHWM of this process, which runs the harness as a library.
//! (d) The data volume (`--data`): against a fresh ensemble, zk-chaos's preload and its read-and-
//!     digest pass, and the same layout written and read back by kazoo with the same window of
//!     requests in flight (ci/bench/kazoo_volume.py), in MB/s; a warm-up round, then rounds
//!     alternating which client goes first.
//!
//! On kind the observer reaches the members through the platform's port-forwards, as the harness
//! does, and the Ready events come from the API server's watch.
//!
//! Environment: ZK_CHAOS_BENCH_PLATFORM (docker or kind; default docker), ZK_CHAOS_BENCH_WRITES (default 4000), ZK_CHAOS_BENCH_WORKERS (8),
//! ZK_CHAOS_BENCH_VALUE_SIZE (32), ZK_CHAOS_BENCH_ROUNDS (4), ZK_CHAOS_BENCH_ROLLING,
//! ZK_CHAOS_BENCH_PARTITION, ZK_CHAOS_BENCH_ONLY_EXTRA (unset),
//! ZK_CHAOS_BENCH_SKIP_FAULTS / ZK_CHAOS_BENCH_SKIP_THROUGHPUT / ZK_CHAOS_BENCH_SKIP_DATA (unset),
//! ZK_CHAOS_BENCH_DATA (the volume's size, default 16MiB), ZK_CHAOS_BENCH_DATA_ROUNDS (2).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use zk_chaos::config::{Config, WorkloadConfig};
use zk_chaos::ensemble::EnsembleView;
use zk_chaos::manifest::Manifest;
use zk_chaos::platform::docker::{engine, DockerPlatform};
use zk_chaos::platform::{LifecycleKind, Platform, PlatformKind};
use zk_chaos::report::SuiteReport;
use zk_chaos::run::{self, RunOptions};
use zk_chaos::workload::{OpKind, Outcome, Workload, WorkloadOptions};

#[path = "../../suites/tests/common/mod.rs"]
mod common;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One row of the overhead table: wall time, recovery (as the suite reports it) and the earliest
/// possible recovery, with the ratio and the rest of the wall time as overhead.
fn overhead_row(name: &str, wall_ms: u64, recovery: f64, actual: f64, tail: &str) {
    let wall = wall_ms as f64;
    println!(
        "  {:<16} {:>8} {:>10.0} {:>6.2} {:>10.0} {:>8.1}% | {:>10.0} {:>7.1}% | {}",
        name,
        wall_ms,
        recovery,
        recovery / wall,
        wall - recovery,
        100.0 * (wall - recovery) / wall,
        actual,
        100.0 * (wall - actual) / wall,
        tail
    );
}

/// The kazoo baseline's Python (ci/bench/setup.sh makes its venv once).
fn kazoo_python() -> PathBuf {
    let venv_python = root().join("ci/bench/.venv/bin/python");
    let setup = Command::new("bash").arg(root().join("ci/bench/setup.sh")).status().expect("running ci/bench/setup.sh");
    assert!(setup.success() && venv_python.exists(), "ci/bench/setup.sh could not make the kazoo venv");
    venv_python
}

/// A Docker ensemble of the walkthrough's manifest for `body`, torn down on every path (also when
/// `body` panics, whose panic then goes on); the run id.
async fn on_the_walkthroughs_ensemble<F, Fut>(what: &str, body: F) -> String
where
    F: FnOnce(Arc<DockerPlatform>, Config) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let manifest = Manifest::load(&root().join("fixtures/zookeeper.yaml")).unwrap();
    let config = Config::default();
    let run_id = run::new_run_id("zk-chaos-bench");
    let platform = Arc::new(DockerPlatform::connect(manifest, config.clone(), run_id.clone()).await.expect("docker platform"));
    let outcome = tokio::spawn(body(platform.clone(), config)).await;
    let teardown = platform.teardown().await;
    if let Err(e) = outcome {
        let _ = teardown;
        std::panic::resume_unwind(e.into_panic());
    }
    if let Err(e) = teardown {
        panic!("teardown of the {what} ensemble: {e:?}");
    }
    run_id
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn flag(name: &str) -> bool {
    std::env::var(name).map(|v| !v.is_empty() && v != "0").unwrap_or(false)
}

/// VmHWM (peak resident set) of a process, in KiB.
fn vm_hwm_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; nothing else is accepted.
    common::start_docker();
    let clock = Instant::now();
    println!(
        "zk-chaos harness benchmark ({} build, {} CPUs)",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let platform = match std::env::var("ZK_CHAOS_BENCH_PLATFORM").as_deref() {
        Err(_) | Ok("") | Ok("docker") => PlatformKind::Docker,
        Ok("kind") => PlatformKind::Kind,
        Ok(other) => panic!("ZK_CHAOS_BENCH_PLATFORM must be docker or kind, not {other:?}"),
    };
    println!("platform: {platform}");
    let mut run_ids = Vec::new();
    if platform != PlatformKind::Docker {
        println!();
        println!("(b) write throughput: skipped on {platform} (it measures the client against kazoo, not the platform; run it on Docker)");
    } else if !flag("ZK_CHAOS_BENCH_SKIP_THROUGHPUT") {
        run_ids.push(throughput().await);
    }
    if platform != PlatformKind::Docker {
        println!();
        println!("(d) data volume: skipped on {platform} (it measures the client against kazoo, not the platform; run it on Docker)");
    } else if !flag("ZK_CHAOS_BENCH_SKIP_DATA") {
        run_ids.push(data_volume().await);
    }
    if !flag("ZK_CHAOS_BENCH_SKIP_FAULTS") {
        run_ids.push(faults(platform).await);
    }
    println!();
    println!("(c) peak memory");
    println!("  harness (this process, library in-process): VmHWM {} KiB", vm_hwm_kib("self").map_or("?".into(), |k| k.to_string()));

    let docker = engine::connect().await.expect("docker");
    let mut clean = true;
    for id in &run_ids {
        let left = engine::find(&docker, Some(id)).await.expect("listing leftovers");
        if !left.is_empty() {
            clean = false;
            println!("LEFTOVERS of {id}: {}", left.describe());
        }
        if platform == PlatformKind::Kind {
            let clusters = zk_chaos::platform::kube::kind::leftovers(Some(id)).await.expect("listing kind clusters");
            if !clusters.is_empty() {
                clean = false;
                println!("LEFTOVER kind cluster of {id}: {}", clusters.join(", "));
            }
        }
    }
    println!();
    println!("cleanup: {} ({} runs: {})", if clean { "nothing left behind" } else { "LEFTOVERS" }, run_ids.len(), run_ids.join(", "));
    println!("benchmark took {:.0}s", clock.elapsed().as_secs_f64());
    assert!(clean, "the benchmark left containers, volumes or networks behind");
}

// ---------------------------------------------------------------------------------------------
// (b) throughput

struct Params {
    writes: u64,
    workers: u32,
    value_size: usize,
    rounds: u32,
}

async fn throughput() -> String {
    let params = Params {
        writes: env_or("ZK_CHAOS_BENCH_WRITES", 4000),
        workers: env_or("ZK_CHAOS_BENCH_WORKERS", 8),
        value_size: env_or("ZK_CHAOS_BENCH_VALUE_SIZE", 32),
        rounds: env_or("ZK_CHAOS_BENCH_ROUNDS", 4),
    };
    let venv_python = kazoo_python();

    on_the_walkthroughs_ensemble("throughput", |platform, config| throughput_rounds(platform, config, params, venv_python)).await
}

async fn throughput_rounds(p: Arc<DockerPlatform>, config: Config, params: Params, python: PathBuf) {
    let t = Instant::now();
    p.deploy().await.expect("deploy");
    let mut addrs = Vec::new();
    for m in p.members() {
        addrs.push(p.client_addr(&m).await.unwrap());
    }
    let hosts = addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(",");
    println!();
    println!("(b) write throughput, no fault (ensemble up in {:.1}s)", t.elapsed().as_secs_f64());
    println!(
        "  parameters: {} persistent sequential creates per client per round, {} concurrent sessions (one write in flight each), {}-byte values, \
         connect string of all 3 members (each client shuffles it), sessions and folders set up before the clock starts; \
         rate limit off; a warm-up round (w, not counted), then {} rounds alternating which client goes first",
        params.writes, params.workers, params.value_size, params.rounds
    );
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    // Round "w" warms the servers' JVMs up (the first thousands of writes are much slower for
    // whichever client comes first); it is printed but not counted.
    let rounds: Vec<(String, [&str; 2])> = std::iter::once(("w".to_string(), ["zk-chaos", "kazoo"]))
        .chain((0..params.rounds).map(|r| (r.to_string(), if r % 2 == 0 { ["zk-chaos", "kazoo"] } else { ["kazoo", "zk-chaos"] })))
        .collect();
    for (round, order) in rounds {
        let counted = round != "w";
        for who in order {
            let prefix = format!("/zk-chaos/{}/bench-r{round}-{who}", p.run_id());
            if who == "kazoo" {
                let out = Command::new(&python)
                    .arg(root().join("ci/bench/kazoo_writes.py"))
                    .args(["--hosts", &hosts, "--prefix", &prefix])
                    .args(["--workers", &params.workers.to_string(), "--writes", &params.writes.to_string()])
                    .args(["--value-size", &params.value_size.to_string()])
                    .output()
                    .expect("running kazoo_writes.py");
                assert!(out.status.success(), "kazoo_writes.py: {}", String::from_utf8_lossy(&out.stderr));
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("kazoo_writes.py prints JSON");
                let rate = v["writes_per_second"].as_f64().unwrap();
                println!(
                    "  round {round} {:<10} {:>6} acknowledged, {} failed, in {:.3}s: {:>8.1} writes/s",
                    v["client"].as_str().unwrap_or("kazoo"),
                    v["acknowledged"],
                    v["failed"],
                    v["seconds"].as_f64().unwrap_or(0.0),
                    rate
                );
                assert_eq!(v["acknowledged"].as_u64(), Some(params.writes), "kazoo did not complete every write");
                if counted {
                    theirs.push(rate);
                }
            } else {
                let cfg = WorkloadConfig { rate_per_second: 1_000_000, max_duration: Duration::from_secs(300), max_operations: params.writes };
                let opts = WorkloadOptions { workers: params.workers, value_size: params.value_size, reads: false, ..Default::default() };
                let load = Workload::start_with(addrs.clone(), prefix, &cfg, config.timeouts.operation, opts).await.expect("workload");
                let deadline = Instant::now() + Duration::from_secs(300);
                while !load.finished() && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let history = load.stop().await;
                let acked = history.ops.iter().filter(|o| o.kind == OpKind::Write && o.outcome == Outcome::Acknowledged).count();
                let first = history.ops.iter().map(|o| o.invoked).min().unwrap();
                let last = history.ops.iter().map(|o| o.completed).max().unwrap();
                let secs = (last - first).num_microseconds().unwrap() as f64 / 1e6;
                let rate = acked as f64 / secs;
                println!(
                    "  round {round} {:<10} {:>6} acknowledged, {} failed, {} unknown, in {:.3}s: {:>8.1} writes/s",
                    "zk-chaos",
                    acked,
                    history.count(Outcome::Failed),
                    history.count(Outcome::Unknown),
                    secs,
                    rate
                );
                assert_eq!(acked as u64, params.writes, "the workload did not complete every write");
                if counted {
                    ours.push(rate);
                }
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!(
        "  mean of counted rounds: zk-chaos workload {:.1} writes/s, kazoo {:.1} writes/s; ratio zk-chaos/kazoo = {:.2} (goal >= 1.0)",
        mean(&ours),
        mean(&theirs),
        mean(&ours) / mean(&theirs)
    );
}

// ---------------------------------------------------------------------------------------------
// (d) the data volume (--data): preload rate and the digest pass, against kazoo

async fn data_volume() -> String {
    let size = zk_chaos::workload::volume::DataSize::parse(&std::env::var("ZK_CHAOS_BENCH_DATA").unwrap_or_else(|_| "16MiB".into())).expect("ZK_CHAOS_BENCH_DATA");
    let rounds: u32 = env_or("ZK_CHAOS_BENCH_DATA_ROUNDS", 2);
    let venv_python = kazoo_python();
    on_the_walkthroughs_ensemble("data-volume", |platform, config| data_volume_rounds(platform, config, size, rounds, venv_python)).await
}

async fn data_volume_rounds(p: Arc<DockerPlatform>, config: Config, size: zk_chaos::workload::volume::DataSize, rounds: u32, python: PathBuf) {
    use zk_chaos::workload::volume::{self, Plan};
    let t = Instant::now();
    p.deploy().await.expect("deploy");
    let members = p.members();
    let (write_addr, read_addr) = (p.client_addr(&members[0]).await.unwrap(), p.client_addr(&members[1]).await.unwrap());
    println!();
    println!("(d) data volume of {size}, no fault (ensemble up in {:.1}s)", t.elapsed().as_secs_f64());
    let offline = Plan::new("/x", size, "offline");
    let clock = Instant::now();
    let _ = offline.expected();
    let secs = clock.elapsed().as_secs_f64();
    println!("  content generated and digested in memory, no ensemble: {:.1} MB/s ({} bytes in {:.3}s)", offline.bytes() as f64 / 1e6 / secs, offline.bytes(), secs);
    println!(
        "  parameters: written through {} and read through {} on one session each, {} small znodes ({} B) in {} subtrees and {} large ({} B), \
         256 requests in flight ({} for large znodes), MB = 10^6 bytes; a warm-up round (w, not counted), then {rounds} rounds alternating which client goes first",
        members[0],
        members[1],
        offline.znodes() - offline.subtrees.iter().filter(|s| s.size == volume::LARGE).map(|s| s.count).sum::<usize>(),
        volume::SMALL,
        volume::SUBTREES,
        offline.subtrees.iter().filter(|s| s.size == volume::LARGE).map(|s| s.count).sum::<usize>(),
        volume::LARGE,
        8
    );
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let order = |r: u32| if r.is_multiple_of(2) { ["zk-chaos", "kazoo"] } else { ["kazoo", "zk-chaos"] };
    let plan_rounds: Vec<(String, [&str; 2])> = std::iter::once(("w".to_string(), order(0))).chain((0..rounds).map(|r| (r.to_string(), order(r)))).collect();
    for (round, order) in plan_rounds {
        for who in order {
            let prefix = format!("/zk-chaos/{}/bench-r{round}-{who}", p.run_id());
            let plan = Plan::new(&prefix, size, &prefix);
            let large = plan.subtrees.iter().filter(|s| s.size == volume::LARGE).map(|s| s.count).sum::<usize>();
            let (write, read) = if who == "kazoo" {
                let out = Command::new(&python)
                    .arg(root().join("ci/bench/kazoo_volume.py"))
                    .args(["--hosts", &write_addr.to_string(), "--prefix", &plan.root])
                    .args(["--small", &(plan.znodes() - large).to_string(), "--large", &large.to_string()])
                    .output()
                    .expect("running kazoo_volume.py");
                assert!(out.status.success(), "kazoo_volume.py: {}", String::from_utf8_lossy(&out.stderr));
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("kazoo_volume.py prints JSON");
                assert_eq!(v["bytes_written"].as_u64(), Some(plan.bytes()), "kazoo wrote another volume");
                assert_eq!(v["bytes_read"].as_u64(), Some(plan.bytes()), "kazoo read another volume (it reads through the member it wrote through)");
                (v["write_mb_per_s"].as_f64().unwrap(), v["read_mb_per_s"].as_f64().unwrap())
            } else {
                let client = zk_chaos::client::connect(write_addr, config.timeouts.operation).await.expect("session");
                let loaded = volume::preload(&client, &plan).await.expect("preload");
                let reader = zk_chaos::client::connect(read_addr, config.timeouts.operation).await.expect("session");
                let clock = Instant::now();
                let read = volume::read(&reader, &plan).await.expect("read");
                let read_secs = clock.elapsed().as_secs_f64();
                volume::judge(&plan.root, &loaded.expected, &read).expect("the volume read back as written");
                (loaded.mb_per_second(), plan.bytes() as f64 / 1e6 / read_secs)
            };
            println!("  round {round} {who:<10} preload {write:>7.2} MB/s, read and digest {read:>7.2} MB/s");
            if round != "w" {
                if who == "kazoo" { &mut theirs } else { &mut ours }.push((write, read));
            }
        }
    }
    let mean = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| v.iter().map(f).sum::<f64>() / v.len().max(1) as f64;
    let (w, r) = (mean(&ours, |x| x.0), mean(&ours, |x| x.1));
    let (kw, kr) = (mean(&theirs, |x| x.0), mean(&theirs, |x| x.1));
    println!(
        "  mean of counted rounds: preload zk-chaos {w:.2} MB/s, kazoo {kw:.2} MB/s (ratio {:.2}); read and digest zk-chaos {r:.2} MB/s, kazoo {kr:.2} MB/s (ratio {:.2})",
        w / kw,
        r / kr
    );
}

// ---------------------------------------------------------------------------------------------
// (a) overhead and detection latency

/// The independent observer's pause between the end of a look and the start of the next.
const OBSERVER_GAP: Duration = Duration::from_millis(50);

/// One look of the independent observer: when it started and ended, and whether it saw the
/// ensemble whole.
#[derive(Debug, Clone, Copy)]
struct Look {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    whole: bool,
}

async fn faults(platform_kind: PlatformKind) -> String {
    let mut suites = vec!["durability".to_string(), "process-failure".to_string(), "liveness".to_string()];
    if flag("ZK_CHAOS_BENCH_ROLLING") {
        suites.push("rolling-update".to_string());
    }
    if flag("ZK_CHAOS_BENCH_PARTITION") {
        suites.push("partition".to_string());
    }
    if flag("ZK_CHAOS_BENCH_ONLY_EXTRA") {
        suites.retain(|s| s == "rolling-update" || s == "partition");
    }
    let results = root().join("target/bench-results");
    std::fs::create_dir_all(&results).unwrap();
    let opts = RunOptions {
        platform: platform_kind,
        suites: suites.clone(),
        manifest: Some(root().join("fixtures/zookeeper.yaml")),
        results: results.clone(),
        config: Config::default(),
        keep: false,
        fail_fast: false,
        kube: Default::default(),
    };
    let prepared = run::prepare(opts).expect("prepare");
    let run_id = run::new_run_id("zk-chaos-bench");
    let session_clock = Instant::now();
    let session = run::open(&prepared, &run_id, std::future::pending()).await.expect("open the session (on kind: create the cluster)");
    let session_ms = session_clock.elapsed().as_millis();
    let platform = match run::connect(&prepared, &session, &run_id, true).await {
        Ok(p) => p,
        Err(e) => {
            let _ = run::close(&prepared, &session).await;
            panic!("connect: {e}");
        }
    };

    let looks = Arc::new(Mutex::new(Vec::<Look>::new()));
    // One `srvr` exchange with the first member every 200 ms, timed alone: on kind it goes
    // through a port-forward (an open, the exchange, and the close the server makes). Its own
    // task, so the observer's looks follow each other without it.
    let srvr_ms = Arc::new(Mutex::new(Vec::<u64>::new()));
    let timer = {
        let (p, srvr_ms) = (platform.clone(), srvr_ms.clone());
        tokio::spawn(async move {
            loop {
                if let Some(first) = p.members().first() {
                    if let Ok(addr) = p.client_addr(first).await {
                        let t = Instant::now();
                        let reply = zk_chaos::client::fourlw::ask(addr, "srvr", Duration::from_secs(2)).await;
                        if reply.is_ok_and(|r| r.contains("Mode:")) {
                            srvr_ms.lock().unwrap().push(t.elapsed().as_millis() as u64);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    // The independent observer: a look every 50 ms (each starts 50 ms after the last ended), so
    // the moment it became whole is placed within one look and 50 ms. On kind it shares the
    // harness's port-forwards, and its looks take the connections kept open ahead for the
    // harness's: back to back (10 ms apart, 2026-12-02 to 2026-12-06) they took most of them,
    // and the harness's looks after the last Ready opened port-forwards of their own (see README,
    // Benchmark).
    let observer = {
        let (p, looks) = (platform.clone(), looks.clone());
        tokio::spawn(async move {
            loop {
                let start = Utc::now();
                let whole = match EnsembleView::observe(p.as_ref(), Duration::from_secs(2)).await {
                    Ok(v) => v.whole().is_ok(),
                    Err(_) => false,
                };
                looks.lock().unwrap().push(Look { start, end: Utc::now(), whole });
                tokio::time::sleep(OBSERVER_GAP).await;
            }
        })
    };
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let finished = run::execute(&prepared, platform.clone(), interrupt).await;
    observer.abort();
    timer.abort();
    drop(platform);
    run::close(&prepared, &session).await.expect("closing the session (on kind: deleting the cluster)");
    let report = finished.report;
    let dir = run::write(&report, &results, &finished.member_logs).expect("writing the report");
    let looks = looks.lock().unwrap().clone();

    println!();
    println!("(a) fault suites: harness overhead and detection latency (run {}, verdict {}, report {})", report.run_id, report.verdict.as_str(), dir.display());
    if session.kind.is_some() {
        println!("  kind cluster created and the image loaded in {session_ms} ms (not part of the run's duration)");
    }
    println!("  observer: {} looks, {} ms apart, median look {} ms", looks.len(), OBSERVER_GAP.as_millis(), median_look_ms(&looks));
    let mut srvr = srvr_ms.lock().unwrap().clone();
    srvr.sort();
    if !srvr.is_empty() {
        println!(
            "  one `srvr` exchange with the first member ({}): {} answered, median {} ms, 90th percentile {} ms, max {} ms",
            if platform_kind == PlatformKind::Docker { "the container's published port" } else { "through the port-forward" },
            srvr.len(),
            srvr[srvr.len() / 2],
            srvr[srvr.len() * 9 / 10],
            srvr[srvr.len() - 1]
        );
    }
    println!(
        "  {:<16} {:>8} {:>10} {:>6} {:>10} {:>9} | {:>10} {:>8} | detection latency per recovery",
        "suite", "wall ms", "recovery", "ratio", "overhead", "overhead%", "recovery*", "overh.%*"
    );
    let (mut wall_sum, mut rec_sum, mut actual_sum) = (0u64, 0f64, 0f64);
    let mut worst_detection = 0i64;
    for s in &report.suites {
        if s.verdict == zk_chaos::report::Verdict::Skipped {
            println!("  {:<16} skipped: {}", s.name, s.reason.as_deref().unwrap_or(""));
            continue;
        }
        let recovery: f64 = s.metrics.iter().filter(|(k, _)| k.ends_with("fault_to_whole_ms")).map(|(_, v)| v).sum();
        let recoveries = detections(s, &looks);
        let actual: f64 = recoveries.iter().map(|r| r.actual_ms as f64).sum();
        let mut det = Vec::new();
        for r in &recoveries {
            worst_detection = worst_detection.max(r.latency_hi_ms);
            det.push(format!("{}: <= {} ms (>= {} ms; bound by {})", r.label, r.latency_hi_ms, r.latency_lo_ms, r.bound));
        }
        overhead_row(&s.name, s.duration_ms, recovery, actual, &if det.is_empty() { "no recovery recorded".to_string() } else { det.join("; ") });
        if let Some(w) = &s.workload {
            println!(
                "  {:<16} workload: {} acknowledged, {} failed, {} unknown, unavailable {} ms, {:.1} ops/s, lost {}, stale {}; verdict {}",
                "",
                w.acknowledged,
                w.failed,
                w.unknown,
                w.unavailable_ms.map_or("-".into(), |v| v.to_string()),
                w.ops_per_second,
                w.lost.len(),
                w.stale_reads.len(),
                s.verdict.as_str()
            );
        }
        for c in s.checks.iter().filter(|c| c.verdict == zk_chaos::report::Verdict::Fail) {
            println!("  {:<16} FAILED CHECK {}: {}", "", c.name, c.message);
        }
        wall_sum += s.duration_ms;
        rec_sum += recovery;
        actual_sum += actual;
    }
    overhead_row("all", wall_sum, rec_sum, actual_sum, &format!("worst detection latency <= {worst_detection} ms (goal <= 250 ms; overhead goal <= 15%)"));
    println!("  recovery = sum of the suite's *fault_to_whole_ms (fault to the harness's \"whole again\" marker: includes detection);");
    println!("  recovery* = fault to the earliest moment the ensemble can have become whole (last Ready event or last not-whole look of the observer), so overhead* counts detection as overhead;");
    println!("  the run's whole duration was {} ms (deploy and teardown included).", report.duration_ms);
    run_id
}

fn median_look_ms(looks: &[Look]) -> i64 {
    let mut d: Vec<i64> = looks.iter().map(|l| (l.end - l.start).num_milliseconds()).collect();
    d.sort();
    d.get(d.len() / 2).copied().unwrap_or(0)
}

struct Recovery {
    label: String,
    /// Fault to the earliest moment the ensemble can have become whole (so the overhead derived
    /// from it is an upper bound).
    actual_ms: i64,
    latency_lo_ms: i64,
    latency_hi_ms: i64,
    bound: &'static str,
}

/// For each "... ensemble whole again" marker of a suite: when the ensemble actually became
/// whole, bounded below by the last Ready event after the fault and by the last look of the
/// observer that saw it not whole (started before the marker), and above by the first look
/// after that which saw it whole.
fn detections(s: &SuiteReport, looks: &[Look]) -> Vec<Recovery> {
    let mut out = Vec::new();
    for (i, m) in s.markers.iter().enumerate() {
        if !m.label.ends_with("ensemble whole again") {
            continue;
        }
        let Some(fault) = s.markers[..i].iter().rev().find(|f| f.label.starts_with("fault:")) else { continue };
        let ready = s.timeline.iter().filter(|e| e.kind == LifecycleKind::Ready && e.at > fault.at && e.at <= m.at).map(|e| e.at).max();
        let not_whole = looks.iter().filter(|l| !l.whole && l.start >= fault.at && l.start <= m.at).map(|l| l.start).max();
        let (lo, bound) = match (ready, not_whole) {
            (Some(r), Some(n)) if r >= n => (r, "Ready event"),
            (_, Some(n)) => (n, "observer"),
            (Some(r), None) => (r, "Ready event"),
            (None, None) => (fault.at, "fault"),
        };
        let first_whole = looks.iter().filter(|l| l.whole && l.start >= lo).map(|l| l.end).min().unwrap_or(m.at).min(m.at);
        let hi = first_whole.max(lo);
        out.push(Recovery {
            label: match m.label.trim_end_matches("ensemble whole again").trim_end_matches(['.', ' ']) {
                "" => "recovery".to_string(),
                role => role.to_string(),
            },
            actual_ms: (lo - fault.at).num_milliseconds(),
            latency_lo_ms: (m.at - hi).num_milliseconds(),
            latency_hi_ms: (m.at - lo).num_milliseconds(),
            bound,
        });
    }
    out
}
