//! Connections to targets, driven inline by the request that uses them: no task per
//! connection, no channel between the request and its connection. Idle ones wait in a
//! per-worker pool ([`ConnPool`]); a deregistered target's connections, idle or busy, are
//! cut through a [`CutSignal`] when its delay ends.

mod connect;
mod h2;
mod pool;
mod send;

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use ballast_balance::OpenConnection;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::buf::{Buf, BufferPool};
use crate::limits::FdSlot;
use crate::signal::Signal;

pub(crate) use connect::connect;
pub(crate) use h2::{open as open_h2, H2Sender, OutBody};
pub use pool::ConnPool;
pub(crate) use send::{RequestKind, RoundTrip, SendFailure, Upload, UPLOAD_CHUNK};

/// One open connection to a target.
pub(crate) struct Upstream {
    io: UpstreamIo,
    /// Bytes read from the target and not consumed yet.
    pub(crate) buf: Buf,
    cut: Arc<CutSignal>,
    /// Whether it served a request before this one (a failure may then be a stale
    /// keep-alive connection rather than the target's fault).
    pub(crate) reused: bool,
    /// When it went idle in the pool.
    idle_since: Instant,
    /// The PROXY header it began with: it carries only the requests of that client. Boxed:
    /// every slot of a pool's queue is as large as an `Upstream`.
    owner: Option<Box<ProxyHeader>>,
    _open: OpenConnection,
    _fd: FdSlot,
}

/// The byte stream to a target: plain TCP or TLS (the same type L4 connections use).
use ballast_l4::stream::TargetStream as UpstreamIo;

/// Cuts a connection from another thread: the control plane raises it when a
/// deregistered target's delay ends, and the request driving the connection fails at its
/// next poll.
pub(crate) type CutSignal = Signal;

/// How an `https` group's connections are encrypted.
#[derive(Debug, Clone)]
pub struct TargetTlsRoute {
    /// The client configuration (verification, roots).
    pub client: Arc<rustls::ClientConfig>,
    /// Name sent as SNI and verified; `None`: the target's IP address.
    pub server_name: Option<String>,
}

/// Where a new connection goes: the target's address, its live state and pool, TLS for
/// `https` groups, and the PROXY header it starts with for groups that send one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Destination<'a> {
    pub(crate) address: std::net::SocketAddr,
    pub(crate) state: &'a Arc<ballast_balance::TargetState>,
    pub(crate) pool: &'a ConnPool,
    pub(crate) tls: Option<&'a TargetTlsRoute>,
    pub(crate) proxy: Option<&'a ProxyHeader>,
}

/// The PROXY protocol header a connection to a target starts with: it names one client
/// connection, so the target connection serves that client only (as HAProxy makes a
/// `send-proxy` connection private to its session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProxyHeader {
    pub(crate) version: ballast_l4::proxy_protocol::ProxyVersion,
    pub(crate) addresses: ballast_l4::proxy_protocol::ProxyAddresses,
}

impl TargetTlsRoute {
    /// TLS to a group's targets with `client`'s verification, naming them `server_name`
    /// (`None`: their IP address). HTTP/2 groups agree on `h2` by ALPN; HTTP/1.1 ones offer
    /// no ALPN (a server then speaks HTTP/1.1).
    pub fn new(
        client: Arc<rustls::ClientConfig>,
        server_name: Option<String>,
        version: ballast_config::ProtocolVersion,
    ) -> Self {
        let client = match version {
            ballast_config::ProtocolVersion::Http1 => client,
            ballast_config::ProtocolVersion::Http2 | ballast_config::ProtocolVersion::Grpc => {
                let mut h2 = (*client).clone();
                h2.alpn_protocols = vec![b"h2".to_vec()];
                Arc::new(h2)
            }
        };
        Self {
            client,
            server_name,
        }
    }
}

// === impl Upstream ===

impl Upstream {
    /// Reads from the target into `buf`; `Ok(0)` is the end of the stream (or a full
    /// buffer at `max` unread bytes).
    pub(crate) fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        pool: &BufferPool,
        max: usize,
    ) -> Poll<io::Result<usize>> {
        self.check_cut(None)?;
        let spare = self.buf.spare(pool, max);
        if spare.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut read = ReadBuf::new(spare);
        let polled = Pin::new(&mut self.io).poll_read(cx, &mut read);
        match polled {
            Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                self.buf.filled_by(n);
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                // Waiting for the target holds no buffer: a thousand requests waiting for
                // their answers would otherwise hold a read buffer each.
                self.buf.release(pool);
                self.check_cut(Some(cx))?;
                Poll::Pending
            }
        }
    }

    /// Writes some of `data` to the target.
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check_cut(None)?;
        let polled = Pin::new(&mut self.io).poll_write(cx, data);
        if polled.is_pending() {
            self.check_cut(Some(cx))?;
        }
        polled
    }

    /// Writes some of `first` then `second` to the target, in one system call where the
    /// stream allows it.
    pub(crate) fn poll_write_two(
        &mut self,
        cx: &mut Context<'_>,
        first: &[u8],
        second: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check_cut(None)?;
        let bufs = [io::IoSlice::new(first), io::IoSlice::new(second)];
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, &bufs);
        if polled.is_pending() {
            self.check_cut(Some(cx))?;
        }
        polled
    }

    /// Flushes TLS records (plain TCP writes through).
    pub(crate) fn poll_flush_io(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    /// Ends the stream towards the target (a half-close: its answer can still be read).
    pub(crate) fn poll_shutdown_io(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    /// Fails once the connection is cut; with `cx` (the I/O is pending), also arranges to
    /// be woken when it is.
    fn check_cut(&self, cx: Option<&mut Context<'_>>) -> io::Result<()> {
        let cut = match cx {
            Some(cx) => self.cut.poll_raised(cx).is_ready(),
            None => self.cut.is_raised(),
        };
        if cut {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "target connection cut at the end of its deregistration delay",
            ));
        }
        Ok(())
    }

    /// Whether the target closed (or sent something unasked on) this idle connection:
    /// either makes it unusable. Looks at the readiness the event loop already knows, so it
    /// costs no system call; over TLS, also at what rustls decrypted and holds (bytes past
    /// the end of a response may sit there, out of the socket's sight).
    fn is_stale(&mut self) -> bool {
        if self.cut.is_raised() {
            return true;
        }
        let tcp = match &mut self.io {
            UpstreamIo::Plain(s) => &*s,
            UpstreamIo::Tls(s) => {
                let (tcp, tls) = s.get_mut();
                let held = tls.process_new_packets().map_or(true, |io| {
                    io.plaintext_bytes_to_read() > 0 || io.peer_has_closed()
                });
                if held {
                    return true;
                }
                &*tcp
            }
        };
        let mut cx = Context::from_waker(Waker::noop());
        matches!(tcp.poll_read_ready(&mut cx), Poll::Ready(_))
    }
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("reused", &self.reused)
            .field("tls", &matches!(self.io, UpstreamIo::Tls(_)))
            .finish_non_exhaustive()
    }
}
