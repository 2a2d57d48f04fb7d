use std::net::IpAddr;
use std::sync::Arc;

use ballast_config::{
    ballast_core_rules, Cidr, CidrSet, FixedResponse, Oversize, Transform, WafAction, WafCondition,
    WafConfig, WafField, WafRule, WafTest,
};
use http::HeaderMap;

use super::*;

/// A request as the WAF sees it: method, path, query, fields.
struct Req {
    path: Vec<u8>,
    query: Vec<u8>,
    headers: HeaderMap,
}

impl crate::head::FieldLookup for Req {
    fn any_field<'s>(&'s self, name: &str, f: &mut dyn FnMut(&'s [u8]) -> bool) -> bool {
        self.headers.any_field(name, f)
    }
    fn first_field(&self, name: &str) -> Option<&[u8]> {
        self.headers.first_field(name)
    }
    fn any_value<'s>(&'s self, f: &mut dyn FnMut(&'s [u8]) -> bool) -> bool {
        self.headers.any_value(f)
    }
}

impl crate::head::RequestFacts for Req {
    fn method(&self) -> &str {
        "POST"
    }
    fn authority(&self) -> &[u8] {
        b"shop.example:8080"
    }
    fn path(&self) -> &[u8] {
        &self.path
    }
    fn query(&self) -> &[u8] {
        &self.query
    }
}

