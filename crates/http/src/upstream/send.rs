//! One exchange with a target, up to its response head: the request head and body are
//! written while the connection is read, so a target that answers early (401, 413) is heard
//! at once, and interim responses (`100 Continue`) are relayed to a client waiting for them.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::time::Instant;

use super::Upstream;
use crate::buf::BufferPool;
use crate::codec::{parse_response, Field, HeadLimits, ResponseHead};
use crate::fault::Fault;

/// Most body bytes framed for the target at a time.
pub(crate) const UPLOAD_CHUNK: usize = 64 * 1024;

/// Limits of a target's response head.
pub(crate) const RESPONSE_HEAD_LIMITS: HeadLimits = HeadLimits {
    max_bytes: 64 * 1024,
    max_fields: 256,
};

/// A request body on its way to a target.
pub(crate) trait Upload {
    /// Appends the next body bytes to `out`, framed for the target; `Ok(true)` once the body
    /// is complete (its last bytes are in `out`).
    fn poll_fill(&mut self, cx: &mut Context<'_>, out: &mut Vec<u8>) -> Poll<Result<bool, Fault>>;

    /// Relays the target's `100 Continue` to the client when it asked for one
    /// (`Expect: 100-continue`); `false`: it did not, and nothing is written.
    fn poll_continue(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<bool>>;

    /// When the client last sent body bytes (the request is timed on it while uploading).
    fn last_activity(&self) -> Instant;

    /// Whether any of the body was taken from the client (the request can then no longer
    /// be sent again whole).
    fn started(&self) -> bool;

    /// Whether the whole body was taken from the client.
    fn finished(&self) -> bool;

    /// When the client's body was first awaited and how many bytes have come since, for
    /// the minimum body rate; `None`: not timed so (the default).
    fn progress(&self) -> Option<(Instant, u64)> {
        None
    }

    /// The start of a body that goes to the target as it is (a `Content-Length` body) and
    /// is already buffered: it is written in the same system call as the request head, and
    /// what that call writes of it is taken only then ([`Upload::took_as_is`]), so a first
    /// write that fails takes none of the body. Whatever that call leaves goes the usual
    /// way ([`Upload::poll_fill`]). Empty by default.
    fn buffered_as_is(&self) -> &[u8] {
        &[]
    }

    /// Takes the first `n` bytes of [`Upload::buffered_as_is`] as written; `true` once the
    /// whole body is taken.
    fn took_as_is(&mut self, _n: usize) -> bool {
        false
    }
}

/// What the request is, for the retry rules and for what may answer it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestKind {
    /// `HEAD`: no response body.
    pub(crate) head: bool,
    /// Safe to send twice (RFC 9110 §9.2.2).
    pub(crate) idempotent: bool,
    /// Has no body.
    pub(crate) bodiless: bool,
    /// Asks for a protocol upgrade: a `101` is its answer.
    pub(crate) upgrade: bool,
    /// When the whole request must have arrived from the client (the listener's
    /// `request_timeout`); `None`: no such bound.
    pub(crate) due: Option<Instant>,
    /// The slowest the body may arrive (the listener's `min_request_body_rate`).
    pub(crate) min_rate: Option<ballast_config::MinBodyRate>,
}

/// How an exchange failed before a response head, with what the retry rules need.
#[derive(Debug)]
pub(crate) struct SendFailure {
    pub(crate) fault: Fault,
    /// No byte of the request reached the connection.
    pub(crate) unsent: bool,
    /// Body bytes were taken from the client (the request can no longer be sent whole).
    pub(crate) body_started: bool,
    /// No byte of a response was read.
    pub(crate) silent: bool,
}

/// Writes `head` and the body, and reads the response head; see the module docs.
pub(crate) struct RoundTrip<'a, U> {
    up: &'a mut Upstream,
    upload: &'a mut U,
    pool: &'a BufferPool,
    fields: &'a mut Vec<Field>,
    head: &'a [u8],
    head_written: usize,
    body: Vec<u8>,
    body_written: usize,
    body_done: bool,
    body_started: bool,
    /// When the last body byte was handed to the connection.
    pub(crate) done_at: Option<Instant>,
    /// When the connection last took body bytes (a target that stops reading is timed
    /// from then).
    last_write: Instant,
    flushed: bool,
    /// An interim head being relayed: its length in `up.buf`.
    interim: Option<usize>,
    kind: RequestKind,
    read_any: bool,
}

