//! The sequential specifications the linearizability search checks histories against: one trait,
//! [`Model`], and three models of one partition (a znode, a register, a key):
//! - [`ZkRegister`]: a znode, `(value, version)`; reads see both, a CAS compares the version, every
//!   write adds one to it (what the register workload records; see [`super::history`]);
//! - [`ValueRegister`]: a register of values with a CAS by value, as Jepsen's etcd and Knossos'
//!   `cas-register` have it; a failed CAS is kept as evidence that the value differed;
//! - [`KvMap`]: one key of a key-value map with get, put and append (MIT 6.824's key-value service).
//!
//! A model says which recorded operations the search is fed ([`Model::supports`],
//! [`Model::keeps_failed`], [`Model::default_reads`]), how each changes the state ([`Model::step`])
//! and which part of the state the search's memo compares ([`Model::canonical_version`]): a
//! model that never looks at the version freezes it, so that equal values reached through a
//! different number of writes are one memo state, not many.

use super::history::{Call, Outcome, RegisterHistory, State};
use super::linearizability::Reads;

/// One operation as a model sees it (what the search is fed of a recorded operation).
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A znode read: the value and the version it returned.
    Read(State),
    /// A read of the value alone (a value register's read, a map's get).
    ReadValue(String),
    /// A write (a map's put); `version`, when recorded, is the version it made (znodes only).
    Write { value: String, version: Option<i64> },
    /// A znode CAS by version; `unknown`: its answer was lost, so it may also have found another
    /// version and changed nothing.
    Cas { expected: i64, value: String, version: Option<i64>, unknown: bool },
    /// A CAS by value, with its outcome: ok (the value was `expected`), failed (it was not),
    /// unknown (either).
    CasValue { expected: String, value: String, outcome: Outcome },
    /// Appends `value` to the value.
    Append { value: String },
}

impl Kind {
    /// Whether the operation can never change the state (a read, a failed CAS): dropping it from
    /// a history can only remove a constraint, which the failing part's shrinking relies on.
    pub fn is_read_only(&self) -> bool {
        match self {
            Kind::Read(_) | Kind::ReadValue(_) => true,
            Kind::CasValue { outcome, .. } => *outcome == Outcome::Failed,
            Kind::Write { .. } | Kind::Cas { .. } | Kind::Append { .. } => false,
        }
    }
}

/// A sequential specification of one partition.
pub trait Model: Sync {
    /// The name on the command line (`--model`).
    fn name(&self) -> &'static str;
    /// One line for a person: what the state is and what the operations do.
    fn describe(&self) -> &'static str;
    /// Every partition's state before the first operation.
    fn initial(&self, history: &RegisterHistory) -> State {
        history.initial.clone()
    }
    /// Which reads must be linearizable when the caller does not say.
    fn default_reads(&self) -> Reads;
    /// Whether the model has this operation.
    fn supports(&self, call: &Call) -> bool;
    /// Whether a failed operation is kept as evidence (it observed the state) instead of dropped
    /// (it did not take effect).
    fn keeps_failed(&self, _call: &Call) -> bool {
        false
    }
    /// What an ok read that returned `seen` checks.
    fn read(&self, seen: &State) -> Kind;
    /// The state after `op`, or None when `op` cannot take effect in `state`.
    fn step(&self, state: &State, op: &Kind) -> Option<State>;
    /// The version as the search's memo compares states: the state's own when the model can
    /// observe it, a constant when it cannot.
    fn canonical_version(&self, state: &State) -> i64;
}

/// The models by their command-line names.
pub fn by_name(name: &str) -> Option<&'static dyn Model> {
    [&ZkRegister as &'static dyn Model, &ValueRegister, &KvMap].into_iter().find(|m| m.name() == name)
}

/// The names [`by_name`] knows, for error messages.
pub const NAMES: &str = "zk-register, register, kv";

/// A znode: `(value, version)` (see [`super::history`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ZkRegister;

