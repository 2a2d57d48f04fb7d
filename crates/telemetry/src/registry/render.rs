//! The Prometheus text rendering of the registry (`/metrics`), one function per part of
//! the process: listeners and rules, process-wide series, and (`render/upstream.rs`) target
//! groups and targets.

mod defences;
mod upstream;

use std::collections::BTreeMap;
use std::sync::Arc;

use self::defences::{defence_families, waf_families};
use self::upstream::{group_families, target_families};
use super::text::Families;
use super::{MetricsRegistry, ProcessGauges, TargetGauges};
use crate::metrics::{ListenerMetrics, RuleMetrics};

/// A per-listener counter family: its name, its help text and how to read it.
type ListenerCounter = (&'static str, &'static str, fn(&ListenerMetrics) -> u64);

impl MetricsRegistry {
    /// The whole registry in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self, targets: &[TargetGauges], process: &ProcessGauges) -> String {
        // Copies of the maps (of `Arc`s): the lock is not held while the text is written.
        let (listeners, rules, groups, target_handles, wafs) = {
            let h = self.lock();
            (
                h.listeners.clone(),
                h.rules.clone(),
                h.groups.clone(),
                h.targets.clone(),
                h.wafs.clone(),
            )
        };
        let mut out = String::with_capacity(16 * 1024);
        let mut f = Families::new(&mut out);
        listener_families(&mut f, &listeners, &rules);
        waf_families(&mut f, &wafs);
        group_families(&mut f, &groups, targets);
        target_families(&mut f, &target_handles, targets);
        process_families(&mut f, self, process);
        out
    }
}

