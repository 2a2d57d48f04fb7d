//! Per client connection: what it is doing, so it can be timed out for the right reason.
//!
//! A connection is either reading a request head (bounded by `request_header_timeout`, the
//! slowloris defence), busy with requests (bounded by the target group's timeouts), or idle
//! between requests (bounded by `idle_timeout`). The socket wrapper and the request guard
//! update a few atomics; a single sleep per connection checks them when it fires.

use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ballast_config::HttpListenerLimits;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

const NO_HEADER: u64 = u64::MAX;
const PROTO_UNKNOWN: u8 = 0;
const PROTO_H1: u8 = 1;
const PROTO_H2: u8 = 2;
/// The start of the HTTP/2 connection preface; no HTTP/1 method starts this way.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// Shared by the socket wrapper, the request guards and the connection's watchdog.
#[derive(Debug)]
pub(crate) struct ConnState {
    base: Instant,
    in_flight: AtomicU32,
    /// Milliseconds since `base` of the last byte read or written.
    last_activity: AtomicU64,
    /// Milliseconds since `base` when the current request head began, or `NO_HEADER`.
    header_started: AtomicU64,
    protocol: AtomicU8,
    /// Framing fields seen in the current HTTP/1 request head (`HEAD_*` bits).
    head_fields: AtomicU8,
}

/// The request head carried a `Content-Length` field.
pub(crate) const HEAD_CONTENT_LENGTH: u8 = 1;
/// The request head carried a `Transfer-Encoding` field.
pub(crate) const HEAD_TRANSFER_ENCODING: u8 = 2;

/// Why a connection's watchdog fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// The client took too long to send a request head: close at once.
    HeaderTimeout,
    /// Nothing happened for the idle timeout: close gracefully.
    Idle,
}

/// Counts one request as in flight on its connection until dropped.
#[derive(Debug)]
pub(crate) struct RequestGuard {
    state: Arc<ConnState>,
}

/// The client socket, reporting activity to [`ConnState`].
pub(crate) struct TrackedIo<T> {
    io: T,
    state: Arc<ConnState>,
    preface_seen: usize,
    scanner: HeadScanner,
}

/// Spots `Content-Length` and `Transfer-Encoding` field names in HTTP/1 request heads.
///
/// hyper resolves a head carrying both by dropping `Content-Length` before we see the
/// request, which would hide a smuggling attempt we must refuse. Only the first bytes of
/// each head line are examined, and only while a head is being read.
#[derive(Debug)]
struct HeadScanner {
    active: bool,
    /// Position in the current line; `SKIP` once the line cannot match.
    pos: usize,
    cl: bool,
    te: bool,
}

// === impl ConnState ===

