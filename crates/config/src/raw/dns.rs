//! `[dns]` as written: the authoritative DNS server, its zones and its health checks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `[dns]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawDns {
    /// `IP:PORT` served on UDP and TCP.
    pub bind: String,
    /// Answers per second to one client network (response rate limiting); 0 turns it off.
    pub responses_per_second: Option<i64>,
    /// Zones by origin (`"example.com."`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub zones: BTreeMap<String, RawZone>,
    /// Health checks that record sets refer to, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub health_checks: BTreeMap<String, RawDnsHealthCheck>,
}

/// `[dns.zones."ORIGIN"]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawZone {
    /// The zone's name servers (host names).
    pub ns: Vec<String>,
    /// The zone's SOA fields.
    pub soa: Option<RawSoa>,
    /// TTL of record sets that give none.
    pub ttl: Option<String>,
    /// The record sets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<RawRecordSet>,
}

/// `soa = { ... }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSoa {
    /// Primary name server.
    pub mname: Option<String>,
    /// Mailbox of the person responsible, as a name (`hostmaster.example.com.`).
    pub rname: Option<String>,
    /// Serial number.
    pub serial: Option<i64>,
    /// Secondary refresh interval.
    pub refresh: Option<String>,
    /// Secondary retry interval.
    pub retry: Option<String>,
    /// Secondary expiry.
    pub expire: Option<String>,
    /// TTL of negative answers.
    pub minimum: Option<String>,
}

/// One entry of `records`: a record set (a name and a type) with its routing policy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecordSet {
    /// The owner name: relative to the zone, `@`, or absolute (ending with a dot).
    pub name: String,
    /// `A`, `AAAA`, `CNAME`, `TXT`, `SRV`, `MX` or `CAA`.
    pub r#type: String,
    /// Its TTL.
    pub ttl: Option<String>,
    /// `simple` (default), `weighted`, `failover` or `multivalue`.
    pub routing: Option<String>,
    /// The values of a `simple` set.
    pub values: Option<Vec<String>>,
    /// A `simple` set's alias.
    pub alias: Option<RawAlias>,
    /// The members of a `weighted`, `failover` or `multivalue` set.
    pub members: Option<Vec<RawMember>>,
}

/// One member of a routed record set.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMember {
    /// Its values.
    pub values: Option<Vec<String>>,
    /// Or an alias.
    pub alias: Option<RawAlias>,
    /// Weight 0 to 255 (`weighted`).
    pub weight: Option<i64>,
    /// `primary` or `secondary` (`failover`).
    pub role: Option<String>,
    /// The health check deciding whether it is answered.
    pub health_check: Option<String>,
}

/// `alias = { target_group = "app" }` or `{ listener = "web" }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlias {
    /// The addresses of this target group's healthy targets.
    pub target_group: Option<String>,
    /// The address of this listener.
    pub listener: Option<String>,
    /// The addresses of the cluster's live nodes (their `cluster.advertise`).
    pub cluster: Option<bool>,
    /// Healthy while the target group has a healthy target.
    pub evaluate_target_health: Option<bool>,
}

/// `[dns.health_checks.NAME]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawDnsHealthCheck {
    /// `http`, `https`, `tcp`, `calculated` or `target_group`.
    pub r#type: String,
    /// `IP:PORT` checked (`http`, `https`, `tcp`).
    pub endpoint: Option<String>,
    /// Path requested (`http`, `https`).
    pub path: Option<String>,
    /// `Host` header sent (`http`, `https`).
    pub host: Option<String>,
    /// Text the body must contain (`http`, `https`).
    pub search_string: Option<String>,
    /// Time between checks.
    pub interval: Option<String>,
    /// Time a check may take.
    pub timeout: Option<String>,
    /// Checks in a row that change its state.
    pub failure_threshold: Option<i64>,
    /// Healthy when the check fails, and the other way round.
    pub invert: Option<bool>,
    /// Child checks (`calculated`).
    pub children: Option<Vec<String>>,
    /// Healthy children needed (`calculated`).
    pub healthy_threshold: Option<i64>,
    /// The target group whose health it follows (`target_group`).
    pub target_group: Option<String>,
}
