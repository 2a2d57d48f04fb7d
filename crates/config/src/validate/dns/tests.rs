use crate::dns::*;
use crate::parse;

const BASE: &str = "[listeners.web]\nbind = \"127.0.0.1:8080\"\ndefault_action = { forward = \"app\" }\n\n[target_groups.app]\ntargets = [\"127.0.0.1:9000\"]\n\n";

fn with(dns: &str) -> String {
    format!("{BASE}[dns]\nbind = \"127.0.0.1:5353\"\n{dns}\n")
}

fn messages(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("expected errors for {text}"),
        Err(e) => e.errors().iter().map(|e| e.to_string()).collect(),
    }
}

fn has(text: &str, start: &str) {
    let errors = messages(text);
    assert!(
        errors.iter().any(|e| e.starts_with(start)),
        "no error starting with {start:?} in {errors:#?}"
    );
}

const ZONE: &str = r#"
[dns.zones."Example.com."]
ns = ["ns1", "ns2.example.net."]
records = [
  { name = "@", type = "A", values = ["192.0.2.1", "192.0.2.2"] },
  { name = "www", type = "CNAME", values = ["example.com."] },
  { name = "@", type = "TXT", values = ["v=spf1 -all"] },
  { name = "@", type = "MX", ttl = "1h", values = ["10 mail.example.com."] },
  { name = "_sip._tcp", type = "SRV", values = ["10 5 5060 sip.example.com."] },
  { name = "@", type = "CAA", values = ["0 issue \"letsencrypt.org\""] },
  { name = "v6", type = "AAAA", values = ["2001:db8::1"] },
  { name = "site", type = "A", routing = "failover", members = [
    { values = ["192.0.2.10"], role = "primary", health_check = "a" },
    { values = ["192.0.2.20"], role = "secondary", health_check = "b" },
  ] },
  { name = "w", type = "A", routing = "weighted", members = [
    { values = ["192.0.2.30"], weight = 3 },
    { alias = { target_group = "app", evaluate_target_health = true }, weight = 1 },
  ] },
  { name = "m", type = "A", routing = "multivalue", members = [
    { values = ["192.0.2.40"], health_check = "both" },
    { alias = { listener = "web" } },
  ] },
]

[dns.health_checks.a]
type = "http"
endpoint = "192.0.2.10:80"
path = "/health"
interval = "10s"

[dns.health_checks.b]
type = "tcp"
endpoint = "192.0.2.20:443"
invert = true

[dns.health_checks.both]
type = "calculated"
children = ["a", "b"]
healthy_threshold = 1

[dns.health_checks.group]
type = "target_group"
target_group = "app"
"#;

#[test]
fn a_zone_with_every_record_type_and_policy_reads_with_its_defaults() {
    let config = parse(&with(ZONE)).unwrap();
    let dns = config.dns.unwrap();
    assert_eq!(dns.responses_per_second, 100);
    let zone = &dns.zones[0];
    assert_eq!(zone.origin.to_string(), "example.com.");
    assert_eq!(zone.ns[0].to_string(), "ns1.example.com.");
    assert_eq!(zone.soa.mname.to_string(), "ns1.example.com.");
    assert_eq!(zone.soa.rname.to_string(), "hostmaster.example.com.");
    assert_eq!((zone.soa.serial, zone.soa.minimum, zone.ttl), (1, 60, 60));
    assert_eq!(zone.record_sets.len(), 10);
    let mx = &zone.record_sets[3];
    assert_eq!((mx.record_type, mx.ttl), (RecordType::MX, 3600));
    let failover = &zone.record_sets[7];
    assert_eq!(failover.routing, Routing::Failover);
    assert!(failover.members[0].primary && !failover.members[1].primary);
    assert_eq!(failover.members[1].health_check.as_deref(), Some("b"));
    let weighted = &zone.record_sets[8];
    assert_eq!(weighted.members[0].weight, 3);
    assert!(matches!(
        &weighted.members[1].values,
        MemberValues::Alias { target: AliasTarget::TargetGroup(g), evaluate_target_health: true } if &*g.0 == "app"
    ));
    let checks = &dns.health_checks;
    assert_eq!(checks.len(), 4);
    assert!(
        matches!(&checks[0].kind, DnsCheckKind::Endpoint { check, .. }
        if check.interval.as_secs() == 10 && check.healthy_threshold == 3 && check.unhealthy_threshold == 3)
    );
    assert!(checks[1].invert);
    assert!(matches!(
        &checks[2].kind,
        DnsCheckKind::Calculated {
            healthy_threshold: 1,
            ..
        }
    ));
}

