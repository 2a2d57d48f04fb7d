//! One HTTP/2 stream: checked, decided, answered locally or forwarded to an HTTP/1.1 target,
//! and its response turned back into HTTP/2.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{header, Method, Request, Response};
use http_body::Body as _;
use hyper::body::Incoming;

use super::body::{H2Upload, ProxyBody};
use super::conn::H2Conn;
use super::conn::RequestGuard;
use super::connect::{switched, websocket_key, ExtendedConnect, NoBody, Uploading};
use super::grpc::is_grpc;
use super::response::{fault, local, respond};
use super::to_h2::{forward as forward_h2, ToH2};
use crate::codec::{
    classify, write_request_head, Added, BodyKind, FieldKind, HeadError, TargetLine,
};
use crate::decide::{decide, unix_now, DecideInput, Verdict};
use crate::exchange::{ActionKind, Exchange, LogFacts};
use crate::fault::Fault;
use crate::head::{FieldLookup, RequestFacts};
use crate::ids::plan_ids;
use crate::local::{acme_http01, Local};
use crate::read_ahead::ReadAhead;
use crate::relay::{relay, RequestKind};
use crate::rewrite::HeaderOps;

/// The hyper service: every outcome is a response, never an error.
pub(crate) async fn handle(
    req: Request<Incoming>,
    conn: Arc<H2Conn>,
) -> Result<Response<ProxyBody>, Infallible> {
    let guard = conn.state.begin_request();
    Ok(serve(req, &conn, guard).await)
}

