//! `GET /api/v1/dns`: the DNS server as operators see it (every record set with its
//! members' health and answers, every health check, the counters), and its series in
//! `/metrics`.
//!
//! The metric registry renders in `ballast-telemetry`, which knows nothing of DNS; the DNS
//! series are read from [`DnsStatus`] here and appended to its text, in the same format.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use ballast_runtime::DnsStatus;
use http::StatusCode;

use crate::app::App;
use crate::reply::{error, reply};

/// `GET /api/v1/dns`; `404 Admin.DnsNotConfigured` without `[dns]`.
pub(super) async fn dns(State(app): State<Arc<App>>) -> Response {
    match app.runtime.dns_status() {
        Some(status) => reply(StatusCode::OK, &status),
        None => error(
            StatusCode::NOT_FOUND,
            "Admin.DnsNotConfigured",
            "no DNS server runs: the running configuration has no [dns] table",
        ),
    }
}

/// Appends the DNS server's series to `out` (Prometheus text format 0.0.4): queries by
/// type, answers by response code, TCP queries, truncations, rate limiting, and each health
/// check's state and transitions. Label values are bounded: the query types and codes the
/// server counts apart (with `other`), and the configured checks' names.
pub(super) fn render_metrics(status: &DnsStatus, out: &mut String) {
    let mut m = Families(out);
    m.head(
        "ballast_dns_queries_total",
        "counter",
        "DNS queries received, by query type (UDP and TCP).",
    );
    for (qtype, n) in &status.queries {
        m.sample("ballast_dns_queries_total", &[("type", qtype)], *n);
    }
    m.head(
        "ballast_dns_responses_total",
        "counter",
        "DNS answers sent, by response code.",
    );
    for (rcode, n) in &status.responses {
        m.sample("ballast_dns_responses_total", &[("rcode", rcode)], *n);
    }
    m.head(
        "ballast_dns_tcp_queries_total",
        "counter",
        "DNS queries received over TCP.",
    );
    m.sample("ballast_dns_tcp_queries_total", &[], status.tcp_queries);
    m.head(
        "ballast_dns_truncated_total",
        "counter",
        "UDP answers sent truncated (TC set) because they did not fit.",
    );
    m.sample("ballast_dns_truncated_total", &[], status.truncated);
    m.head(
        "ballast_dns_rate_limited_total",
        "counter",
        "UDP answers response rate limiting held back: sent truncated (slip) or dropped (drop).",
    );
    let limited = [
        ("slip", status.rate_limited_slipped),
        ("drop", status.rate_limited_dropped),
    ];
    for (action, n) in limited {
        m.sample("ballast_dns_rate_limited_total", &[("action", action)], n);
    }
    m.head(
        "ballast_dns_health_check_healthy",
        "gauge",
        "1 while the DNS health check reports healthy (after invert), else 0.",
    );
    for check in &status.health_checks {
        let healthy = u64::from(check.healthy);
        m.sample(
            "ballast_dns_health_check_healthy",
            &[("check", &check.name)],
            healthy,
        );
    }
    let transitions: Vec<(&str, u64)> = status
        .health_checks
        .iter()
        .filter_map(|c| Some((c.name.as_str(), c.transitions?)))
        .collect();
    if !transitions.is_empty() {
        m.head(
            "ballast_dns_health_check_transitions_total",
            "counter",
            "State changes of the DNS endpoint health check (http, https, tcp), its first verdict included.",
        );
        for (name, n) in transitions {
            m.sample(
                "ballast_dns_health_check_transitions_total",
                &[("check", name)],
                n,
            );
        }
    }
}

/// Writes metric families into a string, label values escaped (as ballast-telemetry's
/// own writer does).
pub(super) struct Families<'a>(pub(super) &'a mut String);

impl Families<'_> {
    pub(super) fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    pub(super) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                self.0.push_str(key);
                self.0.push_str("=\"");
                for c in value.chars() {
                    match c {
                        '\\' => self.0.push_str("\\\\"),
                        '"' => self.0.push_str("\\\""),
                        '\n' => self.0.push_str("\\n"),
                        c => self.0.push(c),
                    }
                }
                self.0.push('"');
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ballast_runtime::CheckStatus;

    use super::*;

    fn check(name: &str, healthy: bool, transitions: Option<u64>) -> CheckStatus {
        CheckStatus {
            name: name.to_owned(),
            kind: if transitions.is_some() {
                "endpoint"
            } else {
                "calculated"
            },
            healthy,
            invert: false,
            transitions,
            checks: transitions.map(|t| (t, t)),
        }
    }

    #[test]
    fn renders_every_series_with_help_and_type() {
        let status = DnsStatus {
            address: None,
            zones: Vec::new(),
            health_checks: vec![check("site-a", false, Some(2)), check("both", true, None)],
            queries: BTreeMap::from([("A", 7), ("other", 0)]),
            responses: BTreeMap::from([("NOERROR", 6), ("NXDOMAIN", 1)]),
            tcp_queries: 2,
            truncated: 1,
            rate_limited_slipped: 3,
            rate_limited_dropped: 4,
        };
        let mut text = String::new();
        render_metrics(&status, &mut text);
        for line in [
            "# TYPE ballast_dns_queries_total counter",
            "ballast_dns_queries_total{type=\"A\"} 7",
            "ballast_dns_queries_total{type=\"other\"} 0",
            "ballast_dns_responses_total{rcode=\"NXDOMAIN\"} 1",
            "ballast_dns_tcp_queries_total 2",
            "ballast_dns_truncated_total 1",
            "ballast_dns_rate_limited_total{action=\"slip\"} 3",
            "ballast_dns_rate_limited_total{action=\"drop\"} 4",
            "# TYPE ballast_dns_health_check_healthy gauge",
            "ballast_dns_health_check_healthy{check=\"site-a\"} 0",
            "ballast_dns_health_check_healthy{check=\"both\"} 1",
            "ballast_dns_health_check_transitions_total{check=\"site-a\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        // Transitions are an endpoint check's: a calculated check has none to show.
        assert!(
            !text.contains("transitions_total{check=\"both\"}"),
            "{text}"
        );
        // Every series has its HELP and TYPE before its samples.
        for name in text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split(['{', ' ']).next().unwrap_or(""))
        {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut text = String::new();
        Families(&mut text).sample("x", &[("check", "a\"b\\c\nd")], 1);
        assert_eq!(text, "x{check=\"a\\\"b\\\\c\\nd\"} 1\n");
    }
}
