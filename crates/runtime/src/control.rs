//! The control plane's state and its loop: health checkers, outlier detection, draining.
//!
//! Everything here runs on one small dedicated runtime thread, apart from the data-plane
//! workers, so an overloaded proxy cannot delay a health transition. It may lock (the data
//! plane never does); it publishes to the data plane only through the snapshot store and the
//! `TargetState` atomics.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ballast_balance::{
    decide_slow_start, AnomalyDetector, HealthReason, HealthState, TargetState, EVALUATION_INTERVAL,
};
use ballast_config::{Config, GroupName, HealthCheckConfig, HealthCheckKind, TargetConfig};
use ballast_health::{run_checker, OutlierDetector, OutlierEvent};
use ballast_http::{SharedSnapshot, Target};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::events::{log_anomaly, log_outlier, log_transition};
use crate::snapshot::build_snapshot_with;
use crate::telemetry::Telemetry;
use crate::tls::TlsState;

/// A health check's settings and the PROXY header its connections start with: a change of
/// either restarts the target's checker.
type CheckedWith = (
    HealthCheckConfig,
    Option<ballast_config::ProxyProtocolVersion>,
);
/// How often outlier detection and draining deadlines are evaluated.
pub(crate) const TICK: Duration = Duration::from_millis(100);

/// Shared between the `Runtime` handle (any thread) and the control loop.
#[derive(Debug)]
pub(crate) struct Control {
    pub(crate) snapshot: SharedSnapshot,
    /// The L4 data plane's table, published with each HTTP snapshot.
    pub(crate) l4: ballast_l4::snapshot::SharedL4,
    pub(crate) workers: usize,
    pub(crate) runtime: tokio::runtime::Handle,
    /// The DNS server: its zones' snapshot, counters and sockets.
    pub(crate) dns: crate::dns::DnsRuntime,
    state: Mutex<ControlState>,
}

#[derive(Debug)]
pub(crate) struct ControlState {
    pub(crate) config: Config,
    /// Loaded certificates and target TLS configurations.
    pub(crate) tls: TlsState,
    /// Metric handles and the access log.
    pub(crate) telemetry: Telemetry,
    /// The listeners being served.
    pub(crate) listeners: Vec<crate::listeners::RunningListener>,
    /// Listeners a reload removed, kept in the snapshot until their connections have had
    /// the drain timeout to finish, so a request that arrives on one meanwhile is still routed.
    pub(crate) retired: Vec<(ballast_config::ListenerConfig, Instant)>,
    /// Deregistered targets still finishing their requests, and when they are cut.
    pub(crate) draining: Vec<Draining>,
    /// Targets added through the runtime API rather than the file; a reload keeps them.
    pub(crate) registered: Vec<(GroupName, TargetConfig)>,
    /// One per checked target: what it checks (and the PROXY header its checks send), and
    /// its task.
    checkers: HashMap<(GroupName, SocketAddr), (CheckedWith, AbortHandle)>,
    detectors: HashMap<GroupName, OutlierDetector>,
    /// Anomaly detection of `weighted_random` groups with mitigation, and when it last ran.
    anomalies: HashMap<GroupName, (AnomalyDetector, Instant)>,
    /// ACME certificate tasks of `https` listeners.
    pub(crate) acme: crate::acme::AcmeTasks,
    /// The DNS health checkers.
    dns_checkers: crate::dns::DnsCheckers,
    /// The addresses the cluster's live nodes advertise, for DNS aliases to the cluster.
    pub(crate) cluster_addresses: Vec<std::net::IpAddr>,
}

/// A deregistered target and the end of its deregistration delay.
#[derive(Debug, Clone)]
pub(crate) struct Draining {
    pub(crate) group: GroupName,
    pub(crate) address: SocketAddr,
    pub(crate) until: Instant,
    /// Its live state and connections, held here so they can be closed when the delay is
    /// over even if a reload removed its whole group from the snapshot.
    pub(crate) target: Option<Arc<Target>>,
}

