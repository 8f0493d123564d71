//! The port-forward pool: each member's client port on a local listener, every connection forwarded
//! through a port-forward opened ahead of need.

use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;

/// How long a port-forward opened ahead of need stays on offer (see [`forward_loop`]). The
/// runtime dials the server in the pod when the port-forward opens, and ZooKeeper closes a
/// connection that has not asked for a session within 10 s (its sessionless-connection timeout):
/// an older spare is closed and another opened.
pub(super) const SPARE_FOR: Duration = Duration::from_secs(7);

/// How many port-forwards per member port are kept open ahead. A wait's look asks each member
/// `srvr` and the leader `mntr` too, and its looks overlap ([`crate::ensemble::OVERLAP`]): with
/// one spare, most exchanges of a look opened their own port-forward (about 50 ms here, and
/// several times that under load).
pub(super) const SPARES: usize = 3;

/// How often the spares are looked over: one that found nothing listening in the pod (the
/// member is starting or down) or is too old is replaced. Soon enough that a spare is ready
/// shortly after the server listens; while nothing does, one spare at a time is tried, so the
/// API server is asked at most this often.
pub(super) const SPARE_CHECK: Duration = Duration::from_millis(200);

/// A port-forward opened before a connection needs it; closed when dropped unused.
pub(super) struct Spare {
    pf: Option<kube::api::Portforwarder>,
    made: tokio::time::Instant,
    /// Resolves when the runtime reports an error for the port (nothing listened when it
    /// dialled) or the port-forward ended: either way the spare cannot carry a connection. Fused:
    /// once resolved it says so without being polled again.
    ended: futures::future::Fuse<futures::future::BoxFuture<'static, Option<String>>>,
}

impl Spare {
    fn open_for(&self) -> Duration {
        SPARE_FOR.saturating_sub(self.made.elapsed())
    }

    /// The runtime reported an error for the port, or the port-forward ended.
    fn ended(&mut self) -> bool {
        use futures::future::{FusedFuture, FutureExt};
        self.ended.is_terminated() || (&mut self.ended).now_or_never().is_some()
    }

    /// Still on offer and still able to carry a connection.
    fn usable(&mut self) -> bool {
        !self.open_for().is_zero() && !self.ended()
    }
}

impl Drop for Spare {
    fn drop(&mut self) {
        if let Some(pf) = &self.pf {
            pf.abort();
        }
    }
}

/// Accepts connections on `listener` and forwards each through a port-forward to `pod:port`.
///
/// Opening a port-forward (a WebSocket to the API server, the kubelet's stream, the runtime's
/// dial into the pod) is most of what a new connection would wait for, and the harness opens one
/// for each probe of a member: up to [`SPARES`] are kept open ahead ([`SPARE_FOR`]), the oldest
/// taken by the next connection and replaced at once; one that found nothing listening or is too
/// old is replaced within [`SPARE_CHECK`]. Both loops run in this task, so aborting it ends both.
pub(super) async fn forward_loop(listener: tokio::net::TcpListener, pods: Api<Pod>, pod: String, port: u16) {
    let pool: Mutex<std::collections::VecDeque<Spare>> = Mutex::new(Default::default());
    let taken = tokio::sync::Notify::new();
    let accept = async {
        loop {
            let Ok((conn, _)) = listener.accept().await else { return };
            let spare = {
                let mut pool = pool.lock().expect("spare lock");
                pool.retain_mut(Spare::usable);
                pool.pop_front()
            };
            if spare.is_some() {
                taken.notify_one();
            }
            let pf = spare.and_then(|mut s| s.pf.take());
            tokio::spawn(forward(conn, pf, pods.clone(), pod.clone(), port));
        }
    };
    let spares = async {
        // The last spares opened found nothing listening, or could not be opened: open one at a
        // time until one stays up.
        let mut probing = false;
        let mut opened_last = 0;
        loop {
            let missing = {
                let mut pool = pool.lock().expect("spare lock");
                let before = pool.len();
                pool.retain_mut(|s| !s.ended());
                if pool.len() < before {
                    probing = true;
                } else if opened_last > 0 {
                    probing = false;
                }
                pool.retain_mut(|s| !s.open_for().is_zero());
                SPARES - pool.len()
            };
            let want = if probing { missing.min(1) } else { missing };
            let opened: Vec<Spare> = futures::future::join_all((0..want).map(|_| open_spare(&pods, &pod, port))).await.into_iter().flatten().collect();
            opened_last = opened.len();
            let wait = if opened_last < want {
                // The pod may be gone for a while (deleted, re-created): try again, slowly.
                probing = true;
                Duration::from_millis(500)
            } else {
                SPARE_CHECK
            };
            pool.lock().expect("spare lock").extend(opened);
            let _ = tokio::time::timeout(wait, taken.notified()).await;
        }
    };
    tokio::select! {
        () = accept => {}
        () = spares => {}
    }
}

/// Opens a port-forward to `pod:port` to keep ahead of need; `None` when it could not be opened
/// (the pod may be gone for a while: deleted, re-created).
pub(super) async fn open_spare(pods: &Api<Pod>, pod: &str, port: u16) -> Option<Spare> {
    let made = tokio::time::Instant::now();
    match pods.portforward(pod, &[port]).await {
        Ok(mut pf) => {
            tracing::trace!("port-forward to {pod}:{port}: a spare opened in {} ms", made.elapsed().as_millis());
            use futures::FutureExt;
            let ended = match pf.take_error(port) {
                Some(e) => Box::pin(e) as futures::future::BoxFuture<'static, Option<String>>,
                None => Box::pin(async { None }),
            };
            Some(Spare { pf: Some(pf), made, ended: ended.fuse() })
        }
        Err(e) => {
            tracing::trace!("port-forward to {pod}:{port}: no spare: {e}");
            None
        }
    }
}

/// Forwards one accepted connection through `spare`, or a port-forward opened for it.
pub(super) async fn forward(mut conn: tokio::net::TcpStream, spare: Option<kube::api::Portforwarder>, pods: Api<Pod>, pod: String, port: u16) {
    let mut pf = match spare {
        Some(pf) => pf,
        None => match pods.portforward(&pod, &[port]).await {
            Ok(pf) => pf,
            Err(e) => {
                tracing::debug!("port-forward to {pod}:{port}: {e}");
                return;
            }
        },
    };
    let Some(mut upstream) = pf.take_stream(port) else { return };
    if let Err(e) = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await {
        tracing::debug!("port-forward to {pod}:{port} ended: {e}");
    }
    drop(upstream);
    let _ = pf.join().await;
}
