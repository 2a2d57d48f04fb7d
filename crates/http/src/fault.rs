//! One fault model for everything that goes wrong on the request path.
//!
//! Handlers never pick a status code or a log level themselves: they return a [`Fault`], and
//! this module decides the status (as a cloud load balancer would), whether the client
//! connection must close, how loudly to log and which reason code names it.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use crate::body::{ClientBodyError, ProxyBody};
use crate::exchange::Exchange;
use crate::pool::ConnectError;

/// Who caused a failure; decides the status class and the log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The client sent something we refuse.
    Client,
    /// The target group or target failed us.
    Target,
}

/// A failure on the request path.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Fault {
    /// Both `Transfer-Encoding` and `Content-Length`: the framing is ambiguous (RFC 9112 §6.1).
    #[error("request has both Transfer-Encoding and Content-Length")]
    AmbiguousFraming,
    /// `Transfer-Encoding` other than a single `chunked` (duplicates are a smuggling vector).
    #[error("request Transfer-Encoding is not a single \"chunked\"")]
    BadTransferEncoding,
    /// An HTTP/1.1 request without `Host` (RFC 9112 §3.2).
    #[error("HTTP/1.1 request without Host")]
    MissingHost,
    /// More than one `Host` header (RFC 9112 §3.2): which one a target believes is anyone's
    /// guess, so routing on either would be unsafe.
    #[error("request with more than one Host")]
    InvalidHost,
    /// The request body was malformed or cut short while streaming it (the error's source
    /// is a [`ClientBodyError`]).
    #[error("invalid request body: {0}")]
    BadRequestBody(hyper::Error),
    /// The client stopped sending its request body for longer than the response timeout.
    #[error("client stopped sending the request body")]
    ClientBodyTimeout,
    /// The group has no target to send to.
    #[error("target group has no target to send to")]
    NoTarget,
    /// The group has targets, but none may take traffic and it does not fail open.
    #[error("no target of the group may take traffic (fail_open is off)")]
    NoHealthyTarget,
    /// Connecting to the target failed or was refused.
    #[error("{0}")]
    Connect(ConnectError),
    /// The target closed or reset the connection before a complete response head.
    #[error("target closed the connection: {0}")]
    TargetClosed(hyper::Error),
    /// The target's response could not be parsed.
    #[error("invalid response from target: {0}")]
    InvalidResponse(hyper::Error),
    /// The target did not start its response within the group's response timeout.
    #[error("target did not respond within the response timeout")]
    ResponseTimeout,
}

impl Fault {
    /// Who is to blame.
    pub(crate) fn side(&self) -> Side {
        match self {
            Fault::AmbiguousFraming
            | Fault::BadTransferEncoding
            | Fault::MissingHost
            | Fault::InvalidHost
            | Fault::BadRequestBody(_)
            | Fault::ClientBodyTimeout => Side::Client,
            _ => Side::Target,
        }
    }

    /// The status the client receives.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Fault::AmbiguousFraming
            | Fault::BadTransferEncoding
            | Fault::MissingHost
            | Fault::InvalidHost
            | Fault::BadRequestBody(_) => StatusCode::BAD_REQUEST,
            Fault::ClientBodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Fault::NoTarget | Fault::NoHealthyTarget => StatusCode::SERVICE_UNAVAILABLE,
            Fault::Connect(ConnectError::Timeout) | Fault::ResponseTimeout => {
                StatusCode::GATEWAY_TIMEOUT
            }
            Fault::Connect(_) | Fault::TargetClosed(_) | Fault::InvalidResponse(_) => {
                StatusCode::BAD_GATEWAY
            }
        }
    }

    /// A stable code for logs and metrics, in the style of cloud load balancers' reasons.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Fault::AmbiguousFraming => "Client.AmbiguousFraming",
            Fault::BadTransferEncoding => "Client.BadTransferEncoding",
            Fault::MissingHost => "Client.MissingHost",
            Fault::InvalidHost => "Client.InvalidHost",
            Fault::BadRequestBody(_) => "Client.InvalidBody",
            Fault::ClientBodyTimeout => "Client.BodyTimeout",
            Fault::NoTarget => "Group.NoTarget",
            Fault::NoHealthyTarget => "Group.NoHealthyTarget",
            Fault::Connect(ConnectError::Timeout) => "Target.ConnectTimeout",
            Fault::Connect(ConnectError::Io(e)) => match e.kind() {
                std::io::ErrorKind::ConnectionRefused => "Target.ConnectionRefused",
                std::io::ErrorKind::ConnectionReset => "Target.ConnectionReset",
                _ => "Target.ConnectFailed",
            },
            Fault::Connect(ConnectError::Tls(_)) => "Target.TlsHandshakeFailed",
            Fault::Connect(_) => "Target.ConnectFailed",
            Fault::TargetClosed(e) if caused_by_reset(e) => "Target.ConnectionReset",
            Fault::TargetClosed(_) => "Target.ConnectionClosed",
            Fault::InvalidResponse(_) => "Target.InvalidResponse",
            Fault::ResponseTimeout => "Target.ResponseTimeout",
        }
    }

    /// Whether the client connection must close after the response: after a framing
    /// problem the rest of the byte stream cannot be trusted.
    pub(crate) fn closes_connection(&self) -> bool {
        self.side() == Side::Client
    }

    /// Classifies an error from sending a request to a target.
    pub(crate) fn from_send(error: hyper::Error) -> Self {
        let client_body =
            std::error::Error::source(&error).is_some_and(|s| s.is::<ClientBodyError>());
        if client_body {
            return Fault::BadRequestBody(error);
        }
        if error.is_parse() || error.is_parse_status() {
            Fault::InvalidResponse(error)
        } else {
            Fault::TargetClosed(error)
        }
    }

    /// The response Ballast sends for this fault, logged once here.
    pub(crate) fn into_response(
        self,
        listener: &str,
        mut exchange: Exchange,
    ) -> Response<ProxyBody> {
        let status = self.status();
        let reason = self.reason();
        let group = exchange.group.as_ref().map_or("-", |g| &*g.name.0);
        let target = exchange.target.as_ref().map(|t| t.address);
        match self.side() {
            Side::Target => {
                tracing::warn!(listener, target_group = group, target = ?target, status = status.as_u16(), reason, error = %self, "request failed")
            }
            Side::Client => {
                tracing::info!(listener, target_group = group, status = status.as_u16(), reason, error = %self, "request rejected")
            }
        }
        exchange.error_reason = Some(reason);
        exchange.answered(status.as_u16(), None);
        let mut response = Response::new(ProxyBody::local(error_page(status), Some(exchange)));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if self.closes_connection() {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

fn caused_by_reset(error: &hyper::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::ConnectionReset;
        }
        source = cause.source();
    }
    false
}

fn error_page(status: StatusCode) -> Bytes {
    Bytes::from_static(match status {
        StatusCode::BAD_REQUEST => b"400 Bad Request\n",
        StatusCode::REQUEST_TIMEOUT => b"408 Request Timeout\n",
        StatusCode::SERVICE_UNAVAILABLE => b"503 Service Unavailable\n",
        StatusCode::GATEWAY_TIMEOUT => b"504 Gateway Timeout\n",
        StatusCode::BAD_GATEWAY => b"502 Bad Gateway\n",
        _ => b"error\n",
    })
}
