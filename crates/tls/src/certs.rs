//! Loading a certificate chain and its private key from PEM files.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::TlsError;

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
    let file_error = |path: &Path, reason: String| TlsError::File {
        path: path.display().to_string(),
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error(cert, format!("cannot read certificates: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(cert, format!("not a PEM certificate chain: {e}")))?;
    let leaf = chain
        .first()
        .ok_or_else(|| file_error(cert, "no certificate in the file".to_owned()))?;
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| file_error(key, format!("not a PEM private key: {e}")))?;
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| file_error(key, format!("unsupported private key: {e}")))?;
    let names = webpki::EndEntityCert::try_from(leaf)
        .map(|parsed| {
            parsed
                .valid_dns_names()
                .map(str::to_ascii_lowercase)
                .collect::<Vec<_>>()
        })
        .map_err(|e| file_error(cert, format!("cannot parse the certificate: {e:?}")))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| file_error(key, format!("does not match {}: {e}", cert.display())))?;
    Ok(CertificateInfo {
        key: Arc::new(certified),
        names,
    })
}
