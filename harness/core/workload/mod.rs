//! The client workload (Jepsen's *client* and *generator*): a few workers, each with its own
//! session that may move between members, creating sequential znodes with values no other
//! operation writes, and reading their folder back, at a bounded rate, for a bounded time and
//! number of operations. Every operation goes into the [`History`] the [`checker`] judges.
//!
//! Worker `n` writes `{prefix}/workload/w{n}/op-<seq>` = `w{n}-<k>` (padded to the value size)
//! and reads `{prefix}/workload/w{n}`, whose pzxid and cversion only grow: a session that sees
//! them go back has read stale data.
//!
//! # Caveats
//! The rate is an upper bound shared by all workers: when operations are slow (a fault), fewer
//! are issued. Operations are never retried; a worker whose session expired opens a new one.

pub mod checker;
pub mod history;
pub mod register;
pub mod volume;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use zookeeper_client as zk;

pub use checker::{check, read_final_state, CheckOptions, FinalState, Judgement};
pub use history::{History, Op, OpKind, Outcome};

use crate::client;
use crate::config::WorkloadConfig;

/// How the workload is shaped (the run config only bounds it; these rarely change).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadOptions {
    /// Concurrent workers, one session each.
    pub workers: u32,
    /// Bytes per written value (padded with '.'; at least the value's unique part).
    pub value_size: usize,
    /// Read the folder back after each write (false: writes only, for the benchmark).
    pub reads: bool,
    /// The session timeout the workers ask for.
    pub session_timeout: Duration,
}

impl Default for WorkloadOptions {
    fn default() -> Self {
        WorkloadOptions { workers: 4, value_size: 32, reads: true, session_timeout: client::SESSION_TIMEOUT }
    }
}

/// A running workload. [`Workload::stop`] ends it and returns its history.
pub struct Workload {
    cancel: CancellationToken,
    workers: Vec<tokio::task::JoinHandle<()>>,
    ops: Arc<Mutex<Vec<Op>>>,
    op_timeout: Duration,
}

impl Workload {
    /// Starts the workload with the default [`WorkloadOptions`].
    pub async fn start(addrs: Vec<SocketAddr>, prefix: String, cfg: &WorkloadConfig, op_timeout: Duration) -> anyhow::Result<Workload> {
        Workload::start_with(addrs, prefix, cfg, op_timeout, WorkloadOptions::default()).await
    }

    /// Creates the workers' folders and opens their sessions (which must succeed: the ensemble
    /// must serve when the workload starts), then starts the workers and returns at once.
    ///
    /// # Errors
    /// No session within `op_timeout`, or the folders could not be created.
    pub async fn start_with(addrs: Vec<SocketAddr>, prefix: String, cfg: &WorkloadConfig, op_timeout: Duration, opts: WorkloadOptions) -> anyhow::Result<Workload> {
        anyhow::ensure!(!addrs.is_empty(), "the workload needs at least one member address");
        anyhow::ensure!(opts.workers > 0, "the workload needs at least one worker");
        let setup = client::connect_any(&addrs, opts.session_timeout, op_timeout).await.context("starting the workload")?;
        for n in 0..opts.workers {
            let folder = format!("{prefix}/workload/w{n}");
            tokio::time::timeout(op_timeout, client::ensure_path(&setup, &folder))
                .await
                .map_err(|_| anyhow::anyhow!("mkdir {folder}: no answer within {}", humantime::format_duration(op_timeout)))??;
        }
        drop(setup);
        // Every worker's session before the clock starts, so the first operations do not wait
        // for the others' handshakes.
        let sessions = futures::future::try_join_all((0..opts.workers).map(|_| client::connect_any(&addrs, opts.session_timeout, op_timeout)))
            .await
            .context("opening the workers' sessions")?;

        let shared = Arc::new(Shared { addrs, pace: Pace::new(cfg), ops: Arc::new(Mutex::new(Vec::new())), op_timeout, opts: opts.clone() });
        tracing::info!(
            "workload: {} workers under {prefix}/workload, at most {}/s, {} operations, {}",
            opts.workers,
            cfg.rate_per_second,
            cfg.max_operations,
            humantime::format_duration(cfg.max_duration)
        );
        let workers = sessions
            .into_iter()
            .zip(0..opts.workers)
            .map(|(session, n)| {
                let w = Worker { n, folder: format!("{prefix}/workload/w{n}"), shared: shared.clone() };
                tokio::spawn(w.run(session))
            })
            .collect();
        Ok(Workload { cancel: shared.pace.cancel.clone(), workers, ops: shared.ops.clone(), op_timeout })
    }

    /// Whether every worker stopped by itself (the duration or operation budget ran out).
    pub fn finished(&self) -> bool {
        self.workers.iter().all(|w| w.is_finished())
    }

