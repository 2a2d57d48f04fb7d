//! The admin listener's accept loop: HTTP/1.1 through hyper, with a request header timeout
//! and a bound on open connections, as a data listener defends itself. A slow or idle client
//! is cut at the header timeout; a connection beyond the bound is closed at once, while the
//! connections already open are served as usual.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What the admin listener tolerates before it defends itself (`[admin]` in the config).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Time to receive a complete request head.
    pub(crate) request_header_timeout: Duration,
    /// Connections open at once.
    pub(crate) max_connections: usize,
}

/// Serves `router` on `listener` until `stop` is cancelled, then lets every connection
/// finish its response (hyper's graceful shutdown) and returns once all are closed.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors or similar: back off instead of spinning.
                tracing::warn!(%error, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::debug!(%peer, limit = limits.max_connections, "admin connection closed: too many open");
            drop(stream);
            continue;
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "set_nodelay failed");
        }
        let service = TowerToHyperService::new(router.clone());
        let stop = stop.clone();
        connections.spawn(async move {
            let _slot = slot;
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.request_header_timeout)
                .keep_alive(true);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                // A header timeout, a client gone mid-request: the client's business.
                tracing::debug!(%peer, %error, "admin connection ended with an error");
            }
        });
    }
    connections.close();
    connections.wait().await;
}
