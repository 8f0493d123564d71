//! A register history: reads, writes and compare-and-sets on a few znodes by a few sessions, each
//! with its invocation, its completion and its outcome, saved as one JSON document.
//!
//! # The register
//! Each key is a znode. Its state is `(value, version)`: `create` leaves version 0 and every
//! `setData` adds one, whatever it writes. The three operations are ZooKeeper calls:
//! - read: `getData(path)`, returning the value and the Stat's version (and mzxid);
//! - write: `setData(path, value, -1)`, unconditional;
//! - cas: `setData(path, value, expected_version)` with a version the session read before. It takes
//!   effect only when the znode's version is still `expected_version`; otherwise the server answers
//!   BadVersion and nothing changes. A CAS by version (not by value) is what ZooKeeper offers, and
//!   the version in the state is what makes it checkable.
//!
//! # The JSON format (read by the Rust checker and by `ci/porcupine`)
//! ```json
//! {
//!   "initial": {"value": "", "version": 0},
//!   "ops": [
//!     {"id": 0, "process": 0, "session": "0x100", "key": "/r/k0", "kind": "write", "value": "a",
//!      "invoked": 1000, "completed": 1900, "outcome": "ok", "version": 1, "zxid": 4294967298},
//!     {"id": 1, "process": 1, "key": "/r/k0", "kind": "cas", "expected_version": 0, "value": "b",
//!      "invoked": 1200, "completed": 1500, "outcome": "failed"},
//!     {"id": 2, "process": 1, "key": "/r/k0", "kind": "read", "synced_at": 1950,
//!      "invoked": 2000, "completed": 2100, "outcome": "ok", "read": {"value": "a", "version": 1}}
//!   ]
//! }
//! ```
//! - Times are integers (nanoseconds in the live workload; any unit works) on one clock.
//! - `outcome`: `ok`; `failed`: it certainly did not take effect (BadVersion, no session); `unknown`:
//!   it may have taken effect at any time after `invoked`, and `completed` (when the client gave up)
//!   bounds nothing.
//! - `version` (ok write or cas): the version `setData` returned, after the write. Optional.
//! - `read` (ok read): what `getData` returned. `zxid`: the write's mzxid, or the read znode's mzxid.
//! - `synced_at` (read): when the session invoked the `sync` it completed just before this read;
//!   absent when the read was not preceded by a sync.
//! - `session`, `zxid`, `synced_at`, `version` may be absent; `initial` defaults to `("", 0)`.
//!
//! # Other models' operations
//! The same document holds histories of the other models of [`super::model`]: a register of
//! values (`--model register`: `read`, `write` and `{"kind": "cas_value", "expected": "a",
//! "value": "b"}`; a failed one is kept, as evidence that the value was not `expected`) and a
//! key-value map (`--model kv`: `read` is a get, `write` a put, `{"kind": "append", "value": "x"}`;
//! each key is one partition). Their reads may leave the version out: `"read": {"value": "a"}`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The state of one znode, as the register model sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct State {
    pub value: String,
    /// Absent in a read of a register without versions (`"read": {"value": "a"}`): 0.
    #[serde(default)]
    pub version: i64,
}

impl State {
    pub fn new(value: impl Into<String>, version: i64) -> State {
        State { value: value.into(), version }
    }
}

impl Default for State {
    fn default() -> State {
        State::new("", 0)
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({:?}, v{})", self.value, self.version)
    }
}

/// What the client asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Call {
    Read,
    Write {
        value: String,
    },
    Cas {
        expected_version: i64,
        value: String,
    },
    /// A CAS by value (a register without versions, as in Jepsen's etcd test): takes effect only
    /// when the value is `expected`. Not a ZooKeeper call (`--model register`).
    #[serde(rename = "cas_value")]
    CasValue {
        expected: String,
        value: String,
    },
    /// Appends `value` to the value (a key-value map's append; `--model kv`).
    Append {
        value: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The server answered with success.
    Ok,
    /// Certainly did not take effect.
    Failed,
    /// May or may not have taken effect, at any time after the invocation.
    Unknown,
}

/// One operation on one key, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterOp {
    /// Unique within the history; verdicts name operations by it.
    pub id: usize,
    /// The client loop (one operation at a time).
    pub process: u32,
    /// The ZooKeeper session (`0x...`); a process opens a new one when its session expires.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub session: String,
    pub key: String,
    #[serde(flatten)]
    pub call: Call,
    pub invoked: i64,
    pub completed: i64,
    pub outcome: Outcome,
    /// An ok read: what it returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<State>,
    /// An ok write or cas: the version after it, as `setData` returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// An ok write or cas: its mzxid. An ok read: the mzxid of what it read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zxid: Option<i64>,
    /// A read: when its session invoked the `sync` that completed just before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_at: Option<i64>,
}

impl RegisterOp {
    pub fn is_read(&self) -> bool {
        self.call == Call::Read
    }

    /// A write or a cas: an operation that can change the state.
    pub fn is_update(&self) -> bool {
        !self.is_read()
    }

