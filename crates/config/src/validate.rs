//! Raw model → typed [`Config`]: defaults, value checks, references and resource conflicts.
//!
//! Validation never stops at the first problem: it collects them all, each with its key path.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::defaults::*;
use crate::error::{unknown_reference, ConfigError, ConfigErrors, ErrorKind, KeyPath};
use crate::model::*;
use crate::raw::{RawAction, RawConfig, RawForward, RawListener};

/// Validates a raw document, reporting every problem found.
pub(crate) fn validate(raw: RawConfig) -> Result<Config, ConfigErrors> {
    let mut v = Validator::default();
    let root = KeyPath::root();
    let server = v.server(&root.key("server"), raw.server.unwrap_or_default());
    // Sorted (the keys of a BTreeMap), so a reference is found by binary search: a file of
    // thousands of groups and rules must not take groups × rules comparisons.
    let group_names: Vec<String> = raw.target_groups.keys().cloned().collect();
    v.group_protocols = raw
        .target_groups
        .iter()
        .map(|(name, g)| (name.clone(), g.protocol.clone().unwrap_or_default()))
        .collect();

    // Over a count limit, the entries are not checked one by one: the point of the limit is
    // that nobody waits for (or reads the errors of) a hundred thousand of them.
    v.ip_sets(&root.key("ip_sets"), &raw.ip_sets);
    let rate_limits = v.rate_limits(&root.key("rate_limits"), &raw.rate_limits);
    v.wafs(&root.key("waf"), &raw.waf);
    let mut listeners = Vec::new();
    let at = root.key("listeners");
    if v.within(&at, raw.listeners.len(), MAX_LISTENERS, "listeners") {
        // TCP and UDP ports are apart: a udp listener may share a tcp one's address.
        let mut bound: HashMap<SocketAddr, KeyPath> = HashMap::new();
        let mut bound_udp: HashMap<SocketAddr, KeyPath> = HashMap::new();
        for (name, listener) in &raw.listeners {
            let path = at.key(name);
            if let Some(listener) = v.listener(&path, name, listener, &group_names) {
                if listener.protocol.uses_tcp() {
                    v.claim_address(&mut bound, listener.bind, &path.key("bind"));
                }
                if listener.protocol.uses_udp() {
                    v.claim_address(&mut bound_udp, listener.bind, &path.key("bind"));
                }
                listeners.push(listener);
            }
        }
    }

    v.acme_challenges_answerable(&root, &listeners);

    let mut target_groups = Vec::new();
    let at = root.key("target_groups");
    if v.within(
        &at,
        raw.target_groups.len(),
        MAX_TARGET_GROUPS,
        "target groups",
    ) {
        for (name, group) in &raw.target_groups {
            target_groups.push(v.target_group(&at.key(name), name, group));
        }
    }

    let scaling_groups = v.scaling_groups(
        &root.key("scaling_groups"),
        &raw.scaling_groups,
        &group_names,
    );
    let clustered = raw.cluster.is_some();
    let dns = v.dns(
        &root.key("dns"),
        raw.dns.as_ref(),
        &group_names,
        &listeners,
        clustered,
    );
    let admin = v.admin(&root.key("admin"), raw.admin);
    let access_log = v.access_log(&root.key("access_log"), raw.access_log);
    let cluster = v.cluster(&root.key("cluster"), raw.cluster);
    let metrics = Validator::metrics(raw.metrics);
    v.scaling_in_cluster(&root.key("scaling_groups"), &scaling_groups, clustered);
    v.response_time_needs_metrics(
        &root.key("scaling_groups"),
        &scaling_groups,
        metrics.enabled,
    );
    ConfigErrors::from_vec(v.errors, v.omitted)?;
    Ok(Config {
        server,
        listeners,
        target_groups,
        admin,
        access_log,
        metrics,
        scaling_groups,
        dns,
        rate_limits,
        cluster,
    })
}

