//! The runtime: turns a [`Config`] into a running proxy and stops it cleanly.
//!
//! Control plane, layer 4: it may import every crate below it. It builds the data-plane
//! snapshot (carrying per-target state across rebuilds), publishes it with one `ArcSwap`
//! store, binds listeners, runs the worker threads and drains them on shutdown. The data
//! plane never imports this crate.

mod listeners;
mod snapshot;
mod workers;

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use ballast_config::{Config, ListenerName};
use ballast_http::SharedSnapshot;
use tokio_util::sync::CancellationToken;

pub use snapshot::build_snapshot;

/// Why the proxy could not start or take a new configuration.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A listener's address could not be bound.
    #[error("listeners.{listener}.bind: cannot bind {address}: {reason}")]
    Bind {
        /// The listener.
        listener: ListenerName,
        /// The address from its `bind` key.
        address: SocketAddr,
        /// The operating system's reason (not a `source`: the message already says it).
        reason: std::io::Error,
    },
    /// A worker thread or its async runtime could not be created.
    #[error("cannot start worker thread: {0}")]
    Worker(std::io::Error),
    /// The new configuration adds, removes or rebinds listeners, which needs a restart today.
    #[error("listeners changed ({0}); restart Ballast to apply listener changes")]
    ListenersChanged(String),
}

/// A running proxy: its worker threads, its published snapshot and its bound listeners.
#[derive(Debug)]
pub struct Runtime {
    config: Config,
    snapshot: SharedSnapshot,
    bound: Vec<(ListenerName, SocketAddr)>,
    shutdown: CancellationToken,
    workers: Vec<std::thread::JoinHandle<()>>,
    worker_count: usize,
}

impl Runtime {
    /// Binds every listener and starts the worker threads. When this returns, every
    /// listener accepts connections.
    pub fn start(config: Config) -> Result<Self, RuntimeError> {
        let available = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
        let worker_count = config.server.workers.resolve(available).get();
        let snapshot: SharedSnapshot = Arc::new(ArcSwap::from_pointee(build_snapshot(
            &config,
            None,
            worker_count,
        )));
        let sockets = listeners::bind_all(&config, worker_count)?;
        let bound: Vec<(ListenerName, SocketAddr)> = sockets
            .iter()
            .map(|s| (s.name.clone(), s.address))
            .collect();
        let shutdown = CancellationToken::new();
        let workers = workers::spawn(
            sockets,
            worker_count,
            &snapshot,
            &shutdown,
            config.server.drain_timeout,
        )?;
        for (name, address) in &bound {
            tracing::info!(listener = %name, addr = %address, protocol = "http", "listener started");
        }
        Ok(Self {
            config,
            snapshot,
            bound,
            shutdown,
            workers,
            worker_count,
        })
    }

    /// The address each listener is bound to (the real port when the config said port 0).
    pub fn listeners(&self) -> &[(ListenerName, SocketAddr)] {
        &self.bound
    }

    /// Number of data-plane worker threads.
    pub fn worker_count(&self) -> usize {
        self.worker_count
    }

    /// Applies a new configuration whose listeners are unchanged: targets, groups, timeouts
    /// and actions switch atomically for new requests; requests in flight finish on the old
    /// snapshot. Live target state and connection pools carry over.
    pub fn apply(&mut self, config: Config) -> Result<(), RuntimeError> {
        listeners::ensure_same(&self.config, &config)?;
        let next = build_snapshot(&config, Some(&self.snapshot.load()), self.worker_count);
        self.snapshot.store(Arc::new(next));
        self.config = config;
        Ok(())
    }

    /// Stops accepting, lets in-flight requests finish for up to the drain timeout, closes
    /// the rest and waits for the worker threads. Blocks the calling thread.
    pub fn shutdown(self) -> Duration {
        let started = std::time::Instant::now();
        self.shutdown.cancel();
        for worker in self.workers {
            if worker.join().is_err() {
                tracing::error!("a worker thread panicked during shutdown");
            }
        }
        started.elapsed()
    }
}
