//! Raw sections for operating Ballast: the admin API, access logs and metrics.

use serde::{Deserialize, Serialize};

/// `[admin]`: the admin API and dashboard listener. Absent: no admin listener.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Address of the admin listener.
    pub bind: Option<String>,
    /// Bearer token required on every admin request (mandatory off loopback).
    pub token: Option<String>,
    /// File holding the bearer token (instead of `token`).
    pub token_file: Option<String>,
    /// Time to receive a complete request head on the admin listener.
    pub request_header_timeout: Option<String>,
    /// Most admin connections open at once; more are closed as they arrive.
    pub max_connections: Option<i64>,
}

/// `[access_log]`: one line per request. Absent: no access log.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccessLog {
    /// Off switch that keeps the section.
    pub enabled: Option<bool>,
    /// `stdout`, or a file appended to (reopened on SIGUSR1).
    pub path: Option<String>,
    /// `json` (the only format today).
    pub format: Option<String>,
    /// Lines buffered between the workers and the writer; beyond that lines are dropped.
    pub queue: Option<i64>,
}

/// `[metrics]`: Prometheus metrics on the admin listener.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// Counting on the request path; off saves its cost.
    pub enabled: Option<bool>,
}
