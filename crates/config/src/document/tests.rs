use serde_json::json;

use super::*;
use crate::raw::RawTarget;

/// Every shorthand and most sections, to check that nothing is lost on the way round.
const FULL: &str = r#"
[server]
drain_timeout = "10s"
stickiness_secret = "0123456789abcdef0123456789abcdef"

[admin]
bind = "127.0.0.1:0"
token = "0123456789abcdef0123"

[listeners.web]
bind = "127.0.0.1:0"
default_action = { forward = { groups = [{ name = "api", weight = 90 }, { name = "web", weight = 10 }], stickiness = "1h" } }
trusted_proxies = []

[[listeners.web.rules]]
priority = 10
conditions = { path = ["/api/*"], header = [{ name = "X-Canary", values = ["1"] }] }
action = { forward = "api" }

[[listeners.web.rules]]
priority = 20
conditions = { method = ["GET"] }
action = { redirect = { status = 301, path = "/new/#{path}" } }

[target_groups.api]
algorithm = "least_outstanding_requests"
targets = ["127.0.0.1:9001", { address = "127.0.0.1:9002", weight = 2, zone = "b" }]
health_check = { path = "/health", port = "traffic-port", matcher = "200-399" }
stickiness = { type = "lb_cookie", duration = "1d" }

[target_groups.web]
targets = [{ address = "127.0.0.1:9003" }]
health_check = { protocol = "tcp", port = 9100 }
"#;

fn full() -> Document {
    Document::from_toml(FULL).unwrap()
}

#[test]
fn json_and_toml_round_trip_without_loss() {
    let document = full();
    let json = document.to_json();
    assert_eq!(Document::from_json(&json).unwrap(), document);
    let toml = toml::to_string(&document).unwrap();
    assert_eq!(Document::from_toml(&toml).unwrap(), document, "{toml}");
    if let Err(errors) = document.validate() {
        panic!("{errors}");
    }

    // The shorthands come back as written, absent keys stay absent, and an explicitly empty
    // list stays (it is not the same as a missing key for every key).
    assert_eq!(json["target_groups"]["api"]["targets"][0], "127.0.0.1:9001");
    assert_eq!(
        json["target_groups"]["api"]["targets"][1],
        json!({"address": "127.0.0.1:9002", "weight": 2, "zone": "b"})
    );
    assert_eq!(
        json["listeners"]["web"]["rules"][0]["action"]["forward"],
        "api"
    );
    assert_eq!(
        json["target_groups"]["api"]["health_check"]["port"],
        "traffic-port"
    );
    assert_eq!(json["target_groups"]["web"]["health_check"]["port"], 9100);
    assert_eq!(
        json["target_groups"]["api"]["stickiness"]["type"],
        "lb_cookie"
    );
    assert_eq!(json["listeners"]["web"]["trusted_proxies"], json!([]));
    assert!(json["target_groups"]["web"].get("algorithm").is_none());
    assert!(!json.to_string().contains("null"), "{json}");
}

#[test]
fn unknown_keys_still_fail_with_their_path() {
    let mut json = full().to_json();
    json["target_groups"]["api"]["algoritm"] = json!("round_robin");
    let errors = Document::from_json(&json).unwrap_err();
    assert_eq!(
        errors.errors()[0].path.to_string(),
        "target_groups.api.algoritm"
    );
    assert!(errors.to_string().contains("algoritm"), "{errors}");
}

#[test]
fn rules_are_put_and_deleted_by_priority() {
    let mut document = full();
    let replaced = document
        .put_rule_json(
            "web",
            10,
            &json!({"conditions": {"path": ["/v2/*"]}, "action": {"forward": "web"}}),
        )
        .unwrap();
    assert_eq!(replaced.map(|r| r.priority), Some(10));
    let rules = &document.listener("web").unwrap().rules;
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].conditions.path, Some(vec!["/v2/*".to_owned()]));

    assert_eq!(
        document.put_rule_json(
            "web",
            30,
            &json!({"priority": 30, "conditions": {}, "action": {"forward": "api"}})
        ),
        Ok(None)
    );
    assert_eq!(document.listener("web").unwrap().rules.len(), 3);
    assert_eq!(
        document.put_rule_json("web", 40, &json!({"priority": 41})),
        Err(EditError::PriorityMismatch {
            listener: "web".to_owned(),
            expected: 40,
            found: 41
        })
    );
    assert_eq!(
        document.put_rule_json("nope", 1, &json!({})),
        Err(EditError::NoListener {
            listener: "nope".to_owned()
        })
    );
    assert_eq!(document.delete_rule("web", 30).map(|r| r.priority), Ok(30));
    assert_eq!(
        document.delete_rule("web", 30),
        Err(EditError::NoRule {
            listener: "web".to_owned(),
            priority: 30
        })
    );
}

#[test]
fn a_malformed_part_names_its_key_in_the_whole_document() {
    let mut document = full();
    let before = document.clone();
    let Err(EditError::Malformed { errors }) = document.put_rule_json(
        "web",
        50,
        &json!({"conditions": {"paths": ["/x"]}, "action": {"forward": "api"}}),
    ) else {
        panic!("a rule with an unknown key was taken");
    };
    assert_eq!(
        errors.errors()[0].path.to_string(),
        "listeners.web.rules[2].conditions.paths"
    );
    let Err(EditError::Malformed { errors }) =
        document.put_target_group_json("new", &json!({"targets": [7]}))
    else {
        panic!("a group with a numeric target was taken");
    };
    assert_eq!(
        errors.errors()[0].path.to_string(),
        "target_groups.new.targets[0]"
    );
    assert_eq!(document, before, "a refused edit leaves the document alone");
}

