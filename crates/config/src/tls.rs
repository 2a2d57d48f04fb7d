//! Validated TLS settings: what an `https` listener serves and how an `https` target group
//! is reached. Paths only: the `ballast-tls` crate loads and checks the files.

use std::path::PathBuf;

/// The TLS side of an `https` listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerTls {
    /// Certificate chains and their keys, PEM; the first is served to clients without SNI.
    pub certificates: Vec<CertificateFiles>,
    /// Versions and cipher suites accepted.
    pub policy: TlsPolicy,
    /// Client certificates (mutual TLS), if asked for.
    pub client_certificates: Option<ClientCertificates>,
}

/// One certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    /// PEM chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Mutual TLS on a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificates {
    /// Reject clients without a certificate from `ca`, or pass any certificate on.
    pub mode: ClientCertificateMode,
    /// CA bundle (PEM) client certificates must chain to (`verify` mode).
    pub ca: Option<PathBuf>,
}

/// What a listener does with client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCertificateMode {
    /// Handshakes without a certificate from the CA bundle fail.
    Verify,
    /// Any certificate (or none) is accepted and sent to targets in a header.
    Passthrough,
}

/// A named security policy: TLS versions and cipher suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsPolicy {
    /// `ballast-tls12-2024` (default): TLS 1.3 and 1.2, forward-secret AEAD suites only.
    Recommended,
    /// `ballast-tls13-2024`: TLS 1.3 only.
    Tls13Only,
    /// `ballast-tls12-aes-2024`: as recommended, AES-GCM suites only.
    AesOnly,
}

/// How an `https` target group reaches its targets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetTls {
    /// Verify target certificates (`false` only when explicitly set).
    pub verify: bool,
    /// CA bundle to verify against; `None`: the system's roots.
    pub ca: Option<PathBuf>,
    /// Name sent as SNI and checked in the certificate; `None`: the target's IP address.
    pub server_name: Option<String>,
}

impl TlsPolicy {
    /// Every policy and its name.
    pub const ALL: [(TlsPolicy, &'static str); 3] = [
        (TlsPolicy::Recommended, "ballast-tls12-2024"),
        (TlsPolicy::Tls13Only, "ballast-tls13-2024"),
        (TlsPolicy::AesOnly, "ballast-tls12-aes-2024"),
    ];

    /// The name used in the file.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(p, _)| *p == self)
            .map_or("", |(_, n)| n)
    }
}

impl Default for TargetTls {
    fn default() -> Self {
        Self {
            verify: true,
            ca: None,
            server_name: None,
        }
    }
}