impl Control {
    pub(crate) fn new(
        config: Config,
        tls: TlsState,
        telemetry: Telemetry,
        snapshot: SharedSnapshot,
        workers: usize,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self {
            snapshot,
            l4: std::sync::Arc::default(),
            workers,
            runtime,
            dns: crate::dns::DnsRuntime::default(),
            state: Mutex::new(ControlState {
                config,
                tls,
                telemetry,
                listeners: Vec::new(),
                retired: Vec::new(),
                draining: Vec::new(),
                registered: Vec::new(),
                checkers: HashMap::new(),
                detectors: HashMap::new(),
                anomalies: HashMap::new(),
                acme: HashMap::new(),
                dns_checkers: HashMap::new(),
                cluster_addresses: Vec::new(),
            }),
        }
    }

    /// The control state; a panic elsewhere must not wedge the control plane for good.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ControlState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Builds and publishes a snapshot for the current state, then starts and stops health
    /// checkers to match it.
    pub(crate) fn publish(&self, state: &mut ControlState) {
        let draining: Vec<(GroupName, SocketAddr)> = state
            .draining
            .iter()
            .map(|d| (d.group.clone(), d.address))
            .collect();
        let with_retired;
        let config = if state.retired.is_empty() {
            &state.config
        } else {
            let mut config = state.config.clone();
            config
                .listeners
                .extend(state.retired.iter().map(|(l, _)| l.clone()));
            with_retired = config;
            &with_retired
        };
        let next = build_snapshot_with(
            config,
            Some(&self.snapshot.load()),
            self.workers,
            &draining,
            &state.tls,
            &state.telemetry,
        );
        let next = Arc::new(next);
        self.l4.store(Arc::new(crate::l4::build_l4_snapshot(
            config,
            &next,
            &state.tls,
            &state.telemetry,
        )));
        crate::dns::publish(
            &self.dns,
            &mut state.dns_checkers,
            (&state.config, &state.cluster_addresses),
            &next,
            &self.runtime,
        );
        self.snapshot.store(next);
        self.reconcile_checkers(state);
        crate::acme::reconcile(&mut state.acme, &state.config, &state.tls, &self.runtime);
        state
            .detectors
            .retain(|name, _| state.config.target_group(name).is_some());
    }

    fn reconcile_checkers(&self, state: &mut ControlState) {
        let snapshot = self.snapshot.load();
        let mut wanted = HashMap::new();
        for group in &state.config.target_groups {
            let Some(check) = &group.health_check else {
                continue;
            };
            for target in &group.targets {
                let checked = (check.clone(), group.proxy_protocol);
                wanted.insert((group.name.clone(), target.address), checked);
            }
        }
        state.checkers.retain(|key, (check, task)| {
            let keep = wanted.get(key) == Some(check);
            if !keep {
                task.abort();
            }
            keep
        });
        for (key, (check, proxy)) in wanted {
            if state.checkers.contains_key(&key) {
                continue;
            }
            let Some(target) = snapshot
                .target_groups
                .iter()
                .find(|g| g.name == key.0)
                .and_then(|g| g.targets.iter().find(|t| t.address == key.1))
            else {
                continue;
            };
            // https checks do not verify the target's certificate (ALB's do not either).
            let tls = matches!(check.kind, HealthCheckKind::Http { tls: true, .. })
                .then(|| ballast_tls::build_client_config(false, None).ok())
                .flatten();
            let task = self.runtime.spawn(run_checker(
                Arc::clone(&key.0 .0),
                key.1,
                check.clone(),
                Arc::clone(&target.state),
                tls,
                proxy,
            ));
            state
                .checkers
                .insert(key, ((check, proxy), task.abort_handle()));
        }
    }

