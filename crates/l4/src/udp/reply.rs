//! A UDP flow's own task: it relays the target's replies to the client until the flow ends,
//! then counts how it ended and writes the flow's access-log line.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballast_telemetry::l4::Ending;
use ballast_telemetry::metrics::ListenerMetrics;
use tokio::net::UdpSocket;

use crate::limits::FdSlot;
use crate::log::ConnLog;
use crate::signal::Signal;

use super::MAX_DATAGRAM;

/// How long a flow of a stopping process still relays its target's replies.
const CLOSING_GRACE: Duration = Duration::from_secs(1);

/// What the listener and a flow's reply task share.
#[derive(Default)]
pub(super) struct FlowShared {
    /// Raised to end the flow (idle, evicted, listener stopped), once [`FlowShared::why`]
    /// says why.
    stop: Signal,
    /// Why `stop` was raised: an index into [`Ending::ALL`].
    why: AtomicU8,
    /// Raised when the process stops (SIGTERM, or a binary upgrade took the listener's
    /// sockets): no datagram of the client comes through this flow any more, but replies on
    /// their way still go back for [`CLOSING_GRACE`]. (A reload that stops the listener ends
    /// its flows at once: a socket bound anew beside it may share its port, and the kernel
    /// would go on handing this one datagrams nobody reads while a flow holds it open.)
    pub(super) closing: Signal,
    /// Set by the reply task when it ended on its own (target gone, deregistered).
    pub(super) ended: AtomicBool,
    /// Tick of the last datagram either way.
    pub(super) last_active: AtomicU64,
    /// Bytes from the client to the target.
    from_client: AtomicU64,
    /// Bytes from the target to the client.
    from_target: AtomicU64,
}

impl FlowShared {
    /// Ends the flow, for `why`.
    pub(super) fn end(&self, why: Ending) {
        let index = Ending::ALL.iter().position(|e| *e == why).unwrap_or(0);
        self.why.store(index as u8, Ordering::Relaxed);
        self.stop.raise();
    }

    /// The client sent a datagram through the flow at tick `now`, of which `n` bytes reached
    /// the target's socket (0 when the send failed).
    pub(super) fn client_sent(&self, n: usize, now: u64) {
        self.from_client.fetch_add(n as u64, Ordering::Relaxed);
        self.last_active.fetch_max(now, Ordering::Relaxed);
    }

    fn why(&self) -> Ending {
        Ending::ALL
            .get(usize::from(self.why.load(Ordering::Relaxed)))
            .copied()
            .unwrap_or(Ending::Closed)
    }
}

thread_local! {
    /// The worker's buffer for replies: read and sent on at once, so that an idle flow
    /// (most of the 100,000 a table may hold) holds no buffer of its own.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; MAX_DATAGRAM]);
}

/// What reading one reply gave.
enum Reply {
    /// Sent on to the client, this many bytes.
    Sent(usize),
    /// Read, but the listener's socket was not ready to send: a copy to send when it is.
    Later(Vec<u8>),
    /// Nothing to read after all.
    Nothing,
    /// The target's socket failed.
    Failed,
}

/// A flow's task: relays the target's replies to the client until the flow ends.
pub(super) struct ReplyTask {
    pub(super) from: Arc<UdpSocket>,
    pub(super) to: Arc<UdpSocket>,
    pub(super) client: SocketAddr,
    pub(super) shared: Arc<FlowShared>,
    pub(super) cut: Arc<Signal>,
    pub(super) _open: ballast_balance::OpenConnection,
    pub(super) _in_flight: ballast_balance::InFlight,
    pub(super) _fd: FdSlot,
    pub(super) metrics: Option<Arc<ListenerMetrics>>,
    /// The flow's access-log line, written when it ends.
    pub(super) log: ConnLog,
    /// A flow whose listener lost track of it (a reload shrank the table) still ends.
    pub(super) idle: Duration,
    /// The listener's clock origin (ticks are milliseconds since).
    pub(super) epoch: Instant,
}

