//! A stream forwarded to an HTTP/2 group: the request goes out as a stream on the worker's
//! connection to the chosen target, and the target's response (frames and trailers, as gRPC
//! needs them) comes back as it is, with Ballast's cookies and rewrites.

use std::sync::Arc;
use std::time::Instant;

use http::{header, HeaderValue, Response};

use super::body::ProxyBody;
use super::conn::{H2Conn, RequestGuard};
use super::grpc::grpc_timeout;
use super::response::fault;
use crate::attempt::record_answer;
use crate::codec::HeadError;
use crate::decide::Forwarding;
use crate::exchange::Exchange;
use crate::fault::Fault;
use crate::read_ahead::ReadAhead;
use crate::relay_h2::{relay_h2, H2Head, H2Relayed};
use crate::rewrite::HeaderOps;
use crate::sticky::sets_app_cookie;
use crate::upstream::OutBody;

/// What the stream's forward needs besides its body.
pub(super) struct ToH2<'a> {
    pub(super) forwarding: &'a Forwarding,
    /// The HTTP/1.1 head Ballast wrote for the request (turned into HTTP/2 here).
    pub(super) target_head: &'a [u8],
    pub(super) ops: Option<&'a HeaderOps>,
    /// The request is gRPC: Ballast's own errors are gRPC statuses.
    pub(super) grpc: bool,
    pub(super) started: Instant,
}

/// Sends the stream to a target over HTTP/2 and answers with its response.
pub(super) async fn forward(
    to: ToH2<'_>,
    body: ReadAhead,
    mut exchange: Exchange,
    mut guard: RequestGuard,
    conn: &H2Conn,
) -> Response<ProxyBody> {
    let shared = Arc::clone(&conn.ctx.listener);
    let group = &to.forwarding.group;
    let listener = &*shared.name.0;
    let Some(mut head) = H2Head::from_h1(to.target_head, group.tls.is_some()) else {
        let malformed = Fault::Head(HeadError::Malformed("request not expressible in HTTP/2"));
        return fault(malformed, exchange, guard, listener, to.grpc);
    };
    if to.grpc {
        head.accept_trailers();
    }
    // A gRPC deadline shorter than the group's response timeout bounds the wait instead.
    let timeout = match head.headers().get("grpc-timeout").and_then(grpc_timeout) {
        Some(deadline) if to.grpc => deadline.min(group.response_timeout),
        _ => group.response_timeout,
    };
    let body = if http_body::Body::is_end_stream(&body) {
        OutBody::Empty
    } else {
        OutBody::Client(body)
    };
    if exchange.logging() {
        exchange.sending(to.started);
    }
    match relay_h2(to.forwarding, &head, body, &shared, to.started, timeout).await {
        Ok(relayed) => {
            guard.answered();
            respond(relayed, &to, exchange, guard)
        }
        Err((error, target)) => {
            exchange.target = target;
            fault(error, exchange, guard, listener, to.grpc)
        }
    }
}

/// The target's response, with Ballast's cookies and rewrites, its body passed through.
fn respond(
    relayed: H2Relayed,
    to: &ToH2<'_>,
    mut exchange: Exchange,
    guard: RequestGuard,
) -> Response<ProxyBody> {
    let H2Relayed { tried, response } = relayed;
    let status = response.status().as_u16();
    record_answer(&to.forwarding.group, &tried, status, &mut exchange);
    exchange.target = Some(Arc::clone(&tried.target));
    let (mut parts, body) = response.into_parts();
    parts.version = http::Version::HTTP_2;
    let cookies: Vec<String> = to
        .forwarding
        .set_cookies(tried.target.id, |app| sets_app_cookie(&parts.headers, app))
        .collect();
    for cookie in cookies {
        if let Ok(value) = HeaderValue::try_from(cookie) {
            parts.headers.append(header::SET_COOKIE, value);
        }
    }
    if let Some(ops) = to.ops {
        ops.apply(&mut parts.headers);
    }
    Response::from_parts(parts, ProxyBody::relayed(body, tried, exchange, guard))
}
