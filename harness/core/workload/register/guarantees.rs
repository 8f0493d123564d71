//! The white-box judges: a register history against what ZooKeeper documents, using what its
//! answers carry (zxids, versions) rather than a search. Each is a pure function over the
//! recorded history; none requires a read without `sync` to be up to date.
//!
//! - [`zxid_order`]: acknowledged writes are totally ordered, consistently with real time.
//! - [`session_order`]: a session never reads older state than it has already seen or written.
//! - [`sync_reads`]: a read after `sync` sees every write acknowledged before the sync began. It
//!   is reported apart: ZooKeeper's sync is not a quorum operation, and a deposed leader that has
//!   not noticed yet can answer one.
//!
//! Only `ok` operations are evidence here: a failed or unknown one says nothing about the order.
//! A rule that needs a version or a zxid the history does not have skips that pair.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::history::{Outcome, RegisterHistory, RegisterOp};

/// One broken promise: the operations involved (ids) and what is wrong with them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breach {
    pub ops: Vec<usize>,
    pub message: String,
}

/// Every white-box judgement of one history.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Guarantees {
    pub zxid_order: Vec<Breach>,
    pub session_order: Vec<Breach>,
    /// Apart from the others: see the module documentation.
    pub sync_reads: Vec<Breach>,
}

impl Guarantees {
    /// The guarantees ZooKeeper makes unconditionally: zxid order and session order.
    pub fn core_held(&self) -> bool {
        self.zxid_order.is_empty() && self.session_order.is_empty()
    }
}

/// All three judgements.
pub fn judge(history: &RegisterHistory) -> Guarantees {
    Guarantees { zxid_order: zxid_order(history), session_order: session_order(history), sync_reads: sync_reads(history) }
}

/// Acknowledged writes and CASes that carry a zxid.
fn acknowledged_updates(history: &RegisterHistory) -> impl Iterator<Item = &RegisterOp> {
    history.ops.iter().filter(|o| o.is_update() && o.outcome == Outcome::Ok)
}

/// Acknowledged writes (on any key) are totally ordered by zxid, and that order agrees with real
/// time: if A completed before B was invoked, zxid(A) < zxid(B). No two share a zxid, and on one
/// key the versions they made grow with their zxids.
pub fn zxid_order(history: &RegisterHistory) -> Vec<Breach> {
    let mut writes: Vec<(&RegisterOp, i64)> = acknowledged_updates(history).filter_map(|o| o.zxid.map(|z| (o, z))).collect();
    let mut breaches = Vec::new();

    let mut by_zxid: HashMap<i64, &RegisterOp> = HashMap::new();
    for (op, z) in &writes {
        if let Some(other) = by_zxid.insert(*z, op) {
            breaches.push(Breach { ops: vec![other.id, op.id], message: format!("{} and {} were both acknowledged with zxid {z:#x}", other.describe(), op.describe()) });
        }
    }

    // By completion: for each write, the highest zxid among writes completed before it began.
    writes.sort_by_key(|(o, _)| (o.completed, o.id));
    let mut highest: Vec<(i64, &RegisterOp)> = Vec::with_capacity(writes.len());
    for (op, z) in &writes {
        let best = highest.last().filter(|(m, _)| *m >= *z).copied().unwrap_or((*z, op));
        highest.push(best);
    }
    for (b, zb) in &writes {
        let before = writes.partition_point(|(a, _)| a.completed < b.invoked);
        if before == 0 {
            continue;
        }
        let (za, a) = highest[before - 1];
        if za >= *zb && a.id != b.id {
            breaches.push(Breach { ops: vec![a.id, b.id], message: format!("{} completed before {} was invoked, yet has zxid {za:#x} >= {zb:#x}", a.describe(), b.describe()) });
        }
    }

    let mut keys: BTreeMap<&str, Vec<(i64, i64, &RegisterOp)>> = BTreeMap::new();
    for (op, z) in &writes {
        if let Some(v) = op.version {
            keys.entry(op.key.as_str()).or_default().push((*z, v, op));
        }
    }
    for list in keys.values_mut() {
        list.sort_by_key(|(z, _, o)| (*z, o.id));
        for pair in list.windows(2) {
            let ((za, va, a), (zb, vb, b)) = (pair[0], pair[1]);
            if za < zb && va >= vb {
                breaches.push(Breach { ops: vec![a.id, b.id], message: format!("{} has zxid {za:#x} < {zb:#x} of {} but made version {va} >= {vb}", a.describe(), b.describe()) });
            }
        }
    }
    breaches
}

