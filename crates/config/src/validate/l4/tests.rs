use std::time::Duration;

use crate::model::{Action, Algorithm, ListenerProtocol, TargetProtocol};
use crate::{parse, ProxyProtocolVersion};

fn l4(protocol: &str, listener: &str, group_protocol: &str, group: &str) -> String {
    format!(
        "[listeners.db]\nbind = \"127.0.0.1:5432\"\nprotocol = \"{protocol}\"\ndefault_action = {{ forward = \"db\" }}\n{listener}\n\n[target_groups.db]\nprotocol = \"{group_protocol}\"\ntargets = [\"10.0.0.1:5432\"]\n{group}\n"
    )
}

fn messages(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("expected errors for {text}"),
        Err(e) => e.errors().iter().map(|e| e.to_string()).collect(),
    }
}

fn has(errors: &[String], start: &str) {
    assert!(
        errors.iter().any(|e| e.starts_with(start)),
        "no error starting with {start:?} in {errors:#?}"
    );
}

#[test]
fn l4_listeners_and_groups_get_their_defaults() {
    let config = parse(&l4("tcp", "", "tcp", "proxy_protocol = \"v2\"")).unwrap();
    let listener = &config.listeners[0];
    assert_eq!(listener.protocol, ListenerProtocol::Tcp);
    let settings = listener.l4.unwrap();
    assert_eq!(settings.idle_timeout, Duration::from_secs(350));
    assert_eq!(settings.udp_idle_timeout, Duration::from_secs(120));
    assert_eq!(settings.client_hello_timeout, Duration::from_secs(10));
    assert_eq!(settings.max_udp_flows, 100_000);
    let group = &config.target_groups[0];
    assert_eq!(group.protocol, TargetProtocol::Tcp);
    assert_eq!(group.algorithm, Algorithm::FlowHash);
    assert_eq!(group.proxy_protocol, Some(ProxyProtocolVersion::V2));
    // A TCP connect check is the default check of L4 groups.
    let checked = parse(&l4(
        "udp",
        "",
        "udp",
        "health_check = { interval = \"5s\" }",
    ))
    .unwrap();
    let check = checked.target_groups[0].health_check.as_ref().unwrap();
    assert_eq!(check.kind, crate::HealthCheckKind::Tcp);
    // HTTP/1.1 groups send it too (each target connection then serves one client).
    let http = parse(&l4("http", "", "http", "proxy_protocol = \"v1\"")).unwrap();
    assert_eq!(
        http.target_groups[0].proxy_protocol,
        Some(ProxyProtocolVersion::V1)
    );
}

#[test]
fn defer_accept_is_on_where_the_client_speaks_first_unless_set() {
    let on = |protocol: &str, group: &str, key: &str| match parse(&l4(protocol, key, group, "")) {
        Ok(config) => config.listeners[0].defer_accept,
        Err(e) => panic!("{protocol} {key}: {e}"),
    };
    assert!(on("http", "http", ""));
    assert!(!on("http", "http", "defer_accept = false"));
    let tls = "tls = { acme = { directory = \"https://ca.example/dir\", domains = [\"db.example\"], challenge = \"tls-alpn-01\" } }";
    assert!(on("tls", "tcp", tls));
    assert!(!on("tls", "tcp", &format!("{tls}\ndefer_accept = false")));
    // SMTP or MySQL behind a tcp listener wait for the server to speak.
    assert!(!on("tcp", "tcp", ""));
    assert!(on("tcp", "tcp", "defer_accept = true"));
    assert!(!on("tcp_udp", "tcp_udp", ""));
    assert!(on("tcp_udp", "tcp_udp", "defer_accept = true"));
    assert!(!on("udp", "udp", ""));
}

#[test]
fn sni_rules_and_reject_are_read_in_priority_order() {
    let text = format!(
        "{}\n[[listeners.db.rules]]\npriority = 20\nconditions = {{ sni = [\"*.Example.com\"] }}\naction = {{ reject = true }}\n\n[[listeners.db.rules]]\npriority = 10\nconditions = {{ sni = [\"db.example.com\"], alpn = [\"h2\"] }}\naction = {{ forward = \"db\" }}\n",
        l4("tcp", "", "tcp", "")
    );
    let config = parse(&text).unwrap();
    let rules = &config.listeners[0].rules;
    assert_eq!(rules[0].priority, 10);
    assert_eq!(rules[0].conditions.alpn, vec!["h2"]);
    assert_eq!(rules[1].conditions.sni, vec!["*.example.com"]);
    assert_eq!(rules[1].action, Action::Reject);
}