impl Model for ZkRegister {
    fn name(&self) -> &'static str {
        "zk-register"
    }
    fn describe(&self) -> &'static str {
        "a znode (value, version): read, write, CAS by version"
    }
    fn default_reads(&self) -> Reads {
        Reads::Synced
    }
    fn supports(&self, call: &Call) -> bool {
        matches!(call, Call::Read | Call::Write { .. } | Call::Cas { .. })
    }
    fn read(&self, seen: &State) -> Kind {
        Kind::Read(seen.clone())
    }
    fn step(&self, state: &State, op: &Kind) -> Option<State> {
        let written = |value: &str, version: Option<i64>| {
            let next = State::new(value, state.version + 1);
            version.is_none_or(|v| v == next.version).then_some(next)
        };
        match op {
            Kind::Read(seen) => (seen == state).then(|| state.clone()),
            Kind::Write { value, version } => written(value, *version),
            Kind::Cas { expected, value, version, unknown } => {
                if *expected == state.version {
                    written(value, *version)
                } else if *unknown {
                    // It ran, found another version and changed nothing; its answer was lost.
                    Some(state.clone())
                } else {
                    None
                }
            }
            Kind::ReadValue(_) | Kind::CasValue { .. } | Kind::Append { .. } => None,
        }
    }
    fn canonical_version(&self, state: &State) -> i64 {
        state.version
    }
}

/// A register of values with a CAS by value. The version counts writes, for the reader of a
/// failing part; no operation observes it, so the memo ignores it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValueRegister;

impl Model for ValueRegister {
    fn name(&self) -> &'static str {
        "register"
    }
    fn describe(&self) -> &'static str {
        "a register of values: read, write, CAS by value (a failed CAS says the value differed)"
    }
    fn default_reads(&self) -> Reads {
        Reads::All
    }
    fn supports(&self, call: &Call) -> bool {
        matches!(call, Call::Read | Call::Write { .. } | Call::CasValue { .. })
    }
    fn keeps_failed(&self, call: &Call) -> bool {
        matches!(call, Call::CasValue { .. })
    }
    fn read(&self, seen: &State) -> Kind {
        Kind::ReadValue(seen.value.clone())
    }
    fn step(&self, state: &State, op: &Kind) -> Option<State> {
        match op {
            Kind::ReadValue(seen) => (*seen == state.value).then(|| state.clone()),
            Kind::Write { value, .. } => Some(State::new(value.as_str(), state.version + 1)),
            Kind::CasValue { expected, value, outcome } => {
                let matches = *expected == state.value;
                let after = || State::new(value.as_str(), state.version + 1);
                match outcome {
                    Outcome::Ok => matches.then(after),
                    Outcome::Failed => (!matches).then(|| state.clone()),
                    Outcome::Unknown => Some(if matches { after() } else { state.clone() }),
                }
            }
            Kind::Read(_) | Kind::Cas { .. } | Kind::Append { .. } => None,
        }
    }
    fn canonical_version(&self, _state: &State) -> i64 {
        0
    }
}

/// One key of a key-value map: get, put, append. Keys are the partitions.
#[derive(Debug, Clone, Copy, Default)]
pub struct KvMap;