#[derive(Default)]
struct Validator {
    /// The first [`MAX_REPORTED_ERRORS`] problems found, in document order.
    errors: Vec<ConfigError>,
    /// Problems found after those, counted only.
    omitted: usize,
    /// The protocol (`http`/`https`) and port of the listener whose actions are being
    /// checked: a redirect that keeps both and the host and path would loop.
    listener: Option<(&'static str, u16)>,
    /// The protocol of the listener whose actions are being checked: the groups it forwards
    /// to must speak one it can carry.
    listener_protocol: Option<ListenerProtocol>,
    /// Each group's `protocol` as written (empty when absent: `http`).
    group_protocols: HashMap<String, String>,
    /// The blocks of each `[ip_sets]` entry, for the listeners that name it.
    ip_sets: HashMap<String, Vec<crate::Cidr>>,
    /// Each `[rate_limits]` entry, for the listeners and rules that name it.
    rate_limits: HashMap<String, std::sync::Arc<crate::RateLimitConfig>>,
    /// Each `[waf]` set (and `ballast-core` once named), for the listeners and rules.
    wafs: HashMap<String, std::sync::Arc<crate::WafConfig>>,
}

impl Validator {
    fn error(&mut self, path: KeyPath, kind: ErrorKind) {
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(ConfigError::new(path, kind));
        } else {
            self.omitted += 1;
        }
    }

    /// Problems found so far, reported or not.
    fn error_count(&self) -> usize {
        self.errors.len() + self.omitted
    }

    fn invalid(&mut self, path: KeyPath, found: impl Into<String>, expected: impl Into<String>) {
        self.error(
            path,
            ErrorKind::InvalidValue {
                found: crate::error::shorten(found.into()),
                // A parser's reason in it may quote the value again.
                expected: crate::error::shorten_quoted(&expected.into()),
            },
        );
    }

    fn listener(
        &mut self,
        path: &KeyPath,
        name: &str,
        raw: &RawListener,
        groups: &[String],
    ) -> Option<ListenerConfig> {
        self.name(path, name);
        let bind = self.socket_addr(&path.key("bind"), &raw.bind);
        let written = raw.protocol.as_deref().unwrap_or("http");
        let protocol = ListenerProtocol::from_name(written);
        if protocol.is_none() {
            self.invalid(
                path.key("protocol"),
                format!("\"{written}\""),
                crate::l4::PROTOCOL_NAMES,
            );
        }
        let terminates = matches!(
            protocol,
            Some(ListenerProtocol::Https | ListenerProtocol::Tls)
        );
        let tls = self.listener_tls_if(&path.key("tls"), terminates, raw.tls.as_ref());
        let tls_ok = !terminates || tls.is_some();
        self.listener_protocol = protocol;
        if let Some(protocol) = protocol.filter(|p| p.is_l4()) {
            if !tls_ok {
                return None;
            }
            return self.l4_listener(path, name, raw, groups, (protocol, bind, tls));
        }
        self.http_listener_keys(path, raw);
        self.listener = Some((
            if protocol == Some(ListenerProtocol::Https) {
                "https"
            } else {
                "http"
            },
            bind.map_or(0, |b| b.port()),
        ));
        let default_action = self.action(&path.key("default_action"), &raw.default_action, groups);
        let limits = HttpListenerLimits {
            request_header_timeout: self.positive_duration(
                &path.key("request_header_timeout"),
                raw.request_header_timeout.as_deref(),
                DEFAULT_REQUEST_HEADER_TIMEOUT,
            ),
            idle_timeout: self.positive_duration(
                &path.key("idle_timeout"),
                raw.idle_timeout.as_deref(),
                DEFAULT_IDLE_TIMEOUT,
            ),
            upgrade_idle_timeout: self.positive_duration(
                &path.key("upgrade_idle_timeout"),
                raw.upgrade_idle_timeout.as_deref(),
                DEFAULT_UPGRADE_IDLE_TIMEOUT,
            ),
            max_header_bytes: self.count(
                &path.key("max_header_bytes"),
                raw.max_header_bytes,
                DEFAULT_MAX_HEADER_BYTES,
                MIN_MAX_HEADER_BYTES..=16 * 1024 * 1024,
            ),
            max_headers: self.count(
                &path.key("max_headers"),
                raw.max_headers,
                DEFAULT_MAX_HEADERS,
                1..=10_000,
            ),
            max_connections: raw.max_connections.map(|_| {
                self.count(
                    &path.key("max_connections"),
                    raw.max_connections,
                    1,
                    1..=10_000_000,
                )
            }),
            max_requests_per_connection: raw.max_requests_per_connection.map(|_| {
                self.count(
                    &path.key("max_requests_per_connection"),
                    raw.max_requests_per_connection,
                    1,
                    1..=1_000_000_000,
                ) as u64
            }),
            request_timeout: raw.request_timeout.as_deref().map(|text| {
                self.positive_duration(
                    &path.key("request_timeout"),
                    Some(text),
                    std::time::Duration::MAX,
                )
            }),
            http2_max_concurrent_streams: self.count(
                &path.key("http2_max_concurrent_streams"),
                raw.http2_max_concurrent_streams,
                DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS as usize,
                1..=10_000,
            ) as u32,
            min_body_rate: self.min_body_rate(path, raw),
            desync_mode: self.desync_mode(path, raw),
        };
        let rules = self.rules(&path.key("rules"), &raw.rules, groups);
        let trusted_proxies =
            self.trusted_proxies(&path.key("trusted_proxies"), raw.trusted_proxies.as_deref());
        if !tls_ok {
            return None;
        }
        let request_headers = self.header_rewrite(
            &path.key("request_headers"),
            raw.request_headers.as_ref(),
            rewrite::Direction::Request,
        );
        let response_headers = self.header_rewrite(
            &path.key("response_headers"),
            raw.response_headers.as_ref(),
            rewrite::Direction::Response,
        );
        let accept_proxy_protocol = raw
            .accept_proxy_protocol
            .as_deref()
            .map(|blocks| self.trusted_proxies(&path.key("accept_proxy_protocol"), Some(blocks)));
        let edge = self.edge(path, raw);
        let rate_limit = self.rate_limit_ref(&path.key("rate_limit"), raw.rate_limit.as_deref());
        let waf = self.waf_ref(&path.key("waf"), raw.waf.as_deref());
        Some(ListenerConfig {
            rate_limit,
            waf,
            edge,
            l4: None,
            accept_proxy_protocol,
            // HTTP clients always speak first.
            defer_accept: raw.defer_accept.unwrap_or(true),
            request_headers,
            response_headers,
            name: ListenerName::from(name),
            tls,
            bind: bind?,
            protocol: protocol?,
            default_action: default_action?,
            limits,
            rules,
            trusted_proxies,
        })
    }

