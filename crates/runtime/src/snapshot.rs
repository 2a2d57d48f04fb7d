//! Config → data-plane snapshot, carrying live per-target state across rebuilds.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use ballast_balance::StickyKey;
use ballast_balance::{
    stable_hash, BalanceOptions, Balancer, HealthReason, HealthState, RetryBudget, TargetSpec,
    TargetState,
};
use ballast_config::defaults::DEFAULT_GROUP_STICKY_COOKIE;

use crate::sticky_key::sticky_key;
use crate::telemetry::Telemetry;
use crate::tls::TlsState;
use crate::waf::{build_wafs, waf_body_limit, waf_named};
use ballast_config::{Action, Config, GroupName, ListenerName, TargetGroupConfig};
use ballast_http::{
    ConnPool, FixedReply, GroupStickiness, HeaderOps, HttpSnapshot, ListenerRoutes, RouteAction,
    Routed, RuleTable, Sticky, Target, TargetGroup, TargetTlsRoute, WeightedRoute,
};
use ballast_telemetry::MetricsRegistry;

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
    build_snapshot_with(
        config,
        previous,
        workers,
        draining,
        &TlsState::default(),
        &Telemetry::default(),
    )
}

/// [`build_snapshot`] with the TLS configurations the control plane has loaded: `https`
/// listeners and groups without one in `tls` get none (and are left out or fail closed).
pub(crate) fn build_snapshot_with(
    config: &Config,
    previous: Option<&HttpSnapshot>,
    workers: usize,
    draining: &[(GroupName, SocketAddr)],
    tls: &TlsState,
    telemetry: &Telemetry,
) -> HttpSnapshot {
    let metrics = telemetry.metrics();
    let carried = previous.map(carried_state).unwrap_or_default();
    let sticky_key = sticky_key(config, previous);
    let target_groups: Vec<Arc<TargetGroup>> = config
        .target_groups
        .iter()
        .map(|g| {
            let before = previous.and_then(|p| p.target_groups.iter().find(|o| o.name == g.name));
            let context = GroupContext {
                carried: &carried,
                workers,
                draining,
                node_zone: config.server.zone.as_deref(),
                sticky_key: &sticky_key,
                tls,
                metrics,
            };
            Arc::new(build_group(g, before, &context))
        })
        .collect();
    let rate_limiters = ballast_http::carry_limiters(
        &config.rate_limits,
        previous.map_or(&[][..], |p| &p.rate_limiters),
    );
    let limiter = |limit: &Option<Arc<ballast_config::RateLimitConfig>>| {
        limit
            .as_ref()
            .and_then(|c| ballast_http::limiter_named(&rate_limiters, &c.name))
    };
    let wafs = build_wafs(config, metrics, &rate_limiters);
    let waf = |set: &Option<Arc<ballast_config::WafConfig>>| waf_named(&wafs, set.as_deref());
    let listeners = config
        .listeners
        .iter()
        .filter(|l| !l.protocol.is_l4())
        .filter_map(|l| {
            let compile = |action: &Action, rule: Option<u32>| {
                compile_action(action, &target_groups, &l.name, rule, &sticky_key)
            };
            let routed = |action: RouteAction, rule: Option<&ballast_config::Rule>| Routed {
                action,
                request_headers: HeaderOps::build(
                    &l.request_headers,
                    rule.map(|r| &r.request_headers),
                )
                .map(Arc::new),
                response_headers: HeaderOps::build(
                    &l.response_headers,
                    rule.map(|r| &r.response_headers),
                )
                .map(Arc::new),
                rate_limit: rule.and_then(|r| limiter(&r.rate_limit)),
                waf: rule.and_then(|r| waf(&r.waf)),
            };
            let rules = l.rules.iter().filter_map(|r| {
                Some((
                    r.priority,
                    r.conditions.clone(),
                    routed(compile(&r.action, Some(r.priority))?, Some(r)),
                ))
            });
            let server_tls = tls.server(&l.name);
            if l.tls.is_some() && server_tls.is_none() {
                // An https listener whose certificates did not load serves nothing rather
                // than cleartext.
                return None;
            }
            Some(ListenerRoutes {
                name: l.name.clone(),
                tls: server_tls,
                limits: Arc::new(l.limits),
                rules: RuleTable::build(rules),
                trusted_proxies: l.trusted_proxies.clone(),
                accept_proxy: l.accept_proxy_protocol.as_deref().map(Arc::from),
                edge: Arc::clone(&l.edge),
                rate_limit: limiter(&l.rate_limit),
                waf: waf(&l.waf),
                waf_body_limit: waf_body_limit(l),
                default_action: routed(compile(&l.default_action, None)?, None),
                metrics: metrics.map(|m| {
                    let handle = m.listener(&l.name.0);
                    if l.accept_proxy_protocol.is_some() {
                        // Its PROXY refusals are counted with the L4 series.
                        handle.l4.mark();
                    }
                    handle
                }),
                rule_metrics: metrics
                    .map(|m| m.rules(&l.name.0, l.rules.iter().map(|r| r.priority).collect())),
            })
        })
        .collect();
    if let Some(m) = metrics {
        retire_metrics(m, config, &target_groups);
    }
    HttpSnapshot {
        listeners,
        target_groups,
        sticky_key: Some(sticky_key),
        access_log: telemetry.access_log.clone(),
        acme: tls.challenges(),
        rate_limiters,
    }
}

