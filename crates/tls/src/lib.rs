//! TLS for Ballast: certificates chosen by SNI, named security policies, and TLS to targets.
//!
//! Layer 1, imports only `ballast-config`. The control plane builds rustls configurations
//! here (loading PEM files, checking names); the data plane only reads them: the listener's
//! [`SniResolver`] picks a certificate per handshake from an `ArcSwap` table, so rotating
//! certificates never blocks or drops a connection. rustls with the ring provider: no
//! OpenSSL.

mod certs;
mod challenges;
mod client;
mod key_choice;
mod passthrough;
mod policy;
mod resolver;
mod server;
mod signatures;

use std::path::PathBuf;

pub use ballast_config::TlsPolicy;
pub use certs::{load_pair, CertificateInfo};
pub use challenges::{AcmeChallenges, ACME_TLS_ALPN, HTTP01_PREFIX};
pub use client::build_client_config;
pub use policy::policy_suites;
pub use resolver::SniResolver;
pub use server::build_server_config;

/// Why a TLS configuration could not be built. Each names the file or setting at fault and
/// keeps the error underneath as its `source`; the message already includes it, so
/// `to_string()` alone is complete.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{}: {problem}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        problem: FileProblem,
    },
    /// A private key does not belong to the certificate it is paired with.
    #[error("{}: does not match {}: {source}", key.display(), cert.display())]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
        /// rustls' finding.
        #[source]
        source: rustls::Error,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client certificate verifier could not be built from a CA bundle.
    #[error("{}: {source}", ca.display())]
    Verifier {
        /// The CA bundle.
        ca: PathBuf,
        /// rustls' reason.
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
}

/// What is wrong with a certificate, key or CA bundle file.
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    /// The certificate file cannot be opened or read.
    #[error("cannot read certificates: {0}")]
    ReadCertificates(#[source] rustls_pki_types::pem::Error),
    /// A section of the certificate file is not a PEM certificate.
    #[error("not a PEM certificate chain: {0}")]
    NotCertificateChain(#[source] rustls_pki_types::pem::Error),
    /// The certificate file holds no certificate.
    #[error("no certificate in the file")]
    NoCertificate,
    /// The key file holds no PEM private key (or cannot be read).
    #[error("not a PEM private key: {0}")]
    NotPrivateKey(#[source] rustls_pki_types::pem::Error),
    /// The private key is of a kind the provider cannot sign with.
    #[error("unsupported private key: {0}")]
    UnsupportedKey(#[source] rustls::Error),
    /// The leaf certificate does not parse.
    #[error("cannot parse the certificate: {0}")]
    BadCertificate(#[source] webpki::Error),
    /// The CA bundle cannot be opened or read.
    #[error("cannot read the CA bundle: {0}")]
    ReadBundle(#[source] rustls_pki_types::pem::Error),
    /// A section of the CA bundle is not a PEM certificate.
    #[error("not a PEM certificate: {0}")]
    NotCertificate(#[source] rustls_pki_types::pem::Error),
    /// A certificate of the CA bundle cannot be a trust anchor.
    #[error("not a usable CA certificate: {0}")]
    UnusableCa(#[source] rustls::Error),
    /// The CA bundle holds no certificate.
    #[error("no certificate in the bundle")]
    EmptyBundle,
}

impl TlsError {
    /// A problem with `path`.
    pub(crate) fn file(path: &std::path::Path, problem: FileProblem) -> Self {
        TlsError::File {
            path: path.to_owned(),
            problem,
        }
    }
}
