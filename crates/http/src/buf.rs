//! Byte buffers for connections, and the per-worker pool they come from.
//!
//! A connection holds a buffer only while bytes are moving: an idle keep-alive connection
//! gives its buffer back, so ten thousand idle clients cost no buffer memory, and a busy
//! worker reuses the same few buffers instead of allocating per request.
//!
//! Reads start in a small buffer, enough for a head and a small body: most exchanges never
//! need more, and a thousand requests in flight then hold a quarter of the memory. A body
//! that streams moves to a larger one, so it takes as few system calls as before.

use std::cell::RefCell;
use std::sync::Arc;

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::codec::Field;

/// Capacity of a fresh write buffer: a typical head and a small body. A buffer that had to
/// grow (a large head, a body read with its head) goes back to the pool grown, so a worker
/// that serves larger answers soon holds larger buffers. Each request in progress holds one
/// or two: at 16 KiB they were most of the memory of a thousand requests in flight.
pub(crate) const BUFFER_SIZE: usize = 4 * 1024;

/// Capacity of a fresh buffer for a request head going to a target. The head is kept until
/// the answer comes (a request may be sent again), so each request waiting for its target
/// holds one: a typical head is a few hundred bytes, and four of these share a memory page
/// where a [`BUFFER_SIZE`] one takes a page of its own. A larger head grows it.
pub(crate) const HEAD_WRITE_SIZE: usize = 1024;

/// Size of a fresh read buffer: a typical request or response head with a small body.
pub(crate) const HEAD_READ_SIZE: usize = 4 * 1024;

/// Size of a read buffer a streaming body moves to.
pub(crate) const BODY_READ_SIZE: usize = 16 * 1024;

/// Largest write buffer a pool keeps: one grown for a rare large head is freed.
const MAX_POOLED_WRITE: usize = 16 * BUFFER_SIZE;

/// Buffers a worker thread keeps for reuse, per size; more are freed. A keep-alive worker reuses far
/// fewer; a burst of new connections leaves this many behind (see `request_box`).
const POOLED_BUFFERS: usize = 64;

/// The buffers of a worker, reused across its connections: the handle connection code is
/// given. The buffers themselves are kept per thread (each worker is one thread), on plain
/// stacks: a buffer given back is the next one taken, so a keep-alive worker keeps reusing
/// the same few, still in the CPU's cache, and taking one costs no atomic operation. (They
/// were lock-free queues, which hand out the buffer given back longest ago: 2.7% of a
/// worker's CPU at 64 connections, and every read landed in cold memory.)
#[derive(Debug)]
pub struct BufferPool {
    _handle: (),
}

/// One thread's spare buffers, at most [`POOLED_BUFFERS`] of each kind.
#[derive(Default)]
struct Shelves {
    /// Read buffers of [`HEAD_READ_SIZE`] and of [`BODY_READ_SIZE`], kept at their full
    /// length (initialised once, never zeroed again).
    reads: Vec<Vec<u8>>,
    body_reads: Vec<Vec<u8>>,
    /// Buffers heads and bodies are written into (kept empty).
    writes: Vec<Vec<u8>>,
    /// The smaller ones request heads for targets are written into (kept empty).
    head_writes: Vec<Vec<u8>>,
    fields: Vec<Vec<Field>>,
}

thread_local! {
    static SHELVES: RefCell<Shelves> = RefCell::new(Shelves::default());
}

/// Runs `f` on this thread's shelves.
fn shelves<T>(f: impl FnOnce(&mut Shelves) -> T) -> T {
    SHELVES.with(|shelves| f(&mut shelves.borrow_mut()))
}

/// Puts `v` on `shelf` unless it is full (then `v` is freed).
fn shelve<T>(shelf: &mut Vec<T>, v: T) {
    if shelf.len() < POOLED_BUFFERS {
        shelf.push(v);
    }
}

/// A read buffer: bytes `[start, end)` of `data` are unread.
#[derive(Debug, Default)]
pub(crate) struct Buf {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

// === impl BufferPool ===

impl BufferPool {
    /// A handle on the calling thread's buffers (every handle on one thread shares them).
    pub fn new() -> Arc<Self> {
        Arc::new(Self { _handle: () })
    }