#[test]
fn http_keys_on_l4_entries_and_l4_keys_on_http_ones_are_refused_by_name() {
    let cases = [
        (l4("tcp", "request_header_timeout = \"5s\"", "tcp", ""), "listeners.db.request_header_timeout: invalid value request_header_timeout on a tcp listener"),
        (l4("tcp", "", "tcp", "stickiness = { type = \"lb_cookie\" }"), "target_groups.db.stickiness: invalid value stickiness on a tcp group"),
        (l4("udp", "accept_proxy_protocol = [\"10.0.0.0/8\"]", "udp", ""), "listeners.db.accept_proxy_protocol: invalid value accept_proxy_protocol on a udp listener"),
        (l4("udp", "defer_accept = true", "udp", ""), "listeners.db.defer_accept: invalid value defer_accept on a udp listener"),
        (l4("tcp", "defer_accept = \"yes\"", "tcp", ""), "listeners.db.defer_accept"),
        (l4("tcp", "max_udp_flows = 10", "tcp", ""), "listeners.db.max_udp_flows: invalid value max_udp_flows on a tcp listener"),
        (l4("http", "udp_idle_timeout = \"5s\"", "http", ""), "listeners.db.udp_idle_timeout: invalid value udp_idle_timeout on an http listener"),
        (l4("http", "accept_proxy_protocol = [\"10.0.0/8\"]", "http", ""), "listeners.db.accept_proxy_protocol[0]: invalid value \"10.0.0/8\""),
        (l4("udp", "", "udp", "proxy_protocol = \"v1\""), "target_groups.db.proxy_protocol: invalid value proxy_protocol on a udp group"),
        (l4("http", "", "http", "proxy_protocol = \"v1\"\nprotocol_version = \"http2\""), "target_groups.db.proxy_protocol: invalid value proxy_protocol on a group with protocol_version = \"http2\""),
        (l4("http", "", "http", "proxy_protocol = \"v2\"\nprotocol_version = \"grpc\""), "target_groups.db.proxy_protocol: invalid value proxy_protocol on a group with protocol_version = \"grpc\""),
        (l4("tcp", "", "tcp", "proxy_protocol = \"v3\""), "target_groups.db.proxy_protocol: invalid value \"v3\""),
        (l4("tcp", "", "tcp", "algorithm = \"least_response_time\""), "target_groups.db.algorithm: invalid value \"least_response_time\" on an L4 group"),
        (l4("http", "", "http", "algorithm = \"flow_hash\""), "target_groups.db.algorithm: invalid value \"flow_hash\" on an http group"),
        (l4("tcp", "", "carrier-pigeon", ""), "target_groups.db.protocol: invalid value \"carrier-pigeon\""),
        (l4("quic", "", "tcp", ""), "listeners.db.protocol: invalid value \"quic\""),
    ];
    for (text, expected) in cases {
        has(&messages(&text), expected);
    }
}

#[test]
fn a_listener_forwards_only_to_groups_it_can_carry() {
    let cases = [
        ("http", "tcp", "a group with protocol http or https"),
        ("tcp", "http", "a group with protocol tcp or tls"),
        ("tcp", "udp", "a group with protocol tcp or tls"),
        ("udp", "tcp", "a group with protocol udp or tcp_udp"),
        ("tcp_udp", "udp", "a group with protocol tcp_udp"),
    ];
    for (listener, group, expected) in cases {
        let errors = messages(&l4(listener, "", group, ""));
        has(
            &errors,
            "listeners.db.default_action.forward: invalid value group \"db\"",
        );
        assert!(errors.iter().any(|e| e.ends_with(expected)), "{errors:#?}");
    }
    for (listener, group) in [("tcp", "tls"), ("udp", "tcp_udp"), ("tcp_udp", "tcp_udp")] {
        let tls = if group == "tls" {
            "tls = { verify = false }"
        } else {
            ""
        };
        parse(&l4(listener, "", group, tls)).unwrap();
    }
}

#[test]
fn l4_rules_and_actions_are_checked() {
    let rule = |conditions: &str, action: &str| {
        format!(
            "{}\n[[listeners.db.rules]]\npriority = 1\nconditions = {conditions}\naction = {action}\n",
            l4("tcp", "", "tcp", "")
        )
    };
    let cases = [
        (rule("{ host = [\"a.example\"] }", "{ forward = \"db\" }"), "listeners.db.rules[0].conditions.host: invalid value host on a tcp listener's rule"),
        (rule("{ sni = [\"bad name\"] }", "{ forward = \"db\" }"), "listeners.db.rules[0].conditions.sni[0]: invalid value \"bad name\""),
        (rule("{ sni = [\"a.example\"] }", "{ fixed_response = { status = 200 } }"), "listeners.db.rules[0].action.fixed_response: invalid value fixed_response on an L4 listener"),
        (rule("{ sni = [\"a.example\"] }", "{ forward = { groups = [{ name = \"db\" }] } }"), "listeners.db.rules[0].action.forward: invalid value a weighted forward on an L4 listener"),
        (rule("{ }", "{ forward = \"db\" }"), "listeners.db.rules[0].conditions: invalid value no condition"),
        (l4("udp", "[[listeners.db.rules]]\npriority = 1\nconditions = { sni = [\"a\"] }\naction = { forward = \"db\" }", "udp", ""), "listeners.db.rules: invalid value rules on a udp listener"),
        (l4("http", "[[listeners.db.rules]]\npriority = 1\nconditions = { sni = [\"a\"] }\naction = { reject = true }", "http", ""), "listeners.db.rules[0].action.reject: invalid value reject on an http listener"),
        (l4("tls", "", "tcp", ""), "listeners.db.tls: invalid value a listener that terminates TLS without tls"),
    ];
    for (text, expected) in cases {
        has(&messages(&text), expected);
    }
}

#[test]
fn a_udp_listener_may_share_a_tcp_listeners_address() {
    let text = "[listeners.a]\nbind = \"127.0.0.1:53\"\nprotocol = \"tcp\"\ndefault_action = { forward = \"t\" }\n\n[listeners.b]\nbind = \"127.0.0.1:53\"\nprotocol = \"udp\"\ndefault_action = { forward = \"u\" }\n\n[target_groups.t]\nprotocol = \"tcp\"\n\n[target_groups.u]\nprotocol = \"udp\"\n";
    parse(text).unwrap();
    let clash = text.replace(
        "protocol = \"udp\"\ndefault_action = { forward = \"u\" }",
        "protocol = \"tcp_udp\"\ndefault_action = { forward = \"u2\" }",
    ) + "\n[target_groups.u2]\nprotocol = \"tcp_udp\"\n";
    has(&messages(&clash), "listeners.b.bind");
}
