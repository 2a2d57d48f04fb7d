//! Config → the L4 data plane's table. L4 groups are built once, as every group is, by the
//! HTTP snapshot build (targets, live state, balancer, pools whose cut sets L4 flows join),
//! and this view shares those parts, so health checks, draining, the admin API and metrics
//! treat L4 targets exactly as HTTP ones.

use std::collections::HashMap;
use std::sync::Arc;

use ballast_config::{Action, Config, GroupName, ListenerProtocol};
use ballast_http::{HttpSnapshot, TargetGroup};
use ballast_l4::snapshot::{
    L4Group, L4Listener, L4Route, L4Snapshot, L4Target, L4TargetTls, SniRoute,
};

use crate::telemetry::Telemetry;
use crate::tls::TlsState;

/// The L4 table for `config`, over the groups `http` was built with.
pub(crate) fn build_l4_snapshot(
    config: &Config,
    http: &HttpSnapshot,
    tls: &TlsState,
    telemetry: &Telemetry,
) -> L4Snapshot {
    let metrics = telemetry.metrics();
    let mut groups: HashMap<GroupName, Arc<L4Group>> = HashMap::new();
    let mut route = |action: &Action| -> Option<L4Route> {
        match action {
            Action::Reject => Some(L4Route::Reject),
            Action::Forward { target_group } => {
                if let Some(group) = groups.get(target_group) {
                    return Some(L4Route::Forward(Arc::clone(group)));
                }
                let shared = http
                    .target_groups
                    .iter()
                    .find(|g| &g.name == target_group)?;
                let group_config = config.target_group(target_group)?;
                let group = Arc::new(l4_group(shared, group_config, tls));
                groups.insert(target_group.clone(), Arc::clone(&group));
                Some(L4Route::Forward(group))
            }
            _ => None,
        }
    };
    let listeners = config
        .listeners
        .iter()
        .filter(|l| l.protocol.is_l4())
        .filter_map(|l| {
            let server_tls = match l.protocol {
                ListenerProtocol::Tls => {
                    // A `tls` listener carries any protocol: it offers no ALPN of its own
                    // (the https listeners' h2/http1.1 would mislead clients).
                    let mut server = (*tls.server(&l.name)?).clone();
                    server.alpn_protocols.clear();
                    Some(Arc::new(server))
                }
                _ => None,
            };
            let rules = l
                .rules
                .iter()
                .filter_map(|r| {
                    Some(SniRoute {
                        priority: r.priority,
                        names: r.conditions.sni.clone(),
                        alpn: r.conditions.alpn.clone(),
                        route: route(&r.action)?,
                    })
                })
                .collect();
            Some(L4Listener {
                name: l.name.clone(),
                protocol: l.protocol,
                config: l.l4?,
                max_connections: l.limits.max_connections,
                tls: server_tls,
                rules,
                default_route: route(&l.default_action)?,
                accept_proxy: l.accept_proxy_protocol.clone(),
                edge: Arc::clone(&l.edge),
                metrics: metrics.map(|m| {
                    let handle = m.listener(&l.name.0);
                    handle.l4.mark();
                    handle
                }),
            })
        })
        .collect();
    L4Snapshot {
        listeners,
        access_log: telemetry.access_log.clone(),
    }
}

fn l4_group(
    shared: &TargetGroup,
    config: &ballast_config::TargetGroupConfig,
    tls: &TlsState,
) -> L4Group {
    L4Group {
        name: shared.name.clone(),
        balancer: Arc::clone(&shared.balancer),
        targets: shared
            .targets
            .iter()
            .map(|t| L4Target {
                address: t.address,
                metrics: t.metrics.clone().inspect(|m| m.l4.mark()),
                state: Arc::clone(&t.state),
                cuts: Arc::clone(t.pool.cuts()),
            })
            .collect(),
        connect_timeout: shared.connect_timeout,
        fail_open: shared.fail_open,
        proxy_protocol: config.proxy_protocol,
        tls: config.tls.as_ref().and_then(|t| {
            Some(L4TargetTls {
                client: tls.client(t)?,
                server_name: t.server_name.clone(),
            })
        }),
        metrics: shared.metrics.clone(),
    }
}