/// A session never goes back in time: a read returns a version of its key at least as new as
/// any the session read or wrote before (completed before the read was invoked), and not older
/// than what the session has seen on any key. The second part uses zxids: once a session has seen
/// zxid z, a read that returns a state with mzxid m < z is stale if an acknowledged write of that
/// key has a zxid in (m, z] (the server it read from had applied that write).
pub fn session_order(history: &RegisterHistory) -> Vec<Breach> {
    // Acknowledged writes' zxids per key, sorted, for the cross-key rule.
    let mut written: HashMap<&str, Vec<(i64, &RegisterOp)>> = HashMap::new();
    for op in acknowledged_updates(history) {
        if let Some(z) = op.zxid {
            written.entry(op.key.as_str()).or_default().push((z, op));
        }
    }
    for list in written.values_mut() {
        list.sort_by_key(|(z, o)| (*z, o.id));
    }

    let mut sessions: BTreeMap<&str, Vec<&RegisterOp>> = BTreeMap::new();
    for op in history.ops.iter().filter(|o| o.outcome == Outcome::Ok && !o.session.is_empty()) {
        sessions.entry(op.session.as_str()).or_default().push(op);
    }
    let mut breaches = Vec::new();
    for ops in sessions.values() {
        for read in ops.iter().filter(|o| o.is_read()) {
            let Some(got) = &read.read else { continue };
            let before: Vec<&&RegisterOp> = ops.iter().filter(|o| o.completed < read.invoked).collect();
            // The same key, by version.
            let seen_version =
                before.iter().filter(|o| o.key == read.key).filter_map(|o| o.read.as_ref().map(|s| s.version).or(o.version).map(|v| (v, **o))).max_by_key(|(v, o)| (*v, o.id));
            if let Some((v, by)) = seen_version {
                if got.version < v {
                    breaches.push(Breach {
                        ops: vec![by.id, read.id],
                        message: format!("{} went back to version {} after the session had seen version {v} ({})", read.describe(), got.version, by.describe()),
                    });
                    continue;
                }
            }
            // Any key, by zxid.
            let (Some(m), Some((z, by))) = (read.zxid, before.iter().filter_map(|o| o.zxid.map(|z| (z, **o))).max_by_key(|(z, o)| (*z, o.id))) else { continue };
            if m >= z {
                continue;
            }
            let list = written.get(read.key.as_str()).map(Vec::as_slice).unwrap_or_default();
            let first_newer = list.partition_point(|(w, _)| *w <= m);
            if let Some((w, missed)) = list.get(first_newer).filter(|(w, _)| *w <= z) {
                breaches.push(Breach {
                    ops: vec![by.id, missed.id, read.id],
                    message: format!(
                        "{} returned state with mzxid {m:#x} after the session had seen zxid {z:#x} ({}), missing {} (zxid {w:#x})",
                        read.describe(),
                        by.describe(),
                        missed.describe()
                    ),
                });
            }
        }
    }
    breaches
}

