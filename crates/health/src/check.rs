//! One health check of one target: TCP connect, an HTTP/1.1 request, or the standard gRPC
//! health check. Each check opens its own connection and closes it, as ALB's do.

use std::net::SocketAddr;
use std::time::Duration;

use ballast_balance::HealthReason;
use ballast_config::{HealthCheckConfig, HealthCheckKind, ProxyProtocolVersion};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{header, HeaderValue, Request};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use std::sync::Arc;
use tokio::net::TcpStream;

/// The result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The target answered as expected.
    Pass,
    /// It did not, for this reason.
    Fail(HealthReason),
}

/// `grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING`.
const GRPC_SERVING: u64 = 1;

/// Runs one check of `config` against the target at `address` (or its check port). `tls`
/// is the client configuration of `https` checks (the runtime gives one that does not verify
/// certificates, as ALB's checks do not). `proxy`: the group sends PROXY headers, so the
/// check's connection starts with one too, naming no client (as NLB's checks do).
pub async fn check_once(
    config: &HealthCheckConfig,
    address: SocketAddr,
    tls: Option<&Arc<rustls::ClientConfig>>,
    proxy: Option<ProxyProtocolVersion>,
) -> CheckOutcome {
    let address = SocketAddr::new(address.ip(), config.port.unwrap_or(address.port()));
    let probed = probe(&config.kind, address, tls, proxy);
    match tokio::time::timeout(config.timeout, probed).await {
        Ok(outcome) => outcome,
        Err(_) => CheckOutcome::Fail(HealthReason::Timeout),
    }
}

async fn probe(
    kind: &HealthCheckKind,
    address: SocketAddr,
    tls: Option<&Arc<rustls::ClientConfig>>,
    proxy: Option<ProxyProtocolVersion>,
) -> CheckOutcome {
    let Ok(mut stream) = TcpStream::connect(address).await else {
        return CheckOutcome::Fail(HealthReason::FailedHealthChecks);
    };
    let _ = stream.set_nodelay(true);
    if let Some(version) = proxy {
        use tokio::io::AsyncWriteExt;
        if stream.write_all(version.local_header()).await.is_err() {
            return CheckOutcome::Fail(HealthReason::FailedHealthChecks);
        }
    }
    match kind {
        HealthCheckKind::Tcp => CheckOutcome::Pass,
        HealthCheckKind::Http {
            tls: over_tls,
            path,
            method,
            host,
            matcher,
            body_contains,
        } => {
            let status = if *over_tls {
                let Some(config) = tls else {
                    return CheckOutcome::Fail(HealthReason::FailedHealthChecks);
                };
                let name = host
                    .as_deref()
                    .and_then(|h| ServerName::try_from(h.to_owned()).ok())
                    .unwrap_or_else(|| ServerName::IpAddress(address.ip().into()));
                let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
                let Ok(stream) = connector.connect(name, stream).await else {
                    return CheckOutcome::Fail(HealthReason::FailedHealthChecks);
                };
                let request = (address, path.as_str(), method.as_str(), host.as_deref());
                http_status(stream, request, body_contains.as_deref()).await
            } else {
                let request = (address, path.as_str(), method.as_str(), host.as_deref());
                http_status(stream, request, body_contains.as_deref()).await
            };
            match status {
                Some((status, true)) if matcher.matches(status) => CheckOutcome::Pass,
                Some((status, false)) if matcher.matches(status) => {
                    CheckOutcome::Fail(HealthReason::FailedHealthChecks)
                }
                Some(_) => CheckOutcome::Fail(HealthReason::ResponseCodeMismatch),
                None => CheckOutcome::Fail(HealthReason::FailedHealthChecks),
            }
        }
        HealthCheckKind::Grpc { service } => match grpc_status(stream, address, service).await {
            Some(GRPC_SERVING) => CheckOutcome::Pass,
            Some(_) => CheckOutcome::Fail(HealthReason::ResponseCodeMismatch),
            None => CheckOutcome::Fail(HealthReason::FailedHealthChecks),
        },
    }
}

/// How much of a body is searched for `body_contains` (Route 53's 5120 bytes).
const SEARCHED_BODY_BYTES: usize = 5120;

/// The status of one HTTP/1.1 request (`address`, path, method and `Host`), and whether the
/// body's first [`SEARCHED_BODY_BYTES`] contain `search` (true without one), or `None` if no
/// response came back.
async fn http_status<I>(
    stream: I,
    (address, path, method, host): (SocketAddr, &str, &str, Option<&str>),
    search: Option<&str>,
) -> Option<(u16, bool)>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .ok()?;
    let driver = tokio::spawn(connection);
    let host = match host {
        Some(host) => HeaderValue::from_str(host).ok()?,
        None => HeaderValue::from_str(&address.to_string()).ok()?,
    };
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, host)
        .header(header::USER_AGENT, "ballast-health-check")
        .header(header::CONNECTION, "close")
        .body(Empty::new())
        .ok()?;
    let response = sender.send_request(request).await.ok();
    let Some(response) = response else {
        driver.abort();
        return None;
    };
    let status = response.status().as_u16();
    let found = match search {
        None => true,
        Some(text) => body_contains(response.into_body(), text.as_bytes()).await,
    };
    driver.abort();
    Some((status, found))
}

