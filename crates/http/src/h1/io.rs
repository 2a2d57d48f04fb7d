//! The client's byte stream, plain or TLS, as the HTTP/1 connection loop uses it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::buf::{Buf, BufferPool};

/// A client connection's stream.
pub(crate) trait ClientIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Ready once a read may find bytes (or the end). Waits on the socket's readiness, so an
    /// idle keep-alive connection holds no buffer.
    fn poll_ready_to_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl ClientIo for TcpStream {
    fn poll_ready_to_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_read_ready(cx)
    }
}

impl ClientIo for tokio_rustls::server::TlsStream<TcpStream> {
    /// Ready at once when rustls holds decrypted bytes not read yet (or the client's
    /// `close_notify`); else when the socket is readable (a partial record then starts the
    /// head's timer, which is what it is: a request on its way).
    fn poll_ready_to_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (tcp, tls) = self.get_mut();
        let held = tls.process_new_packets().map_or(true, |io| {
            io.plaintext_bytes_to_read() > 0 || io.peer_has_closed()
        });
        if held {
            return Poll::Ready(Ok(()));
        }
        tcp.poll_read_ready(cx)
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
