//! Porcupine's test histories, recorded from real systems: Jepsen's etcd logs (one register,
//! read, write and CAS by value, `:info` outcomes) and MIT 6.824's key-value logs (get, put,
//! append on many keys). They ship in Porcupine's Go module (`test_data/`), which
//! `ci/porcupine/go.mod` pins and the Go module cache keeps; the verdict of each is the one
//! Porcupine's own tests state (`porcupine_test.go`), read from there rather than copied.
//!
//! # Caveats
//! Nothing here downloads: [`locate`] finds the module where `go mod download` put it
//! (`ci/porcupine-realdata.sh` runs that first), and says why when it cannot.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use super::history::RegisterHistory;
use super::model::{KvMap, Model, ValueRegister};

/// The environment variable that names Porcupine's module folder directly.
pub const DIR_ENV: &str = "ZK_CHAOS_PORCUPINE_DIR";

/// One history and the verdict Porcupine's tests state for it.
pub struct Case {
    /// The file's name without its extension: `etcd_002`, `c50-bad`.
    pub name: String,
    pub file: PathBuf,
    pub model: &'static dyn Model,
    pub linearizable: bool,
}

impl Case {
    /// # Errors
    /// Unreadable, or not a history.
    pub fn load(&self) -> anyhow::Result<RegisterHistory> {
        let text = std::fs::read_to_string(&self.file).with_context(|| format!("reading {}", self.file.display()))?;
        super::logs::parse(&text).with_context(|| self.file.display().to_string())
    }
}

/// Porcupine's module folder: `$ZK_CHAOS_PORCUPINE_DIR`, else the version `go_mod` requires in
/// `go env GOMODCACHE`.
///
/// # Errors
/// Why it is not there, and how to get it.
pub fn locate(go_mod: &Path) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os(DIR_ENV) {
        return Ok(PathBuf::from(dir));
    }
    let text = std::fs::read_to_string(go_mod).map_err(|e| format!("reading {}: {e}", go_mod.display()))?;
    let version = text
        .lines()
        .find_map(|l| l.split_whitespace().skip_while(|w| *w != "github.com/anishathalye/porcupine").nth(1))
        .ok_or_else(|| format!("{} requires no github.com/anishathalye/porcupine", go_mod.display()))?;
    let out = Command::new("go").args(["env", "GOMODCACHE"]).output().map_err(|e| format!("Go is not installed (`go env GOMODCACHE`: {e})"))?;
    let cache = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || cache.is_empty() {
        return Err(format!("`go env GOMODCACHE` failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let dir = Path::new(&cache).join(format!("github.com/anishathalye/porcupine@{version}"));
    if dir.join("test_data").is_dir() {
        Ok(dir)
    } else {
        Err(format!("{} is not there: run `(cd ci/porcupine && go mod download github.com/anishathalye/porcupine)` (or set {DIR_ENV})", dir.display()))
    }
}

/// Every history of `dir` (Porcupine's module) whose verdict its tests state, in file order.
///
/// # Errors
/// `porcupine_test.go` unreadable, or stating a verdict for a file that is not there.
pub fn cases(dir: &Path) -> anyhow::Result<Vec<Case>> {
    let tests = dir.join("porcupine_test.go");
    let text = std::fs::read_to_string(&tests).with_context(|| format!("reading {}", tests.display()))?;
    let mut out: Vec<Case> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let case = if let Some(args) = line.strip_prefix("checkJepsen(t, ").and_then(|a| a.strip_suffix(')')) {
            let (n, verdict) = args.split_once(", ").with_context(|| format!("{}: {line}", tests.display()))?;
            let n: u32 = n.parse().with_context(|| format!("{}: {line}", tests.display()))?;
            let name = format!("etcd_{n:03}");
            Case { file: dir.join("test_data/jepsen").join(format!("{name}.log")), name, model: &ValueRegister, linearizable: verdict == "true" }
        } else if let Some(args) = line.strip_prefix("checkKv(t, \"").and_then(|a| a.strip_suffix(')')) {
            let (name, rest) = args.split_once('"').with_context(|| format!("{}: {line}", tests.display()))?;
            let verdict = rest.trim_start_matches(", ").split(", ").next().unwrap_or_default();
            Case { file: dir.join("test_data/kv").join(format!("{name}.txt")), name: name.to_string(), model: &KvMap, linearizable: verdict == "true" }
        } else {
            continue;
        };
        anyhow::ensure!(case.file.is_file(), "{} states a verdict for {}, which is not there", tests.display(), case.file.display());
        if !out.iter().any(|c| c.name == case.name) {
            out.push(case);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_read_from_porcupines_tests() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("test_data/jepsen")).unwrap();
        std::fs::create_dir_all(dir.path().join("test_data/kv")).unwrap();
        for f in ["test_data/jepsen/etcd_007.log", "test_data/jepsen/etcd_010.log", "test_data/kv/c01-bad.txt"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let tests = "func TestA(t *testing.T) {\n\tcheckJepsen(t, 10, true)\n}\n\tcheckJepsen(t, 7, false)\n\tcheckKv(t, \"c01-bad\", false, true)\n\tcheckKv(t, \"c01-bad\", false, false)\n";
        std::fs::write(dir.path().join("porcupine_test.go"), tests).unwrap();
        let cases = cases(dir.path()).unwrap();
        let seen: Vec<(&str, bool, &str)> = cases.iter().map(|c| (c.name.as_str(), c.linearizable, c.model.name())).collect();
        assert_eq!(seen, [("c01-bad", false, "kv"), ("etcd_007", false, "register"), ("etcd_010", true, "register")]);
        std::fs::write(dir.path().join("porcupine_test.go"), "checkJepsen(t, 11, true)\n").unwrap();
        let Err(e) = super::cases(dir.path()) else { panic!("a verdict for a missing file is an error") };
        assert!(format!("{e:#}").contains("etcd_011.log, which is not there"), "{e:#}");
    }
}
