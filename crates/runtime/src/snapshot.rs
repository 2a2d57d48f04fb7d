//! Config → data-plane snapshot, carrying live per-target state across rebuilds.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use ballast_balance::{Balancer, HealthReason, HealthState, RetryBudget, TargetState};
use ballast_config::{Action, Config, GroupName, TargetGroupConfig};
use ballast_http::{ConnPool, HttpSnapshot, ListenerRoutes, RouteAction, Target, TargetGroup};

type Carried = HashMap<(GroupName, SocketAddr), (Arc<TargetState>, Arc<ConnPool>)>;

/// Builds the snapshot for `config`, plus the `draining` targets that are no longer in it but
/// still finish their requests. Targets that existed in `previous` (same group, same address)
/// keep their `TargetState` and connection pool, so health, counters and warm connections
/// survive a rebuild. New targets start `initial` when their group has a health check, else
/// `healthy`.
pub fn build_snapshot(
    config: &Config,
    previous: Option<&HttpSnapshot>,
    workers: usize,
    draining: &[(GroupName, SocketAddr)],
) -> HttpSnapshot {
    let carried = previous.map(carried_state).unwrap_or_default();
    let target_groups: Vec<Arc<TargetGroup>> = config
        .target_groups
        .iter()
        .map(|g| {
            let before = previous.and_then(|p| p.target_groups.iter().find(|o| o.name == g.name));
            Arc::new(build_group(g, before, &carried, workers, draining))
        })
        .collect();
    let listeners = config
        .listeners
        .iter()
        .filter_map(|l| {
            let action = match &l.default_action {
                Action::Forward { target_group } => {
                    let group = target_groups.iter().find(|g| &g.name == target_group)?;
                    RouteAction::Forward(Arc::clone(group))
                }
            };
            Some(ListenerRoutes {
                name: l.name.clone(),
                limits: l.limits,
                default_action: action,
            })
        })
        .collect();
    HttpSnapshot {
        listeners,
        target_groups,
    }
}

fn build_group(
    config: &TargetGroupConfig,
    before: Option<&Arc<TargetGroup>>,
    carried: &Carried,
    workers: usize,
    draining: &[(GroupName, SocketAddr)],
) -> TargetGroup {
    let checked = config.health_check.is_some();
    let registered = config.targets.iter().map(|t| (t.address, false));
    let leaving = draining
        .iter()
        .filter(|(g, a)| *g == config.name && !config.targets.iter().any(|t| t.address == *a))
        .map(|(_, a)| (*a, true));
    let targets = registered
        .chain(leaving)
        .map(|(address, is_draining)| {
            let key = (config.name.clone(), address);
            let (state, pool) = match carried.get(&key) {
                Some((state, pool)) if pool.workers() == workers => {
                    (Arc::clone(state), Arc::clone(pool))
                }
                Some((state, _)) => (Arc::clone(state), new_pool(config, workers)),
                None => (Arc::new(initial_state(checked)), new_pool(config, workers)),
            };
            let change = if is_draining {
                state.set_state(
                    HealthState::Draining,
                    HealthReason::DeregistrationInProgress,
                )
            } else if !checked && state.state() != HealthState::Healthy {
                // The group's health check was removed: nothing will ever pass it again.
                state.set_state(HealthState::Healthy, HealthReason::None)
            } else if matches!(state.state(), HealthState::Draining | HealthState::Unused) {
                // Registered again while it was leaving.
                let (s, r) = initial(checked);
                state.set_state(s, r)
            } else {
                None
            };
            if let Some(t) = change {
                crate::control::log_transition(&config.name, address, t);
            }
            Arc::new(Target {
                address,
                state,
                pool,
            })
        })
        .collect();
    let balancer = match before {
        Some(b) if b.balancer.algorithm() == config.algorithm => Arc::clone(&b.balancer),
        _ => Arc::new(Balancer::from_algorithm(config.algorithm)),
    };
    let retry_budget = match before {
        Some(b) if b.retry == config.retry => Arc::clone(&b.retry_budget),
        _ => Arc::new(RetryBudget::new(
            config.retry.budget_percent,
            config.retry.min_per_second,
            Instant::now(),
        )),
    };
    TargetGroup {
        name: config.name.clone(),
        balancer,
        targets,
        connect_timeout: config.connect_timeout,
        response_timeout: config.response_timeout,
        fail_open: config.fail_open,
        retry: config.retry,
        retry_budget,
    }
}

