//! `[waf]` rule sets and the `waf` keys of listeners and rules that name them.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Validator;
use crate::defaults::{
    DEFAULT_WAF_BODY_LIMIT, MAX_WAF_CONDITIONS, MAX_WAF_PATTERN_BYTES, MAX_WAF_REGEX_BYTES,
    MAX_WAF_RULES, MAX_WAF_SETS,
};
use crate::error::{unknown_reference, KeyPath};
use crate::raw::{RawWaf, RawWafCondition};
use crate::waf::{
    ballast_core_rules, Oversize, Transform, WafAction, WafCondition, WafConfig, WafField, WafRule,
    WafTest, BALLAST_CORE,
};
use crate::{Action, CidrSet, FixedResponse};

/// The fields a condition may name, for errors.
const FIELDS: &str = "path, query, uri, method, host, body, body_args, args, cookies, headers, header:NAME, cookie:NAME or arg:NAME";

impl Validator {
    /// Checks `[waf]`, keeping each set for the listeners and rules that name it.
    pub(super) fn wafs(&mut self, path: &KeyPath, raw: &BTreeMap<String, RawWaf>) {
        if !self.within(path, raw.len(), MAX_WAF_SETS, "waf rule sets") {
            return;
        }
        for (name, set) in raw {
            let at = path.key(name);
            self.name(&at, name);
            if name == BALLAST_CORE {
                self.invalid(
                    at,
                    format!("\"{name}\""),
                    "a name other than the managed set's",
                );
                continue;
            }
            if let Some(config) = self.waf(&at, name, set) {
                self.wafs.insert(name.clone(), Arc::new(config));
            }
        }
    }

    fn waf(&mut self, path: &KeyPath, name: &str, raw: &RawWaf) -> Option<WafConfig> {
        let default_action = match raw.default_action.as_deref() {
            None | Some("allow") => WafAction::Allow,
            Some("block") => WafAction::Block,
            Some(other) => {
                self.invalid(
                    path.key("default_action"),
                    format!("\"{other}\""),
                    "\"allow\" or \"block\"",
                );
                WafAction::Allow
            }
        };
        let block_response = match &raw.block_response {
            None => forbidden(),
            Some(r) => match self.fixed_response(&path.key("block_response"), r) {
                Some(Action::FixedResponse(f)) => f,
                _ => forbidden(),
            },
        };
        let body_limit = self.count(
            &path.key("body_inspection_limit"),
            raw.body_inspection_limit,
            DEFAULT_WAF_BODY_LIMIT,
            1..=65_536,
        );
        let oversize = match raw.oversize_handling.as_deref() {
            None | Some("continue") => Oversize::Continue,
            Some("match") => Oversize::Match,
            Some("no_match") => Oversize::NoMatch,
            Some(other) => {
                self.invalid(
                    path.key("oversize_handling"),
                    format!("\"{other}\""),
                    "\"continue\", \"match\" or \"no_match\"",
                );
                Oversize::Continue
            }
        };
        let rules_path = path.key("rules");
        if !self.within(&rules_path, raw.rules.len(), MAX_WAF_RULES, "waf rules") {
            return None;
        }
        let mut rules = Vec::with_capacity(raw.rules.len());
        for (i, rule) in raw.rules.iter().enumerate() {
            let at = rules_path.index(i);
            self.name(&at.key("name"), &rule.name);
            if rules
                .iter()
                .any(|r: &WafRule| &*r.name == rule.name.as_str())
            {
                self.invalid(
                    at.key("name"),
                    format!("\"{}\" twice", rule.name),
                    "each rule named once",
                );
            }
            let priority =
                self.count(&at.key("priority"), Some(rule.priority), 0, 0..=1_000_000) as u32;
            let action = self.waf_action(&at.key("action"), &rule.action);
            let conditions_path = at.key("conditions");
            if rule.conditions.is_empty() || rule.conditions.len() > MAX_WAF_CONDITIONS {
                self.invalid(
                    conditions_path.clone(),
                    format!("{} conditions", rule.conditions.len()),
                    format!("1 to {MAX_WAF_CONDITIONS} conditions"),
                );
            }
            let conditions = rule
                .conditions
                .iter()
                .enumerate()
                .filter_map(|(j, c)| self.waf_condition(&conditions_path.index(j), c))
                .collect();
            rules.push(WafRule {
                name: Arc::from(rule.name.as_str()),
                priority,
                action,
                conditions,
            });
        }
        rules.sort_by_key(|r| r.priority);
        let managed_action = match raw.managed_action.as_deref() {
            None => None,
            Some("count") => Some(WafAction::Count),
            Some(other) => {
                self.invalid(
                    path.key("managed_action"),
                    format!("\"{other}\""),
                    "\"count\"",
                );
                None
            }
        };
        for (i, set) in raw.managed.iter().flatten().enumerate() {
            if set == BALLAST_CORE {
                rules.extend(ballast_core_rules(
                    managed_action.unwrap_or(WafAction::Block),
                ));
            } else {
                self.error(
                    path.key("managed").index(i),
                    unknown_reference("managed rule set", set, &[BALLAST_CORE.to_owned()]),
                );
            }
        }
        Some(WafConfig {
            name: Arc::from(name),
            rules,
            default_action,
            block_response,
            body_limit,
            oversize,
        })
    }

