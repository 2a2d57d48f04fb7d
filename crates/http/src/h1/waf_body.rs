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
        let BodyKind::Length(n) = head.body else {
            return Some(false);
        };
        let continued = head.expect_continue && head.minor == 1;
        if continued && self.rbuf.filled().len() <= head.len {
            write_all(&mut self.io, b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .ok()?;
        }
        let want = head.len + usize::try_from(n).unwrap_or(usize::MAX).min(limit);
        let pool = std::sync::Arc::clone(&self.ctx.listener.buffers);
        let due = Instant::now() + self.limits.request_header_timeout;
        while self.rbuf.filled().len() < want {
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

/// What a firewall can see of the body: the first bytes in `buf` (which starts with the
/// head), up to `limit`, with the body's whole length; uninspected for a chunked body
/// (not inspected yet) or when the bytes were not read first.
pub(super) fn waf_body<'b>(
    buf: &'b [u8],
    head: &RequestHead,
    limit: Option<usize>,
) -> crate::waf::Body<'b> {
    match (head.body, limit) {
        (BodyKind::None, _) => crate::waf::Body::None,
        (BodyKind::Length(n), Some(limit)) => {
            let take = usize::try_from(n).unwrap_or(usize::MAX).min(limit);
            let end = (head.len + take).min(buf.len());
            crate::waf::Body::Read(buf.get(head.len..end).unwrap_or_default(), n)
        }
        _ => crate::waf::Body::Uninspected,
    }
}