/// Drops the handles of listeners, groups and targets the new snapshot no longer has.
fn retire_metrics(m: &MetricsRegistry, config: &Config, groups: &[Arc<TargetGroup>]) {
    let listeners: Vec<&str> = config.listeners.iter().map(|l| &*l.name.0).collect();
    let group_names: Vec<&str> = groups.iter().map(|g| &*g.name.0).collect();
    let targets: Vec<(&str, SocketAddr)> = groups
        .iter()
        .flat_map(|g| g.targets.iter().map(|t| (&*g.name.0, t.address)))
        .collect();
    m.retain(&listeners, &group_names, &targets);
}

/// The data-plane form of an action; `None` only for a reference validation would have
/// refused.
fn compile_action(
    action: &Action,
    target_groups: &[Arc<TargetGroup>],
    listener: &ListenerName,
    rule: Option<u32>,
    sticky_key: &StickyKey,
) -> Option<RouteAction> {
    let find = |name: &GroupName| target_groups.iter().find(|g| &g.name == name);
    Some(match action {
        Action::Forward { target_group } => RouteAction::Forward(Arc::clone(find(target_group)?)),
        Action::WeightedForward(forward) => {
            let groups = forward
                .groups
                .iter()
                .map(|(name, weight)| {
                    let group = Arc::clone(find(name)?);
                    Some((group, *weight, stable_hash(name.0.as_bytes())))
                })
                .collect::<Option<Vec<_>>>()?;
            RouteAction::WeightedForward(Arc::new(WeightedRoute {
                total: groups.iter().map(|(_, w, _)| u64::from(*w)).sum(),
                groups,
                // Each weighted forward has its own cookie and scope, so two rules splitting
                // different groups on one listener do not overwrite or open each other's.
                stickiness: forward.stickiness.map(|duration| GroupStickiness {
                    duration,
                    key: sticky_key.clone(),
                    cookie: match rule {
                        None => DEFAULT_GROUP_STICKY_COOKIE.to_owned(),
                        Some(priority) => format!("{DEFAULT_GROUP_STICKY_COOKIE}-{priority}"),
                    },
                }),
                scope: match rule {
                    None => Arc::clone(&listener.0),
                    Some(priority) => format!("{listener}#{priority}").into(),
                },
            }))
        }
        Action::Redirect(redirect) => RouteAction::Redirect(Arc::new(redirect.clone())),
        Action::Reject => return None, // L4 listeners only: not in the HTTP table

        Action::FixedResponse(fixed) => RouteAction::Fixed(Arc::new(FixedReply {
            status: http::StatusCode::from_u16(fixed.status).ok()?,
            content_type: http::HeaderValue::try_from(fixed.content_type.as_str()).ok()?,
            body: bytes::Bytes::from(fixed.body.clone()),
        })),
    })
}

