//! The runtime's error: why the proxy could not start or take a new configuration.

use std::net::SocketAddr;

use ballast_config::{GroupName, ListenerName};

/// Why the proxy could not start or take a new configuration.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A listener's address could not be bound.
    #[error("listeners.{listener}.bind: cannot bind {address}: {reason}")]
    Bind {
        /// The listener.
        listener: ListenerName,
        /// The address from its `bind` key.
        address: SocketAddr,
        /// The operating system's reason (not a `source`: the message already says it).
        reason: std::io::Error,
    },
    /// The DNS server's address could not be bound (UDP and TCP).
    #[error("dns.bind: cannot bind {address} on UDP and TCP: {reason}")]
    DnsBind {
        /// The address from `dns.bind`.
        address: SocketAddr,
        /// The operating system's reason.
        reason: std::io::Error,
    },
    /// A worker thread or its async runtime could not be created.
    #[error("cannot start worker thread: {0}")]
    Worker(std::io::Error),
    /// No target group has this name.
    #[error("unknown target group \"{group}\" (known: {})", known.join(", "))]
    UnknownGroup {
        /// The name asked for.
        group: GroupName,
        /// The groups that exist.
        known: Vec<String>,
    },
    /// The group has no such target.
    #[error("target group \"{group}\" has no target {address}")]
    UnknownTarget {
        /// The group.
        group: GroupName,
        /// The address asked for.
        address: SocketAddr,
    },
    /// A listener's certificate, key or client CA file does not load (or rustls refuses
    /// them). The message includes the source's, so `to_string()` alone is complete.
    #[error("listeners.{listener}.tls: {source}")]
    ListenerTls {
        /// The listener.
        listener: ListenerName,
        /// What is wrong, naming the file (boxed: it is large, and rare).
        #[source]
        source: Box<ballast_tls::TlsError>,
    },
    /// A target group's CA bundle does not load.
    #[error("target_groups.{group}.tls: {source}")]
    TargetTls {
        /// The group.
        group: GroupName,
        /// What is wrong, naming the file (boxed: it is large, and rare).
        #[source]
        source: Box<ballast_tls::TlsError>,
    },
    /// The access log output cannot be opened.
    #[error(transparent)]
    AccessLog(#[from] ballast_telemetry::AccessLogError),
}
