//! Validation of listener rules (`[[listeners.NAME.rules]]`), redirects and fixed responses.

use std::collections::HashMap;

use crate::defaults::*;
use crate::error::KeyPath;
use crate::model::Action;
use crate::raw::{RawConditions, RawFixedResponse, RawRedirect, RawRule};
use crate::rules::{
    Cidr, Conditions, FixedResponse, HeaderCondition, QueryCondition, RedirectConfig, Rule,
};

use super::Validator;

/// Content types a fixed response may declare (ALB's list).
const CONTENT_TYPES: [&str; 5] = [
    "text/plain",
    "text/css",
    "text/html",
    "application/javascript",
    "application/json",
];

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
            if let (Some(conditions), Some(action)) = (conditions, action) {
                rules.push(Rule {
                    priority,
                    conditions,
                    action,
                    request_headers,
                    response_headers,
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
        let source = list(self, "source_ip", &raw.source_ip, &|v| {
            Cidr::parse(v).map(|c| c.to_string())
        });
        let source_ip = raw
            .source_ip
            .iter()
            .flatten()
            .filter_map(|v| Cidr::parse(v).ok())
            .collect::<Vec<_>>();
        debug_assert_eq!(source.len(), source_ip.len());
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

    pub(super) fn redirect(&mut self, path: &KeyPath, raw: &RawRedirect) -> Option<Action> {
        let status = raw.status.unwrap_or(301);
        let mut ok = true;
        if ![301, 302, 307, 308].contains(&status) {
            self.invalid(
                path.key("status"),
                status.to_string(),
                "301, 302, 307 or 308",
            );
            ok = false;
        }
        let protocol = raw
            .protocol
            .clone()
            .unwrap_or_else(|| "#{protocol}".to_owned());
        if !["http", "https", "#{protocol}"].contains(&protocol.to_ascii_lowercase().as_str()) {
            self.invalid(
                path.key("protocol"),
                format!("\"{protocol}\""),
                "\"http\", \"https\" or \"#{protocol}\"",
            );
            ok = false;
        }
        let mut template = |v: &mut Self,
                            key: &str,
                            raw: &Option<String>,
                            default: &str,
                            allowed: &[&str]|
         -> String {
            let text = raw.clone().unwrap_or_else(|| default.to_owned());
            if let Err(expected) = check_template(&text, allowed) {
                v.invalid(path.key(key), format!("\"{text}\""), expected);
                ok = false;
            }
            text
        };
        let host = template(self, "host", &raw.host, "#{host}", &["host"]);
        let port = template(self, "port", &raw.port, "#{port}", &["port"]);
        let redirect_path = template(
            self,
            "path",
            &raw.path,
            "/#{path}",
            &["host", "path", "port"],
        );
        let query = template(
            self,
            "query",
            &raw.query,
            "#{query}",
            &["protocol", "host", "port", "path", "query"],
        );
        // The text around the keywords (already checked by `template`).
        let literal = |text: &str, _keyword: &str| strip_keywords(text);
        let mut component = |v: &mut Self, key: &str, good: bool, expected: &str, text: &str| {
            if !good {
                v.invalid(path.key(key), format!("\"{text}\""), expected.to_owned());
                ok = false;
            }
        };
        let host_ok = literal(&host, "#{host}")
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        component(
            self,
            "host",
            host_ok && host.len() <= 128,
            "a host name (letters, digits, '-', '.') and #{host}, at most 128 characters",
            &host,
        );
        let port_ok = port == "#{port}" || port.parse::<u16>().is_ok_and(|p| p > 0);
        component(
            self,
            "port",
            port_ok,
            "a port from 1 to 65535, or \"#{port}\"",
            &port,
        );
        let path_ok = redirect_path.starts_with('/')
            && redirect_path.len() <= 128
            && !literal(&redirect_path, "").contains(['?', '#']);
        component(
            self,
            "path",
            path_ok,
            "a path starting with '/', at most 128 characters, without '?' or '#'",
            &redirect_path,
        );
        let query_ok = !query.starts_with('?')
            && query.len() <= 128
            && query.is_ascii()
            && !literal(&query, "").contains('#');
        component(self, "query", query_ok, "at most 128 ASCII characters, without a leading '?' or a '#' (percent-encode the rest)", &query);
        // What the listener itself is: a component equal to it is unchanged.
        let (own_protocol, own_port) = self.listener.unwrap_or(("http", 0));
        let same_protocol = protocol.eq_ignore_ascii_case("#{protocol}")
            || protocol.eq_ignore_ascii_case(own_protocol);
        let same_port = port == "#{port}" || port.parse::<u16>().ok() == Some(own_port);
        let itself = same_protocol && host == "#{host}" && same_port && redirect_path == "/#{path}";
        if itself {
            self.invalid(
                path.clone(),
                "a redirect that keeps protocol, host, port and path",
                "a change of protocol, host, port or path (it would redirect to itself)",
            );
            ok = false;
        }
        if own_protocol == "https" && protocol.eq_ignore_ascii_case("http") {
            self.invalid(
                path.key("protocol"),
                "\"http\" from an https listener",
                "\"https\" or \"#{protocol}\" (a downgrade is refused, as on ALB)",
            );
            ok = false;
        }
        ok.then(|| {
            Action::Redirect(RedirectConfig {
                status: status as u16,
                protocol: protocol.to_ascii_lowercase(),
                host,
                port,
                path: redirect_path,
                query,
            })
        })
    }

    pub(super) fn fixed_response(
        &mut self,
        path: &KeyPath,
        raw: &RawFixedResponse,
    ) -> Option<Action> {
        let mut ok = true;
        let status = raw.status;
        if !((200..=299).contains(&status) || (400..=599).contains(&status)) {
            self.invalid(
                path.key("status"),
                status.to_string(),
                "a 2xx, 4xx or 5xx status",
            );
            ok = false;
        }
        let content_type = raw
            .content_type
            .clone()
            .unwrap_or_else(|| "text/plain".to_owned());
        if !CONTENT_TYPES.contains(&content_type.as_str()) {
            self.invalid(
                path.key("content_type"),
                format!("\"{content_type}\""),
                format!("one of {}", CONTENT_TYPES.join(", ")),
            );
            ok = false;
        }
        let body = raw.body.clone().unwrap_or_default();
        if body.len() > MAX_FIXED_BODY {
            self.invalid(
                path.key("body"),
                format!("{} bytes", body.len()),
                format!("at most {MAX_FIXED_BODY} bytes"),
            );
            ok = false;
        }
        ok.then_some(Action::FixedResponse(FixedResponse {
            status: status as u16,
            content_type,
            body,
        }))
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

/// A template without its `#{...}` keywords.
fn strip_keywords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("#{") {
        out.push_str(&rest[..start]);
        match rest[start..].find('}') {
            Some(end) => rest = &rest[start + end + 1..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// A redirect template may use only the `#{...}` keywords its component allows.
fn check_template(text: &str, allowed: &[&str]) -> Result<(), String> {
    if text.is_empty() && allowed.len() < 5 {
        return Err("a value".to_owned());
    }
    let mut rest = text;
    while let Some(start) = rest.find("#{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err("a closed #{...} keyword".to_owned());
        };
        let keyword = &after[..end];
        if !allowed.contains(&keyword) {
            let list: Vec<String> = allowed.iter().map(|k| format!("#{{{k}}}")).collect();
            return Err(format!("only the keywords {} here", list.join(", ")));
        }
        rest = &after[end + 1..];
    }
    if text.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err("no spaces or control characters".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
