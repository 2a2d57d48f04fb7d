//! The typed settings of the authoritative DNS server (`[dns]`): zones of record sets, each
//! with a routing policy whose members are answered while their health check passes, and
//! the health checks. Record values are parsed here (hickory's presentation-format parser),
//! so `ballast check` names a bad one by its key.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use hickory_proto::rr::{Name, RData, RecordType};

use crate::{GroupName, HealthCheckConfig, ListenerName};

/// `[dns]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// Served on UDP and TCP.
    pub bind: SocketAddr,
    /// Answers per second to one client network (0: no limit).
    pub responses_per_second: u32,
    /// The zones, sorted by origin.
    pub zones: Vec<ZoneConfig>,
    /// The health checks, sorted by name.
    pub health_checks: Vec<DnsHealthCheck>,
}

/// One zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneConfig {
    /// Its origin (absolute, lower case).
    pub origin: Name,
    /// Its SOA.
    pub soa: SoaConfig,
    /// Its name servers.
    pub ns: Vec<Name>,
    /// TTL of its NS and SOA records.
    pub ttl: u32,
    /// Its record sets.
    pub record_sets: Vec<RecordSetConfig>,
}

/// A zone's SOA record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoaConfig {
    /// Primary name server.
    pub mname: Name,
    /// Responsible mailbox.
    pub rname: Name,
    /// Serial.
    pub serial: u32,
    /// Refresh, retry and expire, in seconds.
    pub refresh: u32,
    /// Retry.
    pub retry: u32,
    /// Expire.
    pub expire: u32,
    /// TTL of negative answers, in seconds.
    pub minimum: u32,
}

/// One record set: a name and a type, its TTL and routing policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSetConfig {
    /// Its owner name (absolute, lower case).
    pub name: Name,
    /// Its type.
    pub record_type: RecordType,
    /// Its TTL in seconds.
    pub ttl: u32,
    /// How members are chosen.
    pub routing: Routing,
    /// Its members (one for `simple`).
    pub members: Vec<MemberConfig>,
}

/// A routing policy, with Route 53's semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// Every value.
    Simple,
    /// One member, by weight, among the healthy ones.
    Weighted,
    /// The primary while it is healthy, else the secondary (the primary if both are not).
    Failover,
    /// Up to 8 healthy members, chosen at random.
    Multivalue,
}

impl Routing {
    /// Its name in the file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Weighted => "weighted",
            Self::Failover => "failover",
            Self::Multivalue => "multivalue",
        }
    }
}

/// One member of a record set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberConfig {
    /// What it answers.
    pub values: MemberValues,
    /// Weight (`weighted`).
    pub weight: u8,
    /// Primary or not (`failover`).
    pub primary: bool,
    /// The health check deciding whether it is answered (none: always healthy).
    pub health_check: Option<Arc<str>>,
}

/// What a member answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberValues {
    /// These records.
    Records(Vec<RData>),
    /// The addresses of a local target group's or listener's.
    Alias {
        /// What it points at.
        target: AliasTarget,
        /// Healthy only while the target group has a healthy target.
        evaluate_target_health: bool,
    },
}

/// The local thing an alias answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasTarget {
    /// The healthy targets' addresses (all of them when none is healthy).
    TargetGroup(GroupName),
    /// The listener's address.
    Listener(ListenerName),
    /// The addresses the cluster's live nodes advertise.
    Cluster,
}

/// A named health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsHealthCheck {
    /// Its name.
    pub name: Arc<str>,
    /// What it checks.
    pub kind: DnsCheckKind,
    /// Healthy when the check says unhealthy, and the other way round.
    pub invert: bool,
}

/// What a DNS health check checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsCheckKind {
    /// An endpoint, with the target groups' checker (`http`, `https`, `tcp`).
    Endpoint {
        /// `IP:PORT`.
        address: SocketAddr,
        /// The check, its thresholds both the failure threshold.
        check: HealthCheckConfig,
    },
    /// Healthy when at least `healthy_threshold` of `children` are.
    Calculated {
        /// Child checks by name.
        children: Vec<Arc<str>>,
        /// Healthy children needed.
        healthy_threshold: u32,
    },
    /// Healthy while the local target group has a healthy target.
    TargetGroup(GroupName),
}

/// A duration as whole seconds for a TTL (saturating).
pub(crate) fn seconds(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}
