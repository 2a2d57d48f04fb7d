//! The relay of a plain TCP connection (both sides plain sockets): each direction copies
//! through a user-space buffer while messages are small, and, on Linux, moves to splice(2)
//! (socket → pipe → socket, the kernel handing pages over) once it carries bulk: a read that
//! fills the whole buffer. Small request/response traffic keeps the cheaper copy (a splice
//! costs two system calls and a pipe per direction); a download or upload stops copying.
//! Same contract as [`crate::relay`]: half-close passed on, idle timeout, cut signal, bytes
//! counted each way.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustix::pipe::{pipe_with, splice, PipeFlags, SpliceFlags};
use tokio::io::Interest;
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::idle_check::IdleCheck;
use crate::limits::{FdBudget, FdSlot};
use crate::relay::{RelayEnd, RelayEnding};
use crate::signal::Signal;
use crate::sys_io;

/// The copy buffer of one direction; a read that fills it marks the direction as bulk.
const BUFFER: usize = 16 * 1024;

/// Bytes asked of the kernel per splice (a pipe holds 64 KiB by default).
const CHUNK: usize = 64 * 1024;

/// How one direction moves bytes now.
enum Mode {
    /// Through a buffer: `buf[start..end]` waits to be written.
    Copy {
        buf: Vec<u8>,
        start: usize,
        end: usize,
        /// A read filled the buffer: switch to splice once it is written out.
        bulk: bool,
    },
    /// Through a pipe holding `in_pipe` bytes.
    Splice {
        read_end: OwnedFd,
        write_end: OwnedFd,
        in_pipe: usize,
        _fds: [FdSlot; 2],
    },
}

/// One direction of the relay.
struct Pump {
    mode: Mode,
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
    fn new() -> Self {
        Self {
            mode: Mode::Copy {
                buf: Vec::new(),
                start: 0,
                end: 0,
                bulk: false,
            },
            eof: false,
            shut: false,
            bytes: 0,
        }
    }

    /// Bytes read and not yet written on.
    fn pending(&self) -> usize {
        match &self.mode {
            Mode::Copy { start, end, .. } => end - start,
            Mode::Splice { in_pipe, .. } => *in_pipe,
        }
    }

