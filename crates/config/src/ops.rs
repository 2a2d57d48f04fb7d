//! Typed sections for operating Ballast: the admin API, access logs and metrics.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;

/// The admin API and dashboard listener (`[admin]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// Where it listens.
    pub bind: SocketAddr,
    /// The bearer token every request must carry; `None` only on loopback addresses.
    pub token: Option<Secret>,
    /// A connection whose request head is not complete this long after the head began (or
    /// after the previous response) is closed, so a slow client cannot hold it open.
    pub request_header_timeout: Duration,
    /// Most connections open at once; more are closed as soon as they are accepted, so a
    /// flood of idle connections cannot exhaust the admin thread's sockets.
    pub max_connections: usize,
}

/// Where access log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogOutput {
    /// The process's standard output.
    Stdout,
    /// A file, appended to and reopened on SIGUSR1.
    File(PathBuf),
}

/// Access logging (`[access_log]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogConfig {
    /// Where lines go.
    pub output: AccessLogOutput,
    /// Lines buffered between workers and the writer before lines are dropped.
    pub queue: usize,
}

/// Metrics collection (`[metrics]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Whether the request path counts at all.
    pub enabled: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}
