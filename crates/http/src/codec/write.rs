//! Writing HTTP/1.1 heads: the request a target receives and the response a client
//! receives. Every head is written afresh in canonical form (`Name: value` CRLF), from the
//! fields that may cross the proxy plus the ones Ballast adds; framing fields are always
//! Ballast's own.

use super::fields::FieldKind;
use super::request::BodyKind;
use crate::rewrite::HeaderOps;

/// One header field on its way through: name, value, and what it means to the proxy.
pub(crate) type FieldRef<'a> = (&'a [u8], &'a [u8], FieldKind);

/// The start of the head a target receives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TargetLine<'a> {
    pub(crate) method: &'a [u8],
    /// Path (empty means `/`) and query, written in origin-form.
    pub(crate) path: &'a [u8],
    pub(crate) query: Option<&'a [u8]>,
    /// `Host`: the request's authority or its `Host` field.
    pub(crate) host: Option<&'a [u8]>,
    pub(crate) body: BodyKind,
    /// The client applied transfer codings before `chunked` (`gzip`): its
    /// `Transfer-Encoding` fields name them, and they are written in front of the target's
    /// `chunked`.
    pub(crate) codings: bool,
    /// The target may hold spaces and control characters (a head read leniently): they are
    /// percent-encoded, so the target reads the same request line.
    pub(crate) escape: bool,
    /// The protocols of an upgrade request (WebSocket): sent with `Connection: upgrade`.
    pub(crate) upgrade: Option<&'a [u8]>,
    /// Ask the target to close the connection after this request (`Connection: close`):
    /// the client's framing was ambiguous, so the connection is not used again.
    pub(crate) close: bool,
}

/// The fields Ballast adds to a request on its way to a target.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Added<'a> {
    /// The client's address as text.
    pub(crate) client: &'a [u8],
    /// `http` or `https`.
    pub(crate) proto: &'a [u8],
    /// The listener's port as text.
    pub(crate) port: &'a [u8],
    /// A new `X-Request-Id`, when the client's is missing or refused.
    pub(crate) request_id: Option<&'a [u8]>,
    /// A new `traceparent`, when the client's is missing or invalid (its `tracestate` is then
    /// dropped too).
    pub(crate) traceparent: Option<&'a [u8]>,
    /// `X-Forwarded-Tls-Version`, `X-Forwarded-Tls-Cipher`, `X-Client-Cert` (TLS listeners).
    pub(crate) tls: [Option<(&'static [u8], &'a [u8])>; 3],
    /// The listener's and rule's `request_headers`.
    pub(crate) ops: Option<&'a HeaderOps>,
}

