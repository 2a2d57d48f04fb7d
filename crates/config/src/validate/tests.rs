use std::num::NonZeroUsize;
use std::time::Duration;

use super::*;
use crate::parse;

const MINIMAL: &str = r#"
[listeners.web]
bind = "127.0.0.1:8080"
default_action = { forward = "web" }

[target_groups.web]
targets = ["127.0.0.1:9001", { address = "127.0.0.1:9002" }]
"#;

fn messages(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.errors().iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn minimal_config_gets_every_default() {
    let config = parse(MINIMAL).unwrap();
    assert_eq!(config.server.workers, Workers::Auto);
    assert_eq!(config.server.drain_timeout, DEFAULT_DRAIN_TIMEOUT);
    let listener = &config.listeners[0];
    assert_eq!(listener.name.to_string(), "web");
    assert_eq!(listener.protocol, ListenerProtocol::Http);
    assert_eq!(
        listener.limits.request_header_timeout,
        DEFAULT_REQUEST_HEADER_TIMEOUT
    );
    assert_eq!(listener.limits.idle_timeout, DEFAULT_IDLE_TIMEOUT);
    assert_eq!(listener.limits.max_header_bytes, DEFAULT_MAX_HEADER_BYTES);
    assert_eq!(listener.limits.max_headers, DEFAULT_MAX_HEADERS);
    assert_eq!(
        listener.limits.upgrade_idle_timeout,
        DEFAULT_UPGRADE_IDLE_TIMEOUT
    );
    assert_eq!(listener.limits.max_connections, None);
    assert_eq!(listener.limits.max_requests_per_connection, None);
    assert_eq!(listener.limits.request_timeout, None);
    assert_eq!(
        listener.limits.http2_max_concurrent_streams,
        DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS
    );
    let group = &config.target_groups[0];
    assert_eq!(group.targets.len(), 2);
    assert_eq!(group.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    assert_eq!(group.response_timeout, DEFAULT_RESPONSE_TIMEOUT);
    assert_eq!(group.target_idle_timeout, DEFAULT_TARGET_IDLE_TIMEOUT);
    assert_eq!(group.max_idle_per_target, DEFAULT_MAX_IDLE_PER_TARGET);
    assert_eq!(group.algorithm, Algorithm::RoundRobin);
}

#[test]
fn explicit_values_are_used() {
    let config = parse(
        r#"
[server]
workers = 3
drain_timeout = "5s"

[listeners.web]
bind = "127.0.0.1:8080"
protocol = "http"
default_action = { forward = "api" }
request_header_timeout = "2s"
idle_timeout = "90s"
max_header_bytes = 16384
max_headers = 50

[target_groups.api]
protocol = "http"
algorithm = "round_robin"
targets = ["[::1]:9001"]
connect_timeout = "1s"
response_timeout = "250ms"
target_idle_timeout = "10s"
max_idle_per_target = 8
"#,
    )
    .unwrap();
    assert_eq!(
        config.server.workers,
        Workers::Count(NonZeroUsize::new(3).unwrap())
    );
    assert_eq!(config.server.drain_timeout, Duration::from_secs(5));
    let limits = config.listeners[0].limits;
    assert_eq!(limits.request_header_timeout, Duration::from_secs(2));
    assert_eq!(limits.idle_timeout, Duration::from_secs(90));
    assert_eq!(limits.max_header_bytes, 16384);
    assert_eq!(limits.max_headers, 50);
    let group = &config.target_groups[0];
    assert_eq!(group.response_timeout, Duration::from_millis(250));
    assert_eq!(group.max_idle_per_target, 8);
    assert_eq!(group.targets[0].address, "[::1]:9001".parse().unwrap());
}

#[test]
fn unknown_target_group_names_the_key_and_the_known_groups() {
    let text = r#"
[listeners.web]
bind = "127.0.0.1:8080"
default_action = { forward = "apii" }
[target_groups.api]
targets = []
[target_groups.web]
targets = []
"#;
    assert_eq!(
        messages(text),
        vec![
            r#"listeners.web.default_action.forward: unknown target group "apii" (known: api, web)"#
        ]
    );
}

#[test]
fn unknown_keys_are_rejected_with_their_path() {
    let text = r#"
[listeners.web]
bind = "127.0.0.1:8080"
default_action = { forward = "web" }
idle_timeuot = "5s"
[target_groups.web]
targets = []
"#;
    let m = messages(text);
    assert_eq!(m.len(), 1);
    assert!(
        m[0].starts_with("listeners.web.idle_timeuot: unknown key \"idle_timeuot\""),
        "{}",
        m[0]
    );
    assert!(m[0].contains("(known: bind, protocol, "), "{}", m[0]);
    assert!(m[0].contains("line 5"), "{}", m[0]);
}

#[test]
fn unknown_key_in_a_target_table_is_rejected() {
    let text = r#"
[target_groups.web]
targets = [{ address = "127.0.0.1:1", wieght = 2 }]
"#;
    let m = messages(text);
    assert!(m[0].starts_with("target_groups.web.targets[0]"), "{}", m[0]);
    assert!(m[0].contains("wieght"), "{}", m[0]);
}

#[test]
fn wrong_types_name_the_key() {
    let m = messages("[server]\nworkers = \"many\"\n");
    assert!(m[0].starts_with("server.workers: "), "{}", m[0]);
}

#[test]
fn every_value_error_is_reported_at_once() {
    let text = r#"
[server]
workers = 0
drain_timeout = "30"

[listeners.web]
bind = "localhost:80"
protocol = "gopher"
default_action = { }
request_header_timeout = "0s"
max_header_bytes = 10
max_headers = -1

[target_groups.web]
algorithm = "random"
targets = ["127.0.0.1:1", "127.0.0.1:1", "nope"]
response_timeout = "later"
"#;
    let m = messages(text);
    let expect_prefixes = [
        "server.workers: invalid value 0",
        "server.drain_timeout: invalid value \"30\"",
        "listeners.web.bind: invalid value \"localhost:80\"",
        "listeners.web.protocol: invalid value \"gopher\"",
        "listeners.web.default_action: invalid value an empty action",
        "listeners.web.request_header_timeout: invalid value \"0s\"",
        "listeners.web.max_header_bytes: invalid value 10",
        "listeners.web.max_headers: invalid value -1",
        "target_groups.web.algorithm: invalid value \"random\"",
        "target_groups.web.targets[1]: target 127.0.0.1:1 is already used by target_groups.web.targets[0]",
        "target_groups.web.targets[2]: invalid value \"nope\"",
        "target_groups.web.response_timeout: invalid value \"later\"",
    ];
    for prefix in expect_prefixes {
        assert!(
            m.iter().any(|l| l.starts_with(prefix)),
            "missing {prefix:?} in {m:#?}"
        );
    }
    assert_eq!(m.len(), expect_prefixes.len(), "{m:#?}");
}

#[test]
fn two_listeners_on_one_address_conflict() {
    let text = r#"
[listeners.a]
bind = "0.0.0.0:8080"
default_action = { forward = "g" }
[listeners.b]
bind = "127.0.0.1:8080"
default_action = { forward = "g" }
[target_groups.g]
targets = []
"#;
    assert_eq!(
        messages(text),
        vec!["listeners.b.bind: address 127.0.0.1:8080 is already used by listeners.a.bind"]
    );
}

#[test]
fn ipv4_and_ipv6_wildcards_share_a_port() {
    let text = r#"
[listeners.v4]
bind = "0.0.0.0:8080"
default_action = { forward = "g" }
[listeners.v6]
bind = "[::]:8080"
default_action = { forward = "g" }
[target_groups.g]
targets = []
"#;
    assert_eq!(parse(text).unwrap().listeners.len(), 2);
}

#[test]
fn port_zero_never_conflicts() {
    let text = r#"
[listeners.a]
bind = "127.0.0.1:0"
default_action = { forward = "g" }
[listeners.b]
bind = "127.0.0.1:0"
default_action = { forward = "g" }
[target_groups.g]
targets = []
"#;
    assert_eq!(parse(text).unwrap().listeners.len(), 2);
}

#[test]
fn bad_names_are_rejected() {
    let m = messages("[target_groups.\"a b\"]\ntargets = []\n");
    assert_eq!(m.len(), 1);
    assert!(
        m[0].starts_with("target_groups.\"a b\": invalid value name"),
        "{}",
        m[0]
    );
}

#[test]
fn syntax_errors_carry_a_line() {
    let m = messages("[listeners.web\nbind = 1\n");
    assert!(m[0].contains("line 1"), "{}", m[0]);
}

#[test]
fn empty_document_is_valid_and_empty() {
    let config = parse("").unwrap();
    assert!(config.listeners.is_empty());
    assert!(config.target_groups.is_empty());
}

#[test]
fn connection_limits_are_read_and_checked_with_their_key() {
    let with = |lines: &str| {
        format!(
            "[listeners.web]\nbind = \"127.0.0.1:8080\"\ndefault_action = {{ forward = \"web\" }}\n{lines}\n[target_groups.web]\ntargets = []\n"
        )
    };
    let config = parse(&with(
        "max_connections = 500\nmax_requests_per_connection = 1000\nrequest_timeout = \"30s\"\nhttp2_max_concurrent_streams = 64\nupgrade_idle_timeout = \"5m\"",
    ))
    .unwrap();
    let limits = config.listeners[0].limits;
    assert_eq!(limits.max_connections, Some(500));
    assert_eq!(limits.max_requests_per_connection, Some(1000));
    assert_eq!(limits.request_timeout, Some(Duration::from_secs(30)));
    assert_eq!(limits.http2_max_concurrent_streams, 64);
    assert_eq!(limits.upgrade_idle_timeout, Duration::from_secs(300));
    for (line, key) in [
        ("max_connections = 0", "max_connections"),
        (
            "max_requests_per_connection = -1",
            "max_requests_per_connection",
        ),
        ("request_timeout = \"0s\"", "request_timeout"),
        (
            "http2_max_concurrent_streams = 0",
            "http2_max_concurrent_streams",
        ),
        ("upgrade_idle_timeout = \"soon\"", "upgrade_idle_timeout"),
    ] {
        let m = messages(&with(line));
        assert_eq!(m.len(), 1, "{line}: {m:?}");
        assert!(
            m[0].starts_with(&format!("listeners.web.{key}: invalid value")),
            "{}",
            m[0]
        );
    }
}

#[test]
fn protocol_version_is_read_and_grpc_groups_check_grpc_health_by_default() {
    let group = |lines: &str| {
        let text = format!(
            "[listeners.web]\nbind = \"127.0.0.1:8080\"\ndefault_action = {{ forward = \"svc\" }}\n[target_groups.svc]\ntargets = []\n{lines}\n"
        );
        parse(&text).map(|c| c.target_groups[0].clone())
    };
    assert_eq!(group("").unwrap().protocol_version, ProtocolVersion::Http1);
    assert_eq!(
        group("protocol_version = \"http2\"")
            .unwrap()
            .protocol_version,
        ProtocolVersion::Http2
    );
    let grpc = group("protocol_version = \"grpc\"\nhealth_check = { interval = \"5s\" }").unwrap();
    assert_eq!(grpc.protocol_version, ProtocolVersion::Grpc);
    assert!(matches!(
        grpc.health_check.unwrap().kind,
        crate::HealthCheckKind::Grpc { .. }
    ));
    let http2 =
        group("protocol_version = \"http2\"\nhealth_check = { interval = \"5s\" }").unwrap();
    assert!(matches!(
        http2.health_check.unwrap().kind,
        crate::HealthCheckKind::Http { .. }
    ));
    let m = messages(
        "[listeners.web]\nbind = \"127.0.0.1:8080\"\ndefault_action = { forward = \"svc\" }\n[target_groups.svc]\ntargets = []\nprotocol_version = \"h3\"\n",
    );
    assert_eq!(
        m,
        vec![
            r#"target_groups.svc.protocol_version: invalid value "h3": expected "http1", "http2" or "grpc""#
        ]
    );
}
