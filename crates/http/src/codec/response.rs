//! A target's HTTP/1 response head, parsed once into ranges over the bytes it arrived in,
//! with the framing of the body that follows it (RFC 9112 §6.3).

use std::mem::MaybeUninit;

use super::fields::{classify, content_length, tokens, Field, FieldKind, Span};
use super::request::HeadLimits;

/// Why a target's response head is refused (502 `Target.InvalidResponse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ResponseError {
    /// Not HTTP/1.x syntax.
    #[error("malformed response head: {0}")]
    Malformed(&'static str),
    /// Larger than the response head limit.
    #[error("response head larger than the limit")]
    TooLarge,
    /// A `Content-Length` that is not one number.
    #[error("invalid Content-Length in response")]
    BadContentLength,
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseBody {
    /// None (HEAD, 1xx, 204, 304, or `Content-Length: 0`).
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked.
    Chunked,
    /// Until the target closes the connection.
    UntilClose,
}

/// A parsed response head; ranges point into the buffer it was parsed from.
#[derive(Debug, Clone)]
pub(crate) struct ResponseHead {
    /// Bytes the head took, blank line included.
    pub(crate) len: usize,
    pub(crate) status: u16,
    pub(crate) reason: Span,
    pub(crate) body: ResponseBody,
    /// Whether the connection may carry another request once this body is read.
    pub(crate) reusable: bool,
    /// The target's `Content-Length` when it stands (no transfer coding, not a 1xx or 204):
    /// written afresh on the way out (`5, 5` or `005` become `5`). For `HEAD` and 304 it
    /// tells the length the body would have.
    pub(crate) length: Option<u64>,
}

impl ResponseHead {
    /// A 1xx interim response (100 Continue, 103 Early Hints): the final one follows.
    pub(crate) fn is_interim(&self) -> bool {
        (100..200).contains(&self.status)
    }
}

/// Parses the response head at the start of `buf` into `fields` (cleared first);
/// `Ok(None)`: incomplete, read more. `head_request`: the request was `HEAD`, so no body
/// follows whatever the fields say.
pub(crate) fn parse_response(
    buf: &[u8],
    limits: HeadLimits,
    head_request: bool,
    fields: &mut Vec<Field>,
) -> Result<Option<ResponseHead>, ResponseError> {
    fields.clear();
    // Room for a target's whole head (`RESPONSE_HEAD_LIMITS`: 256 fields) on the stack,
    // uninitialised: no allocation and no zeroing per response.
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; 256];
    let mut heap = Vec::new();
    let slots: &mut [MaybeUninit<httparse::Header<'_>>] = if limits.max_fields <= stack.len() {
        &mut stack[..limits.max_fields]
    } else {
        heap.resize_with(limits.max_fields, MaybeUninit::uninit);
        &mut heap
    };
    let mut res = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut res, buf, slots)
    {
        Ok(httparse::Status::Complete(len)) if len <= limits.max_bytes => len,
        Ok(httparse::Status::Partial) if buf.len() < limits.max_bytes => return Ok(None),
        Ok(_) | Err(httparse::Error::TooManyHeaders) => return Err(ResponseError::TooLarge),
        Err(e) => return Err(ResponseError::Malformed(describe(e))),
    };
    let (Some(status), Some(minor)) = (res.code, res.version) else {
        return Err(ResponseError::Malformed("incomplete status line"));
    };
    let mut length = None;
    let mut chunked_last = None;
    let mut close = false;
    let mut keep_alive = false;
    let mut listed = false;
    for h in res.headers.iter() {
        let kind = classify(h.name.as_bytes());
        match kind {
            FieldKind::ContentLength => {
                let n = content_length(h.value).ok_or(ResponseError::BadContentLength)?;
                if length.is_some_and(|l| l != n) {
                    return Err(ResponseError::BadContentLength);
                }
                length = Some(n);
            }
            FieldKind::TransferEncoding => {
                // Only `chunked`, once, is a coding Ballast can pass on: others (`gzip,
                // chunked`) would reach the client without the field that names them.
                for coding in tokens(h.value) {
                    chunked_last =
                        Some(chunked_last.is_none() && coding.eq_ignore_ascii_case(b"chunked"));
                }
            }
            FieldKind::Connection => {
                for option in tokens(h.value) {
                    if option.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if option.eq_ignore_ascii_case(b"keep-alive") {
                        keep_alive = true;
                    } else {
                        listed = true;
                    }
                }
            }
            _ => {}
        }
        fields.push(Field {
            name: Span::within(buf, h.name.as_bytes()),
            value: Span::within(buf, h.value),
            kind,
        });
    }
    if listed {
        super::request::mark_listed(buf, fields);
    }
    let bodiless = head_request || (100..200).contains(&status) || status == 204 || status == 304;
    if chunked_last == Some(false) && !bodiless {
        return Err(ResponseError::Malformed(
            "transfer coding other than chunked",
        ));
    }
    let body = match (bodiless, chunked_last, length) {
        (true, _, _) => ResponseBody::None,
        (false, Some(true), _) if minor == 1 => ResponseBody::Chunked,
        (false, Some(_), _) => ResponseBody::UntilClose,
        (false, None, Some(0)) => ResponseBody::None,
        (false, None, Some(n)) => ResponseBody::Length(n),
        (false, None, None) => ResponseBody::UntilClose,
    };
    let persistent = if minor == 1 {
        !close
    } else {
        keep_alive && !close
    };
    Ok(Some(ResponseHead {
        len,
        status,
        // httparse reports a missing reason phrase (`HTTP/1.1 204` CRLF) as a static `""`,
        // which does not point into `buf`: an empty span says the same without pretending.
        reason: match res.reason {
            Some(reason) if !reason.is_empty() => Span::within(buf, reason.as_bytes()),
            _ => Span::default(),
        },
        body,
        reusable: persistent && body != ResponseBody::UntilClose,
        length: length
            .filter(|_| chunked_last.is_none() && !(100..200).contains(&status) && status != 204),
    }))
}

