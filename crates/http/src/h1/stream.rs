//! A target's response body on its way to an HTTP/1 client: passed as it is when framed by
//! `Content-Length`, otherwise decoded and framed again for the client (chunked for
//! HTTP/1.1, delimited by closing the connection for HTTP/1.0). Moves at the speed of the
//! slower side; when neither side moves for the listener's idle timeout, both connections
//! are closed.

use std::pin::Pin;
use std::time::Duration;

use tokio::time::Sleep;

use super::io::ClientIo;
use crate::buf::BufferPool;
use crate::codec::chunked::{write_chunk_head, write_last_chunk, ChunkedDecoder, Piece};
use crate::codec::response::ResponseBody;
use crate::codec::write::ClientFraming;
use crate::timer::within;
use crate::upstream::Upstream;

/// Appends `data` (raw body bytes) framed for the client; returns its length.
fn frame(to: ClientFraming, out: &mut Vec<u8>, data: &[u8]) -> u64 {
    if data.is_empty() {
        return 0;
    }
    if to == ClientFraming::Chunked {
        write_chunk_head(out, data.len());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(data);
    }
    data.len() as u64
}

/// Writes `data` to the client and flushes it, within `idle`.
async fn write_within<S: ClientIo>(
    client: &mut S,
    data: &[u8],
    sleep: Pin<&mut Sleep>,
    idle: Duration,
) -> Result<(), StreamError> {
    use tokio::io::AsyncWriteExt;
    let write = std::pin::pin!(async {
        client.write_all(data).await?;
        client.flush().await
    });
    match within(sleep, idle, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(StreamError::Client(e)),
        Err(_) => Err(StreamError::Idle),
    }
}

/// Most bytes read from the target per step.
const STREAM_CHUNK: usize = 64 * 1024;

