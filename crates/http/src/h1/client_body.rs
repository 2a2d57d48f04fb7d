//! A client's request body, read from its connection and framed again for the target:
//! `Content-Length` bodies pass as they are, chunked bodies are decoded and re-encoded in
//! canonical form (see `chunked`).

use std::task::{Context, Poll};

use std::time::Instant;

use super::io::{poll_read_into, ClientIo};
use crate::buf::{Buf, BufferPool};
use crate::codec::chunked::{write_chunk_head, write_last_chunk, ChunkedDecoder, Piece};
use crate::codec::request::BodyKind;
use crate::fault::{BodyError, Fault};
use crate::upstream::{Upload, UPLOAD_CHUNK};

/// Where a body is in its framing.
#[derive(Debug)]
enum State {
    Length(u64),
    Chunked(Box<ChunkedDecoder>),
    Done,
}

/// The body of the request being served, on its way to a target.
pub(crate) struct ClientBody<'a, S> {
    io: &'a mut S,
    buf: &'a mut Buf,
    pool: &'a BufferPool,
    state: State,
    /// Body bytes received (for the access log and metrics).
    pub(crate) received: u64,
    /// Whether any byte of the body was taken from the read buffer.
    started: bool,
    /// When body bytes last arrived (set when the body is first read).
    last_activity: Option<Instant>,
    /// When the body was first awaited (the minimum body rate counts from then).
    began: Option<Instant>,
    /// The client sent `Expect: 100-continue` and has not been answered yet.
    expects_continue: bool,
    continue_written: usize,
    /// Bytes as they are, unframed (for an HTTP/2 target): a chunked body's data without
    /// its chunk framing, its trailer section kept apart.
    raw: bool,
    trailer_section: Vec<u8>,
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

impl<'a, S: ClientIo> ClientBody<'a, S> {
    /// The body of a request framed as `kind`, whose head has been consumed from `buf`.
    pub(crate) fn new(
        io: &'a mut S,
        buf: &'a mut Buf,
        pool: &'a BufferPool,
        kind: BodyKind,
        max_trailers: usize,
        expects_continue: bool,
    ) -> Self {
        let state = match kind {
            BodyKind::None | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Length(n),
            BodyKind::Chunked => State::Chunked(Box::new(ChunkedDecoder::new(max_trailers))),
        };
        Self {
            io,
            buf,
            pool,
            state,
            received: 0,
            started: false,
            last_activity: None,
            began: None,
            expects_continue,
            continue_written: 0,
            raw: false,
            trailer_section: Vec::new(),
        }
    }

    /// The same body, its bytes taken unframed (for an HTTP/2 target).
    pub(crate) fn unframed(mut self) -> Self {
        self.raw = true;
        self
    }

    /// The trailer section of an unframed chunked body, once it ended (raw field lines).
    pub(crate) fn trailer_section(&self) -> &[u8] {
        &self.trailer_section
    }

    /// Whether the whole body has been read from the client.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Reads and discards the rest of the body, so the connection can serve the next
    /// request; gives up (`false`) beyond `limit` bytes.
    pub(crate) async fn discard(&mut self, limit: u64) -> bool {
        let mut sink = Vec::new();
        while !self.is_done() {
            sink.clear();
            let filled = std::future::poll_fn(|cx| self.poll_fill(cx, &mut sink)).await;
            if filled.is_err() || self.received > limit {
                return false;
            }
        }
        true
    }

