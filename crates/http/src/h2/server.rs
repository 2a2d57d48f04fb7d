//! The HTTP/2 connection loop: hyper's server with Ballast's watchdog (idle, stalled
//! responses, clients that ignore GOAWAY) and drain.

use std::sync::Arc;
use std::time::Duration;

use ballast_config::HttpListenerLimits;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::time::Instant;

use super::conn::{ConnState, Expiry, H2Conn, TrackedIo};
use super::request::handle;
use super::watch::StreamExecutor;
use crate::conn::ConnCtx;
use crate::signal::Signal;

/// How long a connection sent GOAWAY may stay once nothing is in flight: a client that never
/// answers (or closes) is not kept longer.
const GOAWAY_GRACE: Duration = Duration::from_secs(5);

/// Serves HTTP/2 on an established connection until it ends.
pub(crate) async fn serve_h2<I>(
    io: I,
    ctx: ConnCtx,
    limits: Arc<HttpListenerLimits>,
    draining: Arc<Signal>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let state = ConnState::new(limits.max_requests_per_connection);
    let metrics = ctx.metrics.clone();
    let io = TokioIo::new(TrackedIo::new(
        io,
        Arc::clone(&state),
        limits.max_header_bytes,
        metrics.clone(),
    ));
    let conn = Arc::new(H2Conn {
        ctx,
        state: Arc::clone(&state),
    });
    let service = service_fn(move |req| handle(req, Arc::clone(&conn)));
    let mut builder = hyper::server::conn::http2::Builder::new(StreamExecutor {
        idle: limits.idle_timeout,
    });
    builder
        .timer(TokioTimer::new())
        // SETTINGS_ENABLE_CONNECT_PROTOCOL: WebSocket over HTTP/2 (RFC 8441).
        .enable_connect_protocol()
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(limits.http2_max_concurrent_streams);
    let served = builder.serve_connection(io, service);
    tokio::pin!(served);
    let sleep = tokio::time::sleep(limits.idle_timeout);
    tokio::pin!(sleep);
    let mut closing: Option<Instant> = None;
    loop {
        let grace = async {
            match closing {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = served.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "HTTP/2 client connection ended with an error");
                }
                return;
            }
            () = std::future::poll_fn(|cx| draining.poll_raised(cx)), if closing.is_none() => {
                served.as_mut().graceful_shutdown();
                closing = Some(Instant::now() + GOAWAY_GRACE);
            }
            // The last stream `max_requests_per_connection` allows has begun: GOAWAY, so the
            // client opens a new connection for the next ones.
            () = std::future::poll_fn(|cx| state.last_request.poll_raised(cx)), if closing.is_none() => {
                if let Some(m) = &metrics {
                    m.limit_hit(ballast_telemetry::metrics::Limit::MaxRequestsPerConnection);
                }
                served.as_mut().graceful_shutdown();
                closing = Some(Instant::now() + GOAWAY_GRACE);
            }
            expiry = state.expired(limits.idle_timeout, sleep.as_mut()), if closing.is_none() => match expiry {
                Expiry::Idle => {
                    served.as_mut().graceful_shutdown();
                    closing = Some(Instant::now() + GOAWAY_GRACE);
                }
                Expiry::Stalled => {
                    tracing::debug!("HTTP/2 responses stalled for the idle timeout: closing");
                    return;
                }
            },
            () = grace => {
                // The client had its chance to finish: streams still running keep it open
                // (the drain timeout bounds them), an idle or silent client is closed.
                if state.in_flight() == 0 {
                    tracing::debug!("HTTP/2 client did not close after GOAWAY: closing");
                    return;
                }
                closing = Some(Instant::now() + GOAWAY_GRACE);
            }
        }
    }
}