#[test]
fn groups_and_targets_are_edited_by_name_and_address() {
    let mut document = full();
    assert_eq!(
        document.put_target_group_json("new", &json!({"targets": ["127.0.0.1:1"]})),
        Ok(None)
    );
    let added = document.add_target(
        "new",
        RawTarget {
            address: "127.0.0.1:2".to_owned(),
            weight: Some(3),
            zone: None,
        },
    );
    assert_eq!(added, Ok(true));
    let again = document.add_target(
        "new",
        RawTarget {
            address: "127.0.0.1:2".to_owned(),
            weight: None,
            zone: None,
        },
    );
    assert_eq!(again, Ok(false), "one target per address");
    let address = "127.0.0.1:1".parse().unwrap();
    assert_eq!(
        document.remove_target("new", address).map(|t| t.address),
        Ok("127.0.0.1:1".to_owned())
    );
    assert_eq!(
        document.remove_target("new", address),
        Err(EditError::NoTarget {
            group: "new".to_owned(),
            address
        })
    );
    assert!(document.delete_target_group("new").is_ok());
    assert_eq!(
        document.delete_target_group("new"),
        Err(EditError::NoTargetGroup {
            group: "new".to_owned()
        })
    );
    assert_eq!(
        document.add_target(
            "new",
            RawTarget {
                address: "127.0.0.1:2".to_owned(),
                weight: None,
                zone: None,
            }
        ),
        Err(EditError::NoTargetGroup {
            group: "new".to_owned()
        })
    );
}

#[test]
fn secrets_are_redacted_and_restored_from_the_running_document() {
    let running = full();
    let shown = running.redacted();
    let json = shown.to_json();
    assert_eq!(json["admin"]["token"], REDACTED);
    assert_eq!(json["server"]["stickiness_secret"], REDACTED);
    assert!(!json.to_string().contains("0123456789abcdef0123"));

    let mut back = shown.clone();
    back.unredact(&running);
    assert_eq!(back, running);

    // A new secret is taken as sent; a redacted one the running document lacks is dropped.
    let mut json = shown.to_json();
    json["admin"]["token"] = json!("fedcba9876543210fedcba");
    let mut changed = Document::from_json(&json).unwrap();
    changed.unredact(&Document::default());
    assert_eq!(
        changed.raw().admin.as_ref().unwrap().token.as_deref(),
        Some("fedcba9876543210fedcba")
    );
    assert_eq!(
        changed.raw().server.as_ref().unwrap().stickiness_secret,
        None
    );
}

#[test]
fn the_diff_names_keys_listeners_and_groups() {
    let before = full();
    let mut after = before.clone();
    after
        .put_rule_json(
            "web",
            10,
            &json!({"conditions": {"path": ["/v2/*"]}, "action": {"forward": "api"}}),
        )
        .unwrap();
    after.delete_target_group("web").unwrap();
    after.put_target_group_json("other", &json!({})).unwrap();
    let diff = before.diff(&after);
    let paths: Vec<(String, ChangeKind)> = diff
        .changes
        .iter()
        .map(|c| (c.path.to_string(), c.kind))
        .collect();
    assert_eq!(
        paths,
        vec![
            (
                "listeners.web.rules[0].conditions.header".to_owned(),
                ChangeKind::Removed
            ),
            (
                "listeners.web.rules[0].conditions.path[0]".to_owned(),
                ChangeKind::Changed
            ),
            ("target_groups.other".to_owned(), ChangeKind::Added),
            ("target_groups.web".to_owned(), ChangeKind::Removed),
        ]
    );
    assert_eq!(diff.listeners.changed, vec!["web".to_owned()]);
    assert_eq!(diff.target_groups.added, vec!["other".to_owned()]);
    assert_eq!(diff.target_groups.removed, vec!["web".to_owned()]);
    assert!(diff.target_groups.changed.is_empty());
    assert!(before.diff(&before).is_empty());
    let shown = serde_json::to_value(&diff.changes[1]).unwrap();
    assert_eq!(
        shown,
        json!({"path": "listeners.web.rules[0].conditions.path[0]", "kind": "changed", "before": "/api/*", "after": "/v2/*"})
    );
}

#[test]
fn the_diff_never_shows_a_secret() {
    let before = Document::default();
    let after = full();
    let diff = before.diff(&after);
    let text = serde_json::to_string(&diff).unwrap();
    assert!(!text.contains("0123456789abcdef"), "{text}");
    let admin = diff
        .changes
        .iter()
        .find(|c| c.path.to_string() == "admin")
        .unwrap();
    assert_eq!(admin.after.as_ref().unwrap()["token"], REDACTED);

    let mut rotated = after.clone().into_raw();
    rotated.server.as_mut().unwrap().stickiness_secret = Some("x".repeat(40));
    let diff = after.diff(&Document::from_raw(rotated));
    assert_eq!(
        diff.changes.len(),
        1,
        "the change is shown, its values are not"
    );
    assert_eq!(diff.changes[0].path.to_string(), "server.stickiness_secret");
    assert_eq!(diff.changes[0].before, Some(json!(REDACTED)));
    assert_eq!(diff.changes[0].after, Some(json!(REDACTED)));
}

#[test]
fn sparse_parts_leave_absent_keys_out() {
    let document = full();
    let rule = &document.listener("web").unwrap().rules[0];
    let json = serde_json::to_value(Sparse(rule)).unwrap();
    assert_eq!(
        json,
        json!({"priority": 10, "conditions": {"path": ["/api/*"], "header": [{"name": "X-Canary", "values": ["1"]}]}, "action": {"forward": "api"}})
    );
}
