//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz): every parser of bytes a client
//! or a target controls, called the way the request path calls it. Not an API: hidden from
//! the docs and free to change with the fuzz targets.

use std::net::IpAddr;

use ballast_config::Cidr;
use http::{HeaderMap, HeaderValue};

use crate::codec::{BodyKind, HeadError, HeadLimits, RequestHead};

const LIMITS: HeadLimits = HeadLimits {
    max_bytes: 64 * 1024,
    max_fields: 100,
};

/// Ballast's decision on the bytes at the start of a client connection, reduced to what
/// decides where one request ends and the next begins. It exists so that
/// `tests/differential/` can compare Ballast's HTTP/1 parser with hyper's server, which
/// it replaced: wherever Ballast accepts a head, hyper must accept it and frame it the same
/// way, or a target behind Ballast could be fed a request the client smuggled in a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    /// The head is not complete yet: Ballast would read more before deciding.
    Partial,
    /// Refused: Ballast answers with an error and closes the connection. `reason` names the
    /// check, for counting only.
    Refused {
        /// The check that failed (httparse's complaint for malformed syntax).
        reason: &'static str,
    },
    /// Served, then the connection closes (an ambiguous request in the default desync
    /// mode): nothing after it is read, so nothing can be smuggled behind it.
    ServedThenClosed,
    /// Accepted: the request is served, its body framed as `body`.
    Accepted {
        /// Bytes the head took, blank line included; the body starts here.
        head_len: usize,
        /// The method as written.
        method: Vec<u8>,
        /// The path as parsed (before rules normalise it), as the target's request line
        /// carries it: origin-form, or an absolute-form target's path, `/` when empty; no
        /// query, no fragment.
        path: Vec<u8>,
        /// How the body is delimited.
        body: BodyFraming,
    },
}

/// How an accepted request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (no framing field, or `Content-Length: 0`).
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// The chunked coding.
    Chunked,
}

/// The desync class and reason of a request head (`None` while incomplete or refused
/// outright), for the test against AWS's corpus.
pub fn desync_verdict(bytes: &[u8]) -> Result<Option<(&'static str, &'static str)>, String> {
    let mut fields = Vec::new();
    match crate::codec::parse_request(bytes, LIMITS, &mut fields) {
        Ok(Some(head)) => Ok(Some((head.desync.class().as_str(), head.desync.as_str()))),
        Ok(None) => Ok(None),
        Err(HeadError::Desync(reason)) => Ok(Some((reason.class().as_str(), reason.as_str()))),
        Err(e) => Err(e.to_string()),
    }
}

/// Whether Ballast reads the head with its lenient reading (httparse refused it), after
/// which the client connection always closes.
pub fn read_leniently(bytes: &[u8]) -> bool {
    let mut fields = Vec::new();
    matches!(crate::codec::parse_request(bytes, LIMITS, &mut fields), Ok(Some(head)) if head.lenient)
}

/// How Ballast frames the body of a request whatever the desync mode makes of it (`None`
/// while incomplete or refused outright): what a test must send after the head.
pub fn body_framing(bytes: &[u8]) -> Option<BodyFraming> {
    let mut fields = Vec::new();
    let head = crate::codec::parse_request(bytes, LIMITS, &mut fields).ok()??;
    Some(match head.body {
        BodyKind::None => BodyFraming::None,
        BodyKind::Length(n) => BodyFraming::Length(n),
        BodyKind::Chunked => BodyFraming::Chunked,
    })
}

