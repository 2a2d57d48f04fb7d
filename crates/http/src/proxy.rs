//! One request, from the client's head to the target's response head.
//!
//! The order of the phases is documented in `docs/request-lifecycle.md`: framing checks,
//! routing from the snapshot, target choice, header rewrite, connection from the pool, send,
//! wait for the response head, stream the body back.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ballast_balance::{Algorithm, PickInput};
use ballast_config::ListenerName;
use ballast_telemetry::metrics::ListenerMetrics;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Request, Response, Uri, Version};
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::affinity::affinity_key;
use crate::body::{ClientBody, ProxyBody, Upload};
use crate::conn_state::{ConnState, RequestGuard, HEAD_CONTENT_LENGTH, HEAD_TRANSFER_ENCODING};
use crate::exchange::Exchange;
use crate::fault::{Fault, Side};
use crate::forward::{choose, stick_group};
use crate::headers::{add_forwarded, strip_hop_by_hop, Forwarded};
use crate::ids::stamp_ids;
use crate::pool::{connect, ConnectError, Sender};
use crate::routing::{acme_http01, fixed, redirect, route_action};
use crate::snapshot::{RouteAction, SharedSnapshot, Target, TargetGroup};
use crate::sticky::{stick, stuck_target};

/// What every request on one client connection shares.
pub(crate) struct ConnCtx {
    pub(crate) listener: ListenerName,
    pub(crate) snapshot: SharedSnapshot,
    pub(crate) worker: usize,
    pub(crate) forwarded: Forwarded,
    pub(crate) state: Arc<ConnState>,
    /// The TCP peer's address (the client, or a proxy in front of it).
    pub(crate) peer: std::net::IpAddr,
    /// The same with its port, for access logs.
    pub(crate) peer_addr: std::net::SocketAddr,
    /// What the TLS handshake settled, on `https` listeners.
    pub(crate) tls: Option<TlsInfo>,
    /// The listener's counters (`None` with metrics off); this connection counts as open
    /// in them until the context is dropped.
    pub(crate) metrics: Option<Arc<ListenerMetrics>>,
}

impl Drop for ConnCtx {
    fn drop(&mut self) {
        if let Some(m) = &self.metrics {
            m.connections_active.dec();
        }
    }
}

/// The header carrying the client certificate to targets (mutual TLS passthrough), as
/// URL-encoded PEM (ALB: `X-Amzn-Mtls-Clientcert`).
const CLIENT_CERT: http::HeaderName = http::HeaderName::from_static("x-client-cert");

/// The TLS version the client negotiated, for targets.
const TLS_VERSION: http::HeaderName = http::HeaderName::from_static("x-forwarded-tls-version");

/// The cipher suite the client negotiated, for targets.
const TLS_CIPHER: http::HeaderName = http::HeaderName::from_static("x-forwarded-tls-cipher");

/// The TLS parameters of a client connection, for logs and for targets.
#[derive(Debug, Clone)]
pub(crate) struct TlsInfo {
    /// `TLSv1.3`, `TLSv1.2`, as a header value for targets (and future access logs).
    pub(crate) version: HeaderValue,
    /// The cipher suite's name, likewise.
    pub(crate) cipher: HeaderValue,
    /// The client's certificate, URL-encoded PEM (mutual TLS passthrough).
    pub(crate) client_cert: Option<HeaderValue>,
}

impl TlsInfo {
    pub(crate) fn from_session(session: &rustls::ServerConnection) -> Self {
        let version = match session.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "unknown",
        };
        let cipher = session
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default();
        let client_cert = session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| HeaderValue::try_from(url_encoded_pem(leaf)).ok());
        tracing::debug!(version, cipher = %cipher, client_certificate = client_cert.is_some(), "TLS handshake done");
        Self {
            version: HeaderValue::from_static(version),
            cipher: HeaderValue::try_from(cipher)
                .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
            client_cert,
        }
    }
}

/// A certificate as URL-encoded PEM, the way ALB passes client certificates on.
fn url_encoded_pem(der: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut body = String::new();
    for chunk in der.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                body.push(char::from(B64[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                body.push('=');
            }
        }
    }
    let mut pem = String::from("-----BEGIN%20CERTIFICATE-----%0A");
    for line in body.as_bytes().chunks(64) {
        for &b in line {
            match b {
                b'+' => pem.push_str("%2B"),
                b'/' => pem.push_str("%2F"),
                b'=' => pem.push_str("%3D"),
                _ => pem.push(char::from(b)),
            }
        }
        pem.push_str("%0A");
    }
    pem.push_str("-----END%20CERTIFICATE-----%0A");
    pem
}

