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

/// `ballast_waf_rule_matches_total` and `ballast_waf_default_actions_total`.
pub(super) fn waf_families(
    f: &mut Families<'_>,
    wafs: &BTreeMap<String, Arc<crate::waf::WafMetrics>>,
) {
    f.head(
        "ballast_waf_rule_matches_total",
        "counter",
        "Requests each web application firewall rule matched, by set, rule and action.",
    );
    for (name, m) in wafs {
        for (rule, action, count) in &m.rules {
            f.sample(
                "ballast_waf_rule_matches_total",
                &[("waf", name), ("rule", rule), ("action", action)],
                count.get(),
            );
        }
    }
    f.head(
        "ballast_waf_default_actions_total",
        "counter",
        "Requests no rule of a web application firewall set decided, by the default action.",
    );
    for (name, m) in wafs {
        for (action, count) in [("allow", &m.default_allowed), ("block", &m.default_blocked)] {
            f.sample(
                "ballast_waf_default_actions_total",
                &[("waf", name), ("action", action)],
                count.get(),
            );
        }
    }
}
