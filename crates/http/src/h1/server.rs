//! An HTTP/1 client connection: wait for a request head, serve the request, and again, until
//! the client closes, a timeout fires or Ballast drains.
//!
//! Memory: between requests a plain-TCP connection holds no buffer (it waits on readiness
//! and gives its buffers back to the worker's pool), and the state of a request in progress
//! lives in a boxed future, so an idle connection costs a few hundred bytes.

use std::pin::Pin;
use std::task::Poll;

use ballast_config::HttpListenerLimits;
use tokio::time::{Instant, Sleep};

use super::conn::{Basics, H1Conn, Next};
use super::io::{poll_read_into, ClientIo};
use crate::buf::Buf;
use crate::codec::request::{parse_request, BodyKind, HeadError, HeadLimits, MethodKind};
use crate::conn::ConnCtx;
use crate::exchange::Exchange;
use crate::fault::Fault;
use crate::signal::Signal;
use crate::timer::{until, within, Elapsed};

/// What waiting for the next request found.
enum Wait {
    /// Bytes arrived (or are buffered).
    Ready,
    /// Time to close: idle or header timeout, the client closed, or a drain.
    Close,
}

/// A connection that turned out to speak HTTP/2: its context, stream and the bytes read.
pub(crate) type Http2<S> = (ConnCtx, (S, Vec<u8>));

/// Serves HTTP/1 on a client connection until it ends. With `sniff_h2`, a connection that
/// opens with the HTTP/2 preface is handed back instead, with what was read of it.
pub(crate) async fn serve_h1<S: ClientIo>(
    io: S,
    ctx: ConnCtx,
    limits: HttpListenerLimits,
    draining: std::sync::Arc<Signal>,
    sniff_h2: bool,
) -> Option<Http2<S>> {
    let accepted = Instant::now();
    let mut conn = H1Conn {
        io,
        rbuf: Buf::default(),
        ctx,
        limits,
        draining,
        served: 0,
        sniff_h2,
    };
    let sleep = tokio::time::sleep_until(accepted + limits.request_header_timeout);
    tokio::pin!(sleep);
    loop {
        // The first request's head is due within the header timeout from accept; later
        // ones, from their first byte.
        let head_due = if conn.served == 0 {
            Some(accepted + limits.request_header_timeout)
        } else {
            None
        };
        if let Wait::Close = conn.wait(sleep.as_mut(), head_due).await {
            break;
        }
        let next = Box::pin(conn.serve_one(sleep.as_mut(), head_due)).await;
        conn.served += 1;
        match next {
            Next::KeepAlive => {}
            Next::Close => break,
            Next::Http2 => {
                let read = conn.rbuf.filled().to_vec();
                conn.rbuf.consume(read.len());
                conn.rbuf.release(&conn.ctx.listener.buffers);
                return Some((conn.ctx, (conn.io, read)));
            }
        }
    }
    conn.close().await;
    None
}

impl<S: ClientIo> H1Conn<S> {
    /// Waits for the first byte of the next request, holding no buffer meanwhile. A drain
    /// closes an idle connection at once, but lets a just-accepted one send its first
    /// request (a client that connected a moment before the stop is not cut off).
    async fn wait(&mut self, mut sleep: Pin<&mut Sleep>, head_due: Option<Instant>) -> Wait {
        if !self.rbuf.is_empty() {
            return Wait::Ready;
        }
        self.rbuf.release(&self.ctx.listener.buffers);
        let idle = self.limits.idle_timeout;
        let fresh = self.served == 0;
        let (io, draining) = (&mut self.io, &self.draining);
        let ready = std::future::poll_fn(|cx| {
            if !fresh && draining.poll_raised(cx).is_ready() {
                return Poll::Ready(false);
            }
            io.poll_ready_to_read(cx).map(|r| r.is_ok())
        });
        // The idle deadline is fixed when the wait blocks (no clock read otherwise).
        let waited = match head_due {
            Some(due) => until(sleep.as_mut(), due, std::pin::pin!(ready)).await,
            None => within(sleep.as_mut(), idle, std::pin::pin!(ready)).await,
        };
        match waited {
            Ok(true) => Wait::Ready,
            Ok(false) | Err(Elapsed) => Wait::Close,
        }
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
                Ok(Some(head)) if !self.sniff_h2 => {
                    break self.proxy(head, &fields, sleep.as_mut()).await
                }
                Ok(_) => {}
                Err(error) if !self.sniff_h2 => break self.refuse(error, sleep.as_mut()).await,
                Err(_) => {}
            }
            let due = *deadline
                .get_or_insert_with(|| Instant::now() + self.limits.request_header_timeout);
            let max = limits.max_bytes + 1;
            let (io, rbuf) = (&mut self.io, &mut self.rbuf);
            let read = std::future::poll_fn(|cx| poll_read_into(io, rbuf, &pool, max, cx));
            match until(sleep.as_mut(), due, std::pin::pin!(read)).await {
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
    async fn refuse(&mut self, error: HeadError, sleep: Pin<&mut Sleep>) -> Next {
        let mut exchange = Exchange::new(self.ctx.metrics.as_ref());
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
                },
            );
        }
        // Nothing of the byte stream can be trusted after a refused head.
        self.rbuf.consume(self.rbuf.filled().len());
        let basics = Basics {
            minor: 1,
            method: MethodKind::Other,
            body: BodyKind::None,
            keep_alive: false,
            expect_continue: false,
        };
        self.fault(basics, Fault::Head(error), exchange, sleep)
            .await
    }

    /// Closes the connection politely: what was written goes out first.
    async fn close(&mut self) {
        use tokio::io::AsyncWriteExt;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.io.shutdown()).await;
        self.rbuf.consume(self.rbuf.filled().len());
        self.rbuf.release(&self.ctx.listener.buffers);
    }
}
