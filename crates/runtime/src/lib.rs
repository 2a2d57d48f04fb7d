//! The runtime: turns a [`Config`] into a running proxy and stops it cleanly.
//!
//! Control plane, layer 4: it may import every crate below it. It builds the data-plane
//! snapshot (carrying per-target state across rebuilds), publishes it with one `ArcSwap`
//! store, binds listeners, runs the worker threads and drains them on shutdown. The data
//! plane never imports this crate.

mod acme;
mod apply;
mod cluster;
mod control;
mod dns;
mod error;
mod events;
mod fds;
mod l4;
mod listeners;
mod reload;
mod scaling;
mod snapshot;
mod sticky_key;
mod targets;
mod telemetry;
mod tls;
mod waf;
mod workers;

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use ballast_config::{Config, ListenerName};
use ballast_http::{HttpSnapshot, SharedSnapshot};
use tokio_util::sync::CancellationToken;

use control::{Control, ControlState};
use telemetry::Telemetry;
use workers::Workers;

pub use ballast_balance::{HealthReason, HealthState};
pub use cluster::{
    ClusterNode, ClusterStatus, NodeTargets, Publishing, Registering, RegistrationError,
    SharedDocument, TargetSeen,
};
pub use dns::{CheckStatus, DnsStatus, MemberStatus, RecordSetStatus, ZoneStatus};
pub use error::RuntimeError;
pub use listeners::InheritedListener;
pub use reload::{ApplyError, ReloadStatus};
pub use scaling::{
    ActivityRecord, ForecastHour, ForecastStatus, InstanceStatus, ScalingCommand,
    ScalingCommandError, ScalingGroupStatus, SeriesPoint,
};
pub use snapshot::build_snapshot;
pub use targets::TargetHealth;

/// A running proxy: its worker threads, its control thread, its published snapshot and its
/// bound listeners. Its methods may be called from any thread.
#[derive(Debug)]
pub struct Runtime {
    control: Arc<Control>,
    serve: Workers,
    shutdown: CancellationToken,
    /// Cancelled once the workers finished their drain: the control thread (and the
    /// scaling groups' instances it runs) ends only then.
    drained: CancellationToken,
    workers: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
    control_thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    reloads: reload::Reloads,
    /// The scaling groups' status, written by their tasks.
    scaling: scaling::ScalingBoard,
    /// The cluster this node belongs to, when it does.
    cluster: cluster::ClusterBoard,
}

impl Runtime {
    /// Binds every listener and starts the worker threads and the control thread. When this
    /// returns, every listener accepts connections.
    pub fn start(config: Config) -> Result<Self, RuntimeError> {
        Self::start_inheriting(config, Vec::new())
    }