impl<'a, U: Upload> RoundTrip<'a, U> {
    /// An exchange on `up`; `kind` says whether a body or a `101` may answer it;
    /// `started`: when the request began (a bodiless one is timed from then).
    pub(crate) fn new(
        up: &'a mut Upstream,
        head: &'a [u8],
        upload: &'a mut U,
        pool: &'a BufferPool,
        fields: &'a mut Vec<Field>,
        kind: RequestKind,
        started: Instant,
    ) -> Self {
        let bodiless = upload.finished();
        Self {
            up,
            upload,
            pool,
            fields,
            head,
            head_written: 0,
            body: Vec::new(),
            body_written: 0,
            body_done: bodiless,
            body_started: false,
            // A bodiless request is timed from its start (no clock read for it).
            done_at: bodiless.then_some(started),
            last_write: started,
            flushed: false,
            interim: None,
            kind,
            read_any: false,
        }
    }

    /// Whether the whole request body was taken from the client.
    pub(crate) fn body_done(&self) -> bool {
        self.body_done
    }

    /// Whether the whole request, head and body, was written and flushed to the target: only
    /// then may the connection carry another request (a target that answered early and
    /// left part of the body unread would take the next request as the rest of this one).
    pub(crate) fn request_sent(&self) -> bool {
        self.body_done
            && self.flushed
            && self.head_written == self.head.len()
            && self.body_written == self.body.len()
    }

    /// Bytes taken from the client wait for the target to read them: a stall is then the
    /// target's, timed from when it last took bytes.
    pub(crate) fn waiting_on_target(&self) -> Option<Instant> {
        let pending = self.head_written < self.head.len() || self.body_written < self.body.len();
        pending.then_some(self.last_write)
    }

    /// When the client last sent body bytes.
    pub(crate) fn last_activity(&self) -> Instant {
        self.upload.last_activity()
    }

    /// When the body is too slow for the minimum rate, if it is timed so.
    pub(crate) fn too_slow_at(&self) -> Option<Instant> {
        let (began, received) = self.upload.progress()?;
        Some(self.kind.min_rate?.deadline(began, received))
    }

    /// A failure with the state the retry rules need.
    pub(crate) fn failure(&self, fault: Fault) -> SendFailure {
        SendFailure {
            fault,
            unsent: self.head_written == 0,
            body_started: self.body_started,
            silent: !self.read_any,
        }
    }

    /// The target's connection took no byte of a write.
    fn write_zero(&self) -> SendFailure {
        self.failure(Fault::TargetClosed(Some(
            std::io::ErrorKind::WriteZero.into(),
        )))
    }

    fn fail(&self, fault: Fault) -> Poll<Result<ResponseHead, SendFailure>> {
        Poll::Ready(Err(self.failure(fault)))
    }

    /// Moves the request forward: returns whether anything happened.
    fn poll_upload(&mut self, cx: &mut Context<'_>) -> Result<bool, SendFailure> {
        let mut progressed = false;
        loop {
            let pending = if self.head_written < self.head.len() {
                let as_is = self.upload.buffered_as_is();
                if !as_is.is_empty() && self.body.is_empty() {
                    // A body that came with its head goes with it: one write and one
                    // segment to the target, not two.
                    let head = &self.head[self.head_written..];
                    match self.up.poll_write_two(cx, head, as_is) {
                        Poll::Ready(Ok(n)) if n > 0 => {
                            let in_head = n.min(head.len());
                            self.head_written += in_head;
                            if n > in_head {
                                self.body_started = true;
                                self.last_write = Instant::now();
                                if self.upload.took_as_is(n - in_head) {
                                    self.body_done = true;
                                    self.done_at = Some(self.last_write);
                                }
                            }
                            progressed = true;
                            continue;
                        }
                        Poll::Ready(Ok(_)) => return Err(self.write_zero()),
                        Poll::Ready(Err(e)) => {
                            return Err(self.failure(Fault::TargetClosed(Some(e))))
                        }
                        Poll::Pending => return Ok(progressed),
                    }
                }
                &self.head[self.head_written..]
            } else if self.body_written < self.body.len() {
                &self.body[self.body_written..]
            } else if !self.body_done {
                if self.body.capacity() == 0 {
                    self.body = self.pool.take();
                }
                self.body.clear();
                self.body_written = 0;
                match self.upload.poll_fill(cx, &mut self.body) {
                    Poll::Ready(Ok(done)) => {
                        self.body_started |= !self.body.is_empty() || done;
                        self.body_done = done;
                        if done {
                            // The response timeout counts from the end of the body.
                            self.done_at = Some(Instant::now());
                        }
                        self.flushed = false;
                        progressed = true;
                        continue;
                    }
                    Poll::Ready(Err(fault)) => return Err(self.failure(fault)),
                    Poll::Pending => return Ok(progressed),
                }
            } else {
                if !self.flushed {
                    match Pin::new(&mut *self.up).poll_flush_io(cx) {
                        Poll::Ready(Ok(())) => self.flushed = true,
                        Poll::Ready(Err(e)) => {
                            return Err(self.failure(Fault::TargetClosed(Some(e))))
                        }
                        Poll::Pending => return Ok(progressed),
                    }
                }
                return Ok(progressed);
            };
            match self.up.poll_write(cx, pending) {
                Poll::Ready(Ok(0)) => return Err(self.write_zero()),
                Poll::Ready(Ok(n)) => {
                    if self.head_written < self.head.len() {
                        self.head_written += n;
                    } else {
                        self.body_written += n;
                        self.last_write = Instant::now();
                    }
                    progressed = true;
                }
                Poll::Ready(Err(e)) => return Err(self.failure(Fault::TargetClosed(Some(e)))),
                Poll::Pending => return Ok(progressed),
            }
        }
    }
}

