use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use ballast_balance::{HealthReason, HealthState, TargetState};
use hickory_proto::op::Query;
use hickory_proto::rr::Name;

use super::*;
use crate::snapshot::Sources;

const CONFIG: &str = r#"
[listeners.web]
bind = "127.0.0.1:8080"
default_action = { forward = "app" }

[target_groups.app]
targets = ["127.0.0.1:9000"]

[dns]
bind = "127.0.0.1:5353"

[dns.zones."example.com."]
ns = ["ns1"]
records = [
  { name = "@", type = "A", values = ["192.0.2.1"] },
  { name = "www", type = "CNAME", values = ["example.com."] },
  { name = "out", type = "CNAME", values = ["elsewhere.example.org."] },
  { name = "a.b.deep", type = "TXT", values = ["hello"] },
  { name = "site", type = "A", routing = "failover", members = [
    { values = ["192.0.2.10"], role = "primary", health_check = "p" },
    { values = ["192.0.2.20"], role = "secondary" },
  ] },
  { name = "big", type = "TXT", values = [
    "0123456789012345678901234567890123456789012345678901234567890123456789",
    "1123456789012345678901234567890123456789012345678901234567890123456789",
    "2123456789012345678901234567890123456789012345678901234567890123456789",
    "3123456789012345678901234567890123456789012345678901234567890123456789",
    "4123456789012345678901234567890123456789012345678901234567890123456789",
    "5123456789012345678901234567890123456789012345678901234567890123456789",
    "6123456789012345678901234567890123456789012345678901234567890123456789",
    "7123456789012345678901234567890123456789012345678901234567890123456789",
  ] },
  { name = "lb", type = "A", alias = { target_group = "app" } },
  { name = "me", type = "A", alias = { listener = "web" } },
]

[dns.health_checks.p]
type = "tcp"
endpoint = "192.0.2.10:80"
"#;

struct World {
    snapshot: DnsSnapshot,
    primary: Arc<TargetState>,
    target: Arc<TargetState>,
}

fn world() -> World {
    let config = ballast_config::parse(CONFIG).unwrap();
    let primary = Arc::new(TargetState::new(HealthState::Healthy, HealthReason::None));
    let target = Arc::new(TargetState::new(HealthState::Healthy, HealthReason::None));
    let checks = HashMap::from([(Arc::from("p"), Arc::clone(&primary))]);
    let t = Arc::clone(&target);
    let group = move |_: &ballast_config::GroupName| {
        vec![(
            "127.0.0.1:9000".parse::<SocketAddr>().unwrap(),
            Arc::clone(&t),
        )]
    };
    let listener = |_: &ballast_config::ListenerName| "127.0.0.1:8080".parse().ok();
    let sources = Sources {
        check_states: &checks,
        group: &group,
        listener: &listener,
        cluster: &[],
    };
    World {
        snapshot: DnsSnapshot::build(config.dns.as_ref().unwrap(), &sources),
        primary,
        target,
    }
}

fn ask(world: &World, name: &str, qtype: RecordType) -> Message {
    let mut request = Message::query();
    request.metadata.recursion_desired = true;
    request.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let mut random = |n: u64| n.saturating_sub(1);
    respond(&world.snapshot, &request, Instant::now(), &mut random).unwrap()
}

fn texts(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.data.to_string()).collect()
}

#[test]
fn answers_are_authoritative_and_follow_cnames_within_the_zone() {
    let w = world();
    let apex = ask(&w, "Example.COM.", RecordType::A);
    assert!(apex.metadata.authoritative);
    assert!(!apex.metadata.recursion_available);
    assert_eq!(apex.metadata.response_code, ResponseCode::NoError);
    assert_eq!(texts(&apex.answers), ["192.0.2.1"]);
    let www = ask(&w, "www.example.com.", RecordType::A);
    assert_eq!(texts(&www.answers), ["example.com.", "192.0.2.1"]);
    let out = ask(&w, "out.example.com.", RecordType::A);
    assert_eq!(texts(&out.answers), ["elsewhere.example.org."]);
    let soa = ask(&w, "example.com.", RecordType::SOA);
    assert_eq!(soa.answers.len(), 1);
    let ns = ask(&w, "example.com.", RecordType::NS);
    assert_eq!(texts(&ns.answers), ["ns1.example.com."]);
}

