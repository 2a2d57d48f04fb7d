//! The immutable routing table the data plane reads, one `ArcSwap` load per request.
//!
//! Data only: the code that reads it (decision, attempts) lives above it, so nothing here
//! imports the request path.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use ballast_balance::{Balancer, RetryBudget, StickyKey, TargetState};
use ballast_config::{Cidr, HashKey, RedirectConfig, RetryConfig, StickinessConfig};
use ballast_config::{GroupName, HttpListenerLimits, ListenerName};
use ballast_telemetry::metrics::{GroupMetrics, ListenerMetrics, RuleMetrics, TargetMetrics};
use ballast_telemetry::AccessLog;

use crate::rewrite::HeaderOps;
use crate::route::RuleTable;
use crate::upstream::ConnPool;
pub use crate::upstream::TargetTlsRoute;

/// The handle every listener task holds; the control plane stores a new snapshot into it.
pub type SharedSnapshot = Arc<ArcSwap<HttpSnapshot>>;

/// Everything the L7 data plane needs to route a request, built off the request path.
///
/// Never mutated after it is published: a change builds a new one. Per-target live state
/// ([`TargetState`], connection pools) is shared by `Arc` so it survives the swap.
#[derive(Debug, Default)]
pub struct HttpSnapshot {
    /// One entry per HTTP listener.
    pub listeners: Vec<ListenerRoutes>,
    /// Every target group, referenced or not, so live state carries over to the next build.
    pub target_groups: Vec<Arc<TargetGroup>>,
    /// The key sealing sticky cookies, kept from build to build so cookies stay valid.
    pub sticky_key: Option<StickyKey>,
    /// Where access log lines go, when the access log is on.
    pub access_log: Option<Arc<AccessLog>>,
    /// Pending ACME `http-01` challenges, answered by `http` listeners before their rules;
    /// the same store from build to build (the ACME client writes into it).
    pub acme: Arc<ballast_tls::AcmeChallenges>,
    /// Every `[rate_limits]` entry's live buckets, carried to the next build while their
    /// settings stay the same.
    pub rate_limiters: Vec<Arc<crate::RateLimiter>>,
}

/// How one listener handles requests.
#[derive(Debug)]
pub struct ListenerRoutes {
    /// The listener's name, as in the config.
    pub name: ListenerName,
    /// Client-side timeouts and limits, applied to each new connection (shared: a connection
    /// holds a pointer to the limits it started with, not a copy of them).
    pub limits: Arc<HttpListenerLimits>,
    /// TLS (for `https` listeners): certificates by SNI, policy, ALPN.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Rules, evaluated first (compiled and indexed).
    pub rules: RuleTable<Routed>,
    /// Proxies whose `X-Forwarded-For` is believed for `source_ip` conditions.
    pub trusted_proxies: Vec<Cidr>,
    /// Load balancers in front whose connections start with a PROXY header (believed for
    /// the client's address); `None`: no header expected.
    pub accept_proxy: Option<Arc<[Cidr]>>,
    /// Who may connect, and how much one client may open (checked at accept).
    pub edge: Arc<ballast_config::EdgePolicy>,
    /// The rate every request is held to (before its rule's).
    pub rate_limit: Option<Arc<crate::RateLimiter>>,
    /// The web application firewall every request meets (before its rule's).
    pub waf: Option<Arc<crate::Waf>>,
    /// Bytes of an HTTP/1 request body read before the decision, when a firewall set of
    /// the listener (its own or a rule's) inspects bodies; `None`: bodies stream at once.
    pub waf_body_limit: Option<usize>,
    /// What happens to a request no rule matches.
    pub default_action: Routed,
    /// The listener's counters (stable across reloads; `None` with metrics off).
    pub metrics: Option<Arc<ListenerMetrics>>,
    /// Matches per rule (replaced when the rule set changes).
    pub rule_metrics: Option<Arc<RuleMetrics>>,
}

/// A rule's (or the default) action with the header rewrites that apply to its requests:
/// the listener's merged with the rule's, once, when the snapshot is built.
#[derive(Debug, Clone)]
pub struct Routed {
    /// What happens to the request.
    pub action: RouteAction,
    /// Rewrites of requests to targets.
    pub request_headers: Option<Arc<HeaderOps>>,
    /// Rewrites of responses to clients.
    pub response_headers: Option<Arc<HeaderOps>>,
    /// The rule's rate limit (after the listener's).
    pub rate_limit: Option<Arc<crate::RateLimiter>>,
    /// The rule's web application firewall (after the listener's).
    pub waf: Option<Arc<crate::Waf>>,
}

/// A compiled action.
#[derive(Debug, Clone)]
pub enum RouteAction {
    /// Send to a target of this group.
    Forward(Arc<TargetGroup>),
    /// Send to one of several groups, by weight.
    WeightedForward(Arc<WeightedRoute>),
    /// Answer with a redirect.
    Redirect(Arc<RedirectConfig>),
    /// Answer with a fixed response.
    Fixed(Arc<FixedReply>),
}

