//! The zones as the server answers them, built from `[dns]` and the health states the
//! runtime owns: each record set's members with the records they answer and the health they
//! follow. A reload builds a new one; the server reads it through an `ArcSwap`.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use ballast_balance::TargetState;
use ballast_config::{
    AliasTarget, DnsCheckKind, DnsConfig, GroupName, ListenerName, MemberValues, RData, RecordType,
    Routing,
};
use hickory_proto::rr::rdata::{NS, SOA};
use hickory_proto::rr::{LowerName, Name, Record};

use crate::health::{Check, CheckSource, Health};

/// Every zone, and the server's settings.
#[derive(Debug, Default)]
pub struct DnsSnapshot {
    /// The zones.
    pub zones: Vec<Zone>,
    /// Answers per second to one client network (0: no limit).
    pub responses_per_second: u32,
    /// The health checks, by name (for the admin API).
    pub checks: Vec<Arc<Check>>,
}

/// One zone.
#[derive(Debug)]
pub struct Zone {
    /// Its origin.
    pub origin: LowerName,
    /// Its SOA record.
    pub soa: Record,
    /// The TTL of negative answers: the SOA's minimum, at most the SOA's TTL (RFC 2308).
    pub negative_ttl: u32,
    /// Its NS records.
    pub ns: Vec<Record>,
    /// Record sets by owner name.
    pub sets: HashMap<LowerName, Vec<RecordSet>>,
    /// Names that exist with no record set of their own, because a name below them has one
    /// (empty non-terminals: NODATA, not NXDOMAIN).
    pub interior: HashSet<LowerName>,
}

/// A record set as served.
#[derive(Debug)]
pub struct RecordSet {
    /// Its owner name.
    pub name: Name,
    /// Its type.
    pub record_type: RecordType,
    /// Its TTL.
    pub ttl: u32,
    /// How members are chosen.
    pub routing: Routing,
    /// Its members.
    pub members: Vec<Member>,
    /// When it was last answered (Unix milliseconds; 0: never), for the admin API.
    pub last_answer_ms: AtomicU64,
    /// The members the last answer carried, one bit each (the first 64).
    pub last_members: AtomicU64,
}

/// A member as served.
#[derive(Debug)]
pub struct Member {
    /// What it answers.
    pub values: Values,
    /// Weight (`weighted`).
    pub weight: u8,
    /// Primary (`failover`).
    pub primary: bool,
    /// The health it follows.
    pub health: Health,
    /// Answers that carried it, for the admin API (a weighted set's shares show here).
    pub answers: AtomicU64,
}

/// What a member answers.
#[derive(Debug)]
pub enum Values {
    /// These records' data.
    Records(Vec<RData>),
    /// The addresses of a target group's targets that may take traffic (all registered ones
    /// when none may).
    Targets(Vec<(IpAddr, Arc<TargetState>)>),
    /// A listener's address.
    Address(IpAddr),
    /// The addresses of the cluster's live nodes.
    Addresses(Vec<IpAddr>),
}

/// A target group's targets: their addresses and states.
pub type GroupTargets = Vec<(SocketAddr, Arc<TargetState>)>;

/// What the snapshot is built from besides the configuration: the runtime's states.
pub struct Sources<'a> {
    /// Each endpoint check's state, by check name.
    pub check_states: &'a HashMap<Arc<str>, Arc<TargetState>>,
    /// A target group's targets and their states.
    pub group: &'a dyn Fn(&GroupName) -> GroupTargets,
    /// A listener's bound address.
    pub listener: &'a dyn Fn(&ListenerName) -> Option<SocketAddr>,
    /// The addresses the cluster's live nodes advertise (empty when not in a cluster).
    pub cluster: &'a [IpAddr],
}

impl DnsSnapshot {
    /// The snapshot of `config`, its health read from `sources`.
    pub fn build(config: &DnsConfig, sources: &Sources<'_>) -> Self {
        let checks = build_checks(config, sources);
        let find = |name: &str| checks.iter().find(|c| &*c.name == name).cloned();
        let zones = config
            .zones
            .iter()
            .map(|zone| {
                let origin = zone.origin.clone();
                let soa_data = SOA::new(
                    zone.soa.mname.clone(),
                    zone.soa.rname.clone(),
                    zone.soa.serial,
                    i32::try_from(zone.soa.refresh).unwrap_or(i32::MAX),
                    i32::try_from(zone.soa.retry).unwrap_or(i32::MAX),
                    i32::try_from(zone.soa.expire).unwrap_or(i32::MAX),
                    zone.soa.minimum,
                );
                let soa = Record::from_rdata(origin.clone(), zone.ttl, RData::SOA(soa_data));
                let ns = zone
                    .ns
                    .iter()
                    .map(|n| Record::from_rdata(origin.clone(), zone.ttl, RData::NS(NS(n.clone()))))
                    .collect();
                let mut sets: HashMap<LowerName, Vec<RecordSet>> = HashMap::new();
                let mut interior = HashSet::new();
                for set in &zone.record_sets {
                    let mut above = set.name.base_name();
                    while zone.origin.zone_of(&above) && above != zone.origin {
                        interior.insert(LowerName::new(&above));
                        above = above.base_name();
                    }
                    let members = set
                        .members
                        .iter()
                        .map(|m| Member {
                            values: values(&m.values, sources),
                            weight: m.weight,
                            primary: m.primary,
                            health: health(m, &find, sources),
                            answers: AtomicU64::new(0),
                        })
                        .collect();
                    sets.entry(LowerName::new(&set.name))
                        .or_default()
                        .push(RecordSet {
                            name: set.name.clone(),
                            record_type: set.record_type,
                            ttl: set.ttl,
                            routing: set.routing,
                            members,
                            last_answer_ms: AtomicU64::new(0),
                            last_members: AtomicU64::new(0),
                        });
                }
                Zone {
                    origin: LowerName::new(&origin),
                    soa,
                    negative_ttl: zone.soa.minimum.min(zone.ttl),
                    ns,
                    sets,
                    interior,
                }
            })
            .collect();
        Self {
            zones,
            responses_per_second: config.responses_per_second,
            checks,
        }
    }
}

