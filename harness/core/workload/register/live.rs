//! The register workload against a live ensemble: a few processes, each with one session pinned
//! to one member, reading, writing and compare-and-setting a few znodes, every operation recorded
//! with its invocation and completion in a [`RegisterHistory`] for the judges.
//!
//! Process `p` starts on member `p mod n`. Its operations, chosen by a generator seeded with `p`:
//! a read after a `sync` (the read ZooKeeper promises to be current), a plain read, an
//! unconditional write, or a compare-and-set with the version this process last read of the key.
//! A process whose operation got no definite answer drops its session and opens one on the next
//! member: so a session pinned to a member cut off from the quorum moves to one that serves, as a
//! client given one server at a time would.
//!
//! Values are `p{p}-{n}`: unique across the history, so a read names the write it saw. Times are
//! nanoseconds since the workload started, on the monotonic clock.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;
use zookeeper_client as zk;

use super::generate::Rng;
use super::history::{Call, Outcome, RegisterHistory, RegisterOp, State};
use crate::client;
use crate::config::WorkloadConfig;
use crate::workload::{outcome_of, stop_loops, Pace};

/// How the register workload is shaped.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterOptions {
    /// Concurrent processes, one session each.
    pub processes: u32,
    /// Znodes, `{prefix}/register/k0` ...
    pub keys: u32,
    pub session_timeout: Duration,
}

impl Default for RegisterOptions {
    fn default() -> Self {
        RegisterOptions { processes: 3, keys: 2, session_timeout: client::SESSION_TIMEOUT }
    }
}

/// A running register workload; [`RegisterWorkload::stop`] ends it and returns its history.
pub struct RegisterWorkload {
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

struct Shared {
    addrs: Vec<SocketAddr>,
    keys: Vec<String>,
    pace: Pace,
    clock: Instant,
    ops: Mutex<Vec<RegisterOp>>,
    /// Operations that have their answer (of any outcome).
    completed: AtomicUsize,
    /// Woken at each answer (see `RegisterWorkload::wait_completed`).
    answered: tokio::sync::Notify,
    op_timeout: Duration,
    session_timeout: Duration,
}

impl Shared {
    fn now(&self) -> i64 {
        i64::try_from(self.clock.elapsed().as_nanos()).unwrap_or(i64::MAX)
    }

    /// Records an invocation; the returned index completes it.
    fn invoke(&self, process: u32, session: &str, key: &str, call: Call, synced_at: Option<i64>) -> usize {
        let invoked = self.now();
        let mut ops = self.ops.lock().expect("history lock");
        let id = ops.len();
        ops.push(RegisterOp {
            id,
            process,
            session: session.to_string(),
            key: key.to_string(),
            call,
            invoked,
            completed: invoked,
            outcome: Outcome::Unknown,
            read: None,
            version: None,
            zxid: None,
            synced_at,
        });
        id
    }

