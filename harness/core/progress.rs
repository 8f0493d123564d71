//! Progress a person can follow: which suite runs, out of how many, how long it took in the last
//! run in the results folder, and what the run is waiting for now.
//!
//! On a terminal (stderr, and `CI` unset) one status line at the bottom is redrawn in place
//! twice a second, and log lines are written above it ([`LogWriter`] clears it first). Anywhere
//! else (a pipe, a CI log) there are no escape codes: each suite's start is one plain line, and
//! long waits say they are still waiting in the log (see [`crate::wait`]).
//!
//! The state is one per process (a run is one per process); [`waiting`] is called by every
//! wait, whatever task it runs in.
//!
//! # Caveats
//! The line is cut at `COLUMNS` (else 100) characters; a terminal narrower than that wraps it
//! and the redraw then leaves the wrapped part behind.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Whether to redraw a status line: only on a terminal, and not in CI (CI logs show escape
/// codes raw, as [`crate::cli::colour`] knows too).
pub fn live(is_terminal: bool, ci: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && ci.is_none()
}

/// The suite under way.
#[derive(Debug, Clone)]
struct SuiteState {
    index: usize,
    total: usize,
    name: String,
    started: Instant,
    expected: Option<Duration>,
}

/// A wait under way.
#[derive(Debug, Clone)]
struct WaitState {
    id: u64,
    what: String,
    started: Instant,
    deadline: Duration,
}

#[derive(Debug, Default)]
struct State {
    /// A phase outside the suites ("deploying ..."), shown when no suite runs.
    phase: Option<(String, Instant)>,
    suite: Option<SuiteState>,
    waits: Vec<WaitState>,
    /// The status line is on the screen (a log line must clear it first).
    drawn: bool,
}

static STATE: Mutex<State> = Mutex::new(State { phase: None, suite: None, waits: Vec::new(), drawn: false });
static LIVE: AtomicBool = AtomicBool::new(false);
static NEXT_WAIT: AtomicU64 = AtomicU64::new(0);

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Each suite's duration in the latest earlier run on `platform` that ran it: the run folders of
/// `results` newest first (by their report.json's time), at most ten read. Skipped suites and
/// unreadable reports are passed over.
pub fn expected(results: &Path, platform: &str) -> BTreeMap<String, Duration> {
    let Ok(entries) = std::fs::read_dir(results) else { return BTreeMap::new() };
    let mut reports: Vec<(std::time::SystemTime, std::path::PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_name() != "latest")
        .map(|e| e.path().join("report.json"))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    reports.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut out = BTreeMap::new();
    for (_, path) in reports.into_iter().take(10) {
        let Some(report) = std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str::<crate::report::RunReport>(&t).ok()) else { continue };
        if report.platform != platform {
            continue;
        }
        for s in report.suites.iter().filter(|s| s.verdict != crate::report::Verdict::Skipped) {
            out.entry(s.name.clone()).or_insert(Duration::from_millis(s.duration_ms));
        }
    }
    out
}

/// Starts the progress display for a run: the status line on a terminal (a task redrawing it
/// until the run's [`Display`] is dropped), plain lines otherwise.
pub fn start() -> Display {
    use std::io::IsTerminal;
    let is_live = live(std::io::stderr().is_terminal(), std::env::var_os("CI").as_deref());
    LIVE.store(is_live, Ordering::SeqCst);
    let ticker = is_live.then(|| {
        tokio::spawn(async {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                redraw();
            }
        })
    });
    Display { ticker }
}

/// The progress display of one run; dropping it stops the redraws and clears the status line.
pub struct Display {
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Display {
    fn drop(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        let mut s = state();
        s.phase = None;
        s.suite = None;
        if s.drawn {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            s.drawn = false;
        }
        LIVE.store(false, Ordering::SeqCst);
    }
}

/// A phase outside the suites (deploying, tearing down).
pub fn phase(text: impl Into<String>) {
    let mut s = state();
    s.suite = None;
    s.phase = Some((text.into(), Instant::now()));
}

/// Suite `index` (from 1) of `total` starts; `expected` is how long it took in the last run.
/// Without a status line this is one plain line on stderr.
pub fn suite(index: usize, total: usize, name: &str, expected: Option<Duration>) {
    let line = suite_line(index, total, name, expected);
    {
        let mut s = state();
        s.phase = None;
        s.suite = Some(SuiteState { index, total, name: name.to_string(), started: Instant::now(), expected });
    }
    // A plain line is a log line: -q hides it as it hides the others.
    if !LIVE.load(Ordering::SeqCst) {
        tracing::info!("{line}");
    }
}

/// `[3/6] process-failure (last run 41.2s)`.
fn suite_line(index: usize, total: usize, name: &str, expected: Option<Duration>) -> String {
    match expected {
        Some(e) => format!("[{index}/{total}] {name} (last run {:.1}s)", e.as_secs_f64()),
        None => format!("[{index}/{total}] {name} (no earlier run in the results folder)"),
    }
}

/// A wait begins: shown on the status line until the returned guard is dropped.
pub fn waiting(what: &str, deadline: Duration) -> WaitGuard {
    let id = NEXT_WAIT.fetch_add(1, Ordering::Relaxed);
    state().waits.push(WaitState { id, what: what.to_string(), started: Instant::now(), deadline });
    WaitGuard { id }
}

/// Removes its wait from the status line when dropped.
pub struct WaitGuard {
    id: u64,
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        state().waits.retain(|w| w.id != self.id);
    }
}