/// The hyper service: every outcome is a response, never an error.
pub(crate) async fn handle(
    req: Request<Incoming>,
    ctx: Arc<ConnCtx>,
) -> Result<Response<ProxyBody>, Infallible> {
    let (request, head_fields) = ctx.state.begin_request();
    Ok(proxy(req, head_fields, &ctx, request).await)
}

async fn proxy(
    req: Request<Incoming>,
    head_fields: u8,
    ctx: &ConnCtx,
    request: RequestGuard,
) -> Response<ProxyBody> {
    let mut exchange = Exchange::new(request, ctx);
    let action = {
        let snapshot = ctx.snapshot.load();
        if let Some(log) = &snapshot.access_log {
            exchange.start_log(log, &req, ctx);
        }
        if let Err(fault) = check_framing(&req, head_fields) {
            return fault.into_response(&ctx.listener.0, exchange);
        }
        // ACME http-01 validations come before the rules; other paths pay one prefix check.
        if ctx.tls.is_none() && req.uri().path().starts_with(ballast_tls::HTTP01_PREFIX) {
            if let Some(answer) = acme_http01(&snapshot.acme, req.uri().path()) {
                return fixed(&answer, exchange);
            }
        }
        match snapshot.listener(&ctx.listener) {
            Some(routes) => {
                let (action, rule) = route_action(routes, &req, ctx.peer);
                if let Some(m) = &routes.rule_metrics {
                    m.record_rule(rule);
                }
                exchange.rule = rule;
                action
            }
            None => return Fault::NoTarget.into_response(&ctx.listener.0, exchange),
        }
    };
    let routed = match &action {
        RouteAction::Forward(group) => Some((Arc::clone(group), None)),
        RouteAction::WeightedForward(route) => choose(route, req.headers(), fastrand::u64(..))
            .map(|(group, id)| (group, id.map(|id| (Arc::clone(route), id)))),
        RouteAction::Redirect(config) => return redirect(config, &req, ctx, exchange),
        RouteAction::Fixed(reply) => return fixed(reply, exchange),
    };
    let Some((group, group_cookie)) = routed else {
        return Fault::NoTarget.into_response(&ctx.listener.0, exchange);
    };
    if let Some(m) = &group.metrics {
        m.requests.inc();
    }
    exchange.group = Some(Arc::clone(&group));
    let (req, upload) = match rewrite_request(req, &ctx.forwarded, ctx.tls.as_ref(), &mut exchange)
    {
        Ok(rewritten) => rewritten,
        Err(fault) => return fault.into_response(&ctx.listener.0, exchange),
    };
    exchange.upload.clone_from(&upload);
    group.retry_budget.deposit();
    // The head is copied for a replay only where one can happen: an idempotent bodiless
    // request, in a group that allows it and has another target to replay on.
    let replay = (group.retry.idempotent
        && upload.is_none()
        && group.targets.len() > 1
        && is_idempotent(req.method()))
    .then(|| head_of(&req));
    let key = affinity_key(&group, &req, &ctx.forwarded);
    let mut stuck = stuck_target(&group, req.headers());
    let was_stuck = stuck.is_some();
    let mut req = Some(req);
    let mut exclude = None;
    let mut failed: Option<(Fault, Option<Arc<Target>>, Retry)> = None;
    loop {
        let now = std::time::Instant::now();
        let pick = PickInput {
            now,
            fail_open: group.fail_open,
            exclude,
            random: fastrand::u64(..),
            key,
        };
        let picked = match stuck.take() {
            Some(index) => Some(index),
            None => group.balancer.pick(&group.targets, |t| &t.state, &pick),
        };
        // The budget is spent only once there is another target to retry on.
        let denied = failed.as_ref().is_some_and(|(_, _, cost)| {
            *cost == Retry::Budgeted && picked.is_some() && !group.retry_budget.try_withdraw(now)
        });
        let Some(index) = picked.filter(|_| !denied) else {
            // A retry with nowhere else to go reports what made it retry.
            let fault = match failed.take() {
                Some((fault, target, _)) => {
                    exchange.target = target;
                    fault
                }
                None => no_target(&group),
            };
            return fault.into_response(&ctx.listener.0, exchange);
        };
        let target = Arc::clone(&group.targets[index]);
        if let Some((fault, from, _)) = &failed {
            tracing::debug!(target_group = &*group.name.0, from = ?from.as_ref().map(|t| t.address), target = %target.address, reason = fault.reason(), "retrying on another target");
            if let Some(m) = &group.metrics {
                m.retries.inc();
            }
        }
        let Some(this) = req.take().or_else(|| replay.as_ref().map(rebuild)) else {
            return Fault::NoTarget.into_response(&ctx.listener.0, exchange);
        };
        if let Some(m) = &target.metrics {
            m.requests.inc();
        }
        exchange.sending(now);
        let in_flight = target.state.begin_request();
        match forward(this, upload.as_deref(), &group, &target, ctx).await {
            Ok((response, sender)) => {
                let status = response.status().as_u16();
                target.state.record_outcome(status < 500);
                // The clock is read only when something uses it (a clock read is not free
                // on every machine; on VMs it can cost as much as a syscall).
                let lrt = group.balancer.algorithm() == Algorithm::LeastResponseTime;
                let timed = lrt || target.metrics.is_some() || exchange.logging();
                let answered = timed.then(std::time::Instant::now);
                if let Some(answered) = answered {
                    let took = answered - now;
                    if lrt {
                        target.state.record_latency(took, answered);
                    }
                    if let Some(m) = &target.metrics {
                        m.record_response(status, took);
                    }
                    if let Some(m) = &group.metrics {
                        m.response_time.observe(took);
                    }
                }
                if let Some(m) = &group.metrics {
                    m.responses.record(status);
                }
                exchange.answered(status, Some(answered.unwrap_or(now)));
                let (mut parts, body) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                stick(&group, target.id, was_stuck, &mut parts.headers);
                if let Some((route, id)) = &group_cookie {
                    stick_group(route, *id, &mut parts.headers);
                }
                let reuse = (sender, Arc::clone(&target.pool), ctx.worker);
                exchange.target = Some(target);
                return Response::from_parts(
                    parts,
                    ProxyBody::target(body, reuse, in_flight, exchange),
                );
            }
            Err((fault, unsent)) => {
                drop(in_flight);
                if let Some(m) = &target.metrics {
                    m.errors.inc();
                }
                if group.balancer.algorithm() == Algorithm::LeastResponseTime {
                    // A failure counts as an answer of at least a second: a target that
                    // refuses or times out must not look fast to least_response_time.
                    let failed_at = std::time::Instant::now();
                    let took = (failed_at - now).max(std::time::Duration::from_secs(1));
                    target.state.record_latency(took, failed_at);
                }
                if counts_against_target(&fault, upload.as_deref()) {
                    target.state.record_outcome(false);
                }
                let retry = exclude
                    .is_none()
                    .then(|| retry_for(&fault, unsent.is_some(), replay.is_some()))
                    .flatten();
                if let Some(cost) = retry {
                    req = unsent;
                    exclude = Some(index);
                    failed = Some((fault, Some(target), cost));
                    continue;
                }
                exchange.target = Some(target);
                return fault.into_response(&ctx.listener.0, exchange);
            }
        }
    }
}