async fn serve(
    mut req: Request<Incoming>,
    conn: &H2Conn,
    guard: RequestGuard,
) -> Response<ProxyBody> {
    let connect = ExtendedConnect::take(&mut req);
    let grpc = is_grpc(req.headers());
    let ctx = &conn.ctx;
    let shared = Arc::clone(&ctx.listener);
    let mut snapshot = shared.snapshot.load();
    let mut exchange = Exchange::new(ctx.metrics.as_ref());
    let (parts, body) = req.into_parts();
    let mut body = ReadAhead::new(body);
    if let Some(sink) = &snapshot.access_log {
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        exchange.start_log(
            sink,
            &LogFacts {
                listener: &shared.name.0,
                client: ctx.peer,
                scheme: ctx.scheme(),
                method: parts.method.as_str().as_bytes(),
                authority: parts.authority(),
                target: target.as_bytes(),
                version: "HTTP/2.0",
                user_agent: parts.first_field("user-agent"),
                tls: ctx.tls.as_deref(),
                desync: None,
            },
        );
    }
    if let Err(error) = check(&parts) {
        return fault(Fault::Head(error), exchange, guard, &shared.name.0, grpc);
    }
    if ctx.tls.is_none() && parts.uri.path().starts_with(ballast_tls::HTTP01_PREFIX) {
        if let Some(answer) = acme_http01(&snapshot.acme, parts.uri.path()) {
            exchange.action = ActionKind::FixedResponse;
            return local(&answer, None, exchange, guard);
        }
    }
    // One lookup of the listener's routes, again only after a wait for a body.
    let mut routes = snapshot.listener(&shared.name);
    let read_ahead = routes.and_then(|r| {
        let wait = r.limits.request_header_timeout;
        r.waf_body_limit.map(|limit| (limit, wait))
    });
    // A firewall inspects bodies: their first bytes come before the decision (the snapshot
    // is not held across the wait). Not a tunnel's, nor a gRPC call's, whose client may wait
    // for the answer before it sends: those stay uninspected.
    let streamed = connect.is_some() || grpc || body.is_end_stream();
    if let Some((limit, wait)) = read_ahead.filter(|_| !streamed) {
        drop(snapshot);
        if let Err(error) = body.fill(limit, wait).await {
            return fault(error, exchange, guard, &shared.name.0, grpc);
        }
        snapshot = shared.snapshot.load();
        routes = snapshot.listener(&shared.name);
    }
    let Some(routes) = routes else {
        return fault(Fault::NoTarget, exchange, guard, &shared.name.0, grpc);
    };
    let request_timeout = routes.limits.request_timeout;
    let now = Instant::now();
    let peer_text = ctx.peer_text();
    let decision = decide(
        routes,
        &parts,
        &DecideInput {
            peer: ctx.peer_ip(),
            peer_text: peer_text.as_bytes(),
            now,
            unix_now: unix_now(),
            group_dice: fastrand::u64(..),
            pick_dice: fastrand::u64(..),
        },
    );
    if let Some(m) = &routes.rule_metrics {
        m.record_rule(decision.rule);
    }
    exchange.rule = decision.rule;
    let ops = decision.response_headers.clone();
    let request = (&parts as &dyn RequestFacts, ctx.peer_ip());
    let limit = decision.rate_limit.as_deref();
    if let Some(reply) = crate::rate::limited(routes, limit, request, &mut exchange) {
        return local(&reply, ops.as_deref(), exchange, guard);
    }
    let length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| crate::codec::content_length(v.as_bytes()));
    // An extended CONNECT's stream is its tunnel, not a body.
    let seen = match connect {
        Some(_) => crate::waf::Body::None,
        None => body.seen(length),
    };
    let waf = decision.waf.as_deref();
    if let Some(reply) = crate::waf::screened(routes, waf, request, seen, &mut exchange) {
        return local(&reply, ops.as_deref(), exchange, guard);
    }
    let forwarding = match decision.verdict {
        Verdict::Forward(forwarding) => forwarding,
        Verdict::NoGroup => return fault(Fault::NoTarget, exchange, guard, &shared.name.0, grpc),
        Verdict::Redirect(config) => {
            exchange.action = ActionKind::Redirect;
            let reply = Local::redirect(&config, &parts, ctx.scheme(), &shared.port);
            return local(&reply, ops.as_deref(), exchange, guard);
        }
        Verdict::Fixed(fixed) => {
            exchange.action = ActionKind::FixedResponse;
            return local(&Local::fixed(&fixed), ops.as_deref(), exchange, guard);
        }
    };
    drop(snapshot);
    if let Some(m) = &forwarding.group.metrics {
        m.requests.inc();
    }
    exchange.group = Some(Arc::clone(&forwarding.group));
    let body_kind = body.framing(length);
    let mut target_head = shared.buffers.take_head();
    let ids = plan_ids(&parts, &mut exchange);
    render_target_head(
        &mut target_head,
        &parts,
        body_kind,
        conn,
        &ids,
        decision.request_headers.as_deref(),
        connect.as_ref(),
    );
    // HTTP/2 groups get the stream as a stream (WebSocket still goes as an HTTP/1.1 upgrade).
    if forwarding.group.protocol_version != ballast_config::ProtocolVersion::Http1
        && connect.is_none()
    {
        let to = ToH2 {
            forwarding: &forwarding,
            target_head: &target_head,
            ops: ops.as_deref(),
            grpc,
            started: now,
        };
        let response = forward_h2(to, body, exchange, guard, conn).await;
        shared.buffers.give(target_head);
        return response;
    }
    let mut upload = match connect {
        Some(_) => Uploading::Tunnel(NoBody::new(now)),
        None => Uploading::Body(H2Upload::new(body, body_kind == BodyKind::Chunked)),
    };
    let kind = RequestKind {
        head: parts.method == Method::HEAD,
        idempotent: is_idempotent(&parts.method),
        bodiless: body_kind == BodyKind::None,
        upgrade: connect.is_some(),
        due: request_timeout.map(|t| now + t),
        // HTTP/2 bodies are paced by flow control and timed by the idle timeout.
        min_rate: None,
    };
    if connect.is_some() {
        exchange.upgrade_asked();
    }
    // The address the client connected to was looked up when the connection began.
    let proxy = ctx.proxy_header(&forwarding.group);
    let mut fields = shared.buffers.take_fields();
    let sleep = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(sleep);
    if exchange.logging() {
        exchange.sending(now);
    }
    let outcome = relay(
        &forwarding,
        kind,
        &target_head,
        &mut upload,
        &shared,
        &mut fields,
        now,
        sleep.as_mut(),
        proxy.as_ref(),
    )
    .await;
    shared.buffers.give(target_head);
    if let Uploading::Body(upload) = &upload {
        exchange.received = upload.received;
    }
    let response = match (outcome, connect) {
        (Ok(relayed), Some(connect)) if relayed.head.status == 101 => switched(
            relayed,
            connect,
            &forwarding,
            &fields,
            ops.as_deref(),
            exchange,
            guard,
            conn,
        ),
        (Ok(relayed), _) => respond(
            relayed,
            &forwarding,
            &fields,
            ops.as_deref(),
            exchange,
            guard,
            conn,
        ),
        (Err((error, target)), _) => {
            exchange.target = target;
            fault(error, exchange, guard, &shared.name.0, grpc)
        }
    };
    shared.buffers.give_fields(fields);
    response
}

