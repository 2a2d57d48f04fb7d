//! The response to one query, as an authoritative server gives it: the zone's records chosen
//! by their routing policy, CNAMEs followed within the zone, NXDOMAIN or NODATA with the SOA
//! in the authority section, the AA flag, EDNS(0), REFUSED outside the zones. Pure but for the
//! health it reads; truncation to the client's size is [`encode`]'s.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ballast_config::{RData, RecordType};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, LowerName, Record};

use crate::select::{select, Candidate};
use crate::snapshot::{DnsSnapshot, RecordSet, Values, Zone};

/// The UDP payload this server advertises and answers within (the DNS Flag Day 2020 value:
/// no IP fragmentation on common paths).
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// CNAMEs followed within a zone before the answer stops.
const MAX_CNAME_CHAIN: usize = 8;

/// The response to `request`, or `None` when it is not a query (a response is never
/// answered, so two servers cannot bounce packets).
pub fn respond(
    snapshot: &DnsSnapshot,
    request: &Message,
    now: Instant,
    random: &mut impl FnMut(u64) -> u64,
) -> Option<Message> {
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.checking_disabled = request.metadata.checking_disabled;
    response.add_queries(request.queries.iter().cloned());
    if let Some(edns) = &request.edns {
        let mut ours = Edns::new();
        ours.set_max_payload(MAX_UDP_PAYLOAD);
        response.set_edns(ours);
        if edns.version() > 0 {
            response.metadata.response_code = ResponseCode::BADVERS;
            return Some(response);
        }
    }
    if request.metadata.op_code != OpCode::Query {
        response.metadata.response_code = ResponseCode::NotImp;
        return Some(response);
    }
    let [query] = request.queries.as_slice() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return Some(response);
    };
    let name = LowerName::new(query.name());
    // Names outside the zones (which only a resolver would chase) and other classes: REFUSED.
    let zone = snapshot
        .zones
        .iter()
        .filter(|z| z.origin.zone_of(&name))
        .max_by_key(|z| z.origin.num_labels());
    let (Some(zone), DNSClass::IN) = (zone, query.query_class()) else {
        response.metadata.response_code = ResponseCode::Refused;
        return Some(response);
    };
    response.metadata.authoritative = true;
    let mut qname = name;
    for _ in 0..MAX_CNAME_CHAIN {
        match lookup(zone, &qname, query.query_type(), now, random) {
            Lookup::Records(records) => {
                response.add_answers(records);
                return Some(response);
            }
            Lookup::Cname(record, target) => {
                response.add_answer(*record);
                // A target outside this zone is the resolver's to chase.
                if !zone.origin.zone_of(&target) {
                    return Some(response);
                }
                qname = target;
            }
            Lookup::NoData => {
                response.add_authority(negative_soa(zone));
                return Some(response);
            }
            Lookup::NxDomain => {
                // After a CNAME the first name exists: the rcode is the chain's end's
                // (RFC 6604), NXDOMAIN.
                response.metadata.response_code = ResponseCode::NXDomain;
                response.add_authority(negative_soa(zone));
                return Some(response);
            }
        }
    }
    Some(response)
}

enum Lookup {
    Records(Vec<Record>),
    Cname(Box<Record>, LowerName),
    NoData,
    NxDomain,
}

fn lookup(
    zone: &Zone,
    name: &LowerName,
    qtype: RecordType,
    now: Instant,
    random: &mut impl FnMut(u64) -> u64,
) -> Lookup {
    let apex = *name == zone.origin;
    if apex && qtype == RecordType::SOA {
        return Lookup::Records(vec![zone.soa.clone()]);
    }
    if apex && qtype == RecordType::NS {
        return Lookup::Records(zone.ns.clone());
    }
    let Some(sets) = zone.sets.get(name) else {
        return if apex || zone.interior.contains(name) {
            Lookup::NoData
        } else {
            Lookup::NxDomain
        };
    };
    if let Some(cname) = sets.iter().find(|s| s.record_type == RecordType::CNAME) {
        if qtype != RecordType::CNAME {
            if let Some(record) = records(cname, now, random).into_iter().next() {
                if let RData::CNAME(target) = &record.data {
                    let target = LowerName::new(&target.0);
                    return Lookup::Cname(Box::new(record), target);
                }
            }
        }
    }
    // ANY is answered with one record set (RFC 8482): enough for a client, little to reflect.
    let wanted = sets
        .iter()
        .find(|s| s.record_type == qtype || (qtype == RecordType::ANY));
    match wanted.map(|set| records(set, now, random)) {
        Some(found) if !found.is_empty() => Lookup::Records(found),
        _ => Lookup::NoData,
    }
}

