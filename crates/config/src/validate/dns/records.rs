//! Validation of a zone's record sets: their names, types, values (parsed by hickory),
//! routing policies, members and aliases.

use std::sync::Arc;

use hickory_proto::rr::rdata::TXT;

use crate::defaults::*;
use crate::dns::*;
use crate::error::{unknown_reference, KeyPath};
use crate::raw::{RawAlias, RawMember, RawRecordSet};
use crate::{GroupName, ListenerName};

use super::{DnsRefs, Validator};

impl Validator {
    pub(super) fn record_set(
        &mut self,
        at: &KeyPath,
        raw: &RawRecordSet,
        origin: &Name,
        zone_ttl: u32,
        refs: &DnsRefs<'_>,
    ) -> Option<RecordSetConfig> {
        let name = self.dns_name(&at.key("name"), &raw.name, origin, true);
        let record_type = match raw.r#type.to_ascii_uppercase().as_str() {
            "A" => RecordType::A,
            "AAAA" => RecordType::AAAA,
            "CNAME" => RecordType::CNAME,
            "TXT" => RecordType::TXT,
            "SRV" => RecordType::SRV,
            "MX" => RecordType::MX,
            "CAA" => RecordType::CAA,
            other => {
                self.invalid(at.key("type"), format!("\"{other}\""), "\"A\", \"AAAA\", \"CNAME\", \"TXT\", \"SRV\", \"MX\" or \"CAA\" (SOA and NS come from the zone's keys)");
                return None;
            }
        };
        let ttl = seconds(self.duration(
            &at.key("ttl"),
            raw.ttl.as_deref(),
            std::time::Duration::from_secs(u64::from(zone_ttl)),
        ));
        let routing = match raw.routing.as_deref().unwrap_or("simple") {
            "simple" => Routing::Simple,
            "weighted" => Routing::Weighted,
            "failover" => Routing::Failover,
            "multivalue" => Routing::Multivalue,
            other => {
                self.invalid(at.key("routing"), format!("\"{other}\""), "\"simple\", \"weighted\", \"failover\" or \"multivalue\" (geolocation and latency routing are not offered)");
                return None;
            }
        };
        let members = if routing == Routing::Simple {
            if raw.members.is_some() {
                self.invalid(
                    at.key("members"),
                    "members",
                    "values or alias: a simple record set has no members",
                );
            }
            let member = RawMember {
                values: raw.values.clone(),
                alias: raw.alias.clone(),
                weight: None,
                role: None,
                health_check: None,
            };
            vec![self.member(at, &member, record_type, routing, refs)?]
        } else {
            if raw.values.is_some() || raw.alias.is_some() {
                self.invalid(
                    at.key("values"),
                    "values",
                    format!(
                        "members: a {} record set answers its members' values",
                        routing.name()
                    ),
                );
            }
            let Some(raw_members) = raw.members.as_ref().filter(|m| !m.is_empty()) else {
                self.invalid(
                    at.key("members"),
                    "nothing",
                    format!("members: a {} record set needs them", routing.name()),
                );
                return None;
            };
            if !self.within(
                &at.key("members"),
                raw_members.len(),
                MAX_DNS_MEMBERS,
                "members",
            ) {
                return None;
            }
            let members: Vec<MemberConfig> = raw_members
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    self.member(&at.key("members").index(i), m, record_type, routing, refs)
                })
                .collect();
            if routing == Routing::Failover {
                let primaries = members.iter().filter(|m| m.primary).count();
                if members.len() != 2 || primaries != 1 {
                    self.invalid(
                        at.key("members"),
                        format!("{} members, {primaries} primary", members.len()),
                        "one member with role = \"primary\" and one with role = \"secondary\"",
                    );
                }
            }
            members
        };
        Some(RecordSetConfig {
            name: name?,
            record_type,
            ttl,
            routing,
            members,
        })
    }

    fn member(
        &mut self,
        at: &KeyPath,
        raw: &RawMember,
        record_type: RecordType,
        routing: Routing,
        refs: &DnsRefs<'_>,
    ) -> Option<MemberConfig> {
        let values = match (&raw.values, &raw.alias) {
            (Some(values), None) if !values.is_empty() => {
                let parsed: Vec<RData> = values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| self.rdata(&at.key("values").index(i), record_type, v))
                    .collect();
                MemberValues::Records(parsed)
            }
            (None, Some(alias)) => self.alias(&at.key("alias"), alias, record_type, refs)?,
            _ => {
                self.invalid(
                    at.key("values"),
                    "nothing",
                    "either values (a non-empty list) or alias",
                );
                return None;
            }
        };
        let weight = match (routing, raw.weight) {
            (Routing::Weighted, None) => {
                self.invalid(
                    at.key("weight"),
                    "nothing",
                    "weight: a weighted member needs one, from 0 to 255",
                );
                0
            }
            (Routing::Weighted, w) => self.count(&at.key("weight"), w, 0, 0..=255) as u8,
            (_, Some(_)) => {
                self.invalid(
                    at.key("weight"),
                    "weight",
                    "no weight: only weighted members have one",
                );
                0
            }
            (_, None) => 0,
        };
        let primary = match (routing, raw.role.as_deref()) {
            (Routing::Failover, Some("primary")) => true,
            (Routing::Failover, Some("secondary")) => false,
            (Routing::Failover, other) => {
                self.invalid(
                    at.key("role"),
                    format!("{other:?}"),
                    "\"primary\" or \"secondary\"",
                );
                false
            }
            (_, Some(_)) => {
                self.invalid(
                    at.key("role"),
                    "role",
                    "no role: only failover members have one",
                );
                false
            }
            (_, None) => false,
        };
        let health_check = match &raw.health_check {
            Some(name) if refs.checks.contains(name) => Some(Arc::from(name.as_str())),
            Some(name) => {
                self.error(
                    at.key("health_check"),
                    unknown_reference("DNS health check", name, &refs.checks),
                );
                None
            }
            None => None,
        };
        Some(MemberConfig {
            values,
            weight,
            primary,
            health_check,
        })
    }

    /// One value in the type's presentation format; TXT values are the text itself.
    fn rdata(&mut self, at: &KeyPath, record_type: RecordType, text: &str) -> Option<RData> {
        if record_type == RecordType::TXT {
            let chunks = text
                .as_bytes()
                .chunks(255)
                .map(|c| String::from_utf8_lossy(c).into_owned());
            return Some(RData::TXT(TXT::new(chunks.collect())));
        }
        let parsed = RData::try_from_str(record_type, text).map_err(|e| e.to_string());
        let relative = |n: &Name| !n.is_fqdn();
        let check = parsed.and_then(|rdata| match &rdata {
            RData::CNAME(n) if relative(n) => Err("a name ending with a dot".to_owned()),
            RData::MX(mx) if relative(&mx.exchange) => {
                Err("an exchange ending with a dot".to_owned())
            }
            RData::SRV(srv) if relative(&srv.target) => {
                Err("a target ending with a dot".to_owned())
            }
            _ => Ok(rdata),
        });
        match check {
            Ok(rdata) => Some(rdata),
            Err(reason) => {
                self.invalid(
                    at.clone(),
                    format!("\"{text}\""),
                    format!("a value of type {record_type}: {reason}"),
                );
                None
            }
        }
    }

    fn alias(
        &mut self,
        at: &KeyPath,
        raw: &RawAlias,
        record_type: RecordType,
        refs: &DnsRefs<'_>,
    ) -> Option<MemberValues> {
        if !matches!(record_type, RecordType::A | RecordType::AAAA) {
            self.invalid(
                at.clone(),
                format!("an alias on {record_type}"),
                "an alias on an A or AAAA record set",
            );
            return None;
        }
        let evaluate_target_health = raw.evaluate_target_health.unwrap_or(false);
        let target = match (&raw.target_group, &raw.listener, raw.cluster) {
            (None, None, Some(true)) if refs.cluster => {
                if evaluate_target_health {
                    self.invalid(
                        at.key("evaluate_target_health"),
                        "true",
                        "false: the cluster's nodes are answered while their lease lives",
                    );
                }
                AliasTarget::Cluster
            }
            (None, None, Some(true)) => {
                self.invalid(
                    at.key("cluster"),
                    "true without a [cluster] table",
                    "a [cluster] table: the alias answers with the cluster's live nodes",
                );
                return None;
            }
            (Some(group), None, None) if refs.groups.contains(group) => {
                AliasTarget::TargetGroup(GroupName::from(group.as_str()))
            }
            (Some(group), None, None) => {
                self.error(
                    at.key("target_group"),
                    unknown_reference("target group", group, refs.groups),
                );
                return None;
            }
            (None, Some(name), None) => {
                let Some(listener) = refs.listeners.iter().find(|l| *l.name.0 == **name) else {
                    let known: Vec<String> = refs
                        .listeners
                        .iter()
                        .map(|l| l.name.0.to_string())
                        .collect();
                    self.error(
                        at.key("listener"),
                        unknown_reference("listener", name, &known),
                    );
                    return None;
                };
                if listener.bind.ip().is_unspecified() {
                    self.invalid(
                        at.key("listener"),
                        format!("listener {name} on {}", listener.bind),
                        "a listener bound to one address (a wildcard one has no address to answer)",
                    );
                    return None;
                }
                if evaluate_target_health {
                    self.invalid(
                        at.key("evaluate_target_health"),
                        "true",
                        "false: a listener alias has no targets to evaluate",
                    );
                }
                AliasTarget::Listener(ListenerName::from(name.as_str()))
            }
            _ => {
                self.invalid(
                    at.clone(),
                    "alias",
                    "exactly one of target_group, listener and cluster = true",
                );
                return None;
            }
        };
        Some(MemberValues::Alias {
            target,
            evaluate_target_health,
        })
    }
}
