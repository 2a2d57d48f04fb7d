//! Which of a name's certificates a client gets when there is one per key type (an RSA and
//! an ECDSA certificate for the same site, as HAProxy and NGINX serve them): the one whose
//! key the client can verify, by the signature schemes of its hello, ECDSA first.
//!
//! Old or constrained clients verify RSA only; modern ones prefer ECDSA, whose handshakes
//! are smaller and cheaper for the server. Serving both lets a site keep both.

use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls::{SignatureAlgorithm, SignatureScheme};

/// The certificates that can serve one name (or the clients without SNI): the first listed
/// of each key type, in the order listed.
#[derive(Debug, Default, Clone)]
pub(crate) struct KeyChoice(Vec<Arc<CertifiedKey>>);

impl KeyChoice {
    /// Adds `key` unless a certificate with a key of the same type is there already: for
    /// one key type, the first certificate listed serves.
    pub(crate) fn offer(&mut self, key: &Arc<CertifiedKey>) {
        let algorithm = key.key.algorithm();
        if !self.0.iter().any(|k| k.key.algorithm() == algorithm) {
            self.0.push(Arc::clone(key));
        }
    }

    /// The certificate for a client offering `schemes`; `None` only when there is none at
    /// all. A single certificate is returned as is, without looking at the schemes.
    pub(crate) fn choose(&self, schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        match self.0.as_slice() {
            [] => None,
            [only] => Some(Arc::clone(only)),
            several => choose(several, schemes).map(Arc::clone),
        }
    }
}

/// Of `keys`, the one to present to a client offering `schemes`: among those it can verify,
/// ECDSA, then Ed25519, then RSA; when it can verify none of them, the first listed (the
/// handshake then fails as it would with that certificate alone).
pub(crate) fn choose<'a>(
    keys: &'a [Arc<CertifiedKey>],
    schemes: &[SignatureScheme],
) -> Option<&'a Arc<CertifiedKey>> {
    keys.iter()
        .filter(|k| k.key.choose_scheme(schemes).is_some())
        .min_by_key(|k| preference(k.key.algorithm()))
        .or_else(|| keys.first())
}

/// Lower is preferred: the smaller and cheaper signatures first.
fn preference(algorithm: SignatureAlgorithm) -> u8 {
    match algorithm {
        SignatureAlgorithm::ECDSA => 0,
        SignatureAlgorithm::ED25519 => 1,
        SignatureAlgorithm::RSA => 2,
        _ => 3,
    }
}

#[cfg(test)]
mod tests;
