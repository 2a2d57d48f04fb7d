//! Opening a TCP connection to a target with its first bytes sent in the same turn of the
//! event loop.
//!
//! tokio's `TcpStream::connect` registers the socket and waits for the event loop to report
//! it writable before anything can be written: one more wake-up of the worker, and a
//! `getsockopt(SO_ERROR)`, per connection. A target on the same host (or one that answers
//! within the `connect` call) is often connected by the time `connect` returns, so, as
//! HAProxy does, the first bytes (a PROXY header, the client's first bytes) are sent at once:
//! a send that succeeds proves the connection; one that would block means it is still being
//! made, and only then is its completion awaited the usual way. With nothing to send,
//! `getpeername` tells the same. A refused connect fails the send (or the wait) with the same
//! error tokio's connect gives.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::net::TcpStream;

/// A target connection opened by [`open`], and how many of the first bytes it already sent.
#[derive(Debug)]
pub struct Opened {
    /// The connected, registered stream (`TCP_NODELAY` set).
    pub stream: TcpStream,
    /// How many bytes of `first` are on their way; the caller writes the rest.
    pub sent: usize,
}

/// Connects to `address` and sends what it can of `first` at once (nothing is sent when
/// `first` is empty). Waits for the connection only when the send (or, with nothing to
/// send, `getpeername`) finds it not made yet.
/// The caller bounds the whole call with its connect timeout.
pub async fn open(address: SocketAddr, first: &[u8]) -> io::Result<Opened> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    // Small messages go out at once (every proxy sets it on both sides). Without it the
    // connection still works, only slower: not a reason to fail the target.
    if let Err(error) = socket.set_tcp_nodelay(true) {
        tracing::debug!(target_address = %address, %error, "set_nodelay failed");
    }
    let mut connected = match socket.connect(&SockAddr::from(address)) {
        Ok(()) => true,
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => false,
        Err(e) => return Err(e),
    };
    let mut sent = 0;
    if !first.is_empty() {
        match send_now(&socket, first) {
            Ok(n) => {
                sent = n;
                connected = true;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // Refused (or reset) already: the error the wait below would report.
            Err(e) => return Err(e),
        }
    } else if !connected {
        // Nothing to send (a server-first protocol, or the client has not spoken yet): ask
        // whether the handshake is done. Waiting instead costs a turn of the event loop and
        // arms the connect timeout's timer, which wakes the event loop through its eventfd;
        // this is one system call, and on a remote target (never connected this early) the
        // only one spent for nothing.
        connected = socket.peer_addr().is_ok();
    }
    let stream = TcpStream::from_std(std::net::TcpStream::from(socket))?;
    if !connected {
        stream.writable().await?;
        if let Some(error) = stream.take_error()? {
            return Err(error);
        }
        // Connected now: the first bytes still go in one send when they fit.
        if sent == 0 && !first.is_empty() {
            match stream.try_write(first) {
                Ok(n) => sent = n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(Opened { stream, sent })
}

/// One non-blocking send that raises no SIGPIPE.
fn send_now(socket: &Socket, bytes: &[u8]) -> io::Result<usize> {
    loop {
        match socket.send_with_flags(bytes, libc::MSG_NOSIGNAL) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::io::Read;

    #[tokio::test]
    async fn the_first_bytes_reach_a_listening_target_with_the_connect() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let mut opened = open(address, b"first bytes").await.unwrap();
        // On loopback the handshake is usually done within connect and everything went out
        // at once; when the kernel deferred it, the caller writes the rest, as here.
        tokio::io::AsyncWriteExt::write_all(&mut opened.stream, &b"first bytes"[opened.sent..])
            .await
            .unwrap();
        assert!(opened.stream.nodelay().unwrap());
        let (mut accepted, _) = listener.accept().unwrap();
        let mut got = [0u8; 11];
        accepted.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"first bytes");
    }

    #[tokio::test]
    async fn with_nothing_to_send_it_waits_for_the_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let opened = open(listener.local_addr().unwrap(), b"").await.unwrap();
        assert_eq!(opened.sent, 0);
        assert!(opened.stream.peer_addr().is_ok());
    }

    #[tokio::test]
    async fn with_nothing_to_send_a_connection_made_within_connect_needs_no_wait() {
        // On loopback the handshake is done inside `connect` unless the kernel defers its
        // packet processing to a thread: tries finish at their first poll, with no turn of
        // the event loop. (Before `getpeername`, none did; one is proof enough.)
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let mut at_once = 0;
        for _ in 0..20 {
            let mut opening = std::pin::pin!(open(address, b""));
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            match opening.as_mut().poll(&mut cx) {
                std::task::Poll::Ready(opened) => {
                    assert!(opened.unwrap().stream.peer_addr().is_ok());
                    at_once += 1;
                }
                std::task::Poll::Pending => {
                    opening.await.unwrap();
                }
            }
            drop(listener.accept().unwrap());
        }
        assert!(at_once >= 1, "none of 20 connects was made at once");
    }

    #[tokio::test]
    async fn a_refused_connect_is_an_error_with_or_without_first_bytes() {
        // A port nothing listens on: bind one, note it, close it.
        let address = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        for first in [&b""[..], &b"hello"[..]] {
            let error = open(address, first).await.unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{first:?}");
        }
    }
}
