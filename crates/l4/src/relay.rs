//! The bytes of an L4 connection, moved both ways untouched until both sides have ended
//! their streams (a half-close is passed on: the client's FIN reaches the target and the
//! target's answer still comes back), either side fails, no byte moved for the idle timeout,
//! or the target's deregistration delay ends.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::signal::Signal;

/// Bytes buffered per direction (the kernel's socket buffers do the rest).
const BUFFER: usize = 16 * 1024;

/// How a relay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayEnding {
    /// Both sides ended their streams.
    Closed,
    /// No byte moved either way for the idle timeout.
    Idle,
    /// Reading from or writing to the client failed (a reset, most often).
    Client,
    /// Reading from or writing to the target failed.
    Target,
    /// The target's deregistration delay ended, or the process stopped draining.
    Cut,
}

/// What a relay carried, and how it ended.
#[derive(Debug, Clone, Copy)]
pub struct RelayEnd {
    /// Bytes from the client to the target.
    pub from_client: u64,
    /// Bytes from the target to the client.
    pub from_target: u64,
    /// How it ended.
    pub ending: RelayEnding,
}

/// Moves bytes between `client` and `target` until the relay ends. Idleness is checked
/// every quarter of `idle`, so a silent connection closes between `idle` and 1.25 × `idle`.
pub async fn relay<C, T>(client: C, target: T, idle: Duration, cut: &Signal) -> RelayEnd
where
    C: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let moved = AtomicBool::new(false);
    let mut client = Watched::new(client, &moved);
    let mut target = Watched::new(target, &moved);
    let tick = (idle / 4).max(Duration::from_millis(10));
    let mut silent = Duration::ZERO;
    let ending = {
        let copy =
            tokio::io::copy_bidirectional_with_sizes(&mut client, &mut target, BUFFER, BUFFER);
        tokio::pin!(copy);
        let mut cut_wait = std::pin::pin!(std::future::poll_fn(|cx| cut.poll_raised(cx)));
        loop {
            tokio::select! {
                done = &mut copy => break match done {
                    Ok(_) => RelayEnding::Closed,
                    Err(_) => RelayEnding::Client,
                },
                () = &mut cut_wait => break RelayEnding::Cut,
                () = tokio::time::sleep(tick) => {
                    if moved.swap(false, Ordering::Relaxed) {
                        silent = Duration::ZERO;
                    } else {
                        silent += tick;
                        if silent >= idle {
                            break RelayEnding::Idle;
                        }
                    }
                }
            }
        }
    };
    // Which side failed: the one whose wrapper saw the error.
    let ending = match ending {
        RelayEnding::Client if target.failed && !client.failed => RelayEnding::Target,
        other => other,
    };
    RelayEnd {
        from_client: client.read,
        from_target: target.read,
        ending,
    }
}

/// A stream that notes that bytes moved, counts what was read from it, and remembers
/// whether it failed.
struct Watched<'a, S> {
    io: S,
    moved: &'a AtomicBool,
    read: u64,
    failed: bool,
}

impl<'a, S> Watched<'a, S> {
    fn new(io: S, moved: &'a AtomicBool) -> Self {
        Self {
            io,
            moved,
            read: 0,
            failed: false,
        }
    }

    fn note<T>(&mut self, result: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if let Poll::Ready(Err(_)) = &result {
            self.failed = true;
        }
        result
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<'_, S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            this.read += n as u64;
            this.moved.store(true, Ordering::Relaxed);
        }
        this.note(result)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<'_, S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &result {
            if *n > 0 {
                this.moved.store(true, Ordering::Relaxed);
            }
        }
        this.note(result)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_flush(cx);
        this.note(result)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_shutdown(cx);
        this.note(result)
    }
}
