//! `[ip_sets.NAME]` and a listener's edge keys (`allow`, `deny`, `client_limits`) as written.

use serde::{Deserialize, Serialize};

/// `[ip_sets.NAME]`: address blocks defined once and named by listeners' `allow` and `deny`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawIpSet {
    /// CIDR blocks (or single addresses).
    pub cidrs: Vec<String>,
}

/// `[rate_limits.NAME]`: a request rate, per key, that listeners and rules refer to.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    /// What requests are counted by: `client_ip` (default), `header:NAME`, `cookie:NAME`,
    /// `path`, `host`, `method`, or several of these together.
    pub key: Option<Vec<String>>,
    /// Requests per second one key may send, on average.
    pub per_second: Option<i64>,
    /// Requests per minute one key may send.
    pub per_minute: Option<i64>,
    /// Requests one key may send at once above `per_second`.
    pub burst: Option<i64>,
}

/// A listener's `client_limits`: what one client address may open.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawClientLimits {
    /// Connections one client address may have open at once.
    pub max_connections: Option<i64>,
    /// New connections one client address may open per second, on average.
    pub connections_per_second: Option<i64>,
    /// New connections one client address may open at once above that rate.
    pub connection_burst: Option<i64>,
}
