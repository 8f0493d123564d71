//! The cross-check of zk-chaos's linearizability checker against Porcupine: generates register
//! histories by seed (half of them mutated), judges each with both, and fails on any disagreement
//! (run by `ci/porcupine-crosscheck.sh`, which builds the Go side).
//!
//! Both sides judge every history whole and each of its keys alone; a history counts as agreed
//! only if every verdict matches. An `unknown` on either side (a budget ran out) counts against
//! the run too: these histories are small enough for both to decide. Every failing part zk-chaos
//! reports is also written as a history of its own, which Porcupine must find not linearizable,
//! and a history left unmutated (linearizable by construction) must be found linearizable.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::Parser;
use zk_chaos::workload::register::generate::{generate_with, Shape};
use zk_chaos::workload::register::{check, RegisterHistory, Verdict};

#[derive(Parser)]
struct Args {
    /// How many histories.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// The first seed (seeds are consecutive; odd ones are mutated).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where to write the histories (one JSON file each).
    #[arg(long)]
    dir: PathBuf,
    /// The porcupine-check binary (ci/porcupine).
    #[arg(long)]
    porcupine: PathBuf,
    /// Larger, more concurrent histories (30-60 operations, 3-6 processes on 1-2 keys) instead
    /// of the small ones (5-20 operations, 2-4 processes, 1-3 keys).
    #[arg(long)]
    large: bool,
    /// Each checker's budget per check.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    budget: Duration,
}

fn name(v: &Verdict) -> &'static str {
    match v {
        Verdict::Linearizable => "linearizable",
        Verdict::NotLinearizable { .. } => "not_linearizable",
        Verdict::Unknown { .. } => "unknown",
    }
}

/// One history's verdicts: whole, and per key.
#[derive(Debug, PartialEq)]
struct Verdicts {
    whole: String,
    keys: BTreeMap<String, String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = std::fs::create_dir_all(&args.dir) {
        eprintln!("{}: {e}", args.dir.display());
        return ExitCode::from(2);
    }

    let parts_dir = args.dir.join("parts");
    if let Err(e) = std::fs::create_dir_all(&parts_dir) {
        eprintln!("{}: {e}", parts_dir.display());
        return ExitCode::from(2);
    }
    // Generate, and judge with zk-chaos.
    let mut ours: BTreeMap<String, (u64, Option<String>, Verdicts)> = BTreeMap::new();
    let mut ours_time = Duration::ZERO;
    // The whole-history checks only, by verdict: shrinking runs on the failing ones.
    let (mut time_lin, mut time_not) = (Duration::ZERO, Duration::ZERO);
    let shape = if args.large { Shape::LARGE } else { Shape::SMALL };
    for seed in args.seed..args.seed + args.count {
        let g = generate_with(seed, &shape);
        let file = format!("h-{seed:06}.json");
        let path = args.dir.join(&file);
        if let Err(e) = std::fs::write(&path, serde_json::to_string_pretty(&g).expect("serialises")) {
            eprintln!("{}: {e}", path.display());
            return ExitCode::from(2);
        }
        // Read back what the Go side reads.
        let h = RegisterHistory::load(&path).expect("a history just written");
        let start = Instant::now();
        let verdict = check(&h, args.budget);
        let whole = name(&verdict).to_string();
        if let Verdict::NotLinearizable { part, .. } = &verdict {
            let alone = RegisterHistory { initial: part.initial.clone(), ops: part.ops.clone() };
            if let Err(e) = alone.save(&parts_dir.join(format!("part-{seed:06}.json"))) {
                eprintln!("{e:#}");
                return ExitCode::from(2);
            }
        }
        *if whole == "linearizable" { &mut time_lin } else { &mut time_not } += start.elapsed();
        let mut keys = BTreeMap::new();
        for key in h.by_key().keys() {
            let alone = RegisterHistory { initial: h.initial.clone(), ops: h.ops.iter().filter(|o| o.key == *key).cloned().collect() };
            keys.insert(key.to_string(), name(&check(&alone, args.budget)).to_string());
        }
        ours_time += start.elapsed();
        ours.insert(file, (seed, g.mutation, Verdicts { whole, keys }));
    }