impl<U> Drop for RoundTrip<'_, U> {
    /// The body's buffer goes back to the worker's pool.
    fn drop(&mut self) {
        if self.body.capacity() > 0 {
            self.pool.give(std::mem::take(&mut self.body));
        }
    }
}

impl<U: Upload> Future for RoundTrip<'_, U> {
    type Output = Result<ResponseHead, SendFailure>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            let mut progressed = match this.poll_upload(cx) {
                Ok(p) => p,
                Err(failure) => return Poll::Ready(Err(failure)),
            };
            if let Some(len) = this.interim {
                match this.upload.poll_continue(cx) {
                    Poll::Ready(Ok(_)) => {
                        this.up.buf.consume(len);
                        this.interim = None;
                        progressed = true;
                    }
                    Poll::Ready(Err(_)) => {
                        return this.fail(Fault::BadRequestBody(crate::fault::BodyError::Closed))
                    }
                    Poll::Pending => {}
                }
            }
            if this.interim.is_none() {
                // Bytes already read may hold a complete head (after an interim one).
                match this.parse() {
                    Ok(Some(head)) => return Poll::Ready(Ok(head)),
                    // An interim head was just set aside: relay it now (nothing else would
                    // wake this exchange to do it; a client waiting for `100 Continue` would
                    // wait for a timer).
                    Ok(None) if this.interim.is_some() => progressed = true,
                    Ok(None) => {}
                    Err(failure) => return Poll::Ready(Err(failure)),
                }
                if this.interim.is_none() {
                    match this
                        .up
                        .poll_read_buf(cx, this.pool, RESPONSE_HEAD_LIMITS.max_bytes)
                    {
                        Poll::Ready(Ok(0)) => return this.fail(Fault::TargetClosed(None)),
                        Poll::Ready(Ok(_)) => {
                            this.read_any = true;
                            progressed = true;
                        }
                        Poll::Ready(Err(e)) => return this.fail(Fault::TargetClosed(Some(e))),
                        Poll::Pending => {}
                    }
                }
            }
            if !progressed {
                return Poll::Pending;
            }
        }
    }
}

impl<U: Upload> RoundTrip<'_, U> {
    /// A complete final head in the bytes read, or an interim one set aside for relaying.
    fn parse(&mut self) -> Result<Option<ResponseHead>, SendFailure> {
        if self.up.buf.is_empty() {
            return Ok(None);
        }
        let parsed = parse_response(
            self.up.buf.filled(),
            RESPONSE_HEAD_LIMITS,
            self.kind.head,
            self.fields,
        );
        match parsed {
            Ok(None) => Ok(None),
            // The target switches protocols: the head is final, a tunnel follows.
            Ok(Some(head)) if head.status == 101 && self.kind.upgrade && self.body_done => {
                Ok(Some(head))
            }
            Ok(Some(head)) if head.is_interim() => {
                if head.status == 101 {
                    // No upgrade was asked for: a 101 is not a valid answer.
                    return Err(self.failure(Fault::InvalidResponse(
                        crate::codec::ResponseError::Malformed(
                            "unexpected 101 Switching Protocols",
                        ),
                    )));
                }
                if head.status == 100 && !self.body_done {
                    self.interim = Some(head.len);
                } else {
                    // Other interim responses (103 Early Hints) are not passed on.
                    self.up.buf.consume(head.len);
                }
                Ok(None)
            }
            Ok(Some(head)) => Ok(Some(head)),
            Err(e) => Err(self.failure(Fault::InvalidResponse(e))),
        }
    }
}

#[cfg(test)]
mod tests;
