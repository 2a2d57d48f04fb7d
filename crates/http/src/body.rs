//! Bodies streamed through the proxy, never buffered whole.
//!
//! [`ClientBody`] carries a client's request body to a target and marks its errors as the
//! client's fault. [`ProxyBody`] carries the response back: either a target's streamed body,
//! which returns its connection to the pool once read to the end, or a short body Ballast
//! wrote itself. Both hold the guards that count the request as in flight.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use ballast_balance::InFlight;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::exchange::Exchange;
use crate::pool::{ConnPool, Sender};

/// A client's request body on its way to a target (or no body at all, for a retried
/// request rebuilt from its head).
#[derive(Debug)]
pub(crate) struct ClientBody {
    inner: Option<Incoming>,
    /// Notes when the whole body has been read from the client; the response timeout
    /// counts from then.
    upload: Option<Arc<Upload>>,
}

/// When a request body finished arriving, shared between the body (which sees its end) and
/// the request task (which times the response).
#[derive(Debug)]
pub(crate) struct Upload {
    start: Instant,
    /// Microseconds after `start` when the body ended, or `u64::MAX` while it has not.
    done_us: AtomicU64,
    /// Body bytes read from the client so far.
    bytes: AtomicU64,
}

/// The client's request body was malformed or cut short (for example an invalid chunk).
#[derive(Debug, thiserror::Error)]
#[error("client request body: {0}")]
pub(crate) struct ClientBodyError(#[source] hyper::Error);

/// A response body on its way to the client.
#[derive(Debug)]
pub(crate) struct ProxyBody {
    kind: Kind,
    exchange: Option<Exchange>,
}

#[derive(Debug)]
enum Kind {
    Target(TargetBody),
    Local(Option<Bytes>),
}

#[derive(Debug)]
struct TargetBody {
    inner: Incoming,
    ended: bool,
    reuse: Option<(Sender, Arc<ConnPool>, usize)>,
    _in_flight: InFlight,
}

// === impl ClientBody ===

impl ClientBody {
    /// Wraps a request body; also returns the [`Upload`] that tells when it has been fully
    /// sent, or `None` when there is no body to wait for.
    pub(crate) fn new(inner: Incoming) -> (Self, Option<Arc<Upload>>) {
        let upload = (!inner.is_end_stream()).then(|| {
            Arc::new(Upload {
                start: Instant::now(),
                done_us: AtomicU64::new(u64::MAX),
                bytes: AtomicU64::new(0),
            })
        });
        let shared = upload.clone();
        (
            Self {
                inner: Some(inner),
                upload,
            },
            shared,
        )
    }

    /// No body: for a bodiless request sent again on another target.
    pub(crate) fn empty() -> Self {
        Self {
            inner: None,
            upload: None,
        }
    }

    fn mark_sent(&self) {
        if let Some(upload) = &self.upload {
            let us = u64::try_from(upload.start.elapsed().as_micros()).unwrap_or(u64::MAX - 1);
            // Only the first end counts.
            let _ =
                upload
                    .done_us
                    .compare_exchange(u64::MAX, us, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = ClientBodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(&mut *inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(upload)) = (frame.data_ref(), &this.upload) {
                    upload.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                }
                inner.is_end_stream()
            }
            _ => false,
        };
        if ended {
            self.mark_sent();
        }
        polled.map_err(ClientBodyError)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Incoming::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Incoming::size_hint)
    }
}

// === impl Upload ===

impl Upload {
    /// When the body was fully read from the client, if it has been.
    pub(crate) fn finished_at(&self) -> Option<Instant> {
        match self.done_us.load(Ordering::Relaxed) {
            u64::MAX => None,
            us => Some(self.start + std::time::Duration::from_micros(us)),
        }
    }

    /// Body bytes received so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

// === impl ProxyBody ===

impl ProxyBody {
    /// A target's response body; `reuse` is the connection to pool once it is read to the end.
    pub(crate) fn target(
        inner: Incoming,
        reuse: (Sender, Arc<ConnPool>, usize),
        in_flight: InFlight,
        exchange: Exchange,
    ) -> Self {
        Self {
            kind: Kind::Target(TargetBody {
                inner,
                ended: false,
                reuse: Some(reuse),
                _in_flight: in_flight,
            }),
            exchange: Some(exchange),
        }
    }

    /// A short body written by Ballast itself (error pages, redirects, fixed responses).
    pub(crate) fn local(bytes: Bytes, exchange: Option<Exchange>) -> Self {
        Self {
            kind: Kind::Local((!bytes.is_empty()).then_some(bytes)),
            exchange,
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let polled = match &mut this.kind {
            Kind::Local(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Target(target) => {
                let polled = Pin::new(&mut target.inner).poll_frame(cx);
                if let Poll::Ready(None) = polled {
                    target.ended = true;
                }
                polled
            }
        };
        if let (Poll::Ready(Some(Ok(frame))), Some(exchange)) = (&polled, &mut this.exchange) {
            if let Some(data) = frame.data_ref() {
                exchange.sent(data.len());
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Local(bytes) => bytes.is_none(),
            Kind::Target(target) => target.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Local(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Kind::Target(target) => target.inner.size_hint(),
        }
    }
}

impl Drop for TargetBody {
    fn drop(&mut self) {
        // Only a response read to its end leaves the connection ready for another request;
        // anything else (client went away mid-body) must close it.
        if self.ended || self.inner.is_end_stream() {
            if let Some((sender, pool, worker)) = self.reuse.take() {
                pool.checkin(worker, sender);
            }
        }
    }
}
