//! The configuration document: the file as written, held as the raw model, with typed edits
//! (`document/edit.rs`), the redaction of its secrets (`document/redact.rs`) and a typed diff
//! (`document/diff.rs`).
//!
//! The admin API shows and edits this document, and the runtime keeps the one it runs: both
//! work on typed parts (a listener's rules, a target group, a target) instead of walking JSON
//! by string keys. It converts to and from JSON and TOML without losing anything, so an RFC
//! 6902 JSON Patch still applies (document → JSON → patch → document), and whatever does not
//! read back as a document fails with the key path of the problem.

mod diff;
mod edit;
mod redact;

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::error::{ConfigErrors, KeyPath};
use crate::raw::{self, RawConfig, RawListener, RawTargetGroup};
use crate::Config;

pub use diff::{Change, ChangeKind, DocumentDiff, NameChanges};
pub use edit::EditError;
pub use redact::REDACTED;

/// A configuration document as written: every key it gives and none it leaves out (defaults
/// are not filled in; that is validation's job, which turns it into a [`Config`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    raw: RawConfig,
}

/// A raw part serialized as the file would have it: absent keys are left out rather than
/// written as `null`. For the admin API's answers, which embed parts of the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Sparse<T>(pub T);

// === impl Document ===

impl Document {
    /// The document of a raw model.
    pub fn from_raw(raw: RawConfig) -> Self {
        Self { raw }
    }

    /// Parses a TOML document; a problem names its key path and line.
    pub fn from_toml(text: &str) -> Result<Self, ConfigErrors> {
        raw::parse(text).map(Self::from_raw)
    }

    /// Reads a JSON document (the admin API's form of the file); a problem names its key path.
    pub fn from_json(document: &Value) -> Result<Self, ConfigErrors> {
        raw::parse_json(document).map(Self::from_raw)
    }

    /// The document as JSON, without the keys it leaves out.
    pub fn to_json(&self) -> Value {
        sparse_json(&self.raw)
    }

    /// Validates the document into the typed configuration, reporting every problem.
    pub fn validate(&self) -> Result<Config, ConfigErrors> {
        crate::validate::validate(self.raw.clone())
    }

    /// The raw model.
    pub fn raw(&self) -> &RawConfig {
        &self.raw
    }

    /// The raw model, to change it in ways the typed edits do not cover.
    pub fn into_raw(self) -> RawConfig {
        self.raw
    }

    /// The listener with this name, as written.
    pub fn listener(&self, name: &str) -> Option<&RawListener> {
        self.raw.listeners.get(name)
    }

    /// The target group with this name, as written.
    pub fn target_group(&self, name: &str) -> Option<&RawTargetGroup> {
        self.raw.target_groups.get(name)
    }
}

impl Serialize for Document {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Sparse(&self.raw).serialize(serializer)
    }
}

// === impl Sparse ===

impl<T: Serialize> Serialize for Sparse<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = serde_json::to_value(&self.0).map_err(serde::ser::Error::custom)?;
        without_nulls(value).serialize(serializer)
    }
}

// === helpers ===

/// `value` as JSON without `null`s. The raw model never holds a `null` on purpose (TOML has
/// none, and a JSON `null` reads as an absent key), so dropping them loses nothing.
fn sparse_json<T: Serialize>(value: &T) -> Value {
    // Cannot fail: every map key in the raw model is a string and every number an integer.
    serde_json::to_value(value)
        .map(without_nulls)
        .unwrap_or_default()
}

fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// Reads one part of a document (a rule, a target group) from JSON; a problem names its key
/// path inside the whole document, starting at `at`.
fn part_from_json<T: serde::de::DeserializeOwned>(
    at: &KeyPath,
    value: &Value,
) -> Result<T, EditError> {
    serde_path_to_error::deserialize(value).map_err(|e| EditError::Malformed {
        errors: ConfigErrors::single(raw::json_error(at, &e)),
    })
}

#[cfg(test)]
mod tests;
