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
