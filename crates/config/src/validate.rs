//! Raw model → typed [`Config`]: defaults, value checks, references and resource conflicts.
//!
//! Validation never stops at the first problem: it collects them all, each with its key path.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use crate::defaults::*;
use crate::duration::parse_duration;
use crate::error::{ConfigError, ConfigErrors, ErrorKind, KeyPath};
use crate::model::*;
use crate::raw::{RawAction, RawConfig, RawForward, RawListener, RawServer, RawTargetGroup};

/// Validates a raw document, reporting every problem found.
pub(crate) fn validate(raw: RawConfig) -> Result<Config, ConfigErrors> {
    let mut v = Validator::default();
    let root = KeyPath::root();
    let server = v.server(&root.key("server"), raw.server.unwrap_or_default());
    let group_names: Vec<String> = raw.target_groups.keys().cloned().collect();

    let mut listeners = Vec::with_capacity(raw.listeners.len());
    let mut bound: HashMap<SocketAddr, KeyPath> = HashMap::new();
    for (name, listener) in &raw.listeners {
        let path = root.key("listeners").key(name);
        if let Some(listener) = v.listener(&path, name, listener, &group_names) {
            v.claim_address(&mut bound, listener.bind, &path.key("bind"));
            listeners.push(listener);
        }
    }

    v.acme_challenges_answerable(&root, &listeners);

    let mut target_groups = Vec::with_capacity(raw.target_groups.len());
    for (name, group) in &raw.target_groups {
        let path = root.key("target_groups").key(name);
        target_groups.push(v.target_group(&path, name, group));
    }

    let admin = v.admin(&root.key("admin"), raw.admin);
    let access_log = v.access_log(&root.key("access_log"), raw.access_log);
    let metrics = Validator::metrics(raw.metrics);
    ConfigErrors::from_vec(v.errors)?;
    Ok(Config {
        server,
        listeners,
        target_groups,
        admin,
        access_log,
        metrics,
    })
}

#[derive(Default)]
struct Validator {
    errors: Vec<ConfigError>,
    /// The protocol (`http`/`https`) and port of the listener whose actions are being
    /// checked: a redirect that keeps both and the host and path would loop.
    listener: Option<(&'static str, u16)>,
}

impl Validator {
    fn error(&mut self, path: KeyPath, kind: ErrorKind) {
        self.errors.push(ConfigError::new(path, kind));
    }

    fn invalid(&mut self, path: KeyPath, found: impl Into<String>, expected: impl Into<String>) {
        self.error(
            path,
            ErrorKind::InvalidValue {
                found: crate::error::shorten(found.into()),
                expected: expected.into(),
            },
        );
    }

