//! What operators see of the DNS server: every record set with its members' health and
//! answers, every health check, and the counters (the admin API's `/api/v1/dns`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ballast_config::Routing;
use ballast_dns::health::{Check, CheckSource, Health};
use ballast_dns::snapshot::{RecordSet, Values};
use ballast_dns::stats::DnsStats;
use ballast_dns::DnsSnapshot;

/// The DNS server as operators see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DnsStatus {
    /// The address it answers on (UDP and TCP).
    pub address: Option<SocketAddr>,
    /// Its zones.
    pub zones: Vec<ZoneStatus>,
    /// Its health checks.
    pub health_checks: Vec<CheckStatus>,
    /// Queries by type.
    pub queries: BTreeMap<&'static str, u64>,
    /// Answers by response code.
    pub responses: BTreeMap<&'static str, u64>,
    /// Queries over TCP.
    pub tcp_queries: u64,
    /// UDP answers truncated because they did not fit.
    pub truncated: u64,
    /// UDP answers response rate limiting sent truncated instead.
    pub rate_limited_slipped: u64,
    /// UDP answers response rate limiting dropped.
    pub rate_limited_dropped: u64,
}

/// One zone.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ZoneStatus {
    /// Its origin.
    pub origin: String,
    /// Its record sets, by name then type.
    pub record_sets: Vec<RecordSetStatus>,
}

/// One record set.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecordSetStatus {
    /// Its owner name.
    pub name: String,
    /// Its type.
    pub r#type: String,
    /// `simple`, `weighted`, `failover` or `multivalue`.
    pub routing: &'static str,
    /// Its TTL in seconds.
    pub ttl: u32,
    /// When it was last answered (RFC 3339), if it was.
    pub last_answer_at: Option<String>,
    /// Its members.
    pub members: Vec<MemberStatus>,
}

/// One member of a record set.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MemberStatus {
    /// What it answers now (an alias's current addresses).
    pub values: Vec<String>,
    /// Its weight (`weighted`).
    pub weight: Option<u8>,
    /// `primary` or `secondary` (`failover`).
    pub role: Option<&'static str>,
    /// The health check it follows, or `target_group` for an alias evaluating its group.
    pub health_check: Option<String>,
    /// Whether it is healthy now.
    pub healthy: bool,
    /// Answers that carried it.
    pub answers: u64,
    /// Whether the last answer carried it.
    pub in_last_answer: bool,
}

/// One health check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckStatus {
    /// Its name.
    pub name: String,
    /// `endpoint`, `calculated` or `target_group`.
    pub kind: &'static str,
    /// Whether it reports healthy now (after `invert`).
    pub healthy: bool,
    /// Reported the other way round.
    pub invert: bool,
    /// Its state changes so far (endpoint checks).
    pub transitions: Option<u64>,
    /// Checks that passed and failed so far (endpoint checks).
    pub checks: Option<(u64, u64)>,
}

/// The status of `snapshot`, served on `address`, with `stats`.
pub(crate) fn status(
    snapshot: &DnsSnapshot,
    address: Option<SocketAddr>,
    stats: &DnsStats,
) -> DnsStatus {
    let now = Instant::now();
    DnsStatus {
        address,
        zones: snapshot
            .zones
            .iter()
            .map(|zone| {
                let mut record_sets: Vec<RecordSetStatus> = zone
                    .sets
                    .values()
                    .flatten()
                    .map(|set| record_set(set, now))
                    .collect();
                record_sets.sort_by(|a, b| (&a.name, &a.r#type).cmp(&(&b.name, &b.r#type)));
                ZoneStatus {
                    origin: zone.origin.to_string(),
                    record_sets,
                }
            })
            .collect(),
        health_checks: snapshot.checks.iter().map(|c| check(c, now)).collect(),
        queries: stats.queries().into_iter().collect(),
        responses: stats.responses().into_iter().collect(),
        tcp_queries: stats.tcp_queries.load(Ordering::Relaxed),
        truncated: stats.truncated.load(Ordering::Relaxed),
        rate_limited_slipped: stats.rate_limited_slipped.load(Ordering::Relaxed),
        rate_limited_dropped: stats.rate_limited_dropped.load(Ordering::Relaxed),
    }
}

fn record_set(set: &RecordSet, now: Instant) -> RecordSetStatus {
    let last = set.last_answer_ms.load(Ordering::Relaxed);
    let last_members = set.last_members.load(Ordering::Relaxed);
    let last_answer_at = (last > 0)
        .then(|| jiff::Timestamp::from_millisecond(i64::try_from(last).ok()?).ok())
        .flatten()
        .map(|t| t.to_string());
    RecordSetStatus {
        name: set.name.to_string(),
        r#type: set.record_type.to_string(),
        routing: set.routing.name(),
        ttl: set.ttl,
        last_answer_at,
        members: set
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| MemberStatus {
                values: match &m.values {
                    Values::Records(data) => data.iter().map(ToString::to_string).collect(),
                    Values::Targets(targets) => {
                        targets.iter().map(|(ip, _)| ip.to_string()).collect()
                    }
                    Values::Address(ip) => vec![ip.to_string()],
                    Values::Addresses(ips) => ips.iter().map(ToString::to_string).collect(),
                },
                weight: (set.routing == Routing::Weighted).then_some(m.weight),
                role: (set.routing == Routing::Failover).then_some(if m.primary {
                    "primary"
                } else {
                    "secondary"
                }),
                health_check: match &m.health {
                    Health::Always => None,
                    Health::Check(c) => Some(c.name.to_string()),
                    Health::Group(_) => Some("target_group".to_owned()),
                },
                healthy: m.health.is_healthy(now),
                answers: m.answers.load(Ordering::Relaxed),
                in_last_answer: i < 64 && last_members & (1 << i) != 0,
            })
            .collect(),
    }
}

fn check(check: &Check, now: Instant) -> CheckStatus {
    let (kind, endpoint) = match &check.source {
        CheckSource::Endpoint(state) => ("endpoint", Some(state)),
        CheckSource::Calculated { .. } => ("calculated", None),
        CheckSource::Group(_) => ("target_group", None),
    };
    CheckStatus {
        name: check.name.to_string(),
        kind,
        healthy: check.is_healthy(now),
        invert: check.invert,
        transitions: endpoint.map(|s| s.transitions()),
        checks: endpoint.map(|s| s.checks()),
    }
}
