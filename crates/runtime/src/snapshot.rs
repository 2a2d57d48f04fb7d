//! Config → data-plane snapshot, carrying live per-target state across rebuilds.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use ballast_balance::{Balancer, TargetState};
use ballast_config::{Action, Config, GroupName, TargetGroupConfig};
use ballast_http::{ConnPool, HttpSnapshot, ListenerRoutes, RouteAction, Target, TargetGroup};

type Carried = HashMap<(GroupName, SocketAddr), (Arc<TargetState>, Arc<ConnPool>)>;

/// Builds the snapshot for `config`. Targets that existed in `previous` (same group, same
/// address) keep their `TargetState` and connection pool, so counters and warm connections
/// survive a reload.
pub fn build_snapshot(
    config: &Config,
    previous: Option<&HttpSnapshot>,
    workers: usize,
) -> HttpSnapshot {
    let carried = previous.map(carried_state).unwrap_or_default();
    let target_groups: Vec<Arc<TargetGroup>> = config
        .target_groups
        .iter()
        .map(|g| Arc::new(build_group(g, &carried, workers)))
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

fn build_group(config: &TargetGroupConfig, carried: &Carried, workers: usize) -> TargetGroup {
    let targets = config
        .targets
        .iter()
        .map(|t| {
            let key = (config.name.clone(), t.address);
            let (state, pool) = match carried.get(&key) {
                Some((state, pool)) if pool.workers() == workers => {
                    (Arc::clone(state), Arc::clone(pool))
                }
                Some((state, _)) => (Arc::clone(state), new_pool(config, workers)),
                None => (Arc::new(TargetState::new()), new_pool(config, workers)),
            };
            Arc::new(Target {
                address: t.address,
                state,
                pool,
            })
        })
        .collect();
    TargetGroup {
        name: config.name.clone(),
        balancer: Balancer::from_algorithm(config.algorithm),
        targets,
        connect_timeout: config.connect_timeout,
        response_timeout: config.response_timeout,
    }
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

    fn config(targets: &str) -> Config {
        ballast_config::parse(&format!(
            "[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"g\" }}\n[target_groups.g]\ntargets = [{targets}]\n"
        ))
        .unwrap()
    }

    #[test]
    fn routes_listener_to_its_group() {
        let snapshot = build_snapshot(&config("\"127.0.0.1:1\", \"127.0.0.1:2\""), None, 2);
        let routes = snapshot.listener(&"web".into()).unwrap();
        let RouteAction::Forward(group) = &routes.default_action;
        assert_eq!(group.targets.len(), 2);
        assert_eq!(group.targets[0].pool.workers(), 2);
    }

    #[test]
    fn target_state_survives_a_rebuild_and_new_targets_start_fresh() {
        let first = build_snapshot(&config("\"127.0.0.1:1\""), None, 1);
        let kept = Arc::clone(&first.target_groups[0].targets[0].state);
        let second = build_snapshot(&config("\"127.0.0.1:1\", \"127.0.0.1:2\""), Some(&first), 1);
        let targets = &second.target_groups[0].targets;
        assert!(Arc::ptr_eq(&targets[0].state, &kept));
        assert!(Arc::ptr_eq(
            &targets[0].pool,
            &first.target_groups[0].targets[0].pool
        ));
        assert!(!Arc::ptr_eq(&targets[1].state, &kept));
    }
}
