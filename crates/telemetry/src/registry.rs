//! Where metric handles live between snapshot builds, and the Prometheus text rendering.
//!
//! The control plane asks the registry for a listener's, group's or target's handles when it
//! builds a snapshot (get-or-create, by name), and retires the ones the new configuration no
//! longer has. The admin API renders it on `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::metrics::{
    Counter, GroupMetrics, HistogramSnapshot, ListenerMetrics, RuleMetrics, StatusCounts,
    TargetMetrics, LATENCY_BUCKETS_US,
};

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

    /// The whole registry in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self, targets: &[TargetGauges], process: &ProcessGauges) -> String {
        let (listeners, rules, groups, target_handles) = {
            let h = self.lock();
            (
                h.listeners.clone(),
                h.rules.clone(),
                h.groups.clone(),
                h.targets.clone(),
            )
        };
        let mut out = String::with_capacity(16 * 1024);
        let mut f = Families { out: &mut out };

        // The listener's plain counters: one sample per listener each.
        let counters: [ListenerCounter; 7] = [
            (
                "ballast_listener_requests_total",
                "Requests received by the listener.",
                |m| m.requests.get(),
            ),
            (
                "ballast_listener_redirects_total",
                "Requests answered by a redirect action.",
                |m| m.redirects.get(),
            ),
            (
                "ballast_listener_fixed_responses_total",
                "Requests answered by a fixed-response action.",
                |m| m.fixed_responses.get(),
            ),
            (
                "ballast_listener_connections_total",
                "Client connections accepted.",
                |m| m.connections.get(),
            ),
            (
                "ballast_listener_tls_handshake_errors_total",
                "TLS handshakes that failed or timed out.",
                |m| m.tls_handshake_errors.get(),
            ),
            (
                "ballast_listener_received_bytes_total",
                "Request body bytes received from clients.",
                |m| m.received_bytes.get(),
            ),
            (
                "ballast_listener_sent_bytes_total",
                "Response body bytes sent to clients.",
                |m| m.sent_bytes.get(),
            ),
        ];
        for (family, help, value) in counters {
            f.head(family, "counter", help);
            for (name, m) in &listeners {
                f.sample(family, &[("listener", name)], value(m));
            }
        }
        f.head(
            "ballast_listener_responses_total",
            "counter",
            "Responses sent to clients, by status code.",
        );
        for (name, m) in &listeners {
            f.codes(
                "ballast_listener_responses_total",
                &[("listener", name)],
                &m.responses,
            );
        }
        f.head(
            "ballast_listener_responses_by_class_total",
            "counter",
            "Responses sent to clients, by status class.",
        );
        for (name, m) in &listeners {
            f.classes(
                "ballast_listener_responses_by_class_total",
                &[("listener", name)],
                m.responses.classes(),
            );
        }
        f.head(
            "ballast_listener_errors_total",
            "counter",
            "Error responses Ballast generated itself (no target response), by status code.",
        );
        for (name, m) in &listeners {
            f.codes(
                "ballast_listener_errors_total",
                &[("listener", name)],
                &m.errors,
            );
        }
        f.head(
            "ballast_listener_connections_active",
            "gauge",
            "Client connections open now.",
        );
        for (name, m) in &listeners {
            f.sample_i(
                "ballast_listener_connections_active",
                &[("listener", name)],
                m.connections_active.get(),
            );
        }
        f.head(
            "ballast_rule_matches_total",
            "counter",
            "Requests routed by each rule (rule = priority, or \"default\").",
        );
        for (name, m) in &rules {
            for (priority, count) in &m.rules {
                let priority = priority.to_string();
                f.sample(
                    "ballast_rule_matches_total",
                    &[("listener", name), ("rule", &priority)],
                    count.get(),
                );
            }
            f.sample(
                "ballast_rule_matches_total",
                &[("listener", name), ("rule", "default")],
                m.default_action.get(),
            );
        }

        f.head(
            "ballast_target_group_requests_total",
            "counter",
            "Requests forwarded to the target group.",
        );
        for (name, m) in &groups {
            f.sample(
                "ballast_target_group_requests_total",
                &[("target_group", name)],
                m.requests.get(),
            );
        }
        f.head(
            "ballast_target_group_responses_total",
            "counter",
            "Responses from the group's targets, by status code.",
        );
        for (name, m) in &groups {
            f.codes(
                "ballast_target_group_responses_total",
                &[("target_group", name)],
                &m.responses,
            );
        }
        f.head(
            "ballast_target_group_retries_total",
            "counter",
            "Attempts sent again to another target.",
        );
        for (name, m) in &groups {
            f.sample(
                "ballast_target_group_retries_total",
                &[("target_group", name)],
                m.retries.get(),
            );
        }
        f.head(
            "ballast_target_group_response_time_seconds",
            "histogram",
            "Time from sending a request to a target to its response head.",
        );
        for (name, m) in &groups {
            f.histogram(
                "ballast_target_group_response_time_seconds",
                &[("target_group", name)],
                &m.response_time.snapshot(),
            );
        }
        let mut by_group: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for t in targets {
            let entry = by_group.entry(&t.group).or_default();
            if t.healthy {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
        }
        let counts = |name: &str| by_group.get(name).copied().unwrap_or_default();
        f.head(
            "ballast_target_group_healthy_targets",
            "gauge",
            "Targets that may take traffic.",
        );
        for name in groups.keys() {
            f.sample(
                "ballast_target_group_healthy_targets",
                &[("target_group", name)],
                counts(name).0,
            );
        }
        f.head(
            "ballast_target_group_unhealthy_targets",
            "gauge",
            "Targets that may not take traffic (unhealthy, initial, draining, ejected).",
        );
        for name in groups.keys() {
            f.sample(
                "ballast_target_group_unhealthy_targets",
                &[("target_group", name)],
                counts(name).1,
            );
        }

        f.head(
            "ballast_target_requests_total",
            "counter",
            "Attempts sent to the target.",
        );
        for ((group, address), m) in &target_handles {
            let address = address.to_string();
            f.sample(
                "ballast_target_requests_total",
                &[("target_group", group), ("target", &address)],
                m.requests.get(),
            );
        }
        f.head(
            "ballast_target_responses_total",
            "counter",
            "Responses from the target, by status class.",
        );
        for ((group, address), m) in &target_handles {
            let address = address.to_string();
            let classes = [0, 1, 2, 3, 4].map(|i| m.responses[i].get());
            f.classes(
                "ballast_target_responses_total",
                &[("target_group", group), ("target", &address)],
                classes,
            );
        }
        f.head(
            "ballast_target_errors_total",
            "counter",
            "Attempts that got no response (refused, reset, timed out, invalid).",
        );
        for ((group, address), m) in &target_handles {
            let address = address.to_string();
            f.sample(
                "ballast_target_errors_total",
                &[("target_group", group), ("target", &address)],
                m.errors.get(),
            );
        }
        f.head(
            "ballast_target_response_time_seconds",
            "histogram",
            "Time from sending a request to the target to its response head.",
        );
        for ((group, address), m) in &target_handles {
            let address = address.to_string();
            f.histogram(
                "ballast_target_response_time_seconds",
                &[("target_group", group), ("target", &address)],
                &m.response_time.snapshot(),
            );
        }
        f.head(
            "ballast_target_healthy",
            "gauge",
            "1 when the target may take traffic, else 0.",
        );
        for t in targets {
            let address = t.address.to_string();
            f.sample(
                "ballast_target_healthy",
                &[("target_group", &t.group), ("target", &address)],
                u64::from(t.healthy),
            );
        }
        f.head(
            "ballast_target_in_flight_requests",
            "gauge",
            "Requests in flight on the target.",
        );
        for t in targets {
            let address = t.address.to_string();
            f.sample(
                "ballast_target_in_flight_requests",
                &[("target_group", &t.group), ("target", &address)],
                t.in_flight,
            );
        }
        f.head(
            "ballast_target_health_transitions_total",
            "counter",
            "Health state changes of the target.",
        );
        for t in targets {
            let address = t.address.to_string();
            f.sample(
                "ballast_target_health_transitions_total",
                &[("target_group", &t.group), ("target", &address)],
                t.transitions,
            );
        }
        f.head(
            "ballast_target_ejections_total",
            "counter",
            "Passive health ejections, all targets.",
        );
        f.sample("ballast_target_ejections_total", &[], self.ejections.get());

        f.head(
            "ballast_config_reloads_total",
            "counter",
            "Configuration reloads, by result.",
        );
        f.sample(
            "ballast_config_reloads_total",
            &[("result", "success")],
            self.reloads_ok.get(),
        );
        f.sample(
            "ballast_config_reloads_total",
            &[("result", "failure")],
            self.reloads_failed.get(),
        );
        f.head(
            "ballast_config_last_reload_successful",
            "gauge",
            "1 when the last reload attempt was applied.",
        );
        f.sample(
            "ballast_config_last_reload_successful",
            &[],
            u64::from(process.last_reload_ok),
        );
        f.head(
            "ballast_config_last_reload_success_timestamp_seconds",
            "gauge",
            "Unix time the running configuration was applied.",
        );
        f.sample_f(
            "ballast_config_last_reload_success_timestamp_seconds",
            &[],
            process.last_reload_success_unix,
        );
        f.head(
            "ballast_acme_certificate_expiry_timestamp_seconds",
            "gauge",
            "Unix time the listener's ACME certificate expires (absent before the first one).",
        );
        for a in &process.acme {
            if let Some(t) = a.not_after_unix {
                f.sample_f(
                    "ballast_acme_certificate_expiry_timestamp_seconds",
                    &[("listener", &a.listener)],
                    t,
                );
            }
        }
        f.head(
            "ballast_acme_consecutive_failures",
            "gauge",
            "ACME attempts failed in a row for the listener (0 after a success).",
        );
        for a in &process.acme {
            f.sample(
                "ballast_acme_consecutive_failures",
                &[("listener", &a.listener)],
                u64::from(a.failures),
            );
        }
        f.head(
            "ballast_access_log_lines_total",
            "counter",
            "Access log lines written.",
        );
        f.sample(
            "ballast_access_log_lines_total",
            &[],
            self.access_log_lines.get(),
        );
        f.head(
            "ballast_access_log_dropped_total",
            "counter",
            "Access log lines dropped because the queue was full.",
        );
        f.sample(
            "ballast_access_log_dropped_total",
            &[],
            self.access_log_dropped.get(),
        );
        out
    }
}

