//! The upstream side of `/metrics`: target groups and their targets.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::metrics::{GroupMetrics, TargetMetrics};
use crate::registry::text::Families;
use crate::registry::TargetGauges;

/// Target group series, with the healthy and unhealthy target counts.
pub(super) fn group_families(
    f: &mut Families<'_>,
    groups: &BTreeMap<String, Arc<GroupMetrics>>,
    targets: &[TargetGauges],
) {
    f.head(
        "ballast_target_group_requests_total",
        "counter",
        "Requests forwarded to the target group.",
    );
    for (name, m) in groups {
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
    for (name, m) in groups {
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
    for (name, m) in groups {
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
    for (name, m) in groups {
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
}

/// Per-target series: the request path's counters and the control plane's gauges.
pub(super) fn target_families(
    f: &mut Families<'_>,
    target_handles: &BTreeMap<(String, SocketAddr), Arc<TargetMetrics>>,
    targets: &[TargetGauges],
) {
    f.head(
        "ballast_target_requests_total",
        "counter",
        "Attempts sent to the target.",
    );
    for ((group, address), m) in target_handles {
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
    for ((group, address), m) in target_handles {
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
    for ((group, address), m) in target_handles {
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
    for ((group, address), m) in target_handles {
        let address = address.to_string();
        f.histogram(
            "ballast_target_response_time_seconds",
            &[("target_group", group), ("target", &address)],
            &m.response_time.snapshot(),
        );
    }
    l4_target_families(f, target_handles);
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
}

/// The series only targets of L4 groups have.
fn l4_target_families(
    f: &mut Families<'_>,
    target_handles: &BTreeMap<(String, SocketAddr), Arc<TargetMetrics>>,
) {
    let l4: Vec<_> = target_handles
        .iter()
        .filter(|(_, m)| m.l4.is_active())
        .map(|((group, address), m)| (group, address.to_string(), m))
        .collect();
    type Bytes = fn(&crate::l4::L4TargetCounters) -> u64;
    let bytes: [(&str, &str, Bytes); 2] = [
        (
            "ballast_target_sent_bytes_total",
            "Bytes sent to the target on L4 connections and flows, counted as each ends.",
            crate::l4::L4TargetCounters::sent_bytes,
        ),
        (
            "ballast_target_received_bytes_total",
            "Bytes received from the target on L4 connections and flows, counted as each ends.",
            crate::l4::L4TargetCounters::received_bytes,
        ),
    ];
    for (name, help, get) in bytes {
        f.head(name, "counter", help);
        for (group, address, m) in &l4 {
            f.sample(
                name,
                &[("target_group", group), ("target", address)],
                get(&m.l4),
            );
        }
    }
    f.head(
        "ballast_target_connections_ended_total",
        "counter",
        "The target's L4 connections and flows that ended, by how they ended.",
    );
    for (group, address, m) in &l4 {
        for ending in crate::l4::Ending::ALL {
            f.sample(
                "ballast_target_connections_ended_total",
                &[
                    ("target_group", group),
                    ("target", address),
                    ("ending", ending.as_str()),
                ],
                m.l4.ended(ending),
            );
        }
    }
}
