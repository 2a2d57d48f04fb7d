//! `[waf.NAME]`: web application firewall rule sets, as written.

use serde::{Deserialize, Serialize};

use super::rules::RawFixedResponse;

/// `[waf.NAME]`: rules evaluated in priority order, then the managed sets it includes.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawWaf {
    /// What a request no rule decides meets: `allow` (default) or `block`.
    pub default_action: Option<String>,
    /// The answer to a blocked request (default `403`, `text/plain`, `Forbidden`).
    pub block_response: Option<RawFixedResponse>,
    /// Managed rule sets evaluated after this set's own rules (`ballast-core`).
    pub managed: Option<Vec<String>>,
    /// `count` turns every block of the managed sets into a count (to try them first).
    pub managed_action: Option<String>,
    /// Bytes of a request body inspected (default 8192, as AWS WAF).
    pub body_inspection_limit: Option<i64>,
    /// What a body condition makes of a body larger than the limit: `continue` (inspect
    /// its first bytes; default), `match` or `no_match`.
    pub oversize_handling: Option<String>,
    /// The set's rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RawWafRule>,
}

/// One rule of a `[waf]` set.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawWafRule {
    /// Its name, in logs and metrics.
    pub name: String,
    /// 0 to 1000000; lower first.
    pub priority: i64,
    /// `allow`, `block` or `count`.
    pub action: String,
    /// Every condition must hold (AND).
    pub conditions: Vec<RawWafCondition>,
}

/// One test of a rule: a part of the request and what it must show, or the client's address.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawWafCondition {
    /// The part inspected: `path`, `query`, `uri`, `method`, `host`, `body`,
    /// `header:NAME`, `cookie:NAME`, `arg:NAME` (a query argument), `args` (every query
    /// argument's value), `cookies` (every cookie's value), `headers` (every field's value),
    /// `body_args` (every form field's value, or the whole body when it is not a form).
    pub field: Option<String>,
    /// Transformations applied first, in order: `url_decode`, `html_entity_decode`,
    /// `lowercase`, `compress_whitespace`.
    pub transforms: Option<Vec<String>>,
    /// The whole value is this.
    pub exact: Option<String>,
    /// The value starts with this.
    pub prefix: Option<String>,
    /// The value ends with this.
    pub suffix: Option<String>,
    /// The value contains this.
    pub contains: Option<String>,
    /// The value matches this regular expression (linear time: no backreferences).
    pub regex: Option<String>,
    /// The value is SQL injection (libinjection's detector).
    pub sqli: Option<bool>,
    /// The value is cross-site scripting (libinjection's detector).
    pub xss: Option<bool>,
    /// The value is longer than this many bytes.
    pub size_over: Option<i64>,
    /// The client's address is in one of these blocks or `[ip_sets]`.
    pub source_ip: Option<Vec<String>>,
    /// The request goes over this `[rate_limits]` entry (a rate-based rule): counted
    /// against it by the entry's key, it holds while the key is over the rate.
    pub rate_limit: Option<String>,
    /// The condition holds when the test does not.
    pub negate: Option<bool>,
}
