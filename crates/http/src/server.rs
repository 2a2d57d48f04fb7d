//! Accepting client connections and serving HTTP/1.1 and HTTP/2 on them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ballast_config::{HttpListenerLimits, ListenerName};
use http::HeaderValue;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::conn_state::{ConnState, Expiry, TrackedIo};
use crate::headers::Forwarded;
use crate::proxy::{handle, ConnCtx};
use crate::snapshot::SharedSnapshot;

/// How often a draining connection that awaits its request is looked at.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// What a worker needs to serve one listener socket.
#[derive(Debug, Clone)]
pub struct ListenerTask {
    /// The listener's name, to find its routes in each snapshot.
    pub name: ListenerName,
    /// The routing table, swapped by the control plane.
    pub snapshot: SharedSnapshot,
    /// This worker's index, selecting its connection pools.
    pub worker: usize,
    /// Cancelled when the listener must stop accepting and drain.
    pub shutdown: CancellationToken,
    /// Tracks every connection task so shutdown can wait for them.
    pub connections: TaskTracker,
}

/// Accepts connections on `listener` until `task.shutdown` is cancelled.
///
/// Runs on the worker's own runtime; every connection is served on the same thread.
pub async fn serve_listener(listener: TcpListener, task: ListenerTask) {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let port = HeaderValue::from(port);
    loop {
        let accepted = tokio::select! {
            biased;
            () = task.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let (tls, metrics) = task
                    .snapshot
                    .load()
                    .listener(&task.name)
                    .map(|l| (l.tls.clone(), l.metrics.clone()))
                    .unwrap_or_default();
                if let Some(m) = &metrics {
                    m.connections.inc();
                    m.connections_active.inc();
                }
                let ctx = connection_context(&task, peer, port.clone(), tls.is_some(), metrics);
                let shutdown = task.shutdown.clone();
                match tls {
                    None => task
                        .connections
                        .spawn(serve_connection(stream, ctx, shutdown)),
                    Some(config) => task
                        .connections
                        .spawn(serve_tls_connection(stream, config, ctx, shutdown)),
                };
            }
            Err(error) => {
                // Out of file descriptors or similar: back off instead of spinning.
                tracing::warn!(listener = %task.name, %error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Completes the TLS handshake (within the request header timeout, so a silent client
/// cannot hold a socket), then serves HTTP/1.1 or HTTP/2 as ALPN chose.
async fn serve_tls_connection(
    stream: TcpStream,
    config: Arc<rustls::ServerConfig>,
    mut ctx: ConnCtx,
    shutdown: CancellationToken,
) {
    let Some(limits) = ctx
        .snapshot
        .load()
        .listener(&ctx.listener)
        .map(|l| l.limits)
    else {
        return;
    };
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "set_nodelay failed");
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let handshake = tokio::time::timeout(limits.request_header_timeout, acceptor.accept(stream));
    let tls = match handshake.await {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            tracing::debug!(listener = %ctx.listener, %error, "TLS handshake failed");
            if let Some(m) = &ctx.metrics {
                m.tls_handshake_errors.inc();
            }
            return;
        }
        Err(_) => {
            tracing::debug!(listener = %ctx.listener, "TLS handshake timed out");
            if let Some(m) = &ctx.metrics {
                m.tls_handshake_errors.inc();
            }
            return;
        }
    };
    let session = tls.get_ref().1;
    if session.alpn_protocol() == Some(ballast_tls::ACME_TLS_ALPN) {
        // A tls-alpn-01 validation: the handshake was the answer, no HTTP follows.
        tracing::info!(listener = %ctx.listener, "answered an ACME tls-alpn-01 challenge");
        return;
    }
    ctx.tls = Some(crate::proxy::TlsInfo::from_session(session));
    serve_io(tls, limits, ctx, shutdown).await;
}

fn connection_context(
    task: &ListenerTask,
    peer: SocketAddr,
    port: HeaderValue,
    tls: bool,
    metrics: Option<Arc<ballast_telemetry::metrics::ListenerMetrics>>,
) -> ConnCtx {
    let client_ip = HeaderValue::try_from(peer.ip().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
    ConnCtx {
        listener: task.name.clone(),
        snapshot: Arc::clone(&task.snapshot),
        worker: task.worker,
        forwarded: Forwarded {
            client_ip,
            proto: HeaderValue::from_static(if tls { "https" } else { "http" }),
            port,
        },
        state: ConnState::new(),
        peer: peer.ip(),
        peer_addr: peer,
        tls: None,
        metrics,
    }
}

async fn serve_connection(stream: TcpStream, ctx: ConnCtx, shutdown: CancellationToken) {
    let Some(limits) = ctx
        .snapshot
        .load()
        .listener(&ctx.listener)
        .map(|l| l.limits)
    else {
        return;
    };
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "set_nodelay failed");
    }
    serve_io(stream, limits, ctx, shutdown).await;
}

/// Serves HTTP on an established connection, plain or TLS.
async fn serve_io<I>(io: I, limits: HttpListenerLimits, ctx: ConnCtx, shutdown: CancellationToken)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let state = Arc::clone(&ctx.state);
    let io = TokioIo::new(TrackedIo::new(io, Arc::clone(&state)));
    let metrics = ctx.metrics.clone();
    let ctx = Arc::new(ctx);
    let service = service_fn(move |req| handle(req, Arc::clone(&ctx)));
    let builder = server_builder(&limits);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let sleep = tokio::time::sleep(limits.request_header_timeout);
    tokio::pin!(sleep);
    let mut draining = false;
    let mut awaiting = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "client connection ended with an error");
                    if let (Some(m), Some(status)) = (&metrics, refused_by_parser(&*error)) {
                        // hyper answered this request itself (a malformed or oversized
                        // head): Ballast's own error all the same.
                        m.requests.inc();
                        m.responses.record(status);
                        m.errors.record(status);
                    }
                }
                return;
            }
            () = shutdown.cancelled(), if !draining && !awaiting => {
                if state.request_due() {
                    // A fresh connection or a head on its way: serve that request first
                    // (the header timeout still bounds the wait).
                    awaiting = true;
                } else {
                    conn.as_mut().graceful_shutdown();
                    draining = true;
                }
            }
            () = tokio::time::sleep(DRAIN_POLL), if awaiting && !draining => {
                if !state.request_due() {
                    conn.as_mut().graceful_shutdown();
                    draining = true;
                }
            }
            expiry = state.expired(&limits, sleep.as_mut()), if !draining => match expiry {
                Expiry::HeaderTimeout => {
                    tracing::debug!("request header timeout: closing client connection");
                    return;
                }
                Expiry::Idle => {
                    conn.as_mut().graceful_shutdown();
                    draining = true;
                }
            },
        }
    }
}

/// The status hyper's HTTP/1 parser answered with before closing, if the connection ended
/// because it refused a request head: 431 for one over the size limits, else 400.
fn refused_by_parser(error: &(dyn std::error::Error + 'static)) -> Option<u16> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            return if hyper.is_parse_too_large() {
                Some(431)
            } else if hyper.is_parse() {
                Some(400)
            } else {
                None
            };
        }
        cause = e.source();
    }
    None
}

fn server_builder(limits: &HttpListenerLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // Our own watchdog times the request head (see conn_state): hyper's header timeout
        // would also cut idle keep-alive connections at the header deadline.
        .header_read_timeout(None)
        .keep_alive(true)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(limits.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}
