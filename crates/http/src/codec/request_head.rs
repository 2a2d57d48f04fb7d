//! The parts of a parsed HTTP/1 request head and what parsing may refuse.

use super::desync::DesyncReason;
use super::fields::Span;

/// What the parser refuses, each with its own status and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HeadError {
    /// Not HTTP/1.x syntax (a bad request line, header name or value, line ending).
    #[error("malformed request head: {0}")]
    Malformed(&'static str),
    /// The head is larger than `max_header_bytes`.
    #[error("request head larger than the limit")]
    TooLarge,
    /// The request line alone is larger than `max_header_bytes`.
    #[error("request target longer than the limit")]
    UriTooLong,
    /// More header fields than `max_headers`.
    #[error("more header fields than the limit")]
    TooManyFields,
    /// The listener's desync mitigation mode refuses requests of this class; the reason
    /// says why the request has it.
    #[error("request refused by the desync mitigation mode: {} ({})", .0.class().as_str(), .0.as_str())]
    Desync(DesyncReason),
    /// Transfer codings before `chunked` (`gzip, chunked`) on the way to an HTTP/2 target,
    /// which has no transfer codings.
    #[error("request transfer codings cannot be passed to an HTTP/2 target")]
    BadTransferEncoding,
    /// HTTP/1.1 without `Host` (RFC 9112 §3.2).
    #[error("HTTP/1.1 request without Host")]
    MissingHost,
    /// More than one `Host`, or a `Host` that is not `host[:port]`.
    #[error("invalid or repeated Host")]
    InvalidHost,
    /// A request target Ballast does not serve: authority-form outside CONNECT, userinfo,
    /// a scheme other than http/https, `*` outside OPTIONS.
    #[error("invalid request target")]
    BadTarget,
    /// `CONNECT`: no tunnel is configured on an HTTP listener.
    #[error("CONNECT is not allowed on this listener")]
    Connect,
}

/// Limits a head is parsed under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadLimits {
    pub(crate) max_bytes: usize,
    pub(crate) max_fields: usize,
}

/// The methods Ballast treats specially; the rest are passed on as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MethodKind {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Trace,
    Other,
}

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// A parsed request head. Every range points into the buffer it was parsed from, which
/// starts at the head's first byte.
#[derive(Debug, Clone)]
pub(crate) struct RequestHead {
    /// Bytes the head took, blank line included (the body, or the next request, follows).
    pub(crate) len: usize,
    pub(crate) method: Span,
    pub(crate) method_kind: MethodKind,
    /// The request target as written.
    pub(crate) target: Span,
    /// Path (origin-form, or the path of an absolute-form target; empty means `/`).
    pub(crate) path: Span,
    /// Query without `?`, if any.
    pub(crate) query: Option<Span>,
    /// The authority of an absolute-form target (it replaces `Host`, RFC 9112 §3.2.2).
    pub(crate) authority: Option<Span>,
    /// The `Host` field's value.
    pub(crate) host: Option<Span>,
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub(crate) minor: u8,
    pub(crate) body: BodyKind,
    /// Whether the client wants the connection kept open after this exchange.
    pub(crate) keep_alive: bool,
    /// `Expect: 100-continue`.
    pub(crate) expect_continue: bool,
    /// Transfer codings were applied before `chunked` (`gzip` of `gzip, chunked`, RFC 9112
    /// §6.1): the `Transfer-Encoding` fields pass them on to the target in front of its own
    /// `chunked`.
    pub(crate) codings: bool,
    /// The request's desync classification (`Compliant` for most).
    pub(crate) desync: DesyncReason,
    /// The head needed the lenient reading (its target may hold bytes that must be
    /// percent-encoded on the way to the target, and some fields are not forwarded).
    pub(crate) lenient: bool,
    /// The protocols of an HTTP/1.1 upgrade request (`Upgrade` with `Connection: upgrade`,
    /// RFC 9110 §7.8), `h2c` excepted: the request goes on as an ordinary one when the
    /// target refuses, as a tunnel when it answers `101`.
    pub(crate) upgrade: Option<Span>,
}

// === impl MethodKind ===

impl MethodKind {
    pub(crate) fn of(method: &[u8]) -> MethodKind {
        match method {
            b"GET" => MethodKind::Get,
            b"HEAD" => MethodKind::Head,
            b"POST" => MethodKind::Post,
            b"PUT" => MethodKind::Put,
            b"DELETE" => MethodKind::Delete,
            b"OPTIONS" => MethodKind::Options,
            b"TRACE" => MethodKind::Trace,
            _ => MethodKind::Other,
        }
    }

    /// Methods a client may safely send twice (RFC 9110 §9.2.2).
    pub(crate) fn is_idempotent(self) -> bool {
        matches!(
            self,
            MethodKind::Get
                | MethodKind::Head
                | MethodKind::Options
                | MethodKind::Put
                | MethodKind::Delete
                | MethodKind::Trace
        )
    }
}
