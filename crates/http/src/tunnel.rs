//! The bytes of an upgraded connection (WebSocket after `101`), moved both ways between the
//! client and the target untouched: no frame parsing, one buffer per direction, taken from
//! the worker's pool only while bytes move (an idle tunnel holds none).
//!
//! A side that ends its stream has its end passed on (a half-close: the other side's answer
//! still comes back); the tunnel is over when both directions have ended, when either side
//! fails, or when no byte moved either way for the idle timeout. A deregistered target's
//! tunnels end when its delay does: the target connection is cut under the tunnel.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};

use crate::buf::{poll_read_into, Buf, BufferPool, BODY_READ_SIZE};
use crate::upstream::Upstream;

/// How a tunnel ended.
#[derive(Debug)]
pub(crate) enum Ending {
    /// Both sides ended their streams.
    Closed,
    /// No byte moved either way for the idle timeout.
    Idle,
    /// Reading from or writing to the client failed.
    Client(io::Error),
    /// Reading from or writing to the target failed (or its connection was cut).
    Target(io::Error),
}

/// What a tunnel carried, and how it ended.
#[derive(Debug)]
pub(crate) struct TunnelEnd {
    /// Bytes from the client to the target.
    pub(crate) from_client: u64,
    /// Bytes from the target to the client.
    pub(crate) from_target: u64,
    pub(crate) ending: Ending,
}

/// One direction of the tunnel.
#[derive(Debug, Default)]
struct Flow {
    /// The reading side ended its stream.
    eof: bool,
    /// The end was passed on (the writing side was shut down).
    shut: bool,
    /// Bytes were written and not flushed yet (TLS records wait for a flush).
    unflushed: bool,
    bytes: u64,
}

/// Moves bytes between `client` and `up` until the tunnel ends. `client_buf` and `up.buf`
/// hold bytes read before the switch (sent first). Each wait for traffic is bounded by
/// `idle`, counted from the last byte moved either way.
pub(crate) async fn tunnel<C>(
    client: &mut C,
    client_buf: &mut Buf,
    up: &mut Upstream,
    pool: &BufferPool,
    mut sleep: Pin<&mut Sleep>,
    idle: Duration,
) -> TunnelEnd
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let mut up_flow = Flow::default();
    let mut down_flow = Flow::default();
    let mut last = Instant::now();
    let ending = std::future::poll_fn(|cx| loop {
        let mut moved = match pump_up(client, client_buf, up, pool, &mut up_flow, cx) {
            Ok(moved) => moved,
            Err(ending) => return Poll::Ready(ending),
        };
        moved |= match pump_down(up, client, pool, &mut down_flow, cx) {
            Ok(moved) => moved,
            Err(ending) => return Poll::Ready(ending),
        };
        if up_flow.shut && down_flow.shut {
            return Poll::Ready(Ending::Closed);
        }
        if moved {
            last = Instant::now();
            continue;
        }
        // Nothing moves: an idle tunnel holds no buffer.
        client_buf.release(pool);
        up.buf.release(pool);
        let due = last + idle;
        if sleep.deadline() != due {
            sleep.as_mut().reset(due);
        }
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ending::Idle);
        }
        return Poll::Pending;
    })
    .await;
    client_buf.release(pool);
    up.buf.release(pool);
    TunnelEnd {
        from_client: up_flow.bytes,
        from_target: down_flow.bytes,
        ending,
    }
}

/// Client to target: writes what is buffered, else reads more, else passes the end on.
/// `Ok(true)` when something moved.
fn pump_up<C: AsyncRead + Unpin>(
    client: &mut C,
    buf: &mut Buf,
    up: &mut Upstream,
    pool: &BufferPool,
    flow: &mut Flow,
    cx: &mut Context<'_>,
) -> Result<bool, Ending> {
    let mut moved = false;
    loop {
        if flow.shut {
            return Ok(moved);
        }
        if !buf.is_empty() {
            match up.poll_write(cx, buf.filled()) {
                Poll::Ready(Ok(0)) => return Err(Ending::Target(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    buf.consume(n);
                    flow.bytes += n as u64;
                    flow.unflushed = true;
                    moved = true;
                    continue;
                }
                Poll::Ready(Err(e)) => return Err(Ending::Target(e)),
                Poll::Pending => return Ok(moved),
            }
        }
        if flow.unflushed {
            match Pin::new(&mut *up).poll_flush_io(cx) {
                Poll::Ready(Ok(())) => flow.unflushed = false,
                Poll::Ready(Err(e)) => return Err(Ending::Target(e)),
                Poll::Pending => return Ok(moved),
            }
        }
        if flow.eof {
            match Pin::new(&mut *up).poll_shutdown_io(cx) {
                // A target that already went away has nothing left to be told.
                Poll::Ready(_) => {
                    flow.shut = true;
                    return Ok(true);
                }
                Poll::Pending => return Ok(moved),
            }
        }
        match read_into(client, buf, pool, cx) {
            Poll::Ready(Ok(0)) => flow.eof = true,
            Poll::Ready(Ok(_)) => {}
            Poll::Ready(Err(e)) => return Err(Ending::Client(e)),
            Poll::Pending => return Ok(moved),
        }
        moved = true;
    }
}

/// Target to client: the same, the other way.
fn pump_down<C: AsyncWrite + Unpin>(
    up: &mut Upstream,
    client: &mut C,
    pool: &BufferPool,
    flow: &mut Flow,
    cx: &mut Context<'_>,
) -> Result<bool, Ending> {
    let mut moved = false;
    loop {
        if flow.shut {
            return Ok(moved);
        }
        if !up.buf.is_empty() {
            match Pin::new(&mut *client).poll_write(cx, up.buf.filled()) {
                Poll::Ready(Ok(0)) => return Err(Ending::Client(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    up.buf.consume(n);
                    flow.bytes += n as u64;
                    flow.unflushed = true;
                    moved = true;
                    continue;
                }
                Poll::Ready(Err(e)) => return Err(Ending::Client(e)),
                Poll::Pending => return Ok(moved),
            }
        }
        if flow.unflushed {
            match Pin::new(&mut *client).poll_flush(cx) {
                Poll::Ready(Ok(())) => flow.unflushed = false,
                Poll::Ready(Err(e)) => return Err(Ending::Client(e)),
                Poll::Pending => return Ok(moved),
            }
        }
        if flow.eof {
            match Pin::new(&mut *client).poll_shutdown(cx) {
                Poll::Ready(_) => {
                    flow.shut = true;
                    return Ok(true);
                }
                Poll::Pending => return Ok(moved),
            }
        }
        up.buf.for_body(pool);
        match up.poll_read_buf(cx, pool, BODY_READ_SIZE) {
            Poll::Ready(Ok(0)) => flow.eof = true,
            Poll::Ready(Ok(_)) => {}
            Poll::Ready(Err(e)) => return Err(Ending::Target(e)),
            Poll::Pending => return Ok(moved),
        }
        moved = true;
    }
}

/// Reads what `io` has into `buf` (a body-sized buffer); `Ok(0)` is the end of the stream.
fn read_into<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Buf,
    pool: &BufferPool,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    buf.for_body(pool);
    poll_read_into(io, buf, pool, BODY_READ_SIZE, cx)
}
