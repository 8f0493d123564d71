//! Random register histories, deterministic by seed, for cross-checking the judges: small (2-4
//! processes, 1-3 keys, 5-20 operations), made by simulating a linearizable ZooKeeper register
//! with random concurrency, and for half of the seeds mutated so that most are no longer
//! linearizable.
//!
//! The simulation picks each operation's interval, then a moment inside it where it takes effect
//! (for a read after `sync`, inside [sync invoked, completed]; for an unknown outcome, any moment
//! after the invocation, or never), and replays the operations in that order through the register
//! to fill in what reads return, which CASes succeed and the versions and zxids. A read without
//! `sync` returns any state between what its session had already seen and the current one, as a
//! lagging follower would: legal ZooKeeper, and left out of the black-box check.
//!
//! A mutation changes one recorded answer: a synced read returns another state, a CAS that got
//! BadVersion reports success, an acknowledged write reports another version, or two synced reads
//! of a key swap answers. Not every mutation breaks linearizability (a read concurrent with a
//! write may return either state), which is why the judges, not the generator, decide.
//!
//! The random numbers come from SplitMix64 written here, so a seed gives the same history whatever
//! version of a random-number crate is in the lock file.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::history::{Call, Outcome, RegisterHistory, RegisterOp, State};

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast, and fixed forever.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// A generated history, with how it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generated {
    pub seed: u64,
    /// What was changed after the simulation; None: linearizable by construction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutation: Option<String>,
    #[serde(flatten)]
    pub history: RegisterHistory,
}

/// How large and how concurrent the histories are; each range is inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    pub processes: (i64, i64),
    pub keys: (i64, i64),
    pub ops: (i64, i64),
    /// How often an acknowledged write records the version it made (a version pins a write's
    /// place in the order, so fewer make the search work harder).
    pub versions_percent: u64,
    /// Of the operations, how many in a hundred have an unknown outcome (the next five fail).
    pub unknown_percent: i64,
}

impl Shape {
    /// The cross-check's histories: 2-4 processes, 1-3 keys, 5-20 operations.
    pub const SMALL: Shape = Shape { processes: (2, 4), keys: (1, 3), ops: (5, 20), versions_percent: 70, unknown_percent: 10 };
    /// Harder for the search: more processes on fewer keys, longer, fewer versions.
    pub const LARGE: Shape = Shape { processes: (3, 6), keys: (1, 2), ops: (30, 60), versions_percent: 20, unknown_percent: 10 };
}

/// The history for `seed` in [`Shape::SMALL`]: odd seeds are mutated.
pub fn generate(seed: u64) -> Generated {
    generate_with(seed, &Shape::SMALL)
}

/// The history for `seed` in `shape`: odd seeds are mutated.
pub fn generate_with(seed: u64, shape: &Shape) -> Generated {
    let mut rng = Rng::new(seed);
    let mut history = simulate(&mut rng, shape);
    let mutation = (seed % 2 == 1).then(|| mutate(&mut history, &mut rng));
    Generated { seed, mutation, history }
}

/// One operation of the simulation before the replay fills in its answers.
struct Planned {
    op: RegisterOp,
    /// When it takes effect; None: never (failed, or unknown and lost).
    at: Option<i64>,
}