/// A compiled weighted forward.
#[derive(Debug)]
pub struct WeightedRoute {
    /// Each group with its weight and stable identity (the hash of its name).
    pub groups: Vec<(Arc<TargetGroup>, u32, u64)>,
    /// Sum of the weights (at least 1).
    pub total: u64,
    /// Target group stickiness, if on.
    pub stickiness: Option<GroupStickiness>,
    /// What cookies are bound to (the listener's name): a cookie of another listener never
    /// opens here.
    pub scope: Arc<str>,
}

/// Target group stickiness settings.
#[derive(Debug)]
pub struct GroupStickiness {
    /// How long a client keeps its group after its last request.
    pub duration: Duration,
    /// Seals the cookie.
    pub key: StickyKey,
    /// Cookie name.
    pub cookie: String,
}

/// A fixed response, ready to send.
#[derive(Debug)]
pub struct FixedReply {
    /// Its status.
    pub status: http::StatusCode,
    /// Its `Content-Type`.
    pub content_type: http::HeaderValue,
    /// Its body.
    pub body: bytes::Bytes,
}

/// A target group as the data plane sees it.
#[derive(Debug)]
pub struct TargetGroup {
    /// Its name, for logs.
    pub name: GroupName,
    /// Chooses the target of each request (its round-robin position carries over a
    /// rebuild, so the next request does not go to target 0 again). Shared with the L4
    /// view of the group.
    pub balancer: Arc<Balancer>,
    /// What `consistent_hash` hashes.
    pub hash_key: Option<HashKey>,
    /// Ramp-up time of newly healthy targets (the control plane decides who ramps).
    pub slow_start: Duration,
    /// Sticky sessions, if on.
    pub stickiness: Option<Sticky>,
    /// TLS to the targets (`https` groups).
    pub tls: Option<TargetTlsRoute>,
    /// The HTTP version spoken to the targets.
    pub protocol_version: ballast_config::ProtocolVersion,
    /// Its targets, in config order.
    pub targets: Vec<Arc<Target>>,
    /// Time allowed to connect to a target.
    pub connect_timeout: Duration,
    /// Time allowed for a target's response head, counted once the request is sent.
    pub response_timeout: Duration,
    /// When no target is eligible, send to every registered one instead of answering 503.
    pub fail_open: bool,
    /// Which failed requests may go to another target.
    pub retry: RetryConfig,
    /// Bounds retries to a share of the group's traffic; shared with the next snapshot
    /// when the retry settings are unchanged, so a rebuild does not refill it.
    pub retry_budget: Arc<RetryBudget>,
    /// The group's counters (`None` with metrics off).
    pub metrics: Option<Arc<GroupMetrics>>,
    /// The PROXY protocol header each new target connection starts with, if any. Such a
    /// connection then carries only the requests of the client it names.
    pub proxy_protocol: Option<ballast_l4::proxy_protocol::ProxyVersion>,
}

/// A group's stickiness settings with the key that seals its cookies.
#[derive(Debug)]
pub struct Sticky {
    /// What the configuration says.
    pub config: StickinessConfig,
    /// Seals and opens the cookies (shared by every group of the process).
    pub key: StickyKey,
    /// `; Max-Age=..; Path=..` and the other attributes, written once per snapshot.
    pub(crate) attributes: String,
}

/// One target: where it is, its live counters and its keep-alive connections.
#[derive(Debug)]
pub struct Target {
    /// Its address.
    pub address: SocketAddr,
    /// Its stable identity (hash of its address): what sticky cookies name.
    pub id: u64,
    /// Live counters shared with the control plane.
    pub state: Arc<TargetState>,
    /// Its keep-alive connections; `close_all` cuts them when a deregistration delay ends.
    pub pool: Arc<ConnPool>,
    /// Its counters (`None` with metrics off).
    pub metrics: Option<Arc<TargetMetrics>>,
}

impl HttpSnapshot {
    /// The routes of a listener, by name.
    pub fn listener(&self, name: &ListenerName) -> Option<&ListenerRoutes> {
        self.listeners
            .iter()
            .find(|l| Arc::ptr_eq(&l.name.0, &name.0) || l.name == *name)
    }
}

impl Routed {
    /// An action without rewrites.
    pub fn plain(action: RouteAction) -> Self {
        Self {
            action,
            request_headers: None,
            response_headers: None,
            rate_limit: None,
            waf: None,
        }
    }
}

impl Sticky {
    /// The settings of one group, with its cookie attributes prepared.
    pub fn new(config: StickinessConfig, key: StickyKey) -> Self {
        let cookie = &config.cookie;
        let mut attributes = format!(
            "; Max-Age={}; Path={}",
            config.duration.as_secs(),
            cookie.path
        );
        if let Some(domain) = &cookie.domain {
            attributes.push_str("; Domain=");
            attributes.push_str(domain);
        }
        if cookie.secure {
            attributes.push_str("; Secure");
        }
        if cookie.http_only {
            attributes.push_str("; HttpOnly");
        }
        if let Some(same_site) = cookie.same_site {
            attributes.push_str("; SameSite=");
            attributes.push_str(same_site);
        }
        Self {
            config,
            key,
            attributes,
        }
    }
}