/// Writes the request head for a target. `fields` is iterated up to three times (the
/// client's `X-Forwarded-For` values are joined into one field at the end, and its codings
/// come from its `Transfer-Encoding` fields).
pub(crate) fn write_request_head<'f, I>(
    out: &mut Vec<u8>,
    line: &TargetLine<'_>,
    fields: I,
    add: &Added<'_>,
) where
    I: Iterator<Item = FieldRef<'f>> + Clone,
{
    out.extend_from_slice(line.method);
    out.push(b' ');
    let target = |out: &mut Vec<u8>, part: &[u8]| match line.escape {
        false => out.extend_from_slice(part),
        true => escaped(out, part),
    };
    if line.path.is_empty() {
        out.push(b'/');
    } else {
        target(out, line.path);
    }
    if let Some(query) = line.query {
        out.push(b'?');
        target(out, query);
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if let Some(host) = line.host {
        field(out, b"Host", host);
    }
    if let Some(protocols) = line.upgrade {
        out.extend_from_slice(b"Connection: upgrade\r\n");
        field(out, b"Upgrade", protocols);
    } else if line.close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    let removed = |name: &[u8]| add.ops.is_some_and(|ops| ops.removes(name));
    // Only the client's first `X-Request-Id` and `traceparent` were checked: a second one
    // must not reach the target behind the checked one.
    let (mut request_id_seen, mut traceparent_seen) = (false, false);
    for (name, value, kind) in fields.clone() {
        let pass = match kind {
            FieldKind::Plain | FieldKind::Cookie | FieldKind::Expect | FieldKind::SetCookie => true,
            FieldKind::RequestId => {
                add.request_id.is_none() && !std::mem::replace(&mut request_id_seen, true)
            }
            FieldKind::TraceParent => {
                add.traceparent.is_none() && !std::mem::replace(&mut traceparent_seen, true)
            }
            FieldKind::TraceState => add.traceparent.is_none(),
            _ => false,
        };
        if pass && !removed(name) {
            field(out, name, value);
        }
    }
    out.extend_from_slice(b"X-Forwarded-For: ");
    for (_, value, kind) in fields.clone() {
        if kind == FieldKind::ForwardedFor && !value.trim_ascii().is_empty() {
            out.extend_from_slice(value.trim_ascii());
            out.extend_from_slice(b", ");
        }
    }
    out.extend_from_slice(add.client);
    out.extend_from_slice(b"\r\n");
    field(out, b"X-Forwarded-Proto", add.proto);
    field(out, b"X-Forwarded-Port", add.port);
    if let Some(id) = add.request_id {
        field(out, b"X-Request-Id", id);
    }
    if let Some(parent) = add.traceparent {
        field(out, b"traceparent", parent);
    }
    for (name, value) in add.tls.iter().flatten() {
        field(out, name, value);
    }
    if let Some(ops) = add.ops {
        ops.write(out);
    }
    match line.body {
        BodyKind::None => {}
        BodyKind::Length(n) => length_field(out, n),
        BodyKind::Chunked => {
            out.extend_from_slice(b"Transfer-Encoding: ");
            if line.codings {
                codings(out, fields);
            }
            out.extend_from_slice(b"chunked\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// The client's codings other than `chunked`, in order, each followed by `, `, by their
/// canonical names only (parameters dropped: none is defined, and each is a place where two
/// parsers may differ). The parser has checked they are known codings ending in one
/// `chunked`, over one field or several.
fn codings<'f>(out: &mut Vec<u8>, fields: impl Iterator<Item = FieldRef<'f>>) {
    const KNOWN: [&[u8]; 4] = [b"gzip", b"deflate", b"compress", b"identity"];
    for (_, value, kind) in fields {
        if kind != FieldKind::TransferEncoding {
            continue;
        }
        for element in value.split(|&b| b == b',') {
            let name = element.split(|&b| b == b';').next().unwrap_or_default();
            let name = name.trim_ascii();
            if let Some(known) = KNOWN.iter().find(|k| k.eq_ignore_ascii_case(name)) {
                out.extend_from_slice(known);
                out.extend_from_slice(b", ");
            }
        }
    }
}

/// A target's bytes with spaces, control characters and DEL percent-encoded.
fn escaped(out: &mut Vec<u8>, part: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in part {
        if b <= b' ' || b == 0x7f {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        } else {
            out.push(b);
        }
    }
}

/// How a response body reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientFraming {
    /// No body, or a body framed by the target's own `Content-Length` field (passed on).
    AsIs,
    /// Re-encoded chunked (`Transfer-Encoding: chunked` written by Ballast).
    Chunked,
    /// Delimited by closing the connection (HTTP/1.0 clients).
    Close,
}

/// The first line and framing of a response to a client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResponseLine<'a> {
    pub(crate) status: u16,
    /// The target's reason phrase (empty: the standard one).
    pub(crate) reason: &'a [u8],
    pub(crate) framing: ClientFraming,
    /// The target's `Content-Length`, written afresh when the framing is as is.
    pub(crate) length: Option<u64>,
    pub(crate) connection: Connection,
}

/// Writes a response head for the client: status line, the target's end-to-end fields,
/// `extra` fields (sticky cookies), the response rewrites, framing and connection fields.
pub(crate) fn write_response_head<'f, I>(
    out: &mut Vec<u8>,
    line: ResponseLine<'_>,
    fields: I,
    extra: &[&[u8]],
    ops: Option<&HeaderOps>,
) where
    I: Iterator<Item = FieldRef<'f>>,
{
    let ResponseLine {
        status,
        reason,
        framing,
        length,
        connection,
    } = line;
    status_line(out, status, reason);
    for (name, value, kind) in fields {
        let pass = matches!(
            kind,
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
                | FieldKind::Host
        );
        if pass && !ops.is_some_and(|o| o.removes(name)) {
            field(out, name, value);
        }
    }
    if let (ClientFraming::AsIs, Some(n)) = (framing, length) {
        length_field(out, n);
    }
    for line in extra {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(ops) = ops {
        ops.write(out);
    }
    match framing {
        ClientFraming::AsIs | ClientFraming::Close => {}
        ClientFraming::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
    }
    connection.write(out);
    out.extend_from_slice(b"\r\n");
}

/// What the response says about the client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Connection {
    /// Nothing: HTTP/1.1 keeps it open.
    Default,
    /// `Connection: close`.
    Close,
    /// `Connection: keep-alive` (HTTP/1.0 clients that asked for it).
    KeepAlive,
    /// `Connection: upgrade` (a `101`: the connection switches protocols).
    Upgrade,
}

impl Connection {
    /// Its field line, if any.
    pub(crate) fn write(self, out: &mut Vec<u8>) {
        match self {
            Connection::Default => {}
            Connection::Close => out.extend_from_slice(b"Connection: close\r\n"),
            Connection::KeepAlive => out.extend_from_slice(b"Connection: keep-alive\r\n"),
            Connection::Upgrade => out.extend_from_slice(b"Connection: upgrade\r\n"),
        }
    }
}

/// `HTTP/1.1 NNN reason` CRLF; an empty reason gets the standard one.
pub(crate) fn status_line(out: &mut Vec<u8>, status: u16, reason: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 ");
    let s = status.min(999);
    out.extend_from_slice(&[
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
        b' ',
    ]);
    if reason.is_empty() {
        out.extend_from_slice(canonical_reason(status).as_bytes());
    } else {
        out.extend_from_slice(reason);
    }
    out.extend_from_slice(b"\r\n");
}

/// The standard reason phrase of a status (empty for unknown ones).
pub(crate) fn canonical_reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// `Name: value` CRLF.
#[inline]
pub(crate) fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// `Content-Length: n` CRLF.
pub(crate) fn length_field(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(b"Content-Length: ");
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests;
