//! The validated configuration: real types, defaults resolved, references checked.
//!
//! This is the only configuration type other crates see. It holds no `Option` where a default
//! exists and no string that still needs parsing.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use crate::health::{HealthCheckConfig, OutlierDetectionConfig, RetryConfig};

/// A complete, valid configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Process-wide settings.
    pub server: ServerConfig,
    /// Listeners, sorted by name.
    pub listeners: Vec<ListenerConfig>,
    /// Target groups, sorted by name.
    pub target_groups: Vec<TargetGroupConfig>,
}

/// Process-wide settings (`[server]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// How many data-plane worker threads to run.
    pub workers: Workers,
    /// Grace period for in-flight requests after SIGTERM/SIGINT.
    pub drain_timeout: Duration,
}

/// Number of data-plane worker threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// One per available CPU, decided when the process starts.
    Auto,
    /// Exactly this many.
    Count(NonZeroUsize),
}

/// Name of a listener, the key under `[listeners]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerName(pub Arc<str>);

/// Name of a target group, the key under `[target_groups]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupName(pub Arc<str>);

/// One listener (`[listeners.NAME]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Its name.
    pub name: ListenerName,
    /// Address to bind.
    pub bind: SocketAddr,
    /// Protocol spoken by clients.
    pub protocol: ListenerProtocol,
    /// Action for requests no rule claims.
    pub default_action: Action,
    /// Client-side timeouts and limits.
    pub limits: HttpListenerLimits,
}

/// Protocol of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerProtocol {
    /// HTTP/1.1 and HTTP/2 cleartext (prior knowledge) on the same port.
    Http,
}

/// What the client side of an HTTP listener tolerates before Ballast defends itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpListenerLimits {
    /// Time to receive a complete request head.
    pub request_header_timeout: Duration,
    /// Idle keep-alive connections close after this long.
    pub idle_timeout: Duration,
    /// Largest request head in bytes (431 beyond).
    pub max_header_bytes: usize,
    /// Most header fields in a request (431 beyond).
    pub max_headers: usize,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send it to a target of this group.
    Forward {
        /// The group.
        target_group: GroupName,
    },
}

/// One target group (`[target_groups.NAME]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupConfig {
    /// Its name.
    pub name: GroupName,
    /// Protocol spoken to targets.
    pub protocol: TargetProtocol,
    /// How the next target is chosen.
    pub algorithm: Algorithm,
    /// Static targets, in file order.
    pub targets: Vec<TargetConfig>,
    /// Time to open a connection to a target (504 beyond).
    pub connect_timeout: Duration,
    /// Time for a target to send its response head (504 beyond).
    pub response_timeout: Duration,
    /// Idle pooled connections to a target close after this long.
    pub target_idle_timeout: Duration,
    /// Most idle pooled connections per target and worker thread.
    pub max_idle_per_target: usize,
    /// Active health check; `None`: targets are healthy as soon as they are registered.
    pub health_check: Option<HealthCheckConfig>,
    /// Passive health.
    pub outlier_detection: OutlierDetectionConfig,
    /// How long a deregistered target keeps its in-flight requests.
    pub deregistration_delay: Duration,
    /// Send to every target when none is healthy, instead of answering 503.
    pub fail_open: bool,
    /// Retries on another target.
    pub retry: RetryConfig,
}

/// Protocol spoken to the targets of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetProtocol {
    /// HTTP/1.1 with keep-alive.
    Http,
}

/// Balancing algorithm of a target group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Each eligible target in turn.
    RoundRobin,
}

/// One target of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    /// Where it listens.
    pub address: SocketAddr,
}

// === impl Config ===

impl Config {
    /// The target group with this name, if any.
    pub fn target_group(&self, name: &GroupName) -> Option<&TargetGroupConfig> {
        self.target_groups.iter().find(|g| &g.name == name)
    }
}

// === impl ListenerName / GroupName ===

impl fmt::Display for ListenerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ListenerName {
    fn from(name: &str) -> Self {
        Self(name.into())
    }
}

impl From<&str> for GroupName {
    fn from(name: &str) -> Self {
        Self(name.into())
    }
}

// === impl Workers ===

impl Workers {
    /// The thread count to run, given how many CPUs the process may use.
    pub fn resolve(self, available: NonZeroUsize) -> NonZeroUsize {
        match self {
            Workers::Auto => available,
            Workers::Count(n) => n,
        }
    }
}
