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

/// The key that seals sticky cookies.
#[derive(Clone)]
pub struct StickyKey([u8; 32]);

impl StickyKey {
    /// A key derived from a secret the operator configured (SHA-256 of it), so every node
    /// given the same secret seals the same way.
    pub fn from_secret(secret: &[u8]) -> Self {
        Self(Sha256::digest(secret).into())
    }

    /// A key from 32 random bytes (one per process when no secret is configured).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The cookie value sticking a client of `group` to `target` until `expires` (Unix
    /// seconds).
    pub fn seal(&self, group: &str, target: u64, expires: u64) -> String {
        let mac = self.mac(group, target, expires);
        let mut value = format!("{target:016x}.{expires:x}.");
        for byte in &mac[..MAC_BYTES] {
            value.push_str(&format!("{byte:02x}"));
        }
        value
    }

    /// The target a cookie value sticks to, if it was sealed by this key for `group` and
    /// has not expired at `now` (Unix seconds). Anything else, a tampered or truncated value
    /// included, is `None`: the request is balanced as if it had no cookie.
    pub fn open(&self, group: &str, value: &[u8], now: u64) -> Option<u64> {
        let text = std::str::from_utf8(value).ok()?;
        let mut parts = text.split('.');
        let (target, expires, mac) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || target.len() != 16 || mac.len() != MAC_BYTES * 2 {
            return None;
        }
        let target = u64::from_str_radix(target, 16).ok()?;
        let expires = u64::from_str_radix(expires, 16).ok()?;
        let mut given = [0u8; MAC_BYTES];
        for (i, byte) in given.iter_mut().enumerate() {
            *byte = u8::from_str_radix(mac.get(i * 2..i * 2 + 2)?, 16).ok()?;
        }
        let expected = self.mac(group, target, expires);
        // Constant time: a forger learns nothing from how long a refusal takes.
        let same = given
            .iter()
            .zip(&expected[..MAC_BYTES])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        (same && now < expires).then_some(target)
    }

    fn mac(&self, group: &str, target: u64, expires: u64) -> [u8; 32] {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(group.as_bytes());
        mac.update(&[0]);
        mac.update(&target.to_be_bytes());
        mac.update(&expires.to_be_bytes());
        mac.finalize().into_bytes().into()
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
    fn tampered_moved_or_foreign_cookies_are_refused() {
        let key = StickyKey::from_secret(b"s3cret");
        let value = key.seal("app", 0xabc, 1_000);
        let other_target = value.replacen("0000000000000abc", "0000000000000abd", 1);
        assert_eq!(key.open("app", other_target.as_bytes(), 10), None);
        let longer = value.replacen(".3e8.", ".3e9.", 1);
        assert_eq!(
            key.open("app", longer.as_bytes(), 10),
            None,
            "expiry is sealed too"
        );
        assert_eq!(key.open("api", value.as_bytes(), 10), None, "another group");
        let stranger = StickyKey::from_secret(b"other");
        assert_eq!(stranger.open("app", value.as_bytes(), 10), None);
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
