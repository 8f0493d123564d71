//! Which runs are still in progress, so that `zk-chaos clean` removes only what killed runs left.
//!
//! A run holds an exclusive lock on `<runs dir>/<name>.lock` (its run id, and on kind its cluster's
//! name) from before it creates anything until its process ends: the kernel releases the lock
//! when the process dies, however it dies, so a lock that can be taken belongs to a run that
//! ended. A run kept with `--keep` leaves a `<run id>.kept` marker: its ensemble was left up on
//! purpose and only `clean --run` removes it. The directory is shared by every user of the host
//! (`$TMPDIR/zk-chaos-runs`, or `ZK_CHAOS_RUNS_DIR`).
//!
//! # Caveats
//! Locks say nothing about another host: objects carry [`HOST_LABEL`], and a run of another host
//! is left alone unless named (`--run`) or `--force` is given.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The label (on Docker objects and Kubernetes namespaces) naming the host a run started on.
pub const HOST_LABEL: &str = "zk-chaos.host";

/// Where runs' locks and markers live.
pub fn runs_dir() -> PathBuf {
    std::env::var_os("ZK_CHAOS_RUNS_DIR").map(PathBuf::from).unwrap_or_else(|| std::env::temp_dir().join("zk-chaos-runs"))
}

/// This host's name, as the kernel has it (a label value: at most 63 characters of
/// `[A-Za-z0-9._-]`).
pub fn this_host() -> String {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(read_host).clone()
}

fn read_host() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok().or_else(|| std::env::var("HOSTNAME").ok()).unwrap_or_default();
    let name: String = name.trim().chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')).take(63).collect();
    let name = name.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string();
    if name.is_empty() {
        "unknown".into()
    } else {
        name
    }
}

/// The locks of the runs this process started; released (and their files removed) on drop.
#[derive(Debug)]
pub struct RunLocks {
    dir: PathBuf,
    held: Vec<(PathBuf, File)>,
}

impl RunLocks {
    pub fn new(dir: PathBuf) -> RunLocks {
        RunLocks { dir, held: Vec::new() }
    }

    /// Takes the lock of `name` (a run id or a cluster name) for as long as this value lives.
    ///
    /// # Errors
    /// The directory cannot be made or the file opened, or another live process holds the lock
    /// (a run id in use twice).
    pub fn hold(&mut self, name: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        // Every user's runs share the directory, as they share the engine.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o1777));
        }
        let path = lock_path(&self.dir, name);
        let mut file = OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(std::io::Error::other(format!("{} is held by another process: run {name} is in progress", path.display()))),
            Err(TryLockError::Error(e)) => return Err(e),
        }
        file.set_len(0)?;
        writeln!(file, "pid={}\nhost={}", std::process::id(), this_host())?;
        self.held.push((path, file));
        Ok(())
    }

    /// Whether this process holds the lock of `name`.
    pub fn holds(&self, name: &str) -> bool {
        self.held.iter().any(|(p, _)| *p == lock_path(&self.dir, name))
    }

    /// The names whose locks this process holds.
    pub fn names(&self) -> Vec<String> {
        self.held.iter().filter_map(|(p, _)| p.file_stem().map(|s| s.to_string_lossy().into_owned())).collect()
    }

    /// Marks `name` as kept (`--keep`): `clean` without `--run` leaves it alone.
    pub fn keep(&self, name: &str) -> std::io::Result<()> {
        std::fs::write(self.dir.join(format!("{name}.kept")), format!("pid={}\nhost={}\n", std::process::id(), this_host()))
    }
}

impl Drop for RunLocks {
    fn drop(&mut self) {
        for (path, file) in self.held.drain(..) {
            // Removed while still locked: a checker that opened it meanwhile still sees it held.
            let _ = std::fs::remove_file(&path);
            drop(file);
        }
    }
}

fn lock_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.lock"))
}

/// What this host knows of a run (by run id or cluster name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A live process holds its lock.
    InProgress { pid: Option<u32> },
    /// Its process ended after `--keep`.
    Kept,
    /// No live process holds it: a run that ended, was killed, or ran elsewhere.
    Ended,
}

