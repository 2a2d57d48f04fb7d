//! Accepting client connections and choosing the protocol each one speaks: on `https`
//! listeners, what ALPN agreed (`h2` → HTTP/2 only, else HTTP/1.x only, RFC 9113 §3.3); on
//! `http` listeners, HTTP/2 with prior knowledge when the connection preface arrives,
//! HTTP/1.x otherwise.

use std::sync::{Arc, Weak};
use std::time::Duration;

use ballast_config::{HttpListenerLimits, ListenerName};
use ballast_l4::lazy_tcp::{Acceptor, LazyTcpStream};
use ballast_telemetry::LogLimiter;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::buf::BufferPool;
use crate::conn::{ConnCtx, ListenerShared, TlsInfo};
use crate::h1::H1Conn;
use crate::limits::{is_resource_exhaustion, FdBudget, ListenerConnections};
use crate::signal::Signal;
use crate::snapshot::SharedSnapshot;

/// How long the accept loop pauses when Ballast is out of file descriptors or memory.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

static ACCEPT_LOG: LogLimiter = LogLimiter::new(1);
static HANDSHAKE_LOG: LogLimiter = LogLimiter::new(5);
static LIMIT_LOG: LogLimiter = LogLimiter::new(1);
static PROXY_LOG: LogLimiter = LogLimiter::new(1);

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
    /// This worker's buffers.
    pub buffers: Arc<BufferPool>,
    /// The process's data-plane socket budget.
    pub fds: Arc<FdBudget>,
    /// The listener's open client connections, shared by every worker serving it.
    pub open: Arc<ListenerConnections>,
}

