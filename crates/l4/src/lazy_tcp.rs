//! Client sockets registered with the event loop only once they would block.
//!
//! A short connection (one request, or one that finds its request already in the socket on
//! accept) is read and written directly and closed: no `epoll_ctl` to add it and none to
//! remove it, and no turn of the event loop before its first read. That is what HAProxy does
//! (it subscribes a socket only after a read finds nothing); it saves two system calls of
//! about eleven per short connection. A connection that has to wait is registered the first
//! time it would block, and from then on is an ordinary tokio `TcpStream`.

use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::sys_io;

/// A listening socket whose accepted connections start unregistered.
#[derive(Debug)]
pub struct Acceptor {
    /// The listening socket, registered for readiness. Tokio's `TcpListener` registers every
    /// connection it accepts and offers no readiness of its own, and `AsyncFd` cannot be
    /// built without `unsafe` (forbidden here); a `TcpStream` is tokio's plain registered
    /// socket with `readable` and `try_io`, which is all a listener needs. It is never read
    /// or written as a stream.
    listener: TcpStream,
}

impl Acceptor {
    /// Registers a listening socket. `TCP_NODELAY` is set on it once: Linux copies it to
    /// every connection accepted, which saves a `setsockopt` per connection.
    pub fn new(listener: std::net::TcpListener) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        socket2::SockRef::from(&listener).set_tcp_nodelay(true)?;
        let socket = std::net::TcpStream::from(std::os::fd::OwnedFd::from(listener));
        Ok(Self {
            listener: TcpStream::from_std(socket)?,
        })
    }

    /// The address the socket listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The next connection, non-blocking and close-on-exec, not registered yet.
    pub async fn accept(&self) -> io::Result<(LazyTcpStream, SocketAddr)> {
        use rustix::net::{acceptfrom_with, SocketFlags};
        let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
        loop {
            self.listener.readable().await?;
            let accepted = self.listener.try_io(tokio::io::Interest::READABLE, || {
                acceptfrom_with(&self.listener, flags).map_err(io::Error::from)
            });
            let (fd, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            };
            let stream = std::net::TcpStream::from(fd);
            let peer = match peer.map(SocketAddr::try_from) {
                Some(Ok(peer)) => peer,
                // Not an IP peer (cannot happen on a TCP listener): ask the socket.
                _ => stream.peer_addr()?,
            };
            return Ok((LazyTcpStream::direct(stream), peer));
        }
    }
}

/// A TCP connection used directly until it would block, then through the event loop.
#[derive(Debug)]
pub struct LazyTcpStream {
    state: State,
}

#[derive(Debug)]
enum State {
    /// Not registered: reads and writes are plain non-blocking system calls.
    Direct(std::net::TcpStream),
    /// Registered with the event loop.
    Registered(TcpStream),
    /// Registration failed (the error was returned once); every later call fails.
    Failed,
}

impl LazyTcpStream {
    /// A connected, non-blocking socket, not registered yet.
    pub fn direct(stream: std::net::TcpStream) -> Self {
        Self {
            state: State::Direct(stream),
        }
    }

    /// Whether the socket has been registered with the event loop.
    pub fn is_registered(&self) -> bool {
        matches!(self.state, State::Registered(_))
    }

