//! The first bytes of an HTTP/1 request body, read before the decision when a web
//! application firewall set of the listener inspects bodies (AWS WAF's first 8 KiB).

use std::pin::Pin;

use tokio::time::{Instant, Sleep};

use super::conn::H1Conn;
use super::io::{poll_read_into, write_all, ClientIo};
use crate::codec::request::{BodyKind, RequestHead};
use crate::timer::until;

impl<S: ClientIo> H1Conn<S> {
    /// Reads until the read buffer holds the head and `limit` bytes of its body (or the
    /// whole body when shorter), within the request header timeout; a client that waits
    /// for `100 Continue` gets it first. `None`: the client did not send them in time, or
    /// closed; else whether `100 Continue` was sent.
    pub(super) async fn read_waf_body(
        &mut self,
        head: &RequestHead,
        limit: usize,
        mut sleep: Pin<&mut Sleep>,
    ) -> Option<bool> {
        let want = match head.body {
            BodyKind::None => return Some(false),
            BodyKind::Length(n) => head.len + usize::try_from(n).unwrap_or(usize::MAX).min(limit),
            // Chunk framing is read too: the bytes that may hold `limit` of data, bounded.
            BodyKind::Chunked => head.len + chunked_read_bound(limit),
        };
        let continued = head.expect_continue && head.minor == 1;
        if continued && self.rbuf.filled().len() <= head.len {
            write_all(&mut self.io, b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .ok()?;
        }
        let pool = std::sync::Arc::clone(&self.ctx.listener.buffers);
        let due = Instant::now() + self.limits.request_header_timeout;
        while self.rbuf.filled().len() < want && !enough(self.rbuf.filled(), head, limit) {
            let (io, rbuf) = (&mut self.io, &mut self.rbuf);
            let read = std::future::poll_fn(|cx| poll_read_into(io, rbuf, &pool, want, cx));
            match until(sleep.as_mut(), due, read).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return None,
            }
        }
        Some(continued)
    }
}

/// Bytes of chunked framing and data read to find `limit` bytes of data: twice the limit
/// and 4 KiB (chunk sizes, extensions) at most, so tiny chunks cannot make the read unbounded.
fn chunked_read_bound(limit: usize) -> usize {
    limit.saturating_mul(2).saturating_add(4096)
}

/// Whether what `buf` holds after the head already decides: a length-framed body waits for
/// its bytes; a chunked one stops at `limit` bytes of data, its last chunk, or bad framing.
fn enough(buf: &[u8], head: &RequestHead, limit: usize) -> bool {
    match head.body {
        BodyKind::Chunked => {
            let (data, end) = chunked_data(buf.get(head.len..).unwrap_or_default(), limit);
            end || data.len() >= limit
        }
        _ => false,
    }
}

/// The data of a chunked body's first bytes, up to `limit`, and whether its last chunk (or
/// bad framing, which ends it as far as the firewall is concerned) was reached.
fn chunked_data(mut body: &[u8], limit: usize) -> (Vec<u8>, bool) {
    let mut decoder = crate::codec::ChunkedDecoder::new(8 * 1024);
    let mut data = Vec::new();
    while data.len() < limit {
        match decoder.decode(body) {
            Ok((n, Some(crate::codec::Piece::Data { start, end }))) => {
                let take = (end - start).min(limit - data.len());
                data.extend_from_slice(&body[start..start + take]);
                body = &body[n..];
            }
            Ok((_, Some(crate::codec::Piece::End))) | Err(_) => return (data, true),
            Ok((_, None)) => return (data, false),
        }
    }
    (data, false)
}

/// What a firewall can see of the body: the first bytes in `buf` (which starts with the
/// head), up to `limit`, with the body's whole length (a chunked body's data is decoded
/// into `decoded`; its length is known only when its last chunk came); uninspected when
/// the bytes were not read first.
pub(super) fn waf_body<'b>(
    buf: &'b [u8],
    head: &RequestHead,
    limit: Option<usize>,
    decoded: &'b mut Vec<u8>,
) -> crate::waf::Body<'b> {
    match (head.body, limit) {
        (BodyKind::None, _) => crate::waf::Body::None,
        (BodyKind::Length(n), Some(limit)) => {
            let take = usize::try_from(n).unwrap_or(usize::MAX).min(limit);
            let end = (head.len + take).min(buf.len());
            crate::waf::Body::Read(buf.get(head.len..end).unwrap_or_default(), n)
        }
        (BodyKind::Chunked, Some(limit)) => {
            let (data, end) = chunked_data(buf.get(head.len..).unwrap_or_default(), limit);
            *decoded = data;
            let whole = if end { decoded.len() as u64 } else { u64::MAX };
            crate::waf::Body::Read(decoded, whole)
        }
        _ => crate::waf::Body::Uninspected,
    }
}

#[cfg(test)]
mod tests;