/// Accepts connections on `listener` until `task.shutdown` is cancelled, then tells every
/// connection it accepted to drain.
///
/// Runs on the worker's own runtime; every connection is served on the same thread.
pub async fn serve_listener(listener: Acceptor, task: ListenerTask) {
    let local = listener.local_addr().ok();
    let port = local.map_or(0, |a| a.port());
    let shared = Arc::new(ListenerShared {
        name: task.name.clone(),
        snapshot: Arc::clone(&task.snapshot),
        worker: task.worker,
        port: port.to_string().into_bytes().into(),
        authority: local
            .map_or_else(|| "localhost".to_owned(), |a| a.to_string())
            .into_bytes()
            .into(),
        buffers: Arc::clone(&task.buffers),
        fds: Arc::clone(&task.fds),
        open: Arc::clone(&task.open),
        connections: task.connections.clone(),
    });
    let mut drains: Vec<Weak<Signal>> = Vec::new();
    // The token's future would take a lock each time it is polled (every accept); a signal
    // raised once by a small task costs an atomic load instead.
    let stop = Arc::new(Signal::default());
    let raise = Arc::clone(&stop);
    let token = task.shutdown.clone();
    tokio::spawn(async move {
        token.cancelled().await;
        raise.raise();
    });
    let stopped = || std::future::poll_fn(|cx| stop.poll_raised(cx));
    loop {
        let slot = match task.fds.acquire() {
            Some(slot) => slot,
            None => {
                // Out of budget: leave clients in the kernel's queue until a socket frees.
                if let Some(suppressed) = ACCEPT_LOG.allow() {
                    tracing::warn!(listener = %task.name, limit = task.fds.limit(), suppressed, "not accepting: Ballast's file descriptor budget is spent (raise ulimit -n)");
                }
                tokio::select! {
                    biased;
                    () = stopped() => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let accepted = tokio::select! {
            biased;
            () = stopped() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let drain = Arc::new(Signal::default());
                track(&mut drains, &drain);
                let routes = task.snapshot.load();
                let Some(l) = routes.listener(&task.name) else {
                    continue;
                };
                // Denied, or over `max_connections` or the client's limits: closed at once,
                // before a byte is read (the client sees the connection end and may retry; a
                // load balancer in front moves on).
                let place = task
                    .open
                    .admit_client(&l.edge, peer.ip(), l.limits.max_connections);
                let place = match place {
                    Ok(place) => place,
                    Err(refused) => {
                        ballast_l4::admission::refused(
                            refused,
                            &task.name,
                            if l.tls.is_some() {
                                ballast_config::ListenerProtocol::Https
                            } else {
                                ballast_config::ListenerProtocol::Http
                            },
                            peer,
                            l.metrics.as_deref(),
                            routes.access_log.as_deref(),
                        );
                        if let Some(suppressed) = LIMIT_LOG.allow() {
                            tracing::info!(listener = %task.name, client = %peer, reason = refused.as_str(), suppressed, "connection closed at accept");
                        }
                        drop(stream);
                        continue;
                    }
                };
                let (tls, limits, metrics, accept_proxy) = (
                    l.tls.clone(),
                    Arc::clone(&l.limits),
                    l.metrics.clone(),
                    l.accept_proxy.clone(),
                );
                drop(routes);
                if let Some(trusted) = accept_proxy {
                    let accepted = Accepted {
                        shared: Arc::clone(&shared),
                        peer,
                        metrics,
                        slot,
                        place,
                        limits,
                        drain,
                    };
                    task.connections
                        .spawn(Box::pin(serve_behind_proxy(stream, accepted, trusted, tls)));
                    continue;
                }
                // TCP_NODELAY came from the listening socket (see `Acceptor::new`).
                let ctx = ConnCtx::new(Arc::clone(&shared), peer, metrics, Some(slot), Some(place));
                match tls {
                    // The task of a plain connection is small (it lives as long as the
                    // connection, idle or not); TLS and HTTP/2 state is boxed.
                    None => task.connections.spawn(crate::h1::serve_h1(H1Conn::new(
                        stream, ctx, limits, drain, true,
                    ))),
                    Some(config) => task
                        .connections
                        .spawn(Box::pin(serve_tls(stream, ctx, config, limits, drain))),
                };
            }
            Err(error) => {
                drop(slot);
                if let Some(suppressed) = ACCEPT_LOG.allow() {
                    tracing::warn!(listener = %task.name, %error, suppressed, "accept failed");
                }
                if is_resource_exhaustion(&error) {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }
    for drain in drains.iter().filter_map(Weak::upgrade) {
        drain.raise();
    }
}

/// A connection accepted on a listener that expects PROXY headers, before its header is read.
struct Accepted {
    shared: Arc<ListenerShared>,
    peer: std::net::SocketAddr,
    metrics: Option<Arc<ballast_telemetry::metrics::ListenerMetrics>>,
    slot: ballast_l4::limits::FdSlot,
    place: ballast_l4::limits::ListenerSlot,
    limits: Arc<HttpListenerLimits>,
    drain: Arc<Signal>,
}

/// A connection from a load balancer in front: its PROXY header names the client (for
/// `X-Forwarded-For`, `source_ip` rules and the access log), then HTTP (or TLS) follows as
/// on any connection. From an untrusted address, or with a bad header, it is closed.
async fn serve_behind_proxy(
    mut stream: LazyTcpStream,
    accepted: Accepted,
    trusted: Arc<[ballast_config::Cidr]>,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    use ballast_telemetry::l4::Refusal;
    let refuse = |reason: Refusal| {
        if let Some(m) = &accepted.metrics {
            m.l4.refuse(reason);
        }
        if let Some(suppressed) = PROXY_LOG.allow() {
            tracing::debug!(listener = %accepted.shared.name, peer = %accepted.peer, reason = reason.as_str(), suppressed, "connection closed before HTTP");
        }
    };
    if !trusted.iter().any(|c| c.contains(accepted.peer.ip())) {
        return refuse(Refusal::UntrustedProxy);
    }
    let timeout = accepted.limits.request_header_timeout;
    // The header is peeked for, which needs the socket's readiness: registered at once.
    let Ok(registered) = stream.registered() else {
        return refuse(Refusal::ClientClosed);
    };
    let told = match ballast_l4::prelude::consume_proxy_header(registered, timeout).await {
        Ok(told) => told,
        Err(ballast_l4::prelude::PreludeRefusal::Closed) => return refuse(Refusal::ClientClosed),
        Err(_) => return refuse(Refusal::BadProxyHeader),
    };
    let Accepted {
        shared,
        metrics,
        slot,
        place,
        limits,
        drain,
        ..
    } = accepted;
    let client = told.map_or(accepted.peer, |a| a.source);
    let mut ctx = ConnCtx::new(shared, client, metrics, Some(slot), Some(place));
    // Passed on in PROXY headers to targets, as the load balancer in front told it.
    ctx.destination = told.map(|a| Box::new(a.destination));
    match tls {
        None => crate::h1::serve_h1(H1Conn::new(stream, ctx, limits, drain, true)).await,
        Some(config) => serve_tls(stream, ctx, config, limits, drain).await,
    }
}

/// Keeps a weak handle on a connection's drain signal, sweeping out closed ones now and then.
fn track(drains: &mut Vec<Weak<Signal>>, drain: &Arc<Signal>) {
    if drains.len() >= 64 && drains.len().is_power_of_two() {
        drains.retain(|d| d.strong_count() > 0);
    }
    drains.push(Arc::downgrade(drain));
}

/// The TLS handshake (within the header timeout), then what ALPN agreed.
async fn serve_tls(
    stream: LazyTcpStream,
    mut ctx: ConnCtx,
    config: Arc<rustls::ServerConfig>,
    limits: Arc<HttpListenerLimits>,
    drain: Arc<Signal>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let handshake = tokio::time::timeout(limits.request_header_timeout, acceptor.accept(stream));
    let tls = match handshake.await {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => return handshake_failed(&ctx, Some(error)),
        Err(_) => return handshake_failed(&ctx, None),
    };
    let session = tls.get_ref().1;
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    if alpn.as_deref() == Some(ballast_tls::ACME_TLS_ALPN) {
        // A tls-alpn-01 validation: the handshake was the answer, no HTTP follows.
        tracing::info!(listener = %ctx.listener.name, "answered an ACME tls-alpn-01 challenge");
        return;
    }
    ctx.tls = Some(Box::new(TlsInfo::from_session(session)));
    if alpn.as_deref() == Some(b"h2") {
        // Its requests will not hold the socket: the address it reached is kept for PROXY
        // headers to targets.
        if ctx.destination.is_none() {
            ctx.destination = tls.get_ref().0.local_addr().ok().map(Box::new);
        }
        Box::pin(crate::h2::serve_h2(tls, ctx, limits, drain)).await;
    } else {
        crate::h1::serve_h1(H1Conn::new(tls, ctx, limits, drain, false)).await;
    }
}

fn handshake_failed(ctx: &ConnCtx, error: Option<std::io::Error>) {
    if let Some(m) = &ctx.metrics {
        m.tls_handshake_errors.inc();
    }
    if let Some(suppressed) = HANDSHAKE_LOG.allow() {
        match error {
            Some(error) => {
                tracing::debug!(listener = %ctx.listener.name, client = %ctx.peer, %error, suppressed, "TLS handshake failed")
            }
            None => {
                tracing::debug!(listener = %ctx.listener.name, client = %ctx.peer, suppressed, "TLS handshake timed out")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain connection's task lives as long as the connection, idle or not: its size is
    /// what an idle keep-alive connection costs (plus the socket's registration).
    #[tokio::test]
    async fn plain_connection_tasks_stay_small() {
        let listener = Acceptor::new(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        let shared = Arc::new(ListenerShared {
            name: ListenerName::from("web"),
            snapshot: Arc::default(),
            worker: 0,
            port: b"80".to_vec().into(),
            authority: b"127.0.0.1:80".to_vec().into(),
            buffers: BufferPool::new(),
            fds: FdBudget::unlimited(),
            open: ListenerConnections::new(),
            connections: TaskTracker::new(),
        });
        let limits = HttpListenerLimits {
            request_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            upgrade_idle_timeout: Duration::from_secs(60),
            max_header_bytes: 65536,
            max_headers: 100,
            max_connections: None,
            max_requests_per_connection: None,
            request_timeout: None,
            http2_max_concurrent_streams: 128,
            min_body_rate: None,
            desync_mode: ballast_config::DesyncMode::Defensive,
        };
        let ctx = ConnCtx::new(shared, peer, None, None, None);
        let task = crate::h1::serve_h1(H1Conn::new(
            stream,
            ctx,
            Arc::new(limits),
            Arc::default(),
            true,
        ));
        let size = std::mem::size_of_val(&task);
        eprintln!(
            "connection future {size} bytes, tokio Sleep {} bytes, H1Conn {} bytes",
            std::mem::size_of::<tokio::time::Sleep>(),
            std::mem::size_of::<H1Conn<LazyTcpStream>>()
        );
        // Optimised builds lay futures out tightly; debug builds keep every local apart.
        // Tokio's task adds about 104 bytes (header, scheduler, id, trailer; 8 more for the
        // task tracker, 8 for the stage's tag) and rounds up to 128: up to 264 bytes the task
        // is 384 bytes, beyond it is 512 (the alloc bench's "heap held per idle connection"
        // shows it: 256 bytes gave 384, 280 gave 512). The connection's timer is boxed beside
        // it (112 bytes), so that the request's future can own it and live in a reused box
        // (`h1::request_box`).
        let limit = if cfg!(debug_assertions) { 1024 } else { 264 };
        assert!(
            size <= limit,
            "a plain connection's task takes {size} bytes"
        );
        drop(client);
    }
}
