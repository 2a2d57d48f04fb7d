//! The validated configuration: real types, defaults resolved, references checked.
//!
//! This is the only configuration type other crates see. It holds no `Option` where a default
//! exists and no string that still needs parsing.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

pub use crate::algorithm::Algorithm;

use crate::health::{HealthCheckConfig, OutlierDetectionConfig, RetryConfig};
use crate::ops::{AccessLogConfig, AdminConfig, MetricsConfig};
use crate::rules::{Cidr, FixedResponse, RedirectConfig, Rule};
use crate::secret::Secret;
use crate::tls::{ListenerTls, TargetTls};

/// A complete, valid configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Process-wide settings.
    pub server: ServerConfig,
    /// Listeners, sorted by name.
    pub listeners: Vec<ListenerConfig>,
    /// Target groups, sorted by name.
    pub target_groups: Vec<TargetGroupConfig>,
    /// The admin API, if enabled.
    pub admin: Option<AdminConfig>,
    /// Access logging, if enabled.
    pub access_log: Option<AccessLogConfig>,
    /// Metrics collection.
    pub metrics: MetricsConfig,
    /// Scaling groups, sorted by name.
    pub scaling_groups: Vec<crate::ScalingGroupConfig>,
    /// The authoritative DNS server, if enabled.
    pub dns: Option<crate::DnsConfig>,
    /// Named request rates, sorted by name.
    pub rate_limits: Vec<Arc<crate::RateLimitConfig>>,
    /// The cluster this node belongs to, if any.
    pub cluster: Option<crate::ClusterConfig>,
}

/// Process-wide settings (`[server]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// How many data-plane worker threads to run.
    pub workers: Workers,
    /// Grace period for in-flight requests after SIGTERM/SIGINT.
    pub drain_timeout: Duration,
    /// The zone this node runs in, if given.
    pub zone: Option<Arc<str>>,
    /// Secret sealing sticky cookies; `None`: a random key per process.
    pub stickiness_secret: Option<Secret>,
    /// Reload when the configuration file changes.
    pub watch_config: bool,
    /// Where binary upgrades hand the listening sockets over; `None`: upgrades need a restart.
    pub upgrade_socket: Option<std::path::PathBuf>,
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
    /// Rules, sorted by priority, evaluated before the default action.
    pub rules: Vec<Rule>,
    /// Proxies whose `X-Forwarded-For` is believed for `source_ip` conditions.
    pub trusted_proxies: Vec<Cidr>,
    /// Certificates and policy (`https` listeners only).
    pub tls: Option<ListenerTls>,
    /// Fields rewritten on every request to a target.
    pub request_headers: crate::HeaderRewrite,
    /// Fields rewritten on every response to a client.
    pub response_headers: crate::HeaderRewrite,
    /// Settings of a `tcp`, `udp`, `tcp_udp` or `tls` listener (`None` for HTTP ones).
    pub l4: Option<crate::L4ListenerConfig>,
    /// Load balancers that open connections with a PROXY header (v1, v2); `None`: none.
    pub accept_proxy_protocol: Option<Vec<Cidr>>,
    /// Connections are handed over once their first bytes are in (`TCP_DEFER_ACCEPT`).
    pub defer_accept: bool,
    /// Who may connect, and how much one client address may open (checked at accept).
    pub edge: Arc<crate::EdgePolicy>,
    /// The rate every request on the listener is held to.
    pub rate_limit: Option<Arc<crate::RateLimitConfig>>,
    /// The web application firewall every request on the listener meets.
    pub waf: Option<Arc<crate::WafConfig>>,
}

/// Protocol of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerProtocol {
    /// HTTP/1.1 and HTTP/2 cleartext (prior knowledge) on the same port.
    Http,
    /// HTTP/1.1 and HTTP/2 over TLS (ALPN), certificates chosen by SNI.
    Https,
    /// TCP connections forwarded byte for byte (TLS passed through, chosen by SNI rules).
    Tcp,
    /// UDP datagrams forwarded per flow.
    Udp,
    /// TCP and UDP on the same port (DNS).
    TcpUdp,
    /// TLS terminated with the listener's certificates, then TCP forwarded.
    Tls,
}

/// What the client side of an HTTP listener tolerates before Ballast defends itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpListenerLimits {
    /// Time to receive a complete request head.
    pub request_header_timeout: Duration,
    /// Idle keep-alive connections close after this long.
    pub idle_timeout: Duration,
    /// An upgraded connection (WebSocket) with no byte moving either way closes after this
    /// long.
    pub upgrade_idle_timeout: Duration,
    /// Largest request head in bytes (431 beyond).
    pub max_header_bytes: usize,
    /// Most header fields in a request (431 beyond).
    pub max_headers: usize,
    /// Most client connections open at once on the listener (all workers); excess ones are
    /// closed at once. `None`: no limit but the descriptor budget.
    pub max_connections: Option<usize>,
    /// Requests one client connection may carry, then it is closed (HTTP/1.1
    /// `Connection: close`, HTTP/2 GOAWAY). `None`: no limit.
    pub max_requests_per_connection: Option<u64>,
    /// Time a client has to send a whole request, head and body (408 beyond). `None`: off.
    pub request_timeout: Option<Duration>,
    /// Streams an HTTP/2 client may have open at once on one connection.
    pub http2_max_concurrent_streams: u32,
    /// The slowest a request body may arrive (a slow POST is answered 408); `None`: off.
    pub min_body_rate: Option<MinBodyRate>,
    /// Which HTTP/1 requests are refused, or served then closed, for their framing.
    pub desync_mode: crate::DesyncMode,
}

