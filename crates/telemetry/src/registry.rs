//! Where metric handles live between snapshot builds, and the Prometheus text rendering.
//!
//! The control plane asks the registry for a listener's, group's or target's handles when it
//! builds a snapshot (get-or-create, by name), and retires the ones the new configuration no
//! longer has. The admin API renders it on `/metrics` (`registry/render.rs`, written in the
//! text format of `registry/text.rs`).

mod render;
mod text;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::metrics::{Counter, GroupMetrics, ListenerMetrics, RuleMetrics, TargetMetrics};

/// Every metric handle of the process, by name.
#[derive(Debug, Default)]
pub struct MetricsRegistry {
    inner: Mutex<Handles>,
    /// Configuration reloads applied.
    pub reloads_ok: Counter,
    /// Configuration reloads refused (invalid or not applicable).
    pub reloads_failed: Counter,
    /// Access log lines written.
    pub access_log_lines: Counter,
    /// Access log lines dropped because the writer's queue was full.
    pub access_log_dropped: Counter,
    /// Passive health ejections.
    pub ejections: Counter,
}

#[derive(Debug, Default)]
struct Handles {
    listeners: BTreeMap<String, Arc<ListenerMetrics>>,
    rules: BTreeMap<String, Arc<RuleMetrics>>,
    wafs: BTreeMap<String, Arc<crate::waf::WafMetrics>>,
    groups: BTreeMap<String, Arc<GroupMetrics>>,
    targets: BTreeMap<(String, SocketAddr), Arc<TargetMetrics>>,
}

/// A target's health as the control plane sees it at render time (gauges, not counters the
/// request path writes).
#[derive(Debug, Clone)]
pub struct TargetGauges {
    /// Its group.
    pub group: String,
    /// Its address.
    pub address: SocketAddr,
    /// Whether it may take traffic now.
    pub healthy: bool,
    /// Requests in flight on it.
    pub in_flight: u64,
    /// Health state changes so far.
    pub transitions: u64,
}

/// Process-level values rendered with the rest.
#[derive(Debug, Clone, Default)]
pub struct ProcessGauges {
    /// Unix time of the last successful configuration apply.
    pub last_reload_success_unix: f64,
    /// Whether the last reload attempt succeeded.
    pub last_reload_ok: bool,
    /// ACME-managed certificates, by listener.
    pub acme: Vec<AcmeGauges>,
    /// Scaling groups, by name.
    pub scaling: Vec<ScalingGauges>,
}

/// One scaling group's capacity and instances.
#[derive(Debug, Clone, Default)]
pub struct ScalingGauges {
    /// The scaling group.
    pub group: String,
    /// Desired capacity.
    pub desired: u32,
    /// Its bounds now.
    pub min: u32,
    /// Its bounds now.
    pub max: u32,
    /// Instances in service.
    pub in_service: u32,
    /// Instances launching or not healthy yet.
    pub pending: u32,
    /// Instances draining or terminating.
    pub terminating: u32,
}

/// One listener's ACME certificate, for the expiry and failure gauges.
#[derive(Debug, Clone, Default)]
pub struct AcmeGauges {
    /// The listener.
    pub listener: String,
    /// Unix time its certificate expires; `None` before the first one.
    pub not_after_unix: Option<f64>,
    /// Attempts failed in a row.
    pub failures: u32,
}

impl MetricsRegistry {
    fn lock(&self) -> MutexGuard<'_, Handles> {
        // A panic while holding this lock leaves maps that are still consistent.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The listener's handles.
    pub fn listener(&self, name: &str) -> Arc<ListenerMetrics> {
        Arc::clone(self.lock().listeners.entry(name.to_owned()).or_default())
    }

    /// Every `[waf]` set's counters, by name.
    pub fn wafs(&self) -> Vec<(String, Arc<crate::waf::WafMetrics>)> {
        let h = self.lock();
        h.wafs
            .iter()
            .map(|(n, m)| (n.clone(), Arc::clone(m)))
            .collect()
    }

