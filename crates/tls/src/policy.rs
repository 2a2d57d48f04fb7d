//! What each named security policy means for rustls: versions and cipher suites.

use std::sync::Arc;

use ballast_config::TlsPolicy;
use rustls::crypto::{ring, CryptoProvider};
use rustls::SupportedProtocolVersion;

/// TLS versions a policy accepts (TLS 1.0 and 1.1 never: rustls does not speak them).
pub(crate) fn versions(policy: TlsPolicy) -> &'static [&'static SupportedProtocolVersion] {
    static TLS13: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    static TLS12_13: [&SupportedProtocolVersion; 2] =
        [&rustls::version::TLS13, &rustls::version::TLS12];
    match policy {
        TlsPolicy::Tls13Only => &TLS13,
        _ => &TLS12_13,
    }
}

/// The ring provider with only the policy's cipher suites. Every suite rustls offers is an
/// AEAD with forward secrecy (ECDHE), so "recommended" keeps them all.
pub(crate) fn provider(policy: TlsPolicy) -> Arc<CryptoProvider> {
    let mut provider = ring::default_provider();
    if policy == TlsPolicy::AesOnly {
        provider
            .cipher_suites
            .retain(|suite| !format!("{:?}", suite.suite()).contains("CHACHA20"));
    }
    Arc::new(provider)
}

/// The cipher suites a policy offers, by IANA name (for docs and tests).
pub fn policy_suites(policy: TlsPolicy) -> Vec<String> {
    provider(policy)
        .cipher_suites
        .iter()
        .map(|s| format!("{:?}", s.suite()))
        .collect()
}
