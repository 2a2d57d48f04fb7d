//! The configuration file as written: serde structs that mirror TOML one to one.
//!
//! Everything defaultable is an `Option`; every struct rejects unknown keys so a typo is an
//! error, not a silently ignored setting. Validation turns these types into the typed model;
//! outside this crate they appear only as the parts of a [`crate::Document`] that its typed
//! edits take (a rule, a target group, a target).
//!
//! They serialize back to the same document (`raw/ser.rs` writes the shorthand forms), so a
//! document read, edited and written again keeps its meaning. An absent key serializes as
//! `None`, which TOML leaves out and JSON writes as `null`; [`crate::Document::to_json`]
//! leaves it out too. Doing that there rather than with an attribute on every field keeps
//! this file a plain list of keys, and a key added later is covered without more code.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod cluster;
mod de;
mod dns;
mod edge;
mod ops;
mod parse;
mod rewrite;
mod rules;
mod scaling;
mod ser;
mod waf;

pub use cluster::*;
pub use dns::*;
pub use edge::*;
pub use ops::*;
pub(crate) use parse::{check_size, json_error, too_large};
pub use parse::{parse, parse_json};
pub use rewrite::*;
pub use rules::*;
pub use scaling::*;
pub use waf::*;

/// The whole document.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Process-wide settings.
    pub server: Option<RawServer>,
    /// Listeners by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub listeners: BTreeMap<String, RawListener>,
    /// Target groups by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub target_groups: BTreeMap<String, RawTargetGroup>,
    /// The admin API.
    pub admin: Option<RawAdmin>,
    /// Access logs.
    pub access_log: Option<RawAccessLog>,
    /// Prometheus metrics.
    pub metrics: Option<RawMetrics>,
    /// Scaling groups by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scaling_groups: BTreeMap<String, RawScalingGroup>,
    /// The authoritative DNS server.
    pub dns: Option<RawDns>,
    /// Named sets of address blocks, for listeners' `allow` and `deny`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ip_sets: BTreeMap<String, RawIpSet>,
    /// Named request rates, for listeners' and rules' `rate_limit`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rate_limits: BTreeMap<String, RawRateLimit>,
    /// Web application firewall rule sets, for listeners' and rules' `waf`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub waf: BTreeMap<String, RawWaf>,
    /// Several nodes sharing this document through etcd.
    pub cluster: Option<RawCluster>,
}

/// `[server]`: process-wide settings.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Data-plane worker threads; absent means one per CPU.
    pub workers: Option<i64>,
    /// Grace period for in-flight requests on shutdown.
    pub drain_timeout: Option<String>,
    /// The zone this Ballast node runs in (for target groups with `cross_zone = false`).
    pub zone: Option<String>,
    /// Secret that seals sticky-session cookies; nodes sharing it accept each other's.
    pub stickiness_secret: Option<String>,
    /// Reload when the configuration file changes (checked every second).
    pub watch_config: Option<bool>,
    /// Unix socket through which a new Ballast process takes this one's listening sockets.
    pub upgrade_socket: Option<String>,
}