    fn waf_action(&mut self, path: &KeyPath, text: &str) -> WafAction {
        match text {
            "allow" => WafAction::Allow,
            "block" => WafAction::Block,
            "count" => WafAction::Count,
            other => {
                self.invalid(
                    path.clone(),
                    format!("\"{other}\""),
                    "\"allow\", \"block\" or \"count\"",
                );
                WafAction::Count
            }
        }
    }

    fn waf_condition(&mut self, path: &KeyPath, raw: &RawWafCondition) -> Option<WafCondition> {
        let mut tests = Vec::new();
        let pattern = |key: &str, value: &Option<String>, make: fn(String) -> WafTest| {
            value.as_ref().map(|v| (key.to_owned(), make(v.clone())))
        };
        tests.extend(pattern("exact", &raw.exact, WafTest::Exact));
        tests.extend(pattern("prefix", &raw.prefix, WafTest::Prefix));
        tests.extend(pattern("suffix", &raw.suffix, WafTest::Suffix));
        tests.extend(pattern("contains", &raw.contains, WafTest::Contains));
        tests.extend(pattern("regex", &raw.regex, WafTest::Regex));
        if raw.sqli == Some(true) {
            tests.push(("sqli".to_owned(), WafTest::Sqli));
        }
        if raw.xss == Some(true) {
            tests.push(("xss".to_owned(), WafTest::Xss));
        }
        if let Some(n) = raw.size_over {
            let n = self.count(&path.key("size_over"), Some(n), 0, 0..=1 << 30) as u64;
            tests.push(("size_over".to_owned(), WafTest::SizeOver(n)));
        }
        if let Some(list) = &raw.source_ip {
            let blocks = self.blocks(&path.key("source_ip"), list);
            tests.push((
                "source_ip".to_owned(),
                WafTest::SourceIp(CidrSet::new(&blocks)),
            ));
        }
        if let Some(name) = &raw.rate_limit {
            let limit = self.rate_limit_ref(&path.key("rate_limit"), Some(name))?;
            tests.push(("rate_limit".to_owned(), WafTest::RateLimit(limit)));
        }
        let test = match tests.len() {
            1 => tests.pop().map(|(_, t)| t)?,
            n => {
                self.invalid(
                    path.clone(),
                    format!("{n} tests"),
                    "exactly one of exact, prefix, suffix, contains, regex, sqli, xss, size_over, source_ip or rate_limit",
                );
                return None;
            }
        };
        for (key, text) in [
            ("exact", &raw.exact),
            ("prefix", &raw.prefix),
            ("suffix", &raw.suffix),
            ("contains", &raw.contains),
            ("regex", &raw.regex),
        ] {
            if text
                .as_ref()
                .is_some_and(|t| t.len() > MAX_WAF_PATTERN_BYTES)
            {
                self.invalid(
                    path.key(key),
                    format!("{} bytes", text.as_ref().map_or(0, String::len)),
                    format!("at most {MAX_WAF_PATTERN_BYTES} bytes"),
                );
                return None;
            }
        }
        if let WafTest::Regex(text) = &test {
            if let Err(e) = regex::bytes::RegexBuilder::new(text)
                .size_limit(MAX_WAF_REGEX_BYTES)
                .build()
            {
                self.invalid(
                    path.key("regex"),
                    format!("\"{text}\""),
                    format!("a regular expression ({e})"),
                );
                return None;
            }
        }
        let field = match (&test, raw.field.as_deref()) {
            (WafTest::SourceIp(_) | WafTest::RateLimit(_), None) => WafField::SourceIp,
            (WafTest::SourceIp(_) | WafTest::RateLimit(_), Some(_)) => {
                self.invalid(
                    path.key("field"),
                    "a field with source_ip or rate_limit",
                    "source_ip or rate_limit alone",
                );
                return None;
            }
            (_, None) => {
                self.invalid(path.key("field"), "nothing", FIELDS);
                return None;
            }
            (_, Some(text)) => self.waf_field(&path.key("field"), text)?,
        };
        let mut transforms = Vec::new();
        for (i, t) in raw.transforms.iter().flatten().enumerate() {
            match t.as_str() {
                "url_decode" => transforms.push(Transform::UrlDecode),
                "html_entity_decode" => transforms.push(Transform::HtmlEntityDecode),
                "lowercase" => transforms.push(Transform::Lowercase),
                "compress_whitespace" => transforms.push(Transform::CompressWhitespace),
                other => self.invalid(
                    path.key("transforms").index(i),
                    format!("\"{other}\""),
                    "url_decode, html_entity_decode, lowercase or compress_whitespace",
                ),
            }
        }
        if transforms.len() > 8 {
            self.invalid(
                path.key("transforms"),
                format!("{} transforms", transforms.len()),
                "at most 8",
            );
        }
        Some(WafCondition {
            field,
            transforms,
            test,
            negate: raw.negate.unwrap_or(false),
        })
    }

