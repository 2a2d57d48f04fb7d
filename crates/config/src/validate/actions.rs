//! Validation of the actions that answer without a target: redirects and fixed responses.
//! (`forward` is checked in `validate.rs` and `validate/forward.rs`.)

use crate::defaults::*;
use crate::error::KeyPath;
use crate::model::Action;
use crate::raw::{RawFixedResponse, RawRedirect};
use crate::rules::{FixedResponse, RedirectConfig};

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