/// A read after `sync` sees every write of its key acknowledged before the sync was invoked:
/// its version is at least theirs (or, for writes without a version, its mzxid at least theirs).
pub fn sync_reads(history: &RegisterHistory) -> Vec<Breach> {
    let mut keys: HashMap<&str, Vec<&RegisterOp>> = HashMap::new();
    for op in acknowledged_updates(history) {
        keys.entry(op.key.as_str()).or_default().push(op);
    }
    let mut breaches = Vec::new();
    for read in history.ops.iter().filter(|o| o.is_read() && o.outcome == Outcome::Ok) {
        let (Some(synced), Some(got)) = (read.synced_at, &read.read) else { continue };
        for w in keys.get(read.key.as_str()).into_iter().flatten().filter(|w| w.completed < synced) {
            let missed = match (w.version, w.zxid, read.zxid) {
                (Some(v), ..) => got.version < v,
                (None, Some(zw), Some(zr)) => zr < zw,
                _ => false,
            };
            if missed {
                breaches.push(Breach {
                    ops: vec![w.id, read.id],
                    message: format!("{} did not see {}, acknowledged before its sync began at {synced}", read.describe(), w.describe()),
                });
                break;
            }
        }
    }
    breaches
}

#[cfg(test)]
mod tests {
    use super::super::history::{Call, State};
    use super::*;

    fn op(id: usize, session: &str, key: &str, call: Call, at: (i64, i64)) -> RegisterOp {
        RegisterOp {
            id,
            process: 0,
            session: session.into(),
            key: key.into(),
            call,
            invoked: at.0,
            completed: at.1,
            outcome: Outcome::Ok,
            read: None,
            version: None,
            zxid: None,
            synced_at: None,
        }
    }

    fn write(id: usize, session: &str, key: &str, value: &str, at: (i64, i64), version: i64, zxid: i64) -> RegisterOp {
        RegisterOp { version: Some(version), zxid: Some(zxid), ..op(id, session, key, Call::Write { value: value.into() }, at) }
    }

    fn read(id: usize, session: &str, key: &str, seen: (&str, i64), at: (i64, i64), mzxid: i64) -> RegisterOp {
        RegisterOp { read: Some(State::new(seen.0, seen.1)), zxid: Some(mzxid), ..op(id, session, key, Call::Read, at) }
    }

    fn history(ops: Vec<RegisterOp>) -> RegisterHistory {
        let h = RegisterHistory { initial: State::default(), ops };
        h.validate().unwrap();
        h
    }

    const Z: i64 = 0x2_0000_0000;

    /// Legal ZooKeeper: two sessions; session B reads through a follower that lags, without a
    /// sync, and sees the value before A's second write; then it syncs and sees the newest.
    fn legal() -> RegisterHistory {
        history(vec![
            write(0, "0xa", "/r/k0", "a1", (0, 10), 1, Z + 1),
            write(1, "0xa", "/r/k1", "b1", (12, 20), 1, Z + 2),
            write(2, "0xa", "/r/k0", "a2", (22, 30), 2, Z + 3),
            read(3, "0xa", "/r/k0", ("a2", 2), (32, 34), Z + 3),
            // Session B: stale but never older than what it has seen.
            read(4, "0xb", "/r/k0", ("a1", 1), (40, 45), Z + 1),
            read(5, "0xb", "/r/k0", ("a1", 1), (46, 50), Z + 1),
            RegisterOp { synced_at: Some(52), ..read(6, "0xb", "/r/k0", ("a2", 2), (55, 60), Z + 3) },
        ])
    }

    #[test]
    fn a_legal_history_with_a_stale_unsynced_read_breaches_nothing() {
        let g = judge(&legal());
        assert_eq!(g, Guarantees::default());
        assert!(g.core_held());
        // Nor does the black-box check call it a violation.
        assert_eq!(super::super::check(&legal(), std::time::Duration::from_secs(5)), super::super::Verdict::Linearizable);
    }

    #[test]
    fn zxids_out_of_real_time_order_are_a_breach() {
        let mut h = legal();
        // The write on k1, invoked after the first write on k0 completed, got a lower zxid.
        h.ops[1].zxid = Some(Z);
        let b = zxid_order(&h);
        assert_eq!(b.len(), 1, "{b:?}");
        assert_eq!(b[0].ops, [0, 1]);
        assert!(b[0].message.contains("yet has zxid 0x200000001 >= 0x200000000"), "{}", b[0].message);
        // Concurrent writes may commit in either order.
        h.ops[1].invoked = 5;
        assert_eq!(zxid_order(&h), []);
    }

