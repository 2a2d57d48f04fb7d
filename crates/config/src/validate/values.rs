//! Checks of plain values every part of validation uses: names, addresses, durations,
//! counts and secrets.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::defaults::*;
use crate::duration::parse_duration;
use crate::error::{ErrorKind, KeyPath};
use crate::secret::Secret;

use super::Validator;

impl Validator {
    /// Whether `count` entries (`what`) are within `max`; an error at `path` if not.
    pub(super) fn within(&mut self, path: &KeyPath, count: usize, max: usize, what: &str) -> bool {
        if count <= max {
            return true;
        }
        self.invalid(
            path.clone(),
            format!("{count} {what}"),
            format!("at most {max} {what}"),
        );
        false
    }

    /// A listener or target group name: at most [`MAX_NAME_BYTES`] of `a-z A-Z 0-9 - _`.
    pub(super) fn name(&mut self, path: &KeyPath, name: &str) {
        let ok = !name.is_empty()
            && name.len() <= MAX_NAME_BYTES
            && name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
        if !ok {
            // Built here rather than by `invalid`, which would cut the cut name again.
            self.error(
                path.clone(),
                ErrorKind::InvalidValue {
                    found: format!("name \"{}\"", crate::error::shorten_str(name)),
                    expected: format!(
                        "1 to {MAX_NAME_BYTES} characters among a-z, A-Z, 0-9, '-' and '_'"
                    ),
                },
            );
        }
    }

    pub(super) fn claim_address(
        &mut self,
        bound: &mut HashMap<SocketAddr, KeyPath>,
        addr: SocketAddr,
        path: &KeyPath,
    ) {
        // Port 0 asks the OS for a fresh port each time, so it never clashes.
        if addr.port() == 0 {
            return;
        }
        // IPv6 listeners are bound IPv6-only, so `0.0.0.0:P` and `[::]:P` coexist; within
        // one family an unspecified address claims the port on every address.
        let clash = bound.iter().find(|(other, _)| {
            other.port() == addr.port()
                && other.is_ipv4() == addr.is_ipv4()
                && (**other == addr || other.ip().is_unspecified() || addr.ip().is_unspecified())
        });
        if let Some((_, other)) = clash {
            let other = other.to_string();
            self.error(
                path.clone(),
                ErrorKind::Conflict {
                    what: format!("address {addr}"),
                    other,
                },
            );
        } else {
            bound.insert(addr, path.clone());
        }
    }

    pub(super) fn socket_addr(&mut self, path: &KeyPath, text: &str) -> Option<SocketAddr> {
        match text.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.invalid(path.clone(), format!("\"{text}\""), "an address IP:PORT such as \"127.0.0.1:8080\" or \"[::1]:8080\" (host names are not resolved)");
                None
            }
        }
    }

    pub(super) fn duration(
        &mut self,
        path: &KeyPath,
        text: Option<&str>,
        default: Duration,
    ) -> Duration {
        let Some(text) = text else { return default };
        match parse_duration(text) {
            Ok(d) => d,
            Err(reason) => {
                self.invalid(
                    path.clone(),
                    format!("\"{text}\""),
                    format!("a duration such as \"30s\", \"500ms\" or \"5m\": {reason}"),
                );
                default
            }
        }
    }

    pub(super) fn positive_duration(
        &mut self,
        path: &KeyPath,
        text: Option<&str>,
        default: Duration,
    ) -> Duration {
        let d = self.duration(path, text, default);
        if d.is_zero() {
            self.invalid(path.clone(), "\"0s\"", "a duration greater than zero");
            return default;
        }
        d
    }

    /// A secret long enough not to be guessed: a short one would let anyone forge cookies.
    pub(super) fn secret(&mut self, path: &KeyPath, raw: Option<String>) -> Option<Secret> {
        let secret = raw?;
        if secret.len() < MIN_SECRET_BYTES {
            self.invalid(
                path.clone(),
                format!("a secret of {} bytes", secret.len()),
                format!("at least {MIN_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`)"),
            );
            return None;
        }
        Some(Secret::new(secret))
    }

    pub(super) fn count(
        &mut self,
        path: &KeyPath,
        value: Option<i64>,
        default: usize,
        range: std::ops::RangeInclusive<usize>,
    ) -> usize {
        let Some(value) = value else { return default };
        match usize::try_from(value) {
            Ok(n) if range.contains(&n) => n,
            _ => {
                self.invalid(
                    path.clone(),
                    value.to_string(),
                    format!("an integer from {} to {}", range.start(), range.end()),
                );
                default
            }
        }
    }
}
