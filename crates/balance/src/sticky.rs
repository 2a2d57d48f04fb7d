//! Sticky-session cookies: which target a client is stuck to, sealed so that a client can
//! neither forge nor move its cookie to another target or group.
//!
//! A cookie value is `TARGET.EXPIRES.MAC`: the target's stable identity and the Unix time
//! the stickiness ends, in hexadecimal, then an HMAC-SHA256 (truncated to 128 bits) over the
//! group name, the target and the expiry, keyed with the node's secret. Nodes that share the
//! secret accept each other's cookies. Pure code: the time is passed in.

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = hmac::Hmac<Sha256>;

/// Bytes of the MAC kept in a cookie: 128 bits are far beyond guessing.
const MAC_BYTES: usize = 16;

/// The key that seals sticky cookies, and the one before it: after the secret changes,
/// cookies sealed with the old one still open (until the next change), so a rotation does
/// not drop every session at once.
#[derive(Clone)]
pub struct StickyKey {
    current: [u8; 32],
    previous: Option<[u8; 32]>,
}

impl StickyKey {
    /// A key derived from a secret the operator configured (SHA-256 of it), so every node
    /// given the same secret seals the same way.
    pub fn from_secret(secret: &[u8]) -> Self {
        Self::from_bytes(Sha256::digest(secret).into())
    }

    /// A key from 32 random bytes (one per process when no secret is configured).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            current: bytes,
            previous: None,
        }
    }

    /// This key, still accepting what `older` sealed when it differs (a rotated secret).
    pub fn rotated_from(mut self, older: &StickyKey) -> Self {
        self.previous = if older.current == self.current {
            older.previous
        } else {
            Some(older.current)
        };
        self
    }

    /// The cookie value sticking a client of `group` to `target` until `expires` (Unix
    /// seconds).
    pub fn seal(&self, group: &str, target: u64, expires: u64) -> String {
        let mac = mac(&self.current, group, target, expires);
        let mut value = String::with_capacity(16 + 1 + 16 + 1 + MAC_BYTES * 2);
        push_hex(&mut value, &target.to_be_bytes());
        value.push('.');
        // The expiry without leading zero bytes.
        let bytes = expires.to_be_bytes();
        let first = bytes.iter().position(|&b| b != 0).unwrap_or(7);
        push_hex(&mut value, &bytes[first..]);
        value.push('.');
        push_hex(&mut value, &mac[..MAC_BYTES]);
        value
    }

    /// The target a cookie value sticks to, if it was sealed by this key for `group` and
    /// has not expired at `now` (Unix seconds). Anything else, a tampered or truncated value
    /// included, is `None`: the request is balanced as if it had no cookie.
    pub fn open(&self, group: &str, value: &[u8], now: u64) -> Option<u64> {
        let text = std::str::from_utf8(value).ok()?;
        let mut parts = text.split('.');
        let (target, expires, seal) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || target.len() != 16 || seal.len() != MAC_BYTES * 2 {
            return None;
        }
        // Lower-case hex digits only: one encoding per value, nothing malleable.
        let hex = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !hex(target) || !hex(expires) || !hex(seal) || expires.is_empty() || expires.len() > 16 {
            return None;
        }
        let target = u64::from_str_radix(target, 16).ok()?;
        let expires = u64::from_str_radix(expires, 16).ok()?;
        let mut given = [0u8; MAC_BYTES];
        for (i, byte) in given.iter_mut().enumerate() {
            *byte = u8::from_str_radix(seal.get(i * 2..i * 2 + 2)?, 16).ok()?;
        }
        let genuine = |key: &[u8; 32]| {
            let expected = mac(key, group, target, expires);
            // Constant time: a forger learns nothing from how long a refusal takes.
            given
                .iter()
                .zip(&expected[..MAC_BYTES])
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        };
        let sealed = genuine(&self.current) || self.previous.as_ref().is_some_and(genuine);
        (sealed && now < expires).then_some(target)
    }
}

fn mac(key: &[u8; 32], group: &str, target: u64, expires: u64) -> [u8; 32] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(group.as_bytes());
    mac.update(&[0]);
    mac.update(&target.to_be_bytes());
    mac.update(&expires.to_be_bytes());
    mac.finalize().into_bytes().into()
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 15)]));
    }
}

impl std::fmt::Debug for StickyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StickyKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_cookie_opens_until_it_expires() {
        let key = StickyKey::from_secret(b"s3cret");
        let value = key.seal("app", 0xabc, 1_000);
        assert_eq!(key.open("app", value.as_bytes(), 999), Some(0xabc));
        assert_eq!(key.open("app", value.as_bytes(), 1_000), None, "expired");
        let same = StickyKey::from_secret(b"s3cret");
        assert_eq!(
            same.open("app", value.as_bytes(), 10),
            Some(0xabc),
            "nodes share a secret"
        );
    }

    #[test]
    fn a_rotated_secret_still_opens_the_previous_cookies() {
        let old = StickyKey::from_secret(b"old secret");
        let value = old.seal("app", 7, 1_000);
        let new = StickyKey::from_secret(b"new secret").rotated_from(&old);
        assert_eq!(new.open("app", value.as_bytes(), 10), Some(7));
        let newer = StickyKey::from_secret(b"newer").rotated_from(&new);
        assert_eq!(
            newer.open("app", value.as_bytes(), 10),
            None,
            "two rotations ago"
        );
        let same = StickyKey::from_secret(b"new secret").rotated_from(&new);
        assert_eq!(
            same.open("app", value.as_bytes(), 10),
            Some(7),
            "a reload keeps it"
        );
    }

    #[test]
    fn tampered_moved_or_foreign_cookies_are_refused() {
        let key = StickyKey::from_secret(b"s3cret");
        let value = key.seal("app", 0xabc, 1_000);
        let other_target = value.replacen("0000000000000abc", "0000000000000abd", 1);
        assert_eq!(key.open("app", other_target.as_bytes(), 10), None);
        let longer = value.replacen(".03e8.", ".03e9.", 1);
        assert_eq!(
            key.open("app", longer.as_bytes(), 10),
            None,
            "expiry is sealed too"
        );
        assert_eq!(key.open("api", value.as_bytes(), 10), None, "another group");
        let stranger = StickyKey::from_secret(b"other");
        assert_eq!(stranger.open("app", value.as_bytes(), 10), None);
        let upper = value.to_uppercase();
        assert_eq!(
            key.open("app", upper.as_bytes(), 10),
            None,
            "one encoding only"
        );
        for junk in [
            "",
            "x",
            "a.b.c",
            &value[..value.len() - 1],
            &format!("{value}.x"),
        ] {
            assert_eq!(key.open("app", junk.as_bytes(), 10), None, "{junk:?}");
        }
    }
}
