//! `tcp` and `tls` listeners: accept, read what must be read before routing (a trusted
//! PROXY header, the ClientHello when rules route by SNI, the TLS handshake of a `tls`
//! listener), choose the group and target, and relay the bytes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballast_config::ListenerProtocol;
use tokio::net::TcpStream;

use crate::connect::{connect, ConnectFailure, Flow, TargetConn};
use crate::forward::{forward, forward_plain};
use crate::lazy_tcp::{Acceptor, LazyTcpStream};
use crate::limits::{is_resource_exhaustion, FdSlot, ListenerSlot};
use crate::log::{ConnLog, Outcome};
use crate::prelude::{peek_client_hello, read_proxy_header, Endpoints, PreludeRefusal};
use crate::snapshot::{L4Listener, L4Route};
use crate::stream::Prefixed;
use crate::task::L4Task;

/// How long the accept loop pauses when Ballast is out of file descriptors or memory.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

static ACCEPT_LOG: ballast_telemetry::LogLimiter = ballast_telemetry::LogLimiter::new(1);

/// Bytes read from a client at accept, before its target is connected (the rest waits for
/// the relay).
const EARLY_READ: usize = 8 * 1024;

/// Accepts connections on `listener` until the task's listener stops. Connections start
/// unregistered with the event loop (`lazy_tcp`; the acceptor set `TCP_NODELAY` on the
/// listening socket, which Linux copies to each): bytes already there are read first.
pub async fn serve_tcp(listener: Acceptor, task: L4Task) {
    let task = Arc::new(task);
    // A listener bound to one address is every connection's local address (no
    // getsockname per connection); a wildcard one asks each socket.
    let bound = listener
        .local_addr()
        .ok()
        .filter(|a| !a.ip().is_unspecified());
    let stop = task.stop_flag();
    let stopped = || std::future::poll_fn(|cx| stop.poll_raised(cx));
    loop {
        let Some(slot) = task.fds.acquire() else {
            if let Some(suppressed) = ACCEPT_LOG.allow() {
                tracing::warn!(listener = %task.name, limit = task.fds.limit(), suppressed, "not accepting: Ballast's file descriptor budget is spent (raise ulimit -n)");
            }
            tokio::select! {
                () = stopped() => break,
                () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
            }
        };
        let accepted = tokio::select! {
            biased;
            () = stopped() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                // One load per connection: the connection keeps this snapshot while it routes.
                let snapshot = task.snapshot.load_full();
                let Some(l) = snapshot.listener(&task.name) else {
                    continue;
                };
                let place = match task
                    .open
                    .admit_client(&l.edge, peer.ip(), l.max_connections)
                {
                    Ok(place) => place,
                    Err(refused) => {
                        crate::admission::refused(
                            refused,
                            &task.name,
                            l.protocol,
                            peer,
                            l.metrics.as_deref(),
                            snapshot.access_log.as_deref(),
                        );
                        // A reset, as for a connection no target takes: the client does
                        // not wait, and no TIME_WAIT stays here.
                        let _ = stream.set_zero_linger();
                        continue;
                    }
                };
                let conn = Conn {
                    task: Arc::clone(&task),
                    peer,
                    bound,
                    _slot: slot,
                    _place: place,
                };
                // Boxed: tokio moves a task's future into the task when it spawns it and
                // writes the task's final stage over the whole of it when it ends; a
                // 3 KiB future made both a copy of 3 KiB.
                task.connections
                    .spawn(Box::pin(serve_conn(stream, conn, snapshot)));
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
}

/// One client connection with what it holds while it lives.
struct Conn {
    task: Arc<L4Task>,
    peer: SocketAddr,
    /// The listener's address, when it is bound to one (not a wildcard).
    bound: Option<SocketAddr>,
    _slot: FdSlot,
    _place: ListenerSlot,
}

/// `snapshot` is the one loaded at accept, held until the connection is routed.
///
/// Not an `async fn`: the future of one keeps its arguments and the locals they are moved
/// into side by side (rust-lang/rust#62958), and this future is every connection's task for
/// the connection's whole life (its size is memory per open connection). Values used only
/// to route are scoped to a block, so their room is free again while the bytes are relayed.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn's future stores its arguments twice"
)]
fn serve_conn(
    mut client: LazyTcpStream,
    conn: Conn,
    snapshot: Arc<crate::snapshot::L4Snapshot>,
) -> impl std::future::Future<Output = ()> {
    async move {
        let started = Instant::now();
        let Some(listener) = snapshot.listener(&conn.task.name) else {
            return;
        };
        let metrics = listener.metrics.clone();
        if let Some(m) = &metrics {
            m.connections.inc();
            m.connections_active.inc();
        }
        let _active = scopeguard(metrics.clone());
        let local = match conn.bound {
            Some(bound) => bound,
            None => client.local_addr().unwrap_or(conn.peer),
        };
        let mut log = ConnLog::new(listener, conn.peer, snapshot.access_log.clone(), started);
        let mut prelude = Vec::new();
        // What the client has sent already (on a deferred listener, its first bytes are there)
        // is read now, so that it goes out with the target's connect (`open_tcp`) and no turn of
        // the event loop waits for either socket. Without deferred accept a client that waits for
        // the server (SMTP, MySQL) costs this one read for nothing. A PROXY header, a
        // ClientHello or a handshake is read below instead.
        if listener.accept_proxy.is_none()
            && listener.rules.is_empty()
            && listener.protocol != ListenerProtocol::Tls
            && read_early(&mut client, &mut prelude).is_err()
        {
            return log.refused(Outcome::ClientClosed, &metrics);
        }
        let Ok(mut client) = client.into_registered() else {
            return log.refused(Outcome::Exhausted, &metrics);
        };
        let mut ends = Endpoints {
            client: conn.peer,
            local,
        };
        if let Some(trusted) = &listener.accept_proxy {
            if !trusted.iter().any(|c| c.contains(conn.peer.ip())) {
                return log.refused(Outcome::UntrustedProxy, &metrics);
            }
            match read_proxy_header(
                &mut client,
                &mut prelude,
                ends,
                listener.config.client_hello_timeout,
            )
            .await
            {
                Ok(told) => ends = told,
                Err(PreludeRefusal::Proxy(_)) => {
                    return log.refused(Outcome::BadProxyHeader, &metrics)
                }
                Err(PreludeRefusal::Closed) => return log.refused(Outcome::ClientClosed, &metrics),
            }
            log.client = ends.client;
        }
        match listener.protocol {
            ListenerProtocol::Tls => {
                // Boxed: the handshake's state (rustls' connection, the timeout) would make every
                // connection's task 14 KiB, plain TCP ones too, and tokio copies a task's future
                // when it spawns it and again when it ends. A TLS connection pays one allocation.
                Box::pin(serve_tls(client, prelude, ends, listener, log, &conn)).await;
            }
            _ => {
                let target = {
                    let mut server_name = None;
                    let mut alpn = Vec::new();
                    if !listener.rules.is_empty() {
                        match peek_client_hello(
                            &mut client,
                            &mut prelude,
                            listener.config.client_hello_timeout,
                        )
                        .await
                        {
                            Ok(Some(hello)) => {
                                server_name = hello.server_name;
                                alpn = hello.alpn;
                            }
                            Ok(None) => {}
                            Err(_) => return log.refused(Outcome::ClientClosed, &metrics),
                        }
                    }
                    let (route, flow) = route(
                        listener,
                        ends,
                        server_name.as_deref(),
                        &alpn,
                        None,
                        &mut log,
                    );
                    // Boxed: choosing and connecting the target is a short phase with a large state
                    // (1.4 KiB), and a task's future is as large as its largest phase for the whole
                    // life of the connection.
                    let opening = open_target(route, &flow, &prelude, &conn, &mut log, listener);
                    Box::pin(opening).await
                };
                let Some(target) = target else {
                    return refuse(client, &log);
                };
                let idle = listener.config.idle_timeout;
                drop(snapshot);
                forward_plain(client, prelude, target, idle, log, &conn.task.fds).await;
            }
        }
    }
}

