//! Validation of `[dns]`: the bind address, zones, record sets with their values parsed by
//! hickory, routing policies and their members. Health checks are in `dns/checks.rs`.

use crate::defaults::*;
use crate::dns::*;
use crate::error::{ErrorKind, KeyPath};
use crate::raw::{RawDns, RawZone};
use crate::ListenerConfig;
use std::collections::HashMap;

use super::Validator;

mod checks;
mod records;

/// What a record set may refer to: target groups, listeners, health checks.
pub(super) struct DnsRefs<'a> {
    pub(super) groups: &'a [String],
    pub(super) listeners: &'a [ListenerConfig],
    pub(super) checks: Vec<String>,
    /// The document has a `[cluster]`: an alias may answer with its nodes.
    pub(super) cluster: bool,
}

impl Validator {
    /// `[dns]`, when present.
    pub(super) fn dns(
        &mut self,
        at: &KeyPath,
        raw: Option<&RawDns>,
        groups: &[String],
        listeners: &[ListenerConfig],
        cluster: bool,
    ) -> Option<DnsConfig> {
        let raw = raw?;
        let bind = self.socket_addr(&at.key("bind"), &raw.bind);
        // The server takes the port on UDP and TCP: no listener may hold either.
        // As listeners among themselves: port 0 never clashes, an unspecified address claims
        // the port on every address of its family.
        let clashes = |a: std::net::SocketAddr, b: std::net::SocketAddr| {
            a.port() != 0
                && a.port() == b.port()
                && a.is_ipv4() == b.is_ipv4()
                && (a == b || a.ip().is_unspecified() || b.ip().is_unspecified())
        };
        if let Some(other) = bind.and_then(|b| listeners.iter().find(|l| clashes(b, l.bind))) {
            self.error(
                at.key("bind"),
                ErrorKind::Conflict {
                    what: format!("address {}", other.bind),
                    other: KeyPath::root()
                        .key("listeners")
                        .key(&other.name.0)
                        .key("bind")
                        .to_string(),
                },
            );
        }
        let responses_per_second = self.count(
            &at.key("responses_per_second"),
            raw.responses_per_second,
            DEFAULT_DNS_RESPONSES_PER_SECOND as usize,
            0..=1_000_000,
        ) as u32;
        let health_checks = self.dns_checks(&at.key("health_checks"), &raw.health_checks, groups);
        let refs = DnsRefs {
            groups,
            listeners,
            checks: raw.health_checks.keys().cloned().collect(),
            cluster,
        };
        let mut zones = Vec::new();
        let zones_at = at.key("zones");
        if self.within(&zones_at, raw.zones.len(), MAX_DNS_ZONES, "zones") {
            for (origin, zone) in &raw.zones {
                if let Some(zone) = self.dns_zone(&zones_at.key(origin), origin, zone, &refs) {
                    zones.push(zone);
                }
            }
        }
        for (i, a) in zones.iter().enumerate() {
            for b in &zones[i + 1..] {
                if a.origin.zone_of(&b.origin) || b.origin.zone_of(&a.origin) {
                    self.error(
                        zones_at.key(&b.origin.to_string()),
                        ErrorKind::Conflict {
                            what: format!("names under {}", b.origin),
                            other: zones_at.key(&a.origin.to_string()).to_string(),
                        },
                    );
                }
            }
        }
        Some(DnsConfig {
            bind: bind?,
            responses_per_second,
            zones,
            health_checks,
        })
    }