impl ReplyTask {
    pub(super) async fn run(self) {
        // The flow's own backstop, for a flow its listener lost track of (a reload shrank the
        // table): quiet both ways for twice the idle timeout. One timer for the flow's life,
        // moved on only when it fires, so a datagram costs no timer.
        let backstop = self.idle * 2;
        let quiet = tokio::time::sleep(backstop);
        tokio::pin!(quiet);
        // Once the process stops, the flow ends at a fixed time (datagrams do not extend it).
        let mut closing = false;
        let ending = loop {
            let stop = std::future::poll_fn(|cx| self.shared.stop.poll_raised(cx));
            let cut = std::future::poll_fn(|cx| self.cut.poll_raised(cx));
            tokio::select! {
                () = stop => break self.shared.why(),
                () = cut => break Ending::Deregistered,
                () = &mut quiet => {
                    if closing {
                        break Ending::Closed;
                    }
                    let last = self.shared.last_active.load(Ordering::Relaxed);
                    let since = Duration::from_millis(self.tick().saturating_sub(last));
                    if since >= backstop {
                        break Ending::Idle;
                    }
                    quiet.as_mut().reset(tokio::time::Instant::now() + (backstop - since));
                }
                () = std::future::poll_fn(|cx| self.shared.closing.poll_raised(cx)), if !closing => {
                    closing = true;
                    quiet.as_mut().reset(tokio::time::Instant::now() + CLOSING_GRACE);
                }
                // `poll_recv_ready` keeps the waker in the socket's own slot (this task is
                // its only reader); `readable()` would carry a waiter node in every task.
                readable = std::future::poll_fn(|cx| self.from.poll_recv_ready(cx)) => {
                    if readable.is_err() {
                        break Ending::TargetReset;
                    }
                    let n = match self.relay_reply() {
                        Reply::Sent(n) => n,
                        Reply::Later(datagram) => {
                            // The listener's socket is every flow's: its waiter list wakes
                            // each flow waiting on it (a `poll_send_to` waker slot would keep
                            // only the last one). Not `send_to`, whose future carries address
                            // resolution, and its size every flow's task.
                            let _ = self
                                .to
                                .async_io(tokio::io::Interest::WRITABLE, || {
                                    self.to.try_send_to(&datagram, self.client)
                                })
                                .await;
                            datagram.len()
                        }
                        Reply::Nothing => continue,
                        // A target that is gone (ICMP port unreachable) ends the flow; the
                        // client's next datagram opens a new one.
                        Reply::Failed => break Ending::TargetReset,
                    };
                    self.shared.from_target.fetch_add(n as u64, Ordering::Relaxed);
                    self.shared.last_active.fetch_max(self.tick(), Ordering::Relaxed);
                    if let Some(m) = &self.metrics {
                        m.sent_bytes.add(n as u64);
                    }
                }
            }
        };
        self.shared.ended.store(true, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.connections_active.dec();
        }
        self.log.flow_ended(
            ending,
            self.shared.from_client.load(Ordering::Relaxed),
            self.shared.from_target.load(Ordering::Relaxed),
        );
    }

    /// Milliseconds since the listener's clock origin.
    fn tick(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Reads one reply into the worker's scratch buffer and sends it on at once.
    fn relay_reply(&self) -> Reply {
        SCRATCH.with(|scratch| {
            let mut buf = scratch.borrow_mut();
            let n = match self.from.try_recv(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Reply::Nothing,
                Err(_) => return Reply::Failed,
            };
            match self.to.try_send_to(&buf[..n], self.client) {
                Ok(_) => Reply::Sent(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    Reply::Later(buf[..n].to_vec())
                }
                // The client's address cannot be sent to: the datagram is dropped.
                Err(_) => Reply::Sent(n),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_says_why_it_was_stopped() {
        for why in Ending::ALL {
            let shared = FlowShared::default();
            shared.end(why);
            assert_eq!(shared.why(), why);
        }
        assert_eq!(FlowShared::default().why(), Ending::Closed);
    }
}
