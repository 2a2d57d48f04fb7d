//! An HTTP/1 request head: parsed once, checked against the framing and target rules of
//! RFC 9112, and kept as ranges over the bytes it arrived in.

use std::mem::MaybeUninit;

use super::fields::{classify, content_length, tokens, valid_authority, Field, FieldKind, Span};
use super::target::request_target;

/// How many header slots live on the stack while parsing; larger `max_headers` settings
/// parse into a heap array.
const STACK_HEADERS: usize = 128;

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
    /// Both `Content-Length` and `Transfer-Encoding` (RFC 9112 §6.1).
    #[error("request has both Transfer-Encoding and Content-Length")]
    AmbiguousFraming,
    /// `Transfer-Encoding` other than one field whose codings end with a single `chunked`,
    /// or on HTTP/1.0.
    #[error("request Transfer-Encoding does not end with a single \"chunked\"")]
    BadTransferEncoding,
    /// `Content-Length` that is not one decimal number (or several identical ones).
    #[error("invalid Content-Length")]
    BadContentLength,
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
    /// The transfer codings applied before `chunked` (`gzip` of `gzip, chunked`, RFC 9112
    /// §6.1): passed on to the target in front of its own `chunked`.
    pub(crate) codings: Option<Span>,
    /// The protocols of an HTTP/1.1 upgrade request (`Upgrade` with `Connection: upgrade`,
    /// RFC 9110 §7.8), `h2c` excepted: the request goes on as an ordinary one when the
    /// target refuses, as a tunnel when it answers `101`.
    pub(crate) upgrade: Option<Span>,
}

// === impl MethodKind ===

impl MethodKind {
    fn of(method: &[u8]) -> MethodKind {
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

/// Parses the request head at the start of `buf` into `fields` (cleared first).
///
/// `Ok(None)`: the head is not complete yet and may still fit the limits; read more.
/// Leading empty lines are skipped (RFC 9112 §2.2) and count in `len`.
pub(crate) fn parse_request(
    buf: &[u8],
    limits: HeadLimits,
    fields: &mut Vec<Field>,
) -> Result<Option<RequestHead>, HeadError> {
    fields.clear();
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
    let mut heap = Vec::new();
    let slots: &mut [MaybeUninit<httparse::Header<'_>>] = if limits.max_fields <= STACK_HEADERS {
        &mut stack[..limits.max_fields]
    } else {
        heap.resize_with(limits.max_fields, MaybeUninit::uninit);
        &mut heap
    };
    let mut req = httparse::Request::new(&mut []);
    let parsed = req.parse_with_uninit_headers(buf, slots);
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) if len <= limits.max_bytes => len,
        Ok(httparse::Status::Complete(_)) => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => {
            return match buf.len() >= limits.max_bytes {
                false => Ok(None),
                true if line_complete(&buf[..limits.max_bytes]) => Err(HeadError::TooLarge),
                true => Err(HeadError::UriTooLong),
            }
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyFields),
        Err(e) => return Err(HeadError::Malformed(e.description_hint())),
    };
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HeadError::Malformed("incomplete request line"));
    };
    let method_kind = MethodKind::of(method.as_bytes());
    if method == "CONNECT" {
        return Err(HeadError::Connect);
    }
    let target_form = request_target(target.as_bytes(), method_kind == MethodKind::Options)
        .ok_or(HeadError::BadTarget)?;
    let mut head = RequestHead {
        len,
        method: Span::within(buf, method.as_bytes()),
        method_kind,
        target: Span::within(buf, target.as_bytes()),
        path: Span::within(buf, target_form.path),
        query: target_form.query.map(|q| Span::within(buf, q)),
        authority: target_form.authority.map(|a| Span::within(buf, a)),
        host: None,
        minor,
        body: BodyKind::None,
        keep_alive: minor == 1,
        expect_continue: false,
        codings: None,
        upgrade: None,
    };
    read_fields(buf, req.headers, &mut head, fields)?;
    Ok(Some(head))
}

/// The codings before a final `chunked` in a `Transfer-Encoding` value (`None`: only
/// `chunked`), or `None` when the value does not frame a body as chunked: `chunked` must be
/// last and only there (RFC 9112 §6.1), and every coding a token (no parameters, no empty
/// list elements: rare enough that refusing them costs nobody, and each is a place where
/// two parsers may differ).
fn final_chunked(value: &[u8]) -> Option<Option<&[u8]>> {
    let value = value.trim_ascii();
    let (before, last) = match value.iter().rposition(|&b| b == b',') {
        Some(i) => (Some(value[..i].trim_ascii()), value[i + 1..].trim_ascii()),
        None => (None, value),
    };
    if !last.eq_ignore_ascii_case(b"chunked") {
        return None;
    }
    let Some(before) = before else {
        return Some(None);
    };
    let fine = before.split(|&b| b == b',').all(|coding| {
        let coding = coding.trim_ascii();
        !coding.is_empty()
            && coding
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
            && !coding.eq_ignore_ascii_case(b"chunked")
    });
    fine.then_some(Some(before))
}

/// Whether the request line ended within `buf` (a head that overflows the limit is then
/// too large as a whole, not because of its target).
fn line_complete(buf: &[u8]) -> bool {
    buf.trim_ascii_start().contains(&b'\n')
}