/// What a retry of a failed attempt costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// The target refused the connection: it did no work, so the retry is free (HAProxy's
    /// `redispatch` has no budget at all).
    Free,
    /// The target may have done work: the retry spends the group's budget.
    Budgeted,
}

/// Whether a failed attempt may go to one other target: a request the target never saw
/// (the connect failed, `unsent` is back), or an idempotent bodiless one (`replayable`)
/// whose target closed the connection before answering. Never a request whose body was
/// sent, never one that timed out waiting for its answer.
fn retry_for(fault: &Fault, unsent: bool, replayable: bool) -> Option<Retry> {
    match fault {
        Fault::Connect(ConnectError::Io(e))
            if unsent && e.kind() == std::io::ErrorKind::ConnectionRefused =>
        {
            Some(Retry::Free)
        }
        Fault::Connect(_) if unsent => Some(Retry::Budgeted),
        Fault::TargetClosed(_) if replayable => Some(Retry::Budgeted),
        _ => None,
    }
}

/// Whether a failure counts towards ejecting the target (passive health). A target that
/// closed the connection while the client was still uploading may have given up on a slow
/// client: that is the client's doing.
fn counts_against_target(fault: &Fault, upload: Option<&Upload>) -> bool {
    match fault {
        Fault::TargetClosed(_) => upload.is_none_or(|u| u.finished_at().is_some()),
        _ => fault.side() == Side::Target,
    }
}