/// Looks `name` up in `dir`. Never removes a lock file (a run may be about to lock it).
pub fn owner(dir: &Path, name: &str) -> Owner {
    let path = lock_path(dir, name);
    if let Ok(file) = File::open(&path) {
        match file.try_lock_shared() {
            Err(TryLockError::WouldBlock) => {
                let pid = std::fs::read_to_string(&path).ok().and_then(|t| t.lines().find_map(|l| l.strip_prefix("pid=").and_then(|p| p.parse().ok())));
                return Owner::InProgress { pid };
            }
            Ok(()) => {
                let _ = file.unlock();
            }
            Err(TryLockError::Error(e)) => tracing::debug!("{}: {e}", path.display()),
        }
    }
    if dir.join(format!("{name}.kept")).exists() {
        Owner::Kept
    } else {
        Owner::Ended
    }
}

/// Forgets a removed run: its stale lock file and its kept marker.
pub fn forget(dir: &Path, name: &str) {
    if !matches!(owner(dir, name), Owner::InProgress { .. }) {
        let _ = std::fs::remove_file(lock_path(dir, name));
    }
    let _ = std::fs::remove_file(dir.join(format!("{name}.kept")));
}

/// What `clean` does with one run's leftovers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Remove,
    /// Left alone, with the reason `clean` prints.
    Leave(String),
    /// Named with `--run` but in progress: refused without `--force`.
    Refuse(String),
}

/// How `clean` was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask<'a> {
    /// `--run`: this run only.
    pub run: Option<&'a str>,
    /// `--force`: remove even runs in progress, kept or of another host.
    pub force: bool,
}

/// Decides for one run: `host` is its [`HOST_LABEL`] (None on objects without it), `owner`
/// what this host's locks say.
pub fn decide(run: &str, host: Option<&str>, this_host: &str, owner: &Owner, ask: Ask) -> Decision {
    let named = ask.run == Some(run);
    if ask.force {
        return Decision::Remove;
    }
    if let Some(h) = host.filter(|h| *h != this_host) {
        return if named {
            Decision::Remove
        } else {
            Decision::Leave(format!("run {run} started on host {h}, which this host cannot tell is over (name it with --run, or --force)"))
        };
    }
    match owner {
        Owner::InProgress { pid } => {
            let who = pid.map_or("a live process".to_string(), |p| format!("process {p}"));
            let why = format!("run {run} is in progress ({who} holds its lock); stop it with Ctrl-C, which removes what it made, or pass --force");
            if named {
                Decision::Refuse(why)
            } else {
                Decision::Leave(why)
            }
        }
        Owner::Kept if !named => Decision::Leave(format!("run {run} was kept with --keep (remove it with `zk-chaos clean --run {run}`)")),
        Owner::Kept | Owner::Ended => Decision::Remove,
    }
}

/// Decides for `clean` run by run (see [`decide`]), with this host's locks, and says once per
/// run why one is left alone or refused.
pub struct Judge<'a> {
    ask: Ask<'a>,
    runs_dir: PathBuf,
    this_host: String,
    told: std::collections::BTreeSet<String>,
}

impl<'a> Judge<'a> {
    pub fn new(ask: Ask<'a>, runs_dir: PathBuf) -> Judge<'a> {
        Judge { ask, runs_dir, this_host: this_host(), told: Default::default() }
    }

    pub fn ask(&self) -> Ask<'a> {
        self.ask
    }

    /// What `clean` does with run `run`, whose objects carry host label `host`.
    pub fn decision(&self, run: &str, host: Option<&str>) -> Decision {
        decide(run, host, &self.this_host, &owner(&self.runs_dir, run), self.ask)
    }

