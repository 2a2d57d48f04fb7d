use crate::model::Action;
use crate::parse;

fn listener(rules: &str) -> String {
    format!(
        "[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"app\" }}\n{rules}\n[target_groups.app]\n[target_groups.api]\n"
    )
}

fn messages(rules: &str) -> Vec<String> {
    match parse(&listener(rules)) {
        Ok(_) => panic!("expected errors for {rules}"),
        Err(e) => e.errors().iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn rules_are_read_and_sorted_by_priority() {
    let config = parse(&listener(
        r#"
[[listeners.web.rules]]
priority = 20
conditions = { path = ["/old/*"] }
action = { redirect = { status = 301, path = "/new/#{path}" } }

[[listeners.web.rules]]
priority = 10
conditions = { host = ["API.example.com", "*.api.example.com"], path = ["/api/*"], method = ["GET"], header = [{ name = "X-Canary", values = ["On"] }], query = [{ key = "V", values = ["2*"] }], source_ip = ["10.0.0.0/8", "2001:db8::/32"] }
action = { forward = "api" }

[[listeners.web.rules]]
priority = 30
conditions = { path = ["/health"] }
action = { fixed_response = { status = 200, content_type = "application/json", body = "{}" } }
"#,
    ))
    .unwrap();
    let rules = &config.listeners[0].rules;
    assert_eq!(
        rules.iter().map(|r| r.priority).collect::<Vec<_>>(),
        [10, 20, 30]
    );
    let c = &rules[0].conditions;
    assert_eq!(c.host, ["api.example.com", "*.api.example.com"]);
    assert_eq!(
        (c.header[0].name.as_str(), c.header[0].values[0].as_str()),
        ("x-canary", "on")
    );
    assert_eq!(c.query[0].key, "v");
    assert_eq!(c.source_ip.len(), 2);
    let Action::Redirect(redirect) = &rules[1].action else {
        panic!()
    };
    assert_eq!(
        (
            redirect.status,
            redirect.host.as_str(),
            redirect.path.as_str()
        ),
        (301, "#{host}", "/new/#{path}")
    );
    assert!(
        matches!(&rules[2].action, Action::FixedResponse(f) if f.status == 200 && f.body == "{}")
    );
}

#[test]
fn bad_rules_name_their_key() {
    let rule = |conditions: &str, action: &str| {
        format!("[[listeners.web.rules]]\npriority = 10\nconditions = {conditions}\naction = {action}\n")
    };
    let p = "listeners.web.rules[0]";
    let cases = [
        (
            rule("{}", "{ forward = \"app\" }"),
            format!("{p}.conditions: invalid value no condition"),
        ),
        (
            rule("{ path = [\"api\"] }", "{ forward = \"app\" }"),
            format!("{p}.conditions.path[0]: invalid value \"api\""),
        ),
        (
            rule("{ host = [\"a b\"] }", "{ forward = \"app\" }"),
            format!("{p}.conditions.host[0]: invalid value \"a b\""),
        ),
        (
            rule("{ method = [\"get\"] }", "{ forward = \"app\" }"),
            format!("{p}.conditions.method[0]: invalid value \"get\""),
        ),
        (
            rule("{ source_ip = [\"10.0.0.0/40\"] }", "{ forward = \"app\" }"),
            format!("{p}.conditions.source_ip[0]: invalid value \"10.0.0.0/40\""),
        ),
        (
            rule(
                "{ header = [{ name = \"Host\", values = [\"x\"] }] }",
                "{ forward = \"app\" }",
            ),
            format!("{p}.conditions.header[0].name: invalid value \"Host\""),
        ),
        (
            rule("{ path = [\"/a\"] }", "{ forward = \"apii\" }"),
            format!("{p}.action.forward: unknown target group \"apii\""),
        ),
        (
            rule("{ path = [\"/a\"] }", "{ redirect = {} }"),
            format!("{p}.action.redirect: invalid value a redirect that keeps protocol, host, port and path"),
        ),
        (
            rule(
                "{ path = [\"/a\"] }",
                "{ redirect = { status = 303, protocol = \"https\" } }",
            ),
            format!("{p}.action.redirect.status: invalid value 303"),
        ),
        (
            rule(
                "{ path = [\"/a\"] }",
                "{ redirect = { host = \"#{path}.example.com\" } }",
            ),
            format!("{p}.action.redirect.host: invalid value \"#{{path}}.example.com\""),
        ),
        (
            rule(
                "{ path = [\"/a\"] }",
                "{ fixed_response = { status = 302 } }",
            ),
            format!("{p}.action.fixed_response.status: invalid value 302"),
        ),
        (
            rule(
                "{ path = [\"/a\"] }",
                "{ fixed_response = { status = 200, content_type = \"image/png\" } }",
            ),
            format!("{p}.action.fixed_response.content_type: invalid value \"image/png\""),
        ),
        (
            rule(
                "{ path = [\"/a\"] }",
                "{ forward = \"app\", fixed_response = { status = 200 } }",
            ),
            format!("{p}.action: invalid value 2 actions"),
        ),
    ];
    for (rules, expected) in cases {
        let errors = messages(&rules);
        assert!(
            errors.iter().any(|e| e.starts_with(&expected)),
            "{rules}\n{errors:#?}"
        );
    }
    let twice = format!(
        "{}{}",
        rule("{ path = [\"/a\"] }", "{ forward = \"app\" }"),
        rule("{ path = [\"/b\"] }", "{ forward = \"app\" }")
    );
    let errors = messages(&twice);
    assert!(errors[0].starts_with("listeners.web.rules[1].priority: invalid value 10: expected a priority no other rule has (listeners.web.rules[0].priority has it)"), "{errors:?}");
    let long = format!(
        "{{ fixed_response = {{ status = 200, body = \"{}\" }} }}",
        "x".repeat(1025)
    );
    let errors = messages(&rule("{ path = [\"/a\"] }", &long));
    assert!(
        errors[0].starts_with(&format!(
            "{p}.action.fixed_response.body: invalid value 1025 bytes"
        )),
        "{errors:?}"
    );
}