    /// [`Runtime::start`], serving the sockets a previous process handed over for the
    /// listeners they match (same name, same `bind`) instead of binding new ones: their
    /// accept queues carry over, so no connection attempt is refused during an upgrade.
    /// Inherited sockets no listener wants are closed.
    pub fn start_inheriting(
        config: Config,
        mut inherited: Vec<InheritedListener>,
    ) -> Result<Self, RuntimeError> {
        let available = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
        let worker_count = config.server.workers.resolve(available).get();
        let snapshot: SharedSnapshot = Arc::new(ArcSwap::from_pointee(HttpSnapshot::default()));
        let sockets = config
            .listeners
            .iter()
            .map(|l| {
                listeners::bind_or_inherit(l, worker_count, &mut inherited).map(|b| (l.bind, b))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for unused in inherited {
            tracing::info!(listener = %unused.name, "inherited listener no longer configured: closed");
        }
        let shutdown = CancellationToken::new();
        let drained = CancellationToken::new();
        let drain_timeout = config.server.drain_timeout;

        let control_runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(RuntimeError::Worker)?;
        let tls = tls::TlsState::prepare(&config, &tls::TlsState::default())?;
        let telemetry = Telemetry::prepare(&config, &Telemetry::default())?;
        let control = Arc::new(Control::new(
            config,
            tls,
            telemetry,
            Arc::clone(&snapshot),
            worker_count,
            control_runtime.handle().clone(),
        ));
        control.publish(&mut control.lock());
        let control_thread = {
            let (control, shutdown) = (Arc::clone(&control), shutdown.clone());
            let drained = drained.clone();
            std::thread::Builder::new()
                .name("ballast-control".to_owned())
                .spawn(move || control_runtime.block_on(control::run(control, shutdown, drained)))
                .map_err(RuntimeError::Worker)?
        };
        let fds = fds::data_plane_budget();
        let (serve, workers) = workers::spawn(
            worker_count,
            (&snapshot, &control.l4),
            &shutdown,
            drain_timeout,
            &fds,
        )?;
        let runtime = Self {
            control,
            serve,
            shutdown,
            drained,
            workers: std::sync::Mutex::new(workers),
            control_thread: std::sync::Mutex::new(Some(control_thread)),
            reloads: reload::Reloads::default(),
            scaling: scaling::ScalingBoard::default(),
            cluster: cluster::ClusterBoard::default(),
        };
        {
            let mut state = runtime.control.lock();
            for (requested, bound) in sockets {
                runtime.start_listener(&mut state, requested, bound);
            }
            runtime.control.dns.sync_server(&state.config)?;
        }
        Ok(runtime)
    }

    /// The address each listener is bound to (the real port when the config said port 0).
    pub fn listeners(&self) -> Vec<(ListenerName, SocketAddr)> {
        self.control
            .lock()
            .listeners
            .iter()
            .map(|l| (l.name.clone(), l.address))
            .collect()
    }

    /// Duplicates of every listener's sockets, for handing them to a new process (binary
    /// upgrade). This process keeps serving them until it is shut down.
    pub fn handover(&self) -> Vec<InheritedListener> {
        self.control
            .lock()
            .listeners
            .iter()
            .map(|l| InheritedListener {
                name: l.name.to_string(),
                requested: l.requested,
                sockets: l
                    .sockets
                    .iter()
                    .filter_map(|s| s.try_clone().ok())
                    .collect(),
                udp: l.udp.iter().filter_map(|s| s.try_clone().ok()).collect(),
            })
            .collect()
    }

    /// The address the DNS server is bound to, when `[dns]` is configured.
    pub fn dns_address(&self) -> Option<SocketAddr> {
        self.control.dns.address()
    }

    /// The DNS server's counters.
    pub fn dns_stats(&self) -> Arc<ballast_dns::stats::DnsStats> {
        Arc::clone(&self.control.dns.stats)
    }

    /// The DNS server's zones as served now (health read live from it).
    pub fn dns_snapshot(&self) -> Arc<ballast_dns::DnsSnapshot> {
        self.control.dns.snapshot.load_full()
    }

    /// The DNS server for operators: record sets with their members' health and answers,
    /// health checks, counters; `None` without `[dns]`.
    pub fn dns_status(&self) -> Option<DnsStatus> {
        let configured = self.control.lock().config.dns.is_some();
        self.control.dns.status(configured)
    }

    /// Whether [`Runtime::shutdown`] has begun (readiness checks answer "not ready").
    pub fn is_stopping(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Resolves once the workers finished draining after [`Runtime::shutdown`]: no request
    /// is in flight to any target any more.
    pub(crate) async fn drained(&self) {
        self.drained.cancelled().await;
    }

    /// Number of data-plane worker threads.
    pub fn worker_count(&self) -> usize {
        self.control.workers
    }

    /// Stops accepting, lets in-flight requests finish for up to the drain timeout, closes
    /// the rest and waits for the worker threads. Blocks the calling thread.
    pub fn shutdown(&self) -> Duration {
        let started = std::time::Instant::now();
        // The copies kept for a binary upgrade would keep the listening sockets open, and
        // the kernel would go on queueing connections nobody accepts: a client would hang
        // until the drain ends. Closed now, new clients are refused at once (or a load
        // balancer in front moves them to another node). A new process that took the sockets
        // over holds its own descriptors, so an upgrade loses nothing.
        for listener in &mut self.control.lock().listeners {
            listener.sockets.clear();
        }
        // The DNS server stops answering at once: peers checking this node fail over to
        // themselves while this one drains.
        self.control.dns.stop();
        self.shutdown.cancel();
        let workers = std::mem::take(
            &mut *self
                .workers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for worker in workers {
            if worker.join().is_err() {
                tracing::error!("a worker thread panicked during shutdown");
            }
        }
        self.drained.cancel();
        let control = self
            .control_thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(control) = control {
            if control.join().is_err() {
                tracing::error!("the control thread panicked");
            }
        }
        started.elapsed()
    }
}

// === impl Runtime (private) ===

impl Runtime {
    /// Hands a bound listener's sockets to the workers and records it as running.
    fn start_listener(
        &self,
        state: &mut ControlState,
        requested: SocketAddr,
        bound: listeners::BoundListener,
    ) {
        let stop = self.shutdown.child_token();
        let protocol = state
            .config
            .listeners
            .iter()
            .find(|l| l.name == bound.name)
            .map_or("http", |l| l.protocol.name());
        tracing::info!(listener = %bound.name, addr = %bound.address, protocol, "listener started");
        fn kept<S>(name: &ListenerName, copy: std::io::Result<S>) -> Option<S> {
            copy.map_err(|error| {
                tracing::warn!(listener = %name, %error, "cannot keep a copy of a listener socket for upgrades");
            })
            .ok()
        }
        let name = &bound.name;
        let copies = bound
            .sockets
            .iter()
            .filter_map(|s| kept(name, s.try_clone()))
            .collect();
        let udp = bound
            .udp
            .iter()
            .filter_map(|s| kept(name, s.try_clone()))
            .collect();
        let (name, protocol, address) = (bound.name.clone(), bound.protocol, bound.address);
        self.serve.serve(bound, &stop);
        state.listeners.push(listeners::RunningListener {
            name,
            protocol,
            requested,
            address,
            stop,
            sockets: copies,
            udp,
        });
    }
}

impl Drop for Runtime {
    /// A runtime dropped without [`Runtime::shutdown`] still stops its threads (without
    /// waiting for them), so a test or an embedding program never leaks a running proxy.
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.control.dns.stop();
        // Nothing waits for a drain here: the control thread need not either.
        self.drained.cancel();
    }
}