impl Model for KvMap {
    fn name(&self) -> &'static str {
        "kv"
    }
    fn describe(&self) -> &'static str {
        "a key-value map, key by key: get (read), put (write), append"
    }
    fn default_reads(&self) -> Reads {
        Reads::All
    }
    fn supports(&self, call: &Call) -> bool {
        matches!(call, Call::Read | Call::Write { .. } | Call::Append { .. })
    }
    fn read(&self, seen: &State) -> Kind {
        Kind::ReadValue(seen.value.clone())
    }
    fn step(&self, state: &State, op: &Kind) -> Option<State> {
        match op {
            Kind::ReadValue(seen) => (*seen == state.value).then(|| state.clone()),
            Kind::Write { value, .. } => Some(State::new(value.as_str(), state.version + 1)),
            Kind::Append { value } => Some(State::new(format!("{}{value}", state.value), state.version + 1)),
            Kind::Read(_) | Kind::Cas { .. } | Kind::CasValue { .. } => None,
        }
    }
    fn canonical_version(&self, _state: &State) -> i64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(value: &str, version: i64) -> State {
        State::new(value, version)
    }

    fn cas(expected: &str, value: &str, outcome: Outcome) -> Kind {
        Kind::CasValue { expected: expected.into(), value: value.into(), outcome }
    }

    #[test]
    fn the_value_registers_cas_by_value_and_its_evidence() {
        let m = ValueRegister;
        assert_eq!(m.step(&s("a", 3), &cas("a", "b", Outcome::Ok)), Some(s("b", 4)));
        assert_eq!(m.step(&s("x", 3), &cas("a", "b", Outcome::Ok)), None, "an ok CAS needs its value");
        assert_eq!(m.step(&s("x", 3), &cas("a", "b", Outcome::Failed)), Some(s("x", 3)), "a failed CAS saw another value");
        assert_eq!(m.step(&s("a", 3), &cas("a", "b", Outcome::Failed)), None, "a failed CAS cannot have seen its value");
        assert_eq!(m.step(&s("a", 3), &cas("a", "b", Outcome::Unknown)), Some(s("b", 4)));
        assert_eq!(m.step(&s("x", 3), &cas("a", "b", Outcome::Unknown)), Some(s("x", 3)));
        assert_eq!(m.step(&s("a", 3), &Kind::ReadValue("a".into())), Some(s("a", 3)));
        assert_eq!(m.step(&s("a", 3), &Kind::ReadValue("b".into())), None);
        assert_eq!(m.step(&s("a", 3), &Kind::Write { value: "c".into(), version: Some(9) }), Some(s("c", 4)), "no version is checked");
        assert_eq!(m.step(&s("a", 3), &Kind::Append { value: "c".into() }), None, "no append");
        assert_eq!(m.step(&s("a", 3), &Kind::Read(s("a", 3))), None, "no version read");
        assert!(m.keeps_failed(&Call::CasValue { expected: "a".into(), value: "b".into() }));
        assert!(!m.keeps_failed(&Call::Write { value: "a".into() }));
        assert_eq!((m.canonical_version(&s("a", 3)), m.canonical_version(&s("a", 7))), (0, 0));
        assert_eq!(m.read(&s("a", 3)), Kind::ReadValue("a".into()));
        assert_eq!(m.default_reads(), Reads::All);
    }

    #[test]
    fn the_map_puts_appends_and_gets_one_key() {
        let m = KvMap;
        assert_eq!(m.step(&s("x", 1), &Kind::Append { value: "y".into() }), Some(s("xy", 2)));
        assert_eq!(m.step(&s("x", 1), &Kind::Write { value: "y".into(), version: None }), Some(s("y", 2)));
        assert_eq!(m.step(&s("x", 1), &Kind::ReadValue("x".into())), Some(s("x", 1)));
        assert_eq!(m.step(&s("x", 1), &Kind::ReadValue("".into())), None);
        assert_eq!(m.step(&s("x", 1), &cas("x", "y", Outcome::Ok)), None, "no CAS");
        assert!(m.supports(&Call::Append { value: "a".into() }) && !m.supports(&Call::Cas { expected_version: 0, value: "a".into() }));
        assert!(!m.keeps_failed(&Call::Append { value: "a".into() }));
        assert_eq!(m.canonical_version(&s("a", 3)), 0);
    }

    #[test]
    fn the_znode_keeps_its_version_observable() {
        let m = ZkRegister;
        assert_eq!(m.step(&s("a", 1), &Kind::Cas { expected: 1, value: "b".into(), version: None, unknown: false }), Some(s("b", 2)));
        assert_eq!(m.step(&s("a", 1), &Kind::Cas { expected: 0, value: "b".into(), version: None, unknown: false }), None);
        assert_eq!(m.step(&s("a", 1), &Kind::Cas { expected: 0, value: "b".into(), version: None, unknown: true }), Some(s("a", 1)));
        assert_eq!(m.step(&s("a", 1), &Kind::ReadValue("a".into())), None);
        assert_eq!(m.canonical_version(&s("a", 5)), 5);
        assert!(!m.keeps_failed(&Call::Cas { expected_version: 0, value: "a".into() }));
        assert!(!m.supports(&Call::CasValue { expected: "a".into(), value: "b".into() }));
        assert_eq!(m.default_reads(), Reads::Synced);
    }

    #[test]
    fn models_are_found_by_name_and_only_failed_cas_by_value_is_read_only_among_updates() {
        for name in ["zk-register", "register", "kv"] {
            assert_eq!(by_name(name).map(|m| m.name()), Some(name));
            assert!(NAMES.contains(name));
        }
        assert!(by_name("cas-register").is_none());
        assert!(Kind::Read(s("a", 0)).is_read_only() && Kind::ReadValue("a".into()).is_read_only());
        assert!(cas("a", "b", Outcome::Failed).is_read_only());
        assert!(!cas("a", "b", Outcome::Ok).is_read_only() && !cas("a", "b", Outcome::Unknown).is_read_only());
        assert!(!Kind::Append { value: "a".into() }.is_read_only());
        assert!(!Kind::Write { value: "a".into(), version: None }.is_read_only());
        assert!(!Kind::Cas { expected: 0, value: "a".into(), version: None, unknown: false }.is_read_only());
    }
}