    /// `#3 p1 cas(v2 -> "b") ok -> v3 on /r/k0 [1200, 1500]`
    pub fn describe(&self) -> String {
        let call = match &self.call {
            Call::Read => "read".to_string(),
            Call::Write { value } => format!("write({value:?})"),
            Call::Cas { expected_version, value } => format!("cas(v{expected_version} -> {value:?})"),
            Call::CasValue { expected, value } => format!("cas({expected:?} -> {value:?})"),
            Call::Append { value } => format!("append({value:?})"),
        };
        let result = match (self.outcome, &self.read, self.version) {
            (Outcome::Ok, Some(s), _) => format!("ok {s}"),
            (Outcome::Ok, None, Some(v)) => format!("ok -> v{v}"),
            (Outcome::Ok, None, None) => "ok".to_string(),
            (Outcome::Failed, ..) => "failed".to_string(),
            (Outcome::Unknown, ..) => "unknown".to_string(),
        };
        let synced = self.synced_at.map(|t| format!(" after sync at {t}")).unwrap_or_default();
        format!("#{} p{} {call} {result} on {} [{}, {}]{synced}", self.id, self.process, self.key, self.invoked, self.completed)
    }
}

/// A whole register history: the znodes' state before the first operation, and every operation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RegisterHistory {
    /// Every key's state before the first operation (the workload creates each znode with it).
    #[serde(default)]
    pub initial: State,
    pub ops: Vec<RegisterOp>,
}

impl RegisterHistory {
    /// The operations by key, each key's in invocation order.
    pub fn by_key(&self) -> BTreeMap<&str, Vec<&RegisterOp>> {
        let mut keys: BTreeMap<&str, Vec<&RegisterOp>> = BTreeMap::new();
        for op in &self.ops {
            keys.entry(op.key.as_str()).or_default().push(op);
        }
        for ops in keys.values_mut() {
            ops.sort_by_key(|o| (o.invoked, o.id));
        }
        keys
    }

    /// Operation ids unique; an ok read has what it read; the expected times are in order.
    ///
    /// # Errors
    /// The first inconsistency, naming the operation.
    pub fn validate(&self) -> anyhow::Result<()> {
        let mut ids = std::collections::HashSet::new();
        for op in &self.ops {
            anyhow::ensure!(ids.insert(op.id), "operation id {} appears twice", op.id);
            anyhow::ensure!(op.outcome == Outcome::Unknown || op.completed >= op.invoked, "{}: completed before it was invoked", op.describe());
            if op.is_read() && op.outcome == Outcome::Ok {
                anyhow::ensure!(op.read.is_some(), "{}: an ok read without what it read", op.describe());
            }
            if let Some(s) = op.synced_at {
                anyhow::ensure!(op.is_read(), "{}: only a read follows a sync", op.describe());
                anyhow::ensure!(s <= op.invoked, "{}: its sync was invoked after it", op.describe());
            }
        }
        Ok(())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a register history serialises")
    }