/// Why a response body did not reach its end.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StreamError {
    /// The target failed or closed early: the client sees the response cut.
    #[error("target failed mid-body: {0}")]
    Target(#[source] std::io::Error),
    /// The target sent a malformed chunked body.
    #[error("target sent a malformed body: {0}")]
    Framing(#[from] crate::codec::chunked::ChunkError),
    /// Writing to the client failed (it went away).
    #[error("client went away mid-body: {0}")]
    Client(#[source] std::io::Error),
    /// Neither side moved for the idle timeout (a client that stopped reading, a target
    /// that stopped sending).
    #[error("response body idle for the idle timeout")]
    Idle,
}

/// A response body's framing on both sides, and where it is.
#[derive(Debug)]
pub(crate) struct Download {
    from: From,
    to: ClientFraming,
    done: bool,
    /// Body bytes (decoded) sent to the client.
    pub(crate) sent: u64,
}

#[derive(Debug)]
enum From {
    None,
    Length(u64),
    Chunked(Box<ChunkedDecoder>),
    UntilClose,
}

impl Download {
    /// A body framed by the target as `body`, sent to the client as `to`.
    pub(crate) fn new(body: ResponseBody, to: ClientFraming) -> Self {
        let from = match body {
            ResponseBody::None | ResponseBody::Length(0) => From::None,
            ResponseBody::Length(n) => From::Length(n),
            ResponseBody::Chunked => From::Chunked(Box::new(ChunkedDecoder::new(64 * 1024))),
            ResponseBody::UntilClose => From::UntilClose,
        };
        Self {
            done: matches!(from, From::None),
            from,
            to,
            sent: 0,
        }
    }

    /// The trailer section of a chunked body, once read (raw, CRLF-terminated lines).
    pub(crate) fn trailers(&self) -> Option<&[u8]> {
        match &self.from {
            From::Chunked(decoder) if !decoder.trailers().is_empty() => Some(decoder.trailers()),
            _ => None,
        }
    }

    /// Whether the whole body was read from the target.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Moves body bytes from `up`'s buffer into `out`, framed for the client.
    pub(crate) fn transform(
        &mut self,
        up: &mut Upstream,
        out: &mut Vec<u8>,
    ) -> Result<(), StreamError> {
        if up.buf.is_empty() || self.done {
            return Ok(());
        }
        if let Some(n) = self.passes_through(up.buf.filled().len()) {
            out.extend_from_slice(&up.buf.filled()[..n]);
            self.passed(up, n);
            return Ok(());
        }
        let available = up.buf.filled();
        match &mut self.from {
            // Passed through above.
            From::None | From::Length(_) => {}
            From::UntilClose => {
                let n = available.len();
                self.sent += frame(self.to, out, &available[..n]);
                up.buf.consume(n);
            }
            From::Chunked(decoder) => {
                let mut offset = 0;
                while offset < available.len() {
                    let (n, piece) = decoder.decode(&available[offset..])?;
                    match piece {
                        Some(Piece::Data { start, end }) => {
                            let data = &available[offset + start..offset + end];
                            self.sent += data.len() as u64;
                            match self.to {
                                ClientFraming::Chunked => {
                                    write_chunk_head(out, data.len());
                                    out.extend_from_slice(data);
                                    out.extend_from_slice(b"\r\n");
                                }
                                _ => out.extend_from_slice(data),
                            }
                        }
                        Some(Piece::End) => {
                            if self.to == ClientFraming::Chunked {
                                write_last_chunk(out, decoder.trailers());
                            }
                            self.done = true;
                            offset += n;
                            break;
                        }
                        None => {}
                    }
                    offset += n;
                }
                up.buf.consume(offset);
            }
        }
        Ok(())
    }

    /// How many of the `available` bytes in the target's buffer go to the client as they
    /// are, when the body needs no framing of its own (a `Content-Length` body, or one that
    /// ends with the target's close going to a client whose connection ends it too); `None`
    /// when they must be framed again.
    fn passes_through(&self, available: usize) -> Option<usize> {
        match (&self.from, self.to) {
            (From::Length(left), _) => {
                Some(usize::try_from(*left).unwrap_or(usize::MAX).min(available))
            }
            (From::UntilClose, to) if to != ClientFraming::Chunked => Some(available),
            _ => None,
        }
    }

    /// Records `n` bytes of the target's buffer as sent to the client as they are.
    fn passed(&mut self, up: &mut Upstream, n: usize) {
        self.sent += n as u64;
        if let From::Length(left) = &mut self.from {
            *left -= n as u64;
            self.done = *left == 0;
        }
        up.buf.consume(n);
    }

    /// The target closed the connection: the end of an until-close body, else a cut one.
    pub(crate) fn end_of_stream(&mut self, out: &mut Vec<u8>) -> Result<(), StreamError> {
        match self.from {
            From::UntilClose => {
                if self.to == ClientFraming::Chunked {
                    out.extend_from_slice(b"0\r\n\r\n");
                }
                self.done = true;
                Ok(())
            }
            _ => Err(StreamError::Target(
                std::io::ErrorKind::UnexpectedEof.into(),
            )),
        }
    }

    /// Writes `out` (a response head with the first body bytes, already transformed) and
    /// streams the rest of the body; each wait is bounded by `idle`.
    pub(crate) async fn run<S: ClientIo>(
        &mut self,
        client: &mut S,
        up: &mut Upstream,
        out: &mut Vec<u8>,
        pool: &BufferPool,
        mut sleep: Pin<&mut Sleep>,
        idle: Duration,
    ) -> Result<(), StreamError> {
        loop {
            if !out.is_empty() {
                write_within(client, out, sleep.as_mut(), idle).await?;
                out.clear();
            }
            if self.done {
                return Ok(());
            }
            if let Some(n) = self.passes_through(up.buf.filled().len()) {
                // Written from the target's buffer, not copied into `out`: a body that
                // needs no framing of its own costs one buffer per response while it
                // streams, and `out` goes back to the pool until the exchange ends.
                if out.capacity() > 0 {
                    pool.give(std::mem::take(out));
                }
                if n > 0 {
                    write_within(client, &up.buf.filled()[..n], sleep.as_mut(), idle).await?;
                    self.passed(up, n);
                    continue;
                }
            }
            // In the poll: a read that finds nothing gives the buffer back, and the next one
            // must take a body-sized buffer again, not a head-sized one.
            let read = std::pin::pin!(std::future::poll_fn(|cx| {
                up.buf.for_body(pool);
                up.poll_read_buf(cx, pool, STREAM_CHUNK)
            }));
            match within(sleep.as_mut(), idle, read).await {
                Ok(Ok(0)) => self.end_of_stream(out)?,
                Ok(Ok(_)) if self.passes_through(0).is_some() => {}
                Ok(Ok(_)) => self.transform(up, out)?,
                Ok(Err(e)) => return Err(StreamError::Target(e)),
                Err(_) => return Err(StreamError::Idle),
            }
        }
    }
}