    /// An empty buffer to write into, with at least [`BUFFER_SIZE`] capacity.
    pub(crate) fn take(&self) -> Vec<u8> {
        shelves(|s| s.writes.pop()).unwrap_or_else(|| Vec::with_capacity(BUFFER_SIZE))
    }

    /// An empty buffer for a request head to a target, with at least [`HEAD_WRITE_SIZE`]
    /// capacity.
    pub(crate) fn take_head(&self) -> Vec<u8> {
        shelves(|s| s.head_writes.pop()).unwrap_or_else(|| Vec::with_capacity(HEAD_WRITE_SIZE))
    }

    /// A read buffer of `size` bytes (one of the two pooled sizes), initialised (its contents
    /// are stale).
    fn take_read(&self, size: usize) -> Vec<u8> {
        let pooled = shelves(|s| {
            if size == BODY_READ_SIZE {
                s.body_reads.pop()
            } else {
                s.reads.pop()
            }
        });
        pooled.unwrap_or_else(|| vec![0; size])
    }

    fn give_read(&self, v: Vec<u8>) {
        shelves(|s| match v.len() {
            HEAD_READ_SIZE => shelve(&mut s.reads, v),
            BODY_READ_SIZE => shelve(&mut s.body_reads, v),
            _ => {}
        });
    }

    /// Spare buffers on this thread: head reads, body reads, writes, head writes.
    #[cfg(test)]
    pub(crate) fn pooled(&self) -> [usize; 4] {
        shelves(|s| {
            [
                s.reads.len(),
                s.body_reads.len(),
                s.writes.len(),
                s.head_writes.len(),
            ]
        })
    }

    /// An empty list for the fields of a head.
    pub(crate) fn take_fields(&self) -> Vec<Field> {
        shelves(|s| s.fields.pop()).unwrap_or_default()
    }

    /// Gives a field list back.
    pub(crate) fn give_fields(&self, mut v: Vec<Field>) {
        if v.capacity() > 0 && v.capacity() <= 1024 {
            v.clear();
            shelves(|s| shelve(&mut s.fields, v));
        }
    }

    /// Gives a write buffer back, to the queue its capacity fits; oversized ones (grown for a
    /// large head) are freed.
    pub(crate) fn give(&self, mut v: Vec<u8>) {
        v.clear();
        shelves(|s| match v.capacity() {
            HEAD_WRITE_SIZE..BUFFER_SIZE => shelve(&mut s.head_writes, v),
            BUFFER_SIZE..=MAX_POOLED_WRITE => shelve(&mut s.writes, v),
            _ => {}
        });
    }
}

// === impl Buf ===

impl Buf {
    /// The unread bytes.
    #[inline]
    pub(crate) fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// Whether nothing is unread.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Marks `n` unread bytes as read.
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Whether it holds memory.
    pub(crate) fn is_allocated(&self) -> bool {
        self.data.capacity() > 0
    }

    /// Room to read into: takes a buffer from the pool if it has none, moves unread bytes to
    /// the front when the tail is short, and grows up to `max` bytes in all (heads larger
    /// than a pooled buffer). Empty when the unread bytes already fill `max`.
    pub(crate) fn spare(&mut self, pool: &BufferPool, max: usize) -> &mut [u8] {
        if !self.is_allocated() {
            self.data = pool.take_read(HEAD_READ_SIZE);
        }
        if self.start > 0 && self.data.len() - self.end < self.data.len() / 4 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let unread = self.end - self.start;
        if self.end == self.data.len() && unread < max {
            let grow = (self.data.len() * 2)
                .min(max + self.start)
                .max(self.data.len() + 1);
            self.data.resize(grow, 0);
        }
        let limit = (self.start + max).min(self.data.len()).max(self.end);
        &mut self.data[self.end..limit]
    }

    /// Moves to a body-sized buffer (before reading a body that streams), with the unread
    /// bytes; a buffer that is already as large stays.
    pub(crate) fn for_body(&mut self, pool: &BufferPool) {
        let unread = self.end - self.start;
        if self.data.len() >= BODY_READ_SIZE || unread > BODY_READ_SIZE {
            return;
        }
        let mut larger = pool.take_read(BODY_READ_SIZE);
        larger[..unread].copy_from_slice(self.filled());
        let small = std::mem::replace(&mut self.data, larger);
        if !small.is_empty() {
            pool.give_read(small);
        }
        self.start = 0;
        self.end = unread;
    }

