//! What every end-to-end test binary shares: the Docker engine is started the project's one way;
//! the `zk-chaos` binary run and its report read back ([`cli`]).

pub mod cli;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::Instant;

/// Starts the Docker engine with `ci/start-docker.sh` (once per test binary; the script leaves an
/// engine that already answers alone) and panics with the script's output if it cannot.
pub fn start_docker() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/start-docker.sh");
        let out = Command::new("bash").arg(&script).output().unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        assert!(out.status.success(), "{} exited {}:\n{}", script.display(), out.status, String::from_utf8_lossy(&out.stderr));
    });
}

/// Builds the reference deployments' look-alike images when missing or out of date
/// (`ci/build-image.sh` for their base, then `ci/build-zookeeper-images.sh official bitnami`: both
/// leave up-to-date images alone in seconds, and a fresh machine gets them built, its Maven
/// installed from Debian's packages). Once per test binary; panics with the scripts' output.
/// (Only the binaries that run the reference deployments call it.)
#[allow(dead_code)]
pub fn reference_images() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        start_docker();
        for (script, args) in [("ci/build-image.sh", &[][..]), ("ci/build-zookeeper-images.sh", &["official", "bitnami"][..])] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
            let out = Command::new("bash").arg(&path).args(args).output().unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
            assert!(out.status.success(), "{} {} exited {}:\n{}", path.display(), args.join(" "), out.status, String::from_utf8_lossy(&out.stderr));
        }
    });
}

/// A test's (or a part's) wall time, appended as `SECONDS NAME` to the file `ZK_CHAOS_TEST_TIMES`
/// names when it is dropped (also when the test panics); nothing without the variable. `.ci/run`
/// prints the lines as a table, slowest first: where the minutes of a CI run go.
pub struct Timed {
    name: String,
    start: Instant,
}

impl Timed {
    pub fn new(name: impl Into<String>) -> Timed {
        Timed { name: name.into(), start: Instant::now() }
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        let Some(path) = std::env::var_os("ZK_CHAOS_TEST_TIMES") else { return };
        let mut name = self.name.clone();
        if std::thread::panicking() {
            name.push_str(" (failed)");
        }
        let line = format!("{:7.1} {name}\n", self.start.elapsed().as_secs_f64());
        // One short append per line: lines of tests running side by side do not interleave.
        if let Err(e) = std::fs::OpenOptions::new().create(true).append(true).open(&path).and_then(|mut f| f.write_all(line.as_bytes())) {
            eprintln!("recording the test's time in {}: {e}", path.to_string_lossy());
        }
    }
}

/// The engine started and the test holding its share of a lock (alone with a `Mutex`; alone or
/// beside others with an `RwLock`), timed from then on under the test's name (libtest names the
/// test's thread after it); both end when the value is dropped.
#[allow(dead_code)]
pub struct Exclusive {
    // Dropped in order: the time is recorded before the next test may start.
    _timed: Timed,
    _guard: Box<dyn std::any::Any>,
}

#[allow(dead_code)]
impl Exclusive {
    fn held(guard: Box<dyn std::any::Any>) -> Exclusive {
        let name = std::thread::current().name().unwrap_or("a test").to_string();
        Exclusive { _timed: Timed::new(name), _guard: guard }
    }
}

/// Alone with `lock` (a test that panicked while holding it does not stop the others).
#[allow(dead_code)]
pub fn exclusive(lock: &'static Mutex<()>) -> Exclusive {
    start_docker();
    Exclusive::held(Box::new(lock.lock().unwrap_or_else(|p| p.into_inner())))
}

/// Alone with `lock`: no test holds it beside (a waiting one keeps new ones from starting).
#[allow(dead_code)]
pub fn alone(lock: &'static RwLock<()>) -> Exclusive {
    start_docker();
    Exclusive::held(Box::new(lock.write().unwrap_or_else(|p| p.into_inner())))
}

/// Beside the other tests that hold `lock` beside (as many as libtest runs at once: one a core),
/// never beside one that holds it alone.
#[allow(dead_code)]
pub fn beside(lock: &'static RwLock<()>) -> Exclusive {
    start_docker();
    Exclusive::held(Box::new(lock.read().unwrap_or_else(|p| p.into_inner())))
}

/// Builds the upgrade suite's images when missing or out of date: the walkthrough's scripts on
/// 3.9.5 (`ci/build-zookeeper-images.sh walkthrough-3.9.5`) and, from it, the image whose server
/// cannot start (`ci/build-broken-image.sh`). Both leave up-to-date images alone in seconds.
#[allow(dead_code)]
pub fn upgrade_images() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        start_docker();
        for (script, args) in [("ci/build-zookeeper-images.sh", &["walkthrough-3.9.5"][..]), ("ci/build-broken-image.sh", &[][..])] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
            let out = Command::new("bash").arg(&path).args(args).output().unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
            assert!(out.status.success(), "{} {} exited {}:\n{}", path.display(), args.join(" "), out.status, String::from_utf8_lossy(&out.stderr));
        }
    });
}
