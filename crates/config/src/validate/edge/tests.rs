use crate::{parse, Rate};

const GROUPS: &str = "[target_groups.app]\ntargets = [\"127.0.0.1:9000\"]\n\n[target_groups.db]\nprotocol = \"tcp\"\ntargets = [\"127.0.0.1:5432\"]\n\n[target_groups.dns]\nprotocol = \"udp\"\ntargets = [\"127.0.0.1:53\"]\n";

fn listener(keys: &str) -> String {
    format!("{GROUPS}\n[listeners.web]\nbind = \"127.0.0.1:8080\"\ndefault_action = {{ forward = \"app\" }}\n{keys}\n")
}

fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("expected errors for {text}"),
        Err(e) => e.errors().iter().map(|e| e.to_string()).collect(),
    }
}

fn has(text: &str, start: &str) {
    let errors = errors(text);
    assert!(
        errors.iter().any(|e| e.starts_with(start)),
        "no error starting with {start:?} in {errors:#?}"
    );
}

#[test]
fn sets_and_blocks_compile_into_the_listener() {
    let text = format!(
        "[ip_sets.office]\ncidrs = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n\n{}",
        listener("allow = [\"office\", \"192.0.2.7\"]\ndeny = [\"10.9.0.0/16\"]\nclient_limits = { max_connections = 50, connections_per_second = 10 }")
    );
    let config = parse(&text).unwrap();
    let edge = &config.listeners[0].edge;
    for (ip, admitted) in [
        ("10.1.2.3", true),
        ("2001:db8::5", true),
        ("192.0.2.7", true),
        ("10.9.1.1", false),
        ("192.0.2.8", false),
    ] {
        assert_eq!(edge.admits(ip.parse().unwrap()), admitted, "{ip}");
    }
    assert_eq!(edge.client_limits.max_connections, Some(50));
    // The burst defaults to one second's worth.
    assert_eq!(
        edge.client_limits.connection_rate,
        Some(Rate {
            per_second: 10,
            burst: 10
        })
    );
}

#[test]
fn no_keys_no_policy() {
    let config = parse(&listener("")).unwrap();
    assert!(config.listeners[0].edge.is_open());
}

#[test]
fn bad_entries_name_their_key() {
    has(
        &listener("allow = [\"nowhere\"]"),
        "listeners.web.allow[0]:",
    );
    has(
        &listener("deny = [\"10.0.0.0/33\"]"),
        "listeners.web.deny[0]:",
    );
    has(&listener("allow = []"), "listeners.web.allow:");
    has(
        &format!("[ip_sets.x]\ncidrs = []\n\n{}", listener("")),
        "ip_sets.x.cidrs:",
    );
    has(
        &format!("[ip_sets.x]\ncidrs = [\"a.b\"]\n\n{}", listener("")),
        "ip_sets.x.cidrs[0]:",
    );
    has(
        &format!(
            "[ip_sets.\"bad name\"]\ncidrs = [\"10.0.0.0/8\"]\n\n{}",
            listener("")
        ),
        "ip_sets.\"bad name\":",
    );
    has(
        &listener("client_limits = { max_connections = 0 }"),
        "listeners.web.client_limits.max_connections:",
    );
    has(
        &listener("client_limits = { connection_burst = 5 }"),
        "listeners.web.client_limits.connection_burst:",
    );
    has(
        &listener("client_limits = { connections_per_second = 10, connection_burst = 0 }"),
        "listeners.web.client_limits.connection_burst:",
    );
    has(
        &listener("client_limits = { per_ip = 1 }"),
        "listeners.web.client_limits",
    );
}

#[test]
fn l4_listeners_take_the_keys_but_udp_ones_no_client_limits() {
    let tcp = format!(
        "{GROUPS}\n[listeners.pg]\nbind = \"127.0.0.1:6432\"\nprotocol = \"tcp\"\ndefault_action = {{ forward = \"db\" }}\ndeny = [\"10.0.0.0/8\"]\nclient_limits = {{ max_connections = 4 }}\n"
    );
    let config = parse(&tcp).unwrap();
    assert!(!config.listeners[0].edge.admits("10.0.0.1".parse().unwrap()));
    let udp = format!(
        "{GROUPS}\n[listeners.dns]\nbind = \"127.0.0.1:5353\"\nprotocol = \"udp\"\ndefault_action = {{ forward = \"dns\" }}\nallow = [\"127.0.0.0/8\"]\nclient_limits = {{ max_connections = 4 }}\n"
    );
    has(&udp, "listeners.dns.client_limits:");
    let udp_ok = udp.replace("client_limits = { max_connections = 4 }\n", "");
    assert!(parse(&udp_ok).unwrap().listeners[0]
        .edge
        .admits("127.0.0.9".parse().unwrap()));
}