#[test]
fn bad_values_names_and_policies_are_refused_at_their_key() {
    let zone = |records: &str| {
        with(&format!(
            "[dns.zones.\"example.com.\"]\nns = [\"ns1\"]\nrecords = [{records}]\n"
        ))
    };
    let z = "dns.zones.\"example.com.\".records[0]";
    has(
        &zone(r#"{ name = "a", type = "A", values = ["300.1.1.1"] }"#),
        &format!("{z}.values[0]"),
    );
    has(
        &zone(r#"{ name = "a", type = "MX", values = ["10 mail"] }"#),
        &format!("{z}.values[0]"),
    );
    has(
        &zone(r#"{ name = "a", type = "NS", values = ["ns.x."] }"#),
        &format!("{z}.type"),
    );
    has(
        &zone(r#"{ name = "a.example.org.", type = "A", values = ["192.0.2.1"] }"#),
        &format!("{z}.name"),
    );
    has(
        &zone(r#"{ name = "a", type = "A", routing = "latency", values = ["192.0.2.1"] }"#),
        &format!("{z}.routing"),
    );
    has(
        &zone(
            r#"{ name = "a", type = "A", routing = "weighted", members = [{ values = ["192.0.2.1"] }] }"#,
        ),
        &format!("{z}.members[0].weight"),
    );
    has(
        &zone(
            r#"{ name = "a", type = "A", routing = "failover", members = [{ values = ["192.0.2.1"], role = "primary" }] }"#,
        ),
        &format!("{z}.members"),
    );
    has(
        &zone(
            r#"{ name = "a", type = "A", routing = "weighted", members = [{ values = ["192.0.2.1"], weight = 1, health_check = "nope" }] }"#,
        ),
        &format!("{z}.members[0].health_check"),
    );
    has(
        &zone(r#"{ name = "a", type = "TXT", alias = { target_group = "app" } }"#),
        &format!("{z}.alias"),
    );
    has(
        &zone(r#"{ name = "a", type = "A", alias = { target_group = "nope" } }"#),
        &format!("{z}.alias.target_group"),
    );
    has(
        &zone(
            r#"{ name = "a", type = "A", values = ["192.0.2.1"] }, { name = "a", type = "A", values = ["192.0.2.2"] }"#,
        ),
        "dns.zones.\"example.com.\".records[1].name",
    );
    has(
        &zone(
            r#"{ name = "a", type = "CNAME", values = ["b.example.com."] }, { name = "a", type = "TXT", values = ["x"] }"#,
        ),
        &format!("{z}.name"),
    );
    has(
        &with("[dns.zones.\"example.com\"]\nns = [\"ns1\"]\n"),
        "dns.zones.\"example.com\"",
    );
    has(
        &with("[dns.zones.\"example.com.\"]\nns = []\n"),
        "dns.zones.\"example.com.\".ns",
    );
}

#[test]
fn bad_health_checks_and_a_clashing_bind_are_refused() {
    let check = |body: &str| with(&format!("[dns.health_checks.c]\n{body}\n"));
    has(&check("type = \"ping\""), "dns.health_checks.c.type");
    has(&check("type = \"http\""), "dns.health_checks.c.endpoint");
    has(
        &check("type = \"tcp\"\nendpoint = \"192.0.2.1:80\"\npath = \"/\""),
        "dns.health_checks.c.path",
    );
    has(
        &check("type = \"tcp\"\nendpoint = \"192.0.2.1:80\"\nfailure_threshold = 11"),
        "dns.health_checks.c.failure_threshold",
    );
    has(
        &check("type = \"tcp\"\nendpoint = \"192.0.2.1:80\"\ntimeout = \"40s\""),
        "dns.health_checks.c.timeout",
    );
    has(
        &check("type = \"calculated\"\nchildren = [\"c\"]"),
        "dns.health_checks.c.children[0]",
    );
    has(
        &check("type = \"target_group\"\ntarget_group = \"nope\""),
        "dns.health_checks.c.target_group",
    );
    let clash = format!("{BASE}[dns]\nbind = \"127.0.0.1:8080\"\n");
    has(&clash, "dns.bind");
    has(
        &format!("{BASE}[dns]\nbind = \"0.0.0.0:8080\"\n"),
        "dns.bind",
    );
    // Port 0 is a fresh port each time: no clash with a listener on port 0.
    let zero = "[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = { fixed_response = { status = 200 } }\n\n[dns]\nbind = \"127.0.0.1:0\"\n";
    assert!(parse(zero).is_ok(), "{:?}", parse(zero).err());
}