    fn waf_field(&mut self, path: &KeyPath, text: &str) -> Option<WafField> {
        let named = |prefix: &str| super::rate_limits::named_part(text, prefix);
        let field = match text {
            "path" => Some(WafField::Path),
            "query" => Some(WafField::Query),
            "uri" => Some(WafField::Uri),
            "method" => Some(WafField::Method),
            "host" => Some(WafField::Host),
            "body" => Some(WafField::Body),
            "body_args" => Some(WafField::BodyArgs),
            "args" => Some(WafField::Args),
            "cookies" => Some(WafField::Cookies),
            "headers" => Some(WafField::Headers),
            _ => named("header:")
                .map(|n| WafField::Header(n.to_ascii_lowercase()))
                .or_else(|| named("cookie:").map(|n| WafField::Cookie(n.to_owned())))
                .or_else(|| named("arg:").map(|n| WafField::Arg(n.to_owned()))),
        };
        if field.is_none() {
            self.invalid(path.clone(), format!("\"{text}\""), FIELDS);
        }
        field
    }

    /// The rule set a `waf` key names: a `[waf]` entry, or the managed `ballast-core`
    /// alone.
    pub(super) fn waf_ref(&mut self, path: &KeyPath, name: Option<&str>) -> Option<Arc<WafConfig>> {
        let name = name?;
        if let Some(set) = self.wafs.get(name) {
            return Some(Arc::clone(set));
        }
        if name == BALLAST_CORE {
            let core = Arc::new(WafConfig {
                name: Arc::from(BALLAST_CORE),
                rules: ballast_core_rules(WafAction::Block),
                default_action: WafAction::Allow,
                block_response: forbidden(),
                body_limit: DEFAULT_WAF_BODY_LIMIT,
                oversize: Oversize::Continue,
            });
            self.wafs.insert(name.to_owned(), Arc::clone(&core));
            return Some(core);
        }
        let mut known: Vec<String> = self.wafs.keys().cloned().collect();
        known.push(BALLAST_CORE.to_owned());
        known.sort();
        known.dedup();
        self.error(
            path.clone(),
            unknown_reference("waf rule set", name, &known),
        );
        None
    }
}

/// AWS WAF's block answer: `403 Forbidden`.
fn forbidden() -> FixedResponse {
    FixedResponse {
        status: 403,
        content_type: "text/plain".to_owned(),
        body: "Forbidden\n".to_owned(),
    }
}

#[cfg(test)]
mod tests;