    /// A copying direction that saw bulk and has written everything out takes a pipe, when
    /// splicing is allowed and the descriptors can be had.
    fn maybe_splice(&mut self, splicing: Option<&Arc<FdBudget>>) {
        let Mode::Copy { bulk: true, .. } = self.mode else {
            return;
        };
        let Some(fds) = splicing else { return };
        if self.pending() > 0 {
            return;
        }
        let slots = (fds.acquire(), fds.acquire());
        let (Some(a), Some(b)) = slots else {
            // Out of descriptors: keep copying, and stop asking.
            if let Mode::Copy { bulk, .. } = &mut self.mode {
                *bulk = false;
            }
            return;
        };
        match pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC) {
            Ok((read_end, write_end)) => {
                self.mode = Mode::Splice {
                    read_end,
                    write_end,
                    in_pipe: 0,
                    _fds: [a, b],
                };
            }
            Err(_) => {
                if let Mode::Copy { bulk, .. } = &mut self.mode {
                    *bulk = false;
                }
            }
        }
    }

    /// Moves what it can from `src` to `dst`. `Ready(Ok(moved))` once something moved or
    /// the direction is over; `Pending` when both sockets wait.
    ///
    /// Copies go through [`sys_io`], which notes a short read as the socket drained (no
    /// extra read that only says "would block"); splices go through the socket's readiness
    /// with `try_io`. `last`: the other direction has ended, so this
    /// one's end closes the connection.
    fn poll(
        &mut self,
        src: &mut ReadHalf<'_>,
        dst: &mut WriteHalf<'_>,
        splicing: Option<&Arc<FdBudget>>,
        last: bool,
        cx: &mut Context<'_>,
    ) -> Poll<Result<bool, Side>> {
        let mut moved = false;
        loop {
            if self.pending() > 0 {
                match self.poll_write_out(dst, cx) {
                    Poll::Ready(Ok(n)) => {
                        self.bytes += n as u64;
                        moved = true;
                        continue;
                    }
                    Poll::Ready(Err(_)) => return Poll::Ready(Err(Side::Sink)),
                    Poll::Pending => return idle(moved),
                }
            }
            self.maybe_splice(splicing);
            if self.eof {
                if !self.shut {
                    self.shut = true;
                    // The last end needs no shutdown: the relay is over, and closing the
                    // sockets sends the FIN (both have been read to their end, so close
                    // does not reset). One system call fewer per connection.
                    if !last {
                        // A failed shutdown means the peer is gone; the other direction
                        // says how.
                        let socket = socket2::SockRef::from(dst.as_ref());
                        let _ = socket.shutdown(std::net::Shutdown::Write);
                    }
                }
                return Poll::Ready(Ok(moved));
            }
            match self.poll_read_in(src, cx) {
                Poll::Ready(Ok(0)) => self.eof = true,
                Poll::Ready(Ok(_)) => moved = true,
                Poll::Ready(Err(_)) => return Poll::Ready(Err(Side::Source)),
                Poll::Pending => return idle(moved),
            }
        }
    }

    /// One read from `src` into the buffer or the pipe (which are empty).
    fn poll_read_in(
        &mut self,
        src: &mut ReadHalf<'_>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        match &mut self.mode {
            Mode::Copy {
                buf,
                start,
                end,
                bulk,
            } => {
                if buf.is_empty() {
                    *buf = take_buffer();
                }
                let n = std::task::ready!(sys_io::poll_recv(src.as_ref(), cx, buf))?;
                (*start, *end) = (0, n);
                *bulk |= n == BUFFER;
                Poll::Ready(Ok(n))
            }
            Mode::Splice {
                write_end, in_pipe, ..
            } => {
                let socket: &TcpStream = src.as_ref();
                let n = std::task::ready!(poll_splice(socket, Interest::READABLE, cx, || {
                    splice(socket, None, &*write_end, None, CHUNK, SPLICE)
                }))?;
                *in_pipe = n;
                Poll::Ready(Ok(n))
            }
        }
    }

    /// One write of what is held to `dst`.
    fn poll_write_out(
        &mut self,
        dst: &mut WriteHalf<'_>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        match &mut self.mode {
            Mode::Copy {
                buf, start, end, ..
            } => {
                let n = std::task::ready!(sys_io::poll_send(dst.as_ref(), cx, &buf[*start..*end]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *start += n;
                Poll::Ready(Ok(n))
            }
            Mode::Splice {
                read_end, in_pipe, ..
            } => {
                let socket: &TcpStream = dst.as_ref();
                let n = std::task::ready!(poll_splice(socket, Interest::WRITABLE, cx, || {
                    splice(&*read_end, None, socket, None, *in_pipe, SPLICE)
                }))?;
                *in_pipe -= n;
                Poll::Ready(Ok(n))
            }
        }
    }
}

/// Non-blocking splices that move pages rather than copy them.
const SPLICE: SpliceFlags = SpliceFlags::MOVE.union(SpliceFlags::NONBLOCK);

/// One splice(2) at `socket` once it is ready for `interest`, waiting again when the kernel
/// says it would block. No short-transfer rule: a splice into a pipe can be short while
/// the socket still has bytes.
fn poll_splice(
    socket: &TcpStream,
    interest: Interest,
    cx: &mut Context<'_>,
    splice: impl FnMut() -> rustix::io::Result<usize>,
) -> Poll<io::Result<usize>> {
    sys_io::poll_transfer(socket, interest, cx, 0, splice)
}

/// `Ready` when something moved, else `Pending` (the wakers are registered).
fn idle(moved: bool) -> Poll<Result<bool, Side>> {
    if moved {
        Poll::Ready(Ok(true))
    } else {
        Poll::Pending
    }
}

