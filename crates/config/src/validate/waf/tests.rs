use crate::{parse, Oversize, WafAction, WafField, WafTest};

const BASE: &str = "[target_groups.app]\ntargets = [\"127.0.0.1:9000\"]\n\n[target_groups.db]\nprotocol = \"tcp\"\ntargets = [\"127.0.0.1:5432\"]\n";

fn doc(waf: &str, listener: &str) -> String {
    format!("{BASE}\n{waf}\n[listeners.web]\nbind = \"127.0.0.1:8080\"\ndefault_action = {{ forward = \"app\" }}\n{listener}\n")
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

const SHOP: &str = r#"
[waf.shop]
default_action = "allow"
block_response = { status = 429, body = "slow down" }
managed = ["ballast-core"]
managed_action = "count"
body_inspection_limit = 4096
oversize_handling = "match"
rules = [
  { name = "no-bots", priority = 20, action = "block", conditions = [{ field = "header:User-Agent", transforms = ["lowercase"], contains = "badbot" }] },
  { name = "office", priority = 10, action = "allow", conditions = [{ source_ip = ["10.0.0.0/8"] }] },
]
"#;

#[test]
fn a_set_compiles_its_rules_in_priority_order_then_the_managed_ones() {
    let config = parse(&doc(SHOP, "waf = \"shop\"")).unwrap();
    let set = config.listeners[0].waf.as_ref().unwrap();
    assert_eq!(&*set.rules[0].name, "office");
    assert_eq!(&*set.rules[1].name, "no-bots");
    assert_eq!(
        set.rules[1].conditions[0].field,
        WafField::Header("user-agent".into())
    );
    assert_eq!(
        set.rules[1].conditions[0].test,
        WafTest::Contains("badbot".into())
    );
    assert!(set.rules[2..]
        .iter()
        .all(|r| r.name.starts_with("ballast-core:")));
    assert!(set.rules[2..].iter().all(|r| r.action == WafAction::Count));
    assert_eq!(set.block_response.status, 429);
    assert_eq!((set.body_limit, set.oversize), (4096, Oversize::Match));
    assert!(set.reads_body(), "ballast-core inspects form bodies");
}

#[test]
fn a_rate_based_rule_names_a_rate_limit() {
    let text = doc(
        "[rate_limits.login]\nper_minute = 5\n\n[waf.s]\nrules = [{ name = \"r\", priority = 1, action = \"block\", conditions = [{ field = \"path\", prefix = \"/login\" }, { rate_limit = \"login\" }] }]\n",
        "waf = \"s\"",
    );
    let config = parse(&text).unwrap();
    let set = config.listeners[0].waf.as_ref().unwrap();
    let c = &set.rules[0].conditions[1];
    assert_eq!(c.field, WafField::SourceIp);
    assert!(matches!(&c.test, WafTest::RateLimit(l) if &*l.name == "login"));
    let with_field = text.replace("{ rate_limit", "{ field = \"path\", rate_limit");
    has(&with_field, "waf.s.rules[0].conditions[1]");
}

#[test]
fn ballast_core_is_one_line_on_a_listener_or_a_rule() {
    let config = parse(&doc("", "waf = \"ballast-core\"\nrules = [{ priority = 1, conditions = { path = [\"/api/*\"] }, action = { forward = \"app\" }, waf = \"ballast-core\" }]")).unwrap();
    let l = &config.listeners[0];
    let set = l.waf.as_ref().unwrap();
    assert_eq!(&*set.name, "ballast-core");
    assert!(set.rules.iter().all(|r| r.action == WafAction::Block));
    assert_eq!(set.body_limit, 8192);
    assert!(std::sync::Arc::ptr_eq(
        set,
        l.rules[0].waf.as_ref().unwrap()
    ));
}

#[test]
fn bad_sets_name_their_key() {
    let set = |rules: &str| doc(&format!("[waf.s]\nrules = [{rules}]\n"), "waf = \"s\"");
    has(
        &set(
            r#"{ name = "r", priority = 1, action = "deny", conditions = [{ field = "path", exact = "/" }] }"#,
        ),
        "waf.s.rules[0].action:",
    );
    has(
        &set(r#"{ name = "r", priority = 1, action = "block", conditions = [] }"#),
        "waf.s.rules[0].conditions:",
    );
    has(
        &set(
            r#"{ name = "r", priority = 1, action = "block", conditions = [{ field = "path", exact = "/", prefix = "/" }] }"#,
        ),
        "waf.s.rules[0].conditions[0]:",
    );
    has(
        &set(
            r#"{ name = "r", priority = 1, action = "block", conditions = [{ field = "path", regex = "(a" }] }"#,
        ),
        "waf.s.rules[0].conditions[0].regex:",
    );
    has(
        &set(
            r#"{ name = "r", priority = 1, action = "block", conditions = [{ field = "body_text", sqli = true }] }"#,
        ),
        "waf.s.rules[0].conditions[0].field:",
    );
    has(
        &set(r#"{ name = "r", priority = 1, action = "block", conditions = [{ sqli = true }] }"#),
        "waf.s.rules[0].conditions[0].field:",
    );
    has(
        &set(
            r#"{ name = "r", priority = 1, action = "block", conditions = [{ field = "path", transforms = ["rot13"], exact = "/" }] }"#,
        ),
        "waf.s.rules[0].conditions[0].transforms[0]:",
    );
    has(
        &set(
            r#"{ name = "r", priority = 1, action = "block", conditions = [{ field = "path", exact = "/" }] }, { name = "r", priority = 2, action = "count", conditions = [{ field = "path", exact = "/" }] }"#,
        ),
        "waf.s.rules[1].name:",
    );
    has(
        &doc("[waf.s]\nmanaged = [\"owasp\"]\n", "waf = \"s\""),
        "waf.s.managed[0]:",
    );
    has(
        &doc("[waf.s]\nbody_inspection_limit = 0\n", "waf = \"s\""),
        "waf.s.body_inspection_limit:",
    );
    has(&doc("[waf.ballast-core]\n", ""), "waf.ballast-core:");
    has(&doc("", "waf = \"nope\""), "listeners.web.waf:");
    let tcp = format!("{BASE}\n[listeners.pg]\nbind = \"127.0.0.1:6432\"\nprotocol = \"tcp\"\ndefault_action = {{ forward = \"db\" }}\nwaf = \"ballast-core\"\n");
    has(&tcp, "listeners.pg.waf:");
}
