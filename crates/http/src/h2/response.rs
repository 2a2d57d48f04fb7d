//! The answers to HTTP/2 streams: a target's HTTP/1.1 response turned into HTTP/2, and
//! Ballast's own responses.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Response};

use super::body::ProxyBody;
use super::conn::H2Conn;
use super::conn::RequestGuard;
use crate::attempt::record_answer;
use crate::codec::FieldKind;
use crate::decide::Forwarding;
use crate::exchange::Exchange;
use crate::fault::Fault;
use crate::local::Local;
use crate::relay::Relayed;
use crate::rewrite::HeaderOps;
use crate::sticky::sets_cookie;

/// The target's response, as an HTTP/2 response.
pub(super) fn respond(
    relayed: Relayed,
    forwarding: &Forwarding,
    fields: &[crate::codec::Field],
    ops: Option<&HeaderOps>,
    mut exchange: Exchange,
    mut guard: RequestGuard,
    conn: &H2Conn,
) -> Response<ProxyBody> {
    let Relayed {
        tried,
        mut up,
        head,
        request_sent,
    } = relayed;
    guard.answered();
    record_answer(&forwarding.group, &tried, head.status, &mut exchange);
    exchange.target = Some(Arc::clone(&tried.target));
    let buf = up.buf.filled();
    let mut headers = HeaderMap::with_capacity(fields.len() + 2);
    for f in fields {
        let passes = matches!(
            f.kind,
            FieldKind::Plain
                | FieldKind::Cookie
                | FieldKind::SetCookie
                | FieldKind::Expect
                | FieldKind::RequestId
                | FieldKind::TraceParent
                | FieldKind::TraceState
                | FieldKind::ForwardedFor
                | FieldKind::ForwardedOwn
                | FieldKind::Reserved
        );
        if !passes {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(f.name.of(buf)),
            HeaderValue::from_bytes(f.value.of(buf)),
        ) {
            headers.append(name, value);
        }
    }
    let sets_app = |app: &str| {
        fields
            .iter()
            .filter(|f| f.kind == FieldKind::SetCookie)
            .any(|f| sets_cookie(f.value.of(buf), app))
    };
    for cookie in forwarding.set_cookies(tried.target.id, sets_app) {
        if let Ok(value) = HeaderValue::try_from(cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    if let Some(n) = head.length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    if let Some(ops) = ops {
        ops.apply(&mut headers);
    }
    let status = http::StatusCode::from_u16(head.status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    up.buf.consume(head.len);
    let shared = &conn.ctx.listener;
    let body = ProxyBody::target(
        up,
        head.body,
        head.reusable && request_sent,
        tried,
        Arc::clone(&shared.buffers),
        shared.worker,
        exchange,
        guard,
    );
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// A response of Ballast's own.
pub(super) fn local(
    reply: &Local,
    ops: Option<&HeaderOps>,
    mut exchange: Exchange,
    guard: RequestGuard,
) -> Response<ProxyBody> {
    exchange.answered(reply.status, None);
    let mut response = Response::new(ProxyBody::local(reply.body.clone(), exchange, guard));
    *response.status_mut() =
        http::StatusCode::from_u16(reply.status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: HeaderName, value: &Bytes| {
        if let Ok(value) = HeaderValue::from_maybe_shared(value.clone()) {
            headers.insert(name, value);
        }
    };
    if let Some(ct) = &reply.content_type {
        set(headers, header::CONTENT_TYPE, ct);
    }
    if let Some(location) = &reply.location {
        set(headers, header::LOCATION, location);
    }
    if let Some(allow) = reply.allow {
        headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    if let Some(seconds) = reply.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if let Some(ops) = ops {
        ops.apply(headers);
    }
    response
}

/// A fault's error page (logged, counted), or for a gRPC request its gRPC status. HTTP/2 has
/// no `Connection: close`: only this stream ends.
pub(super) fn fault(
    fault: Fault,
    mut exchange: Exchange,
    guard: RequestGuard,
    listener: &str,
    grpc: bool,
) -> Response<ProxyBody> {
    let group = exchange.group.as_ref().map_or("-", |g| &*g.name.0);
    fault.log(listener, group, exchange.target.as_ref().map(|t| t.address));
    exchange.error_reason = Some(fault.reason());
    if let Some(limit) = fault.limit() {
        exchange.limit_hit(limit);
    }
    if grpc {
        exchange.answered(200, None);
        let mut response = Response::new(ProxyBody::local(Bytes::new(), exchange, guard));
        super::grpc::error_fields(&fault, response.headers_mut());
        return response;
    }
    local(&Local::error(fault.reply()), None, exchange, guard)
}
