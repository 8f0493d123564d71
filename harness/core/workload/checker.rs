//! The checker: judges a recorded [`History`] against the ensemble's final state, read once the
//! ensemble recovered. It does not poke the system while judging: [`read_final_state`] is the
//! only call that talks to ZooKeeper, and [`check`] works on recorded facts alone.
//!
//! - Lost: an acknowledged write that is missing afterwards, or holds another value.
//! - Phantom: a write that definitely failed but whose value is present afterwards.
//! - Stale read: a session read a pzxid or cversion older than one it had already seen (its own
//!   acknowledged writes included). ZooKeeper promises a session never goes back in time, even
//!   when it moves to another server; it promises nothing across sessions.
//! - Unknown outcomes are neither lost nor present: either is allowed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use zookeeper_client as zk;

use super::history::{History, Op, OpKind, Outcome};
use crate::client::{self, hex_zxid};
use crate::report::model::{WorkloadBucket, WorkloadSummary};
use crate::wait::{self, Seen};

/// Every znode under `{prefix}/workload/*/` and its value, as read after recovery.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FinalState {
    pub values: BTreeMap<String, String>,
    pub read_at: Option<DateTime<Utc>>,
}

/// Reads every znode the workload could have written, through a session on any of `addrs`,
/// after a `sync` (so a lagging follower cannot hide a write). Retries until `timeout`: right
/// after a fault the ensemble may still be electing.
///
/// # Errors
/// When no complete read succeeded within `timeout`, with the last error.
pub async fn read_final_state(addrs: &[SocketAddr], prefix: &str, timeout: Duration) -> anyhow::Result<FinalState> {
    let root = format!("{prefix}/workload");
    let start = Instant::now();
    wait::until(&format!("the final state of {root}"), timeout, None, || {
        let root = root.clone();
        let left = timeout.saturating_sub(start.elapsed()).max(Duration::from_secs(1));
        async move {
            let read = tokio::time::timeout(left, read_once(addrs, &root, left)).await;
            Ok(match read {
                Ok(Ok(state)) => Seen::Done(state),
                Ok(Err(e)) => Seen::NotYet(format!("{e:#}")),
                Err(_) => Seen::NotYet(format!("no complete read within {}", humantime::format_duration(left))),
            })
        }
    })
    .await
}

async fn read_once(addrs: &[SocketAddr], root: &str, timeout: Duration) -> anyhow::Result<FinalState> {
    let zk = client::connect_any(addrs, client::SESSION_TIMEOUT, timeout).await?;
    match zk.sync(root).await {
        Ok(()) | Err(zk::Error::NoNode) => {}
        Err(e) => return Err(e).with_context(|| format!("sync {root}")),
    }
    let folders = match zk.list_children(root).await {
        Ok(f) => f,
        Err(zk::Error::NoNode) => return Ok(FinalState { values: BTreeMap::new(), read_at: Some(Utc::now()) }),
        Err(e) => return Err(e).with_context(|| format!("list {root}")),
    };
    let mut paths = Vec::new();
    for f in folders {
        let folder = format!("{root}/{f}");
        let children = zk.list_children(&folder).await.with_context(|| format!("list {folder}"))?;
        paths.extend(children.into_iter().map(|c| format!("{folder}/{c}")));
    }
    // Pipelined on the one session: thousands of znodes read in a second or two.
    let zk = &zk;
    let values: BTreeMap<String, String> = futures::stream::iter(paths)
        .map(|p| async move {
            let (data, _) = zk.get_data(&p).await.with_context(|| format!("get {p}"))?;
            anyhow::Ok((p, String::from_utf8_lossy(&data).into_owned()))
        })
        .buffer_unordered(64)
        .try_collect()
        .await?;
    Ok(FinalState { values, read_at: Some(Utc::now()) })
}

/// How to judge: the width of the series' buckets and the moment they count from.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub bucket: Duration,
    pub origin: DateTime<Utc>,
}

/// What the checker found.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub acknowledged: u64,
    pub failed: u64,
    pub unknown: u64,
    /// Acknowledged writes, of `acknowledged`.
    pub acknowledged_writes: u64,
    pub lost: Vec<String>,
    pub phantoms: Vec<String>,
    pub stale_reads: Vec<String>,
    pub unavailable_ms: Option<u64>,
    pub ops_per_second: f64,
    pub series: Vec<WorkloadBucket>,
}

