//! Serving quorum, not readiness: a sampler that asks every member what it is (its platform
//! status, Ready among it, and what its server says: mode, zxid, and for a leader its synced
//! followers), at least every [`SAMPLE_EVERY`], and pure judgements over the samples: whether a
//! leader served with a majority counting it as theirs, and how long a member was Ready while
//! not serving.
//!
//! # Caveats
//! A sample is one round of concurrent looks that start together and end within the per-look
//! deadline; it is timed by when it started. Looks overlap (a slow member does not delay the next
//! round), so samples can complete out of order: [`Sampler::samples`] sorts them. A sampler
//! dropped before it is stopped (the run interrupted) saves what it has, where
//! [`Sampler::save_on_drop`] says, with blocking writes inside `Drop`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::client::fourlw::Mode;
use crate::ensemble::EnsembleView;
use crate::platform::Platform;

/// How often a round of looks starts: within the 250 ms with room for a late round (on a loaded
/// machine 200 ms left 2 gaps of 1250 over 250 ms).
pub const SAMPLE_EVERY: Duration = Duration::from_millis(150);
/// How long one look at one member may take: short, so a member hanging while it shuts down costs
/// its own reading, never the next round.
pub const LOOK_TIMEOUT: Duration = Duration::from_millis(1500);
/// Rounds that may be out at once: enough that a member which holds every look for the whole
/// [`LOOK_TIMEOUT`] (a Docker container being stopped accepts on its published port and never
/// answers) does not hold back the next round. With 4, rounds stopped starting for up to 1.05 s
/// beside such a member (certify --data 64MiB on Docker, CI load). Bounded all the same: on
/// Kubernetes each look is a port-forwarded exchange.
const IN_FLIGHT: usize = (LOOK_TIMEOUT.as_millis() / SAMPLE_EVERY.as_millis()) as usize + 1;
/// The file, in a suite's folder, that holds its samples.
pub const SAMPLES_FILE: &str = "serving-samples.jsonl";

/// What one member's server said in one sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Said {
    /// It serves clients in this mode at this zxid; a leader with `mntr` whitelisted gives its
    /// synced followers; `mntr_hidden`: the leader's whitelist refuses `mntr`.
    Serving { mode: Mode, zxid: i64, synced_followers: Option<u32>, mntr_hidden: bool },
    /// It answers, and says it is not currently serving requests (electing, syncing).
    NotServing,
    /// No answer (not running, refused, timed out).
    Down { why: String },
}

/// One member in one sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reading {
    pub member: String,
    pub running: bool,
    pub ready: bool,
    pub said: Said,
}

/// One round of looks at every member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub members: Vec<Reading>,
}

impl Sample {
    pub fn from_view(at: DateTime<Utc>, view: &EnsembleView) -> Sample {
        let members = view
            .members
            .iter()
            .map(|m| Reading {
                member: m.status.name.clone(),
                running: m.status.running,
                ready: m.status.ready,
                said: match &m.server {
                    Ok(Some(s)) => Said::Serving { mode: s.mode, zxid: s.zxid, synced_followers: s.synced_followers, mntr_hidden: s.sync_unobserved.is_some() },
                    Ok(None) => Said::NotServing,
                    Err(e) => Said::Down { why: e.clone() },
                },
            })
            .collect();
        Sample { at, members }
    }

