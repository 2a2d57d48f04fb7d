//! `[rate_limits]` and the `rate_limit` keys of listeners and rules that name them.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Validator;
use crate::defaults::MAX_RATE_LIMITS;
use crate::error::{unknown_reference, KeyPath};
use crate::raw::RawRateLimit;
use crate::{Rate, RateKey, RateLimitConfig};

/// What a key part may be, for errors.
const KEY_PARTS: &str =
    "\"client_ip\", \"path\", \"host\", \"method\", \"header:NAME\" or \"cookie:NAME\"";

/// The name after `prefix` (`header:` of `header:x-api-key`): 1 to 128 visible
/// characters other than `=`, `;` and `,`; `None` without the prefix or with a bad name.
pub(super) fn named_part<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    text.strip_prefix(prefix).filter(|n| {
        !n.is_empty()
            && n.len() <= 128
            && n.bytes()
                .all(|b| b.is_ascii_graphic() && !b"=;,".contains(&b))
    })
}

impl Validator {
    /// Checks `[rate_limits]`, keeping each for the listeners and rules that name it.
    pub(super) fn rate_limits(
        &mut self,
        path: &KeyPath,
        raw: &BTreeMap<String, RawRateLimit>,
    ) -> Vec<Arc<RateLimitConfig>> {
        if !self.within(path, raw.len(), MAX_RATE_LIMITS, "rate limits") {
            return Vec::new();
        }
        let mut all = Vec::new();
        for (name, limit) in raw {
            let at = path.key(name);
            self.name(&at, name);
            let key = self.rate_key(&at.key("key"), limit.key.as_deref());
            let per_second = limit.per_second.map(|_| {
                self.count(&at.key("per_second"), limit.per_second, 1, 1..=1_000_000) as u32
            });
            let per_minute = limit.per_minute.map(|_| {
                self.count(&at.key("per_minute"), limit.per_minute, 1, 1..=10_000_000) as u32
            });
            let per_second = match (per_second, limit.burst) {
                (Some(per_second), burst) => Some(Rate {
                    per_second,
                    burst: self.count(&at.key("burst"), burst, per_second as usize, 1..=10_000_000)
                        as u32,
                }),
                (None, Some(_)) => {
                    self.invalid(
                        at.key("burst"),
                        "a burst without per_second",
                        "per_second beside it",
                    );
                    None
                }
                (None, None) => None,
            };
            if limit.per_second.is_none() && limit.per_minute.is_none() {
                self.invalid(at.clone(), "no rate", "per_second, per_minute or both");
                continue;
            }
            let config = Arc::new(RateLimitConfig {
                name: Arc::from(name.as_str()),
                key,
                per_second,
                per_minute,
            });
            self.rate_limits.insert(name.clone(), Arc::clone(&config));
            all.push(config);
        }
        all
    }

    fn rate_key(&mut self, path: &KeyPath, raw: Option<&[String]>) -> Vec<RateKey> {
        let Some(raw) = raw else {
            return vec![RateKey::ClientIp];
        };
        if raw.is_empty() || raw.len() > 5 {
            self.invalid(
                path.clone(),
                format!("{} parts", raw.len()),
                "1 to 5 key parts",
            );
            return vec![RateKey::ClientIp];
        }
        let mut parts = Vec::new();
        for (i, text) in raw.iter().enumerate() {
            let named = |prefix: &str| named_part(text, prefix);
            let part = match text.as_str() {
                "client_ip" => Some(RateKey::ClientIp),
                "path" => Some(RateKey::Path),
                "host" => Some(RateKey::Host),
                "method" => Some(RateKey::Method),
                _ => named("header:")
                    .map(|n| RateKey::Header(n.to_ascii_lowercase()))
                    .or_else(|| named("cookie:").map(|n| RateKey::Cookie(n.to_owned()))),
            };
            match part {
                Some(part) if !parts.contains(&part) => parts.push(part),
                Some(_) => {
                    self.invalid(path.index(i), format!("\"{text}\" twice"), "each part once")
                }
                None => self.invalid(path.index(i), format!("\"{text}\""), KEY_PARTS),
            }
        }
        parts
    }

    /// The rate limit a `rate_limit` key names.
    pub(super) fn rate_limit_ref(
        &mut self,
        path: &KeyPath,
        name: Option<&str>,
    ) -> Option<Arc<RateLimitConfig>> {
        let name = name?;
        if let Some(limit) = self.rate_limits.get(name) {
            return Some(Arc::clone(limit));
        }
        let mut known: Vec<String> = self.rate_limits.keys().cloned().collect();
        known.sort();
        self.error(path.clone(), unknown_reference("rate limit", name, &known));
        None
    }
}
