//! Data-plane worker threads: each runs its own single-threaded tokio runtime serving its
//! share of every listener, so a request lives on one thread from accept to response.

use std::sync::Arc;
use std::time::Duration;

use ballast_http::{serve_listener, ListenerTask, SharedSnapshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::listeners::BoundListener;
use crate::RuntimeError;

/// Starts `count` worker threads; worker `i` takes socket `i` of every listener.
pub(crate) fn spawn(
    listeners: Vec<BoundListener>,
    count: usize,
    snapshot: &SharedSnapshot,
    shutdown: &CancellationToken,
    drain_timeout: Duration,
) -> Result<Vec<std::thread::JoinHandle<()>>, RuntimeError> {
    let mut per_worker: Vec<Vec<(ballast_config::ListenerName, std::net::TcpListener)>> =
        (0..count).map(|_| Vec::new()).collect();
    for listener in listeners {
        for (i, socket) in listener.sockets.into_iter().enumerate() {
            per_worker[i].push((listener.name.clone(), socket));
        }
    }
    per_worker
        .into_iter()
        .enumerate()
        .map(|(worker, sockets)| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(RuntimeError::Worker)?;
            let snapshot = Arc::clone(snapshot);
            let shutdown = shutdown.clone();
            std::thread::Builder::new()
                .name(format!("ballast-worker-{worker}"))
                .spawn(move || {
                    runtime.block_on(run_worker(
                        worker,
                        sockets,
                        snapshot,
                        shutdown,
                        drain_timeout,
                    ))
                })
                .map_err(RuntimeError::Worker)
        })
        .collect()
}

async fn run_worker(
    worker: usize,
    sockets: Vec<(ballast_config::ListenerName, std::net::TcpListener)>,
    snapshot: SharedSnapshot,
    shutdown: CancellationToken,
    drain_timeout: Duration,
) {
    let connections = TaskTracker::new();
    let mut accept_loops = Vec::with_capacity(sockets.len());
    for (name, socket) in sockets {
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
            shutdown: shutdown.clone(),
            connections: connections.clone(),
        };
        accept_loops.push(tokio::spawn(serve_listener(listener, task)));
    }
    shutdown.cancelled().await;
    for accept_loop in accept_loops {
        // The loop ends on the same cancellation; its result carries nothing.
        let _ended = accept_loop.await;
    }
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
