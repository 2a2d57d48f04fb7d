//! What differs between two documents: every changed key by its path
//! (`listeners.web.rules[0].action`), so an operator sees what a replacement changes, and
//! which listeners and target groups were added, removed or changed, so a reload can say so.
//! Secrets never appear in a diff: their values read [`REDACTED`].

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::redact::{REDACTED, SECRET_PATHS};
use super::Document;
use crate::error::KeyPath;

/// The difference between two documents.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DocumentDiff {
    /// Every key that differs, depth first, in key order.
    pub changes: Vec<Change>,
    /// Listeners added, removed, or changed in any key, by name.
    pub listeners: NameChanges,
    /// Target groups added, removed, or changed in any key, by name.
    pub target_groups: NameChanges,
}

/// One changed key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// The key path, as config errors name keys.
    pub path: KeyPath,
    /// Whether the key was added, removed or changed.
    pub kind: ChangeKind,
    /// The value before, unless added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The value after, unless removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// How a key changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Only the new document has it.
    Added,
    /// Only the old document has it.
    Removed,
    /// Both have it, with different values.
    Changed,
}

/// Named objects (listeners, target groups) that differ, by name, in name order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NameChanges {
    /// Only in the new document.
    pub added: Vec<String>,
    /// Only in the old document.
    pub removed: Vec<String>,
    /// In both, with any key different.
    pub changed: Vec<String>,
}

/// One step of a path while walking the JSON.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

// === impl Document ===

impl Document {
    /// What changes from this document to `after`.
    pub fn diff(&self, after: &Document) -> DocumentDiff {
        let mut changes = Vec::new();
        walk(
            &mut Vec::new(),
            &self.to_json(),
            &after.to_json(),
            &mut changes,
        );
        DocumentDiff {
            changes,
            listeners: NameChanges::between(&self.raw.listeners, &after.raw.listeners),
            target_groups: NameChanges::between(&self.raw.target_groups, &after.raw.target_groups),
        }
    }
}

// === impl DocumentDiff ===

impl DocumentDiff {
    /// Whether the documents are the same.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

// === impl NameChanges ===

impl NameChanges {
    fn between<T: PartialEq>(before: &BTreeMap<String, T>, after: &BTreeMap<String, T>) -> Self {
        let mut names = Self::default();
        for (name, old) in before {
            match after.get(name) {
                None => names.removed.push(name.clone()),
                Some(new) if new != old => names.changed.push(name.clone()),
                Some(_) => {}
            }
        }
        names.added = after
            .keys()
            .filter(|name| !before.contains_key(*name))
            .cloned()
            .collect();
        names
    }

    /// Whether nothing was added, removed or changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

// === the walk ===

fn walk(path: &mut Vec<Step>, before: &Value, after: &Value, out: &mut Vec<Change>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                path.push(Step::Key(key.clone()));
                pair(path, a.get(key), b.get(key), out);
                path.pop();
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                path.push(Step::Index(i));
                pair(path, a.get(i), b.get(i), out);
                path.pop();
            }
        }
        (x, y) if x == y => {}
        (x, y) => out.push(change(path, Some(x), Some(y))),
    }
}

/// One key or index on either side: recurse when both have it, else it was added or removed.
fn pair(
    path: &mut Vec<Step>,
    before: Option<&Value>,
    after: Option<&Value>,
    out: &mut Vec<Change>,
) {
    match (before, after) {
        (Some(x), Some(y)) => walk(path, x, y, out),
        (None, None) => {}
        (x, y) => out.push(change(path, x, y)),
    }
}

fn change(path: &[Step], before: Option<&Value>, after: Option<&Value>) -> Change {
    let kind = match (before, after) {
        (None, _) => ChangeKind::Added,
        (_, None) => ChangeKind::Removed,
        _ => ChangeKind::Changed,
    };
    let shown = |value: Option<&Value>| {
        value.map(|v| {
            let mut v = v.clone();
            redact_under(path, &mut v);
            v
        })
    };
    Change {
        path: path.iter().fold(KeyPath::root(), |p, step| match step {
            Step::Key(key) => p.key(key),
            Step::Index(i) => p.index(*i),
        }),
        kind,
        before: shown(before),
        after: shown(after),
    }
}

/// Replaces every secret inside `value`, the value at `path`.
fn redact_under(path: &[Step], value: &mut Value) {
    for secret in SECRET_PATHS {
        let below = path
            .iter()
            .zip(secret.iter())
            .all(|(step, key)| matches!(step, Step::Key(k) if k == key));
        if !below || path.len() > secret.len() {
            continue;
        }
        let mut slot = Some(&mut *value);
        for key in &secret[path.len()..] {
            slot = slot.and_then(|v| v.get_mut(*key));
        }
        if let Some(slot) = slot {
            *slot = Value::from(REDACTED);
        }
    }
}
