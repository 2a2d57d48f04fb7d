use std::time::Duration;

use crate::model::{Algorithm, HashKey};
use crate::parse;

fn group(extra: &str, targets: &str) -> String {
    format!("[target_groups.app]\ntargets = [{targets}]\n{extra}\n")
}

fn messages(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("expected errors for {text}"),
        Err(e) => e.errors().iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn every_algorithm_is_accepted_by_name() {
    for (algorithm, name) in Algorithm::ALL {
        if algorithm == Algorithm::FlowHash {
            continue; // L4 groups only (validate/l4 tests)
        }
        let extra = if algorithm == Algorithm::ConsistentHash {
            format!("algorithm = \"{name}\"\nhash_key = {{ header = \"X-User\" }}")
        } else {
            format!("algorithm = \"{name}\"")
        };
        let config = parse(&group(&extra, "\"127.0.0.1:1\"")).unwrap();
        assert_eq!(config.target_groups[0].algorithm, algorithm);
        assert_eq!(algorithm.name(), name);
    }
    let errors = messages(&group("algorithm = \"fastest\"", ""));
    assert!(
        errors[0].starts_with("target_groups.app.algorithm: invalid value \"fastest\": expected one of \"round_robin\", \"weighted_random\""),
        "{errors:?}"
    );
}

#[test]
fn weights_zones_and_ramps_are_read() {
    let config = parse(&format!(
        "[server]\nzone = \"eu-1a\"\n{}",
        group(
            "slow_start = \"45s\"\ncross_zone = false",
            "\"127.0.0.1:1\", { address = \"127.0.0.1:2\", weight = 5, zone = \"eu-1b\" }"
        )
    ))
    .unwrap();
    assert_eq!(config.server.zone.as_deref(), Some("eu-1a"));
    let g = &config.target_groups[0];
    assert_eq!(
        (g.targets[0].weight, g.targets[0].zone.as_deref()),
        (1, None)
    );
    assert_eq!(
        (g.targets[1].weight, g.targets[1].zone.as_deref()),
        (5, Some("eu-1b"))
    );
    assert_eq!(g.slow_start, Duration::from_secs(45));
    assert!(!g.cross_zone);
    let defaults = parse(&group("", "")).unwrap();
    assert_eq!(defaults.target_groups[0].slow_start, Duration::ZERO);
    assert!(defaults.target_groups[0].cross_zone);
}

#[test]
fn hash_keys_go_with_consistent_hash_only() {
    let config = parse(&group(
        "algorithm = \"consistent_hash\"\nhash_key = { cookie = \"sid\" }",
        "",
    ))
    .unwrap();
    assert_eq!(
        config.target_groups[0].hash_key,
        Some(HashKey::Cookie("sid".into()))
    );
    let header = parse(&group(
        "algorithm = \"consistent_hash\"\nhash_key = { header = \"X-User\" }",
        "",
    ))
    .unwrap();
    assert_eq!(
        header.target_groups[0].hash_key,
        Some(HashKey::Header("x-user".into())),
        "header names are matched in lower case"
    );
    let cases = [
        (
            "algorithm = \"consistent_hash\"",
            "target_groups.app.hash_key: invalid value no hash_key",
        ),
        (
            "hash_key = { query = \"u\" }",
            "target_groups.app.hash_key: invalid value a hash_key with algorithm \"round_robin\"",
        ),
        (
            "algorithm = \"consistent_hash\"\nhash_key = { query = \"u\", cookie = \"c\" }",
            "target_groups.app.hash_key: invalid value 2 keys",
        ),
        (
            "algorithm = \"consistent_hash\"\nhash_key = { header = \"a b\" }",
            "target_groups.app.hash_key.header: invalid value \"a b\"",
        ),
    ];
    for (extra, prefix) in cases {
        let errors = messages(&group(extra, ""));
        assert!(errors[0].starts_with(prefix), "{extra}: {errors:?}");
    }
}

#[test]
fn bad_weights_zones_and_ramps_name_their_key() {
    let errors = messages(&format!(
        "[server]\nzone = \"\"\n{}",
        group(
            "slow_start = \"10s\"",
            "{ address = \"127.0.0.1:1\", weight = 0 }, { address = \"127.0.0.1:2\", zone = \"a/b\" }"
        )
    ));
    let expect = [
        "server.zone: invalid value \"\"",
        "target_groups.app.slow_start: invalid value \"10s\": expected \"0s\" (off) or a duration from \"30s\" to \"15m\"",
        "target_groups.app.targets[0].weight: invalid value 0: expected an integer from 1 to 1000",
        "target_groups.app.targets[1].zone: invalid value \"a/b\"",
    ];
    for prefix in expect {
        assert!(
            errors.iter().any(|e| e.starts_with(prefix)),
            "no {prefix:?} in {errors:#?}"
        );
    }
    assert_eq!(errors.len(), expect.len(), "{errors:#?}");
}

#[test]
fn stickiness_defaults_and_attributes() {
    use crate::model::StickinessKind;
    let config = parse(&group("stickiness = {}", "")).unwrap();
    let sticky = config.target_groups[0].stickiness.as_ref().unwrap();
    assert_eq!(sticky.kind, StickinessKind::LbCookie);
    assert_eq!(sticky.duration, Duration::from_secs(86_400));
    assert_eq!(sticky.cookie.name, "BALLAST");
    assert!(sticky.cookie.http_only && !sticky.cookie.secure);
    assert_eq!(
        (sticky.cookie.path.as_str(), sticky.cookie.same_site),
        ("/", None)
    );
    let app = parse(&group(
        "stickiness = { type = \"app_cookie\", app_cookie = \"JSESSIONID\", duration = \"2h\", secure = true, same_site = \"none\", domain = \"example.com\" }",
        "",
    ))
    .unwrap();
    let sticky = app.target_groups[0].stickiness.as_ref().unwrap();
    assert_eq!(sticky.kind, StickinessKind::AppCookie("JSESSIONID".into()));
    assert_eq!(sticky.cookie.name, "BALLASTAPP");
    assert_eq!(sticky.cookie.same_site, Some("None"));
    assert_eq!(sticky.cookie.domain.as_deref(), Some("example.com"));
}

#[test]
fn bad_stickiness_names_its_key() {
    let cases = [
        ("stickiness = { type = \"app_cookie\" }", "target_groups.app.stickiness.app_cookie: invalid value no app_cookie"),
        ("stickiness = { type = \"ip\" }", "target_groups.app.stickiness.type: invalid value \"ip\""),
        ("stickiness = { duration = \"8d\" }", "target_groups.app.stickiness.duration: invalid value \"8d\""),
        ("stickiness = { same_site = \"none\" }", "target_groups.app.stickiness.same_site: invalid value \"none\" without secure = true"),
        ("stickiness = { cookie_name = \"a;b\" }", "target_groups.app.stickiness.cookie_name: invalid value \"a;b\""),
        ("stickiness = { path = \"x\" }", "target_groups.app.stickiness.path: invalid value \"x\""),
        ("stickiness = { app_cookie = \"S\" }", "target_groups.app.stickiness.app_cookie: invalid value an app_cookie with type \"lb_cookie\""),
        ("anomaly_mitigation = true", "target_groups.app.anomaly_mitigation: invalid value anomaly_mitigation with algorithm \"round_robin\""),
        ("algorithm = \"least_response_time\"\nslow_start = \"30s\"", "target_groups.app.slow_start: invalid value slow_start with algorithm \"least_response_time\""),
        ("stickiness = { type = \"app_cookie\", app_cookie = \"S\", cookie_name = \"S\" }", "target_groups.app.stickiness.cookie_name: invalid value \"S\", the application's own cookie"),
    ];
    for (extra, prefix) in cases {
        let errors = messages(&group(extra, ""));
        assert!(errors[0].starts_with(prefix), "{extra}: {errors:?}");
    }
    let ok = parse(&group(
        "algorithm = \"weighted_random\"\nanomaly_mitigation = true",
        "",
    ))
    .unwrap();
    assert!(ok.target_groups[0].anomaly_mitigation);
}

#[test]
fn a_short_stickiness_secret_is_refused_and_a_long_one_never_printed() {
    let errors = messages("[server]\nstickiness_secret = \"hunter2\"\n");
    assert_eq!(
        errors,
        ["server.stickiness_secret: invalid value a secret of 7 bytes: expected at least 32 bytes (e.g. `openssl rand -hex 32`)"]
    );
    let secret = "0123456789abcdef0123456789abcdef";
    let config = parse(&format!("[server]\nstickiness_secret = \"{secret}\"\n")).unwrap();
    let shown = format!("{config:?}");
    assert!(
        !shown.contains(secret),
        "the secret leaked into debug output"
    );
    assert_eq!(config.server.stickiness_secret.unwrap().expose(), secret);
}
