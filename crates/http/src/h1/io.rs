//! The client's byte stream, plain or TLS, as the HTTP/1 connection loop uses it.

use std::io;
use std::task::{Context, Poll};

use ballast_l4::lazy_tcp::LazyTcpStream;
use tokio::io::{AsyncRead, AsyncWrite};

/// A client connection's stream.
pub(crate) trait ClientIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Ready once a read may find bytes (or the end). Waits on the socket's readiness, so an
    /// idle keep-alive connection holds no buffer.
    fn poll_ready_to_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Whether closing needs a shutdown first: TLS sends its `close_notify` then. Plain TCP
    /// does not (closing sends the FIN; a socket still holding unread bytes resets either
    /// way, which is what the lingering close is for).
    const SHUTS_DOWN_ON_CLOSE: bool;

    /// The address the client connected to (for a PROXY protocol header to a target).
    fn local_addr(&self) -> io::Result<std::net::SocketAddr>;
}

impl ClientIo for LazyTcpStream {
    const SHUTS_DOWN_ON_CLOSE: bool = false;

    fn poll_ready_to_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_read_ready(cx)
    }

    fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        LazyTcpStream::local_addr(self)
    }
}

impl ClientIo for tokio_rustls::server::TlsStream<LazyTcpStream> {
    const SHUTS_DOWN_ON_CLOSE: bool = true;

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

    fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.get_ref().0.local_addr()
    }
}

pub(crate) use crate::buf::poll_read_into;

/// Writes all of `data` and flushes (TLS records go out).
pub(crate) async fn write_all<S: ClientIo>(io: &mut S, data: &[u8]) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    io.write_all(data).await?;
    io.flush().await
}