    /// Parses and [validates](RegisterHistory::validate) a history.
    ///
    /// # Errors
    /// Not JSON of this format, or inconsistent.
    pub fn from_json(text: &str) -> anyhow::Result<RegisterHistory> {
        let h: RegisterHistory = serde_json::from_str(text).context("not a register history")?;
        h.validate()?;
        Ok(h)
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, self.to_json()).with_context(|| format!("writing {}", path.display()))
    }

    /// # Errors
    /// Unreadable, or not a valid history (the message names the file).
    pub fn load(path: &Path) -> anyhow::Result<RegisterHistory> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        RegisterHistory::from_json(&text).with_context(|| path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The history of the module's documentation.
    const DOC_EXAMPLE: &str = r#"{
      "initial": {"value": "", "version": 0},
      "ops": [
        {"id": 0, "process": 0, "session": "0x100", "key": "/r/k0", "kind": "write", "value": "a",
         "invoked": 1000, "completed": 1900, "outcome": "ok", "version": 1, "zxid": 4294967298},
        {"id": 1, "process": 1, "key": "/r/k0", "kind": "cas", "expected_version": 0, "value": "b",
         "invoked": 1200, "completed": 1500, "outcome": "failed"},
        {"id": 2, "process": 1, "key": "/r/k0", "kind": "read", "synced_at": 1950,
         "invoked": 2000, "completed": 2100, "outcome": "ok", "read": {"value": "a", "version": 1}}
      ]
    }"#;

    #[test]
    fn the_documented_format_parses_and_round_trips() {
        let h = RegisterHistory::from_json(DOC_EXAMPLE).unwrap();
        assert_eq!(h.ops.len(), 3);
        assert_eq!(h.ops[0].call, Call::Write { value: "a".into() });
        assert_eq!((h.ops[0].version, h.ops[0].zxid), (Some(1), Some(0x1_0000_0002)));
        assert_eq!(h.ops[1].call, Call::Cas { expected_version: 0, value: "b".into() });
        assert_eq!(h.ops[1].outcome, Outcome::Failed);
        assert_eq!(h.ops[2].read, Some(State::new("a", 1)));
        assert_eq!(h.ops[2].synced_at, Some(1950));
        assert_eq!(h.ops[1].session, "");
        let again = RegisterHistory::from_json(&h.to_json()).unwrap();
        assert_eq!(again, h);
        // Absent optional fields stay absent, so the Go side sees the same document.
        assert!(!h.to_json().contains("\"synced_at\": null"), "{}", h.to_json());
        assert!(h.ops[2].describe().contains("read ok (\"a\", v1) on /r/k0 [2000, 2100] after sync at 1950"), "{}", h.ops[2].describe());
    }

    /// A history written before the other models' operations existed (the register workload's
    /// output of 2026-12-06, as saved) still parses, to the same operations.
    #[test]
    fn an_old_history_still_parses() {
        let old = r#"{"initial":{"value":"","version":0},"ops":[
          {"id":0,"process":0,"session":"0x10000ab","key":"/r/k0","kind":"cas","expected_version":0,"value":"v0",
           "invoked":5,"completed":9,"outcome":"ok","version":1,"zxid":17},
          {"id":1,"process":1,"key":"/r/k0","kind":"read","invoked":6,"completed":8,"outcome":"ok","read":{"value":"","version":0}}]}"#;
        let h = RegisterHistory::from_json(old).unwrap();
        assert_eq!(h.ops[0].call, Call::Cas { expected_version: 0, value: "v0".into() });
        assert_eq!(h.ops[1].read, Some(State::new("", 0)));
    }

    #[test]
    fn the_other_models_operations_parse_and_describe_themselves() {
        let text = r#"{"ops": [
          {"id": 0, "process": 0, "key": "x", "kind": "cas_value", "expected": "1", "value": "2", "invoked": 0, "completed": 1, "outcome": "failed"},
          {"id": 1, "process": 1, "key": "x", "kind": "append", "value": "ab", "invoked": 0, "completed": 1, "outcome": "ok"},
          {"id": 2, "process": 1, "key": "x", "kind": "read", "invoked": 2, "completed": 3, "outcome": "ok", "read": {"value": "ab"}}
        ]}"#;
        let h = RegisterHistory::from_json(text).unwrap();
        assert_eq!(h.ops[0].call, Call::CasValue { expected: "1".into(), value: "2".into() });
        assert_eq!(h.ops[1].call, Call::Append { value: "ab".into() });
        assert_eq!(h.ops[2].read, Some(State::new("ab", 0)));
        assert_eq!(h.ops[0].describe(), "#0 p0 cas(\"1\" -> \"2\") failed on x [0, 1]");
        assert_eq!(h.ops[1].describe(), "#1 p1 append(\"ab\") ok on x [0, 1]");
        assert!(h.to_json().contains("\"kind\": \"cas_value\""), "{}", h.to_json());
        assert_eq!(RegisterHistory::from_json(&h.to_json()).unwrap(), h);
    }

    #[test]
    fn inconsistent_histories_are_refused_naming_the_operation() {
        let mut h = RegisterHistory::from_json(DOC_EXAMPLE).unwrap();
        h.ops[2].read = None;
        assert!(format!("{:#}", h.validate().unwrap_err()).contains("#2 p1 read ok"), "an ok read must say what it read");
        let mut h = RegisterHistory::from_json(DOC_EXAMPLE).unwrap();
        h.ops[1].id = 0;
        assert!(format!("{:#}", h.validate().unwrap_err()).contains("id 0 appears twice"));
        let mut h = RegisterHistory::from_json(DOC_EXAMPLE).unwrap();
        h.ops[2].synced_at = Some(2050);
        assert!(format!("{:#}", h.validate().unwrap_err()).contains("sync was invoked after it"));
        assert!(RegisterHistory::from_json(r#"{"ops": [{"id": 0}]}"#).is_err());
    }

    #[test]
    fn by_key_splits_in_invocation_order() {
        let mut h = RegisterHistory::from_json(DOC_EXAMPLE).unwrap();
        let mut other = h.ops[0].clone();
        other.id = 9;
        other.key = "/r/k1".into();
        other.invoked = 1;
        h.ops.push(other);
        h.ops.swap(0, 2);
        let keys = h.by_key();
        assert_eq!(keys.keys().copied().collect::<Vec<_>>(), ["/r/k0", "/r/k1"]);
        assert_eq!(keys["/r/k0"].iter().map(|o| o.id).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(keys["/r/k1"].iter().map(|o| o.id).collect::<Vec<_>>(), [9]);
    }

    #[test]
    fn saves_and_loads_naming_the_file() {
        let h = RegisterHistory::from_json(DOC_EXAMPLE).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("h.json");
        h.save(&file).unwrap();
        assert_eq!(RegisterHistory::load(&file).unwrap(), h);
        std::fs::write(&file, "{").unwrap();
        assert!(format!("{:#}", RegisterHistory::load(&file).unwrap_err()).contains("h.json"));
    }
}
