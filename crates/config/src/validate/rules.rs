//! Validation of listener rules (`[[listeners.NAME.rules]]`): priorities and conditions.
//! Their actions are checked as a listener's default action is (`validate/actions.rs`).

use std::collections::HashMap;

use crate::defaults::*;
use crate::error::KeyPath;
use crate::raw::{RawConditions, RawRule};
use crate::rules::{Cidr, Conditions, HeaderCondition, QueryCondition, Rule};

use super::Validator;

impl Validator {
    /// Every rule of a listener, sorted by priority; errors for each bad one.
    pub(super) fn rules(
        &mut self,
        path: &KeyPath,
        raw: &[RawRule],
        groups: &[String],
    ) -> Vec<Rule> {
        if raw.len() > MAX_RULES {
            self.invalid(
                path.clone(),
                format!("{} rules", raw.len()),
                format!("at most {MAX_RULES} rules per listener"),
            );
            // As for the other count limits: the list is refused whole, not read rule by rule.
            return Vec::new();
        }
        let mut seen: HashMap<i64, KeyPath> = HashMap::new();
        let mut rules = Vec::with_capacity(raw.len());
        for (i, rule) in raw.iter().enumerate() {
            let at = path.index(i);
            let priority =
                self.count(&at.key("priority"), Some(rule.priority), 1, 1..=50_000) as u32;
            if let Some(other) = seen.get(&rule.priority) {
                self.invalid(
                    at.key("priority"),
                    rule.priority.to_string(),
                    format!("a priority no other rule has ({other} has it)"),
                );
            } else {
                seen.insert(rule.priority, at.key("priority"));
            }
            let conditions = self.conditions(&at.key("conditions"), &rule.conditions);
            let action = self.action(&at.key("action"), &rule.action, groups);
            let request_headers = self.header_rewrite(
                &at.key("request_headers"),
                rule.request_headers.as_ref(),
                super::rewrite::Direction::Request,
            );
            let response_headers = self.header_rewrite(
                &at.key("response_headers"),
                rule.response_headers.as_ref(),
                super::rewrite::Direction::Response,
            );
            let rate_limit = self.rate_limit_ref(&at.key("rate_limit"), rule.rate_limit.as_deref());
            let waf = self.waf_ref(&at.key("waf"), rule.waf.as_deref());
            if let (Some(conditions), Some(action)) = (conditions, action) {
                rules.push(Rule {
                    priority,
                    conditions,
                    action,
                    request_headers,
                    response_headers,
                    rate_limit,
                    waf,
                });
            }
        }
        rules.sort_by_key(|r| r.priority);
        rules
    }