/// Relays between two plain TCP sockets until the relay ends. With `splicing` (the budget
/// its pipes count against), a direction that carries bulk moves to splice(2).
pub async fn relay_plain(
    client: &mut TcpStream,
    target: &mut TcpStream,
    idle: Duration,
    cut: &Signal,
    splicing: Option<&Arc<FdBudget>>,
) -> RelayEnd {
    let mut up = Pump::new();
    let mut down = Pump::new();
    let (mut client_read, mut client_write) = client.split();
    let (mut target_read, mut target_write) = target.split();
    // Idleness is checked every quarter of `idle` (a silent connection closes between `idle`
    // and 1.25 x `idle`, as the portable relay does): a message only sets `active`, with no
    // clock read and no timer moved per message.
    let tick = (idle / 4).max(Duration::from_millis(10));
    let mut check = IdleCheck::new(tick);
    let mut active = false;
    let mut silent = Duration::ZERO;
    let ending = std::future::poll_fn(|cx| loop {
        if cut.is_raised() {
            return Poll::Ready(RelayEnding::Cut);
        }
        let mut moved = false;
        if !up.shut {
            match up.poll(&mut client_read, &mut target_write, splicing, down.shut, cx) {
                Poll::Ready(Ok(m)) => moved |= m,
                Poll::Ready(Err(Side::Source)) => return Poll::Ready(RelayEnding::Client),
                Poll::Ready(Err(Side::Sink)) => return Poll::Ready(RelayEnding::Target),
                Poll::Pending => {}
            }
        }
        if !down.shut {
            match down.poll(&mut target_read, &mut client_write, splicing, up.shut, cx) {
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
            active = true;
            continue;
        }
        // Nothing moves: an idle direction gives its copy buffer back to the worker.
        for pump in [&mut up, &mut down] {
            if let Mode::Copy {
                buf, start, end, ..
            } = &mut pump.mode
            {
                if start == end && !buf.is_empty() {
                    give_back(std::mem::take(buf));
                }
            }
        }
        // The cut signal's waker is registered only when the task is about to wait.
        if cut.poll_raised(cx).is_ready() {
            return Poll::Ready(RelayEnding::Cut);
        }
        if check.poll_tick(cx).is_ready() {
            if std::mem::take(&mut active) {
                silent = Duration::ZERO;
            } else {
                silent += tick;
                if silent >= idle {
                    return Poll::Ready(RelayEnding::Idle);
                }
            }
            // From now, not from the missed deadline: a worker that was held up does not
            // count the quarters it missed as silent ones.
            check.reset(Instant::now() + tick);
            continue;
        }
        return Poll::Pending;
    })
    .await;
    for pump in [up.mode, down.mode] {
        if let Mode::Copy { buf, .. } = pump {
            give_back(buf);
        }
    }
    RelayEnd {
        from_client: up.bytes,
        from_target: down.bytes,
        ending,
    }
}

thread_local! {
    /// The worker's spare copy buffers: a connection between messages holds none, and
    /// taking one back costs neither an allocation nor zeroing.
    static SPARE: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Spare buffers a worker keeps.
const SPARE_BUFFERS: usize = 256;

fn take_buffer() -> Vec<u8> {
    SPARE
        .with(|spare| spare.borrow_mut().pop())
        .unwrap_or_else(|| vec![0; BUFFER])
}

fn give_back(buf: Vec<u8>) {
    if buf.len() != BUFFER {
        return;
    }
    SPARE.with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < SPARE_BUFFERS {
            spare.push(buf);
        }
    });
}

/// Whether plain TCP connections may splice: yes, unless the environment sets
/// `BALLAST_L4_COPY=1` (to compare the two paths, or where splice misbehaves).
pub fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os("BALLAST_L4_COPY").is_none_or(|v| v != "1"))
}