/// A linearizable history by construction (see the module documentation).
pub fn simulate(rng: &mut Rng, shape: &Shape) -> RegisterHistory {
    let processes = rng.range(shape.processes.0, shape.processes.1) as usize;
    let keys = rng.range(shape.keys.0, shape.keys.1) as usize;
    let count = rng.range(shape.ops.0, shape.ops.1) as usize;
    // Times in steps of 10, so a moment strictly inside an interval exists.
    let mut free_at: Vec<i64> = (0..processes).map(|_| rng.range(0, 5) * 10).collect();
    let mut session: Vec<u32> = (0..processes as u32).collect();
    let mut next_session = processes as u32;
    let mut planned = Vec::new();
    for id in 0..count {
        let p = (0..processes).min_by_key(|&p| (free_at[p], rng.next_u64() % 4)).expect("a process");
        let key = format!("/r/k{}", rng.range(0, keys as i64 - 1));
        let start = free_at[p] + rng.range(0, 3) * 10;
        let roll = rng.range(0, 99);
        let call = if roll < 45 {
            Call::Read
        } else if roll < 75 {
            Call::Write { value: format!("v{id}") }
        } else {
            // Filled in from what the process read, at replay.
            Call::Cas { expected_version: -1, value: format!("v{id}") }
        };
        let synced = call == Call::Read && rng.chance(75);
        let invoked = if synced { start + rng.range(1, 3) * 10 } else { start };
        let completed = invoked + rng.range(1, 12) * 10;
        let roll = rng.range(0, 99);
        let outcome = if roll < shape.unknown_percent {
            Outcome::Unknown
        } else if roll < shape.unknown_percent + 5 {
            Outcome::Failed
        } else {
            Outcome::Ok
        };
        let from = if synced { start } else { invoked };
        let at = match outcome {
            Outcome::Ok => Some(rng.range(from, completed)),
            Outcome::Failed => None,
            // May take effect well after the client gave up, or never.
            Outcome::Unknown => rng.chance(50).then(|| rng.range(invoked, completed + 300)),
        };
        planned.push(Planned {
            op: RegisterOp {
                id,
                process: p as u32,
                session: format!("0x{:x}", 0x100 + session[p]),
                key,
                call,
                invoked,
                completed,
                outcome,
                read: None,
                version: None,
                zxid: None,
                synced_at: synced.then_some(start),
            },
            at,
        });
        free_at[p] = completed + 10;
        if outcome == Outcome::Unknown && rng.chance(50) {
            // The connection was lost and the session with it.
            session[p] = next_session;
            next_session += 1;
        }
    }
    replay(rng, planned, shape.versions_percent)
}

/// Applies the planned operations in the order they take effect, filling in the answers.
fn replay(rng: &mut Rng, mut planned: Vec<Planned>, versions_percent: u64) -> RegisterHistory {
    let initial = State::default();
    // Per key: every state it went through, with the zxid that made it (0: the initial).
    let mut states: HashMap<String, Vec<(State, i64)>> = HashMap::new();
    let mut zxid: i64 = 0x1_0000_0000;
    // Per session: the highest version seen per key, and the highest zxid seen.
    let mut seen_version: HashMap<(String, String), i64> = HashMap::new();
    let mut seen_zxid: HashMap<String, i64> = HashMap::new();
    // What each process last read of each key, for its CASes.
    let mut last_read: HashMap<(u32, String), i64> = HashMap::new();

    let mut order: Vec<usize> = (0..planned.len()).filter(|&i| planned[i].at.is_some()).collect();
    order.sort_by_key(|&i| (planned[i].at, planned[i].op.id));
    for i in order {
        let op = &mut planned[i].op;
        let history = states.entry(op.key.clone()).or_insert_with(|| vec![(initial.clone(), 0)]);
        let (current, current_zxid) = history.last().cloned().expect("a state");
        let session_key = (op.session.clone(), op.key.clone());
        match op.call.clone() {
            Call::Read => {
                let (got, mzxid) = if op.synced_at.is_some() {
                    (current, current_zxid)
                } else {
                    // A lagging follower: anything from what the session has seen on this key or
                    // through its zxid, up to now.
                    let by_version = seen_version.get(&session_key).copied().unwrap_or(0);
                    let by_zxid = seen_zxid.get(&op.session).copied().unwrap_or(0);
                    let as_of_zxid = history.iter().rposition(|(_, z)| *z <= by_zxid).unwrap_or(0);
                    let as_of_version = history.iter().position(|(s, _)| s.version >= by_version).unwrap_or(0);
                    let lowest = as_of_zxid.max(as_of_version);
                    let k = rng.range(lowest as i64, history.len() as i64 - 1) as usize;
                    history[k].clone()
                };
                if op.outcome == Outcome::Ok {
                    last_read.insert((op.process, op.key.clone()), got.version);
                    let v = seen_version.entry(session_key).or_insert(0);
                    *v = (*v).max(got.version);
                    let z = seen_zxid.entry(op.session.clone()).or_insert(0);
                    *z = (*z).max(mzxid);
                    op.read = Some(got);
                    op.zxid = Some(mzxid);
                }
            }
            call => {
                let (value, applies) = match call {
                    Call::Write { value } => (value, true),
                    Call::Cas { value, .. } => {
                        // Read-then-CAS: the version the process last read, sometimes a guess.
                        let expected = match last_read.get(&(op.process, op.key.clone())) {
                            Some(&v) if rng.chance(80) => v,
                            _ => rng.range(0, current.version + 1),
                        };
                        op.call = Call::Cas { expected_version: expected, value: value.clone() };
                        (value, expected == current.version)
                    }
                    Call::Read => unreachable!("reads are handled above"),
                    Call::CasValue { .. } | Call::Append { .. } => unreachable!("the generator makes znode operations only"),
                };
                if applies {
                    zxid += 1;
                    let next = State::new(value, current.version + 1);
                    history.push((next.clone(), zxid));
                    if op.outcome == Outcome::Ok {
                        if rng.chance(versions_percent) {
                            op.version = Some(next.version);
                        }
                        if rng.chance(70) {
                            op.zxid = Some(zxid);
                        }
                        let v = seen_version.entry(session_key).or_insert(0);
                        *v = (*v).max(next.version);
                        let z = seen_zxid.entry(op.session.clone()).or_insert(0);
                        *z = (*z).max(zxid);
                    }
                } else if op.outcome == Outcome::Ok {
                    // BadVersion: the server answered, nothing changed.
                    op.outcome = Outcome::Failed;
                }
            }
        }
    }
    // Reads that never took effect (failed or unknown) have no answer; CASes that never took
    // effect still need an expected version.
    for p in &mut planned {
        if let Call::Cas { expected_version, .. } = &mut p.op.call {
            if *expected_version < 0 {
                *expected_version = last_read.get(&(p.op.process, p.op.key.clone())).copied().unwrap_or(0);
            }
        }
    }
    let h = RegisterHistory { initial, ops: planned.into_iter().map(|p| p.op).collect() };
    h.validate().expect("the simulation records consistent operations");
    h
}

