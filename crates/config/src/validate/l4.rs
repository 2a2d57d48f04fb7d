//! Validation of L4 listeners (`tcp`, `udp`, `tcp_udp`, `tls`) and groups: their own keys,
//! SNI rules, and the HTTP keys they must not carry.

use std::net::SocketAddr;

use crate::defaults::*;
use crate::error::KeyPath;
use crate::model::*;
use crate::raw::{RawAction, RawForward, RawListener, RawRule, RawTargetGroup};
use crate::rules::{Conditions, Rule};
use crate::tls::ListenerTls;
use crate::L4ListenerConfig;

use super::Validator;

impl Validator {
    /// An L4 listener: `bind` and `tls` are checked by the caller.
    pub(super) fn l4_listener(
        &mut self,
        path: &KeyPath,
        name: &str,
        raw: &RawListener,
        groups: &[String],
        (protocol, bind, tls): (ListenerProtocol, Option<SocketAddr>, Option<ListenerTls>),
    ) -> Option<ListenerConfig> {
        let http_only = [
            (
                "request_header_timeout",
                raw.request_header_timeout.is_some(),
            ),
            ("upgrade_idle_timeout", raw.upgrade_idle_timeout.is_some()),
            ("max_header_bytes", raw.max_header_bytes.is_some()),
            ("max_headers", raw.max_headers.is_some()),
            (
                "max_requests_per_connection",
                raw.max_requests_per_connection.is_some(),
            ),
            ("request_timeout", raw.request_timeout.is_some()),
            (
                "http2_max_concurrent_streams",
                raw.http2_max_concurrent_streams.is_some(),
            ),
            ("trusted_proxies", raw.trusted_proxies.is_some()),
            ("request_headers", raw.request_headers.is_some()),
            ("response_headers", raw.response_headers.is_some()),
            ("rate_limit", raw.rate_limit.is_some()),
            ("waf", raw.waf.is_some()),
            ("min_request_body_rate", raw.min_request_body_rate.is_some()),
            (
                "min_request_body_rate_grace",
                raw.min_request_body_rate_grace.is_some(),
            ),
            (
                "desync_mitigation_mode",
                raw.desync_mitigation_mode.is_some(),
            ),
        ];
        self.absent(path, protocol.name(), "listener", &http_only);
        // Keys of connections, which a udp listener has none of.
        let connection_keys = [
            ("accept_proxy_protocol", raw.accept_proxy_protocol.is_some()),
            ("defer_accept", raw.defer_accept.is_some()),
        ];
        for (key, _) in connection_keys
            .iter()
            .filter(|(_, set)| *set && !protocol.uses_tcp())
        {
            let expected =
                "a tcp, tcp_udp, tls, http or https listener (it applies to connections)";
            self.invalid(path.key(key), format!("{key} on a udp listener"), expected);
        }
        if !protocol.uses_udp() && raw.max_udp_flows.is_some() {
            self.invalid(
                path.key("max_udp_flows"),
                format!("max_udp_flows on a {} listener", protocol.name()),
                "a udp or tcp_udp listener",
            );
        }
        let default_action =
            self.l4_action(&path.key("default_action"), &raw.default_action, groups);
        let rules = self.l4_rules(&path.key("rules"), &raw.rules, groups, protocol);
        let l4 = L4ListenerConfig {
            idle_timeout: self.positive_duration(
                &path.key("idle_timeout"),
                raw.idle_timeout.as_deref(),
                DEFAULT_L4_IDLE_TIMEOUT,
            ),
            udp_idle_timeout: self.positive_duration(
                &path.key("udp_idle_timeout"),
                raw.udp_idle_timeout.as_deref(),
                DEFAULT_UDP_IDLE_TIMEOUT,
            ),
            client_hello_timeout: self.positive_duration(
                &path.key("client_hello_timeout"),
                raw.client_hello_timeout.as_deref(),
                DEFAULT_CLIENT_HELLO_TIMEOUT,
            ),
            max_udp_flows: self.count(
                &path.key("max_udp_flows"),
                raw.max_udp_flows,
                DEFAULT_MAX_UDP_FLOWS,
                1..=10_000_000,
            ),
        };
        let accept_proxy_protocol = raw
            .accept_proxy_protocol
            .as_deref()
            .map(|blocks| self.trusted_proxies(&path.key("accept_proxy_protocol"), Some(blocks)));
        let mut limits = default_http_limits();
        limits.max_connections = raw.max_connections.map(|_| {
            self.count(
                &path.key("max_connections"),
                raw.max_connections,
                1,
                1..=10_000_000,
            )
        });
        let edge = self.edge(path, raw);
        Some(ListenerConfig {
            rate_limit: None,
            waf: None,
            edge,
            name: ListenerName::from(name),
            bind: bind?,
            protocol,
            default_action: default_action?,
            limits,
            rules,
            trusted_proxies: Vec::new(),
            tls,
            request_headers: crate::HeaderRewrite::default(),
            response_headers: crate::HeaderRewrite::default(),
            l4: Some(l4),
            accept_proxy_protocol,
            // A TLS client speaks first; behind tcp listeners SMTP or MySQL wait for the server.
            defer_accept: raw
                .defer_accept
                .unwrap_or(protocol == ListenerProtocol::Tls),
        })
    }