    fn conditions(&mut self, path: &KeyPath, raw: &RawConditions) -> Option<Conditions> {
        let mut ok = true;
        let mut total = 0;
        let mut list = |v: &mut Self,
                        key: &str,
                        values: &Option<Vec<String>>,
                        check: &dyn Fn(&str) -> Result<String, String>|
         -> Vec<String> {
            let Some(values) = values else {
                return Vec::new();
            };
            total += values.len();
            v.values_count(&path.key(key), values.len(), &mut ok);
            let mut out = Vec::new();
            for (i, value) in values.iter().enumerate() {
                match check(value) {
                    Ok(value) => out.push(value),
                    Err(expected) => {
                        v.invalid(path.key(key).index(i), format!("\"{value}\""), expected);
                        ok = false;
                    }
                }
            }
            out
        };
        let host = list(self, "host", &raw.host, &host_glob);
        let path_globs = list(self, "path", &raw.path, &path_glob);
        let method = list(self, "method", &raw.method, &method_name);
        // A CIDR block, or the name of an `[ip_sets]` entry (expanded below).
        let sets: Vec<String> = self.ip_sets.keys().cloned().collect();
        let source = list(
            self,
            "source_ip",
            &raw.source_ip,
            &|v| match Cidr::parse(v) {
                Ok(c) => Ok(c.to_string()),
                Err(_) if sets.iter().any(|s| s == v) => Ok(v.to_owned()),
                Err(reason) => Err(format!(
                "a CIDR block such as \"10.0.0.0/8\" or the name of an [ip_sets] entry: {reason}"
            )),
            },
        );
        let source_ip = self.source_blocks(&path.key("source_ip"), &source, &mut ok);
        let mut header = Vec::new();
        for (i, h) in raw.header.iter().flatten().enumerate() {
            let at = path.key("header").index(i);
            total += h.values.len();
            let name = h.name.to_ascii_lowercase();
            if !is_token(&name) || name == "host" {
                self.invalid(
                    at.key("name"),
                    format!("\"{}\"", h.name),
                    "a header name other than Host (use a host condition)",
                );
                ok = false;
            }
            let values = self.globs(&at.key("values"), &h.values, &mut ok);
            header.push(HeaderCondition { name, values });
        }
        let mut query = Vec::new();
        for (i, q) in raw.query.iter().flatten().enumerate() {
            let at = path.key("query").index(i);
            total += q.values.len();
            let key = match visible(&q.key) {
                Ok(key) => key.to_ascii_lowercase(),
                Err(expected) => {
                    self.invalid(at.key("key"), format!("\"{}\"", q.key), expected);
                    ok = false;
                    String::new()
                }
            };
            let values = self.globs(&at.key("values"), &q.values, &mut ok);
            query.push(QueryCondition { key, values });
        }
        if total == 0 {
            self.invalid(
                path.clone(),
                "no condition",
                "at least one of host, path, header, method, query or source_ip (the default action is for requests no rule matches)",
            );
            ok = false;
        }
        if total > MAX_RULE_VALUES {
            self.invalid(
                path.clone(),
                format!("{total} values"),
                format!("at most {MAX_RULE_VALUES} values in all the conditions of a rule"),
            );
            ok = false;
        }
        ok.then_some(Conditions {
            host,
            path: path_globs,
            header,
            method,
            query,
            source_ip,
            sni: Vec::new(),
            alpn: Vec::new(),
        })
    }

    fn values_count(&mut self, path: &KeyPath, n: usize, ok: &mut bool) {
        if n == 0 || n > MAX_CONDITION_VALUES {
            self.invalid(
                path.clone(),
                format!("{n} values"),
                format!("1 to {MAX_CONDITION_VALUES} values"),
            );
            *ok = false;
        }
    }

    /// Value globs of a header or query condition, lower-cased (they match case-insensitively).
    fn globs(&mut self, path: &KeyPath, values: &[String], ok: &mut bool) -> Vec<String> {
        self.values_count(path, values.len(), ok);
        let mut out = Vec::new();
        for (i, value) in values.iter().enumerate() {
            match visible(value) {
                Ok(v) => out.push(v.to_ascii_lowercase()),
                Err(expected) => {
                    self.invalid(path.index(i), format!("\"{value}\""), expected);
                    *ok = false;
                }
            }
        }
        out
    }

    pub(super) fn trusted_proxies(&mut self, path: &KeyPath, raw: Option<&[String]>) -> Vec<Cidr> {
        let mut blocks = Vec::new();
        for (i, text) in raw.unwrap_or_default().iter().enumerate() {
            match Cidr::parse(text) {
                Ok(block) => blocks.push(block),
                Err(reason) => self.invalid(
                    path.index(i),
                    format!("\"{text}\""),
                    format!("a CIDR block such as \"10.0.0.0/8\": {reason}"),
                ),
            }
        }
        blocks
    }
}

fn visible(value: &str) -> Result<&str, String> {
    if value.is_empty() || value.len() > 128 || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("1 to 128 visible ASCII characters (globs with * and ?)".to_owned());
    }
    Ok(value)
}

fn host_glob(value: &str) -> Result<String, String> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.*?".contains(&b));
    if ok {
        Ok(value.to_ascii_lowercase())
    } else {
        Err("a host name of letters, digits, '-' and '.', with * and ? as wildcards".to_owned())
    }
}

fn path_glob(value: &str) -> Result<String, String> {
    visible(value)?;
    if value.starts_with('/') || value.starts_with('*') {
        Ok(value.to_owned())
    } else {
        Err("a path glob starting with '/' (or '*')".to_owned())
    }
}

fn method_name(value: &str) -> Result<String, String> {
    if !value.is_empty()
        && value.len() <= 40
        && value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
    {
        Ok(value.to_owned())
    } else {
        Err("a method in capitals, such as \"GET\"".to_owned())
    }
}

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests;
