//! The relay of a plain TCP connection on Linux without copying through user space: each
//! direction moves bytes socket → pipe → socket with splice(2), so the kernel hands pages
//! over instead of Ballast reading and writing them. Same contract as [`crate::relay`]:
//! half-close passed on, idle timeout, cut signal, bytes counted each way.

use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rustix::pipe::{pipe_with, splice, PipeFlags, SpliceFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::relay::{RelayEnd, RelayEnding};
use crate::signal::Signal;

/// Bytes asked of the kernel per splice (a pipe holds 64 KiB by default).
const CHUNK: usize = 64 * 1024;

/// One direction: a pipe and what it holds.
struct Pump {
    read_end: OwnedFd,
    write_end: OwnedFd,
    /// Bytes in the pipe, not yet written on.
    in_pipe: usize,
    /// The source ended its stream.
    eof: bool,
    /// The end was passed on.
    shut: bool,
    /// Bytes written on.
    bytes: u64,
}

/// Which side failed.
enum Side {
    Source,
    Sink,
}

impl Pump {
    fn new() -> io::Result<Self> {
        let (read_end, write_end) = pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
        Ok(Self {
            read_end,
            write_end,
            in_pipe: 0,
            eof: false,
            shut: false,
            bytes: 0,
        })
    }

    /// Moves what it can from `src` to `dst`. `Ready(Ok(moved))` once something moved or
    /// the direction is over; `Pending` when both sockets wait.
    fn poll(
        &mut self,
        src: &TcpStream,
        dst: &TcpStream,
        cx: &mut Context<'_>,
    ) -> Poll<Result<bool, Side>> {
        let mut moved = false;
        loop {
            if self.in_pipe > 0 {
                match dst.poll_write_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => return Poll::Ready(Err(Side::Sink)),
                    Poll::Pending => {
                        return if moved {
                            Poll::Ready(Ok(true))
                        } else {
                            Poll::Pending
                        }
                    }
                }
                let out = dst.try_io(Interest::WRITABLE, || {
                    splice(
                        &self.read_end,
                        None,
                        dst,
                        None,
                        self.in_pipe,
                        SpliceFlags::MOVE | SpliceFlags::NONBLOCK,
                    )
                    .map_err(io::Error::from)
                });
                match out {
                    Ok(n) => {
                        self.in_pipe -= n;
                        self.bytes += n as u64;
                        moved = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return Poll::Ready(Err(Side::Sink)),
                }
                continue;
            }
            if self.eof {
                if !self.shut {
                    self.shut = true;
                    // A failed shutdown means the peer is gone; the other direction says how.
                    let _ = socket2::SockRef::from(dst).shutdown(std::net::Shutdown::Write);
                }
                return Poll::Ready(Ok(moved));
            }
            match src.poll_read_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Poll::Ready(Err(Side::Source)),
                Poll::Pending => {
                    return if moved {
                        Poll::Ready(Ok(true))
                    } else {
                        Poll::Pending
                    }
                }
            }
            let into = src.try_io(Interest::READABLE, || {
                splice(
                    src,
                    None,
                    &self.write_end,
                    None,
                    CHUNK,
                    SpliceFlags::MOVE | SpliceFlags::NONBLOCK,
                )
                .map_err(io::Error::from)
            });
            match into {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.in_pipe = n;
                    moved = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return Poll::Ready(Err(Side::Source)),
            }
        }
    }
}

/// Relays between two plain TCP sockets with splice(2). `Err` when the pipes cannot be made
/// (out of descriptors): the caller then copies instead.
pub async fn splice_relay(
    client: &TcpStream,
    target: &TcpStream,
    idle: Duration,
    cut: &Signal,
) -> io::Result<RelayEnd> {
    let mut up = Pump::new()?;
    let mut down = Pump::new()?;
    let mut sleep = Box::pin(tokio::time::sleep(idle));
    let mut last = Instant::now();
    let ending = std::future::poll_fn(|cx| loop {
        if cut.poll_raised(cx).is_ready() {
            return Poll::Ready(RelayEnding::Cut);
        }
        let mut moved = false;
        if !up.shut {
            match up.poll(client, target, cx) {
                Poll::Ready(Ok(m)) => moved |= m,
                Poll::Ready(Err(Side::Source)) => return Poll::Ready(RelayEnding::Client),
                Poll::Ready(Err(Side::Sink)) => return Poll::Ready(RelayEnding::Target),
                Poll::Pending => {}
            }
        }
        if !down.shut {
            match down.poll(target, client, cx) {
                Poll::Ready(Ok(m)) => moved |= m,
                Poll::Ready(Err(Side::Source)) => return Poll::Ready(RelayEnding::Target),
                Poll::Ready(Err(Side::Sink)) => return Poll::Ready(RelayEnding::Client),
                Poll::Pending => {}
            }
        }
        if up.shut && down.shut {
            return Poll::Ready(RelayEnding::Closed);
        }
        if moved {
            last = Instant::now();
            continue;
        }
        let due = last + idle;
        if sleep.deadline() != due {
            sleep.as_mut().reset(due);
        }
        if Pin::new(&mut sleep).poll(cx).is_ready() {
            return Poll::Ready(RelayEnding::Idle);
        }
        return Poll::Pending;
    })
    .await;
    Ok(RelayEnd {
        from_client: up.bytes,
        from_target: down.bytes,
        ending,
    })
}

/// Whether plain TCP connections are relayed with splice(2): yes, unless the environment
/// sets `BALLAST_L4_COPY=1` (to compare the two paths, or where splice misbehaves).
pub fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os("BALLAST_L4_COPY").is_none_or(|v| v != "1"))
}