    fn dns_zone(
        &mut self,
        at: &KeyPath,
        origin: &str,
        raw: &RawZone,
        refs: &DnsRefs<'_>,
    ) -> Option<ZoneConfig> {
        let origin_name = match Name::from_ascii(origin) {
            Ok(name) if name.is_fqdn() && !name.is_root() => name.to_lowercase(),
            _ => {
                self.invalid(
                    at.clone(),
                    format!("zone \"{origin}\""),
                    "an absolute domain name ending with a dot, such as \"example.com.\"",
                );
                return None;
            }
        };
        let ttl = seconds(self.duration(&at.key("ttl"), raw.ttl.as_deref(), DEFAULT_DNS_TTL));
        if raw.ns.is_empty() {
            self.invalid(at.key("ns"), "[]", "at least one name server");
        }
        let ns: Vec<Name> = raw
            .ns
            .iter()
            .enumerate()
            .filter_map(|(i, n)| self.dns_name(&at.key("ns").index(i), n, &origin_name, false))
            .collect();
        let soa = self.soa(&at.key("soa"), raw, &origin_name, ns.first());
        let mut record_sets: Vec<RecordSetConfig> = Vec::new();
        let mut seen: HashMap<(Name, RecordType), KeyPath> = HashMap::new();
        let records_at = at.key("records");
        if !self.within(
            &records_at,
            raw.records.len(),
            MAX_DNS_RECORD_SETS,
            "record sets",
        ) {
            return None;
        }
        for (i, set) in raw.records.iter().enumerate() {
            let path = records_at.index(i);
            let Some(set) = self.record_set(&path, set, &origin_name, ttl, refs) else {
                continue;
            };
            let key = (set.name.clone(), set.record_type);
            if let Some(other) = seen.get(&key) {
                self.error(
                    path.key("name"),
                    ErrorKind::Conflict {
                        what: format!("record set {} {}", set.name, set.record_type),
                        other: other.to_string(),
                    },
                );
                continue;
            }
            seen.insert(key, path.clone());
            record_sets.push(set);
        }
        // A CNAME owns its name alone (RFC 1034 3.6.2), and never the zone's apex.
        for set in record_sets
            .iter()
            .filter(|s| s.record_type == RecordType::CNAME)
        {
            let shared = record_sets
                .iter()
                .any(|o| o.name == set.name && o.record_type != RecordType::CNAME);
            if shared || set.name == origin_name {
                let at = seen[&(set.name.clone(), RecordType::CNAME)].key("name");
                self.invalid(
                    at,
                    format!("a CNAME at {}", set.name),
                    "a name with no other record set, below the zone's apex",
                );
            }
        }
        Some(ZoneConfig {
            origin: origin_name,
            soa: soa?,
            ns,
            ttl,
            record_sets,
        })
    }

    fn soa(
        &mut self,
        at: &KeyPath,
        raw: &RawZone,
        origin: &Name,
        first_ns: Option<&Name>,
    ) -> Option<SoaConfig> {
        let soa = raw.soa.clone().unwrap_or(crate::raw::RawSoa {
            mname: None,
            rname: None,
            serial: None,
            refresh: None,
            retry: None,
            expire: None,
            minimum: None,
        });
        let mname = match &soa.mname {
            Some(n) => self.dns_name(&at.key("mname"), n, origin, false)?,
            None => first_ns?.clone(),
        };
        let rname = match &soa.rname {
            Some(n) => self.dns_name(&at.key("rname"), n, origin, false)?,
            None => Name::from_ascii("hostmaster")
                .ok()?
                .append_domain(origin)
                .ok()?,
        };
        let mut time = |key: &str, value: &Option<String>, default| {
            seconds(self.duration(&at.key(key), value.as_deref(), default))
        };
        Some(SoaConfig {
            mname,
            rname,
            refresh: time("refresh", &soa.refresh, DEFAULT_DNS_SOA_REFRESH),
            retry: time("retry", &soa.retry, DEFAULT_DNS_SOA_RETRY),
            expire: time("expire", &soa.expire, DEFAULT_DNS_SOA_EXPIRE),
            minimum: time("minimum", &soa.minimum, DEFAULT_DNS_SOA_MINIMUM),
            serial: self.count(&at.key("serial"), soa.serial, 1, 0..=u32::MAX as usize) as u32,
        })
    }

    /// A name in a zone: `@` is the origin, one ending with a dot is absolute (and must be
    /// in the zone when `in_zone`), any other is relative to the origin.
    fn dns_name(&mut self, at: &KeyPath, text: &str, origin: &Name, in_zone: bool) -> Option<Name> {
        let name = if text == "@" {
            Ok(origin.clone())
        } else {
            Name::from_ascii(text).and_then(|n| {
                if n.is_fqdn() {
                    Ok(n)
                } else {
                    n.append_domain(origin)
                }
            })
        };
        match name {
            Ok(name) if !in_zone || origin.zone_of(&name) => Some(name.to_lowercase()),
            Ok(_) => {
                self.invalid(
                    at.clone(),
                    format!("\"{text}\""),
                    format!("a name in the zone {origin}"),
                );
                None
            }
            Err(e) => {
                self.invalid(
                    at.clone(),
                    format!("\"{text}\""),
                    format!("a domain name: {e}"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