impl Judgement {
    /// No acknowledged write lost, no failed write present, every session's reads monotonic.
    pub fn passed(&self) -> bool {
        self.lost.is_empty() && self.phantoms.is_empty() && self.stale_reads.is_empty()
    }

    /// The evidence on a pass, or everything that was wrong (the first 10 of each kind).
    pub fn describe(&self) -> String {
        let counts = format!(
            "{} acknowledged ({} writes), {} failed, {} unknown; {:.1} ops/s; unavailable {}",
            self.acknowledged,
            self.acknowledged_writes,
            self.failed,
            self.unknown,
            self.ops_per_second,
            self.unavailable_ms.map_or("never".to_string(), |ms| format!("{ms} ms at most"))
        );
        if self.passed() {
            return format!("{counts}; every acknowledged write present with its value, reads monotonic in every session");
        }
        let mut parts = Vec::new();
        for (what, list) in [("lost acknowledged writes", &self.lost), ("failed writes present", &self.phantoms), ("stale reads", &self.stale_reads)] {
            if !list.is_empty() {
                let more = if list.len() > 10 { format!(" (and {} more)", list.len() - 10) } else { String::new() };
                parts.push(format!("{} {what}: {}{more}", list.len(), list.iter().take(10).cloned().collect::<Vec<_>>().join("; ")));
            }
        }
        format!("{}. {counts}", parts.join(". "))
    }

    pub fn summary(&self, history_file: &str) -> WorkloadSummary {
        WorkloadSummary {
            acknowledged: self.acknowledged,
            failed: self.failed,
            unknown: self.unknown,
            lost: self.lost.iter().chain(&self.phantoms).cloned().collect(),
            stale_reads: self.stale_reads.clone(),
            unavailable_ms: self.unavailable_ms,
            ops_per_second: self.ops_per_second,
            series: self.series.clone(),
            history_file: history_file.to_string(),
        }
    }
}

/// Judges `history` against `final_state`.
pub fn check(history: &History, final_state: &FinalState, opts: &CheckOptions) -> Judgement {
    let ops = &history.ops;
    Judgement {
        acknowledged: history.count(Outcome::Acknowledged),
        failed: history.count(Outcome::Failed),
        unknown: history.count(Outcome::Unknown),
        acknowledged_writes: ops.iter().filter(|o| o.kind == OpKind::Write && o.outcome == Outcome::Acknowledged).count() as u64,
        lost: lost_writes(ops, final_state),
        phantoms: phantom_writes(ops, final_state),
        stale_reads: stale_reads(ops),
        unavailable_ms: longest_unavailable_ms(ops),
        ops_per_second: ops_per_second(ops),
        series: buckets(ops, opts),
    }
}

/// Acknowledged writes missing from the final state, or holding another value.
pub fn lost_writes(ops: &[Op], final_state: &FinalState) -> Vec<String> {
    let mut lost = Vec::new();
    for op in ops.iter().filter(|o| o.kind == OpKind::Write && o.outcome == Outcome::Acknowledged) {
        let zxid = op.zxid.map(|z| format!(", czxid {}", hex_zxid(z))).unwrap_or_default();
        match final_state.values.get(&op.path) {
            None => lost.push(format!("{} acknowledged{zxid}, missing after recovery", op.describe())),
            Some(v) if *v != op.value => lost.push(format!("{} acknowledged{zxid}, reads {:?} after recovery", op.describe(), v.trim_end_matches('.'))),
            Some(_) => {}
        }
    }
    lost
}

/// Writes that definitely failed but whose (unique) value is present.
pub fn phantom_writes(ops: &[Op], final_state: &FinalState) -> Vec<String> {
    let present: HashMap<&str, &str> = final_state.values.iter().map(|(p, v)| (v.as_str(), p.as_str())).collect();
    ops.iter()
        .filter(|o| o.kind == OpKind::Write && o.outcome == Outcome::Failed)
        .filter_map(|o| present.get(o.value.as_str()).map(|p| format!("{} failed ({}), yet {p} holds its value", o.describe(), o.error.as_deref().unwrap_or("?"))))
        .collect()
}

