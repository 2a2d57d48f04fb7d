//! A one-way flag raised on one thread and awaited on another without a lock: the drain of
//! a listener reaching its connections, the end of a deregistration delay reaching a
//! target's connections. Waiting registers the task's waker (a few atomic operations), so
//! a connection may check it on every wake-up; with a [`Waiter`], a task that waits on the
//! same signal again does not register again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

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
        self.poll_again()
    }

    /// As [`Signal::poll_raised`], but skips registering when `waiter` says this task is the
    /// one registered already: two atomic exchanges on the signal's cache line per wait,
    /// which a connection pays on every request it waits for. Only for a signal with one
    /// waiter at a time (a connection's drain or cut signal): another task registering in
    /// between would leave this one unwoken.
    pub fn poll_raised_as(&self, cx: &mut Context<'_>, waiter: &mut Waiter) -> Poll<()> {
        if self.is_raised() {
            return Poll::Ready(());
        }
        let task = Waiter::of(cx.waker());
        if *waiter != task {
            self.waker.register(cx.waker());
            *waiter = task;
        }
        self.poll_again()
    }

    /// Checks the flag again after a registration (a raise may have come just before it).
    fn poll_again(&self) -> Poll<()> {
        if self.is_raised() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Which task a signal's one waiter last registered: its waker's data and vtable
/// addresses (none yet: both 0; a vtable is never at 0). It holds no reference, and needs
/// none: the signal keeps the registered waker until it is raised, so that task's memory
/// cannot be freed and its address taken by another task while this says "registered"
/// (after the raise, the flag answers first).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Waiter {
    data: usize,
    vtable: usize,
}

impl Waiter {
    fn of(waker: &Waker) -> Self {
        Self {
            data: waker.data().addr(),
            vtable: std::ptr::from_ref(waker.vtable()).addr(),
        }
    }
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
        let mut waiter = Waiter::default();
        for _ in 0..3 {
            let mut cx = Context::from_waker(&waker);
            assert!(signal.poll_raised_as(&mut cx, &mut waiter).is_pending());
        }
        let raiser = Arc::clone(&signal);
        std::thread::spawn(move || raiser.raise())
            .join()
            .expect("the raising thread");
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        let mut cx = Context::from_waker(&waker);
        assert!(signal.poll_raised_as(&mut cx, &mut waiter).is_ready());
    }

    #[test]
    fn a_connection_moved_to_another_task_wakes_the_new_one() {
        let signal = Signal::default();
        let mut waiter = Waiter::default();
        let (first_wakes, first) = task();
        let (second_wakes, second) = task();
        assert!(signal
            .poll_raised_as(&mut Context::from_waker(&first), &mut waiter)
            .is_pending());
        assert!(signal
            .poll_raised_as(&mut Context::from_waker(&second), &mut waiter)
            .is_pending());
        signal.raise();
        assert_eq!(first_wakes.0.load(Ordering::SeqCst), 0);
        assert_eq!(second_wakes.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_signal_raised_before_the_wait_is_ready_without_registering() {
        let signal = Signal::default();
        signal.raise();
        let (wakes, waker) = task();
        let mut waiter = Waiter::default();
        assert!(signal
            .poll_raised_as(&mut Context::from_waker(&waker), &mut waiter)
            .is_ready());
        assert_eq!(waiter, Waiter::default());
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
    }
}
