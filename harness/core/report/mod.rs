//! One report model, several renderers: `report.json` (the model itself), `junit.xml`
//! (through quick-junit) and `summary.txt` for a person. The results folder layout:
//!
//! ```text
//! results/<run-id>/report.json
//! results/<run-id>/junit.xml
//! results/<run-id>/summary.txt
//! results/<run-id>/report.html           (self-contained: a person's view)
//! results/<run-id>/logs/<member>.log      (on failure)
//! results/<run-id>/<suite>/...             (suite artifacts: workload histories)
//! results/latest -> <run-id>
//! ```

pub mod compare;
pub mod history;
pub mod html;
pub mod junit;
pub mod model;
pub mod repeat;
pub mod summary;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

pub use model::{CheckReport, RunReport, SuiteReport, Verdict};

/// Writes report.json, junit.xml, summary.txt and report.html (with the members' logs) into
/// `dir`, and points `results/latest` at it.
pub fn write_all(report: &RunReport, dir: &Path, member_logs: &BTreeMap<String, String>) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::to_string_pretty(report)?;
    std::fs::write(dir.join("report.json"), json + "\n").context("writing report.json")?;
    std::fs::write(dir.join("junit.xml"), junit::render(report)?).context("writing junit.xml")?;
    std::fs::write(dir.join("summary.txt"), summary::render(report)).context("writing summary.txt")?;
    std::fs::write(dir.join("report.html"), html::render(report, member_logs)).context("writing report.html")?;
    point_latest(dir)?;
    Ok(())
}

/// `results/latest` -> the run folder (a relative symlink, replaced atomically).
pub fn point_latest(dir: &Path) -> anyhow::Result<()> {
    let Some(parent) = dir.parent() else { return Ok(()) };
    let name = dir.file_name().context("run folder has no name")?;
    let tmp = parent.join(".latest.tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(name, &tmp).context("linking results/latest")?;
    std::fs::rename(&tmp, parent.join("latest")).context("linking results/latest")?;
    Ok(())
}

/// Writes `items` to `path` as JSON lines (one object per line): the run's histories and samples.
pub fn save_json_lines<T: serde::Serialize>(path: &Path, items: &[T]) -> anyhow::Result<()> {
    use std::io::Write;
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for item in items {
        serde_json::to_writer(&mut out, item)?;
        out.write_all(b"\n")?;
    }
    out.flush().with_context(|| format!("writing {}", path.display()))
}

/// The run folder for `run_id` under the results root.
pub fn run_dir(results: &Path, run_id: &str) -> PathBuf {
    results.join(run_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_three_files_and_latest() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = run_dir(tmp.path(), "zk-chaos-20261128-000000-abcd");
        let report = model::tests::sample();
        write_all(&report, &dir, &BTreeMap::new()).unwrap();
        let back: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
        assert_eq!(back["verdict"], "fail");
        assert_eq!(back["platform"], "docker");
        assert_eq!(back["suites"][0]["checks"][1]["verdict"], "fail");
        assert!(dir.join("junit.xml").exists() && dir.join("summary.txt").exists() && dir.join("report.html").exists());
        let latest = std::fs::read_link(tmp.path().join("latest")).unwrap();
        assert_eq!(latest, Path::new("zk-chaos-20261128-000000-abcd"));
        // A second run moves latest.
        write_all(&report, &run_dir(tmp.path(), "second"), &BTreeMap::new()).unwrap();
        assert_eq!(std::fs::read_link(tmp.path().join("latest")).unwrap(), Path::new("second"));
    }
}