/// The status line: the suite (or phase) with its time against the last run's, then the latest
/// wait with its time against its deadline.
fn status(s: &State, now: Instant) -> Option<String> {
    let mut line = match (&s.suite, &s.phase) {
        (Some(x), _) => {
            let took = now.duration_since(x.started).as_secs();
            match x.expected {
                Some(e) => format!("[{}/{}] {} {took}s (last run {:.0}s)", x.index, x.total, x.name, e.as_secs_f64()),
                None => format!("[{}/{}] {} {took}s", x.index, x.total, x.name),
            }
        }
        (None, Some((text, since))) => format!("{text} {}s", now.duration_since(*since).as_secs()),
        (None, None) => return None,
    };
    if let Some(w) = s.waits.last() {
        line.push_str(&format!("  waiting for {} ({}s of {}s)", w.what, now.duration_since(w.started).as_secs(), w.deadline.as_secs()));
    }
    Some(line)
}

fn width() -> usize {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse::<usize>().ok()).filter(|c| *c > 20).unwrap_or(100) - 1
}

/// Draws the status line in place (the state is locked while writing, so a log line cannot
/// interleave).
fn redraw() {
    let mut s = state();
    let Some(line) = status(&s, Instant::now()) else { return };
    let line: String = line.chars().take(width()).collect();
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[2K{line}");
    let _ = err.flush();
    s.drawn = true;
}

/// The log's writer ([`tracing_subscriber`]'s `MakeWriter`): each log line goes to stderr whole;
/// on a terminal, the status line is cleared first and drawn again after it.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

/// One log line being written; it goes out when dropped.
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let mut s = state();
        let mut err = std::io::stderr().lock();
        if s.drawn {
            let _ = err.write_all(b"\r\x1b[2K");
            s.drawn = false;
        }
        let _ = err.write_all(&self.0);
        if LIVE.load(Ordering::SeqCst) {
            if let Some(line) = status(&s, Instant::now()) {
                let line: String = line.chars().take(width()).collect();
                let _ = write!(err, "{line}");
                s.drawn = true;
            }
        }
        let _ = err.flush();
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;
    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_line_only_on_a_terminal_outside_ci() {
        assert!(live(true, None));
        assert!(!live(false, None));
        assert!(!live(true, Some(std::ffi::OsStr::new("true"))));
    }

    #[test]
    fn the_status_line_says_the_suite_of_how_many_its_last_time_and_the_wait() {
        let t0 = Instant::now();
        let mut s = State::default();
        assert_eq!(status(&s, t0), None, "nothing under way: no line");
        s.phase = Some(("deploying fixtures/zookeeper.yaml (3 members)".into(), t0));
        assert_eq!(status(&s, t0 + Duration::from_secs(7)).unwrap(), "deploying fixtures/zookeeper.yaml (3 members) 7s");
        s.suite = Some(SuiteState { index: 3, total: 6, name: "process-failure".into(), started: t0, expected: Some(Duration::from_millis(41_200)) });
        s.waits.push(WaitState { id: 1, what: "zk-1 Ready".into(), started: t0 + Duration::from_secs(2), deadline: Duration::from_secs(90) });
        s.waits.push(WaitState { id: 2, what: "the ensemble whole".into(), started: t0 + Duration::from_secs(4), deadline: Duration::from_secs(120) });
        assert_eq!(status(&s, t0 + Duration::from_secs(12)).unwrap(), "[3/6] process-failure 12s (last run 41s)  waiting for the ensemble whole (8s of 120s)");
        s.waits.clear();
        s.suite.as_mut().unwrap().expected = None;
        assert_eq!(status(&s, t0 + Duration::from_secs(12)).unwrap(), "[3/6] process-failure 12s");
        assert_eq!(suite_line(1, 4, "integrity", Some(Duration::from_millis(2500))), "[1/4] integrity (last run 2.5s)");
        assert_eq!(suite_line(1, 4, "integrity", None), "[1/4] integrity (no earlier run in the results folder)");
    }

    #[test]
    fn a_wait_is_shown_until_its_guard_goes() {
        let before = state().waits.len();
        let g = waiting("zk-0 serving", Duration::from_secs(30));
        assert!(state().waits.iter().any(|w| w.what == "zk-0 serving"));
        drop(g);
        assert!(!state().waits.iter().any(|w| w.what == "zk-0 serving"));
        assert!(state().waits.len() <= before + 1);
    }

    /// The last run's time per suite: the newest report on the same platform that ran it.
    #[test]
    fn expected_times_come_from_the_newest_earlier_run_on_the_platform() {
        let dir = tempfile::tempdir().unwrap();
        let save = |name: &str, platform: &str, integrity_ms: u64, age_s: u64| {
            let mut r = crate::report::model::tests::sample();
            r.platform = platform.into();
            r.suites[0].duration_ms = integrity_ms;
            let d = dir.path().join(name);
            std::fs::create_dir_all(&d).unwrap();
            let f = std::fs::File::create(d.join("report.json")).unwrap();
            serde_json::to_writer(&f, &r).unwrap();
            f.set_modified(std::time::SystemTime::now() - Duration::from_secs(age_s)).unwrap();
        };
        assert!(expected(dir.path(), "docker").is_empty(), "no runs yet");
        save("old", "docker", 9_000, 300);
        save("new", "docker", 4_000, 100);
        save("newest-on-kind", "kind", 20_000, 10);
        std::fs::create_dir_all(dir.path().join("broken")).unwrap();
        std::fs::write(dir.path().join("broken/report.json"), "{").unwrap();
        let e = expected(dir.path(), "docker");
        assert_eq!(e.get("integrity"), Some(&Duration::from_secs(4)));
        assert_eq!(e.get("maintenance"), None, "skipped in every run");
        assert_eq!(expected(dir.path(), "kind").get("integrity"), Some(&Duration::from_secs(20)));
        assert!(expected(&dir.path().join("missing"), "docker").is_empty());
    }
}