/// A per-listener counter family: its name, its help text and how to read it.
type ListenerCounter = (&'static str, &'static str, fn(&ListenerMetrics) -> u64);

struct Families<'a> {
    out: &'a mut String,
}

impl Families<'_> {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn labels(&mut self, labels: &[(&str, &str)], extra: Option<(&str, &str)>) {
        if labels.is_empty() && extra.is_none() {
            return;
        }
        self.out.push('{');
        let mut first = true;
        for (k, v) in labels.iter().copied().chain(extra) {
            if !first {
                self.out.push(',');
            }
            first = false;
            self.out.push_str(k);
            self.out.push_str("=\"");
            for c in v.chars() {
                match c {
                    '\\' => self.out.push_str("\\\\"),
                    '"' => self.out.push_str("\\\""),
                    '\n' => self.out.push_str("\\n"),
                    c => self.out.push(c),
                }
            }
            self.out.push('"');
        }
        self.out.push('}');
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {value}");
    }

    fn sample_i(&mut self, name: &str, labels: &[(&str, &str)], value: i64) {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {value}");
    }

    fn sample_f(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {value}");
    }

    fn codes(&mut self, name: &str, labels: &[(&str, &str)], counts: &StatusCounts) {
        for (code, n) in counts.seen() {
            let code = code.to_string();
            self.out.push_str(name);
            self.labels(labels, Some(("code", &code)));
            let _ = writeln!(self.out, " {n}");
        }
    }

    fn classes(&mut self, name: &str, labels: &[(&str, &str)], classes: [u64; 5]) {
        for (i, n) in classes.iter().enumerate() {
            let class = format!("{}xx", i + 1);
            self.out.push_str(name);
            self.labels(labels, Some(("class", &class)));
            let _ = writeln!(self.out, " {n}");
        }
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot) {
        let bucket = format!("{name}_bucket");
        for (i, count) in h.cumulative.iter().enumerate() {
            let le = LATENCY_BUCKETS_US
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |us| format!("{}", *us as f64 / 1e6));
            self.out.push_str(&bucket);
            self.labels(labels, Some(("le", &le)));
            let _ = writeln!(self.out, " {count}");
        }
        self.out.push_str(name);
        self.out.push_str("_sum");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", h.sum_us as f64 / 1e6);
        self.out.push_str(name);
        self.out.push_str("_count");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", h.count);
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
