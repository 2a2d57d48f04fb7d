//! Metric handles the request path writes with one relaxed atomic add each.
//!
//! Handles are resolved when the snapshot is built (by name, in [`crate::MetricsRegistry`])
//! and carried in it, so a request never looks anything up by label. A handle outlives
//! snapshot rebuilds: counters keep counting across reloads, as Prometheus expects.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        if n > 0 {
            self.0.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (open connections).
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Removes one.
    #[inline]
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds of the latency histogram buckets, in microseconds (0.5 ms to 60 s): fine
/// where proxied requests usually fall, coarse where only timeouts do.
pub const LATENCY_BUCKETS_US: [u64; 16] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

/// A latency histogram with fixed buckets; observing costs a short scan and three adds.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Per-bucket (not cumulative) counts; the last slot is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
    count: AtomicU64,
}

/// A histogram read at one moment, cumulative as Prometheus wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Cumulative counts per bucket of [`LATENCY_BUCKETS_US`], then `+Inf`.
    pub cumulative: Vec<u64>,
    /// Sum of observed values, in microseconds.
    pub sum_us: u64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// Records one duration.
    #[inline]
    pub fn observe(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let slot = LATENCY_BUCKETS_US
            .iter()
            .position(|&bound| us <= bound)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The histogram now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                total += b.load(Ordering::Relaxed);
                total
            })
            .collect();
        HistogramSnapshot {
            cumulative,
            sum_us: self.sum_us.load(Ordering::Relaxed),
            count: self.count.load(Ordering::Relaxed),
        }
    }
}

impl HistogramSnapshot {
    /// The `q` quantile (0..=1) estimated from the buckets (upper bound of the bucket it falls
    /// in), in microseconds; `None` with no observations.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * self.count as f64).ceil().max(1.0) as u64;
        let slot = self.cumulative.iter().position(|&c| c >= rank)?;
        Some(LATENCY_BUCKETS_US.get(slot).copied().unwrap_or(u64::MAX))
    }
}

/// Lowest and highest status codes counted one by one.
const FIRST_CODE: u16 = 100;
const LAST_CODE: u16 = 599;

/// Counts of responses by status code, 100 to 599 (hyper refuses codes outside that range;
/// a clamp keeps the index safe anyway).
#[derive(Debug)]
pub struct StatusCounts {
    codes: Box<[AtomicU64]>,
}

