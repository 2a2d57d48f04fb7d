//! What a worker needs to serve one L4 listener socket.

use std::sync::Arc;

use ballast_config::ListenerName;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::limits::{FdBudget, ListenerConnections};
use crate::snapshot::SharedL4;

/// One worker's share of an L4 listener.
#[derive(Debug, Clone)]
pub struct L4Task {
    /// The listener's name, to find it in each snapshot.
    pub name: ListenerName,
    /// The L4 table, swapped by the control plane.
    pub snapshot: SharedL4,
    /// This worker's index.
    pub worker: usize,
    /// Cancelled when the listener must stop accepting.
    pub shutdown: CancellationToken,
    /// Cancelled when the whole process stops (SIGTERM, or a binary upgrade took its
    /// sockets), rather than a reload stopping this listener alone.
    pub process: CancellationToken,
    /// Tracks every connection (and UDP flow) task so shutdown can wait for them.
    pub connections: TaskTracker,
    /// The process's data-plane socket budget.
    pub fds: Arc<FdBudget>,
    /// The listener's open client connections, shared by every worker serving it.
    pub open: Arc<ListenerConnections>,
}

impl L4Task {
    /// A flag raised when the listener stops. Awaiting the token itself would take its lock
    /// at every accept (or datagram); the flag costs an atomic load, and one small task
    /// waits on the token instead.
    pub fn stop_flag(&self) -> Arc<crate::signal::Signal> {
        let flag = Arc::new(crate::signal::Signal::default());
        let raise = Arc::clone(&flag);
        let token = self.shutdown.clone();
        tokio::spawn(async move {
            token.cancelled().await;
            raise.raise();
        });
        flag
    }
}
