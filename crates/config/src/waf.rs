//! Validated web application firewall rule sets (`[waf.NAME]`), and the managed set
//! `ballast-core`. Patterns are kept as text (checked to compile when validated); the
//! request path compiles them once per configuration.

use std::sync::Arc;

use crate::{CidrSet, FixedResponse};

/// The name of the managed rule set Ballast ships.
pub const BALLAST_CORE: &str = "ballast-core";

/// A rule set, its own rules and its managed ones in the order they are evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WafConfig {
    /// Its name (`ballast-core` for the managed set used alone).
    pub name: Arc<str>,
    /// Rules in evaluation order: its own by priority, then each managed set's.
    pub rules: Vec<WafRule>,
    /// What a request no rule decides meets.
    pub default_action: WafAction,
    /// The answer to a blocked request.
    pub block_response: FixedResponse,
    /// Bytes of a request body inspected.
    pub body_limit: usize,
    /// What body conditions make of a body larger than `body_limit`.
    pub oversize: Oversize,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WafRule {
    /// Its name in logs and metrics (`ballast-core:sqli-args` for managed rules).
    pub name: Arc<str>,
    /// Lower first (managed rules come after every rule of the set, in their own order).
    pub priority: u32,
    /// What it does to a request it matches.
    pub action: WafAction,
    /// Every one must hold.
    pub conditions: Vec<WafCondition>,
}

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WafAction {
    /// The request goes on; no later rule is evaluated.
    Allow,
    /// The request is answered with the block response; no later rule is evaluated.
    Block,
    /// The match is counted and logged; evaluation goes on.
    Count,
}

/// What body conditions make of a body larger than the inspection limit (AWS WAF's
/// oversize handling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oversize {
    /// Inspect its first `body_limit` bytes.
    Continue,
    /// The condition holds.
    Match,
    /// The condition does not hold.
    NoMatch,
}

/// One condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WafCondition {
    /// What is inspected.
    pub field: WafField,
    /// Applied to each value first, in order.
    pub transforms: Vec<Transform>,
    /// What the value must show.
    pub test: WafTest,
    /// The condition holds when the test does not.
    pub negate: bool,
}

/// A part of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WafField {
    /// The path, without the query.
    Path,
    /// The query, without `?`.
    Query,
    /// Path and query.
    Uri,
    /// The method.
    Method,
    /// The host (`Host` or the authority), without the port.
    Host,
    /// A header field's values (name in lower case).
    Header(String),
    /// Every header field's value.
    Headers,
    /// A cookie's values.
    Cookie(String),
    /// Every cookie's value.
    Cookies,
    /// A query argument's values.
    Arg(String),
    /// Every query argument's value.
    Args,
    /// The body's first bytes.
    Body,
    /// Every form field's value of a form body, else the body's first bytes.
    BodyArgs,
    /// The client (only with `source_ip` and `rate_limit`).
    SourceIp,
}

/// A text transformation (AWS WAF's names, in lower case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// `%XX` and `+` decoded.
    UrlDecode,
    /// `&lt;`, `&#60;`, `&#x3c;` and the common named entities decoded.
    HtmlEntityDecode,
    /// ASCII lower case.
    Lowercase,
    /// Runs of whitespace become one space.
    CompressWhitespace,
}

/// What a value must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WafTest {
    /// Exactly these bytes.
    Exact(String),
    /// Starts with these bytes.
    Prefix(String),
    /// Ends with these bytes.
    Suffix(String),
    /// Contains these bytes.
    Contains(String),
    /// Matches this regular expression (checked to compile).
    Regex(String),
    /// libinjection's SQL injection detector.
    Sqli,
    /// libinjection's cross-site scripting detector.
    Xss,
    /// Longer than this many bytes.
    SizeOver(u64),
    /// The client's address is in these blocks.
    SourceIp(CidrSet),
    /// The request goes over this rate (counted against it).
    RateLimit(Arc<crate::RateLimitConfig>),
}

impl WafField {
    /// Whether the field needs the request body.
    pub fn reads_body(&self) -> bool {
        matches!(self, WafField::Body | WafField::BodyArgs)
    }
}

impl WafConfig {
    /// Whether any rule reads the request body.
    pub fn reads_body(&self) -> bool {
        self.rules
            .iter()
            .flat_map(|r| &r.conditions)
            .any(|c| c.field.reads_body())
    }
}

/// The rules of `ballast-core`, a baseline against common attacks: SQL injection and
/// cross-site scripting in arguments, cookies and form bodies (libinjection, after URL
/// decoding), path traversal, and the user agents of well-known attack scanners.
pub fn ballast_core_rules(action: WafAction) -> Vec<WafRule> {
    let cond = |field: WafField, transforms: &[Transform], test: WafTest| WafCondition {
        field,
        transforms: transforms.to_vec(),
        test,
        negate: false,
    };
    let url = [Transform::UrlDecode];
    let html = [Transform::UrlDecode, Transform::HtmlEntityDecode];
    let rule = |name: &str, conditions: Vec<WafCondition>| WafRule {
        name: Arc::from(format!("{BALLAST_CORE}:{name}")),
        priority: u32::MAX,
        action,
        conditions,
    };
    let mut rules = Vec::new();
    for (part, field) in [
        ("args", WafField::Args),
        ("path", WafField::Path),
        ("cookies", WafField::Cookies),
        ("body", WafField::BodyArgs),
    ] {
        rules.push(rule(
            &format!("sqli-{part}"),
            vec![cond(field.clone(), &url, WafTest::Sqli)],
        ));
        rules.push(rule(
            &format!("xss-{part}"),
            vec![cond(field, &html, WafTest::Xss)],
        ));
    }
    for field in [WafField::Path, WafField::Args] {
        let part = if field == WafField::Path {
            "path"
        } else {
            "args"
        };
        rules.push(rule(
            &format!("traversal-{part}"),
            vec![cond(
                field,
                &[Transform::UrlDecode, Transform::UrlDecode],
                WafTest::Regex(r"(?:^|[/\\])\.\.(?:[/\\]|$)".to_owned()),
            )],
        ));
    }
    rules.push(rule(
        "scanners",
        vec![cond(
            WafField::Header("user-agent".to_owned()),
            &[Transform::Lowercase],
            WafTest::Regex(
                r"sqlmap|nikto|nmap|masscan|zgrab|nuclei|acunetix|dirbuster|gobuster|wpscan|havij|w3af|netsparker|openvas"
                    .to_owned(),
            ),
        )],
    ));
    rules
}
