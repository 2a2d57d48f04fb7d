//! Loading a certificate chain and its private key from PEM files.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::{FileProblem, TlsError};

/// A loaded certificate with the names it serves.
#[derive(Debug, Clone)]
pub struct CertificateInfo {
    /// The chain and key, ready for handshakes.
    pub key: Arc<CertifiedKey>,
    /// DNS names of its subject alternative names, lower case (`*.example.com` included).
    pub names: Vec<String>,
}

/// Loads `cert` (a PEM chain, leaf first) and `key` (PKCS#8, PKCS#1 or SEC1; RSA or ECDSA)
/// and checks that they belong together.
pub fn load_pair(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertificateInfo, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| TlsError::file(cert, FileProblem::ReadCertificates(e)))?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::file(cert, FileProblem::NotCertificateChain(e)))?;
    let leaf = chain
        .first()
        .ok_or_else(|| TlsError::file(cert, FileProblem::NoCertificate))?;
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError::file(key, FileProblem::NotPrivateKey(e)))?;
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| TlsError::file(key, FileProblem::UnsupportedKey(e)))?;
    let names = webpki::EndEntityCert::try_from(leaf)
        .map(|parsed| {
            parsed
                .valid_dns_names()
                .map(str::to_ascii_lowercase)
                .collect::<Vec<_>>()
        })
        .map_err(|e| TlsError::file(cert, FileProblem::BadCertificate(e)))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|source| TlsError::KeyMismatch {
            key: key.to_owned(),
            cert: cert.to_owned(),
            source,
        })?;
    Ok(CertificateInfo {
        key: Arc::new(certified),
        names,
    })
}
