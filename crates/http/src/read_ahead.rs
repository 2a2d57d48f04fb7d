//! An HTTP/2 request body whose first frames may be read before the decision, so that a web
//! application firewall can inspect them (AWS WAF's first 8 KiB), and are then given back
//! in order, before the rest of the stream, to whichever target gets the request.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::codec::BodyKind;
use crate::fault::{BodyError, Fault};

/// A client's HTTP/2 request body, with what was read of it ahead of the decision.
#[derive(Debug)]
pub(crate) struct ReadAhead {
    /// Data read ahead and not given back yet.
    data: Bytes,
    /// The trailers that ended the stream while reading ahead.
    trailers: Option<HeaderMap>,
    /// The stream ended while reading ahead (with or without trailers).
    ended: bool,
    /// Whether anything was read ahead (so the firewall saw the body).
    read: bool,
    rest: Incoming,
}

impl ReadAhead {
    /// The body, nothing read yet.
    pub(crate) fn new(rest: Incoming) -> Self {
        Self {
            data: Bytes::new(),
            trailers: None,
            ended: false,
            read: false,
            rest,
        }
    }

    /// Reads frames until `limit` bytes of data are held, the stream ends, or trailers
    /// come, within `wait`. Whole frames are kept, so at most one frame more than `limit`
    /// (16 KiB by default) is held. A client that does not send them in time gets a `408`,
    /// one whose stream fails a `400`.
    pub(crate) async fn fill(&mut self, limit: usize, wait: Duration) -> Result<(), Fault> {
        self.read = true;
        let mut held = BytesMut::new();
        let filled = tokio::time::timeout(wait, async {
            while held.len() < limit {
                match http_body_util::BodyExt::frame(&mut self.rest).await {
                    None => {
                        self.ended = true;
                        break;
                    }
                    Some(Err(e)) => return Err(Fault::BadRequestBody(BodyError::Stream(e))),
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) => held.extend_from_slice(&data),
                        Err(frame) => {
                            self.trailers = frame.into_trailers().ok();
                            self.ended = true;
                            break;
                        }
                    },
                }
            }
            Ok(())
        })
        .await;
        self.data = held.freeze();
        self.ended |= self.rest.is_end_stream();
        filled.unwrap_or(Err(Fault::ClientBodyTimeout))
    }

    /// What a firewall sees of the body: its first `limit` bytes read ahead, with its whole
    /// length (the client's `Content-Length`, else known once the stream ended), or
    /// uninspected when nothing was read ahead of a body that has data to come.
    pub(crate) fn seen(&self, content_length: Option<u64>) -> crate::waf::Body<'_> {
        use crate::waf::Body as Seen;
        if !self.read {
            return Seen::unread(!self.rest.is_end_stream());
        }
        let whole = match (content_length, self.ended) {
            (Some(n), _) => n,
            (None, true) => self.data.len() as u64,
            (None, false) => u64::MAX,
        };
        match (self.data.is_empty(), self.ended) {
            (true, true) => Seen::None,
            _ => Seen::Read(&self.data, whole),
        }
    }

    /// How the body goes to an HTTP/1.1 target: by the client's `Content-Length`, else by
    /// the length read ahead when the whole body (without trailers) was read, else chunked.
    pub(crate) fn framing(&self, content_length: Option<u64>) -> BodyKind {
        if self.is_end_stream() {
            return BodyKind::None;
        }
        match content_length {
            Some(0) => BodyKind::None,
            Some(n) => BodyKind::Length(n),
            None if self.ended && self.trailers.is_none() => {
                BodyKind::Length(self.data.len() as u64)
            }
            None => BodyKind::Chunked,
        }
    }
}

impl Body for ReadAhead {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        if !this.data.is_empty() {
            return Poll::Ready(Some(Ok(Frame::data(std::mem::take(&mut this.data)))));
        }
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        if this.ended {
            return Poll::Ready(None);
        }
        Pin::new(&mut this.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty() && self.trailers.is_none() && (self.ended || self.rest.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let held = self.data.len() as u64;
        if self.ended {
            return SizeHint::with_exact(held);
        }
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower().saturating_add(held));
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(held));
        }
        hint
    }
}