    /// Stops the workers and returns the history. An operation in flight may complete within
    /// the operation timeout; one that does not is recorded as unknown at the moment of stopping.
    pub async fn stop(mut self) -> History {
        let workers = std::mem::take(&mut self.workers);
        stop_loops(&self.cancel, workers, self.op_timeout, "workload: a worker").await;
        let now = Utc::now();
        let mut ops = std::mem::take(&mut *self.ops.lock().expect("history lock"));
        for op in ops.iter_mut().filter(|o| o.completed < o.invoked) {
            // Never completed: still in flight when the worker was aborted.
            op.completed = now;
            op.outcome = Outcome::Unknown;
            op.error = Some("still in flight when the workload stopped".into());
        }
        History::new(ops)
    }
}

/// A workload dropped without [`Workload::stop`] (its suite returned early, with `?` or a panic)
/// stops at once: its workers are cancelled and aborted, so none of them writes into the suites
/// that follow. Its history is lost; only `stop` returns one.
impl Drop for Workload {
    fn drop(&mut self) {
        if self.workers.is_empty() {
            return;
        }
        tracing::warn!("workload dropped without being stopped: its {} workers are aborted", self.workers.len());
        self.cancel.cancel();
        for w in &self.workers {
            w.abort();
        }
    }
}

/// Stops a workload's loops: cancels them, gives each the operation timeout and 2 s to finish
/// what is in flight, then aborts those still running (their operation in flight stays unknown).
pub(crate) async fn stop_loops(cancel: &CancellationToken, mut loops: Vec<tokio::task::JoinHandle<()>>, op_timeout: Duration, who: &str) {
    cancel.cancel();
    let grace = op_timeout + Duration::from_secs(2);
    if tokio::time::timeout(grace, futures::future::join_all(loops.iter_mut())).await.is_err() {
        tracing::warn!("{who} did not stop within {}; its operation in flight is unknown", humantime::format_duration(grace));
        for l in &loops {
            l.abort();
        }
    }
}

struct Shared {
    addrs: Vec<SocketAddr>,
    pace: Pace,
    ops: Arc<Mutex<Vec<Op>>>,
    op_timeout: Duration,
    opts: WorkloadOptions,
}

/// The bounds of a workload shared by its loops: a rate, a deadline and a number of operations,
/// and a token that stops them all.
pub(crate) struct Pace {
    pub(crate) cancel: CancellationToken,
    deadline: Instant,
    max_operations: u64,
    issued: AtomicU64,
    period: Duration,
    next_slot: Mutex<Instant>,
}

