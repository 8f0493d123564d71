//! zk-chaos's linearizability checker on Porcupine's real test histories (Jepsen's etcd logs, MIT
//! 6.824's key-value logs; see `zk_chaos::workload::register::realdata`): judges every file whose
//! verdict Porcupine's tests state, fails on any disagreement or undecided file, and prints a
//! per-file time table next to Porcupine's own time for the same file, measured on this machine in
//! the same run by its benchmarks (`go test -bench`, whose output `ci/porcupine-realdata.sh` passes
//! with `--porcupine-bench`). Times exclude parsing on both sides; ours is the mean of `--runs`, as
//! Go's benchmark reports the mean of its runs.
//!
//!   bash ci/porcupine-realdata.sh          # downloads the module, runs both, prints the table

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use zk_chaos::workload::register::realdata;
use zk_chaos::workload::register::{check_model, check_model_with, Verdict};

#[derive(Parser)]
struct Args {
    /// Porcupine's module folder (default: found in the Go module cache, see realdata::locate).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The output of `go test -run '^$' -bench 'Etcd|Kv[0-9]'` in Porcupine's module.
    #[arg(long)]
    porcupine_bench: Option<PathBuf>,
    /// The budget of each check.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    budget: Duration,
    /// Runs of each file; their mean counts (as Go's benchmark averages over its runs).
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Only the files whose name contains this.
    #[arg(long)]
    only: Option<String>,
}

/// Porcupine's milliseconds per file, from its benchmark output: `BenchmarkEtcdJepsen002-2   3   101234567 ns/op`.
fn porcupine_times(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(_runs), Some(ns), Some("ns/op")) = (words.next(), words.next(), words.next(), words.next()) else { continue };
        let Ok(ns) = ns.parse::<f64>() else { continue };
        let name = name.split('-').next().unwrap_or(name);
        let file = if let Some(n) = name.strip_prefix("BenchmarkEtcdJepsen") {
            format!("etcd_{n}")
        } else if let Some(rest) = name.strip_prefix("BenchmarkKv") {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let Ok(clients) = digits.parse::<u32>() else { continue };
            let verdict = if rest.ends_with("Ok") { "ok" } else { "bad" };
            format!("c{clients:02}-{verdict}")
        } else {
            continue;
        };
        out.insert(file, ns / 1e6);
    }
    out
}

fn name(v: &Verdict) -> &'static str {
    match v {
        Verdict::Linearizable => "linearizable",
        Verdict::NotLinearizable { .. } => "not_linearizable",
        Verdict::Unknown { .. } => "unknown",
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let dir = match args.dir.clone().map_or_else(|| realdata::locate(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ci/porcupine/go.mod")), Ok) {
        Ok(d) => d,
        Err(why) => {
            eprintln!("porcupine-realdata: {why}");
            return ExitCode::from(2);
        }
    };
    let cases = match realdata::cases(&dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("porcupine-realdata: {e:#}");
            return ExitCode::from(2);
        }
    };
    let theirs = match &args.porcupine_bench {
        Some(f) => porcupine_times(&std::fs::read_to_string(f).unwrap_or_default()),
        None => BTreeMap::new(),
    };
    println!("{:<10} {:>6} {:>5} {:<17} {:>10} {:>12} {:>10} {:>7}", "file", "ops", "keys", "verdict", "ours ms", "+shrink ms", "porc. ms", "ratio");
    let (mut bad, mut total_ours, mut total_theirs, mut worst) = (Vec::new(), 0.0, 0.0, (0.0f64, String::new()));
    for case in cases.iter().filter(|c| args.only.as_deref().is_none_or(|o| c.name.contains(o))) {
        let history = match case.load() {
            Ok(h) => h,
            Err(e) => {
                eprintln!("{}: {e:#}", case.name);
                bad.push(format!("{}: unreadable", case.name));
                continue;
            }
        };
        // The verdict alone (Porcupine's check returns a boolean), the mean of the runs; then
        // once with the failing part shrunk, as `zk-chaos check` reports it.
        let mut verdict = Verdict::Linearizable;
        let t = Instant::now();
        for _ in 0..args.runs.max(1) {
            verdict = check_model_with(case.model, &history, case.model.default_reads(), args.budget, false);
        }
        let mean = t.elapsed().as_secs_f64() * 1e3 / f64::from(args.runs.max(1));
        let t = Instant::now();
        let shrunk = if matches!(verdict, Verdict::NotLinearizable { .. }) { check_model(case.model, &history, case.model.default_reads(), args.budget) } else { verdict.clone() };
        let with_shrink = t.elapsed().as_secs_f64() * 1e3;
        if name(&shrunk) != name(&verdict) {
            bad.push(format!("{}: {} once shrunk, {} before", case.name, name(&shrunk), name(&verdict)));
        }
        let expected = if case.linearizable { "linearizable" } else { "not_linearizable" };
        if name(&verdict) != expected {
            bad.push(format!("{}: {} (Porcupine's tests: {expected})", case.name, name(&verdict)));
        }
        let keys = history.by_key().len();
        let porc = theirs.get(&case.name).copied();
        let ratio = porc.map(|p| mean / p.max(1e-3));
        total_ours += mean;
        if let (Some(p), Some(r)) = (porc, ratio) {
            total_theirs += p;
            if r > worst.0 && mean.max(p) >= 1.0 {
                worst = (r, case.name.clone());
            }
        }
        println!(
            "{:<10} {:>6} {:>5} {:<17} {:>10.2} {:>12} {:>10} {:>7}",
            case.name,
            history.ops.len(),
            keys,
            name(&verdict),
            mean,
            if matches!(verdict, Verdict::NotLinearizable { .. }) { format!("{with_shrink:.2}") } else { "-".into() },
            porc.map_or("-".into(), |p| format!("{p:.2}")),
            ratio.map_or("-".into(), |r| format!("{r:.2}x"))
        );
    }
    println!("total: ours {total_ours:.1} ms, Porcupine {total_theirs:.1} ms ({} files; {} build)", cases.len(), if cfg!(debug_assertions) { "debug" } else { "release" });
    if !theirs.is_empty() {
        println!(
            "ours (verdict alone) / Porcupine's: total {:.2}x; worst file (of those taking >= 1 ms on either side) {} at {:.2}x",
            total_ours / total_theirs.max(1e-9),
            worst.1,
            worst.0
        );
    }
    if bad.is_empty() {
        println!("every verdict is the one Porcupine's tests state");
        ExitCode::SUCCESS
    } else {
        for b in &bad {
            println!("DISAGREES {b}");
        }
        ExitCode::FAILURE
    }
}