fn describe(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status line",
        httparse::Error::Token => "invalid token",
        httparse::Error::TooManyHeaders => "too many header fields",
        httparse::Error::Version => "unsupported HTTP version",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_bytes: 65536,
        max_fields: 100,
    };

    fn parse(bytes: &[u8], head: bool) -> Result<Option<ResponseHead>, ResponseError> {
        parse_response(bytes, LIMITS, head, &mut Vec::new())
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let r = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false)
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.status, r.body, r.reusable),
            (200, ResponseBody::Length(2), true)
        );
        let r = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.body, ResponseBody::Chunked);
        assert_eq!(r.length, None);
        let r = parse(b"HTTP/1.1 200 OK\r\n\r\n", false).unwrap().unwrap();
        assert_eq!((r.body, r.reusable), (ResponseBody::UntilClose, false));
        for coded in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert!(
                matches!(parse(coded, false), Err(ResponseError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(coded)
            );
        }
        let r = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!((r.body, r.length), (ResponseBody::Length(5), Some(5)));
        let r = parse(
            b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!((r.body, r.length), (ResponseBody::None, None));
        let r = parse(
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.body, ResponseBody::None);
        let r = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true)
            .unwrap()
            .unwrap();
        assert_eq!((r.body, r.reusable), (ResponseBody::None, true));
        let r = parse(b"HTTP/1.1 100 Continue\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert!(r.is_interim());
        let r = parse(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert!(!r.reusable, "HTTP/1.0 without keep-alive closes");
        let r = parse(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert!(!r.reusable);
    }

    #[test]
    fn a_missing_or_non_utf8_reason_phrase_is_empty() {
        // Found by fuzzing (fuzz/seeds/response_head/crash-*): httparse gives both as a
        // static "" outside the buffer, which the span's debug assertion caught.
        for bytes in [
            &b"HTTP/1.1 204\n\n"[..],
            b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 204 No\xc3ontent\r\n\r\n",
        ] {
            let r = parse(bytes, false).unwrap().unwrap();
            assert_eq!(r.reason.of(bytes), b"", "{bytes:?}");
        }
    }

    #[test]
    fn bad_heads_are_refused_and_partial_ones_wait() {
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Le", false)
            .unwrap()
            .is_none());
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", false).unwrap_err(),
            ResponseError::BadContentLength
        );
        assert!(matches!(
            parse(b"HTTP/1.1 2000 OK\r\n\r\n", false),
            Err(ResponseError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"SSH-2.0-OpenSSH\r\n\r\n", false),
            Err(ResponseError::Malformed(_))
        ));
    }
}
