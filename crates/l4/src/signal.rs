//! A one-way flag raised on one thread and awaited on another without a lock: the drain of
//! a listener reaching its connections, the end of a deregistration delay reaching a
//! target's connections. Waiting registers the task's waker (a few atomic operations), so
//! a connection may check it on every wake-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;

/// A flag that wakes its waiter when raised.
#[derive(Debug, Default)]
pub struct Signal {
    raised: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    /// Raises the flag and wakes the task waiting on it.
    pub fn raise(&self) {
        self.raised.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Whether it was raised.
    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::Acquire)
    }

    /// Ready once raised; otherwise arranges for this task to be woken when it is.
    pub fn poll_raised(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_raised() {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        if self.is_raised() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
