//! The runtime: turns a [`Config`] into a running proxy and stops it cleanly.
//!
//! Control plane, layer 4: it may import every crate below it. It builds the data-plane
//! snapshot (carrying per-target state across rebuilds), publishes it with one `ArcSwap`
//! store, binds listeners, runs the worker threads and drains them on shutdown. The data
//! plane never imports this crate.

mod acme;
mod control;
mod listeners;
mod reload;
mod snapshot;
mod telemetry;
mod tls;
mod workers;

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use std::time::Instant;

use arc_swap::ArcSwap;
use ballast_config::{Config, GroupName, ListenerName, TargetConfig, TargetGroupConfig};
use ballast_http::{HttpSnapshot, SharedSnapshot};
use tokio_util::sync::CancellationToken;

use control::{Control, ControlState, Draining};
use telemetry::Telemetry;
use workers::Workers;

pub use ballast_balance::{HealthReason, HealthState};
pub use listeners::InheritedListener;
pub use reload::{ApplyError, ReloadStatus};
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
    /// No target group has this name.
    #[error("unknown target group \"{group}\" (known: {})", known.join(", "))]
    UnknownGroup {
        /// The name asked for.
        group: GroupName,
        /// The groups that exist.
        known: Vec<String>,
    },
    /// The group has no such target.
    #[error("target group \"{group}\" has no target {address}")]
    UnknownTarget {
        /// The group.
        group: GroupName,
        /// The address asked for.
        address: SocketAddr,
    },
    /// A listener's certificate, key or client CA file does not load (or rustls refuses
    /// them). The message includes the source's, so `to_string()` alone is complete.
    #[error("listeners.{listener}.tls: {source}")]
    ListenerTls {
        /// The listener.
        listener: ListenerName,
        /// What is wrong, naming the file (boxed: it is large, and rare).
        #[source]
        source: Box<ballast_tls::TlsError>,
    },
    /// A target group's CA bundle does not load.
    #[error("target_groups.{group}.tls: {source}")]
    TargetTls {
        /// The group.
        group: GroupName,
        /// What is wrong, naming the file (boxed: it is large, and rare).
        #[source]
        source: Box<ballast_tls::TlsError>,
    },
    /// The access log output cannot be opened.
    #[error(transparent)]
    AccessLog(#[from] ballast_telemetry::AccessLogError),
}

/// A running proxy: its worker threads, its control thread, its published snapshot and its
/// bound listeners. Its methods may be called from any thread.
#[derive(Debug)]
pub struct Runtime {
    control: Arc<Control>,
    serve: Workers,
    shutdown: CancellationToken,
    workers: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
    control_thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    reloads: reload::Reloads,
}

