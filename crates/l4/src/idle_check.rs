//! The timer of a relay's idle check, polled only when it may have fired.
//!
//! A relay waits after every message, and polling a tokio `Sleep` each time stores the
//! task's waker in the timer again: two atomic exchanges, a clone and a drop of the waker,
//! about a tenth of the L4 relay's user-space time per request. Here the timer's waker is a
//! [`Signal`], which the task waits on instead: it registers once per tick (again only if
//! the task changes), and a wait between ticks reads the flag.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::signal::Signal;

/// A timer that ticks at a deadline, reset by its owner after each tick.
pub(crate) struct IdleCheck {
    sleep: Pin<Box<Sleep>>,
    /// Raised by the timer (it is the timer's waker); re-armed after each tick.
    fired: Arc<Signal>,
    /// The timer's waker (a handle on `fired`), made once.
    waker: Waker,
    /// The timer was polled since its last reset and tick, so its waker is in place and
    /// `fired` will tell.
    armed: bool,
}

impl IdleCheck {
    /// A check that ticks `after` from now.
    pub(crate) fn new(after: Duration) -> Self {
        let fired = Arc::new(Signal::default());
        Self {
            sleep: Box::pin(tokio::time::sleep(after)),
            waker: Waker::from(Arc::clone(&fired)),
            fired,
            armed: false,
        }
    }

    /// Ready once the deadline has passed; until the next [`IdleCheck::reset`], it stays
    /// ready. Pending means the task is woken when it passes.
    pub(crate) fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.armed {
                if self.fired.poll_raised(cx).is_pending() {
                    return Poll::Pending;
                }
                // A fired timer does not fire again before it is polled anew, so nothing
                // raises the signal between the check above and this.
                self.fired.rearm();
            }
            if self
                .sleep
                .as_mut()
                .poll(&mut Context::from_waker(&self.waker))
                .is_ready()
            {
                self.armed = false;
                return Poll::Ready(());
            }
            // Armed: the next turn registers the task with `fired`, or sees a tick that
            // came meanwhile.
            self.armed = true;
        }
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