    /// Takes body bytes out of the read buffer into `out`; `None`: more input is needed.
    fn take(&mut self, out: &mut Vec<u8>) -> Result<Option<bool>, Fault> {
        let available = self.buf.filled();
        match &mut self.state {
            State::Done => Ok(Some(true)),
            State::Length(left) => {
                if available.is_empty() {
                    return Ok(None);
                }
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(available.len())
                    .min(UPLOAD_CHUNK);
                out.extend_from_slice(&available[..n]);
                self.buf.consume(n);
                self.started = true;
                self.received += n as u64;
                *left -= n as u64;
                if *left == 0 {
                    self.state = State::Done;
                    return Ok(Some(true));
                }
                Ok(Some(false))
            }
            State::Chunked(decoder) => {
                let mut offset = 0;
                let mut done = false;
                while offset < available.len() && out.len() < UPLOAD_CHUNK {
                    let (n, piece) = decoder
                        .decode(&available[offset..])
                        .map_err(|e| Fault::BadRequestBody(BodyError::Chunked(e)))?;
                    match piece {
                        Some(Piece::Data { start, end }) => {
                            let data = &available[offset + start..offset + end];
                            if self.raw {
                                out.extend_from_slice(data);
                            } else {
                                write_chunk_head(out, data.len());
                                out.extend_from_slice(data);
                                out.extend_from_slice(b"\r\n");
                            }
                            self.received += data.len() as u64;
                        }
                        Some(Piece::End) => {
                            if self.raw {
                                self.trailer_section = decoder.trailers().to_vec();
                            } else {
                                write_last_chunk(out, decoder.trailers());
                            }
                            done = true;
                            offset += n;
                            break;
                        }
                        None => {}
                    }
                    offset += n;
                }
                self.buf.consume(offset);
                self.started |= offset > 0;
                if done {
                    self.state = State::Done;
                    return Ok(Some(true));
                }
                Ok((!out.is_empty()).then_some(false))
            }
        }
    }
}

impl<S: ClientIo> Upload for ClientBody<'_, S> {
    fn poll_fill(&mut self, cx: &mut Context<'_>, out: &mut Vec<u8>) -> Poll<Result<bool, Fault>> {
        if self.last_activity.is_none() && !self.is_done() {
            let now = Instant::now();
            self.last_activity = Some(now);
            self.began = Some(now);
        }
        loop {
            if let Some(done) = self.take(out)? {
                return Poll::Ready(Ok(done));
            }
            let max = self.buf.filled().len() + UPLOAD_CHUNK;
            self.buf.for_body(self.pool);
            match poll_read_into(self.io, self.buf, self.pool, max, cx) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(Fault::BadRequestBody(BodyError::Closed)))
                }
                Poll::Ready(Ok(_)) => self.last_activity = Some(Instant::now()),
                Poll::Ready(Err(e)) => {
                    return Poll::Ready(Err(Fault::BadRequestBody(BodyError::Io(e))))
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn poll_continue(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<bool>> {
        if !self.expects_continue {
            return Poll::Ready(Ok(false));
        }
        while self.continue_written < CONTINUE.len() {
            let rest = &CONTINUE[self.continue_written..];
            match std::pin::Pin::new(&mut *self.io).poll_write(cx, rest) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()))
                }
                Poll::Ready(Ok(n)) => self.continue_written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        match std::pin::Pin::new(&mut *self.io).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                self.expects_continue = false;
                Poll::Ready(Ok(true))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn last_activity(&self) -> Instant {
        self.last_activity.unwrap_or_else(Instant::now)
    }

    fn started(&self) -> bool {
        self.started
    }

    fn finished(&self) -> bool {
        self.is_done()
    }

    fn progress(&self) -> Option<(Instant, u64)> {
        self.began.map(|began| (began, self.received))
    }

    fn buffered_as_is(&self) -> &[u8] {
        match self.state {
            State::Length(left) if !self.raw => {
                let available = self.buf.filled();
                let n = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(available.len())
                    .min(UPLOAD_CHUNK);
                &available[..n]
            }
            _ => &[],
        }
    }

    fn took_as_is(&mut self, n: usize) -> bool {
        if let State::Length(left) = &mut self.state {
            let n = usize::try_from(*left).unwrap_or(usize::MAX).min(n);
            self.buf.consume(n);
            self.started |= n > 0;
            self.received += n as u64;
            *left -= n as u64;
            if *left == 0 {
                self.state = State::Done;
            }
        }
        self.is_done()
    }
}