/// A `tls` listener: the handshake with the listener's certificates, then the plain bytes.
async fn serve_tls(
    client: TcpStream,
    prelude: Vec<u8>,
    ends: Endpoints,
    listener: &L4Listener,
    mut log: ConnLog,
    conn: &Conn,
) {
    let Some(config) = &listener.tls else {
        return;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(config));
    let handshake = acceptor.accept(Prefixed::new(prelude, client));
    let tls = match tokio::time::timeout(listener.config.client_hello_timeout, handshake).await {
        Ok(Ok(tls)) => tls,
        _ => {
            if let Some(m) = &listener.metrics {
                m.tls_handshake_errors.inc();
            }
            return log.refused(Outcome::Handshake, &listener.metrics);
        }
    };
    let session = tls.get_ref().1;
    let server_name = session.server_name().map(str::to_owned);
    let alpn: Vec<Vec<u8>> = session
        .alpn_protocol()
        .map(<[u8]>::to_vec)
        .into_iter()
        .collect();
    let agreed = alpn.first().map(Vec::as_slice);
    let (route, flow) = route(
        listener,
        ends,
        server_name.as_deref(),
        &alpn,
        agreed,
        &mut log,
    );
    let Some(target) = open_target(route, &flow, &[], conn, &mut log, listener).await else {
        return;
    };
    forward(tls, Vec::new(), target, listener.config.idle_timeout, log).await;
}

