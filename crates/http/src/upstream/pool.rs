//! Idle keep-alive connections to one target, per worker thread.
//!
//! Each worker thread has its own queue, so a connection is only ever used by the thread
//! whose event loop it is registered with, and the queues are lock-free so the pool can live
//! in the shared snapshot. A connection goes back to its queue when the response that used
//! it was read to the end; one the target closed, or that sat idle too long, is dropped when
//! next seen.

use std::sync::Arc;
use std::time::Duration;

use ballast_l4::cuts::Cuts;
use crossbeam_queue::ArrayQueue;

use super::{CutSignal, H2Sender, ProxyHeader, Upstream};

#[cfg(test)]
mod tests;

/// Idle keep-alive connections to one target.
#[derive(Debug)]
pub struct ConnPool {
    per_worker: Box<[IdleQueue]>,
    /// HTTP/2 groups: each worker's one connection to the target (a handle on it).
    h2: Box<[ArrayQueue<H2Sender>]>,
    idle_timeout: Duration,
    enabled: bool,
    /// Every connection to this target that may still be open, so a deregistered target's
    /// connections (L4 flows included) can all be cut when its delay is over.
    cuts: Arc<Cuts>,
}

impl ConnPool {
    /// A pool for `workers` threads keeping at most `max_idle` idle connections each.
    pub fn new(workers: usize, max_idle: usize, idle_timeout: Duration) -> Self {
        let per_worker = (0..workers.max(1))
            .map(|_| IdleQueue::new(max_idle.max(1)))
            .collect();
        Self {
            per_worker,
            h2: (0..workers.max(1)).map(|_| ArrayQueue::new(1)).collect(),
            idle_timeout,
            enabled: max_idle > 0,
            cuts: Arc::new(Cuts::new(64 + 2 * workers.max(1) * max_idle.min(1024))),
        }
    }

    /// Closes every connection to the target now, idle or busy. Requests in flight on them
    /// fail (their clients see the response cut, or 502 before the head).
    pub fn close_all(&self) {
        for queue in self.per_worker.iter() {
            while queue.pop().is_some() {}
        }
        for queue in self.h2.iter() {
            while queue.pop().is_some() {}
        }
        self.cuts.cut_all();
    }

    /// The cut signals of the target's live connections (L4 flows track theirs here too).
    pub fn cuts(&self) -> &Arc<Cuts> {
        &self.cuts
    }

    /// Number of worker queues this pool was built for.
    pub fn workers(&self) -> usize {
        self.per_worker.len()
    }

    /// A cut signal for a new connection, tracked so [`ConnPool::close_all`] reaches it.
    pub(crate) fn track(&self) -> Arc<CutSignal> {
        self.cuts.track()
    }

    /// An idle connection that is still open, if any; for a group that sends PROXY headers,
    /// only one that began with `owner`'s (the same client connection).
    /// `now` is the request's time (no clock read of its own).
    pub(crate) fn checkout(
        &self,
        worker: usize,
        now: std::time::Instant,
        owner: Option<&ProxyHeader>,
    ) -> Option<Upstream> {
        let queue = self.queue(worker)?;
        // Other clients' private connections, put back after the search (no allocation
        // unless there are some).
        let mut others = Vec::new();
        let mut found = None;
        // Each idle connection is looked at once at most.
        for _ in 0..queue.len() {
            let Some(mut idle) = queue.pop() else { break };
            let idle_for = now.saturating_duration_since(idle.idle_since);
            if idle.is_stale() || idle_for >= self.idle_timeout {
                continue;
            }
            if idle.owner.as_deref() != owner {
                others.push(idle);
                continue;
            }
            idle.reused = true;
            found = Some(idle);
            break;
        }
        for other in others {
            // Room is there: they were just taken out.
            let _full = queue.push(other);
        }
        // Connections spilled past the hot ring are looked at one per checkout, so those
        // that closed or expired are dropped even while the hot ring serves every request.
        queue.rotate_spill(|idle| {
            !idle.is_stale() && now.saturating_duration_since(idle.idle_since) < self.idle_timeout
        });
        found
    }