/// Whether the body's first [`SEARCHED_BODY_BYTES`] contain `text`.
async fn body_contains(mut body: hyper::body::Incoming, text: &[u8]) -> bool {
    let mut seen: Vec<u8> = Vec::new();
    while seen.len() < SEARCHED_BODY_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let room = SEARCHED_BODY_BYTES - seen.len();
                    seen.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            _ => break,
        }
    }
    text.is_empty() || seen.windows(text.len()).any(|w| w == text)
}

/// The `ServingStatus` from `grpc.health.v1.Health/Check`, or `None` on any failure.
async fn grpc_status(stream: TcpStream, address: SocketAddr, service: &str) -> Option<u64> {
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .ok()?;
    let driver = tokio::spawn(connection);
    let request = Request::post(format!("http://{address}/grpc.health.v1.Health/Check"))
        .header(header::CONTENT_TYPE, "application/grpc")
        .header(header::TE, "trailers")
        .body(Full::new(grpc_request(service)))
        .ok()?;
    let result = async {
        let response = sender.send_request(request).await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        // A trailers-only reply (an unknown service answers NOT_FOUND that way) carries
        // its grpc-status in the headers.
        if let Some(status) = response.headers().get(GRPC_STATUS) {
            return (status == "0").then_some(NO_STATUS).or(Some(GRPC_ERROR));
        }
        let collected = response.into_body().collect().await.ok()?;
        match collected.trailers().and_then(|t| t.get(GRPC_STATUS)) {
            Some(status) if status == "0" => grpc_serving_status(collected.to_bytes()),
            // A gRPC error: the server answered, but not "serving".
            Some(_) => Some(GRPC_ERROR),
            // No grpc-status at all: not a gRPC server.
            None => None,
        }
    }
    .await;
    driver.abort();
    result
}

const GRPC_STATUS: &str = "grpc-status";
/// Not a `ServingStatus`: the call itself failed with a gRPC error status.
const GRPC_ERROR: u64 = u64::MAX;
/// A trailers-only OK carries no message: proto3's default, `UNKNOWN`.
const NO_STATUS: u64 = 0;

/// A length-prefixed `HealthCheckRequest { service }` message.
fn grpc_request(service: &str) -> Bytes {
    let mut message = BytesMut::new();
    if !service.is_empty() {
        message.put_u8(0x0a); // field 1, length-delimited
        put_varint(&mut message, service.len() as u64);
        message.put_slice(service.as_bytes());
    }
    let mut framed = BytesMut::with_capacity(5 + message.len());
    framed.put_u8(0); // not compressed
    framed.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    framed.put_slice(&message);
    framed.freeze()
}

/// Reads `HealthCheckResponse.status` (field 1, varint) from a length-prefixed message.
fn grpc_serving_status(mut body: Bytes) -> Option<u64> {
    if body.remaining() < 5 || body.get_u8() != 0 {
        return None;
    }
    let len = body.get_u32() as usize;
    let mut message = body.get(..len)?.to_vec().into_iter();
    let mut status = 0; // proto3 default: UNKNOWN
    while let Some(key) = read_varint(&mut message) {
        match (key >> 3, key & 7) {
            (1, 0) => status = read_varint(&mut message)?,
            (_, 0) => {
                read_varint(&mut message)?;
            }
            (_, 2) => {
                let skip = read_varint(&mut message)?;
                for _ in 0..skip {
                    message.next()?;
                }
            }
            _ => return None,
        }
    }
    Some(status)
}

fn put_varint(out: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        out.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

fn read_varint(bytes: &mut impl Iterator<Item = u8>) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = bytes.next()?;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The default jittered wait before a target's first check: spread over one interval so a
/// hundred targets are not probed in the same millisecond.
pub(crate) fn first_delay(interval: Duration, rng: &mut fastrand::Rng) -> Duration {
    interval.mul_f64(rng.f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_messages_round_trip() {
        let request = grpc_request("svc");
        assert_eq!(&request[..], &[0, 0, 0, 0, 5, 0x0a, 3, b's', b'v', b'c']);
        assert_eq!(grpc_request("").len(), 5);
        let serving = Bytes::from_static(&[0, 0, 0, 0, 2, 0x08, 1]);
        assert_eq!(grpc_serving_status(serving), Some(GRPC_SERVING));
        let not_serving = Bytes::from_static(&[0, 0, 0, 0, 2, 0x08, 2]);
        assert_eq!(grpc_serving_status(not_serving), Some(2));
        assert_eq!(
            grpc_serving_status(Bytes::from_static(&[0, 0, 0, 0, 0])),
            Some(0)
        );
        assert_eq!(grpc_serving_status(Bytes::from_static(&[1, 0, 0])), None);
    }

    #[test]
    fn first_checks_are_spread_over_an_interval() {
        let mut rng = fastrand::Rng::with_seed(7);
        let delays: Vec<_> = (0..100)
            .map(|_| first_delay(Duration::from_secs(10), &mut rng))
            .collect();
        assert!(delays.iter().all(|d| *d < Duration::from_secs(10)));
        let distinct: std::collections::HashSet<_> = delays.iter().map(|d| d.as_millis()).collect();
        assert!(distinct.len() > 90);
    }
}
