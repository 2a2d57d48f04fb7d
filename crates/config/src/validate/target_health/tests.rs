use std::time::Duration;

use crate::defaults::*;
use crate::health::{HealthCheckKind, RetryConfig};
use crate::parse;

fn group(extra: &str) -> String {
    format!("[target_groups.app]\ntargets = [\"127.0.0.1:9001\"]\n{extra}\n")
}

fn messages(extra: &str) -> Vec<String> {
    match parse(&group(extra)) {
        Ok(_) => panic!("expected errors for {extra}"),
        Err(e) => e.errors().iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn target_health_defaults_are_alb_s() {
    let config = parse(&group("health_check = {}")).unwrap();
    let g = &config.target_groups[0];
    let check = g.health_check.as_ref().unwrap();
    assert_eq!(check.interval, DEFAULT_HEALTH_INTERVAL);
    assert_eq!(check.timeout, DEFAULT_HEALTH_TIMEOUT);
    assert_eq!(check.healthy_threshold, DEFAULT_HEALTHY_THRESHOLD);
    assert_eq!(check.unhealthy_threshold, DEFAULT_UNHEALTHY_THRESHOLD);
    assert_eq!(check.port, None, "traffic-port");
    let HealthCheckKind::Http {
        tls: false,
        path,
        method,
        host,
        matcher,
        ..
    } = &check.kind
    else {
        panic!("http by default: {:?}", check.kind)
    };
    assert_eq!(
        (path.as_str(), method.as_str()),
        (DEFAULT_HEALTH_PATH, "GET")
    );
    assert_eq!(host, &None);
    assert!(matcher.matches(200) && !matcher.matches(204));
    assert_eq!(g.deregistration_delay, DEFAULT_DEREGISTRATION_DELAY);
    assert!(g.fail_open);
    assert!(g.outlier_detection.enabled);
    assert_eq!(
        g.outlier_detection.consecutive_failures,
        DEFAULT_CONSECUTIVE_FAILURES
    );
    assert_eq!(
        g.retry,
        RetryConfig {
            idempotent: true,
            budget_percent: DEFAULT_RETRY_BUDGET_PERCENT,
            min_per_second: DEFAULT_RETRY_MIN_PER_SECOND,
        }
    );
    let short = parse(&group("health_check = { interval = \"5s\" }")).unwrap();
    let check = short.target_groups[0].health_check.as_ref().unwrap();
    assert_eq!(
        check.timeout,
        Duration::from_millis(2500),
        "half a short interval"
    );
    let unchecked = parse(&group("")).unwrap();
    assert!(unchecked.target_groups[0].health_check.is_none());
}

#[test]
fn every_check_kind_and_override_is_read() {
    let config = parse(&group(
        "health_check = { protocol = \"grpc\", grpc_service = \"shop.Cart\", port = 9100, interval = \"5s\", timeout = \"2s\", healthy_threshold = 2, unhealthy_threshold = 3 }\noutlier_detection = { enabled = false }\nfail_open = false\nderegistration_delay = \"0s\"",
    ))
    .unwrap();
    let g = &config.target_groups[0];
    let check = g.health_check.as_ref().unwrap();
    assert_eq!(
        check.kind,
        HealthCheckKind::Grpc {
            service: "shop.Cart".into()
        }
    );
    assert_eq!(check.port, Some(9100));
    assert_eq!(
        (check.interval, check.timeout),
        (Duration::from_secs(5), Duration::from_secs(2))
    );
    assert_eq!((check.healthy_threshold, check.unhealthy_threshold), (2, 3));
    assert!(!g.outlier_detection.enabled && !g.fail_open);
    assert_eq!(g.deregistration_delay, Duration::ZERO);
    let tcp = parse(&group(
        "health_check = { protocol = \"tcp\", port = \"traffic-port\" }",
    ))
    .unwrap();
    assert_eq!(
        tcp.target_groups[0].health_check.as_ref().unwrap().kind,
        HealthCheckKind::Tcp
    );
}

#[test]
fn every_bad_value_names_its_key() {
    let errors = messages(
        "health_check = { path = \"health\", matcher = \"200-100\", interval = \"2s\", timeout = \"2s\", healthy_threshold = 0, port = 70000, method = \"get\" }\noutlier_detection = { base_ejection_time = \"60s\", max_ejection_time = \"30s\", max_ejection_percent = 101 }\nretry = { budget_percent = 150 }\nderegistration_delay = \"2h\"",
    );
    let expect = [
        "target_groups.app.health_check.path: invalid value \"health\"",
        "target_groups.app.health_check.method: invalid value \"get\"",
        "target_groups.app.health_check.matcher: invalid value \"200-100\"",
        "target_groups.app.health_check.port: invalid value 70000",
        "target_groups.app.health_check.timeout: invalid value 2s: expected less than the interval (2s)",
        "target_groups.app.health_check.healthy_threshold: invalid value 0",
        "target_groups.app.outlier_detection.max_ejection_time: invalid value 30s",
        "target_groups.app.outlier_detection.max_ejection_percent: invalid value 101",
        "target_groups.app.retry.budget_percent: invalid value 150",
        "target_groups.app.deregistration_delay: invalid value \"2h\"",
    ];
    for prefix in expect {
        assert!(
            errors.iter().any(|e| e.starts_with(prefix)),
            "no error starting with {prefix:?} in {errors:#?}"
        );
    }
    assert_eq!(errors.len(), expect.len(), "{errors:#?}");
}

#[test]
fn keys_of_another_check_kind_are_refused() {
    let errors = messages("health_check = { protocol = \"tcp\", path = \"/health\" }");
    assert_eq!(
        errors,
        ["target_groups.app.health_check.path: invalid value a path on a tcp check: expected no such key (it applies to http checks only)"]
    );
    let errors = messages("health_check = { grpc_service = \"x\" }");
    assert!(
        errors[0].starts_with("target_groups.app.health_check.grpc_service:"),
        "{errors:?}"
    );
    let errors = messages("health_check = { protocol = \"udp\" }");
    assert!(
        errors[0].starts_with("target_groups.app.health_check.protocol: invalid value \"udp\""),
        "{errors:?}"
    );
    let errors = messages("health_check = { path = \"/a b\" }");
    assert!(
        errors[0].starts_with("target_groups.app.health_check.path:"),
        "{errors:?}"
    );
}
