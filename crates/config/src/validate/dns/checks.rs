//! Validation of `[dns.health_checks.NAME]`: endpoint checks (run by the target groups'
//! checker), calculated checks over others, and a target group's health.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::defaults::*;
use crate::dns::{DnsCheckKind, DnsHealthCheck};
use crate::error::{unknown_reference, KeyPath};
use crate::raw::RawDnsHealthCheck;
use crate::{GroupName, HealthCheckConfig, HealthCheckKind, StatusMatcher};

use super::Validator;

impl Validator {
    pub(super) fn dns_checks(
        &mut self,
        at: &KeyPath,
        raw: &BTreeMap<String, RawDnsHealthCheck>,
        groups: &[String],
    ) -> Vec<DnsHealthCheck> {
        let names: Vec<String> = raw.keys().cloned().collect();
        raw.iter()
            .filter_map(|(name, check)| {
                let path = at.key(name);
                self.name(&path, name);
                self.dns_check(&path, name, check, &names, raw, groups)
            })
            .collect()
    }

    fn dns_check(
        &mut self,
        at: &KeyPath,
        name: &str,
        raw: &RawDnsHealthCheck,
        names: &[String],
        all: &BTreeMap<String, RawDnsHealthCheck>,
        groups: &[String],
    ) -> Option<DnsHealthCheck> {
        let kind_keys: [(&str, bool); 4] = [
            ("endpoint", raw.endpoint.is_some()),
            ("children", raw.children.is_some()),
            ("healthy_threshold", raw.healthy_threshold.is_some()),
            ("target_group", raw.target_group.is_some()),
        ];
        let allowed: &[&str] = match raw.r#type.as_str() {
            "http" | "https" | "tcp" => &["endpoint"],
            "calculated" => &["children", "healthy_threshold"],
            "target_group" => &["target_group"],
            other => {
                self.invalid(
                    at.key("type"),
                    format!("\"{other}\""),
                    "\"http\", \"https\", \"tcp\", \"calculated\" or \"target_group\"",
                );
                return None;
            }
        };
        for (key, present) in kind_keys {
            if present && !allowed.contains(&key) {
                self.invalid(
                    at.key(key),
                    key,
                    format!("no {key} on a {} check", raw.r#type),
                );
            }
        }
        let kind = match raw.r#type.as_str() {
            "calculated" => {
                let children = raw.children.clone().unwrap_or_default();
                if children.is_empty() {
                    self.invalid(
                        at.key("children"),
                        "nothing",
                        "children: the checks it is calculated from",
                    );
                }
                for (i, child) in children.iter().enumerate() {
                    match all.get(child) {
                        None => self.error(
                            at.key("children").index(i),
                            unknown_reference("DNS health check", child, names),
                        ),
                        Some(c) if c.r#type == "calculated" || child == name => self.invalid(
                            at.key("children").index(i),
                            format!("\"{child}\""),
                            "a check that is not calculated itself",
                        ),
                        Some(_) => {}
                    }
                }
                let n = children.len().max(1);
                let healthy_threshold = self.count(
                    &at.key("healthy_threshold"),
                    raw.healthy_threshold,
                    n,
                    1..=n,
                ) as u32;
                DnsCheckKind::Calculated {
                    children: children.iter().map(|c| Arc::from(c.as_str())).collect(),
                    healthy_threshold,
                }
            }
            "target_group" => match &raw.target_group {
                Some(group) if groups.contains(group) => {
                    DnsCheckKind::TargetGroup(GroupName::from(group.as_str()))
                }
                Some(group) => {
                    self.error(
                        at.key("target_group"),
                        unknown_reference("target group", group, groups),
                    );
                    return None;
                }
                None => {
                    self.invalid(
                        at.key("target_group"),
                        "nothing",
                        "target_group: the group whose health it follows",
                    );
                    return None;
                }
            },
            _ => {
                let Some(endpoint) = &raw.endpoint else {
                    self.invalid(
                        at.key("endpoint"),
                        "nothing",
                        "endpoint: the IP:PORT it checks",
                    );
                    return None;
                };
                let address = self.socket_addr(&at.key("endpoint"), endpoint)?;
                DnsCheckKind::Endpoint {
                    address,
                    check: self.endpoint_check(at, raw)?,
                }
            }
        };
        if raw.r#type != "http" && raw.r#type != "https" {
            for (key, present) in [
                ("path", raw.path.is_some()),
                ("host", raw.host.is_some()),
                ("search_string", raw.search_string.is_some()),
            ] {
                if present {
                    self.invalid(
                        at.key(key),
                        key,
                        format!("no {key} on a {} check", raw.r#type),
                    );
                }
            }
        }
        Some(DnsHealthCheck {
            name: Arc::from(name),
            kind,
            invert: raw.invert.unwrap_or(false),
        })
    }

    /// The checker settings of an endpoint check. Both thresholds are the failure threshold,
    /// as Route 53 uses one threshold both ways; a 2xx or 3xx answer passes, as there.
    fn endpoint_check(
        &mut self,
        at: &KeyPath,
        raw: &RawDnsHealthCheck,
    ) -> Option<HealthCheckConfig> {
        let interval = self.positive_duration(
            &at.key("interval"),
            raw.interval.as_deref(),
            DEFAULT_DNS_CHECK_INTERVAL,
        );
        // Unset, it is at most the interval, so a short interval needs no timeout of its own.
        let timeout = self.positive_duration(
            &at.key("timeout"),
            raw.timeout.as_deref(),
            DEFAULT_DNS_CHECK_TIMEOUT.min(interval),
        );
        if timeout > interval {
            self.invalid(
                at.key("timeout"),
                format!("{timeout:?}"),
                format!("at most the interval ({interval:?})"),
            );
        }
        let threshold = self.count(
            &at.key("failure_threshold"),
            raw.failure_threshold,
            DEFAULT_DNS_FAILURE_THRESHOLD as usize,
            1..=10,
        ) as u32;
        let kind = match raw.r#type.as_str() {
            "tcp" => HealthCheckKind::Tcp,
            tls => HealthCheckKind::Http {
                tls: tls == "https",
                path: raw.path.clone().unwrap_or_else(|| "/".to_owned()),
                method: "GET".to_owned(),
                host: raw.host.clone(),
                matcher: StatusMatcher::parse("200-399").ok()?,
                body_contains: raw.search_string.clone(),
            },
        };
        Some(HealthCheckConfig {
            kind,
            port: None,
            interval,
            timeout,
            healthy_threshold: threshold,
            unhealthy_threshold: threshold,
        })
    }
}
