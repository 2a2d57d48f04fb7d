//! A watchdog per HTTP/2 stream: a response body that moves no byte for the idle timeout is
//! reset, and its target connection closed.
//!
//! hyper polls a response body only while the client's flow-control window lets it send,
//! so a client that opens many streams and never grants window (while keeping the
//! connection alive with PINGs) would otherwise pin one target connection per stream
//! forever. hyper runs each stream as a future it hands to its executor; Ballast's executor
//! wraps that future with a timer, and the body reports its progress through a task-local
//! handle. Dropping the stream's future resets it (`RST_STREAM CANCEL`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

tokio::task_local! {
    static STREAM: Arc<StreamWatch>;
}

/// What a stream's body reports to its watchdog.
#[derive(Debug)]
pub(crate) struct StreamWatch {
    base: Instant,
    /// A response body is on its way (before that, the request's own timers rule).
    streaming: AtomicBool,
    /// Milliseconds since `base` of the body's last progress.
    last: AtomicU64,
}

impl StreamWatch {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            streaming: AtomicBool::new(false),
            last: AtomicU64::new(0),
        }
    }

    /// The watch of the stream being served, when there is one (hyper's executor is
    /// Ballast's).
    pub(crate) fn current() -> Option<Arc<Self>> {
        STREAM.try_with(Arc::clone).ok()
    }

    /// The response body started: from now on it must move.
    pub(crate) fn start(&self) {
        self.touch();
        self.streaming.store(true, Ordering::Relaxed);
    }

    /// The body moved.
    pub(crate) fn touch(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    fn stalled_after(&self, idle: Duration) -> Option<Instant> {
        self.streaming
            .load(Ordering::Relaxed)
            .then(|| self.base + Duration::from_millis(self.last.load(Ordering::Relaxed)) + idle)
    }
}

/// Runs hyper's stream futures on the current runtime, each under its watchdog.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamExecutor {
    pub(crate) idle: Duration,
}

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, fut: F) {
        let watch = Arc::new(StreamWatch::new());
        tokio::spawn(Watched {
            inner: STREAM.scope(Arc::clone(&watch), fut),
            watch,
            sleep: None,
            idle: self.idle,
        });
    }
}

pin_project_lite::pin_project! {
    /// A stream's future with its watchdog.
    struct Watched<F> {
        #[pin]
        inner: F,
        watch: Arc<StreamWatch>,
        sleep: Option<Pin<Box<Sleep>>>,
        idle: Duration,
    }
}

impl<F: Future<Output = ()>> Future for Watched<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if this.inner.poll(cx).is_ready() {
            return Poll::Ready(());
        }
        let Some(mut due) = this.watch.stalled_after(*this.idle) else {
            return Poll::Pending;
        };
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        loop {
            if sleep.deadline() != due {
                sleep.as_mut().reset(due);
            }
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            match this.watch.stalled_after(*this.idle) {
                Some(next) if next > Instant::now() => due = next,
                _ => {
                    tracing::debug!("HTTP/2 response moved nothing for the idle timeout: reset");
                    // Dropping the stream's future (when this task ends) resets the stream
                    // and closes its target connection.
                    return Poll::Ready(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_stream_whose_body_stops_is_ended_and_one_that_moves_is_not() {
        let idle = Duration::from_secs(60);
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        // A body that starts, moves once after 50 s, then never again.
        let stream = async move {
            let watch = StreamWatch::current().expect("inside the executor");
            watch.start();
            tokio::time::sleep(Duration::from_secs(50)).await;
            watch.touch();
            std::future::pending::<()>().await;
            drop(done_tx);
        };
        let start = Instant::now();
        hyper::rt::Executor::execute(&StreamExecutor { idle }, stream);
        // The stream's future is dropped (its sender with it) 60 s after the last move.
        let _ = done_rx.await;
        assert_eq!(start.elapsed(), Duration::from_secs(110));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_still_waiting_for_its_response_is_left_to_its_timers() {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let stream = async move {
            tokio::time::sleep(Duration::from_secs(600)).await;
            drop(done_tx);
        };
        let start = Instant::now();
        hyper::rt::Executor::execute(
            &StreamExecutor {
                idle: Duration::from_secs(60),
            },
            stream,
        );
        let _ = done_rx.await;
        assert_eq!(start.elapsed(), Duration::from_secs(600));
    }
}
