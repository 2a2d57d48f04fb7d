//! gRPC requests from HTTP/2 clients: what makes one, its deadline (`grpc-timeout`), and
//! Ballast's own errors as gRPC statuses (HTTP 200, `content-type: application/grpc`,
//! `grpc-status` and `grpc-message` in a trailers-only response), never an HTML page.

use std::time::Duration;

use http::{header, HeaderMap, HeaderValue};

use crate::fault::{ConnectError, Fault};

/// Whether a request with these fields is gRPC (`content-type: application/grpc[+proto…]`).
pub(super) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// A `grpc-timeout` value (up to 8 digits and a unit: `H`, `M`, `S`, `m`, `u`, `n`).
pub(crate) fn grpc_timeout(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// gRPC status codes Ballast answers with.
const INTERNAL: u8 = 13;
const UNAVAILABLE: u8 = 14;
const DEADLINE_EXCEEDED: u8 = 4;
const RESOURCE_EXHAUSTED: u8 = 8;

/// The gRPC status of a fault: no target or a target that failed is `UNAVAILABLE` (the
/// client may retry), a timeout `DEADLINE_EXCEEDED`, Ballast out of resources
/// `RESOURCE_EXHAUSTED`, a request Ballast refused `INTERNAL` (gRPC's mapping of HTTP 400).
pub(super) fn status_of(fault: &Fault) -> u8 {
    match fault {
        Fault::NoTarget
        | Fault::NoHealthyTarget
        | Fault::TargetClosed(_)
        | Fault::InvalidResponse(_)
        | Fault::Connect(ConnectError::Io(_) | ConnectError::Tls(_)) => UNAVAILABLE,
        Fault::Connect(ConnectError::Timeout)
        | Fault::ResponseTimeout
        | Fault::RequestTimeout
        | Fault::ClientBodyTimeout
        | Fault::ClientBodyTooSlow => DEADLINE_EXCEEDED,
        Fault::Connect(ConnectError::Exhausted(_)) => RESOURCE_EXHAUSTED,
        Fault::Head(_) | Fault::BadRequestBody(_) => INTERNAL,
    }
}

/// The fields of a trailers-only gRPC error: `grpc-status`, and the reason code as
/// `grpc-message` (plain ASCII, nothing to percent-encode).
pub(super) fn error_fields(fault: &Fault, headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(
        "grpc-status",
        HeaderValue::from(u16::from(status_of(fault))),
    );
    headers.insert("grpc-message", HeaderValue::from_static(fault.reason()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_follow_the_spec() {
        let t = |s: &'static str| grpc_timeout(&HeaderValue::from_static(s));
        assert_eq!(t("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(t("2M"), Some(Duration::from_secs(120)));
        assert_eq!(t("5S"), Some(Duration::from_secs(5)));
        assert_eq!(t("100m"), Some(Duration::from_millis(100)));
        assert_eq!(t("7u"), Some(Duration::from_micros(7)));
        assert_eq!(t("99999999n"), Some(Duration::from_nanos(99_999_999)));
        for bad in ["", "S", "123456789S", "5s", "-5S", "5 S", "1.5S"] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn faults_map_to_the_statuses_clients_retry_on() {
        assert_eq!(status_of(&Fault::NoHealthyTarget), UNAVAILABLE);
        assert_eq!(
            status_of(&Fault::Connect(ConnectError::Io(
                std::io::ErrorKind::ConnectionRefused.into()
            ))),
            UNAVAILABLE
        );
        assert_eq!(status_of(&Fault::ResponseTimeout), DEADLINE_EXCEEDED);
        assert_eq!(
            status_of(&Fault::Connect(ConnectError::Exhausted(None))),
            RESOURCE_EXHAUSTED
        );
    }
}
