//! The raw shape of header rewrites (`request_headers`, `response_headers`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `request_headers = { set = { .. }, add = { .. }, remove = [..] }` on a listener or a rule.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeaderRewrite {
    /// Fields set to a value, replacing any the message carries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    /// Fields added, keeping any the message carries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub add: BTreeMap<String, String>,
    /// Fields removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}