    /// Records `n` bytes read into [`Buf::spare`].
    #[inline]
    pub(crate) fn filled_by(&mut self, n: usize) {
        self.end = (self.end + n).min(self.data.len());
    }

    /// Gives the memory back to the pool when nothing is unread.
    pub(crate) fn release(&mut self, pool: &BufferPool) {
        if self.is_empty() && self.is_allocated() {
            pool.give_read(std::mem::take(&mut self.data));
            self.start = 0;
            self.end = 0;
        }
    }
}

/// Reads what `io` has into `buf` (at most `max` unread bytes in all); `Ok(0)` is the end of
/// the stream, or a full buffer.
pub(crate) fn poll_read_into<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Buf,
    pool: &BufferPool,
    max: usize,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<usize>> {
    let spare = buf.spare(pool, max);
    if spare.is_empty() {
        return Poll::Ready(Ok(0));
    }
    let mut read = ReadBuf::new(spare);
    match Pin::new(io).poll_read(cx, &mut read) {
        Poll::Ready(Ok(())) => {
            let n = read.filled().len();
            buf.filled_by(n);
            Poll::Ready(Ok(n))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_compact_and_grow_within_the_limit() {
        let pool = BufferPool::new();
        let mut b = Buf::default();
        assert!(!b.is_allocated());
        let room = b.spare(&pool, 1 << 20);
        assert_eq!(room.len(), HEAD_READ_SIZE);
        room[..5].copy_from_slice(b"hello");
        b.filled_by(5);
        assert_eq!(b.filled(), b"hello");
        b.consume(2);
        assert_eq!(b.filled(), b"llo");
        b.consume(3);
        assert!(b.is_empty());
        b.release(&pool);
        assert!(!b.is_allocated());
        // A head larger than one buffer grows it, but never past the limit.
        let max = HEAD_READ_SIZE * 3 + 10;
        let mut total = 0;
        loop {
            let room = b.spare(&pool, max);
            if room.is_empty() {
                break;
            }
            let n = room.len();
            b.filled_by(n);
            total += n;
        }
        assert_eq!(total, max);
        assert_eq!(b.filled().len(), max);
    }

    #[test]
    fn a_streaming_body_moves_to_a_larger_buffer_with_its_unread_bytes() {
        let pool = BufferPool::new();
        let mut b = Buf::default();
        let room = b.spare(&pool, 1 << 20);
        room[..4].copy_from_slice(b"head");
        b.filled_by(4);
        b.consume(2);
        b.for_body(&pool);
        assert_eq!(b.filled(), b"ad");
        assert_eq!(b.spare(&pool, 1 << 20).len(), BODY_READ_SIZE - 2);
        // The small buffer went back to the pool; the large one goes back too.
        assert_eq!(pool.pooled()[..2], [1, 0]);
        b.consume(2);
        b.release(&pool);
        assert_eq!(pool.pooled()[..2], [1, 1]);
        // Already large: it stays.
        let mut c = Buf::default();
        c.for_body(&pool);
        assert_eq!(pool.pooled()[..2], [1, 0]);
        c.for_body(&pool);
        assert_eq!(c.spare(&pool, 1 << 20).len(), BODY_READ_SIZE);
    }

    #[test]
    fn write_buffers_go_back_to_the_queue_their_capacity_fits() {
        let pool = BufferPool::new();
        let head = pool.take_head();
        assert!(head.capacity() >= HEAD_WRITE_SIZE && head.capacity() < BUFFER_SIZE);
        pool.give(head);
        assert_eq!(pool.pooled()[2..], [0, 1]);
        // A head that grew to a full write buffer's size joins those.
        let mut grown = pool.take_head();
        grown.resize(BUFFER_SIZE, b'x');
        pool.give(grown);
        assert_eq!(pool.pooled()[2..], [1, 0]);
        let out = pool.take();
        assert!(out.is_empty() && out.capacity() >= BUFFER_SIZE);
        // Too small or too large to keep: freed.
        pool.give(Vec::with_capacity(16));
        pool.give(Vec::with_capacity(MAX_POOLED_WRITE + 1));
        assert_eq!(pool.pooled()[2..], [0, 0]);
    }
}
