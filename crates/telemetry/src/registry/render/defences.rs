//! The series of a listener's defences: limits that fired, and HTTP/1 requests by desync
//! class and reason.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::super::text::Families;
use crate::desync::DesyncReason;
use crate::metrics::{Limit, ListenerMetrics};

/// `ballast_listener_limit_hits_total` and `ballast_http_desync_requests_total`.
pub(super) fn defence_families(
    f: &mut Families<'_>,
    listeners: &BTreeMap<String, Arc<ListenerMetrics>>,
) {
    f.head(
        "ballast_listener_limit_hits_total",
        "counter",
        "Times a listener's limit or defence fired, by limit.",
    );
    for (name, m) in listeners {
        for limit in Limit::ALL {
            f.sample(
                "ballast_listener_limit_hits_total",
                &[("listener", name), ("limit", limit.as_str())],
                m.limit_hits[limit as usize].get(),
            );
        }
    }
    f.head(
        "ballast_http_desync_requests_total",
        "counter",
        "HTTP/1 requests that were not compliant, by desync class and reason.",
    );
    for (name, m) in listeners {
        for reason in &DesyncReason::ALL[1..] {
            f.sample(
                "ballast_http_desync_requests_total",
                &[
                    ("listener", name),
                    ("class", reason.class().as_str()),
                    ("reason", reason.as_str()),
                ],
                m.desync[*reason as usize].get(),
            );
        }
    }
}
