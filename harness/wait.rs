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
}