/// Records every field with its meaning, and settles framing, `Host` and keep-alive.
fn read_fields(
    buf: &[u8],
    parsed: &[httparse::Header<'_>],
    head: &mut RequestHead,
    fields: &mut Vec<Field>,
) -> Result<(), HeadError> {
    let mut length: Option<u64> = None;
    let mut encodings = 0usize;
    let mut transfer_encoding: &[u8] = b"";
    let mut hosts = 0usize;
    let mut listed = false;
    let mut close = false;
    let mut connection_upgrade = false;
    let mut upgrade = None;
    fields.reserve(parsed.len());
    for h in parsed {
        let name = h.name.as_bytes();
        let value = h.value;
        let kind = classify(name);
        match kind {
            FieldKind::Host => {
                hosts += 1;
                if hosts > 1 || !valid_authority(value) {
                    return Err(HeadError::InvalidHost);
                }
                head.host = Some(Span::within(buf, value));
            }
            FieldKind::ContentLength => {
                let n = content_length(value).ok_or(HeadError::BadContentLength)?;
                if length.is_some_and(|l| l != n) {
                    return Err(HeadError::BadContentLength);
                }
                length = Some(n);
            }
            FieldKind::TransferEncoding => {
                encodings += 1;
                transfer_encoding = value;
            }
            FieldKind::Connection => {
                for option in tokens(value) {
                    if option.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if option.eq_ignore_ascii_case(b"keep-alive") {
                        head.keep_alive = head.keep_alive || head.minor == 0;
                    } else if option.eq_ignore_ascii_case(b"upgrade") {
                        connection_upgrade = true;
                    } else {
                        listed = true;
                    }
                }
            }
            FieldKind::Expect => {
                head.expect_continue = value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
            }
            FieldKind::Upgrade if upgrade.is_none() => upgrade = Some(value),
            _ => {}
        }
        fields.push(Field {
            name: Span::within(buf, name),
            value: Span::within(buf, value),
            kind,
        });
    }
    // `close` wins over `keep-alive` whatever their order.
    if close {
        head.keep_alive = false;
    }
    head.body = match (encodings, length) {
        (0, None) | (0, Some(0)) => BodyKind::None,
        (0, Some(n)) => BodyKind::Length(n),
        (_, Some(_)) => return Err(HeadError::AmbiguousFraming),
        (1, None) if head.minor == 1 => {
            let codings = final_chunked(transfer_encoding).ok_or(HeadError::BadTransferEncoding)?;
            head.codings = codings.map(|c| Span::within(buf, c));
            BodyKind::Chunked
        }
        _ => return Err(HeadError::BadTransferEncoding),
    };
    // HTTP/1.0 has no upgrades; `h2c` asks Ballast itself to switch, which it does not
    // (HTTP/2 cleartext is served with prior knowledge), so that request is served as it is.
    head.upgrade = upgrade
        .filter(|protocols| {
            connection_upgrade
                && head.minor == 1
                && !tokens(protocols).any(|p| p.eq_ignore_ascii_case(b"h2c"))
                && tokens(protocols).next().is_some()
        })
        .map(|protocols| Span::within(buf, protocols));
    if hosts == 0 && head.minor == 1 && head.authority.is_none() {
        return Err(HeadError::MissingHost);
    }
    if listed {
        mark_listed(buf, fields);
    }
    Ok(())
}

/// Marks the fields a `Connection` option names as hop-by-hop for this message (RFC 9110
/// §7.6.1). `Host` stays: no legitimate client marks it, and dropping it would make the
/// message unroutable.
pub(crate) fn mark_listed(buf: &[u8], fields: &mut [Field]) {
    let mut names: [&[u8]; 16] = [&[]; 16];
    let mut n = 0;
    for f in fields.iter().filter(|f| f.kind == FieldKind::Connection) {
        for option in tokens(f.value.of(buf)) {
            if n < names.len() {
                names[n] = option;
                n += 1;
            }
        }
    }
    for f in fields.iter_mut() {
        let droppable = matches!(
            f.kind,
            FieldKind::Plain
                | FieldKind::Cookie
                | FieldKind::Expect
                | FieldKind::RequestId
                | FieldKind::TraceParent
                | FieldKind::TraceState
                | FieldKind::SetCookie
        );
        if droppable
            && names[..n]
                .iter()
                .any(|o| o.eq_ignore_ascii_case(f.name.of(buf)))
        {
            f.kind = FieldKind::Listed;
        }
    }
}

/// Short names for httparse's errors, for logs.
trait Hint {
    fn description_hint(&self) -> &'static str;
}

impl Hint for httparse::Error {
    fn description_hint(&self) -> &'static str {
        match self {
            httparse::Error::HeaderName => "invalid header name",
            httparse::Error::HeaderValue => "invalid header value",
            httparse::Error::NewLine => "invalid line ending",
            httparse::Error::Status => "invalid status",
            httparse::Error::Token => "invalid request line",
            httparse::Error::TooManyHeaders => "too many header fields",
            httparse::Error::Version => "unsupported HTTP version",
        }
    }
}

#[cfg(test)]
mod tests;
