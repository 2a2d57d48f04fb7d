//! The immutable table the L4 data plane reads: one `ArcSwap` load per connection (or new
//! UDP flow). Data only; the code that reads it lives above.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use ballast_balance::{Balancer, TargetState};
use ballast_config::ProxyProtocolVersion;
use ballast_config::{Cidr, GroupName, L4ListenerConfig, ListenerName, ListenerProtocol};
use ballast_telemetry::metrics::{GroupMetrics, ListenerMetrics, TargetMetrics};
use ballast_telemetry::AccessLog;

use crate::cuts::Cuts;

/// The handle every L4 listener task holds; the control plane stores a new snapshot into it.
pub type SharedL4 = Arc<ArcSwap<L4Snapshot>>;

/// Everything the L4 data plane needs, built off the data path.
#[derive(Debug, Default)]
pub struct L4Snapshot {
    /// One entry per L4 listener.
    pub listeners: Vec<L4Listener>,
    /// Where access log lines go, when the access log is on.
    pub access_log: Option<Arc<AccessLog>>,
}

/// How one L4 listener handles connections.
#[derive(Debug)]
pub struct L4Listener {
    /// Its name, as in the config.
    pub name: ListenerName,
    /// `tcp`, `udp`, `tcp_udp` or `tls`.
    pub protocol: ListenerProtocol,
    /// Timeouts and the UDP flow bound.
    pub config: L4ListenerConfig,
    /// Most client connections open at once, across workers.
    pub max_connections: Option<usize>,
    /// Certificates of a `tls` listener.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// SNI rules, by priority.
    pub rules: Vec<SniRoute>,
    /// Where a connection no rule claims goes.
    pub default_route: L4Route,
    /// Upstream load balancers whose PROXY headers are believed; `None`: none expected.
    pub accept_proxy: Option<Vec<Cidr>>,
    /// Who may connect, and how much one client may open (checked at accept).
    pub edge: Arc<ballast_config::EdgePolicy>,
    /// Its counters (`None` with metrics off).
    pub metrics: Option<Arc<ListenerMetrics>>,
}

/// One SNI rule.
#[derive(Debug)]
pub struct SniRoute {
    /// Its priority (what the access log names).
    pub priority: u32,
    /// Server names, lower case: exact, or `*.` wildcards matching one label or more.
    pub names: Vec<String>,
    /// ALPN protocols, any of which the client must offer (empty: no condition).
    pub alpn: Vec<String>,
    /// Where a matching connection goes.
    pub route: L4Route,
}

/// Where a connection goes.
#[derive(Debug, Clone)]
pub enum L4Route {
    /// To a target of this group.
    Forward(Arc<L4Group>),
    /// Nowhere: the connection is closed.
    Reject,
}

/// A target group as the L4 data plane sees it.
#[derive(Debug)]
pub struct L4Group {
    /// Its name.
    pub name: GroupName,
    /// Chooses the target of each connection (the flow hash's table, or another algorithm).
    pub balancer: Arc<Balancer>,
    /// Its targets, in config order.
    pub targets: Vec<L4Target>,
    /// Time allowed to connect to a target.
    pub connect_timeout: Duration,
    /// When no target is eligible, use every registered one.
    pub fail_open: bool,
    /// The PROXY header sent first on each connection to a target.
    pub proxy_protocol: Option<ProxyProtocolVersion>,
    /// TLS to the targets (`tls` groups).
    pub tls: Option<L4TargetTls>,
    /// The group's counters.
    pub metrics: Option<Arc<GroupMetrics>>,
}

/// How a `tls` group's connections are encrypted.
#[derive(Debug, Clone)]
pub struct L4TargetTls {
    /// The client configuration (verification, roots).
    pub client: Arc<rustls::ClientConfig>,
    /// Name sent as SNI and verified; `None`: the target's IP address.
    pub server_name: Option<String>,
}

/// One target of an L4 group.
#[derive(Debug)]
pub struct L4Target {
    /// Where it listens.
    pub address: SocketAddr,
    /// Live state shared with the control plane and the HTTP view of the group.
    pub state: Arc<TargetState>,
    /// The cut signals of its connections (raised when its deregistration delay ends).
    pub cuts: Arc<Cuts>,
    /// Its counters.
    pub metrics: Option<Arc<TargetMetrics>>,
}

impl L4Snapshot {
    /// A listener by name.
    pub fn listener(&self, name: &ListenerName) -> Option<&L4Listener> {
        self.listeners
            .iter()
            .find(|l| Arc::ptr_eq(&l.name.0, &name.0) || l.name == *name)
    }
}

impl L4Listener {
    /// The route of a connection that announced `server_name` and `alpn` (nothing of
    /// either when it is not TLS), with the priority of the rule that chose it.
    pub fn route(&self, server_name: Option<&str>, alpn: &[Vec<u8>]) -> (&L4Route, Option<u32>) {
        for rule in &self.rules {
            let name_ok = rule.names.is_empty()
                || server_name.is_some_and(|n| rule.names.iter().any(|p| name_matches(p, n)));
            let alpn_ok = rule.alpn.is_empty()
                || alpn
                    .iter()
                    .any(|offered| rule.alpn.iter().any(|a| a.as_bytes() == offered.as_slice()));
            if name_ok && alpn_ok {
                return (&rule.route, Some(rule.priority));
            }
        }
        (&self.default_route, None)
    }
}

/// Whether `name` (lower case) matches `pattern`: equal, or `*.rest` with `name` ending in
/// `.rest` after at least one label.
pub fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(rest) => name
            .strip_suffix(rest)
            .and_then(|head| head.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty()),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn wildcards_need_a_label_in_front() {
        assert!(name_matches("db.example.com", "db.example.com"));
        assert!(!name_matches("db.example.com", "xdb.example.com"));
        assert!(name_matches("*.example.com", "a.example.com"));
        assert!(name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", ".example.com"));
        assert!(!name_matches("*.example.com", "aexample.com"));
    }
}