impl Default for StatusCounts {
    fn default() -> Self {
        Self {
            codes: (FIRST_CODE..=LAST_CODE)
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }
}

impl StatusCounts {
    /// Counts one response with this status.
    #[inline]
    pub fn record(&self, status: u16) {
        let index = usize::from(status.clamp(FIRST_CODE, LAST_CODE) - FIRST_CODE);
        self.codes[index].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` responses with this status (carrying counts into a new handle).
    pub fn record_n(&self, status: u16, n: u64) {
        let index = usize::from(status.clamp(FIRST_CODE, LAST_CODE) - FIRST_CODE);
        self.codes[index].fetch_add(n, Ordering::Relaxed);
    }

    /// Every code seen at least once, with its count, in order.
    pub fn seen(&self) -> Vec<(u16, u64)> {
        self.codes
            .iter()
            .zip(FIRST_CODE..)
            .filter_map(|(count, code)| {
                let n = count.load(Ordering::Relaxed);
                (n > 0).then_some((code, n))
            })
            .collect()
    }

    /// Counts by class: `[1xx, 2xx, 3xx, 4xx, 5xx]`.
    pub fn classes(&self) -> [u64; 5] {
        let mut classes = [0; 5];
        for (code, n) in self.seen() {
            classes[usize::from(code / 100 - 1)] += n;
        }
        classes
    }

    /// Total responses counted.
    pub fn total(&self) -> u64 {
        self.seen().iter().map(|(_, n)| n).sum()
    }
}

/// What one listener counts.
#[derive(Debug, Default)]
pub struct ListenerMetrics {
    /// Requests received (every request, whatever happened to it).
    pub requests: Counter,
    /// Responses sent, by the status the client saw.
    pub responses: StatusCounts,
    /// Error responses Ballast generated itself (no target answered), by status.
    pub errors: StatusCounts,
    /// Redirect actions answered.
    pub redirects: Counter,
    /// Fixed-response actions answered.
    pub fixed_responses: Counter,
    /// Connections open now.
    pub connections_active: Gauge,
    /// Connections accepted.
    pub connections: Counter,
    /// TLS handshakes that failed or timed out.
    pub tls_handshake_errors: Counter,
    /// Request body bytes received from clients.
    pub received_bytes: Counter,
    /// Response body bytes sent to clients.
    pub sent_bytes: Counter,
    /// Upgrade requests (WebSocket) a target switched to its protocol with `101`.
    pub upgrades: Counter,
    /// Upgrade requests answered with anything but `101` (by the target or by Ballast).
    pub upgrades_refused: Counter,
    /// Upgraded connections (tunnels) open now.
    pub upgrades_active: Gauge,
    /// Bytes carried by tunnels from clients to targets.
    pub upgraded_bytes_from_client: Counter,
    /// Bytes carried by tunnels from targets to clients.
    pub upgraded_bytes_from_target: Counter,
    /// Times each limit or defence fired, by [`Limit`].
    pub limit_hits: [Counter; Limit::ALL.len()],
    /// HTTP/1 requests that were not compliant, by desync reason (its position in
    /// [`crate::desync::DesyncReason::ALL`]; the first, `Compliant`, is not counted).
    pub desync: [Counter; crate::desync::DesyncReason::ALL.len()],
    /// An L4 listener's own counters.
    pub l4: crate::l4::L4Counters,
}

/// A per-listener limit or defence against abusive clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// A connection over `max_connections` was closed at once.
    MaxConnections,
    /// A connection reached `max_requests_per_connection` and was closed after its last.
    MaxRequestsPerConnection,
    /// A client took longer than `request_timeout` to send its request (408).
    RequestTimeout,
    /// An HTTP/2 client flooded PING or SETTINGS frames.
    Http2ControlFlood,
    /// An HTTP/2 client reset streams faster than allowed (rapid reset, CVE-2023-44487).
    Http2RapidReset,
    /// An HTTP/2 header block (HEADERS and CONTINUATION frames) grew past `max_header_bytes`
    /// (CONTINUATION flood, CVE-2024-27316 class).
    Http2HeaderBlock,
    /// An HTTP/2 stream over `http2_max_concurrent_streams` was refused.
    Http2RefusedStream,
    /// A UDP flow was forgotten to make room for a new one (`max_udp_flows`).
    MaxUdpFlows,
    /// A client whose address `allow` leaves out or `deny` names was closed at accept (a
    /// UDP datagram of a new flow was dropped).
    AccessDenied,
    /// A client had `client_limits.max_connections` open; its new one was closed at once.
    ClientMaxConnections,
    /// A client opened connections faster than `client_limits.connections_per_second`
    /// (and its burst); the new one was closed at once.
    ClientConnectionRate,
    /// A request went over a `rate_limit` and was answered 429.
    RateLimit,
    /// A request body arrived slower than `min_request_body_rate` (a 408).
    MinRequestBodyRate,
}

impl Limit {
    /// Every limit, in the order of [`ListenerMetrics::limit_hits`].
    pub const ALL: [Limit; 13] = [
        Limit::MaxConnections,
        Limit::MaxRequestsPerConnection,
        Limit::RequestTimeout,
        Limit::Http2ControlFlood,
        Limit::Http2RapidReset,
        Limit::Http2HeaderBlock,
        Limit::Http2RefusedStream,
        Limit::MaxUdpFlows,
        Limit::AccessDenied,
        Limit::ClientMaxConnections,
        Limit::ClientConnectionRate,
        Limit::RateLimit,
        Limit::MinRequestBodyRate,
    ];

    /// Its `limit` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::MaxConnections => "max_connections",
            Limit::MaxRequestsPerConnection => "max_requests_per_connection",
            Limit::RequestTimeout => "request_timeout",
            Limit::Http2ControlFlood => "http2_control_flood",
            Limit::Http2RapidReset => "http2_rapid_reset",
            Limit::Http2HeaderBlock => "http2_header_block",
            Limit::Http2RefusedStream => "http2_max_concurrent_streams",
            Limit::MaxUdpFlows => "max_udp_flows",
            Limit::AccessDenied => "access_denied",
            Limit::ClientMaxConnections => "client_max_connections",
            Limit::ClientConnectionRate => "client_connection_rate",
            Limit::RateLimit => "rate_limit",
            Limit::MinRequestBodyRate => "min_request_body_rate",
        }
    }
}

impl ListenerMetrics {
    /// Counts a request that was not compliant, by its desync reason.
    pub fn desync_seen(&self, reason: crate::desync::DesyncReason) {
        self.desync[reason as usize].inc();
    }

    /// Counts a limit that fired.
    pub fn limit_hit(&self, limit: Limit) {
        self.limit_hits[limit as usize].inc();
    }
}

/// Matches per rule of one listener. Replaced when the listener's rule set changes (the
/// listener's own counters are not).
#[derive(Debug, Default)]
pub struct RuleMetrics {
    /// Matches per rule, by priority, sorted; the default action is not a rule.
    pub rules: Vec<(u32, Counter)>,
    /// Requests no rule matched (the default action).
    pub default_action: Counter,
}

impl RuleMetrics {
    /// Fresh counters for rules with these priorities.
    pub fn with_rules(mut priorities: Vec<u32>) -> Self {
        priorities.sort_unstable();
        priorities.dedup();
        Self {
            rules: priorities
                .into_iter()
                .map(|p| (p, Counter::default()))
                .collect(),
            default_action: Counter::default(),
        }
    }

    /// Counts a request routed by the rule of this priority, or by the default action.
    #[inline]
    pub fn record_rule(&self, priority: Option<u32>) {
        match priority {
            None => self.default_action.inc(),
            Some(p) => {
                if let Ok(i) = self.rules.binary_search_by_key(&p, |(q, _)| *q) {
                    self.rules[i].1.inc();
                }
            }
        }
    }
}

/// What one target group counts.
#[derive(Debug, Default)]
pub struct GroupMetrics {
    /// Requests forwarded to the group (attempts on targets, retries included, are per target).
    pub requests: Counter,
    /// Responses its targets gave, by status.
    pub responses: StatusCounts,
    /// Time from sending the request to a target to its response head.
    pub response_time: Histogram,
    /// Attempts sent again to another target.
    pub retries: Counter,
}

/// What one target counts.
#[derive(Debug, Default)]
pub struct TargetMetrics {
    /// Attempts sent to it.
    pub requests: Counter,
    /// Its responses by class, `[1xx..5xx]`.
    pub responses: [Counter; 5],
    /// Attempts that got no response: refused, reset, timed out, unparseable.
    pub errors: Counter,
    /// Time from sending the request to its response head.
    pub response_time: Histogram,
    /// Bytes and endings of its L4 connections and flows.
    pub l4: crate::l4::L4TargetCounters,
}

impl TargetMetrics {
    /// Counts a response head from the target.
    #[inline]
    pub fn record_response(&self, status: u16, took: Duration) {
        let class = usize::from((status / 100).clamp(1, 5) - 1);
        self.responses[class].inc();
        self.response_time.observe(took);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(400));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(120));
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.cumulative[0], 1);
        assert_eq!(s.cumulative[3], 2, "3 ms falls in the 5 ms bucket");
        assert_eq!(*s.cumulative.last().unwrap(), 3);
        assert_eq!(s.sum_us, 400 + 3_000 + 120_000_000);
        assert_eq!(s.quantile_us(0.5), Some(5_000));
        assert_eq!(s.quantile_us(0.0), Some(500));
        assert_eq!(s.quantile_us(1.0), Some(u64::MAX));
    }

    #[test]
    fn status_counts_by_code_and_class() {
        let s = StatusCounts::default();
        for code in [200, 200, 404, 503, 302] {
            s.record(code);
        }
        assert_eq!(s.seen(), vec![(200, 2), (302, 1), (404, 1), (503, 1)]);
        assert_eq!(s.classes(), [0, 2, 1, 1, 1]);
        assert_eq!(s.total(), 5);
    }

    #[test]
    fn rules_count_by_priority() {
        let m = RuleMetrics::with_rules(vec![20, 10]);
        m.record_rule(Some(10));
        m.record_rule(Some(10));
        m.record_rule(Some(30));
        m.record_rule(None);
        assert_eq!(m.rules[0].1.get(), 2);
        assert_eq!(m.rules[1].1.get(), 0);
        assert_eq!(m.default_action.get(), 1);
    }
}
