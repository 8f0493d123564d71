//! Waiting with a deadline. Every wait here has one, names what it waited for when it gives up,
//! and says what it saw last. Waits wake on platform lifecycle changes and otherwise poll fast
//! (every [`POLL`]), so a recovery is noticed within that interval of it happening.
//!
//! A probe answers [`Seen::Done`] (stop, with a value), [`Seen::NotYet`] (retry until the
//! deadline, with what it saw) or an error ("wrong": stop now).

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// How often a wait re-checks when nothing wakes it.
pub const POLL: Duration = Duration::from_millis(100);
/// How soon a wait re-checks after [`Seen::Soon`].
pub const POLL_SOON: Duration = Duration::from_millis(20);
/// How often a long wait logs that it is still waiting.
const PROGRESS_EVERY: Duration = Duration::from_secs(15);

/// One look at the condition.
#[derive(Debug)]
pub enum Seen<T> {
    Done(T),
    NotYet(String),
    /// Not yet, but only the last step is missing (every member Ready, a follower still
    /// syncing): look again after [`POLL_SOON`] rather than [`POLL`], so the moment it holds is
    /// noticed sooner.
    Soon(String),
}

/// Waits until `probe` answers `Done`, an error, or the deadline passes.
///
/// # Errors
/// `"{what} not after {deadline}: last seen: ..."` at the deadline, or the probe's own error.
pub async fn until<T, F, Fut>(what: &str, deadline: Duration, mut wake: Option<watch::Receiver<u64>>, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Seen<T>>>,
{
    let start = Instant::now();
    let _shown = crate::progress::waiting(what, deadline);
    let mut last;
    let mut next_progress = start + PROGRESS_EVERY;
    tracing::debug!("waiting up to {} for {what}", humantime::format_duration(deadline));
    loop {
        let poll = match probe().await? {
            Seen::Done(v) => {
                tracing::debug!("{what}: after {} ms", start.elapsed().as_millis());
                return Ok(v);
            }
            Seen::NotYet(seen) => {
                last = seen;
                POLL
            }
            Seen::Soon(seen) => {
                last = seen;
                POLL_SOON
            }
        };
        let elapsed = start.elapsed();
        if elapsed >= deadline {
            anyhow::bail!("{what} not after {}: last seen: {last}", humantime::format_duration(deadline));
        }
        if Instant::now() >= next_progress {
            tracing::info!("still waiting for {what} ({}s of {}s): {last}", elapsed.as_secs(), deadline.as_secs());
            next_progress += PROGRESS_EVERY;
        }
        let nap = poll.min(deadline - elapsed);
        match wake.as_mut() {
            Some(rx) => {
                tokio::select! {
                    _ = rx.changed() => {}
                    _ = tokio::time::sleep(nap) => {}
                }
            }
            None => tokio::time::sleep(nap).await,
        }
    }
}

/// As [`until`], but looks overlap: a look starts every [`POLL`] ([`POLL_SOON`] after a
/// [`Seen::Soon`], at once on a wake) even while earlier ones are still out, up to `overlap` at a
/// time, and the first to answer `Done` ends the wait. Where one look takes longer than the
/// interval (each four-letter word through a Kubernetes port-forward opens a connection through
/// the API server), the moment the condition holds is then noticed about one look after it,
/// rather than up to two.
///
/// # Errors
/// As [`until`]: at the deadline, naming the last sighting, or the first look's own error.
pub async fn until_overlapping<T, F, Fut>(what: &str, deadline: Duration, overlap: usize, mut wake: Option<watch::Receiver<u64>>, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Seen<T>>>,
{
    use futures::stream::{FuturesUnordered, StreamExt};
    let start = Instant::now();
    let _shown = crate::progress::waiting(what, deadline);
    let end = start + deadline;
    let mut last = String::from("no look answered yet");
    let mut gap = POLL;
    let mut next = start;
    let mut next_progress = start + PROGRESS_EVERY;
    let mut out = FuturesUnordered::new();
    tracing::debug!("waiting up to {} for {what} (looks overlap, {overlap} at most)", humantime::format_duration(deadline));
    loop {
        let now = Instant::now();
        if now >= end {
            anyhow::bail!("{what} not after {}: last seen: {last}", humantime::format_duration(deadline));
        }
        if now >= next && out.len() < overlap.max(1) {
            out.push(probe());
            next = now + gap;
        }
        if now >= next_progress {
            tracing::info!("still waiting for {what} ({}s of {}s): {last}", now.duration_since(start).as_secs(), deadline.as_secs());
            next_progress += PROGRESS_EVERY;
        }
        let start_next = tokio::time::sleep_until(if out.len() < overlap.max(1) { next.min(end) } else { end });
        let woken = async {
            match wake.as_mut() {
                Some(rx) => {
                    if rx.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            Some(seen) = out.next(), if !out.is_empty() => match seen? {
                Seen::Done(v) => {
                    tracing::debug!("{what}: after {} ms", start.elapsed().as_millis());
                    return Ok(v);
                }
                Seen::NotYet(seen) => {
                    last = seen;
                    gap = POLL;
                }
                Seen::Soon(seen) => {
                    last = seen;
                    if gap != POLL_SOON {
                        next = next.min(Instant::now() + POLL_SOON);
                    }
                    gap = POLL_SOON;
                }
            },
            _ = start_next => {}
            _ = woken => next = Instant::now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many looks a second of waiting takes when every look says `seen`.
    async fn looks_in_a_second(seen: fn(String) -> Seen<()>) -> u32 {
        let mut n = 0;
        let _ = until::<(), _, _>("x", Duration::from_secs(1), None, || {
            n += 1;
            let s = seen(format!("look {n}"));
            async move { Ok(s) }
        })
        .await;
        n
    }

    #[tokio::test(start_paused = true)]
    async fn soon_looks_again_sooner_than_not_yet() {
        assert_eq!(looks_in_a_second(Seen::NotYet).await, 11, "every 100 ms, and once at the deadline");
        assert_eq!(looks_in_a_second(Seen::Soon).await, 51, "every 20 ms, and once at the deadline");
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_deadline_naming_what_and_the_last_sighting() {
        let mut n = 0;
        let err = until::<(), _, _>("zk-1 Ready", Duration::from_secs(2), None, || {
            n += 1;
            let seen = format!("probe said no ({n})");
            async move { Ok(Seen::NotYet(seen)) }
        })
        .await
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("zk-1 Ready not after 2s: last seen: probe said no"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn stops_on_done_and_on_wrong() {
        let mut n = 0;
        let v = until("third look", Duration::from_secs(5), None, || {
            n += 1;
            let n = n;
            async move { Ok(if n == 3 { Seen::Done(n) } else { Seen::NotYet(String::new()) }) }
        })
        .await
        .unwrap();
        assert_eq!(v, 3);
        let err = until::<(), _, _>("x", Duration::from_secs(5), None, || async { anyhow::bail!("wrong value") }).await.unwrap_err();
        assert_eq!(err.to_string(), "wrong value");
    }

    /// A probe whose looks each take `look` and say `Done` from `done_at` on (by when the look started).
    async fn overlapping(look: Duration, done_at: Duration, overlap: usize) -> (Duration, usize) {
        let began = Instant::now();
        let mut looks = 0;
        let r = until_overlapping("x", Duration::from_secs(5), overlap, None, || {
            looks += 1;
            let started = began.elapsed();
            async move {
                tokio::time::sleep(look).await;
                Ok(if started >= done_at { Seen::Done(()) } else { Seen::Soon(String::new()) })
            }
        })
        .await;
        r.unwrap();
        (began.elapsed(), looks)
    }

    #[tokio::test(start_paused = true)]
    async fn overlapping_looks_notice_sooner_than_one_look_after_another() {
        let look = Duration::from_millis(150);
        let done_at = Duration::from_millis(1000);
        let (alone, _) = overlapping(look, done_at, 1).await;
        let (overlapped, looks) = overlapping(look, done_at, 4).await;
        // One at a time: a look starts as the one before answers (0, 150, ... 1050 ms), and the
        // first started at or after 1 s answers at 1200 ms. Overlapping: one starts every 20 ms,
        // four out at once.
        assert_eq!(alone, Duration::from_millis(1200), "one look after another");
        assert!(overlapped <= done_at + look + POLL_SOON, "{overlapped:?}: about one look after it holds");
        assert!(overlapped < alone);
        assert!(looks >= 4, "{looks} looks");
    }

    #[tokio::test(start_paused = true)]
    async fn overlapping_looks_never_exceed_the_bound_and_give_up_at_the_deadline() {
        let out = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let err = until_overlapping::<(), _, _>("zk-1 whole", Duration::from_secs(2), 3, None, || {
            let (out, most) = (out.clone(), most.clone());
            async move {
                let now = out.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(500)).await;
                out.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                Ok(Seen::Soon("a follower syncing".into()))
            }
        })
        .await
        .unwrap_err()
        .to_string();
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 3, "at most three looks out at once");
        assert!(err.starts_with("zk-1 whole not after 2s: last seen: a follower syncing"), "{err}");
        let wrong = until_overlapping::<(), _, _>("x", Duration::from_secs(2), 3, None, || async { anyhow::bail!("wrong value") }).await.unwrap_err();
        assert_eq!(wrong.to_string(), "wrong value");
    }
}
