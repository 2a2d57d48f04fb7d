//! Validation of a target group's `stickiness`.

use crate::defaults::*;
use crate::error::KeyPath;
use crate::model::{CookieAttributes, StickinessConfig, StickinessKind};
use crate::raw::RawStickiness;

use super::Validator;

impl Validator {
    pub(super) fn stickiness(
        &mut self,
        path: &KeyPath,
        raw: &RawStickiness,
    ) -> Option<StickinessConfig> {
        let kind = match raw.r#type.as_deref().unwrap_or("lb_cookie") {
            "lb_cookie" => {
                if raw.app_cookie.is_some() {
                    self.invalid(
                        path.key("app_cookie"),
                        "an app_cookie with type \"lb_cookie\"",
                        "type = \"app_cookie\"",
                    );
                }
                Some(StickinessKind::LbCookie)
            }
            "app_cookie" => match raw.app_cookie.as_deref() {
                Some(name) => self
                    .cookie_name(&path.key("app_cookie"), name)
                    .map(|n| StickinessKind::AppCookie(n.to_owned())),
                None => {
                    self.invalid(
                        path.key("app_cookie"),
                        "no app_cookie",
                        "the name of the application's cookie, such as \"JSESSIONID\"",
                    );
                    None
                }
            },
            other => {
                self.invalid(
                    path.key("type"),
                    format!("\"{other}\""),
                    "\"lb_cookie\" or \"app_cookie\"",
                );
                None
            }
        };
        let duration = self.stickiness_duration(&path.key("duration"), raw.duration.as_deref());
        let default_name = match kind {
            Some(StickinessKind::AppCookie(_)) => DEFAULT_APP_STICKY_COOKIE,
            _ => DEFAULT_LB_COOKIE,
        };
        // Every key is checked before giving up, so one run reports all.
        let name = match raw.cookie_name.as_deref() {
            Some(name) => self.cookie_name(&path.key("cookie_name"), name),
            None => Some(default_name),
        };
        if let (Some(StickinessKind::AppCookie(app)), Some(name)) = (&kind, name) {
            if app == name {
                self.invalid(
                    path.key("cookie_name"),
                    format!("\"{name}\", the application's own cookie"),
                    "a name of Ballast's own (default \"BALLASTAPP\")",
                );
            }
        }
        let same_site = match raw.same_site.as_deref() {
            None => None,
            Some("strict") => Some("Strict"),
            Some("lax") => Some("Lax"),
            Some("none") => Some("None"),
            Some(other) => {
                self.invalid(
                    path.key("same_site"),
                    format!("\"{other}\""),
                    "\"strict\", \"lax\" or \"none\"",
                );
                None
            }
        };
        let secure = raw.secure.unwrap_or(false);
        if same_site == Some("None") && !secure {
            self.invalid(
                path.key("same_site"),
                "\"none\" without secure = true",
                "secure = true (browsers drop SameSite=None cookies that are not Secure)",
            );
        }
        let domain = raw
            .domain
            .as_deref()
            .and_then(|d| self.attribute(&path.key("domain"), d));
        let cookie_path = match raw.path.as_deref() {
            Some(p) if !p.starts_with('/') => {
                self.invalid(
                    path.key("path"),
                    format!("\"{p}\""),
                    "a path starting with '/'",
                );
                None
            }
            Some(p) => self.attribute(&path.key("path"), p),
            None => Some("/".to_owned()),
        };
        Some(StickinessConfig {
            kind: kind?,
            duration,
            cookie: CookieAttributes {
                name: name?.to_owned(),
                secure,
                http_only: raw.http_only.unwrap_or(true),
                same_site,
                domain,
                path: cookie_path?,
            },
        })
    }

    fn stickiness_duration(&mut self, path: &KeyPath, raw: Option<&str>) -> std::time::Duration {
        let d = self.duration(path, raw, DEFAULT_STICKINESS_DURATION);
        if d < std::time::Duration::from_secs(1) || d > MAX_STICKINESS_DURATION {
            self.invalid(
                path.clone(),
                format!("\"{}\"", raw.unwrap_or_default()),
                "a duration from \"1s\" to \"7d\"",
            );
            return DEFAULT_STICKINESS_DURATION;
        }
        d
    }

    /// A cookie name: an HTTP token (RFC 6265 §4.1.1).
    fn cookie_name<'a>(&mut self, path: &KeyPath, name: &'a str) -> Option<&'a str> {
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            self.invalid(
                path.clone(),
                format!("\"{name}\""),
                "a cookie name of letters, digits and !#$%&'*+-.^_`|~",
            );
            return None;
        }
        Some(name)
    }

    /// A cookie attribute value: visible ASCII without `;`.
    fn attribute(&mut self, path: &KeyPath, value: &str) -> Option<String> {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic() && b != b';') {
            self.invalid(
                path.clone(),
                format!("\"{value}\""),
                "visible ASCII characters without ';'",
            );
            return None;
        }
        Some(value.to_owned())
    }
}
