//! Timed waits on a connection's one timer.
//!
//! Every client connection owns a single `Sleep`. A wait that may block (for a request head,
//! a response, a slow reader) runs against it with its own deadline, and the timer is only
//! touched when the wait actually blocks and the timer is set later than the deadline: an
//! earlier setting simply fires early, and the wait sets it again. Under load a timer
//! therefore costs no timer-wheel operation per request, and the clock is read only by
//! waits that block.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// A wait ran past its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed;

/// Waits for `fut`, at most `timeout` from the moment it first blocks.
pub(crate) fn within<'s, F: Future>(
    sleep: Pin<&'s mut Sleep>,
    timeout: Duration,
    fut: F,
) -> Within<'s, F> {
    Within {
        sleep,
        fut,
        limit: Limit::After(timeout),
    }
}

/// Waits for `fut`, at most until `deadline`.
pub(crate) fn until<'s, F: Future>(
    sleep: Pin<&'s mut Sleep>,
    deadline: Instant,
    fut: F,
) -> Within<'s, F> {
    Within {
        sleep,
        fut,
        limit: Limit::At(deadline),
    }
}

/// The future of [`within`] and [`until`].
#[derive(Debug)]
pub(crate) struct Within<'s, F> {
    sleep: Pin<&'s mut Sleep>,
    fut: F,
    limit: Limit,
}

#[derive(Debug, Clone, Copy)]
enum Limit {
    After(Duration),
    At(Instant),
}

impl<F: Future + Unpin> Future for Within<'_, F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Poll::Ready(out) = Pin::new(&mut this.fut).poll(cx) {
            return Poll::Ready(Ok(out));
        }
        poll_deadline(this.sleep.as_mut(), &mut this.limit, cx).map(Err)
    }
}

/// Polls the timer for a wait whose work is pending: ready once the deadline has passed.
/// Fixes the deadline on first use (`Limit::After` counts from then).
fn poll_deadline(
    mut sleep: Pin<&mut Sleep>,
    limit: &mut Limit,
    cx: &mut Context<'_>,
) -> Poll<Elapsed> {
    let deadline = match *limit {
        Limit::At(at) => at,
        Limit::After(timeout) => {
            let at = Instant::now() + timeout;
            *limit = Limit::At(at);
            at
        }
    };
    loop {
        if sleep.deadline() > deadline {
            sleep.as_mut().reset(deadline);
        }
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if Instant::now() >= deadline {
            return Poll::Ready(Elapsed);
        }
        // Set earlier for another wait: set it again for this one.
        sleep.as_mut().reset(deadline);
    }
}

/// A deadline polled by hand, for futures written as `poll` functions.
#[derive(Debug)]
pub(crate) struct Deadline {
    limit: Limit,
}

impl Deadline {
    /// `timeout` from the moment the work first blocks.
    pub(crate) fn after(timeout: Duration) -> Self {
        Self {
            limit: Limit::After(timeout),
        }
    }

    /// At `at`.
    pub(crate) fn at(at: Instant) -> Self {
        Self {
            limit: Limit::At(at),
        }
    }

    /// Ready once the deadline has passed (call only when the work is pending).
    pub(crate) fn poll(&mut self, sleep: Pin<&mut Sleep>, cx: &mut Context<'_>) -> Poll<Elapsed> {
        poll_deadline(sleep, &mut self.limit, cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_wait_fires_at_its_own_deadline_whatever_the_timer_was_set_to() {
        let sleep = tokio::time::sleep(Duration::from_secs(1));
        tokio::pin!(sleep);
        let start = Instant::now();
        // The timer is set earlier than the wait's deadline: it fires, and is set again.
        let waited = within(
            sleep.as_mut(),
            Duration::from_secs(5),
            std::future::pending::<()>(),
        )
        .await;
        assert_eq!(waited, Err(Elapsed));
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        // Set later than the next wait's deadline: the wait brings it forward.
        sleep
            .as_mut()
            .reset(Instant::now() + Duration::from_secs(60));
        let start = Instant::now();
        let waited = within(
            sleep.as_mut(),
            Duration::from_secs(2),
            std::future::pending::<()>(),
        )
        .await;
        assert_eq!(waited, Err(Elapsed));
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        // Work that finishes first wins.
        let done = within(
            sleep.as_mut(),
            Duration::from_secs(2),
            std::future::ready(7),
        )
        .await;
        assert_eq!(done, Ok(7));
    }
}
