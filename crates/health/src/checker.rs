//! The driver of one target's active health checks, on the control runtime.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use ballast_balance::{HealthState, TargetState};
use ballast_config::HealthCheckConfig;

use crate::check::{check_once, first_delay};
use crate::machine::HealthMachine;

/// Checks one target every `config.interval` (the first check at a random point of the
/// first interval) and writes its health into `state`, logging every transition. `proxy`:
/// each check's connection starts with that version's PROXY header (the group sends them). Runs until
/// the task is aborted: the runtime keeps one per target per group.
pub async fn run_checker(
    group: Arc<str>,
    address: SocketAddr,
    config: HealthCheckConfig,
    state: Arc<TargetState>,
    tls: Option<Arc<rustls::ClientConfig>>,
    proxy: Option<ballast_config::ProxyProtocolVersion>,
) {
    let mut machine = HealthMachine::new(config.healthy_threshold, config.unhealthy_threshold);
    let mut rng = fastrand::Rng::new();
    tokio::time::sleep(first_delay(config.interval, &mut rng)).await;
    let mut ticks = tokio::time::interval(config.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let outcome = check_once(&config, address, tls.as_ref(), proxy).await;
        let now = Instant::now();
        state.record_check(now, matches!(outcome, crate::check::CheckOutcome::Pass));
        let seen = state.stamp();
        if let Some((next, reason)) = machine.observe(seen.state(), outcome) {
            if let Some(t) = state.set_state_if_unchanged(seen, next, reason, now) {
                tracing::info!(
                    target_group = &*group,
                    target = %address,
                    from = t.from.as_str(),
                    to = t.to.as_str(),
                    reason = reason.code(),
                    description = reason.description(),
                    "target health changed"
                );
                if t.to == HealthState::Healthy && state.lift_ejection(now) {
                    tracing::info!(
                        target_group = &*group,
                        target = %address,
                        "target ejection lifted: it passes its health checks again"
                    );
                }
            }
        }
    }
}
