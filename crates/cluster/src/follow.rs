//! What the tasks that follow etcd share: a round (catch up, then watch) run again and again
//! until the node stops, with a growing pause after a failure; and a watch read by a task of
//! its own, so that waiting for it can be given up (a stop, a resync) without cutting a read
//! in half.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::etcd::{EtcdError, Event, Watch};
use crate::status::{Board, Task};

/// The first pause after a failed round.
const FIRST_PAUSE: Duration = Duration::from_millis(250);

/// The longest pause between two rounds.
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Runs `round` until `stop`. A round that fails is reported as `task`'s; the next one
/// starts after a pause of 0.25 s, doubling to 5 s, back to 0.25 s after a round that lasted
/// (a watch that followed etcd for a while before it broke).
pub(crate) async fn keep_following<F, Fut>(
    stop: &CancellationToken,
    board: &Board,
    task: Task,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), EtcdError>>,
{
    let mut pause = FIRST_PAUSE;
    while !stop.is_cancelled() {
        let began = Instant::now();
        if let Err(e) = round().await {
            board.lost(task, &e);
        }
        if began.elapsed() >= MAX_PAUSE {
            pause = FIRST_PAUSE;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// What a watch gave: a batch of events, its end (`Ok(None)`), or its failure.
pub(crate) type Next = Result<Option<Vec<Event>>, EtcdError>;

/// A watch being read by a task of its own; the task ends when this is dropped.
pub(crate) struct Reading {
    pub(crate) next: mpsc::Receiver<Next>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Reading {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Reads `watch` in a task of its own until it ends or fails.
pub(crate) fn read_apart(mut watch: Watch) -> Reading {
    let (tx, next) = mpsc::channel(16);
    let reader = tokio::spawn(async move {
        loop {
            let batch = watch.next().await;
            let done = !matches!(batch, Ok(Some(_)));
            if tx.send(batch).await.is_err() || done {
                return;
            }
        }
    });
    Reading { next, reader }
}