/// `[listeners.NAME]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    /// `IP:PORT` to bind.
    pub bind: String,
    /// `http` (default).
    pub protocol: Option<String>,
    /// What to do with requests no rule claims.
    pub default_action: RawAction,
    /// Time to receive a complete request head.
    pub request_header_timeout: Option<String>,
    /// Idle keep-alive connections are closed after this long.
    pub idle_timeout: Option<String>,
    /// Upgraded connections (WebSocket) with no traffic either way are closed after this long.
    pub upgrade_idle_timeout: Option<String>,
    /// Largest accepted request head, in bytes.
    pub max_header_bytes: Option<i64>,
    /// Most accepted request header fields.
    pub max_headers: Option<i64>,
    /// Most client connections open at once.
    pub max_connections: Option<i64>,
    /// Requests one client connection may carry.
    pub max_requests_per_connection: Option<i64>,
    /// Time a client has to send a whole request.
    pub request_timeout: Option<String>,
    /// Streams an HTTP/2 client may have open at once on one connection.
    pub http2_max_concurrent_streams: Option<i64>,
    /// Prioritised rules, evaluated before the default action.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RawRule>,
    /// Proxies (CIDR blocks) whose `X-Forwarded-For` is believed for `source_ip` rules.
    pub trusted_proxies: Option<Vec<String>>,
    /// Certificates and policy of an `https` listener.
    pub tls: Option<RawListenerTls>,
    /// Fields set, added or removed on every request to a target.
    pub request_headers: Option<RawHeaderRewrite>,
    /// Fields set, added or removed on every response to a client.
    pub response_headers: Option<RawHeaderRewrite>,
    /// Upstream load balancers (CIDR blocks) whose connections start with a PROXY header.
    pub accept_proxy_protocol: Option<Vec<String>>,
    /// Whether a connection is accepted only once its first bytes are in (`TCP_DEFER_ACCEPT`).
    pub defer_accept: Option<bool>,
    /// L4 listeners: idle time after which a UDP flow is forgotten.
    pub udp_idle_timeout: Option<String>,
    /// L4 listeners: time to receive a ClientHello (SNI rules, `tls`) or a PROXY header.
    pub client_hello_timeout: Option<String>,
    /// `udp` listeners: most flows remembered at once per worker.
    pub max_udp_flows: Option<i64>,
    /// Only clients in these blocks or IP sets may connect (checked at accept).
    pub allow: Option<Vec<String>>,
    /// Clients in these blocks or IP sets may not connect (checked at accept; wins over
    /// `allow`).
    pub deny: Option<Vec<String>>,
    /// What one client address may open.
    pub client_limits: Option<RawClientLimits>,
    /// The `[rate_limits]` entry every request on the listener is counted against.
    pub rate_limit: Option<String>,
    /// Bytes per second a request body must average once the grace has passed (0: off).
    pub min_request_body_rate: Option<i64>,
    /// Time a request body is given before `min_request_body_rate` applies.
    pub min_request_body_rate_grace: Option<String>,
    /// What HTTP/1 requests of each desync class meet: `monitor`, `defensive` or
    /// `strictest`.
    pub desync_mitigation_mode: Option<String>,
    /// The `[waf]` rule set (or `ballast-core`) every request on the listener meets.
    pub waf: Option<String>,
}

/// An action: `{ forward = "GROUP" }` or `{ forward = { groups = [...], stickiness = "1h" } }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAction {
    /// The target group to forward to, or weighted groups.
    pub forward: Option<RawForward>,
    /// Answer with a redirect.
    pub redirect: Option<RawRedirect>,
    /// Answer with a fixed response.
    pub fixed_response: Option<RawFixedResponse>,
    /// `tcp` and `tls` listeners: close the connection.
    pub reject: Option<bool>,
}

/// `forward = "GROUP"` or `forward = { groups = [{ name, weight }], stickiness }`.
#[derive(Debug, Clone, PartialEq)]
pub enum RawForward {
    /// One group, by name.
    Group(String),
    /// Several groups sharing the traffic by weight.
    Weighted(RawWeightedForward),
}

/// `forward = { groups = [...], stickiness = "1h" }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeightedForward {
    /// The groups and their weights.
    pub groups: Vec<RawWeightedGroup>,
    /// How long a client keeps the group it was sent to (target group stickiness).
    pub stickiness: Option<String>,
}

/// `{ name = "blue", weight = 90 }` in a weighted forward.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeightedGroup {
    /// The target group.
    pub name: String,
    /// Its share of the traffic.
    pub weight: Option<i64>,
}

/// `[target_groups.NAME]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTargetGroup {
    /// Protocol spoken to targets: `http` (default).
    pub protocol: Option<String>,
    /// HTTP version spoken to targets: `http1` (default), `http2` or `grpc`.
    pub protocol_version: Option<String>,
    /// Balancing algorithm: `round_robin` (default).
    pub algorithm: Option<String>,
    /// What `consistent_hash` hashes: `{ header = "X-User" }`, `{ cookie = "sid" }` or
    /// `{ query = "user" }`.
    pub hash_key: Option<RawHashKey>,
    /// Time over which a newly healthy target's share ramps up to its full share.
    pub slow_start: Option<String>,
    /// `weighted_random` only: lower the weight of targets whose error rate stands out.
    pub anomaly_mitigation: Option<bool>,
    /// `false`: send to targets in this node's zone while any can take traffic.
    pub cross_zone: Option<bool>,
    /// Sticky sessions: `{ type = "lb_cookie", duration = "1d" }` or `app_cookie`.
    pub stickiness: Option<RawStickiness>,
    /// TLS to the targets of an `https` group.
    pub tls: Option<RawTargetTls>,
    /// Static targets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<RawTarget>,
    /// Time to open a connection to a target.
    pub connect_timeout: Option<String>,
    /// Time for a target to start answering.
    pub response_timeout: Option<String>,
    /// Idle pooled connections to a target are closed after this long.
    pub target_idle_timeout: Option<String>,
    /// Most idle pooled connections per target and worker.
    pub max_idle_per_target: Option<i64>,
    /// Active health check; absent means targets take traffic as soon as they are registered.
    pub health_check: Option<RawHealthCheck>,
    /// Passive health: ejecting targets that fail real traffic.
    pub outlier_detection: Option<RawOutlierDetection>,
    /// How long a deregistered target keeps its in-flight requests before they are cut.
    pub deregistration_delay: Option<String>,
    /// Send to every target when none is healthy (ALB's behaviour) instead of answering 503.
    pub fail_open: Option<bool>,
    /// Retries of failed requests on another target.
    pub retry: Option<RawRetry>,
    /// PROXY protocol header sent to targets: `v1` or `v2`.
    pub proxy_protocol: Option<String>,
}