impl Pace {
    pub(crate) fn new(cfg: &WorkloadConfig) -> Pace {
        Pace {
            cancel: CancellationToken::new(),
            deadline: Instant::now() + cfg.max_duration,
            max_operations: cfg.max_operations,
            issued: AtomicU64::new(0),
            period: Duration::from_secs_f64(1.0 / f64::from(cfg.rate_per_second.max(1))),
            next_slot: Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next slot of the shared rate; false when the workload must stop (stopped,
    /// past its deadline, or its operations spent).
    pub(crate) async fn permit(&self) -> bool {
        let slot = {
            let mut next = self.next_slot.lock().expect("rate lock");
            let slot = (*next).max(Instant::now());
            *next = slot + self.period;
            slot
        };
        if slot >= self.deadline {
            return false;
        }
        tokio::select! {
            _ = self.cancel.cancelled() => return false,
            _ = tokio::time::sleep_until(slot) => {}
        }
        self.issued.fetch_add(1, Ordering::SeqCst) < self.max_operations
    }
}

impl Shared {
    /// Records an invocation; the returned index completes it.
    fn invoke(&self, op: Op) -> usize {
        let mut ops = self.ops.lock().expect("history lock");
        ops.push(op);
        ops.len() - 1
    }

    fn complete(&self, i: usize, f: impl FnOnce(&mut Op)) {
        let mut ops = self.ops.lock().expect("history lock");
        let op = &mut ops[i];
        op.completed = Utc::now();
        f(op);
    }
}

struct Worker {
    n: u32,
    folder: String,
    shared: Arc<Shared>,
}

/// Definite failures: the server answered with an error, so the operation did not take effect.
/// Everything else (connection lost, session expired, client closed, timeouts) may have been
/// applied before the answer was lost.
pub(crate) fn outcome_of(e: &zk::Error) -> Outcome {
    use zk::Error::*;
    match e {
        NoNode | NodeExists | BadVersion | NoAuth | InvalidAcl | NotEmpty | NoChildrenForEphemerals | BadArguments(_) | NotReadOnly | QuotaExceeded | Throttled | Unimplemented => {
            Outcome::Failed
        }
        _ => Outcome::Unknown,
    }
}

impl Worker {
    async fn run(self, session: zk::Client) {
        let s = self.shared.clone();
        let mut session = Some(session);
        let mut k: u64 = 0;
        let mut write_next = true;
        while s.pace.permit().await {
            let kind = if write_next || !s.opts.reads { OpKind::Write } else { OpKind::Read };
            write_next = !write_next;
            if session.as_ref().is_none_or(|c| c.state().is_terminated()) {
                session = None;
                let invoked = Utc::now();
                match client::connect_any(&s.addrs, s.opts.session_timeout, s.op_timeout).await {
                    Ok(c) => session = Some(c),
                    Err(e) => {
                        // Nothing was sent: the operation this slot was for definitely failed.
                        let mut op = self.op(kind, "", k);
                        op.invoked = invoked;
                        op.completed = Utc::now();
                        op.outcome = Outcome::Failed;
                        op.error = Some(format!("no session: {e:#}"));
                        s.invoke(op);
                        k += u64::from(kind == OpKind::Write);
                        continue;
                    }
                }
            }
            let zk = session.as_ref().expect("a session");
            let sid = zk.session_id().to_string();
            match kind {
                OpKind::Write => {
                    let op = self.op(kind, &sid, k);
                    k += 1;
                    let value = op.value.clone();
                    let i = s.invoke(op);
                    let opts = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
                    let path = format!("{}/op-", self.folder);
                    let r = tokio::time::timeout(s.op_timeout, zk.create(&path, value.as_bytes(), &opts)).await;
                    s.complete(i, |op| match r {
                        Ok(Ok((stat, seq))) => {
                            op.outcome = Outcome::Acknowledged;
                            op.path = format!("{path}{seq}");
                            op.zxid = Some(stat.czxid);
                        }
                        Ok(Err(e)) => {
                            op.outcome = outcome_of(&e);
                            op.error = Some(e.to_string());
                        }
                        Err(_) => op.error = Some(format!("no answer within {}", humantime::format_duration(s.op_timeout))),
                    });
                }
                OpKind::Read => {
                    let i = s.invoke(self.op(kind, &sid, k));
                    let r = tokio::time::timeout(s.op_timeout, zk.get_data(&self.folder)).await;
                    s.complete(i, |op| match r {
                        Ok(Ok((_, stat))) => {
                            op.outcome = Outcome::Acknowledged;
                            op.zxid = Some(stat.pzxid);
                            op.counter = Some(i64::from(stat.cversion));
                        }
                        Ok(Err(e)) => {
                            op.outcome = outcome_of(&e);
                            op.error = Some(e.to_string());
                        }
                        Err(_) => op.error = Some(format!("no answer within {}", humantime::format_duration(s.op_timeout))),
                    });
                }
            }
        }
    }

    /// An operation as invoked: outcome unknown and completion unset (before the invocation)
    /// until it completes.
    fn op(&self, kind: OpKind, session: &str, k: u64) -> Op {
        let invoked = Utc::now();
        let value = match kind {
            OpKind::Write => {
                let mut v = format!("w{}-{k:06}", self.n);
                while v.len() < self.shared.opts.value_size {
                    v.push('.');
                }
                v
            }
            OpKind::Read => String::new(),
        };
        Op {
            worker: self.n,
            session: session.to_string(),
            kind,
            invoked,
            completed: invoked - chrono::Duration::milliseconds(1),
            outcome: Outcome::Unknown,
            path: self.folder.clone(),
            value,
            zxid: None,
            counter: None,
            error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_server_answers_are_definite_failures() {
        assert_eq!(outcome_of(&zk::Error::NodeExists), Outcome::Failed);
        assert_eq!(outcome_of(&zk::Error::NoNode), Outcome::Failed);
        assert_eq!(outcome_of(&zk::Error::ConnectionLoss), Outcome::Unknown);
        assert_eq!(outcome_of(&zk::Error::SessionExpired), Outcome::Unknown);
        assert_eq!(outcome_of(&zk::Error::Timeout), Outcome::Unknown);
        assert_eq!(outcome_of(&zk::Error::ClientClosed), Outcome::Unknown);
    }

    #[tokio::test]
    async fn no_member_answering_is_an_error_at_start() {
        // A port nobody listens on: bind, read the port, release it.
        let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let cfg = WorkloadConfig { rate_per_second: 10, max_duration: Duration::from_secs(1), max_operations: 10 };
        let err = Workload::start(vec![addr], "/t".into(), &cfg, Duration::from_millis(500)).await.err().expect("no ensemble");
        assert!(format!("{err:#}").contains("starting the workload"), "{err:#}");
    }
}