#[test]
fn rate_limits_are_named_by_listeners_and_rules() {
    let text = format!(
        "[rate_limits.api]\nkey = [\"client_ip\", \"header:X-Api-Key\"]\nper_second = 5\nper_minute = 100\n\n[rate_limits.login]\nper_minute = 10\n\n{}\n[[listeners.web.rules]]\npriority = 1\nconditions = {{ path = [\"/login\"] }}\naction = {{ forward = \"app\" }}\nrate_limit = \"login\"\n",
        listener("rate_limit = \"api\"")
    );
    let config = parse(&text).unwrap();
    let web = &config.listeners[0];
    let api = web.rate_limit.as_ref().unwrap();
    assert_eq!(
        api.key,
        [
            crate::RateKey::ClientIp,
            crate::RateKey::Header("x-api-key".into())
        ]
    );
    assert_eq!(
        api.per_second,
        Some(Rate {
            per_second: 5,
            burst: 5
        })
    );
    assert_eq!(api.per_minute, Some(100));
    let login = web.rules[0].rate_limit.as_ref().unwrap();
    assert_eq!(login.key, [crate::RateKey::ClientIp]);
    assert_eq!((login.per_second, login.per_minute), (None, Some(10)));
    assert_eq!(config.rate_limits.len(), 2);
}

#[test]
fn bad_rate_limits_name_their_key() {
    let with = |limit: &str, keys: &str| format!("[rate_limits.r]\n{limit}\n\n{}", listener(keys));
    has(
        &with("per_second = 1", "rate_limit = \"nope\""),
        "listeners.web.rate_limit:",
    );
    has(&with("key = [\"client_ip\"]", ""), "rate_limits.r:");
    has(&with("per_second = 0", ""), "rate_limits.r.per_second:");
    has(
        &with("per_minute = 10\nburst = 4", ""),
        "rate_limits.r.burst:",
    );
    has(
        &with("per_second = 1\nkey = [\"query\"]", ""),
        "rate_limits.r.key[0]:",
    );
    has(
        &with("per_second = 1\nkey = [\"header:\"]", ""),
        "rate_limits.r.key[0]:",
    );
    has(
        &with("per_second = 1\nkey = [\"path\", \"path\"]", ""),
        "rate_limits.r.key[1]:",
    );
    has(&with("per_second = 1\nkey = []", ""), "rate_limits.r.key:");
    let tcp = format!(
        "[rate_limits.r]\nper_second = 1\n\n{GROUPS}\n[listeners.pg]\nbind = \"127.0.0.1:6432\"\nprotocol = \"tcp\"\ndefault_action = {{ forward = \"db\" }}\nrate_limit = \"r\"\n"
    );
    has(&tcp, "listeners.pg.rate_limit:");
}

#[test]
fn source_ip_conditions_name_ip_sets() {
    let rule = |values: &str| {
        format!(
            "[ip_sets.office]\ncidrs = [\"10.0.0.0/8\", \"192.0.2.0/24\"]\n\n{}\n[[listeners.web.rules]]\npriority = 1\nconditions = {{ source_ip = {values} }}\naction = {{ forward = \"app\" }}\n",
            listener("")
        )
    };
    let config = parse(&rule("[\"office\", \"203.0.113.7\", \"office\"]")).unwrap();
    let blocks: Vec<String> = config.listeners[0].rules[0]
        .conditions
        .source_ip
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(blocks, ["10.0.0.0/8", "192.0.2.0/24", "203.0.113.7/32"]);
    has(
        &rule("[\"elsewhere\"]"),
        "listeners.web.rules[0].conditions.source_ip[0]:",
    );
}

#[test]
fn the_minimum_body_rate_has_defaults_and_can_be_turned_off() {
    let config = parse(&listener("")).unwrap();
    let rate = config.listeners[0].limits.min_body_rate.unwrap();
    assert_eq!(rate.bytes_per_second, 500);
    assert_eq!(rate.grace, std::time::Duration::from_secs(20));
    let t0 = std::time::Instant::now();
    // 1,000 bytes buy 2 s at 500 B/s, after the 20 s of grace.
    assert_eq!(
        rate.deadline(t0, 1000),
        t0 + std::time::Duration::from_secs(22)
    );
    let off = parse(&listener("min_request_body_rate = 0")).unwrap();
    assert_eq!(off.listeners[0].limits.min_body_rate, None);
    has(
        &listener("min_request_body_rate_grace = \"0s\""),
        "listeners.web.min_request_body_rate_grace:",
    );
    let tcp = format!(
        "{GROUPS}\n[listeners.pg]\nbind = \"127.0.0.1:6432\"\nprotocol = \"tcp\"\ndefault_action = {{ forward = \"db\" }}\nmin_request_body_rate = 10\n"
    );
    has(&tcp, "listeners.pg.min_request_body_rate:");
}

#[test]
fn the_desync_mode_is_defensive_unless_named_and_http_only() {
    use crate::DesyncMode;
    let mode = |keys: &str| {
        parse(&listener(keys)).unwrap().listeners[0]
            .limits
            .desync_mode
    };
    assert_eq!(mode(""), DesyncMode::Defensive);
    assert_eq!(
        mode("desync_mitigation_mode = \"monitor\""),
        DesyncMode::Monitor
    );
    assert_eq!(
        mode("desync_mitigation_mode = \"strictest\""),
        DesyncMode::Strictest
    );
    has(
        &listener("desync_mitigation_mode = \"strict\""),
        "listeners.web.desync_mitigation_mode:",
    );
    let tcp = format!(
        "{GROUPS}\n[listeners.pg]\nbind = \"127.0.0.1:6432\"\nprotocol = \"tcp\"\ndefault_action = {{ forward = \"db\" }}\ndesync_mitigation_mode = \"monitor\"\n"
    );
    has(&tcp, "listeners.pg.desync_mitigation_mode:");
}