fn initial(checked: bool) -> (HealthState, HealthReason) {
    if checked {
        (HealthState::Initial, HealthReason::InitialHealthChecking)
    } else {
        (HealthState::Healthy, HealthReason::None)
    }
}

fn initial_state(checked: bool) -> TargetState {
    let (state, reason) = initial(checked);
    TargetState::new(state, reason)
}

fn new_pool(config: &TargetGroupConfig, workers: usize) -> Arc<ConnPool> {
    Arc::new(ConnPool::new(
        workers,
        config.max_idle_per_target,
        config.target_idle_timeout,
    ))
}

fn carried_state(previous: &HttpSnapshot) -> Carried {
    previous
        .target_groups
        .iter()
        .flat_map(|g| {
            g.targets.iter().map(|t| {
                (
                    (g.name.clone(), t.address),
                    (Arc::clone(&t.state), Arc::clone(&t.pool)),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(targets: &str, group_extra: &str) -> Config {
        ballast_config::parse(&format!(
            "[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"g\" }}\n[target_groups.g]\ntargets = [{targets}]\n{group_extra}\n"
        ))
        .unwrap()
    }

    #[test]
    fn routes_listener_to_its_group() {
        let snapshot = build_snapshot(
            &config("\"127.0.0.1:1\", \"127.0.0.1:2\"", ""),
            None,
            2,
            &[],
        );
        let routes = snapshot.listener(&"web".into()).unwrap();
        let RouteAction::Forward(group) = &routes.default_action;
        assert_eq!(group.targets.len(), 2);
        assert_eq!(group.targets[0].pool.workers(), 2);
        assert_eq!(
            group.targets[0].state.state(),
            HealthState::Healthy,
            "no health check: healthy at once"
        );
    }

    #[test]
    fn checked_groups_start_their_targets_initial() {
        let snapshot = build_snapshot(
            &config("\"127.0.0.1:1\"", "health_check = { path = \"/health\" }"),
            None,
            1,
            &[],
        );
        let state = &snapshot.target_groups[0].targets[0].state;
        assert_eq!(state.state(), HealthState::Initial);
        assert_eq!(state.reason(), HealthReason::InitialHealthChecking);
    }

    #[test]
    fn target_state_survives_a_rebuild_and_new_targets_start_fresh() {
        let first = build_snapshot(&config("\"127.0.0.1:1\"", ""), None, 1, &[]);
        let kept = Arc::clone(&first.target_groups[0].targets[0].state);
        let second = build_snapshot(
            &config("\"127.0.0.1:1\", \"127.0.0.1:2\"", ""),
            Some(&first),
            1,
            &[],
        );
        let targets = &second.target_groups[0].targets;
        assert!(Arc::ptr_eq(&targets[0].state, &kept));
        assert!(Arc::ptr_eq(
            &targets[0].pool,
            &first.target_groups[0].targets[0].pool
        ));
        assert!(!Arc::ptr_eq(&targets[1].state, &kept));
    }

    #[test]
    fn round_robin_position_and_retry_budget_survive_a_rebuild() {
        let first = build_snapshot(&config("\"127.0.0.1:1\"", ""), None, 1, &[]);
        let second = build_snapshot(
            &config("\"127.0.0.1:1\", \"127.0.0.1:2\"", ""),
            Some(&first),
            1,
            &[],
        );
        let (a, b) = (&first.target_groups[0], &second.target_groups[0]);
        assert!(Arc::ptr_eq(&a.balancer, &b.balancer));
        assert!(Arc::ptr_eq(&a.retry_budget, &b.retry_budget));
        let third = build_snapshot(
            &config("\"127.0.0.1:1\"", "retry = { budget_percent = 5 }"),
            Some(&second),
            1,
            &[],
        );
        assert!(!Arc::ptr_eq(
            &b.retry_budget,
            &third.target_groups[0].retry_budget
        ));
    }

    #[test]
    fn draining_targets_stay_in_the_snapshot_as_draining() {
        let first = build_snapshot(
            &config("\"127.0.0.1:1\", \"127.0.0.1:2\"", ""),
            None,
            1,
            &[],
        );
        let leaving = ("g".into(), "127.0.0.1:2".parse().unwrap());
        let second = build_snapshot(&config("\"127.0.0.1:1\"", ""), Some(&first), 1, &[leaving]);
        let targets = &second.target_groups[0].targets;
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[1].state.state(), HealthState::Draining);
        assert!(Arc::ptr_eq(
            &targets[1].state,
            &first.target_groups[0].targets[1].state
        ));
    }
}
