//! The timer of a relay's idle check, polled only when it may have fired.
//!
//! A relay waits after every message, and polling a tokio `Sleep` each time stores the
//! task's waker in the timer again: two atomic exchanges, a clone and a drop of the waker,
//! about a tenth of the L4 relay's user-space time per request. Here the timer holds a
//! waker of its own, which raises a flag and wakes the task; the task's waker is handed
//! over once (again only if it changes). Between ticks, a wait costs a flag load.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use atomic_waker::AtomicWaker;
use tokio::time::{Instant, Sleep};

/// What the timer's own waker reaches: the flag, and the task to wake.
#[derive(Default)]
struct Fired {
    flag: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Fired {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.flag.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// A timer that ticks at a deadline, reset by its owner after each tick.
pub(crate) struct IdleCheck {
    sleep: Pin<Box<Sleep>>,
    fired: Arc<Fired>,
    /// The timer's waker (a handle on `fired`), made once.
    waker: Waker,
    /// The task's waker last handed to `fired`.
    task: Option<Waker>,
    /// Polled since its last reset, so its waker is in place and `fired` will tell.
    armed: bool,
}

impl IdleCheck {
    /// A check that ticks `after` from now.
    pub(crate) fn new(after: Duration) -> Self {
        let fired = Arc::new(Fired::default());
        Self {
            sleep: Box::pin(tokio::time::sleep(after)),
            waker: Waker::from(Arc::clone(&fired)),
            fired,
            task: None,
            armed: false,
        }
    }

    /// Ready once the deadline has passed; until the next [`IdleCheck::reset`], it stays
    /// ready. Pending means the task is woken when it passes.
    pub(crate) fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // A load, not a swap, on every wait: a fired timer does not fire again before its
        // reset, so nothing can raise the flag between this load and the store.
        if self.fired.flag.load(Ordering::Acquire) {
            self.fired.flag.store(false, Ordering::Relaxed);
            // The tick's wake took the task's waker out of `fired`: hand it over again.
            self.task = None;
            self.armed = false;
        }
        if !self.task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            self.fired.task.register(cx.waker());
            self.task = Some(cx.waker().clone());
        }
        // A tick between the swap and the registration found no waker: look again.
        if self.armed && !self.fired.flag.load(Ordering::Acquire) {
            return Poll::Pending;
        }
        let ready = self
            .sleep
            .as_mut()
            .poll(&mut Context::from_waker(&self.waker));
        self.armed = ready.is_pending();
        ready
    }

    /// The next tick at `deadline`.
    pub(crate) fn reset(&mut self, deadline: Instant) {
        self.sleep.as_mut().reset(deadline);
        self.armed = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(check: &mut IdleCheck) -> Poll<()> {
        check.poll_tick(&mut Context::from_waker(Waker::noop()))
    }

    #[tokio::test(start_paused = true)]
    async fn ticks_at_its_deadline_and_again_after_a_reset() {
        let mut check = IdleCheck::new(Duration::from_secs(1));
        assert!(poll(&mut check).is_pending());
        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(poll(&mut check).is_pending(), "ticked early");
        tokio::time::advance(Duration::from_millis(2)).await;
        assert!(poll(&mut check).is_ready(), "did not tick at its deadline");
        assert!(poll(&mut check).is_ready(), "a tick stays until the reset");
        check.reset(Instant::now() + Duration::from_secs(1));
        assert!(poll(&mut check).is_pending());
        tokio::time::advance(Duration::from_millis(1001)).await;
        assert!(poll(&mut check).is_ready(), "did not tick after the reset");
    }

    /// The task waits in a task of its own, which only a wake polls again, through
    /// several ticks (each tick's wake uses up the waker it was given).
    #[tokio::test(start_paused = true)]
    async fn a_waiting_task_is_woken_by_every_tick() {
        let started = Instant::now();
        let waiter = tokio::spawn(async move {
            let mut check = IdleCheck::new(Duration::from_secs(5));
            for _ in 0..3 {
                std::future::poll_fn(|cx| check.poll_tick(cx)).await;
                check.reset(Instant::now() + Duration::from_secs(5));
            }
        });
        tokio::time::timeout(Duration::from_secs(60), waiter)
            .await
            .expect("a tick did not wake the task")
            .expect("the waiter");
        assert!(started.elapsed() >= Duration::from_secs(15));
    }
}
