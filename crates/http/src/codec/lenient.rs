//! The lenient reading of a request head httparse refused: lines split at LF (a CR before
//! it dropped), the request line at its first and last space, fields at their first colon.
//! Every deviation from RFC 9112 that this reading tolerates is counted in the request's
//! desync class, so the listener's mode decides whether such a request is served (ALB
//! serves acceptable ones in its default mode: a control character in a field, a space in
//! the target, HTTP/1.2). Only heads with no request line at all stay malformed.
//!
//! A head read this way closes the client connection after its response, whatever its
//! class: nothing after bytes another parser might end elsewhere is read.
//!
//! Rare by construction: httparse reads every compliant head first, so this path costs
//! nothing on ordinary traffic.

use super::desync::{self, trim_ows, DesyncReason};
use super::fields::{Field, Span};
use super::request_fields::{read_fields, Line, Version};
use super::request_head::{BodyKind, HeadError, HeadLimits, MethodKind, RequestHead};
use super::target::{request_target, TargetForm};

/// Reads the head at the start of `buf` leniently. `Ok(None)`: its blank line has not
/// come yet.
pub(crate) fn parse_lenient(
    buf: &[u8],
    limits: HeadLimits,
    fields: &mut Vec<Field>,
) -> Result<Option<RequestHead>, HeadError> {
    fields.clear();
    let mut lines = Lines { buf, at: 0 };
    // Empty lines before the request line are skipped (RFC 9112 §2.2).
    let request_line = loop {
        match lines.next() {
            Some([]) => continue,
            Some(line) => break line,
            None => return incomplete(buf, limits, false),
        }
    };
    let mut parsed: Vec<Line<'_>> = Vec::new();
    let len = loop {
        match lines.next() {
            None => return incomplete(buf, limits, true),
            Some([]) => break lines.at,
            Some(line) => {
                if parsed.len() == limits.max_fields {
                    return Err(HeadError::TooManyFields);
                }
                parsed.push(split_field(line));
            }
        }
    };
    if len > limits.max_bytes {
        return Err(HeadError::TooLarge);
    }
    let mut verdict = DesyncReason::Compliant;
    let (method, target, version_text) = split_request_line(request_line)?;
    let version = version_of(version_text, &mut verdict);
    // A method that is no token cannot be written to a target as it came (a CR in it would
    // end the request line there): refused in every mode.
    if !desync::method_ok(method) {
        return Err(HeadError::Desync(DesyncReason::BadMethod));
    }
    let method_kind = MethodKind::of(method);
    if method == b"CONNECT" {
        return Err(HeadError::Connect);
    }
    let form = if target.is_empty() {
        // No target at all (`GET  HTTP/1.1`): served as `/`.
        TargetForm {
            path: target,
            query: None,
            authority: None,
        }
    } else {
        match request_target(target, method_kind == MethodKind::Options) {
            Some(form) => form,
            None => {
                // No target Ballast can route; when its bytes are why, the log says so.
                let mut reason = DesyncReason::Compliant;
                desync::target(target, &mut reason);
                return Err(match reason {
                    DesyncReason::BadUri => HeadError::Desync(reason),
                    _ => HeadError::BadTarget,
                });
            }
        }
    };
    let mut head = RequestHead {
        len,
        method: Span::within(buf, method),
        method_kind,
        target: Span::within(buf, target),
        path: Span::within(buf, form.path),
        query: form.query.map(|q| Span::within(buf, q)),
        authority: form.authority.map(|a| Span::within(buf, a)),
        host: None,
        minor: version.minor,
        body: BodyKind::None,
        keep_alive: version.minor == 1,
        expect_continue: false,
        codings: false,
        desync: DesyncReason::Compliant,
        lenient: true,
        upgrade: None,
    };
    read_fields(buf, parsed.into_iter(), &mut head, version, true, fields)?;
    // Whatever its class, nothing is read after a head another parser might end
    // elsewhere: the client connection closes after it (the target's stays reusable, as
    // what it receives is Ballast's own canonical head).
    head.keep_alive = false;
    // The classifier's order: fields and framing first, then version and target (a bad
    // method was refused above).
    head.desync.raise(verdict);
    desync::target(target, &mut head.desync);
    Ok(Some(head))
}

/// A head without its blank line: wait for more unless the limit is reached.
fn incomplete(
    buf: &[u8],
    limits: HeadLimits,
    line_done: bool,
) -> Result<Option<RequestHead>, HeadError> {
    match buf.len() >= limits.max_bytes {
        false => Ok(None),
        true if line_done => Err(HeadError::TooLarge),
        true => Err(HeadError::UriTooLong),
    }
}

/// The lines of a head: split at LF, one CR before it dropped; a CR anywhere else stays
/// in the line (and makes it bad).
struct Lines<'b> {
    buf: &'b [u8],
    /// Where the next line starts.
    at: usize,
}

impl<'b> Iterator for Lines<'b> {
    type Item = &'b [u8];

    fn next(&mut self) -> Option<&'b [u8]> {
        let rest = self.buf.get(self.at..)?;
        let end = rest.iter().position(|&b| b == b'\n')?;
        self.at += end + 1;
        let line = &rest[..end];
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

/// `name: value`, the value without the spaces and tabs around it. A line with no colon
/// is all name.
fn split_field(line: &[u8]) -> Line<'_> {
    match line.iter().position(|&b| b == b':') {
        Some(i) => (&line[..i], trim_ows(&line[i + 1..]), true),
        None => (line, &line[line.len()..], false),
    }
}

/// Method, target and version, as written.
type RequestLine<'b> = (&'b [u8], &'b [u8], &'b [u8]);

/// Method, target and version: the method ends at the first space, the version starts
/// after the last one when it reads `HTTP/` (else there is none: HTTP/0.9), and the
/// target is what lies between, spaces and all (`GET  HTTP/1.1` has an empty one).
fn split_request_line(line: &[u8]) -> Result<RequestLine<'_>, HeadError> {
    let first = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(HeadError::Malformed("invalid request line"))?;
    let method = &line[..first];
    let rest = &line[first + 1..];
    // The version keeps its trailing spaces (counted as non-compliant).
    let body_end = trim_ows_end(rest).len();
    let last = rest[..body_end].iter().rposition(|&b| b == b' ');
    match last {
        Some(i) if rest[i + 1..].starts_with(b"HTTP/") => Ok((method, &rest[..i], &rest[i + 1..])),
        _ => Ok((method, rest, &rest[rest.len()..])),
    }
}

fn trim_ows_end(mut v: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// The version as framing reads it, its class counted in `verdict`.
fn version_of(text: &[u8], verdict: &mut DesyncReason) -> Version {
    let trimmed = trim_ows(text);
    if trimmed.is_empty() || trimmed == b"HTTP/0.9" {
        verdict.raise(DesyncReason::NonCompliantVersion);
        return Version {
            minor: 0,
            v09: true,
        };
    }
    match trimmed {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', d] if d.is_ascii_digit() => {
            if *d > b'1' || trimmed.len() != text.len() {
                verdict.raise(DesyncReason::NonCompliantVersion);
            }
            Version {
                minor: u8::from(*d > b'0'),
                v09: false,
            }
        }
        _ => {
            verdict.raise(DesyncReason::BadVersion);
            Version {
                minor: 0,
                v09: false,
            }
        }
    }
}

#[cfg(test)]
mod tests;