    fn complete(&self, id: usize, outcome: Outcome, f: impl FnOnce(&mut RegisterOp)) {
        let completed = self.now();
        let mut ops = self.ops.lock().expect("history lock");
        let op = &mut ops[id];
        op.completed = completed;
        op.outcome = outcome;
        f(op);
        self.completed.fetch_add(1, Ordering::Relaxed);
        drop(ops);
        self.answered.notify_waiters();
    }
}

/// What one operation's answer was: definite (ok or failed) or not.
fn outcome<T>(r: &Result<Result<T, zk::Error>, tokio::time::error::Elapsed>) -> Outcome {
    match r {
        Ok(Ok(_)) => Outcome::Ok,
        Ok(Err(e)) => match outcome_of(e) {
            crate::workload::Outcome::Failed => Outcome::Failed,
            _ => Outcome::Unknown,
        },
        Err(_) => Outcome::Unknown,
    }
}

impl RegisterWorkload {
    /// Creates the keys (each `""` at version 0, the history's initial state), opens every
    /// process's session (the ensemble must serve now), starts them, and returns at once.
    ///
    /// # Errors
    /// A key exists already (its state would not be the history's initial one), or no session.
    pub async fn start(addrs: Vec<SocketAddr>, prefix: &str, cfg: &WorkloadConfig, op_timeout: Duration, opts: RegisterOptions) -> anyhow::Result<RegisterWorkload> {
        anyhow::ensure!(!addrs.is_empty() && opts.processes > 0 && opts.keys > 0, "the register workload needs a member, a process and a key");
        let folder = format!("{prefix}/register");
        let keys: Vec<String> = (0..opts.keys).map(|k| format!("{folder}/k{k}")).collect();
        let setup = client::connect_any(&addrs, opts.session_timeout, op_timeout).await.context("starting the register workload")?;
        let within = |what: String| move |_| anyhow::anyhow!("{what}: no answer within {}", humantime::format_duration(op_timeout));
        tokio::time::timeout(op_timeout, client::ensure_path(&setup, &folder)).await.map_err(within(format!("mkdir {folder}")))??;
        let create = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        for key in &keys {
            tokio::time::timeout(op_timeout, setup.create(key, b"", &create))
                .await
                .map_err(within(format!("create {key}")))?
                .with_context(|| format!("creating the register {key} (it must not exist: its state is the history's initial one)"))?;
        }
        drop(setup);
        // Through every member too, at once, a session each: each must already have the keys
        // (NodeExists: the ensemble replicated them); a member that creates one anew does not
        // share the others' data (a standalone server), and its processes then start from the
        // same initial state.
        futures::future::try_join_all(addrs.iter().map(|addr| {
            let (folder, keys, create) = (&folder, &keys, &create);
            async move {
                let zk = client::connect(*addr, op_timeout).await.context("starting the register workload")?;
                tokio::time::timeout(op_timeout, client::ensure_path(&zk, folder)).await.map_err(within(format!("mkdir {folder} through {addr}")))??;
                for key in keys {
                    match tokio::time::timeout(op_timeout, zk.create(key, b"", create)).await.map_err(within(format!("create {key} through {addr}")))? {
                        Ok(_) => tracing::warn!("register workload: {key} did not exist through {addr}: that member does not share the others' data"),
                        Err(zk::Error::NodeExists) => {}
                        Err(e) => return Err(e).with_context(|| format!("creating the register {key} through {addr}")),
                    }
                }
                anyhow::Ok(())
            }
        }))
        .await?;
        let sessions = futures::future::try_join_all((0..opts.processes).map(|p| client::connect(addrs[p as usize % addrs.len()], op_timeout)))
            .await
            .context("opening the register workload's sessions")?;
        let shared = Arc::new(Shared {
            addrs,
            keys,
            pace: Pace::new(cfg),
            clock: Instant::now(),
            ops: Mutex::new(Vec::new()),
            completed: AtomicUsize::new(0),
            answered: tokio::sync::Notify::new(),
            op_timeout,
            session_timeout: opts.session_timeout,
        });
        tracing::info!("register workload: {} processes on {} keys under {folder}", opts.processes, opts.keys);
        let tasks = sessions.into_iter().zip(0..opts.processes).map(|(session, p)| tokio::spawn(process(shared.clone(), p, session))).collect();
        Ok(RegisterWorkload { shared, tasks })
    }

    /// Operations recorded so far (for progress reports).
    pub fn recorded(&self) -> usize {
        self.shared.ops.lock().expect("history lock").len()
    }

    /// Operations that have their answer so far (ok, failed or unknown after the timeout).
    pub fn completed(&self) -> usize {
        self.shared.completed.load(Ordering::Relaxed)
    }

    /// Waits until `n` operations have their answer or `deadline` passes; the count then.
    pub async fn wait_completed(&self, n: usize, deadline: tokio::time::Instant) -> usize {
        loop {
            // Made before the count is read: an answer in between still wakes it.
            let answered = self.shared.answered.notified();
            let done = self.completed();
            if done >= n || tokio::time::timeout_at(deadline, answered).await.is_err() {
                return self.completed();
            }
        }
    }

    /// Stops the processes and returns the history. An operation still in flight after the
    /// operation timeout stays unknown.
    pub async fn stop(self) -> RegisterHistory {
        stop_loops(&self.shared.pace.cancel, self.tasks, self.shared.op_timeout, "register workload: a process").await;
        let ops = std::mem::take(&mut *self.shared.ops.lock().expect("history lock"));
        RegisterHistory { initial: State::default(), ops }
    }
}

/// What a process does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    SyncedRead,
    Read,
    Write,
    Cas,
}

fn next(rng: &mut Rng) -> Next {
    match rng.range(0, 99) {
        0..30 => Next::SyncedRead,
        30..45 => Next::Read,
        45..70 => Next::Write,
        _ => Next::Cas,
    }
}