/// What HTTP/2 leaves to the server to check (RFC 9113 §8.3): no tunnels, a valid
/// authority without user info, a scheme that is http or https, a host to route on.
fn check(parts: &http::request::Parts) -> Result<(), HeadError> {
    if parts.method == Method::CONNECT {
        return Err(HeadError::Connect);
    }
    if parts
        .uri
        .scheme_str()
        .is_some_and(|s| !s.eq_ignore_ascii_case("http") && !s.eq_ignore_ascii_case("https"))
    {
        return Err(HeadError::BadTarget);
    }
    let hosts = parts.headers.get_all(header::HOST).iter().count();
    if hosts > 1 {
        return Err(HeadError::InvalidHost);
    }
    let authority = parts.authority();
    if authority.contains(&b'@') || !crate::codec::valid_authority(authority) {
        return Err(HeadError::InvalidHost);
    }
    if let Some(host) = parts.headers.get(header::HOST) {
        if !crate::codec::valid_authority(host.as_bytes()) {
            return Err(HeadError::InvalidHost);
        }
    }
    if authority.is_empty() {
        return Err(HeadError::MissingHost);
    }
    Ok(())
}

/// Methods a client may safely send twice (RFC 9110 §9.2.2).
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// Writes the HTTP/1.1 request head for the target. Several `cookie` fields become one
/// (RFC 9113 §8.2.3).
fn render_target_head(
    out: &mut Vec<u8>,
    parts: &http::request::Parts,
    body: BodyKind,
    conn: &H2Conn,
    ids: &crate::ids::Ids,
    ops: Option<&HeaderOps>,
    connect: Option<&ExtendedConnect>,
) {
    let ctx = &conn.ctx;
    let peer_text = ctx.peer_text();
    let mut cookies = Vec::new();
    for value in parts.headers.get_all(header::COOKIE) {
        if !cookies.is_empty() {
            cookies.extend_from_slice(b"; ");
        }
        cookies.extend_from_slice(value.as_bytes());
    }
    let tls = ctx.tls.as_deref();
    let added = Added {
        client: peer_text.as_bytes(),
        proto: ctx.scheme().as_bytes(),
        port: &ctx.listener.port,
        request_id: ids.request_id.as_ref().map(|id| &id[..]),
        traceparent: ids.traceparent.as_ref().map(|t| &t[..]),
        tls: match tls {
            Some(t) => [
                Some((&b"X-Forwarded-Tls-Version"[..], t.version.as_bytes())),
                Some((&b"X-Forwarded-Tls-Cipher"[..], t.cipher.as_bytes())),
                t.client_cert
                    .as_ref()
                    .map(|c| (&b"X-Client-Cert"[..], c.as_bytes())),
            ],
            None => [None, None, None],
        },
        ops,
    };
    let authority = parts.authority();
    let line = TargetLine {
        method: parts.method.as_str().as_bytes(),
        path: parts.uri.path().as_bytes(),
        query: parts.uri.query().map(str::as_bytes),
        host: (!authority.is_empty()).then_some(authority),
        body,
        // HTTP/2 has no transfer codings (RFC 9113 §8.2.2).
        codings: false,
        escape: false,
        close: false,
        upgrade: connect.map(|c| &c.protocol[..]),
    };
    let mut fields: Vec<(&[u8], &[u8], FieldKind)> = parts
        .headers
        .iter()
        .filter(|(name, _)| *name != header::HOST && *name != header::COOKIE)
        .map(|(name, value)| {
            (
                name.as_str().as_bytes(),
                value.as_bytes(),
                classify(name.as_str().as_bytes()),
            )
        })
        .collect();
    if !cookies.is_empty() {
        fields.push((b"cookie", &cookies, FieldKind::Cookie));
    }
    let key = connect
        .filter(|c| c.is_websocket() && !parts.headers.contains_key("sec-websocket-key"))
        .map(|_| websocket_key());
    if let Some(key) = &key {
        fields.push((b"sec-websocket-key", key.as_bytes(), FieldKind::Plain));
    }
    write_request_head(out, &line, fields.iter().copied(), &added);
}