/// What every group of one build shares.
struct GroupContext<'a> {
    carried: &'a Carried,
    workers: usize,
    draining: &'a [(GroupName, SocketAddr)],
    node_zone: Option<&'a str>,
    sticky_key: &'a StickyKey,
    tls: &'a TlsState,
    metrics: Option<&'a MetricsRegistry>,
}

fn build_group(
    config: &TargetGroupConfig,
    before: Option<&Arc<TargetGroup>>,
    context: &GroupContext<'_>,
) -> TargetGroup {
    let GroupContext {
        carried,
        workers,
        draining,
        node_zone,
        sticky_key,
        tls,
        metrics,
    } = *context;
    let checked = config.health_check.is_some();
    let now = Instant::now();
    let group_serving = before.is_some_and(|b| b.targets.iter().any(|t| t.state.is_eligible(now)));
    let registered = config
        .targets
        .iter()
        .map(|t| (t.address, false, t.weight, t.zone.as_deref()));
    let leaving = draining
        .iter()
        .filter(|(g, a)| *g == config.name && !config.targets.iter().any(|t| t.address == *a))
        .map(|(_, a)| (*a, true, 1, None));
    let mut specs = Vec::new();
    let targets = registered
        .chain(leaving)
        .map(|(address, is_draining, weight, zone)| {
            let id = stable_hash(address.to_string().as_bytes());
            specs.push(TargetSpec {
                weight,
                local: node_zone.is_some() && zone == node_zone,
                id,
            });
            let key = (config.name.clone(), address);
            let (state, pool) = match carried.get(&key) {
                Some((state, pool)) if pool.workers() == workers => {
                    (Arc::clone(state), Arc::clone(pool))
                }
                Some((state, _)) => (Arc::clone(state), new_pool(config, workers)),
                None => {
                    let state = initial_state(checked);
                    // Registered while the group had no healthy target: part of its first
                    // batch, which takes its full share at once (ALB's slow start rule).
                    if !group_serving {
                        state.skip_first_slow_start();
                    }
                    (Arc::new(state), new_pool(config, workers))
                }
            };
            let change = if is_draining {
                state.set_state(
                    HealthState::Draining,
                    HealthReason::DeregistrationInProgress,
                    now,
                )
            } else if !checked && state.state() != HealthState::Healthy {
                // The group's health check was removed: nothing will ever pass it again.
                state.set_state(HealthState::Healthy, HealthReason::None, now)
            } else if matches!(state.state(), HealthState::Draining | HealthState::Unused) {
                // Registered again while it was leaving.
                let (s, r) = initial(checked);
                state.set_state(s, r, now)
            } else {
                None
            };
            if let Some(t) = change {
                crate::events::log_transition(&config.name, address, t);
            }
            Arc::new(Target {
                address,
                id,
                state,
                pool,
                metrics: metrics.map(|m| m.target(&config.name.0, address)),
            })
        })
        .collect();
    let options = BalanceOptions {
        slow_start: config.slow_start,
        zone_affinity: !config.cross_zone && node_zone.is_some(),
        anomaly_mitigation: config.anomaly_mitigation,
    };
    let balancer = Arc::new(Balancer::build(
        config.algorithm,
        &specs,
        options,
        before.map(|b| &*b.balancer),
    ));
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
        hash_key: config.hash_key.clone(),
        tls: config.tls.as_ref().and_then(|t| {
            Some(TargetTlsRoute::new(
                tls.client(t)?,
                t.server_name.clone(),
                config.protocol_version,
            ))
        }),
        protocol_version: config.protocol_version,
        stickiness: config
            .stickiness
            .clone()
            .map(|config| Sticky::new(config, sticky_key.clone())),
        slow_start: config.slow_start,
        targets,
        connect_timeout: config.connect_timeout,
        response_timeout: config.response_timeout,
        fail_open: config.fail_open,
        retry: config.retry,
        retry_budget,
        metrics: metrics.map(|m| m.group(&config.name.0)),
        proxy_protocol: config.proxy_protocol.map(Into::into),
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
mod tests;