    /// Whether to remove run `run`'s objects; why not goes (once per run) to `left` or, for a
    /// named run in progress, `refused`.
    pub fn removes(&mut self, run: &str, host: Option<&str>, left: &mut Vec<String>, refused: &mut Vec<String>) -> bool {
        let (why, into) = match self.decision(run, host) {
            Decision::Remove => return true,
            Decision::Leave(why) => (why, left),
            Decision::Refuse(why) => (why, refused),
        };
        if self.told.insert(run.to_string()) {
            into.push(why);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Ask = Ask { run: None, force: false };

    #[test]
    fn a_lock_held_by_a_live_process_is_in_progress_and_ends_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut locks = RunLocks::new(dir.path().to_path_buf());
        locks.hold("zk-chaos-20261201-180000-ab12").unwrap();
        assert_eq!(owner(dir.path(), "zk-chaos-20261201-180000-ab12"), Owner::InProgress { pid: Some(std::process::id()) });
        assert!(locks.hold("zk-chaos-20261201-180000-ab12").is_err(), "a second holder of the same run is refused");
        assert_eq!(owner(dir.path(), "zk-chaos-other"), Owner::Ended);
        drop(locks);
        assert_eq!(owner(dir.path(), "zk-chaos-20261201-180000-ab12"), Owner::Ended);
    }

    /// A process that dies without dropping anything (SIGKILL) leaves its file behind, unlocked.
    #[test]
    fn a_lock_file_nobody_holds_is_a_run_that_ended() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("zk-chaos-killed.lock"), "pid=4242\nhost=h\n").unwrap();
        assert_eq!(owner(dir.path(), "zk-chaos-killed"), Owner::Ended);
        forget(dir.path(), "zk-chaos-killed");
        assert!(!dir.path().join("zk-chaos-killed.lock").exists());
    }

    #[test]
    fn a_kept_run_is_kept_until_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let mut locks = RunLocks::new(dir.path().to_path_buf());
        locks.hold("zk-chaos-kept").unwrap();
        locks.keep("zk-chaos-kept").unwrap();
        assert!(matches!(owner(dir.path(), "zk-chaos-kept"), Owner::InProgress { .. }), "still running");
        drop(locks);
        assert_eq!(owner(dir.path(), "zk-chaos-kept"), Owner::Kept);
        forget(dir.path(), "zk-chaos-kept");
        assert_eq!(owner(dir.path(), "zk-chaos-kept"), Owner::Ended);
    }

    #[test]
    fn clean_removes_only_what_no_live_run_of_this_host_owns() {
        let live = Owner::InProgress { pid: Some(7) };
        assert_eq!(decide("r", Some("here"), "here", &Owner::Ended, ALL), Decision::Remove);
        assert_eq!(decide("r", None, "here", &Owner::Ended, ALL), Decision::Remove, "objects of older versions have no host label");
        assert!(matches!(decide("r", Some("here"), "here", &live, ALL), Decision::Leave(why) if why.contains("in progress (process 7")));
        assert!(matches!(decide("r", Some("ci-2"), "here", &Owner::Ended, ALL), Decision::Leave(why) if why.contains("host ci-2")));
        assert!(matches!(decide("r", Some("here"), "here", &Owner::Kept, ALL), Decision::Leave(why) if why.contains("clean --run r")));
    }

    #[test]
    fn a_named_run_is_removed_unless_in_progress_and_force_removes_everything() {
        let named = Ask { run: Some("r"), force: false };
        let live = Owner::InProgress { pid: None };
        assert_eq!(decide("r", Some("here"), "here", &Owner::Kept, named), Decision::Remove);
        assert_eq!(decide("r", Some("ci-2"), "here", &Owner::Ended, named), Decision::Remove);
        assert!(matches!(decide("r", Some("here"), "here", &live, named), Decision::Refuse(why) if why.contains("--force")));
        let force = Ask { run: None, force: true };
        for owner in [live, Owner::Kept, Owner::Ended] {
            assert_eq!(decide("r", Some("ci-2"), "here", &owner, force), Decision::Remove);
        }
    }

    #[test]
    fn the_host_name_is_a_valid_label_value() {
        let h = this_host();
        assert!(!h.is_empty() && h.len() <= 63);
        assert!(h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')), "{h}");
    }
}