/// `health_check = { ... }` of a target group.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealthCheck {
    /// `http` (default), `tcp` or `grpc`.
    pub protocol: Option<String>,
    /// HTTP path to request.
    pub path: Option<String>,
    /// HTTP method.
    pub method: Option<String>,
    /// Port to probe: a number or `"traffic-port"`.
    pub port: Option<RawPort>,
    /// `Host` header of HTTP checks.
    pub host: Option<String>,
    /// Status codes that pass: `"200"`, `"200,202"`, `"200-399"`.
    pub matcher: Option<String>,
    /// gRPC service name asked of `grpc.health.v1.Health/Check`.
    pub grpc_service: Option<String>,
    /// Time between checks of one target.
    pub interval: Option<String>,
    /// Time one check may take.
    pub timeout: Option<String>,
    /// Passing checks in a row that make a target healthy.
    pub healthy_threshold: Option<i64>,
    /// Failing checks in a row that make a target unhealthy.
    pub unhealthy_threshold: Option<i64>,
}

/// A port written as a number or as `"traffic-port"`.
#[derive(Debug, Clone, PartialEq)]
pub enum RawPort {
    /// A port number as written.
    Number(i64),
    /// A word as written (only `traffic-port` is valid).
    Word(String),
}

/// `outlier_detection = { ... }` of a target group.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutlierDetection {
    /// Turn passive ejection off with `false`.
    pub enabled: Option<bool>,
    /// Failures in a row (5xx, connect failure, timeout) that eject a target.
    pub consecutive_failures: Option<i64>,
    /// Ejection time of a first ejection; it grows with each repeated ejection.
    pub base_ejection_time: Option<String>,
    /// Longest ejection.
    pub max_ejection_time: Option<String>,
    /// Most targets of the group ejected at once, in percent.
    pub max_ejection_percent: Option<i64>,
}

/// `retry = { ... }` of a target group.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// Retry idempotent requests whose target failed before answering.
    pub idempotent: Option<bool>,
    /// Retries allowed as a share of recent requests, in percent.
    pub budget_percent: Option<i64>,
    /// Retries always allowed per second, whatever the share.
    pub min_per_second: Option<i64>,
}

/// `stickiness = { ... }` of a target group.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawStickiness {
    /// `lb_cookie` (default) or `app_cookie`.
    pub r#type: Option<String>,
    /// How long a client stays with its target after its last request.
    pub duration: Option<String>,
    /// `app_cookie`: the application's cookie whose presence starts stickiness.
    pub app_cookie: Option<String>,
    /// Name of the cookie Ballast sets.
    pub cookie_name: Option<String>,
    /// `Secure` attribute of Ballast's cookie.
    pub secure: Option<bool>,
    /// `HttpOnly` attribute of Ballast's cookie.
    pub http_only: Option<bool>,
    /// `SameSite` attribute: `strict`, `lax` or `none`.
    pub same_site: Option<String>,
    /// `Domain` attribute.
    pub domain: Option<String>,
    /// `Path` attribute.
    pub path: Option<String>,
}

/// `hash_key = { ... }`: the request part `consistent_hash` hashes (exactly one key).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawHashKey {
    /// A request header's value.
    pub header: Option<String>,
    /// A cookie's value.
    pub cookie: Option<String>,
    /// A query parameter's value.
    pub query: Option<String>,
}

/// A target: `"127.0.0.1:9001"` or `{ address = "127.0.0.1:9001", weight = 2, zone = "b" }`.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTarget {
    /// `IP:PORT`.
    pub address: String,
    /// Relative share of traffic.
    pub weight: Option<i64>,
    /// Zone the target runs in.
    pub zone: Option<String>,
}
