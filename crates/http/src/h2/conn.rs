//! An HTTP/2 client connection's shared state: activity and requests in flight for its
//! timers, read by the connection's watchdog and written by the socket wrapper and the
//! requests. Atomics only: hyper runs each stream's service future apart from the
//! connection future.

use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use ballast_telemetry::metrics::{Limit, ListenerMetrics};

use super::guard::{log_flood, FrameGuard};
use crate::conn::ConnCtx;
use crate::signal::Signal;

/// What every stream of one HTTP/2 connection shares.
#[derive(Debug)]
pub(crate) struct H2Conn {
    pub(crate) ctx: ConnCtx,
    pub(crate) state: Arc<ConnState>,
}

/// Shared by the socket wrapper, the requests and the connection's watchdog.
#[derive(Debug)]
pub(crate) struct ConnState {
    base: Instant,
    /// Requests whose response has not ended.
    in_flight: AtomicU32,
    /// Of those, the ones still waiting for a response head (timed by their group).
    awaiting: AtomicU32,
    /// Milliseconds since `base` of the last byte read or written.
    last_activity: AtomicU64,
    /// Streams begun so far, and how many the connection may carry
    /// (`max_requests_per_connection`).
    requests: AtomicU64,
    max_requests: Option<u64>,
    /// Raised when the last allowed stream begins: the connection sends GOAWAY.
    pub(crate) last_request: Signal,
}

/// Counts one request as in flight until dropped.
#[derive(Debug)]
pub(crate) struct RequestGuard {
    state: Arc<ConnState>,
    awaiting: bool,
}

/// Why the watchdog fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// Nothing in flight and nothing moved for the idle timeout.
    Idle,
    /// Responses in flight, but not a byte moved either way for the idle timeout (a client
    /// that stopped reading, a target that stopped sending).
    Stalled,
}

impl ConnState {
    /// A connection just set up, which may carry `max_requests` streams.
    pub(crate) fn new(max_requests: Option<u64>) -> Arc<Self> {
        Arc::new(Self {
            base: Instant::now(),
            in_flight: AtomicU32::new(0),
            awaiting: AtomicU32::new(0),
            last_activity: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            max_requests,
            last_request: Signal::default(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn touch(&self) -> u64 {
        let now = self.now_ms();
        self.last_activity.store(now, Ordering::Relaxed);
        now
    }

    /// A request arrived.
    pub(crate) fn begin_request(self: &Arc<Self>) -> RequestGuard {
        let begun = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if self.max_requests == Some(begun) {
            self.last_request.raise();
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.awaiting.fetch_add(1, Ordering::Relaxed);
        RequestGuard {
            state: Arc::clone(self),
            awaiting: true,
        }
    }

    /// Requests in flight.
    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// When the watchdog should look next, and what it would find if nothing moved.
    fn deadline(&self, idle: Duration) -> (Instant, Option<Expiry>) {
        let last = self.base + Duration::from_millis(self.last_activity.load(Ordering::Relaxed));
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        let awaiting = self.awaiting.load(Ordering::Relaxed);
        match (in_flight, awaiting) {
            (0, _) => (last + idle, Some(Expiry::Idle)),
            // Some request still waits for its head: its group's timeout bounds it.
            (_, a) if a > 0 => (Instant::now() + idle, None),
            _ => (last + idle, Some(Expiry::Stalled)),
        }
    }

    /// Waits until the connection has been idle, or stalled, for `idle`.
    pub(crate) async fn expired(
        &self,
        idle: Duration,
        mut sleep: Pin<&mut tokio::time::Sleep>,
    ) -> Expiry {
        loop {
            let (deadline, _) = self.deadline(idle);
            if sleep.deadline() != deadline {
                sleep.as_mut().reset(deadline);
            }
            sleep.as_mut().await;
            let (deadline, expiry) = self.deadline(idle);
            if let Some(expiry) = expiry {
                if Instant::now() >= deadline {
                    return expiry;
                }
            }
        }
    }
}

impl RequestGuard {
    /// The request's response head is on its way: it no longer waits on its group's timer.
    pub(crate) fn answered(&mut self) {
        if std::mem::take(&mut self.awaiting) {
            self.state.awaiting.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.answered();
        self.state.touch();
        self.state.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The client socket of an HTTP/2 connection: reports activity, watches frames for floods.
pub(crate) struct TrackedIo<T> {
    io: T,
    state: Arc<ConnState>,
    metrics: Option<Arc<ListenerMetrics>>,
    guard: FrameGuard,
    /// A flood was seen: the GOAWAY's bytes written so far (17 when done).
    goaway: Option<usize>,
}

impl<T> TrackedIo<T> {
    /// Watches `io`; header blocks may hold `max_header_bytes`; limits that fire are
    /// counted in `metrics`.
    pub(crate) fn new(
        io: T,
        state: Arc<ConnState>,
        max_header_bytes: usize,
        metrics: Option<Arc<ListenerMetrics>>,
    ) -> Self {
        Self {
            io,
            state,
            metrics,
            guard: FrameGuard::new(max_header_bytes),
            goaway: None,
        }
    }
}

impl<T: AsyncWrite + Unpin> TrackedIo<T> {
    /// Writes what is left of the GOAWAY when the server is between frames; then every
    /// operation fails, which ends the connection.
    fn poll_goaway(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        let frame = self.guard.goaway();
        if let Some(written) = self.goaway.as_mut() {
            while *written < frame.len() && self.guard.can_inject() {
                match Pin::new(&mut self.io).poll_write(cx, &frame[*written..]) {
                    Poll::Ready(Ok(n)) if n > 0 => *written += n,
                    Poll::Pending => return Poll::Pending,
                    _ => break,
                }
            }
            let _ = Pin::new(&mut self.io).poll_flush(cx);
        }
        Poll::Ready(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "HTTP/2 client abuse: connection closed with ENHANCE_YOUR_CALM",
        ))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.goaway.is_some() {
            return this.poll_goaway(cx).map(Err);
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        let filled = buf.filled().len();
        if filled > before {
            let now = this.state.touch();
            if let Some(flood) = this.guard.read(&buf.filled()[before..filled], now) {
                log_flood(flood);
                if let Some(m) = &this.metrics {
                    m.limit_hit(flood.limit());
                }
                this.goaway = Some(0);
                return this.poll_goaway(cx).map(Err);
            }
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if this.goaway.is_some() && this.guard.can_inject() {
            return this.poll_goaway(cx).map(Err);
        }
        let result = Pin::new(&mut this.io).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = result {
            if n > 0 {
                let refused = this.guard.wrote(&data[..n]);
                if let (Some(m), true) = (&this.metrics, refused > 0) {
                    for _ in 0..refused {
                        m.limit_hit(Limit::Http2RefusedStream);
                    }
                }
                this.state.touch();
            }
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_connections_expire_and_stalled_responses_too() {
        let idle = Duration::from_secs(60);
        let state = ConnState::new(None);
        let sleep = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(sleep);
        let start = Instant::now();
        assert_eq!(state.expired(idle, sleep.as_mut()).await, Expiry::Idle);
        assert_eq!(start.elapsed(), idle);
        // A request waiting for its head is its group's business.
        let mut guard = state.begin_request();
        let waited = tokio::time::timeout(
            Duration::from_secs(3600),
            state.expired(idle, sleep.as_mut()),
        )
        .await;
        assert!(waited.is_err());
        // Once answered, a response that moves nothing stalls.
        guard.answered();
        assert_eq!(state.expired(idle, sleep.as_mut()).await, Expiry::Stalled);
        drop(guard);
    }
}