impl ConnState {
    /// A connection just accepted: its first request head is due within the header timeout.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            base: Instant::now(),
            in_flight: AtomicU32::new(0),
            last_activity: AtomicU64::new(0),
            header_started: AtomicU64::new(0),
            protocol: AtomicU8::new(PROTO_UNKNOWN),
            head_fields: AtomicU8::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// A request head was complete and handed to the proxy. Returns the guard that counts it
    /// in flight, and the framing fields (`HEAD_*` bits) its head carried on the wire.
    pub(crate) fn begin_request(self: &Arc<Self>) -> (RequestGuard, u8) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.header_started.store(NO_HEADER, Ordering::Relaxed);
        let fields = self.head_fields.swap(0, Ordering::Relaxed);
        let guard = RequestGuard {
            state: Arc::clone(self),
        };
        (guard, fields)
    }

    /// Whether a request head is due or arriving: a fresh connection, or bytes of a head
    /// not yet handed to the proxy. A drain lets such a request in rather than cutting a
    /// connection the client has just opened (an upgrade or reload must not fail it).
    /// HTTP/2 is left out: its control frames (PING, WINDOW_UPDATE) look like the start of a
    /// head, and GOAWAY already lets a client finish what it sent.
    pub(crate) fn request_due(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
            && self.header_started.load(Ordering::Relaxed) != NO_HEADER
            && self.protocol.load(Ordering::Relaxed) != PROTO_H2
    }

    /// How long since a byte last moved on this connection.
    pub(crate) fn idle_for(&self) -> Duration {
        let last = self.last_activity.load(Ordering::Relaxed);
        Duration::from_millis(self.now_ms().saturating_sub(last))
    }

    /// Records bytes read; returns whether they begin a new request head.
    fn on_read(&self) -> bool {
        let now = self.now_ms();
        self.last_activity.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.header_started.load(Ordering::Relaxed) == NO_HEADER
        {
            self.header_started.store(now, Ordering::Relaxed);
            self.head_fields.store(0, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// Writes only matter to the idle clock when no request is in flight (a response's
    /// last bytes after its guard dropped, HTTP/2 control frames); while one is, the guard's
    /// drop stamps the time, so the clock is not read per write.
    fn on_write(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            self.last_activity.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    /// When the connection should next be looked at, and what it would mean if nothing
    /// changed by then (`None`: busy, look again later).
    fn deadline(&self, limits: &HttpListenerLimits) -> (Instant, Option<Expiry>) {
        let at = |ms: u64, after: Duration| self.base + Duration::from_millis(ms) + after;
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return (Instant::now() + limits.idle_timeout, None);
        }
        let header = self.header_started.load(Ordering::Relaxed);
        // HTTP/2 clients send control frames (PING, SETTINGS) between requests; only the idle
        // rule applies to them.
        if header != NO_HEADER && self.protocol.load(Ordering::Relaxed) != PROTO_H2 {
            return (
                at(header, limits.request_header_timeout),
                Some(Expiry::HeaderTimeout),
            );
        }
        let last = self.last_activity.load(Ordering::Relaxed);
        (at(last, limits.idle_timeout), Some(Expiry::Idle))
    }

    /// Waits until the connection has been stuck in one phase for too long.
    ///
    /// Cancel-safe: the only state is `sleep`, which the caller keeps across calls.
    pub(crate) async fn expired(
        &self,
        limits: &HttpListenerLimits,
        mut sleep: Pin<&mut Sleep>,
    ) -> Expiry {
        loop {
            // Phase changes are not signalled to this sleep, and a change can bring a deadline
            // closer (a request ends: idle time starts counting). Waking at least every
            // shortest timeout bounds how late such a deadline can be noticed by zero:
            // any new deadline is at least that far from the moment it is created.
            let (deadline, _) = self.deadline(limits);
            let step = limits.request_header_timeout.min(limits.idle_timeout);
            let wake = deadline.min(Instant::now() + step);
            if sleep.deadline() != wake {
                sleep.as_mut().reset(wake);
            }
            sleep.as_mut().await;
            let (deadline, expiry) = self.deadline(limits);
            if let Some(expiry) = expiry {
                if Instant::now() >= deadline {
                    return expiry;
                }
            }
        }
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.state
            .last_activity
            .store(self.state.now_ms(), Ordering::Relaxed);
        self.state.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

// === impl TrackedIo ===

impl<T> TrackedIo<T> {
    pub(crate) fn new(io: T, state: Arc<ConnState>) -> Self {
        Self {
            io,
            state,
            preface_seen: 0,
            scanner: HeadScanner::new(),
        }
    }

    /// Recognises HTTP/2 prior knowledge from the first bytes, as the server does.
    fn sniff(&mut self, bytes: &[u8]) {
        if self.state.protocol.load(Ordering::Relaxed) != PROTO_UNKNOWN {
            return;
        }
        let want = &H2_PREFACE[self.preface_seen..];
        let n = want.len().min(bytes.len());
        let proto = if bytes[..n] != want[..n] {
            PROTO_H1
        } else if self.preface_seen + n == H2_PREFACE.len() {
            PROTO_H2
        } else {
            self.preface_seen += n;
            return;
        };
        self.state.protocol.store(proto, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        let filled = buf.filled().len();
        if filled > before {
            let bytes = &buf.filled()[before..filled];
            this.sniff(bytes);
            if this.state.on_read() {
                this.scanner = HeadScanner::new();
            }
            if this.scanner.active && this.state.protocol.load(Ordering::Relaxed) != PROTO_H2 {
                let found = this.scanner.scan(bytes);
                if found != 0 {
                    this.state.head_fields.fetch_or(found, Ordering::Relaxed);
                }
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
        let result = Pin::new(&mut self.io).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.state.on_write();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.state.on_write();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

// === impl HeadScanner ===

const SKIP: usize = usize::MAX;
const CL_NAME: &[u8] = b"content-length:";
const TE_NAME: &[u8] = b"transfer-encoding:";

impl HeadScanner {
    fn new() -> Self {
        Self {
            active: true,
            pos: 0,
            cl: true,
            te: true,
        }
    }

    fn new_line(&mut self) {
        self.pos = 0;
        self.cl = true;
        self.te = true;
    }

    /// Scans the next bytes of a head; returns the `HEAD_*` bits of fields completed in them.
    fn scan(&mut self, mut bytes: &[u8]) -> u8 {
        let mut found = 0;
        while self.active && !bytes.is_empty() {
            if self.pos == SKIP {
                match bytes.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        bytes = &bytes[i + 1..];
                        self.new_line();
                        continue;
                    }
                    None => break,
                }
            }
            let b = bytes[0].to_ascii_lowercase();
            bytes = &bytes[1..];
            if b == b'\n' {
                // An empty line ends the head: what follows is body.
                if self.pos == 0 {
                    self.active = false;
                }
                self.new_line();
                continue;
            }
            if b == b'\r' && self.pos == 0 {
                continue;
            }
            self.cl &= CL_NAME.get(self.pos) == Some(&b);
            self.te &= TE_NAME.get(self.pos) == Some(&b);
            self.pos += 1;
            if self.cl && self.pos == CL_NAME.len() {
                found |= HEAD_CONTENT_LENGTH;
            }
            if self.te && self.pos == TE_NAME.len() {
                found |= HEAD_TRANSFER_ENCODING;
            }
            if !self.cl && !self.te || self.pos >= TE_NAME.len() {
                self.pos = SKIP;
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> HttpListenerLimits {
        HttpListenerLimits {
            request_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 65536,
            max_headers: 100,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn silent_new_connection_hits_the_header_timeout() {
        let state = ConnState::new();
        let sleep = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(sleep);
        let start = Instant::now();
        assert_eq!(state.expired(&limits(), sleep).await, Expiry::HeaderTimeout);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_keep_alive_connection_hits_the_idle_timeout() {
        let state = ConnState::new();
        drop(state.begin_request());
        let sleep = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(sleep);
        let start = Instant::now();
        assert_eq!(state.expired(&limits(), sleep).await, Expiry::Idle);
        assert_eq!(start.elapsed(), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn busy_connection_never_expires() {
        let state = ConnState::new();
        let _guard = state.begin_request();
        let sleep = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(sleep);
        let timed =
            tokio::time::timeout(Duration::from_secs(3600), state.expired(&limits(), sleep)).await;
        assert!(timed.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn first_byte_of_a_new_request_starts_the_header_clock() {
        let state = ConnState::new();
        drop(state.begin_request());
        tokio::time::advance(Duration::from_secs(30)).await;
        state.on_read();
        let sleep = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(sleep);
        let start = Instant::now();
        assert_eq!(state.expired(&limits(), sleep).await, Expiry::HeaderTimeout);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_ending_brings_the_idle_deadline_in_even_mid_sleep() {
        let limits = HttpListenerLimits {
            request_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(1),
            ..limits()
        };
        let state = ConnState::new();
        let sleep = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(sleep);
        let start = Instant::now();
        let watch = state.expired(&limits, sleep);
        tokio::pin!(watch);
        // The watchdog is asleep on the header deadline when a request comes and goes.
        assert!(futures_poll_once(watch.as_mut()).await.is_none());
        drop(state.begin_request());
        assert_eq!(watch.await, Expiry::Idle);
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    async fn futures_poll_once<F: std::future::Future + Unpin>(f: F) -> Option<F::Output> {
        tokio::time::timeout(Duration::ZERO, f).await.ok()
    }

    #[test]
    fn head_scanner_finds_framing_fields_in_any_case_and_split_reads() {
        let mut scanner = HeadScanner::new();
        let head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-LENGTH: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut found = 0;
        for chunk in head.chunks(3) {
            found |= scanner.scan(chunk);
        }
        assert_eq!(found, HEAD_CONTENT_LENGTH | HEAD_TRANSFER_ENCODING);
        assert!(!scanner.active, "the blank line ends the head");
        // Body bytes after the head are not scanned.
        assert_eq!(scanner.scan(b"content-length: 1\r\n"), 0);
    }

    #[test]
    fn head_scanner_ignores_lookalikes() {
        let mut scanner = HeadScanner::new();
        let head =
            b"GET /content-length: HTTP/1.1\r\nX-Content-Length: 1\r\nContent-Lengthy: 2\r\n\r\n";
        assert_eq!(scanner.scan(head), 0);
    }

    #[test]
    fn sniffs_the_h2_preface_across_reads() {
        let state = ConnState::new();
        let mut io = TrackedIo::new((), Arc::clone(&state));
        io.sniff(b"PRI * HT");
        assert_eq!(state.protocol.load(Ordering::Relaxed), PROTO_UNKNOWN);
        io.sniff(b"TP/2.0\r\n\r\nSM");
        assert_eq!(state.protocol.load(Ordering::Relaxed), PROTO_H2);

        let state = ConnState::new();
        let mut io = TrackedIo::new((), Arc::clone(&state));
        io.sniff(b"GET / HTTP/1.1\r\n");
        assert_eq!(state.protocol.load(Ordering::Relaxed), PROTO_H1);
    }
}