async fn process(s: Arc<Shared>, p: u32, session: zk::Client) {
    let mut rng = Rng::new(0x5eed_0000 + u64::from(p));
    let mut member = p as usize % s.addrs.len();
    let mut session = Some(session);
    // The version this process last read of each key (what its CAS expects).
    let mut seen: Vec<Option<i64>> = vec![None; s.keys.len()];
    let mut n = 0u64;
    while s.pace.permit().await {
        if session.as_ref().is_none_or(|c| c.state().is_terminated()) {
            member = (member + 1) % s.addrs.len();
            session = match client::connect(s.addrs[member], s.session_timeout.min(s.op_timeout)).await {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::debug!("register process {p}: no session with {}: {e:#}", s.addrs[member]);
                    None
                }
            };
            let Some(_) = &session else { continue };
        }
        let zk = session.as_ref().expect("a session");
        let sid = zk.session_id().to_string();
        let k = rng.range(0, s.keys.len() as i64 - 1) as usize;
        let key = s.keys[k].clone();
        let mut what = next(&mut rng);
        if what == Next::Cas && seen[k].is_none() {
            what = Next::Write;
        }
        let definite = match what {
            Next::SyncedRead | Next::Read => {
                let mut synced_at = None;
                if what == Next::SyncedRead {
                    let at = s.now();
                    match tokio::time::timeout(s.op_timeout, zk.sync(&key)).await {
                        Ok(Ok(())) => synced_at = Some(at),
                        _ => {
                            // No read follows a sync that did not complete; the session moves on.
                            session = None;
                            continue;
                        }
                    }
                }
                let id = s.invoke(p, &sid, &key, Call::Read, synced_at);
                let r = tokio::time::timeout(s.op_timeout, zk.get_data(&key)).await;
                let o = outcome(&r);
                s.complete(id, o, |op| {
                    if let Ok(Ok((data, stat))) = &r {
                        op.read = Some(State::new(String::from_utf8_lossy(data), i64::from(stat.version)));
                        op.zxid = Some(stat.mzxid);
                    }
                });
                if let Ok(Ok((_, stat))) = &r {
                    seen[k] = Some(i64::from(stat.version));
                }
                o
            }
            Next::Write | Next::Cas => {
                let value = format!("p{p}-{n}");
                n += 1;
                let expected = if what == Next::Cas { seen[k] } else { None };
                let call = match expected {
                    Some(v) => Call::Cas { expected_version: v, value: value.clone() },
                    None => Call::Write { value: value.clone() },
                };
                let id = s.invoke(p, &sid, &key, call, None);
                let version = expected.and_then(|v| i32::try_from(v).ok());
                let r = tokio::time::timeout(s.op_timeout, zk.set_data(&key, value.as_bytes(), version)).await;
                let o = outcome(&r);
                s.complete(id, o, |op| {
                    if let Ok(Ok(stat)) = &r {
                        op.version = Some(i64::from(stat.version));
                        op.zxid = Some(stat.mzxid);
                    }
                });
                // What this process knows of the key's version: the one it wrote, or none.
                seen[k] = match &r {
                    Ok(Ok(stat)) => Some(i64::from(stat.version)),
                    _ => None,
                };
                o
            }
        };
        if definite == Outcome::Unknown {
            session = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_has_every_kind_of_operation() {
        let mut rng = Rng::new(1);
        let picks: Vec<Next> = (0..400).map(|_| next(&mut rng)).collect();
        for kind in [Next::SyncedRead, Next::Read, Next::Write, Next::Cas] {
            let share = picks.iter().filter(|k| **k == kind).count();
            assert!(share >= 30, "{kind:?} picked {share} times of 400");
        }
    }

    #[test]
    fn only_a_definite_answer_is_ok_or_failed() {
        let ok: Result<Result<(), zk::Error>, tokio::time::error::Elapsed> = Ok(Ok(()));
        assert_eq!(outcome(&ok), Outcome::Ok);
        assert_eq!(outcome::<()>(&Ok(Err(zk::Error::BadVersion))), Outcome::Failed, "BadVersion: the CAS did not take effect");
        assert_eq!(outcome::<()>(&Ok(Err(zk::Error::ConnectionLoss))), Outcome::Unknown, "it may have been applied");
    }

    #[tokio::test]
    async fn no_member_answering_is_an_error_at_start() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let cfg = WorkloadConfig { rate_per_second: 10, max_duration: Duration::from_secs(1), max_operations: 10 };
        let err = RegisterWorkload::start(vec![addr], "/t", &cfg, Duration::from_millis(500), RegisterOptions::default()).await.err().expect("no ensemble");
        assert!(format!("{err:#}").contains("starting the register workload"), "{err:#}");
    }
}