/// Reads older than something the same session had already seen.
pub fn stale_reads(ops: &[Op]) -> Vec<String> {
    // Per session: the highest zxid and counter seen, and the operation that showed each.
    type Highest<'a> = Option<(i64, &'a Op)>;
    let mut seen: HashMap<&str, (Highest, Highest)> = HashMap::new();
    let mut stale = Vec::new();
    let mut order: Vec<&Op> = ops.iter().filter(|o| o.outcome == Outcome::Acknowledged && !o.session.is_empty()).collect();
    // One worker runs one operation at a time: within a session, completion order is program order.
    order.sort_by_key(|o| (o.completed, o.invoked));
    for op in order {
        let (max_zxid, max_counter) = seen.entry(op.session.as_str()).or_default();
        if op.kind == OpKind::Read {
            if let (Some(z), Some((max, by))) = (op.zxid, *max_zxid) {
                if z < max {
                    stale.push(format!("{} saw pzxid {} after the session had seen {} ({})", op.describe(), hex_zxid(z), hex_zxid(max), by.describe()));
                }
            }
            if let (Some(c), Some((max, by))) = (op.counter, *max_counter) {
                if c < max {
                    stale.push(format!("{} saw cversion {c} after the session had seen {max} ({})", op.describe(), by.describe()));
                }
            }
            if let Some(c) = op.counter {
                if max_counter.is_none_or(|(m, _)| c > m) {
                    *max_counter = Some((c, op));
                }
            }
        }
        if let Some(z) = op.zxid {
            if max_zxid.is_none_or(|(m, _)| z > m) {
                *max_zxid = Some((z, op));
            }
        }
    }
    stale
}

/// The longest time from invoking an operation that failed (or whose outcome is unknown) to
/// the completion of the first acknowledged operation that completed after it, by any worker.
/// With no success after it, the window runs to the end of the history. `None`: nothing failed.
pub fn longest_unavailable_ms(ops: &[Op]) -> Option<u64> {
    let mut oks: Vec<DateTime<Utc>> = ops.iter().filter(|o| o.outcome == Outcome::Acknowledged).map(|o| o.completed).collect();
    oks.sort();
    let end = ops.iter().map(|o| o.completed).max()?;
    ops.iter()
        .filter(|o| o.outcome != Outcome::Acknowledged)
        .map(|f| {
            let i = oks.partition_point(|t| *t <= f.completed);
            let until = oks.get(i).copied().unwrap_or(end);
            (until - f.invoked).num_milliseconds().max(0) as u64
        })
        .max()
}

/// Acknowledged operations per second, from the first invocation to the last completion.
pub fn ops_per_second(ops: &[Op]) -> f64 {
    let (Some(first), Some(last)) = (ops.iter().map(|o| o.invoked).min(), ops.iter().map(|o| o.completed).max()) else {
        return 0.0;
    };
    let secs = (last - first).num_microseconds().unwrap_or(0) as f64 / 1e6;
    let ok = ops.iter().filter(|o| o.outcome == Outcome::Acknowledged).count() as f64;
    if secs > 0.0 {
        ok / secs
    } else {
        0.0
    }
}

/// Outcomes per bucket of completion time from `opts.origin`, every bucket from 0 to the last
/// one with an operation (empty ones included, so a gap shows as a gap). Operations completed
/// before the origin count in the first bucket.
pub fn buckets(ops: &[Op], opts: &CheckOptions) -> Vec<WorkloadBucket> {
    let width = opts.bucket.as_millis().max(1) as i64;
    let mut series: Vec<WorkloadBucket> = Vec::new();
    for op in ops {
        let i = ((op.completed - opts.origin).num_milliseconds().max(0) / width) as usize;
        while series.len() <= i {
            let offset_ms = (series.len() as i64 * width) as u64;
            series.push(WorkloadBucket { offset_ms, ok: 0, failed: 0, unknown: 0 });
        }
        match op.outcome {
            Outcome::Acknowledged => series[i].ok += 1,
            Outcome::Failed => series[i].failed += 1,
            Outcome::Unknown => series[i].unknown += 1,
        }
    }
    series
}