fn req(target: &str, headers: &[(&'static str, &str)]) -> Req {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut map = HeaderMap::new();
    for (n, v) in headers {
        map.append(*n, v.parse().unwrap());
    }
    Req {
        path: path.as_bytes().to_vec(),
        query: query.as_bytes().to_vec(),
        headers: map,
    }
}

fn cond(field: WafField, test: WafTest) -> WafCondition {
    WafCondition {
        field,
        transforms: Vec::new(),
        test,
        negate: false,
    }
}

fn rule(name: &str, priority: u32, action: WafAction, conditions: Vec<WafCondition>) -> WafRule {
    WafRule {
        name: Arc::from(name),
        priority,
        action,
        conditions,
    }
}

fn set(rules: Vec<WafRule>, default_action: WafAction) -> Waf {
    let config = WafConfig {
        name: Arc::from("test"),
        rules,
        default_action,
        block_response: FixedResponse {
            status: 403,
            content_type: "text/plain".into(),
            body: "no".into(),
        },
        body_limit: 8192,
        oversize: Oversize::Continue,
    };
    Waf::new(Arc::new(config), None, &[]).unwrap()
}

fn screen(waf: &Waf, r: &Req, body: Option<(&[u8], bool)>) -> (bool, Option<String>, &'static str) {
    let body = match body {
        None => Body::None,
        // "More" is a body one byte longer than the set's limit.
        Some((b, more)) => Body::Read(b, if more { 17 } else { b.len() as u64 }),
    };
    let at = Inspected {
        req: r,
        client: "192.0.2.7".parse::<IpAddr>().unwrap(),
        peer: "192.0.2.7".parse::<IpAddr>().unwrap(),
        trusted: &[],
        body,
    };
    let s = waf.screen(&at);
    (s.block, s.rule.map(|r| r.to_string()), s.action)
}

#[test]
fn the_first_allow_or_block_decides_and_counts_go_on() {
    let waf = set(
        vec![
            rule(
                "count-admin",
                1,
                WafAction::Count,
                vec![cond(WafField::Path, WafTest::Prefix("/admin".into()))],
            ),
            rule(
                "allow-office",
                2,
                WafAction::Allow,
                vec![cond(
                    WafField::SourceIp,
                    WafTest::SourceIp(CidrSet::new(&[Cidr::parse("192.0.2.0/24").unwrap()])),
                )],
            ),
            rule(
                "block-admin",
                3,
                WafAction::Block,
                vec![cond(WafField::Path, WafTest::Prefix("/admin".into()))],
            ),
        ],
        WafAction::Allow,
    );
    assert_eq!(
        screen(&waf, &req("/admin/x", &[]), None),
        (false, Some("allow-office".into()), "allow")
    );
    let waf = set(
        vec![
            rule(
                "count-admin",
                1,
                WafAction::Count,
                vec![cond(WafField::Path, WafTest::Prefix("/admin".into()))],
            ),
            rule(
                "block-admin",
                3,
                WafAction::Block,
                vec![cond(WafField::Path, WafTest::Prefix("/admin".into()))],
            ),
        ],
        WafAction::Allow,
    );
    assert_eq!(
        screen(&waf, &req("/admin/x", &[]), None),
        (true, Some("block-admin".into()), "block")
    );
    assert_eq!(
        screen(&waf, &req("/shop", &[]), None),
        (false, None, "default")
    );
    let strict = set(
        vec![rule(
            "c",
            1,
            WafAction::Count,
            vec![cond(WafField::Path, WafTest::Exact("/shop".into()))],
        )],
        WafAction::Block,
    );
    // The default action blocked: that is what the log says.
    assert_eq!(
        screen(&strict, &req("/shop", &[]), None),
        (true, None, "default")
    );
}

#[test]
fn every_condition_of_a_rule_must_hold_and_negate_inverts_one() {
    let mut not_json = cond(
        WafField::Header("content-type".into()),
        WafTest::Prefix("application/json".into()),
    );
    not_json.negate = true;
    let waf = set(
        vec![rule(
            "post-api-not-json",
            1,
            WafAction::Block,
            vec![
                cond(WafField::Path, WafTest::Prefix("/api/".into())),
                not_json,
            ],
        )],
        WafAction::Allow,
    );
    assert!(
        screen(
            &waf,
            &req("/api/x", &[("content-type", "text/plain")]),
            None
        )
        .0
    );
    assert!(
        !screen(
            &waf,
            &req("/api/x", &[("content-type", "application/json")]),
            None
        )
        .0
    );
    assert!(!screen(&waf, &req("/web", &[("content-type", "text/plain")]), None).0);
}

#[test]
fn fields_and_tests_read_the_parts_they_name() {
    let block = |c: WafCondition| {
        set(
            vec![rule("r", 1, WafAction::Block, vec![c])],
            WafAction::Allow,
        )
    };
    let r = req(
        "/p/a?id=7&name=O%27Brien&q=a+b",
        &[
            ("cookie", "sid=abc; theme=dark"),
            ("user-agent", "Mozilla/5.0"),
            ("x-big", &"x".repeat(100)),
        ],
    );
    let cases = [
        (
            cond(WafField::Arg("id".into()), WafTest::Exact("7".into())),
            true,
        ),
        (
            cond(WafField::Arg("id".into()), WafTest::Exact("8".into())),
            false,
        ),
        (
            cond(
                WafField::Cookie("theme".into()),
                WafTest::Exact("dark".into()),
            ),
            true,
        ),
        (cond(WafField::Cookies, WafTest::Exact("abc".into())), true),
        (
            cond(WafField::Headers, WafTest::Contains("Mozilla".into())),
            true,
        ),
        (
            cond(WafField::Header("x-big".into()), WafTest::SizeOver(99)),
            true,
        ),
        (
            cond(WafField::Header("x-big".into()), WafTest::SizeOver(100)),
            false,
        ),
        (
            cond(WafField::Uri, WafTest::Regex(r"^/p/a\?id=\d+&".into())),
            true,
        ),
        (
            cond(WafField::Host, WafTest::Exact("shop.example".into())),
            true,
        ),
        (cond(WafField::Method, WafTest::Exact("POST".into())), true),
        (cond(WafField::Query, WafTest::Suffix("a+b".into())), true),
        (
            WafCondition {
                transforms: vec![Transform::UrlDecode],
                ..cond(WafField::Arg("q".into()), WafTest::Exact("a b".into()))
            },
            true,
        ),
    ];
    for (c, blocked) in cases {
        let described = format!("{c:?}");
        assert_eq!(screen(&block(c), &r, None).0, blocked, "{described}");
    }
}

#[test]
fn ballast_core_blocks_attacks_and_passes_ordinary_requests() {
    let core = set(ballast_core_rules(WafAction::Block), WafAction::Allow);
    let form = [("content-type", "application/x-www-form-urlencoded")];
    for (target, headers, body, rule) in [
        (
            "/items?id=1%27%20OR%20%271%27%3D%271",
            &[][..],
            None,
            "ballast-core:sqli-args",
        ),
        (
            "/items?id=1 UNION SELECT password FROM users--",
            &[],
            None,
            "ballast-core:sqli-args",
        ),
        (
            "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            &[],
            None,
            "ballast-core:xss-args",
        ),
        (
            "/search?q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
            &[],
            None,
            "ballast-core:xss-args",
        ),
        (
            "/login",
            &form[..],
            Some(&b"user=admin&pass=x' or '1'='1"[..]),
            "ballast-core:sqli-body",
        ),
        (
            "/static/..%2F..%2Fetc%2Fpasswd",
            &[],
            None,
            "ballast-core:traversal-path",
        ),
        (
            "/download?file=../../etc/passwd",
            &[],
            None,
            "ballast-core:traversal-args",
        ),
        (
            "/",
            &[("user-agent", "sqlmap/1.7.2#stable")][..],
            None,
            "ballast-core:scanners",
        ),
    ] {
        let r = req(target, headers);
        let (blocked, by, _) = screen(&core, &r, body.map(|b| (b, false)));
        assert!(blocked, "{target} {body:?}");
        assert_eq!(by.as_deref(), Some(rule), "{target}");
    }
    let json = [("content-type", "application/json")];
    for (target, headers, body) in [
        ("/items?id=42&sort=price&order=desc", &[][..], None),
        ("/search?q=rock+%26+roll&page=2", &[], None),
        (
            "/profile",
            &form[..],
            Some(&b"name=Conan+O%27Brien&city=Dublin&bio=I+like+1%3D1+math"[..]),
        ),
        (
            "/api/orders",
            &json[..],
            Some(&br#"{"id": 7, "note": "ship before 5 o'clock", "tags": ["a", "b"]}"#[..]),
        ),
        ("/blog/2026/12/why-select-from-is-fun", &[], None),
        (
            "/",
            &[(
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
            )][..],
            None,
        ),
    ] {
        let r = req(target, headers);
        assert!(
            !screen(&core, &r, body.map(|b| (b, false))).0,
            "{target} {body:?}"
        );
    }
}

#[test]
fn oversize_bodies_follow_the_sets_handling() {
    let body_rule = |oversize| {
        let mut w = set(
            vec![rule(
                "b",
                1,
                WafAction::Block,
                vec![cond(WafField::Body, WafTest::Contains("evil".into()))],
            )],
            WafAction::Allow,
        );
        let config = Arc::get_mut(&mut w.config).unwrap();
        config.oversize = oversize;
        config.body_limit = 16;
        w
    };
    let r = req("/", &[]);
    let long = Some((&b"0123456789abcdef"[..], true));
    assert!(!screen(&body_rule(Oversize::Continue), &r, long).0);
    assert!(screen(&body_rule(Oversize::Match), &r, long).0);
    assert!(
        !screen(
            &body_rule(Oversize::NoMatch),
            &r,
            Some((&b"evil"[..], true))
        )
        .0
    );
    assert!(
        screen(
            &body_rule(Oversize::Continue),
            &r,
            Some((&b"evil"[..], true))
        )
        .0
    );
}

#[test]
fn each_set_reads_its_own_limit_and_uninspected_bodies_count_as_oversize() {
    let mut w = set(
        vec![rule(
            "b",
            1,
            WafAction::Block,
            vec![cond(WafField::Body, WafTest::Contains("evil".into()))],
        )],
        WafAction::Allow,
    );
    let config = Arc::get_mut(&mut w.config).unwrap();
    config.body_limit = 4;
    config.oversize = Oversize::Match;
    let r = req("/", &[]);
    let at = |body| Inspected {
        req: &r,
        client: "192.0.2.7".parse::<IpAddr>().unwrap(),
        peer: "192.0.2.7".parse::<IpAddr>().unwrap(),
        trusted: &[],
        body,
    };
    // Read up to another set's larger limit: still oversize for this one.
    assert!(w.screen(&at(Body::Read(b"fine and long", 13))).block);
    assert!(!w.screen(&at(Body::Read(b"fine", 4))).block);
    assert!(w.screen(&at(Body::Uninspected)).block);
    assert!(!w.screen(&at(Body::None)).block);
}

#[test]
fn argument_names_compare_decoded_and_in_any_case() {
    let w = set(
        vec![rule(
            "q",
            1,
            WafAction::Block,
            vec![WafCondition {
                transforms: vec![Transform::UrlDecode],
                ..cond(WafField::Arg("q".into()), WafTest::Sqli)
            }],
        )],
        WafAction::Allow,
    );
    for target in [
        "/?q=1%27%20OR%20%271%27%3D%271",
        "/?%71=1%27%20OR%20%271%27%3D%271",
        "/?Q=1%27%20OR%20%271%27%3D%271",
    ] {
        assert!(screen(&w, &req(target, &[]), None).0, "{target}");
    }
}

#[test]
fn a_rate_based_rule_holds_once_its_key_goes_over_the_rate() {
    let limit = Arc::new(ballast_config::RateLimitConfig {
        name: Arc::from("login"),
        key: vec![ballast_config::RateKey::ClientIp],
        per_second: None,
        per_minute: Some(2),
    });
    let limiter = Arc::new(crate::RateLimiter::new(Arc::clone(&limit)));
    let config = WafConfig {
        name: Arc::from("rated"),
        rules: vec![rule(
            "too-fast",
            1,
            WafAction::Block,
            vec![
                cond(WafField::Path, WafTest::Prefix("/login".into())),
                cond(WafField::SourceIp, WafTest::RateLimit(limit)),
            ],
        )],
        default_action: WafAction::Allow,
        block_response: FixedResponse {
            status: 429,
            content_type: "text/plain".into(),
            body: String::new(),
        },
        body_limit: 8192,
        oversize: Oversize::Continue,
    };
    let waf = Waf::new(Arc::new(config), None, &[limiter]).unwrap();
    let login = req("/login", &[]);
    let home = req("/", &[]);
    // Other paths are not counted (the path condition comes first).
    for _ in 0..5 {
        assert!(!screen(&waf, &home, None).0);
    }
    assert!(!screen(&waf, &login, None).0);
    assert!(!screen(&waf, &login, None).0);
    assert_eq!(
        screen(&waf, &login, None),
        (true, Some("too-fast".into()), "block")
    );
}