    fn server(&mut self, path: &KeyPath, raw: RawServer) -> ServerConfig {
        let workers = match raw.workers {
            None => Workers::Auto,
            Some(n) => match usize::try_from(n).ok().and_then(NonZeroUsize::new) {
                Some(n) if n.get() <= 1024 => Workers::Count(n),
                _ => {
                    self.invalid(
                        path.key("workers"),
                        n.to_string(),
                        "an integer from 1 to 1024",
                    );
                    Workers::Auto
                }
            },
        };
        ServerConfig {
            workers,
            drain_timeout: self.duration(
                &path.key("drain_timeout"),
                raw.drain_timeout.as_deref(),
                DEFAULT_DRAIN_TIMEOUT,
            ),
            zone: self.zone(&path.key("zone"), raw.zone.as_deref()),
            stickiness_secret: self.secret(&path.key("stickiness_secret"), raw.stickiness_secret),
            watch_config: raw.watch_config.unwrap_or(true),
            upgrade_socket: match raw.upgrade_socket {
                Some(p) if p.is_empty() || p.len() > 100 => {
                    self.invalid(
                        path.key("upgrade_socket"),
                        format!("\"{p}\""),
                        "a file path of 1 to 100 bytes (a Unix socket path)",
                    );
                    None
                }
                other => other.map(Into::into),
            },
        }
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
        let protocol = match raw.protocol.as_deref().unwrap_or("http") {
            "http" => Some(ListenerProtocol::Http),
            "https" => Some(ListenerProtocol::Https),
            other => {
                self.invalid(
                    path.key("protocol"),
                    format!("\"{other}\""),
                    "\"http\" or \"https\" (tcp, tls and udp are not available yet)",
                );
                None
            }
        };
        let tls = match (protocol, &raw.tls) {
            (Some(ListenerProtocol::Https), Some(tls)) => self.listener_tls(&path.key("tls"), tls),
            (Some(ListenerProtocol::Https), None) => {
                self.invalid(
                    path.key("tls"),
                    "an https listener without tls",
                    "tls = { certificates = [{ cert = \"FILE\", key = \"FILE\" }] }",
                );
                None
            }
            (_, Some(_)) => {
                self.invalid(
                    path.key("tls"),
                    "tls on a listener that is not https",
                    "protocol = \"https\"",
                );
                None
            }
            (_, None) => None,
        };
        let tls_ok = protocol != Some(ListenerProtocol::Https) || tls.is_some();
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
        Some(ListenerConfig {
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

    /// A reference to a target group that must exist.
    pub(super) fn group_reference(
        &mut self,
        path: &KeyPath,
        name: &str,
        groups: &[String],
    ) -> Option<GroupName> {
        if groups.iter().any(|g| g == name) {
            return Some(GroupName::from(name));
        }
        self.error(
            path.clone(),
            ErrorKind::UnknownReference {
                what: "target group",
                name: name.to_owned(),
                known: groups.to_vec(),
            },
        );
        None
    }

    fn target_group(
        &mut self,
        path: &KeyPath,
        name: &str,
        raw: &RawTargetGroup,
    ) -> TargetGroupConfig {
        self.name(path, name);
        let protocol = match raw.protocol.as_deref().unwrap_or("http") {
            "http" => TargetProtocol::Http,
            "https" => TargetProtocol::Https,
            other => {
                self.invalid(
                    path.key("protocol"),
                    format!("\"{other}\""),
                    "\"http\" or \"https\"",
                );
                TargetProtocol::Http
            }
        };
        let tls = match protocol {
            TargetProtocol::Https => Some(self.target_tls(&path.key("tls"), raw.tls.as_ref())),
            TargetProtocol::Http => {
                if raw.tls.is_some() {
                    self.invalid(
                        path.key("tls"),
                        "tls on a group that is not https",
                        "protocol = \"https\"",
                    );
                }
                None
            }
        };
        let balancing = self.balancing(path, raw);
        let mut targets = Vec::with_capacity(raw.targets.len());
        let mut seen: HashMap<SocketAddr, KeyPath> = HashMap::new();
        for (i, target) in raw.targets.iter().enumerate() {
            let target_path = path.key("targets").index(i);
            let (weight, zone) = self.target_weight_and_zone(&target_path, target);
            if let Some(address) = self.socket_addr(&target_path, &target.address) {
                if let Some(other) = seen.get(&address) {
                    self.error(
                        target_path,
                        ErrorKind::Conflict {
                            what: format!("target {address}"),
                            other: other.to_string(),
                        },
                    );
                } else {
                    seen.insert(address, target_path);
                    targets.push(TargetConfig {
                        address,
                        weight,
                        zone,
                    });
                }
            }
        }
        TargetGroupConfig {
            name: GroupName::from(name),
            protocol,
            tls,
            algorithm: balancing.algorithm,
            hash_key: balancing.hash_key,
            slow_start: balancing.slow_start,
            cross_zone: balancing.cross_zone,
            anomaly_mitigation: balancing.anomaly_mitigation,
            stickiness: raw
                .stickiness
                .as_ref()
                .and_then(|s| self.stickiness(&path.key("stickiness"), s)),
            targets,
            connect_timeout: self.positive_duration(
                &path.key("connect_timeout"),
                raw.connect_timeout.as_deref(),
                DEFAULT_CONNECT_TIMEOUT,
            ),
            response_timeout: self.positive_duration(
                &path.key("response_timeout"),
                raw.response_timeout.as_deref(),
                DEFAULT_RESPONSE_TIMEOUT,
            ),
            target_idle_timeout: self.positive_duration(
                &path.key("target_idle_timeout"),
                raw.target_idle_timeout.as_deref(),
                DEFAULT_TARGET_IDLE_TIMEOUT,
            ),
            max_idle_per_target: self.count(
                &path.key("max_idle_per_target"),
                raw.max_idle_per_target,
                DEFAULT_MAX_IDLE_PER_TARGET,
                0..=65_536,
            ),
            health_check: raw
                .health_check
                .as_ref()
                .and_then(|h| self.health_check(&path.key("health_check"), h)),
            outlier_detection: self.outlier_detection(
                &path.key("outlier_detection"),
                raw.outlier_detection.as_ref(),
            ),
            deregistration_delay: self.deregistration_delay(
                &path.key("deregistration_delay"),
                raw.deregistration_delay.as_deref(),
            ),
            fail_open: raw.fail_open.unwrap_or(true),
            retry: self.retry(&path.key("retry"), raw.retry.as_ref()),
        }
    }

    fn name(&mut self, path: &KeyPath, name: &str) {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            self.invalid(
                path.clone(),
                format!("name \"{name}\""),
                "1 to 64 characters among a-z, A-Z, 0-9, '-' and '_'",
            );
        }
    }

    fn claim_address(
        &mut self,
        bound: &mut HashMap<SocketAddr, KeyPath>,
        addr: SocketAddr,
        path: &KeyPath,
    ) {
        // Port 0 asks the OS for a fresh port each time, so it never clashes.
        if addr.port() == 0 {
            return;
        }
        // IPv6 listeners are bound IPv6-only, so `0.0.0.0:P` and `[::]:P` coexist; within
        // one family an unspecified address claims the port on every address.
        let clash = bound.iter().find(|(other, _)| {
            other.port() == addr.port()
                && other.is_ipv4() == addr.is_ipv4()
                && (**other == addr || other.ip().is_unspecified() || addr.ip().is_unspecified())
        });
        if let Some((_, other)) = clash {
            let other = other.to_string();
            self.error(
                path.clone(),
                ErrorKind::Conflict {
                    what: format!("address {addr}"),
                    other,
                },
            );
        } else {
            bound.insert(addr, path.clone());
        }
    }

    fn socket_addr(&mut self, path: &KeyPath, text: &str) -> Option<SocketAddr> {
        match text.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.invalid(path.clone(), format!("\"{text}\""), "an address IP:PORT such as \"127.0.0.1:8080\" or \"[::1]:8080\" (host names are not resolved)");
                None
            }
        }
    }