/// The records a set answers now: the members its routing policy picks, each member's data.
fn records(set: &RecordSet, now: Instant, random: &mut impl FnMut(u64) -> u64) -> Vec<Record> {
    let candidates: Vec<Candidate> = set
        .members
        .iter()
        .map(|m| Candidate {
            healthy: m.health.is_healthy(now),
            weight: m.weight,
            primary: m.primary,
        })
        .collect();
    let mut out = Vec::new();
    let chosen = select(set.routing, &candidates, random);
    // What the admin API shows of the last answers: relaxed counters, no lock.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    set.last_answer_ms.store(now_ms, Ordering::Relaxed);
    let bits = chosen
        .iter()
        .filter(|&&i| i < 64)
        .fold(0u64, |bits, &i| bits | 1 << i);
    set.last_members.store(bits, Ordering::Relaxed);
    for i in chosen {
        set.members[i].answers.fetch_add(1, Ordering::Relaxed);
        let record = |data: RData| Record::from_rdata(set.name.clone(), set.ttl, data);
        match &set.members[i].values {
            Values::Records(data) => out.extend(data.iter().cloned().map(record)),
            Values::Address(ip) => out.extend(address(*ip, set.record_type).map(record)),
            Values::Addresses(ips) => out.extend(
                ips.iter()
                    .filter_map(|ip| address(*ip, set.record_type))
                    .map(record),
            ),
            Values::Targets(targets) => {
                let serving: Vec<IpAddr> = targets
                    .iter()
                    .filter(|(_, s)| s.is_eligible(now))
                    .map(|(ip, _)| *ip)
                    .collect();
                // None may take traffic: all registered ones, as the group itself fails open.
                let ips = if serving.is_empty() {
                    targets
                        .iter()
                        .filter(|(_, s)| s.is_registered())
                        .map(|(ip, _)| *ip)
                        .collect()
                } else {
                    serving
                };
                let mut unique: Vec<IpAddr> = Vec::with_capacity(ips.len());
                for ip in ips {
                    if !unique.contains(&ip) {
                        unique.push(ip);
                    }
                }
                out.extend(
                    unique
                        .into_iter()
                        .filter_map(|ip| address(ip, set.record_type))
                        .map(record),
                );
            }
        }
    }
    out
}

/// `ip` as the data of an `A` or `AAAA` record, when it is of that family.
fn address(ip: IpAddr, record_type: RecordType) -> Option<RData> {
    match (ip, record_type) {
        (IpAddr::V4(v4), RecordType::A) => Some(RData::A(A(v4))),
        (IpAddr::V6(v6), RecordType::AAAA) => Some(RData::AAAA(AAAA(v6))),
        _ => None,
    }
}

/// The SOA for a negative answer's authority section, with the negative TTL.
fn negative_soa(zone: &Zone) -> Record {
    let mut soa = zone.soa.clone();
    soa.ttl = zone.negative_ttl;
    soa
}

/// The wire form of `response` within `limit` bytes: when it does not fit, the same header
/// and question with no records and the TC bit, so the client asks again over TCP.
pub fn encode(response: &Message, limit: usize) -> Option<Vec<u8>> {
    let bytes = response.to_vec().ok()?;
    if bytes.len() <= limit {
        return Some(bytes);
    }
    let mut truncated = response.truncate();
    truncated.metadata.id = response.metadata.id;
    truncated.to_vec().ok()
}

/// The most a UDP answer to `request` may take: the client's EDNS payload size (at least
/// 512, at most ours), or 512 without EDNS.
pub fn udp_limit(request: &Message) -> usize {
    request.edns.as_ref().map_or(512, |e| {
        usize::from(e.max_payload().clamp(512, MAX_UDP_PAYLOAD))
    })
}

/// A FORMERR answer to bytes that did not parse as a message, when at least the header's id
/// can be read; `None` for anything shorter (dropped).
pub fn format_error(bytes: &[u8]) -> Option<Vec<u8>> {
    let id = u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]);
    // A response (QR set) is never answered.
    if bytes.get(2).is_some_and(|flags| flags & 0x80 != 0) || bytes.len() < 12 {
        return None;
    }
    let mut message = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
    message.metadata.message_type = MessageType::Response;
    message.to_vec().ok()
}

#[cfg(test)]
mod tests;
