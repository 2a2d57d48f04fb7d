//! The attempts of a request forwarded to an HTTP/2 group (`protocol_version = "http2"` or
//! `"grpc"`): the worker's connection to each target [`Attempts`] chooses (opened when there
//! is none), one stream per request, up to the response head. Another target is tried only
//! when the request never left Ballast (the connect or the HTTP/2 handshake failed), as for
//! HTTP/1.1 groups.
//!
//! The request is given as the HTTP/1.1 head Ballast writes for any target (so forwarding
//! fields, ids and rewrites are the same whatever the version), turned into an HTTP/2 head.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri};
use hyper::body::Incoming;

use crate::attempt::{Attempts, Try};
use crate::codec::{classify, FieldKind};
use crate::conn::ListenerShared;
use crate::decide::Forwarding;
use crate::fault::{ConnectError, Fault};
use crate::snapshot::Target;
use crate::upstream::{open_h2, Destination, H2Sender, OutBody};

/// A request that reached an HTTP/2 target and got a response head.
#[derive(Debug)]
pub(crate) struct H2Relayed {
    pub(crate) tried: Try,
    pub(crate) response: Response<Incoming>,
}

/// The HTTP/2 head of a request, from the HTTP/1.1 head Ballast wrote for it.
#[derive(Debug, Clone)]
pub(crate) struct H2Head {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl H2Head {
    /// Reads `head` (a request head as [`crate::codec::write_request_head`] writes it):
    /// `Host` becomes the authority, framing and connection fields are left to HTTP/2.
    /// `None` if it cannot be expressed in HTTP/2 (it always can, from Ballast's writer).
    pub(crate) fn from_h1(head: &[u8], https: bool) -> Option<Self> {
        let mut slots = [httparse::EMPTY_HEADER; 256];
        let mut parsed = httparse::Request::new(&mut slots);
        let httparse::Status::Complete(_) = parsed.parse(head).ok()? else {
            return None;
        };
        let method = Method::from_bytes(parsed.method?.as_bytes()).ok()?;
        let mut authority = None;
        let mut headers = HeaderMap::with_capacity(parsed.headers.len());
        for h in parsed.headers.iter() {
            let name = h.name.as_bytes();
            match classify(name) {
                FieldKind::Host => authority = Some(h.value),
                FieldKind::ContentLength
                | FieldKind::TransferEncoding
                | FieldKind::Connection
                | FieldKind::HopByHop
                | FieldKind::Upgrade => {}
                _ => {
                    let name = HeaderName::from_bytes(name).ok()?;
                    headers.append(name, HeaderValue::from_bytes(h.value).ok()?);
                }
            }
        }
        let scheme = if https { "https" } else { "http" };
        let uri = Uri::builder()
            .scheme(scheme)
            .authority(authority?)
            .path_and_query(parsed.path?)
            .build()
            .ok()?;
        Some(Self {
            method,
            uri,
            headers,
        })
    }

    /// The request for one attempt.
    fn request(&self, body: OutBody) -> Request<OutBody> {
        let mut request = Request::new(body);
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        *request.version_mut() = http::Version::HTTP_2;
        request
    }

    /// Its fields (for a look at `content-type`, `grpc-timeout`).
    pub(crate) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Marks a gRPC request as one that takes trailers (`te: trailers`, RFC 9113 §8.2.2):
    /// hop-by-hop in HTTP/1.1, so the head it was read from does not carry it, and gRPC
    /// servers may insist on it.
    pub(crate) fn accept_trailers(&mut self) {
        self.headers
            .insert(http::header::TE, HeaderValue::from_static("trailers"));
    }
}

/// Sends `head` with `body` to a target of `forwarding.group` over HTTP/2, waits at most
/// `timeout` for the response head, and tries one other target when a connection could not
/// be made. On failure, the fault and the target it concerns.
pub(crate) async fn relay_h2(
    forwarding: &Forwarding,
    head: &H2Head,
    body: OutBody,
    shared: &ListenerShared,
    started: Instant,
    timeout: Duration,
) -> Result<H2Relayed, (Fault, Option<Arc<Target>>)> {
    let bodiless = matches!(body, OutBody::Empty);
    let idempotent = matches!(
        head.method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    );
    let mut attempts = Attempts::new(forwarding, bodiless && idempotent);
    let mut body = Some(body);
    loop {
        let now = if attempts.is_first() {
            started
        } else {
            Instant::now()
        };
        let tried = attempts.next(now, fastrand::u64(..))?;
        let sender = match sender_for(&tried.target, forwarding, shared).await {
            Ok(sender) => sender,
            Err(error) => {
                // Nothing was sent: another target may take the request whole.
                match attempts.failed(tried, Fault::Connect(error), true, true, true) {
                    Some((fault, target)) => return Err((fault, Some(target))),
                    None => continue,
                }
            }
        };
        let Some(body) = body.take() else {
            return Err((Fault::TargetClosed(None), Some(Arc::clone(&tried.target))));
        };
        let mut sender = sender;
        let sent = async {
            sender
                .ready()
                .await
                .map_err(|e| Fault::TargetClosed(Some(std::io::Error::other(e))))?;
            sender
                .send_request(head.request(body))
                .await
                .map_err(|e| Fault::TargetClosed(Some(std::io::Error::other(e))))
        };
        let outcome = match tokio::time::timeout(timeout, sent).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Fault::ResponseTimeout),
        };
        match outcome {
            Ok(response) => return Ok(H2Relayed { tried, response }),
            // The request (and its body) went out: it is not sent again.
            Err(fault) => match attempts.failed(tried, fault, false, true, false) {
                Some((fault, target)) => return Err((fault, Some(target))),
                None => continue,
            },
        }
    }
}

/// This worker's connection to `target`, opened (and kept) when it has none.
async fn sender_for(
    target: &Target,
    forwarding: &Forwarding,
    shared: &ListenerShared,
) -> Result<H2Sender, ConnectError> {
    if let Some(sender) = target.pool.h2(shared.worker) {
        return Ok(sender);
    }
    let group = &forwarding.group;
    let destination = Destination {
        proxy: None,
        address: target.address,
        state: &target.state,
        pool: &target.pool,
        tls: group.tls.as_ref(),
    };
    let sender = open_h2(destination, group.connect_timeout, &shared.fds).await?;
    target.pool.keep_h2(shared.worker, sender.clone());
    Ok(sender)
}
