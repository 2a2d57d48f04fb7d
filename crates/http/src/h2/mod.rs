//! HTTP/2 clients (h2 by ALPN on `https` listeners, h2c with prior knowledge on `http`
//! ones): hyper's HTTP/2 server, with Ballast's decision and attempt phases behind each
//! stream and HTTP/1.1 to the targets. Adds what hyper leaves to its user: an idle timer
//! that also closes clients that ignore GOAWAY, a bound on responses no one reads, and the
//! end of PING and SETTINGS floods.

mod body;
mod conn;
mod guard;
mod request;

use std::sync::Arc;
use std::time::Duration;

use ballast_config::HttpListenerLimits;
use ballast_telemetry::LogLimiter;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::time::Instant;

use crate::conn::ConnCtx;
use crate::signal::Signal;

pub(crate) use conn::ConnState;

/// How long a connection sent GOAWAY may stay once nothing is in flight: a client that never
/// answers (or closes) is not kept longer.
const GOAWAY_GRACE: Duration = Duration::from_secs(5);

/// What every stream of one HTTP/2 connection shares.
#[derive(Debug)]
pub(crate) struct H2Conn {
    pub(crate) ctx: ConnCtx,
    pub(crate) state: Arc<ConnState>,
}

static FLOOD_LOG: LogLimiter = LogLimiter::new(5);

/// Logs a flood (rate-limited: a flood of floods stays a few lines).
pub(crate) fn log_flood() {
    if let Some(suppressed) = FLOOD_LOG.allow() {
        tracing::info!(limit = guard::MAX_CONTROL_FRAMES_PER_SECOND, suppressed, "HTTP/2 client flooded PING or SETTINGS frames: GOAWAY ENHANCE_YOUR_CALM, connection closed");
    }
}

/// Serves HTTP/2 on an established connection until it ends.
pub(crate) async fn serve_h2<I>(
    io: I,
    ctx: ConnCtx,
    limits: HttpListenerLimits,
    draining: Arc<Signal>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let state = ConnState::new();
    let io = TokioIo::new(conn::TrackedIo::new(io, Arc::clone(&state)));
    let conn = Arc::new(H2Conn {
        ctx,
        state: Arc::clone(&state),
    });
    let service = service_fn(move |req| request::handle(req, Arc::clone(&conn)));
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
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
            expiry = state.expired(limits.idle_timeout, sleep.as_mut()), if closing.is_none() => match expiry {
                conn::Expiry::Idle => {
                    served.as_mut().graceful_shutdown();
                    closing = Some(Instant::now() + GOAWAY_GRACE);
                }
                conn::Expiry::Stalled => {
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