/// What the runtime knows of one target's health, for operators (and the admin API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    /// Its group.
    pub group: GroupName,
    /// Its address.
    pub address: SocketAddr,
    /// Its state.
    pub state: HealthState,
    /// Why it is in that state.
    pub reason: HealthReason,
    /// Requests in flight on it.
    pub in_flight: u64,
    /// Requests sent to it since it was first configured (retried attempts included).
    pub requests: u64,
    /// Whether passive health has it ejected right now.
    pub ejected: bool,
    /// State changes since it was first configured.
    pub transitions: u64,
    /// When its last active health check ran and whether it passed (`None`: not checked).
    pub last_check: Option<(std::time::SystemTime, bool)>,
    /// Active health checks that passed since it was first configured.
    pub checks_passed: u64,
    /// Active health checks that failed since it was first configured.
    pub checks_failed: u64,
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
            std::thread::Builder::new()
                .name("ballast-control".to_owned())
                .spawn(move || control_runtime.block_on(control::run(control, shutdown)))
                .map_err(RuntimeError::Worker)?
        };
        let (serve, workers) = workers::spawn(worker_count, &snapshot, &shutdown, drain_timeout)?;
        let runtime = Self {
            control,
            serve,
            shutdown,
            workers: std::sync::Mutex::new(workers),
            control_thread: std::sync::Mutex::new(Some(control_thread)),
            reloads: reload::Reloads::default(),
        };
        {
            let mut state = runtime.control.lock();
            for (requested, bound) in sockets {
                runtime.start_listener(&mut state, requested, bound);
            }
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
            })
            .collect()
    }

    /// Whether [`Runtime::shutdown`] has begun (readiness checks answer "not ready").
    pub fn is_stopping(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Number of data-plane worker threads.
    pub fn worker_count(&self) -> usize {
        self.control.workers
    }

    /// Applies a new configuration: targets, groups, rules, timeouts and actions switch
    /// atomically for new requests; requests in flight finish on the old snapshot. Live
    /// target state and connection pools carry over, and targets the new configuration drops
    /// are drained as if deregistered. New listeners are bound (a failure refuses the whole
    /// change before anything moved); removed ones stop accepting and close their
    /// connections gracefully; the others, and their connections, are untouched.
    pub fn apply(&self, mut config: Config) -> Result<(), RuntimeError> {
        let mut state = self.control.lock();
        let (removed, added) = listeners::diff(&state.listeners, &config);
        // Everything that can fail happens before anything changes: new sockets, certificates
        // and the access log output.
        let bound = added
            .iter()
            .map(|l| listeners::bind(l, self.control.workers).map(|b| (l.bind, b)))
            .collect::<Result<Vec<_>, _>>()?;
        let tls = tls::TlsState::prepare(&config, &state.tls)?;
        let telemetry = Telemetry::prepare(&config, &state.telemetry)?;
        state.tls = tls;
        state.telemetry = telemetry;
        keep_registered(&mut state, &mut config);
        let now = Instant::now();
        let mut leaving = Vec::new();
        for old in &state.config.target_groups {
            let new = config.target_group(&old.name);
            for target in &old.targets {
                let kept =
                    new.is_some_and(|g| g.targets.iter().any(|t| t.address == target.address));
                if !kept {
                    let delay = new.map_or(old.deregistration_delay, |g| g.deregistration_delay);
                    leaving.push((old.name.clone(), target.address, now + delay));
                }
            }
        }
        for (group, address, until) in leaving {
            self.start_draining(&mut state, &group, address, until);
        }
        state.draining.retain(|d| {
            !config
                .target_group(&d.group)
                .is_some_and(|g| g.targets.iter().any(|t| t.address == d.address))
        });
        // Removed listeners stop first: their connections finish what they are doing on the
        // snapshot they already hold and close.
        let until = Instant::now() + state.config.server.drain_timeout;
        for name in &removed {
            let gone = config.listeners.iter().all(|l| &l.name != name);
            if let Some(old) = state.config.listeners.iter().find(|l| &l.name == name) {
                if gone {
                    let old = old.clone();
                    state.retired.push((old, until));
                }
            }
            if let Some(i) = state.listeners.iter().position(|l| &l.name == name) {
                let listener = state.listeners.remove(i);
                listener.stop.cancel();
                tracing::info!(listener = %listener.name, addr = %listener.address, "listener removed: no new connections, open ones close gracefully");
            }
        }
        state
            .retired
            .retain(|(l, _)| config.listeners.iter().all(|n| n.name != l.name));
        state.config = config;
        self.control.publish(&mut state);
        for (requested, listener) in bound {
            self.start_listener(&mut state, requested, listener);
        }
        Ok(())
    }

    /// Adds a target to a group at runtime. It starts `initial` (or `healthy` when the group
    /// has no health check); a target that was draining is registered again.
    pub fn register_target(&self, group: &str, address: SocketAddr) -> Result<(), RuntimeError> {
        let mut state = self.control.lock();
        let name = GroupName::from(group);
        let config = group_mut(&mut state, &name)?;
        if !config.targets.iter().any(|t| t.address == address) {
            config.targets.push(TargetConfig::at(address));
            state.registered.push((name.clone(), address));
        }
        state
            .draining
            .retain(|d| !(d.group == name && d.address == address));
        tracing::info!(target_group = group, target = %address, "target registered");
        self.control.publish(&mut state);
        Ok(())
    }

    /// Removes a target from a group at runtime. It is `draining` at once: no new requests
    /// or connections; requests in flight finish; when the group's deregistration delay is
    /// over, its remaining connections are closed and it is gone.
    pub fn deregister_target(&self, group: &str, address: SocketAddr) -> Result<(), RuntimeError> {
        let mut state = self.control.lock();
        let name = GroupName::from(group);
        let config = group_mut(&mut state, &name)?;
        let before = config.targets.len();
        config.targets.retain(|t| t.address != address);
        if config.targets.len() == before {
            return Err(RuntimeError::UnknownTarget {
                group: name,
                address,
            });
        }
        let delay = config.deregistration_delay;
        state
            .registered
            .retain(|(g, a)| !(*g == name && *a == address));
        self.start_draining(&mut state, &name, address, Instant::now() + delay);
        self.reloads.forget_target(group, address);
        tracing::info!(target_group = group, target = %address, delay = ?delay, "target deregistering: draining");
        self.control.publish(&mut state);
        if delay.is_zero() {
            drop(state);
            self.control.tick(Instant::now());
        }
        Ok(())
    }

    /// The health of every target of every group, draining ones included.
    pub fn target_health(&self) -> Vec<TargetHealth> {
        let snapshot = self.control.snapshot.load();
        let now = Instant::now();
        snapshot
            .target_groups
            .iter()
            .flat_map(|g| {
                g.targets.iter().map(move |t| TargetHealth {
                    group: g.name.clone(),
                    address: t.address,
                    state: t.state.state(),
                    reason: t.state.reason(),
                    in_flight: t.state.in_flight(),
                    requests: t.state.requests(),
                    ejected: t.state.is_ejected(now),
                    transitions: t.state.transitions(),
                    last_check: t.state.last_check().map(|(at, passed)| {
                        let ago = now.saturating_duration_since(at);
                        (std::time::SystemTime::now() - ago, passed)
                    }),
                    // After the state: a check is counted before the state it decides is
                    // written, so the counts include the check behind the state read.
                    checks_passed: t.state.checks().0,
                    checks_failed: t.state.checks().1,
                })
            })
            .collect()
    }

    /// Stops accepting, lets in-flight requests finish for up to the drain timeout, closes
    /// the rest and waits for the worker threads. Blocks the calling thread.
    pub fn shutdown(&self) -> Duration {
        let started = std::time::Instant::now();
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

fn group_mut<'a>(
    state: &'a mut ControlState,
    name: &GroupName,
) -> Result<&'a mut TargetGroupConfig, RuntimeError> {
    let known: Vec<String> = state
        .config
        .target_groups
        .iter()
        .map(|g| g.name.to_string())
        .collect();
    state
        .config
        .target_groups
        .iter_mut()
        .find(|g| &g.name == name)
        .ok_or_else(|| RuntimeError::UnknownGroup {
            group: name.clone(),
            known,
        })
}

