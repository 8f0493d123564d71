//! The linearizability checker's speed: a 100,000-operation register history of 8 sessions on
//! one znode, judged by zk-chaos's checker and by Porcupine (ci/porcupine) on the same file, in
//! the same run. Prints the numbers; asserts nothing about them.
//!
//!   bash ci/bench/checker.sh                       # builds ci/porcupine, then this
//!   cargo bench --bench checker                    # zk-chaos alone
//!
//! Environment: `ZK_CHAOS_BENCH_PORCUPINE` (the porcupine-check binary; without it Porcupine is
//! not run), `ZK_CHAOS_BENCH_OPS` (100000), `ZK_CHAOS_BENCH_UNKNOWN` (outcomes unknown, in a
//! hundred: 0), `ZK_CHAOS_BENCH_BUDGET` (each checker's budget: 60s).
//!
//! Two histories from the generator's simulated register (linearizable by construction): one as
//! it is, and one with one of its operations mutated (seed 3), which neither may find linearizable.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use zk_chaos::workload::register::generate::{generate_with, Shape};
use zk_chaos::workload::register::{check, Verdict};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn verdict(v: &Verdict) -> &'static str {
    match v {
        Verdict::Linearizable => "linearizable",
        Verdict::NotLinearizable { .. } => "not_linearizable",
        Verdict::Unknown { .. } => "unknown",
    }
}

/// Porcupine's verdict and the time of its whole-history check, as porcupine-check prints them.
fn porcupine(bin: &Path, file: &Path, budget: Duration) -> Result<(String, f64), String> {
    let out = Command::new(bin).arg("-timeout").arg(format!("{}s", budget.as_secs())).arg(file).output().map_err(|e| format!("{}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!("{} exited {}: {}", bin.display(), out.status, String::from_utf8_lossy(&out.stderr)));
    }
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("porcupine-check printed no JSON ({e})"))?;
    Ok((line["verdict"].as_str().unwrap_or("?").to_string(), line["whole_ms"].as_f64().unwrap_or(f64::NAN)))
}

fn main() {
    let ops: i64 = env("ZK_CHAOS_BENCH_OPS", 100_000);
    let unknown: i64 = env("ZK_CHAOS_BENCH_UNKNOWN", 0);
    let budget = Duration::from_secs(env("ZK_CHAOS_BENCH_BUDGET", 60));
    let porcupine_bin = std::env::var_os("ZK_CHAOS_BENCH_PORCUPINE").map(std::path::PathBuf::from);
    let shape = Shape { processes: (8, 8), keys: (1, 1), ops: (ops, ops), versions_percent: 20, unknown_percent: unknown };
    let dir = tempfile::tempdir().expect("a temporary folder");
    println!(
        "linearizability checker speed ({} build): {ops} operations, 8 sessions, one znode, {unknown}% unknown outcomes, 5% failed, budget {}s each",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        budget.as_secs()
    );
    for seed in [2u64, 3] {
        let g = generate_with(seed, &shape);
        let file = dir.path().join(format!("h-{seed}.json"));
        std::fs::write(&file, serde_json::to_string(&g).expect("serialises")).expect("writing the history");
        let t = Instant::now();
        let ours = check(&g.history, budget);
        let ours_ms = t.elapsed().as_secs_f64() * 1000.0;
        let what = match &g.mutation {
            Some(m) => format!("mutated ({m})"),
            None => "as simulated".to_string(),
        };
        println!("  seed {seed}, {what}:");
        println!("    zk-chaos:  {:<16} {ours_ms:>10.1} ms (goal: within 1000 ms)", verdict(&ours));
        match &porcupine_bin {
            Some(bin) => match porcupine(bin, &file, budget) {
                Ok((v, ms)) => println!("    porcupine: {v:<16} {ms:>10.1} ms   ratio porcupine / zk-chaos: {:.2} (goal: at least 1)", ms / ours_ms),
                Err(e) => println!("    porcupine: not run: {e}"),
            },
            None => println!("    porcupine: not run (set ZK_CHAOS_BENCH_PORCUPINE; bash ci/bench/checker.sh builds it)"),
        }
        if let Verdict::NotLinearizable { part, .. } = &ours {
            println!("    failing part: {} of {} operations{}", part.ops.len(), part.key_ops, if part.minimal { "" } else { " (shrinking stopped at the budget)" });
        }
    }
}