    /// `zk-0 follower e1 ready; zk-1 leader e1 (2 synced) ready; zk-2 not serving ready`
    pub fn describe(&self) -> String {
        self.members
            .iter()
            .map(|r| {
                let said = match &r.said {
                    Said::Serving { mode, zxid, synced_followers, mntr_hidden } => {
                        let sync = match (synced_followers, mntr_hidden) {
                            (Some(n), _) => format!(" ({n} synced)"),
                            (None, true) => " (mntr hidden)".into(),
                            _ => String::new(),
                        };
                        format!("{} epoch {}{sync}", format!("{mode:?}").to_lowercase(), epoch(*zxid))
                    }
                    Said::NotServing => "not serving".into(),
                    Said::Down { .. } if !r.running => "not running".into(),
                    Said::Down { why } => format!("no answer ({})", why.chars().take(60).collect::<String>()),
                };
                format!("{} {said} {}", r.member, if r.ready { "ready" } else { "not-ready" })
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The epoch of a zxid (its high 32 bits): the leader's term that wrote it.
pub fn epoch(zxid: i64) -> i64 {
    zxid >> 32
}

/// Whether a sample had a serving quorum, who made it up, and what that was judged from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub quorum: bool,
    pub leader: Option<String>,
    /// The leader and the members counted as its followers (by name; with `mntr`, the count may
    /// say more or fewer than the names: `counted` is the number judged).
    pub serving: Vec<String>,
    pub counted: usize,
    /// What the judgement rests on: the leader's `mntr` count, or followers' modes and epochs
    /// because the whitelist hides `mntr`.
    pub from: String,
}

/// Serving quorum in one sample of `n` members: one leader (or a standalone server alone) that a
/// majority counts as theirs. A follower counts when it says so itself: it follows in the
/// leader's epoch (a follower says it serves only once the leader has synced it, UPTODATE). The
/// leader's `mntr` count bounds that from above where the leader gives it (a member that still
/// says it follows but the leader dropped is not counted), and is never taken over a follower's
/// own word: ZooKeeper counts a follower in `zk_synced_followers` from the start of its sync,
/// before the snapshot is sent (LearnerHandler.syncFollower calls startForwarding first), so a
/// member that is still receiving a large snapshot, and says it is not serving, is in the count.
/// Where the whitelist hides `mntr` the followers' word alone decides, and `from` says so.
pub fn judge(sample: &Sample) -> Judgement {
    let n = sample.members.len();
    let majority = n / 2 + 1;
    let serving_in = |mode: Mode| -> Vec<(&Reading, i64)> {
        sample
            .members
            .iter()
            .filter_map(|r| match &r.said {
                Said::Serving { mode: m, zxid, .. } if *m == mode => Some((r, epoch(*zxid))),
                _ => None,
            })
            .collect()
    };
    let leaders = serving_in(Mode::Leader);
    if n == 1 {
        let standalone = serving_in(Mode::Standalone);
        let serving: Vec<String> = standalone.iter().map(|(r, _)| r.member.clone()).collect();
        return Judgement { quorum: serving.len() == 1, leader: serving.first().cloned(), counted: serving.len(), serving, from: "srvr (standalone)".into() };
    }
    let [(leader, leader_epoch)] = leaders.as_slice() else {
        let from = format!("srvr: {} members say they lead", leaders.len());
        return Judgement { quorum: false, leader: None, serving: Vec::new(), counted: 0, from };
    };
    let followers: Vec<String> = serving_in(Mode::Follower).into_iter().filter(|(_, e)| e == leader_epoch).map(|(r, _)| r.member.clone()).collect();
    let mut serving = vec![leader.member.clone()];
    serving.extend(followers.iter().cloned());
    let (counted, from) = match &leader.said {
        // The count bounds the followers' own word from above, never stands for it.
        Said::Serving { synced_followers: Some(synced), .. } => {
            let from = if *synced as usize > followers.len() {
                let named = if followers.is_empty() { "none".to_string() } else { followers.join(", ") };
                format!(
                    "{}'s mntr: {synced} synced followers, but its followers in epoch {leader_epoch} by their own srvr: {named} (the leader counts a follower from the start of its sync)",
                    leader.member
                )
            } else {
                format!("{}'s mntr: {synced} synced followers", leader.member)
            };
            (1 + (*synced as usize).min(followers.len()), from)
        }
        Said::Serving { mntr_hidden: true, .. } => (
            serving.len(),
            format!("srvr only: {}'s whitelist hides mntr, so the members that say they follow in epoch {leader_epoch} stand for its synced followers", leader.member),
        ),
        _ => (serving.len(), format!("srvr: the members that say they follow in epoch {leader_epoch} ({}'s mntr gave no count)", leader.member)),
    };
    Judgement { quorum: counted >= majority, leader: Some(leader.member.clone()), serving, counted, from }
}

/// How many members other than `member` serve with a leader in this sample (0 without one), and
/// the judgement it rests on: what is left serving when `member` is taken down.
pub fn others_serving(sample: &Sample, member: &str) -> (usize, Judgement) {
    let j = judge(sample);
    let others = if j.leader.is_none() { 0 } else { j.counted.saturating_sub(usize::from(j.serving.iter().any(|s| s == member))) };
    (others, j)
}

/// Whether `member` serves in this sample (leader, follower of the one leader, or standalone).
pub fn serves(sample: &Sample, member: &str) -> bool {
    judge(sample).serving.iter().any(|m| m == member)
}

/// Whether `member` answers clients in this sample: it serves the ensemble ([`serves`]), or it runs
/// standalone, answering from its own tree (a server left alone by a static config that was scaled
/// up: the scale suite judges that it is not the ensemble's, but it is not refusing clients).
fn answers_clients(sample: &Sample, member: &str) -> bool {
    sample.members.iter().any(|r| r.member == member && matches!(r.said, Said::Serving { mode: Mode::Standalone, .. })) || serves(sample, member)
}

/// The longest stretch a member was Ready while not serving clients: (member, ms, from when). A stretch
/// runs from the first sample that saw it until the first that did not (or the last sample).
/// `None` when no sample saw any member Ready and not serving.
pub fn ready_not_serving_max(samples: &[Sample]) -> Option<(String, i64, DateTime<Utc>)> {
    let mut best: Option<(String, i64, DateTime<Utc>)> = None;
    let names: Vec<String> = samples.first().map(|s| s.members.iter().map(|r| r.member.clone()).collect()).unwrap_or_default();
    for name in names {
        let mut since: Option<DateTime<Utc>> = None;
        let close = |from: DateTime<Utc>, to: DateTime<Utc>, best: &mut Option<(String, i64, DateTime<Utc>)>| {
            let ms = (to - from).num_milliseconds();
            if best.as_ref().is_none_or(|(_, b, _)| ms > *b) {
                *best = Some((name.clone(), ms, from));
            }
        };
        for s in samples {
            let ready = s.members.iter().any(|r| r.member == name && r.ready);
            match (ready && !answers_clients(s, &name), since) {
                (true, None) => since = Some(s.at),
                (false, Some(from)) => {
                    close(from, s.at, &mut best);
                    since = None;
                }
                _ => {}
            }
        }
        if let (Some(from), Some(last)) = (since, samples.last()) {
            close(from, last.at, &mut best);
        }
    }
    best
}

/// The longest stretch of samples without a serving quorum, in ms (an election, or worse).
pub fn longest_without_quorum(samples: &[Sample]) -> i64 {
    let mut longest = 0;
    let mut since: Option<DateTime<Utc>> = None;
    for s in samples {
        match (judge(s).quorum, since) {
            (false, None) => since = Some(s.at),
            (true, Some(from)) => {
                longest = longest.max((s.at - from).num_milliseconds());
                since = None;
            }
            _ => {}
        }
    }
    if let (Some(from), Some(last)) = (since, samples.last()) {
        longest = longest.max((last.at - from).num_milliseconds());
    }
    longest
}

/// The longest time between two consecutive samples, in ms.
pub fn largest_gap(samples: &[Sample]) -> i64 {
    samples.windows(2).map(|w| (w[1].at - w[0].at).num_milliseconds()).max().unwrap_or(0)
}

/// Samples the ensemble in the background until stopped or dropped.
pub struct Sampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    task: tokio::task::JoinHandle<()>,
    /// Where the samples are written should the sampler be dropped before it is stopped.
    save_on_drop: Option<PathBuf>,
}

impl Sampler {
    /// Starts a round of looks every [`SAMPLE_EVERY`], each look with `look_timeout`.
    pub fn start(platform: Arc<dyn Platform>, look_timeout: Duration) -> Sampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let out = samples.clone();
        let task = tokio::spawn(async move {
            use futures::StreamExt;
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut rounds = futures::stream::FuturesUnordered::new();
            loop {
                tokio::select! {
                    _ = tick.tick(), if rounds.len() < IN_FLIGHT => {
                        let p = platform.clone();
                        rounds.push(async move {
                            let at = Utc::now();
                            EnsembleView::observe(p.as_ref(), look_timeout).await.ok().map(|v| Sample::from_view(at, &v))
                        });
                    }
                    Some(sample) = rounds.next(), if !rounds.is_empty() => {
                        if let Some(s) = sample {
                            out.lock().expect("never poisoned").push(s);
                        }
                    }
                }
            }
        });
        Sampler { samples, task, save_on_drop: None }
    }

    /// Makes a drop before [`Sampler::stop`] (Ctrl-C drops the run's future) write the samples so
    /// far into `path` as JSON lines; [`Sampler::stop`] leaves saving to its caller.
    pub fn save_on_drop(mut self, path: PathBuf) -> Sampler {
        self.save_on_drop = Some(path);
        self
    }

    /// The samples so far, in time order.
    pub fn samples(&self) -> Vec<Sample> {
        let mut s = self.samples.lock().expect("never poisoned").clone();
        s.sort_by_key(|s| s.at);
        s
    }

    /// A handle that reads the samples while the sampler runs.
    pub fn reader(&self) -> SamplesReader {
        SamplesReader(self.samples.clone())
    }

    /// Stops sampling (rounds still out are dropped) and returns every sample, in time order.
    pub fn stop(mut self) -> Vec<Sample> {
        self.task.abort();
        self.save_on_drop = None;
        self.samples()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(path) = self.save_on_drop.take() {
            let samples = self.samples();
            match crate::report::save_json_lines(&path, &samples) {
                Ok(()) => tracing::info!("{} serving samples saved in {} (stopped before the suite ended)", samples.len(), path.display()),
                Err(e) => tracing::warn!("could not save the serving samples in {}: {e:#}", path.display()),
            }
        }
    }
}

/// Reads a running [`Sampler`]'s samples.
#[derive(Clone)]
pub struct SamplesReader(Arc<Mutex<Vec<Sample>>>);

impl SamplesReader {
    /// The samples taken at or after `from`, in time order.
    pub fn since(&self, from: DateTime<Utc>) -> Vec<Sample> {
        let mut s: Vec<Sample> = self.0.lock().expect("never poisoned").iter().filter(|s| s.at >= from).cloned().collect();
        s.sort_by_key(|s| s.at);
        s
    }
}

/// Samples written as short codes, for the unit tests of judges over samples (here and in the
/// suites).
#[doc(hidden)]
pub mod testing {
    use super::*;