    /// The local address the client connected to (`getsockname`).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.state {
            State::Direct(stream) => stream.local_addr(),
            State::Registered(stream) => stream.local_addr(),
            State::Failed => Err(failed()),
        }
    }

    /// The tokio stream, registering the socket first if it is not yet.
    pub fn registered(&mut self) -> io::Result<&mut TcpStream> {
        if matches!(self.state, State::Direct(_)) {
            // Failed stays if registering fails: the socket is gone with the error.
            if let State::Direct(stream) = std::mem::replace(&mut self.state, State::Failed) {
                self.state = State::Registered(TcpStream::from_std(stream)?);
            }
        }
        match &mut self.state {
            State::Registered(stream) => Ok(stream),
            _ => Err(failed()),
        }
    }

    /// The tokio stream, owned: registers the socket if it is not yet.
    pub fn into_registered(self) -> io::Result<TcpStream> {
        match self.state {
            State::Direct(stream) => TcpStream::from_std(stream),
            State::Registered(stream) => Ok(stream),
            State::Failed => Err(failed()),
        }
    }

    /// One non-blocking read straight from the socket, without registering it whatever the
    /// outcome (`WouldBlock` included): for bytes the kernel has already, such as the first
    /// ones of a connection accepted late (`TCP_DEFER_ACCEPT`). On a registered socket, an
    /// ordinary `WouldBlock` (go through the event loop). `buf` need not be initialised (a
    /// large stack buffer costs no `memset`); the bytes read are the returned front of it.
    /// One try: an interrupted call (which a non-blocking socket does not meet in practice)
    /// is returned as it is, and the caller reads later.
    pub fn read_unregistered<'b>(
        &mut self,
        buf: &'b mut [std::mem::MaybeUninit<u8>],
    ) -> io::Result<&'b mut [u8]> {
        match &mut self.state {
            State::Direct(stream) => sys_io::recv_now_uninit(&*stream, buf),
            State::Registered(_) => Err(io::ErrorKind::WouldBlock.into()),
            State::Failed => Err(failed()),
        }
    }

    /// Makes the close a reset (`SO_LINGER` 0), as for a connection refused at accept.
    pub fn set_zero_linger(&self) -> io::Result<()> {
        match &self.state {
            State::Direct(stream) => {
                socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO))
            }
            State::Registered(stream) => stream.set_zero_linger(),
            State::Failed => Err(failed()),
        }
    }

    /// Ready once a read may find bytes (or the end). Unregistered, that is at once: the
    /// read itself finds out, and registers the socket if it would block.
    pub fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.state {
            State::Direct(_) => Poll::Ready(Ok(())),
            State::Registered(stream) => stream.poll_read_ready(cx),
            State::Failed => Poll::Ready(Err(failed())),
        }
    }

    /// Runs `op` on the unregistered socket. `None` when it would block (the socket is then
    /// registered, and the caller goes through tokio, which also arms the wake-up) or when
    /// the socket is registered already.
    fn try_direct<T>(
        &mut self,
        mut op: impl FnMut(&mut std::net::TcpStream) -> io::Result<T>,
    ) -> Option<io::Result<T>> {
        let State::Direct(stream) = &mut self.state else {
            return None;
        };
        loop {
            match op(stream) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                done => return Some(done),
            }
        }
        match self.registered() {
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// Polls `op` on the tokio stream (registering the socket first if needed).
    fn poll_registered<T>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(&mut TcpStream, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match self.registered() {
            Ok(stream) => op(stream, cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

fn failed() -> io::Error {
    io::Error::other("the socket could not be registered with the event loop")
}

impl AsyncRead for LazyTcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Callers hand initialised buffers (so this costs nothing); the few that do not pay
        // one zeroing, only before the socket first blocks.
        match this.try_direct(|s| sys_io::recv_now(s, buf.initialize_unfilled())) {
            Some(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Some(Err(e)) => Poll::Ready(Err(e)),
            None => this.poll_registered(cx, |s, cx| sys_io::poll_recv_buf(s, cx, buf)),
        }
    }
}

impl AsyncWrite for LazyTcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.try_direct(|s| sys_io::send_now(s, buf)) {
            Some(done) => Poll::Ready(done),
            None => this.poll_registered(cx, |s, cx| sys_io::poll_send(s, cx, buf)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.try_direct(|s| sys_io::send_vectored_now(s, bufs)) {
            Some(done) => Poll::Ready(done),
            None => this.poll_registered(cx, |s, cx| sys_io::poll_send_vectored(s, cx, bufs)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // TCP has nothing buffered in user space.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = match &self.state {
            State::Direct(stream) => stream.shutdown(Shutdown::Write),
            State::Registered(stream) => socket2::SockRef::from(stream).shutdown(Shutdown::Write),
            State::Failed => Err(failed()),
        };
        Poll::Ready(match result {
            // The peer is gone already: nothing left to shut.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn pair() -> (LazyTcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let acceptor = Acceptor::new(listener).unwrap();
        let client = std::net::TcpStream::connect(acceptor.local_addr().unwrap()).unwrap();
        let (server, peer) = acceptor.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        (server, client)
    }

    #[tokio::test]
    async fn a_connection_that_never_blocks_is_never_registered() {
        let (mut server, mut client) = pair().await;
        client.write_all(b"ping").unwrap();
        // The bytes are on loopback as soon as write returns.
        let mut got = [0u8; 4];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        server.write_all(b"pong").await.unwrap();
        server.shutdown().await.unwrap();
        assert!(!server.is_registered());
        let mut back = Vec::new();
        client.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"pong");
    }

    #[tokio::test]
    async fn accepted_connections_have_nodelay_from_the_listener() {
        let (server, _client) = pair().await;
        let State::Direct(stream) = &server.state else {
            panic!("registered at once")
        };
        assert!(stream.nodelay().unwrap());
    }

    #[tokio::test]
    async fn a_read_that_would_block_registers_and_waits() {
        let (mut server, mut client) = pair().await;
        let mut got = [0u8; 5];
        // Nothing sent yet: the direct read would block, so the socket registers.
        let first = std::future::poll_fn(|cx| {
            let mut buf = ReadBuf::new(&mut got);
            Poll::Ready(Pin::new(&mut server).poll_read(cx, &mut buf))
        })
        .await;
        assert!(first.is_pending());
        assert!(server.is_registered());
        client.write_all(b"hello").unwrap();
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
    }

    #[tokio::test]
    async fn a_write_that_would_block_registers_and_finishes_once_the_peer_reads() {
        let (mut server, client) = pair().await;
        // Fill the socket's buffers while nobody reads, until a write would block.
        let chunk = vec![7u8; 64 * 1024];
        let mut written = 0;
        loop {
            let poll = std::future::poll_fn(|cx| {
                Poll::Ready(Pin::new(&mut server).poll_write(cx, &chunk))
            })
            .await;
            match poll {
                Poll::Ready(Ok(n)) => written += n,
                Poll::Ready(Err(e)) => panic!("write failed: {e}"),
                Poll::Pending => break,
            }
        }
        assert!(server.is_registered());
        let total = written + chunk.len();
        let drain = sys_io::drain_in_thread(client, total);
        // The registered write waits for room, then finishes.
        server.write_all(&chunk).await.unwrap();
        server.shutdown().await.unwrap();
        assert_eq!(drain.join().unwrap(), total);
    }

    #[tokio::test]
    async fn a_read_unregistered_never_registers_and_into_registered_does() {
        let (mut server, mut client) = pair().await;
        let mut buf = [std::mem::MaybeUninit::uninit(); 8];
        let nothing = server.read_unregistered(&mut buf).unwrap_err();
        assert_eq!(nothing.kind(), io::ErrorKind::WouldBlock);
        assert!(!server.is_registered());
        client.write_all(b"early").unwrap();
        assert_eq!(server.read_unregistered(&mut buf).unwrap(), b"early");
        assert!(!server.is_registered());
        let mut tokio_stream = server.into_registered().unwrap();
        client.write_all(b"later").unwrap();
        let mut got = [0u8; 5];
        tokio_stream.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"later");
    }

    #[tokio::test]
    async fn a_zero_linger_close_resets_the_peer() {
        let (server, mut client) = pair().await;
        server.set_zero_linger().unwrap();
        drop(server);
        let mut buf = [0u8; 1];
        let error = client.read(&mut buf).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
    }

    #[tokio::test]
    async fn the_end_of_the_stream_reads_as_zero_bytes() {
        let (mut server, client) = pair().await;
        drop(client);
        let mut buf = [0u8; 8];
        let n = server.read(&mut buf).await.unwrap();
        assert_eq!(n, 0);
    }
}
