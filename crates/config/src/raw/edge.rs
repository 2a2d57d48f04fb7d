//! `[ip_sets.NAME]` and a listener's edge keys (`allow`, `deny`, `client_limits`) as written.

use serde::{Deserialize, Serialize};

/// `[ip_sets.NAME]`: address blocks defined once and named by listeners' `allow` and `deny`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawIpSet {
    /// CIDR blocks (or single addresses).
    pub cidrs: Vec<String>,
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