/// Puts the targets registered through the API (not in any file) into a configuration
/// that is about to replace the running one, so a reload does not drain them. Those whose
/// group is gone are forgotten.
fn keep_registered(state: &mut ControlState, config: &mut Config) {
    state.registered.retain(|(name, address)| {
        let Some(group) = config.target_groups.iter_mut().find(|g| &g.name == name) else {
            return false;
        };
        if !group.targets.iter().any(|t| t.address == *address) {
            group.targets.push(TargetConfig::at(*address));
        }
        true
    });
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
            .map_or("http", |l| if l.tls.is_some() { "https" } else { "http" });
        tracing::info!(listener = %bound.name, addr = %bound.address, protocol, "listener started");
        let copies = bound
            .sockets
            .iter()
            .filter_map(|s| match s.try_clone() {
                Ok(copy) => Some(copy),
                Err(error) => {
                    tracing::warn!(listener = %bound.name, %error, "cannot keep a copy of a listener socket for upgrades");
                    None
                }
            })
            .collect();
        self.serve.serve(&bound.name, bound.sockets, &stop);
        state.listeners.push(listeners::RunningListener {
            name: bound.name,
            requested,
            address: bound.address,
            stop,
            sockets: copies,
        });
    }

    /// Records a target as draining until `until`, holding its live state and connections
    /// from the current snapshot so they can be closed then, and marks it `draining` now.
    fn start_draining(
        &self,
        state: &mut ControlState,
        group: &GroupName,
        address: SocketAddr,
        until: Instant,
    ) {
        let target = self
            .control
            .snapshot
            .load()
            .target_groups
            .iter()
            .find(|g| g.name == *group)
            .and_then(|g| g.targets.iter().find(|t| t.address == address))
            .cloned();
        if let Some(target) = &target {
            if let Some(t) = target.state.set_state(
                HealthState::Draining,
                HealthReason::DeregistrationInProgress,
                Instant::now(),
            ) {
                control::log_transition(group, address, t);
            }
        }
        state
            .draining
            .retain(|d| !(d.group == *group && d.address == address));
        state.draining.push(Draining {
            group: group.clone(),
            address,
            until,
            target,
        });
    }
}

impl Drop for Runtime {
    /// A runtime dropped without [`Runtime::shutdown`] still stops its threads (without
    /// waiting for them), so a test or an embedding program never leaks a running proxy.
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
