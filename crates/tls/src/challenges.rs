//! The answers to ACME challenges that are pending right now, shared between the ACME
//! client (control plane, writing) and the listeners (data plane, reading).

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::sign::CertifiedKey;

/// The path prefix under which `http-01` tokens are fetched (RFC 8555 §8.3).
pub const HTTP01_PREFIX: &str = "/.well-known/acme-challenge/";

/// The ALPN protocol an ACME server asks for when it validates `tls-alpn-01` (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Pending challenge answers of one Ballast process: `http-01` key authorizations by token
/// and `tls-alpn-01` certificates by domain.
///
/// It exists so the ACME client, which runs on the control plane, can make the data plane
/// answer a CA's validation requests without a lock: readers do one `ArcSwap` load; writers
/// (a few per issuance) copy the small map.
#[derive(Debug, Default)]
pub struct AcmeChallenges {
    http01: ArcSwap<HashMap<String, Arc<str>>>,
    tls_alpn01: ArcSwap<HashMap<String, Arc<CertifiedKey>>>,
}

impl AcmeChallenges {
    /// The key authorization to answer for `token`, if a challenge for it is pending.
    pub fn http01(&self, token: &str) -> Option<Arc<str>> {
        self.http01.load().get(token).cloned()
    }

    /// Starts answering `token` with `key_authorization`.
    pub fn set_http01(&self, token: &str, key_authorization: &str) {
        let value: Arc<str> = Arc::from(key_authorization);
        self.http01.rcu(|map| {
            let mut next = HashMap::clone(map);
            next.insert(token.to_owned(), Arc::clone(&value));
            next
        });
    }

    /// Stops answering `token` (the challenge is over, won or lost).
    pub fn remove_http01(&self, token: &str) {
        self.http01.rcu(|map| {
            let mut next = HashMap::clone(map);
            next.remove(token);
            next
        });
    }

    /// The `tls-alpn-01` certificate for `domain`, if a challenge for it is pending.
    pub fn tls_alpn01(&self, domain: &str) -> Option<Arc<CertifiedKey>> {
        self.tls_alpn01.load().get(domain).cloned()
    }

    /// Starts offering `certificate` to `acme-tls/1` handshakes for `domain`.
    pub fn set_tls_alpn01(&self, domain: &str, certificate: Arc<CertifiedKey>) {
        self.tls_alpn01.rcu(|map| {
            let mut next = HashMap::clone(map);
            next.insert(domain.to_owned(), Arc::clone(&certificate));
            next
        });
    }

    /// Stops offering a `tls-alpn-01` certificate for `domain`.
    pub fn remove_tls_alpn01(&self, domain: &str) {
        self.tls_alpn01.rcu(|map| {
            let mut next = HashMap::clone(map);
            next.remove(domain);
            next
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http01_tokens_come_and_go() {
        let store = AcmeChallenges::default();
        assert!(store.http01("t1").is_none());
        store.set_http01("t1", "t1.thumb");
        store.set_http01("t2", "t2.thumb");
        assert_eq!(store.http01("t1").as_deref(), Some("t1.thumb"));
        store.remove_http01("t1");
        assert!(store.http01("t1").is_none());
        assert_eq!(store.http01("t2").as_deref(), Some("t2.thumb"));
    }
}
