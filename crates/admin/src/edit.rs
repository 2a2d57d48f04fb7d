//! Partial changes of the config document: one object (a rule, a target group) or an RFC 6902
//! JSON Patch touching several at once. Pure: the document in, the changed document out; the
//! caller validates and applies the result as a whole, so a change applies entirely or not.

use serde_json::{Map, Value};

/// Why a change cannot even be made to the document (before validation).
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum EditError {
    /// The object addressed does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The change itself is malformed.
    #[error("{0}")]
    Invalid(String),
}

fn object_at<'a>(doc: &'a mut Value, key: &str) -> Result<&'a mut Map<String, Value>, EditError> {
    let root = doc
        .as_object_mut()
        .ok_or_else(|| EditError::Invalid("the running document is not a table".to_owned()))?;
    root.entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| EditError::Invalid(format!("{key} is not a table")))
}

/// Sets target group `name` to `group` (adding it when new).
pub(crate) fn put_group(doc: &Value, name: &str, group: Value) -> Result<Value, EditError> {
    if !group.is_object() {
        return Err(EditError::Invalid(format!(
            "target_groups.{name}: expected a JSON object"
        )));
    }
    let mut doc = doc.clone();
    object_at(&mut doc, "target_groups")?.insert(name.to_owned(), group);
    Ok(doc)
}

/// Removes target group `name`.
pub(crate) fn delete_group(doc: &Value, name: &str) -> Result<Value, EditError> {
    let mut doc = doc.clone();
    object_at(&mut doc, "target_groups")?
        .remove(name)
        .ok_or_else(|| EditError::NotFound(format!("no target group \"{name}\"")))?;
    Ok(doc)
}

fn rules_of<'a>(doc: &'a mut Value, listener: &str) -> Result<&'a mut Vec<Value>, EditError> {
    let listener_doc = object_at(doc, "listeners")?
        .get_mut(listener)
        .and_then(Value::as_object_mut)
        .ok_or_else(|| EditError::NotFound(format!("no listener \"{listener}\"")))?;
    listener_doc
        .entry("rules")
        .or_insert_with(|| Value::Array(Vec::new()))
        .as_array_mut()
        .ok_or_else(|| EditError::Invalid(format!("listeners.{listener}.rules is not an array")))
}

fn priority_of(rule: &Value) -> Option<u64> {
    rule.get("priority").and_then(Value::as_u64)
}

/// Sets the rule with `priority` on `listener` (replacing the one with that priority, or
/// adding it). The body's own `priority`, if any, must agree.
pub(crate) fn put_rule(
    doc: &Value,
    listener: &str,
    priority: u64,
    mut rule: Value,
) -> Result<Value, EditError> {
    let object = rule
        .as_object_mut()
        .ok_or_else(|| EditError::Invalid("a rule must be a JSON object".to_owned()))?;
    match object.get("priority").map(Value::as_u64) {
        None => {
            object.insert("priority".to_owned(), Value::from(priority));
        }
        Some(Some(p)) if p == priority => {}
        Some(_) => {
            return Err(EditError::Invalid(format!(
                "the rule's priority does not match the {priority} in the path"
            )))
        }
    }
    let mut doc = doc.clone();
    let rules = rules_of(&mut doc, listener)?;
    match rules.iter_mut().find(|r| priority_of(r) == Some(priority)) {
        Some(existing) => *existing = rule,
        None => rules.push(rule),
    }
    Ok(doc)
}

/// Removes the rule with `priority` from `listener`.
pub(crate) fn delete_rule(doc: &Value, listener: &str, priority: u64) -> Result<Value, EditError> {
    let mut doc = doc.clone();
    let rules = rules_of(&mut doc, listener)?;
    let before = rules.len();
    rules.retain(|r| priority_of(r) != Some(priority));
    if rules.len() == before {
        return Err(EditError::NotFound(format!(
            "listener \"{listener}\" has no rule with priority {priority}"
        )));
    }
    Ok(doc)
}

/// Applies an RFC 6902 JSON Patch (a transaction: every operation or none).
pub(crate) fn patch(doc: &Value, operations: Value) -> Result<Value, EditError> {
    let patch: json_patch::Patch = serde_json::from_value(operations)
        .map_err(|e| EditError::Invalid(format!("not a JSON Patch (RFC 6902) array: {e}")))?;
    let mut doc = doc.clone();
    json_patch::patch(&mut doc, &patch)
        .map_err(|e| EditError::Invalid(format!("patch does not apply: {e}")))?;
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "listeners": {"web": {"bind": "127.0.0.1:0", "rules": [{"priority": 10, "path": "/a*"}]}},
            "target_groups": {"api": {"targets": ["127.0.0.1:1"]}}
        })
    }

    #[test]
    fn puts_and_deletes_groups() {
        let d = put_group(&doc(), "b", json!({"targets": []})).unwrap();
        assert!(d["target_groups"]["b"].is_object());
        let d = delete_group(&d, "api").unwrap();
        assert!(d["target_groups"].get("api").is_none());
        assert!(matches!(
            delete_group(&d, "nope"),
            Err(EditError::NotFound(_))
        ));
        assert!(matches!(
            put_group(&d, "x", json!(3)),
            Err(EditError::Invalid(_))
        ));
    }

    #[test]
    fn puts_rules_by_priority() {
        let d = put_rule(&doc(), "web", 10, json!({"path": "/b*"})).unwrap();
        assert_eq!(
            d["listeners"]["web"]["rules"],
            json!([{"priority": 10, "path": "/b*"}])
        );
        let d = put_rule(&d, "web", 20, json!({"priority": 20})).unwrap();
        assert_eq!(d["listeners"]["web"]["rules"].as_array().unwrap().len(), 2);
        assert!(put_rule(&d, "web", 30, json!({"priority": 31})).is_err());
        assert!(matches!(
            put_rule(&d, "api", 1, json!({})),
            Err(EditError::NotFound(_))
        ));
        let d = delete_rule(&d, "web", 10).unwrap();
        assert_eq!(d["listeners"]["web"]["rules"].as_array().unwrap().len(), 1);
        assert!(matches!(
            delete_rule(&d, "web", 10),
            Err(EditError::NotFound(_))
        ));
    }

    #[test]
    fn patches_are_all_or_nothing() {
        let ops = json!([
            {"op": "replace", "path": "/listeners/web/bind", "value": "127.0.0.1:1"},
            {"op": "remove", "path": "/target_groups/missing"}
        ]);
        assert!(patch(&doc(), ops).is_err());
        let ops = json!([{"op": "add", "path": "/target_groups/b", "value": {"targets": []}}]);
        assert!(patch(&doc(), ops).unwrap()["target_groups"]["b"].is_object());
        assert!(patch(&doc(), json!({"op": "add"})).is_err());
    }
}
