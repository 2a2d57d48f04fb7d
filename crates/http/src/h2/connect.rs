//! WebSocket from HTTP/2 clients (RFC 8441 extended CONNECT), bridged to an HTTP/1.1
//! upgrade to the target: the stream's `CONNECT` with `:protocol` goes to the target as a
//! `GET` with `Upgrade` (and the `Sec-WebSocket-Key` HTTP/2 clients do not send); the
//! target's `101` becomes a `200` on the stream, whose DATA frames then carry the tunnel.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::body::{H2Upload, ProxyBody};
use super::conn::{H2Conn, RequestGuard};
use crate::attempt::record_answer;
use crate::buf::Buf;
use crate::codec::{Field, FieldKind};
use crate::decide::Forwarding;
use crate::exchange::Exchange;
use crate::fault::Fault;
use crate::relay::Relayed;
use crate::rewrite::HeaderOps;
use crate::tunnel::tunnel;
use crate::upstream::Upload;

/// An extended CONNECT stream: the protocol it asks for, and its upgrade.
pub(super) struct ExtendedConnect {
    /// `:protocol` (`websocket`).
    pub(super) protocol: Vec<u8>,
    upgrade: OnUpgrade,
}

impl ExtendedConnect {
    /// Takes the upgrade of a `CONNECT` with `:protocol`, and turns the request into the
    /// `GET` it is bridged to (rules, logs and the target see a `GET`).
    pub(super) fn take(req: &mut Request<Incoming>) -> Option<Self> {
        let protocol = req
            .extensions()
            .get::<hyper::ext::Protocol>()?
            .as_str()
            .as_bytes()
            .to_vec();
        if req.method() != http::Method::CONNECT {
            return None;
        }
        *req.method_mut() = http::Method::GET;
        Some(Self {
            protocol,
            upgrade: hyper::upgrade::on(req),
        })
    }

    /// Whether it is a WebSocket.
    pub(super) fn is_websocket(&self) -> bool {
        self.protocol.eq_ignore_ascii_case(b"websocket")
    }
}

/// A `Sec-WebSocket-Key` for the target: RFC 8441 drops the handshake's key and accept,
/// which an HTTP/1.1 target still requires.
pub(super) fn websocket_key() -> String {
    let bytes: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The request of an extended CONNECT has no body: the stream's DATA frames are the tunnel.
#[derive(Debug)]
pub(super) struct NoBody {
    since: Instant,
}

impl NoBody {
    pub(super) fn new(since: Instant) -> Self {
        Self { since }
    }
}

impl Upload for NoBody {
    fn poll_fill(&mut self, _: &mut Context<'_>, _: &mut Vec<u8>) -> Poll<Result<bool, Fault>> {
        Poll::Ready(Ok(true))
    }

    fn poll_continue(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<bool>> {
        Poll::Ready(Ok(false))
    }

    fn last_activity(&self) -> Instant {
        self.since
    }

    fn started(&self) -> bool {
        false
    }

    fn finished(&self) -> bool {
        true
    }
}

/// The target switched protocols: answers the stream `200` with the target's end-to-end
/// fields (its `Sec-WebSocket-Accept` answers a key the client never sent, so it stays), and
/// carries the tunnel in a task of its own once hyper hands the stream over.
#[allow(clippy::too_many_arguments)]
pub(super) fn switched(
    relayed: Relayed,
    connect: ExtendedConnect,
    forwarding: &Forwarding,
    fields: &[Field],
    ops: Option<&HeaderOps>,
    mut exchange: Exchange,
    mut guard: RequestGuard,
    conn: &H2Conn,
) -> Response<ProxyBody> {
    let Relayed {
        tried,
        mut up,
        head,
        ..
    } = relayed;
    guard.answered();
    record_answer(&forwarding.group, &tried, head.status, &mut exchange);
    exchange.target = Some(Arc::clone(&tried.target));
    let buf = up.buf.filled();
    let mut headers = HeaderMap::with_capacity(fields.len());
    for f in fields {
        let name = f.name.of(buf);
        let passes = matches!(
            f.kind,
            FieldKind::Plain | FieldKind::SetCookie | FieldKind::Cookie
        ) && !name.eq_ignore_ascii_case(b"sec-websocket-accept");
        if let (true, Ok(name), Ok(value)) = (
            passes,
            HeaderName::from_bytes(name),
            HeaderValue::from_bytes(f.value.of(buf)),
        ) {
            headers.append(name, value);
        }
    }
    if let Some(ops) = ops {
        ops.apply(&mut headers);
    }
    up.buf.consume(head.len);
    let shared = Arc::clone(&conn.ctx.listener);
    let idle = shared.snapshot.load().listener(&shared.name).map_or(
        ballast_config::defaults::DEFAULT_UPGRADE_IDLE_TIMEOUT,
        |l| l.limits.upgrade_idle_timeout,
    );
    let tunnelled = async move {
        let Ok(upgraded) = connect.upgrade.await else {
            return;
        };
        let mut client = TokioIo::new(upgraded);
        let mut client_buf = Buf::default();
        exchange.switched();
        let sleep = std::pin::pin!(tokio::time::sleep(idle));
        let end = tunnel(
            &mut client,
            &mut client_buf,
            &mut up,
            &shared.buffers,
            sleep,
            idle,
        )
        .await;
        exchange.tunnel_closed(end.from_client, end.from_target);
        tracing::debug!(listener = &*shared.name.0, ending = ?end.ending, "HTTP/2 tunnel ended");
        // The try and the stream's guard end with the tunnel: until then it is a request in
        // flight on its target and on its connection.
        drop((tried, guard, exchange));
    };
    conn.ctx.listener.connections.spawn(tunnelled);
    let mut response = Response::new(ProxyBody::empty());
    *response.headers_mut() = headers;
    response
}

/// Where the request's body comes from: the stream's DATA frames, or nowhere (an extended
/// CONNECT, whose frames are the tunnel once the target switches).
#[derive(Debug)]
pub(super) enum Uploading {
    Body(H2Upload),
    Tunnel(NoBody),
}

impl crate::upstream::Upload for Uploading {
    fn poll_fill(
        &mut self,
        cx: &mut std::task::Context<'_>,
        out: &mut Vec<u8>,
    ) -> std::task::Poll<Result<bool, Fault>> {
        match self {
            Uploading::Body(b) => b.poll_fill(cx, out),
            Uploading::Tunnel(t) => t.poll_fill(cx, out),
        }
    }

    fn poll_continue(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<bool>> {
        match self {
            Uploading::Body(b) => b.poll_continue(cx),
            Uploading::Tunnel(t) => t.poll_continue(cx),
        }
    }

    fn last_activity(&self) -> Instant {
        match self {
            Uploading::Body(b) => b.last_activity(),
            Uploading::Tunnel(t) => t.last_activity(),
        }
    }

    fn started(&self) -> bool {
        match self {
            Uploading::Body(b) => b.started(),
            Uploading::Tunnel(t) => t.started(),
        }
    }

    fn finished(&self) -> bool {
        match self {
            Uploading::Body(b) => b.finished(),
            Uploading::Tunnel(t) => t.finished(),
        }
    }
}