    fn action(&mut self, path: &KeyPath, raw: &RawAction, groups: &[String]) -> Option<Action> {
        let given = usize::from(raw.forward.is_some())
            + usize::from(raw.redirect.is_some())
            + usize::from(raw.fixed_response.is_some());
        if given > 1 {
            self.invalid(
                path.clone(),
                format!("{given} actions"),
                "exactly one of forward, redirect or fixed_response",
            );
            return None;
        }
        if let Some(redirect) = &raw.redirect {
            return self.redirect(&path.key("redirect"), redirect);
        }
        if let Some(fixed) = &raw.fixed_response {
            return self.fixed_response(&path.key("fixed_response"), fixed);
        }
        match &raw.forward {
            None => {
                self.invalid(
                    path.clone(),
                    "an empty action",
                    "{ forward = \"GROUP\" }, { redirect = { ... } } or { fixed_response = { ... } }",
                );
                None
            }
            Some(RawForward::Group(target)) => self
                .group_reference(&path.key("forward"), target, groups)
                .map(|target_group| Action::Forward { target_group }),
            Some(RawForward::Weighted(weighted)) => self
                .weighted_forward(&path.key("forward"), weighted, groups)
                .map(Action::WeightedForward),
        }
    }

    /// A reference to a target group that must exist, among the sorted `groups`.
    pub(super) fn group_reference(
        &mut self,
        path: &KeyPath,
        name: &str,
        groups: &[String],
    ) -> Option<GroupName> {
        // `groups` is sorted (see `validate`).
        if groups.binary_search_by(|g| g.as_str().cmp(name)).is_ok() {
            self.group_fits_listener(path, name);
            return Some(GroupName::from(name));
        }
        self.error(
            path.clone(),
            unknown_reference("target group", name, groups),
        );
        None
    }
}

mod acme;
mod actions;
mod balancing;
mod cluster;
mod dns;
mod edge;
mod forward;
mod group;
mod l4;
mod l4_fit;
mod ops;
mod rate_limits;
mod rewrite;
mod rules;
mod scaling;
mod stickiness;
mod target_health;
mod tls;
mod values;
mod waf;

#[cfg(test)]
mod tests;