    /// An L4 action: `{ forward = "GROUP" }` or `{ reject = true }`.
    fn l4_action(&mut self, path: &KeyPath, raw: &RawAction, groups: &[String]) -> Option<Action> {
        let expected = "{ forward = \"GROUP\" } or { reject = true }";
        if raw.redirect.is_some() || raw.fixed_response.is_some() {
            let key = if raw.redirect.is_some() {
                "redirect"
            } else {
                "fixed_response"
            };
            self.invalid(path.key(key), format!("{key} on an L4 listener"), expected);
            return None;
        }
        match (&raw.forward, raw.reject) {
            (Some(_), Some(_)) => {
                self.invalid(path.clone(), "both forward and reject", expected);
                None
            }
            (None, Some(true)) => Some(Action::Reject),
            (None, _) => {
                self.invalid(path.clone(), "an empty action", expected);
                None
            }
            (Some(RawForward::Group(group)), _) => self
                .group_reference(&path.key("forward"), group, groups)
                .map(|target_group| Action::Forward { target_group }),
            (Some(RawForward::Weighted(_)), _) => {
                self.invalid(
                    path.key("forward"),
                    "a weighted forward on an L4 listener",
                    "one group: forward = \"GROUP\" (weights go on targets)",
                );
                None
            }
        }
    }

    /// Rules of an L4 listener: conditions on `sni` and `alpn` only (`tcp` and `tls`).
    fn l4_rules(
        &mut self,
        path: &KeyPath,
        raw: &[RawRule],
        groups: &[String],
        protocol: ListenerProtocol,
    ) -> Vec<Rule> {
        if raw.is_empty() {
            return Vec::new();
        }
        if !matches!(protocol, ListenerProtocol::Tcp | ListenerProtocol::Tls) {
            self.invalid(
                path.clone(),
                format!("rules on a {} listener", protocol.name()),
                "a tcp or tls listener (rules choose by the TLS server name)",
            );
            return Vec::new();
        }
        let mut rules = Vec::new();
        let mut priorities = std::collections::HashSet::new();
        for (i, rule) in raw.iter().enumerate().take(MAX_RULES) {
            let at = path.index(i);
            let priority =
                self.count(&at.key("priority"), Some(rule.priority), 1, 1..=50_000) as u32;
            if !priorities.insert(priority) {
                self.invalid(
                    at.key("priority"),
                    priority.to_string(),
                    "a priority no other rule has",
                );
            }
            let c = &rule.conditions;
            let http = [
                ("host", c.host.is_some()),
                ("path", c.path.is_some()),
                ("header", c.header.is_some()),
                ("method", c.method.is_some()),
                ("query", c.query.is_some()),
                ("source_ip", c.source_ip.is_some()),
            ];
            let conditions_path = at.key("conditions");
            self.absent(&conditions_path, protocol.name(), "listener's rule", &http);
            self.absent(
                &at,
                protocol.name(),
                "listener's rule",
                &[
                    ("request_headers", rule.request_headers.is_some()),
                    ("response_headers", rule.response_headers.is_some()),
                    ("rate_limit", rule.rate_limit.is_some()),
                    ("waf", rule.waf.is_some()),
                ],
            );
            let sni = self.server_names(&conditions_path.key("sni"), c.sni.as_deref());
            let alpn = self.alpn_values(&conditions_path.key("alpn"), c.alpn.as_deref());
            if sni.is_empty() && alpn.is_empty() {
                self.invalid(
                    conditions_path.clone(),
                    "no condition",
                    "sni = [\"NAME\", \"*.DOMAIN\"] and/or alpn = [\"PROTOCOL\"]",
                );
            }
            let action = self.l4_action(&at.key("action"), &rule.action, groups);
            if let Some(action) = action {
                rules.push(Rule {
                    priority,
                    conditions: Conditions {
                        sni,
                        alpn,
                        ..Conditions::default()
                    },
                    action,
                    request_headers: crate::HeaderRewrite::default(),
                    response_headers: crate::HeaderRewrite::default(),
                    rate_limit: None,
                    waf: None,
                });
            }
        }
        rules.sort_by_key(|r| r.priority);
        rules
    }