    /// Returns a connection whose last response was read to the end, its buffer given back.
    /// Its idle time counts from now (a long download does not retire it at once).
    pub(crate) fn checkin(
        &self,
        worker: usize,
        mut upstream: Upstream,
        buffers: &crate::buf::BufferPool,
    ) {
        if !self.enabled || !upstream.buf.is_empty() || upstream.is_stale() {
            return;
        }
        upstream.buf.release(buffers);
        upstream.idle_since = std::time::Instant::now();
        let Some(queue) = self.queue(worker) else {
            return;
        };
        // A full queue means enough idle connections already: this one just closes. A
        // private one takes the place of the oldest instead (whose client may be gone).
        if let Err(upstream) = queue.push(upstream) {
            if upstream.owner.is_some() {
                let _oldest = queue.pop_oldest();
                let _full = queue.push(upstream);
            }
        }
    }

    /// This worker's HTTP/2 connection to the target, if it is open and may take a stream.
    pub(crate) fn h2(&self, worker: usize) -> Option<H2Sender> {
        let slot = self.h2.get(worker % self.h2.len().max(1))?;
        let sender = slot.pop()?;
        if sender.is_closed() {
            return None;
        }
        let handle = sender.clone();
        let _full = slot.push(sender);
        Some(handle)
    }

    /// Keeps a new HTTP/2 connection as this worker's (replacing a closed one).
    pub(crate) fn keep_h2(&self, worker: usize, sender: H2Sender) {
        if let Some(slot) = self.h2.get(worker % self.h2.len().max(1)) {
            let _old = slot.pop();
            let _full = slot.push(sender);
        }
    }

    fn queue(&self, worker: usize) -> Option<&IdleQueue> {
        self.per_worker.get(worker % self.per_worker.len().max(1))
    }
}

/// Slots of an idle queue's hot ring.
const HOT_SLOTS: usize = 64;

/// One worker's idle connections to the target: a small ring that a steady load stays
/// within, and a larger one that takes a burst's connections beyond it.
///
/// A ring's slot is as large as a connection's record, and each push goes to the slot after
/// the last one, whatever the ring holds. With one ring of `max_idle` (1,024) slots, every
/// push wrote to memory last touched a thousand pushes earlier, out of the CPU's cache: 1.4%
/// of a worker's CPU at 64 client connections. The hot ring's 64 slots stay in cache.
#[derive(Debug)]
struct IdleQueue {
    hot: ArrayQueue<Upstream>,
    /// `None` when `max_idle` fits the hot ring.
    spill: Option<ArrayQueue<Upstream>>,
}

impl IdleQueue {
    fn new(max_idle: usize) -> Self {
        let hot = max_idle.min(HOT_SLOTS);
        Self {
            hot: ArrayQueue::new(hot),
            spill: (max_idle > hot).then(|| ArrayQueue::new(max_idle - hot)),
        }
    }

    fn len(&self) -> usize {
        self.hot.len() + self.spill.as_ref().map_or(0, ArrayQueue::len)
    }

    /// The hot ring's oldest first, then the spill's.
    fn pop(&self) -> Option<Upstream> {
        self.hot
            .pop()
            .or_else(|| self.spill.as_ref().and_then(ArrayQueue::pop))
    }

    /// The connection idle longest: the older of the two rings' oldest (neither ring is
    /// older as a whole: the hot ring is refilled while the spill waits); the other goes
    /// back.
    fn pop_oldest(&self) -> Option<Upstream> {
        let Some(spill) = &self.spill else {
            return self.hot.pop();
        };
        match (self.hot.pop(), spill.pop()) {
            (Some(hot), Some(spilled)) => {
                let (older, newer) = if spilled.idle_since <= hot.idle_since {
                    (spilled, hot)
                } else {
                    (hot, spilled)
                };
                // Room is there: two were just taken out.
                let _full = self.push(newer);
                Some(older)
            }
            (hot, spilled) => hot.or(spilled),
        }
    }

    /// Takes the spill's oldest connection and puts it back at its end if `keep` says so
    /// (else it closes): one step of a sweep through the connections the hot ring does not
    /// reach while it has some.
    fn rotate_spill(&self, keep: impl FnOnce(&mut Upstream) -> bool) {
        let Some(spill) = &self.spill else { return };
        if let Some(mut idle) = spill.pop() {
            if keep(&mut idle) {
                // Room is there: it was just taken out (only this worker pushes).
                let _full = spill.push(idle);
            }
        }
    }

    /// Into the hot ring, else the spill; `Err` hands the connection back when both are
    /// full (the shape of `ArrayQueue::push`: moved in and out, never boxed).
    #[allow(clippy::result_large_err)]
    fn push(&self, upstream: Upstream) -> Result<(), Upstream> {
        match (self.hot.push(upstream), &self.spill) {
            (Err(upstream), Some(spill)) => spill.push(upstream),
            (pushed, _) => pushed,
        }
    }
}