/// Whether the managed WAF set `ballast-core` blocks a request carrying `value` as the
/// value of a query argument (URL-encoded as a client would), or as a form body when
/// `form` is set. For measuring detection and false positives on corpora.
pub fn waf_core_blocks(value: &[u8], form: bool) -> bool {
    use std::sync::{Arc, OnceLock};
    static CORE: OnceLock<Option<crate::Waf>> = OnceLock::new();
    let Some(core) = CORE.get_or_init(|| {
        let config = ballast_config::WafConfig {
            name: Arc::from(ballast_config::BALLAST_CORE),
            rules: ballast_config::ballast_core_rules(ballast_config::WafAction::Block),
            default_action: ballast_config::WafAction::Allow,
            block_response: ballast_config::FixedResponse {
                status: 403,
                content_type: "text/plain".into(),
                body: String::new(),
            },
            body_limit: 8192,
            oversize: ballast_config::Oversize::Continue,
        };
        crate::Waf::new(Arc::new(config), None, &[])
    }) else {
        return false;
    };
    let mut encoded = String::new();
    for &b in value {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    let uri = if form {
        "/submit".to_owned()
    } else {
        format!("/search?q={encoded}")
    };
    let Ok(mut req) = http::Request::post(uri).body(()) else {
        return false;
    };
    if form {
        req.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
    }
    let (parts, ()) = req.into_parts();
    let body = format!("q={encoded}");
    let at = crate::waf::Inspected {
        req: &parts,
        client: [192, 0, 2, 1].into(),
        peer: [192, 0, 2, 1].into(),
        trusted: &[],
        body: match form {
            true => crate::waf::Body::Read(body.as_bytes(), body.len() as u64),
            false => crate::waf::Body::None,
        },
    };
    core.screen(&at).block
}

/// Parses a request head; checks that every range it reports lies within the head.
pub fn request_head(bytes: &[u8]) {
    let mut fields = Vec::new();
    if let Ok(Some(head)) = crate::codec::parse_request(bytes, LIMITS, &mut fields) {
        let RequestHead { len, path, .. } = head;
        assert!(len <= bytes.len());
        assert!(path.of(bytes).len() <= len);
        for f in &fields {
            assert!(f.value.of(bytes).len() <= len);
        }
    }
}

/// Parses a request head as a client connection does (in the default desync mode,
/// `defensive`), and says how Ballast frames it.
pub fn request_framing(bytes: &[u8]) -> Framing {
    use crate::codec::desync::{action, DesyncAction};
    let mut fields = Vec::new();
    let head = match crate::codec::parse_request(bytes, LIMITS, &mut fields) {
        Ok(Some(head)) => head,
        Ok(None) => return Framing::Partial,
        Err(e) => return Framing::Refused { reason: reason(e) },
    };
    match action(ballast_config::DesyncMode::Defensive, head.desync.class()) {
        DesyncAction::Serve if head.lenient => return Framing::ServedThenClosed,
        DesyncAction::Serve => {}
        DesyncAction::ServeThenClose => return Framing::ServedThenClosed,
        DesyncAction::Refuse => {
            return Framing::Refused {
                reason: head.desync.as_str(),
            }
        }
    }
    let path = match head.path.of(bytes) {
        b"" => b"/".to_vec(),
        path => path.to_vec(),
    };
    Framing::Accepted {
        head_len: head.len,
        method: head.method.of(bytes).to_vec(),
        path,
        body: match head.body {
            BodyKind::None => BodyFraming::None,
            BodyKind::Length(n) => BodyFraming::Length(n),
            BodyKind::Chunked => BodyFraming::Chunked,
        },
    }
}

/// A short name for the check a head failed.
fn reason(error: HeadError) -> &'static str {
    match error {
        HeadError::Malformed(hint) => hint,
        HeadError::TooLarge => "head too large",
        HeadError::UriTooLong => "target too long",
        HeadError::TooManyFields => "too many fields",
        HeadError::Desync(reason) => reason.as_str(),
        HeadError::BadTransferEncoding => "transfer codings towards HTTP/2",
        HeadError::MissingHost => "no Host",
        HeadError::InvalidHost => "invalid or repeated Host",
        HeadError::BadTarget => "request target refused",
        HeadError::Connect => "CONNECT",
    }
}

/// Parses a target's response head.
pub fn response_head(bytes: &[u8]) {
    let mut fields = Vec::new();
    let _ = crate::codec::parse_response(bytes, LIMITS, false, &mut fields);
}

/// Decodes a chunked body fed in pieces of `step` bytes; checks that the data it yields
/// never exceeds what came in.
pub fn chunked_body(bytes: &[u8], step: usize) {
    let mut decoder = crate::codec::ChunkedDecoder::new(8 * 1024);
    let mut data = 0usize;
    for piece in bytes.chunks(step.max(1)) {
        let mut offset = 0;
        while offset < piece.len() {
            match decoder.decode(&piece[offset..]) {
                Ok((n, found)) => {
                    if let Some(crate::codec::Piece::Data { start, end }) = found {
                        assert!(start <= end && offset + end <= piece.len());
                        data += end - start;
                    }
                    if n == 0 {
                        return;
                    }
                    offset += n;
                }
                Err(_) => return,
            }
        }
    }
    assert!(data <= bytes.len());
}

/// Normalises a path as rules see it; the result never grows beyond the input plus `/`.
pub fn normalized_path(bytes: &[u8]) {
    let normal = crate::route::normalized_path(bytes);
    assert!(normal.len() <= bytes.len() + 1);
}

/// Reads the client's address from an `X-Forwarded-For` value sent through a trusted proxy.
pub fn forwarded_for(value: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(value) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", value);
    let trusted = [Cidr::parse("10.0.0.0/8").unwrap_or_else(|_| unreachable!())];
    let peer: IpAddr = [10, 0, 0, 1].into();
    let _ = crate::route::client_ip(peer, &trusted, &headers);
}

/// Splits a `Cookie` header into the values of one cookie.
pub fn cookie_values(header: &[u8], name: &[u8]) {
    for value in crate::affinity::cookie_values(header, name) {
        assert!(value.len() <= header.len());
    }
}