/// The route for what the client told (its server name and ALPN offer), noted in `log`, and
/// the flow the balancer and the PROXY header see (`agreed_alpn`: the protocol a `tls`
/// listener agreed on).
fn route<'a>(
    listener: &'a L4Listener,
    ends: Endpoints,
    server_name: Option<&'a str>,
    alpn: &[Vec<u8>],
    agreed_alpn: Option<&'a [u8]>,
    log: &mut ConnLog,
) -> (&'a L4Route, Flow<'a>) {
    let (route, rule) = listener.route(server_name, alpn);
    log.rule = rule;
    log.server_name = server_name.map(str::to_owned);
    let flow = Flow {
        client: ends.client,
        local: ends.local,
        udp: false,
        server_name,
        alpn: agreed_alpn,
    };
    (route, flow)
}

/// The target connection for a routed client, or `None` (logged) when there is none.
async fn open_target(
    route: &L4Route,
    flow: &Flow<'_>,
    early: &[u8],
    conn: &Conn,
    log: &mut ConnLog,
    listener: &L4Listener,
) -> Option<(TargetConn, Arc<crate::snapshot::L4Group>)> {
    let group = match route {
        L4Route::Reject => {
            log.refused(Outcome::Rejected, &listener.metrics);
            return None;
        }
        L4Route::Forward(group) => Arc::clone(group),
    };
    log.group = Some(group.name.clone());
    if let Some(m) = &group.metrics {
        m.requests.inc();
    }
    match connect(&group, flow, &conn.task.fds, early).await {
        Ok(target) => Some((target, group)),
        Err(failure) => {
            let outcome = match failure {
                ConnectFailure::NoTarget => Outcome::NoTarget,
                ConnectFailure::Exhausted => Outcome::Exhausted,
                ConnectFailure::Target(address, _) => {
                    log.target = Some(address);
                    Outcome::TargetFailed
                }
            };
            log.refused(outcome, &listener.metrics);
            None
        }
    }
}

/// Closes a client no target takes with a reset, as NLB does, so it does not wait.
fn refuse(client: TcpStream, _log: &ConnLog) {
    let _ = client.set_zero_linger();
}

/// Reads what the client has sent already into `into`, without waiting and without
/// registering the socket. Nothing there (or the end of its stream) leaves `into` empty: the
/// relay finds out. An error (a reset) ends the connection.
fn read_early(client: &mut LazyTcpStream, into: &mut Vec<u8>) -> std::io::Result<()> {
    // Not zeroed: a `memset` of 8 KiB per connection was 1.8% of the worker's user time.
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); EARLY_READ];
    match client.read_unregistered(&mut buf) {
        Ok(read) => into.extend_from_slice(read),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
            ) => {}
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Decrements the active-connection gauge when the connection ends.
fn scopeguard(metrics: Option<Arc<ballast_telemetry::metrics::ListenerMetrics>>) -> impl Drop {
    struct Active(Option<Arc<ballast_telemetry::metrics::ListenerMetrics>>);
    impl Drop for Active {
        fn drop(&mut self) {
            if let Some(m) = &self.0 {
                m.connections_active.dec();
            }
        }
    }
    Active(metrics)
}

#[cfg(test)]
mod tests;