#[test]
fn nxdomain_and_nodata_carry_the_soa_with_the_negative_ttl() {
    let w = world();
    let missing = ask(&w, "nope.example.com.", RecordType::A);
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    assert!(missing.answers.is_empty());
    assert_eq!(missing.authorities.len(), 1);
    assert_eq!(missing.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(missing.authorities[0].ttl, 60);
    let nodata = ask(&w, "example.com.", RecordType::AAAA);
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert_eq!(nodata.authorities[0].record_type(), RecordType::SOA);
    // A name with only a name below it exists: NODATA.
    let interior = ask(&w, "b.deep.example.com.", RecordType::A);
    assert_eq!(interior.metadata.response_code, ResponseCode::NoError);
    assert!(interior.metadata.authoritative);
}

#[test]
fn outside_the_zones_and_other_classes_are_refused() {
    let w = world();
    let other = ask(&w, "example.org.", RecordType::A);
    assert_eq!(other.metadata.response_code, ResponseCode::Refused);
    assert!(!other.metadata.authoritative);
    let mut chaos = Message::query();
    let mut query = Query::query(Name::from_ascii("example.com.").unwrap(), RecordType::TXT);
    query.set_query_class(DNSClass::CH);
    chaos.add_query(query);
    let answer = respond(&w.snapshot, &chaos, Instant::now(), &mut |n| n - 1).unwrap();
    assert_eq!(answer.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn failover_follows_the_primarys_check_and_aliases_the_targets() {
    let w = world();
    assert_eq!(
        texts(&ask(&w, "site.example.com.", RecordType::A).answers),
        ["192.0.2.10"]
    );
    w.primary
        .set_state(HealthState::Unhealthy, HealthReason::None, Instant::now());
    assert_eq!(
        texts(&ask(&w, "site.example.com.", RecordType::A).answers),
        ["192.0.2.20"]
    );
    assert_eq!(
        texts(&ask(&w, "lb.example.com.", RecordType::A).answers),
        ["127.0.0.1"]
    );
    // No target may take traffic: the registered ones all the same.
    w.target
        .set_state(HealthState::Unhealthy, HealthReason::None, Instant::now());
    assert_eq!(
        texts(&ask(&w, "lb.example.com.", RecordType::A).answers),
        ["127.0.0.1"]
    );
    assert_eq!(
        texts(&ask(&w, "me.example.com.", RecordType::A).answers),
        ["127.0.0.1"]
    );
    assert!(ask(&w, "me.example.com.", RecordType::AAAA)
        .answers
        .is_empty());
}

#[test]
fn edns_big_answers_truncation_and_bad_packets() {
    let w = world();
    let mut request = Message::query();
    request.add_query(Query::query(
        Name::from_ascii("big.example.com.").unwrap(),
        RecordType::TXT,
    ));
    let plain = respond(&w.snapshot, &request, Instant::now(), &mut |n| n - 1).unwrap();
    assert_eq!(udp_limit(&request), 512);
    let bytes = encode(&plain, udp_limit(&request)).unwrap();
    let truncated = Message::from_vec(&bytes).unwrap();
    assert!(truncated.metadata.truncation);
    assert!(truncated.answers.is_empty());
    assert_eq!(truncated.metadata.id, request.metadata.id);
    // With EDNS and 4096 bytes offered, it fits in our 1232.
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    request.set_edns(edns);
    assert_eq!(udp_limit(&request), 1232);
    let answer = respond(&w.snapshot, &request, Instant::now(), &mut |n| n - 1).unwrap();
    assert_eq!(answer.edns.as_ref().map(Edns::max_payload), Some(1232));
    let whole = Message::from_vec(&encode(&answer, udp_limit(&request)).unwrap()).unwrap();
    assert_eq!(whole.answers.len(), 8);
    // EDNS version 1: BADVERS.
    let mut v1 = Edns::new();
    v1.set_version(1);
    request.set_edns(v1);
    let bad = respond(&w.snapshot, &request, Instant::now(), &mut |n| n - 1).unwrap();
    assert_eq!(bad.metadata.response_code, ResponseCode::BADVERS);
    // Garbage with a header gets FORMERR; a response or a runt gets nothing.
    let garbage = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xff];
    let formerr = Message::from_vec(&format_error(&garbage).unwrap()).unwrap();
    assert_eq!(
        (formerr.metadata.id, formerr.metadata.response_code),
        (0x1234, ResponseCode::FormErr)
    );
    assert!(format_error(&[1, 2, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_none());
    assert!(format_error(&[1]).is_none());
    let mut response = plain.clone();
    response.metadata.message_type = MessageType::Response;
    assert!(respond(&w.snapshot, &response, Instant::now(), &mut |n| n - 1).is_none());
}

#[test]
fn answer_counts_survive_a_rebuild_of_the_snapshot() {
    use std::sync::atomic::Ordering::Relaxed;
    let w = world();
    ask(&w, "site.example.com.", RecordType::A);
    ask(&w, "site.example.com.", RecordType::A);
    let next = world();
    next.snapshot.carry_counts(&w.snapshot);
    let zone = &next.snapshot.zones[0];
    let site = &zone.sets[&LowerName::new(&Name::from_ascii("site.example.com.").unwrap())][0];
    assert_eq!(site.members[0].answers.load(Relaxed), 2);
    assert_eq!(site.members[1].answers.load(Relaxed), 0);
    assert!(site.last_answer_ms.load(Relaxed) > 0);
    assert_eq!(site.last_members.load(Relaxed), 0b01, "the primary");
}
