//! The linearizability checker on Porcupine's real test histories (Jepsen's etcd logs, MIT 6.824's
//! key-value logs): every file whose verdict Porcupine's tests state gets that verdict, none is
//! undecided at the default budget. The files come from Porcupine's Go module in the Go module
//! cache; without it the test is skipped, saying why (`ci/porcupine-realdata.sh` downloads it,
//! then runs this test and prints the time table).

use std::path::Path;
use std::time::{Duration, Instant};

use zk_chaos::workload::register::realdata;
use zk_chaos::workload::register::{check_model_with, Verdict};

/// `zk-chaos check`'s default budget, in a release build (`cargo test --release --test
/// porcupine_data`, as CI runs it); a debug build searches about ten times slower and gets ten
/// times as long.
const BUDGET: Duration = Duration::from_secs(if cfg!(debug_assertions) { 200 } else { 20 });

#[test]
fn every_real_history_gets_porcupines_verdict() {
    let dir = match realdata::locate(&Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/porcupine/go.mod")) {
        Ok(d) => d,
        Err(why) => {
            eprintln!("SKIPPED: Porcupine's test data is not here: {why}");
            return;
        }
    };
    let cases = realdata::cases(&dir).unwrap();
    assert!(cases.len() >= 108, "{} cases in {}: Porcupine's tests state 102 etcd and 6 kv verdicts", cases.len(), dir.display());
    let mut wrong = Vec::new();
    let start = Instant::now();
    for case in &cases {
        let history = case.load().unwrap();
        let t = Instant::now();
        // The verdict alone: shrinking failing parts is tested on its own, and would multiply the
        // time of the not linearizable files.
        let verdict = check_model_with(case.model, &history, case.model.default_reads(), BUDGET, false);
        let ok = match &verdict {
            Verdict::Linearizable => case.linearizable,
            Verdict::NotLinearizable { part, .. } => !case.linearizable && !part.ops.is_empty(),
            Verdict::Unknown { .. } => false,
        };
        eprintln!("{:<10} {:>5} ops {:>9.1} ms  {}", case.name, history.ops.len(), t.elapsed().as_secs_f64() * 1e3, if ok { "agrees" } else { "DISAGREES" });
        if !ok {
            wrong.push(format!("{} (Porcupine's tests: {}): {}", case.name, if case.linearizable { "linearizable" } else { "not linearizable" }, verdict.describe()));
        }
    }
    eprintln!("{} files in {:.1} s", cases.len(), start.elapsed().as_secs_f64());
    assert!(wrong.is_empty(), "{} of {} verdicts differ from Porcupine's:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
}