/// The sessions a history used (for messages).
pub fn sessions(history: &History) -> usize {
    history.ops.iter().map(|o| o.session.as_str()).filter(|s| !s.is_empty()).collect::<HashSet<_>>().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    fn write(worker: u32, session: &str, at: i64, took: i64, outcome: Outcome, seq: u32, zxid: Option<i64>) -> Op {
        Op {
            worker,
            session: session.into(),
            kind: OpKind::Write,
            invoked: t(at),
            completed: t(at + took),
            outcome,
            path: if outcome == Outcome::Acknowledged { format!("/p/workload/w{worker}/op-{seq:010}") } else { format!("/p/workload/w{worker}") },
            value: format!("w{worker}-{seq:06}"),
            zxid,
            counter: None,
            error: (outcome != Outcome::Acknowledged).then(|| "connection to server has lost".to_string()),
        }
    }

    fn read(worker: u32, session: &str, at: i64, took: i64, pzxid: i64, cversion: i64) -> Op {
        Op {
            worker,
            session: session.into(),
            kind: OpKind::Read,
            invoked: t(at),
            completed: t(at + took),
            outcome: Outcome::Acknowledged,
            path: format!("/p/workload/w{worker}"),
            value: String::new(),
            zxid: Some(pzxid),
            counter: Some(cversion),
            error: None,
        }
    }

    fn state(entries: &[(&str, &str)]) -> FinalState {
        FinalState { values: entries.iter().map(|(p, v)| (p.to_string(), v.to_string())).collect(), read_at: Some(t(100_000)) }
    }

    fn opts() -> CheckOptions {
        CheckOptions { bucket: Duration::from_secs(1), origin: t(0) }
    }

    /// Two acknowledged writes and a read that saw both, all present afterwards.
    fn healthy() -> (History, FinalState) {
        let h = History::new(vec![
            write(0, "0x1", 0, 5, Outcome::Acknowledged, 0, Some(0x100000010)),
            write(0, "0x1", 10, 5, Outcome::Acknowledged, 1, Some(0x100000012)),
            read(0, "0x1", 20, 2, 0x100000012, 2),
        ]);
        let s = state(&[("/p/workload/w0/op-0000000000", "w0-000000"), ("/p/workload/w0/op-0000000001", "w0-000001")]);
        (h, s)
    }

    #[test]
    fn a_healthy_history_passes() {
        let (h, s) = healthy();
        let j = check(&h, &s, &opts());
        assert!(j.passed(), "{}", j.describe());
        assert_eq!((j.acknowledged, j.failed, j.unknown, j.acknowledged_writes), (3, 0, 0, 2));
        assert_eq!(j.unavailable_ms, None);
        assert!(j.describe().contains("reads monotonic"), "{}", j.describe());
    }

    #[test]
    fn a_failing_description_lists_ten_of_each_kind_and_counts_the_rest() {
        let (h, s) = healthy();
        let mut j = check(&h, &s, &opts());
        j.lost = (0..10).map(|i| format!("w{i}")).collect();
        let ten = j.describe();
        assert!(ten.starts_with("10 lost acknowledged writes: w0; w1; w2; w3; w4; w5; w6; w7; w8; w9. 3 acknowledged"), "{ten}");
        assert!(!ten.contains("more)"), "{ten}");
        j.lost.push("w10".into());
        j.stale_reads = vec!["r0".into()];
        let eleven = j.describe();
        assert!(eleven.starts_with("11 lost acknowledged writes: w0; w1; w2; w3; w4; w5; w6; w7; w8; w9 (and 1 more). 1 stale reads: r0. 3 acknowledged"), "{eleven}");
        assert!(!eleven.contains("w10"), "{eleven}");
    }

    #[test]
    fn a_lost_acknowledged_write_fails_naming_it() {
        let (h, mut s) = healthy();
        s.values.remove("/p/workload/w0/op-0000000001");
        let j = check(&h, &s, &opts());
        assert!(!j.passed());
        assert_eq!(j.lost.len(), 1, "{:?}", j.lost);
        assert!(j.lost[0].contains("/p/workload/w0/op-0000000001") && j.lost[0].contains("w0-000001") && j.lost[0].contains("missing"), "{}", j.lost[0]);
        assert!(j.describe().starts_with("1 lost acknowledged writes"), "{}", j.describe());

        // Present with another value is lost too.
        let (h, mut s) = healthy();
        s.values.insert("/p/workload/w0/op-0000000000".into(), "w9-000009".into());
        let j = check(&h, &s, &opts());
        assert_eq!(j.lost.len(), 1);
        assert!(j.lost[0].contains("reads \"w9-000009\""), "{}", j.lost[0]);
        assert_eq!(j.summary("s/h.jsonl").lost, j.lost);
    }

    #[test]
    fn a_stale_read_fails_naming_what_the_session_had_seen() {
        let (mut h, s) = healthy();
        // Read on the same session after the second write, but showing only the first.
        h.ops.push(read(0, "0x1", 30, 2, 0x100000010, 1));
        let j = check(&h, &s, &opts());
        assert!(!j.passed());
        assert_eq!(j.stale_reads.len(), 2, "pzxid and cversion both went back: {:?}", j.stale_reads);
        assert!(j.stale_reads[0].contains("saw pzxid 0x100000010 after the session had seen 0x100000012"), "{}", j.stale_reads[0]);
        assert!(j.stale_reads[1].contains("saw cversion 1 after the session had seen 2"), "{}", j.stale_reads[1]);

        // A read that misses its own session's acknowledged write is stale as well.
        let h = History::new(vec![write(0, "0x1", 0, 5, Outcome::Acknowledged, 0, Some(0x200000003)), read(0, "0x1", 10, 2, 0x200000001, 0)]);
        let j = check(&h, &state(&[("/p/workload/w0/op-0000000000", "w0-000000")]), &opts());
        assert_eq!(j.stale_reads.len(), 1, "{:?}", j.stale_reads);
    }

    #[test]
    fn reads_are_judged_against_the_newest_state_the_session_saw_first() {
        // cversion 5 seen first by the read at 10, again at 20, then 7, then 6: only the last is
        // stale, and each message names the first read that showed what was seen.
        let h = vec![read(0, "0x1", 10, 1, 0x10, 5), read(0, "0x1", 20, 1, 0x10, 5), read(0, "0x1", 30, 1, 0x10, 7), read(0, "0x1", 40, 1, 0x10, 6)];
        let stale = stale_reads(&h);
        assert_eq!(stale.len(), 1, "{stale:?}");
        assert!(stale[0].contains("saw cversion 6 after the session had seen 7") && stale[0].contains(&h[2].describe()), "{}", stale[0]);
        let again = vec![read(0, "0x1", 10, 1, 0x10, 5), read(0, "0x1", 20, 1, 0x10, 5), read(0, "0x1", 30, 1, 0x10, 4)];
        let stale = stale_reads(&again);
        assert_eq!(stale.len(), 1, "{stale:?}");
        assert!(stale[0].ends_with(&format!("({})", again[0].describe())), "the first read that showed 5: {}", stale[0]);
        // The same with zxids: 0x10 first seen by the write, then again by a read.
        let z = vec![write(0, "0x1", 0, 1, Outcome::Acknowledged, 0, Some(0x10)), read(0, "0x1", 10, 1, 0x10, 1), read(0, "0x1", 20, 1, 0x0f, 1)];
        let stale = stale_reads(&z);
        assert_eq!(stale.len(), 1, "{stale:?}");
        assert!(stale[0].ends_with(&format!("({})", z[0].describe())), "{}", stale[0]);
    }

    #[test]
    fn only_acknowledged_operations_of_a_session_are_evidence() {
        // Equal state twice is not older.
        assert!(stale_reads(&[read(0, "0x1", 10, 1, 0x10, 5), read(0, "0x1", 20, 1, 0x10, 5)]).is_empty());
        // A failed operation's zxid is no evidence of what the session saw.
        let failed = write(0, "0x1", 0, 1, Outcome::Failed, 0, Some(0x20));
        assert!(stale_reads(&[failed, read(0, "0x1", 10, 1, 0x10, 1)]).is_empty());
        // Operations with no session (before one was established) are not one session.
        assert!(stale_reads(&[read(0, "", 10, 1, 0x20, 5), read(1, "", 20, 1, 0x10, 1)]).is_empty());
    }

    #[test]
    fn throughput_and_sessions_count_what_was_done() {
        let (h, _) = healthy();
        assert_eq!(sessions(&h), 1);
        let two = History::new(vec![read(0, "0x1", 0, 1, 1, 1), read(1, "0x2", 0, 1, 1, 1), read(2, "", 0, 1, 1, 1)]);
        assert_eq!(sessions(&two), 2, "no session is not a session");
        // 3 acknowledged from 0 to 22 ms.
        assert!((ops_per_second(&h.ops) - 3.0 / 0.022).abs() < 1e-6, "{}", ops_per_second(&h.ops));
        assert_eq!(ops_per_second(&[read(0, "0x1", 5, 0, 1, 1)]), 0.0, "no time passed: no rate");
        assert_eq!(ops_per_second(&[]), 0.0);
    }

    #[test]
    fn another_session_may_read_older_state() {
        // After its session expired, worker 0 reads on a new session through a lagging member:
        // ZooKeeper promises nothing across sessions, so this is not stale.
        let (mut h, s) = healthy();
        h.ops.push(read(0, "0x2", 30, 2, 0x100000010, 1));
        let j = check(&h, &s, &opts());
        assert!(j.passed(), "{}", j.describe());
    }

    #[test]
    fn an_unknown_write_may_be_absent_or_present() {
        let (mut h, mut s) = healthy();
        h.ops.push(write(0, "0x1", 30, 15_000, Outcome::Unknown, 2, None));
        let absent = check(&h, &s, &opts());
        assert!(absent.passed(), "{}", absent.describe());
        assert_eq!(absent.unknown, 1);
        s.values.insert("/p/workload/w0/op-0000000002".into(), "w0-000002".into());
        let present = check(&h, &s, &opts());
        assert!(present.passed(), "{}", present.describe());
    }

    #[test]
    fn a_failed_write_that_is_present_fails() {
        let (mut h, mut s) = healthy();
        let mut f = write(1, "", 30, 1, Outcome::Failed, 0, None);
        f.error = Some("no session: no available hosts".into());
        h.ops.push(f);
        assert!(check(&h, &s, &opts()).passed());
        s.values.insert("/p/workload/w1/op-0000000000".into(), "w1-000000".into());
        let j = check(&h, &s, &opts());
        assert_eq!(j.phantoms.len(), 1, "{}", j.describe());
        assert!(j.phantoms[0].contains("/p/workload/w1/op-0000000000 holds its value"), "{}", j.phantoms[0]);
    }

    #[test]
    fn unavailability_runs_from_the_first_failure_to_the_next_success() {
        let h = History::new(vec![
            write(0, "0x1", 0, 10, Outcome::Acknowledged, 0, Some(1)),
            // Worker 0 loses its connection at 1000 (invoked), then times out again until 4000.
            write(0, "0x1", 1_000, 1_500, Outcome::Unknown, 1, None),
            write(0, "0x1", 2_500, 1_500, Outcome::Unknown, 2, None),
            // Worker 1 fails once at 3000, then the first success anywhere completes at 4200.
            write(1, "", 3_000, 5, Outcome::Failed, 0, None),
            write(1, "0x2", 4_100, 100, Outcome::Acknowledged, 1, Some(5)),
            // A short blip later: 50 ms.
            write(1, "0x2", 6_000, 20, Outcome::Unknown, 2, None),
            write(0, "0x3", 6_000, 50, Outcome::Acknowledged, 3, Some(7)),
        ]);
        assert_eq!(longest_unavailable_ms(&h.ops), Some(3_200));
        assert_eq!(longest_unavailable_ms(&h.ops[..1]), None);
        // No success after the failure: unavailable until the history ends.
        assert_eq!(longest_unavailable_ms(&h.ops[..3]), Some(3_000));
    }

    #[test]
    fn buckets_count_by_completion_from_the_origin_with_gaps() {
        let h = History::new(vec![
            write(0, "0x1", -500, 100, Outcome::Acknowledged, 0, Some(1)),
            write(0, "0x1", 100, 200, Outcome::Acknowledged, 1, Some(2)),
            write(0, "0x1", 900, 150, Outcome::Unknown, 2, None),
            write(1, "", 1_200, 10, Outcome::Failed, 0, None),
            write(1, "0x2", 3_000, 10, Outcome::Acknowledged, 1, Some(3)),
        ]);
        let b = buckets(&h.ops, &opts());
        let got: Vec<_> = b.iter().map(|b| (b.offset_ms, b.ok, b.failed, b.unknown)).collect();
        assert_eq!(got, [(0, 2, 0, 0), (1000, 0, 1, 1), (2000, 0, 0, 0), (3000, 1, 0, 0)]);
        let j = check(&h, &state(&[]), &CheckOptions { bucket: Duration::from_millis(500), origin: t(0) });
        assert_eq!(j.series.len(), 7);
        // 3 acknowledged over 3510 ms (first invocation -500, last completion 3010).
        assert!((j.ops_per_second - 3.0 / 3.51).abs() < 1e-9, "{}", j.ops_per_second);
    }
}