/// Listener and rule series.
fn listener_families(
    f: &mut Families<'_>,
    listeners: &BTreeMap<String, Arc<ListenerMetrics>>,
    rules: &BTreeMap<String, Arc<RuleMetrics>>,
) {
    // The listener's plain counters: one sample per listener each.
    let counters: [ListenerCounter; 9] = [
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
        (
            "ballast_listener_upgrades_total",
            "Upgrade requests (WebSocket) a target accepted with 101: tunnels opened.",
            |m| m.upgrades.get(),
        ),
        (
            "ballast_listener_upgrades_refused_total",
            "Upgrade requests answered with anything but 101, by the target or by Ballast.",
            |m| m.upgrades_refused.get(),
        ),
    ];
    for (family, help, value) in counters {
        f.head(family, "counter", help);
        for (name, m) in listeners {
            f.sample(family, &[("listener", name)], value(m));
        }
    }
    f.head(
        "ballast_listener_responses_total",
        "counter",
        "Responses sent to clients, by status code.",
    );
    for (name, m) in listeners {
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
    for (name, m) in listeners {
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
    for (name, m) in listeners {
        f.codes(
            "ballast_listener_errors_total",
            &[("listener", name)],
            &m.errors,
        );
    }
    f.head(
        "ballast_listener_upgrades_active",
        "gauge",
        "Upgraded connections (WebSocket tunnels) open now.",
    );
    for (name, m) in listeners {
        f.sample_i(
            "ballast_listener_upgrades_active",
            &[("listener", name)],
            m.upgrades_active.get(),
        );
    }
    f.head(
        "ballast_listener_upgraded_bytes_total",
        "counter",
        "Bytes carried by tunnels, by direction (from_client, from_target).",
    );
    for (name, m) in listeners {
        for (direction, bytes) in [
            ("from_client", &m.upgraded_bytes_from_client),
            ("from_target", &m.upgraded_bytes_from_target),
        ] {
            f.sample(
                "ballast_listener_upgraded_bytes_total",
                &[("listener", name), ("direction", direction)],
                bytes.get(),
            );
        }
    }
    l4_families(f, listeners);
    defence_families(f, listeners);
    f.head(
        "ballast_listener_connections_active",
        "gauge",
        "Client connections open now.",
    );
    for (name, m) in listeners {
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
    for (name, m) in rules {
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
}

/// Process-wide series: ejections, reloads, ACME certificates, the access log.
fn process_families(f: &mut Families<'_>, registry: &MetricsRegistry, process: &ProcessGauges) {
    f.head(
        "ballast_target_ejections_total",
        "counter",
        "Passive health ejections, all targets.",
    );
    f.sample(
        "ballast_target_ejections_total",
        &[],
        registry.ejections.get(),
    );

    f.head(
        "ballast_config_reloads_total",
        "counter",
        "Configuration reloads, by result.",
    );
    f.sample(
        "ballast_config_reloads_total",
        &[("result", "success")],
        registry.reloads_ok.get(),
    );
    f.sample(
        "ballast_config_reloads_total",
        &[("result", "failure")],
        registry.reloads_failed.get(),
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
    scaling(f, &process.scaling);
    f.head(
        "ballast_access_log_lines_total",
        "counter",
        "Access log lines written.",
    );
    f.sample(
        "ballast_access_log_lines_total",
        &[],
        registry.access_log_lines.get(),
    );
    f.head(
        "ballast_access_log_dropped_total",
        "counter",
        "Access log lines dropped because the queue was full.",
    );
    f.sample(
        "ballast_access_log_dropped_total",
        &[],
        registry.access_log_dropped.get(),
    );
}

/// The series only L4 listeners have.
fn l4_families(f: &mut Families<'_>, listeners: &BTreeMap<String, Arc<ListenerMetrics>>) {
    let l4: Vec<_> = listeners.iter().filter(|(_, m)| m.l4.is_active()).collect();
    f.head(
        "ballast_l4_connections_refused_total",
        "counter",
        "L4 connections (and UDP flows) closed without being forwarded, by reason.",
    );
    for (name, m) in &l4 {
        for reason in crate::l4::Refusal::ALL {
            f.sample(
                "ballast_l4_connections_refused_total",
                &[("listener", name), ("reason", reason.as_str())],
                m.l4.refused(reason),
            );
        }
    }
    f.head(
        "ballast_l4_connections_ended_total",
        "counter",
        "Forwarded L4 connections that ended, by how they ended.",
    );
    for (name, m) in &l4 {
        for ending in crate::l4::Ending::ALL {
            f.sample(
                "ballast_l4_connections_ended_total",
                &[("listener", name), ("ending", ending.as_str())],
                m.l4.ended(ending),
            );
        }
    }
}

/// Reads one value of a scaling group's gauges.
type ScalingValue = fn(&crate::registry::ScalingGauges) -> u32;

/// The scaling groups' capacity and instances by state.
fn scaling(f: &mut Families<'_>, groups: &[crate::registry::ScalingGauges]) {
    let gauges: [(&str, &str, ScalingValue); 3] = [
        (
            "ballast_scaling_group_desired_capacity",
            "Desired capacity of the scaling group.",
            |g| g.desired,
        ),
        (
            "ballast_scaling_group_min_size",
            "Minimum capacity of the scaling group now.",
            |g| g.min,
        ),
        (
            "ballast_scaling_group_max_size",
            "Maximum capacity of the scaling group now.",
            |g| g.max,
        ),
    ];
    for (name, help, value) in gauges {
        f.head(name, "gauge", help);
        for g in groups {
            f.sample(name, &[("scaling_group", &g.group)], u64::from(value(g)));
        }
    }
    let name = "ballast_scaling_group_instances";
    f.head(name, "gauge", "Instances of the scaling group by state: in_service, pending (launching or not healthy yet), terminating (draining).");
    for g in groups {
        for (state, n) in [
            ("in_service", g.in_service),
            ("pending", g.pending),
            ("terminating", g.terminating),
        ] {
            f.sample(
                name,
                &[("scaling_group", &g.group), ("state", state)],
                u64::from(n),
            );
        }
    }
}
