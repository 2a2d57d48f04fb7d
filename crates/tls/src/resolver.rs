//! Choosing a listener's certificate per handshake by SNI (and, when a name has an RSA and an
//! ECDSA certificate, by the key types the client can verify), from a table that can be
//! swapped while connections are open (certificate rotation, ACME issuance and renewal).

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;

use crate::key_choice::KeyChoice;
use crate::{AcmeChallenges, CertificateInfo, ACME_TLS_ALPN};

/// The certificates of one listener, by name. Lock-free to read: one `ArcSwap` load per
/// handshake.
///
/// Two sources feed it: the static certificates of the configuration ([`Self::replace`])
/// and the ones an ACME client obtained ([`Self::replace_managed`]); each can change without
/// the other being reloaded. With [`Self::answering_acme`], it also answers `tls-alpn-01`
/// validation handshakes.
#[derive(Debug)]
pub struct SniResolver {
    /// The table with what it was built from, swapped whole: a handshake loads it without a
    /// lock, and the two sources (configuration, ACME) rebuild it without one either.
    current: ArcSwap<Resolved>,
    /// Pending `tls-alpn-01` challenges, for listeners that answer them.
    acme: Option<Arc<AcmeChallenges>>,
}

#[derive(Debug, Default)]
struct Resolved {
    configured: Vec<CertificateInfo>,
    managed: Vec<CertificateInfo>,
    table: SniTable,
}

/// Per name, the certificates that serve it: the first listed of each key type.
#[derive(Debug, Default)]
struct SniTable {
    exact: HashMap<String, KeyChoice>,
    /// `*.example.com` filed under `example.com`.
    wildcard: HashMap<String, KeyChoice>,
    /// The first certificate, with those of other key types for its first name: for
    /// clients that send no SNI, or a name nobody serves.
    default: KeyChoice,
}

impl SniResolver {
    /// A resolver serving `certificates`; the first is the default.
    pub fn new(certificates: &[CertificateInfo]) -> Self {
        Self {
            current: ArcSwap::from_pointee(Resolved::new(certificates.to_vec(), Vec::new())),
            acme: None,
        }
    }

    /// This resolver, also answering `acme-tls/1` handshakes with the `tls-alpn-01`
    /// certificates pending in `challenges` (RFC 8737).
    pub fn answering_acme(mut self, challenges: Arc<AcmeChallenges>) -> Self {
        self.acme = Some(challenges);
        self
    }

    /// Whether this resolver answers `tls-alpn-01` handshakes (its listener must then offer
    /// the `acme-tls/1` protocol).
    pub fn answers_acme(&self) -> bool {
        self.acme.is_some()
    }

    /// Serves `certificates` (the configured ones) from the next handshake on; handshakes
    /// and connections already under way keep what they had. ACME certificates stay.
    pub fn replace(&self, certificates: &[CertificateInfo]) {
        // A read-copy-update: a rebuild racing the other source's is done again on top of
        // it, so neither change is lost.
        self.current
            .rcu(|old| Resolved::new(certificates.to_vec(), old.managed.clone()));
    }

    /// Serves `certificates` (obtained by ACME) from the next handshake on, before the
    /// configured ones for the names they cover. Configured certificates stay.
    pub fn replace_managed(&self, certificates: &[CertificateInfo]) {
        self.current
            .rcu(|old| Resolved::new(old.configured.clone(), certificates.to_vec()));
    }

    /// The certificate for a server name (`None`: no SNI) and a client offering the
    /// signature `schemes`: exact name, then wildcard, then the default; among the
    /// certificates found there, one per key type, the one whose key the client can verify,
    /// ECDSA first.
    pub fn certificate_for(
        &self,
        name: Option<&str>,
        schemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let current = self.current.load();
        let table = &current.table;
        let Some(name) = name else {
            return table.default.choose(schemes);
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(choice) = table.exact.get(&name) {
            return choice.choose(schemes);
        }
        // A wildcard covers exactly one label: `*.example.com` serves `a.example.com`.
        let parent = name.split_once('.').map(|(_, parent)| parent);
        if let Some(choice) = parent.and_then(|p| table.wildcard.get(p)) {
            return choice.choose(schemes);
        }
        table.default.choose(schemes)
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(acme) = &self.acme {
            let validating = client_hello
                .alpn()
                .is_some_and(|mut offered| offered.any(|p| p == ACME_TLS_ALPN));
            if validating {
                // Only the challenge certificate may answer acme-tls/1 (RFC 8737 §3).
                let name = client_hello.server_name()?.to_ascii_lowercase();
                return acme.tls_alpn01(&name);
            }
        }
        self.certificate_for(client_hello.server_name(), client_hello.signature_schemes())
    }
}

impl Resolved {
    fn new(configured: Vec<CertificateInfo>, managed: Vec<CertificateInfo>) -> Self {
        let table = SniTable::build(&configured, &managed);
        Self {
            configured,
            managed,
            table,
        }
    }
}

impl SniTable {
    /// For each key type, the first certificate listing a name serves it, managed (ACME)
    /// ones first. The default is the first configured certificate, or the first managed
    /// one when none is configured, beside the certificates of other key types from the
    /// same list that serve its first name (its RSA or ECDSA twin).
    fn build(configured: &[CertificateInfo], managed: &[CertificateInfo]) -> Self {
        let mut table = SniTable::default();
        let defaults = if configured.is_empty() {
            managed
        } else {
            configured
        };
        if let Some((first, others)) = defaults.split_first() {
            table.default.offer(&first.key);
            if let Some(name) = first.names.first() {
                others
                    .iter()
                    .filter(|c| c.names.contains(name))
                    .for_each(|c| table.default.offer(&c.key));
            }
        }
        for certificate in managed.iter().chain(configured) {
            for name in &certificate.names {
                let choice = match name.strip_prefix("*.") {
                    Some(parent) => table.wildcard.entry(parent.to_owned()),
                    None => table.exact.entry(name.clone()),
                };
                choice.or_default().offer(&certificate.key);
            }
        }
        table
    }
}
