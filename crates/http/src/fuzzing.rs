//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz): every parser of bytes a client
//! or a target controls, called the way the request path calls it. Not an API: hidden from
//! the docs and free to change with the fuzz targets.

use std::net::IpAddr;

use ballast_config::Cidr;
use http::{HeaderMap, HeaderValue};

use crate::codec::{HeadLimits, RequestHead};

const LIMITS: HeadLimits = HeadLimits {
    max_bytes: 64 * 1024,
    max_fields: 100,
};

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
