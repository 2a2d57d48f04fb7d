//! HTTP/2 to targets (`protocol_version = "http2"` or `"grpc"`): one connection per target
//! per worker, every request of that worker to that target a stream on it (up to the
//! target's `SETTINGS_MAX_CONCURRENT_STREAMS`; past that, a request waits for a stream to
//! end). The connection is an [`Upstream`] underneath, so it is counted for
//! `least_connections`, holds a descriptor of the budget, and is cut at the end of a
//! deregistration delay like any other.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{connect, Destination, Upstream};
use crate::fault::ConnectError;
use crate::limits::FdBudget;

/// A handle on an HTTP/2 connection to a target: each request sent on it is a stream.
pub(crate) type H2Sender = hyper::client::conn::http2::SendRequest<OutBody>;

/// A request body on its way to an HTTP/2 target.
#[derive(Debug)]
pub(crate) enum OutBody {
    /// No body.
    Empty,
    /// An HTTP/2 client's body, frames (and trailers) passed as they come, after those a
    /// firewall read ahead.
    Client(crate::read_ahead::ReadAhead),
    /// Frames pumped from an HTTP/1 client's connection by its request.
    Pumped(tokio::sync::mpsc::Receiver<io::Result<Frame<Bytes>>>),
}

impl Body for OutBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            OutBody::Empty => Poll::Ready(None),
            OutBody::Client(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(io::Error::other))),
            OutBody::Pumped(frames) => frames.poll_recv(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            OutBody::Empty => true,
            OutBody::Client(body) => body.is_end_stream(),
            OutBody::Pumped(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            OutBody::Empty => SizeHint::with_exact(0),
            OutBody::Client(body) => body.size_hint(),
            OutBody::Pumped(_) => SizeHint::default(),
        }
    }
}

/// Opens an HTTP/2 connection to `to` (TCP, then TLS with ALPN `h2` for `https` groups),
/// within `timeout` for the connect and the HTTP/2 handshake; its connection task runs on
/// the current worker.
pub(crate) async fn open(
    to: Destination<'_>,
    timeout: Duration,
    fds: &Arc<FdBudget>,
) -> Result<H2Sender, ConnectError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let up = connect(to, timeout, fds).await?;
    let mut builder = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
    builder.timer(hyper_util::rt::TokioTimer::new());
    let handshake = builder.handshake(TokioIo::new(H2Io(up)));
    let (sender, connection) = match tokio::time::timeout_at(deadline, handshake).await {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return Err(ConnectError::Io(io::Error::other(e))),
        Err(_) => return Err(ConnectError::Timeout),
    };
    let address = to.address;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(target_address = %address, %error, "HTTP/2 target connection ended");
        }
    });
    Ok(sender)
}

/// An [`Upstream`] as the byte stream of an HTTP/2 connection; fails once it is cut.
struct H2Io(Upstream);

impl AsyncRead for H2Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let up = &mut self.get_mut().0;
        up.check_cut(None)?;
        let polled = Pin::new(&mut up.io).poll_read(cx, buf);
        if polled.is_pending() {
            up.check_cut(Some(cx))?;
        }
        polled
    }
}

impl AsyncWrite for H2Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().0.poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush_io(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown_io(cx)
    }
}