    #[test]
    fn a_shared_zxid_or_versions_against_zxids_are_a_breach() {
        let mut h = legal();
        h.ops[1].zxid = Some(Z + 3);
        h.ops[1].invoked = 25;
        h.ops[1].completed = 29;
        let b = zxid_order(&h);
        assert!(b.iter().any(|b| b.message.contains("both acknowledged with zxid 0x200000003")), "{b:?}");

        let mut h = legal();
        // Version 1 made after version 2 by zxid, though the writes were concurrent.
        h.ops[2].invoked = 5;
        h.ops[0].zxid = Some(Z + 4);
        h.ops[0].completed = 31;
        let b = zxid_order(&h);
        assert_eq!(b.len(), 1, "{b:?}");
        assert!(b[0].message.contains("made version 2 >= 1"), "{}", b[0].message);
    }

    #[test]
    fn a_session_going_back_on_a_key_is_a_breach() {
        let mut h = legal();
        // Session B, having read version 1, reads version 0.
        h.ops[5].read = Some(State::new("", 0));
        h.ops[5].zxid = Some(0);
        let b = session_order(&h);
        assert_eq!(b.len(), 1, "{b:?}");
        assert_eq!(b[0].ops, [4, 5]);
        assert!(b[0].message.contains("went back to version 0 after the session had seen version 1"), "{}", b[0].message);

        // Read-your-writes: session A reads k0 older than its own acknowledged write.
        let mut h = legal();
        h.ops[3].read = Some(State::new("a1", 1));
        h.ops[3].zxid = Some(Z + 1);
        let b = session_order(&h);
        assert_eq!(b.len(), 1, "{b:?}");
        assert_eq!(b[0].ops, [2, 3]);
    }

    #[test]
    fn a_session_reading_older_than_a_zxid_it_saw_on_another_key_is_a_breach() {
        // Session B reads k1 (zxid Z+2) then k0 at version 0: the server that answered had applied
        // zxid Z+2, hence the write of k0 with zxid Z+1 too.
        let mut h = legal();
        h.ops.truncate(4);
        h.ops.push(read(4, "0xb", "/r/k1", ("b1", 1), (40, 45), Z + 2));
        h.ops.push(read(5, "0xb", "/r/k0", ("", 0), (46, 50), 0));
        let b = session_order(&h);
        assert_eq!(b.len(), 1, "{b:?}");
        assert_eq!(b[0].ops, [4, 0, 5]);
        assert!(b[0].message.contains("missing #0"), "{}", b[0].message);
        // k0 at version 1 (mzxid Z+1) is as new as the server at Z+2 can have it: fine.
        h.ops[5].read = Some(State::new("a1", 1));
        h.ops[5].zxid = Some(Z + 1);
        assert_eq!(session_order(&h), []);
        // Another session may read older state: nothing promised across sessions.
        h.ops[5].read = Some(State::new("", 0));
        h.ops[5].zxid = Some(0);
        h.ops[5].session = "0xc".into();
        assert_eq!(session_order(&h), []);
    }

    #[test]
    fn a_synced_read_missing_an_acknowledged_write_is_a_sync_breach() {
        let mut h = legal();
        // B's sync began at 52, after A's second write was acknowledged at 30; it read version 1.
        h.ops[6].read = Some(State::new("a1", 1));
        h.ops[6].zxid = Some(Z + 1);
        let g = judge(&h);
        assert_eq!(g.sync_reads.len(), 1, "{g:?}");
        assert_eq!(g.sync_reads[0].ops, [2, 6]);
        assert!(g.sync_reads[0].message.contains("acknowledged before its sync began at 52"), "{}", g.sync_reads[0].message);
        // Reported apart: the core guarantees still hold.
        assert!(g.core_held(), "{g:?}");
        // A write acknowledged after the sync began need not be seen, nor one acknowledged at
        // the instant it began (closed intervals: the two overlap).
        h.ops[6].synced_at = Some(25);
        assert_eq!(sync_reads(&h), []);
        h.ops[6].synced_at = Some(30);
        assert_eq!(sync_reads(&h), []);
        // Only reads that returned are judged.
        h.ops[6].synced_at = Some(52);
        assert_eq!(sync_reads(&h).len(), 1);
        h.ops[6].outcome = Outcome::Unknown;
        assert_eq!(sync_reads(&h), []);
        // Without versions, the zxids decide.
        let mut h = legal();
        h.ops[2].version = None;
        h.ops[6].read = Some(State::new("a1", 1));
        h.ops[6].zxid = Some(Z + 1);
        assert_eq!(sync_reads(&h).len(), 1);
        h.ops[6].zxid = None;
        assert_eq!(sync_reads(&h), [], "nothing to judge by");
    }

