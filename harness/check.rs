//! `zk-chaos check HISTORY --model zk-register|register|kv`: judges a recorded history for
//! linearizability, offline. The history is our JSON ([`crate::workload::register::history`]),
//! Jepsen's log lines or EDN history lines ([`crate::workload::register::logs`]). Prints the
//! verdict and, when it is not linearizable, the failing part; `--svg PATH` draws that part as the
//! report does.
//!
//! Exit codes: 0 linearizable, 1 not linearizable, 2 undecided within the budget; bad input (an
//! unreadable history, an operation the model does not have) is the harness's bad-input code, also
//! 2: the message on stderr tells the two apart.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::{exit, Error, Result};
use crate::workload::register::{check_model, logs, model, unsupported, Reads, Verdict};

/// The exit code of an undecided verdict.
pub const UNDECIDED: i32 = 2;

#[derive(clap::Args, Clone, Debug)]
pub struct CheckArgs {
    /// The history: zk-chaos's JSON, Jepsen's log lines or EDN history maps one per line.
    #[arg(value_name = "HISTORY")]
    pub history: PathBuf,
    /// The sequential specification: zk-register (a znode: value and version, CAS by version),
    /// register (a register of values, CAS by value), kv (a key-value map: get, put, append).
    #[arg(long, value_name = "MODEL", default_value = "zk-register")]
    pub model: String,
    /// Which reads must be linearizable: synced, all or none (default: the model's; synced for
    /// zk-register, all for the others).
    #[arg(long, value_name = "READS")]
    pub reads: Option<String>,
    /// How long the search may take.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = humantime::parse_duration)]
    pub budget: Duration,
    /// Draws the failing part, when there is one, as an SVG file.
    #[arg(long, value_name = "PATH")]
    pub svg: Option<PathBuf>,
}

/// Runs `check`: prints the verdict and returns its exit code.
///
/// # Errors
/// Bad input: the history unreadable or not a history, an unknown model or reads, an operation the
/// model does not have; or the SVG not writable.
pub fn run(args: &CheckArgs) -> Result<i32> {
    let model = model::by_name(&args.model).ok_or_else(|| Error::bad_input(format!("--model {}: unknown model (known: {})", args.model, model::NAMES)))?;
    let reads = match args.reads.as_deref() {
        None => model.default_reads(),
        Some("synced") => Reads::Synced,
        Some("all") => Reads::All,
        Some("none") => Reads::None,
        Some(other) => return Err(Error::bad_input(format!("--reads {other}: expected synced, all or none"))),
    };
    let text = std::fs::read_to_string(&args.history).map_err(|e| Error::bad_input(format!("{}: cannot read it: {e}", args.history.display())))?;
    let history = logs::parse(&text).map_err(|e| Error::bad_input(format!("{}: {e:#}", args.history.display())))?;
    let missing = unsupported(model, &history);
    if let Some(first) = missing.first() {
        return Err(Error::bad_input(format!(
            "{}: {} operation(s) the model {} ({}) does not have, the first: {first}; choose another --model",
            args.history.display(),
            missing.len(),
            model.name(),
            model.describe()
        )));
    }
    let start = Instant::now();
    let verdict = check_model(model, &history, reads, args.budget);
    let took = start.elapsed();
    println!(
        "{}: {} operations on {} key(s), model {}: {} ({} ms)",
        args.history.display(),
        history.ops.len(),
        history.by_key().len(),
        model.name(),
        verdict.describe(),
        took.as_millis()
    );
    if let (Some(path), Verdict::NotLinearizable { part, .. }) = (&args.svg, &verdict) {
        std::fs::write(path, standalone_svg(&crate::report::html::failing_part_svg(part)))
            .map_err(|e| Error::Other(anyhow::anyhow!("{}: cannot write the SVG: {e}", path.display())))?;
        println!("failing part drawn in {}", path.display());
    }
    Ok(exit_code(&verdict))
}

/// 0 linearizable, 1 not, [`UNDECIDED`] unknown.
pub fn exit_code(verdict: &Verdict) -> i32 {
    match verdict {
        Verdict::Linearizable => exit::PASSED,
        Verdict::NotLinearizable { .. } => exit::FAILED,
        Verdict::Unknown { .. } => UNDECIDED,
    }
}

/// The report's inline drawing as a file of its own: the SVG namespace and the report's styles
/// for its text.
fn standalone_svg(inline: &str) -> String {
    let style = "<style>text{font-family:sans-serif}.lane{font-size:12px;font-weight:600}.oplabel{font-size:11px}.order{font-size:10px;font-weight:600}</style>";
    let body = inline.strip_prefix("<svg ").unwrap_or(inline);
    let (open, rest) = body.split_once('>').unwrap_or((body, ""));
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" {open}>{style}{rest}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_verdict_has_its_exit_code() {
        assert_eq!(exit_code(&Verdict::Linearizable), 0);
        assert_eq!(exit_code(&Verdict::Unknown { reason: "budget".into() }), 2);
        let h = crate::workload::register::logs::parse("{:process 0, :type :invoke, :f :get, :key \"k\", :value nil}\n{:process 0, :type :ok, :f :get, :key \"k\", :value \"x\"}")
            .unwrap();
        let v = check_model(&crate::workload::register::KvMap, &h, Reads::All, Duration::from_secs(5));
        assert_eq!(exit_code(&v), 1, "{}", v.describe());
    }

    #[test]
    fn the_svg_stands_alone() {
        let s = standalone_svg(r#"<svg class="register" viewBox="0 0 10 10"><rect/></svg>"#);
        assert!(s.starts_with("<?xml") && s.contains(r#"<svg xmlns="http://www.w3.org/2000/svg" class="register" viewBox="0 0 10 10"><style>"#), "{s}");
        assert!(s.contains("</style><rect/></svg>"), "{s}");
    }
}
