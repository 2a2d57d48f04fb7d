//! Reads and writes of a registered TCP socket as direct system calls.
//!
//! tokio's `poll_read`/`poll_write` reach the kernel through the standard library and libc,
//! whose `recv` and `send` are thread-cancellation points: each call brackets the system
//! call with `__pthread_enable_asynccancel`/`__pthread_disable_asynccancel` (atomic updates
//! of the thread's cancel state that Rust never uses). On the L4 request/response relay that
//! was 1.3% of the worker's CPU. rustix issues the system call itself.
//!
//! The readiness contract is tokio's: wait for readiness, try once, and on `WouldBlock`
//! clear it and wait again. tokio also takes a short read or write (fewer bytes than asked
//! for) as proof that the socket is drained or full, which saves the call that would only
//! say "would block"; these functions do the same by reporting a short transfer to tokio as
//! `WouldBlock` (so it clears the readiness it saw, and only that) and keeping the count.

use std::io::{self, IoSlice};
use std::os::fd::AsFd;
use std::task::{Context, Poll};

use rustix::net::{RecvFlags, SendFlags};
use tokio::io::{Interest, ReadBuf};
use tokio::net::TcpStream;

/// One `recv` into `buf` once the socket is readable; `Ready(Ok(0))` is the end of the
/// stream (or an empty `buf`).
pub fn poll_recv(
    socket: &TcpStream,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    let asked = buf.len();
    poll_transfer(socket, Interest::READABLE, cx, asked, || {
        rustix::net::recv(socket, &mut *buf, RecvFlags::empty()).map(|(n, _)| n)
    })
}

/// One `send` of (a prefix of) `buf` once the socket is writable. `MSG_NOSIGNAL`: a peer
/// that is gone is an `EPIPE` error, not a signal (the vectored form too).
pub fn poll_send(socket: &TcpStream, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    poll_transfer(socket, Interest::WRITABLE, cx, buf.len(), || {
        rustix::net::send(socket, buf, SendFlags::NOSIGNAL)
    })
}

/// [`poll_recv`] into a tokio `ReadBuf` (for `AsyncRead` implementations), when its unfilled
/// part is initialised already (the HTTP/1 and L4 paths' pooled buffers). A caller that
/// hands uninitialised memory (hyper's and h2's codecs) is read by tokio's own `poll_read`,
/// which fills it without zeroing it first: zeroing it here would cost a `memset` per read.
pub fn poll_recv_buf(
    socket: &mut TcpStream,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    if buf.initialized().len() < buf.capacity() {
        return tokio::io::AsyncRead::poll_read(std::pin::Pin::new(socket), cx, buf);
    }
    let n = std::task::ready!(poll_recv(socket, cx, buf.initialize_unfilled()))?;
    buf.advance(n);
    Poll::Ready(Ok(()))
}

/// Slices one `sendmsg` takes at most (Linux's `UIO_MAXIOV`); the rest wait for the next.
const MAX_SLICES: usize = 1024;

/// One `sendmsg` of (a prefix of) `bufs` once the socket is writable, with `MSG_NOSIGNAL`.
/// Only the first [`MAX_SLICES`] slices are offered, so a short send still means a full
/// socket.
pub fn poll_send_vectored(
    socket: &TcpStream,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    let bufs = &bufs[..bufs.len().min(MAX_SLICES)];
    let asked = bufs.iter().map(|b| b.len()).sum();
    poll_transfer(socket, Interest::WRITABLE, cx, asked, || {
        send_vectored(socket, bufs)
    })
}

