//! Bodies of HTTP/2 requests: the client's request body on its way to an HTTP/1.1 target,
//! and the response body on its way back (a target's, decoded; or Ballast's own).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::time::Instant;

use super::conn::RequestGuard;
use super::watch::StreamWatch;
use crate::attempt::Try;
use crate::buf::BufferPool;
use crate::codec::{write_chunk_head, ClientFraming};
use crate::exchange::Exchange;
use crate::fault::{BodyError, Fault};
use crate::h1::Download;
use crate::read_ahead::ReadAhead;
use crate::upstream::{Upload, Upstream, UPLOAD_CHUNK};

/// An HTTP/2 client's request body, framed for the target: by `Content-Length` when the
/// client gave one, else chunked.
#[derive(Debug)]
pub(crate) struct H2Upload {
    body: ReadAhead,
    chunked: bool,
    done: bool,
    pub(crate) received: u64,
    last_activity: Instant,
}

impl H2Upload {
    pub(crate) fn new(body: ReadAhead, chunked: bool) -> Self {
        Self {
            done: body.is_end_stream(),
            body,
            chunked,
            received: 0,
            last_activity: Instant::now(),
        }
    }
}

impl Upload for H2Upload {
    fn poll_fill(&mut self, cx: &mut Context<'_>, out: &mut Vec<u8>) -> Poll<Result<bool, Fault>> {
        if self.done {
            return Poll::Ready(Ok(true));
        }
        loop {
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    self.last_activity = Instant::now();
                    // Trailers end the body: carried in the last chunk when the target gets
                    // it chunked, dropped when it has a length (HTTP/1.1 has nowhere else).
                    if let Some(trailers) = frame.trailers_ref() {
                        if self.chunked {
                            crate::codec::write_last_chunk_fields(out, trailers);
                        }
                        self.done = true;
                        return Poll::Ready(Ok(true));
                    }
                    if let Some(data) = frame.data_ref() {
                        if data.is_empty() {
                            continue;
                        }
                        self.received += data.len() as u64;
                        if self.chunked {
                            write_chunk_head(out, data.len());
                            out.extend_from_slice(data);
                            out.extend_from_slice(b"\r\n");
                        } else {
                            out.extend_from_slice(data);
                        }
                        if out.len() >= UPLOAD_CHUNK || !self.body.is_end_stream() {
                            return Poll::Ready(Ok(false));
                        }
                    }
                    if self.body.is_end_stream() {
                        return Poll::Ready(Ok(self.finish(out)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Err(Fault::BadRequestBody(BodyError::Stream(e))))
                }
                Poll::Ready(None) => return Poll::Ready(Ok(self.finish(out))),
                Poll::Pending => {
                    return if out.is_empty() {
                        Poll::Pending
                    } else {
                        Poll::Ready(Ok(false))
                    }
                }
            }
        }
    }

    fn poll_continue(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<bool>> {
        Poll::Ready(Ok(false))
    }

    fn last_activity(&self) -> Instant {
        self.last_activity
    }

    fn started(&self) -> bool {
        self.received > 0
    }

    fn finished(&self) -> bool {
        self.done
    }
}

impl H2Upload {
    fn finish(&mut self, out: &mut Vec<u8>) -> bool {
        if self.chunked {
            out.extend_from_slice(b"0\r\n\r\n");
        }
        self.done = true;
        true
    }
}

/// A response body on its way to an HTTP/2 client.
#[derive(Debug)]
pub(crate) struct ProxyBody {
    kind: Kind,
    exchange: Option<Exchange>,
    _guard: Option<RequestGuard>,
    /// The stream's watchdog, told of every frame (a body that stops moving is reset).
    watch: Option<Arc<StreamWatch>>,
}

/// The watch of the stream being served, started.
fn watch() -> Option<Arc<StreamWatch>> {
    let watch = StreamWatch::current();
    if let Some(w) = &watch {
        w.start();
    }
    watch
}

#[derive(Debug)]
enum Kind {
    Local(Option<Bytes>),
    Target(Box<TargetBody>),
    /// An HTTP/2 target's body, frames and trailers passed as they come; the try lives
    /// (in flight) until it ends.
    Relayed(Box<(Incoming, Try)>),
}

/// A target's body, decoded; its connection goes back to the pool when it is read to the
/// end.
#[derive(Debug)]
struct TargetBody {
    up: Option<Upstream>,
    download: Download,
    tried: Try,
    pool: Arc<BufferPool>,
    worker: usize,
    reusable: bool,
    trailers_sent: bool,
}

impl ProxyBody {
    /// A short body written by Ballast itself.
    pub(crate) fn local(bytes: Bytes, exchange: Exchange, guard: RequestGuard) -> Self {
        Self {
            kind: Kind::Local((!bytes.is_empty()).then_some(bytes)),
            exchange: Some(exchange),
            _guard: Some(guard),
            watch: watch(),
        }
    }