    /// SNI condition values: DNS names, or `*.` followed by one, lower-cased.
    fn server_names(&mut self, path: &KeyPath, raw: Option<&[String]>) -> Vec<String> {
        let mut names = Vec::new();
        for (i, name) in raw.unwrap_or_default().iter().enumerate() {
            let lower = name.to_ascii_lowercase();
            let bare = lower.strip_prefix("*.").unwrap_or(&lower);
            let ok = !bare.is_empty()
                && bare.len() <= 253
                && bare.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if ok {
                names.push(lower);
            } else {
                self.invalid(
                    path.index(i),
                    format!("\"{name}\""),
                    "a DNS name (db.example.com) or a wildcard (*.example.com)",
                );
            }
        }
        names
    }

    fn alpn_values(&mut self, path: &KeyPath, raw: Option<&[String]>) -> Vec<String> {
        let mut values = Vec::new();
        for (i, value) in raw.unwrap_or_default().iter().enumerate() {
            if value.is_empty() || value.len() > 255 || !value.bytes().all(|b| b.is_ascii_graphic())
            {
                self.invalid(
                    path.index(i),
                    format!("\"{value}\""),
                    "an ALPN protocol id such as \"h2\" or \"http/1.1\"",
                );
            } else {
                values.push(value.clone());
            }
        }
        values
    }

    /// Refuses the HTTP keys an L4 group has no use for.
    pub(super) fn l4_group_keys(
        &mut self,
        path: &KeyPath,
        raw: &RawTargetGroup,
        protocol: TargetProtocol,
    ) {
        let http_only = [
            ("protocol_version", raw.protocol_version.is_some()),
            ("hash_key", raw.hash_key.is_some()),
            ("stickiness", raw.stickiness.is_some()),
            ("response_timeout", raw.response_timeout.is_some()),
            ("target_idle_timeout", raw.target_idle_timeout.is_some()),
            ("max_idle_per_target", raw.max_idle_per_target.is_some()),
            ("retry", raw.retry.is_some()),
        ];
        self.absent(path, protocol.name(), "group", &http_only);
    }

    /// Reports each key in `keys` that is present: it has no meaning on this kind of entry.
    fn absent(&mut self, path: &KeyPath, protocol: &str, what: &str, keys: &[(&str, bool)]) {
        for (key, present) in keys {
            if *present {
                self.invalid(
                    path.key(key),
                    format!("{key} on a {protocol} {what}"),
                    "no such key here (it applies to HTTP only)",
                );
            }
        }
    }
}

/// The limits of an HTTP listener that sets none.
fn default_http_limits() -> HttpListenerLimits {
    HttpListenerLimits {
        request_header_timeout: DEFAULT_REQUEST_HEADER_TIMEOUT,
        idle_timeout: DEFAULT_IDLE_TIMEOUT,
        upgrade_idle_timeout: DEFAULT_UPGRADE_IDLE_TIMEOUT,
        max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
        max_headers: DEFAULT_MAX_HEADERS,
        max_connections: None,
        max_requests_per_connection: None,
        request_timeout: None,
        http2_max_concurrent_streams: DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS,
        min_body_rate: None,
        desync_mode: crate::DesyncMode::Defensive,
    }
}

#[cfg(test)]
mod tests;