    /// The counters of a `[waf]` set with these rules (name, action): the same handle while
    /// they are unchanged; new rules start new counters, carrying the counts of rules kept.
    pub fn waf(
        &self,
        name: &str,
        rules: Vec<(Arc<str>, &'static str)>,
    ) -> Arc<crate::waf::WafMetrics> {
        let fresh = crate::waf::WafMetrics::with_rules(rules);
        let mut handles = self.lock();
        if let Some(existing) = handles.wafs.get(name) {
            let same = existing
                .rules
                .iter()
                .map(|(n, a, _)| (n, a))
                .eq(fresh.rules.iter().map(|(n, a, _)| (n, a)));
            if same {
                return Arc::clone(existing);
            }
            fresh.default_allowed.add(existing.default_allowed.get());
            fresh.default_blocked.add(existing.default_blocked.get());
            for (name, action, count) in &fresh.rules {
                if let Some((_, _, old)) = existing
                    .rules
                    .iter()
                    .find(|(n, a, _)| n == name && a == action)
                {
                    count.add(old.get());
                }
            }
        }
        let fresh = Arc::new(fresh);
        handles.wafs.insert(name.to_owned(), Arc::clone(&fresh));
        fresh
    }

    /// The rule counters of a listener whose rules have these priorities: the same handle
    /// while the set is unchanged; a new set starts new counters, carrying the counts of
    /// priorities it keeps.
    pub fn rules(&self, listener: &str, priorities: Vec<u32>) -> Arc<RuleMetrics> {
        let fresh = RuleMetrics::with_rules(priorities);
        let mut handles = self.lock();
        if let Some(existing) = handles.rules.get(listener) {
            let same = existing
                .rules
                .iter()
                .map(|(p, _)| p)
                .eq(fresh.rules.iter().map(|(p, _)| p));
            if same {
                return Arc::clone(existing);
            }
            fresh.default_action.add(existing.default_action.get());
            for (priority, count) in &fresh.rules {
                if let Ok(i) = existing.rules.binary_search_by_key(priority, |(p, _)| *p) {
                    count.add(existing.rules[i].1.get());
                }
            }
        }
        let fresh = Arc::new(fresh);
        handles
            .rules
            .insert(listener.to_owned(), Arc::clone(&fresh));
        fresh
    }

    /// The group's handles.
    pub fn group(&self, name: &str) -> Arc<GroupMetrics> {
        Arc::clone(self.lock().groups.entry(name.to_owned()).or_default())
    }

    /// The target's handles.
    pub fn target(&self, group: &str, address: SocketAddr) -> Arc<TargetMetrics> {
        Arc::clone(
            self.lock()
                .targets
                .entry((group.to_owned(), address))
                .or_default(),
        )
    }

    /// Forgets everything not in these sets (after a reload removed it), so series of
    /// deleted objects disappear and memory stays bounded.
    pub fn retain(&self, listeners: &[&str], groups: &[&str], targets: &[(&str, SocketAddr)]) {
        let mut handles = self.lock();
        handles
            .listeners
            .retain(|k, _| listeners.contains(&k.as_str()));
        handles.rules.retain(|k, _| listeners.contains(&k.as_str()));
        handles.groups.retain(|k, _| groups.contains(&k.as_str()));
        handles
            .targets
            .retain(|(g, a), _| targets.contains(&(g.as_str(), *a)));
    }

    /// The listener's handles, if it exists (for the dashboard and tests).
    pub fn find_listener(&self, name: &str) -> Option<Arc<ListenerMetrics>> {
        self.lock().listeners.get(name).cloned()
    }

    /// The group's handles, if it exists.
    pub fn find_group(&self, name: &str) -> Option<Arc<GroupMetrics>> {
        self.lock().groups.get(name).cloned()
    }

    /// The target's handles, if it exists.
    pub fn find_target(&self, group: &str, address: SocketAddr) -> Option<Arc<TargetMetrics>> {
        self.lock()
            .targets
            .get(&(group.to_owned(), address))
            .cloned()
    }

    /// Every listener's handles, by name.
    pub fn listeners(&self) -> Vec<(String, Arc<ListenerMetrics>)> {
        let handles = self.lock();
        handles
            .listeners
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect()
    }

    /// Every group's handles, by name.
    pub fn groups(&self) -> Vec<(String, Arc<GroupMetrics>)> {
        let handles = self.lock();
        handles
            .groups
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_codes_and_histograms() {
        let r = MetricsRegistry::default();
        let web = r.listener("web");
        web.requests.add(3);
        web.responses.record(200);
        web.responses.record(503);
        web.errors.record(503);
        r.rules("web", vec![10]).record_rule(Some(10));
        let api = r.group("api");
        api.response_time
            .observe(std::time::Duration::from_millis(2));
        let text = r.render(&[], &ProcessGauges::default());
        assert!(
            text.contains("ballast_listener_requests_total{listener=\"web\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("ballast_listener_responses_total{listener=\"web\",code=\"503\"} 1\n")
        );
        assert!(text.contains(
            "ballast_listener_responses_by_class_total{listener=\"web\",class=\"2xx\"} 1\n"
        ));
        assert!(text.contains("ballast_listener_errors_total{listener=\"web\",code=\"503\"} 1\n"));
        assert!(text.contains("ballast_rule_matches_total{listener=\"web\",rule=\"10\"} 1\n"));
        assert!(text.contains("ballast_target_group_response_time_seconds_bucket{target_group=\"api\",le=\"0.0025\"} 1\n"));
        assert!(text.contains(
            "ballast_target_group_response_time_seconds_count{target_group=\"api\"} 1\n"
        ));
    }

    #[test]
    fn handles_survive_and_carry_over_rule_changes() {
        let r = MetricsRegistry::default();
        let a = r.rules("web", vec![10]);
        a.record_rule(Some(10));
        assert!(Arc::ptr_eq(&a, &r.rules("web", vec![10])));
        let b = r.rules("web", vec![10, 20]);
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(b.rules[0].1.get(), 1);
        let l = r.listener("web");
        assert!(Arc::ptr_eq(&l, &r.listener("web")));
        r.retain(&[], &[], &[]);
        assert!(r.find_listener("web").is_none());
    }

    #[test]
    fn label_values_are_escaped() {
        let r = MetricsRegistry::default();
        r.group("a\"b");
        let text = r.render(&[], &ProcessGauges::default());
        assert!(text.contains("target_group=\"a\\\"b\""), "{text}");
    }
}
