//! The difference between two config documents, as key paths (`listeners.web.rules[0].action`),
//! so an operator sees what a replacement changes before or after applying it.

use serde::Serialize;
use serde_json::Value;

/// One changed key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// The key path, as config errors name keys.
    pub path: String,
    /// `added`, `removed` or `changed`.
    pub kind: &'static str,
    /// The value before, unless added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The value after, unless removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// Every key that differs, depth first, in key order.
pub fn diff(before: &Value, after: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    walk(String::new(), before, after, &mut changes);
    changes
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(path: String, before: &Value, after: &Value, out: &mut Vec<Change>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                pair(join(&path, key), a.get(key), b.get(key), out);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                pair(format!("{path}[{i}]"), a.get(i), b.get(i), out);
            }
        }
        (x, y) if x == y => {}
        (x, y) => out.push(Change {
            path,
            kind: "changed",
            before: Some(x.clone()),
            after: Some(y.clone()),
        }),
    }
}

/// One key or index on either side: recurse when both have it, else it was added or removed.
fn pair(path: String, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<Change>) {
    match (before, after) {
        (Some(x), Some(y)) => walk(path, x, y, out),
        (Some(x), None) => out.push(Change {
            path,
            kind: "removed",
            before: Some(x.clone()),
            after: None,
        }),
        (None, Some(y)) => out.push(Change {
            path,
            kind: "added",
            before: None,
            after: Some(y.clone()),
        }),
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_added_removed_and_changed_keys_by_path() {
        let a = json!({"listeners": {"web": {"bind": "127.0.0.1:80", "rules": [{"priority": 1}]}}, "x": 1});
        let b = json!({"listeners": {"web": {"bind": "127.0.0.1:81", "rules": [{"priority": 1}, {"priority": 2}]}}, "y": 2});
        let changes = diff(&a, &b);
        let paths: Vec<(&str, &str)> = changes.iter().map(|c| (c.path.as_str(), c.kind)).collect();
        assert_eq!(
            paths,
            vec![
                ("listeners.web.bind", "changed"),
                ("listeners.web.rules[1]", "added"),
                ("x", "removed"),
                ("y", "added"),
            ]
        );
        assert!(diff(&a, &a).is_empty());
    }
}
