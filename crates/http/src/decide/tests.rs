//! The decision phase, table-driven, without sockets.

use super::*;
use crate::snapshot::FixedReply;
use crate::testing::{group, routes};
use ballast_balance::Algorithm;
use ballast_config::Conditions;
use http::{HeaderValue, Request};

fn input() -> DecideInput<'static> {
    DecideInput {
        peer: "10.0.0.7".parse().unwrap(),
        peer_text: b"10.0.0.7",
        now: Instant::now(),
        unix_now: 1_700_000_000,
        group_dice: 0,
        pick_dice: 0,
    }
}

fn request(uri: &str, headers: &[(&'static str, &str)]) -> http::request::Parts {
    let mut req = Request::get(uri).body(()).unwrap();
    for (name, value) in headers {
        req.headers_mut()
            .append(*name, HeaderValue::from_str(value).unwrap());
    }
    req.into_parts().0
}

fn fixed(status: u16) -> RouteAction {
    RouteAction::Fixed(Arc::new(FixedReply {
        status: http::StatusCode::from_u16(status).unwrap(),
        content_type: HeaderValue::from_static("text/plain"),
        body: bytes::Bytes::new(),
    }))
}

fn conditions(host: &[&str], path: &[&str]) -> Conditions {
    Conditions {
        host: host.iter().map(|h| (*h).to_owned()).collect(),
        path: path.iter().map(|p| (*p).to_owned()).collect(),
        ..Conditions::default()
    }
}

#[test]
fn rules_decide_by_priority_then_the_default_applies() {
    let app = group("app", 2, Algorithm::RoundRobin);
    let routes = routes(
        RouteAction::Forward(Arc::clone(&app)),
        vec![
            (20, conditions(&["api.example.com"], &[]), fixed(418)),
            (10, conditions(&[], &["/admin*"]), fixed(403)),
        ],
    );
    let table: &[(&str, Option<u32>, &str)] = &[
        ("http://api.example.com/x", Some(20), "418"),
        ("http://api.example.com/admin", Some(10), "403"),
        ("http://www.example.com/%61dmin", Some(10), "403"),
        ("http://www.example.com/x/../admin", Some(10), "403"),
        ("http://API.Example.com.:8080/y", Some(20), "418"),
        ("http://www.example.com/", None, "forward"),
    ];
    for (uri, rule, verdict) in table {
        let decision = decide(&routes, &request(uri, &[]), &input());
        assert_eq!(decision.rule, *rule, "{uri}");
        let seen = match &decision.verdict {
            Verdict::Fixed(f) => f.status.as_str().to_owned(),
            Verdict::Forward(_) => "forward".to_owned(),
            other => format!("{other:?}"),
        };
        assert_eq!(seen, *verdict, "{uri}");
    }
}

#[test]
fn a_forward_is_decided_down_to_its_first_target() {
    let app = group("app", 3, Algorithm::RoundRobin);
    let routes = routes(RouteAction::Forward(Arc::clone(&app)), vec![]);
    let picks: Vec<Option<usize>> = (0..6)
        .map(
            |_| match decide(&routes, &request("/", &[("host", "a")]), &input()).verdict {
                Verdict::Forward(f) => f.target,
                _ => None,
            },
        )
        .collect();
    assert_eq!(picks.iter().flatten().count(), 6);
    for i in 0..3 {
        assert_eq!(
            picks.iter().filter(|p| **p == Some(i)).count(),
            2,
            "round robin: {picks:?}"
        );
    }
}

#[test]
fn ip_hash_places_a_client_by_its_address() {
    let app = group("app", 5, Algorithm::IpHash);
    let routes = routes(RouteAction::Forward(Arc::clone(&app)), vec![]);
    let target = |peer: &'static [u8]| {
        let mut i = input();
        i.peer_text = peer;
        match decide(&routes, &request("/", &[]), &i).verdict {
            Verdict::Forward(f) => (f.key.is_some(), f.target),
            _ => (false, None),
        }
    };
    let first = target(b"192.0.2.1");
    assert!(first.0, "a hashing group gets a key");
    for _ in 0..10 {
        assert_eq!(
            target(b"192.0.2.1"),
            first,
            "the same client, the same target"
        );
    }
}

#[test]
fn nothing_to_pick_leaves_the_target_empty() {
    let app = group("app", 2, Algorithm::RoundRobin);
    for t in &app.targets {
        t.state.set_state(
            HealthState::Draining,
            HealthReason::DeregistrationInProgress,
            Instant::now(),
        );
    }
    let routes = routes(RouteAction::Forward(Arc::clone(&app)), vec![]);
    match decide(&routes, &request("/", &[]), &input()).verdict {
        Verdict::Forward(f) => assert_eq!(f.target, None),
        other => panic!("{other:?}"),
    }
}

use ballast_balance::{HealthReason, HealthState};
