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

use std::collections::HashMap;

use super::history::{Call, Outcome, RegisterHistory, State};
use super::linearizability::{mix, PassThrough, Reads};

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
    /// [`Model::step`] on interned values, which the search calls at every step: the same answer
    /// (a unit test checks each model's), without allocating. The default goes through
    /// [`Model::step`]; a model overrides it to step integers.
    fn step_compact(&self, state: Compact, op: &CompactKind, values: &mut Values) -> Option<Compact> {
        let after = self.step(&values.state(state), &values.kind(op))?;
        Some(values.compact(&after))
    }
    /// The version as the search's memo compares states: the state's own (`version`) when the
    /// model can observe it, a constant when it cannot.
    fn canonical_version(&self, version: i64) -> i64;
}

/// A state with its value interned in [`Values`]: two integers, copied and compared for free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Compact {
    pub value: u32,
    pub version: i64,
}

/// An operation ([`Kind`]) with its values interned in [`Values`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CompactKind {
    Read(Compact),
    ReadValue(u32),
    Write { value: u32, version: Option<i64> },
    Cas { expected: i64, value: u32, version: Option<i64>, unknown: bool },
    CasValue { expected: u32, value: u32, outcome: Outcome },
    Append { value: u32 },
}

/// The values one search has seen, each numbered once: equal strings get equal numbers, so the
/// model compares numbers. An append's result is numbered the first time a pair meets and looked
/// up by the pair after that.
///
/// Values are found by a polynomial hash (`h(s) = sum s[i] B^(len-1-i)` modulo 2^64), which an
/// append computes from its two parts (`h(a+b) = h(a) B^len(b) + h(b)`) instead of hashing the
/// joined string: 6.824's key-value histories append to values thousands of bytes long. The
/// strings are still compared when hashes meet, so a collision cannot make two values one. They
/// live in one buffer, freed at once.
#[derive(Default)]
pub struct Values {
    text: String,
    /// Each value's place in `text`, its hash and `B^len`.
    spans: Vec<(usize, usize)>,
    hashes: Vec<(u64, u64)>,
    /// The last value numbered with each hash (mixed), and each value's previous one with its hash.
    by_hash: HashMap<u64, u32, std::hash::BuildHasherDefault<PassThrough>>,
    same_hash: Vec<u32>,
    appended: HashMap<u64, u32, std::hash::BuildHasherDefault<PassThrough>>,
}

/// The polynomial hash's base (odd, so powers never vanish modulo 2^64).
const BASE: u64 = 0x100_0000_01b3;

/// The polynomial hash of `bytes` and `BASE^len`.
fn poly(bytes: &[u8]) -> (u64, u64) {
    bytes.iter().fold((0u64, 1u64), |(h, p), b| (h.wrapping_mul(BASE).wrapping_add(u64::from(*b) + 1), p.wrapping_mul(BASE)))
}

impl Values {
    /// The value numbered with `hash` whose text is `parts` joined, if any.
    fn find(&self, hash: u64, parts: [&str; 2]) -> Option<u32> {
        let mut at = *self.by_hash.get(&mix(hash))?;
        while at != u32::MAX {
            let v = self.value(at);
            if v.len() == parts[0].len() + parts[1].len() && v.starts_with(parts[0]) && v.ends_with(parts[1]) {
                return Some(at);
            }
            at = self.same_hash[at as usize];
        }
        None
    }

    /// Numbers `parts` joined, known to be new, with its hash and power.
    fn add(&mut self, hp: (u64, u64), parts: [&str; 2]) -> u32 {
        let id = u32::try_from(self.spans.len()).expect("fewer than 2^32 distinct values");
        let start = self.text.len();
        self.text.push_str(parts[0]);
        self.text.push_str(parts[1]);
        self.spans.push((start, self.text.len() - start));
        self.hashes.push(hp);
        let before = self.by_hash.insert(mix(hp.0), id).unwrap_or(u32::MAX);
        self.same_hash.push(before);
        id
    }

    /// The number of `value`.
    pub fn id(&mut self, value: &str) -> u32 {
        let hp = poly(value.as_bytes());
        match self.find(hp.0, [value, ""]) {
            Some(id) => id,
            None => self.add(hp, [value, ""]),
        }
    }

    /// The value numbered `id`.
    pub fn value(&self, id: u32) -> &str {
        let (start, len) = self.spans[id as usize];
        &self.text[start..start + len]
    }

