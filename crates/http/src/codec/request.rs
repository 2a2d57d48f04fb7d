//! An HTTP/1 request head: parsed once (httparse; the lenient reading when httparse
//! refuses it), checked against the framing and target rules of RFC 9112, classified for
//! desync, and kept as ranges over the bytes it arrived in.

use std::mem::MaybeUninit;

use super::desync::DesyncReason;
use super::fields::{Field, Span};
use super::lenient::parse_lenient;
use super::request_fields::{read_fields, Version};
use super::target::request_target;

pub(crate) use super::request_fields::mark_listed;
pub(crate) use super::request_head::{BodyKind, HeadError, HeadLimits, MethodKind, RequestHead};

/// How many header slots live on the stack while parsing; larger `max_headers` settings
/// parse into a heap array.
const STACK_HEADERS: usize = 128;

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
        // Not RFC 9112 syntax: the lenient reading classifies what it can read, and the
        // listener's mode decides.
        Err(e) => {
            return parse_lenient(buf, limits, fields).map_err(|lenient| match lenient {
                HeadError::Malformed(_) => HeadError::Malformed(e.description_hint()),
                other => other,
            })
        }
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
        codings: false,
        desync: DesyncReason::Compliant,
        lenient: false,
        upgrade: None,
    };
    let parsed = req
        .headers
        .iter()
        .map(|h| (h.name.as_bytes(), h.value, true));
    let version = Version { minor, v09: false };
    read_fields(buf, parsed, &mut head, version, false, fields)?;
    Ok(Some(head))
}

/// Whether the request line ended within `buf` (a head that overflows the limit is then
/// too large as a whole, not because of its target).
fn line_complete(buf: &[u8]) -> bool {
    buf.trim_ascii_start().contains(&b'\n')
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
