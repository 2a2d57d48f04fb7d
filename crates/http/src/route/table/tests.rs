use super::*;
use ballast_config::{HeaderCondition, QueryCondition};
use http::HeaderMap;
use http::HeaderValue;
use proptest::prelude::*;

fn view<'a>(host: &'a str, path: &'a str, headers: &'a HeaderMap) -> RequestView<'a> {
    RequestView {
        host: host.as_bytes(),
        path: path.as_bytes(),
        method: "GET",
        query: b"",
        headers,
        client_ip: Some("10.1.2.3".parse().unwrap()),
    }
}

fn cond() -> Conditions {
    Conditions::default()
}

#[test]
fn first_match_by_priority_wins_across_the_indexes() {
    let table = RuleTable::build([
        (
            30,
            Conditions {
                path: vec!["/api/*".into()],
                ..cond()
            },
            "api",
        ),
        (
            10,
            Conditions {
                host: vec!["admin.example.com".into()],
                ..cond()
            },
            "admin",
        ),
        (
            20,
            Conditions {
                host: vec!["*.example.com".into()],
                ..cond()
            },
            "wild",
        ),
        (
            40,
            Conditions {
                path: vec!["*".into()],
                ..cond()
            },
            "all",
        ),
    ]);
    let h = HeaderMap::new();
    assert_eq!(
        table.find(&view("ADMIN.example.com", "/api/x", &h)),
        Some((&"admin", 10))
    );
    assert_eq!(
        table.find(&view("www.example.com", "/api/x", &h)),
        Some((&"wild", 20))
    );
    assert_eq!(
        table.find(&view("other.org", "/api/x", &h)),
        Some((&"api", 30))
    );
    assert_eq!(table.find(&view("other.org", "/x", &h)), Some((&"all", 40)));
}

#[test]
fn every_condition_kind_must_hold() {
    let conditions = Conditions {
        method: vec!["POST".into()],
        header: vec![HeaderCondition {
            name: "x-canary".into(),
            values: vec!["on".into(), "y*".into()],
        }],
        query: vec![QueryCondition {
            key: "v".into(),
            values: vec!["2*".into()],
        }],
        source_ip: vec![ballast_config::Cidr::parse("10.0.0.0/8").unwrap()],
        ..cond()
    };
    let table = RuleTable::build([(1, conditions, ())]);
    let mut headers = HeaderMap::new();
    headers.append("x-canary", HeaderValue::from_static("nope"));
    headers.append("x-canary", HeaderValue::from_static("YES"));
    let ok = RequestView {
        method: "POST",
        query: b"a=1&V=2.1",
        ..view("h", "/", &headers)
    };
    assert!(table.find(&ok).is_some());
    assert!(table
        .find(&RequestView {
            method: "GET",
            ..ok
        })
        .is_none());
    assert!(table
        .find(&RequestView {
            query: b"v=3",
            ..ok
        })
        .is_none());
    assert!(
        table.find(&RequestView { query: b"", ..ok }).is_none(),
        "a missing key never matches"
    );
    assert!(table
        .find(&RequestView {
            client_ip: Some("192.168.0.1".parse().unwrap()),
            ..ok
        })
        .is_none());
    let empty = HeaderMap::new();
    assert!(table
        .find(&RequestView {
            headers: &empty,
            ..ok
        })
        .is_none());
}

// --- a reference matcher, written the obvious way, to check the indexed one against ---

fn glob(p: &[u8], t: &[u8]) -> bool {
    match (p.first(), t.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], t) || (!t.is_empty() && glob(p, &t[1..])),
        (Some(b'?'), Some(_)) => glob(&p[1..], &t[1..]),
        (Some(a), Some(b)) if a == b => glob(&p[1..], &t[1..]),
        _ => false,
    }
}

fn reference(rules: &[(u32, Conditions)], host: &str, path: &str) -> Option<u32> {
    let host = host.to_ascii_lowercase();
    let mut sorted: Vec<_> = rules.iter().collect();
    sorted.sort_by_key(|(p, _)| *p);
    sorted.into_iter().find_map(|(priority, c)| {
        let host_ok =
            c.host.is_empty() || c.host.iter().any(|g| glob(g.as_bytes(), host.as_bytes()));
        let path_ok =
            c.path.is_empty() || c.path.iter().any(|g| glob(g.as_bytes(), path.as_bytes()));
        (host_ok && path_ok).then_some(*priority)
    })
}

fn host_glob() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ab]\\.com",
        "\\*\\.com",
        "[ab]\\.c\\?m",
        "a\\.[ab]\\.com",
        "\\*",
        "\\*\\.a\\.com",
        "[ab]\\*\\.com",
        "\\?\\.a\\.org"
    ]
}

fn path_glob() -> impl Strategy<Value = String> {
    prop_oneof![
        "/[ab]",
        "/[ab]/\\*",
        "/\\*",
        "/[ab]\\?",
        "\\*",
        "/",
        "/a/b",
        "/a/b/\\*",
        "/a/\\*/b",
        "/[ab]/[ab]/",
        "/a/b\\*"
    ]
}

fn rule() -> impl Strategy<Value = Conditions> {
    (
        proptest::collection::vec(host_glob(), 0..3),
        proptest::collection::vec(path_glob(), 0..3),
    )
        .prop_map(|(host, path)| Conditions {
            host,
            path,
            ..Conditions::default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn the_indexed_table_agrees_with_the_reference(
        rules in proptest::collection::vec(rule(), 0..12),
        host in "(a|b|A)\\.(a\\.)?(com|cam|org)",
        path in "/(a|b|ab|a/b|b/a|a/b/|a/b/c|a/x/b|a/bc)?",
    ) {
        let numbered: Vec<(u32, Conditions)> = rules
            .into_iter()
            .enumerate()
            .map(|(i, c)| ((i as u32 * 7919) % 101 + i as u32 * 101, c))
            .collect();
        let table = RuleTable::build(numbered.iter().map(|(p, c)| (*p, c.clone(), *p)));
        let headers = HeaderMap::new();
        let got = table.find(&view(&host, &path, &headers)).map(|(_, p)| p);
        prop_assert_eq!(got, reference(&numbered, &host, &path));
    }
}