    /// The number of `value(a)` followed by `value(b)`.
    pub fn append(&mut self, a: u32, b: u32) -> u32 {
        let pair = mix((u64::from(a) << 32) | u64::from(b));
        if let Some(id) = self.appended.get(&pair) {
            return *id;
        }
        let ((ha, pa), (hb, pb)) = (self.hashes[a as usize], self.hashes[b as usize]);
        let hp = (ha.wrapping_mul(pb).wrapping_add(hb), pa.wrapping_mul(pb));
        let id = match self.find(hp.0, [self.value(a), self.value(b)]) {
            Some(id) => id,
            None => {
                // The buffer may move as it grows: copy the parts out first.
                let (x, y) = (self.value(a).to_string(), self.value(b).to_string());
                self.add(hp, [&x, &y])
            }
        };
        self.appended.insert(pair, id);
        id
    }

    /// How many values are numbered.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn compact(&mut self, state: &State) -> Compact {
        Compact { value: self.id(&state.value), version: state.version }
    }

    pub fn state(&self, state: Compact) -> State {
        State::new(self.value(state.value), state.version)
    }

    pub fn compact_kind(&mut self, op: &Kind) -> CompactKind {
        match op {
            Kind::Read(s) => CompactKind::Read(self.compact(s)),
            Kind::ReadValue(v) => CompactKind::ReadValue(self.id(v)),
            Kind::Write { value, version } => CompactKind::Write { value: self.id(value), version: *version },
            Kind::Cas { expected, value, version, unknown } => CompactKind::Cas { expected: *expected, value: self.id(value), version: *version, unknown: *unknown },
            Kind::CasValue { expected, value, outcome } => CompactKind::CasValue { expected: self.id(expected), value: self.id(value), outcome: *outcome },
            Kind::Append { value } => CompactKind::Append { value: self.id(value) },
        }
    }

    pub fn kind(&self, op: &CompactKind) -> Kind {
        let v = |id: u32| self.value(id).to_string();
        match *op {
            CompactKind::Read(s) => Kind::Read(self.state(s)),
            CompactKind::ReadValue(id) => Kind::ReadValue(v(id)),
            CompactKind::Write { value, version } => Kind::Write { value: v(value), version },
            CompactKind::Cas { expected, value, version, unknown } => Kind::Cas { expected, value: v(value), version, unknown },
            CompactKind::CasValue { expected, value, outcome } => Kind::CasValue { expected: v(expected), value: v(value), outcome },
            CompactKind::Append { value } => Kind::Append { value: v(value) },
        }
    }
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
    fn step_compact(&self, state: Compact, op: &CompactKind, _values: &mut Values) -> Option<Compact> {
        let written = |value: u32, version: Option<i64>| {
            let next = Compact { value, version: state.version + 1 };
            version.is_none_or(|v| v == next.version).then_some(next)
        };
        match *op {
            CompactKind::Read(seen) => (seen == state).then_some(state),
            CompactKind::Write { value, version } => written(value, version),
            CompactKind::Cas { expected, value, version, unknown } => {
                if expected == state.version {
                    written(value, version)
                } else {
                    unknown.then_some(state)
                }
            }
            CompactKind::ReadValue(_) | CompactKind::CasValue { .. } | CompactKind::Append { .. } => None,
        }
    }
    fn canonical_version(&self, version: i64) -> i64 {
        version
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
    fn step_compact(&self, state: Compact, op: &CompactKind, _values: &mut Values) -> Option<Compact> {
        match *op {
            CompactKind::ReadValue(seen) => (seen == state.value).then_some(state),
            CompactKind::Write { value, .. } => Some(Compact { value, version: state.version + 1 }),
            CompactKind::CasValue { expected, value, outcome } => {
                let matches = expected == state.value;
                let after = Compact { value, version: state.version + 1 };
                match outcome {
                    Outcome::Ok => matches.then_some(after),
                    Outcome::Failed => (!matches).then_some(state),
                    Outcome::Unknown => Some(if matches { after } else { state }),
                }
            }
            CompactKind::Read(_) | CompactKind::Cas { .. } | CompactKind::Append { .. } => None,
        }
    }
    fn canonical_version(&self, _version: i64) -> i64 {
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
    fn step_compact(&self, state: Compact, op: &CompactKind, values: &mut Values) -> Option<Compact> {
        match *op {
            CompactKind::ReadValue(seen) => (seen == state.value).then_some(state),
            CompactKind::Write { value, .. } => Some(Compact { value, version: state.version + 1 }),
            CompactKind::Append { value } => Some(Compact { value: values.append(state.value, value), version: state.version + 1 }),
            CompactKind::Read(_) | CompactKind::Cas { .. } | CompactKind::CasValue { .. } => None,
        }
    }
    fn canonical_version(&self, _version: i64) -> i64 {
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
        assert_eq!((m.canonical_version(3), m.canonical_version(7)), (0, 0));
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
        assert_eq!(m.canonical_version(3), 0);
    }

    #[test]
    fn the_znode_keeps_its_version_observable() {
        let m = ZkRegister;
        assert_eq!(m.step(&s("a", 1), &Kind::Cas { expected: 1, value: "b".into(), version: None, unknown: false }), Some(s("b", 2)));
        assert_eq!(m.step(&s("a", 1), &Kind::Cas { expected: 0, value: "b".into(), version: None, unknown: false }), None);
        assert_eq!(m.step(&s("a", 1), &Kind::Cas { expected: 0, value: "b".into(), version: None, unknown: true }), Some(s("a", 1)));
        assert_eq!(m.step(&s("a", 1), &Kind::ReadValue("a".into())), None);
        assert_eq!(m.canonical_version(5), 5);
        assert!(!m.keeps_failed(&Call::Cas { expected_version: 0, value: "a".into() }));
        assert!(!m.supports(&Call::CasValue { expected: "a".into(), value: "b".into() }));
        assert_eq!(m.default_reads(), Reads::Synced);
    }

    /// Each model's step on interned values is its step on strings: every operation kind, with
    /// values that match the state and values that do not, versions that match and do not, every
    /// outcome, from states with a few values and versions.
    #[test]
    fn the_compact_step_is_the_step() {
        let values = ["", "a", "b", "ab"];
        let mut kinds = Vec::new();
        for v in values {
            for version in [0, 1, 2, 3] {
                kinds.push(Kind::Read(s(v, version)));
                for w in [None, Some(version)] {
                    kinds.push(Kind::Write { value: v.into(), version: w });
                }
                for unknown in [false, true] {
                    kinds.push(Kind::Cas { expected: version, value: v.into(), version: Some(version + 1), unknown });
                    kinds.push(Kind::Cas { expected: version, value: v.into(), version: None, unknown });
                }
            }
            kinds.push(Kind::ReadValue(v.into()));
            kinds.push(Kind::Append { value: v.into() });
            for e in values {
                for outcome in [Outcome::Ok, Outcome::Failed, Outcome::Unknown] {
                    kinds.push(cas(e, v, outcome));
                }
            }
        }
        let models: [&dyn Model; 3] = [&ZkRegister, &ValueRegister, &KvMap];
        let mut stepped = 0;
        for m in models {
            let mut interned = Values::default();
            for v in values {
                for version in [0, 1, 2] {
                    let state = s(v, version);
                    for op in &kinds {
                        let want = m.step(&state, op);
                        let (c, k) = (interned.compact(&state), interned.compact_kind(op));
                        let got = m.step_compact(c, &k, &mut interned).map(|after| interned.state(after));
                        assert_eq!(got, want, "{}: {op:?} in {state}", m.name());
                        stepped += usize::from(want.is_some());
                    }
                }
            }
        }
        assert!(stepped > 300, "{stepped} steps took effect");
    }

    /// Equal strings get one number however they were made (read in whole, or appended from
    /// parts in any grouping), different strings different ones, and each number gives its string.
    #[test]
    fn values_are_numbered_by_their_text() {
        let mut v = Values::default();
        let (a, b, c) = (v.id("x 1 0 y"), v.id("x 2 0 y"), v.id(""));
        let ab = v.append(a, b);
        assert_eq!(v.value(ab), "x 1 0 yx 2 0 y");
        assert_eq!(v.id("x 1 0 yx 2 0 y"), ab, "read in whole");
        assert_eq!(v.append(ab, c), ab, "appending nothing");
        assert_eq!(v.append(c, ab), ab);
        let ba = v.append(b, a);
        assert_ne!(ba, ab);
        let abab = v.append(ab, ab);
        let a_bab = {
            let bab = v.append(b, ab);
            v.append(a, bab)
        };
        assert_eq!(abab, a_bab, "(ab)(ab) and a(b(ab)) are one string");
        assert_eq!(v.id("x 1 0 yx 2 0 yx 1 0 yx 2 0 y"), abab);
        assert_eq!(v.append(a, b), ab, "the pair looked up again");
        let ids: Vec<u32> =
            ["", "x 1 0 y", "x 2 0 y", "x 1 0 yx 2 0 y", "x 2 0 yx 1 0 y", "x 2 0 yx 1 0 yx 2 0 y", "x 1 0 yx 2 0 yx 1 0 yx 2 0 y"].iter().map(|t| v.id(t)).collect();
        let distinct: std::collections::HashSet<u32> = ids.iter().copied().collect();
        assert_eq!(distinct.len(), ids.len(), "{ids:?}");
        assert_eq!(v.len(), ids.len());
        for id in ids {
            let text = v.value(id).to_string();
            assert_eq!(v.id(&text), id);
        }
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