    /// A moment `ms` after a fixed origin.
    pub fn at(ms: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    /// A reading from a short code: `L2` leader with 2 synced, `L-` leader with mntr hidden,
    /// `F` follower, `N` not serving, `D` down (not running); lowercase: not Ready. Epoch 1,
    /// `F0` a follower still in epoch 0.
    pub fn reading(member: &str, code: &str) -> Reading {
        let ready = code.chars().next().is_some_and(|c| c.is_ascii_uppercase());
        let code = code.to_ascii_uppercase();
        let zxid = |e: i64| (e << 32) | 7;
        let said = match code.as_str() {
            "F" => Said::Serving { mode: Mode::Follower, zxid: zxid(1), synced_followers: None, mntr_hidden: false },
            "F0" => Said::Serving { mode: Mode::Follower, zxid: zxid(0), synced_followers: None, mntr_hidden: false },
            "L-" => Said::Serving { mode: Mode::Leader, zxid: zxid(1), synced_followers: None, mntr_hidden: true },
            l if l.starts_with('L') => Said::Serving { mode: Mode::Leader, zxid: zxid(1), synced_followers: l[1..].parse().ok(), mntr_hidden: false },
            "S" => Said::Serving { mode: Mode::Standalone, zxid: zxid(1), synced_followers: None, mntr_hidden: false },
            "N" => Said::NotServing,
            "D" => Said::Down { why: "connection refused".into() },
            other => panic!("unknown code {other}"),
        };
        Reading { member: member.into(), running: code != "D", ready, said }
    }

    /// A sample of zk-0, zk-1, ... from codes.
    pub fn sample(ms: i64, codes: &[&str]) -> Sample {
        Sample { at: at(ms), members: codes.iter().enumerate().map(|(i, c)| reading(&format!("zk-{i}"), c)).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn the_leaders_mntr_count_decides_when_it_gives_one() {
        let j = judge(&sample(0, &["F", "L2", "F"]));
        assert!(j.quorum && j.counted == 3 && j.leader.as_deref() == Some("zk-1"), "{j:?}");
        assert_eq!(j.from, "zk-1's mntr: 2 synced followers");
        // Both others say they follow, but the leader has synced neither yet: no quorum.
        let j = judge(&sample(0, &["F", "L0", "F"]));
        assert!(!j.quorum && j.counted == 1, "{j:?}");
        assert!(judge(&sample(0, &["N", "L1", "F"])).quorum, "a leader and one synced follower of three");
    }

    /// The field failure's moment (kind, the walkthrough's `ruok` readiness, a 256 MiB data volume):
    /// the leader already counts zk-2, which is still receiving its snapshot and says it is not
    /// serving. zk-2 is not counted, so taking zk-0 down leaves one other serving, not two.
    #[test]
    fn a_follower_that_says_it_is_not_serving_is_not_counted_though_the_leaders_mntr_counts_it() {
        let j = judge(&sample(0, &["F", "L2", "N"]));
        assert!(j.quorum && j.counted == 2 && j.serving == ["zk-1", "zk-0"], "{j:?}");
        assert_eq!(j.from, "zk-1's mntr: 2 synced followers, but its followers in epoch 1 by their own srvr: zk-0 (the leader counts a follower from the start of its sync)");
        assert_eq!(others_serving(&sample(0, &["F", "L2", "N"]), "zk-0").0, 1);
        // Taking down the member that does not serve leaves both that do.
        assert_eq!(others_serving(&sample(0, &["F", "L2", "N"]), "zk-2").0, 2);
        // Nor one that gives no answer: what it would say is not known.
        let silent = Sample {
            at: at(0),
            members: vec![reading("zk-0", "F"), reading("zk-1", "L2"), Reading { member: "zk-2".into(), running: true, ready: true, said: Said::Down { why: "timed out".into() } }],
        };
        assert_eq!(judge(&silent).counted, 2);
    }

    #[test]
    fn with_mntr_hidden_followers_in_the_leaders_epoch_stand_for_the_count_and_it_says_so() {
        let j = judge(&sample(0, &["F", "L-", "N"]));
        assert!(j.quorum && j.serving == ["zk-1", "zk-0"], "{j:?}");
        assert!(j.from.starts_with("srvr only: zk-1's whitelist hides mntr"), "{}", j.from);
        let stale = judge(&sample(0, &["F0", "L-", "N"]));
        assert!(!stale.quorum && stale.serving == ["zk-1"], "a follower of an older epoch is not the leader's: {stale:?}");
        assert!(!judge(&sample(0, &["N", "L-", "D"])).quorum, "a leader alone");
    }

    #[test]
    fn no_leader_or_two_is_no_quorum_and_one_member_must_be_standalone() {
        let none = judge(&sample(0, &["N", "F", "F"]));
        assert!(!none.quorum && none.from == "srvr: 0 members say they lead");
        assert!(!judge(&sample(0, &["L2", "L2", "F"])).quorum);
        assert!(judge(&sample(0, &["S"])).quorum);
        assert!(!judge(&sample(0, &["N"])).quorum);
        assert!(!judge(&sample(0, &["S", "S", "S"])).quorum, "three standalones are no ensemble");
        let five = judge(&sample(0, &["F", "F", "L4", "D", "D"]));
        assert!(five.quorum && five.counted == 3, "the leader and the two that say they follow, of 5: {five:?}");
        assert!(!judge(&sample(0, &["F", "L-", "D", "D", "N"])).quorum, "2 of 5 by srvr");
    }

    #[test]
    fn ready_not_serving_is_the_longest_stretch_naming_the_member() {
        let samples = [
            sample(0, &["F", "L2", "F"]),
            sample(200, &["F", "L1", "d"]),
            sample(400, &["F", "L1", "n"]),  // zk-2 up, not Ready, not serving: not counted
            sample(600, &["F", "L1", "N"]),  // Ready, not serving from here...
            sample(800, &["F", "L1", "N"]),  // ...
            sample(1400, &["F", "L2", "F"]), // ...to here: 800 ms
            sample(1600, &["N", "L1", "F"]), // zk-0 Ready not serving to the end: 200 ms
            sample(1800, &["N", "L1", "F"]),
        ];
        assert_eq!(ready_not_serving_max(&samples), Some(("zk-2".into(), 800, at(600))));
        assert_eq!(ready_not_serving_max(&samples[..1]), None);
        assert_eq!(ready_not_serving_max(&[]), None);
        // A follower of an older epoch is Ready and answers, but does not serve the leader's.
        assert_eq!(ready_not_serving_max(&[sample(0, &["F0", "L1", "F"]), sample(300, &["F", "L2", "F"])]), Some(("zk-0".into(), 300, at(0))));
        // A standalone server beside members that are not up answers clients from its own tree.
        assert_eq!(ready_not_serving_max(&[sample(0, &["S", "d", "d"]), sample(300, &["S", "n", "n"])]), None);
        // Two stretches as long: the first member's is named.
        assert_eq!(ready_not_serving_max(&[sample(0, &["N", "L1", "N"]), sample(300, &["F", "L2", "F"])]), Some(("zk-0".into(), 300, at(0))));
    }

    #[test]
    fn quorum_gaps_and_sample_gaps_are_measured_between_samples() {
        let samples = [sample(0, &["F", "L2", "F"]), sample(200, &["N", "D", "N"]), sample(500, &["N", "D", "N"]), sample(900, &["L1", "D", "F"]), sample(1000, &["N", "d", "N"])];
        assert_eq!(longest_without_quorum(&samples), 700);
        assert_eq!(largest_gap(&samples), 400);
        assert_eq!(longest_without_quorum(&samples[..1]), 0);
        assert_eq!(largest_gap(&[]), 0);
    }

    /// The rounds out at once cover a look that holds for the whole [`LOOK_TIMEOUT`] with one round
    /// to spare, and no more than that: a round starts every [`SAMPLE_EVERY`] while the oldest still
    /// waits.
    #[test]
    fn the_rounds_in_flight_cover_one_looks_timeout_and_one_more() {
        let covered = |rounds: usize| SAMPLE_EVERY * rounds as u32;
        assert!(covered(IN_FLIGHT - 1) >= LOOK_TIMEOUT, "{IN_FLIGHT} rounds: the next would wait for a look still out");
        assert!(covered(IN_FLIGHT - 2) < LOOK_TIMEOUT, "{IN_FLIGHT} rounds: more than a look's timeout needs");
    }

    #[test]
    fn a_sample_describes_every_member_in_order() {
        let s = sample(0, &["F", "L2", "n", "D"]);
        assert_eq!(s.describe(), "zk-0 follower epoch 1 ready; zk-1 leader epoch 1 (2 synced) ready; zk-2 not serving not-ready; zk-3 not running ready");
        // A member whose container runs but whose server gave no answer says why; a leader whose
        // whitelist hides mntr says that instead of a count.
        let mut s = sample(0, &["L-", "F", "D"]);
        s.members[2].running = true;
        assert_eq!(s.describe(), "zk-0 leader epoch 1 (mntr hidden) ready; zk-1 follower epoch 1 ready; zk-2 no answer (connection refused) ready");
    }
}
