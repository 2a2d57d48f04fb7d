//! An HTTP/1 client connection: wait for a request head, serve the request, and again, until
//! the client closes, a timeout fires or Ballast drains.
//!
//! Memory: between requests a plain-TCP connection holds no buffer (it waits on readiness
//! and gives its buffers back to the worker's pool), and the state of a request in progress
//! lives in a boxed future, so an idle connection costs a few hundred bytes.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use tokio::time::{Instant, Sleep};

use super::conn::{Basics, H1Conn, Next};
use super::io::{poll_read_into, ClientIo};
use crate::codec::desync::{action, DesyncAction, DesyncReason};
use crate::codec::request::{parse_request, BodyKind, HeadError, HeadLimits, MethodKind};
use crate::exchange::Exchange;
use crate::fault::Fault;
use crate::timer::{until, Deadline, Elapsed};

/// How long a lingering close waits for the client to close, and how much it reads.
const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(5);
const LINGER_BYTES: usize = 16 * 1024 * 1024;

/// Serves HTTP/1 on a client connection until it ends. A connection that opens with the
/// HTTP/2 preface (when sniffing) goes on as HTTP/2 in a task of its own, with what was
/// read of it.
///
/// This future lives as long as the connection: its size is what an idle keep-alive
/// connection costs, so the waiting is written out here rather than in nested futures, and a
/// request in progress lives in a boxed future. Not an `async fn`: one keeps its argument
/// twice (as the argument and as the local it is moved into), which would add the
/// connection's state again to every connection.
// Clippy would make this an `async fn` again, which is the point of not being one.
#[allow(clippy::manual_async_fn)]
pub(crate) fn serve_h1<S: ClientIo + 'static>(
    mut conn: H1Conn<S>,
) -> impl Future<Output = ()> + Send {
    async move {
        // The connection's one timer, boxed: it goes into each request's future with the
        // connection, and that future lives in a pooled box (`request_box`).
        let mut sleep = Box::pin(tokio::time::sleep_until(conn.first_head_due));
        loop {
            if conn.rbuf.is_empty() {
                // Wait for the next request holding no buffer. A drain closes an idle
                // connection at once, but lets a just-accepted one send its first request (a
                // client that connected a moment before the stop is not cut off). The idle
                // deadline is fixed when the wait blocks (no clock read otherwise).
                conn.rbuf.release(&conn.ctx.listener.buffers);
                let fresh = conn.served == 0;
                let mut deadline = match conn.head_due() {
                    Some(due) => Deadline::at(due),
                    None => Deadline::after(conn.limits.idle_timeout),
                };
                // One reference to the connection and one to the timer: what this wait keeps
                // sizes every idle connection's task.
                let (waiting, timer) = (&mut conn, &mut sleep);
                let ready = std::future::poll_fn(move |cx| {
                    if !fresh && waiting.draining.poll_raised(cx).is_ready() {
                        return Poll::Ready(false);
                    }
                    if let Poll::Ready(result) = waiting.io.poll_ready_to_read(cx) {
                        return Poll::Ready(result.is_ok());
                    }
                    deadline.poll(timer.as_mut(), cx).map(|_| false)
                })
                .await;
                if !ready {
                    break;
                }
            }
            // The request's future owns the connection and its timer while it runs, so its
            // box can be reused by the next request on this worker (no allocation). Nothing
            // else is kept across this wait: it sizes every idle connection's task.
            let mut request = super::request_box::boxed(async move {
                let head_due = conn.head_due();
                let next = conn.serve_one(sleep.as_mut(), head_due).await;
                (conn, sleep, next)
            });
            let next;
            (conn, sleep, next) = (&mut request).await;
            super::request_box::give_back(request);
            match next {
                Next::KeepAlive => conn.served = conn.served.saturating_add(1),
                // The socket said readable but held nothing (as a just-accepted one does): wait
                // again, holding no buffer.
                Next::Idle => {}
                Next::Close => break,
                Next::Http2 => return conn.into_http2(),
            }
        }
        // Boxed: the closing wait is needed once, and must not size the connection's state.
        Box::pin(conn.close()).await;
    }
}

impl<S: ClientIo> H1Conn<S> {
    /// When the next request's head is due, if fixed: the first request's within the header
    /// timeout from accept; later ones' from their first byte (`None`).
    fn head_due(&self) -> Option<Instant> {
        (self.served == 0).then_some(self.first_head_due)
    }

    /// Goes on as HTTP/2 (h2c with prior knowledge) in a task of its own, the bytes read so
    /// far read again first.
    fn into_http2(mut self) {
        let read = self.rbuf.filled().to_vec();
        self.rbuf.consume(read.len());
        self.rbuf.release(&self.ctx.listener.buffers);
        let shared = std::sync::Arc::clone(&self.ctx.listener);
        // Its requests will not hold the socket: the address it reached is kept for
        // PROXY headers to targets.
        if self.ctx.destination.is_none() {
            self.ctx.destination = self.io.local_addr().ok().map(Box::new);
        }
        let io = crate::prior::Rewind::new(self.io, read);
        shared.connections.spawn(Box::pin(crate::h2::serve_h2(
            io,
            self.ctx,
            self.limits,
            self.draining,
        )));
    }

