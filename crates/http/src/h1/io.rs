//! The client's byte stream, plain or TLS, as the HTTP/1 connection loop uses it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::buf::{Buf, BufferPool};

/// A client connection's stream.
pub(crate) trait ClientIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Ready once a read would find bytes (or the end). Plain TCP waits on readiness, so an
    /// idle keep-alive connection holds no buffer; TLS is ready at once (it reads into a
    /// buffer through its own).
    fn poll_ready_to_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl ClientIo for TcpStream {
    fn poll_ready_to_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_read_ready(cx)
    }
}

impl ClientIo for tokio_rustls::server::TlsStream<TcpStream> {
    fn poll_ready_to_read(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Reads what is available into `buf` (at most `max` unread bytes in all); `Ok(0)` is the
/// end of the stream, or a full buffer.
pub(crate) fn poll_read_into<S: ClientIo>(
    io: &mut S,
    buf: &mut Buf,
    pool: &BufferPool,
    max: usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    let spare = buf.spare(pool, max);
    if spare.is_empty() {
        return Poll::Ready(Ok(0));
    }
    let mut read = ReadBuf::new(spare);
    match Pin::new(io).poll_read(cx, &mut read) {
        Poll::Ready(Ok(())) => {
            let n = read.filled().len();
            buf.filled_by(n);
            Poll::Ready(Ok(n))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

/// Writes all of `data` and flushes (TLS records go out).
pub(crate) async fn write_all<S: ClientIo>(io: &mut S, data: &[u8]) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    io.write_all(data).await?;
    io.flush().await
}