fn send_vectored(socket: impl AsFd, bufs: &[IoSlice<'_>]) -> rustix::io::Result<usize> {
    rustix::net::sendmsg(
        socket,
        bufs,
        &mut rustix::net::SendAncillaryBuffer::default(),
        SendFlags::NOSIGNAL,
    )
}

/// One non-blocking `recv`, as it comes (`WouldBlock` included): for sockets not registered
/// with the event loop.
pub fn recv_now(socket: impl AsFd, buf: &mut [u8]) -> io::Result<usize> {
    Ok(rustix::net::recv(socket, buf, RecvFlags::empty())?.0)
}

/// [`recv_now`] into memory that need not be initialised (no `memset` of a buffer first):
/// the bytes read are the returned front of `buf`.
pub fn recv_now_uninit(
    socket: impl AsFd,
    buf: &mut [std::mem::MaybeUninit<u8>],
) -> io::Result<&mut [u8]> {
    let ((read, _), _) = rustix::net::recv(socket, buf, RecvFlags::empty())?;
    Ok(read)
}

/// One non-blocking `send` with `MSG_NOSIGNAL`, as it comes.
pub fn send_now(socket: impl AsFd, buf: &[u8]) -> io::Result<usize> {
    Ok(rustix::net::send(socket, buf, SendFlags::NOSIGNAL)?)
}

/// One non-blocking `sendmsg` of the first [`MAX_SLICES`] of `bufs`, as it comes.
pub fn send_vectored_now(socket: impl AsFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    Ok(send_vectored(socket, &bufs[..bufs.len().min(MAX_SLICES)])?)
}

/// One `transfer` once the socket is ready for `interest`, waiting again when the kernel
/// says it would block. `asked`: the bytes offered, for the short-transfer rule (fewer moved
/// means drained or full); 0 turns the rule off (a splice into a pipe can be short while
/// the socket still has bytes).
pub(crate) fn poll_transfer(
    socket: &TcpStream,
    interest: Interest,
    cx: &mut Context<'_>,
    asked: usize,
    mut transfer: impl FnMut() -> rustix::io::Result<usize>,
) -> Poll<io::Result<usize>> {
    loop {
        if interest.is_readable() {
            std::task::ready!(socket.poll_read_ready(cx))?;
        } else {
            std::task::ready!(socket.poll_write_ready(cx))?;
        }
        let mut short = None;
        let tried = socket.try_io(interest, || loop {
            match transfer() {
                Ok(n) if n > 0 && n < asked => {
                    // Drained (or full): tokio clears the readiness it saw on WouldBlock.
                    short = Some(n);
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(n) => return Ok(n),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(io::Error::from(e)),
            }
        });
        match tried {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => match short {
                Some(n) => return Poll::Ready(Ok(n)),
                None => continue,
            },
            done => return Poll::Ready(done),
        }
    }
}

/// Reads `client` in a thread until `total` bytes or its end; the count read.
#[cfg(test)]
pub(crate) fn drain_in_thread(
    mut client: std::net::TcpStream,
    total: usize,
) -> std::thread::JoinHandle<usize> {
    use std::io::Read;
    std::thread::spawn(move || {
        let mut seen = 0;
        let mut buf = vec![0u8; 64 * 1024];
        while seen < total {
            match client.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen += n,
            }
        }
        seen
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    async fn pair() -> (TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        (TcpStream::from_std(server).unwrap(), client)
    }

    #[tokio::test]
    async fn a_short_read_returns_what_came_and_the_next_waits_for_more() {
        let (server, mut client) = pair().await;
        client.write_all(b"ping").unwrap();
        let mut buf = [0u8; 64];
        let n = std::future::poll_fn(|cx| poll_recv(&server, cx, &mut buf))
            .await
            .unwrap();
        assert_eq!(&buf[..n], b"ping");
        // The short read marked the socket drained: the next read waits, with no call.
        let waiting = std::future::poll_fn(|cx| Poll::Ready(poll_recv(&server, cx, &mut buf)));
        assert!(waiting.await.is_pending());
        client.write_all(b"pong").unwrap();
        let n = std::future::poll_fn(|cx| poll_recv(&server, cx, &mut buf))
            .await
            .unwrap();
        assert_eq!(&buf[..n], b"pong");
    }

    #[tokio::test]
    async fn a_read_that_fills_the_buffer_leaves_the_rest_readable() {
        let (server, mut client) = pair().await;
        client.write_all(b"abcdef").unwrap();
        let mut buf = [0u8; 4];
        let mut got = Vec::new();
        while got.len() < 6 {
            let n = std::future::poll_fn(|cx| poll_recv(&server, cx, &mut buf))
                .await
                .unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"abcdef");
    }

    #[tokio::test]
    async fn the_end_of_the_stream_reads_as_zero_even_after_a_short_read() {
        let (server, mut client) = pair().await;
        client.write_all(b"last").unwrap();
        drop(client);
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        loop {
            let n = std::future::poll_fn(|cx| poll_recv(&server, cx, &mut buf))
                .await
                .unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"last");
    }

    #[tokio::test]
    async fn a_write_to_a_full_socket_waits_until_the_peer_reads() {
        let (server, client) = pair().await;
        let chunk = vec![9u8; 256 * 1024];
        let mut written = 0;
        // Until a write is short or would block: the socket's buffers are full.
        loop {
            let poll = std::future::poll_fn(|cx| Poll::Ready(poll_send(&server, cx, &chunk))).await;
            match poll {
                Poll::Ready(Ok(n)) => {
                    written += n;
                    if n < chunk.len() {
                        break;
                    }
                }
                Poll::Ready(Err(e)) => panic!("send failed: {e}"),
                Poll::Pending => break,
            }
        }
        let total = written + chunk.len();
        let drain = drain_in_thread(client, total);
        let mut sent = 0;
        while sent < chunk.len() {
            sent += std::future::poll_fn(|cx| poll_send(&server, cx, &chunk[sent..]))
                .await
                .unwrap();
        }
        drop(server);
        assert_eq!(drain.join().unwrap(), total);
    }

    #[tokio::test]
    async fn an_uninitialised_buffer_is_read_too() {
        let (mut server, mut client) = pair().await;
        client.write_all(b"uninit").unwrap();
        let mut memory = [std::mem::MaybeUninit::<u8>::uninit(); 32];
        let mut buf = ReadBuf::uninit(&mut memory);
        std::future::poll_fn(|cx| poll_recv_buf(&mut server, cx, &mut buf))
            .await
            .unwrap();
        assert_eq!(buf.filled(), b"uninit");
    }

    #[tokio::test]
    async fn a_vectored_send_of_more_slices_than_one_call_takes_sends_them_all() {
        let (server, mut client) = pair().await;
        let bytes: Vec<u8> = (0..MAX_SLICES + 500).map(|i| i as u8).collect();
        let slices: Vec<IoSlice<'_>> = bytes.chunks(1).map(IoSlice::new).collect();
        let mut at = 0;
        while at < slices.len() {
            // One byte per slice: the count sent is the number of slices done.
            at += std::future::poll_fn(|cx| poll_send_vectored(&server, cx, &slices[at..]))
                .await
                .unwrap();
        }
        drop(server);
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert_eq!(got, bytes);
    }

    #[tokio::test]
    async fn a_send_to_a_reset_peer_is_an_error_not_a_signal() {
        let (server, client) = pair().await;
        socket2::SockRef::from(&client)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
        drop(client);
        let mut failed = None;
        // The first send may be taken before the reset is seen; a later one fails.
        for _ in 0..100 {
            match std::future::poll_fn(|cx| poll_send(&server, cx, b"x")).await {
                Ok(_) => tokio::task::yield_now().await,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let kind = failed.expect("the send never failed").kind();
        assert!(
            matches!(
                kind,
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ),
            "{kind:?}"
        );
    }
}