    /// Reads a request head (bounded by the header timeout) and serves the request.
    async fn serve_one(&mut self, mut sleep: Pin<&mut Sleep>, head_due: Option<Instant>) -> Next {
        let pool = std::sync::Arc::clone(&self.ctx.listener.buffers);
        let limits = HeadLimits {
            max_bytes: self.limits.max_header_bytes,
            max_fields: self.limits.max_headers,
        };
        let mut fields = pool.take_fields();
        let mut deadline = head_due;
        let next = loop {
            if self.sniff_h2 {
                match crate::prior::is_preface(self.rbuf.filled()) {
                    Some(true) => break Next::Http2,
                    Some(false) => self.sniff_h2 = false,
                    None => {}
                }
            }
            match parse_request(self.rbuf.filled(), limits, &mut fields) {
                Ok(Some(mut head)) if !self.sniff_h2 => {
                    if head.desync != DesyncReason::Compliant {
                        if let Some(m) = &self.ctx.metrics {
                            m.desync_seen(head.desync);
                        }
                        match action(self.limits.desync_mode, head.desync.class()) {
                            DesyncAction::Serve => {}
                            DesyncAction::ServeThenClose => {
                                head.keep_alive = false;
                                self.linger = true;
                            }
                            DesyncAction::Refuse => {
                                let error = HeadError::Desync(head.desync);
                                break self.refuse(error, true, sleep.as_mut()).await;
                            }
                        }
                    }
                    // When the head began: its deadline less the header timeout (none was
                    // set when the head came in one read, which is as good as now).
                    let began =
                        deadline.map(|d| (d - self.limits.request_header_timeout).into_std());
                    break self.proxy(head, &fields, began, sleep.as_mut()).await;
                }
                Ok(_) => {}
                Err(error) if !self.sniff_h2 => {
                    break self.refuse(error, false, sleep.as_mut()).await
                }
                Err(_) => {}
            }
            let max = limits.max_bytes + 1;
            let (io, rbuf) = (&mut self.io, &mut self.rbuf);
            let first_byte = rbuf.is_empty();
            let mut read = std::pin::pin!(std::future::poll_fn(|cx| poll_read_into(
                io, rbuf, &pool, max, cx
            )));
            if first_byte {
                // Readiness can be stale (tokio reports a new socket readable): a read that
                // finds nothing sends the connection back to wait without a buffer.
                let tried = std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
                match tried {
                    Poll::Pending => break Next::Idle,
                    Poll::Ready(Ok(n)) if n > 0 => continue,
                    Poll::Ready(_) => break Next::Close,
                }
            }
            let due = *deadline
                .get_or_insert_with(|| Instant::now() + self.limits.request_header_timeout);
            match until(sleep.as_mut(), due, read).await {
                Ok(Ok(n)) if n > 0 => {}
                // The client closed mid-head, failed, or was too slow: close, no answer
                // (the slowloris defence).
                Ok(_) | Err(Elapsed) => break Next::Close,
            }
        };
        pool.give_fields(fields);
        next
    }

    /// Answers a head the parser refused, and closes.
    /// `counted`: the head's desync class was counted already (the mode refused it).
    async fn refuse(&mut self, error: HeadError, counted: bool, sleep: Pin<&mut Sleep>) -> Next {
        let mut exchange = Exchange::new(self.ctx.metrics.as_ref());
        // The parser's own desync refusals (a NUL before the target, a method that is no
        // token) are counted here.
        if let (HeadError::Desync(reason), Some(m), false) = (error, &self.ctx.metrics, counted) {
            m.desync_seen(reason);
        }
        let sink = self.ctx.listener.snapshot.load().access_log.clone();
        if let Some(sink) = sink {
            // What the head said cannot be trusted: the line shows `-` for the request.
            exchange.start_log(
                &sink,
                &crate::exchange::LogFacts {
                    listener: &self.ctx.listener.name.0,
                    client: self.ctx.peer,
                    scheme: self.ctx.scheme(),
                    method: b"-",
                    authority: b"",
                    target: b"",
                    version: "-",
                    user_agent: None,
                    tls: self.ctx.tls.as_deref(),
                    desync: match error {
                        HeadError::Desync(reason) => Some(reason),
                        _ => None,
                    },
                },
            );
        }
        // Nothing of the byte stream can be trusted after a refused head.
        self.rbuf.consume(self.rbuf.filled().len());
        self.linger = true;
        let basics = Basics {
            minor: 1,
            method: MethodKind::Other,
            body: BodyKind::None,
            keep_alive: false,
            expect_continue: false,
            upgrade: false,
            codings: false,
            close_target: true,
        };
        self.fault(basics, Fault::Head(error), exchange, sleep)
            .await
    }

    /// Closes the connection politely: what was written goes out first. When the client may
    /// still be sending, what it sends is read and dropped until it closes too (a lingering
    /// close, as NGINX does): closing with unread bytes would send a reset, which can make
    /// the client's stack drop the answer before its application reads it.
    async fn close(&mut self) {
        use tokio::io::AsyncWriteExt;
        if S::SHUTS_DOWN_ON_CLOSE || self.linger {
            let shutdown = self.io.shutdown();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), shutdown).await;
        }
        self.rbuf.consume(self.rbuf.filled().len());
        if self.linger {
            let pool = std::sync::Arc::clone(&self.ctx.listener.buffers);
            let until = Instant::now() + LINGER_TIME;
            let mut dropped = 0;
            while dropped < LINGER_BYTES {
                let (io, rbuf) = (&mut self.io, &mut self.rbuf);
                let read =
                    std::future::poll_fn(|cx| poll_read_into(io, rbuf, &pool, 16 * 1024, cx));
                match tokio::time::timeout_at(until, read).await {
                    Ok(Ok(n)) if n > 0 => {
                        dropped += n;
                        self.rbuf.consume(n);
                    }
                    _ => break,
                }
            }
        }
        self.rbuf.release(&self.ctx.listener.buffers);
    }
}