/// The slowest a request body may arrive: on average `bytes_per_second` once `grace` has
/// passed since its first byte was awaited (Apache's `RequestReadTimeout body=20,MinRate=500`
/// shape and defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinBodyRate {
    /// Bytes per second, on average, from the start of the body.
    pub bytes_per_second: u32,
    /// Time before the rate applies.
    pub grace: Duration,
}

impl MinBodyRate {
    /// When a body begun at `began` with `received` bytes so far is too slow: the grace,
    /// plus the time its bytes buy at the rate.
    pub fn deadline(&self, began: std::time::Instant, received: u64) -> std::time::Instant {
        let earned = Duration::from_secs_f64(received as f64 / f64::from(self.bytes_per_second));
        began + self.grace + earned
    }
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send it to a target of this group.
    Forward {
        /// The group.
        target_group: GroupName,
    },
    /// Split the traffic between groups by weight (blue-green, canary).
    WeightedForward(WeightedForward),
    /// Answer with a redirect.
    Redirect(RedirectConfig),
    /// Answer with a fixed response.
    FixedResponse(FixedResponse),
    /// Close the connection without forwarding it (`tcp` and `tls` listeners).
    Reject,
}

/// A forward to several target groups by weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedForward {
    /// Each group with its weight (0 to 999; at least one above 0).
    pub groups: Vec<(GroupName, u32)>,
    /// How long a client keeps the group it was sent to; `None`: every request is split
    /// afresh.
    pub stickiness: Option<Duration>,
}

/// One target group (`[target_groups.NAME]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupConfig {
    /// Its name.
    pub name: GroupName,
    /// Protocol spoken to targets.
    pub protocol: TargetProtocol,
    /// The HTTP version spoken to its targets.
    pub protocol_version: ProtocolVersion,
    /// How the next target is chosen.
    pub algorithm: Algorithm,
    /// What `consistent_hash` hashes (`None` for every other algorithm).
    pub hash_key: Option<HashKey>,
    /// Ramp-up time of a newly healthy target; zero is off.
    pub slow_start: Duration,
    /// Lower the weight of targets whose error rate stands out (`weighted_random` only).
    pub anomaly_mitigation: bool,
    /// Whether targets in every zone are used alike (`true`), or this node's zone first.
    pub cross_zone: bool,
    /// Sticky sessions, if on.
    pub stickiness: Option<StickinessConfig>,
    /// TLS to the targets (`https` groups only).
    pub tls: Option<TargetTls>,
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
    /// The PROXY protocol header sent first on every connection to a target, if any.
    pub proxy_protocol: Option<crate::ProxyProtocolVersion>,
}

/// The HTTP version a group speaks to its targets (ALB's protocol version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolVersion {
    /// HTTP/1.1, over pooled keep-alive connections.
    Http1,
    /// HTTP/2 (h2c on `http` groups, h2 by ALPN on `https` ones), requests multiplexed.
    Http2,
    /// HTTP/2 with gRPC semantics: Ballast's own errors are gRPC statuses, `grpc-timeout`
    /// bounds the wait, health checks default to `grpc.health.v1`.
    Grpc,
}

/// Protocol spoken to the targets of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetProtocol {
    /// HTTP/1.1 with keep-alive.
    Http,
    /// HTTP/1.1 with keep-alive over TLS.
    Https,
    /// TCP, bytes as they come.
    Tcp,
    /// UDP datagrams.
    Udp,
    /// TCP and UDP on the same port.
    TcpUdp,
    /// TCP with TLS to the targets.
    Tls,
}

/// Sticky sessions of a target group: a client keeps its target for `duration` after its
/// last request, through a cookie Ballast sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickinessConfig {
    /// What starts stickiness.
    pub kind: StickinessKind,
    /// How long a client stays with its target after its last request.
    pub duration: Duration,
    /// The cookie Ballast sets.
    pub cookie: CookieAttributes,
}

/// What starts stickiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StickinessKind {
    /// Every response carries Ballast's cookie (ALB's duration-based stickiness).
    LbCookie,
    /// Ballast's cookie is set when the target sets the application's cookie of this name
    /// (ALB's application-based stickiness).
    AppCookie(String),
}

/// The name and attributes of the cookie Ballast sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieAttributes {
    /// Cookie name.
    pub name: String,
    /// `Secure`.
    pub secure: bool,
    /// `HttpOnly`.
    pub http_only: bool,
    /// `SameSite=Strict|Lax|None`, as written in the header.
    pub same_site: Option<&'static str>,
    /// `Domain`.
    pub domain: Option<String>,
    /// `Path`.
    pub path: String,
}

/// The request part a `consistent_hash` group hashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HashKey {
    /// A header's value (name in lower case).
    Header(String),
    /// A cookie's value.
    Cookie(String),
    /// A query parameter's value.
    Query(String),
}

/// One target of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    /// Where it listens.
    pub address: SocketAddr,
    /// Relative share of traffic (1 to 1000).
    pub weight: u32,
    /// Zone it runs in.
    pub zone: Option<Arc<str>>,
}

impl TargetConfig {
    /// A target of weight 1 in no zone: what the runtime API registers.
    pub fn at(address: SocketAddr) -> Self {
        Self {
            address,
            weight: 1,
            zone: None,
        }
    }
}

// === impl Config ===

impl Config {
    /// The target group with this name, if any.
    pub fn target_group(&self, name: &GroupName) -> Option<&TargetGroupConfig> {
        self.target_groups.iter().find(|g| &g.name == name)
    }
}

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

impl Workers {
    /// The thread count to run, given how many CPUs the process may use.
    pub fn resolve(self, available: NonZeroUsize) -> NonZeroUsize {
        match self {
            Workers::Auto => available,
            Workers::Count(n) => n,
        }
    }
}
