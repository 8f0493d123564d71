//! The workload's history: every operation a client invoked, with when it was invoked, when it
//! completed and how (acknowledged, definitely failed, or unknown), saved as JSON lines.
//!
//! An outcome is only `Failed` when the operation certainly did not take effect: the server
//! answered with an error, or there was no session to send it on. A connection lost or a
//! deadline passed while the operation was in flight is `Unknown`: it may have been applied.

use std::io::BufRead;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    /// Create a sequential znode with a value no other operation writes.
    Write,
    /// Read the worker's folder: its pzxid (last child change) and cversion (child changes).
    Read,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Acknowledged,
    Failed,
    Unknown,
}

/// One operation, as the client saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// The worker (one client loop, one session at a time).
    pub worker: u32,
    /// The session it was sent on (`0x...`), empty when there was none.
    pub session: String,
    pub kind: OpKind,
    pub invoked: DateTime<Utc>,
    pub completed: DateTime<Utc>,
    pub outcome: Outcome,
    /// A write: its parent folder until acknowledged, then the created znode. A read: what it read.
    pub path: String,
    /// A write: the value written. A read: empty.
    #[serde(default)]
    pub value: String,
    /// A write: the created znode's czxid. A read: the folder's pzxid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zxid: Option<i64>,
    /// A read: the folder's cversion (a counter that only grows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<i64>,
    /// The error, for failed and unknown outcomes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Op {
    /// `w2 write /p/w2/op-0000000007 = "w2-000007" (session 0x1000..) at 15:40:01.123`
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            OpKind::Write => "write",
            OpKind::Read => "read",
        };
        let value = if self.value.is_empty() { String::new() } else { format!(" = {:?}", self.value.trim_end_matches('.')) };
        let session = if self.session.is_empty() { "no session".to_string() } else { format!("session {}", self.session) };
        format!("w{} {kind} {}{value} ({session}) at {}", self.worker, self.path, self.invoked.format("%H:%M:%S%.3f"))
    }
}

/// Everything the workload did, in invocation order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History {
    pub ops: Vec<Op>,
}

impl History {
    pub fn new(mut ops: Vec<Op>) -> History {
        ops.sort_by_key(|o| o.invoked);
        History { ops }
    }

    /// Writes one JSON object per line.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        crate::report::save_json_lines(path, &self.ops)
    }

    /// Reads a history saved by [`History::save`]; a bad line is an error naming its number.
    pub fn load(path: &Path) -> anyhow::Result<History> {
        let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut ops = Vec::new();
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.with_context(|| format!("reading {}", path.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            ops.push(serde_json::from_str(&line).with_context(|| format!("{}:{}: not an operation", path.display(), i + 1))?);
        }
        Ok(History::new(ops))
    }

    pub fn count(&self, outcome: Outcome) -> u64 {
        self.ops.iter().filter(|o| o.outcome == outcome).count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads_as_json_lines() {
        let t: DateTime<Utc> = "2026-11-28T15:40:00Z".parse().unwrap();
        let ops = vec![
            Op {
                worker: 1,
                session: "0x100".into(),
                kind: OpKind::Write,
                invoked: t,
                completed: t + chrono::Duration::milliseconds(3),
                outcome: Outcome::Acknowledged,
                path: "/p/w1/op-0000000000".into(),
                value: "w1-000000".into(),
                zxid: Some(0x100000002),
                counter: None,
                error: None,
            },
            Op {
                worker: 0,
                session: String::new(),
                kind: OpKind::Read,
                invoked: t + chrono::Duration::milliseconds(1),
                completed: t + chrono::Duration::milliseconds(9),
                outcome: Outcome::Unknown,
                path: "/p/w0".into(),
                value: String::new(),
                zxid: None,
                counter: None,
                error: Some("connection to server has lost".into()),
            },
        ];
        let h = History::new(ops);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("h.jsonl");
        h.save(&file).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().next().unwrap().contains("\"outcome\":\"acknowledged\""), "{text}");
        assert_eq!(History::load(&file).unwrap(), h);

        std::fs::write(&file, format!("{}\nnot json\n", text.lines().next().unwrap())).unwrap();
        let err = format!("{:#}", History::load(&file).unwrap_err());
        assert!(err.contains("h.jsonl:2"), "{err}");
    }
}