impl DnsSnapshot {
    /// Keeps the answer counts and last-answer times of `previous` (the snapshot this one
    /// replaces) for the record sets both have, member by member, so a publish (a reload, a
    /// target registered) does not reset what operators see.
    pub fn carry_counts(&self, previous: &DnsSnapshot) {
        use std::sync::atomic::Ordering::Relaxed;
        for zone in &self.zones {
            let Some(before) = previous.zones.iter().find(|z| z.origin == zone.origin) else {
                continue;
            };
            for (name, sets) in &zone.sets {
                let Some(old_sets) = before.sets.get(name) else {
                    continue;
                };
                for set in sets {
                    let Some(old) = old_sets.iter().find(|o| o.record_type == set.record_type)
                    else {
                        continue;
                    };
                    set.last_answer_ms
                        .store(old.last_answer_ms.load(Relaxed), Relaxed);
                    set.last_members
                        .store(old.last_members.load(Relaxed), Relaxed);
                    for (member, old_member) in set.members.iter().zip(&old.members) {
                        member
                            .answers
                            .store(old_member.answers.load(Relaxed), Relaxed);
                    }
                }
            }
        }
    }
}

fn values(values: &MemberValues, sources: &Sources<'_>) -> Values {
    match values {
        MemberValues::Records(records) => Values::Records(records.clone()),
        MemberValues::Alias {
            target: AliasTarget::TargetGroup(group),
            ..
        } => Values::Targets(
            (sources.group)(group)
                .into_iter()
                .map(|(a, s)| (a.ip(), s))
                .collect(),
        ),
        MemberValues::Alias {
            target: AliasTarget::Listener(listener),
            ..
        } => match (sources.listener)(listener) {
            Some(address) => Values::Address(address.ip()),
            None => Values::Records(Vec::new()),
        },
        MemberValues::Alias {
            target: AliasTarget::Cluster,
            ..
        } => Values::Addresses(sources.cluster.to_vec()),
    }
}

fn health(
    member: &ballast_config::MemberConfig,
    find: &impl Fn(&str) -> Option<Arc<Check>>,
    sources: &Sources<'_>,
) -> Health {
    if let Some(check) = member.health_check.as_deref().and_then(find) {
        return Health::Check(check);
    }
    match &member.values {
        MemberValues::Alias {
            target: AliasTarget::TargetGroup(group),
            evaluate_target_health: true,
        } => Health::Group((sources.group)(group).into_iter().map(|(_, s)| s).collect()),
        _ => Health::Always,
    }
}

/// The checks: endpoint and group checks first, then calculated ones over them.
fn build_checks(config: &DnsConfig, sources: &Sources<'_>) -> Vec<Arc<Check>> {
    let mut built: Vec<Arc<Check>> = Vec::new();
    for check in &config.health_checks {
        let source = match &check.kind {
            DnsCheckKind::Endpoint { .. } => match sources.check_states.get(&check.name) {
                Some(state) => CheckSource::Endpoint(Arc::clone(state)),
                None => continue,
            },
            DnsCheckKind::TargetGroup(group) => {
                CheckSource::Group((sources.group)(group).into_iter().map(|(_, s)| s).collect())
            }
            DnsCheckKind::Calculated { .. } => continue,
        };
        built.push(Arc::new(Check {
            name: Arc::clone(&check.name),
            source,
            invert: check.invert,
        }));
    }
    for check in &config.health_checks {
        if let DnsCheckKind::Calculated {
            children,
            healthy_threshold,
        } = &check.kind
        {
            let children = children
                .iter()
                .filter_map(|c| built.iter().find(|b| b.name == *c).cloned())
                .collect();
            built.push(Arc::new(Check {
                name: Arc::clone(&check.name),
                source: CheckSource::Calculated {
                    children,
                    threshold: *healthy_threshold as usize,
                },
                invert: check.invert,
            }));
        }
    }
    built.sort_by(|a, b| a.name.cmp(&b.name));
    built
}
