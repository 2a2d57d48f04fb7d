//! Test fixtures for the pure phases: groups, targets and listener routes built in memory,
//! with no socket anywhere.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballast_balance::{
    stable_hash, Algorithm, BalanceOptions, Balancer, HealthReason, HealthState, RetryBudget,
    TargetSpec, TargetState,
};
use ballast_config::{Conditions, GroupName, HttpListenerLimits, ListenerName, RetryConfig};

use crate::route::RuleTable;
use crate::snapshot::{ListenerRoutes, RouteAction, Routed, Target, TargetGroup};
use crate::upstream::ConnPool;

/// A group of `n` healthy targets on 127.0.0.1:9001.. with `algorithm`.
pub(crate) fn group(name: &str, n: u16, algorithm: Algorithm) -> Arc<TargetGroup> {
    let addresses: Vec<SocketAddr> = (0..n)
        .map(|i| SocketAddr::from(([127, 0, 0, 1], 9001 + i)))
        .collect();
    let specs: Vec<TargetSpec> = addresses
        .iter()
        .map(|a| TargetSpec {
            weight: 1,
            local: false,
            id: stable_hash(a.to_string().as_bytes()),
        })
        .collect();
    let targets = addresses
        .iter()
        .zip(&specs)
        .map(|(address, spec)| {
            Arc::new(Target {
                address: *address,
                id: spec.id,
                state: Arc::new(TargetState::new(HealthState::Healthy, HealthReason::None)),
                pool: Arc::new(ConnPool::new(1, 0, Duration::from_secs(60))),
                metrics: None,
            })
        })
        .collect();
    Arc::new(TargetGroup {
        name: GroupName::from(name),
        balancer: Arc::new(Balancer::build(
            algorithm,
            &specs,
            BalanceOptions::default(),
            None,
        )),
        hash_key: None,
        slow_start: Duration::ZERO,
        stickiness: None,
        tls: None,
        protocol_version: ballast_config::ProtocolVersion::Http1,
        targets,
        connect_timeout: Duration::from_secs(1),
        response_timeout: Duration::from_secs(1),
        fail_open: true,
        retry: RetryConfig {
            idempotent: true,
            budget_percent: 20,
            min_per_second: 10,
        },
        retry_budget: Arc::new(RetryBudget::new(20, 10, Instant::now())),
        proxy_protocol: None,
        metrics: None,
    })
}

/// A listener with `rules` (priority, conditions, action) and a default action.
pub(crate) fn routes(
    default: RouteAction,
    rules: Vec<(u32, Conditions, RouteAction)>,
) -> ListenerRoutes {
    ListenerRoutes {
        name: ListenerName::from("web"),
        limits: Arc::new(HttpListenerLimits {
            request_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            upgrade_idle_timeout: Duration::from_secs(60),
            max_header_bytes: 65536,
            max_headers: 100,
            max_connections: None,
            max_requests_per_connection: None,
            request_timeout: None,
            http2_max_concurrent_streams: 128,
            min_body_rate: None,
            desync_mode: ballast_config::DesyncMode::Defensive,
        }),
        tls: None,
        rules: RuleTable::build(rules.into_iter().map(|(p, c, a)| (p, c, Routed::plain(a)))),
        trusted_proxies: Vec::new(),
        accept_proxy: None,
        edge: Arc::default(),
        rate_limit: None,
        waf: None,
        waf_body_limit: None,
        default_action: Routed::plain(default),
        metrics: None,
        rule_metrics: None,
    }
}
