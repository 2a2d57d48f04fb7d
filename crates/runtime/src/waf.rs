//! The web application firewall sets a snapshot's listeners and rules name, compiled once
//! per configuration with their counters.

use std::sync::Arc;

use ballast_config::{Config, ListenerConfig, WafAction, WafConfig};
use ballast_http::Waf;
use ballast_telemetry::MetricsRegistry;

/// Every `[waf]` set (or `ballast-core`) a listener or rule names, each compiled once.
pub(crate) fn build_wafs(
    config: &Config,
    metrics: Option<&MetricsRegistry>,
    limiters: &[Arc<ballast_http::RateLimiter>],
) -> Vec<Arc<Waf>> {
    let mut wafs: Vec<Arc<Waf>> = Vec::new();
    let named = config.listeners.iter().flat_map(|l| {
        l.waf
            .iter()
            .chain(l.rules.iter().filter_map(|r| r.waf.as_ref()))
    });
    for set in named {
        if wafs.iter().any(|w| w.config.name == set.name) {
            continue;
        }
        let counters = metrics.map(|m| {
            let rules = set
                .rules
                .iter()
                .map(|r| (Arc::clone(&r.name), action_name(r.action)))
                .collect();
            m.waf(&set.name, rules)
        });
        if let Some(waf) = Waf::new(Arc::clone(set), counters, limiters) {
            wafs.push(Arc::new(waf));
        }
    }
    wafs
}

/// The compiled set `set` names.
pub(crate) fn waf_named(wafs: &[Arc<Waf>], set: Option<&WafConfig>) -> Option<Arc<Waf>> {
    let set = set?;
    wafs.iter().find(|w| w.config.name == set.name).cloned()
}

/// Bytes of a request body read before the decision on `listener`: the largest limit of
/// its sets (its own and its rules') that inspect bodies.
pub(crate) fn waf_body_limit(listener: &ListenerConfig) -> Option<usize> {
    listener
        .waf
        .iter()
        .chain(listener.rules.iter().filter_map(|r| r.waf.as_ref()))
        .filter(|w| w.reads_body())
        .map(|w| w.body_limit)
        .max()
}

/// A rule's action as the metrics label it.
fn action_name(action: WafAction) -> &'static str {
    match action {
        WafAction::Allow => "allow",
        WafAction::Block => "block",
        WafAction::Count => "count",
    }
}
