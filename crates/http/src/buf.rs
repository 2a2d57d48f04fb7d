//! Byte buffers for connections, and the per-worker pool they come from.
//!
//! A connection holds a buffer only while bytes are moving: an idle keep-alive connection
//! gives its buffer back, so ten thousand idle clients cost no buffer memory, and a busy
//! worker reuses the same few buffers instead of allocating per request.

use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use crate::codec::Field;

/// Capacity of a fresh buffer: a typical request or response head, and a useful read of body.
pub(crate) const BUFFER_SIZE: usize = 16 * 1024;

/// Buffers a pool keeps for reuse; more are freed.
const POOLED_BUFFERS: usize = 256;

/// Buffers of one worker thread, reused across its connections (lock-free; shared only so
/// the type is `Send`, never contended).
#[derive(Debug)]
pub struct BufferPool {
    /// Read buffers, kept at their full length (initialised once, never zeroed again).
    reads: ArrayQueue<Vec<u8>>,
    /// Buffers heads are written into (kept empty).
    writes: ArrayQueue<Vec<u8>>,
    fields: ArrayQueue<Vec<Field>>,
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
    /// An empty pool.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            reads: ArrayQueue::new(POOLED_BUFFERS),
            writes: ArrayQueue::new(POOLED_BUFFERS),
            fields: ArrayQueue::new(POOLED_BUFFERS),
        })
    }

    /// An empty buffer to write into, with at least [`BUFFER_SIZE`] capacity.
    pub(crate) fn take(&self) -> Vec<u8> {
        self.writes
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BUFFER_SIZE))
    }

    /// A read buffer: [`BUFFER_SIZE`] bytes or more, initialised (its contents are stale).
    fn take_read(&self) -> Vec<u8> {
        self.reads.pop().unwrap_or_else(|| vec![0; BUFFER_SIZE])
    }

    fn give_read(&self, v: Vec<u8>) {
        if v.len() == BUFFER_SIZE {
            let _full = self.reads.push(v);
        }
    }

    /// An empty list for the fields of a head.
    pub(crate) fn take_fields(&self) -> Vec<Field> {
        self.fields.pop().unwrap_or_default()
    }

    /// Gives a field list back.
    pub(crate) fn give_fields(&self, mut v: Vec<Field>) {
        if v.capacity() > 0 && v.capacity() <= 1024 {
            v.clear();
            let _full = self.fields.push(v);
        }
    }

    /// Gives a write buffer back; oversized ones (grown for a large head) are freed.
    pub(crate) fn give(&self, mut v: Vec<u8>) {
        if v.capacity() >= BUFFER_SIZE && v.capacity() <= 4 * BUFFER_SIZE {
            v.clear();
            let _full = self.writes.push(v);
        }
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
            self.data = pool.take_read();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_compact_and_grow_within_the_limit() {
        let pool = BufferPool::new();
        let mut b = Buf::default();
        assert!(!b.is_allocated());
        let room = b.spare(&pool, 1 << 20);
        assert!(room.len() >= BUFFER_SIZE);
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
        let max = BUFFER_SIZE + 10;
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
}
