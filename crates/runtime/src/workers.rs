//! Data-plane worker threads: each runs its own single-threaded tokio runtime serving its
//! share of every listener, so a request lives on one thread from accept to response.
//!
//! Listeners come and go while workers run: the control side sends each worker its socket
//! of a new listener, and cancels a removed listener's token, which stops its accept loops
//! and gracefully closes its connections (in-flight requests finish). Other listeners and
//! their connections are untouched.

use std::sync::Arc;
use std::time::Duration;

use ballast_config::ListenerName;
use ballast_http::{
    serve_listener, BufferPool, FdBudget, ListenerConnections, ListenerTask, SharedSnapshot,
};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::RuntimeError;

/// A listener socket for one worker to serve until `stop` is cancelled.
#[derive(Debug)]
pub(crate) struct Serve {
    pub(crate) name: ListenerName,
    pub(crate) socket: std::net::TcpListener,
    pub(crate) stop: CancellationToken,
    /// The listener's open connections, one count for all its sockets and workers.
    pub(crate) open: Arc<ListenerConnections>,
}

/// The running workers: one command queue each.
#[derive(Debug)]
pub(crate) struct Workers {
    queues: Vec<UnboundedSender<Serve>>,
}

impl Workers {
    /// Hands worker `i` socket `i` of a listener. A worker that has exited (shutdown)
    /// drops it, which closes it.
    pub(crate) fn serve(
        &self,
        name: &ListenerName,
        sockets: Vec<std::net::TcpListener>,
        stop: &CancellationToken,
    ) {
        // A listener taken over from a process with more workers has more sockets than
        // there are workers here: every socket must still be served, or the kernel would
        // queue connections on one nobody accepts from.
        let open = ListenerConnections::new();
        for (i, socket) in sockets.into_iter().enumerate() {
            let queue = &self.queues[i % self.queues.len()];
            let _gone = queue.send(Serve {
                name: name.clone(),
                socket,
                stop: stop.clone(),
                open: Arc::clone(&open),
            });
        }
    }
}

/// Starts `count` worker threads serving nothing yet.
pub(crate) fn spawn(
    count: usize,
    snapshot: &SharedSnapshot,
    shutdown: &CancellationToken,
    drain_timeout: Duration,
    fds: &Arc<FdBudget>,
) -> Result<(Workers, Vec<std::thread::JoinHandle<()>>), RuntimeError> {
    let mut queues = Vec::with_capacity(count);
    let mut threads = Vec::with_capacity(count);
    for worker in 0..count {
        let (queue, commands) = unbounded_channel();
        queues.push(queue);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(RuntimeError::Worker)?;
        let snapshot = Arc::clone(snapshot);
        let shutdown = shutdown.clone();
        let fds = Arc::clone(fds);
        let thread = std::thread::Builder::new()
            .name(format!("ballast-worker-{worker}"))
            .spawn(move || {
                runtime.block_on(run_worker(
                    worker,
                    commands,
                    snapshot,
                    shutdown,
                    drain_timeout,
                    fds,
                ))
            })
            .map_err(RuntimeError::Worker)?;
        threads.push(thread);
    }
    Ok((Workers { queues }, threads))
}

async fn run_worker(
    worker: usize,
    mut commands: UnboundedReceiver<Serve>,
    snapshot: SharedSnapshot,
    shutdown: CancellationToken,
    drain_timeout: Duration,
    fds: Arc<FdBudget>,
) {
    let connections = TaskTracker::new();
    let buffers = BufferPool::new();
    let accept_loops = TaskTracker::new();
    loop {
        let serve = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            serve = commands.recv() => match serve {
                Some(serve) => serve,
                None => {
                    shutdown.cancelled().await;
                    break;
                }
            },
        };
        let Serve {
            name,
            socket,
            stop,
            open,
        } = serve;
        let listener = match tokio::net::TcpListener::from_std(socket) {
            Ok(listener) => listener,
            Err(error) => {
                tracing::error!(listener = %name, worker, %error, "cannot register listener socket");
                continue;
            }
        };
        let task = ListenerTask {
            name,
            snapshot: Arc::clone(&snapshot),
            worker,
            shutdown: stop,
            connections: connections.clone(),
            buffers: Arc::clone(&buffers),
            fds: Arc::clone(&fds),
            open,
        };
        accept_loops.spawn(serve_listener(listener, task));
    }
    accept_loops.close();
    accept_loops.wait().await;
    connections.close();
    let open = connections.len();
    if open > 0 {
        tracing::info!(worker, connections = open, timeout = ?drain_timeout, "draining connections");
    }
    if tokio::time::timeout(drain_timeout, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            worker,
            connections = connections.len(),
            "drain timeout elapsed; closing remaining connections"
        );
    }
}
