//! A one-way flag raised on one thread and awaited on another without a lock: the drain of
//! a listener reaching its connections, the end of a deregistration delay reaching a
//! target's connections, a relay's idle-check timer (as its waker; the waiter re-arms it
//! after each tick). A connection checks it every time it waits (per HTTP request, per
//! L4 message), so waiting again from the task that registered last only reads the flag.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use atomic_waker::AtomicWaker;

/// A flag that wakes its waiter when raised. One waiter at a time (a connection's task; the
/// connection may move to another task, which then registers): like the `AtomicWaker`
/// inside, it wakes only the task that registered last.
#[derive(Debug, Default)]
pub struct Signal {
    raised: AtomicBool,
    waker: AtomicWaker,
    /// The data and vtable addresses of the waker registered last (0 and 0: none; a vtable
    /// is never at 0). Read and written only by the waiter.
    waiter_data: AtomicUsize,
    waiter_vtable: AtomicUsize,
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
    ///
    /// Registering costs two atomic exchanges on this signal's cache line and a waker
    /// comparison; it is skipped when the task registered last is this one. That holds no
    /// reference to the task and needs none: the `AtomicWaker` keeps the registered waker
    /// (a clone of the one compared, with the same data address, as tokio's and std's
    /// wakers are) until `raise` takes it, so the task cannot be freed and its address taken
    /// by another task meanwhile; after `raise`, the flag answers first.
    pub fn poll_raised(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_raised() {
            return Poll::Ready(());
        }
        let (data, vtable) = identity(cx.waker());
        if self.waiter_data.load(Ordering::Relaxed) != data
            || self.waiter_vtable.load(Ordering::Relaxed) != vtable
        {
            self.waker.register(cx.waker());
            self.waiter_data.store(data, Ordering::Relaxed);
            self.waiter_vtable.store(vtable, Ordering::Relaxed);
        }
        if self.is_raised() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Signal {
    /// Lowers the flag again, for a waiter that saw it raised: the raise used up the
    /// registered waker, so the next wait registers anew.
    pub(crate) fn rearm(&self) {
        self.raised.store(false, Ordering::Relaxed);
        self.waiter_data.store(0, Ordering::Relaxed);
        self.waiter_vtable.store(0, Ordering::Relaxed);
    }
}

/// Waking it raises it: a signal can be a timer's waker.
impl std::task::Wake for Signal {
    fn wake(self: std::sync::Arc<Self>) {
        self.raise();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.raise();
    }
}

/// The addresses that tell one waker's task from another's.
fn identity(waker: &Waker) -> (usize, usize) {
    (
        waker.data().addr(),
        std::ptr::from_ref(waker.vtable()).addr(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::Wake;

    /// A task's waker that counts its wake-ups.
    #[derive(Default)]
    struct Counted(AtomicUsize);

    impl Wake for Counted {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn task() -> (Arc<Counted>, Waker) {
        let counted = Arc::new(Counted::default());
        (counted.clone(), Waker::from(counted))
    }

    #[test]
    fn a_task_waiting_again_is_woken_once_by_the_raise_from_another_thread() {
        let signal = Arc::new(Signal::default());
        let (wakes, waker) = task();
        for _ in 0..3 {
            let mut cx = Context::from_waker(&waker);
            assert!(signal.poll_raised(&mut cx).is_pending());
        }
        let raiser = Arc::clone(&signal);
        std::thread::spawn(move || raiser.raise())
            .join()
            .expect("the raising thread");
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        let mut cx = Context::from_waker(&waker);
        assert!(signal.poll_raised(&mut cx).is_ready());
    }

    #[test]
    fn a_connection_moved_to_another_task_wakes_the_new_one() {
        let signal = Signal::default();
        let (first_wakes, first) = task();
        let (second_wakes, second) = task();
        for waker in [&first, &second, &first, &second] {
            assert!(signal
                .poll_raised(&mut Context::from_waker(waker))
                .is_pending());
        }
        signal.raise();
        assert_eq!(first_wakes.0.load(Ordering::SeqCst), 0);
        assert_eq!(second_wakes.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_signal_raised_before_the_wait_is_ready_without_registering() {
        let signal = Signal::default();
        signal.raise();
        let (wakes, waker) = task();
        assert!(signal
            .poll_raised(&mut Context::from_waker(&waker))
            .is_ready());
        assert_eq!(signal.waiter_vtable.load(Ordering::Relaxed), 0);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
    }
}