/// Why a group had nothing to pick: no target at all, or none that may take traffic.
/// Only on the failure path, so the scan costs nothing per successful request.
fn no_target(group: &TargetGroup) -> Fault {
    if group.targets.iter().any(|t| t.state.is_registered()) {
        Fault::NoHealthyTarget
    } else {
        Fault::NoTarget
    }
}

/// Methods a client may safely send twice (RFC 9110 §9.2.2).
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// The head of a bodiless request, kept to send it again on another target.
fn head_of(req: &Request<ClientBody>) -> (Method, Uri, HeaderMap) {
    (
        req.method().clone(),
        req.uri().clone(),
        req.headers().clone(),
    )
}

fn rebuild((method, uri, headers): &(Method, Uri, HeaderMap)) -> Request<ClientBody> {
    let mut req = Request::new(ClientBody::empty());
    *req.method_mut() = method.clone();
    *req.uri_mut() = uri.clone();
    *req.headers_mut() = headers.clone();
    *req.version_mut() = Version::HTTP_11;
    req
}

/// Refuses request framings that a target could read differently from us (RFC 9112 §6.1,
/// §6.3). hyper already rejects conflicting `Content-Length` values with 400; it drops a
/// `Content-Length` that comes with `Transfer-Encoding`, so `head_fields` (what the head
/// carried on the wire) tells us about that case.
fn check_framing(req: &Request<Incoming>, head_fields: u8) -> Result<(), Fault> {
    if head_fields == HEAD_CONTENT_LENGTH | HEAD_TRANSFER_ENCODING {
        return Err(Fault::AmbiguousFraming);
    }
    let headers = req.headers();
    // Routing reads the host before anything else: one Host, or an authority (RFC 9112 §3.2).
    let hosts = headers.get_all(header::HOST).iter().count();
    if hosts > 1 {
        return Err(Fault::InvalidHost);
    }
    if hosts == 0 && req.uri().authority().is_none() && req.version() == Version::HTTP_11 {
        return Err(Fault::MissingHost);
    }
    let mut codings = headers.get_all(header::TRANSFER_ENCODING).iter();
    let Some(first) = codings.next() else {
        return Ok(());
    };
    if headers.contains_key(header::CONTENT_LENGTH) {
        return Err(Fault::AmbiguousFraming);
    }
    let single_chunked = codings.next().is_none()
        && first
            .as_bytes()
            .trim_ascii()
            .eq_ignore_ascii_case(b"chunked");
    if !single_chunked {
        return Err(Fault::BadTransferEncoding);
    }
    Ok(())
}

/// Turns the client's request into the one the target receives: HTTP/1.1, origin-form,
/// `Host` kept (or taken from the authority), hop-by-hop headers out, forwarding headers in.
fn rewrite_request(
    req: Request<Incoming>,
    forwarded: &Forwarded,
    tls: Option<&TlsInfo>,
    exchange: &mut Exchange,
) -> Result<(Request<ClientBody>, Option<Arc<Upload>>), Fault> {
    let (mut parts, body) = req.into_parts();
    if let Some(authority) = parts.uri.authority() {
        // Absolute-form (HTTP/1.1) or `:authority` (HTTP/2): the URI's authority is the host.
        if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
            parts.headers.insert(header::HOST, host);
        }
        let path = parts.uri.path_and_query().cloned();
        parts.uri = path.map_or_else(|| Uri::from_static("/"), Uri::from);
    } else if parts.version == Version::HTTP_11 && !parts.headers.contains_key(header::HOST) {
        return Err(Fault::MissingHost);
    }
    if parts.version == Version::HTTP_2 {
        join_cookies(&mut parts.headers);
    }
    strip_hop_by_hop(&mut parts.headers);
    add_forwarded(&mut parts.headers, forwarded);
    stamp_ids(&mut parts.headers, exchange);
    // Only Ballast says which client certificate was presented: a client's own header of
    // that name is dropped.
    for name in [CLIENT_CERT, TLS_VERSION, TLS_CIPHER] {
        parts.headers.remove(name);
    }
    if let Some(tls) = tls {
        // As ALB's x-amzn-tls-version and x-amzn-tls-cipher-suite.
        parts.headers.insert(TLS_VERSION, tls.version.clone());
        parts.headers.insert(TLS_CIPHER, tls.cipher.clone());
        if let Some(cert) = &tls.client_cert {
            parts.headers.insert(CLIENT_CERT, cert.clone());
        }
    }
    parts.version = Version::HTTP_11;
    let (body, sent) = ClientBody::new(body);
    Ok((Request::from_parts(parts, body), sent))
}