    /// Killing the mutation test's survivors: each of the two core rules fails `core_held` alone.
    #[test]
    fn either_core_breach_alone_fails_core_held() {
        let mut zxid = legal();
        zxid.ops[1].zxid = Some(Z);
        let g = judge(&zxid);
        assert!(!g.zxid_order.is_empty() && g.session_order.is_empty(), "{g:?}");
        assert!(!g.core_held());
        let mut session = legal();
        session.ops[5].read = Some(State::new("", 0));
        session.ops[5].zxid = Some(0);
        let g = judge(&session);
        assert!(g.zxid_order.is_empty() && !g.session_order.is_empty(), "{g:?}");
        assert!(!g.core_held());
    }

    /// The real-time rule compares against the highest zxid of every write completed before, not
    /// the last one to complete: A (zxid +5) and C (zxid +3) were concurrent, C completed last,
    /// and D, invoked after both, got zxid +4: below A's.
    #[test]
    fn the_real_time_rule_takes_the_highest_earlier_zxid() {
        let h = history(vec![write(0, "0xa", "/r/a", "a", (0, 10), 1, Z + 5), write(1, "0xc", "/r/c", "c", (1, 12), 1, Z + 3), write(2, "0xd", "/r/d", "d", (20, 25), 1, Z + 4)]);
        let b = zxid_order(&h);
        assert_eq!(b.len(), 1, "{b:?}");
        assert_eq!(b[0].ops, [0, 2]);
    }

    /// Intervals are closed, as in the linearizability check: an operation that completed at the
    /// instant another was invoked is concurrent with it, not before it.
    #[test]
    fn completing_at_the_instant_of_an_invocation_orders_nothing() {
        // A write acknowledged at 10 and another invoked at 10 may commit in either order.
        let h = history(vec![write(0, "0xa", "/r/a", "a", (0, 10), 1, Z + 2), write(1, "0xb", "/r/b", "b", (10, 15), 1, Z + 1)]);
        assert_eq!(zxid_order(&h), []);
        // A session's read invoked at the instant its earlier read completed may be the older.
        let h = history(vec![write(0, "0xa", "/r/k", "a1", (0, 5), 1, Z + 1), read(1, "0xb", "/r/k", ("a1", 1), (6, 10), Z + 1), read(2, "0xb", "/r/k", ("", 0), (10, 12), 0)]);
        assert_eq!(session_order(&h), []);
    }

    /// Two writes acknowledged with one zxid are one breach, not also a breach of the version rule.
    #[test]
    fn a_shared_zxid_is_one_breach() {
        let h = history(vec![write(0, "0xa", "/r/k", "a", (0, 10), 2, Z + 1), write(1, "0xb", "/r/k", "b", (0, 10), 1, Z + 1)]);
        let b = zxid_order(&h);
        assert_eq!(b.len(), 1, "{b:?}");
        assert!(b[0].message.contains("both acknowledged with zxid"), "{}", b[0].message);
    }

    #[test]
    fn failed_and_unknown_operations_are_no_evidence() {
        let mut h = legal();
        h.ops[1].zxid = Some(Z);
        h.ops[1].outcome = Outcome::Unknown;
        h.ops[2].outcome = Outcome::Failed;
        h.ops[3].read = Some(State::new("a1", 1));
        h.ops[3].zxid = Some(Z + 1);
        h.ops[6].read = Some(State::new("a1", 1));
        assert_eq!(judge(&h), Guarantees::default());
    }
}