    fn duration(&mut self, path: &KeyPath, text: Option<&str>, default: Duration) -> Duration {
        let Some(text) = text else { return default };
        match parse_duration(text) {
            Ok(d) => d,
            Err(reason) => {
                self.invalid(
                    path.clone(),
                    format!("\"{text}\""),
                    format!("a duration such as \"30s\", \"500ms\" or \"5m\": {reason}"),
                );
                default
            }
        }
    }

    fn positive_duration(
        &mut self,
        path: &KeyPath,
        text: Option<&str>,
        default: Duration,
    ) -> Duration {
        let d = self.duration(path, text, default);
        if d.is_zero() {
            self.invalid(path.clone(), "\"0s\"", "a duration greater than zero");
            return default;
        }
        d
    }

    /// A secret long enough not to be guessed: a short one would let anyone forge cookies.
    fn secret(&mut self, path: &KeyPath, raw: Option<String>) -> Option<Secret> {
        let secret = raw?;
        if secret.len() < MIN_SECRET_BYTES {
            self.invalid(
                path.clone(),
                format!("a secret of {} bytes", secret.len()),
                format!("at least {MIN_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`)"),
            );
            return None;
        }
        Some(Secret::new(secret))
    }

    fn count(
        &mut self,
        path: &KeyPath,
        value: Option<i64>,
        default: usize,
        range: std::ops::RangeInclusive<usize>,
    ) -> usize {
        let Some(value) = value else { return default };
        match usize::try_from(value) {
            Ok(n) if range.contains(&n) => n,
            _ => {
                self.invalid(
                    path.clone(),
                    value.to_string(),
                    format!("an integer from {} to {}", range.start(), range.end()),
                );
                default
            }
        }
    }
}

mod acme;
mod balancing;
mod forward;
mod ops;
mod rewrite;
mod rules;
mod stickiness;
mod target_health;
mod tls;

#[cfg(test)]
mod tests;