/// HTTP/2 may split `Cookie` into several fields; HTTP/1.1 wants one (RFC 9113 §8.2.3).
fn join_cookies(headers: &mut http::HeaderMap) {
    if headers.get_all(header::COOKIE).iter().count() < 2 {
        return;
    }
    let mut joined = Vec::new();
    for (i, value) in headers.get_all(header::COOKIE).iter().enumerate() {
        if i > 0 {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(value.as_bytes());
    }
    if let Ok(value) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::COOKIE, value);
    }
}

/// Sends the request on a pooled or new connection and waits for the response head.
///
/// A pooled connection that turns out to be closed before the request was written is
/// replaced by a new one, once: the request was never seen by the target, so this is safe
/// for every method. When connecting fails, the request comes back with the fault so the
/// caller may send it elsewhere.
async fn forward(
    mut req: Request<ClientBody>,
    upload: Option<&Upload>,
    group: &TargetGroup,
    target: &Target,
    ctx: &ConnCtx,
) -> Result<(Response<Incoming>, Sender), (Fault, Option<Request<ClientBody>>)> {
    let (mut sender, mut reused) = match target.pool.checkout(ctx.worker) {
        Some(sender) => (sender, true),
        None => match connect(target, group.tls.as_ref(), group.connect_timeout).await {
            Ok(sender) => (sender, false),
            Err(error) => return Err((Fault::Connect(error), Some(req))),
        },
    };
    loop {
        if sender.ready().await.is_err() && reused {
            match connect(target, group.tls.as_ref(), group.connect_timeout).await {
                Ok(fresh) => sender = fresh,
                Err(error) => return Err((Fault::Connect(error), Some(req))),
            }
            reused = false;
            continue;
        }
        let sending = sender.try_send_request(req);
        let sent = await_response(sending, group.response_timeout, upload, &ctx.state)
            .await
            .map_err(|fault| (fault, None))?;
        match sent {
            Ok(response) => return Ok((response, sender)),
            Err(mut error) => match error.take_message() {
                Some(unsent) if reused => {
                    match connect(target, group.tls.as_ref(), group.connect_timeout).await {
                        Ok(fresh) => sender = fresh,
                        Err(connect_error) => {
                            return Err((Fault::Connect(connect_error), Some(unsent)))
                        }
                    }
                    req = unsent;
                    reused = false;
                }
                _ => return Err((Fault::from_send(error.into_error()), None)),
            },
        }
    }
}

/// Waits for the target's response head, at most the response timeout after the request
/// body was fully sent. While the client is still uploading, it is the client who is timed:
/// one that sends nothing for the response timeout gets 408.
async fn await_response<F: Future>(
    sending: F,
    timeout: Duration,
    upload: Option<&Upload>,
    client: &ConnState,
) -> Result<F::Output, Fault> {
    tokio::pin!(sending);
    let sleep = tokio::time::sleep(timeout);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            biased;
            out = &mut sending => return Ok(out),
            () = &mut sleep => {
                let now = Instant::now();
                let next = match upload.map(Upload::finished_at) {
                    // No body, or the body ended: the target has had its time.
                    None => return Err(Fault::ResponseTimeout),
                    Some(Some(done)) if now >= done + timeout => return Err(Fault::ResponseTimeout),
                    Some(Some(done)) => done + timeout,
                    Some(None) => {
                        let idle = client.idle_for();
                        if idle >= timeout {
                            return Err(Fault::ClientBodyTimeout);
                        }
                        now + (timeout - idle)
                    }
                };
                sleep.as_mut().reset(next);
            }
        }
    }
}
