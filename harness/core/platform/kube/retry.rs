//! Reads sent again when the connection failed under them (never writes, never an API error).

use std::time::Duration;

/// Sends a read again when the connection failed under it, up to 3 more times (100, 200, 300 ms
/// apart): a pooled connection the API server closed just as it was reused fails with "connection
/// closed before message completed", though the server never saw the request. Only for reads,
/// which are safe to repeat; an answer of the API server (an error status) is returned as it is.
pub async fn reread<T, F, Fut>(mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut tries = 0u64;
    loop {
        match call().await {
            Err(e @ (kube::Error::Service(_) | kube::Error::HyperError(_))) if tries < 3 => {
                tries += 1;
                tracing::debug!("read failed in transport ({e}); again, try {tries} of 3");
                tokio::time::sleep(Duration::from_millis(100 * tries)).await;
            }
            other => return other,
        }
    }
}