    /// No body, and nothing to account for: the `200` of an extended CONNECT, whose stream
    /// then carries the tunnel (which keeps the request's record itself).
    pub(crate) fn empty() -> Self {
        Self {
            kind: Kind::Local(None),
            exchange: None,
            _guard: None,
            watch: None,
        }
    }

    /// An HTTP/2 target's body, passed frame by frame (trailers included).
    pub(crate) fn relayed(
        body: Incoming,
        tried: Try,
        exchange: Exchange,
        guard: RequestGuard,
    ) -> Self {
        Self {
            kind: Kind::Relayed(Box::new((body, tried))),
            exchange: Some(exchange),
            _guard: Some(guard),
            watch: watch(),
        }
    }

    /// A target's body, whose response head has been consumed from `up`'s buffer.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn target(
        up: Upstream,
        body: crate::codec::ResponseBody,
        reusable: bool,
        tried: Try,
        pool: Arc<BufferPool>,
        worker: usize,
        exchange: Exchange,
        guard: RequestGuard,
    ) -> Self {
        Self {
            kind: Kind::Target(Box::new(TargetBody {
                up: Some(up),
                download: Download::new(body, ClientFraming::Close),
                tried,
                pool,
                worker,
                reusable,
                trailers_sent: false,
            })),
            exchange: Some(exchange),
            _guard: Some(guard),
            watch: watch(),
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let polled = match &mut this.kind {
            Kind::Local(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Target(target) => target.poll_frame(cx),
            Kind::Relayed(relayed) => Pin::new(&mut relayed.0)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(std::io::Error::other))),
        };
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let (Some(data), Some(exchange)) = (frame.data_ref(), &mut this.exchange) {
                exchange.sent(data.len() as u64);
            }
            if let Some(watch) = &this.watch {
                watch.touch();
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Local(bytes) => bytes.is_none(),
            Kind::Target(target) => target.download.is_done() && target.trailers_sent,
            Kind::Relayed(relayed) => relayed.0.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Local(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Kind::Target(_) => SizeHint::default(),
            Kind::Relayed(relayed) => relayed.0.size_hint(),
        }
    }
}

impl TargetBody {
    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let Some(up) = self.up.as_mut() else {
            return Poll::Ready(None);
        };
        loop {
            let mut out = Vec::new();
            self.download
                .transform(up, &mut out)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
            }
            if self.download.is_done() {
                if !self.trailers_sent {
                    self.trailers_sent = true;
                    if let Some(trailers) = self
                        .download
                        .trailers()
                        .and_then(crate::codec::trailer_fields)
                    {
                        return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                    }
                }
                return Poll::Ready(None);
            }
            up.buf.for_body(&self.pool);
            match up.poll_read_buf(cx, &self.pool, 64 * 1024) {
                Poll::Ready(Ok(0)) => {
                    let mut tail = Vec::new();
                    self.download
                        .end_of_stream(&mut tail)
                        .map_err(|e| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, e))?;
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for TargetBody {
    fn drop(&mut self) {
        // Only a response read to its end leaves the connection ready for another request.
        if let Some(up) = self.up.take() {
            if self.reusable && self.download.is_done() {
                self.tried.target.pool.checkin(self.worker, up, &self.pool);
            }
        }
    }
}