/// Changes one recorded answer (see the module documentation); returns what it did.
pub fn mutate(h: &mut RegisterHistory, rng: &mut Rng) -> String {
    let synced_reads: Vec<usize> = (0..h.ops.len()).filter(|&i| h.ops[i].synced_at.is_some() && h.ops[i].outcome == Outcome::Ok).collect();
    let bad_version: Vec<usize> = (0..h.ops.len()).filter(|&i| matches!(h.ops[i].call, Call::Cas { .. }) && h.ops[i].outcome == Outcome::Failed).collect();
    let versioned: Vec<usize> = (0..h.ops.len()).filter(|&i| h.ops[i].outcome == Outcome::Ok && h.ops[i].version.is_some()).collect();
    let max_version = h.ops.iter().filter(|o| o.is_update()).count() as i64;
    for attempt in 0..8 {
        let pick = |rng: &mut Rng, list: &[usize]| list[rng.range(0, list.len() as i64 - 1) as usize];
        match (rng.range(0, 3), attempt) {
            (0, _) if !synced_reads.is_empty() => {
                let i = pick(rng, &synced_reads);
                let was = h.ops[i].read.clone().expect("an ok read");
                let other = h.ops.iter().filter(|o| o.key == h.ops[i].key && o.is_update()).map(|o| o.id).collect::<Vec<_>>();
                let got = if !other.is_empty() && rng.chance(70) {
                    // Another write's value, at a version near the one read.
                    let w = pick(rng, &other);
                    let value = match &h.ops.iter().find(|o| o.id == w).expect("an op").call {
                        Call::Write { value } | Call::Cas { value, .. } | Call::CasValue { value, .. } | Call::Append { value } => value.clone(),
                        Call::Read => unreachable!("updates only"),
                    };
                    State::new(value, (was.version + rng.range(-1, 1)).clamp(0, max_version))
                } else {
                    State::new(was.value.clone(), (was.version + if rng.chance(50) { 1 } else { -1 }).max(0))
                };
                if got == was {
                    continue;
                }
                h.ops[i].read = Some(got.clone());
                return format!("#{} read {} instead of {was}", h.ops[i].id, got);
            }
            (1, _) if !bad_version.is_empty() => {
                let i = pick(rng, &bad_version);
                h.ops[i].outcome = Outcome::Ok;
                return format!("#{} BadVersion reported as success", h.ops[i].id);
            }
            (2, _) if !versioned.is_empty() => {
                let i = pick(rng, &versioned);
                let v = h.ops[i].version.expect("a version");
                let to = if v > 1 && rng.chance(50) { v - 1 } else { v + 1 };
                h.ops[i].version = Some(to);
                return format!("#{} reported version {to} instead of {v}", h.ops[i].id);
            }
            (3, _) if synced_reads.len() >= 2 => {
                let (a, b) = (pick(rng, &synced_reads), pick(rng, &synced_reads));
                if a == b || h.ops[a].key != h.ops[b].key || h.ops[a].read == h.ops[b].read {
                    continue;
                }
                let (ra, rb) = (h.ops[a].read.take(), h.ops[b].read.take());
                h.ops[a].read = rb;
                h.ops[b].read = ra;
                return format!("#{} and #{} swapped what they read", h.ops[a].id, h.ops[b].id);
            }
            _ => {}
        }
    }
    // Nothing else applied: an update's value nobody wrote, read by a new synced read at the end.
    let end = h.ops.iter().map(|o| o.completed).max().unwrap_or(0) + 10;
    let key = h.ops[0].key.clone();
    let id = h.ops.iter().map(|o| o.id).max().unwrap_or(0) + 1;
    h.ops.push(RegisterOp {
        id,
        process: 0,
        session: String::new(),
        key,
        call: Call::Read,
        invoked: end + 10,
        completed: end + 20,
        outcome: Outcome::Ok,
        read: Some(State::new("never written", 1)),
        version: None,
        zxid: None,
        synced_at: Some(end),
    });
    format!("#{id} added, reading a value never written")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::guarantees;
    use super::super::linearizability::{check, Verdict};
    use super::*;

    #[test]
    fn a_seed_gives_the_same_history() {
        assert_eq!(generate(7), generate(7));
        assert_ne!(generate(7).history, generate(9).history);
        let g = generate(7);
        assert!(g.mutation.is_some());
        let back: Generated = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
        assert_eq!(back, g);
        // The file is a register history too.
        assert_eq!(RegisterHistory::from_json(&serde_json::to_string(&g).unwrap()).unwrap(), g.history);
    }

    #[test]
    fn histories_have_the_promised_shape() {
        for seed in 0..200 {
            let h = generate(seed).history;
            let extra = usize::from(h.ops.iter().any(|o| o.session.is_empty()));
            assert!((5..=20 + extra).contains(&h.ops.len()), "seed {seed}: {} operations", h.ops.len());
            let keys: std::collections::HashSet<_> = h.ops.iter().map(|o| &o.key).collect();
            assert!((1..=3).contains(&keys.len()));
            let processes: std::collections::HashSet<_> = h.ops.iter().map(|o| o.process).collect();
            assert!(processes.len() <= 4);
            // Each process runs one operation at a time.
            for p in processes {
                let mut mine: Vec<_> = h.ops.iter().filter(|o| o.process == p && !o.session.is_empty()).collect();
                mine.sort_by_key(|o| o.invoked);
                for w in mine.windows(2) {
                    assert!(w[0].completed < w[1].synced_at.unwrap_or(w[1].invoked), "seed {seed}: process {p} overlaps itself");
                }
            }
        }
    }

    /// The simulation is legal ZooKeeper: linearizable by construction, and every white-box
    /// guarantee holds, stale reads without sync included.
    #[test]
    fn unmutated_histories_are_linearizable_and_keep_every_guarantee() {
        let mut stale_unsynced = 0;
        for seed in (0..400).step_by(2) {
            let g = generate(seed);
            assert!(g.mutation.is_none());
            let v = check(&g.history, Duration::from_secs(5));
            assert_eq!(v, Verdict::Linearizable, "seed {seed}: {}\n{}", v.describe(), g.history.to_json());
            let judged = guarantees::judge(&g.history);
            assert_eq!(judged, guarantees::Guarantees::default(), "seed {seed}\n{}", g.history.to_json());
            stale_unsynced += usize::from(matches!(
                super::super::linearizability::check_with(&g.history, super::super::linearizability::Reads::All, Duration::from_secs(5)),
                Verdict::NotLinearizable { .. }
            ));
        }
        // The generator does make the stale unsynced reads the checker must not flag.
        assert!(stale_unsynced > 10, "{stale_unsynced} of 200 histories have a stale read without sync");
    }

    #[test]
    fn large_histories_are_legal_zookeeper_too() {
        for seed in (0..40).step_by(2) {
            let g = generate_with(seed, &Shape::LARGE);
            assert!((30..=60).contains(&g.history.ops.len()));
            assert_eq!(check(&g.history, Duration::from_secs(10)), Verdict::Linearizable, "seed {seed}");
            assert_eq!(guarantees::judge(&g.history), guarantees::Guarantees::default(), "seed {seed}");
        }
    }

    #[test]
    fn most_mutated_histories_are_not_linearizable() {
        let broken = (1..400).step_by(2).filter(|&seed| matches!(check(&generate(seed).history, Duration::from_secs(5)), Verdict::NotLinearizable { .. })).count();
        assert!((120..200).contains(&broken), "{broken} of 200 mutated histories not linearizable");
    }
}
