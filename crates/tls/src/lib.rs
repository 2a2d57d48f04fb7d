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

pub use ballast_config::TlsPolicy;
pub use certs::{load_pair, CertificateInfo};
pub use challenges::{AcmeChallenges, ACME_TLS_ALPN, HTTP01_PREFIX};
pub use client::build_client_config;
pub use policy::policy_suites;
pub use resolver::SniResolver;
pub use server::build_server_config;

/// Why a TLS configuration could not be built. Each names the file or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
    /// The CA bundle or client verifier could not be built.
    #[error("{0}")]
    Verifier(String),
}