    /// One tick: outlier detection for every group, and the end of deregistration delays.
    pub(crate) fn tick(&self, now: Instant) {
        let mut state = self.lock();
        let retired = state.retired.len();
        state.retired.retain(|(_, until)| *until > now);
        if state.retired.len() != retired {
            self.publish(&mut state);
        }
        let snapshot = self.snapshot.load();
        for group in &snapshot.target_groups {
            let Some(config) = state.config.target_group(&group.name) else {
                continue;
            };
            let wanted = config.outlier_detection.clone();
            let mitigates = config.anomaly_mitigation;
            let detector = state
                .detectors
                .entry(group.name.clone())
                .or_insert_with(|| OutlierDetector::new(wanted.clone()));
            detector.reconfigure(&wanted);
            let targets: Vec<_> = group
                .targets
                .iter()
                .map(|t| (t.address, &*t.state))
                .collect();
            for event in detector.evaluate(&targets, now) {
                if matches!(event, OutlierEvent::Ejected { .. }) {
                    state.telemetry.registry.ejections.inc();
                }
                log_outlier(&group.name, &event);
            }
            if !mitigates && state.anomalies.remove(&group.name).is_some() {
                targets.iter().for_each(|(_, s)| s.reset_mitigation());
            }
            if mitigates {
                let states: Vec<&TargetState> = targets.iter().map(|(_, s)| *s).collect();
                let (detector, last) =
                    state
                        .anomalies
                        .entry(group.name.clone())
                        .or_insert_with(|| {
                            // The first evaluation only records where the counters start.
                            let mut detector = AnomalyDetector::new();
                            detector.evaluate(&states);
                            (detector, now)
                        });
                if now.saturating_duration_since(*last) >= EVALUATION_INTERVAL {
                    *last = now;
                    for event in detector.evaluate(&states) {
                        log_anomaly(&group.name, &targets, event);
                    }
                }
            }
            if !group.slow_start.is_zero() {
                let states: Vec<&TargetState> = targets.iter().map(|(_, s)| *s).collect();
                for index in decide_slow_start(&states, group.slow_start, now) {
                    tracing::info!(target_group = %group.name, target = %targets[index].0, ramp = ?group.slow_start, "target entered slow start");
                }
            }
        }
        let (due, pending): (Vec<_>, Vec<_>) =
            state.draining.drain(..).partition(|d| d.until <= now);
        state.draining = pending;
        if due.is_empty() {
            return;
        }
        for leaving in &due {
            if let Some(target) = &leaving.target {
                target.pool.close_all();
                if let Some(t) =
                    target
                        .state
                        .set_state(HealthState::Unused, HealthReason::NotRegistered, now)
                {
                    log_transition(&leaving.group, leaving.address, t);
                }
                tracing::info!(
                    target_group = %leaving.group,
                    target = %leaving.address,
                    in_flight_cut = target.state.in_flight(),
                    "target deregistered: delay over, connections closed"
                );
            }
        }
        drop(snapshot);
        self.publish(&mut state);
    }

    /// Stops every health checker and ACME task (shutdown).
    pub(crate) fn stop_checkers(&self) {
        let mut state = self.lock();
        for (_, (_, task)) in state.checkers.drain() {
            task.abort();
        }
        for (_, (_, _, task)) in state.dns_checkers.drain() {
            task.abort();
        }
        crate::acme::stop(&mut state.acme);
    }
}

/// Runs the control loop until `shutdown` is cancelled, then stops the health checkers and
/// waits for `drained` (the workers' drain is over) before it returns: the tasks still on
/// the control runtime (the scaling groups', whose `process` instances end when their task
/// is dropped) must outlive every request in flight to those instances.
pub(crate) async fn run(
    control: Arc<Control>,
    shutdown: CancellationToken,
    drained: CancellationToken,
) {
    let mut ticks = tokio::time::interval(TICK);
    let mut tick_count = 0u64;
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticks.tick() => {
                control.tick(Instant::now());
                // Certificate files are looked at once a second.
                tick_count += 1;
                if tick_count.is_multiple_of(10) {
                    control.lock().tls.reload_changed();
                }
            }
        }
    }
    control.stop_checkers();
    drained.cancelled().await;
}