    // Judge with Porcupine.
    let start = Instant::now();
    let theirs = match porcupine(&args, &args.dir) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let theirs_time = start.elapsed();
    let parts = match porcupine(&args, &parts_dir) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let parts_passing: Vec<&String> = parts.iter().filter(|(_, v)| v.whole != "not_linearizable").map(|(f, _)| f).collect();

    let (mut agree_lin, mut agree_not, mut unknown, mut keys_compared) = (0, 0, 0, 0);
    let mut disagreements = Vec::new();
    let mut unmutated_failing = Vec::new();
    for (file, (seed, mutation, mine)) in &ours {
        if mutation.is_none() && mine.whole != "linearizable" {
            unmutated_failing.push(*seed);
        }
        let Some(other) = theirs.get(file) else {
            disagreements.push(format!("seed {seed}: porcupine-check gave no verdict for {file}"));
            continue;
        };
        keys_compared += mine.keys.len();
        if mine != other {
            disagreements.push(format!("seed {seed} ({}): zk-chaos {mine:?}, Porcupine {other:?}", mutation.as_deref().unwrap_or("not mutated")));
        } else if mine.whole == "unknown" || mine.keys.values().any(|v| v == "unknown") {
            unknown += 1;
        } else if mine.whole == "linearizable" {
            agree_lin += 1;
        } else {
            agree_not += 1;
        }
    }
    println!(
        "{} histories (seeds {}..={}), {keys_compared} keys: agree linearizable {agree_lin}, agree not linearizable {agree_not}, both unknown {unknown}, disagreements {}",
        ours.len(),
        args.seed,
        args.seed + args.count - 1,
        disagreements.len()
    );
    println!(
        "zk-chaos {:.2} s, Porcupine {:.2} s (the whole history and each key alone, each); zk-chaos on whole histories: {:.2} s linearizable, {:.2} s not (shrinking included)",
        ours_time.as_secs_f64(),
        theirs_time.as_secs_f64(),
        time_lin.as_secs_f64(),
        time_not.as_secs_f64()
    );
    let unmutated = ours.values().filter(|(_, m, _)| m.is_none()).count();
    let mutated_failing = ours.values().filter(|(_, m, v)| m.is_some() && v.whole == "not_linearizable").count();
    println!("unmutated {unmutated}: {} not linearizable (must be 0); mutated {}: {mutated_failing} not linearizable", unmutated_failing.len(), ours.len() - unmutated);
    println!("{} failing parts, as histories of their own: Porcupine finds {} of them linearizable or undecided", parts.len(), parts_passing.len());
    for d in &disagreements {
        println!("DISAGREE {d}");
    }
    for f in &parts_passing {
        println!("PART NOT FAILING {f}");
    }
    for seed in &unmutated_failing {
        println!("UNMUTATED NOT LINEARIZABLE seed {seed}");
    }
    if disagreements.is_empty() && unknown == 0 && theirs.len() == ours.len() && parts_passing.is_empty() && unmutated_failing.is_empty() && parts.len() == agree_not {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs porcupine-check on the histories of `dir`: verdicts by file name.
fn porcupine(args: &Args, dir: &std::path::Path) -> Result<BTreeMap<String, Verdicts>, String> {
    let out = Command::new(&args.porcupine)
        .arg("-timeout")
        .arg(humantime::format_duration(args.budget).to_string())
        .arg(dir)
        .output()
        .map_err(|e| format!("{}: {e}", args.porcupine.display()))?;
    if !out.status.success() {
        return Err(format!("{} {} failed ({}): {}", args.porcupine.display(), dir.display(), out.status, String::from_utf8_lossy(&out.stderr)));
    }
    let mut verdicts = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("porcupine-check printed {line:?}: {e}"))?;
        let keys = v["keys"].as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("?").to_string())).collect()).unwrap_or_default();
        verdicts.insert(v["file"].as_str().unwrap_or("?").to_string(), Verdicts { whole: v["verdict"].as_str().unwrap_or("?").to_string(), keys });
    }
    Ok(verdicts)
}
